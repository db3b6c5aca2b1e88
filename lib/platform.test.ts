import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform, realPlatform, seededRandom } from './platform.js';

test('a manual platform moves its monotonic and wall clocks together, only when told', () => {
  const p = new ManualPlatform({ wallStart: 1_000_000 });
  assert.equal(p.clock.now(), 0);
  assert.equal(p.wallNow(), 1_000_000);
  let fired = 0;
  p.clock.after(5, () => fired++);
  p.advance(4);
  assert.equal(fired, 0);
  p.advance(1);
  assert.equal(fired, 1);
  assert.equal(p.wallNow(), 1_000_005);
});

test('a manual CPU clock moves by hand, or by its tick at every reading', () => {
  const still = new ManualPlatform();
  const cpuNow = still.cpuNow; // called detached, as the packet path keeps it
  assert.equal(cpuNow(), cpuNow());
  still.cpuMs += 3;
  assert.equal(cpuNow(), 3);
  assert.equal(still.processCpuMs(), 3);
  const ticking = new ManualPlatform({ cpuTick: 0.5 });
  const t0 = ticking.cpuNow();
  assert.equal(ticking.cpuNow() - t0, 0.5);
});

test('the default manual random is the same sequence every run, in [0, 1)', () => {
  const a = new ManualPlatform().random;
  const b = seededRandom(1);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x > 0 && x < 1));
  assert.ok(new Set(xs).size > 990, 'not stuck');
});

test('the real platform reads the host clocks', () => {
  const p = realPlatform();
  assert.ok(Math.abs(p.wallNow() - Date.now()) < 1000);
  const c0 = p.processCpuMs();
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += i;
  assert.ok(x > 0 && p.processCpuMs() >= c0);
  assert.equal(p.clock.realTime, true);
  assert.equal(realPlatform({ cpuNow: () => 42 }).cpuNow(), 42);
});
