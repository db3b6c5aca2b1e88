/**
 * traceroute6(8): the hops to an IPv6 host, as FreeBSD 14's traceroute6
 * probes and prints them.
 *
 * Probes go out through a raw socket with hop limit = the hop: by default
 * (-U) UDP datagrams from port ident to port 33434 + seq (-p sets the
 * base), with -I ICMPv6 echo requests (id = ident, seq), with -N packets of
 * no next header. Answers are read from a raw ICMPv6 socket: a time
 * exceeded (in transit) or a destination unreachable or parameter problem
 * (unknown next header) quoting the probe, or, for -I, the echo reply.
 * The target is reached on port unreachable, next-header problem (!H) or
 * echo reply, marked "!" when it came with hop limit <= 1; !N, !P, !S, !A
 * count as unreachable, and a hop where at least half the probes were ends
 * the trace. A different source within a hop starts a new line. Each probe
 * waits at most -w seconds on the image's clock.
 *
 * As FreeBSD's: datalen defaults to 20 bytes (the UDP or ICMPv6 header
 * included) and the banner adds a UDP header's 8 to it; the banner goes to
 * stderr, "Skipping N intermediate hops" to stdout with -f. -d and -v are
 * accepted and change nothing (no SO_DEBUG, no packet dumps); names are
 * not resolved, so -n and -l print addresses. -T, -S, -g, -A and -t are
 * not offered.
 */

