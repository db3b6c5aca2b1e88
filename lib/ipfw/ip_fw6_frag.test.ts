import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bed6, ip6, pkt6, send6 } from '../testing/bed6.js';
import { pmtu6Update } from '../netinet6/pmtu6.js';
import { check6 } from './ip_fw6.js';
import { V_PASS } from './ip_fw2.js';
import { rules } from '../testing/testbed.js';

const A = '2001:db8:1::2';
const B = '2001:db8:2::2';
const ND = '50 allow ipv6-icmp from any to any icmp6types 133,134,135,136';

test('a packet of our own larger than the MTU meets the output filter whole, before it is cut: a deny holds', () => {
  const { a, b, reg, clock } = bed6();
  a.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(a, ND, '100 deny ipv6-icmp from any to any icmp6types 128 out', '200 allow ip6 from any to any');
  assert.equal(send6(a, { src: A, dst: B, nxt: 58, icmpType: 128, size: 3000 }), 'EACCES');
  reg.netisr.drain();
  clock.advance(100);
  reg.netisr.drain();
  assert.equal(a.fw.rules[1]!.pcnt, 1, 'rule 100 saw the echo request');
  assert.equal(a.ip6stat.ofragments, 0, 'nothing was cut and sent');
  assert.equal(b.icmp6.inhist[128], 0, 'B never got the echo request');
});

test('dummynet holds a packet of our own larger than the MTU and cuts it when it comes back: B reassembles it after the delay', () => {
  const { a, b, reg, clock } = bed6();
  a.fw.dn.configPipe(1, { delay: 50 });
  a.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(a, ND, '100 pipe 1 ipv6-icmp from any to any icmp6types 128 out', '200 allow ip6 from any to any');
  // Resolve the neighbours with a small echo first.
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128 });
  for (let t = 0; t < 300; t += 10) {
    clock.advance(10);
    reg.netisr.drain();
  }
  assert.equal(b.icmp6.inhist[128], 1);
  assert.equal(send6(a, { src: A, dst: B, nxt: 58, icmpType: 128, size: 3000 }), 0);
  reg.netisr.drain();
  assert.equal(a.ip6stat.ofragments, 0, 'held in the pipe, not yet cut');
  let at = -1;
  for (let t = 1; t <= 200 && at < 0; t++) {
    clock.advance(1);
    reg.netisr.drain();
    if (b.icmp6.inhist[128]! > 1) at = t;
  }
  assert.equal(at, 50, 'B got the whole echo request after the 50 ms pipe');
  assert.equal(a.ip6stat.fragmented, 1);
  assert.equal(a.ip6stat.ofragments, 3);
  assert.equal(b.ip6stat.reassembled, 1);
  assert.equal(a.fw.rules[1]!.pcnt, 2, 'the pipe rule saw each echo request once, whole');
});

test('setdscp on an IPv6 packet: a later dscp match in the same pass sees the new traffic class, as FreeBSD reads it from the header', () => {
  const { r } = bed6();
  rules(r, '100 setdscp af11 ip6 from any to any', '200 count ip6 from any to any dscp af11', '300 count ip6 from any to any dscp be', '400 allow ip6 from any to any');
  const p = pkt6({ src: A, dst: B, nxt: 59 });
  check6(r.fw, false, null, null, p.buf, p.off, p.len, 0);
  assert.equal(((p.buf[p.off]! & 0xf) << 2) | (p.buf[p.off + 1]! >>> 6), 10, 'the header carries af11');
  assert.deepEqual(r.fw.rules.slice(0, 4).map((x) => x.pcnt), [1, 1, 0, 1]);
});

test('dummynet keeps the path MTU a packet of our own was filtered with: it is cut to a learned 1280, not the link MTU', () => {
  const { a, b, reg, clock } = bed6();
  a.fw.dn.configPipe(1, { delay: 10 });
  a.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(a, ND, '100 pipe 1 ipv6-icmp from any to any icmp6types 128 out', '200 allow ip6 from any to any');
  pmtu6Update(a, ip6(B), 0, 1280, 1500);
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128, size: 2600 });
  for (let t = 0; t < 300; t += 10) {
    clock.advance(10);
    reg.netisr.drain();
  }
  assert.equal(a.ip6stat.ofragments, 3, '2608 bytes of payload in 1232-byte pieces');
  assert.equal(b.ip6stat.reassembled, 1);
  assert.equal(b.icmp6.inhist[128], 1);
});

test('a path MTU learned for a destination behind a router cuts what we send there (looked up by destination, not next hop)', () => {
  const { a, b, reg, clock } = bed6();
  pmtu6Update(a, ip6(B), 0, 1280, 1500);
  send6(a, { src: A, dst: B, nxt: 58, icmpType: 128, size: 2600 });
  for (let t = 0; t < 300; t += 10) {
    clock.advance(10);
    reg.netisr.drain();
  }
  assert.equal(a.ip6stat.ofragments, 3, '2608 bytes of payload in 1232-byte pieces');
  assert.equal(b.ip6stat.reassembled, 1);
});

test('limit src-addr on IPv6: a source whose 32-bit fold equals another one\'s does not use up that one\'s limit', () => {
  const { r } = bed6();
  rules(r, '100 allow tcp from any to any setup limit src-addr 1', '200 deny ip6 from any to any');
  // 2001:db8:9::8:2 folds (the XOR of its words) to the same 0x20000dba as 2001:db8:1::2.
  const [v1] = [check6(r.fw, false, null, null, ...syn('2001:db8:9::8:2', 40000))];
  assert.equal(v1, V_PASS);
  assert.equal(r.fw.rules[0]!.pcnt, 1);
  const v2 = check6(r.fw, false, null, null, ...syn(A, 40001));
  assert.equal(v2, V_PASS, 'the first connection from 2001:db8:1::2 is within its own limit');
  assert.equal(r.fw.rules[0]!.pcnt, 2);
  // The limit still holds per source: a second connection from the same address is refused.
  assert.notEqual(check6(r.fw, false, null, null, ...syn(A, 40002)), V_PASS);
});

function syn(src: string, sport: number): [Uint8Array, number, number, number] {
  const p = pkt6({ src, dst: B, nxt: 6, sport, dport: 80, flags: 0x02 });
  return [p.buf, p.off, p.len, 0];
}
