import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ruleLine } from './format.js';
import { parseRule } from './parse.js';
import { ip, rules, send, settle, sniff, testbed } from '../testing/testbed.js';
import { UdpSocket } from '../socket/udp.js';
import { SocketError } from '../socket/errno.js';

test('with net.inet.ip.fw.enable=0 the chain is not consulted', () => {
  const bed = testbed();
  rules(bed.r, 'deny ip from any to any');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 1);
  assert.equal(bed.r.fw.rules[0]!.pcnt, 0);
});

test('the default rule denies once ipfw is on, and counts what it denied', () => {
  const bed = testbed();
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53, size: 12 });
  assert.equal(s.seen.length, 0);
  const def = bed.r.fw.defaultRule;
  assert.equal(def.pcnt, 1);
  assert.equal(def.bcnt, 40);
  assert.equal(bed.r.fw.stat.denied, 1);
  bed.r.sysctl.set('net.inet.ip.fw.default_to_accept', '1', true); // a tunable: as if given at creation
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53, size: 12 });
  assert.equal(s.seen.length, 1);
  assert.equal(ruleLine(def, 0, 0, 'allow'), '65535 allow ip from any to any');
});

test('allow icmp: a forwarded echo and its reply are counted on input and on output', () => {
  const bed = testbed();
  const [r100] = rules(bed.r, '100 allow icmp from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.a, 1);
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 8, size: 56 });
  settle(bed);
  assert.deepEqual(
    s.seen.filter((x) => x.type === 0).map((x) => x.src),
    [ip('10.2.0.2')],
  );
  // request: in epair0a + out epair1a; reply: in epair1a + out epair0a
  assert.equal(r100!.pcnt, 4);
  assert.equal(r100!.bcnt, 4 * 84);
  assert.equal(bed.r.fw.defaultRule.pcnt, 0);
});

test('rules match by address, port list and range, protocol and interface', () => {
  const bed = testbed();
  rules(
    bed.r,
    '100 deny udp from 10.1.0.0/24 to any 53,60-70 in',
    '200 deny tcp from any to 10.2.0.2 not 80',
    '300 deny ip from any to any xmit epair1a icmptypes 8',
    '400 allow ip from any to any',
  );
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const udp = sniff(bed.b, 17);
  const tcp = sniff(bed.b, 6);
  const icmp = sniff(bed.b, 1);
  for (const dport of [53, 54, 60, 65, 70, 71]) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport });
  assert.deepEqual(
    udp.seen.map((x) => x.dport),
    [54, 71],
  );
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', dport: 80 });
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', dport: 443 });
  assert.deepEqual(
    tcp.seen.map((x) => x.dport),
    [80],
  );
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 8 });
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 13 });
  assert.deepEqual(
    icmp.seen.map((x) => x.type),
    [13],
  );
  const [r100, r200, r300] = bed.r.fw.rules;
  assert.equal(r100!.pcnt, 4);
  assert.equal(r200!.pcnt, 1);
  assert.equal(r300!.pcnt, 1);
});

test('me, not, or-blocks and address lists', () => {
  const bed = testbed();
  rules(bed.r, '100 allow icmp from any to me', '200 allow udp from { 10.9.9.9 or 10.1.0.2 } to 10.2.0.1,10.2.0.2', '300 deny ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const a = sniff(bed.a, 1);
  send(bed.reg, bed.a, { proto: 1, dst: '10.1.0.1', icmpType: 8 });
  // The echo to R itself is allowed in (to me); R's reply goes out: from me to any, denied by 300.
  assert.equal(a.seen.filter((x) => x.type === 0).length, 0);
  rules(bed.r, '150 allow icmp from me to any');
  send(bed.reg, bed.a, { proto: 1, dst: '10.1.0.1', icmpType: 8 });
  assert.equal(a.seen.filter((x) => x.type === 0).length, 1);
  const b = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(b.seen.length, 1);
});

test('keep-state lets replies back through a default-deny chain; other flows stay out', () => {
  const bed = testbed();
  const [r100] = rules(bed.r, '100 check-state', '200 allow udp from 10.1.0.2 to any keep-state');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  // No port unreachables from the end hosts: only the test's packets cross R.
  bed.a.sysctl.set('net.inet.udp.blackhole', '1');
  bed.b.sysctl.set('net.inet.udp.blackhole', '1');
  const atB = sniff(bed.b, 17);
  const atA = sniff(bed.a, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 53 });
  assert.equal(atB.seen.length, 1);
  assert.equal(bed.r.fw.dyn.count, 1);
  send(bed.reg, bed.b, { proto: 17, dst: '10.1.0.2', sport: 53, dport: 5000 });
  assert.equal(atA.seen.length, 1, 'the reply matched the state');
  send(bed.reg, bed.b, { proto: 17, dst: '10.1.0.2', sport: 53, dport: 5001 });
  assert.equal(atA.seen.length, 1, 'a new flow from B is denied');
  assert.equal(r100!.pcnt, 0, 'check-state itself is never counted');
  const r200 = bed.r.fw.rules[1]!;
  // out: in+out for the request, in+out for the reply
  assert.equal(r200.pcnt, 4);
  assert.equal(bed.r.fw.defaultRule.pcnt, 1);
});

