/**
 * The datagram sockets of one agent session: UDP sockets of the image,
 * its ICMP ("ping") and raw sockets (icmp.ts) and NETLINK_ROUTE sockets
 * answered from it, plus the interface ioctls.
 *
 * The supervisor keeps each program's datagram descriptor as one end of a
 * SOCK_SEQPACKET pair and relays datagrams over the session's datagram
 * channel (one data connection, framed as wire.ts says), so boundaries and
 * per-datagram addresses survive. Control calls (OP.DGRAM, BIND, CONNECT,
 * NAME, SETOPT, GETOPT, CLOSE with type SOCK_DGRAM) come as agent requests
 * through Session, which hands them here (`serve`); setsockopt on an ICMP
 * or raw socket comes as a SETOPT frame on the channel instead, so that it
 * stays in order with the datagrams the program wrote before it.
 *
 * Each UDP socket has a receive loop that writes the image's datagrams to
 * the channel with their source; an ICMP error on a connected socket goes
 * as an ERROR frame (the supervisor reports it on the program's next
 * trapped call). When the supervisor cannot keep up (the channel's write
 * buffer is full) datagrams are dropped, as a full socket buffer drops
 * them. Hostile frames never throw: a length beyond DG_MAX closes the
 * channel, an unknown id is ignored.
 */

import type { Socket } from 'node:net';
import type { ImageControl } from '../../lib/control/index.js';
import type { Logger } from '../../lib/log.js';
import { SocketError } from '../../lib/socket/errno.js';
import type { UdpSocket } from '../../lib/socket/udp.js';
import { in6Equal } from '../../lib/wire/ipv6.js';
import { IcmpSocket, IPPROTO_ICMP, SOCK_RAW } from './icmp.js';
import { Icmp6PingSocket } from './icmp6.js';
import { fromEndpoint, ipv6Opt, mapped, named, sockArg, target } from './inet6.js';
import { ifconfAnswer, ifreqAnswer, netlinkAnswer } from './rtnetlink.js';
import { type Addr6, AF_INET, AF_INET6, decodeAddr6, decodeDg, DG_FLAG, DG_HEADER, DG_MAX, dgTrailer, encodeDg, INET6, IPPROTO_ICMPV6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP, IPV6, LINUX_ERRNO, linuxErrno, NETLINK_ROUTE_PROTO, OP, type Reply, type Request, SO, SOCK_DGRAM, SOL_SOCKET, UNSPEC } from './wire.js';

const IP_TTL = 2;
const SIOCGIFCONF = 0x8912;
/** Channel bytes the supervisor has not read yet beyond which datagrams from the image are dropped. */
const CHAN_HIGH_WATER = 4 << 20;
/** Datagram sockets one session may hold. */
const MAX_SOCKETS = 4096;

interface DgRec {
  id: number;
  family: number;
  netlink: boolean;
  udp?: UdpSocket;
  /** A ping socket or a raw socket (icmp.ts). */
  icmp?: IcmpSocket;
  /** An ICMPv6 ping socket (icmp6.ts). */
  icmp6?: Icmp6PingSocket;
  opts: Map<string, number>;
}

export class DgramSockets {
  private readonly recs = new Map<number, DgRec>();
  private chan: Socket | undefined;
  private buf = new Uint8Array(0);
  private closed = false;
  /** Datagrams from the image dropped because the supervisor lagged (diagnostics, tests). */
  dropped = 0;

  constructor(
    private readonly image: ImageControl,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.recs.size;
  }

  /** Whether request q is about one of ours (or makes one). */
  owns(q: Request): boolean {
    return q.op === OP.DGRAM || this.recs.has(q.id);
  }

