import { test } from 'node:test';
import assert from 'node:assert/strict';
import { twoImages, type TestNet } from '../testing/testnet.js';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { RTF } from '../netinet/route.js';
import { put16, put32 } from '../wire/bytes.js';
import { ICMP6_TYPE, ND_OPT, emitNdLla, emitNdMtu, emitNdPrefix } from '../wire/icmp6.js';
import { IN6ADDR_ANY, IN6ADDR_LINKLOCAL_ALLNODES, in6LinkLocalFromMac, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { Icmp6Endpoint } from './icmp6.js';
import { in6AddAddress, in6Ifinfo, in6SelectSource } from './in6.js';
import { IN6_IFF, ND6_IFF } from './ip6_var.js';
import { nd6LinkMtu, nd6RtrFlushPrefixes, nd6RtrFlushRouters, nd6SetAcceptRtadv } from './nd6_rtr.js';

function eth(im: Image): Ifnet {
  return [...im.ifnets.values()].find((i) => !i.loopback)!;
}

interface RaSpec {
  rltime?: number;
  prefixes?: Array<{ p: string; len?: number; vl: number; pl: number; flags?: number }>;
  mtu?: number;
  lla?: boolean;
  reachable?: number;
}

function ra(a: Image, s: RaSpec): Uint8Array {
  const pfx = s.prefixes ?? [];
  const msg = new Uint8Array(16 + 8 + (s.mtu !== undefined ? 8 : 0) + 32 * pfx.length);
  msg[0] = ICMP6_TYPE.ROUTER_ADVERT;
  msg[4] = 64;
  put16(msg, 6, s.rltime ?? 1800);
  put32(msg, 8, s.reachable ?? 0);
  let o = 16;
  o += emitNdLla(ND_OPT.SOURCE_LINKADDR, eth(a).mac, msg, o);
  if (s.mtu !== undefined) o += emitNdMtu(s.mtu, msg, o);
  for (const x of pfx) {
    const f = x.flags ?? 0xc0;
    o += emitNdPrefix({ prefixLen: x.len ?? 64, onLink: (f & 0x80) !== 0, autonomous: (f & 0x40) !== 0, validLifetime: x.vl, preferredLifetime: x.pl, prefix: parseIp6(x.p)! }, msg, o);
  }
  return msg;
}

/** A sends `msg` from its link-local address to all nodes with hop limit `hlim`. */
function sendFromA(n: TestNet, msg: Uint8Array, hlim = 255, src?: Uint8Array): void {
  const ep = new Icmp6Endpoint(n.a);
  const ea = eth(n.a);
  assert.equal(ep.send(IN6ADDR_ALLNODES(), msg, { zone: ea, hlim, src: src ?? in6LinkLocalFromMac(ea.mac) }), 0);
  ep.close();
}
const IN6ADDR_ALLNODES = (): Uint8Array => IN6ADDR_LINKLOCAL_ALLNODES;

async function net(): Promise<TestNet> {
  const n = twoImages();
  n.a.sysctl.set('net.inet6.ip6.forwarding', '1');
  nd6SetAcceptRtadv(n.b, eth(n.b), true);
  await n.run(2500, 100);
  return n;
}

function bAddrs(n: TestNet): Array<{ a: string; flags: number }> {
  return in6Ifinfo(n.b, eth(n.b)).addrs.map((ia) => ({ a: ip6ToString(ia.addr), flags: ia.flags }));
}

function slaacAddr(n: TestNet, prefix: string): string {
  const ll = in6LinkLocalFromMac(eth(n.b).mac);
  ll.set(parseIp6(prefix)!.subarray(0, 8), 0);
  return ip6ToString(ll);
}

test('an accepting host solicits routers when it comes up: 3 solicitations 4 s apart, stopped by an advertisement', async () => {
  const n = twoImages();
  n.a.sysctl.set('net.inet6.ip6.forwarding', '1'); // a router listens to ff02::2
  const eb = eth(n.b);
  n.b.setUp(eb, false);
  nd6SetAcceptRtadv(n.b, eb, true);
  assert.equal(n.b.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT], 0, 'not while down');
  n.b.setUp(eb, true);
  await n.run(20_000, 100);
  assert.equal(n.b.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT], 3, 'MAX_RTR_SOLICITATIONS');
  assert.equal(n.a.icmp6.inhist[ICMP6_TYPE.ROUTER_SOLICIT], 3);
  assert.equal(n.a.icmp6stat.badrs, 0, 'the solicitations were valid');
  // A non-accepting interface does not solicit.
  const before = n.a.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT];
  n.a.setUp(eth(n.a), false);
  n.a.setUp(eth(n.a), true);
  await n.run(10_000, 500);
  assert.equal(n.a.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT], before);
  // An advertisement stops the solicitations early.
  n.a.sysctl.set('net.inet6.ip6.forwarding', '1');
  n.b.setUp(eb, false);
  n.b.setUp(eb, true);
  await n.run(2600, 100);
  const sent = n.b.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT]!;
  assert.ok(sent >= 4, 'solicited again after coming up');
  sendFromA(n, ra(n.a, {}));
  await n.run(12_000, 500);
  assert.equal(n.b.icmp6.outhist[ICMP6_TYPE.ROUTER_SOLICIT], sent);
});

