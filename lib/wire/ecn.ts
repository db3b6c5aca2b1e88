/**
 * Explicit Congestion Notification marks (RFC 3168 section 5, RFC 8311): a
 * queue that would drop a packet to signal congestion sets CE in its IP
 * header instead, when the sender marked it ECN-capable, ECT(0) or ECT(1).
 * The ECN field is the low two bits of IPv4's TOS byte and of IPv6's
 * traffic class.
 */

import { checksumAdjust } from './checksum.js';

/** The ECN field's values (RFC 3168 section 5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT1 = 1;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

/** IPv4 header checksum offset. */
const IP4_SUM = 10;

/**
 * Mark CE on the IPv4 or IPv6 packet of `len` bytes at `off`. True when it
 * carries CE now (it was ECN-capable, or marked already); false when it is
 * Not-ECT, too short or not IP, and must be dropped instead. IPv4's header
 * checksum is patched (RFC 1624), as FreeBSD's ecn_mark does.
 */
export function markCe(buf: Uint8Array, off: number, len: number): boolean {
  if (len < 1 || off < 0 || off + len > buf.length) return false;
  const v = buf[off]! >>> 4;
  if (v === 4) {
    if (len < 20) return false;
    const tos = buf[off + 1]!;
    const ecn = tos & 3;
    if (ecn === ECN_NOT_ECT) return false;
    if (ecn === ECN_CE) return true;
    const word = (buf[off]! << 8) | tos;
    const sum = checksumAdjust((buf[off + IP4_SUM]! << 8) | buf[off + IP4_SUM + 1]!, word, word | ECN_CE);
    buf[off + 1] = tos | ECN_CE;
    buf[off + IP4_SUM] = sum >>> 8;
    buf[off + IP4_SUM + 1] = sum & 0xff;
    return true;
  }
  if (v === 6) {
    if (len < 40) return false;
    // Traffic class is bits 4..11 of the first 16-bit word; its ECN bits are the second byte's 0x30.
    const ecn = (buf[off + 1]! >>> 4) & 3;
    if (ecn === ECN_NOT_ECT) return false;
    buf[off + 1] = buf[off + 1]! | (ECN_CE << 4);
    return true;
  }
  return false;
}
