/**
 * rtnetlink messages built from an image's control surface, laid out as the
 * Linux kernel emits them (rtnl_fill_ifinfo, inet_fill_ifaddr, fib_dump_info,
 * neigh_fill_info), attributes in the kernel's order, so iproute2, glibc's
 * getifaddrs and Go's net.Interfaces parse them as they parse the kernel's.
 * Everything here reads plain data from ImageControl; nothing changes it.
 */

import type { ImageControl, InterfaceCounters, InterfaceInfo, NeighbourInfo, RouteInfo } from '../../lib/control/index.js';
import { IFF, RTF } from '../../lib/control/index.js';
import { parseMac, writeMac, type Mac } from '../../lib/wire/ethernet.js';
import { AF, ARPHRD, FRA, IFA, IFLA, LINK_STAT, LIFF, NDA, NL, OPER, RT, TXQLEN } from './rtnetlink_abi.js';

/** The header fields every answer carries. */
export interface MsgHead {
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** A growable little-endian writer for one netlink message (control path: allocation is fine). */
export class NlWriter {
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  len = 0;

  #room(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, at + n + 64));
      b.set(this.buf.subarray(0, at));
      this.buf = b;
      this.dv = new DataView(b.buffer);
    }
    this.len = at + n;
    return at;
  }

  u8(v: number): void {
    const at = this.#room(1);
    this.buf[at] = v & 0xff;
  }
  u16(v: number): void {
    const at = this.#room(2);
    this.dv.setUint16(at, v & 0xffff, true);
  }
  u32(v: number): void {
    const at = this.#room(4);
    this.dv.setUint32(at, v >>> 0, true);
  }
  i32(v: number): void {
    const at = this.#room(4);
    this.dv.setInt32(at, v | 0, true);
  }
  /** A counter as u64 (the stack's counters are exact integers below 2^53). */
  u64(v: number): void {
    const at = this.#room(8);
    const n = Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
    this.dv.setUint32(at, n % 0x100000000, true);
    this.dv.setUint32(at + 4, Math.floor(n / 0x100000000) >>> 0, true);
  }
  /** An IPv4 address (host-order number) in network byte order. */
  ip4(a: number): void {
    const at = this.#room(4);
    this.dv.setUint32(at, a >>> 0, false);
  }
  bytes(b: Uint8Array): void {
    const at = this.#room(b.length);
    this.buf.set(b, at);
  }
  zeros(n: number): void {
    const at = this.#room(n);
    this.buf.fill(0, at, this.len);
  }
  mac(m: Mac): void {
    const at = this.#room(6);
    writeMac(this.buf, at, m);
  }
  align(): void {
    const pad = (4 - (this.len & 3)) & 3;
    if (pad !== 0) this.zeros(pad);
  }

  /** Start a message: the header, with its length filled by end(). */
  begin(h: MsgHead): number {
    const at = this.len;
    this.u32(0);
    this.u16(h.type);
    this.u16(h.flags);
    this.u32(h.seq);
    this.u32(h.pid);
    return at;
  }
  /** Close the message started at `at`: its 32-bit length, then padding. */
  end(at: number): void {
    this.dv.setUint32(at, this.len - at, true);
    this.align();
  }

  attrStart(type: number): number {
    const at = this.len;
    this.u16(0);
    this.u16(type);
    return at;
  }
  attrEnd(at: number): void {
    this.dv.setUint16(at, this.len - at, true);
    this.align();
  }
  attrU8(type: number, v: number): void {
    const a = this.attrStart(type);
    this.u8(v);
    this.attrEnd(a);
  }
  attrU32(type: number, v: number): void {
    const a = this.attrStart(type);
    this.u32(v);
    this.attrEnd(a);
  }
  attrIp4(type: number, v: number): void {
    const a = this.attrStart(type);
    this.ip4(v);
    this.attrEnd(a);
  }
  /** A NUL-terminated string (nla_put_string). */
  attrStr(type: number, s: string): void {
    const a = this.attrStart(type);
    this.bytes(new TextEncoder().encode(s));
    this.u8(0);
    this.attrEnd(a);
  }

  /** The bytes written so far (a copy); the writer starts over. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

export type LinkRow = InterfaceInfo & { counters: InterfaceCounters };

const isLoop = (f: LinkRow | InterfaceInfo): boolean => (f.flags & IFF.LOOPBACK) !== 0;

/** Carrier as Linux reports it: only an interface that is up has one. */
function carrier(f: InterfaceInfo): boolean {
  return (f.flags & IFF.UP) !== 0 && (f.flags & IFF.LOWER_UP) !== 0;
}

