/**
 * IPv6 on the A–R–B stack-test topology (no root, no TAP), for the ipfw
 * IPv6 tests: addresses, default routes through R, forwarding on, and
 * packet builders. Imported by tests only.
 *
 *   A 2001:db8:1::2 --(epair0)-- 2001:db8:1::1 R 2001:db8:2::1 --(epair1)-- 2001:db8:2::2 B
 */

import { RTF } from '../netinet/route.js';
import { allocPacket } from '../netinet/ip_var.js';
import { in6AddAddress } from '../netinet6/in6.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import type { Out6Result } from '../netinet6/ip6_var.js';
import type { Image } from '../image.js';
import { icmp6Checksum } from '../wire/icmp6.js';
import { IN6ADDR_ANY, emitIpv6Raw, parseIp6 } from '../wire/ipv6.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { routerTopology, type Topology } from './topology.js';

export const ip6 = (s: string): Uint8Array => {
  const a = parseIp6(s);
  if (a === undefined) throw new Error(`bad address in a test: ${s}`);
  return a;
};

/** The topology with IPv6 addresses (DAD off), default routes and R forwarding IPv6. */
export function bed6(): Topology {
  const t = routerTopology();
  const { a, r, b, reg, clock } = t;
  for (const im of [a, r, b]) im.sysctl.set('net.inet6.ip6.dad_count', '0');
  const a0 = a.ifnets.get('epair0b')!;
  const b1 = b.ifnets.get('epair1b')!;
  in6AddAddress(a, a0, ip6('2001:db8:1::2'), 64);
  in6AddAddress(r, r.ifnets.get('epair0a')!, ip6('2001:db8:1::1'), 64);
  in6AddAddress(r, r.ifnets.get('epair1a')!, ip6('2001:db8:2::1'), 64);
  in6AddAddress(b, b1, ip6('2001:db8:2::2'), 64);
  a.route6.add({ dst: IN6ADDR_ANY, prefixLen: 0, gateway: ip6('2001:db8:1::1'), ifp: a0, flags: RTF.GATEWAY | RTF.STATIC });
  b.route6.add({ dst: IN6ADDR_ANY, prefixLen: 0, gateway: ip6('2001:db8:2::1'), ifp: b1, flags: RTF.GATEWAY | RTF.STATIC });
  r.sysctl.set('net.inet6.ip6.forwarding', '1');
  clock.advance(2000); // link-local addresses finish DAD
  reg.netisr.drain();
  return t;
}

export interface Pkt6Spec {
  src: string;
  dst: string;
  /** Upper-layer protocol: 58 ICMPv6 (echo request by default), 6 TCP, 17 UDP, 59 none. */
  nxt: number;
  sport?: number;
  dport?: number;
  /** TCP flags. */
  flags?: number;
  icmpType?: number;
  flow?: number;
  /** A hop-by-hop options header (PadN) before the upper layer. */
  hbh?: boolean;
  /** An atomic fragment header before the upper layer. */
  frag?: boolean;
  /** Bytes of payload after the upper-layer header. */
  size?: number;
}

/**
 * An IPv6 packet with correct checksums at buf[off] (off leaves the
 * headroom ip6Output needs); returns the buffer, offset and length.
 */
export function pkt6(s: Pkt6Spec): { buf: Uint8Array; off: number; len: number } {
  const ulen = s.nxt === 6 ? 20 : s.nxt === 17 || s.nxt === 58 ? 8 : 0;
  const ext = (s.hbh === true ? 8 : 0) + (s.frag === true ? 8 : 0);
  const plen = ext + ulen + (s.size ?? 0);
  const len = 40 + plen;
  const p = allocPacket(len);
  const b = p.buf;
  const o = p.off;
  const first = s.hbh === true ? 0 : s.frag === true ? 44 : s.nxt;
  emitIpv6Raw(b, o, plen, first, 64, ip6(s.src), 0, ip6(s.dst), 0);
  const flow = s.flow ?? 0;
  b[o + 1] = (flow >>> 16) & 0xf;
  b[o + 2] = (flow >>> 8) & 0xff;
  b[o + 3] = flow & 0xff;
  let h = o + 40;
  if (s.hbh === true) {
    b[h] = s.frag === true ? 44 : s.nxt;
    b[h + 2] = 1; // PadN of 4
    b[h + 3] = 4;
    h += 8;
  }
  if (s.frag === true) {
    b[h] = s.nxt;
    b[h + 7] = 1; // identification; offset 0, no more fragments: atomic
    h += 8;
  }
  const u = h;
  if (s.nxt === 6 || s.nxt === 17) {
    b[u] = (s.sport ?? 0) >> 8;
    b[u + 1] = (s.sport ?? 0) & 0xff;
    b[u + 2] = (s.dport ?? 0) >> 8;
    b[u + 3] = (s.dport ?? 0) & 0xff;
  }
  const ul = o + len - u;
  if (s.nxt === 6) {
    b[u + 12] = 5 << 4;
    b[u + 13] = s.flags ?? 0x02;
    b[u + 14] = 0xff;
    const c = foldComplement(sum16(b, u, ul, pseudoHeaderSum6(b, o + 8, o + 24, ul, 6)));
    b[u + 16] = c >> 8;
    b[u + 17] = c & 0xff;
  } else if (s.nxt === 17) {
    b[u + 4] = ul >> 8;
    b[u + 5] = ul & 0xff;
    const c = foldComplement(sum16(b, u, ul, pseudoHeaderSum6(b, o + 8, o + 24, ul, 17)));
    b[u + 6] = c >> 8;
    b[u + 7] = c & 0xff;
  } else if (s.nxt === 58) {
    b[u] = s.icmpType ?? 128;
    b[u + 4] = 0x12;
    b[u + 5] = 0x34;
    const c = icmp6Checksum(b, o, u, ul);
    b[u + 2] = c >> 8;
    b[u + 3] = c & 0xff;
  }
  return { buf: b, off: o, len };
}

/** Send a packet as `im`'s own output. */
export function send6(im: Image, s: Pkt6Spec): Out6Result {
  const p = pkt6(s);
  return ip6Output(im, p.buf, p.off, p.len, im.noOffload);
}
