/**
 * Routing against Linux: ICMP redirects received by an image acting as a
 * host, and an image forwarding over a multipath (ECMP) route to two Linux
 * next hops; plus `route monitor` ended by Ctrl-C.
 *
 * (a)  image H 10.87.1.10 --tap-- [ns L1: br0 10.87.1.1, forwards] --veth-- ns L2 10.87.1.2 (owns 10.87.9.1)
 *      H's default route is L1; L1 reaches 10.87.9.1 through L2 back out br0, so it redirects H to L2.
 * (b)  ns S 10.87.2.2 --tap-- image R --tap-- ns N1 10.87.3.2  (both own 10.87.8.1)
 *                                     --tap-- ns N2 10.87.4.2
 *      R: route add -net 10.87.8.0/24 10.87.3.2, then 10.87.4.2: one ECMP route.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailable, sh, until } from './lab.js';

const P = 'vrt'; // prefix of every namespace and host device this file makes

const skip = labUnavailable() ?? (existsSync('/usr/bin/python3') ? undefined : '/usr/bin/python3 is not installed (scripts/install-test-tools.sh)');

/** A counter of a Linux namespace's /proc/net/snmp (`Ip`, `ForwDatagrams`). */
function snmp(lab: Lab, ns: string, proto: string, name: string): number {
  const lines = lab.inNs(ns, ['cat', '/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith(`${proto}:`));
  const names = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return vals[names.indexOf(name)]!;
}

const sysctl = (lab: Lab, ns: string, kv: string): void => void lab.inNs(ns, ['sysctl', '-qw', kv]);

describe('routing against Linux: redirects and multipath', { skip }, () => {
  const lab = new Lab(P);

  before(async () => {
    await lab.start();
  });
  after(async () => {
    await lab.close();
  });

  test('an image acting as a host follows a Linux router\'s redirect: a D route that route get shows, then straight to the better gateway', async () => {
    const l1 = lab.netns('L1');
    const l2 = lab.netns('L2');
    await lab.ok(['-c', 'H']);
    const tap = (await lab.ok(['H', 'ifconfig', 'tap', 'create', 'hostname', `${P}h0`])).trim();
    sh('ip', ['link', 'set', `${P}h0`, 'netns', l1]);
    sh('ip', ['link', 'add', `${P}l1`, 'type', 'veth', 'peer', 'name', `${P}l2`]);
    sh('ip', ['link', 'set', `${P}l1`, 'netns', l1]);
    sh('ip', ['link', 'set', `${P}l2`, 'netns', l2]);
    lab.inNs(l1, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    for (const d of [`${P}h0`, `${P}l1`]) {
      lab.inNs(l1, ['ip', 'link', 'set', d, 'master', 'br0']);
      lab.inNs(l1, ['ip', 'link', 'set', d, 'up']);
    }
    lab.inNs(l1, ['ip', 'addr', 'add', '10.87.1.1/24', 'dev', 'br0']);
    lab.inNs(l1, ['ip', 'link', 'set', 'br0', 'up']);
    sysctl(lab, l1, 'net.ipv4.ip_forward=1');
    sysctl(lab, l1, 'net.ipv4.conf.all.send_redirects=1');
    sysctl(lab, l1, 'net.ipv4.conf.br0.send_redirects=1');
    lab.inNs(l1, ['ip', 'route', 'add', '10.87.9.0/24', 'via', '10.87.1.2']);
    lab.inNs(l2, ['ip', 'addr', 'add', '10.87.1.2/24', 'dev', `${P}l2`]);
    lab.inNs(l2, ['ip', 'addr', 'add', '10.87.9.1/32', 'dev', 'lo']);
    lab.inNs(l2, ['ip', 'link', 'set', `${P}l2`, 'up']);
    await lab.ok(['H', 'ifconfig', tap, 'inet', '10.87.1.10/24', 'up']);
    await lab.ok(['H', 'route', 'add', 'default', '10.87.1.1']);
    await until('H reaches L1', async () => (await lab.vimage(['H', 'ping', '-c', '1', '-t', '1', '10.87.1.1'])).code === 0);

    const before = await lab.ok(['H', 'route', '-n', 'get', '10.87.9.1']);
    assert.match(before, /destination: default\n/);
    // The first packet goes to L1, which forwards it back out br0 to L2 and redirects H.
    const ping = await lab.vimage(['H', 'ping', '-c', '2', '-t', '4', '10.87.9.1']);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const got = await lab.ok(['H', 'route', '-n', 'get', '10.87.9.1']);
    assert.match(got, /destination: 10\.87\.9\.1\n/);
    assert.match(got, /    gateway: 10\.87\.1\.2\n/);
    assert.match(got, /flags: <UP,GATEWAY,HOST,DYNAMIC,DONE>\n/);
    const expire = Number(/\s(\d+) \n$/.exec(got)![1]);
    assert.ok(expire > 590 && expire <= 600, `expires in about 600 s: ${expire}`);
    assert.match(await lab.ok(['H', 'netstat', '-rn', '-f', 'inet']), /\n10\.87\.9\.1\s+10\.87\.1\.2\s+UGHD\s+tap\d+\s+\d+\n/);
    assert.match(await lab.ok(['H', 'netstat', '-s', '-p', 'icmp']), /Input histogram:\n(\t\t.*\n)*?\t\trouting redirect: [1-9]/);
    // From now on H sends to L2 directly: L1 forwards nothing more.
    const fwd = snmp(lab, l1, 'Ip', 'ForwDatagrams');
    const p2 = await lab.vimage(['H', 'ping', '-c', '3', '-i', '0.2', '-t', '4', '10.87.9.1']);
    assert.equal(p2.code, 0, p2.stdout + p2.stderr);
    assert.equal(snmp(lab, l1, 'Ip', 'ForwDatagrams'), fwd, 'L1 forwarded none of the later packets');
    // With drop_redirect the same redirect is ignored.
    await lab.ok(['H', 'route', 'delete', '10.87.9.1']);
    await lab.ok(['H', 'sysctl', 'net.inet.icmp.drop_redirect=1']);
    await lab.vimage(['H', 'ping', '-c', '1', '-t', '4', '10.87.9.1']);
    assert.match(await lab.ok(['H', 'route', '-n', 'get', '10.87.9.1']), /destination: default\n/);
  });

  test('an image router spreads UDP and TCP flows over both paths of a multipath route to two Linux next hops', async () => {
    const s = lab.netns('S');
    const n1 = lab.netns('N1');
    const n2 = lab.netns('N2');
    await lab.ok(['-c', 'R']);
    const mk = async (host: string, ns: string, hostAddr: string, imgAddr: string): Promise<void> => {
      const tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}${host}`])).trim();
      lab.wireHost(`${P}${host}`, ns, `${hostAddr}/24`, imgAddr);
      await lab.ok(['R', 'ifconfig', tap, 'inet', `${imgAddr}/24`, 'up']);
    };
    await mk('s0', s, '10.87.2.2', '10.87.2.1');
    await mk('n1', n1, '10.87.3.2', '10.87.3.1');
    await mk('n2', n2, '10.87.4.2', '10.87.4.1');
    for (const ns of [n1, n2]) lab.inNs(ns, ['ip', 'addr', 'add', '10.87.8.1/32', 'dev', 'lo']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    assert.equal(await lab.ok(['R', 'route', 'add', '-net', '10.87.8.0/24', '10.87.3.2']), 'add net 10.87.8.0/24: gateway 10.87.3.2\n');
    assert.equal(await lab.ok(['R', 'route', 'add', '-net', '10.87.8.0/24', '10.87.4.2']), 'add net 10.87.8.0/24: gateway 10.87.4.2\n');
    const table = await lab.ok(['R', 'netstat', '-rn', '-f', 'inet']);
    assert.match(table, /\n10\.87\.8\.0\/24\s+10\.87\.3\.2\s+UGS\s+tap\d+\n10\.87\.8\.0\/24\s+10\.87\.4\.2\s+UGS\s+tap\d+\n/);
    for (const ip of ['10.87.3.2', '10.87.4.2']) await until(`R reaches ${ip}`, async () => (await lab.vimage(['R', 'ping', '-c', '1', '-t', '1', ip])).code === 0);

    const u1 = snmp(lab, n1, 'Udp', 'NoPorts');
    const u2 = snmp(lab, n2, 'Udp', 'NoPorts');
    const t1 = snmp(lab, n1, 'Tcp', 'OutRsts');
    const t2 = snmp(lab, n2, 'Tcp', 'OutRsts');
    // 64 UDP flows (two datagrams each) and 32 TCP connection attempts, each from its own port; nothing listens.
    const py = `
import socket, time
for i in range(64):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("10.87.2.2", 30000 + i))
    u.sendto(b"x", ("10.87.8.1", 9)); u.sendto(b"y", ("10.87.8.1", 9))
    u.close()
for i in range(32):
    t = socket.socket(); t.settimeout(2)
    t.bind(("10.87.2.2", 31000 + i))
    try: t.connect(("10.87.8.1", 5001))
    except OSError: pass
    t.close()
`;
    lab.inNs(s, ['/usr/bin/python3', '-c', py], { timeoutMs: 60_000 });
    await until('the datagrams arrive', () => snmp(lab, n1, 'Udp', 'NoPorts') - u1 + snmp(lab, n2, 'Udp', 'NoPorts') - u2 >= 128);
    const d1 = snmp(lab, n1, 'Udp', 'NoPorts') - u1;
    const d2 = snmp(lab, n2, 'Udp', 'NoPorts') - u2;
    assert.equal(d1 + d2, 128);
    assert.equal(d1 % 2, 0, 'both datagrams of a flow take one path');
    assert.ok(d1 >= 24 && d2 >= 24, `UDP flows spread over both next hops: ${d1 / 2} and ${d2 / 2} of 64`);
    const r1 = snmp(lab, n1, 'Tcp', 'OutRsts') - t1;
    const r2 = snmp(lab, n2, 'Tcp', 'OutRsts') - t2;
    assert.ok(r1 + r2 >= 32, `every connection attempt reached a next hop: ${r1} + ${r2}`);
    assert.ok(r1 >= 6 && r2 >= 6, `TCP flows spread over both next hops: ${r1} and ${r2}`);
    // One path deleted: everything takes the other.
    assert.equal(await lab.ok(['R', 'route', 'delete', '-net', '10.87.8.0/24', '10.87.3.2']), 'delete net 10.87.8.0/24: gateway 10.87.3.2\n');
    const before2 = snmp(lab, n2, 'Udp', 'NoPorts');
    lab.inNs(s, ['/usr/bin/python3', '-c', py.split('for i in range(32)')[0]!], { timeoutMs: 60_000 });
    await until('all to N2', () => snmp(lab, n2, 'Udp', 'NoPorts') - before2 >= 128);
  });

  test('route monitor streams routing messages as FreeBSD prints them and ends on Ctrl-C', async () => {
    const mon = lab.vimage(['R', 'route', '-n', 'monitor'], { signalAfterMs: 2500 });
    await new Promise((r) => setTimeout(r, 800));
    await lab.ok(['R', 'route', 'add', '-net', '10.87.7.0/24', '10.87.3.2']);
    await lab.ok(['R', 'route', 'delete', '-net', '10.87.7.0/24']);
    const out = await mon;
    assert.match(out.stdout, /\ngot message of size 200 on \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nRTM_ADD: Add Route: len 200, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\nlocks:  inits: \nsockaddrs: <DST,GATEWAY,NETMASK>\n 10\.87\.7\.0 10\.87\.3\.2 255\.255\.255\.0\n/);
    assert.match(out.stdout, /RTM_DELETE: Delete Route: len 200, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\n/);
    assert.ok(out.code === 0 || out.code === 130, `ended by Ctrl-C: ${out.code} ${out.stderr}`);
  });
});
