/**
 * IPv6 address configuration (FreeBSD's in6.c and in6_ifattach.c): the
 * inet6 addresses of each interface with their prefix length and flags,
 * the link-local address made from the MAC (modified EUI-64) when an
 * Ethernet interface comes up, ::1 and fe80::1 on lo0, the multicast groups
 * an interface listens to (all-nodes and each address's solicited-node
 * group), connected routes, and source address selection.
 *
 * A new address on an Ethernet interface is tentative until Duplicate
 * Address Detection (RFC 4862 5.4, in nd6_nbr.ts) has sent
 * net.inet6.ip6.dad_count probes unanswered; a tentative or duplicated
 * address neither receives nor sources packets.
 */

import { E, fail } from '../errors.js';
import { IFF, type Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { RTF } from '../netinet/route.js';
import {
  IN6ADDR_LINKLOCAL_ALLNODES,
  IN6ADDR_LINKLOCAL_ALLROUTERS,
  in6CommonPrefix,
  in6Equal,
  in6IsLinkLocal,
  in6IsMulticast,
  in6IsUnspecified,
  in6LinkLocalFromMac,
  in6SolicitedNode,
  ip6ToString,
  parseIp6,
  type In6Addr,
} from '../wire/ipv6.js';
import { IN6_IFF, IN6_IFF_NOTREADY, In6Ifinfo, ND6_IFF, MAX_RTR_SOLICITATION_DELAY, ip6AutoLinkLocal, ip6DadCount, ip6Forwarding, type In6Ifaddr } from './ip6_var.js';
import { nd6PurgeInterface, nd6Schedule } from './nd6.js';
import { Route6Table, type Route6 } from './route6.js';
import { mld6Purge, mld6SetGroups } from './mld6.js';
import { ip6AcceptRtadv, nd6RtrIfUp, nd6RtrPurgeInterface } from './nd6_rtr.js';

/** One image's IPv6 addresses. */
export class In6State {
  readonly ifs = new Map<Ifnet, In6Ifinfo>();
  /** Every address of the image, for the local-address check (a few per interface). */
  all: In6Ifaddr[] = [];
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly in6: In6State;
    readonly route6: Route6Table;
  }
}

const FE80_1 = parseIp6('fe80::1')!;
const LOOPBACK = parseIp6('::1')!;

/** The interface's IPv6 state, made on first use. */
export function in6Ifinfo(im: Vnet, ifp: Ifnet): In6Ifinfo {
  let ii = im.in6.ifs.get(ifp);
  if (ii === undefined) {
    ii = new In6Ifinfo(im.random());
    // FreeBSD's nd6_ifattach: the per-interface flag starts from the sysctl.
    if (im.sysctl.v[ip6AcceptRtadv.slot] === 1) ii.ndFlags |= ND6_IFF.ACCEPT_RTADV;
    im.in6.ifs.set(ifp, ii);
  }
  return ii;
}

/** Subsystem init: ::1/128 and fe80::1%lo0/64 on lo0 (lo0 exists: the loopback subsystem runs first). */
export function in6Init(im: Vnet): void {
  in6AddAddress(im, im.lo0, LOOPBACK, 128);
  in6AddAddress(im, im.lo0, FE80_1, 64);
}

/**
 * An interface came up (FreeBSD's in6_if_up): an Ethernet interface gets
 * its link-local address unless it has one (net.inet6.ip6.auto_linklocal,
 * ND6_IFF_AUTO_LINKLOCAL), after a random delay as RFC 4862 5.4.2 asks of
 * addresses configured at start-up; tentative addresses start DAD again.
 */
export function in6IfUp(im: Vnet, ifp: Ifnet): void {
  if (ifp.loopback) return;
  const ii = in6Ifinfo(im, ifp);
  const auto = im.sysctl.v[ip6AutoLinkLocal.slot] === 1 && (ii.ndFlags & ND6_IFF.AUTO_LINKLOCAL) !== 0;
  if (auto && !ii.addrs.some((a) => in6IsLinkLocal(a.addr))) {
    in6AddAddress(im, ifp, in6LinkLocalFromMac(ifp.mac), 64, { autoconf: true });
  }
  for (const ia of ii.addrs) if ((ia.flags & IN6_IFF.TENTATIVE) !== 0) dadStart(im, ia, Math.floor(im.random() * MAX_RTR_SOLICITATION_DELAY));
  nd6RtrIfUp(im, ifp);
}

