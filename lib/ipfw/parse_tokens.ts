/**
 * Token readers shared by the rule compiler (parse.ts) and the dummynet
 * configuration parser (parse_dn.ts), after the fill_* helpers of FreeBSD's
 * sbin/ipfw/ipfw2.c: numbers, port lists, addresses, ICMP codes, protocols,
 * and the error every parser throws.
 */

import { parseIp4, prefixMask } from '../wire/ipv4.js';
import { ICMP_CODES, O, insn, protoByName, serviceByName, type Insn } from './rule.js';
import { parseTableRef } from './table_rule.js';

export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOHOST = 68;

export class RuleSyntaxError extends Error {
  /** Index of the offending token; tokens.length when one is missing. */
  readonly at: number;
  readonly status: number;
  constructor(message: string, at: number, status: number) {
    super(message);
    this.name = 'RuleSyntaxError';
    this.at = at;
    this.status = status;
  }
}

/** strtoul(s, &end, 0) over the whole token: decimal, 0x hex or 0 octal; undefined if anything is left. */
export function strtoulStrict(s: string): number | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return parseInt(s.slice(1), 8);
  if (/^\d+$/.test(s)) return Number(s);
  return undefined;
}

/** A port (number or service name) at the start of `s`: [value, chars used]; undefined when none. */
function strtoport(s: string): [number, number] | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|\d+|[A-Za-z0-9_.]+)/.exec(s);
  if (m === null) return undefined;
  const t = m[1]!;
  if (/^\d/.test(t)) {
    const v = strtoulStrict(t);
    if (v === undefined || v > 0xffff) return undefined;
    return [v, t.length];
  }
  const v = serviceByName(t);
  return v === undefined ? undefined : [v, t.length];
}

/** fill_newports: `80`, `1000-2000`, `http,443,8000-8080`; undefined when `s` is not a port list. */
export function parsePortList(s: string): Uint32Array | undefined {
  const out: number[] = [];
  let rest = s;
  while (rest.length > 0) {
    const a = strtoport(rest);
    if (a === undefined) return undefined;
    rest = rest.slice(a[1]);
    let hi = a[0];
    if (rest[0] === '-') {
      const b = strtoport(rest.slice(1));
      if (b === undefined) return undefined;
      rest = rest.slice(1 + b[1]);
      hi = b[0];
      if (rest.length > 0 && rest[0] !== ',') return undefined;
    } else if (rest.length > 0 && rest[0] !== ',') return undefined;
    out.push(a[0], hi);
    if (rest[0] === ',') {
      rest = rest.slice(1);
      if (rest.length === 0) return undefined;
    }
  }
  return out.length === 0 ? undefined : Uint32Array.from(out);
}

/** The prefix length of a contiguous mask, -1 otherwise (for the printer and tests). */
export function contigLen(mask: number): number {
  let i = 0;
  while (i < 32 && ((mask >>> (31 - i)) & 1) === 1) i++;
  for (let n = i + 1; n < 32; n++) if (((mask >>> (31 - n)) & 1) === 1) return -1;
  return i;
}

/**
 * fill_ip: `any`, `me`, `A.B.C.D[/LEN|:MASK][,...]` or `A.B.C.D/LEN{a,b,c-d}`.
 * Returns the instruction (with `src` opcodes; the caller maps to dst) or
 * null for `any`.
 */
