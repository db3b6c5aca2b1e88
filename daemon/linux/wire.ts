/**
 * The wire between vimaged and vimage-supervisor (native/supervisor.h is
 * the other half; keep the two in step). Fixed 32-byte little-endian
 * frames after an HTTP upgrade of a control-socket connection:
 *
 *   request  seq u32 | op u16 | type u16 | id u32 | addr u32 | port u16 | flags u16 | a i32 | b i32 | c i32
 *   reply    seq u32 | err i32 | addr u32 | port u16 | flags u16 | val i32 | pad 12
 *   hello    magic u32 | version u16 | pad u16 | pid u32 | key 16 bytes | pad 4
 *
 * Addresses are IPv4 as host-order numbers (the stack's own form); errors
 * are Linux errno numbers, since the program is a Linux program. An
 * AF_INET6 socket's addresses (IPv6, or IPv4 v4-mapped) go as a 24-byte
 * trailer right after the frame, flagged ADDR6 (request), REP_ADDR6
 * (reply) or DG_FLAG.ADDR6 (datagram header, before the payload):
 *
 *   addr6     address 16 bytes | scope id u32 (the image's ifindex) | flowinfo u32 (network order, as in sockaddr_in6)
 *
 * Datagram sockets (UDP, NETLINK_ROUTE) share one more data connection per
 * session, the datagram channel (id CHAN_ID), carrying frames of a 20-byte
 * header and a payload:
 *
 *   datagram  len u32 | id u32 | seq u32 | addr u32 | port u16 | flags u16 | payload (len bytes)
 *
 * See DG_FLAG for what flags mean each way.
 */

import type { Errno } from '../../lib/socket/errno.js';

export const FRAME_SIZE = 32;
export const MAGIC = 0x414d4956; // "VIMA"
export const VERSION = 1;
export const AGENT_UPGRADE = 'vimage-agent';
export const DATA_UPGRADE = 'vimage-data';

export const OP = {
  BIND: 1,
  CONNECT: 2,
  LISTEN: 3,
  ACCEPT: 4,
  NAME: 5,
  SETOPT: 6,
  GETOPT: 7,
  CANCEL: 8,
  CLOSE: 9,
  /** a = a host pid, b = PID_ROLE; no reply (daemon/linux/procs.ts). */
  PID: 10,
  /**
   * Make the image's datagram socket: a = IPPROTO_UDP, NETLINK_ROUTE_PROTO,
   * IPPROTO_ICMP (a ping socket) or, with b = SOCK_RAW, a raw socket's protocol
   * (daemon/linux/icmp.ts); b = the program's socket type (0 is taken as SOCK_DGRAM).
   */
  DGRAM: 11,
} as const;

/** Roles of a pid reported with OP.PID. */
export const PID_ROLE = { PROGRAM: 0, SUPERVISOR: 1 } as const;

/** OP.DGRAM's `a` for socket(AF_NETLINK, ..., NETLINK_ROUTE). */
export const NETLINK_ROUTE_PROTO = 0x10000;
/** OP.CONNECT flag: to AF_UNSPEC, i.e. forget the peer (datagram sockets). */
export const UNSPEC = 4;

/** The datagram channel's id in a data connection's URL. */
export const CHAN_ID = 0xffffffff;
export const DG_HEADER = 20;
/** Largest payload of one channel frame (the supervisor's VSA_DG_MAX). */
export const DG_MAX = 256 * 1024;

export const DG_FLAG = {
  /** To the daemon: answer with a STATUS frame of the same seq (a trapped sendto/sendmsg). */
  ACK: 1,
  /** To the daemon: to the connected peer (a plain send/write); for netlink, addr is the port id. */
  NOADDR: 2,
  /** To the daemon: an interface ioctl; addr = request, payload = struct ifreq (SIOCGIFCONF: u32 room). */
  IOCTL: 4,
  /** From the daemon: answer to seq; addr = Linux errno (0: done); payload = the ioctl's result. */
  STATUS: 8,
  /** From the daemon: socket id has a pending error (ICMP); addr = Linux errno; payload: an error-queue entry (ping sockets, icmp.ts ERRQ_HEADER) or nothing. */
  ERROR: 16,
  /** To the daemon: setsockopt in order with the socket's datagrams (ICMP and raw sockets); addr = level, port = name, payload = i32 value; with ACK. */
  SETOPT: 32,
  /** Either way: an ADDR6_SIZE trailer (the AF_INET6 address) follows the header, before the payload; addr unused. */
  ADDR6: 64,
} as const;

