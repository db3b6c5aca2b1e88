import { test } from 'node:test';
import assert from 'node:assert/strict';
import { twoImages, type TestNet } from '../testing/testnet.js';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { ICMP6_TYPE, emitIcmp6Echo } from '../wire/icmp6.js';
import { writeMac } from '../wire/ethernet.js';
import { in6IsLinkLocal, in6LinkLocalFromMac, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { Icmp6Endpoint } from './icmp6.js';
import { in6AddAddress, in6Ifinfo, in6SelectSource } from './in6.js';
import { IN6_IFF } from './ip6_var.js';
import { ND6_LLINFO, nd6Entries, nd6Lookup } from './nd6.js';

function eth(im: Image): Ifnet {
  return [...im.ifnets.values()].find((i) => !i.loopback)!;
}

function addrs(im: Image, ifp: Ifnet): Array<{ a: string; flags: number }> {
  return in6Ifinfo(im, ifp).addrs.map((ia) => ({ a: ip6ToString(ia.addr), flags: ia.flags }));
}

/** Echo requests from `im` to `dst`; returns the replies seen (sequence numbers). */
function pinger(im: Image): { ep: Icmp6Endpoint; replies: number[]; errors: number[]; ping(dst: string, seq: number, zone?: Ifnet): string | 0 } {
  const ep = new Icmp6Endpoint(im);
  const replies: number[] = [];
  const errors: number[] = [];
  ep.onPacket((b, _ip, ic) => {
    if (b[ic] === ICMP6_TYPE.ECHO_REPLY) replies.push((b[ic + 6]! << 8) | b[ic + 7]!);
    else errors.push(b[ic]!);
  });
  const ping = (dst: string, seq: number, zone?: Ifnet): string | 0 => {
    const msg = new Uint8Array(16);
    emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, 0x77, seq, msg, 0);
    return ep.send(parseIp6(dst)!, msg, zone !== undefined ? { zone } : {});
  };
  return { ep, replies, errors, ping };
}

async function upAndSettled(): Promise<TestNet> {
  const net = twoImages();
  await net.run(2500, 100); // DAD of the link-local addresses (random delay up to 1 s, one probe, 1 s)
  return net;
}

test('lo0 has ::1 and fe80::1; an Ethernet interface gets its EUI-64 link-local address when it comes up, tentative until DAD ends', async () => {
  const net = twoImages();
  assert.deepEqual(addrs(net.a, net.a.lo0), [{ a: '::1', flags: 0 }, { a: 'fe80::1', flags: 0 }]);
  const ea = eth(net.a);
  const ll = ip6ToString(in6LinkLocalFromMac(ea.mac));
  assert.deepEqual(addrs(net.a, ea), [{ a: ll, flags: IN6_IFF.TENTATIVE }]);
  await net.run(2500, 100);
  assert.deepEqual(addrs(net.a, ea), [{ a: ll, flags: 0 }]);
  assert.ok(net.a.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]! >= 1, 'a DAD probe was sent');
  assert.equal(net.a.icmp6stat.dadcollision, 0);
});

test('echo to a link-local neighbour resolves it: REACHABLE at the sender, learnt from the solicitation at the responder', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  const eb = eth(net.b);
  const llb = ip6ToString(in6LinkLocalFromMac(eb.mac));
  const p = pinger(net.a);
  assert.equal(p.ping(llb, 1, ea), 0);
  await net.settle();
  assert.deepEqual(p.replies, [1]);
  const ea6 = in6LinkLocalFromMac(ea.mac);
  const eb6 = in6LinkLocalFromMac(eb.mac);
  assert.equal(nd6Lookup(net.a, ea, eb6, 0)?.state, ND6_LLINFO.REACHABLE);
  assert.equal(nd6Lookup(net.a, ea, eb6, 0)?.mac, eb.mac);
  // B learnt A from the solicitation (STALE), and sending its reply moved it to DELAY (RFC 4861 7.3.3).
  assert.equal(nd6Lookup(net.b, eb, ea6, 0)?.state, ND6_LLINFO.DELAY);
  assert.equal(net.b.icmp6stat.reflect, 1);
  // A link-local destination needs its zone.
  assert.equal(p.ping(llb, 2), 'EHOSTUNREACH');
  p.ep.close();
});

test('NUD: REACHABLE goes STALE, a packet moves it to DELAY, then PROBE with unicast solicitations, and an answer makes it REACHABLE', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  const eb = eth(net.b);
  const eb6 = in6LinkLocalFromMac(eb.mac);
  const p = pinger(net.a);
  p.ping(ip6ToString(eb6), 1, ea);
  await net.settle();
  const e = nd6Lookup(net.a, ea, eb6, 0)!;
  assert.equal(e.state, ND6_LLINFO.REACHABLE);
  await net.run(46_000, 1000); // ReachableTime is at most 1.5 x 30 s
  assert.equal(e.state, ND6_LLINFO.STALE);
  // B's reply to this echo goes through its own STALE entry for A, which it then probes too.
  const nsBefore = net.a.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]!;
  p.ping(ip6ToString(eb6), 2, ea);
  await net.settle();
  assert.equal(e.state, ND6_LLINFO.DELAY);
  await net.run(5100, 100);
  // DELAY ran out (nd6_delay 5 s): a unicast probe went out and B answered it (solicited: REACHABLE).
  assert.ok(net.a.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]! > nsBefore, 'probe sent');
  assert.equal(e.state, ND6_LLINFO.REACHABLE);
  p.ep.close();
});

