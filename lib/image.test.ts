import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './clock.js';
import { ManualPlatform } from './platform.js';
import { silentLogger } from './log.js';
import { Registry, type Image } from './image.js';
import { rawAttach } from './netinet/raw_ip.js';
import { allocPacket, buildIpHeader, ipOutputLocal } from './netinet/ip_output.js';
import { internetChecksum } from './wire/checksum.js';
import { ip, routerTopology, type Topology } from './testing/topology.js';
import { VimageError } from './errors.js';
import { arpAddStatic } from './netinet/if_ether.js';
import type { Mac } from './wire/ethernet.js';

/** A --(epair0)-- R --(epair1)-- B, R routing between 10.1.0.0/24 and 10.2.0.0/24 (forwarding off). */
const topology = (): Topology => routerTopology({ forwarding: false });

/** Send an ICMP echo request from `im` to `dst`; returns what the raw socket saw. */
function ping(reg: Registry, im: Image, dst: number, opts: { ttl?: number; size?: number } = {}): Array<{ type: number; code: number; src: number }> {
  const got: Array<{ type: number; code: number; src: number }> = [];
  const detach = rawAttach(im, {
    proto: 1,
    input(buf, off) {
      const hl = (buf[off]! & 0xf) << 2;
      const src = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
      got.push({ type: buf[off + hl]!, code: buf[off + hl + 1]!, src });
    },
  });
  const size = opts.size ?? 56;
  const p = allocPacket(20 + 8 + size);
  const io = p.off + 20;
  p.buf[io] = 8;
  p.buf[io + 4] = 0x12;
  p.buf[io + 5] = 0x34;
  for (let i = 0; i < size; i++) p.buf[io + 8 + i] = i & 0xff;
  const s = internetChecksum(p.buf, io, 8 + size);
  p.buf[io + 2] = s >> 8;
  p.buf[io + 3] = s & 0xff;
  buildIpHeader(im, p.buf, p.off, 28 + size, 1, 0, dst, opts.ttl);
  const r = ipOutputLocal(im, p.buf, p.off, 28 + size, im.noOffload);
  assert.equal(r, 0);
  reg.netisr.drain();
  reg.clock instanceof ManualClock && (reg.clock as ManualClock).advance(1000);
  reg.netisr.drain();
  detach();
  return got.filter((g) => g.type !== 8);
}

test('echo across a router once forwarding is on', () => {
  const { reg, a, r } = topology();
  // Forwarding is off by default (net.inet.ip.forwarding=0): nothing comes back.
  assert.deepEqual(ping(reg, a, ip('10.2.0.2')), []);
  assert.ok(r.ipstat.cantforward >= 1);
  r.sysctl.set('net.inet.ip.forwarding', '1');
  const got = ping(reg, a, ip('10.2.0.2'));
  assert.deepEqual(got, [{ type: 0, code: 0, src: ip('10.2.0.2') }]);
  assert.ok(r.ipstat.forward >= 2);
  assert.equal(r.arp.entries.get(ip('10.1.0.2'))?.state, 1);
  assert.equal(r.arp.entries.get(ip('10.2.0.2'))?.state, 1);
});

test('TTL expiry in the router answers time exceeded from the incoming interface', () => {
  const { reg, a, r } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  assert.deepEqual(ping(reg, a, ip('10.2.0.2'), { ttl: 1 }), [{ type: 11, code: 0, src: ip('10.1.0.1') }]);
});

test('no route in the router answers net unreachable', () => {
  const { reg, a, r } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  assert.deepEqual(ping(reg, a, ip('10.9.0.1')), [{ type: 3, code: 0, src: ip('10.1.0.1') }]);
  assert.equal(r.ipstat.noroute, 1);
});

test('large echo is fragmented by the sender and reassembled by the receiver', () => {
  const { reg, a, r, b } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  const got = ping(reg, a, ip('10.2.0.2'), { size: 4000 });
  assert.equal(got.length, 1);
  assert.equal(got[0]!.type, 0);
  assert.equal(b.ipstat.reassembled, 1);
  assert.equal(a.ipstat.reassembled, 1);
  assert.ok(a.ipstat.ofragments >= 3);
});

test('DF set and MTU too small in the router: fragmentation needed with the MTU', () => {
  const { reg, a, r } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  r.setMtu(r.ifnet('epair1a'), 1000);
  const detach = rawAttach(a, { proto: 1, input() {} });
  const seen: number[] = [];
  const d2 = rawAttach(a, {
    proto: 1,
    input(buf, off) {
      const hl = (buf[off]! & 0xf) << 2;
      if (buf[off + hl] === 3) seen.push((buf[off + hl + 6]! << 8) | buf[off + hl + 7]!);
    },
  });
  const p = allocPacket(1400);
  p.buf[p.off + 20] = 8;
  buildIpHeader(a, p.buf, p.off, 1400, 1, 0, ip('10.2.0.2'));
  assert.equal(ipOutputLocal(a, p.buf, p.off, 1400, a.noOffload, { dontFrag: true }), 0);
  reg.netisr.drain();
  detach();
  d2();
  assert.deepEqual(seen, [1000]);
  assert.equal(r.ipstat.cantfrag, 1);
});

