/**
 * route(8) inside an image: add, delete, change and get IPv4 routes, with
 * FreeBSD's arguments and messages (`add net 10.2.0.0: gateway 10.1.0.1`,
 * the `route get` block). Failures are one line on stderr, FreeBSD's
 * `add net ...: gateway ... fib 0: route already in table` prefixed by
 * `route: `, and status 1.
 */

import { RTF, type RouteSpec, type RouteTarget } from '../../lib/control/index.js';
import { ip4ToString, maskToLen, parseIp4, prefixMask } from '../../lib/wire/ipv4.js';
import { EX_FAIL, EX_OK, type Command, type CommandContext } from '../command.js';
import { parseIntIn, printJson, usageError } from './util.js';
import { optionLetters, routeAct, routeFailed, routeGetTail } from './route_common.js';
import { route6 } from './route6.js';
import { routeFlagNames } from './route_common.js';
import { routeFlush, routeMonitor } from './route_monitor.js';

const CMD = 'route';
const USAGE = 'usage: route [-46nqv] add|delete|change|get [-net|-host] destination [gateway | -interface IF] [-netmask mask] [-blackhole|-reject] [-mtu N] | flush [-4|-6] | monitor';


/** An address as route(8) and netstat print it without DNS: `default`, `localhost`, or the dotted quad. */
export function hostName(a: number, numeric: boolean): string {
  if (!numeric && a === 0x7f000001) return 'localhost';
  return ip4ToString(a);
}

interface Req {
  cmd: 'add' | 'delete' | 'change' | 'get';
  /** Destination as typed, for messages. */
  destText: string;
  dst: number;
  /** Prefix length; undefined for `route get A.B.C.D` (longest match). */
  prefixLen: number | undefined;
  host: boolean;
  gatewayText?: string;
  iface: boolean;
  flags: number;
  mtu?: number;
}

/** Number of trailing zero octets decides the mask of `-net A.B.C.D` given without one. */
function impliedNetLen(a: number): number {
  if (a === 0) return 0;
  let len = 32;
  while (len > 8 && (a & ((1 << (32 - len + 8)) - 1)) === 0) len -= 8;
  return len;
}

function parseReq(cmd: Req['cmd'], args: readonly string[]): Req | string {
  let forceNet = false;
  let forceHost = false;
  let maskLen: number | undefined;
  let iface = false;
  let flags = 0;
  let mtu: number | undefined;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string | undefined => {
      const v = args[i + 1];
      if (v !== undefined) i++;
      return v;
    };
    if (!a.startsWith('-')) {
      positional.push(a);
      continue;
    }
    switch (a) {
      case '-net':
        forceNet = true;
        break;
      case '-host':
        forceHost = true;
        break;
      case '-inet':
      case '-4':
        break;
      case '-netmask': {
        const v = next();
        if (v === undefined) return '-netmask: missing mask (e.g. -netmask 255.255.255.0)';
        const m = /^0x[0-9a-f]{1,8}$/i.test(v) ? parseInt(v.slice(2), 16) >>> 0 : parseIp4(v);
        if (m === undefined) return `bad netmask: ${v}; give one like 255.255.255.0`;
        const len = maskToLen(m);
        if (len < 0) return `bad netmask: ${v} is not contiguous`;
        maskLen = len;
        forceNet = true;
        break;
      }
      case '-prefixlen': {
        const v = next();
        const len = v === undefined ? undefined : parseIntIn(v, 0, 32);
        if (len === undefined) return `-prefixlen: ${v ?? 'missing value'}: invalid prefixlen; give 0 to 32`;
        maskLen = len;
        forceNet = len !== 32;
        forceHost = len === 32;
        break;
      }
      case '-interface':
      case '-iface':
        iface = true;
        break;
      case '-gateway': {
        const v = next();
        if (v === undefined) return '-gateway: missing address';
        if (positional.length < 1) return '-gateway: give the destination first';
        positional.splice(1, 0, v);
        break;
      }
      case '-blackhole':
        flags |= RTF.BLACKHOLE;
        break;
      case '-reject':
        flags |= RTF.REJECT;
        break;
      case '-static':
        break;
      case '-mtu': {
        const v = next();
        const n = v === undefined ? undefined : parseIntIn(v, 68, 65535);
        if (n === undefined) return `-mtu: ${v ?? 'missing value'}: give an MTU between 68 and 65535`;
        mtu = n;
        break;
      }
      case '-fib': {
        const v = next();
        if (v !== '0') return `invalid fib number: ${v ?? ''}; an image has one routing table, fib 0`;
        break;
      }
      default:
        return `bad keyword: ${a.slice(1)}`;
    }
  }
  if ((flags & RTF.BLACKHOLE) !== 0 && (flags & RTF.REJECT) !== 0) return 'choose one of -blackhole or -reject, not both';
  const destText = positional[0];
  if (destText === undefined) return 'destination parameter required';
  if (positional.length > 3) return `${positional[3]}: unexpected argument`;
  if (positional[2] !== undefined) {
    const m = parseIp4(positional[2]);
    const len = m === undefined ? -1 : maskToLen(m);
    if (len < 0) return `bad netmask: ${positional[2]}`;
    maskLen = len;
    forceNet = true;
  }
  let dst: number;
  let prefixLen: number | undefined;
  let host: boolean;
  if (destText === 'default') {
    dst = 0;
    prefixLen = 0;
    host = false;
  } else {
    const slash = destText.indexOf('/');
    const addr = parseIp4(slash < 0 ? destText : destText.slice(0, slash));
    if (addr === undefined) return `bad address: ${destText}`;
    dst = addr;
    if (slash >= 0) {
      const lenText = destText.slice(slash + 1);
      const len = /^\d{1,2}$/.test(lenText) ? Number(lenText) : -1;
      if (len < 0 || len > 32) return `bad mask length: ${lenText}`;
      prefixLen = len;
      host = forceHost || len === 32;
    } else if (maskLen !== undefined) {
      prefixLen = maskLen;
      host = maskLen === 32;
    } else if (forceNet) {
      prefixLen = impliedNetLen(addr);
      host = prefixLen === 32;
    } else {
      host = true;
      prefixLen = cmd === 'get' ? undefined : 32;
    }
    if (forceHost) {
      host = true;
      prefixLen = cmd === 'get' && slash < 0 ? undefined : 32;
    }
  }
  if (prefixLen !== undefined && (dst & ~prefixMask(prefixLen)) !== 0) {
    return `${destText}: host bits are set for a /${prefixLen} network; give the network address ${ip4ToString((dst & prefixMask(prefixLen)) >>> 0)}`;
  }
  const req: Req = { cmd, destText, dst, prefixLen, host, iface, flags, ...(mtu !== undefined ? { mtu } : {}) };
  if (positional[1] !== undefined) req.gatewayText = positional[1];
  if (iface && req.gatewayText === undefined) return '-interface: give the interface name, e.g. -interface epair0a';
  return req;
}

