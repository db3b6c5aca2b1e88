/**
 * IPv6 input (FreeBSD's ip6_input.c): a validation ladder where each drop
 * bumps one named ip6stat counter, the local-or-multicast decision, the
 * extension-header walk (with ICMPv6 parameter problems for what it
 * refuses), and delivery through the image's IPv6 protocol switch.
 *
 * Atomic fragments (RFC 6946) are delivered at once; other fragments wait
 * in reassembly (frag6.ts) and the datagram they make goes through the
 * walk again. Forwarding is lib/netinet6/ip6_forward.ts.
 */

import type { Ifnet } from '../net/if.js';
import { PFIL_PASS } from '../net/pfil.js';
import { etherRegister, ip6ProtoRegister, type Vnet } from '../net/vnet.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import { ICMP6_PARAMPROB, ICMP6_TYPE } from '../wire/icmp6.js';
import {
  IP6_DST_OFF,
  IP6_HDR_LEN,
  IP6_SRC_OFF,
  IP6F_MORE_FRAG,
  IP6F_OFF_MASK,
  IPPROTO6,
  in6Equal,
  in6IsLoopback,
  in6IsMulticast,
  in6IsUnspecified,
  in6IsV4Mapped,
  in6McastScope,
  IN6ADDR_LINKLOCAL_ALLROUTERS,
} from '../wire/ipv6.js';
import type { VnetHdr } from '../wire/vnet.js';
import { icmp6Destroy, icmp6Error, icmp6Input } from './icmp6.js';
import { in6Init, in6IsMember, in6Local } from './in6.js';
import { IN6_IFF_NOTREADY, ip6Forwarding } from './ip6_var.js';
import { ip6Forward } from './ip6_forward.js';
import { frag6Destroy, frag6Input } from './frag6.js';
import { pmtu6Destroy } from './pmtu6.js';

/** Subsystem init: IPv6 on the image's links, ICMPv6 in its switch, lo0's addresses. */
export function ip6Init(im: Vnet): void {
  etherRegister(im, ETHERTYPE.IPV6, ip6Input);
  ip6ProtoRegister(im, IPPROTO6.ICMPV6, { input: icmp6Input });
  in6Init(im);
}

export function ip6Destroy(im: Vnet): void {
  icmp6Destroy(im);
  frag6Destroy(im);
  pmtu6Destroy(im);
}

export function ip6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const st = im.ip6stat;
  st.total++;
  const ip = im.ip6Views.input.reset(buf, off, len);
  const fault = ip.check();
  if (fault !== 'ok') {
    st[fault]++;
    return;
  }
  // Bytes past the payload length (Ethernet padding) are ignored from here on.
  const ip6Len = IP6_HDR_LEN + ip.payloadLen;
  const s = off + IP6_SRC_OFF;
  const d = off + IP6_DST_OFF;
  // RFC 4291 2.5.2, 2.5.3, 2.7 and FreeBSD's checks: no multicast or v4-mapped
  // source, no unspecified destination, the loopback address only on lo0.
  if (
    in6IsMulticast(buf, s) ||
    in6IsUnspecified(buf, d) ||
    in6IsV4Mapped(buf, s) ||
    in6IsV4Mapped(buf, d) ||
    (!ifp.loopback && (in6IsLoopback(buf, s) || in6IsLoopback(buf, d)))
  ) {
    st.badscope++;
    return;
  }
  // pfil input: the firewall sees every valid packet before it is delivered or forwarded.
  if (im.inet6Pfil.runIn(ifp, buf, off, ip6Len, meta) !== PFIL_PASS) return;
  ip6InputRoute(im, ifp, buf, off, ip6Len, meta);
}

/** Past the input filter (dummynet re-enters here): multicast, local delivery or forwarding. */
export function ip6InputRoute(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ip6Len: number, meta: VnetHdr): void {
  const st = im.ip6stat;
  const d = off + IP6_DST_OFF;
  const forwarding = im.sysctl.v[ip6Forwarding.slot] === 1;
  if (in6IsMulticast(buf, d)) {
    // Scope 0 is reserved; interface-local groups never arrive from a link (RFC 4291 2.7).
    const scope = in6McastScope(buf, d);
    if (scope === 0 || (scope === 1 && !ifp.loopback)) {
      st.badscope++;
      return;
    }
    if (!in6IsMember(im, ifp, buf, d) && !(forwarding && in6Equal(buf, d, IN6ADDR_LINKLOCAL_ALLROUTERS, 0))) {
      st.notmember++;
      return;
    }
    ip6Deliver(im, ifp, buf, off, ip6Len, meta, true);
    return;
  }
  const ia = in6Local(im, buf, d, ifp);
  // A tentative or duplicated address is not ours yet (RFC 4862 5.4).
  if (ia !== undefined && (ia.flags & IN6_IFF_NOTREADY) === 0) {
    ip6Deliver(im, ifp, buf, off, ip6Len, meta, false);
    return;
  }
  if (!forwarding || ia !== undefined) {
    st.cantforward++;
    return;
  }
  ip6Forward(im, ifp, buf, off, ip6Len, meta);
}

/** Walk the extension headers and hand the packet to its upper layer. */
export function ip6Deliver(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  const st = im.ip6stat;
  const w = im.ip6Views.walk;
  const f = w.walk(buf, off, ip6Len, mcast);
  if (f !== 'ok') {
    if (f === 'tooshort') st.tooshort++;
    else if (f === 'toomany') st.toomanyhdr++;
    else {
      st.badoptions++;
      if (f === 'hbhnotfirst') icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.NEXTHEADER, w.pointer);
      else if (f === 'badoptcode2') icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.OPTION, w.pointer);
      else if (f !== 'optdiscard') icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.HEADER, w.pointer);
    }
    return;
  }
  if (w.fragOff >= 0) {
    st.fragments++;
    const fo = w.fragOff;
    const field = (buf[fo + 2]! << 8) | buf[fo + 3]!;
    if ((field & (IP6F_OFF_MASK | IP6F_MORE_FRAG)) !== 0) {
      if (!frag6Input(im, ifp, buf, off, ip6Len, fo)) return;
      const t = im.frag6;
      ip6Deliver(im, ifp, t.rbuf, t.roff, t.rlen, im.noOffload, mcast);
      return;
    }
    // An atomic fragment is processed as a whole packet (RFC 6946 4).
    st.atomicfrags++;
  }
  const proto = w.proto;
  const sw = im.protosw.ip6[proto];
  if (sw === null || sw === undefined) {
    if (proto === IPPROTO6.NONE) {
      st.delivered++; // No Next Header (RFC 8200 4.7): delivered, and nothing more to do
      return;
    }
    st.noproto++;
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.NEXTHEADER, w.nxtOff - off);
    return;
  }
  st.delivered++;
  sw.input(im, ifp, buf, off, w.hoff, ip6Len, meta, mcast);
}
