/**
 * IPv4 statistics and tunables (FreeBSD's `struct ipstat` and net.inet.ip.*).
 */

import type { PfilHead } from '../net/pfil.js';
import { PKT_HEADROOM } from '../net/if.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { Ipv4Packet } from '../wire/ipv4.js';
import { Ipv4Options } from '../wire/ip_options.js';
import { TcpPacket } from '../wire/tcp.js';

export const ipForwarding = sysctlInt({
  name: 'net.inet.ip.forwarding',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Enable IP forwarding between interfaces',
});
export const ipDefTtl = sysctlInt({
  name: 'net.inet.ip.ttl',
  def: 64,
  min: 1,
  max: 255,
  descr: 'Maximum TTL on IP packets',
});
export const ipMaxFragPackets = sysctlInt({
  name: 'net.inet.ip.maxfragpackets',
  def: 1024,
  min: 0,
  max: 65536,
  descr: 'Maximum number of IPv4 fragment reassembly queue entries',
});
export const ipMaxFragsPerPacket = sysctlInt({
  name: 'net.inet.ip.maxfragsperpacket',
  def: 16,
  min: 1,
  max: 1024,
  descr: 'Maximum number of IPv4 fragments allowed per packet',
});
export const ipFragTtl = sysctlInt({
  name: 'net.inet.ip.fragttl',
  def: 30,
  min: 1,
  max: 255,
  descr: 'IP fragment life time on reassembly queue (seconds)',
});

export const ipStats = defineStats({
  total: 'total packets received',
  badsum: 'bad header checksums',
  toosmall: 'with size smaller than minimum',
  tooshort: 'with data size < data length',
  toolong: 'with ip length > max ip packet size',
  badhlen: 'with header length < data size',
  badlen: 'with data length < header length',
  badoptions: 'with bad options',
  badvers: 'with incorrect version number',
  fragments: 'fragments received',
  fragdropped: 'fragments dropped (dup or out of space)',
  fragtimeout: 'fragments dropped after timeout',
  reassembled: 'packets reassembled ok',
  delivered: 'packets for this host',
  noproto: 'packets for unknown/unsupported protocol',
  forward: 'packets forwarded',
  fastforward: 'packets fast forwarded',
  cantforward: 'packets not forwardable',
  notmember: 'packets received for unknown multicast group',
  redirectsent: 'redirects sent',
  localout: 'packets sent from this host',
  rawout: 'packets sent with fabricated ip header',
  odropped: 'output packets dropped due to no bufs, etc.',
  noroute: 'output packets discarded due to no route',
  fragmented: 'output datagrams fragmented',
  ofragments: 'fragments created',
  cantfrag: "datagrams that can't be fragmented",
  nogif: "tunneling packets that can't find gif",
  badaddr: 'datagrams with bad address in header',
  // No gif tunnels.
}, { zero: ['nogif'] });

export type IpStat = Stats<(typeof ipStats.fields)[number]>;

/**
 * Reusable header views of one image's IP layer (never allocated per
 * packet). Each function that uses one re-points it on entry and reads it
 * only before calling anything that could re-point it again.
 */
export class IpViews {
  /** ip_input: the packet being received, delivered or forwarded. */
  readonly input = new Ipv4Packet();
  /** ip_output: the packet being sent. */
  readonly output = new Ipv4Packet();
  /** ip_output: a fragment or segment being built. */
  readonly frag = new Ipv4Packet();
  /** The TCP header of a forwarded or segmented GSO frame. */
  readonly tcp = new TcpPacket();
  /** The options of a received header (ip_dooptions) or of one being reflected (icmp_reflect). */
  readonly options = new Ipv4Options();
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly ipstat: IpStat;
    readonly ipViews: IpViews;
    /** The inet pfil head: the filters' hooks on IP input and output (lib/netinet/ip_pfil.ts). */
    readonly inetPfil: PfilHead;
  }
}

export const FRAME_HEADROOM = PKT_HEADROOM + ETHER_HDR_LEN;

/** A fresh buffer for a locally built IP packet of `len` bytes, with headroom for the link's headers. */
export function allocPacket(len: number): { buf: Uint8Array; off: number } {
  return { buf: new Uint8Array(FRAME_HEADROOM + len), off: FRAME_HEADROOM };
}

/** Result of a local output attempt: 0, or the errno name a socket would see. */
export type OutResult = 0 | 'ENETUNREACH' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'EHOSTDOWN' | 'ENOBUFS' | 'EACCES';
