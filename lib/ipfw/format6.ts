/**
 * Printing the IPv6 parts of a rule as ipfw(8) does (print_ip6,
 * print_icmp6types, print_flow6id, print_ext6hdr, print_unreach6_code in
 * FreeBSD's sbin/ipfw/ipv6.c, and their cases in print_instruction).
 */

import { ip6ToString } from '../wire/ipv6.js';
import type { Insn } from './rule.js';
import { EXT, EXT6_NAMES, ICMP6_CODES, ICMP6_UNREACH_RST, O6, isDst6, isSrc6 } from './rule6.js';
import { contigLen6 } from './parse6.js';

/** The address of 4 big-endian words at l[k]. */
export function words6ToString(l: ArrayLike<number>, k: number): string {
  const b = new Uint8Array(16);
  for (let j = 0; j < 4; j++) {
    const w = l[k + j]!;
    b[4 * j] = w >>> 24;
    b[4 * j + 1] = (w >>> 16) & 0xff;
    b[4 * j + 2] = (w >>> 8) & 0xff;
    b[4 * j + 3] = w & 0xff;
  }
  return ip6ToString(b);
}

/** print_ip6 (with its leading space). */
function ip6(c: Insn): string {
  if (c.op === O6.SRC_ME6 || c.op === O6.DST_ME6) return ' me6';
  const l = c.list;
  let s = ' ';
  for (let k = 0; k < l.length; k += 8) {
    const mb = c.op === O6.SRC_IP6 || c.op === O6.DST_IP6 ? 128 : contigLen6(l, k + 4);
    if (mb === 0) s += 'any';
    else {
      s += words6ToString(l, k);
      if (mb < 0) s += `/${words6ToString(l, k + 4)}`;
      else if (mb < 128) s += `/${mb}`;
    }
    if (k + 8 < l.length) s += ',';
  }
  return s;
}

const EXT6_PRINT: ReadonlyArray<readonly [number, string]> = [
  [EXT.FRAGMENT, 'fragmentation'],
  [EXT.HOPOPTS, 'hop options'],
  [EXT.ROUTING, 'routing options'],
  [EXT.RTHDR0, 'rthdr0'],
  [EXT.RTHDR2, 'rthdr2'],
  [EXT.DSTOPTS, 'destination options'],
  [EXT.AH, 'authentication header'],
  [EXT.ESP, 'encapsulated security payload'],
];

/**
 * The text print_instruction gives an IPv6 instruction (after ` not`), or
 * undefined when `c` is not one. `haveSrc`/`haveDst`: the source or
 * destination was printed already, so an address is an option.
 */
export function insn6Text(c: Insn, haveSrc: boolean, haveDst: boolean, save = false): string | undefined {
  if (isSrc6(c.op)) return (haveSrc ? ' src-ip6' : '') + ip6(c);
  if (isDst6(c.op)) return (haveDst ? ' dst-ip6' : '') + ip6(c);
  switch (c.op) {
    case O6.IP6:
      return ' ip6';
    case O6.ICMP6TYPE: {
      let s = ' icmp6types';
      let sep = ' ';
      for (let t = 0; t < 256; t++) {
        if (((c.list[t >> 5]! >>> (t & 31)) & 1) === 0) continue;
        s += `${sep}${t}`;
        sep = ',';
      }
      return s;
    }
    case O6.FLOW6ID: {
      // print_flow6id: each label followed by ',' but the last by ' '.
      let s = ' flow-id ';
      for (let k = 0; k < c.list.length; k++) s += `${c.list[k]}${k === c.list.length - 1 ? ' ' : ','}`;
      return s;
    }
    case O6.EXT6HDR: {
      if (save) return ` ext6hdr ${EXT6_NAMES.filter(([, bit]) => (c.arg & bit) !== 0).map(([n]) => n).join(',')}`;
      let s = ' extension header:';
      let sep = ' ';
      for (const [bit, name] of EXT6_PRINT) {
        if ((c.arg & bit) === 0) continue;
        s += sep + name;
        sep = ',';
      }
      return s;
    }
    default:
      return undefined;
  }
}

/** print_unreach6_code, and `reset6`. */
export function unreach6Text(code: number): string {
  if (code === ICMP6_UNREACH_RST) return 'reset6';
  const name = ICMP6_CODES.find(([, v]) => v === code)?.[0];
  return `unreach6 ${name ?? String(code)}`;
}

/** ipfw_log's protocol part for an IPv6 packet: `TCP [a]:p [b]:q`, `ICMPv6:128.0 [a] [b]`, `P:N [a] [b]`. */
export function logWhat6(buf: Uint8Array, off: number, hlen: number, proto: number, sport: number, dport: number, fragOff: number): string {
  const src = `[${ip6ToString(buf, off + 8)}]`;
  const dst = `[${ip6ToString(buf, off + 24)}]`;
  if (proto === 6 || proto === 17) {
    const name = proto === 6 ? 'TCP' : 'UDP';
    return fragOff === 0 ? `${name} ${src}:${sport} ${dst}:${dport}` : `${name} ${src} ${dst}`;
  }
  if (proto === 58 && fragOff === 0 && off + hlen + 2 <= buf.length) return `ICMPv6:${buf[off + hlen]}.${buf[off + hlen + 1]} ${src} ${dst}`;
  return `P:${proto} ${src} ${dst}`;
}
