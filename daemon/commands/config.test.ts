import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManualClock } from '../../lib/clock.js';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import type { TapOpener } from '../../lib/net/if_tap.js';
import { fakeTapOpener } from '../../lib/testing/fake_tap.js';
import { allocPacket, buildIpHeader, ipOutputLocal } from '../../lib/netinet/ip_output.js';
import { internetChecksum } from '../../lib/wire/checksum.js';
import { parseIp4 } from '../../lib/wire/ipv4.js';
import type { Command, CommandContext } from '../command.js';
import { commands as ifconfigCommands } from './ifconfig.js';
import { commands as routeCommands } from './route.js';
import { commands as netstatCommands } from './netstat.js';
import { commands as arpCommands } from './arp.js';
import { commands as sysctlCommands } from './sysctl.js';
import { commandHandles } from '../../lib/control/index.js';

const COMMANDS: Record<string, Command> = { ...ifconfigCommands, ...routeCommands, ...netstatCommands, ...arpCommands, ...sysctlCommands };

interface Result {
  status: number;
  out: string;
  err: string;
}

const noInput: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

async function run(reg: Registry, im: Image, argv: string[], json = false): Promise<Result> {
  const cmd = COMMANDS[argv[0]!];
  assert.ok(cmd !== undefined, `no command ${argv[0]}`);
  let out = '';
  let err = '';
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: noInput,
    signal: new AbortController().signal,
    json,
    pid: 1,
  };
  const status = await cmd(ctx);
  return { status, out, err };
}

/** Run and require success with no error output; returns stdout. */
async function ok(reg: Registry, im: Image, line: string): Promise<string> {
  const r = await run(reg, im, line.split(' '));
  assert.equal(r.err, '', `${line}: ${r.err}`);
  assert.equal(r.status, 0, line);
  return r.out;
}

function fakeTap(): { opener: TapOpener; opened: string[] } {
  const opened: string[] = [];
  return { opener: fakeTapOpener(opened), opened };
}

/**
 * R and A joined by epair0 (epair0a in R, epair0b moved to A), configured
 * through the commands themselves: 10.1.0.1/24 on R, 10.1.0.2/24 on A,
 * A's default route via R.
 */
async function lab(): Promise<{ reg: Registry; clock: ManualClock; r: Image; a: Image; opened: string[] }> {
  const platform = new ManualPlatform({ random: () => 0.5 });
  const clock = platform.clock;
  const { opener, opened } = fakeTap();
  const reg = new Registry({ platform, log: silentLogger, openTap: opener });
  const r = reg.create('R');
  const a = reg.create('A');
  assert.equal(await ok(reg, r, 'ifconfig epair create'), 'epair0a\n');
  assert.equal(await ok(reg, r, 'ifconfig epair0b vnet A'), '');
  assert.equal(await ok(reg, r, 'ifconfig epair0a inet 10.1.0.1/24 up'), '');
  assert.equal(await ok(reg, a, 'ifconfig epair0b 10.1.0.2/24 up'), '');
  assert.equal(await ok(reg, a, 'route add default 10.1.0.1'), 'add net default: gateway 10.1.0.1\n');
  reg.netisr.drain();
  return { reg, clock, r, a, opened };
}

const ip = (s: string): number => parseIp4(s)!;

/** An ICMP echo request from `im` to `dst`, run to completion. */
function echo(reg: Registry, im: Image, dst: string): void {
  const p = allocPacket(28 + 8);
  const io = p.off + 20;
  p.buf[io] = 8;
  p.buf[io + 4] = 0x12;
  const s = internetChecksum(p.buf, io, 16);
  p.buf[io + 2] = s >> 8;
  p.buf[io + 3] = s & 0xff;
  buildIpHeader(im, p.buf, p.off, 36, 1, 0, ip(dst));
  assert.equal(ipOutputLocal(im, p.buf, p.off, 36, im.noOffload), 0);
  reg.netisr.drain();
}

// ------------------------------------------------------------------ ifconfig

test('ifconfig shows an interface in FreeBSD layout', async () => {
  const { reg, r } = await lab();
  assert.equal(
    await ok(reg, r, 'ifconfig epair0a'),
    'epair0a: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n' +
      '\tether 02:00:7f:ff:ff:0a\n' +
      '\tinet 10.1.0.1 netmask 0xffffff00 broadcast 10.1.0.255\n' +
      '\tinet6 fe80::7fff:feff:ff0a%epair0a prefixlen 64 tentative scopeid 0x4\n' +
      '\tgroups: epair\n' +
      '\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n' +
      '\tstatus: active\n' +
      '\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n',
  );
  assert.equal(
    await ok(reg, r, 'ifconfig lo0'),
    'lo0: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384\n' +
      '\tinet 127.0.0.1 netmask 0xff000000\n' +
      '\tinet6 ::1 prefixlen 128\n' +
      '\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x2\n' +
      '\tgroups: lo\n' +
      '\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n',
  );
});

