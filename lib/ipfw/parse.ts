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

import { parseIp4, prefixMask } from '../wire/ipv4.js';
import { A, DEFAULT_RULE, EMPTY, ICMP_CODES, O, Rule, TCP_FLAGS, TH, insn, protoByName, serviceByName, type Insn } from './rule.js';

export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOHOST = 68;

export class RuleSyntaxError extends Error {
  /** Index of the offending token; tokens.length when one is missing. */
  readonly at: number;
  readonly status: number;
  constructor(message: string, at: number, status: number) {
    super(message);
    this.name = 'RuleSyntaxError';
    this.at = at;
    this.status = status;
  }
}

const RESERVED = new Set(['altq', '//', 'diverted', 'dst-port', 'src-port', 'established', 'keep-state', 'frag', 'icmptypes', 'in', 'out', 'ip6', 'any', 'to', 'via', '{']);

/** Options FreeBSD knows that vimage does not implement: refused by name. */
const UNSUPPORTED = new Set([
  'uid', 'gid', 'jail', 'limit', 'set-limit', 'record-state', 'bridged', 'layer2', 'diverted', 'diverted-loopback', 'diverted-output',
  'fib', 'ipoptions', 'ipopts', 'ipprecedence', 'dscp', 'iptos', 'ipversion', 'ipver', 'sockarg', 'tcpdatalen', 'tcpoptions', 'tcpopts',
  'tcpseq', 'tcpack', 'tcpwin', 'MAC', 'mac', 'mac-type', 'verrevpath', 'versrcreach', 'antispoof', 'ipsec', 'icmp6type', 'icmp6types',
  'ext6hdr', 'flow-id', 'ipv6', 'ip6', 'dst-ipv6', 'dst-ip6', 'src-ipv6', 'src-ip6', 'lookup', 'flow', 'defer-action', 'defer-immediate-action', 'tagged',
]);

const UNSUPPORTED_ACTIONS = new Set(['abort', 'abort6', 'divert', 'tee', 'netgraph', 'ngtee', 'fwd', 'forward', 'reset6', 'unreach6', 'nat', 'reass', 'setfib', 'setdscp', 'call', 'return', 'eaction', 'tcp-setmss']);

/** strtoul(s, &end, 0) over the whole token: decimal, 0x hex or 0 octal; undefined if anything is left. */
export function strtoulStrict(s: string): number | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return parseInt(s.slice(1), 8);
  if (/^\d+$/.test(s)) return Number(s);
  return undefined;
}

/** A port (number or service name) at the start of `s`: [value, chars used]; undefined when none. */
function strtoport(s: string): [number, number] | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|\d+|[A-Za-z0-9_.]+)/.exec(s);
  if (m === null) return undefined;
  const t = m[1]!;
  if (/^\d/.test(t)) {
    const v = strtoulStrict(t);
    if (v === undefined || v > 0xffff) return undefined;
    return [v, t.length];
  }
  const v = serviceByName(t);
  return v === undefined ? undefined : [v, t.length];
}

/** fill_newports: `80`, `1000-2000`, `http,443,8000-8080`; undefined when `s` is not a port list. */
export function parsePortList(s: string): Uint32Array | undefined {
  const out: number[] = [];
  let rest = s;
  while (rest.length > 0) {
    const a = strtoport(rest);
    if (a === undefined) return undefined;
    rest = rest.slice(a[1]);
    let hi = a[0];
    if (rest[0] === '-') {
      const b = strtoport(rest.slice(1));
      if (b === undefined) return undefined;
      rest = rest.slice(1 + b[1]);
      hi = b[0];
      if (rest.length > 0 && rest[0] !== ',') return undefined;
    } else if (rest.length > 0 && rest[0] !== ',') return undefined;
    out.push(a[0], hi);
    if (rest[0] === ',') {
      rest = rest.slice(1);
      if (rest.length === 0) return undefined;
    }
  }
  return out.length === 0 ? undefined : Uint32Array.from(out);
}

