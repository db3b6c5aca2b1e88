import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { inAddAddress } from '../netinet/in.js';
import { in6AddAddress } from '../netinet6/in6.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import { allocPacket } from '../netinet/ip_var.js';
import { rules, send, ip } from '../testing/testbed.js';
import { icmp6FillChecksum } from '../wire/icmp6.js';
import { emitIpv6Raw, parseIp6 } from '../wire/ipv6.js';
import { internetChecksum } from '../wire/checksum.js';
import { writeMac } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { BpfDesc } from './bpf.js';
import { IFF, type Ifnet } from './if.js';
import { GIF_MAX_INPUT_NEST, GifDriver } from './if_gif.js';
import { inGifLookup } from '../netinet/in_gif.js';
import { rawAttach } from '../netinet/raw_ip.js';
import { Icmp6Filter, rip6Attach } from '../netinet6/raw_ip6.js';

interface Pair {
  reg: Registry;
  plat: ManualPlatform;
  a: Image;
  b: Image;
  ua: Ifnet;
  ub: Ifnet;
}

/** Images A and B on an epair underlay (10.0.0.1/24 and fd00::1/64 on A, .2 and ::2 on B), each with a gif (A gif0, B gif1). */
function pair(outer: 4 | 6 = 4): Pair {
  const plat = new ManualPlatform();
  const reg = new Registry({ platform: plat, log: silentLogger });
  const a = reg.create('A');
  const b = reg.create('B');
  const [ua, ub] = reg.createEpair(a);
  reg.move(a, ub!, b);
  for (const [im, u, me, peer] of [[a, ua!, 1, 2], [b, ub!, 2, 1]] as const) {
    im.sysctl.set('net.inet6.ip6.dad_count', '0');
    im.setUp(u, true);
    inAddAddress(im, u, ip(`10.0.0.${me}`), 24, { alias: false });
    in6AddAddress(im, u, parseIp6(`fd00::${me}`)!, 64);
    const ctl = new ImageControl(im, reg).interfaces;
    const name = ctl.createGif();
    assert.equal(name, `gif${me - 1}`);
    ctl.configureGif(name, outer === 4 ? { src: `10.0.0.${me}`, dst: `10.0.0.${peer}` } : { src: `fd00::${me}`, dst: `fd00::${peer}` });
    ctl.configure(name, [{ kind: 'up' }]);
    ctl.addAddress(name, ip(`10.9.0.${me}`), 8, { alias: false, dst: ip(`10.9.0.${peer}`) });
    in6AddAddress(im, im.ifnet(name), parseIp6(`fd09::${me}`)!, 64);
  }
  reg.netisr.drain();
  return { reg, plat, a, b, ua: ua!, ub: ub! };
}

/** Frames `u` sends (Ethernet), copied. */
function tapOut(u: Ifnet): Uint8Array[] {
  const out: Uint8Array[] = [];
  const orig = u.driver.output.bind(u.driver);
  u.driver.output = (ifp, buf, off, len, meta): void => {
    out.push(buf.slice(off, off + len));
    orig(ifp, buf, off, len, meta);
  };
  return out;
}

/** An ICMPv6 echo request from `src` to `dst`, sent by `im`. */
function ping6(reg: Registry, im: Image, src: string, dst: string): void {
  const p = allocPacket(40 + 16);
  emitIpv6Raw(p.buf, p.off, 16, 58, 64, parseIp6(src)!, 0, parseIp6(dst)!, 0);
  p.buf[p.off + 40] = 128;
  p.buf[p.off + 44] = 0x12;
  icmp6FillChecksum(p.buf, p.off, p.off + 40, 16);
  assert.equal(ip6Output(im, p.buf, p.off, 56, im.noOffload), 0);
  reg.netisr.drain();
}

