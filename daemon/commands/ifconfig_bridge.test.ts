import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import { fakeTapOpener } from '../../lib/testing/fake_tap.js';
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
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: fakeTapOpener() });
  return { reg, im: reg.create('SW') };
}

test('ifconfig bridge create, addm, up, and the FreeBSD listing', async () => {
  const { reg, im } = setup();
  assert.equal(await ok(reg, im, 'ifconfig bridge create'), 'bridge0\n');
  assert.equal(await ok(reg, im, 'ifconfig tap create'), 'tap0\n');
  assert.equal((await ok(reg, im, 'ifconfig epair create')).trim(), 'epair0a');
  await ok(reg, im, 'ifconfig bridge0 addm tap0 addm epair0a up');
  const out = await ok(reg, im, 'ifconfig bridge0');
  const tap = im.ifnet('tap0');
  const ep = im.ifnet('epair0a');
  const lines = out.split('\n');
  assert.match(lines[0]!, /^bridge0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500$/);
  assert.match(lines[1]!, /^\tether 58:9c:fc:[0-9a-f:]{8}$/);
  // The link-local address every Ethernet interface gets when it comes up (issue 13).
  assert.match(lines[2]!, new RegExp(`^\\tinet6 fe80::[0-9a-f:]+%bridge0 prefixlen 64 tentative scopeid 0x${im.ifnet('bridge0').index.toString(16)}$`));
  assert.deepEqual(lines.slice(3), [
    '\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15',
    '\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200',
    '\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0',
    '\tmember: tap0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>',
    `\t        ifmaxaddr 0 port ${tap.index} priority 128 path cost 2000000`,
    '\tmember: epair0a flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>',
    `\t        ifmaxaddr 0 port ${ep.index} priority 128 path cost 2000`,
    '\tgroups: bridge',
    '\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>',
    '',
  ]);
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1008902<BROADCAST,PROMISC,SIMPLEX,MULTICAST,LOWER_UP>/);
  const j = JSON.parse((await run(reg, im, 'ifconfig bridge0', true)).out) as { interfaces: Array<{ bridge: { members: Array<{ name: string }>; maxaddr: number; addresses: number } }> };
  assert.deepEqual(j.interfaces[0]!.bridge.members.map((m) => m.name), ['tap0', 'epair0a']);
  assert.equal(j.interfaces[0]!.bridge.addresses, 0);
  await ok(reg, im, 'ifconfig bridge0 deletem epair0a maxaddr 100 timeout 60');
  assert.match(await ok(reg, im, 'ifconfig bridge0'), /maxaddr 100 timeout 60\n(?:.*\n){3}\tgroups: bridge/);
  const bad = await run(reg, im, 'ifconfig bridge0 stp tap0');
  assert.equal(bad.status, 64);
  assert.match(bad.err, /spanning tree .* not implemented/);
  const again = await run(reg, im, 'ifconfig bridge0 addm tap0');
  assert.notEqual(again.status, 0);
  assert.match(again.err, /already a member/);
});

test('ifconfig bridge0 addr prints the learned table as FreeBSD does', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig bridge create');
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig bridge0 addm tap0 up');
  await ok(reg, im, 'ifconfig tap0 up');
  const f = new Uint8Array(16 + 60);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x07, 0x88, 0xb5], 16);
  im.ifnet('tap0').input(f, 16, 60, im.noOffload);
  assert.equal(await ok(reg, im, 'ifconfig bridge0 addr'), '02:00:00:00:00:07 Vlan1 tap0 1200 flags=0<>\n');
  const j = JSON.parse((await run(reg, im, 'ifconfig bridge0 addr', true)).out) as { addresses: unknown[] };
  assert.deepEqual(j.addresses, [{ address: '02:00:00:00:00:07', vlan: 1, interface: 'tap0', expire: 1200, flags: 0 }]);
  await ok(reg, im, 'ifconfig bridge0 flush');
  assert.equal(await ok(reg, im, 'ifconfig bridge0 addr'), '');
});

test('ifconfig vlan create vlan 10 vlandev tap0, tap0.10 create, -vlandev', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig tap create');
  assert.equal(await ok(reg, im, 'ifconfig vlan create vlan 10 vlandev tap0'), 'vlan0\n');
  await ok(reg, im, 'ifconfig vlan0 inet 10.0.10.1/24 up');
  const out = await ok(reg, im, 'ifconfig vlan0');
  const tapMac = /ether (\S+)/.exec(await ok(reg, im, 'ifconfig tap0'))![1];
  assert.equal(
    out,
    'vlan0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n' +
      `\tether ${tapMac}\n` +
      '\tinet 10.0.10.1 netmask 0xffffff00 broadcast 10.0.10.255\n' +
      `\tinet6 ${linkLocal(tapMac!)}%vlan0 prefixlen 64 tentative scopeid 0x${im.ifnet('vlan0').index.toString(16)}\n` +
      '\tgroups: vlan\n' +
      '\tvlan: 10 vlanproto: 802.1q vlanpcp: 0 parent interface: tap0\n' +
      '\tmedia: Ethernet 1000baseT <full-duplex>\n' +
      '\tstatus: active\n' +
      '\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n',
  );
  assert.equal(await ok(reg, im, 'ifconfig tap0.20 create'), '');
  assert.match(await ok(reg, im, 'ifconfig tap0.20'), /vlan: 20 vlanproto: 802.1q vlanpcp: 0 parent interface: tap0/);
  const dup = await run(reg, im, 'ifconfig vlan create vlan 10 vlandev tap0');
  assert.notEqual(dup.status, 0);
  assert.match(dup.err, /already vlan0/);
  assert.deepEqual(im.ifnets.has('vlan1'), false, 'a refused create leaves nothing behind');
  await ok(reg, im, 'ifconfig vlan0 -vlandev tap0 mtu 1400');
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /mtu 1400/);
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /parent interface: <none>/);
  await ok(reg, im, 'ifconfig vlan0 vlan 30 vlandev tap0');
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /vlan: 30 .* parent interface: tap0/);
  await ok(reg, im, 'ifconfig tap0 destroy');
  assert.match(await ok(reg, im, 'ifconfig tap0.20'), /parent interface: <none>/);
});

test('ifconfig IF.TAG create takes any Ethernet parent name, epair ends included, as FreeBSD does', async () => {
  const { reg, im } = setup();
  assert.equal((await ok(reg, im, 'ifconfig epair create')).trim(), 'epair0a');
  assert.equal(await ok(reg, im, 'ifconfig epair0a.10 create'), '', 'the name asked for: nothing printed');
  assert.match(await ok(reg, im, 'ifconfig epair0a.10'), /vlan: 10 vlanproto: 802\.1q vlanpcp: 0 parent interface: epair0a/);
});

/** The modified EUI-64 link-local address of MAC `mac` (RFC 4291 appendix A), as ifconfig prints it. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const g = [(b[0]! ^ 2) * 256 + b[1]!, b[2]! * 256 + 0xff, 0xfe00 + b[3]!, b[4]! * 256 + b[5]!];
  return `fe80::${g.map((x) => x.toString(16)).join(':')}`;
}
