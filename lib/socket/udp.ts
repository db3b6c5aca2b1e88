/**
 * Datagram sockets over the image's UDP (SOCK_DGRAM). Node-style: methods
 * throw a `SocketError` with the errno FreeBSD would return; datagrams are
 * read with `recv()` or `for await (const d of sock)`.
 *
 * The receive buffer holds at most net.inet.udp.recvspace bytes (SO_RCVBUF);
 * datagrams beyond it are dropped and counted (udpstat.fullsock). An ICMP
 * error about a datagram sent on a connected socket is kept as the socket's
 * pending error (so_error) and reported by the next send or receive, as
 * FreeBSD does (ECONNREFUSED after a port unreachable).
 */

import type { Vnet } from '../net/vnet.js';
import { UdpPcb, udpOutput, udpRecvspace, type UdpSockHooks } from '../netinet/udp_usrreq.js';
import type { Ifnet } from '../net/if.js';
import { in6MapV4, in6SourceFor, ip6V6only } from '../netinet6/in6_pcb.js';
import { udp6Output } from '../netinet6/udp6_usrreq.js';
import { u32 } from '../wire/bytes.js';
import { parseIp4 } from '../wire/ipv4.js';
import { IN6ADDR_ANY, in6IsLinkLocal, in6IsUnspecified, in6IsV4Mapped } from '../wire/ipv6.js';
import { SocketError, socketRoom, type Errno } from './errno.js';
import { INP_IPV4, INP_IPV6, localAddressFor } from './in_pcb.js';
import { AsyncQueue } from './queue.js';
import { sockAddr6, type Addr6Arg, type SockAddr6 } from './sockaddr6.js';

export interface Datagram {
  data: Uint8Array;
  /** Sender address and port (the address 0 for an IPv6 sender). */
  addr: number;
  port: number;
  /** The local address it was sent to (0 over IPv6). */
  dst: number;
  /** AF_INET6 sockets: the sender's IPv6 address (v4-mapped for an IPv4 sender) and the zone of a link-local one. */
  addr6?: Uint8Array;
  zone?: Ifnet | null;
}

/** Socket creation options: the family (AF_INET 4, AF_INET6 6) and IPV6_V6ONLY (default net.inet6.ip6.v6only). */
export interface SocketOptions {
  family?: 4 | 6;
  v6only?: boolean;
}

/** Where a send goes: IPv4 (fa) or IPv6 (f6%zone). */
interface Dest {
  v6: boolean;
  fa: number;
  f6: Uint8Array;
  zone: Ifnet | null;
}

export class UdpSocket implements UdpSockHooks, AsyncIterable<Datagram> {
  readonly im: Vnet;
  readonly pcb: UdpPcb;
  private readonly q = new AsyncQueue<Datagram>();
  private queued = 0;
  private soError: Errno | null = null;
  private open = true;
  /** SO_BROADCAST. */
  broadcast = false;
  /** SO_RCVBUF in bytes. */
  rcvBuf: number;

  constructor(im: Vnet, o: SocketOptions = {}) {
    socketRoom(im);
    this.im = im;
    this.pcb = new UdpPcb(this);
    if (o.family === 6) this.pcb.setAf6(o.v6only ?? im.sysctl.v[ip6V6only.slot] === 1);
    this.rcvBuf = im.sysctl.v[udpRecvspace.slot]!;
    im.sockets.add(this);
  }

  /** 4 (AF_INET) or 6 (AF_INET6). */
  get family(): 4 | 6 {
    return this.pcb.af6 ? 6 : 4;
  }

  /** IPV6_V6ONLY (AF_INET6, before bind: EINVAL after). */
  set v6only(on: boolean) {
    if (!this.pcb.af6 || this.pcb.inTable) throw new SocketError('EINVAL', 'setsockopt');
    this.pcb.v6only = on;
  }
  get v6only(): boolean {
    return this.pcb.v6only;
  }

  /** Bytes waiting to be read (netstat's Recv-Q). */
  get recvQueued(): number {
    return this.queued;
  }

  set reuseAddr(on: boolean) {
    this.pcb.reuseAddr = on;
  }

  set reusePort(on: boolean) {
    this.pcb.reusePort = on;
  }

