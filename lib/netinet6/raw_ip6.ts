/**
 * Raw IPv6 delivery (FreeBSD's raw_ip6.c and icmp6_rip6_input): the
 * per-image list of raw IPv6 endpoints and how packets reach them.
 *
 * - An upper layer no transport handles (OSPF 89, VRRP 112, ...) reaches
 *   raw endpoints through the IPv6 protocol switch: the first endpoint of
 *   such a protocol registers `rip6Input` for it, the last one to close
 *   takes the entry back out, so an image without raw sockets answers
 *   unknown next headers exactly as before (a parameter problem). A packet
 *   that no endpoint takes is answered as FreeBSD's rip6_input does:
 *   parameter problem, next header, counted `nosock`.
 * - ICMPv6 sits under a wrapper registered in the switch in place of
 *   icmp6Input: the stack handles the message first (echo, ND, errors to
 *   transports), then, when it passed icmp6Input's length and checksum
 *   checks, MLD messages go to mld6.ts and every message goes to the raw
 *   ICMPv6 endpoints whose ICMP6_FILTER passes its type, as FreeBSD's
 *   icmp6_input ends with icmp6_rip6_input.
 * - TCP and UDP are never shown to raw endpoints (FreeBSD does not either).
 *
 * IPV6_CHECKSUM: an endpoint with an offset has the checksum at that
 * offset verified on input (a bad one is counted `badsum` and not
 * delivered) and filled on output (raw6.ts); ICMPv6's is always at 2.
 */

import type { Ifnet } from '../net/if.js';
import { ip6ProtoRegister, type Ip6ProtoSw, type Vnet } from '../net/vnet.js';
import { defineStats, type Stats } from '../stats.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { ICMP6_PARAMPROB, ICMP6_TYPE } from '../wire/icmp6.js';
import { IP6_DST_OFF, IP6_SRC_OFF, IPPROTO6, in6Equal } from '../wire/ipv6.js';
import type { VnetHdr } from '../wire/vnet.js';
import { icmp6Error, icmp6Input } from './icmp6.js';
import { mld6Input } from './mld6.js';

export const rip6Stats = defineStats({
  ipackets: 'messages received',
  isum: 'checksum calculations on inbound',
  badsum: 'messages with bad checksum',
  nosock: 'messages dropped due to no socket',
  nosockmcast: 'multicast messages dropped due to no socket',
  fullsock: 'messages dropped due to full socket buffers',
  delivered: 'delivered',
  opackets: 'datagrams output',
});
export type Rip6Stat = Stats<(typeof rip6Stats.fields)[number]>;

/**
 * An ICMPv6 type filter (RFC 3542 3.2, ICMP6_FILTER): a set bit passes
 * the type, as FreeBSD's ICMP6_FILTER_SETPASS sets it. New sockets pass all.
 */
export class Icmp6Filter {
  readonly bits = new Uint32Array(8).fill(0xffffffff);
  setPassAll(): void {
    this.bits.fill(0xffffffff);
  }
  setBlockAll(): void {
    this.bits.fill(0);
  }
  setPass(type: number): void {
    this.bits[(type >>> 5) & 7]! |= 1 << (type & 31);
  }
  setBlock(type: number): void {
    this.bits[(type >>> 5) & 7]! &= ~(1 << (type & 31));
  }
  willPass(type: number): boolean {
    return (this.bits[(type >>> 5) & 7]! & (1 << (type & 31))) !== 0;
  }
}

/** One raw IPv6 endpoint as delivery sees it (FreeBSD's in6pcb fields rip6_input reads). */
export interface Rip6Pcb {
  readonly proto: number;
  /** Bound local address (receive only packets to it); null = any. */
  readonly laddr6: Uint8Array | null;
  /** Connected peer (receive only packets from it); null = any. */
  readonly faddr6: Uint8Array | null;
  /** IPV6_CHECKSUM offset, -1 when off (ICMPv6's is checked by icmp6Input). */
  readonly cksumOff: number;
  readonly filter: Icmp6Filter;
  /**
   * The packet: IPv6 header at buf[off], the upper layer at buf[hoff],
   * ip6Len bytes from off in all; valid during the call. False when the
   * socket had no room (counted fullsock).
   */
  input(buf: Uint8Array, off: number, hoff: number, ip6Len: number, ifp: Ifnet): boolean;
}

/** One image's raw IPv6 endpoints. */
export class Rip6Table {
  readonly pcbs: Rip6Pcb[] = [];
  /** Endpoints per protocol; made with the first endpoint. */
  byProto: Uint16Array = NO_PROTOS;
  /** Protocols whose switch entry raw_ip6 registered (and takes back with the last endpoint); made with the first. */
  owned: Set<number> | null = null;
}

const NO_PROTOS = new Uint16Array(0);

declare module '../net/vnet.js' {
  interface Vnet {
    readonly rip6: Rip6Table;
    readonly rip6stat: Rip6Stat;
  }
}

/** The switch entry of protocols only raw endpoints take. */
const RIP6_SW: Ip6ProtoSw = { input: rip6Input };

