/**
 * TCP (RFC 9293): a view over the header, and a plain value (`TcpRepr`) with
 * the options this stack speaks: MSS (RFC 9293 3.7.1), window scale and
 * timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018).
 *
 * `TcpPacket.check()` validates the data offset against the bytes given
 * once; after 'ok' no accessor reads out of bounds. `parseTcp` fills a
 * caller-owned repr (no allocation per segment); unknown options are
 * skipped, a malformed option list ends option parsing (RFC 9293 3.2:
 * "a TCP implementation MUST be prepared to handle an illegal option length").
 * `emitTcp` writes header and options in place and returns the header length.
 */

import { WireView, put16, put32, u16, u32 } from './bytes.js';
import { foldComplement, pseudoHeaderSum, sum16 } from './checksum.js';

export const TCP_HDR_LEN = 20;
export const TCP_MAXOLEN = 40;

export const TH = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const TCPOPT = {
  EOL: 0,
  NOP: 1,
  MAXSEG: 2,
  WINDOW: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMP: 8,
} as const;

/** Most SACK blocks one segment carries (3 with timestamps, RFC 2018 section 3). */
export const TCP_MAX_SACK = 4;

const F = { SPORT: 0, DPORT: 2, SEQ: 4, ACK: 8, OFF: 12, FLAGS: 13, WIN: 14, SUM: 16, URP: 18 } as const;

/** Why `TcpPacket.check()` refused a segment; names match `struct tcpstat`. */
export type TcpFault = 'ok' | 'rcvshort' | 'rcvbadoff';

/** A view over a TCP segment; `len` is the IP payload length. */
export class TcpPacket extends WireView {
  check(): TcpFault {
    if (!this.holds(TCP_HDR_LEN)) return 'rcvshort';
    const hl = this.headerLen;
    if (hl < TCP_HDR_LEN || hl > this.len) return 'rcvbadoff';
    return 'ok';
  }

  get srcPort(): number {
    return u16(this.buf, this.off + F.SPORT);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + F.DPORT);
  }
  get seq(): number {
    return u32(this.buf, this.off + F.SEQ);
  }
  get ack(): number {
    return u32(this.buf, this.off + F.ACK);
  }
  get headerLen(): number {
    return (this.buf[this.off + F.OFF]! >>> 4) << 2;
  }
  get flags(): number {
    return this.buf[this.off + F.FLAGS]!;
  }
  get window(): number {
    return u16(this.buf, this.off + F.WIN);
  }
  get checksum(): number {
    return u16(this.buf, this.off + F.SUM);
  }
  get urgent(): number {
    return u16(this.buf, this.off + F.URP);
  }
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  get payloadLength(): number {
    return this.len - this.headerLen;
  }
  verifyChecksum(src: number, dst: number): boolean {
    return foldComplement(sum16(this.buf, this.off, this.len, pseudoHeaderSum(src, dst, 6, this.len))) === 0;
  }

  set seq(v: number) {
    put32(this.buf, this.off + F.SEQ, v);
  }
  set flags(v: number) {
    this.buf[this.off + F.FLAGS] = v;
  }
  set checksum(v: number) {
    put16(this.buf, this.off + F.SUM, v);
  }
  /** Compute and store the checksum over the view's `len` bytes with the pseudo-header. */
  fillChecksum(src: number, dst: number): void {
    put16(this.buf, this.off + F.SUM, 0);
    put16(this.buf, this.off + F.SUM, foldComplement(sum16(this.buf, this.off, this.len, pseudoHeaderSum(src, dst, 6, this.len))));
  }
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The window field as sent (unscaled). */
  window: number;
  urgent: number;
  /** MSS option; 0 when absent. */
  mss: number;
  /** Window scale shift; -1 when absent. */
  wscale: number;
  sackPermitted: boolean;
  tsPresent: boolean;
  tsVal: number;
  tsEcr: number;
  /** Number of SACK blocks in `sack` (left, right pairs). */
  sackCount: number;
  readonly sack: Uint32Array;
}

export function newTcpRepr(): TcpRepr {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    mss: 0,
    wscale: -1,
    sackPermitted: false,
    tsPresent: false,
    tsVal: 0,
    tsEcr: 0,
    sackCount: 0,
    sack: new Uint32Array(TCP_MAX_SACK * 2),
  };
}

/** Point `r` at a new segment: ports, numbers, flags and window, no options and no urgent data. */
export function setTcpRepr(r: TcpRepr, srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window: number): TcpRepr {
  r.srcPort = srcPort;
  r.dstPort = dstPort;
  r.seq = seq;
  r.ack = ack;
  r.flags = flags;
  r.window = window;
  r.urgent = 0;
  r.mss = 0;
  r.wscale = -1;
  r.sackPermitted = false;
  r.tsPresent = false;
  r.sackCount = 0;
  return r;
}

