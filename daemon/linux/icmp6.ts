/**
 * ICMPv6 datagram ("ping") sockets of Linux programs:
 * socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6), which iputils `ping -6`
 * opens as a user. They ride the datagram channel as UDP does (dgram.ts
 * owns the channel and hands each socket's calls here), over an ICMPv6
 * endpoint of the image's control surface (ImageControl.inet6.icmp6Socket).
 *
 * As Linux's ping_v6_sendmsg: the program writes an echo request (header
 * and data); the socket's identifier (chosen at bind, connect or the first
 * send, unique among the image's ICMPv6 ping sockets) goes into it and the
 * image computes the checksum. Only echo replies carrying the identifier
 * come back, without the IPv6 header, with the hop limit they arrived
 * with in the frame's port field (the supervisor's IPV6_HOPLIMIT control
 * message). IPV6_UNICAST_HOPS sets the hop limit of what it sends.
 * v4-mapped destinations are EINVAL, as on Linux. Not built: ICMPv6
 * errors on the error queue (IPV6_RECVERR is accepted; an error quoting
 * an echo request is not reported, the request just goes unanswered).
 * Hostile input never throws out: every call answers a Linux errno.
 */

import type { ImageControl } from '../../lib/control/index.js';
import type { Icmp6Socket } from '../../lib/control/inet6.js';
import { in6IsUnspecified, in6IsV4Mapped, parseIp6 } from '../../lib/wire/ipv6.js';
import { fromText, hopLimit, ipv6Opt } from './inet6.js';
import { type Addr6, AF_INET6, IPPROTO_ICMPV6, IPPROTO_IPV6, IPV6, LINUX_ERRNO, SOCK_DGRAM, SOL_SOCKET } from './wire.js';
import { solSocketOpt } from './icmp.js';

const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;
const ICMP6_MINLEN = 8;
/** Largest ICMPv6 message a ping socket sends (Linux: 0xffff). */
const PING_MAX = 0xffff;

/** A received echo reply for the program: the message (valid during the call), its source and hop limit. */
export type Icmp6Deliver = (src: Addr6, hlim: number, msg: Uint8Array) => void;

/** Identifiers in use by the ICMPv6 ping sockets of each image, by image name; an image with none has no entry. */
const identsByImage = new Map<string, Set<number>>();

/** Images with an entry in the identifier table (a test checks that closing the last ping socket removes it). */
export function icmp6IdentImages(): number {
  return identsByImage.size;
}

export class Icmp6PingSocket {
  readonly type = SOCK_DGRAM;
  readonly proto = IPPROTO_ICMPV6;
  ident = 0;
  private peer: Addr6 | null = null;
  private local: Addr6 | null = null;
  private hops = -1;
  private readonly opts = new Map<string, number>();
  private readonly ep: Icmp6Socket;

  constructor(
    private readonly image: ImageControl,
    deliver: Icmp6Deliver,
  ) {
    this.ep = image.inet6.icmp6Socket();
    this.ep.onMessage((msg, from, hlim) => {
      if (this.ident === 0 || msg.length < ICMP6_MINLEN || msg[0] !== ECHO_REPLY) return;
      if (((msg[4]! << 8) | msg[5]!) !== this.ident) return;
      const src = fromText(this.image, from, parseIp6);
      if (src !== undefined) deliver(src, hlim, msg);
    });
  }

  private get used(): Set<number> {
    let s = identsByImage.get(this.image.name);
    if (s === undefined) {
      s = new Set();
      identsByImage.set(this.image.name, s);
    }
    return s;
  }

  private takeIdent(want: number): number {
    const used = this.used;
    if (want !== 0) {
      if (used.has(want)) return LINUX_ERRNO.EADDRINUSE;
      used.add(want);
      this.ident = want;
      return 0;
    }
    for (let i = 0; i < 0xffff; i++) {
      const id = 1 + Math.floor(Math.random() * 0xffff);
      if (!used.has(id)) {
        used.add(id);
        this.ident = id;
        return 0;
      }
    }
    return LINUX_ERRNO.EAGAIN;
  }

  /** The interface name of a scope id (an ifindex of the image), or undefined. */
  private zone(scope: number): string | undefined {
    if (scope === 0) return undefined;
    return this.image.interfaces.list().find((i) => i.index === scope)?.name;
  }