/** An AF_INET6 socket address as the trailer carries it. */
export interface Addr6 {
  addr: Uint8Array;
  scope: number;
  flow: number;
}
export const ADDR6_SIZE = 24;
/** Request flag: an addr6 trailer follows. */
export const ADDR6 = 8;
/** Reply flag: an addr6 trailer follows. */
export const REP_ADDR6 = 1;

export function decodeAddr6(b: Uint8Array, off: number): Addr6 {
  const v = new DataView(b.buffer, b.byteOffset + off, ADDR6_SIZE);
  return { addr: b.slice(off, off + 16), scope: v.getUint32(16, true), flow: v.getUint32(20, true) };
}

function putAddr6(b: Uint8Array, off: number, a: Addr6): void {
  const v = new DataView(b.buffer, b.byteOffset + off, ADDR6_SIZE);
  b.set(a.addr.subarray(0, 16), off);
  v.setUint32(16, a.scope >>> 0, true);
  v.setUint32(20, a.flow >>> 0, true);
}

export interface DgHeader {
  /** Payload bytes (after the header and, with DG_FLAG.ADDR6, the addr6 trailer). */
  len: number;
  id: number;
  seq: number;
  addr: number;
  port: number;
  flags: number;
}

/** The header at b[off] (the caller checked that DG_HEADER bytes are there). */
export function decodeDg(b: Uint8Array, off: number): DgHeader {
  const v = new DataView(b.buffer, b.byteOffset + off, DG_HEADER);
  return { len: v.getUint32(0, true), id: v.getUint32(4, true), seq: v.getUint32(8, true), addr: v.getUint32(12, true), port: v.getUint16(16, true), flags: v.getUint16(18, true) };
}

/** Bytes between a datagram header and its payload. */
export function dgTrailer(flags: number): number {
  return (flags & DG_FLAG.ADDR6) !== 0 ? ADDR6_SIZE : 0;
}

/** One frame: header, the addr6 trailer when a6 is given, and payload in one buffer (one write). */
export function encodeDg(id: number, seq: number, addr: number, port: number, flags: number, payload?: Uint8Array, a6?: Addr6): Uint8Array {
  const n = payload?.length ?? 0;
  const x = a6 !== undefined ? ADDR6_SIZE : 0;
  const b = new Uint8Array(DG_HEADER + x + n);
  const v = new DataView(b.buffer);
  v.setUint32(0, n, true);
  v.setUint32(4, id >>> 0, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, addr >>> 0, true);
  v.setUint16(16, port & 0xffff, true);
  v.setUint16(18, (flags | (a6 !== undefined ? DG_FLAG.ADDR6 : 0)) & 0xffff, true);
  if (a6 !== undefined) putAddr6(b, DG_HEADER, a6);
  if (payload !== undefined) b.set(payload, DG_HEADER + x);
  return b;
}

/** Linux's numbering of what socket calls carry (socket.h, in.h), shared by the stream and datagram sessions. */
export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
/** IPPROTO_IPV6 options (Linux's in6.h numbering). */
export const IPV6 = { UNICAST_HOPS: 16, MULTICAST_IF: 17, MULTICAST_HOPS: 18, MULTICAST_LOOP: 19, RECVERR: 25, V6ONLY: 26, RECVPKTINFO: 49, PKTINFO: 50, RECVHOPLIMIT: 51, HOPLIMIT: 52, TCLASS: 67, RECVTCLASS: 66, MTU_DISCOVER: 23, ADDR_PREFERENCES: 72 } as const;
export const AF_INET = 2;
export const AF_INET6 = 10;
/** SOL_SOCKET options. */
export const SO = { REUSEADDR: 2, TYPE: 3, ERROR: 4, BROADCAST: 6, SNDBUF: 7, RCVBUF: 8, KEEPALIVE: 9, REUSEPORT: 15, ACCEPTCONN: 30, PROTOCOL: 38, DOMAIN: 39 } as const;

export const NONBLOCK = 1;
/** An AF_INET6 socket: an IPv6 socket of the image (IPv4 peers as v4-mapped addresses). */
export const INET6 = 2;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;

export interface Request {
  seq: number;
  op: number;
  type: number;
  id: number;
  addr: number;
  port: number;
  flags: number;
  a: number;
  b: number;
  c: number;
  /** The addr6 trailer (flags has ADDR6). */
  a6?: Addr6;
}

