/**
 * One image's IPv4 routing table: longest-prefix match over connected, static
 * and default routes (FreeBSD's per-vnet rib).
 *
 * Routes are kept in one Map per prefix length, keyed by the masked
 * destination; lookup walks the lengths in use from the longest down, so a
 * table of a few prefix lengths costs a few Map lookups per packet.
 */

import type { Ifnet } from '../net/if.js';
import { E, fail } from '../errors.js';
import { ip4ToString, prefixMask } from '../wire/ipv4.js';

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
}

export class RouteTable {
  private readonly byLen: Array<Map<number, Route> | undefined> = new Array(33);
  /** Prefix lengths with at least one route, longest first. */
  private lens: number[] = [];

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

  /** The route for exactly this prefix. */
  get(dst: number, prefixLen: number): Route | undefined {
    return this.byLen[prefixLen]?.get((dst & prefixMask(prefixLen)) >>> 0);
  }

  add(r: Omit<Route, 'mask' | 'use' | 'dst'> & { dst: number }): Route {
    const mask = prefixMask(r.prefixLen);
    const dst = (r.dst & mask) >>> 0;
    let m = this.byLen[r.prefixLen];
    if (m === undefined) {
      m = new Map();
      this.byLen[r.prefixLen] = m;
      this.lens = [...this.lens, r.prefixLen].sort((a, b) => b - a);
    }
    if (m.has(dst)) fail(E.ROUTE_EXISTS, `route to ${describe(dst, r.prefixLen)} already exists; use 'route change' or delete it first`);
    const route: Route = { dst, prefixLen: r.prefixLen, mask, gateway: r.gateway, ifp: r.ifp, flags: r.flags | RTF.UP, mtu: r.mtu, use: 0 };
    m.set(dst, route);
    return route;
  }

  delete(dst: number, prefixLen: number): Route {
    const m = this.byLen[prefixLen];
    const key = (dst & prefixMask(prefixLen)) >>> 0;
    const r = m?.get(key);
    if (m === undefined || r === undefined) fail(E.NO_SUCH_ROUTE, `route to ${describe(key, prefixLen)} not in table`);
    m.delete(key);
    if (m.size === 0) {
      this.byLen[prefixLen] = undefined;
      this.lens = this.lens.filter((l) => l !== prefixLen);
    }
    return r;
  }

  /** Remove every route through `ifp` (address removed, interface moved or destroyed). */
  purgeInterface(ifp: Ifnet): Route[] {
    return this.removeWhere((r) => r.ifp === ifp);
  }

  removeWhere(pred: (r: Route) => boolean): Route[] {
    const gone: Route[] = [];
    for (const r of this.list()) {
      if (pred(r)) {
        this.delete(r.dst, r.prefixLen);
        gone.push(r);
      }
    }
    return gone;
  }

  /** All routes, sorted by destination then prefix length, as netstat -r lists them. */
  list(): Route[] {
    const out: Route[] = [];
    for (const m of this.byLen) if (m !== undefined) for (const r of m.values()) out.push(r);
    return out.sort((a, b) => a.dst - b.dst || a.prefixLen - b.prefixLen);
  }

  get size(): number {
    let n = 0;
    for (const m of this.byLen) if (m !== undefined) n += m.size;
    return n;
  }
}

export function describe(dst: number, prefixLen: number): string {
  if (prefixLen === 0) return 'default';
  if (prefixLen === 32) return ip4ToString(dst);
  return `${ip4ToString(dst)}/${prefixLen}`;
}
