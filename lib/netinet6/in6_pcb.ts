/**
 * IPv6 endpoint helpers (FreeBSD's in6_pcb.c and in6_src.c): the
 * net.inet6.ip6.v6only default for new AF_INET6 sockets, source address
 * selection for a socket's destination, and v4-mapped addresses.
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { sysctlInt } from '../sysctl.js';
import { IP6_DST_OFF, IP6_SRC_OFF, in6IsScoped } from '../wire/ipv6.js';
import { in6Local, in6SelectSource as in6SelectSourceFn } from './in6.js';
import type { Out6Result } from './ip6_var.js';

export const ip6V6only = sysctlInt({
  name: 'net.inet6.ip6.v6only',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Restrict AF_INET6 sockets to IPv6 addresses only',
});

/** ::ffff:a.b.c.d for the IPv4 address `a`, written at out[o]. */
export function in6MapV4(out: Uint8Array, o: number, a: number): Uint8Array {
  for (let i = 0; i < 10; i++) out[o + i] = 0;
  out[o + 10] = 0xff;
  out[o + 11] = 0xff;
  out[o + 12] = a >>> 24;
  out[o + 13] = (a >>> 16) & 0xff;
  out[o + 14] = (a >>> 8) & 0xff;
  out[o + 15] = a & 0xff;
  return out;
}

/**
 * Choose the source address of the IPv6 packet at b[o] (whose destination
 * is set) into its header: the interface is the zone, the route's, or the
 * loopback for one of our own addresses (FreeBSD's in6_selectsrc).
 */
export function ip6SelectSourceInto(im: Vnet, b: Uint8Array, o: number, zone: Ifnet | null): Out6Result {
  const src = in6SourceFor(im, b, o + IP6_DST_OFF, zone);
  if (typeof src === 'string') return src;
  b.set(src, o + IP6_SRC_OFF);
  return 0;
}

/** The source for traffic to b[d]%zone, or the errno a socket sees. */
export function in6SourceFor(im: Vnet, b: Uint8Array, d: number, zone: Ifnet | null): Uint8Array | 'EHOSTUNREACH' | 'EADDRNOTAVAIL' {
  const local = in6LocalFor(im, b, d, zone);
  if (local !== undefined) return local;
  // A link-scoped destination names its link (RFC 4007 6): without a zone there is no way there.
  if (zone === null && in6IsScoped(b, d)) return 'EHOSTUNREACH';
  const ifp = zone ?? im.route6.lookup(b, d)?.ifp;
  if (ifp === undefined) {
    im.ip6stat.noroute++;
    return 'EHOSTUNREACH';
  }
  const src = in6SelectSourceFn(im, ifp, b, d);
  return src ?? 'EADDRNOTAVAIL';
}

/** Our own address b[d] (then it is also the source), else undefined. */
function in6LocalFor(im: Vnet, b: Uint8Array, d: number, zone: Ifnet | null): Uint8Array | undefined {
  const ia = in6Local(im, b, d, zone);
  return ia?.addr;
}

