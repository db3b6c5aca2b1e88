/**
 * arp(8) inside an image: show (-a, HOST), delete (-d HOST, -d -a) and set
 * (-s/-S HOST MAC [temp]) entries of the image's ARP cache, in FreeBSD's
 * format. The image's own addresses are listed as permanent entries, as
 * FreeBSD's lltable holds them; they cannot be deleted here.
 *
 * There is no resolver in an image, so the host name is always `?`.
 */

import type { NeighbourInfo } from '../../lib/control/index.js';
import { macToString, parseMac } from '../../lib/wire/ethernet.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { EX_FAIL, EX_OK, type Command, type CommandContext } from '../command.js';
import { failure, getopt, guarded, printJson, usageError } from './util.js';

const CMD = 'arp';
const USAGE =
  'usage: arp [-n] [-i IF] HOST | arp [-n] [-i IF] -a | arp -d HOST | arp -d [-i IF] -a | arp -s HOST MAC [temp] | arp -S HOST MAC [temp]';

type Row = NeighbourInfo;

function rows(ctx: CommandContext, ifname: string | undefined): Row[] {
  return ctx.image.neighbours.list(ifname);
}

function formatRow(r: Row): string {
  let s = `? (${ip4ToString(r.ip)}) at ${r.mac === null ? '(incomplete)' : macToString(r.mac)} on ${r.interface}`;
  if (r.expires === null) s += ' permanent';
  else if (r.expires > 0) s += ` expires in ${r.expires} seconds`;
  else s += ' expired';
  return s + ' [ethernet]\n';
}

/** FreeBSD's libxo fields (`arp --libxo json`), in the one key style of every --json (camelCase, docs/api.md). */
function rowJson(r: Row): Record<string, unknown> {
  return {
    hostname: '?',
    ipAddress: ip4ToString(r.ip),
    ...(r.mac === null ? { incomplete: true } : { macAddress: macToString(r.mac) }),
    interface: r.interface,
    ...(r.expires === null ? { permanent: true } : r.expires > 0 ? { expires: r.expires } : { expired: true }),
    type: 'ethernet',
  };
}

function show(ctx: CommandContext, list: Row[]): void {
  if (ctx.json) printJson(ctx, { arp: { arpCache: list.map(rowJson) } });
  else ctx.stdout.write(list.map(formatRow).join(''));
}

/** A host operand: a dotted quad (there is no resolver in an image). */
function host(ctx: CommandContext, text: string): number | undefined {
  const a = parseIp4(text);
  if (a === undefined) ctx.stderr.write(`${CMD}: ${text}: Unknown host; give an IPv4 address (no name service in an image)\n`);
  return a;
}

function deleteOne(ctx: CommandContext, text: string, ip: number): number {
  const own = ctx.image.interfaces.ownerOf(ip);
  if (own !== undefined) return failure(ctx, CMD, `${text}: is an address of ${own}; remove it with 'ifconfig ${own} inet ${ip4ToString(ip)} -alias'`);
  return guarded(ctx, CMD, () => {
    ctx.image.neighbours.delete(ip);
    ctx.stdout.write(`${text} (${ip4ToString(ip)}) deleted\n`);
    return EX_OK;
  });
}

function set(ctx: CommandContext, args: readonly string[], replace: boolean): number {
  if (args.length < 2) return usageError(ctx, CMD, USAGE);
  const [hostText, macText, ...opts] = args as [string, string, ...string[]];
  let temp = false;
  for (const o of opts) {
    if (o === 'temp') temp = true;
    else if (o === 'pub' || o === 'only' || o === 'blackhole' || o === 'reject') return usageError(ctx, CMD, `${o}: proxy, blackhole and reject entries are not supported here`);
    else return usageError(ctx, CMD, `Invalid parameter '${o}'; ${USAGE}`);
  }
  const ip = host(ctx, hostText);
  if (ip === undefined) return EX_FAIL;
  const mac = parseMac(macText);
  if (mac === undefined) return failure(ctx, CMD, `invalid Ethernet address '${macText}'; give one like 02:00:00:00:00:01`);
  const own = ctx.image.interfaces.ownerOf(ip);
  if (own !== undefined) return failure(ctx, CMD, `${hostText}: is an address of ${own}; its entry is permanent`);
  if (!replace && ctx.image.neighbours.list().some((r) => r.ip === ip && r.static)) {
    return failure(ctx, CMD, `set ${hostText}: a permanent entry exists; use 'arp -S' to replace it or 'arp -d' first`);
  }
  return guarded(ctx, CMD, () => {
    ctx.image.neighbours.set(ip, mac, { temp, replace });
    return EX_OK;
  });
}

const arp: Command = async (ctx) => {
  const g = getopt(ctx.argv.slice(1), 'adnsSi:f:');
  if (typeof g === 'string') return usageError(ctx, CMD, `${g}; ${USAGE}`);
  const has = (c: string): boolean => g.count.has(c);
  if (has('f')) return usageError(ctx, CMD, '-f: there is no file system in an image; use arp -s for each entry');
  const funcs = ['d', 's', 'S'].filter(has);
  if (funcs.length > 1) return usageError(ctx, CMD, USAGE);
  const ifname = g.value.get('i');
  if (ifname !== undefined) {
    if (has('s') || has('S') || (has('d') && !has('a'))) return failure(ctx, CMD, '-i not applicable to this operation');
    if (!ctx.image.interfaces.has(ifname)) return failure(ctx, CMD, `interface ${ifname} does not exist`);
  }

  if (has('s') || has('S')) return set(ctx, g.rest, has('S'));

  if (has('d')) {
    if (has('a')) {
      if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
      let status = EX_OK;
      for (const r of rows(ctx, ifname)) {
        if (r.own) continue;
        const s = deleteOne(ctx, ip4ToString(r.ip), r.ip);
        if (s !== EX_OK) status = s;
      }
      return status;
    }
    if (g.rest.length !== 1) return usageError(ctx, CMD, USAGE);
    const text = g.rest[0]!;
    const ip = host(ctx, text);
    return ip === undefined ? EX_FAIL : deleteOne(ctx, text, ip);
  }

  if (has('a')) {
    if (g.rest.length !== 0) return usageError(ctx, CMD, USAGE);
    show(ctx, rows(ctx, ifname));
    return EX_OK;
  }
  if (g.rest.length !== 1) return usageError(ctx, CMD, USAGE);
  const text = g.rest[0]!;
  const ip = host(ctx, text);
  if (ip === undefined) return EX_FAIL;
  const found = rows(ctx, ifname).filter((r) => r.ip === ip);
  if (found.length === 0) {
    if (ctx.json) printJson(ctx, { arp: { arpCache: [] } });
    else ctx.stdout.write(`${text} (${ip4ToString(ip)}) -- no entry${ifname !== undefined ? ` on ${ifname}` : ''}\n`);
    return EX_FAIL;
  }
  show(ctx, found);
  return EX_OK;
};

export const commands: Record<string, Command> = { arp };
