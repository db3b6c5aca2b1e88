/**
 * bridge(4) and vlan(4) against Linux: three hosts in namespaces on one
 * /24, each behind its own TAP into image SW, switched by bridge0 in SW;
 * SW's own address on the bridge; a second image X on the segment through
 * an epair member. Then a Linux VLAN sub-interface talking to an image's
 * vlan0 while untagged traffic runs on the same TAP.
 *
 *   A 10.74.1.2 --tap--+
 *   B 10.74.1.3 --tap--+ bridge0 (SW, 10.74.1.1) --epair-- X 10.74.1.5
 *   C 10.74.1.4 --tap--+
 *
 *   D vbrd0 10.74.5.2, vbrd0.10 10.74.10.2 --tap-- V tap 10.74.5.1, vlan0 (10) 10.74.10.1
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable, sh } from './lab.js';

const P = 'vbr'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function hostMac(lab: Lab, ns: string, ifname: string): string {
  const out = lab.inNs(ns, ['ip', '-o', 'link', 'show', ifname]).stdout;
  const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
  assert.ok(m !== null, out);
  return m[1]!;
}

describe('bridge(4) and vlan(4) with Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  const hosts = [
    { id: 'a', addr: '10.74.1.2', ns: '', tap: '' },
    { id: 'b', addr: '10.74.1.3', ns: '', tap: '' },
    { id: 'c', addr: '10.74.1.4', ns: '', tap: '' },
  ];

  before(async () => {
    await lab.start();
    await lab.ok(['-c', 'SW']);
    for (const h of hosts) {
      h.ns = lab.netns(h.id.toUpperCase());
      h.tap = (await lab.ok(['SW', 'ifconfig', 'tap', 'create', 'hostname', `${P}${h.id}0`])).trim();
      lab.wireHost(`${P}${h.id}0`, h.ns, `${h.addr}/24`);
      await lab.ok(['SW', 'ifconfig', h.tap, 'up']);
    }
  });
  after(async () => {
    await lab.close();
  });

  test('ifconfig bridge create prints bridge0; members are added and listed as FreeBSD does', async () => {
    assert.equal(await lab.ok(['SW', 'ifconfig', 'bridge', 'create']), 'bridge0\n');
    await lab.ok(['SW', 'ifconfig', 'bridge0', ...hosts.flatMap((h) => ['addm', h.tap]), 'up']);
    const out = await lab.ok(['SW', 'ifconfig', 'bridge0']);
    assert.match(out, /^bridge0: flags=[0-9a-f]+<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST/);
    assert.match(out, /\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200\n/);
    for (const h of hosts) assert.match(out, new RegExp(`\\tmember: ${h.tap} flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\\n\\t        ifmaxaddr 0 port \\d+ priority 128 path cost \\d+\\n`));
    assert.match(out, /\tgroups: bridge\n/);
  });

  test('the three hosts ping each other through the bridge', () => {
    for (const [x, y] of [[0, 1], [0, 2], [1, 2], [2, 0]] as const) {
      const r = lab.inNs(hosts[x]!.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', hosts[y]!.addr]);
      assert.match(r.stdout, /3 packets transmitted, 3 received/, `${hosts[x]!.addr} -> ${hosts[y]!.addr}`);
      assert.match(r.stdout, /ttl=64/, 'switched, not routed');
    }
  });

  test('ifconfig bridge0 addr lists each host on its own member', async () => {
    const out = await lab.ok(['SW', 'ifconfig', 'bridge0', 'addr']);
    for (const h of hosts) {
      const mac = hostMac(lab, h.ns, `${P}${h.id}0`);
      assert.match(out, new RegExp(`^${mac} Vlan1 ${h.tap} \\d+ flags=0<>$`, 'm'), out);
    }
    const j = JSON.parse(await lab.ok(['--json', 'SW', 'ifconfig', 'bridge0', 'addr'])) as { addresses: Array<{ interface: string }> };
    assert.ok(j.addresses.length >= 3);
  });

  test('iperf3 (TCP, with GSO frames through the TAPs) runs between two hosts without error', async () => {
    const [a, b] = hosts;
    const server = spawn('ip', ['netns', 'exec', b!.ns, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const r = lab.inNs(a!.ns, ['iperf3', '-c', b!.addr, '-t', '3', '-J'], { timeoutMs: 30_000 });
      const res = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bytes: number; bits_per_second: number } } };
      assert.equal(res.error, undefined);
      assert.ok(res.end.sum_received.bytes > 1_000_000, `received ${res.end.sum_received.bytes} bytes`);
    } finally {
      server.kill('SIGKILL');
    }
  });

  test("SW's own address on bridge0 answers ping", async () => {
    await lab.ok(['SW', 'ifconfig', 'bridge0', 'inet', '10.74.1.1/24']);
    for (const h of hosts) {
      const r = lab.inNs(h.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.74.1.1']);
      assert.match(r.stdout, /2 received/);
    }
    const own = await lab.ok(['SW', 'ping', '-c', '1', hosts[2]!.addr]);
    assert.match(own, /1 packets received/);
  });

  test('an epair member links image X onto the segment', async () => {
    await lab.ok(['-c', 'X']);
    const a = (await lab.ok(['SW', 'ifconfig', 'epair', 'create'])).trim();
    const b = a.replace(/a$/, 'b');
    await lab.ok(['SW', 'ifconfig', b, 'vnet', 'X']);
    await lab.ok(['SW', 'ifconfig', 'bridge0', 'addm', a]);
    await lab.ok(['SW', 'ifconfig', a, 'up']);
    await lab.ok(['X', 'ifconfig', b, 'inet', '10.74.1.5/24', 'up']);
    const out = await lab.ok(['X', 'ping', '-c', '2', hosts[0]!.addr]);
    assert.match(out, /2 packets received/);
    const r = lab.inNs(hosts[1]!.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.74.1.5']);
    assert.match(r.stdout, /2 received/);
  });

  test('vlan: a Linux host on VLAN 10 pings vlan0 on the TAP while untagged traffic flows on the parent', async () => {
    const D = lab.netns('D');
    await lab.ok(['-c', 'V']);
    const tap = (await lab.ok(['V', 'ifconfig', 'tap', 'create', 'hostname', `${P}d0`])).trim();
    lab.wireHost(`${P}d0`, D, '10.74.5.2/24');
    await lab.ok(['V', 'ifconfig', tap, 'inet', '10.74.5.1/24', 'up']);
    assert.equal(await lab.ok(['V', 'ifconfig', 'vlan', 'create', 'vlan', '10', 'vlandev', tap]), 'vlan0\n');
    await lab.ok(['V', 'ifconfig', 'vlan0', 'inet', '10.74.10.1/24', 'up']);
    const show = await lab.ok(['V', 'ifconfig', 'vlan0']);
    assert.match(show, new RegExp(`\\tvlan: 10 vlanproto: 802\\.1q vlanpcp: 0 parent interface: ${tap}\\n`));
    assert.match(show, /mtu 1500/);
    // Linux's own VLAN device when the kernel has 8021q; else a raw 802.1Q peer on the same TAP (AF_PACKET).
    const linuxVlan = lab.inNs(D, ['ip', 'link', 'add', 'link', `${P}d0`, 'name', `${P}d0.10`, 'type', 'vlan', 'id', '10'], { allowFail: true }).code === 0;
    if (linuxVlan) {
      lab.inNs(D, ['ip', 'addr', 'add', '10.74.10.2/24', 'dev', `${P}d0.10`]);
      lab.inNs(D, ['ip', 'link', 'set', `${P}d0.10`, 'up']);
    }
    // Untagged pings on the parent run at the same time as the tagged ones.
    const untagged = spawn('ip', ['netns', 'exec', D, 'ping', '-c', '10', '-i', '0.2', '-W', '2', '10.74.5.1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let uout = '';
    untagged.stdout!.on('data', (c: Buffer) => (uout += c.toString()));
    const done = new Promise<number>((r) => untagged.once('exit', (code) => r(code ?? -1)));
    if (linuxVlan) {
      const tagged = lab.inNs(D, ['ping', '-c', '10', '-i', '0.2', '-W', '2', '10.74.10.1']);
      assert.match(tagged.stdout, /10 packets transmitted, 10 received/);
      const fromImage = await lab.ok(['V', 'ping', '-c', '1', '10.74.10.2']);
      assert.match(fromImage, /1 packets received/);
    } else {
      const r = lab.inNs(D, [PY, path.join(ROOT, 'test/tools/vlan_peer.py'), `${P}d0`, '10.74.10.2', '10.74.10.1', '10', '10'], { timeoutMs: 30_000 });
      const res = JSON.parse(r.stdout) as { arpTag: number | null; replies: number; replyTags: Array<number | null> };
      assert.equal(res.arpTag, 10, 'the ARP reply came tagged 10');
      assert.equal(res.replies, 10, r.stdout);
      assert.deepEqual(res.replyTags, new Array(10).fill(10));
    }
    assert.equal(await done, 0, uout);
    assert.match(uout, /10 packets transmitted, 10 received/);
    const v = JSON.parse(await lab.ok(['--json', 'V', 'ifconfig', 'vlan0'])) as { interfaces: Array<{ vlan: { vlan: number; parent: string } }> };
    assert.deepEqual(v.interfaces[0]!.vlan, { vlan: 10, vlanproto: '802.1q', vlanpcp: 0, parent: tap });
  });

  test('a restarted daemon restores the bridge, its members and the VLAN, and traffic resumes', async () => {
    const d = lab.daemonProcess!;
    const exited = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
    d.kill('SIGTERM');
    assert.equal(await exited, 0);
    await lab.start();
    const out = await lab.ok(['SW', 'ifconfig', 'bridge0']);
    for (const h of hosts) assert.match(out, new RegExp(`\\tmember: ${h.tap} flags=143<`));
    assert.match(out, /\tmember: epair\d+a flags=143</);
    assert.match(out, /\tinet 10\.74\.1\.1 netmask 0xffffff00/);
    const r = lab.inNs(hosts[0]!.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', hosts[2]!.addr]);
    assert.match(r.stdout, /3 received/);
    const x = lab.inNs(hosts[1]!.ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.74.1.5']);
    assert.match(x.stdout, /2 received/);
    assert.match(await lab.ok(['V', 'ifconfig', 'vlan0']), /\tvlan: 10 vlanproto: 802\.1q vlanpcp: 0 parent interface: tap\d+\n/);
  });

  test('vimage -d releases bridge members into the default image', async () => {
    await lab.ok(['-d', 'SW']);
    const out = await lab.ok(['default', 'ifconfig', 'bridge0']);
    assert.doesNotMatch(out, /member:/);
    for (const h of hosts) {
      const ifc = await lab.ok(['default', 'ifconfig', h.tap]);
      assert.doesNotMatch(ifc, /PROMISC/);
    }
    assert.equal(sh('ip', ['netns', 'list']).code, 0);
  });
});
