/**
 * The two schedulers a pipe has (FreeBSD's dn_sched_fifo.c and
 * dn_sched_wf2q.c): FIFO serves its one queue in order; WF2Q+ serves the
 * backlogged flow queues of its flowsets in proportion to their weights,
 * by virtual start and finish times.
 */

import type { DnPkt, FlowQueue, SchedInst } from './dn_private.js';

/** A packet of `len` bytes joined `fq`: a WF2Q+ queue that becomes backlogged gets its start and finish tags. */
export function schedEnqueue(si: SchedInst, fq: FlowQueue, len: number): void {
  if (si.sched.fifo || fq.active) return;
  const w = Math.max(1, fq.fs.weight);
  fq.S = Math.max(fq.F, si.V);
  fq.F = fq.S + len / w;
  fq.active = true;
  si.active.push(fq);
  si.wsum += w;
}

/** Next packet to put on the link: FIFO order, or WF2Q+ among backlogged queues. */
export function schedDequeue(si: SchedInst): DnPkt | null {
  let fq: FlowQueue | null;
  if (si.sched.fifo) fq = si.fifo;
  else {
    const act = si.active;
    if (act.length === 0) return null;
    // Eligible queues have S <= V; among them the smallest F goes first.
    let best: FlowQueue | null = null;
    let minS = Infinity;
    for (let k = 0; k < act.length; k++) {
      const q = act[k]!;
      if (q.S < minS) minS = q.S;
      if (q.S <= si.V && (best === null || q.F < best.F)) best = q;
    }
    if (best === null) {
      si.V = minS;
      for (let k = 0; k < act.length; k++) {
        const q = act[k]!;
        if (q.S <= si.V && (best === null || q.F < best.F)) best = q;
      }
    }
    fq = best;
  }
  if (fq === null) return null;
  const p = fq.q.shift();
  if (p === null) return null;
  si.backlog--;
  fq.ni.length--;
  fq.ni.lenBytes -= p.len;
  if (fq.ni !== si.ni) {
    si.ni.length--;
    si.ni.lenBytes -= p.len;
  }
  if (!si.sched.fifo) {
    const w = Math.max(1, fq.fs.weight);
    si.V += p.len / si.wsum;
    const next = fq.q.head;
    if (next === null) {
      fq.active = false;
      si.active.splice(si.active.indexOf(fq), 1);
      si.wsum -= w;
    } else {
      fq.S = fq.F;
      fq.F = fq.S + next.len / w;
    }
  }
  return p;
}