test('an image sees none of another image\'s interfaces or routes', () => {
  const { reg, a, r, b } = topology();
  assert.deepEqual([...b.ifnets.keys()].sort(), ['epair1b', 'lo0']);
  assert.equal(b.routes.lookup(ip('10.1.0.2'))?.gateway, ip('10.2.0.1'));
  assert.equal(b.routes.get(ip('10.1.0.0'), 24), undefined);
  assert.ok(r.ifnets.has('epair0a') && !a.ifnets.has('epair0a'));
  assert.equal(reg.list().length, 4);
});

test('ARP gives up after maxtries and drops what it held', () => {
  const { reg, clock, a } = topology();
  const base = a.arpstat.txrequests; // the gratuitous ARP of the address
  const out = allocPacket(28);
  buildIpHeader(a, out.buf, out.off, 28, 1, 0, ip('10.1.0.77'));
  assert.equal(ipOutputLocal(a, out.buf, out.off, 28, a.noOffload), 0);
  reg.netisr.drain();
  assert.equal(a.arpstat.txrequests - base, 1);
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    reg.netisr.drain();
  }
  assert.equal(a.arpstat.txrequests - base, 5);
  assert.equal(a.arpstat.dropped, 1);
  clock.advance(30_000);
  assert.equal(a.arp.entries.has(ip('10.1.0.77')), false);
});

test('ARP entries expire after net.link.ether.inet.max_age', () => {
  const { reg, clock, a, r } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  a.sysctl.set('net.link.ether.inet.max_age', '60');
  ping(reg, a, ip('10.1.0.1'));
  assert.ok(a.arp.entries.has(ip('10.1.0.1')));
  clock.advance(61_000);
  assert.equal(a.arp.entries.has(ip('10.1.0.1')), false);
  assert.equal(a.arpstat.timeouts, 1);
});

test('destroying an image returns its interfaces to default without addresses, and leaves no timer', () => {
  const { reg, clock, b } = topology();
  const idle = clock.pending;
  // A neighbour entry arms B's ARP sweeper (an image with empty tables has no timer).
  arpAddStatic(b, ip('10.2.0.99'), 0x020000000099 as Mac, 60_000);
  const before = clock.pending;
  assert.equal(before, idle + 1);
  reg.destroy('B');
  assert.equal(reg.get('B'), undefined);
  const back = reg.default.ifnets.get('epair1b');
  assert.ok(back !== undefined);
  assert.deepEqual(back.addrs, []);
  assert.equal(b.live, false);
  assert.equal(clock.pending, before - 1);
  assert.throws(() => reg.destroy('B'), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_NO_SUCH_IMAGE');
});

test('moving onto an existing name or into the same image fails', () => {
  const { reg, r, a } = topology();
  const [x] = reg.createEpair(r);
  assert.throws(() => reg.move(r, x, r), /already in image R/);
  a.rename(a.ifnet('epair0b'), 'ext0');
  r.rename(x, 'ext0');
  assert.throws(() => reg.move(r, x, a), /already exists in image A/);
});

test('creating and destroying many images leaks no timers', () => {
  const platform = new ManualPlatform();
  const clock = platform.clock;
  const reg = new Registry({ platform, log: silentLogger });
  const base = clock.pending;
  for (let i = 0; i < 500; i++) {
    const im = reg.create(`x${i}`);
    reg.createEpair(im);
  }
  for (let i = 0; i < 500; i++) reg.destroy(`x${i}`);
  assert.equal(clock.pending, base);
  assert.equal(reg.list().length, 1);
});

test('ICMP errors are rate limited by net.inet.icmp.icmplim and the excess is counted', () => {
  const { reg, clock, a, r } = topology();
  r.sysctl.set('net.inet.ip.forwarding', '1');
  r.sysctl.set('net.inet.icmp.icmplim', '50');
  let unreach = 0;
  const detach = rawAttach(a, {
    proto: 1,
    input(buf, off) {
      const hl = (buf[off]! & 0xf) << 2;
      if (buf[off + hl] === 3) unreach++;
    },
  });
  const send = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const p = allocPacket(28);
      p.buf[p.off + 20] = 8;
      buildIpHeader(a, p.buf, p.off, 28, 1, 0, ip('10.9.0.1'));
      ipOutputLocal(a, p.buf, p.off, 28, a.noOffload);
      reg.netisr.drain();
    }
  };
  send(120);
  assert.equal(unreach, 50, 'at most icmplim answers in one second');
  assert.equal(r.icmpstat.ratelimited, 70);
  clock.advance(1000);
  send(10);
  assert.equal(unreach, 60, 'the limit resets after a second');
  detach();
});

test('limits.images counts the images a user made, not default', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, limits: { images: 2 } });
  reg.create('one');
  reg.create('two');
  assert.throws(() => reg.create('three'), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_LIMIT' && /limit of 2 images/.test(e.message));
  reg.destroy('two');
  reg.create('three');
  reg.close();
});
