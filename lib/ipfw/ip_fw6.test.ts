import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check6 } from './ip_fw6.js';
import { bed6, pkt6, send6, type Pkt6Spec } from '../testing/bed6.js';
import { rules, testbed } from '../testing/testbed.js';
import { FirewallControl } from '../control/firewall.js';
import { V_DENY, V_PASS, V_REJECT, type Ipfw } from './ip_fw2.js';

const ECHO_REPLY = 129;

/** The verdict and the matched rule's number for one packet checked on input. */
function check(fw: Ipfw, s: Pkt6Spec, out = false): [number, number] {
  const p = pkt6(s);
  const v = check6(fw, out, null, null, p.buf, p.off, p.len, 0);
  return [v, fw.hit!.num];
}

const A = '2001:db8:1::2';
const B = '2001:db8:2::2';

test('IPv6 rules match by protocol, icmp6types, prefix, address list, ports, flow label and extension headers', () => {
  const { r } = testbed();
  rules(
    r,
    '100 deny ipv6-icmp from any to any icmp6types 128',
    '200 deny ip6 from 2001:db8:99::/48 to any',
    '300 deny ip from 2001:db8::7,2001:db8::8/127 to any',
    '400 deny tcp from any to 2001:db8:2::/64 22,2200-2300',
    '500 deny ip6 from any to any flow-id 77',
    '600 deny ip from any to any ext6hdr frag',
    '700 allow ip from any to any',
  );
  const fw = r.fw;
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 58, icmpType: 128 }), [V_DENY, 100]);
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 58, icmpType: 129 }), [V_PASS, 700]);
  assert.deepEqual(check(fw, { src: '2001:db8:99:1::5', dst: B, nxt: 17, sport: 1, dport: 2 }), [V_DENY, 200]);
  assert.deepEqual(check(fw, { src: '2001:db8:9a::5', dst: B, nxt: 17, sport: 1, dport: 2 }), [V_PASS, 700]);
  for (const [src, hit] of [['2001:db8::7', 300], ['2001:db8::9', 300], ['2001:db8::a', 700], ['2001:db8::6', 700]] as const)
    assert.equal(check(fw, { src, dst: B, nxt: 59 })[1], hit, src);
  for (const [dport, hit] of [[22, 400], [2250, 400], [80, 700]] as const) assert.equal(check(fw, { src: A, dst: B, nxt: 6, sport: 5000, dport })[1], hit);
  assert.equal(check(fw, { src: A, dst: '2001:db8:3::1', nxt: 6, sport: 5000, dport: 22 })[1], 700, 'another /64');
  assert.equal(check(fw, { src: A, dst: B, nxt: 59, flow: 77 })[1], 500);
  assert.equal(check(fw, { src: A, dst: B, nxt: 59, flow: 78 })[1], 700);
  // The upper layer is found past the extension headers: the fragment header does not hide the echo request.
  assert.equal(check(fw, { src: A, dst: B, nxt: 58, icmpType: 128, hbh: true, frag: true })[1], 100);
  assert.equal(check(fw, { src: A, dst: B, nxt: 17, hbh: true, frag: true, sport: 1, dport: 2 })[1], 600);
  assert.equal(check(fw, { src: A, dst: B, nxt: 17, hbh: true, sport: 1, dport: 2 })[1], 700);
});

test('the families stay apart: ip4 and IPv4 addresses never match IPv6, ip6 and IPv6 addresses never match IPv4', () => {
  const { r } = testbed();
  rules(
    r,
    '100 count ip4 from any to any',
    '110 count ip from 0.0.0.0/8 to any',
    '120 count ip from any to any ipttl 64',
    '130 count ip from not 10.0.0.0/8 to any',
    '140 count ip6 from any to any',
    '150 count ip from ::/0 to 2001:db8::/32',
    '160 count ip from any to any',
  );
  const fw = r.fw;
  check(fw, { src: A, dst: B, nxt: 59 });
  const c = (): number[] => fw.rules.slice(0, 7).map((x) => x.pcnt);
  assert.deepEqual(c(), [0, 0, 1, 1, 1, 1, 1], 'hop limit 64 is ipttl; "not 10/8" holds for an IPv6 packet, as in FreeBSD');
  const b = new Uint8Array(28);
  b.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 1, 10, 0, 0, 2]);
  fw.check(false, null, null, b, 0, 28, 0);
  assert.deepEqual(c(), [1, 1, 2, 2, 1, 1, 2]);
});

