/**
 * The IPv6 half of NETLINK_ROUTE: an image's inet6 addresses, routes and
 * neighbor cache as Linux's IPv6 handlers lay them out (net/ipv6/addrconf.c
 * inet6_fill_ifaddr, net/ipv6/route.c rt6_fill_node, net/core/neighbour.c
 * neigh_fill_info for the nd table), so `ip -6 addr`, `ip -6 route`,
 * `ip -6 neigh`, getifaddrs and glibc's address checks (getaddrinfo's
 * AI_ADDRCONFIG) see the image's IPv6. The attribute order is the one
 * Linux 6.x emitted for the same setup in a namespace.
 *
 * Addresses from router advertisements (SLAAC) are not permanent and carry
 * IFA_PROTO kernel_ra, as Linux's; their lifetimes are not passed on yet
 * (IFA_CACHEINFO says forever).
 *
 * An image is FreeBSD-shaped, so a few things are translated: the host
 * routes FreeBSD keeps through lo0 for each of the image's addresses are
 * Linux's `local` routes of table local on the address's interface;
 * connected prefixes are `proto kernel metric 256`, static routes `proto
 * boot metric 1024`, routes learned from advertisements `proto ra`.
 */

import type { ImageControl, InterfaceInfo, Nd6NeighbourInfo, Route6Info } from '../../lib/control/index.js';
import { IFF, RTF } from '../../lib/control/index.js';
import { parseIp6, type In6Addr } from '../../lib/wire/ipv6_addr.js';
import { AF, IFA, NDA, RT } from './rtnetlink_abi.js';
import type { MsgHead, NlWriter } from './rtnetlink_msgs.js';

/** IFA_F_* (if_addr.h) beyond IFA's, and IFA_PROTO values. */
const IFA6 = {
  F_DADFAILED: 0x08,
  F_DEPRECATED: 0x20,
  F_TENTATIVE: 0x40,
  PROTO: 11,
  PROTO_KERNEL_LO: 1,
  PROTO_KERNEL_RA: 2,
  PROTO_KERNEL_LL: 3,
} as const;

/** RTA_* and values IPv6 routes add (rtnetlink.h, icmpv6.h). */
const RT6 = {
  SRC: 2,
  PRIORITY: 6,
  PREF: 20,
  PROT_RA: 9,
  /** IP6_RT_PRIO_ADDRCONF and IP6_RT_PRIO_USER: the metrics of connected and of added routes. */
  PRIO_ADDRCONF: 256,
  PRIO_USER: 1024,
  PREF_MEDIUM: 0,
} as const;

/** NUD_* states of ND entries, and NTF_ROUTER. */
const NUD6: Readonly<Record<string, number>> = { I: 0x01, R: 0x02, S: 0x04, D: 0x08, P: 0x10 };
const NTF_ROUTER = 0x80;

/** An address as the control surface prints it (`fe80::1%tap0`, `2001:db8::/64`) to its 16 bytes. */
function addrOf(text: string): In6Addr | undefined {
  const cut = text.search(/[%/]/);
  return parseIp6(cut < 0 ? text : text.slice(0, cut));
}

function scopeOf(a: In6Addr): number {
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return RT.SCOPE_LINK;
  if (a.every((b, i) => b === (i === 15 ? 1 : 0))) return RT.SCOPE_HOST;
  return RT.SCOPE_UNIVERSE;
}

function attr6(w: NlWriter, type: number, a: In6Addr): void {
  const at = w.attrStart(type);
  w.bytes(a);
  w.attrEnd(at);
}

/**
 * RTM_NEWADDR for each inet6 address of `f`, global scope before link
 * scope as Linux keeps an interface's list. Addresses a person configured
 * are permanent; the link-local ones the image made itself carry the
 * kernel's IFA_PROTO.
 */
