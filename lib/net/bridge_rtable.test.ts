import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BridgeRtable, RT_EMPTY } from './bridge_rtable.js';
import { Rng } from '../testing/fuzz.js';

test('the address table agrees with a Map through random inserts, deletes, expiry, trim and resize', () => {
  const rng = new Rng(12);
  const t = new BridgeRtable(64);
  const model = new Map<string, { slot: number; exp: number }>();
  const key = (hi: number, lo: number): string => `${hi}:${lo}`;
  // Few distinct high halves and clustered low halves: many collisions.
  const addr = (): [number, number] => [rng.below(3), (rng.below(200) * 4096) | 0];
  for (let step = 0; step < 20000; step++) {
    const [hi, lo] = addr();
    const op = rng.below(10);
    const i = t.find(hi, lo);
    assert.equal(i >= 0, model.has(key(hi, lo)));
    if (op < 5 && i < 0 && t.count < 64) {
      const e = { slot: rng.below(8), exp: rng.below(100) };
      t.insert(hi, lo, e.slot, e.exp);
      model.set(key(hi, lo), e);
    } else if (op < 8 && i >= 0) {
      t.del(i);
      model.delete(key(hi, lo));
    } else if (op === 8) {
      const now = rng.below(100);
      t.expire(now);
      for (const [k, e] of model) if (e.exp <= now) model.delete(k);
    } else if (step % 997 === 0) {
      t.resize(rng.chance(0.5) ? 64 : 200);
    }
    assert.equal(t.count, model.size);
  }
  for (const [k, e] of model) {
    const [hi, lo] = k.split(':').map(Number) as [number, number];
    const i = t.find(hi, lo);
    assert.ok(i >= 0, k);
    assert.equal(t.port[i], e.slot);
  }
  t.trim(5);
  assert.equal(t.count, Math.min(5, model.size));
  t.clear();
  assert.equal(t.count, 0);
  assert.ok(t.port.every((p) => p === RT_EMPTY));
});
