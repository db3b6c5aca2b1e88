/**
 * Each scheduler type on the image clock (a manual clock, through the
 * whole stack: rule, queue, scheduler, link, re-injection): shares,
 * order, and drops at the limit.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDnConfig } from './parse.js';
import { dummynetInfo } from './dn_show.js';
import { rules, send, settle, sniff, testbed, type Bed } from '../testing/testbed.js';

const LIM = { slots: 100, bytes: 1 << 20 };
const cfg = (bed: Bed, kind: 'pipe' | 'queue' | 'sched', nr: number, words: string): void => {
  const spec = parseDnConfig(kind, words.split(' '), LIM);
  const dn = bed.r.fw.dn;
  if (kind === 'pipe') dn.configPipe(nr, spec);
  else if (kind === 'sched') dn.configSched(nr, spec);
  else dn.configQueue(nr, spec);
};

/** Pipe 1 at 1 Mbit/s (1000-byte packets: 8 ms each) with scheduler type `type`, queues 1 (port 1001) and 2 (port 1003). */
function twoQueues(type: string, q1: string, q2: string): { bed: Bed; atB: ReturnType<typeof sniff> } {
  const bed = testbed();
  cfg(bed, 'pipe', 1, 'bw 1Mbit/s');
  cfg(bed, 'sched', 1, `type ${type}`);
  cfg(bed, 'queue', 1, `sched 1 ${q1}`);
  cfg(bed, 'queue', 2, `sched 1 ${q2}`);
  rules(bed.r, '100 queue 1 udp from any to any 1001 in', '200 queue 2 udp from any to any 1003 in', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  return { bed, atB: sniff(bed.b, 17) };
}

const burst = (bed: Bed, n: number, dport: number, sport = 1234): void => {
  for (let k = 0; k < n; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport, dport, size: 972 });
};

for (const type of ['wf2q+', 'rr', 'qfq']) {
  test(`${type}: queues with weights 1 and 3 share the link 1:3`, () => {
    const { bed, atB } = twoQueues(type, 'weight 1 queue 100', 'weight 3 queue 100');
    for (let k = 0; k < 80; k++) {
      burst(bed, 1, 1001);
      burst(bed, 1, 1003);
    }
    settle(bed, 640);
    const w1 = atB.seen.filter((s) => s.dport === 1001).length;
    const w3 = atB.seen.filter((s) => s.dport === 1003).length;
    assert.equal(w1 + w3, 80, 'the link ran at its rate');
    assert.ok(Math.abs(w3 / w1 - 3) < 0.35, `${type} ${w1}:${w3}`);
    assert.equal(dummynetInfo(bed.r.fw.dn).pipes[0]!.sched.type, type === 'wf2q+' ? 'WF2Q+' : type.toUpperCase());
  });
}

test('rr: lmax sets the quantum; equal weights alternate packet by packet', () => {
  const { bed, atB } = twoQueues('rr', 'weight 1 lmax 1000 queue 100', 'weight 1 lmax 1000 queue 100');
  burst(bed, 10, 1001);
  burst(bed, 10, 1003);
  settle(bed, 500);
  // The first 1001 packet was on the link at once; then strict alternation.
  assert.deepEqual(
    atB.seen.slice(0, 8).map((s) => s.dport),
    [1001, 1001, 1003, 1001, 1003, 1001, 1003, 1001],
  );
  assert.equal(atB.seen.length, 20);
});

test('prio: the lower weight is the higher priority and is served first, whatever arrived earlier', () => {
  const { bed, atB } = twoQueues('prio', 'weight 5 queue 100', 'weight 1 queue 100');
  burst(bed, 5, 1001);
  burst(bed, 5, 1003);
  settle(bed, 200);
  assert.deepEqual(
    atB.seen.map((s) => s.dport),
    [1001, 1003, 1003, 1003, 1003, 1003, 1001, 1001, 1001, 1001],
  );
});

test('fifo as sched N type: one queue for every flowset, arrival order', () => {
  const { bed, atB } = twoQueues('fifo', 'weight 1 queue 100', 'weight 50 queue 100');
  burst(bed, 3, 1001);
  burst(bed, 3, 1003);
  settle(bed, 200);
  assert.deepEqual(
    atB.seen.map((s) => s.dport),
    [1001, 1001, 1001, 1003, 1003, 1003],
  );
});

for (const type of ['wf2q+', 'rr', 'qfq', 'prio', 'fifo']) {
  test(`${type}: a full queue tail-drops and counts`, () => {
    const { bed, atB } = twoQueues(type, 'queue 5', 'queue 5');
    burst(bed, 20, 1001);
    settle(bed, 500);
    // One on the link at once, five queued, fourteen dropped.
    assert.equal(atB.seen.length, 6);
    const info = dummynetInfo(bed.r.fw.dn);
    const drops = type === 'fifo' ? info.pipes[0]!.sched.flows[0]!.drops : info.queues[0]!.flows[0]!.drops;
    assert.equal(drops, 14);
  });
}