test('UDP states expire after net.inet.ip.fw.dyn_udp_lifetime on the image clock', () => {
  const bed = testbed();
  rules(bed.r, '100 allow udp from 10.1.0.2 to any keep-state');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  bed.r.sysctl.set('net.inet.ip.fw.dyn_udp_lifetime', '3');
  const atA = sniff(bed.a, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 53 });
  settle(bed, 2500);
  send(bed.reg, bed.b, { proto: 17, dst: '10.1.0.2', sport: 53, dport: 5000 });
  assert.equal(atA.seen.length, 1);
  settle(bed, 3600);
  assert.equal(bed.r.fw.dyn.count, 0, 'the sweeper removed the state');
  send(bed.reg, bed.b, { proto: 17, dst: '10.1.0.2', sport: 53, dport: 5000 });
  assert.equal(atA.seen.length, 1);
  assert.equal(bed.clock.pending > 0, true);
});

test('TCP states: SYN lifetime while opening, ACK lifetime once both SYNs were seen', () => {
  const bed = testbed();
  rules(bed.r, '100 allow tcp from 10.1.0.2 to any setup keep-state', '200 deny tcp from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const now = (): number => bed.clock.now();
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 4000, dport: 80, flags: 0x02 });
  const dyn = bed.r.fw.dyn;
  const s = dyn.slots(now())[0]!;
  assert.equal(Math.round((dyn.expire[s]! - now()) / 1000), 20);
  send(bed.reg, bed.b, { proto: 6, dst: '10.1.0.2', sport: 80, dport: 4000, flags: 0x12 });
  assert.equal(Math.round((dyn.expire[s]! - now()) / 1000), 300);
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 4000, dport: 80, flags: 0x04 });
  assert.equal(Math.round((dyn.expire[s]! - now()) / 1000), 1);
  // A non-SYN from A opens nothing (setup).
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 4001, dport: 80, flags: 0x10 });
  assert.equal(dyn.count, 1);
});

test('dyn_max caps the states; the packet that would exceed it is denied', () => {
  const bed = testbed();
  rules(bed.r, '100 allow udp from any to any keep-state');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  bed.r.sysctl.set('net.inet.ip.fw.dyn_max', '2');
  const atB = sniff(bed.b, 17);
  for (let p = 1; p <= 4; p++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 6000 + p, dport: 53 });
  assert.equal(atB.seen.length, 2);
  assert.equal(bed.r.fw.dyn.count, 2);
  assert.equal(bed.r.fw.stat.dynoverflow, 2);
});

test('skipto jumps over rules; count counts and goes on', () => {
  const bed = testbed();
  const rs = rules(bed.r, '100 count icmp from any to any', '200 skipto 1000 icmp from any to any', '300 deny icmp from any to any', '1000 allow icmp from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 1);
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 13 });
  assert.equal(atB.seen.length, 1);
  assert.deepEqual(
    rs.map((r) => r.pcnt),
    [2, 2, 0, 2],
  );
});

test('unreach port answers with ICMP from the router; reset answers a SYN with a RST', () => {
  const bed = testbed();
  rules(bed.r, '100 unreach port udp from any to any 7', '200 reset tcp from any to any 25', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const icmp = sniff(bed.a, 1);
  const tcp = sniff(bed.a, 6);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 7 });
  assert.deepEqual(
    icmp.seen.map((x) => [x.type, x.code, x.src]),
    [[3, 3, ip('10.1.0.1')]],
  );
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 3333, dport: 25, flags: 0x02 });
  assert.equal(tcp.seen.length, 1);
  const rst = tcp.seen[0]!;
  assert.equal(rst.src, ip('10.2.0.2'), 'the reset comes from the address the SYN was sent to');
  assert.equal(rst.sport, 25);
  assert.equal(rst.dport, 3333);
  assert.equal(rst.flags, 0x14, 'RST|ACK');
  assert.equal(bed.r.fw.stat.reset, 1);
});

