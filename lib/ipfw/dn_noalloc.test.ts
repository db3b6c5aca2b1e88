/**
 * The schedulers and AQMs allocate nothing per packet (STYLE.md rule 15):
 * each type's instance takes and hands back preallocated packets in a loop
 * while the heap is watched.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { DnPkt, FlowQueue, Flowset, Pipe, SchedInst } from './dn_private.js';
import type { DnAqm, DnSink } from './dn_sched.js';
import { FIFO, schedType } from './dn_sched_all.js';
import { Codel } from './dn_aqm_codel.js';
import { Pie } from './dn_aqm_pie.js';
import { Red } from './dn_aqm_red.js';
import { codelDefaults, pieDefaults } from './dn_params.js';

const N = 30_000;

async function measure(type: string, aqm: () => DnAqm | null): Promise<number[]> {
  const pipe = new Pipe(1, FIFO, schedType(type)!, {});
  const sink: DnSink = { dropQueued: (_si, p) => void free.push(p), random: () => 0.5 };
  const si = new SchedInst(pipe.wf2q, sink);
  const fsA = new Flowset(1, 1, false);
  const fsB = new Flowset(2, 1, false);
  fsB.weight = 3;
  const qa = new FlowQueue(fsA, si);
  const qb = new FlowQueue(fsB, si);
  qa.aqm = aqm();
  qb.aqm = aqm();
  const free: DnPkt[] = [];
  for (let k = 0; k < 64; k++) free.push(new DnPkt(2048));
  let now = 0;
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      now++;
      for (let j = 0; j < 3; j++) {
        const p = free.pop();
        if (p === undefined) break;
        p.len = 1000 + j;
        p.enqTime = now;
        p.hash = (k + j) & 7;
        const q = j === 0 ? qa : qb;
        p.fq = q;
        if (!si.alg.enqueue(q, p, now)) free.push(p);
      }
      for (let j = 0; j < 3; j++) {
        const p = si.alg.dequeue(now + 2);
        if (p !== null) free.push(p);
      }
    }
  };
  run(30_000); // warm up (the optimising compiler), and let the fq_* sub-queues exist
  // The optimised code is compiled on another thread and installed at a later call: give it a moment on a
  // busy machine, then run again, so the windows measure it and not the baseline tier (which boxes doubles).
  await new Promise((r) => setTimeout(r, 50));
  run(10_000);
  return allocWindows(run, N);
}

const cases: Array<[string, string, () => DnAqm | null]> = [
  ['fifo', 'droptail', () => null],
  ['wf2q+', 'droptail', () => null],
  ['rr', 'droptail', () => null],
  ['qfq', 'droptail', () => null],
  ['prio', 'droptail', () => null],
  ['fq_codel', 'its own', () => null],
  ['fq_pie', 'its own', () => null],
  ['wf2q+', 'codel', () => new Codel(codelDefaults())],
  ['rr', 'pie', () => new Pie(pieDefaults())],
  ['fifo', 'red', () => new Red({ wq: 0.1, minTh: 1, maxTh: 2, maxP: 0.5, gentle: true, ecn: false }, false)],
];

for (const [type, aqm, make] of cases) {
  test(`${type} with ${aqm} AQM: no allocation per packet`, async () => {
    // The virtual times (len / weight) are doubles: code that is not (or no longer) optimised boxes each one,
    // about 6-8 bytes a round, and in some processes on a busy machine the measured code was still in that tier.
    // A fresh pipe is measured up to three times; an allocation the design makes per packet shows in all three.
    let w = await measure(type, make);
    for (let again = 0; again < 2 && !(w.length > 0 && Math.min(...w) < 4); again++) w = await measure(type, make);
    assert.ok(w.length > 0, 'a garbage collection ran during every window: something allocates per packet');
    assert.ok(Math.min(...w) < 4, `${w.map((x) => x.toFixed(2)).join(', ')} bytes per round of 3 packets`);
  });
}
