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

/** The endpoint addressing every protocol shares (FreeBSD's struct inpcb). */
export class InPcb {
  laddr = 0;
  lport = 0;
  faddr = 0;
  fport = 0;
  /** SO_REUSEADDR. */
  reuseAddr = false;
  /** SO_REUSEPORT. */
  reusePort = false;
  /** A TCP listener: binds exclusively even against SO_REUSEADDR. */
  listening = false;
  /** In the table (bound). */
  inTable = false;
}

/** Foreign address and port packed into one exact number (48 bits). */
function fkey(faddr: number, fport: number): number {
  return faddr * 0x10000 + fport;
}

export class PcbTable<P extends InPcb> {
  /** Every endpoint bound to a local port, by that port. */
  private readonly byPort = new Map<number, P[]>();
  /** Connected endpoints: local port, then foreign address/port. */
  private readonly conn = new Map<number, Map<number, P>>();
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
    if (lport === 0) lport = this.ephemeral(im, laddr);
    else if (this.inUse(pcb, laddr, lport)) throw new SocketError('EADDRINUSE', 'bind');
    pcb.laddr = laddr;
    pcb.lport = lport;
    this.insert(pcb);
  }

  private inUse(pcb: P, laddr: number, lport: number): boolean {
    const list = this.byPort.get(lport);
    if (list === undefined) return false;
    for (const o of list) {
      if (o.laddr !== 0 && laddr !== 0 && o.laddr !== laddr) continue;
      if (pcb.reusePort && o.reusePort) continue;
      if (pcb.reuseAddr) {
        // A specific address beside a wildcard one (FreeBSD's in_pcbbind_setup).
        if (o.laddr !== laddr) continue;
        // A restarted TCP server binds over its lingering connections and TIME_WAIT.
        if (this.proto === 'tcp' && !o.listening) continue;
      }
      return true;
    }
    return false;
  }

  /** A free port from the ephemeral range, starting at a random point (portrange.randomized). */
  private ephemeral(im: Vnet, laddr: number): number {
    let first = im.sysctl.v[portRangeFirst.slot]!;
    let last = im.sysctl.v[portRangeLast.slot]!;
    if (first > last) [first, last] = [last, first];
    const n = last - first + 1;
    const start = Math.floor(im.random() * n);
    for (let i = 0; i < n; i++) {
      const port = first + ((start + i) % n);
      const list = this.byPort.get(port);
      if (list === undefined || list.every((o) => o.laddr !== 0 && laddr !== 0 && o.laddr !== laddr)) return port;
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

  private hashConnected(pcb: P): void {
    let m = this.conn.get(pcb.lport);
    if (m === undefined) this.conn.set(pcb.lport, (m = new Map()));
    m.set(fkey(pcb.faddr, pcb.fport), pcb);
  }

  /**
   * Connect a bound endpoint (or bind it ephemerally first): set the foreign
   * address and the local address chosen for it. EADDRINUSE when the
   * 4-tuple exists already.
   */
  connect(im: Vnet, pcb: P, laddr: number, faddr: number, fport: number): void {
    if (!pcb.inTable) this.bind(im, pcb, 0, 0);
    if (pcb.fport !== 0) this.disconnect(pcb);
    const la = pcb.laddr !== 0 ? pcb.laddr : laddr;
    const other = this.conn.get(pcb.lport)?.get(fkey(faddr, fport));
    if (other !== undefined && other !== pcb && other.laddr === la) throw new SocketError('EADDRINUSE', 'connect');
    pcb.laddr = la;
    pcb.faddr = faddr;
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
    const m = this.conn.get(pcb.lport);
    const k = fkey(pcb.faddr, pcb.fport);
    if (m !== undefined && m.get(k) === pcb) {
      m.delete(k);
      if (m.size === 0) this.conn.delete(pcb.lport);
    }
    pcb.faddr = 0;
    pcb.fport = 0;
  }

  remove(pcb: P): void {
    if (!pcb.inTable) return;
    const m = this.conn.get(pcb.lport);
    if (m !== undefined && pcb.fport !== 0) {
      const k = fkey(pcb.faddr, pcb.fport);
      if (m.get(k) === pcb) m.delete(k);
      if (m.size === 0) this.conn.delete(pcb.lport);
    }
    const list = this.byPort.get(pcb.lport);
    if (list !== undefined) {
      const i = list.indexOf(pcb);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPort.delete(pcb.lport);
    }
    pcb.inTable = false;
    this.count--;
  }

  /** The connected endpoint for this exact 4-tuple, if any. */
  lookupConnected(laddr: number, lport: number, faddr: number, fport: number): P | undefined {
    const p = this.conn.get(lport)?.get(fkey(faddr, fport));
    if (p !== undefined && (p.laddr === laddr || p.laddr === 0)) return p;
    if (p === undefined) return undefined;
    // Same ports and peer, another local address: rare; scan.
    const list = this.byPort.get(lport);
    if (list !== undefined) for (const o of list) if (o.fport === fport && o.faddr === faddr && o.laddr === laddr) return o;
    return undefined;
  }

  /** The unconnected endpoint bound to lport that takes packets for `laddr` (a specific address beats the wildcard). */
  lookupWild(laddr: number, lport: number): P | undefined {
    const list = this.byPort.get(lport);
    if (list === undefined) return undefined;
    let wild: P | undefined;
    for (const o of list) {
      if (o.fport !== 0) continue;
      if (o.laddr === laddr) return o;
      if (o.laddr === 0 && wild === undefined) wild = o;
    }
    return wild;
  }

  /** Input demultiplexing: exact match first, then a bound listener or datagram endpoint. */
  lookup(laddr: number, lport: number, faddr: number, fport: number): P | undefined {
    return this.lookupConnected(laddr, lport, faddr, fport) ?? this.lookupWild(laddr, lport);
  }

  /** Every endpoint bound to lport, for broadcast delivery. */
  boundTo(lport: number): readonly P[] {
    return this.byPort.get(lport) ?? [];
  }

  clear(): void {
    for (const list of this.byPort.values()) for (const p of list) p.inTable = false;
    this.byPort.clear();
    this.conn.clear();
    this.count = 0;
  }
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
