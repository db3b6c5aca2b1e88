/**
 * nc(1) inside an image, as FreeBSD's (OpenBSD) netcat behaves: connect to
 * a host and port, or listen (-l) for one connection (-k: keep listening),
 * TCP or UDP (-u), moving standard input to the socket and what arrives to
 * standard output. -z probes ports (ranges allowed) without sending data;
 * -w gives up on a connect, or on an idle connection, after that many
 * seconds; -N shuts the connection down for writing at the end of input;
 * -d reads no input; -v reports what happens on stderr. Exit status 0, or
 * 1 when a connection failed.
 *
 * -4 and -6 choose the family; an IPv6 address (`2001:db8::1`,
 * `fe80::1%tap0`) as host or -s source means -6. Without either, -l
 * listens on IPv4 only.
 *
 * Messages are FreeBSD's: "Connection to H P port [tcp/*] succeeded!",
 * "nc: connect to H port P (tcp) failed: Connection refused",
 * "Connection from H P received!".
 */

import type { Timer } from '../../lib/control/index.js';
import type { ImageControl } from '../../lib/control/index.js';
import { SocketError } from '../../lib/socket/errno.js';
import { TcpSocket } from '../../lib/socket/tcp.js';
import { UdpSocket, type Datagram } from '../../lib/socket/udp.js';
import { fmtAddr6 } from '../../lib/socket/sockaddr6.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { in6IsV4Mapped, parseIp6 } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const USAGE =
  'usage: nc [-46DdhklNnrSuvz] [-I length] [-i interval] [-O length] [-p source_port] [-s source] [-w timeout] [destination] [port]';

interface NcOptions {
  listen: boolean;
  keep: boolean;
  udp: boolean;
  zero: boolean;
  verbose: boolean;
  noStdin: boolean;
  shutdownOnEof: boolean;
  noDelay: boolean;
  waitMs: number | undefined;
  intervalMs: number;
  srcAddr: number;
  /** -s or the -l host as an IPv6 address (text, with any %zone). */
  src6: string | undefined;
  /** -4, -6, or 0 for whatever the addresses say. */
  family: 0 | 4 | 6;
  srcPort: number;
  rcvBuf: number | undefined;
  sndBuf: number | undefined;
  host: string | undefined;
  ports: number[];
}

function parsePorts(text: string): number[] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] !== undefined ? Number(m[2]) : lo;
  if (lo < 1 || hi > 65535 || lo > hi) return undefined;
  const out: number[] = [];
  for (let p = lo; p <= hi; p++) out.push(p);
  return out;
}