function contigLen(mask: number): number {
  let i = 0;
  while (i < 32 && ((mask >>> (31 - i)) & 1) === 1) i++;
  for (let n = i + 1; n < 32; n++) if (((mask >>> (31 - n)) & 1) === 1) return -1;
  return i;
}

/**
 * fill_ip: `any`, `me`, `A.B.C.D[/LEN|:MASK][,...]` or `A.B.C.D/LEN{a,b,c-d}`.
 * Returns the instruction (with `src` opcodes; the caller maps to dst) or
 * null for `any`.
 */
function parseAddress(s: string, at: number, not: boolean): Insn | null {
  if (s === 'any') {
    if (not) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
    return null;
  }
  if (s === 'me') return insn(O.SRC_ME);
  if (s.startsWith('table(')) throw new RuleSyntaxError(`lookup tables are not supported: ${s}`, at, EX_DATAERR);
  const brace = s.indexOf('{');
  if (brace >= 0) {
    // A set of hosts in one /24../31 subnet: base/len{1,5,7-9}.
    const head = s.slice(0, brace);
    if (!s.endsWith('}')) throw new RuleSyntaxError('set not closed', at, EX_DATAERR);
    const slash = head.indexOf('/');
    const addr = parseIp4(slash < 0 ? head : head.slice(0, slash));
    if (addr === undefined) throw new RuleSyntaxError(`hostname \`\`${slash < 0 ? head : head.slice(0, slash)}'' unknown`, at, EX_NOHOST);
    const len = slash < 0 ? 24 : Number(head.slice(slash + 1));
    if (!Number.isInteger(len) || len < 24 || len > 31) throw new RuleSyntaxError(`invalid set with mask ${slash < 0 ? 24 : head.slice(slash + 1)}`, at, EX_DATAERR);
    const mask = prefixMask(len);
    const base = (addr & mask) >>> 0;
    const size = 1 << (32 - len);
    const low = base & 0xff;
    const high = low + size - 1;
    const map = new Uint32Array(Math.ceil(size / 32));
    const body = s.slice(brace + 1, -1);
    for (const part of body.split(',')) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (m === null) throw new RuleSyntaxError('set not closed', at, EX_DATAERR);
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      for (const v of [a, b]) if (v < low || v > high) throw new RuleSyntaxError(`addr ${v} out of range [${low}-${high}]`, at, EX_DATAERR);
      if (a > b) throw new RuleSyntaxError(`invalid range ${a}-${b}`, at, EX_DATAERR);
      for (let v = a - low; v <= b - low; v++) map[v >> 5] = map[v >> 5]! | (1 << (v & 31));
    }
    return insn(O.SRC_SET, base, size, map);
  }
  const pairs: number[] = [];
  const entries = s.split(',');
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    const sep = e.search(/[/:]/);
    const host = sep < 0 ? e : e.slice(0, sep);
    const addr = parseIp4(host);
    if (addr === undefined) throw new RuleSyntaxError(`hostname \`\`${host}'' unknown`, at, EX_NOHOST);
    let mask = 0xffffffff;
    if (sep >= 0 && e[sep] === '/') {
      const w = e.slice(sep + 1);
      const n = /^\d+$/.test(w) ? Number(w) : NaN;
      if (!(n <= 32)) throw new RuleSyntaxError(`bad width \`\`${w}''`, at, EX_DATAERR);
      mask = prefixMask(n);
    } else if (sep >= 0) {
      const m = parseIp4(e.slice(sep + 1));
      if (m === undefined) throw new RuleSyntaxError(`bad netmask \`\`${e.slice(sep + 1)}''`, at, EX_DATAERR);
      mask = m;
    }
    if (mask === 0) {
      // "any" as x.x.x.x/0: the whole list matches everything.
      if (not && entries.length === 1) throw new RuleSyntaxError('not any never matches', at, EX_DATAERR);
      return null;
    }
    pairs.push((addr & mask) >>> 0, mask >>> 0);
  }
  if (pairs.length === 2 && pairs[1] === 0xffffffff) return insn(O.SRC_IP, pairs[0]!);
  return insn(O.SRC_MASK, 0, 0, Uint32Array.from(pairs));
}

