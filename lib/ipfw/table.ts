/**
 * ipfw lookup tables of one image (FreeBSD's sys/netpfil/ipfw/ip_fw_table.c
 * and the value handling of ip_fw_table_value.c): named tables of type
 * addr (IPv4 prefixes, longest-prefix match), iface (interface names),
 * number (uint32 keys) and flow (tuples, control plane only), each entry
 * carrying a value; the kernel side of `ipfw table ...`.
 *
 * Rules refer to tables by name; when a rule is added its table
 * instructions are bound to the table's kernel index (kidx), creating a
 * missing table as FreeBSD's create_table_compat does. The packet path
 * calls `lookupU32` / `lookupIface`, which return the index of the
 * matching entry's value (FreeBSD's tablearg) or -1, and allocate nothing.
 *
 * Entry keys and values are parsed here (tentry_fill_key / tentry_fill_value
 * of sbin/ipfw/tables.c) so that the command and saved configurations share
 * one grammar; parse errors are RuleSyntaxError with ipfw(8)'s message and
 * exit status, state errors the project's coded errors.
 */

import { E, fail } from '../errors.js';
import { sysctlInt } from '../sysctl.js';
import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import { EX_DATAERR, EX_NOHOST, RuleSyntaxError } from './parse_tokens.js';
import { AddrLpm, U32Map } from './table_algo.js';
import { VT, VT_NAMES, VT_LEGACY, formatValue, parseValue, type TValue } from './table_value.js';

export { VT, VT_LEGACY, VT_NAMES, parseValtype, type TValue } from './table_value.js';

export const fwTablesMax = sysctlInt({ name: 'net.inet.ip.fw.tables_max', def: 128, min: 1, max: 65535, descr: 'Maximum number of tables' });

/** Entries one table may hold when it sets no `limit` (vimage's bound on memory). */
export const TABLE_ENTRIES_MAX = 1_000_000;

/** Table types (IPFW_TABLE_*). */
export const TT = { ADDR: 1, IFACE: 2, NUMBER: 3, FLOW: 4 } as const;
export const TT_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['addr', TT.ADDR],
  ['iface', TT.IFACE],
  ['number', TT.NUMBER],
  ['flow', TT.FLOW],
];
/** Default algorithm of each type (tablealgos in sbin/ipfw/tables.c). */
const ALGOS: ReadonlyArray<readonly [string, number]> = [
  ['addr:radix', TT.ADDR],
  ['addr:hash', TT.ADDR],
  ['iface:array', TT.IFACE],
  ['number:array', TT.NUMBER],
  ['flow:hash', TT.FLOW],
];
/** Fields of a flow key (flowtypecmds), in key order. */
export const FLOW_FIELDS = ['src-ip', 'proto', 'src-port', 'dst-ip', 'dst-port'] as const;

/** Plain data of `ipfw table NAME info` (ipfw_xtable_info). */
export interface TableInfo {
  name: string;
  set: number;
  kindex: number;
  type: string;
  valtype: string;
  algorithm: string;
  items: number;
  /** Bytes `list` exports, as FreeBSD computes it on amd64. */
  size: number;
  limit: number;
  locked: boolean;
  references: number;
}

/** One entry as `list` prints it: the key and the value, as text. */
export interface TableEntry {
  key: string;
  value: string;
}

/** Outcome of one entry of an add or delete (IPFW_TR_*). */
export interface EntryResult extends TableEntry {
  result: 'added' | 'updated' | 'deleted' | 'exists' | 'notfound' | 'limit';
}

export interface TableCreateSpec {
  type?: number;
  /** Flow key fields (bits of FLOW_FIELDS) for type flow. */
  tflags?: number;
  vmask?: number;
  algo?: string;
  limit?: number;
  locked?: boolean;
}

/** A parsed entry key: a prefix for addr, a number, an interface name or a flow key string. */
interface Key {
  n: number;
  len: number;
  s: string;
}

