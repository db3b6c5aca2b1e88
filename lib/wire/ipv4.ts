/**
 * IPv4 (RFC 791). Addresses are uint32 numbers, host order, so routing
 * lookups and comparisons cost an integer operation. `Ipv4Packet.checked()`
 * validates version, header length and total length against the buffer
 * once; after it returns true no accessor reads out of bounds.
 */

import { WireView, put16, put32, u16 } from './bytes.js';
import { checksumAdjust, internetChecksum } from './checksum.js';

export const IP_HDR_LEN = 20;
export const IP_MAXPACKET = 65535;
export const IP_RF = 0x8000;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;
export const INADDR_ANY = 0;
export const INADDR_BROADCAST = 0xffffffff;
export const INADDR_LOOPBACK = 0x7f000001;

export const IPPROTO = {
  ICMP: 1,
  IGMP: 2,
  TCP: 6,
  UDP: 17,
  RAW: 255,
} as const;

export function ip4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Dotted quad to uint32; undefined when malformed. */
export function parseIp4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    v = v * 256 + b;
  }
  return v;
}

/** `A.B.C.D/LEN` (or a bare address, LEN 32); undefined when malformed. */
export function parseCidr(text: string): { addr: number; prefixLen: number } | undefined {
  const slash = text.indexOf('/');
  const addr = parseIp4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  if (slash < 0) return { addr, prefixLen: 32 };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return undefined;
  return { addr, prefixLen };
}

/** Netmask for a prefix length, as uint32. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Prefix length of a contiguous netmask; -1 when the mask has holes. */
export function maskToLen(mask: number): number {
  let len = 0;
  while (len < 32 && ((mask >>> (31 - len)) & 1) === 1) len++;
  return prefixMask(len) === mask >>> 0 ? len : -1;
}

export function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

const F = { VHL: 0, TOS: 1, LEN: 2, ID: 4, OFF: 6, TTL: 8, PROTO: 9, SUM: 10, SRC: 12, DST: 16 } as const;

/** Why `Ipv4Packet.check()` refused a packet; names match `struct ipstat`. */
export type Ipv4Fault = 'ok' | 'toosmall' | 'badvers' | 'badhlen' | 'badsum' | 'badlen' | 'tooshort';

/**
 * A view over an IPv4 packet; `len` is the bytes available for it (a frame's
 * payload, which may carry padding past the total length). Setters write
 * fields in place; none of them touches the header checksum except
 * `fillChecksum`.
 */
export class Ipv4Packet extends WireView {
  /**
   * The checks of FreeBSD's ip_input, in its order: length, version, header
   * length, header checksum, total length against the header and the bytes.
   * With `sum` false the header checksum is not verified (packets this
   * stack built).
   */
  check(sum = true): Ipv4Fault {
    // Field reads are spelled out in the accessors of this class: they sit
    // on the forwarding path, where each helper call costs V8 inlining budget.
    const buf = this.buf;
    const off = this.off;
    const len = this.len;
    if (len < IP_HDR_LEN || off < 0 || off + len > buf.length) return 'toosmall';
    const b = buf[off]!;
    if (b >>> 4 !== 4) return 'badvers';
    const hl = (b & 0xf) << 2;
    if (hl < IP_HDR_LEN || hl > len) return 'badhlen';
    if (sum && internetChecksum(buf, off, hl) !== 0) return 'badsum';
    const total = (buf[off + F.LEN]! << 8) | buf[off + F.LEN + 1]!;
    if (total < hl) return 'badlen';
    if (total > len) return 'tooshort';
    return 'ok';
  }

