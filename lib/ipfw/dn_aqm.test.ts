/**
 * CoDel, PIE and RED/GRED on a queue, on the manual clock: when they drop
 * and when they leave a queue alone. A pipe at 1 Mbit/s sends a 1000-byte
 * packet every 8 ms.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDnConfig } from './parse.js';
import { dummynetInfo } from './dn_show.js';
import { rules, seeded, send, settle, sniff, testbed, type Bed } from '../testing/testbed.js';

const LIM = { slots: 1000, bytes: 1 << 20 };

function bed(queueWords: string, random: () => number = seeded(7)): { bed: Bed; atB: ReturnType<typeof sniff> } {
  const b = testbed(random);
  b.r.fw.dn.configPipe(1, parseDnConfig('pipe', ['bw', '1Mbit/s'], LIM));
  b.r.fw.dn.configQueue(1, parseDnConfig('queue', `pipe 1 ${queueWords}`.split(' '), LIM));
  rules(b.r, '100 queue 1 udp from any to any in', '200 allow ip from any to any');
  b.r.sysctl.set('net.inet.ip.fw.enable', '1');
  return { bed: b, atB: sniff(b.b, 17) };
}

/** `rate` packets per 8 ms (the link's rate is 1) for `ms`, then drain. */
function offer(b: Bed, rate: number, ms: number): void {
  let sport = 0;
  for (let t = 0; t < ms; t += 8) {
    for (let k = 0; k < rate; k++) send(b.reg, b.a, { proto: 17, dst: '10.2.0.2', sport: 1000 + (sport++ % 1000), dport: 9, size: 972 });
    settle(b, 8);
  }
}

const drops = (b: Bed): number => dummynetInfo(b.r.fw.dn).queues[0]!.flows[0]!.drops;

test('codel: a standing queue above target for an interval is dropped down; droptail keeps it', () => {
  const tail = bed('queue 1000');
  offer(tail.bed, 2, 1000);
  assert.equal(drops(tail.bed), 0, 'droptail with room drops nothing');
  const cd = bed('queue 1000 codel target 5ms interval 100ms');
  offer(cd.bed, 2, 1000);
  const d = drops(cd.bed);
  assert.ok(d > 20, `codel dropped ${d}`);
  // What got through waited far less than behind droptail's queue.
  settle(tail.bed, 20000);
  settle(cd.bed, 20000);
  const last = (x: { atB: { seen: Array<{ at: number }> } }): number => x.atB.seen[x.atB.seen.length - 1]!.at;
  assert.ok(last(cd) < last(tail) - 300, `codel drained at ${last(cd)}, droptail at ${last(tail)}`);
});

test('codel: a queue that stays under target is never dropped', () => {
  const cd = bed('queue 1000 codel target 5s interval 100ms');
  offer(cd.bed, 2, 500);
  assert.equal(drops(cd.bed), 0);
});

test('pie: sustained overload raises the drop probability; light load drops nothing', () => {
  const light = bed('queue 1000 pie');
  offer(light.bed, 1, 1000);
  assert.equal(drops(light.bed), 0);
  const heavy = bed('queue 1000 pie target 15ms tupdate 15ms');
  offer(heavy.bed, 2, 3000);
  const d = drops(heavy.bed);
  assert.ok(d > 50, `pie dropped ${d}`);
  const held = dummynetInfo(heavy.bed.r.fw.dn).queues[0]!.flows[0]!.pkts;
  // Droptail would hold ~375 packets (3 s at twice the rate); PIE keeps the queue short.
  assert.ok(held < 150, `pie left ${held} queued`);
});

test('red: below min_th nothing drops, above max_th everything does; gred is gentler', () => {
  const under = bed('queue 100 red 0.002/20/40/0.1');
  offer(under.bed, 1, 200);
  assert.equal(drops(under.bed), 0);
  const red = bed('queue 200 red 0.2/5/10/0.1');
  offer(red.bed, 3, 400);
  const gred = bed('queue 200 gred 0.2/5/10/0.1');
  offer(gred.bed, 3, 400);
  const r = drops(red.bed);
  const g = drops(gred.bed);
  assert.ok(r > 50, `red dropped ${r}`);
  assert.ok(g > 0 && g < r, `gred dropped ${g}, red ${r}`);
  // The average stays around the thresholds: no standing queue of 100+.
  assert.ok(dummynetInfo(red.bed.r.fw.dn).queues[0]!.flows[0]!.pkts < 30);
});

test('aqm settings show in the queue listing data and survive a reconfiguration of another field', () => {
  const b = bed('queue 50 codel target 10ms ecn');
  b.bed.r.fw.dn.configQueue(1, parseDnConfig('queue', ['weight', '5'], LIM));
  const q = dummynetInfo(b.bed.r.fw.dn).queues[0]!;
  assert.deepEqual(q.aqm, { kind: 'codel', target: 10000, interval: 100000, ecn: true });
  assert.equal(q.weight, 5);
});

/** `rate` ECN-capable (ECT(0)) packets per 8 ms for `ms`, then drain. */
function offerEct(b: Bed, rate: number, ms: number, tos = 0x02): void {
  let sport = 0;
  for (let t = 0; t < ms; t += 8) {
    for (let k = 0; k < rate; k++) send(b.reg, b.a, { proto: 17, dst: '10.2.0.2', sport: 1000 + (sport++ % 1000), dport: 9, size: 972, tos });
    settle(b, 8);
  }
}

const ceSeen = (atB: ReturnType<typeof sniff>): number => atB.seen.filter((s) => (s.tos & 3) === 3).length;

for (const [name, words] of [
  ['codel', 'queue 1000 codel target 5ms interval 100ms ecn'],
  ['pie', 'queue 1000 pie ecn max_ecnth 0.99'],
  ['red', 'queue 1000 red 0.2/5/10/0.1 ecn'],
] as const) {
  test(`${name} ecn: ECN-capable packets are marked CE instead of dropped (RFC 3168); Not-ECT ones still drop`, () => {
    const ect = bed(words);
    offerEct(ect.bed, 2, 1000);
    settle(ect.bed, 20000);
    const marked = ceSeen(ect.atB);
    assert.ok(marked > 10, `${name}: ${marked} packets arrived marked CE`);
    const plain = bed(words);
    offerEct(plain.bed, 2, 1000, 0x00);
    settle(plain.bed, 20000);
    assert.ok(drops(plain.bed) > 10, `${name} dropped ${drops(plain.bed)} Not-ECT packets`);
    assert.equal(ceSeen(plain.atB), 0);
    // The sender here does not slow down for marks, so PIE's probability can pass max_ecnth, where it drops
    // even ECN-capable packets (RFC 8033 5.1); still, marks replace drops.
    assert.ok(drops(ect.bed) < drops(plain.bed), `${name} dropped ${drops(ect.bed)} ECN-capable, ${drops(plain.bed)} Not-ECT`);
  });
}

test('without ecn, ECN-capable packets are dropped as before and arrive unmarked', () => {
  const cd = bed('queue 1000 codel target 5ms interval 100ms');
  offerEct(cd.bed, 2, 1000);
  settle(cd.bed, 20000);
  assert.ok(drops(cd.bed) > 20);
  assert.equal(ceSeen(cd.atB), 0);
});
