/**
 * Socket errors as FreeBSD names and prints them. The socket API (control
 * side: bind, connect, send, receive) reports a failure by throwing a
 * `SocketError` whose `code` is the errno name, as Node's net and dgram do;
 * the packet path never throws, it records the errno on the socket
 * (`so_error`) and the next call reports it.
 */

import type { Vnet } from '../net/vnet.js';

export const ERRNO_TEXT = {
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: "Can't assign requested address",
  EACCES: 'Permission denied',
  EAFNOSUPPORT: 'Address family not supported by protocol family',
  EALREADY: 'Operation already in progress',
  ECONNABORTED: 'Software caused connection abort',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EDESTADDRREQ: 'Destination address required',
  EHOSTDOWN: 'Host is down',
  EHOSTUNREACH: 'No route to host',
  EINVAL: 'Invalid argument',
  EISCONN: 'Socket is already connected',
  EMSGSIZE: 'Message too long',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ENOBUFS: 'No buffer space available',
  EMFILE: 'Too many open files',
  ENOPROTOOPT: 'Protocol not available',
  ENOTCONN: 'Socket is not connected',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Operation timed out',
  EBADF: 'Bad file descriptor',
  ENOENT: 'No such file or directory',
} as const;

export type Errno = keyof typeof ERRNO_TEXT;

export class SocketError extends Error {
  readonly code: Errno;
  /** Which call failed (bind, connect, send, ...). */
  readonly syscall: string;

  constructor(code: Errno, syscall: string) {
    super(ERRNO_TEXT[code]);
    this.name = 'SocketError';
    this.code = code;
    this.syscall = syscall;
  }
}

export function strerror(code: Errno): string {
  return ERRNO_TEXT[code];
}

/** FreeBSD's inetctlerrmap: the errno an ICMP error reports to a socket. */
export function icmpErrno(type: number, code: number): Errno | undefined {
  switch (type) {
    case 3: // unreachable
      switch (code) {
        case 0: // net
        case 1: // host
        case 5: // source route failed
        case 6:
        case 7:
        case 8:
        case 9:
        case 10:
        case 11:
        case 12:
          return 'EHOSTUNREACH';
        case 2: // protocol
        case 3: // port
          return 'ECONNREFUSED';
        case 4:
          return 'EMSGSIZE';
        case 13: // administratively prohibited
          return 'EHOSTUNREACH';
        default:
          return undefined;
      }
    case 11: // time exceeded in transit
      return code === 0 ? 'EHOSTUNREACH' : undefined;
    case 12: // parameter problem
      return 'ENOPROTOOPT';
    default:
      return undefined;
  }
}

declare module '../net/vnet.js' {
  interface Vnet {
    /** Open sockets of programs in this image; destroying the image closes them. */
    readonly sockets: Set<{ close(): void }>;
  }
}

/** A new socket in `im`, unless the daemon's limit on sockets per image is reached (EMFILE). */
export function socketRoom(im: Vnet): void {
  if (im.sockets.size >= im.limits.sockets) throw new SocketError('EMFILE', 'socket');
}
