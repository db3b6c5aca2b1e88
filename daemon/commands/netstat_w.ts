/**
 * `netstat -w WAIT [-I IF] [-d] [-q COUNT]`: traffic per interval, one line
 * every WAIT seconds, as FreeBSD 14's sidewaysintpr (usr.bin/netstat/if.c)
 * prints it: a two-line banner (again after every 21 lines), then the
 * difference of the summed interface counters (all interfaces, or IF) over
 * each interval. The counters are read once before the first wait, so the
 * first line is the first interval's traffic. It runs until interrupted, or
 * for COUNT lines with `-q COUNT` (FreeBSD's option; `-c COUNT` is taken as
 * the same here). With --json each line is one JSON object.
 */

import type { InterfaceCounters, Timer } from '../../lib/control/index.js';
import { EX_OK, type CommandContext } from '../command.js';

/** sysexits' EX_DATAERR: fill_iftot's "interface %s not found". */
const EX_DATAERR = 65;
/** Lines between banners (sidewaysintpr's `line == 21`). */
const BANNER_EVERY = 21;

export interface SidewaysOptions {
  /** Seconds between lines (-w). */
  interval: number;
  /** -I IF: that interface only. */
  only?: string;
  /** Lines to print, 0 for no end (-q). */
  count: number;
  /** -d: output drops too. */
  drops: boolean;
}

type Tot = Pick<InterfaceCounters, 'ipackets' | 'ierrors' | 'iqdrops' | 'ibytes' | 'opackets' | 'oerrors' | 'obytes' | 'collisions' | 'oqdrops'>;

/** fill_iftot(): the counters summed over the interfaces, or undefined when `only` is gone. */
function fillIftot(ctx: CommandContext, only: string | undefined): Tot | undefined {
  const t: Tot = { ipackets: 0, ierrors: 0, iqdrops: 0, ibytes: 0, opackets: 0, oerrors: 0, obytes: 0, collisions: 0, oqdrops: 0 };
  let found = false;
  for (const f of ctx.image.interfaces.listWithCounters()) {
    if (only !== undefined && f.name !== only) continue;
    found = true;
    const c = f.counters;
    t.ipackets += c.ipackets;
    t.ierrors += c.ierrors;
    t.iqdrops += c.iqdrops;
    t.ibytes += c.ibytes;
    t.opackets += c.opackets;
    t.oerrors += c.oerrors;
    t.obytes += c.obytes;
    t.collisions += c.collisions;
    t.oqdrops += c.oqdrops;
  }
  return only !== undefined && !found ? undefined : t;
}

const r = (v: string | number, w: number): string => String(v).padStart(w);

/** The banner: `%17s %14s %16s` then the column titles. */
export function sidewaysBanner(only: string | undefined, drops: boolean): string {
  let s = `${r('input', 17)} ${r(only ?? '(Total)', 14)} ${r('output', 16)}\n`;
  s += `${r('packets', 10)} ${r('errs', 5)} ${r('idrops', 5)} ${r('bytes', 10)} ${r('packets', 10)} ${r('errs', 5)} ${r('bytes', 10)} ${r('colls', 5)}`;
  if (drops) s += ` ${'drops'.padStart(5)}`;
  return s + '\n';
}

/** One line: show_stat's `%10lu ` columns, colls without its trailing space, ` %5lu` drops. */
export function sidewaysLine(d: Tot, drops: boolean): string {
  let s = `${r(d.ipackets, 10)} ${r(d.ierrors, 5)} ${r(d.iqdrops, 5)} ${r(d.ibytes, 10)} ${r(d.opackets, 10)} ${r(d.oerrors, 5)} ${r(d.obytes, 10)} ${r(d.collisions, 5)}`;
  if (drops) s += ` ${r(d.oqdrops, 5)}`;
  return s + '\n';
}

function delta(n: Tot, o: Tot): Tot {
  return {
    ipackets: n.ipackets - o.ipackets,
    ierrors: n.ierrors - o.ierrors,
    iqdrops: n.iqdrops - o.iqdrops,
    ibytes: n.ibytes - o.ibytes,
    opackets: n.opackets - o.opackets,
    oerrors: n.oerrors - o.oerrors,
    obytes: n.obytes - o.obytes,
    collisions: n.collisions - o.collisions,
    oqdrops: n.oqdrops - o.oqdrops,
  };
}

/** Run sidewaysintpr until the count is reached or the command is stopped. */
export async function sidewaysIntpr(ctx: CommandContext, o: SidewaysOptions): Promise<number> {
  let old = fillIftot(ctx, o.only);
  if (old === undefined) {
    ctx.stderr.write(`netstat: interface ${o.only} not found\n`);
    return EX_DATAERR;
  }
  const clock = ctx.image.clock;
  let line = 0;
  let printed = 0;
  let status = EX_OK;
  if (!ctx.json) ctx.stdout.write(sidewaysBanner(o.only, o.drops));
  await new Promise<void>((resolve) => {
    let timer: Timer | null = null;
    const stop = (): void => {
      timer?.cancel();
      timer = null;
      ctx.signal.removeEventListener('abort', stop);
      resolve();
    };
    const tick = (): void => {
      const now = fillIftot(ctx, o.only);
      if (now === undefined) {
        ctx.stderr.write(`netstat: interface ${o.only} not found\n`);
        status = EX_DATAERR;
        return stop();
      }
      const d = delta(now, old!);
      old = now;
      if (ctx.json) ctx.stdout.write(JSON.stringify({ interface: o.only ?? '(Total)', interval: o.interval, ...d }) + '\n');
      else {
        ctx.stdout.write(sidewaysLine(d, o.drops));
        if (++line === BANNER_EVERY) {
          ctx.stdout.write(sidewaysBanner(o.only, o.drops));
          line = 0;
        }
      }
      if (o.count !== 0 && ++printed >= o.count) stop();
    };
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', stop, { once: true });
    // An interval timer (setitimer), so lines keep their pace however long one takes to print.
    timer = clock.every(o.interval * 1000, tick);
  });
  return status;
}
