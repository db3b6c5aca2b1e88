/**
 * FIFO (FreeBSD's dn_sched_fifo.c): one queue per instance, served in
 * arrival order. Pipe N's own scheduler (N + 65536) is one of these.
 */

import type { DnPkt, DnSchedType, FlowQueue, SchedInst } from './dn_private.js';
import { drainList, takeHead, type DnSchedAlg } from './dn_sched.js';

class Fifo implements DnSchedAlg {
  private q: FlowQueue | null = null;
  constructor(private readonly si: SchedInst) {}
  enqueue(fq: FlowQueue, p: DnPkt): boolean {
    this.q = fq;
    fq.q.push(p);
    return true;
  }
  dequeue(now: number): DnPkt | null {
    return this.q === null ? null : takeHead(this.si, this.q, now);
  }
  remove(fq: FlowQueue): void {
    if (this.q === fq) this.q = null;
  }
  flush(drop: (p: DnPkt) => void): void {
    if (this.q !== null) drainList(this.q.q, drop);
  }
}

export const FIFO: DnSchedType = { name: 'FIFO', single: true, ownQueues: false, create: (si) => new Fifo(si) };
