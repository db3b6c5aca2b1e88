/**
 * ifconfig(8)'s interface attributes beside addresses, as FreeBSD 14's
 * ifconfig.c, ifgroup.c and ifvlan.c parse them: `description TEXT`
 * (`descr`), `-description` (`-descr`), `group NAME`, `-group NAME`,
 * `promisc`, `-promisc`, `vlanpcp N` and `pcp N` (on a vlan: the priority
 * code point of its tag), and `-g GROUP` (the members of a group).
 */

import type { InterfaceInfo, InterfaceOp } from '../../lib/control/index.js';
import { EX_OK, type CommandContext } from '../command.js';
import { printJson } from './util.js';

export interface AttrPlan {
  /** `vlanpcp N` / `pcp N`: the vlan's priority code point. */
  pcp?: number;
  /** The word that gave it: `pcp` on an interface that is not a vlan has its own message. */
  pcpWord?: string;
}

/** strtoul(val, &endp, 0) over the whole string: decimal, 0x hex or 0 octal. */
function strtoul0(t: string): number | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) return parseInt(t.slice(2), 16);
  if (/^0[0-7]*$/.test(t)) return parseInt(t, 8);
  if (/^[1-9]\d*$/.test(t)) return Number(t);
  return undefined;
}

/**
 * An attribute at args[i]: how many words it took (0: not one of these), or
 * an error text. Interface changes go to `ops`, in argument order.
 */
export function parseAttrArg(args: readonly string[], i: number, ops: InterfaceOp[], p: AttrPlan): number | string {
  const a = args[i]!;
  const next = args[i + 1];
  switch (a) {
    case 'description':
    case 'descr':
      if (next === undefined) return `${a}: missing text (e.g. ${a} "uplink to ISP")`;
      ops.push({ kind: 'description', text: next });
      return 2;
    case '-description':
    case '-descr':
      ops.push({ kind: 'description', text: null });
      return 1;
    case 'group':
    case '-group':
      if (next === undefined) return `${a}: missing group name (e.g. ${a} lan)`;
      ops.push({ kind: 'group', name: next, on: a === 'group' });
      return 2;
    case 'promisc':
    case '-promisc':
      ops.push({ kind: 'promisc', on: a === 'promisc' });
      return 1;
    case 'vlanpcp':
    case 'pcp': {
      if (next === undefined) return `${a}: missing value (0 to 7, e.g. ${a} 5)`;
      const v = strtoul0(next);
      if (v === undefined) return `invalid value for ${a}`;
      if (v > 7) return `value for ${a} out of range`;
      p.pcp = v;
      p.pcpWord = a;
      return 2;
    }
    case '-pcp':
      p.pcp = 0;
      p.pcpWord = a;
      return 1;
  }
  return 0;
}

/** FreeBSD's `description:` line, right after the flags line. */
export function descriptionStatus(f: InterfaceInfo): string {
  return f.description !== undefined ? `\tdescription: ${f.description}\n` : '';
}

/** getifgroups(): the `groups:` line, left out when the interface is in no group but `all`. */
export function groupsStatus(f: InterfaceInfo): string {
  return f.groups.length > 0 ? `\tgroups: ${f.groups.join(' ')}\n` : '';
}

/** Is `f` in `group` (every interface is in `all`)? */
export function inGroup(f: InterfaceInfo, group: string): boolean {
  return group === 'all' || f.groups.includes(group);
}

/** `ifconfig -g GROUP`: the members, one a line (printgroup); none for a group nobody is in. */
export function printGroup(ctx: CommandContext, group: string): number {
  const members = ctx.image.interfaces.list().filter((f) => inGroup(f, group)).map((f) => f.name);
  if (ctx.json) printJson(ctx, { group, members });
  else ctx.stdout.write(members.map((m) => `${m}\n`).join(''));
  return EX_OK;
}
