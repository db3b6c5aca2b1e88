/**
 * netstat(1) inside an image: the routing table (-r), interfaces (-i, -I),
 * protocol statistics (-s, -p) and the (empty, for now) list of active
 * sockets, in FreeBSD 14's layouts and column widths.
 *
 * Protocol statistics print every counter with the description from its
 * stats definition (the netstat text), singular for a count of one as
 * FreeBSD's plural() does; `-ss` leaves out zero counters and `-z` zeroes
 * them after printing.
 */

import {
  IFF,
  PROTOCOL_NAMES,
  RTF,
  isProtocolName,
  rtFlagString,
  type HistogramEntry,
  type InterfaceCounters,
  type InterfaceInfo,
  type ProtocolName,
  type ProtocolStats,
  type RouteInfo,
} from '../../lib/control/index.js';
import type { SocketRow } from '../../lib/socket/list.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { EX_OK, EX_UNAVAILABLE, type Command, type CommandContext } from '../command.js';
import { ip6StatsText, route6Json, route6Rows, route6Table } from './netstat6.js';
import { hostName } from './route.js';
import { getopt, left, parseIntIn, printJson, right, usageError } from './util.js';
import { sidewaysIntpr } from './netstat_w.js';

const CMD = 'netstat';
const USAGE = 'usage: netstat [-46aLn] [-f inet] [-p tcp|udp] | -r [-46n] [-f inet] | -i [-bdn] [-f inet|link] [-I IF] | -w WAIT [-I IF] [-d] [-q COUNT] | -s [-s] [-z] [-p tcp|udp|ip|icmp|arp]';

// ---------------------------------------------------------------- routes

/** `10.2.0.0/24`, `default`, or a host name for host routes (FreeBSD's fmt_sockaddr). */
function destName(r: RouteInfo, numeric: boolean): string {
  if ((r.flags & RTF.HOST) !== 0) return hostName(r.dst, numeric);
  if (r.prefixLen === 0 && r.dst === 0) return 'default';
  return `${ip4ToString(r.dst)}/${r.prefixLen}`;
}

function gatewayName(r: RouteInfo, numeric: boolean): string {
  if ((r.flags & RTF.GATEWAY) !== 0) return hostName(r.gateway, numeric);
  return `link#${r.interfaceIndex}`;
}

/**
 * One column as FreeBSD's p_sockaddr prints it: truncated to the width by
 * default, with -n never truncated and the overflow taken from the next
 * column. Returns the text (with its separating space) and the overflow.
 */
function column(text: string, width: number, wide: boolean): [string, number] {
  if (wide) return [left(text, width) + ' ', Math.max(0, text.length - width)];
  return [left(text.slice(0, Math.max(0, width)), width) + ' ', 0];
}

const WID_DST = 18;
const WID_GW = 18;
const WID_FLAGS = 6;
const WID_IF = 12;
const WID_EXPIRE = 6;

function routeTable(ctx: CommandContext, numeric: boolean, wide: boolean, af?: string): number {
  const routes = af === 'inet6' ? [] : ctx.image.routes.list();
  const v6 = af === 'inet' ? undefined : route6Rows(ctx);
  if (ctx.json) {
    printJson(ctx, {
      ...(v6 !== undefined ? { routes6: route6Json(v6) } : {}),
      routes: routes.map((r) => ({
        destination: destName(r, true),
        prefixLen: r.prefixLen,
        gateway: gatewayName(r, true),
        flags: rtFlagString(r.flags),
        netif: r.interface,
        mtu: r.mtu,
        use: r.use,
        ...(r.expire > 0 ? { expire: r.expire } : {}),
      })),
    });
    return EX_OK;
  }
  let s = 'Routing tables\n';
  if (af !== 'inet6') s += '\nInternet:\n';
  if (af !== 'inet6') s += `${left('Destination', WID_DST)} ${left('Gateway', WID_GW)} ${left('Flags', WID_FLAGS)} ${right('Netif', WID_IF)} ${right('Expire', WID_EXPIRE)}\n`;
  for (const r of routes) {
    const [d, p1] = column(destName(r, numeric), WID_DST, numeric || wide);
    const [g, p2] = column(gatewayName(r, numeric), WID_GW - p1, numeric || wide);
    // A route that expires (a redirect's) shows the seconds left (p_rtentry_sysctl's expire-time).
    const exp = r.expire > 0 ? ' ' + right(r.expire, WID_EXPIRE) : '';
    s += d + g + left(rtFlagString(r.flags), WID_FLAGS - p2) + ' ' + right(wide ? r.interface : r.interface.slice(0, WID_IF), WID_IF) + exp + '\n';
  }
  if (v6 !== undefined) s += '\nInternet6:\n' + route6Table(v6, numeric, wide);
  ctx.stdout.write(s);
  return EX_OK;
}

