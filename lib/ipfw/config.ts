/**
 * The ipfw part of an image's saved configuration: rules as `ipfw list`
 * prints them (and re-parses them), pipes and queues as their parameters.
 * Dynamic states and counters are not configuration and are not saved.
 */

import type { Vnet } from '../net/vnet.js';
import type { FlowMask, PipeConfig } from './dummynet.js';
import { codelDefaults, pieDefaults, type AqmConfig, type DnProfile, type SchedParams } from './dn_params.js';
import { ruleBody } from './format.js';
import { parseRule } from './parse.js';
import { natConfigWords, parseNatConfig } from './nat_config.js';
import { restoreTables, saveTables, type TableSaved } from './table_config.js';
import type { Rule } from './rule.js';

interface DnSaved {
  nr: number;
  bw?: number;
  delay?: number;
  plr: number;
  qsize: number;
  qbytes: boolean;
  mask?: FlowMask;
  buckets?: number;
  pipe?: number;
  weight?: number;
  burst?: number;
  profile?: DnProfile;
  aqm?: AqmConfig;
  lmax?: number;
  pri?: number;
  /** Scheduler N's type when not WF2Q+, and its parameters. */
  type?: string;
  sched?: SchedParams;
}

export interface IpfwConfig {
  rules: string[];
  pipes: DnSaved[];
  queues: DnSaved[];
  /** NAT instances as `N` followed by the words of `ipfw nat N config` (absent when none). */
  nat?: string[];
  /** Lookup tables (table_config.ts); absent when there are none. */
  tables?: TableSaved[];
  /** Disabled rule sets, one bit per set (`ipfw set disable`); absent when none. */
  setDisable?: number;
}

/** A rule as saved: `NUM [set N] BODY`, which parseRule reads back. */
const savedText = (r: Rule): string => `${r.num} ${r.set !== 0 ? `set ${r.set} ` : ''}${ruleBody(r, undefined, true)}`;

/** The image's rules, pipes and queues; undefined when it has none. */
export function saveIpfwConfig(im: Vnet): IpfwConfig | undefined {
  const fw = im.fw;
  const rules = fw.rules.filter((r) => r !== fw.defaultRule).map(savedText);
  const pipes: DnSaved[] = [...fw.dn.pipes.values()].map((p) => ({
    nr: p.nr,
    bw: p.bw,
    delay: p.delay,
    plr: p.fs.plr,
    qsize: p.fs.qsize,
    qbytes: p.fs.qbytes,
    ...(p.hasMask ? { mask: { ...p.mask }, buckets: p.buckets } : {}),
    ...(p.burst !== 0 ? { burst: p.burst } : {}),
    ...(p.profile !== null ? { profile: p.profile } : {}),
    ...(p.fs.aqm !== null ? { aqm: p.fs.aqm } : {}),
    ...(p.wf2q.type.name !== 'WF2Q+' ? { type: p.wf2q.type.name.toLowerCase() } : {}),
    ...(Object.keys(p.wf2q.params).length > 0 ? { sched: p.wf2q.params } : {}),
  }));
  const queues: DnSaved[] = [...fw.dn.queues.values()].map((q) => ({
    nr: q.nr,
    pipe: q.schedNr,
    weight: q.weight,
    plr: q.plr,
    qsize: q.qsize,
    qbytes: q.qbytes,
    ...(q.hasMask ? { mask: { ...q.mask }, buckets: q.buckets } : {}),
    ...(q.aqm !== null ? { aqm: q.aqm } : {}),
    ...(q.lmax !== 0 ? { lmax: q.lmax } : {}),
    ...(q.pri !== 0 ? { pri: q.pri } : {}),
  }));
  const nat = fw.nat.configs().map((c) => [String(c.id), ...natConfigWords(c)].join(' '));
  const tables = saveTables(fw.tables);
  const dis = fw.setDisable;
  if (rules.length === 0 && pipes.length === 0 && queues.length === 0 && nat.length === 0 && tables.length === 0 && dis === 0) return undefined;
  return { rules, pipes, queues, ...(nat.length > 0 ? { nat } : {}), ...(tables.length > 0 ? { tables } : {}), ...(dis !== 0 ? { setDisable: dis } : {}) };
}

/**
 * Pipes and queues, then the rules an image does not have yet (a rule
 * already there, same number and body, is not added twice). Throws one
 * error naming every rule that did not parse or fit; the others are added.
 */
