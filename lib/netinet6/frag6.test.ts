/**
 * IPv6 fragmentation at the source, reassembly with its limits, and the
 * path MTU, over an in-memory epair with a manual clock: golden bytes of
 * the fragments ip6_output makes, reassembly in every order, RFC 5722
 * overlaps, the 60 s timeout and its time exceeded, the parameter problem
 * for a bad length, each limit, and a hostile storm that holds no more
 * than the limits allow.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { A6, B6, ethOf, twoImages6 } from '../testing/testnet6.js';
import type { TestNet } from '../testing/testnet.js';
import { put16, put32 } from '../wire/bytes.js';
import { ICMP6_TYPE, emitIcmp6Echo, icmp6FillChecksum } from '../wire/icmp6.js';
import { IPPROTO6, emitIpv6Raw, parseIp6 } from '../wire/ipv6.js';
import { VnetHdr } from '../wire/vnet.js';
import { Icmp6Endpoint } from './icmp6.js';
import { frag6Counts, IPV6_FRAGTTL, ip6MaxFragPackets, ip6MaxFrags } from './frag6.js';
import { ip6Input } from './ip6_input.js';
import { ip6Output } from './ip6_output.js';
import { PMTU6_EXPIRE, pmtu6Lookup } from './pmtu6.js';

const meta = new VnetHdr();

/** An ICMPv6 echo request of `n` data bytes from `src` to `dst` (a whole IPv6 packet, checksummed). */
function echo(n: number, src = A6, dst = B6, seq = 1): Uint8Array {
  const b = new Uint8Array(40 + 8 + n);
  emitIpv6Raw(b, 0, 8 + n, IPPROTO6.ICMPV6, 64, parseIp6(src)!, 0, parseIp6(dst)!, 0);
  emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, 0x99, seq, b, 40);
  for (let i = 0; i < n; i++) b[48 + i] = i & 0xff;
  icmp6FillChecksum(b, 0, 40, 8 + n);
  return b;
}

/** Cut the whole packet `p` (no extension headers) into fragments at the given payload offsets (multiples of 8). */
function cut(p: Uint8Array, ident: number, at: number[]): Uint8Array[] {
  const pl = p.length - 40;
  const bounds = [...at, pl];
  const out: Uint8Array[] = [];
  let start = 0;
  for (const end of bounds) {
    out.push(frag(p, ident, start, end, end < pl));
    start = end;
  }
  return out;
}

/** One fragment of `p` carrying its payload bytes [start, end), with the M flag `more`. */
function frag(p: Uint8Array, ident: number, start: number, end: number, more: boolean): Uint8Array {
  const f = new Uint8Array(48 + end - start);
  f.set(p.subarray(0, 40));
  put16(f, 4, 8 + end - start);
  f[6] = IPPROTO6.FRAGMENT;
  f[40] = p[6]!;
  put16(f, 42, start | (more ? 1 : 0));
  put32(f, 44, ident);
  f.set(p.subarray(40 + start, 40 + end), 48);
  return f;
}

function inject(im: Image, f: Uint8Array): void {
  ip6Input(im, ethOf(im), f, 0, f.length, meta);
}

async function net6(): Promise<TestNet> {
  const n = twoImages6();
  await n.run(2500, 100);
  return n;
}

