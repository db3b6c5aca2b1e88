/**
 * NETLINK_ROUTE and SIOCGIF* answered from a real image (no root): golden
 * bytes written from the kernel's uapi headers, a round trip through a small
 * decoder, the attribute order Linux 6.18 emitted for the same setup in a
 * namespace, hostile requests, and a dump too large for one datagram.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageControl } from '../../lib/control/index.js';
import { Registry } from '../../lib/image.js';
import { silentLogger } from '../../lib/log.js';
import { ManualPlatform } from '../../lib/platform.js';
import { A_ADDR, B_ADDR, twoImages } from '../../lib/testing/testnet.js';
import { seeded } from '../../lib/testing/testbed.js';
import { parseMac } from '../../lib/wire/ethernet.js';
import { parseIp4 } from '../../lib/wire/ipv4.js';
import { ip6ToString, parseIp6 } from '../../lib/wire/ipv6_addr.js';
import { ifconfAnswer, ifreqAnswer, netlinkAnswer } from './rtnetlink.js';

const ip = (s: string): number => parseIp4(s)!;
const PID = 4242;
const SEQ = 7;

// ---- a small netlink decoder, independent of the code under test ----

interface Msg {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
  body: Buffer;
}

function messages(d: Uint8Array): Msg[] {
  const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  const out: Msg[] = [];
  let off = 0;
  while (off < b.length) {
    assert.ok(off + 16 <= b.length, 'a whole header');
    const len = b.readUInt32LE(off);
    assert.ok(len >= 16 && off + len <= b.length, `message length ${len} fits the datagram`);
    out.push({ len, type: b.readUInt16LE(off + 4), flags: b.readUInt16LE(off + 6), seq: b.readUInt32LE(off + 8), pid: b.readUInt32LE(off + 12), body: b.subarray(off + 16, off + len) });
    off += (len + 3) & ~3;
  }
  assert.equal(off, b.length, 'no trailing bytes');
  return out;
}

function attrs(body: Buffer, hdr: number): Array<{ type: number; v: Buffer }> {
  const out: Array<{ type: number; v: Buffer }> = [];
  let a = hdr;
  while (a < body.length) {
    const len = body.readUInt16LE(a);
    assert.ok(len >= 4 && a + len <= body.length, 'attribute fits');
    out.push({ type: body.readUInt16LE(a + 2) & 0x3fff, v: body.subarray(a + 4, a + len) });
    a += (len + 3) & ~3;
  }
  return out;
}

const attr = (m: Msg, hdr: number, type: number): Buffer | undefined => attrs(m.body, hdr).find((x) => x.type === type)?.v;
const ipOf = (v: Buffer | undefined): string => (v === undefined ? '-' : [...v].join('.'));

function request(type: number, flags: number, body: Uint8Array, seq = SEQ): Buffer {
  const b = Buffer.alloc(16 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  Buffer.from(body).copy(b, 16);
  return b;
}

const DUMP = 0x301; // NLM_F_REQUEST | NLM_F_DUMP
const dumpReq = (type: number, family = 0, hdr = 16): Buffer => {
  const body = Buffer.alloc(hdr);
  body[0] = family;
  return request(type, DUMP, body);
};

/** Every message of a dump; asserts the NLMSG_DONE ending. */
function dumpAll(ctl: ImageControl, type: number, family = 0, hdr = 16): Msg[] {
  const ds = netlinkAnswer(ctl, dumpReq(type, family, hdr), PID);
  const ms = ds.flatMap(messages);
  const last = ms.pop()!;
  assert.equal(last.type, 3, 'ends with NLMSG_DONE');
  assert.equal(last.len, 20);
  assert.equal(last.body.readInt32LE(0), 0);
  for (const m of [...ms, last]) {
    assert.equal(m.seq, SEQ);
    assert.equal(m.pid, PID);
    assert.equal(m.flags & 2, 2, 'NLM_F_MULTI');
  }
  return ms;
}

function errorOf(d: Uint8Array): number {
  const [m] = messages(d);
  assert.equal(m!.type, 2, 'NLMSG_ERROR');
  return m!.body.readInt32LE(0);
}

// ---- one image set up like the namespace the kernel answers were captured in ----
//   ip link add vlnx type veth peer name vlny; ip link set vlnx up
//   ip addr add 10.9.0.1/24 dev vlnx; ip addr add 10.9.0.7/24 dev vlnx
//   ip route add default via 10.9.0.254; ip route add blackhole 192.168.0.0/16
//   ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev vlnx

function image(): { ctl: ImageControl; ifname: string; index: number; lo: number } {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const ctl = new ImageControl(reg.create('R'), reg);
  const ifname = ctl.interfaces.create('epair');
  ctl.interfaces.configure(ifname, [{ kind: 'up' }]);
  ctl.interfaces.addAddress(ifname, ip('10.9.0.1'), 24, { alias: false });
  ctl.interfaces.addAddress(ifname, ip('10.9.0.7'), 24, { alias: true });
  ctl.routes.add({ dst: 0, prefixLen: 0, target: { gateway: ip('10.9.0.254') }, flags: 0 });
  ctl.routes.add({ dst: ip('192.168.0.0'), prefixLen: 16, target: { none: true }, flags: 0x1000 });
  ctl.neighbours.set(ip('10.9.0.5'), parseMac('02:00:00:00:00:05')!, { temp: false, replace: false });
  return { ctl, ifname, index: ctl.interfaces.get(ifname).index, lo: ctl.interfaces.get('lo0').index };
}

const hex = (...parts: string[]): string => parts.join('').replace(/\s+/g, '');
const le32 = (n: number): string => Buffer.from(new Uint32Array([n]).buffer).toString('hex');
const zeros = (n: number): string => '00'.repeat(n);

// ---- golden bytes ----

