/**
 * The persist timer (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17; FreeBSD's
 * tcp_setpersist and tcp_timer_persist) against a receiver that stops
 * reading, over the in-memory link with a manual clock.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TH, newTcpRepr, setTcpRepr } from '../../wire/tcp.js';
import type { TcpCb } from './tcp_cb.js';
import { Link, Side, pair, type Wire } from './tcp_testlink.js';
import { TCPS, TCP_BACKOFF, TT_PERSIST, TT_REXMT } from './tcp_var.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + (i >> 9)) & 0xff;
  return b;
}

interface Probe {
  at: number;
  seq: number;
}

interface Rig {
  link: Link;
  a: Side;
  b: Side;
  data: Uint8Array;
  /** Bytes of `data` handed to a's send buffer so far. */
  off: number;
  /** Window probes a sent (one byte into a zero window), whether or not the link lost them. */
  probes: Probe[];
  /** When a sent data segments (more than one byte). */
  dataAt: number[];
  /** Return true to lose this segment (after it is recorded). */
  lose: (w: Wire) => boolean;
}

/**
 * a sends `size` bytes to b, which does not read: b's 16 KB window fills
 * and closes. Every segment passes through `rig.lose`.
 */
function zeroWindow(delayMs: number, size = 200_000, setup?: (l: Link) => void, lose?: (w: Wire, link: Link) => boolean): Rig {
  const { link, a, b } = pair({ delayMs }, (l) => {
    l.b.values.set('net.inet.tcp.recvspace', '16384');
    l.b.values.set('net.inet.tcp.recvbuf_auto', '0');
    setup?.(l);
  });
  b.autoRead = false;
  for (let t = 0; t < 10 * delayMs && b.cb.state !== TCPS.ESTABLISHED; t++) link.clock.advance(1);
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  const rig: Rig = { link, a, b, data: pattern(size), off: 0, probes: [], dataAt: [], lose: lose === undefined ? () => false : (w) => lose(w, link) };
  link.opts = {
    delayMs,
    drop: (w) => {
      if (w.from === 'a' && w.payload === 1 && a.cb.sndWnd === 0) rig.probes.push({ at: link.clock.now(), seq: w.r.seq });
      if (w.from === 'a' && w.payload > 1) rig.dataAt.push(link.clock.now());
      return rig.lose(w);
    },
  };
  rig.off = a.cb.send(rig.data);
  return rig;
}

/** Run the clock, checking after every step that retransmit and persist never run together. */
function run(rig: Rig, ms: number, step = 10): void {
  const cb = rig.a.cb;
  for (let t = 0; t < ms; t += step) {
    if (rig.off < rig.data.length) rig.off += cb.send(rig.data.subarray(rig.off));
    rig.link.clock.advance(step);
    assert.ok(!(cb.deadline[TT_REXMT] !== 0 && cb.deadline[TT_PERSIST] !== 0), `retransmit and persist timers both running at ${rig.link.clock.now()} ms`);
  }
}

/** Run until a's connection is closed; the time it closed. */
function runUntilClosed(rig: Rig, maxMs: number): number {
  for (let t = 0; t < maxMs && rig.a.cb.state !== TCPS.CLOSED; t += 100) run(rig, 100, 100);
  return rig.link.clock.now();
}

/** The reader resumes: everything arrives intact. */
function drain(rig: Rig, maxMs = 120_000): void {
  rig.b.autoRead = true;
  rig.b.read();
  for (let t = 0; t < maxMs && rig.b.bytes().length < rig.data.length; t += 10) run(rig, 10);
  assert.equal(rig.b.bytes().length, rig.data.length, 'all data arrived');
  assert.equal(sha(rig.b.bytes()), sha(rig.data), 'intact');
}

/** FreeBSD's persist interval at backoff `shift` for this connection's RTT estimate. */
function persistInterval(cb: TcpCb, shift: number): number {
  return Math.min(Math.max((4 * cb.srtt + 8 * cb.rttvar) * TCP_BACKOFF[shift]! + 200, 5000), 60_000);
}

