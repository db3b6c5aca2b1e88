/**
 * `ipfw table ...` inside an image (ipfw_table_handler and friends in
 * FreeBSD 14's sbin/ipfw/tables.c): create, modify, destroy, flush, swap,
 * add, delete, lookup, lock, unlock, list, info and detail, with
 * FreeBSD's messages and exit statuses. `ipfw table NAME list` prints the
 * `--- table(NAME), set(0) ---` header as FreeBSD 14 does for every table
 * listed (later sources print it only for `all`).
 *
 * Words are parsed here; everything acts through the image's control
 * surface (ctx.image.firewall.tables()).
 */

import {
  FLOW_FIELDS,
  RuleSyntaxError,
  TT,
  TT_NAMES,
  VT_LEGACY,
  VT_NAMES,
  VimageError,
  parseValtype,
  type EntryResult,
  type TableCreateSpec,
  type TableInfo,
  type TablesControl,
} from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';

const EX_USAGE = 64;
const EX_DATAERR = 65;
const EX_UNAVAILABLE = 69;
const EX_OSERR = 71;

const STRERROR: Record<string, string> = {
  ESRCH: 'No such process',
  EEXIST: 'File exists',
  EBUSY: 'Device busy',
  EACCES: 'Permission denied',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  EAGAIN: 'Resource temporarily unavailable',
  ENOENT: 'No such file or directory',
};

const CMDS = ['add', 'delete', 'create', 'destroy', 'flush', 'modify', 'swap', 'info', 'detail', 'list', 'lookup', 'atomic', 'lock', 'unlock'];
const CREATE_OPTS = ['type', 'valtype', 'algo', 'limit', 'locked', 'missing', 'or-flush'];

export interface TableOut {
  out: string;
  err: string;
  status: number;
}

/** Thrown to stop with errx(): message and status. */
class Exit extends Error {
  constructor(
    msg: string,
    readonly status: number,
  ) {
    super(msg);
  }
}

/** get_token / match_token_relaxed: an exact word, or a unique prefix of one. */
function token(list: readonly string[], s: string, what: string): string {
  if (list.includes(s)) return s;
  const hits = list.filter((w) => w.startsWith(s));
  if (hits.length === 1) return hits[0]!;
  throw new Exit(`${hits.length === 0 ? 'invalid' : 'ambiguous'} ${what} ${s}`, EX_USAGE);
}

const errnoText = (e: unknown): string => {
  if (e instanceof VimageError) return STRERROR[e.errno] ?? e.message;
  return (e as Error).message;
};

/** table_show_info (and the algorithm block of `detail`). */
function infoText(i: TableInfo, detail: boolean): string {
  let s = `--- table(${i.name}), set(${i.set}) ---\n`;
  s += ` kindex: ${i.kindex}, type: ${i.type}${i.locked ? ', locked' : ''}\n`;
  s += ` references: ${i.references}, valtype: ${i.valtype}\n`;
  s += ` algorithm: ${i.algorithm}\n`;
  s += ` items: ${i.items}, size: ${i.size}\n`;
  if (i.limit > 0) s += ` limit: ${i.limit}\n`;
  if (!detail) return s;
  // vimage's structures: a hash of (masked key, value index) per prefix length, or per key.
  if (i.type === 'addr') s += ` IPv4 algorithm hash info\n  items: ${i.items} itemsize: 9\n IPv6 algorithm hash info\n  items: 0 itemsize: 0\n`;
  else s += ` algorithm hash info\n  size: ${i.items} items: ${i.items} itemsize: 9\n`;
  return s;
}

/** guess_key_type, for a table `add` creates. */
function guessType(key: string): number {
  if (/^[0-9a-fA-F:]/.test(key)) {
    const host = key.split('/')[0]!;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':')) return TT.ADDR;
    if (/^\d+$/.test(key)) return TT.NUMBER;
  }
  if (!key.includes('.')) return TT.IFACE;
  return TT.ADDR;
}