test('golden: the primary address of an interface is RTM_NEWADDR as inet_fill_ifaddr lays it out', () => {
  const { ctl, index } = image();
  const m = dumpAll(ctl, 22, 2, 8).find((x) => x.body[1] === 24)!;
  const want = hex(
    '58000000 1400 0200', le32(SEQ), le32(PID), // nlmsghdr: len 88, RTM_NEWADDR, NLM_F_MULTI
    '02 18 80 00', le32(index), //                  ifaddrmsg: AF_INET, /24, IFA_F_PERMANENT, RT_SCOPE_UNIVERSE
    '0800 0100 0a090001', //                        IFA_ADDRESS
    '0800 0200 0a090001', //                        IFA_LOCAL
    '0800 0400 0a0900ff', //                        IFA_BROADCAST
    '0c00 0300', Buffer.from('epair0a\0').toString('hex'), // IFA_LABEL
    '0800 0800 80000000', //                        IFA_FLAGS
    '1400 0600 ffffffff ffffffff 00000000 00000000', // IFA_CACHEINFO: forever
  );
  const got = Buffer.concat([Buffer.from(le32(m.len) + m.type.toString(16).padStart(2, '0') + '00' + '0200' + le32(m.seq) + le32(m.pid), 'hex'), m.body]);
  assert.equal(got.toString('hex'), want);
});

test('golden: the default route is RTM_NEWROUTE of table main, proto boot, via its gateway', () => {
  const { ctl, index } = image();
  const ds = netlinkAnswer(ctl, dumpReq(26, 2, 12), PID);
  const want = hex(
    '34000000 1800 0200', le32(SEQ), le32(PID), // len 52, RTM_NEWROUTE, NLM_F_MULTI
    '02 00 00 00 fe 03 00 01 00000000', //         rtmsg: AF_INET, /0, table main, RTPROT_BOOT, universe, unicast
    '0800 0f00 fe000000', //                       RTA_TABLE
    '0800 0500 0a0900fe', //                       RTA_GATEWAY
    '0800 0400', le32(index), //                   RTA_OIF
  );
  // The default route sorts first.
  assert.equal(Buffer.from(ds[0]!).subarray(0, 52).toString('hex'), want);
});

test('golden: a permanent ARP entry is RTM_NEWNEIGH in state NUD_PERMANENT', () => {
  const { ctl, index } = image();
  const ds = netlinkAnswer(ctl, dumpReq(30, 2, 12), PID);
  const want = hex(
    '4c000000 1c00 0200', le32(SEQ), le32(PID), // len 76, RTM_NEWNEIGH, NLM_F_MULTI
    '02 00 0000', le32(index), '8000 00 01', //    ndmsg: AF_INET, ifindex, NUD_PERMANENT, flags 0, RTN_UNICAST
    '0800 0100 0a090005', //                       NDA_DST
    '0a00 0200 020000000005 0000', //              NDA_LLADDR (padded)
    '0800 0400 00000000', //                       NDA_PROBES
    '1400 0300', zeros(16), //                     NDA_CACHEINFO
  );
  assert.equal(Buffer.from(ds[0]!).subarray(0, 76).toString('hex'), want);
});

test('golden: lo0 is RTM_NEWLINK of type ARPHRD_LOOPBACK with the attributes rtnl_fill_ifinfo puts first', () => {
  const { ctl, lo } = image();
  const m = dumpAll(ctl, 18).find((x) => x.body.readInt32LE(4) === lo)!;
  const attr8 = (t: number, v: string): string => hex('0800', Buffer.from([t, 0]).toString('hex'), v);
  const attr1 = (t: number, v: number): string => hex('0500', Buffer.from([t, 0, v, 0, 0, 0]).toString('hex'));
  const want = hex(
    '00 00 0403', le32(lo), le32(0x1 | 0x8 | 0x40 | 0x1000 | 0x10000), '00000000', // ifinfomsg: ARPHRD_LOOPBACK, UP LOOPBACK RUNNING MULTICAST LOWER_UP
    '0800 0300', Buffer.from('lo0\0').toString('hex'), //     IFLA_IFNAME
    attr8(13, le32(1000)), //                                 IFLA_TXQLEN
    attr1(16, 0), //                                          IFLA_OPERSTATE: UNKNOWN, as Linux's lo
    attr1(17, 0), //                                          IFLA_LINKMODE
    attr8(4, le32(16384)), //                                 IFLA_MTU
    attr8(50, le32(0)), attr8(51, le32(0)), //                IFLA_MIN_MTU, IFLA_MAX_MTU
    attr8(27, le32(0)), attr8(30, le32(0)), attr8(31, le32(1)), // GROUP, PROMISCUITY, NUM_TX_QUEUES
    attr8(40, le32(65535)), attr8(41, le32(65536)), attr8(32, le32(1)), // GSO_MAX_SEGS, GSO_MAX_SIZE, NUM_RX_QUEUES
    attr1(33, 1), attr8(35, le32(0)), attr1(39, 0), //        CARRIER, CARRIER_CHANGES, PROTO_DOWN
    '0a00 0100', zeros(6), '0000', '0a00 0200', zeros(6), '0000', // IFLA_ADDRESS, IFLA_BROADCAST
    'cc00 1700', zeros(200), //                               IFLA_STATS64: 25 u64
    '6400 0700', zeros(96), //                                IFLA_STATS: 24 u32
    '0c00 0600', Buffer.from('noqueue\0').toString('hex'), // IFLA_QDISC
  );
  assert.equal(m.body.toString('hex'), want);
  assert.equal(m.len, 16 + want.length / 2);
});

// ---- structure against what the kernel emitted ----

