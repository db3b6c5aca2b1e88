import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type Clock } from '../clock.js';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { HiresTimer, SPIN_MS } from './timer.js';
import { parseDnConfig } from './parse.js';
import { dummynetInfo } from './dn_show.js';
import { rules, seeded, send, settle, sniff, testbed, type Bed } from '../testing/testbed.js';

const LIM = { slots: 100, bytes: 1 << 20 };
const pipe = (bed: Bed, nr: number, cfg: string): void => {
  bed.r.fw.dn.configPipe(nr, parseDnConfig('pipe', cfg.split(' '), LIM));
};
const queue = (bed: Bed, nr: number, cfg: string): void => {
  bed.r.fw.dn.configQueue(nr, parseDnConfig('queue', cfg.split(' '), LIM));
};

test('a pipe delays by exactly its delay on the image clock', () => {
  const bed = testbed();
  pipe(bed, 1, 'delay 50');
  rules(bed.r, '100 pipe 1 icmp from any to any in recv epair0a', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 1);
  const t0 = bed.clock.now();
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 8, size: 56 });
  assert.equal(atB.seen.length, 0, 'held in the pipe');
  settle(bed, 49.9);
  assert.equal(atB.seen.length, 0);
  settle(bed, 0.2);
  assert.equal(atB.seen.length, 1);
  assert.equal(atB.seen[0]!.at - t0, 50);
  // one_pass=1: the re-injected packet skipped rule 200.
  assert.equal(bed.r.fw.rules[1]!.pcnt, 3, 'the request out, the reply in and out: not the re-injected request');
});

test('bandwidth: back-to-back packets leave one transmission time apart', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 1Mbit/s');
  rules(bed.r, '100 pipe 1 udp from any to any out xmit epair1a', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  const t0 = bed.clock.now();
  for (let k = 0; k < 10; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 1000 + k, dport: 9, size: 972 }); // 1000-byte IP packets
  settle(bed, 200);
  assert.equal(atB.seen.length, 10);
  // 1000 bytes at 1 Mbit/s = 8 ms each, FIFO order.
  assert.deepEqual(
    atB.seen.map((s) => s.at - t0),
    [8, 16, 24, 32, 40, 48, 56, 64, 72, 80],
  );
  assert.deepEqual(
    atB.seen.map((s) => s.sport),
    [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009],
  );
});

test('bandwidth and delay add up; a later packet on an idle link is not sped up by old credit', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 8Mbit/s delay 10');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  const t0 = bed.clock.now();
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', size: 972 });
  settle(bed, 500);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', size: 972 });
  settle(bed, 500);
  assert.deepEqual(
    atB.seen.map((s) => s.at - t0),
    [11, 511],
  );
});

test('queue full: tail-drop, counted per pipe; pipe show prints the counters', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 1Mbit/s queue 5');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  for (let k = 0; k < 20; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', size: 972 });
  // One packet goes onto the link at once, five wait, the rest are dropped.
  const p = dummynetInfo(bed.r.fw.dn).pipes[0]!;
  assert.deepEqual([p.nr, p.bandwidth, p.delayMs, p.flowset.nr, p.flowset.queueSize, p.fifo.nr, p.fifo.type, p.fifo.active], [1, 1e6, 0, 131073, 5, 65537, 'FIFO', 1]);
  assert.deepEqual(p.fifo.flows, [{ bucket: 0, proto: 0, src: 0, sport: 0, dst: 0, dport: 0, totPkts: 20, totBytes: 20000, pkts: 5, bytes: 5000, drops: 14 }]);
  settle(bed, 1000);
  assert.equal(atB.seen.length, 6);
});

test('plr drops the configured share, drawn from the image random', () => {
  const bed = testbed(seeded(42));
  pipe(bed, 1, 'plr 0.1');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  const n = 10_000;
  for (let k = 0; k < n; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2' });
  settle(bed);
  const lost = n - atB.seen.length;
  // Binomial(10000, 0.1): mean 1000, sd 30; four sd either side.
  assert.ok(lost > 880 && lost < 1120, `lost ${lost}`);
  const f = dummynetInfo(bed.r.fw.dn).pipes[0]!.fifo.flows[0]!;
  assert.deepEqual([f.totPkts, f.totBytes, f.pkts, f.drops], [n, n * 28, 0, lost]);
});

test('bw 0 delay 0: io_fast lets packets through at once, counted', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 0');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  for (let k = 0; k < 5; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2' });
  assert.equal(atB.seen.length, 5);
  assert.equal(bed.r.fw.dn.fastPath, 5);
  assert.deepEqual(
    dummynetInfo(bed.r.fw.dn).pipes.map((p) => [p.nr, p.bandwidth, p.delayMs]),
    [[1, 0, 0]],
  );
});