export function restoreIpfwConfig(im: Vnet, data: unknown): void {
  const d = data as Partial<IpfwConfig>;
  const fw = im.fw;
  // A bad pipe or queue is reported like a bad rule: what follows (tables, nat, rules) is still restored.
  const errors: string[] = [];
  for (const p of d.pipes ?? []) {
    try {
      checkSaved(p);
      fw.dn.configPipe(p.nr, toConfig(p));
      if (p.type !== undefined || p.sched !== undefined) fw.dn.configSched(p.nr, { ...(p.type !== undefined ? { type: p.type } : {}), ...(p.sched !== undefined ? { sched: p.sched } : {}) });
    } catch (e) {
      errors.push(`pipe ${String(p?.nr)}: ${(e as Error).message}`);
    }
  }
  for (const q of d.queues ?? []) {
    try {
      checkSaved(q);
      fw.dn.configQueue(q.nr, toConfig(q));
    } catch (e) {
      errors.push(`queue ${String(q?.nr)}: ${(e as Error).message}`);
    }
  }
  errors.push(...restoreTables(fw.tables, d.tables));
  for (const text of d.nat ?? []) {
    try {
      const w = String(text).trim().split(/\s+/);
      const id = /^\d+$/.test(w[0]!) ? Number(w[0]) : NaN;
      if (!(id > 0 && id <= 65535)) throw new Error(`illegal nat id: ${w[0]}`);
      fw.nat.config(parseNatConfig(id, w.slice(1)));
    } catch (e) {
      errors.push(`nat '${String(text)}': ${(e as Error).message}`);
    }
  }
  if (typeof d.setDisable === 'number' && Number.isInteger(d.setDisable)) fw.setDisable = (d.setDisable & 0x7fffffff) >>> 0;
  const have = new Set(fw.rules.map(savedText));
  for (const text of d.rules ?? []) {
    if (typeof text !== 'string' || have.has(text)) continue;
    try {
      fw.add(parseRule(text.trim().split(/\s+/)));
    } catch (e) {
      errors.push(`rule '${text}': ${(e as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(errors.join('; '));
}

/**
 * Saved parameters go to the packet path unparsed: refuse what `dnctl`
 * would not have accepted (fq sizes out of parse_dn.ts's ranges, missing,
 * non-finite or negative numbers), which would throw or misbehave there.
 */
function checkSaved(s: DnSaved): void {
  const finite = (o: unknown, what: string): void => {
    if (o === undefined) return;
    if (typeof o !== 'object' || o === null) throw new Error(`${what} is not an object`);
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0)) throw new Error(`${what}.${k} is not a number >= 0`);
      if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'string' && !(k === 'samples' && Array.isArray(v))) throw new Error(`${what}.${k} is not valid`);
    }
  };
  const sc = s.sched;
  if (sc !== undefined) {
    if (typeof sc !== 'object' || sc === null) throw new Error('sched is not an object');
    const fq = sc.fq;
    if (fq !== undefined) {
      finite(fq, 'sched.fq');
      const int = (v: unknown, lo: number, hi: number): boolean => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
      if (!int(fq.quantum, 1, 9000) || !int(fq.limit, 1, 20480) || !int(fq.flows, 1, 65536)) throw new Error('sched.fq needs quantum 1-9000, limit 1-20480, flows 1-65536');
    }
    for (const [k, d] of [['codel', codelDefaults()], ['pie', pieDefaults()]] as const) {
      const v = sc[k] as Record<string, unknown> | undefined;
      if (v === undefined) continue;
      finite(v, `sched.${k}`);
      for (const [f, dv] of Object.entries(d)) if (typeof v[f] !== typeof dv) throw new Error(`sched.${k}.${f} is missing or of the wrong type`);
    }
  }
  finite(s.aqm, 'aqm');
  if (s.profile !== undefined) {
    finite(s.profile, 'profile');
    if (!Array.isArray(s.profile.samples) || s.profile.samples.length === 0 || !s.profile.samples.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) throw new Error('profile.samples must be delays >= 0');
  }
}

function toConfig(s: DnSaved): PipeConfig {
  const c: PipeConfig = { plr: s.plr, qsize: s.qsize, qbytes: s.qbytes };
  if (s.bw !== undefined) c.bw = s.bw;
  if (s.delay !== undefined) c.delay = s.delay;
  if (s.mask !== undefined) c.mask = s.mask;
  if (s.buckets !== undefined) c.buckets = s.buckets;
  if (s.pipe !== undefined) c.pipe = s.pipe;
  if (s.weight !== undefined) c.weight = s.weight;
  if (s.burst !== undefined) c.burst = s.burst;
  if (s.profile !== undefined) c.profile = s.profile;
  if (s.aqm !== undefined) c.aqm = s.aqm;
  if (s.lmax !== undefined) c.lmax = s.lmax;
  if (s.pri !== undefined) c.pri = s.pri;
  return c;
}