// Attribute types in order, from Linux 6.18's answers to the same dumps in a
// namespace set up as image() is (see the comment there; captured with a
// python AF_NETLINK socket).
const KERNEL = {
  link: [3, 13, 16, 17, 67, 4, 50, 51, 27, 30, 61, 31, 40, 41, 58, 63, 64, 59, 60, 66, 32, 33, 35, 47, 48, 68, 69, 39, 1, 2, 23, 7, 43, 18, 5, 6, 26, 14],
  /** `ip addr add` without `brd` gives no IFA_BROADCAST (4); the image always has one, in this place. */
  addr: [1, 2, 3, 8, 6],
  routeGateway: [15, 5, 4],
  routeConnected: [15, 1, 7, 4],
  routeBlackhole: [15, 1],
  routeLocal: [15, 1, 7, 4],
  neigh: [1, 2, 4, 3],
  /** rtmsg of the same routes: family dst_len src_len tos table protocol scope type. */
  rtmsgConnected: '02180000fe02fd01',
  rtmsgBlackhole: '02100000fe030006',
  rtmsgLocal: '02200000ff02fe02',
};

function isSubsequence(sub: number[], of: number[]): boolean {
  let i = 0;
  for (const x of of) if (x === sub[i]) i++;
  return i === sub.length;
}

test('structure: attributes come in the order the kernel emits them for the same setup', () => {
  const { ctl } = image();
  for (const m of dumpAll(ctl, 18)) {
    const types = attrs(m.body, 16).map((a) => a.type);
    assert.ok(isSubsequence(types, KERNEL.link), `link attributes ${types} in kernel order`);
  }
  for (const m of dumpAll(ctl, 22, 2)) assert.deepEqual(attrs(m.body, 8).map((a) => a.type).filter((t) => t !== 4), KERNEL.addr);
  const routes = dumpAll(ctl, 26, 2);
  const byDst = (len: number, dst: string): Msg => routes.find((m) => m.body[1] === len && (len === 0 || ipOf(attr(m, 12, 1)) === dst))!;
  const types = (m: Msg): number[] => attrs(m.body, 12).map((a) => a.type);
  assert.deepEqual(types(byDst(0, '')), KERNEL.routeGateway);
  assert.deepEqual(types(byDst(24, '10.9.0.0')), KERNEL.routeConnected);
  assert.equal(byDst(24, '10.9.0.0').body.subarray(0, 8).toString('hex'), KERNEL.rtmsgConnected);
  assert.deepEqual(types(byDst(16, '192.168.0.0')), KERNEL.routeBlackhole);
  assert.equal(byDst(16, '192.168.0.0').body.subarray(0, 8).toString('hex'), KERNEL.rtmsgBlackhole);
  const local = byDst(32, '10.9.0.7');
  assert.deepEqual(types(local), KERNEL.routeLocal);
  assert.equal(local.body.subarray(0, 8).toString('hex'), KERNEL.rtmsgLocal);
  assert.equal(ipOf(attr(local, 12, 7)), '10.9.0.1', 'a secondary address has the primary as its preferred source');
  for (const m of dumpAll(ctl, 30)) assert.deepEqual(attrs(m.body, 12).map((a) => a.type), KERNEL.neigh);
});

// ---- IPv6, against what Linux 6.x emitted for the same setup in a namespace ----
//   ip link add v0 type veth peer name v1; ip link set v0 up
//   ip addr add 2001:db8::1/64 dev v0 nodad; ip -6 route add default via 2001:db8::2 dev v0
//   ip -6 neigh add 2001:db8::2 lladdr 02:00:00:00:00:02 dev v0 nud permanent

function image6(): { ctl: ImageControl; ifname: string; index: number; lo: number } {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const ctl = new ImageControl(reg.create('R'), reg);
  ctl.sysctl.set('net.inet6.ip6.dad_count', '0'); // as `nodad`: usable at once
  const ifname = ctl.interfaces.create('epair');
  ctl.interfaces.configure(ifname, [{ kind: 'up' }]);
  ctl.inet6.addAddress(ifname, parseIp6('2001:db8::1')!, 64);
  ctl.inet6.addRoute(new Uint8Array(16), 0, { gateway: parseIp6('2001:db8::2')! });
  ctl.inet6.setNeighbour(parseIp6('2001:db8::2')!, parseMac('02:00:00:00:00:02')!, ifname);
  return { ctl, ifname, index: ctl.interfaces.get(ifname).index, lo: ctl.interfaces.get('lo0').index };
}

const KERNEL6 = {
  /** ifaddrmsg and attributes: a configured global address; a link-local address the kernel made (IFA_PROTO 3). */
  addrGlobal: { head: '0a408000', types: [1, 6, 8] },
  addrLinkLocal: { head: '0a4080fd', types: [1, 6, 8, 11] },
  /** rtmsg (family dst_len src_len tos table protocol scope type) and attributes of each route. */
  connected: { head: '0a400000fe020001', types: [15, 1, 6, 4, 12, 20], metric: 256 },
  gateway: { head: '0a000000fe030001', types: [15, 6, 5, 4, 12, 20], metric: 1024 },
  local: { head: '0a800000ff020002', types: [15, 1, 6, 4, 12, 20], metric: 0 },
  neigh: { head: '0a000000', state: '80000001', types: [1, 2, 4, 3] },
  /** `ip -6 route get 2001:db9::1` via the default route. */
  get: { head: '0a808000fe030001', types: [15, 1, 2, 7, 6, 5, 4, 12, 20] },
};

const ip6Of = (v: Buffer | undefined): string => (v === undefined ? '-' : ip6ToString(v));