/** FreeBSD's IFF_* (as the image keeps them) to Linux's; RUNNING and LOWER_UP follow the carrier, as dev_get_flags does. */
export function linuxFlags(f: InterfaceInfo): number {
  let l = 0;
  const pairs: Array<[number, number]> = [
    [IFF.UP, LIFF.UP],
    [IFF.BROADCAST, LIFF.BROADCAST],
    [IFF.DEBUG, LIFF.DEBUG],
    [IFF.LOOPBACK, LIFF.LOOPBACK],
    [IFF.POINTOPOINT, LIFF.POINTOPOINT],
    [IFF.NOARP, LIFF.NOARP],
    [IFF.PROMISC, LIFF.PROMISC],
    [IFF.ALLMULTI, LIFF.ALLMULTI],
    [IFF.MULTICAST, LIFF.MULTICAST],
  ];
  for (const [bsd, linux] of pairs) if ((f.flags & bsd) !== 0) l |= linux;
  if (carrier(f)) l |= LIFF.RUNNING | LIFF.LOWER_UP;
  return l >>> 0;
}

/** The hardware type and link-level address Linux would give this interface. */
export function hwInfo(f: InterfaceInfo): { type: number; addr: Uint8Array; brd: Uint8Array } {
  if (isLoop(f)) return { type: ARPHRD.LOOPBACK, addr: new Uint8Array(6), brd: new Uint8Array(6) };
  const mac = f.ether !== undefined ? parseMac(f.ether) : undefined;
  if (mac === undefined) return { type: ARPHRD.TUNNEL, addr: new Uint8Array(4), brd: new Uint8Array(4) };
  const addr = new Uint8Array(6);
  writeMac(addr, 0, mac);
  return { type: ARPHRD.ETHER, addr, brd: new Uint8Array(6).fill(0xff) };
}

function statsFields(c: InterfaceCounters, n: number): number[] {
  const v = new Array<number>(n).fill(0);
  v[LINK_STAT.rx_packets] = c.ipackets;
  v[LINK_STAT.tx_packets] = c.opackets;
  v[LINK_STAT.rx_bytes] = c.ibytes;
  v[LINK_STAT.tx_bytes] = c.obytes;
  v[LINK_STAT.rx_errors] = c.ierrors;
  v[LINK_STAT.tx_errors] = c.oerrors;
  v[LINK_STAT.rx_dropped] = c.iqdrops;
  v[LINK_STAT.tx_dropped] = c.oqdrops;
  v[LINK_STAT.multicast] = c.imcasts;
  v[LINK_STAT.collisions] = c.collisions;
  v[LINK_STAT.rx_nohandler] = c.noproto;
  return v;
}

/** RTM_NEWLINK for one interface (rtnl_fill_ifinfo's order, the attributes programs read). */
export function linkMsg(w: NlWriter, h: MsgHead, f: LinkRow): void {
  const m = w.begin(h);
  const hw = hwInfo(f);
  const up = carrier(f);
  w.u8(AF.UNSPEC);
  w.u8(0);
  w.u16(hw.type);
  w.i32(f.index);
  w.u32(linuxFlags(f));
  w.u32(0); // ifi_change: 0 in dumps and get replies
  w.attrStr(IFLA.IFNAME, f.name);
  w.attrU32(IFLA.TXQLEN, TXQLEN);
  // Linux's loopback has no operational state of its own: UNKNOWN while up.
  w.attrU8(IFLA.OPERSTATE, !up ? OPER.DOWN : isLoop(f) ? OPER.UNKNOWN : OPER.UP);
  w.attrU8(IFLA.LINKMODE, 0);
  w.attrU32(IFLA.MTU, f.mtu);
  w.attrU32(IFLA.MIN_MTU, isLoop(f) ? 0 : 68);
  w.attrU32(IFLA.MAX_MTU, isLoop(f) ? 0 : 65535);
  w.attrU32(IFLA.GROUP, 0);
  w.attrU32(IFLA.PROMISCUITY, 0);
  w.attrU32(IFLA.NUM_TX_QUEUES, 1);
  w.attrU32(IFLA.GSO_MAX_SEGS, 65535);
  w.attrU32(IFLA.GSO_MAX_SIZE, 65536);
  w.attrU32(IFLA.NUM_RX_QUEUES, 1);
  w.attrU8(IFLA.CARRIER, up ? 1 : 0);
  w.attrU32(IFLA.CARRIER_CHANGES, 0);
  w.attrU8(IFLA.PROTO_DOWN, 0);
  let a = w.attrStart(IFLA.ADDRESS);
  w.bytes(hw.addr);
  w.attrEnd(a);
  a = w.attrStart(IFLA.BROADCAST);
  w.bytes(hw.brd);
  w.attrEnd(a);
  a = w.attrStart(IFLA.STATS64);
  for (const v of statsFields(f.counters, IFLA.STATS64_FIELDS)) w.u64(v);
  w.attrEnd(a);
  a = w.attrStart(IFLA.STATS);
  // The kernel truncates the 64-bit counters into the old 32-bit structure.
  for (const v of statsFields(f.counters, IFLA.STATS_FIELDS)) w.u32(v % 0x100000000);
  w.attrEnd(a);
  if (!isLoop(f)) {
    a = w.attrStart(IFLA.LINKINFO | NL.NLA_F_NESTED);
    w.attrStr(IFLA.INFO_KIND, f.kind);
    w.attrEnd(a);
  }
  w.attrStr(IFLA.QDISC, 'noqueue');
  w.end(m);
}

