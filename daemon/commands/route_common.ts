/**
 * What `route` (route.ts) and `route -6` (route6.ts) share: reading the
 * leading option words, running a change with route(8)'s report lines, and
 * the tail of `route get`'s output.
 */

import { RTF, VimageError } from '../../lib/control/index.js';
import { EX_FAIL, EX_OK, type CommandContext } from '../command.js';
import { right } from './util.js';

/** The letters of the leading `-abc` words, in order, and the index of the first other word. */
export function optionLetters(args: readonly string[]): { letters: string[]; i: number } {
  const letters: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (!/^-[a-zA-Z0-9]+$/.test(a)) break;
    for (const c of a.slice(1)) letters.push(c);
  }
  return { letters, i };
}

/**
 * Runs a change through the control surface: `what` (`add net 10.2.0.0: gateway
 * 10.1.0.1`) is printed unless -q, and a coded error becomes route(8)'s
 * `route: WHAT fib 0: why` line.
 */
export function routeAct(ctx: CommandContext, what: string, quiet: boolean, fn: () => void): number {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof VimageError)) throw e;
    return routeFailed(ctx, what, e.message);
  }
  if (!quiet) ctx.stdout.write(`${what}\n`);
  return EX_OK;
}

export function routeFailed(ctx: CommandContext, what: string, why: string): number {
  ctx.stderr.write(`route: ${what} fib 0: ${why}\n`);
  return EX_FAIL;
}

/** The end of `route get`: fib, interface, flags and the metrics table. */
export function routeGetTail(iface: string, flags: readonly string[], mtu: number, expire = 0): string {
  const v = (n: number): string => `${right(n, 8)} `;
  const head = `${right('recvpipe', 9)} ${right('sendpipe', 9)} ${right('ssthresh', 9)} ${right('rtt,msec', 9)} ${right('mtu   ', 9)} ${right('weight', 10)} ${right('expire', 9)}`;
  return `        fib: 0\n  interface: ${iface}\n      flags: <${flags.join(',')}>\n${head}\n${v(0)} ${v(0)} ${v(0)} ${v(0)} ${v(mtu)} ${v(1)} ${right(expire, 8)} \n`;
}

/** Route flag names in bit order (route.c's routeflags[]), as route(8) prints them in `flags: <...>` and route monitor in its messages. */
export const ROUTE_FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [RTF.UP, 'UP'],
  [RTF.GATEWAY, 'GATEWAY'],
  [RTF.HOST, 'HOST'],
  [RTF.REJECT, 'REJECT'],
  [RTF.DYNAMIC, 'DYNAMIC'],
  [RTF.MODIFIED, 'MODIFIED'],
  [RTF.DONE, 'DONE'],
  [RTF.STATIC, 'STATIC'],
  [RTF.BLACKHOLE, 'BLACKHOLE'],
  [RTF.PROTO2, 'PROTO2'],
  [RTF.PROTO1, 'PROTO1'],
  [RTF.PINNED, 'PINNED'],
  [RTF.LOCAL, 'LOCAL'],
  [RTF.BROADCAST, 'BROADCAST'],
];

export function routeFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of ROUTE_FLAG_NAMES) if ((flags & bit) !== 0) out.push(name);
  return out;
}
