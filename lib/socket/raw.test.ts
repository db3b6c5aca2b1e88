import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { ICMP_TYPE, emitIcmpEcho } from '../wire/icmp.js';
import { IP_DF } from '../wire/ipv4.js';
import { SocketError } from './errno.js';
import { RawSocket } from './raw.js';
import { A_ADDR, B_ADDR, twoImages } from '../testing/testnet.js';

const epairOf = (im: Image): Ifnet => [...im.ifnets.values()].find((i) => !i.loopback)!;

const echo = (seq: number, len = 16): Uint8Array => {
  const b = new Uint8Array(len);
  emitIcmpEcho({ type: ICMP_TYPE.ECHO, code: 0, ident: 0x1234, seq }, b, 0, len);
  return b;
};

const errno = (code: string) => (e: unknown): boolean => e instanceof SocketError && e.code === code;

test('an ICMP raw socket sends an echo request and reads the reply; it is one of the image sockets until closed', async () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  assert.ok(n.a.sockets.has(s));
  s.send(echo(7), B_ADDR);
  await n.settle();
  const p = (await s.recv())!;
  assert.equal(p.src, B_ADDR);
  assert.equal(p.packet[20], ICMP_TYPE.ECHO_REPLY);
  assert.equal((p.packet[26]! << 8) | p.packet[27]!, 7);
  s.close();
  assert.ok(!n.a.sockets.has(s));
  assert.equal(n.a.raw.pcbs.length, 0);
  assert.equal(await s.recv(), null);
  assert.throws(() => s.send(echo(8), B_ADDR), errno('EBADF'));
  s.close(); // idempotent
});

test('onPacket hands each packet to a handler on the packet path, without queueing; null goes back to the queue', async () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  const seen: Array<{ type: number; len: number }> = [];
  s.onPacket((buf, off, len, ifp) => {
    assert.equal(ifp, epairOf(n.a));
    seen.push({ type: buf[off + 20]!, len });
  });
  s.send(echo(1), B_ADDR);
  s.send(echo(2), B_ADDR);
  await n.settle();
  assert.deepEqual(seen, [
    { type: ICMP_TYPE.ECHO_REPLY, len: 36 },
    { type: ICMP_TYPE.ECHO_REPLY, len: 36 },
  ]);
  assert.equal(s.recvQueued, 0);
  s.onPacket(null);
  s.send(echo(3), B_ADDR);
  await n.settle();
  assert.equal(seen.length, 2);
  assert.equal(s.recvQueued, 36);
  s.close();
});

test('IP_TTL, IP_TOS and IP_DONTFRAG shape the header the socket builds', async () => {
  const n = twoImages();
  const rx = new RawSocket(n.b, 253);
  const tx = new RawSocket(n.a, 253);
  tx.send(new Uint8Array(4), B_ADDR);
  tx.ttl = 3;
  tx.tos = 0x10;
  tx.dontFrag = true;
  tx.send(new Uint8Array(4), B_ADDR);
  await n.settle();
  const plain = (await rx.recv())!.packet;
  assert.equal(plain[8], 64, 'net.inet.ip.ttl by default');
  assert.equal(plain[1], 0);
  assert.equal(plain[6]! & (IP_DF >> 8), 0);
  const shaped = (await rx.recv())!.packet;
  assert.equal(shaped[8], 3);
  assert.equal(shaped[1], 0x10);
  assert.equal(shaped[6]! & (IP_DF >> 8), IP_DF >> 8);
  // DF and larger than the link: EMSGSIZE instead of fragments.
  n.a.setMtu(epairOf(n.a), 1000);
  assert.throws(() => tx.send(new Uint8Array(1200), B_ADDR), errno('EMSGSIZE'));
  assert.equal(n.a.ipstat.cantfrag, 1);
  tx.dontFrag = false;
  tx.send(new Uint8Array(1200), B_ADDR);
  await n.settle();
  assert.equal((await rx.recv())!.packet.length, 1220, 'fragmented and reassembled');
  rx.close();
  tx.close();
});