for (const type of ['fq_codel', 'fq_pie']) {
  test(`${type}: a sparse flow overtakes a bulk one; the two bulk flows share evenly`, () => {
    const bed = testbed();
    cfg(bed, 'pipe', 1, 'bw 1Mbit/s');
    cfg(bed, 'sched', 1, `type ${type}`);
    cfg(bed, 'queue', 1, 'sched 1');
    rules(bed.r, '100 queue 1 udp from any to any in', '300 allow ip from any to any');
    bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
    const atB = sniff(bed.b, 17);
    burst(bed, 30, 9, 1000);
    burst(bed, 30, 9, 1001);
    settle(bed, 40);
    const t0 = bed.clock.now();
    burst(bed, 1, 9, 2000);
    settle(bed, 1000);
    const sparse = atB.seen.find((s) => s.sport === 2000)!;
    assert.ok(sparse.at - t0 <= 16.01, `the sparse packet waited ${sparse.at - t0} ms behind 60 bulk packets`);
    const first40 = atB.seen.slice(0, 41).filter((s) => s.sport !== 2000);
    const a = first40.filter((s) => s.sport === 1000).length;
    assert.ok(Math.abs(a - 20) <= 2, `bulk flows shared ${a}:${40 - a}`);
    const si = dummynetInfo(bed.r.fw.dn).pipes[0]!.sched;
    assert.equal(si.type, type.toUpperCase());
  });

  test(`${type}: past limit the longest sub-queue loses its head`, () => {
    const bed = testbed();
    cfg(bed, 'pipe', 1, 'bw 1Mbit/s');
    cfg(bed, 'sched', 1, `type ${type} limit 10`);
    cfg(bed, 'queue', 1, 'sched 1');
    rules(bed.r, '100 queue 1 udp from any to any in', '300 allow ip from any to any');
    bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
    const atB = sniff(bed.b, 17);
    burst(bed, 25, 9, 1000);
    burst(bed, 2, 9, 2000);
    settle(bed, 1000);
    // One on the link, ten held; the small flow keeps both its packets.
    assert.equal(atB.seen.length, 11);
    assert.equal(atB.seen.filter((s) => s.sport === 2000).length, 2);
    assert.equal(dummynetInfo(bed.r.fw.dn).pipes[0]!.sched.flows[0]!.drops, 16);
  });
}

test('a new sched type drops what the old one held and carries on', () => {
  const { bed, atB } = twoQueues('rr', 'queue 50', 'queue 50');
  burst(bed, 10, 1001);
  cfg(bed, 'sched', 1, 'type qfq');
  burst(bed, 2, 1003);
  settle(bed, 200);
  assert.equal(atB.seen.filter((s) => s.dport === 1003).length, 2);
  assert.ok(atB.seen.filter((s) => s.dport === 1001).length <= 1);
});

test('pipe N config type T sets scheduler N, as sched N config does', () => {
  const bed = testbed();
  cfg(bed, 'pipe', 4, 'bw 1Mbit/s type prio');
  assert.equal(dummynetInfo(bed.r.fw.dn).pipes[0]!.sched.type, 'PRIO');
  cfg(bed, 'pipe', 4, 'delay 5');
  assert.equal(dummynetInfo(bed.r.fw.dn).pipes[0]!.sched.type, 'PRIO', 'a later pipe config keeps the type');
});

test('burst: after idling, burst bytes pass at line rate, then the bandwidth applies', () => {
  const bed = testbed();
  cfg(bed, 'pipe', 1, 'bw 1Mbit/s burst 3000');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  burst(bed, 1, 9);
  settle(bed, 1000); // idle: credit builds up to 3000 bytes
  const t0 = bed.clock.now();
  burst(bed, 5, 9);
  settle(bed, 200);
  assert.deepEqual(
    atB.seen.slice(1).map((s) => s.at - t0),
    [0, 0, 0, 8, 16],
  );
});

test('profile: the extra delay occupies the link; past loss-level packets are lost', () => {
  const bed = testbed(() => 0.5);
  const spec = parseDnConfig('pipe', ['bw', '1Mbit/s'], LIM);
  spec.profile = { name: 'p', samples: [2, 2, 10, 10], lossLevel: 4 };
  bed.r.fw.dn.configPipe(1, spec);
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  const t0 = bed.clock.now();
  burst(bed, 2, 9);
  settle(bed, 100);
  // random 0.5 picks slot 2: 10 ms extra on top of 8 ms of transmission, each.
  assert.deepEqual(
    atB.seen.map((s) => s.at - t0),
    [18, 36],
  );
  const lossy = testbed(() => 0.9);
  const s2 = parseDnConfig('pipe', [], LIM);
  s2.profile = { name: 'l', samples: [1, 1, 1, 1], lossLevel: 2 };
  lossy.r.fw.dn.configPipe(1, s2);
  rules(lossy.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  lossy.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const seen = sniff(lossy.b, 17);
  burst(lossy, 3, 9);
  settle(lossy, 100);
  assert.equal(seen.seen.length, 0);
  assert.equal(lossy.r.fw.dn.profileLost, 3);
});
