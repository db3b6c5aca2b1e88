/**
 * Router and prefix discovery as a host (RFC 4861 6.3; FreeBSD's
 * nd6_rtr.c) and stateless address autoconfiguration (RFC 4862 5.5):
 * router advertisements accepted on interfaces with the ACCEPT_RTADV ND
 * flag (its default for new interfaces is net.inet6.ip6.accept_rtadv, 0 as
 * in FreeBSD 14; `ifconfig IF inet6 accept_rtadv` sets it), the default
 * router list with a default route through the first router, the prefix
 * list with on-link routes, SLAAC addresses (EUI-64 interface id, DAD,
 * valid and preferred lifetimes that expire, deprecated state), the MTU
 * option, and router solicitations when an accepting interface comes up
 * (RFC 4861 6.3.7; FreeBSD leaves these to rtsold(8)).
 *
 * As FreeBSD does, a router (net.inet6.ip6.forwarding=1) still learns
 * prefixes but takes no default router from an advertisement unless
 * net.inet6.ip6.rfc6204w3 is set. Router solicitations are validated here
 * (RFC 4861 6.1.1) and handed to rtadvd through an ICMPv6 endpoint.
 *
 * Every invalid message is counted (badra, badrs) and dropped; nothing
 * here throws on input. Time runs on one timer per image.
 */

import type { Timer } from '../clock.js';
import { allocPacket } from '../netinet/ip_var.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { RTF } from '../netinet/route.js';
import { sysctlInt } from '../sysctl.js';
import { u16, u32 } from '../wire/bytes.js';
import type { Mac } from '../wire/ethernet.js';
import { ICMP6_TYPE, ND_OPT, ND_RA_LEN, ND_RS_LEN, emitNdLla, icmp6FillChecksum } from '../wire/icmp6.js';
import {
  IN6ADDR_ANY,
  IN6ADDR_LINKLOCAL_ALLROUTERS,
  IP6_HDR_LEN,
  IP6_SRC_OFF,
  IPPROTO6,
  IPV6_MMTU,
  emitIpv6Raw,
  in6Equal,
  in6IsLinkLocal,
  in6IsMulticast,
  in6IsUnspecified,
  in6LinkLocalFromMac,
  in6Mask,
  ip6ToString,
  type In6Addr,
} from '../wire/ipv6.js';
import { in6AddAddress, in6DeleteAddress, in6Ifinfo, in6SelectSource } from './in6.js';
import { IN6_IFF, IN6_IFF_NOTREADY, ND6_IFF, ip6Forwarding, type In6Ifaddr } from './ip6_var.js';
import { ip6ToLink } from './ip6_output.js';
import { PFIL_PASS } from '../net/pfil.js';
import { nd6Lookup } from './nd6.js';
import { nd6CacheLladdr } from './nd6_nbr.js';
import type { Route6 } from './route6.js';

export const ip6AcceptRtadv = sysctlInt({
  name: 'net.inet6.ip6.accept_rtadv',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Default value of per-interface flag for accepting ICMPv6 RA messages',
});
export const ip6Rfc6204w3 = sysctlInt({
  name: 'net.inet6.ip6.rfc6204w3',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Accept the default router list from ICMPv6 RA messages even when packet forwarding is enabled',
});
/** FreeBSD's bounds on what advertisements may add per interface (an RA flood must not grow the lists without end). */
export const ip6MaxIfDefRouters = sysctlInt({
  name: 'net.inet6.ip6.maxifdefrouters',
  def: 16,
  min: 0,
  max: 1024,
  descr: 'Max number of default routers to add per interface',
});
export const ip6MaxIfPrefixes = sysctlInt({
  name: 'net.inet6.ip6.maxifprefixes',
  def: 16,
  min: 0,
  max: 1024,
  descr: 'Max number of prefixes to add per interface',
});

/** Lifetimes of 0xffffffff seconds never expire (RFC 4861 4.6.2). */
export const ND6_INFINITE_LIFETIME = 0xffffffff;
/** RFC 4861 10 host constants. */
export const MAX_RTR_SOLICITATIONS = 3;
export const RTR_SOLICITATION_INTERVAL = 4_000;
const MAX_RTR_SOLICITATION_DELAY = 1_000;
/** RFC 4862 5.5.3 (e): a received valid lifetime below this cannot shorten an address's. */
const TWO_HOURS = 7200;
const HLIM_ND = 255;
/** RA flag bits (RFC 4861 4.2, RFC 4191 2.2). */
export const ND_RA_FLAG = { MANAGED: 0x80, OTHER: 0x40, RTPREF_MASK: 0x18 } as const;

