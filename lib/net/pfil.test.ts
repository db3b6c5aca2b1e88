import assert from 'node:assert/strict';
import test from 'node:test';
import { VnetHdr } from '../wire/vnet.js';
import type { Ifnet } from './if.js';
import { PFIL_CONSUMED, PFIL_DROPPED, PFIL_IN, PFIL_OUT, PFIL_PASS, PfilHead, type PfilHook, type PfilVerdict } from './pfil.js';

const ifp = { name: 'em0' } as Ifnet;
const meta = new VnetHdr();
const buf = new Uint8Array(64);

function harness(): { head: PfilHead; resumed: string[] } {
  const resumed: string[] = [];
  const head = new PfilHead('inet', {
    resumeInput: (i) => void resumed.push(`in ${i.name}`),
    resumeOutput: (i, nexthop) => void resumed.push(`out ${i.name} ${nexthop}`),
    headroom: 30,
    sendLocal: () => {},
  });
  return { head, resumed };
}

class Hook implements PfilHook {
  constructor(
    readonly name: string,
    public verdict: PfilVerdict,
    private readonly log: string[],
  ) {}
  pfilIn(): PfilVerdict {
    this.log.push(`${this.name} in`);
    return this.verdict;
  }
  pfilOut(): PfilVerdict {
    this.log.push(`${this.name} out`);
    return this.verdict;
  }
}

test('a head with no hooks passes everything', () => {
  const { head } = harness();
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_PASS);
  assert.equal(head.runOut(null, ifp, 1, buf, 0, 20, 1500, meta), PFIL_PASS);
});

test('hooks run in the order added; the first verdict other than pass ends the walk', () => {
  const { head } = harness();
  const log: string[] = [];
  const a = new Hook('a', PFIL_PASS, log);
  const b = new Hook('b', PFIL_DROPPED, log);
  const c = new Hook('c', PFIL_PASS, log);
  head.addHook(a, PFIL_IN | PFIL_OUT);
  head.addHook(b, PFIL_IN);
  head.addHook(c, PFIL_IN | PFIL_OUT);
  assert.deepEqual(head.hooks(), { in: ['a', 'b', 'c'], out: ['a', 'c'] });
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_DROPPED);
  assert.deepEqual(log, ['a in', 'b in']);
  log.length = 0;
  assert.equal(head.runOut(null, ifp, 1, buf, 0, 20, 1500, meta), PFIL_PASS);
  assert.deepEqual(log, ['a out', 'c out']);
  b.verdict = PFIL_CONSUMED;
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_CONSUMED);
});

test('adding a hook twice keeps one; removing takes it out of both directions', () => {
  const { head } = harness();
  const log: string[] = [];
  const a = new Hook('a', PFIL_DROPPED, log);
  head.addHook(a, PFIL_IN | PFIL_OUT);
  head.addHook(a, PFIL_IN);
  assert.deepEqual(head.hooks(), { in: ['a'], out: ['a'] });
  head.removeHook(a);
  assert.deepEqual(head.hooks(), { in: [], out: [] });
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_PASS);
  assert.deepEqual(log, []);
});

test('a hook without the method for a direction cannot be added for it', () => {
  const { head } = harness();
  assert.throws(() => head.addHook({ name: 'x' }, PFIL_IN), /no input method/);
  assert.throws(() => head.addHook({ name: 'x' }, PFIL_OUT), /no output method/);
});

test('reinjection runs the hooks after the one that kept the packet, then the continuation', () => {
  const { head, resumed } = harness();
  const log: string[] = [];
  const a = new Hook('a', PFIL_PASS, log);
  const keeper = new Hook('keeper', PFIL_CONSUMED, log);
  const c = new Hook('c', PFIL_PASS, log);
  for (const h of [a, keeper, c]) head.addHook(h, PFIL_IN | PFIL_OUT);
  head.reinjectIn(keeper, ifp, buf, 0, 20, meta);
  head.reinjectOut(keeper, null, ifp, 7, buf, 0, 20, 1500, meta);
  assert.deepEqual(log, ['c in', 'c out']);
  assert.deepEqual(resumed, ['in em0', 'out em0 7']);
  // A later hook that drops it stops it there.
  c.verdict = PFIL_DROPPED;
  head.reinjectIn(keeper, ifp, buf, 0, 20, meta);
  assert.equal(resumed.length, 2);
});

test('a hook removed while its packet was kept: every hook runs on reinjection', () => {
  const { head, resumed } = harness();
  const log: string[] = [];
  const keeper = new Hook('keeper', PFIL_CONSUMED, log);
  const b = new Hook('b', PFIL_PASS, log);
  head.addHook(keeper, PFIL_IN);
  head.addHook(b, PFIL_IN);
  head.removeHook(keeper);
  head.reinjectIn(keeper, ifp, buf, 0, 20, meta);
  assert.deepEqual(log, ['b in']);
  assert.deepEqual(resumed, ['in em0']);
});

test('a hook added during a walk does not join that walk', () => {
  const { head } = harness();
  const log: string[] = [];
  const late = new Hook('late', PFIL_DROPPED, log);
  const adder: PfilHook = {
    name: 'adder',
    pfilIn: () => {
      head.addHook(late, PFIL_IN);
      return PFIL_PASS;
    },
  };
  head.addHook(adder, PFIL_IN);
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_PASS);
  assert.deepEqual(log, []);
  assert.equal(head.runIn(ifp, buf, 0, 20, meta), PFIL_DROPPED);
});
