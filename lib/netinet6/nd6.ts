/**
 * The neighbor cache (RFC 4861 5, 7.3; FreeBSD's nd6.c): one per image,
 * entries keyed by (interface, address), with the NUD states INCOMPLETE,
 * REACHABLE, STALE, DELAY and PROBE, a bounded hold queue per entry for
 * packets waiting on resolution, and FreeBSD's timers and sysctls
 * (nd6_delay, nd6_umaxtries, nd6_mmaxtries, nd6_maxqueuelen, nd6_gctimer).
 *
 * Time runs on one timer per image, armed for the earliest deadline of any
 * entry or DAD probe (nd6Schedule); destroying the image cancels it.
 */

import type { Timer } from '../clock.js';
import { E, fail } from '../errors.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { holdFrame, type HeldFrame } from '../net/llhold.js';
import { writeMac, type Mac } from '../wire/ethernet.js';
import { in6Equal, in6Hash, ip6ToString, type In6Addr } from '../wire/ipv6.js';
import type { VnetHdr } from '../wire/vnet.js';
import { type Icmp6Stat, nd6Delay, nd6GcTimer, nd6MaxEntries, nd6MaxQueueLen, nd6MMaxTries, nd6UMaxTries, RETRANS_TIMER } from './ip6_var.js';
import { dadTimer, nd6NsOutput } from './nd6_nbr.js';

/** NUD states, FreeBSD's ND6_LLINFO_* values. */
export const ND6_LLINFO = { INCOMPLETE: 0, REACHABLE: 1, STALE: 2, DELAY: 3, PROBE: 4 } as const;
export const ND6_STATE_NAMES = ['I', 'R', 'S', 'D', 'P'] as const;

/** One neighbour (FreeBSD's llentry for AF_INET6). */
export interface Nd6Entry {
  readonly addr: In6Addr;
  readonly ifp: Ifnet;
  /** The link address; set it with nd6SetLladdr, which keeps `lladdr` beside it. */
  mac: Mac;
  /**
   * The same address as 6 bytes, copied into each frame: writeMac's 48-bit
   * arithmetic boxed a double per packet whenever it ran unoptimised here
   * (16 bytes a forwarded packet in about one run in four).
   */
  readonly lladdr: Uint8Array;
  state: number;
  /** Made by `ndp -s`: never changes state or expires. */
  static: boolean;
  isRouter: boolean;
  /** Clock ms of the state's timer (Infinity: none). */
  expire: number;
  /** Solicitations sent in this state (INCOMPLETE, PROBE). */
  asked: number;
  hold: HeldFrame[];
  /** Next entry in the same hash bucket. */
  next: Nd6Entry | null;
}

export class Nd6Table {
  readonly buckets = new Map<number, Nd6Entry>();
  size = 0;
  timer: Timer | null = null;
  timerAt = Infinity;
  /** The timer's handler, made once per image (no closure per arming). */
  tick: (() => void) | null = null;
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly nd6: Nd6Table;
    readonly icmp6stat: Icmp6Stat;
  }
}

export function nd6Init(im: Vnet): void {
  im.nd6.tick = (): void => nd6Timer(im);
}

export function nd6Destroy(im: Vnet): void {
  const t = im.nd6;
  t.timer?.cancel();
  t.timer = null;
  t.timerAt = Infinity;
  t.tick = null;
  for (const e of nd6Entries(im)) dropHeld(im, e);
  t.buckets.clear();
  t.size = 0;
}

/** Make sure the timer fires by clock ms `at`. */
export function nd6Schedule(im: Vnet, at: number): void {
  const t = im.nd6;
  if (t.tick === null || at >= t.timerAt) return;
  t.timer?.cancel();
  t.timerAt = at;
  t.timer = im.clock.after(Math.max(0, at - im.clock.now()), t.tick);
}

/** Every entry (control plane and tests). */
export function nd6Entries(im: Vnet): Nd6Entry[] {
  const out: Nd6Entry[] = [];
  for (let e of im.nd6.buckets.values()) {
    for (let x: Nd6Entry | null = e; x !== null; x = x.next) out.push(x);
    void e;
  }
  return out;
}