test('resolution failure: three multicast solicitations, then the entry and its bounded hold queue go', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  in6AddAddress(net.a, ea, parseIp6('2001:db8:1::1')!, 64);
  await net.run(1500, 100);
  const p = pinger(net.a);
  for (let i = 0; i < 20; i++) assert.equal(p.ping('2001:db8:1::99', i), 0);
  const e = nd6Entries(net.a).find((x) => ip6ToString(x.addr) === '2001:db8:1::99')!;
  assert.equal(e.state, ND6_LLINFO.INCOMPLETE);
  assert.equal(e.hold.length, 16, 'nd6_maxqueuelen bounds the hold queue');
  assert.equal(net.a.icmp6stat.holddropped, 4);
  net.a.sysctl.set('net.inet6.icmp6.nd6_maxqueuelen', '2');
  p.ping('2001:db8:1::99', 21);
  assert.equal(e.hold.length, 2);
  const nsBefore = net.a.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]!;
  await net.run(3500, 100);
  assert.equal(net.a.icmp6.outhist[ICMP6_TYPE.NEIGHBOR_SOLICIT]! - nsBefore, 2, 'two more solicitations (nd6_mmaxtries 3 in all)');
  assert.equal(nd6Entries(net.a).some((x) => ip6ToString(x.addr) === '2001:db8:1::99'), false);
  assert.deepEqual(p.replies, []);
  p.ep.close();
});

test('DAD: an address another node already holds becomes duplicated, the holder keeps it', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  const eb = eth(net.b);
  const dup = parseIp6('2001:db8:1::5')!;
  in6AddAddress(net.a, ea, dup, 64);
  await net.run(1500, 100);
  assert.equal(in6Ifinfo(net.a, ea).addrs[1]!.flags, 0);
  const ib = in6AddAddress(net.b, eb, dup, 64);
  assert.equal(ib.flags, IN6_IFF.TENTATIVE);
  await net.run(1500, 100);
  assert.equal(ib.flags, IN6_IFF.DUPLICATED);
  assert.equal(net.b.icmp6stat.dadcollision, 1);
  assert.equal(in6Ifinfo(net.a, ea).addrs[1]!.flags, 0, 'the holder keeps its address');
  // The duplicated address does not source packets: B falls back to its link-local address.
  assert.equal(ip6ToString(in6SelectSource(net.b, eb, parseIp6('2001:db8:1::77')!, 0)!), ip6ToString(in6LinkLocalFromMac(eb.mac)));
});

test('with dad_count 0 an address is usable at once; link-local and global echo both answer', async () => {
  const net = await upAndSettled();
  net.a.sysctl.set('net.inet6.ip6.dad_count', '0');
  net.b.sysctl.set('net.inet6.ip6.dad_count', '0');
  in6AddAddress(net.a, eth(net.a), parseIp6('2001:db8:2::1')!, 64);
  in6AddAddress(net.b, eth(net.b), parseIp6('2001:db8:2::2')!, 64);
  const p = pinger(net.a);
  assert.equal(p.ping('2001:db8:2::2', 9), 0);
  await net.settle();
  assert.deepEqual(p.replies, [9]);
  // To our own address: through lo0.
  assert.equal(p.ping('2001:db8:2::1', 10), 0);
  await net.settle();
  assert.deepEqual(p.replies, [9, 10]);
  assert.ok(in6IsLinkLocal(in6LinkLocalFromMac(eth(net.a).mac)));
  p.ep.close();
});

test('invalid ND messages are counted and ignored (RFC 4861 7.1)', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  const eb = eth(net.b);
  const ll6 = in6LinkLocalFromMac(eb.mac);
  // A solicitation with hop limit 64 (not 255): it did not come from the link.
  const ep = new Icmp6Endpoint(net.a);
  const ns = new Uint8Array(24);
  ns[0] = ICMP6_TYPE.NEIGHBOR_SOLICIT;
  ns.set(ll6, 8);
  ep.send(ll6, ns, { zone: ea, hlim: 64 });
  await net.settle();
  assert.equal(net.b.icmp6stat.badns, 1);
  // An advertisement with S set to a multicast destination.
  const na = new Uint8Array(24);
  na[0] = ICMP6_TYPE.NEIGHBOR_ADVERT;
  na[4] = 0x40;
  na.set(in6LinkLocalFromMac(ea.mac), 8);
  ep.send(parseIp6('ff02::1')!, na, { zone: ea, hlim: 255 });
  await net.settle();
  assert.equal(net.b.icmp6stat.badna, 1);
  ep.close();
});

