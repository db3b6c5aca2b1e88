/**
 * Printing rules and dynamic states as ipfw(8) does (show_static_rule,
 * print_instruction, print_address and show_dyn_state in FreeBSD's
 * sbin/ipfw/ipfw2.c): the normalised rule text, with counters padded to
 * widths computed over everything listed.
 */

import { ip4ToString } from '../wire/ipv4.js';
import { contigLen } from './parse.js';
import { A, ICMP_CODES, IP_FW_TARG, O, TCP_FLAGS, TH, protoName, type Insn, type Rule } from './rule.js';
import { lookupText, tableRefText } from './table_rule.js';
import { actionWordsText, optionText, tagText } from './parse_actions.js';
import { limitText } from './ip_fw_limit.js';
import { A6, O6 } from './rule6.js';
import { insn6Text, unreach6Text } from './format6.js';

const HAVE_PROTO = 1;
const HAVE_SRCIP = 2;
const HAVE_DSTIP = 4;

const SRC_OPS = new Set<number>([O.SRC_IP, O.SRC_MASK, O.SRC_ME, O.SRC_SET, O.SRC_LOOKUP, O6.SRC_IP6, O6.SRC_MASK6, O6.SRC_ME6]);
const DST_OPS = new Set<number>([O.DST_IP, O.DST_MASK, O.DST_ME, O.DST_SET, O.DST_LOOKUP, O6.DST_IP6, O6.DST_MASK6, O6.DST_ME6]);

interface ShowState {
  printed: boolean[];
  flags: number;
  orBlock: boolean;
  out: string;
  /** For the saved configuration: words the compiler takes back where ipfw(8) prints prose (ext6hdr). */
  save: boolean;
}

function portName(op: number): string {
  switch (op) {
    case O.DSTPORT:
      return 'dst-port';
    case O.SRCPORT:
      return 'src-port';
    case O.IPID:
      return 'ipid';
    case O.IPLEN:
      return 'iplen';
    case O.IPTTL:
      return 'ipttl';
    default:
      return '???';
  }
}

/** print_newports: ` [NAME] a-b,c`. */
function ports(st: ShowState, c: Insn, withName: boolean): void {
  if (withName) st.out += ` ${portName(c.op)}`;
  let sep = ' ';
  for (let k = 0; k < c.list.length; k += 2) {
    const lo = c.list[k]!;
    const hi = c.list[k + 1]!;
    st.out += sep + String(lo) + (lo !== hi ? `-${hi}` : '');
    sep = ',';
  }
}

/** print_ip. */
function address(st: ShowState, c: Insn): void {
  st.out += ' ';
  switch (c.op) {
    case O.SRC_ME:
    case O.DST_ME:
      st.out += 'me';
      return;
    case O.SRC_IP:
    case O.DST_IP:
      st.out += ip4ToString(c.arg);
      return;
    case O.SRC_LOOKUP:
    case O.DST_LOOKUP:
      st.out += tableRefText(c);
      return;
    case O.SRC_SET:
    case O.DST_SET: {
      const size = c.arg2;
      st.out += `${ip4ToString(c.arg)}/${32 - Math.log2(size)}`;
      const base = c.arg & 0xff;
      const has = (v: number): boolean => ((c.list[v >> 5]! >>> (v & 31)) & 1) === 1;
      let comma = '{';
      for (let v = 0; v < size; v++) {
        if (!has(v)) continue;
        let j = v + 1;
        while (j < size && has(j)) j++;
        st.out += `${comma}${v + base}`;
        if (j > v + 2) {
          st.out += `-${j - 1 + base}`;
          v = j - 1;
        }
        comma = ',';
      }
      st.out += '}';
      return;
    }
    default: {
      const l = c.list;
      for (let k = 0; k < l.length; k += 2) {
        const mb = contigLen(l[k + 1]!);
        if (mb === 0) st.out += 'any';
        else {
          st.out += ip4ToString(l[k]!);
          if (mb < 0) st.out += `:${ip4ToString(l[k + 1]!)}`;
          else if (mb < 32) st.out += `/${mb}`;
        }
        if (k + 2 < l.length) st.out += ',';
      }
    }
  }
}

