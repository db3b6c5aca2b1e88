/**
 * The platform the stack runs on: its clocks and its randomness, in one
 * object handed to the Registry (smoltcp passes a timestamp to `poll`,
 * gVisor injects a clock and a random source). Nothing else in lib/ reads
 * the time, the process's CPU usage or a random source of its own, so tests
 * run on a ManualPlatform whose time moves only when they say.
 *
 * Every function of a Platform may be called detached (`const now =
 * p.cpuNow`): the packet path keeps them in fields.
 */

import { ManualClock, type Clock, type Timer } from './clock.js';

export interface Platform {
  /** Monotonic milliseconds and timers: every image's clock. */
  readonly clock: Clock;
  /** Wall-clock milliseconds since the epoch: what users see (creation times, ICMP and IP timestamps). */
  wallNow(): number;
  /**
   * Milliseconds on the clock images are charged by; only differences mean
   * anything, and it is read several times per batch of frames, so it must
   * be cheap: the monotonic clock (about 0.1 us). Time spent in a batch is
   * the CPU time it cost unless the thread was preempted meanwhile;
   * `threadCpuMs`, when given, corrects the sum (Scheduler.sample).
   */
  cpuNow(): number;
  /**
   * The CPU clock of the thread that runs the images (CLOCK_THREAD_CPUTIME_ID,
   * a system call of 3-8 us on a virtual machine, so read once per load
   * interval, never per batch). Absent: charges are taken as they are.
   */
  threadCpuMs?(): number;
  /** CPU milliseconds of the whole process (user + system), for each image's share of it. */
  processCpuMs(): number;
  /** Uniform in [0, 1): IP ids, MACs, port choice, TCP's ISN secrets, ipfw `prob`, dummynet `plr`. */
  random(): number;
}

/** Node's event-loop timers on performance.now(); unref'd, so they never keep a process alive. */
export class RealClock implements Clock {
  readonly realTime = true;

  now(): number {
    return performance.now();
  }

  after(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  }

  every(ms: number, fn: () => void): Timer {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  }

  immediate(fn: () => void): Timer {
    // Not unref'd: an unref'd immediate does not stop the loop from blocking in poll.
    const t = setImmediate(fn);
    return { cancel: () => clearImmediate(t) };
  }
}

export interface RealPlatformOptions {
  /** The charging clock. Default: the monotonic clock (performance.now()). */
  cpuNow?: () => number;
  /** The thread's real CPU clock, to calibrate charges (the daemon passes lib/native/sys.ts's threadCpuMs). */
  threadCpuMs?: () => number;
}

/** The host's clocks and Math.random. */
export function realPlatform(o: RealPlatformOptions = {}): Platform {
  return {
    clock: new RealClock(),
    wallNow: () => Date.now(),
    cpuNow: o.cpuNow ?? (() => performance.now()),
    ...(o.threadCpuMs === undefined ? {} : { threadCpuMs: o.threadCpuMs }),
    processCpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    random: Math.random,
  };
}

/** A repeatable uniform source (Park–Miller minimal standard generator). */
export function seededRandom(seed = 1): () => number {
  let s = seed % 2147483647;
  if (s <= 0) s += 2147483646;
  return (): number => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

export interface ManualPlatformOptions {
  /** Monotonic clock at start, ms (default 0). */
  start?: number;
  /** Wall clock when the monotonic clock reads 0, ms since the epoch (default 2026-01-01T00:00:00Z). */
  wallStart?: number;
  /** Default: seededRandom(1), the same sequence every run. */
  random?: () => number;
  /**
   * Milliseconds the CPU clock moves on at every reading (default 0: work
   * costs nothing unless the test charges it). With a small tick, work
   * measured between two readings costs a predictable, non-zero amount.
   */
  cpuTick?: number;
}

/** Time that moves only when the test says: `advance(ms)`, `cpuMs`. */
export class ManualPlatform implements Platform {
  readonly clock: ManualClock;
  readonly wallStart: number;
  readonly random: () => number;
  /** The CPU clock's reading; a test may move it (`p.cpuMs += 3`). */
  cpuMs = 0;
  private readonly cpuTick: number;

  constructor(o: ManualPlatformOptions = {}) {
    this.clock = new ManualClock(o.start ?? 0);
    this.wallStart = o.wallStart ?? Date.UTC(2026, 0, 1);
    this.random = o.random ?? seededRandom(1);
    this.cpuTick = o.cpuTick ?? 0;
  }

  /** Move the monotonic and wall clocks forward, firing due timers in order. */
  advance(ms: number): void {
    this.clock.advance(ms);
  }

  readonly wallNow = (): number => this.wallStart + this.clock.now();

  readonly cpuNow = (): number => {
    const t = this.cpuMs;
    this.cpuMs += this.cpuTick;
    return t;
  };

  readonly processCpuMs = (): number => this.cpuMs;
}
