/**
 * Software fallbacks for offloaded packets: checksum completion and TCP
 * segmentation, used only when a packet carrying offload metadata (a GSO
 * super-frame or a partial checksum from a TAP) must leave through a link
 * that cannot take it. Links that can take it get the frame intact.
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { internetChecksum, pseudoHeaderSum, sum16, foldComplement } from '../wire/checksum.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { allocPacket, ipToLink, readU32, writeU32 } from './ip_output.js';

/**
 * Fill in a checksum the sender left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM):
 * sum from csum_start (counted from the Ethernet header, which sits just
 * before the IP header) to the end and store it at csum_start + csum_offset.
 */
export function completeChecksum(buf: Uint8Array, ipOff: number, ipLen: number, meta: VnetHdr): void {
  if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
    const start = ipOff - ETHER_HDR_LEN + meta.csumStart;
    const at = start + meta.csumOffset;
    const end = ipOff + ipLen;
    if (start >= ipOff && at + 2 <= end) {
      const c = internetChecksum(buf, start, end - start);
      buf[at] = c >> 8;
      buf[at + 1] = c & 0xff;
    }
  }
  meta.flags = 0;
}

/**
 * Cut a TCP/IPv4 GSO super-frame into MSS-sized segments (as Linux's
 * tcp_gso_segment does): headers copied, IP length, id and checksum per
 * segment, sequence numbers advanced, FIN/PSH only on the last segment and
 * CWR only on the first, TCP checksum computed in full.
 */
export function softwareSegment(im: Image, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const gso = meta.gsoType & ~VIRTIO_NET_HDR_GSO.ECN;
  const ipHl = (buf[off]! & 0xf) << 2;
  if (gso !== VIRTIO_NET_HDR_GSO.TCPV4 || len < ipHl + 20 || buf[off + 9] !== 6) {
    im.ipstat.odropped++;
    return;
  }
  const t = off + ipHl;
  const tcpHl = (buf[t + 12]! >> 4) << 2;
  const hdrs = ipHl + tcpHl;
  const mss = meta.gsoSize;
  // gso_size comes from outside: refuse sizes no real sender uses, which
  // would turn one frame into thousands of segments.
  if (tcpHl < 20 || hdrs > len || mss < 64) {
    im.ipstat.odropped++;
    return;
  }
  const src = readU32(buf, off + 12);
  const dst = readU32(buf, off + 16);
  const id0 = (buf[off + 4]! << 8) | buf[off + 5]!;
  const seq0 = readU32(buf, t + 4);
  const flags = buf[t + 13]!;
  const payload = len - hdrs;
  for (let p = 0, i = 0; p < payload || (payload === 0 && i === 0); p += mss, i++) {
    const n = Math.min(mss, payload - p);
    const seg = allocPacket(hdrs + n);
    const o = seg.off;
    const b = seg.buf;
    b.set(buf.subarray(off, off + hdrs), o);
    b.set(buf.subarray(off + hdrs + p, off + hdrs + p + n), o + hdrs);
    const tot = hdrs + n;
    b[o + 2] = tot >> 8;
    b[o + 3] = tot & 0xff;
    const id = (id0 + i) & 0xffff;
    b[o + 4] = id >> 8;
    b[o + 5] = id & 0xff;
    b[o + 10] = 0;
    b[o + 11] = 0;
    const ipSum = internetChecksum(b, o, ipHl);
    b[o + 10] = ipSum >> 8;
    b[o + 11] = ipSum & 0xff;
    const to = o + ipHl;
    writeU32(b, to + 4, (seq0 + p) >>> 0);
    const last = p + n >= payload;
    let f = flags;
    if (!last) f &= ~(0x01 | 0x08); // FIN, PSH
    if (i > 0) f &= ~0x80; // CWR
    b[to + 13] = f;
    b[to + 16] = 0;
    b[to + 17] = 0;
    const c = foldComplement(sum16(b, to, tcpHl + n, pseudoHeaderSum(src, dst, 6, tcpHl + n)));
    b[to + 16] = c >> 8;
    b[to + 17] = c & 0xff;
    ipToLink(im, ifp, nexthop, b, o, tot, im.noOffload);
    if (payload === 0) break;
  }
}
