/**
 * ifconfig's everyday items against a Linux host: an address brings the
 * TAP up; a MAC change reaches the host's neighbour cache by gratuitous
 * ARP; promisc capture of a frame sent to another MAC (which the image
 * does not answer); the vlanpcp priority seen in a raw capture on the host
 * side; netstat -w rates while the host floods pings; cloned loopbacks,
 * descriptions and groups across a daemon restart.
 *
 *   H (namespace vifH) vifa0 10.77.1.2 --tap-- image R tap0 10.77.1.1, vlan0 (10, pcp 5) 10.77.10.1
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, background, labUnavailable, until } from './lab.js';

const P = 'vif'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const HOSTIF = `${P}a0`;

function neighMac(lab: Lab, ns: string, ip: string): string | undefined {
  const out = lab.inNs(ns, ['ip', 'neigh', 'show', ip, 'dev', HOSTIF]).stdout;
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

describe('ifconfig items with a Linux host', { skip }, () => {
  const lab = new Lab(P);
  let ns = '';
  let tap = '';

  before(async () => {
    await lab.start();
    await lab.ok(['-c', 'R']);
    ns = lab.netns('H');
    tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', HOSTIF])).trim();
    lab.wireHost(HOSTIF, ns, '10.77.1.2/24');
  });
  after(async () => {
    await lab.close();
  });

  test('ifconfig IF inet ADDR/LEN brings the interface up: the host pings it with no `up`', async () => {
    assert.doesNotMatch(await lab.ok(['R', 'ifconfig', tap]), /<UP,/);
    await lab.ok(['R', 'ifconfig', tap, 'inet', '10.77.1.1/24']);
    assert.match(await lab.ok(['R', 'ifconfig', tap]), /^tap\d+: flags=[0-9a-f]+<UP,BROADCAST,RUNNING,/);
    const r = lab.inNs(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.77.1.1']);
    assert.match(r.stdout, /2 received/, r.stdout);
  });

  test("a MAC change reaches the host's neighbour cache (gratuitous ARP) and ping goes on", async () => {
    const before0 = neighMac(lab, ns, '10.77.1.1');
    assert.ok(before0 !== undefined && before0 !== '02:77:00:00:00:01');
    // Linux takes an update for an entry no sooner than locktime (1 s) after the last one.
    await new Promise((r) => setTimeout(r, 1200));
    await lab.ok(['R', 'ifconfig', tap, 'ether', '02:77:00:00:00:01']);
    await until('the host to take the new MAC', () => neighMac(lab, ns, '10.77.1.1') === '02:77:00:00:00:01', 3000);
    const r = lab.inNs(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.77.1.1']);
    assert.match(r.stdout, /2 received/, r.stdout);
    assert.match(await lab.ok(['R', 'ifconfig', tap]), /\tether 02:77:00:00:00:01\n/);
  });

  test('promisc: a capture sees frames for another MAC, which the image does not answer', async () => {
    await lab.ok(['R', 'ifconfig', tap, 'promisc']);
    assert.match(await lab.ok(['R', 'ifconfig', tap]), /<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST,PPROMISC/);
    // The host sends to R's address but to another station's MAC.
    lab.inNs(ns, ['ip', 'neigh', 'replace', '10.77.1.1', 'lladdr', '02:77:00:00:00:99', 'dev', HOSTIF, 'nud', 'permanent']);
    const cap = lab.vimage(['R', 'tcpdump', '-i', tap, '-n', '-c', '3', 'ether', 'dst', '02:77:00:00:00:99'], { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 700));
    const p = lab.inNs(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '1', '10.77.1.1'], { allowFail: true });
    const c = await cap;
    lab.inNs(ns, ['ip', 'neigh', 'del', '10.77.1.1', 'dev', HOSTIF], { allowFail: true });
    assert.match(p.stdout, /3 packets transmitted, 0 received/, 'not answered');
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout.trim().split('\n').filter((l) => /10\.77\.1\.2 > 10\.77\.1\.1: ICMP echo request/.test(l)).length, 3, c.stdout);
    await lab.ok(['R', 'ifconfig', tap, '-promisc']);
    assert.doesNotMatch(await lab.ok(['R', 'ifconfig', tap]), /PROMISC/);
    const r = lab.inNs(ns, ['ping', '-c', '1', '-W', '2', '10.77.1.1']);
    assert.match(r.stdout, /1 received/, 'answered again with the right MAC');
  });

  test('vlanpcp 5: the host sees 802.1Q tags with VID 10 and priority 5', async () => {
    await lab.ok(['R', 'ifconfig', 'vlan', 'create', 'vlan', '10', 'vlandev', tap, 'vlanpcp', '5']);
    assert.match(await lab.ok(['R', 'ifconfig', 'vlan0']), /\tvlan: 10 vlanproto: 802\.1q vlanpcp: 5 parent interface: tap\d+\n/);
    await lab.ok(['R', 'ifconfig', 'vlan0', 'inet', '10.77.10.1/24']);
    // tcpdump on the host side (the kernel hands the tag over in PACKET_AUXDATA; libpcap puts it back).
    const td = background('ip', ['netns', 'exec', ns, 'tcpdump', '-i', HOSTIF, '-e', '-nn', '-l', '-c', '2', 'vlan']);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await lab.vimage(['R', 'ping', '-c', '2', '-t', '2', '10.77.10.2'], { timeoutMs: 10_000 });
      await until('two tagged frames', () => td.out().split('\n').filter((l) => /vlan 10, p 5/.test(l)).length >= 2, 5000);
    } finally {
      const out = await td.stop();
      // Which frames come first depends on timing: the ARP for the ping, or vlan0's own IPv6 DAD and MLD report.
      assert.ok(out.split('\n').filter((l) => /ethertype 802\.1Q \(0x8100\), length \d+: vlan 10, p 5, ethertype (ARP|IPv6)/.test(l)).length >= 2, out);
    }
  });

  test('netstat -w 1 -q 3 -I tap shows the rates of a ping flood, second by second', async () => {
    const flood = background('ip', ['netns', 'exec', ns, 'ping', '-f', '-w', '6', '10.77.1.1']);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const r = await lab.vimage(['R', 'netstat', '-w', '1', '-I', tap, '-q', '3'], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], `            input ${tap.padStart(14)}           output`);
      assert.equal(lines[1], '   packets  errs idrops      bytes    packets  errs      bytes colls');
      assert.equal(lines.length, 2 + 3 + 1, r.stdout);
      for (const l of lines.slice(2, 5)) {
        const n = l.trim().split(/\s+/).map(Number);
        assert.equal(n.length, 8, l);
        // ping -f as root: as fast as replies come (at least every 10 ms): hundreds a second.
        assert.ok(n[0]! > 100 && n[4]! > 100, `rates ${l}`);
        // 98-byte echo frames, with the odd ARP frame among them.
        assert.ok(n[3]! >= n[0]! * 90 && n[3]! <= n[0]! * 98 && n[6]! >= n[4]! * 90 && n[6]! <= n[4]! * 98, `bytes ${l}`);
      }
    } finally {
      await flood.stop();
    }
    const t = await lab.vimage(['R', 'netstat', '-w', '1', '-I', 'nosuch0'], { timeoutMs: 5000 });
    assert.equal(t.code, 65);
    assert.equal(t.stderr, 'netstat: interface nosuch0 not found\n');
  });

  test('lo create, description and groups; kept across a daemon restart', async () => {
    assert.equal(await lab.ok(['R', 'ifconfig', 'lo', 'create']), 'lo1\n');
    await lab.ok(['R', 'ifconfig', 'lo1', 'inet', '127.0.0.2/32']);
    assert.match(await lab.ok(['R', 'ping', '-c', '1', '127.0.0.2']), /1 packets received/);
    await lab.ok(['R', 'ifconfig', tap, 'description', 'to host H', 'group', 'lan']);
    await lab.ok(['R', 'ifconfig', 'vlan0', 'group', 'lan']);
    assert.equal(await lab.ok(['R', 'ifconfig', '-g', 'lan']), `${tap}\nvlan0\n`);
    const d = lab.daemonProcess!;
    const exited = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
    d.kill('SIGTERM');
    assert.equal(await exited, 0);
    await lab.start();
    const s = await lab.ok(['R', 'ifconfig', tap]);
    assert.match(s, /^tap\d+: flags=[0-9a-f]+<UP,[^\n]*\n\tdescription: to host H\n\tether 02:77:00:00:00:01\n/);
    assert.match(s, /\tgroups: tap lan\n/);
    assert.equal(await lab.ok(['R', 'ifconfig', '-g', 'lan']), `${tap}\nvlan0\n`);
    assert.match(await lab.ok(['R', 'ifconfig', 'vlan0']), /vlanpcp: 5 /);
    assert.match(await lab.ok(['R', 'ifconfig', 'lo1']), /\tinet 127\.0\.0\.2 netmask 0xffffffff\n/);
    const r = lab.inNs(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.77.1.1']);
    assert.match(r.stdout, /2 received/);
    await lab.ok(['R', 'ifconfig', 'lo1', 'destroy']);
    const lo0 = await lab.vimage(['R', 'ifconfig', 'lo0', 'destroy']);
    assert.equal(lo0.code, 1);
  });
});