test('log writes a FreeBSD-style line through the image logger, rate limited by logamount', () => {
  const bed = testbed();
  const lines: string[] = [];
  (bed.r as unknown as { log: unknown }).log = {
    info: (m: string) => lines.push(m),
    warn: (m: string) => lines.push(m),
    error: () => {},
    debug: () => {},
    child: () => bed.r.log,
  };
  rules(bed.r, '100 deny log logamount 2 udp from any to any 53', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  for (let k = 0; k < 4; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 1000, dport: 53 });
  assert.deepEqual(lines, [
    'ipfw: 100 Deny UDP 10.1.0.2:1000 10.2.0.2:53 in via epair0a',
    'ipfw: 100 Deny UDP 10.1.0.2:1000 10.2.0.2:53 in via epair0a',
    'ipfw: limit 2 reached on entry 100',
  ]);
  assert.equal(bed.r.fw.rules[0]!.pcnt, 4);
});

test('prob matches with the image random', () => {
  let x = 0;
  const bed = testbed(() => (x++ % 2 === 0 ? 0.1 : 0.9));
  rules(bed.r, '100 prob 0.5 deny udp from any to any', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  x = 0;
  for (let k = 0; k < 10; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  // Each packet is tried on input (0.1: denied) and, when it passes, on output.
  assert.ok(atB.seen.length < 10);
  assert.equal(bed.r.fw.rules[0]!.pcnt + atB.seen.length, 10);
});

test('deleting a rule removes its states; flush keeps the default rule', () => {
  const bed = testbed();
  rules(bed.r, '100 allow udp from any to any keep-state');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(bed.r.fw.dyn.count, 1);
  assert.equal(bed.r.fw.deleteRange(100, 100), 1);
  assert.equal(bed.r.fw.dyn.count, 0);
  rules(bed.r, 'allow ip from any to any', 'allow ip from any to any');
  assert.deepEqual(
    bed.r.fw.rules.map((r) => r.num),
    [100, 200, 65535],
  );
  bed.r.fw.flush();
  assert.deepEqual(
    bed.r.fw.rules.map((r) => r.num),
    [65535],
  );
});

test('destroying an image with states and ipfw on leaves no timer', () => {
  const plain = testbed();
  plain.reg.destroy('R');
  const bed = testbed();
  rules(bed.r, '100 allow udp from any to any keep-state');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const before = bed.clock.pending;
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(bed.clock.pending, before + 1, 'the state sweeper runs while there are states');
  bed.reg.destroy('R');
  assert.equal(bed.clock.pending, plain.clock.pending);
});

test('the daemon limit on rules per image is enforced with a clear error', () => {
  const bed = testbed();
  bed.reg.limits.rules = 3;
  for (let i = 1; i <= 3; i++) bed.r.fw.add(parseRule(['allow', 'ip', 'from', 'any', 'to', 'any']));
  assert.throws(() => bed.r.fw.add(parseRule(['allow', 'ip', 'from', 'any', 'to', 'any'])), /has 3 rules, the daemon's limit/);
  assert.equal(bed.r.fw.rules.length, 4);
});

test('a local send the chain denies fails with EACCES; one a pipe takes does not', () => {
  const bed = testbed();
  bed.a.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(bed.a, '100 pipe 1 udp from any to any 9', '200 deny udp from any to any out', '300 allow ip from any to any');
  bed.a.fw.dn.configPipe(1, {});
  const so = new UdpSocket(bed.a);
  assert.throws(() => so.send(new Uint8Array(4), ip('10.2.0.2'), 53), (e: unknown) => e instanceof SocketError && e.code === 'EACCES');
  so.send(new Uint8Array(4), ip('10.2.0.2'), 9);
  so.close();
});

test('a local send an unreach rule refuses fails with EACCES, though the rule answers with an ICMP error of its own', () => {
  const bed = testbed();
  bed.a.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(bed.a, '100 unreach host udp from any to any 7 out', '300 allow ip from any to any');
  const so = new UdpSocket(bed.a);
  assert.throws(() => so.send(new Uint8Array(4), ip('10.2.0.2'), 7), (e: unknown) => e instanceof SocketError && e.code === 'EACCES');
  so.close();
});
