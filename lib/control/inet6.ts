/**
 * The IPv6 part of an image's control surface: inet6 addresses as plain
 * data (for ifconfig and configuration), the neighbor cache (ndp -a, -d,
 * -s, -i) and ICMPv6 endpoints for ping6. Changes go through lib/netinet6
 * (in6 for addresses, nd6 for neighbours), never by editing its tables.
 */

import type { Image } from '../image.js';
import { E, fail } from '../errors.js';
import type { Ifnet } from '../net/if.js';
import { RTF } from '../netinet/route.js';
import { Icmp6Endpoint } from '../netinet6/icmp6.js';
import { in6AddAddress, in6DeleteAddress, in6Ifinfo, in6Local, in6SelectSource } from '../netinet6/in6.js';
import { IN6_IFF, ND6_IFF_NAMES, ip6DefHlim } from '../netinet6/ip6_var.js';
import { mld6Info, mldUseAllow } from '../netinet6/mld6.js';
import { ND6_LLINFO, ND6_STATE_NAMES, nd6AddStatic, nd6Delete, nd6Entries, nd6Lookup } from '../netinet6/nd6.js';
import { ND6_INFINITE_LIFETIME, ND_RA_FLAG, nd6LinkMtu, nd6RtrFlushPrefixes, nd6RtrFlushRouters, nd6SetAcceptRtadv } from '../netinet6/nd6_rtr.js';
import { ip6PathMtu } from '../netinet6/pmtu6.js';
import { macToString, type Mac } from '../wire/ethernet.js';
import { IN6ADDR_LOOPBACK, in6McastMac, in6IsLinkLocal, in6LinkLocalFromMac, in6Equal, ip6ToString, parseIp6, type In6Addr } from '../wire/ipv6.js';

const LO_LL = parseIp6('fe80::1')!;

/** One inet6 address of an interface, as `ifconfig --json` prints it. */
export interface Inet6AddressInfo {
  /** The address, with `%IF` for a link-local one. */
  address: string;
  prefixLen: number;
  /** The zone (interface index) of a link-scoped address. */
  scopeId?: number;
  /** FreeBSD's IN6_IFF_* flags by name (tentative, duplicated, ...). */
  flags: string[];
  /** The link-local address made from the MAC (not saved with the configuration). */
  auto: boolean;
}

/** An interface's ND state (`nd6 options=` in ifconfig, `ndp -i`). */
export interface Nd6IfInfo {
  options: number;
  optionNames: string[];
  linkmtu: number;
  maxmtu: number;
  curhlim: number;
  basereachableMs: number;
  reachableMs: number;
  retransMs: number;
}

/** One neighbor cache entry, as `ndp -a --json` prints it. */
export interface Nd6NeighbourInfo {
  /** With `%IF` for a link-local address. */
  address: string;
  mac: string | null;
  interface: string;
  /** Seconds left; null for permanent entries. */
  expires: number | null;
  /** ndp's state letter: I, R, S, D, P. */
  state: string;
  router: boolean;
  /** One of the image's own addresses. */
  own: boolean;
  static: boolean;
}

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IN6_IFF.ANYCAST, 'anycast'],
  [IN6_IFF.TENTATIVE, 'tentative'],
  [IN6_IFF.DUPLICATED, 'duplicated'],
  [IN6_IFF.DETACHED, 'detached'],
  [IN6_IFF.DEPRECATED, 'deprecated'],
  [IN6_IFF.AUTOCONF, 'autoconf'],
  [IN6_IFF.TEMPORARY, 'temporary'],
  [IN6_IFF.PREFER_SOURCE, 'prefer_source'],
];

function withZone(a: Uint8Array, ifp: Ifnet): string {
  return in6IsLinkLocal(a) ? `${ip6ToString(a)}%${ifp.name}` : ip6ToString(a);
}

/** The inet6 addresses of `ifp` in `im` (configuration order). */
export function inet6Info(im: Image, ifp: Ifnet): Inet6AddressInfo[] {
  const ii = im.in6.ifs.get(ifp);
  if (ii === undefined) return [];
  const auto = ifp.loopback ? null : in6LinkLocalFromMac(ifp.mac);
  return ii.addrs.map((ia) => ({
    address: withZone(ia.addr, ifp),
    prefixLen: ia.prefixLen,
    ...(in6IsLinkLocal(ia.addr) ? { scopeId: ifp.index } : {}),
    flags: FLAG_NAMES.filter(([bit]) => (ia.flags & bit) !== 0).map(([, n]) => n),
    auto: (ia.flags & IN6_IFF.AUTOCONF) !== 0 || (auto !== null ? in6Equal(ia.addr, 0, auto, 0) : in6Equal(ia.addr, 0, LO_LL, 0) || in6Equal(ia.addr, 0, IN6ADDR_LOOPBACK, 0)),
  }));
}

