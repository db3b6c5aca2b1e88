/**
 * `vimage NAME PROGRAM ARGS...` for a program that is not a built-in
 * command: run the Linux program in the caller's terminal, working
 * directory, environment and credentials, with every AF_INET socket it
 * makes served by image NAME (native/supervisor.c does the work; this only
 * starts it and hands back its exit status).
 */

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcessStarted, StartDetached } from '../lib/protocol.js';
import { type Client, CliError, EX_UNAVAILABLE } from './client.js';

const EX_USAGE = 64;
const EX_NOTFOUND = 127;

/**
 * `vimage -b [--restart] NAME CMD ...`: a built-in command, or else the
 * Linux program of that name (a path, or `exec --linux PROGRAM`: always the
 * program), started by the daemon in the background. The program runs as
 * the caller (when the daemon is root), in the caller's working directory
 * and with the caller's PATH; its output goes to `vimage NAME logs PID`.
 */
export async function startDetached(client: Client, image: string, cmd: readonly string[], o: { json: boolean; restart: boolean }): Promise<ProcessStarted> {
  const at = `/v1/images/${encodeURIComponent(image)}/processes`;
  const base = { json: o.json, ...(o.restart ? { restart: true } : {}) };
  const linux = (argv: readonly string[]): Promise<ProcessStarted> => {
    if (!onPath(argv[0]!)) throw new CliError(`${argv[0]}: command not found`, EX_NOTFOUND, 'VIMAGE_ERR_NO_SUCH_COMMAND');
    const body: StartDetached = { ...base, argv: [...argv], linux: true, cwd: process.cwd(), ...(process.env['PATH'] !== undefined ? { path: process.env['PATH'] } : {}) };
    return client.request<ProcessStarted>('POST', at, body);
  };
  if (cmd[0] === 'exec' && cmd[1] === '--linux') {
    if (cmd.length < 3) throw new CliError(`usage: vimage -b ${image} exec --linux PROGRAM [ARGS...]`, EX_USAGE);
    return linux(cmd.slice(2));
  }
  if (cmd[0]!.includes('/')) return linux(cmd);
  try {
    return await client.request<ProcessStarted>('POST', at, { ...base, argv: [...cmd] } satisfies StartDetached);
  } catch (e) {
    if (!(e instanceof CliError) || e.code !== 'VIMAGE_ERR_NO_SUCH_COMMAND') throw e;
    if (!onPath(cmd[0]!)) throw new CliError(`${e.message}; nor is it a program on your PATH`, EX_NOTFOUND, e.code);
    return linux(cmd);
  }
}

/** build/Release/vimage-supervisor of the installation this CLI belongs to (VIMAGE_SUPERVISOR overrides). */
export function supervisorPath(): string {
  const env = process.env['VIMAGE_SUPERVISOR'];
  if (env !== undefined && env !== '') return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const f = path.join(dir, 'build', 'Release', 'vimage-supervisor');
    if (existsSync(f)) return f;
    dir = path.dirname(dir);
  }
  throw new CliError('vimage-supervisor is not built: run `npm run build:native` in the vimage directory', EX_UNAVAILABLE);
}

/** Is `name` a program on PATH (or a path to one) that the calling user may run? */
export function onPath(name: string): boolean {
  const ok = (f: string): boolean => {
    try {
      accessSync(f, constants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return ok(name);
  return (process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(':').some((d) => ok(path.join(d === '' ? '.' : d, name)));
}

/** Run `argv` as a Linux program in image `image`; resolves to its exit status (128+N for a signal). */
export function runLinux(socketPath: string, image: string, argv: readonly string[]): Promise<number> {
  const sup = supervisorPath();
  return new Promise((resolve, reject) => {
    const child = spawn(sup, [path.resolve(socketPath), image, ...argv], { stdio: 'inherit' });
    // Ctrl-C and Ctrl-\ reach the program from the terminal; it decides. Termination is passed on.
    const ignore = (): void => {};
    const pass = (sig: NodeJS.Signals) => (): void => {
      child.kill(sig);
    };
    const onTerm = pass('SIGTERM');
    const onHup = pass('SIGHUP');
    process.on('SIGINT', ignore);
    process.on('SIGQUIT', ignore);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
    const done = (): void => {
      process.off('SIGINT', ignore);
      process.off('SIGQUIT', ignore);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
    };
    child.on('error', (e) => {
      done();
      reject(new CliError(`cannot run ${sup}: ${e.message}`, EX_UNAVAILABLE));
    });
    child.on('exit', (code, signal) => {
      done();
      if (code !== null) resolve(code);
      else resolve(128 + (signal !== null ? signalNumber(signal) : 0));
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return os.constants.signals[sig] ?? 0;
}
