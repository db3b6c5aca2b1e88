/**
 * The scheduler interface (FreeBSD's struct dn_alg in dn_sched.h): each
 * scheduler type lives in its own dn_sched_*.ts and makes, per scheduler
 * instance, an object that takes packets in (enqueue), hands the next one
 * to the link (dequeue), forgets a queue whose flowset went away (remove)
 * and drops everything (flush). The AQM interface (FreeBSD's dn_aqm) sits
 * on one queue: it admits or refuses an arriving packet and takes the
 * next one out, dropping on the way as CoDel does.
 *
 * Accounting stays in dummynet.ts: it counts a packet into its queue (p.fq)
 * before enqueue and out of it after dequeue; a packet a scheduler or AQM
 * drops while queued goes to si.sink.dropQueued, which counts and frees it.
 * No method here allocates per packet.
 */

import type { DnPkt, FlowQueue, PktList, SchedInst } from './dn_private.js';

export interface DnSink {
  /** A queued packet dropped by a scheduler or AQM: uncount, count the drop, free. */
  dropQueued(si: SchedInst, p: DnPkt): void;
  /** The image's injected randomness in [0, 1). */
  random(): number;
}

export interface DnSchedAlg {
  /** `p` (counted in p.fq) joins queue `fq`. False: refused; the caller counts the drop and frees it. */
  enqueue(fq: FlowQueue, p: DnPkt, now: number): boolean;
  /** The next packet for the link, or null when nothing is queued. */
  dequeue(now: number): DnPkt | null;
  /** `fq` leaves (its flowset changed); its packets are dropped by the caller afterwards. */
  remove(fq: FlowQueue): void;
  /** Hand every packet this instance holds to `drop`. */
  flush(drop: (p: DnPkt) => void): void;
}

export interface DnAqm {
  /**
   * May the IP packet of `len` bytes at `off` in `buf` join `q`? False drops it (counted by the caller). An AQM
   * with `ecn` set may mark it CE instead of refusing it (RFC 3168).
   */
  admit(si: SchedInst, q: PktList, buf: Uint8Array, off: number, len: number, now: number): boolean;
  /** The next packet of `q`, dropping (through si.sink) what the AQM drops. */
  take(si: SchedInst, q: PktList, now: number): DnPkt | null;
}

/** The head of `fq`, through its AQM when it has one. */
export function takeHead(si: SchedInst, fq: FlowQueue, now: number): DnPkt | null {
  return fq.aqm === null ? fq.q.shift() : fq.aqm.take(si, fq.q, now);
}

/** Empty a packet list into `drop`. */
export function drainList(l: PktList, drop: (p: DnPkt) => void): void {
  for (let p = l.shift(); p !== null; p = l.shift()) drop(p);
}

/**
 * An ordered set of backlogged queues with its own count: the backing
 * array never shrinks, so a queue going idle and active again on every
 * packet allocates nothing (an array whose length drops to 0 loses its
 * backing store, and the next push allocates a new one).
 */
export class QueueSet {
  private readonly a: Array<FlowQueue | null> = [];
  n = 0;

  at(k: number): FlowQueue {
    return this.a[k]!;
  }

  push(q: FlowQueue): void {
    this.insert(this.n, q);
  }

  insert(k: number, q: FlowQueue): void {
    if (this.n === this.a.length) this.a.push(null);
    for (let j = this.n; j > k; j--) this.a[j] = this.a[j - 1]!;
    this.a[k] = q;
    this.n++;
  }

  indexOf(q: FlowQueue): number {
    for (let k = 0; k < this.n; k++) if (this.a[k] === q) return k;
    return -1;
  }

  /** Remove `q`, keeping the order; false when it was not there. */
  remove(q: FlowQueue): boolean {
    const k = this.indexOf(q);
    if (k < 0) return false;
    for (let j = k + 1; j < this.n; j++) this.a[j - 1] = this.a[j]!;
    this.n--;
    this.a[this.n] = null;
    return true;
  }

  /** The first one goes to the back. */
  rotate(): void {
    if (this.n < 2) return;
    const h = this.a[0]!;
    for (let j = 1; j < this.n; j++) this.a[j - 1] = this.a[j]!;
    this.a[this.n - 1] = h;
  }

  clear(): void {
    for (let k = 0; k < this.n; k++) this.a[k] = null;
    this.n = 0;
  }
}
