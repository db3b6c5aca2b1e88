/**
 * What ping and ping6 count while they run, and the statistics they print at
 * the end: requests sent, replies and duplicates (FreeBSD's `rcvd_tbl`
 * bitmap of the last MAX_DUP_CHK sequence numbers), and the round-trip
 * min/max/sum/sum of squares behind the min/avg/max/stddev line.
 * The two commands differ only in wording, which the caller passes in.
 */

/** Sequence numbers remembered for duplicate detection (FreeBSD's MAX_DUP_CHK). */
export const MAX_DUP_CHK = 8 * 128;

/** Round-trip figures in ms over all replies, duplicates included (as FreeBSD). */
export interface RoundTrip {
  min: number;
  avg: number;
  max: number;
  stddev: number;
}

export class PingStats {
  ntransmitted = 0;
  nreceived = 0;
  nrepeats = 0;
  tmin = Infinity;
  tmax = 0;
  tsum = 0;
  tsumsq = 0;
  private readonly rcvd = new Uint8Array(MAX_DUP_CHK / 8);

  /** The sequence number of the next request; forgets any reply seen to an older use of it. */
  nextSeq(): number {
    const seq = this.ntransmitted & 0xffff;
    const bit = seq % MAX_DUP_CHK;
    this.rcvd[bit >> 3]! &= ~(1 << (bit & 7));
    return seq;
  }

  /** Adds one round trip (ms) to min/max/sum. */
  trip(ms: number): void {
    this.tsum += ms;
    this.tsumsq += ms * ms;
    if (ms < this.tmin) this.tmin = ms;
    if (ms > this.tmax) this.tmax = ms;
  }

  /** Counts a reply to `seq`: a repeat if already seen, else a new reply. True for a repeat. */
  reply(seq: number): boolean {
    const bit = seq % MAX_DUP_CHK;
    if ((this.rcvd[bit >> 3]! & (1 << (bit & 7))) !== 0) {
      this.nrepeats++;
      return true;
    }
    this.nreceived++;
    this.rcvd[bit >> 3]! |= 1 << (bit & 7);
    return false;
  }

  /**
   * How long to wait after the last request: twice the longest round trip
   * (whole seconds, at least one) if anything came back, else `waitMs` (-W).
   */
  lingerMs(waitMs: number): number {
    return this.nreceived > 0 ? Math.max(1, Math.trunc((2 * this.tmax) / 1000)) * 1000 : waitMs;
  }

  /** Packet loss in percent; only meaningful once something was sent. */
  lossPercent(): number {
    return ((this.ntransmitted - this.nreceived) * 100) / this.ntransmitted;
  }

  /** min/avg/max/stddev; only meaningful once a reply came back. */
  roundTrip(): RoundTrip {
    const n = this.nreceived + this.nrepeats;
    const avg = n > 0 ? this.tsum / n : 0;
    return { min: this.tmin, avg, max: this.tmax, stddev: Math.sqrt(Math.max(0, this.tsumsq / n - avg * avg)) };
  }
}

/** How the statistics of one command are worded. */
export interface SummaryWording {
  /** `ping` or `ping6`, in the `--- HOST ping statistics ---` line. */
  name: string;
  /** `stddev` (ping) or `std-dev` (ping6). */
  stddevLabel: string;
  /** ping says so when more replies than requests came back; ping6 prints the (negative) loss. */
  flagExcess: boolean;
}

/**
 * The text FreeBSD prints at the end: a blank line, the statistics header,
 * the counts and loss, and with `timing` the round-trip line.
 */
export function summaryText(s: PingStats, target: string, timing: boolean, w: SummaryWording, nrcvtimeout = 0): string {
  let t = `\n--- ${target} ${w.name} statistics ---\n`;
  t += `${s.ntransmitted} packets transmitted, ${s.nreceived} packets received, `;
  if (s.nrepeats > 0) t += `+${s.nrepeats} duplicates, `;
  if (s.ntransmitted > 0) {
    if (w.flagExcess && s.nreceived > s.ntransmitted) t += "-- somebody's printing up packets!";
    else t += `${s.lossPercent().toFixed(1)}% packet loss`;
  }
  if (nrcvtimeout > 0) t += `, ${nrcvtimeout} packets out of wait time`;
  t += '\n';
  if (s.nreceived > 0 && timing) {
    const r = s.roundTrip();
    const f = (x: number): string => x.toFixed(3);
    t += `round-trip min/avg/max/${w.stddevLabel} = ${f(r.min)}/${f(r.avg)}/${f(r.max)}/${f(r.stddev)} ms\n`;
  }
  return t;
}