// ------------------------------------------------------------ interfaces

interface IfRow {
  ifp: InterfaceInfo & { counters: InterfaceCounters };
  name: string;
  mtu: string;
  network: string;
  address: string;
  link: boolean;
}

/** FreeBSD's max_num_len: the column width a counter needs (quirk included). */
function numLen(max: number, n: number): number {
  let len = 2;
  for (; n > 10; len++) n = Math.floor(n / 10);
  return Math.max(max, len);
}

function interfaceTable(ctx: CommandContext, o: { numeric: boolean; bytes: boolean; drops: boolean; af: string | undefined; only: string | undefined }): number {
  const rows: IfRow[] = [];
  for (const ifp of ctx.image.interfaces.listWithCounters()) {
    if (o.only !== undefined && ifp.name !== o.only) continue;
    const name = (ifp.flags & IFF.UP) !== 0 ? ifp.name : ifp.name + '*';
    if (o.af === undefined || o.af === 'link') {
      rows.push({ ifp, name, mtu: String(ifp.mtu), network: `<Link#${ifp.index}>`, address: ifp.ether ?? ifp.name, link: true });
    }
    if (o.af === undefined || o.af === 'inet') {
      for (const a of ifp.inet) {
        const addr = parseIp4(a.address)!;
        const mask = parseIp4(a.netmask)!;
        rows.push({ ifp, name, mtu: '-', network: `${ip4ToString((addr & mask) >>> 0)}/${a.prefixLen}`, address: hostName(addr, o.numeric), link: false });
      }
    }
  }
  if (ctx.json) {
    printJson(ctx, {
      interfaces: rows.map((r) => {
        const c = r.ifp.counters;
        return {
          name: r.ifp.name,
          flags: r.ifp.flags & ~IFF.LOWER_UP,
          mtu: r.link ? r.ifp.mtu : null,
          network: r.network,
          address: r.address,
          receivedPackets: c.ipackets,
          ...(r.link ? { receivedErrors: c.ierrors, droppedPackets: c.iqdrops } : {}),
          receivedBytes: c.ibytes,
          sentPackets: c.opackets,
          ...(r.link ? { sendErrors: c.oerrors, collisions: c.collisions, sentDropped: c.oqdrops } : {}),
          sentBytes: c.obytes,
        };
      }),
    });
    return EX_OK;
  }
  let nameLen = 5;
  let netLen = 'Network '.length;
  let addrLen = 'Address '.length;
  let pktLen = 8;
  let errLen = 5;
  let byteLen = 10;
  for (const r of rows) {
    const c = r.ifp.counters;
    nameLen = Math.max(nameLen, r.name.length);
    netLen = Math.max(netLen, r.network.length);
    addrLen = Math.max(addrLen, r.address.length);
    pktLen = numLen(numLen(pktLen, c.ipackets), c.opackets);
    errLen = numLen(numLen(numLen(errLen, c.ierrors), c.iqdrops), c.collisions);
    if (o.drops) errLen = numLen(errLen, c.oqdrops);
    if (o.bytes) byteLen = numLen(numLen(byteLen, c.ibytes), c.obytes);
  }
  let s = left('Name', nameLen) + ` ${right('Mtu', 5)} ${left('Network', netLen)}  ${left('Address', addrLen)} ${right('Ipkts', pktLen)} ${right('Ierrs', errLen)} ${right('Idrop', errLen)}`;
  if (o.bytes) s += ` ${right('Ibytes', byteLen)}`;
  s += ` ${right('Opkts', pktLen)} ${right('Oerrs', errLen)}`;
  if (o.bytes) s += ` ${right('Obytes', byteLen)}`;
  s += ` ${right('Coll', errLen)}`;
  if (o.drops) s += ` ${right('Drop', errLen)}`;
  s += '\n';
  for (const r of rows) {
    const c = r.ifp.counters;
    const stat = (v: number, w: number, show: boolean): string => right(show ? v : '-', w);
    let line = left(r.name, nameLen) + right(r.mtu, 6) + ' ';
    line += left(r.network, netLen) + '  ' + left(r.address, addrLen) + ' ';
    line += stat(c.ipackets, pktLen, true) + ' ';
    line += stat(c.ierrors, errLen, r.link) + ' ';
    line += stat(c.iqdrops, errLen, r.link) + ' ';
    if (o.bytes) line += stat(c.ibytes, byteLen, true) + ' ';
    line += stat(c.opackets, pktLen, true) + ' ';
    line += stat(c.oerrors, errLen, r.link) + ' ';
    if (o.bytes) line += stat(c.obytes, byteLen, true) + ' ';
    line += stat(c.collisions, errLen, r.link);
    if (o.drops) line += ' ' + stat(c.oqdrops, errLen, r.link);
    s += line + '\n';
  }
  ctx.stdout.write(s);
  return EX_OK;
}

