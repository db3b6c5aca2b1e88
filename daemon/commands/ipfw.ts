/**
 * ipfw(8) inside an image: the rule chain (add, delete, flush, zero,
 * resetlog, list, show, enable/disable) and dummynet (pipe, queue, sched:
 * config, delete, flush, show), printing as FreeBSD 14's ipfw does.
 *
 * A rule that does not parse prints FreeBSD's message, then the rule with
 * the wrong token marked, and changes nothing.
 *
 * Everything goes through the image's control surface (ctx.image.firewall);
 * this file parses argv and formats the plain data it returns.
 */

import { DEFAULT_RULE, RuleSyntaxError, protoName, type DynStateInfo, type FirewallControl, type RuleInfo } from '../../lib/control/index.js';
import { EX_OK, EX_UNAVAILABLE, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { dummynetCommand, pointAt } from './ipfw_dn.js';
import { natCommand } from './ipfw_nat.js';
import { ipfwTable } from './ipfw_table.js';
import { setsCommand } from './ipfw_set.js';
import { getopt, printJson } from './util.js';

const CMD = 'ipfw';
const EX_DATAERR = 65;

const USAGE =
  'ipfw syntax summary (but please do read the ipfw(8) manpage):\n\n' +
  '\tipfw [-abcdefhnNqStTv] <command>\n\n' +
  'where <command> is one of the following:\n\n' +
  'add [num] rule\n' +
  'delete [num[-num]...]\n' +
  '{pipe|queue|sched} N config PIPE-BODY\n' +
  'nat N config {ip IPADDR|if IFNAME} [log] [deny_in] [same_ports] [unreg_only] [unreg_cgn] [reset] [reverse] [proxy_only]\n' +
  '\t[redirect_addr LOCAL PUBLIC] [redirect_port tcp|udp LADDR:LPORT[-R] [PADDR:]PPORT[-R] [RADDR[:RPORT]]] [port_range L-H]\n' +
  'nat N delete | nat [N] show [config]\n' +
  '[pipe|queue|sched] {zero|delete|show} [N{,N}]\n' +
  '{enable|disable} {firewall|one_pass|verbose}\n' +
  '{flush|zero|resetlog} [num ...]\n' +
  '{list|show} [num[-num] ...]\n' +
  'set [disable N... enable N...] | move [rule] X to Y | swap X Y | show\n' +
  'set N {delete|list|show|flush} ...\n' +
  'table {NAME|all} {create|add|delete|lookup|list|info|detail|flush|swap|lock|unlock|destroy} ...\n\n' +
  'RULE-BODY:\t check-state [:name] | ACTION [log [logamount N]] PROTO from SRC [PORTS] to DST [PORTS] [OPTIONS]\n' +
  'ACTION:\tallow | deny | reject | unreach CODE | reset | count | skipto N | call N | return | setdscp CODE | pipe N | queue N | nat N | check-state\n' +
  'PROTO:\tip | all | tcp | udp | icmp | NUMBER\n' +
  'SRC/DST:\tany | me | A.B.C.D[/LEN] | A.B.C.D{,A.B.C.D...} | { ADDR or ADDR ... } | not ADDR\n' +
  'PORTS:\tN | N-M | N,M,...\n' +
  'OPTIONS:\tin | out | via IF | recv IF | xmit IF | keep-state [:name] | setup | established |\n' +
  '\ttcpflags [!]FLAG,... | icmptypes T,... | frag | iplen N | ipttl N | ipid N | proto P |\n' +
  '\tsrc-ip ADDR | dst-ip ADDR | src-port PORTS | dst-port PORTS | dscp CODES | tag N | untag N | tagged LIST | // comment\n' +
  'PIPE-BODY:\t[bw B[K|M|G]{bit/s|Byte/s}] [delay MS] [burst N] [profile FILE] [plr P] [queue {N|N[K]Bytes}] [mask ...] [weight W] [pipe|sched N]\n' +
  '\t[red|gred w_q/min_th/max_th/max_p] [codel ...] [pie ...] [type fifo|wf2q+|rr|qfq|prio|fq_codel|fq_pie ...] (see dnctl)\n';

interface Opts {
  counters: boolean;
  dynamic: boolean;
  force: boolean;
  quiet: boolean;
  testOnly: boolean;
  /** -S: print each rule's set, and the rules of disabled sets. */
  showSets: boolean;
  /** `ipfw set N CMD`: N, or -1. */
  useSet: number;
}

class Out {
  out = '';
  err = '';
  status = EX_OK;
  warn(msg: string, status?: number): void {
    this.err += `${CMD}: ${msg}\n`;
    if (status !== undefined && this.status === EX_OK) this.status = status;
  }
}

function syntaxError(o: Out, e: RuleSyntaxError, prefix: string, tokens: readonly string[]): number {
  o.err += `${CMD}: ${e.message}\n` + pointAt(prefix, tokens, e.at);
  o.status = e.status;
  return e.status;
}

/** `100`, `100-200`: [lo, hi], or undefined. */
function ruleRange(t: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(t);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > DEFAULT_RULE || hi > DEFAULT_RULE) return undefined;
  return [lo, hi];
}

