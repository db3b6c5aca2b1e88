/**
 * Measuring what a hot path allocates (DESIGN.md, "The packet path"), for the
 * no-allocation tests. The heap is read before and after `run(n)`; a garbage
 * collection inside a window spoils it (v8.GCProfiler says so,
 * synchronously), and V8's own work (compiling, feedback) lands in some
 * windows, so several are taken: an allocation per unit shows in every
 * window, and the least one tells.
 */

import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Heap bytes per unit allocated by `run(n)`, one number per window that no
 * collection disturbed: up to 3 such windows in at most 8 attempts, each
 * after a full collection. Empty when a collection ran in every window,
 * which itself means something allocates per unit.
 */
export function allocWindows(run: (n: number) => void, n: number): number[] {
  // The first collection kills what earlier tests left, and V8 then throws away optimised code that had those
  // objects built in ("weak objects" in --trace-deopt): one unmeasured round optimises it again, so the windows
  // measure the code a running daemon runs, not the interpreter (which boxes every double it computes).
  const gc = fullGc();
  run(n);
  const windows: number[] = [];
  for (let attempt = 0; attempt < 8 && windows.length < 3; attempt++) {
    gc();
    const prof = new v8.GCProfiler();
    prof.start();
    const before = v8.getHeapStatistics().used_heap_size;
    run(n);
    const after = v8.getHeapStatistics().used_heap_size;
    if (prof.stop().statistics.length === 0) windows.push((after - before) / n);
  }
  return windows;
}

/** V8's full collection, run once now; returns the function that runs it again. */
function fullGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  return gc;
}
