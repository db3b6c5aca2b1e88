/**
 * The IPv6 words of the rule compiler (FreeBSD's sbin/ipfw/ipv6.c and the
 * IPv6 cases of compile_rule): IPv6 addresses and prefixes in from/to and
 * src-ip6/dst-ip6, `me6`, `icmp6types`, `flow-id`, `ext6hdr`, the `ip6`
 * option, and the `unreach6 CODE` and `reset6` actions. parse.ts calls in
 * here; the errors are FreeBSD's.
 */

import { parseIp6 } from '../wire/ipv6.js';
import { EMPTY, insn, type Insn } from './rule.js';
import { A6, EXT6_NAMES, ICMP6_CODES, ICMP6_MAXTYPE, ICMP6_UNREACH_RST, O6 } from './rule6.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError, parseAddress, strtoulStrict, toDst } from './parse_tokens.js';

/** IPPROTO_IPV6: what the protocol of an `ip6` (or `ipv6`) rule counts as when its addresses are read. */
export const PROTO_IPV6 = 41;

/** The first host of an address list, as add_src copies it (up to a '/' or ','). */
function firstHost(s: string): string {
  const k = s.search(/[/,]/);
  return k < 0 ? s : s.slice(0, k);
}

/** Big-endian words of a 16-byte address. */
function words(a: Uint8Array, out: number[]): void {
  for (let k = 0; k < 16; k += 4) out.push(((a[k]! << 24) | (a[k + 1]! << 16) | (a[k + 2]! << 8) | a[k + 3]!) >>> 0);
}

/** n2mask: a prefix of `len` bits as 4 words. */
function maskWords(len: number, out: number[]): void {
  for (let k = 0; k < 4; k++) {
    const b = Math.max(0, Math.min(32, len - 32 * k));
    out.push(b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0);
  }
}

/** contigmask over 128 bits: the prefix length, -1 when not contiguous. */
export function contigLen6(m: Uint32Array, at: number): number {
  let n = 0;
  let k = 0;
  while (k < 128 && ((m[at + (k >> 5)]! >>> (31 - (k & 31))) & 1) === 1) k++;
  n = k;
  for (; k < 128; k++) if (((m[at + (k >> 5)]! >>> (31 - (k & 31))) & 1) === 1) return -1;
  return n;
}

/**
 * fill_ip6: `any`, `me`/`me6`, `ADDR[/LEN|/MASK][,...]`. Returns the
 * instruction with `src` opcodes (or `dst` ones when `dst`), or null for
 * `any` (an entry of length 0 makes the whole list any).
 */
export function parseAddress6(s: string, at: number, not: boolean, dst: boolean): Insn | null {
  if (s === 'any') {
    if (not) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
    return null;
  }
  if (s === 'me' || s === 'me6') return insn(dst ? O6.DST_ME6 : O6.SRC_ME6);
  if (s.startsWith('table(')) {
    const c = parseAddress(s, at, not);
    return c === null ? null : dst ? toDst(c) : c;
  }
  const l: number[] = [];
  const entries = s.split(',');
  let single = false;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    const slash = e.indexOf('/');
    const host = slash < 0 ? e : e.slice(0, slash);
    const a = parseIp6(host);
    if (a === undefined) throw new RuleSyntaxError(`bad address "${host}"`, at, EX_DATAERR);
    const m: number[] = [];
    let len = 128;
    if (slash >= 0) {
      const p = e.slice(slash + 1);
      if (p.includes(':')) {
        const mk = parseIp6(p);
        if (mk === undefined) throw new RuleSyntaxError(`bad mask "${p}"`, at, EX_DATAERR);
        words(mk, m);
        len = contigLen6(Uint32Array.from(m), 0);
      } else {
        // atoi: leading digits, 0 when none.
        const d = /^\d*/.exec(p)![0];
        len = d === '' ? 0 : Number(d);
        if (len > 128) throw new RuleSyntaxError(`bad width "${p}''`, at, EX_DATAERR);
        maskWords(len, m);
      }
    } else maskWords(128, m);
    if (len === 0) {
      // 'any' makes the list a no-op; 'not any' alone never matches.
      if (not && k === entries.length - 1 && l.length === 0) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
      continue;
    }
    const aw: number[] = [];
    words(a, aw);
    for (let j = 0; j < 4; j++) l.push((aw[j]! & m[j]!) >>> 0);
    l.push(...m);
    if (len === 128 && entries.length === 1) single = true;
  }
  if (l.length === 0) return null;
  const op = single ? (dst ? O6.DST_IP6 : O6.SRC_IP6) : dst ? O6.DST_MASK6 : O6.SRC_MASK6;
  return insn(op, 0, 0, Uint32Array.from(l));
}

