/**
 * ping(8): ICMP echo requests to a host, as FreeBSD 14 prints them.
 *
 * Like FreeBSD's, it works over a raw ICMP socket (socket(AF_INET,
 * SOCK_RAW, IPPROTO_ICMP)): echo requests are built here and sent with
 * `send` (IP_TTL for -m, IP_DONTFRAG for -D, bind(2) for -S); replies and
 * ICMP errors quoting our requests are read from the same socket, so a
 * running ping is one of the image's sockets. The socket is closed however
 * ping ends (count, -t, Ctrl-C or kill).
 * All timing uses the image's clock, so tests drive it with a ManualClock:
 * one request every -i seconds, and after the last one a linger of twice the
 * longest round trip (at least 1 s), or -W ms when nothing came back, as
 * FreeBSD's main loop does. Ctrl-C, -t and the end of -c all print the
 * statistics; the exit status is 0 when a reply came back, else 2.
 *
 * FreeBSD's ping has no "Request timeout" line (that is macOS); neither do we.
 *
 * -f (flood), from FreeBSD 14's sbin/ping/ping.c: pinger() writes '.' per
 * request and pr_pack() a backspace per reply (neither with -q), error
 * lines lose their newline, and the main loop sends at least every 10 ms
 * and again as soon as a packet comes in; ENOBUFS makes it back off rather
 * than complain. FreeBSD allows -f to root only; in an image the caller is
 * the image's root. "-f and -i: incompatible options" and "-f flag cannot
 * be used with multicast destination" as there.
 */

import type { Timer } from '../../lib/control/index.js';
import { SocketError } from '../../lib/socket/errno.js';
import { RawSocket } from '../../lib/socket/raw.js';
import { ICMP_TYPE, ICMP_UNREACH, ICMP_TIMXCEED, emitIcmpEcho } from '../../lib/wire/icmp.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { EX_FAIL, EX_NOHOST, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { ping6 } from './ping6.js';
import { PingStats, summaryText } from './ping_stats.js';

// ---------------------------------------------------------------------------
// Small helpers shared with traceroute.ts.

/** Options parsed by `getopt`: each letter with its argument, in order. */
export interface ParsedArgs {
  opts: Array<[string, string]>;
  operands: string[];
}

/**
 * getopt(3) over argv[1..] with a BSD optstring ("c:n" = -c takes an
 * argument, -n does not). Options may follow operands (as GNU permutes them),
 * "--" ends options. Returns the getopt message on a bad option.
 */
export function getopt(argv: readonly string[], spec: string): ParsedArgs | { error: string } {
  const opts: Array<[string, string]> = [];
  const operands: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.length < 2 || a[0] !== '-') {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const ch = a[j]!;
      const at = ch === ':' ? -1 : spec.indexOf(ch);
      if (at < 0) return { error: `illegal option -- ${ch}` };
      if (spec[at + 1] !== ':') {
        opts.push([ch, '']);
        continue;
      }
      if (j + 1 < a.length) {
        opts.push([ch, a.slice(j + 1)]);
      } else if (i + 1 < argv.length) {
        opts.push([ch, argv[++i]!]);
      } else {
        return { error: `option requires an argument -- ${ch}` };
      }
      break;
    }
  }
  return { opts, operands };
}

/** strtol(s, &ep, 0) over the whole string: decimal, 0x hex or 0 octal; undefined if anything is left over. */
export function parseCInt(s: string): number | undefined {
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(s);
  if (m === null) return undefined;
  const v = m[2] !== undefined ? parseInt(m[2], 16) : m[3] !== undefined ? parseInt(m[3], 8) : parseInt(m[4]!, 10);
  return m[1] === '-' ? -v : v;
}

/** strtod over the whole string (decimal notation only). */
export function parseCDouble(s: string): number | undefined {
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** Exit status of a process stopped by a signal, as sh(1) reports it. */
export function signalStatus(reason: unknown): number {
  const n: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15 };
  const name = typeof reason === 'string' ? reason.replace(/^SIG/, '') : '';
  return 128 + (n[name] ?? 2);
}

// ---------------------------------------------------------------------------

const DEFDATALEN = 56;
/** Bytes of the send timestamp at the start of the data (FreeBSD's TIMEVAL_LEN). */
const TIMEVAL_LEN = 8;
const MAXPAYLOAD = 65535 - 20 - 8;
/** Default -W: ms to wait for a reply after the last request when none came back. */
const MAXWAIT = 10_000;
const MAXALARM = 60 * 60;
const MAXTTL = 255;

