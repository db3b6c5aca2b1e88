/**
 * Shared by the ipfw and dummynet stack tests: three images on epairs with a
 * manual clock, packets built by hand, and a sniffer on delivery.
 *
 *   A 10.1.0.2 --(epair0)-- 10.1.0.1 R 10.2.0.1 --(epair1)-- 10.2.0.2 B
 */

import type { ManualClock } from '../clock.js';
import type { Registry, Image } from '../image.js';
import { allocPacket, buildIpHeader, ipOutputLocal, readU32 } from '../netinet/ip_output.js';
import { rawAttach } from '../netinet/raw_ip.js';
import { internetChecksum } from '../wire/checksum.js';
import { parseRule } from '../ipfw/parse.js';
import type { Rule } from '../ipfw/rule.js';
import { ip, routerTopology } from './topology.js';

export { ip };

/** A small seeded PRNG (mulberry32), for reproducible plr tests. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Bed {
  reg: Registry;
  clock: ManualClock;
  a: Image;
  r: Image;
  b: Image;
}

export function testbed(random: () => number = () => 0.5): Bed {
  const { reg, clock, a, r, b } = routerTopology({ random });
  // Resolve ARP everywhere before the firewall goes on.
  for (const [from, to] of [
    [a, '10.2.0.2'],
    [b, '10.1.0.2'],
  ] as const) {
    send(reg, from, { proto: 1, dst: to, icmpType: 8 });
    clock.advance(10);
    reg.netisr.drain();
  }
  return { reg, clock, a, r, b };
}

/** Parse and add rules (one per line) to an image's chain. */
export function rules(im: Image, ...lines: string[]): Rule[] {
  return lines.map((l) => im.fw.add(parseRule(l.split(/\s+/).filter((w) => w !== ''))));
}

export interface PacketSpec {
  proto: number;
  dst: string;
  sport?: number;
  dport?: number;
  /** TCP flags byte. */
  flags?: number;
  icmpType?: number;
  /** Payload bytes after the transport header. */
  size?: number;
  ttl?: number;
  /** The TOS byte (DSCP and ECN). */
  tos?: number;
}

/** Build a packet in `im` and send it with ipOutputLocal; the netisr is drained. */
export function send(reg: Registry, im: Image, s: PacketSpec): void {
  const size = s.size ?? 0;
  const l4 = s.proto === 6 ? 20 : 8;
  const total = 20 + l4 + size;
  const p = allocPacket(total);
  const b = p.buf;
  const t = p.off + 20;
  const dst = ip(s.dst);
  if (s.proto === 1) {
    b[t] = s.icmpType ?? 8;
    b[t + 4] = 0x12;
    const c = internetChecksum(b, t, l4 + size);
    b[t + 2] = c >> 8;
    b[t + 3] = c & 0xff;
  } else {
    b[t] = (s.sport ?? 1234) >> 8;
    b[t + 1] = (s.sport ?? 1234) & 0xff;
    b[t + 2] = (s.dport ?? 80) >> 8;
    b[t + 3] = (s.dport ?? 80) & 0xff;
    if (s.proto === 6) {
      b[t + 12] = 5 << 4;
      b[t + 13] = s.flags ?? 0x02;
    } else if (s.proto === 17) {
      b[t + 4] = (l4 + size) >> 8;
      b[t + 5] = (l4 + size) & 0xff;
    }
  }
  buildIpHeader(im, b, p.off, total, s.proto, 0, dst, s.ttl);
  if (s.tos !== undefined) b[p.off + 1] = s.tos; // ip output fills the source and the checksum
  // UDP goes without a checksum (0); TCP checksums are not checked on the way to a raw sniffer.
  ipOutputLocal(im, b, p.off, total, im.noOffload);
  reg.netisr.drain();
}

export interface Seen {
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  type: number;
  code: number;
  flags: number;
  /** The TOS byte as it arrived. */
  tos: number;
  at: number;
}

/** Record packets of `proto` delivered to `im`; returns the list and a detach function. */
export function sniff(im: Image, proto: number): { seen: Seen[]; stop: () => void } {
  const seen: Seen[] = [];
  const stop = rawAttach(im, {
    proto,
    input(buf, off) {
      const hl = (buf[off]! & 0xf) << 2;
      const t = off + hl;
      seen.push({
        proto,
        src: readU32(buf, off + 12),
        dst: readU32(buf, off + 16),
        sport: (buf[t]! << 8) | buf[t + 1]!,
        dport: (buf[t + 2]! << 8) | buf[t + 3]!,
        type: buf[t]!,
        code: buf[t + 1]!,
        flags: buf[t + 13]!,
        tos: buf[off + 1]!,
        at: im.clock.now(),
      });
    },
  });
  return { seen, stop };
}

/** Let the netisr and `ms` of manual time run. */
export function settle(bed: Bed, ms = 0): void {
  bed.reg.netisr.drain();
  if (ms > 0) bed.clock.advance(ms);
  bed.reg.netisr.drain();
}
