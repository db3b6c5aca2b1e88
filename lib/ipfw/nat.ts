/**
 * One ipfw NAT instance: libalias's packet aliasing (FreeBSD 14's
 * sys/netinet/libalias/alias.c, LibAliasOut and LibAliasIn) for TCP, UDP,
 * ICMP queries (the identifier aliased as a port), ICMP errors (the quoted
 * header translated back, IcmpAliasIn2/IcmpAliasOut2) and other protocols
 * (the address only, ProtoAliasIn/Out). Links are in nat_table.ts.
 *
 * Outgoing packets get the alias address (the `ip`, or the first address
 * of the `if` interface as it is now, or the public address of a
 * `redirect_addr` for that local host) and an alias port: the same port
 * with `same_ports` when it is free, else one drawn from port_range
 * (default 32768-65535, libalias's ALIAS_PORT_BASE and mask). A port is
 * taken only towards the same remote endpoint, so ports are reused for
 * different remotes, as FreeBSD 14's libalias does. Incoming packets are
 * translated back through their link, or through a redirect, which makes a
 * link for the flow; anything else is ignored (the caller drops it with
 * deny_in).
 *
 * Checksums change incrementally (RFC 1624 eqn. 3, lib/wire/checksum.ts).
 * A frame with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM, GSO/TSO
 * from a TAP) holds only the pseudo-header sum in its TCP/UDP checksum:
 * there the address change is added to it uncomplemented and the port
 * change is left for the device, which sums the header later.
 *
 * Nothing here allocates per packet; no input makes it throw.
 */

import type { Vnet } from '../net/vnet.js';
import { defineStats, type Stats } from '../stats.js';
import { u16, put16, put32 } from '../wire/bytes.js';
import { checksumAdjust } from '../wire/checksum.js';
import { IP_MF, IP_OFFMASK, Ipv4Packet } from '../wire/ipv4.js';
import type { NatConfig } from './nat_config.js';
import { NatTable, P_FRAG } from './nat_table.js';

export const natStats = defineStats({
  out: 'outgoing packets translated',
  partial: 'packets whose TCP/UDP checksum was offloaded (VIRTIO_NET_HDR_F_NEEDS_CSUM): only the pseudo-header sum was adjusted',
  in: 'incoming packets translated back',
  ignored: 'packets left as they were (no link, proxy_only, unreg_only, no alias address)',
  truncated: 'packets too short for the headers they announce',
  full: 'packets dropped because the link table was full',
  noport: 'packets dropped because no alias port was free in port_range',
  fragdrop: 'incoming later fragments of a datagram whose first fragment was not seen, dropped',
  created: 'links created',
  expired: 'links expired',
  reset: 'times the table was cleared because the alias address changed (reset)',
});
export type NatStats = Stats<(typeof natStats.keys)[number]>;

export const NAT_OK = 0;
export const NAT_IGNORED = 1;
export const NAT_DROP = 2;

const P_ICMP = 1;
const P_TCP = 6;
const P_UDP = 17;

/** Offsets in the headers this file rewrites (IP, TCP/UDP, ICMP). */
const IP_SUM = 10;
const IP_SRC = 12;
const IP_DST = 16;
const TCP_SUM = 16;
const UDP_SUM = 6;
const ICMP_SUM = 2;
const ICMP_ID = 4;
const ICMP_QUOTE = 8;

/** How a checksum field takes a change. */
const CK_NONE = 0;
const CK_FULL = 1;
/** UDP: 0 means "no checksum"; a computed 0 is sent as 0xffff (RFC 768). */
const CK_UDP = 2;
/** Holds the uncomplemented pseudo-header sum (offload). */
const CK_PARTIAL = 3;

const LINK_DYNAMIC = 1;
const LINK_REDIRECT = 2;

/** Most new-port probes before giving up (exhaustion is then counted as noport). */
const PORT_PROBES = 4096;

/**
 * An address as int32: addresses stay small integers (no boxed doubles)
 * on this path; the table stores them so too.
 */
function i32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function adj(b: Uint8Array, at: number, mode: number, o: number, n: number): void {
  if (mode === CK_NONE || o === n) return;
  const cur = u16(b, at);
  if (mode === CK_PARTIAL) {
    put16(b, at, ~checksumAdjust(~cur & 0xffff, o, n) & 0xffff);
    return;
  }
  if (mode === CK_UDP && cur === 0) return;
  let v = checksumAdjust(cur, o, n);
  if (mode === CK_UDP && v === 0) v = 0xffff;
  put16(b, at, v);
}

