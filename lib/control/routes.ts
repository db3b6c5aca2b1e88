/**
 * The routing part of an image's control surface: list, look up, add,
 * change and delete IPv4 routes (route(8), netstat -r). Routes come back as
 * plain data; the gateway argument is resolved to an interface here, as
 * FreeBSD's route command and rtsock do, so every caller gets the same rules.
 */

import type { Image } from '../image.js';
import { E, fail, VimageError } from '../errors.js';
import type { Ifnet } from '../net/if.js';
import { selectSource } from '../netinet/ip_output.js';
import { RTF, rtFlagString, type Route } from '../netinet/route.js';
import { RTM, type RouteEvent } from '../netinet/route_events.js';
import { routeMultipath } from '../netinet/route_mpath.js';

export { RTF, RTM, rtFlagString };

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
  /** Seconds until the route expires (a redirect's); 0 when it does not. */
  expire: number;
  /** Number of paths of its prefix (more than 1 for a multipath route). */
  paths: number;
}

function routeInfo(r: Route, now: number): RouteInfo {
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
    expire: r.expire === 0 ? 0 : Math.max(0, Math.ceil((r.expire - now) / 1000)),
    paths: r.group === null ? 1 : r.group.length,
  };
}

/** A routing-table change as `route monitor` prints it: the event and when it happened (wall clock, ms). */
export interface RouteMessage extends RouteEvent {
  time: number;
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
    const now = this.#im.clock.now();
    return this.#im.routes.list().map((r) => routeInfo(r, now));
  }

  /** The route for exactly this prefix. */
  get(dst: number, prefixLen: number): RouteInfo | undefined {
    const r = this.#im.routes.get(dst, prefixLen);
    return r === undefined ? undefined : routeInfo(r, this.#im.clock.now());
  }

  /** Longest-prefix match (`route get A.B.C.D`). */
  lookup(dst: number): RouteInfo | undefined {
    const r = this.#im.routes.lookup(dst);
    return r === undefined ? undefined : routeInfo(r, this.#im.clock.now());
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

  /**
   * Add a route. A gateway route for a prefix that already has one through
   * another gateway becomes one more path of it while net.route.multipath
   * is 1 (FreeBSD 14 with ROUTE_MPATH); otherwise EEXIST.
   */
  add(spec: RouteSpec): RouteInfo {
    const im = this.#im;
    const r = this.#resolve(spec.target);
    const flags = RTF.UP | RTF.STATIC | spec.flags | (r.viaGateway ? RTF.GATEWAY : 0) | (spec.prefixLen === 32 ? RTF.HOST : 0);
    const mpath = im.sysctl.v[routeMultipath.slot] === 1;
    const old = im.routes.get(spec.dst, spec.prefixLen);
    if (old !== undefined && !(mpath && r.viaGateway && im.routes.getPath(spec.dst, spec.prefixLen, r.gateway) === undefined)) fail(E.ROUTE_EXISTS, 'route already in table');
    let added: Route;
    try {
      added = im.routes.add({ dst: spec.dst, prefixLen: spec.prefixLen, gateway: r.gateway, ifp: r.ifp, flags, mtu: spec.mtu ?? 0 }, mpath);
    } catch (e) {
      // Only gateway routes join a multipath route: an interface, reject or blackhole route is in the way.
      if (e instanceof VimageError && e.code === E.ROUTE_EXISTS.code) fail(E.ROUTE_EXISTS, 'route already in table');
      throw e;
    }
    return routeInfo(added, im.clock.now());
  }

  /** Change the route for this prefix (its first path, for a multipath route). */
  change(spec: RouteSpec): RouteInfo {
    const r = this.#resolve(spec.target);
    const flags = RTF.UP | RTF.STATIC | spec.flags | (r.viaGateway ? RTF.GATEWAY : 0) | (spec.prefixLen === 32 ? RTF.HOST : 0);
    const old = this.#im.routes.get(spec.dst, spec.prefixLen);
    if (old === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    if (old.group !== null && (!r.viaGateway || (flags & (RTF.REJECT | RTF.BLACKHOLE)) !== 0)) fail(E.ROUTE_EXISTS, 'a multipath route takes only gateways; delete its paths first');
    old.gateway = r.gateway;
    old.ifp = r.ifp;
    old.flags = flags;
    if (spec.mtu !== undefined) old.mtu = spec.mtu;
    this.#im.routes.notify(RTM.CHANGE, old, 0);
    return routeInfo(old, this.#im.clock.now());
  }

  /**
   * Delete the route for this prefix, every path of it; with `gateway`,
   * only the path through that gateway (FreeBSD deletes one nexthop of a
   * group the same way).
   */
  delete(dst: number, prefixLen: number, gateway?: number): void {
    const routes = this.#im.routes;
    const r = routes.get(dst, prefixLen);
    if (r === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    if (gateway === undefined || (r.flags & RTF.GATEWAY) === 0) {
      routes.delete(dst, prefixLen);
      return;
    }
    const p = routes.getPath(dst, prefixLen, gateway);
    if (p === undefined) fail(E.NO_SUCH_ROUTE, 'not in table');
    routes.deletePath(p);
  }

  /**
   * `route flush`: delete every route through a gateway (FreeBSD's
   * flushroutes_fib skips routes without RTF_GATEWAY). Returns what went,
   * in table order.
   */
  flush(): RouteInfo[] {
    const now = this.#im.clock.now();
    return this.#im.routes.removeWhere((r) => (r.flags & RTF.GATEWAY) !== 0).map((r) => routeInfo(r, now));
  }

  /**
   * Watch the table: `fn` hears every add, delete, change and redirect
   * until the returned function is called (`route monitor`). Nothing is
   * built for the events while nobody watches.
   */
  monitor(fn: (m: RouteMessage) => void): () => void {
    const platform = this.#im.platform;
    return this.#im.routes.watch((ev) => fn({ ...ev, time: platform.wallNow() }));
  }
}
