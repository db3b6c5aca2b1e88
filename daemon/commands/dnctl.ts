/**
 * dnctl(8) inside an image: FreeBSD 14's command for dummynet's pipes,
 * queues and schedulers without ipfw, the same objects and grammar as
 * `ipfw pipe|queue|sched` (one dummynet per image):
 *
 *   dnctl [-s [field]] [-nq] {pipe|queue|sched} N config OPTIONS
 *   dnctl [-s [field]] [-v] {pipe|queue|sched} {delete|list|show} [N ...]
 *   dnctl [-fq] flush
 *
 * `-s N` sorts the flows of a listing by current packets (1), bytes (2),
 * total packets (3) or total bytes (4), largest first; a negative N
 * reverses. A pathname operand (dnctl's preprocessor mode) is not supported.
 */

import { EX_OK, EX_USAGE, type Command } from '../command.js';
import { dummynetCommand, type DnOpts, type DnOut } from './ipfw_dn.js';
import { getopt } from './util.js';

const CMD = 'dnctl';

const USAGE =
  'usage: dnctl [-s [field]] [-nq] {pipe | queue | sched} number config config-options\n' +
  '       dnctl [-s [field]] [-v] {pipe | queue | sched} {delete | list | show} [number ...]\n' +
  '       dnctl [-fq] flush\n' +
  'config-options: [bw B[K|M|G]{bit/s|Byte/s}] [delay MS] [burst N] [profile FILE] [plr P]\n' +
  '\t[queue {N|N[K]Bytes}] [mask ...] [weight W] [lmax L] [pri P] [pipe|sched N]\n' +
  '\t[red|gred w_q/min_th/max_th/max_p] [codel [target T] [interval I] [ecn|noecn]]\n' +
  '\t[pie [target T] [tupdate T] [alpha A] [beta B] [max_burst T] [max_ecnth P] ...]\n' +
  '\t[type fifo|wf2q+|rr|qfq|prio|fq_codel|fq_pie [fq_codel/fq_pie parameters]]\n';

class Out implements DnOut {
  out = '';
  err = '';
  status = EX_OK;
  warn(msg: string, status?: number): void {
    this.err += `${CMD}: ${msg}\n`;
    if (status !== undefined && this.status === EX_OK) this.status = status;
  }
}

const dnctl: Command = async (ctx) => {
  const o = new Out();
  const finish = (): number => {
    if (o.out !== '') ctx.stdout.write(o.out);
    if (o.err !== '') ctx.stderr.write(o.err);
    return o.status;
  };
  // -s takes an optional field: `-s 3`, `-s3`, or a bare `-s` (field 1).
  const argv = [...ctx.argv.slice(1)];
  let sort: number | undefined;
  for (let k = 0; k < argv.length && argv[k]!.startsWith('-'); k++) {
    const a = argv[k]!;
    if (a === '--') break;
    const m = /^-s(-?\d+)?$/.exec(a);
    if (m === null) continue;
    if (m[1] !== undefined) sort = Number(m[1]);
    else if (/^-?\d+$/.test(argv[k + 1] ?? '')) {
      sort = Number(argv[k + 1]);
      argv.splice(k + 1, 1);
    } else sort = 1;
    if (Math.abs(sort) < 1 || Math.abs(sort) > 4) {
      o.warn(`-s ${sort}: sort field must be 1..4 (pkts, bytes, total pkts, total bytes), negative to reverse`, EX_USAGE);
      return finish();
    }
    argv.splice(k, 1);
    k--;
  }
  const g = getopt(argv, 'dfnqv');
  if (typeof g === 'string') {
    o.warn(g, EX_USAGE);
    ctx.stderr.write(USAGE);
    return finish();
  }
  const opts: DnOpts = { quiet: g.count.has('q'), testOnly: g.count.has('n') };
  if (sort !== undefined) opts.sort = sort;
  const args = g.rest;
  const cmd = args[0];
  if (cmd === undefined) {
    ctx.stderr.write(USAGE);
    return EX_USAGE;
  }
  switch (cmd) {
    case 'pipe':
    case 'queue':
    case 'sched':
      dummynetCommand(ctx, o, cmd, args.slice(1), opts, CMD);
      return finish();
    case 'flush':
      ctx.image.firewall.flushDummynet();
      if (!opts.quiet) o.out += 'Flushed all pipes.\n';
      return finish();
    case 'list':
    case 'show':
      // `dnctl show` lists the pipes, as `dnctl pipe show`.
      dummynetCommand(ctx, o, 'pipe', args, opts, CMD);
      return finish();
    default:
      if (cmd.includes('/')) o.warn(`${cmd}: reading commands from a file is not supported in vimage; run each line with dnctl`, EX_USAGE);
      else o.warn(`bad command \`${cmd}'`, EX_USAGE);
      return finish();
  }
};

export const commands: Record<string, Command> = { dnctl };
