import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testbed } from '../testing/testbed.js';
import { restoreIpfwConfig } from './config.js';

test('a bad pipe in a saved ipfw configuration is reported; the tables, nat and rules after it are still restored', () => {
  const { r } = testbed();
  const saved = {
    rules: ['100 deny ip from table(bad) to any', '200 allow ip from any to any'],
    pipes: [{ nr: 1, plr: 0, qsize: 50, qbytes: false, type: 'nosuch' }],
    queues: [{ nr: 2, plr: 0, qsize: 50, qbytes: false }],
    tables: [{ name: 'bad', type: 1, algo: 'addr:radix', entries: [['10.0.0.0/8', '0']] }],
    nat: ['1 ip 10.2.0.1'],
  };
  assert.throws(() => restoreIpfwConfig(r, saved), /nosuch/);
  assert.equal(r.fw.rules.length, 3);
  assert.deepEqual(r.fw.tables.list('bad').map((e) => e.key), ['10.0.0.0/8']);
  assert.equal(r.fw.nat.configs().length, 1);
});

test('saved scheduler parameters out of range (fq flows 0, missing fields) are refused at restore, not left to throw in the packet path', () => {
  for (const sched of [{ fq: { quantum: 1514, limit: 10240, flows: 0 } }, { fq: {} }, { codel: { target: -1, interval: 'x', ecn: false } }]) {
    const bed = testbed();
    const r = bed.r;
    const saved = {
      rules: ['100 queue 2 ip from any to any', '200 allow ip from any to any'],
      pipes: [{ nr: 1, plr: 0, qsize: 50, qbytes: false, bw: 1000000, type: 'fq_codel', sched }],
      queues: [{ nr: 2, plr: 0, qsize: 50, qbytes: false, pipe: 1 }],
    };
    assert.throws(() => restoreIpfwConfig(r, saved), /pipe 1/);
    r.sysctl.set('net.inet.ip.fw.enable', '1');
    // A packet through queue 2 must not throw.
    const buf = new Uint8Array(64);
    buf.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 0, 2, 10, 2, 0, 2, 0x13, 0x88, 0, 9, 0, 8, 0, 0], 16);
    assert.doesNotThrow(() => r.fw.check(false, [...r.ifnets.values()][1] ?? null, null, buf, 16, 28, 0));
    assert.doesNotThrow(() => r.fw.dn.enqueue(false, 2, false, [...r.ifnets.values()][1] ?? null, null, 0, buf, 16, 28, 1500, r.noOffload, 100, 17, 0x0a010002, 0x0a020002, 5000, 9));
  }
});
