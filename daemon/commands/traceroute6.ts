/**
 * traceroute6(8): the hops to an IPv6 host, as FreeBSD 14's traceroute6
 * prints them, with ICMPv6 echo probes (-I). UDP probes need UDP over IPv6
 * in the image's sockets, which is not there yet, so -I is also the
 * default here; the output is the same either way.
 *
 * Each probe is an echo request with hop limit = the hop, id = pid, a
 * sequence number per probe; a time exceeded or unreachable quoting it, or
 * the echo reply, ends its wait (at most -w seconds on the image's clock).
 * The banner goes to stderr as FreeBSD's does. The ICMPv6 endpoint is
 * closed however it ends.
 */

import type { Icmp6Socket, Timer } from '../../lib/control/index.js';
import { ICMP6_TYPE, emitIcmp6Echo } from '../../lib/wire/icmp6.js';
import { IP6_HDR_LEN, parseIp6Cidr } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_NOHOST, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, parseCInt, signalStatus } from './ping.js';

const CMD = 'traceroute6';
const USAGE = 'usage: traceroute6 [-dInv] [-f firsthop] [-m hoplimit] [-q probes] [-s src] [-w waittime] target [datalen]';
/** ICMP6ECHOLEN: the echo header; the default probe carries 8 bytes of data after it. */
const ECHO_LEN = 8;

interface Options {
  first: number;
  max: number;
  nprobes: number;
  waitMs: number;
  datalen: number;
  source: string | undefined;
  target: string;
}

function parseArgs(argv: readonly string[], defHlim: number): Options | string {
  const g = getopt(argv, 'dIf:m:nq:s:vw:');
  if ('error' in g) return `${g.error}\n${USAGE}`;
  const o: Options = { first: 1, max: defHlim, nprobes: 3, waitMs: 5000, datalen: 16, source: undefined, target: '' };
  for (const [c, v] of g.opts) {
    const n = v !== undefined ? parseCInt(v) : undefined;
    switch (c) {
      case 'f':
        if (n === undefined || n < 1 || n > 255) return `invalid first hop: ${v}`;
        o.first = n;
        break;
      case 'm':
        if (n === undefined || n < 1 || n > 255) return `invalid max hoplimit: ${v}`;
        o.max = n;
        break;
      case 'q':
        if (n === undefined || n < 1 || n > 1000) return `invalid nprobes: ${v}`;
        o.nprobes = n;
        break;
      case 'w':
        if (n === undefined || n < 1 || n > 86400) return `invalid wait time: ${v}`;
        o.waitMs = n * 1000;
        break;
      case 's':
        o.source = v;
        break;
      default:
        break; // -d, -I, -n, -v: probes are ICMPv6 and output numeric already
    }
  }
  if (o.first > o.max) return `first hop (${o.first}) larger than max hops (${o.max})`;
  if (g.operands.length < 1 || g.operands.length > 2) return USAGE;
  o.target = g.operands[0]!;
  if (g.operands.length === 2) {
    const n = parseCInt(g.operands[1]!);
    if (n === undefined || n < ECHO_LEN || n > 65535 - IP6_HDR_LEN) return `packet size must be ${ECHO_LEN} <= s < ${65535 - IP6_HDR_LEN}`;
    o.datalen = n;
  }
  return o;
}

/** traceroute6's marks for unreachables (code: mark). */
const UNREACH_MARK: Readonly<Record<number, string>> = { 0: ' !N', 1: ' !P', 2: ' !S', 3: ' !A', 4: '' };

type Reply = { from: string; kind: 'hop' | 'reached' | 'unreach'; mark: string; at: number } | null;

