import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManualClock } from '../clock.js';
import { RoutesControl } from '../control/routes.js';
import { ManualPlatform } from '../platform.js';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { IFF, type Ifnet, type LinkDriver } from '../net/if.js';
import { put16, put32 } from '../wire/bytes.js';
import { internetChecksum } from '../wire/checksum.js';
import { ETHER_HDR_LEN, emitEthernet, type Mac } from '../wire/ethernet.js';
import { ICMP_TYPE } from '../wire/icmp.js';
import { IPPROTO, emitIpv4 } from '../wire/ipv4.js';
import { VnetHdr } from '../wire/vnet.js';
import { arpAddStatic } from './if_ether.js';
import { inAddAddress } from './in.js';
import { RTF } from './route.js';

/** A link that keeps what the image sends. */
class Sink implements LinkDriver {
  readonly kind = 'sink';
  readonly offload = false;
  readonly headroom = 10;
  readonly frames: Uint8Array[] = [];
  output(_ifp: Ifnet, buf: Uint8Array, off: number, len: number): void {
    this.frames.push(buf.slice(off, off + len));
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

const MAC_ME = 0x020000000100 as Mac;
const MAC_PEER = 0x020000000200 as Mac;
const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const G1 = ip('10.80.0.1');
const G2 = ip('10.80.0.2');
const H = ip('10.80.0.5');
const FAR = ip('10.99.1.1');

interface Box {
  reg: Registry;
  clock: ManualClock;
  im: Image;
  if0: Ifnet;
  out: Sink;
  ctl: RoutesControl;
}

/** One image on a sink link, 10.80.0.0/24, at `addr`. */
function box(addr: number, forwarding: boolean): Box {
  const platform = new ManualPlatform({ random: () => 0.5 });
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('X');
  const out = new Sink();
  const if0 = reg.newIfnet(im, 'sink0', 'sink', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC_ME, out);
  im.ifnets.set('sink0', if0);
  inAddAddress(im, if0, addr, 24, { alias: false });
  for (const a of ['10.80.0.1', '10.80.0.2', '10.80.0.3', '10.80.0.5']) if (ip(a) !== addr) arpAddStatic(im, ip(a), MAC_PEER);
  if (forwarding) im.sysctl.set('net.inet.ip.forwarding', '1');
  reg.netisr.drain();
  out.frames.length = 0; // announcements of the address
  return { reg, clock: platform.clock, im, if0, out, ctl: new RoutesControl(im) };
}

/** Host H: default route and 10.99/16 through G1. */
function host(): Box {
  const b = box(H, false);
  b.ctl.add({ dst: 0, prefixLen: 0, target: { gateway: G1 }, flags: 0 });
  return b;
}

function ipFrame(src: number, dst: number, proto: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const total = 20 + payload.length;
  const b = new Uint8Array(ETHER_HDR_LEN + total);
  emitEthernet({ dst: MAC_ME, src: MAC_PEER, etherType: 0x0800 }, b, 0);
  emitIpv4({ tos: 0, totalLen: total, ident: 9, fragField: 0, ttl, protocol: proto, src, dst }, b, ETHER_HDR_LEN);
  b.set(payload, ETHER_HDR_LEN + 20);
  return b;
}

/** A UDP datagram's IP packet (no Ethernet header), for quoting or forwarding. */
function udpPacket(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const u = new Uint8Array(12);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, 12);
  return ipFrame(src, dst, IPPROTO.UDP, u).subarray(ETHER_HDR_LEN);
}

/** An ICMP redirect from `from` to H: for `dst`, use `gw`. */
function redirect(from: number, gw: number, dst: number, code = 1, quoteLen = 28): Uint8Array {
  const quoted = udpPacket(H, dst, 1000, 53).subarray(0, quoteLen);
  const m = new Uint8Array(8 + quoted.length);
  m[0] = ICMP_TYPE.REDIRECT;
  m[1] = code;
  put32(m, 4, gw);
  m.set(quoted, 8);
  put16(m, 2, internetChecksum(m, 0, m.length));
  return ipFrame(from, H, IPPROTO.ICMP, m);
}

function input(b: Box, frame: Uint8Array): void {
  b.if0.input(frame, 0, frame.length, new VnetHdr());
  b.reg.netisr.drain();
}

test('a redirect from the current first hop to a gateway on our network makes a dynamic host route (UGHD) that route get shows and that expires after net.inet.icmp.redirtimeout', () => {
  const b = host();
  const timers = b.clock.pending;
  input(b, redirect(G1, G2, FAR));
  assert.equal(b.clock.pending, timers + 1, 'the expiry timer');
  const r = b.ctl.lookup(FAR)!;
  assert.equal(r.prefixLen, 32);
  assert.equal(r.gateway, G2);
  assert.equal(r.flags, RTF.UP | RTF.GATEWAY | RTF.HOST | RTF.DYNAMIC);
  assert.equal(r.expire, 600, 'FreeBSD default: 10 minutes');
  assert.equal(b.im.icmp.inhist[ICMP_TYPE.REDIRECT], 1);
  assert.equal(b.ctl.lookup(ip('10.99.1.2'))!.prefixLen, 0, 'only the quoted destination');
  b.clock.advance(599_000);
  assert.equal(b.ctl.list().find((x) => x.dst === FAR)!.expire, 1);
  b.clock.advance(1_000);
  assert.equal(b.ctl.lookup(FAR)!.prefixLen, 0, 'expired: the default route again');
  assert.equal(b.clock.pending, timers, 'no expiry timer left once no route expires');
});

test('redirtimeout applies, and destroying the image stops the expiry timer', () => {
  const b = host();
  b.im.sysctl.set('net.inet.icmp.redirtimeout', '5');
  input(b, redirect(G1, G2, FAR));
  assert.equal(b.ctl.lookup(FAR)!.expire, 5);
  b.clock.advance(4_999);
  assert.equal(b.ctl.lookup(FAR)!.prefixLen, 32);
  b.clock.advance(1);
  assert.equal(b.ctl.lookup(FAR)!.prefixLen, 0);
  const timers = b.clock.pending;
  input(b, redirect(G1, G2, FAR));
  assert.equal(b.clock.pending, timers + 1);
  // The link goes back to the default image, which would start DAD and MLD on it if it were up: count X's only.
  b.im.setUp(b.if0, false);
  assert.notEqual(b.im.routes.expiryTimer, null, 'the route and its timer outlive the link going down');
  b.reg.destroy('X');
  assert.equal(b.im.routes.expiryTimer, null);
  assert.ok(b.clock.pending <= timers, 'the expiry timer was cancelled');
});

test('each RFC 1122 3.2.2.2 check refuses a redirect it fails', () => {
  const cases: Array<[string, (b: Box) => void, Uint8Array]> = [
    ['not from the current first hop', () => {}, redirect(ip('10.80.0.3'), G2, FAR)],
    ['new gateway not on a connected network', () => {}, redirect(G1, ip('10.70.0.2'), FAR)],
    ['new gateway is one of our addresses', () => {}, redirect(G1, H, FAR)],
    ['a host route is already there', (b) => b.ctl.add({ dst: FAR, prefixLen: 32, target: { gateway: G1 }, flags: 0 }), redirect(G1, G2, FAR)],
    ['the destination is directly connected', () => {}, redirect(G1, G2, ip('10.80.0.77'))],
    ['net.inet.icmp.drop_redirect=1', (b) => b.im.sysctl.set('net.inet.icmp.drop_redirect', '1'), redirect(G1, G2, FAR)],
    ['a router ignores redirects (RFC 1812 5.2.7.2)', (b) => b.im.sysctl.set('net.inet.ip.forwarding', '1'), redirect(G1, G2, FAR)],
  ];
  for (const [why, setup, frame] of cases) {
    const b = host();
    setup(b);
    const before = b.ctl.list().length;
    input(b, frame);
    assert.equal(b.ctl.list().length, before, why);
    assert.equal(b.ctl.list().some((r) => (r.flags & RTF.DYNAMIC) !== 0), false, why);
  }
  // The accepted one, for contrast, in the same setup.
  const b = host();
  input(b, redirect(G1, G2, FAR));
  assert.equal(b.ctl.list().filter((r) => (r.flags & RTF.DYNAMIC) !== 0).length, 1);
});

test('malformed redirects are counted: an unknown code as badcode, a short quote as badlen', () => {
  const b = host();
  input(b, redirect(G1, G2, FAR, 4));
  assert.equal(b.im.icmpstat.badcode, 1);
  input(b, redirect(G1, G2, FAR, 1, 24));
  assert.equal(b.im.icmpstat.badlen, 1);
  assert.equal(b.ctl.lookup(FAR)!.prefixLen, 0);
});

/** Router R (10.80.0.1) with 10.99/16 through 10.80.0.2 on the same link as the senders. */
function router(): Box {
  const b = box(G1, true);
  b.ctl.add({ dst: ip('10.99.0.0'), prefixLen: 16, target: { gateway: G2 }, flags: 0 });
  return b;
}

const icmpOf = (f: Uint8Array): Uint8Array | undefined => (f[ETHER_HDR_LEN + 9] === IPPROTO.ICMP ? f.subarray(ETHER_HDR_LEN + 20) : undefined);
const u32 = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset).getUint32(o);