/** `add net 10.2.0.0: gateway 10.1.0.1`, as route(8) prefixes its reports. */
function what(req: Req): string {
  let s = `${req.cmd} ${req.host ? 'host' : 'net'} ${req.destText}`;
  if (req.gatewayText !== undefined) s += `: gateway ${req.gatewayText}`;
  return s;
}

/** Where the gateway argument sends the route; an error text for a usage mistake. */
function target(ctx: CommandContext, req: Req): RouteTarget | string {
  const g = req.gatewayText;
  if (g === undefined) {
    if ((req.flags & (RTF.BLACKHOLE | RTF.REJECT)) !== 0) return { none: true };
    return `${req.cmd}: a gateway address or -interface IF is required`;
  }
  if (req.iface) {
    const name = ctx.image.routes.interfaceFor(g, parseIp4(g));
    return name === undefined ? `interface '${g}' does not exist` : { interface: name };
  }
  const gw = parseIp4(g);
  if (gw === undefined) return `bad address: ${g}`;
  return { gateway: gw };
}

/** Run a change through the control surface; its coded errors become route(8)'s `fib 0: why` line. */
function act(ctx: CommandContext, req: Req, quiet: boolean, fn: () => void): number {
  return routeAct(ctx, what(req), quiet, fn);
}

function doAddChange(ctx: CommandContext, req: Req, quiet: boolean): number {
  const t = target(ctx, req);
  if (typeof t === 'string') return usageError(ctx, CMD, t);
  const spec: RouteSpec = { dst: req.dst, prefixLen: req.prefixLen!, target: t, flags: req.flags, ...(req.mtu !== undefined ? { mtu: req.mtu } : {}) };
  const routes = ctx.image.routes;
  return act(ctx, req, quiet, () => (req.cmd === 'add' ? routes.add(spec) : routes.change(spec)));
}

function doDelete(ctx: CommandContext, req: Req, quiet: boolean): number {
  const prefixLen = req.prefixLen!;
  const routes = ctx.image.routes;
  if (routes.get(req.dst, prefixLen) === undefined) return routeFailed(ctx, what(req), 'not in table');
  let gw: number | undefined;
  if (req.gatewayText !== undefined && !req.iface) {
    gw = parseIp4(req.gatewayText);
    if (gw === undefined) return usageError(ctx, CMD, `bad address: ${req.gatewayText}`);
  }
  return act(ctx, req, quiet, () => routes.delete(req.dst, prefixLen, gw));
}

