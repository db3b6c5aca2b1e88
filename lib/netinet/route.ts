/**
 * One image's IPv4 routing table: longest-prefix match over connected, static
 * and default routes (FreeBSD's per-vnet rib).
 *
 * Routes are kept in one Map per prefix length, keyed by the masked
 * destination; lookup walks the lengths in use from the longest down, so a
 * table of a few prefix lengths costs a few Map lookups per packet.
 *
 * A prefix may have several paths (FreeBSD 14's ROUTE_MPATH nexthop
 * groups): the Map holds the first, and every path of the prefix shares one
 * `group` array, so lookup is unchanged and only forwarding through a group
 * picks a path by flow hash (route_mpath.ts).
 */

import type { Ifnet } from '../net/if.js';
import { E, fail } from '../errors.js';
import { ip4ToString, prefixMask } from '../wire/ipv4.js';
import { RTM, type RouteEvent, type RouteWatcher } from './route_events.js';

declare module '../net/vnet.js' {
  interface Vnet {
    readonly routes: RouteTable;
  }
}

/** Route flags, FreeBSD's RTF_* values. */
export const RTF = {
  UP: 0x1,
  GATEWAY: 0x2,
  HOST: 0x4,
  REJECT: 0x8,
  DYNAMIC: 0x10,
  MODIFIED: 0x20,
  DONE: 0x40,
  STATIC: 0x800,
  BLACKHOLE: 0x1000,
  PROTO1: 0x8000,
  PROTO2: 0x4000,
  PINNED: 0x100000,
  LOCAL: 0x200000,
  BROADCAST: 0x400000,
} as const;

/** Flag letters in the order netstat -r prints them. */
export const RTF_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [RTF.UP, 'U'],
  [RTF.GATEWAY, 'G'],
  [RTF.HOST, 'H'],
  [RTF.REJECT, 'R'],
  [RTF.DYNAMIC, 'D'],
  [RTF.MODIFIED, 'M'],
  [RTF.DONE, 'd'],
  [RTF.STATIC, 'S'],
  [RTF.BLACKHOLE, 'B'],
  [RTF.PROTO1, '1'],
  [RTF.PROTO2, '2'],
];

export function rtFlagString(flags: number): string {
  let s = '';
  for (const [bit, ch] of RTF_LETTERS) if ((flags & bit) !== 0) s += ch;
  return s;
}

export interface Route {
  readonly dst: number;
  readonly prefixLen: number;
  readonly mask: number;
  /** Next hop; 0 for a directly connected destination. */
  gateway: number;
  /** Outgoing interface. */
  ifp: Ifnet;
  flags: number;
  /** Path MTU for this route; 0 means the interface MTU. */
  mtu: number;
  /** Packets that used this route. */
  use: number;
  /**
   * The paths of a multipath (ECMP) route, this one among them, in the
   * order they were added; null for a single path (FreeBSD's nhgrp).
   */
  group: Route[] | null;
  /** When the route expires, on the image's clock (ms); 0 for never (rt_expire). */
  expire: number;
}

/** What a caller gives to add a route. */
export interface RouteAdd {
  dst: number;
  prefixLen: number;
  gateway: number;
  ifp: Ifnet;
  flags: number;
  mtu: number;
  /** Absolute expiry time on the image's clock; 0 or absent for never. */
  expire?: number;
}

export class RouteTable {
  private readonly byLen: Array<Map<number, Route> | undefined> = new Array(33);
  /** Prefix lengths with at least one route, longest first. */
  private lens: number[] = [];
  /** `route monitor` and other listeners; empty when nobody listens. */
  private watchers: RouteWatcher[] = [];
  /** Routes with an expiry time (redirects); the expiry timer runs while there are any. */
  expiring = 0;
  /** The timer that removes expired routes (route_redirect.ts), or null. */
  expiryTimer: { cancel(): void } | null = null;

