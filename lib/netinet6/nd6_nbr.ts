/**
 * Neighbor solicitations and advertisements (RFC 4861 7.1, 7.2; FreeBSD's
 * nd6_nbr.c) and Duplicate Address Detection (RFC 4862 5.4).
 *
 * Input checks every validity rule of RFC 4861 7.1.1 (NS) and 7.1.2 (NA);
 * a message that fails one is counted (badns, badna) and dropped. The
 * checksum and code were checked by icmp6Input.
 */

import { allocPacket } from '../netinet/ip_var.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import type { Mac } from '../wire/ethernet.js';
import { ICMP6_TYPE, ND_NA_FLAG, ND_NS_LEN, ND_OPT_LLA_LEN, emitNdNeighbor, icmp6FillChecksum } from '../wire/icmp6.js';
import {
  IN6ADDR_ANY,
  IN6ADDR_LINKLOCAL_ALLNODES,
  IP6_DST_OFF,
  IP6_HDR_LEN,
  IP6_SRC_OFF,
  IPPROTO6,
  emitIpv6Raw,
  in6Equal,
  in6IsMulticast,
  in6IsSolicitedNode,
  in6IsUnspecified,
  in6SolicitedNode,
  ip6ToString,
} from '../wire/ipv6.js';
import { in6SelectSource } from './in6.js';
import { IN6_IFF, ip6Forwarding, nd6GcTimer, type In6Ifaddr } from './ip6_var.js';
import { ip6Output, ip6ToLink, ip6ToMac } from './ip6_output.js';
import { PFIL_PASS } from '../net/pfil.js';
import { ND6_LLINFO, nd6Create, nd6Lookup, nd6ReachableMs, nd6SetLladdr, nd6SetState, type Nd6Entry } from './nd6.js';

const HLIM_ND = 255;

/**
 * Send a neighbor solicitation for `target` (RFC 4861 7.2.2): multicast to
 * its solicited-node group while resolving, unicast to the cached address
 * while probing (`e`), from :: with no source link-layer option for DAD.
 */
export function nd6NsOutput(im: Vnet, ifp: Ifnet, e: Nd6Entry | null, target: Uint8Array, multicast: boolean, dad = false): void {
  const p = allocPacket(IP6_HDR_LEN + ND_NS_LEN + ND_OPT_LLA_LEN);
  const b = p.buf;
  const ip = p.off;
  const ic = ip + IP6_HDR_LEN;
  const dst = new Uint8Array(16);
  if (multicast) in6SolicitedNode(dst, 0, target, 0);
  else dst.set(target);
  let src: Uint8Array | undefined = IN6ADDR_ANY;
  if (!dad) {
    src = in6SelectSource(im, ifp, target, 0);
    if (src === undefined) return; // no usable source yet (all tentative): FreeBSD drops the solicitation too
  }
  const n = emitNdNeighbor(ICMP6_TYPE.NEIGHBOR_SOLICIT, 0, target, 0, dad ? -1 : ifp.mac, b, ic);
  emitIpv6Raw(b, ip, n, IPPROTO6.ICMPV6, HLIM_ND, src, 0, dst, 0);
  icmp6FillChecksum(b, ip, ic, n);
  im.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]!++;
  im.ip6stat.localout++;
  // Output filter: ipfw sees ND as FreeBSD's ip6_output shows it every packet.
  if (im.inet6Pfil.runOut(null, ifp, 0, b, ip, IP6_HDR_LEN + n, ifp.mtu, im.noOffload) !== PFIL_PASS) return;
  if (e !== null && !multicast) ip6ToMac(ifp, e.mac, b, ip, IP6_HDR_LEN + n, im.noOffload);
  else ip6ToLink(im, ifp, dst, 0, b, ip, IP6_HDR_LEN + n, im.noOffload);
}

/**
 * Send a neighbor advertisement for our `target` to dst (RFC 4861 7.2.4),
 * with our link-layer address when `lla` (then with override set).
 */
