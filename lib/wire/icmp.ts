/**
 * ICMP for IPv4 (RFC 792): type and code numbers, and a view over the
 * 8-byte header. Unknown types are data, counted by the caller.
 */

import { WireView, put16, put32 } from './bytes.js';
import { internetChecksum } from './checksum.js';

export const ICMP_MINLEN = 8;

export const ICMP_TYPE = {
  ECHO_REPLY: 0,
  UNREACH: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO: 8,
  ROUTER_ADVERT: 9,
  ROUTER_SOLICIT: 10,
  TIME_EXCEEDED: 11,
  PARAM_PROB: 12,
  TIMESTAMP: 13,
  TIMESTAMP_REPLY: 14,
  INFO_REQUEST: 15,
  INFO_REPLY: 16,
  MASK_REQUEST: 17,
  MASK_REPLY: 18,
} as const;

export const ICMP_MAXTYPE = 40;

export const ICMP_UNREACH = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  NEEDFRAG: 4,
  SRCFAIL: 5,
  NET_UNKNOWN: 6,
  HOST_UNKNOWN: 7,
  ISOLATED: 8,
  NET_PROHIB: 9,
  HOST_PROHIB: 10,
  TOSNET: 11,
  TOSHOST: 12,
  FILTER_PROHIB: 13,
  HOST_PRECEDENCE: 14,
  PRECEDENCE_CUTOFF: 15,
} as const;

export const ICMP_TIMXCEED = { INTRANS: 0, REASS: 1 } as const;

/** Error messages (never answered with another error, RFC 1122 3.2.2). */
export function isIcmpError(type: number): boolean {
  return (
    type === ICMP_TYPE.UNREACH ||
    type === ICMP_TYPE.SOURCE_QUENCH ||
    type === ICMP_TYPE.REDIRECT ||
    type === ICMP_TYPE.TIME_EXCEEDED ||
    type === ICMP_TYPE.PARAM_PROB
  );
}

const F = { TYPE: 0, CODE: 1, SUM: 2, ID: 4, SEQ: 6, MTU: 6, PPTR: 4, VOID: 4, RTIME: 12, TTIME: 16, QUOTE: 8 } as const;

/** Length of a timestamp or timestamp reply message (RFC 792). */
export const ICMP_TSLEN = 20;

export class IcmpPacket extends WireView {
  checked(): boolean {
    return this.holds(ICMP_MINLEN);
  }

  get type(): number {
    return this.buf[this.off + F.TYPE]!;
  }
  get code(): number {
    return this.buf[this.off + F.CODE]!;
  }
  get checksum(): number {
    return (this.buf[this.off + F.SUM]! << 8) | this.buf[this.off + F.SUM + 1]!;
  }
  get ident(): number {
    return (this.buf[this.off + F.ID]! << 8) | this.buf[this.off + F.ID + 1]!;
  }
  get seq(): number {
    return (this.buf[this.off + F.SEQ]! << 8) | this.buf[this.off + F.SEQ + 1]!;
  }
  /** Next-hop MTU of a fragmentation-needed message (RFC 1191). */
  get nextHopMtu(): number {
    return (this.buf[this.off + F.MTU]! << 8) | this.buf[this.off + F.MTU + 1]!;
  }
  /** The gateway address of a redirect (RFC 792). */
  get gateway(): number {
    return ((this.buf[this.off + F.VOID]! << 24) | (this.buf[this.off + F.VOID + 1]! << 16) | (this.buf[this.off + F.VOID + 2]! << 8) | this.buf[this.off + F.VOID + 3]!) >>> 0;
  }
  set gateway(v: number) {
    put32(this.buf, this.off + F.VOID, v);
  }
  get payloadOffset(): number {
    return this.off + ICMP_MINLEN;
  }
  /** Where the IP header an error message quotes starts (RFC 792). */
  get quoteOffset(): number {
    return this.off + F.QUOTE;
  }
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.off, this.len) === 0;
  }

  set type(v: number) {
    this.buf[this.off + F.TYPE] = v;
  }
  set code(v: number) {
    this.buf[this.off + F.CODE] = v;
  }
  set checksum(v: number) {
    put16(this.buf, this.off + F.SUM, v);
  }
  /** Receive and transmit timestamps of a timestamp reply (ms since midnight UT). */
  set receiveTime(v: number) {
    put32(this.buf, this.off + F.RTIME, v);
  }
  set transmitTime(v: number) {
    put32(this.buf, this.off + F.TTIME, v);
  }
  /**
   * The second word of an error message: zero, except the pointer of a
   * parameter problem (RFC 792) and the next-hop MTU of a
   * fragmentation-needed message (RFC 1191).
   */
  setErrorWord(pointer: number, mtu: number): void {
    put16(this.buf, this.off + F.VOID, pointer << 8);
    put16(this.buf, this.off + F.MTU, mtu);
  }
  /** Compute and store the checksum over the view's `len` bytes. */
  fillChecksum(): void {
    put16(this.buf, this.off + F.SUM, 0);
    put16(this.buf, this.off + F.SUM, internetChecksum(this.buf, this.off, this.len));
  }
}

export interface IcmpEchoRepr {
  type: number;
  code: number;
  ident: number;
  seq: number;
}

/** Write an echo-style header over `len` bytes (header + data already in place) and its checksum. */
export function emitIcmpEcho(r: IcmpEchoRepr, buf: Uint8Array, off: number, len: number): void {
  buf[off + F.TYPE] = r.type;
  buf[off + F.CODE] = r.code;
  buf[off + F.SUM] = 0;
  buf[off + F.SUM + 1] = 0;
  buf[off + F.ID] = r.ident >>> 8;
  buf[off + F.ID + 1] = r.ident & 0xff;
  buf[off + F.SEQ] = r.seq >>> 8;
  buf[off + F.SEQ + 1] = r.seq & 0xff;
  const s = internetChecksum(buf, off, len);
  buf[off + F.SUM] = s >>> 8;
  buf[off + F.SUM + 1] = s & 0xff;
}
