/**
 * The rule words of ip_fw_actions.ts, compiled as FreeBSD's compile_rule
 * (sbin/ipfw/ipfw2.c) does: the actions `setdscp CODE`, `call N`,
 * `return [next-rulenum]`, the options `dscp LIST`, `tagged LIST`,
 * `tag N`, `untag N`, and the rule prefix `set N`; and their printed
 * forms (print_action_instruction, print_instruction).
 */

import { DSCP_NAMES, RET_NEXT_RULE, RET_NEXT_RULENUM, dscpText } from './ip_fw_actions.js';
import { A, DEFAULT_RULE, O, insn, type Insn, type Rule } from './rule.js';
import { fwdText, parseFwd } from './ip_fw_fwd.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError, parsePortList, strtoulStrict } from './parse_tokens.js';

/** FreeBSD's RESVD_SET: the default rule's set; it cannot be disabled. */
export const RESVD_SET = 31;
/** IPFW_ARG_MIN / IPFW_ARG_MAX: the range of tag numbers. */
const ARG_MIN = 1;
const ARG_MAX = 65534;

export interface ActionWords {
  action: number;
  actArg: number;
  /** Index of the first token after the action's words. */
  next: number;
}

/** GET_UINT_ARG: a decimal number in [lo, hi] with FreeBSD's messages. */
function uintArg(tokens: readonly string[], i: number, lo: number, hi: number, what: string): number {
  const t = tokens[i];
  if (t === undefined) throw new RuleSyntaxError(`${what}: missing argument`, i, EX_USAGE);
  if (t === 'tablearg') throw new RuleSyntaxError(`${what} tablearg is not supported in vimage`, i, EX_DATAERR);
  if (!/^\d+$/.test(t)) throw new RuleSyntaxError(`${what}: invalid argument: ${t}`, i, EX_DATAERR);
  const v = Number(t);
  if (v < lo || v > hi) throw new RuleSyntaxError(`${what}: argument is out of range (${lo}..${hi}): ${t}`, i, EX_DATAERR);
  return v;
}

/** One code point as setdscp and dscp take it: a name, or a number up to 63. */
function dscpCode(t: string, at: number): number {
  if (/^[A-Za-z]/.test(t)) {
    for (const [n, v] of DSCP_NAMES) if (n === t) return v;
    throw new RuleSyntaxError('Unknown DSCP code', at, EX_DATAERR);
  }
  const v = strtoulStrict(t);
  if (v === undefined || v > 63) throw new RuleSyntaxError('Invalid DSCP value', at, EX_DATAERR);
  return v;
}

/** The actions this file adds, at tokens[i] (the action word); null when `word` is none of them. */
export function parseActionWords(word: string, tokens: readonly string[], i: number): ActionWords | null {
  switch (word) {
    case 'setdscp': {
      const t = tokens[i + 1];
      if (t === undefined) throw new RuleSyntaxError('missing DSCP code', i + 1, EX_USAGE);
      if (t === 'tablearg') throw new RuleSyntaxError('setdscp tablearg is not supported in vimage', i + 1, EX_DATAERR);
      return { action: A.SETDSCP, actArg: dscpCode(t, i + 1), next: i + 2 };
    }
    case 'call':
      return { action: A.CALL, actArg: uintArg(tokens, i + 1, 1, DEFAULT_RULE - 1, 'call'), next: i + 2 };
    case 'fwd':
    case 'forward': {
      const [a, , next] = parseFwd(tokens, i);
      return { action: A.FWD, actArg: a, next };
    }
    case 'return': {
      const t = tokens[i + 1];
      if (t === 'next-rulenum') return { action: A.RETURN, actArg: RET_NEXT_RULENUM, next: i + 2 };
      if (t === 'next-rule' || t === 'continue') return { action: A.RETURN, actArg: RET_NEXT_RULE, next: i + 2 };
      return { action: A.RETURN, actArg: RET_NEXT_RULE, next: i + 1 };
    }
    default:
      return null;
  }
}

/** What the options of this file leave on the rule besides instructions. */
export interface OptionState {
  tagOp: number;
  tagArg: number;
}

/**
 * The options this file adds, at tokens[i] (the option word `s`): pushes
 * an instruction or fills `st`. Returns the index after its words, or -1
 * when `s` is none of them.
 */
