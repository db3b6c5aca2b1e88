/**
 * A bit-vector index over the chain (the "bit vector" packet
 * classification of Lakshman and Stiliadis, SIGCOMM 1998), so that rules
 * a packet cannot match are skipped without being visited.
 *
 * Every rule has quick-reject fields (rule.ts): a protocol, a source and a
 * destination prefix, source and destination port ranges, a direction;
 * each is a condition every packet the rule matches meets. For each of
 * these dimensions the index cuts the value space at the rules' interval
 * ends and keeps, per piece, a bit set of the rules whose condition holds
 * there (a rule without that condition is in every piece). For a packet it
 * ANDs one row per dimension (a binary search finds the piece); the bits
 * left are the rules that may match, in chain order, and the walk in
 * ip_fw2.ts visits only those, running the rule's full match as before.
 * Rules the walk must always visit (keep-state, whose first one probes the
 * state table; check-state) are in every row.
 *
 * It is built lazily after a chain change, only for chains of 8 to 1024
 * rules (a few hundred KiB at most); the packet path only reads it.
 */

import { A, type Rule } from './rule.js';

export const BV_MIN_RULES = 8;
export const BV_MAX_RULES = 1024;

/** One dimension: sorted cut points and a row of W words per piece (pieces = cuts + 1). */
class Dim {
  readonly cuts: Int32Array;
  readonly rows: Int32Array;
  /**
   * The last value looked up and the offset of its row (packets of one
   * flow come in runs), in an Int32Array: an int32 outside the small-int
   * range stored in a plain field or passed to a call is boxed.
   */
  readonly memo = new Int32Array(2);
  constructor(cuts: Int32Array, rows: Int32Array, w: number) {
    this.cuts = cuts;
    this.rows = rows;
    this.memo[1] = rowOf(cuts, 0) * w;
  }
}

/** The piece holding `v`: the number of cuts <= v (binary search; `v` from an Int32Array read, so unboxed when inlined). */
function rowOf(cuts: Int32Array, v: number): number {
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (cuts[m]! <= v) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** Rows of one dimension from each rule's interval [lo, hi] (inclusive), or null for "any". */
function dim(ivs: Array<[number, number] | null>, w: number): Dim | null {
  if (ivs.every((x) => x === null)) return null;
  const set = new Set<number>();
  for (const iv of ivs) {
    if (iv === null) continue;
    set.add(iv[0]);
    if (iv[1] < 0x7fffffff) set.add(iv[1] + 1);
  }
  const cuts = Int32Array.from([...set].sort((a, b) => a - b));
  const nrows = cuts.length + 1;
  const rows = new Int32Array(nrows * w);
  const at = (v: number): number => {
    let lo = 0;
    let hi = cuts.length;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (cuts[m]! < v) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
  for (let i = 0; i < ivs.length; i++) {
    const iv = ivs[i];
    const word = i >>> 5;
    const bit = 1 << (i & 31);
    // Piece r holds values in [cuts[r-1], cuts[r]).
    const first = iv === null ? 0 : at(iv[0]) + 1;
    const last = iv === null || iv[1] >= 0x7fffffff ? nrows - 1 : at(iv[1] + 1);
    for (let r = first; r <= last; r++) rows[r * w + word]! |= bit;
  }
  return new Dim(cuts, rows, w);
}

/** Contiguous-mask interval of `(x & m) === a`, in sign-flipped int32 order; null for no condition or a non-contiguous mask. */
function addrIv(a: number, m: number): [number, number] | null {
  if (m === 0) return null;
  const inv = ~m;
  if ((inv & (inv + 1)) !== 0) return null; // not a prefix mask
  const lo = (a & m) ^ 0x80000000;
  return [lo | 0, ((a & m) | inv) ^ 0x80000000];
}

export class ChainIndex {
  /** Words per bit set. */
  readonly w: number;
  readonly proto: Int32Array;
  readonly dir: Int32Array;
  /** Rows for IPv4 (0) and IPv6 (1) packets. */
  readonly fam: Int32Array;
  readonly src: Dim | null;
  readonly dst: Dim | null;
  readonly sport: Dim | null;
  readonly dport: Dim | null;
  /** The bits of the packet being checked. */
  readonly bits: Int32Array;


  constructor(rules: readonly Rule[]) {
    const n = rules.length;
    const w = (n + 31) >>> 5;
    this.w = w;
    const always = (r: Rule): boolean => r.keepState || r.action === A.CHECK_STATE;
    this.proto = new Int32Array(256 * w);
    this.dir = new Int32Array(2 * w);
    this.fam = new Int32Array(2 * w);
    for (let i = 0; i < n; i++) {
      const r = rules[i]!;
      const word = i >>> 5;
      const bit = 1 << (i & 31);
      for (let p = 0; p < 256; p++) if (always(r) || r.qProto < 0 || r.qProto === p) this.proto[p * w + word]! |= bit;
      for (let d = 0; d < 2; d++) if (always(r) || r.qDir === 0 || r.qDir === d + 1) this.dir[d * w + word]! |= bit;
      for (let f = 0; f < 2; f++) if (always(r) || r.qV === 0 || r.qV === (f === 0 ? 4 : 6)) this.fam[f * w + word]! |= bit;
    }
    const iv = (f: (r: Rule) => [number, number] | null): Array<[number, number] | null> => rules.map((r) => (always(r) ? null : f(r)));
    this.src = dim(iv((r) => addrIv(r.qSrcA, r.qSrcM)), w);
    this.dst = dim(iv((r) => addrIv(r.qDstA, r.qDstM)), w);
    this.sport = dim(iv((r) => (r.qSpLo >= 0 ? [r.qSpLo, r.qSpHi] : null)), w);
    this.dport = dim(iv((r) => (r.qDpLo >= 0 ? [r.qDpLo, r.qDpHi] : null)), w);
    this.bits = new Int32Array(w);
  }

  /**
   * The rules a packet may match, into `bits`. `key` holds its protocol,
   * source, destination (as int32), source port, destination port (-1 for
   * a packet without ports), direction (1 in, 2 out) and family (0 IPv4,
   * 1 IPv6; an IPv6 packet's addresses are 0 here): an array, not
   * arguments, so that no int32 is boxed on the way.
   */
  fill(key: Int32Array): Int32Array {
    const w = this.w;
    const bits = this.bits;
    const p = this.proto;
    const pd = key[0]! * w;
    const dd = (key[5]! - 1) * w;
    const dr = this.dir;
    const fd = key[6]! * w;
    const fm = this.fam;
    for (let k = 0; k < w; k++) bits[k] = p[pd + k]! & dr[dd + k]! & fm[fd + k]!;
    if (this.src !== null) and(bits, this.src, key, 1, w);
    if (this.dst !== null) and(bits, this.dst, key, 2, w);
    if (this.sport !== null) and(bits, this.sport, key, 3, w);
    if (this.dport !== null) and(bits, this.dport, key, 4, w);
    return bits;
  }
}

/** AND the row of the piece holding `v` into `bits`. */
function and(bits: Int32Array, d: Dim, key: Int32Array, i: number, w: number): void {
  const memo = d.memo;
  // Addresses (keys 1 and 2) compare as int32 with the top bit flipped: unsigned order.
  const v = i <= 2 ? key[i]! ^ 0x80000000 : key[i]!;
  let off = memo[1]!;
  if (v !== memo[0]) {
    off = rowOf(d.cuts, v) * w;
    memo[0] = v;
    memo[1] = off;
  }
  const rows = d.rows;
  for (let k = 0; k < w; k++) bits[k] = bits[k]! & rows[off + k]!;
}