const toDst = (c: Insn): Insn => {
  c.op = c.op === O.SRC_IP ? O.DST_IP : c.op === O.SRC_MASK ? O.DST_MASK : c.op === O.SRC_ME ? O.DST_ME : O.DST_SET;
  return c;
};

/** fill_reject_code: a number below 256 or a name from the icmpcodes table. */
function rejectCode(s: string, at: number): number {
  const v = strtoulStrict(s);
  if (v !== undefined && v < 0x100) return v;
  for (const [n, c] of ICMP_CODES) if (n === s) return c;
  throw new RuleSyntaxError(`unknown ICMP unreachable code \`\`${s}''`, at, EX_DATAERR);
}

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
  if (tok() === 'set' && i + 1 < n) fail('rule sets are not supported (ipfw set)');
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
      const v = /^\d/.test(t) ? strtoulStrict(t) : undefined;
      if (v === undefined || v <= 0 || v >= DEFAULT_RULE) fail(`illegal argument for ${word}`);
      actArg = v;
      i++;
      break;
    }
    default:
      if (UNSUPPORTED_ACTIONS.has(word)) fail(`action ${word} is not supported in vimage`, actAt);
      if (word === '//') {
        // A bare comment: a count rule carrying it.
        action = A.COUNT;
        i--;
        break;
      }
      fail(`invalid action ${word}`, actAt);
  }

  let log = false;
  let logAmount = 0;
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
  }

  const insns: Insn[] = [];
  let comment = '';
  let keepState = null as Insn | null;
  let justOpts = false;
  if (action === A.CHECK_STATE) {
    if (tok() === '//') comment = tokens.slice(i + 1).join(' ');
    else if (tok() !== undefined) fail('check-state takes no match pattern (only a state name and a // comment)');
    return new Rule({ num, insns, action, actArg, prob, log, logAmount, keepState: false, justOpts: true, comment, stateName });
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
    const p = protocol(t);
    if (p !== undefined) {
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
      const c = parseAddress(t, i, pendingNot);
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
      const c = parseAddress(t, i, pendingNot);
      i++;
      if (c !== null) push(toDst(c));
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
        if (t.startsWith('table(')) fail(`lookup tables are not supported: ${t}`, i - 1);
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
      case 'proto': {
        const t = need('missing protocol');
        const p = protocol(t);
        if (p === undefined) fail(`invalid protocol \`\`${t}''`);
        i++;
        if (p === -4) push(insn(O.IP4));
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
      case '//':
        comment = tokens.slice(i).join(' ');
        if (comment.length > 80) fail('comment too long (max 80 chars)', at);
        i = n;
        break;
      default:
        if (UNSUPPORTED.has(s)) fail(`option ${s} is not supported in vimage`, at, EX_USAGE);
        fail(`unrecognised option [-1] ${s}`, at, EX_USAGE);
    }
  }
  if (openPar) fail('missing ")"', n, EX_USAGE);
  if (pendingNot) fail('"not" must be followed by an option', n, EX_USAGE);
  if (keepState !== null) insns.push(keepState);
  void proto;
  return new Rule({ num, insns, action, actArg, prob, log, logAmount, keepState: keepState !== null, justOpts, comment, stateName: keepState !== null ? keepState.name : 'default' });
}

function validStateName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,63}$/.test(name) && name !== 'any';
}

/** add_proto_compat: -4 for ip4, 0 for ip/all (any), the number for others; undefined if not a protocol. */
function protocol(t: string): number | undefined {
  if (t === 'ip' || t === 'all') return 0;
  if (t === 'ip4' || t === 'ipv4') return -4;
  if (/^\d+$/.test(t)) {
    const v = Number(t);
    return v > 0 && v < 256 ? v : undefined;
  }
  const p = protoByName(t);
  return p !== undefined && p > 0 && p < 256 ? p : undefined;
}

