/**
 * ping6 and `ping -6`: ICMPv6 echo requests, printed as FreeBSD 14's ping6
 * prints them (`PING6(56=40+8+8 bytes) SRC --> DST`, `16 bytes from ADDR,
 * icmp_seq=0 hlim=64 time=0.123 ms`, the statistics). It works over an
 * ICMPv6 endpoint of the image (FreeBSD's raw ICMPv6 socket), closed however
 * ping6 ends. Timing runs on the image's clock, as ping's does: one request
 * every -i seconds, then a linger of twice the longest round trip (at least
 * 1 s), or -W ms when nothing came back. Link-local targets take their zone
 * as ADDR%IF. Exit status 0 when a reply came back, else 2.
 */

import type { Timer } from '../../lib/control/index.js';
import { ICMP6_TYPE, emitIcmp6Echo } from '../../lib/wire/icmp6.js';
import { IP6_HDR_LEN, parseIp6Cidr } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_NOHOST, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, parseCDouble, parseCInt } from './ping.js';
import { PingStats, summaryText } from './ping_stats.js';

/** ICMP6ECHOTMLEN: the timestamp at the start of the data, and the default data length. */
const TIMEVAL_LEN = 8;
const MAXWAIT = 10_000;
const USAGE = 'usage: ping6 [-nqv] [-c count] [-i wait] [-m hoplimit] [-S sourceaddr] [-s packetsize] [-t timeout] [-W waittime] host';

interface Ping6Options {
  count: number;
  intervalMs: number;
  datalen: number;
  timeoutS: number;
  waitMs: number;
  hlim: number | undefined;
  quiet: boolean;
  verbose: boolean;
  source: string | undefined;
  target: string;
}

function parseArgs(argv: readonly string[]): Ping6Options | string {
  // `ping -6 ...` arrives here with the -6 still in argv.
  const p = getopt(argv, '6c:h:i:m:nqS:s:t:vW:');
  if ('error' in p) return `${p.error}; ${USAGE}`;
  const o: Ping6Options = { count: 0, intervalMs: 1000, datalen: TIMEVAL_LEN, timeoutS: 0, waitMs: MAXWAIT, hlim: undefined, quiet: false, verbose: false, source: undefined, target: '' };
  for (const [c, v] of p.opts) {
    switch (c) {
      case 'c': {
        const n = parseCInt(v);
        if (n === undefined || n <= 0) return `invalid count of packets to transmit: \`${v}'`;
        o.count = n;
        break;
      }
      case 'i': {
        const t = parseCDouble(v);
        if (t === undefined || t < 0.001) return `invalid timing interval: \`${v}'`;
        o.intervalMs = t * 1000;
        break;
      }
      case 'h':
      case 'm': {
        const n = parseCInt(v);
        if (n === undefined || n < 0 || n > 255) return `illegal hoplimit ${v}`;
        o.hlim = n;
        break;
      }
      case 's': {
        const n = parseCInt(v);
        if (n === undefined || n < 0 || n > 65535 - IP6_HDR_LEN - 8) return `illegal datalen value -- ${v}`;
        o.datalen = n;
        break;
      }
      case 't': {
        const n = parseCInt(v);
        if (n === undefined || n < 1 || n > 3600) return `invalid timeout: \`${v}'`;
        o.timeoutS = n;
        break;
      }
      case 'W': {
        const n = parseCInt(v);
        if (n === undefined || n < 0) return `invalid timing interval: \`${v}'`;
        o.waitMs = n;
        break;
      }
      case 'S':
        o.source = v;
        break;
      case 'q':
        o.quiet = true;
        break;
      case 'v':
        o.verbose = true;
        break;
      default:
        break; // -6, -n: numeric output is all there is
    }
  }
  if (p.operands.length !== 1) return USAGE;
  o.target = p.operands[0]!;
  return o;
}

/** pr6_icmph's words for the errors ping6 -v prints. */
function icmp6Text(type: number, code: number, word: number): string {
  switch (type) {
    case ICMP6_TYPE.DST_UNREACH:
      return (
        ['No Route to Destination', 'Destination Administratively Unreachable', 'Destination Unreachable Beyond Scope', 'Destination Host Unreachable', 'Destination Port Unreachable'][code] ??
        `Destination Unreachable, Bad Code: ${code}`
      );
    case ICMP6_TYPE.PACKET_TOO_BIG:
      return `Packet too big mtu = ${word}`;
    case ICMP6_TYPE.TIME_EXCEEDED:
      return code === 0 ? 'Time to live exceeded' : code === 1 ? 'Frag reassembly time exceeded' : `Time exceeded, Bad Code: ${code}`;
    case ICMP6_TYPE.PARAM_PROB:
      return `Parameter problem: ${['Erroneous Header Field', 'Unknown Nextheader', 'Unrecognized Option'][code] ?? `Bad code(${code})`} pointer = 0x${word.toString(16).padStart(2, '0')}`;
    default:
      return `Bad ICMP type: ${type}`;
  }
}

