/**
 * The table instructions of the matcher (the O_IP_*_LOOKUP, O_*_LOOKUP and
 * interface-table cases of ipfw_chk in FreeBSD's sys/netpfil/ipfw/ip_fw2.c):
 * each looks a key of the packet up in a table bound to the instruction
 * (table_rule.ts) and, on a hit, sets tablearg for the rule's action.
 *
 * Called per packet: nothing here allocates. Keys travel in `fw.tkey` (an
 * Int32Array), never as arguments: an address above 2^30 passed to a call
 * V8 does not inline would be boxed, one allocation per packet.
 */

import type { Ifnet } from '../net/if.js';
import type { Ipfw } from './ip_fw2.js';
import { LK, type Insn } from './rule.js';

/** table(NAME[,VALUE]) on the key in fw.tkey[0]; with a VALUE, the entry's value must be it. */
export function tableAddr(fw: Ipfw, c: Insn, value: number): boolean {
  const t = fw.tables.byIdx[c.arg];
  if (t === null || t === undefined) return false;
  const vi = t.lookupAt(fw.tkey);
  if (vi < 0 || (value >= 0 && t.value(vi).tag !== value)) return false;
  fw.targT = t;
  fw.targ = vi;
  return true;
}

/** lookup KEY[:MASK] NAME; `tos` is the packet's TOS byte (dscp is its top six bits). */
export function tableLookup(fw: Ipfw, c: Insn, tos: number): boolean {
  const key = fw.tkey;
  switch (c.arg2) {
    case LK.DST_IP:
      key[0] = fw.key[2]!;
      break;
    case LK.SRC_IP:
      key[0] = fw.key[1]!;
      break;
    case LK.DST_PORT:
    case LK.SRC_PORT:
      if (!fw.hasPorts()) return false;
      key[0] = c.arg2 === LK.DST_PORT ? fw.dport : fw.sport;
      break;
    case LK.DSCP:
      key[0] = tos >>> 2;
      break;
    case LK.RULENUM:
      key[0] = fw.cur === null ? 0 : fw.cur.num;
      break;
    default:
      return false;
  }
  if (c.list.length > 0) key[0] = key[0]! & c.list[0]!;
  return tableAddr(fw, c, -1);
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
