import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldComplement, pseudoHeaderSum6, sum16 } from './checksum.js';
import {
  IP6_HDR_LEN,
  IPPROTO6,
  Ip6ExtWalk,
  Ip6FragHeader,
  Ipv6Packet,
  emitIp6Frag,
  emitIpv6,
  in6CommonPrefix,
  in6IsLinkLocal,
  in6IsSolicitedNode,
  in6LinkLocalFromMac,
  in6McastMac,
  in6PrefixMatch,
  in6SolicitedNode,
  ip6ToString,
  parseIp6,
  parseIp6Cidr,
  parseIpv6,
} from './ipv6.js';
import {
  ICMP6_TYPE,
  Icmp6Packet,
  ND_NA_FLAG,
  NdOpts,
  emitNdMtu,
  emitNdNeighbor,
  emitNdPrefix,
  icmp6Checksum,
  icmp6FillChecksum,
  isIcmp6Error,
  parseNdNeighbor,
  parseNdPrefix,
} from './icmp6.js';
import type { Mac } from './ethernet.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const a6 = (s: string): Uint8Array => parseIp6(s)!;

// A neighbor solicitation fe80::1 -> ff02::1:ff00:2 for fe80::2 with source
// link-layer address 02:00:00:00:00:01; checksum 0x7a97 computed independently.
const NS_GOLDEN = hex(
  '6000 0000 0020 3aff fe80 0000 0000 0000 0000 0000 0000 0001 ff02 0000 0000 0000 0000 0001 ff00 0002' +
    '8700 7a97 0000 0000 fe80 0000 0000 0000 0000 0000 0000 0002 0101 0200 0000 0001',
);

test('IPv6 text: RFC 5952 output and RFC 4291 input', () => {
  const cases: Array<[string, string]> = [
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
  ];
  for (const [input, out] of cases) assert.equal(ip6ToString(a6(input)), out, input);
  for (const bad of ['', ':', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3.256', '1:2:3:4:5:6:7']) assert.equal(parseIp6(bad), undefined, bad);
  assert.deepEqual(parseIp6Cidr('fe80::1%tap0/64'), { addr: a6('fe80::1'), zone: 'tap0', prefixLen: 64 });
  assert.equal(parseIp6Cidr('2001:db8::1/129'), undefined);
});

test('modified EUI-64 link-local, solicited-node group and its MAC', () => {
  const ll = in6LinkLocalFromMac(0x589cfc123456);
  assert.equal(ip6ToString(ll), 'fe80::5a9c:fcff:fe12:3456');
  assert.ok(in6IsLinkLocal(ll));
  const sn = new Uint8Array(16);
  in6SolicitedNode(sn, 0, ll, 0);
  assert.equal(ip6ToString(sn), 'ff02::1:ff12:3456');
  assert.ok(in6IsSolicitedNode(sn));
  assert.equal(in6McastMac(sn, 0), 0x3333ff123456);
  assert.ok(in6PrefixMatch(a6('2001:db8::1'), 0, a6('2001:db8::ffff'), 0, 64));
  assert.ok(!in6PrefixMatch(a6('2001:db8::1'), 0, a6('2001:db9::1'), 0, 32));
  assert.ok(in6PrefixMatch(a6('2001:db8::1'), 0, a6('2001:db9::1'), 0, 31));
  assert.equal(in6CommonPrefix(a6('2001:db8::1'), 0, a6('2001:db8::3'), 0), 126);
});

test('a golden neighbor solicitation parses, checksums and re-emits byte for byte', () => {
  const ip = new Ipv6Packet().reset(NS_GOLDEN, 0, NS_GOLDEN.length);
  assert.equal(ip.check(), 'ok');
  const r = parseIpv6(ip);
  assert.equal(r.payloadLen, 32);
  assert.equal(r.nextHeader, IPPROTO6.ICMPV6);
  assert.equal(r.hopLimit, 255);
  assert.equal(ip6ToString(r.src), 'fe80::1');
  assert.equal(ip6ToString(r.dst), 'ff02::1:ff00:2');
  assert.equal(icmp6Checksum(NS_GOLDEN, 0, 40, 32), 0);
  const v = new Icmp6Packet().reset(NS_GOLDEN, 40, 32);
  assert.ok(v.checked());
  const opts = new NdOpts();
  const ns = parseNdNeighbor(v, opts)!;
  assert.equal(ns.type, ICMP6_TYPE.NEIGHBOR_SOLICIT);
  assert.equal(ip6ToString(ns.target), 'fe80::2');
  assert.equal(ns.lladdr, 0x020000000001);

  const out = new Uint8Array(NS_GOLDEN.length);
  emitIpv6(r, out, 0);
  const n = emitNdNeighbor(ICMP6_TYPE.NEIGHBOR_SOLICIT, 0, ns.target, 0, ns.lladdr!, out, 40);
  assert.equal(n, 32);
  icmp6FillChecksum(out, 0, 40, n);
  assert.deepEqual(out, NS_GOLDEN);
});

test('a corrupted checksum, truncation and bad lengths are refused by name', () => {
  const b = NS_GOLDEN.slice();
  b[60] = b[60]! ^ 1;
  assert.notEqual(icmp6Checksum(b, 0, 40, 32), 0);
  const ip = new Ipv6Packet();
  assert.equal(ip.reset(NS_GOLDEN, 0, 39).check(), 'toosmall');
  assert.equal(ip.reset(NS_GOLDEN, 0, 60).check(), 'tooshort');
  assert.equal(ip.reset(NS_GOLDEN, 40, 100).check(), 'toosmall'); // window past the buffer
  const v4 = NS_GOLDEN.slice();
  v4[0] = 0x45;
  assert.equal(ip.reset(v4, 0, v4.length).check(), 'badvers');
  // An option of length 0 or running past the message makes the message invalid.
  const opts = new NdOpts();
  const z = NS_GOLDEN.slice();
  z[65] = 0;
  assert.equal(opts.parse(z, 64, 72), false);
  const o = NS_GOLDEN.slice();
  o[65] = 2;
  assert.equal(opts.parse(o, 64, 72), false);
  assert.equal(opts.parse(NS_GOLDEN, 64, 72), true);
  assert.equal(parseNdNeighbor(new Icmp6Packet().reset(NS_GOLDEN, 40, 20), opts), undefined);
});

test('ICMPv6 echo checksum matches an independent computation', () => {
  const b = new Uint8Array(40 + 12);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLen: 12, nextHeader: 58, hopLimit: 64, src: a6('2001:db8::1'), dst: a6('2001:db8::2') }, b, 0);
  b.set([128, 0, 0, 0, 0x12, 0x34, 0, 1, 0x61, 0x62, 0x63, 0x64], 40);
  icmp6FillChecksum(b, 0, 40, 12);
  assert.equal((b[42]! << 8) | b[43]!, 0x4d48);
  assert.equal(foldComplement(sum16(b, 40, 12, pseudoHeaderSum6(b, 8, 24, 12, 58))), 0);
  assert.ok(isIcmp6Error(ICMP6_TYPE.PARAM_PROB) && !isIcmp6Error(ICMP6_TYPE.ECHO_REQUEST));
});