// ------------------------------------------------------------ statistics

/** Plural words in counter descriptions and their singular, as FreeBSD's plural()/plurales()/pluralies() print a count of one. */
const SINGULAR: Readonly<Record<string, string>> = {
  packets: 'packet',
  checksums: 'checksum',
  fragments: 'fragment',
  redirects: 'redirect',
  datagrams: 'datagram',
  calls: 'call',
  errors: 'error',
  messages: 'message',
  responses: 'response',
  addresses: 'address',
  routes: 'route',
  requests: 'request',
  replies: 'reply',
  entrys: 'entry',
  IPs: 'IP',
  connections: 'connection',
  acks: 'ack',
  segments: 'segment',
  bytes: 'byte',
  timeouts: 'timeout',
  probes: 'probe',
  resets: 'reset',
  cookies: 'cookie',
  overflows: 'overflow',
  RSTs: 'RST',
};

/** The description for `n`: FreeBSD pluralises the first counted noun. */
function describeCount(descr: string, n: number, fixed: boolean): string {
  if (n !== 1 || fixed) return descr;
  const words = descr.split(' ');
  for (let i = 0; i < words.length; i++) {
    const s = SINGULAR[words[i]!];
    if (s !== undefined) {
      words[i] = s;
      break;
    }
  }
  return words.join(' ');
}

/** Counters FreeBSD prints with a fixed (never singular) text. */
const FIXED: Readonly<Partial<Record<ProtocolName, ReadonlySet<string>>>> = { icmp: new Set(['bmcastecho', 'bmcasttstamp']) };
/** Protocols FreeBSD's netstat knows that this stack does not have (yet). */
const NOT_YET = new Set(['sctp', 'igmp', 'pim', 'carp', 'pfsync', 'pflow', 'divert', 'ipsec', 'ah', 'esp', 'ipcomp', 'rip6', 'ipsec6', 'pim6']);

function histogram(title: string, h: readonly HistogramEntry[] | undefined): string {
  let s = '';
  for (const e of h ?? []) {
    if (s === '') s = `\t${title} histogram:\n`;
    s += `\t\t${e.name}: ${e.count}\n`;
  }
  return s;
}

function histJson(h: readonly HistogramEntry[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of h ?? []) out[e.name] = e.count;
  return out;
}

function values(p: ProtocolStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of p.counters) out[c.name] = c.value;
  return out;
}

/**
 * FreeBSD's tcp_stats() layout: counters grouped under "packets sent",
 * "packets received" and so on, some lines carrying two counters. Each
 * entry is [indent, format, counter, second counter]; `%n` is the first
 * number with `%s` its plural ending, `%m`/`%t` the second.
 */
