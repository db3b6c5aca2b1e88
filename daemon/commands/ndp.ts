/**
 * ndp(8) inside an image: show (-a, HOST), flush (-c), delete (-d HOST),
 * set (-s HOST MAC) entries of the image's neighbor cache, and an
 * interface's ND parameters (-i IF), in FreeBSD 14's layout. The image's own
 * addresses are listed as permanent entries, as FreeBSD's lltable holds
 * them. Link-local addresses carry their zone (`fe80::1%tap0`).
 */

import type { Nd6NeighbourInfo, Nd6PrefixInfo, Nd6RouterInfo } from '../../lib/control/index.js';
import { parseMac } from '../../lib/wire/ethernet.js';
import { ip6ToString, parseIp6Cidr, type In6Addr } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_OK, type Command, type CommandContext } from '../command.js';
import { failure, getopt, guarded, printJson, usageError } from './util.js';

const CMD = 'ndp';
const USAGE = 'usage: ndp [-nt] hostname | ndp [-nt] -a | -c | -p | -r | -P | -R | ndp [-nt] -d hostname | ndp [-nt] -i interface | ndp [-nt] -s nodename etheraddr';

const W_ADDR = 36;
const W_LL = 17;
const W_IF = 6;

/** printf's %-*.*s and %*.*s with width = precision. */
const lpad = (s: string, w: number): string => s.slice(0, w).padEnd(w);
const rpad = (s: string, w: number): string => s.slice(0, w).padStart(w);

/** ndp's sec2str: 1d2h3m4s, leading zero units left out. */
export function sec2str(total: number): string {
  const days = Math.floor(total / 86400);
  const hours = Math.floor(total / 3600) % 24;
  const mins = Math.floor(total / 60) % 60;
  const secs = total % 60;
  let s = '';
  let first = true;
  if (days !== 0) {
    first = false;
    s += `${days}d`;
  }
  if (!first || hours !== 0) {
    first = false;
    s += `${hours}h`;
  }
  if (!first || mins !== 0) s += `${mins}m`;
  return `${s}${secs}s`;
}

function header(): string {
  return `${lpad('Neighbor', W_ADDR)} ${lpad('Linklayer Address', W_LL)} ${rpad('Netif', W_IF)} ${lpad('Expire', 9)} S Flags\n`;
}

/** One entry as FreeBSD's ndp dump prints it (the columns widen for long addresses). */
export function formatRow(r: Nd6NeighbourInfo): string {
  const ll = r.mac ?? '(incomplete)';
  const aw = Math.max(r.address.length, W_ADDR);
  const lw = Math.max(ll.length, W_ADDR + W_LL - aw);
  const iw = Math.max(r.interface.length, W_ADDR + W_LL + W_IF - aw - lw);
  const expire = r.expires === null ? 'permanent' : r.expires > 0 ? sec2str(r.expires) : 'expired';
  return `${lpad(r.address, aw)} ${lpad(ll, lw)} ${rpad(r.interface, iw)} ${lpad(expire, 9)} ${r.state} ${r.router || r.own ? 'R' : ''}\n`;
}

function rowJson(r: Nd6NeighbourInfo): Record<string, unknown> {
  return {
    address: r.address,
    macAddress: r.mac ?? '(incomplete)',
    interface: r.interface,
    ...(r.expires === null ? { permanent: true } : { expiresSec: r.expires }),
    neighborState: r.state,
    ndFlags: r.router || r.own ? 'R' : '',
  };
}

function show(ctx: CommandContext, rows: Nd6NeighbourInfo[]): void {
  if (ctx.json) printJson(ctx, { ndp: { neighborCache: rows.map(rowJson) } });
  else ctx.stdout.write(header() + rows.map(formatRow).join(''));
}

/** A host operand: an IPv6 address, optionally with its zone (no name service in an image). */
function host(ctx: CommandContext, text: string): { addr: In6Addr; zone?: string } | undefined {
  const c = parseIp6Cidr(text);
  if (c === undefined || c.prefixLen !== undefined) {
    ctx.stderr.write(`${CMD}: ${text}: host name lookup failure; give an IPv6 address (no name service in an image)\n`);
    return undefined;
  }
  if (c.zone !== undefined && !ctx.image.interfaces.has(c.zone)) {
    ctx.stderr.write(`${CMD}: ${text}: interface ${c.zone} does not exist\n`);
    return undefined;
  }
  return c.zone !== undefined ? { addr: c.addr, zone: c.zone } : { addr: c.addr };
}

function matches(r: Nd6NeighbourInfo, h: { addr: In6Addr; zone?: string }): boolean {
  const [a, z] = r.address.split('%');
  return a === ip6ToString(h.addr) && (h.zone === undefined || z === undefined || z === h.zone);
}

function deleteOne(ctx: CommandContext, text: string, h: { addr: In6Addr; zone?: string }): number {
  return guarded(ctx, CMD, () => {
    ctx.image.inet6.deleteNeighbour(h.addr, h.zone);
    ctx.stdout.write(`${text} (${ip6ToString(h.addr)}${h.zone !== undefined ? `%${h.zone}` : ''}) deleted\n`);
    return EX_OK;
  });
}