/** One entry of the default router list (FreeBSD's nd_defrouter). */
export interface NdDefRouter {
  readonly addr: In6Addr;
  readonly ifp: Ifnet;
  /** The RA's flags byte (M, O, preference). */
  raflags: number;
  /** Router lifetime in seconds, and when it ends (clock ms). */
  lifetime: number;
  expire: number;
}

/** One entry of the prefix list (FreeBSD's nd_prefix), with the SLAAC address made from it. */
export interface NdPrefix {
  readonly prefix: In6Addr;
  readonly prefixLen: number;
  readonly ifp: Ifnet;
  onLink: boolean;
  autonomous: boolean;
  /** Lifetimes as last advertised (seconds) and when on-link validity ends (clock ms; Infinity: never). */
  vltime: number;
  pltime: number;
  expire: number;
  /** The on-link route this prefix installed, if any. */
  route: Route6 | null;
  /** The autoconfigured address and its lifetimes' deadlines (clock ms). */
  addr: In6Ifaddr | null;
  addrExpire: number;
  addrPreferred: number;
  /** Routers that advertised it. */
  readonly routers: In6Addr[];
}

/** Per-interface router discovery state. */
interface RtrIf {
  /** The MTU option's value (0: none). */
  linkmtu: number;
  /** Solicitations still to send, and when the next is due. */
  rsLeft: number;
  rsNext: number;
}

export class Nd6RtrState {
  routers: NdDefRouter[] = [];
  prefixes: NdPrefix[] = [];
  readonly ifs = new Map<Ifnet, RtrIf>();
  /** The default route installed from the router list (null: none of ours). */
  defRoute: Route6 | null = null;
  timer: Timer | null = null;
  timerAt = Infinity;
  tick: (() => void) | null = null;
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly nd6rtr: Nd6RtrState;
  }
}

export function nd6RtrInit(im: Vnet): void {
  im.nd6rtr.tick = (): void => rtrTimer(im);
}

export function nd6RtrDestroy(im: Vnet): void {
  const s = im.nd6rtr;
  s.timer?.cancel();
  s.timer = null;
  s.timerAt = Infinity;
  s.tick = null;
  s.routers = [];
  s.prefixes = [];
  s.ifs.clear();
  s.defRoute = null;
}

function schedule(im: Vnet, at: number): void {
  const s = im.nd6rtr;
  if (s.tick === null || at >= s.timerAt || at === Infinity) return;
  s.timer?.cancel();
  s.timerAt = at;
  s.timer = im.clock.after(Math.max(0, at - im.clock.now()), s.tick);
}

function rtrIf(im: Vnet, ifp: Ifnet): RtrIf {
  let r = im.nd6rtr.ifs.get(ifp);
  if (r === undefined) {
    r = { linkmtu: 0, rsLeft: 0, rsNext: Infinity };
    im.nd6rtr.ifs.set(ifp, r);
  }
  return r;
}

/** The MTU an RA's MTU option set on `ifp` (0: none). */
export function nd6LinkMtu(im: Vnet, ifp: Ifnet): number {
  return im.nd6rtr.ifs.get(ifp)?.linkmtu ?? 0;
}

function accepting(im: Vnet, ifp: Ifnet): boolean {
  return !ifp.loopback && (in6Ifinfo(im, ifp).ndFlags & ND6_IFF.ACCEPT_RTADV) !== 0;
}

/**
 * An interface came up, or started accepting advertisements: a host
 * solicits them (RFC 4861 6.3.7: after a random delay, up to
 * MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart).
 */
export function nd6RtrIfUp(im: Vnet, ifp: Ifnet): void {
  if (!accepting(im, ifp) || im.sysctl.v[ip6Forwarding.slot] === 1 || !ifp.up) return;
  const r = rtrIf(im, ifp);
  r.rsLeft = MAX_RTR_SOLICITATIONS;
  r.rsNext = im.clock.now() + Math.floor(im.random() * MAX_RTR_SOLICITATION_DELAY);
  schedule(im, r.rsNext);
}

