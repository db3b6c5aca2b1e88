import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import { applyConfig, checkLoadable, exportConfig, validateConfig } from '../../lib/config.js';
import { commands } from './ifconfig.js';
import { runOnce } from './tools_harness.js';

function run(reg: Registry, im: Image, line: string, json = false): Promise<{ status: number; out: string; err: string }> {
  return runOnce(reg, im, commands['ifconfig']!, line.split(' '), json);
}

async function ok(reg: Registry, im: Image, line: string): Promise<string> {
  const r = await run(reg, im, line);
  assert.equal(r.err, '', `${line}: ${r.err}`);
  assert.equal(r.status, 0, line);
  return r.out;
}

async function setup(): Promise<{ reg: Registry; im: Image }> {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const im = reg.create('R');
  await ok(reg, im, 'ifconfig epair create');
  await ok(reg, im, 'ifconfig epair0a 10.0.0.1/24 up');
  return { reg, im };
}

test("ifconfig gif create / tunnel / inet A B: FreeBSD 14's status lines, --json, deletetunnel, destroy", async () => {
  const { reg, im } = await setup();
  assert.equal(await ok(reg, im, 'ifconfig gif create'), 'gif0\n');
  assert.equal(await ok(reg, im, 'ifconfig gif0'), 'gif0: flags=8010<POINTOPOINT,MULTICAST> metric 0 mtu 1280\n\toptions=80000<LINKSTATE>\n\tgroups: gif\n' + (await ok(reg, im, 'ifconfig gif0')).split('\tgroups: gif\n')[1]);
  await ok(reg, im, 'ifconfig gif0 tunnel 10.0.0.1 10.0.0.2');
  await ok(reg, im, 'ifconfig gif0 inet 10.9.0.1 10.9.0.2 up');
  const s = await ok(reg, im, 'ifconfig gif0');
  assert.match(
    s,
    /^gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280\n\toptions=80000<LINKSTATE>\n\ttunnel inet 10\.0\.0\.1 --> 10\.0\.0\.2\n\tinet 10\.9\.0\.1 --> 10\.9\.0\.2 netmask 0xff000000\n(\tinet6 .*\n)*\tgroups: gif\n\tnd6 options=\w+<[A-Z_,]*>\n$/,
  );
  assert.ok(!s.includes('ether'), 'no link-level address');
  const j = JSON.parse((await run(reg, im, 'ifconfig gif0', true)).out) as { interfaces: Array<{ gif: unknown; inet: unknown }> };
  assert.deepEqual(j.interfaces[0]!.gif, { tunnel: { family: 'inet', src: '10.0.0.1', dst: '10.0.0.2' } });
  assert.deepEqual(j.interfaces[0]!.inet, [{ address: '10.9.0.1', prefixLen: 8, netmask: '255.0.0.0', destination: '10.9.0.2' }]);
  // The host route to the other end goes through gif0.
  const rt = im.routes.lookup((10 << 24) | (9 << 16) | 2)!;
  assert.equal(rt.ifp.name, 'gif0');
  assert.equal(rt.prefixLen, 32);
  // inet6 tunnel end points; then deletetunnel.
  await ok(reg, im, 'ifconfig gif0 tunnel fd00::1 fd00::2');
  assert.match(await ok(reg, im, 'ifconfig gif0'), /\n\ttunnel inet6 fd00::1 --> fd00::2\n/);
  await ok(reg, im, 'ifconfig gif0 deletetunnel');
  const d = await ok(reg, im, 'ifconfig gif0');
  assert.match(d, /^gif0: flags=8011<UP,POINTOPOINT,MULTICAST> metric 0 mtu 1280\n/);
  assert.ok(!d.includes('tunnel'));
  // Refusals.
  const bad = await run(reg, im, 'ifconfig gif0 tunnel 10.0.0.1');
  assert.equal(bad.status, 64);
  assert.match(bad.err, /tunnel: give the source and destination/);
  const fam = await run(reg, im, 'ifconfig gif0 tunnel 10.0.0.1 fd00::2');
  assert.notEqual(fam.status, 0);
  assert.match(fam.err, /same address family/);
  const p2p = await run(reg, im, 'ifconfig epair0a inet 10.1.0.1 10.1.0.2');
  assert.notEqual(p2p.status, 0);
  assert.match(p2p.err, /needs a point-to-point interface/);
  const mtu = await run(reg, im, 'ifconfig gif0 mtu 1000');
  assert.match(mtu.err, /between 1280 and 8192/);
  await ok(reg, im, 'ifconfig gif0 mtu 1400');
  assert.equal(await ok(reg, im, 'ifconfig gif7 create'), '');
  assert.ok(im.ifnets.has('gif7'));
  await ok(reg, im, 'ifconfig gif7 destroy');
  assert.ok(!im.ifnets.has('gif7'));
});

test('a gif is saved and restored: tunnel, point-to-point address, MTU, up', async () => {
  const { reg, im } = await setup();
  await ok(reg, im, 'ifconfig gif create');
  await ok(reg, im, 'ifconfig gif0 tunnel 10.0.0.1 10.0.0.2');
  await ok(reg, im, 'ifconfig gif0 inet 10.9.0.1 10.9.0.2 netmask 255.255.255.255 up');
  await ok(reg, im, 'ifconfig gif0 inet6 fd09::1 prefixlen 128');
  await ok(reg, im, 'ifconfig gif0 mtu 1400');
  const doc = exportConfig(reg);
  const g = doc.images.find((i) => i.name === 'R')!.interfaces.find((f) => f.kind === 'gif')!;
  assert.deepEqual(g.gif, { tunnel: { src: '10.0.0.1', dst: '10.0.0.2' }, peers: { '10.9.0.1': '10.9.0.2' } });
  const reg2 = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const rep = applyConfig(reg2, validateConfig(JSON.parse(JSON.stringify(doc))));
  assert.deepEqual(rep.errors, []);
  assert.deepEqual(exportConfig(reg2), doc);
  const im2 = reg2.get('R')!;
  assert.equal(
    (await ok(reg2, im2, 'ifconfig gif0')).split('\n').slice(0, 4).join('\n'),
    'gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1400\n\toptions=80000<LINKSTATE>\n\ttunnel inet 10.0.0.1 --> 10.0.0.2\n\tinet 10.9.0.1 --> 10.9.0.2 netmask 0xffffffff',
  );
  // A hand-written file is checked.
  assert.throws(() => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'gif0', kind: 'gif', gif: { tunnel: { src: '10.0.0.1', dst: 'x' } } }] }] }), /gif\.tunnel/);
  assert.throws(() => checkLoadable({ images: [{ name: 'A', interfaces: [{ name: 'gif0', kind: 'gif', gif: { bogus: 1 } }] }] }), /gif\.bogus/);
});
