import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type Image } from '../image.js';
import { allocWindows } from '../testing/alloc.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { ETHERTYPE, emitEthernet, macToString, type Mac } from '../wire/ethernet.js';
import { VnetHdr, VIRTIO_NET_HDR_GSO } from '../wire/vnet.js';
import { emitIpv4 } from '../wire/ipv4.js';
import { foldComplement, internetChecksum, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { IFF, type Ifnet, type LinkDriver } from './if.js';
import { BridgeDriver } from './if_bridge.js';
import { PKT_HEADROOM } from './if.js';

interface Sent {
  buf: Uint8Array;
  off: number;
  len: number;
  gso: number;
}

/** A TAP-like member that records what it is given. */
class RecDriver implements LinkDriver {
  readonly kind = 'tap';
  readonly headroom = 10;
  readonly sent: Sent[] = [];
  constructor(readonly offload = true) {}
  output(_ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    this.sent.push({ buf, off, len, gso: meta.gsoType });
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

const MAC = (n: number): Mac => (0x020000000000 + n) as Mac;

function setup(members = 3): { reg: Registry; platform: ManualPlatform; im: Image; ctl: ImageControl; br: Ifnet; drv: BridgeDriver; taps: Ifnet[]; rec: RecDriver[] } {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('SW');
  const ctl = new ImageControl(im, reg);
  const name = ctl.interfaces.create('bridge');
  assert.equal(name, 'bridge0');
  const br = im.ifnet(name);
  const taps: Ifnet[] = [];
  const rec: RecDriver[] = [];
  for (let i = 0; i < members; i++) {
    const d = new RecDriver();
    const ifp = reg.newIfnet(im, `tap${i}`, 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC(0x100 + i), d);
    im.ifnets.set(ifp.name, ifp);
    taps.push(ifp);
    rec.push(d);
  }
  ctl.interfaces.configureBridge(name, taps.map((t) => ({ kind: 'addm' as const, ifname: t.name })));
  ctl.interfaces.configure(name, [{ kind: 'up' }]);
  return { reg, platform, im, ctl, br, drv: br.driver as BridgeDriver, taps, rec };
}

function frame(dst: number, src: number, len = 64): Uint8Array {
  const b = new Uint8Array(PKT_HEADROOM + len);
  emitEthernet({ dst: dst as Mac, src: src as Mac, etherType: 0x88b5 }, b, PKT_HEADROOM);
  return b;
}

const none = new VnetHdr();

function inject(ifp: Ifnet, buf: Uint8Array, meta = none): void {
  ifp.input(buf, PKT_HEADROOM, buf.length - PKT_HEADROOM, meta);
}

test('an unknown destination is flooded; the answer goes only to the member that learned it', () => {
  const { taps, rec, drv } = setup();
  inject(taps[0]!, frame(MAC(2), MAC(1)));
  assert.deepEqual(rec.map((r) => r.sent.length), [0, 1, 1]);
  inject(taps[1]!, frame(MAC(1), MAC(2)));
  assert.deepEqual(rec.map((r) => r.sent.length), [1, 1, 1]);
  const table = drv.addresses().sort((a, b) => a.address.localeCompare(b.address));
  assert.deepEqual(table.map((e) => [e.address, e.interface, e.vlan, e.expire, e.flags]), [
    [macToString(MAC(1)), 'tap0', 1, 1200, 0],
    [macToString(MAC(2)), 'tap1', 1, 1200, 0],
  ]);
  // A frame for a station on the member it came from goes nowhere.
  inject(taps[0]!, frame(MAC(1), MAC(9)));
  assert.deepEqual(rec.map((r) => r.sent.length), [1, 1, 1]);
});

test('broadcast reaches every other member and the bridge itself; TAP members share the buffer', () => {
  const { taps, rec, br } = setup();
  const f = frame(0xffffffffffff, MAC(1));
  const before = br.counters.ipackets;
  inject(taps[0]!, f);
  assert.equal(rec[1]!.sent[0]!.buf, f);
  assert.equal(rec[2]!.sent[0]!.buf, f);
  assert.equal(rec[0]!.sent.length, 0);
  assert.equal(br.counters.ipackets, before + 1, 'the bridge interface received it');
});

test('addresses age out after timeout seconds; flush forgets them', () => {
  const { taps, drv, platform, ctl } = setup();
  inject(taps[0]!, frame(MAC(2), MAC(1)));
  platform.clock.advance(600_000);
  assert.equal(drv.addresses()[0]!.expire, 600);
  platform.clock.advance(601_000);
  assert.equal(drv.count, 0);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'timeout', value: 10 }]);
  inject(taps[0]!, frame(MAC(2), MAC(1)));
  inject(taps[1]!, frame(MAC(1), MAC(2)));
  assert.equal(drv.count, 2);
  platform.clock.advance(5_000);
  inject(taps[1]!, frame(MAC(1), MAC(2))); // refreshed
  platform.clock.advance(6_000);
  assert.deepEqual(drv.addresses().map((e) => e.interface), ['tap1']);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'flush' }]);
  assert.equal(drv.count, 0);
});