test('NA flags, prefix and MTU options round-trip', () => {
  const b = new Uint8Array(128);
  const n = emitNdNeighbor(ICMP6_TYPE.NEIGHBOR_ADVERT, ND_NA_FLAG.SOLICITED | ND_NA_FLAG.OVERRIDE, a6('2001:db8::7'), 0, 0x020000000007 as Mac, b, 0);
  let p = n;
  p += emitNdPrefix({ prefixLen: 64, onLink: true, autonomous: true, validLifetime: 2592000, preferredLifetime: 604800, prefix: a6('2001:db8::') }, b, p);
  p += emitNdMtu(1500, b, p);
  const v = new Icmp6Packet().reset(b, 0, p);
  const opts = new NdOpts();
  const na = parseNdNeighbor(v, opts)!;
  assert.equal(na.flags, ND_NA_FLAG.SOLICITED | ND_NA_FLAG.OVERRIDE);
  assert.equal(na.lladdr, 0x020000000007);
  assert.equal(opts.mtu, 1500);
  assert.equal(opts.nprefix, 1);
  const pi = parseNdPrefix(b, opts.prefixes[0]!);
  assert.equal(pi.prefixLen, 64);
  assert.ok(pi.onLink && pi.autonomous);
  assert.equal(pi.validLifetime, 2592000);
  assert.equal(ip6ToString(pi.prefix), '2001:db8::');
});

/** A packet 2001:db8::1 -> 2001:db8::2 with the given extension headers (raw bytes) and a next header chain. */
function withExt(first: number, ext: number[], dst = '2001:db8::2'): Uint8Array {
  const b = new Uint8Array(IP6_HDR_LEN + ext.length + 8);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLen: ext.length + 8, nextHeader: first, hopLimit: 64, src: a6('2001:db8::1'), dst: a6(dst) }, b, 0);
  b.set(ext, IP6_HDR_LEN);
  return b;
}