/** The entries of a table: swapped whole by `swap`. */
class TableData {
  lpm: AddrLpm | null = null;
  nums: U32Map | null = null;
  /** iface and flow keys. */
  strs: Map<string, number> | null = null;
  /** Distinct values, indexed by entries; `vidx` finds one. */
  vals: TValue[] = [];
  vidx = new Map<string, number>();
  count = 0;

  constructor(type: number) {
    if (type === TT.ADDR) this.lpm = new AddrLpm();
    else if (type === TT.NUMBER) this.nums = new U32Map();
    else this.strs = new Map();
  }
}

export class Table {
  readonly name: string;
  readonly kidx: number;
  readonly type: number;
  readonly tflags: number;
  readonly vmask: number;
  readonly algo: string;
  limit: number;
  locked: boolean;
  /** Rule instructions bound to this table. */
  refs = 0;
  d: TableData;

  constructor(name: string, kidx: number, s: Required<TableCreateSpec>) {
    this.name = name;
    this.kidx = kidx;
    this.type = s.type;
    this.tflags = s.tflags;
    this.vmask = s.vmask;
    this.algo = s.algo;
    this.limit = s.limit;
    this.locked = s.locked;
    this.d = new TableData(s.type);
  }

  /** Packet path: value index of the entry for the key in `key[0]` (an address or a number as int32), -1 when none. */
  lookupAt(key: Int32Array): number {
    const d = this.d;
    if (d.lpm !== null) return d.lpm.findAt(key);
    if (d.nums !== null) return d.nums.getAt(key);
    return -1;
  }

  /** Value index of the entry for `k` (an address or a number), -1 when none. */
  lookupU32(k: number): number {
    const d = this.d;
    if (d.lpm !== null) return d.lpm.find(k);
    if (d.nums !== null) return d.nums.get(k);
    return -1;
  }

  /** Packet path: value index for an interface name, -1 when none. */
  lookupIface(name: string): number {
    const s = this.d.strs;
    if (s === null || this.type !== TT.IFACE) return -1;
    const v = s.get(name);
    return v === undefined ? -1 : v;
  }

  /** The value behind an index `lookup*` returned. */
  value(vi: number): TValue {
    return this.d.vals[vi]!;
  }
}

/** ipfw_check_object_name, and `all` is reserved (table_check_name). */
export function validTableName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,63}$/.test(name) && name !== 'all';
}

