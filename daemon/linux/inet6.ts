/**
 * What AF_INET6 sockets of Linux programs share between the stream
 * (session.ts) and datagram (dgram.ts, icmp6.ts) sides: the addr6 trailer
 * (wire.ts) turned into the image socket API's address argument and back,
 * and the IPPROTO_IPV6 options the image can answer.
 *
 * A program's AF_INET6 socket is an AF_INET6 socket of the image
 * (`{ family: 6 }`): dual stack, IPv4 peers as v4-mapped addresses, unless
 * IPV6_V6ONLY, whose default is the image's net.inet6.ip6.v6only (FreeBSD's
 * 1, not Linux's 0). A link-local address names its interface by the
 * image's ifindex (sin6_scope_id), as the program's netlink and
 * if_nametoindex see them. Options the image has no per-socket knob for
 * (a hop limit or traffic class other than the default, IPV6_PKTINFO
 * control messages) fail with ENOPROTOOPT rather than being pretended.
 */

import type { ImageControl } from '../../lib/control/index.js';
import type { Ifnet } from '../../lib/net/if.js';
import { in6IsScoped, ip6ToString } from '../../lib/wire/ipv6.js';
import type { SocketOptions } from '../../lib/socket/udp.js';
import { type Addr6, AF_INET6, IPV6, LINUX_ERRNO, type Reply, type Request } from './wire.js';

/** The address argument the image's socket API takes for trailer `a`: the bytes, or `fe80::1%IFINDEX` for a scoped one. */
export function sockArg(a: Addr6): Uint8Array | string {
  if (a.scope !== 0 && in6IsScoped(a.addr)) return `${ip6ToString(a.addr)}%${a.scope}`;
  return a.addr;
}

/** An image socket's options for a program's socket of `family`: AF_INET6 with IPV6_V6ONLY as set (else net.inet6.ip6.v6only). */
export function socketOptions(family: number, v6only: number | undefined): SocketOptions | undefined {
  if (family !== AF_INET6) return undefined;
  return v6only === undefined ? { family: 6 } : { family: 6, v6only: v6only !== 0 };
}

/** The address request q names, as the image's socket API takes it for a socket of `family`. */
export function target(family: number, q: Request): number | Uint8Array | string {
  if (family !== AF_INET6) return q.addr;
  return q.a6 !== undefined ? sockArg(q.a6) : mapped(q.addr).addr;
}

/** A reply naming endpoint `ep` of a socket of `family`: IPv4 in addr, an AF_INET6 socket's in the addr6 trailer. */
export function named(family: number, seq: number, ep: { addr: number; port: number; addr6?: Uint8Array; zone?: Ifnet | null }): Reply {
  if (family !== AF_INET6) return { seq, err: 0, addr: ep.addr, port: ep.port };
  return { seq, err: 0, port: ep.port, a6: fromEndpoint(ep) };
}

/** A v4-mapped trailer for IPv4 address `v4` (host order; 0 gives ::). */
export function mapped(v4: number): Addr6 {
  const addr = new Uint8Array(16);
  if (v4 !== 0) {
    addr[10] = 0xff;
    addr[11] = 0xff;
    addr[12] = v4 >>> 24;
    addr[13] = (v4 >>> 16) & 0xff;
    addr[14] = (v4 >>> 8) & 0xff;
    addr[15] = v4 & 0xff;
  }
  return { addr, scope: 0, flow: 0 };
}

/** The trailer for an endpoint the image reports (an AF_INET6 socket's: addr6 set, zone for a link-local one). */
export function fromEndpoint(e: { addr: number; addr6?: Uint8Array; zone?: Ifnet | null }): Addr6 {
  if (e.addr6 === undefined) return mapped(e.addr);
  return { addr: e.addr6, scope: e.zone != null && in6IsScoped(e.addr6) ? e.zone.index : 0, flow: 0 };
}

/** `fe80::1%tap0` as the image's control surface prints a source (ICMPv6 endpoints): the trailer, its zone as ifindex. */
export function fromText(image: ImageControl, text: string, parse: (t: string) => Uint8Array | undefined): Addr6 | undefined {
  const pct = text.indexOf('%');
  const addr = parse(pct < 0 ? text : text.slice(0, pct));
  if (addr === undefined) return undefined;
  let scope = 0;
  if (pct >= 0) {
    try {
      scope = image.interfaces.get(text.slice(pct + 1)).index;
    } catch {
      scope = 0;
    }
  }
  return { addr, scope, flow: 0 };
}

/** net.inet6.ip6.v6only: IPV6_V6ONLY of a socket that did not set it. */
export function v6onlyDefault(image: ImageControl): boolean {
  return (image.sysctl.get('net.inet6.ip6.v6only')?.value ?? 1) !== 0;
}

/** net.inet6.ip6.hlim: the hop limit every socket of the image sends with. */
export function hopLimit(image: ImageControl): number {
  return image.sysctl.get('net.inet6.ip6.hlim')?.value ?? 64;
}

/**
 * An IPPROTO_IPV6 option of a TCP or UDP socket other than IPV6_V6ONLY:
 * [errno, value to read back]. `set` is the value given to setsockopt, or
 * undefined for getsockopt; `kept` what an earlier setsockopt left.
 */
export function ipv6Opt(image: ImageControl, name: number, set: number | undefined, kept: number | undefined): [number, number] {
  switch (name) {
    case IPV6.UNICAST_HOPS: {
      // Linux: -1 is the route's default; the image has no per-socket hop limit, so only that, or the same number, is taken.
      const def = hopLimit(image);
      if (set !== undefined) return set === -1 || set === def ? [0, set] : [LINUX_ERRNO.ENOPROTOOPT, 0];
      return [0, def];
    }
    case IPV6.TCLASS:
      if (set !== undefined) return set === -1 || set === 0 ? [0, 0] : [LINUX_ERRNO.ENOPROTOOPT, 0];
      return [0, 0];
    case IPV6.RECVPKTINFO:
    case IPV6.PKTINFO:
    case IPV6.RECVHOPLIMIT:
    case IPV6.HOPLIMIT:
    case IPV6.RECVTCLASS:
      // Control messages the image's sockets do not carry: refused, so the program knows (getsockopt reads "off").
      return set === undefined ? [0, 0] : set === 0 ? [0, 0] : [LINUX_ERRNO.ENOPROTOOPT, 0];
    default:
      // IPV6_MTU_DISCOVER, IPV6_RECVERR, IPV6_ADDR_PREFERENCES, multicast settings...: kept for getsockopt.
      return [0, set ?? kept ?? 0];
  }
}
