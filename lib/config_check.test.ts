import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry } from './image.js';
import { fakeTapOpener } from './testing/fake_tap.js';
import { ConfigError, checkLoadable, exportConfig, loadConfig, validateConfig } from './config.js';
import { ip4ToString } from './wire/ipv4.js';

function registry(): Registry {
  return new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener([]) });
}

const minimal = {
  images: [
    {
      name: 'R',
      interfaces: [
        { name: 'tap0', kind: 'tap', hostif: 'hostA', inet: '10.0.1.1/24' },
        { name: 'epair0a', kind: 'epair', peer: { image: 'S', name: 'epair0b' }, addrs: ['10.0.2.1/24'] },
      ],
      routes: [{ dst: 'default', gateway: '10.0.1.2' }],
    },
    { name: 'S', interfaces: [{ name: 'epair0b', kind: 'epair', peer: { image: 'R', name: 'epair0a' }, inet: ['10.0.2.2/24'] }] },
  ],
};

test('a hand-written file with only what matters loads, everything else at its default', () => {
  const reg = registry();
  const r = loadConfig(reg, checkLoadable(minimal), false);
  assert.deepEqual(r.errors, []);
  const R = reg.image('R');
  const tap = R.ifnets.get('tap0')!;
  assert.equal(tap.mtu, 1500);
  assert.ok(tap.up, 'up because it has an address');
  assert.deepEqual(tap.addrs.map((a) => `${ip4ToString(a.addr)}/${a.prefixLen}`), ['10.0.1.1/24']);
  assert.equal(R.routes.get(0, 0)?.ifp, tap, 'the default route goes out of the interface whose network holds the gateway');
  assert.ok(reg.image('S').ifnets.get('epair0b')!.up);
});

test('a wrong file is refused with the path of the first bad value', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /JSON object/],
    [{ version: 9, images: [] }, /^version: unsupported configuration version 9/],
    [{ images: {} }, /^images: must be a list/],
    [{ images: [{ name: 3 }] }, /^images\[0\]\.name: must be a non-empty string/],
    [{ images: [{ name: 'A' }, { name: 'B', interfaces: [{ name: 'tap0', kind: 'tap', hostif: 'h', inet: '10.0.0.300/24' }] }] }, /^images\[1\]\.interfaces\[0\]\.inet: "10\.0\.0\.300\/24" is not an address/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'tap0', kind: 'tap', hostif: 'h', inet: '10.0.0.1' }] }] }, /^images\[0\]\.interfaces\[0\]\.inet: .*prefix length/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'tap0', kind: 'tap' }] }] }, /^images\[0\]\.interfaces\[0\]\.hostif: missing/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'gre0', kind: 'gre' }] }] }, /^images\[0\]\.interfaces\[0\]\.kind: 'gre' cannot be loaded/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'tap0', kind: 'tap', hostif: 'h', mtu: 10 }] }] }, /^images\[0\]\.interfaces\[0\]\.mtu: must be an integer between 72/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'tap0', kind: 'tap', hostif: 'h', adress: 'x' }] }] }, /^images\[0\]\.interfaces\[0\]\.adress: unknown key/],
    [{ images: [{ name: 'A' }, { name: 'A' }] }, /^images\[1\]\.name: image A appears twice/],
    [{ images: [{ name: 'A', sysctl: { 'net.inet.ip.ttl': 0 } }] }, /^images\[0\]\.sysctl\.net\.inet\.ip\.ttl: .*out of range/],
    [{ images: [{ name: 'A', sysctl: { 'net.nope': 1 } }] }, /^images\[0\]\.sysctl\.net\.nope: unknown oid/],
    [{ images: [{ name: 'A', routes: [{ dst: '10.9.0.0/16', gateway: '10.1.1.1' }] }] }, /^images\[0\]\.routes\[0\]\.gateway: 10\.1\.1\.1 is not on the network/],
    [{ images: [{ name: 'A', routes: [{ dst: '10.9.0.0/16', interface: 'tap9' }] }] }, /^images\[0\]\.routes\[0\]\.interface: tap9 is not an interface/],
    [{ images: [{ name: 'A', interfaces: [{ name: 'epair0a', kind: 'epair', peer: { image: 'B', name: 'epair0b' } }] }] }, /^images\[0\]\.interfaces\[0\]\.peer: image B of the other end is not in the file/],
    [{ images: [{ name: 'A', ipfw: { rules: ['100 frobnicate'] } }] }, /^images\[0\]\.ipfw\.rules\[0\]: /],
    [{ images: [{ name: 'A', ipfw: { rules: [], nat: ['1 if tap0 frob'] } }] }, /^images\[0\]\.ipfw\.nat\[0\]: unrecognised option/],
    [{ images: [{ name: 'A', cpu: { weight: 'abc' } }] }, /^images\[0\]\.cpu\.weight: must be an integer/],
  ];
  for (const [doc, re] of cases) {
    assert.throws(() => checkLoadable(doc), (e: unknown) => e instanceof ConfigError && re.test(e.message), `${JSON.stringify(doc)} should fail with ${re}`);
  }
});