test('bind picks the source address and filters what is received by destination; a foreign address is EADDRNOTAVAIL', async () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  assert.throws(() => s.bind('10.0.0.9'), (e: unknown) => errno('EADDRNOTAVAIL')(e) && (e as SocketError).syscall === 'bind');
  assert.throws(() => s.bind('nonsense'), errno('EINVAL'));
  s.bind(A_ADDR);
  assert.equal(s.laddr, A_ADDR);
  const rx = new RawSocket(n.b, 1);
  const srcs: number[] = [];
  rx.onPacket((buf, off) => void srcs.push((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!));
  s.send(echo(1), B_ADDR);
  await n.settle();
  assert.deepEqual(srcs, [A_ADDR]);
  assert.equal(s.recvQueued, 36, 'the reply is addressed to the bound address');
  // Bound to 127.0.0.1: replies to A_ADDR are not ours.
  const lo = new RawSocket(n.a, 1);
  lo.bind('127.0.0.1');
  s.send(echo(2), B_ADDR);
  await n.settle();
  assert.equal(lo.recvQueued, 0);
  assert.equal(s.recvQueued, 72);
  s.close();
  lo.close();
  rx.close();
});

test('connect keeps only packets from the peer', async () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  s.connect('10.0.0.3');
  s.send(echo(1), B_ADDR);
  await n.settle();
  assert.equal(s.recvQueued, 0);
  s.connect(B_ADDR);
  s.send(echo(2), B_ADDR);
  await n.settle();
  assert.equal(s.recvQueued, 36);
  s.close();
});

test('output errors come back from send as SocketError with the errno', () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  assert.throws(() => s.send(echo(1), 0x0a090001), (e: unknown) => errno('EHOSTUNREACH')(e) && (e as Error).message === 'No route to host');
  assert.equal(n.a.ipstat.noroute, 1, 'counted by output, as ip_output does');
  n.a.setUp(epairOf(n.a), false);
  assert.throws(() => s.send(echo(1), B_ADDR), errno('ENETUNREACH'));
  assert.throws(() => s.send(new Uint8Array(65535 - 19), B_ADDR), errno('EMSGSIZE'));
  s.close();
});

test('IP_HDRINCL sends the caller header as given, fills a zero id, and rejects a malformed one', async () => {
  const n = twoImages();
  const rx = new RawSocket(n.b, 253);
  const tx = new RawSocket(n.a, 255);
  tx.hdrIncl = true;
  const pkt = new Uint8Array(24);
  pkt.set([0x45, 0, 0, 24, 0xab, 0xcd, 0, 0, 9, 253, 0, 0]);
  pkt.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  pkt.set([1, 2, 3, 4], 20);
  tx.send(pkt, 0);
  pkt[4] = 0;
  pkt[5] = 0;
  tx.send(pkt, 0);
  await n.settle();
  const first = (await rx.recv())!.packet;
  assert.equal(first[8], 9);
  assert.equal((first[4]! << 8) | first[5]!, 0xabcd);
  assert.deepEqual([...first.subarray(20)], [1, 2, 3, 4]);
  const second = (await rx.recv())!.packet;
  assert.notEqual((second[4]! << 8) | second[5]!, 0, 'rip_output gives it an id');
  assert.equal(n.a.ipstat.rawout, 2);
  assert.throws(() => tx.send(new Uint8Array(10), 0), errno('EINVAL'));
  const badLen = pkt.slice();
  badLen[3] = 30;
  assert.throws(() => tx.send(badLen, 0), errno('EINVAL'));
  const badVer = pkt.slice();
  badVer[0] = 0x65;
  assert.throws(() => tx.send(badVer, 0), errno('EINVAL'));
  rx.close();
  tx.close();
});

test('a raw socket counts against the per-image socket limit; a bad protocol is EINVAL', () => {
  const n = twoImages();
  assert.throws(() => new RawSocket(n.a, 0), errno('EINVAL'));
  assert.throws(() => new RawSocket(n.a, 256), errno('EINVAL'));
  n.a.registry.limits.sockets = n.a.sockets.size + 1;
  const s = new RawSocket(n.a, 1);
  assert.throws(() => new RawSocket(n.a, 1), errno('EMFILE'));
  assert.equal(n.a.raw.pcbs.length, 1);
  s.close();
});

test('destroying the image closes its raw sockets', () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  n.reg.destroy('A');
  assert.throws(() => s.send(echo(1), B_ADDR), errno('EBADF'));
});