test('an unknown next header earns a parameter problem pointing at it; destroying an image leaves no ND timer', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  const eb = eth(net.b);
  const p = pinger(net.a);
  // An ICMPv6 endpoint cannot send other protocols; check the error path through B's input directly.
  const before = net.b.ip6stat.noproto;
  const frame = new Uint8Array(14 + 48);
  const a6 = in6LinkLocalFromMac(ea.mac);
  const b6 = in6LinkLocalFromMac(eb.mac);
  frame.set([0x60, 0, 0, 0, 0, 8, 253, 64], 14);
  frame.set(a6, 22);
  frame.set(b6, 38);
  writeMac(frame, 0, eb.mac);
  frame[12] = 0x86;
  frame[13] = 0xdd;
  net.b.etherInput(eb, frame, 0, frame.length, net.b.noOffload);
  await net.settle();
  assert.equal(net.b.ip6stat.noproto, before + 1);
  assert.deepEqual(p.errors, [ICMP6_TYPE.PARAM_PROB]);
  p.ep.close();
  net.reg.destroy('B');
  assert.equal(net.b.nd6.timer, null);
  assert.equal(net.b.nd6.size, 0);
});

test('ICMPv6 errors are limited to net.inet6.icmp6.errppslimit per second and the excess is counted', async () => {
  const net = await upAndSettled();
  const eb = eth(net.b);
  net.b.sysctl.set('net.inet6.icmp6.errppslimit', '5');
  const a6 = in6LinkLocalFromMac(eth(net.a).mac);
  const b6 = in6LinkLocalFromMac(eb.mac);
  const frame = new Uint8Array(14 + 48);
  writeMac(frame, 0, eb.mac);
  frame[12] = 0x86;
  frame[13] = 0xdd;
  frame.set([0x60, 0, 0, 0, 0, 8, 253, 64], 14);
  frame.set(a6, 22);
  frame.set(b6, 38);
  for (let i = 0; i < 20; i++) net.b.etherInput(eb, frame, 0, frame.length, net.b.noOffload);
  assert.equal(net.b.icmp6.outhist[ICMP6_TYPE.PARAM_PROB], 5);
  assert.equal(net.b.icmp6stat.toofreq, 15);
  await net.run(1100, 100);
  net.b.etherInput(eb, frame, 0, frame.length, net.b.noOffload);
  assert.equal(net.b.icmp6.outhist[ICMP6_TYPE.PARAM_PROB], 6, 'a new second, a new allowance');
  // Never an error about an ICMPv6 error (RFC 4443 2.4 (e)): destination options with an
  // option whose action asks for a parameter problem, then an ICMPv6 destination unreachable.
  await net.run(1100, 100);
  const err = new Uint8Array(14 + 40 + 16);
  err.set(frame.subarray(0, 54));
  err[18] = 0;
  err[19] = 16;
  err[20] = 60;
  err.set([58, 0, 0x80, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 54);
  const sent = net.b.icmp6.outhist[ICMP6_TYPE.PARAM_PROB];
  const before = net.b.icmp6stat.canterror;
  net.b.etherInput(eb, err, 0, err.length, net.b.noOffload);
  assert.equal(net.b.icmp6stat.canterror, before + 1);
  assert.equal(net.b.icmp6.outhist[ICMP6_TYPE.PARAM_PROB], sent);
  // The same option before a non-error upper layer earns the parameter problem (code 2).
  err[62] = 253;
  net.b.etherInput(eb, err, 0, err.length, net.b.noOffload);
  assert.equal(net.b.icmp6.outhist[ICMP6_TYPE.PARAM_PROB], sent! + 1);
});

test('moving an interface to another image takes its inet6 state along: purged here, a new link-local there', async () => {
  const net = await upAndSettled();
  const ea = eth(net.a);
  in6AddAddress(net.a, ea, parseIp6('2001:db8:3::1')!, 64);
  const p = pinger(net.a);
  p.ping(ip6ToString(in6LinkLocalFromMac(eth(net.b).mac)), 1, ea);
  await net.settle();
  assert.ok(nd6Entries(net.a).length > 0);
  const c = net.reg.create('C');
  net.reg.move(net.a, ea, c);
  assert.equal(net.a.in6.ifs.has(ea), false);
  assert.equal(nd6Entries(net.a).length, 0);
  assert.equal(net.a.route6.routes.some((r) => r.ifp === ea), false);
  assert.equal(net.a.in6.all.some((ia) => ia.ifp === ea), false);
  assert.deepEqual(addrs(c, ea), [{ a: ip6ToString(in6LinkLocalFromMac(ea.mac)), flags: IN6_IFF.TENTATIVE }]);
  p.ep.close();
  net.reg.destroy('C');
  assert.equal(c.nd6.timer, null);
});