  /** Serve an agent request about a datagram socket; the reply, or null for none. Throws SocketError as the call would fail. */
  serve(q: Request): Reply | null {
    if (q.op === OP.DGRAM) return this.open(q);
    const r = this.recs.get(q.id);
    if (r === undefined) return { seq: q.seq, err: LINUX_ERRNO.EBADF };
    switch (q.op) {
      case OP.CLOSE:
        this.drop(r);
        return null;
      case OP.CANCEL:
        return null;
      default:
        break;
    }
    if (r.icmp !== undefined) return this.serveIcmp(r.icmp, q);
    if (r.icmp6 !== undefined) return this.serveIcmp6(r.icmp6, q);
    const to = target(r.family, q); // an AF_INET6 socket's: the trailer as the image's socket API takes it
    switch (q.op) {
      case OP.BIND:
        if (r.udp === undefined) return { seq: q.seq, err: 0 };
        r.udp.reuseAddr = (r.opts.get(`${SOL_SOCKET}:${SO.REUSEADDR}`) ?? 0) !== 0;
        r.udp.reusePort = (r.opts.get(`${SOL_SOCKET}:${SO.REUSEPORT}`) ?? 0) !== 0;
        r.udp.bind(q.port, to);
        return { seq: q.seq, err: 0 };
      case OP.CONNECT:
        if (r.udp === undefined) return { seq: q.seq, err: 0 };
        if ((q.flags & UNSPEC) !== 0) r.udp.disconnect();
        else r.udp.connect(to, q.port);
        return { seq: q.seq, err: 0 };
      case OP.NAME: {
        if (r.udp === undefined) return { seq: q.seq, err: 0 };
        if (q.a !== 0 && !r.udp.connected) return { seq: q.seq, err: LINUX_ERRNO.ENOTCONN };
        return named(r.family, q.seq, q.a === 0 ? r.udp.address() : r.udp.remoteAddress());
      }
      case OP.SETOPT:
        return this.setopt(r, q);
      case OP.GETOPT:
        return this.getopt(r, q);
      default:
        return { seq: q.seq, err: LINUX_ERRNO.EOPNOTSUPP };
    }
  }

  private open(q: Request): Reply {
    if (this.recs.has(q.id)) return { seq: q.seq, err: LINUX_ERRNO.EINVAL };
    if (this.recs.size >= MAX_SOCKETS) return { seq: q.seq, err: LINUX_ERRNO.ENOBUFS };
    const netlink = q.a === NETLINK_ROUTE_PROTO;
    const r: DgRec = { id: q.id, family: (q.flags & INET6) !== 0 ? AF_INET6 : AF_INET, netlink, opts: new Map() };
    // b: the program's socket type (SOCK_RAW, or SOCK_DGRAM for UDP, ping and netlink sockets).
    const raw = !netlink && q.b === SOCK_RAW;
    if (!raw && q.a === IPPROTO_ICMPV6) {
      if (r.family !== AF_INET6) return { seq: q.seq, err: LINUX_ERRNO.EPROTONOSUPPORT };
      const id = q.id;
      r.icmp6 = new Icmp6PingSocket(this.image, (src, hlim, msg) => this.write(encodeDg(id, 0, 0, hlim, 0, msg, src)));
      this.recs.set(q.id, r);
      return { seq: q.seq, err: 0 };
    }
    if (raw || q.a === IPPROTO_ICMP) {
      // IPv4 only (no raw IPv6 sockets for programs yet); a raw socket's protocol is 1..255 (the supervisor checked CAP_NET_RAW).
      if (r.family !== AF_INET || q.a < 1 || q.a > 255) return { seq: q.seq, err: LINUX_ERRNO.EPROTONOSUPPORT };
      const id = q.id;
      r.icmp = new IcmpSocket(
        this.image.sockets.raw(q.a),
        raw ? SOCK_RAW : SOCK_DGRAM,
        (src, ttl, buf, off, len) => this.write(encodeDg(id, 0, src, ttl, 0, buf.subarray(off, off + len))),
        (errno, entry) => this.write(encodeDg(id, 0, errno, 0, DG_FLAG.ERROR, entry)),
      );
      this.recs.set(q.id, r);
      return { seq: q.seq, err: 0 };
    }
    if (!netlink && q.a !== IPPROTO_UDP && q.a !== 0) return { seq: q.seq, err: LINUX_ERRNO.EPROTONOSUPPORT };
    if (!netlink) {
      // An AF_INET6 one is an IPv6 socket of the image; IPV6_V6ONLY defaults to net.inet6.ip6.v6only until set.
      r.udp = this.image.sockets.udp(r.family === AF_INET6 ? { family: 6 } : undefined); // throws EMFILE past the image's socket limit
      void this.recvLoop(r, r.udp);
    }
    this.recs.set(q.id, r);
    return { seq: q.seq, err: 0 };
  }

