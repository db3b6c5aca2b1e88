/**
 * UDP (RFC 768): a view over the 8-byte header and a plain value.
 *
 * `UdpPacket.check()` validates the header against the bytes that carry it
 * (the IP payload) once; after it returns 'ok' no accessor reads out of
 * bounds. The checksum covers the pseudo-header (RFC 768): a computed value
 * of zero is sent as 0xffff, and zero on the wire means "no checksum".
 */

import { WireView, u16 } from './bytes.js';
import { foldComplement, pseudoHeaderSum, sum16 } from './checksum.js';

export const UDP_HDR_LEN = 8;

const F = { SPORT: 0, DPORT: 2, LEN: 4, SUM: 6 } as const;

/** Why `UdpPacket.check()` refused a datagram; names match `struct udpstat`. */
export type UdpFault = 'ok' | 'hdrops' | 'badlen';

/** A view over a UDP datagram; `len` is the bytes available for it (the IP payload length). */
export class UdpPacket extends WireView {
  check(): UdpFault {
    if (!this.holds(UDP_HDR_LEN)) return 'hdrops';
    const l = this.length;
    if (l < UDP_HDR_LEN || l > this.len) return 'badlen';
    return 'ok';
  }

  checked(): boolean {
    return this.check() === 'ok';
  }

  get srcPort(): number {
    return u16(this.buf, this.off + F.SPORT);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + F.DPORT);
  }
  /** The length field: header plus data. */
  get length(): number {
    return u16(this.buf, this.off + F.LEN);
  }
  get checksum(): number {
    return u16(this.buf, this.off + F.SUM);
  }
  get payloadOffset(): number {
    return this.off + UDP_HDR_LEN;
  }
  get payloadLength(): number {
    return this.length - UDP_HDR_LEN;
  }
  /** True when the checksum is absent (zero) or verifies against the pseudo-header. */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    return foldComplement(sum16(this.buf, this.off, this.length, pseudoHeaderSum(src, dst, 17, this.length))) === 0;
  }
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Data bytes after the header. */
  payloadLen: number;
}

export function parseUdp(v: UdpPacket): UdpRepr {
  return { srcPort: v.srcPort, dstPort: v.dstPort, payloadLen: v.payloadLength };
}

/**
 * Write the header at `off` in front of `payloadLen` data bytes already in
 * place. With `checksum` the pseudo-header checksum is computed (0 is sent
 * as 0xffff, RFC 768); without it the field is zero.
 */
export function emitUdp(r: UdpRepr, buf: Uint8Array, off: number, src: number, dst: number, checksum: boolean): void {
  const len = UDP_HDR_LEN + r.payloadLen;
  buf[off + F.SPORT] = r.srcPort >>> 8;
  buf[off + F.SPORT + 1] = r.srcPort & 0xff;
  buf[off + F.DPORT] = r.dstPort >>> 8;
  buf[off + F.DPORT + 1] = r.dstPort & 0xff;
  buf[off + F.LEN] = len >>> 8;
  buf[off + F.LEN + 1] = len & 0xff;
  buf[off + F.SUM] = 0;
  buf[off + F.SUM + 1] = 0;
  if (!checksum) return;
  let c = foldComplement(sum16(buf, off, len, pseudoHeaderSum(src, dst, 17, len)));
  if (c === 0) c = 0xffff;
  buf[off + F.SUM] = c >>> 8;
  buf[off + F.SUM + 1] = c & 0xff;
}