test('load converges each named image to the file and leaves the others; --merge only adds', () => {
  const reg = registry();
  loadConfig(reg, checkLoadable(minimal), false);
  reg.create('other');
  const R = reg.image('R');
  reg.createEpair(R); // epair1a/b, not in the file
  R.sysctl.set('net.inet.ip.forwarding', '1');
  const changed = structuredClone(minimal);
  changed.images[0]!.interfaces[0]!.inet = '10.0.5.1/24';
  changed.images[0]!.routes = [{ dst: '10.8.0.0/16', gateway: '10.0.5.9' }];
  const merged = loadConfig(reg, checkLoadable(changed), true);
  assert.equal(merged.removed, 0);
  assert.ok(R.ifnets.has('epair1a'), '--merge removes nothing');
  assert.equal(R.ifnets.get('tap0')!.addrs.length, 2);
  const r = loadConfig(reg, checkLoadable(changed), false);
  assert.deepEqual(r.errors, []);
  assert.ok(r.removed >= 3, `removed ${r.removed}`);
  assert.deepEqual([...R.ifnets.keys()].sort(), ['epair0a', 'lo0', 'tap0']);
  assert.deepEqual(R.ifnets.get('tap0')!.addrs.map((a) => ip4ToString(a.addr)), ['10.0.5.1']);
  assert.equal(R.routes.get(0, 0), undefined, 'the default route the file no longer has is gone');
  assert.ok(R.routes.get(0x0a080000, 16) !== undefined);
  assert.equal(R.sysctl.list('net.inet.ip.forwarding')[0]!.value, 0, 'sysctls not in the file go back to their defaults');
  assert.ok(reg.get('other') !== undefined, 'images the file does not name are left alone');
});

test('a TAP bound in an image the file does not name refuses the file before anything changes', () => {
  const reg = registry();
  const x = reg.create('X');
  reg.createTap(x, 'hostA');
  const before = JSON.stringify(exportConfig(reg));
  assert.throws(() => loadConfig(reg, checkLoadable(minimal), false), /images\[0\]\.interfaces\[0\]\.hostif: hostA is bound to tap0 in image X/);
  assert.equal(JSON.stringify(exportConfig(reg)), before);
});

test('interface indexes survive a restart, gaps and all', () => {
  const reg = registry();
  const [a] = reg.createEpair(reg.default);
  reg.destroyIfnet(reg.default, a); // indexes 2 and 3 are gone for good
  const r = reg.create('R');
  const tap = reg.createTap(r, 'hostA');
  const [ea, eb] = reg.createEpair(r);
  reg.move(r, eb, reg.default, 'epair1b');
  const want = [r.lo0.index, tap.index, ea.index, eb.index];
  assert.deepEqual(want, [4, 5, 6, 7]);
  const fresh = registry();
  const rep = loadConfig(fresh, checkLoadable(JSON.parse(JSON.stringify(exportConfig(reg)))), true);
  assert.deepEqual(rep.errors, []);
  const R = fresh.image('R');
  assert.deepEqual([R.lo0.index, R.ifnets.get('tap0')!.index, R.ifnets.get(ea.name)!.index, fresh.default.ifnets.get('epair1b')!.index], want);
  const next = fresh.createEpair(fresh.default);
  assert.ok(next[0].index > 7, 'new interfaces are numbered above the restored ones');
});

test('the daemon\'s own state file is checked loosely: an unknown sysctl or kind is an item error at apply, not a refused state', () => {
  const doc = { version: 1, images: [{ name: 'A', interfaces: [{ name: 'gre0', kind: 'gre', mtu: 1500, up: false, mac: '02:00:00:00:00:01', addrs: [] }], sysctl: { 'net.gone': 1 }, future: 1 }] };
  const d = validateConfig(doc);
  const reg = registry();
  const r = loadConfig(reg, d, true);
  assert.equal(r.errors.length, 2, r.errors.join('\n'));
  assert.ok(reg.get('A') !== undefined);
  assert.throws(() => checkLoadable(doc), /images\[0\]\.future: unknown key/);
});
