import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { rules, testbed } from '../testing/testbed.js';
import { TT } from './table.js';

test('the chain walk allocates nothing per packet: bit-vector index, table lookups, tablearg skipto, tags, call/return, setdscp, sets', () => {
  const { r } = testbed();
  const fw = r.fw;
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(i % 2 === 0 ? `deny ip from 10.99.${i}.0/24 to 10.98.${i}.0/24` : `deny udp from any to any ${20000 + i}`);
  rules(r, ...lines);
  fw.tables.create('big');
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < 2000; i++) pairs.push([`${11 + (i % 200)}.${i >> 3 & 255}.${(i * 7) & 255}.0/${16 + (i % 17)}`, '1']);
  fw.tables.add('big', pairs, true);
  fw.tables.create('map', { type: TT.NUMBER, vmask: 1 });
  fw.tables.add('map', [['5201', '60000']], false);
  // Tags, a call and its return, setdscp, a disabled set: all on the way to 59000.
  rules(r, '58000 count tag 5 udp from any to any', '58100 call 58500 udp from any to any tagged 5 dscp be', '58200 skipto 59000 ip from any to any', '58500 setdscp be udp from any to any', '58600 set 3 deny ip from any to any', '58700 return ip from any to any');
  fw.setDisable = 1 << 3;
  rules(r, '59000 deny ip from table(big) to any', '59100 skipto tablearg udp from any to any lookup dst-port map', '59200 deny ip from any to any', '60000 allow ip from any to any');
  // A 64-byte UDP packet 10.83.1.2:40000 -> 10.83.2.2:5201 (addresses above 2^31 would box as heap numbers).
  const b = new Uint8Array(64);
  b.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 83, 1, 2, 10, 83, 2, 2, 0x9c, 0x40, 0x14, 0x51, 0, 30]);
  const c = new Uint8Array(64);
  c.set(b);
  c.set([200, 1, 2, 3], 12);
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      fw.check(false, null, null, b, 0, 64, 0);
      fw.check(true, null, null, c, 0, 64, 0);
    }
  };
  run(20000);
  assert.equal(fw.check(false, null, null, b, 0, 64, 0), 0);
  assert.equal(fw.hit!.num, 60000);
  const windows = allocWindows(run, 100000);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per packet');
  const per = Math.min(...windows);
  assert.ok(per < 4, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per pair of packets`);
});
