import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/clock.js';
import { commandHandles } from '../../lib/control/index.js';
import type { Image } from '../../lib/image.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { Mac } from '../../lib/wire/ethernet.js';
import { parseIp6 } from '../../lib/wire/ipv6.js';
import type { Command, CommandContext } from '../command.js';
import { allCommands } from './index.js';
import { formatPrefix, formatRouter } from './ndp.js';
import { MAX_RA_DELAY_TIME, RtAdvertiser, buildRa, defaultConfig, interfaceConfig, parseConf, type RaConfig } from './rtadvd.js';

const LL = parseIp6('fe80::1')!;

function engine(cfg: RaConfig = defaultConfig()): { clock: ManualClock; sent: Array<{ at: number; rltime: number; len: number }>; ra: RtAdvertiser } {
  const clock = new ManualClock();
  const sent: Array<{ at: number; rltime: number; len: number }> = [];
  let seed = 1;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const ra = new RtAdvertiser({
    clock,
    random,
    link: () => ({ linkLocal: LL, mac: 0x020000000001 as Mac, prefixes: [{ prefix: parseIp6('2001:db8:1::')!, prefixLen: 64 }] }),
    send: (_if, src, msg) => {
      assert.deepEqual(src, LL);
      sent.push({ at: clock.now(), rltime: (msg[6]! << 8) | msg[7]!, len: msg.length });
    },
  });
  ra.add('tap0', cfg);
  return { clock, sent, ra };
}

test('rtadvd defaults are rtadvd.conf(5)\'s: 600 s, 200 s, lifetime 1800, hop limit 64, LA prefixes 2592000/604800, no MTU option', () => {
  const c = defaultConfig();
  assert.deepEqual(c, { maxinterval: 600, mininterval: 200, chlim: 64, raflags: 0, rltime: 1800, rtime: 0, retrans: 0, mtu: 0, pinfoflags: 0xc0, vltime: 2592000, pltime: 604800 });
  const msg = buildRa(c, { linkLocal: LL, mac: 0x020000000001 as Mac, prefixes: [{ prefix: parseIp6('2001:db8:1::')!, prefixLen: 64 }] }, c.rltime);
  // Header (16) + source link-layer option (8) + one prefix option (32); no MTU option.
  assert.equal(msg.length, 56);
  assert.deepEqual([...msg.subarray(0, 8)], [134, 0, 0, 0, 64, 0, 0x07, 0x08]);
  assert.deepEqual([...msg.subarray(16, 24)], [1, 1, 2, 0, 0, 0, 0, 1]);
  assert.deepEqual([...msg.subarray(24, 36)], [3, 4, 64, 0xc0, 0, 0x27, 0x8d, 0, 0, 0x09, 0x3a, 0x80]);
  const withMtu = buildRa({ ...c, mtu: 1400 }, { linkLocal: LL, mac: 0x020000000001 as Mac, prefixes: [] }, c.rltime);
  assert.deepEqual([...withMtu.subarray(24, 32)], [5, 1, 0, 0, 0, 0, 0x05, 0x78]);
});

test('unsolicited advertisements: the first soon, the first three at most 16 s apart, then between mininterval and maxinterval', () => {
  const { clock, sent } = engine();
  clock.advance(MAX_RA_DELAY_TIME);
  assert.equal(sent.length, 1);
  clock.advance(16_000 * 2);
  assert.equal(sent.length, 3);
  for (let i = 1; i < 3; i++) assert.equal(sent[i]!.at - sent[i - 1]!.at, 16_000);
  clock.advance(600_000 * 5);
  assert.ok(sent.length >= 3 + 5, `${sent.length}`);
  for (let i = 3; i < sent.length; i++) {
    const gap = sent[i]!.at - sent[i - 1]!.at;
    assert.ok(gap >= 200_000 && gap <= 600_000, `gap ${gap}`);
  }
  assert.ok(sent.every((s) => s.rltime === 1800 && s.len === 56));
});

