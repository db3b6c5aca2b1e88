import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp4 } from '../wire/ipv4.js';
import { AddrLpm, DIR16_MIN } from './table_algo.js';

test('AddrLpm with the DIR-16 stage: deleting the last prefix of a length above 16 leaves lookups in its /16 working', () => {
  const lpm = new AddrLpm();
  // Enough /16 prefixes elsewhere to build the DIR-16 stage.
  for (let i = 0; i < DIR16_MIN; i++) lpm.set(((20 << 24) | (i << 16)) >>> 0, 16, i);
  lpm.set(parseIp4('10.1.2.0')!, 24, 1000);
  lpm.set(parseIp4('10.1.0.0')!, 16, 1001);
  const key = Int32Array.of(parseIp4('10.1.2.3')! | 0);
  assert.equal(lpm.findAt(key), 1000);
  assert.ok(lpm.delete(parseIp4('10.1.2.0')!, 24));
  assert.equal(lpm.findAt(key), 1001);
  assert.equal(lpm.find(parseIp4('10.1.2.3')!), 1001);
});