for (const delayMs of [1, 100]) {
  test(`a zero window answered with window 0 is probed for as long as it stays closed, backing off as FreeBSD (one-way delay ${delayMs} ms)`, () => {
    const rig = zeroWindow(delayMs);
    const { link, a } = rig;
    run(rig, 300_000);
    assert.equal(a.cb.state, TCPS.ESTABLISHED);
    assert.deepEqual(a.errors, []);
    assert.equal(a.cb.sndWnd, 0);
    const p = rig.probes;
    assert.ok(p.length >= 8, `probes keep coming: ${p.length} in 300 s`);
    for (const x of p) assert.equal(x.seq, a.cb.sndUna, 'each probe is the byte at SND.UNA');
    const gaps = p.slice(1).map((x, i) => x.at - p[i]!.at);
    // The first probe goes at the first interval; each later one at the next backoff step.
    gaps.forEach((g, i) => assert.equal(g, persistInterval(a.cb, Math.min(i + 1, 12)), `gap ${i}: ${gaps.join(', ')}`));
    for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! >= gaps[i - 1]!, `gaps never shrink: ${gaps.join(', ')}`);
    assert.ok(gaps[0]! >= 5000 && gaps.every((g) => g <= 60_000), `within persmin..persmax: ${gaps.join(', ')}`);
    if (delayMs === 100) {
      assert.ok(gaps.some((g) => g > 5000 && g < 60_000), `gaps grow: ${gaps.join(', ')}`);
      assert.equal(gaps[gaps.length - 1], 60_000, `capped at 60 s: ${gaps.join(', ')}`);
    }
    assert.equal(link.a.stat.sndprobe, p.length, 'netstat: window probe packets');
    // One persist timeout per probe, and maybe one more that sent what fitted into a small window.
    assert.ok(link.a.stat.persisttimeo - p.length <= 1 && link.a.stat.persisttimeo >= p.length, 'persist timeouts');
    assert.equal(link.a.stat.persistdrop, 0);
    assert.ok(link.b.stat.rcvwinprobe >= p.length, 'the receiver saw window probes');
    assert.equal(link.a.stat.fastrexmit, 0, 'answers to probes are not taken for loss');
    drain(rig);
  });
}

test('a window that opens and closes again: probing stops while data flows and starts over from 5 s', () => {
  const rig = zeroWindow(1, 300_000);
  const { link, a, b } = rig;
  run(rig, 30_000);
  const first = rig.probes.length;
  assert.ok(first >= 3);
  // The reader takes some data: the window opens, data flows and fills it again.
  b.read();
  const opened = link.clock.now();
  run(rig, 8_000);
  assert.ok(a.cb.sndWnd === 0, 'closed again');
  assert.equal(rig.probes.filter((x) => x.at > opened && x.at < opened + 5_000).length, 0, 'no probes while data flows');
  run(rig, 40_000);
  const again = rig.probes.filter((x) => x.at > opened);
  assert.ok(again.length >= 3, 'probing resumed');
  assert.ok(rig.dataAt.some((t) => t > opened && t < opened + 100), 'data went out as soon as the window opened');
  assert.ok(again[1]!.at - again[0]!.at === persistInterval(a.cb, 1), 'the backoff started over');
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  drain(rig);
});

test('a window that shrinks to zero under data in flight: retransmission stops, SND.NXT goes back, persist takes over', () => {
  const rig = zeroWindow(50);
  const { link, a, b } = rig;
  link.clock.advance(5); // data is in flight, nothing acknowledged yet
  assert.ok(a.cb.flight > 0);
  assert.ok(a.cb.deadline[TT_REXMT] !== 0);
  // The peer takes its window back (RFC 9293 3.8.6.2.1 says it should not; a sender must cope).
  const r = setTcpRepr(newTcpRepr(), b.cb.lport, b.cb.fport, b.cb.sndNxt, a.cb.sndUna, TH.ACK, 0);
  a.cb.input(r, new Uint8Array(0), 0, 0);
  assert.equal(a.cb.sndNxt, a.cb.sndUna, 'SND.NXT pulled back to the closed window');
  assert.equal(a.cb.deadline[TT_REXMT], 0, 'no retransmit timer');
  assert.ok(a.cb.deadline[TT_PERSIST] !== 0, 'persist timer running');
  run(rig, 60_000);
  assert.ok(rig.probes.length >= 4);
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  drain(rig);
});

test('lost probes and a lost window update: probing goes on and the next probe finds the open window', () => {
  const rig = zeroWindow(1);
  const { a } = rig;
  let lostProbes = 0;
  let reading = false;
  let lostUpdates = 0;
  rig.lose = (w) => {
    if (w.from === 'a' && w.payload === 1 && a.cb.sndWnd === 0 && lostProbes < 3) return ++lostProbes > 0;
    // The window update after the reader resumes is lost (the classic stall).
    if (reading && w.from === 'b' && w.payload === 0 && w.r.window > 0 && lostUpdates < 1) return ++lostUpdates > 0;
    return false;
  };
  run(rig, 60_000);
  assert.equal(lostProbes, 3);
  assert.ok(rig.probes.length >= 6, `probing continued after lost probes: ${rig.probes.length}`);
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  reading = true;
  const probesBefore = rig.probes.length;
  drain(rig);
  assert.equal(lostUpdates, 1, 'the window update was lost');
  assert.ok(rig.probes.length > probesBefore, 'a probe recovered the lost window update');
});