/** Frames `ifp` sends, copied (IPv6 packet only, past the Ethernet header). */
function tapOut(ifp: Ifnet): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const orig = ifp.output.bind(ifp);
  ifp.output = (buf, off, len, m): void => {
    if (buf[off + 12] === 0x86 && buf[off + 13] === 0xdd) frames.push(buf.slice(off + 14, off + len));
    orig(buf, off, len, m);
  };
  return frames;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('a packet larger than the link MTU leaves in fragments: golden headers, 8-byte multiples, one random identification', async () => {
  const n = await net6();
  const frames = tapOut(ethOf(n.a));
  const p = echo(2000 - 8); // 2000 bytes of ICMPv6 after the IPv6 header
  const buf = new Uint8Array(64 + p.length);
  buf.set(p, 64);
  assert.equal(ip6Output(n.a, buf, 64, p.length, n.a.noOffload), 0);
  await n.settle();
  const f = frames.filter((x) => x[6] === IPPROTO6.FRAGMENT);
  assert.equal(f.length, 2);
  // (1500 - 40 - 8) & ~7 = 1448 bytes in the first; the other 552 in the last.
  assert.equal(f[0]!.length, 1496);
  assert.equal(f[1]!.length, 600);
  const ident = hex(f[0]!.subarray(44, 48));
  assert.equal(hex(f[1]!.subarray(44, 48)), ident);
  const head = '60000000' + '05b0' + '2c' + '40' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002';
  assert.equal(hex(f[0]!.subarray(0, 44)), head + '3a000001');
  assert.equal(hex(f[1]!.subarray(0, 44)), head.replace('05b0', '0230') + '3a0005a8');
  assert.equal(hex(f[0]!.subarray(48)), hex(p.subarray(40, 40 + 1448)));
  assert.equal(hex(f[1]!.subarray(48)), hex(p.subarray(40 + 1448)));
  assert.equal(n.a.ip6stat.fragmented, 1);
  assert.equal(n.a.ip6stat.ofragments, 2);
  // B put it together and answered: its reply was fragmented too, and A reassembled that.
  await n.run(100, 10);
  assert.equal(n.b.ip6stat.reassembled, 1);
  assert.equal(n.b.icmp6stat.reflect, 1);
  assert.equal(n.b.ip6stat.fragmented, 1);
  assert.equal(n.a.ip6stat.reassembled, 1);
  assert.equal(n.a.icmp6.inhist[ICMP6_TYPE.ECHO_REPLY], 1);
  // IPV6_DONTFRAG: EMSGSIZE instead.
  buf.set(p, 64);
  assert.equal(ip6Output(n.a, buf, 64, p.length, n.a.noOffload, { dontfrag: true }), 'EMSGSIZE');
  assert.equal(n.a.ip6stat.cantfrag, 1);
});

test('fragments reassemble in any order, and an exact duplicate is dropped alone', async () => {
  const n = await net6();
  const orders = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ];
  let ident = 100;
  for (const o of orders) {
    const fs = cut(echo(3000, A6, B6, ident), ident, [1232, 2464]);
    for (const i of o) inject(n.b, fs[i]!);
    ident++;
  }
  await n.run(100, 10);
  const st = n.b.ip6stat;
  assert.equal(st.fragments, 18);
  assert.equal(st.reassembled, 6);
  assert.equal(st.fragdropped, 0);
  assert.equal(n.b.icmp6stat.reflect, 6, 'each datagram was a valid echo request');
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
  // A duplicate: dropped, and the datagram still completes.
  const fs = cut(echo(3000, A6, B6, 7), 7, [1232, 2464]);
  inject(n.b, fs[1]!);
  inject(n.b, fs[1]!);
  assert.equal(st.fragdropped, 1);
  inject(n.b, fs[0]!);
  inject(n.b, fs[2]!);
  assert.equal(st.reassembled, 7);
});

test('overlapping fragments drop the whole datagram (RFC 5722); so do fragments past the last one', async () => {
  const n = await net6();
  const st = n.b.ip6stat;
  const p = echo(3000);
  inject(n.b, frag(p, 1, 0, 1232, true));
  inject(n.b, frag(p, 1, 1224, 2000, true)); // overlaps the first by 8 bytes
  assert.equal(st.fragdropped, 2);
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
  // The rest of that datagram starts a new queue that can never complete.
  inject(n.b, frag(p, 1, 2000, p.length - 40, false));
  assert.equal(st.reassembled, 0);
  // A fragment past the end the last fragment set.
  inject(n.b, frag(p, 2, 1000, 1200, false));
  inject(n.b, frag(p, 2, 1200, 1400, true));
  assert.equal(st.fragdropped, 4);
  assert.equal(st.reassembled, 0);
  assert.equal(n.b.icmp6stat.reflect, 0);
});

test('a datagram not complete in 60 s is dropped; with its first fragment, the source gets time exceeded (code 1)', async () => {
  const n = await net6();
  const p = echo(3000);
  const fs = cut(p, 9, [1232, 2464]);
  inject(n.b, fs[0]!);
  inject(n.b, fs[2]!);
  const fs2 = cut(echo(3000), 10, [1232, 2464]);
  inject(n.b, fs2[1]!); // no first fragment: no error
  await n.run(IPV6_FRAGTTL - 1000, 1000);
  assert.equal(n.b.ip6stat.fragtimeout, 0);
  assert.deepEqual(frag6Counts(n.b), { frags: 3, packets: 2 });
  await n.run(2000, 100);
  assert.equal(n.b.ip6stat.fragtimeout, 3);
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
  assert.equal(n.b.icmp6.outhist[ICMP6_TYPE.TIME_EXCEEDED], 1);
  assert.equal(n.a.icmp6.inhist[ICMP6_TYPE.TIME_EXCEEDED], 1);
  assert.equal(n.b.frag6.sweeper, null, 'the reassembly timer stops with the last queue');
});