const USAGE =
  'usage: ping [-DfnoQq] [-C pcp] [-c count] [-i wait] [-m ttl] [-S src_addr] [-s packetsize] [-t timeout] [-W waittime] host';
/** -f: a request every 10 ms at least, and one after every packet that comes back (FreeBSD's main loop). */
const FLOOD_INTERVAL_MS = 10;

interface PingOptions {
  count: number;
  intervalMs: number;
  datalen: number;
  timeoutS: number;
  waitMs: number;
  waitSet: boolean;
  ttl: number | undefined;
  quiet: boolean;
  quiet2: boolean;
  once: boolean;
  dontFrag: boolean;
  /** -f: flood ('.' per request, backspace per reply). FreeBSD allows it to root only; an image's user is its root. */
  flood: boolean;
  intervalSet: boolean;
  /** -C: 802.1p priority (IP_VLAN_PCP); -1 the interface's default. Accepted; image sockets cannot set a frame's PCP yet, so it has no effect (FreeBSD applies it through a vlan only). */
  pcp: number | undefined;
  source: string | undefined;
  target: string;
}

function parseArgs(argv: readonly string[]): PingOptions | string {
  const p = getopt(argv, 'C:c:Dfi:m:noQqS:s:t:W:');
  if ('error' in p) return `${p.error}; ${USAGE}`;
  const o: PingOptions = {
    count: 0,
    intervalMs: 1000,
    datalen: DEFDATALEN,
    timeoutS: 0,
    waitMs: MAXWAIT,
    waitSet: false,
    ttl: undefined,
    quiet: false,
    quiet2: false,
    once: false,
    dontFrag: false,
    flood: false,
    intervalSet: false,
    pcp: undefined,
    source: undefined,
    target: '',
  };
  for (const [ch, arg] of p.opts) {
    switch (ch) {
      case 'c': {
        const v = parseCInt(arg);
        if (v === undefined || v <= 0) return `invalid count of packets to transmit: \`${arg}': give a positive integer`;
        o.count = v;
        break;
      }
      case 'C': {
        // strtonum(optarg, -1, 7) as FreeBSD 14's ping.c
        const v = /^-?\d+$/.test(arg) ? Number(arg) : NaN;
        if (!(v >= -1 && v <= 7)) return `invalid PCP: \`${arg}': give a priority from 0 to 7, or -1 for the interface's default`;
        o.pcp = v;
        break;
      }
      case 'D':
        o.dontFrag = true;
        break;
      case 'f':
        o.flood = true;
        break;
      case 'i': {
        const v = parseCDouble(arg);
        // Root may go below 1 s; 1 ms is the floor so a typo cannot flood the link.
        if (v === undefined || !(v * 1000 >= 1) || v * 1000 > 0x7fffffff) {
          return `invalid timing interval: \`${arg}': give seconds between packets, at least 0.001`;
        }
        o.intervalMs = Math.trunc(v * 1000);
        o.intervalSet = true;
        break;
      }
      case 'm': {
        const v = parseCInt(arg);
        if (v === undefined || v < 0 || v > MAXTTL) return `invalid TTL: \`${arg}': give a number from 0 to ${MAXTTL}`;
        o.ttl = v;
        break;
      }
      case 'n':
        break; // FreeBSD 14 prints addresses numerically anyway, and there is no DNS here
      case 'o':
        o.once = true;
        break;
      case 'Q':
        o.quiet2 = true;
        break;
      case 'q':
        o.quiet = true;
        break;
      case 'S':
        o.source = arg;
        break;
      case 's': {
        const v = parseCInt(arg);
        if (v === undefined || v < 0) return `invalid packet size: \`${arg}': give the number of data bytes, 0 to ${MAXPAYLOAD}`;
        if (v > MAXPAYLOAD) return `packet size too large: ${v} > ${MAXPAYLOAD}`;
        o.datalen = v;
        break;
      }
      case 't': {
        const v = parseCInt(arg);
        if (v === undefined || v < 1) return `invalid timeout: \`${arg}': give whole seconds, 1 to ${MAXALARM}`;
        if (v > MAXALARM) return `invalid timeout: \`${arg}' > ${MAXALARM}`;
        o.timeoutS = v;
        break;
      }
      case 'W': {
        const v = parseCDouble(arg);
        if (v === undefined || v < 0 || v > 0x7fffffff) return `invalid timing interval: \`${arg}': give the wait for a reply in milliseconds`;
        o.waitMs = Math.trunc(v);
        o.waitSet = true;
        break;
      }
    }
  }
  if (o.flood && o.intervalSet) return '-f and -i: incompatible options';
  if (o.flood) o.intervalMs = FLOOD_INTERVAL_MS;
  if (p.operands.length !== 1) return `${p.operands.length === 0 ? 'missing host operand' : 'too many operands'}; ${USAGE}`;
  o.target = p.operands[0]!;
  return o;
}

