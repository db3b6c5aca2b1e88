import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { icmpError } from '../netinet/ip_icmp.js';
import { TCPS } from '../netinet/tcp/tcp_var.js';
import { RawSocket } from './raw.js';
import { TH, emitTcp, newTcpRepr, tcpChecksum, tcpHeaderLen } from '../wire/tcp.js';
import type { SocketError } from './errno.js';
import { TcpListener, TcpSocket } from './tcp.js';
import { UdpSocket } from './udp.js';
import { A_ADDR, B_ADDR, twoImages, type TestNet } from '../testing/testnet.js';
import { parseRule } from '../ipfw/parse.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Await `p` while the network and the clock move. */
async function drive<T>(n: TestNet, p: Promise<T>, maxMs = 120_000, step = 1): Promise<T> {
  let done = false;
  let v: T | undefined;
  let err: unknown;
  let failed = false;
  p.then(
    (x) => {
      done = true;
      v = x;
    },
    (e) => {
      done = true;
      failed = true;
      err = e;
    },
  );
  for (let t = 0; t < maxMs && !done; t += step) {
    await n.settle();
    if (done) break;
    n.clock.advance(step);
  }
  await n.settle();
  if (!done) throw new Error(`still pending after ${maxMs} ms`);
  if (failed) throw err;
  return v as T;
}

/** A connection from A to a listener on B's port 80: A's socket `s`, B's accepted `c`. */
async function connected(n: TestNet): Promise<{ l: TcpListener; s: TcpSocket; c: TcpSocket }> {
  const l = new TcpListener(n.b);
  l.listen(80);
  const s = new TcpSocket(n.a);
  await drive(n, s.connect(B_ADDR, 80));
  const c = (await drive(n, l.accept()))!;
  return { l, s, c };
}

async function readAll(s: TcpSocket): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

test('connect, accept, echo and orderly close between two images', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(7);
  const server = (async () => {
    const c = (await l.accept())!;
    for await (const chunk of c) await c.write(chunk);
    await c.end();
    c.close();
  })();
  const s = new TcpSocket(n.a);
  await drive(n, s.connect(B_ADDR, 7));
  assert.equal(s.state, TCPS.ESTABLISHED);
  assert.equal(s.remoteAddress().port, 7);
  assert.equal(s.localAddress().addr, A_ADDR);
  await drive(n, s.write(bytes('ping over tcp')));
  await s.end();
  const got = await drive(n, readAll(s));
  assert.equal(text(got), 'ping over tcp');
  await drive(n, server);
  s.close();
  assert.equal(n.a.tcpstat.connects, 1);
  assert.equal(n.b.tcpstat.accepts, 1);
  await n.run(100);
  assert.equal(n.a.tcp.states[TCPS.TIME_WAIT], 1, 'the active closer waits in TIME_WAIT');
});

test('a SYN the firewall denies on output fails connect at once with EACCES (Permission denied)', async () => {
  const n = twoImages();
  n.a.sysctl.set('net.inet.ip.fw.enable', '1');
  for (const line of ['100 deny tcp from any to any 80 out', '200 allow ip from any to any']) n.a.fw.add(parseRule(line.split(' ')));
  const s = new TcpSocket(n.a);
  await assert.rejects(drive(n, s.connect(B_ADDR, 80)), (e: SocketError) => e.code === 'EACCES' && e.message === 'Permission denied');
});

test('a closed port answers RST: connect fails with ECONNREFUSED', async () => {
  const n = twoImages();
  const s = new TcpSocket(n.a);
  await assert.rejects(drive(n, s.connect(B_ADDR, 9)), (e: SocketError) => e.code === 'ECONNREFUSED' && e.message === 'Connection refused');
  assert.equal(n.b.tcpstat.noport, 1);
  assert.equal(n.b.tcpstat.sndrst, 1);
  s.close();
  assert.equal(n.a.tcp.conns.size, 0);
});

test('resets for closed ports are limited to net.inet.icmp.icmplim per second', async () => {
  const n = twoImages();
  n.b.sysctl.set('net.inet.icmp.icmplim', '50');
  n.a.sysctl.set('net.inet.tcp.blackhole', '2'); // A ignores the RSTs it gets
  const raw = new RawSocket(n.a, 6);
  // Resolve ARP first so the burst is not held back.
  new UdpSocket(n.a).send(new Uint8Array(1), B_ADDR, 9);
  await n.settle();
  for (let i = 0; i < 300; i++) {
    const r = newTcpRepr();
    Object.assign(r, { srcPort: 20000 + i, dstPort: 9, seq: i, flags: TH.SYN, window: 1024 });
    const seg = new Uint8Array(tcpHeaderLen(r));
    emitTcp(r, seg, 0);
    tcpChecksum(seg, 0, seg.length, A_ADDR, B_ADDR);
    raw.send(seg, B_ADDR);
    if (i % 50 === 49) await n.settle();
  }
  await n.settle();
  assert.equal(n.b.tcpstat.noport, 300);
  assert.equal(n.b.tcpstat.sndrst, 50);
  n.clock.advance(1000);
  const s = new TcpSocket(n.a);
  await assert.rejects(drive(n, s.connect(B_ADDR, 9)), (e: SocketError) => e.code === 'ECONNREFUSED', 'a new second, a new allowance');
  raw.close();
});