/** `ipfw list` (widths 0) or `ipfw show` (counter widths) line of a rule. */
function ruleLine(r: RuleInfo, pcw: number, bcw: number): string {
  let l = String(r.rule).padStart(5, '0') + ' ';
  if (pcw > 0 || bcw > 0) l += String(r.packets).padStart(pcw) + ' ' + String(r.bytes).padStart(bcw) + ' ';
  return l + r.text;
}

const width = (v: number): number => String(v).length;

function dynLines(states: readonly DynStateInfo[], pcw: number, bcw: number, lo: number, hi: number): string[] {
  const out: string[] = [];
  for (const st of states) {
    if (st.rule < lo || st.rule > hi) continue;
    let l = String(st.rule).padStart(5, '0');
    if (pcw > 0 || bcw > 0) {
      l += ' ' + String(st.packets).padStart(pcw) + ' ' + String(st.bytes).padStart(bcw) + ' ';
      l += `(${st.expiresIn}s)`;
    }
    const name = protoName(st.proto);
    l += ' STATE' + (name !== undefined ? ` ${name}` : ` proto ${st.proto}`);
    l += ` ${st.src} ${st.srcPort} <-> ${st.dst} ${st.dstPort} :${st.name}`;
    out.push(l);
  }
  return out;
}

/** `ipfw list|show [N[-M] ...]`. */
function list(ctx: CommandContext, o: Out, fw: FirewallControl, args: readonly string[], opts: Opts): void {
  // show_static_rule: a disabled set's rules only with -S, marked; `set N list` lists set N.
  const dis = fw.sets().disabledMask();
  const rules = fw.rules().filter((r) => (opts.useSet < 0 || r.set === opts.useSet) && (opts.showSets || ((dis >>> r.set) & 1) === 0));
  if (opts.showSets) for (const r of rules) r.text = `set ${r.set} ${r.text}`;
  const mark = (r: RuleInfo): string => (((dis >>> r.set) & 1) !== 0 ? '# DISABLED ' : '');
  const states = opts.dynamic ? fw.states() : [];
  if (ctx.json) {
    printJson(ctx, { rules, dynamic: states });
    return;
  }
  let pcw = 0;
  let bcw = 0;
  if (opts.counters) {
    for (const r of rules) {
      pcw = Math.max(pcw, width(r.packets));
      bcw = Math.max(bcw, width(r.bytes));
    }
    for (const st of states) {
      pcw = Math.max(pcw, width(st.packets));
      bcw = Math.max(bcw, width(st.bytes));
    }
  }
  const line = (r: RuleInfo): string => mark(r) + ruleLine(r, pcw, bcw) + '\n';
  if (args.length === 0) {
    for (const r of rules) o.out += line(r);
    if (opts.dynamic && states.length > 0) {
      o.out += `## Dynamic rules (${states.length} ${16 + 136 * states.length}):\n`;
      for (const l of dynLines(states, pcw, bcw, 0, DEFAULT_RULE)) o.out += l + '\n';
    }
    return;
  }
  const ranges: Array<[number, number]> = [];
  for (const a of args) {
    const r = ruleRange(a);
    if (r === undefined) {
      o.warn(`invalid rule number: ${a}`, EX_USAGE);
      continue;
    }
    ranges.push(r);
    const hit = rules.filter((x) => x.rule >= r[0] && x.rule <= r[1]);
    for (const x of hit) o.out += line(x);
    if (hit.length === 0) o.warn(r[0] === r[1] ? `rule ${r[0]} does not exist` : `no rules in range ${r[0]}-${r[1]}`, EX_UNAVAILABLE);
  }
  if (opts.dynamic && states.length > 0) {
    o.out += '## Dynamic rules:\n';
    for (const [lo, hi] of ranges) for (const l of dynLines(states, pcw, bcw, lo, hi)) o.out += l + '\n';
  }
}