test('IPv6: addresses, routes and neighbours are laid out as Linux lays them out for the same setup', () => {
  const { ctl, index, lo } = image6();
  const addrs = dumpAll(ctl, 22, 10);
  const byAddr = (a: string): Msg => addrs.find((m) => ip6Of(attr(m, 8, 1)) === a)!;
  const g = byAddr('2001:db8::1');
  assert.equal(g.body.subarray(0, 4).toString('hex'), KERNEL6.addrGlobal.head);
  assert.equal(g.body.readUInt32LE(4), index);
  assert.deepEqual(attrs(g.body, 8).map((a) => a.type), KERNEL6.addrGlobal.types);
  const ll = addrs.find((m) => m.body.readUInt32LE(4) === index && m.body[3] === 0xfd)!;
  assert.equal(ll.body.subarray(0, 4).toString('hex'), KERNEL6.addrLinkLocal.head);
  assert.deepEqual(attrs(ll.body, 8).map((a) => a.type), KERNEL6.addrLinkLocal.types);
  assert.equal(attr(ll, 8, 11)![0], 3, 'IFAPROT_KERNEL_LL');
  // An interface's global addresses come before its link-local ones, as Linux sorts them by scope.
  assert.ok(addrs.indexOf(g) < addrs.indexOf(ll));
  const lo1 = byAddr('::1');
  assert.equal(lo1.body[3], 254, 'RT_SCOPE_HOST');
  assert.equal(lo1.body.readUInt32LE(4), lo);

  const routes = dumpAll(ctl, 26, 10);
  assert.ok(routes.every((m) => m.body[0] === 10), 'only IPv6 routes in an AF_INET6 dump');
  const check = (m: Msg | undefined, k: { head: string; types: number[]; metric: number }, what: string): void => {
    assert.ok(m !== undefined, what);
    assert.equal(m.body.subarray(0, 8).toString('hex'), k.head, what);
    assert.deepEqual(attrs(m.body, 12).map((a) => a.type), k.types, what);
    assert.equal(attr(m, 12, 6)!.readUInt32LE(0), k.metric, `${what}: metric`);
  };
  check(routes.find((m) => m.body[1] === 64 && ip6Of(attr(m, 12, 1)) === '2001:db8::'), KERNEL6.connected, '2001:db8::/64');
  check(routes.find((m) => m.body[1] === 64 && ip6Of(attr(m, 12, 1)) === 'fe80::' && attr(m, 12, 4)!.readUInt32LE(0) === index), KERNEL6.connected, 'fe80::/64');
  const def = routes.find((m) => m.body[1] === 0);
  check(def, KERNEL6.gateway, 'default');
  assert.equal(ip6Of(attr(def!, 12, 5)), '2001:db8::2');
  assert.equal(attr(def!, 12, 4)!.readUInt32LE(0), index);
  const local = routes.find((m) => m.body[1] === 128 && ip6Of(attr(m, 12, 1)) === '2001:db8::1');
  check(local, KERNEL6.local, 'local 2001:db8::1');
  assert.equal(attr(local!, 12, 4)!.readUInt32LE(0), index, 'on the address\'s interface');
  assert.ok(routes.indexOf(def!) < routes.indexOf(local!), 'table main before table local');

  const neigh = dumpAll(ctl, 30, 10);
  assert.equal(neigh.length, 1, 'the static entry; the image\'s own addresses are not listed');
  assert.equal(neigh[0]!.body.subarray(0, 4).toString('hex'), KERNEL6.neigh.head);
  assert.equal(neigh[0]!.body.readInt32LE(4), index);
  assert.equal(neigh[0]!.body.subarray(8, 12).toString('hex'), KERNEL6.neigh.state, 'NUD_PERMANENT, no flags, RTN_UNICAST');
  assert.deepEqual(attrs(neigh[0]!.body, 12).map((a) => a.type), KERNEL6.neigh.types);
  assert.equal(ip6Of(attr(neigh[0]!, 12, 1)), '2001:db8::2');
  assert.equal(attr(neigh[0]!, 12, 2)!.toString('hex'), '020000000002');
});