test('ifconfig without arguments lists every interface in index order; -l lists names', async () => {
  const { reg, r } = await lab();
  await ok(reg, r, 'ifconfig epair create');
  const all = await ok(reg, r, 'ifconfig');
  const heads = all.split('\n').filter((l) => l !== '' && !l.startsWith('\t')).map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(heads, ['lo0', 'epair0a', 'epair1a', 'epair1b']);
  assert.match(all, /^epair1a: flags=1008802<BROADCAST,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500$/m);
  assert.equal(await ok(reg, r, 'ifconfig -l'), 'lo0 epair0a epair1a epair1b\n');
  assert.equal(await ok(reg, r, 'ifconfig -l -u'), 'lo0 epair0a\n');
  assert.equal(await ok(reg, r, 'ifconfig -l inet'), 'lo0 epair0a\n');
  assert.equal(await ok(reg, r, 'ifconfig -ld'), 'epair1a epair1b\n');
});

test('ifconfig alias, -alias, netmask forms and delete', async () => {
  const { reg, r } = await lab();
  await ok(reg, r, 'ifconfig epair0a inet 10.9.0.1 netmask 255.255.0.0 alias');
  await ok(reg, r, 'ifconfig epair0a inet 10.8.0.1 netmask 0xffffff00 alias');
  let s = await ok(reg, r, 'ifconfig epair0a');
  assert.match(s, /\tinet 10\.1\.0\.1 netmask 0xffffff00 broadcast 10\.1\.0\.255\n\tinet 10\.9\.0\.1 netmask 0xffff0000 broadcast 10\.9\.255\.255\n\tinet 10\.8\.0\.1 netmask 0xffffff00 broadcast 10\.8\.0\.255\n/);
  await ok(reg, r, 'ifconfig epair0a inet 10.9.0.1 -alias');
  await ok(reg, r, 'ifconfig epair0a 10.8.0.1 delete');
  s = await ok(reg, r, 'ifconfig epair0a');
  assert.doesNotMatch(s, /10\.9\.0\.1|10\.8\.0\.1/);
  // Without alias the first address is replaced.
  await ok(reg, r, 'ifconfig epair0a inet 10.1.0.3/25');
  assert.match(await ok(reg, r, 'ifconfig epair0a'), /\tinet 10\.1\.0\.3 netmask 0xffffff80 broadcast 10\.1\.0\.127\n\tinet6 [^\n]+\n\tgroups/);
  // An alias that is already there is EEXIST, as SIOCAIFADDR says; nothing changes.
  await ok(reg, r, 'ifconfig epair0a inet 10.9.0.1/16 alias');
  assert.deepEqual(await run(reg, r, 'ifconfig epair0a inet 10.9.0.1/16 alias'.split(' ')), {
    status: 1,
    out: '',
    err: 'ifconfig: ioctl (SIOCAIFADDR): File exists (10.9.0.1 is already on epair0a)\n',
  });
  assert.equal((await ok(reg, r, 'ifconfig epair0a')).match(/inet 10\.9\.0\.1 /g)?.length, 1);
  await ok(reg, r, 'ifconfig epair0a inet 10.9.0.1 -alias');
  // -alias with no address removes the first one.
  await ok(reg, r, 'ifconfig epair0a -alias');
  assert.doesNotMatch(await ok(reg, r, 'ifconfig epair0a'), /\tinet /);
});

test('ifconfig without a mask warns and uses the classful mask', async () => {
  const { reg, r } = await lab();
  const res = await run(reg, r, ['ifconfig', 'epair0a', '172.16.5.1', 'alias']);
  assert.equal(res.status, 0);
  assert.match(res.err, /^ifconfig: WARNING: setting interface address without mask is deprecated, default mask may not be correct \(using \/16\)/);
  assert.match(await ok(reg, r, 'ifconfig epair0a'), /\tinet 172\.16\.5\.1 netmask 0xffff0000 broadcast 172\.16\.255\.255\n/);
});

test('ifconfig up, down, mtu, name and several actions in one line', async () => {
  const { reg, r } = await lab();
  assert.equal(await ok(reg, r, 'ifconfig epair create mtu 9000 up'), 'epair1a\n');
  assert.match(await ok(reg, r, 'ifconfig epair1a'), /^epair1a: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 9000\n/);
  await ok(reg, r, 'ifconfig epair1a down');
  assert.match(await ok(reg, r, 'ifconfig epair1a'), /^epair1a: flags=1008842<BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> /);
  assert.equal(await ok(reg, r, 'ifconfig epair1a name lan0'), 'lan0\n');
  assert.equal(await ok(reg, r, 'ifconfig -l'), 'lo0 epair0a lan0 epair1b\n');
  await ok(reg, r, 'ifconfig lan0 lladdr 02:00:00:00:00:01');
  assert.match(await ok(reg, r, 'ifconfig lan0'), /\tether 02:00:00:00:00:01\n/);
});

