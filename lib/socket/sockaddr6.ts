/**
 * AF_INET6 socket addresses for the in-image socket API: text forms
 * (`fe80::1%tap0`, `::`, `2001:db8::1`, and a bare IPv4 address taken as
 * its v4-mapped form) parsed into 16 bytes and a zone, and printed back.
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { in6MapV4 } from '../netinet6/in6_pcb.js';
import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import { in6IsLinkLocal, in6IsMulticast, in6IsV4Mapped, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { SocketError } from './errno.js';

/** An IPv6 socket address: 16 bytes and the interface of a link-local (or link-scope multicast) one. */
export interface SockAddr6 {
  addr6: Uint8Array;
  zone: Ifnet | null;
}

/** Address arguments an AF_INET6 socket takes: text, 16 bytes, or a SockAddr6. */
export type Addr6Arg = string | Uint8Array | SockAddr6;

/** Parse `a` for `call`; EINVAL for a malformed address, ENXIO-like EADDRNOTAVAIL for an unknown zone. */
export function sockAddr6(im: Vnet, a: Addr6Arg, call: string): SockAddr6 {
  if (typeof a === 'object' && !(a instanceof Uint8Array)) return a;
  if (a instanceof Uint8Array) {
    if (a.length !== 16) throw new SocketError('EINVAL', call);
    return { addr6: a, zone: null };
  }
  let text = a;
  let zone: Ifnet | null = null;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    const name = text.slice(pct + 1);
    text = text.slice(0, pct);
    zone = im.ifnets.get(name) ?? [...im.ifnets.values()].find((i) => String(i.index) === name) ?? null;
    if (zone === null) throw new SocketError('EADDRNOTAVAIL', call);
  }
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  let addr6 = parseIp6(text);
  if (addr6 === undefined) {
    const v4 = parseIp4(text);
    if (v4 === undefined) throw new SocketError('EINVAL', call);
    addr6 = in6MapV4(new Uint8Array(16), 0, v4);
  }
  if (zone !== null && !in6IsLinkLocal(addr6) && !in6IsMulticast(addr6)) zone = null;
  return { addr6, zone };
}

/** `fe80::1%tap0`, `2001:db8::1`, `::ffff:10.0.0.1`. */
export function fmtAddr6(a: Uint8Array, zone: Ifnet | null): string {
  const s = ip6ToString(a);
  return zone !== null && (in6IsLinkLocal(a) || in6IsMulticast(a)) ? `${s}%${zone.name}` : s;
}

export { in6IsV4Mapped };

/** A socket endpoint's address as commands print it: dotted IPv4, or IPv6 text (v4-mapped shown as such, a zone when link-local). */
export function endpointText(e: { addr: number; addr6?: Uint8Array; zone?: Ifnet | null }): string {
  if (e.addr6 === undefined) return ip4ToString(e.addr);
  return fmtAddr6(e.addr6, in6IsV4Mapped(e.addr6) ? null : (e.zone ?? null));
}