test('an advertisement gives a SLAAC address (EUI-64, DAD, autoconf), an on-link route, a default route via the router and the prefix list', async () => {
  const n = await net();
  in6AddAddress(n.a, eth(n.a), parseIp6('2001:db8:5::1')!, 64);
  sendFromA(n, ra(n.a, { prefixes: [{ p: '2001:db8:5::', vl: 2592000, pl: 604800 }], mtu: 1400 }));
  await n.settle();
  const want = slaacAddr(n, '2001:db8:5::');
  const got = bAddrs(n).find((x) => x.a === want);
  assert.ok(got !== undefined, `autoconfigured ${want}: ${JSON.stringify(bAddrs(n))}`);
  assert.equal(got.flags & IN6_IFF.AUTOCONF, IN6_IFF.AUTOCONF);
  assert.equal(got.flags & IN6_IFF.TENTATIVE, IN6_IFF.TENTATIVE, 'DAD first');
  await n.run(2500, 100);
  assert.equal(bAddrs(n).find((x) => x.a === want)!.flags, IN6_IFF.AUTOCONF);
  const def = n.b.route6.get(IN6ADDR_ANY, 0);
  assert.ok(def !== undefined, 'a default route');
  assert.equal(ip6ToString(def.gateway!), ip6ToString(in6LinkLocalFromMac(eth(n.a).mac)));
  assert.equal(def.flags, RTF.UP | RTF.GATEWAY);
  assert.ok(n.b.route6.get(parseIp6('2001:db8:5::')!, 64) !== undefined, 'the on-link prefix route');
  assert.equal(nd6LinkMtu(n.b, eth(n.b)), 1400, 'the MTU option');
  assert.equal(n.b.nd6rtr.routers.length, 1);
  assert.equal(n.b.nd6rtr.prefixes.length, 1);
  // B reaches an off-link address through the router: A answers for its own global address.
  in6AddAddress(n.a, n.a.lo0, parseIp6('2001:db8:99::1')!, 128);
  await n.run(1500, 100);
  assert.equal(ip6ToString(in6SelectSource(n.b, eth(n.b), parseIp6('2001:db8:99::1')!, 0)!), want);
  const ep = new Icmp6Endpoint(n.b);
  const replies: number[] = [];
  ep.onPacket((b, _ip, ic) => void (b[ic] === ICMP6_TYPE.ECHO_REPLY && replies.push(1)));
  const echo = new Uint8Array(16);
  echo[0] = ICMP6_TYPE.ECHO_REQUEST;
  assert.equal(ep.send(parseIp6('2001:db8:99::1')!, echo), 0);
  await n.run(200, 50);
  assert.deepEqual(replies, [1]);
  ep.close();
  // ndp -R and -P: the router list with its default route, the prefix list with its route and address.
  nd6RtrFlushRouters(n.b);
  assert.equal(n.b.route6.get(IN6ADDR_ANY, 0), undefined);
  nd6RtrFlushPrefixes(n.b);
  assert.equal(n.b.nd6rtr.prefixes.length, 0);
  assert.equal(bAddrs(n).find((x) => x.a === want), undefined);
});