/** What the raw endpoint saw and kept of one packet for us. */
interface Received {
  kind: 'reply' | 'error';
  from: number;
  /** ICMP bytes (IP header excluded), as FreeBSD prints them. */
  cc: number;
  ttl: number;
  seq: number;
  /** Send timestamp from the echoed data, or NaN. */
  sentAt: number;
  at: number;
  /** Length of the whole IP packet. */
  recvLen: number;
  type: number;
  code: number;
  /** Next-hop MTU of a fragmentation-needed message; pointer of a parameter problem. */
  aux: number;
}

/** pr_icmph: the text FreeBSD prints for an ICMP message about one of our requests. */
function icmpText(type: number, code: number, aux: number): string {
  switch (type) {
    case ICMP_TYPE.ECHO_REPLY:
      return 'Echo Reply';
    case ICMP_TYPE.UNREACH:
      switch (code) {
        case ICMP_UNREACH.NET:
          return 'Destination Net Unreachable';
        case ICMP_UNREACH.HOST:
          return 'Destination Host Unreachable';
        case ICMP_UNREACH.PROTOCOL:
          return 'Destination Protocol Unreachable';
        case ICMP_UNREACH.PORT:
          return 'Destination Port Unreachable';
        case ICMP_UNREACH.NEEDFRAG:
          return `frag needed and DF set (MTU ${aux})`;
        case ICMP_UNREACH.SRCFAIL:
          return 'Source Route Failed';
        case ICMP_UNREACH.FILTER_PROHIB:
          return 'Communication prohibited by filter';
        default:
          return `Dest Unreachable, Bad Code: ${code}`;
      }
    case ICMP_TYPE.SOURCE_QUENCH:
      return 'Source Quench';
    case ICMP_TYPE.REDIRECT: {
      const names = ['Redirect Network', 'Redirect Host', 'Redirect Type of Service and Network', 'Redirect Type of Service and Host'];
      return names[code] ?? `Redirect, Bad Code: ${code}`;
    }
    case ICMP_TYPE.ECHO:
      return 'Echo Request';
    case ICMP_TYPE.TIME_EXCEEDED:
      if (code === ICMP_TIMXCEED.INTRANS) return 'Time to live exceeded';
      if (code === ICMP_TIMXCEED.REASS) return 'Frag reassembly time exceeded';
      return `Time exceeded, Bad Code: ${code}`;
    case ICMP_TYPE.PARAM_PROB:
      return `Parameter problem: pointer = 0x${aux.toString(16).padStart(2, '0')}`;
    default:
      return `Bad ICMP type: ${type}`;
  }
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** EX_OSERR: the socket could not be made (sysexits(3)). */
const EX_OSERR = 71;

const ping: Command = (ctx: CommandContext): Promise<number> => {
  if (ctx.argv.includes('-6')) return ping6(ctx); // FreeBSD 14: ping -6 is ping6
  const prog = ctx.argv[0] ?? 'ping';
  const o = parseArgs(ctx.argv);
  if (typeof o === 'string') {
    ctx.stderr.write(`${prog}: ${o}\n`);
    return Promise.resolve(EX_USAGE);
  }
  let src: number | undefined;
  if (o.source !== undefined) {
    src = parseIp4(o.source);
    if (src === undefined) {
      ctx.stderr.write(`${prog}: cannot resolve ${o.source}: Unknown host\n`);
      return Promise.resolve(EX_NOHOST);
    }
  }
  let sock: RawSocket;
  try {
    sock = ctx.image.sockets.raw(1);
  } catch (e) {
    if (!(e instanceof SocketError)) throw e;
    ctx.stderr.write(`${prog}: socket: ${e.message}\n`);
    return Promise.resolve(EX_OSERR);
  }
  if (src !== undefined) {
    try {
      sock.bind(src);
    } catch (e) {
      sock.close();
      if (!(e instanceof SocketError)) throw e;
      const why = e.code === 'EADDRNOTAVAIL' ? ` (${o.source} is not an address of image ${ctx.image.name}; 'ifconfig' lists them)` : '';
      ctx.stderr.write(`${prog}: bind: ${e.message}${why}\n`);
      return Promise.resolve(EX_FAIL);
    }
  }
  const dst = parseIp4(o.target);
  if (dst === undefined) {
    sock.close();
    ctx.stderr.write(`${prog}: cannot resolve ${o.target}: Unknown host\n`);
    return Promise.resolve(EX_NOHOST);
  }
  if (o.flood && dst >>> 28 === 14) {
    sock.close();
    ctx.stderr.write(`${prog}: -f flag cannot be used with multicast destination\n`);
    return Promise.resolve(EX_USAGE);
  }
  sock.ttl = o.ttl;
  sock.dontFrag = o.dontFrag;
  return run(ctx, prog, o, sock, dst);
};

function run(ctx: CommandContext, prog: string, o: PingOptions, sock: RawSocket, dst: number): Promise<number> {
  const clock = ctx.image.clock;
  const out = ctx.stdout;
  const ident = ctx.pid & 0xffff;
  let timing = o.datalen >= TIMEVAL_LEN;
  const icmpLen = 8 + o.datalen;
  const sendLen = 20 + icmpLen;
  const stats = new PingStats();
  let nrcvtimeout = 0;
  let almostDone = false;
  let finished = false;
  let tick: Timer | null = null;
  let alarm: Timer | null = null;
  const inbox: Received[] = [];
  let flushQueued = false;

  // --json: one object per line as things happen, the summary last (JSON Lines).
  const emit = (doc: Record<string, unknown>): void => out.write(JSON.stringify(doc) + '\n');
  if (ctx.json) emit({ type: 'start', target: o.target, address: ip4ToString(dst), ...(o.source !== undefined ? { source: o.source } : {}), dataBytes: o.datalen });
  else out.write(`PING ${o.target} (${ip4ToString(dst)})${o.source !== undefined ? ` from ${o.source}` : ''}: ${o.datalen} data bytes\n`);

  let resolveDone!: (status: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });

  // The socket's handler runs on the packet path: it only filters and
  // copies what it needs, and hands the rest to a microtask.
  sock.onPacket((buf, off, len) => {
    if (finished || len < 20) return;
    const hlen = (buf[off]! & 0xf) << 2;
    if (len < hlen + 8) return;
    const io = off + hlen;
    const type = buf[io]!;
    const ident16 = (buf[io + 4]! << 8) | buf[io + 5]!;
    let r: Received;
    if (type === ICMP_TYPE.ECHO_REPLY) {
      if (ident16 !== ident) return; // 'Twas not our ECHO
      const cc = len - hlen;
      let sentAt = NaN;
      if (timing && cc - 8 >= TIMEVAL_LEN) sentAt = new DataView(buf.buffer, buf.byteOffset + io + 8, 8).getFloat64(0);
      r = { kind: 'reply', from: u32(buf, off + 12), cc, ttl: buf[off + 8]!, seq: (buf[io + 6]! << 8) | buf[io + 7]!, sentAt, at: clock.now(), recvLen: len, type, code: 0, aux: 0 };
    } else {
      // Something else: print it only if it quotes one of our requests.
      const q = io + 8;
      if (len < hlen + 8 + 20) return;
      const qhlen = (buf[q]! & 0xf) << 2;
      if (qhlen < 20 || len < hlen + 8 + qhlen + 8) return;
      const qi = q + qhlen;
      if (u32(buf, q + 16) !== dst || buf[q + 9] !== 1 || buf[qi] !== ICMP_TYPE.ECHO) return;
      if (((buf[qi + 4]! << 8) | buf[qi + 5]!) !== ident) return;
      r = {
        kind: 'error',
        from: u32(buf, off + 12),
        cc: len - hlen,
        ttl: buf[off + 8]!,
        seq: (buf[qi + 6]! << 8) | buf[qi + 7]!,
        sentAt: NaN,
        at: clock.now(),
        recvLen: len,
        type,
        code: buf[io + 1]!,
        aux: type === ICMP_TYPE.PARAM_PROB ? buf[io + 4]! : (buf[io + 6]! << 8) | buf[io + 7]!,
      };
    }
    inbox.push(r);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  });

  function flush(): void {
    flushQueued = false;
    while (inbox.length > 0 && !finished) {
      const r = inbox.shift()!;
      if (r.kind === 'reply') prReply(r);
      else if (o.quiet2) {
        // -Q: ICMP errors are not printed.
      } else if (ctx.json) emit({ type: 'icmp', bytes: r.cc, from: ip4ToString(r.from), icmpSeq: r.seq, icmpType: r.type, icmpCode: r.code, message: icmpText(r.type, r.code, r.aux) });
      // pr_pack ends the line only when not flooding.
      else out.write(`${r.cc} bytes from ${ip4ToString(r.from)}: ${icmpText(r.type, r.code, r.aux)}${o.flood ? '' : '\n'}`);
      if ((o.once && stats.nreceived > 0) || (o.count > 0 && stats.nreceived >= o.count)) finish();
      else if (o.flood && !almostDone) {
        // FreeBSD's flood loop sends again as soon as a packet came in.
        tick?.cancel();
        onTick();
      }
    }
  }

  function prReply(r: Received): void {
    let triptime = 0;
    if (timing) {
      // Too short to carry our timestamp: stop timing, as FreeBSD does.
      if (Number.isNaN(r.sentAt)) timing = false;
      else {
        triptime = r.at - r.sentAt;
        stats.trip(triptime);
      }
    }
    const dup = stats.reply(r.seq);
    if (o.quiet) return;
    if (o.waitSet && triptime > o.waitMs) {
      nrcvtimeout++;
      return;
    }
    if (o.flood && !ctx.json) {
      out.write('\b');
      return;
    }
    if (ctx.json) {
      emit({
        type: 'reply',
        bytes: r.cc,
        from: ip4ToString(r.from),
        icmpSeq: r.seq,
        ttl: r.ttl,
        ...(timing ? { timeMs: Math.round(triptime * 1000) / 1000 } : {}),
        ...(dup ? { duplicate: true } : {}),
        ...(r.recvLen !== sendLen ? { wrongTotalLength: r.recvLen, expectedTotalLength: sendLen } : {}),
      });
      return;
    }
    let line = `${r.cc} bytes from ${ip4ToString(r.from)}: icmp_seq=${r.seq} ttl=${r.ttl}`;
    if (timing) line += ` time=${triptime.toFixed(3)} ms`;
    if (dup) line += ' (DUP!)';
    if (r.recvLen !== sendLen) line += `\nwrong total length ${r.recvLen} instead of ${sendLen}`;
    out.write(line + '\n');
  }

  function pinger(): void {
    const seq = stats.nextSeq();
    const icmp = new Uint8Array(icmpLen);
    for (let i = TIMEVAL_LEN; i < o.datalen; i++) icmp[8 + i] = i & 0xff;
    if (timing) new DataView(icmp.buffer, icmp.byteOffset + 8, 8).setFloat64(0, clock.now());
    emitIcmpEcho({ type: ICMP_TYPE.ECHO, code: 0, ident, seq }, icmp, 0, icmpLen);
    try {
      sock.send(icmp, dst);
    } catch (e) {
      if (!(e instanceof SocketError)) throw e;
      if (o.flood && e.code === 'ENOBUFS') return; // FreeBSD backs off (FLOOD_BACKOFF) and sends this one again
      ctx.stderr.write(`${prog}: sendto: ${e.message}\n`);
    }
    stats.ntransmitted++;
    if (o.flood && !o.quiet && !ctx.json) out.write('.');
  }

  function onTick(): void {
    tick = null;
    if (finished) return;
    if (o.count === 0 || stats.ntransmitted < o.count) {
      pinger();
      tick = clock.after(o.intervalMs, onTick);
      return;
    }
    if (almostDone) {
      finish();
      return;
    }
    // After the last request: twice the longest round trip (whole seconds,
    // at least one) if anything came back, else -W.
    almostDone = true;
    tick = clock.after(stats.lingerMs(o.waitMs), onTick);
  }

  function finish(): void {
    if (finished) return;
    finished = true;
    tick?.cancel();
    alarm?.cancel();
    sock.close();
    ctx.signal.removeEventListener('abort', finish);
    if (ctx.json) {
      const r3 = (x: number): number => Math.round(x * 1000) / 1000;
      const rt = stats.roundTrip();
      emit({
        type: 'summary',
        target: o.target,
        transmitted: stats.ntransmitted,
        received: stats.nreceived,
        duplicates: stats.nrepeats,
        ...(stats.ntransmitted > 0 ? { packetLossPercent: r3(stats.lossPercent()) } : {}),
        ...(nrcvtimeout > 0 ? { outOfWaitTime: nrcvtimeout } : {}),
        ...(stats.nreceived > 0 && timing ? { roundTripMs: { min: r3(rt.min), avg: r3(rt.avg), max: r3(rt.max), stddev: r3(rt.stddev) } } : {}),
      });
      resolveDone(stats.nreceived > 0 ? EX_OK : 2);
      return;
    }
    out.write(summaryText(stats, o.target, timing, { name: 'ping', stddevLabel: 'stddev', flagExcess: true }, nrcvtimeout));
    resolveDone(stats.nreceived > 0 ? EX_OK : 2);
  }

  if (o.timeoutS > 0) alarm = clock.after(o.timeoutS * 1000, finish);
  ctx.signal.addEventListener('abort', finish, { once: true });
  if (ctx.signal.aborted) finish();
  else onTick();
  return done;
}

export const commands: Record<string, Command> = { ping };
