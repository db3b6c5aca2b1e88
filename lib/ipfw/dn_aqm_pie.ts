/**
 * PIE (RFC 8033; FreeBSD's dn_aqm_pie.c): drops arriving packets with a
 * probability steered every `tupdate` by how far the queueing delay is
 * from `target` (alpha) and which way it moves (beta). The delay is the
 * sojourn time of the last packet that left (FreeBSD's timestamp mode);
 * `dre` (departure rate estimation) is accepted and printed but the
 * timestamp estimate is used. The periodic update runs lazily when a
 * packet arrives or leaves, catching up the periods that passed, instead
 * of a callout per queue. With `ecn`, a packet PIE would drop is marked CE
 * instead when it is ECN-capable and the drop probability is below
 * `max_ecnth` (RFC 8033 section 5.1; FreeBSD's aqm_pie_enqueue).
 */

import { markCe } from '../wire/ecn.js';
import type { DnPkt, PktList, SchedInst } from './dn_private.js';
import type { DnAqm } from './dn_sched.js';
import type { PieParams } from './dn_params.js';

export class Pie implements DnAqm {
  prob = 0;
  private qdelay = 0;
  private qdelayOld = 0;
  private burstAllow: number;
  private accuProb = 0;
  private lastUpdate = -1;
  private readonly target: number;
  private readonly tupdate: number;
  private readonly maxBurst: number;
  drops = 0;
  /** Packets marked CE instead of dropped. */
  marks = 0;

  constructor(private readonly p: PieParams) {
    this.target = p.target / 1000;
    this.tupdate = Math.max(0.001, p.tupdate / 1000);
    this.maxBurst = p.maxBurst / 1000;
    this.burstAllow = this.maxBurst;
  }

  /** The drop probability update (RFC 8033 section 4.2), once per tupdate. */
  private update(): void {
    const qd = this.qdelay / 1000;
    const old = this.qdelayOld / 1000;
    let d = this.p.alpha * (qd - this.target / 1000) + this.p.beta * (qd - old);
    const pr = this.prob;
    // Small probabilities move in small steps (RFC 8033 section 4.2's scaling table).
    if (pr < 0.000001) d /= 2048;
    else if (pr < 0.00001) d /= 512;
    else if (pr < 0.0001) d /= 128;
    else if (pr < 0.001) d /= 32;
    else if (pr < 0.01) d /= 8;
    else if (pr < 0.1) d /= 2;
    let np = pr + d;
    // A delay far above target pushes hard (section 4.2, "if qdelay > 250 ms").
    if (qd > 0.25 && d < 0.02) np = pr + 0.02;
    if (qd === 0 && old === 0) np *= 0.98;
    this.prob = Math.min(1, Math.max(0, np));
    this.burstAllow = Math.max(0, this.burstAllow - this.tupdate);
    this.qdelayOld = this.qdelay;
  }

  private tick(now: number, q: PktList): void {
    if (this.lastUpdate < 0) {
      this.lastUpdate = now;
      return;
    }
    let steps = 0;
    while (now - this.lastUpdate >= this.tupdate && steps < 256) {
      if (q.n === 0) this.qdelay = 0;
      this.update();
      this.lastUpdate += this.tupdate;
      steps++;
    }
    if (now - this.lastUpdate >= this.tupdate) this.lastUpdate = now;
    // An idle queue with no drop probability starts again with a full burst allowance.
    if (q.n === 0 && this.prob === 0 && this.qdelayOld === 0) this.burstAllow = this.maxBurst;
  }

  admit(si: SchedInst, q: PktList, buf: Uint8Array, off: number, len: number, now: number): boolean {
    this.tick(now, q);
    if (this.burstAllow > 0) return true;
    if (this.qdelayOld < this.target / 2 && this.prob < 0.2) return true;
    if (q.n <= 2) return true;
    let drop: boolean;
    if (this.p.derand) {
      // De-randomisation (RFC 8033 section 5.1).
      this.accuProb += this.prob;
      if (this.accuProb < 0.85) drop = false;
      else if (this.accuProb >= 8.5) drop = true;
      else drop = si.sink.random() < this.prob;
      if (drop) this.accuProb = 0;
    } else drop = si.sink.random() < this.prob;
    if (!drop) return true;
    if (this.p.ecn && this.prob < this.p.maxEcnth && markCe(buf, off, len)) {
      this.marks++;
      return true;
    }
    this.drops++;
    return false;
  }

  take(_si: SchedInst, q: PktList, now: number): DnPkt | null {
    this.tick(now, q);
    const p = q.shift();
    this.qdelay = p === null ? 0 : now - p.enqTime;
    return p;
  }
}
