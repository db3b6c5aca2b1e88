/**
 * The flow-queueing part shared by FQ_CODEL and FQ_PIE (RFC 8290;
 * FreeBSD's dn_sched_fq_codel.c and dn_sched_fq_pie.c): packets are
 * hashed by their 5-tuple into `flows` sub-queues, each with its own AQM;
 * deficit round robin with a `quantum` serves new flows before old ones,
 * so a sparse flow (a ping) overtakes a bulk one. Past `limit` packets in
 * all, the head of the longest sub-queue is dropped. The flowsets' queue
 * sizes and AQMs do not apply: the scheduler has one queue per instance.
 */

import type { DnPkt, FlowQueue, PktList, SchedInst } from './dn_private.js';
import { PktList as List } from './dn_private.js';
import { drainList, type DnAqm, type DnSchedAlg } from './dn_sched.js';
import type { FqParams } from './dn_params.js';

class SubQueue {
  readonly q: List = new List();
  deficit = 0;
  /** 0 idle, 1 on the new list, 2 on the old list. */
  state = 0;
  next: SubQueue | null = null;
  constructor(readonly aqm: DnAqm) {}
}

/** An intrusive FIFO of sub-queues. */
class SubList {
  head: SubQueue | null = null;
  tail: SubQueue | null = null;
  push(s: SubQueue): void {
    s.next = null;
    if (this.tail === null) this.head = s;
    else this.tail.next = s;
    this.tail = s;
  }
  shift(): SubQueue | null {
    const s = this.head;
    if (s === null) return null;
    this.head = s.next;
    if (this.head === null) this.tail = null;
    s.next = null;
    return s;
  }
}

export class FqSched implements DnSchedAlg {
  private readonly subs: Array<SubQueue | null>;
  private readonly newFlows = new SubList();
  private readonly oldFlows = new SubList();
  private total = 0;
  /** Packets dropped because the scheduler held `limit`. */
  overflows = 0;

  constructor(
    private readonly si: SchedInst,
    private readonly p: FqParams,
    private readonly makeAqm: () => DnAqm,
  ) {
    this.subs = new Array<SubQueue | null>(p.flows).fill(null);
  }

  /** Sub-queues holding packets now. */
  activeFlows(): number {
    let n = 0;
    for (const s of this.subs) if (s !== null && s.q.n > 0) n++;
    return n;
  }

  enqueue(_fq: FlowQueue, p: DnPkt, now: number): boolean {
    const idx = (p.hash >>> 0) % this.p.flows;
    let s = this.subs[idx]!;
    if (s === null) {
      s = new SubQueue(this.makeAqm());
      this.subs[idx] = s;
    }
    if (!s.aqm.admit(this.si, s.q, p.buf, p.off, p.len, now)) return false;
    s.q.push(p);
    this.total++;
    if (s.state === 0) {
      s.state = 1;
      s.deficit = this.p.quantum;
      this.newFlows.push(s);
    }
    if (this.total > this.p.limit) this.dropFattest();
    return true;
  }

  private dropFattest(): void {
    let fat: SubQueue | null = null;
    for (const s of this.subs) if (s !== null && (fat === null || s.q.bytes > fat.q.bytes)) fat = s;
    const p = fat === null ? null : fat.q.shift();
    if (p === null) return;
    this.total--;
    this.overflows++;
    this.si.sink.dropQueued(this.si, p);
  }

  dequeue(now: number): DnPkt | null {
    for (;;) {
      let list = this.newFlows;
      let s = list.head;
      if (s === null) {
        list = this.oldFlows;
        s = list.head;
        if (s === null) return null;
      }
      if (s.deficit <= 0) {
        s.deficit += this.p.quantum;
        list.shift();
        s.state = 2;
        this.oldFlows.push(s);
        continue;
      }
      const before = s.q.n;
      const p = s.aqm.take(this.si, s.q, now);
      this.total -= before - s.q.n;
      if (p === null) {
        list.shift();
        // An emptied new flow goes to the old list once, so it cannot jump the queue again at once.
        if (list === this.newFlows && this.oldFlows.head !== null) {
          s.state = 2;
          this.oldFlows.push(s);
        } else s.state = 0;
        continue;
      }
      s.deficit -= p.len;
      return p;
    }
  }

  remove(): void {}

  flush(drop: (p: DnPkt) => void): void {
    for (const s of this.subs) {
      if (s === null) continue;
      drainList(s.q as PktList, drop);
      s.state = 0;
      s.next = null;
    }
    this.newFlows.head = this.newFlows.tail = null;
    this.oldFlows.head = this.oldFlows.tail = null;
    this.total = 0;
  }
}
