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
