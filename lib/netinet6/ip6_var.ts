/**
 * IPv6 statistics, tunables and per-image state declarations (FreeBSD's
 * ip6_var.h, icmp6_var.h, nd6.h and the net.inet6.* sysctls they declare).
 */

import type { Ifnet } from '../net/if.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { Icmp6Packet, NdOpts } from '../wire/icmp6.js';
import { Ip6ExtWalk, Ipv6Packet } from '../wire/ipv6.js';

export const ip6Forwarding = sysctlInt({ name: 'net.inet6.ip6.forwarding', def: 0, min: 0, max: 1, descr: 'Enable forwarding of INET6 packets' });
export const ip6DefHlim = sysctlInt({ name: 'net.inet6.ip6.hlim', def: 64, min: 1, max: 255, descr: 'Default hop limit to use for outgoing IPv6 packets' });
export const ip6DadCount = sysctlInt({
  name: 'net.inet6.ip6.dad_count',
  def: 1,
  min: 0,
  max: 15,
  descr: 'Number of Duplicate Address Detection probes to send',
});
export const ip6AutoLinkLocal = sysctlInt({
  name: 'net.inet6.ip6.auto_linklocal',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Default value of per-interface flag for automatically adding an IPv6 link-local address to interfaces when attached',
});
export const icmp6ErrPpsLimit = sysctlInt({
  name: 'net.inet6.icmp6.errppslimit',
  def: 100,
  min: 0,
  max: 1_000_000,
  descr: 'Maximum number of ICMPv6 error messages per second (0: no limit)',
});
export const nd6Delay = sysctlInt({ name: 'net.inet6.icmp6.nd6_delay', def: 5, min: 1, max: 3600, descr: 'Delay before the first NUD probe, in seconds (DELAY_FIRST_PROBE_TIME)' });
export const nd6UMaxTries = sysctlInt({ name: 'net.inet6.icmp6.nd6_umaxtries', def: 3, min: 1, max: 100, descr: 'Maximum unicast neighbor solicitations (MAX_UNICAST_SOLICIT)' });
export const nd6MMaxTries = sysctlInt({ name: 'net.inet6.icmp6.nd6_mmaxtries', def: 3, min: 1, max: 100, descr: 'Maximum multicast neighbor solicitations (MAX_MULTICAST_SOLICIT)' });
export const nd6MaxQueueLen = sysctlInt({
  name: 'net.inet6.icmp6.nd6_maxqueuelen',
  def: 16,
  min: 1,
  max: 1024,
  descr: 'Maximum number of packets held per neighbor cache entry awaiting resolution',
});
export const nd6GcTimer = sysctlInt({
  name: 'net.inet6.icmp6.nd6_gctimer',
  def: 86400,
  min: 1,
  max: 86400 * 365,
  descr: 'Seconds a STALE neighbor cache entry lives before it is collected',
});
export const nd6MaxEntries = sysctlInt({
  name: 'net.inet6.icmp6.nd6_max_entries',
  def: 4096,
  min: 16,
  max: 1 << 20,
  descr: 'Most neighbor cache entries per image (vimage: bounds memory under ND storms and scans)',
});

export const ip6Stats = defineStats({
  total: 'total packets received',
  toosmall: 'with size smaller than minimum',
  tooshort: 'with data size < data length',
  badoptions: 'with bad options',
  badvers: 'with incorrect version number',
  fragments: 'fragments received',
  fragdropped: 'fragments dropped (dup or out of space)',
  fragtimeout: 'fragments dropped after timeout',
  fragoverflow: 'fragments that exceeded limit',
  atomicfrags: 'atomic fragments received',
  reassembled: 'packets reassembled ok',
  delivered: 'packets for this host',
  forward: 'packets forwarded',
  cantforward: 'packets not forwardable',
  localout: 'packets sent from this host',
  odropped: 'output packets dropped due to no bufs, etc.',
  noroute: 'output packets discarded due to no route',
  fragmented: 'output datagrams fragmented',
  ofragments: 'fragments created',
  cantfrag: "datagrams that can't be fragmented",
  badscope: 'packets that violated scope rules',
  notmember: "multicast packets which we don't join",
  toomanyhdr: 'packets discarded because of too many headers',
  noproto: 'packets for unknown/unsupported protocol',
});
export type Ip6Stat = Stats<(typeof ip6Stats.fields)[number]>;

