/**
 * In-image processes: every command run inside an image gets a pid, an
 * AbortController (Ctrl-C, kill, image destroyed), CPU accounting and an
 * entry in the daemon's process table while it runs. A detached process
 * (`vimage -b`) keeps its output in a bounded log, kept after it exits for
 * `vimage NAME logs PID`.
 *
 * CPU time: a command runs inside an AsyncLocalStorage context naming its
 * process; an async hook times every callback that runs in that context and
 * charges it to the process and its image.
 */

import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { commandHandles } from '../lib/control/index.js';
import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { E, VimageError } from '../lib/errors.js';
import { commandHelp } from './commands/help.js';
import { EX_FAIL, EX_OK, type Command, type LinuxChild, type Output, type ProcInfo, type ProcView } from './command.js';
import { procStat, signalHost, supervisorCommand, type LinuxProcs, type LinuxStart } from './linux/procs.js';

/** Exit status of a command that is not found (as sh(1) reports it). */
export const EX_NOTFOUND = 127;
/** Exit status of an internal error (sysexits EX_SOFTWARE). */
export const EX_SOFTWARE = 70;
/** Bytes of output kept per detached process. */
export const LOG_BYTES = 64 * 1024;
/** Exited detached processes whose logs are kept. */
export const KEEP_EXITED = 64;
/** How long shutdown and image destruction wait for processes to stop. */
export const STOP_WAIT_MS = 3000;

export type ProcState = 'running' | 'exited';

export interface Proc {
  readonly pid: number;
  readonly image: Image;
  readonly argv: readonly string[];
  readonly startedAt: number;
  readonly detached: boolean;
  state: ProcState;
  exitStatus: number | null;
  readonly abort: AbortController;
  done: Promise<number>;
  cpuMs: number;
  /** Output kept for `logs` (detached processes only). */
  log: string;
  /** Started by `vimage -b --restart` (daemon/keep.ts): restarted when it exits. */
  kept?: boolean;
  /** A background Linux program: its host pid (the Proc's pid too, when known) and its supervisor's. */
  host?: { pid: number; supervisor: number; uid: number };
  /** A built-in that catches SIGHUP (CommandContext.onHangup). */
  hangup?: () => void;
}

export interface ProcIo {
  stdout: Output;
  stderr: Output;
  stdin: AsyncIterable<Uint8Array>;
  json: boolean;
  /** The caller's uid (for kill of Linux programs: root or the owner); undefined: not checked. */
  uid?: number;
}

const EMPTY_STDIN: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