test('me6 is an address of the image; reject and unreach6 answer IPv6 with ICMPv6 unreachables, nat denies IPv6', () => {
  const { r } = bed6();
  rules(r, '100 unreach6 port ip6 from any to me6', '200 reject ip6 from any to any', '300 nat 1 ip6 from any to any');
  const fw = r.fw;
  assert.deepEqual(check(fw, { src: A, dst: '2001:db8:2::1', nxt: 17, sport: 1, dport: 2 }), [V_REJECT, 100]);
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 17, sport: 1, dport: 2 }), [V_REJECT, 200]);
  fw.deleteRange(200, 200);
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 17, sport: 1, dport: 2 }), [V_DENY, 300]);
  // unreach6 on an IPv4 packet is deny.
  const b = new Uint8Array(28);
  b.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 2, 0, 1]);
  rules(r, '50 unreach6 port ip from any to any');
  assert.equal(fw.check(false, null, null, b, 0, 28, 0), V_DENY);
});

test('through R: icmp6types 128 stops echo requests while TCP passes, and deny counts', () => {
  const { a, r, reg } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  // Neighbor Discovery first (FreeBSD: ND is filtered like everything else), then the test rules.
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 133,134,135,136', '100 deny ipv6-icmp from any to any icmp6types 128', '200 allow ip6 from any to any');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  assert.equal(a.icmp6.inhist[ECHO_REPLY], 0);
  assert.equal(r.fw.rules[1]!.pcnt, 1);
  assert.equal(r.fw.stat.denied, 1);
  send6(a, { src: A, dst: B, nxt: 6, sport: 40000, dport: 80 });
  reg.netisr.drain();
  assert.ok(r.fw.rules[2]!.pcnt >= 2, 'the SYN went in and out of R (and B answered)');
  r.sysctl.set('net.inet.ip.fw.enable', '0');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  assert.equal(a.icmp6.inhist[ECHO_REPLY], 1, 'the firewall off: the echo is answered');
});

test('with only the default rule Neighbor Discovery is denied too; allowing ND types 133-136 lets traffic resolve', () => {
  const { a, r, reg, clock } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '200 allow ip6 from 2001:db8:1::/64 to 2001:db8:2::/64', '210 allow ip6 from 2001:db8:2::/64 to 2001:db8:1::/64');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  clock.advance(5000);
  reg.netisr.drain();
  assert.equal(a.icmp6.inhist[ECHO_REPLY], 0, "A's neighbor solicitation for R is denied: nothing resolves");
  assert.ok(r.fw.defaultRule.pcnt > 0);
  rules(r, '100 allow ipv6-icmp from any to any icmp6types 135,136');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  clock.advance(1000);
  reg.netisr.drain();
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  assert.ok(a.icmp6.inhist[ECHO_REPLY]! >= 1, 'with ND allowed the echo is answered');
});

test('keep-state on IPv6 TCP: replies pass a default deny by their state, the other direction does not start', () => {
  const { a, r, b, reg } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 check-state', `200 allow tcp from ${A} to any 80 setup keep-state`);
  // B's SYN to A is not allowed: no state, default deny.
  send6(b, { src: B, dst: A, nxt: 6, sport: 80, dport: 40000 });
  reg.netisr.drain();
  assert.equal(r.fw.dyn.count, 0);
  const denied = r.fw.defaultRule.pcnt;
  assert.ok(denied >= 1);
  // A's SYN makes the state; B's answer (a RST: nothing listens) comes back through it.
  send6(a, { src: A, dst: B, nxt: 6, sport: 40001, dport: 80 });
  reg.netisr.drain();
  assert.equal(r.fw.dyn.count, 1);
  const st = new FirewallControl(r).states();
  assert.deepEqual(
    st.map((s) => [s.rule, s.proto, s.src, s.srcPort, s.dst, s.dstPort]),
    [[200, 6, A, 40001, B, 80]],
  );
  assert.equal(r.fw.defaultRule.pcnt, denied, 'the answer passed by the state');
  assert.ok(r.fw.rules[2]!.pcnt >= 3, 'SYN in and out, the answer in (counted on the rule that made the state)');
  // The same ports between other addresses whose folds collide make no match.
  const [v] = check(r.fw, { src: '2001:db8:2::3', dst: '2001:db8:1::3', nxt: 6, sport: 80, dport: 40001, flags: 0x10 });
  assert.equal(v, V_DENY);
});

