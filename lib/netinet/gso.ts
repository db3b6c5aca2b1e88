/**
 * Software fallbacks for offloaded packets: checksum completion and TCP
 * segmentation, used only when a packet carrying offload metadata (a GSO
 * super-frame or a partial checksum from a TAP) must leave through a link
 * that cannot take it. Links that can take it get the frame intact.
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { put16 } from '../wire/bytes.js';
import { internetChecksum } from '../wire/checksum.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { IPPROTO } from '../wire/ipv4.js';
import { TH, TCP_HDR_LEN } from '../wire/tcp.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { allocPacket } from './ip_var.js';

/** Where a segment goes: ip_output's hand-off to the link (passed in, so this file does not import ip_output). */
export type SegmentOutput = (im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr) => unknown;

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
      put16(buf, at, internetChecksum(buf, start, end - start));
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
export function softwareSegment(im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr, out: SegmentOutput): void {
  const gso = meta.gsoType & ~VIRTIO_NET_HDR_GSO.ECN;
  const ip = im.ipViews.output.reset(buf, off, len);
  const ipHl = ip.headerLen;
  if (gso !== VIRTIO_NET_HDR_GSO.TCPV4 || len < ipHl + TCP_HDR_LEN || ip.protocol !== IPPROTO.TCP) {
    im.ipstat.odropped++;
    return;
  }
  const th = im.ipViews.tcp.reset(buf, off + ipHl, len - ipHl);
  const tcpHl = th.headerLen;
  const hdrs = ipHl + tcpHl;
  const mss = meta.gsoSize;
  // gso_size comes from outside: refuse sizes no real sender uses, which
  // would turn one frame into thousands of segments.
  if (tcpHl < TCP_HDR_LEN || hdrs > len || mss < 64) {
    im.ipstat.odropped++;
    return;
  }
  const src = ip.src;
  const dst = ip.dst;
  const id0 = ip.ident;
  const seq0 = th.seq;
  const flags = th.flags;
  const payload = len - hdrs;
  const sv = im.ipViews.frag;
  const st = im.ipViews.tcp;
  for (let p = 0, i = 0; p < payload || (payload === 0 && i === 0); p += mss, i++) {
    const n = Math.min(mss, payload - p);
    const seg = allocPacket(hdrs + n);
    const o = seg.off;
    const b = seg.buf;
    b.set(buf.subarray(off, off + hdrs), o);
    b.set(buf.subarray(off + hdrs + p, off + hdrs + p + n), o + hdrs);
    const tot = hdrs + n;
    const v = sv.reset(b, o, tot);
    v.totalLen = tot;
    v.ident = (id0 + i) & 0xffff;
    v.fillChecksum();
    const t = st.reset(b, o + ipHl, tcpHl + n);
    t.seq = (seq0 + p) >>> 0;
    const last = p + n >= payload;
    let f = flags;
    if (!last) f &= ~(TH.FIN | TH.PSH);
    if (i > 0) f &= ~TH.CWR;
    t.flags = f;
    t.fillChecksum(src, dst);
    out(im, ifp, nexthop, b, o, tot, im.noOffload);
    if (payload === 0) break;
  }
}
