/**
 * IPv6 (RFC 8200): the fixed header, addresses and the extension-header walk.
 *
 * An address is 16 bytes. Stored addresses are `In6Addr` (a Uint8Array of
 * 16); addresses inside packets are read where they lie, as (buffer, offset)
 * pairs, so the packet path compares and looks them up without copying.
 *
 * `Ipv6Packet.check()` validates length, version and payload length once;
 * after it returns 'ok' no accessor reads out of bounds. `Ip6ExtWalk` walks
 * the extension headers of a checked packet and never throws: a malformed
 * header is a fault the caller counts (ip6stat) and may answer with an
 * ICMPv6 parameter problem at `pointer`. Unknown next headers are data: the
 * walk stops at the first header it does not know and reports its number.
 */

import { WireView, put16, put32, u16, u32 } from './bytes.js';
import { in6Copy, in6From, type In6Addr } from './ipv6_addr.js';

export * from './ipv6_addr.js';

export const IP6_HDR_LEN = 40;
/** The minimum link MTU (RFC 8200 5). */
export const IPV6_MMTU = 1280;
export const IPV6_VERSION = 6;

/** Next-header values (IANA protocol numbers) the walk and the stack know. */
export const IPPROTO6 = {
  HOPOPTS: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

const F = { VTF: 0, PLEN: 4, NXT: 6, HLIM: 7, SRC: 8, DST: 24 } as const;
export const IP6_SRC_OFF = F.SRC;
export const IP6_DST_OFF = F.DST;
/** Offset of the next-header field in the fixed header (parameter problem pointers). */
export const IP6_NXT_OFF = F.NXT;

// ---------------------------------------------------------------------------
// The fixed header.

/** Why `Ipv6Packet.check()` refused a packet; names match FreeBSD's `struct ip6stat`. */
export type Ipv6Fault = 'ok' | 'toosmall' | 'badvers' | 'tooshort';

/**
 * A view over an IPv6 packet; `len` is the bytes available (a frame's
 * payload, maybe padded past the payload length).
 */
export class Ipv6Packet extends WireView {
  /** FreeBSD's ip6_input checks, in its order: header length, version, payload length against the bytes. */
  check(): Ipv6Fault {
    const buf = this.buf;
    const off = this.off;
    if (this.len < IP6_HDR_LEN || off < 0 || off + this.len > buf.length) return 'toosmall';
    if (buf[off]! >>> 4 !== IPV6_VERSION) return 'badvers';
    if (IP6_HDR_LEN + u16(buf, off + F.PLEN) > this.len) return 'tooshort';
    return 'ok';
  }

  checked(): boolean {
    return this.check() === 'ok';
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  get trafficClass(): number {
    return (u16(this.buf, this.off) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return u32(this.buf, this.off) & 0xfffff;
  }
  get payloadLen(): number {
    return u16(this.buf, this.off + F.PLEN);
  }
  get nextHeader(): number {
    return this.buf[this.off + F.NXT]!;
  }
  get hopLimit(): number {
    return this.buf[this.off + F.HLIM]!;
  }
  /** Offset in `buf` of the source address. */
  get srcOff(): number {
    return this.off + F.SRC;
  }
  get dstOff(): number {
    return this.off + F.DST;
  }
  get payloadOffset(): number {
    return this.off + IP6_HDR_LEN;
  }

  set payloadLen(v: number) {
    put16(this.buf, this.off + F.PLEN, v);
  }
  set nextHeader(v: number) {
    this.buf[this.off + F.NXT] = v;
  }
  set hopLimit(v: number) {
    this.buf[this.off + F.HLIM] = v;
  }
  setSrc(a: Uint8Array, ao: number): void {
    in6Copy(this.buf, this.off + F.SRC, a, ao);
  }
  setDst(a: Uint8Array, ao: number): void {
    in6Copy(this.buf, this.off + F.DST, a, ao);
  }
}

export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  src: In6Addr;
  dst: In6Addr;
}

export function parseIpv6(v: Ipv6Packet): Ipv6Repr {
  return {
    trafficClass: v.trafficClass,
    flowLabel: v.flowLabel,
    payloadLen: v.payloadLen,
    nextHeader: v.nextHeader,
    hopLimit: v.hopLimit,
    src: in6From(v.buf, v.srcOff),
    dst: in6From(v.buf, v.dstOff),
  };
}

/** Write the 40-byte fixed header at buf[off]. */
export function emitIpv6(r: Ipv6Repr, buf: Uint8Array, off: number): void {
  put32(buf, off, ((IPV6_VERSION << 28) | ((r.trafficClass & 0xff) << 20) | (r.flowLabel & 0xfffff)) >>> 0);
  put16(buf, off + F.PLEN, r.payloadLen);
  buf[off + F.NXT] = r.nextHeader;
  buf[off + F.HLIM] = r.hopLimit;
  in6Copy(buf, off + F.SRC, r.src, 0);
  in6Copy(buf, off + F.DST, r.dst, 0);
}

/** Write a fixed header from addresses that lie in buffers (the packet path: no Repr). */
export function emitIpv6Raw(buf: Uint8Array, off: number, plen: number, nxt: number, hlim: number, src: Uint8Array, so: number, dst: Uint8Array, dso: number): void {
  put32(buf, off, 0x60000000);
  put16(buf, off + F.PLEN, plen);
  buf[off + F.NXT] = nxt;
  buf[off + F.HLIM] = hlim;
  in6Copy(buf, off + F.SRC, src, so);
  in6Copy(buf, off + F.DST, dst, dso);
}

// ---------------------------------------------------------------------------
// Extension headers.

/** Fragment header fields (RFC 8200 4.5). */
export const IP6F_OFF_MASK = 0xfff8;
export const IP6F_MORE_FRAG = 0x0001;
export const IP6_FRAG_LEN = 8;

/** Why a walk stopped short; names match ip6stat / icmp6 parameter-problem codes. */
export type Ip6ExtFault =
  | 'ok'
  /** A header runs past the packet. */
  | 'tooshort'
  /** Hop-by-hop options anywhere but first (RFC 8200 4.1): parameter problem code 1. */
  | 'hbhnotfirst'
  /** A bad option or header field: parameter problem code 0 at `pointer`. */
  | 'badoptions'
  /** An unknown option whose action says "discard and send a parameter problem code 2" (RFC 8200 4.2). */
  | 'badoptcode2'
  /** An unknown option whose action says discard silently. */
  | 'optdiscard'
  /** A routing header of type 0 with segments left (RFC 5095): parameter problem code 0 at its type. */
  | 'rthdr0'
  /** More extension headers than the walk follows. */
  | 'toomany';

/** Most extension headers one walk follows (FreeBSD counts ip6s_toomanyhdr past 50). */
const MAX_EXT = 16;

/**
 * The extension-header walk of one packet, reused per packet. After
 * `walk`, `proto` is the upper-layer next-header value and `hoff` where that
 * header starts; `fragOff` is the offset of a fragment header (-1 if none).
 * `nxtOff` is where the byte naming `proto` lies (a parameter-problem
 * pointer for an unknown next header).
 */
export class Ip6ExtWalk {
  proto = 0;
  hoff = 0;
  nxtOff = 0;
  fragOff = -1;
  /** Byte offset from the start of the IPv6 header of the offending field, for a parameter problem. */
  pointer = 0;
  /** Hop-by-hop options were present (and passed). */
  hbh = false;

  /**
   * Walk the headers of the packet at buf[off, off+len) (len: 40 + payload
   * length). Stops at the first header that is not hop-by-hop, destination
   * options, routing or fragment, or at a non-first fragment's payload.
   * A routing header with segments left is returned to the caller (`proto`
   * ROUTING) unless it is type 0: a host processes no other type either
   * (RFC 8200 4.4: unknown type with segments left is a parameter problem).
   */
  walk(buf: Uint8Array, off: number, len: number, dstMulticast: boolean): Ip6ExtFault {
    const end = off + len;
    let nxt = buf[off + F.NXT]!;
    let nxtOff = off + F.NXT;
    let p = off + IP6_HDR_LEN;
    this.fragOff = -1;
    this.hbh = false;
    for (let n = 0; ; n++) {
      this.proto = nxt;
      this.hoff = p;
      this.nxtOff = nxtOff;
      if (n > MAX_EXT) return 'toomany';
      switch (nxt) {
        case IPPROTO6.HOPOPTS:
        case IPPROTO6.DSTOPTS: {
          if (nxt === IPPROTO6.HOPOPTS && n !== 0) {
            this.pointer = nxtOff - off;
            return 'hbhnotfirst';
          }
          if (p + 2 > end) return 'tooshort';
          const hl = (buf[p + 1]! + 1) << 3;
          if (p + hl > end) return 'tooshort';
          const f = this.options(buf, off, p, hl, dstMulticast);
          if (f !== 'ok') return f;
          if (nxt === IPPROTO6.HOPOPTS) this.hbh = true;
          nxtOff = p;
          nxt = buf[p]!;
          p += hl;
          break;
        }
        case IPPROTO6.ROUTING: {
          if (p + 4 > end) return 'tooshort';
          const hl = (buf[p + 1]! + 1) << 3;
          if (p + hl > end) return 'tooshort';
          const type = buf[p + 2]!;
          const segLeft = buf[p + 3]!;
          if (segLeft !== 0) {
            // RFC 5095 3 (type 0) and RFC 8200 4.4 (any type we do not process): point at the type.
            this.pointer = p + 2 - off;
            return type === 0 ? 'rthdr0' : 'badoptions';
          }
          // Segments left 0: ignore the header and go on (RFC 8200 4.4).
          nxtOff = p;
          nxt = buf[p]!;
          p += hl;
          break;
        }
        case IPPROTO6.FRAGMENT: {
          if (p + IP6_FRAG_LEN > end) return 'tooshort';
          this.fragOff = p;
          if ((u16(buf, p + 2) & IP6F_OFF_MASK) !== 0) {
            // A later fragment: what follows is data, not headers.
            this.hoff = p + IP6_FRAG_LEN;
            return 'ok';
          }
          nxtOff = p;
          nxt = buf[p]!;
          p += IP6_FRAG_LEN;
          break;
        }
        default:
          return 'ok';
      }
    }
  }

  /**
   * Only the hop-by-hop options header, which every node on the path
   * examines (RFC 8200 4.3): what a router checks before forwarding. 'ok'
   * when the packet has none.
   */
  hopByHop(buf: Uint8Array, off: number, len: number, dstMulticast: boolean): Ip6ExtFault {
    if (buf[off + F.NXT] !== IPPROTO6.HOPOPTS) return 'ok';
    const p = off + IP6_HDR_LEN;
    const end = off + len;
    if (p + 2 > end) return 'tooshort';
    const hl = (buf[p + 1]! + 1) << 3;
    if (p + hl > end) return 'tooshort';
    return this.options(buf, off, p, hl, dstMulticast);
  }

  /** The TLV options of a hop-by-hop or destination options header at buf[h, h+hl). */
  private options(buf: Uint8Array, off: number, h: number, hl: number, dstMulticast: boolean): Ip6ExtFault {
    const end = h + hl;
    for (let i = h + 2; i < end; ) {
      const t = buf[i]!;
      if (t === 0) {
        i++; // Pad1
        continue;
      }
      if (i + 2 > end) {
        this.pointer = i - off;
        return 'badoptions';
      }
      const ol = buf[i + 1]! + 2;
      if (i + ol > end) {
        this.pointer = i + 1 - off;
        return 'badoptions';
      }
      // PadN (1), router alert (5) and jumbo (0xc2, never valid here: no jumbograms) are the ones known.
      if (t !== 1 && t !== 5) {
        // RFC 8200 4.2: the two high bits of an unknown option's type say what to do.
        this.pointer = i - off;
        switch (t >>> 6) {
          case 0:
            break;
          case 1:
            return 'optdiscard';
          case 2:
            return 'badoptcode2';
          default:
            return dstMulticast ? 'optdiscard' : 'badoptcode2';
        }
      }
      i += ol;
    }
    return 'ok';
  }
}

/** A view over a fragment header (8 bytes). */
export class Ip6FragHeader extends WireView {
  checked(): boolean {
    return this.holds(IP6_FRAG_LEN);
  }
  get nextHeader(): number {
    return this.buf[this.off]!;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return u16(this.buf, this.off + 2) & IP6F_OFF_MASK;
  }
  get moreFrags(): boolean {
    return (u16(this.buf, this.off + 2) & IP6F_MORE_FRAG) !== 0;
  }
  get ident(): number {
    return u32(this.buf, this.off + 4);
  }
}

export interface Ip6FragRepr {
  nextHeader: number;
  fragOffset: number;
  moreFrags: boolean;
  ident: number;
}

export function emitIp6Frag(r: Ip6FragRepr, buf: Uint8Array, off: number): void {
  buf[off] = r.nextHeader;
  buf[off + 1] = 0;
  put16(buf, off + 2, (r.fragOffset & IP6F_OFF_MASK) | (r.moreFrags ? IP6F_MORE_FRAG : 0));
  put32(buf, off + 4, r.ident);
}
