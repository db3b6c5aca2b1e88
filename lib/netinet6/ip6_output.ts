/**
 * IPv6 output (FreeBSD's ip6_output.c and nd6_output): choose the outgoing
 * interface and next hop (the zone of a link-scoped destination, else the
 * route table), fill in the source address when the caller left it
 * unspecified, and hand the packet to the link: Ethernet framing with the
 * RFC 2464 multicast mapping or neighbour resolution, or the loopback.
 *
 * Every packet given to this module has at least FRAME_HEADROOM bytes free
 * in its buffer before the IPv6 header. A packet larger than the path MTU
 * (the link's, or a smaller one learned from Packet Too Big: pmtu6.ts) is
 * cut into fragments here, at the source only (RFC 8200 4.5, 5); a
 * forwarded packet never is (ip6_forward.ts answers Packet Too Big).
 */

import { allocPacket } from '../netinet/ip_var.js';
import { IFF, type Ifnet } from '../net/if.js';
import { PFIL_DROPPED, PFIL_PASS } from '../net/pfil.js';
import type { Vnet } from '../net/vnet.js';
import { ETHERTYPE, ETHER_HDR_LEN, emitEthernetSrc, writeMac, type Mac } from '../wire/ethernet.js';
import { put16 } from '../wire/bytes.js';
import {
  IP6_DST_OFF,
  IP6_FRAG_LEN,
  IP6_HDR_LEN,
  IP6_SRC_OFF,
  IPPROTO6,
  emitIp6Frag,
  in6IsLinkLocal,
  in6IsMulticast,
  in6IsScoped,
  in6IsUnspecified,
  in6McastMac,
  in6Copy,
} from '../wire/ipv6.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { completeChecksum } from '../netinet/gso.js';
import { in6Local, in6SelectSource } from './in6.js';
import { type Out6Result } from './ip6_var.js';
import { nd6Resolve } from './nd6.js';
import { ip6PathMtu } from './pmtu6.js';

/**
 * Frame the IPv6 packet at buf[off, off+len) for `ifp` and send it to the
 * next hop at nh[nho]: multicast to its Ethernet group, unicast through the
 * neighbor cache (the frame may wait there), the loopback straight back.
 */
export function ip6ToLink(im: Vnet, ifp: Ifnet, nh: Uint8Array, nho: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  if (ifp.driver.l3Output !== undefined) return ifp.driver.l3Output(ifp, 28, buf, off, len, meta); // a tunnel (gif): AF_INET6
  if (off < ETHER_HDR_LEN + ifp.driver.headroom) {
    const p = allocPacket(len);
    p.buf.set(buf.subarray(off, off + len), p.off);
    buf = p.buf;
    off = p.off;
  }
  const e = off - ETHER_HDR_LEN;
  emitEthernetSrc(buf, e, ifp.mac, ETHERTYPE.IPV6);
  if ((ifp.flags & IFF.LOOPBACK) !== 0) {
    writeMac(buf, e, ifp.mac);
  } else if (in6IsMulticast(nh, nho)) {
    writeMac(buf, e, in6McastMac(nh, nho) as Mac);
    ifp.counters.omcasts++;
  } else if (nd6Resolve(im, ifp, nh, nho, buf, e, len + ETHER_HDR_LEN, meta) !== 0) {
    return;
  }
  ifp.output(buf, e, len + ETHER_HDR_LEN, meta);
}

/** Send to a known link address (unicast NUD probes, which must not wait on the cache). */
export function ip6ToMac(ifp: Ifnet, mac: Mac, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const e = off - ETHER_HDR_LEN;
  emitEthernetSrc(buf, e, ifp.mac, ETHERTYPE.IPV6);
  writeMac(buf, e, mac);
  ifp.output(buf, e, len + ETHER_HDR_LEN, meta);
}

export interface Out6Options {
  /** The zone of a link-scoped destination, or the interface for multicast. */
  ifp?: Ifnet;
  /** IPV6_DONTFRAG: a packet larger than the path MTU is EMSGSIZE instead of fragmented. */
  dontfrag?: boolean;
}

/**
 * Output of a packet built in this image (ICMPv6, ND, ping6). The IPv6
 * header at buf[off] is complete except that an unspecified source is
 * filled in here (ND's DAD probes, which must go from ::, are sent through
 * ip6ToLink directly).
 */
