/**
 * ifmcstat(8): the multicast groups each interface listens to and its MLD
 * state, as FreeBSD 14 prints the inet6 part:
 *
 *     tap0:
 *     	inet6 fe80::...%tap0
 *     	mldv2 flags=2<USEALLOW> rv 2 qi 125 qri 10 uri 3
 *     		group ff02::1:ff00:1%tap0 mode exclude
 *     			mcast-macaddr 33:33:ff:00:00:01
 *
 * Images have no IGMP, so there is no inet part (-f inet prints nothing).
 * -i limits the listing to one interface; --json prints the same data.
 */

import { EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt } from './ping.js';
import { printJson } from './util.js';

const CMD = 'ifmcstat';
const USAGE = 'usage: ifmcstat [-i interface] [-f address family] [-v] [-M core] [-N system]';

const ifmcstat: Command = (ctx: CommandContext) => {
  const g = getopt(ctx.argv, 'i:f:vM:N:');
  if ('error' in g || g.operands.length > 0) {
    ctx.stderr.write(`${'error' in g ? `${CMD}: ${g.error}\n` : ''}${USAGE}\n`);
    return Promise.resolve(EX_USAGE);
  }
  let ifname: string | undefined;
  let family = 'inet6';
  for (const [c, v] of g.opts) {
    if (c === 'i') ifname = v;
    else if (c === 'f') {
      if (v !== 'inet' && v !== 'inet6' && v !== 'link') {
        ctx.stderr.write(`${CMD}: unknown address family: ${v}\n${USAGE}\n`);
        return Promise.resolve(EX_USAGE);
      }
      family = v;
    }
  }
  if (ifname !== undefined && !ctx.image.interfaces.has(ifname)) {
    ctx.stderr.write(`${CMD}: ${ifname}: invalid interface\n`);
    return Promise.resolve(1);
  }
  const rows = family === 'inet' ? [] : ctx.image.inet6.multicast(ifname);
  if (ctx.json) {
    printJson(ctx, { interfaces: rows });
    return Promise.resolve(EX_OK);
  }
  let s = '';
  for (const r of rows) {
    s += `${r.interface}:\n`;
    if (r.linkLocal !== null) {
      s += `\tinet6 ${r.linkLocal}\n`;
      s += `\tmldv${r.version} flags=${r.flags === 0 ? '0' : `${r.flags.toString(16)}<USEALLOW>`} rv ${r.rv} qi ${r.qi} qri ${r.qri} uri ${r.uri}\n`;
    }
    for (const grp of r.groups) s += `\t\tgroup ${grp.group} mode ${grp.mode}\n\t\t\tmcast-macaddr ${grp.mac}\n`;
  }
  ctx.stdout.write(s);
  return Promise.resolve(EX_OK);
};

export const commands: Record<string, Command> = { ifmcstat };