const TCP_LINES: ReadonlyArray<readonly [number, string, string, string?]> = [
  [1, '%n packet%s sent', 'sndtotal'],
  [2, '%n data packet%s (%m byte%t)', 'sndpack', 'sndbyte'],
  [2, '%n data packet%s (%m byte%t) retransmitted', 'sndrexmitpack', 'sndrexmitbyte'],
  [2, '%n resend%s initiated by MTU discovery', 'mturesent'],
  [2, '%n ack-only packet%s (%m delayed)', 'sndacks', 'delack'],
  [2, '%n window probe packet%s', 'sndprobe'],
  [2, '%n window update packet%s', 'sndwinup'],
  [2, '%n control packet%s', 'sndctrl'],
  [2, '%n TSO segment%s', 'sndtso'],
  [1, '%n packet%s received', 'rcvtotal'],
  [2, '%n ack%s (for %m byte%t)', 'rcvackpack', 'rcvackbyte'],
  [2, '%n duplicate ack%s', 'rcvdupack'],
  [2, '%n ack%s for unsent data', 'rcvacktoomuch'],
  [2, '%n packet%s (%m byte%t) received in-sequence', 'rcvpack', 'rcvbyte'],
  [2, '%n completely duplicate packet%s (%m byte%t)', 'rcvduppack', 'rcvdupbyte'],
  [2, '%n old duplicate packet%s', 'pawsdrop'],
  [2, '%n packet%s with some dup. data (%m byte%t duped)', 'rcvpartduppack', 'rcvpartdupbyte'],
  [2, '%n out-of-order packet%s (%m byte%t)', 'rcvoopack', 'rcvoobyte'],
  [2, '%n packet%s (%m byte%t) of data after window', 'rcvpackafterwin', 'rcvbyteafterwin'],
  [2, '%n window probe%s', 'rcvwinprobe'],
  [2, '%n window update packet%s', 'rcvwinupd'],
  [2, '%n packet%s received after close', 'rcvafterclose'],
  [2, '%n discarded for bad checksum%s', 'rcvbadsum'],
  [2, '%n discarded for bad header offset field%s', 'rcvbadoff'],
  [2, '%n discarded because packet too short', 'rcvshort'],
  [2, '%n discarded due to full reassembly queue', 'rcvreassfull'],
  [1, '%n connection request%s', 'connattempt'],
  [1, '%n connection accept%s', 'accepts'],
  [1, '%n bad connection attempt%s', 'badsyn'],
  [1, '%n listen queue overflow%s', 'listendrop'],
  [1, '%n ignored RSTs in the window%s', 'badrst'],
  [1, '%n connection%s established (including accepts)', 'connects'],
  [1, '%n connection%s closed (including %m drop%t)', 'closed', 'drops'],
  [1, '%n embryonic connection%s dropped', 'conndrops'],
  [1, '%n segment%s updated rtt (of %m attempt%t)', 'rttupdated', 'segstimed'],
  [1, '%n retransmit timeout%s', 'rexmttimeo'],
  [2, '%n connection%s dropped by rexmit timeout', 'timeoutdrop'],
  [1, '%n persist timeout%s', 'persisttimeo'],
  [2, '%n connection%s dropped by persist timeout', 'persistdrop'],
  [1, '%n keepalive timeout%s', 'keeptimeo'],
  [2, '%n keepalive probe%s sent', 'keepprobe'],
  [2, '%n connection%s dropped by keepalive', 'keepdrops'],
  [1, '%n challenge ACK%s sent', 'challengeack'],
  [1, '%n reset%s sent', 'sndrst'],
  [1, '%n segment%s for closed ports', 'noport'],
  [1, '%n syncache entr%y added', 'sc_added'],
  [2, '%n cookie%s sent', 'sc_sendcookie'],
  [2, '%n cookie%s received', 'sc_recvcookie'],
  [1, '%n fast retransmit%s', 'fastrexmit'],
  [1, '%n SACK recovery episode%s', 'recoveryepisode'],
  [1, '%n segment rexmit%s in SACK recovery episodes', 'sackrexmitpack'],
  [1, '%n SACK option%s (SACK blocks) received', 'sackrcvblocks'],
  [1, '%n SACK option%s (SACK blocks) sent', 'sacksndblocks'],
  [1, '%n D-SACK option%s sent', 'snddsackopt'],
];

