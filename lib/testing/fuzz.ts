/**
 * A seeded, repeatable fuzzer for the codecs and the image input path.
 * Frames are random, or valid frames (ARP, ICMP, UDP, TCP, fragments, IP
 * options, forwarded traffic) mutated by bit flips, truncation, field
 * rewrites and random virtio-net metadata, fed to an image as a TAP would.
 * Used by lib/fuzz.test.ts (bounded time in CI) and `npm run fuzz`.
 */

import type { ManualClock } from '../clock.js';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { IFF, type Ifnet, type LinkDriver } from '../net/if.js';
import { arpAddStatic } from '../netinet/if_ether.js';
import { inAddAddress } from '../netinet/in.js';
import { RTF } from '../netinet/route.js';
import { ArpPacket, emitArp, parseArp, ARPOP } from '../wire/arp.js';
import { internetChecksum } from '../wire/checksum.js';
import { EthernetFrame, writeMac, type Mac } from '../wire/ethernet.js';
import { IcmpPacket } from '../wire/icmp.js';
import { Ipv4Packet, emitIpv4, parseIpv4 } from '../wire/ipv4.js';
import { VnetHdr } from '../wire/vnet.js';

/** xorshift32: small, fast, repeatable. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
}

/** A link that drops what it is given (counted), like a TAP nobody reads. */
class SinkDriver implements LinkDriver {
  readonly kind = 'sink';
  readonly headroom = 10;
  frames = 0;
  constructor(readonly offload: boolean) {}
  output(): void {
    this.frames++;
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

const MAC_R0 = 0x020000000100 as Mac;
const MAC_R1 = 0x020000000101 as Mac;
const MAC_PEER = 0x020000000200 as Mac;
const R0 = 0x0a400001; // 10.64.0.1/24 on if0
const R1 = 0x0a410001; // 10.65.0.1/24 on if1
const PEER0 = 0x0a400002;
const PEER1 = 0x0a410002;

export interface InputTarget {
  reg: Registry;
  clock: ManualClock;
  im: Image;
  in0: Ifnet;
  in1: Ifnet;
}

/** Image R routing between two sink links, forwarding on, peers resolved. */
export function inputTarget(): InputTarget {
  const platform = new ManualPlatform({ random: () => 0.25 });
  const clock = platform.clock;
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('F');
  const mk = (name: string, mac: Mac, offload: boolean): Ifnet => {
    const ifp = reg.newIfnet(im, name, 'sink', IFF.BROADCAST | IFF.UP | IFF.RUNNING | IFF.MULTICAST, 1500, mac, new SinkDriver(offload));
    im.ifnets.set(name, ifp);
    return ifp;
  };
  const in0 = mk('sink0', MAC_R0, true);
  const in1 = mk('sink1', MAC_R1, false);
  inAddAddress(im, in0, R0, 24, { alias: false });
  inAddAddress(im, in1, R1, 24, { alias: false });
  arpAddStatic(im, PEER0, MAC_PEER);
  arpAddStatic(im, PEER1, MAC_PEER);
  im.routes.add({ dst: 0x0b000000, prefixLen: 8, gateway: PEER1, ifp: in1, flags: RTF.UP | RTF.GATEWAY | RTF.STATIC, mtu: 0 });
  im.sysctl.set('net.inet.ip.forwarding', '1');
  return { reg, clock, im, in0, in1 };
}

const FRAME_MAX = 9000;

function ipv4Frame(buf: Uint8Array, rng: Rng): number {
  const proto = [1, 6, 17, 2, 47, rng.below(256)][rng.below(6)]!;
  const dst = [R0, R1, PEER1, 0x0b000001, 0x0a4000ff, 0xffffffff, 0xe0000001, 0x7f000001, rng.u32()][rng.below(9)]!;
  const optLen = rng.chance(0.1) ? 4 * (1 + rng.below(10)) : 0;
  const payload = rng.below(rng.chance(0.1) ? 4000 : 200);
  const total = Math.min(FRAME_MAX - 14, 20 + optLen + payload);
  const ip = 14;
  writeMac(buf, 0, rng.chance(0.9) ? MAC_R0 : (0xffffffffffff as Mac));
  writeMac(buf, 6, MAC_PEER);
  buf[12] = 0x08;
  buf[13] = 0x00;
  const frag = rng.chance(0.2) ? (rng.chance(0.5) ? 0x2000 : 0) | rng.below(0x1fff) : rng.chance(0.3) ? 0x4000 : 0;
  emitIpv4({ tos: 0, totalLen: total, ident: rng.below(0x10000), fragField: frag, ttl: rng.below(4) === 0 ? 1 : 64, protocol: proto, src: PEER0, dst }, buf, ip);
  if (optLen > 0) {
    buf.copyWithin(ip + 20 + optLen, ip + 20, ip + 20 + payload);
    buf[ip] = 0x40 | ((20 + optLen) >> 2);
    for (let i = 0; i < optLen; i++) buf[ip + 20 + i] = rng.below(256);
    buf[ip + 10] = 0;
    buf[ip + 11] = 0;
    const s = internetChecksum(buf, ip, 20 + optLen);
    buf[ip + 10] = s >> 8;
    buf[ip + 11] = s & 0xff;
  }
  const hl = (buf[ip]! & 0xf) << 2;
  for (let i = ip + hl; i < ip + total; i++) buf[i] = rng.below(256);
  if (proto === 1 && total >= hl + 8) {
    buf[ip + hl] = [0, 3, 8, 11, 13, rng.below(256)][rng.below(6)]!;
    buf[ip + hl + 2] = 0;
    buf[ip + hl + 3] = 0;
    if (rng.chance(0.8)) {
      const s = internetChecksum(buf, ip + hl, total - hl);
      buf[ip + hl + 2] = s >> 8;
      buf[ip + hl + 3] = s & 0xff;
    }
  }
  return 14 + total;
}

function arpFrame(buf: Uint8Array, rng: Rng): number {
  writeMac(buf, 0, 0xffffffffffff as Mac);
  writeMac(buf, 6, MAC_PEER);
  buf[12] = 0x08;
  buf[13] = 0x06;
  emitArp(
    {
      op: rng.chance(0.5) ? ARPOP.REQUEST : rng.chance(0.9) ? ARPOP.REPLY : rng.below(0x10000),
      senderMac: (0x020000000000 + rng.below(0xffffff)) as Mac,
      // ARP storms: many senders on the subnet, some off it, some claiming our address.
      senderIp: rng.chance(0.05) ? R0 : rng.chance(0.7) ? (0x0a400000 | rng.below(256)) >>> 0 : rng.u32(),
      targetMac: 0 as Mac,
      targetIp: rng.chance(0.7) ? R0 : rng.u32(),
    },
    buf,
    14,
  );
  return 14 + 28 + rng.below(20);
}

/** One hostile frame into `buf`; returns its length. */
export function hostileFrame(buf: Uint8Array, rng: Rng): number {
  let len: number;
  const kind = rng.below(10);
  if (kind === 0) {
    len = rng.below(200);
    for (let i = 0; i < len; i++) buf[i] = rng.below(256);
  } else if (kind <= 2) len = arpFrame(buf, rng);
  else len = ipv4Frame(buf, rng);
  // Mutations.
  const flips = rng.chance(0.5) ? rng.below(8) : 0;
  for (let i = 0; i < flips && len > 0; i++) buf[rng.below(len)]! ^= 1 << rng.below(8);
  if (rng.chance(0.15)) len = rng.below(len + 1);
  if (rng.chance(0.05) && len > 18) {
    buf[16] = rng.below(256); // IP total length
    buf[17] = rng.below(256);
  }
  return len;
}

export function hostileMeta(meta: VnetHdr, rng: Rng): VnetHdr {
  meta.clear();
  if (rng.chance(0.8)) return meta;
  meta.flags = rng.below(4);
  meta.gsoType = [0, 1, 3, 4, 0x81, rng.below(256)][rng.below(6)]!;
  meta.hdrLen = rng.below(200);
  meta.gsoSize = rng.chance(0.5) ? 1448 : rng.below(0x10000);
  meta.csumStart = rng.below(100);
  meta.csumOffset = rng.below(40);
  return meta;
}

/** Feed `n` hostile frames (or until `deadline`), a few per clock tick; returns frames fed. */
export function fuzzInput(t: InputTarget, rng: Rng, n: number, deadline = Infinity): number {
  const slot = new Uint8Array(FRAME_MAX + 16);
  const meta = new VnetHdr();
  let i = 0;
  for (; i < n && (i % 256 !== 0 || performance.now() < deadline); i++) {
    slot.fill(0);
    const len = hostileFrame(slot.subarray(10), rng);
    const ifp = rng.chance(0.8) ? t.in0 : t.in1;
    ifp.input(slot, 10, len, hostileMeta(meta, rng));
    t.reg.netisr.drain();
    if (i % 64 === 63) t.clock.advance(rng.below(1500));
  }
  return i;
}

/** Run every codec view over random and mutated bytes; returns buffers tried. */
export function fuzzCodecs(rng: Rng, n: number, deadline = Infinity): number {
  const eth = new EthernetFrame();
  const arp = new ArpPacket();
  const ip = new Ipv4Packet();
  const icmp = new IcmpPacket();
  const meta = new VnetHdr();
  const buf = new Uint8Array(2048);
  let i = 0;
  for (; i < n && (i % 256 !== 0 || performance.now() < deadline); i++) {
    const len = hostileFrame(buf, rng);
    const off = rng.chance(0.2) ? rng.below(len + 1) : 0;
    const l = rng.chance(0.1) ? len + rng.below(100) : len - off; // lengths that lie
    if (eth.reset(buf, off, l).checked()) void eth.etherType;
    if (arp.reset(buf, off + 14, l - 14).checked()) parseArp(arp);
    if (ip.reset(buf, off + 14, l - 14).check() === 'ok') {
      parseIpv4(ip);
      if (icmp.reset(buf, ip.payloadOffset, ip.totalLen - ip.headerLen).checked()) icmp.verifyChecksum();
    }
    if (len >= 10) meta.read(buf, 0);
  }
  return i;
}