function dadStart(im: Vnet, ia: In6Ifaddr, delay: number): void {
  const n = im.sysctl.v[ip6DadCount.slot]!;
  if (n === 0 || ia.ifp.loopback || (ia.flags & IN6_IFF.NODAD) !== 0) {
    ia.flags &= ~IN6_IFF.TENTATIVE;
    ia.dadNext = Infinity;
    return;
  }
  ia.flags = (ia.flags | IN6_IFF.TENTATIVE) & ~IN6_IFF.DUPLICATED;
  ia.dadLeft = n;
  ia.dadNext = im.clock.now() + delay;
  nd6Schedule(im, ia.dadNext);
}

/**
 * Add (or update the prefix length of) an inet6 address (SIOCAIFADDR_IN6:
 * with or without `alias`, inet6 addresses are added, as FreeBSD does).
 */
export function in6AddAddress(im: Vnet, ifp: Ifnet, addr: In6Addr, prefixLen: number, o: { autoconf?: boolean } = {}): In6Ifaddr {
  if (in6IsUnspecified(addr) || in6IsMulticast(addr)) fail(E.BAD_ARGUMENT, `${ip6ToString(addr)}: not a usable unicast address`);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) fail(E.BAD_ARGUMENT, `prefixlen ${prefixLen}: must be 0 to 128`);
  if (in6IsLinkLocal(addr) && prefixLen !== 64 && !ifp.loopback) fail(E.BAD_ARGUMENT, `${ip6ToString(addr)}: a link-local address takes prefixlen 64`);
  const ii = in6Ifinfo(im, ifp);
  if (!in6IsLinkLocal(addr)) {
    const other = im.in6.all.find((a) => a.ifp !== ifp && in6Equal(a.addr, 0, addr, 0));
    if (other !== undefined) fail(E.ADDRESS_EXISTS, `${ip6ToString(addr)} is already configured on ${other.ifp.name}`);
  }
  const old = ii.addrs.find((a) => in6Equal(a.addr, 0, addr, 0));
  if (old !== undefined) {
    if (old.prefixLen === prefixLen) return old;
    in6DeleteAddress(im, ifp, addr);
  }
  const ia: In6Ifaddr = { addr: addr.slice(), prefixLen, flags: 0, ifp, dadLeft: 0, dadNext: Infinity };
  ii.addrs.push(ia);
  im.in6.all = [...im.in6.all, ia];
  rebuildGroups(im, ifp, ii);
  // The connected prefix; link-local prefixes are one per interface (fe80::%IF/64).
  if (prefixLen < 128 && connected(im, addr, prefixLen, ifp) === undefined) {
    im.route6.add({ dst: addr, prefixLen, gateway: null, ifp, flags: RTF.UP });
  }
  // DAD for every new address on a link that can have neighbours (RFC 4862 5.4).
  if ((ifp.flags & IFF.UP) !== 0 || ifp.loopback) dadStart(im, ia, o.autoconf === true ? Math.floor(im.random() * MAX_RTR_SOLICITATION_DELAY) : 0);
  else if (!ifp.loopback && im.sysctl.v[ip6DadCount.slot]! > 0) ia.flags |= IN6_IFF.TENTATIVE; // DAD starts when it comes up
  return ia;
}

export function in6DeleteAddress(im: Vnet, ifp: Ifnet, addr: In6Addr): void {
  const ii = im.in6.ifs.get(ifp);
  const ia = ii?.addrs.find((a) => in6Equal(a.addr, 0, addr, 0));
  if (ii === undefined || ia === undefined) fail(E.NO_SUCH_ADDRESS, `${ip6ToString(addr)} is not configured on ${ifp.name}`);
  ii.addrs.splice(ii.addrs.indexOf(ia), 1);
  im.in6.all = im.in6.all.filter((a) => a !== ia);
  ia.dadNext = Infinity;
  rebuildGroups(im, ifp, ii);
  const r = connected(im, addr, ia.prefixLen, ifp);
  if (r !== undefined && r.ifp === ifp && ia.prefixLen < 128 && !ii.addrs.some((a) => a.prefixLen === ia.prefixLen && in6CommonPrefix(a.addr, 0, addr, 0) >= ia.prefixLen)) {
    im.route6.routes = im.route6.routes.filter((x) => x !== r);
    if (in6IsLinkLocal(addr)) return;
    const keep = im.in6.all.find((a) => a.prefixLen === ia.prefixLen && !a.ifp.loopback && in6CommonPrefix(a.addr, 0, addr, 0) >= ia.prefixLen);
    if (keep !== undefined) im.route6.add({ dst: keep.addr, prefixLen: keep.prefixLen, gateway: null, ifp: keep.ifp, flags: RTF.UP });
  }
}