function parseArgs(argv: readonly string[]): NcOptions | string {
  const p = getopt(argv, '46DdhI:i:klNnO:p:rSs:T:tUuvw:z');
  if ('error' in p) return `${p.error}\n${USAGE}`;
  const o: NcOptions = {
    listen: false,
    keep: false,
    udp: false,
    zero: false,
    verbose: false,
    noStdin: false,
    shutdownOnEof: false,
    noDelay: false,
    waitMs: undefined,
    intervalMs: 0,
    srcAddr: 0,
    src6: undefined,
    family: 0,
    srcPort: 0,
    rcvBuf: undefined,
    sndBuf: undefined,
    host: undefined,
    ports: [],
  };
  for (const [ch, arg] of p.opts) {
    switch (ch) {
      case '4':
        o.family = 4;
        break;
      case '6':
        o.family = 6;
        break;
      case 'n':
      case 'D':
      case 'r':
      case 'S':
      case 't':
        break;
      case 'U':
        return 'unix domain sockets are not available inside an image';
      case 'h':
        return USAGE;
      case 'd':
        o.noStdin = true;
        break;
      case 'k':
        o.keep = true;
        break;
      case 'l':
        o.listen = true;
        break;
      case 'N':
        o.shutdownOnEof = true;
        break;
      case 'u':
        o.udp = true;
        break;
      case 'v':
        o.verbose = true;
        break;
      case 'z':
        o.zero = true;
        break;
      case 'T':
        if (arg === 'nodelay') o.noDelay = true;
        break;
      case 'I':
      case 'O': {
        const v = Number(arg);
        if (!Number.isInteger(v) || v < 1 || v > 64 * 1024 * 1024) return `${ch === 'I' ? 'TCP receive window' : 'TCP send window'} ${arg} is invalid`;
        if (ch === 'I') o.rcvBuf = v;
        else o.sndBuf = v;
        break;
      }
      case 'i': {
        const v = Number(arg);
        if (!Number.isFinite(v) || v < 0) return `interval ${arg} is invalid`;
        o.intervalMs = v * 1000;
        break;
      }
      case 'p': {
        const v = Number(arg);
        if (!Number.isInteger(v) || v < 1 || v > 65535) return `port number invalid: ${arg}`;
        o.srcPort = v;
        break;
      }
      case 's': {
        if (isIp6(arg)) {
          o.src6 = arg;
          break;
        }
        const a = parseIp4(arg);
        if (a === undefined) return `${arg}: not an IPv4 or IPv6 address (there is no DNS in an image)`;
        o.srcAddr = a;
        break;
      }
      case 'w': {
        const v = Number(arg);
        if (!Number.isFinite(v) || v <= 0 || v > 86400) return `timeout ${arg} is invalid`;
        o.waitMs = v * 1000;
        break;
      }
    }
  }
  const ops = p.operands;
  if (o.listen) {
    // nc -l [-p] port, or nc -l [host] port.
    if (o.zero) return '-z and -l cannot be used together';
    if (ops.length === 0 && o.srcPort !== 0) o.ports = [o.srcPort];
    else if (ops.length === 1) o.ports = parsePorts(ops[0]!) ?? [];
    else if (ops.length === 2) {
      if (isIp6(ops[0]!)) o.src6 = ops[0]!;
      else {
        const a = parseIp4(ops[0]!);
        if (a === undefined) return `${ops[0]}: not an IPv4 or IPv6 address`;
        o.srcAddr = a;
      }
      o.ports = parsePorts(ops[1]!) ?? [];
    } else return USAGE;
    if (o.ports.length !== 1) return `port number invalid: ${ops[ops.length - 1] ?? ''}`;
    o.srcPort = 0;
    return familyOf(o);
  }
  if (ops.length !== 2) return USAGE;
  o.host = ops[0]!;
  const ports = parsePorts(ops[1]!);
  if (ports === undefined) return `port range not valid: ${ops[1]}`;
  o.ports = ports;
  return familyOf(o);
}

/** An IPv6 address in text (a zone allowed). */
function isIp6(text: string): boolean {
  const pct = text.indexOf('%');
  return parseIp6(pct >= 0 ? text.slice(0, pct) : text) !== undefined;
}

/** Settle the family from -4/-6 and the addresses given; an error text when they disagree. */
function familyOf(o: NcOptions): NcOptions | string {
  const v6 = o.src6 !== undefined || (o.host !== undefined && isIp6(o.host));
  const v4 = o.srcAddr !== 0 || (o.host !== undefined && !isIp6(o.host));
  if (o.family === 0) o.family = v6 ? 6 : 4;
  if ((o.family === 4 && o.src6 !== undefined) || (o.family === 6 && o.srcAddr !== 0)) return `-s: the source address is not of the -${o.family} family`;
  if (o.family === 4 && v6 && !v4) return `${o.host ?? o.src6}: an IPv6 address with -4`;
  return o;
}

/** The sender of a datagram or connection as nc prints it. */
function peerText(p: { addr: number; addr6?: Uint8Array; zone?: Parameters<typeof fmtAddr6>[1] }): string {
  if (p.addr6 === undefined) return ip4ToString(p.addr);
  if (in6IsV4Mapped(p.addr6)) return fmtAddr6(p.addr6, null);
  return fmtAddr6(p.addr6, p.zone ?? null);
}