  bind(a: Addr6 | undefined, port: number): number {
    if (a === undefined || in6IsV4Mapped(a.addr)) return LINUX_ERRNO.EINVAL;
    if (this.ident !== 0) return LINUX_ERRNO.EINVAL;
    if (!in6IsUnspecified(a.addr)) {
      // The address must be one of the image's (the source of what it sends).
      const mine = this.image.inet6.selectSource(a.addr, this.zone(a.scope));
      if (mine === undefined || !sameText(mine, a.addr)) return LINUX_ERRNO.EADDRNOTAVAIL; // an own address is its own source
      this.local = a;
    }
    const err = this.takeIdent(port);
    if (err !== 0) this.local = null;
    return err;
  }

  connect(a: Addr6 | undefined, unspec: boolean): number {
    if (unspec) {
      this.peer = null;
      return 0;
    }
    if (a === undefined || in6IsV4Mapped(a.addr)) return LINUX_ERRNO.EINVAL;
    this.peer = a;
    return this.ident === 0 ? this.takeIdent(0) : 0;
  }

  /** getsockname/getpeername: [errno, address, port (the identifier)]. */
  name(peer: boolean): [number, Addr6 | undefined, number] {
    if (peer) return this.peer === null ? [LINUX_ERRNO.ENOTCONN, undefined, 0] : [0, this.peer, 0];
    return [0, this.local ?? { addr: new Uint8Array(16), scope: 0, flow: 0 }, this.ident];
  }

  /** sendto/sendmsg/write: `data` (a view we may change) to `to`, or the peer. 0 or a Linux errno. */
  send(data: Uint8Array, to: Addr6 | undefined): number {
    const dst = to ?? this.peer;
    if (dst === null) return LINUX_ERRNO.EDESTADDRREQ;
    if (in6IsV4Mapped(dst.addr)) return LINUX_ERRNO.EINVAL;
    if (data.length > PING_MAX) return LINUX_ERRNO.EMSGSIZE;
    if (data.length < ICMP6_MINLEN || data[0] !== ECHO_REQUEST || data[1] !== 0) return LINUX_ERRNO.EINVAL;
    if (this.ident === 0) {
      const e = this.takeIdent(0);
      if (e !== 0) return e;
    }
    data[4] = this.ident >>> 8;
    data[5] = this.ident & 0xff;
    data[2] = 0;
    data[3] = 0;
    const zone = this.zone(dst.scope);
    if (dst.scope !== 0 && zone === undefined) return LINUX_ERRNO.ENODEV;
    const r = this.ep.send(dst.addr, data, {
      ...(zone !== undefined ? { zone } : {}),
      ...(this.hops >= 0 ? { hlim: this.hops } : {}),
      ...(this.local !== null ? { src: this.local.addr } : {}),
    });
    if (r === 0) return 0;
    return (LINUX_ERRNO as Record<string, number>)[r] ?? LINUX_ERRNO.ENETUNREACH;
  }

  setopt(level: number, name: number, val: number): number {
    if (level === IPPROTO_IPV6) {
      if (name === IPV6.UNICAST_HOPS) {
        if (val < -1 || val > 255) return LINUX_ERRNO.EINVAL;
        this.hops = val;
      } else if (name === IPV6.RECVHOPLIMIT || name === IPV6.RECVERR || name === IPV6.MTU_DISCOVER || name === IPV6.V6ONLY) {
        // RECVHOPLIMIT: the supervisor adds the control message; the rest are kept.
      } else if (name === IPV6.TCLASS) {
        const [err] = ipv6Opt(this.image, name, val, undefined);
        if (err !== 0) return err;
      } else {
        return LINUX_ERRNO.ENOPROTOOPT;
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

  getopt(level: number, name: number): [number, number] {
    if (level === SOL_SOCKET) return solSocketOpt(this.opts, name, SOCK_DGRAM, AF_INET6, IPPROTO_ICMPV6);
    if (level === IPPROTO_IPV6) {
      if (name === IPV6.UNICAST_HOPS) return [0, this.hops >= 0 ? this.hops : hopLimit(this.image)];
      return [0, this.opts.get(`${level}:${name}`) ?? 0];
    }
    return [LINUX_ERRNO.ENOPROTOOPT, 0];
  }

  close(): void {
    if (this.ident !== 0) {
      const used = this.used;
      used.delete(this.ident);
      // The entry lives as long as the image has ping sockets: a destroyed image's name leaves nothing behind.
      if (used.size === 0) identsByImage.delete(this.image.name);
    }
    this.ident = 0;
    this.ep.close();
  }
}

function sameText(text: string, a: Uint8Array): boolean {
  const b = parseIp6(text.split('%')[0]!);
  return b !== undefined && b.every((x, i) => x === a[i]);
}