export function nd6Lookup(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number): Nd6Entry | undefined {
  for (let e = im.nd6.buckets.get(in6Hash(b, o)) ?? null; e !== null; e = e.next) {
    if (e.ifp === ifp && in6Equal(e.addr, 0, b, o)) return e;
  }
  return undefined;
}

/** A new entry, or undefined (counted) when the cache is full. */
export function nd6Create(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number, state: number): Nd6Entry | undefined {
  const t = im.nd6;
  if (t.size >= im.sysctl.v[nd6MaxEntries.slot]!) {
    im.icmp6stat.ndfull++;
    return undefined;
  }
  const h = in6Hash(b, o);
  const e: Nd6Entry = { addr: b.slice(o, o + 16), ifp, mac: 0 as Mac, lladdr: new Uint8Array(6), state, static: false, isRouter: false, expire: Infinity, asked: 0, hold: [], next: t.buckets.get(h) ?? null };
  t.buckets.set(h, e);
  t.size++;
  return e;
}

export function nd6Free(im: Vnet, e: Nd6Entry): void {
  const t = im.nd6;
  const h = in6Hash(e.addr, 0);
  let prev: Nd6Entry | null = null;
  for (let x = t.buckets.get(h) ?? null; x !== null; prev = x, x = x.next) {
    if (x !== e) continue;
    if (prev === null) {
      if (x.next === null) t.buckets.delete(h);
      else t.buckets.set(h, x.next);
    } else prev.next = x.next;
    t.size--;
    break;
  }
  dropHeld(im, e);
}

function dropHeld(im: Vnet, e: Nd6Entry): void {
  im.icmp6stat.holddropped += e.hold.length;
  e.hold.length = 0;
}

export function nd6PurgeInterface(im: Vnet, ifp: Ifnet): void {
  for (const e of nd6Entries(im)) if (e.ifp === ifp) nd6Free(im, e);
}

/** Set an entry's state and its timer. */
export function nd6SetState(im: Vnet, e: Nd6Entry, state: number, ms: number): void {
  e.state = state;
  e.asked = 0;
  e.expire = ms === Infinity ? Infinity : im.clock.now() + ms;
  if (ms !== Infinity) nd6Schedule(im, e.expire);
}

export function nd6ReachableMs(im: Vnet, ifp: Ifnet): number {
  return im.in6.ifs.get(ifp)?.reachable ?? 30_000;
}

function retransMs(im: Vnet, ifp: Ifnet): number {
  return im.in6.ifs.get(ifp)?.retrans ?? RETRANS_TIMER;
}

/** The link address is known: record it and send what waited for it. */
export function nd6SetLladdr(e: Nd6Entry, mac: Mac): void {
  e.mac = mac;
  writeMac(e.lladdr, 0, mac);
  if (e.hold.length === 0) return;
  const held = e.hold;
  e.hold = [];
  for (const h of held) {
    writeMac(h.buf, h.off, mac);
    e.ifp.output(h.buf, h.off, h.len, h.meta);
  }
}

/**
 * What nd6Resolve did with a frame: 0, the destination MAC is written and
 * it can go now; 'held', it waits for resolution (or was dropped, counted).
 */
export type Nd6Result = 0 | 'held';

/**
 * Resolve the next hop at b[o] for the IPv6 frame at buf[off, off+len)
 * (Ethernet header included; source MAC and type written). RFC 4861 7.3.3:
 * sending to a STALE neighbour moves it to DELAY; an unknown one gets an
 * INCOMPLETE entry and a multicast solicitation, and the frame waits on a
 * hold queue of at most nd6_maxqueuelen frames (the oldest is dropped).
 */