test('keepalive runs beside the persist timer: a peer answering probes stays, a silent one is dropped by keepalive', () => {
  const rig = zeroWindow(1, 200_000, (l) => {
    l.a.values.set('net.inet.tcp.keepidle', '10000');
    l.a.values.set('net.inet.tcp.keepintvl', '1000');
    l.a.values.set('net.inet.tcp.keepcnt', '3');
  });
  const { link, a } = rig;
  a.cb.setKeepAlive(true);
  run(rig, 120_000);
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  assert.equal(link.a.stat.keepdrops, 0);
  assert.ok(rig.probes.length >= 6, `probes: ${rig.probes.length}`);
  // The peer vanishes: keepalive gives up after keepidle + keepcnt * keepintvl of silence.
  rig.lose = () => true;
  const t0 = link.clock.now();
  run(rig, 30_000);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.deepEqual(a.errors, ['ETIMEDOUT']);
  assert.equal(link.a.stat.keepdrops, 1);
  assert.equal(link.a.stat.persistdrop, 0);
  assert.ok(link.clock.now() - t0 >= 13_000);
});

test('a silent peer in persist is dropped only after full backoff and a full retransmit backoff of silence (tcp_timer_persist)', () => {
  const rig = zeroWindow(1);
  const { link, a } = rig;
  run(rig, 15_000);
  assert.ok(rig.probes.length >= 1);
  rig.lose = () => true;
  const silentFrom = a.cb.lastRcv;
  const probesBefore = rig.probes.length;
  const closedAt = runUntilClosed(rig, 600_000);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.deepEqual(a.errors, ['ETIMEDOUT']);
  assert.equal(link.a.stat.persistdrop, 1, 'netstat: connections dropped by persist timeout');
  const limit = Math.min(Math.max(a.cb.srtt + 4 * a.cb.rttvar, 30) * 2559, 7_200_000);
  assert.ok(closedAt - silentFrom >= limit, `not before the silence lasted a full backoff (${closedAt - silentFrom} ms, limit ${limit})`);
  assert.equal(a.cb.rxtShift, 12, 'and after the whole backoff');
  const lastProbe = rig.probes[rig.probes.length - 1]!.at;
  assert.ok(closedAt - lastProbe <= 60_100, 'at the persist timeout after the last probe');
  assert.ok(rig.probes.length - probesBefore >= 5, 'probing went on while the peer was silent');
});

test('persist after close: a connection the application has closed is dropped after 60 s of silence', () => {
  const rig = zeroWindow(1, 30_000);
  const { link, a } = rig;
  run(rig, 15_000);
  assert.ok(rig.probes.length >= 1, 'persisting');
  a.cb.close();
  assert.equal(a.cb.state, TCPS.FIN_WAIT_1);
  rig.lose = () => true;
  const t0 = a.cb.lastRcv;
  const closedAt = runUntilClosed(rig, 200_000);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.equal(link.a.stat.persistdrop, 1);
  assert.ok(closedAt - t0 >= 60_000 && closedAt - t0 <= 120_100, `dropped ${closedAt - t0} ms after the peer was last heard`);
});

test('retransmission, then a closed window: the timers hand over and a probe answer is never a duplicate ACK', () => {
  let lost = 0;
  const rig = zeroWindow(1, 200_000, undefined, (w, link) => w.from === 'a' && w.payload > 1 && link.clock.now() < 3_000 && ++lost % 3 === 0);
  const { link, a } = rig;
  run(rig, 5_000);
  assert.ok(lost > 0, 'some data was lost');
  assert.ok(link.a.stat.sndrexmitpack > 0, 'and retransmitted');
  const fast = link.a.stat.fastrexmit;
  const cwnd = a.cb.cwnd;
  run(rig, 90_000);
  assert.ok(rig.probes.length >= 6, `probes: ${rig.probes.length}`);
  assert.equal(link.a.stat.fastrexmit, fast, 'no fast retransmit from probe answers');
  assert.equal(a.cb.cwnd, cwnd, 'the congestion window is untouched by probing');
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  drain(rig);
});