/** The metrics block of `route get`. */
function maskName(len: number, numeric: boolean): string {
  return len === 0 ? 'default' : hostName(prefixMask(len), numeric);
}

function doGet(ctx: CommandContext, req: Req, numeric: boolean): number {
  const routes = ctx.image.routes;
  const r = req.prefixLen === undefined ? routes.lookup(req.dst) : routes.get(req.dst, req.prefixLen);
  if (r === undefined) {
    ctx.stderr.write(`${CMD}: route has not been found; 'netstat -rn' lists the routes\n`);
    return EX_FAIL;
  }
  const flags = r.flags | RTF.DONE;
  if (ctx.json) {
    printJson(ctx, {
      routeTo: req.destText === 'default' ? 'default' : ip4ToString(req.dst),
      destination: r.prefixLen === 0 ? 'default' : ip4ToString(r.dst),
      prefixLen: r.prefixLen,
      ...((r.flags & RTF.HOST) === 0 ? { mask: ip4ToString(r.mask) } : {}),
      ...((r.flags & RTF.GATEWAY) !== 0 ? { gateway: ip4ToString(r.gateway) } : {}),
      fib: 0,
      interface: r.interface,
      flags: routeFlagNames(flags),
      mtu: r.mtu,
      weight: 1,
      expire: r.expire,
    });
    return EX_OK;
  }
  const dstName = (a: number, len: number): string => (len === 0 && a === 0 ? 'default' : hostName(a, numeric));
  let s = `   route to: ${req.destText === 'default' ? 'default' : hostName(req.dst, numeric)}\n`;
  s += `destination: ${dstName(r.dst, r.prefixLen)}\n`;
  if ((r.flags & RTF.HOST) === 0) s += `       mask: ${maskName(r.prefixLen, numeric)}\n`;
  if ((r.flags & RTF.GATEWAY) !== 0) s += `    gateway: ${hostName(r.gateway, numeric)}\n`;
  s += routeGetTail(r.interface, routeFlagNames(flags), r.mtu, r.expire);
  ctx.stdout.write(s);
  return EX_OK;
}

const route: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  let numeric = false;
  let quiet = false;
  let af: 'inet' | 'inet6' | undefined;
  const { letters, i } = optionLetters(args);
  for (const c of letters) {
    if (c === 'n') numeric = true;
    else if (c === 'q') quiet = true;
    else if (c === 'v' || c === 'd' || c === 't') continue;
    else if (c === '4') af = 'inet';
    else if (c === '6') af = 'inet6';
    else return usageError(ctx, CMD, `illegal option -- ${c}; ${USAGE}`);
  }
  const word = args[i];
  if (word === undefined) return usageError(ctx, CMD, USAGE);
  const rest = args.slice(i + 1);
  if (word === 'flush') {
    for (const a of rest) {
      if (a === '-4' || a === '-inet') af = 'inet';
      else if (a === '-6' || a === '-inet6') af = 'inet6';
      else if (a === '-fib') continue;
      else if (a === '0') continue;
      else return usageError(ctx, CMD, `flush: ${a}: unknown modifier; use -4/-inet or -6/-inet6`);
    }
    return routeFlush(ctx, af, quiet, numeric);
  }
  if (word === 'monitor') {
    if (af === 'inet6') return usageError(ctx, CMD, 'monitor -6: only IPv4 routing messages are reported in an image yet');
    return routeMonitor(ctx, numeric);
  }
  // `-6`/`-inet6` among the modifiers, or before the command, selects IPv6 (route6.ts).
  if (af === 'inet6' || rest.includes('-inet6') || rest.includes('-6')) {
    const argv = [ctx.argv[0]!, '-6', ...args.slice(0, i).filter((a) => a !== '-6'), word, ...rest.filter((a) => a !== '-6' && a !== '-inet6')];
    return route6({ ...ctx, argv });
  }
  const cmd = word === 'show' ? 'get' : word === 'del' ? 'delete' : word;
  if (cmd !== 'add' && cmd !== 'delete' && cmd !== 'change' && cmd !== 'get') return usageError(ctx, CMD, `${word}: unknown command; ${USAGE}`);
  const req = parseReq(cmd, rest);
  if (typeof req === 'string') return usageError(ctx, CMD, req);
  switch (req.cmd) {
    case 'get':
      return doGet(ctx, req, numeric);
    case 'delete':
      return doDelete(ctx, req, quiet);
    default:
      return doAddChange(ctx, req, quiet);
  }
};

export const commands: Record<string, Command> = { route };
