/**
 * `pipe|queue|sched ...` for both ipfw(8) and dnctl(8): config (with
 * `profile FILE` read here, in the daemon), delete, flush and show, and
 * the listings as FreeBSD 14 prints them (sbin/ipfw/dummynet.c:
 * list_pipes, print_flowset_parms, print_extra_delay_parms,
 * get_extra_parms for the AQM and fq_* lines, print_mask and the flow
 * table), from the plain data of the image's control surface.
 */

import { readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ProfileError, RuleSyntaxError, protoName, type DnConfigSpec, type DnFlowInfo, type DnFlowsetInfo, type DnMaskInfo, type DnPipeInfo, type DnSchedInfo, type DummynetInfo } from '../../lib/control/index.js';
import { ip4ToString } from '../../lib/wire/ipv4.js';
import { EX_USAGE, type CommandContext } from '../command.js';
import { printJson } from './util.js';

const EX_DATAERR = 65;
const EX_UNAVAILABLE = 69;
/** A profile file larger than this is not a profile (1024 samples fit in far less). */
const PROFILE_MAX_BYTES = 256 * 1024;

/** Where a command collects its output and status (ipfw's and dnctl's Out). */
export interface DnOut {
  out: string;
  err: string;
  status: number;
  warn(msg: string, status?: number): void;
}

export interface DnOpts {
  quiet: boolean;
  testOnly: boolean;
  /** `-s N`: sort flows by current packets (1), bytes (2), total packets (3) or bytes (4); negative reverses. */
  sort?: number;
}

/** The words as typed (a rule or a config), the offending one underlined, as ipfw prints its syntax errors. */
export function pointAt(prefix: string, tokens: readonly string[], at: number): string {
  let line = prefix;
  let col = -1;
  let len = 1;
  for (let k = 0; k < tokens.length; k++) {
    line += ' ';
    if (k === at) {
      col = line.length;
      len = tokens[k]!.length;
    }
    line += tokens[k]!;
  }
  if (col < 0) col = line.length + 1;
  return `  ${line}\n  ${' '.repeat(col)}${'^'.repeat(Math.max(1, len))}\n`;
}

/** `N`, `N-M`: [lo, hi], or undefined. */
function range(t: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(t);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi > 0x3ffff) return undefined;
  return [lo, hi];
}

/**
 * Read `profile FILE` for the daemon: the path must be absolute (the
 * daemon does not know the caller's directory) and the file readable by
 * everyone, since vimaged reads it on the caller's behalf.
 */
function readProfile(ctx: CommandContext, o: DnOut, cmd: string, spec: DnConfigSpec, file: string): boolean {
  if (!isAbsolute(file)) {
    o.warn(`profile ${file}: give an absolute path (${cmd} runs inside vimaged, which does not know your working directory)`, EX_USAGE);
    return false;
  }
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw Object.assign(new Error(), { code: 'EISDIR' });
    if ((st.mode & 0o004) === 0) {
      o.warn(`fopen: ${file}: not readable by everyone; vimaged reads it on your behalf, so make it world-readable (chmod o+r)`, EX_UNAVAILABLE);
      return false;
    }
    if (st.size > PROFILE_MAX_BYTES) {
      o.warn(`profile ${file}: larger than ${PROFILE_MAX_BYTES} bytes; not a delay profile`, EX_DATAERR);
      return false;
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message;
    o.warn(`fopen: ${file}: ${why}`, EX_UNAVAILABLE);
    return false;
  }
  try {
    spec.profile = ctx.image.firewall.parseProfile(text, file, (w) => o.warn(w));
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    o.warn(e.message, EX_DATAERR);
    return false;
  }
  return true;
}

/**
 * `CMD pipe|queue|sched ...` (CMD is ipfw or dnctl): `N config ...`,
 * `N delete`, `delete N...`, `flush`, `[N] show|list [N...]`.
 */
