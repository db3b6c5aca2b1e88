/**
 * IPv6 path MTU per destination (RFC 8201; FreeBSD keeps it in the TCP
 * host cache, tcp_hostcache.c, fed by icmp6_mtudisc_update): a Packet Too
 * Big lowers the MTU towards one destination, never below the IPv6
 * minimum of 1280 (RFC 8200 5), and the entry expires after 10 minutes
 * (RFC 8201 4: "at least 5 minutes", 10 recommended) so the path is tried
 * at its link MTU again.
 *
 * The link MTU on output is the interface's, or the smaller one a router
 * advertised in an RA MTU option (RFC 4861 6.3.4, stored by nd6_rtr).
 *
 * Lookups run for every packet ip6_output sends: with no entry (the usual
 * case) they cost one size test; otherwise a seeded hash of the address
 * and a map lookup, with no allocation. Packet Too Big messages are hostile
 * input, so the table holds at most PMTU6_MAX entries (the oldest goes
 * first) and its hash is seeded from the image's randomness.
 */

import type { Timer } from '../clock.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { u32 } from '../wire/bytes.js';
import { IPV6_MMTU, in6Equal } from '../wire/ipv6.js';
import { nd6LinkMtu } from './nd6_rtr.js';

/** How long a learned path MTU holds (ms): RFC 8201 4's recommended 10 minutes. */
export const PMTU6_EXPIRE = 600_000;
/** Most destinations with a learned path MTU per image (vimage: bounds memory under a flood of forged Packet Too Big). */
export const PMTU6_MAX = 4096;
/** How often expired entries are swept out (ms), while there are any. */
const SWEEP = 60_000;

interface Pmtu6Entry {
  readonly addr: Uint8Array;
  readonly key: number;
  mtu: number;
  /** Clock ms when the entry lapses. */
  expire: number;
  /** The next entry with the same hash. */
  next: Pmtu6Entry | null;
}

/** The table of an image that has learned nothing: shared, never written (an idle image makes no Map). */
const NONE: Map<number, Pmtu6Entry> = new Map();

/** One image's learned path MTUs. */
export class Pmtu6Table {
  /** Chains by seeded hash; insertion order is age order, which eviction uses. NONE until the first entry. */
  byKey = NONE;
  count = 0;
  seed = -1;
  sweeper: Timer | null = null;
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly pmtu6: Pmtu6Table;
  }
}

function hash(seed: number, b: Uint8Array, o: number): number {
  let h = seed;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(h ^ u32(b, o + i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

function find(t: Pmtu6Table, b: Uint8Array, o: number): Pmtu6Entry | null {
  let e = t.byKey.get(hash(t.seed, b, o)) ?? null;
  while (e !== null && !in6Equal(e.addr, 0, b, o)) e = e.next;
  return e;
}

function unlink(t: Pmtu6Table, e: Pmtu6Entry): void {
  let h = t.byKey.get(e.key) ?? null;
  if (h === e) {
    if (e.next === null) t.byKey.delete(e.key);
    else t.byKey.set(e.key, e.next);
  } else {
    while (h !== null && h.next !== e) h = h.next;
    if (h !== null) h.next = e.next;
  }
  t.count--;
}

/** The learned path MTU towards b[o], or 0 when none holds. */
export function pmtu6Lookup(im: Vnet, b: Uint8Array, o: number): number {
  const t = im.pmtu6;
  if (t.count === 0) return 0;
  const e = find(t, b, o);
  if (e === null) return 0;
  if (e.expire <= im.clock.now()) {
    unlink(t, e);
    return 0;
  }
  return e.mtu;
}

/** The MTU of `ifp` for output: the interface's, or the smaller one its router advertised. */
export function ip6LinkMtu(im: Vnet, ifp: Ifnet): number {
  const ra = ifp.loopback ? 0 : nd6LinkMtu(im, ifp);
  return ra !== 0 && ra < ifp.mtu ? ra : ifp.mtu;
}

/** The MTU for a packet to b[o] leaving through `ifp`: the link's, lowered by any learned path MTU. */
export function ip6PathMtu(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number): number {
  const link = ip6LinkMtu(im, ifp);
  const p = pmtu6Lookup(im, b, o);
  return p !== 0 && p < link ? p : link;
}

/**
 * A Packet Too Big said `mtu` for the path to b[o] (icmp6_mtudisc_update).
 * Returns true when the path MTU went down (netstat's "path MTU changes").
 * A larger value than the one held is ignored (RFC 8201 4: only expiry
 * raises it); a value below 1280 means 1280 (RFC 8200 5).
 */
export function pmtu6Update(im: Vnet, b: Uint8Array, o: number, mtu: number, linkMtu: number): boolean {
  const t = im.pmtu6;
  if (mtu < IPV6_MMTU) mtu = IPV6_MMTU;
  if (mtu >= linkMtu) return false;
  if (t.seed < 0) t.seed = Math.floor(im.random() * 0x100000000) >>> 0;
  const now = im.clock.now();
  const e = find(t, b, o);
  if (e !== null && e.expire > now && e.mtu <= mtu) return false;
  if (e !== null) {
    e.mtu = mtu;
    e.expire = now + PMTU6_EXPIRE;
    return true;
  }
  if (t.count >= PMTU6_MAX) {
    // Full: the oldest chain's head goes (Map order is insertion order).
    for (const old of t.byKey.values()) {
      unlink(t, old);
      break;
    }
  }
  const key = hash(t.seed, b, o);
  const addr = b.slice(o, o + 16);
  if (t.byKey === NONE) t.byKey = new Map();
  t.byKey.set(key, { addr, key, mtu, expire: now + PMTU6_EXPIRE, next: t.byKey.get(key) ?? null });
  t.count++;
  t.sweeper ??= im.clock.every(SWEEP, () => pmtu6Sweep(im));
  return true;
}

function pmtu6Sweep(im: Vnet): void {
  const t = im.pmtu6;
  const now = im.clock.now();
  for (const head of [...t.byKey.values()]) {
    for (let e: Pmtu6Entry | null = head; e !== null; e = e.next) if (e.expire <= now) unlink(t, e);
  }
  if (t.count === 0) {
    t.sweeper?.cancel();
    t.sweeper = null;
  }
}

/** The entries that hold now (for display): address, MTU, seconds left. */
export function pmtu6List(im: Vnet): Array<{ addr: Uint8Array; mtu: number; expire: number }> {
  const now = im.clock.now();
  const out: Array<{ addr: Uint8Array; mtu: number; expire: number }> = [];
  for (const head of im.pmtu6.byKey.values()) {
    for (let e: Pmtu6Entry | null = head; e !== null; e = e.next) if (e.expire > now) out.push({ addr: e.addr, mtu: e.mtu, expire: Math.ceil((e.expire - now) / 1000) });
  }
  return out;
}

export function pmtu6Destroy(im: Vnet): void {
  const t = im.pmtu6;
  t.sweeper?.cancel();
  t.sweeper = null;
  t.byKey = NONE;
  t.count = 0;
}