  /** Bind to addr:port (AF_INET6: `::`, `fe80::1%tap0`, ...; port 0: ephemeral). */
  bind(port = 0, addr: number | Addr6Arg = 0): void {
    this.check('bind');
    if (this.pcb.af6) {
      const sa = addr === 0 ? { addr6: IN6ADDR_ANY, zone: null } : sockAddr6(this.im, addr as Addr6Arg, 'bind');
      this.im.udb.bind6(this.im, this.pcb, sa.addr6, sa.zone, port);
      return;
    }
    const a = typeof addr === 'number' ? addr : typeof addr === 'string' ? parseIp4(addr) : undefined;
    if (a === undefined) throw new SocketError(typeof addr === 'string' ? 'EINVAL' : 'EAFNOSUPPORT', 'bind');
    this.im.udb.bind(this.im, this.pcb, a, port);
  }

  /** The destination `addr` names for this socket's family (a v4-mapped one is IPv4 on the wire). */
  private dest(addr: number | Addr6Arg, call: string): Dest {
    const pcb = this.pcb;
    if (!pcb.af6) {
      const a = typeof addr === 'number' ? addr : typeof addr === 'string' ? parseIp4(addr) : undefined;
      if (a === undefined) throw new SocketError(typeof addr === 'string' ? 'EINVAL' : 'EAFNOSUPPORT', call);
      return { v6: false, fa: a, f6: IN6ADDR_ANY, zone: null };
    }
    const sa: SockAddr6 = typeof addr === 'number' ? { addr6: in6MapV4(new Uint8Array(16), 0, addr), zone: null } : sockAddr6(this.im, addr, call);
    if (in6IsV4Mapped(sa.addr6)) {
      // FreeBSD's udp6_send: a v4-mapped peer on a v6-only socket, or from a socket bound to an IPv6 address, is EINVAL.
      if (pcb.v6only || (pcb.inTable && (pcb.vflag & INP_IPV4) === 0)) throw new SocketError('EINVAL', call);
      return { v6: false, fa: u32(sa.addr6, 12), f6: sa.addr6, zone: null };
    }
    if (pcb.inTable && (pcb.vflag & INP_IPV6) === 0 && !pcb.isV6) throw new SocketError('EINVAL', call);
    if (in6IsUnspecified(sa.addr6)) throw new SocketError('EADDRNOTAVAIL', call);
    return { v6: true, fa: 0, f6: sa.addr6, zone: sa.zone ?? pcb.zone };
  }

  /** Fix the peer: only its datagrams are received, and ICMP errors are reported. */
  connect(addr: number | Addr6Arg, port: number): void {
    this.check('connect');
    if (port <= 0 || port > 65535) throw new SocketError('EINVAL', 'connect');
    const d = this.dest(addr, 'connect');
    if (d.v6) {
      const la = in6IsUnspecified(this.pcb.laddr6!) ? in6SourceFor(this.im, d.f6, 0, d.zone) : this.pcb.laddr6!;
      if (typeof la === 'string') throw new SocketError(la, 'connect');
      this.im.udb.connect6(this.im, this.pcb, la, d.f6, d.zone, port);
      this.soError = null;
      return;
    }
    const a = d.fa;
    if (this.im.isBroadcast(a) && !this.broadcast) throw new SocketError('EACCES', 'connect');
    const la = this.pcb.laddr !== 0 ? this.pcb.laddr : localAddressFor(this.im, a);
    if (typeof la === 'string') throw new SocketError(la, 'connect');
    this.im.udb.connect(this.im, this.pcb, la, a, port);
    this.soError = null;
  }

  /** Forget the peer (connect to AF_UNSPEC): any sender is heard again; the local port stays. */
  disconnect(): void {
    this.check('connect');
    this.im.udb.disconnect(this.pcb);
    this.soError = null;
  }

  get connected(): boolean {
    return this.pcb.fport !== 0;
  }

  /** The local address (AF_INET6: addr6 too, v4-mapped on an IPv4 path). */
  address(): { addr: number; port: number; addr6?: Uint8Array; zone?: Ifnet | null } {
    const p = this.pcb;
    if (!p.af6) return { addr: p.laddr, port: p.lport };
    const a6 = p.vflag === INP_IPV4 ? in6MapV4(new Uint8Array(16), 0, p.laddr) : p.laddr6!.slice();
    return { addr: p.laddr, port: p.lport, addr6: a6, zone: p.zone };
  }

