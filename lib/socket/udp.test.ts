import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketError } from './errno.js';
import { RawSocket } from './raw.js';
import { UdpSocket } from './udp.js';
import { A_ADDR, B_ADDR, twoImages } from '../testing/testnet.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

test('UDP datagrams go both ways between two images, with checksums verified', async () => {
  const n = twoImages();
  const srv = new UdpSocket(n.b);
  srv.bind(5000);
  const cli = new UdpSocket(n.a);
  cli.send(bytes('hello'), B_ADDR, 5000);
  await n.settle();
  const d = await srv.recv();
  assert.equal(text(d!.data), 'hello');
  assert.equal(d!.addr, A_ADDR);
  assert.ok(d!.port >= 10000 && d!.port <= 65535, 'ephemeral port from net.inet.ip.portrange');
  srv.send(bytes('world'), d!.addr, d!.port);
  await n.settle();
  assert.equal(text((await cli.recv())!.data), 'world');
  assert.equal(n.b.udpstat.delivered, 1);
  assert.equal(n.b.udpstat.badsum, 0);
  assert.equal(n.a.udpstat.opackets, 1);
});

test('net.inet.udp.checksum=0 sends no checksum and the receiver counts nosum', async () => {
  const n = twoImages();
  n.a.sysctl.set('net.inet.udp.checksum', '0');
  const srv = new UdpSocket(n.b);
  srv.bind(7);
  new UdpSocket(n.a).send(bytes('x'), B_ADDR, 7);
  await n.settle();
  assert.equal(text((await srv.recv())!.data), 'x');
  assert.equal(n.b.udpstat.nosum, 1);
});

test('a connected socket hears ICMP port unreachable as ECONNREFUSED; blackhole silences it', async () => {
  const n = twoImages();
  const cli = new UdpSocket(n.a);
  cli.connect(B_ADDR, 9999);
  const waiting = assert.rejects(cli.recv(), (e: SocketError) => e.code === 'ECONNREFUSED' && e.message === 'Connection refused');
  cli.send(bytes('anyone?'));
  await n.settle();
  await waiting;
  assert.equal(n.b.udpstat.noport, 1);
  // Pending error reported by the next call when nobody was waiting.
  cli.send(bytes('again'));
  await n.settle();
  assert.throws(() => cli.send(bytes('x')), (e: SocketError) => e.code === 'ECONNREFUSED');
  n.b.sysctl.set('net.inet.udp.blackhole', '1');
  const icmpBefore = n.b.icmp.outhist[3];
  cli.send(bytes('quiet'));
  await n.settle();
  assert.equal(n.b.icmp.outhist[3], icmpBefore);
  assert.equal(n.b.udpstat.noport, 3);
});

test('bind refuses a taken port with EADDRINUSE unless SO_REUSEADDR allows a specific address beside the wildcard', () => {
  const n = twoImages();
  const s1 = new UdpSocket(n.a);
  s1.bind(53);
  const s2 = new UdpSocket(n.a);
  assert.throws(() => s2.bind(53), (e: SocketError) => e.code === 'EADDRINUSE');
  const s3 = new UdpSocket(n.a);
  s3.reuseAddr = true;
  s3.bind(53, A_ADDR);
  assert.throws(() => new UdpSocket(n.a).bind(53, 0x01020304), (e: SocketError) => e.code === 'EADDRNOTAVAIL');
  s1.close();
  assert.throws(() => s2.bind(53), (e: SocketError) => e.code === 'EADDRINUSE', 'a wildcard bind beside a specific one needs SO_REUSEADDR');
  s3.close();
  s2.bind(53);
});

test('ephemeral ports come from net.inet.ip.portrange.first/last', () => {
  const n = twoImages();
  n.a.sysctl.set('net.inet.ip.portrange.first', '40000');
  n.a.sysctl.set('net.inet.ip.portrange.last', '40002');
  const ports = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const s = new UdpSocket(n.a);
    s.bind();
    ports.add(s.address().port);
  }
  assert.deepEqual([...ports].sort(), [40000, 40001, 40002]);
  assert.throws(() => new UdpSocket(n.a).bind(), (e: SocketError) => e.code === 'EADDRNOTAVAIL');
});

test('broadcast needs SO_BROADCAST and reaches every socket bound to the port', async () => {
  const n = twoImages();
  const s1 = new UdpSocket(n.b);
  s1.reusePort = true;
  s1.bind(67);
  const s2 = new UdpSocket(n.b);
  s2.reusePort = true;
  s2.bind(67);
  const cli = new UdpSocket(n.a);
  assert.throws(() => cli.send(bytes('x'), 0x0a0000ff, 67), (e: SocketError) => e.code === 'EACCES');
  cli.broadcast = true;
  cli.send(bytes('subnet'), 0x0a0000ff, 67);
  cli.send(bytes('limited'), 0xffffffff, 67);
  await n.settle();
  assert.equal(text((await s1.recv())!.data), 'subnet');
  assert.equal(text((await s2.recv())!.data), 'subnet');
  assert.equal(text((await s1.recv())!.data), 'limited');
  assert.equal(n.b.udpstat.delivered, 4);
});

test('a full receive buffer drops datagrams and counts fullsock', async () => {
  const n = twoImages();
  const srv = new UdpSocket(n.b);
  srv.rcvBuf = 1000;
  srv.bind(9);
  const cli = new UdpSocket(n.a);
  for (let i = 0; i < 3; i++) cli.send(new Uint8Array(400), B_ADDR, 9);
  await n.settle();
  assert.equal(srv.recvQueued, 800);
  assert.equal(n.b.udpstat.fullsock, 1);
});

test('loopback datagrams inside one image; destroying the image closes its sockets', async () => {
  const n = twoImages();
  const srv = new UdpSocket(n.a);
  srv.bind(1234, 0x7f000001);
  const cli = new UdpSocket(n.a);
  cli.send(bytes('lo'), 0x7f000001, 1234);
  await n.settle();
  const d = await srv.recv();
  assert.equal(text(d!.data), 'lo');
  assert.equal(d!.addr, 0x7f000001);
  const pending = srv.recv();
  n.reg.destroy('A');
  assert.equal(await pending, null);
  assert.throws(() => cli.send(bytes('x'), B_ADDR, 1), (e: SocketError) => e.code === 'EBADF');
  assert.equal(n.a.udb.count, 0);
  assert.equal(n.a.sockets.size, 0);
});

test('raw sockets see every packet of their protocol and send with a built header', async () => {
  const n = twoImages();
  const raw = new RawSocket(n.b, 253);
  const tx = new RawSocket(n.a, 253);
  tx.send(bytes('experimental'), B_ADDR);
  await n.settle();
  const p = await raw.recv();
  assert.equal(p!.src, A_ADDR);
  assert.equal(p!.packet[9], 253);
  assert.equal(text(p!.packet.subarray(20)), 'experimental');
  raw.close();
  tx.close();
});

test('the daemon limit on sockets per image refuses new sockets with EMFILE', () => {
  const n = twoImages();
  n.a.registry.limits.sockets = n.a.sockets.size + 2;
  const s1 = new UdpSocket(n.a);
  const s2 = new UdpSocket(n.a);
  assert.throws(() => new UdpSocket(n.a), { code: 'EMFILE' });
  s1.close();
  const s3 = new UdpSocket(n.a);
  s2.close();
  s3.close();
});
