/**
 * The daemon's half of the supervisor protocol, driven directly: requests
 * in, reply frames out, the backing sockets played by real Unix sockets,
 * and two images on an in-memory link (no root, no TAP).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandHandles } from '../../lib/control/index.js';
import { silentLogger } from '../../lib/log.js';
import { A_ADDR, B_ADDR, twoImages, type TestNet } from '../../lib/testing/testnet.js';
import { A6, B6, twoImages6 } from '../../lib/testing/testnet6.js';
import { ip6ToString, parseIp6 } from '../../lib/wire/ipv6.js';
import { Session } from './session.js';
import { type Addr6, ADDR6_SIZE, FRAME_SIZE, INET6, LINUX_ERRNO, NONBLOCK, OP, SOCK_STREAM, decodeReply, decodeRequest, encodeHello, encodeReply, encodeRequest, type Request, requestSize, ADDR6 } from './wire.js';

function req(p: Partial<Request> & { seq: number; op: number; id: number }): Request {
  return { type: SOCK_STREAM, addr: 0, port: 0, flags: 0, a: 0, b: 0, c: 0, ...p };
}

/** A connected pair of Unix stream sockets: [program's end, daemon's end]. */
class UnixPairs {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'vlx-unit-'));
  private readonly server = net.createServer({ allowHalfOpen: true });
  private readonly waiting: Array<(s: net.Socket) => void> = [];
  private n = 0;

  async start(): Promise<void> {
    this.server.on('connection', (s) => this.waiting.shift()?.(s));
    await new Promise<void>((r) => this.server.listen(path.join(this.dir, 's'), r));
  }

  async pair(): Promise<[net.Socket, net.Socket]> {
    const daemonEnd = new Promise<net.Socket>((r) => this.waiting.push(r));
    const prog = net.connect({ path: path.join(this.dir, 's'), allowHalfOpen: true });
    this.n++;
    return [prog, await daemonEnd];
  }

  close(): void {
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function harness(tn: TestNet): { s: Session; replies: Map<number, ReturnType<typeof decodeReply>>; wait: (seq: number) => Promise<ReturnType<typeof decodeReply>> } {
  const replies = new Map<number, ReturnType<typeof decodeReply>>();
  const s = new Session(commandHandles(tn.a, tn.reg).image, () => tn.reg.get('A') === tn.a, (f) => {
    const r = decodeReply(f);
    replies.set(r.seq, r);
  }, silentLogger);
  const wait = async (seq: number): Promise<ReturnType<typeof decodeReply>> => {
    for (let i = 0; i < 200; i++) {
      const r = replies.get(seq);
      if (r !== undefined) return r;
      await tn.run(10);
    }
    throw new Error(`no reply to ${seq}`);
  };
  return { s, replies, wait };
}

async function readAll(sock: net.Socket, tn: TestNet, want: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  sock.on('data', (c: Buffer) => {
    chunks.push(c);
    n += c.length;
  });
  for (let i = 0; i < 500 && n < want; i++) await tn.run(10);
  return Buffer.concat(chunks);
}

describe('wire', () => {
  test('frames are 32 bytes and round-trip', () => {
    const q = req({ seq: 7, op: OP.CONNECT, id: 3, addr: 0x0a000002, port: 8080, flags: NONBLOCK, a: -1, b: 2, c: 65536 });
    const b = encodeRequest(q);
    assert.equal(b.length, FRAME_SIZE);
    assert.deepEqual(decodeRequest(b), q);
    const r = decodeReply(encodeReply({ seq: 7, err: 111, addr: 0xc0a80001, port: 443, val: 5 }));
    assert.deepEqual(r, { seq: 7, err: 111, addr: 0xc0a80001, port: 443, val: 5 });
    // An AF_INET6 socket's address rides after the frame: request and reply.
    const a6 = { addr: new Uint8Array(16).fill(0xfe), scope: 3, flow: 0x12345678 };
    const q6 = req({ seq: 8, op: OP.BIND, id: 4, port: 53, flags: INET6, a6 });
    const b6 = encodeRequest(q6);
    assert.equal(b6.length, FRAME_SIZE + ADDR6_SIZE);
    assert.equal(requestSize(b6, 0), FRAME_SIZE + ADDR6_SIZE);
    assert.deepEqual(decodeRequest(b6), { ...q6, flags: INET6 | ADDR6 });
    const r6 = encodeReply({ seq: 8, err: 0, port: 53, a6 });
    assert.equal(r6.length, FRAME_SIZE + ADDR6_SIZE);
    assert.deepEqual([...r6.subarray(FRAME_SIZE + 16, FRAME_SIZE + 20)], [3, 0, 0, 0]);
    assert.deepEqual(decodeReply(r6), { seq: 8, err: 0, addr: 0, port: 53, val: 0, a6 });
    const h = encodeHello(1234, new Uint8Array(16).fill(0xab));
    assert.equal(h.length, FRAME_SIZE);
    assert.equal(Buffer.from(h).readUInt32LE(0), 0x414d4956);
    assert.equal(Buffer.from(h).readUInt32LE(8), 1234);
  });
});

describe('session', () => {
  const pairs = new UnixPairs();
  before(() => pairs.start());
  after(() => pairs.close());

  test('connect: refused, then connected and pumped both ways; names as the image sees them', async () => {
    const tn = twoImages();
    const { s, wait } = harness(tn);
    s.serve(req({ seq: 1, op: OP.CONNECT, id: 1, addr: B_ADDR, port: 9 }));
    assert.equal((await wait(1)).err, LINUX_ERRNO.ECONNREFUSED);

    const l = commandHandles(tn.b, tn.reg).image.sockets.tcpListener();
    l.listen(80);
    s.serve(req({ seq: 2, op: OP.SETOPT, id: 2, a: 6, b: 1, c: 1 })); // TCP_NODELAY before connect
    assert.equal((await wait(2)).err, 0);
    const [prog, daemonEnd] = await pairs.pair();
    s.attach(2, daemonEnd, new Uint8Array(Buffer.from('GET ')));
    s.serve(req({ seq: 3, op: OP.CONNECT, id: 2, addr: B_ADDR, port: 80 }));
    assert.equal((await wait(3)).err, 0);
    const conn = (await l.accept())!;
    assert.equal(conn.remoteAddress().addr, A_ADDR);

    s.serve(req({ seq: 4, op: OP.NAME, id: 2, a: 0 }));
    const local = await wait(4);
    assert.deepEqual([local.err, local.addr], [0, A_ADDR]);
    s.serve(req({ seq: 5, op: OP.NAME, id: 2, a: 1 }));
    const peer = await wait(5);
    assert.deepEqual([peer.err, peer.addr, peer.port], [0, B_ADDR, 80]);
    s.serve(req({ seq: 6, op: OP.GETOPT, id: 2, a: 6, b: 1 }));
    assert.equal((await wait(6)).val, 1);

    // program -> image: the head that came with the upgrade, then the rest
    prog.write('/ HTTP/1.0\r\n\r\n');
    const got: Uint8Array[] = [];
    for (let i = 0; i < 50 && Buffer.concat(got).length < 18; i++) {
      await tn.run(10);
      if (conn.recvQueued > 0) got.push((await conn.read())!);
    }
    assert.equal(Buffer.concat(got).toString(), 'GET / HTTP/1.0\r\n\r\n');
    // image -> program, then the image's FIN is the program's end of file
    const body = Buffer.alloc(200_000, 7);
    void conn.write(body).then(() => conn.end());
    const back = await readAll(prog, tn, body.length);
    assert.equal(back.length, body.length);
    prog.end();
    await tn.run(200);
    assert.equal(s.size, 1); // the refused socket of this test has no backing socket whose close would end it
    s.close();
    l.close();
    conn.close();
  });

  test('non-blocking connect: the filler is dropped, SO_ERROR tells a refusal', async () => {
    const tn = twoImages();
    const { s, wait } = harness(tn);
    const l = commandHandles(tn.b, tn.reg).image.sockets.tcpListener();
    l.listen(80);
    const [prog, daemonEnd] = await pairs.pair();
    s.attach(1, daemonEnd, new Uint8Array(1000)); // 1000 of 3000 filler bytes came with the upgrade
    prog.write(Buffer.alloc(2000));
    prog.write('after');
    s.serve(req({ seq: 1, op: OP.CONNECT, id: 1, addr: B_ADDR, port: 80, flags: NONBLOCK, c: 3000 }));
    assert.equal((await wait(1)).err, 0);
    const conn = (await l.accept())!;
    await tn.run(100);
    assert.equal(Buffer.from((await conn.read())!).toString(), 'after');

    const [prog2, daemonEnd2] = await pairs.pair();
    s.attach(2, daemonEnd2, new Uint8Array(0));
    const closed = new Promise<void>((r) => prog2.on('end', () => r()));
    prog2.on('error', () => {});
    prog2.resume();
    s.serve(req({ seq: 2, op: OP.CONNECT, id: 2, addr: B_ADDR, port: 9, flags: NONBLOCK, c: 10 }));
    await wait(2);
    await closed; // the program's POLLOUT/POLLHUP
    s.serve(req({ seq: 3, op: OP.GETOPT, id: 2, a: 1, b: 4 }));
    assert.equal((await wait(3)).val, LINUX_ERRNO.ECONNREFUSED);
    s.serve(req({ seq: 4, op: OP.GETOPT, id: 2, a: 1, b: 4 }));
    assert.equal((await wait(4)).val, 0); // read once, as SO_ERROR is
    prog.destroy();
    l.close();
    conn.close();
    s.close();
  });

  test('bind, listen, accept: one byte per ready connection, peer address in the reply, EAGAIN when non-blocking', async () => {
    const tn = twoImages();
    const { s, wait } = harness(tn);
    s.serve(req({ seq: 1, op: OP.SETOPT, id: 1, a: 1, b: 2, c: 1 })); // SO_REUSEADDR
    s.serve(req({ seq: 2, op: OP.BIND, id: 1, addr: 0, port: 8000 }));
    assert.equal((await wait(2)).err, 0);
    s.serve(req({ seq: 3, op: OP.BIND, id: 9, addr: 0, port: 8000 }));
    assert.equal((await wait(3)).err, LINUX_ERRNO.EADDRINUSE);
    s.serve(req({ seq: 4, op: OP.BIND, id: 10, addr: 0x0a0000fe, port: 1 }));
    assert.equal((await wait(4)).err, LINUX_ERRNO.EADDRNOTAVAIL);
    const [chanProg, chanDaemon] = await pairs.pair();
    s.attach(1, chanDaemon, new Uint8Array(0));
    s.serve(req({ seq: 5, op: OP.LISTEN, id: 1, a: 16 }));
    assert.equal((await wait(5)).err, 0);
    assert.ok(commandHandles(tn.a, tn.reg).image.sockets.list().some((r) => r.lport === 8000 && r.state === 'LISTEN'));
    s.serve(req({ seq: 6, op: OP.ACCEPT, id: 1, flags: NONBLOCK, a: 2 }));
    assert.equal((await wait(6)).err, LINUX_ERRNO.EAGAIN);

    const signals: Buffer[] = [];
    chanProg.on('data', (c: Buffer) => signals.push(c));
    s.serve(req({ seq: 7, op: OP.ACCEPT, id: 1, a: 3 })); // blocking: waits for a connection
    const client = commandHandles(tn.b, tn.reg).image.sockets.tcp();
    await Promise.all([client.connect(A_ADDR, 8000), tn.run(100)]);
    const r7 = await wait(7);
    assert.deepEqual([r7.err, r7.addr, r7.port], [0, B_ADDR, client.localAddress().port]);
    await tn.run(50);
    assert.equal(Buffer.concat(signals).length, 1);
    const [prog, daemonEnd] = await pairs.pair();
    s.attach(3, daemonEnd, new Uint8Array(0));
    prog.write('hi');
    await tn.run(50);
    assert.equal(Buffer.from((await client.read())!).toString(), 'hi');

    // The program closes the listening socket: the image's listener goes.
    chanProg.end();
    for (let i = 0; i < 50 && commandHandles(tn.a, tn.reg).image.sockets.list().some((r) => r.state === 'LISTEN'); i++) await tn.run(10);
    assert.ok(!commandHandles(tn.a, tn.reg).image.sockets.list().some((r) => r.state === 'LISTEN'));
    prog.destroy();
    client.close();
    s.close();
  });

  test('SO_REUSEPORT: sockets bound to one port share it, connections are dealt out in turn, the port stays until the last goes', async () => {
    const tn = twoImages();
    const { s, wait } = harness(tn);
    const listening = (): boolean => commandHandles(tn.a, tn.reg).image.sockets.list().some((r) => r.lport === 8080 && r.state === 'LISTEN');
    const chans: net.Socket[] = [];
    const bytes = [0, 0];
    for (const id of [1, 2]) {
      s.serve(req({ seq: id * 10, op: OP.SETOPT, id, a: 1, b: 15, c: 1 })); // SO_REUSEPORT
      s.serve(req({ seq: id * 10 + 1, op: OP.BIND, id, port: 8080 }));
      assert.equal((await wait(id * 10 + 1)).err, 0);
      const [chanProg, chanDaemon] = await pairs.pair();
      chanProg.on('data', (c: Buffer) => (bytes[id - 1]! += c.length));
      chans.push(chanProg);
      s.attach(id, chanDaemon, new Uint8Array(0));
      s.serve(req({ seq: id * 10 + 2, op: OP.LISTEN, id, a: 16 }));
      assert.equal((await wait(id * 10 + 2)).err, 0);
    }
    s.serve(req({ seq: 30, op: OP.BIND, id: 3, port: 8080 })); // without SO_REUSEPORT
    assert.equal((await wait(30)).err, LINUX_ERRNO.EADDRINUSE);
    const clients = [];
    for (let i = 0; i < 4; i++) {
      const c = commandHandles(tn.b, tn.reg).image.sockets.tcp();
      await Promise.all([c.connect(A_ADDR, 8080), tn.run(50)]);
      clients.push(c);
    }
    await tn.run(50);
    assert.deepEqual(bytes, [2, 2]);
    for (const [seq, id, newId] of [[40, 1, 11], [41, 2, 12]]) {
      s.serve(req({ seq: seq!, op: OP.ACCEPT, id: id!, flags: NONBLOCK, a: newId! }));
      assert.equal((await wait(seq!)).err, 0);
    }
    chans[0]!.end(); // one member closes: the others keep the port
    await tn.run(50);
    assert.ok(listening());
    const late = commandHandles(tn.b, tn.reg).image.sockets.tcp();
    await Promise.all([late.connect(A_ADDR, 8080), tn.run(50)]);
    await tn.run(50);
    assert.deepEqual(bytes, [2, 3]);
    chans[1]!.end();
    for (let i = 0; i < 50 && listening(); i++) await tn.run(10);
    assert.ok(!listening());
    for (const c of [...clients, late]) c.destroy();
    s.close();
  });

  test('AF_INET6: IPv6 connect and names in the addr6 trailer; bind :: and accept an IPv6 peer; IPV6_V6ONLY follows net.inet6.ip6.v6only', async () => {
    const tn = twoImages6();
    const { s, wait } = harness(tn);
    const a6 = (t: string): Addr6 => ({ addr: parseIp6(t)!, scope: 0, flow: 0 });
    const l = commandHandles(tn.b, tn.reg).image.sockets.tcpListener({ family: 6 });
    l.listen(80);
    s.serve(req({ seq: 1, op: OP.GETOPT, id: 1, flags: INET6, a: 41, b: 26 })); // IPV6_V6ONLY: FreeBSD's default
    assert.equal((await wait(1)).val, 1);
    const [prog, daemonEnd] = await pairs.pair();
    s.attach(1, daemonEnd, new Uint8Array(0));
    // Through the framing: the trailer after the 32 bytes, torn in two.
    const f = encodeRequest(req({ seq: 2, op: OP.CONNECT, id: 1, flags: INET6, port: 80, a6: a6(B6) }));
    assert.equal(f.length, FRAME_SIZE + ADDR6_SIZE);
    s.input(f.subarray(0, 40));
    s.input(f.subarray(40));
    assert.equal((await wait(2)).err, 0);
    const conn = (await l.accept())!;
    assert.equal(ip6ToString(conn.remoteAddress().addr6!), A6);
    s.serve(req({ seq: 3, op: OP.NAME, id: 1, flags: INET6, a: 0 }));
    const local = await wait(3);
    assert.deepEqual([local.err, ip6ToString(local.a6!.addr), local.port], [0, A6, conn.remoteAddress().port]);
    s.serve(req({ seq: 4, op: OP.NAME, id: 1, flags: INET6, a: 1 }));
    const peer = await wait(4);
    assert.deepEqual([peer.err, ip6ToString(peer.a6!.addr), peer.port, peer.a6!.scope], [0, B6, 80, 0]);
    s.serve(req({ seq: 5, op: OP.SETOPT, id: 1, flags: INET6, a: 41, b: 26, c: 0 }));
    assert.equal((await wait(5)).err, LINUX_ERRNO.EINVAL); // connected: too late
    s.serve(req({ seq: 6, op: OP.GETOPT, id: 1, flags: INET6, a: 41, b: 16 })); // IPV6_UNICAST_HOPS: the image's default
    assert.equal((await wait(6)).val, 64);
    s.serve(req({ seq: 7, op: OP.SETOPT, id: 1, flags: INET6, a: 41, b: 16, c: 5 }));
    assert.equal((await wait(7)).err, LINUX_ERRNO.ENOPROTOOPT); // no per-socket hop limit: refused, not pretended
    s.serve(req({ seq: 8, op: OP.SETOPT, id: 1, flags: INET6, a: 41, b: 49, c: 1 })); // IPV6_RECVPKTINFO
    assert.equal((await wait(8)).err, LINUX_ERRNO.ENOPROTOOPT);

    // A v6-only listener on :: (as set) hears an IPv6 client; its peer comes back in the trailer.
    s.serve(req({ seq: 10, op: OP.SETOPT, id: 2, flags: INET6, a: 41, b: 26, c: 1 }));
    s.serve(req({ seq: 11, op: OP.BIND, id: 2, flags: INET6, port: 8000, a6: a6('::') }));
    assert.equal((await wait(11)).err, 0);
    const [chanProg, chanDaemon] = await pairs.pair();
    s.attach(2, chanDaemon, new Uint8Array(0));
    s.serve(req({ seq: 12, op: OP.LISTEN, id: 2, flags: INET6, a: 8 }));
    assert.equal((await wait(12)).err, 0);
    assert.ok(commandHandles(tn.a, tn.reg).image.sockets.list().some((r) => r.proto === 'tcp6' && r.lport === 8000 && r.state === 'LISTEN'));
    s.serve(req({ seq: 13, op: OP.ACCEPT, id: 2, flags: INET6, a: 3 }));
    const client = commandHandles(tn.b, tn.reg).image.sockets.tcp({ family: 6 });
    await Promise.all([client.connect(A6, 8000), tn.run(100)]);
    const r13 = await wait(13);
    assert.deepEqual([r13.err, ip6ToString(r13.a6!.addr), r13.port], [0, B6, client.localAddress().port]);
    s.serve(req({ seq: 14, op: OP.GETOPT, id: 2, flags: INET6, a: 41, b: 26 }));
    assert.equal((await wait(14)).val, 1);
    // The accepted socket inherits the listener's IPV6_V6ONLY (Linux), not the image's default.
    s.serve(req({ seq: 15, op: OP.SETOPT, id: 4, flags: INET6, a: 41, b: 26, c: 0 }));
    s.serve(req({ seq: 16, op: OP.BIND, id: 4, flags: INET6, port: 8001, a6: a6('::') }));
    assert.equal((await wait(16)).err, 0);
    const [chanProg2, chanDaemon2] = await pairs.pair();
    s.attach(4, chanDaemon2, new Uint8Array(0));
    s.serve(req({ seq: 17, op: OP.LISTEN, id: 4, flags: INET6, a: 8 }));
    assert.equal((await wait(17)).err, 0);
    s.serve(req({ seq: 18, op: OP.ACCEPT, id: 4, flags: INET6, a: 5 }));
    const client2 = commandHandles(tn.b, tn.reg).image.sockets.tcp({ family: 6 });
    await Promise.all([client2.connect(A6, 8001), tn.run(100)]);
    assert.equal((await wait(18)).err, 0);
    s.serve(req({ seq: 19, op: OP.GETOPT, id: 5, flags: INET6, a: 41, b: 26 }));
    assert.equal((await wait(19)).val, 0);
    client2.close();
    chanProg2.destroy();
    chanProg.destroy();
    prog.destroy();
    client.close();
    conn.close();
    l.close();
    s.close();
  });

  test('hostile input never throws: unknown ops, garbage, a torn frame', async () => {
    const tn = twoImages();
    const { s, replies, wait } = harness(tn);
    s.input(encodeRequest(req({ seq: 1, op: 999, id: 1 })));
    assert.equal((await wait(1)).err, LINUX_ERRNO.EINVAL);
    s.input(new Uint8Array((FRAME_SIZE + ADDR6_SIZE) * 2).fill(0xff)); // op 0xffff, type 0xffff, flags 0xffff (each with an addr6 trailer)
    const frame = encodeRequest(req({ seq: 2, op: OP.GETOPT, id: 5, a: 1, b: 3 }));
    s.input(frame.subarray(0, 10));
    s.input(frame.subarray(10));
    assert.equal((await wait(2)).val, SOCK_STREAM);
    s.serve(req({ seq: 3, op: OP.ACCEPT, id: 77, a: 1 }));
    assert.equal((await wait(3)).err, LINUX_ERRNO.EINVAL);
    s.serve(req({ seq: 4, op: OP.SETOPT, id: 6, a: 41, b: 26, c: 1 })); // IPV6_V6ONLY on an AF_INET socket
    assert.equal((await wait(4)).err, LINUX_ERRNO.ENOPROTOOPT);
    s.serve(req({ seq: 40, op: OP.SETOPT, id: 7, flags: INET6, a: 41, b: 26, c: 0 })); // ... and on an AF_INET6 one
    assert.equal((await wait(40)).err, 0);
    s.serve(req({ seq: 41, op: OP.GETOPT, id: 7, flags: INET6, a: 1, b: 39 })); // SO_DOMAIN
    assert.equal((await wait(41)).val, 10);
    tn.reg.limits.sockets = 0; // the image is out of sockets: an errno, not an exception
    s.serve(req({ seq: 42, op: OP.CONNECT, id: 9, addr: B_ADDR, port: 80 }));
    assert.equal((await wait(42)).err, LINUX_ERRNO.EMFILE);
    s.serve(req({ seq: 43, op: OP.LISTEN, id: 10, a: 5 }));
    assert.equal((await wait(43)).err, LINUX_ERRNO.EMFILE);
    tn.reg.destroy('A');
    s.serve(req({ seq: 5, op: OP.CONNECT, id: 8, addr: B_ADDR, port: 80 }));
    assert.equal((await wait(5)).err, LINUX_ERRNO.ENETDOWN);
    assert.ok(replies.size >= 5);
    s.close();
  });
});
