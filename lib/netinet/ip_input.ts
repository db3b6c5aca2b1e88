/**
 * IPv4 input and forwarding (FreeBSD's ip_input.c / ip_fastfwd.c).
 *
 * Input is a validation ladder: each check that fails bumps exactly one
 * ipstat counter and drops. A valid packet is delivered locally (after
 * reassembly) or forwarded, in place: the TTL and header checksum are
 * updated in the receive buffer and the frame leaves from the same bytes,
 * offload metadata and all.
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { checksumAdjust, internetChecksum } from '../wire/checksum.js';
import { ICMP_TYPE, ICMP_TIMXCEED, ICMP_UNREACH } from '../wire/icmp.js';
import { IP_DF, IP_MF, IP_OFFMASK } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { icmpError, icmpInput } from './ip_icmp.js';
import { ipOutputFinish, readU32 } from './ip_output.js';
import { ipReass } from './ip_reass.js';
import { ipForwarding } from './ip_var.js';
import { rawInput } from './raw_ip.js';
import { RTF } from './route.js';
import { tcpInput } from './tcp/tcp_usrreq.js';
import { udpInput } from './udp_usrreq.js';

const IPTTLDEC = 1;

export function ipInput(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const st = im.ipstat;
  st.total++;
  if (len < 20) {
    st.toosmall++;
    return;
  }
  const vhl = buf[off]!;
  if (vhl >> 4 !== 4) {
    st.badvers++;
    return;
  }
  const hlen = (vhl & 0xf) << 2;
  if (hlen < 20 || hlen > len) {
    st.badhlen++;
    return;
  }
  if (internetChecksum(buf, off, hlen) !== 0) {
    st.badsum++;
    return;
  }
  const ipLen = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (ipLen < hlen) {
    st.badlen++;
    return;
  }
  if (len < ipLen) {
    st.tooshort++;
    return;
  }
  // Bytes past ip_len (Ethernet padding) are ignored from here on.
  const src = readU32(buf, off + 12);
  const dst = readU32(buf, off + 16);
  // RFC 1812 5.3.7: never accept a broadcast, multicast or (off the loopback) loopback source.
  if (src === 0xffffffff || src >>> 28 === 0xe || ((src >>> 24 === 127 || dst >>> 24 === 127) && !ifp.loopback)) {
    st.badaddr++;
    return;
  }
  // pfil: the firewall sees every valid packet before delivery or forwarding.
  if (!im.fw.input(ifp, buf, off, ipLen, meta)) return;
  ipInputDispatch(im, ifp, buf, off, hlen, ipLen, meta, dst);
}

/** Local delivery or forwarding of a valid packet past the input filter (dummynet re-enters here). */
export function ipInputDispatch(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, dst: number): void {
  const st = im.ipstat;
  if (im.inAddrs.has(dst)) {
    ipDeliver(im, ifp, buf, off, hlen, ipLen, meta, false);
    return;
  }
  if (dst === 0xffffffff || dst === 0 || im.bcastAddrs.has(dst)) {
    ipDeliver(im, ifp, buf, off, hlen, ipLen, meta, true);
    return;
  }
  if (dst >>> 28 === 0xe) {
    // No multicast group memberships: every group is foreign.
    st.notmember++;
    return;
  }
  if (im.sysctl.v[ipForwarding.slot] === 0) {
    st.cantforward++;
    return;
  }
  ipForward(im, ifp, buf, off, hlen, ipLen, meta, dst);
}

/** From the netisr (loopback): packets that were already framed by our own output. */
export function ipDeliver(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.ipstat;
  if ((((buf[off + 6]! << 8) | buf[off + 7]!) & (IP_MF | IP_OFFMASK)) !== 0) {
    const whole = ipReass(im, buf, off, hlen, ipLen);
    if (whole === null) return;
    buf = whole.buf;
    off = whole.off;
    ipLen = whole.len;
    hlen = (buf[off]! & 0xf) << 2;
    meta = im.noOffload;
  }
  st.delivered++;
  const proto = buf[off + 9]!;
  const raw = rawInput(im, proto, buf, off, ipLen, ifp);
  switch (proto) {
    case 1:
      icmpInput(im, ifp, buf, off, hlen, ipLen, meta, bcast);
      return;
    case 6:
      tcpInput(im, ifp, buf, off, hlen, ipLen, meta, bcast);
      return;
    case 17:
      udpInput(im, ifp, buf, off, hlen, ipLen, meta, bcast);
      return;
    default:
      if (!raw) {
        st.noproto++;
        if (!bcast) icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.PROTOCOL, 0);
      }
  }
}

function ipForward(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, dst: number): void {
  const st = im.ipstat;
  const ttl = buf[off + 8]!;
  if (ttl <= IPTTLDEC) {
    icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.TIME_EXCEEDED, ICMP_TIMXCEED.INTRANS, 0);
    return;
  }
  const rt = im.routes.lookup(dst);
  if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) {
    st.noroute++;
    st.cantforward++;
    icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, rt === undefined ? ICMP_UNREACH.NET : ICMP_UNREACH.HOST, 0);
    return;
  }
  if ((rt.flags & RTF.BLACKHOLE) !== 0) {
    st.cantforward++;
    return;
  }
  const out = rt.ifp;
  const mtu = rt.mtu !== 0 ? rt.mtu : out.mtu;
  if (ipLen > mtu) {
    const gso = meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE;
    // A GSO super-frame leaves as segments: what must fit is one segment.
    const segLen = gso ? gsoSegmentLength(buf, off, hlen, meta) : ipLen;
    if (segLen > mtu && ((buf[off + 6]! & (IP_DF >> 8)) !== 0 || gso)) {
      st.cantfrag++;
      icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.NEEDFRAG, mtu);
      return;
    }
  }
  decrementTtl(buf, off);
  st.forward++;
  rt.use++;
  const nexthop = (rt.flags & RTF.GATEWAY) !== 0 ? rt.gateway : dst;
  // pfil output; then fragmentation (if needed) and the link.
  if (!im.fw.output(ifp, out, nexthop, buf, off, ipLen, mtu, meta)) return;
  ipOutputFinish(im, out, nexthop, buf, off, ipLen, mtu, meta);
}

/** TTL minus one with the header checksum patched (RFC 1624). */
function decrementTtl(buf: Uint8Array, off: number): void {
  const ttl = buf[off + 8]!;
  const proto = buf[off + 9]!;
  const sum = (buf[off + 10]! << 8) | buf[off + 11]!;
  const n = checksumAdjust(sum, (ttl << 8) | proto, ((ttl - IPTTLDEC) << 8) | proto);
  buf[off + 8] = ttl - IPTTLDEC;
  buf[off + 10] = n >> 8;
  buf[off + 11] = n & 0xff;
}

/** Size of one IP packet cut from a GSO super-frame: headers plus gso_size. */
function gsoSegmentLength(buf: Uint8Array, off: number, hlen: number, meta: VnetHdr): number {
  const proto = buf[off + 9];
  let l4 = 8;
  if (proto === 6) l4 = (buf[off + hlen + 12]! >> 4) << 2;
  return hlen + l4 + meta.gsoSize;
}