/** RTM_NEWADDR for each IPv4 address of `f` (inet_fill_ifaddr). Same-subnet aliases are secondaries, as Linux makes them. */
export function addrMsgs(w: NlWriter, h: MsgHead, f: InterfaceInfo, emit: () => void): void {
  const seen: Array<[number, number]> = [];
  for (const ia of f.inet) {
    const addr = ip4(ia.address);
    const mask = ip4(ia.netmask);
    const secondary = seen.some(([net, len]) => len === ia.prefixLen && net === (addr & mask) >>> 0);
    if (!secondary) seen.push([(addr & mask) >>> 0, ia.prefixLen]);
    const flags = IFA.F_PERMANENT | (secondary ? IFA.F_SECONDARY : 0);
    const m = w.begin(h);
    w.u8(AF.INET);
    w.u8(ia.prefixLen);
    w.u8(flags);
    w.u8(addr >>> 24 === 127 ? RT.SCOPE_HOST : RT.SCOPE_UNIVERSE);
    w.u32(f.index);
    w.attrIp4(IFA.ADDRESS, addr);
    w.attrIp4(IFA.LOCAL, addr);
    if (ia.broadcast !== undefined) w.attrIp4(IFA.BROADCAST, ip4(ia.broadcast));
    w.attrStr(IFA.LABEL, f.name);
    w.attrU32(IFA.FLAGS, flags);
    const c = w.attrStart(IFA.CACHEINFO);
    w.u32(IFA.INFINITY);
    w.u32(IFA.INFINITY);
    w.u32(0);
    w.u32(0);
    w.attrEnd(c);
    w.end(m);
    emit();
  }
}