const traceroute6: Command = async (ctx: CommandContext) => {
  const hlim = ctx.image.sysctl.get('net.inet6.ip6.hlim')?.value ?? 64;
  const o = parseArgs(ctx.argv, hlim);
  if (typeof o === 'string') {
    ctx.stderr.write(`${CMD}: ${o}\n`);
    return EX_USAGE;
  }
  const t = parseIp6Cidr(o.target);
  if (t === undefined || t.prefixLen !== undefined) {
    ctx.stderr.write(`${CMD}: ${o.target}: No address associated with hostname\n`);
    return EX_NOHOST;
  }
  if (t.zone !== undefined && !ctx.image.interfaces.has(t.zone)) {
    ctx.stderr.write(`${CMD}: ${o.target}: interface ${t.zone} does not exist\n`);
    return EX_NOHOST;
  }
  let src: Uint8Array | undefined;
  if (o.source !== undefined) {
    const s = parseIp6Cidr(o.source);
    if (s === undefined || ctx.image.inet6.ownerOf(s.addr) === undefined) {
      ctx.stderr.write(`${CMD}: bind: Can't assign requested address (${o.source})\n`);
      return EX_FAIL;
    }
    src = s.addr;
  }
  const from = o.source ?? ctx.image.inet6.selectSource(t.addr, t.zone);
  if (from === undefined) {
    ctx.stderr.write(`${CMD}: connect: No route to host\n`);
    return EX_FAIL;
  }
  const clock = ctx.image.clock;
  const ident = ctx.pid & 0xffff;
  const sock: Icmp6Socket = ctx.image.inet6.icmp6Socket();
  let waiting: { seq: number; done: (r: Reply) => void } | null = null;
  sock.onMessage((msg, fromText) => {
    if (waiting === null || msg.length < 8) return;
    const type = msg[0]!;
    let id: number;
    let seq: number;
    if (type === ICMP6_TYPE.ECHO_REPLY) {
      id = (msg[4]! << 8) | msg[5]!;
      seq = (msg[6]! << 8) | msg[7]!;
    } else if (type === ICMP6_TYPE.TIME_EXCEEDED || type === ICMP6_TYPE.DST_UNREACH) {
      // The quoted probe: IPv6 header, then our echo request (no extension headers on our probes).
      const q = 8 + IP6_HDR_LEN;
      if (msg.length < q + 8 || msg[8 + 6] !== 58 || msg[q] !== ICMP6_TYPE.ECHO_REQUEST) return;
      id = (msg[q + 4]! << 8) | msg[q + 5]!;
      seq = (msg[q + 6]! << 8) | msg[q + 7]!;
    } else return;
    if (id !== ident || seq !== waiting.seq) return;
    const kind = type === ICMP6_TYPE.ECHO_REPLY ? 'reached' : type === ICMP6_TYPE.TIME_EXCEEDED ? 'hop' : 'unreach';
    waiting.done({ from: fromText, kind, mark: kind === 'unreach' ? (UNREACH_MARK[msg[1]!] ?? ` !<${msg[1]}>`) : '', at: clock.now() });
  });
  const target = t.zone !== undefined && !o.target.includes('%') ? `${o.target}%${t.zone}` : o.target;
  ctx.stderr.write(`${CMD} to ${target} (${target}) from ${from}, ${o.max} hops max, ${o.datalen} byte packets\n`);
  let seq = 0;
  const probe = (hop: number): Promise<Reply> =>
    new Promise((resolve) => {
      const msg = new Uint8Array(Math.max(o.datalen, ECHO_LEN));
      const s = ++seq & 0xffff;
      emitIcmp6Echo(ICMP6_TYPE.ECHO_REQUEST, ident, s, msg, 0);
      let timer: Timer | null = null;
      const done = (r: Reply): void => {
        timer?.cancel();
        waiting = null;
        ctx.signal.removeEventListener('abort', abort);
        resolve(r);
      };
      const abort = (): void => done(null);
      waiting = { seq: s, done };
      timer = clock.after(o.waitMs, () => done(null));
      ctx.signal.addEventListener('abort', abort, { once: true });
      const err = sock.send(t.addr, msg, { hlim: hop, ...(t.zone !== undefined ? { zone: t.zone } : {}), ...(src !== undefined ? { src } : {}) });
      if (err !== 0) {
        ctx.stderr.write(`${CMD}: sendto: ${err === 'EHOSTUNREACH' || err === 'ENETUNREACH' ? 'No route to host' : err}\n`);
        done(null);
      }
    });
  try {
    for (let hop = o.first; hop <= o.max && !ctx.signal.aborted; hop++) {
      let line = `${String(hop).padStart(2)} `;
      let last = '';
      let end = false;
      for (let q = 0; q < o.nprobes && !ctx.signal.aborted; q++) {
        const sent = clock.now();
        const r = await probe(hop);
        if (r === null) {
          line += ' *';
          continue;
        }
        if (r.from !== last) {
          line += ` ${r.from}`;
          last = r.from;
        }
        line += `  ${(r.at - sent).toFixed(3)} ms${r.mark}`;
        if (r.kind !== 'hop') end = true;
      }
      ctx.stdout.write(line + '\n');
      if (end) break;
    }
  } finally {
    sock.close();
  }
  return ctx.signal.aborted ? signalStatus(ctx.signal.reason) : EX_OK;
};

export const commands: Record<string, Command> = { traceroute6 };