/** Write a 16-bit field and fix up to two checksums that cover it. */
function set16(b: Uint8Array, at: number, n: number, c1: number, m1: number, c2: number, m2: number): void {
  const o = u16(b, at);
  if (o === n) return;
  put16(b, at, n);
  adj(b, c1, m1, o, n);
  adj(b, c2, m2, o, n);
}

/** Write an address and fix up to two checksums that cover it. */
function set32(b: Uint8Array, at: number, n: number, c1: number, m1: number, c2: number, m2: number): void {
  const o = i32(b, at);
  if (o === n) return;
  put32(b, at, n);
  adj(b, c1, m1, o >>> 16, n >>> 16);
  adj(b, c1, m1, o & 0xffff, n & 0xffff);
  adj(b, c2, m2, o >>> 16, n >>> 16);
  adj(b, c2, m2, o & 0xffff, n & 0xffff);
}

/** Echo, timestamp, information and address-mask requests and replies: the id is aliased. */
function isQuery(t: number): boolean {
  return t === 0 || t === 8 || t === 13 || t === 14 || t === 15 || t === 16 || t === 17 || t === 18;
}

/** Requests (echo, timestamp, information, mask): outgoing ones make links (IcmpAliasOut1). */
function isRequest(t: number): boolean {
  return t === 8 || t === 13 || t === 15 || t === 17;
}

function isError(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
}

/** RFC 1918 (and with `cgn` RFC 6598) space: what unreg_only / unreg_cgn translate. */
export function unregistered(a: number, cgn: boolean): boolean {
  const x = a >>> 0;
  if (x >>> 24 === 10 || x >>> 20 === 0xac1 || x >>> 16 === 0xc0a8) return true;
  return cgn && x >>> 22 === (100 << 2 | 1);
}

export class NatInstance {
  cfg: NatConfig;
  readonly table: NatTable;
  readonly stat: NatStats = natStats.create();
  /** The alias address in use (int32); 0 when `if` has no address. */
  aliasAddr = 0;
  private readonly ip = new Ipv4Packet();
  /** Set when a link was made, for the owner's sweeper. */
  onLink: () => void = () => {};

  constructor(
    readonly im: Vnet,
    cfg: NatConfig,
    maxLinks: number,
  ) {
    this.cfg = cfg;
    this.table = new NatTable(maxLinks);
    this.refreshAlias();
  }

  /** Read the alias address again (`if` follows the interface); with `reset`, a change clears the table. */
  refreshAlias(): number {
    const c = this.cfg;
    let a = c.ip | 0;
    if (c.ifName !== '') {
      const ifp = this.im.ifnets.get(c.ifName);
      const ia = ifp === undefined ? undefined : ifp.addrs[0];
      a = ia === undefined ? 0 : ia.addr | 0;
    }
    if (a !== this.aliasAddr) {
      if (c.reset && this.aliasAddr !== 0 && this.table.count > 0) {
        this.table.clear();
        this.stat.reset++;
      }
      this.aliasAddr = a;
    }
    return a;
  }

  /** Translate a packet leaving (`out`) or arriving; `partial` when its L4 checksum is offloaded. */
  translate(out: boolean, b: Uint8Array, off: number, len: number, partial: boolean): number {
    if (this.cfg.reverse) out = !out;
    if (len < 20 || off < 0 || off + len > b.length) return this.trunc();
    const ip = this.ip.reset(b, off, len);
    const hlen = ip.headerLen;
    if (ip.version !== 4 || hlen < 20 || hlen > len) return this.trunc();
    if (this.cfg.proxyOnly) return this.ignore();
    if (partial) this.stat.partial++;
    this.refreshAlias();
    return out ? this.out(b, off, hlen, len, partial) : this.in(b, off, hlen, len, partial);
  }

  private trunc(): number {
    this.stat.truncated++;
    return NAT_DROP;
  }

  private ignore(): number {
    this.stat.ignored++;
    return NAT_IGNORED;
  }

  /** The alias address for a local host: its redirect_addr's public address, else the instance's. */
  private aliasFor(src: number): number {
    const rs = this.cfg.redirects;
    for (let k = 0; k < rs.length; k++) {
      const r = rs[k]!;
      if (r.kind === 'addr' && (r.lAddr | 0) === src) return r.pAddr | 0;
    }
    return this.aliasAddr;
  }

