/**
 * An image is an IPv6 host on its Ethernet interfaces, with Linux as the
 * peer: a Linux host in a namespace behind a TAP pings the image's
 * link-local address and a global one given with `ifconfig inet6`, the
 * image's neighbor cache holds the Linux host, the image pings back with
 * ping6, Duplicate Address Detection sees an address Linux already holds,
 * and IPv4 on the same link is unchanged.
 *
 *   Linux v6aA (10.76.1.2, 2001:db8:76::2) --tap-- image V6 (10.76.1.1, 2001:db8:76::1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailable, sh, until } from './lab.js';

const P = 'v6a'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();

describe('inet6: an image is an IPv6 host, Linux is the peer', { skip }, () => {
  const lab = new Lab(P);
  let ns = '';
  let tap = '';
  const host = `${P}a0`;
  let linuxLL = '';
  let linuxMac = '';
  let imageLL = '';

  interface IfJson {
    interfaces: Array<{ name: string; ether?: string; inet6: Array<{ address: string; prefixLen: number; flags: string[] }> }>;
  }
  const ifjson = async (): Promise<IfJson['interfaces'][number]> => (JSON.parse(await lab.ok(['--json', 'V6', 'ifconfig', tap])) as IfJson).interfaces[0]!;

  before(async () => {
    await lab.start();
    ns = lab.netns('A');
    await lab.ok(['-c', 'V6']);
    tap = (await lab.ok(['V6', 'ifconfig', 'tap', 'create', 'hostname', host])).trim();
    lab.wireHost(host, ns, '10.76.1.2/24');
    sh('ip', ['-n', ns, 'addr', 'add', '2001:db8:76::2/64', 'dev', host, 'nodad']);
    await lab.ok(['V6', 'ifconfig', tap, 'inet', '10.76.1.1/24', 'up']);
    await lab.ok(['V6', 'ifconfig', tap, 'inet6', '2001:db8:76::1/64']);
    linuxMac = /link\/ether ([0-9a-f:]{17})/.exec(sh('ip', ['-n', ns, 'link', 'show', host]).stdout)![1]!;
    // Both sides finish DAD: Linux's link-local leaves "tentative", the image's addresses lose the flag.
    await until('Linux has a usable link-local address', () => {
      const a = sh('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', host, 'scope', 'link']).stdout;
      const m = /inet6 (fe80::[0-9a-f:]+)\/64 scope link(?! tentative)/.exec(a);
      if (m !== null && !a.includes('tentative')) linuxLL = m[1]!;
      return linuxLL !== '';
    });
    await until('the image finished DAD', async () => {
      const f = await ifjson();
      return f.inet6.length === 2 && f.inet6.every((a) => a.flags.length === 0);
    });
    imageLL = (await ifjson()).inet6.find((a) => a.address.startsWith('fe80:'))!.address.split('%')[0]!;
  });
  after(async () => {
    await lab.close();
  });

  test("ifconfig shows the MAC-made link-local address with its scope, the global one, and nd6 options", async () => {
    const out = await lab.ok(['V6', 'ifconfig', tap]);
    const mac = (await ifjson()).ether!;
    const b = mac.split(':').map((x) => parseInt(x, 16));
    const eui = `fe80::${((b[0]! ^ 2) * 256 + b[1]!).toString(16)}:${b[2]!.toString(16)}ff:fe${b[3]!.toString(16).padStart(2, '0')}:${(b[4]! * 256 + b[5]!).toString(16)}`;
    assert.equal(imageLL, eui, 'modified EUI-64 from the MAC');
    assert.match(out, new RegExp(`\\tinet6 ${imageLL}%${tap} prefixlen 64 scopeid 0x[0-9a-f]+\\n\\tinet6 2001:db8:76::1 prefixlen 64\\n`));
    assert.match(out, /\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n/);
  });

  test("Linux pings the image's link-local address", () => {
    const r = lab.inNs(ns, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', `${imageLL}%${host}`]);
    assert.match(r.stdout, /2 packets transmitted, 2 received/);
    assert.match(r.stdout, /ttl=64/, 'the hop limit of the reply is net.inet6.ip6.hlim');
  });

  test("Linux pings the image's global address given with ifconfig inet6", () => {
    const r = lab.inNs(ns, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '2001:db8:76::1']);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    const neigh = sh('ip', ['-n', ns, '-6', 'neigh', 'show', 'dev', host]).stdout;
    assert.match(neigh, /2001:db8:76::1 lladdr [0-9a-f:]{17} (REACHABLE|STALE|DELAY|PROBE)/, 'Linux resolved the image with ND');
  });

  test("the image's ndp -a lists the Linux host with its MAC", async () => {
    const out = await lab.ok(['V6', 'ndp', '-a']);
    assert.match(out, /^Neighbor {29}Linklayer Address  Netif Expire {4}S Flags\n/);
    assert.match(out, new RegExp(`\\n2001:db8:76::2 +${linuxMac} +${tap} \\S+ +[RSDP] `), out);
    assert.match(out, new RegExp(`\\n2001:db8:76::1 +[0-9a-f:]{17} +${tap} permanent R R\\n`));
    const js = JSON.parse(await lab.ok(['--json', 'V6', 'ndp', '-a'])) as { ndp: { neighborCache: Array<{ address: string; macAddress: string }> } };
    assert.ok(js.ndp.neighborCache.some((e) => e.address === '2001:db8:76::2' && e.macAddress === linuxMac));
  });

  test('the image pings the Linux host with ping6 and ping -6, global and link-local', async () => {
    const g = await lab.vimage(['V6', 'ping6', '-c', '2', '-i', '0.2', '2001:db8:76::2'], { timeoutMs: 20_000 });
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^PING6\(56=40\+8\+8 bytes\) 2001:db8:76::1 --> 2001:db8:76::2\n/);
    assert.match(g.stdout, /16 bytes from 2001:db8:76::2, icmp_seq=0 hlim=64 time=\d+\.\d{3} ms\n/);
    assert.match(g.stdout, /2 packets transmitted, 2 packets received, 0\.0% packet loss/);
    const l = await lab.vimage(['V6', 'ping', '-6', '-c', '1', `${linuxLL}%${tap}`], { timeoutMs: 20_000 });
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, new RegExp(`16 bytes from ${linuxLL}%${tap}, icmp_seq=0 hlim=64`));
  });

  test('DAD: an address Linux already holds is marked duplicated in the image', async () => {
    sh('ip', ['-n', ns, 'addr', 'add', '2001:db8:76::5/64', 'dev', host, 'nodad']);
    await lab.ok(['V6', 'ifconfig', tap, 'inet6', '2001:db8:76::5/64', 'alias']);
    await until('the image saw the duplicate', async () => /\tinet6 2001:db8:76::5 prefixlen 64 duplicated\n/.test(await lab.ok(['V6', 'ifconfig', tap])));
    // The duplicated address does not answer: Linux's own address stays its own.
    const r = lab.inNs(ns, ['ping', '-6', '-c', '1', '-W', '1', '2001:db8:76::5']);
    assert.match(r.stdout, /1 received/, 'Linux pings its own address');
    const st = await lab.ok(['V6', 'sysctl', 'net.inet6.ip6.dad_count']);
    assert.equal(st, 'net.inet6.ip6.dad_count: 1\n');
  });

  test('IPv4 on the same link is unchanged', async () => {
    const r = lab.inNs(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.76.1.1']);
    assert.match(r.stdout, /2 packets transmitted, 2 received/);
    const p = await lab.vimage(['V6', 'ping', '-c', '1', '10.76.1.2'], { timeoutMs: 20_000 });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /1 packets transmitted, 1 packets received/);
    assert.match(await lab.ok(['V6', 'arp', '-a']), new RegExp(`\\? \\(10\\.76\\.1\\.2\\) at ${linuxMac} on ${tap}`));
  });
});

describe('inet6: an image forwards IPv6 between two Linux hosts', { skip }, () => {
  const lab = new Lab(`${P}f`);
  let A = '';
  let B = '';
  let t0 = '';
  let t1 = '';

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R6']);
    t0 = (await lab.ok(['R6', 'ifconfig', 'tap', 'create', 'hostname', `${P}fa0`])).trim();
    t1 = (await lab.ok(['R6', 'ifconfig', 'tap', 'create', 'hostname', `${P}fb0`])).trim();
    lab.wireHost(`${P}fa0`, A, '10.77.1.2/24');
    lab.wireHost(`${P}fb0`, B, '10.77.2.2/24');
    sh('ip', ['-n', A, 'addr', 'add', '2001:db8:a::2/64', 'dev', `${P}fa0`, 'nodad']);
    sh('ip', ['-n', B, 'addr', 'add', '2001:db8:b::2/64', 'dev', `${P}fb0`, 'nodad']);
    sh('ip', ['-n', B, 'addr', 'add', '2001:db8:c::2/128', 'dev', 'lo']);
    sh('ip', ['-n', A, '-6', 'route', 'add', 'default', 'via', '2001:db8:a::1']);
    sh('ip', ['-n', B, '-6', 'route', 'add', 'default', 'via', '2001:db8:b::1']);
    await lab.ok(['R6', 'ifconfig', t0, 'inet6', '2001:db8:a::1/64', 'up']);
    await lab.ok(['R6', 'ifconfig', t1, 'inet6', '2001:db8:b::1/64', 'up']);
    await until('R6 finished DAD', async () => !/tentative/.test(await lab.ok(['R6', 'ifconfig'])));
  });
  after(async () => {
    await lab.close();
  });

  test('with net.inet6.ip6.forwarding=0 nothing is forwarded', async () => {
    const r = lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '1', '2001:db8:b::2'], { allowFail: true });
    assert.notEqual(r.code, 0);
    assert.equal(await lab.ok(['R6', 'sysctl', 'net.inet6.ip6.forwarding']), 'net.inet6.ip6.forwarding: 0\n');
  });

  test('with forwarding on, A reaches B through R and the hop limit goes down by one', async () => {
    assert.equal(await lab.ok(['R6', 'sysctl', 'net.inet6.ip6.forwarding=1']), 'net.inet6.ip6.forwarding: 0 -> 1\n');
    const r = lab.inNs(A, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '2001:db8:b::2']);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    assert.match(r.stdout, /ttl=63/);
  });

  test('hop limit 1: R answers time exceeded; no route: destination unreachable', () => {
    const t = lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '2', '-t', '1', '2001:db8:b::2'], { allowFail: true });
    assert.match(t.stdout, /From 2001:db8:a::1 icmp_seq=1 Time exceeded: Hop limit/);
    const u = lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '2', '2001:db8:99::1'], { allowFail: true });
    assert.match(u.stdout, /From 2001:db8:a::1 icmp_seq=1 Destination unreachable: No route/);
  });

  test("a smaller MTU on B's side: R answers packet too big and Linux's path MTU follows", async () => {
    await lab.ok(['R6', 'ifconfig', t1, 'mtu', '1280']);
    const r = lab.inNs(A, ['ping', '-6', '-c', '3', '-i', '0.3', '-W', '2', '-s', '1400', '2001:db8:b::2'], { allowFail: true });
    assert.match(r.stdout, /From 2001:db8:a::1 icmp_seq=1 Packet too big: mtu=1280/);
    assert.match(r.stdout, /3 packets transmitted, 2 received/, 'the next ones go as fragments that fit');
    assert.match(sh('ip', ['-n', A, '-6', 'route', 'get', '2001:db8:b::2']).stdout, /mtu 1280/);
    await lab.ok(['R6', 'ifconfig', t1, 'mtu', '1500']);
  });

  test('a static route with route -6 add reaches a prefix behind B; netstat -rn lists it', async () => {
    const before = lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '1', '2001:db8:c::2'], { allowFail: true });
    assert.notEqual(before.code, 0);
    assert.equal(await lab.ok(['R6', 'route', '-6', 'add', '2001:db8:c::/64', '2001:db8:b::2']), 'add net 2001:db8:c::/64: gateway 2001:db8:b::2\n');
    const r = lab.inNs(A, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '2001:db8:c::2']);
    assert.match(r.stdout, /2 packets transmitted, 2 received/);
    const ns = await lab.ok(['R6', 'netstat', '-rn']);
    assert.match(ns, new RegExp(`\\n2001:db8:c::/64 +2001:db8:b::2 +UGS +${t1}\\n`));
    assert.match(ns, new RegExp(`\\n2001:db8:a::/64 +link#\\d+ +U +${t0}\\n`));
  });
});