test('time exceeded quotes the first fragment with code 1', async () => {
  const n = await net6();
  const seen: Uint8Array[] = [];
  const ep = new Icmp6Endpoint(n.a);
  ep.onPacket((b, _ip, ic, len) => seen.push(b.slice(ic, ic + len)));
  const fs = cut(echo(3000), 0x1234, [1232]);
  inject(n.b, fs[0]!);
  await n.run(IPV6_FRAGTTL + 2000, 1000);
  assert.equal(seen.length, 1);
  const m = seen[0]!;
  assert.equal(m[0], ICMP6_TYPE.TIME_EXCEEDED);
  assert.equal(m[1], 1);
  assert.equal(hex(m.subarray(8, 8 + 48)), hex(fs[0]!.subarray(0, 48)), 'the quote is the first fragment');
  ep.close();
});

test('a fragment (not the last) whose length is not a multiple of 8 gets a parameter problem pointing at the payload length', async () => {
  const n = await net6();
  const seen: Uint8Array[] = [];
  const ep = new Icmp6Endpoint(n.a);
  ep.onPacket((b, _ip, ic, len) => seen.push(b.slice(ic, ic + len)));
  inject(n.b, frag(echo(3000), 5, 0, 1001, true));
  await n.run(100, 10);
  assert.equal(n.b.ip6stat.fragdropped, 1);
  assert.equal(seen.length, 1);
  assert.equal(hex(seen[0]!.subarray(0, 2)), '0400', 'parameter problem, erroneous header field');
  assert.equal(hex(seen[0]!.subarray(4, 8)), '00000004', 'pointing at the payload length');
  ep.close();
});

test('an atomic fragment (offset 0, M clear: RFC 6946) is delivered at once', async () => {
  const n = await net6();
  const p = echo(100);
  inject(n.b, frag(p, 3, 0, p.length - 40, false));
  await n.run(100, 10);
  assert.equal(n.b.ip6stat.atomicfrags, 1);
  assert.equal(n.b.ip6stat.reassembled, 0);
  assert.equal(n.b.icmp6stat.reflect, 1);
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
});

test('limits: maxfragsperpacket, maxfragpackets, maxfragbucketsize and maxfrags each bound what is held, and each drop is counted', async () => {
  const n = await net6();
  const st = n.b.ip6stat;
  const p = echo(3000);
  n.b.sysctl.set('net.inet6.ip6.maxfragsperpacket', '4');
  for (let i = 0; i < 5; i++) inject(n.b, frag(p, 1, i * 16, i * 16 + 8, true)); // holes between: never complete
  assert.equal(st.fragdropped, 5, 'the fifth fragment took the datagram past 4: all five dropped');
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });

  n.b.sysctl.set('net.inet6.ip6.maxfragbucketsize', '100');
  n.b.sysctl.set('net.inet6.ip6.maxfragpackets', '3');
  for (let id = 10; id < 20; id++) inject(n.b, frag(p, id, 0, 8, true));
  assert.deepEqual(frag6Counts(n.b), { frags: 3, packets: 3 });
  assert.equal(st.fragdropped, 5 + 7);

  n.b.sysctl.set('net.inet6.ip6.maxfragpackets', '100');
  n.b.sysctl.set('net.inet6.ip6.maxfrags', '5');
  for (let id = 20; id < 30; id++) inject(n.b, frag(p, id, 0, 8, true));
  assert.deepEqual(frag6Counts(n.b), { frags: 5, packets: 5 });
  assert.equal(st.fragdropped, 5 + 7 + 8);

  // Lowering maxfragpackets: the timer drains the oldest queues down to it (fragoverflow).
  n.b.sysctl.set('net.inet6.ip6.maxfragpackets', '2');
  await n.run(1000, 1000);
  assert.deepEqual(frag6Counts(n.b), { frags: 2, packets: 2 });
  assert.equal(st.fragoverflow, 3);

  // maxfragpackets 0: no fragments at all.
  n.b.sysctl.set('net.inet6.ip6.maxfragpackets', '0');
  await n.run(1000, 1000);
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
  inject(n.b, frag(p, 99, 0, 8, true));
  assert.deepEqual(frag6Counts(n.b), { frags: 0, packets: 0 });
  assert.equal(st.fragments, st.fragdropped + st.fragoverflow + st.fragtimeout);
});

