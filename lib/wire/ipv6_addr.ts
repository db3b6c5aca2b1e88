/**
 * IPv6 addresses (RFC 4291): predicates and helpers over addresses where
 * they lie, as (buffer, offset) pairs, so the packet path compares and
 * looks them up without copying; the RFC 5952 text form and its parser;
 * modified EUI-64 link-local addresses and solicited-node groups.
 * lib/wire/ipv6.ts re-exports all of it.
 */

import { put16, put32, u16, u32 } from './bytes.js';

/** A stored IPv6 address. */
export type In6Addr = Uint8Array;

export const IN6ADDR_ANY: In6Addr = new Uint8Array(16);
export const IN6ADDR_LOOPBACK: In6Addr = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** ff02::1, all nodes on the link. */
export const IN6ADDR_LINKLOCAL_ALLNODES: In6Addr = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** ff02::2, all routers on the link. */
export const IN6ADDR_LINKLOCAL_ALLROUTERS: In6Addr = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);

// ---------------------------------------------------------------------------
// Address predicates over (buffer, offset); no allocation.

export function in6IsUnspecified(b: Uint8Array, o = 0): boolean {
  return u32(b, o) === 0 && u32(b, o + 4) === 0 && u32(b, o + 8) === 0 && u32(b, o + 12) === 0;
}
export function in6IsLoopback(b: Uint8Array, o = 0): boolean {
  return u32(b, o) === 0 && u32(b, o + 4) === 0 && u32(b, o + 8) === 0 && u32(b, o + 12) === 1;
}
export function in6IsMulticast(b: Uint8Array, o = 0): boolean {
  return b[o] === 0xff;
}
/** fe80::/10 */
export function in6IsLinkLocal(b: Uint8Array, o = 0): boolean {
  return b[o] === 0xfe && (b[o + 1]! & 0xc0) === 0x80;
}
/** ::ffff:0:0/96 */
export function in6IsV4Mapped(b: Uint8Array, o = 0): boolean {
  return u32(b, o) === 0 && u32(b, o + 4) === 0 && u32(b, o + 8) === 0xffff;
}
/** The scope of a multicast address (RFC 4291 2.7): 1 interface-local, 2 link-local, ... */
export function in6McastScope(b: Uint8Array, o = 0): number {
  return b[o + 1]! & 0xf;
}
/** Link-scoped: link-local unicast, or multicast of interface- or link-local scope (they need a zone). */
export function in6IsScoped(b: Uint8Array, o = 0): boolean {
  return in6IsLinkLocal(b, o) || (b[o] === 0xff && (b[o + 1]! & 0xf) <= 2);
}
/** Solicited-node multicast ff02::1:ffXX:XXXX (RFC 4291 2.7.1). */
export function in6IsSolicitedNode(b: Uint8Array, o = 0): boolean {
  return u32(b, o) === 0xff020000 && u32(b, o + 4) === 0 && u32(b, o + 8) === 1 && b[o + 12] === 0xff;
}

/** Are the 16 bytes at a[ao] and b[bo] the same address? */
export function in6Equal(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  return u32(a, ao) === u32(b, bo) && u32(a, ao + 4) === u32(b, bo + 4) && u32(a, ao + 8) === u32(b, bo + 8) && u32(a, ao + 12) === u32(b, bo + 12);
}

/** Do the first `plen` bits of the two addresses agree? */
export function in6PrefixMatch(a: Uint8Array, ao: number, b: Uint8Array, bo: number, plen: number): boolean {
  let i = 0;
  for (; plen >= 8; plen -= 8, i++) if (a[ao + i] !== b[bo + i]) return false;
  if (plen === 0) return true;
  const m = (0xff << (8 - plen)) & 0xff;
  return (a[ao + i]! & m) === (b[bo + i]! & m);
}