test('maxaddr caps the table; addresses past it are flooded to', () => {
  const { taps, rec, drv, ctl } = setup();
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'maxaddr', value: 2 }]);
  for (let i = 1; i <= 5; i++) inject(taps[0]!, frame(0xffffffffffff, MAC(i)));
  assert.equal(drv.count, 2);
  const n = rec[0]!.sent.length;
  inject(taps[1]!, frame(MAC(5), MAC(50)));
  assert.equal(rec[0]!.sent.length, n + 1, 'unlearned destination flooded');
  assert.equal(drv.info().maxaddr, 2);
  // Many addresses, deleted and re-learned: the table stays consistent.
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'maxaddr', value: 5000 }]);
  for (let i = 0; i < 4000; i++) inject(taps[i % 3]!, frame(0xffffffffffff, MAC(0x1000 + i)));
  assert.equal(drv.count, 4002);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'deletem', ifname: 'tap1' }]);
  assert.equal(drv.count, 4002 - 1333);
  assert.ok(drv.addresses().every((e) => e.interface !== 'tap1'));
  for (const e of drv.addresses()) assert.notEqual(e.interface, undefined);
});

test('a span port sees every frame the bridge forwards', () => {
  const { reg, im, taps, ctl } = setup();
  const d = new RecDriver();
  const sp = reg.newIfnet(im, 'tap9', 'tap', IFF.BROADCAST | IFF.UP, 1500, MAC(0x199), d);
  im.ifnets.set('tap9', sp);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'span', ifname: 'tap9' }]);
  inject(taps[0]!, frame(MAC(2), MAC(1)));
  inject(taps[1]!, frame(MAC(1), MAC(2)));
  assert.equal(d.sent.length, 2);
  assert.deepEqual(ctl.interfaces.get('bridge0').bridge!.spans.map((s) => [s.name, s.flagNames]), [['tap9', ['SPAN']]]);
  assert.throws(() => ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap9' }]), /span port/);
  ctl.interfaces.destroy('tap9');
  assert.deepEqual(ctl.interfaces.get('bridge0').bridge!.spans, []);
});

test('offload metadata is kept; epair members get their own copy when several may change it', async () => {
  const { reg, im, taps, rec, ctl } = setup(2);
  const other = reg.create('X');
  const got: Uint8Array[] = [];
  const ends: Ifnet[] = [];
  for (let i = 0; i < 2; i++) {
    const [a, b] = reg.createEpair(im);
    reg.move(im, b, other);
    im.setUp(a, true);
    other.setUp(b, true);
    ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: a.name }]);
    b.input = (buf: Uint8Array): void => void got.push(buf);
    ends.push(b);
  }
  const meta = new VnetHdr();
  meta.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
  meta.gsoSize = 1448;
  const f = frame(0xffffffffffff, MAC(1), 9000);
  inject(taps[0]!, f, meta);
  reg.netisr.drain();
  assert.equal(rec[1]!.sent[0]!.buf, f, 'the TAP got the frame itself');
  assert.equal(rec[1]!.sent[0]!.gso, VIRTIO_NET_HDR_GSO.TCPV4);
  assert.equal(got.length, 2);
  assert.notEqual(got[0], got[1], 'each epair peer has a buffer of its own');
  assert.ok(got[0] !== f && got[1] !== f, 'the bridge stack (last) keeps the original');
  // Unicast to a learned epair station: not copied.
  const [a] = [im.ifnet(ctl.interfaces.get('bridge0').bridge!.members[2]!.name)];
  inject(a!, frame(MAC(1), MAC(7)));
  got.length = 0;
  const u = frame(MAC(7), MAC(1));
  inject(taps[0]!, u);
  reg.netisr.drain();
  assert.equal(got.length, 1);
  assert.equal(got[0], u);
});