/** The local address to bind to, for the socket's family. */
function srcOf(o: NcOptions): number | string {
  return o.family === 6 ? (o.src6 ?? '::') : o.srcAddr;
}

/** Writes network bytes to stdout: raw when the runner carries bytes, else decoded UTF-8. */
function byteSink(ctx: CommandContext): (b: Uint8Array) => void {
  const out = ctx.stdout;
  if (out.writeBytes !== undefined) return (b) => out.writeBytes!(b);
  const dec = new TextDecoder();
  return (b) => {
    const t = dec.decode(b, { stream: true });
    if (t.length > 0) out.write(t);
  };
}

/** A promise that resolves after `ms` on the image clock, or never when ms is undefined; cancellable. */
function sleep(im: ImageControl, ms: number): { done: Promise<void>; timer: Timer } {
  let timer!: Timer;
  const done = new Promise<void>((resolve) => {
    timer = im.clock.after(ms, resolve);
  });
  return { done, timer };
}

// One promise per signal: `nc -lk` races it against every accept, and a
// listener per connection would pile up on the signal.
const abortPromises = new WeakMap<AbortSignal, Promise<'abort'>>();

function aborted(signal: AbortSignal): Promise<'abort'> {
  if (signal.aborted) return Promise.resolve('abort');
  let p = abortPromises.get(signal);
  if (p === undefined) {
    p = new Promise((resolve) => signal.addEventListener('abort', () => resolve('abort'), { once: true }));
    abortPromises.set(signal, p);
  }
  return p;
}

/** An idle timer (-w): rearmed on every byte moved; resolves when it runs out. */
class Idle {
  private timer: Timer | null = null;
  private fire: (() => void) | null = null;
  readonly expired: Promise<'idle'>;
  constructor(
    private readonly im: ImageControl,
    private readonly ms: number | undefined,
  ) {
    this.expired = new Promise((resolve) => {
      this.fire = () => resolve('idle');
    });
    this.kick();
  }
  kick(): void {
    if (this.ms === undefined) return;
    this.timer?.cancel();
    this.timer = this.im.clock.after(this.ms, () => this.fire?.());
  }
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}

function errText(e: unknown): string {
  return e instanceof SocketError ? e.message : (e as Error).message;
}

/** Move data both ways until the peer closes (or -w idle time passes, or Ctrl-C). */
async function pumpTcp(ctx: CommandContext, o: NcOptions, s: TcpSocket): Promise<number> {
  const idle = new Idle(ctx.image, o.waitMs);
  const out = byteSink(ctx);
  const fromNet = (async (): Promise<'eof' | 'error'> => {
    try {
      for await (const c of s) {
        idle.kick();
        out(c);
      }
      return 'eof';
    } catch {
      return 'error';
    }
  })();
  let stopInput = false;
  const toNet = (async (): Promise<void> => {
    if (o.noStdin) return;
    try {
      for await (const chunk of ctx.stdin) {
        if (stopInput) return;
        idle.kick();
        await s.write(Uint8Array.prototype.slice.call(chunk));
        if (o.intervalMs > 0) await sleep(ctx.image, o.intervalMs).done;
      }
      if (o.shutdownOnEof) await s.end();
    } catch {
      // The connection went away; the reader reports it.
    }
  })();
  const how = await Promise.race([fromNet, idle.expired, aborted(ctx.signal)]);
  stopInput = true;
  idle.stop();
  void toNet;
  if (how === 'abort') {
    s.close();
    return signalStatus(ctx.signal.reason);
  }
  s.close();
  return how === 'error' ? EX_FAIL : EX_OK;
}

