import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksumAdjust, foldComplement, internetChecksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { ETHERTYPE, EthernetFrame, MAC_BROADCAST, emitEthernet, isMulticastMac, macIs, macToString, parseMac, readMac, writeMac, type Mac } from './ethernet.js';
import { ARPOP, ARP_LEN, ArpPacket, emitArp, parseArp } from './arp.js';
import { IP_DF, Ipv4Packet, emitIpv4, ip4ToString, maskToLen, parseCidr, parseIp4, parseIpv4, prefixMask } from './ipv4.js';
import { ICMP_TYPE, IcmpPacket, emitIcmpEcho, isIcmpError } from './icmp.js';
import { VnetHdr, VIRTIO_NET_HDR_GSO, VIRTIO_NET_HDR_F_NEEDS_CSUM } from './vnet.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// A real IPv4/UDP header (192.168.0.1 -> 192.168.0.199, checksum 0xb861).
const IPV4_GOLDEN = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');

// Ethernet broadcast ARP request: who has 192.168.0.2? tell 192.168.0.1.
const ARP_GOLDEN = hex(
  'ffffffffffff 001122334455 0806' + '0001 0800 06 04 0001 001122334455 c0a80001 000000000000 c0a80002',
);

test('internet checksum of a golden IPv4 header is zero, and recomputes to the stored value', () => {
  assert.equal(internetChecksum(IPV4_GOLDEN, 0, 20), 0);
  const b = IPV4_GOLDEN.slice();
  b[10] = 0;
  b[11] = 0;
  assert.equal(internetChecksum(b, 0, 20), 0xb861);
});

test('checksum of odd lengths pads with zero (RFC 1071)', () => {
  const p = new Uint8Array([8, 0, 0, 0, 0x12, 0x34, 0, 1, ...Buffer.from('abcde')]);
  assert.equal(internetChecksum(p, 0, p.length), 0xbc03);
  const q = new Uint8Array([8, 0, 0, 0, 0x12, 0x34, 0, 1, ...Buffer.from('abcd')]);
  assert.equal(internetChecksum(q, 0, q.length), 0x2104);
});

test('checksum over a large buffer folds correctly', () => {
  const b = new Uint8Array(70000).fill(0xff);
  assert.equal(foldComplement(sum16(b, 0, b.length)), 0);
  const c = new Uint8Array(70001).fill(0x01);
  // 35000 words of 0x0101 plus a final 0x0100.
  const expect = (~((35000 * 0x0101 + 0x0100) % 0xffff) & 0xffff) || 0;
  assert.equal(internetChecksum(c, 0, c.length), expect);
});

test('RFC 1624 incremental update equals a full recompute (TTL decrement)', () => {
  const b = IPV4_GOLDEN.slice();
  const old = (b[8]! << 8) | b[9]!;
  b[8] = b[8]! - 1;
  const now = (b[8]! << 8) | b[9]!;
  const adj = checksumAdjust(0xb861, old, now);
  b[10] = adj >> 8;
  b[11] = adj & 0xff;
  assert.equal(internetChecksum(b, 0, 20), 0);
});

test('pseudo-header sum matches the hand-computed value', () => {
  // 192.168.0.1 -> 192.168.0.199, UDP, length 0x5f
  assert.equal(pseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 0x5f), 0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x5f);
});

test('MAC addresses round-trip through bytes, text and integers', () => {
  const b = new Uint8Array(8);
  const m = parseMac('02:aa:bb:cc:dd:0a')!;
  writeMac(b, 1, m);
  assert.deepEqual([...b.subarray(1, 7)], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x0a]);
  assert.equal(readMac(b, 1), m);
  assert.equal(macToString(m), '02:aa:bb:cc:dd:0a');
  assert.equal(macToString(MAC_BROADCAST), 'ff:ff:ff:ff:ff:ff');
  assert.equal(parseMac('02:aa:bb:cc:dd'), undefined);
  assert.equal(parseMac('02:aa:bb:cc:dd:zz'), undefined);
  assert.equal(isMulticastMac(parseMac('01:00:5e:00:00:01')!), true);
  assert.equal(isMulticastMac(m), false);
});

