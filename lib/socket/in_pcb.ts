/**
 * Internet protocol control blocks (FreeBSD's in_pcb.c): the per-image,
 * per-protocol table of bound and connected endpoints (`udbinfo`,
 * `tcbinfo`), local port assignment from net.inet.ip.portrange.first/last,
 * and the demultiplexing lookup of the input path.
 *
 * Connected endpoints are found with two map lookups (local port, then
 * foreign address and port packed in one number), wildcard ones by a scan
 * of the few endpoints bound to the port. Lookups allocate nothing.
 */

import type { Vnet } from '../net/vnet.js';
import { IFF, type Ifnet } from '../net/if.js';
import { selectSource } from '../netinet/ip_output.js';
import { RTF } from '../netinet/route.js';
import { sysctlInt } from '../sysctl.js';
import { in6Local } from '../netinet6/in6.js';
import { IN6_IFF_NOTREADY } from '../netinet6/ip6_var.js';
import { u32 as readU32 } from '../wire/bytes.js';
import { IN6ADDR_ANY, in6Copy, in6Equal, in6Hash, in6IsLinkLocal, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped } from '../wire/ipv6.js';
import { SocketError } from './errno.js';

export const portRangeFirst = sysctlInt({
  name: 'net.inet.ip.portrange.first',
  def: 10000,
  min: 1,
  max: 65535,
  descr: 'First port of the ephemeral range',
});
export const portRangeLast = sysctlInt({
  name: 'net.inet.ip.portrange.last',
  def: 65535,
  min: 1,
  max: 65535,
  descr: 'Last port of the ephemeral range',
});

/** FreeBSD's inp_vflag: which families' packets an endpoint takes. */
export const INP_IPV4 = 0x1;
export const INP_IPV6 = 0x2;

/**
 * The endpoint addressing every protocol shares (FreeBSD's struct inpcb).
 * IPv4 addresses are uint32 in laddr/faddr; an AF_INET6 endpoint (`af6`)
 * keeps its IPv6 addresses in laddr6/faddr6 (made when it becomes one) and
 * the zone of a link-local address. An AF_INET6 endpoint bound to or
 * connected with a v4-mapped address (::ffff:a.b.c.d) is an IPv4 one on the
 * wire: vflag INP_IPV4, its addresses in laddr/faddr, as FreeBSD's
 * in6_pcbconnect for mapped addresses.
 */
export class InPcb {
  laddr = 0;
  lport = 0;
  faddr = 0;
  fport = 0;
  /** INP_IPV4 and/or INP_IPV6: the families whose packets this endpoint takes. */
  vflag = INP_IPV4;
  /** An AF_INET6 socket (addresses reported as IPv6, v4-mapped when vflag is INP_IPV4 alone). */
  af6 = false;
  /** IPV6_V6ONLY: an AF_INET6 socket bound to :: takes no IPv4 (v4-mapped) traffic. */
  v6only = false;
  laddr6: Uint8Array | null = null;
  faddr6: Uint8Array | null = null;
  /** The interface of a link-local laddr6/faddr6 (its zone), else null. */
  zone: Ifnet | null = null;
  /** SO_REUSEADDR. */
  reuseAddr = false;
  /** SO_REUSEPORT. */
  reusePort = false;
  /** A TCP listener: binds exclusively even against SO_REUSEADDR. */
  listening = false;
  /** In the table (bound). */
  inTable = false;
  /** The local address was chosen by connect on a wildcard-bound endpoint: disconnect makes it the wildcard again. */
  laddrByConnect = false;

  /** Become an AF_INET6 endpoint (socket creation). */
  setAf6(v6only: boolean): void {
    this.af6 = true;
    this.v6only = v6only;
    this.vflag = INP_IPV6;
    if (this.laddr6 === null) {
      this.laddr6 = new Uint8Array(16);
      this.faddr6 = new Uint8Array(16);
    }
  }

  /** Connected over IPv6 (not v4-mapped). */
  get isV6(): boolean {
    return (this.vflag & INP_IPV4) === 0;
  }
}

/**
 * The connected-map key of an IPv4 peer: a small integer, as fkey6 (an exact
 * 48-bit key is a double that V8 boxes per lookup until the caller is
 * optimized); collisions are resolved by comparing.
 */