test('the extension-header walk: hop-by-hop, destination options, fragment, routing', () => {
  const w = new Ip6ExtWalk();
  // HBH (PadN 4) -> DSTOPTS (Pad1 x6) -> FRAGMENT (offset 0, M) -> ICMPv6
  const ok = withExt(IPPROTO6.HOPOPTS, [60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 58, 0, 0, 1, 0, 0, 0, 9]);
  assert.equal(w.walk(ok, 0, ok.length, false), 'ok');
  assert.equal(w.proto, IPPROTO6.ICMPV6);
  assert.equal(w.hoff, IP6_HDR_LEN + 24);
  assert.equal(w.fragOff, IP6_HDR_LEN + 16);
  assert.ok(w.hbh);
  const fh = new Ip6FragHeader().reset(ok, w.fragOff, 8);
  assert.ok(fh.checked() && fh.moreFrags && fh.fragOffset === 0 && fh.ident === 9);
  const fb = new Uint8Array(8);
  emitIp6Frag({ nextHeader: 58, fragOffset: 0, moreFrags: true, ident: 9 }, fb, 0);
  assert.deepEqual(fb, ok.subarray(IP6_HDR_LEN + 16, IP6_HDR_LEN + 24));

  // Hop-by-hop after another header: parameter problem code 1 at the naming next-header byte.
  const late = withExt(IPPROTO6.DSTOPTS, [0, 0, 1, 4, 0, 0, 0, 0]);
  assert.equal(w.walk(late, 0, late.length, false), 'hbhnotfirst');
  assert.equal(w.pointer, IP6_HDR_LEN);

  // Routing type 0 with segments left: refused, pointer at the type (RFC 5095).
  const rh0 = withExt(IPPROTO6.ROUTING, [58, 2, 0, 1, 0, 0, 0, 0, ...new Array<number>(16).fill(0)]);
  assert.equal(w.walk(rh0, 0, rh0.length, false), 'rthdr0');
  assert.equal(w.pointer, IP6_HDR_LEN + 2);
  // Segments left 0: ignored.
  const rh0done = withExt(IPPROTO6.ROUTING, [58, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(w.walk(rh0done, 0, rh0done.length, false), 'ok');
  assert.equal(w.proto, 58);

  // Unknown options by their action bits (RFC 8200 4.2).
  const opt = (t: number): Uint8Array => withExt(IPPROTO6.DSTOPTS, [58, 0, t, 2, 0, 0, 1, 0]);
  assert.equal(w.walk(opt(0x1e), 0, 56, false), 'ok');
  assert.equal(w.walk(opt(0x5e), 0, 56, false), 'optdiscard');
  assert.equal(w.walk(opt(0x9e), 0, 56, true), 'badoptcode2');
  assert.equal(w.walk(opt(0xde), 0, 56, false), 'badoptcode2');
  assert.equal(w.walk(opt(0xde), 0, 56, true), 'optdiscard');
  assert.equal(w.pointer, IP6_HDR_LEN + 2);

  // An option running past its header, a header past the packet.
  const over = withExt(IPPROTO6.DSTOPTS, [58, 0, 1, 9, 0, 0, 0, 0]);
  assert.equal(w.walk(over, 0, over.length, false), 'badoptions');
  const past = withExt(IPPROTO6.DSTOPTS, [58, 5, 1, 0, 0, 0, 0, 0]);
  assert.equal(w.walk(past, 0, past.length, false), 'tooshort');

  // Unknown next headers are data; a later fragment's payload is not walked.
  const unk = withExt(IPPROTO6.DSTOPTS, [253, 0, 1, 4, 0, 0, 0, 0]);
  assert.equal(w.walk(unk, 0, unk.length, false), 'ok');
  assert.equal(w.proto, 253);
  assert.equal(w.nxtOff, IP6_HDR_LEN);
  const later = withExt(IPPROTO6.FRAGMENT, [0, 0, 0, 0x10, 0, 0, 0, 1]);
  assert.equal(w.walk(later, 0, later.length, false), 'ok');
  assert.equal(w.proto, IPPROTO6.FRAGMENT);
  assert.equal(w.hoff, IP6_HDR_LEN + 8);
});

test('a router looks at hop-by-hop options only', () => {
  const w = new Ip6ExtWalk();
  // An unknown option that asks for a parameter problem in the hop-by-hop header: refused.
  const bad = withExt(IPPROTO6.HOPOPTS, [43, 0, 0x9e, 2, 0, 0, 1, 0, 58, 2, 0, 1, 0, 0, 0, 0, ...new Array<number>(16).fill(0)]);
  assert.equal(w.hopByHop(bad, 0, bad.length, false), 'badoptcode2');
  assert.equal(w.pointer, IP6_HDR_LEN + 2);
  // A routing header with segments left behind good hop-by-hop options: not the router's business.
  const rh = withExt(IPPROTO6.HOPOPTS, [43, 0, 5, 2, 0, 0, 1, 0, 58, 2, 0, 1, 0, 0, 0, 0, ...new Array<number>(16).fill(0)]);
  assert.equal(w.hopByHop(rh, 0, rh.length, false), 'ok');
  assert.equal(w.walk(rh, 0, rh.length, false), 'rthdr0');
  const none = withExt(58, []);
  assert.equal(w.hopByHop(none, 0, none.length, false), 'ok');
});

test('a chain of extension headers longer than the walk follows stops as toomany', () => {
  const ext: number[] = [];
  for (let i = 0; i < 20; i++) ext.push(60, 0, 1, 4, 0, 0, 0, 0);
  const b = withExt(IPPROTO6.DSTOPTS, ext);
  assert.equal(new Ip6ExtWalk().walk(b, 0, b.length, false), 'toomany');
});
