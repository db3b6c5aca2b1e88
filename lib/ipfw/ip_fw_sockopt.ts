/**
 * Changes to an image's rule chain (FreeBSD's sys/netpfil/ipfw/ip_fw_sockopt.c):
 * add with automatic numbering, delete by range, flush, zero and resetlog.
 * Each change recomputes rule positions and skipto targets, so the packet
 * path never searches for them.
 */

import { E, fail } from '../errors.js';
import type { Ipfw } from './ip_fw2.js';
import { fwAutoincStep } from './ip_fw2.js';
import { A, DEFAULT_RULE, type Rule } from './rule.js';
import { tablesBind, tablesUnbind } from './table_rule.js';
import { firstAtOrAbove } from './ip_fw_actions.js';

/** Recompute positions and skipto targets after the chain changed. */
export function chainRefresh(fw: Ipfw): void {
  const rules = fw.rules;
  fw.bvStale = true;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    r.pos = i;
    if (r.action === A.SKIPTO) {
      let j = i + 1;
      while (j < rules.length - 1 && rules[j]!.num < r.actArg) j++;
      r.skipIdx = j;
    } else if (r.action === A.CALL) r.skipIdx = firstAtOrAbove(rules, r.actArg);
  }
}

/** Add a parsed rule, numbering it when it has no number; returns it. */
export function chainAdd(fw: Ipfw, rule: Rule): Rule {
  const im = fw.im;
  const max = im.limits.rules;
  if (fw.rules.length - 1 >= max) fail(E.LIMIT, `image ${im.name} has ${max} rules, the daemon's limit (limits.rules in vimaged's configuration)`);
  if (rule.num === 0) {
    const step = im.sysctl.v[fwAutoincStep.slot]!;
    const last = fw.rules.length > 1 ? fw.rules[fw.rules.length - 2]!.num : 0;
    rule.num = last < DEFAULT_RULE - step ? last + step : last;
    if (rule.num === 0) fail(E.OUT_OF_RANGE, 'no rule number left below 65535');
  }
  tablesBind(fw.tables, rule);
  let i = 0;
  while (i < fw.rules.length - 1 && fw.rules[i]!.num <= rule.num) i++;
  fw.rules.splice(i, 0, rule);
  if (rule.logAmount > 0) rule.logged = 0;
  chainRefresh(fw);
  return rule;
}

/** Delete the rules numbered `lo`..`hi` (of set `set` when given) and their states; returns how many went. */
export function chainDelete(fw: Ipfw, lo: number, hi: number, set = -1): number {
  const gone = fw.rules.filter((r) => r !== fw.defaultRule && r.num >= lo && r.num <= hi && (set < 0 || r.set === set));
  if (gone.length === 0) return 0;
  for (const r of gone) {
    fw.dyn.removeRule(r);
    tablesUnbind(fw.tables, r);
  }
  fw.rules = fw.rules.filter((r) => !gone.includes(r));
  chainRefresh(fw);
  return gone.length;
}

/** Every rule but the default one and those of set 31 (RESVD_SET) goes, with their states. */
export function chainFlush(fw: Ipfw): void {
  const keep = fw.rules.filter((r) => r.set === 31);
  // Only the default rule stays: every state goes in one pass (a pass per rule scans the state table each time).
  const all = keep.length === 1;
  if (all) fw.dyn.removeRule(null);
  for (const r of fw.rules) {
    if (r.set === 31) continue;
    if (!all) fw.dyn.removeRule(r);
    tablesUnbind(fw.tables, r);
  }
  fw.rules = keep;
  chainRefresh(fw);
}

/** `ipfw zero [NUM]`: counters and log counts. Returns the rules touched. */
export function chainZero(fw: Ipfw, num?: number): number {
  let n = 0;
  for (const r of fw.rules) {
    if (num !== undefined && r.num !== num) continue;
    r.pcnt = 0;
    r.bcnt = 0;
    r.logged = 0;
    n++;
  }
  return n;
}

/** `ipfw resetlog [NUM]`: log counts only. Returns the rules touched. */
export function chainResetLog(fw: Ipfw, num?: number): number {
  let n = 0;
  for (const r of fw.rules) {
    if (num !== undefined && r.num !== num) continue;
    r.logged = 0;
    n++;
  }
  return n;
}
