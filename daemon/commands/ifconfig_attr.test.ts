import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import type { TapOpener, TapPort } from '../../lib/net/if_tap.js';
import { commands } from './ifconfig.js';
import { commandHandles } from '../../lib/control/index.js';
import { applyConfig, exportConfig, validateConfig } from '../../lib/config.js';
import { runOnce } from './tools_harness.js';

/** A TAP opener whose ports record the frames written to them. */
function recordingTaps(sent: Uint8Array[]): TapOpener {
  return (req) => {
    const port: TapPort = {
      name: req.name,
      vnetHdrLen: 0,
      slotSize: 2048,
      rx: new Uint8Array(2048),
      rxLen: new Int32Array(1),
      start() {},
      stop() {},
      pause() {},
      hostDrops: () => -1,
      write: (b, o, len) => {
        sent.push(Uint8Array.from(b.subarray(o, o + len)));
        return len;
      },
      setPersist() {},
      close() {},
    };
    return port;
  };
}

function run(reg: Registry, im: Image, argv: string | string[], json = false): Promise<{ status: number; out: string; err: string }> {
  return runOnce(reg, im, commands['ifconfig']!, typeof argv === 'string' ? argv.split(' ') : argv, json);
}

async function ok(reg: Registry, im: Image, argv: string | string[]): Promise<string> {
  const r = await run(reg, im, argv);
  assert.equal(r.err, '', `${String(argv)}: ${r.err}`);
  assert.equal(r.status, 0, String(argv));
  return r.out;
}

function setup(sent: Uint8Array[] = []): { reg: Registry; im: Image } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: recordingTaps(sent) });
  return { reg, im: reg.create('A') };
}

test('setting an address brings an Ethernet interface (and a loopback) up, even after down', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig tap0 inet 10.0.0.1/24');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /^tap0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP>/);
  await ok(reg, im, 'ifconfig tap0 down');
  await ok(reg, im, 'ifconfig tap0 inet 10.0.0.2/24 alias down');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1008843<UP,/);
  await ok(reg, im, 'ifconfig epair create');
  await ok(reg, im, 'ifconfig epair0a inet6 2001:db8::1/64');
  assert.match(await ok(reg, im, 'ifconfig epair0a'), /flags=1008843<UP,/);
  // Removing an address does not.
  await ok(reg, im, 'ifconfig tap0 down');
  await ok(reg, im, 'ifconfig tap0 10.0.0.2 -alias');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1008842<BROADCAST,RUNNING,/);
});

