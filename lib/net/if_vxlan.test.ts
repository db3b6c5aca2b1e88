import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { inAddAddress } from '../netinet/in.js';
import { allocWindows } from '../testing/alloc.js';
import { rules, send, ip } from '../testing/testbed.js';
import { VimageError } from '../errors.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import { UdpPacket } from '../wire/udp.js';
import { VXLAN_HDR_LEN, VxlanHeader, emitVxlan, parseVxlan, vxlanFlowHash } from '../wire/vxlan.js';
import { VnetHdr } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type Ifnet } from './if.js';
import type { VxlanDriver } from './if_vxlan.js';

test('VXLAN codec: golden bytes, round trip, the I flag, short headers refused by the view', () => {
  const buf = new Uint8Array(8 + 14);
  emitVxlan({ vni: 0x123456 }, buf, 0);
  assert.deepEqual([...buf.subarray(0, 8)], [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
  const v = new VxlanHeader().reset(buf, 0, buf.length);
  assert.ok(v.checked());
  assert.deepEqual(parseVxlan(v), { vni: 0x123456 });
  assert.equal(v.payloadOffset, VXLAN_HDR_LEN);
  assert.equal(v.payloadLength, 14);
  // Reserved bits are ignored on receipt (RFC 7348 section 5); without the I flag there is no VNI.
  buf.set([0x0c, 0xff, 0xff, 0xff, 0, 0, 42, 0xff]);
  assert.deepEqual(parseVxlan(v), { vni: 42 });
  buf[0] = 0x00;
  assert.equal(parseVxlan(v), undefined);
  assert.equal(new VxlanHeader().reset(buf, 0, 7).checked(), false);
  assert.equal(new VxlanHeader().reset(buf, 20, 8).checked(), false, 'window past the buffer');
  // The flow hash is stable and reads only inside the frame.
  assert.equal(vxlanFlowHash(buf, 8, 14), vxlanFlowHash(buf, 8, 14));
  assert.equal(typeof vxlanFlowHash(buf, 0, 0), 'number');
});

interface Pair {
  reg: Registry;
  plat: ManualPlatform;
  a: Image;
  b: Image;
  ua: Ifnet;
  ub: Ifnet;
}

/** Images A and B, each end of an epair the underlay (10.0.0.1/24, 10.0.0.2/24), with vxlan0 (VNI 42) on it. */
function pair(): Pair {
  const plat = new ManualPlatform();
  const reg = new Registry({ platform: plat, log: silentLogger });
  const a = reg.create('A');
  const b = reg.create('B');
  const [ua, ub] = reg.createEpair(a);
  reg.move(a, ub!, b);
  for (const [im, u, me, peer] of [[a, ua!, 1, 2], [b, ub!, 2, 1]] as const) {
    im.setUp(u, true);
    inAddAddress(im, u, ip(`10.0.0.${me}`), 24, { alias: false });
    const ctl = new ImageControl(im, reg).interfaces;
    // Clone units are global: A's is vxlan0, B's vxlan1.
    const name = `vxlan${me - 1}`;
    assert.equal(ctl.createVxlan({ params: { vni: 42, local: ip(`10.0.0.${me}`), remote: ip(`10.0.0.${peer}`) } }), name);
    ctl.configure(name, [{ kind: 'up' }]);
    inAddAddress(im, im.ifnet(name), ip(`10.42.0.${me}`), 24, { alias: false });
  }
  reg.netisr.drain();
  return { reg, plat, a, b, ua: ua!, ub: ub! };
}

test('two images ping each other over vxlan on an epair underlay; the outer packet is UDP 4789 between the end points', () => {
  const { reg, a, b, ua } = pair();
  const va = a.ifnet('vxlan0');
  assert.equal(va.mtu, 1450);
  assert.ok((va.flags & IFF.RUNNING) !== 0, 'running once up with a VNI and a remote');
  const info = new ImageControl(a, reg).interfaces.get('vxlan0').vxlan!;
  assert.deepEqual({ vni: info.vni, local: info.local, remote: info.remote, port: info.remotePort, learn: info.learn }, { vni: 42, local: '10.0.0.1', remote: '10.0.0.2', port: 4789, learn: true });
  // What leaves on the underlay.
  const outer: Array<{ src: number; dst: number; sport: number; dport: number; sum: number; vni: number }> = [];
  const orig = ua.driver.output.bind(ua.driver);
  ua.driver.output = (ifp, buf, off, len, meta): void => {
    const ipv = new Ipv4Packet().reset(buf, off + 14, len - 14);
    if (ipv.protocol === 17) {
      const u = new UdpPacket().reset(buf, off + 14 + 20, len - 34);
      outer.push({ src: ipv.src, dst: ipv.dst, sport: u.srcPort, dport: u.dstPort, sum: u.checksum, vni: new VxlanHeader().reset(buf, u.payloadOffset, u.payloadLength).vni });
    }
    orig(ifp, buf, off, len, meta);
  };
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  reg.netisr.drain();
  assert.equal(b.icmp.inhist[8], 1, 'B got the echo request through its vxlan');
  assert.equal(a.icmp.inhist[0], 1, 'A got the reply');
  assert.ok(outer.length >= 2, 'ARP and the echo went encapsulated');
  for (const o of outer) {
    assert.equal(o.src, ip('10.0.0.1'));
    assert.equal(o.dst, ip('10.0.0.2'));
    assert.equal(o.dport, 4789);
    assert.ok(o.sport >= 49152 && o.sport <= 65535, `source port ${o.sport}`);
    assert.equal(o.sum, 0, 'RFC 7348: UDP checksum sent as zero');
    assert.equal(o.vni, 42);
  }
  assert.ok(va.counters.opackets >= 2 && va.counters.ipackets >= 1);
  // B learned A's vxlan MAC behind A's address.
  const learned = new ImageControl(b, reg).interfaces.vxlanEntries('vxlan1');
  assert.deepEqual(learned.map((e) => [e.address, e.remote]), [[new ImageControl(a, reg).interfaces.get('vxlan0').ether, '10.0.0.1']]);
});

test('learning: unicast goes to the learned end point, -vxlanlearn learns nothing, vxlanflush forgets, entries expire', () => {
  const { reg, plat, a, b } = pair();
  const cb = new ImageControl(b, reg).interfaces;
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.equal(cb.vxlanEntries('vxlan1').length, 1);
  assert.equal(cb.get('vxlan1').vxlan!.ftable.count, 1);
  cb.configureVxlan('vxlan1', { flush: true });
  assert.equal(cb.vxlanEntries('vxlan1').length, 0);
  cb.configureVxlan('vxlan1', { learn: false });
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.equal(b.icmp.inhist[8], 2);
  assert.equal(cb.vxlanEntries('vxlan1').length, 0, 'nothing learned with -vxlanlearn');
  cb.configureVxlan('vxlan1', { learn: true, timeout: 5 });
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.equal(cb.vxlanEntries('vxlan1')[0]!.expire, 5);
  plat.clock.advance(6000);
  assert.equal(cb.vxlanEntries('vxlan1').length, 0, 'expired after vxlantimeout');
  cb.configureVxlan('vxlan1', { maxaddr: 0 });
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.equal(cb.vxlanEntries('vxlan1').length, 0);
  assert.ok(b.vxlan.stat.ftnospace > 0, 'a full table is counted');
  assert.equal(b.icmp.inhist[8], 4, 'traffic still flows to vxlanremote');
});

test('the running VNI and end points change only while down; multicast remotes are refused; destroy closes the socket', () => {
  const { reg, a } = pair();
  const ca = new ImageControl(a, reg).interfaces;
  assert.throws(() => ca.configureVxlan('vxlan0', { vni: 43 }), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_INTERFACE_BUSY');
  assert.throws(() => ca.configureVxlan('vxlan0', { remote: ip('239.1.1.1') }), /multicast/);
  assert.throws(() => ca.configureVxlan('vxlan0', { vni: 1 << 24 }), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_OUT_OF_RANGE');
  ca.configureVxlan('vxlan0', { ttl: 9 });
  ca.configure('vxlan0', [{ kind: 'down' }]);
  assert.equal(a.udb.count, 0, 'down closes the socket');
  ca.configureVxlan('vxlan0', { vni: 43 });
  ca.configure('vxlan0', [{ kind: 'up' }]);
  assert.equal(a.udb.count, 1);
  assert.equal(ca.get('vxlan0').vxlan!.vni, 43);
  // A second vxlan on the same local address and port shares the socket, by VNI.
  ca.createVxlan({ name: 'vxlan7', params: { vni: 7, local: ip('10.0.0.1'), remote: ip('10.0.0.2') } });
  ca.configure('vxlan7', [{ kind: 'up' }]);
  assert.equal(a.udb.count, 1);
  assert.ok((a.ifnet('vxlan7').flags & IFF.RUNNING) !== 0);
  ca.destroy('vxlan0');
  assert.equal(a.udb.count, 1, 'vxlan7 still holds it');
  ca.destroy('vxlan7');
  assert.equal(a.udb.count, 0);
  assert.equal(a.vxlan.sockets.size, 0);
});

test('short datagrams, a clear I flag, an unknown VNI and short inner frames are counted and dropped, never thrown', () => {
  const { reg, b, ub } = pair();
  const st = b.vxlan.stat;
  const vb = b.ifnet('vxlan1');
  const base = st.ipackets;
  const feed = (payload: number[]): void => {
    // Ethernet to B's underlay, IPv4 UDP 10.0.0.1:50000 -> 10.0.0.2:4789, no checksum.
    const len = 14 + 20 + 8 + payload.length;
    const f = new Uint8Array(PKT_HEADROOM + len);
    const o = PKT_HEADROOM;
    const mac = ub.mac;
    for (let i = 0; i < 6; i++) f[o + i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
    f.set([0x08, 0x00], o + 12);
    const t = 20 + 8 + payload.length;
    f.set([0x45, 0, t >> 8, t & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], o + 14);
    const ipv = new Ipv4Packet().reset(f, o + 14, t);
    ipv.fillChecksum();
    f.set([0xc3, 0x50, 0x12, 0xb5, (8 + payload.length) >> 8, (8 + payload.length) & 0xff, 0, 0], o + 34);
    f.set(payload, o + 42);
    ub.input(f, o, len, new VnetHdr());
    reg.netisr.drain();
  };
  feed([0x08, 0, 0]);
  assert.equal(st.hdrops, 1);
  feed([0, 0, 0, 0, 0, 0, 42, 0, ...new Array(60).fill(0)]);
  assert.equal(st.badflags, 1);
  feed([0x08, 0, 0, 0, 0, 0, 43, 0, ...new Array(60).fill(0)]);
  assert.equal(st.novni, 1);
  const ierr = vb.counters.ierrors;
  feed([0x08, 0, 0, 0, 0, 0, 42, 0, 1, 2, 3]);
  assert.equal(st.badframe, 1);
  assert.equal(vb.counters.ierrors, ierr + 1);
  assert.equal(st.ipackets - base, 4);
});

test('a remote routed through the vxlan itself does not recurse forever', () => {
  const { reg, a } = pair();
  const ca = new ImageControl(a, reg).interfaces;
  ca.configure('vxlan0', [{ kind: 'down' }]);
  ca.configureVxlan('vxlan0', { remote: ip('10.42.0.9') });
  ca.configure('vxlan0', [{ kind: 'up' }]);
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.ok(a.vxlan.stat.nested > 0, 'the loop was cut and counted');
  assert.ok(a.ifnet('vxlan0').counters.oerrors > 0);
});

test('encapsulation and decapsulation allocate nothing per packet', () => {
  const { reg, plat, a, b } = pair();
  // Addresses below 128.0.0.0 throughout: UDP input of a datagram from a higher one (not a small
  // integer in V8) allocates on its own, with or without vxlan.
  // Resolve ARP both ways (underlay and overlay).
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  plat.clock.advance(1);
  reg.netisr.drain();
  const va = a.ifnet('vxlan0');
  const vb = b.ifnet('vxlan1');
  assert.ok((va.driver as VxlanDriver).so !== null);
  b.sysctl.set('net.inet.udp.blackhole', '1');
  // An inner frame A's stack would hand to vxlan0: Ethernet to B's vxlan, UDP 10.42.0.1 -> .2:9, no checksum.
  const len = 14 + 20 + 8 + 18;
  const frame = new Uint8Array(PKT_HEADROOM + len);
  const o = PKT_HEADROOM;
  for (let i = 0; i < 6; i++) {
    frame[o + i] = Math.floor(vb.mac / 2 ** (8 * (5 - i))) & 0xff;
    frame[o + 6 + i] = Math.floor(va.mac / 2 ** (8 * (5 - i))) & 0xff;
  }
  frame.set([0x08, 0x00, 0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 42, 0, 1, 10, 42, 0, 2, 0x04, 0xd2, 0, 9, 0, 26, 0, 0], o + 12);
  new Ipv4Packet().reset(frame, o + 14, 46).fillChecksum();
  const meta = new VnetHdr();
  // Encapsulation writes only in front of the frame, so the same frame goes again and again.
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      va.output(frame, o, len, meta);
      reg.netisr.drain();
    }
  };
  const before = b.udpstat.noport;
  run(50_000);
  assert.ok(b.udpstat.noport - before >= 50_000, `B got ${b.udpstat.noport - before} inner datagrams`);
  const w = allocWindows(run, 100_000);
  assert.ok(w.length > 0, 'a garbage collection ran during every window of 100k packets: something allocates per packet');
  assert.ok(Math.min(...w) < 8, `${w.map((x) => x.toFixed(2)).join(', ')} bytes allocated per packet`);
});

test('a vxlan moved to another image closes its socket in the old one and opens it in the new one', () => {
  const { reg, a } = pair();
  const c = reg.create('C');
  assert.equal(a.udb.count, 1);
  reg.move(a, a.ifnet('vxlan0'), c);
  assert.equal(a.udb.count, 0, 'closed in A');
  assert.equal(a.vxlan.sockets.size, 0);
  const v = c.ifnet('vxlan0');
  new ImageControl(c, reg).interfaces.configure('vxlan0', [{ kind: 'up' }]);
  assert.ok((v.flags & IFF.RUNNING) !== 0);
  assert.equal(c.udb.count, 1, 'open in C');
  reg.destroy('C');
  assert.equal(c.udb.count, 0);
});

test('the outer packets pass through ipfw like any the image sends', () => {
  const { reg, plat, a, b } = pair();
  const [deny] = rules(a, '100 deny udp from me to any 4789 out', '200 allow ip from any to any');
  a.sysctl.set('net.inet.ip.fw.enable', '1');
  const before = b.icmp.inhist[8] ?? 0;
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.ok(deny!.pcnt >= 1, 'the rule saw the encapsulated packet');
  assert.equal(b.icmp.inhist[8] ?? 0, before, 'nothing reached B');
  assert.ok(a.ifnet('vxlan0').counters.oerrors >= 1, 'counted as an output error on vxlan0');
  a.sysctl.set('net.inet.ip.fw.enable', '0');
  // The ARP request for 10.42.0.2 was what the rule dropped; the next one (a second later) goes.
  plat.clock.advance(1100);
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  assert.ok((b.icmp.inhist[8] ?? 0) > before, 'through once the rule is gone');
});

test('a frame without room in front (a TAP receive slot) is copied once and still encapsulated', () => {
  const { reg, plat, a, b } = pair();
  send(reg, a, { proto: 1, dst: '10.42.0.2' });
  plat.clock.advance(1);
  reg.netisr.drain();
  const va = a.ifnet('vxlan0');
  const vb = b.ifnet('vxlan1');
  b.sysctl.set('net.inet.udp.blackhole', '1');
  const len = 14 + 20 + 8 + 18;
  const o = 10;
  const frame = new Uint8Array(o + len);
  for (let i = 0; i < 6; i++) {
    frame[o + i] = Math.floor(vb.mac / 2 ** (8 * (5 - i))) & 0xff;
    frame[o + 6 + i] = Math.floor(va.mac / 2 ** (8 * (5 - i))) & 0xff;
  }
  frame.set([0x08, 0x00, 0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 42, 0, 1, 10, 42, 0, 2, 0x04, 0xd2, 0, 9, 0, 26, 0, 0], o + 12);
  new Ipv4Packet().reset(frame, o + 14, 46).fillChecksum();
  const copy = frame.slice();
  const before = b.udpstat.noport;
  va.output(frame, o, len, new VnetHdr());
  reg.netisr.drain();
  assert.equal(b.udpstat.noport, before + 1, 'B got the inner datagram');
  assert.deepEqual(frame, copy, "the sender's buffer is untouched");
});

test('a datagram to the underlay broadcast address and the vxlan port reaches the tunnel (counted there, not as a full socket)', () => {
  const { reg, b, ub } = pair();
  const st = b.vxlan.stat;
  const base = st.ipackets;
  const full = b.udpstat.fullsock;
  const payload = [0x08, 0, 0, 0, 0, 0, 42, 0, ...new Array(60).fill(0)];
  const len = 14 + 20 + 8 + payload.length;
  const f = new Uint8Array(PKT_HEADROOM + len);
  const o = PKT_HEADROOM;
  f.fill(0xff, o, o + 6);
  f.set([0x08, 0x00], o + 12);
  const t = 20 + 8 + payload.length;
  f.set([0x45, 0, t >> 8, t & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 255], o + 14);
  new Ipv4Packet().reset(f, o + 14, t).fillChecksum();
  f.set([0xc3, 0x50, 0x12, 0xb5, (8 + payload.length) >> 8, (8 + payload.length) & 0xff, 0, 0], o + 34);
  f.set(payload, o + 42);
  ub.input(f, o, len, new VnetHdr());
  reg.netisr.drain();
  assert.equal(st.ipackets - base, 1, 'the tunnel saw the datagram');
  assert.equal(st.badaddr, 1, "not for vxlanlocal 10.0.0.2: dropped by the tunnel's own check");
  assert.equal(b.udpstat.fullsock, full, 'not counted as a full socket buffer');
});

test('learning keeps working after thousands of end points came and went (slots of expired end points are reused)', () => {
  const { b, plat } = pair();
  const d = b.ifnet('vxlan1').driver as VxlanDriver;
  d.timeout = 1;
  d.flush(true); // what pair() learned, with the default timeout
  const mac = new Uint8Array(6);
  const learnOne = (n: number, raddr: number): void => {
    mac.set([0x02, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    d.learn(b, raddr, mac, 0);
  };
  let n = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 1000; i++, n++) learnOne(n, (0x0b000000 + n) >>> 0);
    plat.clock.advance(3000); // every entry expires
    assert.equal(d.count, 0);
  }
  learnOne(n, 0x0a000063);
  assert.equal(d.count, 1, 'a new end point is learned');
  assert.equal(d.entries()[0]?.remote, '10.0.0.99');
});

test('while a UDP socket holds the vxlan port, output does not try (and fail) to bind it again for every packet', () => {
  const { reg, plat, a } = pair();
  const ctl = new ImageControl(a, reg);
  ctl.interfaces.configure('vxlan0', [{ kind: 'down' }]);
  const u = ctl.sockets.udp();
  u.bind(4789);
  ctl.interfaces.configure('vxlan0', [{ kind: 'up' }]);
  const v = a.ifnet('vxlan0');
  assert.equal(v.flags & IFF.RUNNING, 0, 'not running: the port is taken');
  let tries = 0;
  const bind = a.udb.bind.bind(a.udb);
  a.udb.bind = (...args: Parameters<typeof bind>): void => {
    tries++;
    bind(...args);
  };
  for (let i = 0; i < 20; i++) v.output(new Uint8Array(PKT_HEADROOM + 60), PKT_HEADROOM, 60, new VnetHdr());
  assert.ok(tries <= 1, `${tries} binds for 20 packets`);
  // Once the port is free the interface starts at the next packet after a retry interval.
  u.close();
  plat.clock.advance(1000);
  v.output(new Uint8Array(PKT_HEADROOM + 60), PKT_HEADROOM, 60, new VnetHdr());
  assert.ok((v.flags & IFF.RUNNING) !== 0);
});
