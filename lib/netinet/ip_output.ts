/**
 * IPv4 output: route lookup and source selection for local packets,
 * fragmentation, and the hand-off to the link (Ethernet framing with ARP, or
 * the loopback).
 *
 * Every IP packet given to this module has at least ETHER_HDR_LEN +
 * PKT_HEADROOM bytes free in its buffer before the IP header, so the
 * Ethernet header (and the TAP's virtio-net header) are written in place.
 */

import { IFF, type Ifnet } from '../net/if.js';
import { PFIL_DROPPED, PFIL_PASS } from '../net/pfil.js';
import { NETISR_IP } from '../net/netisr.js';
import { bpfTapNull } from '../net/bpf.js';
import type { Vnet } from '../net/vnet.js';
import { ETHERTYPE, ETHER_HDR_LEN, MAC_BROADCAST, emitEthernetSrc, writeMac, type Mac } from '../wire/ethernet.js';
import { IP_HDR_LEN, IP_MF, IP_OFFMASK } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { arpResolve } from './if_ether.js';
import { allocPacket, ipDefTtl, type OutResult } from './ip_var.js';
import { RTF, type Route } from './route.js';
import { softwareSegment, completeChecksum } from './gso.js';

// Kept for callers outside netinet: the byte helpers and packet allocation live in lib/wire and ip_var.
export { FRAME_HEADROOM, allocPacket } from './ip_var.js';
export { u32 as readU32, put32 as writeU32 } from '../wire/bytes.js';

/**
 * Hand an IPv4 packet at buf[off, off+len) to `ifp` for `nexthop`. Frames
 * the packet for Ethernet and resolves the next hop (holding the packet if
 * ARP has no answer yet), or loops it back when `ifp` is a loopback.
 * Returns the errno of an ARP resolution that failed recently (EHOSTDOWN,
 * or EHOSTUNREACH via a gateway), else 0.
 */
export function ipToLink(im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): 0 | 'EHOSTDOWN' | 'EHOSTUNREACH' {
  if ((ifp.flags & IFF.LOOPBACK) !== 0) {
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    if (ifp.bpf !== null) bpfTapNull(ifp.bpf, 2, buf, off, len); // lo0 is DLT_NULL; AF_INET
    im.netisr.enqueue(NETISR_IP, ifp, buf, off, len, meta);
    return 0;
  }
  if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE && !ifp.driver.offload) {
    softwareSegment(im, ifp, nexthop, buf, off, len, meta, ipToLink);
    return 0;
  }
  if (meta.flags !== 0 && !ifp.driver.offload) completeChecksum(buf, off, len, meta);
  if (ifp.driver.l3Output !== undefined) {
    ifp.driver.l3Output(ifp, 2, buf, off, len, meta); // a tunnel (gif): AF_INET, no framing
    return 0;
  }
  if (off < ETHER_HDR_LEN + ifp.driver.headroom) {
    // Not enough room in front: rare (packets built elsewhere); copy once.
    const p = allocPacket(len);
    p.buf.set(buf.subarray(off, off + len), p.off);
    buf = p.buf;
    off = p.off;
  }
  const e = off - ETHER_HDR_LEN;
  emitEthernetSrc(buf, e, ifp.mac, ETHERTYPE.IPV4);
  if (nexthop === 0xffffffff || isSubnetBroadcast(ifp, nexthop)) {
    writeMac(buf, e, MAC_BROADCAST);
    ifp.counters.omcasts++;
  } else if (nexthop >>> 28 === 0xe) {
    // RFC 1112 6.4: 01:00:5e plus the low 23 bits of the group.
    writeMac(buf, e, (0x01005e000000 + (nexthop & 0x7fffff)) as Mac);
    ifp.counters.omcasts++;
  } else if ((ifp.flags & IFF.NOARP) === 0) {
    const r = arpResolve(im, ifp, nexthop, buf, e, len + ETHER_HDR_LEN, meta);
    if (r !== 0) return r === 'held' ? 0 : r;
  }
  ifp.output(buf, e, len + ETHER_HDR_LEN, meta);
  return 0;
}