const ping6: Command = (ctx: CommandContext): Promise<number> => {
  const prog = ctx.argv[0] === 'ping' ? 'ping' : 'ping6';
  const o = parseArgs(ctx.argv);
  if (typeof o === 'string') {
    ctx.stderr.write(`${prog}: ${o}\n`);
    return Promise.resolve(EX_USAGE);
  }
  const t = parseIp6Cidr(o.target);
  if (t === undefined || t.prefixLen !== undefined) {
    ctx.stderr.write(`${prog}: ${o.target}: No address associated with hostname\n`);
    return Promise.resolve(EX_NOHOST);
  }
  if (t.zone !== undefined && !ctx.image.interfaces.has(t.zone)) {
    ctx.stderr.write(`${prog}: ${o.target}: interface ${t.zone} does not exist\n`);
    return Promise.resolve(EX_NOHOST);
  }
  let src: Uint8Array | undefined;
  if (o.source !== undefined) {
    const s = parseIp6Cidr(o.source);
    if (s === undefined || ctx.image.inet6.ownerOf(s.addr) === undefined) {
      ctx.stderr.write(`${prog}: bind: Can't assign requested address (${o.source} is not an address of image ${ctx.image.name})\n`);
      return Promise.resolve(EX_FAIL);
    }
    src = s.addr;
  }
  const from = o.source ?? ctx.image.inet6.selectSource(t.addr, t.zone) ?? '::';
  return run(ctx, prog, o, t.addr, t.zone, src, from);
};

function run(ctx: CommandContext, prog: string, o: Ping6Options, dst: Uint8Array, zone: string | undefined, src: Uint8Array | undefined, from: string): Promise<number> {
  const clock = ctx.image.clock;
  const out = ctx.stdout;
  const sock = ctx.image.inet6.icmp6Socket();
  const ident = ctx.pid & 0xffff;
  const timing = o.datalen >= TIMEVAL_LEN;
  const msgLen = 8 + o.datalen;
  const stats = new PingStats();
  let almostDone = false;
  let finished = false;
  let tick: Timer | null = null;
  let alarm: Timer | null = null;
  const target = zone !== undefined && !o.target.includes('%') ? `${o.target}%${zone}` : o.target;
  let resolveDone!: (status: number) => void;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });

  out.write(`PING6(${IP6_HDR_LEN + msgLen}=40+8+${o.datalen} bytes) ${from} --> ${target}\n`);

  sock.onMessage((msg, fromText, hlim) => {
    if (finished || msg.length < 8) return;
    const type = msg[0]!;
    if (type === ICMP6_TYPE.ECHO_REPLY) {
      if (((msg[4]! << 8) | msg[5]!) !== ident) return;
      const seq = (msg[6]! << 8) | msg[7]!;
      let trip = 0;
      if (timing && msg.length >= 8 + TIMEVAL_LEN) {
        trip = clock.now() - new DataView(msg.buffer, msg.byteOffset + 8, 8).getFloat64(0);
        stats.trip(trip);
      }
      const dup = stats.reply(seq);
      if (!o.quiet) {
        let line = `${msg.length} bytes from ${fromText}, icmp_seq=${seq} hlim=${hlim}`;
        if (timing) line += ` time=${trip.toFixed(3)} ms`;
        if (dup) line += '(DUP!)';
        out.write(line + '\n');
      }
      if (o.count > 0 && stats.nreceived >= o.count) queueMicrotask(finish);
      return;
    }
    // An error quoting one of our requests: printed with -v, as ping6 does.
    if (!o.verbose || msg.length < 8 + IP6_HDR_LEN + 8) return;
    const q = 8 + IP6_HDR_LEN;
    if (msg[8 + 6] !== 58 || msg[q] !== ICMP6_TYPE.ECHO_REQUEST || ((msg[q + 4]! << 8) | msg[q + 5]!) !== ident) return;
    const word = ((msg[4]! << 24) | (msg[5]! << 16) | (msg[6]! << 8) | msg[7]!) >>> 0;
    out.write(`${msg.length} bytes from ${fromText}: ${icmp6Text(type, msg[1]!, word)}\n`);
  });

  function pinger(): void {
    const seq = stats.nextSeq();
    const msg = new Uint8Array(msgLen);
    for (let i = TIMEVAL_LEN; i < o.datalen; i++) msg[8 + i] = i & 0xff;
    if (timing) new DataView(msg.buffer, 8, 8).setFloat64(0, clock.now());
    emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, ident, seq, msg, 0);
    const r = sock.send(dst, msg, { ...(zone !== undefined ? { zone } : {}), ...(o.hlim !== undefined ? { hlim: o.hlim } : {}), ...(src !== undefined ? { src } : {}) });
    if (r !== 0) ctx.stderr.write(`${prog}: sendmsg: ${errnoText(r)}\n`);
    stats.ntransmitted++;
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
    out.write(summaryText(stats, target, timing, { name: 'ping6', stddevLabel: 'std-dev', flagExcess: false }));
    resolveDone(stats.nreceived > 0 ? EX_OK : 2);
  }

  if (o.timeoutS > 0) alarm = clock.after(o.timeoutS * 1000, finish);
  ctx.signal.addEventListener('abort', finish, { once: true });
  if (ctx.signal.aborted) finish();
  else onTick();
  return done;
}

function errnoText(e: string): string {
  const m: Record<string, string> = {
    EHOSTUNREACH: 'No route to host',
    ENETUNREACH: 'Network is unreachable',
    EADDRNOTAVAIL: "Can't assign requested address",
    EMSGSIZE: 'Message too long',
    EHOSTDOWN: 'Host is down',
    ENXIO: 'Device not configured',
  };
  return m[e] ?? e;
}

export const commands: Record<string, Command> = { ping6 };
export { ping6 };
