/**
 * The table instructions of the matcher (the O_IP_*_LOOKUP, O_*_LOOKUP and
 * interface-table cases of ipfw_chk in FreeBSD's sys/netpfil/ipfw/ip_fw2.c):
 * each looks a key of the packet up in a table bound to the instruction
 * (table_rule.ts) and, on a hit, sets tablearg for the rule's action.
 * Called per packet: nothing here allocates.
 */

import type { Ifnet } from '../net/if.js';
import type { Ipfw } from './ip_fw2.js';
import { LK, type Insn } from './rule.js';

/** table(NAME[,VALUE]): look `a` up; with a VALUE, the entry's value must be it. */
export function tableAddr(fw: Ipfw, c: Insn, a: number, value: number): boolean {
  const t = fw.tables.byIdx[c.arg];
  if (t === null || t === undefined) return false;
  const vi = t.lookupU32(a);
  if (vi < 0 || (value >= 0 && t.value(vi).tag !== value)) return false;
  fw.targT = t;
  fw.targ = vi;
  return true;
}

/** lookup KEY[:MASK] NAME; `tos` is the packet's TOS byte (dscp is its top six bits). */
export function tableLookup(fw: Ipfw, c: Insn, tos: number): boolean {
  let k: number;
  switch (c.arg2) {
    case LK.DST_IP:
      k = fw.dst;
      break;
    case LK.SRC_IP:
      k = fw.src;
      break;
    case LK.DST_PORT:
    case LK.SRC_PORT:
      if (!fw.hasPorts()) return false;
      k = c.arg2 === LK.DST_PORT ? fw.dport : fw.sport;
      break;
    case LK.DSCP:
      k = tos >>> 2;
      break;
    case LK.RULENUM:
      k = fw.cur === null ? 0 : fw.cur.num;
      break;
    default:
      return false;
  }
  if (c.list.length > 0) k = (k & c.list[0]!) >>> 0;
  return tableAddr(fw, c, k, -1);
}

/** recv|xmit|via table(NAME): the interface's name in an iface table. */
export function tableIf(fw: Ipfw, c: Insn, ifp: Ifnet): boolean {
  const t = fw.tables.byIdx[c.arg];
  if (t === null || t === undefined) return false;
  const vi = t.lookupIface(ifp.name);
  if (vi < 0) return false;
  fw.targT = t;
  fw.targ = vi;
  return true;
}
