import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../platform.js';
import { VimageError } from '../errors.js';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { parseMac } from '../wire/ethernet.js';
import { parseIp4 } from '../wire/ipv4.js';
import { ImageControl, RTF, VnetHandle } from './index.js';

const ip = (s: string): number => parseIp4(s)!;

function setup(): { reg: Registry; r: ImageControl; s: ImageControl; vnet: VnetHandle } {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const R = reg.create('R');
  const S = reg.create('S');
  return { reg, r: new ImageControl(R, reg), s: new ImageControl(S, reg), vnet: new VnetHandle(R, reg) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof VimageError) return e.code;
    throw e;
  }
  return 'no error';
}

test('interfaces: an epair is created, configured and listed as plain data', () => {
  const { r } = setup();
  const a = r.interfaces.create('epair');
  assert.equal(a, 'epair0a');
  assert.deepEqual(
    r.interfaces.list().map((f) => f.name),
    ['lo0', 'epair0a', 'epair0b'],
  );
  assert.equal(r.interfaces.configure(a, [{ kind: 'up' }, { kind: 'mtu', mtu: 9000 }, { kind: 'name', name: 'lan0' }]), 'lan0');
  r.interfaces.addAddress('lan0', ip('10.9.0.1'), 24, { alias: false });
  const f = r.interfaces.get('lan0');
  assert.equal(f.mtu, 9000);
  assert.ok(f.flagNames.includes('UP'));
  assert.deepEqual(f.inet, [{ address: '10.9.0.1', prefixLen: 24, netmask: '255.255.255.0', broadcast: '10.9.0.255' }]);
  assert.equal(f.link['peer'], 'epair0b');
  assert.equal(JSON.parse(JSON.stringify(f)).name, 'lan0', 'plain data survives JSON');
  assert.equal(r.interfaces.ownerOf(ip('10.9.0.1')), 'lan0');
  // The connected route came with the address.
  assert.equal(r.routes.get(ip('10.9.0.0'), 24)?.interface, 'lan0');
  r.interfaces.deleteAddress('lan0');
  assert.deepEqual(r.interfaces.get('lan0').inet, []);
  assert.equal(r.routes.get(ip('10.9.0.0'), 24), undefined);
});

test('interfaces: bad input throws coded errors and changes nothing', () => {
  const { r } = setup();
  assert.equal(code(() => r.interfaces.get('nope0')), 'VIMAGE_ERR_NO_SUCH_INTERFACE');
  assert.equal(code(() => r.interfaces.configure('lo0', [{ kind: 'lladdr', mac: parseMac('02:00:00:00:00:01')! }])), 'VIMAGE_ERR_BAD_ARGUMENT');
  assert.equal(code(() => r.interfaces.destroy('lo0')), 'VIMAGE_ERR_NOT_DESTROYABLE');
  assert.equal(code(() => r.interfaces.create('tap')), 'VIMAGE_ERR_DEVICE', 'no TAP opener in this registry');
  assert.equal(code(() => r.interfaces.create('epair', { hostname: 'x' })), 'VIMAGE_ERR_BAD_ARGUMENT');
  r.interfaces.create('epair', { unit: '7' });
  assert.equal(code(() => r.interfaces.create('epair', { unit: '7' })), 'VIMAGE_ERR_INTERFACE_EXISTS');
  assert.equal(code(() => r.interfaces.addAddress('epair7a', ip('10.0.0.1'), 24, { alias: false, broadcast: ip('10.0.1.255') })), 'VIMAGE_ERR_BAD_ARGUMENT');
  assert.deepEqual(r.interfaces.get('epair7a').inet, []);
  assert.equal(code(() => r.interfaces.deleteAddress('epair7a')), 'VIMAGE_ERR_NO_SUCH_ADDRESS');
});

test('routes: add, change, look up and delete with the gateway resolved here', () => {
  const { r } = setup();
  const a = r.interfaces.create('epair');
  r.interfaces.configure(a, [{ kind: 'up' }]);
  r.interfaces.addAddress(a, ip('10.1.0.1'), 24, { alias: false });
  assert.equal(code(() => r.routes.add({ dst: ip('10.2.0.0'), prefixLen: 24, target: { gateway: ip('10.7.0.9') }, flags: 0 })), 'VIMAGE_ERR_NETWORK_UNREACHABLE');
  const added = r.routes.add({ dst: ip('10.2.0.0'), prefixLen: 24, target: { gateway: ip('10.1.0.9') }, flags: 0 });
  assert.equal(added.interface, a);
  assert.equal(added.flags & (RTF.GATEWAY | RTF.STATIC), RTF.GATEWAY | RTF.STATIC);
  assert.equal(code(() => r.routes.add({ dst: ip('10.2.0.0'), prefixLen: 24, target: { gateway: ip('10.1.0.9') }, flags: 0 })), 'VIMAGE_ERR_ROUTE_EXISTS');
  assert.equal(r.routes.lookup(ip('10.2.0.77'))?.gateway, ip('10.1.0.9'));
  // A gateway that is one of our own addresses makes an interface route.
  const changed = r.routes.change({ dst: ip('10.2.0.0'), prefixLen: 24, target: { gateway: ip('10.1.0.1') }, flags: 0, mtu: 1400 });
  assert.equal(changed.flags & RTF.GATEWAY, 0);
  assert.equal(changed.mtu, 1400);
  assert.equal(r.routes.sourceFor(ip('10.2.0.5')), ip('10.1.0.1'));
  assert.equal(r.routes.sourceFor(ip('192.0.2.1')), undefined);
  r.routes.add({ dst: ip('10.3.0.0'), prefixLen: 16, target: { gateway: ip('10.1.0.9') }, flags: 0 });
  assert.equal(code(() => r.routes.delete(ip('10.3.0.0'), 16, ip('10.1.0.8'))), 'VIMAGE_ERR_NO_SUCH_ROUTE', 'only through the named gateway');
  r.routes.delete(ip('10.3.0.0'), 16, ip('10.1.0.9'));
  assert.equal(r.routes.get(ip('10.3.0.0'), 16), undefined);
  assert.equal(code(() => r.routes.delete(ip('10.3.0.0'), 16)), 'VIMAGE_ERR_NO_SUCH_ROUTE');
});