  // ------------------------------------------------------------- out

  private out(b: Uint8Array, off: number, hlen: number, len: number, partial: boolean): number {
    const c = this.cfg;
    const ip = this.ip;
    const src = i32(b, off + IP_SRC);
    const dst = i32(b, off + IP_DST);
    const p = ip.protocol;
    if ((c.unregOnly || c.unregCgn) && !unregistered(src, c.unregCgn)) return this.ignore();
    const alias = this.aliasFor(src);
    if (alias === 0) return this.ignore();
    const t = this.table;
    const now = this.im.clock.now();
    const l4 = off + hlen;
    const room = len - hlen;
    const ipSum = off + IP_SUM;
    if ((ip.fragField & IP_OFFMASK) !== 0) {
      // FragmentOut: a later fragment carries no ports; only the address changes.
      set32(b, off + IP_SRC, alias, ipSum, CK_FULL, -1, CK_NONE);
      this.stat.out++;
      return NAT_OK;
    }
    if (p === P_TCP || p === P_UDP) {
      if (room < (p === P_TCP ? 20 : 8)) return this.trunc();
      const sp = u16(b, l4);
      const dp = u16(b, l4 + 2);
      let s = t.findOut(now, p, src, sp, dst, dp);
      if (s < 0) {
        s = this.newLink(now, p, src, sp, dst, dp, alias, alias !== this.aliasAddr);
        if (s < 0) return NAT_DROP;
      }
      const ck = l4 + (p === P_TCP ? TCP_SUM : UDP_SUM);
      const mode = partial ? CK_PARTIAL : p === P_UDP ? CK_UDP : CK_FULL;
      set32(b, off + IP_SRC, t.aAddr[s]!, ipSum, CK_FULL, ck, mode);
      set16(b, l4, t.aPort[s]!, ck, partial ? CK_NONE : mode, -1, CK_NONE);
      t.touch(s, now, false, p === P_TCP ? b[l4 + 13]! : 0);
    } else if (p === P_ICMP) {
      if (room < 8) return this.trunc();
      const type = b[l4]!;
      if (isQuery(type)) {
        const id = u16(b, l4 + ICMP_ID);
        let s = t.findOut(now, P_ICMP, src, id, dst, 0);
        // A reply leaving is translated only through a link (a redirect made it); it makes none.
        if (s < 0 && !isRequest(type)) return this.ignore();
        if (s < 0) {
          s = this.newLink(now, P_ICMP, src, id, dst, 0, alias, alias !== this.aliasAddr);
          if (s < 0) return NAT_DROP;
        }
        set32(b, off + IP_SRC, t.aAddr[s]!, ipSum, CK_FULL, -1, CK_NONE);
        set16(b, l4 + ICMP_ID, t.aPort[s]!, l4 + ICMP_SUM, partial ? CK_NONE : CK_FULL, -1, CK_NONE);
        t.touch(s, now, false, 0);
      } else if (isError(type)) {
        return this.errorOut(b, off, l4, room, alias, partial);
      } else set32(b, off + IP_SRC, alias, ipSum, CK_FULL, -1, CK_NONE);
    } else {
      let s = t.findOut(now, p, src, 0, dst, 0);
      if (s < 0) {
        s = this.addLink(now, LINK_DYNAMIC, p, src, 0, dst, 0, alias, 0);
        if (s < 0) return NAT_DROP;
      }
      set32(b, off + IP_SRC, t.aAddr[s]!, ipSum, CK_FULL, -1, CK_NONE);
      t.touch(s, now, false, 0);
    }
    this.stat.out++;
    return NAT_OK;
  }

