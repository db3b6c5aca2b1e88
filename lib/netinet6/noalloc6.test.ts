/**
 * The IPv6 forwarding path allocates nothing per packet (DESIGN.md, "The
 * packet path"), measured as lib/netinet/noalloc.test.ts does for IPv4:
 * frames forwarded by R from A to B through ether input, IPv6 input,
 * forwarding, the neighbor cache, the epair and the netisr queue, and IPv6
 * input in B (No Next Header: nothing to answer), leave the heap where it was.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { routerTopology } from '../testing/topology.js';
import { writeMac } from '../wire/ethernet.js';
import { emitIpv6Raw, parseIp6 } from '../wire/ipv6.js';
import { VnetHdr } from '../wire/vnet.js';
import { in6AddAddress } from './in6.js';

test('forwarding an IPv6 packet through an image allocates nothing per packet', () => {
  const { reg, clock, a, r, b } = routerTopology();
  const rIn = r.ifnets.get('epair0a')!;
  const aOut = a.ifnets.get('epair0b')!;
  for (const im of [a, r, b]) im.sysctl.set('net.inet6.ip6.dad_count', '0');
  in6AddAddress(r, rIn, parseIp6('2001:db8:1::1')!, 64);
  in6AddAddress(r, r.ifnets.get('epair1a')!, parseIp6('2001:db8:2::1')!, 64);
  in6AddAddress(b, b.ifnets.get('epair1b')!, parseIp6('2001:db8:2::2')!, 64);
  r.sysctl.set('net.inet6.ip6.forwarding', '1');
  clock.advance(2000); // the link-local addresses finish DAD
  reg.netisr.drain();

  const len = 14 + 40 + 24;
  const template = new Uint8Array(len);
  writeMac(template, 0, rIn.mac);
  writeMac(template, 6, aOut.mac);
  template[12] = 0x86;
  template[13] = 0xdd;
  emitIpv6Raw(template, 14, 24, 59, 64, parseIp6('2001:db8:1::2')!, 0, parseIp6('2001:db8:2::2')!, 0);
  const frame = new Uint8Array(len);
  const meta = new VnetHdr();
  const forward = (n: number): void => {
    for (let i = 0; i < n; i++) {
      frame.set(template); // forwarding decrements the hop limit in place
      r.etherInput(rIn, frame, 0, len, meta);
      reg.netisr.drain();
    }
  };
  forward(1); // resolve B
  clock.advance(1);
  reg.netisr.drain();
  forward(50_000);
  const forwarded = r.ip6stat.forward;
  assert.ok(forwarded >= 50_000, `R forwarded ${forwarded}`);
  assert.ok(b.ip6stat.delivered >= 50_000, `B took ${b.ip6stat.delivered}`);

  const N = 100_000;
  const windows = allocWindows(forward, N);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window of 100k packets: something allocates per packet');
  const perPacket = Math.min(...windows);
  assert.ok(r.ip6stat.forward - forwarded >= N * windows.length, `R forwarded ${r.ip6stat.forward - forwarded}`);
  assert.ok(perPacket < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per forwarded packet`);
});