/** Number of leading bits two addresses share (RFC 6724's CommonPrefixLen). */
export function in6CommonPrefix(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < 16; i++) {
    const x = a[ao + i]! ^ b[bo + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

/** A 30-bit hash of an address (neighbour cache buckets): small-integer arithmetic only, so the key never boxes. */
export function in6Hash(b: Uint8Array, o: number): number {
  const x =
    ((b[o + 12]! << 24) | (b[o + 13]! << 16) | (b[o + 14]! << 8) | b[o + 15]!) ^
    ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!) ^
    ((b[o + 4]! << 20) | (b[o + 5]! << 12) | (b[o + 6]! << 4) | b[o + 7]!) ^
    ((b[o]! << 8) | b[o + 1]!);
  return (x ^ (x >>> 15)) & 0x3fffffff;
}

/** Copy 16 bytes. */
export function in6Copy(dst: Uint8Array, doff: number, src: Uint8Array, soff: number): void {
  for (let i = 0; i < 16; i++) dst[doff + i] = src[soff + i]!;
}

/** A new stored address holding the 16 bytes at b[o]. */
export function in6From(b: Uint8Array, o: number): In6Addr {
  return b.slice(o, o + 16);
}

/** The address masked to its first `plen` bits (a prefix). */
export function in6Mask(a: In6Addr, plen: number): In6Addr {
  const r = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, plen - i * 8));
    r[i] = a[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return r;
}

/** The solicited-node group of `a` (RFC 4291 2.7.1), written at out[oo]. */
export function in6SolicitedNode(out: Uint8Array, oo: number, a: Uint8Array, ao: number): void {
  put32(out, oo, 0xff020000);
  put32(out, oo + 4, 0);
  put32(out, oo + 8, 1);
  out[oo + 12] = 0xff;
  out[oo + 13] = a[ao + 13]!;
  out[oo + 14] = a[ao + 14]!;
  out[oo + 15] = a[ao + 15]!;
}

/** The Ethernet group address of IPv6 multicast `a` (RFC 2464 7): 33:33 and the last 32 bits. */
export function in6McastMac(a: Uint8Array, ao: number): number {
  return 0x333300000000 + u32(a, ao + 12);
}

/** fe80::/64 with the modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291 2.5.1, appendix A). */
export function in6LinkLocalFromMac(mac: number): In6Addr {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  const m = new Uint8Array(6);
  for (let i = 0; i < 6; i++) m[i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
  a[8] = m[0]! ^ 0x02; // the universal/local bit inverted
  a[9] = m[1]!;
  a[10] = m[2]!;
  a[11] = 0xff;
  a[12] = 0xfe;
  a[13] = m[3]!;
  a[14] = m[4]!;
  a[15] = m[5]!;
  return a;
}

// ---------------------------------------------------------------------------
// Text form.

/** RFC 5952 text: lowercase, the longest run (two or more) of zero groups as `::`, the first on a tie. */
export function ip6ToString(b: Uint8Array, o = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(u16(b, o + 2 * i));
  if (in6IsV4Mapped(b, o)) return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexs = g.map((x) => x.toString(16));
  if (best < 0) return hexs.join(':');
  return `${hexs.slice(0, best).join(':')}::${hexs.slice(best + bestLen).join(':')}`;
}

/** Parse RFC 4291 2.2 text (with `::` and an embedded dotted quad); undefined when malformed. */
export function parseIp6(text: string): In6Addr | undefined {
  if (text.length === 0 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(p);
        if (m === null) return undefined;
        const q = [1, 2, 3, 4].map((k) => Number(m[k]));
        if (q.some((x) => x > 255)) return undefined;
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const tail = parseGroups(text.slice(dbl + 2));
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  const a = new Uint8Array(16);
  for (let i = 0; i < 8; i++) put16(a, 2 * i, groups[i]!);
  return a;
}

/** `ADDR[%zone][/LEN]`: the address, the zone text (interface name) and the prefix length, if given. */
export function parseIp6Cidr(text: string): { addr: In6Addr; zone?: string; prefixLen?: number } | undefined {
  let rest = text;
  let prefixLen: number | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const l = rest.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > 128) return undefined;
    prefixLen = Number(l);
    rest = rest.slice(0, slash);
  }
  let zone: string | undefined;
  const pct = rest.indexOf('%');
  if (pct >= 0) {
    zone = rest.slice(pct + 1);
    if (zone === '') return undefined;
    rest = rest.slice(0, pct);
  }
  const addr = parseIp6(rest);
  if (addr === undefined) return undefined;
  return { addr, ...(zone !== undefined ? { zone } : {}), ...(prefixLen !== undefined ? { prefixLen } : {}) };
}