  private serveIcmp(s: IcmpSocket, q: Request): Reply {
    switch (q.op) {
      case OP.BIND:
        return { seq: q.seq, err: s.bind(q.addr, q.port) };
      case OP.CONNECT:
        return { seq: q.seq, err: s.connect(q.addr, (q.flags & UNSPEC) !== 0) };
      case OP.NAME: {
        const [err, addr, port] = s.name(q.a !== 0);
        return { seq: q.seq, err, addr, port };
      }
      case OP.SETOPT:
        return { seq: q.seq, err: s.setopt(q.a, q.b, q.c) };
      case OP.GETOPT: {
        const [err, val] = s.getopt(q.a, q.b);
        return { seq: q.seq, err, val };
      }
      default:
        return { seq: q.seq, err: LINUX_ERRNO.EOPNOTSUPP };
    }
  }

  private serveIcmp6(s: Icmp6PingSocket, q: Request): Reply {
    switch (q.op) {
      case OP.BIND:
        return { seq: q.seq, err: s.bind(q.a6, q.port) };
      case OP.CONNECT:
        return { seq: q.seq, err: s.connect(q.a6, (q.flags & UNSPEC) !== 0) };
      case OP.NAME: {
        const [err, a6, port] = s.name(q.a !== 0);
        return a6 === undefined ? { seq: q.seq, err } : { seq: q.seq, err, port, a6 };
      }
      case OP.SETOPT:
        return { seq: q.seq, err: s.setopt(q.a, q.b, q.c) };
      case OP.GETOPT: {
        const [err, val] = s.getopt(q.a, q.b);
        return { seq: q.seq, err, val };
      }
      default:
        return { seq: q.seq, err: LINUX_ERRNO.EOPNOTSUPP };
    }
  }

  private setopt(r: DgRec, q: Request): Reply {
    const level = q.a;
    const name = q.b;
    if (level !== SOL_SOCKET && level !== IPPROTO_IP && level !== IPPROTO_UDP && !(level === IPPROTO_IPV6 && r.family === AF_INET6)) {
      return { seq: q.seq, err: LINUX_ERRNO.ENOPROTOOPT };
    }
    const u = r.udp;
    if (level === IPPROTO_IPV6 && name === IPV6.V6ONLY) {
      if (u !== undefined) u.v6only = q.c !== 0; // EINVAL once bound, as Linux
    } else if (level === IPPROTO_IPV6) {
      const [err] = ipv6Opt(this.image, name, q.c, undefined);
      if (err !== 0) return { seq: q.seq, err };
    }
    r.opts.set(`${level}:${name}`, q.c);
    if (u !== undefined && level === SOL_SOCKET) {
      if (name === SO.BROADCAST) u.broadcast = q.c !== 0;
      else if (name === SO.REUSEADDR) u.reuseAddr = q.c !== 0;
      else if (name === SO.REUSEPORT) u.reusePort = q.c !== 0;
      // Linux doubles the value asked for (bookkeeping room) and reports that.
      else if (name === SO.RCVBUF && q.c > 0) u.rcvBuf = Math.min(q.c, 1 << 24) * 2;
    }
    return { seq: q.seq, err: 0 };
  }

  private getopt(r: DgRec, q: Request): Reply {
    const level = q.a;
    const name = q.b;
    let val: number | undefined;
    if (level === SOL_SOCKET) {
      if (name === SO.TYPE) val = 2; // SOCK_DGRAM
      else if (name === SO.DOMAIN) val = r.family;
      else if (name === SO.PROTOCOL) val = IPPROTO_UDP;
      else if (name === SO.ERROR) val = 0; // pending errors are the supervisor's (ERROR frames)
      else if (name === SO.RCVBUF) val = r.udp?.rcvBuf ?? 212992;
      else if (name === SO.SNDBUF) val = Math.min(r.opts.get(`${level}:${name}`) ?? 106496, 1 << 24) * 2;
    } else if (level === IPPROTO_IP && name === IP_TTL) {
      val = r.opts.get(`${level}:${name}`) ?? 64; // kept, not applied: the image's UDP sends with its default TTL
    } else if (level === IPPROTO_IPV6 && r.family === AF_INET6) {
      if (name === IPV6.V6ONLY) val = r.udp?.v6only === true ? 1 : 0;
      else val = ipv6Opt(this.image, name, undefined, r.opts.get(`${level}:${name}`))[1];
    } else if (level !== IPPROTO_IP && level !== IPPROTO_UDP && !(level === IPPROTO_IPV6 && r.family === AF_INET6)) {
      return { seq: q.seq, err: LINUX_ERRNO.ENOPROTOOPT };
    }
    return { seq: q.seq, err: 0, val: val ?? r.opts.get(`${level}:${name}`) ?? 0 };
  }