  checked(): boolean {
    return this.check() === 'ok';
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  get headerLen(): number {
    return (this.buf[this.off]! & 0xf) << 2;
  }
  get tos(): number {
    return this.buf[this.off + F.TOS]!;
  }
  get totalLen(): number {
    const o = this.off + F.LEN;
    return (this.buf[o]! << 8) | this.buf[o + 1]!;
  }
  get ident(): number {
    return u16(this.buf, this.off + F.ID);
  }
  get fragField(): number {
    const o = this.off + F.OFF;
    return (this.buf[o]! << 8) | this.buf[o + 1]!;
  }
  get dontFrag(): boolean {
    return (this.fragField & IP_DF) !== 0;
  }
  get moreFrags(): boolean {
    return (this.fragField & IP_MF) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (this.fragField & IP_OFFMASK) << 3;
  }
  get ttl(): number {
    return this.buf[this.off + F.TTL]!;
  }
  get protocol(): number {
    return this.buf[this.off + F.PROTO]!;
  }
  get checksum(): number {
    const o = this.off + F.SUM;
    return (this.buf[o]! << 8) | this.buf[o + 1]!;
  }
  get src(): number {
    const b = this.buf;
    const o = this.off + F.SRC;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  get dst(): number {
    const b = this.buf;
    const o = this.off + F.DST;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  /**
   * Source and destination as int32 into `out[at]`, `out[at + 1]`: for a
   * hot caller that may not inline the getters (a returned address above
   * 2^30 is boxed; one written to an Int32Array is not).
   */
  addrsInto(out: Int32Array, at: number): void {
    const b = this.buf;
    const o = this.off + F.SRC;
    out[at] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
    out[at + 1] = (b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!;
  }
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }
  /** True for a fragment: more fragments follow, or the offset is not zero. */
  get isFragment(): boolean {
    return (this.fragField & (IP_MF | IP_OFFMASK)) !== 0;
  }

  /** Version 4 and the header length in bytes (a multiple of 4). */
  set headerLen(n: number) {
    this.buf[this.off + F.VHL] = 0x40 | (n >>> 2);
  }
  set tos(v: number) {
    this.buf[this.off + F.TOS] = v;
  }
  set totalLen(v: number) {
    put16(this.buf, this.off + F.LEN, v);
  }
  set ident(v: number) {
    put16(this.buf, this.off + F.ID, v);
  }
  set fragField(v: number) {
    put16(this.buf, this.off + F.OFF, v);
  }
  set ttl(v: number) {
    this.buf[this.off + F.TTL] = v;
  }
  set protocol(v: number) {
    this.buf[this.off + F.PROTO] = v;
  }
  set checksum(v: number) {
    const o = this.off + F.SUM;
    this.buf[o] = v >>> 8;
    this.buf[o + 1] = v & 0xff;
  }
  set src(a: number) {
    put32(this.buf, this.off + F.SRC, a);
  }
  set dst(a: number) {
    put32(this.buf, this.off + F.DST, a);
  }
  /** Set DF. */
  setDontFrag(): void {
    this.buf[this.off + F.OFF] = this.buf[this.off + F.OFF]! | (IP_DF >>> 8);
  }
  /** TTL minus `dec` with the header checksum patched (RFC 1624), as a router forwards. */
  decrementTtl(dec: number): void {
    const b = this.buf;
    const o = this.off;
    const ttl = b[o + F.TTL]!;
    const proto = b[o + F.PROTO]!;
    const s = o + F.SUM;
    const n = checksumAdjust((b[s]! << 8) | b[s + 1]!, (ttl << 8) | proto, ((ttl - dec) << 8) | proto);
    b[o + F.TTL] = ttl - dec;
    b[s] = n >>> 8;
    b[s + 1] = n & 0xff;
  }
  /** Compute and store the header checksum over `headerLen` bytes. */
  fillChecksum(): void {
    put16(this.buf, this.off + F.SUM, 0);
    put16(this.buf, this.off + F.SUM, internetChecksum(this.buf, this.off, this.headerLen));
  }
}

export interface Ipv4Repr {
  tos: number;
  totalLen: number;
  ident: number;
  /** Flags and fragment offset as on the wire (IP_DF | IP_MF | offset/8). */
  fragField: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
}

export function parseIpv4(v: Ipv4Packet): Ipv4Repr {
  return { tos: v.tos, totalLen: v.totalLen, ident: v.ident, fragField: v.fragField, ttl: v.ttl, protocol: v.protocol, src: v.src, dst: v.dst };
}

/** Write a 20-byte header (no options) with its checksum at `off`. */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, off: number): void {
  buf[off + F.VHL] = 0x45;
  buf[off + F.TOS] = r.tos;
  put16(buf, off + F.LEN, r.totalLen);
  put16(buf, off + F.ID, r.ident);
  put16(buf, off + F.OFF, r.fragField);
  buf[off + F.TTL] = r.ttl;
  buf[off + F.PROTO] = r.protocol;
  put16(buf, off + F.SUM, 0);
  put32(buf, off + F.SRC, r.src);
  put32(buf, off + F.DST, r.dst);
  let s = 0;
  for (let i = 0; i < IP_HDR_LEN; i += 2) s += u16(buf, off + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  put16(buf, off + F.SUM, ~s & 0xffff);
}