test('ifconfig IF vnet moves the interface, removing its addresses and routes', async () => {
  const { reg, r, a } = await lab();
  const b = reg.create('B');
  assert.equal(await ok(reg, a, 'ifconfig epair0b vnet B'), '');
  assert.equal(a.ifnets.has('epair0b'), false);
  // Index order: B's lo0 was made after the epair.
  assert.equal(await ok(reg, b, 'ifconfig -l'), 'epair0b lo0\n');
  assert.doesNotMatch(await ok(reg, b, 'ifconfig epair0b'), /inet /);
  assert.equal(a.routes.lookup(ip('8.8.8.8')), undefined);
  // The link stays: the epair still has its peer in R.
  assert.match(await ok(reg, b, 'ifconfig epair0b'), /LOWER_UP/);
  // -vnet takes it back from B.
  assert.equal(await ok(reg, r, 'ifconfig epair0b -vnet B'), '');
  assert.equal(await ok(reg, r, 'ifconfig -l'), 'lo0 epair0a epair0b\n');
});

test('ifconfig destroy removes both ends of an epair', async () => {
  const { reg, r, a } = await lab();
  assert.equal(await ok(reg, r, 'ifconfig epair0a destroy'), '');
  assert.equal(await ok(reg, r, 'ifconfig -l'), 'lo0\n');
  assert.equal(await ok(reg, a, 'ifconfig -l'), 'lo0\n');
  const res = await run(reg, r, ['ifconfig', 'lo0', 'destroy']);
  assert.deepEqual(res, { status: 1, out: '', err: 'ifconfig: lo0 cannot be destroyed\n' });
});

test('ifconfig tap create binds a host device and shows it', async () => {
  const { reg, r, opened } = await lab();
  assert.equal(await ok(reg, r, 'ifconfig tap create'), 'tap0\n');
  assert.equal(await ok(reg, r, 'ifconfig tap create hostname vtap9'), 'tap1\n');
  assert.equal(await ok(reg, r, 'ifconfig tap7 create'), '');
  assert.deepEqual(opened, ['tap0', 'vtap9', 'tap7']);
  await ok(reg, r, 'ifconfig tap1 inet 10.5.0.1/24 up');
  assert.equal(
    await ok(reg, r, 'ifconfig tap1'),
    'tap1: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n' +
      '\tether 58:9c:fc:7f:ff:ff\n' +
      '\tinet 10.5.0.1 netmask 0xffffff00 broadcast 10.5.0.255\n' +
      '\tinet6 fe80::5a9c:fcff:fe7f:ffff%tap1 prefixlen 64 tentative scopeid 0x7\n' +
      '\tgroups: tap\n' +
      '\tmedia: Ethernet 1000baseT <full-duplex>\n' +
      '\tstatus: active\n' +
      '\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n' +
      '\thostif: vtap9\n',
  );
  const noTap = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const res = await run(noTap, noTap.default, ['ifconfig', 'tap', 'create']);
  assert.deepEqual(res, { status: 1, out: '', err: 'ifconfig: TAP devices are not available in this daemon\n' });
});

test('ifconfig rejects bad input with one line and the right status', async () => {
  const { reg, r } = await lab();
  const cases: Array<[string, number, RegExp]> = [
    ['ifconfig epair9a', 1, /^ifconfig: interface epair9a does not exist; 'ifconfig -l' lists interfaces\n$/],
    ['ifconfig epair9a up', 1, /^ifconfig: interface epair9a does not exist/],
    ['ifconfig epair0a inet 10.1.0.300/24', 64, /^ifconfig: 10\.1\.0\.300\/24: bad value; give an IPv4 address like 10\.0\.0\.1\/24/],
    ['ifconfig epair0a inet 10.1.0.1/33', 64, /^ifconfig: 10\.1\.0\.1\/33: bad value \(width invalid\)/],
    ['ifconfig epair0a inet 10.1.0.1 netmask 255.0.255.0', 64, /^ifconfig: netmask 255\.0\.255\.0: not a contiguous mask/],
    ['ifconfig epair0a inet 10.1.0.1 netmask banana', 64, /^ifconfig: netmask banana: bad value/],
    ['ifconfig epair0a mtu 10', 1, /^ifconfig: mtu 10 out of range, must be between 72 and 65521\n$/],
    ['ifconfig epair0a mtu', 64, /^ifconfig: mtu: missing value/],
    ['ifconfig epair0a vnet Nowhere', 1, /^ifconfig: image Nowhere does not exist; 'vimage -l' lists images/],
    ['ifconfig epair0a vnet R', 1, /^ifconfig: epair0a is already in image R\n$/],
    ['ifconfig lo0 vnet A', 1, /^ifconfig: lo0 is the loopback of image R and cannot be moved\n$/],
    ['ifconfig epair0a vnet A up', 64, /^ifconfig: vnet cannot be combined/],
    ['ifconfig epair0a name Bad!', 1, /^ifconfig: invalid interface name 'Bad!'/],
    ['ifconfig gre create', 1, /^ifconfig: gre: cannot create interfaces of this kind/],
    ['ifconfig epair0a inet6 fe80::zz', 64, /^ifconfig: fe80::zz: bad value; give an IPv6 address like 2001:db8::1\/64/],
    ['ifconfig -x', 64, /^ifconfig: illegal option -- x/],
    ['ifconfig epair0a 10.2.0.1/24 alias 10.3.0.1', 64, /^ifconfig: 10\.3\.0\.1: unknown parameter/],
    ['ifconfig epair0a 10.7.0.1/24 delete', 1, /^ifconfig: 10\.7\.0\.1 is not configured on epair0a\n$/],
  ];
  for (const [line, status, err] of cases) {
    const res = await run(reg, r, line.split(' '));
    assert.equal(res.status, status, `${line}: ${res.err}`);
    assert.match(res.err, err, line);
    assert.equal(res.err.split('\n').length, 2, `${line}: one line: ${res.err}`);
    assert.equal(res.out, '', line);
  }
  // Nothing was half-applied.
  assert.match(await ok(reg, r, 'ifconfig epair0a'), /mtu 1500\n\tether [^\n]+\n\tinet 10\.1\.0\.1 netmask 0xffffff00 broadcast 10\.1\.0\.255\n\tinet6 [^\n]+\n\tgroups/);
});