function isSubnetBroadcast(ifp: Ifnet, a: number): boolean {
  const addrs = ifp.addrs;
  for (let i = 0; i < addrs.length; i++) if (addrs[i]!.broadcast === a && a !== 0) return true;
  return false;
}

/** The source address for packets to `dst` leaving through route `rt`. */
export function selectSource(im: Vnet, rt: Route, dst: number): number {
  const ifp = rt.ifp;
  const hop = (rt.flags & RTF.GATEWAY) !== 0 ? rt.gateway : dst;
  const ia = ifp.subnetOf(hop) ?? ifp.addrs[0];
  if (ia !== undefined) return ia.addr;
  for (const other of im.ifnets.values()) if (other.addrs.length > 0 && !other.loopback) return other.addrs[0]!.addr;
  return im.lo0.addrs[0]?.addr ?? 0;
}

export interface LocalOutOptions {
  /** Set DF; output fails with EMSGSIZE instead of fragmenting. */
  dontFrag?: boolean;
  /** Send through this interface without a route (broadcast, SO_DONTROUTE). */
  ifp?: Ifnet;
}

/**
 * Output of a packet built in this image (ICMP, raw sockets). The IP header
 * at buf[off] is complete except that a zero source is filled in here; the
 * header checksum is always computed here.
 */
export function ipOutputLocal(im: Vnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr, opts?: LocalOutOptions): OutResult {
  const st = im.ipstat;
  const ip = im.ipViews.output.reset(buf, off, len);
  const dst = ip.dst;
  let ifp: Ifnet;
  let nexthop = dst;
  let mtu: number;
  const local = im.localIfnet(dst);
  if (opts?.ifp !== undefined) {
    ifp = opts.ifp;
    mtu = ifp.mtu;
    if (ip.src === 0) ip.src = ifp.subnetOf(dst)?.addr ?? ifp.addrs[0]?.addr ?? 0;
  } else if (local !== undefined) {
    ifp = im.lo0;
    mtu = ifp.mtu;
    if (ip.src === 0) ip.src = dst;
  } else {
    const rt = im.routes.lookup(dst);
    if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) {
      st.noroute++;
      return 'EHOSTUNREACH'; // as FreeBSD's ip_output: "No route to host"
    }
    if ((rt.flags & RTF.BLACKHOLE) !== 0) return 0;
    rt.use++;
    ifp = rt.ifp;
    if ((rt.flags & RTF.GATEWAY) !== 0) nexthop = rt.gateway;
    mtu = rt.mtu !== 0 ? rt.mtu : ifp.mtu;
    if (ip.src === 0) ip.src = selectSource(im, rt, dst);
  }
  if ((ifp.flags & IFF.UP) === 0) {
    st.odropped++;
    return 'ENETUNREACH';
  }
  if (opts?.dontFrag === true) ip.setDontFrag();
  ip.fillChecksum();
  st.localout++;
  if (len > mtu && meta.gsoType === VIRTIO_NET_HDR_GSO.NONE && ip.dontFrag) {
    st.cantfrag++;
    return 'EMSGSIZE';
  }
  // pfil output: a packet the firewall denies is EACCES to the sender (ping:
  // "sendto: Permission denied"); one dummynet queues is sent, as far as it knows.
  const v = im.inetPfil.runOut(null, ifp, nexthop, buf, off, len, mtu, meta);
  if (v !== PFIL_PASS) return v === PFIL_DROPPED ? 'EACCES' : 0;
  return ipOutputFinish(im, ifp, nexthop, buf, off, len, mtu, meta);
}

/**
 * The last step of output, past the output filter (dummynet re-enters
 * here): fragment a packet larger than `mtu` (unless it is a GSO frame,
 * which the link or software segmentation cuts), else hand it to the link.
 * EMSGSIZE when it could not be fragmented; ARP's verdict when resolution
 * of the next hop failed recently (for a local sender).
 */