test('a hostile fragment storm never holds more than the limits, and everything is gone after 60 s', async () => {
  const n = await net6();
  const im = n.b;
  const maxfrags = im.sysctl.get(ip6MaxFrags);
  const maxpk = im.sysctl.get(ip6MaxFragPackets);
  let seed = 12345;
  const rnd = (m: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % m;
  };
  const src = new Uint8Array(16);
  src.set(parseIp6('2001:db8:ffff::')!);
  const body = new Uint8Array(1500);
  let peak = 0;
  for (let i = 0; i < 40_000; i++) {
    const len = 8 * (1 + rnd(150)) + (rnd(4) === 0 ? rnd(8) : 0);
    const f = new Uint8Array(48 + len);
    f.set(body.subarray(0, len), 48);
    src[14] = rnd(256);
    src[15] = rnd(256);
    emitIpv6Raw(f, 0, 8 + len, IPPROTO6.FRAGMENT, 64, src, 0, parseIp6(B6)!, 0);
    f[40] = rnd(3) === 0 ? IPPROTO6.ICMPV6 : IPPROTO6.UDP;
    put16(f, 42, (8 * rnd(8000)) | rnd(2));
    put32(f, 44, rnd(8));
    inject(im, f);
    const c = frag6Counts(im);
    peak = Math.max(peak, c.frags);
    assert.ok(c.frags <= maxfrags && c.packets <= maxpk, `held ${c.frags} fragments in ${c.packets} datagrams`);
    if (i % 5000 === 4999) await n.run(5000, 1000);
  }
  assert.ok(peak > 0);
  await n.run(IPV6_FRAGTTL + 2000, 1000);
  assert.deepEqual(frag6Counts(im), { frags: 0, packets: 0 });
  const st = im.ip6stat;
  assert.ok(st.fragments >= 40_000 - 100, `counted ${st.fragments}`);
  assert.equal(im.frag6.sweeper, null);
});

test('Packet Too Big lowers the path MTU to one destination (never below 1280), used by output; it expires after 10 minutes', async () => {
  const n = await net6();
  const a = n.a;
  const ea = ethOf(a);
  const b6 = parseIp6(B6)!;
  /** A Packet Too Big to A, as if from a router, quoting a packet A sent to `dst`. */
  const ptb = (mtu: number, from = A6, dst = B6): Uint8Array => {
    const q = echo(1300, from, dst);
    const m = new Uint8Array(40 + 8 + q.length);
    emitIpv6Raw(m, 0, 8 + q.length, IPPROTO6.ICMPV6, 64, parseIp6('2001:db8::99')!, 0, parseIp6(A6)!, 0);
    m[40] = ICMP6_TYPE.PACKET_TOO_BIG;
    put32(m, 44, mtu);
    m.set(q, 48);
    icmp6FillChecksum(m, 0, 40, 8 + q.length);
    return m;
  };
  inject(a, ptb(1400, '2001:db8::77')); // the quote is not from us: ignored
  assert.equal(pmtu6Lookup(a, b6, 0), 0);
  inject(a, ptb(1400));
  assert.equal(pmtu6Lookup(a, b6, 0), 1400);
  assert.equal(a.icmp6stat.pmtuchg, 1);
  inject(a, ptb(1450)); // higher: ignored (only expiry raises it)
  assert.equal(pmtu6Lookup(a, b6, 0), 1400);
  inject(a, ptb(600)); // below the minimum: 1280
  assert.equal(pmtu6Lookup(a, b6, 0), 1280);
  assert.equal(a.icmp6stat.pmtuchg, 2);
  const frames = tapOut(ea);
  const p = echo(1400 - 48);
  const buf = new Uint8Array(64 + p.length);
  buf.set(p, 64);
  assert.equal(ip6Output(a, buf, 64, p.length, a.noOffload), 0);
  await n.settle();
  assert.deepEqual(
    frames.filter((f) => f[6] === IPPROTO6.FRAGMENT).map((f) => f.length),
    [1280, 48 + 1360 - 1232],
  );
  assert.equal(a.ip6stat.fragmented, 1);
  await n.run(PMTU6_EXPIRE, 10_000);
  assert.equal(pmtu6Lookup(a, b6, 0), 0);
  assert.equal(a.pmtu6.count, 0);
  assert.equal(a.pmtu6.sweeper, null);
});

test('the MTU a router advertised (RA MTU option) is the link MTU on output', async () => {
  const n = await net6();
  const ea = ethOf(n.a);
  n.a.nd6rtr.ifs.set(ea, { linkmtu: 1280, rsLeft: 0, rsNext: Infinity });
  const all = tapOut(ea);
  const p = echo(1400 - 48);
  const buf = new Uint8Array(64 + p.length);
  buf.set(p, 64);
  assert.equal(ip6Output(n.a, buf, 64, p.length, n.a.noOffload), 0);
  await n.settle();
  const frames = all.filter((f) => f[6] === IPPROTO6.FRAGMENT);
  assert.ok(frames.length === 2 && frames.every((f) => f.length <= 1280), `${frames.map((f) => f.length).join(',')}`);
});