test('ether/lladdr/link change the MAC; an up interface with addresses sends a gratuitous ARP', async () => {
  const sent: Uint8Array[] = [];
  const { reg, im } = setup(sent);
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig tap0 lladdr 02:00:00:00:00:01'); // down, no address: nothing sent
  assert.equal(sent.length, 0);
  await ok(reg, im, 'ifconfig tap0 inet 10.0.0.1/24');
  sent.length = 0;
  await ok(reg, im, 'ifconfig tap0 ether 02:aa:bb:cc:dd:ee');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /\tether 02:aa:bb:cc:dd:ee\n/);
  assert.equal(sent.length, 1);
  const f = sent[0]!;
  assert.deepEqual([...f.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...f.subarray(6, 12)], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
  assert.deepEqual([...f.subarray(12, 14)], [0x08, 0x06]);
  // ARP sender hardware address is the new MAC, sender and target IP ours.
  assert.deepEqual([...f.subarray(22, 28)], [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
  assert.deepEqual([...f.subarray(28, 32)], [10, 0, 0, 1]);
  assert.deepEqual([...f.subarray(38, 42)], [10, 0, 0, 1]);
  // The same address again: no change, nothing sent.
  sent.length = 0;
  await ok(reg, im, 'ifconfig tap0 link 02:aa:bb:cc:dd:ee');
  assert.equal(sent.length, 0);
  // `ifconfig IF ether` prints the link level only.
  assert.equal(await ok(reg, im, 'ifconfig tap0 ether'), 'tap0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n\tether 02:aa:bb:cc:dd:ee\n\tmedia: Ethernet 1000baseT <full-duplex>\n\tstatus: active\n');
  const bad = await run(reg, im, 'ifconfig tap0 ether 01:00:5e:00:00:01');
  assert.equal(bad.status, 64);
  assert.match(bad.err, /multicast/);
  const lo = await run(reg, im, 'ifconfig lo0 lladdr 02:00:00:00:00:09');
  assert.equal(lo.status, 1);
  assert.match(lo.err, /no link-level address/);
});

test('a VLAN follows its parent to the new MAC', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig tap0.10 create');
  await ok(reg, im, 'ifconfig tap0 ether 02:00:00:00:10:01');
  assert.match(await ok(reg, im, 'ifconfig tap0.10'), /\tether 02:00:00:00:10:01\n/);
});

test('ifconfig lo create makes lo1, lo2; loN destroy; lo0 stays', async () => {
  const { reg, im } = setup();
  assert.equal(await ok(reg, im, 'ifconfig lo create'), 'lo1\n');
  assert.equal(await ok(reg, im, 'ifconfig lo create'), 'lo2\n');
  assert.equal(await ok(reg, im, 'ifconfig lo7 create'), '');
  assert.equal(await ok(reg, im, 'ifconfig lo1'), 'lo1: flags=1008008<LOOPBACK,MULTICAST,LOWER_UP> metric 0 mtu 16384\n\tgroups: lo\n\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n');
  await ok(reg, im, 'ifconfig lo1 inet 127.0.0.2/32');
  const s = await ok(reg, im, 'ifconfig lo1');
  assert.match(s, /^lo1: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384\n\tinet 127\.0\.0\.2 netmask 0xffffffff\n/);
  // Its address has a host route on lo1 itself (FreeBSD's "127.0.0.2 link#N UH lo1").
  const routes = () => commandHandles(im, reg).image.routes.list().filter((x) => x.dst === 0x7f000002);
  assert.deepEqual(routes().map((x) => [x.prefixLen, x.interface]), [[32, 'lo1']]);
  const dup = await run(reg, im, 'ifconfig lo2 create');
  assert.equal(dup.status, 1);
  await ok(reg, im, 'ifconfig lo2 destroy');
  await ok(reg, im, 'ifconfig lo1 127.0.0.2 -alias');
  assert.deepEqual(routes(), []);
  assert.equal(im.ifnets.has('lo2'), false);
  const r = await run(reg, im, 'ifconfig lo0 destroy');
  assert.equal(r.status, 1);
  assert.match(r.err, /lo0 cannot be destroyed/);
  // Destroying the image destroys its cloned loopbacks (they do not go to the default image).
  reg.destroy('A');
  assert.equal(reg.default.ifnets.has('lo1'), false);
  assert.equal(reg.default.ifnets.has('lo7'), false);
});

test('description, descr, -description: the line FreeBSD 14 prints after the flags', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig epair create');
  await ok(reg, im, ['ifconfig', 'epair0a', 'description', 'uplink to ISP 1']);
  assert.match(await ok(reg, im, 'ifconfig epair0a'), /^epair0a: flags=\S+ metric 0 mtu 1500\n\tdescription: uplink to ISP 1\n\tether /);
  const j = await run(reg, im, 'ifconfig epair0a', true);
  assert.equal(JSON.parse(j.out).interfaces[0].description, 'uplink to ISP 1');
  await ok(reg, im, 'ifconfig epair0a descr lan');
  assert.match(await ok(reg, im, 'ifconfig epair0a'), /\tdescription: lan\n/);
  await ok(reg, im, 'ifconfig epair0a -description');
  assert.doesNotMatch(await ok(reg, im, 'ifconfig epair0a'), /description/);
  await ok(reg, im, ['ifconfig', 'epair0a', 'descr', 'x']);
  await ok(reg, im, ['ifconfig', 'epair0a', 'description', '']);
  assert.doesNotMatch(await ok(reg, im, 'ifconfig epair0a'), /description/);
  const r = await run(reg, im, 'ifconfig epair0a description');
  assert.equal(r.status, 64);
  const long = await run(reg, im, ['ifconfig', 'epair0a', 'description', 'x'.repeat(1024), 'mtu', '1400']);
  assert.equal(long.status, 1);
  assert.match(long.err, /Name too long/);
  assert.match(await ok(reg, im, 'ifconfig epair0a'), /mtu 1500/); // refused before anything changed
});

