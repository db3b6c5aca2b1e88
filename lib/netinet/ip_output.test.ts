import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipOptCopy } from './ip_output.js';

function header(opts: number[]): Uint8Array {
  const o = [...opts];
  while (o.length % 4 !== 0) o.push(0);
  const h = new Uint8Array(20 + o.length);
  h[0] = 0x40 | (h.length >> 2);
  h[9] = 17;
  h.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  h.set(o, 20);
  return h;
}

test('fragments after the first keep only the options marked copied, NOPs for alignment, padded to 32 bits (ip_optcopy)', () => {
  // NOP, record route (7, not copied), router alert (148, copied), EOL.
  const h = header([1, 7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0]);
  const out = new Uint8Array(60).fill(0xee);
  const n = ipOptCopy(h, 0, h.length, out, 4);
  assert.equal(n, 28);
  assert.deepEqual([...out.subarray(4, 24)], [...h.subarray(0, 20)], 'the fixed header as it was');
  assert.deepEqual([...out.subarray(24, 32)], [1, 148, 4, 0, 0, 0, 0, 0]);
  assert.equal(out[32], 0xee, 'nothing written past the new header');
});

test('no copied options: the bare 20-byte header; a malformed option ends the copy without reading past the header', () => {
  const rr = header([7, 7, 4, 0, 0, 0, 0]);
  assert.equal(ipOptCopy(rr, 0, rr.length, new Uint8Array(60), 0), 20);
  const bad = header([148, 0, 0, 0]);
  assert.equal(ipOptCopy(bad, 0, bad.length, new Uint8Array(60), 0), 20);
  const long = header([148, 40, 0, 0]); // claims more than the header holds: cut at its end
  const out = new Uint8Array(60);
  assert.equal(ipOptCopy(long, 0, long.length, out, 0), 24);
  assert.deepEqual([...out.subarray(20, 24)], [148, 40, 0, 0]);
});
