/**
 * Background commands that come back (`vimage -b --restart NAME CMD ...`),
 * as FreeBSD jails' `exec.start` and systemd's `Restart=` do: such a command
 * is part of the image's saved configuration (section `keep`, a list of
 * argv), is started again when the daemon starts (after interfaces and
 * addresses, since sections are restored last), and is restarted with a
 * back-off (1 s, doubling to 60 s; back to 1 s after a run of 10 s) when it
 * exits by itself. `kill PID` in the image, or destroying the image, stops
 * it for good; stopping the daemon does not (it comes back at the next
 * start). `vimage save` exports it with the rest.
 *
 * A kept Linux program (`vimage -b --restart NAME PROGRAM`) is saved as
 * `["exec", "--linux", "--uid=U", "--gid=G", "--cwd=DIR", "--path=PATH",
 * "--", PROGRAM, ARGS...]`: it comes back as the same user, in the same
 * directory, with the same PATH.
 */

import type { ConfigSection } from '../lib/config.js';
import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import type { LinuxStart } from './linux/procs.js';
import type { Proc, ProcTable } from './proc.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
const STABLE_MS = 10_000;

interface Kept {
  image: Image;
  argv: readonly string[];
  /** A Linux program, run as this. */
  linux: LinuxStart | undefined;
  proc: Proc | null;
  timer: NodeJS.Timeout | null;
  backoffMs: number;
}

export class Keeper {
  private readonly kept: Kept[] = [];
  private stopping = false;
  /** Kept Linux programs restored before the control socket listens (their supervisor connects to it). */
  private held: Array<() => void> | null = [];

  constructor(
    private readonly procs: ProcTable,
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly onChange: () => unknown,
  ) {}

  /** Start `argv` in `im` (a Linux program when `linux` says how) and keep it. */
  add(im: Image, argv: readonly string[], linux?: LinuxStart): Promise<Proc> {
    const k: Kept = { image: im, argv: [...argv], linux, proc: null, timer: null, backoffMs: BACKOFF_MIN_MS };
    this.kept.push(k);
    this.registry.touch(im);
    return this.run(k);
  }

  /** Stop keeping the command whose current process is `proc` (it failed at once). */
  forget(proc: Proc): void {
    const i = this.kept.findIndex((k) => k.proc === proc);
    if (i >= 0) this.drop(i);
  }

  /** Is `proc` a kept command's current process (ps shows it)? */
  isKept(proc: { pid: number }): boolean {
    return this.kept.some((k) => k.proc?.pid === proc.pid);
  }

  /** The control socket listens: start the kept Linux programs restored so far. */
  release(): void {
    const h = this.held ?? [];
    this.held = null;
    for (const f of h) f();
  }

  /** Daemon shutdown: nothing is restarted or forgotten from now on. */
  stop(): void {
    this.stopping = true;
    for (const k of this.kept) if (k.timer !== null) clearTimeout(k.timer);
  }

  readonly section: ConfigSection = {
    name: 'keep',
    save: (im) => {
      const mine = this.kept.filter((k) => k.image === im).map((k) => encodeKept(k.argv, k.linux));
      return mine.length > 0 ? mine : undefined;
    },
    restore: (im, data) => {
      for (const saved of data as string[][]) {
        const { argv, linux } = decodeKept(saved);
        if (this.kept.some((k) => k.image === im && JSON.stringify(encodeKept(k.argv, k.linux)) === JSON.stringify(saved))) continue;
        const go = (): void => void this.add(im, argv, linux).catch((e: unknown) => this.log.warn({ image: im.name, argv, err: (e as Error).message }, 'kept command not started'));
        if (linux !== undefined && this.held !== null) this.held.push(go);
        else go();
      }
    },
  };

  private drop(i: number): void {
    const [k] = this.kept.splice(i, 1);
    if (k?.timer) clearTimeout(k.timer);
    if (k !== undefined) this.registry.touch(k.image);
    void this.onChange();
  }

  private async run(k: Kept): Promise<Proc> {
    k.timer = null;
    const p = k.linux !== undefined ? await this.procs.spawnLinux(k.image, k.argv, k.linux) : this.procs.spawnDetached(k.image, k.argv, false);
    p.kept = true;
    k.proc = p;
    const t0 = Date.now();
    void p.done.then((status) => this.exited(k, p, status, Date.now() - t0));
    return p;
  }

  private exited(k: Kept, p: Proc, status: number, ranMs: number): void {
    if (this.stopping || k.proc !== p) return;
    const i = this.kept.indexOf(k);
    if (i < 0) return;
    if (p.abort.signal.aborted || this.registry.get(k.image.name) !== k.image) {
      this.log.info({ image: k.image.name, argv: k.argv, pid: p.pid }, 'kept command stopped for good');
      this.drop(i);
      return;
    }
    k.backoffMs = ranMs >= STABLE_MS ? BACKOFF_MIN_MS : k.backoffMs;
    const wait = k.backoffMs;
    k.backoffMs = Math.min(k.backoffMs * 2, BACKOFF_MAX_MS);
    this.log.warn({ image: k.image.name, argv: k.argv, pid: p.pid, status, restartInMs: wait }, 'kept command exited; restarting it');
    k.timer = setTimeout(() => {
      if (!this.stopping && this.kept.includes(k) && this.registry.get(k.image.name) === k.image) {
        void this.run(k).catch((e: unknown) => this.log.warn({ image: k.image.name, argv: k.argv, err: (e as Error).message }, 'kept command not restarted'));
      }
    }, wait);
  }
}

/** A kept command as the `keep` section saves it (a list of strings; see the top of this file). */
export function encodeKept(argv: readonly string[], linux: LinuxStart | undefined): string[] {
  if (linux === undefined) return [...argv];
  const opts = [`--uid=${linux.uid}`, `--gid=${linux.gid}`, `--cwd=${linux.cwd}`, ...(linux.path !== undefined ? [`--path=${linux.path}`] : [])];
  return ['exec', '--linux', ...opts, '--', ...argv];
}

/** The other way; a saved list that is not a Linux program's is a built-in command's argv. */
export function decodeKept(saved: readonly string[]): { argv: string[]; linux?: LinuxStart } {
  if (saved[0] !== 'exec' || saved[1] !== '--linux') return { argv: [...saved] };
  const linux: LinuxStart = { uid: 0, gid: 0, cwd: '/' };
  let i = 2;
  for (; i < saved.length && saved[i] !== '--'; i++) {
    const m = /^--(uid|gid|cwd|path)=(.*)$/s.exec(saved[i]!);
    if (m === null) break;
    if (m[1] === 'uid' || m[1] === 'gid') linux[m[1]] = /^\d+$/.test(m[2]!) ? Number(m[2]) : 65534;
    else if (m[1] === 'cwd') linux.cwd = m[2]!;
    else linux.path = m[2]!;
  }
  if (saved[i] === '--') i++;
  return { argv: saved.slice(i), linux };
}
