/**
 * Process control inside an image: ps, kill and logs, as FreeBSD's ps(1)
 * and kill(1) print them; and `set` for the image's scheduling parameters
 * (cpu.weight, cpu.max).
 */

import { readFileSync } from 'node:fs';
import { CPU_WEIGHT_MAX, type CpuParams } from '../../lib/control/index.js';
import { EX_FAIL, EX_OK, type Command, type CommandContext, type ProcInfo } from '../command.js';
import { getopt, left, parseIntIn, printJson, right, usageError } from './util.js';

/** FreeBSD's signal numbers for the names kill(1) takes. */
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, ALRM: 14, TERM: 15, USR1: 30, USR2: 31 };

/** CPU time as ps prints it: m:ss.cc */
/**
 * ps's STAT: the state, then `s` for a background command (it leads its own
 * session, as a daemon does) or `+` for one in the caller's terminal, then
 * `k` for a kept one (`vimage -b --restart`: restarted when it exits). `k`
 * is vimage's own; FreeBSD's ps(1) has no such letter.
 */
function statFlags(p: ProcInfo): string {
  return p.stat + (p.detached ? 's' : '+') + (p.kept === true ? 'k' : '');
}

function cpuTime(ms: number): string {
  const cs = Math.floor(ms / 10);
  const m = Math.floor(cs / 6000);
  const s = Math.floor((cs % 6000) / 100);
  return `${m}:${String(s).padStart(2, '0')}.${String(cs % 100).padStart(2, '0')}`;
}

/** A user's name for ps -u (the uid when /etc/passwd does not have it). */
function userName(uid: number): string {
  if (uid === 0) return 'root';
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid));
    return line?.split(':')[0] ?? String(uid);
  } catch {
    return String(uid);
  }
}

function noProcs(ctx: CommandContext, cmd: string): number {
  ctx.stderr.write(`${cmd}: the process table is not available here\n`);
  return EX_FAIL;
}

const ps: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  // BSD style without a dash: `ps aux`.
  if (args[0] !== undefined && /^[axuwj]+$/.test(args[0])) args[0] = `-${args[0]}`;
  const o = getopt(args, 'axuwj');
  if (typeof o === 'string') return usageError(ctx, 'ps', `${o}\nusage: ps [-aux]`);
  if (ctx.procs === undefined) return noProcs(ctx, 'ps');
  const list: ProcInfo[] = ctx.procs.list();
  if (ctx.json) {
    printJson(ctx, { image: ctx.image.name, processes: list });
    return EX_OK;
  }
  if (o.count.has('u')) {
    // ps -u: FreeBSD's user-oriented columns. In-image processes share the
    // daemon's memory, so VSZ/RSS/%MEM are 0; %CPU is over the process's life.
    const now = Date.now();
    let out = `USER   ${right('PID', 5)} %CPU %MEM   VSZ  RSS TT  STAT STARTED     TIME COMMAND\n`;
    for (const p of list) {
      const life = Math.max(1, now - p.startedAt);
      const pcpu = p.stat === 'Z' ? 0 : Math.min(100, (100 * p.cpuMs) / life);
      const started = new Date(p.startedAt);
      const st = now - p.startedAt < 86_400_000 ? `${String(started.getHours()).padStart(2, '0')}:${String(started.getMinutes()).padStart(2, '0')}` : started.toDateString().slice(4, 10);
      const cmdText = p.stat === 'Z' ? `<defunct> (${p.argv.join(' ')}, exit ${p.exitStatus})` : p.argv.join(' ');
      out += `${left(userName(p.uid ?? 0), 6)} ${right(p.pid, 5)} ${right(pcpu.toFixed(1), 4)}  0.0     0    0 ${left(p.detached ? ' -' : 'vc', 3)} ${left(statFlags(p), 4)} ${left(st, 7)} ${right(cpuTime(p.cpuMs), 8)} ${cmdText}\n`;
    }
    ctx.stdout.write(out);
    return EX_OK;
  }
  let out = `${right('PID', 5)} TT  STAT    TIME COMMAND\n`;
  for (const p of list) {
    const tt = p.detached ? ' -' : 'vc';
    const stat = statFlags(p);
    out += `${right(p.pid, 5)} ${left(tt, 3)} ${left(stat, 4)} ${right(cpuTime(p.cpuMs), 7)} ${p.stat === 'Z' ? `<defunct> (${p.argv.join(' ')}, exit ${p.exitStatus})` : p.argv.join(' ')}\n`;
  }
  ctx.stdout.write(out);
  return EX_OK;
};

function listSignals(ctx: CommandContext): number {
  ctx.stdout.write(Object.keys(SIGNALS).join(' ') + '\n');
  return EX_OK;
}

/** kill's and killall's signal option (`-s NAME`, `-NAME`, `-N`; TERM without one) and where the operands start. */
function signalOption(args: readonly string[]): { sig: string; i: number } {
  if (args[0] === '-s') return { sig: (args[1] ?? '').toUpperCase().replace(/^SIG/, ''), i: 2 };
  if (args[0] !== undefined && /^-[A-Za-z0-9]+$/.test(args[0])) return { sig: args[0].slice(1).toUpperCase().replace(/^SIG/, ''), i: 1 };
  return { sig: 'TERM', i: 0 };
}

/** A signal given by number as its name (`#N` when there is none, which the caller then refuses). */
function signalName(sig: string): string {
  return /^\d+$/.test(sig) ? (Object.keys(SIGNALS).find((k) => SIGNALS[k] === Number(sig)) ?? `#${sig}`) : sig;
}

