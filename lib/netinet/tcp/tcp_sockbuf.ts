/**
 * TCP's socket buffers: the send buffer (bytes from SND.UNA on, kept until
 * acknowledged so they can be retransmitted) and the receive side (bytes in
 * order waiting for the application, plus the reassembly queue of segments
 * that arrived ahead of RCV.NXT).
 *
 * The send buffer keeps references to the caller's chunks (the socket layer
 * hands over buffers it will not modify); the receive side copies out of the
 * packet buffer, which is reused as soon as input returns.
 */

import { seqAdd, seqGt, seqGeq, seqLeq, seqLt, seqSub, type Seq } from './tcp_seq.js';

export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already acknowledged. */
  private skip = 0;
  /** Bytes held (from SND.UNA). */
  length = 0;

  append(b: Uint8Array): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Drop `n` acknowledged bytes from the front. */
  drop(n: number): void {
    if (n >= this.length) {
      this.chunks = [];
      this.skip = 0;
      this.length = 0;
      return;
    }
    this.length -= n;
    n += this.skip;
    let i = 0;
    while (i < this.chunks.length && n >= this.chunks[i]!.length) {
      n -= this.chunks[i]!.length;
      i++;
    }
    if (i > 0) this.chunks.splice(0, i);
    this.skip = n;
  }

  /** Copy `len` bytes starting `off` bytes after SND.UNA into dst[at...]. */
  copyOut(off: number, len: number, dst: Uint8Array, at: number): void {
    off += this.skip;
    let i = 0;
    while (i < this.chunks.length && off >= this.chunks[i]!.length) {
      off -= this.chunks[i]!.length;
      i++;
    }
    while (len > 0 && i < this.chunks.length) {
      const c = this.chunks[i]!;
      const n = Math.min(len, c.length - off);
      dst.set(off === 0 && n === c.length ? c : c.subarray(off, off + n), at);
      at += n;
      len -= n;
      off = 0;
      i++;
    }
  }

  clear(): void {
    this.drop(this.length);
  }
}

/** Bytes in order for the application. */
export class RecvBuffer {
  private chunks: Uint8Array[] = [];
  private head = 0;
  length = 0;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Up to `max` bytes (whole chunks when possible, no copy); null when empty. */
  read(max = Infinity): Uint8Array | null {
    if (this.length === 0) return null;
    const c = this.chunks[this.head]!;
    let out: Uint8Array;
    if (c.length <= max) {
      out = c;
      this.chunks[this.head] = EMPTY;
      this.head++;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head > 64) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      out = c.subarray(0, max);
      this.chunks[this.head] = c.subarray(max);
    }
    this.length -= out.length;
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
  }
}

const EMPTY = new Uint8Array(0);

interface Piece {
  start: Seq;
  end: Seq;
  data: Uint8Array;
}

/**
 * Segments received ahead of RCV.NXT, kept sorted and non-overlapping
 * (data already held wins over a retransmitted copy). Also the source of
 * the SACK blocks we report (RFC 2018 section 4: the block holding the most
 * recently received segment first).
 */
export class ReassQueue {
  private pieces: Piece[] = [];
  /** Bytes held. */
  bytes = 0;
  /** Start of the most recently received piece, for SACK ordering. */
  private last: Seq | null = null;

  get length(): number {
    return this.pieces.length;
  }

  /** Insert a copy of data (seq s); returns the number of new bytes kept. */
  insert(s: Seq, buf: Uint8Array, off: number, len: number): number {
    let end = seqAdd(s, len);
    const ps = this.pieces;
    let i = 0;
    while (i < ps.length && seqLeq(ps[i]!.end, s)) i++;
    // ps[i] is the first piece ending after s.
    if (i < ps.length && seqLeq(ps[i]!.start, s)) {
      if (seqGeq(ps[i]!.end, end)) {
        this.last = ps[i]!.start;
        return 0; // all duplicate
      }
      const cut = seqSub(ps[i]!.end, s);
      off += cut;
      len -= cut;
      s = ps[i]!.end;
      i++;
    }
    // Drop pieces the new data covers entirely.
    let j = i;
    while (j < ps.length && seqLeq(ps[j]!.end, end)) {
      this.bytes -= ps[j]!.data.length;
      j++;
    }
    if (j > i) ps.splice(i, j - i);
    if (i < ps.length && seqLt(ps[i]!.start, end)) {
      len = seqSub(ps[i]!.start, s);
      end = ps[i]!.start;
    }
    if (len <= 0) return 0;
    ps.splice(i, 0, { start: s, end, data: buf.slice(off, off + len) });
    this.bytes += len;
    this.last = s;
    return len;
  }

  /** Take the pieces that now continue at rcvNxt, in order. */
  pullInOrder(rcvNxt: Seq, into: (d: Uint8Array) => void): Seq {
    const ps = this.pieces;
    let k = 0;
    while (k < ps.length && seqLeq(ps[k]!.start, rcvNxt)) {
      const p = ps[k]!;
      if (seqGt(p.end, rcvNxt)) {
        const skip = seqSub(rcvNxt, p.start);
        into(skip > 0 ? p.data.subarray(skip) : p.data);
        rcvNxt = p.end;
      }
      this.bytes -= p.data.length;
      k++;
    }
    if (k > 0) ps.splice(0, k);
    return rcvNxt;
  }

  /** Write up to `max` SACK blocks (left, right) into out; returns the count. */
  sackBlocks(out: Uint32Array, max: number): number {
    const ps = this.pieces;
    if (ps.length === 0) return 0;
    // Merge adjacent pieces into blocks; the one with the latest arrival first.
    const blocks: Array<[Seq, Seq]> = [];
    for (const p of ps) {
      const b = blocks[blocks.length - 1];
      if (b !== undefined && b[1] === p.start) b[1] = p.end;
      else blocks.push([p.start, p.end]);
    }
    let first = 0;
    if (this.last !== null) {
      const l = this.last;
      const f = blocks.findIndex((b) => seqLeq(b[0], l) && seqLt(l, b[1]));
      if (f >= 0) first = f;
    }
    let n = 0;
    const order = [first, ...blocks.keys()].filter((v, idx, arr) => arr.indexOf(v) === idx);
    for (const k of order) {
      if (n >= max) break;
      out[n * 2] = blocks[k]![0];
      out[n * 2 + 1] = blocks[k]![1];
      n++;
    }
    return n;
  }

  clear(): void {
    this.pieces = [];
    this.bytes = 0;
    this.last = null;
  }
}