/** Fill `r` from a checked view; returns `r`. */
export function parseTcp(v: TcpPacket, r: TcpRepr): TcpRepr {
  const b = v.buf;
  const o = v.off;
  r.srcPort = v.srcPort;
  r.dstPort = v.dstPort;
  r.seq = v.seq;
  r.ack = v.ack;
  r.flags = v.flags;
  r.window = v.window;
  r.urgent = v.urgent;
  r.mss = 0;
  r.wscale = -1;
  r.sackPermitted = false;
  r.tsPresent = false;
  r.tsVal = 0;
  r.tsEcr = 0;
  r.sackCount = 0;
  const end = o + v.headerLen;
  let i = o + TCP_HDR_LEN;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCPOPT.EOL) break;
    if (kind === TCPOPT.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) break;
    switch (kind) {
      case TCPOPT.MAXSEG:
        if (len === 4) r.mss = u16(b, i + 2);
        break;
      case TCPOPT.WINDOW:
        // RFC 7323 2.3: a shift above 14 is used as 14.
        if (len === 3) r.wscale = Math.min(b[i + 2]!, 14);
        break;
      case TCPOPT.SACK_PERMITTED:
        if (len === 2) r.sackPermitted = true;
        break;
      case TCPOPT.TIMESTAMP:
        if (len === 10) {
          r.tsPresent = true;
          r.tsVal = u32(b, i + 2);
          r.tsEcr = u32(b, i + 6);
        }
        break;
      case TCPOPT.SACK:
        if ((len - 2) % 8 === 0) {
          const n = Math.min((len - 2) >> 3, TCP_MAX_SACK);
          for (let k = 0; k < n; k++) {
            r.sack[k * 2] = u32(b, i + 2 + k * 8);
            r.sack[k * 2 + 1] = u32(b, i + 6 + k * 8);
          }
          r.sackCount = n;
        }
        break;
      default:
        break; // unknown options are skipped by their length
    }
    i += len;
  }
  return r;
}

/** Header length (with options, padded to 4) that `emitTcp` will write for `r`. */
export function tcpHeaderLen(r: TcpRepr): number {
  let n = TCP_HDR_LEN;
  if (r.mss !== 0) n += 4;
  if (r.tsPresent) n += 12; // NOP NOP TS, or SACK-permitted + TS
  else if (r.sackPermitted) n += 4; // NOP NOP SACK-permitted
  if (r.wscale >= 0) n += 4; // NOP WS
  if (r.sackCount > 0) n += 4 + 8 * r.sackCount; // NOP NOP SACK
  return n;
}

/**
 * Write header and options at `off` (checksum zero; see `tcpChecksum`).
 * Option layout as Linux sends it: MSS, SACK-permitted + timestamps, NOP +
 * window scale, NOP NOP + SACK blocks. Returns the header length.
 */
export function emitTcp(r: TcpRepr, buf: Uint8Array, off: number): number {
  const hl = tcpHeaderLen(r);
  put16(buf, off + F.SPORT, r.srcPort);
  put16(buf, off + F.DPORT, r.dstPort);
  put32(buf, off + F.SEQ, r.seq);
  put32(buf, off + F.ACK, r.ack);
  buf[off + F.OFF] = (hl >> 2) << 4;
  buf[off + F.FLAGS] = r.flags;
  put16(buf, off + F.WIN, r.window);
  put16(buf, off + F.SUM, 0);
  put16(buf, off + F.URP, r.urgent);
  let i = off + TCP_HDR_LEN;
  if (r.mss !== 0) {
    buf[i] = TCPOPT.MAXSEG;
    buf[i + 1] = 4;
    put16(buf, i + 2, r.mss);
    i += 4;
  }
  if (r.tsPresent) {
    if (r.sackPermitted) {
      buf[i] = TCPOPT.SACK_PERMITTED;
      buf[i + 1] = 2;
    } else {
      buf[i] = TCPOPT.NOP;
      buf[i + 1] = TCPOPT.NOP;
    }
    buf[i + 2] = TCPOPT.TIMESTAMP;
    buf[i + 3] = 10;
    put32(buf, i + 4, r.tsVal);
    put32(buf, i + 8, r.tsEcr);
    i += 12;
  } else if (r.sackPermitted) {
    buf[i] = TCPOPT.NOP;
    buf[i + 1] = TCPOPT.NOP;
    buf[i + 2] = TCPOPT.SACK_PERMITTED;
    buf[i + 3] = 2;
    i += 4;
  }
  if (r.wscale >= 0) {
    buf[i] = TCPOPT.NOP;
    buf[i + 1] = TCPOPT.WINDOW;
    buf[i + 2] = 3;
    buf[i + 3] = r.wscale;
    i += 4;
  }
  if (r.sackCount > 0) {
    buf[i] = TCPOPT.NOP;
    buf[i + 1] = TCPOPT.NOP;
    buf[i + 2] = TCPOPT.SACK;
    buf[i + 3] = 2 + 8 * r.sackCount;
    for (let k = 0; k < r.sackCount; k++) {
      put32(buf, i + 4 + k * 8, r.sack[k * 2]!);
      put32(buf, i + 8 + k * 8, r.sack[k * 2 + 1]!);
    }
    i += 4 + 8 * r.sackCount;
  }
  return hl;
}

/** Compute and store the checksum of the `len`-byte segment at `off` (RFC 9293 3.1). */
export function tcpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  buf[off + F.SUM] = 0;
  buf[off + F.SUM + 1] = 0;
  const c = foldComplement(sum16(buf, off, len, pseudoHeaderSum(src, dst, 6, len)));
  buf[off + F.SUM] = c >>> 8;
  buf[off + F.SUM + 1] = c & 0xff;
}

/**
 * Partial checksum for offload (VIRTIO_NET_HDR_F_NEEDS_CSUM): the folded,
 * uncomplemented pseudo-header sum stored in the field, as Linux expects.
 */
export function tcpPseudoChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  let s = pseudoHeaderSum(src, dst, 6, len);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  buf[off + F.SUM] = s >>> 8;
  buf[off + F.SUM + 1] = s & 0xff;
}