export function fkey(faddr: number, fport: number): number {
  return (Math.imul(faddr, 0x9e3779b1) ^ Math.imul(fport, 0x85ebca6b)) & 0x3fffffff;
}

/** The connected-map key of an IPv6 peer: a small integer (never boxed); collisions are resolved by comparing. */
export function fkey6(b: Uint8Array, o: number, fport: number): number {
  return (in6Hash(b, o) ^ Math.imul(fport, 0x9e3779b1)) & 0x3fffffff;
}

/** Do two endpoints' local addresses overlap (same port assumed), family by family? */
function overlaps(a: InPcb, o: InPcb): boolean {
  if ((a.vflag & o.vflag & INP_IPV4) !== 0 && (a.laddr === 0 || o.laddr === 0 || a.laddr === o.laddr)) return true;
  if ((a.vflag & o.vflag & INP_IPV6) !== 0) {
    const x = a.laddr6!;
    const y = o.laddr6!;
    if (in6IsUnspecified(x, 0) || in6IsUnspecified(y, 0)) return true;
    if (in6Equal(x, 0, y, 0) && (a.zone === null || o.zone === null || a.zone === o.zone)) return true;
  }
  return false;
}

/** Same local address in every family both take (SO_REUSEADDR's "specific beside wildcard" test). */
function sameLocal(a: InPcb, o: InPcb): boolean {
  if (a.vflag !== o.vflag) return false;
  if ((a.vflag & INP_IPV4) !== 0 && a.laddr !== o.laddr) return false;
  if ((a.vflag & INP_IPV6) !== 0 && !in6Equal(a.laddr6!, 0, o.laddr6!, 0)) return false;
  return true;
}

export class PcbTable<P extends InPcb> {
  /** Every endpoint bound to a local port, by that port (both families). */
  private readonly byPort = new Map<number, P[]>();
  /** Connected IPv4 endpoints: local port, then foreign address/port. */
  private readonly conn = new Map<number, Map<number, P>>();
  /** Connected IPv6 endpoints: local port, then fkey6 of the foreign address/port. */
  private readonly conn6 = new Map<number, Map<number, P>>();
  /** Number of endpoints in the table. */
  count = 0;

  constructor(readonly proto: 'udp' | 'tcp') {}

  *all(): IterableIterator<P> {
    for (const list of this.byPort.values()) yield* list;
  }

  /**
   * Bind `pcb` to laddr:lport (lport 0: an ephemeral port). Throws
   * EADDRINUSE when the address is taken (SO_REUSEADDR lets a socket share a
   * port with endpoints that are not listening, as for a restarted server
   * whose old connections linger), EADDRNOTAVAIL for a foreign address.
   */
  bind(im: Vnet, pcb: P, laddr: number, lport: number): void {
    if (pcb.inTable) throw new SocketError('EINVAL', 'bind');
    if (laddr !== 0 && laddr >>> 24 !== 127 && im.localIfnet(laddr) === undefined && !im.isBroadcast(laddr)) {
      throw new SocketError('EADDRNOTAVAIL', 'bind');
    }
    pcb.laddr = laddr;
    this.bindPort(im, pcb, lport);
  }

  /**
   * Bind an AF_INET6 endpoint to a6%zone:lport (in6_pcbbind). :: takes IPv4
   * too unless IPV6_V6ONLY; a v4-mapped address binds the IPv4 side only.
   */
  bind6(im: Vnet, pcb: P, a6: Uint8Array, zone: Ifnet | null, lport: number): void {
    if (pcb.inTable) throw new SocketError('EINVAL', 'bind');
    if (in6IsV4Mapped(a6, 0)) {
      if (pcb.v6only) throw new SocketError('EADDRNOTAVAIL', 'bind');
      in6Copy(pcb.laddr6!, 0, a6, 0);
      pcb.vflag = INP_IPV4;
      this.bind(im, pcb, readU32(a6, 12), lport);
      return;
    }
    if (in6IsUnspecified(a6, 0)) {
      pcb.vflag = pcb.v6only ? INP_IPV6 : INP_IPV6 | INP_IPV4;
      pcb.zone = null;
    } else {
      if (!in6IsMulticast(a6, 0)) {
        const ia = in6Local(im, a6, 0, zone);
        if (ia === undefined || (ia.flags & IN6_IFF_NOTREADY) !== 0 || (in6IsLinkLocal(a6, 0) && zone === null && !ia.ifp.loopback)) {
          throw new SocketError('EADDRNOTAVAIL', 'bind');
        }
        zone = in6IsLinkLocal(a6, 0) ? ia.ifp : null;
      }
      pcb.vflag = INP_IPV6;
      pcb.zone = zone;
    }
    in6Copy(pcb.laddr6!, 0, a6, 0);
    pcb.laddr = 0;
    this.bindPort(im, pcb, lport);
  }