function create(t: TablesControl, name: string, av: readonly string[]): void {
  const spec: TableCreateSpec = {};
  let missing = false;
  let orFlush = false;
  for (let k = 0; k < av.length; ) {
    const w = token(CREATE_OPTS, av[k++]!, 'option');
    const arg = (msg: string): string => {
      const v = av[k++];
      if (v === undefined) throw new Exit(msg, EX_USAGE);
      return v;
    };
    switch (w) {
      case 'limit': {
        const v = arg('limit value required');
        spec.limit = /^\d+$/.test(v) ? Number(v) : 0;
        break;
      }
      case 'type': {
        const v = arg('table type required');
        const [tn, sub] = v.split(':', 2) as [string, string | undefined];
        const tt = TT_NAMES.find(([n]) => n === tn);
        if (tn === 'mac') throw new Exit('table type mac is not supported in vimage', EX_USAGE);
        if (tt === undefined) throw new Exit(`Unknown tabletype: ${tn}. Supported: addr, mac, iface, number, flow`, EX_USAGE);
        spec.type = tt[1];
        if (sub !== undefined) {
          if (tt[1] !== TT.FLOW) throw new Exit(`Unsupported suboptions: ${sub}`, EX_USAGE);
          let f = 0;
          for (const part of sub.split(',')) {
            const i = FLOW_FIELDS.indexOf(part as (typeof FLOW_FIELDS)[number]);
            if (i < 0) throw new Exit(`unable to parse flow option ${part}`, EX_USAGE);
            f |= 1 << i;
          }
          spec.tflags = f;
        }
        break;
      }
      case 'valtype': {
        const m = parseValtype(arg('table value type required'));
        if (typeof m === 'string') throw new Exit(`Unknown value type: ${m}. Supported: ${VT_NAMES.map(([n]) => n).join(', ')}`, EX_USAGE);
        spec.vmask = m;
        break;
      }
      case 'algo':
        spec.algo = arg('table algorithm name required');
        break;
      case 'locked':
        spec.locked = true;
        break;
      case 'or-flush':
        orFlush = true;
        missing = true;
        break;
      case 'missing':
        missing = true;
        break;
    }
  }
  if (spec.type === TT.FLOW && (spec.tflags ?? 0) === 0) spec.tflags = 0x1f;
  if (t.has(name) && missing) {
    const i = t.info(name);
    const want = { ...i };
    if (spec.type !== undefined) want.type = TT_NAMES.find(([, v]) => v === spec.type)![0];
    if (want.type !== i.type.split(':')[0] && !(spec.type === undefined && i.type === 'addr'))
      throw new Exit('The existing table is not compatible with one you are creating.', EX_DATAERR);
    if ((spec.limit ?? 0) !== i.limit || (spec.vmask ?? VT_LEGACY) !== valmask(i.valtype)) throw new Exit('The existing table is not compatible with one you are creating.', EX_DATAERR);
    if (orFlush) t.flush(name);
    return;
  }
  try {
    t.create(name, spec);
  } catch (e) {
    if (e instanceof VimageError) throw new Exit(`Table creation failed: ${e.errno === 'EEXIST' ? STRERROR['EEXIST'] : e.message}`, EX_OSERR);
    throw e;
  }
}

const valmask = (text: string): number => {
  if (text === 'legacy') return VT_LEGACY;
  const m = parseValtype(text);
  return typeof m === 'number' ? m : 0;
};

