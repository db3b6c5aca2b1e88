import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { ImageCpu, LOAD_INTERVAL_MS, ROUND_MS, Scheduler } from './sched.js';

/** A scheduler on a manual platform: `now()` reads its clock, `at(t)` moves the clock to `t`. */
function manualScheduler() {
  const p = new ManualPlatform();
  const s = new Scheduler(p);
  const now = (): number => p.clock.now();
  const at = (t: number): void => p.advance(t - now());
  return { p, s, now, at };
}

/**
 * Saturated images taking turns as the TAP driver drives the scheduler: a
 * batch costs `cost` ms of a single CPU, and an image held off is not read
 * until its hold-off ends.
 */
function simulate(cpus: ImageCpu[], ms: number, cost = 0.05): number[] {
  const { p, s, now } = manualScheduler();
  for (const c of cpus) s.add(c);
  const used = cpus.map(() => 0);
  const heldUntil = cpus.map(() => 0);
  while (now() < ms) {
    let ran = false;
    for (let i = 0; i < cpus.length; i++) {
      if (now() < heldUntil[i]!) continue;
      const c = cpus[i]!;
      s.begin(c);
      s.charge(c, cost, true);
      used[i]! += cost;
      p.advance(cost);
      ran = true;
      const h = s.holdOff(c);
      if (h > 0) heldUntil[i] = now() + h;
    }
    if (!ran) p.advance(0.01); // everyone held off: the CPU idles
  }
  return used;
}

test('an image alone may use all the CPU (work conserving)', () => {
  const a = new ImageCpu();
  const [u] = simulate([a], 1000);
  assert.ok(u! > 990, `${u}`);
});

test('two saturated images with equal weights share the CPU equally', () => {
  const [a, b] = simulate([new ImageCpu(), new ImageCpu()], 2000);
  assert.ok(Math.abs(a! / b! - 1) < 0.05, `${a} / ${b}`);
});

test('weights 1 and 3 share the CPU 1:3', () => {
  const a = new ImageCpu();
  const b = new ImageCpu();
  a.weight = 1;
  b.weight = 3;
  const [ua, ub] = simulate([a, b], 3000);
  const ratio = ub! / ua!;
  assert.ok(ratio > 2.7 && ratio < 3.3, `ratio ${ratio}`);
});

test('a batch\'s checks do not walk every image of the daemon (the first frame after a quiet spell stays cheap)', () => {
  const { s, p } = manualScheduler();
  for (let i = 0; i < 1000; i++) s.add(new ImageCpu());
  // Count walks over the scheduler's images from here on.
  const members = (s as unknown as { members: Set<ImageCpu> }).members;
  let walks = 0;
  Object.defineProperty(members, Symbol.iterator, {
    value(this: Set<ImageCpu>) {
      walks++;
      return Set.prototype.values.call(this);
    },
  });
  const a = new ImageCpu();
  const b = new ImageCpu();
  s.add(a);
  s.add(b);
  // Pings every 15 ms (a new round each time), and a busy spell of both.
  for (let i = 0; i < 20; i++) {
    p.advance(15);
    s.begin(a);
    s.charge(a, 0.05, true);
    assert.equal(s.holdOff(a), 0);
    s.othersWaiting(a);
  }
  for (let i = 0; i < 2000; i++) {
    const c = i % 2 === 0 ? a : b;
    s.begin(c);
    s.charge(c, 0.05, true);
    s.holdOff(c);
    s.admitQueued(c);
    p.advance(0.05);
  }
  assert.equal(walks, 0);
});

test('more busy images than the recent askers the checks look at: none is starved, each gets its share', () => {
  // 10 saturated images, two more than RECENT_ASKERS: one held off is pushed
  // out of the recent askers and must still get its quantum at the next round.
  const u = simulate(Array.from({ length: 10 }, () => new ImageCpu()), 3000);
  const min = Math.min(...u);
  const max = Math.max(...u);
  assert.ok(min / max > 0.8, `shares ${u.map((x) => x.toFixed(0)).join(' ')}`);
});

test('more busy images than the recent askers: the weights still count (1000 against nine of 100)', () => {
  const cpus = Array.from({ length: 10 }, () => new ImageCpu());
  cpus[0]!.weight = 1000;
  const [heavy, ...light] = simulate(cpus, 3000);
  const shares = `${heavy!.toFixed(0)} ${light.map((x) => x.toFixed(0)).join(' ')}`;
  assert.ok(Math.min(...light) / Math.max(...light) > 0.8, shares);
  const mean = light.reduce((a, b) => a + b, 0) / light.length;
  assert.ok(heavy! / mean > 6, shares); // 10 ideally
});