  private bindPort(im: Vnet, pcb: P, lport: number): void {
    if (lport === 0) lport = this.ephemeral(im, pcb);
    else if (this.inUse(pcb, lport)) throw new SocketError('EADDRINUSE', 'bind');
    pcb.lport = lport;
    this.insert(pcb);
  }

  private inUse(pcb: P, lport: number): boolean {
    const list = this.byPort.get(lport);
    if (list === undefined) return false;
    for (const o of list) {
      if (!overlaps(pcb, o)) continue;
      if (pcb.reusePort && o.reusePort) continue;
      if (pcb.reuseAddr) {
        // A specific address beside a wildcard one (FreeBSD's in_pcbbind_setup).
        if (!sameLocal(pcb, o)) continue;
        // A restarted TCP server binds over its lingering connections and TIME_WAIT.
        if (this.proto === 'tcp' && !o.listening) continue;
      }
      return true;
    }
    return false;
  }

  /** A free port from the ephemeral range, starting at a random point (portrange.randomized). */
  private ephemeral(im: Vnet, pcb: P): number {
    let first = im.sysctl.v[portRangeFirst.slot]!;
    let last = im.sysctl.v[portRangeLast.slot]!;
    if (first > last) [first, last] = [last, first];
    const n = last - first + 1;
    const start = Math.floor(im.random() * n);
    for (let i = 0; i < n; i++) {
      const port = first + ((start + i) % n);
      const list = this.byPort.get(port);
      if (list === undefined || list.every((o) => !overlaps(pcb, o))) return port;
    }
    throw new SocketError('EADDRNOTAVAIL', 'bind');
  }

  private insert(pcb: P): void {
    let list = this.byPort.get(pcb.lport);
    if (list === undefined) this.byPort.set(pcb.lport, (list = []));
    list.push(pcb);
    pcb.inTable = true;
    this.count++;
    if (pcb.fport !== 0) this.hashConnected(pcb);
  }

  private keyOf(pcb: P): number {
    return pcb.isV6 ? fkey6(pcb.faddr6!, 0, pcb.fport) : fkey(pcb.faddr, pcb.fport);
  }

  private hashConnected(pcb: P): void {
    const maps = pcb.isV6 ? this.conn6 : this.conn;
    let m = maps.get(pcb.lport);
    if (m === undefined) maps.set(pcb.lport, (m = new Map()));
    const k = this.keyOf(pcb);
    // A key taken by another endpoint (same peer, another local address; or a hash collision): that one stays, lookups scan.
    if (!m.has(k)) m.set(k, pcb);
  }

  /** Take pcb out of the connected map; another endpoint with its key takes the slot. */
  private unhashConnected(pcb: P): void {
    const maps = pcb.isV6 ? this.conn6 : this.conn;
    const m = maps.get(pcb.lport);
    if (m === undefined) return;
    const k = this.keyOf(pcb);
    if (m.get(k) !== pcb) return;
    m.delete(k);
    const list = this.byPort.get(pcb.lport);
    if (list !== undefined) {
      for (const o of list) {
        if (o !== pcb && o.fport !== 0 && o.isV6 === pcb.isV6 && this.keyOf(o) === k) {
          m.set(k, o);
          return;
        }
      }
    }
    if (m.size === 0) maps.delete(pcb.lport);
  }

  /**
   * Connect a bound endpoint (or bind it ephemerally first): set the foreign
   * address and the local address chosen for it. EADDRINUSE when the
   * 4-tuple exists already.
   */
  connect(im: Vnet, pcb: P, laddr: number, faddr: number, fport: number): void {
    if (pcb.af6) pcb.vflag = INP_IPV4; // a v4-mapped peer: IPv4 on the wire
    if (!pcb.inTable) this.bind(im, pcb, 0, 0);
    if (pcb.fport !== 0) this.disconnect(pcb);
    const la = pcb.laddr !== 0 ? pcb.laddr : laddr;
    const other = this.lookupConnected(la, pcb.lport, faddr, fport);
    if (other !== undefined && other !== pcb && other.laddr === la) throw new SocketError('EADDRINUSE', 'connect');
    if (pcb.laddr === 0) pcb.laddrByConnect = true;
    pcb.laddr = la;
    pcb.faddr = faddr;
    pcb.fport = fport;
    this.hashConnected(pcb);
  }

