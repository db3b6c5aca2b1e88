import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../clock.js';
import type { Ifnet } from './if.js';
import { TapDriver, type TapPort } from './if_tap.js';
import { Netisr } from './netisr.js';

/** A port whose batches the test delivers, recording pauses; the kernel's drop counter is set by hand. */
function fakePort(): TapPort & { deliver(n: number): boolean; paused: boolean; kernelDrops: number } {
  let onBatch: ((n: number, readMs: number) => boolean | void) | null = null;
  const port = {
    name: 'vtapt0',
    vnetHdrLen: 0,
    slotSize: 2048,
    rx: new Uint8Array(2048 * 4),
    rxLen: new Int32Array(4).fill(60),
    paused: false,
    kernelDrops: 0,
    start(cb: (n: number, readMs: number) => boolean | void) {
      onBatch = cb;
    },
    stop() {
      onBatch = null;
    },
    pause(on: boolean) {
      port.paused = on;
    },
    hostDrops: () => port.kernelDrops,
    write: (_b: Uint8Array, _o: number, len: number) => len,
    setPersist() {},
    close() {},
    deliver(n: number): boolean {
      assert.ok(!port.paused, 'a paused device delivers nothing');
      return onBatch!(n, 0.01) !== false;
    },
  };
  return port;
}

test('an image that spent its share stops reading its TAP until its next turn; the kernel\'s drops meanwhile count as iqdrops', () => {
  const clock = new ManualClock();
  const port = fakePort();
  let holdMs = 0;
  let seen = 0;
  const ifp = { counters: { iqdrops: 0, ierrors: 0 }, input: () => void seen++ } as unknown as Ifnet;
  const driver = new TapDriver(port, new Netisr(), {
    begin: () => {},
    charge: () => true,
    holdOff: () => holdMs,
    after: (ms, fn) => clock.after(ms, fn),
    cpuNow: () => 0,
  });
  driver.attach(ifp);

  assert.equal(port.deliver(4), true);
  assert.equal(seen, 4);

  holdMs = 3; // this batch spends the image's share: it is processed, then reading pauses for 3 ms
  port.kernelDrops = 100;
  assert.equal(port.deliver(4), false);
  assert.equal(seen, 8);
  assert.equal(ifp.counters.iqdrops, 0);
  assert.equal(port.paused, true);
  port.kernelDrops = 350; // the flood went on in the kernel meanwhile
  clock.advance(2.9);
  assert.equal(port.paused, true);
  clock.advance(0.2);
  assert.equal(port.paused, false);
  assert.equal(ifp.counters.iqdrops, 250);

  // The next hold counts from that reading: drops in between are input drops too.
  port.kernelDrops = 400;
  assert.equal(port.deliver(4), false);
  port.kernelDrops = 450;
  clock.advance(3);
  assert.equal(ifp.counters.iqdrops, 250 + 100);

  holdMs = 0;
  assert.equal(port.deliver(2), true);
  assert.equal(seen, 14);

  // Released while held off: the timer goes with it.
  holdMs = 5;
  port.deliver(1);
  driver.release(true);
  assert.equal(clock.pending, 0);
});

test('a kernel that cannot tell its drops (negative) adds nothing', () => {
  const clock = new ManualClock();
  const port = fakePort();
  port.hostDrops = () => -19;
  const ifp = { counters: { iqdrops: 0, ierrors: 0 }, input: () => {} } as unknown as Ifnet;
  const driver = new TapDriver(port, new Netisr(), { begin: () => {}, charge: () => true, holdOff: () => 1, after: (ms, fn) => clock.after(ms, fn), cpuNow: () => 0 });
  driver.attach(ifp);
  port.deliver(3);
  assert.equal(port.paused, true);
  clock.advance(1);
  assert.equal(ifp.counters.iqdrops, 0);
  assert.equal(port.paused, false);
});