test('neighbours: our addresses are permanent, static and temporary entries, deletion', () => {
  const { r } = setup();
  const a = r.interfaces.create('epair');
  r.interfaces.configure(a, [{ kind: 'up' }]);
  r.interfaces.addAddress(a, ip('10.1.0.1'), 24, { alias: false });
  const mac = parseMac('02:00:00:00:00:09')!;
  assert.equal(code(() => r.neighbours.set(ip('10.1.0.1'), mac, { temp: false, replace: false })), 'VIMAGE_ERR_ADDRESS_EXISTS');
  assert.equal(code(() => r.neighbours.set(ip('10.8.0.1'), mac, { temp: false, replace: false })), 'VIMAGE_ERR_NETWORK_UNREACHABLE');
  r.neighbours.set(ip('10.1.0.9'), mac, { temp: false, replace: false });
  assert.equal(code(() => r.neighbours.set(ip('10.1.0.9'), mac, { temp: false, replace: false })), 'VIMAGE_ERR_ADDRESS_EXISTS');
  r.neighbours.set(ip('10.1.0.9'), mac, { temp: true, replace: true });
  const rows = r.neighbours.list(a);
  assert.deepEqual(
    rows.map((n) => [n.ip, n.own, n.static, n.expires !== null]),
    [
      [ip('10.1.0.1'), true, false, false],
      [ip('10.1.0.9'), false, false, true],
    ],
  );
  assert.equal(code(() => r.neighbours.delete(ip('10.1.0.1'))), 'VIMAGE_ERR_BAD_ARGUMENT');
  r.neighbours.delete(ip('10.1.0.9'));
  assert.equal(code(() => r.neighbours.delete(ip('10.1.0.9'))), 'VIMAGE_ERR_NO_SUCH_ENTRY');
});

test('sysctl and stats: values per image, descriptor tables, zeroing', () => {
  const { r, s } = setup();
  const set = r.sysctl.set('net.inet.ip.forwarding', '1');
  assert.deepEqual([set.old.value, set.now.value], [0, 1]);
  assert.equal(s.sysctl.get('net.inet.ip.forwarding')?.value, 0, 'another image keeps its own value');
  assert.ok(r.sysctl.isNode('net.inet.ip'));
  assert.equal(r.sysctl.get('net.inet.ip'), undefined);
  assert.equal(code(() => r.sysctl.set('net.inet.ip.forwarding', '7')), 'VIMAGE_ERR_OUT_OF_RANGE');
  const ipStats = r.stats.protocol('ip');
  assert.ok(ipStats.counters.length > 10);
  for (const c of ipStats.counters) assert.ok(c.description.length > 0, `${c.name} has a description`);
  const tcp = r.stats.protocol('tcp');
  assert.ok(tcp.connectionsByState?.some((x) => x.state === 'LISTEN'));
  r.stats.zero('ip');
  assert.ok(r.stats.protocol('ip').counters.every((c) => c.value === 0));
});

test('cpu parameters are checked together before either changes', () => {
  const { r } = setup();
  assert.equal(code(() => r.setCpu({ weight: 300, max: 0 })), 'VIMAGE_ERR_OUT_OF_RANGE');
  assert.deepEqual(r.cpu, { weight: 100, max: 100 });
  r.setCpu({ weight: 300, max: 50 });
  assert.deepEqual(r.cpu, { weight: 300, max: 50 });
});

test('the vnet handle moves this image’s interfaces and takes them back, nothing else', () => {
  const { r, s, vnet } = setup();
  const a = r.interfaces.create('epair');
  vnet.moveTo(a, 'S');
  assert.ok(s.interfaces.has(a));
  assert.ok(!r.interfaces.has(a));
  assert.equal(code(() => vnet.moveTo('epair0b', 'nowhere')), 'VIMAGE_ERR_NO_SUCH_IMAGE');
  assert.equal(code(() => vnet.moveTo('lo0', 'S')), 'VIMAGE_ERR_NOT_MOVABLE');
  assert.equal(code(() => vnet.reclaim('epair0b', 'S')), 'VIMAGE_ERR_NO_SUCH_INTERFACE');
  vnet.reclaim(a, 'S');
  assert.ok(r.interfaces.has(a));
});