import type { Raw6Socket } from '../../lib/socket/raw6.js';
import { fmtAddr6 } from '../../lib/socket/sockaddr6.js';
import type { Timer } from '../../lib/control/index.js';
import { ICMP6_TYPE, emitIcmp6Echo } from '../../lib/wire/icmp6.js';
import { IPPROTO6, parseIp6Cidr } from '../../lib/wire/ipv6.js';
import { EX_OK, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const CMD = 'traceroute6';
const USAGE = 'usage: traceroute6 [-dIlnNUv] [-f firsthop] [-m hoplimit] [-p port] [-q probes]\n       [-s src] [-w waittime] target [datalen]';
const ICMP6ECHOLEN = 8;
const UDP_HDR = 8;
const MAXPACKET = 65535;
/** "start udp dest port # for probe packets" (32768 + 666). */
const BASE_PORT = 33434;

interface Options {
  proto: number;
  first: number;
  max: number;
  nprobes: number;
  waitMs: number;
  port: number;
  datalen: number;
  lflag: boolean;
  source: string | undefined;
  target: string;
}

/** strtoul(3) as traceroute6 calls it: decimal, 0x hex or 0 octal, the whole string. */
function ul(v: string): number | undefined {
  const m = /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.exec(v);
  if (m === null) return undefined;
  return v.length > 1 && v[0] === '0' && v[1] !== 'x' && v[1] !== 'X' ? parseInt(v, 8) : Number(v);
}

function parseArgs(argv: readonly string[], defHlim: number): Options | string {
  const g = getopt(argv, 'df:Ilm:nNp:q:s:Uvw:');
  if ('error' in g) return `${g.error}\n${USAGE}`;
  const o: Options = { proto: IPPROTO6.UDP, first: 1, max: defHlim, nprobes: 3, waitMs: 5000, port: BASE_PORT, datalen: 20, lflag: false, source: undefined, target: '' };
  for (const [c, v] of g.opts) {
    const n = ul(v);
    switch (c) {
      case 'f':
        if (n === undefined || n > 255) return 'invalid min hoplimit.';
        o.first = n;
        break;
      case 'm':
        if (n === undefined || n > 255) return 'invalid max hoplimit.';
        o.max = n;
        break;
      case 'q':
        if (n === undefined) return 'invalid nprobes.';
        if (n < 1) return 'nprobes must be >0.';
        o.nprobes = n;
        break;
      case 'w':
        if (n === undefined) return 'invalid wait time.';
        if (n < 1) return 'wait must be >= 1 sec.';
        o.waitMs = n * 1000;
        break;
      case 'p':
        if (n === undefined) return 'invalid port.';
        if (n === 0 || n > 0xffff) return 'port out of range.';
        o.port = n;
        break;
      case 'I':
        o.proto = IPPROTO6.ICMPV6;
        break;
      case 'N':
        o.proto = IPPROTO6.NONE;
        break;
      case 'U':
        o.proto = IPPROTO6.UDP;
        break;
      case 'l':
        o.lflag = true;
        break;
      case 's':
        o.source = v;
        break;
      default:
        break; // -d, -n, -v
    }
  }
  if (o.max < o.first) return 'max hoplimit must be larger than first hoplimit.';
  if (g.operands.length < 1 || g.operands.length > 2) return USAGE;
  o.target = g.operands[0]!;
  if (g.operands.length === 2) {
    const n = ul(g.operands[1]!);
    if (n === undefined) return 'invalid packet length.';
    o.datalen = n;
  }
  const minlen = o.proto === IPPROTO6.ICMPV6 ? ICMP6ECHOLEN : o.proto === IPPROTO6.UDP ? UDP_HDR : 0;
  if (o.proto === IPPROTO6.NONE) o.datalen = 0;
  if (o.datalen < minlen) o.datalen = minlen;
  else if (o.datalen >= MAXPACKET) return `packet size must be ${minlen} <= s < ${MAXPACKET}.`;
  return o;
}

/** What one matching answer said. */
interface Answer {
  from: string;
  type: number;
  code: number;
  hlim: number;
  at: number;
}

/** The upper-layer header of the packet an error quotes, past extension headers (get_uphdr); -1 when it is not `proto`'s. */
function upperHeader(m: Uint8Array, q: number, end: number, proto: number): number {
  if (q + 40 > end) return -1;
  let nh = m[q + 6]!;
  let p = q + 40;
  while (end - p >= (nh === IPPROTO6.NONE ? 0 : 8)) {
    if (nh === IPPROTO6.ICMPV6 || nh === IPPROTO6.UDP || nh === IPPROTO6.TCP || nh === IPPROTO6.NONE || nh === 132) return nh === proto ? p : -1;
    if (nh === 50) return -1; // ESP
    const hl = nh === IPPROTO6.FRAGMENT ? 8 : nh === 51 ? (m[p + 1]! + 2) << 2 : (m[p + 1]! + 1) << 3;
    nh = m[p]!;
    p += hl;
  }
  return -1;
}

const traceroute6: Command = async (ctx: CommandContext) => {
  const hlim = ctx.image.sysctl.get('net.inet6.ip6.hlim')?.value ?? 64;
  const o = parseArgs(ctx.argv, hlim);
  if (typeof o === 'string') {
    ctx.stderr.write(o.startsWith('usage:') ? `${o}\n` : `${CMD}: ${o}\n`);
    return 1;
  }
  const t = parseIp6Cidr(o.target);
  if (t === undefined || t.prefixLen !== undefined) {
    ctx.stderr.write(`${CMD}: No address associated with hostname\n`);
    return 1;
  }
  if (t.zone !== undefined && !ctx.image.interfaces.has(t.zone)) {
    ctx.stderr.write(`${CMD}: Non-recoverable failure in name resolution\n`);
    return 1;
  }
  let from = o.source;
  if (from !== undefined) {
    const s = parseIp6Cidr(from);
    if (s === undefined || ctx.image.inet6.ownerOf(s.addr) === undefined) {
      ctx.stderr.write(`bind: Can't assign requested address\n`);
      return 1;
    }
  } else {
    from = ctx.image.inet6.selectSource(t.addr, t.zone);
    if (from === undefined) {
      ctx.stderr.write(`connect: No route to host\n`);
      return 1;
    }
  }
  const clock = ctx.image.clock;
  const dst = t.zone !== undefined && !o.target.includes('%') ? `${o.target}%${t.zone}` : o.target;
  // ident = htons(getpid()); UDP's source port is htons(ident): the pid byte-swapped on the wire, as on amd64.
  const ident = ctx.pid & 0xffff;
  const sport = ((ident & 0xff) << 8) | (ident >> 8);
  let rcv: Raw6Socket | null = null;
  let snd: Raw6Socket | null = null;
  try {
    rcv = ctx.image.sockets.raw6(IPPROTO6.ICMPV6);
    snd = o.proto === IPPROTO6.ICMPV6 ? rcv : ctx.image.sockets.raw6(o.proto);
    snd.bind(o.source ?? from);
    // The kernel computes the UDP checksum (FreeBSD's traceroute6 computes the same in udp_cksum).
    if (o.proto === IPPROTO6.UDP) snd.setChecksum(6);
  } catch (e) {
    rcv?.close();
    ctx.stderr.write(`socket(SOCK_RAW): ${(e as Error).message}\n`);
    return 5;
  }
  let seq = 0;
  let waiting: { seq: number; done: (a: Answer | null) => void } | null = null;
  rcv.onPacket((m, off, len, src, hl, ifp) => {
    if (waiting === null || len < 8) return;
    const type = m[off]!;
    const code = m[off + 1]!;
    const s = waiting.seq;
    let ok = false;
    if ((type === ICMP6_TYPE.TIME_EXCEEDED && code === 0) || type === ICMP6_TYPE.DST_UNREACH || (type === ICMP6_TYPE.PARAM_PROB && code === 1)) {
      const up = upperHeader(m, off + 8, off + len, o.proto);
      if (up < 0) return;
      if (o.proto === IPPROTO6.ICMPV6) ok = up + 8 <= off + len && ((m[up + 4]! << 8) | m[up + 5]!) === ident && ((m[up + 6]! << 8) | m[up + 7]!) === (s & 0xffff);
      else if (o.proto === IPPROTO6.UDP) ok = up + 4 <= off + len && ((m[up]! << 8) | m[up + 1]!) === sport && ((m[up + 2]! << 8) | m[up + 3]!) === ((o.port + s) & 0xffff);
      else ok = true;
    } else if (o.proto === IPPROTO6.ICMPV6 && type === ICMP6_TYPE.ECHO_REPLY) {
      ok = ((m[off + 4]! << 8) | m[off + 5]!) === ident && ((m[off + 6]! << 8) | m[off + 7]!) === (s & 0xffff);
    }
    if (!ok) return;
    waiting.done({ from: fmtAddr6(m.subarray(src, src + 16), ifp), type, code, hlim: hl, at: clock.now() });
  });
  const sndLen = o.datalen;
  const sendProbe = (hop: number, s: number): void => {
    const msg = new Uint8Array(sndLen);
    if (o.proto === IPPROTO6.ICMPV6) emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, ident, s & 0xffff, msg, 0);
    else if (o.proto === IPPROTO6.UDP) {
      const dport = (o.port + s) & 0xffff;
      msg.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, sndLen >> 8, sndLen & 0xff]);
    }
    try {
      snd!.send(msg, dst, { hlim: hop });
    } catch (e) {
      ctx.stderr.write(`send: ${(e as Error).message}\n`);
      ctx.stdout.write(`${CMD}: wrote ${o.target} ${sndLen} chars, ret=-1\n`);
    }
  };
  const probe = (hop: number): Promise<Answer | null> =>
    new Promise((resolve) => {
      const s = ++seq;
      let timer: Timer | null = null;
      const done = (a: Answer | null): void => {
        timer?.cancel();
        waiting = null;
        ctx.signal.removeEventListener('abort', abort);
        resolve(a);
      };
      const abort = (): void => done(null);
      waiting = { seq: s, done };
      timer = clock.after(o.waitMs, () => done(null));
      ctx.signal.addEventListener('abort', abort, { once: true });
      sendProbe(hop, s);
    });
  ctx.stderr.write(`${CMD} to ${o.target} (${dst}) from ${from}, ${o.max} hops max, ${o.datalen + (o.proto === IPPROTO6.UDP ? UDP_HDR : 0)} byte packets\n`);
  if (o.first > 1) ctx.stdout.write(`Skipping ${o.first - 1} intermediate hops\n`);
  try {
    for (let hop = o.first; hop <= o.max && !ctx.signal.aborted; hop++) {
      let line = `${String(hop).padStart(2)} `;
      let last = '';
      let gotThere = 0;
      let unreachable = 0;
      for (let q = 0; q < o.nprobes && !ctx.signal.aborted; q++) {
        const sent = clock.now();
        const r = await probe(hop);
        if (r === null) {
          line += ' *';
          continue;
        }
        if (r.from !== last) {
          if (q > 0) line += '\n   ';
          line += o.lflag ? ` ${r.from} (${r.from})` : ` ${r.from}`;
          last = r.from;
        }
        line += `  ${(r.at - sent).toFixed(3)} ms`;
        if (r.type === ICMP6_TYPE.DST_UNREACH) {
          if (r.code === 0) line += ' !N';
          else if (r.code === 1) line += ' !P';
          else if (r.code === 2) line += ' !S';
          else if (r.code === 3) line += ' !A';
          if (r.code <= 3) unreachable++;
          else if (r.code === 4) {
            if (r.hlim <= 1) line += ' !';
            gotThere++;
          }
        } else if (r.type === ICMP6_TYPE.PARAM_PROB) {
          line += ' !H';
          gotThere++;
        } else if (r.type === ICMP6_TYPE.ECHO_REPLY) {
          if (r.hlim <= 1) line += ' !';
          gotThere++;
        }
      }
      ctx.stdout.write(line + '\n');
      if (gotThere > 0 || (unreachable > 0 && unreachable >= Math.floor((o.nprobes + 1) / 2))) break;
    }
  } finally {
    if (snd !== rcv) snd.close();
    rcv.close();
  }
  return ctx.signal.aborted ? signalStatus(ctx.signal.reason) : EX_OK;
};

export const commands: Record<string, Command> = { traceroute6 };