  /** Longest-prefix match; undefined when nothing (not even a default) matches. */
  lookup(dst: number): Route | undefined {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const len = lens[i]!;
      const r = this.byLen[len]!.get((dst & prefixMask(len)) >>> 0);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /** The route for exactly this prefix (the first path of a multipath route). */
  get(dst: number, prefixLen: number): Route | undefined {
    return this.byLen[prefixLen]?.get((dst & prefixMask(prefixLen)) >>> 0);
  }

  /** The path of this prefix through `gateway` (a gateway route), if there is one. */
  getPath(dst: number, prefixLen: number, gateway: number): Route | undefined {
    const r = this.get(dst, prefixLen);
    if (r === undefined) return undefined;
    for (const p of r.group ?? [r]) if ((p.flags & RTF.GATEWAY) !== 0 && p.gateway === gateway) return p;
    return undefined;
  }

  /**
   * Add a route. With `multipath` (net.route.multipath), a gateway route
   * for a prefix that already has gateway routes through other next hops
   * joins them as one more path; otherwise an existing prefix is EEXIST.
   */
  add(r: RouteAdd, multipath = false, event: number = RTM.ADD, author = 0): Route {
    const mask = prefixMask(r.prefixLen);
    const dst = (r.dst & mask) >>> 0;
    const route: Route = {
      dst,
      prefixLen: r.prefixLen,
      mask,
      gateway: r.gateway,
      ifp: r.ifp,
      flags: r.flags | RTF.UP,
      mtu: r.mtu,
      use: 0,
      group: null,
      expire: r.expire ?? 0,
    };
    let m = this.byLen[r.prefixLen];
    const old = m?.get(dst);
    if (old !== undefined) {
      if (!multipath || !canJoin(old, route)) fail(E.ROUTE_EXISTS, `route to ${describe(dst, r.prefixLen)} already exists; use 'route change' or delete it first`);
      const group = old.group ?? [old];
      group.push(route);
      for (const p of group) p.group = group;
    } else {
      if (m === undefined) {
        m = new Map();
        this.byLen[r.prefixLen] = m;
        this.lens = [...this.lens, r.prefixLen].sort((a, b) => b - a);
      }
      m.set(dst, route);
    }
    if (route.expire !== 0) this.expiring++;
    if (this.watchers.length !== 0) this.notify(event, route, author);
    return route;
  }

  /** Delete every path of the route for this prefix; returns the first. */
  delete(dst: number, prefixLen: number): Route {
    const key = (dst & prefixMask(prefixLen)) >>> 0;
    const r = this.byLen[prefixLen]?.get(key);
    if (r === undefined) fail(E.NO_SUCH_ROUTE, `route to ${describe(key, prefixLen)} not in table`);
    for (const p of [...(r.group ?? [r])]) this.deletePath(p);
    return r;
  }

  /** Delete one path (a route from `lookup`, `get`, `getPath` or `list`); the others of its prefix stay. */
  deletePath(r: Route): void {
    const m = this.byLen[r.prefixLen];
    const head = m?.get(r.dst);
    if (m === undefined || head === undefined) return;
    const g = r.group;
    if (g === null) {
      if (head !== r) return;
      m.delete(r.dst);
      if (m.size === 0) {
        this.byLen[r.prefixLen] = undefined;
        this.lens = this.lens.filter((l) => l !== r.prefixLen);
      }
    } else {
      const i = g.indexOf(r);
      if (i < 0) return;
      g.splice(i, 1);
      r.group = null;
      if (head === r) m.set(r.dst, g[0]!);
      if (g.length === 1) g[0]!.group = null;
    }
    if (r.expire !== 0) this.expiring--;
    if (this.watchers.length !== 0) this.notify(RTM.DELETE, r, 0);
  }

  /** Remove every route through `ifp` (address removed, interface moved or destroyed). */
  purgeInterface(ifp: Ifnet): Route[] {
    return this.removeWhere((r) => r.ifp === ifp);
  }

  /** Remove each path for which `pred` holds. */
  removeWhere(pred: (r: Route) => boolean): Route[] {
    const gone: Route[] = [];
    for (const r of this.list()) {
      if (pred(r)) {
        this.deletePath(r);
        gone.push(r);
      }
    }
    return gone;
  }

  /** All routes, each path of a multipath route on its own, sorted by destination then prefix length, as netstat -r lists them. */
  list(): Route[] {
    const out: Route[] = [];
    for (const m of this.byLen) {
      if (m === undefined) continue;
      for (const r of m.values()) {
        if (r.group === null) out.push(r);
        else for (const p of r.group) out.push(p);
      }
    }
    return out.sort((a, b) => a.dst - b.dst || a.prefixLen - b.prefixLen);
  }

  /** Number of prefixes. */
  get size(): number {
    let n = 0;
    for (const m of this.byLen) if (m !== undefined) n += m.size;
    return n;
  }

  /** Call `fn` with every change from now on; returns the function that stops it. */
  watch(fn: RouteWatcher): () => void {
    this.watchers = [...this.watchers, fn];
    return () => {
      this.watchers = this.watchers.filter((w) => w !== fn);
    };
  }

  /** Tell the watchers about a change (RTM_CHANGE after the control surface changed a route in place). */
  notify(type: number, r: Route, author: number): void {
    const ws = this.watchers;
    if (ws.length === 0) return;
    const ev: RouteEvent = { type, dst: r.dst, prefixLen: r.prefixLen, gateway: r.gateway, flags: r.flags, ifIndex: r.ifp.index, ifName: r.ifp.name, author };
    for (const w of ws) {
      try {
        w(ev);
      } catch {
        // A watcher's failure is its own: the table has changed either way.
      }
    }
  }
}

/** Whether `next` may join `old`'s prefix as one more path: both through gateways, a new next hop, neither a reject/blackhole route. */
function canJoin(old: Route, next: Route): boolean {
  const special = RTF.REJECT | RTF.BLACKHOLE | RTF.DYNAMIC;
  if ((next.flags & RTF.GATEWAY) === 0 || (next.flags & special) !== 0) return false;
  for (const p of old.group ?? [old]) {
    if ((p.flags & RTF.GATEWAY) === 0 || (p.flags & special) !== 0) return false;
    if (p.gateway === next.gateway) return false;
  }
  return true;
}

export function describe(dst: number, prefixLen: number): string {
  if (prefixLen === 0) return 'default';
  if (prefixLen === 32) return ip4ToString(dst);
  return `${ip4ToString(dst)}/${prefixLen}`;
}