  /**
   * A local host reports an error about a packet that came in through us
   * (IcmpAliasOut2): the quoted packet went remote -> local, so its
   * destination is put back to the alias endpoint, and the outer source too.
   */
  private errorOut(b: Uint8Array, off: number, l4: number, room: number, alias: number, partial: boolean): number {
    const t = this.table;
    const q = l4 + ICMP_QUOTE;
    const ihl = room >= ICMP_QUOTE + 20 ? (b[q]! & 0x0f) << 2 : 0;
    if (ihl < 20 || ICMP_QUOTE + ihl + 8 > room) {
      // Nothing to translate inside: the source still must not leak.
      set32(b, off + IP_SRC, alias, off + IP_SUM, CK_FULL, -1, CK_NONE);
      this.stat.out++;
      return NAT_OK;
    }
    const p2 = b[q + 9]!;
    const isrc = i32(b, q + IP_SRC);
    const idst = i32(b, q + IP_DST);
    const iq = q + ihl;
    const s = this.innerLink(true, b, p2, idst, isrc, iq);
    if (s < 0) {
      set32(b, off + IP_SRC, alias, off + IP_SUM, CK_FULL, -1, CK_NONE);
      return this.ignore();
    }
    this.rewriteInner(b, l4, room, q, iq, p2, q + IP_DST, t.aAddr[s]!, iq + (p2 === P_ICMP ? ICMP_ID : 2), t.aPort[s]!, partial);
    set32(b, off + IP_SRC, t.aAddr[s]!, off + IP_SUM, CK_FULL, -1, CK_NONE);
    this.stat.out++;
    return NAT_OK;
  }

  // -------------------------------------------------------------- in

  private in(b: Uint8Array, off: number, hlen: number, len: number, partial: boolean): number {
    const ip = this.ip;
    const src = i32(b, off + IP_SRC);
    const dst = i32(b, off + IP_DST);
    const p = ip.protocol;
    const t = this.table;
    const now = this.im.clock.now();
    const l4 = off + hlen;
    const room = len - hlen;
    const ipSum = off + IP_SUM;
    if ((ip.fragField & IP_OFFMASK) !== 0) {
      // FragmentIn: a later fragment follows its first one's translation;
      // ipfw_nat drops one libalias cannot resolve.
      const f = t.findIn(now, P_FRAG, dst, ip.ident, src, 0);
      if (f < 0) {
        this.stat.fragdrop++;
        return NAT_DROP;
      }
      set32(b, off + IP_DST, t.lAddr[f]!, ipSum, CK_FULL, -1, CK_NONE);
      this.stat.in++;
      return NAT_OK;
    }
    let s = -1;
    if (p === P_TCP || p === P_UDP) {
      if (room < (p === P_TCP ? 20 : 8)) return this.trunc();
      const sp = u16(b, l4);
      const dp = u16(b, l4 + 2);
      s = t.findIn(now, p, dst, dp, src, sp);
      if (s < 0) s = this.redirectIn(now, p, dst, dp, src, sp);
      if (s === -2) return NAT_DROP;
      if (s === -1 && dst === this.aliasAddr && !this.cfg.denyIn) {
        // FindUdpTcpIn: an unknown flow to the alias address itself (a
        // service of this image) gets a link to itself, so its replies keep
        // their port instead of taking a new one.
        s = t.add(now, LINK_DYNAMIC, p, dst, dp, src, sp, dst, dp);
        if (s >= 0) {
          this.stat.created++;
          this.onLink();
        }
      }
      if (s < 0) return this.ignore();
      const ck = l4 + (p === P_TCP ? TCP_SUM : UDP_SUM);
      const mode = partial ? CK_PARTIAL : p === P_UDP ? CK_UDP : CK_FULL;
      set32(b, off + IP_DST, t.lAddr[s]!, ipSum, CK_FULL, ck, mode);
      set16(b, l4 + 2, t.lPort[s]!, ck, partial ? CK_NONE : mode, -1, CK_NONE);
      t.touch(s, now, true, p === P_TCP ? b[l4 + 13]! : 0);
    } else if (p === P_ICMP) {
      if (room < 8) return this.trunc();
      const type = b[l4]!;
      if (isError(type)) return this.errorIn(b, off, l4, room, partial);
      const id = isQuery(type) ? u16(b, l4 + ICMP_ID) : 0;
      if (isQuery(type)) s = t.findIn(now, P_ICMP, dst, id, src, 0);
      if (s < 0) s = this.redirectIn(now, P_ICMP, dst, id, src, 0);
      if (s === -2) return NAT_DROP;
      if (s < 0) return this.ignore();
      set32(b, off + IP_DST, t.lAddr[s]!, ipSum, CK_FULL, -1, CK_NONE);
      if (isQuery(type)) set16(b, l4 + ICMP_ID, t.lPort[s]!, l4 + ICMP_SUM, partial ? CK_NONE : CK_FULL, -1, CK_NONE);
      t.touch(s, now, true, 0);
    } else {
      s = t.findIn(now, p, dst, 0, src, 0);
      if (s < 0) s = this.redirectIn(now, p, dst, 0, src, 0);
      if (s === -2) return NAT_DROP;
      if (s < 0) return this.ignore();
      set32(b, off + IP_DST, t.lAddr[s]!, ipSum, CK_FULL, -1, CK_NONE);
      t.touch(s, now, true, 0);
    }
    // SaveFragmentPtr: remember where the rest of a fragmented datagram goes.
    if ((ip.fragField & IP_MF) !== 0 && t.findIn(now, P_FRAG, dst, ip.ident, src, 0) < 0) {
      this.addLink(now, LINK_DYNAMIC, P_FRAG, t.lAddr[s]!, ip.ident, src, 0, dst, ip.ident);
    }
    this.stat.in++;
    return NAT_OK;
  }