export function dummynetCommand(ctx: CommandContext, o: DnOut, kind: 'pipe' | 'queue' | 'sched', args: readonly string[], opts: DnOpts, cmd: string): void {
  const fw = ctx.image.firewall;
  const show = (nums: readonly string[]): void => {
    const wanted: Array<[number, number]> = [];
    for (const a of nums) {
      for (const part of a.split(',')) {
        const r = range(part);
        if (r === undefined) o.warn(`invalid number: ${part}`);
        else wanted.push(r);
      }
    }
    const only = wanted.length === 0 ? undefined : (n: number): boolean => wanted.some(([lo, hi]) => n >= lo && n <= hi);
    const dn = fw.dummynet();
    if (opts.sort !== undefined) sortFlows(dn, opts.sort);
    if (ctx.json) {
      printJson(ctx, dn);
      return;
    }
    o.out += kind === 'pipe' ? showPipes(dn, only) : kind === 'queue' ? showQueues(dn, only) : showScheds(dn, only);
  };
  const del = (t: string): void => {
    const n = /^\d+$/.test(t) ? Number(t) : NaN;
    const ok = kind === 'queue' ? fw.deleteQueue(n) : fw.deletePipe(n);
    if (!ok) o.warn(`rule ${t}: setsockopt(IP_DUMMYNET_DEL): No such file or directory`, 1);
  };
  const a0 = args[0];
  if (a0 === undefined || a0 === 'show' || a0 === 'list') return show(args.slice(1));
  if (a0 === 'flush') {
    fw.flushDummynet();
    if (!opts.quiet) o.out += 'Flushed all pipes.\n';
    return;
  }
  if (a0 === 'delete') {
    if (args.length < 2) return o.warn('missing rule specification', EX_USAGE);
    for (const t of args.slice(1)) del(t);
    return;
  }
  if (!/^\d+$/.test(a0)) return o.warn(`need a pipe/flowset/sched number`, EX_USAGE);
  const nr = Number(a0);
  if (nr <= 0 || nr >= 65536) return o.warn(`need a pipe/flowset/sched number`, EX_USAGE);
  const verb = args[1];
  if (verb === 'delete') return del(a0);
  if (verb === 'show' || verb === 'list') return show([a0, ...args.slice(2)]);
  if (verb !== 'config') return o.warn(`unrecognised option \`\`${verb ?? ''}''`, EX_USAGE);
  const tokens = args.slice(2);
  let spec: DnConfigSpec;
  try {
    spec = fw.parseDummynet(kind, tokens);
  } catch (e) {
    if (e instanceof RuleSyntaxError) {
      o.err += `${cmd}: ${e.message}\n` + pointAt(`${kind} ${a0} config`, tokens, e.at);
      o.status = e.status;
      return;
    }
    throw e;
  }
  if (spec.profileFile !== undefined && !readProfile(ctx, o, cmd, spec, spec.profileFile)) return;
  if (opts.testOnly) return;
  if (kind === 'pipe') fw.configPipe(nr, spec);
  else if (kind === 'sched') fw.configSched(nr, spec);
  else {
    if (!fw.hasQueue(nr) && spec.pipe === undefined) {
      o.warn(`queue ${nr} needs a pipe: ${cmd} queue ${nr} config pipe P [weight W] ...`, EX_DATAERR);
      return;
    }
    fw.configQueue(nr, spec);
  }
}

/** ipfw's sort_q: by the chosen counter, largest first; a negative field, smallest first. */
function sortFlows(dn: DummynetInfo, field: number): void {
  const key = (f: DnFlowInfo): number => [0, f.pkts, f.bytes, f.totPkts, f.totBytes][Math.abs(field)] ?? 0;
  const cmp = (a: DnFlowInfo, b: DnFlowInfo): number => (field < 0 ? key(a) - key(b) : key(b) - key(a));
  for (const p of dn.pipes) {
    p.fifo.flows.sort(cmp);
    p.sched.flows.sort(cmp);
  }
  for (const q of dn.queues) q.flows.sort(cmp);
}

/** Numbers of pipes, queues and schedulers wrap at 65536 in the listing (FreeBSD's DN_MAX_ID). */
const DN_MAX_ID = 0x10000;

type Only = ((nr: number) => boolean) | undefined;

