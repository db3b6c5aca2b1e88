import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { twoImages6 } from '../testing/testnet6.js';
import { parseIp6 } from '../wire/ipv6.js';
import { TcpListener, TcpSocket } from './tcp.js';
import { UdpSocket } from './udp.js';

test('PCB lookups of both families (connected and wildcard) allocate nothing, with v4 and v6 endpoints in one table', async () => {
  const n = twoImages6();
  const l4 = new TcpListener(n.b);
  l4.listen(80);
  const l6 = new TcpListener(n.b, { family: 6 });
  l6.listen(80);
  const c6 = new TcpSocket(n.a, { family: 6 });
  const c4 = new TcpSocket(n.a);
  const p = Promise.all([c6.connect('2001:db8::2', 80), c4.connect(0x0a000002, 80)]);
  await n.settle();
  await p;
  for (const s of [new UdpSocket(n.b), new UdpSocket(n.b, { family: 6 })]) s.bind(53);
  const pkt = new Uint8Array(40);
  pkt.set(parseIp6('2001:db8::1')!, 8);
  pkt.set(parseIp6('2001:db8::2')!, 24);
  const tcb = n.b.tcp.tcb;
  const udb = n.b.udb;
  const p6 = c6.localAddress().port;
  const p4 = c4.localAddress().port;
  assert.ok(tcb.lookup6(pkt, 24, 80, pkt, 8, p6, null)?.cb !== null, 'the IPv6 connection');
  assert.ok(tcb.lookup(0x0a000002, 80, 0x0a000001, p4)?.cb !== null, 'the IPv4 connection');
  assert.ok(tcb.lookup6(pkt, 24, 80, pkt, 8, 1, null)?.listen !== null, 'the IPv6 listener');
  assert.ok(udb.lookup6(pkt, 24, 53, pkt, 8, 1, null)?.af6, 'the IPv6 datagram socket');
  assert.equal(udb.lookup(0x0a000002, 53, 0x0a000001, 1)?.af6, false, 'the IPv4 datagram socket');
  let found = 0;
  const run = (k: number): void => {
    for (let i = 0; i < k; i++) {
      if (tcb.lookup6(pkt, 24, 80, pkt, 8, p6, null) !== undefined) found++;
      if (tcb.lookup(0x0a000002, 80, 0x0a000001, p4) !== undefined) found++;
      if (tcb.lookup6(pkt, 24, 80, pkt, 8, 1000 + (i & 1023), null) !== undefined) found++;
      if (udb.lookup6(pkt, 24, 53, pkt, 8, 7, null) !== undefined) found++;
      if (udb.lookup(0x0a000002, 53, 0x0a000001, 7) !== undefined) found++;
    }
  };
  run(10_000);
  const windows = allocWindows(run, 200_000);
  assert.ok(windows.length > 0, 'a collection ran in every window: lookups allocate');
  assert.ok(Math.min(...windows) < 4, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes per 5 lookups`);
  assert.ok(found > 0);
});
