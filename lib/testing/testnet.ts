/**
 * Test helper: two images A (10.0.0.1) and B (10.0.0.2) on one epair, a
 * manual clock, and a pump that delivers frames until the network is quiet.
 */

import type { ManualClock } from '../clock.js';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { inAddAddress } from '../netinet/in.js';

export interface TestNet {
  reg: Registry;
  clock: ManualClock;
  a: Image;
  b: Image;
  /** Deliver queued frames and let promise callbacks run, until nothing moves. */
  settle(): Promise<void>;
  /** Advance the clock in steps of `step` ms, settling between steps. */
  run(ms: number, step?: number): Promise<void>;
}

export const A_ADDR = 0x0a000001;
export const B_ADDR = 0x0a000002;

export function twoImages(): TestNet {
  const platform = new ManualPlatform(); // seeded random: the same run every time
  const clock = platform.clock;
  const reg = new Registry({ platform, log: silentLogger });
  const a = reg.create('A');
  const b = reg.create('B');
  const [ea, eb] = reg.createEpair(a);
  reg.move(a, eb, b);
  a.setUp(ea, true);
  b.setUp(eb, true);
  inAddAddress(a, ea, A_ADDR, 24, { alias: false });
  inAddAddress(b, eb, B_ADDR, 24, { alias: false });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setImmediate(r));
      if (reg.netisr.length === 0) {
        await new Promise((r) => setImmediate(r));
        if (reg.netisr.length === 0) return;
      }
      reg.netisr.drain();
    }
  };
  const run = async (ms: number, step = 10): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      await settle();
      clock.advance(step);
    }
    await settle();
  };
  return { reg, clock, a, b, settle, run };
}
