/**
 * Sub-millisecond timing for dummynet on top of the image's Clock.
 *
 * Entries (scheduler instances with a wake-up time) sit in a binary
 * min-heap; one clock timer is armed for the earliest. Node's timers step
 * in whole milliseconds and usually fire up to a millisecond late, more on
 * a busy or virtualised machine, so on a real-time clock the timer is armed
 * a lead early and the last stretch is finished by polling the clock from
 * `clock.immediate`, which yields to I/O on every turn and runs only while
 * something is due within the lead. The lead starts at SPIN_MS and follows
 * how late the coarse timer has recently been, up to SPIN_MAX_MS. On a
 * manual clock (tests) the timer is armed for the exact time, so tests are
 * deterministic.
 */

import type { Clock, Timer } from '../clock.js';

/** Start polling at least this many ms before the due time on a real-time clock. */
export const SPIN_MS = 2;
/** ... and at most this many. */
export const SPIN_MAX_MS = 8;

export interface HeapEntry {
  /** Clock ms at which the entry wants to run; meaningful while in the heap. */
  wakeAt: number;
  /** Position in the heap, -1 when not in it. */
  heapIdx: number;
}

/** A min-heap of entries by `wakeAt`, with removal and re-keying in place. */
export class TimerHeap<T extends HeapEntry> {
  readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** Insert `e` or move it to its new `wakeAt`. */
  set(e: T, at: number): void {
    e.wakeAt = at;
    if (e.heapIdx < 0) {
      e.heapIdx = this.items.length;
      this.items.push(e);
    }
    this.up(e.heapIdx);
    this.down(e.heapIdx);
  }

  remove(e: T): void {
    const i = e.heapIdx;
    if (i < 0) return;
    const last = this.items.pop()!;
    e.heapIdx = -1;
    if (i < this.items.length) {
      this.items[i] = last;
      last.heapIdx = i;
      this.up(i);
      this.down(i);
    }
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  clear(): void {
    for (const e of this.items) e.heapIdx = -1;
    this.items.length = 0;
  }

  private up(i: number): void {
    const a = this.items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.wakeAt <= a[i]!.wakeAt) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const a = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]!.wakeAt < a[m]!.wakeAt) m = l;
      if (r < a.length && a[r]!.wakeAt < a[m]!.wakeAt) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items;
    const x = a[i]!;
    a[i] = a[j]!;
    a[j] = x;
    a[i]!.heapIdx = i;
    a[j]!.heapIdx = j;
  }
}

/** How late the timer ran, for `ipfw pipe show -v` and the accuracy report. */
export interface TimerAccuracy {
  fires: number;
  /** Sum and maximum of (run time - due time), ms. */
  lateSum: number;
  lateMax: number;
  /** Fires where the coarse timer itself came after the due time (it was more than SPIN_MS late). */
  coarseLate: number;
}

/**
 * One precise one-shot timer: `arm(at)` (re)schedules `fn` for clock time
 * `at`; `fn` runs once at or after `at`, never before.
 */
export class HiresTimer {
  private readonly precise: boolean;
  private coarse: Timer | null = null;
  private spinning = false;
  /** Current lead, ms: SPIN_MS plus a margin over the coarse timer's recent lateness. */
  private lead = SPIN_MS;
  /** Recent worst lateness of the coarse timer, decaying by a tenth per fire. */
  private recentLate = 0;
  private due = Infinity;
  readonly accuracy: TimerAccuracy = { fires: 0, lateSum: 0, lateMax: 0, coarseLate: 0 };
  private dead = false;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {
    this.precise = clock.realTime;
  }

  get armedFor(): number {
    return this.due;
  }

  arm(at: number): void {
    if (this.dead) return;
    if (at === this.due && (this.coarse !== null || this.spinning)) return;
    this.coarse?.cancel();
    this.coarse = null;
    this.due = at;
    const dt = at - this.clock.now();
    if (!this.precise) {
      this.coarse = this.clock.after(Math.max(0, dt), this.onCoarse);
      return;
    }
    if (dt > this.lead) this.coarse = this.clock.after(dt - this.lead, this.onCoarse);
    else this.startSpin();
  }

  cancel(): void {
    this.coarse?.cancel();
    this.coarse = null;
    this.due = Infinity;
  }

  destroy(): void {
    this.cancel();
    this.dead = true;
  }

  private readonly onCoarse = (): void => {
    this.coarse = null;
    if (this.due === Infinity) return;
    if (this.precise) this.learn(this.clock.now() - (this.due - this.lead));
    if (this.clock.now() >= this.due) {
      if (this.precise) this.accuracy.coarseLate++;
      this.fire();
    } else if (this.precise) this.startSpin();
    else this.coarse = this.clock.after(this.due - this.clock.now(), this.onCoarse);
  };

  /**
   * Adjust the lead to how late the coarse timer came (`late` ms after it
   * was set for). One stall (a GC pause, a long batch) must not keep the
   * lead, and so the polling, long: the memory halves at every fire.
   */
  private learn(late: number): void {
    this.recentLate = Math.max(this.recentLate * 0.5, Math.min(late, SPIN_MAX_MS));
    this.lead = Math.min(SPIN_MAX_MS, Math.max(SPIN_MS, this.recentLate + 1));
  }

  private startSpin(): void {
    if (this.spinning) return;
    this.spinning = true;
    this.clock.immediate(this.spin);
  }

  private readonly spin = (): void => {
    if (this.dead || this.due === Infinity) {
      this.spinning = false;
      return;
    }
    const now = this.clock.now();
    if (now < this.due) {
      // Re-armed for later while polling: the coarse timer takes over.
      if (this.due - now > this.lead && this.coarse !== null) this.spinning = false;
      else this.clock.immediate(this.spin);
      return;
    }
    this.spinning = false;
    this.fire();
  };

  private fire(): void {
    const late = this.clock.now() - this.due;
    const a = this.accuracy;
    a.fires++;
    a.lateSum += late;
    if (late > a.lateMax) a.lateMax = late;
    this.due = Infinity;
    this.fn();
  }
}
