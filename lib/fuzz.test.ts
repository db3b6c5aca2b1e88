import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCodecs, fuzzInput, hostileFrame, hostileMeta, inputTarget, Rng } from './testing/fuzz.js';
import { IFF, type LinkDriver } from './net/if.js';
import { BridgeDriver } from './net/if_bridge.js';
import { ImageControl, type BridgeOp } from './control/index.js';
import { writeMac, type Mac } from './wire/ethernet.js';
import { VlanDriver } from './net/if_vlan.js';
import { inAddAddress } from './netinet/in.js';
import { VlanFrame, parseVlan } from './wire/vlan.js';
import { VxlanHeader, parseVxlan } from './wire/vxlan.js';
import { Ipv4Packet } from './wire/ipv4.js';
import { VnetHdr } from './wire/vnet.js';
import { fuzzCodecs6, fuzzInput6 } from './testing/fuzz6.js';
import { nd6MaxEntries } from './netinet6/ip6_var.js';
import { arpMaxEntries } from './netinet/if_ether.js';
import { ipMaxFragPackets } from './netinet/ip_var.js';

// Bounded in CI; `npm run fuzz` runs longer (FUZZ_MS) with other seeds (FUZZ_SEED).
const MS = Number(process.env['FUZZ_MS'] ?? 2000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261125);

test(`codec views never throw on hostile bytes (seed ${SEED})`, () => {
  const n = fuzzCodecs(new Rng(SEED), Infinity, performance.now() + MS);
  assert.ok(n > 1000, `only ${n} buffers tried`);
});

test(`IPv6 codec views and the extension-header walk never throw on hostile bytes (seed ${SEED})`, () => {
  const n = fuzzCodecs6(new Rng(SEED), Infinity, performance.now() + MS / 2);
  assert.ok(n > 1000, `only ${n} buffers tried`);
});

test(`the image input path survives hostile frames with bounded state (seed ${SEED})`, () => {
  const t = inputTarget();
  const n = fuzzInput(t, new Rng(SEED), Infinity, performance.now() + MS);
  assert.ok(n > 1000, `only ${n} frames fed`);
  const { im } = t;
  assert.ok(im.arp.entries.size <= im.sysctl.get(arpMaxEntries), `ARP entries ${im.arp.entries.size}`);
  assert.ok(im.reass.queues.size <= im.sysctl.get(ipMaxFragPackets), `reassembly queues ${im.reass.queues.size}`);
  assert.equal(t.in0.counters.ipackets + t.in1.counters.ipackets + t.in0.counters.iqdrops + t.in1.counters.iqdrops > 0, true);
  // Drops were counted by name.
  const st = im.ipstat;
  assert.ok(st.badsum + st.badhlen + st.badlen + st.tooshort + st.toosmall + st.badvers > 0, 'malformed IPv4 was counted');
  assert.ok(im.arpstat.badformat > 0, 'malformed ARP was counted');
  assert.ok(st.forward > 0 && st.delivered > 0, 'good traffic kept flowing');
});

test(`the image's IPv6 input survives hostile frames with bounded state (seed ${SEED})`, () => {
  const t = inputTarget();
  const n = fuzzInput6(t, new Rng(SEED), Infinity, performance.now() + MS / 2);
  assert.ok(n > 1000, `only ${n} frames fed`);
  const { im } = t;
  assert.ok(im.nd6.size <= im.sysctl.get(nd6MaxEntries), `ND entries ${im.nd6.size}`);
  const st = im.ip6stat;
  assert.ok(st.tooshort + st.toosmall + st.badvers + st.badscope + st.badoptions > 0, 'malformed IPv6 was counted');
  assert.ok(im.icmp6stat.checksum > 0, 'bad ICMPv6 checksums were counted');
  assert.ok(im.icmp6stat.badns + im.icmp6stat.badna > 0, 'invalid ND was counted');
  assert.ok(st.delivered > 0 && im.icmp6stat.reflect > 0, 'echo requests were answered');
  assert.ok(st.forward > 0, 'IPv6 was forwarded');
});

test('the same seed gives the same run', () => {
  const a = inputTarget();
  const b = inputTarget();
  fuzzInput(a, new Rng(7), 3000);
  fuzzInput(b, new Rng(7), 3000);
  assert.deepEqual({ ...a.im.ipstat }, { ...b.im.ipstat });
  assert.deepEqual({ ...a.im.arpstat }, { ...b.im.arpstat });
});