test('dummynet holds IPv6 packets and hands them back: a 50 ms pipe on input delays each way by 50 ms', () => {
  const { a, r, reg, clock } = bed6();
  r.fw.dn.configPipe(1, { delay: 50 });
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 pipe 1 ip6 from any to any in', '200 allow ip6 from any to any');
  // Resolve the neighbours first.
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  for (let t = 0; t < 300; t += 10) {
    clock.advance(10);
    reg.netisr.drain();
  }
  const before = a.icmp6.inhist[ECHO_REPLY]!;
  assert.equal(before, 1);
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  let at = -1;
  for (let t = 1; t <= 200 && at < 0; t++) {
    clock.advance(1);
    reg.netisr.drain();
    if (a.icmp6.inhist[ECHO_REPLY]! > before) at = t;
  }
  assert.equal(at, 100, 'request and reply each waited 50 ms in the pipe');
  assert.ok(r.fw.stat.dummynet >= 4);
});

test('through R: unreach6 sends an ICMPv6 destination unreachable back, reset6 a TCP RST', () => {
  const { a, r, reg } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 unreach6 admin-prohib udp from any to any', '200 reset6 tcp from any to any 80', '300 allow ip6 from any to any');
  send6(a, { src: A, dst: B, nxt: 17, sport: 5000, dport: 53 });
  reg.netisr.drain();
  assert.equal(a.icmp6.inhist[1], 1, 'A got a destination unreachable');
  assert.equal(r.fw.stat.rejected, 1);
  const got = a.ip6stat.delivered;
  send6(a, { src: A, dst: B, nxt: 6, sport: 40000, dport: 80 });
  reg.netisr.drain();
  assert.equal(r.fw.stat.reset, 1);
  assert.equal(a.ip6stat.delivered, got + 1, 'the RST reached A');
});

test("R's own neighbor solicitations pass the output filter: denied, B never hears them", () => {
  const { a, r, b, reg, clock } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136 via epair0a', '200 allow ip6 from any to any not icmp6types 135,136');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  clock.advance(3000);
  reg.netisr.drain();
  assert.equal(b.icmp6.inhist[135], 0, "R's solicitation for B was denied on output");
  assert.ok(r.icmp6.outhist[135]! >= 1);
  assert.equal(a.icmp6.inhist[ECHO_REPLY], 0);
  rules(r, '60 allow ipv6-icmp from any to any icmp6types 135,136 via epair1a');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  clock.advance(1000);
  reg.netisr.drain();
  assert.ok(b.icmp6.inhist[135]! >= 1);
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  reg.netisr.drain();
  assert.ok(a.icmp6.inhist[ECHO_REPLY]! >= 1);
});

test('log writes FreeBSD\'s IPv6 line: addresses in brackets, ICMPv6 type.code, TCP ports', () => {
  const { a, r, reg } = bed6();
  const lines: string[] = [];
  (r as unknown as { log: unknown }).log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: () => {}, debug: () => {}, child: () => r.log };
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 deny log ipv6-icmp from any to any icmp6types 128', '200 reset6 log tcp from any to any 80', '300 allow ip6 from any to any');
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  send6(a, { src: A, dst: B, nxt: 6, sport: 40000, dport: 80 });
  reg.netisr.drain();
  assert.deepEqual(lines, [`ipfw: 100 Deny ICMPv6:128.0 [${A}] [${B}] in via epair0a`, `ipfw: 200 Reset TCP [${A}]:40000 [${B}]:80 in via epair0a`]);
});
