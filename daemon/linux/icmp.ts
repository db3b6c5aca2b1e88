/**
 * ICMP datagram sockets ("ping sockets") and raw IP sockets of Linux
 * programs, over the image's raw endpoints (lib/socket/raw.ts). They ride
 * the datagram channel as UDP does (dgram.ts owns the channel and hands
 * each socket's calls here); what differs is what goes in and out:
 *
 * - A ping socket, socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), takes an
 *   ICMP echo request (header and data) from the program; the image puts
 *   the socket's identifier (its "port", chosen at bind, connect or the
 *   first send, unique in the image) in the header and computes the
 *   checksum, as Linux's ping_v4_sendmsg does. It receives only echo
 *   replies carrying that identifier, without the IP header; the frame's
 *   port field carries the reply's TTL, which the supervisor turns into
 *   an IP_TTL control message (IP_RECVTTL). Linux's
 *   net.ipv4.ping_group_range does not apply: any user in an image may
 *   make one.
 * - A raw socket, socket(AF_INET, SOCK_RAW, proto), exists only for a
 *   caller with CAP_NET_RAW (the supervisor checks that, as the program's
 *   credentials are its own). It sends the program's bytes as the payload
 *   of an IP packet of its protocol (a whole packet with IP_HDRINCL, which
 *   IPPROTO_RAW implies) and receives every packet of that protocol the
 *   image delivers, IP header included; ICMP_FILTER (SOL_RAW) drops the
 *   ICMP types it names.
 *
 * An ICMP error quoting one of a ping socket's echo requests, when the
 * socket asked for IP_RECVERR, goes to the supervisor as an ERROR frame
 * with the entry for the socket's error queue (Linux's ping_err and
 * ip_icmp_error), so iputils ping prints "From ROUTER icmp_seq=N
 * Destination Net Unreachable". Not built: the error queue of raw sockets
 * (they see the errors as packets) and of UDP sockets, and POLLERR (the
 * program's descriptor is an AF_UNIX socket): the error is reported by the
 * next trapped call, as the supervisor reports UDP errors. Hostile input
 * never throws out: every call answers a Linux errno.
 */

import type { Ifnet } from '../../lib/net/if.js';
import { SocketError } from '../../lib/socket/errno.js';
import type { RawSocket } from '../../lib/socket/raw.js';
import { emitIcmpEcho, ICMP_MINLEN, ICMP_TYPE, IcmpPacket } from '../../lib/wire/icmp.js';
import { Ipv4Packet } from '../../lib/wire/ipv4.js';
import { AF_INET, IPPROTO_IP, LINUX_ERRNO, linuxErrno, SO, SOCK_DGRAM, SOL_SOCKET } from './wire.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_RAW = 255;
export const SOCK_RAW = 3;
/** Linux's SOL_RAW level and its one option. */
export const SOL_RAW = 255;
export const ICMP_FILTER = 1;
/** IPPROTO_IP options these sockets act on (Linux's in.h numbering). */
export const IP = { TOS: 1, TTL: 2, HDRINCL: 3, MTU_DISCOVER: 10 } as const;
const IP_PMTUDISC_DO = 2;
const IP_PMTUDISC_PROBE = 3;
/** Largest ICMP message a ping socket sends (Linux: 0xffff less the IP header). */
const PING_MAX = 0xffff - 20;

/** A received message for the program: bytes at buf[off, off+len) (valid during the call), its source and the TTL it arrived with. */
export type IcmpDeliver = (src: number, ttl: number, buf: Uint8Array, off: number, len: number) => void;
/** An error-queue entry for the program (ERRQ_HEADER bytes then the quoted ICMP message) and the Linux errno it raises. */
export type IcmpDeliverError = (errno: number, entry: Uint8Array) => void;

/**
 * An error-queue entry as the ERROR frame carries it, little-endian:
 * type u8 | code u8 | Linux errno u16 | info u32 | offender u32 | original destination u32 | the quoted ICMP message.
 */
export const ERRQ_HEADER = 16;
/** IP_RECVERR (Linux's in.h). */
const IP_RECVERR = 11;
/** Linux's icmp_err_convert: the errno of each destination-unreachable code. */
const UNREACH_ERRNO = [101, 113, 92, 111, 90, 95, 101, 112, 64, 101, 113, 101, 113, 113, 113, 113];
const EPROTO = 71;

