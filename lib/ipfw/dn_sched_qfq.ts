/**
 * QFQ (FreeBSD's dn_sched_qfq.c, Checconi, Rizzo and Valente): weighted
 * fair queueing like WF2Q+, but with timestamps rounded to the slot size
 * of each queue's group, 2^ceil(log2(lmax / weight)) bytes, so queues of
 * one group share a grid and the choice of the next queue needs no exact
 * sorting. This version keeps exact per-queue timestamps, decides
 * eligibility on the start time rounded to the group's grid, as QFQ does,
 * and it picks among the backlogged queues with a linear scan
 * instead of the per-group bitmaps and bucket lists.
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { QueueSet, drainList, takeHead, type DnSchedAlg } from './dn_sched.js';

/** The slot size of a queue's group (QFQ's qfq_calc_index, in bytes / weight). */
export function qfqSlot(fq: FlowQueue): number {
  const w = Math.max(1, fq.fs.weight);
  const lmax = fq.fs.lmax === 0 ? 1500 : fq.fs.lmax;
  return 2 ** Math.ceil(Math.log2(Math.max(1, lmax / w)));
}

class Qfq implements DnSchedAlg {
  private readonly active = new QueueSet();
  private V = 0;
  private wsum = 0;
  constructor(private readonly si: SchedInst) {}

  /** Exact start and finish times, and the start on the group's grid that eligibility is decided on. */
  private stamp(fq: FlowQueue, S: number, len: number): void {
    const slot = qfqSlot(fq);
    fq.S = S;
    fq.Sr = Math.floor(S / slot) * slot;
    fq.F = S + len / Math.max(1, fq.fs.weight);
  }

  enqueue(fq: FlowQueue, p: DnPkt): boolean {
    fq.q.push(p);
    if (fq.active) return true;
    this.stamp(fq, Math.max(fq.F, this.V), p.len);
    fq.active = true;
    this.active.push(fq);
    this.wsum += Math.max(1, fq.fs.weight);
    return true;
  }

  dequeue(now: number): DnPkt | null {
    const act = this.active;
    while (act.n > 0) {
      let best: FlowQueue | null = null;
      let minS = Infinity;
      for (let k = 0; k < act.n; k++) {
        const q = act.at(k);
        const S = q.Sr;
        if (S < minS) minS = S;
        if (S <= this.V && (best === null || q.F < best.F)) best = q;
      }
      if (best === null) {
        this.V = minS;
        continue;
      }
      const p = takeHead(this.si, best, now);
      if (p !== null) this.V += p.len / this.wsum;
      const next = best.q.head;
      if (next === null) this.remove(best);
      else this.stamp(best, best.F, next.len);
      if (p !== null) return p;
    }
    return null;
  }

  remove(fq: FlowQueue): void {
    if (!fq.active) return;
    fq.active = false;
    if (this.active.remove(fq)) this.wsum -= Math.max(1, fq.fs.weight);
  }

  flush(drop: (p: DnPkt) => void): void {
    for (let k = 0; k < this.active.n; k++) {
      const fq = this.active.at(k);
      fq.active = false;
      drainList(fq.q, drop);
    }
    this.active.clear();
    this.wsum = 0;
  }
}

export const QFQ: DnSchedType = { name: 'QFQ', single: false, ownQueues: false, create: (si) => new Qfq(si) };
