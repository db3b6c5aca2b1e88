/**
 * One cgroup per image for its Linux programs, so the kernel shares the CPU
 * between images' programs by the image's `cpu.weight` and caps them by its
 * `cpu.max`, and counts their CPU time for `vimage -l -v`.
 *
 * Where: the cgroup v2 hierarchy when its root offers the cpu controller,
 * else the v1 `cpu` hierarchy (plus `cpuacct` for the CPU time, mounted with
 * it or beside it), as /proc/mounts lists them. Layout, in each hierarchy:
 *
 *   ROOT/vimage/d<daemon pid>/<image>
 *
 * A daemon removes its own directory at shutdown; at start it removes those
 * of daemons that are gone (after a crash or kill -9), killing what still
 * runs in them: those programs' image sockets died with their daemon.
 *
 * Delegated (`vimaged --cgroup delegated`, as the systemd unit runs it with
 * Delegate=yes): the daemon may only write below its own cgroup, the one
 * /proc/self/cgroup names in each hierarchy. It moves itself into a `daemon`
 * leaf there (cgroup v2 lets a group with processes enable no controller
 * for its children) and makes the images' groups beside it:
 *
 *   OWN/daemon   OWN/<image>
 *
 * One daemon owns that subtree, so leftovers at start are every image group
 * in it; systemd kills what ran there when the service stopped.
 *
 * Parameters: v2 cpu.weight is the image's cpu.weight (same 1..10000 scale);
 * v1 cpu.shares is weight * 1024 / 100. cpu.max P% of one CPU is a quota of
 * P ms per 100 ms period; 100 is "no cap", as for the daemon's scheduler.
 *
 * Nothing here throws: a cgroup that cannot be made leaves the programs
 * running outside it (logged once per daemon).
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../lib/log.js';

export const CFS_PERIOD_US = 100_000;

export interface CgroupLayout {
  kind: 'v2' | 'v1';
  /** v2: the unified root; v1: the cpu hierarchy's root. */
  cpu: string;
  /** v1: the cpuacct hierarchy's root (may equal cpu); v2: same as cpu. */
  acct: string;
}

/** Where the cpu controller is, from the text of /proc/mounts; undefined when nowhere. */
export function findLayout(mounts: string, controllers2 = (dir: string): string => readText(path.join(dir, 'cgroup.controllers')) ?? ''): CgroupLayout | undefined {
  let v1cpu: string | undefined;
  let v1acct: string | undefined;
  for (const line of mounts.split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (dir === undefined || opts === undefined) continue;
    const where = dir.replace(/\\040/g, ' ');
    if (type === 'cgroup2') {
      if (controllers2(where).split(/\s+/).includes('cpu')) return { kind: 'v2', cpu: where, acct: where };
    } else if (type === 'cgroup') {
      const o = opts.split(',');
      if (o.includes('cpu') && v1cpu === undefined) v1cpu = where;
      if (o.includes('cpuacct') && v1acct === undefined) v1acct = where;
    }
  }
  if (v1cpu === undefined) return undefined;
  return { kind: 'v1', cpu: v1cpu, acct: v1acct ?? v1cpu };
}

function readText(f: string): string | undefined {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return undefined;
  }
}

/** v1 cpu.shares for a cpu.weight (100 -> 1024, the kernel's default). */
export function sharesOf(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}

/** v1 cpu.cfs_quota_us for a cpu.max percentage (-1: no cap). */
export function quotaOf(maxPercent: number): number {
  return maxPercent >= 100 ? -1 : Math.round((maxPercent * CFS_PERIOD_US) / 100);
}