test('cpu.max caps an image even when it is alone', () => {
  const a = new ImageCpu();
  a.max = 20;
  const [u] = simulate([a], 2000);
  assert.ok(u! > 350 && u! < 450, `${u} ms of 2000`);
});

test('a flooded image gets its fair share while a light one is active, and everything once it is quiet', () => {
  const { p, s, now } = manualScheduler();
  const flood = new ImageCpu();
  const light = new ImageCpu();
  s.add(flood);
  s.add(light);
  let lightWaited = 0;
  let floodUsed = 0;
  let floodHeldUntil = 0;
  // The flood offers work constantly; the light image a 0.05 ms batch every 1 ms.
  let nextLight = 0;
  const floodTurn = (): void => {
    if (now() < floodHeldUntil) return;
    s.begin(flood);
    s.charge(flood, 0.05, true);
    floodUsed += 0.05;
    p.advance(0.05);
    const h = s.holdOff(flood);
    if (h > 0) floodHeldUntil = now() + h;
  };
  while (now() < 1000) {
    if (now() >= nextLight) {
      s.begin(light);
      s.charge(light, 0.05, true);
      if (s.holdOff(light) > 0) lightWaited++;
      p.advance(0.05);
      nextLight += 1;
    }
    floodTurn();
    p.advance(0.01);
  }
  assert.equal(lightWaited, 0, 'the light image was never held off');
  // While the light image is active the flood gets its fair half, no more.
  assert.ok(floodUsed > 450 && floodUsed < 560, `flood used ${floodUsed} ms of 1000`);
  // Once the light image goes quiet, the flood has the whole CPU again.
  const t0 = now();
  const before = floodUsed;
  while (now() < t0 + 1000) {
    floodTurn();
    p.advance(0.001);
  }
  assert.ok(floodUsed - before > 950, `flood alone used ${floodUsed - before} ms of 1000`);
});

test('an image that spent its quantum under a cap is held off until the next round', () => {
  const { s, at } = manualScheduler();
  const a = new ImageCpu();
  a.max = 10; // 1 ms per 10 ms round
  s.add(a);
  s.begin(a);
  s.charge(a, 2.5, true);
  at(4);
  assert.equal(s.holdOff(a), 6);
  at(10);
  s.begin(a);
  assert.ok(s.holdOff(a) > 0, 'still in debt after one quantum');
  at(20);
  s.begin(a);
  assert.equal(s.holdOff(a), 0);
  assert.equal(a.heldOff, 2);
});

test('an image held off that then goes quiet for a while starts afresh, debt forgiven', () => {
  const { s, at } = manualScheduler();
  const x = new ImageCpu();
  const y = new ImageCpu();
  s.add(x);
  s.add(y);
  s.begin(y);
  s.begin(x);
  s.charge(x, 30, true); // deep in debt
  const hold = s.holdOff(x);
  assert.ok(hold > 0, 'held while Y holds credit');
  at(hold + ROUND_MS - 1); // read again soon after the hold ended: the same busy spell
  s.begin(y);
  s.begin(x);
  assert.ok(x.deficit < 0, 'no forgiveness right after a hold-off');
  s.charge(x, 30, true);
  assert.ok(s.holdOff(x) > 0);
  at(3_600_000); // an hour later, a ping, while Y is busy
  s.begin(y);
  s.begin(x);
  assert.ok(x.deficit > 0, 'quiet for more than a round: a fresh quantum');
  assert.equal(s.holdOff(x), 0);
});

test('load averages follow BSD\'s decay: a busy image approaches 1', () => {
  const { p, s } = manualScheduler();
  const c = new ImageCpu();
  s.add(c);
  for (let i = 0; i < 12 * 5; i++) {
    // 5 s fully busy per interval
    c.ms += 5000;
    p.advance(5000);
    s.sample();
  }
  assert.ok(c.load[0] > 0.99, `1 min ${c.load[0]}`);
  assert.ok(c.load[1] > 0.6 && c.load[1] < 0.7, `5 min ${c.load[1]}`); // 1 - e^-1 after 5 minutes
  assert.ok(c.load[2] > 0.25 && c.load[2] < 0.35, `15 min ${c.load[2]}`);
});

