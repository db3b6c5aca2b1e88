/**
 * The daemon's half of ICMP ("ping") and raw sockets of Linux programs:
 * agent requests through Session, the datagram channel played by a real
 * Unix socket pair, image A pinging image B over an in-memory link (no
 * root, no TAP). Errors are the errnos Linux gives; nothing throws.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandHandles } from '../../lib/control/index.js';
import { A_ADDR, B_ADDR, twoImages, type TestNet } from '../../lib/testing/testnet.js';
import { internetChecksum } from '../../lib/wire/checksum.js';
import { ERRQ_HEADER, ICMP_FILTER, IP, IPPROTO_ICMP, IPPROTO_RAW, SOCK_RAW, SOL_RAW } from './icmp.js';
import { harness, req, until, type Harness } from './dg_harness.js';
import { AF_INET, DG_FLAG, INET6, IPPROTO_IP, LINUX_ERRNO, NETLINK_ROUTE_PROTO, OP, SO, SOCK_DGRAM, SOL_SOCKET, UNSPEC, encodeDg } from './wire.js';

/** An ICMP message as a program writes it: type, code, zero checksum, identifier, sequence, data. */
function icmp(type: number, ident: number, seq: number, data: string, code = 0): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = type;
  b[1] = code;
  b.writeUInt16BE(ident, 4);
  b.writeUInt16BE(seq, 6);
  b.write(data, 8);
  return b;
}

/** The status (errno) of a trapped send with seq `seq`. */
async function status(tn: TestNet, h: Harness, seq: number): Promise<number> {
  await until(tn, () => h.frames.some((f) => f.seq === seq && f.flags === DG_FLAG.STATUS));
  return h.frames.find((f) => f.seq === seq && f.flags === DG_FLAG.STATUS)!.addr;
}