/** A cgroup's directory name for an image: its name, made safe (cgroup files are named like `cpu.shares`). */
export function dirName(image: string): string {
  return 'i-' + image.replace(/[^A-Za-z0-9_-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Pids listed in a cgroup.procs text. */
export function parsePids(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
}

interface Group {
  dirs: string[];
  weight: number;
  max: number;
}

/** How the daemon uses the hierarchy: `shared` (its own ROOT/vimage/d<pid>) or `delegated` (below its own cgroup). */
export type CgroupMode = 'shared' | 'delegated';
export const CGROUP_MODES: readonly CgroupMode[] = ['shared', 'delegated'];

/** The daemon's own cgroup in the hierarchy of `controller` (v1) or the unified one (v2), from /proc/self/cgroup's text. */
export function ownCgroup(procSelfCgroup: string, kind: 'v1' | 'v2', controller: string): string | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (m === null) continue;
    if (kind === 'v2' ? m[1] === '0' && m[2] === '' : m[2]!.split(',').includes(controller)) return m[3];
  }
  return undefined;
}

export class Cgroups {
  private readonly groups = new Map<string, Group>();
  private warned = false;
  /** The daemon's own directory in each hierarchy: the image groups go below it. */
  private readonly homes: string[];

  /**
   * @param layout where the controllers are (findLayout), or undefined: no cgroups.
   * @param isLiveDaemon whether pid N of a leftover d<N> directory is a running vimaged.
   * @param delegated the daemon's own cgroup directories [cpu, cpuacct] when it runs delegated, else undefined.
   */
  constructor(
    readonly layout: CgroupLayout | undefined,
    private readonly log: Logger,
    private readonly pid = process.pid,
    private readonly isLiveDaemon: (pid: number) => boolean = liveVimaged,
    private readonly delegated?: readonly string[],
  ) {
    if (layout === undefined) this.homes = [];
    else if (delegated !== undefined) this.homes = [...new Set(delegated)];
    else this.homes = [...new Set([layout.cpu, layout.acct])].map((r) => path.join(r, 'vimage', `d${pid}`));
  }

  /** The cgroups of the machine this daemon runs on. */
  static detect(log: Logger, mode: CgroupMode = 'shared'): Cgroups {
    const layout = findLayout(readText('/proc/mounts') ?? '');
    if (layout === undefined) {
      log.warn('no cgroup cpu controller is mounted; Linux programs in images run without per-image CPU weight, cap and CPU time');
      return new Cgroups(layout, log);
    }
    if (mode === 'shared') return new Cgroups(layout, log);
    const self = readText('/proc/self/cgroup') ?? '';
    const cpu = ownCgroup(self, layout.kind, 'cpu');
    const acct = ownCgroup(self, layout.kind, 'cpuacct');
    if (cpu === undefined || acct === undefined) {
      log.warn('--cgroup delegated: /proc/self/cgroup names no cgroup of this daemon for the cpu controller; Linux programs in images run without per-image cgroups');
      return new Cgroups(undefined, log);
    }
    const cg = new Cgroups(layout, log, process.pid, liveVimaged, [path.join(layout.cpu, cpu), path.join(layout.acct, acct)]);
    cg.enterDaemonLeaf();
    return cg;
  }

  /**
   * Delegated: move this process into OWN/daemon in each hierarchy, so that
   * OWN holds no process and (v2) may enable the cpu controller for its children.
   */
  enterDaemonLeaf(): void {
    try {
      for (const h of this.homes) {
        const leaf = path.join(h, 'daemon');
        mkdirSync(leaf, { recursive: true });
        writeFileSync(path.join(leaf, 'cgroup.procs'), String(this.pid));
      }
    } catch (e) {
      this.warnOnce(e, `move vimaged into ${this.homes.map((h) => path.join(h, 'daemon')).join(' ')}`);
    }
  }

  get available(): boolean {
    return this.layout !== undefined && !this.warned;
  }

  private warnOnce(e: unknown, what: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn({ err: (e as Error).message, what }, 'cannot use cgroups; Linux programs in images run without per-image CPU weight, cap and CPU time');
  }

  /** Remove what daemons that are gone left behind (run at start). */
  cleanLeftovers(): void {
    if (this.layout === undefined) return;
    if (this.delegated !== undefined) {
      // The subtree is ours alone: every image group in it is a leftover.
      for (const h of this.homes) {
        for (const n of subdirs(h)) {
          if (!n.startsWith('i-')) continue;
          const dir = path.join(h, n);
          const killed = removeTree(dir, true);
          this.log.info({ cgroup: dir, killed }, 'removed the cgroup a vimaged that is gone left behind');
        }
      }
      return;
    }
    for (const root of new Set([this.layout.cpu, this.layout.acct])) {
      const parent = path.join(root, 'vimage');
      let names: string[];
      try {
        names = readdirSync(parent);
      } catch {
        continue;
      }
      for (const n of names) {
        const m = /^d(\d+)$/.exec(n);
        if (m === null) continue;
        const pid = Number(m[1]);
        if (pid !== this.pid && this.isLiveDaemon(pid)) continue;
        const dir = path.join(parent, n);
        const killed = removeTree(dir, true);
        this.log.info({ cgroup: dir, killed }, 'removed the cgroup a vimaged that is gone left behind');
      }
    }
  }

  /** The image's cgroup, made (with its parameters) if need be; undefined when cgroups cannot be used. */
  ensure(image: string, weight: number, max: number): string[] | undefined {
    const g = this.groups.get(image);
    if (g !== undefined) return g.dirs;
    if (!this.available || this.layout === undefined) return undefined;
    const dirs = this.homes.map((h) => path.join(h, dirName(image)));
    try {
      if (this.layout.kind === 'v2') enableCpu(this.delegated === undefined ? this.layout.cpu : this.homes[0]!, dirs[0]!);
      for (const d of dirs) mkdirSync(d, { recursive: true });
    } catch (e) {
      this.warnOnce(e, `mkdir ${dirs.join(' ')}`);
      return undefined;
    }
    const ng: Group = { dirs, weight: -1, max: -1 };
    this.groups.set(image, ng);
    this.apply(image, ng, weight, max);
    return dirs;
  }

  /** Follow the image's cpu.weight and cpu.max (cheap when unchanged). */
  update(image: string, weight: number, max: number): void {
    const g = this.groups.get(image);
    if (g !== undefined) this.apply(image, g, weight, max);
  }

  private apply(image: string, g: Group, weight: number, max: number): void {
    if (g.weight === weight && g.max === max) return;
    const d = g.dirs[0]!;
    try {
      if (this.layout?.kind === 'v2') {
        writeFileSync(path.join(d, 'cpu.weight'), String(weight));
        writeFileSync(path.join(d, 'cpu.max'), max >= 100 ? `max ${CFS_PERIOD_US}` : `${quotaOf(max)} ${CFS_PERIOD_US}`);
      } else {
        writeFileSync(path.join(d, 'cpu.shares'), String(sharesOf(weight)));
        writeFileSync(path.join(d, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        writeFileSync(path.join(d, 'cpu.cfs_quota_us'), String(quotaOf(max)));
      }
      g.weight = weight;
      g.max = max;
    } catch (e) {
      this.log.warn({ image, err: (e as Error).message }, 'cannot set the CPU weight or cap of an image cgroup');
    }
  }

  /** Put process `pid` (and so its future children) in the image's cgroup. */
  add(image: string, pid: number): boolean {
    const g = this.groups.get(image);
    if (g === undefined) return false;
    try {
      for (const d of g.dirs) writeFileSync(path.join(d, 'cgroup.procs'), String(pid));
      return true;
    } catch (e) {
      this.log.warn({ image, pid, err: (e as Error).message }, 'cannot move a process into its image cgroup');
      return false;
    }
  }

  has(image: string): boolean {
    return this.groups.has(image);
  }

  /** Processes in the image's cgroup, or undefined when it has none. */
  pids(image: string): number[] | undefined {
    const g = this.groups.get(image);
    if (g === undefined) return undefined;
    return parsePids(readText(path.join(g.dirs[0]!, 'cgroup.procs')));
  }

  /** CPU time of the image's programs, ms, or undefined when it has no cgroup. */
  usageMs(image: string): number | undefined {
    const g = this.groups.get(image);
    if (g === undefined || this.layout === undefined) return undefined;
    const acct = g.dirs[g.dirs.length - 1]!;
    if (this.layout.kind === 'v2') {
      const m = /^usage_usec (\d+)$/m.exec(readText(path.join(acct, 'cpu.stat')) ?? '');
      return m === null ? undefined : Number(m[1]) / 1000;
    }
    const t = readText(path.join(acct, 'cpuacct.usage'));
    return t === undefined || !/^\d+/.test(t) ? undefined : Number(t.trim()) / 1e6;
  }

  /** Remove the image's cgroup (its processes are gone, or being killed: a few tries). */
  async remove(image: string): Promise<void> {
    const g = this.groups.get(image);
    if (g === undefined) return;
    this.groups.delete(image);
    for (let i = 0; i < 40; i++) {
      if (g.dirs.every((d) => tryRmdir(d))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.log.warn({ image, cgroups: g.dirs }, 'an image cgroup still has processes; left in place (removed at the next start)');
  }

  /** Daemon shutdown: remove every cgroup of ours. */
  async close(): Promise<void> {
    await Promise.all([...this.groups.keys()].map((im) => this.remove(im)));
    if (this.delegated !== undefined) return; // the daemon lives in OWN/daemon; systemd removes the subtree
    for (const h of this.homes) if (tryRmdir(h)) tryRmdir(path.dirname(h)); // `vimage` too, when no other daemon uses it
  }

  /** Directories of the image's cgroup (tests). */
  dirs(image: string): readonly string[] | undefined {
    return this.groups.get(image)?.dirs;
  }
}

/** rmdir that counts a directory already gone as removed; false while it still holds processes. */
export function tryRmdir(d: string): boolean {
  try {
    rmdirSync(d);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** v2: enable the cpu controller on the way down from `root` to `dir`'s parent. */
function enableCpu(root: string, dir: string): void {
  const rel = path.relative(root, path.dirname(dir)).split(path.sep).filter((x) => x !== '');
  let at = root;
  for (const part of ['', ...rel]) {
    at = part === '' ? at : path.join(at, part);
    if (!existsSync(at)) mkdirSync(at);
    const ctl = readText(path.join(at, 'cgroup.subtree_control')) ?? '';
    if (!ctl.split(/\s+/).includes('cpu')) writeFileSync(path.join(at, 'cgroup.subtree_control'), '+cpu');
  }
}

/** Names of the directories in `dir` (none when it cannot be read). */
function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Kill every process under `dir` (if asked) and remove its directories, deepest first; the number of processes signalled. */
function removeTree(dir: string, kill: boolean): number {
  let killed = 0;
  for (const s of subdirs(dir)) killed += removeTree(path.join(dir, s), kill);
  if (kill) {
    for (const pid of parsePids(readText(path.join(dir, 'cgroup.procs')))) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone already
      }
    }
  }
  for (let i = 0; i < 20 && !tryRmdir(dir); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
  return killed;
}

/** Is `pid` a running vimaged (as daemon/main.ts's pid-file check decides)? */
export function liveVimaged(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /vimaged|daemon\/main\.js/.test(cmd);
  } catch {
    return false;
  }
}