test('IPv6: RTM_GETROUTE for one destination answers as `ip -6 route get`; RTM_GETNEIGH finds one entry', () => {
  const { ctl, index, lo } = image6();
  const get = (dst: string): Uint8Array[] => {
    const body = Buffer.concat([Buffer.from([10, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([20, 0, 1, 0]), Buffer.from(parseIp6(dst)!)]);
    return netlinkAnswer(ctl, request(26, 1, body), PID);
  };
  const [g] = messages(get('2001:db9::1')[0]!);
  assert.equal(g!.type, 24);
  assert.equal(g!.body.subarray(0, 8).toString('hex'), KERNEL6.get.head);
  assert.deepEqual(attrs(g!.body, 12).map((a) => a.type), KERNEL6.get.types);
  assert.equal(ip6Of(attr(g!, 12, 5)), '2001:db8::2');
  assert.equal(ip6Of(attr(g!, 12, 7)), '2001:db8::1', 'the source the image would pick');
  assert.equal(attr(g!, 12, 4)!.readUInt32LE(0), index);
  const [l] = messages(get('2001:db8::1')[0]!);
  assert.equal(l!.body[7], 2, 'RTN_LOCAL');
  assert.equal(attr(l!, 12, 4)!.readUInt32LE(0), lo, 'through the loopback');
  ctl.inet6.deleteRoute(new Uint8Array(16), 0);
  assert.equal(errorOf(get('2001:db9::1')[0]!), -101, 'ENETUNREACH');
  const bad = Buffer.concat([Buffer.from([10, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([8, 0, 1, 0, 1, 2, 3, 4])]);
  assert.equal(errorOf(netlinkAnswer(ctl, request(26, 1, bad), PID)[0]!), -22, 'a 4-byte RTA_DST for AF_INET6');

  const nget = (dst: string, ifindex: number): Uint8Array => {
    const body = Buffer.alloc(12);
    body[0] = 10;
    body.writeInt32LE(ifindex, 4);
    return netlinkAnswer(ctl, request(30, 1, Buffer.concat([body, Buffer.from([20, 0, 1, 0]), Buffer.from(parseIp6(dst)!)])), PID)[0]!;
  };
  const [n] = messages(nget('2001:db8::2', index));
  assert.equal(n!.type, 28);
  assert.equal(ip6Of(attr(n!, 12, 1)), '2001:db8::2');
  assert.equal(errorOf(nget('2001:db8::9', index)), -2, 'ENOENT');
  assert.equal(errorOf(nget('2001:db8::2', 999)), -19, 'ENODEV');
});

// ---- round trip ----

test('round trip: dumps decode to the image as its control surface reports it', async () => {
  const net = twoImages();
  const reg = net.reg;
  const a = new ImageControl(net.a, reg);
  // Traffic, so counters move and B learns A's address.
  const u = a.sockets.udp();
  u.send(new Uint8Array(100), B_ADDR, 9);
  await net.run(50);
  const infos = a.interfaces.listWithCounters();
  const links = dumpAll(a, 18);
  assert.deepEqual(
    links.map((m) => [m.body.readInt32LE(4), attr(m, 16, 3)!.subarray(0, -1).toString(), attr(m, 16, 4)!.readUInt32LE(0)]),
    infos.map((f) => [f.index, f.name, f.mtu]),
  );
  const ep = infos.find((f) => f.kind === 'epair')!;
  const epm = links.find((m) => m.body.readInt32LE(4) === ep.index)!;
  assert.equal(epm.body.readUInt16LE(2), 1, 'ARPHRD_ETHER');
  assert.equal([...attr(epm, 16, 1)!].map((x) => x.toString(16).padStart(2, '0')).join(':'), ep.ether);
  const s64 = attr(epm, 16, 23)!;
  assert.equal(s64.length, 200);
  assert.ok(ep.counters.opackets > 0 && ep.counters.obytes > 100, 'traffic went out');
  assert.equal(Number(s64.readBigUInt64LE(8)), ep.counters.opackets, 'tx_packets');
  assert.equal(Number(s64.readBigUInt64LE(24)), ep.counters.obytes, 'tx_bytes');
  assert.equal(Number(s64.readBigUInt64LE(0)), ep.counters.ipackets, 'rx_packets');
  assert.equal(attr(epm, 16, 7)!.readUInt32LE(12), ep.counters.obytes, 'IFLA_STATS tx_bytes');
  assert.equal(attr(epm, 16, 16)![0], 6, 'IF_OPER_UP');

  const addrs = dumpAll(a, 22, 2);
  assert.deepEqual(
    addrs.map((m) => `${ipOf(attr(m, 8, 2))}/${m.body[1]} ${attr(m, 8, 3)!.subarray(0, -1).toString()}`),
    infos.flatMap((f) => f.inet.map((x) => `${x.address}/${x.prefixLen} ${f.name}`)),
  );
  const b = new ImageControl(net.b, reg);
  const neigh = dumpAll(b, 30, 2);
  assert.equal(neigh.length, 1);
  assert.equal(ipOf(attr(neigh[0]!, 12, 1)), '10.0.0.1');
  assert.equal(neigh[0]!.body.readUInt16LE(8), 0x02, 'NUD_REACHABLE');
  assert.equal([...attr(neigh[0]!, 12, 2)!].map((x) => x.toString(16).padStart(2, '0')).join(':'), ep.ether);
  assert.equal(A_ADDR, ip('10.0.0.1'));
  u.close();
});

test('families: AF_INET and AF_INET6 dumps list their own family; AF_UNSPEC and AF_PACKET (glibc) list IPv4 then IPv6', () => {
  const { ctl } = image();
  const fams = (ms: Msg[]): string => ms.map((m) => m.body[0]).join(',');
  assert.equal(fams(dumpAll(ctl, 22, 2, 8)), '2,2,2', 'three IPv4 addresses');
  // ::1 and fe80::1 on lo0 (FreeBSD gives lo0 a link-local address), the epair's link-local address.
  assert.equal(fams(dumpAll(ctl, 22, 10, 8)), '10,10,10');
  assert.equal(fams(dumpAll(ctl, 22, 17, 4)), '2,2,2,10,10,10', 'getifaddrs asks RTM_GETADDR with AF_PACKET and a 4-byte rtgenmsg');
  assert.equal(fams(dumpAll(ctl, 22, 0, 8)), '2,2,2,10,10,10');
  assert.equal(dumpAll(ctl, 18, 17, 4).length, 3, 'three links');
  assert.equal(dumpAll(ctl, 30, 17, 12).length, 0, 'neighbour dumps list only the family asked for');
  assert.equal(dumpAll(ctl, 26, 2, 12).length, 6, 'default, connected, blackhole, three local');
  const all = dumpAll(ctl, 26, 0, 12);
  assert.equal(fams(all.slice(0, 6)), '2,2,2,2,2,2');
  assert.ok(all.length > 6 && all.slice(6).every((m) => m.body[0] === 10), 'then the IPv6 routes');
  assert.equal(dumpAll(ctl, 30, 10, 12).length, 0, 'no IPv6 neighbours yet');
});

test('RTM_GETRULE dumps Linux\'s three default rules, as the kernel emitted them', () => {
  const { ctl } = image();
  const ms = dumpAll(ctl, 34, 2, 12);
  // Captured from Linux 6.18 (`ip rule`: 0 lookup local, 32766 lookup main, 32767 lookup default).
  assert.deepEqual(
    ms.map((m) => `${m.type} ${m.body.subarray(0, 12).toString('hex')} ${attrs(m.body, 12).map((a) => `${a.type}=${a.v.toString('hex')}`).join(' ')}`),
    [
      '32 02000000ff00000100000000 15=ff000000 14=ffffffff 21=02',
      '32 02000000fe00000100000000 15=fe000000 14=ffffffff 21=02 6=fe7f0000',
      '32 02000000fd00000100000000 15=fd000000 14=ffffffff 21=02 6=ff7f0000',
    ],
  );
  assert.equal(dumpAll(ctl, 34, 10, 12).length, 0, 'no IPv6 rules');
});

// ---- gets, acks, refusals ----

test('RTM_GETLINK by index or by name answers one message; NLM_F_ACK adds an ACK; unknown names are ENODEV', () => {
  const { ctl, ifname, index } = image();
  const body = Buffer.alloc(16);
  body.writeInt32LE(index, 4);
  const ds = netlinkAnswer(ctl, request(18, 0x5, body, 99), PID);
  assert.equal(ds.length, 2);
  const [m] = messages(ds[0]!);
  assert.equal(m!.type, 16);
  assert.equal(m!.flags, 0);
  assert.equal(m!.seq, 99);
  assert.equal(attr(m!, 16, 3)!.toString(), `${ifname}\0`);
  const [ack] = messages(ds[1]!);
  assert.equal(ack!.type, 2);
  assert.equal(ack!.body.readInt32LE(0), 0);
  assert.equal(ack!.flags, 0x100, 'NLM_F_CAPPED: only the header echoed');
  assert.equal(ack!.body.length, 4 + 16);
  assert.equal(ack!.body.readUInt32LE(4 + 8), 99, 'the echoed header');

  const named = Buffer.concat([Buffer.alloc(16), Buffer.from([12, 0, 3, 0]), Buffer.from('lo0\0\0\0\0\0')]);
  const [byName] = messages(netlinkAnswer(ctl, request(18, 1, named), PID)[0]!);
  assert.equal(byName!.body.readInt32LE(4), ctl.interfaces.get('lo0').index);
  const missing = Buffer.concat([Buffer.alloc(16), Buffer.from([9, 0, 3, 0]), Buffer.from('nope\0\0\0\0')]);
  assert.equal(errorOf(netlinkAnswer(ctl, request(18, 1, missing), PID)[0]!), -19);
  assert.equal(errorOf(netlinkAnswer(ctl, request(18, 1, Buffer.alloc(16)), PID)[0]!), -22, 'neither index nor name');
});

test('RTM_GETROUTE for a destination answers as `ip route get`: gateway, local, blackhole, unreachable', () => {
  const { ctl, index, lo } = image();
  const get = (dst: string): Uint8Array[] => {
    const body = Buffer.concat([Buffer.from([2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([8, 0, 1, 0]), Buffer.from(dst.split('.').map(Number))]);
    return netlinkAnswer(ctl, request(26, 1, body), PID);
  };
  const [g] = messages(get('8.8.8.8')[0]!);
  assert.equal(g!.type, 24);
  assert.deepEqual(attrs(g!.body, 12).map((a) => a.type), [15, 1, 4, 7, 5, 12], 'table dst oif prefsrc gateway cacheinfo, as the kernel orders them');
  assert.equal(ipOf(attr(g!, 12, 5)), '10.9.0.254');
  assert.equal(ipOf(attr(g!, 12, 7)), '10.9.0.1');
  assert.equal(attr(g!, 12, 4)!.readUInt32LE(0), index);
  assert.equal(g!.body.readUInt32LE(8), 0x200, 'RTM_F_CLONED');
  const [l] = messages(get('10.9.0.7')[0]!);
  assert.equal(l!.body[7], 2, 'RTN_LOCAL');
  assert.equal(attr(l!, 12, 4)!.readUInt32LE(0), lo, 'through the loopback');
  assert.equal(l!.body.readUInt32LE(8), 0x80000200);
  assert.equal(errorOf(get('192.168.3.4')[0]!), -22, 'blackhole: EINVAL, as fib_props says');
  ctl.routes.delete(0, 0);
  assert.equal(errorOf(get('8.8.8.8')[0]!), -101, 'ENETUNREACH');
});

test('changes, unknown types and non-dump address gets are EOPNOTSUPP; control messages are only acknowledged', () => {
  const { ctl } = image();
  for (const t of [16, 17, 19, 20, 21, 24, 25, 28, 29, 32, 38, 200]) {
    const ds = netlinkAnswer(ctl, request(t, 0x5, Buffer.alloc(12)), PID);
    assert.equal(ds.length, 1);
    assert.equal(errorOf(ds[0]!), -95, `type ${t}`);
    const [m] = messages(ds[0]!);
    assert.equal(m!.body.length, 4 + 16 + 12, 'the whole request echoed, as without NETLINK_CAP_ACK');
  }
  assert.equal(errorOf(netlinkAnswer(ctl, request(22, 1, Buffer.alloc(8)), PID)[0]!), -95, 'GETADDR without NLM_F_DUMP');
  assert.equal(errorOf(netlinkAnswer(ctl, request(1, 0x5, Buffer.alloc(0)), PID)[0]!), 0, 'NLMSG_NOOP with ACK');
  assert.deepEqual(netlinkAnswer(ctl, request(1, 0x1, Buffer.alloc(0)), PID), [], 'NLMSG_NOOP without ACK');
  assert.deepEqual(netlinkAnswer(ctl, request(18, 0x300, Buffer.alloc(16)), PID), [], 'no NLM_F_REQUEST: ignored');
});

test('several messages in one sendmsg are answered in order', () => {
  const { ctl } = image();
  const req = Buffer.concat([request(22, DUMP, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), 1), request(20, 0x5, Buffer.alloc(8), 2), request(30, DUMP, Buffer.alloc(12), 3)]);
  const ms = netlinkAnswer(ctl, req, PID).flatMap(messages);
  assert.deepEqual(
    ms.map((m) => [m.seq, m.type]),
    [[1, 20], [1, 20], [1, 20], [1, 3], [2, 2], [3, 28], [3, 3]],
  );
  // The same bytes as a view at an odd offset of a larger buffer answer the same.
  const big = Buffer.alloc(req.length + 9, 0xee);
  req.copy(big, 5);
  assert.deepEqual(netlinkAnswer(ctl, big.subarray(5, 5 + req.length), PID).map((d) => Buffer.from(d).toString('hex')), netlinkAnswer(ctl, req, PID).map((d) => Buffer.from(d).toString('hex')));
});

test('RTM_GETNEIGH for one address answers its entry, ENOENT for none, ENODEV for an unknown interface', () => {
  const { ctl, index } = image();
  const get = (dst: string, ifindex = 0): Uint8Array[] => {
    const body = Buffer.alloc(12);
    body[0] = 2;
    body.writeInt32LE(ifindex, 4);
    return netlinkAnswer(ctl, request(30, 1, Buffer.concat([body, Buffer.from([8, 0, 1, 0]), Buffer.from(dst.split('.').map(Number))])), PID);
  };
  const [m] = messages(get('10.9.0.5', index)[0]!);
  assert.equal(m!.type, 28);
  assert.equal(m!.flags, 0);
  assert.equal(m!.body.readUInt16LE(8), 0x80, 'NUD_PERMANENT');
  assert.equal(errorOf(get('10.9.0.9')[0]!), -2, 'ENOENT');
  assert.equal(errorOf(get('10.9.0.1')[0]!), -2, 'the image\'s own address is not a neighbour');
  assert.equal(errorOf(get('10.9.0.5', 9999)[0]!), -19, 'ENODEV');
});

// ---- hostile input ----

test('hostile: broken headers and attributes answer EINVAL and never throw', () => {
  const { ctl } = image();
  const hdr = (len: number, type = 18, flags = DUMP, total = 32): Buffer => {
    const b = Buffer.alloc(total);
    b.writeUInt32LE(len, 0);
    b.writeUInt16LE(type, 4);
    b.writeUInt16LE(flags, 6);
    b.writeUInt32LE(5, 8);
    return b;
  };
  const cases: Array<[string, Buffer]> = [
    ['truncated header', Buffer.from([32, 0, 0, 0, 18, 0, 1, 3, 5, 0])],
    ['nlmsg_len 0', hdr(0)],
    ['nlmsg_len below the header', hdr(15)],
    ['nlmsg_len huge', hdr(0xffffffff)],
    ['nlmsg_len past the buffer by one (not aligned)', hdr(33)],
    ['dump with no family byte', hdr(16, 22, DUMP, 16)],
    ['GETLINK attribute running past the end', Buffer.concat([hdr(36, 18, 1, 16), Buffer.alloc(16), Buffer.from([200, 0, 3, 0])])],
    ['GETLINK attribute of length 2', Buffer.concat([hdr(36, 18, 1, 16), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(8), Buffer.from([2, 0, 3, 0])])],
    ['GETROUTE with a 3-byte RTA_DST', Buffer.concat([hdr(35, 26, 1, 16), Buffer.from([2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 0, 1, 2, 3])])],
    ['GETROUTE shorter than rtmsg', hdr(20, 26, 1, 20)],
    ['GETNEIGH without NDA_DST', Buffer.concat([hdr(28, 30, 1, 16), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])],
  ];
  for (const [what, b] of cases) {
    const ds = netlinkAnswer(ctl, b, PID);
    assert.equal(ds.length, 1, what);
    assert.equal(errorOf(ds[0]!), -22, what);
  }
  // An unaligned but whole message is fine: the next one starts at the aligned offset.
  const odd = Buffer.concat([request(22, DUMP, Buffer.from([2])), Buffer.alloc(3), request(30, DUMP, Buffer.from([2]))]);
  assert.deepEqual(netlinkAnswer(ctl, odd, PID).flatMap(messages).map((m) => m.type), [20, 20, 20, 3, 28, 3]);
});

test('hostile: 1 MB of garbage and thousands of mutated requests never throw and always frame', () => {
  const { ctl } = image();
  const rnd = seeded(11);
  const garbage = new Uint8Array(1 << 20).map(() => Math.floor(rnd() * 256));
  const ds = netlinkAnswer(ctl, garbage, PID);
  assert.ok(ds.length >= 1);
  for (const d of ds) messages(d);
  assert.equal(errorOf(ds[ds.length - 1]!), -22, 'the broken frame ends the batch with EINVAL');
  const seeds = [dumpReq(18), dumpReq(22, 2, 8), dumpReq(26, 2, 12), dumpReq(30, 2, 12), request(26, 1, Buffer.from([2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 8, 8, 8, 8]))];
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(seeds[i % seeds.length]!);
    for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
    for (const d of netlinkAnswer(ctl, cut, PID)) for (const m of messages(d)) assert.ok(m.len <= d.length);
  }
});

// ---- large dumps ----

test('a dump of 1000 addresses is split into datagrams of at most one page (or 32 KiB), all parseable, ending with NLMSG_DONE', () => {
  const { ctl, ifname } = image();
  for (let i = 0; i < 1000; i++) ctl.interfaces.addAddress(ifname, ip(`10.${100 + (i >> 8)}.${i & 255}.1`), 32, { alias: true });
  for (const [max, cap] of [[undefined, 4096], [32768, 32768]] as const) {
    const ds = netlinkAnswer(ctl, dumpReq(22, 2, 8), PID, max);
    assert.ok(ds.length > 2, `several datagrams (${ds.length})`);
    for (const d of ds) assert.ok(d.length <= cap, `datagram of ${d.length} bytes <= ${cap}`);
    const ms = ds.flatMap(messages);
    assert.equal(ms.length, 1003 + 1, 'lo0, two addresses, 1000 aliases, DONE');
    assert.equal(ms[ms.length - 1]!.type, 3);
    assert.ok(ds.slice(0, -1).every((d) => messages(d).every((m) => m.type === 20)), 'DONE only at the end');
    assert.equal(new Set(ms.slice(0, -1).map((m) => ipOf(attr(m, 8, 2)))).size, 1003);
  }
});

// ---- interface ioctls ----

function ifreq(name: string, ifindex?: number): Uint8Array {
  const b = Buffer.alloc(40);
  b.write(name, 0, 'latin1');
  if (ifindex !== undefined) b.writeInt32LE(ifindex, 16);
  return b;
}

test('SIOCGIF*: flags, addresses, mtu, hardware address, index and name as devinet_ioctl answers them', () => {
  const { ctl, ifname, index } = image();
  const ok = (req: number, name: string, ix?: number): Buffer => {
    const r = ifreqAnswer(ctl, req, ifreq(name, ix));
    assert.equal(r.err, 0, `request ${req.toString(16)} on ${name}`);
    assert.equal(r.ifreq!.length, 40);
    return Buffer.from(r.ifreq!);
  };
  assert.equal(ok(0x8913, ifname).readUInt16LE(16), 0x1 | 0x2 | 0x40 | 0x1000, 'UP BROADCAST RUNNING MULTICAST (LOWER_UP does not fit a short)');
  const sin = (b: Buffer): string => `${b.readUInt16LE(16)} ${b.readUInt16BE(18)} ${ipOf(b.subarray(20, 24))} ${b.subarray(24, 32).toString('hex')}`;
  assert.equal(sin(ok(0x8915, ifname)), '2 0 10.9.0.1 0000000000000000');
  assert.equal(sin(ok(0x8919, ifname)), '2 0 10.9.0.255 0000000000000000');
  assert.equal(sin(ok(0x891b, ifname)), '2 0 255.255.255.0 0000000000000000');
  assert.equal(ok(0x8921, ifname).readInt32LE(16), 1500);
  const hw = ok(0x8927, ifname);
  assert.equal(hw.readUInt16LE(16), 1, 'ARPHRD_ETHER');
  assert.equal([...hw.subarray(18, 24)].map((x) => x.toString(16).padStart(2, '0')).join(':'), ctl.interfaces.get(ifname).ether);
  assert.equal(ok(0x8927, 'lo0').readUInt16LE(16), 772, 'ARPHRD_LOOPBACK');
  assert.equal(ok(0x8933, ifname).readInt32LE(16), index);
  assert.equal(ok(0x8910, '', index).subarray(0, 16).toString('latin1').replace(/\0+$/, ''), ifname);
  assert.equal(ok(0x8942, ifname).readInt32LE(16), 1000, 'SIOCGIFTXQLEN');
  // The ifreq may be a view into a larger buffer (a Buffer from Node's pool, a slice of a frame).
  const big = Buffer.alloc(100, 0xee);
  Buffer.from(ifreq(ifname)).copy(big, 30);
  const inView = ifreqAnswer(ctl, 0x8921, big.subarray(30, 70));
  assert.equal(Buffer.from(inView.ifreq!).readInt32LE(16), 1500, 'SIOCGIFMTU through a view at an offset');
  assert.equal(big.readUInt8(29), 0xee, 'the caller\'s buffer is not written');
  const flagsInView = ifreqAnswer(ctl, 0x8913, big.subarray(30, 70));
  assert.equal(Buffer.from(flagsInView.ifreq!).readUInt16LE(16), 0x1043);

  assert.equal(ifreqAnswer(ctl, 0x8913, ifreq('nope0')).err, 19, 'ENODEV');
  assert.equal(ifreqAnswer(ctl, 0x8910, ifreq('', 9999)).err, 19, 'SIOCGIFNAME of an unknown index');
  assert.equal(ifreqAnswer(ctl, 0x8915, ifreq('epair0b')).err, 99, 'EADDRNOTAVAIL: no address');
  assert.equal(ifreqAnswer(ctl, 0x8915, ifreq(`${ifname}:1`)).err, 99, 'no alias labels');
  assert.equal(ifreqAnswer(ctl, 0x8916, ifreq(ifname)).err, 95, 'SIOCSIFADDR refused');
  assert.equal(ifreqAnswer(ctl, 0x8914, ifreq(ifname)).err, 95, 'SIOCSIFFLAGS refused');
  assert.equal(ifreqAnswer(ctl, 0x89ff, ifreq(ifname)).err, 22, 'unknown request');
  assert.equal(ifreqAnswer(ctl, 0x8913, new Uint8Array(39)).err, 22, 'short ifreq');
  // A name without its NUL: the kernel reads at most 15 bytes.
  assert.equal(ifreqAnswer(ctl, 0x8913, Buffer.concat([Buffer.from('x'.repeat(16)), Buffer.alloc(24)])).err, 19);
});

test('SIOCGIFCONF: one entry per IPv4 address in interface order, cut to the room given', () => {
  const { ctl, ifname } = image();
  const all = Buffer.from(ifconfAnswer(ctl, Infinity));
  assert.equal(all.length, 3 * 40);
  const entry = (i: number): string => `${all.subarray(i * 40, i * 40 + 16).toString('latin1').replace(/\0+$/, '')} ${all.readUInt16LE(i * 40 + 16)} ${ipOf(all.subarray(i * 40 + 20, i * 40 + 24))}`;
  assert.deepEqual([0, 1, 2].map(entry), ['lo0 2 127.0.0.1', `${ifname} 2 10.9.0.1`, `${ifname} 2 10.9.0.7`]);
  assert.equal(ifconfAnswer(ctl, 0).length, 0);
  assert.equal(ifconfAnswer(ctl, 39).length, 0);
  assert.deepEqual(Buffer.from(ifconfAnswer(ctl, 80 + 39)), all.subarray(0, 80));
  assert.equal(ifconfAnswer(ctl, -5).length, 0);
  assert.equal(ifconfAnswer(ctl, Number.NaN).length, 0);
});
