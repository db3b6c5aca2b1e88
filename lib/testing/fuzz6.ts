/**
 * The IPv6 part of the fuzzer: valid IPv6 frames (ICMPv6 echo, ND, errors,
 * extension-header chains, fragments, unknown next headers) mutated by bit
 * flips, truncation and lying lengths, for the codecs and the image input path.
 */

import { writeMac, type Mac } from '../wire/ethernet.js';
import { ICMP6_TYPE, Icmp6Packet, NdOpts, icmp6Checksum, icmp6FillChecksum, parseNdNeighbor } from '../wire/icmp6.js';
import { IP6_HDR_LEN, Ip6ExtWalk, Ipv6Packet, emitIpv6Raw, in6IsMulticast, parseIp6, parseIpv6 } from '../wire/ipv6.js';
import { hostileMeta, type InputTarget, type Rng } from './fuzz.js';
import { in6AddAddress, in6IfUp } from '../netinet6/in6.js';
import { nd6AddStatic } from '../netinet6/nd6.js';
import { VnetHdr } from '../wire/vnet.js';

/** Addresses frames are sent from and to: the target's, its groups, a peer's, strangers. */
export const FUZZ6 = {
  ours: parseIp6('2001:db8:40::1')!,
  peer: parseIp6('2001:db8:40::2')!,
  peerLL: parseIp6('fe80::2')!,
  allNodes: parseIp6('ff02::1')!,
  snOurs: parseIp6('ff02::1:ff00:1')!,
  other: parseIp6('2001:db8:99::9')!,
  mcastOther: parseIp6('ff05::99')!,
  unspec: new Uint8Array(16),
};

const EXT = [0, 43, 44, 60];

/** One IPv6 frame to `dstMac` into buf; returns its length. */
export function ipv6Frame(buf: Uint8Array, rng: Rng, dstMac: Mac, srcMac: Mac, ours: Uint8Array): number {
  const dsts = [ours, FUZZ6.allNodes, FUZZ6.snOurs, FUZZ6.other, FUZZ6.mcastOther, FUZZ6.peer];
  const srcs = [FUZZ6.peer, FUZZ6.peerLL, FUZZ6.unspec, FUZZ6.allNodes, ours];
  const dst = dsts[rng.below(dsts.length)]!;
  const src = srcs[rng.chance(0.8) ? rng.below(2) : rng.below(srcs.length)]!;
  writeMac(buf, 0, in6IsMulticast(dst) ? ((0x333300000000 + dst[15]!) as Mac) : dstMac);
  writeMac(buf, 6, srcMac);
  buf[12] = 0x86;
  buf[13] = 0xdd;
  const ip = 14;
  let p = ip + IP6_HDR_LEN;
  // Some extension headers first.
  let first = 58;
  let nxtAt = -1;
  const next = (v: number): void => {
    if (nxtAt < 0) first = v;
    else buf[nxtAt] = v;
  };
  const nExt = rng.chance(0.3) ? 1 + rng.below(3) : 0;
  for (let i = 0; i < nExt; i++) {
    const t = EXT[rng.below(EXT.length)]!;
    next(t);
    nxtAt = p;
    if (t === 44) {
      buf.fill(0, p, p + 8);
      buf[p + 3] = rng.chance(0.5) ? 0 : rng.below(256);
      buf[p + 7] = rng.below(256);
      p += 8;
      continue;
    }
    const hl = 8 * (1 + rng.below(2));
    buf[p + 1] = hl / 8 - 1;
    for (let j = 2; j < hl; j++) buf[p + j] = rng.chance(0.7) ? 0 : rng.below(256);
    if (t === 43) buf[p + 3] = rng.below(3);
    p += hl;
  }
  const proto = rng.chance(0.85) ? 58 : [6, 17, 59, rng.below(256)][rng.below(4)]!;
  next(proto);
  const ic = p;
  const type = [ICMP6_TYPE.ECHO_REQUEST, ICMP6_TYPE.ECHO_REPLY, ICMP6_TYPE.NEIGHBOR_SOLICIT, ICMP6_TYPE.NEIGHBOR_ADVERT, 1, 2, 3, 4, 133, 134, 137, 130, rng.below(256)][rng.below(13)]!;
  let plen = 8 + rng.below(rng.chance(0.1) ? 1500 : 64);
  for (let i = ic; i < ic + plen; i++) buf[i] = rng.below(256);
  buf[ic] = type;
  buf[ic + 1] = rng.chance(0.9) ? 0 : rng.below(256);
  if (type === ICMP6_TYPE.NEIGHBOR_SOLICIT || type === ICMP6_TYPE.NEIGHBOR_ADVERT) {
    plen = 24 + (rng.chance(0.7) ? 8 : 0);
    buf.set(rng.chance(0.7) ? ours : FUZZ6.peer, ic + 8);
    if (plen > 24) {
      buf[ic + 24] = type === ICMP6_TYPE.NEIGHBOR_SOLICIT ? 1 : 2;
      buf[ic + 25] = rng.chance(0.9) ? 1 : rng.below(3);
      writeMac(buf, ic + 26, srcMac);
    }
    buf[ic + 4] = rng.below(256);
  }
  const total = p - ip - IP6_HDR_LEN + plen;
  emitIpv6Raw(buf, ip, total, first, rng.chance(0.8) ? 255 : rng.below(256), src, 0, dst, 0);
  if (proto === 58 && rng.chance(0.85)) icmp6FillChecksum(buf, ip, ic, plen);
  return 14 + IP6_HDR_LEN + total;
}