async function client(ctx: CommandContext, o: NcOptions): Promise<number> {
  const im = ctx.image;
  const host = o.host!;
  const addr: number | string | undefined = o.family === 6 ? (isIp6(host) ? host : undefined) : parseIp4(host);
  if (addr === undefined) {
    ctx.stderr.write(`nc: getaddrinfo for host "${host}" port ${o.ports[0]}: hostname nor servname provided, or not known (there is no DNS in an image; use an IPv${o.family} address)\n`);
    return EX_FAIL;
  }
  if (o.udp) return udpClient(ctx, o, addr);
  let ok = 0;
  for (const port of o.ports) {
    const s = im.sockets.tcp({ family: o.family === 6 ? 6 : 4 });
    try {
      if (o.noDelay) s.setNoDelay(true);
      s.setBufferSizes(o.sndBuf, o.rcvBuf);
      if (o.srcAddr !== 0 || o.src6 !== undefined || o.srcPort !== 0) s.bind(o.srcPort, srcOf(o));
      const conn = s.connect(addr, port);
      const race: Array<Promise<unknown>> = [conn, aborted(ctx.signal)];
      let t: Timer | undefined;
      if (o.waitMs !== undefined) {
        const sl = sleep(im, o.waitMs);
        t = sl.timer;
        race.push(sl.done.then(() => 'timeout'));
      }
      const r = await Promise.race(race);
      t?.cancel();
      if (r === 'abort') {
        s.destroy();
        await conn.catch(() => {});
        return signalStatus(ctx.signal.reason);
      }
      if (r === 'timeout') {
        s.destroy();
        await conn.catch(() => {});
        throw new SocketError('ETIMEDOUT', 'connect');
      }
    } catch (e) {
      s.close();
      if (e instanceof SocketError) {
        if (o.verbose || !o.zero || o.ports.length === 1) ctx.stderr.write(`nc: connect to ${host} port ${port} (tcp) failed: ${e.message}\n`);
        continue;
      }
      throw e;
    }
    ok++;
    if (o.verbose) ctx.stderr.write(`Connection to ${host} ${port} port [tcp/*] succeeded!\n`);
    if (o.zero) {
      s.close();
      continue;
    }
    return pumpTcp(ctx, o, s);
  }
  return ok > 0 ? EX_OK : EX_FAIL;
}

async function listener(ctx: CommandContext, o: NcOptions): Promise<number> {
  const im = ctx.image;
  if (o.udp) return udpListener(ctx, o);
  const l = im.sockets.tcpListener({ family: o.family === 6 ? 6 : 4 });
  l.reuseAddr = true; // as nc does (SO_REUSEADDR)
  try {
    l.listen(o.ports[0]!, 1, srcOf(o));
  } catch (e) {
    l.close();
    ctx.stderr.write(`nc: ${errText(e)}\n`);
    return EX_FAIL;
  }
  try {
    for (;;) {
      const r = await Promise.race([l.accept(), aborted(ctx.signal)]);
      if (r === 'abort' || r === null) return signalStatus(ctx.signal.reason);
      const s = r;
      if (o.noDelay) s.setNoDelay(true);
      s.setBufferSizes(o.sndBuf, o.rcvBuf);
      if (o.verbose) {
        const p = s.remoteAddress();
        ctx.stderr.write(`Connection from ${peerText(p)} ${p.port} received!\n`);
      }
      if (!o.keep) {
        // One connection: stop listening, as nc does.
        l.close();
        return await pumpTcp(ctx, o, s);
      }
      const st = await pumpTcp(ctx, o, s);
      if (ctx.signal.aborted) return st;
    }
  } finally {
    l.close();
  }
}