/** Set or clear the ACCEPT_RTADV flag of `ifp` (ifconfig IF inet6 [-]accept_rtadv). */
export function nd6SetAcceptRtadv(im: Vnet, ifp: Ifnet, on: boolean): void {
  const ii = in6Ifinfo(im, ifp);
  const was = (ii.ndFlags & ND6_IFF.ACCEPT_RTADV) !== 0;
  if (on) ii.ndFlags |= ND6_IFF.ACCEPT_RTADV;
  else ii.ndFlags &= ~ND6_IFF.ACCEPT_RTADV;
  if (on && !was) nd6RtrIfUp(im, ifp);
  if (!on) {
    const r = im.nd6rtr.ifs.get(ifp);
    if (r !== undefined) r.rsLeft = 0;
  }
}

/** The interface leaves the image: its routers, prefixes and state go (its addresses and routes went already). */
export function nd6RtrPurgeInterface(im: Vnet, ifp: Ifnet): void {
  const s = im.nd6rtr;
  s.routers = s.routers.filter((r) => r.ifp !== ifp);
  s.prefixes = s.prefixes.filter((p) => p.ifp !== ifp);
  s.ifs.delete(ifp);
  if (s.defRoute !== null && s.defRoute.ifp === ifp) s.defRoute = null;
  defrouterSelect(im);
}

/** Send one router solicitation on `ifp`: from its link-local address with our link-layer address, or from :: without (RFC 4861 4.1). */
function rsOutput(im: Vnet, ifp: Ifnet): void {
  const p = allocPacket(IP6_HDR_LEN + ND_RS_LEN + 8);
  const b = p.buf;
  const ic = p.off + IP6_HDR_LEN;
  const src = in6SelectSource(im, ifp, IN6ADDR_LINKLOCAL_ALLROUTERS, 0);
  const ll = src !== undefined && in6IsLinkLocal(src);
  b.fill(0, ic, ic + ND_RS_LEN);
  b[ic] = ICMP6_TYPE.ROUTER_SOLICIT;
  let n = ND_RS_LEN;
  if (ll) n += emitNdLla(ND_OPT.SOURCE_LINKADDR, ifp.mac, b, ic + n);
  emitIpv6Raw(b, p.off, n, IPPROTO6.ICMPV6, HLIM_ND, ll ? src : IN6ADDR_ANY, 0, IN6ADDR_LINKLOCAL_ALLROUTERS, 0);
  icmp6FillChecksum(b, p.off, ic, n);
  im.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT]!++;
  im.ip6stat.localout++;
  if (im.inet6Pfil.runOut(null, ifp, 0, b, p.off, IP6_HDR_LEN + n, ifp.mtu, im.noOffload) !== PFIL_PASS) return; // ipfw sees it, as through ip6_output
  ip6ToLink(im, ifp, IN6ADDR_LINKLOCAL_ALLROUTERS, 0, b, p.off, IP6_HDR_LEN + n, im.noOffload);
}

/**
 * A router solicitation at buf[ic, ic+len) (RFC 4861 6.1.1): true when it
 * is valid and should reach rtadvd. A router caches the sender's link-layer
 * address (6.2.6); a host ignores solicitations.
 */
export function nd6RsInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, ip: number, ic: number, len: number): boolean {
  const st = im.icmp6stat;
  const opts = im.ip6Views.ndopts;
  if (buf[ip + 7] !== HLIM_ND || buf[ic + 1] !== 0 || len < ND_RS_LEN || !opts.parse(buf, ic + ND_RS_LEN, ic + len)) {
    st.badrs++;
    return false;
  }
  const unspec = in6IsUnspecified(buf, ip + IP6_SRC_OFF);
  // From ::, a source link-layer address option is not allowed.
  if (unspec && opts.slla >= 0) {
    st.badrs++;
    return false;
  }
  if (im.sysctl.v[ip6Forwarding.slot] !== 1) return false;
  if (!unspec && opts.slla >= 0) nd6CacheLladdr(im, ifp, buf, ip + IP6_SRC_OFF, opts.slla as Mac);
  return true;
}

