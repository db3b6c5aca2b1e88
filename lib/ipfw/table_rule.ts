/**
 * Rules that use lookup tables (FreeBSD's fill_ip table(...) and the
 * `lookup` option in sbin/ipfw/ipfw2.c; binding as ref_table_objects /
 * create_table_compat in sys/netpfil/ipfw/ip_fw_table.c):
 *
 *   ... from table(NAME[,VALUE]) to ...      src-ip table(NAME)   dst-ip table(NAME,7)
 *   ... lookup src-ip|dst-ip|src-port|dst-port|dscp|rulenum[:MASK] NAME
 *
 * The parser leaves the table as a name on the instruction; when the rule
 * joins a chain, `tablesBind` finds each table (creating a missing one of
 * the type the instruction needs, as FreeBSD does), checks its type and
 * stores its kernel index for the packet path. `tablesUnbind` drops the
 * references when the rule goes.
 */

import { E, fail } from '../errors.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError } from './parse_tokens.js';
import { EMPTY, LK, O, insn, type Insn, type Rule } from './rule.js';
import { TT, typeText, validTableName, type TableSet } from './table.js';

const LOOKUP_KEYS: ReadonlyArray<readonly [string, number]> = [
  ['dst-ip', LK.DST_IP],
  ['src-ip', LK.SRC_IP],
  ['dst-port', LK.DST_PORT],
  ['src-port', LK.SRC_PORT],
  ['uid', LK.UID],
  ['jail', LK.JAIL],
  ['dscp', LK.DSCP],
  ['rulenum', LK.RULENUM],
];

/** `table(NAME)` or `table(NAME,VALUE)` as a source address instruction (toDst makes it dst). */
export function parseTableRef(s: string, at: number): Insn {
  const m = /^table\(([^,()]*)(?:,([^()]*))?\)$/.exec(s);
  if (m === null) throw new RuleSyntaxError(`invalid table reference ${s}`, at, EX_DATAERR);
  const name = m[1]!;
  if (!validTableName(name)) throw new RuleSyntaxError(`Invalid table name: ${name}`, at, EX_DATAERR);
  let value = -1;
  if (m[2] !== undefined) {
    const v = /^\d+$/.test(m[2]) ? Number(m[2]) : NaN;
    if (!(v <= 0xffffffff)) throw new RuleSyntaxError(`invalid table value ${m[2]}`, at, EX_DATAERR);
    value = v;
  }
  return insn(O.SRC_LOOKUP, 0, value, EMPTY, name);
}

/** `lookup KEY[:MASK] NAME` after the word `lookup` at tokens[i]; returns the instruction. */
export function parseLookup(tokens: readonly string[], i: number): Insn {
  const kw = tokens[i];
  const name = tokens[i + 1];
  if (kw === undefined || name === undefined) throw new RuleSyntaxError('format: lookup argument tablenum', tokens.length, EX_USAGE);
  const colon = kw.indexOf(':');
  const keyName = colon < 0 ? kw : kw.slice(0, colon);
  const key = LOOKUP_KEYS.find(([n]) => n === keyName);
  if (key === undefined) throw new RuleSyntaxError(`format: cannot lookup on ${keyName}`, i, EX_USAGE);
  if (key[1] === LK.UID || key[1] === LK.JAIL) throw new RuleSyntaxError(`lookup ${keyName} is not supported in vimage (packets carry no socket credentials)`, i, EX_USAGE);
  let list = EMPTY;
  if (colon >= 0) {
    const t = kw.slice(colon + 1);
    const v = /^0[xX][0-9a-fA-F]+$/.test(t) ? parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : NaN;
    if (!(v <= 0xffffffff)) throw new RuleSyntaxError(`invalid mask ${t}`, i, EX_DATAERR);
    list = Uint32Array.of(v);
  }
  if (!validTableName(name)) throw new RuleSyntaxError(`Invalid table name: ${name}`, i + 1, EX_DATAERR);
  return insn(O.LOOKUP, 0, key[1], list, name);
}

/** The table type an instruction needs, 0 when it is not a table instruction. */
function neededType(c: Insn): number {
  if (c.op === O.SRC_LOOKUP || c.op === O.DST_LOOKUP) return TT.ADDR;
  if (c.op === O.LOOKUP) return c.arg2 === LK.DST_IP || c.arg2 === LK.SRC_IP ? TT.ADDR : TT.NUMBER;
  if ((c.op === O.RECV || c.op === O.XMIT || c.op === O.VIA) && c.arg2 === 2) return TT.IFACE;
  return 0;
}

/** Resolve, create and reference the tables a rule uses; nothing changes when a type does not fit. */
export function tablesBind(tables: TableSet, rule: Rule): void {
  for (const c of rule.insns) {
    const type = neededType(c);
    if (type === 0) continue;
    const t = tables.get(c.name);
    if (t !== undefined && t.type !== type)
      fail(E.TABLE_MISMATCH, `table ${c.name} is of type ${typeText(t.type, t.tflags)}; this rule needs a table of type ${typeText(type, 0)}`);
  }
  const made: string[] = [];
  let k = 0;
  try {
    for (; k < rule.insns.length; k++) {
      const c = rule.insns[k]!;
      const type = neededType(c);
      if (type === 0) continue;
      let t = tables.get(c.name);
      if (t === undefined) {
        t = tables.create(c.name, { type });
        made.push(c.name);
      }
      c.arg = t.kidx;
      t.refs++;
    }
  } catch (e) {
    // A table could not be made (tables_max): the rule is refused and leaves no reference and no new table.
    for (let j = 0; j < k; j++) {
      const c = rule.insns[j]!;
      if (neededType(c) === 0) continue;
      const t = tables.byIdx[c.arg];
      if (t) t.refs--;
    }
    for (const name of made) tables.destroy(name);
    throw e;
  }
}

/** Drop the references of a rule that left the chain. */
export function tablesUnbind(tables: TableSet, rule: Rule): void {
  for (const c of rule.insns) {
    if (neededType(c) === 0) continue;
    const t = tables.byIdx[c.arg];
    if (t) t.refs--;
  }
}

/** print_ip for a table instruction: `table(NAME)` or `table(NAME,VALUE)`. */
export function tableRefText(c: Insn): string {
  return c.arg2 >= 0 ? `table(${c.name},${c.arg2})` : `table(${c.name})`;
}

/** ` lookup KEY[:MASK] NAME`. */
export function lookupText(c: Insn): string {
  const key = LOOKUP_KEYS.find(([, v]) => v === c.arg2)?.[0] ?? '<invalid>';
  const mask = c.list.length > 0 ? `:0x${c.list[0]!.toString(16)}` : '';
  return ` lookup ${key}${mask} ${c.name}`;
}