/**
 * add_src / add_dst: an IPv6 address when the rule's protocol is ip6, the
 * word is `me6` or the first host parses as IPv6; else an IPv4 one.
 */
export function parseAddr46(s: string, at: number, not: boolean, proto: number, dst: boolean): Insn | null {
  if (proto === PROTO_IPV6 || s === 'me6' || parseIp6(firstHost(s)) !== undefined) return parseAddress6(s, at, not, dst);
  const c = parseAddress(s, at, not);
  return c === null ? null : dst ? toDst(c) : c;
}

/** get_unreach6_code: a number below 256 or a name of icmp6codes. */
function unreach6Code(s: string, at: number): number {
  const v = strtoulStrict(s);
  if (v !== undefined && v < 0x100) return v;
  for (const [n, c] of ICMP6_CODES) if (n === s) return c;
  throw new RuleSyntaxError(`unknown ICMPv6 unreachable code \`\`${s}''`, at, EX_DATAERR);
}

/** The IPv6 actions: `unreach6 CODE`, `reset6`. Returns [action, arg, words used after the action] or undefined. */
export function parseAction6(word: string, tokens: readonly string[], i: number): [number, number, number] | undefined {
  if (word === 'reset6') return [A6.UNREACH6, ICMP6_UNREACH_RST, 0];
  if (word !== 'unreach6') return undefined;
  const t = tokens[i];
  if (t === undefined) throw new RuleSyntaxError('missing unreach code', i, EX_USAGE);
  return [A6.UNREACH6, unreach6Code(t, i), 1];
}

/** fill_icmp6types: `128,129`: a bitmap of 256 types in 8 words. */
function icmp6Types(t: string, at: number): Uint32Array {
  const map = new Uint32Array(8);
  for (const part of t.split(',')) {
    if (part === '') continue;
    // strtoul: leading digits (or 0x hex); anything else left over is an error.
    const m = /^(0[xX][0-9a-fA-F]+|\d*)(.*)$/.exec(part)!;
    if (m[2] !== '') throw new RuleSyntaxError('invalid ICMP6 type', at, EX_DATAERR);
    const v = m[1] === '' ? 0 : strtoulStrict(m[1]!)!;
    if (v > ICMP6_MAXTYPE) throw new RuleSyntaxError('ICMP6 type out of range', at, EX_DATAERR);
    map[v >> 5] = map[v >> 5]! | (1 << (v & 31));
  }
  return map;
}

/**
 * The IPv6 options after the addresses. `s` is the option word, tokens[i]
 * the one after it. Returns [instruction or null, words used after the
 * option], or undefined when `s` is not an IPv6 option.
 */
export function parseOption6(s: string, tokens: readonly string[], i: number, proto: number, not: boolean): [Insn | null, number] | undefined {
  const arg = (msg: string): string => {
    const t = tokens[i];
    if (t === undefined) throw new RuleSyntaxError(msg, i, EX_USAGE);
    return t;
  };
  switch (s) {
    case 'ip6':
    case 'ipv6':
      return [insn(O6.IP6), 0];
    case 'src-ip6':
    case 'src-ipv6':
      return [parseAddress6(arg('missing source IP6'), i, not, false), 1];
    case 'dst-ip6':
    case 'dst-ipv6':
      return [parseAddress6(arg('missing destination IP6'), i, not, true), 1];
    case 'icmp6type':
    case 'icmp6types':
      return [insn(O6.ICMP6TYPE, 0, 0, icmp6Types(arg('icmptypes requires list of types'), i)), 1];
    case 'flow-id': {
      if (proto !== PROTO_IPV6) throw new RuleSyntaxError('flow-id filter is active only for ipv6 protocol', i - 1, EX_USAGE);
      const t = arg('missing flow-id');
      const l: number[] = [];
      for (const part of t.split(',')) {
        const v = strtoulStrict(part);
        if (v === undefined) throw new RuleSyntaxError(`invalid ipv6 flow number ${part}`, i, EX_DATAERR);
        if (v > 0xfffff) throw new RuleSyntaxError(`flow number out of range ${part}`, i, EX_DATAERR);
        l.push(v);
      }
      return [insn(O6.FLOW6ID, 0, 0, Uint32Array.from(l)), 1];
    }
    case 'ext6hdr': {
      const t = arg('missing extension header');
      let bits = 0;
      for (const part of t.split(',')) {
        const e = EXT6_NAMES.find(([n]) => n === part);
        if (e === undefined) throw new RuleSyntaxError('invalid option for ipv6 exten header', i, EX_DATAERR);
        bits |= e[1];
      }
      return [insn(O6.EXT6HDR, bits, 0, EMPTY), 1];
    }
    default:
      return undefined;
  }
}