test('ifconfig --json prints one document', async () => {
  const { reg, r } = await lab();
  const res = await run(reg, r, ['ifconfig', 'epair0a'], true);
  const doc = JSON.parse(res.out) as { interfaces: Array<Record<string, unknown>> };
  assert.equal(doc.interfaces.length, 1);
  const i = doc.interfaces[0]!;
  assert.equal(i['name'], 'epair0a');
  assert.equal(i['flags'], 0x1008843);
  assert.deepEqual(i['inet'], [{ address: '10.1.0.1', prefixLen: 24, netmask: '255.255.255.0', broadcast: '10.1.0.255' }]);
  assert.deepEqual(JSON.parse((await run(reg, r, ['ifconfig', '-l'], true)).out), { interfaces: ['lo0', 'epair0a'] });
});

// --------------------------------------------------------------------- route

test('route add, netstat -rn, route get and delete', async () => {
  const { reg, r } = await lab();
  assert.equal(await ok(reg, r, 'route add -net 10.2.0.0/24 10.1.0.2'), 'add net 10.2.0.0/24: gateway 10.1.0.2\n');
  assert.equal(await ok(reg, r, 'route add -net 10.3.0.0 -netmask 255.255.0.0 10.1.0.2 -mtu 1400'), 'add net 10.3.0.0: gateway 10.1.0.2\n');
  assert.equal(await ok(reg, r, 'route add -host 10.4.0.9 10.1.0.2'), 'add host 10.4.0.9: gateway 10.1.0.2\n');
  assert.equal(await ok(reg, r, 'route add -net 10.5.0.0/16 -interface epair0a'), 'add net 10.5.0.0/16: gateway epair0a\n');
  assert.equal(await ok(reg, r, 'route add -net 10.66.0.0/16 127.0.0.1 -blackhole'), 'add net 10.66.0.0/16: gateway 127.0.0.1\n');
  assert.equal(
    await ok(reg, r, 'netstat -rn'),
    'Routing tables\n' +
      '\n' +
      'Internet:\n' +
      'Destination        Gateway            Flags         Netif Expire\n' +
      '10.1.0.0/24        link#4             U           epair0a\n' +
      '10.1.0.1           link#2             UHS             lo0\n' +
      '10.2.0.0/24        10.1.0.2           UGS         epair0a\n' +
      '10.3.0.0/16        10.1.0.2           UGS         epair0a\n' +
      '10.4.0.9           10.1.0.2           UGHS        epair0a\n' +
      '10.5.0.0/16        link#4             US          epair0a\n' +
      '10.66.0.0/16       127.0.0.1          UGSB            lo0\n' +
      '127.0.0.1          link#2             UH              lo0\n' +
      '\n' +
      'Internet6:\n' +
      'Destination                       Gateway                       Flags         Netif Expire\n' +
      '::1                               link#2                        UHS             lo0\n' +
      'fe80::%epair0a/64                 link#4                        U           epair0a\n' +
      'fe80::%lo0/64                     link#2                        U               lo0\n' +
      'fe80::1%lo0                       link#2                        UHS             lo0\n' +
      'fe80::7fff:feff:ff0a%epair0a      link#2                        UHS             lo0\n',
  );
  // Without -n, 127.0.0.1 is localhost.
  assert.match(await ok(reg, r, 'netstat -r'), /\nlocalhost          link#2             UH              lo0\n/);
  assert.equal(
    await ok(reg, r, 'route -n get 10.3.7.7'),
    '   route to: 10.3.7.7\n' +
      'destination: 10.3.0.0\n' +
      '       mask: 255.255.0.0\n' +
      '    gateway: 10.1.0.2\n' +
      '        fib: 0\n' +
      '  interface: epair0a\n' +
      '      flags: <UP,GATEWAY,DONE,STATIC>\n' +
      ' recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire\n' +
      '       0         0         0         0      1400         1         0 \n',
  );
  assert.equal(
    await ok(reg, r, 'route get 10.1.0.77'),
    '   route to: 10.1.0.77\n' +
      'destination: 10.1.0.0\n' +
      '       mask: 255.255.255.0\n' +
      '        fib: 0\n' +
      '  interface: epair0a\n' +
      '      flags: <UP,DONE>\n' +
      ' recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire\n' +
      '       0         0         0         0      1500         1         0 \n',
  );
  assert.match(await ok(reg, r, 'route get 10.1.0.1'), /^   route to: 10\.1\.0\.1\ndestination: 10\.1\.0\.1\n        fib: 0\n  interface: lo0\n      flags: <UP,HOST,DONE,STATIC>\n/);
  assert.equal(await ok(reg, r, 'route delete -net 10.2.0.0/24'), 'delete net 10.2.0.0/24\n');
  assert.equal(await ok(reg, r, 'route delete 10.4.0.9 10.1.0.2'), 'delete host 10.4.0.9: gateway 10.1.0.2\n');
  assert.equal(await ok(reg, r, 'route change -net 10.3.0.0/16 -interface epair0a'), 'change net 10.3.0.0/16: gateway epair0a\n');
  assert.match(await ok(reg, r, 'netstat -rn'), /\n10\.3\.0\.0\/16        link#4             US          epair0a\n/);
  assert.doesNotMatch(await ok(reg, r, 'netstat -rn'), /10\.2\.0\.0|10\.4\.0\.9/);
});

test('route get default in an image with a default route', async () => {
  const { reg, a } = await lab();
  assert.equal(
    await ok(reg, a, 'route get default'),
    '   route to: default\n' +
      'destination: default\n' +
      '       mask: default\n' +
      '    gateway: 10.1.0.1\n' +
      '        fib: 0\n' +
      '  interface: epair0b\n' +
      '      flags: <UP,GATEWAY,DONE,STATIC>\n' +
      ' recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire\n' +
      '       0         0         0         0      1500         1         0 \n',
  );
  const doc = JSON.parse((await run(reg, a, ['route', 'get', '8.8.8.8'], true)).out) as Record<string, unknown>;
  assert.equal(doc['gateway'], '10.1.0.1');
  assert.deepEqual(doc['flags'], ['UP', 'GATEWAY', 'DONE', 'STATIC']);
});

test('route failures are one line with status 1, usage errors status 64', async () => {
  const { reg, r, a } = await lab();
  const cases: Array<[Image, string, number, string]> = [
    [a, 'route add default 10.1.0.1', 1, 'route: add net default: gateway 10.1.0.1 fib 0: route already in table\n'],
    [r, 'route add -net 10.2.0.0/24 10.9.9.9', 1, 'route: add net 10.2.0.0/24: gateway 10.9.9.9 fib 0: Network is unreachable\n'],
    [r, 'route delete -net 10.2.0.0/24', 1, 'route: delete net 10.2.0.0/24 fib 0: not in table\n'],
    [r, 'route change -net 10.2.0.0/24 10.1.0.2', 1, 'route: change net 10.2.0.0/24: gateway 10.1.0.2 fib 0: not in table\n'],
    [r, 'route get 10.99.0.1', 1, "route: route has not been found; 'netstat -rn' lists the routes\n"],
    [r, 'route add -net 10.2.0.0/24', 64, 'route: add: a gateway address or -interface IF is required\n'],
    [r, 'route add -net 10.2.0.300/24 10.1.0.2', 64, 'route: bad address: 10.2.0.300/24\n'],
    [r, 'route add -net 10.2.0.0/40 10.1.0.2', 64, 'route: bad mask length: 40\n'],
    [r, 'route add -net 10.2.0.0 -netmask 255.0.255.0 10.1.0.2', 64, 'route: bad netmask: 255.0.255.0 is not contiguous\n'],
    [r, 'route add -net 10.2.0.1/24 10.1.0.2', 64, 'route: 10.2.0.1/24: host bits are set for a /24 network; give the network address 10.2.0.0\n'],
    [r, 'route add -net 10.2.0.0/24 -interface epair7', 64, "route: interface 'epair7' does not exist\n"],
    [r, 'route add -net 10.2.0.0/24 10.1.0.2 -bogus', 64, 'route: bad keyword: bogus\n'],
    [r, 'route flush -bogus', 64, 'route: flush: -bogus: unknown modifier; use -4/-inet or -6/-inet6\n'],
    [r, 'route frobnicate', 64, 'route: frobnicate: unknown command; usage: route [-46nqv] add|delete|change|get [-net|-host] destination [gateway | -interface IF] [-netmask mask] [-blackhole|-reject] [-mtu N] | flush [-4|-6] | monitor\n'],
  ];
  for (const [im, line, status, err] of cases) {
    const res = await run(reg, im, line.split(' '));
    assert.deepEqual(res, { status, out: '', err }, line);
  }
});

// ------------------------------------------------------------------- netstat

test('netstat -i lists the link row and one row per address', async () => {
  const { reg, r } = await lab();
  await ok(reg, r, 'ifconfig epair create');
  const ep0 = r.ifnet('epair0a');
  ep0.counters.ipackets = 12345;
  ep0.counters.opackets = 7;
  // (The gratuitous ARP sent before A's end was up counted one output error.)
  assert.equal(
    await ok(reg, r, 'netstat -in'),
    'Name       Mtu Network      Address              Ipkts Ierrs Idrop    Opkts Oerrs  Coll\n' +
      'lo0      16384 <Link#2>     lo0                      0     0     0        0     0     0\n' +
      'lo0          - 127.0.0.0/8  127.0.0.1                0     -     -        0     -     -\n' +
      'epair0a   1500 <Link#4>     02:00:7f:ff:ff:0a    12345     0     0        7     1     0\n' +
      'epair0a      - 10.1.0.0/24  10.1.0.1             12345     -     -        7     -     -\n' +
      'epair1a*  1500 <Link#6>     02:00:7f:ff:ff:0a        0     0     0        0     0     0\n' +
      'epair1b*  1500 <Link#7>     02:00:7f:ff:ff:0b        0     0     0        0     0     0\n',
  );
  assert.equal(
    await ok(reg, r, 'netstat -i -f inet -I epair0a'),
    'Name      Mtu Network      Address     Ipkts Ierrs Idrop    Opkts Oerrs  Coll\n' +
      'epair0a     - 10.1.0.0/24  10.1.0.1    12345     -     -        7     -     -\n',
  );
  assert.equal(
    await ok(reg, r, 'netstat -ibd -I lo0'),
    'Name    Mtu Network      Address      Ipkts Ierrs Idrop     Ibytes    Opkts Oerrs     Obytes  Coll  Drop\n' +
      'lo0   16384 <Link#2>     lo0              0     0     0          0        0     0          0     0     0\n' +
      'lo0       - 127.0.0.0/8  localhost        0     -     -          0        0     -          0     -     -\n',
  );
  const res = await run(reg, r, ['netstat', '-i', '-I', 'nope0']);
  assert.deepEqual(res, { status: 1, out: '', err: "netstat: interface nope0 not found; 'ifconfig -l' lists interfaces\n" });
});

test('netstat -s prints every counter with its description, and the ICMP histograms', async () => {
  const { reg, a } = await lab();
  echo(reg, a, '10.1.0.1');
  const ipOut = await ok(reg, a, 'netstat -s -p ip');
  const lines = ipOut.split('\n');
  assert.equal(lines[0], 'ip:');
  assert.equal(lines[1], '\t1 total packet received');
  assert.equal(lines[2], '\t0 bad header checksums');
  assert.ok(lines.includes('\t1 packet for this host'), ipOut);
  assert.ok(lines.includes('\t0 packets forwarded (0 packets fast forwarded)'), ipOut);
  assert.ok(lines.includes('\t1 packet sent from this host'), ipOut);
  assert.ok(lines.includes("\t0 datagrams that can't be fragmented"), ipOut);
  assert.equal(lines.length, 29 + 1);

  const icmpOut = await ok(reg, a, 'netstat -s -p icmp');
  assert.match(icmpOut, /^icmp:\n\t0 calls to icmp_error\n\t0 errors not generated in response to an icmp message\n/);
  assert.match(icmpOut, /\tInput histogram:\n\t\techo reply: 1\n/);
  assert.match(icmpOut, /\t0 multicast echo requests ignored\n/);
  assert.match(icmpOut, /\tICMP address mask responses are disabled\n$/);
  const rIcmp = await ok(reg, reg.get('R')!, 'netstat -s -p icmp');
  assert.match(rIcmp, /\tOutput histogram:\n\t\techo reply: 1\n/);
  assert.match(rIcmp, /\tInput histogram:\n\t\techo: 1\n/);
  assert.match(rIcmp, /\t1 message response generated\n/);

  // -ss leaves out zero counters.
  assert.equal(await ok(reg, a, 'netstat -ss -p ip'), 'ip:\n\t1 total packet received\n\t1 packet for this host\n\t1 packet sent from this host\n');
  // All protocols, in FreeBSD's order.
  const all = await ok(reg, a, 'netstat -s');
  assert.deepEqual(all.split('\n').filter((l) => /^[a-z]+:$/.test(l)), ['tcp:', 'udp:', 'ip:', 'icmp:', 'arp:']);
  assert.match(all, /\narp:\n\t\d+ ARP requests sent\n/);
  // -z zeroes after printing.
  await ok(reg, a, 'netstat -s -z -p ip');
  assert.equal(await ok(reg, a, 'netstat -ss -p ip'), 'ip:\n');
  const doc = JSON.parse((await run(reg, reg.get('R')!, ['netstat', '-s', '-p', 'icmp'], true)).out) as { icmp: Record<string, unknown> };
  assert.equal(doc.icmp['reflect'], 1);
  assert.deepEqual(doc.icmp['inputHistogram'], { echo: 1 });
});

test('netstat refuses unknown and missing protocols', async () => {
  const { reg, r } = await lab();
  assert.deepEqual(await run(reg, r, ['netstat', '-s', '-p', 'sctp']), {
    status: 69,
    out: '',
    err: 'netstat: protocol sctp is not available in this image yet; try -p tcp, udp, ip, icmp or arp\n',
  });
  assert.deepEqual(await run(reg, r, ['netstat', '-s', '-p', 'bogus']), { status: 64, out: '', err: 'netstat: unknown protocol: bogus; use -p tcp, udp, ip, icmp or arp\n' });
  assert.equal((await run(reg, r, ['netstat', '-Q'])).status, 64);
  assert.equal((await run(reg, r, ['netstat', '-r', '-f', 'appletalk'])).status, 64);
});

// ----------------------------------------------------------------------- arp

test('arp -an shows learned, own, static and incomplete entries', async () => {
  const { reg, clock, r, a } = await lab();
  echo(reg, a, '10.1.0.1');
  assert.equal(
    await ok(reg, a, 'arp -an'),
    '? (10.1.0.1) at 02:00:7f:ff:ff:0a on epair0b expires in 1200 seconds [ethernet]\n' + '? (10.1.0.2) at 02:00:7f:ff:ff:0b on epair0b permanent [ethernet]\n',
  );
  clock.advance(10_500);
  assert.match(await ok(reg, a, 'arp 10.1.0.1'), /^\? \(10\.1\.0\.1\) at 02:00:7f:ff:ff:0a on epair0b expires in 1189 seconds \[ethernet\]\n$/);
  assert.equal(await ok(reg, r, 'arp -s 10.1.0.50 02:aa:bb:cc:dd:ee'), '');
  echo(reg, r, '10.1.0.77');
  assert.equal(
    await ok(reg, r, 'arp -a'),
    '? (10.1.0.1) at 02:00:7f:ff:ff:0a on epair0a permanent [ethernet]\n' +
      '? (10.1.0.2) at 02:00:7f:ff:ff:0b on epair0a expires in 1189 seconds [ethernet]\n' +
      '? (10.1.0.50) at 02:aa:bb:cc:dd:ee on epair0a permanent [ethernet]\n' +
      '? (10.1.0.77) at (incomplete) on epair0a expires in 20 seconds [ethernet]\n',
  );
  assert.equal(await ok(reg, r, 'arp -d 10.1.0.50'), '10.1.0.50 (10.1.0.50) deleted\n');
  assert.equal(await ok(reg, r, 'arp -d -a'), '10.1.0.2 (10.1.0.2) deleted\n10.1.0.77 (10.1.0.77) deleted\n');
  assert.equal(await ok(reg, r, 'arp -an'), '? (10.1.0.1) at 02:00:7f:ff:ff:0a on epair0a permanent [ethernet]\n');
  const doc = JSON.parse((await run(reg, r, ['arp', '-an'], true)).out) as { arp: { arpCache: unknown[] } };
  assert.deepEqual(doc.arp.arpCache, [
    { hostname: '?', ipAddress: '10.1.0.1', macAddress: '02:00:7f:ff:ff:0a', interface: 'epair0a', permanent: true, type: 'ethernet' },
  ]);
});

test('arp errors', async () => {
  const { reg, r } = await lab();
  const cases: Array<[string, number, string, string]> = [
    ['arp 10.1.0.9', 1, '10.1.0.9 (10.1.0.9) -- no entry\n', ''],
    ['arp -d 10.1.0.9', 1, '', 'arp: 10.1.0.9: no such ARP entry\n'],
    ['arp -d 10.1.0.1', 1, '', "arp: 10.1.0.1: is an address of epair0a; remove it with 'ifconfig epair0a inet 10.1.0.1 -alias'\n"],
    ['arp -s 10.9.0.5 02:00:00:00:00:05', 1, '', 'arp: set 10.9.0.5: no interface has a subnet containing this address; configure one with ifconfig first\n'],
    ['arp -s 10.1.0.5 zz:00', 1, '', "arp: invalid Ethernet address 'zz:00'; give one like 02:00:00:00:00:01\n"],
    ['arp -s host.example 02:00:00:00:00:05', 1, '', 'arp: host.example: Unknown host; give an IPv4 address (no name service in an image)\n'],
    ['arp -s 10.1.0.5 02:00:00:00:00:05 pub', 64, '', 'arp: pub: proxy, blackhole and reject entries are not supported here\n'],
    ['arp -a -i nope0', 1, '', 'arp: interface nope0 does not exist\n'],
  ];
  for (const [line, status, out, err] of cases) {
    assert.deepEqual(await run(reg, r, line.split(' ')), { status, out, err }, line);
  }
  assert.equal((await run(reg, r, ['arp'])).status, 64);
  // -s then -s again needs -S.
  await ok(reg, r, 'arp -s 10.1.0.5 02:00:00:00:00:05 temp');
  assert.match(await ok(reg, r, 'arp -n 10.1.0.5'), /expires in 1200 seconds/);
  await ok(reg, r, 'arp -s 10.1.0.5 02:00:00:00:00:06');
  assert.equal((await run(reg, r, ['arp', '-s', '10.1.0.5', '02:00:00:00:00:07'])).status, 1);
  await ok(reg, r, 'arp -S 10.1.0.5 02:00:00:00:00:07');
  assert.match(await ok(reg, r, 'arp 10.1.0.5'), /at 02:00:00:00:00:07 on epair0a permanent/);
});

// -------------------------------------------------------------------- sysctl

test('sysctl reads, sets, describes and lists by prefix', async () => {
  const { reg, r, a } = await lab();
  assert.equal(await ok(reg, r, 'sysctl net.inet.ip.forwarding'), 'net.inet.ip.forwarding: 0\n');
  assert.equal(await ok(reg, r, 'sysctl -n net.inet.ip.forwarding'), '0\n');
  assert.equal(await ok(reg, r, 'sysctl net.inet.ip.forwarding=1'), 'net.inet.ip.forwarding: 0 -> 1\n');
  assert.equal(await ok(reg, r, 'sysctl net.inet.ip.forwarding'), 'net.inet.ip.forwarding: 1\n');
  // Per image: A is untouched.
  assert.equal(await ok(reg, a, 'sysctl -n net.inet.ip.forwarding'), '0\n');
  assert.equal(await ok(reg, r, 'sysctl -d net.inet.ip.forwarding'), 'net.inet.ip.forwarding: Enable IP forwarding between interfaces\n');
  assert.equal(await ok(reg, r, 'sysctl -e net.inet.ip.ttl'), 'net.inet.ip.ttl=64\n');
  const ipTree = await ok(reg, r, 'sysctl net.inet.ip');
  assert.match(ipTree, /^net\.inet\.ip\.forwarding: 1\n/m);
  assert.match(ipTree, /^net\.inet\.ip\.ttl: 64\n/m);
  assert.doesNotMatch(ipTree, /icmp/);
  const all = (await ok(reg, r, 'sysctl -a')).trimEnd().split('\n');
  assert.ok(all.includes('net.link.ether.inet.max_age: 1200'));
  assert.deepEqual(all, [...all].sort());
  assert.deepEqual(JSON.parse((await run(reg, r, ['sysctl', 'net.inet.ip.forwarding=0'], true)).out), { 'net.inet.ip.forwarding': { old: 1, new: 0 } });
  // Hex, as FreeBSD's sysctl takes it (strtol base 0).
  assert.equal(await ok(reg, r, 'sysctl net.inet.ip.ttl=0x40'), 'net.inet.ip.ttl: 64 -> 64\n');
  assert.equal(await ok(reg, r, 'sysctl net.inet.ip.ttl=0X1f'), 'net.inet.ip.ttl: 64 -> 31\n');
});

test('sysctl errors name what was wrong', async () => {
  const { reg, r } = await lab();
  const cases: Array<[string, number, string]> = [
    ['sysctl net.foo', 1, "sysctl: unknown oid 'net.foo'; 'sysctl -a' lists the tunables of an image\n"],
    ['sysctl net.foo=1', 1, "sysctl: unknown oid 'net.foo'; 'sysctl -a' lists the tunables of an image\n"],
    ['sysctl net.inet.ip.forwarding=5', 1, 'sysctl: net.inet.ip.forwarding: 5 out of range, must be between 0 and 1\n'],
    ['sysctl net.inet.ip.ttl=abc', 1, "sysctl: invalid integer 'abc' for net.inet.ip.ttl\n"],
    ['sysctl net.inet.ip=1', 1, "sysctl: oid 'net.inet.ip' isn't a leaf node; set one of 'sysctl net.inet.ip'\n"],
    ['sysctl', 64, 'sysctl: usage: sysctl [-deNnq] name[=value] ... | sysctl [-deNn] -a\n'],
    ['sysctl -Z', 64, 'sysctl: illegal option -- Z; usage: sysctl [-deNnq] name[=value] ... | sysctl [-deNn] -a\n'],
  ];
  for (const [line, status, err] of cases) {
    assert.deepEqual(await run(reg, r, line.split(' ')), { status, out: '', err }, line);
  }
  // Good names still print when one of several is unknown; -q silences the error.
  assert.deepEqual(await run(reg, r, ['sysctl', '-q', 'net.foo', 'net.inet.ip.ttl']), { status: 1, out: 'net.inet.ip.ttl: 64\n', err: '' });
  assert.equal(r.sysctl.v[0] !== undefined, true);
});