  /** Connect an AF_INET6 endpoint over IPv6 to f6%zone:fport from l6 (the chosen source when it is bound to ::). */
  connect6(im: Vnet, pcb: P, l6: Uint8Array, f6: Uint8Array, zone: Ifnet | null, fport: number): void {
    if (!pcb.inTable) this.bind6(im, pcb, IN6ADDR_ANY, null, 0);
    if (pcb.fport !== 0) this.disconnect(pcb);
    const la = in6IsUnspecified(pcb.laddr6!, 0) ? l6 : pcb.laddr6!;
    const other = this.lookupConnected6(la, 0, pcb.lport, f6, 0, fport, zone);
    if (other !== undefined && other !== pcb) throw new SocketError('EADDRINUSE', 'connect');
    if (in6IsUnspecified(pcb.laddr6!, 0)) pcb.laddrByConnect = true;
    in6Copy(pcb.laddr6!, 0, la, 0);
    in6Copy(pcb.faddr6!, 0, f6, 0);
    pcb.vflag = INP_IPV6;
    if (zone !== null) pcb.zone = zone;
    pcb.fport = fport;
    this.hashConnected(pcb);
  }

  /** A new connected endpoint that shares a listener's port (an accepted connection). */
  insertConnected(pcb: P): void {
    this.insert(pcb);
  }

  /** Forget the foreign address (UDP connect to AF_UNSPEC); the local port stays. */
  disconnect(pcb: P): void {
    if (pcb.fport === 0) return;
    this.unhashConnected(pcb);
    pcb.faddr = 0;
    pcb.fport = 0;
    if (pcb.faddr6 !== null) pcb.faddr6.fill(0);
    if (pcb.laddrByConnect) {
      // A socket bound to the wildcard hears every local address again (FreeBSD's udp_disconnect and udp6_disconnect).
      pcb.laddrByConnect = false;
      pcb.laddr = 0;
      if (pcb.laddr6 !== null) pcb.laddr6.fill(0);
      pcb.zone = null;
    }
  }

  remove(pcb: P): void {
    if (!pcb.inTable) return;
    if (pcb.fport !== 0) this.unhashConnected(pcb);
    const list = this.byPort.get(pcb.lport);
    if (list !== undefined) {
      const i = list.indexOf(pcb);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPort.delete(pcb.lport);
    }
    pcb.inTable = false;
    this.count--;
  }

  /** The connected IPv4 endpoint for this exact 4-tuple, if any. */
  lookupConnected(laddr: number, lport: number, faddr: number, fport: number): P | undefined {
    const p = this.conn.get(lport)?.get(fkey(faddr, fport));
    if (p === undefined) return undefined;
    if (p.faddr === faddr && p.fport === fport && (p.laddr === laddr || p.laddr === 0)) return p;
    // Same ports and peer from another local address, or a key collision: rare; scan.
    const list = this.byPort.get(lport);
    if (list !== undefined) for (const o of list) if (o.fport === fport && o.faddr === faddr && o.laddr === laddr && !o.isV6) return o;
    return undefined;
  }

  /** The unconnected endpoint bound to lport that takes IPv4 packets for `laddr` (a specific address beats the wildcard). */
  lookupWild(laddr: number, lport: number): P | undefined {
    const list = this.byPort.get(lport);
    if (list === undefined) return undefined;
    let wild: P | undefined;
    for (const o of list) {
      if (o.fport !== 0 || (o.vflag & INP_IPV4) === 0) continue;
      if (o.laddr === laddr) return o;
      // An AF_INET socket's wildcard before a dual-stack AF_INET6 one (FreeBSD's in_pcblookup_hash_wild).
      if (o.laddr === 0 && (wild === undefined || (wild.af6 && !o.af6))) wild = o;
    }
    return wild;
  }

