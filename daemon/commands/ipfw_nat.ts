/**
 * `ipfw nat ...` inside an image, as FreeBSD 14's sbin/ipfw/nat.c takes it:
 *
 *   ipfw nat N config if IF | ip ADDR [options] [redirect_...]
 *   ipfw nat N delete
 *   ipfw nat N show [config]       ipfw nat show [config] [N[-M]]
 *
 * `config` prints the resulting configuration (unless -q), as
 * ipfw_config_nat does; `show config` prints nat_show_cfg's line per
 * instance; `show` prints nat_show_log's line for instances with `log`.
 * With --json: the configurations, or the instances with their counters
 * and (with `log`) their links.
 */

import { RuleSyntaxError, type FirewallControl } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';
import { printJson } from './util.js';

const EX_USAGE = 64;
const EX_DATAERR = 65;

interface NatOut {
  out: string;
  err: string;
  status: number;
  warn(msg: string, status?: number): void;
}

/** ipfw_show_nat's number list: `N` or `N-M`. */
function idRange(t: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(t);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi === 0) return undefined;
  return [lo, hi];
}

function show(ctx: CommandContext, o: NatOut, fw: FirewallControl, cfg: boolean, lo: number, hi: number): void {
  if (cfg) {
    const list = fw.natConfigs().filter((c) => c.id >= lo && c.id <= hi);
    if (ctx.json) printJson(ctx, list);
    else for (const c of list) o.out += c.text + '\n';
    return;
  }
  const list = fw.natInfo().filter((n) => n.id >= lo && n.id <= hi);
  if (ctx.json) {
    printJson(ctx, list);
    return;
  }
  for (const n of list) {
    if (!n.log) continue;
    const l = n.links;
    // nat_show_log prints libalias's ShowAliasStats line (see lib/ipfw/nat_set.ts natLogLine).
    o.out += `nat ${n.id}: icmp=${l.icmp}, udp=${l.udp}, tcp=${l.tcp}, sctp=0, pptp=0, proto=${l.proto}, frag_id=0 frag_ptr=${l.fragPtr} / tot=${l.total}\n`;
  }
}

export function natCommand(ctx: CommandContext, o: NatOut, args: readonly string[], quiet: boolean, testOnly: boolean): void {
  const fw = ctx.image.firewall;
  const a0 = args[0];
  if (a0 === undefined) return o.warn('nat needs a command: N config ..., N delete, N show [config], show [config]', EX_USAGE);
  if (a0 === 'show' || a0 === 'list') {
    let cfg = false;
    let lo = 0;
    let hi = 65535;
    for (const t of args.slice(1)) {
      if (t.length > 0 && 'config'.startsWith(t)) {
        cfg = true;
        continue;
      }
      const r = idRange(t);
      if (r === undefined) return o.warn(`invalid rule number: ${t}`, EX_USAGE);
      [lo, hi] = r;
    }
    if (!testOnly) show(ctx, o, fw, cfg, lo, hi);
    return;
  }
  const id = /^\d+$/.test(a0) ? Number(a0) : NaN;
  if (!(id > 0 && id <= 65535)) return o.warn(`illegal nat id: ${a0}`, EX_DATAERR);
  const verb = args[1];
  if (verb === undefined) return o.warn('missing option', EX_DATAERR);
  if (verb === 'config') {
    const tokens = args.slice(2);
    let c;
    try {
      c = fw.parseNat(id, tokens);
    } catch (e) {
      if (!(e instanceof RuleSyntaxError)) throw e;
      o.err += `ipfw: ${e.message}\n`;
      o.status = e.status;
      return;
    }
    if (testOnly) return;
    try {
      fw.configNat(c);
    } catch (e) {
      return o.warn((e as Error).message, 1);
    }
    // ipfw_config_nat: "After every modification, we show the resultant rule."
    if (!quiet) show(ctx, o, fw, true, id, id);
    return;
  }
  if (verb === 'delete') {
    if (!testOnly && !fw.deleteNat(id)) o.warn(`NAT ${id} not found`, EX_DATAERR);
    return;
  }
  if (verb === 'show' || verb === 'list') {
    const cfg = args[2] !== undefined && 'config'.startsWith(args[2]);
    if (args[2] !== undefined && !cfg) return o.warn(`unrecognised option \`\`${args[2]}''`, EX_USAGE);
    if (!testOnly) show(ctx, o, fw, cfg, id, id);
    return;
  }
  o.warn(`unrecognised option \`\`${verb}''`, EX_USAGE);
}
