/**
 * `route monitor` and `route flush` inside an image, printed as FreeBSD
 * 14's route(8) prints them (sbin/route/route.c: monitor(), print_rtmsg(),
 * pmsg_common(), pmsg_addrs(), printb(); flushroutes_fib()).
 */

import { RTF, RTM, type RouteMessage } from '../../lib/control/index.js';
import { ip4ToString } from '../../lib/wire/ipv4.js';
import { ip6ToString, parseIp6Cidr } from '../../lib/wire/ipv6.js';
import { EX_OK, type CommandContext } from '../command.js';
import { hostName } from './route.js';
import { printJson } from './util.js';
import { ROUTE_FLAG_NAMES } from './route_common.js';

/** route.c's msgtypes[], indexed by RTM_* type. */
const MSG_TYPES = [
  '',
  'RTM_ADD: Add Route',
  'RTM_DELETE: Delete Route',
  'RTM_CHANGE: Change Metrics or flags',
  'RTM_GET: Report Metrics',
  'RTM_LOSING: Kernel Suspects Partitioning',
  'RTM_REDIRECT: Told to use different route',
  'RTM_MISS: Lookup failed on this address',
];


/** RTA_* bits and route.c's addrnames[]. */
const RTA = { DST: 0x1, GATEWAY: 0x2, NETMASK: 0x4, AUTHOR: 0x40 } as const;
const ADDR_NAMES: ReadonlyArray<readonly [number, string]> = [
  [RTA.DST, 'DST'],
  [RTA.GATEWAY, 'GATEWAY'],
  [RTA.NETMASK, 'NETMASK'],
  [RTA.AUTHOR, 'AUTHOR'],
];

/** sizeof(struct rt_msghdr) on amd64, and SA_SIZE of a sockaddr_in (and of the sockaddr_dl_short of an interface gateway). */
const RT_MSGHDR_LEN = 152;
const SA_LEN = 16;

/** printb(): `<A,B>`, or nothing at all for no bits. */
function printb(bits: number, names: ReadonlyArray<readonly [number, string]>): string {
  const on = names.filter(([b]) => (bits & b) !== 0).map(([, n]) => n);
  return on.length === 0 ? '' : `<${on.join(',')}>`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3): `Fri Dec  4 18:49:07 2026\n`, local time. */
export function ctime(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}\n`;
}

/** routename() of an IPv4 sockaddr: `default` for 0.0.0.0 unless -n, else the address (no DNS in an image). */
function saName(a: number, numeric: boolean): string {
  if (a === 0 && !numeric) return 'default';
  return ip4ToString(a);
}

/** One message as monitor() prints it: the `got message` line, print_rtmsg() and its sockaddrs. */
export function formatRouteMessage(m: RouteMessage, numeric: boolean): string {
  const redirect = m.type === RTM.REDIRECT;
  let addrs = RTA.DST | RTA.GATEWAY;
  if (redirect) addrs |= RTA.AUTHOR;
  else if ((m.flags & RTF.HOST) === 0) addrs |= RTA.NETMASK;
  // A redirect is reported with the flags the kernel was asked for (rt_missmsg_fib), the others with the route's, done.
  const flags = redirect ? RTF.UP | RTF.GATEWAY : m.flags | RTF.DONE;
  const len = RT_MSGHDR_LEN + SA_LEN * (addrs === (RTA.DST | RTA.GATEWAY) ? 2 : 3);
  const gw = (m.flags & RTF.GATEWAY) !== 0 || redirect ? saName(m.gateway, numeric) : `link#${m.ifIndex}`;
  const mask = m.prefixLen === 0 ? 0 : (0xffffffff << (32 - m.prefixLen)) >>> 0;
  const sas = [saName(m.dst, numeric), gw];
  if ((addrs & RTA.NETMASK) !== 0) sas.push(saName(mask, numeric));
  if ((addrs & RTA.AUTHOR) !== 0) sas.push(saName(m.author, numeric));
  const type = MSG_TYPES[m.type] ?? `unknown type ${m.type}`;
  let s = `\ngot message of size ${len} on ${ctime(m.time)}`;
  s += `${type}: len ${len}, pid: 0, seq 0, errno 0, flags:${printb(flags, ROUTE_FLAG_NAMES)}\n`;
  s += `locks:  inits: \nsockaddrs: ${printb(addrs, ADDR_NAMES)}\n`;
  s += ` ${sas.join(' ')}\n`;
  return s;
}