function ifinfo(ctx: CommandContext, ifname: string): number {
  if (!ctx.image.interfaces.has(ifname)) return failure(ctx, CMD, `ioctl(SIOCGIFINFO_IN6): interface ${ifname} does not exist`);
  const n = ctx.image.inet6.ndInfo(ifname);
  if (ctx.json) {
    printJson(ctx, { ndp: { ifinfo: { interface: ifname, ...n } } });
    return EX_OK;
  }
  let s = `linkmtu=${n.linkmtu}, maxmtu=${n.maxmtu}, curhlim=${n.curhlim}`;
  s += `, basereachable=${Math.floor(n.basereachableMs / 1000)}s${n.basereachableMs % 1000}ms`;
  s += `, reachable=${Math.floor(n.reachableMs / 1000)}s`;
  s += `, retrans=${Math.floor(n.retransMs / 1000)}s${n.retransMs % 1000}ms`;
  if (n.options !== 0) {
    s += `\nFlags: `;
    for (const [name, word] of [['IFDISABLED', 'disabled'], ['PERFORMNUD', 'nud'], ['ACCEPT_RTADV', 'accept_rtadv'], ['AUTO_LINKLOCAL', 'auto_linklocal'], ['NO_PREFER_IFACE', 'no_prefer_iface']]) {
      if (n.optionNames.includes(name!)) s += `${word} `;
    }
  }
  ctx.stdout.write(s + '\n');
  return EX_OK;
}

/** ndp -r (FreeBSD's rtrlist): `fe80::1%em0 if=em0, flags=O, pref=medium, expire=29m52s`. */
export function formatRouter(r: Nd6RouterInfo): string {
  return `${r.address} if=${r.interface}, flags=${r.flags}, pref=${r.preference}, expire=${r.expires === null ? 'Never' : sec2str(r.expires)}\n`;
}

/** ndp -p (FreeBSD's plist): the prefix, its flags and lifetimes, and the routers that advertised it. */
export function formatPrefix(p: Nd6PrefixInfo): string {
  let s = `${p.prefix}/${p.prefixLen} if=${p.interface}\n`;
  s += `flags=${p.flags} vltime=${p.vltime ?? 'infinity'}, pltime=${p.pltime ?? 'infinity'}`;
  s += p.expires === null ? ', expire=Never' : p.expires > 0 ? `, expire=${sec2str(p.expires)}` : ', expired';
  s += `, ref=${p.address !== null ? 1 : 0}\n`;
  if (p.advertisedBy.length === 0) return s + '  No advertising router\n';
  s += '  advertised by\n';
  for (const r of p.advertisedBy) s += `    ${r.address} (${r.state})\n`;
  return s;
}

const ndp: Command = async (ctx) => {
  const g = getopt(ctx.argv.slice(1), 'acdnprsti:PR');
  if (typeof g === 'string') return usageError(ctx, CMD, `${g}; ${USAGE}`);
  const has = (c: string): boolean => g.count.has(c);
  const funcs = ['a', 'c', 'd', 's', 'i', 'p', 'r', 'P', 'R'].filter(has);
  if (funcs.length > 1) return usageError(ctx, CMD, USAGE);
  if (has('P') || has('R')) {
    if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
    if (has('P')) ctx.image.inet6.flushPrefixes();
    else ctx.image.inet6.flushRouters();
    return EX_OK;
  }
  if (has('r') || has('p')) {
    if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
    if (has('r')) {
      const rows = ctx.image.inet6.defaultRouters();
      if (ctx.json) printJson(ctx, { ndp: { defaultRouters: rows } });
      else ctx.stdout.write(rows.map(formatRouter).join(''));
    } else {
      const rows = ctx.image.inet6.prefixList();
      if (ctx.json) printJson(ctx, { ndp: { prefixList: rows } });
      else ctx.stdout.write(rows.map(formatPrefix).join(''));
    }
    return EX_OK;
  }
  if (has('i')) return g.rest.length === 0 ? ifinfo(ctx, g.value.get('i')!) : usageError(ctx, CMD, 'ndp -i IF: changing ND flags is not supported here');
  if (has('a')) {
    if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
    show(ctx, ctx.image.inet6.neighbours());
    return EX_OK;
  }
  if (has('c')) {
    if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
    let status = EX_OK;
    for (const r of ctx.image.inet6.neighbours()) {
      if (r.own || r.static) continue;
      const h = host(ctx, r.address);
      if (h === undefined) continue;
      const st = deleteOne(ctx, r.address, h);
      if (st !== EX_OK) status = st;
    }
    return status;
  }
  if (has('d')) {
    if (g.rest.length !== 1) return usageError(ctx, CMD, USAGE);
    const h = host(ctx, g.rest[0]!);
    return h === undefined ? EX_FAIL : deleteOne(ctx, g.rest[0]!, h);
  }
  if (has('s')) {
    const [hostText, macText, ...opts] = g.rest;
    if (hostText === undefined || macText === undefined) return usageError(ctx, CMD, USAGE);
    for (const o of opts) {
      if (o === 'temp' || o === 'proxy') return usageError(ctx, CMD, `${o}: temporary and proxy entries are not supported here`);
      return usageError(ctx, CMD, `${o}: unknown parameter; ${USAGE}`);
    }
    const h = host(ctx, hostText);
    if (h === undefined) return EX_FAIL;
    const mac = parseMac(macText);
    if (mac === undefined) return failure(ctx, CMD, `invalid Ethernet address '${macText}'`);
    return guarded(ctx, CMD, () => {
      ctx.image.inet6.setNeighbour(h.addr, mac, h.zone);
      return EX_OK;
    });
  }
  if (g.rest.length !== 1) return usageError(ctx, CMD, USAGE);
  const text = g.rest[0]!;
  const h = host(ctx, text);
  if (h === undefined) return EX_FAIL;
  const found = ctx.image.inet6.neighbours().filter((r) => matches(r, h));
  if (found.length === 0) {
    if (ctx.json) printJson(ctx, { ndp: { neighborCache: [] } });
    else ctx.stdout.write(`${text} (${ip6ToString(h.addr)}) -- no entry\n`);
    return EX_FAIL;
  }
  show(ctx, found);
  return EX_OK;
};

export const commands: Record<string, Command> = { ndp };
