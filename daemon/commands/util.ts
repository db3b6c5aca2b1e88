/**
 * Small helpers shared by the in-image configuration commands (ifconfig,
 * route, netstat, arp, sysctl): BSD getopt, error printing in the
 * `cmd: message` form, JSON output and column padding.
 */

import { VimageError } from '../../lib/control/index.js';
import { EX_FAIL, EX_USAGE, type CommandContext } from '../command.js';

/** Print `cmd: msg` on stderr; returns EX_USAGE (bad arguments). */
export function usageError(ctx: CommandContext, cmd: string, msg: string): number {
  ctx.stderr.write(`${cmd}: ${msg}\n`);
  return EX_USAGE;
}

/** Print `cmd: msg` on stderr; returns EX_FAIL. */
export function failure(ctx: CommandContext, cmd: string, msg: string): number {
  ctx.stderr.write(`${cmd}: ${msg}\n`);
  return EX_FAIL;
}

/** Run `fn`; a VimageError it throws becomes `cmd: message` and status 1. Other errors propagate. */
export function guarded(ctx: CommandContext, cmd: string, fn: () => number): number {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VimageError) {
      if (!ctx.json) return failure(ctx, cmd, e.message);
      ctx.stderr.write(JSON.stringify({ error: { code: e.code, message: `${cmd}: ${e.message}` } }) + '\n');
      return EX_FAIL;
    }
    throw e;
  }
}

export function printJson(ctx: CommandContext, doc: unknown): void {
  ctx.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

export interface Getopt {
  /** Flags seen, each with the number of times it was given (`-ss` counts 2). */
  readonly count: Map<string, number>;
  /** Option arguments, last one wins. */
  readonly value: Map<string, string>;
  /** Operands after the options. */
  readonly rest: string[];
}

/**
 * getopt(3) over `args` (without argv[0]): `spec` lists the flag letters,
 * a letter followed by ':' takes an argument (`-p udp` or `-pudp`).
 * Options end at the first operand or at `--`. Returns an error text for
 * an unknown flag or a missing argument.
 */
export function getopt(args: readonly string[], spec: string): Getopt | string {
  const takesArg = new Set<string>();
  const known = new Set<string>();
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ':') continue;
    known.add(c);
    if (spec[i + 1] === ':') takesArg.add(c);
  }
  const count = new Map<string, number>();
  const value = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (!known.has(c)) return `illegal option -- ${c}`;
      count.set(c, (count.get(c) ?? 0) + 1);
      if (takesArg.has(c)) {
        const inline = a.slice(j + 1);
        if (inline !== '') value.set(c, inline);
        else {
          const next = args[i + 1];
          if (next === undefined) return `option requires an argument -- ${c}`;
          value.set(c, next);
          i++;
        }
        break;
      }
    }
  }
  return { count, value, rest: args.slice(i) };
}

/** A decimal integer in [min, max], or undefined. */
export function parseIntIn(text: string, min: number, max: number): number | undefined {
  if (!/^-?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** printf("%-*s"): left-justified in `w` columns, never truncated. */
export function left(s: string, w: number): string {
  return s.length >= w ? s : s + ' '.repeat(w - s.length);
}

/** printf("%*s"): right-justified in `w` columns, never truncated. */
export function right(s: string | number, w: number): string {
  const t = String(s);
  return t.length >= w ? t : ' '.repeat(w - t.length) + t;
}