describe('ICMP and raw sockets of Linux programs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vli-unit-'));
  const open: Array<{ h: Harness }> = [];
  const made = async (tn: TestNet): Promise<Harness> => {
    const h = await harness(tn, dir);
    open.push({ h });
    return h;
  };
  after(() => {
    for (const { h } of open) {
      h.s.close();
      h.sup.destroy();
      h.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('ping socket: the image writes the identifier and checksum; only its echo replies come back, without the IP header, with the TTL', async () => {
    const tn = twoImages();
    const h = await made(tn);
    assert.equal((await h.ask(req({ seq: 1, op: OP.DGRAM, id: 1, a: IPPROTO_ICMP, b: SOCK_DGRAM }))).err, 0);
    // Fresh: port (identifier) 0, as Linux shows before the first send.
    const fresh = await h.ask(req({ seq: 2, op: OP.NAME, id: 1 }));
    assert.deepEqual([fresh.err, fresh.addr, fresh.port], [0, 0, 0]);
    h.sup.write(encodeDg(1, 70, B_ADDR, 0, DG_FLAG.ACK, icmp(8, 0x1234, 7, 'hello')));
    assert.equal(await status(tn, h, 70), 0);
    await until(tn, () => h.frames.some((f) => f.id === 1 && f.flags === 0));
    const name = await h.ask(req({ seq: 3, op: OP.NAME, id: 1 }));
    assert.ok(name.port !== 0 && name.port !== 0x1234, `identifier ${name.port}`);
    const r = h.frames.find((f) => f.id === 1 && f.flags === 0)!;
    assert.equal(r.addr, B_ADDR);
    assert.equal(r.port, 64, 'the TTL the reply arrived with');
    assert.equal(r.data[0], 0, 'an echo reply');
    assert.equal(r.data.readUInt16BE(4), name.port, 'the identifier the image wrote');
    assert.equal(r.data.readUInt16BE(6), 7);
    assert.equal(r.data.subarray(8).toString(), 'hello');
    assert.equal(internetChecksum(r.data, 0, r.data.length), 0);
    // getsockopt answers as Linux's ping socket does.
    assert.equal((await h.ask(req({ seq: 4, op: OP.GETOPT, id: 1, a: SOL_SOCKET, b: SO.TYPE }))).val, SOCK_DGRAM);
    assert.equal((await h.ask(req({ seq: 5, op: OP.GETOPT, id: 1, a: SOL_SOCKET, b: SO.PROTOCOL }))).val, IPPROTO_ICMP);
    assert.equal((await h.ask(req({ seq: 6, op: OP.GETOPT, id: 1, a: SOL_SOCKET, b: SO.DOMAIN }))).val, AF_INET);
    assert.equal((await h.ask(req({ seq: 7, op: OP.SETOPT, id: 1, a: IPPROTO_IP, b: IP.TTL, c: 9 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 8, op: OP.GETOPT, id: 1, a: IPPROTO_IP, b: IP.TTL }))).val, 9);
    assert.equal((await h.ask(req({ seq: 9, op: OP.SETOPT, id: 1, a: IPPROTO_IP, b: IP.TTL, c: 0 }))).err, LINUX_ERRNO.EINVAL);
    assert.equal((await h.ask(req({ seq: 10, op: OP.SETOPT, id: 1, a: SOL_RAW, b: ICMP_FILTER, c: 1 }))).err, LINUX_ERRNO.ENOPROTOOPT);
    assert.equal((await h.ask(req({ seq: 11, op: OP.SETOPT, id: 1, a: IPPROTO_IP, b: IP.HDRINCL, c: 1 }))).err, LINUX_ERRNO.ENOPROTOOPT);
    assert.equal((await h.ask(req({ seq: 12, op: OP.SETOPT, id: 1, a: 6, b: 1, c: 1 }))).err, LINUX_ERRNO.ENOPROTOOPT); // IPPROTO_TCP level
    assert.equal((await h.ask(req({ seq: 13, op: OP.SETOPT, id: 1, a: IPPROTO_IP, b: 11, c: 1 }))).err, 0); // IP_RECVERR: accepted
    h.s.serve(req({ seq: 14, op: OP.CLOSE, id: 1, type: 0 }));
    assert.equal(h.s.dgram.size, 0);
  });

  test('ping socket: what Linux refuses to send, and connect, bind, identifiers unique in the image', async () => {
    const tn = twoImages();
    const h = await made(tn);
    const h2 = await made(tn); // another program in the same image
    await h.ask(req({ seq: 1, op: OP.DGRAM, id: 1, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    h.sup.write(encodeDg(1, 71, B_ADDR, 0, DG_FLAG.ACK, icmp(13, 0, 0, ''))); // a timestamp request
    h.sup.write(encodeDg(1, 72, B_ADDR, 0, DG_FLAG.ACK, Buffer.from('short')));
    h.sup.write(encodeDg(1, 73, 0, 0, DG_FLAG.ACK | DG_FLAG.NOADDR, icmp(8, 0, 1, 'x'))); // not connected
    h.sup.write(encodeDg(1, 74, B_ADDR, 0, DG_FLAG.ACK, icmp(8, 0, 1, 'x', 1))); // code 1
    assert.equal(await status(tn, h, 71), LINUX_ERRNO.EINVAL);
    assert.equal(await status(tn, h, 72), LINUX_ERRNO.EINVAL);
    assert.equal(await status(tn, h, 73), LINUX_ERRNO.EDESTADDRREQ);
    assert.equal(await status(tn, h, 74), LINUX_ERRNO.EINVAL);
    // bind: an identifier of our choice; a second bind is EINVAL; another socket may not take it; a foreign address is refused.
    assert.equal((await h.ask(req({ seq: 2, op: OP.BIND, id: 1, port: 4242 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 3, op: OP.BIND, id: 1, port: 4243 }))).err, LINUX_ERRNO.EINVAL);
    await h2.ask(req({ seq: 1, op: OP.DGRAM, id: 1, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    assert.equal((await h2.ask(req({ seq: 2, op: OP.BIND, id: 1, port: 4242 }))).err, LINUX_ERRNO.EADDRINUSE);
    assert.equal((await h2.ask(req({ seq: 3, op: OP.BIND, id: 1, addr: 0x01020304 }))).err, LINUX_ERRNO.EADDRNOTAVAIL);
    // A bind refused for its identifier leaves the socket unbound, as Linux's ping_bind restores the source address.
    assert.equal((await h2.ask(req({ seq: 31, op: OP.BIND, id: 1, addr: A_ADDR, port: 4242 }))).err, LINUX_ERRNO.EADDRINUSE);
    const unbound = await h2.ask(req({ seq: 32, op: OP.NAME, id: 1 }));
    assert.deepEqual([unbound.err, unbound.addr, unbound.port], [0, 0, 0]);
    // connect: a plain write goes to the peer; the other program's socket gets its own identifier and never our replies.
    assert.equal((await h2.ask(req({ seq: 4, op: OP.CONNECT, id: 1, addr: B_ADDR }))).err, 0);
    const peer = await h2.ask(req({ seq: 5, op: OP.NAME, id: 1, a: 1 }));
    assert.deepEqual([peer.err, peer.addr, peer.port], [0, B_ADDR, 0]);
    const mine = await h2.ask(req({ seq: 6, op: OP.NAME, id: 1 }));
    assert.ok(mine.port !== 0 && mine.port !== 4242);
    h.sup.write(encodeDg(1, 75, B_ADDR, 0, DG_FLAG.ACK, icmp(8, 0, 5, 'one')));
    h2.sup.write(encodeDg(1, 0, 0, 0, DG_FLAG.NOADDR, icmp(8, 0, 6, 'two')));
    await until(tn, () => h.frames.some((f) => f.flags === 0) && h2.frames.some((f) => f.flags === 0));
    await tn.run(50);
    assert.deepEqual(h.frames.filter((f) => f.flags === 0).map((f) => [f.data.readUInt16BE(4), f.data.subarray(8).toString()]), [[4242, 'one']]);
    assert.deepEqual(h2.frames.filter((f) => f.flags === 0).map((f) => [f.data.readUInt16BE(4), f.data.subarray(8).toString()]), [[mine.port, 'two']]);
    assert.equal((await h2.ask(req({ seq: 7, op: OP.CONNECT, id: 1, flags: UNSPEC }))).err, 0);
    assert.equal((await h2.ask(req({ seq: 8, op: OP.NAME, id: 1, a: 1 }))).err, LINUX_ERRNO.ENOTCONN);
    // Closing frees the identifier for others.
    h.s.serve(req({ seq: 9, op: OP.CLOSE, id: 1, type: 0 }));
    await h2.ask(req({ seq: 9, op: OP.DGRAM, id: 2, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    assert.equal((await h2.ask(req({ seq: 10, op: OP.BIND, id: 2, port: 4242 }))).err, 0);
  });

  test('raw ICMP socket: the program\'s bytes as sent, every ICMP packet back with its IP header, ICMP_FILTER', async () => {
    const tn = twoImages();
    const h = await made(tn);
    assert.equal((await h.ask(req({ seq: 1, op: OP.DGRAM, id: 3, a: IPPROTO_ICMP, b: SOCK_RAW }))).err, 0);
    const name = await h.ask(req({ seq: 2, op: OP.NAME, id: 3 }));
    assert.equal(name.port, IPPROTO_ICMP, 'Linux shows a raw socket\'s protocol as its port');
    assert.equal((await h.ask(req({ seq: 3, op: OP.GETOPT, id: 3, a: SOL_SOCKET, b: SO.TYPE }))).val, SOCK_RAW);
    const m = icmp(8, 0x4321, 9, 'raw!');
    m.writeUInt16BE(internetChecksum(m, 0, m.length), 2);
    h.sup.write(encodeDg(3, 80, B_ADDR, 0, DG_FLAG.ACK, m));
    assert.equal(await status(tn, h, 80), 0);
    await until(tn, () => h.frames.some((f) => f.id === 3 && f.flags === 0));
    const r = h.frames.find((f) => f.id === 3 && f.flags === 0)!;
    const hl = (r.data[0]! & 15) * 4;
    assert.equal(r.data[0]! >> 4, 4, 'an IPv4 header first');
    assert.equal(r.data[9], IPPROTO_ICMP);
    assert.equal(r.addr, B_ADDR);
    assert.deepEqual([r.data[hl], r.data.readUInt16BE(hl + 4), r.data.readUInt16BE(hl + 6)], [0, 0x4321, 9], 'the identifier is the program\'s');
    // ICMP_FILTER: echo replies (type 0) filtered out.
    assert.equal((await h.ask(req({ seq: 4, op: OP.SETOPT, id: 3, a: SOL_RAW, b: ICMP_FILTER, c: 1 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 5, op: OP.GETOPT, id: 3, a: SOL_RAW, b: ICMP_FILTER }))).val, 1);
    assert.equal((await h.ask(req({ seq: 6, op: OP.SETOPT, id: 3, a: SOL_RAW, b: 2, c: 1 }))).err, LINUX_ERRNO.ENOPROTOOPT);
    const before = h.frames.length;
    h.sup.write(encodeDg(3, 81, B_ADDR, 0, DG_FLAG.ACK, m));
    assert.equal(await status(tn, h, 81), 0);
    await tn.run(50);
    assert.equal(h.frames.filter((f, i) => i >= before && f.flags === 0).length, 0, 'the reply was filtered');
    // Nothing to send to: EDESTADDRREQ.
    h.sup.write(encodeDg(3, 82, 0, 0, DG_FLAG.ACK | DG_FLAG.NOADDR, m));
    assert.equal(await status(tn, h, 82), LINUX_ERRNO.EDESTADDRREQ);
  });

  test('IPPROTO_RAW implies IP_HDRINCL: the program\'s own IP header goes out; other protocols take no ICMP_FILTER', async () => {
    const tn = twoImages();
    const h = await made(tn);
    await h.ask(req({ seq: 1, op: OP.DGRAM, id: 4, a: IPPROTO_RAW, b: SOCK_RAW }));
    await h.ask(req({ seq: 2, op: OP.DGRAM, id: 5, a: IPPROTO_ICMP, b: SOCK_RAW }));
    assert.equal((await h.ask(req({ seq: 3, op: OP.GETOPT, id: 4, a: IPPROTO_IP, b: IP.HDRINCL }))).val, 1);
    assert.equal((await h.ask(req({ seq: 4, op: OP.SETOPT, id: 4, a: SOL_RAW, b: ICMP_FILTER, c: 1 }))).err, LINUX_ERRNO.EOPNOTSUPP);
    const m = icmp(8, 0x5555, 1, 'inc');
    m.writeUInt16BE(internetChecksum(m, 0, m.length), 2);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + m.length, 2);
    ip[8] = 33;
    ip[9] = IPPROTO_ICMP;
    ip.writeUInt32BE(A_ADDR, 12);
    ip.writeUInt32BE(B_ADDR, 16);
    h.sup.write(encodeDg(4, 90, B_ADDR, 0, DG_FLAG.ACK, Buffer.concat([ip, m])));
    assert.equal(await status(tn, h, 90), 0);
    await until(tn, () => h.frames.some((f) => f.id === 5 && f.flags === 0));
    const r = h.frames.find((f) => f.id === 5 && f.flags === 0)!;
    assert.equal(r.data.readUInt16BE(24), 0x5555);
    assert.equal(h.frames.filter((f) => f.id === 4 && f.flags === 0).length, 0, 'an IPPROTO_RAW socket receives nothing');
    // Linux fills in the total length whatever the program wrote there (raw(7): "Total Length: Always filled in").
    for (const [seq, len] of [[91, 999], [92, 0], [93, (20 + m.length) << 8]] as const) {
      const at = h.frames.length;
      ip.writeUInt16BE(len & 0xffff, 2);
      m.writeUInt16BE(seq, 6);
      m.writeUInt16BE(0, 2);
      m.writeUInt16BE(internetChecksum(m, 0, m.length), 2);
      h.sup.write(encodeDg(4, seq, B_ADDR, 0, DG_FLAG.ACK, Buffer.concat([ip, m])));
      assert.equal(await status(tn, h, seq), 0, `total length ${len}`);
      await until(tn, () => h.frames.some((f, i) => i >= at && f.id === 5 && f.flags === 0 && f.data.readUInt16BE(26) === seq));
    }
    // What Linux refuses: fewer bytes than an IP header, a header length past the bytes given.
    h.sup.write(encodeDg(4, 94, B_ADDR, 0, DG_FLAG.ACK, ip.subarray(0, 19)));
    assert.equal(await status(tn, h, 94), LINUX_ERRNO.EINVAL);
    ip[0] = 0x4f;
    h.sup.write(encodeDg(4, 95, B_ADDR, 0, DG_FLAG.ACK, Buffer.concat([ip, m])));
    assert.equal(await status(tn, h, 95), LINUX_ERRNO.EINVAL);
  });

  test('setsockopt over the channel stays in order with the datagrams written before it (traceroute: IP_TTL, then send)', async () => {
    const tn = twoImages();
    const h = await made(tn);
    const seen = commandHandles(tn.b, tn.reg).image.sockets.raw(IPPROTO_ICMP);
    await h.ask(req({ seq: 1, op: OP.DGRAM, id: 12, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    await h.ask(req({ seq: 2, op: OP.CONNECT, id: 12, addr: B_ADDR }));
    const ttlFrame = (seq: number, ttl: number): Uint8Array => {
      const v = Buffer.alloc(4);
      v.writeInt32LE(ttl);
      return encodeDg(12, seq, IPPROTO_IP, IP.TTL, DG_FLAG.SETOPT | DG_FLAG.ACK, v);
    };
    // One write: the TTL for each probe, then the probe (as plain sends: NOADDR).
    h.sup.write(Buffer.concat([ttlFrame(60, 5), encodeDg(12, 0, 0, 0, DG_FLAG.NOADDR, icmp(8, 0, 1, 'a')), ttlFrame(61, 7), encodeDg(12, 0, 0, 0, DG_FLAG.NOADDR, icmp(8, 0, 2, 'b'))]));
    assert.equal(await status(tn, h, 60), 0);
    assert.equal(await status(tn, h, 61), 0);
    const ttls: number[] = [];
    for (let i = 0; i < 2; i++) {
      const p = (await seen.recv())!;
      if (p.packet[20] === 8) ttls.push(p.packet[8]!);
    }
    assert.deepEqual(ttls, [5, 7]);
    assert.equal((await h.ask(req({ seq: 3, op: OP.GETOPT, id: 12, a: IPPROTO_IP, b: IP.TTL }))).val, 7);
    // A bad value gets Linux's errno in the status.
    h.sup.write(ttlFrame(62, 300));
    assert.equal(await status(tn, h, 62), LINUX_ERRNO.EINVAL);
    seen.close();
  });

  test('ping socket with IP_RECVERR: a router\'s ICMP error quoting our echo request becomes an ERROR frame with the error-queue entry', async () => {
    const tn = twoImages();
    const h = await made(tn);
    const a = commandHandles(tn.a, tn.reg).image;
    const b = commandHandles(tn.b, tn.reg).image;
    a.routes.add({ dst: 0, prefixLen: 0, target: { gateway: B_ADDR }, flags: 0 });
    b.sysctl.set('net.inet.ip.forwarding', '1'); // B routes, and has no route to 192.0.2.1
    const far = 0xc0000201;
    await h.ask(req({ seq: 1, op: OP.DGRAM, id: 13, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    // Without IP_RECVERR: nothing.
    h.sup.write(encodeDg(13, 0, far, 0, 0, icmp(8, 0, 1, 'one')));
    await tn.run(50);
    assert.equal(h.frames.filter((f) => f.id === 13).length, 0);
    assert.equal((await h.ask(req({ seq: 2, op: OP.SETOPT, id: 13, a: IPPROTO_IP, b: 11, c: 1 }))).err, 0);
    h.sup.write(encodeDg(13, 0, far, 0, 0, icmp(8, 0, 2, 'two')));
    await until(tn, () => h.frames.some((f) => f.id === 13 && f.flags === DG_FLAG.ERROR));
    const f = h.frames.find((x) => x.id === 13 && x.flags === DG_FLAG.ERROR)!;
    const ident = (await h.ask(req({ seq: 3, op: OP.NAME, id: 13 }))).port;
    assert.equal(f.addr, LINUX_ERRNO.ENETUNREACH, 'net unreachable: Linux\'s errno for it');
    assert.deepEqual([f.data[0], f.data[1], f.data.readUInt16LE(2), f.data.readUInt32LE(4)], [3, 0, LINUX_ERRNO.ENETUNREACH, 0]);
    assert.deepEqual([f.data.readUInt32LE(8), f.data.readUInt32LE(12)], [B_ADDR, far], 'the offender and where the request went');
    const q = f.data.subarray(ERRQ_HEADER);
    assert.deepEqual([q[0], q.readUInt16BE(4), q.readUInt16BE(6)], [8, ident, 2], 'the quoted echo request, as the image sent it');
    // An error about someone else's echo request is not ours.
    const other = commandHandles(tn.a, tn.reg).image.sockets.raw(IPPROTO_ICMP);
    const m = icmp(8, ident + 1, 9, 'x');
    m.writeUInt16BE(internetChecksum(m, 0, m.length), 2);
    other.send(m, far);
    await tn.run(50);
    assert.equal(h.frames.filter((x) => x.id === 13 && x.flags === DG_FLAG.ERROR).length, 1);
    other.close();
  });

  test('refused: IPv6 ICMP sockets, protocols out of range; hostile frames never throw', async () => {
    const tn = twoImages();
    const h = await made(tn);
    assert.equal((await h.ask(req({ seq: 1, op: OP.DGRAM, id: 6, a: IPPROTO_ICMP, b: SOCK_DGRAM, flags: INET6 }))).err, LINUX_ERRNO.EPROTONOSUPPORT);
    assert.equal((await h.ask(req({ seq: 2, op: OP.DGRAM, id: 7, a: 0, b: SOCK_RAW }))).err, LINUX_ERRNO.EPROTONOSUPPORT);
    assert.equal((await h.ask(req({ seq: 3, op: OP.DGRAM, id: 8, a: 256, b: SOCK_RAW }))).err, LINUX_ERRNO.EPROTONOSUPPORT);
    // A NETLINK_ROUTE socket made as SOCK_RAW stays a netlink socket.
    assert.equal((await h.ask(req({ seq: 30, op: OP.DGRAM, id: 11, a: NETLINK_ROUTE_PROTO, b: SOCK_RAW }))).err, 0);
    assert.equal((await h.ask(req({ seq: 31, op: OP.GETOPT, id: 11, a: SOL_SOCKET, b: SO.TYPE }))).val, SOCK_DGRAM);
    await h.ask(req({ seq: 4, op: OP.DGRAM, id: 9, a: IPPROTO_ICMP, b: SOCK_DGRAM }));
    await h.ask(req({ seq: 5, op: OP.DGRAM, id: 10, a: 17, b: SOCK_RAW }));
    const d = h.s.dgram;
    for (const len of [0, 1, 7, 8, 30, 70000]) {
      const junk = Buffer.alloc(len);
      for (let i = 0; i < len; i++) junk[i] = (i * 7919) & 0xff;
      junk[0] = 8;
      assert.doesNotThrow(() => d.input(encodeDg(9, 100 + len, B_ADDR, 0, DG_FLAG.ACK, junk)));
      assert.doesNotThrow(() => d.input(encodeDg(10, 200 + len, B_ADDR, 0, DG_FLAG.ACK, junk)));
    }
    await until(tn, () => h.frames.filter((f) => f.flags === DG_FLAG.STATUS).length === 12);
    assert.equal(h.frames.find((f) => f.seq === 100 + 70000)!.addr, LINUX_ERRNO.EMSGSIZE);
  });
});