test('4in4: ping through gif both ways; the outer packet is IP protocol 4 with TTL 30, the inner packet whole behind it', () => {
  const { reg, a, b, ua } = pair();
  const ga = a.ifnet('gif0');
  assert.equal(ga.mtu, 1280);
  assert.equal(ga.flags & (IFF.UP | IFF.POINTOPOINT | IFF.RUNNING | IFF.MULTICAST), IFF.UP | IFF.POINTOPOINT | IFF.RUNNING | IFF.MULTICAST);
  const seen = tapOut(ua);
  send(reg, a, { proto: 1, dst: '10.9.0.2', size: 8 });
  assert.equal(b.icmp.inhist[8], 1, 'B got the echo request on gif1');
  assert.equal(a.icmp.inhist[0], 1, 'A got the reply');
  const f = seen.find((x) => x[12] === 0x08 && x[13] === 0x00 && x[14 + 9] === 4)!;
  assert.ok(f !== undefined, 'an IPIP packet left on the underlay');
  // Golden outer header: version/IHL, TOS 0, total 20+36, no DF, TTL 30, protocol 4, 10.0.0.1 -> 10.0.0.2.
  assert.deepEqual([...f.subarray(14, 18)], [0x45, 0, 0, 56]);
  assert.deepEqual([...f.subarray(20, 24)], [0, 0, 30, 4]);
  assert.deepEqual([...f.subarray(26, 34)], [10, 0, 0, 1, 10, 0, 0, 2]);
  assert.equal(internetChecksum(f, 14, 20), 0, 'outer header checksum');
  // The inner packet: 10.9.0.1 -> 10.9.0.2, ICMP echo.
  assert.deepEqual([...f.subarray(34 + 12, 34 + 20)], [10, 9, 0, 1, 10, 9, 0, 2]);
  assert.equal(f[34 + 9], 1);
  assert.equal(f[34 + 20], 8);
  assert.ok(ga.counters.opackets >= 1 && ga.counters.ipackets >= 1);
  send(reg, b, { proto: 1, dst: '10.9.0.1' });
  assert.equal(a.icmp.inhist[8], 1, 'and the other way');
  assert.equal(b.icmp.inhist[0], 1);
});

