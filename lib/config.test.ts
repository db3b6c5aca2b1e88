import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry } from './image.js';
import { fakeTapOpener } from './testing/fake_tap.js';
import { inAddAddress } from './netinet/in.js';
import { arpAddStatic } from './netinet/if_ether.js';
import { RTF } from './netinet/route.js';
import { applyConfig, checkLoadable, exportConfig, loadConfig, validateConfig } from './config.js';
import type { Mac } from './wire/ethernet.js';

const opener = fakeTapOpener;

function build(): Registry {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: opener([]) });
  const r = reg.create('R');
  const s = reg.create('S');
  const tap = reg.createTap(r, 'hostA');
  r.setUp(tap, true);
  inAddAddress(r, tap, 0x0a000101, 24, { alias: false });
  inAddAddress(r, tap, 0x0a000901, 24, { alias: true });
  r.setMtu(tap, 9000);
  const [ea, eb] = reg.createEpair(r);
  reg.move(r, eb, s, 'uplink0');
  r.setUp(ea, true);
  s.setUp(eb, true);
  inAddAddress(r, ea, 0x0a000301, 24, { alias: false });
  inAddAddress(s, eb, 0x0a000302, 24, { alias: false });
  s.routes.add({ dst: 0, prefixLen: 0, gateway: 0x0a000301, ifp: eb, flags: RTF.UP | RTF.GATEWAY | RTF.STATIC, mtu: 0 });
  r.routes.add({ dst: 0x0a630000, prefixLen: 16, gateway: 0, ifp: ea, flags: RTF.UP | RTF.STATIC | RTF.BLACKHOLE, mtu: 0 });
  arpAddStatic(r, 0x0a000105, 0x020000000005 as Mac);
  r.sysctl.set('net.inet.ip.forwarding', '1');
  s.sysctl.set('net.inet.ip.ttl', '32');
  s.sysctl.set('net.inet.tcp.cc.algorithm', 'cubic');
  return reg;
}

test('a configuration exported, applied to an empty daemon and exported again is the same', () => {
  const doc = exportConfig(build());
  const opened: string[] = [];
  const fresh = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: opener(opened) });
  const report = applyConfig(fresh, validateConfig(JSON.parse(JSON.stringify(doc))));
  assert.deepEqual(report.errors, []);
  assert.deepEqual(exportConfig(fresh), doc);
  assert.deepEqual(opened, ['hostA'], 'the TAP device is re-attached by its host name');
  const r = fresh.image('R');
  assert.equal(r.sysctl.v[r.sysctl.list('net.inet.ip.forwarding')[0]!.decl.slot], 1);
  assert.equal(r.routes.lookup(0x0a630001)?.flags! & RTF.BLACKHOLE, RTF.BLACKHOLE);
});

test('the document lists only what the user configured', () => {
  const doc = exportConfig(build());
  const r = doc.images.find((i) => i.name === 'R')!;
  assert.deepEqual(r.sysctl, { 'net.inet.ip.forwarding': 1 });
  assert.deepEqual(r.routes, [{ dst: '10.99.0.0/16', interface: 'epair0a', flags: ['blackhole'] }]);
  assert.deepEqual(r.arp, [{ ip: '10.0.1.5', mac: '02:00:00:00:00:05' }]);
  const tap = r.interfaces.find((i) => i.kind === 'tap')!;
  assert.equal(tap.hostif, 'hostA');
  assert.deepEqual(tap.addrs, ['10.0.1.1/24', '10.0.9.1/24']);
  const ep = r.interfaces.find((i) => i.kind === 'epair')!;
  assert.deepEqual(ep.peer, { image: 'S', name: 'uplink0' });
});

test('a bad item is reported and skipped; the rest is applied', () => {
  const doc = exportConfig(build());
  const r = doc.images.find((i) => i.name === 'R')!;
  r.sysctl['net.inet.ip.ttl'] = 0;
  r.routes.push({ dst: 'nonsense', interface: 'tap0', flags: [] });
  const fresh = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: opener([]) });
  const report = applyConfig(fresh, doc);
  assert.equal(report.errors.length, 2);
  assert.match(report.errors.join('\n'), /net\.inet\.ip\.ttl/);
  assert.match(report.errors.join('\n'), /bad destination nonsense/);
  assert.ok(fresh.get('S')?.ifnets.has('uplink0'));
});

test('malformed documents are refused with the field named', () => {
  assert.throws(() => validateConfig(null), /JSON object/);
  assert.throws(() => validateConfig({ version: 9, images: [] }), /version 9/);
  assert.throws(() => validateConfig({ version: 1, images: {} }), /images: must be a list/);
  assert.throws(() => validateConfig({ version: 1, images: [{ name: 3 }] }), /images\[0\]\.name/);
});

test('loading a configuration moves a TAP interface that went home back into its image', () => {
  const reg = build();
  const doc = exportConfig(reg);
  reg.destroy('R');
  assert.ok([...reg.default.ifnets.values()].some((i) => i.kind === 'tap'));
  const report = applyConfig(reg, doc);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(exportConfig(reg).images.find((i) => i.name === 'R'), doc.images.find((i) => i.name === 'R'));
  assert.ok(![...reg.default.ifnets.values()].some((i) => i.kind === 'tap'));
});

test('a static ARP entry for an address the image later took is not saved, so restoring it does not fail', () => {
  const reg = build();
  const r = reg.image('R');
  inAddAddress(r, r.ifnet('tap0'), 0x0a000105, 24, { alias: true }); // 10.0.1.5, which arp -s pointed at a MAC
  const doc = exportConfig(reg);
  assert.deepEqual(doc.images.find((i) => i.name === 'R')!.arp, []);
  const fresh = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: opener([]) });
  assert.deepEqual(applyConfig(fresh, validateConfig(JSON.parse(JSON.stringify(doc)))).errors, []);
});

test('load --merge gives an address already there the prefix the file has', () => {
  const reg = build();
  const doc = exportConfig(reg);
  const tap = doc.images.find((i) => i.name === 'R')!.interfaces.find((i) => i.kind === 'tap')!;
  tap.addrs = ['10.0.1.1/25', '10.0.9.1/24'];
  const report = loadConfig(reg, checkLoadable(JSON.parse(JSON.stringify(doc))), true);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(
    reg.image('R').ifnet('tap0').addrs.map((a) => `${a.addr.toString(16)}/${a.prefixLen}`).sort(),
    ['a000101/25', 'a000901/24'],
  );
});
