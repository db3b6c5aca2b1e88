/**
 * One agent session: the sockets of the Linux programs one vimage-supervisor
 * runs in one image. The supervisor forwards the socket calls it traps
 * (bind, connect, listen, accept, getsockname, getpeername, setsockopt,
 * getsockopt) as requests; each is answered through the image's control
 * surface (ImageControl.sockets), never by reaching into the stack.
 *
 * Sockets are named by an id the supervisor chose when the program called
 * socket(). A record exists from the first request about it. A bound,
 * not yet listening or connected stream socket holds a bound TcpListener;
 * connect moves the binding to a TcpSocket. Once a socket connects or
 * listens, its backing Unix socket arrives as a data connection
 * (`attach`): a connected one is pumped to its TcpSocket; a listening one
 * gets one byte per connection ready to accept (its POLLIN), and accept
 * hands out the next connection under the id the supervisor gave it.
 *
 * Datagram sockets (UDP, NETLINK_ROUTE) are DgramSockets' (dgram.ts):
 * requests of type SOCK_DGRAM and OP.DGRAM go there, and so does the
 * session's datagram channel (data connection CHAN_ID).
 *
 * Hostile input never throws out of here: a bad request gets an errno.
 */

import type { Socket } from 'node:net';
import type { ImageControl } from '../../lib/control/index.js';
import type { Logger } from '../../lib/log.js';
import { SocketError } from '../../lib/socket/errno.js';
import type { TcpListener, TcpSocket } from '../../lib/socket/tcp.js';
import type { SocketOptions } from '../../lib/socket/udp.js';
import { ip6ToString } from '../../lib/wire/ipv6.js';
import { DgramSockets } from './dgram.js';
import { ipv6Opt, named, socketOptions, target, v6onlyDefault } from './inet6.js';
import { pump } from './pump.js';
import { AF_INET, AF_INET6, CHAN_ID, decodeRequest, encodeReply, FRAME_SIZE, INET6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPV6, LINUX_ERRNO, linuxErrno, NONBLOCK, OP, type Reply, type Request, requestSize, SO, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET } from './wire.js';

const TCP_NODELAY = 1;
const TCP_MAXSEG = 2;

/** How long a data connection may lag behind the request that announced it. */
const ATTACH_TIMEOUT_MS = 5000;
/** Records one session may hold (sockets the program made and has not closed). */
const MAX_RECORDS = 65536;

interface Waiter {
  seq: number;
  newId: number;
  family: number;
  /** The listener's IPV6_V6ONLY, as set: an accepted socket inherits it (Linux). */
  v6only?: number | undefined;
}

/**
 * Listening sockets bound to one address and port with SO_REUSEPORT (nginx's
 * `listen ... reuseport`, one per worker): one image listener, and its
 * connections dealt out in turn to the members that listen and have room.
 */
interface PortGroup {
  key: string;
  listener: TcpListener;
  members: Rec[];
  next: number;
  looping: boolean;
  room?: () => void;
}

interface Rec {
  id: number;
  type: number;
  /** AF_INET, or AF_INET6: an IPv6 socket of the image (addresses in the addr6 trailer). */
  family: number;
  /** Options set before the image socket existed, by "level:name". */
  opts: Map<string, number>;
  listener?: TcpListener;
  listening: boolean;
  backlog: number;
  tcp?: TcpSocket;
  connecting?: { seq: number; abort: AbortController };
  soError: keyof typeof LINUX_ERRNO | null;
  /** Connections accepted by the image, not yet by the program. */
  ready: TcpSocket[];
  waiters: Waiter[];
  room?: () => void;
  chan?: Socket;
  group?: PortGroup;
}

const ONE = new Uint8Array([1]);

export class Session {
  private readonly recs = new Map<number, Rec>();
  /** Data connections that arrived before the request that needs them, and requests waiting for theirs. */
  private readonly arrived = new Map<number, { sock: Socket; head: Uint8Array }>();
  private readonly attachWaiters = new Map<number, (c: { sock: Socket; head: Uint8Array } | null) => void>();
  /** SO_REUSEPORT groups by "addr:port". */
  private readonly groups = new Map<string, PortGroup>();
  private buf = new Uint8Array(0);
  private closed = false;
  /** UDP and NETLINK_ROUTE sockets, and the datagram channel (dgram.ts). */
  readonly dgram: DgramSockets;

