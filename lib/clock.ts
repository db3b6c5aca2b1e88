/**
 * Time is a parameter. Every timer in an image goes through its Clock, so
 * tests run ARP expiry, ICMP rate limits and retransmissions on a manual clock.
 * The real one (RealClock) is part of the platform, lib/platform.ts.
 */

export interface Timer {
  /** Cancel; safe to call more than once. */
  cancel(): void;
}

export interface Clock {
  /**
   * True when timers run on Node's event loop, which fires them up to a
   * millisecond or more late; precise timers (dummynet) then poll the last
   * stretch with `immediate`. False on a manual clock, where timers are exact.
   */
  readonly realTime: boolean;
  /** Milliseconds, monotonic, fractional. */
  now(): number;
  /** Call fn once after ms milliseconds. */
  after(ms: number, fn: () => void): Timer;
  /** Call fn every ms milliseconds until cancelled. */
  every(ms: number, fn: () => void): Timer;
  /** Call fn once on the next turn of the event loop, after pending I/O. */
  immediate(fn: () => void): Timer;
}

interface ManualTimer extends Timer {
  at: number;
  period: number;
  fn: () => void;
  live: boolean;
  seq: number;
}

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  readonly realTime = false;
  private t = 0;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    return this.add(ms, 0, fn);
  }

  every(ms: number, fn: () => void): Timer {
    return this.add(ms, Math.max(ms, 1e-3), fn);
  }

  immediate(fn: () => void): Timer {
    return this.add(0, 0, fn);
  }

  /** Number of live timers: a test can check that destroy left none. */
  get pending(): number {
    return this.timers.filter((x) => x.live).length;
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const x of this.timers) {
        if (x.live && x.at <= end && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      }
      if (next === undefined) break;
      this.t = Math.max(this.t, next.at);
      if (next.period > 0) next.at += next.period;
      else next.live = false;
      next.fn();
    }
    this.t = end;
    this.timers = this.timers.filter((x) => x.live);
  }

  private add(ms: number, period: number, fn: () => void): Timer {
    const timer: ManualTimer = {
      at: this.t + Math.max(0, ms),
      period,
      fn,
      live: true,
      seq: this.seq++,
      cancel() {
        timer.live = false;
      },
    };
    this.timers.push(timer);
    return timer;
  }
}
