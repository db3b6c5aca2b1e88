/**
 * `ipfw set show|disable|enable|move|swap` (FreeBSD's ipfw_sets_handler in
 * sbin/ipfw/ipfw2.c), with its messages and exit statuses. The `set N`
 * prefix of other commands (`ipfw set N delete|list|show|flush`) is read
 * by ipfw.ts.
 */

import { RESVD_SET, setShowLine, type SetsControl } from '../../lib/control/index.js';
import { EX_OK, EX_USAGE } from '../command.js';

const EX_DATAERR = 65;

export interface SetOut {
  out: string;
  err: string;
  status: number;
}

/** `ipfw set ...` after the word `set` (not the numbered prefix form). */
export function setsCommand(sets: SetsControl, av: readonly string[]): SetOut {
  const o: SetOut = { out: '', err: '', status: EX_OK };
  const fail = (msg: string, status: number): SetOut => {
    o.err += `ipfw: ${msg}\n`;
    o.status = status;
    return o;
  };
  const setNum = (t: string | undefined): number => (t !== undefined && /^\d+$/.test(t) ? Number(t) : NaN);
  const cmd = av[0];
  if (cmd === undefined) return fail('set needs command', EX_USAGE);
  switch (cmd) {
    case 'show':
      o.out += setShowLine(sets.disabledMask()) + '\n';
      return o;
    case 'swap': {
      if (av[1] === undefined || av[2] === undefined) return fail('set swap needs 2 set numbers\n', EX_USAGE);
      const a = setNum(av[1]);
      const b = setNum(av[2]);
      if (!(a <= RESVD_SET)) return fail(`invalid set number ${av[1]}\n`, EX_DATAERR);
      if (!(b <= RESVD_SET)) return fail(`invalid set number ${av[2]}\n`, EX_DATAERR);
      sets.swap(a, b);
      return o;
    }
    case 'move': {
      let rest = av.slice(1);
      const rule = rest[0] === 'rule';
      if (rule) rest = rest.slice(1);
      if (rest.length !== 3 || rest[1] !== 'to') return fail('syntax: set move [rule] X to Y\n', EX_USAGE);
      const from = setNum(rest[0]);
      const to = setNum(rest[2]);
      if (Number.isNaN(from) || (rule ? from >= 65535 : from > RESVD_SET)) return fail(`invalid source number ${rest[0]}\n`, EX_DATAERR);
      if (!(to <= RESVD_SET)) return fail(`invalid dest. set ${rest[1]}\n`, EX_DATAERR);
      if (rule) sets.moveRule(from, to);
      else sets.move(from, to);
      return o;
    }
    case 'disable':
    case 'enable': {
      let which = cmd === 'enable' ? 1 : 0;
      const masks = [0, 0];
      for (const t of av.slice(1)) {
        if (/^\d/.test(t)) {
          const n = /^\d+$/.test(t) ? Number(t) : NaN;
          if (!(n <= RESVD_SET)) return fail(`invalid set number ${t}\n`, EX_DATAERR);
          masks[which]! |= 1 << n;
        } else if (t === 'disable') which = 0;
        else if (t === 'enable') which = 1;
        else return fail(`invalid set command ${t}\n`, EX_DATAERR);
      }
      if ((masks[0]! & masks[1]!) !== 0) return fail('cannot enable and disable the same set\n', EX_DATAERR);
      sets.enable(masks[0]! >>> 0, masks[1]! >>> 0);
      return o;
    }
    default:
      return fail(`invalid set command ${cmd}\n`, EX_USAGE);
  }
}