  remoteAddress(): { addr: number; port: number; addr6?: Uint8Array; zone?: Ifnet | null } {
    const p = this.pcb;
    if (!p.af6) return { addr: p.faddr, port: p.fport };
    const a6 = p.vflag === INP_IPV4 ? in6MapV4(new Uint8Array(16), 0, p.faddr) : p.faddr6!.slice();
    return { addr: p.faddr, port: p.fport, addr6: a6, zone: p.zone };
  }

  /** Send one datagram (to the connected peer when addr is omitted). */
  send(data: Uint8Array, addr?: number | Addr6Arg, port?: number): void {
    this.check('send');
    this.takeError('send');
    let fa = this.pcb.faddr;
    let fp = this.pcb.fport;
    let d: Dest | null = null;
    if (addr !== undefined) {
      if (this.connected) throw new SocketError('EISCONN', 'send');
      d = this.dest(addr, 'send');
      fa = d.fa;
      fp = port ?? 0;
    } else if (this.pcb.fport !== 0 && this.pcb.isV6) d = { v6: true, fa: 0, f6: this.pcb.faddr6!, zone: this.pcb.zone };
    if (fp === 0) throw new SocketError('EDESTADDRREQ', 'send');
    if (d !== null && d.v6) {
      if (!this.pcb.inTable) this.im.udb.bind6(this.im, this.pcb, IN6ADDR_ANY, null, 0);
      const r6 = udp6Output(this.im, this.pcb, this.pcb.laddr6!, d.f6, d.zone, fp, data);
      if (r6 !== 0) throw new SocketError(r6, 'send');
      return;
    }
    if (this.im.isBroadcast(fa) && !this.broadcast) throw new SocketError('EACCES', 'send');
    if (!this.pcb.inTable) {
      if (this.pcb.af6) this.im.udb.bind6(this.im, this.pcb, IN6ADDR_ANY, null, 0);
      else this.im.udb.bind(this.im, this.pcb, 0, 0);
    }
    let src = this.pcb.laddr;
    if (src === 0) {
      const la = localAddressFor(this.im, fa);
      if (typeof la === 'string') throw new SocketError(la, 'send');
      src = la;
    }
    const r = udpOutput(this.im, this.pcb, src, fa, fp, data);
    if (r !== 0) throw new SocketError(r, 'send');
  }

  /** The next datagram; null once closed. Rejects with a pending ICMP error. */
  async recv(): Promise<Datagram | null> {
    const d = this.q.shift();
    if (d !== undefined) {
      this.queued -= d.data.length;
      return d;
    }
    this.takeError('recv');
    const n = await this.q.next();
    if (n !== null) this.queued -= n.data.length;
    return n;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Datagram> {
    for (;;) {
      const d = await this.recv();
      if (d === null) return;
      yield d;
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.im.udb.remove(this.pcb);
    this.im.sockets.delete(this);
    this.q.close();
  }

  /** @internal UdpSockHooks */
  input(src: number, sport: number, dst: number, buf: Uint8Array, off: number, len: number): boolean {
    if (!this.open || this.queued + len > this.rcvBuf) return false;
    this.queued += len;
    if (this.pcb.af6) this.q.push({ data: buf.slice(off, off + len), addr: src, port: sport, dst, addr6: in6MapV4(new Uint8Array(16), 0, src), zone: null });
    else this.q.push({ data: buf.slice(off, off + len), addr: src, port: sport, dst });
    return true;
  }

  /** @internal UdpSockHooks */
  input6(buf: Uint8Array, ip: number, sport: number, ifp: Ifnet, off: number, len: number): boolean {
    if (!this.open || this.queued + len > this.rcvBuf) return false;
    this.queued += len;
    const addr6 = buf.slice(ip + 8, ip + 24);
    this.q.push({ data: buf.slice(off, off + len), addr: 0, port: sport, dst: 0, addr6, zone: in6IsLinkLocal(addr6) ? ifp : null });
    return true;
  }

  /** @internal UdpSockHooks */
  ctlError(errno: Errno): void {
    const e = new SocketError(errno, 'recv');
    if (!this.q.fail(e)) this.soError = errno;
  }

  private check(call: string): void {
    if (!this.open) throw new SocketError('EBADF', call);
  }

  private takeError(call: string): void {
    const e = this.soError;
    if (e !== null) {
      this.soError = null;
      throw new SocketError(e, call);
    }
  }
}
