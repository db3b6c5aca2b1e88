/**
 * Multipath (ECMP) path selection, FreeBSD 14's ROUTE_MPATH: a packet
 * forwarded through a route with several paths takes the one its flow hash
 * picks (sys/net/route/nhgrp.c: nhgrp slots indexed by flowid modulo their
 * number), so every packet of a flow follows one path and flows spread
 * over all of them. FreeBSD hashes the 5-tuple with a Toeplitz key
 * (fib4_calc_software_hash); here a multiply-xorshift mix of the same
 * fields, computed from the header views without allocating.
 */

import { sysctlInt } from '../sysctl.js';
import { IPPROTO, type Ipv4Packet } from '../wire/ipv4.js';
import type { TcpPacket } from '../wire/tcp.js';
import type { Route } from './route.js';

export const routeMultipath = sysctlInt({
  name: 'net.route.multipath',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Enable route multipath',
});

/** Mix one 32-bit word into the hash (murmur3's round, then its finaliser step). */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The flow hash of the 5-tuple: addresses, protocol, and ports of TCP/UDP/SCTP when this is not a fragment. */
export function flowHash(ip: Ipv4Packet, hlen: number, l4: TcpPacket): number {
  const proto = ip.protocol;
  let h = mix(mix(0x5bd1e995, ip.src), ip.dst);
  let ports = 0;
  if ((proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO_SCTP) && !ip.isFragment && ip.len >= hlen + 4) {
    const p = l4.reset(ip.buf, ip.off + hlen, 4);
    ports = ((p.srcPort << 16) | p.dstPort) >>> 0;
  }
  h = mix(mix(h, ports), proto);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const IPPROTO_SCTP = 132;

/** The path of `group` a packet with flow hash `hash` takes. */
export function mpathSelect(group: readonly Route[], hash: number): Route {
  return group[hash % group.length]!;
}
