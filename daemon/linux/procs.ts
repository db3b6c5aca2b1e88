/**
 * Linux programs as in-image processes. Every vimage-supervisor session
 * (daemon/linux/agent.ts) is registered here with the supervisor's host pid
 * (the kernel's SO_PEERCRED) and the uid it runs as; the supervisor then
 * reports its program's host pid (OP.PID). Before the daemon says hello the
 * supervisor is moved into the image's cgroup (daemon/linux/cgroup.ts), so
 * the program and every child it makes are in there too.
 *
 * An image's Linux processes are the processes of its cgroup less the
 * supervisors; without cgroups, the programs' process trees as /proc's
 * parent links show them (a child that its parent orphaned is then lost).
 * `ps` reads them from /proc; `kill` signals them when the caller is root or
 * owns the process; destroying the image sends SIGTERM to every one, then
 * SIGKILL after KILL_GRACE_MS to what is left, supervisors included.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Image } from '../../lib/image.js';
import type { Logger } from '../../lib/log.js';
import type { ProcInfo } from '../command.js';
import type { Cgroups } from './cgroup.js';
import { FRAME_SIZE, OP, PID_ROLE, requestSize } from './wire.js';

/** How long destroying an image waits after SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 1500;
/** How long a background start waits for the supervisor to report its program. */
export const PID_WAIT_MS = 5000;

export interface ProcStat {
  ppid: number;
  state: string;
  /** user + system CPU, ms */
  cpuMs: number;
  /** wall-clock start, ms since the epoch */
  startedAt: number;
  uid: number;
}

const HZ = 100; // USER_HZ on every Linux architecture we build for
let bootMs: number | undefined;

function boot(): number {
  if (bootMs === undefined) {
    const m = /^btime (\d+)$/m.exec(readText('/proc/stat') ?? '');
    bootMs = m === null ? Date.now() - os.uptime() * 1000 : Number(m[1]) * 1000;
  }
  return bootMs;
}

function readText(f: string): string | undefined {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return undefined;
  }
}

/** /proc/PID/stat and the real uid; undefined when there is no such process (or a zombie). */
export function procStat(pid: number): ProcStat | undefined {
  const t = readText(`/proc/${pid}/stat`);
  if (t === undefined) return undefined;
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  const state = f[0] ?? '?';
  if (state === 'Z' || state === 'X') return undefined;
  const uidLine = /^Uid:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return {
    state,
    ppid: Number(f[1]),
    cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / HZ,
    startedAt: boot() + (Number(f[19]) * 1000) / HZ,
    uid: uidLine === null ? -1 : Number(uidLine[1]),
  };
}

/** argv of a host process, or its name in brackets when it has none (a kernel thread, a zombie). */
export function procArgv(pid: number): string[] {
  const t = readText(`/proc/${pid}/cmdline`);
  if (t !== undefined && t.length > 0) return t.replace(/\0$/, '').split('\0');
  const c = readText(`/proc/${pid}/comm`);
  return [`[${(c ?? '?').trim()}]`];
}

/** Every live descendant of `roots` (roots included), from /proc's parent links. */
export function descendants(roots: Iterable<number>): Set<number> {
  const kids = new Map<number, number[]>();
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    // no /proc: only the roots
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const t = readText(`/proc/${n}/stat`);
    if (t === undefined) continue;
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z') continue;
    const pp = Number(f[1]);
    const l = kids.get(pp);
    if (l === undefined) kids.set(pp, [Number(n)]);
    else l.push(Number(n));
  }
  const out = new Set<number>();
  const todo = [...roots];
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (out.has(p)) continue;
    out.add(p);
    for (const c of kids.get(p) ?? []) todo.push(c);
  }
  return out;
}

/** One supervisor session. */
export interface LinuxSession {
  readonly image: Image;
  /** Host pids of the supervisor (it forks once into the background when its program exits). */
  readonly supervisors: Set<number>;
  /** The program's top process, once reported. */
  program: number | undefined;
  readonly uid: number;
  readonly openedAt: number;
  /** A background program started by the daemon (ps shows it through the process table). */
  detached: boolean;
}

export type KillResult = 'ok' | 'EPERM' | 'ESRCH';

export class LinuxProcs {
  private readonly sessions = new Set<LinuxSession>();
  /** Background starts waiting for their supervisor's session, by supervisor pid. */
  private readonly waiting = new Map<number, (s: LinuxSession) => void>();

