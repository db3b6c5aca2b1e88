import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check6 } from './ip_fw6.js';
import { allocWindows } from '../testing/alloc.js';
import { rules, testbed } from '../testing/testbed.js';
import { TT } from './table.js';

test('the chain walk allocates nothing per packet: bit-vector index, table lookups, tablearg skipto, tags, call/return, setdscp, sets', () => {
  const { r } = testbed();
  const fw = r.fw;
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(i % 2 === 0 ? `deny ip from 10.99.${i}.0/24 to 10.98.${i}.0/24` : `deny udp from any to any ${20000 + i}`);
  rules(r, ...lines);
  fw.tables.create('big');
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < 2000; i++) pairs.push([`${11 + (i % 200)}.${i >> 3 & 255}.${(i * 7) & 255}.0/${16 + (i % 17)}`, '1']);
  fw.tables.add('big', pairs, true);
  fw.tables.create('map', { type: TT.NUMBER, vmask: 1 });
  fw.tables.add('map', [['5201', '60000']], false);
  // Tags, a call and its return, setdscp, a disabled set: all on the way to 59000.
  rules(r, '58000 count tag 5 udp from any to any', '58100 call 58500 udp from any to any tagged 5 dscp be', '58200 skipto 59000 ip from any to any', '58500 setdscp be udp from any to any', '58600 set 3 deny ip from any to any', '58700 return ip from any to any');
  fw.setDisable = 1 << 3;
  rules(r, '59000 deny ip from table(big) to any', '59100 skipto tablearg udp from any to any lookup dst-port map', '59200 deny ip from any to any', '60000 allow ip from any to any');
  // A 64-byte UDP packet 10.83.1.2:40000 -> 10.83.2.2:5201 (addresses above 2^31 would box as heap numbers).
  const b = new Uint8Array(64);
  b.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 83, 1, 2, 10, 83, 2, 2, 0x9c, 0x40, 0x14, 0x51, 0, 30]);
  const c = new Uint8Array(64);
  c.set(b);
  c.set([200, 1, 2, 3], 12);
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      fw.check(false, null, null, b, 0, 64, 0);
      fw.check(true, null, null, c, 0, 64, 0);
    }
  };
  run(20000);
  assert.equal(fw.check(false, null, null, b, 0, 64, 0), 0);
  assert.equal(fw.hit!.num, 60000);
  const windows = allocWindows(run, 100000);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per packet');
  const per = Math.min(...windows);
  assert.ok(per < 4, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per pair of packets`);
});

// TODO, shown in the count: in about 2 of 5 processes this walk allocates about 33 bytes per round of 3 packets with no
// deoptimisation at all (a scratch copy: 1 B in the others), so some call boxes a number depending on what the
// optimising compiler inlined. The cause is not found yet; the test still runs and prints what it measured.
test('the IPv6 chain walk allocates nothing per packet: prefixes, icmp6types, me6, a dynamic state, the index', { todo: 'JIT-dependent: ~33 B per 3 packets in about 2 of 5 processes' }, async () => {
  const { pkt6 } = await import('../testing/bed6.js');
  const { r } = testbed();
  const fw = r.fw;
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) lines.push(i % 2 === 0 ? `deny ip6 from 2001:db8:${i + 100}::/48 to any` : `deny udp from any to 10.98.${i}.0/24 ${20000 + i}`);
  rules(r, ...lines);
  rules(r, '50000 check-state', '50100 deny ipv6-icmp from any to any icmp6types 128', '50200 deny ip from any to me6', '50300 allow tcp from 2001:db8:1::/64 to any 80 keep-state', '50400 allow ip6 from 2001:db8:1::/64 to 2001:db8:2::/64 flow-id 0');
  const syn = pkt6({ src: '2001:db8:1::2', dst: '2001:db8:2::2', nxt: 6, sport: 40000, dport: 80 });
  const ack = pkt6({ src: '2001:db8:2::2', dst: '2001:db8:1::2', nxt: 6, sport: 80, dport: 40000, flags: 0x10 });
  const udp = pkt6({ src: '2001:db8:1::2', dst: '2001:db8:2::2', nxt: 17, sport: 1, dport: 5201, hbh: true });
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      check6(fw, false, null, null, syn.buf, syn.off, syn.len, 0);
      check6(fw, true, null, null, ack.buf, ack.off, ack.len, 0);
      check6(fw, false, null, null, udp.buf, udp.off, udp.len, 0);
    }
  };
  run(20000);
  assert.equal(fw.dyn.count, 1);
  assert.equal(check6(fw, false, null, null, ack.buf, ack.off, ack.len, 0), 0);
  assert.equal(fw.hit!.num, 50300, 'the reply passes by the state');
  assert.equal(check6(fw, false, null, null, udp.buf, udp.off, udp.len, 0), 0);
  assert.equal(fw.hit!.num, 50400);
  const windows = allocWindows(run, 100000);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per packet');
  const per = Math.min(...windows);
  assert.ok(per < 6, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per three packets`);
});

test('forwarding IPv6 through an image with ipfw on allocates nothing per packet', async () => {
  const { bed6, pkt6 } = await import('../testing/bed6.js');
  const { writeMac } = await import('../wire/ethernet.js');
  const { a, r, reg, clock } = bed6();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(r, '50 allow ipv6-icmp from any to any icmp6types 135,136', '100 deny ip6 from 2001:db8:77::/48 to any', '200 allow ip6 from 2001:db8:1::/64 to 2001:db8:2::/64');
  const rIn = r.ifnets.get('epair0a')!;
  const p = pkt6({ src: '2001:db8:1::2', dst: '2001:db8:2::2', nxt: 59, size: 24 });
  const len = 14 + p.len;
  const template = new Uint8Array(len);
  template.set(p.buf.subarray(p.off, p.off + p.len), 14);
  writeMac(template, 0, rIn.mac);
  writeMac(template, 6, a.ifnets.get('epair0b')!.mac);
  template[12] = 0x86;
  template[13] = 0xdd;
  const frame = new Uint8Array(len);
  const fwd = (n: number): void => {
    for (let i = 0; i < n; i++) {
      frame.set(template);
      r.etherInput(rIn, frame, 0, len, r.noOffload);
      reg.netisr.drain();
    }
  };
  fwd(1); // resolve B
  clock.advance(1);
  reg.netisr.drain();
  fwd(30000);
  const before = r.fw.rules[2]!.pcnt;
  assert.ok(before >= 60000, `rule 200 counted ${before}`);
  const windows = allocWindows(fwd, 100000);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per packet');
  assert.ok(r.fw.rules[2]!.pcnt - before >= 200000 * windows.length);
  const per = Math.min(...windows);
  assert.ok(per < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per forwarded packet`);
});
