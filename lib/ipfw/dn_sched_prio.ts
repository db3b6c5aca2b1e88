/**
 * PRIO (FreeBSD's dn_sched_prio.c): strict priority. A flowset's priority
 * is its weight (par[0]), 0 the highest, bounded to 0..31; only the
 * highest backlogged priority is served. Queues of one priority take
 * turns a packet at a time (FreeBSD merges them into the first one).
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { drainList, removeFrom, takeHead, type DnSchedAlg } from './dn_sched.js';

export const MAXPRIO = 32;

export const prioOf = (fq: FlowQueue): number => Math.min(MAXPRIO - 1, Math.max(0, fq.fs.weight));

class Prio implements DnSchedAlg {
  private readonly levels: FlowQueue[][] = [];
  private bitmap = 0;
  constructor(private readonly si: SchedInst) {
    for (let k = 0; k < MAXPRIO; k++) this.levels.push([]);
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
      const fq = lv[0]!;
      const p = takeHead(this.si, fq, now);
      if (fq.q.head === null) this.remove(fq);
      else if (lv.length > 1) lv.push(lv.shift()!);
      if (p !== null) return p;
    }
    return null;
  }

  remove(fq: FlowQueue): void {
    if (!fq.active) return;
    fq.active = false;
    const pr = prioOf(fq);
    const lv = this.levels[pr]!;
    removeFrom(lv, fq);
    if (lv.length === 0) this.bitmap &= ~(1 << pr);
  }

  flush(drop: (p: DnPkt) => void): void {
    for (const lv of this.levels) {
      for (const fq of lv) {
        fq.active = false;
        drainList(fq.q, drop);
      }
      lv.length = 0;
    }
    this.bitmap = 0;
  }
}

export const PRIO: DnSchedType = { name: 'PRIO', single: false, ownQueues: false, create: (si) => new Prio(si) };