export function parseOptionWords(s: string, tokens: readonly string[], i: number, st: OptionState, push: (c: Insn) => void): number {
  switch (s) {
    case 'dscp': {
      const t = tokens[i + 1];
      if (t === undefined) throw new RuleSyntaxError('missing DSCP code', i + 1, EX_USAGE);
      let lo = 0;
      let hi = 0;
      for (const part of t.split(',')) {
        const v = dscpCode(part, i + 1);
        if (v < 32) lo |= 1 << v;
        else hi |= 1 << (v - 32);
      }
      push(insn(O.DSCP, lo >>> 0, hi >>> 0));
      return i + 2;
    }
    case 'tagged': {
      const t = tokens[i + 1];
      if (t === undefined) throw new RuleSyntaxError('tagged: missing argument', i + 1, EX_USAGE);
      if (/[-,]/.test(t)) {
        const l = /^[\d,-]+$/.test(t) ? parsePortList(t) : undefined;
        if (l === undefined || l.some((v) => v < ARG_MIN || v > ARG_MAX)) throw new RuleSyntaxError(`tagged: invalid tag list: ${t}`, i + 1, EX_DATAERR);
        push(insn(O.TAGGED, 0, 0, l));
      } else {
        const v = uintArg(tokens, i + 1, ARG_MIN, ARG_MAX, 'tagged');
        push(insn(O.TAGGED, 0, 0, Uint32Array.of(v, v)));
      }
      return i + 2;
    }
    case 'tag':
    case 'untag':
      if (st.tagOp !== 0) throw new RuleSyntaxError('tag and untag cannot be specified more than once', i, EX_USAGE);
      st.tagArg = uintArg(tokens, i + 1, ARG_MIN, ARG_MAX, s);
      st.tagOp = s === 'tag' ? 1 : 2;
      return i + 2;
    default:
      return -1;
  }
}

/** `set N` of `ipfw add`: the set number (0..31). */
export function parseSetNumber(t: string, at: number): number {
  const v = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!(v <= RESVD_SET)) throw new RuleSyntaxError(`illegal set ${t}`, at, EX_DATAERR);
  return v;
}

/** The action words of this file's actions, or null. */
export function actionWordsText(rule: Rule): string | null {
  switch (rule.action) {
    case A.SETDSCP:
      return `setdscp ${dscpText(rule.actArg)}`;
    case A.CALL:
      return `call ${rule.actArg}`;
    case A.RETURN:
      return rule.actArg === RET_NEXT_RULENUM ? 'return next-rulenum' : 'return';
    case A.FWD:
      return fwdText(rule);
    default:
      return null;
  }
}

/** The action as ipfw_log names it (sys/netpfil/ipfw/ip_fw_log.c), or null for another action. */
export function logActionText(r: Rule): string | null {
  switch (r.action) {
    case A.SETDSCP:
      return `SetDscp ${r.actArg & 0x3f}`;
    case A.CALL:
      return `Call ${r.actArg}`;
    case A.RETURN:
      return `Return ${r.actArg === RET_NEXT_RULENUM ? 'next-rulenum' : 'next-rule'}`;
    case A.FWD:
      return `Forward to ${fwdText(r).slice(4).replace(',', ':')}`;
    case A.NAT:
      return 'Nat';
    default:
      return null;
  }
}

/** ` tag N` / ` untag N` after the action (and log), or ''. */
export function tagText(rule: Rule): string {
  return rule.tagOp === 0 ? '' : ` ${rule.tagOp === 1 ? 'tag' : 'untag'} ${rule.tagArg}`;
}

/** print_instruction for this file's options; null for another opcode. */
export function optionText(c: Insn): string | null {
  switch (c.op) {
    case O.DSCP: {
      const names: string[] = [];
      for (let v = 0; v < 64; v++) {
        const bit = v < 32 ? (c.arg >>> v) & 1 : (c.arg2 >>> (v - 32)) & 1;
        if (bit === 1) names.push(dscpText(v));
      }
      return ` dscp ${names.join(',')}`;
    }
    case O.TAGGED: {
      const parts: string[] = [];
      for (let k = 0; k < c.list.length; k += 2) parts.push(c.list[k] === c.list[k + 1] ? String(c.list[k]) : `${c.list[k]}-${c.list[k + 1]}`);
      return ` tagged ${parts.join(',')}`;
    }
    default:
      return null;
  }
}
