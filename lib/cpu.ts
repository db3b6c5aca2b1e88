/**
 * The clock images are charged by. The scheduler divides CPU time, so a
 * batch should cost what the daemon's thread really spent on it, not the
 * wall time it took: on a busy machine the thread may be preempted halfway
 * through. The daemon installs the thread CPU clock from the native binding
 * (CLOCK_THREAD_CPUTIME_ID); tests and tools without it charge wall time.
 */

let now: () => number = () => performance.now();

/** Milliseconds on the charging clock (only differences mean anything). */
export function cpuNow(): number {
  return now();
}

/** Charge by this clock from now on (the daemon: the main thread's CPU time). */
export function useCpuClock(clock: () => number): void {
  now = clock;
}