async function pumpUdp(ctx: CommandContext, o: NcOptions, u: UdpSocket, firstSend?: Uint8Array): Promise<number> {
  const idle = new Idle(ctx.image, o.waitMs);
  const out = byteSink(ctx);
  let failed = false;
  const fromNet = (async (): Promise<void> => {
    for (;;) {
      let d: Datagram | null;
      try {
        d = await u.recv();
      } catch {
        // ICMP port unreachable on a connected socket: nc carries on (as OpenBSD's).
        continue;
      }
      if (d === null) return;
      idle.kick();
      out(d.data);
    }
  })();
  const toNet = (async (): Promise<void> => {
    if (firstSend !== undefined) u.send(firstSend);
    if (o.noStdin) return;
    try {
      for await (const chunk of ctx.stdin) {
        idle.kick();
        try {
          u.send(Uint8Array.prototype.slice.call(chunk));
        } catch (e) {
          if (e instanceof SocketError && e.code === 'ECONNREFUSED') continue;
          ctx.stderr.write(`nc: write failed: ${errText(e)}\n`);
          failed = true;
          return;
        }
        if (o.intervalMs > 0) await sleep(ctx.image, o.intervalMs).done;
      }
    } catch {
      /* closed */
    }
  })();
  // UDP has no end of stream: run until -w idle time, Ctrl-C, or a send failure with input done.
  const how = await Promise.race([idle.expired, aborted(ctx.signal), toNet.then(() => (failed ? 'failed' : new Promise<never>(() => {})))]);
  idle.stop();
  u.close();
  await fromNet;
  if (how === 'abort') return signalStatus(ctx.signal.reason);
  return how === 'failed' ? EX_FAIL : EX_OK;
}

async function udpClient(ctx: CommandContext, o: NcOptions, addr: number | string): Promise<number> {
  const im = ctx.image;
  let ok = 0;
  for (const port of o.ports) {
    const u = im.sockets.udp({ family: o.family === 6 ? 6 : 4 });
    try {
      if (o.srcAddr !== 0 || o.src6 !== undefined || o.srcPort !== 0) u.bind(o.srcPort, srcOf(o));
      u.connect(addr, port);
    } catch (e) {
      u.close();
      ctx.stderr.write(`nc: connect to ${o.host} port ${port} (udp) failed: ${errText(e)}\n`);
      continue;
    }
    if (!o.zero) return pumpUdp(ctx, o, u);
    // udptest: a few probe bytes; an ICMP port unreachable makes a later one fail.
    let refused = false;
    for (let i = 0; i < 3 && !refused; i++) {
      try {
        u.send(new Uint8Array([0x58]));
      } catch {
        refused = true;
        break;
      }
      await sleep(im, 100).done;
    }
    try {
      u.send(new Uint8Array([0x58]));
    } catch {
      refused = true;
    }
    u.close();
    if (refused) continue;
    ok++;
    if (o.verbose) ctx.stderr.write(`Connection to ${o.host} ${port} port [udp/*] succeeded!\n`);
  }
  return ok > 0 ? EX_OK : EX_FAIL;
}

async function udpListener(ctx: CommandContext, o: NcOptions): Promise<number> {
  const u = ctx.image.sockets.udp({ family: o.family === 6 ? 6 : 4 });
  u.reuseAddr = true;
  try {
    u.bind(o.ports[0]!, srcOf(o));
  } catch (e) {
    u.close();
    ctx.stderr.write(`nc: ${errText(e)}\n`);
    return EX_FAIL;
  }
  // The first datagram fixes the peer (nc "connects" the socket to it).
  const first = await Promise.race([u.recv().catch(() => null), aborted(ctx.signal)]);
  if (first === 'abort' || first === null) {
    u.close();
    return signalStatus(ctx.signal.reason);
  }
  if (o.verbose) ctx.stderr.write(`Connection from ${peerText(first)} ${first.port} received!\n`);
  byteSink(ctx)(first.data);
  if (!o.keep) u.connect(first.addr6 !== undefined ? { addr6: first.addr6, zone: first.zone ?? null } : first.addr, first.port);
  return pumpUdp(ctx, o, u);
}

const nc: Command = async (ctx) => {
  const o = parseArgs(ctx.argv);
  if (typeof o === 'string') {
    ctx.stderr.write(o.startsWith('usage:') ? `${o}\n` : `nc: ${o}\n`);
    return EX_USAGE;
  }
  return o.listen ? listener(ctx, o) : client(ctx, o);
};

export const commands: Record<string, Command> = { nc };
