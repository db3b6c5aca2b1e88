/**
 * Stream sockets over the image's TCP (SOCK_STREAM), Node-style:
 *
 *     const s = new TcpSocket(im);
 *     await s.connect('10.0.0.2', 80);          // rejects with ECONNREFUSED, ETIMEDOUT, ...
 *     await s.write(bytes);                      // resolves once the send buffer took it all
 *     for await (const chunk of s) ...           // ends at the peer's FIN
 *     s.end();                                   // shutdown(SHUT_WR)
 *     s.close();
 *
 *     const l = new TcpListener(im);
 *     l.listen(80);                              // bind + listen(backlog)
 *     for await (const conn of l) ...
 *
 * Errors are `SocketError`s carrying FreeBSD's errno. Chunks handed to
 * `write` are referenced, not copied, until acknowledged: do not reuse them.
 */

import type { Vnet } from '../net/vnet.js';
import type { Ifnet } from '../net/if.js';
import { TcpCb, type TcpErrno, type TcpSockHooks } from '../netinet/tcp/tcp_cb.js';
import { TcpListen, TcpPcb, type TcpListenHooks } from '../netinet/tcp/tcp_usrreq.js';
import { TCPS, tcpSomaxconn } from '../netinet/tcp/tcp_var.js';
import { in6MapV4, in6SourceFor, ip6V6only } from '../netinet6/in6_pcb.js';
import { tcp6Attach } from '../netinet6/tcp6_usrreq.js';
import { u32 } from '../wire/bytes.js';
import { parseIp4 } from '../wire/ipv4.js';
import { IN6ADDR_ANY, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped } from '../wire/ipv6.js';
import { SocketError, socketRoom, type Errno } from './errno.js';
import { INP_IPV4, localAddressFor, type InPcb } from './in_pcb.js';
import { sockAddr6, type Addr6Arg } from './sockaddr6.js';
import type { SocketOptions } from './udp.js';

export interface Endpoint {
  /** IPv4 address (0 for an IPv6 one). */
  addr: number;
  port: number;
  /** AF_INET6 sockets: the IPv6 address (v4-mapped for an IPv4 path) and the zone of a link-local one. */
  addr6?: Uint8Array;
  zone?: Ifnet | null;
}

function toAddr(a: number | Addr6Arg, call: string): number {
  const v = typeof a === 'string' ? parseIp4(a) : typeof a === 'number' ? a : undefined;
  if (v === undefined) throw new SocketError(typeof a === 'string' ? 'EINVAL' : 'EAFNOSUPPORT', call);
  return v;
}

/** Bind an endpoint of either family (AF_INET6: `::`, `fe80::1%tap0`, a v4-mapped address). */
function bindPcb(im: Vnet, pcb: TcpPcb, port: number, addr: number | Addr6Arg): void {
  if (!pcb.af6) {
    im.tcp.tcb.bind(im, pcb, toAddr(addr, 'bind'), port);
    return;
  }
  const sa = addr === 0 ? { addr6: IN6ADDR_ANY, zone: null } : sockAddr6(im, addr as Addr6Arg, 'bind');
  im.tcp.tcb.bind6(im, pcb, sa.addr6, sa.zone, port);
}

/** An endpoint's address as the socket API reports it. */
function endpoint(p: InPcb, a: number, port: number, a6: Uint8Array | null): Endpoint {
  if (!p.af6) return { addr: a, port };
  return { addr: a, port, addr6: p.vflag === INP_IPV4 ? in6MapV4(new Uint8Array(16), 0, a) : a6!.slice(), zone: p.zone };
}

export class TcpSocket implements TcpSockHooks, AsyncIterable<Uint8Array> {
  readonly im: Vnet;
  readonly cb: TcpCb;
  private pcb: TcpPcb;
  private err: Errno | null = null;
  private open = true;
  private wakeRead: (() => void) | null = null;
  private wakeWrite: (() => void) | null = null;
  private wakeConnect: ((e: Errno | null) => void) | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** The connection is gone (closed by both sides, reset or timed out). */
  finished = false;

