#!/usr/bin/env node
/**
 * vimaged: the daemon that holds every image. Listens on the control
 * socket, runs in-image commands, logs pino JSON to stdout (for journald),
 * and on SIGTERM/SIGINT stops its processes, releases its TAP devices and
 * removes its socket.
 */

import { mkdirSync, readFileSync, unlinkSync, chmodSync, chownSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Command as Cli, Option } from 'commander';
import { pino } from 'pino';
import { RealClock } from '../lib/clock.js';
import { Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { TapDevice, tapExists } from '../lib/net/tapdev.js';
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR } from '../lib/protocol.js';
import { allCommands } from './commands/index.js';
import { ProcTable } from './proc.js';
import { createControlServer } from './server.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface DaemonOptions {
  socket: string;
  stateDir: string;
  logLevel: string;
}

/** Is something answering on `sock`? A stale socket file refuses connections. */
function socketAnswers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** The gid of the `vimage` group, if the system has one. */
function vimageGid(): number | undefined {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === 'vimage' && gid !== undefined) return Number(gid);
    }
  } catch {
    // no /etc/group: leave the socket's group alone
  }
  return undefined;
}

async function main(): Promise<void> {
  const cli = new Cli('vimaged')
    .description('vimage daemon: holds the images (virtual network stacks) and serves the vimage command')
    .version(VERSION)
    .addOption(new Option('--socket <path>', 'control socket').default(process.env['VIMAGE_SOCKET'] ?? DEFAULT_SOCKET))
    .addOption(new Option('--state-dir <dir>', 'state directory').default(DEFAULT_STATE_DIR))
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .showHelpAfterError();
  cli.parse();
  const opts = cli.opts<DaemonOptions>();
  const log = pino({ name: 'vimaged', level: opts.logLevel });

  const sock = path.resolve(opts.socket);
  try {
    mkdirSync(path.dirname(sock), { recursive: true, mode: 0o755 });
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o750 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`vimaged: cannot create ${err.path ?? 'directory'}: ${err.code === 'EACCES' ? 'permission denied, run as root or choose --socket/--state-dir you can write' : err.message}\n`);
    process.exit(1);
  }
  if (existsSync(sock)) {
    if (await socketAnswers(sock)) {
      process.stderr.write(`vimaged: another vimaged is already serving ${sock}; stop it first or use --socket\n`);
      process.exit(1);
    }
    unlinkSync(sock); // stale socket from a daemon that did not exit cleanly
  }

  const registry = new Registry({
    clock: new RealClock(),
    log: log as unknown as Logger,
    openTap: ({ name, persist }) => TapDevice.open({ name, persist, up: true }),
    hostIfExists: tapExists,
  });
  const procs = new ProcTable(registry, allCommands(), log as unknown as Logger);
  const server = createControlServer({ registry, procs, log: log as unknown as Logger, version: VERSION });

  let stopping = false;
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'shutting down');
    server.close();
    server.closeAllConnections();
    await procs.stopAll();
    registry.close(false);
    try {
      unlinkSync(sock);
    } catch {
      // already gone
    }
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e }, 'uncaught exception');
    try {
      registry.close(false);
      unlinkSync(sock);
    } catch {
      // best effort
    }
    log.flush();
    process.exit(70);
  });

  server.on('error', (e: NodeJS.ErrnoException) => {
    process.stderr.write(`vimaged: cannot listen on ${sock}: ${e.code === 'EACCES' ? 'permission denied, run as root or use --socket' : e.message}\n`);
    process.exit(1);
  });
  server.listen(sock, () => {
    try {
      chmodSync(sock, 0o660);
      const gid = vimageGid();
      if (gid !== undefined) chownSync(sock, 0, gid);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'cannot set the socket mode or group');
    }
    log.info({ socket: sock, stateDir: opts.stateDir, version: VERSION, pid: process.pid }, 'vimaged ready');
  });
}

void main();