/** A router advertisement at buf[ic, ic+len) (RFC 4861 6.1.2, 6.3.4; RFC 4862 5.5.3). */
export function nd6RaInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, ip: number, ic: number, len: number): void {
  if (!accepting(im, ifp)) return;
  const st = im.icmp6stat;
  const opts = im.ip6Views.ndopts;
  const src = ip + IP6_SRC_OFF;
  if (buf[ip + 7] !== HLIM_ND || !in6IsLinkLocal(buf, src) || buf[ic + 1] !== 0 || len < ND_RA_LEN || !opts.parse(buf, ic + ND_RA_LEN, ic + len)) {
    st.badra++;
    return;
  }
  const s = im.nd6rtr;
  const ii = in6Ifinfo(im, ifp);
  const now = im.clock.now();
  const r = rtrIf(im, ifp);
  r.rsLeft = 0; // an advertisement came: stop soliciting (RFC 4861 6.3.7)
  const raflags = buf[ic + 5]!;
  let rtlifetime = u16(buf, ic + 6);
  const reachable = u32(buf, ic + 8);
  const retrans = u32(buf, ic + 12);
  // RFC 4861 6.3.4: non-zero values override ours.
  if (reachable !== 0 && reachable <= 3_600_000 && reachable !== ii.baseReachable) {
    ii.baseReachable = reachable;
    ii.reachable = Math.round(reachable * (0.5 + im.random()));
  }
  if (retrans !== 0 && retrans <= 3_600_000) ii.retrans = retrans;
  // A router takes no default router from advertisements (FreeBSD: unless rfc6204w3).
  if (im.sysctl.v[ip6Forwarding.slot] === 1 && im.sysctl.v[ip6Rfc6204w3.slot] !== 1) rtlifetime = 0;
  const srcAddr = buf.slice(src, src + 16);
  let dr = s.routers.find((d) => d.ifp === ifp && in6Equal(d.addr, 0, srcAddr, 0));
  if (rtlifetime === 0) {
    if (dr !== undefined) s.routers = s.routers.filter((d) => d !== dr);
  } else {
    if (dr === undefined) {
      let k = 0;
      for (const d of s.routers) if (d.ifp === ifp) k++;
      // Beyond maxifdefrouters a new router is not listed; the rest of its advertisement still counts.
      if (k < im.sysctl.v[ip6MaxIfDefRouters.slot]!) {
        dr = { addr: srcAddr, ifp, raflags, lifetime: rtlifetime, expire: 0 };
        s.routers = [...s.routers, dr];
      }
    }
    if (dr !== undefined) {
      dr.raflags = raflags;
      dr.lifetime = rtlifetime;
      dr.expire = now + rtlifetime * 1000;
      schedule(im, dr.expire);
    }
  }
  if (opts.slla >= 0) {
    nd6CacheLladdr(im, ifp, buf, src, opts.slla as Mac);
    const e = nd6Lookup(im, ifp, buf, src);
    if (e !== undefined) e.isRouter = true;
  }
  // The MTU option: between the IPv6 minimum and the link's own (RFC 4861 6.3.4).
  if (opts.mtu >= 0) {
    if (opts.mtu >= IPV6_MMTU && opts.mtu <= ifp.mtu) r.linkmtu = opts.mtu;
    else st.badra++;
  }
  for (let i = 0; i < opts.nprefix; i++) prefixInput(im, ifp, buf, opts.prefixes[i]!, srcAddr, now);
  defrouterSelect(im);
}

