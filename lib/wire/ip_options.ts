/**
 * IPv4 options (RFC 791 3.1): a cursor over the options of one header.
 *
 * `reset(buf, off, hlen)` places it on the first option of the header at
 * buf[off] (hlen bytes, already checked by the IPv4 view). `done` is true at
 * the end-of-list option or past the header; `next()` steps over the
 * current option. `length` is 1 for a no-operation option, the option's own
 * length byte otherwise, and 0 when that byte is missing or impossible (less
 * than 2, or running past the header): the caller must stop there, since
 * the rest cannot be walked. The field accessors are for the options with a
 * pointer (record route, timestamp, source routes); offsets they take are
 * from the option's first byte. `pointer` reads 0 when the option is too
 * short to have one; the others (the pointer setter, the timestamp's
 * overflow and flags, words) do not check: call them only after checking
 * `length`, as ip_dooptions does.
 */

import { put32, u32 } from './bytes.js';

export const IPOPT = { EOL: 0, NOP: 1, RR: 7, TS: 68, LSRR: 131, SSRR: 137 } as const;
/** The flag values of a timestamp option (its fourth byte's low nibble). */
export const IPOPT_TS = { TSONLY: 0, TSANDADDR: 1, PRESPEC: 3 } as const;

/** Field offsets within one option. */
const OPT = { KIND: 0, LEN: 1, PTR: 2, OFLW_FLG: 3 } as const;

export class Ipv4Options {
  buf: Uint8Array = new Uint8Array(0);
  /** The header's first byte. */
  off = 0;
  /** One past the header's last byte. */
  end = 0;
  /** The current option's first byte. */
  cp = 0;

  reset(buf: Uint8Array, off: number, hlen: number): this {
    this.buf = buf;
    this.off = off;
    this.end = Math.min(off + hlen, buf.length);
    this.cp = off + 20;
    return this;
  }

  get done(): boolean {
    return this.cp >= this.end || this.buf[this.cp] === IPOPT.EOL;
  }

  get kind(): number {
    return this.buf[this.cp]!;
  }

  get length(): number {
    if (this.kind === IPOPT.NOP) return 1;
    if (this.end - this.cp < 2) return 0;
    const n = this.buf[this.cp + OPT.LEN]!;
    return n < 2 || n > this.end - this.cp ? 0 : n;
  }

  next(): void {
    this.cp += this.length || this.end - this.cp;
  }

  /** Byte `i` of the current option as an offset from the header's start: what an ICMP parameter problem points at (RFC 792). */
  at(i: number): number {
    return this.cp + i - this.off;
  }

  /** The pointer byte (RR, TS, LSRR, SSRR): 1-based offset of the next free slot; 0 when the option has no room for it. */
  get pointer(): number {
    return this.length > OPT.PTR ? this.buf[this.cp + OPT.PTR]! : 0;
  }

  set pointer(v: number) {
    this.buf[this.cp + OPT.PTR] = v;
  }

  /** Timestamp option: the overflow count (high nibble of the fourth byte). */
  get tsOverflow(): number {
    return this.buf[this.cp + OPT.OFLW_FLG]! >> 4;
  }

  set tsOverflow(v: number) {
    const b = this.buf[this.cp + OPT.OFLW_FLG]!;
    this.buf[this.cp + OPT.OFLW_FLG] = ((v & 0xf) << 4) | (b & 0xf);
  }

  /** Timestamp option: the flag (low nibble of the fourth byte). */
  get tsFlags(): number {
    return this.buf[this.cp + OPT.OFLW_FLG]! & 0xf;
  }

  /** A 32-bit field at byte `i` of the current option (the caller checked i + 4 <= length). */
  word(i: number): number {
    return u32(this.buf, this.cp + i);
  }

  setWord(i: number, v: number): void {
    put32(this.buf, this.cp + i, v);
  }

  /**
   * Copy the current option to `w` (at or before it) and step past it, as
   * next() would had nothing moved; returns the position after the copy.
   */
  takeTo(w: number): number {
    const n = this.length;
    this.buf.copyWithin(w, this.cp, this.cp + n);
    this.cp += n;
    return w + n;
  }
}