export function nd6IfInfo(im: Image, ifp: Ifnet): Nd6IfInfo {
  const ii = in6Ifinfo(im, ifp);
  return {
    options: ii.ndFlags,
    optionNames: ND6_IFF_NAMES.filter(([bit]) => (ii.ndFlags & bit) !== 0).map(([, n]) => n),
    linkmtu: nd6LinkMtu(im, ifp),
    maxmtu: ifp.mtu,
    curhlim: im.sysctl.get(ip6DefHlim),
    basereachableMs: ii.baseReachable,
    reachableMs: ii.reachable,
    retransMs: ii.retrans,
  };
}

/** One entry of the default router list, as `ndp -r --json` prints it. */
export interface Nd6RouterInfo {
  /** The router's link-local address with its zone. */
  address: string;
  interface: string;
  /** The RA's M and O flags as ndp prints them. */
  flags: string;
  /** Router preference (RFC 4191): medium, high, rsv or low. */
  preference: string;
  /** Seconds left; null for never. */
  expires: number | null;
}

/** One entry of the prefix list, as `ndp -p --json` prints it. */
export interface Nd6PrefixInfo {
  prefix: string;
  prefixLen: number;
  interface: string;
  /** ndp's flags: L (on-link advertised), A (autonomous), O (on-link now). */
  flags: string;
  /** Lifetimes in seconds; null for infinity. */
  vltime: number | null;
  pltime: number | null;
  /** Seconds until the prefix expires; null for never. */
  expires: number | null;
  /** The address made from it by SLAAC, if any. */
  address: string | null;
  advertisedBy: Array<{ address: string; state: 'reachable' | 'unreachable' | 'no neighbor state' }>;
}

/** One IPv6 route, as `netstat -rn` and `route -6 get` show it. */
export interface Route6Info {
  /** The prefix (`2001:db8::/64`, `fe80::%tap0/64`, `default`) or a host address. */
  destination: string;
  prefixLen: number;
  /** The next hop, or `link#N` for a connected prefix. */
  gateway: string;
  flags: number;
  interface: string;
  interfaceIndex: number;
  mtu: number;
  use: number;
}

/** An ICMPv6 endpoint for a program (ping6): messages in with their source, out to a destination. */
export interface Icmp6Socket {
  /** `msg` is a view of the ICMPv6 message (valid during the call); `from` the source with its zone; `ifname` the interface it came in on. */
  onMessage(fn: (msg: Uint8Array, from: string, hlim: number, ifname: string) => void): void;
  /** 0, or the errno a sendto would fail with. */
  send(dst: In6Addr, msg: Uint8Array, o?: { zone?: string; hlim?: number; src?: In6Addr }): string | 0;
  close(): void;
}

/** ifmcstat's view of one interface: its MLD state and the groups it listens to. */
export interface Mld6Info {
  interface: string;
  /** The link-local address ifmcstat prints the MLD line under, with its zone. */
  linkLocal: string | null;
  version: number;
  /** FreeBSD's mli_flags: 2 = USEALLOW. */
  flags: number;
  rv: number;
  qi: number;
  qri: number;
  uri: number;
  groups: Array<{ group: string; mode: 'exclude'; mac: string }>;
}

