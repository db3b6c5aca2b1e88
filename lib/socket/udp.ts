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
import { parseIp4 } from '../wire/ipv4.js';
import { SocketError, socketRoom, type Errno } from './errno.js';
import { localAddressFor } from './in_pcb.js';
import { AsyncQueue } from './queue.js';

export interface Datagram {
  data: Uint8Array;
  /** Sender address and port. */
  addr: number;
  port: number;
  /** The local address it was sent to. */
  dst: number;
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

  constructor(im: Vnet) {
    socketRoom(im);
    this.im = im;
    this.pcb = new UdpPcb(this);
    this.rcvBuf = im.sysctl.v[udpRecvspace.slot]!;
    im.sockets.add(this);
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

  bind(port = 0, addr = 0): void {
    this.check('bind');
    this.im.udb.bind(this.im, this.pcb, addr, port);
  }

  /** Fix the peer: only its datagrams are received, and ICMP errors are reported. */
  connect(addr: number | string, port: number): void {
    this.check('connect');
    const a = typeof addr === 'string' ? parseIp4(addr) : addr;
    if (a === undefined || port <= 0 || port > 65535) throw new SocketError('EINVAL', 'connect');
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

  address(): { addr: number; port: number } {
    return { addr: this.pcb.laddr, port: this.pcb.lport };
  }

  remoteAddress(): { addr: number; port: number } {
    return { addr: this.pcb.faddr, port: this.pcb.fport };
  }

  /** Send one datagram (to the connected peer when addr is omitted). */
  send(data: Uint8Array, addr?: number, port?: number): void {
    this.check('send');
    this.takeError('send');
    let fa = this.pcb.faddr;
    let fp = this.pcb.fport;
    if (addr !== undefined) {
      if (this.connected) throw new SocketError('EISCONN', 'send');
      fa = addr;
      fp = port ?? 0;
    }
    if (fp === 0) throw new SocketError('EDESTADDRREQ', 'send');
    if (this.im.isBroadcast(fa) && !this.broadcast) throw new SocketError('EACCES', 'send');
    if (!this.pcb.inTable) this.im.udb.bind(this.im, this.pcb, 0, 0);
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
    this.q.push({ data: buf.slice(off, off + len), addr: src, port: sport, dst });
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