/** One prefix information option at buf[p] (32 bytes, checked by the option walk). */
function prefixInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, p: number, router: In6Addr, now: number): void {
  const plen = buf[p + 2]!;
  const onLink = (buf[p + 3]! & 0x80) !== 0;
  const auto = (buf[p + 3]! & 0x40) !== 0;
  const vltime = u32(buf, p + 4);
  const pltime = u32(buf, p + 8);
  // RFC 4862 5.5.3 (b), (c); RFC 4861 6.3.4: link-local and multicast prefixes, impossible lengths and lifetimes are ignored.
  if (plen > 128 || in6IsLinkLocal(buf, p + 16) || in6IsMulticast(buf, p + 16) || pltime > vltime) {
    im.icmp6stat.badra++;
    return;
  }
  const prefix = in6Mask(buf.slice(p + 16, p + 32), plen);
  const s = im.nd6rtr;
  let pr = s.prefixes.find((x) => x.ifp === ifp && x.prefixLen === plen && in6Equal(x.prefix, 0, prefix, 0));
  if (pr === undefined) {
    if (vltime === 0) return;
    let k = 0;
    for (const x of s.prefixes) if (x.ifp === ifp) k++;
    if (k >= im.sysctl.v[ip6MaxIfPrefixes.slot]!) return;
    pr = { prefix, prefixLen: plen, ifp, onLink, autonomous: auto, vltime, pltime, expire: 0, route: null, addr: null, addrExpire: 0, addrPreferred: 0, routers: [] };
    s.prefixes = [...s.prefixes, pr];
  }
  // L clear says nothing about on-link status (RFC 4861 4.6.2): an on-link prefix stays so until it expires.
  pr.onLink ||= onLink;
  pr.autonomous = auto;
  pr.vltime = vltime;
  pr.pltime = pltime;
  if (pr.routers.length < im.sysctl.v[ip6MaxIfDefRouters.slot]! && !pr.routers.some((a) => in6Equal(a, 0, router, 0))) pr.routers.push(router);
  if (onLink) {
    pr.expire = deadline(now, vltime);
    if (vltime > 0 && pr.route === null && im.route6.get(prefix, plen) === undefined) {
      pr.route = im.route6.add({ dst: prefix, prefixLen: plen, gateway: null, ifp, flags: RTF.UP });
    }
    schedule(im, pr.expire);
  }
  if (auto) slaac(im, ifp, pr, vltime, pltime, now);
  if (pr.expire <= now && (pr.addr === null || pr.addrExpire <= now)) dropPrefix(im, pr);
}

function deadline(now: number, seconds: number): number {
  return seconds === ND6_INFINITE_LIFETIME ? Infinity : now + seconds * 1000;
}

/** RFC 4862 5.5.3 (d), (e): form an address from the prefix and our EUI-64 interface id, or refresh its lifetimes. */
function slaac(im: Vnet, ifp: Ifnet, pr: NdPrefix, vltime: number, pltime: number, now: number): void {
  if (pr.addr !== null && !im.in6.all.includes(pr.addr)) pr.addr = null; // removed by hand
  if (pr.addr === null) {
    // The interface identifier is 64 bits: any other prefix length cannot be used (5.5.3 (d)).
    if (vltime === 0 || pr.prefixLen !== 64) return;
    const a = in6LinkLocalFromMac(ifp.mac);
    a.set(pr.prefix.subarray(0, 8), 0);
    if (im.in6.all.some((x) => in6Equal(x.addr, 0, a, 0))) return;
    try {
      pr.addr = in6AddAddress(im, ifp, a, 64, { autoconf: true });
    } catch {
      return; // configured on another interface: nothing to do
    }
    pr.addr.flags |= IN6_IFF.AUTOCONF;
    pr.addrExpire = deadline(now, vltime);
    pr.addrPreferred = deadline(now, pltime);
    im.log.info({ ifname: ifp.name, addr: ip6ToString(a) }, 'nd6: address autoconfigured from a router advertisement');
  } else {
    // (e): the preferred lifetime is taken as is; the valid one cannot be cut below two hours by an advertisement.
    pr.addrPreferred = deadline(now, pltime);
    const remaining = (pr.addrExpire - now) / 1000;
    if (vltime > TWO_HOURS || vltime > remaining) pr.addrExpire = deadline(now, vltime);
    else if (remaining > TWO_HOURS) pr.addrExpire = now + TWO_HOURS * 1000;
  }
  if (pr.addrPreferred > now) pr.addr.flags &= ~IN6_IFF.DEPRECATED;
  else pr.addr.flags |= IN6_IFF.DEPRECATED;
  schedule(im, Math.min(pr.addrExpire, pr.addrPreferred > now ? pr.addrPreferred : Infinity));
}

function dropPrefix(im: Vnet, pr: NdPrefix): void {
  const s = im.nd6rtr;
  s.prefixes = s.prefixes.filter((x) => x !== pr);
  removeRoute(im, pr.route);
  pr.route = null;
  if (pr.addr !== null && im.in6.all.includes(pr.addr)) in6DeleteAddress(im, pr.ifp, pr.addr.addr);
  pr.addr = null;
}