test('a member without offload gets no GSO frame (counted) and TAPs with it do', () => {
  const { reg, im, taps, rec, ctl, br } = setup(2);
  const d = new RecDriver(false);
  const slow = reg.newIfnet(im, 'tap5', 'tap', IFF.BROADCAST | IFF.UP, 1500, MAC(0x105), d);
  im.ifnets.set('tap5', slow);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap5' }]);
  assert.equal(br.driver.offload, false);
  const meta = new VnetHdr();
  meta.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
  const e0 = br.counters.oerrors;
  inject(taps[0]!, frame(0xffffffffffff, MAC(1)), meta);
  assert.equal(rec[1]!.sent.length, 1);
  assert.equal(d.sent.length, 0);
  assert.equal(br.counters.oerrors, e0 + 1);
});

test('a TCP/IPv4 GSO frame is cut into segments for a member without offload, each a whole Ethernet frame', () => {
  const { reg, im, taps, rec, ctl } = setup(2);
  const d = new RecDriver(false);
  const slow = reg.newIfnet(im, 'tap5', 'tap', IFF.BROADCAST | IFF.UP, 1500, MAC(0x105), d);
  im.ifnets.set('tap5', slow);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap5' }]);
  // A 3000-byte TSO frame from a host, checksum left partial (as Linux writes it into a TAP).
  const payload = 3000;
  const ipLen = 20 + 20 + payload;
  const b = new Uint8Array(PKT_HEADROOM + 14 + ipLen);
  const o = PKT_HEADROOM;
  emitEthernet({ dst: 0xffffffffffff as Mac, src: MAC(1), etherType: ETHERTYPE.IPV4 }, b, o);
  emitIpv4({ tos: 0, totalLen: ipLen, ident: 100, fragField: 0x4000, ttl: 64, protocol: 6, src: 0x0a000001, dst: 0x0a000002 }, b, o + 14);
  const t = o + 34;
  b.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff], t);
  for (let i = 0; i < payload; i++) b[t + 20 + i] = i & 0xff;
  const meta = new VnetHdr();
  meta.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
  meta.gsoSize = 1448;
  meta.hdrLen = 54;
  inject(taps[0]!, b, meta);
  assert.equal(rec[1]!.sent.length, 1, 'the member with offload gets the frame whole');
  assert.equal(d.sent.length, 3, '3000 bytes at an MSS of 1448: three segments');
  let seq = 0x1000;
  let got = 0;
  for (const [i, f] of d.sent.entries()) {
    const ip = f.off + 14;
    const tot = (f.buf[ip + 2]! << 8) | f.buf[ip + 3]!;
    const n = tot - 40;
    assert.equal(f.len, 14 + tot);
    assert.equal(f.gso, VIRTIO_NET_HDR_GSO.NONE);
    assert.deepEqual([...f.buf.subarray(f.off, f.off + 14)], [...b.subarray(o, o + 14)], 'the Ethernet header put back');
    assert.equal(internetChecksum(f.buf, ip, 20), 0, 'IP header checksum');
    const th = ip + 20;
    assert.equal(foldComplement(sum16(f.buf, th, 20 + n, pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 20 + n))), 0, 'TCP checksum');
    assert.equal(((f.buf[th + 4]! << 24) | (f.buf[th + 5]! << 16) | (f.buf[th + 6]! << 8) | f.buf[th + 7]!) >>> 0, seq);
    assert.equal(f.buf[th + 13]! & 0x08, i === 2 ? 0x08 : 0, 'PSH on the last segment only');
    for (let k = 0; k < n; k++) assert.equal(f.buf[th + 20 + k], (got + k) & 0xff);
    seq += n;
    got += n;
  }
  assert.equal(got, payload);
});

