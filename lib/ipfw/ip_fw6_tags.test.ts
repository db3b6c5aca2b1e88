import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check6 } from './ip_fw6.js';
import { bed6, pkt6, send6, type Pkt6Spec } from '../testing/bed6.js';
import { rules, testbed } from '../testing/testbed.js';
import { V_DENY, V_PASS, type Ipfw } from './ip_fw2.js';

const A = '2001:db8:1::2';
const B = '2001:db8:2::2';

function check(fw: Ipfw, s: Pkt6Spec): [number, number] {
  const p = pkt6(s);
  const v = check6(fw, false, null, null, p.buf, p.off, p.len, 0);
  return [v, fw.hit!.num];
}

test("an IPv6 packet starts with no tags and an empty call stack: the previous packet's do not stick", () => {
  const { r } = testbed();
  rules(r, '100 count tag 5 ip6 from any to any flow-id 1', '200 deny ip6 from any to any tagged 5', '300 allow ip6 from any to any');
  const fw = r.fw;
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 59, flow: 1 }), [V_DENY, 200]);
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 59, flow: 2 }), [V_PASS, 300], 'flow 2 was never tagged');
  // An IPv4 packet after a tagged IPv6 one starts clean too.
  rules(r, '250 deny ip from any to any tagged 5', '260 allow ip from any to any');
  check(fw, { src: A, dst: B, nxt: 59, flow: 1 });
  const b = new Uint8Array(28);
  b.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 2, 0, 1]);
  assert.equal(fw.check(false, null, null, b, 0, 28, 0), V_PASS);
  assert.equal(fw.hit!.num, 260);
  fw.flush();
  rules(
    r,
    '50 skipto 1100 ip6 from any to any flow-id 2',
    '100 call 1000 ip6 from any to any flow-id 1',
    '150 deny ip6 from any to any',
    '1000 allow ip6 from any to any flow-id 1',
    '1100 return ip6 from any to any',
    '1200 allow ip6 from any to any',
  );
  // Flow 1 calls and is allowed inside the subroutine (its stack entry goes with it).
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 59, flow: 1 }), [V_PASS, 1000]);
  // Flow 2's return finds its own (empty) stack: on with the next rule.
  assert.deepEqual(check(fw, { src: A, dst: B, nxt: 59, flow: 2 }), [V_PASS, 1200]);
});

test('after an IPv6 packet comes out of a pipe (one_pass=1) the next packet does not inherit its tags', () => {
  const { a, r, reg } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  r.fw.dn.configPipe(1, { bw: 0, plr: 0, qsize: 50, qbytes: false });
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 pipe 1 tag 5 ip6 from any to any flow-id 1', '200 deny ip6 from any to any tagged 5', '300 allow ip6 from any to any');
  send6(a, { src: A, dst: B, nxt: 17, sport: 1, dport: 2, flow: 1 });
  reg.netisr.drain();
  const denied = r.fw.rules.find((x) => x.num === 200)!.pcnt;
  send6(a, { src: A, dst: B, nxt: 17, sport: 1, dport: 3, flow: 2 });
  reg.netisr.drain();
  assert.equal(r.fw.rules.find((x) => x.num === 200)!.pcnt, denied, 'flow 2 carries no tag');
  assert.ok(r.fw.rules.find((x) => x.num === 300)!.pcnt >= 1);
});

test('fwd ADDR on an IPv6 packet passes it unchanged (FreeBSD sets an IPv4 next hop ip6_output ignores), never to dummynet', () => {
  const { a, r, reg } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 fwd 10.2.0.2 ip from any to any');
  const nopipe = r.fw.stat.nopipe;
  const fwd0 = r.ip6stat.forward;
  send6(a, { src: A, dst: B, nxt: 17, sport: 1, dport: 2 });
  reg.netisr.drain();
  assert.equal(r.fw.stat.nopipe, nopipe);
  assert.ok(r.ip6stat.forward > fwd0, 'R forwarded the IPv6 datagram');
});