function nd6NaOutput(im: Vnet, ifp: Ifnet, dst: Uint8Array, dso: number, target: Uint8Array, flags: number, lla = true): void {
  const p = allocPacket(IP6_HDR_LEN + ND_NS_LEN + ND_OPT_LLA_LEN);
  const b = p.buf;
  const ip = p.off;
  const ic = ip + IP6_HDR_LEN;
  if (im.sysctl.v[ip6Forwarding.slot] === 1) flags |= ND_NA_FLAG.ROUTER;
  const n = emitNdNeighbor(ICMP6_TYPE.NEIGHBOR_ADVERT, lla ? flags : flags & ~ND_NA_FLAG.OVERRIDE, target, 0, lla ? ifp.mac : -1, b, ic);
  // The source is the target itself: an address of this interface (RFC 4861 7.2.4).
  emitIpv6Raw(b, ip, n, IPPROTO6.ICMPV6, HLIM_ND, target, 0, dst, dso);
  icmp6FillChecksum(b, ip, ic, n);
  im.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_ADVERT]!++;
  ip6Output(im, b, ip, IP6_HDR_LEN + n, im.noOffload, { ifp });
}

/** Our address `target` on `ifp` (any state), if it is one. */
function ourTarget(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number): In6Ifaddr | undefined {
  const ii = im.in6.ifs.get(ifp);
  if (ii === undefined) return undefined;
  for (const ia of ii.addrs) if (in6Equal(ia.addr, 0, b, o)) return ia;
  return undefined;
}

/** A neighbor solicitation at buf[ic, ic+len) in the packet whose IPv6 header is at buf[ip]. */
export function nd6NsInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, ip: number, ic: number, len: number): void {
  const st = im.icmp6stat;
  const src = ip + IP6_SRC_OFF;
  const dst = ip + IP6_DST_OFF;
  const tgt = ic + 8;
  const opts = im.ip6Views.ndopts;
  // RFC 4861 7.1.1: hop limit 255 (it came from this link), length, target not multicast, options sane.
  if (buf[ip + 7] !== HLIM_ND || len < ND_NS_LEN || in6IsMulticast(buf, tgt) || !opts.parse(buf, ic + ND_NS_LEN, ic + len)) {
    st.badns++;
    return;
  }
  const unspec = in6IsUnspecified(buf, src);
  // From :: (DAD): only to a solicited-node group, and with no source link-layer address.
  if (unspec && (!in6IsSolicitedNode(buf, dst) || opts.slla >= 0)) {
    st.badns++;
    return;
  }
  const ia = ourTarget(im, ifp, buf, tgt);
  if (ia === undefined) return; // not for us (no proxy ND)
  if ((ia.flags & IN6_IFF.TENTATIVE) !== 0) {
    // RFC 4862 5.4.3: another node probes the address we are probing; a
    // solicitation from a real address is resolution, which a tentative address ignores.
    if (unspec) dadDuplicate(im, ia, 'NS');
    return;
  }
  if ((ia.flags & IN6_IFF.DUPLICATED) !== 0) return;
  if (unspec) {
    // Defend the address: tell everybody, not solicited (RFC 4861 7.2.4).
    nd6NaOutput(im, ifp, IN6ADDR_LINKLOCAL_ALLNODES, 0, ia.addr, ND_NA_FLAG.OVERRIDE);
    return;
  }
  if (opts.slla >= 0) nd6CacheLladdr(im, ifp, buf, src, opts.slla as Mac);
  // A unicast solicitation (NUD) is answered without our link-layer address and so without override,
  // as FreeBSD's nd6_ns_input reads RFC 4861 7.2.4 (and Linux answers alike).
  nd6NaOutput(im, ifp, buf, src, ia.addr, ND_NA_FLAG.SOLICITED | ND_NA_FLAG.OVERRIDE, in6IsMulticast(buf, dst));
}

/**
 * RFC 4861 7.2.3: a solicitation's source link-layer address creates a
 * STALE entry, or updates one whose address changed (STALE again).
 */
export function nd6CacheLladdr(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number, mac: Mac): void {
  const gc = im.sysctl.v[nd6GcTimer.slot]! * 1000;
  const e = nd6Lookup(im, ifp, b, o);
  if (e === undefined) {
    const n = nd6Create(im, ifp, b, o, ND6_LLINFO.STALE);
    if (n === undefined) return;
    nd6SetLladdr(n, mac);
    nd6SetState(im, n, ND6_LLINFO.STALE, gc);
    return;
  }
  if (e.static) return;
  if (e.state === ND6_LLINFO.INCOMPLETE || e.mac !== mac) {
    nd6SetState(im, e, ND6_LLINFO.STALE, gc);
    nd6SetLladdr(e, mac);
  }
}

