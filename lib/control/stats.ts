/**
 * The statistics part of an image's control surface: each protocol's
 * counters as a descriptor table (name, description, value) in the order
 * the stack declares them, which is the order netstat -s prints; plus the
 * gauges FreeBSD prints beside them (TCP connections by state, ICMP type
 * histograms). Zeroing (`netstat -z`) goes through here too.
 */

import type { Image } from '../image.js';
import { arpStats } from '../netinet/if_ether.js';
import { ICMP_MAXTYPE, ICMP_TYPE_NAMES, icmpStats } from '../netinet/ip_icmp.js';
import { ipStats } from '../netinet/ip_var.js';
import { TCP_STATE_NAMES, tcpStats } from '../netinet/tcp/tcp_var.js';
import { udpStats } from '../netinet/udp_usrreq.js';
import { icmp6Stats, ip6Stats } from '../netinet6/ip6_var.js';
import { ICMP6_TYPE_NAMES } from '../netinet6/icmp6.js';
import type { Stats, StatsDef } from '../stats.js';

/** One counter. */
export interface StatEntry {
  name: string;
  description: string;
  value: number;
}

/** One ICMP message type's count. */
export interface HistogramEntry {
  type: number;
  name: string;
  count: number;
}

export interface ProtocolStats {
  protocol: ProtocolName;
  counters: StatEntry[];
  /** tcp: connections in each state, in FreeBSD's state order. */
  connectionsByState?: Array<{ state: string; count: number }>;
  /** icmp: messages sent and received by type (types with a count only). */
  outputHistogram?: HistogramEntry[];
  inputHistogram?: HistogramEntry[];
}

interface Proto {
  readonly def: StatsDef<string>;
  get(im: Image): Stats<string>;
}

function proto<K extends string, Z extends string>(def: StatsDef<K, Z>, get: (im: Image) => Stats<K>): Proto {
  return { def: def as unknown as StatsDef<string>, get: get as unknown as (im: Image) => Stats<string> };
}

// FreeBSD's protox order: tcp, udp, ip, icmp, ..., arp.
const PROTOS = {
  tcp: proto(tcpStats, (im) => im.tcpstat),
  udp: proto(udpStats, (im) => im.udpstat),
  ip: proto(ipStats, (im) => im.ipstat),
  icmp: proto(icmpStats, (im) => im.icmpstat),
  arp: proto(arpStats, (im) => im.arpstat),
  ip6: proto(ip6Stats, (im) => im.ip6stat),
  icmp6: proto(icmp6Stats, (im) => im.icmp6stat),
} as const;

export type ProtocolName = keyof typeof PROTOS;
export const PROTOCOL_NAMES: readonly ProtocolName[] = ['tcp', 'udp', 'ip', 'icmp', 'arp', 'ip6', 'icmp6'];

export function isProtocolName(p: string): p is ProtocolName {
  return Object.hasOwn(PROTOS, p);
}

function histogram(h: Float64Array): HistogramEntry[] {
  const out: HistogramEntry[] = [];
  for (let t = 0; t <= ICMP_MAXTYPE; t++) if (h[t]! !== 0) out.push({ type: t, name: ICMP_TYPE_NAMES[t] ?? `#${t}`, count: h[t]! });
  return out;
}

function histogram6(h: Float64Array): HistogramEntry[] {
  const out: HistogramEntry[] = [];
  for (let t = 0; t < 256; t++) if (h[t]! !== 0) out.push({ type: t, name: ICMP6_TYPE_NAMES[t] ?? `#${t}`, count: h[t]! });
  return out;
}

export class StatsControl {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  protocol(name: ProtocolName): ProtocolStats {
    const im = this.#im;
    const p = PROTOS[name];
    const st = p.get(im);
    const out: ProtocolStats = { protocol: name, counters: p.def.keys.map((k) => ({ name: k, description: p.def.descr[k]!, value: p.def.value(st, k) })) };
    if (name === 'tcp') {
      const byState: Array<{ state: string; count: number }> = [];
      im.tcp.states.forEach((count, s) => byState.push({ state: TCP_STATE_NAMES[s]!, count }));
      out.connectionsByState = byState;
    }
    if (name === 'icmp') {
      out.outputHistogram = histogram(im.icmp.outhist);
      out.inputHistogram = histogram(im.icmp.inhist);
    }
    if (name === 'icmp6') {
      out.outputHistogram = histogram6(im.icmp6.outhist);
      out.inputHistogram = histogram6(im.icmp6.inhist);
    }
    return out;
  }

  /** `netstat -z`: zero a protocol's counters (and its histograms). */
  zero(name: ProtocolName): void {
    const im = this.#im;
    const p = PROTOS[name];
    p.def.reset(p.get(im));
    if (name === 'icmp') {
      im.icmp.inhist.fill(0);
      im.icmp.outhist.fill(0);
    }
    if (name === 'icmp6') {
      im.icmp6.inhist.fill(0);
      im.icmp6.outhist.fill(0);
    }
  }
}
