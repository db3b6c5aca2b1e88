import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry } from './image.js';
import { fakeTapOpener } from './testing/fake_tap.js';
import { ImageControl } from './control/index.js';
import { applyConfig, checkLoadable, exportConfig, loadConfig, validateConfig } from './config.js';
import { BridgeDriver } from './net/if_bridge.js';

function build(): Registry {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
  const sw = reg.create('SW');
  const ifs = new ImageControl(sw, reg).interfaces;
  const t0 = ifs.create('tap', { hostname: 'vbrh0' });
  const t1 = ifs.create('tap', { hostname: 'vbrh1' });
  const ep = ifs.create('epair');
  const other = reg.create('X');
  reg.move(sw, sw.ifnet(ep.replace(/a$/, 'b')), other);
  const br = ifs.create('bridge');
  ifs.configureBridge(br, [
    { kind: 'addm', ifname: t0 },
    { kind: 'addm', ifname: ep },
    { kind: 'span', ifname: t1 },
    { kind: 'maxaddr', value: 500 },
    { kind: 'timeout', value: 300 },
  ]);
  ifs.configure(br, [{ kind: 'up' }]);
  ifs.addAddress(br, 0x0a000001, 24, { alias: false });
  const v = ifs.create('vlan', { vlan: 10, vlandev: t0 });
  ifs.configure(v, [{ kind: 'up' }]);
  ifs.addAddress(v, 0x0a000a01, 24, { alias: false });
  return reg;
}

test('bridges and VLANs are saved and restored: members, span ports, table parameters, tag and parent', () => {
  const doc = exportConfig(build());
  const sw = doc.images.find((i) => i.name === 'SW')!;
  const br = sw.interfaces.find((f) => f.kind === 'bridge')!;
  assert.deepEqual([br.members, br.span, br.maxaddr, br.timeout], [['tap0', 'epair0a'], ['tap1'], 500, 300]);
  const vl = sw.interfaces.find((f) => f.kind === 'vlan')!;
  assert.deepEqual([vl.name, vl.vlan, vl.vlandev, vl.addrs], ['vlan0', 10, 'tap0', ['10.0.10.1/24']]);
  // Through JSON and the loose check, as the daemon's state file goes.
  const again = validateConfig(JSON.parse(JSON.stringify(doc)));
  const reg2 = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
  const rep = applyConfig(reg2, again);
  assert.deepEqual(rep.errors, []);
  assert.deepEqual(exportConfig(reg2), doc);
  const b = reg2.get('SW')!.ifnet('bridge0');
  assert.deepEqual((b.driver as BridgeDriver).memberNames(), ['tap0', 'epair0a']);
});

test('a hand-written file: bridge and vlan keys are checked; old files without them still load', () => {
  assert.throws(() => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'vlan0', kind: 'vlan' }] }] }), /vlan: missing/);
  assert.throws(() => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'e0', kind: 'epair', peer: { image: 'A', name: 'e1' }, members: ['x'] }, { name: 'e1', kind: 'epair', peer: { image: 'A', name: 'e0' } }] }] }), /only a bridge has members/);
  const doc = checkLoadable({
    images: [
      {
        name: 'SW',
        interfaces: [
          { name: 'bridge0', kind: 'bridge', members: ['epair5a'], up: true, inet: '10.9.0.1/24' },
          { name: 'epair5a', kind: 'epair', peer: { image: 'SW', name: 'epair5b' }, up: true },
          { name: 'epair5b', kind: 'epair', peer: { image: 'SW', name: 'epair5a' }, up: true },
          { name: 'epair5b.7', kind: 'vlan', vlan: 7, vlandev: 'epair5b', inet: '10.7.0.1/24' },
        ],
      },
    ],
  });
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const r = loadConfig(reg, doc, false);
  assert.deepEqual(r.errors, []);
  const ctl = new ImageControl(reg.get('SW')!, reg);
  assert.deepEqual(ctl.interfaces.get('bridge0').bridge!.members.map((m) => m.name), ['epair5a']);
  assert.deepEqual(ctl.interfaces.get('epair5b.7').vlan, { vlan: 7, vlanproto: '802.1q', vlanpcp: 0, parent: 'epair5b' });
  // Loading again without the member takes it out; the bridge stays.
  const doc2 = checkLoadable({ images: [{ name: 'SW', interfaces: [{ name: 'bridge0', kind: 'bridge', up: true }, { name: 'epair5a', kind: 'epair', peer: { image: 'SW', name: 'epair5b' } }, { name: 'epair5b', kind: 'epair', peer: { image: 'SW', name: 'epair5a' } }] }] });
  assert.deepEqual(loadConfig(reg, doc2, false).errors, []);
  assert.deepEqual(ctl.interfaces.get('bridge0').bridge!.members, []);
  assert.equal(ctl.interfaces.has('epair5b.7'), false);
});

test('destroying the image of a bridge releases its members into the default image', () => {
  const reg = build();
  reg.destroy('SW');
  const def = new ImageControl(reg.default, reg).interfaces;
  assert.deepEqual(def.get('bridge0').bridge!.members, []);
  assert.equal(def.get('tap0').flagNames.includes('PROMISC'), false);
  const ifs = def.list().map((i) => i.name);
  assert.ok(ifs.includes('tap0') && ifs.includes('vlan0') && ifs.includes('epair0a'));
});
