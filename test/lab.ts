/**
 * The system-test lab: a real vimaged on a private socket, the real vimage
 * CLI, and Linux network namespaces as hosts. Everything a test creates is
 * named with the test file's prefix and removed in `close()`, even when the
 * test failed.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { socketAnswers } from '../lib/socket_answers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const DAEMON = path.join(ROOT, 'dist/daemon/main.js');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why system tests cannot run here, or undefined when they can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'system tests need root (CAP_NET_ADMIN for TAP devices and namespaces)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (modprobe tun)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 is not installed (scripts/install-test-tools.sh)';
  return undefined;
}

/** Run a host command; throws with its output when it fails unless `allowFail`. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
  const run = { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (run.code !== 0 && opts.allowFail !== true) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${run.code}): ${run.stderr || run.stdout}`);
  }
  return run;
}

export class Lab {
  readonly sock: string;
  readonly dir: string;
  readonly logFile: string;
  private daemon: ChildProcess | null = null;
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];

  constructor(readonly prefix: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    this.sock = path.join(this.dir, 'vimaged.sock');
    this.logFile = path.join(this.dir, 'vimaged.log');
  }

  /** Start vimaged and wait until its socket answers; `wrap` is a command that execs the daemon's command line after its own arguments. */
  async start(extra: string[] = [], env: Record<string, string> = {}, wrap: string[] = []): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    // The priority vimaged.service gives it (Nice=-10).
    const argv = [...wrap, 'nice', '-n', '-10'];
    this.daemon = spawn(argv[0]!, [...argv.slice(1), process.execPath, DAEMON, '--socket', this.sock, '--state-dir', this.stateDir, ...(extra.includes('--config') ? [] : ['--log-level', 'info']), ...extra], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    closeSync(fd);
    for (let i = 0; i < 200; i++) {
      if (await socketAnswers(this.sock)) return;
      if (this.daemon.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`vimaged did not start: ${this.daemonLog()}`);
  }

  daemonLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  get stateDir(): string {
    return path.join(this.dir, 'state');
  }

  get daemonProcess(): ChildProcess | null {
    return this.daemon;
  }

  /** Run the vimage CLI; resolves with its status and output. */
  vimage(args: string[], opts: { timeoutMs?: number; signalAfterMs?: number; stdin?: string } = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, VIMAGE_SOCKET: this.sock }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdin.end(opts.stdin ?? '');
      const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      const sig = opts.signalAfterMs !== undefined ? setTimeout(() => child.kill('SIGINT'), opts.signalAfterMs) : undefined;
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        if (sig !== undefined) clearTimeout(sig);
        resolve({ code: code ?? (signal === 'SIGKILL' ? -9 : -1), stdout, stderr });
      });
    });
  }

  /** vimage that must succeed; returns stdout. */
  async ok(args: string[]): Promise<string> {
    const r = await this.vimage(args);
    if (r.code !== 0) throw new Error(`vimage ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A Linux host: a network namespace named PREFIX+suffix, with lo up. */
  netns(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    sh('ip', ['netns', 'del', name], { allowFail: true });
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Run a command inside a namespace. */
  inNs(ns: string, cmd: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Run {
    return sh('ip', ['netns', 'exec', ns, ...cmd], opts);
  }

  /** Move host interface `ifname` into `ns` and give it an address and a default route. */
  wireHost(ifname: string, ns: string, cidr: string, gateway?: string): void {
    this.links.push(ifname);
    sh('ip', ['link', 'set', ifname, 'netns', ns]);
    sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
    sh('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
    if (gateway !== undefined) sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway]);
  }

  /**
   * Image `image` with one TAP whose host side (PREFIX + a0) is in a new
   * namespace A at `host`/24, the image at `addr`/24, ARP settled both ways
   * by one ping. Returns the namespace and the image's interface name.
   */
  async imageWithHost(image: string, host: string, addr: string): Promise<{ ns: string; tap: string }> {
    const ns = this.netns('A');
    await this.ok(['-c', image]);
    const tap = (await this.ok([image, 'ifconfig', 'tap', 'create', 'hostname', `${this.prefix}a0`])).trim();
    this.wireHost(`${this.prefix}a0`, ns, `${host}/24`);
    await this.ok([image, 'ifconfig', tap, 'inet', `${addr}/24`, 'up']);
    this.inNs(ns, ['ping', '-c', '1', '-W', '2', addr]);
    return { ns, tap };
  }

  /** Stop the daemon (SIGTERM, then SIGKILL) and remove everything this lab made. */
  async close(): Promise<void> {
    const d = this.daemon;
    if (d !== null && d.exitCode === null && d.signalCode === null) {
      const exited = new Promise<void>((r) => d.once('exit', () => r()));
      d.kill('SIGTERM');
      const t = setTimeout(() => d.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    for (const ns of this.namespaces) sh('ip', ['netns', 'del', ns], { allowFail: true });
    // Host devices left in the root namespace by a daemon that was killed.
    const links = sh('ip', ['-o', 'link', 'show'], { allowFail: true }).stdout;
    for (const m of links.matchAll(/^\d+: ([^:@\s]+)/gm)) {
      if (m[1]!.startsWith(this.prefix)) sh('ip', ['link', 'del', m[1]!], { allowFail: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Labs made on demand within one describe block (`lab('n')` is a lab named
 * PREFIX + n), all closed by `closeAll` in its `after`.
 */
export function labPool(prefix: string): { lab: (suffix: string) => Lab; closeAll: () => Promise<void> } {
  const labs: Lab[] = [];
  return {
    lab: (suffix) => {
      const l = new Lab(`${prefix}${suffix}`);
      labs.push(l);
      return l;
    },
    closeAll: async () => {
      for (const l of labs) await l.close();
    },
  };
}

/** Wait until `fn` holds, polling every 100 ms; throws after `ms`. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A background process; `stop()` ends it (TERM, then KILL after 5 s) and resolves with its output. */
export function background(cmd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; stop: () => Promise<string> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    out: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      return out;
    },
  };
}

/** Make the `vimage` group when it is missing; returns whether it was made here (then delete it after). */
export function ensureVimageGroup(): boolean {
  if (sh('getent', ['group', 'vimage'], { allowFail: true }).code === 0) return false;
  sh('groupadd', ['--system', 'vimage']);
  return true;
}