test('membership: promiscuous, one bridge at a time, same image, released on destroy and move', () => {
  const { reg, im, taps, ctl } = setup();
  assert.ok((taps[0]!.flags & IFF.PROMISC) !== 0);
  const info = ctl.interfaces.get('bridge0').bridge!;
  assert.deepEqual(info.members.map((m) => [m.name, m.flags.toString(16), m.flagNames.join(',')]), [
    ['tap0', '143', 'LEARNING,DISCOVER,AUTOEDGE,AUTOPTP'],
    ['tap1', '143', 'LEARNING,DISCOVER,AUTOEDGE,AUTOPTP'],
    ['tap2', '143', 'LEARNING,DISCOVER,AUTOEDGE,AUTOPTP'],
  ]);
  ctl.interfaces.create('bridge');
  assert.throws(() => ctl.interfaces.configureBridge('bridge1', [{ kind: 'addm', ifname: 'tap0' }]), /already a member/);
  assert.throws(() => ctl.interfaces.configureBridge('bridge1', [{ kind: 'addm', ifname: 'bridge0' }]), /cannot be a bridge member/);
  assert.throws(() => ctl.interfaces.configureBridge('bridge1', [{ kind: 'addm', ifname: 'lo0' }]), /cannot be a bridge member/);
  ctl.interfaces.destroy('tap0');
  assert.equal(taps[0]!.bridge, null);
  assert.deepEqual(ctl.interfaces.get('bridge0').bridge!.members.map((m) => m.name), ['tap1', 'tap2']);
  const x = reg.create('X');
  reg.move(im, taps[1]!, x);
  assert.equal(taps[1]!.bridge, null);
  assert.equal(taps[1]!.flags & IFF.PROMISC, 0);
  ctl.interfaces.destroy('bridge0');
  assert.equal(taps[2]!.bridge, null);
  assert.equal(taps[2]!.flags & IFF.PROMISC, 0);
  // The member works on its own again.
  const before = taps[2]!.counters.ipackets;
  inject(taps[2]!, frame(0xffffffffffff, MAC(1)));
  assert.equal(taps[2]!.counters.ipackets, before + 1);
});

test('destroying an image releases its bridge members and returns them to the default image', () => {
  const { reg, taps, platform } = setup();
  reg.destroy('SW');
  const def = reg.default;
  for (const t of taps) {
    assert.equal(t.bridge, null);
    assert.equal(t.owner, def);
  }
  const br = def.ifnets.get('bridge0')!;
  const drv = br.driver as BridgeDriver;
  assert.deepEqual(drv.memberNames(), []);
  // The bridge keeps working in the default image, its aging timer too; destroying it stops the timer.
  const ctl = new ImageControl(def, reg);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap0' }, { kind: 'addm', ifname: 'tap1' }]);
  ctl.interfaces.configure('bridge0', [{ kind: 'up' }]);
  inject(taps[0]!, frame(0xffffffffffff, MAC(1)));
  assert.equal(drv.count, 1);
  platform.clock.advance(1_201_000);
  assert.equal(drv.count, 0);
  const pending = platform.clock.pending;
  ctl.interfaces.destroy('bridge0');
  assert.equal(platform.clock.pending, pending - 1);
});

test('a bridge that is down passes member frames to the member itself', () => {
  const { taps, rec, ctl } = setup();
  ctl.interfaces.configure('bridge0', [{ kind: 'down' }]);
  inject(taps[0]!, frame(0xffffffffffff, MAC(1)));
  assert.deepEqual(rec.map((r) => r.sent.length), [0, 0, 0]);
});

test('the bridge answers for its own address: a local unicast frame goes up its stack only', () => {
  const { taps, rec, br } = setup();
  const before = br.counters.ipackets;
  const f = frame(br.mac, MAC(1));
  f[PKT_HEADROOM + 12] = ETHERTYPE.IPV4 >> 8;
  f[PKT_HEADROOM + 13] = 0;
  inject(taps[0]!, f);
  assert.equal(br.counters.ipackets, before + 1);
  assert.deepEqual(rec.map((r) => r.sent.length), [0, 0, 0]);
});