export function ip6Output(im: Vnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr, o?: Out6Options): Out6Result {
  const st = im.ip6stat;
  const d = off + IP6_DST_OFF;
  let ifp: Ifnet | undefined = o?.ifp;
  let nh = buf;
  let nho = d;
  const local = in6Local(im, buf, d, ifp ?? null);
  if (local !== undefined) {
    // One of our own addresses: through the loopback, as FreeBSD's lo0 route.
    ifp = im.lo0;
  } else if (in6IsScoped(buf, d)) {
    if (ifp === undefined) {
      st.noroute++;
      return 'EHOSTUNREACH';
    }
  } else if (in6IsMulticast(buf, d)) {
    if (ifp === undefined) {
      st.noroute++;
      return 'ENETUNREACH';
    }
  } else {
    const rt = im.route6.lookup(buf, d);
    if (rt === undefined) {
      st.noroute++;
      return 'EHOSTUNREACH';
    }
    rt.use++;
    ifp = rt.ifp;
    if (rt.gateway !== null) {
      nh = rt.gateway;
      nho = 0;
    }
  }
  if ((ifp.flags & IFF.UP) === 0) {
    st.odropped++;
    return 'ENETUNREACH';
  }
  const s = off + IP6_SRC_OFF;
  if (in6IsUnspecified(buf, s)) {
    const src = in6SelectSource(im, local !== undefined ? local.ifp : ifp, buf, d);
    if (src === undefined) {
      st.noroute++;
      return 'EADDRNOTAVAIL';
    }
    in6Copy(buf, s, src, 0);
  } else if (in6IsLinkLocal(buf, s) && local === undefined && in6Local(im, buf, s, ifp) === undefined) {
    // A link-local source must belong to the outgoing link (RFC 4007 9).
    st.badscope++;
    return 'EADDRNOTAVAIL';
  }
  st.localout++;
  const mtu = ip6PathMtu(im, ifp, buf, d); // learned per destination (icmp6MtuDisc), not per next hop
  // pfil output on the whole packet, before it is cut (FreeBSD's ip6_output): a packet the firewall denies is EACCES
  // to the sender; one dummynet keeps is sent, as far as it knows, and cut to `mtu` when it comes back (ip6_pfil.ts).
  const v = im.inet6Pfil.runOut(null, ifp, 0, buf, off, len, mtu, meta);
  if (v !== PFIL_PASS) return v === PFIL_DROPPED ? 'EACCES' : 0;
  if (len > mtu) {
    // A TCP segmentation-offload frame passes only to a link that cuts it (tcp6_usrreq.ts falls back to MSS-sized segments).
    if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
      if (!ifp.driver.offload) {
        st.cantfrag++;
        return 'EMSGSIZE';
      }
    } else {
      if (o?.dontfrag === true) {
        st.cantfrag++;
        return 'EMSGSIZE';
      }
      if (meta.flags !== 0) completeChecksum(buf, off, len, meta);
      return ip6Fragment(im, ifp, nh, nho, buf, off, len, mtu);
    }
  }
  if (meta.flags !== 0 && !ifp.driver.offload) completeChecksum(buf, off, len, meta);
  ip6ToLink(im, ifp, nh, nho, buf, off, len, meta);
  return 0;
}

/**
 * Cut the packet at buf[off, off+len) into fragments of at most `mtu`
 * bytes (RFC 8200 4.5): the unfragmentable part (the IPv6 header, a
 * hop-by-hop header, and a routing header with the destination options
 * before it) starts every fragment, then a fragment header with a random
 * identification (RFC 7739), then a multiple of 8 bytes of the rest.
 */
export function ip6Fragment(im: Vnet, ifp: Ifnet, nh: Uint8Array, nho: number, buf: Uint8Array, off: number, len: number, mtu: number): Out6Result {
  const st = im.ip6stat;
  const end = off + len;
  let nxtAt = off + 6;
  let h = off + IP6_HDR_LEN;
  for (;;) {
    const nxt = buf[nxtAt]!;
    if (h + 2 > end) break;
    const hl = (buf[h + 1]! + 1) << 3;
    const unfrag = nxt === IPPROTO6.HOPOPTS || nxt === IPPROTO6.ROUTING || (nxt === IPPROTO6.DSTOPTS && buf[h] === IPPROTO6.ROUTING);
    if (!unfrag || h + hl > end) break;
    nxtAt = h;
    h += hl;
  }
  const ulen = h - off;
  const nxt = buf[nxtAt]!;
  const chunk = (mtu - ulen - IP6_FRAG_LEN) & ~7;
  if (chunk < 8) {
    st.cantfrag++;
    return 'EMSGSIZE';
  }
  const ident = Math.floor(im.random() * 0x100000000) >>> 0;
  const frag = { nextHeader: nxt, fragOffset: 0, moreFrags: true, ident };
  let n = 0;
  for (let at = h; at < end; at += chunk) {
    const dl = Math.min(chunk, end - at);
    const flen = ulen + IP6_FRAG_LEN + dl;
    const p = allocPacket(flen);
    const b = p.buf;
    const o = p.off;
    b.set(buf.subarray(off, h), o);
    put16(b, o + 4, flen - IP6_HDR_LEN);
    b[o + (nxtAt - off)] = IPPROTO6.FRAGMENT;
    frag.fragOffset = at - h;
    frag.moreFrags = at + dl < end;
    emitIp6Frag(frag, b, o + ulen);
    b.set(buf.subarray(at, at + dl), o + ulen + IP6_FRAG_LEN);
    ip6ToLink(im, ifp, nh, nho, b, o, flen, im.noOffload);
    n++;
  }
  st.fragmented++;
  st.ofragments += n;
  return 0;
}
