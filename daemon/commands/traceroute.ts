/**
 * traceroute(8): the hops to a host, as FreeBSD 14 prints them.
 *
 * Like FreeBSD's, it uses two raw sockets: probes go out on an IPPROTO_RAW
 * socket with IP_HDRINCL, built here whole (IP header with id ident+seq and
 * the probe's TTL, then a UDP datagram to port 33434+seq from port
 * pid|0x8000 with its checksum, or an ICMP echo request with -I); time
 * exceeded and unreachable messages are read from an IPPROTO_ICMP socket and
 * matched to the probe in flight by the quoted header's ports (or echo id and
 * sequence), as FreeBSD's packet_ok() does. Each probe waits up to -w
 * seconds on the image's clock. Both sockets are closed however it ends.
 * Like FreeBSD, the "traceroute to ..." banner goes to stderr.
 */

import type { Timer } from '../../lib/control/index.js';
import { SocketError } from '../../lib/socket/errno.js';
import { RawSocket } from '../../lib/socket/raw.js';
import { foldComplement, pseudoHeaderSum, sum16 } from '../../lib/wire/checksum.js';
import { ICMP_TIMXCEED, ICMP_TYPE, ICMP_UNREACH, emitIcmpEcho } from '../../lib/wire/icmp.js';
import { IP_DF, emitIpv4, ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { EX_NOHOST, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const EX_OSERR = 71;
const MAXPACKET = 32 * 1024;
/** FreeBSD's default base port, 32768 + 666. */
const DEFAULT_PORT = 33434;

const USAGE =
  'usage: traceroute [-FInS] [-f first_ttl] [-m max_ttl] [-P udp|icmp] [-p port] [-q nprobes] [-s src_addr] [-w waittime] host [packetlen]';

interface Proto {
  name: 'udp' | 'icmp';
  num: number;
  /** Header length counted in the minimum packet (FreeBSD counts sizeof(struct icmp), 28, for ICMP). */
  hdrlen: number;
}

const UDP: Proto = { name: 'udp', num: 17, hdrlen: 8 };
const ICMP: Proto = { name: 'icmp', num: 1, hdrlen: 28 };

interface TraceOptions {
  proto: Proto;
  firstTtl: number;
  maxTtl: number;
  nprobes: number;
  waitS: number;
  port: number;
  numeric: boolean;
  dontFrag: boolean;
  sumLoss: boolean;
  source: string | undefined;
  target: string;
  packlen: number;
}

/** FreeBSD's str2val: decimal or 0x hex, within [min, max] (max < 0: no maximum). */
function str2val(str: string, what: string, min: number, max: number): number | string {
  const m = /^[+-]?(?:0[xX][0-9a-fA-F]+|\d+)$/.exec(str);
  if (m === null) return `"${str}" bad value for ${what}`;
  const neg = str.startsWith('-');
  const body = str.replace(/^[+-]/, '');
  const v = (neg ? -1 : 1) * (/^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : parseInt(body, 10));
  if (v < min) return `${what} must be >= ${min}`;
  if (max >= 0 && v > max) return `${what} must be <= ${max}`;
  return v;
}

function parseArgs(argv: readonly string[], defTtl: number): TraceOptions | string {
  const p = getopt(argv, 'f:FIm:M:nP:p:q:Ss:w:');
  if ('error' in p) return `${p.error}; ${USAGE}`;
  const o: TraceOptions = {
    proto: UDP,
    firstTtl: 1,
    maxTtl: defTtl,
    nprobes: 3,
    waitS: 5,
    port: -1,
    numeric: false,
    dontFrag: false,
    sumLoss: false,
    source: undefined,
    target: '',
    packlen: 0,
  };
  for (const [ch, arg] of p.opts) {
    let v: number | string = 0;
    switch (ch) {
      case 'f':
      case 'M':
        v = str2val(arg, 'first ttl', 1, 255);
        if (typeof v === 'number') o.firstTtl = v;
        break;
      case 'F':
        o.dontFrag = true;
        break;
      case 'I':
        o.proto = ICMP;
        break;
      case 'm':
        v = str2val(arg, 'max ttl', 1, 255);
        if (typeof v === 'number') o.maxTtl = v;
        break;
      case 'n':
        o.numeric = true;
        break;
      case 'P': {
        const name = arg.toLowerCase();
        if (name === 'udp') o.proto = UDP;
        else if (name === 'icmp') o.proto = ICMP;
        else return `protocol ${arg} is not supported here: use -P udp or -P icmp (-I)`;
        break;
      }
      case 'p':
        v = str2val(arg, 'port', 1, 65535);
        if (typeof v === 'number') o.port = v;
        break;
      case 'q':
        v = str2val(arg, 'nprobes', 1, -1);
        if (typeof v === 'number') o.nprobes = v;
        break;
      case 'S':
        o.sumLoss = true;
        break;
      case 's':
        o.source = arg;
        break;
      case 'w':
        v = str2val(arg, 'wait time', 1, 24 * 60 * 60);
        if (typeof v === 'number') o.waitS = v;
        break;
    }
    if (typeof v === 'string') return v;
  }
  if (o.port < 0) o.port = o.proto === UDP ? DEFAULT_PORT : 0;
  if (o.firstTtl > o.maxTtl) return `first ttl (${o.firstTtl}) may not be greater than max ttl (${o.maxTtl})`;
  const minpacket = 20 + o.proto.hdrlen;
  o.packlen = Math.max(40, minpacket);
  if (p.operands.length === 2) {
    const v = str2val(p.operands[1]!, 'packet length', minpacket, MAXPACKET);
    if (typeof v === 'string') return v;
    o.packlen = v;
  } else if (p.operands.length !== 1) {
    return `${p.operands.length === 0 ? 'missing host operand' : 'too many operands'}; ${USAGE}`;
  }
  o.target = p.operands[0]!;
  return o;
}

/** What packet_ok() found in an ICMP message about the probe in flight. */
interface Reply {
  from: number;
  /** TTL of the ICMP message itself (a "!" when <= 1). */
  ttl: number;
  at: number;
  /** -2 echo reply (-I), -1 time exceeded in transit, else unreachable code + 1. */
  i: number;
  /** Next-hop MTU of a fragmentation-needed message. */
  pmtu: number;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

const UNREACH_MARKS: Readonly<Record<number, string>> = {
  [ICMP_UNREACH.NET]: '!N',
  [ICMP_UNREACH.HOST]: '!H',
  [ICMP_UNREACH.SRCFAIL]: '!S',
  [ICMP_UNREACH.NET_UNKNOWN]: '!U',
  [ICMP_UNREACH.HOST_UNKNOWN]: '!W',
  [ICMP_UNREACH.ISOLATED]: '!I',
  [ICMP_UNREACH.NET_PROHIB]: '!A',
  [ICMP_UNREACH.HOST_PROHIB]: '!Z',
  [ICMP_UNREACH.TOSNET]: '!Q',
  [ICMP_UNREACH.TOSHOST]: '!T',
  [ICMP_UNREACH.FILTER_PROHIB]: '!X',
  [ICMP_UNREACH.HOST_PRECEDENCE]: '!V',
  [ICMP_UNREACH.PRECEDENCE_CUTOFF]: '!C',
};

const traceroute: Command = async (ctx: CommandContext): Promise<number> => {
  const prog = ctx.argv[0] ?? 'traceroute';
  const im = ctx.image;
  const o = parseArgs(ctx.argv, im.sysctl.get('net.inet.ip.ttl')!.value);
  if (typeof o === 'string') {
    ctx.stderr.write(`${prog}: ${o}\n`);
    return EX_USAGE;
  }
  const dst = parseIp4(o.target);
  if (dst === undefined) {
    ctx.stderr.write(`${prog}: unknown host ${o.target}\n`);
    return EX_NOHOST;
  }
  let src = 0;
  if (o.source !== undefined) {
    const s = parseIp4(o.source);
    if (s === undefined) {
      ctx.stderr.write(`${prog}: unknown host ${o.source}\n`);
      return EX_NOHOST;
    }
    src = s;
  }
  // FreeBSD's pair: ICMP in, raw IP (IP_HDRINCL) out.
  let rcv: RawSocket | null = null;
  let snd: RawSocket | null = null;
  try {
    try {
      rcv = im.sockets.raw(1);
      snd = im.sockets.raw(255);
    } catch (e) {
      if (!(e instanceof SocketError)) throw e;
      ctx.stderr.write(`${prog}: socket: ${e.message}\n`);
      return EX_OSERR;
    }
    snd.hdrIncl = true;
    if (o.source !== undefined) {
      try {
        snd.bind(src);
      } catch (e) {
        if (!(e instanceof SocketError)) throw e;
        const why = e.code === 'EADDRNOTAVAIL' ? ` (${o.source} is not an address of image ${im.name}; 'ifconfig' lists them)` : '';
        ctx.stderr.write(`${prog}: bind: ${e.message}${why}\n`);
        return EX_OSERR;
      }
    } else {
      // findsaddr(): the source output would pick, needed up front for the UDP checksum.
      const found = im.routes.sourceFor(dst);
      if (found === undefined) {
        ctx.stderr.write(`${prog}: findsaddr: failed to connect to peer for src addr selection (no route to ${o.target}; 'netstat -rn' shows the routes)\n`);
        return EX_OSERR;
      }
      src = found;
    }
    return await run(ctx, prog, o, { rcv, snd }, src, dst);
  } finally {
    rcv?.close();
    snd?.close();
  }
};

async function run(ctx: CommandContext, prog: string, o: TraceOptions, socks: { rcv: RawSocket; snd: RawSocket }, src: number, dst: number): Promise<number> {
  const im = ctx.image;
  const clock = im.clock;
  const out = ctx.stdout;
  const ident = (ctx.pid & 0xffff) | 0x8000;
  const protlen = o.packlen - 20;
  const dstText = ip4ToString(dst);

  /** The probe in flight: packet_ok() matches replies against its sequence number. */
  let waiting: { seq: number; resolve: (r: Reply | null) => void } | null = null;

  /** Does the header quoted (or echoed) at buf[p] belong to probe `seq`? */
  const check = (buf: Uint8Array, p: number, seq: number): boolean =>
    o.proto === UDP
      ? u16(buf, p) === ident && u16(buf, p + 2) === ((o.port + seq) & 0xffff)
      : u16(buf, p + 4) === ident && u16(buf, p + 6) === seq;

  socks.rcv.onPacket((buf, off, len) => {
    const w = waiting;
    if (w === null || len < 20) return;
    const hlen = (buf[off]! & 0xf) << 2;
    if (len < hlen + 8) return;
    const cc = len - hlen;
    const io = off + hlen;
    const type = buf[io]!;
    const code = buf[io + 1]!;
    let i = 0;
    if (type === ICMP_TYPE.ECHO_REPLY && o.proto === ICMP && check(buf, io, w.seq)) i = -2;
    else if ((type === ICMP_TYPE.TIME_EXCEEDED && code === ICMP_TIMXCEED.INTRANS) || type === ICMP_TYPE.UNREACH) {
      const hip = io + 8;
      if (cc < 8 + 20) return;
      const qhlen = (buf[hip]! & 0xf) << 2;
      if (qhlen + 16 <= cc && buf[hip + 9] === o.proto.num && check(buf, hip + qhlen, w.seq)) {
        i = type === ICMP_TYPE.TIME_EXCEEDED ? -1 : code + 1;
      }
    }
    if (i === 0) return;
    waiting = null;
    w.resolve({ from: u32(buf, off + 12), ttl: buf[off + 8]!, at: clock.now(), i, pmtu: code === ICMP_UNREACH.NEEDFRAG ? u16(buf, io + 6) : 0 });
  });
  const onAbort = (): void => {
    const w = waiting;
    waiting = null;
    w?.resolve(null);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });

  const sendProbe = (seq: number, ttl: number): void => {
    const b = new Uint8Array(o.packlen);
    const l4 = 20;
    const s8 = seq & 0xff; // FreeBSD keeps the probe's sequence in a u_char
    if (o.proto === UDP) {
      const dport = (o.port + s8) & 0xffff;
      b[l4] = ident >> 8;
      b[l4 + 1] = ident & 0xff;
      b[l4 + 2] = dport >> 8;
      b[l4 + 3] = dport & 0xff;
      b[l4 + 4] = protlen >> 8;
      b[l4 + 5] = protlen & 0xff;
      const sum = foldComplement(sum16(b, l4, protlen, pseudoHeaderSum(src, dst, 17, protlen)));
      const s = sum === 0 ? 0xffff : sum; // RFC 768: zero means "no checksum"
      b[l4 + 6] = s >> 8;
      b[l4 + 7] = s & 0xff;
    } else {
      emitIcmpEcho({ type: ICMP_TYPE.ECHO, code: 0, ident, seq: s8 }, b, l4, protlen);
    }
    // FreeBSD's traceroute numbers its probes in the IP id: ident + seq.
    emitIpv4({ tos: 0, totalLen: o.packlen, ident: (ident + seq) & 0xffff, fragField: o.dontFrag ? IP_DF : 0, ttl, protocol: o.proto.num, src, dst }, b, 0);
    try {
      socks.snd.send(b, dst);
    } catch (e) {
      if (!(e instanceof SocketError)) throw e;
      ctx.stderr.write(`${prog}: sendto: ${e.message}\n`);
      out.write(`${prog}: wrote ${o.target} ${o.packlen} chars, ret=-1\n`);
    }
  };

  const waitForReply = (seq: number, t1: number): Promise<Reply | null> =>
    new Promise<Reply | null>((resolve) => {
      let timer: Timer | null = null;
      const settle = (r: Reply | null): void => {
        timer?.cancel();
        resolve(r);
      };
      if (ctx.signal.aborted) {
        resolve(null);
        return;
      }
      waiting = { seq, resolve: settle };
      timer = clock.after(Math.max(0, t1 + o.waitS * 1000 - clock.now()), () => {
        if (waiting?.resolve === settle) waiting = null;
        resolve(null);
      });
    });

  const host = (a: number): string => (o.numeric ? ` ${ip4ToString(a)}` : ` ${ip4ToString(a)} (${ip4ToString(a)})`);

  // --json: a start object, one object per hop as it completes, a summary (JSON Lines on stdout).
  const json = ctx.json;
  const emit = (doc: Record<string, unknown>): void => out.write(JSON.stringify(doc) + '\n');
  const write = (text: string): void => {
    if (!json) out.write(text);
  };
  let hops = 0;
  let reached = false;
  try {
    if (json) {
      emit({ type: 'start', target: o.target, address: dstText, ...(o.source !== undefined ? { source: o.source } : {}), maxHops: o.maxTtl, packetBytes: o.packlen });
    } else {
      ctx.stderr.write(
        `${prog} to ${o.target} (${dstText})${o.source !== undefined ? ` from ${o.source}` : ''}, ${o.maxTtl} hops max, ${o.packlen} byte packets\n`,
      );
    }
    let seq = 0;
    for (let ttl = o.firstTtl; ttl <= o.maxTtl; ttl++) {
      const probes: Array<Record<string, unknown>> = [];
      let lastaddr = 0;
      let gotlastaddr = false;
      let gotThere = 0;
      let unreachable = 0;
      let loss = 0;
      write(`${String(ttl).padStart(2)} `);
      for (let probe = 0; probe < o.nprobes; probe++) {
        seq++;
        const t1 = clock.now();
        sendProbe(seq, ttl);
        const r = await waitForReply(seq & 0xff, t1);
        if (ctx.signal.aborted) {
          write('\n');
          return signalStatus(ctx.signal.reason);
        }
        if (r === null) {
          loss++;
          write(' *');
          probes.push({ lost: true });
          continue;
        }
        let text = '';
        if (!gotlastaddr || r.from !== lastaddr) {
          if (gotlastaddr) text += '\n   ';
          text += host(r.from);
          lastaddr = r.from;
          gotlastaddr = true;
        }
        text += `  ${(r.at - t1).toFixed(3)} ms`;
        const markAt = text.length;
        if (r.i === -2 || r.i - 1 === ICMP_UNREACH.PORT) {
          if (r.ttl <= 1) text += ' !';
          gotThere++;
        } else if (r.i !== -1) {
          const code = r.i - 1;
          if (code === ICMP_UNREACH.PROTOCOL) {
            gotThere++;
            text += ' !P';
          } else {
            unreachable++;
            if (code === ICMP_UNREACH.NEEDFRAG) text += ` !F-${r.pmtu}`;
            else text += ` ${UNREACH_MARKS[code] ?? `!<${code}>`}`;
          }
        }
        write(text);
        const mark = text.slice(markAt).trim();
        probes.push({ from: ip4ToString(r.from), timeMs: Math.round((r.at - t1) * 1000) / 1000, ...(mark !== '' ? { mark } : {}) });
      }
      if (o.sumLoss) write(` (${Math.trunc((loss * 100) / o.nprobes)}% loss)`);
      write('\n');
      hops = ttl;
      if (json) emit({ type: 'hop', ttl, probes, ...(o.sumLoss ? { lossPercent: Math.trunc((loss * 100) / o.nprobes) } : {}) });
      if (gotThere > 0 || (unreachable > 0 && unreachable >= o.nprobes - 1)) {
        reached = gotThere > 0;
        break;
      }
    }
    if (json) emit({ type: 'summary', target: o.target, address: dstText, hops, reached });
    return EX_OK;
  } finally {
    waiting = null;
    ctx.signal.removeEventListener('abort', onAbort);
    socks.rcv.onPacket(null);
  }
}

export const commands: Record<string, Command> = { traceroute };