/** Subsystem init (after inet6): ICMPv6 in the switch gains raw delivery and MLD. */
export function rip6Init(im: Vnet): void {
  const base = im.protosw.ip6[IPPROTO6.ICMPV6];
  const sw: Ip6ProtoSw = { input: icmp6RipInput };
  if (base?.ctlinput !== undefined) sw.ctlinput = base.ctlinput;
  ip6ProtoRegister(im, IPPROTO6.ICMPV6, sw);
}

export function rip6Destroy(im: Vnet): void {
  for (const p of im.rip6.owned ?? []) im.protosw.ip6[p] = null;
  im.rip6.owned = null;
  im.rip6.pcbs.length = 0;
  im.rip6.byProto.fill(0);
}

/** Add an endpoint; the function returned removes it (idempotent). */
export function rip6Attach(im: Vnet, pcb: Rip6Pcb): () => void {
  const t = im.rip6;
  t.pcbs.push(pcb);
  if (t.byProto.length === 0) t.byProto = new Uint16Array(256);
  t.byProto[pcb.proto]!++;
  const cur = im.protosw.ip6[pcb.proto];
  if ((cur === undefined || cur === null) && pcb.proto !== IPPROTO6.ICMPV6) {
    ip6ProtoRegister(im, pcb.proto, RIP6_SW);
    (t.owned ??= new Set()).add(pcb.proto);
  }
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    const i = t.pcbs.indexOf(pcb);
    if (i < 0) return; // already dropped by rip6Destroy
    t.pcbs.splice(i, 1);
    if (--t.byProto[pcb.proto]! === 0 && t.owned?.delete(pcb.proto) === true && im.protosw.ip6[pcb.proto] === RIP6_SW) im.protosw.ip6[pcb.proto] = null;
  };
}

/**
 * Show the packet to the endpoints of `proto` (rip6_input's loop); the
 * number that took it. `type` is the ICMPv6 type for the filter, or -1.
 */
function rip6Deliver(im: Vnet, proto: number, type: number, buf: Uint8Array, off: number, hoff: number, ip6Len: number, ifp: Ifnet): number {
  const st = im.rip6stat;
  const pcbs = im.rip6.pcbs;
  const ulen = off + ip6Len - hoff;
  let n = 0;
  for (let i = 0; i < pcbs.length; i++) {
    const p = pcbs[i]!;
    if (p.proto !== proto) continue;
    if (p.laddr6 !== null && !in6Equal(p.laddr6, 0, buf, off + IP6_DST_OFF)) continue;
    if (p.faddr6 !== null && !in6Equal(p.faddr6, 0, buf, off + IP6_SRC_OFF)) continue;
    if (type >= 0 && !p.filter.willPass(type)) continue;
    if (p.cksumOff >= 0) {
      st.isum++;
      // RFC 3542 3.1: the checksum field must lie inside the data.
      if (ulen - p.cksumOff < 2 || foldComplement(sum16(buf, hoff, ulen, pseudoHeaderSum6(buf, off + IP6_SRC_OFF, off + IP6_DST_OFF, ulen, proto))) !== 0) {
        st.badsum++;
        continue;
      }
    }
    if (p.input(buf, off, hoff, ip6Len, ifp)) n++;
    else st.fullsock++;
  }
  if (n > 0) st.delivered++;
  return n;
}

/** The switch entry of a protocol only raw endpoints take (rip6_input). */
export function rip6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  void meta;
  const st = im.rip6stat;
  st.ipackets++;
  const proto = im.ip6Views.walk.proto;
  if (rip6Deliver(im, proto, -1, buf, off, hoff, ip6Len, ifp) > 0) return;
  st.nosock++;
  if (mcast) st.nosockmcast++;
  im.ip6stat.delivered--;
  if (proto === IPPROTO6.NONE) return;
  im.ip6stat.noproto++;
  // The pointer names the next-header field that led here, as ip6_get_prevhdr finds it.
  icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.NEXTHEADER, im.ip6Views.walk.nxtOff - off);
}

/** ICMPv6 input, then MLD and the raw ICMPv6 endpoints for a message that passed icmp6Input's checks. */
function icmp6RipInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  const st = im.icmp6stat;
  const bad = st.tooshort + st.checksum;
  icmp6Input(im, ifp, buf, off, hoff, ip6Len, meta, mcast);
  if (st.tooshort + st.checksum !== bad) return;
  const type = buf[hoff]!;
  if (type === ICMP6_TYPE.MLD_QUERY || type === ICMP6_TYPE.MLD_REPORT || type === ICMP6_TYPE.MLD_DONE || type === ICMP6_TYPE.MLDV2_REPORT) {
    mld6Input(im, ifp, buf, off, hoff, ip6Len);
  }
  if (im.rip6.byProto.length === 0 || im.rip6.byProto[IPPROTO6.ICMPV6] === 0) return;
  im.rip6stat.ipackets++;
  if (rip6Deliver(im, IPPROTO6.ICMPV6, type, buf, off, hoff, ip6Len, ifp) === 0) im.rip6stat.nosock++;
}
