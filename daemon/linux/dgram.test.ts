/**
 * The daemon's half of datagram sockets, driven directly: agent requests
 * through Session, the datagram channel played by a real Unix socket pair,
 * two images on an in-memory link (no root, no TAP). Hostile frames must
 * never throw.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandHandles } from '../../lib/control/index.js';
import { A_ADDR, B_ADDR, twoImages } from '../../lib/testing/testnet.js';
import { A6, B6, twoImages6 } from '../../lib/testing/testnet6.js';
import { ip6ToString, parseIp6 } from '../../lib/wire/ipv6.js';
import { splitNetlink } from './dgram.js';
import { harness, req, until } from './dg_harness.js';
import { type Addr6, DG_FLAG, DG_HEADER, DG_MAX, INET6, LINUX_ERRNO, NETLINK_ROUTE_PROTO, OP, UNSPEC, decodeDg, encodeDg } from './wire.js';

describe('datagram channel framing', () => {
  test('a frame round-trips; the header is 20 bytes little-endian', () => {
    const f = encodeDg(7, 9, 0x0a000002, 53, DG_FLAG.ACK, new Uint8Array([1, 2, 3]));
    assert.equal(f.length, DG_HEADER + 3);
    assert.deepEqual(decodeDg(f, 0), { len: 3, id: 7, seq: 9, addr: 0x0a000002, port: 53, flags: DG_FLAG.ACK });
    assert.deepEqual([...f.subarray(0, 4)], [3, 0, 0, 0]);
    assert.deepEqual([...f.subarray(DG_HEADER)], [1, 2, 3]);
    // With an IPv6 address: the 24-byte trailer between header and payload; len counts the payload only.
    const g = encodeDg(7, 9, 0, 53, 0, new Uint8Array([1, 2, 3]), { addr: new Uint8Array(16).fill(0x20), scope: 2, flow: 0 });
    assert.equal(g.length, DG_HEADER + 24 + 3);
    assert.deepEqual(decodeDg(g, 0), { len: 3, id: 7, seq: 9, addr: 0, port: 53, flags: DG_FLAG.ADDR6 });
    assert.deepEqual([...g.subarray(DG_HEADER + 16, DG_HEADER + 20)], [2, 0, 0, 0]);
    assert.deepEqual([...g.subarray(DG_HEADER + 24)], [1, 2, 3]);
  });

  test('splitNetlink takes whole aligned messages and stops at a bad length', () => {
    const m = (len: number): Uint8Array => {
      const b = new Uint8Array((len + 3) & ~3);
      new DataView(b.buffer).setUint32(0, len, true);
      return b;
    };
    const two = new Uint8Array([...m(17), ...m(16)]);
    assert.deepEqual(splitNetlink(two).map((x) => x.length), [17, 16]);
    assert.deepEqual(splitNetlink(m(15)), []); // shorter than a header
    const lying = m(16);
    new DataView(lying.buffer).setUint32(0, 1000, true);
    assert.deepEqual(splitNetlink(lying), []);
    assert.deepEqual(splitNetlink(new Uint8Array(3)), []);
  });
});

describe('datagram sockets', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vlu-unit-'));
  const servers: net.Server[] = [];
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('UDP: bind, sendto with an ack, a datagram back with its source, connect and AF_UNSPEC', async () => {
    const tn = twoImages();
    const h = await harness(tn, dir);
    servers.push(h.server);
    const peer = commandHandles(tn.b, tn.reg).image.sockets.udp();
    peer.bind(5353);
    h.s.serve(req({ seq: 1, op: OP.DGRAM, id: 1, a: 17 }));
    assert.equal((await h.wait(1)).err, 0);
    h.s.serve(req({ seq: 2, op: OP.BIND, id: 1, port: 4000 }));
    assert.equal((await h.wait(2)).err, 0);
    h.sup.write(encodeDg(1, 77, B_ADDR, 5353, DG_FLAG.ACK, Buffer.from('query')));
    await until(tn, () => h.frames.some((f) => f.seq === 77));
    assert.deepEqual(h.frames.find((f) => f.seq === 77)!.flags, DG_FLAG.STATUS);
    assert.equal(h.frames.find((f) => f.seq === 77)!.addr, 0);
    const d = (await peer.recv())!;
    assert.equal(Buffer.from(d.data).toString(), 'query');
    assert.deepEqual([d.addr, d.port], [A_ADDR, 4000]);
    peer.send(Buffer.from('answer'), A_ADDR, 4000);
    await until(tn, () => h.frames.some((f) => f.id === 1 && f.flags === 0));
    const back = h.frames.find((f) => f.id === 1 && f.flags === 0)!;
    assert.deepEqual([back.data.toString(), back.addr, back.port], ['answer', B_ADDR, 5353]);
    // Connected: a plain send goes to the peer; getpeername; AF_UNSPEC forgets it.
    h.s.serve(req({ seq: 3, op: OP.CONNECT, id: 1, addr: B_ADDR, port: 5353 }));
    assert.equal((await h.wait(3)).err, 0);
    h.s.serve(req({ seq: 4, op: OP.NAME, id: 1, a: 1 }));
    assert.deepEqual([(await h.wait(4)).addr, (await h.wait(4)).port], [B_ADDR, 5353]);
    h.sup.write(encodeDg(1, 0, 0, 0, DG_FLAG.NOADDR, Buffer.from('plain')));
    assert.equal(Buffer.from((await peer.recv())!.data).toString(), 'plain');
    h.s.serve(req({ seq: 5, op: OP.CONNECT, id: 1, flags: UNSPEC }));
    assert.equal((await h.wait(5)).err, 0);
    h.s.serve(req({ seq: 6, op: OP.NAME, id: 1, a: 1 }));
    assert.equal((await h.wait(6)).err, LINUX_ERRNO.ENOTCONN);
    // A send the image refuses comes back in the ack.
    h.sup.write(encodeDg(1, 78, 0xc0000201, 9, DG_FLAG.ACK, Buffer.from('x')));
    await until(tn, () => h.frames.some((f) => f.seq === 78));
    assert.notEqual(h.frames.find((f) => f.seq === 78)!.addr, 0);
    // Options.
    h.s.serve(req({ seq: 7, op: OP.SETOPT, id: 1, a: 1, b: 6, c: 1 }));
    h.s.serve(req({ seq: 8, op: OP.GETOPT, id: 1, a: 1, b: 3 }));
    assert.equal((await h.wait(8)).val, 2);
    h.s.serve(req({ seq: 9, op: OP.CLOSE, id: 1, type: 0 }));
    await tn.run(10);
    assert.equal(h.s.dgram.size, 0);
    h.s.close();
    h.sup.destroy();
    peer.close();
  });

  test('UDP over AF_INET6: addresses in the addr6 trailer both ways, connected sends, v4-mapped peers unless IPV6_V6ONLY', async () => {
    const tn = twoImages6();
    const h = await harness(tn, dir);
    servers.push(h.server);
    const a6 = (t: string): Addr6 => ({ addr: parseIp6(t)!, scope: 0, flow: 0 });
    const peer = commandHandles(tn.b, tn.reg).image.sockets.udp({ family: 6, v6only: false });
    peer.bind(5353);
    assert.equal((await h.ask(req({ seq: 1, op: OP.DGRAM, id: 1, a: 17, flags: INET6 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 2, op: OP.GETOPT, id: 1, flags: INET6, a: 41, b: 26 }))).val, 1); // net.inet6.ip6.v6only
    assert.equal((await h.ask(req({ seq: 3, op: OP.SETOPT, id: 1, flags: INET6, a: 41, b: 26, c: 0 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 4, op: OP.BIND, id: 1, flags: INET6, port: 4000, a6: a6('::') }))).err, 0);
    assert.equal((await h.ask(req({ seq: 5, op: OP.SETOPT, id: 1, flags: INET6, a: 41, b: 26, c: 1 }))).err, LINUX_ERRNO.EINVAL); // bound
    h.sup.write(encodeDg(1, 77, 0, 5353, DG_FLAG.ACK, Buffer.from('query'), a6(B6)));
    await until(tn, () => h.frames.some((f) => f.seq === 77));
    assert.equal(h.frames.find((f) => f.seq === 77)!.addr, 0);
    const d = (await peer.recv())!;
    assert.deepEqual([Buffer.from(d.data).toString(), ip6ToString(d.addr6!), d.port], ['query', A6, 4000]);
    peer.send(Buffer.from('answer'), A6, 4000);
    await until(tn, () => h.frames.some((f) => f.id === 1 && (f.flags & DG_FLAG.STATUS) === 0));
    const back = h.frames.find((f) => f.id === 1 && (f.flags & DG_FLAG.STATUS) === 0)!;
    assert.equal(back.flags, DG_FLAG.ADDR6);
    assert.deepEqual([back.data.toString(), ip6ToString(back.a6!.addr), back.port], ['answer', B6, 5353]);
    // IPv4 to a dual-stack socket: the source comes as ::ffff:10.0.0.2.
    const p4 = commandHandles(tn.b, tn.reg).image.sockets.udp();
    p4.send(Buffer.from('v4'), A_ADDR, 4000);
    await until(tn, () => h.frames.some((f) => f.data.toString() === 'v4'));
    assert.equal(ip6ToString(h.frames.find((f) => f.data.toString() === 'v4')!.a6!.addr), '::ffff:10.0.0.2');
    // Connected: getpeername in the trailer; a plain send goes to the peer.
    assert.equal((await h.ask(req({ seq: 6, op: OP.CONNECT, id: 1, flags: INET6, port: 5353, a6: a6(B6) }))).err, 0);
    const pn = await h.ask(req({ seq: 7, op: OP.NAME, id: 1, flags: INET6, a: 1 }));
    assert.deepEqual([ip6ToString(pn.a6!.addr), pn.port], [B6, 5353]);
    const ln = await h.ask(req({ seq: 8, op: OP.NAME, id: 1, flags: INET6, a: 0 }));
    assert.deepEqual([ip6ToString(ln.a6!.addr), ln.port], [A6, 4000]);
    h.sup.write(encodeDg(1, 0, 0, 0, DG_FLAG.NOADDR, Buffer.from('plain')));
    assert.equal(Buffer.from((await peer.recv())!.data).toString(), 'plain');
    p4.close();
    peer.close();
    h.s.close();
  });

  test('an ICMP port unreachable on a connected socket becomes an ERROR frame', async () => {
    const tn = twoImages();
    const h = await harness(tn, dir);
    servers.push(h.server);
    h.s.serve(req({ seq: 1, op: OP.DGRAM, id: 3, a: 17 }));
    h.s.serve(req({ seq: 2, op: OP.CONNECT, id: 3, addr: B_ADDR, port: 9 }));
    assert.equal((await h.wait(2)).err, 0);
    h.sup.write(encodeDg(3, 0, 0, 0, DG_FLAG.NOADDR, Buffer.from('anyone?')));
    await until(tn, () => h.frames.some((f) => f.id === 3 && f.flags === DG_FLAG.ERROR));
    assert.equal(h.frames.find((f) => f.flags === DG_FLAG.ERROR)!.addr, LINUX_ERRNO.ECONNREFUSED);
    h.s.close();
    h.sup.destroy();
  });

  test('netlink: each request message is answered as datagrams from port 0; ioctls answered by seq', async () => {
    const tn = twoImages();
    const h = await harness(tn, dir);
    servers.push(h.server);
    h.s.serve(req({ seq: 1, op: OP.DGRAM, id: 4, a: NETLINK_ROUTE_PROTO }));
    assert.equal((await h.wait(1)).err, 0);
    const msg = Buffer.alloc(32);
    msg.writeUInt32LE(32, 0);
    msg.writeUInt16LE(18, 4); // RTM_GETLINK
    msg.writeUInt16LE(0x301, 6); // NLM_F_REQUEST | NLM_F_DUMP (the kernel ignores a message that is not a request)
    msg.writeUInt32LE(4242, 8);
    h.sup.write(encodeDg(4, 0, 999, 0, DG_FLAG.NOADDR, Buffer.concat([msg, msg])));
    // Two dumps, each ending with NLMSG_DONE (type 3), which may share a datagram with the dump.
    const types = (d: Buffer): number[] => {
      const t: number[] = [];
      for (let o = 0; o + 16 <= d.length && d.readUInt32LE(o) >= 16; o += (d.readUInt32LE(o) + 3) & ~3) t.push(d.readUInt16LE(o + 4));
      return t;
    };
    await until(tn, () => h.frames.filter((f) => f.id === 4 && types(f.data).at(-1) === 3).length === 2);
    for (const f of h.frames.filter((x) => x.id === 4)) {
      assert.deepEqual([f.addr, f.port, f.flags], [0, 0, 0]);
      // Whole, aligned messages, each answering the request's seq.
      let o = 0;
      while (o < f.data.length) {
        const n = f.data.readUInt32LE(o);
        assert.ok(n >= 16 && o + n <= f.data.length, `message at ${o} of ${f.data.length}: length ${n}`);
        assert.equal(f.data.readUInt32LE(o + 8), 4242);
        o += (n + 3) & ~3;
      }
      assert.equal(o, f.data.length);
    }
    const ifr = Buffer.alloc(40);
    ifr.write('lo0');
    h.sup.write(encodeDg(0, 50, 0x8913, 0, DG_FLAG.IOCTL, ifr)); // SIOCGIFFLAGS
    h.sup.write(encodeDg(0, 51, 0x8912, 0, DG_FLAG.IOCTL, Buffer.from([0, 4, 0, 0]))); // SIOCGIFCONF, room 1024
    h.sup.write(encodeDg(0, 52, 0x8913, 0, DG_FLAG.IOCTL, Buffer.alloc(3))); // a short ifreq
    await until(tn, () => [50, 51, 52].every((s) => h.frames.some((f) => f.seq === s)));
    for (const s of [50, 51, 52]) assert.equal(h.frames.find((f) => f.seq === s)!.flags, DG_FLAG.STATUS);
    assert.equal(h.frames.find((f) => f.seq === 52)!.addr, LINUX_ERRNO.EFAULT);
    assert.equal(h.frames.find((f) => f.seq === 51)!.data.length % 40, 0);
    h.s.close();
    h.sup.destroy();
  });

  test('hostile input: truncated frames wait, unknown ids are ignored, a huge length closes the channel, nothing throws', async () => {
    const tn = twoImages();
    const h = await harness(tn, dir);
    servers.push(h.server);
    const d = h.s.dgram;
    // Unknown socket, with and without an ack.
    assert.doesNotThrow(() => d.input(encodeDg(12345, 0, B_ADDR, 9, 0, Buffer.from('x'))));
    assert.doesNotThrow(() => d.input(encodeDg(12345, 60, B_ADDR, 9, DG_FLAG.ACK, Buffer.from('x'))));
    await until(tn, () => h.frames.some((f) => f.seq === 60));
    assert.equal(h.frames.find((f) => f.seq === 60)!.addr, LINUX_ERRNO.EBADF);
    // A frame in pieces, byte by byte.
    h.s.serve(req({ seq: 1, op: OP.DGRAM, id: 5, a: 17 }));
    const f = encodeDg(5, 61, B_ADDR, 9, DG_FLAG.ACK, Buffer.from('pieces'));
    for (const b of f) d.input(new Uint8Array([b]));
    await until(tn, () => h.frames.some((x) => x.seq === 61));
    // Requests about sockets that do not exist, and nonsense ops, get errnos.
    h.s.serve(req({ seq: 2, op: OP.BIND, id: 999 }));
    h.s.serve(req({ seq: 3, op: OP.DGRAM, id: 6, a: 99 }));
    h.s.serve(req({ seq: 4, op: OP.DGRAM, id: 5, a: 17 }));
    h.s.serve(req({ seq: 5, op: 200, id: 5 }));
    h.s.serve(req({ seq: 6, op: OP.BIND, id: 5, addr: 0x01020304, port: 1 }));
    assert.equal((await h.wait(2)).err, LINUX_ERRNO.EBADF);
    assert.equal((await h.wait(3)).err, LINUX_ERRNO.EPROTONOSUPPORT);
    assert.equal((await h.wait(4)).err, LINUX_ERRNO.EINVAL);
    assert.equal((await h.wait(5)).err, LINUX_ERRNO.EOPNOTSUPP);
    assert.equal((await h.wait(6)).err, LINUX_ERRNO.EINVAL); // bound already, by its first send (as on Linux)
    // An impossible length: the channel goes, the daemon stays; garbage after it is harmless.
    const huge = encodeDg(5, 0, 0, 0, 0);
    new DataView(huge.buffer).setUint32(0, DG_MAX + 1, true);
    assert.doesNotThrow(() => d.input(huge));
    const ended = new Promise<void>((r) => h.sup.once('close', () => r()));
    await ended;
    const junk = new Uint8Array(4096);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) & 0xff;
    assert.doesNotThrow(() => d.input(junk));
    h.s.close();
    h.sup.destroy();
  });
});