/** `ipfw pipe show`: each pipe with its own queue and FIFO scheduler. */
export function showPipes(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of dn.pipes) {
    if (only !== undefined && !only(p.nr)) continue;
    out.push(linkLine(p));
    if (p.profile !== undefined) out.push(profileLine(p.profile));
    out.push(fsLine(p.flowset), schedLine(p.fifo));
    if (p.fifo.mask !== undefined) out.push(maskLine(p.fifo.mask));
    for (const f of p.fifo.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `ipfw queue show`. */
export function showQueues(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const fs of dn.queues) {
    if (only !== undefined && !only(fs.nr)) continue;
    out.push(fsLine(fs));
    if (fs.mask !== undefined) out.push(maskLine(fs.mask));
    for (const f of fs.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `ipfw sched show`: each pipe's scheduler for the queues attached to it. */
export function showScheds(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of dn.pipes) {
    if (only !== undefined && !only(p.nr)) continue;
    out.push(linkLine(p));
    if (p.profile !== undefined) out.push(profileLine(p.profile));
    out.push(schedLine(p.sched));
    const extra = schedParams(p.sched);
    if (extra !== '') out.push(extra);
    if (p.sched.mask !== undefined) out.push(maskLine(p.sched.mask));
    if (p.sched.children.length > 0) out.push(`   Children flowsets: ${p.sched.children.map((c) => `${c} `).join('')}`);
    for (const f of p.sched.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `%7.3f Mbit/s` and friends, or `unlimited     `. */
function bwText(b: number): string {
  if (b === 0) return 'unlimited     ';
  if (b >= 1e9) return `${(b / 1e9).toFixed(3).padStart(7)} Gbit/s`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(3).padStart(7)} Mbit/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(3).padStart(7)} Kbit/s`;
  return `${b.toFixed(3).padStart(7)} bit/s `;
}

/** The burst as a plain number of bytes (FreeBSD prints this with -v; without it, humanize_number's form). */
function linkLine(p: DnPipeInfo): string {
  return `${String(p.nr % DN_MAX_ID).padStart(5, '0')}: ${bwText(p.bandwidth)} ${String(p.delayMs).padStart(4)} ms burst ${p.burst ?? 0}`;
}

/** print_extra_delay_parms. */
function profileLine(pf: NonNullable<DnPipeInfo['profile']>): string {
  return `\t profile: name "${pf.name}" loss ${pf.loss.toFixed(6)} samples ${pf.samples}`;
}

/** C's %g (6 significant digits, no trailing zeros), or %.Ng. */
function g(v: number, prec = 6): string {
  if (v === 0) return '0';
  return String(Number(v.toPrecision(prec)));
}

/** dummynet.c us_to_time, with FreeBSD's "fs" for seconds as it prints it. */
function usToTime(t: number): string {
  if (t < 0) return '';
  if (t === 0) return '0';
  if (t < 1000) return `${t}us`;
  if (t < 1_000_000) return `${g(t / 1000)}ms`;
  return `${g(t / 1_000_000)}fs`;
}

/** PIE's fractions go through PIE_SCALE (2^13) fixed point in FreeBSD. */
const pieFix = (v: number): number => Math.trunc(v * 8192) / 8192;

function pieText(p: { target: number; tupdate: number; maxBurst: number; maxEcnth: number; alpha: number; beta: number; ecn: boolean; capdrop: boolean; onoff: boolean; dre: boolean; derand: boolean }): string {
  return `target ${usToTime(p.target)} tupdate ${usToTime(p.tupdate)} alpha ${g(pieFix(p.alpha))} beta ${g(pieFix(p.beta))} max_burst ${usToTime(p.maxBurst)} max_ecnth ${g(pieFix(p.maxEcnth), 3)}`;
}

function pieFlags(p: { ecn: boolean; capdrop: boolean; onoff: boolean; dre: boolean; derand: boolean }): string {
  return (p.ecn ? ' ECN' : ' NoECN') + (p.capdrop ? ' CapDrop' : ' NoCapDrop') + (p.onoff ? ' OnOff' : '') + (p.dre ? ' DRE' : ' TS') + (p.derand ? ' Derand' : ' NoDerand');
}

/** get_extra_parms(DN_SCH_PARAMS): the fq_* line after the sched line; '' for the others. */
function schedParams(s: DnSchedInfo): string {
  const pr = s.params;
  if (pr === undefined || pr.fq === undefined) return '';
  const fq = ` quantum ${pr.fq.quantum} limit ${pr.fq.limit} flows ${pr.fq.flows}`;
  if (pr.codel !== undefined) return ` FQ_CODEL target ${usToTime(pr.codel.target)} interval ${usToTime(pr.codel.interval)}${fq}${pr.codel.ecn ? ' ECN' : ' NoECN'}`;
  if (pr.pie !== undefined) return `  FQ_PIE ${pieText(pr.pie)}${fq}${pieFlags(pr.pie)}`;
  return '';
}

/** print_flowset_parms' last field: droptail, the RED line, or get_extra_parms(DN_AQM_PARAMS). */
function aqmText(fs: DnFlowsetInfo): string {
  const a = fs.aqm;
  if (a === undefined) return 'droptail';
  if (a.kind === 'red') {
    // SCALE_RED is 16 bits of fixed point.
    const fix = (v: number): number => Math.trunc(v * 65536) / 65536;
    return `\n\t ${a.gentle ? 'G' : ' '}RED w_q ${fix(a.wq).toFixed(6)} min_th ${a.minTh} max_th ${a.maxTh} max_p ${fix(a.maxP).toFixed(6)}${a.ecn ? ' (ecn)' : ''}`;
  }
  if (a.kind === 'codel') return ` AQM CoDel target ${usToTime(a.target)} interval ${usToTime(a.interval)}${a.ecn ? ' ECN' : ' NoECN'}`;
  return ` AQM type PIE ${pieText(a)}${pieFlags(a)}`;
}

function fsLine(fs: DnFlowsetInfo): string {
  const qs = fs.queueBytes ? (fs.queueSize >= 8192 ? `${Math.floor(fs.queueSize / 1024)} KB` : `${fs.queueSize} B`) : `${String(fs.queueSize).padStart(3)} sl.`;
  // FreeBSD keeps plr as a fraction of 2^31 - 1 and prints what that gives back.
  const plr = fs.plr > 0 ? `plr ${(Math.trunc(fs.plr * 0x7fffffff) / 0x7fffffff).toFixed(6)}` : '';
  return `q${String(fs.nr).padStart(5, '0')} ${qs}${plr} ${fs.flows.length} flows (${fs.buckets} buckets) sched ${fs.schedNr} weight ${fs.weight} lmax ${fs.lmax ?? 0} pri ${fs.pri ?? 0} ${aqmText(fs)}`;
}

function schedLine(s: DnSchedInfo): string {
  return ` sched ${s.nr} type ${s.type} flags 0x${s.masked ? 1 : 0} ${s.buckets} buckets ${s.active} active`;
}

const hex = (v: number, w: number): string => '0x' + (v >>> 0).toString(16).padStart(w, '0');

function maskLine(m: DnMaskInfo): string {
  return `    mask:  ${hex(m.proto, 2)} ${hex(m.src, 8)}/${hex(m.sport, 4)} -> ${hex(m.dst, 8)}/${hex(m.dport, 4)}`;
}

function flowLine(out: string[], n: DnFlowInfo, hdr: { printed: boolean }): void {
  if (!hdr.printed) {
    out.push('BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp');
    hdr.printed = true;
  }
  const name = protoName(n.proto);
  let s = `${String(n.bucket & 0xff).padStart(3)} `;
  s += name !== undefined ? `${name.padEnd(4)} ` : `${String(n.proto).padStart(4)} `;
  s += `${ip4ToString(n.src).padStart(15)}/${String(n.sport).padEnd(5)} `;
  s += `${ip4ToString(n.dst).padStart(15)}/${String(n.dport).padEnd(5)} `;
  s += `${String(n.totPkts).padStart(4)} ${String(n.totBytes).padStart(8)} `;
  s += `${String(n.pkts).padStart(2)} ${String(n.bytes).padStart(4)} ${String(n.drops).padStart(3)}`;
  out.push(s);
}
