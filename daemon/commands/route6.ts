/**
 * `route -6 add|delete|get` inside an image: static IPv6 routes, printed as
 * FreeBSD 14's route(8) prints them. A destination is `default`,
 * `ADDR/LEN`, `ADDR -prefixlen LEN` or a host address; the gateway is an
 * address (link-local ones as ADDR%IF) or `-interface IF`.
 */

import { RTF } from '../../lib/control/index.js';
import { ip6ToString, parseIp6Cidr, type In6Addr } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_OK, type Command, type CommandContext } from '../command.js';
import { optionLetters, routeAct, routeGetTail } from './route_common.js';
import { printJson, usageError } from './util.js';

const CMD = 'route';
const USAGE = 'usage: route -6 [-nq] add|delete|get [-net|-host] destination[/len] [gateway[%IF] | -interface IF] [-prefixlen N]';

interface Req6 {
  cmd: 'add' | 'delete' | 'get';
  destText: string;
  dst: In6Addr;
  prefixLen: number | undefined;
  host: boolean;
  gatewayText?: string;
  iface: boolean;
}

function parse(cmd: Req6['cmd'], args: readonly string[]): Req6 | string {
  let host = false;
  let net = false;
  let iface = false;
  let prefixLen: number | undefined;
  const pos: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-net') net = true;
    else if (a === '-host') host = true;
    else if (a === '-interface' || a === '-iface') iface = true;
    else if (a === '-inet6') continue;
    else if (a === '-prefixlen') {
      const t = args[++i];
      if (t === undefined || !/^\d{1,3}$/.test(t) || Number(t) > 128) return `-prefixlen: give 0 to 128`;
      prefixLen = Number(t);
    } else if (a.startsWith('-')) return `${a}: unknown modifier; ${USAGE}`;
    else pos.push(a);
  }
  const d = pos[0];
  if (d === undefined || pos.length > 2) return USAGE;
  let dst: In6Addr;
  if (d === 'default') {
    dst = new Uint8Array(16);
    prefixLen = 0;
  } else {
    const c = parseIp6Cidr(d);
    if (c === undefined) return `bad address: ${d}`;
    dst = c.addr;
    if (c.prefixLen !== undefined) prefixLen = c.prefixLen;
  }
  if (prefixLen === undefined && (host || cmd !== 'get')) prefixLen = net ? 64 : 128;
  if (host && prefixLen !== 128) return '-host takes no prefix length';
  const r: Req6 = { cmd, destText: d, dst, prefixLen, host: prefixLen === 128, iface };
  if (pos[1] !== undefined) r.gatewayText = pos[1];
  if (iface && r.gatewayText === undefined) return '-interface: give the interface name, e.g. -interface tap0';
  return r;
}

function what(r: Req6): string {
  return `${r.cmd} ${r.host ? 'host' : 'net'} ${r.destText}${r.gatewayText !== undefined ? `: gateway ${r.gatewayText}` : ''}`;
}

function act(ctx: CommandContext, r: Req6, quiet: boolean, fn: () => void): number {
  return routeAct(ctx, what(r), quiet, fn);
}

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [RTF.UP, 'UP'],
  [RTF.GATEWAY, 'GATEWAY'],
  [RTF.HOST, 'HOST'],
  [RTF.REJECT, 'REJECT'],
  [RTF.DONE, 'DONE'],
  [RTF.STATIC, 'STATIC'],
  [RTF.BLACKHOLE, 'BLACKHOLE'],
];

/** The prefix length as an IPv6 mask (`ffff:ffff:ffff:ffff::`). */
function maskText(len: number): string {
  const m = new Uint8Array(16);
  for (let i = 0; i < 16; i++) m[i] = (0xff << (8 - Math.max(0, Math.min(8, len - i * 8)))) & 0xff;
  return ip6ToString(m);
}

function get(ctx: CommandContext, r: Req6): number {
  const rt = ctx.image.inet6.getRoute(r.dst, r.prefixLen);
  if (rt === undefined) {
    ctx.stderr.write(`${CMD}: route has not been found; 'netstat -rn' lists the routes\n`);
    return EX_FAIL;
  }
  const flags = FLAG_NAMES.filter(([b]) => ((rt.flags | RTF.DONE) & b) !== 0).map(([, n]) => n);
  if (ctx.json) {
    printJson(ctx, {
      routeTo: r.destText === 'default' ? 'default' : ip6ToString(r.dst),
      destination: rt.destination,
      prefixLen: rt.prefixLen,
      ...(rt.prefixLen < 128 ? { mask: maskText(rt.prefixLen) } : {}),
      ...((rt.flags & RTF.GATEWAY) !== 0 ? { gateway: rt.gateway } : {}),
      fib: 0,
      interface: rt.interface,
      flags,
      mtu: rt.mtu,
      weight: 1,
      expire: 0,
    });
    return EX_OK;
  }
  let s = `   route to: ${r.destText === 'default' ? 'default' : ip6ToString(r.dst)}\n`;
  s += `destination: ${rt.destination}\n`;
  if (rt.prefixLen < 128) s += `       mask: ${rt.prefixLen === 0 ? 'default' : maskText(rt.prefixLen)}\n`;
  if ((rt.flags & RTF.GATEWAY) !== 0) s += `    gateway: ${rt.gateway}\n`;
  s += routeGetTail(rt.interface, flags, rt.mtu);
  ctx.stdout.write(s);
  return EX_OK;
}

/** `route -6 ...`: argv as typed (the -6 among the flags). */
export const route6: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  let quiet = false;
  const { letters, i } = optionLetters(args);
  for (const c of letters) {
    if (c === 'q') quiet = true;
    else if (c !== 'n' && c !== 'v' && c !== '6') return usageError(ctx, CMD, `illegal option -- ${c}; ${USAGE}`);
  }
  const word = args[i];
  const cmd = word === 'show' ? 'get' : word === 'del' ? 'delete' : word;
  if (cmd !== 'add' && cmd !== 'delete' && cmd !== 'get') return usageError(ctx, CMD, word === undefined ? USAGE : `${word}: not supported for IPv6 here; ${USAGE}`);
  const r = parse(cmd, args.slice(i + 1));
  if (typeof r === 'string') return usageError(ctx, CMD, r);
  const inet6 = ctx.image.inet6;
  if (r.cmd === 'get') return get(ctx, r);
  if (r.cmd === 'delete') return act(ctx, r, quiet, () => inet6.deleteRoute(r.dst, r.prefixLen!));
  const g = r.gatewayText;
  if (g === undefined) return usageError(ctx, CMD, 'add: a gateway address or -interface IF is required');
  if (r.iface) return act(ctx, r, quiet, () => inet6.addRoute(r.dst, r.prefixLen!, { interface: g }));
  const gw = parseIp6Cidr(g);
  if (gw === undefined || gw.prefixLen !== undefined) return usageError(ctx, CMD, `bad address: ${g}`);
  return act(ctx, r, quiet, () => inet6.addRoute(r.dst, r.prefixLen!, gw.zone !== undefined ? { gateway: gw.addr, zone: gw.zone } : { gateway: gw.addr }));
};