export function addr6Msgs(w: NlWriter, h: MsgHead, f: InterfaceInfo, emit: () => void): void {
  const list = f.inet6
    .map((ia) => ({ ia, a: addrOf(ia.address) }))
    .filter((x): x is { ia: (typeof f.inet6)[number]; a: In6Addr } => x.a !== undefined)
    .sort((x, y) => scopeOf(x.a) - scopeOf(y.a));
  for (const { ia, a } of list) {
    let flags = 0;
    if (!ia.flags.includes('autoconf')) flags |= IFA.F_PERMANENT;
    if (ia.flags.includes('tentative')) flags |= IFA6.F_TENTATIVE;
    if (ia.flags.includes('duplicated')) flags |= IFA6.F_DADFAILED;
    if (ia.flags.includes('deprecated')) flags |= IFA6.F_DEPRECATED;
    const scope = scopeOf(a);
    const m = w.begin(h);
    w.u8(AF.INET6);
    w.u8(ia.prefixLen);
    w.u8(flags & 0xff);
    w.u8(scope);
    w.u32(f.index);
    attr6(w, IFA.ADDRESS, a);
    const c = w.attrStart(IFA.CACHEINFO);
    w.u32(IFA.INFINITY);
    w.u32(IFA.INFINITY);
    w.u32(0);
    w.u32(0);
    w.attrEnd(c);
    w.attrU32(IFA.FLAGS, flags);
    if (ia.auto) {
      const proto = (f.flags & IFF.LOOPBACK) !== 0 ? IFA6.PROTO_KERNEL_LO : ia.flags.includes('autoconf') ? IFA6.PROTO_KERNEL_RA : IFA6.PROTO_KERNEL_LL;
      w.attrU8(IFA6.PROTO, proto);
    }
    w.end(m);
    emit();
  }
}

/** One IPv6 route as Linux's FIB holds it. */
export interface Linux6Route {
  table: number;
  protocol: number;
  type: number;
  dst: In6Addr;
  dstLen: number;
  priority: number;
  oif: number;
  gateway?: In6Addr;
}

/** The image's IPv6 routes in Linux's terms: table main first, then table local, as the kernel walks them. */
export function linux6Routes(ctl: ImageControl): Linux6Route[] {
  const byName = new Map(ctl.interfaces.list().map((f) => [f.name, f] as const));
  const main: Linux6Route[] = [];
  const local: Linux6Route[] = [];
  for (const r of ctl.inet6.routes()) {
    const dst = r.prefixLen === 0 ? new Uint8Array(16) : addrOf(r.destination);
    if (dst === undefined) continue;
    const route = linux6Route(ctl, r, dst, byName);
    (route.table === RT.TABLE_LOCAL ? local : main).push(route);
  }
  return [...main, ...local];
}

function linux6Route(ctl: ImageControl, r: Route6Info, dst: In6Addr, byName: Map<string, InterfaceInfo>): Linux6Route {
  const owner = r.prefixLen === 128 && (r.flags & RTF.GATEWAY) === 0 ? ctl.inet6.ownerOf(dst) : undefined;
  if (owner !== undefined) {
    return { table: RT.TABLE_LOCAL, protocol: RT.PROT_KERNEL, type: RT.RTN_LOCAL, dst, dstLen: 128, priority: 0, oif: byName.get(owner)?.index ?? r.interfaceIndex };
  }
  const added = (r.flags & RTF.STATIC) !== 0;
  const route: Linux6Route = {
    table: RT.TABLE_MAIN,
    protocol: added ? RT.PROT_BOOT : (r.flags & RTF.GATEWAY) !== 0 ? RT6.PROT_RA : RT.PROT_KERNEL,
    type: RT.RTN_UNICAST,
    dst,
    dstLen: r.prefixLen,
    priority: (r.flags & RTF.GATEWAY) !== 0 || added ? RT6.PRIO_USER : RT6.PRIO_ADDRCONF,
    oif: r.interfaceIndex,
  };
  const gw = (r.flags & RTF.GATEWAY) !== 0 ? addrOf(r.gateway) : undefined;
  if (gw !== undefined) route.gateway = gw;
  return route;
}

/**
 * RTM_NEWROUTE for one IPv6 route (rt6_fill_node: table, dst, [src, prefsrc],
 * priority, gateway, oif, cacheinfo, pref). An `ip -6 route get` answer
 * (`get`) also carries RTA_SRC (::, src_len 128) and the source address
 * the image would pick.
 */
