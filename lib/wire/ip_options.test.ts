import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IPOPT, IPOPT_TS, Ipv4Options } from './ip_options.js';

/** A 20-byte header (contents irrelevant here) followed by `opts`, at offset 2 of a buffer. */
function header(opts: number[]): { buf: Uint8Array; off: number; hlen: number } {
  const buf = new Uint8Array(2 + 20 + opts.length + 8);
  buf.set(opts, 22);
  return { buf, off: 2, hlen: 20 + opts.length };
}

function walk(o: Ipv4Options): Array<[number, number]> {
  const seen: Array<[number, number]> = [];
  for (; !o.done; o.next()) {
    seen.push([o.kind, o.length]);
    if (o.length === 0) break;
  }
  return seen;
}

test('walks NOP, record route and timestamp, stopping at end of list', () => {
  // NOP; RR len 7 ptr 4 (one slot); TS len 12 ptr 5 flags TSONLY (two slots); EOL; padding that must not be read.
  const h = header([1, 7, 7, 4, 0, 0, 0, 0, 68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 3, 4]);
  const o = new Ipv4Options().reset(h.buf, h.off, h.hlen);
  assert.deepEqual(walk(o), [
    [IPOPT.NOP, 1],
    [IPOPT.RR, 7],
    [IPOPT.TS, 12],
  ]);
});

test('pointer, overflow and flags read and write the option in place', () => {
  const h = header([68, 12, 5, 0x31, 0, 0, 0, 0, 0, 0, 0, 0]);
  const o = new Ipv4Options().reset(h.buf, h.off, h.hlen);
  assert.equal(o.kind, IPOPT.TS);
  assert.equal(o.pointer, 5);
  assert.equal(o.tsOverflow, 3);
  assert.equal(o.tsFlags, IPOPT_TS.TSANDADDR);
  o.setWord(4, 0x0a000001);
  o.pointer = 9;
  o.tsOverflow = o.tsOverflow + 1;
  assert.deepEqual([...h.buf.subarray(22, 30)], [68, 12, 9, 0x41, 10, 0, 0, 1]);
  assert.equal(o.word(4), 0x0a000001);
  o.tsOverflow = 16; // the four-bit count wraps to 0
  assert.equal(o.tsOverflow, 0);
  assert.equal(o.tsFlags, IPOPT_TS.TSANDADDR);
  assert.equal(o.at(2), 22, 'the pointer byte is 22 bytes into the header');
});

test('a length byte that is missing, under 2 or past the header reads as 0, and next() then ends the walk', () => {
  for (const opts of [[7], [7, 1, 0, 0], [7, 9, 4, 0], [68, 0, 0, 0]]) {
    const h = header(opts);
    const o = new Ipv4Options().reset(h.buf, h.off, h.hlen);
    assert.equal(o.length, 0, JSON.stringify(opts));
    assert.equal(o.pointer, 0);
    o.next();
    assert.ok(o.done);
  }
});

test('takeTo moves kept options to the front, also when they overlap where they were', () => {
  // NOP NOP LSRR(len 3) RR(len 7) TS(len 8): keep RR and TS.
  const h = header([1, 1, 131, 3, 4, 7, 7, 8, 1, 2, 3, 4, 68, 8, 9, 0, 5, 6, 7, 8]);
  const o = new Ipv4Options().reset(h.buf, h.off, h.hlen);
  let w = h.off + 20;
  while (!o.done && o.length !== 0) {
    if (o.kind === IPOPT.RR || o.kind === IPOPT.TS) w = o.takeTo(w);
    else o.next();
  }
  assert.equal(w - h.off, 35);
  assert.deepEqual([...h.buf.subarray(22, 37)], [7, 7, 8, 1, 2, 3, 4, 68, 8, 9, 0, 5, 6, 7, 8]);
});

test('random option bytes never throw and the walk always ends inside the header', () => {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const o = new Ipv4Options();
  for (let i = 0; i < 20000; i++) {
    const n = (rnd() % 10) * 4;
    const h = header(Array.from({ length: n }, rnd));
    o.reset(h.buf, h.off, h.hlen);
    let steps = 0;
    for (; !o.done; o.next()) {
      assert.ok(o.cp >= h.off + 20 && o.cp < h.off + h.hlen);
      void o.pointer;
      if (o.length >= 4) void o.tsFlags;
      assert.ok(++steps <= 40);
    }
  }
});
