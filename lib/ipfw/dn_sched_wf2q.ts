/**
 * WF2Q+ (FreeBSD's dn_sched_wf2q.c): the backlogged queues share the link
 * in proportion to their weights, served by virtual start and finish
 * times. A queue is eligible when its start time is not after the virtual
 * time; among the eligible, the smallest finish time goes first.
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { QueueSet, drainList, takeHead, type DnSchedAlg } from './dn_sched.js';

class Wf2q implements DnSchedAlg {
  private readonly active = new QueueSet();
  private V = 0;
  private wsum = 0;
  constructor(private readonly si: SchedInst) {}

  enqueue(fq: FlowQueue, p: DnPkt): boolean {
    fq.q.push(p);
    if (fq.active) return true;
    const w = Math.max(1, fq.fs.weight);
    fq.S = Math.max(fq.F, this.V);
    fq.F = fq.S + p.len / w;
    fq.active = true;
    this.active.push(fq);
    this.wsum += w;
    return true;
  }

  dequeue(now: number): DnPkt | null {
    const act = this.active;
    while (act.n > 0) {
      let best: FlowQueue | null = null;
      let minS = Infinity;
      for (let k = 0; k < act.n; k++) {
        const q = act.at(k);
        if (q.S < minS) minS = q.S;
        if (q.S <= this.V && (best === null || q.F < best.F)) best = q;
      }
      if (best === null) {
        // Nobody eligible: the virtual time jumps to the earliest start.
        this.V = minS;
        for (let k = 0; k < act.n; k++) {
          const q = act.at(k);
          if (q.S <= this.V && (best === null || q.F < best.F)) best = q;
        }
      }
      const fq = best!;
      const p = takeHead(this.si, fq, now);
      const w = Math.max(1, fq.fs.weight);
      if (p !== null) this.V += p.len / this.wsum;
      const next = fq.q.head;
      if (next === null) this.remove(fq);
      else {
        fq.S = fq.F;
        fq.F = fq.S + next.len / w;
      }
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

export const WF2Q: DnSchedType = { name: 'WF2Q+', single: false, ownQueues: false, create: (si) => new Wf2q(si) };