test('queues with weights 1 and 3 share a pipe 1:3 (WF2Q+)', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 1Mbit/s');
  queue(bed, 1, 'pipe 1 weight 1 queue 100');
  queue(bed, 2, 'pipe 1 weight 3 queue 100');
  rules(bed.r, '100 queue 1 udp from any to any 1001 in', '200 queue 2 udp from any to any 1003 in', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  for (let k = 0; k < 80; k++) {
    send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 1001, size: 972 });
    send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 1003, size: 972 });
  }
  // 1000-byte packets at 1 Mbit/s: 8 ms each; in 640 ms, 80 packets leave.
  settle(bed, 640);
  const w1 = atB.seen.filter((s) => s.dport === 1001).length;
  const w3 = atB.seen.filter((s) => s.dport === 1003).length;
  assert.equal(w1 + w3, 80);
  assert.ok(Math.abs(w3 / w1 - 3) < 0.2, `${w1}:${w3}`);
  assert.deepEqual(
    dummynetInfo(bed.r.fw.dn).queues.map((q) => [q.nr, q.queueSize, q.flows.length, q.buckets, q.schedNr, q.weight]),
    [
      [1, 100, 1, 1, 1, 1],
      [2, 100, 1, 1, 1, 3],
    ],
  );
});

test('a pipe mask makes one link per flow', () => {
  const bed = testbed();
  pipe(bed, 1, 'bw 1Mbit/s mask src-port 0xffff');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  const t0 = bed.clock.now();
  for (let k = 0; k < 3; k++) send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 2000 + k, size: 972 });
  settle(bed, 100);
  assert.deepEqual(
    atB.seen.map((s) => s.at - t0),
    [8, 8, 8],
  );
  const fifo = dummynetInfo(bed.r.fw.dn).pipes[0]!.fifo;
  assert.deepEqual([fifo.nr, fifo.masked, fifo.buckets, fifo.active, fifo.flows.length], [65537, true, 64, 3, 3]);
  assert.deepEqual(fifo.mask, { proto: 0, src: 0, sport: 0xffff, dst: 0, dport: 0 });
});

test('one_pass=0: a packet out of a pipe goes on with the next rule', () => {
  const bed = testbed();
  pipe(bed, 1, 'delay 5');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 count udp from any to any in', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  bed.r.sysctl.set('net.inet.ip.fw.one_pass', '0');
  const atB = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2' });
  settle(bed, 10);
  assert.equal(atB.seen.length, 1);
  assert.equal(bed.r.fw.rules[1]!.pcnt, 1, 'rule 200 saw the packet after the pipe');
});

test('deleting a pipe drops what it holds; packets for a missing pipe are dropped and counted', () => {
  const bed = testbed();
  pipe(bed, 1, 'delay 100');
  rules(bed.r, '100 pipe 1 udp from any to any in', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2' });
  assert.equal(bed.r.fw.dn.deletePipe(1), true);
  settle(bed, 200);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2' });
  assert.equal(atB.seen.length, 0);
  assert.equal(bed.r.fw.stat.nopipe, 1);
});

test('HiresTimer on a manual clock fires exactly at the time asked, never before', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const t = new HiresTimer(clock, () => fired.push(clock.now()));
  t.arm(10.25);
  clock.advance(10);
  assert.deepEqual(fired, []);
  t.arm(12.5);
  clock.advance(5);
  assert.deepEqual(fired, [12.5]);
  t.arm(20);
  t.cancel();
  clock.advance(20);
  assert.deepEqual(fired, [12.5]);
  assert.equal(t.accuracy.lateMax, 0);
});

test('on a real-time clock HiresTimer arms early and polls the last stretch; an image clock over the real clock counts as real time', () => {
  // The image's clock wraps the registry's for CPU accounting; the wrapper must
  // still say it runs in real time, or dummynet falls back to Node's 1 ms steps.
  const reg = new Registry({ log: silentLogger });
  assert.equal(reg.create('hires').clock.realTime, true);
  reg.close();

  // A real-time clock driven by hand: timers are recorded, time moves when told.
  let now = 0;
  const afters: Array<{ ms: number; fn: () => void }> = [];
  const immediates: Array<() => void> = [];
  const clock: Clock = {
    realTime: true,
    now: () => now,
    after: (ms, fn) => (afters.push({ ms, fn }), { cancel: () => {} }),
    every: () => ({ cancel: () => {} }),
    immediate: (fn) => (immediates.push(fn), { cancel: () => {} }),
  };
  const fired: number[] = [];
  const t = new HiresTimer(clock, () => fired.push(now));
  t.arm(50);
  assert.deepEqual(afters.map((a) => a.ms), [50 - SPIN_MS]);
  now = 48.3; // the coarse timer comes 0.3 ms late: polling finishes the wait
  afters.shift()!.fn();
  assert.equal(immediates.length, 1);
  now = 49.99;
  immediates.shift()!();
  assert.deepEqual(fired, []);
  now = 50.01;
  immediates.shift()!();
  assert.deepEqual(fired, [50.01]);
  assert.equal(immediates.length, 0, 'polling stops once the timer fired');

  // A coarse timer that came 4 ms late widens the lead for the next wait.
  t.arm(100);
  now = 102;
  afters.shift()!.fn();
  assert.equal(t.accuracy.coarseLate, 1);
  t.arm(200);
  assert.equal(200 - 102 - afters[0]!.ms, 4 + 1, 'lead: the lateness seen plus a millisecond');
});