test('Ethernet view parses a golden frame and emit reproduces it', () => {
  const v = new EthernetFrame().reset(ARP_GOLDEN, 0, ARP_GOLDEN.length);
  assert.ok(v.checked());
  assert.equal(v.dst, MAC_BROADCAST);
  assert.equal(macToString(v.src), '00:11:22:33:44:55');
  assert.equal(v.etherType, ETHERTYPE.ARP);
  const out = new Uint8Array(14);
  emitEthernet({ dst: v.dst, src: v.src, etherType: v.etherType }, out, 0);
  assert.deepEqual(out, ARP_GOLDEN.subarray(0, 14));
  assert.equal(new EthernetFrame().reset(ARP_GOLDEN, 0, 13).checked(), false);
  assert.equal(new EthernetFrame().reset(ARP_GOLDEN, 40, 14).checked(), false, 'view past the end of the buffer');
});

test('ARP view parses a golden request; emit round-trips; malformed packets are refused', () => {
  const v = new ArpPacket().reset(ARP_GOLDEN, 14, ARP_LEN);
  assert.ok(v.checked());
  const r = parseArp(v);
  assert.equal(r.op, ARPOP.REQUEST);
  assert.equal(ip4ToString(r.senderIp), '192.168.0.1');
  assert.equal(ip4ToString(r.targetIp), '192.168.0.2');
  assert.equal(r.targetMac, 0);
  const out = new Uint8Array(ARP_LEN);
  emitArp(r, out, 0);
  assert.deepEqual(out, ARP_GOLDEN.subarray(14));
  assert.equal(new ArpPacket().reset(ARP_GOLDEN, 14, 27).checked(), false, 'truncated');
  const bad = ARP_GOLDEN.slice();
  bad[14 + 4] = 8; // hardware length 8
  assert.equal(new ArpPacket().reset(bad, 14, ARP_LEN).checked(), false);
  const ipv6 = ARP_GOLDEN.slice();
  ipv6[14 + 2] = 0x86;
  assert.equal(new ArpPacket().reset(ipv6, 14, ARP_LEN).checked(), false);
});

test('IPv4 view parses a golden header; emit reproduces it byte for byte', () => {
  const buf = new Uint8Array(0x73);
  buf.set(IPV4_GOLDEN);
  const v = new Ipv4Packet().reset(buf, 0, buf.length);
  assert.equal(v.check(), 'ok');
  const r = parseIpv4(v);
  assert.deepEqual(r, { tos: 0, totalLen: 0x73, ident: 0, fragField: IP_DF, ttl: 64, protocol: 17, src: 0xc0a80001, dst: 0xc0a800c7 });
  assert.equal(v.headerLen, 20);
  assert.equal(v.dontFrag, true);
  assert.equal(v.fragOffset, 0);
  const out = new Uint8Array(20);
  emitIpv4(r, out, 0);
  assert.deepEqual(out, IPV4_GOLDEN);
});

test('IPv4 check names the fault of each malformed header', () => {
  const mk = (patch: (b: Uint8Array) => void, len = 0x73, sum = true): string => {
    const b = new Uint8Array(0x73);
    b.set(IPV4_GOLDEN);
    patch(b);
    if (sum) new Ipv4Packet().reset(b, 0, 20).fillChecksum();
    return new Ipv4Packet().reset(b, 0, len).check();
  };
  assert.equal(mk(() => {}, 19), 'toosmall');
  assert.equal(mk((b) => (b[0] = 0x65)), 'badvers');
  assert.equal(mk((b) => (b[0] = 0x44)), 'badhlen');
  assert.equal(mk((b) => (b[0] = 0x4f), 40), 'badhlen');
  assert.equal(mk((b) => ((b[2] = 0), (b[3] = 10))), 'badlen');
  assert.equal(mk((b) => ((b[2] = 0xff), (b[3] = 0xff))), 'tooshort');
  // FreeBSD's order: the header checksum is verified before the total length.
  assert.equal(mk((b) => ((b[2] = 0), (b[3] = 10)), 0x73, false), 'badsum');
  assert.equal(mk((b) => (b[8] = 63), 0x73, false), 'badsum');
  const b = new Uint8Array(0x73);
  b.set(IPV4_GOLDEN);
  b[8] = 63;
  assert.equal(new Ipv4Packet().reset(b, 0, 0x73).check(false), 'ok', 'checksum not verified when asked not to');
  assert.equal(new Ipv4Packet().reset(new Uint8Array(10), 0, 20).check(), 'toosmall', 'length beyond the buffer');
});