function flags(st: ShowState, c: Insn): void {
  let set = c.arg;
  let clear = c.arg2;
  if (set === TH.SYN && clear === TH.ACK) {
    st.out += ' setup';
    return;
  }
  st.out += ' tcpflags ';
  let comma = '';
  for (const [name, bit] of TCP_FLAGS) {
    if ((set & bit) !== 0) {
      set &= ~bit;
      st.out += `${comma}${name}`;
      comma = ',';
    }
    if ((clear & bit) !== 0) {
      clear &= ~bit;
      st.out += `${comma}!${name}`;
      comma = ',';
    }
  }
}

/** print_instruction. */
function instruction(st: ShowState, rule: Rule, k: number): void {
  if (st.printed[k] === true) return;
  const c = rule.insns[k]!;
  if (c.or && !st.orBlock) st.out += ' {';
  if (c.op !== O.IN && c.not) st.out += ' not';
  switch (c.op) {
    case O.SRC_IP:
    case O.SRC_MASK:
    case O.SRC_ME:
    case O.SRC_SET:
    case O.SRC_LOOKUP:
      if ((st.flags & HAVE_SRCIP) !== 0) st.out += ' src-ip';
      address(st, c);
      break;
    case O.DST_IP:
    case O.DST_MASK:
    case O.DST_ME:
    case O.DST_SET:
    case O.DST_LOOKUP:
      if ((st.flags & HAVE_DSTIP) !== 0) st.out += ' dst-ip';
      address(st, c);
      break;
    case O.SRCPORT:
    case O.DSTPORT:
      ports(st, c, (st.flags & (HAVE_SRCIP | HAVE_DSTIP)) === (HAVE_SRCIP | HAVE_DSTIP));
      break;
    case O.PROTO: {
      if ((st.flags & HAVE_PROTO) !== 0) st.out += ' proto';
      st.out += ` ${protoName(c.arg) ?? String(c.arg)}`;
      break;
    }
    case O.IP4:
      st.out += ' ip4';
      break;
    case O.FRAG:
      st.out += ' frag';
      break;
    case O.IN:
      st.out += c.not ? ' out' : ' in';
      break;
    case O.RECV:
    case O.XMIT:
    case O.VIA:
      st.out += ` ${c.op === O.XMIT ? 'xmit' : c.op === O.RECV ? 'recv' : 'via'} ${c.arg2 === 2 ? `table(${c.name})` : c.name !== '' ? c.name : ip4ToString(c.arg)}`;
      break;
    case O.IPID:
    case O.IPTTL:
    case O.IPLEN:
      if (c.list.length === 0) st.out += ` ${portName(c.op)} ${c.arg}`;
      else ports(st, c, true);
      break;
    case O.ICMPTYPE: {
      st.out += ' icmptypes';
      let sep = ' ';
      for (let t = 0; t < 32; t++) {
        if (((c.arg >>> t) & 1) === 0) continue;
        st.out += `${sep}${t}`;
        sep = ',';
      }
      break;
    }
    case O.ESTAB:
      st.out += ' established';
      break;
    case O.TCPFLAGS:
      flags(st, c);
      break;
    case O.KEEP_STATE:
      st.out += c.arg2 > 0 ? limitText(c) : ` keep-state :${c.name}`;
      break;
    case O.LOOKUP:
      st.out += lookupText(c);
      break;
    default:
      st.out += optionText(c) ?? insn6Text(c, (st.flags & HAVE_SRCIP) !== 0, (st.flags & HAVE_DSTIP) !== 0, st.save) ?? ` [opcode ${c.op}]`;
  }
  if (c.or) {
    st.out += ' or';
    st.orBlock = true;
  } else if (st.orBlock) {
    st.out += ' }';
    st.orBlock = false;
  }
  st.printed[k] = true;
}

