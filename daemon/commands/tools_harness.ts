/**
 * Test helper for the commands' unit tests: run a command in an image of an
 * in-memory topology with a manual clock, delivering frames between clock
 * steps (sockstat, inetd, ping options), or once (runOnce). Tests only; nothing else imports it.
 */

import assert from 'node:assert/strict';
import type { ManualClock } from '../../lib/clock.js';
import { commandHandles, type SocketOwner } from '../../lib/control/index.js';
import type { Image, Registry } from '../../lib/image.js';
import type { Command, CommandContext } from '../command.js';

export interface Env {
  reg: Registry;
  clock: ManualClock;
}

export interface Running {
  ctx: CommandContext;
  out: string[];
  err: string[];
  abort: AbortController;
  status: number | undefined;
  done: Promise<void>;
  hangup?: () => void;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Let frames and the reactions to them settle (no time passes). */
export async function settle(env: Env, rounds = 5): Promise<void> {
  for (let k = 0; k < rounds; k++) {
    await tick();
    env.reg.netisr.drain();
  }
}

/** Start `cmd` in `im` (not awaited). */
export function start(env: Env, im: Image, cmd: Command, argv: string[], opts: { json?: boolean; pid?: number; owner?: SocketOwner } = {}): Running {
  const out: string[] = [];
  const err: string[] = [];
  const abort = new AbortController();
  const r: Running = { out, err, abort, status: undefined, done: Promise.resolve(), ctx: undefined as unknown as CommandContext };
  r.ctx = {
    argv,
    ...commandHandles(im, env.reg, opts.owner),
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: abort.signal,
    json: opts.json ?? false,
    pid: opts.pid ?? 4242,
    onHangup: (fn) => {
      r.hangup = fn;
    },
  };
  r.done = cmd(r.ctx).then((s) => {
    r.status = s;
  });
  return r;
}

/** Advance the clock `stepMs` at a time until `cond` holds (or `maxMs` passed: a failure). */
export async function until(env: Env, cond: () => boolean, what: string, stepMs = 10, maxMs = 60_000): Promise<void> {
  for (let t = 0; ; t += stepMs) {
    await settle(env);
    if (cond()) return;
    assert.ok(t < maxMs, `timed out waiting for ${what}`);
    env.clock.advance(stepMs);
  }
}

/** Run `cmd` to its end; returns status and output. */
export async function run(env: Env, im: Image, cmd: Command, argv: string[], opts: { json?: boolean; stepMs?: number } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const r = start(env, im, cmd, argv, opts);
  await until(env, () => r.status !== undefined, argv.join(' '), opts.stepMs ?? 100, 120_000);
  await r.done;
  return { status: r.status!, stdout: r.out.join(''), stderr: r.err.join('') };
}

/**
 * Run `cmd` in `im` once, with no input, and wait for its status: for
 * commands that finish on their own (ifconfig, ipfw, ifmcstat) and need no
 * clock to move.
 */
export async function runOnce(reg: Registry, im: Image, cmd: Command, argv: readonly string[], json = false): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CommandContext = {
    argv: [...argv],
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json,
    pid: 1,
  };
  const status = await cmd(ctx);
  return { status, out, err };
}
