/**
 * ifconfig(8)'s bridge(4) and vlan(4) parameters: parsing (`addm`,
 * `deletem`, `span`, `maxaddr`, `timeout`, `flush`, `addr`, `vlan`,
 * `vlandev`, `-vlandev`), applying through the control surface, and the
 * status lines FreeBSD 14 prints for them. Spanning tree (`stp`, `priority`
 * and the like) is not implemented and is refused by name.
 */

import { E, fail, type BridgeOp, type InterfaceInfo } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';
import { printJson } from './util.js';

export interface LinkPlan {
  bridge: BridgeOp[];
  vlan?: number;
  /** A parent name, or null for `-vlandev`. */
  vlandev?: string | null;
  /** `addr`: print the learned table. */
  addr: boolean;
}

export function emptyLinkPlan(): LinkPlan {
  return { bridge: [], addr: false };
}

const MEMBER_OPS = new Set(['addm', 'deletem', 'span', '-span']);
const FLAG_OPS = new Set(['learn', '-learn', 'discover', '-discover', 'sticky', '-sticky']);
const STP = new Set(['stp', '-stp', 'edge', '-edge', 'autoedge', '-autoedge', 'ptp', '-ptp', 'autoptp', '-autoptp', 'maxage', 'fwddelay', 'hellotime', 'priority', 'proto', 'holdcnt', 'ifpriority', 'ifpathcost', 'root', 'private', '-private', 'static', 'deladdr', 'ifmaxaddr']);

/**
 * A bridge or VLAN parameter at args[i]: how many words it took (0: not
 * one of these), or an error text.
 */
export function parseLinkArg(args: readonly string[], i: number, p: LinkPlan): number | string {
  const a = args[i]!;
  const next = args[i + 1];
  if (MEMBER_OPS.has(a) || FLAG_OPS.has(a)) {
    if (next === undefined) return `${a}: missing interface name (e.g. ${a} tap0)`;
    if (MEMBER_OPS.has(a)) p.bridge.push({ kind: a as 'addm', ifname: next });
    else p.bridge.push({ kind: a.replace('-', '') as 'learn', ifname: next, on: !a.startsWith('-') });
    return 2;
  }
  if (a === 'maxaddr' || a === 'timeout') {
    if (next === undefined || !/^\d{1,10}$/.test(next)) return `${a}: give a number (e.g. ${a} ${a === 'maxaddr' ? 2000 : 1200})`;
    p.bridge.push({ kind: a, value: Number(next) });
    return 2;
  }
  if (a === 'flush' || a === 'deleteall') {
    p.bridge.push({ kind: 'flush' });
    return 1;
  }
  if (a === 'addr') {
    p.addr = true;
    return 1;
  }
  if (STP.has(a)) return `${a}: spanning tree (STP/RSTP) is not implemented in vimage bridges; avoid loops between bridges`;
  if (a === 'vlan') {
    if (next === undefined || !/^\d{1,4}$/.test(next)) return 'vlan: give a tag from 1 to 4094 (e.g. vlan 10)';
    p.vlan = Number(next);
    return 2;
  }
  if (a === 'vlandev') {
    if (next === undefined) return 'vlandev: missing parent interface (e.g. vlandev tap0)';
    p.vlandev = next;
    return 2;
  }
  if (a === '-vlandev') {
    // FreeBSD takes an optional (ignored) parent name after -vlandev.
    p.vlandev = null;
    return next !== undefined && /^[a-z][a-z_]*\d[a-z0-9_.]*$/.test(next) ? 2 : 1;
  }
  if (a === 'vlanproto') {
    if (next === undefined) return `${a}: missing value`;
    if (next !== '802.1q') return 'vlanproto: only 802.1q is supported';
    return 2;
  }
  return 0;
}

export function hasLinkPlan(p: LinkPlan): boolean {
  return p.bridge.length > 0 || p.vlan !== undefined || p.vlandev !== undefined || p.addr;
}

/**
 * Parse the name given to `create` for the kinds here: `bridge[N]`,
 * `vlan[N]`, or `PARENT.TAG` (a VLAN named after its parent and tag).
 */
export function cloneLink(ctx: CommandContext, requested: string, p: LinkPlan): string | undefined {
  const ifs = ctx.image.interfaces;
  const m = /^(bridge|vlan)(\d+)?$/.exec(requested);
  if (m !== null) {
    const kind = m[1] as 'bridge' | 'vlan';
    if (kind === 'bridge' && (p.vlan !== undefined || p.vlandev !== undefined)) fail(E.BAD_ARGUMENT, 'vlan and vlandev are for vlan interfaces');
    const o = { ...(m[2] !== undefined ? { unit: m[2] } : {}), ...(p.vlan !== undefined ? { vlan: p.vlan } : {}), ...(typeof p.vlandev === 'string' ? { vlandev: p.vlandev } : {}) };
    const name = ifs.create(kind, o);
    p.vlan = undefined;
    p.vlandev = undefined;
    return name;
  }
  // FreeBSD takes <etherif>.<vid> for any Ethernet parent name (vlan_clone_match_ethervid), epair0a.10 too.
  const d = /^([a-z][a-z0-9_]*)\.(\d{1,4})$/.exec(requested);
  if (d !== null) {
    const name = ifs.create('vlan', { name: requested, vlan: Number(d[2]), vlandev: d[1]! });
    return name;
  }
  return undefined;
}

/** Apply the bridge and VLAN parameters; prints the address table for `addr`. */
export function applyLinkPlan(ctx: CommandContext, name: string, p: LinkPlan): void {
  const ifs = ctx.image.interfaces;
  if (p.bridge.length > 0) ifs.configureBridge(name, p.bridge);
  if (p.vlan !== undefined || p.vlandev !== undefined) {
    ifs.configureVlan(name, { ...(p.vlan !== undefined ? { vlan: p.vlan } : {}), ...(p.vlandev !== undefined ? { vlandev: p.vlandev } : {}) });
  }
  if (p.addr) {
    const table = ifs.bridgeAddresses(name);
    if (ctx.json) printJson(ctx, { addresses: table });
    // FreeBSD's bridge_addresses: MAC, Vlan<id>, member, seconds to expiry, flags.
    else ctx.stdout.write(table.map((e) => `${e.address} Vlan${e.vlan} ${e.interface} ${e.expire} flags=${e.flags.toString(16)}<${e.flags & 1 ? 'STATIC' : ''}>\n`).join(''));
  }
}

/** Lines FreeBSD prints for a bridge, before `groups:`. */
export function bridgeStatus(f: InterfaceInfo): string {
  const b = f.bridge;
  if (b === undefined) return '';
  // No spanning tree: the bridge and root ids are zero, as FreeBSD shows a bridge without STP ports.
  let s = '\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n';
  s += `\tmaxage 20 holdcnt 6 proto rstp maxaddr ${b.maxaddr} timeout ${b.timeout}\n`;
  s += '\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0\n';
  for (const m of [...b.members, ...b.spans]) {
    s += `\tmember: ${m.name} flags=${m.flags.toString(16)}<${m.flagNames.join(',')}>\n`;
    s += `\t        ifmaxaddr ${m.ifmaxaddr} port ${m.port} priority ${m.priority} path cost ${m.pathCost}\n`;
  }
  return s;
}

/** The line FreeBSD prints for a vlan, after `groups:`. */
export function vlanStatus(f: InterfaceInfo): string {
  const v = f.vlan;
  if (v === undefined) return '';
  return `\tvlan: ${v.vlan} vlanproto: ${v.vlanproto} vlanpcp: ${v.vlanpcp} parent interface: ${v.parent ?? '<none>'}\n`;
}