test('a solicitation is answered within 500 ms, never sooner than 3 s after the last advertisement; stop sends router lifetime 0', () => {
  const { clock, sent, ra } = engine();
  clock.advance(60_000);
  const n = sent.length;
  ra.solicited('tap0');
  ra.solicited('tap0'); // a second one while one is pending changes nothing
  clock.advance(MAX_RA_DELAY_TIME);
  assert.equal(sent.length, n + 1);
  assert.ok(sent[n]!.at - 60_000 <= MAX_RA_DELAY_TIME);
  // Right after an advertisement: the answer waits for MIN_DELAY_BETWEEN_RAS.
  const last = sent[n]!.at;
  ra.solicited('tap0');
  clock.advance(2_000);
  assert.equal(sent.length, n + 1);
  clock.advance(3_000);
  assert.equal(sent.length, n + 2);
  assert.ok(sent[n + 1]!.at - last >= 3_000);
  // A flood of solicitations: one advertisement per 3 s at most.
  const start = clock.now();
  const before = sent.length;
  for (let t = 0; t < 30_000; t += 100) {
    ra.solicited('tap0');
    clock.advance(100);
  }
  assert.ok(sent.length - before <= 30_000 / 3_000 + 1, `${sent.length - before} advertisements in 30 s`);
  assert.ok(clock.now() - start === 30_000);
  ra.solicited('eth9'); // not ours: ignored
  ra.stop(true);
  assert.equal(sent.at(-1)!.rltime, 0);
  const k = sent.length;
  clock.advance(3_600_000);
  assert.equal(sent.length, k, 'no timer left');
});

test('rtadvd.conf(5): numeric capabilities over the defaults, tc= inheritance, rtadvd\'s range checks', () => {
  const conf = parseConf('# comment\ndefault:\\\n\t:chlim#32:raflags="o":\ntap0:\\\n\t:maxinterval#10:mtu#1400:tc=default:\ntap1:mtu#100:\ntap2:rdnss="::1":\n');
  assert.ok(typeof conf !== 'string');
  const c = interfaceConfig(conf, 'tap0', 1500);
  assert.ok(typeof c !== 'string', String(c));
  assert.equal(c.maxinterval, 10);
  assert.equal(c.mininterval, 3);
  assert.equal(c.rltime, 30);
  assert.equal(c.mtu, 1400);
  assert.equal(c.chlim, 32);
  assert.equal(c.raflags, 0x40);
  assert.match(String(interfaceConfig(conf, 'tap1', 1500)), /advertised link mtu \(100\) on tap1 is invalid/);
  assert.match(String(interfaceConfig(conf, 'tap2', 1500)), /rdnss is not supported/);
  assert.deepEqual(interfaceConfig(conf, 'tap9', 1500), defaultConfig());
  assert.match(String(interfaceConfig(parseConf('tap0:maxinterval#2:') as Map<string, Map<string, string>>, 'tap0', 1500)), /maxinterval \(2\)/);
});

const cmds = allCommands();

function start(n: TestNet, im: Image, argv: string[], stdin = ''): { ctl: AbortController; out: string[]; err: string[]; status: () => number | undefined } {
  const out: string[] = [];
  const err: string[] = [];
  const ctl = new AbortController();
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: {
      async *[Symbol.asyncIterator]() {
        if (stdin !== '') yield new TextEncoder().encode(stdin);
      },
    },
    signal: ctl.signal,
    json: false,
    pid: 9,
  };
  let status: number | undefined;
  void (cmds.get(argv[0]!) as Command)(ctx).then((s) => (status = s));
  return { ctl, out, err, status: () => status };
}

function eth(im: Image): string {
  return [...im.ifnets.values()].find((i) => !i.loopback)!.name;
}

test('rtadvd refuses to advertise a router lifetime while forwarding is off, as FreeBSD\'s rtadvd does', async () => {
  const n = twoImages();
  const r = start(n, n.a, ['rtadvd', eth(n.a)]);
  await n.run(100, 100);
  assert.equal(r.status(), 1);
  assert.match(r.err.join(''), /non zero router lifetime is specified for epair0a, which must not be allowed for hosts/);
  const bad = start(n, n.a, ['rtadvd', 'tap7']);
  await n.run(100, 100);
  assert.equal(bad.status(), 1);
  assert.match(bad.err.join(''), /interface tap7 does not exist/);
  const file = start(n, n.a, ['rtadvd', '-c', '/etc/rtadvd.conf', eth(n.a)]);
  await n.run(100, 100);
  assert.equal(file.status(), 64);
});