/** The connected route of prefix addr/len (on `ifp` for a link-local one). */
function connected(im: Vnet, addr: In6Addr, prefixLen: number, ifp: Ifnet): Route6 | undefined {
  const ll = in6IsLinkLocal(addr);
  return im.route6.routes.find((r) => r.gateway === null && r.prefixLen === prefixLen && (!ll || r.ifp === ifp) && in6CommonPrefix(r.dst, 0, addr, 0) >= prefixLen);
}

/** The interface leaves the image (moved or destroyed): its addresses, routes and neighbours go. */
export function in6PurgeInterface(im: Vnet, ifp: Ifnet): void {
  const ii = im.in6.ifs.get(ifp);
  if (ii !== undefined) for (const ia of [...ii.addrs]) in6DeleteAddress(im, ifp, ia.addr);
  im.route6.purgeInterface(ifp);
  nd6PurgeInterface(im, ifp);
  nd6RtrPurgeInterface(im, ifp);
  mld6Purge(im, ifp);
  im.in6.ifs.delete(ifp);
}

/** All-nodes and the solicited-node group of every address (tentative ones too: DAD listens there). */
function rebuildGroups(im: Vnet, ifp: Ifnet, ii: In6Ifinfo): void {
  const groups: Uint8Array[] = [IN6ADDR_LINKLOCAL_ALLNODES];
  for (const ia of ii.addrs) {
    const g = new Uint8Array(16);
    in6SolicitedNode(g, 0, ia.addr, 0);
    if (!groups.some((x) => in6Equal(x, 0, g, 0))) groups.push(g);
  }
  ii.groups = groups;
  mld6SetGroups(im, ifp, groups);
}

/**
 * The address at b[o] if it is one of ours for a packet arriving on
 * `ifp`: a link-local address only on its own interface (its zone), any
 * other on any interface (the weak host model FreeBSD follows).
 */
export function in6Local(im: Vnet, b: Uint8Array, o: number, ifp: Ifnet | null): In6Ifaddr | undefined {
  const all = im.in6.all;
  for (let i = 0; i < all.length; i++) {
    const ia = all[i]!;
    if (!in6Equal(ia.addr, 0, b, o)) continue;
    if (ifp !== null && !ifp.loopback && ia.ifp !== ifp && in6IsLinkLocal(b, o)) continue;
    return ia;
  }
  return undefined;
}

/** Has `ifp` joined the group at b[o]? */
export function in6IsMember(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number): boolean {
  const ii = im.in6.ifs.get(ifp);
  if (ii === undefined) return false;
  const g = ii.groups;
  for (let i = 0; i < g.length; i++) if (in6Equal(g[i]!, 0, b, o)) return true;
  // A router listens to all-routers (ff02::2), where router solicitations go (as Linux joins it with forwarding on).
  return im.sysctl.v[ip6Forwarding.slot] === 1 && in6Equal(IN6ADDR_LINKLOCAL_ALLROUTERS, 0, b, o);
}

/**
 * Source address selection (RFC 6724, the rules that matter with one or
 * two addresses per interface): never a tentative or duplicated address;
 * a link-local destination gets the outgoing interface's link-local
 * address; otherwise a global address, preferring the outgoing interface
 * and then the longest common prefix with the destination.
 */
export function in6SelectSource(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number): In6Addr | undefined {
  const ii = im.in6.ifs.get(ifp);
  const ll = in6IsLinkLocal(b, o) || (in6IsMulticast(b, o) && (b[o + 1]! & 0xf) <= 2);
  let best: In6Ifaddr | undefined;
  let bestScore = -1;
  const consider = (ia: In6Ifaddr, onIf: boolean): void => {
    if ((ia.flags & IN6_IFF_NOTREADY) !== 0) return;
    const isLL = in6IsLinkLocal(ia.addr);
    if (isLL && ia.ifp !== ifp) return;
    // Rule 2 (appropriate scope), rule 3 (avoid deprecated), rule 5 (outgoing interface), rule 8 (longest matching prefix).
    const score = (isLL === ll ? 1000 : 0) + ((ia.flags & IN6_IFF.DEPRECATED) === 0 ? 700 : 0) + (onIf ? 500 : 0) + in6CommonPrefix(ia.addr, 0, b, o);
    if (score > bestScore) {
      best = ia;
      bestScore = score;
    }
  };
  if (ii !== undefined) for (const ia of ii.addrs) consider(ia, true);
  if (!ll) for (const ia of im.in6.all) if (ia.ifp !== ifp && !ia.ifp.loopback) consider(ia, false);
  return best?.addr;
}
