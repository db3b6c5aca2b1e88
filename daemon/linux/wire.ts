/**
 * The wire between vimaged and vimage-supervisor (native/supervisor.h is
 * the other half; keep the two in step). Fixed 32-byte little-endian
 * frames after an HTTP upgrade of a control-socket connection:
 *
 *   request  seq u32 | op u16 | type u16 | id u32 | addr u32 | port u16 | flags u16 | a i32 | b i32 | c i32
 *   reply    seq u32 | err i32 | addr u32 | port u16 | pad u16 | val i32 | pad 12
 *   hello    magic u32 | version u16 | pad u16 | pid u32 | key 16 bytes | pad 4
 *
 * Addresses are IPv4 as host-order numbers (the stack's own form); errors
 * are Linux errno numbers, since the program is a Linux program.
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
} as const;

/** Roles of a pid reported with OP.PID. */
export const PID_ROLE = { PROGRAM: 0, SUPERVISOR: 1 } as const;

export const NONBLOCK = 1;
/** An AF_INET6 socket (IPv4 through v4-mapped addresses; the image has no IPv6 yet). */
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
}

export interface Reply {
  seq: number;
  err: number;
  addr?: number;
  port?: number;
  val?: number;
}

export function decodeRequest(b: Uint8Array, off = 0): Request {
  const v = new DataView(b.buffer, b.byteOffset + off, FRAME_SIZE);
  return {
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
}

export function encodeRequest(r: Request): Uint8Array {
  const b = new Uint8Array(FRAME_SIZE);
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
  return b;
}

export function encodeReply(r: Reply): Uint8Array {
  const b = new Uint8Array(FRAME_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, r.seq >>> 0, true);
  v.setInt32(4, r.err, true);
  v.setUint32(8, (r.addr ?? 0) >>> 0, true);
  v.setUint16(12, r.port ?? 0, true);
  v.setInt32(16, r.val ?? 0, true);
  return b;
}

export function decodeReply(b: Uint8Array, off = 0): Required<Reply> {
  const v = new DataView(b.buffer, b.byteOffset + off, FRAME_SIZE);
  return { seq: v.getUint32(0, true), err: v.getInt32(4, true), addr: v.getUint32(8, true), port: v.getUint16(12, true), val: v.getInt32(16, true) };
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