test('address text, CIDR and masks', () => {
  assert.equal(parseIp4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIp4('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', 'a.b.c.d', '', '10.0.0.1 ']) assert.equal(parseIp4(bad), undefined, bad);
  assert.deepEqual(parseCidr('10.1.0.1/24'), { addr: 0x0a010001, prefixLen: 24 });
  assert.deepEqual(parseCidr('10.1.0.1'), { addr: 0x0a010001, prefixLen: 32 });
  for (const bad of ['10.1.0.1/33', '10.1.0.1/', '10.1.0.1/x', '/24']) assert.equal(parseCidr(bad), undefined, bad);
  assert.equal(prefixMask(0), 0);
  assert.equal(prefixMask(24), 0xffffff00);
  assert.equal(prefixMask(32), 0xffffffff);
  assert.equal(maskToLen(0xffffff00), 24);
  assert.equal(maskToLen(0), 0);
  assert.equal(maskToLen(0xff00ff00), -1);
  assert.equal(ip4ToString(0xc0a800c7), '192.168.0.199');
});

test('ICMP echo: emit writes a checksum the view verifies; errors are classified', () => {
  const b = new Uint8Array(12);
  b.set(Buffer.from('abcd'), 8);
  emitIcmpEcho({ type: ICMP_TYPE.ECHO, code: 0, ident: 0x1234, seq: 1 }, b, 0, 12);
  assert.deepEqual([...b.subarray(0, 8)], [8, 0, 0x21, 0x04, 0x12, 0x34, 0, 1]);
  const v = new IcmpPacket().reset(b, 0, 12);
  assert.ok(v.checked() && v.verifyChecksum());
  assert.equal(v.ident, 0x1234);
  assert.equal(v.seq, 1);
  b[9] ^= 1;
  assert.equal(v.verifyChecksum(), false);
  assert.equal(new IcmpPacket().reset(b, 0, 7).checked(), false);
  assert.ok(isIcmpError(ICMP_TYPE.UNREACH) && isIcmpError(ICMP_TYPE.TIME_EXCEEDED));
  assert.ok(!isIcmpError(ICMP_TYPE.ECHO) && !isIcmpError(200));
});

test('virtio-net header is little-endian and round-trips', () => {
  const h = new VnetHdr();
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
  h.hdrLen = 66;
  h.gsoSize = 1448;
  h.csumStart = 34;
  h.csumOffset = 16;
  const b = new Uint8Array(10);
  h.write(b, 0);
  assert.deepEqual([...b], [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0]);
  const g = new VnetHdr().read(b, 0);
  assert.deepEqual({ ...g }, { ...h });
  g.clear();
  assert.equal(g.gsoType + g.gsoSize + g.flags, 0);
});

test('views never throw on random bytes', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const ip = new Ipv4Packet();
  const arp = new ArpPacket();
  const icmp = new IcmpPacket();
  for (let i = 0; i < 2000; i++) {
    const len = rnd() % 64;
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = rnd();
    const off = len > 0 ? rnd() % len : 0;
    ip.reset(b, off, len - off).check();
    if (arp.reset(b, off, len - off).checked()) parseArp(arp);
    if (icmp.reset(b, off, len - off).checked()) icmp.verifyChecksum();
    void (readMac(b, 0) as Mac);
  }
});

test('macIs compares an address in the buffer with a MAC, both halves', () => {
  const buf = new Uint8Array([0, 0x02, 0x00, 0x5e, 0x10, 0x00, 0xff, 0]);
  const mac = parseMac('02:00:5e:10:00:ff')!;
  assert.equal(macIs(buf, 1, mac), true);
  assert.equal(macIs(buf, 0, mac), false);
  assert.equal(macIs(buf, 1, parseMac('03:00:5e:10:00:ff')!), false, 'high half differs');
  assert.equal(macIs(buf, 1, parseMac('02:00:5e:10:00:fe')!), false, 'low half differs');
  const bcast = new Uint8Array(6).fill(0xff);
  assert.equal(macIs(bcast, 0, parseMac('ff:ff:ff:ff:ff:ff')!), true);
  assert.equal(macIs(bcast, 0, parseMac('ff:ff:ff:ff:ff:fe')!), false);
});