/** Identifiers in use by ping sockets of one image, and where the next search starts (Linux's ping_port_rover). */
interface Idents {
  used: Set<number>;
  rover: number;
}

/** Per image, keyed by the image's stack object (which outlives sessions and control handles). */
const identsByImage = new WeakMap<object, Idents>();

function idents(raw: RawSocket): Idents {
  let s = identsByImage.get(raw.im);
  if (s === undefined) {
    s = { used: new Set(), rover: 0 };
    identsByImage.set(raw.im, s);
  }
  return s;
}

function errnoOf(e: unknown): number {
  return e instanceof SocketError && e.code in LINUX_ERRNO ? linuxErrno(e.code) : LINUX_ERRNO.EINVAL;
}

export class IcmpSocket {
  /** SOCK_DGRAM (a ping socket) or SOCK_RAW. */
  readonly type: number;
  readonly proto: number;
  /** A ping socket's identifier (0 until bound). */
  ident = 0;
  /** The peer given to connect (0: none). */
  peer = 0;
  /** ICMP_FILTER: bit t set drops ICMP type t (raw ICMP sockets). */
  filter = 0;
  /** Options kept for getsockopt (level:name -> value). */
  readonly opts = new Map<string, number>();
  private readonly ip = new Ipv4Packet();
  private readonly icmp = new IcmpPacket();
  private readonly inner = new Ipv4Packet();
  private readonly innerIcmp = new IcmpPacket();

  constructor(
    readonly raw: RawSocket,
    type: number,
    private readonly deliver: IcmpDeliver,
    private readonly deliverError?: IcmpDeliverError,
  ) {
    this.type = type;
    this.proto = raw.proto;
    if (raw.proto === IPPROTO_RAW) raw.hdrIncl = true; // Linux: IPPROTO_RAW implies IP_HDRINCL (and receives nothing)
    // The handler runs on the packet path: no allocation here beyond the frame the deliverer writes.
    raw.onPacket((buf, off, len, ifp) => this.input(buf, off, len, ifp));
  }

  get ping(): boolean {
    return this.type === SOCK_DGRAM;
  }

  private input(buf: Uint8Array, off: number, len: number, _ifp: Ifnet): void {
    const ip = this.ip.reset(buf, off, len);
    const hlen = ip.headerLen;
    if (hlen > len) return;
    const ttl = ip.ttl;
    const src = ip.src;
    if (this.ping) {
      const icp = this.icmp.reset(buf, off + hlen, len - hlen);
      if (!icp.checked() || this.ident === 0) return;
      if (icp.type === ICMP_TYPE.ECHO_REPLY) {
        if (icp.ident === this.ident) this.deliver(src, ttl, buf, off + hlen, len - hlen);
        return;
      }
      this.error(src, icp);
      return;
    }
    if (this.proto === IPPROTO_ICMP && this.filter !== 0) {
      // Linux's icmp_filter: a message too short to have a type is dropped too.
      if (len - hlen < 1) return;
      const t = buf[off + hlen]!;
      if (t < 32 && ((this.filter >>> t) & 1) !== 0) return;
    }
    this.deliver(src, ttl, buf, off, len);
  }

  /** An ICMP error at `icp` from `from`: queued for the program when it quotes one of our echo requests and IP_RECVERR is on (Linux's ping_err). */
  private error(from: number, icp: IcmpPacket): void {
    const d = this.deliverError;
    if (d === undefined || (this.opts.get(`${IPPROTO_IP}:${IP_RECVERR}`) ?? 0) === 0) return;
    const type = icp.type;
    const code = icp.code;
    let errno: number;
    if (type === ICMP_TYPE.UNREACH) errno = UNREACH_ERRNO[code] ?? LINUX_ERRNO.EHOSTUNREACH;
    else if (type === ICMP_TYPE.TIME_EXCEEDED) errno = LINUX_ERRNO.EHOSTUNREACH;
    else if (type === ICMP_TYPE.PARAM_PROB) errno = EPROTO;
    else return; // source quench, redirect and the rest: not errors for a ping socket
    const qoff = icp.quoteOffset;
    const qlen = icp.off + icp.len - qoff;
    const ip = this.inner.reset(icp.buf, qoff, qlen);
    if (qlen < 20 || ip.protocol !== IPPROTO_ICMP) return;
    const ihl = ip.headerLen;
    if (ihl < 20 || qlen - ihl < ICMP_MINLEN) return;
    const echo = this.innerIcmp.reset(icp.buf, qoff + ihl, qlen - ihl);
    if (echo.type !== ICMP_TYPE.ECHO || echo.ident !== this.ident) return;
    const quoted = qlen - ihl;
    const e = new Uint8Array(ERRQ_HEADER + quoted);
    const v = new DataView(e.buffer);
    e[0] = type;
    e[1] = code;
    v.setUint16(2, errno, true);
    v.setUint32(4, type === ICMP_TYPE.UNREACH && code === 4 ? icp.nextHopMtu : 0, true);
    v.setUint32(8, from >>> 0, true);
    v.setUint32(12, ip.dst >>> 0, true);
    e.set(icp.buf.subarray(qoff + ihl, qoff + qlen), ERRQ_HEADER);
    d(errno, e);
  }