  constructor(
    private readonly image: ImageControl,
    private readonly alive: () => boolean,
    private readonly send: (frame: Uint8Array) => void,
    private readonly log: Logger,
  ) {
    this.dgram = new DgramSockets(image, log);
  }

  /** Bytes from the supervisor: whole frames are served, a partial one waits. */
  input(chunk: Uint8Array): void {
    const b = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    let off = 0;
    while (off + FRAME_SIZE <= b.length) {
      const n = requestSize(b, off);
      if (off + n > b.length) break; // its addr6 trailer is still on the way
      this.serve(decodeRequest(b, off));
      off += n;
    }
    this.buf = off === b.length ? new Uint8Array(0) : b.slice(off);
  }

  private reply(r: Reply): void {
    if (!this.closed) this.send(encodeReply(r));
  }

  private fail(seq: number, e: unknown): void {
    let err: number = LINUX_ERRNO.EINVAL;
    if (e instanceof SocketError) err = linuxErrno(e.code);
    else this.log.warn({ err: e }, 'linux program: socket request failed');
    this.reply({ seq, err });
  }

  serve(q: Request): void {
    if (this.closed) return;
    if (!this.alive()) {
      this.reply({ seq: q.seq, err: LINUX_ERRNO.ENETDOWN });
      return;
    }
    try {
      if (q.op === OP.DGRAM || (q.type === SOCK_DGRAM && q.op !== OP.CANCEL) || (q.op === OP.CLOSE && this.dgram.owns(q))) {
        const rep = this.dgram.serve(q);
        if (rep !== null) this.reply(rep);
        return;
      }
      switch (q.op) {
        case OP.BIND:
          return this.bind(q);
        case OP.CONNECT:
          return void this.connect(q).catch((e: unknown) => this.fail(q.seq, e));
        case OP.LISTEN:
          return this.listen(q);
        case OP.ACCEPT:
          return this.accept(q);
        case OP.NAME:
          return this.name(q);
        case OP.SETOPT:
          return this.setopt(q);
        case OP.GETOPT:
          return this.getopt(q);
        case OP.CANCEL:
          return this.cancel(q.a >>> 0);
        case OP.CLOSE:
          return this.drop(q.id);
        default:
          this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
      }
    } catch (e) {
      this.fail(q.seq, e);
    }
  }

  private rec(q: Request): Rec | undefined {
    let r = this.recs.get(q.id);
    if (r !== undefined) return r;
    if (q.type !== SOCK_STREAM) {
      this.reply({ seq: q.seq, err: LINUX_ERRNO.EPROTONOSUPPORT });
      return undefined;
    }
    if (this.recs.size >= MAX_RECORDS) {
      this.reply({ seq: q.seq, err: LINUX_ERRNO.ENOBUFS });
      return undefined;
    }
    r = { id: q.id, type: q.type, family: (q.flags & INET6) !== 0 ? AF_INET6 : AF_INET, opts: new Map(), listening: false, backlog: 0, soError: null, ready: [], waiters: [] };
    this.recs.set(q.id, r);
    return r;
  }

  private opt(r: Rec, level: number, name: number): number | undefined {
    return r.opts.get(`${level}:${name}`);
  }

  private sockOpts(r: Rec): SocketOptions | undefined {
    return socketOptions(r.family, this.opt(r, IPPROTO_IPV6, IPV6.V6ONLY));
  }

  private bind(q: Request): void {
    const r = this.rec(q);
    if (r === undefined) return;
    if (r.listener !== undefined || r.tcp !== undefined) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
    const reusePort = (this.opt(r, SOL_SOCKET, SO.REUSEPORT) ?? 0) !== 0;
    const to = target(r.family, q);
    const key = `${typeof to === 'number' ? to : typeof to === 'string' ? to : ip6ToString(to)}:${q.port}`;
    const joined = reusePort && q.port !== 0 ? this.groups.get(key) : undefined;
    if (joined !== undefined) {
      // Linux lets every socket with SO_REUSEPORT bind the port; here they share the image's listener.
      r.group = joined;
      joined.members.push(r);
      r.listener = joined.listener;
      return this.reply({ seq: q.seq, err: 0 });
    }
    const l = this.image.sockets.tcpListener(this.sockOpts(r));
    try {
      l.reuseAddr = (this.opt(r, SOL_SOCKET, SO.REUSEADDR) ?? 0) !== 0;
      l.bind(q.port, to);
    } catch (e) {
      l.close();
      throw e;
    }
    r.listener = l;
    if (reusePort && q.port !== 0) {
      r.group = { key, listener: l, members: [r], next: 0, looping: false };
      this.groups.set(key, r.group);
    }
    this.reply({ seq: q.seq, err: 0 });
  }