/** A neighbor advertisement at buf[ic, ic+len). */
export function nd6NaInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, ip: number, ic: number, len: number): void {
  const st = im.icmp6stat;
  const tgt = ic + 8;
  const opts = im.ip6Views.ndopts;
  const flags = buf[ic + 4]! & 0xe0;
  // RFC 4861 7.1.2: hop limit 255, length, target not multicast, no S flag to a multicast destination, options sane.
  if (
    buf[ip + 7] !== HLIM_ND ||
    len < ND_NS_LEN ||
    in6IsMulticast(buf, tgt) ||
    ((flags & ND_NA_FLAG.SOLICITED) !== 0 && in6IsMulticast(buf, ip + IP6_DST_OFF)) ||
    !opts.parse(buf, ic + ND_NS_LEN, ic + len)
  ) {
    st.badna++;
    return;
  }
  const ia = ourTarget(im, ifp, buf, tgt);
  if (ia !== undefined) {
    // RFC 4862 5.4.4: an advertisement for a tentative address means it is taken.
    if ((ia.flags & IN6_IFF.TENTATIVE) !== 0) dadDuplicate(im, ia, 'NA');
    else im.log.warn({ ifname: ifp.name, addr: ip6ToString(ia.addr) }, 'nd6: duplicate IPv6 address advertised by another node');
    return;
  }
  const e = nd6Lookup(im, ifp, buf, tgt);
  if (e === undefined || e.static) return; // unsolicited for a neighbour we do not know: ignored (7.2.5)
  const ll = opts.tlla;
  const solicited = (flags & ND_NA_FLAG.SOLICITED) !== 0;
  const override = (flags & ND_NA_FLAG.OVERRIDE) !== 0;
  const reach = nd6ReachableMs(im, ifp);
  const gc = im.sysctl.v[nd6GcTimer.slot]! * 1000;
  e.isRouter = (flags & ND_NA_FLAG.ROUTER) !== 0;
  if (e.state === ND6_LLINFO.INCOMPLETE) {
    if (ll < 0) return; // nothing to resolve with
    if (solicited) nd6SetState(im, e, ND6_LLINFO.REACHABLE, reach);
    else nd6SetState(im, e, ND6_LLINFO.STALE, gc);
    nd6SetLladdr(e, ll as Mac);
    return;
  }
  const changed = ll >= 0 && ll !== e.mac;
  if (!override && changed) {
    // Keep the address we have; a reachable entry is no longer sure (7.2.5).
    if (e.state === ND6_LLINFO.REACHABLE) nd6SetState(im, e, ND6_LLINFO.STALE, gc);
    return;
  }
  if (changed) nd6SetLladdr(e, ll as Mac);
  if (solicited) nd6SetState(im, e, ND6_LLINFO.REACHABLE, reach);
  else if (changed) nd6SetState(im, e, ND6_LLINFO.STALE, gc);
}

/** A DAD step for a tentative address: the next probe, or done (RFC 4862 5.4.2, 5.4.5). */
export function dadTimer(im: Vnet, ia: In6Ifaddr): void {
  if ((ia.flags & IN6_IFF.TENTATIVE) === 0) {
    ia.dadNext = Infinity;
    return;
  }
  const retrans = im.in6.ifs.get(ia.ifp)?.retrans ?? 1000;
  if (ia.dadLeft > 0) {
    ia.dadLeft--;
    ia.dadNext = im.clock.now() + retrans;
    nd6NsOutput(im, ia.ifp, null, ia.addr, true, true);
    return;
  }
  ia.flags &= ~IN6_IFF.TENTATIVE;
  ia.dadNext = Infinity;
  im.log.info({ ifname: ia.ifp.name, addr: ip6ToString(ia.addr) }, 'nd6: DAD complete, address is unique');
}

function dadDuplicate(im: Vnet, ia: In6Ifaddr, why: 'NS' | 'NA'): void {
  ia.flags = (ia.flags & ~IN6_IFF.TENTATIVE) | IN6_IFF.DUPLICATED;
  ia.dadNext = Infinity;
  im.icmp6stat.dadcollision++;
  im.log.error({ ifname: ia.ifp.name, addr: ip6ToString(ia.addr), by: why }, 'nd6: DAD detected duplicate IPv6 address; manual intervention required');
}
