import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rules, testbed } from '../testing/testbed.js';
import { restoreIpfwConfig, saveIpfwConfig } from './config.js';
import { TT } from './table.js';

test('tables are saved with the configuration and restored before the rules that use them', () => {
  const { r, a } = testbed();
  const t = r.fw.tables;
  t.create('bad');
  t.add('bad', [['10.0.0.0/8', '5'], ['192.0.2.1', '0']], false);
  t.create('ports', { type: TT.NUMBER, vmask: 0x1 | 0x2, limit: 10 });
  t.add('ports', [['53', '1000,7']], false);
  t.lock('ports', true);
  rules(r, '100 deny ip from table(bad) to any', '200 skipto tablearg udp from any to any lookup dst-port ports');
  const saved = JSON.parse(JSON.stringify(saveIpfwConfig(r)));
  assert.equal(saved.tables.length, 2);
  restoreIpfwConfig(a, saved);
  const u = a.fw.tables;
  assert.deepEqual(u.list('bad'), t.list('bad'));
  assert.deepEqual(u.list('ports'), [{ key: '53', value: '1000,7' }]);
  assert.deepEqual(u.info('ports'), { ...t.info('ports'), references: 1 });
  assert.equal(u.info('bad').references, 1);
  assert.equal(a.fw.rules.length, 3);
  // Restoring again changes nothing and fails on nothing.
  restoreIpfwConfig(a, saved);
  assert.equal(u.info('bad').items, 2);
  assert.equal(a.fw.rules.length, 3);
});
