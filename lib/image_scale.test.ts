import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry, type Image } from './image.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size;
}

test('creating and destroying thousands of images leaks no memory: destroyed images are collected', async () => {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger, limits: { images: 100_000 } });
  const timers = platform.clock.pending;
  const round = (r: number): WeakRef<Image>[] => {
    const refs: WeakRef<Image>[] = [];
    for (let i = 0; i < 2000; i++) {
      const im = reg.create(`r${r}-${i}`);
      if (i % 2 === 0) reg.createEpair(im); // interfaces go back to the default image...
      refs.push(new WeakRef(im));
    }
    for (let i = 0; i < 2000; i++) reg.destroy(`r${r}-${i}`);
    // ...and are destroyed there, so the default image does not grow either.
    for (const ifp of [...reg.default.ifnets.values()]) if (ifp !== reg.default.lo0) reg.destroyIfnet(reg.default, ifp);
    return refs;
  };
  round(0);
  round(1);
  const h1 = heap();
  const refs = round(2);
  round(3);
  await new Promise((r) => setImmediate(r)); // a WeakRef keeps its target until the current job ends
  const h3 = heap();
  assert.equal(refs.filter((w) => w.deref() !== undefined).length, 0, 'every destroyed image is collected');
  // An image costs about 22 KiB: a leak of even one part per image shows as megabytes.
  assert.ok(h3 - h1 < 1024 * 1024, `heap grew ${((h3 - h1) / 1024).toFixed(0)} KiB over 4000 images made and destroyed`);
  assert.equal(reg.size, 1);
  assert.equal(platform.clock.pending, timers, 'no timer left behind');
  reg.close();
});

// 19 KiB before IPv6 transport, router discovery, vxlan, NAT, tables and socket owners came in; 22.5 KiB with them.
// 24.3 KiB with gif, IPv6 fragments and path MTU, raw IPv6 and MLD, the ipfw actions and ipfw for IPv6 (25.9
// before their empty maps and IPv6 scratch were made on first use). The daemon's RSS per idle image was 30.7 KiB
// then (bench scale), under issue 14's 32 KiB.
test('an idle image costs little heap (about 24 KiB on Node 20)', (t) => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, limits: { images: 100_000 } });
  for (let i = 0; i < 200; i++) reg.create(`w${i}`); // warm up: code and shapes
  const h0 = heap();
  for (let i = 0; i < 2000; i++) reg.create(`i${i}`);
  const per = (heap() - h0) / 2000;
  t.diagnostic(`${(per / 1024).toFixed(1)} KiB of heap per idle image`);
  assert.ok(per < 25 * 1024, `${(per / 1024).toFixed(1)} KiB of heap per idle image`);
  reg.close();
});