/** Exposed for the printer and tests: the prefix length of a contiguous mask, -1 otherwise. */
export { contigLen };

// ------------------------------------------------------------ dummynet

/** What `ipfw pipe|queue N config ...` asked for; absent fields keep their value. */
export interface DnConfigSpec {
  bw?: number;
  delay?: number;
  plr?: number;
  qsize?: number;
  qbytes?: boolean;
  mask?: { proto: number; src: number; dst: number; sport: number; dport: number };
  buckets?: number;
  weight?: number;
  pipe?: number;
}

const DN_UNSUPPORTED = new Set(['red', 'gred', 'ecn', 'codel', 'fq_codel', 'pie', 'fq_pie', 'profile', 'burst', 'type', 'link', 'sched', 'flowset', 'pri', 'priority', 'lmax', 'maxlen', 'sched_mask', 'flow_mask', 'flow-id', 'dst-ipv6', 'dst-ip6', 'src-ipv6', 'src-ip6']);

/** read_bandwidth: `10Mbit/s`, `1MByte/s`, `500K`, `64000`; bits per second. */
function bandwidth(t: string, at: number): number {
  if (/^[a-z]/.test(t)) throw new RuleSyntaxError(`bw ${t}: clocking a pipe from an interface is not supported`, at, EX_DATAERR);
  const m = /^(0[xX][0-9a-fA-F]+|\d+)(.*)$/.exec(t);
  if (m === null) throw new RuleSyntaxError(`bw needs bandwidth or interface`, at, EX_DATAERR);
  let bw = strtoulStrict(m[1]!)!;
  let end = m[2]!;
  const unit = end[0];
  if (unit === 'K' || unit === 'k') {
    bw *= 1000;
    end = end.slice(1);
  } else if (unit === 'M' || unit === 'm') {
    bw *= 1_000_000;
    end = end.slice(1);
  } else if (unit === 'G' || unit === 'g') {
    bw *= 1_000_000_000;
    end = end.slice(1);
  }
  if ((end[0] === 'B' && !end.startsWith('Bi')) || end.startsWith('by')) bw *= 8;
  else if (end !== '' && !/^(bit\/s|Bit\/s|bps|bits?)$/.test(end)) throw new RuleSyntaxError(`bw: bad unit \`\`${t}''; use bit/s or Byte/s with K, M or G`, at, EX_DATAERR);
  if (bw > 0x7fffffff) throw new RuleSyntaxError('bandwidth too large', at, EX_DATAERR);
  return bw;
}

/**
 * ipfw_config_pipe: the words after `config` for `pipe` or `queue`.
 * `limits` are net.inet.ip.dummynet.pipe_slot_limit and pipe_byte_limit.
 */
