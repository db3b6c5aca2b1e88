/**
 * TCP sequence numbers (RFC 9293 3.4): 32-bit values compared modulo 2^32.
 * `Seq` is branded so a sequence number is never mixed with a byte count or
 * a port by accident; all arithmetic on it lives here.
 */

export type Seq = number & { readonly __brand: 'Seq' };

export function seq(n: number): Seq {
  return (n >>> 0) as Seq;
}

/** a + n, wrapped. */
export function seqAdd(a: Seq, n: number): Seq {
  return ((a + n) >>> 0) as Seq;
}

/** a - b as a signed distance (valid while |a - b| < 2^31). */
export function seqSub(a: Seq, b: Seq): number {
  return (a - b) | 0;
}

export function seqLt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqGt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) > 0;
}
export function seqGeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) >= 0;
}
export function seqMax(a: Seq, b: Seq): Seq {
  return seqGt(a, b) ? a : b;
}
export function seqMin(a: Seq, b: Seq): Seq {
  return seqLt(a, b) ? a : b;
}
/** lo <= x < hi, modulo 2^32. */
export function seqInRange(x: Seq, lo: Seq, hi: Seq): boolean {
  return seqLeq(lo, x) && seqLt(x, hi);
}

/** Timestamps compare the same way (RFC 7323 5.3: TSval is a 32-bit clock). */
export function tsLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