test('net.inet.tcp.blackhole=1 drops SYNs to closed ports: connect times out', async () => {
  const n = twoImages();
  n.b.sysctl.set('net.inet.tcp.blackhole', '1');
  n.a.sysctl.set('net.inet.tcp.keepinit', '5000');
  const s = new TcpSocket(n.a);
  await assert.rejects(drive(n, s.connect(B_ADDR, 9), 10_000, 10), (e: SocketError) => e.code === 'ETIMEDOUT');
  assert.equal(n.b.tcpstat.sndrst, 0);
});

test('no route: connect fails with EHOSTUNREACH', async () => {
  const n = twoImages();
  const s = new TcpSocket(n.a);
  await assert.rejects(s.connect('192.0.2.1', 80), (e: SocketError) => e.code === 'EHOSTUNREACH');
});

test('bulk transfer over the epair uses TSO-sized segments and arrives intact', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(5001);
  const data = new Uint8Array(3 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  const recv = (async () => readAll((await l.accept())!))();
  const s = new TcpSocket(n.a);
  await drive(n, s.connect(B_ADDR, 5001));
  const w = (async () => {
    for (let off = 0; off < data.length; off += 100_000) await s.write(data.subarray(off, off + 100_000));
    await s.end();
  })();
  const got = await drive(n, recv, 60_000);
  await drive(n, w);
  assert.equal(sha(got), sha(data));
  assert.ok(n.a.tcpstat.sndtso > 0, 'large segments sent');
  assert.equal(n.b.tcpstat.rcvbadsum, 0);
});

test('loopback connections inside one image', async () => {
  const n = twoImages();
  const l = new TcpListener(n.a);
  l.listen(80, 8, '127.0.0.1');
  const srv = (async () => {
    const c = (await l.accept())!;
    await c.write(bytes('HTTP/1.0 200 OK\r\n\r\nhi'));
    await c.end();
  })();
  const s = new TcpSocket(n.a);
  await drive(n, s.connect('127.0.0.1', 80));
  assert.equal(text(await drive(n, readAll(s))), 'HTTP/1.0 200 OK\r\n\r\nhi');
  await drive(n, srv);
});

test('bind: EADDRINUSE for a listening port, SO_REUSEADDR over lingering connections', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(22);
  assert.throws(() => new TcpListener(n.b).listen(22), (e: SocketError) => e.code === 'EADDRINUSE');
  const r = new TcpListener(n.b);
  r.reuseAddr = true;
  assert.throws(() => r.listen(22), (e: SocketError) => e.code === 'EADDRINUSE', 'not even with SO_REUSEADDR while someone listens');
  // A connection lingers on port 22 after the listener closes.
  const acc = l.accept();
  const s = new TcpSocket(n.a);
  await drive(n, s.connect(B_ADDR, 22));
  const c = (await drive(n, acc))!;
  l.close();
  assert.throws(() => new TcpListener(n.b).listen(22), (e: SocketError) => e.code === 'EADDRINUSE');
  const again = new TcpListener(n.b);
  again.reuseAddr = true;
  again.listen(22);
  c.close();
  s.close();
});

test('a SYN flood fills the listen queue; SYN cookies still let a real client in', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(80, 1);
  // The flood: SYNs whose SYN,ACKs go unanswered (A ignores them, as spoofed sources would).
  n.a.sysctl.set('net.inet.tcp.blackhole', '2');
  const raw = new RawSocket(n.a, 6);
  for (let i = 0; i < 5; i++) {
    const r = newTcpRepr();
    Object.assign(r, { srcPort: 30000 + i, dstPort: 80, seq: 1000 * i, flags: TH.SYN, window: 1024, mss: 1460 });
    const seg = new Uint8Array(tcpHeaderLen(r));
    emitTcp(r, seg, 0);
    tcpChecksum(seg, 0, seg.length, A_ADDR, B_ADDR);
    raw.send(seg, B_ADDR);
  }
  await n.settle();
  assert.equal(l.listenQueue!.incomplete.size, 2, 'half-open connections capped at 1.5 x backlog + 1');
  assert.equal(n.b.tcpstat.sc_sendcookie, 3);
  n.a.sysctl.set('net.inet.tcp.blackhole', '0');
  const s = new TcpSocket(n.a);
  await drive(n, s.connect(B_ADDR, 80));
  assert.equal(n.b.tcpstat.sc_recvcookie, 1);
  await drive(n, s.write(bytes('cookie')));
  const c = (await drive(n, l.accept()))!;
  assert.equal(text((await drive(n, c.read()))!), 'cookie');
  // Without cookies the same SYN is dropped and counted.
  n.b.sysctl.set('net.inet.tcp.syncookies', '0');
  const t = new TcpSocket(n.a);
  const p = t.connect(B_ADDR, 80);
  await n.run(200);
  assert.equal(t.state, TCPS.SYN_SENT, 'SYN dropped while the queue is full');
  assert.ok(n.b.tcpstat.listendrop >= 1);
  t.destroy();
  await p.catch(() => {});
  raw.close();
});