test('an ARP storm from many senders cannot grow the cache past its cap', () => {
  const t = inputTarget();
  t.im.sysctl.set('net.link.ether.inet.max_entries', '64');
  fuzzInput(t, new Rng(99), 20000);
  assert.ok(t.im.arp.entries.size <= 64, `${t.im.arp.entries.size} entries`);
});

test(`tagged hostile frames: the VLAN path never throws and counts what it drops (seed ${SEED})`, () => {
  const t = inputTarget();
  const { reg, im, in0, in1 } = t;
  const d = new VlanDriver();
  const v = reg.newIfnet(im, 'vlan0', 'vlan', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, in0.mac, d);
  im.ifnets.set('vlan0', v);
  d.attach(v, in0, 10);
  inAddAddress(im, v, 0x0a420001, 24, { alias: false });
  const rng = new Rng(SEED);
  const view = new VlanFrame();
  const slot = new Uint8Array(9100);
  const meta = new VnetHdr();
  const deadline = performance.now() + MS / 2;
  let n = 0;
  for (; n < 200_000 && (n % 256 !== 0 || performance.now() < deadline); n++) {
    slot.fill(0);
    const len = hostileFrame(slot.subarray(20), rng);
    // Make room for a tag after the addresses and insert one, mostly for VLAN 10.
    const off = 16;
    slot.copyWithin(off, 20, 32);
    slot[off + 12] = 0x81;
    slot[off + 13] = rng.chance(0.95) ? 0x00 : rng.below(256);
    const vid = rng.chance(0.8) ? 10 : rng.below(4096);
    slot[off + 14] = (rng.below(16) << 4) | (vid >> 8);
    slot[off + 15] = vid & 0xff;
    const flen = rng.chance(0.1) ? rng.below(len + 5) : len + 4;
    if (view.reset(slot, off, flen).checked()) void parseVlan(view);
    in0.input(slot, off, flen, hostileMeta(meta, rng));
    reg.netisr.drain();
  }
  assert.ok(n > 1000, `only ${n} frames`);
  assert.ok(v.counters.ipackets > 0, 'tagged frames reached the VLAN');
  assert.ok(in0.counters.noproto > 0, 'unclaimed tags were counted');
  void in1;
});

test(`hostile frames into a bridge: it never throws and its table stays within maxaddr (seed ${SEED})`, () => {
  const t = inputTarget();
  const { reg, im } = t;
  const ctl = new ImageControl(im, reg);
  const br = ctl.interfaces.create('bridge');
  let out = 0;
  const sink: LinkDriver = { kind: 'tap', headroom: 10, offload: true, output: () => void out++, destroy: () => {}, describe: () => ({}) };
  const members = [0, 1, 2].map((i) => {
    const ifp = reg.newIfnet(im, `tap${i}`, 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, (0x020000000300 + i) as Mac, sink);
    im.ifnets.set(ifp.name, ifp);
    return ifp;
  });
  const other = reg.create('O');
  const [ea, eb] = reg.createEpair(im);
  reg.move(im, eb!, other);
  im.setUp(ea!, true);
  other.setUp(eb!, true);
  const ops: BridgeOp[] = [...members, ea!].map((m) => ({ kind: 'addm', ifname: m.name }));
  ctl.interfaces.configureBridge(br, [...ops, { kind: 'maxaddr', value: 50 }]);
  ctl.interfaces.configure(br, [{ kind: 'up' }]);
  inAddAddress(im, im.ifnet(br), 0x0a430001, 24, { alias: false });
  const rng = new Rng(SEED + 1);
  const slot = new Uint8Array(9100);
  const meta = new VnetHdr();
  const deadline = performance.now() + MS / 2;
  let n = 0;
  for (; n < 200_000 && (n % 256 !== 0 || performance.now() < deadline); n++) {
    slot.fill(0);
    const len = hostileFrame(slot.subarray(16), rng);
    if (len >= 12) {
      // Addresses from a small pool (so some are learned and looked up), the bridge's own, or broadcast.
      const pick = rng.below(10);
      const dst = pick === 0 ? 0xffffffffffff : pick === 1 ? im.ifnet(br).mac : 0x020000000400 + rng.below(80);
      writeMac(slot, 16, dst as Mac);
      writeMac(slot, 22, (0x020000000400 + rng.below(80) + (rng.chance(0.05) ? 0x010000000000 : 0)) as Mac);
    }
    const m = rng.chance(0.9) ? members[rng.below(3)]! : eb!;
    m.input(slot, 16, len, hostileMeta(meta, rng));
    reg.netisr.drain();
    if (n % 512 === 511) t.clock.advance(rng.below(3000));
  }
  assert.ok(n > 1000, `only ${n} frames`);
  const drv = im.ifnet(br).driver as BridgeDriver;
  assert.ok(drv.count <= 50, `${drv.count} addresses learned`);
  assert.ok(out > 0, 'frames were switched');
  assert.ok(drv.addresses().every((e) => ['tap0', 'tap1', 'tap2', ea!.name].includes(e.interface)));
});

