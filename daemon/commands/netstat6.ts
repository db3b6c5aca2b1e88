/**
 * The Internet6 section of `netstat -r`: the image's IPv6 routes in FreeBSD
 * 14's layout (with -n the address columns are 33 and 29 wide, as netstat's
 * WID_DST_DEFAULT/WID_GW_DEFAULT give them for AF_INET6).
 */

import { rtFlagString, type Route6Info } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';
import { left, right } from './util.js';

const WID_FLAGS = 6;
const WID_IF = 12;

export function route6Rows(ctx: CommandContext): Route6Info[] {
  return ctx.image.inet6.routes();
}

export function route6Json(rows: Route6Info[]): Array<Record<string, unknown>> {
  return rows.map((r) => ({ destination: r.destination, prefixLen: r.prefixLen, gateway: r.gateway, flags: rtFlagString(r.flags), netif: r.interface, mtu: r.mtu, use: r.use }));
}

export function route6Table(rows: Route6Info[], numeric: boolean, wide: boolean): string {
  const wd = numeric ? 33 : 18;
  const wg = numeric ? 29 : 18;
  const col = (t: string, w: number): [string, number] => (numeric || wide ? [left(t, w) + ' ', Math.max(0, t.length - w)] : [left(t.slice(0, w), w) + ' ', 0]);
  let s = `${left('Destination', wd)} ${left('Gateway', wg)} ${left('Flags', WID_FLAGS)} ${right('Netif', WID_IF)} ${right('Expire', 6)}\n`;
  for (const r of rows) {
    const [d, p1] = col(r.destination, wd);
    const [g, p2] = col(r.gateway, wg - p1);
    s += d + g + left(rtFlagString(r.flags), WID_FLAGS - p2) + ' ' + right(wide ? r.interface : r.interface.slice(0, WID_IF), WID_IF) + '\n';
  }
  return s;
}