  /**
   * An error about a packet we sent out (IcmpAliasIn2): the quoted packet
   * went alias -> remote; its source goes back to the local endpoint, and
   * the outer destination with it.
   */
  private errorIn(b: Uint8Array, off: number, l4: number, room: number, partial: boolean): number {
    const t = this.table;
    const q = l4 + ICMP_QUOTE;
    const ihl = room >= ICMP_QUOTE + 20 ? (b[q]! & 0x0f) << 2 : 0;
    if (ihl < 20 || ICMP_QUOTE + ihl + 8 > room) return this.ignore();
    const p2 = b[q + 9]!;
    const isrc = i32(b, q + IP_SRC);
    const idst = i32(b, q + IP_DST);
    const iq = q + ihl;
    const s = this.innerLink(false, b, p2, isrc, idst, iq);
    if (s < 0) return this.ignore();
    this.rewriteInner(b, l4, room, q, iq, p2, q + IP_SRC, t.lAddr[s]!, iq + (p2 === P_ICMP ? ICMP_ID : 0), t.lPort[s]!, partial);
    set32(b, off + IP_DST, t.lAddr[s]!, off + IP_SUM, CK_FULL, -1, CK_NONE);
    this.stat.in++;
    return NAT_OK;
  }

  /**
   * The link of a quoted packet. Outgoing errors quote remote -> local
   * (`ours` is the local endpoint, looked up as an outgoing flow); incoming
   * ones quote alias -> remote (`ours` is the alias endpoint).
   */
  private innerLink(outgoing: boolean, b: Uint8Array, p2: number, ours: number, theirs: number, iq: number): number {
    const t = this.table;
    const now = this.im.clock.now();
    let op: number;
    let tp: number;
    if (p2 === P_TCP || p2 === P_UDP) {
      // Quoted remote -> local: local port is the destination port; alias -> remote: the source port.
      op = outgoing ? u16(b, iq + 2) : u16(b, iq);
      tp = outgoing ? u16(b, iq) : u16(b, iq + 2);
    } else if (p2 === P_ICMP && isQuery(b[iq]!)) {
      op = u16(b, iq + ICMP_ID);
      tp = 0;
    } else return -1;
    return outgoing ? t.findOut(now, p2, ours, op, theirs, tp) : t.findIn(now, p2, ours, op, theirs, tp);
  }

  /**
   * Rewrite the quoted packet's address at `addrAt` and port (or ICMP id)
   * at `portAt`, fixing the quoted IP header checksum, the quoted TCP/UDP
   * or ICMP checksum when it was quoted, and the outer ICMP checksum, which
   * covers all of them.
   */
  private rewriteInner(b: Uint8Array, l4: number, room: number, q: number, iq: number, p2: number, addrAt: number, addr: number, portAt: number, port: number, partial: boolean): void {
    const end = l4 + room;
    const outer = l4 + ICMP_SUM;
    const om = partial ? CK_NONE : CK_FULL;
    const isum = q + IP_SUM;
    let l4sum = -1;
    let l4mode = CK_NONE;
    if (p2 === P_TCP && iq + TCP_SUM + 2 <= end) {
      l4sum = iq + TCP_SUM;
      l4mode = CK_FULL;
    } else if (p2 === P_UDP && iq + UDP_SUM + 2 <= end) {
      l4sum = iq + UDP_SUM;
      l4mode = CK_UDP;
    } else if (p2 === P_ICMP) {
      l4sum = iq + ICMP_SUM;
      l4mode = CK_FULL;
    }
    const oldIsum = u16(b, isum);
    const oldL4 = l4sum >= 0 ? u16(b, l4sum) : 0;
    const oldA = i32(b, addrAt);
    const oldP = u16(b, portAt);
    // The quoted address is in the quoted IP header and, for TCP/UDP, the pseudo-header.
    set32(b, addrAt, addr, isum, CK_FULL, l4sum, p2 === P_ICMP ? CK_NONE : l4mode);
    set16(b, portAt, port, l4sum, l4mode, -1, CK_NONE);
    adj(b, outer, om, oldA >>> 16, addr >>> 16);
    adj(b, outer, om, oldA & 0xffff, addr & 0xffff);
    adj(b, outer, om, oldP, port);
    adj(b, outer, om, oldIsum, u16(b, isum));
    if (l4sum >= 0) adj(b, outer, om, oldL4, u16(b, l4sum));
  }