  /** A new socket (options: the family and IPV6_V6ONLY), or the socket of a connection accept() took. */
  constructor(im: Vnet, accepted?: TcpCb | SocketOptions) {
    this.im = im;
    if (accepted instanceof TcpCb) {
      this.cb = accepted;
      this.pcb = im.tcp.pcbFor(accepted)!;
    } else {
      socketRoom(im);
      this.cb = im.tcp.newCb();
      this.pcb = new TcpPcb();
      if (accepted?.family === 6) this.pcb.setAf6(accepted.v6only ?? im.sysctl.v[ip6V6only.slot] === 1);
      im.tcp.attach(this.cb, this.pcb);
    }
    this.cb.so = this;
    im.sockets.add(this);
  }

  set reuseAddr(on: boolean) {
    this.pcb.reuseAddr = on;
  }

  /** TCP_NODELAY: no Nagle. */
  setNoDelay(on = true): void {
    this.cb.noDelay = on;
    if (on) this.cb.output();
  }

  /** TCP_CONGESTION: 'newreno' or 'cubic'; ENOENT for another name, as FreeBSD. */
  setCongestionControl(name: string): void {
    if (!this.cb.setCongestionControl(name)) throw new SocketError('ENOENT', 'setsockopt');
  }

  get congestionControl(): string {
    return this.cb.ccName;
  }

  /** SO_KEEPALIVE. */
  setKeepAlive(on = true): void {
    this.cb.setKeepAlive(on);
  }

  /** SO_SNDBUF / SO_RCVBUF (bytes). */
  setBufferSizes(snd?: number, rcv?: number): void {
    if (snd !== undefined) this.cb.sndBufSize = snd;
    if (rcv !== undefined) this.cb.rcvBufSize = rcv;
  }

  /** 4 (AF_INET) or 6 (AF_INET6). */
  get family(): 4 | 6 {
    return this.pcb.af6 ? 6 : 4;
  }

  /** IPV6_V6ONLY (AF_INET6, before bind). */
  set v6only(on: boolean) {
    if (!this.pcb.af6 || this.pcb.inTable) throw new SocketError('EINVAL', 'setsockopt');
    this.pcb.v6only = on;
  }

  bind(port = 0, addr: number | Addr6Arg = 0): void {
    if (this.pcb.inTable) throw new SocketError('EINVAL', 'bind');
    bindPcb(this.im, this.pcb, port, addr);
  }

  get state(): number {
    return this.cb.state;
  }

  localAddress(): Endpoint {
    return endpoint(this.pcb, this.cb.laddr || this.pcb.laddr, this.cb.lport || this.pcb.lport, this.pcb.laddr6);
  }

  remoteAddress(): Endpoint {
    return endpoint(this.pcb, this.cb.faddr || this.pcb.faddr, this.cb.fport || this.pcb.fport, this.pcb.faddr6);
  }

  /** Bytes waiting to be read / not yet acknowledged (netstat's Recv-Q and Send-Q). */
  get recvQueued(): number {
    return this.cb.rcv.length;
  }
  get sendQueued(): number {
    return this.cb.snd.length;
  }