  /** Input demultiplexing: exact match first, then a bound listener or datagram endpoint. */
  lookup(laddr: number, lport: number, faddr: number, fport: number): P | undefined {
    return this.lookupConnected(laddr, lport, faddr, fport) ?? this.lookupWild(laddr, lport);
  }

  /** The connected IPv6 endpoint for l[lo]:lport <- f[fo]:fport arriving on `ifp` (null: any zone). */
  lookupConnected6(l: Uint8Array, lo: number, lport: number, f: Uint8Array, fo: number, fport: number, ifp: Ifnet | null): P | undefined {
    const m = this.conn6.get(lport);
    if (m === undefined) return undefined;
    const p = m.get(fkey6(f, fo, fport));
    if (p === undefined) return undefined;
    if (match6(p, l, lo, f, fo, fport, ifp)) return p;
    const list = this.byPort.get(lport)!;
    for (const o of list) if (o.fport === fport && o.isV6 && match6(o, l, lo, f, fo, fport, ifp)) return o;
    return undefined;
  }

  /** The unconnected endpoint bound to lport that takes IPv6 packets for l[lo] arriving on `ifp`. */
  lookupWild6(l: Uint8Array, lo: number, lport: number, ifp: Ifnet | null): P | undefined {
    const list = this.byPort.get(lport);
    if (list === undefined) return undefined;
    let wild: P | undefined;
    for (const o of list) {
      if (o.fport !== 0 || (o.vflag & INP_IPV6) === 0) continue;
      const a = o.laddr6!;
      if (in6IsUnspecified(a, 0)) {
        if (wild === undefined) wild = o;
      } else if (in6Equal(a, 0, l, lo) && (o.zone === null || ifp === null || o.zone === ifp || ifp.loopback)) return o;
    }
    return wild;
  }

  lookup6(l: Uint8Array, lo: number, lport: number, f: Uint8Array, fo: number, fport: number, ifp: Ifnet | null): P | undefined {
    return this.lookupConnected6(l, lo, lport, f, fo, fport, ifp) ?? this.lookupWild6(l, lo, lport, ifp);
  }

  /** Every endpoint bound to lport, for broadcast delivery. */
  boundTo(lport: number): readonly P[] {
    return this.byPort.get(lport) ?? [];
  }

  clear(): void {
    for (const list of this.byPort.values()) for (const p of list) p.inTable = false;
    this.byPort.clear();
    this.conn.clear();
    this.conn6.clear();
    this.count = 0;
  }
}

function match6(p: InPcb, l: Uint8Array, lo: number, f: Uint8Array, fo: number, fport: number, ifp: Ifnet | null): boolean {
  if (p.fport !== fport || !in6Equal(p.faddr6!, 0, f, fo)) return false;
  if (!in6IsUnspecified(p.laddr6!, 0) && !in6Equal(p.laddr6!, 0, l, lo)) return false;
  return p.zone === null || ifp === null || p.zone === ifp || ifp.loopback;
}

/**
 * The local address for traffic to `faddr` from an unbound-address endpoint
 * (FreeBSD's in_pcbladdr): the loopback for 127/8, the address itself when
 * it is ours, else the source of the route's interface. An errno when no
 * route leads there.
 */
export function localAddressFor(im: Vnet, faddr: number): number | 'EHOSTUNREACH' | 'ENETUNREACH' {
  if (faddr >>> 24 === 127) return 0x7f000001;
  if (im.localIfnet(faddr) !== undefined) return faddr;
  if (faddr === 0xffffffff) {
    const ifp = broadcastIfnet(im, 0);
    return ifp?.addrs[0]?.addr ?? 'ENETUNREACH';
  }
  const rt = im.routes.lookup(faddr);
  if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) return 'EHOSTUNREACH';
  return selectSource(im, rt, faddr);
}

/** The interface a limited broadcast (255.255.255.255) leaves from: the one holding `laddr`, else the first up broadcast interface. */
export function broadcastIfnet(im: Vnet, laddr: number): Ifnet | undefined {
  if (laddr !== 0) {
    const ifp = im.localIfnet(laddr);
    if (ifp !== undefined && !ifp.loopback) return ifp;
  }
  for (const ifp of im.ifnets.values()) if (!ifp.loopback && ifp.up && (ifp.flags & IFF.BROADCAST) !== 0 && ifp.addrs.length > 0) return ifp;
  return undefined;
}
