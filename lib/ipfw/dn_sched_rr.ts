/**
 * RR (FreeBSD's dn_sched_rr.c): deficit round robin over the backlogged
 * queues. Each visit adds a quantum of weight x lmax bytes (lmax 64..2048,
 * default 1500, as rr_new_fsk bounds it) to the queue's deficit; the queue
 * sends while its head packet fits in the deficit, then goes to the back.
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { QueueSet, drainList, takeHead, type DnSchedAlg } from './dn_sched.js';

export function rrQuantum(fq: FlowQueue): number {
  const w = Math.min(65536, Math.max(1, fq.fs.weight));
  const l = fq.fs.lmax === 0 ? 1500 : Math.min(2048, Math.max(64, fq.fs.lmax));
  return w * l;
}

class Rr implements DnSchedAlg {
  /** Backlogged queues in service order; the head is being served. */
  private readonly ring = new QueueSet();
  private head = 0;
  constructor(private readonly si: SchedInst) {}

  enqueue(fq: FlowQueue, p: DnPkt): boolean {
    fq.q.push(p);
    if (!fq.active) {
      fq.active = true;
      fq.deficit = rrQuantum(fq);
      // Joins at the back of the round (just before the one being served).
      this.ring.insert(this.head, fq);
      if (this.ring.n > 1) this.head++;
    }
    return true;
  }

  dequeue(now: number): DnPkt | null {
    const ring = this.ring;
    while (ring.n > 0) {
      if (this.head >= ring.n) this.head = 0;
      const fq = ring.at(this.head);
      const h = fq.q.head;
      if (h === null) {
        this.remove(fq);
        continue;
      }
      if (h.len > fq.deficit) {
        // Its turn is over: the next queue, and a new quantum for the next round.
        fq.deficit += rrQuantum(fq);
        this.head++;
        continue;
      }
      const p = takeHead(this.si, fq, now);
      if (p === null) {
        this.remove(fq);
        continue;
      }
      fq.deficit -= p.len;
      if (fq.q.head === null) this.remove(fq);
      return p;
    }
    return null;
  }

  remove(fq: FlowQueue): void {
    if (!fq.active) return;
    fq.active = false;
    fq.deficit = 0;
    const k = this.ring.indexOf(fq);
    if (k < 0) return;
    this.ring.remove(fq);
    if (k < this.head) this.head--;
  }

  flush(drop: (p: DnPkt) => void): void {
    for (let k = 0; k < this.ring.n; k++) {
      const fq = this.ring.at(k);
      fq.active = false;
      drainList(fq.q, drop);
    }
    this.ring.clear();
    this.head = 0;
  }
}

export const RR: DnSchedType = { name: 'RR', single: false, ownQueues: false, create: (si) => new Rr(si) };
