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
import type { TcpCb, TcpErrno, TcpSockHooks } from '../netinet/tcp/tcp_cb.js';
import { TcpListen, TcpPcb, type TcpListenHooks } from '../netinet/tcp/tcp_usrreq.js';
import { TCPS, tcpSomaxconn } from '../netinet/tcp/tcp_var.js';
import { parseIp4 } from '../wire/ipv4.js';
import { SocketError, socketRoom, type Errno } from './errno.js';
import { localAddressFor } from './in_pcb.js';

export interface Endpoint {
  addr: number;
  port: number;
}

function toAddr(a: number | string, call: string): number {
  const v = typeof a === 'string' ? parseIp4(a) : a;
  if (v === undefined) throw new SocketError('EINVAL', call);
  return v;
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

  constructor(im: Vnet, accepted?: TcpCb) {
    this.im = im;
    if (accepted !== undefined) {
      this.cb = accepted;
      this.pcb = im.tcp.pcbFor(accepted)!;
    } else {
      socketRoom(im);
      this.cb = im.tcp.newCb();
      this.pcb = new TcpPcb();
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

  bind(port = 0, addr: number | string = 0): void {
    if (this.pcb.inTable) throw new SocketError('EINVAL', 'bind');
    this.im.tcp.tcb.bind(this.im, this.pcb, toAddr(addr, 'bind'), port);
  }

  get state(): number {
    return this.cb.state;
  }

  localAddress(): Endpoint {
    return { addr: this.cb.laddr || this.pcb.laddr, port: this.cb.lport || this.pcb.lport };
  }

  remoteAddress(): Endpoint {
    return { addr: this.cb.faddr, port: this.cb.fport };
  }

  /** Bytes waiting to be read / not yet acknowledged (netstat's Recv-Q and Send-Q). */
  get recvQueued(): number {
    return this.cb.rcv.length;
  }
  get sendQueued(): number {
    return this.cb.snd.length;
  }

  async connect(addr: number | string, port: number, signal?: AbortSignal): Promise<void> {
    if (!this.open) throw new SocketError('EBADF', 'connect');
    if (this.cb.state !== TCPS.CLOSED) throw new SocketError(this.cb.state === TCPS.SYN_SENT ? 'EALREADY' : 'EISCONN', 'connect');
    const fa = toAddr(addr, 'connect');
    if (port <= 0 || port > 65535 || fa === 0 || this.im.isBroadcast(fa) || fa >>> 28 === 0xe) throw new SocketError(fa === 0 || port <= 0 ? 'EINVAL' : 'EACCES', 'connect');
    const la = this.pcb.laddr !== 0 ? this.pcb.laddr : localAddressFor(this.im, fa);
    if (typeof la === 'string') throw new SocketError(la, 'connect');
    const t = this.im.tcp;
    t.tcb.connect(this.im, this.pcb, la, fa, port);
    const cb = this.cb;
    cb.laddr = this.pcb.laddr;
    cb.lport = this.pcb.lport;
    cb.faddr = fa;
    cb.fport = port;
    t.routeParams(cb, fa);
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

  constructor(im: Vnet) {
    socketRoom(im);
    this.im = im;
    im.sockets.add(this);
  }

  set reuseAddr(on: boolean) {
    this.pcb.reuseAddr = on;
  }

  bind(port = 0, addr: number | string = 0): void {
    if (!this.open) throw new SocketError('EBADF', 'bind');
    this.im.tcp.tcb.bind(this.im, this.pcb, toAddr(addr, 'bind'), port);
  }

  /** listen(2); binds to `port` first when given. The backlog is capped by kern.ipc.somaxconn. */
  listen(port?: number, backlog = 128, addr: number | string = 0): void {
    if (!this.open) throw new SocketError('EBADF', 'listen');
    if (port !== undefined && !this.pcb.inTable) this.bind(port, addr);
    if (!this.pcb.inTable) this.bind(0, 0);
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
    return { addr: this.pcb.laddr, port: this.pcb.lport };
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