export function ipOutputFinish(im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): OutResult {
  if (len > mtu && meta.gsoType === VIRTIO_NET_HDR_GSO.NONE) return ipFragment(im, ifp, nexthop, buf, off, len, mtu, meta) ? 0 : 'EMSGSIZE';
  return ipToLink(im, ifp, nexthop, buf, off, len, meta);
}

/**
 * Split a packet into fragments that fit `mtu` (RFC 791 section 3.2) and send
 * each; fragments after the first carry only the options marked to be
 * copied (ipOptCopy). Returns false when
 * the header alone leaves no room for 8 bytes of data.
 */
export function ipFragment(im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): boolean {
  const st = im.ipstat;
  const ip = im.ipViews.output.reset(buf, off, len);
  const hlen = ip.headerLen;
  const chunk = (mtu - hlen) & ~7;
  if (chunk < 8) {
    st.cantfrag++;
    return false;
  }
  if (meta.flags !== 0) completeChecksum(buf, off, len, meta);
  const field = ip.fragField;
  const origOff = field & IP_OFFMASK;
  const origMf = field & IP_MF;
  const plen = len - hlen;
  const fv = im.ipViews.frag;
  st.fragmented++;
  for (let p = 0; p < plen; p += chunk) {
    const n = Math.min(chunk, plen - p);
    const last = p + n >= plen;
    // The first fragment keeps every option; the others only those marked to be copied.
    const f = allocPacket(hlen + n);
    const o = f.off;
    const fh = p === 0 ? hlen : ipOptCopy(buf, off, hlen, f.buf, o);
    if (p === 0) f.buf.set(buf.subarray(off, off + hlen), o);
    f.buf.set(buf.subarray(off + hlen + p, off + hlen + p + n), o + fh);
    const v = fv.reset(f.buf, o, fh + n);
    v.headerLen = fh;
    v.totalLen = fh + n;
    v.fragField = (last ? origMf : IP_MF) | ((origOff + (p >> 3)) & IP_OFFMASK);
    v.fillChecksum();
    st.ofragments++;
    ipToLink(im, ifp, nexthop, f.buf, o, fh + n, im.noOffload);
  }
  return true;
}

/**
 * FreeBSD's ip_optcopy: write the header of the packet at src[off] (hlen
 * bytes) to dst[doff] with only the options a fragment after the first
 * carries: those with the copied flag (RFC 791), NOPs kept for alignment,
 * padded with EOL to 32 bits. Returns the new header length.
 */
export function ipOptCopy(src: Uint8Array, off: number, hlen: number, dst: Uint8Array, doff: number): number {
  dst.set(src.subarray(off, off + 20), doff);
  let w = doff + 20;
  const end = off + hlen;
  for (let i = off + 20; i < end; ) {
    const t = src[i]!;
    if (t === 0) break; // EOL
    if (t === 1) {
      dst[w++] = 1;
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    let optlen = src[i + 1]!;
    if (optlen < 2) break; // ip_dooptions refuses these; nothing sane to copy
    if (optlen > end - i) optlen = end - i;
    if ((t & 0x80) !== 0) {
      dst.set(src.subarray(i, i + optlen), w);
      w += optlen;
    }
    i += optlen;
  }
  while ((w - doff) & 3) dst[w++] = 0;
  return w - doff;
}

/** Build a plain 20-byte IPv4 header at buf[off]; checksum is left to output. */
export function buildIpHeader(im: Vnet, buf: Uint8Array, off: number, totalLen: number, proto: number, src: number, dst: number, ttl?: number): void {
  const ip = im.ipViews.frag.reset(buf, off, IP_HDR_LEN);
  ip.headerLen = IP_HDR_LEN;
  ip.tos = 0;
  ip.totalLen = totalLen;
  ip.ident = im.nextIpId();
  ip.fragField = 0;
  ip.ttl = ttl ?? im.sysctl.v[ipDefTtl.slot]!;
  ip.protocol = proto;
  ip.checksum = 0;
  ip.src = src;
  ip.dst = dst;
}
