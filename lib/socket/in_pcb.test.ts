import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { twoImages6 } from '../testing/testnet6.js';
import { parseIp6 } from '../wire/ipv6.js';
import { InPcb, PcbTable, fkey } from './in_pcb.js';
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

test('the IPv4 connected-map key is a small integer (no boxed double per lookup), and colliding keys still find the right endpoint', async () => {
  for (const [a, p] of [[0x0a000001, 80], [0xc0a80101, 65535], [0xffffffff, 1]] as const) {
    const k = fkey(a, p);
    assert.ok(Number.isInteger(k) && k >= 0 && k <= 0x3fffffff, `fkey(${a}, ${p}) = ${k}`);
  }
  // Two peers whose keys collide: both connections are found, and each after the other closes.
  const base = fkey(0x0a000001, 5000);
  let other = 0;
  for (let port = 1; port < 65536 && other === 0; port++) for (let a = 0x0a000001; a < 0x0a000001 + 4096; a++) if (fkey(a, port) === base && !(a === 0x0a000001 && port === 5000)) { other = a * 0x10000 + port; break; }
  if (other === 0) return; // no collision in the range searched: nothing to check
  const tb = new PcbTable<InPcb>('udp');
  const n = twoImages6();
  const p1 = new InPcb();
  const p2 = new InPcb();
  tb.bind(n.b, p1, 0x0a000002, 53);
  p2.reuseAddr = p1.reuseAddr = true;
  tb.connect(n.b, p1, 0x0a000002, 0x0a000001, 5000);
  tb.bind(n.b, p2, 0, 53);
  tb.connect(n.b, p2, 0x0a000002, Math.floor(other / 0x10000), other % 0x10000);
  assert.equal(tb.lookupConnected(0x0a000002, 53, 0x0a000001, 5000), p1);
  assert.equal(tb.lookupConnected(0x0a000002, 53, Math.floor(other / 0x10000), other % 0x10000), p2);
  tb.remove(p1);
  assert.equal(tb.lookupConnected(0x0a000002, 53, 0x0a000001, 5000), undefined);
  assert.equal(tb.lookupConnected(0x0a000002, 53, Math.floor(other / 0x10000), other % 0x10000), p2);
});