test('ICMP port unreachable fails a connect in SYN_SENT with ECONNREFUSED', async () => {
  const n = twoImages();
  // B stays silent (blackhole 2) and a "reject" answers with ICMP instead, quoting A's SYN.
  n.b.sysctl.set('net.inet.tcp.blackhole', '2');
  const tap = new RawSocket(n.b, 6);
  const s = new TcpSocket(n.a);
  const p = s.connect(B_ADDR, 1234);
  await n.settle();
  const syn = (await tap.recv())!.packet;
  icmpError(n.b, null, syn, 0, syn.length, 3, 3, 0);
  await assert.rejects(drive(n, p), (e: SocketError) => e.code === 'ECONNREFUSED');
});

test('destroying an image closes its sockets and stops their timers', async () => {
  const n = twoImages();
  const { c } = await connected(n);
  const r = c.read();
  n.reg.destroy('B');
  assert.equal(await r, null);
  assert.equal(n.b.tcp.conns.size, 0);
  assert.equal(n.b.sockets.size, 0);
  n.reg.destroy('A');
  const base = twoImages();
  base.reg.destroy('A');
  base.reg.destroy('B');
  assert.equal(n.clock.pending, base.clock.pending, 'no timer left behind by the sockets');
});

test('the peer resetting an established connection makes reads fail with ECONNRESET', async () => {
  const n = twoImages();
  const { s, c } = await connected(n);
  const r = s.read();
  c.destroy();
  await assert.rejects(drive(n, r), (e: SocketError) => e.code === 'ECONNRESET');
});


test('creating and destroying hundreds of images with open connections leaks no timer or socket', async () => {
  const n = twoImages();
  const base = n.clock.pending;
  for (let i = 0; i < 200; i++) {
    const im = n.reg.create(`L${i}`);
    const l = new TcpListener(im);
    l.listen(80, 8, '127.0.0.1');
    const s = new TcpSocket(im);
    const p = s.connect('127.0.0.1', 80);
    await n.settle();
    await p;
    const c = (await l.accept())!;
    await c.write(new Uint8Array(100)); // unacknowledged data and a running retransmit timer
    s.setKeepAlive(true);
    const u = new UdpSocket(im);
    u.bind(53);
    n.reg.destroy(`L${i}`);
    assert.equal(im.sockets.size, 0);
    assert.equal(im.tcp.conns.size, 0);
  }
  await n.settle();
  assert.equal(n.clock.pending, base, 'every timer of the destroyed images is gone');
});

test('ICMP fragmentation needed lowers the MSS of the connection it quotes (RFC 1191); a bogus quote is ignored', async () => {
  const n = twoImages();
  const { s, c } = await connected(n);
  assert.equal(s.cb.maxseg, 1460);
  const tap = new RawSocket(n.b, 6);
  s.setNoDelay(true);
  await s.write(new Uint8Array(500));
  await n.settle();
  const seg = (await tap.recv())!.packet;
  // A router on the way says the path carries 1000 bytes, quoting A's segment.
  icmpError(n.b, null, seg, 0, seg.length, 3, 4, 1000);
  await n.settle();
  assert.equal(s.cb.maxseg, 960);
  // The same error quoting a sequence number outside the window changes nothing.
  const bogus = seg.slice();
  bogus[24] ^= 0x80;
  icmpError(n.b, null, bogus, 0, bogus.length, 3, 4, 600);
  await n.settle();
  assert.equal(s.cb.maxseg, 960);
  tap.close();
  c.close();
  s.close();
});

test('a closed socket in FIN_WAIT_2 gives up on a silent peer after net.inet.tcp.finwait2_timeout', async () => {
  const n = twoImages();
  n.a.sysctl.set('net.inet.tcp.finwait2_timeout', '5000');
  const { s, c } = await connected(n); // B never closes its side
  s.close();
  await n.run(100);
  assert.equal(n.a.tcp.states[TCPS.FIN_WAIT_2], 1);
  assert.equal(n.b.tcp.states[TCPS.CLOSE_WAIT], 1);
  await n.run(5000, 100);
  assert.equal(n.a.tcp.states[TCPS.FIN_WAIT_2], 0);
  assert.equal(n.a.tcp.conns.size, 0);
  c.close();
});