test('lifetimes: the address is deprecated at its preferred lifetime and removed at its valid one; the router leaves with its lifetime', async () => {
  const n = await net();
  sendFromA(n, ra(n.a, { rltime: 20, prefixes: [{ p: '2001:db8:6::', vl: 30, pl: 10 }] }));
  await n.run(3000, 100);
  const want = slaacAddr(n, '2001:db8:6::');
  assert.equal(bAddrs(n).find((x) => x.a === want)?.flags, IN6_IFF.AUTOCONF);
  await n.run(8000, 500);
  assert.equal(bAddrs(n).find((x) => x.a === want)?.flags, IN6_IFF.AUTOCONF | IN6_IFF.DEPRECATED, 'deprecated after 10 s');
  assert.ok(n.b.route6.get(IN6ADDR_ANY, 0) !== undefined);
  await n.run(10_000, 500);
  assert.equal(n.b.route6.get(IN6ADDR_ANY, 0), undefined, 'the default route went with the router lifetime (20 s)');
  assert.equal(n.b.nd6rtr.routers.length, 0);
  await n.run(10_000, 500);
  assert.equal(bAddrs(n).find((x) => x.a === want), undefined, 'the address went at 30 s');
  assert.equal(n.b.route6.get(parseIp6('2001:db8:6::')!, 64), undefined, 'and its prefix route');
  assert.equal(n.b.nd6rtr.prefixes.length, 0);
});

test('RFC 4862 5.5.3 (e): an advertisement cannot cut a valid lifetime below two hours; router lifetime 0 removes the router at once', async () => {
  const n = await net();
  sendFromA(n, ra(n.a, { prefixes: [{ p: '2001:db8:7::', vl: 86400, pl: 3600 }] }));
  await n.run(100, 100);
  sendFromA(n, ra(n.a, { rltime: 0, prefixes: [{ p: '2001:db8:7::', vl: 60, pl: 30 }] }));
  await n.run(100, 100);
  const pr = n.b.nd6rtr.prefixes[0]!;
  assert.ok(Math.abs(pr.addrExpire - n.clock.now() - 7200_000) < 1000, 'two hours, not 60 s');
  assert.equal(n.b.route6.get(IN6ADDR_ANY, 0), undefined);
  assert.equal(n.b.nd6rtr.routers.length, 0);
});

test('hostile advertisements are dropped and counted, never thrown: truncated, zero-length option, option past the end, bad hop limit, global source', async () => {
  const n = await net();
  const good = ra(n.a, { prefixes: [{ p: '2001:db8:8::', vl: 100, pl: 50 }] });
  const cases: Uint8Array[] = [];
  cases.push(good.slice(0, 12)); // shorter than an RA
  const zero = good.slice();
  zero[17] = 0; // the first option has length 0
  cases.push(zero);
  const past = good.slice();
  past[17] = 40; // runs past the message
  cases.push(past);
  const trunc = good.slice(0, good.length - 4); // prefix option cut short
  cases.push(trunc);
  for (const c of cases) sendFromA(n, c);
  await n.settle();
  assert.equal(n.b.icmp6stat.badra, 4);
  sendFromA(n, good, 64);
  await n.settle();
  assert.equal(n.b.icmp6stat.badra, 5, 'hop limit not 255');
  in6AddAddress(n.a, eth(n.a), parseIp6('2001:db8:1::1')!, 64);
  await n.run(1500, 100);
  sendFromA(n, good, 255, parseIp6('2001:db8:1::1')!);
  await n.settle();
  assert.equal(n.b.icmp6stat.badra, 6, 'source not link-local');
  // Bad prefixes are skipped, not the whole message: length over 128, link-local, preferred > valid, not /64 for SLAAC.
  sendFromA(n, ra(n.a, { prefixes: [{ p: '2001:db8:9::', len: 200, vl: 100, pl: 50 }, { p: 'fe80::', vl: 100, pl: 50 }, { p: '2001:db8:a::', vl: 10, pl: 50 }, { p: '2001:db8:b::', len: 48, vl: 100, pl: 50 }] }));
  await n.run(100, 100);
  assert.equal(n.b.icmp6stat.badra, 9);
  assert.equal(bAddrs(n).length, 1, 'only the link-local address: nothing autoconfigured');
  assert.equal(n.b.nd6rtr.prefixes.length, 1, 'the /48 is on-link only');
  assert.equal(n.b.nd6rtr.routers.length, 1, 'the router itself was accepted');
  // MTU below the IPv6 minimum is ignored.
  sendFromA(n, ra(n.a, { mtu: 1000 }));
  await n.settle();
  assert.equal(nd6LinkMtu(n.b, eth(n.b)), 0);
  assert.equal(n.b.icmp6stat.badra, 10);
  // Random garbage after the header never throws.
  for (let i = 0; i < 200; i++) {
    const g = good.slice();
    for (let k = 16; k < g.length; k++) if (n.a.random() < 0.2) g[k] = Math.floor(n.a.random() * 256);
    sendFromA(n, g);
  }
  await n.run(1000, 100);
});

