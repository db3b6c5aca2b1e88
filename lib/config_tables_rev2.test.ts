import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry } from './image.js';
import { fakeTapOpener } from './testing/fake_tap.js';
import { checkLoadable, exportConfig, loadConfig } from './config.js';
import { parseRule } from './ipfw/parse.js';

test('vimage load (no merge) of an ipfw section leaves the lookup tables as the file has them', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
  const r = reg.create('R');
  r.fw.add(parseRule('100 deny ip from table(bad) to any'.split(' ')));
  r.fw.tables.add('bad', [['10.0.0.0/8', '0']], true);
  const doc = exportConfig(reg);
  // Live changes the file does not have: another entry, another table.
  r.fw.tables.add('bad', [['192.168.0.0/16', '0']], true);
  r.fw.tables.create('extra', {});
  loadConfig(reg, checkLoadable(JSON.parse(JSON.stringify(doc))), false);
  assert.deepEqual(r.fw.tables.list('bad').map((e) => e.key), ['10.0.0.0/8']);
  assert.equal(r.fw.tables.has('extra'), false);
  assert.deepEqual(exportConfig(reg), doc);
});
