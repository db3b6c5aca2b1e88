/**
 * The ipfw(8) rule grammar (FreeBSD's compile_rule in sbin/ipfw/ipfw2.c):
 *
 *   [NUM] [prob P] ACTION [log [logamount N]] PROTO from SRC [PORTS] to DST [PORTS] [OPTIONS]
 *
 * or, when what follows the action is not a protocol, options only. The
 * parser returns a compiled `Rule`, or an error carrying FreeBSD's message,
 * the index of the token that is wrong (tokens.length when one is missing)
 * and the sysexits status ipfw(8) exits with. It never touches a chain, so
 * a rule that does not parse leaves the chain as it was.
 */

import { parseIp4 } from '../wire/ipv4.js';
import { A, DEFAULT_RULE, EMPTY, IP_FW_TARG, O, Rule, TCP_FLAGS, TH, insn, type Insn } from './rule.js';
import { parseLookup, parseTableRef } from './table_rule.js';
import { parseActionWords, parseOptionWords, parseSetNumber, type OptionState } from './parse_actions.js';
import { parseLimit } from './ip_fw_limit.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError, parseAddress, parsePortList, protocol, rejectCode, strtoulStrict, toDst, validStateName } from './parse_tokens.js';
import { PROTO_IPV6, parseAction6, parseAddr46, parseOption6 } from './parse6.js';
import { O6 } from './rule6.js';

export { EX_DATAERR, EX_NOHOST, EX_USAGE, RuleSyntaxError, contigLen, parsePortList, strtoulStrict } from './parse_tokens.js';
export { parseDnConfig, type DnConfigSpec } from './parse_dn.js';

const RESERVED = new Set(['altq', '//', 'diverted', 'dst-port', 'src-port', 'established', 'keep-state', 'frag', 'icmptypes', 'in', 'out', 'ip6', 'any', 'to', 'via', '{']);

/** Options FreeBSD knows that vimage does not implement: refused by name. */
const UNSUPPORTED = new Set([
  'uid', 'gid', 'jail', 'set-limit', 'record-state', 'bridged', 'layer2', 'diverted', 'diverted-loopback', 'diverted-output',
  'fib', 'ipoptions', 'ipopts', 'ipprecedence', 'iptos', 'ipversion', 'ipver', 'sockarg', 'tcpdatalen', 'tcpoptions', 'tcpopts',
  'tcpseq', 'tcpack', 'tcpwin', 'MAC', 'mac', 'mac-type', 'verrevpath', 'versrcreach', 'antispoof', 'ipsec',
  'flow', 'defer-action', 'defer-immediate-action',
]);

const UNSUPPORTED_ACTIONS = new Set(['abort', 'abort6', 'divert', 'tee', 'netgraph', 'ngtee', 'reass', 'setfib', 'eaction', 'tcp-setmss']);

export interface ParseOptions {
  /** net.inet.ip.fw.verbose_limit: logamount of a `log` rule without one. */
  verboseLimit?: number;
}

/**
 * Compile the words after `ipfw add`. `num` of the result is 0 when the
 * rule did not give one (the chain numbers it).
 */