function removeRoute(im: Vnet, r: Route6 | null): void {
  if (r !== null && im.route6.routes.includes(r)) im.route6.routes = im.route6.routes.filter((x) => x !== r);
}

/**
 * The default route follows the router list (FreeBSD's defrouter_select):
 * through the first router whose neighbour entry is not known unreachable,
 * else the first; none when the list is empty. A default route someone
 * added by hand is left alone.
 */
function defrouterSelect(im: Vnet): void {
  const s = im.nd6rtr;
  const cur = s.defRoute;
  if (cur !== null && !im.route6.routes.includes(cur)) s.defRoute = null;
  const pick = s.routers.find((d) => nd6Lookup(im, d.ifp, d.addr, 0) !== undefined) ?? s.routers[0];
  if (s.defRoute !== null && pick !== undefined && s.defRoute.ifp === pick.ifp && in6Equal(s.defRoute.gateway!, 0, pick.addr, 0)) return;
  removeRoute(im, s.defRoute);
  s.defRoute = null;
  if (pick === undefined || im.route6.get(IN6ADDR_ANY, 0) !== undefined) return;
  s.defRoute = im.route6.add({ dst: IN6ADDR_ANY, prefixLen: 0, gateway: pick.addr, ifp: pick.ifp, flags: RTF.UP | RTF.GATEWAY });
}

/** The image's router discovery timer: solicitations, router and prefix lifetimes, deprecation. */
function rtrTimer(im: Vnet): void {
  const s = im.nd6rtr;
  s.timer = null;
  s.timerAt = Infinity;
  const now = im.clock.now();
  let next = Infinity;
  for (const [ifp, r] of s.ifs) {
    if (r.rsLeft > 0 && r.rsNext <= now) {
      if (accepting(im, ifp) && ifp.up && im.sysctl.v[ip6Forwarding.slot] !== 1) rsOutput(im, ifp);
      r.rsLeft--;
      r.rsNext = r.rsLeft > 0 ? now + RTR_SOLICITATION_INTERVAL : Infinity;
    }
    if (r.rsLeft > 0) next = Math.min(next, r.rsNext);
  }
  const before = s.routers.length;
  s.routers = s.routers.filter((d) => d.expire > now);
  if (s.routers.length !== before) defrouterSelect(im);
  for (const d of s.routers) next = Math.min(next, d.expire);
  for (const pr of [...s.prefixes]) {
    if (pr.addr !== null && !im.in6.all.includes(pr.addr)) pr.addr = null;
    if (pr.addr !== null) {
      if (pr.addrExpire <= now) {
        in6DeleteAddress(im, pr.ifp, pr.addr.addr);
        pr.addr = null;
      } else if (pr.addrPreferred <= now) pr.addr.flags |= IN6_IFF.DEPRECATED;
    }
    if (pr.onLink && pr.expire <= now) {
      removeRoute(im, pr.route);
      pr.route = null;
      pr.onLink = false;
    }
    if (!pr.onLink && pr.addr === null) {
      dropPrefix(im, pr);
      continue;
    }
    if (pr.onLink) next = Math.min(next, pr.expire);
    if (pr.addr !== null) next = Math.min(next, pr.addrExpire, pr.addrPreferred > now ? pr.addrPreferred : Infinity);
  }
  schedule(im, next);
}

/** `ndp -R`: empty the default router list (and the default route it made). */
export function nd6RtrFlushRouters(im: Vnet): void {
  im.nd6rtr.routers = [];
  defrouterSelect(im);
}

/** `ndp -P`: empty the prefix list; its on-link routes and autoconfigured addresses go with it. */
export function nd6RtrFlushPrefixes(im: Vnet): void {
  for (const pr of [...im.nd6rtr.prefixes]) dropPrefix(im, pr);
}

/** Is the address usable but deprecated (its preferred lifetime ended)? Source selection avoids it (RFC 6724 rule 3). */
export function in6IsDeprecated(ia: In6Ifaddr): boolean {
  return (ia.flags & (IN6_IFF.DEPRECATED | IN6_IFF_NOTREADY)) === IN6_IFF.DEPRECATED;
}
