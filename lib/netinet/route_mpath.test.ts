import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoutesControl, type RouteMessage } from '../control/routes.js';
import { exportConfig, applyConfig } from '../config.js';
import { ManualPlatform } from '../platform.js';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { IFF, type Ifnet, type LinkDriver } from '../net/if.js';
import { put16 } from '../wire/bytes.js';
import { ETHER_HDR_LEN, emitEthernet, writeMac, type Mac } from '../wire/ethernet.js';
import { IPPROTO, emitIpv4 } from '../wire/ipv4.js';
import { VnetHdr } from '../wire/vnet.js';
import { arpAddStatic } from './if_ether.js';
import { inAddAddress } from './in.js';
import { RTF } from './route.js';
import { RTM } from './route_events.js';
import { allocWindows } from '../testing/alloc.js';
import { routerTopology } from '../testing/topology.js';
import { internetChecksum } from '../wire/checksum.js';

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

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const MAC_ME = 0x020000000100 as Mac;
const MAC_IN = 0x020000000200 as Mac;
const MAC_A = 0x0200000000aa as Mac;
const MAC_B = 0x0200000000bb as Mac;
const NET = ip('10.99.0.0');
const GA = ip('10.81.0.2');
const GB = ip('10.81.0.3');

/** Router R: sink0 10.80.0.1/24 in, sink1 10.81.0.1/24 out with next hops A and B. */
function router() {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const im = reg.create('R');
  const mk = (name: string, addr: number): [Ifnet, Sink] => {
    const d = new Sink();
    const ifp = reg.newIfnet(im, name, 'sink', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC_ME, d);
    im.ifnets.set(name, ifp);
    inAddAddress(im, ifp, addr, 24, { alias: false });
    return [ifp, d];
  };
  const [if0] = mk('sink0', ip('10.80.0.1'));
  const [, out1] = mk('sink1', ip('10.81.0.1'));
  arpAddStatic(im, GA, MAC_A);
  arpAddStatic(im, GB, MAC_B);
  im.sysctl.set('net.inet.ip.forwarding', '1');
  reg.netisr.drain();
  out1.frames.length = 0;
  return { reg, im, if0, out1, ctl: new RoutesControl(im) };
}

/** A TCP or UDP packet from 10.80.0.5:sport to 10.99.x.y:dport arriving on sink0. */
function send(r: ReturnType<typeof router>, proto: number, sport: number, dst = ip('10.99.1.1'), dport = 80): void {
  const l4 = new Uint8Array(proto === IPPROTO.TCP ? 20 : 8);
  put16(l4, 0, sport);
  put16(l4, 2, dport);
  if (proto === IPPROTO.TCP) l4[12] = 0x50;
  else put16(l4, 4, 8);
  const total = 20 + l4.length;
  const b = new Uint8Array(ETHER_HDR_LEN + total);
  emitEthernet({ dst: MAC_ME, src: MAC_IN, etherType: 0x0800 }, b, 0);
  emitIpv4({ tos: 0, totalLen: total, ident: 1, fragField: 0, ttl: 64, protocol: proto, src: ip('10.80.0.5'), dst }, b, ETHER_HDR_LEN);
  b.set(l4, ETHER_HDR_LEN + 20);
  r.if0.input(b, 0, b.length, new VnetHdr());
  r.reg.netisr.drain();
}

/** The next hop's MAC of the last frame out of sink1. */
function lastHop(r: ReturnType<typeof router>): number {
  const f = r.out1.frames[r.out1.frames.length - 1]!;
  return f.subarray(0, 6).reduce((a, x) => a * 256 + x, 0);
}

test('a second route add of a prefix through another gateway makes an ECMP route; flows spread over both paths and each flow keeps its path', () => {
  const r = router();
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 });
  const paths = r.ctl.list().filter((x) => x.dst === NET);
  assert.deepEqual(paths.map((x) => x.gateway), [GA, GB], 'netstat -rn lists each path');
  assert.deepEqual(paths.map((x) => x.paths), [2, 2]);
  assert.equal(paths[0]!.flags, RTF.UP | RTF.GATEWAY | RTF.STATIC);
  const per = new Map<number, number>();
  const chosen: number[] = [];
  for (let i = 0; i < 400; i++) {
    send(r, i % 2 === 0 ? IPPROTO.TCP : IPPROTO.UDP, 20000 + i);
    const hop = lastHop(r);
    chosen.push(hop);
    per.set(hop, (per.get(hop) ?? 0) + 1);
  }
  assert.equal(r.out1.frames.length, 400);
  assert.equal(per.size, 2, 'both next hops carry flows');
  for (const n of per.values()) assert.ok(n > 120, `spread: ${[...per.values()].join('/')}`);
  for (let i = 0; i < 400; i += 37) {
    send(r, i % 2 === 0 ? IPPROTO.TCP : IPPROTO.UDP, 20000 + i);
    assert.equal(lastHop(r), chosen[i], `flow ${i} stays on its path`);
  }
  // Different destinations with the same ports spread too.
  const dsts = new Set<number>();
  for (let i = 0; i < 64; i++) {
    send(r, IPPROTO.UDP, 5000, ip('10.99.2.0') + i, 53);
    dsts.add(lastHop(r));
  }
  assert.equal(dsts.size, 2);
});