export function parseRule(tokens: readonly string[], opts: ParseOptions = {}): Rule {
  let i = 0;
  const n = tokens.length;
  const tok = (): string | undefined => tokens[i];
  const need = (msg: string, status = EX_USAGE): string => {
    const t = tokens[i];
    if (t === undefined) throw new RuleSyntaxError(msg, i, status);
    return t;
  };
  const fail: (msg: string, at?: number, status?: number) => never = (msg, at = i, status = EX_DATAERR) => {
    throw new RuleSyntaxError(msg, at, status);
  };

  let num = 0;
  if (i < n && /^\d/.test(tokens[i]!)) {
    const v = /^\d+$/.test(tokens[i]!) ? Number(tokens[i]) : NaN;
    if (!(v >= 0 && v < DEFAULT_RULE)) fail(`illegal rule number ${tokens[i]}`);
    num = v;
    i++;
  }
  let set = 0;
  if (tok() === 'set' && i + 1 < n) {
    set = parseSetNumber(tokens[i + 1]!, i + 1);
    i += 2;
  }
  let prob = 1;
  if (tok() === 'prob' && i + 1 < n) {
    const p = Number(tokens[i + 1]);
    if (!(p > 0 && p <= 1)) fail(`illegal match prob. ${tokens[i + 1]}`, i + 1);
    prob = p;
    i += 2;
  }

  // ---------------------------------------------------------- action
  const word = need('missing action');
  let action: number;
  let actArg = 0;
  let stateName = 'default';
  const actAt = i;
  i++;
  switch (word) {
    case 'accept':
    case 'pass':
    case 'allow':
    case 'permit':
      action = A.ACCEPT;
      break;
    case 'deny':
    case 'drop':
      action = A.DENY;
      break;
    case 'reject':
      action = A.REJECT;
      actArg = 1; // ICMP_UNREACH_HOST
      break;
    case 'reset':
      action = A.RESET;
      break;
    case 'unreach':
      action = A.REJECT;
      actArg = rejectCode(need('missing reject code'), i);
      i++;
      break;
    case 'count':
      action = A.COUNT;
      break;
    case 'check-state': {
      action = A.CHECK_STATE;
      const t = tok();
      if (t !== undefined && t !== '//') {
        if (t[0] !== ':') fail(`Invalid state name ${t}`);
        const name = t.slice(1);
        if (name !== 'any' && !validStateName(name)) fail(`Invalid state name ${t}`);
        stateName = name;
        i++;
      }
      break;
    }
    case 'skipto':
    case 'pipe':
    case 'queue': {
      action = word === 'skipto' ? A.SKIPTO : word === 'pipe' ? A.PIPE : A.QUEUE;
      const t = need(`missing argument for ${word}`);
      if (t === 'tablearg') {
        // The value of the last table lookup that matched (IP_FW_TARG).
        actArg = IP_FW_TARG;
        i++;
        break;
      }
      const v = /^\d/.test(t) ? strtoulStrict(t) : undefined;
      if (v === undefined || v <= 0 || v >= DEFAULT_RULE) fail(`illegal argument for ${word}`);
      actArg = v;
      i++;
      break;
    }
    case 'nat': {
      // nat N (ipfw_config_nat ids are 1..65535); `nat global` and `nat tablearg` are refused.
      action = A.NAT;
      const t = need('missing nat number');
      if (t === 'tablearg' || t === 'global') fail(`nat ${t} is not supported in vimage; give the instance number`);
      const v = /^\d/.test(t) ? strtoulStrict(t) : undefined;
      if (v === undefined || v <= 0 || v > 65535) fail(`illegal nat number ${t}`);
      actArg = v;
      i++;
      break;
    }
    default: {
      const w = parseActionWords(word, tokens, actAt);
      if (w !== null) {
        action = w.action;
        actArg = w.actArg;
        i = w.next;
        break;
      }
      const a6 = parseAction6(word, tokens, i);
      if (a6 !== undefined) {
        [action, actArg] = a6;
        i += a6[2];
        break;
      }
      if (UNSUPPORTED_ACTIONS.has(word)) fail(`action ${word} is not supported in vimage`, actAt);
      if (word === '//') {
        // A bare comment: a count rule carrying it.
        action = A.COUNT;
        i--;
        break;
      }
      fail(`invalid action ${word}`, actAt);
    }
  }

  let log = false;
  let logAmount = 0;
  const extra: OptionState = { tagOp: 0, tagArg: 0 };
  // rule_action_params: log [logamount N], tag N, untag N, before the body.
  while (tok() === 'tag' || tok() === 'untag') i = parseOptionWords(tok()!, tokens, i, extra, () => {});
  while (tok() === 'log') {
    if (log) fail('log cannot be specified more than once');
    log = true;
    i++;
    logAmount = opts.verboseLimit ?? 0;
    if (tok() === 'logamount') {
      i++;
      const t = need('logamount requires argument');
      const v = strtoulStrict(t);
      if (v === undefined) fail('logamount must be positive');
      logAmount = v;
      i++;
    }
    while (tok() === 'tag' || tok() === 'untag') i = parseOptionWords(tok()!, tokens, i, extra, () => {});
  }

  const insns: Insn[] = [];
  let comment = '';
  let keepState = null as Insn | null;
  let justOpts = false;
  if (action === A.CHECK_STATE) {
    if (tok() === '//') comment = tokens.slice(i + 1).join(' ');
    else if (tok() !== undefined) fail('check-state takes no match pattern (only a state name and a // comment)');
    const cs = new Rule({ num, insns, action, actArg, prob, log, logAmount, keepState: false, justOpts: true, comment, stateName });
    cs.set = set;
    return cs;
  }

  let openPar = false;
  let prev = null as Insn | null;
  let pendingNot = false;
  const push = (c: Insn): void => {
    c.not = pendingNot;
    pendingNot = false;
    insns.push(c);
    prev = c;
  };
  const orStart = (): void => {
    const t = tok();
    if (t === '(' || t === '{') {
      if (openPar) fail('nested "(" not allowed', i, EX_USAGE);
      prev = null;
      openPar = true;
      i++;
    }
  };
  const notBlock = (): void => {
    if (tok() === 'not') {
      if (pendingNot) fail('double "not" not allowed', i, EX_USAGE);
      pendingNot = true;
      i++;
    }
  };
  /** After an element of a block: `or` continues it, `}` closes it. Returns true to parse another element. */
  const orBlock = (): boolean => {
    if (tok() === 'or') {
      if (prev === null || !openPar) fail('invalid OR block');
      prev.or = true;
      i++;
      return true;
    }
    if (openPar) {
      const t = tok();
      if (t === ')' || t === '}') {
        prev = null;
        openPar = false;
        i++;
      } else fail('missing ")"', i, EX_USAGE);
    }
    return false;
  };

  // -------------------------------------------------------- protocol
  let proto = 0;
  const firstLen = insns.length;
  parseProto: for (;;) {
    orStart();
    notBlock();
    const t = need('missing protocol');
    const p = t === 'ip6' ? -6 : protocol(t);
    if (p === -6) {
      i++;
      push(insn(O6.IP6));
      proto = PROTO_IPV6;
    } else if (p !== undefined) {
      i++;
      if (p === -4) push(insn(O.IP4));
      else if (p > 0) {
        push(insn(O.PROTO, p));
        proto = p;
      }
    } else if (insns.length !== firstLen || openPar) {
      fail(`invalid protocol \`\`${t}''`);
    } else {
      justOpts = true;
      break parseProto;
    }
    if (!orBlock()) break;
  }

  if (!justOpts) {
    // ------------------------------------------------------ from SRC
    if (tok() !== 'from') fail("missing ``from''", i, EX_USAGE);
    i++;
    for (;;) {
      orStart();
      notBlock();
      const t = need('missing source address');
      const c = parseAddr46(t, i, pendingNot, proto, false);
      i++;
      if (c !== null) push(c);
      if (!orBlock()) break;
    }
    notBlock();
    if (tok() !== undefined && (tok() === 'any' || (!RESERVED.has(tok()!) && parsePortList(tok()!) !== undefined))) {
      if (tok() !== 'any') push(insn(O.SRCPORT, 0, 0, parsePortList(tok()!)));
      i++;
    }
    // ------------------------------------------------------ to DST
    if (tok() !== 'to') fail("missing ``to''", i, EX_USAGE);
    i++;
    for (;;) {
      orStart();
      notBlock();
      const t = need('missing dst address');
      const c = parseAddr46(t, i, pendingNot, proto, true);
      i++;
      if (c !== null) push(c);
      if (!orBlock()) break;
    }
    notBlock();
    if (tok() !== undefined && (tok() === 'any' || (!RESERVED.has(tok()!) && parsePortList(tok()!) !== undefined))) {
      if (tok() !== 'any') push(insn(O.DSTPORT, 0, 0, parsePortList(tok()!)));
      i++;
    }
  }

  // --------------------------------------------------------- options
  prev = null;
  while (i < n) {
    let s = tokens[i]!;
    const at = i;
    if (s[0] === '!' && s.length > 1) {
      if (pendingNot) fail('double "not" not allowed', at, EX_USAGE);
      pendingNot = true;
      s = s.slice(1);
    }
    i++;
    switch (s) {
      case 'not':
      case '!':
        if (pendingNot) fail('double "not" not allowed', at, EX_USAGE);
        pendingNot = true;
        break;
      case 'or':
      case '|':
        if (!openPar || prev === null) fail('invalid "or" block', at, EX_USAGE);
        (prev as unknown as Insn).or = true;
        break;
      case '{':
      case '(':
        if (openPar) fail('nested "(" not allowed', at, EX_USAGE);
        openPar = true;
        break;
      case '}':
      case ')':
        if (!openPar) fail('missing ")"', at, EX_USAGE);
        openPar = false;
        prev = null;
        break;
      case 'in':
        push(insn(O.IN));
        break;
      case 'out': {
        // `out` is `not in`: `not out` is `in`.
        const neg = !pendingNot;
        pendingNot = false;
        push(insn(O.IN));
        insns[insns.length - 1]!.not = neg;
        break;
      }
      case 'fragment':
      case 'frag':
        push(insn(O.FRAG));
        break;
      case 'xmit':
      case 'recv':
      case 'via': {
        const t = need('recv, xmit, via require interface name or address');
        i++;
        if (t === 'any') {
          pendingNot = false;
          break;
        }
        const op = s === 'xmit' ? O.XMIT : s === 'recv' ? O.RECV : O.VIA;
        if (t.startsWith('table(')) {
          // An iface table: arg2 = 2 marks it; the name is the table's.
          const c = parseTableRef(t, i - 1);
          if (c.arg2 >= 0) fail(`bad interface table ${t}`, i - 1);
          push(insn(op, 0, 2, EMPTY, c.name));
          break;
        }
        if (/^\d/.test(t)) {
          const a = parseIp4(t);
          if (a === undefined) fail(`bad ip address \`\`${t}''`, i - 1);
          push(insn(op, a));
        } else {
          if (!/^[A-Za-z0-9_.*?\[\]-]{1,15}$/.test(t)) fail(`bad interface name \`\`${t}''`, i - 1);
          push(insn(op, 0, /[*?[]/.test(t) ? 1 : 0, EMPTY, t));
        }
        break;
      }
      case 'icmptype':
      case 'icmptypes': {
        const t = need('icmptypes requires list of types', EX_USAGE);
        let bits = 0;
        for (const part of t.split(',')) {
          if (part === '' ) continue;
          const v = strtoulStrict(part);
          if (v === undefined) fail('invalid ICMP type');
          if (v > 31) fail('ICMP type out of range');
          bits |= 1 << v;
        }
        if (bits === 0) fail('invalid ICMP type');
        push(insn(O.ICMPTYPE, bits >>> 0));
        i++;
        break;
      }
      case 'ipttl':
      case 'ipid':
      case 'iplen': {
        const op = s === 'ipttl' ? O.IPTTL : s === 'ipid' ? O.IPID : O.IPLEN;
        const what = s === 'ipttl' ? 'ipttl requires TTL' : s === 'ipid' ? 'ipid requires id' : 'iplen requires length';
        const t = need(what, EX_USAGE);
        const bad = s === 'ipttl' ? `invalid ipttl ${t}` : s === 'ipid' ? `invalid ipid ${t}` : `invalid ip len ${t}`;
        if (/[-,]/.test(t)) {
          const list = /^[\d,-]+$/.test(t) ? parsePortList(t) : undefined;
          if (list === undefined) fail(bad);
          push(insn(op, 0, 0, list));
        } else {
          const v = strtoulStrict(t);
          if (v === undefined || v > 0xffff) fail(bad);
          push(insn(op, v));
        }
        i++;
        break;
      }
      case 'estab':
      case 'established':
        push(insn(O.ESTAB));
        break;
      case 'setup':
        push(insn(O.TCPFLAGS, TH.SYN, TH.ACK));
        break;
      case 'tcpflags':
      case 'tcpflgs': {
        const t = need('missing argument for tcpflags');
        let set = 0;
        let clear = 0;
        for (const part of t.split(',')) {
          const neg = part.startsWith('!');
          const name = neg ? part.slice(1) : part;
          const f = TCP_FLAGS.find(([nm]) => nm === name);
          if (f === undefined) fail(`invalid flag ${name}`);
          if (neg) clear |= f[1];
          else set |= f[1];
        }
        push(insn(O.TCPFLAGS, set, clear));
        i++;
        break;
      }
      case 'keep-state': {
        if (openPar) fail('keep-state or record-state cannot be part of an or block', at, EX_USAGE);
        if (keepState !== null) fail('only one of keep-state, record-state,  limit and set-limit is allowed', at, EX_USAGE);
        const t = tok();
        let name = 'default';
        if (t !== undefined && t[0] === ':') {
          name = t.slice(1);
          if (!validStateName(name)) fail(`Invalid state name ${t}`);
          i++;
        }
        keepState = insn(O.KEEP_STATE, 0, 0, EMPTY, name);
        pendingNot = false;
        break;
      }
      case 'limit': {
        if (openPar) fail('limit cannot be part of an or block', at, EX_USAGE);
        if (keepState !== null) fail('only one of keep-state, record-state,  limit and set-limit is allowed', at, EX_USAGE);
        const l = parseLimit(tokens, at);
        keepState = l.c;
        i = l.next;
        pendingNot = false;
        break;
      }
      case 'proto': {
        const t = need('missing protocol');
        const p = t === 'ip6' ? -6 : protocol(t);
        if (p === undefined) fail(`invalid protocol \`\`${t}''`);
        i++;
        if (p === -6) push(insn(O6.IP6));
        else if (p === -4) push(insn(O.IP4));
        else if (p > 0) {
          push(insn(O.PROTO, p));
          proto = p;
        }
        break;
      }
      case 'src-ip':
      case 'dst-ip': {
        const t = need(s === 'src-ip' ? 'missing source IP' : 'missing destination IP');
        const c = parseAddress(t, i, pendingNot);
        i++;
        if (c !== null) push(s === 'src-ip' ? c : toDst(c));
        break;
      }
      case 'src-port':
      case 'dst-port': {
        const t = need(s === 'src-port' ? 'missing source port' : 'missing destination port');
        if (t !== 'any') {
          const list = RESERVED.has(t) ? undefined : parsePortList(t);
          if (list === undefined) fail(s === 'src-port' ? `invalid source port ${t}` : `invalid destination port ${t}`);
          push(insn(s === 'src-port' ? O.SRCPORT : O.DSTPORT, 0, 0, list));
        }
        i++;
        break;
      }
      case 'ip4':
      case 'ipv4':
        push(insn(O.IP4));
        break;
      case 'lookup':
        push(parseLookup(tokens, i));
        i += 2;
        break;
      case '//':
        comment = tokens.slice(i).join(' ');
        if (comment.length > 80) fail('comment too long (max 80 chars)', at);
        i = n;
        break;
      default: {
        const next = parseOptionWords(s, tokens, at, extra, push);
        if (next >= 0) {
          i = next;
          break;
        }
        const o6 = parseOption6(s, tokens, i, proto, pendingNot);
        if (o6 !== undefined) {
          if (o6[0] !== null) push(o6[0]);
          else pendingNot = false;
          i += o6[1];
          break;
        }
        if (UNSUPPORTED.has(s)) fail(`option ${s} is not supported in vimage`, at, EX_USAGE);
        fail(`unrecognised option [-1] ${s}`, at, EX_USAGE);
      }
    }
  }
  if (openPar) fail('missing ")"', n, EX_USAGE);
  if (pendingNot) fail('"not" must be followed by an option', n, EX_USAGE);
  if (keepState !== null) insns.push(keepState);
  void proto;
  const rule = new Rule({ num, insns, action, actArg, prob, log, logAmount, keepState: keepState !== null, justOpts, comment, stateName: keepState !== null ? keepState.name : 'default' });
  rule.set = set;
  rule.tagOp = extra.tagOp;
  rule.tagArg = extra.tagArg;
  return rule;
}
