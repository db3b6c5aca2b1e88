/**
 * Congestion control, chosen per connection: NewReno (RFC 5681 with the
 * RFC 6582 recovery handled by the connection) and CUBIC (RFC 9438).
 * An algorithm sees only these numbers, so it is tested on its own.
 */

export interface CcVars {
  cwnd: number;
  ssthresh: number;
  /** Payload bytes per full segment (SMSS). */
  smss: number;
  /** Bytes sent and not yet acknowledged. */
  flight: number;
  /** Smoothed RTT in ms (0 when unknown). */
  srtt: number;
}

export interface CongestionControl {
  readonly name: string;
  /** New data acknowledged outside loss recovery. */
  ack(v: CcVars, acked: number, now: number): void;
  /** Loss detected by duplicate ACKs or SACK (entering recovery): set ssthresh. */
  loss(v: CcVars, now: number): void;
  /** Retransmission timeout: ssthresh and cwnd of one segment. */
  timeout(v: CcVars, now: number): void;
  /** Recovery done: deflate the window. */
  postRecovery(v: CcVars, now: number): void;
}

/** RFC 5681: slow start with appropriate byte counting (L = 2 SMSS, RFC 3465), then one SMSS per window. */
export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  private bytesAcked = 0;

  ack(v: CcVars, acked: number): void {
    if (v.cwnd < v.ssthresh) {
      v.cwnd += Math.min(acked, 2 * v.smss);
      return;
    }
    this.bytesAcked += acked;
    if (this.bytesAcked >= v.cwnd) {
      this.bytesAcked -= v.cwnd;
      v.cwnd += v.smss;
    }
  }

  loss(v: CcVars): void {
    // RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
    v.ssthresh = Math.max(Math.floor(v.flight / 2), 2 * v.smss);
    this.bytesAcked = 0;
  }

  timeout(v: CcVars): void {
    v.ssthresh = Math.max(Math.floor(v.flight / 2), 2 * v.smss);
    v.cwnd = v.smss;
    this.bytesAcked = 0;
  }

  postRecovery(v: CcVars): void {
    // RFC 6582 3.2 step 3: min(ssthresh, FlightSize + SMSS).
    v.cwnd = Math.max(Math.min(v.ssthresh, v.flight + v.smss), v.smss);
  }
}

/**
 * CUBIC (RFC 9438): window growth as a cubic function of the time since
 * the last congestion event, with the Reno-friendly region (section 4.3)
 * and fast convergence (section 4.7).
 */
export class Cubic implements CongestionControl {
  readonly name = 'cubic';
  private static readonly C = 0.4;
  private static readonly BETA = 0.7;
  /** Window (in segments) before the last reduction. */
  private wMax = 0;
  private k = 0;
  /** Start of the current congestion-avoidance epoch (ms); -1 = not started. */
  private epoch = -1;
  /** Reno-friendly estimate in segments (section 4.3). */
  private wEst = 0;
  private bytesAcked = 0;

  ack(v: CcVars, acked: number, now: number): void {
    if (v.cwnd < v.ssthresh) {
      v.cwnd += Math.min(acked, 2 * v.smss);
      return;
    }
    const seg = v.smss;
    const cwndSeg = v.cwnd / seg;
    if (this.epoch < 0) {
      this.epoch = now;
      if (this.wMax <= cwndSeg) {
        this.wMax = cwndSeg;
        this.k = 0;
      } else this.k = Math.cbrt((this.wMax * (1 - Cubic.BETA)) / Cubic.C);
      this.wEst = cwndSeg;
      this.bytesAcked = 0;
    }
    const rtt = v.srtt > 0 ? v.srtt : 100;
    const t = (now - this.epoch + rtt) / 1000;
    const target = Cubic.C * (t - this.k) ** 3 + this.wMax;
    // Reno-friendly region: alpha = 3 (1 - beta) / (1 + beta) per RTT.
    this.bytesAcked += acked;
    const alpha = (3 * (1 - Cubic.BETA)) / (1 + Cubic.BETA);
    this.wEst += (alpha * acked) / v.cwnd;
    let next: number;
    if (this.wEst > target) next = this.wEst;
    else {
      // Section 4.4: grow by (target - cwnd) / cwnd per ACKed segment, at most 1.5x per RTT.
      const tgt = Math.min(target, 1.5 * cwndSeg);
      next = cwndSeg + (Math.max(tgt - cwndSeg, 0) * (acked / seg)) / cwndSeg;
    }
    v.cwnd = Math.max(v.cwnd, Math.floor(next * seg));
  }

  loss(v: CcVars): void {
    const cwndSeg = v.cwnd / v.smss;
    // Fast convergence (section 4.7).
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + Cubic.BETA)) / 2 : cwndSeg;
    v.ssthresh = Math.max(Math.floor(v.cwnd * Cubic.BETA), 2 * v.smss);
    this.epoch = -1;
  }

  timeout(v: CcVars): void {
    this.loss(v);
    v.cwnd = v.smss;
  }

  postRecovery(v: CcVars): void {
    v.cwnd = Math.max(v.ssthresh, v.smss);
  }
}

export const CC_ALGORITHMS = ['newreno', 'cubic'] as const;

export function newCc(index: number): CongestionControl {
  return index === 1 ? new Cubic() : new NewReno();
}