export function parseDnConfig(kind: 'pipe' | 'queue', tokens: readonly string[], limits: { slots: number; bytes: number }): DnConfigSpec {
  const c: DnConfigSpec = {};
  const isPipe = kind === 'pipe';
  let i = 0;
  const need = (msg: string): string => {
    const t = tokens[i];
    if (t === undefined) throw new RuleSyntaxError(msg, i, EX_USAGE);
    return t;
  };
  const fail = (msg: string, at = i, status = EX_DATAERR): never => {
    throw new RuleSyntaxError(msg, at, status);
  };
  while (i < tokens.length) {
    const tok = tokens[i]!;
    const at = i;
    i++;
    switch (tok) {
      case 'noerror':
      case 'droptail':
        break;
      case 'plr': {
        const t = need('plr needs argument 0..1');
        let d = Number(t);
        if (Number.isNaN(d)) d = parseFloat(t) || 0;
        c.plr = Math.min(1, Math.max(0, d));
        i++;
        break;
      }
      case 'queue': {
        const t = need('queue needs queue size');
        const m = /^(\d+)(.*)$/.exec(t);
        if (m === null) fail(`queue needs queue size`);
        let q = Number(m![1]);
        const rest = m![2]!;
        let bytes = false;
        if (rest[0] === 'K' || rest[0] === 'k') {
          bytes = true;
          q *= 1024;
        } else if (rest[0] === 'B' || rest.startsWith('by')) bytes = true;
        if (bytes && q > limits.bytes) fail(`queue size must be < ${limits.bytes}B`);
        if (!bytes && (q > limits.slots || q < 2)) fail(`2 <= queue size <= ${limits.slots}`);
        c.qsize = q;
        c.qbytes = bytes;
        i++;
        break;
      }
      case 'buckets': {
        const t = need('buckets needs argument');
        const v = strtoulStrict(t);
        if (v === undefined) fail(`buckets needs argument`);
        c.buckets = v;
        i++;
        break;
      }
      case 'mask':
      case 'all': {
        if (tok === 'all') {
          i--;
        }
        const mask = { proto: 0, src: 0, dst: 0, sport: 0, dport: 0 };
        if (i >= tokens.length) fail('mask needs mask specifier', i, EX_USAGE);
        maskLoop: while (i < tokens.length) {
          const w = tokens[i]!;
          i++;
          let field: 'src' | 'dst' | 'sport' | 'dport' | 'proto';
          switch (w) {
            case 'all':
              mask.src = 0xffffffff;
              mask.dst = 0xffffffff;
              mask.sport = 0xffff;
              mask.dport = 0xffff;
              mask.proto = 0xff;
              break maskLoop;
            case 'dst-ip':
              field = 'dst';
              break;
            case 'src-ip':
              field = 'src';
              break;
            case 'dst-port':
              field = 'dport';
              break;
            case 'src-port':
              field = 'sport';
              break;
            case 'proto':
              field = 'proto';
              break;
            default:
              i--;
              break maskLoop;
          }
          const v = tokens[i];
          if (v === undefined) fail('mask: value missing', i, EX_USAGE);
          let a: number | undefined;
          if (v![0] === '/') {
            const n = strtoulStrict(v!.slice(1));
            a = n === undefined || n > 32 ? undefined : n === 32 ? 0xffffffff : (2 ** n - 1) >>> 0;
          } else a = strtoulStrict(v!);
          if (a === undefined) fail(`mask: bad value ${v}`);
          if ((field === 'sport' || field === 'dport') && a! > 0xffff) fail('port mask must be 16 bit');
          if (field === 'proto' && a! > 0xff) fail('proto mask must be 8 bit');
          mask[field] = a! >>> 0;
          i++;
        }
        c.mask = mask;
        break;
      }
      case 'bw':
      case 'bandwidth': {
        if (!isPipe) fail('bw is only for links', at);
        const t = need('bw needs bandwidth or interface');
        c.bw = bandwidth(t, i);
        i++;
        break;
      }
      case 'delay': {
        if (!isPipe) fail('delay is only for links', at);
        const t = need('delay needs argument 0..10000ms');
        const m = /^(\d+)(ms)?$/.exec(t);
        if (m === null) fail(`delay needs argument 0..10000ms`);
        const d = Number(m![1]);
        if (d > 10000) fail('delay must be < 10000');
        c.delay = d;
        i++;
        break;
      }
      case 'weight': {
        const t = need('weight needs argument');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v > 100) fail(`weight must be between 1 and 100: ${t}`);
        c.weight = v;
        i++;
        break;
      }
      case 'pipe': {
        if (isPipe) fail('pipe is only for queues', at);
        const t = need('pipe/link/sched needs number');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v >= 65536) fail(`pipe/link/sched needs number`);
        c.pipe = v;
        i++;
        break;
      }
      default:
        if (DN_UNSUPPORTED.has(tok)) fail(`${tok} is not supported in vimage`, at);
        fail(`unrecognised option \`\`${tok}''`, at);
    }
  }
  return c;
}