const kill: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  if (args[0] === '-l') return listSignals(ctx);
  const opt = signalOption(args);
  const i = opt.i;
  let sig = opt.sig;
  if (sig === '0') {
    // kill -0: does the process exist?
    if (ctx.procs === undefined) return noProcs(ctx, 'kill');
    let status = EX_OK;
    for (const text of args.slice(i)) {
      const pid = parseIntIn(text, 1, 2 ** 31 - 1);
      if (pid === undefined || !ctx.procs.list().some((p) => p.pid === pid && p.stat !== 'Z')) {
        ctx.stderr.write(`kill: ${text}: No such process\n`);
        status = EX_FAIL;
      }
    }
    return status;
  }
  sig = signalName(sig);
  if (SIGNALS[sig] === undefined) return usageError(ctx, 'kill', `${sig}: unknown signal; valid signals: ${Object.keys(SIGNALS).join(' ')}`);
  const pids = args.slice(i);
  if (pids.length === 0) return usageError(ctx, 'kill', 'usage: kill [-s signal_name] pid ...');
  if (ctx.procs === undefined) return noProcs(ctx, 'kill');
  let status = EX_OK;
  for (const text of pids) {
    const pid = parseIntIn(text, 1, 2 ** 31 - 1);
    if (pid === undefined) {
      ctx.stderr.write(`kill: ${text}: illegal process id\n`);
      status = EX_FAIL;
      continue;
    }
    const r = ctx.procs.kill(pid, sig);
    if (r !== true) {
      ctx.stderr.write(`kill: ${pid}: ${r === 'EPERM' ? 'Operation not permitted' : 'No such process'}\n`);
      status = EX_FAIL;
    }
  }
  return status;
};

/** The program name killall(1) matches: the last part of argv[0]. */
function progName(argv: readonly string[]): string {
  const a = argv[0] ?? '';
  return a.slice(a.lastIndexOf('/') + 1);
}

/** `killall [-SIG] [-s SIG] NAME...`: signal the image's processes by program name (built-in commands and Linux programs). */
const killall: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  if (args[0] === '-l') return listSignals(ctx);
  const opt = signalOption(args);
  const sig = signalName(opt.sig);
  const i = opt.i;
  if (SIGNALS[sig] === undefined) return usageError(ctx, 'killall', `${sig}: unknown signal; valid signals: ${Object.keys(SIGNALS).join(' ')}`);
  const names = args.slice(i);
  if (names.length === 0) return usageError(ctx, 'killall', 'usage: killall [-l] [-SIGNAL] [-s signal_name] procname ...');
  if (ctx.procs === undefined) return noProcs(ctx, 'killall');
  let status = EX_OK;
  for (const name of names) {
    const hits = ctx.procs.list().filter((p) => p.stat !== 'Z' && p.pid !== ctx.pid && progName(p.argv) === name);
    let done = 0;
    let denied = false;
    for (const p of hits) {
      const r = ctx.procs.kill(p.pid, sig);
      if (r === true) done++;
      else if (r === 'EPERM') denied = true;
    }
    if (done === 0) {
      // FreeBSD's killall: "No matching processes were found", exit 1.
      ctx.stderr.write(denied ? `killall: ${name}: Operation not permitted\n` : `No matching processes were found\n`);
      status = EX_FAIL;
    }
  }
  return status;
};

const logs: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  if (args.length !== 1) return usageError(ctx, 'logs', 'usage: logs PID (the output kept for a process started with vimage -b)');
  const pid = parseIntIn(args[0]!, 1, 2 ** 31 - 1);
  if (pid === undefined) return usageError(ctx, 'logs', `${args[0]}: illegal process id`);
  if (ctx.procs === undefined) return noProcs(ctx, 'logs');
  const text = ctx.procs.log(pid);
  if (text === undefined) {
    ctx.stderr.write(`logs: ${pid}: no such background process in image ${ctx.image.name}; 'ps' lists them\n`);
    return EX_FAIL;
  }
  if (ctx.json) printJson(ctx, { pid, log: text });
  else ctx.stdout.write(text);
  return EX_OK;
};

/** `set cpu.weight=N cpu.max=P`; without arguments, print them. */
const set: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  const cpu = ctx.image.cpu;
  if (args.length === 0) {
    if (ctx.json) printJson(ctx, { cpu: { weight: cpu.weight, max: cpu.max } });
    else ctx.stdout.write(`cpu.weight=${cpu.weight}\ncpu.max=${cpu.max}\n`);
    return EX_OK;
  }
  const plan: Partial<CpuParams> = {};
  for (const a of args) {
    const m = /^([a-z.]+)=(.*)$/.exec(a);
    if (m === null) return usageError(ctx, 'set', `${a}: expected NAME=VALUE, e.g. cpu.weight=200`);
    const [, key, val] = m;
    if (key === 'cpu.weight') {
      const n = parseIntIn(val!, 1, CPU_WEIGHT_MAX);
      if (n === undefined) return usageError(ctx, 'set', `cpu.weight: ${val} out of range, must be an integer between 1 and ${CPU_WEIGHT_MAX}`);
      plan.weight = n;
    } else if (key === 'cpu.max') {
      const n = parseIntIn(val!.replace(/%$/, ''), 1, 100);
      if (n === undefined) return usageError(ctx, 'set', `cpu.max: ${val} out of range, must be a percentage between 1 and 100`);
      plan.max = n;
    } else {
      return usageError(ctx, 'set', `${key}: unknown parameter; known: cpu.weight, cpu.max`);
    }
  }
  ctx.image.setCpu(plan);
  // --json: what is in force now, in the shape of the API's `cpu`.
  if (ctx.json) printJson(ctx, { cpu: { weight: ctx.image.cpu.weight, max: ctx.image.cpu.max } });
  return EX_OK;
};

export const commands: Record<string, Command> = { ps, kill, killall, logs, set };