test('6in4, 4in6 and 6in6: IPv6 over the IPv4 tunnel, both families over an IPv6 tunnel (outer next header 4 and 41)', () => {
  const p = pair(4);
  const seen = tapOut(p.ua);
  ping6(p.reg, p.a, 'fd09::1', 'fd09::2');
  assert.equal(p.b.icmp6.inhist[128], 1, '6in4: B got the echo request');
  assert.equal(p.a.icmp6.inhist[129], 1, '6in4: A got the reply');
  assert.ok(seen.some((x) => x[12] === 0x08 && x[14 + 9] === 41 && x[34] >>> 4 === 6), 'outer IPv4 protocol 41 with an IPv6 packet inside');

  const q = pair(6);
  const seen6 = tapOut(q.ua);
  send(q.reg, q.a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(q.b.icmp.inhist[8], 1, '4in6: B got the echo request');
  assert.equal(q.a.icmp.inhist[0], 1, '4in6: A got the reply');
  ping6(q.reg, q.a, 'fd09::1', 'fd09::2');
  assert.equal(q.b.icmp6.inhist[128], 1, '6in6');
  assert.equal(q.a.icmp6.inhist[129], 1);
  const o4 = seen6.find((x) => x[12] === 0x86 && x[13] === 0xdd && x[14 + 6] === 4)!;
  assert.ok(o4 !== undefined, 'outer IPv6 next header 4');
  assert.equal(o4[14 + 7], 30, 'hop limit net.inet6.ip6.gifhlim');
  assert.deepEqual([...o4.subarray(14 + 8, 14 + 24)], [...parseIp6('fd00::1')!]);
  assert.ok(seen6.some((x) => x[12] === 0x86 && x[14 + 6] === 41), 'outer IPv6 next header 41');
});

test('a tunnel routed through itself is dropped at net.link.gif.max_nesting instead of recursing', () => {
  const { reg, a, ua } = pair();
  const ctl = new ImageControl(a, reg).interfaces;
  ctl.configureGif('gif0', { src: '10.0.0.1', dst: '10.77.0.1' });
  a.routes.add({ dst: ip('10.77.0.0'), prefixLen: 16, gateway: 0, ifp: a.ifnet('gif0'), flags: 1, mtu: 0 });
  const seen = tapOut(ua);
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(a.gif.stat.nested, 1);
  assert.equal(a.gif.depth, 0, 'the depth is back to zero');
  assert.equal(seen.length, 0, 'nothing left on the underlay');
  a.sysctl.set('net.link.gif.max_nesting', '3');
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(a.gif.stat.nested, 2, 'a deeper limit still ends');
});

/** An outer IPv4 packet from `src` to `dst` of protocol `proto` carrying `inner`, as a frame into `u`. */
function inject(reg: Registry, u: Ifnet, src: string, dst: string, proto: number, inner: Uint8Array): void {
  const len = 14 + 20 + inner.length;
  const buf = new Uint8Array(64 + len);
  const e = 64;
  writeMac(buf, e, u.mac);
  buf[e + 12] = 0x08;
  const o = e + 14;
  buf.set([0x45, 0, (20 + inner.length) >> 8, (20 + inner.length) & 0xff, 0, 1, 0, 0, 30, proto, 0, 0], o);
  buf.set(ip4b(src), o + 12);
  buf.set(ip4b(dst), o + 16);
  const c = internetChecksum(buf, o, 20);
  buf[o + 10] = c >> 8;
  buf[o + 11] = c & 0xff;
  buf.set(inner, o + 20);
  u.input(buf, e, len, new VnetHdr());
  reg.netisr.drain();
}

function ip4b(s: string): number[] {
  return s.split('.').map(Number);
}

/** A minimal inner IPv4 ICMP echo request. */
function innerEcho(src: string, dst: string): Uint8Array {
  const p = new Uint8Array(28);
  p.set([0x45, 0, 0, 28, 0, 2, 0, 0, 64, 1, 0, 0], 0);
  p.set(ip4b(src), 12);
  p.set(ip4b(dst), 16);
  let c = internetChecksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  p[20] = 8;
  c = internetChecksum(p, 20, 8);
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

test('lookup: an outer packet goes to the gif with its tunnel; another source earns protocol unreachable; hostile outer packets are counted', () => {
  const { reg, a, b, ub } = pair();
  assert.equal(inGifLookup(b, ip('10.0.0.1'), ip('10.0.0.2'))?.ifp?.name, 'gif1');
  assert.equal(inGifLookup(b, ip('10.0.0.2'), ip('10.0.0.1')), undefined, 'the reverse direction is not this tunnel');
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 4, innerEcho('10.9.0.1', '10.9.0.2'));
  assert.equal(b.icmp.inhist[8], 1, 'a well-formed 4in4 packet is delivered');
  // From an address with no tunnel: no match, ICMP protocol unreachable to the sender.
  inAddAddress(a, a.ifnet(a.ifnets.has('epair0a') ? 'epair0a' : [...a.ifnets.keys()][1]!), ip('10.0.0.3'), 24, { alias: true });
  inject(reg, ub, '10.0.0.3', '10.0.0.2', 4, innerEcho('10.9.0.1', '10.9.0.2'));
  assert.equal(b.gif.stat.nomatch, 1);
  assert.equal(b.icmp.outhist[3], 1, 'unreachable sent');
  assert.equal(a.icmp.inhist[3], 1, 'and received by the sender');
  // Hostile: a truncated inner header, an inner packet of the wrong version, a wrong-version inner for 41.
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 4, new Uint8Array(10).fill(0x45));
  assert.equal(b.gif.stat.hdrops, 1);
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 4, new Uint8Array(40).fill(0x65));
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 41, new Uint8Array(40).fill(0x45));
  assert.equal(b.gif.stat.badinner, 2);
  // Nested 4in4 in 4in4 ... matching the tunnel at every level: decapsulation stops at its limit, no recursion.
  let p = innerEcho('10.9.0.1', '10.9.0.2');
  for (let i = 0; i < 60; i++) {
    const q = new Uint8Array(p.length + 20);
    q.set([0x45, 0, (q.length >> 8) & 0xff, q.length & 0xff, 0, 1, 0, 0, 30, 4, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const c = internetChecksum(q, 0, 20);
    q[10] = c >> 8;
    q[11] = c & 0xff;
    q.set(p, 20);
    p = q;
  }
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 4, p);
  assert.equal(b.gif.stat.ingress, 1, 'the second level came in on gif1, which does not route back to its source');
  assert.equal(b.gif.inDepth, 0);
  // Were the routes such that every level matched, decapsulation stops at its limit.
  b.gif.inDepth = GIF_MAX_INPUT_NEST;
  inject(reg, ub, '10.0.0.1', '10.0.0.2', 4, innerEcho('10.9.0.1', '10.9.0.2'));
  assert.equal(b.gif.stat.nested, 1);
  assert.equal(b.icmp.inhist[8], 1, 'not delivered');
  b.gif.inDepth = 0;
  // Random garbage after a valid outer header never throws.
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    const n = (seed = (seed * 1103515245 + 12345) >>> 0) % 200;
    const g = new Uint8Array(n);
    for (let k = 0; k < n; k++) g[k] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    if (n > 0) g[0] = (g[0]! & 0x0f) | (i % 2 === 0 ? 0x40 : 0x60);
    inject(reg, ub, '10.0.0.1', '10.0.0.2', i % 2 === 0 ? 4 : 41, g);
  }
});

