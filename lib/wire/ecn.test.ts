import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markCe } from './ecn.js';
import { internetChecksum } from './checksum.js';

/** A 20-byte IPv4 header with TOS `tos` and a correct checksum. */
function ip4(tos: number): Uint8Array {
  const b = Uint8Array.from([0x45, tos, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, ...new Array(20).fill(0)]);
  const s = internetChecksum(b, 0, 20);
  b[10] = s >>> 8;
  b[11] = s & 0xff;
  return b;
}

test('IPv4: ECT(0) and ECT(1) become CE with the header checksum still right', () => {
  for (const ect of [1, 2]) {
    const b = ip4(0xb8 | ect);
    assert.equal(markCe(b, 0, 40), true);
    assert.equal(b[1], 0xbb);
    assert.equal(internetChecksum(b, 0, 20), 0);
  }
});

test('IPv4: Not-ECT is left alone and refused; CE stays CE', () => {
  const n = ip4(0xb8);
  assert.equal(markCe(n, 0, 40), false);
  assert.deepEqual(n, ip4(0xb8));
  const ce = ip4(0x03);
  assert.equal(markCe(ce, 0, 40), true);
  assert.deepEqual(ce, ip4(0x03));
});

test('IPv6: the traffic class ECN bits become CE; flow label untouched', () => {
  // version 6, traffic class 0x2a (DSCP 10, ECT(0)), flow label 0xabcde
  const b = new Uint8Array(48);
  b.set([0x62, 0xaa, 0xbc, 0xde]);
  assert.equal(markCe(b, 0, 48), true);
  assert.deepEqual([...b.subarray(0, 4)], [0x62, 0xba, 0xbc, 0xde]);
  const n = new Uint8Array(48);
  n.set([0x60, 0x0a, 0xbc, 0xde]);
  assert.equal(markCe(n, 0, 48), false);
  assert.equal(n[1], 0x0a);
});

test('short, truncated and non-IP buffers are refused without throwing', () => {
  assert.equal(markCe(new Uint8Array(10).fill(0x46), 0, 10), false);
  assert.equal(markCe(new Uint8Array(30).fill(0x66), 0, 30), false);
  assert.equal(markCe(new Uint8Array(4), 2, 10), false);
  assert.equal(markCe(new Uint8Array(60).fill(0x17), 0, 60), false);
  assert.equal(markCe(new Uint8Array(0), 0, 0), false);
});
