/**
 * CPU accounting and fair scheduling of images (the seed's "system load and
 * CPU usage accounting and scheduling", per image).
 *
 * Accounting: every image has an ImageCpu with the milliseconds spent on it
 * (packet processing, its timers, its in-image processes' own work), its
 * share of the daemon's CPU over the last interval, and BSD load averages
 * over 1, 5 and 15 minutes computed as 4.4BSD's loadav() does: every 5 s,
 * load = load * e^(-5/T) + n * (1 - e^(-5/T)), where n stands for the
 * image's run queue length: the mean number of its activities wanting the
 * CPU over the interval, i.e. its CPU milliseconds (packets, timers and
 * processes) divided by the interval. A sleeping `ping -i 1` adds next to
 * nothing; an image that keeps the daemon busy approaches 1.
 *
 * Scheduling: deficit round robin on measured CPU time. Time is cut into
 * rounds of ROUND_MS; at each round every image that had input lately gets a
 * quantum proportional to its weight (cpu.weight, default 100) among the
 * active ones, capped by cpu.max (percent of one CPU). An image that has
 * spent its quantum while another wants the CPU (or that is capped) has its
 * TAP devices held off: they are not read until its next round. What a
 * flood sends meanwhile waits in the kernel's queue for the device and, once
 * that is full, is dropped there, at no cost to the daemon; those drops are
 * counted in the interface's iqdrops when reading resumes. A frame the
 * daemon has read is always processed. Alone, an image may use everything
 * (work conserving).
 *
 * Cost: a batch's checks are O(1) whatever the number of images: the
 * weight shared and the quanta given at a new round are those of the
 * recent askers that are active (the images busy at the same moment; one
 * pushed out of them has been quiet, and begin() gives it a full quantum
 * when it asks again). The first frame after an idle spell is the one a
 * user's ping measures: it must not walk every image of the daemon (with
 * 8,000 idle images that walk made a ping through vimaged 0.5 ms slower).
 */

import type { Clock } from './clock.js';
import type { Platform } from './platform.js';

export const ROUND_MS = 10;
/** Distinct recent askers the per-batch checks consider (images busy at the same moment). */
const RECENT_ASKERS = 8;
export const LOAD_INTERVAL_MS = 5000;
export const CPU_WEIGHT_DEFAULT = 100;
export const CPU_WEIGHT_MAX = 10000;
export const CPU_MAX_DEFAULT = 100;

// exp(-5/60), exp(-5/300), exp(-5/900): 4.4BSD's cexp[] for 1, 5, 15 minutes.
const DECAY = [Math.exp(-5 / 60), Math.exp(-5 / 300), Math.exp(-5 / 900)] as const;

export class ImageCpu {
  /** cpu.weight: share of the CPU among busy images, relative to others. */
  weight = CPU_WEIGHT_DEFAULT;
  /** cpu.max: cap in percent of one CPU (100: no cap). */
  max = CPU_MAX_DEFAULT;
  /** Milliseconds of CPU spent on this image since it was created. */
  ms = 0;
  /** Milliseconds spent by its in-image processes (part of `ms`). */
  procMs = 0;
  /** Percent of the daemon's CPU this image used over the last interval. */
  share = 0;
  /** Load averages over 1, 5 and 15 minutes. */
  readonly load: [number, number, number] = [0, 0, 0];
  /** Times the image's input was held off because it was over its share. */
  heldOff = 0;

  /** @internal scheduler state */
  deficit = 0;
  lastActive = -1e9;
  /** End of the last hold-off: until then the image's queue was waiting, not empty. */
  heldUntil = -1e9;
  /** The scheduler's round this image last got its quantum in. */
  round = -1;
  msAtInterval = 0;
  procMsAtInterval = 0;
}

/** The clocks the scheduler reads: a Platform (lib/platform.ts) has them. */
export type SchedulerClocks = Pick<Platform, 'clock' | 'cpuNow' | 'processCpuMs' | 'threadCpuMs'>;

export class Scheduler {
  private roundStart: number;
  /** Rounds begun so far (replenish): an asker whose `round` is behind missed its quantum. */
  private round = 0;
  /** Images credited in this round and their weight; and the same for the round before. */
  private credited = 0;
  private creditedW = 0;
  private lastCredited = 0;
  private lastCreditedW = 0;
  private readonly members = new Set<ImageCpu>();
  /**
   * The last few distinct images that asked for the CPU, most recent first:
   * the per-batch checks look at these, not at every image of the daemon.
   */
  private readonly recent: Array<ImageCpu | null> = new Array<ImageCpu | null>(RECENT_ASKERS).fill(null);
  private lastSample: number;
  private daemonMsAtSample: number;
  private readonly clock: Clock;
  /** The charging clock (ms; only differences mean anything). */
  readonly cpuNow: () => number;
  private readonly processCpuMs: () => number;
  private readonly threadCpuMs: (() => number) | undefined;
  private threadMsAtSample = 0;
  /** In-image process callbacks running (processBegin without processEnd): their accounting covers timers too. */
  private inProcess = 0;