test('captures on gif0 and lo0 are DLT_NULL: a 4-byte host-order family, then the IP packet; the packet is left as it was', () => {
  const { reg, a } = pair();
  const d = new BpfDesc({ program: null, snaplen: 262144, nowUs: () => 0 }).attach(a.ifnet('gif0'));
  const l = new BpfDesc({ program: null, snaplen: 262144, nowUs: () => 0 }).attach(a.lo0);
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  send(reg, a, { proto: 1, dst: '127.0.0.1' });
  ping6(reg, a, 'fd09::1', '::1');
  const frames: number[][] = [];
  d.read((_t, f) => void frames.push([...f.subarray(0, 5)]));
  assert.deepEqual(frames, [[2, 0, 0, 0, 0x45], [2, 0, 0, 0, 0x45]], 'the request out and the reply in');
  const lo: number[][] = [];
  l.read((_t, f) => void lo.push([...f.subarray(0, 5)]));
  assert.deepEqual(lo.slice(0, 1), [[2, 0, 0, 0, 0x45]]);
  assert.ok(lo.some((x) => x[0] === 28 && x[4]! >>> 4 === 6), 'IPv6 on lo0 with AF_INET6 (28)');
  assert.equal(a.icmp.inhist[0], 2, 'both replies arrived whole');
  d.close();
  l.close();
});

