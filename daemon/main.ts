#!/usr/bin/env node
/**
 * vimaged: the daemon that holds every image.
 *
 * Start: read settings, restore the saved configuration (re-attaching the
 * persistent TAP devices wherever their host sides now live), listen on the
 * control socket (or the one systemd passed), then tell systemd READY=1.
 * Every change is saved to the state directory as it happens.
 * SIGTERM/SIGINT: stop in-image processes, save, release TAP devices (kept
 * persistent, so host wiring survives a restart) and remove the socket.
 * SIGHUP: re-read the settings file (log level, limits) and the vimage group.
 */

import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command as Cli, Option } from 'commander';
import { pino } from 'pino';
import { Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { realPlatform } from '../lib/platform.js';
import { socketAnswers } from '../lib/socket_answers.js';
import { threadCpuMs } from '../lib/native/sys.js';
import { tapExists } from '../lib/net/tapdev.js';
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR } from '../lib/protocol.js';
import { Guard, vimageGid } from './auth.js';
import { allCommands } from './commands/index.js';
import { LinuxAgent } from './linux/agent.js';
import { CGROUP_MODES, Cgroups, type CgroupMode } from './linux/cgroup.js';
import { findSupervisor, LinuxProcs } from './linux/procs.js';
import { DEFAULT_CONFIG_FILE, DEFAULT_DAEMON_LIMITS, LOG_LEVELS, readSettings, type DaemonLimits, type LogLevel } from './config.js';
import { ProcTable } from './proc.js';
import { registerConfigSection } from '../lib/config.js';
import { hostLinks } from './hostlink.js';
import { Keeper } from './keep.js';
import { createControlServer } from './server.js';
import { StateStore } from './state.js';
import { activationFd, notify, startWatchdog } from './systemd.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface DaemonOptions {
  socket: string;
  stateDir: string;
  logLevel?: LogLevel;
  config?: string;
  cgroup: CgroupMode;
}

/** The pid of a live vimaged that holds `pidFile`, if any (a stale file from a kill -9 does not count). */
function stateDirHolder(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /vimaged|daemon\/main\.js/.test(cmd) ? pid : undefined;
  } catch {
    return undefined; // no such process
  }
}

/** The pid file this daemon wrote, removed again if it is refused at start. */
let ownPidFile: string | undefined;