/** Is `gid` the primary group of `uid` (host /etc/passwd) or one that lists its user (/etc/group)? */
function inGroup(uid: number, gid: number): boolean {
  const read = (f: string): string[][] => {
    try {
      return readFileSync(f, 'utf8').split('\n').map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  const pw = read('/etc/passwd').find((f) => f.length >= 4 && f[2] !== '' && Number(f[2]) === uid);
  if (pw === undefined) return false;
  if (Number(pw[3]) === gid) return true;
  return read('/etc/group').some((f) => f.length >= 4 && f[2] !== '' && Number(f[2]) === gid && f[3]!.split(',').includes(pw[0]!));
}

export class ProcTable {
  private nextPid = 100;
  private readonly procs = new Map<number, Proc>();
  private readonly exited: Proc[] = [];
  private readonly als = new AsyncLocalStorage<Proc>();
  /** Linux programs in images (daemon/linux/procs.ts), when this daemon runs them. */
  linux: LinuxProcs | undefined;
  /** Where vimage-supervisor is and the control socket it reaches the daemon on (background Linux programs). */
  supervisor: { file: string; socket: string } | undefined;
  /** Callbacks being timed, innermost last; null for ones that are not a live process's. */
  private readonly running: Array<{ p: Proc; t0: number } | null> = [];

  constructor(
    private readonly registry: Registry,
    private readonly commands: ReadonlyMap<string, Command>,
    private readonly logger: Logger,
  ) {
    const als = this.als;
    // Resources made while a process ran (a TAP device's poll handle made by
    // `ifconfig tap create`, say) carry its context forever; only a live
    // process's callbacks are its work. Packet work is charged by the
    // scheduler, not here.
    createHook({
      before: () => {
        const p = als.getStore();
        if (p === undefined) return;
        if (p.state === 'running') this.enter(p);
        else this.running.push(null);
      },
      after: () => {
        if (als.getStore() !== undefined) this.leave();
      },
    }).enable();
  }

  private enter(p: Proc): void {
    this.running.push({ p, t0: this.registry.sched.processBegin() });
  }

  private leave(): void {
    const top = this.running.pop();
    if (top === undefined || top === null) return;
    top.p.cpuMs += this.registry.sched.processEnd(top.p.image.cpu, top.t0);
  }

  /** Running processes. */
  get size(): number {
    return this.procs.size;
  }

  processes(image?: Image): Proc[] {
    return [...this.procs.values()].filter((p) => image === undefined || p.image === image);
  }

  /** Processes of `image`, its Linux programs' processes included. */
  count(image: Image): number {
    const own = this.processes(image);
    const lin = this.linux?.pids(image).filter((p) => !this.procs.has(p)).length ?? 0;
    return own.length + lin;
  }

  /** The commands that exist, sorted, for "command not found" messages. */
  commandNames(): string[] {
    return [...this.commands.keys()].sort();
  }

  /** Start `argv` inside `image`; `done` resolves to its exit status. */
  spawn(image: Image, argv: readonly string[], io: ProcIo): Proc {
    return this.start(image, argv, io, false);
  }

  /** Start a detached process (`vimage -b`): output goes to its bounded log. */
  spawnDetached(image: Image, argv: readonly string[], json: boolean, uid?: number): Proc {
    // Output written before start() returns (the command's synchronous
    // beginning) lands here first.
    const out = { proc: undefined as Proc | undefined, early: '' };
    const keep = (t: string): void => {
      const p = out.proc;
      if (p === undefined) {
        out.early += t;
        return;
      }
      p.log += t;
      if (p.log.length > LOG_BYTES) p.log = p.log.slice(p.log.length - LOG_BYTES);
    };
    const keepBytes = (b: Uint8Array): void => keep(Buffer.from(b).toString('latin1'));
    const proc = this.start(image, argv, { stdout: { write: keep, writeBytes: keepBytes }, stderr: { write: keep }, stdin: EMPTY_STDIN, json, ...(uid !== undefined ? { uid } : {}) }, true);
    proc.log = out.early.slice(-LOG_BYTES);
    out.proc = proc;
    return proc;
  }

  /**
   * Start Linux program `argv` in the background (`vimage -b NAME PROGRAM`):
   * vimage-supervisor runs it, its output goes to the process's log, and the
   * process's pid is the program's host pid once the supervisor reports it.
   */
  async spawnLinux(image: Image, argv: readonly string[], start: LinuxStart): Promise<Proc> {
    const lp = this.linux;
    const sup = this.supervisor;
    if (lp === undefined || sup === undefined) throw new VimageError(E.BAD_REQUEST, 'this daemon cannot run Linux programs in the background (no vimage-supervisor)');
    const cmd = supervisorCommand(sup.file, sup.socket, image.name, argv, start);
    const out = { log: '', proc: undefined as Proc | undefined };
    const keep = (b: Buffer): void => {
      const t = b.toString('latin1');
      if (out.proc !== undefined) {
        out.proc.log += t;
        if (out.proc.log.length > LOG_BYTES) out.proc.log = out.proc.log.slice(out.proc.log.length - LOG_BYTES);
      } else out.log = (out.log + t).slice(-LOG_BYTES);
    };
    const child = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise<number>((resolve) => {
      child.on('error', (e) => {
        keep(Buffer.from(`vimage: cannot run ${cmd.file}: ${e.message}\n`));
        resolve(EX_NOTFOUND);
      });
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal !== null ? (os.constants.signals[signal] ?? 0) : 0)));
    });
    const supPid = child.pid ?? 0;
    const { pid: hostPid } = supPid > 0 ? await lp.programOf(supPid, exited) : { pid: 0 };
    let pid = hostPid > 0 ? hostPid : supPid;
    if (pid <= 0 || this.procs.has(pid)) pid = this.allocPid();
    const proc: Proc = {
      pid,
      image,
      argv,
      startedAt: this.registry.platform.wallNow(),
      detached: true,
      state: 'running',
      exitStatus: null,
      abort: new AbortController(),
      done: Promise.resolve(0),
      cpuMs: 0,
      log: out.log,
      host: { pid: hostPid, supervisor: supPid, uid: start.uid },
    };
    out.proc = proc;
    this.procs.set(pid, proc);
    this.logger.child({ image: image.name, pid }).info({ argv, supervisor: supPid, uid: start.uid }, 'linux program started in the background');
    proc.done = exited.then((status) => this.ended(proc, status));
    return proc;
  }

  private allocPid(): number {
    while (this.procs.has(this.nextPid)) this.nextPid++;
    return this.nextPid++;
  }

  private ended(proc: Proc, status: number): number {
    proc.state = 'exited';
    proc.exitStatus = status;
    if (this.procs.get(proc.pid) === proc) this.procs.delete(proc.pid);
    if (proc.detached) {
      this.exited.push(proc);
      if (this.exited.length > KEEP_EXITED) this.exited.shift();
    }
    return status;
  }

  private start(image: Image, argv: readonly string[], io: ProcIo, detached: boolean): Proc {
    const pid = this.allocPid();
    const abort = new AbortController();
    const proc: Proc = {
      pid,
      image,
      argv,
      startedAt: this.registry.platform.wallNow(),
      detached,
      state: 'running',
      exitStatus: null,
      abort,
      done: Promise.resolve(0),
      cpuMs: 0,
      log: '',
    };
    this.procs.set(pid, proc);
    proc.done = this.als.run(proc, () => {
      // The synchronous start of the command is the process's CPU too.
      this.enter(proc);
      try {
        return this.run(proc, io);
      } finally {
        this.leave();
      }
    }).then((status) => this.ended(proc, status));
    return proc;
  }

  private async run(proc: Proc, io: ProcIo): Promise<number> {
    const name = proc.argv[0] ?? '';
    const cmd = this.commands.get(name);
    if (cmd === undefined) {
      io.stderr.write(`vimage: ${name}: command not found; commands in an image: ${this.commandNames().join(', ')}\n`);
      return EX_NOTFOUND;
    }
    const help = proc.argv[1] === '--help' ? commandHelp(name) : undefined;
    if (help !== undefined) {
      io.stdout.write(help);
      return EX_OK;
    }
    const log = this.logger.child({ image: proc.image.name, pid: proc.pid });
    log.debug({ argv: proc.argv, detached: proc.detached }, 'process started');
    try {
      const status = await cmd({
        argv: proc.argv,
        ...commandHandles(proc.image, this.registry, { pid: proc.pid, command: name, uid: io.uid ?? 0, nextFd: 3 }), // sockstat: its sockets are fd 3 on
        stdout: io.stdout,
        stderr: io.stderr,
        stdin: io.stdin,
        signal: proc.abort.signal,
        json: io.json,
        pid: proc.pid,
        procs: this.view(proc.image, io.uid),
        onHangup: (fn) => {
          proc.hangup = fn;
        },
      });
      log.debug({ status }, 'process exited');
      return status;
    } catch (e) {
      if (e instanceof VimageError) {
        io.stderr.write(io.json ? JSON.stringify({ error: { code: e.code, message: `${name}: ${e.message}` } }) + '\n' : `${name}: ${e.message}\n`);
        return EX_FAIL;
      }
      log.error({ err: e }, 'command failed with an internal error');
      io.stderr.write(`${name}: internal error: ${(e as Error).message}\n`);
      return EX_SOFTWARE;
    } finally {
      this.registry.touch(proc.image); // what it changed is saved at the next commit (daemon/state.ts)
    }
  }

  // ---- ProcView, for ps, kill and logs --------------------------------

  /** One image's part of the table, as its commands see it. */
  private view(image: Image, uid: number | undefined): ProcView {
    return {
      list: () => this.list(image),
      kill: (pid, signal) => this.kill(image, pid, signal, uid),
      log: (pid) => this.log(image, pid),
      runLinux: (argv, as) => this.runLinux(image, argv, as, uid),
    };
  }

  /**
   * A Linux program in `image` with piped stdio, for a built-in that serves
   * connections with it (inetd). Only root, or a caller asking for its own
   * uid, may choose the user; a caller the daemon does not know (a kept
   * command restarted by the daemon) may not run programs.
   */
  private runLinux(image: Image, argv: readonly string[], as: { uid: number; gid: number }, caller: number | undefined): LinuxChild | string {
    const sup = this.supervisor;
    if (this.linux === undefined || sup === undefined) return 'this daemon cannot run Linux programs (no vimage-supervisor)';
    if (caller === undefined) return 'the daemon does not know who started this process, so it runs no programs for it';
    if (caller !== 0 && caller !== as.uid) return `permission denied: uid ${caller} may run programs only as itself, not as uid ${as.uid}`;
    if (caller !== 0 && !inGroup(caller, as.gid)) return `permission denied: uid ${caller} is not in group ${as.gid}`;
    const cmd = supervisorCommand(sup.file, sup.socket, image.name, argv, { uid: as.uid, gid: as.gid, cwd: '/' });
    const child = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const done = new Promise<number>((resolve) => {
      child.on('error', () => resolve(EX_NOTFOUND));
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal !== null ? (os.constants.signals[signal] ?? 0) : 0)));
    });
    child.stdin.on('error', () => {});
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, pid: child.pid ?? 0, done, kill: (sig) => void child.kill(sig) };
  }

  list(image: Image): ProcInfo[] {
    const self = this.als.getStore();
    const info = (p: Proc): ProcInfo => ({
      pid: p.pid,
      image: p.image.name,
      argv: p.argv,
      stat: p.state === 'exited' ? 'Z' : p === self ? 'R' : 'S',
      detached: p.detached,
      startedAt: p.startedAt,
      cpuMs: p.cpuMs,
      exitStatus: p.exitStatus,
      ...(p.kept === true ? { kept: true } : {}),
      ...(p.host !== undefined ? { linux: true, uid: p.host.uid, cpuMs: procStat(p.host.pid)?.cpuMs ?? p.cpuMs } : {}),
    });
    const mine = [...this.processes(image), ...this.exited.filter((p) => p.image === image)].map(info);
    const linux = this.linux?.list(image, (pid) => this.procs.has(pid)) ?? [];
    return [...mine, ...linux].sort((a, b) => a.pid - b.pid);
  }

  /** Send `signal` to process `pid` of `image` for a caller with uid `uid` (undefined: anyone may). */
  kill(image: Image, pid: number, signal: string, uid?: number): boolean | 'EPERM' {
    const p = this.procs.get(pid);
    if (p !== undefined && p.image === image) {
      if (p.host === undefined && p.hangup !== undefined && signal.replace(/^SIG/, '') === 'HUP') {
        p.hangup();
        return true;
      }
      if (p.host !== undefined) {
        const r = signalHost(p.host.pid > 0 ? p.host.pid : p.host.supervisor, signal, uid);
        if (r === 'EPERM') return 'EPERM';
      }
      p.abort.abort(signal);
      return true;
    }
    const r = this.linux?.kill(image, pid, signal, uid) ?? 'ESRCH';
    return r === 'ok' ? true : r === 'EPERM' ? 'EPERM' : false;
  }

  log(image: Image, pid: number): string | undefined {
    const p = this.procs.get(pid) ?? this.exited.find((e) => e.pid === pid);
    if (p === undefined || p.image !== image || !p.detached) return undefined;
    return p.log;
  }

  /** Wait for `ps` to finish, at most STOP_WAIT_MS; name the ones that did not. */
  private async reap(ps: Proc[], why: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), STOP_WAIT_MS);
    });
    const r = await Promise.race([Promise.all(ps.map((p) => p.done)), late]);
    clearTimeout(timer);
    if (r === 'late') {
      const stuck = ps.filter((p) => p.state === 'running').map((p) => p.pid);
      this.logger.warn({ pids: stuck, why }, 'processes did not stop in time; going on without them');
    }
  }

  /** Stop every process of `image` (image destroyed) and wait for them (bounded). */
  async stopImage(image: Image): Promise<void> {
    const ps = this.processes(image);
    for (const p of ps) p.abort.abort('TERM');
    await this.linux?.stopImage(image);
    await this.reap(ps, `image ${image.name} destroyed`);
    for (let i = this.exited.length - 1; i >= 0; i--) if (this.exited[i]!.image === image) this.exited.splice(i, 1);
  }

  async stopAll(): Promise<void> {
    const ps = this.processes();
    for (const p of ps) p.abort.abort('TERM');
    await this.linux?.stopAll(this.registry.list());
    await this.reap(ps, 'daemon shutting down');
  }
}

/** Standard input of a process: an async iterable fed by the exec stream. */
export class InputQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | null = null;
  /** Bytes queued and not yet read, for flow control. */
  queued = 0;
  /** Called when the reader has taken everything queued. */
  onDrain: (() => void) | null = null;

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift();
      if (c !== undefined) {
        this.queued -= c.length;
        if (this.chunks.length === 0) this.onDrain?.();
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }
}