test('group, -group, the groups line and ifconfig -g', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig epair create');
  await ok(reg, im, 'ifconfig bridge create');
  await ok(reg, im, 'ifconfig epair0a group lan');
  await ok(reg, im, 'ifconfig epair0a group lan'); // already in it: no error, as ifconfig ignores EEXIST
  await ok(reg, im, 'ifconfig bridge0 group lan group core');
  assert.match(await ok(reg, im, 'ifconfig epair0a'), /\tgroups: epair lan\n/);
  assert.match(await ok(reg, im, 'ifconfig bridge0'), /\tgroups: bridge lan core\n/);
  assert.match(await ok(reg, im, 'ifconfig lo0'), /\tgroups: lo\n/);
  assert.equal(await ok(reg, im, 'ifconfig -g lan'), 'epair0a\nbridge0\n');
  assert.equal(await ok(reg, im, 'ifconfig -g epair'), 'epair0a\nepair0b\n');
  assert.equal(await ok(reg, im, 'ifconfig -g nosuch'), '');
  assert.equal(await ok(reg, im, 'ifconfig -l -g lan'), 'epair0a bridge0\n');
  assert.equal(await ok(reg, im, 'ifconfig -l -G lan'), 'lo0 epair0b\n');
  assert.match(await ok(reg, im, 'ifconfig -a -glan'), /^epair0a: [^]*\nbridge0: /);
  const j = await run(reg, im, 'ifconfig -g lan', true);
  assert.deepEqual(JSON.parse(j.out), { group: 'lan', members: ['epair0a', 'bridge0'] });
  await ok(reg, im, 'ifconfig epair0a -group lan');
  await ok(reg, im, 'ifconfig epair0a -group lan'); // not in it: no error (ENOENT ignored)
  assert.equal(await ok(reg, im, 'ifconfig -g lan'), 'bridge0\n');
  await ok(reg, im, 'ifconfig epair0b -group epair');
  assert.doesNotMatch(await ok(reg, im, 'ifconfig epair0b'), /groups:/);
  const d = await run(reg, im, 'ifconfig epair0a group lan1');
  assert.equal(d.status, 1);
  assert.match(d.err, /setifgroup: group names may not end in a digit/);
  const l = await run(reg, im, 'ifconfig epair0a group abcdefghijklmnop');
  assert.match(l.err, /setifgroup: group name too long/);
  const u = await run(reg, im, 'ifconfig epair0a -group x9');
  assert.match(u.err, /unsetifgroup: group names may not end in a digit/);
  const g = await run(reg, im, 'ifconfig -g');
  assert.equal(g.status, 64);
});

test('promisc sets PROMISC and PPROMISC; a frame for another MAC is seen by a capture but goes no further', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig tap0 inet 10.0.0.1/24 promisc');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /^tap0: flags=1028943<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST,PPROMISC,LOWER_UP>/);
  const ifp = im.ifnets.get('tap0')!;
  const cap = commandHandles(im, reg).image.interfaces.capture('tap0', { program: null, snaplen: 2048 });
  // An ARP request for our address, sent to another station's MAC.
  const f = new Uint8Array(42);
  f.set([0x02, 0, 0, 0, 0, 0x99], 0);
  f.set([0x02, 0, 0, 0, 0, 0x42], 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x42, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1], 12);
  const before = im.etherstat.notours;
  const arpIn = im.arpstat.received;
  ifp.input(f, 0, f.length, im.noOffload);
  assert.equal(cap.accepted, 1, 'the capture sees the frame');
  assert.equal(im.etherstat.notours, before + 1, 'ether input drops it');
  assert.equal(im.arpstat.received, arpIn);
  cap.close();
  await ok(reg, im, 'ifconfig tap0 -promisc');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /^tap0: flags=1008843</);
  // A bridge member keeps PROMISC after -promisc until it leaves the bridge.
  await ok(reg, im, 'ifconfig bridge create');
  await ok(reg, im, 'ifconfig tap0 promisc');
  await ok(reg, im, 'ifconfig bridge0 addm tap0');
  await ok(reg, im, 'ifconfig tap0 -promisc');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1008943</);
  await ok(reg, im, 'ifconfig bridge0 deletem tap0');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1008843</);
  await ok(reg, im, 'ifconfig bridge0 addm tap0');
  await ok(reg, im, 'ifconfig tap0 promisc');
  await ok(reg, im, 'ifconfig bridge0 deletem tap0');
  assert.match(await ok(reg, im, 'ifconfig tap0'), /flags=1028943</);
});