export interface Reply {
  seq: number;
  err: number;
  addr?: number;
  port?: number;
  val?: number;
  /** An AF_INET6 socket's address: sent as the addr6 trailer (REP_ADDR6). */
  a6?: Addr6;
}

/** The request at b[off] (FRAME_SIZE bytes there, and its trailer when requestSize says so). */
export function decodeRequest(b: Uint8Array, off = 0): Request {
  const v = new DataView(b.buffer, b.byteOffset + off, FRAME_SIZE);
  const flags = v.getUint16(18, true);
  const q: Request = {
    seq: v.getUint32(0, true),
    op: v.getUint16(4, true),
    type: v.getUint16(6, true),
    id: v.getUint32(8, true),
    addr: v.getUint32(12, true),
    port: v.getUint16(16, true),
    flags: v.getUint16(18, true),
    a: v.getInt32(20, true),
    b: v.getInt32(24, true),
    c: v.getInt32(28, true),
  };
  if ((flags & ADDR6) !== 0 && b.length - off >= FRAME_SIZE + ADDR6_SIZE) q.a6 = decodeAddr6(b, off + FRAME_SIZE);
  return q;
}

/** Bytes the request starting at b[off] takes (the caller checked FRAME_SIZE are there). */
export function requestSize(b: Uint8Array, off: number): number {
  const flags = b[off + 18]! | (b[off + 19]! << 8);
  return (flags & ADDR6) !== 0 ? FRAME_SIZE + ADDR6_SIZE : FRAME_SIZE;
}

export function encodeRequest(r: Request): Uint8Array {
  const b = new Uint8Array(FRAME_SIZE + (r.a6 !== undefined ? ADDR6_SIZE : 0));
  const v = new DataView(b.buffer);
  v.setUint32(0, r.seq, true);
  v.setUint16(4, r.op, true);
  v.setUint16(6, r.type, true);
  v.setUint32(8, r.id, true);
  v.setUint32(12, r.addr, true);
  v.setUint16(16, r.port, true);
  v.setUint16(18, r.flags, true);
  v.setInt32(20, r.a, true);
  v.setInt32(24, r.b, true);
  v.setInt32(28, r.c, true);
  if (r.a6 !== undefined) {
    v.setUint16(18, r.flags | ADDR6, true);
    putAddr6(b, FRAME_SIZE, r.a6);
  }
  return b;
}

export function encodeReply(r: Reply): Uint8Array {
  const b = new Uint8Array(FRAME_SIZE + (r.a6 !== undefined ? ADDR6_SIZE : 0));
  const v = new DataView(b.buffer);
  v.setUint32(0, r.seq >>> 0, true);
  v.setInt32(4, r.err, true);
  v.setUint32(8, (r.addr ?? 0) >>> 0, true);
  v.setUint16(12, r.port ?? 0, true);
  v.setInt32(16, r.val ?? 0, true);
  if (r.a6 !== undefined) {
    v.setUint16(14, REP_ADDR6, true);
    putAddr6(b, FRAME_SIZE, r.a6);
  }
  return b;
}

export function decodeReply(b: Uint8Array, off = 0): Required<Omit<Reply, 'a6'>> & { a6?: Addr6 } {
  const v = new DataView(b.buffer, b.byteOffset + off, FRAME_SIZE);
  const r: Required<Omit<Reply, 'a6'>> & { a6?: Addr6 } = { seq: v.getUint32(0, true), err: v.getInt32(4, true), addr: v.getUint32(8, true), port: v.getUint16(12, true), val: v.getInt32(16, true) };
  if ((v.getUint16(14, true) & REP_ADDR6) !== 0 && b.length - off >= FRAME_SIZE + ADDR6_SIZE) r.a6 = decodeAddr6(b, off + FRAME_SIZE);
  return r;
}

export function encodeHello(pid: number, key: Uint8Array): Uint8Array {
  const b = new Uint8Array(FRAME_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, VERSION, true);
  v.setUint32(8, pid, true);
  b.set(key.subarray(0, 16), 12);
  return b;
}

/** Linux errno numbers (asm-generic/errno.h) for the errors the image's sockets raise. */
export const LINUX_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  ENODEV: 19,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EFAULT: 14,
  EINVAL: 22,
  EMFILE: 24,
  EPIPE: 32,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
} as const;

export type LinuxErrno = keyof typeof LINUX_ERRNO;

/** The Linux number of a socket error of the image (every FreeBSD name the stack uses exists on Linux). */
export function linuxErrno(code: Errno | LinuxErrno): number {
  return LINUX_ERRNO[code];
}