function printAddress(st: ShowState, rule: Rule, ops: Set<number>, portOp: number, flag: number): void {
  const ins = rule.insns;
  let count = 0;
  let portCnt = 0;
  for (const c of ins) {
    if (ops.has(c.op)) count++;
    else if (c.op === portOp) portCnt++;
  }
  if (count === 0) st.out += ' any';
  for (let k = 0; k < ins.length && count > 0; k++) {
    if (!ops.has(ins[k]!.op)) continue;
    instruction(st, rule, k);
    if (!ins[k]!.or) break;
    count--;
  }
  if (portCnt === 1) {
    let pf = false;
    for (let k = 0; k < ins.length; k++) {
      if (ins[k]!.op !== portOp) {
        pf = ins[k]!.or;
        continue;
      }
      if (!pf && !ins[k]!.or) instruction(st, rule, k);
      break;
    }
  }
  st.flags |= flag;
}

const targ = (v: number): string => (v === IP_FW_TARG ? 'tablearg' : String(v));

/** The action word(s): allow, deny, unreach port, skipto 500, ... */
export function actionText(rule: Rule): string {
  switch (rule.action) {
    case A.ACCEPT:
      return 'allow';
    case A.DENY:
      return 'deny';
    case A.COUNT:
      return 'count';
    case A.RESET:
      return 'reset';
    case A.REJECT: {
      if (rule.actArg === 1) return 'reject';
      const name = ICMP_CODES.find(([, v]) => v === rule.actArg)?.[0];
      return `unreach ${name ?? String(rule.actArg)}`;
    }
    case A.SKIPTO:
      return `skipto ${targ(rule.actArg)}`;
    case A.PIPE:
      return `pipe ${targ(rule.actArg)}`;
    case A.QUEUE:
      return `queue ${targ(rule.actArg)}`;
    case A.CHECK_STATE:
      return `check-state :${rule.stateName}`;
    case A.NAT:
      return `nat ${rule.actArg}`;
    case A6.UNREACH6:
      return unreach6Text(rule.actArg);
    default:
      return actionWordsText(rule) ?? '** unrecognized action';
  }
}

/** The rule after its number (and counters): what `ipfw list` prints. */
export function ruleBody(rule: Rule, defaultAction?: string, save = false): string {
  const st: ShowState = { printed: [], flags: 0, orBlock: false, out: '', save };
  if (rule.prob < 1) st.out += `prob ${(Math.trunc(rule.prob * 0x7fffffff) / 0x7fffffff).toFixed(6)} `;
  st.out += defaultAction ?? actionText(rule);
  if (rule.action !== A.CHECK_STATE) {
    if (rule.log) st.out += rule.logAmount > 0 ? ` log logamount ${rule.logAmount}` : ' log';
    st.out += tagText(rule);
    if (rule.justOpts) st.flags |= HAVE_PROTO | HAVE_SRCIP | HAVE_DSTIP;
    else {
      // print_proto
      const protos: number[] = [];
      rule.insns.forEach((c, k) => {
        if (c.op === O.PROTO || c.op === O.IP4 || c.op === O6.IP6) protos.push(k);
      });
      // print_proto: ip4/ip6 before the protocols.
      protos.sort((a, b) => Number(rule.insns[a]!.op === O.PROTO) - Number(rule.insns[b]!.op === O.PROTO));
      if (protos.length === 0) st.out += ' ip';
      else {
        for (const k of protos) {
          instruction(st, rule, k);
          if (!rule.insns[k]!.or) break;
        }
      }
      st.flags |= HAVE_PROTO;
      st.out += ' from';
      printAddress(st, rule, SRC_OPS, O.SRCPORT, HAVE_SRCIP);
      st.out += ' to';
      printAddress(st, rule, DST_OPS, O.DSTPORT, HAVE_DSTIP);
    }
    for (let k = 0; k < rule.insns.length; k++) instruction(st, rule, k);
  }
  if (rule.comment !== '') st.out += ` // ${rule.comment}`;
  return st.out;
}

/** Digits of a counter: pr_u64(NULL, &v, 0). */
export function width(v: number): number {
  return String(v).length;
}

/** One line of `ipfw list` (widths 0) or `ipfw show` (counter widths). */
export function ruleLine(rule: Rule, pcw: number, bcw: number, defaultAction?: string): string {
  let s = String(rule.num).padStart(5, '0') + ' ';
  if (pcw > 0 || bcw > 0) s += String(rule.pcnt).padStart(pcw) + ' ' + String(rule.bcnt).padStart(bcw) + ' ';
  return s + ruleBody(rule, defaultAction);
}