/** Dotted quad (as the control surface prints it) to a host-order number. */
export function ip4(s: string): number {
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** The first address of `f` whose subnet holds `a` (Linux's primary for that subnet), if any. */
export function primaryFor(f: InterfaceInfo | undefined, a: number): number | undefined {
  for (const ia of f?.inet ?? []) {
    const mask = ip4(ia.netmask);
    if (((ip4(ia.address) ^ a) & mask) >>> 0 === 0) return ip4(ia.address);
  }
  return undefined;
}

/** How one image route looks in Linux's FIB. */
export interface LinuxRoute {
  table: number;
  protocol: number;
  scope: number;
  type: number;
  dst: number;
  dstLen: number;
  gateway?: number;
  oif?: number;
  prefsrc?: number;
  mtu: number;
}

/**
 * Map an image route to Linux's view: a host route to one of the image's
 * own addresses is a `local` route of table local on the address's
 * interface; blackhole and reject routes have no device; a route without a
 * gateway is scope link; routes added by hand are `proto boot`, as `ip route
 * add` makes them, and connected ones `proto kernel`.
 */
export function linuxRoute(ctl: ImageControl, r: RouteInfo, byName: Map<string, InterfaceInfo>): LinuxRoute {
  const proto = (r.flags & RTF.STATIC) !== 0 ? RT.PROT_BOOT : (r.flags & RTF.DYNAMIC) !== 0 ? RT.PROT_REDIRECT : RT.PROT_KERNEL;
  const base = { dst: r.dst >>> 0, dstLen: r.prefixLen, mtu: r.routeMtu };
  if ((r.flags & RTF.BLACKHOLE) !== 0 || (r.flags & RTF.REJECT) !== 0) {
    const type = (r.flags & RTF.BLACKHOLE) !== 0 ? RT.RTN_BLACKHOLE : RT.RTN_UNREACHABLE;
    return { ...base, table: RT.TABLE_MAIN, protocol: proto, scope: RT.SCOPE_UNIVERSE, type };
  }
  const owner = r.prefixLen === 32 && (r.flags & RTF.GATEWAY) === 0 ? ctl.interfaces.ownerOf(r.dst) : undefined;
  if (owner !== undefined) {
    const f = byName.get(owner);
    const local: LinuxRoute = { ...base, table: RT.TABLE_LOCAL, protocol: RT.PROT_KERNEL, scope: RT.SCOPE_HOST, type: RT.RTN_LOCAL, prefsrc: primaryFor(f, r.dst) ?? r.dst };
    if (f !== undefined) local.oif = f.index;
    return local;
  }
  if ((r.flags & RTF.GATEWAY) !== 0) {
    return { ...base, table: RT.TABLE_MAIN, protocol: proto, scope: RT.SCOPE_UNIVERSE, type: RT.RTN_UNICAST, gateway: r.gateway >>> 0, oif: r.interfaceIndex };
  }
  const link: LinuxRoute = { ...base, table: RT.TABLE_MAIN, protocol: proto, scope: RT.SCOPE_LINK, type: RT.RTN_UNICAST, oif: r.interfaceIndex };
  const src = primaryFor(byName.get(r.interface), r.dst);
  if (src !== undefined) link.prefsrc = src;
  return link;
}

/** RTM_NEWROUTE for one route (fib_dump_info's order: table, dst, prefsrc, metrics, gateway, oif). */
export function routeMsg(w: NlWriter, h: MsgHead, r: LinuxRoute): void {
  const m = w.begin(h);
  w.u8(AF.INET);
  w.u8(r.dstLen);
  w.u8(0);
  w.u8(0);
  w.u8(r.table);
  w.u8(r.protocol);
  w.u8(r.scope);
  w.u8(r.type);
  w.u32(0);
  w.attrU32(RT.TABLE, r.table);
  if (r.dstLen > 0) w.attrIp4(RT.DST, r.dst);
  if (r.prefsrc !== undefined) w.attrIp4(RT.PREFSRC, r.prefsrc);
  if (r.mtu > 0) {
    const a = w.attrStart(RT.METRICS | NL.NLA_F_NESTED);
    w.attrU32(RT.RTAX_MTU, r.mtu);
    w.attrEnd(a);
  }
  if (r.gateway !== undefined) w.attrIp4(RT.GATEWAY, r.gateway);
  if (r.oif !== undefined) w.attrU32(RT.OIF, r.oif);
  w.end(m);
}

/** The NUD state of an ARP entry: permanent (arp -s), incomplete (resolving), reachable until it expires, then stale. */
export function nudState(n: NeighbourInfo): number {
  if (n.static) return NDA.NUD_PERMANENT;
  if (n.mac === null) return NDA.NUD_INCOMPLETE;
  if (n.expires !== null && n.expires <= 0) return NDA.NUD_STALE;
  return NDA.NUD_REACHABLE;
}

/** RTM_NEWNEIGH for one ARP entry (neigh_fill_info: dst, lladdr, probes, cacheinfo). */
export function neighMsg(w: NlWriter, h: MsgHead, n: NeighbourInfo, ifindex: number): void {
  const m = w.begin(h);
  const state = nudState(n);
  w.u8(AF.INET);
  w.u8(0);
  w.u16(0);
  w.i32(ifindex);
  w.u16(state);
  w.u8(0);
  w.u8(RT.RTN_UNICAST);
  w.attrIp4(NDA.DST, n.ip);
  if (n.mac !== null) {
    const a = w.attrStart(NDA.LLADDR);
    w.mac(n.mac);
    w.attrEnd(a);
  }
  w.attrU32(NDA.PROBES, 0);
  const c = w.attrStart(NDA.CACHEINFO);
  w.zeros(12); // confirmed, used, updated (clock ticks ago)
  w.u32(0); // refcnt
  w.attrEnd(c);
  w.end(m);
}

/** RTM_NEWRULE for one of Linux's default policy rules (fib_nl_fill_rule: table, suppress_prefixlen, protocol, priority). */
export function ruleMsg(w: NlWriter, h: MsgHead, priority: number, table: number): void {
  const m = w.begin(h);
  w.u8(AF.INET);
  w.zeros(3); // dst_len, src_len, tos
  w.u8(table);
  w.zeros(2);
  w.u8(FRA.FR_ACT_TO_TBL);
  w.u32(0);
  w.attrU32(FRA.TABLE, table);
  w.attrU32(FRA.SUPPRESS_PREFIXLEN, 0xffffffff);
  w.attrU8(FRA.PROTOCOL, RT.PROT_KERNEL);
  if (priority !== 0) w.attrU32(FRA.PRIORITY, priority);
  w.end(m);
}
