/**
 * vimaged's own settings: command-line options, optionally a JSON file
 * (`--config`, default /etc/vimage/vimaged.json when it exists) read at
 * start and again on SIGHUP (log level and limits).
 */

import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_LIMITS, type RegistryLimits } from '../lib/image.js';

export const DEFAULT_CONFIG_FILE = '/etc/vimage/vimaged.json';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DaemonLimits extends RegistryLimits {
  /** In-image processes running at once, daemon-wide. */
  processes: number;
  /** Control connections at once. */
  connections: number;
}

export const DEFAULT_DAEMON_LIMITS: DaemonLimits = { ...DEFAULT_LIMITS, processes: 1024, connections: 512 };

export interface FileSettings {
  logLevel?: LogLevel;
  limits?: Partial<DaemonLimits>;
}

/** Read and check the settings file; throws a message naming the bad field. */
export function readSettings(file: string, required: boolean): FileSettings {
  if (!existsSync(file)) {
    if (required) throw new Error(`${file}: no such file`);
    return {};
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  const out: FileSettings = {};
  for (const k of Object.keys(o)) if (k !== 'logLevel' && k !== 'limits') throw new Error(`${file}: unknown setting '${k}' (known: logLevel, limits)`);
  if (o['logLevel'] !== undefined) {
    if (!LOG_LEVELS.includes(o['logLevel'] as LogLevel)) throw new Error(`${file}: logLevel must be one of ${LOG_LEVELS.join(', ')}`);
    out.logLevel = o['logLevel'] as LogLevel;
  }
  if (o['limits'] !== undefined) {
    const l = o['limits'];
    if (typeof l !== 'object' || l === null) throw new Error(`${file}: limits must be an object`);
    out.limits = {};
    for (const [k, v] of Object.entries(l)) {
      if (!Object.hasOwn(DEFAULT_DAEMON_LIMITS, k)) throw new Error(`${file}: unknown limit '${k}' (known: ${Object.keys(DEFAULT_DAEMON_LIMITS).join(', ')})`);
      if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${file}: limits.${k} must be a positive integer`);
      out.limits[k as keyof DaemonLimits] = v as number;
    }
  }
  return out;
}
