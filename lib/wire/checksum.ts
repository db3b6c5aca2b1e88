/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * `sum16` returns the unfolded one's-complement sum of 16-bit big-endian
 * words, so sums over several pieces (pseudo-header, header, payload) add up
 * before one `foldComplement`. None of these functions allocates or throws.
 */

/** One's-complement sum of `len` bytes at `off`, added to `initial`; not folded. */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len - 1;
  let i = off;
  // Fold every 64 K words so the sum stays a small integer.
  while (i < end) {
    let chunkEnd = i + 65536;
    if (chunkEnd > end) chunkEnd = end;
    for (; i < chunkEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i === end) sum += buf[i]! << 8; // odd length: pad with a zero byte
  return sum;
}

/** Fold a sum to 16 bits and complement it: the value to store in a header. */
export function foldComplement(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The checksum of a region: 0 when the region contains a valid checksum. */
export function internetChecksum(buf: Uint8Array, off: number, len: number): number {
  return foldComplement(sum16(buf, off, len));
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 3.1). */
export function pseudoHeaderSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/**
 * RFC 1624 eqn. 3: the new checksum after a 16-bit field changes from `old`
 * to `now`, HC' = ~(~HC + ~m + m').
 */
export function checksumAdjust(sum: number, old: number, now: number): number {
  let s = (~sum & 0xffff) + (~old & 0xffff) + (now & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Unfolded sum of the IPv6 pseudo-header (RFC 8200 8.1): source and
 * destination addresses read where they lie, the 32-bit upper-layer length
 * and the next-header value. Used by ICMPv6 (where it is mandatory), UDP and TCP.
 */
export function pseudoHeaderSum6(b: Uint8Array, srcOff: number, dstOff: number, len: number, nxt: number): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += ((b[srcOff + i]! << 8) | b[srcOff + i + 1]!) + ((b[dstOff + i]! << 8) | b[dstOff + i + 1]!);
  return s + (len >>> 16) + (len & 0xffff) + nxt;
}