test('route delete with a gateway removes one path; without one, the whole route; the same gateway twice is EEXIST', () => {
  const r = router();
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 });
  assert.throws(() => r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 }), /route already in table/);
  r.ctl.delete(NET, 16, GA);
  const left = r.ctl.list().filter((x) => x.dst === NET);
  assert.deepEqual(left.map((x) => [x.gateway, x.paths]), [[GB, 1]]);
  assert.equal(r.im.routes.get(NET, 16)!.group, null, 'a single path again');
  for (let i = 0; i < 20; i++) {
    send(r, IPPROTO.UDP, 100 + i);
    assert.equal(lastHop(r), MAC_B);
  }
  assert.throws(() => r.ctl.delete(NET, 16, GA), /not in table/);
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.delete(NET, 16);
  assert.equal(r.ctl.list().filter((x) => x.dst === NET).length, 0);
});

test('with net.route.multipath=0 a second gateway for a prefix is EEXIST; an interface route never joins', () => {
  const r = router();
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.im.sysctl.set('net.route.multipath', '0');
  assert.throws(() => r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 }), /route already in table/);
  r.im.sysctl.set('net.route.multipath', '1');
  assert.throws(() => r.ctl.add({ dst: NET, prefixLen: 16, target: { interface: 'sink1' }, flags: 0 }), /route already in table/);
  assert.throws(() => r.ctl.add({ dst: ip('10.81.0.0'), prefixLen: 24, target: { gateway: GB }, flags: 0 }), /route already in table/, 'the connected route');
});

test('route flush removes the routes through gateways and leaves connected ones', () => {
  const r = router();
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 });
  r.ctl.add({ dst: 0, prefixLen: 0, target: { gateway: GA }, flags: 0 });
  const before = r.ctl.list().length;
  const gone = r.ctl.flush();
  assert.deepEqual(gone.map((x) => [x.dst, x.gateway]), [[0, GA], [NET, GA], [NET, GB]]);
  assert.equal(r.ctl.list().length, before - 3);
  assert.ok(r.ctl.list().every((x) => (x.flags & RTF.GATEWAY) === 0));
});

test('the table tells watchers of adds, deletes and changes, and builds nothing while nobody watches', () => {
  const r = router();
  const got: RouteMessage[] = [];
  const stop = r.ctl.monitor((m) => got.push(m));
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 });
  r.ctl.change({ dst: NET, prefixLen: 16, target: { gateway: ip('10.81.0.9') }, flags: 0 });
  r.ctl.delete(NET, 16, GB);
  stop();
  r.ctl.delete(NET, 16);
  assert.deepEqual(
    got.map((m) => [m.type, m.gateway, m.prefixLen, m.ifName]),
    [
      [RTM.ADD, GA, 16, 'sink1'],
      [RTM.ADD, GB, 16, 'sink1'],
      [RTM.CHANGE, ip('10.81.0.9'), 16, 'sink1'],
      [RTM.DELETE, GB, 16, 'sink1'],
    ],
  );
  assert.ok(got.every((m) => m.time === got[0]!.time && typeof m.time === 'number'));
  assert.equal((r.im.routes as unknown as { watchers: unknown[] }).watchers.length, 0, 'stopped');
});

test('a multipath route is saved as one entry per path and restored as one route with both', () => {
  const r = router();
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GA }, flags: 0 });
  r.ctl.add({ dst: NET, prefixLen: 16, target: { gateway: GB }, flags: 0 });
  const doc = exportConfig(r.reg);
  const saved = doc.images.find((i) => i.name === 'R')!.routes.filter((x) => x.dst === '10.99.0.0/16');
  assert.deepEqual(saved.map((x) => x.gateway), ['10.81.0.2', '10.81.0.3']);
  r.ctl.delete(NET, 16);
  applyConfig(r.reg, doc);
  const back = r.ctl.list().filter((x) => x.dst === NET);
  assert.deepEqual(back.map((x) => [x.gateway, x.paths]), [[GA, 2], [GB, 2]]);
});

test('forwarding through a multipath route allocates nothing per packet', () => {
  const { reg, clock, a, r, b } = routerTopology();
  const rIn = r.ifnets.get('epair0a')!;
  const aOut = a.ifnets.get('epair0b')!;
  inAddAddress(b, b.ifnets.get('epair1b')!, ip('10.2.0.3'), 24, { alias: true });
  const ctl = new RoutesControl(r);
  ctl.add({ dst: ip('10.9.0.0'), prefixLen: 16, target: { gateway: ip('10.2.0.2') }, flags: 0 });
  ctl.add({ dst: ip('10.9.0.0'), prefixLen: 16, target: { gateway: ip('10.2.0.3') }, flags: 0 });
  const len = 14 + 20 + 8 + 18;
  const templates = [1234, 1235, 1236, 1237].map((sport) => {
    const t = new Uint8Array(len);
    writeMac(t, 0, rIn.mac);
    writeMac(t, 6, aOut.mac);
    t[12] = 0x08;
    t.set([0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 0, 2, 10, 9, 0, 2], 14);
    const sum = internetChecksum(t, 14, 20);
    t[24] = sum >> 8;
    t[25] = sum & 0xff;
    t.set([sport >> 8, sport & 0xff, 0, 9, 0, 26, 0, 0], 34);
    return t;
  });
  const frame = new Uint8Array(len);
  const meta = new VnetHdr();
  const forward = (n: number): void => {
    for (let i = 0; i < n; i++) {
      frame.set(templates[i & 3]!);
      r.etherInput(rIn, frame, 0, len, meta);
      reg.netisr.drain();
    }
  };
  forward(8);
  clock.advance(1);
  reg.netisr.drain();
  forward(50_000);
  const paths = r.routes.list().filter((x) => x.dst === ip('10.9.0.0'));
  assert.ok(paths.every((p) => p.use > 1000), `both paths used: ${paths.map((p) => p.use).join('/')}`);
  const windows = allocWindows(forward, 100_000);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per packet');
  assert.ok(Math.min(...windows) < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per forwarded packet`);
});