export function route6Msg(w: NlWriter, h: MsgHead, r: Linux6Route, get?: { prefsrc: In6Addr | undefined }): void {
  const m = w.begin(h);
  w.u8(AF.INET6);
  w.u8(r.dstLen);
  w.u8(get !== undefined ? 128 : 0);
  w.u8(0);
  w.u8(r.table);
  w.u8(r.protocol);
  w.u8(RT.SCOPE_UNIVERSE);
  w.u8(r.type);
  w.u32(0);
  w.attrU32(RT.TABLE, r.table);
  if (r.dstLen > 0) attr6(w, RT.DST, r.dst);
  if (get !== undefined) {
    attr6(w, RT6.SRC, new Uint8Array(16));
    if (get.prefsrc !== undefined) attr6(w, RT.PREFSRC, get.prefsrc);
  }
  w.attrU32(RT6.PRIORITY, r.priority);
  if (r.gateway !== undefined) attr6(w, RT.GATEWAY, r.gateway);
  w.attrU32(RT.OIF, r.oif);
  const c = w.attrStart(RT.CACHEINFO);
  w.zeros(RT.CACHEINFO_LEN);
  w.attrEnd(c);
  w.attrU8(RT6.PREF, RT6.PREF_MEDIUM);
  w.end(m);
}

/**
 * RTM_GETROUTE for one IPv6 destination (`ip -6 route get`,
 * inet6_rtm_getroute): the route output would take, with the source
 * address the image would pick. ENETUNREACH when there is none.
 */
export function getRoute6(ctl: ImageControl, dst: In6Addr, h: MsgHead, w: NlWriter): boolean {
  const owner = ctl.inet6.ownerOf(dst);
  const lo = ctl.interfaces.list().find((f) => (f.flags & IFF.LOOPBACK) !== 0);
  let r: Linux6Route;
  let src: In6Addr | undefined;
  if (owner !== undefined) {
    r = { table: RT.TABLE_LOCAL, protocol: RT.PROT_KERNEL, type: RT.RTN_LOCAL, dst, dstLen: 128, priority: 0, oif: lo?.index ?? 1 };
    src = dst;
  } else {
    const ri = ctl.inet6.getRoute(dst);
    if (ri === undefined) return false;
    const byName = new Map(ctl.interfaces.list().map((f) => [f.name, f] as const));
    r = { ...linux6Route(ctl, ri, ri.dst, byName), dst, dstLen: 128 };
    const s = ctl.inet6.selectSource(dst);
    if (s !== undefined) src = addrOf(s);
  }
  route6Msg(w, h, r, { prefsrc: src });
  return true;
}

/** The neighbor cache entries Linux would list (not the image's own addresses), with their interface index. */
export function nd6Entries(ctl: ImageControl): Array<{ n: Nd6NeighbourInfo; a: In6Addr; ifindex: number }> {
  const index = new Map(ctl.interfaces.list().map((f) => [f.name, f.index] as const));
  const out: Array<{ n: Nd6NeighbourInfo; a: In6Addr; ifindex: number }> = [];
  for (const n of ctl.inet6.neighbours()) {
    const a = addrOf(n.address);
    if (n.own || a === undefined) continue;
    out.push({ n, a, ifindex: index.get(n.interface) ?? 0 });
  }
  return out;
}

/** RTM_NEWNEIGH for one ND entry (neigh_fill_info: dst, lladdr, probes, cacheinfo). */
export function neigh6Msg(w: NlWriter, h: MsgHead, n: Nd6NeighbourInfo, a: In6Addr, ifindex: number): void {
  const m = w.begin(h);
  w.u8(AF.INET6);
  w.u8(0);
  w.u16(0);
  w.i32(ifindex);
  w.u16(n.static ? NDA.NUD_PERMANENT : (NUD6[n.state] ?? NDA.NUD_STALE));
  w.u8(n.router ? NTF_ROUTER : 0);
  w.u8(RT.RTN_UNICAST);
  attr6(w, NDA.DST, a);
  if (n.mac !== null) {
    const at = w.attrStart(NDA.LLADDR);
    w.bytes(Uint8Array.from(n.mac.split(':').map((x) => parseInt(x, 16))));
    w.attrEnd(at);
  }
  w.attrU32(NDA.PROBES, 0);
  const c = w.attrStart(NDA.CACHEINFO);
  w.zeros(16);
  w.attrEnd(c);
  w.end(m);
}
