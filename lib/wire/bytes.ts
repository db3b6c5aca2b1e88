/** Big-endian field access shared by the codecs. None of these checks bounds: views check once. */

export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * The part every codec view shares: a window [off, off+len) of a buffer,
 * re-pointed with `reset` (views are reused, never allocated per packet).
 */
/** What a view points at before its first reset: one shared empty buffer, not one per view (an image holds a dozen views). */
const NO_BYTES = new Uint8Array(0);

export class WireView {
  buf: Uint8Array = NO_BYTES;
  off = 0;
  len = 0;

  reset(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  /** The window holds at least `min` bytes and lies inside the buffer. */
  protected holds(min: number): boolean {
    return this.len >= min && this.off >= 0 && this.off + this.len <= this.buf.length;
  }
}