  private async recvLoop(r: DgRec, u: UdpSocket): Promise<void> {
    for (;;) {
      let d;
      try {
        d = await u.recv();
      } catch (e) {
        // An ICMP error on a connected socket: the supervisor reports it on the next call.
        const code = e instanceof SocketError && e.code in LINUX_ERRNO ? linuxErrno(e.code) : LINUX_ERRNO.ECONNREFUSED;
        this.write(encodeDg(r.id, 0, code, 0, DG_FLAG.ERROR));
        continue;
      }
      if (d === null) return;
      if (r.family === AF_INET6) this.write(encodeDg(r.id, 0, 0, d.port, 0, d.data, fromEndpoint(d)));
      else this.write(encodeDg(r.id, 0, d.addr, d.port, 0, d.data));
    }
  }

  private write(frame: Uint8Array): void {
    const c = this.chan;
    if (c === undefined || c.destroyed || c.writableLength > CHAN_HIGH_WATER) {
      this.dropped++;
      return;
    }
    c.write(frame);
  }

  private drop(r: DgRec): void {
    this.recs.delete(r.id);
    r.udp?.close();
    r.icmp?.close();
    r.icmp6?.close();
  }

  /** The session's datagram channel arrived (a data connection with id CHAN_ID). */
  attach(sock: Socket, head: Uint8Array): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.chan?.destroy();
    this.chan = sock;
    this.buf = new Uint8Array(0);
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.chan === sock) this.chan = undefined;
    });
    sock.on('data', (c: Buffer) => this.input(c));
    if (head.length > 0) this.input(head);
    sock.resume();
  }

  /** Bytes from the channel: whole frames are served, a partial one waits. Never throws. */
  input(chunk: Uint8Array): void {
    const b = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    let off = 0;
    while (b.length - off >= DG_HEADER) {
      const h = decodeDg(b, off);
      if (h.len > DG_MAX) {
        this.log.warn({ len: h.len }, 'linux program: datagram channel sent an impossible frame; closing it');
        this.buf = new Uint8Array(0);
        this.chan?.destroy();
        return;
      }
      const x = dgTrailer(h.flags);
      if (b.length - off - DG_HEADER < x + h.len) break;
      const a6 = x !== 0 ? decodeAddr6(b, off + DG_HEADER) : undefined;
      const payload = b.subarray(off + DG_HEADER + x, off + DG_HEADER + x + h.len);
      off += DG_HEADER + x + h.len;
      try {
        this.frame(h.id, h.seq, h.addr, h.port, h.flags, payload, a6);
      } catch (e) {
        this.log.warn({ err: e }, 'linux program: datagram frame failed');
      }
    }
    this.buf = off === b.length ? new Uint8Array(0) : b.slice(off);
  }

  private frame(id: number, seq: number, addr: number, port: number, flags: number, payload: Uint8Array, a6?: Addr6): void {
    if ((flags & DG_FLAG.IOCTL) !== 0) return this.ioctl(seq, addr, payload);
    const r = this.recs.get(id);
    const ack = (flags & DG_FLAG.ACK) !== 0;
    if (r === undefined) {
      if (ack) this.write(encodeDg(id, seq, LINUX_ERRNO.EBADF, 0, DG_FLAG.STATUS));
      return;
    }
    if ((flags & DG_FLAG.SETOPT) !== 0) {
      const v = payload.length >= 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0, true) : 0;
      const q = { seq, op: OP.SETOPT, type: SOCK_DGRAM, id, addr: 0, port: 0, flags: 0, a: addr | 0, b: port, c: v };
      const err = r.icmp !== undefined ? r.icmp.setopt(q.a, q.b, q.c) : r.icmp6 !== undefined ? r.icmp6.setopt(q.a, q.b, q.c) : r.netlink ? 0 : this.setopt(r, q).err;
      if (ack) this.write(encodeDg(id, seq, err, 0, DG_FLAG.STATUS));
      return;
    }
    if (r.netlink) {
      for (const msg of splitNetlink(payload)) {
        for (const d of netlinkAnswer(this.image, msg, addr)) this.write(encodeDg(id, 0, 0, 0, 0, d));
      }
      if (ack) this.write(encodeDg(id, seq, 0, 0, DG_FLAG.STATUS));
      return;
    }
    if (r.icmp !== undefined) {
      // The payload is a view into the channel's chunk, ours to change (a ping socket writes its identifier and checksum).
      const err = r.icmp.send(payload, (flags & DG_FLAG.NOADDR) !== 0 ? undefined : addr);
      if (ack) this.write(encodeDg(id, seq, err, 0, DG_FLAG.STATUS));
      return;
    }
    if (r.icmp6 !== undefined) {
      const err = (flags & DG_FLAG.NOADDR) !== 0 ? r.icmp6.send(payload, undefined) : a6 === undefined ? LINUX_ERRNO.EINVAL : r.icmp6.send(payload, a6);
      if (ack) this.write(encodeDg(id, seq, err, 0, DG_FLAG.STATUS));
      return;
    }
    let err = 0;
    try {
      // The payload is a view into the channel's chunk; the image copies it into its packet.
      const u = r.udp!;
      if ((flags & DG_FLAG.NOADDR) !== 0) u.send(payload);
      else if (r.family === AF_INET6) {
        const to = a6 ?? mapped(addr);
        const peer = u.connected ? u.remoteAddress() : undefined;
        // Linux lets sendto name the peer of a connected socket.
        if (peer?.addr6 !== undefined && peer.port === port && in6Equal(peer.addr6, 0, to.addr, 0)) u.send(payload);
        else u.send(payload, sockArg(to), port);
      } else {
        const peer = u.remoteAddress();
        if (u.connected && peer.addr === addr && peer.port === port) u.send(payload);
        else u.send(payload, addr, port);
      }
    } catch (e) {
      err = e instanceof SocketError && e.code in LINUX_ERRNO ? linuxErrno(e.code) : LINUX_ERRNO.EINVAL;
    }
    if (ack) this.write(encodeDg(id, seq, err, 0, DG_FLAG.STATUS));
  }

  private ioctl(seq: number, request: number, payload: Uint8Array): void {
    let err = 0;
    let out: Uint8Array | undefined;
    try {
      if (request === SIOCGIFCONF) {
        const room = payload.length >= 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true) : 0;
        out = ifconfAnswer(this.image, Math.min(room, DG_MAX));
        if (out.length > DG_MAX) out = out.subarray(0, DG_MAX - (DG_MAX % 40));
      } else if (payload.length >= 40) {
        const a = ifreqAnswer(this.image, request, payload.slice(0, 40));
        err = a.err;
        out = a.ifreq;
      } else {
        err = LINUX_ERRNO.EFAULT;
      }
    } catch (e) {
      this.log.warn({ err: e }, 'linux program: interface ioctl failed');
      err = LINUX_ERRNO.ENODEV;
    }
    this.write(encodeDg(0, seq, err, 0, DG_FLAG.STATUS, err === 0 ? out : undefined));
  }

  /** The session ends: every datagram socket goes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.recs.values()) {
      r.udp?.close();
      r.icmp?.close();
      r.icmp6?.close();
    }
    this.recs.clear();
    this.chan?.destroy();
    this.chan = undefined;
  }
}

/** The netlink messages of one datagram (nlmsghdr.nlmsg_len, 4-byte aligned); a bad length ends the list. */
export function splitNetlink(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (b.length - off >= 16) {
    const len = new DataView(b.buffer, b.byteOffset + off, 4).getUint32(0, true);
    if (len < 16 || len > b.length - off) break;
    out.push(b.subarray(off, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
