import { test } from 'node:test';
import assert from 'node:assert/strict';
import { in6Ifinfo } from '../netinet6/in6.js';
import { TCPS } from '../netinet/tcp/tcp_var.js';
import { IPPROTO6, emitIpv6Raw, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { TH, emitTcp, newTcpRepr, setTcpRepr } from '../wire/tcp.js';
import { allocPacket } from '../netinet/ip_var.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import { tcp6Checksum, tcp6Input } from '../netinet6/tcp6_usrreq.js';
import { udp6Checksum } from '../netinet6/udp6_usrreq.js';
import { UdpSocket } from './udp.js';
import { SocketError } from './errno.js';
import { TcpListener, TcpSocket } from './tcp.js';
import { A6, B6, ethOf as eth, twoImages6 } from '../testing/testnet6.js';
import { listSockets } from './list.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));


async function readAll(s: TcpSocket): Promise<string> {
  let out = '';
  for await (const c of s) out += text(c);
  return out;
}

test('TCP over IPv6: handshake, data both ways, orderly close; MSS from the IPv6 MTU (1500 - 60)', async () => {
  const n = twoImages6();
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(80);
  const c = new TcpSocket(n.a, { family: 6 });
  const connecting = c.connect(B6, 80);
  await n.settle();
  await connecting;
  assert.equal(c.state, TCPS.ESTABLISHED);
  assert.equal(c.cb.mssOffer, 1440);
  assert.equal(ip6ToString(c.localAddress().addr6!), A6);
  const s = (await l.accept())!;
  assert.equal(ip6ToString(s.remoteAddress().addr6!), A6);
  assert.equal(s.remoteAddress().port, c.localAddress().port);
  assert.equal(s.cb.maxseg, 1440);
  const big = new Uint8Array(100_000).fill(0x61);
  const w = c.write(big).then(() => c.end());
  const got = readAll(s);
  await n.run(2000, 5);
  await w;
  assert.equal((await got).length, 100_000);
  await s.write(bytes('bye'));
  await s.end();
  await n.run(200, 5);
  assert.equal(await readAll(c), 'bye');
  assert.ok(n.b.tcpstat.rcvpack > 0);
  assert.equal(n.b.tcpstat.rcvbadsum, 0);
  const rows = listSockets(n.b).filter((r) => r.proto === 'tcp6');
  assert.ok(rows.some((r) => r.state === 'LISTEN' && r.lport === 80));
  c.close();
  s.close();
  l.close();
});

test('TCP over IPv6 to a closed port is refused with RST (ECONNREFUSED)', async () => {
  const n = twoImages6();
  const c = new TcpSocket(n.a, { family: 6 });
  const p = assert.rejects(c.connect(B6, 81), (e: SocketError) => e.code === 'ECONNREFUSED');
  await n.settle();
  await p;
  assert.equal(n.b.tcpstat.noport, 1);
  assert.equal(n.b.tcpstat.sndrst, 1);
});

test('an AF_INET6 listener on :: takes IPv4 connections v4-mapped only with IPV6_V6ONLY off', async () => {
  const n = twoImages6();
  const only = new TcpListener(n.b, { family: 6 });
  only.listen(8080);
  const c4 = new TcpSocket(n.a);
  const refused = assert.rejects(c4.connect('10.0.0.2', 8080), (e: SocketError) => e.code === 'ECONNREFUSED');
  await n.settle();
  await refused;
  // An AF_INET listener can share the port with the v6-only one.
  const four = new TcpListener(n.b);
  four.listen(8080);
  four.close();
  only.close();

  const dual = new TcpListener(n.b, { family: 6, v6only: false });
  dual.listen(8081);
  const c = new TcpSocket(n.a);
  const ok = c.connect('10.0.0.2', 8081);
  await n.settle();
  await ok;
  const s = (await dual.accept())!;
  assert.equal(ip6ToString(s.remoteAddress().addr6!), '::ffff:10.0.0.1');
  assert.equal(ip6ToString(s.localAddress().addr6!), '::ffff:10.0.0.2');
  assert.equal(s.family, 6);
  const rows = listSockets(n.b);
  assert.ok(rows.some((r) => r.proto === 'tcp46' && r.state === 'LISTEN' && r.lport === 8081));
  // An AF_INET6 client reaches an IPv4 listener through a v4-mapped address.
  const l4 = new TcpListener(n.b);
  l4.listen(8082);
  const c6 = new TcpSocket(n.a, { family: 6, v6only: false });
  const ok2 = c6.connect('::ffff:10.0.0.2', 8082);
  await n.settle();
  await ok2;
  assert.equal(ip6ToString(c6.remoteAddress().addr6!), '::ffff:10.0.0.2');
  const v6only = new TcpSocket(n.a, { family: 6 });
  await assert.rejects(v6only.connect('::ffff:10.0.0.2', 8082), (e: SocketError) => e.code === 'EINVAL');
});

test('TCP over link-local IPv6 with a zone (fe80::...%epair0b)', async () => {
  const n = twoImages6();
  await n.run(2500, 100); // DAD of the link-local addresses
  const eb = eth(n.b);
  const ll = ip6ToString(in6Ifinfo(n.b, eb).addrs.find((a) => a.addr[0] === 0xfe)!.addr);
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(22);
  const c = new TcpSocket(n.a, { family: 6 });
  const ea = eth(n.a);
  const p = c.connect(`${ll}%${ea.name}`, 22);
  await n.settle();
  await p;
  const s = (await l.accept())!;
  assert.equal(s.remoteAddress().zone, eb);
  await c.write(bytes('zoned'));
  await c.end();
  await n.run(100, 5);
  assert.equal(await readAll(s), 'zoned');
  await assert.rejects(new TcpSocket(n.a, { family: 6 }).connect(ll, 22), (e: SocketError) => e.code === 'EHOSTUNREACH');
});

test('SYN cookies over IPv6: with the listen queue full of half-open connections, a client still gets in', async () => {
  const n = twoImages6();
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(443, 1);
  // Two SYNs whose sender stays silent (blackhole: no RST for B's SYN,ACKs) fill the queue.
  n.a.sysctl.set('net.inet.tcp.blackhole', '2');
  for (const sport of [1001, 1002]) {
    const p = allocPacket(60);
    emitIpv6Raw(p.buf, p.off, 20, IPPROTO6.TCP, 64, parseIp6(A6)!, 0, parseIp6(B6)!, 0);
    emitTcp(setTcpRepr(newTcpRepr(), sport, 443, 12345, 0, TH.SYN, 65535), p.buf, p.off + 40);
    tcp6Checksum(p.buf, p.off, p.off + 40, 20);
    assert.equal(ip6Output(n.a, p.buf, p.off, 60, n.a.noOffload), 0);
  }
  await n.settle();
  assert.equal(l.listenQueue!.incomplete.size, 2);
  n.a.sysctl.set('net.inet.tcp.blackhole', '0');
  const c = new TcpSocket(n.a, { family: 6 });
  const p = c.connect(B6, 443);
  await n.settle();
  await p;
  assert.equal(n.b.tcpstat.sc_sendcookie, 1);
  assert.equal(n.b.tcpstat.sc_recvcookie, 1);
  const s = (await l.accept())!;
  assert.equal(ip6ToString(s.remoteAddress().addr6!), A6);
  await c.write(bytes('through the cookie'));
  await c.end();
  await n.run(100, 5);
  assert.equal(await readAll(s), 'through the cookie');
});

test('a SYN on an established IPv6 connection earns a challenge ACK (RFC 5961 4.2), not a reset', async () => {
  const n = twoImages6();
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(25);
  const c = new TcpSocket(n.a, { family: 6 });
  const p = c.connect(B6, 25);
  await n.settle();
  await p;
  const s = (await l.accept())!;
  const pk = allocPacket(60);
  emitIpv6Raw(pk.buf, pk.off, 20, IPPROTO6.TCP, 64, parseIp6(A6)!, 0, parseIp6(B6)!, 0);
  emitTcp(setTcpRepr(newTcpRepr(), c.localAddress().port, 25, s.cb.rcvNxt, 0, TH.SYN, 65535), pk.buf, pk.off + 40); // in the window
  tcp6Checksum(pk.buf, pk.off, pk.off + 40, 20);
  ip6Output(n.a, pk.buf, pk.off, 60, n.a.noOffload);
  await n.settle();
  assert.equal(n.b.tcpstat.challengeack, 1);
  assert.equal(s.state, TCPS.ESTABLISHED);
  assert.equal(c.state, TCPS.ESTABLISHED);
});

test('random TCP and UDP segments over IPv6 (checksums right and wrong) never throw and are counted', async () => {
  const n = twoImages6();
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(80);
  const u = new UdpSocket(n.b, { family: 6, v6only: false });
  u.bind(53);
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 0x100000000);
  const before = n.b.tcpstat.rcvtotal + n.b.udpstat.ipackets;
  for (let i = 0; i < 3000; i++) {
    const tcp = i % 2 === 0;
    const tl = Math.floor(rnd() * 80);
    const pk = allocPacket(40 + tl);
    for (let k = 0; k < tl; k++) pk.buf[pk.off + 40 + k] = Math.floor(rnd() * 256);
    if (tl >= 4) {
      // Mostly to the listening ports, so lookups and the state machines see them.
      pk.buf[pk.off + 40 + 2] = 0;
      pk.buf[pk.off + 40 + 3] = tcp ? 80 : 53;
    }
    if (!tcp && tl >= 8 && rnd() < 0.7) {
      pk.buf[pk.off + 44] = tl >>> 8;
      pk.buf[pk.off + 45] = tl & 0xff;
    }
    emitIpv6Raw(pk.buf, pk.off, tl, tcp ? IPPROTO6.TCP : IPPROTO6.UDP, 64, parseIp6(A6)!, 0, parseIp6(B6)!, 0);
    if (rnd() < 0.7) {
      if (tcp && tl >= 20) tcp6Checksum(pk.buf, pk.off, pk.off + 40, tl);
      else if (!tcp && tl >= 8) udp6Checksum(pk.buf, pk.off, pk.off + 40, tl);
    }
    ip6Output(n.a, pk.buf, pk.off, 40 + tl, n.a.noOffload);
    if (i % 100 === 0) await n.settle();
  }
  await n.run(3000, 100);
  assert.ok(n.b.tcpstat.rcvtotal + n.b.udpstat.ipackets - before >= 2900);
  assert.ok(n.b.tcpstat.rcvbadsum > 0 && n.b.udpstat.badsum + n.b.udpstat.nosum > 0);
  l.close();
  u.close();
});

test('a SYN from the unspecified address :: is dropped (FreeBSD tcp_input: :: marks unconnected PCBs), no half-open connection made', async () => {
  const n = twoImages6();
  const l = new TcpListener(n.b, { family: 6 });
  l.listen(8080);
  const pk = allocPacket(60);
  emitIpv6Raw(pk.buf, pk.off, 20, IPPROTO6.TCP, 64, new Uint8Array(16), 0, parseIp6(B6)!, 0);
  emitTcp(setTcpRepr(newTcpRepr(), 40000, 8080, 1000, 0, TH.SYN, 65535), pk.buf, pk.off + 40);
  tcp6Checksum(pk.buf, pk.off, pk.off + 40, 20);
  const sent = n.b.tcpstat.sndtotal;
  tcp6Input(n.b, eth(n.b), pk.buf, pk.off, pk.off + 40, 60, n.b.noOffload, false);
  assert.equal(n.b.tcpstat.rcvtotal, 1);
  assert.equal(n.b.tcp.tcb.count, 1, 'only the listener');
  assert.equal(n.b.tcpstat.sndtotal, sent, 'nothing sent to ::');
  assert.equal(n.b.tcpstat.badsyn, 1);
  l.close();
});