  private async connect(q: Request): Promise<void> {
    const r = this.rec(q);
    if (r === undefined) return;
    if (r.connecting !== undefined) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EALREADY });
    if (r.listening) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
    if (r.tcp !== undefined && !r.tcp.finished) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EISCONN });
    const nonblock = (q.flags & NONBLOCK) !== 0;
    const t = this.image.sockets.tcp(this.sockOpts(r));
    r.tcp = t;
    const abort = new AbortController();
    r.connecting = { seq: q.seq, abort };
    try {
      this.applyOpts(r, t);
      if (r.listener !== undefined) {
        // bind() before connect(): the connection takes over the bound address.
        const ep = r.listener.localAddress();
        this.releaseListener(r);
        t.reuseAddr = true;
        t.bind(ep.port, ep.addr6 !== undefined ? { addr6: ep.addr6, zone: ep.zone ?? null } : ep.addr);
      }
      await t.connect(target(r.family, q), q.port, abort.signal);
    } catch (e) {
      r.connecting = undefined;
      t.close();
      r.tcp = undefined;
      if (nonblock) {
        // The program polls for POLLOUT, then asks SO_ERROR: drop the backing socket and keep the error.
        r.soError = e instanceof SocketError && e.code in LINUX_ERRNO ? (e.code as keyof typeof LINUX_ERRNO) : 'ECONNREFUSED';
        void this.dataConn(r.id).then((c) => c?.sock.destroy());
      }
      return this.fail(q.seq, e);
    }
    r.connecting = undefined;
    this.reply({ seq: q.seq, err: 0 });
    const c = await this.dataConn(r.id);
    if (c === null) {
      t.destroy();
      this.recs.delete(r.id);
      return;
    }
    await pump(c.sock, t, c.head, nonblock ? Math.max(q.c, 0) : 0);
    this.recs.delete(r.id);
  }

  private applyOpts(r: Rec, t: TcpSocket): void {
    if ((this.opt(r, IPPROTO_TCP, TCP_NODELAY) ?? 0) !== 0) t.setNoDelay(true);
    if ((this.opt(r, SOL_SOCKET, SO.KEEPALIVE) ?? 0) !== 0) t.setKeepAlive(true);
    const snd = this.opt(r, SOL_SOCKET, SO.SNDBUF);
    const rcv = this.opt(r, SOL_SOCKET, SO.RCVBUF);
    if (snd !== undefined || rcv !== undefined) t.setBufferSizes(snd, rcv);
    if ((this.opt(r, SOL_SOCKET, SO.REUSEADDR) ?? 0) !== 0) t.reuseAddr = true;
  }

  private listen(q: Request): void {
    const r = this.rec(q);
    if (r === undefined) return;
    if (r.tcp !== undefined) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
    let l = r.listener;
    if (l === undefined) {
      l = this.image.sockets.tcpListener(this.sockOpts(r));
      l.reuseAddr = (this.opt(r, SOL_SOCKET, SO.REUSEADDR) ?? 0) !== 0;
      r.listener = l;
    }
    l.noDelay = (this.opt(r, IPPROTO_TCP, TCP_NODELAY) ?? 0) !== 0;
    // Linux takes a backlog <= 0 as the smallest queue; 4096 is its somaxconn.
    r.backlog = Math.min(Math.max(q.a, 1), 4096);
    l.listen(undefined, r.backlog);
    this.reply({ seq: q.seq, err: 0 });
    if (!r.listening) {
      r.listening = true;
      const loop = r.group !== undefined ? this.joinLoop(r, r.group) : this.acceptLoop(r, l);
      void loop.catch((e: unknown) => {
        this.log.warn({ err: e }, 'linux program: accept loop failed');
        this.closeRec(r);
      });
    }
  }

  /**
   * The backing socket of a listening socket: waits for it, and closes the
   * record when the program closes it. Null (record closed) if it never came.
   */
  private async listenChan(r: Rec): Promise<Socket | null> {
    const c = await this.dataConn(r.id);
    if (c === null) {
      this.closeRec(r);
      return null;
    }
    const chan = c.sock;
    r.chan = chan;
    chan.on('data', () => {}); // a program writing to a listening socket: nothing to do
    chan.on('error', () => {});
    chan.on('end', () => this.closeRec(r)); // the program closed the listening socket
    chan.on('close', () => this.closeRec(r));
    chan.resume();
    return chan;
  }

  private async acceptLoop(r: Rec, l: TcpListener): Promise<void> {
    const chan = await this.listenChan(r);
    if (chan === null) return;
    for (;;) {
      while (r.ready.length >= r.backlog && r.chan !== undefined) {
        await new Promise<void>((resolve) => {
          r.room = resolve;
        });
        r.room = undefined;
      }
      if (r.chan === undefined) return;
      const t = await l.accept();
      if (t === null || r.chan === undefined) {
        t?.destroy();
        return;
      }
      chan.write(ONE); // the listening socket is readable: one byte per connection
      const w = r.waiters.shift();
      if (w !== undefined) this.handOut(w, t);
      else r.ready.push(t);
    }
  }

  /** A member of a SO_REUSEPORT group listens: once its backing socket is here, the group's loop deals it connections. */
  private async joinLoop(r: Rec, g: PortGroup): Promise<void> {
    if ((await this.listenChan(r)) === null) return;
    r.room = () => g.room?.();
    g.room?.();
    if (g.looping) return;
    g.looping = true;
    for (;;) {
      if (this.pick(g, false) === undefined) {
        if (g.members.length === 0) return;
        await new Promise<void>((resolve) => {
          g.room = resolve;
        });
        g.room = undefined;
        continue;
      }
      const t = await g.listener.accept();
      if (t === null) return;
      const m = this.pick(g, true);
      if (m === undefined) {
        t.destroy(); // every member went while this one was on its way
        continue;
      }
      m.chan!.write(ONE);
      const w = m.waiters.shift();
      if (w !== undefined) this.handOut(w, t);
      else m.ready.push(t);
    }
  }

  /** The next member of `g`, in turn, that listens and has room in its backlog; `take` moves the turn on. */
  private pick(g: PortGroup, take: boolean): Rec | undefined {
    const n = g.members.length;
    for (let i = 0; i < n; i++) {
      const m = g.members[(g.next + i) % n]!;
      if (m.chan === undefined || m.ready.length >= m.backlog) continue;
      if (take) g.next = (g.next + i + 1) % n;
      return m;
    }
    return undefined;
  }

  /** Let go of r's image listener: closed, unless other members of its SO_REUSEPORT group still hold it. */
  private releaseListener(r: Rec): void {
    const g = r.group;
    r.group = undefined;
    if (g !== undefined) {
      const i = g.members.indexOf(r);
      if (i >= 0) g.members.splice(i, 1);
      if (g.members.length === 0) {
        this.groups.delete(g.key);
        g.listener.close();
      }
      r.listener = undefined;
      g.room?.();
      return;
    }
    r.listener?.close();
    r.listener = undefined;
  }

  private accept(q: Request): void {
    const r = this.recs.get(q.id);
    if (r === undefined || !r.listening) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
    if (this.recs.has(q.a >>> 0)) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
    const t = r.ready.shift();
    if (t !== undefined) {
      r.room?.();
      return this.handOut({ seq: q.seq, newId: q.a >>> 0, family: r.family, v6only: this.opt(r, IPPROTO_IPV6, IPV6.V6ONLY) }, t);
    }
    if ((q.flags & NONBLOCK) !== 0) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EAGAIN });
    r.waiters.push({ seq: q.seq, newId: q.a >>> 0, family: r.family, v6only: this.opt(r, IPPROTO_IPV6, IPV6.V6ONLY) });
  }

  /** Give connection `t` to the program's accept `w`: reply with the peer, then pump once its backing socket arrives. */
  private handOut(w: Waiter, t: TcpSocket): void {
    const nr: Rec = { id: w.newId, type: SOCK_STREAM, family: w.family, opts: new Map(), listening: false, backlog: 0, tcp: t, soError: null, ready: [], waiters: [] };
    if (w.v6only !== undefined) nr.opts.set(`${IPPROTO_IPV6}:${IPV6.V6ONLY}`, w.v6only);
    this.recs.set(w.newId, nr);
    this.reply(named(nr.family, w.seq, t.remoteAddress()));
    void this.dataConn(w.newId).then(async (c) => {
      if (c === null) {
        t.destroy();
      } else {
        await pump(c.sock, t, c.head);
      }
      this.recs.delete(w.newId);
    }).catch((e: unknown) => this.log.warn({ err: e }, 'linux program: connection pump failed'));
  }

  private name(q: Request): void {
    const r = this.recs.get(q.id);
    const fam = r ?? { family: (q.flags & INET6) !== 0 ? AF_INET6 : AF_INET };
    if (q.a === 0) {
      const ep = r?.tcp?.localAddress() ?? r?.listener?.localAddress() ?? { addr: 0, port: 0 };
      return this.reply(named(fam.family, q.seq, ep));
    }
    const t = r?.tcp;
    if (t === undefined || r?.connecting !== undefined || t.remoteAddress().port === 0) return this.reply({ seq: q.seq, err: LINUX_ERRNO.ENOTCONN });
    this.reply(named(fam.family, q.seq, t.remoteAddress()));
  }

  private setopt(q: Request): void {
    const r = this.rec(q);
    if (r === undefined) return;
    const level = q.a;
    const name = q.b;
    if (level !== SOL_SOCKET && level !== IPPROTO_IP && level !== IPPROTO_TCP && !(level === IPPROTO_IPV6 && r.family === AF_INET6)) {
      return this.reply({ seq: q.seq, err: LINUX_ERRNO.ENOPROTOOPT });
    }
    if (level === IPPROTO_IPV6 && name === IPV6.V6ONLY) {
      // Linux: only before bind (and never on a connected socket).
      if (r.tcp !== undefined || (r.listener !== undefined && r.group !== undefined)) return this.reply({ seq: q.seq, err: LINUX_ERRNO.EINVAL });
      if (r.listener !== undefined) r.listener.v6only = q.c !== 0; // EINVAL once bound
    } else if (level === IPPROTO_IPV6) {
      const [err] = ipv6Opt(this.image, name, q.c, undefined);
      if (err !== 0) return this.reply({ seq: q.seq, err });
    }
    r.opts.set(`${level}:${name}`, q.c);
    const on = q.c !== 0;
    // Options the image's sockets have act at once; the rest are kept (getsockopt reads them back).
    if (level === SOL_SOCKET && name === SO.REUSEADDR) {
      if (r.listener !== undefined) r.listener.reuseAddr = on;
      if (r.tcp !== undefined) r.tcp.reuseAddr = on;
    } else if (level === SOL_SOCKET && name === SO.KEEPALIVE) r.tcp?.setKeepAlive(on);
    else if (level === SOL_SOCKET && (name === SO.SNDBUF || name === SO.RCVBUF) && q.c > 0) {
      r.tcp?.setBufferSizes(name === SO.SNDBUF ? q.c : undefined, name === SO.RCVBUF ? q.c : undefined);
    } else if (level === IPPROTO_TCP && name === TCP_NODELAY) {
      r.tcp?.setNoDelay(on);
      if (r.listener !== undefined) r.listener.noDelay = on;
    }
    this.reply({ seq: q.seq, err: 0 });
  }

  private getopt(q: Request): void {
    const r = this.rec(q);
    if (r === undefined) return;
    const level = q.a;
    const name = q.b;
    let val: number | undefined;
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO.ERROR:
          val = r.soError === null ? 0 : LINUX_ERRNO[r.soError];
          // A failed non-blocking connect is done once its error is read (its backing socket is gone).
          if (r.soError !== null && r.tcp === undefined && !r.listening) this.closeRec(r);
          r.soError = null;
          break;
        case SO.TYPE:
          val = r.type;
          break;
        case SO.DOMAIN:
          val = r.family;
          break;
        case SO.PROTOCOL:
          val = 6; // IPPROTO_TCP
          break;
        case SO.ACCEPTCONN:
          val = r.listening ? 1 : 0;
          break;
        case SO.SNDBUF:
          val = r.tcp?.cb.sndBufSize ?? this.opt(r, level, name) ?? 65536;
          break;
        case SO.RCVBUF:
          val = r.tcp?.cb.rcvBufSize ?? this.opt(r, level, name) ?? 65536;
          break;
      }
    } else if (level === IPPROTO_TCP && name === TCP_MAXSEG) {
      val = this.opt(r, level, name) ?? 1460;
    } else if (level === IPPROTO_IPV6 && r.family === AF_INET6) {
      if (name === IPV6.V6ONLY) val = (this.opt(r, level, name) ?? (v6onlyDefault(this.image) ? 1 : 0)) !== 0 ? 1 : 0;
      else val = ipv6Opt(this.image, name, undefined, this.opt(r, level, name))[1];
    } else if (level !== IPPROTO_IP && level !== IPPROTO_TCP && !(level === IPPROTO_IPV6 && r.family === AF_INET6)) {
      return this.reply({ seq: q.seq, err: LINUX_ERRNO.ENOPROTOOPT });
    }
    this.reply({ seq: q.seq, err: 0, val: val ?? this.opt(r, level, name) ?? 0 });
  }

  /** The caller of request `seq` went away (a signal): stop a connect, forget an accept. */
  private cancel(seq: number): void {
    for (const r of this.recs.values()) {
      if (r.connecting?.seq === seq) r.connecting.abort.abort();
      const i = r.waiters.findIndex((w) => w.seq === seq);
      if (i >= 0) r.waiters.splice(i, 1);
    }
  }

  private drop(id: number): void {
    const r = this.recs.get(id);
    if (r !== undefined) this.closeRec(r);
  }

  private closeRec(r: Rec): void {
    this.recs.delete(r.id);
    r.connecting?.abort.abort();
    this.releaseListener(r);
    for (const t of r.ready) t.destroy();
    r.ready.length = 0;
    r.waiters.length = 0;
    const chan = r.chan;
    r.chan = undefined;
    chan?.destroy();
    r.room?.();
  }

  /** The backing socket of `id` arrived (an upgraded control-socket connection). */
  attach(id: number, sock: Socket, head: Uint8Array): void {
    sock.pause(); // whoever takes it resumes it once listening
    sock.on('error', () => {});
    if (this.closed) {
      sock.destroy();
      return;
    }
    if (id === CHAN_ID) {
      this.dgram.attach(sock, head);
      return;
    }
    const w = this.attachWaiters.get(id);
    if (w !== undefined) {
      this.attachWaiters.delete(id);
      w({ sock, head });
      return;
    }
    this.arrived.get(id)?.sock.destroy();
    this.arrived.set(id, { sock, head });
    sock.once('close', () => {
      if (this.arrived.get(id)?.sock !== sock) return;
      // The program closed a socket that never got going (a failed connect, a bound one): forget it.
      this.arrived.delete(id);
      const r = this.recs.get(id);
      if (r !== undefined && r.tcp === undefined && !r.listening && r.soError === null) this.closeRec(r);
    });
  }

  private dataConn(id: number): Promise<{ sock: Socket; head: Uint8Array } | null> {
    const c = this.arrived.get(id);
    if (c !== undefined) {
      this.arrived.delete(id);
      return Promise.resolve(c);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.attachWaiters.delete(id);
        resolve(null);
      }, ATTACH_TIMEOUT_MS);
      timer.unref();
      this.attachWaiters.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }

  /** The supervisor is gone: listeners and unaccepted connections go; connected sockets end with their programs. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dgram.close();
    for (const r of [...this.recs.values()]) if (r.tcp === undefined) this.closeRec(r);
    for (const c of this.arrived.values()) c.sock.destroy();
    this.arrived.clear();
    for (const w of this.attachWaiters.values()) w(null);
    this.attachWaiters.clear();
  }

  /** Sockets this session holds (tests, diagnostics). */
  get size(): number {
    return this.recs.size;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