test('switching a learned unicast frame, and flooding a broadcast to TAP members, allocates nothing per frame', () => {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('SW');
  const ctl = new ImageControl(im, reg);
  ctl.interfaces.create('bridge');
  let sent = 0;
  const sink: LinkDriver = { kind: 'tap', headroom: 10, offload: true, output: () => void sent++, destroy: () => {}, describe: () => ({}) };
  const taps: Ifnet[] = [];
  for (let i = 0; i < 3; i++) {
    const ifp = reg.newIfnet(im, `tap${i}`, 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC(0x100 + i), sink);
    im.ifnets.set(ifp.name, ifp);
    taps.push(ifp);
  }
  ctl.interfaces.configureBridge('bridge0', taps.map((t) => ({ kind: 'addm' as const, ifname: t.name })));
  ctl.interfaces.configure('bridge0', [{ kind: 'up' }]);
  const uni = frame(MAC(2), MAC(1));
  const back = frame(MAC(1), MAC(2));
  const bcast = frame(0xffffffffffff, MAC(3));
  bcast[PKT_HEADROOM + 12] = 0x88; // an EtherType the bridge's stack does not take: counted, dropped
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      inject(taps[0]!, uni);
      inject(taps[1]!, back);
      if ((i & 7) === 0) inject(taps[2]!, bcast);
    }
  };
  run(50_000);
  const N = 100_000;
  const windows = allocWindows(run, N);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per frame');
  assert.ok(Math.min(...windows) < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes per frame`);
  assert.ok(sent > 2 * N, `${sent} frames sent`);
});

test('a frame with no room in front for a member header is copied once for that member', () => {
  const { taps, rec } = setup(2);
  const f = frame(MAC(2), MAC(1)).subarray(PKT_HEADROOM).slice(); // the frame at offset 0
  taps[0]!.input(f, 0, f.length, none);
  assert.equal(rec[1]!.sent.length, 1);
  assert.notEqual(rec[1]!.sent[0]!.buf, f);
  assert.ok(rec[1]!.sent[0]!.off >= 10);
  assert.deepEqual([...rec[1]!.sent[0]!.buf.subarray(rec[1]!.sent[0]!.off, rec[1]!.sent[0]!.off + 14)], [...f.subarray(0, 14)]);
});

test('hostile GSO frames from a TAP (bad sizes, lengths, headers, VLAN tags, tiny frames) never throw and never grow past their bytes', () => {
  const { reg, im, taps, ctl } = setup(1);
  const d = new RecDriver(false);
  const slow = reg.newIfnet(im, 'tap5', 'tap', IFF.BROADCAST | IFF.UP, 1500, MAC(0x105), d);
  im.ifnets.set('tap5', slow);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap5' }]);
  let seed = 11;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  for (let i = 0; i < 3000; i++) {
    const len = rnd(4) === 0 ? rnd(60) : 14 + 20 + 20 + rnd(9000);
    const b = new Uint8Array(PKT_HEADROOM + len);
    const o = PKT_HEADROOM;
    for (let k = 0; k < len; k++) b[o + k] = rnd(256);
    if (len >= 14) {
      b.fill(0xff, o, o + 6);
      b[o + 12] = rnd(3) === 0 ? 0x81 : 0x08;
      b[o + 13] = 0;
    }
    if (len >= 34 && rnd(4) !== 0) {
      b[o + 14] = 0x40 | (5 + rnd(11));
      const tot = rnd(3) === 0 ? rnd(0x10000) : len - 14;
      b[o + 16] = tot >> 8;
      b[o + 17] = tot & 0xff;
      b[o + 23] = rnd(4) === 0 ? rnd(256) : 6;
    }
    const meta = new VnetHdr();
    meta.gsoType = [VIRTIO_NET_HDR_GSO.TCPV4, VIRTIO_NET_HDR_GSO.TCPV6, VIRTIO_NET_HDR_GSO.UDP, VIRTIO_NET_HDR_GSO.TCPV4 | VIRTIO_NET_HDR_GSO.ECN][rnd(4)]!;
    meta.gsoSize = [0, 1, 63, 64, 536, 1448, 65535, rnd(0x10000)][rnd(8)]!;
    meta.hdrLen = rnd(200);
    if (rnd(2) === 0) {
      meta.flags = 1;
      meta.csumStart = rnd(0x10000);
      meta.csumOffset = rnd(0x10000);
    }
    const before = d.sent.length;
    inject(taps[0]!, b, meta);
    let bytes = 0;
    for (let k = before; k < d.sent.length; k++) bytes += d.sent[k]!.len - 54;
    assert.ok(bytes <= len, `frame ${i}: ${bytes} bytes of payload out of a ${len}-byte frame`);
  }
  reg.netisr.drain();
});
