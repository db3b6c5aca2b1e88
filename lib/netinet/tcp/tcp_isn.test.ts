import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpKeyedHash, tcpNewIsn, tcpNewTsOffset } from './tcp_isn.js';

const A = 0x0a000001;
const B = 0x0a000002;

test('ISNs of one 4-tuple rise with the 4 us clock (RFC 6528), so a reused 4-tuple starts above the last connection', () => {
  const s = 0xdeadbeef;
  const first = tcpNewIsn(s, A, 40000, B, 80, 1000);
  const later = tcpNewIsn(s, A, 40000, B, 80, 1001);
  assert.equal((later - first) >>> 0, 250, 'one millisecond is 250 ticks of 4 us');
  assert.equal((tcpNewIsn(s, A, 40000, B, 80, 61_000) - first) >>> 0, 15_000_000);
});

test('ISNs of different 4-tuples, or under another secret, are unrelated', () => {
  const s = 0xdeadbeef;
  const isns = new Set<number>();
  for (let port = 40000; port < 41000; port++) isns.add(tcpNewIsn(s, A, port, B, 80, 5000));
  assert.equal(isns.size, 1000);
  assert.notEqual(tcpNewIsn(s, A, 40000, B, 80, 5000), tcpNewIsn(s ^ 1, A, 40000, B, 80, 5000));
  assert.notEqual(tcpNewIsn(s, A, 40000, B, 80, 5000), tcpNewIsn(s, B, 80, A, 40000, 5000));
});

test('the timestamp offset is fixed per 4-tuple (RFC 7323 5.4) and differs between them', () => {
  const s = 0x12345678;
  assert.equal(tcpNewTsOffset(s, A, 40000, B, 80), tcpNewTsOffset(s, A, 40000, B, 80));
  assert.notEqual(tcpNewTsOffset(s, A, 40000, B, 80), tcpNewTsOffset(s, A, 40001, B, 80));
  assert.notEqual(tcpNewTsOffset(s, A, 40000, B, 80), tcpNewIsn(s, A, 40000, B, 80, 0), 'not the ISN hash');
});

test('the keyed hash spreads single-bit changes (SYN cookies rely on it too)', () => {
  const h = tcpKeyedHash(7, 1, 2, 3, 4, 5);
  for (const v of [tcpKeyedHash(7, 1, 2, 3, 4, 4), tcpKeyedHash(6, 1, 2, 3, 4, 5), tcpKeyedHash(7, 0, 2, 3, 4, 5)]) {
    const bits = (h ^ v).toString(2).replace(/0/g, '').length;
    assert.ok(bits >= 8 && bits <= 24, `${bits} bits differ`);
  }
});