  // ----------------------------------------------------------- links

  /** A link from a redirect for an incoming packet to dst:dp from src:sp; -1 none, -2 table full. */
  private redirectIn(now: number, p: number, dst: number, dp: number, src: number, sp: number): number {
    const rs = this.cfg.redirects;
    for (let k = 0; k < rs.length; k++) {
      const r = rs[k]!;
      if (r.kind === 'addr') {
        if ((r.pAddr | 0) !== dst) continue;
        const s = this.addLink(now, LINK_REDIRECT, p, r.lAddr | 0, dp, src, sp, dst, dp);
        return s < 0 ? -2 : s;
      }
      if (r.proto !== p || dst !== (r.pAddr !== 0 ? r.pAddr | 0 : this.aliasAddr)) continue;
      if (dp < r.pPort || dp >= r.pPort + r.count) continue;
      if (r.rAddr !== 0 && (r.rAddr | 0) !== src) continue;
      if (r.rPort !== 0 && (sp < r.rPort || sp >= r.rPort + r.rCount)) continue;
      const s = this.addLink(now, LINK_REDIRECT, p, r.lAddr | 0, r.lPort + (dp - r.pPort), src, sp, dst, dp);
      return s < 0 ? -2 : s;
    }
    return -1;
  }

  /** A new outgoing link with an alias port (GetNewPort); -1 when full or no port is free. */
  private newLink(now: number, p: number, la: number, lp: number, ra: number, rp: number, alias: number, keepFirst: boolean): number {
    const c = this.cfg;
    const t = this.table;
    if (t.count >= t.max) {
      this.stat.full++;
      return -1;
    }
    const lo = c.portLo !== 0 ? c.portLo : 0x8000;
    const n = (c.portLo !== 0 ? c.portHi : 0xffff) - lo + 1;
    let port = -1;
    if ((keepFirst || c.samePorts) && this.portFree(now, p, alias, lp, ra, rp)) port = lp;
    else {
      const start = Math.floor(this.im.random() * n);
      const probes = n < PORT_PROBES ? n : PORT_PROBES;
      for (let k = 0; k < probes; k++) {
        const cand = lo + ((start + k) % n);
        if (this.portFree(now, p, alias, cand, ra, rp)) {
          port = cand;
          break;
        }
      }
    }
    if (port < 0) {
      this.stat.noport++;
      return -1;
    }
    return this.addLink(now, LINK_DYNAMIC, p, la, lp, ra, rp, alias, port);
  }

  private portFree(now: number, p: number, alias: number, port: number, ra: number, rp: number): boolean {
    if (this.table.findIn(now, p, alias, port, ra, rp) >= 0) return false;
    const rs = this.cfg.redirects;
    for (let k = 0; k < rs.length; k++) {
      const r = rs[k]!;
      if (r.kind === 'port' && r.proto === p && (r.pAddr !== 0 ? r.pAddr | 0 : this.aliasAddr) === alias && port >= r.pPort && port < r.pPort + r.count) return false;
    }
    return true;
  }

  private addLink(now: number, kind: number, p: number, la: number, lp: number, ra: number, rp: number, aa: number, ap: number): number {
    const s = this.table.add(now, kind, p, la, lp, ra, rp, aa, ap);
    if (s < 0) {
      this.stat.full++;
      return -1;
    }
    this.stat.created++;
    this.onLink();
    return s;
  }

  /** Expire old links; returns how many are left. */
  sweep(now: number): number {
    const before = this.table.count;
    const left = this.table.expireAll(now);
    this.stat.expired += before - left;
    return left;
  }
}
