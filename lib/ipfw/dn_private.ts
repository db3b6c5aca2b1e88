/**
 * dummynet's objects (FreeBSD's ip_dn_private.h): packets, packet lists,
 * flow counters, flow queues, flowsets, scheduler instances, schedulers
 * and pipes. Plain records; the behaviour is in dummynet.ts (configuration
 * and I/O), the dn_sched_*.ts schedulers behind dn_sched.ts's interface,
 * the dn_aqm_*.ts queue managers and dn_show.ts (listings).
 */

import { FwPktTags } from './ip_fw_actions.js';
import { PKT_HEADROOM } from '../net/if.js';
import type { Ifnet } from '../net/if.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { FlowHash } from './flowhash.js';
import type { HeapEntry } from './timer.js';
import type { DnAqm, DnSchedAlg, DnSink } from './dn_sched.js';
import type { AqmConfig, SchedParams, DnProfile } from './dn_params.js';

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
  /** ipfw's tags and call stack of the packet (ip_fw_actions.ts), handed back with it. */
  readonly ftag = new FwPktTags();
  /** Clock ms when the packet leaves the delay line. */
  outTime = 0;
  /** Clock ms when the packet joined its queue (CoDel's and PIE's sojourn time). */
  enqTime = 0;
  /** Hash of the 5-tuple (fq_codel/fq_pie pick a sub-queue with it). */
  hash = 0;
  /** The queue it is counted in while queued. */
  fq: FlowQueue | null = null;
  /** A delay profile's loss-level lost it: dropped when it leaves the delay line. */
  lost = false;
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
  /** WF2Q+/QFQ start and finish tags. */
  S = 0;
  F = 0;
  /** QFQ's start time rounded down to its group's grid. */
  Sr = 0;
  /** RR's deficit in bytes. */
  deficit = 0;
  active = false;
  /** RED/GRED, CoDel or PIE state of this queue (from the flowset's settings), else null. */
  aqm: DnAqm | null = null;
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
  /** `lmax` (RR's quantum, QFQ's largest packet; 0: the default) and `pri`, as given. */
  lmax = 0;
  pri = 0;
  /** `red`/`gred`/`codel`/`pie` on this flowset's queues; null is droptail. */
  aqm: AqmConfig | null = null;
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
  /** The one queue of a single-queue scheduler (FIFO, FQ_CODEL, FQ_PIE): counters for all its packets. */
  fifo: FlowQueue | null = null;
  /** The scheduling algorithm's state for this instance. */
  alg: DnSchedAlg;
  /** Packets queued in all queues of this instance. */
  backlog = 0;
  /** Burst credit in bits (the link's `burst`, refilled while idle). */
  credit = 0;
  constructor(
    readonly sched: Sched,
    readonly sink: DnSink,
  ) {
    this.alg = sched.type.create(this, sched.params);
  }
}

/** A scheduler bound to a link: FIFO (pipe N) or sched N (its type; WF2Q+ unless `sched N config type T`). */
export class Sched {
  readonly flows = new FlowHash(16);
  insts: Array<SchedInst | null> = [];
  /** True for pipe N's own FIFO scheduler (N + 65536). */
  readonly fifo: boolean;
  constructor(
    readonly nr: number,
    public type: DnSchedType,
    public params: SchedParams,
    readonly pipe: Pipe,
  ) {
    this.fifo = nr > DN_MAX_ID;
  }
}

/** A scheduler module (FreeBSD's dn_alg): its name and how it makes an instance. */
export interface DnSchedType {
  /** As `sched show` prints it: FIFO, WF2Q+, RR, QFQ, PRIO, FQ_CODEL, FQ_PIE. */
  readonly name: string;
  /** One queue per instance, whatever the flowsets (FIFO and the fq_* schedulers). */
  readonly single: boolean;
  /** Keeps its own sub-queues and limit (fq_codel, fq_pie): the flowsets' queue size and AQM do not apply. */
  readonly ownQueues: boolean;
  create(si: SchedInst, params: SchedParams): DnSchedAlg;
}

/** A pipe: link parameters and its two schedulers. */
export class Pipe {
  bw = 0;
  delay = 0;
  /** Bytes that may pass at line rate after the link was idle (`burst`). */
  burst = 0;
  /** Empirical extra delay (`profile FILE`), or null. */
  profile: DnProfile | null = null;
  mask: FlowMask = NO_MASK;
  hasMask = false;
  buckets = 0;
  readonly fifo: Sched;
  /** Scheduler N, serving the queues attached to the pipe. */
  readonly wf2q: Sched;
  readonly fs: Flowset;
  constructor(
    readonly nr: number,
    fifo: DnSchedType,
    sched: DnSchedType,
    params: SchedParams,
  ) {
    this.fifo = new Sched(nr + DN_MAX_ID, fifo, params, this);
    this.wf2q = new Sched(nr, sched, params, this);
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
  lmax?: number;
  pri?: number;
  burst?: number;
  /** null: remove the profile. */
  profile?: DnProfile | null;
  /** null: droptail. */
  aqm?: AqmConfig | null;
  /** `sched N config type T ...` */
  type?: string;
  sched?: SchedParams;
}