  constructor(p: SchedulerClocks) {
    this.clock = p.clock;
    this.cpuNow = p.cpuNow;
    this.processCpuMs = p.processCpuMs;
    this.threadCpuMs = p.threadCpuMs;
    if (this.threadCpuMs !== undefined) this.threadMsAtSample = this.threadCpuMs();
    this.roundStart = this.now();
    this.lastSample = this.roundStart;
    this.daemonMsAtSample = this.processCpuMs();
  }

  private now(): number {
    return this.clock.now();
  }

  add(c: ImageCpu): void {
    this.members.add(c);
  }

  remove(c: ImageCpu): void {
    this.members.delete(c);
    const i = this.recent.indexOf(c);
    if (i >= 0) this.recent[i] = null;
  }

  /** Asked for the CPU within the last two rounds. */
  private active(c: ImageCpu, now: number): boolean {
    return now - c.lastActive < 2 * ROUND_MS;
  }

  /** The weight of the active images among the recent askers. */
  private activeWeight(now: number): number {
    let sumW = 0;
    for (const c of this.recent) if (c !== null && this.active(c, now)) sumW += c.weight;
    // More images than the recent askers took quanta last round: their
    // weight is the better count of who shares the CPU (else the quanta add
    // up to more than a round and the weights stop mattering).
    if (this.lastCredited > RECENT_ASKERS && this.lastCreditedW > sumW) return this.lastCreditedW;
    return sumW;
  }

  /** An active image's CPU milliseconds per round: its weight's part, capped by cpu.max. */
  private quantum(c: ImageCpu, sumW: number): number {
    const q = (ROUND_MS * c.weight) / Math.max(sumW, c.weight);
    const cap = (ROUND_MS * c.max) / 100;
    return q > cap ? cap : q;
  }

  /** A new round: every active image (among the recent askers) gets its quantum (no hoarding beyond one). */
  private replenish(now: number): void {
    this.roundStart = now;
    this.round++;
    this.lastCredited = this.credited;
    this.lastCreditedW = this.creditedW;
    this.credited = 0;
    this.creditedW = 0;
    const sumW = this.activeWeight(now);
    for (const c of this.recent) {
      if (c === null || !this.active(c, now)) continue;
      this.credit(c, sumW);
    }
  }

  private credit(c: ImageCpu, sumW: number): void {
    const q = this.quantum(c, sumW);
    c.deficit = Math.min(c.deficit + q, q);
    if (c.round !== this.round) {
      this.credited++;
      this.creditedW += c.weight;
    }
    c.round = this.round;
  }

  /** A batch of input for this image is about to be processed: it wants the CPU. */
  begin(c: ImageCpu): void {
    const now = this.now();
    if (now - Math.max(c.lastActive, c.heldUntil) > ROUND_MS) {
      // Quiet for a round (its queue ran empty, as DRR resets a flow whose
      // queue empties): a full quantum at once, debts forgiven, so a light
      // image such as one answering pings is never the one held off.
      c.lastActive = now;
      c.deficit = Math.max(c.deficit, this.quantum(c, this.activeWeight(now)));
    }
    c.lastActive = now;
    this.noteAsker(c);
    if (now - this.roundStart >= ROUND_MS) this.replenish(now);
    // With more busy images than recent askers, one pushed out of them while
    // it was held off missed the round's quantum: it gets it now, or it would
    // be held off round after round (starved) while the others take turns.
    if (c.round !== this.round) this.credit(c, this.activeWeight(now));
  }

  /**
   * After a charged batch: 0 if the image's devices may be read on, else the
   * ms until its next quantum. An image that has spent its quantum waits
   * while another image that asked within the round still holds credit (it
   * is using its share: a TCP flow asks again within a round trip), or when
   * it is capped. When nobody else wants the CPU, the next round starts at
   * once (work conserving).
   */
  holdOff(c: ImageCpu): number {
    if (c.deficit > 0) return 0;
    const now = this.now();
    if (now - this.roundStart >= ROUND_MS) {
      this.replenish(now);
      if (c.deficit > 0) return 0;
    }
    if (c.max >= 100 && !this.othersHoldCredit(c, now)) {
      this.replenish(now);
      return 0;
    }
    c.heldOff++;
    const left = Math.max(this.roundStart + ROUND_MS - now, 0.5);
    c.heldUntil = now + left; // its queue is not empty: the hold-off is no quiet spell
    return left;
  }

