import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import type { CommandContext } from '../command.js';
import { commands } from './ifconfig.js';
import { commandHandles } from '../../lib/control/index.js';

const noInput: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

async function run(reg: Registry, im: Image, line: string, json = false): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CommandContext = {
    argv: line.split(' '),
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: noInput,
    signal: new AbortController().signal,
    json,
    pid: 1,
  };
  const status = await commands['ifconfig']!(ctx);
  return { status, out, err };
}

async function ok(reg: Registry, im: Image, line: string): Promise<string> {
  const r = await run(reg, im, line);
  assert.equal(r.err, '', `${line}: ${r.err}`);
  assert.equal(r.status, 0, line);
  return r.out;
}

function setup(): { reg: Registry; im: Image } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const im = reg.create('R');
  return { reg, im };
}

test('ifconfig vxlan create prints the name; the status shows FreeBSD\'s vxlan line and MTU 1450; -v adds config and ftable', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig epair create');
  await ok(reg, im, 'ifconfig epair0a 10.0.0.1/24 up');
  assert.equal(await ok(reg, im, 'ifconfig vxlan create vxlanid 42 vxlanlocal 10.0.0.1 vxlanremote 10.0.0.2 vxlandev epair0a vxlanport 4789'), 'vxlan0\n');
  await ok(reg, im, 'ifconfig vxlan0 inet 10.42.0.1/24 up');
  const s = await ok(reg, im, 'ifconfig vxlan0');
  assert.match(s, /^vxlan0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1450\n/);
  assert.match(s, /\tgroups: vxlan\n\tvxlan vni 42 local 10\.0\.0\.1:4789 remote 10\.0\.0\.2:4789\n\tmedia: Ethernet autoselect \(autoselect <full-duplex>\)\n\tstatus: active\n/);
  const v = await ok(reg, im, 'ifconfig -v vxlan0');
  assert.match(v, /\tvxlan vni 42 local 10\.0\.0\.1:4789 remote 10\.0\.0\.2:4789\n\t\tconfig: learning portrange 49152-65535 ttl 64\n\t\tftable: cnt 0 max 2000 timeout 1200\n/);
  const j = JSON.parse((await run(reg, im, 'ifconfig vxlan0', true)).out) as { interfaces: Array<{ vxlan: Record<string, unknown> }> };
  assert.deepEqual(j.interfaces[0]!.vxlan, { vni: 42, local: '10.0.0.1', localPort: 4789, remote: '10.0.0.2', remotePort: 4789, portMin: 49152, portMax: 65535, ttl: 64, learn: true, dev: 'epair0a', ftable: { count: 0, max: 2000, timeout: 1200 } });
  // Parameters that may change while running, and those that may not.
  await ok(reg, im, 'ifconfig vxlan0 vxlanttl 10 -vxlanlearn vxlantimeout 30 vxlanmaxaddr 50 vxlanflush');
  assert.match(await ok(reg, im, 'ifconfig -v vxlan0'), /config: nolearning portrange 49152-65535 ttl 10\n\t\tftable: cnt 0 max 50 timeout 30/);
  const busy = await run(reg, im, 'ifconfig vxlan0 vxlanid 43');
  assert.notEqual(busy.status, 0);
  assert.match(busy.err, /cannot change while the interface is running; 'ifconfig vxlan0 down' first/);
  await ok(reg, im, 'ifconfig vxlan0 down vxlanid 43 vxlanremote 10.0.0.3 up');
  assert.match(await ok(reg, im, 'ifconfig vxlan0'), /vxlan vni 43 local 10\.0\.0\.1:4789 remote 10\.0\.0\.3:4789/);
  await ok(reg, im, 'ifconfig vxlan0 destroy');
  assert.equal((await run(reg, im, 'ifconfig vxlan0')).status !== 0, true);
});

test('ifconfig refuses multicast groups, IPv6 end points and bad values with clear messages', async () => {
  const { reg, im } = setup();
  const g = await run(reg, im, 'ifconfig vxlan create vxlanid 1 vxlangroup 239.0.0.1');
  assert.notEqual(g.status, 0);
  assert.match(g.err, /multicast groups are not supported/);
  assert.match((await run(reg, im, 'ifconfig vxlan create vxlanid 1 vxlanremote 239.0.0.1')).err, /multicast/);
  assert.match((await run(reg, im, 'ifconfig vxlan create vxlanid 1 vxlanremote 2001:db8::1')).err, /IPv6 end points are not supported/);
  assert.match((await run(reg, im, 'ifconfig vxlan create vxlanid 16777216')).err, /vxlanid 16777216: give 0 to 16777215/);
  assert.match((await run(reg, im, 'ifconfig vxlan create vxlanid x')).err, /vxlanid: give a VNI/);
  assert.equal(im.ifnets.size, 1, 'nothing was made');
  // Without a VNI the status has no vxlan line (FreeBSD prints none) and the interface does not run.
  assert.equal(await ok(reg, im, 'ifconfig vxlan create'), 'vxlan0\n');
  await ok(reg, im, 'ifconfig vxlan0 up');
  const s = await ok(reg, im, 'ifconfig vxlan0');
  assert.doesNotMatch(s, /vxlan vni/);
  assert.doesNotMatch(s, /RUNNING/);
  assert.match(s, /status: no carrier/);
  await ok(reg, im, 'ifconfig vxlan0 vxlanid 7 vxlanremote 10.9.9.9');
  assert.match(await ok(reg, im, 'ifconfig vxlan0'), /RUNNING.*\n[^]*vxlan vni 7 local 0\.0\.0\.0:4789 remote 10\.9\.9\.9:4789/);
});
