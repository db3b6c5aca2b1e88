import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { twoImages, type TestNet } from '../testing/testnet.js';
import { ICMP6_TYPE, emitIcmp6Echo } from '../wire/icmp6.js';
import { in6LinkLocalFromMac, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { in6AddAddress } from '../netinet6/in6.js';
import { listSockets } from './list.js';
import { Raw6Socket } from './raw6.js';
import { SocketError } from './errno.js';

function eth(im: Image): Ifnet {
  return [...im.ifnets.values()].find((i) => !i.loopback)!;
}

/** A and B on one link with 2001:db8::1 and ::2, DAD done. */
async function net6(): Promise<TestNet> {
  const n = twoImages();
  in6AddAddress(n.a, eth(n.a), parseIp6('2001:db8::1')!, 64);
  in6AddAddress(n.b, eth(n.b), parseIp6('2001:db8::2')!, 64);
  await n.run(2500, 100);
  return n;
}

function echo(seq: number): Uint8Array {
  const m = new Uint8Array(16);
  emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, 0x4242, seq, m, 0);
  m.fill(0xab, 8);
  return m;
}

test('an ICMPv6 raw socket: the kernel fills the checksum, the peer stack answers, the reply is read from the upper-layer header with its source and hop limit', async () => {
  const n = await net6();
  const s = new Raw6Socket(n.a, 58);
  // Every ICMPv6 message reaches a raw socket (ND too), as on FreeBSD: the filter keeps echo replies only.
  s.filter.setBlockAll();
  s.filter.setPass(ICMP6_TYPE.ECHO_REPLY);
  s.send(echo(7), '2001:db8::2');
  await n.settle();
  assert.equal(n.b.icmp6stat.checksum, 0, 'the checksum the socket computed is valid');
  assert.equal(n.b.icmp6stat.reflect, 1);
  const p = await s.recv();
  assert.ok(p !== null);
  assert.equal(p.data[0], ICMP6_TYPE.ECHO_REPLY);
  assert.equal(p.data.length, 16, 'no IPv6 header in what a raw IPv6 socket reads (RFC 3542 3)');
  assert.equal((p.data[6]! << 8) | p.data[7]!, 7);
  assert.equal(p.from, '2001:db8::2');
  assert.equal(p.hlim, 64);
  assert.equal(n.a.rip6stat.delivered, 1);
  // ICMP6_FILTER: blocking echo replies keeps them away; setChecksum is refused on ICMPv6.
  s.filter.setPassAll();
  s.filter.setBlock(ICMP6_TYPE.ECHO_REPLY);
  assert.equal(s.filter.willPass(ICMP6_TYPE.ECHO_REPLY), false);
  assert.equal(s.filter.willPass(ICMP6_TYPE.ECHO_REQUEST), true);
  const nosock = n.a.rip6stat.nosock;
  s.send(echo(8), '2001:db8::2');
  await n.settle();
  assert.equal(s.recvQueued, 0);
  assert.equal(n.a.rip6stat.nosock, nosock + 1);
  assert.throws(() => s.setChecksum(4), (e: unknown) => e instanceof SocketError && e.code === 'EINVAL');
  // netstat -an lists it as FreeBSD's "icmp6" entry prints.
  const rows = listSockets(n.a).filter((r) => r.proto === 'icm6');
  assert.deepEqual(
    rows.map((r) => [r.proto, r.laddr6, r.faddr6]),
    [['icm6', '::', '::']],
  );
  s.close();
  assert.equal(listSockets(n.a).filter((r) => r.proto === 'icm6').length, 0);
  assert.throws(() => s.send(echo(9), '2001:db8::2'), (e: unknown) => e instanceof SocketError && e.code === 'EBADF');
});

