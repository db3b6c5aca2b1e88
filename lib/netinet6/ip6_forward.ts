/**
 * IPv6 forwarding (FreeBSD's ip6_forward.c), with net.inet6.ip6.forwarding
 * on: hop-by-hop options, scope (RFC 4007: link-local packets never leave
 * their link), hop limit, route lookup and path MTU, each refusal answered with its ICMPv6
 * error (rate-limited by icmp6Error). The packet leaves from the bytes it
 * arrived in.
 */

import type { Ifnet } from '../net/if.js';
import { PFIL_PASS } from '../net/pfil.js';
import type { Vnet } from '../net/vnet.js';
import { ICMP6_DST_UNREACH, ICMP6_PARAMPROB, ICMP6_TIME_EXCEED, ICMP6_TYPE } from '../wire/icmp6.js';
import { IP6_DST_OFF, IP6_HDR_LEN, IP6_SRC_OFF, IPPROTO6, in6IsLinkLocal } from '../wire/ipv6.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { icmp6Error } from './icmp6.js';
import { ip6ToLink } from './ip6_output.js';
import { ip6LinkMtu } from './pmtu6.js';

const IPV6_HLIMDEC = 1;

export function ip6Forward(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ip6Len: number, meta: VnetHdr): void {
  const st = im.ip6stat;
  const s = off + IP6_SRC_OFF;
  const d = off + IP6_DST_OFF;
  // RFC 4007 9: a link-local source or destination does not cross links.
  if (in6IsLinkLocal(buf, s) || in6IsLinkLocal(buf, d)) {
    st.cantforward++;
    st.badscope++;
    if (!in6IsLinkLocal(buf, d)) icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.DST_UNREACH, ICMP6_DST_UNREACH.BEYONDSCOPE, 0);
    return;
  }
  // Hop-by-hop options are for every node on the path (RFC 8200 4.3).
  const w = im.ip6Views.walk;
  const hbh = w.hopByHop(buf, off, ip6Len, false);
  if (hbh !== 'ok') {
    st.badoptions++;
    if (hbh === 'badoptcode2') icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.OPTION, w.pointer);
    else if (hbh === 'badoptions') icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.HEADER, w.pointer);
    return;
  }
  const hlim = buf[off + 7]!;
  if (hlim <= IPV6_HLIMDEC) {
    st.cantforward++;
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.TIME_EXCEEDED, ICMP6_TIME_EXCEED.TRANSIT, 0);
    return;
  }
  const rt = im.route6.lookup(buf, d);
  if (rt === undefined) {
    st.noroute++;
    st.cantforward++;
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.DST_UNREACH, ICMP6_DST_UNREACH.NOROUTE, 0);
    return;
  }
  const out = rt.ifp;
  const mtu = ip6LinkMtu(im, out);
  // A GSO super-frame leaves as segments: what must fit is one segment (its headers plus gso_size).
  if (ip6Len > mtu && (meta.gsoType === VIRTIO_NET_HDR_GSO.NONE || gsoSegmentLength6(im, buf, off, ip6Len, meta) > mtu)) {
    // No fragmentation on the way (RFC 8200 5): the source learns the path MTU.
    st.cantforward++;
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PACKET_TOO_BIG, 0, mtu);
    return;
  }
  buf[off + 7] = hlim - IPV6_HLIMDEC;
  // pfil output of a forwarded packet (its input hooks ran in ip6Input).
  if (im.inet6Pfil.runOut(ifp, out, 0, buf, off, ip6Len, out.mtu, meta) !== PFIL_PASS) return;
  st.forward++;
  rt.use++;
  if (rt.gateway !== null) ip6ToLink(im, out, rt.gateway, 0, buf, off, ip6Len, meta);
  else ip6ToLink(im, out, buf, d, buf, off, ip6Len, meta);
}

/** Size of one IPv6 packet cut from a GSO super-frame (TCP or UDP right after the IPv6 header): headers plus gso_size. */
function gsoSegmentLength6(im: Vnet, buf: Uint8Array, off: number, ip6Len: number, meta: VnetHdr): number {
  let l4 = 8;
  if (buf[off + 6] === IPPROTO6.TCP) l4 = im.ipViews.tcp.reset(buf, off + IP6_HDR_LEN, ip6Len - IP6_HDR_LEN).headerLen;
  return IP6_HDR_LEN + l4 + meta.gsoSize;
}