export class Inet6Control {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  /** An interface of the image by name (a zone), with a coded error when missing. */
  #zone(name: string): Ifnet {
    return this.#im.ifnet(name);
  }

  addAddress(ifname: string, addr: In6Addr, prefixLen: number): void {
    in6AddAddress(this.#im, this.#zone(ifname), addr, prefixLen);
  }

  deleteAddress(ifname: string, addr: In6Addr): void {
    in6DeleteAddress(this.#im, this.#zone(ifname), addr);
  }

  /** The image's own address `a` (any interface), if it is one: its interface's name. */
  ownerOf(a: In6Addr): string | undefined {
    return this.#im.in6.all.find((ia) => in6Equal(ia.addr, 0, a, 0))?.ifp.name;
  }

  /** MLD state and groups per interface (ifmcstat), in interface order; one interface with `ifname`. */
  multicast(ifname?: string): Mld6Info[] {
    const im = this.#im;
    const ifp = ifname !== undefined ? this.#zone(ifname) : undefined;
    const out: Mld6Info[] = [];
    for (const m of mld6Info(im)) {
      const i = im.ifnets.get(m.interface);
      if (i === undefined || (ifp !== undefined && i !== ifp)) continue;
      const ll = in6Ifinfo(im, i).addrs.find((a) => in6IsLinkLocal(a.addr));
      out.push({
        interface: m.interface,
        linkLocal: ll !== undefined ? withZone(ll.addr, i) : null,
        version: m.version,
        flags: im.sysctl.v[mldUseAllow.slot] === 1 ? 2 : 0,
        rv: m.rv,
        qi: m.qi,
        qri: m.qri,
        uri: m.uri,
        groups: m.groups.filter((g) => !g.leaving).map((g) => ({ group: (g.group[1]! & 0xf) <= 2 ? `${ip6ToString(g.group)}%${i.name}` : ip6ToString(g.group), mode: 'exclude' as const, mac: macToString(in6McastMac(g.group, 0) as Mac) })),
      });
    }
    return out.sort((a, b) => im.ifnets.get(a.interface)!.index - im.ifnets.get(b.interface)!.index);
  }

  ndInfo(ifname: string): Nd6IfInfo {
    return nd6IfInfo(this.#im, this.#zone(ifname));
  }

  /** Neighbor cache entries and the image's own addresses (permanent), by interface then address. */
  neighbours(ifname?: string): Nd6NeighbourInfo[] {
    const im = this.#im;
    const now = im.clock.now();
    const out: Nd6NeighbourInfo[] = [];
    for (const ia of im.in6.all) {
      if (ia.ifp.loopback) continue;
      out.push({ address: withZone(ia.addr, ia.ifp), mac: macToString(ia.ifp.mac), interface: ia.ifp.name, expires: null, state: 'R', router: false, own: true, static: false });
    }
    for (const e of nd6Entries(im)) {
      out.push({
        address: withZone(e.addr, e.ifp),
        mac: e.state === 0 && !e.static ? null : macToString(e.mac),
        interface: e.ifp.name,
        expires: e.static || e.expire === Infinity ? null : Math.max(0, Math.floor((e.expire - now) / 1000)),
        state: ND6_STATE_NAMES[e.state] ?? '?',
        router: e.isRouter,
        own: false,
        static: e.static,
      });
    }
    return out.filter((r) => ifname === undefined || r.interface === ifname);
  }

  /** `ndp -s ADDR[%IF] MAC [temp]`: the interface is the zone, or the one whose prefix holds the address. */
  setNeighbour(addr: In6Addr, mac: Mac, zone?: string): void {
    const im = this.#im;
    const own = this.ownerOf(addr);
    if (own !== undefined) fail(E.ADDRESS_EXISTS, `${ip6ToString(addr)}: is an address of ${own}; its entry is permanent`);
    let ifp: Ifnet | undefined = zone !== undefined ? this.#zone(zone) : undefined;
    if (ifp === undefined) {
      if (in6IsLinkLocal(addr)) fail(E.BAD_ARGUMENT, `${ip6ToString(addr)}: a link-local address needs its interface, as ADDR%IF`);
      ifp = im.route6.lookup(addr, 0)?.ifp;
      if (ifp === undefined || ifp.loopback) fail(E.NETWORK_UNREACHABLE, `${ip6ToString(addr)}: no interface has a prefix containing this address; configure one with ifconfig IF inet6 first`);
    }
    nd6AddStatic(im, ifp, addr, mac);
  }

  /** `ndp -d ADDR[%IF]`. */
  deleteNeighbour(addr: In6Addr, zone?: string): void {
    const own = this.ownerOf(addr);
    if (own !== undefined) fail(E.BAD_ARGUMENT, `${ip6ToString(addr)}: is an address of ${own}; remove it with 'ifconfig ${own} inet6 ${ip6ToString(addr)} -alias'`);
    nd6Delete(this.#im, zone !== undefined ? this.#zone(zone) : undefined, addr);
  }

  /**
   * The IPv6 routing table in netstat's order: connected and static routes,
   * and a host route through lo0 for each of the image's addresses (as
   * FreeBSD's rib holds them).
   */
  routes(): Route6Info[] {
    const im = this.#im;
    const out: Array<{ key: Uint8Array; info: Route6Info }> = [];
    for (const r of im.route6.routes) {
      const ll = in6IsLinkLocal(r.dst);
      const dst = r.prefixLen === 0 ? 'default' : `${ip6ToString(r.dst)}${ll ? `%${r.ifp.name}` : ''}/${r.prefixLen}`;
      const gw = r.gateway === null ? `link#${r.ifp.index}` : withZone(r.gateway, r.ifp);
      out.push({ key: r.dst, info: { destination: dst, prefixLen: r.prefixLen, gateway: gw, flags: r.flags, interface: r.ifp.name, interfaceIndex: r.ifp.index, mtu: r.ifp.mtu, use: r.use } });
    }
    for (const ia of im.in6.all) {
      const info = { destination: withZone(ia.addr, ia.ifp), prefixLen: 128, gateway: `link#${im.lo0.index}`, flags: RTF.UP | RTF.HOST | RTF.STATIC, interface: im.lo0.name, interfaceIndex: im.lo0.index, mtu: im.lo0.mtu, use: 0 };
      out.push({ key: ia.addr, info });
    }
    // Address order, shorter prefixes first (the order of FreeBSD's radix walk).
    const cmp = (a: Uint8Array, b: Uint8Array): number => {
      for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return 0;
    };
    return out.sort((a, b) => cmp(a.key, b.key) || a.info.prefixLen - b.info.prefixLen || (a.info.interface < b.info.interface ? -1 : 1)).map((x) => x.info);
  }

  /** The static routes, as the configuration file records them. */
  staticRoutes(): Array<{ dst: string; gateway?: string; interface: string }> {
    return this.#im.route6.routes
      .filter((r) => (r.flags & RTF.STATIC) !== 0)
      .map((r) => ({ dst: `${ip6ToString(r.dst)}/${r.prefixLen}`, ...(r.gateway !== null ? { gateway: withZone(r.gateway, r.ifp) } : {}), interface: r.ifp.name }));
  }

  /**
   * `route -6 add`: a static route to a gateway (on a connected prefix, or
   * link-local with its zone) or out of an interface.
   */
  addRoute(dst: In6Addr, prefixLen: number, to: { gateway: In6Addr; zone?: string } | { interface: string }): void {
    const im = this.#im;
    if (im.route6.get(dst, prefixLen) !== undefined) fail(E.ROUTE_EXISTS, 'route already in table');
    if ('interface' in to) {
      im.route6.add({ dst, prefixLen, gateway: null, ifp: this.#zone(to.interface), flags: RTF.UP | RTF.STATIC | (prefixLen === 128 ? RTF.HOST : 0) });
      return;
    }
    let ifp: Ifnet | undefined;
    if (in6IsLinkLocal(to.gateway)) {
      if (to.zone === undefined) fail(E.BAD_ARGUMENT, `${ip6ToString(to.gateway)}: a link-local gateway needs its interface, as ADDR%IF`);
      ifp = this.#zone(to.zone);
    } else {
      const r = im.route6.lookup(to.gateway, 0);
      if (r === undefined || r.gateway !== null) fail(E.NETWORK_UNREACHABLE, `gateway ${ip6ToString(to.gateway)} is not on a connected prefix; configure one with ifconfig IF inet6 first`);
      ifp = r.ifp;
    }
    im.route6.add({ dst, prefixLen, gateway: to.gateway, ifp, flags: RTF.UP | RTF.GATEWAY | RTF.STATIC | (prefixLen === 128 ? RTF.HOST : 0) });
  }

  /** `route -6 delete`: static routes only (connected ones go with their address). */
  deleteRoute(dst: In6Addr, prefixLen: number): void {
    const r = this.#im.route6.get(dst, prefixLen);
    if (r === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    if ((r.flags & RTF.STATIC) === 0) fail(E.BAD_ARGUMENT, `${ip6ToString(r.dst)}/${prefixLen} is the prefix of an address; remove the address with ifconfig IF inet6 ADDR -alias`);
    this.#im.route6.delete(dst, prefixLen);
  }

  /** `route -6 get`: the route a packet to `dst` takes (or the exact prefix). */
  getRoute(dst: In6Addr, prefixLen?: number): (Route6Info & { dst: In6Addr }) | undefined {
    const im = this.#im;
    const r = prefixLen === undefined ? im.route6.lookup(dst, 0) : im.route6.get(dst, prefixLen);
    if (r === undefined) return undefined;
    return {
      dst: r.dst,
      destination: r.prefixLen === 0 ? 'default' : ip6ToString(r.dst),
      prefixLen: r.prefixLen,
      gateway: r.gateway === null ? `link#${r.ifp.index}` : withZone(r.gateway, r.ifp),
      flags: r.flags,
      interface: r.ifp.name,
      interfaceIndex: r.ifp.index,
      // For a destination, the path MTU a packet to it gets (the link's, or one learned from Packet Too Big).
      mtu: prefixLen === undefined ? ip6PathMtu(im, r.ifp, dst, 0) : r.ifp.mtu,
      use: r.use,
    };
  }

  /** The source address the image would use for `dst` (with its zone), as ping6's heading shows it. */
  selectSource(dst: In6Addr, zone?: string): string | undefined {
    const im = this.#im;
    const ifp = zone !== undefined ? im.ifnets.get(zone) : (in6Local(im, dst, 0, null)?.ifp ?? im.route6.lookup(dst, 0)?.ifp);
    if (ifp === undefined) return undefined;
    const a = in6SelectSource(im, ifp, dst, 0);
    return a === undefined ? undefined : withZone(a, ifp);
  }

  /**
   * An ICMPv6 endpoint; the image closes it when it is destroyed. With
   * `routerSolicitations`, valid router solicitations come to it too (rtadvd).
   */
  icmp6Socket(o: { routerSolicitations?: boolean } = {}): Icmp6Socket {
    const im = this.#im;
    const ep = new Icmp6Endpoint(im);
    ep.wantsRs = o.routerSolicitations === true;
    return {
      onMessage(fn) {
        ep.onPacket((buf, ip, ic, len, ifp) => {
          const from = buf.subarray(ip + 8, ip + 24);
          fn(buf.subarray(ic, ic + len), withZone(from, ifp), buf[ip + 7]!, ifp.name);
        });
      },
      send(dst, msg, o = {}) {
        const zone = o.zone !== undefined ? im.ifnets.get(o.zone) : undefined;
        if (o.zone !== undefined && zone === undefined) return 'ENXIO';
        return ep.send(dst, msg, { ...(zone !== undefined ? { zone } : {}), ...(o.hlim !== undefined ? { hlim: o.hlim } : {}), ...(o.src !== undefined ? { src: o.src } : {}) });
      },
      close() {
        ep.close();
      },
    };
  }

  /** `ifconfig IF inet6 accept_rtadv | -accept_rtadv`: take router advertisements on the interface (a host solicits them at once). */
  setAcceptRtadv(ifname: string, on: boolean): void {
    nd6SetAcceptRtadv(this.#im, this.#zone(ifname), on);
  }

  /** `ndp -r`: the default router list, first (the one the default route uses) first. */
  defaultRouters(): Nd6RouterInfo[] {
    const im = this.#im;
    const now = im.clock.now();
    const prefs = ['medium', 'high', 'rsv', 'low'];
    return im.nd6rtr.routers.map((d) => ({
      address: withZone(d.addr, d.ifp),
      interface: d.ifp.name,
      flags: `${(d.raflags & ND_RA_FLAG.MANAGED) !== 0 ? 'M' : ''}${(d.raflags & ND_RA_FLAG.OTHER) !== 0 ? 'O' : ''}`,
      preference: prefs[(d.raflags & ND_RA_FLAG.RTPREF_MASK) >> 3]!,
      expires: d.expire === Infinity ? null : Math.max(0, Math.floor((d.expire - now) / 1000)),
    }));
  }

  /** `ndp -p`: the prefix list learnt from router advertisements. */
  prefixList(): Nd6PrefixInfo[] {
    const im = this.#im;
    const now = im.clock.now();
    const life = (s: number): number | null => (s === ND6_INFINITE_LIFETIME ? null : s);
    return im.nd6rtr.prefixes.map((p) => {
      const installed = p.route !== null && im.route6.routes.includes(p.route);
      const expire = p.onLink ? p.expire : p.addrExpire;
      return {
        prefix: ip6ToString(p.prefix),
        prefixLen: p.prefixLen,
        interface: p.ifp.name,
        flags: `${p.onLink ? 'L' : ''}${p.autonomous ? 'A' : ''}${installed ? 'O' : ''}`,
        vltime: life(p.vltime),
        pltime: life(p.pltime),
        expires: expire === Infinity ? null : Math.max(0, Math.floor((expire - now) / 1000)),
        address: p.addr !== null && im.in6.all.includes(p.addr) ? ip6ToString(p.addr.addr) : null,
        advertisedBy: p.routers.map((a) => {
          const e = nd6Lookup(im, p.ifp, a, 0);
          const state = e === undefined ? 'no neighbor state' : e.state === ND6_LLINFO.INCOMPLETE ? 'unreachable' : 'reachable';
          return { address: withZone(a, p.ifp), state };
        }),
      };
    });
  }

  /** `ndp -R`: flush the default router list. */
  flushRouters(): void {
    nd6RtrFlushRouters(this.#im);
  }

  /** `ndp -P`: flush the prefix list (with the addresses made from it). */
  flushPrefixes(): void {
    nd6RtrFlushPrefixes(this.#im);
  }
}