test(`hostile VXLAN datagrams: decapsulation never throws and counts what it drops (seed ${SEED})`, () => {
  const t = inputTarget();
  const { reg, im, in0 } = t;
  const ctl = new ImageControl(im, reg);
  // vxlan0 on sink0's address (10.64.0.1), remote its peer 10.64.0.2, a member of bridge0 with an address.
  const vx = ctl.interfaces.createVxlan({ params: { vni: 42, local: 0x0a400001, remote: 0x0a400002 } });
  const br = ctl.interfaces.create('bridge');
  ctl.interfaces.configureBridge(br, [{ kind: 'addm', ifname: vx }]);
  ctl.interfaces.configure(vx, [{ kind: 'up' }]);
  ctl.interfaces.configure(br, [{ kind: 'up' }]);
  inAddAddress(im, im.ifnet(br), 0x0a440001, 24, { alias: false });
  const rng = new Rng(SEED + 2);
  const view = new VxlanHeader();
  const slot = new Uint8Array(9200);
  const meta = new VnetHdr();
  const ipv = new Ipv4Packet();
  const deadline = performance.now() + MS / 2;
  let n = 0;
  for (; n < 200_000 && (n % 256 !== 0 || performance.now() < deadline); n++) {
    slot.fill(0);
    const o = 64;
    const inner = hostileFrame(slot.subarray(o + 50), rng);
    // Ethernet to sink0, IPv4 UDP 10.64.0.2 -> 10.64.0.1:4789 (mostly), VXLAN (mostly VNI 42 with the I flag).
    writeMac(slot, o, 0x020000000100 as Mac);
    writeMac(slot, o + 6, 0x020000000200 as Mac);
    slot[o + 12] = 0x08;
    const vlen = rng.chance(0.05) ? rng.below(8) : 8 + inner;
    const total = 20 + 8 + vlen;
    slot.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 64, 0, 2, 10, 64, 0, 1], o + 14);
    ipv.reset(slot, o + 14, total).fillChecksum();
    const dport = rng.chance(0.9) ? 4789 : rng.below(0x10000);
    slot.set([0xc3, 0x50, dport >> 8, dport & 0xff, (8 + vlen) >> 8, (8 + vlen) & 0xff, 0, 0], o + 34);
    slot[o + 42] = rng.chance(0.9) ? 0x08 : rng.below(256);
    const vni = rng.chance(0.8) ? 42 : rng.below(1 << 24);
    slot.set([vni >> 16, (vni >> 8) & 0xff, vni & 0xff], o + 46);
    if (view.reset(slot, o + 42, vlen).checked()) void parseVxlan(view);
    in0.input(slot, o, 14 + total, hostileMeta(meta, rng));
    reg.netisr.drain();
    if (n % 512 === 511) t.clock.advance(rng.below(3000));
  }
  assert.ok(n > 1000, `only ${n} datagrams`);
  const st = im.vxlan.stat;
  assert.ok(st.ipackets > 0 && im.ifnet(vx).counters.ipackets + im.ifnet(br).counters.ipackets > 0, 'frames were decapsulated');
  assert.ok(st.hdrops > 0 && st.badflags > 0 && st.novni > 0, `drops were counted: ${JSON.stringify(st)}`);
  assert.ok(ctl.interfaces.vxlanEntries(vx).length <= 2000);
});