test('a host that does not accept advertisements, or a router, takes no default router from them', async () => {
  const n = await net();
  nd6SetAcceptRtadv(n.b, eth(n.b), false);
  assert.equal(in6Ifinfo(n.b, eth(n.b)).ndFlags & ND6_IFF.ACCEPT_RTADV, 0);
  sendFromA(n, ra(n.a, { prefixes: [{ p: '2001:db8:c::', vl: 100, pl: 50 }] }));
  await n.settle();
  assert.equal(n.b.nd6rtr.routers.length, 0);
  assert.equal(bAddrs(n).length, 1);
  nd6SetAcceptRtadv(n.b, eth(n.b), true);
  n.b.sysctl.set('net.inet6.ip6.forwarding', '1');
  sendFromA(n, ra(n.a, { prefixes: [{ p: '2001:db8:c::', vl: 100, pl: 50 }] }));
  await n.settle();
  assert.equal(n.b.nd6rtr.routers.length, 0, 'FreeBSD: a router ignores the router lifetime (rfc6204w3=0)');
  assert.equal(n.b.route6.get(IN6ADDR_ANY, 0), undefined);
  assert.equal(n.b.nd6rtr.prefixes.length, 1, 'but learns the prefix');
});

test('the default of the per-interface flag is net.inet6.ip6.accept_rtadv (0); destroying an image leaves no timer', async () => {
  const n = twoImages();
  assert.equal(in6Ifinfo(n.a, eth(n.a)).ndFlags & ND6_IFF.ACCEPT_RTADV, 0);
  n.b.sysctl.set('net.inet6.ip6.accept_rtadv', '1');
  const [x] = n.reg.createEpair(n.b);
  assert.equal(in6Ifinfo(n.b, x).ndFlags & ND6_IFF.ACCEPT_RTADV, ND6_IFF.ACCEPT_RTADV);
  n.b.setUp(x, true);
  n.reg.destroy('B');
  await n.run(20_000, 1000);
  assert.equal(n.b.nd6rtr.timer, null);
});

test('an RA flood from many routers with many prefixes is bounded: 16 default routers and 16 prefixes per interface (maxifdefrouters, maxifprefixes)', async () => {
  const n = await net();
  const srcs = Array.from({ length: 40 }, (_, i) => parseIp6(`fe80::${(0x1000 + i).toString(16)}`)!);
  for (const s of srcs) in6AddAddress(n.a, eth(n.a), s, 64);
  await n.run(3000, 100);
  for (let i = 0; i < 40; i++) {
    const src = srcs[i]!;
    const prefixes = Array.from({ length: 8 }, (_, j) => ({ p: `2001:db8:${i.toString(16)}:${j.toString(16)}::`, vl: 86400, pl: 3600 }));
    sendFromA(n, ra(n.a, { prefixes }), 255, src);
  }
  await n.run(3000, 100);
  assert.equal(n.b.nd6rtr.routers.length, 16);
  assert.equal(n.b.nd6rtr.prefixes.length, 16);
  assert.ok(in6Ifinfo(n.b, eth(n.b)).addrs.length <= 16 + 2, `addresses bounded (${in6Ifinfo(n.b, eth(n.b)).addrs.length})`);
  assert.ok(n.b.route6.routes.length < 40, `routes bounded (${n.b.route6.routes.length})`);
  for (const pr of n.b.nd6rtr.prefixes) assert.ok(pr.routers.length <= 16);
});
