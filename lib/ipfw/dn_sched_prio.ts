/**
 * PRIO (FreeBSD's dn_sched_prio.c): strict priority. A flowset's priority
 * is its weight (par[0]), 0 the highest, bounded to 0..31; only the
 * highest backlogged priority is served. Queues of one priority take
 * turns a packet at a time (FreeBSD merges them into the first one).
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { QueueSet, drainList, takeHead, type DnSchedAlg } from './dn_sched.js';

export const MAXPRIO = 32;

export const prioOf = (fq: FlowQueue): number => Math.min(MAXPRIO - 1, Math.max(0, fq.fs.weight));

class Prio implements DnSchedAlg {
  private readonly levels: QueueSet[] = [];
  private bitmap = 0;
  constructor(private readonly si: SchedInst) {
    for (let k = 0; k < MAXPRIO; k++) this.levels.push(new QueueSet());
  }

  enqueue(fq: FlowQueue, p: DnPkt): boolean {
    fq.q.push(p);
    if (!fq.active) {
      const pr = prioOf(fq);
      fq.active = true;
      this.levels[pr]!.push(fq);
      this.bitmap |= 1 << pr;
    }
    return true;
  }

  dequeue(now: number): DnPkt | null {
    while (this.bitmap !== 0) {
      const pr = 31 - Math.clz32(this.bitmap & -this.bitmap);
      const lv = this.levels[pr]!;
      const fq = lv.at(0);
      const p = takeHead(this.si, fq, now);
      if (fq.q.head === null) this.remove(fq);
      else lv.rotate();
      if (p !== null) return p;
    }
    return null;
  }

  remove(fq: FlowQueue): void {
    if (!fq.active) return;
    fq.active = false;
    const pr = prioOf(fq);
    const lv = this.levels[pr]!;
    lv.remove(fq);
    if (lv.n === 0) this.bitmap &= ~(1 << pr);
  }

  flush(drop: (p: DnPkt) => void): void {
    for (const lv of this.levels) {
      for (let k = 0; k < lv.n; k++) {
        const fq = lv.at(k);
        fq.active = false;
        drainList(fq.q, drop);
      }
      lv.clear();
    }
    this.bitmap = 0;
  }
}

export const PRIO: DnSchedType = { name: 'PRIO', single: false, ownQueues: false, create: (si) => new Prio(si) };