  /**
   * Input that cannot be held off (frames from another image over an epair,
   * already in hand): may it be processed now? false when the image has
   * spent its quantum while others want the CPU, or is capped; the caller
   * drops it.
   */
  admitQueued(c: ImageCpu): boolean {
    this.begin(c);
    if (c.deficit > 0) return true;
    const now = this.now();
    if (c.max >= 100 && !this.othersHoldCredit(c, now)) {
      this.replenish(now);
      return true;
    }
    return false;
  }

  private othersHoldCredit(c: ImageCpu, now: number): boolean {
    for (const o of this.recent) if (o !== null && o !== c && o.deficit > 0 && now - o.lastActive < ROUND_MS) return true;
    return false;
  }

  /** Has another image asked for the CPU within the last round? Then this one should yield after its batch. */
  othersWaiting(c: ImageCpu): boolean {
    const now = this.now();
    for (const o of this.recent) if (o !== null && o !== c && now - o.lastActive < ROUND_MS) return true;
    return false;
  }

  private noteAsker(c: ImageCpu): void {
    const r = this.recent;
    if (r[0] === c) return;
    let i = r.indexOf(c);
    if (i < 0) i = r.length - 1;
    for (; i > 0; i--) r[i] = r[i - 1]!;
    r[0] = c;
  }

  /** Account `ms` of CPU to the image (and its deficit, for packet work). */
  charge(c: ImageCpu, ms: number, scheduled: boolean): void {
    c.ms += ms;
    if (scheduled) c.deficit -= ms;
  }

  /**
   * Run one of the image's timer callbacks and charge what it cost (not to
   * its deficit: timers are not input that can wait). Inside an in-image
   * process's callback the process's own accounting already covers it.
   */
  runTimer(c: ImageCpu, fn: () => void): void {
    if (this.inProcess > 0) {
      fn();
      return;
    }
    const t0 = this.cpuNow();
    try {
      fn();
    } finally {
      this.charge(c, this.cpuNow() - t0, false);
    }
  }

  /**
   * A callback of an in-image process starts (the daemon's process table
   * calls this, nested calls allowed). Returns the CPU clock reading to hand
   * to processEnd.
   */
  processBegin(): number {
    this.inProcess++;
    return this.cpuNow();
  }

  /** It ended: its CPU time since `t0` is the image's (ms and procMs). Returns the milliseconds charged. */
  processEnd(c: ImageCpu, t0: number): number {
    if (this.inProcess > 0) this.inProcess--;
    const ms = this.cpuNow() - t0;
    c.ms += ms;
    c.procMs += ms;
    return ms;
  }

  /**
   * Every LOAD_INTERVAL_MS: load averages and shares. Charges are busy time
   * on the monotonic clock; a thread preempted in a batch charges the time
   * it waited too. When the thread's real CPU time over the interval is
   * less than what was charged, the interval's charges are scaled down to it,
   * so `ms` stays CPU time at the cost of one CPU clock reading per interval.
   */
  sample(): void {
    const now = this.now();
    const interval = now - this.lastSample;
    if (interval <= 0) return;
    const daemonMs = this.processCpuMs();
    const daemonDelta = daemonMs - this.daemonMsAtSample;
    let scale = 1;
    if (this.threadCpuMs !== undefined) {
      const t = this.threadCpuMs();
      const threadDelta = t - this.threadMsAtSample;
      this.threadMsAtSample = t;
      let charged = 0;
      for (const c of this.members) charged += c.ms - c.msAtInterval;
      if (charged > threadDelta && charged > 0) scale = Math.max(threadDelta, 0) / charged;
    }
    for (const c of this.members) {
      let used = c.ms - c.msAtInterval;
      if (scale < 1) {
        c.procMs = c.procMsAtInterval + (c.procMs - c.procMsAtInterval) * scale;
        used *= scale;
        c.ms = c.msAtInterval + used;
      }
      c.msAtInterval = c.ms;
      c.procMsAtInterval = c.procMs;
      c.share = daemonDelta > 0 ? Math.min(100, (100 * used) / daemonDelta) : 0;
      const n = used / interval;
      for (let i = 0; i < 3; i++) c.load[i] = c.load[i]! * DECAY[i]! + n * (1 - DECAY[i]!);
    }
    this.lastSample = now;
    this.daemonMsAtSample = daemonMs;
  }
}
