/**
 * The IPv6 parts of netstat: the Internet6 section of `netstat -r` (the
 * image's IPv6 routes in FreeBSD 14's layout; with -n the address columns
 * are 33 and 29 wide, as netstat's WID_DST_DEFAULT/WID_GW_DEFAULT give them
 * for AF_INET6), and `netstat -s -p ip6` as FreeBSD 14's ip6_stats() prints it.
 */

import { rtFlagString, type ProtocolStats, type Route6Info } from '../../lib/control/index.js';
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

/**
 * FreeBSD 14's ip6_stats() lines: [format, counter]; `%s` is the plural
 * ending. Counters this stack has no use for (a redirect sent, a fabricated
 * header, a gif tunnel) print 0 as they would on a FreeBSD host without
 * them. Counters FreeBSD keeps but does not print (atomicfrags) and
 * vimage's own (noproto) are in --json only.
 */
const IP6_LINES: ReadonlyArray<readonly [string, string]> = [
  ['%n total packet%s received', 'total'],
  ['%n with size smaller than minimum', 'toosmall'],
  ['%n with data size < data length', 'tooshort'],
  ['%n with bad options', 'badoptions'],
  ['%n with incorrect version number', 'badvers'],
  ['%n fragment%s received', 'fragments'],
  ['%n fragment%s dropped (dup or out of space)', 'fragdropped'],
  ['%n fragment%s dropped after timeout', 'fragtimeout'],
  ['%n fragment%s that exceeded limit', 'fragoverflow'],
  ['%n packet%s reassembled ok', 'reassembled'],
  ['%n packet%s for this host', 'delivered'],
  ['%n packet%s forwarded', 'forward'],
  ['%n packet%s not forwardable', 'cantforward'],
  ['%n redirect%s sent', 'redirectsent'],
  ['%n packet%s sent from this host', 'localout'],
  ['%n packet%s sent with fabricated ip header', 'rawout'],
  ['%n output packet%s dropped due to no bufs, etc.', 'odropped'],
  ['%n output packet%s discarded due to no route', 'noroute'],
  ['%n output datagram%s fragmented', 'fragmented'],
  ['%n fragment%s created', 'ofragments'],
  ["%n datagram%s that can't be fragmented", 'cantfrag'],
  ['%n packet%s that violated scope rules', 'badscope'],
  ["%n multicast packet%s which we don't join", 'notmember'],
];

/** `netstat -s -p ip6` (with -ss `omitZero`: lines of 0 left out, as FreeBSD's sflag > 1). */
export function ip6StatsText(p: ProtocolStats, omitZero: boolean): string {
  const st = new Map(p.counters.map((c) => [c.name, c.value]));
  const line = (fmt: string, k: string): string => {
    const n = st.get(k) ?? 0;
    return omitZero && n === 0 ? '' : `\t${fmt.replace('%n', String(n)).replace('%s', n === 1 ? '' : 's')}\n`;
  };
  let s = 'ip6:\n';
  for (const [fmt, k] of IP6_LINES) s += line(fmt, k);
  s += '\tMbuf statistics:\n\t\t0 one mbuf\n\t\t0 one ext mbuf\n\t\t0 two or more ext mbuf\n';
  s += line('%n packet%s whose headers are not continuous', 'exthdrtoolong');
  s += line("%n tunneling packet%s that can't find gif", 'nogif');
  s += line('%n packet%s discarded because of too many headers', 'toomanyhdr');
  s += line('%n failure%s of source address selection', 'sources_none');
  s += '\tSource addresses selection rule applied:\n';
  return s;
}
