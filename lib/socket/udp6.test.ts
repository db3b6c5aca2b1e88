import { test } from 'node:test';
import assert from 'node:assert/strict';
import { udp6Checksum } from '../netinet6/udp6_usrreq.js';
import { ip6V6only } from '../netinet6/in6_pcb.js';
import { allocPacket } from '../netinet/ip_var.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import { A_ADDR } from '../testing/testnet.js';
import { A6, B6, twoImages6 } from '../testing/testnet6.js';
import { emitIpv6Raw, ip6ToString, parseIp6, IPPROTO6 } from '../wire/ipv6.js';
import { emitUdp } from '../wire/udp.js';
import { SocketError } from './errno.js';
import { UdpSocket } from './udp.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

test('UDP over IPv6: a datagram and its answer between two images, checksummed, counted in udpstat', async () => {
  const n = twoImages6();
  const srv = new UdpSocket(n.b, { family: 6 });
  srv.bind(5000);
  const cli = new UdpSocket(n.a, { family: 6 });
  cli.send(bytes('hello6'), B6, 5000);
  await n.settle();
  const d = (await srv.recv())!;
  assert.equal(text(d.data), 'hello6');
  assert.equal(ip6ToString(d.addr6!), A6);
  srv.send(bytes('back'), d.addr6!, d.port);
  await n.settle();
  const r = (await cli.recv())!;
  assert.equal(text(r.data), 'back');
  assert.equal(ip6ToString(r.addr6!), B6);
  assert.equal(r.port, 5000);
  assert.equal(n.b.udpstat.delivered, 1);
  assert.equal(n.a.udpstat.delivered, 1);
  assert.equal(n.b.udpstat.badsum, 0);
});

test('UDP over IPv6 to a closed port: ICMPv6 port unreachable, ECONNREFUSED on the connected socket', async () => {
  const n = twoImages6();
  const cli = new UdpSocket(n.a, { family: 6 });
  cli.connect(B6, 9999);
  const waiting = assert.rejects(cli.recv(), (e: SocketError) => e.code === 'ECONNREFUSED');
  cli.send(bytes('anyone?'));
  await n.settle();
  await waiting;
  assert.equal(n.b.udpstat.noport, 1);
  assert.equal(n.b.icmp6.outhist[1], 1);
  n.b.sysctl.set('net.inet.udp.blackhole', '1');
  cli.send(bytes('quiet'));
  await n.settle();
  assert.equal(n.b.icmp6.outhist[1], 1);
  assert.equal(n.b.udpstat.noport, 2);
});

test('a UDP/IPv6 datagram with a zero checksum is dropped and counted (RFC 8200 8.1); a bad one is counted badsum', async () => {
  const n = twoImages6();
  const srv = new UdpSocket(n.b, { family: 6 });
  srv.bind(7);
  const send = (fix: (b: Uint8Array, u: number) => void): void => {
    const p = allocPacket(40 + 8 + 3);
    emitIpv6Raw(p.buf, p.off, 11, IPPROTO6.UDP, 64, parseIp6(A6)!, 0, parseIp6(B6)!, 0);
    p.buf.set(bytes('abc'), p.off + 48);
    emitUdp({ srcPort: 1234, dstPort: 7, payloadLen: 3 }, p.buf, p.off + 40, 0, 0, false);
    fix(p.buf, p.off + 40);
    assert.equal(ip6Output(n.a, p.buf, p.off, 51, n.a.noOffload), 0);
  };
  send(() => {});
  send((b, u) => {
    udp6Checksum(b, u - 40, u, 11);
    b[u + 7]! ^= 1;
  });
  send((b, u) => udp6Checksum(b, u - 40, u, 11));
  await n.settle();
  assert.equal(n.b.udpstat.nosum, 1);
  assert.equal(n.b.udpstat.badsum, 1);
  assert.equal(n.b.udpstat.delivered, 1);
  assert.equal(text((await srv.recv())!.data), 'abc');
});

test('net.inet6.ip6.v6only: 1 (FreeBSD default) keeps IPv4 off an AF_INET6 socket on ::; 0 or IPV6_V6ONLY off delivers it v4-mapped', async () => {
  const n = twoImages6();
  assert.equal(n.b.sysctl.v[ip6V6only.slot], 1);
  const only = new UdpSocket(n.b, { family: 6 });
  assert.equal(only.v6only, true);
  only.bind(6000);
  new UdpSocket(n.a).send(bytes('v4'), 0x0a000002, 6000);
  await n.settle();
  assert.equal(n.b.udpstat.noport, 1, 'a v6-only socket does not hear IPv4');
  // An AF_INET socket can share the port with a v6-only one.
  const four = new UdpSocket(n.b);
  four.bind(6000);
  four.close();

  const dual = new UdpSocket(n.b, { family: 6 });
  dual.v6only = false;
  dual.bind(6001);
  assert.throws(() => new UdpSocket(n.b).bind(6001), (e: SocketError) => e.code === 'EADDRINUSE');
  const c4 = new UdpSocket(n.a);
  c4.send(bytes('mapped'), 0x0a000002, 6001);
  await n.settle();
  const d = (await dual.recv())!;
  assert.equal(text(d.data), 'mapped');
  assert.equal(ip6ToString(d.addr6!), '::ffff:10.0.0.1');
  assert.equal(d.addr, A_ADDR);
  // The answer goes back over IPv4 to the mapped address.
  dual.send(bytes('reply'), d.addr6!, d.port);
  await n.settle();
  assert.equal(text((await c4.recv())!.data), 'reply');

  n.b.sysctl.set('net.inet6.ip6.v6only', '0');
  const dual2 = new UdpSocket(n.b, { family: 6 });
  assert.equal(dual2.v6only, false);
  assert.throws(() => {
    only.send(bytes('x'), '::ffff:10.0.0.1', 1);
  }, (e: SocketError) => e.code === 'EINVAL');
});

test('a UDP socket bound to :: hears every local address again after disconnect (the source connect chose is forgotten), IPv6 and IPv4', async () => {
  const n = twoImages6();
  const srv = new UdpSocket(n.b, { family: 6 });
  srv.bind(5000);
  srv.connect(A6, 9);
  srv.disconnect();
  const cli = new UdpSocket(n.b, { family: 6 });
  cli.send(bytes('to-loopback'), '::1', 5000);
  await n.settle();
  const d = (await Promise.race([srv.recv(), new Promise<null>((r) => setTimeout(() => r(null), 50))]))!;
  assert.ok(d !== null, 'delivered to ::1 after disconnect');
  assert.equal(text(d.data), 'to-loopback');
  const s4 = new UdpSocket(n.b);
  s4.bind(5001);
  s4.connect(A_ADDR, 9);
  s4.disconnect();
  const c4 = new UdpSocket(n.b);
  c4.send(bytes('v4'), 0x7f000001, 5001);
  await n.settle();
  const d4 = await Promise.race([s4.recv(), new Promise<null>((r) => setTimeout(() => r(null), 50))]);
  assert.ok(d4 !== null, 'delivered to 127.0.0.1 after disconnect');
  for (const s of [srv, cli, s4, c4]) s.close();
});
