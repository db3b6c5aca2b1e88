/**
 * The NAT instances of one image's ipfw (FreeBSD's ip_fw_nat.c: the
 * instance list of a chain, `ipfw nat N config|delete|show`, and ipfw_nat,
 * which the `nat N` action calls), with the sweeper that expires links on
 * the image clock once a second while any exist.
 */

import type { Timer } from '../clock.js';
import { fail, E } from '../errors.js';
import type { Vnet } from '../net/vnet.js';
import { sysctlInt } from '../sysctl.js';
import { ip4ToString } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, type VnetHdr } from '../wire/vnet.js';
import { NAT_DROP, NAT_IGNORED, NatInstance, natStats } from './nat.js';
import { formatNatConfig, type NatConfig } from './nat_config.js';

export const natLinksMax = sysctlInt({
  name: 'net.inet.ip.fw.nat_links_max',
  def: 65536,
  min: 16,
  max: 1_048_576,
  descr: 'Most translation links one ipfw nat instance holds (new flows are dropped and counted when full)',
});

/** What `natAction` returns: the packet is translated (or left), or it must be dropped. */
export const NATV_DONE = 0;
export const NATV_DENY = 1;

/** One link as `ipfw nat N show --json` lists it. */
export interface NatLinkInfo {
  proto: number;
  local: string;
  localPort: number;
  alias: string;
  aliasPort: number;
  remote: string;
  remotePort: number;
  /** TCP only: the states each way (libalias's ALIAS_TCP_STATE_*). */
  tcpIn?: string;
  tcpOut?: string;
  expiresIn: number;
  redirect: boolean;
}

export interface NatInfo {
  id: number;
  /** The line `ipfw nat N show config` prints. */
  config: string;
  aliasAddress: string;
  log: boolean;
  links: { icmp: number; udp: number; tcp: number; proto: number; fragPtr: number; total: number };
  stats: Record<string, number>;
  /** Live links (only with `log`, as only then FreeBSD shows anything). */
  table: NatLinkInfo[];
}

const TCP_STATE = ['not_connected', 'connected', 'disconnected'];

export class IpfwNat {
  readonly list = new Map<number, NatInstance>();
  private sweeper: Timer | null = null;

  constructor(readonly im: Vnet) {}

  /** `ipfw nat N config ...`: a new instance, or new settings for one (its dynamic links stay). */
  config(c: NatConfig): void {
    const old = this.list.get(c.id);
    if (old !== undefined) {
      old.cfg = c;
      // Links made from the old redirects go with them (nat44_cfg flushes the redirect list).
      const t = old.table;
      for (let s = 0; s < t.cap; s++) if (t.used[s] === 2) t.remove(s);
      old.refreshAlias();
      return;
    }
    const n = new NatInstance(this.im, c, this.im.sysctl.v[natLinksMax.slot]!);
    n.onLink = this.armSweeper;
    this.list.set(c.id, n);
  }

  /** False when there is no such instance. */
  delete(id: number): boolean {
    const n = this.list.get(id);
    if (n === undefined) return false;
    n.table.clear();
    this.list.delete(id);
    return true;
  }

  flush(): void {
    for (const id of [...this.list.keys()]) this.delete(id);
  }

  destroy(): void {
    this.sweeper?.cancel();
    this.sweeper = null;
    this.flush();
  }

  private readonly armSweeper = (): void => {
    if (this.sweeper === null) this.sweeper = this.im.clock.every(1000, this.sweep);
  };

  /** Once a second while links exist (libalias's IncrementalCleanup, done whole). */
  readonly sweep = (): void => {
    const now = this.im.clock.now();
    let left = 0;
    for (const n of this.list.values()) left += n.sweep(now);
    if (left === 0) {
      this.sweeper?.cancel();
      this.sweeper = null;
    }
  };

  /**
   * ipfw_nat for the `nat N` action: translate in place. A missing
   * instance, a packet libalias refuses, and (deny_in) an incoming packet
   * it ignores are denied, as ip_fw_nat.c does.
   */
  run(id: number, out: boolean, buf: Uint8Array, off: number, len: number, meta: VnetHdr): number {
    const n = this.list.get(id);
    if (n === undefined) return NATV_DENY;
    const r = n.translate(out, buf, off, len, (meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0);
    if (r === NAT_DROP) return NATV_DENY;
    if (r === NAT_IGNORED && !out && n.cfg.denyIn) return NATV_DENY;
    return NATV_DONE;
  }

  configs(): NatConfig[] {
    return [...this.list.values()].sort((a, b) => a.cfg.id - b.cfg.id).map((n) => n.cfg);
  }

  info(id?: number): NatInfo[] {
    const now = this.im.clock.now();
    const out: NatInfo[] = [];
    for (const n of [...this.list.values()].sort((a, b) => a.cfg.id - b.cfg.id)) {
      if (id !== undefined && n.cfg.id !== id) continue;
      n.refreshAlias();
      const t = n.table;
      const stats: Record<string, number> = {};
      for (const k of natStats.keys) stats[k] = (n.stat as unknown as Record<string, number>)[k] ?? 0;
      const table: NatLinkInfo[] = [];
      if (n.cfg.log) {
        for (const s of t.slots()) {
          if (t.expire[s]! <= now) continue;
          const l: NatLinkInfo = {
            proto: t.proto[s]!,
            local: ip4ToString(t.lAddr[s]!),
            localPort: t.lPort[s]!,
            alias: ip4ToString(t.aAddr[s]!),
            aliasPort: t.aPort[s]!,
            remote: ip4ToString(t.rAddr[s]!),
            remotePort: t.rPort[s]!,
            expiresIn: Math.ceil((t.expire[s]! - now) / 1000),
            redirect: t.used[s] === 2,
          };
          if (t.proto[s] === 6) {
            l.tcpIn = TCP_STATE[t.stIn[s]!]!;
            l.tcpOut = TCP_STATE[t.stOut[s]!]!;
          }
          table.push(l);
        }
      }
      out.push({
        id: n.cfg.id,
        config: formatNatConfig(n.cfg),
        aliasAddress: ip4ToString(n.aliasAddr),
        log: n.cfg.log,
        links: { icmp: t.icmpLinks, udp: t.udpLinks, tcp: t.tcpLinks, proto: t.protoLinks, fragPtr: t.fragLinks, total: t.count },
        stats,
        table,
      });
    }
    return out;
  }
}

/**
 * The line `ipfw nat show` prints for an instance with `log`: libalias's
 * ShowAliasStats (sys/netinet/libalias/alias_db.c, "icmp=%u, udp=%u,
 * tcp=%u, sctp=%u, pptp=%u, proto=%u, frag_id=%u frag_ptr=%u / tot=%u")
 * behind nat_show_log's "nat %s: " (sbin/ipfw/nat.c). Instances without
 * `log` print nothing there, as on FreeBSD.
 */
export function natLogLine(n: NatInfo): string {
  const l = n.links;
  return `nat ${n.id}: icmp=${l.icmp}, udp=${l.udp}, tcp=${l.tcp}, sctp=0, pptp=0, proto=${l.proto}, frag_id=0 frag_ptr=${l.fragPtr} / tot=${l.total}`;
}

/** Refuse a NAT id out of range (ipfw_config_nat: "illegal nat id"). */
export function checkNatId(id: number, text: string): void {
  if (!Number.isInteger(id) || id <= 0 || id > 65535) fail(E.BAD_ARGUMENT, `illegal nat id: ${text}`);
}