/** Images A and B joined by an epair (10.0.0.1 and .2), plus C, and a way to send B an echo from A. */
async function epairImages(scheduleEpairs?: boolean) {
  const { silentLogger } = await import('./log.js');
  const { Registry } = await import('./image.js');
  const { inAddAddress } = await import('./netinet/in.js');
  const { allocPacket, buildIpHeader, ipOutputLocal } = await import('./netinet/ip_output.js');
  const reg = new Registry({ platform: new ManualPlatform({ cpuTick: 0.001 }), log: silentLogger, scheduleEpairs });
  const a = reg.create('A');
  const b = reg.create('B');
  const c = reg.create('C');
  const [ea, eb] = reg.createEpair(a);
  reg.move(a, eb, b);
  a.setUp(ea, true);
  b.setUp(eb, true);
  inAddAddress(a, ea, 0x0a000001, 24, { alias: false });
  inAddAddress(b, eb, 0x0a000002, 24, { alias: false });
  reg.netisr.drain();
  const echo = (): void => {
    const p = allocPacket(28);
    p.buf[p.off + 20] = 8;
    buildIpHeader(a, p.buf, p.off, 28, 1, 0, 0x0a000002);
    ipOutputLocal(a, p.buf, p.off, 28, a.noOffload);
    reg.netisr.drain();
  };
  return { reg, a, b, c, eb, echo };
}

test('work done in an image reached over an epair is charged to that image', async () => {
  const { b, echo } = await epairImages();
  const before = b.cpu.ms;
  for (let i = 0; i < 2000; i++) echo();
  assert.ok(b.cpu.ms > before, 'B was charged for answering the echoes');
  assert.ok(b.ipstat.delivered >= 2000);
});

test('frames from another image (epair) for an image over its share are dropped there while others want the CPU', async () => {
  const { reg, a, b, c, eb, echo } = await epairImages(true);
  echo();
  const delivered = b.ipstat.delivered;
  // B has spent its quantum; C asked for the CPU just now() and holds credit.
  b.cpu.deficit = -5;
  reg.sched.begin(c.cpu);
  echo();
  assert.equal(b.ipstat.delivered, delivered, 'the echo was not processed');
  assert.equal(eb.counters.iqdrops, 1, 'it was dropped at B\'s input and counted');
  // Nobody else holds credit (A, which got the first reply, has spent its own too): B is served again.
  c.cpu.deficit = 0;
  a.cpu.deficit = 0;
  echo();
  assert.equal(b.ipstat.delivered, delivered + 1);
});

test('timers are charged to their image, except inside an in-image process, whose time is its own', () => {
  const p = new ManualPlatform();
  const s = new Scheduler(p);
  const c = new ImageCpu();
  s.add(c);
  s.runTimer(c, () => (p.cpuMs += 2));
  assert.equal(c.ms, 2);
  assert.equal(c.deficit, 0, 'timer work is not input: the deficit stays');
  const t0 = s.processBegin();
  const t1 = s.processBegin(); // a nested callback of the process, done at once
  assert.equal(s.processEnd(c, t1), 0);
  s.runTimer(c, () => (p.cpuMs += 5)); // a timer fired while the process ran: counted once, below
  assert.equal(c.ms, 2);
  assert.equal(s.processEnd(c, t0), 5);
  assert.equal(c.ms, 7);
  assert.equal(c.procMs, 5);
  s.runTimer(c, () => (p.cpuMs += 4)); // no process running any more
  assert.equal(c.ms, 11);
});

test('charges measured on the monotonic clock are scaled down to the thread\'s real CPU time at each sample (preemption is not charged)', () => {
  const p = new ManualPlatform();
  let thread = 0;
  const s = new Scheduler({ ...p, clock: p.clock, cpuNow: p.cpuNow, processCpuMs: () => thread, threadCpuMs: () => thread });
  const a = new ImageCpu();
  const b = new ImageCpu();
  s.add(a);
  s.add(b);
  // 300 ms and 100 ms of busy time charged, but the thread ran only 200 ms of it.
  s.charge(a, 300, true);
  s.charge(b, 100, true);
  a.procMs = 30;
  thread += 200;
  p.advance(LOAD_INTERVAL_MS);
  s.sample();
  assert.equal(a.ms, 150);
  assert.equal(b.ms, 50);
  assert.equal(a.procMs, 15);
  assert.equal(a.share, 75);
  // Charges below the real CPU time are left as they are.
  s.charge(a, 10, true);
  thread += 50;
  p.advance(LOAD_INTERVAL_MS);
  s.sample();
  assert.equal(a.ms, 160);
  assert.equal(b.ms, 50);
});