  async connect(addr: number | Addr6Arg, port: number, signal?: AbortSignal): Promise<void> {
    if (!this.open) throw new SocketError('EBADF', 'connect');
    if (this.cb.state !== TCPS.CLOSED) throw new SocketError(this.cb.state === TCPS.SYN_SENT ? 'EALREADY' : 'EISCONN', 'connect');
    const t = this.im.tcp;
    const cb = this.cb;
    const pcb = this.pcb;
    let fa = 0;
    let v6 = false;
    if (pcb.af6) {
      const sa = typeof addr === 'number' ? { addr6: in6MapV4(new Uint8Array(16), 0, addr), zone: null } : sockAddr6(this.im, addr, 'connect');
      if (in6IsV4Mapped(sa.addr6)) {
        // tcp6_connect: a v4-mapped peer is IPv4, refused on a v6-only socket or one bound to an IPv6 address.
        if (pcb.v6only || (pcb.inTable && (pcb.vflag & INP_IPV4) === 0)) throw new SocketError('EINVAL', 'connect');
        fa = u32(sa.addr6, 12);
      } else {
        if (port <= 0 || port > 65535 || in6IsUnspecified(sa.addr6)) throw new SocketError('EINVAL', 'connect');
        if (in6IsMulticast(sa.addr6)) throw new SocketError('EACCES', 'connect');
        if (pcb.inTable && pcb.vflag === INP_IPV4) throw new SocketError('EINVAL', 'connect');
        const zone = sa.zone ?? pcb.zone;
        const la = pcb.inTable && !in6IsUnspecified(pcb.laddr6!) ? pcb.laddr6! : in6SourceFor(this.im, sa.addr6, 0, zone);
        if (typeof la === 'string') throw new SocketError(la, 'connect');
        t.tcb.connect6(this.im, pcb, la, sa.addr6, zone, port);
        tcp6Attach(t, cb, pcb);
        v6 = true;
      }
    } else fa = toAddr(addr, 'connect');
    if (!v6) {
      if (port <= 0 || port > 65535 || fa === 0 || this.im.isBroadcast(fa) || fa >>> 28 === 0xe) throw new SocketError(fa === 0 || port <= 0 ? 'EINVAL' : 'EACCES', 'connect');
      const la = pcb.laddr !== 0 ? pcb.laddr : localAddressFor(this.im, fa);
      if (typeof la === 'string') throw new SocketError(la, 'connect');
      t.tcb.connect(this.im, pcb, la, fa, port);
      cb.laddr = pcb.laddr;
      cb.lport = pcb.lport;
      cb.faddr = fa;
      cb.fport = port;
      t.routeParams(cb, fa);
    }
    const done = new Promise<Errno | null>((resolve) => {
      this.wakeConnect = resolve;
    });
    const onAbort = (): void => {
      this.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    cb.connect();
    const e = await done;
    signal?.removeEventListener('abort', onAbort);
    if (e !== null) throw new SocketError(e, 'connect');
  }

  /** Queue all of `data`; resolves once the send buffer took it (backpressure), rejects on a dead connection. */
  write(data: Uint8Array): Promise<void> {
    const p = this.writing.then(() => this.writeNow(data));
    this.writing = p.catch(() => {});
    return p;
  }

  private async writeNow(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      this.checkWrite();
      const n = this.cb.send(off === 0 ? data : data.subarray(off));
      off += n;
      if (off < data.length) {
        await new Promise<void>((resolve) => {
          this.wakeWrite = resolve;
        });
        this.wakeWrite = null;
      }
    }
  }

  private checkWrite(): void {
    if (this.err !== null) throw new SocketError(this.err, 'write');
    if (!this.open || this.cb.finQueued || this.cb.state === TCPS.CLOSED || this.cb.state >= TCPS.FIN_WAIT_1) throw new SocketError('EPIPE', 'write');
  }

  /** All written data acknowledged (or the connection gone). */
  async drain(): Promise<void> {
    await this.writing;
    while (this.cb.snd.length > 0 && this.cb.state !== TCPS.CLOSED && this.err === null) {
      await new Promise<void>((resolve) => {
        this.wakeWrite = resolve;
      });
      this.wakeWrite = null;
    }
  }

  /**
   * The next chunk of data; null at end of stream (the peer's FIN). Rejects
   * with ECONNRESET/ETIMEDOUT when the connection fails.
   */
  async read(max?: number): Promise<Uint8Array | null> {
    for (;;) {
      const c = this.cb.rcv.read(max);
      if (c !== null) {
        this.cb.rcvd();
        return c;
      }
      if (this.err !== null) {
        const e = this.err;
        throw new SocketError(e, 'read');
      }
      if (this.cb.rcvdFin || this.finished || !this.open) return null;
      await new Promise<void>((resolve) => {
        this.wakeRead = resolve;
      });
      this.wakeRead = null;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const c = await this.read();
      if (c === null) return;
      yield c;
    }
  }

  /** shutdown(SHUT_WR) after everything written so far. */
  end(): Promise<void> {
    const p = this.writing.then(() => {
      if (this.open) this.cb.shutdown();
    });
    this.writing = p.catch(() => {});
    return p;
  }

  /** close(2): orderly (FIN) unless unread data makes it an abort. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.im.sockets.delete(this);
    this.cb.close();
    // Never connected: nothing on the wire to finish, forget it now.
    if (this.cb.state === TCPS.CLOSED) this.im.tcp.detach(this.cb);
    this.wakeAll(null);
  }

  /** Abort with RST (SO_LINGER with zero time). */
  destroy(): void {
    if (this.cb.state !== TCPS.CLOSED) this.cb.abort();
    if (this.err === null && this.wakeConnect !== null) this.err = 'ECONNABORTED';
    this.close();
    this.wakeAll('ECONNABORTED');
  }