  /** Take an identifier for a ping socket: `want`, or a free one (Linux's ping_get_port). 0 or a Linux errno. */
  private takeIdent(want: number): number {
    const ids = idents(this.raw);
    if (want !== 0) {
      if (ids.used.has(want)) return LINUX_ERRNO.EADDRINUSE;
      ids.used.add(want);
      this.ident = want;
      return 0;
    }
    for (let i = 0; i < 0xffff; i++) {
      ids.rover = (ids.rover % 0xffff) + 1;
      if (!ids.used.has(ids.rover)) {
        ids.used.add(ids.rover);
        this.ident = ids.rover;
        return 0;
      }
    }
    return LINUX_ERRNO.EAGAIN;
  }

  /** bind(2): the local address (an address of the image, or any) and, for a ping socket, the identifier. */
  bind(addr: number, port: number): number {
    if (this.ping && this.ident !== 0) return LINUX_ERRNO.EINVAL; // already bound
    try {
      this.raw.bind(addr);
    } catch (e) {
      return errnoOf(e);
    }
    if (!this.ping) return 0;
    const err = this.takeIdent(port);
    if (err !== 0) this.raw.bind(0); // Linux's ping_bind puts the source address back when the identifier is taken
    return err;
  }

  /** connect(2): the default destination (`unspec` forgets it); a ping socket gets its identifier now if it has none. */
  connect(addr: number, unspec: boolean): number {
    this.peer = unspec ? 0 : addr;
    // A connected raw socket hears only its peer (Linux's raw_v4_match); a ping socket matches replies by identifier alone.
    if (!this.ping) this.raw.connect(this.peer);
    if (unspec) return 0;
    return this.ping && this.ident === 0 ? this.takeIdent(0) : 0;
  }

  /** getsockname/getpeername: [errno, addr, port]; a raw socket's port is its protocol, as Linux's inet_getname shows it. */
  name(peer: boolean): [number, number, number] {
    if (peer) return this.peer === 0 ? [LINUX_ERRNO.ENOTCONN, 0, 0] : [0, this.peer, 0];
    return [0, this.raw.laddr, this.ping ? this.ident : this.proto];
  }

  /**
   * sendto/sendmsg/write: `data` (a view the caller lets us change) to
   * `addr`, or to the peer when `addr` is undefined. 0 or a Linux errno.
   */
  send(data: Uint8Array, addr: number | undefined): number {
    const dst = addr ?? this.peer;
    if (dst === 0 && addr === undefined) return LINUX_ERRNO.EDESTADDRREQ;
    if (this.ping) {
      // Linux's ping_common_sendmsg: an echo request header, nothing else.
      if (data.length > PING_MAX) return LINUX_ERRNO.EMSGSIZE;
      if (data.length < ICMP_MINLEN) return LINUX_ERRNO.EINVAL;
      const icp = this.icmp.reset(data, 0, data.length);
      if (icp.type !== ICMP_TYPE.ECHO || icp.code !== 0) return LINUX_ERRNO.EINVAL;
      if (this.ident === 0) {
        const e = this.takeIdent(0);
        if (e !== 0) return e;
      }
      emitIcmpEcho({ type: ICMP_TYPE.ECHO, code: 0, ident: this.ident, seq: icp.seq }, data, 0, data.length);
    } else if (this.raw.hdrIncl) {
      // Linux's raw_send_hdrinc: EINVAL for less than a header or a header length past the bytes; the total
      // length is always filled in (raw(7)), whatever the program wrote there. The rest is lib/socket/raw.ts's.
      if (data.length > 0xffff) return LINUX_ERRNO.EMSGSIZE;
      if (data.length < 20) return LINUX_ERRNO.EINVAL;
      const ip = this.ip.reset(data, 0, data.length);
      if (ip.headerLen > data.length) return LINUX_ERRNO.EINVAL;
      ip.totalLen = data.length;
    }
    try {
      this.raw.send(data, dst);
    } catch (e) {
      return errnoOf(e);
    }
    return 0;
  }

