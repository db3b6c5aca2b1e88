import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cubic, NewReno, type CcVars, type CongestionControl } from './tcp_cc.js';

const SMSS = 1000;
const vars = (cwnd: number, ssthresh = 1e9): CcVars => ({ cwnd, ssthresh, smss: SMSS, flight: cwnd, srtt: 100 });

test('NewReno: slow start grows by at most 2 SMSS per ACK, congestion avoidance by one SMSS per window', () => {
  const cc: CongestionControl = new NewReno();
  const v = vars(10 * SMSS);
  cc.ack(v, 5 * SMSS, 0);
  assert.equal(v.cwnd, 12 * SMSS, 'appropriate byte counting, L = 2');
  v.ssthresh = 12 * SMSS;
  for (let i = 0; i < 12; i++) cc.ack(v, SMSS, 0);
  assert.equal(v.cwnd, 13 * SMSS, 'one SMSS after a full window acknowledged');
});

test('NewReno: loss halves the flight (at least 2 SMSS), timeout drops to one segment', () => {
  const cc: CongestionControl = new NewReno();
  const v = vars(20 * SMSS);
  cc.loss(v, 0);
  assert.equal(v.ssthresh, 10 * SMSS);
  v.flight = 3 * SMSS;
  cc.loss(v, 0);
  assert.equal(v.ssthresh, 2 * SMSS);
  cc.timeout(v, 0);
  assert.equal(v.cwnd, SMSS);
});

test('CUBIC: reduces by beta 0.7, then grows back to W_max around K and beyond it (RFC 9438)', () => {
  const cc: CongestionControl = new Cubic();
  const v = vars(100 * SMSS, 50 * SMSS);
  cc.loss(v, 0);
  assert.equal(v.ssthresh, 70 * SMSS);
  cc.postRecovery(v, 0);
  assert.equal(v.cwnd, 70 * SMSS);
  // K = cbrt(W_max (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) ~ 4.2 s.
  const rtt = 100;
  let t = 0;
  let atK = 0;
  for (; t <= 8000; t += rtt) {
    // One window of ACKs per RTT.
    const w = v.cwnd;
    for (let a = 0; a < w; a += SMSS) cc.ack(v, SMSS, t);
    if (t === 4200) atK = v.cwnd / SMSS;
  }
  assert.ok(Math.abs(atK - 100) < 8, `near W_max at K: ${atK}`);
  assert.ok(v.cwnd / SMSS > 110, `convex growth past W_max: ${v.cwnd / SMSS}`);
});

test('CUBIC: fast convergence lowers W_max when losses come before the old maximum', () => {
  const cc: CongestionControl = new Cubic();
  const v = vars(100 * SMSS, 50 * SMSS);
  cc.loss(v, 0);
  v.cwnd = 80 * SMSS;
  cc.loss(v, 0);
  assert.equal(v.ssthresh, 56 * SMSS);
});