async function confirm(ctx: CommandContext): Promise<boolean> {
  ctx.stdout.write('Are you sure? [yn] ');
  let text = '';
  for await (const chunk of ctx.stdin) {
    text += Buffer.from(chunk).toString('utf8');
    for (const line of text.split('\n').slice(0, -1)) {
      const c = line.trim().toUpperCase()[0];
      if (c === 'Y' || c === 'N') {
        ctx.stdout.write('\n');
        return c === 'Y';
      }
    }
    text = text.slice(text.lastIndexOf('\n') + 1);
  }
  const c = text.trim().toUpperCase()[0];
  if (c === 'Y' || c === 'N') {
    ctx.stdout.write('\n');
    return c === 'Y';
  }
  return false;
}

const ipfw: Command = async (ctx) => {
  const g = getopt(ctx.argv.slice(1), 'acdefnNqSv');
  const o = new Out();
  const finish = (): number => {
    if (o.out !== '') ctx.stdout.write(o.out);
    if (o.err !== '') ctx.stderr.write(o.err);
    return o.status;
  };
  if (typeof g === 'string') {
    o.warn(g, EX_USAGE);
    return finish();
  }
  const opts: Opts = { counters: g.count.has('a'), dynamic: g.count.has('d') || g.count.has('e'), force: g.count.has('f'), quiet: g.count.has('q'), testOnly: g.count.has('n'), showSets: g.count.has('S'), useSet: -1 };
  const fw = ctx.image.firewall;
  let args = g.rest;
  if (args[0] === 'set' && args[1] !== undefined && /^\d+$/.test(args[1])) {
    // `ipfw set N CMD`: CMD applies to set N's rules.
    const n = Number(args[1]);
    if (n > 31) {
      o.warn(`invalid set number ${args[1]}`, EX_DATAERR);
      return finish();
    }
    opts.useSet = n;
    args = args.slice(2);
  }
  const cmd = args[0];
  if (cmd === undefined) {
    ctx.stderr.write(USAGE);
    return EX_USAGE;
  }
  const rest = args.slice(1);
  switch (cmd) {
    case 'add': {
      let rule;
      try {
        rule = fw.addRule(rest, opts.testOnly);
      } catch (e) {
        if (e instanceof RuleSyntaxError) syntaxError(o, e, 'add', rest);
        else o.warn((e as Error).message, EX_DATAERR);
        return finish();
      }
      if (opts.testOnly) return finish();
      if (ctx.json) printJson(ctx, rule);
      else if (!opts.quiet) o.out += String(rule.rule).padStart(5, '0') + ' ' + rule.text + '\n';
      return finish();
    }
    case 'delete': {
      if (rest.length === 0 && opts.useSet >= 0) {
        // `ipfw set N delete`: the whole set (FreeBSD wants a rule number; `delete set N` is its form).
        fw.sets().deleteSet(opts.useSet);
        return finish();
      }
      if (rest.length === 0) {
        o.warn('missing rule specification', EX_USAGE);
        return finish();
      }
      if (rest[0] === 'set') {
        if (opts.useSet >= 0) {
          o.warn('invalid syntax', EX_DATAERR);
          return finish();
        }
        for (const t of rest.slice(1)) {
          if (!/^\d+$/.test(t) || Number(t) > 31) {
            o.warn(`invalid rule number ${t}`, EX_USAGE);
            break;
          }
          const n = fw.sets().deleteSet(Number(t));
          if (n === 0 && !opts.quiet) o.warn(`rule ${t} not found`, EX_UNAVAILABLE);
        }
        return finish();
      }
      for (const t of rest) {
        const r = ruleRange(t);
        if (r === undefined) {
          o.warn(`invalid rule number ${t}`, EX_USAGE);
          break;
        }
        if (r[0] === DEFAULT_RULE) {
          o.warn(`rule ${r[0]}: setsockopt(IP_FW_XDEL): Invalid argument`, EX_UNAVAILABLE);
          continue;
        }
        const n = opts.useSet >= 0 ? fw.sets().deleteSet(opts.useSet, r[0], Math.min(r[1], DEFAULT_RULE - 1)) : fw.deleteRules(r[0], Math.min(r[1], DEFAULT_RULE - 1));
        if (n === 0 && !opts.quiet) o.warn(r[0] !== r[1] ? `no rules rules in ${r[0]}-${r[1]} range` : `rule ${r[0]} not found`, EX_UNAVAILABLE);
      }
      if (o.status !== EX_OK && opts.force) o.status = EX_OK;
      return finish();
    }
    case 'flush': {
      if (!opts.force && !opts.quiet && !(await confirm(ctx))) return finish();
      if (opts.useSet >= 0) fw.sets().deleteSet(opts.useSet);
      else fw.flush();
      if (!opts.quiet) o.out += 'Flushed all rules.\n';
      return finish();
    }
    case 'zero':
    case 'resetlog': {
      const zero = cmd === 'zero';
      if (rest.length === 0) {
        if (zero) fw.zero();
        else fw.resetLog();
        if (!opts.quiet) o.out += zero ? 'Accounting cleared.\n' : 'Logging counts reset.\n';
        return finish();
      }
      for (const t of rest) {
        if (!/^\d+$/.test(t) || Number(t) > 0xffff) {
          o.warn(`invalid rule number \`\`${t}''`, EX_USAGE);
          return finish();
        }
        const n = Number(t);
        const hit = zero ? fw.zero(n) : fw.resetLog(n);
        if (hit === 0) {
          o.out += `Entry ${n} not found\n`;
          if (o.status === EX_OK) o.status = EX_UNAVAILABLE;
        } else if (!opts.quiet) o.out += `Entry ${n} ${zero ? 'cleared' : 'logging count reset'}.\n`;
      }
      return finish();
    }
    case 'list':
    case 'show':
      list(ctx, o, fw, rest, { ...opts, counters: opts.counters || cmd === 'show' });
      return finish();
    case 'enable':
    case 'disable': {
      const which = rest[0];
      if (which === undefined) o.warn('missing keyword to enable/disable');
      else if (which === 'firewall' || which === 'one_pass' || which === 'verbose') fw.setSwitch(which, cmd === 'enable');
      else o.warn(`unrecognize enable/disable keyword: ${which}`);
      return finish();
    }
    case 'pipe':
    case 'queue':
    case 'sched':
      dummynetCommand(ctx, o, cmd, rest, opts, CMD);
      return finish();
    case 'nat':
      natCommand(ctx, o, rest, opts.quiet, opts.testOnly);
      return finish();
    case 'table': {
      const r = ipfwTable(ctx, fw.tables(), rest, opts.quiet);
      o.out += r.out;
      o.err += r.err;
      if (r.status !== EX_OK) o.status = r.status;
      return finish();
    }
    case 'set': {
      const r = setsCommand(fw.sets(), rest);
      o.out += r.out;
      o.err += r.err;
      if (r.status !== EX_OK) o.status = r.status;
      return finish();
    }
    case 'nat64lsn':
    case 'nat64stl':
    case 'nptv6':
    case 'internal':
    case 'iflist':
      o.warn(`${cmd} is not supported in vimage`, EX_USAGE);
      return finish();
    default:
      o.warn(`bad command \`${cmd}'`, EX_USAGE);
      return finish();
  }
};

export const commands: Record<string, Command> = { ipfw };