test('vlanpcp and pcp set the tag priority of a vlan; FreeBSD messages for bad values', async () => {
  const sent: Uint8Array[] = [];
  const { reg, im } = setup(sent);
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, 'ifconfig tap0 up');
  await ok(reg, im, 'ifconfig vlan create vlan 10 vlandev tap0 vlanpcp 5');
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /\tvlan: 10 vlanproto: 802\.1q vlanpcp: 5 parent interface: tap0\n/);
  await ok(reg, im, 'ifconfig vlan0 inet 10.1.0.1/24');
  sent.length = 0;
  await ok(reg, im, 'ifconfig vlan0 pcp 0x3');
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /vlanpcp: 3 /);
  // A gratuitous ARP from the vlan: tagged, PCP 3, VID 10.
  await ok(reg, im, 'ifconfig vlan0 inet 10.1.0.2/24 alias');
  const tagged = sent.find((f) => f[12] === 0x81 && f[13] === 0x00)!;
  assert.ok(tagged !== undefined);
  assert.equal(tagged[14]! >> 5, 3);
  assert.equal(((tagged[14]! & 0x0f) << 8) | tagged[15]!, 10);
  const j = await run(reg, im, 'ifconfig vlan0', true);
  assert.equal(JSON.parse(j.out).interfaces[0].vlan.vlanpcp, 3);
  const r1 = await run(reg, im, 'ifconfig vlan0 vlanpcp 8');
  assert.equal(r1.err, 'ifconfig: value for vlanpcp out of range\n');
  const r2 = await run(reg, im, 'ifconfig vlan0 vlanpcp 2x');
  assert.equal(r2.err, 'ifconfig: invalid value for vlanpcp\n');
  const r3 = await run(reg, im, 'ifconfig tap0 vlanpcp 2');
  assert.equal(r3.status, 1);
  assert.match(r3.err, /SIOCSVLANPCP\): Invalid argument/);
  const r4 = await run(reg, im, 'ifconfig tap0 pcp 2');
  assert.equal(r4.status, 1);
  assert.match(r4.err, /pcp: tap0 is not a vlan interface/);
  await ok(reg, im, 'ifconfig vlan0 -pcp');
  assert.match(await ok(reg, im, 'ifconfig vlan0'), /vlanpcp: 0 /);
});

test('description, groups, promisc, vlanpcp and cloned loopbacks are saved and restored', async () => {
  const { reg, im } = setup();
  await ok(reg, im, 'ifconfig tap create');
  await ok(reg, im, ['ifconfig', 'tap0', 'description', 'to host H', 'group lan'.split(' ')[0]!, 'lan', 'promisc', 'ether', '02:00:00:00:00:77']);
  await ok(reg, im, 'ifconfig vlan create vlan 20 vlandev tap0 vlanpcp 6');
  await ok(reg, im, 'ifconfig lo create');
  await ok(reg, im, 'ifconfig lo1 inet 127.0.0.9/32');
  await ok(reg, im, 'ifconfig lo0 descr loopback group core');
  const doc = validateConfig(JSON.parse(JSON.stringify(exportConfig(reg))));
  const a = doc.images.find((i) => i.name === 'A')!;
  const tap = a.interfaces.find((i) => i.name === 'tap0')!;
  assert.equal(tap.description, 'to host H');
  assert.deepEqual(tap.groups, ['tap', 'lan']);
  assert.equal(tap.promisc, true);
  assert.equal(a.interfaces.find((i) => i.name === 'vlan0')!.vlanpcp, 6);
  assert.deepEqual(a['lo0'], { description: 'loopback', groups: ['lo', 'core'] });

  const reg2 = new Registry({ platform: new ManualPlatform(), log: silentLogger, openTap: recordingTaps([]) });
  const rep = applyConfig(reg2, doc);
  assert.deepEqual(rep.errors, []);
  const im2 = reg2.get('A')!;
  const t = await ok(reg2, im2, 'ifconfig tap0');
  assert.match(t, /^tap0: flags=1028902<BROADCAST,PROMISC,SIMPLEX,MULTICAST,PPROMISC,LOWER_UP> metric 0 mtu 1500\n\tdescription: to host H\n\tether 02:00:00:00:00:77\n/);
  assert.match(t, /\tgroups: tap lan\n/);
  assert.match(await ok(reg2, im2, 'ifconfig vlan0'), /vlanpcp: 6 parent interface: tap0/);
  assert.match(await ok(reg2, im2, 'ifconfig lo1'), /^lo1: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP>[^]*\tinet 127\.0\.0\.9 netmask 0xffffffff\n/);
  assert.match(await ok(reg2, im2, 'ifconfig lo0'), /\tdescription: loopback\n[^]*\tgroups: lo core\n/);
  // A document with a bad attribute is refused whole.
  assert.throws(() => validateConfig({ images: [{ name: 'B', interfaces: [{ name: 'epair0a', kind: 'epair', peer: { image: 'B', name: 'epair0b' }, groups: ['x1'] }, { name: 'epair0b', kind: 'epair', peer: { image: 'B', name: 'epair0a' } }] }] }), /groups/);
  assert.throws(() => validateConfig({ images: [{ name: 'B', interfaces: [{ name: 'bridge0', kind: 'bridge', vlanpcp: 3 }] }] }), /vlanpcp/);
});
