/**
 * dummynet's objects (FreeBSD's ip_dn_private.h): packets, packet lists,
 * flow counters, flow queues, flowsets, scheduler instances, schedulers
 * and pipes. Plain records; the behaviour is in dummynet.ts (configuration
 * and I/O), dn_sched.ts (FIFO and WF2Q+) and dn_show.ts (listings).
 */

import { PKT_HEADROOM } from '../net/if.js';
import type { Ifnet } from '../net/if.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { FlowHash } from './flowhash.js';
import type { HeapEntry } from './timer.js';

/** Room before the IP header of a queued copy: link headers go there when it leaves. */
export const DN_HEADROOM = PKT_HEADROOM + ETHER_HDR_LEN;

export const DN_MAX_ID = 0x10000;
export const DEFAULT_QSIZE = 50;

/** A flow id mask (FreeBSD's ipfw_flow_id as a mask). */
export interface FlowMask {
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

export const NO_MASK: FlowMask = Object.freeze({ proto: 0, src: 0, dst: 0, sport: 0, dport: 0 });

export function maskIsSet(m: FlowMask): boolean {
  return m.proto !== 0 || m.src !== 0 || m.dst !== 0 || m.sport !== 0 || m.dport !== 0;
}

/** One queued packet: a copy of the IP packet plus where to put it back. Pooled. */
export class DnPkt {
  buf: Uint8Array;
  off = DN_HEADROOM;
  len = 0;
  readonly meta = new VnetHdr();
  out = false;
  rcvif: Ifnet | null = null;
  outif: Ifnet | null = null;
  nexthop = 0;
  mtu = 0;
  ruleNum = 0;
  /** Clock ms when the packet leaves the delay line. */
  outTime = 0;
  next: DnPkt | null = null;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
}

/** An intrusive FIFO of packets. */
export class PktList {
  head: DnPkt | null = null;
  tail: DnPkt | null = null;
  n = 0;
  bytes = 0;

  push(p: DnPkt): void {
    p.next = null;
    if (this.tail === null) this.head = p;
    else this.tail.next = p;
    this.tail = p;
    this.n++;
    this.bytes += p.len;
  }

  shift(): DnPkt | null {
    const p = this.head;
    if (p === null) return null;
    this.head = p.next;
    if (this.head === null) this.tail = null;
    p.next = null;
    this.n--;
    this.bytes -= p.len;
    return p;
  }
}

/** Per-flow counters as `pipe show` prints them (FreeBSD's dn_flow). */
export class FlowCounters {
  totPkts = 0;
  totBytes = 0;
  drops = 0;
  /** Packets and bytes waiting now. */
  length = 0;
  lenBytes = 0;
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  bucket = 0;
}

/** dn_queue: one flow of a flowset, inside one scheduler instance. */
export class FlowQueue {
  readonly q = new PktList();
  /** A FIFO instance's queue shares the instance's counters. */
  ni = new FlowCounters();
  /** WF2Q+ start and finish tags. */
  S = 0;
  F = 0;
  active = false;
  constructor(
    readonly fs: Flowset,
    readonly si: SchedInst,
  ) {}
}

/** dn_fs: a flowset (the pipe's own, or a `queue N`). */
export class Flowset {
  qsize = DEFAULT_QSIZE;
  qbytes = false;
  plr = 0;
  weight: number;
  mask: FlowMask = NO_MASK;
  hasMask = false;
  buckets = 0;
  /** Pipe number this flowset feeds (queues); the pipe itself for pipe flowsets. */
  schedNr: number;
  readonly flows = new FlowHash(16);
  queues: Array<FlowQueue | null> = [];
  constructor(
    readonly nr: number,
    schedNr: number,
    readonly isPipe: boolean,
  ) {
    this.schedNr = schedNr;
    this.weight = isPipe ? 0 : 1;
  }
}

/** dn_sch_inst: one instance of a scheduler with its own link state. */
export class SchedInst implements HeapEntry {
  wakeAt = 0;
  heapIdx = -1;
  /** Clock ms at which the link can start sending the next packet. */
  txFree = -Infinity;
  readonly delayLine = new PktList();
  readonly ni = new FlowCounters();
  /** FIFO: the one queue. WF2Q+: backlogged queues. */
  fifo: FlowQueue | null = null;
  readonly active: FlowQueue[] = [];
  V = 0;
  wsum = 0;
  /** Packets queued in all queues of this instance. */
  backlog = 0;
  constructor(readonly sched: Sched) {}
}

/** A scheduler bound to a link: FIFO (pipe N) or WF2Q+ (queues of pipe N). */
export class Sched {
  readonly flows = new FlowHash(16);
  insts: Array<SchedInst | null> = [];
  constructor(
    readonly nr: number,
    readonly fifo: boolean,
    readonly pipe: Pipe,
  ) {}
}

/** A pipe: link parameters and its two schedulers. */
export class Pipe {
  bw = 0;
  delay = 0;
  mask: FlowMask = NO_MASK;
  hasMask = false;
  buckets = 0;
  readonly fifo: Sched;
  readonly wf2q: Sched;
  readonly fs: Flowset;
  constructor(readonly nr: number) {
    this.fifo = new Sched(nr + DN_MAX_ID, true, this);
    this.wf2q = new Sched(nr, false, this);
    this.fs = new Flowset(nr + 2 * DN_MAX_ID, nr + DN_MAX_ID, true);
  }
}

export interface PipeConfig {
  bw?: number;
  delay?: number;
  plr?: number;
  qsize?: number;
  qbytes?: boolean;
  mask?: FlowMask;
  buckets?: number;
  weight?: number;
  pipe?: number;
}
