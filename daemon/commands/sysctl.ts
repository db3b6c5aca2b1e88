/**
 * sysctl(8) inside an image: read (NAME, a dotted prefix, -a), describe
 * (-d) and set (NAME=VALUE) the image's tunables. Values are per image;
 * a bad value is refused with the message that names the bounds.
 */

import { VimageError, type SysctlInfo } from '../../lib/control/index.js';
import { EX_FAIL, EX_OK, type Command } from '../command.js';
import { getopt, printJson, usageError } from './util.js';

const CMD = 'sysctl';
const USAGE = 'usage: sysctl [-deNnq] name[=value] ... | sysctl [-deNn] -a';

interface Opts {
  names: boolean;
  values: boolean;
  descr: boolean;
  equals: boolean;
  quiet: boolean;
}

function line(d: SysctlInfo, o: Opts): string {
  if (o.names) return `${d.name}\n`;
  const shown = o.descr ? d.description : d.text;
  if (o.values) return `${shown}\n`;
  return `${d.name}${o.equals && !o.descr ? '=' : ': '}${shown}\n`;
}

const sysctl: Command = async (ctx) => {
  const g = getopt(ctx.argv.slice(1), 'adeNnqo');
  if (typeof g === 'string') return usageError(ctx, CMD, `${g}; ${USAGE}`);
  const has = (c: string): boolean => g.count.has(c);
  const o: Opts = { names: has('N'), values: has('n'), descr: has('d'), equals: has('e'), quiet: has('q') };
  const vals = ctx.image.sysctl;
  if (!has('a') && g.rest.length === 0) return usageError(ctx, CMD, USAGE);
  if (has('a') && g.rest.length > 0) return usageError(ctx, CMD, `-a takes no names; ${USAGE}`);

  let out = '';
  const doc: Record<string, unknown> = {};
  let status = EX_OK;
  const err = (msg: string): void => {
    status = EX_FAIL;
    if (!o.quiet) ctx.stderr.write(`${CMD}: ${msg}\n`);
  };
  const report = (list: SysctlInfo[]): void => {
    for (const d of list) {
      out += line(d, o);
      doc[d.name] = o.descr ? d.description : d.names !== undefined ? d.text : d.value;
    }
  };

  if (has('a')) report(vals.list());
  for (const arg of g.rest) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (name === '') {
      err(`${arg}: give a name, e.g. net.inet.ip.forwarding=1`);
      continue;
    }
    if (eq < 0) {
      const list = vals.list(name);
      if (list.length === 0) err(`unknown oid '${name}'; 'sysctl -a' lists the tunables of an image`);
      else report(list);
      continue;
    }
    if (vals.get(name) === undefined) {
      if (vals.isNode(name)) err(`oid '${name}' isn't a leaf node; set one of 'sysctl ${name}'`);
      else err(`unknown oid '${name}'; 'sysctl -a' lists the tunables of an image`);
      continue;
    }
    try {
      const r = vals.set(name, arg.slice(eq + 1));
      const from = r.old.text;
      const to = r.now.text;
      out += o.values ? `${from} -> ${to}\n` : `${name}: ${from} -> ${to}\n`;
      doc[name] = r.now.names !== undefined ? { old: from, new: to } : { old: r.old.value, new: r.now.value };
    } catch (e) {
      if (!(e instanceof VimageError)) throw e;
      err(e.message);
    }
  }
  if (ctx.json) printJson(ctx, doc);
  else ctx.stdout.write(out);
  return status;
};

export const commands: Record<string, Command> = { sysctl };
