import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../platform.js';
import { silentLogger } from '../log.js';
import { Registry } from '../image.js';
import { ImageControl } from '../control/index.js';
import { applyConfig, checkLoadable, exportConfig, validateConfig } from '../config.js';
import { IFF } from './if.js';

function build(): Registry {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const a = reg.create('A');
  const ifs = new ImageControl(a, reg).interfaces;
  const ep = ifs.create('epair');
  ifs.configure(ep, [{ kind: 'up' }]);
  ifs.addAddress(ep, 0x0a000001, 24, { alias: false });
  const v = ifs.createVxlan({ params: { vni: 42, local: 0x0a000001, remote: 0x0a000002, ttl: 9, learn: false, timeout: 60, maxaddr: 100, portMin: 50000, portMax: 50010 } });
  ifs.configure(v, [{ kind: 'up' }]);
  ifs.addAddress(v, 0x0a2a0001, 24, { alias: false });
  const br = ifs.create('bridge');
  ifs.configureBridge(br, [{ kind: 'addm', ifname: v }]);
  return reg;
}

test('a vxlan is saved and restored with its parameters, running, and as a bridge member', () => {
  const doc = exportConfig(build());
  const vx = doc.images.find((i) => i.name === 'A')!.interfaces.find((f) => f.kind === 'vxlan')!;
  assert.deepEqual(vx.vxlan, { vni: 42, local: '10.0.0.1', remote: '10.0.0.2', localPort: 4789, remotePort: 4789, portMin: 50000, portMax: 50010, ttl: 9, learn: false, timeout: 60, maxaddr: 100 });
  assert.equal(vx.mtu, 1450);
  const again = validateConfig(JSON.parse(JSON.stringify(doc)));
  const reg2 = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const rep = applyConfig(reg2, again);
  assert.deepEqual(rep.errors, []);
  assert.deepEqual(exportConfig(reg2), doc);
  const a2 = reg2.get('A')!;
  const v2 = a2.ifnet('vxlan0');
  assert.ok((v2.flags & IFF.RUNNING) !== 0, 'running after the restore (its socket is open)');
  assert.equal(a2.udb.count, 1);
  // Applying the same document again changes nothing; a changed VNI is applied (down, set, up).
  assert.deepEqual(applyConfig(reg2, again).errors, []);
  const changed = JSON.parse(JSON.stringify(doc)) as typeof doc;
  changed.images.find((i) => i.name === 'A')!.interfaces.find((f) => f.kind === 'vxlan')!.vxlan!.vni = 43;
  assert.deepEqual(applyConfig(reg2, validateConfig(changed)).errors, []);
  assert.equal(new ImageControl(a2, reg2).interfaces.get('vxlan0').vxlan!.vni, 43);
  assert.ok((v2.flags & IFF.RUNNING) !== 0);
});

test('a hand-written vxlan is checked key by key', () => {
  const one = (vxlan: unknown): unknown => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'vxlan0', kind: 'vxlan', vxlan }] }] });
  assert.throws(() => one({ vni: 1 << 24 }), /vxlan\.vni: must be an integer between 0 and 16777215/);
  assert.throws(() => one({ remote: '239.0.0.1' }), /multicast/);
  assert.throws(() => one({ remote: 'x' }), /vxlan\.remote: must be an IPv4 address/);
  assert.throws(() => one({ vnid: 3 }), /unknown key/);
  assert.doesNotThrow(() => one({ vni: 5, local: '10.0.0.1', remote: '10.0.0.2' }));
  assert.throws(() => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'bridge0', kind: 'bridge', vxlan: { vni: 1 } }] }] }), /only a vxlan has vxlan/);
});

test('a vxlan create refused for its parameters leaves no interface behind, not even in the index table', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const a = reg.create('A');
  const ifs = new ImageControl(a, reg).interfaces;
  const byIndex = (reg as unknown as { byIndex: Map<number, unknown> }).byIndex;
  const before = byIndex.size;
  for (let i = 0; i < 10; i++) assert.throws(() => ifs.createVxlan({ params: { vni: 1 << 30 } }), /vxlanid/);
  assert.equal(byIndex.size, before);
  assert.equal([...a.ifnets.keys()].filter((n) => n.startsWith('vxlan')).length, 0);
  reg.close();
});
