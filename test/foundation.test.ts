/**
 * The foundation walk-through, as a new user would do it: vimaged, images R
 * and S, two Linux hosts A and B in namespaces bound to R through TAP
 * devices, R routing between them, S behind R over an epair.
 *
 *   A (10.71.1.2) --tap-- R --tap-- B (10.71.2.2)
 *                         |
 *                       epair
 *                         |
 *                         S (10.71.3.2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailable, sh } from './lab.js';

const P = 'vfnd'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();

describe('foundation: images routing IPv4 between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
  });
  after(async () => {
    await lab.close();
  });

  test('images are created, listed and refused twice', async () => {
    await lab.ok(['-c', 'R']);
    await lab.ok(['create', 'S']);
    const again = await lab.vimage(['-c', 'R']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /image R already exists/);
    const list = await lab.ok(['-l']);
    assert.match(list, /"default":\n {4}\d+ sockets, \d+ ifnets, \d+ processes/);
    assert.match(list, /"R":/);
    assert.match(list, /"S":/);
  });

  test('TAP interfaces are created in R with host names, and the hosts are wired', async () => {
    const t0 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const t1 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    assert.match(t0, /^tap\d+$/);
    assert.match(t1, /^tap\d+$/);
    assert.notEqual(t0, t1);
    assert.equal(sh('ip', ['link', 'show', `${P}a0`]).code, 0, 'host side exists');
    lab.wireHost(`${P}a0`, A, '10.71.1.2/24', '10.71.1.1');
    lab.wireHost(`${P}b0`, B, '10.71.2.2/24', '10.71.2.1');
    await lab.ok(['R', 'ifconfig', t0, 'inet', '10.71.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', t1, 'inet', '10.71.2.1/24', 'up']);
    const ifc = await lab.ok(['R', 'ifconfig', t0]);
    assert.match(ifc, new RegExp(`^${t0}: flags=[0-9a-f]+<UP,BROADCAST,RUNNING`));
    assert.match(ifc, /\tinet 10\.71\.1\.1 netmask 0xffffff00 broadcast 10\.71\.1\.255/);
  });

  test('R answers pings from A on its own address', () => {
    const r = lab.inNs(A, ['ping', '-c', '2', '-W', '2', '10.71.1.1']);
    assert.match(r.stdout, /2 received/);
  });

  test('forwarding is off by default, and A reaches B once it is on', async () => {
    const off = lab.inNs(A, ['ping', '-c', '1', '-W', '1', '10.71.2.2'], { allowFail: true });
    assert.notEqual(off.code, 0, 'no forwarding while net.inet.ip.forwarding=0');
    const set = await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    assert.equal(set.trim(), 'net.inet.ip.forwarding: 0 -> 1');
    const r = lab.inNs(A, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.71.2.2']);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    assert.match(r.stdout, /ttl=63/, 'R decremented the TTL');
  });

  test('a large ping is fragmented by Linux, forwarded and answered', () => {
    const r = lab.inNs(A, ['ping', '-c', '1', '-W', '2', '-s', '3000', '10.71.2.2']);
    assert.match(r.stdout, /1 received/);
  });

  test('traceroute from A lists R then B, and TTL-expired probes get their ICMP answer', () => {
    const tr = lab.inNs(A, ['traceroute', '-n', '-q', '1', '-w', '2', '10.71.2.2']);
    const hops = tr.stdout.trim().split('\n').slice(1);
    assert.match(hops[0]!, /^ 1 {2}10\.71\.1\.1 /);
    assert.match(hops[1]!, /^ 2 {2}10\.71\.2\.2 /);
    const ttl1 = lab.inNs(A, ['ping', '-c', '1', '-W', '2', '-t', '1', '10.71.2.2'], { allowFail: true });
    assert.match(ttl1.stdout, /From 10\.71\.1\.1 icmp_seq=1 Time to live exceeded/);
  });

  test('DF set and a small MTU in R answer fragmentation needed', async () => {
    const t1 = (await lab.ok(['R', 'ifconfig'])).match(/^(tap\d+):.*\n(?:\t.*\n)*\tinet 10\.71\.2\.1/m)?.[1];
    assert.ok(t1);
    await lab.ok(['R', 'ifconfig', t1, 'mtu', '1000']);
    const r = lab.inNs(A, ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1200', '10.71.2.2'], { allowFail: true });
    assert.match(r.stdout + r.stderr, /Frag needed and DF set \(mtu = 1000\)|mtu = 1000|Message too long/);
    await lab.ok(['R', 'ifconfig', t1, 'mtu', '1500']);
  });

  test('ping inside R streams a line per reply and prints FreeBSD\'s summary', async () => {
    const r = await lab.vimage(['R', 'ping', '-c', '3', '-i', '0.2', '10.71.2.2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PING 10\.71\.2\.2 \(10\.71\.2\.2\): 56 data bytes$/m);
    assert.equal((r.stdout.match(/^64 bytes from 10\.71\.2\.2: icmp_seq=\d ttl=64 time=[\d.]+ ms$/gm) ?? []).length, 3);
    assert.match(r.stdout, /^3 packets transmitted, 3 packets received, 0\.0% packet loss$/m);
    assert.match(r.stdout, /^round-trip min\/avg\/max\/stddev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);
  });

  test('Ctrl-C stops a ping inside R, which prints its statistics and exits 0', async () => {
    const r = await lab.vimage(['R', 'ping', '-i', '0.2', '10.71.1.2'], { signalAfterMs: 1500 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--- 10\.71\.1\.2 ping statistics ---/);
    assert.match(r.stdout, /packets transmitted, \d+ packets received/);
  });

  test('ping to an unreachable net from R exits 2', async () => {
    const r = await lab.vimage(['R', 'ping', '-c', '1', '10.99.0.1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr + r.stdout, /No route to host|Network is unreachable/);
  });

  test('traceroute inside R reaches B in one hop', async () => {
    const r = await lab.vimage(['R', 'traceroute', '-n', '-q', '1', '-w', '2', '10.71.2.2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^traceroute to 10\.71\.2\.2 \(10\.71\.2\.2\), 64 hops max/m, "FreeBSD prints the header on stderr");
    assert.match(r.stdout, /^ 1 {2}10\.71\.2\.2 {2}[\d.]+ ms/m);
  });

  test('S behind R over an epair is reachable from A, and sees nothing of R', async () => {
    const ea = (await lab.ok(['R', 'ifconfig', 'epair', 'create'])).trim();
    assert.match(ea, /^epair\d+a$/);
    const eb = ea.replace(/a$/, 'b');
    await lab.ok(['R', 'ifconfig', eb, 'vnet', 'S']);
    await lab.ok(['R', 'ifconfig', ea, 'inet', '10.71.3.1/24', 'up']);
    await lab.ok(['S', 'ifconfig', eb, 'inet', '10.71.3.2/24', 'up']);
    await lab.ok(['S', 'route', 'add', 'default', '10.71.3.1']);
    const r = lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.71.3.2']);
    assert.match(r.stdout, /2 received/);
    const sIf = await lab.ok(['S', 'ifconfig', '-l']);
    assert.deepEqual(sIf.trim().split(/\s+/).sort(), [eb, 'lo0'].sort());
    const sRoutes = await lab.ok(['S', 'netstat', '-rn']);
    assert.doesNotMatch(sRoutes, /10\.71\.1\./);
    assert.match(sRoutes, /^default +10\.71\.3\.1 +UGS +epair\d+b/m);
  });

  test('R counts what it forwarded, and its ARP cache shows both hosts', async () => {
    const st = await lab.ok(['R', 'netstat', '-s', '-p', 'ip']);
    const fwd = Number(st.match(/^\t(\d+) packets? forwarded/m)?.[1]);
    assert.ok(fwd >= 6, `forwarded ${fwd}`);
    const arp = await lab.ok(['R', 'arp', '-an']);
    assert.match(arp, /^\? \(10\.71\.1\.2\) at [0-9a-f:]{17} on tap\d+ expires in \d+ seconds \[ethernet\]$/m);
    assert.match(arp, /^\? \(10\.71\.2\.2\) at [0-9a-f:]{17} on tap\d+/m);
    const ni = await lab.ok(['R', 'netstat', '-i']);
    assert.match(ni, /^Name +Mtu +Network +Address +Ipkts +Ierrs +Idrop +Opkts +Oerrs +Coll/m);
  });

  test('wrong commands are refused with a message and a non-zero status', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['R', 'ifconfig', 'nosuch0'], 1, /nosuch0/],
      [['R', 'ifconfig', 'lo0', 'inet', '300.1.1.1/24'], 64, /300\.1\.1\.1/],
      [['R', 'sysctl', 'net.inet.ip.nosuch'], 1, /unknown oid/],
      [['R', 'sysctl', 'net.inet.ip.ttl=0'], 1, /ttl/],
      [['R', 'route', 'add', '-net', '10.80.0.0/16', '10.55.0.1'], 1, /unreachable/i],
      [['R', 'frobnicate'], 127, /commands in an image: .*ifconfig/],
      [['nosuchimage', 'ifconfig'], 1, /image nosuchimage does not exist/],
      [['-c', 'bad name!'], 1, /invalid image name/],
      [['-d', 'default'], 1, /default image cannot be destroyed/],
    ];
    for (const [args, code, re] of cases) {
      const r = await lab.vimage(args);
      assert.equal(r.code, code, `vimage ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, `vimage ${args.join(' ')}`);
    }
  });

  test('destroying S returns its epair end to the default image', async () => {
    await lab.ok(['-d', 'S']);
    const list = await lab.ok(['-l']);
    assert.doesNotMatch(list, /"S":/);
    const def = await lab.ok(['default', 'ifconfig', '-l']);
    assert.match(def, /epair\d+b/);
    const gone = await lab.vimage(['-d', 'S']);
    assert.equal(gone.code, 1);
  });

  test('vimage -i moves an interface from the default image into an image, renamed', async () => {
    const def = await lab.ok(['default', 'ifconfig', '-l']);
    const eb = def.match(/epair\d+b/)![0];
    const out = await lab.ok(['-i', 'R', eb, 'back0']);
    assert.equal(out.trim(), 'back0@R');
    assert.match(await lab.ok(['R', 'ifconfig', '-l']), /\bback0\b/);
    assert.doesNotMatch(await lab.ok(['default', 'ifconfig', '-l']), new RegExp(eb));
    const again = await lab.vimage(['-i', 'R', eb]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not in the default image/);
  });

  test('on SIGTERM the daemon removes its socket and keeps its TAP devices for a restart', async () => {
    const d = lab.daemonProcess!;
    const exited = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
    d.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(sh('test', ['-e', lab.sock], { allowFail: true }).code, 1, 'socket removed');
    assert.match(sh('ip', ['-n', A, 'link', 'show']).stdout, new RegExp(`${P}a0`), 'the host side stays wired in A');
    const r = await lab.vimage(['-l']);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /cannot reach vimaged/);
  });

  test('a restarted daemon restores the configuration and traffic resumes by itself', async () => {
    await lab.start();
    assert.match(await lab.ok(['-l']), /"R":/);
    assert.equal((await lab.ok(['R', 'sysctl', '-n', 'net.inet.ip.forwarding'])).trim(), '1');
    const r = lab.inNs(A, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.71.2.2']);
    assert.match(r.stdout, /3 received/);
    assert.match(lab.daemonLog(), /TAP device re-attached in another network namespace/);
  });

  test('kill -9 loses no configuration', async () => {
    await lab.ok(['R', 'route', 'add', '-net', '10.72.0.0/16', '10.71.2.2']);
    const d = lab.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGKILL');
    await exited;
    await lab.start();
    assert.match(await lab.ok(['R', 'netstat', '-rn']), /^10\.72\.0\.0\/16 +10\.71\.2\.2 +UGS/m);
    const r = lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.71.2.2']);
    assert.match(r.stdout, /2 received/);
  });
});