/** add / delete: results printed as `added: KEY VALUE`, then FreeBSD's error for what failed. */
function modify(o: TableOut, t: TablesControl, name: string, av: readonly string[], add: boolean, quiet: boolean, atomic: boolean): void {
  if (av.length === 0) throw new Exit('address required', EX_USAGE);
  if (!t.has(name)) {
    if (!add) throw new Exit(`Table ${name} does not exist`, EX_DATAERR);
    if (!quiet) o.err += `ipfw: DEPRECATED: inserting data into non-existent table ${name}. (auto-created)\n`;
    t.create(name, { type: guessType(av[0]!) });
  }
  let res: EntryResult[];
  try {
    if (add) {
      const pairs: Array<[string, string | undefined]> = [];
      for (let k = 0; k < av.length; k += 2) pairs.push([av[k]!, av[k + 1]]);
      res = t.add(name, pairs, quiet);
    } else res = t.delete(name, av);
  } catch (e) {
    if (e instanceof VimageError && e.errno === 'EACCES') throw new Exit(`${add ? 'Adding' : 'Deleting'} record failed: table is locked`, EX_OSERR);
    throw e;
  }
  const failed = res.find((r) => r.result !== 'added' && r.result !== 'updated' && r.result !== 'deleted');
  if (atomic && failed !== undefined && add) {
    // IPFW_CTF_ATOMIC: nothing stays when one entry fails.
    const added = res.filter((r) => r.result === 'added').map((r) => r.key);
    if (added.length > 0) t.delete(name, added);
  }
  // Duplicates on add and misses on delete are not errors under -q.
  if (quiet && (failed === undefined || failed.result === (add ? 'exists' : 'notfound'))) return;
  for (const r of res) {
    const reverted = atomic && failed !== undefined && r.result === 'added';
    o.out += `${r.result}${reverted ? '(reverted)' : ''}: ${r.key} ${r.value}\n`;
  }
  if (failed === undefined) return;
  const why = failed.result === 'exists' ? 'record already exists' : failed.result === 'notfound' ? 'record not found' : 'limit hit';
  throw new Exit(`${add ? 'Adding' : 'Deleting'} record failed: ${why}`, EX_OSERR);
}

/** Run `ipfw table ARGS...` (args after the word `table`). */
export function ipfwTable(ctx: CommandContext, t: TablesControl, args: readonly string[], quiet: boolean): TableOut {
  const o: TableOut = { out: '', err: '', status: 0 };
  const warn = (msg: string, status?: number): void => {
    o.err += `ipfw: ${msg}\n`;
    if (status !== undefined && o.status === 0) o.status = status;
  };
  try {
    run(ctx, o, t, args, quiet, warn);
  } catch (e) {
    if (e instanceof Exit) warn(e.message, e.status);
    else if (e instanceof RuleSyntaxError) warn(e.message, e.status);
    else if (e instanceof VimageError) warn(e.message, EX_OSERR);
    else throw e;
  }
  return o;
}

