/**
 * One image's IPv6 routing table: longest-prefix match over connected and
 * static routes (FreeBSD's per-vnet inet6 rib). A handful of routes per
 * image is the common case, so lookup is a scan of the routes sorted by
 * prefix length, longest first.
 *
 * Link-local destinations are not looked up here: their zone (the
 * interface) says where they go (RFC 4007).
 */

import type { Ifnet } from '../net/if.js';
import { RTF } from '../netinet/route.js';
import { in6Mask, in6PrefixMatch, type In6Addr } from '../wire/ipv6.js';

export interface Route6 {
  /** The prefix, masked to prefixLen. */
  readonly dst: In6Addr;
  readonly prefixLen: number;
  /** The next hop, or null for a connected route. */
  readonly gateway: In6Addr | null;
  readonly ifp: Ifnet;
  readonly flags: number;
  use: number;
}

export class Route6Table {
  /** Longest prefix first. */
  routes: Route6[] = [];

  lookup(b: Uint8Array, o: number): Route6 | undefined {
    const rs = this.routes;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (in6PrefixMatch(b, o, r.dst, 0, r.prefixLen)) return r;
    }
    return undefined;
  }

  get(dst: In6Addr, prefixLen: number): Route6 | undefined {
    const m = in6Mask(dst, prefixLen);
    return this.routes.find((r) => r.prefixLen === prefixLen && in6PrefixMatch(r.dst, 0, m, 0, 128));
  }

  add(r: { dst: In6Addr; prefixLen: number; gateway: In6Addr | null; ifp: Ifnet; flags: number }): Route6 {
    const route: Route6 = { ...r, dst: in6Mask(r.dst, r.prefixLen), flags: r.flags | RTF.UP, use: 0 };
    this.routes = [...this.routes, route].sort((a, b) => b.prefixLen - a.prefixLen);
    return route;
  }

  delete(dst: In6Addr, prefixLen: number): boolean {
    const r = this.get(dst, prefixLen);
    if (r === undefined) return false;
    this.routes = this.routes.filter((x) => x !== r);
    return true;
  }

  purgeInterface(ifp: Ifnet): void {
    this.routes = this.routes.filter((r) => r.ifp !== ifp);
  }
}
