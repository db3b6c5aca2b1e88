/**
 * CoDel (RFC 8289; FreeBSD's dn_aqm_codel.c): drops at dequeue when the
 * packets' sojourn time has stayed above `target` for an `interval`, then
 * at intervals shrinking as interval/sqrt(count) while it stays above.
 * With `ecn`, a packet CoDel would drop is marked CE instead when it is
 * ECN-capable, and it leaves (FreeBSD's codel_dequeue).
 */

import { markCe } from '../wire/ecn.js';
import type { DnPkt, PktList, SchedInst } from './dn_private.js';
import type { DnAqm } from './dn_sched.js';
import type { CodelParams } from './dn_params.js';

/** Below one MTU queued, CoDel never drops (RFC 8289 section 5.4's maxpacket). */
const MAXPKT = 1514;

export class Codel implements DnAqm {
  private readonly target: number;
  private readonly interval: number;
  private readonly ecn: boolean;
  dropping = false;
  /** Clock ms at which the sojourn time has been above target for an interval (0: not above). */
  private firstAbove = 0;
  private dropNext = 0;
  count = 0;
  private lastCount = 0;
  /** Packets CoDel dropped. */
  drops = 0;
  /** Packets marked CE instead of dropped. */
  marks = 0;
  /** Set by doDequeue: may the packet it returned be dropped. */
  private okToDrop = false;

  constructor(p: CodelParams) {
    this.target = p.target / 1000;
    this.interval = p.interval / 1000;
    this.ecn = p.ecn;
  }

  admit(): boolean {
    return true;
  }

  private controlLaw(t: number): number {
    return t + this.interval / Math.sqrt(this.count);
  }

  private doDequeue(q: PktList, now: number): DnPkt | null {
    const p = q.shift();
    this.okToDrop = false;
    if (p === null) {
      this.firstAbove = 0;
      return null;
    }
    const sojourn = now - p.enqTime;
    if (sojourn < this.target || q.bytes <= MAXPKT) this.firstAbove = 0;
    else if (this.firstAbove === 0) this.firstAbove = now + this.interval;
    else if (now >= this.firstAbove) this.okToDrop = true;
    return p;
  }

  take(si: SchedInst, q: PktList, now: number): DnPkt | null {
    let p = this.doDequeue(q, now);
    if (p === null) {
      this.dropping = false;
      return null;
    }
    if (this.dropping) {
      if (!this.okToDrop) this.dropping = false;
      else {
        while (now >= this.dropNext && this.dropping) {
          if (this.mark(p!)) {
            this.count++;
            this.dropNext = this.controlLaw(this.dropNext);
            return p;
          }
          this.drop(si, p!);
          this.count++;
          p = this.doDequeue(q, now);
          if (p === null || !this.okToDrop) this.dropping = false;
          else this.dropNext = this.controlLaw(this.dropNext);
        }
      }
    } else if (this.okToDrop) {
      if (!this.mark(p)) {
        this.drop(si, p);
        p = this.doDequeue(q, now);
      }
      this.dropping = true;
      const delta = this.count - this.lastCount;
      // RFC 8289: if we were dropping recently, start near the old rate.
      this.count = delta > 1 && now - this.dropNext < 16 * this.interval ? delta : 1;
      this.dropNext = this.controlLaw(now);
      this.lastCount = this.count;
    }
    return p;
  }

  /** With `ecn`, mark `p` CE instead of dropping it, if it is ECN-capable. */
  private mark(p: DnPkt): boolean {
    if (!this.ecn || !markCe(p.buf, p.off, p.len)) return false;
    this.marks++;
    return true;
  }

  private drop(si: SchedInst, p: DnPkt): void {
    this.drops++;
    si.sink.dropQueued(si, p);
  }
}
