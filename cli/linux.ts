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
import { CliError, EX_UNAVAILABLE } from './client.js';

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