  /** setsockopt(2) at a level other than SOL_SOCKET's buffer bookkeeping: 0 or a Linux errno. */
  setopt(level: number, name: number, val: number): number {
    if (level === SOL_RAW) {
      if (this.ping) return LINUX_ERRNO.ENOPROTOOPT;
      if (name !== ICMP_FILTER) return LINUX_ERRNO.ENOPROTOOPT;
      if (this.proto !== IPPROTO_ICMP) return LINUX_ERRNO.EOPNOTSUPP;
      this.filter = val >>> 0;
      return 0;
    }
    if (level === IPPROTO_IP) {
      switch (name) {
        case IP.TTL:
          // Linux: 1..255, or -1 for the default.
          if (val === -1) this.raw.ttl = undefined;
          else if (val < 1 || val > 255) return LINUX_ERRNO.EINVAL;
          else this.raw.ttl = val;
          break;
        case IP.TOS:
          this.raw.tos = val & 0xff;
          break;
        case IP.HDRINCL:
          if (this.ping) return LINUX_ERRNO.ENOPROTOOPT;
          this.raw.hdrIncl = val !== 0 || this.proto === IPPROTO_RAW;
          break;
        case IP.MTU_DISCOVER:
          if (val < 0 || val > 5) return LINUX_ERRNO.EINVAL;
          this.raw.dontFrag = val === IP_PMTUDISC_DO || val === IP_PMTUDISC_PROBE;
          break;
        default:
          break; // IP_RECVERR, IP_RECVTTL, IP_RETOPTS, multicast...: kept for getsockopt
      }
      this.opts.set(`${level}:${name}`, val);
      return 0;
    }
    if (level === SOL_SOCKET) {
      this.opts.set(`${level}:${name}`, val);
      return 0;
    }
    return LINUX_ERRNO.ENOPROTOOPT;
  }

  /** getsockopt(2): [errno, value]. */
  getopt(level: number, name: number): [number, number] {
    if (level === SOL_SOCKET) return solSocketOpt(this.opts, name, this.type, AF_INET, this.proto);
    if (level === SOL_RAW) {
      if (this.ping || name !== ICMP_FILTER) return [LINUX_ERRNO.ENOPROTOOPT, 0];
      if (this.proto !== IPPROTO_ICMP) return [LINUX_ERRNO.EOPNOTSUPP, 0];
      return [0, this.filter | 0];
    }
    if (level === IPPROTO_IP) {
      switch (name) {
        case IP.TTL:
          return [0, this.raw.ttl ?? 64];
        case IP.TOS:
          return [0, this.raw.tos];
        case IP.HDRINCL:
          return this.ping ? [LINUX_ERRNO.ENOPROTOOPT, 0] : [0, this.raw.hdrIncl ? 1 : 0];
        default:
          return [0, this.opts.get(`${level}:${name}`) ?? 0];
      }
    }
    return [LINUX_ERRNO.ENOPROTOOPT, 0];
  }

  close(): void {
    if (this.ident !== 0) idents(this.raw).used.delete(this.ident);
    this.ident = 0;
    this.raw.close();
  }
}

/**
 * getsockopt(SOL_SOCKET, name) of an ICMP socket (IPv4 or IPv6): its type,
 * domain and protocol, no pending error, buffer sizes as Linux reports them
 * (it doubles what was asked for, as bookkeeping room), else what was set.
 */
export function solSocketOpt(opts: ReadonlyMap<string, number>, name: number, type: number, domain: number, proto: number): [number, number] {
  switch (name) {
    case SO.TYPE:
      return [0, type];
    case SO.DOMAIN:
      return [0, domain];
    case SO.PROTOCOL:
      return [0, proto];
    case SO.ERROR:
      return [0, 0];
    case SO.RCVBUF:
    case SO.SNDBUF: {
      const v = opts.get(`${SOL_SOCKET}:${name}`);
      return [0, v !== undefined && v > 0 ? Math.min(v, 1 << 24) * 2 : 212992];
    }
    default:
      return [0, opts.get(`${SOL_SOCKET}:${name}`) ?? 0];
  }
}