test('tunnel control: duplicate tunnels refused, deletetunnel clears RUNNING and the link, MTU bounds, vnet move deletes the tunnel', () => {
  const { reg, a, b } = pair();
  const ctl = new ImageControl(a, reg).interfaces;
  const name = ctl.createGif();
  assert.throws(() => ctl.configureGif(name, { src: '10.0.0.1', dst: '10.0.0.2' }), /already has the tunnel/);
  assert.throws(() => ctl.configureGif(name, { src: '10.0.0.1', dst: 'fd00::2' }), /same address family/);
  assert.throws(() => ctl.configureGif(name, { src: '0.0.0.0', dst: '10.0.0.2' }), /Can't assign requested address/);
  assert.throws(() => ctl.configure('gif0', [{ kind: 'mtu', mtu: 9000 }]), /between 1280 and 8192/);
  const info = ctl.get('gif0');
  assert.deepEqual(info.gif, { tunnel: { family: 'inet', src: '10.0.0.1', dst: '10.0.0.2' } });
  assert.deepEqual(info.inet, [{ address: '10.9.0.1', prefixLen: 8, netmask: '255.0.0.0', destination: '10.9.0.2' }]);
  assert.ok(info.flagNames.includes('LOWER_UP') && info.flagNames.includes('RUNNING'));
  assert.equal(info.ether, undefined);
  ctl.configureGif('gif0', null);
  const off = ctl.get('gif0');
  assert.deepEqual(off.gif, {});
  assert.ok(!off.flagNames.includes('RUNNING') && !off.flagNames.includes('LOWER_UP'));
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(b.icmp.inhist[8] ?? 0, 0);
  assert.ok(a.ifnet('gif0').counters.oerrors >= 1, 'output without a tunnel is an error');
  // A source that is not ours: set, but not running.
  ctl.configureGif('gif0', { src: '10.0.0.99', dst: '10.0.0.2' });
  assert.ok(!ctl.get('gif0').flagNames.includes('RUNNING'));
  assert.ok(ctl.get('gif0').flagNames.includes('LOWER_UP'));
  reg.move(a, a.ifnet('gif0'), b);
  assert.ok(b.ifnet('gif0').driver instanceof GifDriver);
  assert.equal((b.ifnet('gif0').driver as GifDriver).family, 0, 'moved: tunnel deleted, as gif_reassign');
  assert.equal(a.gif.tunnels.length, 0);
});

test('ipfw sees the inner packet on gif0 and the outer one on the underlay', () => {
  const { reg, a, b, ua } = pair();
  a.sysctl.set('net.inet.ip.fw.default_to_accept', '1', true);
  a.sysctl.set('net.inet.ip.fw.enable', '1');
  const seen = tapOut(ua);
  const inner = rules(a, '100 deny icmp from 10.9.0.1 to 10.9.0.2 out via gif0');
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(inner[0]!.pcnt, 1, 'the inner packet matched on gif0');
  assert.equal(seen.length, 0, 'denied before encapsulation');
  a.fw.deleteRange(100, 100);
  const outer = rules(a, `200 deny ip from 10.0.0.1 to 10.0.0.2 out via ${ua.name}`, '210 deny icmp from any to any via ' + ua.name);
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(outer[0]!.pcnt, 1, 'the outer packet matched on the underlay');
  assert.equal(outer[1]!.pcnt, 0, 'the underlay never sees the inner ICMP as such');
  assert.equal(b.icmp.inhist[8] ?? 0, 0);
});

test('over IPv6: an outer packet no tunnel takes earns a parameter problem (unrecognized next header), counted once', () => {
  const { reg, a, b } = pair(6);
  new ImageControl(b, reg).interfaces.configureGif('gif1', null);
  send(reg, a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(b.gif.stat.nomatch, 1);
  assert.equal(b.ip6stat.noproto, 1);
  assert.equal(a.icmp6.inhist[4], 1, 'A got the parameter problem');
  assert.equal(b.icmp.inhist[8] ?? 0, 0);
});

test("an outer packet no tunnel takes goes to the image's raw sockets of its protocol, as rip_input/rip6_input do: no error back when one took it", () => {
  const { reg, b, ub } = pair();
  const got4: number[] = [];
  const close4 = rawAttach(b, { proto: 4, input: (_b, _o, len) => void got4.push(len) });
  inject(reg, ub, '10.0.0.3', '10.0.0.2', 4, innerEcho('10.9.0.1', '10.9.0.2'));
  assert.equal(got4.length, 1, 'the raw socket has it');
  assert.equal(b.gif.stat.nomatch, 1);
  assert.equal(b.ipstat.noproto, 0, 'not counted as an unknown protocol');
  assert.equal(b.icmp.outhist[3] ?? 0, 0, 'no protocol unreachable');
  close4();
  inject(reg, ub, '10.0.0.3', '10.0.0.2', 4, innerEcho('10.9.0.1', '10.9.0.2'));
  assert.equal(b.ipstat.noproto, 1);
  assert.equal(b.icmp.outhist[3], 1, 'no socket: protocol unreachable');

  const p6 = pair(6);
  new ImageControl(p6.b, p6.reg).interfaces.configureGif('gif1', null);
  const got6: number[] = [];
  const close6 = rip6Attach(p6.b, { proto: 4, laddr6: null, faddr6: null, cksumOff: -1, filter: new Icmp6Filter(), input: (_b, _o, _h, len) => (got6.push(len), true) });
  send(p6.reg, p6.a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(got6.length, 1, 'the raw IPv6 socket of protocol 4 has it');
  assert.equal(p6.b.ip6stat.noproto, 0);
  assert.equal(p6.a.icmp6.inhist[4] ?? 0, 0, 'no parameter problem');
  close6();
  send(p6.reg, p6.a, { proto: 1, dst: '10.9.0.2' });
  assert.equal(p6.b.ip6stat.noproto, 1);
  assert.equal(p6.a.icmp6.inhist[4], 1);
});