test('a raw socket for a protocol no transport handles takes it through the switch; without one the sender gets a parameter problem pointing at the next header', async () => {
  const n = await net6();
  const errs = new Raw6Socket(n.a, 58);
  errs.filter.setBlockAll();
  errs.filter.setPass(ICMP6_TYPE.PARAM_PROB);
  const tx = new Raw6Socket(n.a, 89);
  // No listener on B: rejected as an unknown next header (RFC 8200 4, pointer 6).
  tx.send(Uint8Array.of(1, 2, 3, 4), '2001:db8::2');
  await n.settle();
  let e = await errs.recv();
  assert.ok(e !== null);
  assert.deepEqual([e.data[0], e.data[1], ...e.data.subarray(4, 8)], [ICMP6_TYPE.PARAM_PROB, 1, 0, 0, 0, 6]);
  assert.equal(n.b.ip6stat.noproto, 1);
  // With a raw socket on B, B takes it (hop limit from IPV6_UNICAST_HOPS).
  const rx = new Raw6Socket(n.b, 89);
  const got: Array<[string, number, number[]]> = [];
  rx.onPacket((buf, off, len, src, hlim) => got.push([ip6ToString(buf.subarray(src, src + 16)), hlim, [...buf.subarray(off, off + len)]]));
  tx.hopLimit = 9;
  tx.send(Uint8Array.of(1, 2, 3, 4), '2001:db8::2');
  await n.settle();
  assert.deepEqual(got, [['2001:db8::1', 9, [1, 2, 3, 4]]]);
  assert.equal(n.b.ip6stat.noproto, 1);
  // IPV6_CHECKSUM at 2 on both ends: filled on output, verified on input.
  rx.setChecksum(2);
  tx.setChecksum(2);
  tx.send(Uint8Array.of(1, 2, 0, 0, 5, 6), '2001:db8::2');
  await n.settle();
  assert.equal(got.length, 2);
  assert.equal(n.b.rip6stat.isum, 1);
  assert.equal(n.b.rip6stat.badsum, 0);
  // A sender that leaves it zero fails the check: not delivered, counted, and answered as unknown.
  tx.setChecksum(-1);
  tx.send(Uint8Array.of(1, 2, 0, 0, 5, 6), '2001:db8::2');
  await n.settle();
  assert.equal(got.length, 2);
  assert.equal(n.b.rip6stat.badsum, 1);
  assert.equal(n.b.rip6stat.nosock, 1);
  e = await errs.recv();
  assert.equal(e?.data[0], ICMP6_TYPE.PARAM_PROB);
  assert.throws(() => rx.setChecksum(3), (x: unknown) => x instanceof SocketError && x.code === 'EINVAL');
  // connect() filters by source; closing the last socket gives the protocol back.
  rx.setChecksum(-1);
  rx.connect('2001:db8::99');
  tx.send(Uint8Array.of(7), '2001:db8::2');
  await n.settle();
  assert.equal(got.length, 2);
  rx.close();
  assert.equal(n.b.protosw.ip6[89], null);
  tx.send(Uint8Array.of(7), '2001:db8::2');
  await n.settle();
  assert.equal(n.b.ip6stat.noproto, 4);
  tx.close();
  errs.close();
});

test('raw sockets see ICMPv6 errors and link-local traffic with the zone; sends to a link-local address need one', async () => {
  const n = await net6();
  const s = new Raw6Socket(n.a, 58);
  const llb = `${ip6ToString(in6LinkLocalFromMac(eth(n.b).mac))}%${eth(n.a).name}`;
  s.send(echo(1), llb);
  await n.settle();
  const p = await s.recv();
  assert.equal(p?.from, llb);
  assert.throws(() => s.send(echo(2), ip6ToString(in6LinkLocalFromMac(eth(n.b).mac))), (e: unknown) => e instanceof SocketError && e.code === 'EHOSTUNREACH');
  // Hop limit 0 to an off-link address: no route here, EHOSTUNREACH from output.
  assert.throws(() => s.send(echo(3), '2001:db9::1'), (e: unknown) => e instanceof SocketError && e.code === 'EHOSTUNREACH');
  s.close();
  assert.throws(() => new Raw6Socket(n.a, 0), (e: unknown) => e instanceof SocketError && e.code === 'EINVAL');
});
