/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages and options
 * (RFC 4861 4, 4.6): type and code numbers, a view over the header and the
 * ND bodies, an option walk and emitters. Unknown types and options are
 * data: the view reads them, the caller counts them.
 *
 * The checksum covers the IPv6 pseudo-header (RFC 4443 2.3), so the
 * functions that compute it take the offset of the IPv6 header too.
 */

import { WireView, put16, put32, u16, u32 } from './bytes.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from './checksum.js';
import { IP6_DST_OFF, IP6_SRC_OFF, IPPROTO6, in6Copy } from './ipv6.js';
import { readMac, writeMac, type Mac } from './ethernet.js';

export const ICMP6_HDR_LEN = 8;

export const ICMP6_TYPE = {
  DST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROB: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD_REPORT: 131,
  MLD_DONE: 132,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;

export const ICMP6_DST_UNREACH = { NOROUTE: 0, ADMIN: 1, BEYONDSCOPE: 2, ADDR: 3, NOPORT: 4, POLICY: 5, REJECT: 6 } as const;
export const ICMP6_TIME_EXCEED = { TRANSIT: 0, REASSEMBLY: 1 } as const;
export const ICMP6_PARAMPROB = { HEADER: 0, NEXTHEADER: 1, OPTION: 2 } as const;

/** Error messages have types below 128 (RFC 4443 2.1): never answered with another error. */
export function isIcmp6Error(type: number): boolean {
  return type < 128;
}

/** Neighbor advertisement flags (RFC 4861 4.4), in the byte after the checksum. */
export const ND_NA_FLAG = { ROUTER: 0x80, SOLICITED: 0x40, OVERRIDE: 0x20 } as const;

/** ND option types (RFC 4861 4.6). */
export const ND_OPT = { SOURCE_LINKADDR: 1, TARGET_LINKADDR: 2, PREFIX_INFORMATION: 3, REDIRECTED_HEADER: 4, MTU: 5 } as const;

/** Lengths of the ND messages up to their options. */
export const ND_NS_LEN = 24;
export const ND_NA_LEN = 24;
export const ND_RS_LEN = 8;
export const ND_RA_LEN = 16;
export const ND_REDIRECT_LEN = 40;
/** A link-layer address option for Ethernet: 8 bytes. */
export const ND_OPT_LLA_LEN = 8;
export const ND_OPT_PI_LEN = 32;
export const ND_OPT_MTU_LEN = 8;

const F = { TYPE: 0, CODE: 1, SUM: 2, WORD: 4, ID: 4, SEQ: 6, TARGET: 8 } as const;

/** The ICMPv6 checksum of the message at buf[off, off+len) in the packet whose IPv6 header is at buf[ip6]: 0 when valid. */
export function icmp6Checksum(buf: Uint8Array, ip6: number, off: number, len: number): number {
  return foldComplement(sum16(buf, off, len, pseudoHeaderSum6(buf, ip6 + IP6_SRC_OFF, ip6 + IP6_DST_OFF, len, IPPROTO6.ICMPV6)));
}

/** Compute and store the checksum of the message at buf[off, off+len). */
export function icmp6FillChecksum(buf: Uint8Array, ip6: number, off: number, len: number): void {
  put16(buf, off + F.SUM, 0);
  put16(buf, off + F.SUM, icmp6Checksum(buf, ip6, off, len));
}

/** A view over an ICMPv6 message (header plus the ND bodies' fixed fields). */
export class Icmp6Packet extends WireView {
  /** The 4-byte header is there (RFC 4443 2.1; FreeBSD counts icp6s_tooshort below 8). */
  checked(): boolean {
    return this.holds(ICMP6_HDR_LEN);
  }

  get type(): number {
    return this.buf[this.off + F.TYPE]!;
  }
  get code(): number {
    return this.buf[this.off + F.CODE]!;
  }
  get checksum(): number {
    return u16(this.buf, this.off + F.SUM);
  }
  get ident(): number {
    return u16(this.buf, this.off + F.ID);
  }
  get seq(): number {
    return u16(this.buf, this.off + F.SEQ);
  }
  /** The MTU of a packet too big, the pointer of a parameter problem (RFC 4443 3.2, 3.4). */
  get word(): number {
    return u32(this.buf, this.off + F.WORD);
  }
  /** Neighbor advertisement flags (R, S, O). */
  get naFlags(): number {
    return this.buf[this.off + F.WORD]! & 0xe0;
  }
  /** Offset of the target address of an NS, NA or redirect. */
  get targetOff(): number {
    return this.off + F.TARGET;
  }
  /** Where the invoking packet an error quotes starts. */
  get quoteOffset(): number {
    return this.off + ICMP6_HDR_LEN;
  }

  set type(v: number) {
    this.buf[this.off + F.TYPE] = v;
  }
  set code(v: number) {
    this.buf[this.off + F.CODE] = v;
  }
  set word(v: number) {
    put32(this.buf, this.off + F.WORD, v);
  }
}

/**
 * The options of one ND message, reused per message. After `parse`, the
 * link-layer address options are in `slla`/`tlla` (-1 when absent), the
 * MTU option in `mtu` (-1), and prefix information options at `prefixes`
 * (offsets of the option, `nprefix` of them).
 */
export class NdOpts {
  slla = -1;
  tlla = -1;
  mtu = -1;
  readonly prefixes = new Int32Array(8);
  nprefix = 0;
  /** Options seen past the ones kept (FreeBSD's nd6_maxndopt and icp6s_nd_toomanyopt). */
  dropped = 0;

  /**
   * Walk options at buf[off, end). False when one has length 0 or runs past
   * the message (RFC 4861 7.1.1, 7.1.2: the message is invalid). A
   * link-layer address option that is not 8 bytes (not Ethernet) is
   * ignored; the first of each kind wins, as FreeBSD's nd6_options keeps it.
   */
  parse(buf: Uint8Array, off: number, end: number): boolean {
    this.slla = -1;
    this.tlla = -1;
    this.mtu = -1;
    this.nprefix = 0;
    this.dropped = 0;
    for (let p = off; p < end; ) {
      if (p + 2 > end) return false;
      const olen = buf[p + 1]! << 3;
      if (olen === 0 || p + olen > end) return false;
      switch (buf[p]!) {
        case ND_OPT.SOURCE_LINKADDR:
          if (olen === ND_OPT_LLA_LEN && this.slla < 0) this.slla = readMac(buf, p + 2);
          break;
        case ND_OPT.TARGET_LINKADDR:
          if (olen === ND_OPT_LLA_LEN && this.tlla < 0) this.tlla = readMac(buf, p + 2);
          break;
        case ND_OPT.MTU:
          if (olen === ND_OPT_MTU_LEN && this.mtu < 0) this.mtu = u32(buf, p + 4);
          break;
        case ND_OPT.PREFIX_INFORMATION:
          if (olen === ND_OPT_PI_LEN) {
            if (this.nprefix < this.prefixes.length) this.prefixes[this.nprefix++] = p;
            else this.dropped++;
          }
          break;
        default:
          break; // unknown options are skipped (RFC 4861 4.6)
      }
      p += olen;
    }
    return true;
  }
}

/** A prefix information option (RFC 4861 4.6.2) as plain data. */
export interface NdPrefixRepr {
  prefixLen: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
  prefix: Uint8Array;
}

export function parseNdPrefix(buf: Uint8Array, p: number): NdPrefixRepr {
  return {
    prefixLen: buf[p + 2]!,
    onLink: (buf[p + 3]! & 0x80) !== 0,
    autonomous: (buf[p + 3]! & 0x40) !== 0,
    validLifetime: u32(buf, p + 4),
    preferredLifetime: u32(buf, p + 8),
    prefix: buf.slice(p + 16, p + 32),
  };
}

export function emitNdPrefix(r: NdPrefixRepr, buf: Uint8Array, p: number): number {
  buf[p] = ND_OPT.PREFIX_INFORMATION;
  buf[p + 1] = ND_OPT_PI_LEN >> 3;
  buf[p + 2] = r.prefixLen;
  buf[p + 3] = (r.onLink ? 0x80 : 0) | (r.autonomous ? 0x40 : 0);
  put32(buf, p + 4, r.validLifetime);
  put32(buf, p + 8, r.preferredLifetime);
  put32(buf, p + 12, 0);
  in6Copy(buf, p + 16, r.prefix, 0);
  return ND_OPT_PI_LEN;
}

/** Write a link-layer address option (source or target) at buf[p]; returns its length. */
export function emitNdLla(type: number, mac: Mac, buf: Uint8Array, p: number): number {
  buf[p] = type;
  buf[p + 1] = 1;
  writeMac(buf, p + 2, mac);
  return ND_OPT_LLA_LEN;
}

export function emitNdMtu(mtu: number, buf: Uint8Array, p: number): number {
  buf[p] = ND_OPT.MTU;
  buf[p + 1] = 1;
  put16(buf, p + 2, 0);
  put32(buf, p + 4, mtu);
  return ND_OPT_MTU_LEN;
}

/** A neighbor solicitation or advertisement as plain data. */
export interface NdNeighborRepr {
  type: typeof ICMP6_TYPE.NEIGHBOR_SOLICIT | typeof ICMP6_TYPE.NEIGHBOR_ADVERT;
  /** NA flags (ND_NA_FLAG); 0 for a solicitation. */
  flags: number;
  target: Uint8Array;
  /** The source (NS) or target (NA) link-layer address option, when there is one. */
  lladdr?: Mac;
}

/**
 * Write an NS or NA (without checksum) at buf[off]; returns its length.
 * `ta` at target[to] is the target address.
 */
export function emitNdNeighbor(type: number, flags: number, target: Uint8Array, to: number, lladdr: Mac | -1, buf: Uint8Array, off: number): number {
  buf[off + F.TYPE] = type;
  buf[off + F.CODE] = 0;
  put16(buf, off + F.SUM, 0);
  put32(buf, off + F.WORD, type === ICMP6_TYPE.NEIGHBOR_ADVERT ? (flags & 0xe0) << 24 : 0);
  in6Copy(buf, off + F.TARGET, target, to);
  let len = ND_NS_LEN;
  if (lladdr !== -1) len += emitNdLla(type === ICMP6_TYPE.NEIGHBOR_SOLICIT ? ND_OPT.SOURCE_LINKADDR : ND_OPT.TARGET_LINKADDR, lladdr, buf, off + len);
  return len;
}

export function parseNdNeighbor(v: Icmp6Packet, opts: NdOpts): NdNeighborRepr | undefined {
  const t = v.type;
  if ((t !== ICMP6_TYPE.NEIGHBOR_SOLICIT && t !== ICMP6_TYPE.NEIGHBOR_ADVERT) || v.len < ND_NS_LEN) return undefined;
  if (!opts.parse(v.buf, v.off + ND_NS_LEN, v.off + v.len)) return undefined;
  const ll = t === ICMP6_TYPE.NEIGHBOR_SOLICIT ? opts.slla : opts.tlla;
  return { type: t, flags: t === ICMP6_TYPE.NEIGHBOR_ADVERT ? v.naFlags : 0, target: v.buf.slice(v.targetOff, v.targetOff + 16), ...(ll >= 0 ? { lladdr: ll as Mac } : {}) };
}

/** Write an echo request or reply header (data already in place after it), without checksum. */
export function emitIcmp6Echo(type: number, ident: number, seq: number, buf: Uint8Array, off: number): void {
  buf[off + F.TYPE] = type;
  buf[off + F.CODE] = 0;
  put16(buf, off + F.SUM, 0);
  put16(buf, off + F.ID, ident);
  put16(buf, off + F.SEQ, seq);
}
