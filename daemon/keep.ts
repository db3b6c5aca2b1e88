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
 */

import type { ConfigSection } from '../lib/config.js';
import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import type { Proc, ProcTable } from './proc.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
const STABLE_MS = 10_000;

interface Kept {
  image: Image;
  argv: readonly string[];
  proc: Proc | null;
  timer: NodeJS.Timeout | null;
  backoffMs: number;
}

export class Keeper {
  private readonly kept: Kept[] = [];
  private stopping = false;

  constructor(
    private readonly procs: ProcTable,
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly onChange: () => unknown,
  ) {}

  /** Start `argv` in `im` and keep it. */
  add(im: Image, argv: readonly string[]): Proc {
    const k: Kept = { image: im, argv: [...argv], proc: null, timer: null, backoffMs: BACKOFF_MIN_MS };
    this.kept.push(k);
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

  /** Daemon shutdown: nothing is restarted or forgotten from now on. */
  stop(): void {
    this.stopping = true;
    for (const k of this.kept) if (k.timer !== null) clearTimeout(k.timer);
  }

  readonly section: ConfigSection = {
    name: 'keep',
    save: (im) => {
      const mine = this.kept.filter((k) => k.image === im).map((k) => [...k.argv]);
      return mine.length > 0 ? mine : undefined;
    },
    restore: (im, data) => {
      for (const argv of data as string[][]) {
        if (this.kept.some((k) => k.image === im && JSON.stringify(k.argv) === JSON.stringify(argv))) continue;
        this.add(im, argv);
      }
    },
  };

  private drop(i: number): void {
    const [k] = this.kept.splice(i, 1);
    if (k?.timer) clearTimeout(k.timer);
    void this.onChange();
  }

  private run(k: Kept): Proc {
    k.timer = null;
    const p = this.procs.spawnDetached(k.image, k.argv, false);
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
      if (!this.stopping && this.kept.includes(k) && this.registry.get(k.image.name) === k.image) this.run(k);
    }, wait);
  }
}
