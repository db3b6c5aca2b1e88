import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VimageError } from '../errors.js';
import { parseIp4 } from '../wire/ipv4.js';
import { seeded } from '../testing/testbed.js';
import { RuleSyntaxError } from './parse_tokens.js';
import { TT, TableSet } from './table.js';
import { AddrLpm, U32Map } from './table_algo.js';
import { VT, parseValue } from './table_value.js';

const set = (max = 128): TableSet => new TableSet(() => max);
const ip = (s: string): number => parseIp4(s)!;

test('U32Map: set, get, delete over many keys, including keys above 2^31, agrees with a Map', () => {
  const rnd = seeded(7);
  const m = new U32Map();
  const ref = new Map<number, number>();
  for (let n = 0; n < 20000; n++) {
    const k = Math.floor(rnd() * 4096) * 1048573 % 0x100000000;
    if (rnd() < 0.3) {
      assert.equal(m.delete(k), ref.delete(k));
    } else {
      assert.equal(m.set(k, n), !ref.has(k));
      ref.set(k, n);
    }
  }
  assert.equal(m.size, ref.size);
  for (const [k, v] of ref) assert.equal(m.get(k), v);
  assert.equal(m.get(0xfffffffe), ref.get(0xfffffffe) ?? -1);
});

test('AddrLpm: longest-prefix match agrees with a brute-force scan over random prefixes, through deletes, with and without the DIR-16 stage', () => {
  const rnd = seeded(42);
  const lpm = new AddrLpm();
  const key = new Int32Array(1);
  const ref = new Map<string, [number, number, number]>();
  const mask = (len: number): number => (len === 0 ? 0 : (-1 << (32 - len)) >>> 0);
  const brute = (a: number): number => {
    let best = -1;
    let bestLen = -1;
    for (const [p, len, v] of ref.values()) if (((a & mask(len)) >>> 0) === p && len > bestLen) [best, bestLen] = [v, len];
    return best;
  };
  // Prefixes clustered in 10.0.0.0/8 so that they nest.
  const addr = (): number => ((10 << 24) | Math.floor(rnd() * 0x10000) << 8 | Math.floor(rnd() * 4)) >>> 0;
  for (let n = 0; n < 3000; n++) {
    const len = [0, 8, 12, 16, 20, 23, 24, 25, 30, 32][Math.floor(rnd() * 10)]!;
    const p = (addr() & mask(len)) >>> 0;
    const k = `${p}/${len}`;
    if (ref.has(k) && rnd() < 0.5) {
      assert.equal(lpm.delete(p, len), true);
      ref.delete(k);
    } else {
      lpm.set(p, len, n);
      ref.set(k, [p, len, n]);
    }
    // Below and above DIR16_MIN prefixes (the first stage is built at 256).
    if (n % 100 === 99) for (let q = 0; q < 100; q++) {
      const a = addr();
      assert.equal(lpm.find(a), brute(a), `lookup of ${a} after ${n + 1} changes`);
      key[0] = a;
      assert.equal(lpm.findAt(key), brute(a), `packet-path lookup of ${a} after ${n + 1} changes`);
    }
  }
  assert.equal(lpm.size, ref.size);
  for (let n = 0; n < 5000; n++) {
    const a = n % 5 === 0 ? Math.floor(rnd() * 0x100000000) : addr();
    assert.equal(lpm.find(a), brute(a), `lookup of ${a >>> 0}`);
    key[0] = a;
    assert.equal(lpm.findAt(key), brute(a), `packet-path lookup of ${a >>> 0}`);
  }
  assert.equal(lpm.delete(ip('192.0.2.0'), 24), false);
});

test('tables: create, add several entries, list in radix order, lookup the longest prefix, delete', () => {
  const t = set();
  t.create('bad');
  const r = t.add('bad', [['10.0.0.0/8', '5'], ['10.1.2.0/24', '7'], ['192.0.2.1', undefined]], false);
  assert.deepEqual(
    r.map((x) => `${x.result}: ${x.key} ${x.value}`),
    ['added: 10.0.0.0/8 5', 'added: 10.1.2.0/24 7', 'added: 192.0.2.1/32 0'],
  );
  assert.deepEqual(t.list('bad'), [
    { key: '10.0.0.0/8', value: '5' },
    { key: '10.1.2.0/24', value: '7' },
    { key: '192.0.2.1/32', value: '0' },
  ]);
  assert.deepEqual(t.lookup('bad', '10.1.2.9'), { key: '10.1.2.0/24', value: '7' });
  assert.deepEqual(t.lookup('bad', '10.9.9.9'), { key: '10.0.0.0/8', value: '5' });
  assert.equal(t.lookup('bad', '11.0.0.1'), null);
  // A duplicate is reported and left; with update it takes the new value.
  assert.equal(t.add('bad', [['10.0.0.0/8', '6']], false)[0]!.result, 'exists');
  assert.equal(t.add('bad', [['10.0.0.0/8', '6']], true)[0]!.result, 'updated');
  assert.equal(t.lookup('bad', '10.9.9.9')!.value, '6');
  assert.deepEqual(
    t.delete('bad', ['10.1.2.0/24', '10.1.2.0/25']).map((x) => x.result),
    ['deleted', 'notfound'],
  );
  assert.deepEqual(t.lookup('bad', '10.1.2.9'), { key: '10.0.0.0/8', value: '6' });
  const i = t.info('bad');
  assert.deepEqual(i, { name: 'bad', set: 0, kindex: 1, type: 'addr', valtype: 'legacy', algorithm: 'addr:radix', items: 2, size: 296 + 2 * 128, limit: 0, locked: false, references: 0 });
});