  private wakeAll(e: Errno | null): void {
    this.wakeRead?.();
    this.wakeWrite?.();
    const c = this.wakeConnect;
    this.wakeConnect = null;
    c?.(e ?? (this.cb.state >= TCPS.ESTABLISHED ? null : 'ECONNABORTED'));
  }

  // TcpSockHooks
  /** @internal */
  connected(): void {
    const c = this.wakeConnect;
    this.wakeConnect = null;
    c?.(null);
  }
  /** @internal */
  readable(): void {
    this.wakeRead?.();
  }
  /** @internal */
  writable(): void {
    this.wakeWrite?.();
  }
  /** @internal */
  error(e: TcpErrno): void {
    this.err = e;
    const c = this.wakeConnect;
    this.wakeConnect = null;
    c?.(e);
    this.wakeRead?.();
    this.wakeWrite?.();
  }
  /** @internal */
  closed(): void {
    this.finished = true;
    this.wakeRead?.();
    this.wakeWrite?.();
  }
}

export class TcpListener implements TcpListenHooks, AsyncIterable<TcpSocket> {
  readonly im: Vnet;
  readonly pcb = new TcpPcb();
  private q: TcpListen | null = null;
  private wake: (() => void) | null = null;
  private open = true;
  /** TCP_NODELAY for accepted connections. */
  noDelay = false;

  constructor(im: Vnet, o: SocketOptions = {}) {
    socketRoom(im);
    this.im = im;
    if (o.family === 6) this.pcb.setAf6(o.v6only ?? im.sysctl.v[ip6V6only.slot] === 1);
    im.sockets.add(this);
  }

  set reuseAddr(on: boolean) {
    this.pcb.reuseAddr = on;
  }

  /** 4 (AF_INET) or 6 (AF_INET6). */
  get family(): 4 | 6 {
    return this.pcb.af6 ? 6 : 4;
  }

  /** IPV6_V6ONLY (AF_INET6, before bind). */
  set v6only(on: boolean) {
    if (!this.pcb.af6 || this.pcb.inTable) throw new SocketError('EINVAL', 'setsockopt');
    this.pcb.v6only = on;
  }

  bind(port = 0, addr: number | Addr6Arg = 0): void {
    if (!this.open) throw new SocketError('EBADF', 'bind');
    bindPcb(this.im, this.pcb, port, addr);
  }

  /** listen(2); binds to `port` first when given. The backlog is capped by kern.ipc.somaxconn. */
  listen(port?: number, backlog = 128, addr: number | Addr6Arg = 0): void {
    if (!this.open) throw new SocketError('EBADF', 'listen');
    if (port !== undefined && !this.pcb.inTable) this.bind(port, addr);
    if (!this.pcb.inTable) this.bind(0);
    const max = this.im.sysctl.v[tcpSomaxconn.slot]!;
    const b = Math.min(Math.max(backlog, 0), max);
    this.pcb.listening = true;
    if (this.q === null) {
      this.q = new TcpListen(this.pcb, b, this);
      this.pcb.listen = this.q;
      this.im.tcp.states[TCPS.LISTEN]!++;
    } else this.q.backlog = b;
    this.q.noDelay = this.noDelay;
  }

  get listenQueue(): TcpListen | null {
    return this.q;
  }

  localAddress(): Endpoint {
    return endpoint(this.pcb, this.pcb.laddr, this.pcb.lport, this.pcb.laddr6);
  }

  /** The next established connection; null once the listener is closed. */
  async accept(): Promise<TcpSocket | null> {
    for (;;) {
      if (!this.open || this.q === null) return null;
      const cb = this.q.ready.shift();
      if (cb !== undefined) {
        cb.listener = null;
        return new TcpSocket(this.im, cb);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TcpSocket> {
    for (;;) {
      const s = await this.accept();
      if (s === null) return;
      yield s;
    }
  }

  /** @internal TcpListenHooks */
  acceptable(): void {
    this.wake?.();
  }

  /** Close: connections not yet accepted are reset, as FreeBSD's soclose does. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.im.sockets.delete(this);
    const q = this.q;
    if (q !== null) {
      for (const cb of [...q.incomplete, ...q.ready]) {
        cb.listener = null;
        cb.abort();
      }
      q.incomplete.clear();
      q.ready.length = 0;
      this.im.tcp.states[TCPS.LISTEN]!--;
    }
    this.pcb.listen = null;
    this.im.tcp.tcb.remove(this.pcb);
    this.wake?.();
  }
}
