/**
 * The routing part of an image's control surface: list, look up, add,
 * change and delete IPv4 routes (route(8), netstat -r). Routes come back as
 * plain data; the gateway argument is resolved to an interface here, as
 * FreeBSD's route command and rtsock do, so every caller gets the same rules.
 */

import type { Image } from '../image.js';
import { E, fail } from '../errors.js';
import type { Ifnet } from '../net/if.js';
import { selectSource } from '../netinet/ip_output.js';
import { RTF, rtFlagString, type Route } from '../netinet/route.js';

export { RTF, rtFlagString };

/** One route as plain data. */
export interface RouteInfo {
  /** Destination network (or host) address, masked. */
  dst: number;
  prefixLen: number;
  mask: number;
  /** Next hop; 0 for a directly connected destination. */
  gateway: number;
  /** RTF_* flags. */
  flags: number;
  interface: string;
  interfaceIndex: number;
  /** The route's MTU, or the interface's when the route has none. */
  mtu: number;
  /** The route's own MTU; 0 when it follows the interface. */
  routeMtu: number;
  /** Packets that used this route. */
  use: number;
}

function routeInfo(r: Route): RouteInfo {
  return {
    dst: r.dst,
    prefixLen: r.prefixLen,
    mask: r.mask,
    gateway: r.gateway,
    flags: r.flags,
    interface: r.ifp.name,
    interfaceIndex: r.ifp.index,
    mtu: r.mtu !== 0 ? r.mtu : r.ifp.mtu,
    routeMtu: r.mtu,
    use: r.use,
  };
}

/** Where a route goes: `gateway` (an address), `interface` (by name or by one of our addresses), or nowhere (blackhole/reject). */
export type RouteTarget = { gateway: number } | { interface: string } | { none: true };

/** A route to add or change. `flags` may carry RTF.BLACKHOLE / RTF.REJECT. */
export interface RouteSpec {
  dst: number;
  prefixLen: number;
  target: RouteTarget;
  flags: number;
  mtu?: number;
}

export class RoutesControl {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  /** All routes, sorted by destination then prefix length, as netstat -r lists them. */
  list(): RouteInfo[] {
    return this.#im.routes.list().map(routeInfo);
  }

  /** The route for exactly this prefix. */
  get(dst: number, prefixLen: number): RouteInfo | undefined {
    const r = this.#im.routes.get(dst, prefixLen);
    return r === undefined ? undefined : routeInfo(r);
  }

  /** Longest-prefix match (`route get A.B.C.D`). */
  lookup(dst: number): RouteInfo | undefined {
    const r = this.#im.routes.lookup(dst);
    return r === undefined ? undefined : routeInfo(r);
  }

  /** Interface whose connected subnet holds `a` (lo0 included), preferring one that is up. */
  #connected(a: number): Ifnet | undefined {
    let found: Ifnet | undefined;
    for (const ifp of this.#im.ifnets.values()) {
      if (ifp.subnetOf(a) === undefined) continue;
      if (ifp.up) return ifp;
      found ??= ifp;
    }
    return found;
  }

  /** Resolve a target to (interface, next hop, via a gateway); throws coded errors. */
  #resolve(t: RouteTarget): { ifp: Ifnet; gateway: number; viaGateway: boolean } {
    const im = this.#im;
    if ('none' in t) return { ifp: im.lo0, gateway: 0, viaGateway: false };
    if ('interface' in t) {
      const byName = im.ifnets.get(t.interface);
      if (byName !== undefined) return { ifp: byName, gateway: 0, viaGateway: false };
      fail(E.NO_SUCH_INTERFACE, `interface '${t.interface}' does not exist`);
    }
    const gw = t.gateway;
    // A gateway that is one of our own addresses makes an interface route (BSD tradition).
    const own = im.localIfnet(gw);
    if (own !== undefined && !own.loopback) return { ifp: own, gateway: 0, viaGateway: false };
    const ifp = this.#connected(gw);
    if (ifp === undefined) fail(E.NETWORK_UNREACHABLE, 'Network is unreachable');
    return { ifp, gateway: gw, viaGateway: true };
  }

  /**
   * The source address output would pick for `dst` (traceroute's
   * findsaddr): `dst` itself when it is ours; undefined when no usable
   * route leads there (none, or a reject route).
   */
  sourceFor(dst: number): number | undefined {
    const im = this.#im;
    if (im.localIfnet(dst) !== undefined) return dst;
    const rt = im.routes.lookup(dst);
    if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) return undefined;
    return selectSource(im, rt, dst);
  }

  /** The interface an `-interface` argument names: an interface name or one of our addresses. */
  interfaceFor(nameOrAddr: string, addr: number | undefined): string | undefined {
    const im = this.#im;
    if (im.ifnets.has(nameOrAddr)) return nameOrAddr;
    return addr === undefined ? undefined : im.localIfnet(addr)?.name;
  }

  add(spec: RouteSpec): RouteInfo {
    const r = this.#resolve(spec.target);
    const flags = RTF.UP | RTF.STATIC | spec.flags | (r.viaGateway ? RTF.GATEWAY : 0) | (spec.prefixLen === 32 ? RTF.HOST : 0);
    if (this.#im.routes.get(spec.dst, spec.prefixLen) !== undefined) fail(E.ROUTE_EXISTS, 'route already in table');
    return routeInfo(this.#im.routes.add({ dst: spec.dst, prefixLen: spec.prefixLen, gateway: r.gateway, ifp: r.ifp, flags, mtu: spec.mtu ?? 0 }));
  }

  change(spec: RouteSpec): RouteInfo {
    const r = this.#resolve(spec.target);
    const flags = RTF.UP | RTF.STATIC | spec.flags | (r.viaGateway ? RTF.GATEWAY : 0) | (spec.prefixLen === 32 ? RTF.HOST : 0);
    const old = this.#im.routes.get(spec.dst, spec.prefixLen);
    if (old === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    old.gateway = r.gateway;
    old.ifp = r.ifp;
    old.flags = flags;
    if (spec.mtu !== undefined) old.mtu = spec.mtu;
    return routeInfo(old);
  }

  /** Delete the route for this prefix; with `gateway`, only if it goes through that gateway. */
  delete(dst: number, prefixLen: number, gateway?: number): void {
    const r = this.#im.routes.get(dst, prefixLen);
    if (r === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    if (gateway !== undefined && (r.flags & RTF.GATEWAY) !== 0 && r.gateway !== gateway) fail(E.NO_SUCH_ROUTE, 'not in table');
    this.#im.routes.delete(dst, prefixLen);
  }
}
