/**
 * The forwarding path allocates nothing per packet (DESIGN.md, "The packet
 * path"): frames forwarded by R from A to B, through ether input, IP input,
 * the pfil chain with ipfw rules, forwarding, ARP resolution, the epair
 * and the netisr queue, and IP input with an ipfw deny in B, leave the heap
 * where it was. Measured as V8's used heap before and after many packets
 * with no garbage collection in between (a collection would hide
 * allocations, so the test checks none ran). The smallest object V8 makes
 * is 12 bytes and a setImmediate 120, so an average under 8 bytes per
 * packet means no allocation per packet; what is left is the compiler's
 * own bookkeeping.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocWindows } from '../testing/alloc.js';
import { rules } from '../testing/testbed.js';
import { routerTopology } from '../testing/topology.js';
import { internetChecksum } from '../wire/checksum.js';
import { writeMac } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';

test('forwarding a UDP packet through an image with ipfw rules allocates nothing per packet', () => {
  const { reg, clock, a, r, b } = routerTopology();
  const rIn = r.ifnets.get('epair0a')!;
  const aOut = a.ifnets.get('epair0b')!;
  rules(r, '100 count udp from 10.9.0.0/16 to any', '200 deny tcp from any to any 22', '300 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  // B drops them silently (no port unreachable back through R).
  const [deny] = rules(b, '100 deny udp from any to any 9');
  b.sysctl.set('net.inet.ip.fw.enable', '1');

  // The frame A would send: Ethernet to R, IPv4 UDP 10.1.0.2:1234 -> 10.2.0.2:9, 18 bytes of payload (64-byte frame).
  const len = 14 + 20 + 8 + 18;
  const template = new Uint8Array(len);
  writeMac(template, 0, rIn.mac);
  writeMac(template, 6, aOut.mac);
  template[12] = 0x08;
  const ipo = 14;
  template.set([0x45, 0, 0, 20 + 8 + 18, 0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 0, 2, 10, 2, 0, 2], ipo);
  const sum = internetChecksum(template, ipo, 20);
  template[ipo + 10] = sum >> 8;
  template[ipo + 11] = sum & 0xff;
  template.set([0x04, 0xd2, 0, 9, 0, 26, 0, 0], ipo + 20);
  const frame = new Uint8Array(len);
  const meta = new VnetHdr();

  const forward = (n: number): void => {
    for (let i = 0; i < n; i++) {
      frame.set(template); // forwarding decrements the TTL in place
      r.etherInput(rIn, frame, 0, len, meta);
      reg.netisr.drain();
    }
  };
  // Resolve ARP for B from R, then warm up (JIT, first-use tables).
  forward(1);
  clock.advance(1);
  reg.netisr.drain();
  forward(50_000);
  const forwarded = r.ipstat.forward;
  assert.ok(forwarded >= 50_000, `R forwarded ${forwarded}`);
  assert.ok(deny!.pcnt >= 50_000, `B denied ${deny!.pcnt}`);

  const N = 100_000;
  // Several windows, the least one tells (lib/testing/alloc.ts).
  const windows = allocWindows(forward, N);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window of 100k packets: something allocates per packet');
  const perPacket = Math.min(...windows);
  assert.ok(r.ipstat.forward - forwarded >= N * windows.length, `R forwarded ${r.ipstat.forward - forwarded}`);
  assert.ok(perPacket < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes allocated per forwarded packet`);
});