export const icmp6Stats = defineStats({
  error: 'calls to icmp6_error',
  canterror: 'errors not generated in response to an icmp6 message',
  toofreq: 'errors not generated because of rate limitation',
  badcode: 'messages with bad code fields',
  tooshort: 'messages < minimum length',
  checksum: 'bad checksums',
  badlen: 'messages with bad length',
  reflect: 'message responses generated',
  nd_toomanyopt: 'messages with too many ND options',
  badns: 'bad neighbor solicitation messages',
  badna: 'bad neighbor advertisement messages',
  badrs: 'bad router solicitation messages',
  badra: 'bad router advertisement messages',
  dadcollision: 'duplicate addresses detected by DAD',
  holddropped: 'packets dropped from a full or failed neighbor hold queue',
  ndfull: 'neighbor cache entries refused because the cache was full',
  pmtuchg: 'path MTU changes',
});
export type Icmp6Stat = Stats<(typeof icmp6Stats.fields)[number]>;

/** FreeBSD's IN6_IFF_* address flags. */
export const IN6_IFF = {
  ANYCAST: 0x01,
  TENTATIVE: 0x02,
  DUPLICATED: 0x04,
  DETACHED: 0x08,
  DEPRECATED: 0x10,
  NODAD: 0x20,
  AUTOCONF: 0x40,
  TEMPORARY: 0x80,
  PREFER_SOURCE: 0x100,
} as const;
/** Not usable as a source or destination yet (or ever). */
export const IN6_IFF_NOTREADY = IN6_IFF.TENTATIVE | IN6_IFF.DUPLICATED;

/** FreeBSD's ND6_IFF_* per-interface ND flags. */
export const ND6_IFF = { PERFORMNUD: 0x1, ACCEPT_RTADV: 0x2, PREFER_SOURCE: 0x4, IFDISABLED: 0x8, DONT_SET_IFROUTE: 0x10, AUTO_LINKLOCAL: 0x20, NO_RADR: 0x40, NO_PREFER_IFACE: 0x80, NO_DAD: 0x100 } as const;
export const ND6_IFF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [ND6_IFF.PERFORMNUD, 'PERFORMNUD'],
  [ND6_IFF.ACCEPT_RTADV, 'ACCEPT_RTADV'],
  [ND6_IFF.PREFER_SOURCE, 'PREFER_SOURCE'],
  [ND6_IFF.IFDISABLED, 'IFDISABLED'],
  [ND6_IFF.DONT_SET_IFROUTE, 'DONT_SET_IFROUTE'],
  [ND6_IFF.AUTO_LINKLOCAL, 'AUTO_LINKLOCAL'],
  [ND6_IFF.NO_RADR, 'NO_RADR'],
  [ND6_IFF.NO_PREFER_IFACE, 'NO_PREFER_IFACE'],
  [ND6_IFF.NO_DAD, 'NO_DAD'],
];

/** RFC 4861 10 constants (ms). */
export const REACHABLE_TIME = 30_000;
export const RETRANS_TIMER = 1_000;
export const MIN_RANDOM_FACTOR = 0.5;
export const MAX_RANDOM_FACTOR = 1.5;
/** RFC 4861 6.3.7 / RFC 4862 5.4.2: the random delay before a link-local address's first DAD probe (ms). */
export const MAX_RTR_SOLICITATION_DELAY = 1_000;

/** One inet6 address of an interface (FreeBSD's in6_ifaddr). */
export interface In6Ifaddr {
  readonly addr: Uint8Array;
  readonly prefixLen: number;
  flags: number;
  readonly ifp: Ifnet;
  /** DAD: probes still to send, and when the next step is due (clock ms; Infinity when done). */
  dadLeft: number;
  dadNext: number;
}

/** Per-interface IPv6 state (FreeBSD's in6_ifextra and nd_ifinfo). */
export class In6Ifinfo {
  readonly addrs: In6Ifaddr[] = [];
  /** Multicast groups joined: all-nodes and the solicited-node group of each address. */
  groups: Uint8Array[] = [];
  ndFlags: number = ND6_IFF.PERFORMNUD | ND6_IFF.AUTO_LINKLOCAL;
  baseReachable = REACHABLE_TIME;
  /** ReachableTime, chosen at random around baseReachable (RFC 4861 6.3.2). */
  reachable: number;
  retrans = RETRANS_TIMER;
  constructor(random: number) {
    this.reachable = Math.round(REACHABLE_TIME * (MIN_RANDOM_FACTOR + random * (MAX_RANDOM_FACTOR - MIN_RANDOM_FACTOR)));
  }
}

/** Reusable views of one image's IPv6 layer (never allocated per packet). */
export class Ip6Views {
  readonly input = new Ipv6Packet();
  readonly output = new Ipv6Packet();
  readonly walk = new Ip6ExtWalk();
  readonly icmp = new Icmp6Packet();
  readonly ndopts = new NdOpts();
}

/** Result of a local output attempt: 0, or the errno name a socket would see. */
export type Out6Result = 0 | 'ENETUNREACH' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'EHOSTDOWN' | 'EADDRNOTAVAIL' | 'EACCES';

declare module '../net/vnet.js' {
  interface Vnet {
    readonly ip6stat: Ip6Stat;
    readonly ip6Views: Ip6Views;
  }
}