test('a router forwarding a packet back out the interface it came in on sends the sender a host redirect to the better gateway, once per icmplim', () => {
  const b = router();
  input(b, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  const redirects = b.out.frames.map(icmpOf).filter((m) => m !== undefined && m[0] === ICMP_TYPE.REDIRECT);
  assert.equal(redirects.length, 1);
  const m = redirects[0]!;
  assert.equal(m[1], 1, 'redirect for host');
  assert.equal(u32(m, 4), G2, 'the gateway to use');
  assert.equal(u32(m, 8 + 16), FAR, 'the quoted destination');
  assert.equal(b.out.frames.length, 2, 'and the packet is still forwarded');
  assert.equal(b.im.ipstat.redirectsent, 1);
  assert.equal(b.im.icmp.outhist[ICMP_TYPE.REDIRECT], 1);
  assert.equal(b.im.icmpstat.error, 0, 'icmp_error does not count redirects as errors');
  // Rate limit: one per second with icmplim 1.
  b.im.sysctl.set('net.inet.icmp.icmplim', '1');
  b.clock.advance(2_000);
  b.out.frames.length = 0;
  for (let i = 0; i < 5; i++) input(b, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  assert.equal(b.out.frames.filter((f) => icmpOf(f)?.[0] === ICMP_TYPE.REDIRECT).length, 1);
  assert.equal(b.out.frames.length, 6, 'every packet forwarded');
  b.clock.advance(1_000);
  input(b, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  assert.equal(b.out.frames.filter((f) => icmpOf(f)?.[0] === ICMP_TYPE.REDIRECT).length, 2, 'a second one the next second');
});

test('no redirect with net.inet.ip.redirect=0, through a default route, or to a sender off the subnet', () => {
  const a = router();
  a.im.sysctl.set('net.inet.ip.redirect', '0');
  input(a, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  assert.equal(a.im.ipstat.redirectsent, 0);
  assert.equal(a.out.frames.length, 1);
  const d = box(G1, true);
  d.ctl.add({ dst: 0, prefixLen: 0, target: { gateway: G2 }, flags: 0 });
  input(d, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  assert.equal(d.im.ipstat.redirectsent, 0, 'FreeBSD sends none for a default route (NHF_DEFAULT)');
  const o = router();
  const off = ip('10.55.0.9');
  input(o, ipFrame(off, FAR, IPPROTO.UDP, udpPacket(off, FAR, 1, 2).subarray(20)));
  assert.equal(o.im.ipstat.redirectsent, 0);
});

test('packets fast forwarded: forwarded packets without options are counted twice, with options once', () => {
  const b = box(G1, true);
  b.ctl.add({ dst: ip('10.99.0.0'), prefixLen: 16, target: { gateway: G2 }, flags: 0 });
  b.im.sysctl.set('net.inet.ip.redirect', '0');
  input(b, ipFrame(H, FAR, IPPROTO.UDP, udpPacket(H, FAR, 1, 2).subarray(20)));
  assert.equal(b.im.ipstat.forward, 1);
  assert.equal(b.im.ipstat.fastforward, 1);
  const ll = ip('169.254.3.3');
  b.ctl.add({ dst: ip('169.254.0.0'), prefixLen: 16, target: { gateway: G2 }, flags: 0 });
  input(b, ipFrame(H, ll, IPPROTO.UDP, udpPacket(H, ll, 1, 2).subarray(20)));
  assert.equal(b.im.ipstat.forward, 2);
  assert.equal(b.im.ipstat.fastforward, 1, 'link-local takes the slow path');
});