test('rtadvd in image A gives image B (accept_rtadv) a SLAAC address and a default route; ndp -r and -p show them; kill withdraws the router', async () => {
  const n = twoImages();
  const ea = eth(n.a);
  const eb = eth(n.b);
  n.a.sysctl.set('net.inet6.ip6.forwarding', '1');
  const ifc = start(n, n.b, ['ifconfig', eb, 'inet6', 'accept_rtadv']);
  const addA = start(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8:42::1/64']);
  await n.run(2500, 100);
  assert.equal(ifc.status(), 0);
  assert.equal(addA.status(), 0);
  const show = start(n, n.b, ['ifconfig', eb]);
  await n.settle();
  assert.match(show.out.join(''), /\tnd6 options=23<PERFORMNUD,ACCEPT_RTADV,AUTO_LINKLOCAL>\n/);
  const r = start(n, n.a, ['rtadvd', '-c', '-', ea], `${ea}:mtu#1400:\n`);
  await n.run(4000, 100);
  assert.equal(r.status(), undefined, r.err.join(''));
  const b6 = start(n, n.b, ['ifconfig', eb]);
  await n.settle();
  assert.match(b6.out.join(''), /\tinet6 2001:db8:42::[0-9a-f:]+ prefixlen 64 autoconf\n/);
  const rr = start(n, n.b, ['ndp', '-r']);
  await n.settle();
  assert.match(rr.out.join(''), new RegExp(`^fe80::[0-9a-f:]+%${eb} if=${eb}, flags=, pref=medium, expire=(29m[0-9]+s|30m0s)\\n$`));
  const pp = start(n, n.b, ['ndp', '-p']);
  await n.settle();
  assert.match(pp.out.join(''), new RegExp(`^2001:db8:42::/64 if=${eb}\\nflags=LAO vltime=2592000, pltime=604800, expire=29d23h59m[0-9]+s, ref=1\\n  advertised by\\n    fe80::[0-9a-f:]+%${eb} \\(reachable\\)\\n$`));
  const ndpi = start(n, n.b, ['ndp', '-i', eb]);
  await n.settle();
  assert.match(ndpi.out.join(''), /^linkmtu=1400, /);
  const nr = start(n, n.b, ['netstat', '-rn', '-f', 'inet6']);
  await n.settle();
  assert.match(nr.out.join(''), new RegExp(`\\ndefault +fe80::[0-9a-f:]+%${eb} +UG +${eb}\\s*\\n`));
  assert.ok(n.a.icmp6.outhist[134]! >= 1);
  // Kill: a final advertisement with router lifetime 0 removes A from B's router list and the default route.
  r.ctl.abort('SIGTERM');
  await n.run(200, 100);
  assert.notEqual(r.status(), undefined);
  const after = start(n, n.b, ['ndp', '-r']);
  await n.settle();
  assert.equal(after.out.join(''), '');
  // ndp -P flushes the prefix list with the address made from it; ndp -R the router list (nothing left after the kill).
  const flushP = start(n, n.b, ['ndp', '-P']);
  await n.settle();
  assert.equal(flushP.status(), 0);
  const b7 = start(n, n.b, ['ifconfig', eb]);
  const p7 = start(n, n.b, ['ndp', '-p']);
  await n.settle();
  assert.doesNotMatch(b7.out.join(''), /2001:db8:42:/);
  assert.equal(p7.out.join(''), '');
  const badR = start(n, n.b, ['ndp', '-R', 'x']);
  const okR = start(n, n.b, ['ndp', '-R']);
  await n.settle();
  assert.equal(badR.status(), 64);
  assert.equal(okR.status(), 0);
  assert.deepEqual(formatRouter({ address: 'fe80::1%em0', interface: 'em0', flags: 'O', preference: 'medium', expires: 1792 }), 'fe80::1%em0 if=em0, flags=O, pref=medium, expire=29m52s\n');
  assert.equal(formatPrefix({ prefix: '2001:db8::', prefixLen: 64, interface: 'em0', flags: 'LAO', vltime: null, pltime: null, expires: null, address: null, advertisedBy: [] }), '2001:db8::/64 if=em0\nflags=LAO vltime=infinity, pltime=infinity, expire=Never, ref=0\n  No advertising router\n');
});