function tcpStatsText(p: ProtocolStats, omitZero: boolean): string {
  const st = values(p);
  let s = 'tcp:\n';
  for (const [indent, fmt, k1, k2] of TCP_LINES) {
    const n = st[k1] ?? 0;
    const m = k2 !== undefined ? (st[k2] ?? 0) : 0;
    if (omitZero && n === 0 && m === 0) continue;
    const text = fmt
      .replace('%n', String(n))
      .replace('%s', n === 1 ? '' : 's')
      .replace('%y', n === 1 ? 'y' : 'ies')
      .replace('%m', String(m))
      .replace('%t', m === 1 ? '' : 's');
    s += `${'\t'.repeat(indent)}${text}\n`;
  }
  // FreeBSD's per-state gauges.
  s += '\tTCP connection count by state:\n';
  for (const { state, count: n } of p.connectionsByState ?? []) {
    if (n === 0 && omitZero) continue;
    s += `\t\t${n} ${n === 1 ? 'connection' : 'connections'} in ${state} state\n`;
  }
  return s;
}

function protoStats(p: ProtocolStats, omitZero: boolean): string {
  if (p.protocol === 'tcp') return tcpStatsText(p, omitZero);
  if (p.protocol === 'ip6') return ip6StatsText(p, omitZero);
  const fixed = FIXED[p.protocol];
  const st = values(p);
  let s = `${p.protocol}:\n`;
  for (const c of p.counters) {
    const k = c.name;
    if (p.protocol === 'ip' && (k === 'forward' || k === 'fastforward')) {
      if (k === 'fastforward') continue;
      const ff = st['fastforward'] ?? 0;
      const fw = c.value;
      if (fw !== 0 || !omitZero) s += `\t${fw} ${describeCount(c.description, fw, false)}`;
      if (ff !== 0 || !omitZero) s += ` (${ff} ${describeCount('packets fast forwarded', ff, false)})`;
      if (fw !== 0 || !omitZero) s += '\n';
      continue;
    }
    if (c.value !== 0 || !omitZero) s += `\t${c.value} ${describeCount(c.description, c.value, fixed?.has(k) === true)}\n`;
    if (p.protocol === 'icmp' && k === 'oldshort') s += histogram('Output', p.outputHistogram);
    if (p.protocol === 'icmp' && k === 'bmcasttstamp') s += histogram('Input', p.inputHistogram);
    if (p.protocol === 'icmp6' && k === 'toofreq') s += histogram('Output', p.outputHistogram);
    if (p.protocol === 'icmp6' && k === 'badlen') s += histogram('Input', p.inputHistogram);
  }
  if (p.protocol === 'icmp') s += '\tICMP address mask responses are disabled\n';
  return s;
}

function statistics(ctx: CommandContext, which: readonly ProtocolName[], omitZero: boolean, zero: boolean): number {
  const stats = ctx.image.stats;
  const tables = which.map((n) => stats.protocol(n));
  if (ctx.json) {
    const doc: Record<string, unknown> = {};
    for (const p of tables) {
      const snap: Record<string, unknown> = values(p);
      if (p.protocol === 'icmp' || p.protocol === 'icmp6') {
        snap['outputHistogram'] = histJson(p.outputHistogram);
        snap['inputHistogram'] = histJson(p.inputHistogram);
      }
      if (p.protocol === 'tcp') {
        const byState: Record<string, number> = {};
        for (const { state, count } of p.connectionsByState ?? []) byState[state] = count;
        snap['connectionsByState'] = byState;
      }
      doc[p.protocol] = snap;
    }
    printJson(ctx, doc);
  } else {
    ctx.stdout.write(tables.map((p) => protoStats(p, omitZero)).join(''));
  }
  if (zero) for (const n of which) stats.zero(n);
  return EX_OK;
}

// --------------------------------------------------------------- sockets

/** An address as FreeBSD's inetprint: `*.port`, `addr.port`, `*.*`. */
function sockAddr(a: number, port: number, numeric: boolean): string {
  const host = a === 0 ? '*' : hostName(a, numeric);
  return `${host}.${port === 0 ? '*' : port}`;
}

