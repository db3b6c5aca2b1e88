/**
 * Values of ipfw table entries (ipfw_table_value in FreeBSD's
 * sys/netinet/ip_fw.h; parsed and printed as tentry_fill_value and
 * table_show_value in sbin/ipfw/tables.c do).
 *
 * A table's `valtype` is a set of value kinds (skipto, pipe, fib, ...); a
 * value gives one comma-separated field per kind, in bit order. The
 * default, `legacy`, is one number (or IPv4 address) copied into every
 * field, so `skipto tablearg` and `pipe tablearg` both see it.
 */

import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import { EX_USAGE, RuleSyntaxError } from './parse_tokens.js';

/** IPFW_VTYPE_* bits. */
export const VT = {
  SKIPTO: 0x1,
  PIPE: 0x2,
  FIB: 0x4,
  NAT: 0x8,
  DSCP: 0x10,
  TAG: 0x20,
  DIVERT: 0x40,
  NETGRAPH: 0x80,
  LIMIT: 0x100,
  NH4: 0x200,
  NH6: 0x400,
  MARK: 0x800,
} as const;
/** IPFW_VTYPE_LEGACY: every field filled with one value. */
export const VT_LEGACY = 0xffffffff;

/** tablevaltypes, in bit order. */
export const VT_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['skipto', VT.SKIPTO],
  ['pipe', VT.PIPE],
  ['fib', VT.FIB],
  ['nat', VT.NAT],
  ['dscp', VT.DSCP],
  ['tag', VT.TAG],
  ['divert', VT.DIVERT],
  ['netgraph', VT.NETGRAPH],
  ['limit', VT.LIMIT],
  ['ipv4', VT.NH4],
  ['ipv6', VT.NH6],
  ['mark', VT.MARK],
];

/** f_ipdscp. */
const DSCP: ReadonlyArray<readonly [string, number]> = [
  ['af11', 10], ['af12', 12], ['af13', 14], ['af21', 18], ['af22', 20], ['af23', 22],
  ['af31', 26], ['af32', 28], ['af33', 30], ['af41', 34], ['af42', 36], ['af43', 38],
  ['be', 0], ['ef', 46], ['cs0', 0], ['cs1', 8], ['cs2', 16], ['cs3', 24], ['cs4', 32], ['cs5', 40], ['cs6', 48], ['cs7', 56],
];

export interface TValue {
  skipto: number;
  pipe: number;
  fib: number;
  nat: number;
  dscp: number;
  tag: number;
  divert: number;
  netgraph: number;
  limit: number;
  nh4: number;
  nh6: string;
  mark: number;
}

function legacy(v: number): TValue {
  return { skipto: v, pipe: v, fib: v, nat: v, dscp: v & 0xff, tag: v, divert: v, netgraph: v, limit: v, nh4: v, nh6: '::', mark: 0 };
}

/** strtoul(s, &end, 0) over the whole string. */
function strtoul(s: string): number | undefined {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^\d+$/.test(s)) v = Number(s);
  else return undefined;
  return v <= 0xffffffff ? v : undefined;
}

/** tentry_fill_value. */
export function parseValue(arg: string, vmask: number): TValue {
  if (vmask === VT_LEGACY) {
    const n = strtoul(arg);
    if (n !== undefined) return legacy(n);
    const a = parseIp4(arg);
    if (a !== undefined) return legacy(a);
    throw new RuleSyntaxError(`Unable to parse value ${arg}`, 0, 71);
  }
  const v = legacy(0);
  const fields = arg.split(',');
  let k = 0;
  for (const [name, bit] of VT_NAMES) {
    if ((vmask & bit) === 0) continue;
    const n = fields[k++];
    if (n === undefined) throw new RuleSyntaxError('Not enough fields inside value', 0, EX_USAGE);
    const bad = (what: string): never => {
      throw new RuleSyntaxError(`Unable to parse ${n} as ${what}`, 0, EX_USAGE);
    };
    const dec = (): number => (/^\d+$/.test(n) && Number(n) <= 0xffffffff ? Number(n) : bad(name));
    switch (bit) {
      case VT.NH4: {
        const a = parseIp4(n);
        v.nh4 = a === undefined ? bad('ipv4') : a;
        break;
      }
      case VT.NH6:
        if (!/^[0-9a-fA-F:.]+$/.test(n) || !n.includes(':')) bad('ipv6');
        v.nh6 = n;
        break;
      case VT.DSCP:
        if (/^[A-Za-z]/.test(n)) {
          const d = DSCP.find(([x]) => x === n);
          v.dscp = d === undefined ? bad('DSCP code') : d[1];
        } else {
          const d = /^\d+$/.test(n) ? Number(n) : NaN;
          v.dscp = d <= 63 ? d : bad('DSCP value');
        }
        break;
      case VT.MARK: {
        const m = /^(0[xX])?[0-9a-fA-F]+$/.test(n) ? parseInt(n, 16) : NaN;
        v.mark = m <= 0xffffffff ? m : bad('mark');
        break;
      }
      default:
        (v as unknown as Record<string, number>)[name] = dec();
    }
  }
  if (k < fields.length) throw new RuleSyntaxError(`Unable to parse value ${arg}`, 0, EX_USAGE);
  return v;
}

/** table_show_value: legacy prints one number (an address with `ipfw -i`), others one field per kind. */
export function formatValue(v: TValue, vmask: number, asIp: boolean): string {
  if (vmask === VT_LEGACY) return asIp ? ip4ToString(v.tag) : String(v.tag >>> 0);
  const out: string[] = [];
  for (const [name, bit] of VT_NAMES) {
    if ((vmask & bit) === 0) continue;
    if (bit === VT.NH4) out.push(ip4ToString(v.nh4));
    else if (bit === VT.NH6) out.push(v.nh6);
    else if (bit === VT.MARK) out.push(`0x${v.mark.toString(16)}`);
    else out.push(String((v as unknown as Record<string, number>)[name]));
  }
  return out.join(',');
}

/** `valtype skipto,pipe`: the mask, or undefined naming the bad word. */
export function parseValtype(s: string): number | string {
  let m = 0;
  for (const w of s.split(',')) {
    const hit = VT_NAMES.find(([n]) => n === w);
    if (hit === undefined) return w;
    m |= hit[1];
  }
  return m;
}