/** Feed `n` mutated IPv6 frames (or until deadline) through the codec views; returns how many. */
export function fuzzCodecs6(rng: Rng, n: number, deadline = Infinity): number {
  const ip = new Ipv6Packet();
  const icmp = new Icmp6Packet();
  const walk = new Ip6ExtWalk();
  const opts = new NdOpts();
  const buf = new Uint8Array(2048);
  let i = 0;
  for (; i < n && (i % 256 !== 0 || performance.now() < deadline); i++) {
    let len = ipv6Frame(buf, rng, 0x020000000001 as Mac, 0x020000000002 as Mac, FUZZ6.ours);
    const flips = rng.chance(0.5) ? rng.below(8) : 0;
    for (let k = 0; k < flips; k++) buf[rng.below(len)]! ^= 1 << rng.below(8);
    if (rng.chance(0.15)) len = rng.below(len + 1);
    const off = rng.chance(0.2) ? rng.below(len + 1) : 0;
    const l = rng.chance(0.1) ? len + rng.below(100) : len - off;
    if (ip.reset(buf, off + 14, l - 14).check() !== 'ok') continue;
    parseIpv6(ip);
    const total = IP6_HDR_LEN + ip.payloadLen;
    if (walk.walk(buf, ip.off, total, false) !== 'ok') continue;
    const end = ip.off + total;
    if (icmp.reset(buf, walk.hoff, end - walk.hoff).checked()) {
      icmp6Checksum(buf, ip.off, walk.hoff, end - walk.hoff);
      parseNdNeighbor(icmp, opts);
    }
  }
  return i;
}

/**
 * Feed `n` hostile IPv6 frames (or until deadline) to the target image's two
 * links, a few per clock tick, after giving it IPv6 addresses; returns how many.
 */
export function fuzzInput6(t: InputTarget, rng: Rng, n: number, deadline = Infinity): number {
  const { im, in0, in1 } = t;
  im.sysctl.set('net.inet6.ip6.dad_count', '0');
  if (im.in6.ifs.get(in0) === undefined) {
    in6IfUp(im, in0);
    in6IfUp(im, in1);
    in6AddAddress(im, in0, FUZZ6.ours, 64);
    in6AddAddress(im, in1, parseIp6('2001:db8:41::1')!, 64);
    // Forwarded traffic too: to 2001:db8:99::/48 through a neighbour on in1.
    im.sysctl.set('net.inet6.ip6.forwarding', '1');
    const gw = parseIp6('2001:db8:41::2')!;
    im.route6.add({ dst: parseIp6('2001:db8:99::')!, prefixLen: 48, gateway: gw, ifp: in1, flags: 0 });
    nd6AddStatic(im, in1, gw, 0x020000000200 as Mac);
  }
  const slot = new Uint8Array(2048 + 16);
  const meta = new VnetHdr();
  let i = 0;
  for (; i < n && (i % 256 !== 0 || performance.now() < deadline); i++) {
    slot.fill(0);
    const b = slot.subarray(10);
    let len = ipv6Frame(b, rng, in0.mac, 0x020000000200 as Mac, FUZZ6.ours);
    const flips = rng.chance(0.5) ? rng.below(8) : 0;
    for (let k = 0; k < flips; k++) b[rng.below(len)]! ^= 1 << rng.below(8);
    if (rng.chance(0.15)) len = rng.below(len + 1);
    const ifp = rng.chance(0.8) ? in0 : in1;
    ifp.input(slot, 10, len, hostileMeta(meta, rng));
    if (i % 8 === 0) t.clock.advance(50);
    t.reg.netisr.drain();
  }
  return i;
}