function run(ctx: CommandContext, o: TableOut, t: TablesControl, args: readonly string[], quiet: boolean, warn: (m: string, s?: number) => void): void {
  const name = args[0];
  if (name === undefined) throw new Exit('table needs name', EX_USAGE);
  const all = name === 'all';
  if (!all && !/^[A-Za-z0-9_.-]{1,63}$/.test(name)) throw new Exit(`table name ${name} is invalid`, EX_USAGE);
  if (args[1] === undefined) throw new Exit('table needs command', EX_USAGE);
  let cmd = token(CMDS, args[1], 'table command');
  let av = args.slice(2);
  let atomic = false;
  if (cmd === 'atomic') {
    if (av[0] === undefined) throw new Exit('atomic needs command', EX_USAGE);
    cmd = token(CMDS, av[0], 'table command');
    if (cmd !== 'add') throw new Exit(`atomic is not compatible with ${av[0]}`, EX_USAGE);
    av = av.slice(1);
    atomic = true;
  }
  if (all && !['list', 'info', 'detail', 'flush', 'destroy'].includes(cmd)) throw new Exit('table name required', EX_USAGE);
  const names = all ? t.names() : [name];
  const known = (n: string, msg: string): boolean => {
    if (t.has(n)) return true;
    throw new Exit(`${msg}: ${STRERROR['ESRCH']}`, EX_OSERR);
  };
  switch (cmd) {
    case 'add':
    case 'delete':
      return modify(o, t, name, av, cmd === 'add', quiet, atomic);
    case 'create':
      return create(t, name, av);
    case 'modify': {
      let limit: number | undefined;
      for (let k = 0; k < av.length; ) {
        const w = token(CREATE_OPTS, av[k++]!, 'option');
        if (w !== 'limit') throw new Exit('cmd is not supported for modification', EX_USAGE);
        const v = av[k++];
        if (v === undefined) throw new Exit('limit value required', EX_USAGE);
        limit = /^\d+$/.test(v) ? Number(v) : 0;
      }
      known(name, 'Table modification failed');
      if (limit !== undefined) t.setLimit(name, limit);
      return;
    }
    case 'destroy':
    case 'flush':
      for (const n of names) {
        try {
          if (cmd === 'destroy') t.destroy(n);
          else t.flush(n);
        } catch (e) {
          const what = all ? `failed to ${cmd} table(${n}) in set 0` : cmd === 'destroy' ? `failed to destroy table ${n}` : `failed to flush table ${n} info`;
          // ESRCH is only a warning (not under -q); others end the command.
          if (e instanceof VimageError && e.errno === 'ESRCH') {
            if (!quiet) warn(`${what}: ${errnoText(e)}`);
          } else if (all) {
            if (!quiet) warn(`${what}: ${errnoText(e)}`);
          } else throw new Exit(`${what}: ${errnoText(e)}`, EX_OSERR);
        }
      }
      return;
    case 'swap': {
      const other = av[0];
      if (other === undefined) throw new Exit('second table name required', EX_USAGE);
      if (!/^[A-Za-z0-9_.-]{1,63}$/.test(other) || other === 'all') throw new Exit(`table name ${other} is invalid`, EX_USAGE);
      try {
        t.swap(name, other);
      } catch (e) {
        if (e instanceof VimageError && e.errno === 'EINVAL') throw new Exit('Unable to swap table: check types', EX_USAGE);
        if (e instanceof VimageError && e.errno === 'EAGAIN') throw new Exit('Unable to swap table: check limits', EX_USAGE);
        throw new Exit(`Unable to swap table: ${errnoText(e)}`, EX_OSERR);
      }
      return;
    }
    case 'lock':
    case 'unlock':
      known(name, `Table ${cmd} failed`);
      t.lock(name, cmd === 'lock');
      return;
    case 'info':
    case 'detail': {
      if (!all) known(name, 'failed to request table info');
      const infos = names.map((n) => t.info(n));
      if (ctx.json) o.out += JSON.stringify(all ? infos : infos[0], null, 2) + '\n';
      else for (const i of infos) o.out += infoText(i, cmd === 'detail');
      return;
    }
    case 'list': {
      if (!all) known(name, 'failed to request table info');
      const docs = names.map((n) => {
        const i = t.info(n);
        return { name: n, set: i.set, type: i.type, valtype: i.valtype, entries: t.list(n) };
      });
      if (ctx.json) {
        o.out += JSON.stringify(all ? docs : docs[0], null, 2) + '\n';
        return;
      }
      for (const d of docs) {
        o.out += `--- table(${d.name}), set(${d.set}) ---\n`;
        for (const e of d.entries) o.out += `${e.key} ${e.value}\n`;
      }
      return;
    }
    case 'lookup': {
      const key = av[0];
      if (key === undefined) throw new Exit('address required', EX_USAGE);
      if (!t.has(name)) throw new Exit(`Table ${name} not found`, EX_UNAVAILABLE);
      const hit = t.lookup(name, key);
      if (hit === null) throw new Exit(`Entry ${key} not found`, EX_UNAVAILABLE);
      if (ctx.json) o.out += JSON.stringify(hit, null, 2) + '\n';
      else o.out += `${hit.key} ${hit.value}\n`;
      return;
    }
  }
}