/** `route monitor`: every change to the image's routing table until Ctrl-C or the client goes away. */
export async function routeMonitor(ctx: CommandContext, numeric: boolean): Promise<number> {
  const stop = ctx.image.routes.monitor((m) => {
    if (ctx.json) {
      ctx.stdout.write(
        JSON.stringify({
          type: MSG_TYPES[m.type]?.split(':')[0] ?? m.type,
          time: new Date(m.time).toISOString(),
          destination: ip4ToString(m.dst),
          prefixLen: m.prefixLen,
          gateway: (m.flags & RTF.GATEWAY) !== 0 || m.type === RTM.REDIRECT ? ip4ToString(m.gateway) : `link#${m.ifIndex}`,
          interface: m.ifName,
          flags: printb(m.flags, ROUTE_FLAG_NAMES).slice(1, -1).split(',').filter((f) => f !== ''),
          ...(m.author !== 0 ? { author: ip4ToString(m.author) } : {}),
        }) + '\n',
      );
    } else ctx.stdout.write(formatRouteMessage(m, numeric));
  });
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    stop();
  }
  return EX_OK;
}

/** netname(): a network address without its trailing zero octets (`10.2`), `default` for 0. */
function netName(a: number): string {
  if (a === 0) return 'default';
  const o = [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff];
  if ((a & 0xffffff) === 0) return `${o[0]}`;
  if ((a & 0xffff) === 0) return `${o[0]}.${o[1]}`;
  if ((a & 0xff) === 0) return `${o[0]}.${o[1]}.${o[2]}`;
  return o.join('.');
}

/** printf("%-20.20s ") */
const col20 = (s: string): string => `${s.slice(0, 20).padEnd(20)} `;

/**
 * `route flush`: every route through a gateway goes, IPv4 unless `af` is
 * inet6, IPv6 unless it is inet; one `DEST GATEWAY -fib 0 done` line each
 * unless -q.
 */
export function routeFlush(ctx: CommandContext, af: 'inet' | 'inet6' | undefined, quiet: boolean, numeric: boolean): number {
  let s = '';
  const flushed: Array<{ destination: string; gateway: string }> = [];
  if (af !== 'inet6') {
    for (const r of ctx.image.routes.flush()) {
      const dst = (r.flags & RTF.HOST) !== 0 ? hostName(r.dst, numeric) : netName(r.dst);
      s += `${col20(dst)}${col20(hostName(r.gateway, numeric))}-fib 0   done\n`;
      flushed.push({ destination: r.prefixLen === 0 ? 'default' : `${ip4ToString(r.dst)}/${r.prefixLen}`, gateway: ip4ToString(r.gateway) });
    }
  }
  if (af !== 'inet') {
    const inet6 = ctx.image.inet6;
    for (const r of inet6.staticRoutes()) {
      if (r.gateway === undefined) continue;
      const d = parseIp6Cidr(r.dst);
      if (d === undefined || d.prefixLen === undefined) continue;
      inet6.deleteRoute(d.addr, d.prefixLen);
      // netname()/routename() of an IPv6 sockaddr: the address alone.
      const dst = d.prefixLen === 0 ? 'default' : ip6ToString(d.addr);
      s += `${col20(dst)}${col20(r.gateway)}-fib 0   done\n`;
      flushed.push({ destination: d.prefixLen === 0 ? 'default' : r.dst, gateway: r.gateway });
    }
  }
  if (ctx.json) printJson(ctx, { flushed });
  else if (!quiet) ctx.stdout.write(s);
  return EX_OK;
}