/**
 * An IPv6 address as FreeBSD's inet6print: `*.port` for ::, else the
 * address (with its %zone) cut to 16 characters (39 with -W), a dot and the port.
 */
function sockAddr6(a: string, port: number, wide: boolean): string {
  const host = a === '::' ? '*' : a.slice(0, wide ? 39 : 16);
  return `${host}.${port === 0 ? '*' : port}`;
}

function rowAddr(r: SocketRow, local: boolean, numeric: boolean, wide: boolean): string {
  const a6 = local ? r.laddr6 : r.faddr6;
  const port = local ? r.lport : r.fport;
  if (a6 !== undefined) return sockAddr6(a6, port, wide);
  return sockAddr(local ? r.laddr : r.faddr, port, numeric);
}

/** Rows of the family -f/-4/-6 asks for (a tcp46 socket is in both, as FreeBSD lists it). */
function ofFamily(rows: SocketRow[], af: string | undefined): SocketRow[] {
  if (af === 'inet') return rows.filter((r) => r.proto.endsWith('4') || r.proto.endsWith('46'));
  if (af === 'inet6') return rows.filter((r) => r.proto.endsWith('6'));
  return rows;
}

function sockets(ctx: CommandContext, o: { all: boolean; numeric: boolean; proto: string | undefined; wide: boolean; af?: string | undefined }): number {
  let rows = ofFamily(ctx.image.sockets.list(), o.af);
  if (o.proto !== undefined) rows = rows.filter((r) => r.proto.startsWith(o.proto!));
  // Without -a, servers (listeners, unconnected datagram sockets) are left out.
  if (!o.all) rows = rows.filter((r) => r.fport !== 0);
  if (ctx.json) {
    printJson(ctx, { sockets: rows.map((r) => sockJson(r)) });
    return EX_OK;
  }
  let s =
    `Active Internet connections${o.all ? ' (including servers)' : ''}\n` +
    `${left('Proto', 5)} ${left('Recv-Q', 6)} ${left('Send-Q', 6)} ${left('Local Address', 22)} ${left('Foreign Address', 22)} ${left('(state)', 11)}\n`;
  for (const r of rows) {
    const la = rowAddr(r, true, o.numeric, o.wide);
    const fa = rowAddr(r, false, o.numeric, o.wide);
    const w = o.wide ? Math.max(22, la.length, fa.length) : 22;
    const line = `${left(r.proto, 5)} ${right(r.recvQ, 6)} ${right(r.sendQ, 6)} ${left(la.slice(0, w), w)} ${left(fa.slice(0, w), w)} ${r.state}`;
    s += line.trimEnd() + '\n';
  }
  ctx.stdout.write(s);
  return EX_OK;
}

function sockJson(r: SocketRow): Record<string, unknown> {
  return {
    protocol: r.proto,
    receiveBytesWaiting: r.recvQ,
    sendBytesWaiting: r.sendQ,
    local: { address: r.laddr6 ?? ip4ToString(r.laddr), port: r.lport },
    remote: { address: r.faddr6 ?? ip4ToString(r.faddr), port: r.fport },
    ...(r.state !== '' ? { state: r.state } : {}),
    ...(r.listen !== undefined ? { listenQueue: r.listen } : {}),
  };
}

/** netstat -L: listen queue sizes (qlen/incqlen/maxqlen). */
function listenQueues(ctx: CommandContext, numeric: boolean, af?: string): number {
  const rows = ofFamily(ctx.image.sockets.list(), af).filter((r) => r.listen !== undefined);
  if (ctx.json) {
    printJson(ctx, { listenQueues: rows.map((r) => ({ protocol: r.proto, local: { address: r.laddr6 ?? ip4ToString(r.laddr), port: r.lport }, ...r.listen })) });
    return EX_OK;
  }
  let s = 'Current listen queue sizes (qlen/incqlen/maxqlen)\n';
  s += `${left('Proto', 5)} ${left('Listen', 32)} Local Address\n`;
  for (const r of rows) {
    const q = r.listen!;
    s += `${left(r.proto, 5)} ${left(`${q.qlen}/${q.incqlen}/${q.maxqlen}`, 32)} ${rowAddr(r, true, numeric, false)}\n`;
  }
  ctx.stdout.write(s);
  return EX_OK;
}