  constructor(
    readonly cgroups: Cgroups | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * A supervisor (host pid `pid`, uid `uid`) opened a session in `image`:
   * into the image's cgroup with it, before it forks its program.
   */
  open(image: Image, pid: number, uid: number): LinuxSession {
    // The pid the kernel gave at connect time could belong to another process by now: it must still run as the peer's uid.
    if (pid > 0 && procStat(pid)?.uid !== uid) pid = 0;
    const s: LinuxSession = { image, supervisors: new Set(pid > 0 ? [pid] : []), program: undefined, uid, openedAt: Date.now(), detached: false };
    this.sessions.add(s);
    if (pid > 0 && this.cgroups?.ensure(image.name, image.cpu.weight, image.cpu.max) !== undefined) this.cgroups.add(image.name, pid);
    const w = this.waiting.get(pid);
    if (w !== undefined) {
      s.detached = true;
      w(s);
    }
    return s;
  }

  /**
   * OP.PID from the supervisor. A supervisor may be a user's program, so a
   * pid is believed only when the kernel agrees: the program must be a child
   * of one of the session's supervisors, and a supervisor that moved to the
   * background must run as the session's user. Anything else is ignored.
   */
  reported(s: LinuxSession, pid: number, role: number): void {
    if (!Number.isInteger(pid) || pid <= 1) return;
    const st = procStat(pid);
    if (st === undefined) return;
    if (role === PID_ROLE.PROGRAM && s.program === undefined && s.supervisors.has(st.ppid)) {
      s.program = pid;
      this.log.debug({ image: s.image.name, pid }, 'linux program started');
      this.waitingFor.get(s)?.(pid);
    } else if (role === PID_ROLE.SUPERVISOR && (s.uid === 0 || st.uid === s.uid)) {
      s.supervisors.add(pid);
    }
  }

  private readonly waitingFor = new Map<LinuxSession, (pid: number) => void>();

  /**
   * What a supervisor sends, for session `s`: OP.PID reports are taken out
   * here, the rest goes on to `next` in whole frames.
   */
  input(s: LinuxSession, next: (frames: Buffer) => void): (chunk: Buffer) => void {
    let rest: Buffer = Buffer.alloc(0);
    return (c) => {
      const buf = rest.length > 0 ? Buffer.concat([rest, c]) : c;
      let start = 0;
      let off = 0;
      for (let n = 0; off + FRAME_SIZE <= buf.length; off += n) {
        n = requestSize(buf, off); // an AF_INET6 address trailer rides after its frame
        if (off + n > buf.length) break;
        if (buf.readUInt16LE(off + 4) !== OP.PID) continue;
        if (off > start) next(buf.subarray(start, off));
        this.reported(s, buf.readInt32LE(off + 20), buf.readInt32LE(off + 24));
        start = off + n; // with its trailer, if it came with one: what passes on stays whole frames
      }
      if (off > start) next(buf.subarray(start, off));
      rest = Buffer.from(buf.subarray(off));
    };
  }

  close(s: LinuxSession): void {
    this.sessions.delete(s);
    this.waitingFor.get(s)?.(0);
  }

  /**
   * Wait for the session of the supervisor with host pid `supervisor` and
   * its program's pid: the program's pid, or 0 if it did not come within
   * PID_WAIT_MS or `gone` resolved first (the supervisor exited).
   */
  programOf(supervisor: number, gone: Promise<unknown>): Promise<{ pid: number; session?: LinuxSession }> {
    return new Promise((resolve) => {
      let session: LinuxSession | undefined;
      const done = (pid: number): void => {
        clearTimeout(timer);
        this.waiting.delete(supervisor);
        if (session !== undefined) this.waitingFor.delete(session);
        resolve(session === undefined ? { pid } : { pid, session });
      };
      const timer = setTimeout(() => done(0), PID_WAIT_MS);
      void gone.then(() => done(session?.program ?? 0));
      this.waiting.set(supervisor, (s) => {
        session = s;
        if (s.program !== undefined) done(s.program);
        else this.waitingFor.set(s, done);
      });
    });
  }

  private supervisorsOf(image: Image): Set<number> {
    const sup = new Set<number>();
    for (const s of this.sessions) if (s.image === image) for (const p of s.supervisors) sup.add(p);
    return sup;
  }

  /** Host pids of the image's Linux processes (supervisors left out). */
  pids(image: Image): number[] {
    const sup = this.supervisorsOf(image);
    const inGroup = this.cgroups?.pids(image.name);
    let all: Iterable<number>;
    if (inGroup !== undefined) all = inGroup;
    else {
      const roots: number[] = [];
      for (const s of this.sessions) if (s.image === image) roots.push(...s.supervisors, ...(s.program !== undefined ? [s.program] : []));
      all = roots.length === 0 ? [] : descendants(roots);
    }
    return [...all].filter((p) => !sup.has(p));
  }

  /** The image's Linux processes as `ps` shows them; `skip`: pids the process table lists itself. */
  list(image: Image, skip: (pid: number) => boolean): ProcInfo[] {
    const out: ProcInfo[] = [];
    for (const pid of this.pids(image)) {
      if (skip(pid)) continue;
      const st = procStat(pid);
      if (st === undefined) continue;
      out.push({ pid, image: image.name, argv: procArgv(pid), stat: st.state === 'R' ? 'R' : 'S', detached: false, startedAt: st.startedAt, cpuMs: st.cpuMs, exitStatus: null, uid: st.uid, linux: true });
    }
    return out;
  }

  /** Is `pid` one of the image's Linux processes? */
  owns(image: Image, pid: number): boolean {
    return this.pids(image).includes(pid);
  }

  /** Signal host process `pid` of `image` for a caller with uid `callerUid` (undefined: not checked). */
  kill(image: Image, pid: number, signal: string, callerUid: number | undefined): KillResult {
    if (!this.owns(image, pid)) return 'ESRCH';
    return signalHost(pid, signal, callerUid);
  }

  /** CPU time of the image's programs, ms (0 without a cgroup). */
  cpuMs(image: Image): number {
    return this.cgroups?.usageMs(image.name) ?? 0;
  }

  /** Follow cpu.weight and cpu.max of every image with a cgroup. */
  sync(images: Iterable<Image>): void {
    if (this.cgroups === undefined) return;
    for (const im of images) this.cgroups.update(im.name, im.cpu.weight, im.cpu.max);
  }

  /** Kill the image's Linux processes: SIGTERM, SIGKILL after the grace, then remove its cgroup. */
  async stopImage(image: Image): Promise<void> {
    const progs = this.pids(image);
    for (const p of progs) signalHost(p, 'TERM', undefined);
    const deadline = Date.now() + KILL_GRACE_MS;
    while (Date.now() < deadline && this.pids(image).some((p) => procStat(p) !== undefined)) await new Promise((r) => setTimeout(r, 50));
    const left = [...this.pids(image), ...this.supervisorsOf(image)].filter((p) => procStat(p) !== undefined);
    for (const p of left) signalHost(p, 'KILL', undefined);
    if (progs.length > 0 || left.length > 0) this.log.info({ image: image.name, terminated: progs.length, killed: left.length }, 'stopped the linux programs of the image');
    for (const s of [...this.sessions]) if (s.image === image) this.sessions.delete(s);
    await this.cgroups?.remove(image.name);
  }

  /** Daemon shutdown: every image's programs. */
  async stopAll(images: Iterable<Image>): Promise<void> {
    await Promise.all([...images].map((im) => this.stopImage(im)));
    await this.cgroups?.close();
  }
}

/** Send SIG`signal` to host process `pid` if `callerUid` may (root or the process's real uid). */
export function signalHost(pid: number, signal: string, callerUid: number | undefined): KillResult {
  const st = procStat(pid);
  if (st === undefined) return 'ESRCH';
  if (callerUid !== undefined && callerUid !== 0 && callerUid !== st.uid) return 'EPERM';
  const name = `SIG${signal}` as NodeJS.Signals;
  if (os.constants.signals[name] === undefined) return 'ok';
  try {
    process.kill(pid, name);
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'EPERM' : 'ESRCH';
  }
}

/** How a background Linux program is started (`vimage -b NAME PROGRAM`): as whom, where, with which PATH. */
export interface LinuxStart {
  uid: number;
  gid: number;
  cwd: string;
  path?: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The passwd entry of `uid`: [name, home], if there is one. */
function passwdOf(uid: number): [string, string] | undefined {
  for (const line of (readText('/etc/passwd') ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') return [f[0]!, f[5]!];
  }
  return undefined;
}

/**
 * The command line and environment of vimage-supervisor for a background
 * program. A daemon running as root runs it as the caller (uid, gid and the
 * user's groups, through setpriv(1) after the supervisor has set up its
 * filter); a daemon that is not root can only run it as itself.
 */
export function supervisorCommand(supervisor: string, socketPath: string, image: string, argv: readonly string[], start: LinuxStart): { file: string; args: string[]; env: NodeJS.ProcessEnv; cwd: string } {
  const daemonUid = process.getuid?.() ?? 0;
  const pw = passwdOf(start.uid);
  const runAs: string[] = [];
  if (daemonUid === 0 && start.uid !== 0) {
    runAs.push(existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : 'setpriv', `--reuid=${start.uid}`, `--regid=${start.gid}`, pw !== undefined ? '--init-groups' : '--clear-groups', '--');
  }
  const env: NodeJS.ProcessEnv = { PATH: start.path ?? DEFAULT_PATH, HOME: pw?.[1] ?? '/' };
  if (pw !== undefined) {
    env['USER'] = pw[0];
    env['LOGNAME'] = pw[0];
  }
  const cwd = existsSync(start.cwd) ? start.cwd : '/';
  return { file: supervisor, args: [socketPath, image, ...runAs, ...argv], env, cwd };
}

/** build/Release/vimage-supervisor of this installation (VIMAGE_SUPERVISOR overrides), or undefined. */
export function findSupervisor(): string | undefined {
  const env = process.env['VIMAGE_SUPERVISOR'];
  if (env !== undefined && env !== '') return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const f = path.join(dir, 'build', 'Release', 'vimage-supervisor');
    if (existsSync(f)) return f;
    dir = path.dirname(dir);
  }
  return undefined;
}
