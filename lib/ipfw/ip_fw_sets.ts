/**
 * Rule sets (FreeBSD's IP_FW_SET_ENABLE, IP_FW_SET_MOVE, IP_FW_SET_SWAP,
 * IP_FW_XMOVE and delete by set in sys/netpfil/ipfw/ip_fw_sockopt.c):
 * every rule belongs to one of 32 sets; a disabled set's rules are skipped
 * by the walk (ip_fw2.ts tests one bit per rule). Set 31 (RESVD_SET) holds
 * the default rule, cannot be disabled and survives `ipfw flush`.
 */

import { E, fail } from '../errors.js';
import type { Ipfw } from './ip_fw2.js';
import { chainDelete } from './ip_fw_sockopt.js';
import { RESVD_SET } from './parse_actions.js';
import { DEFAULT_RULE } from './rule.js';

export { RESVD_SET };

/** The set operations of one image's chain (`ipfw set ...`). */
export interface SetsControl {
  /** Bit N set: set N is disabled. */
  disabledMask(): number;
  /** `set disable A enable B`: masks of sets to disable and to enable (set 31 stays enabled). */
  enable(disable: number, enable: number): void;
  /** `set move A to B`: every rule of set A to set B; returns how many moved. */
  move(from: number, to: number): number;
  /** `set move rule N to B`: the rules numbered N; returns how many moved. */
  moveRule(num: number, to: number): number;
  /** `set swap A B`. */
  swap(a: number, b: number): void;
  /** `delete set N` / `set N delete [lo-hi]`: rules of set N (in lo..hi); returns how many went. */
  deleteSet(set: number, lo?: number, hi?: number): number;
}

function checkSet(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > RESVD_SET) fail(E.OUT_OF_RANGE, `invalid set number ${n}`);
}

/** The set operations over `fw`. */
export function fwSets(fw: Ipfw): SetsControl {
  const renumber = (pred: (set: number, num: number) => number): number => {
    let n = 0;
    for (const r of fw.rules) {
      if (r === fw.defaultRule) continue;
      const to = pred(r.set, r.num);
      if (to !== r.set) {
        r.set = to;
        n++;
      }
    }
    fw.bvStale = true;
    return n;
  };
  return {
    disabledMask: () => fw.setDisable,
    enable(disable, enable) {
      fw.setDisable = ((fw.setDisable | disable) & ~enable & ~(1 << RESVD_SET)) >>> 0;
    },
    move(from, to) {
      checkSet(from);
      checkSet(to);
      return renumber((s) => (s === from ? to : s));
    },
    moveRule(num, to) {
      checkSet(to);
      if (num === DEFAULT_RULE) fail(E.OUT_OF_RANGE, 'the default rule stays in set 31');
      return renumber((s, n) => (n === num ? to : s));
    },
    swap(a, b) {
      checkSet(a);
      checkSet(b);
      renumber((s) => (s === a ? b : s === b ? a : s));
    },
    deleteSet(set, lo = 0, hi = DEFAULT_RULE - 1) {
      checkSet(set);
      return chainDelete(fw, lo, hi, set);
    },
  };
}

/** `ipfw set show`: `disable A B enable C D ...` over sets 0..30, as ipfw_sets_handler prints it. */
export function setShowLine(disabled: number): string {
  let out = '';
  let msg = 'disable';
  for (let i = 0; i < RESVD_SET; i++) {
    if (((disabled >>> i) & 1) === 0) continue;
    out += `${msg} ${i}`;
    msg = '';
  }
  msg = (disabled & ~(1 << RESVD_SET)) !== 0 ? ' enable' : 'enable';
  for (let i = 0; i < RESVD_SET; i++) {
    if (((disabled >>> i) & 1) !== 0) continue;
    out += `${msg} ${i}`;
    msg = '';
  }
  return out;
}
