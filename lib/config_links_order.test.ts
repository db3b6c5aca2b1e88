import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry } from './image.js';
import { fakeTapOpener } from './testing/fake_tap.js';
import { ImageControl } from './control/index.js';
import { applyConfig, exportConfig, validateConfig } from './config.js';
import { VlanDriver } from './net/if_vlan.js';

test('a VLAN on a bridge, itself a member of another bridge, survives save and restore', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
  const sw = reg.create('SW');
  const ifs = new ImageControl(sw, reg).interfaces;
  const t0 = ifs.create('tap', { hostname: 'vr1h0' });
  const br0 = ifs.create('bridge');
  const br1 = ifs.create('bridge');
  ifs.configureBridge(br0, [{ kind: 'addm', ifname: t0 }]);
  const v = ifs.create('vlan', { vlan: 10, vlandev: br0 });
  ifs.configureBridge(br1, [{ kind: 'addm', ifname: v }]);
  const doc = exportConfig(reg);
  const reg2 = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
  const rep = applyConfig(reg2, validateConfig(JSON.parse(JSON.stringify(doc))));
  assert.deepEqual(rep.errors, []);
  const v2 = reg2.get('SW')!.ifnet(v);
  assert.equal((v2.driver as VlanDriver).parent?.name, br0);
  assert.deepEqual(exportConfig(reg2), doc);
});
