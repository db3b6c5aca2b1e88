/**
 * RED and gentle RED (Floyd and Jacobson; FreeBSD's red_drops in
 * ip_dn_io.c): an exponentially weighted average of the queue length
 * (weight w_q, in the queue's unit, slots or bytes) decides: below min_th
 * nothing drops; between min_th and max_th a packet drops with a
 * probability rising to max_p, spread out by the count since the last
 * drop; above max_th everything drops, or with gred the probability rises
 * on to 1 at 2 x max_th. An idle queue's average decays as if empty
 * packets of the last size had gone by at one per millisecond. With `ecn`,
 * a packet RED picks is marked CE instead when it is ECN-capable (FreeBSD's
 * dn_enqueue: `!(fs->fs.flags & DN_IS_ECN) || !ecn_mark(m)` drops).
 */

import { markCe } from '../wire/ecn.js';
import type { DnPkt, PktList, SchedInst } from './dn_private.js';
import type { DnAqm } from './dn_sched.js';
import type { RedParams } from './dn_params.js';

export class Red implements DnAqm {
  avg = 0;
  private count = -1;
  private idleSince = -1;
  drops = 0;
  /** Packets marked CE instead of dropped. */
  marks = 0;
  constructor(
    private readonly p: RedParams,
    private readonly bytes: boolean,
  ) {}

  admit(si: SchedInst, q: PktList, buf: Uint8Array, off: number, len: number, now: number): boolean {
    const p = this.p;
    const qlen = this.bytes ? q.bytes : q.n;
    if (qlen > 0) this.avg += p.wq * (qlen - this.avg);
    else if (this.idleSince >= 0) {
      this.avg *= (1 - p.wq) ** Math.max(0, now - this.idleSince);
      this.idleSince = -1;
    } else this.avg *= 1 - p.wq;
    const avg = this.avg;
    if (avg < p.minTh) {
      this.count = -1;
      return true;
    }
    let pb: number;
    if (avg >= p.maxTh) {
      if (!p.gentle || avg >= 2 * p.maxTh) return this.drop(buf, off, len);
      pb = p.maxP + ((1 - p.maxP) * (avg - p.maxTh)) / p.maxTh;
    } else pb = p.maxTh === p.minTh ? p.maxP : (p.maxP * (avg - p.minTh)) / (p.maxTh - p.minTh);
    this.count++;
    const pa = this.count * pb >= 1 ? 1 : pb / (1 - this.count * pb);
    if (si.sink.random() < pa) return this.drop(buf, off, len);
    return true;
  }

  private drop(buf: Uint8Array, off: number, len: number): boolean {
    this.count = 0;
    if (this.p.ecn && markCe(buf, off, len)) {
      this.marks++;
      return true;
    }
    this.drops++;
    return false;
  }

  take(_si: SchedInst, q: PktList, now: number): DnPkt | null {
    const p = q.shift();
    if (q.n === 0) this.idleSince = now;
    return p;
  }
}