export function parseAddress(s: string, at: number, not: boolean): Insn | null {
  if (s === 'any') {
    if (not) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
    return null;
  }
  if (s === 'me') return insn(O.SRC_ME);
  if (s.startsWith('table(')) return parseTableRef(s, at);
  const brace = s.indexOf('{');
  if (brace >= 0) {
    // A set of hosts in one /24../31 subnet: base/len{1,5,7-9}.
    const head = s.slice(0, brace);
    if (!s.endsWith('}')) throw new RuleSyntaxError('set not closed', at, EX_DATAERR);
    const slash = head.indexOf('/');
    const addr = parseIp4(slash < 0 ? head : head.slice(0, slash));
    if (addr === undefined) throw new RuleSyntaxError(`hostname \`\`${slash < 0 ? head : head.slice(0, slash)}'' unknown`, at, EX_NOHOST);
    const len = slash < 0 ? 24 : Number(head.slice(slash + 1));
    if (!Number.isInteger(len) || len < 24 || len > 31) throw new RuleSyntaxError(`invalid set with mask ${slash < 0 ? 24 : head.slice(slash + 1)}`, at, EX_DATAERR);
    const mask = prefixMask(len);
    const base = (addr & mask) >>> 0;
    const size = 1 << (32 - len);
    const low = base & 0xff;
    const high = low + size - 1;
    const map = new Uint32Array(Math.ceil(size / 32));
    const body = s.slice(brace + 1, -1);
    for (const part of body.split(',')) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (m === null) throw new RuleSyntaxError('set not closed', at, EX_DATAERR);
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      for (const v of [a, b]) if (v < low || v > high) throw new RuleSyntaxError(`addr ${v} out of range [${low}-${high}]`, at, EX_DATAERR);
      if (a > b) throw new RuleSyntaxError(`invalid range ${a}-${b}`, at, EX_DATAERR);
      for (let v = a - low; v <= b - low; v++) map[v >> 5] = map[v >> 5]! | (1 << (v & 31));
    }
    return insn(O.SRC_SET, base, size, map);
  }
  const pairs: number[] = [];
  const entries = s.split(',');
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    const sep = e.search(/[/:]/);
    const host = sep < 0 ? e : e.slice(0, sep);
    const addr = parseIp4(host);
    if (addr === undefined) throw new RuleSyntaxError(`hostname \`\`${host}'' unknown`, at, EX_NOHOST);
    let mask = 0xffffffff;
    if (sep >= 0 && e[sep] === '/') {
      const w = e.slice(sep + 1);
      const n = /^\d+$/.test(w) ? Number(w) : NaN;
      if (!(n <= 32)) throw new RuleSyntaxError(`bad width \`\`${w}''`, at, EX_DATAERR);
      mask = prefixMask(n);
    } else if (sep >= 0) {
      const m = parseIp4(e.slice(sep + 1));
      if (m === undefined) throw new RuleSyntaxError(`bad netmask \`\`${e.slice(sep + 1)}''`, at, EX_DATAERR);
      mask = m;
    }
    if (mask === 0) {
      // "any" as x.x.x.x/0: the whole list matches everything.
      if (not && entries.length === 1) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
      return null;
    }
    pairs.push((addr & mask) >>> 0, mask >>> 0);
  }
  if (pairs.length === 2 && pairs[1] === 0xffffffff) return insn(O.SRC_IP, pairs[0]!);
  return insn(O.SRC_MASK, 0, 0, Uint32Array.from(pairs));
}

/** An address instruction parsed with `src` opcodes, turned into its `dst` form. */
export const toDst = (c: Insn): Insn => {
  c.op = c.op === O.SRC_IP ? O.DST_IP : c.op === O.SRC_MASK ? O.DST_MASK : c.op === O.SRC_ME ? O.DST_ME : c.op === O.SRC_LOOKUP ? O.DST_LOOKUP : O.DST_SET;
  return c;
};

/** fill_reject_code: a number below 256 or a name from the icmpcodes table. */
export function rejectCode(s: string, at: number): number {
  const v = strtoulStrict(s);
  if (v !== undefined && v < 0x100) return v;
  for (const [n, c] of ICMP_CODES) if (n === s) return c;
  throw new RuleSyntaxError(`unknown ICMP unreachable code \`\`${s}''`, at, EX_DATAERR);
}

/** A keep-state / check-state name: `:name`, letters, digits and `_.-`, not `any`. */
export function validStateName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,63}$/.test(name) && name !== 'any';
}

/** add_proto_compat: -4 for ip4, 0 for ip/all (any), the number for others; undefined if not a protocol. */
export function protocol(t: string): number | undefined {
  if (t === 'ip' || t === 'all') return 0;
  if (t === 'ip4' || t === 'ipv4') return -4;
  if (/^\d+$/.test(t)) {
    const v = Number(t);
    return v > 0 && v < 256 ? v : undefined;
  }
  const p = protoByName(t);
  return p !== undefined && p > 0 && p < 256 ? p : undefined;
}
