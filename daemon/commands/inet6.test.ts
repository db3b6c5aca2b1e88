import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../lib/image.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import { commandHandles } from '../../lib/control/index.js';
import type { Command, CommandContext } from '../command.js';
import { allCommands } from './index.js';
import { formatRow, sec2str } from './ndp.js';
import { applyConfig, checkLoadable, exportConfig } from '../../lib/config.js';

const cmds = allCommands();

async function run(n: TestNet, im: Image, argv: string[], o: { json?: boolean; settleMs?: number } = {}): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json: o.json ?? false,
    pid: 7,
  };
  const cmd = cmds.get(argv[0]!) as Command;
  const p = cmd(ctx);
  let status: number | undefined;
  void p.then((s) => (status = s));
  for (let t = 0; status === undefined && t < (o.settleMs ?? 20_000); t += 100) await n.run(100, 100);
  await n.settle();
  assert.notEqual(status, undefined, `${argv.join(' ')} ended`);
  return { status: status!, out: out.join(''), err: err.join('') };
}

function ethName(im: Image): string {
  return [...im.ifnets.values()].find((i) => !i.loopback)!.name;
}

test('ifconfig lists inet6 lines and nd6 options as FreeBSD 14 prints them, and adds and removes inet6 addresses', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  const lo = await run(n, n.a, ['ifconfig', 'lo0']);
  assert.match(lo.out, /\tinet 127\.0\.0\.1 netmask 0xff000000\n\tinet6 ::1 prefixlen 128\n\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x[0-9a-f]+\n\tgroups: lo\n\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n$/);
  const ea = ethName(n.a);
  assert.equal((await run(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8::1/64'])).status, 0);
  const shown = await run(n, n.a, ['ifconfig', ea]);
  assert.match(shown.out, new RegExp(`\\tinet6 fe80::[0-9a-f:]+%${ea} prefixlen 64 scopeid 0x[0-9a-f]+\\n\\tinet6 2001:db8::1 prefixlen 64 tentative\\n`));
  await n.run(1500, 100);
  assert.match((await run(n, n.a, ['ifconfig', ea])).out, /\tinet6 2001:db8::1 prefixlen 64\n/);
  const js = await run(n, n.a, ['ifconfig', ea], { json: true });
  const doc = JSON.parse(js.out) as { interfaces: Array<{ inet6: Array<{ address: string; prefixLen: number; flags: string[] }> }> };
  assert.deepEqual(doc.interfaces[0]!.inet6[1], { address: '2001:db8::1', prefixLen: 64, flags: [], auto: false });
  assert.equal((await run(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8::1', '-alias'])).status, 0);
  assert.doesNotMatch((await run(n, n.a, ['ifconfig', ea])).out, /2001:db8::1/);
  const bad = await run(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8::zz/64']);
  assert.equal(bad.status, 64);
});

test('ping6 to a neighbour prints FreeBSD ping6 lines; ndp -a lists it, ndp -d deletes it', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  const eb = ethName(n.b);
  await run(n, n.a, ['ifconfig', ethName(n.a), 'inet6', '2001:db8::1/64']);
  await run(n, n.b, ['ifconfig', eb, 'inet6', '2001:db8::2/64']);
  await n.run(1500, 100);
  const p = await run(n, n.a, ['ping6', '-c', '2', '2001:db8::2']);
  assert.equal(p.status, 0, p.err);
  assert.match(p.out, /^PING6\(56=40\+8\+8 bytes\) 2001:db8::1 --> 2001:db8::2\n16 bytes from 2001:db8::2, icmp_seq=0 hlim=64 time=\d+\.\d{3} ms\n16 bytes from 2001:db8::2, icmp_seq=1 hlim=64 time=/);
  assert.match(p.out, /\n--- 2001:db8::2 ping6 statistics ---\n2 packets transmitted, 2 packets received, 0\.0% packet loss\nround-trip min\/avg\/max\/std-dev = /);
  // ping -6 is the same thing; a link-local target takes its zone.
  const llb = (await run(n, n.b, ['ifconfig', eb], { json: true })).out;
  const ll = (JSON.parse(llb) as { interfaces: Array<{ inet6: Array<{ address: string }> }> }).interfaces[0]!.inet6[0]!.address.split('%')[0]!;
  const p6 = await run(n, n.a, ['ping', '-6', '-c', '1', `${ll}%${ethName(n.a)}`]);
  assert.equal(p6.status, 0, p6.err);
  assert.match(p6.out, new RegExp(`16 bytes from ${ll}%${ethName(n.a)}, icmp_seq=0 hlim=64`));

  const nd = await run(n, n.a, ['ndp', '-a']);
  assert.match(nd.out, /^Neighbor {29}Linklayer Address  Netif Expire {4}S Flags\n/);
  assert.match(nd.out, new RegExp(`\\n2001:db8::2 {26}[0-9a-f:]{17} +${eb === ethName(n.a) ? eb : '[a-z0-9]+'} \\d+s +R \\n`));
  assert.match(nd.out, /\n2001:db8::1 {26}[0-9a-f:]{17} +\S+ permanent R R\n/);
  const ndj = JSON.parse((await run(n, n.a, ['ndp', '-a'], { json: true })).out) as { ndp: { neighborCache: Array<{ address: string; neighborState: string }> } };
  assert.ok(ndj.ndp.neighborCache.some((r) => r.address === '2001:db8::2' && r.neighborState === 'R'));
  const del = await run(n, n.a, ['ndp', '-d', '2001:db8::2']);
  assert.equal(del.out, '2001:db8::2 (2001:db8::2) deleted\n');
  assert.doesNotMatch((await run(n, n.a, ['ndp', '-a'])).out, /2001:db8::2 /);
  assert.equal((await run(n, n.a, ['ndp', '-s', '2001:db8::9', '02:00:00:00:00:09'])).status, 0);
  assert.match((await run(n, n.a, ['ndp', '2001:db8::9'])).out, /2001:db8::9 +02:00:00:00:00:09 +\S+ permanent R \n/);
});

test('ping6 to nobody: statistics with 100% loss and exit status 2', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  await run(n, n.a, ['ifconfig', ethName(n.a), 'inet6', '2001:db8::1/64']);
  await n.run(1500, 100);
  const p = await run(n, n.a, ['ping6', '-c', '1', '-W', '2000', '2001:db8::77'], { settleMs: 10_000 });
  assert.equal(p.status, 2);
  assert.match(p.out, /1 packets transmitted, 0 packets received, 100\.0% packet loss\n$/);
  const none = await run(n, n.a, ['ping6', '-c', '1', '2001:db9::1']);
  assert.match(none.err, /ping6: sendmsg: No route to host/);
});

test('sysctl shows net.inet6 tunables with FreeBSD defaults', async () => {
  const n = twoImages();
  const s = await run(n, n.a, ['sysctl', 'net.inet6.ip6.forwarding', 'net.inet6.ip6.hlim', 'net.inet6.ip6.dad_count', 'net.inet6.icmp6.nd6_maxqueuelen', 'net.inet6.icmp6.errppslimit']);
  assert.equal(s.out, 'net.inet6.ip6.forwarding: 0\nnet.inet6.ip6.hlim: 64\nnet.inet6.ip6.dad_count: 1\nnet.inet6.icmp6.nd6_maxqueuelen: 16\nnet.inet6.icmp6.errppslimit: 100\n');
});

test("ndp's columns and sec2str follow FreeBSD's", () => {
  assert.equal(sec2str(86399), '23h59m59s');
  assert.equal(sec2str(61), '1m1s');
  assert.equal(sec2str(3600), '1h0m0s');
  assert.equal(sec2str(5), '5s');
  const row = formatRow({ address: 'fe80::5a9c:fcff:fe00:1%tap0', mac: '58:9c:fc:00:00:01', interface: 'tap0', expires: 30, state: 'S', router: false, own: false, static: false });
  assert.equal(row, 'fe80::5a9c:fcff:fe00:1%tap0          58:9c:fc:00:00:01   tap0 30s       S \n');
});

test('inet6 addresses and static IPv6 routes are saved with the configuration (not the MAC-made link-local) and restored; older files load unchanged', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  const ea = ethName(n.a);
  await run(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8:5::1/64']);
  await run(n, n.a, ['ifconfig', ea, 'inet6', 'fe80::99/64']);
  await run(n, n.a, ['route', '-6', 'add', '2001:db8:77::/48', '2001:db8:5::9']);
  await run(n, n.a, ['route', '-6', 'add', 'default', `fe80::1%${ea}`]);
  const doc = exportConfig(n.reg);
  assert.deepEqual(doc.images.find((i) => i.name === 'A')!.routes6, [
    { dst: '2001:db8:77::/48', gateway: '2001:db8:5::9', interface: ea },
    { dst: '::/0', gateway: `fe80::1%${ea}`, interface: ea },
  ]);
  const ia = doc.images.find((i) => i.name === 'A')!.interfaces.find((f) => f.name === ea)!;
  assert.deepEqual(ia.inet6, ['2001:db8:5::1/64', 'fe80::99/64']);
  assert.equal(doc.images.find((i) => i.name === 'B')!.interfaces[0]!.inet6, undefined);
  // Checked whole, loaded into a fresh daemon.
  const fresh = twoImages();
  const checked = checkLoadable(JSON.parse(JSON.stringify(doc)));
  const report = applyConfig(fresh.reg, checked);
  assert.deepEqual(report.errors, []);
  const back = (await run(fresh, fresh.a, ['ifconfig', ea])).out;
  assert.match(back, /\tinet6 2001:db8:5::1 prefixlen 64/);
  assert.match(back, new RegExp(`\\tinet6 fe80::99%${ea} prefixlen 64`));
  assert.match((await run(fresh, fresh.a, ['netstat', '-rn', '-6'])).out, /\n2001:db8:77::\/48 +2001:db8:5::9 +UGS /);
  assert.match((await run(fresh, fresh.a, ['route', '-6', 'get', '2001:db9::1'])).out, /gateway: fe80::1%/);
  assert.throws(() => checkLoadable({ ...doc, images: [{ ...doc.images[0], interfaces: [{ ...ia, inet6: ['2001:db8::1'] }] }] }), /inet6\[0\]: "2001:db8::1" is not an IPv6 address with a prefix length/);
});

test('route -6 add, get and delete; netstat -rn -6 shows the Internet6 table', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  const ea = ethName(n.a);
  await run(n, n.a, ['ifconfig', ea, 'inet6', '2001:db8:1::1/64']);
  const add = await run(n, n.a, ['route', '-6', 'add', '2001:db8:9::/48', '2001:db8:1::2']);
  assert.equal(add.out, 'add net 2001:db8:9::/48: gateway 2001:db8:1::2\n');
  const dflt = await run(n, n.a, ['route', '-6', 'add', 'default', `fe80::1%${ea}`]);
  assert.equal(dflt.out, `add net default: gateway fe80::1%${ea}\n`);
  const dup = await run(n, n.a, ['route', '-6', 'add', '2001:db8:9::/48', '2001:db8:1::3']);
  assert.equal(dup.err, 'route: add net 2001:db8:9::/48: gateway 2001:db8:1::3 fib 0: route already in table\n');
  const off = await run(n, n.a, ['route', '-6', 'add', '2001:db8:8::/48', '2001:db8:7::1']);
  assert.match(off.err, /is not on a connected prefix/);
  const get = await run(n, n.a, ['route', '-6', 'get', '2001:db8:9::5']);
  assert.match(get.out, /^   route to: 2001:db8:9::5\ndestination: 2001:db8:9::\n       mask: ffff:ffff:ffff::\n    gateway: 2001:db8:1::2\n        fib: 0\n  interface: epair0a\n      flags: <UP,GATEWAY,DONE,STATIC>\n/);
  assert.match((await run(n, n.a, ['route', '-6', 'get', '2001:db9::1'])).out, /destination: default\n       mask: default\n    gateway: fe80::1%epair0a\n/);
  const ns = await run(n, n.a, ['netstat', '-rn', '-6']);
  assert.match(ns.out, /^Routing tables\n\nInternet6:\nDestination {23}Gateway {23}Flags {9}Netif Expire\n/);
  assert.match(ns.out, /\ndefault {27}fe80::1%epair0a {15}UGS {9}epair0a\n/);
  assert.match(ns.out, /\n2001:db8:9::\/48 {19}2001:db8:1::2 {17}UGS {9}epair0a\n/);
  assert.match(ns.out, /\n2001:db8:1::\/64 {19}link#\d+ {24}U {11}epair0a\n/);
  assert.doesNotMatch(ns.out, /Internet:/);
  assert.equal((await run(n, n.a, ['route', '-6', 'delete', '2001:db8:9::/48'])).out, 'delete net 2001:db8:9::/48\n');
  assert.match((await run(n, n.a, ['route', '-6', 'delete', '2001:db8:1::/64'])).err, /is the prefix of an address/);
  assert.equal((await run(n, n.a, ['route', '-6', 'get', '2001:db8:9::5'])).out.includes('2001:db8:1::2'), false);
});

test('netstat -s -p ip6 and -p icmp6 print the IPv6 counters and ICMPv6 histograms', async () => {
  const n = twoImages();
  await n.run(2500, 100);
  await run(n, n.a, ['ifconfig', ethName(n.a), 'inet6', '2001:db8::1/64']);
  await run(n, n.b, ['ifconfig', ethName(n.b), 'inet6', '2001:db8::2/64']);
  await n.run(1500, 100);
  await run(n, n.a, ['ping6', '-c', '1', '2001:db8::2']);
  const ip6 = (await run(n, n.b, ['netstat', '-s', '-p', 'ip6'])).out;
  assert.match(ip6, /^ip6:\n\t\d+ total packets received\n/);
  assert.match(ip6, /\n\t\d+ packets for this host\n/);
  const icmp6 = (await run(n, n.b, ['netstat', '-ss', '-p', 'icmp6'])).out;
  assert.match(icmp6, /^icmp6:\n\tOutput histogram:\n(\t\t[a-z ]+: \d+\n)*\t\techo reply: 1\n/);
  assert.match(icmp6, /\tInput histogram:\n\t\techo: 1\n/);
  assert.match(icmp6, /\t1 message response generated\n/);
  const js = JSON.parse((await run(n, n.b, ['netstat', '-s', '-p', 'icmp6'], { json: true })).out) as { icmp6: { reflect: number; inputHistogram: Record<string, number> } };
  assert.equal(js.icmp6.reflect, 1);
  assert.equal(js.icmp6.inputHistogram['echo'], 1);
  const both = (await run(n, n.b, ['netstat', '-s', '-6'])).out;
  assert.deepEqual(both.split('\n').filter((l) => /^[a-z0-9]+:$/.test(l)), ['ip6:', 'icmp6:']);
});