const netstat: Command = async (ctx) => {
  const g = getopt(ctx.argv.slice(1), '46abc:df:iI:Lnp:q:rsw:Wz');
  if (typeof g === 'string') return usageError(ctx, CMD, `${g}; ${USAGE}`);
  if (g.rest.length > 0) return usageError(ctx, CMD, `unexpected argument '${g.rest[0]}'; ${USAGE}`);
  const has = (c: string): boolean => g.count.has(c);
  let af = g.value.get('f');
  if (af !== undefined && af !== 'inet' && af !== 'inet6' && af !== 'link') return usageError(ctx, CMD, `${af}: unknown address family; use -f inet, -f inet6 or -f link`);
  if (has('4')) af = 'inet';
  if (has('6')) af = 'inet6';
  const numeric = has('n');

  if (has('s') || has('p')) {
    const p = g.value.get('p');
    let which: readonly ProtocolName[] = PROTOCOL_NAMES;
    if (p !== undefined) {
      if (isProtocolName(p)) which = [p];
      else if (NOT_YET.has(p)) {
        ctx.stderr.write(`${CMD}: protocol ${p} is not available in this image yet; try -p tcp, udp, ip, icmp or arp\n`);
        return EX_UNAVAILABLE;
      } else return usageError(ctx, CMD, `unknown protocol: ${p}; use -p tcp, udp, ip, icmp or arp`);
    } else if (af === 'link') which = ['arp'];
    else if (af === 'inet6') which = ['ip6', 'icmp6'];
    else if (af === 'inet') which = PROTOCOL_NAMES.filter((n) => n !== 'ip6' && n !== 'icmp6');
    if (!has('s')) {
      if (p !== 'tcp' && p !== 'udp') return usageError(ctx, CMD, `-p ${p}: sockets are listed for tcp and udp; use -s -p ${p} for statistics`);
      if (has('L')) return listenQueues(ctx, numeric, af);
      return sockets(ctx, { all: has('a'), numeric, proto: p, wide: has('W'), af });
    }
    return statistics(ctx, which, (g.count.get('s') ?? 0) > 1, has('z'));
  }
  if (has('w')) {
    // -w implies -i (FreeBSD sets iflag); -q COUNT (or -c COUNT) lines, then exit.
    const interval = parseIntIn(g.value.get('w')!, 1, 86400);
    if (interval === undefined) return usageError(ctx, CMD, `-w ${g.value.get('w')}: give the interval in whole seconds, 1 or more`);
    const q = g.value.get('q') ?? g.value.get('c');
    const count = q === undefined ? 0 : parseIntIn(q, 0, 0x7fffffff);
    if (count === undefined) return usageError(ctx, CMD, `-q ${q}: give a number of lines`);
    return sidewaysIntpr(ctx, { interval, count, drops: has('d'), ...(g.value.has('I') ? { only: g.value.get('I')! } : {}) });
  }
  if (g.value.has('c') || g.value.has('q')) return usageError(ctx, CMD, `-${g.value.has('c') ? 'c' : 'q'} COUNT goes with -w WAIT (e.g. netstat -w 1 -q 5)`);
  if (has('r')) {
    if (af === 'link') return usageError(ctx, CMD, '-r -f link: there is no link-layer routing table; use -f inet');
    return routeTable(ctx, numeric, has('W'), af);
  }
  if (has('i') || has('I')) {
    const only = g.value.get('I');
    if (only !== undefined && !ctx.image.interfaces.has(only)) {
      ctx.stderr.write(`${CMD}: interface ${only} not found; 'ifconfig -l' lists interfaces\n`);
      return 1;
    }
    return interfaceTable(ctx, { numeric, bytes: has('b'), drops: has('d'), af, only });
  }
  if (has('L')) return listenQueues(ctx, numeric, af);
  return sockets(ctx, { all: has('a'), numeric, proto: undefined, wide: has('W'), af: af === 'link' ? undefined : af });
};

export const commands: Record<string, Command> = { netstat };