/** tablename_cmp / stringnum_cmp: shorter names first, then strcmp. */
export function tableNameCmp(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The type as ipfw prints it: `addr`, `flow:src-ip,dst-port`. */
export function typeText(type: number, tflags: number): string {
  const n = TT_NAMES.find(([, v]) => v === type)?.[0] ?? 'unknown';
  if (type !== TT.FLOW || tflags === 0) return n;
  return `${n}:${FLOW_FIELDS.filter((_, i) => (tflags & (1 << i)) !== 0).join(',')}`;
}

export class TableSet {
  readonly byName = new Map<string, Table>();
  /** By kernel index (1-based; index 0 unused): what rule instructions hold. */
  readonly byIdx: Array<Table | null> = [null];
  /** Returns net.inet.ip.fw.tables_max of the image. */
  private readonly max: () => number;

  constructor(max: () => number) {
    this.max = max;
  }

  get(name: string): Table | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** `table NAME modify limit N` (0: none). */
  setLimit(name: string, limit: number): void {
    this.need(name).limit = limit;
  }

  /** The table `name`, or NO_SUCH_TABLE. */
  need(name: string): Table {
    const t = this.byName.get(name);
    if (t === undefined) fail(E.NO_SUCH_TABLE, `table ${name} does not exist`);
    return t;
  }

  /** Table names in ipfw's listing order. */
  names(): string[] {
    return [...this.byName.keys()].sort(tableNameCmp);
  }

  create(name: string, spec: TableCreateSpec = {}): Table {
    if (!validTableName(name)) fail(E.BAD_NAME, `table name ${name} is invalid`);
    if (this.byName.has(name)) fail(E.TABLE_EXISTS, `table ${name} already exists`);
    if (this.byName.size >= this.max()) fail(E.LIMIT, `the image has ${this.byName.size} tables, net.inet.ip.fw.tables_max`);
    const type = spec.type ?? TT.ADDR;
    const algo = spec.algo ?? ALGOS.find(([, t]) => t === type)![0];
    const at = ALGOS.find(([n]) => n === algo.split(' ')[0]);
    if (at === undefined || at[1] !== type) fail(E.BAD_ARGUMENT, `algorithm ${algo} does not exist for type ${typeText(type, 0)}`);
    let kidx = this.byIdx.indexOf(null, 1);
    if (kidx < 0) kidx = this.byIdx.length;
    const t = new Table(name, kidx, { type, tflags: spec.tflags ?? 0, vmask: spec.vmask ?? VT_LEGACY, algo, limit: spec.limit ?? 0, locked: spec.locked ?? false });
    this.byName.set(name, t);
    this.byIdx[kidx] = t;
    return t;
  }

  /** A table bound by rules goes only when no rule refers to it (EBUSY). */
  destroy(name: string): void {
    const t = this.need(name);
    if (t.refs > 0) fail(E.TABLE_BUSY, `table ${name} is used by ${t.refs} rule instruction(s)`);
    this.byName.delete(name);
    this.byIdx[t.kidx] = null;
  }

  flush(name: string): void {
    const t = this.need(name);
    if (t.locked) fail(E.TABLE_LOCKED, `table ${name} is locked`);
    t.d = new TableData(t.type);
  }

  /** Exchange the entries of two tables of the same type and value type (IP_FW_TABLE_XSWAP). */
  swap(a: string, b: string): void {
    const ta = this.need(a);
    const tb = this.need(b);
    if (ta === tb) return;
    if (ta.type !== tb.type || ta.tflags !== tb.tflags || ta.vmask !== tb.vmask) fail(E.TABLE_MISMATCH, 'Unable to swap table: check types');
    if ((ta.limit > 0 && tb.d.count > ta.limit) || (tb.limit > 0 && ta.d.count > tb.limit)) fail(E.LIMIT, 'Unable to swap table: check limits');
    if (ta.locked || tb.locked) fail(E.TABLE_LOCKED, 'Unable to swap table: a table is locked');
    const d = ta.d;
    ta.d = tb.d;
    tb.d = d;
  }

  info(name: string): TableInfo {
    const t = this.need(name);
    return {
      name: t.name,
      set: 0,
      kindex: t.kidx,
      type: typeText(t.type, t.tflags),
      valtype: vtypeText(t.vmask),
      algorithm: t.algo,
      items: t.d.count,
      // sizeof(ipfw_obj_header) + sizeof(ipfw_xtable_info) + count * sizeof(ipfw_obj_tentry) on amd64.
      size: 296 + 128 * t.d.count,
      limit: t.limit,
      locked: t.locked,
      references: t.refs,
    };
  }

  /**
   * `add KEY [VALUE] ...` (pairs; a missing last value is 0). With
   * `update` an existing key takes the new value, otherwise it is left
   * and reported `exists`. Locked: TABLE_LOCKED, nothing changes.
   */
  add(name: string, pairs: ReadonlyArray<readonly [string, string | undefined]>, update: boolean): EntryResult[] {
    const t = this.need(name);
    if (t.locked) fail(E.TABLE_LOCKED, `table ${name} is locked`);
    const parsed = pairs.map(([k, v]) => [parseKey(t, k), v === undefined ? parseValue('0', t.vmask) : parseValue(v, t.vmask)] as const);
    const out: EntryResult[] = [];
    for (const [key, val] of parsed) {
      const d = t.d;
      const vi = valueIndex(d, val);
      const have = findExact(t, key);
      const entry = { key: keyText(t, key), value: formatValue(val, t.vmask, false) };
      if (have >= 0) {
        if (update) setKey(t, key, vi);
        out.push({ ...entry, result: update ? 'updated' : 'exists' });
        continue;
      }
      const max = t.limit > 0 ? t.limit : TABLE_ENTRIES_MAX;
      if (d.count >= max) {
        out.push({ ...entry, result: 'limit' });
        continue;
      }
      setKey(t, key, vi);
      d.count++;
      out.push({ ...entry, result: 'added' });
    }
    return out;
  }

  /** `delete KEY ...`. */
  delete(name: string, keys: readonly string[]): EntryResult[] {
    const t = this.need(name);
    if (t.locked) fail(E.TABLE_LOCKED, `table ${name} is locked`);
    const parsed = keys.map((k) => parseKey(t, k));
    return parsed.map((key) => {
      const d = t.d;
      const vi = findExact(t, key);
      if (vi < 0) return { key: keyText(t, key), value: formatValue(parseValue('0', t.vmask), t.vmask, false), result: 'notfound' as const };
      const value = formatValue(d.vals[vi]!, t.vmask, false);
      if (d.lpm !== null) d.lpm.delete(key.n, key.len);
      else if (d.nums !== null) d.nums.delete(key.n);
      else d.strs!.delete(key.s);
      d.count--;
      return { key: keyText(t, key), value, result: 'deleted' as const };
    });
  }

  /** `lookup KEY`: the entry that matches (longest prefix for addr), or null. */
  lookup(name: string, key: string, valueAsIp = false): TableEntry | null {
    const t = this.need(name);
    if (t.type === TT.ADDR) {
      const a = parseIp4(key);
      if (a === undefined) throw new RuleSyntaxError(`hostname \`\`${key}'' unknown`, 0, EX_NOHOST);
      const lpm = t.d.lpm!;
      for (let len = 32; len >= 0; len--) {
        const vi = lpm.exact(a, len);
        if (vi >= 0) return { key: `${ip4ToString(len === 0 ? 0 : (a & (-1 << (32 - len))) >>> 0)}/${len}`, value: formatValue(t.d.vals[vi]!, t.vmask, valueAsIp) };
      }
      return null;
    }
    const k = parseKey(t, key);
    const vi = findExact(t, k);
    return vi < 0 ? null : { key: keyText(t, k), value: formatValue(t.d.vals[vi]!, t.vmask, valueAsIp) };
  }

  /** Every entry, in FreeBSD's listing order (radix order for addr, sorted for number and iface). */
  list(name: string, valueAsIp = false): TableEntry[] {
    const t = this.need(name);
    const d = t.d;
    const val = (vi: number): string => formatValue(d.vals[vi]!, t.vmask, valueAsIp);
    if (d.lpm !== null) return d.lpm.entries().map(([a, len, vi]) => ({ key: `${ip4ToString(a)}/${len}`, value: val(vi) }));
    if (d.nums !== null)
      return d.nums
        .entries()
        .sort((x, y) => x[0] - y[0])
        .map(([k, vi]) => ({ key: String(k), value: val(vi) }));
    const e = [...d.strs!.entries()];
    if (t.type === TT.IFACE) e.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return e.map(([k, vi]) => ({ key: k, value: val(vi) }));
  }

  lock(name: string, on: boolean): void {
    this.need(name).locked = on;
  }
}

/** `legacy`, or the value types in tablevaltypes order. */
export function vtypeText(vmask: number): string {
  if (vmask === VT_LEGACY) return 'legacy';
  return VT_NAMES.filter(([, b]) => (vmask & b) !== 0)
    .map(([n]) => n)
    .join(',');
}

function valueIndex(d: TableData, v: TValue): number {
  const k = JSON.stringify(v);
  let i = d.vidx.get(k);
  if (i === undefined) {
    i = d.vals.length;
    d.vals.push(v);
    d.vidx.set(k, i);
  }
  return i;
}

function findExact(t: Table, k: Key): number {
  const d = t.d;
  if (d.lpm !== null) return d.lpm.exact(k.n, k.len);
  if (d.nums !== null) return d.nums.get(k.n);
  return d.strs!.get(k.s) ?? -1;
}

function setKey(t: Table, k: Key, vi: number): void {
  const d = t.d;
  if (d.lpm !== null) d.lpm.set(k.n, k.len, vi);
  else if (d.nums !== null) d.nums.set(k.n, vi);
  else d.strs!.set(k.s, vi);
}

function keyText(t: Table, k: Key): string {
  if (t.type === TT.ADDR) return `${ip4ToString(k.n)}/${k.len}`;
  if (t.type === TT.NUMBER) return String(k.n >>> 0);
  return k.s;
}

/** tentry_fill_key_type: a key of the table's type. */
export function parseKey(t: { type: number; tflags: number }, s: string): Key {
  switch (t.type) {
    case TT.ADDR: {
      const slash = s.indexOf('/');
      const host = slash < 0 ? s : s.slice(0, slash);
      if (host.includes(':')) throw new RuleSyntaxError('IPv6 table entries are not supported in vimage (ipfw is IPv4 only)', 0, EX_DATAERR);
      const a = parseIp4(host);
      if (a === undefined) throw new RuleSyntaxError(`hostname \`\`${host}'' unknown`, 0, EX_NOHOST);
      let len = 32;
      if (slash >= 0) {
        const w = s.slice(slash + 1);
        len = /^\d+$/.test(w) ? Number(w) : NaN;
        if (!(len <= 32)) throw new RuleSyntaxError(`bad IPv4 mask width: ${w}`, 0, EX_DATAERR);
      }
      const n = len === 0 ? 0 : (a & (-1 << (32 - len))) >>> 0;
      return { n, len, s: '' };
    }
    case TT.NUMBER: {
      if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw new RuleSyntaxError(`Invalid number: ${s}`, 0, EX_DATAERR);
      return { n: Number(s), len: 32, s: '' };
    }
    case TT.IFACE:
      if (s.length === 0) throw new RuleSyntaxError('interface name required', 0, EX_DATAERR);
      return { n: 0, len: 0, s: s.slice(0, 15) };
    default:
      return { n: 0, len: 0, s: flowKey(t.tflags, s) };
  }
}

/** A flow key `[src-ip][,proto][,src-port][,dst-ip][,dst-port]` in its canonical text. */
function flowKey(tflags: number, s: string): string {
  const parts = s.split(',');
  const out: string[] = [];
  let k = 0;
  for (let i = 0; i < FLOW_FIELDS.length; i++) {
    if ((tflags & (1 << i)) === 0) continue;
    const f = FLOW_FIELDS[i]!;
    const p = parts[k++];
    if (p === undefined || p === '') throw new RuleSyntaxError(`invalid key: ${f.replace('-', ' ')} missing`, 0, EX_DATAERR);
    if (f === 'src-ip' || f === 'dst-ip') {
      const a = parseIp4(p);
      if (a === undefined) throw new RuleSyntaxError(`invalid key: bad address ${p}`, 0, EX_DATAERR);
      out.push(ip4ToString(a));
    } else {
      const v = /^\d+$/.test(p) ? Number(p) : NaN;
      const max = f === 'proto' ? 255 : 65535;
      if (!(v <= max)) throw new RuleSyntaxError(f === 'proto' ? `Unknown proto: ${p}` : `Unknown service: ${p}`, 0, EX_DATAERR);
      out.push(String(v));
    }
  }
  if (k < parts.length) throw new RuleSyntaxError(`invalid key: ${s}`, 0, EX_DATAERR);
  return out.join(',');
}

/** What commands and the API use of a TableSet (lib/control hands it out). */
export type TablesControl = Pick<TableSet, 'names' | 'info' | 'destroy' | 'flush' | 'swap' | 'add' | 'delete' | 'lookup' | 'list' | 'lock'> & {
  has(name: string): boolean;
  create(name: string, spec?: TableCreateSpec): unknown;
  setLimit(name: string, limit: number): void;
};

void VT;