export function nd6Resolve(im: Vnet, ifp: Ifnet, b: Uint8Array, o: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): Nd6Result {
  let e = nd6Lookup(im, ifp, b, o);
  if (e !== undefined && e.state !== ND6_LLINFO.INCOMPLETE) {
    if (e.state === ND6_LLINFO.STALE && !e.static) nd6SetState(im, e, ND6_LLINFO.DELAY, im.sysctl.v[nd6Delay.slot]! * 1000);
    const l = e.lladdr;
    buf[off] = l[0]!;
    buf[off + 1] = l[1]!;
    buf[off + 2] = l[2]!;
    buf[off + 3] = l[3]!;
    buf[off + 4] = l[4]!;
    buf[off + 5] = l[5]!;
    return 0;
  }
  if (e === undefined) {
    e = nd6Create(im, ifp, b, o, ND6_LLINFO.INCOMPLETE);
    if (e === undefined) {
      im.icmp6stat.holddropped++;
      return 'held';
    }
    nd6NsOutput(im, ifp, null, e.addr, true);
    e.asked = 1;
    e.expire = im.clock.now() + retransMs(im, ifp);
    nd6Schedule(im, e.expire);
  }
  // Oldest first out, down to the limit (it may have been lowered since).
  while (e.hold.length >= im.sysctl.v[nd6MaxQueueLen.slot]!) {
    e.hold.shift();
    im.icmp6stat.holddropped++;
  }
  holdFrame(e.hold, buf, off, len, meta);
  return 'held';
}

/** The image's ND timer: entries' state timers (RFC 4861 7.3.3) and DAD probes. */
function nd6Timer(im: Vnet): void {
  const t = im.nd6;
  t.timer = null;
  t.timerAt = Infinity;
  const now = im.clock.now();
  let next = Infinity;
  for (const e of nd6Entries(im)) {
    if (e.expire <= now) nd6EntryExpired(im, e, now);
    if (e.expire < next && nd6Lookup(im, e.ifp, e.addr, 0) === e) next = e.expire;
  }
  for (const ia of im.in6.all) {
    if (ia.dadNext <= now) dadTimer(im, ia);
    if (ia.dadNext < next) next = ia.dadNext;
  }
  if (next !== Infinity) nd6Schedule(im, next);
}

function nd6EntryExpired(im: Vnet, e: Nd6Entry, now: number): void {
  if (e.static) {
    e.expire = Infinity;
    return;
  }
  const retrans = retransMs(im, e.ifp);
  switch (e.state) {
    case ND6_LLINFO.INCOMPLETE:
      if (e.asked < im.sysctl.v[nd6MMaxTries.slot]!) {
        e.asked++;
        e.expire = now + retrans;
        nd6NsOutput(im, e.ifp, null, e.addr, true);
      } else {
        // Resolution failed (RFC 4861 7.3.3): the entry and what it held go.
        nd6Free(im, e);
      }
      break;
    case ND6_LLINFO.REACHABLE:
      e.state = ND6_LLINFO.STALE;
      e.expire = now + im.sysctl.v[nd6GcTimer.slot]! * 1000;
      break;
    case ND6_LLINFO.STALE:
      nd6Free(im, e);
      break;
    case ND6_LLINFO.DELAY:
      // No upper-layer confirmation came: probe with unicast solicitations.
      e.state = ND6_LLINFO.PROBE;
      e.asked = 1;
      e.expire = now + retrans;
      nd6NsOutput(im, e.ifp, e, e.addr, false);
      break;
    case ND6_LLINFO.PROBE:
      if (e.asked < im.sysctl.v[nd6UMaxTries.slot]!) {
        e.asked++;
        e.expire = now + retrans;
        nd6NsOutput(im, e.ifp, e, e.addr, false);
      } else nd6Free(im, e);
      break;
  }
}

/** `ndp -s`: a static entry. */
export function nd6AddStatic(im: Vnet, ifp: Ifnet, addr: In6Addr, mac: Mac): Nd6Entry {
  const old = nd6Lookup(im, ifp, addr, 0);
  const e = old ?? nd6Create(im, ifp, addr, 0, ND6_LLINFO.REACHABLE);
  if (e === undefined) fail(E.LIMIT, `the neighbor cache of image ${im.name} is full (net.inet6.icmp6.nd6_max_entries)`);
  e.static = true;
  e.state = ND6_LLINFO.REACHABLE;
  e.expire = Infinity;
  nd6SetLladdr(e, mac);
  return e;
}

/** `ndp -d`. */
export function nd6Delete(im: Vnet, ifp: Ifnet | undefined, addr: In6Addr): void {
  const e = nd6Entries(im).find((x) => (ifp === undefined || x.ifp === ifp) && in6Equal(x.addr, 0, addr, 0));
  if (e === undefined) fail(E.NO_SUCH_ENTRY, `${ip6ToString(addr)}: no such neighbor cache entry`);
  nd6Free(im, e);
}