function die(message: string): never {
  if (ownPidFile !== undefined) {
    try {
      if (readFileSync(ownPidFile, 'utf8').trim() === String(process.pid)) unlinkSync(ownPidFile);
    } catch {
      // already gone
    }
  }
  process.stderr.write(`vimaged: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const cli = new Cli('vimaged')
    .description('vimage daemon: holds the images (virtual network stacks) and serves the vimage command')
    .version(VERSION)
    .addOption(new Option('--socket <path>', 'control socket').default(process.env['VIMAGE_SOCKET'] ?? DEFAULT_SOCKET))
    .addOption(new Option('--state-dir <dir>', 'state directory').default(process.env['STATE_DIRECTORY'] ?? DEFAULT_STATE_DIR))
    .addOption(new Option('--log-level <level>', 'log level (default: info, or logLevel in the settings file)').choices(LOG_LEVELS))
    .addOption(new Option('--config <file>', `settings file (JSON: logLevel, limits; default ${DEFAULT_CONFIG_FILE} if it exists)`))
    .addOption(
      new Option('--cgroup <mode>', "where images' cgroups go: shared (ROOT/vimage/d<pid> in the hierarchy) or delegated (below the daemon's own cgroup, as systemd's Delegate=yes gives)")
        .choices(CGROUP_MODES)
        .default('shared'),
    )
    .showHelpAfterError();
  cli.parse();
  const opts = cli.opts<DaemonOptions>();
  const configFile = opts.config ?? DEFAULT_CONFIG_FILE;
  let settings;
  try {
    settings = readSettings(configFile, opts.config !== undefined);
  } catch (e) {
    die((e as Error).message);
  }
  const limits: DaemonLimits = { ...DEFAULT_DAEMON_LIMITS, ...settings.limits };
  const pinoLog = pino({ name: 'vimaged', level: opts.logLevel ?? settings.logLevel ?? 'info' });
  const log = pinoLog as unknown as Logger;

  const sock = path.resolve(opts.socket);
  const activated = activationFd();
  try {
    if (activated === undefined) mkdirSync(path.dirname(sock), { recursive: true, mode: 0o755 });
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o750 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    die(`cannot create ${err.path ?? 'directory'}: ${err.code === 'EACCES' ? 'permission denied, run as root or choose --socket/--state-dir you can write' : err.message}`);
  }
  const pidFile = path.join(opts.stateDir, 'vimaged.pid');
  const holder = stateDirHolder(pidFile);
  if (holder !== undefined) die(`another vimaged (pid ${holder}) is using the state directory ${opts.stateDir}; stop it first or use --state-dir`);
  writeFileSync(pidFile, `${process.pid}\n`);
  ownPidFile = pidFile;
  if (activated === undefined && existsSync(sock)) {
    if (await socketAnswers(sock)) die(`another vimaged is already serving ${sock}; stop it first or use --socket`);
    unlinkSync(sock); // stale socket from a daemon that did not exit cleanly
  }

  const links = hostLinks(log);
  const registry = new Registry({
    // Images are charged the time this thread is busy with them (the cheap
    // monotonic clock), corrected to its real CPU time once per load interval.
    platform: realPlatform({ threadCpuMs }),
    log,
    limits,
    openTap: links.open,
    hostIfExists: tapExists,
  });
  const procs = new ProcTable(registry, allCommands(), log);
  const cgroups = Cgroups.detect(log, opts.cgroup);
  cgroups.cleanLeftovers();
  const linuxProcs = new LinuxProcs(cgroups, log);
  procs.linux = linuxProcs;
  const supervisor = findSupervisor();
  if (supervisor !== undefined) procs.supervisor = { file: supervisor, socket: sock };
  const state = new StateStore(opts.stateDir, registry, log);
  links.bind(registry, () => state.commit());
  const keeper = new Keeper(procs, registry, log, () => state.commit());
  registerConfigSection(keeper.section);
  notify('STATUS=restoring state', log);
  state.restore();
  const guard = new Guard(vimageGid());
  const linux = new LinuxAgent(registry, log, guard, linuxProcs);
  // After any change: image cgroups follow cpu.weight and cpu.max, and the state is saved.
  const onChange = (): Promise<void> | void => {
    // The images changed since the last save (Registry.changed), not all of them: a change costs the same with 10,000.
    linuxProcs.sync([...registry.changed].flatMap((n) => registry.get(n) ?? []));
    return state.commit();
  };
  const deps = { registry, procs, log, version: VERSION, onChange, guard, maxProcesses: limits.processes, keeper, linux };
  const server = createControlServer(deps);
  server.maxConnections = limits.connections;
  const applyLimits = (l: DaemonLimits): void => {
    registry.limits.images = l.images;
    registry.limits.interfaces = l.interfaces;
    registry.limits.rules = l.rules;
    registry.limits.sockets = l.sockets;
    deps.maxProcesses = l.processes;
    server.maxConnections = l.connections;
  };

  let stopping = false;
  const stopWatchdog = startWatchdog(log);
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    notify('STOPPING=1', log);
    log.info({ why }, 'shutting down');
    stopWatchdog?.();
    server.close();
    server.closeAllConnections();
    keeper.stop(); // kept commands stay in the saved state and come back at the next start
    linux.close();
    await procs.stopAll();
    state.save();
    registry.close(true);
    if (activated === undefined) {
      try {
        unlinkSync(sock);
      } catch {
        // already gone
      }
    }
    try {
      unlinkSync(pidFile);
    } catch {
      // already gone
    }
    log.info('stopped');
    pinoLog.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const s = readSettings(configFile, opts.config !== undefined);
      const level = opts.logLevel ?? s.logLevel ?? 'info';
      const newLimits = { ...DEFAULT_DAEMON_LIMITS, ...s.limits };
      applyLimits(newLimits);
      pinoLog.level = level;
      // pino children keep the level they were made with: images' too.
      for (const im of registry.list()) (im.log as unknown as { level: string }).level = level;
      guard.reload();
      if (activated === undefined) socketAccess(sock, log);
      log.info({ logLevel: level, limits: newLimits, file: configFile }, 'settings reloaded');
      notify(`STATUS=serving ${registry.list().length} images; log level ${level}`, log);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'settings not reloaded; keeping the current ones');
    }
  });
  process.on('uncaughtException', (e) => {
    log.error({ err: e }, 'uncaught exception');
    state.save();
    registry.close(true);
    pinoLog.flush();
    process.exit(70);
  });

  server.on('error', (e: NodeJS.ErrnoException) => {
    die(`cannot listen on ${sock}: ${e.code === 'EACCES' ? 'permission denied, run as root or use --socket' : e.message}`);
  });
  const ready = (): void => {
    log.info({ socket: activated !== undefined ? `fd ${activated}` : sock, stateDir: opts.stateDir, version: VERSION, pid: process.pid }, 'vimaged ready');
    keeper.release();
    notify(`READY=1\nSTATUS=serving ${registry.list().length} images\nMAINPID=${process.pid}`, log);
  };
  if (activated !== undefined) {
    server.listen({ fd: activated }, ready);
  } else {
    server.listen(sock, () => {
      socketAccess(sock, log);
      ready();
    });
  }
}

/**
 * The socket is for root and the vimage group only (daemon/auth.ts): mode
 * 0660, group vimage. Without the group only root can use it; say how to
 * make one. Run again on SIGHUP, after an administrator made the group.
 */
function socketAccess(sock: string, log: Logger): void {
  try {
    chmodSync(sock, 0o660);
    const gid = vimageGid();
    if (gid !== undefined) chownSync(sock, 0, gid);
    else log.warn({ socket: sock }, "there is no vimage group, so only root can use vimage; make one with 'sudo groupadd --system vimage', add users with 'sudo usermod -aG vimage USER', then 'kill -HUP' vimaged");
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'cannot set the socket mode or group');
  }
}

void main();