test('tables: number and iface tables, valtypes, limits, locks, swap and destroy', () => {
  const t = set();
  t.create('ports', { type: TT.NUMBER, vmask: VT.SKIPTO | VT.PIPE });
  t.add('ports', [['80', '1000,2'], ['4000000000', '2000,3']], false);
  assert.deepEqual(t.list('ports'), [
    { key: '80', value: '1000,2' },
    { key: '4000000000', value: '2000,3' },
  ]);
  assert.equal(t.info('ports').valtype, 'skipto,pipe');
  assert.equal(t.get('ports')!.lookupU32(4000000000) >= 0, true);
  assert.throws(() => t.add('ports', [['81', '1000']], false), /Not enough fields/);
  t.create('ifs', { type: TT.IFACE, limit: 1 });
  assert.deepEqual(
    t.add('ifs', [['epair0a', '1'], ['epair1a', '2']], false).map((x) => x.result),
    ['added', 'limit'],
  );
  assert.equal(t.get('ifs')!.lookupIface('epair0a') >= 0, true);
  t.lock('ifs', true);
  assert.throws(() => t.add('ifs', [['x', '1']], false), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_TABLE_LOCKED');
  t.lock('ifs', false);
  // swap: entries change places; types must agree.
  t.create('a');
  t.create('b');
  t.add('a', [['10.0.0.0/8', '1']], false);
  t.add('b', [['192.0.2.0/24', '2'], ['198.51.100.0/24', '3']], false);
  t.swap('a', 'b');
  assert.equal(t.info('a').items, 2);
  assert.deepEqual(t.lookup('b', '10.1.1.1'), { key: '10.0.0.0/8', value: '1' });
  assert.throws(() => t.swap('a', 'ports'), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_TABLE_MISMATCH');
  assert.throws(() => t.create('a'), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_TABLE_EXISTS');
  t.get('a')!.refs = 1;
  assert.throws(() => t.destroy('a'), (e: unknown) => e instanceof VimageError && e.errno === 'EBUSY');
  t.get('a')!.refs = 0;
  t.destroy('a');
  assert.equal(t.has('a'), false);
  // The freed kernel index is used again.
  assert.equal(t.create('c').kidx, 3);
  assert.deepEqual(t.names(), ['b', 'c', 'ifs', 'ports']);
});

test('tables: bad input is refused with ipfw messages', () => {
  const t = set(2);
  assert.throws(() => t.create('all'), /invalid/);
  assert.throws(() => t.create('x y'), /invalid/);
  t.create('n', { type: TT.NUMBER });
  t.create('m');
  assert.throws(() => t.create('o'), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_LIMIT');
  assert.throws(() => t.add('m', [['10.0.0.0/33', '1']], false), (e: unknown) => e instanceof RuleSyntaxError && e.message === 'bad IPv4 mask width: 33');
  assert.throws(() => t.add('m', [['nohost', '1']], false), /hostname ``nohost'' unknown/);
  assert.throws(() => t.add('m', [['2001:db8::/32', '1']], false), /IPv6/);
  assert.throws(() => t.add('m', [['10.0.0.1', 'x']], false), /Unable to parse value x/);
  assert.throws(() => t.add('n', [['12a', '1']], false), /Invalid number: 12a/);
  assert.throws(() => t.info('zz'), (e: unknown) => e instanceof VimageError && e.errno === 'ESRCH');
  assert.throws(() => parseValue('1,2', VT.SKIPTO), /Unable to parse value/);
  assert.equal(parseValue('10.0.0.1', 0xffffffff).tag, ip('10.0.0.1'));
  assert.equal(parseValue('af11', VT.DSCP).dscp, 10);
});

test('flow tables key on the fields their type names, in key order', () => {
  const t = set();
  t.create('f', { type: TT.FLOW, tflags: 0b11001 }); // src-ip, dst-ip, dst-port
  assert.equal(t.info('f').type, 'flow:src-ip,dst-ip,dst-port');
  assert.deepEqual(
    t.add('f', [['10.0.0.1,10.0.0.2,80', '3']], false).map((x) => `${x.result}: ${x.key} ${x.value}`),
    ['added: 10.0.0.1,10.0.0.2,80 3'],
  );
  assert.deepEqual(t.lookup('f', '10.0.0.1,10.0.0.2,80'), { key: '10.0.0.1,10.0.0.2,80', value: '3' });
  assert.equal(t.lookup('f', '10.0.0.1,10.0.0.2,81'), null);
  assert.throws(() => t.add('f', [['10.0.0.1,10.0.0.2', '1']], false), /dst port missing/);
  assert.throws(() => t.add('f', [['10.0.0.1,10.0.0.2,80,5', '1']], false), /invalid key/);
});
