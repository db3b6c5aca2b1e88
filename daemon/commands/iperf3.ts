/**
 * iperf3 -s inside an image: a server that speaks the iperf3 control
 * protocol, so the stock iperf3 client on a Linux host measures TCP and UDP
 * throughput to (and, with -R, from) the image.
 *
 *     vimage S iperf3 -s [-p PORT] [-1] [-B ADDR]
 *
 * The protocol, as iperf3 3.x speaks it: the client opens a control
 * connection and sends a 37-byte cookie; the server moves through states
 * (one signed byte each): PARAM_EXCHANGE (the client sends its parameters
 * as a 4-byte length and JSON), CREATE_STREAMS (the client opens data
 * connections to the same port, each starting with the cookie, or for UDP
 * sends a 4-byte hello that the server answers), TEST_START, TEST_RUNNING;
 * the client ends the test with TEST_END, the server answers
 * EXCHANGE_RESULTS (results are swapped as length + JSON, client first),
 * then DISPLAY_RESULTS, and the client says IPERF_DONE.
 */

import type { Timer } from '../../lib/control/index.js';
import type { ImageControl } from '../../lib/control/index.js';
import type { TcpSocket } from '../../lib/socket/tcp.js';
import { UdpSocket, type Datagram } from '../../lib/socket/udp.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { in6Equal, in6IsV4Mapped, parseIp6 } from '../../lib/wire/ipv6.js';
import { endpointText, type SockAddr6 } from '../../lib/socket/sockaddr6.js';

/** A UDP stream's client: its address (and where replies go: the IPv4 number or the IPv6 socket address) and port. */
interface UdpPeer {
  addr: number;
  port: number;
  to: number | SockAddr6;
}

/** Same client as the datagram's sender? */
function samePeer(p: UdpPeer, d: Datagram): boolean {
  if (p.port !== d.port || p.addr !== d.addr) return false;
  if (typeof p.to === 'number') return d.addr6 === undefined;
  return d.addr6 !== undefined && in6Equal(p.to.addr6, 0, d.addr6, 0);
}

/** An address as iperf3 prints it: v4-mapped ones as plain IPv4 (its mapped_v4_to_regular_v4). */
function hostText(e: { addr: number; addr6?: Uint8Array; zone?: SockAddr6['zone'] }): string {
  if (e.addr6 !== undefined && in6IsV4Mapped(e.addr6)) return ip4ToString(e.addr);
  return endpointText(e);
}
import { EX_FAIL, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const COOKIE_SIZE = 37;
const S = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_DONE: 16,
  ACCESS_DENIED: 0xff,
  SERVER_ERROR: 0xfe,
} as const;
/** UDP hello and answer (text form "6789"/"9876", and the legacy numbers), read as little-endian ints as x86 clients write them. */
const UDP_CONNECT_MSG = 0x36373839;
const UDP_CONNECT_REPLY = 0x39383736;
const LEGACY_UDP_CONNECT_MSG = 123456789;
const LEGACY_UDP_CONNECT_REPLY = 987654321;
const DEFAULT_TCP_BLKSIZE = 128 * 1024;
const DEFAULT_UDP_BLKSIZE = 1460;
const DEFAULT_UDP_RATE = 1024 * 1024;

interface Params {
  tcp?: boolean;
  udp?: boolean;
  time?: number;
  parallel?: number;
  reverse?: boolean;
  bidirectional?: boolean;
  len?: number;
  bandwidth?: number;
  udp_counters_64bit?: number;
  congestion?: string;
  [k: string]: unknown;
}

/** Buffered reads of exact sizes from a TCP socket. */
class Reader {
  private buf = new Uint8Array(0);
  constructor(private readonly s: TcpSocket) {}
  async exact(n: number): Promise<Uint8Array | null> {
    while (this.buf.length < n) {
      const c = await this.s.read();
      if (c === null) return null;
      const b = new Uint8Array(this.buf.length + c.length);
      b.set(this.buf);
      b.set(c, this.buf.length);
      this.buf = b;
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Bytes already read past what was asked for. */
  rest(): Uint8Array {
    const r = this.buf;
    this.buf = new Uint8Array(0);
    return r;
  }
}

interface Stream {
  id: number;
  tcp: TcpSocket | null;
  udpPeer: UdpPeer | null;
  bytes: number;
  packets: number;
  errors: number;
  jitter: number;
  lastTransit: number | null;
  lastSeq: number;
  outOfOrder: number;
  sender: boolean;
}

function fmtBytes(n: number): string {
  const units = ['Bytes', 'KBytes', 'MBytes', 'GBytes', 'TBytes'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(2) : v < 100 && u > 0 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

function fmtBits(bps: number): string {
  const units = ['bits/sec', 'Kbits/sec', 'Mbits/sec', 'Gbits/sec', 'Tbits/sec'];
  let v = bps;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

class Session {
  readonly streams: Stream[] = [];
  params: Params = {};
  cookie = '';
  started = 0;
  ended = 0;
  private udp: UdpSocket | null = null;
  private timers: Timer[] = [];
  private streamWait: (() => void) | null = null;
  running = false;
  congestion = 'newreno';

  constructor(
    readonly ctx: CommandContext,
    readonly im: ImageControl,
    readonly port: number,
    /** The listener's family: 6 for the dual-stack socket iperf3 opens on :: (UDP streams too). */
    readonly family: 4 | 6 = 4,
    readonly bind6: string = '::',
  ) {}

  out(s: string): void {
    this.ctx.stdout.write(s);
  }

  get nStreams(): number {
    return Math.max(1, Math.min(this.params.parallel ?? 1, 128));
  }

  /** Streams in the order iperf3 numbers them: 1, 3, 4, ... */
  addStream(s: Omit<Stream, 'id'>): Stream {
    const id = this.streams.length === 0 ? 1 : this.streams.length + 2;
    const st = { ...s, id };
    this.streams.push(st);
    this.streamWait?.();
    return st;
  }

  async waitStreams(): Promise<boolean> {
    while (this.streams.length < this.nStreams) {
      const ok = await new Promise<boolean>((resolve) => {
        this.streamWait = () => resolve(true);
        this.timers.push(this.im.clock.after(10_000, () => resolve(false)));
      });
      this.streamWait = null;
      if (!ok) return false;
    }
    return true;
  }

  /** A TCP data connection offered by the accept loop: ours if it carries our cookie. */
  async offerTcp(c: TcpSocket, cookie: string, rest: Uint8Array): Promise<boolean> {
    if (cookie !== this.cookie || this.params.udp === true || this.streams.length >= this.nStreams) return false;
    const sender = this.params.reverse === true;
    // -C NAME: the congestion control the client asked for (when we know it).
    if (typeof this.params.congestion === 'string') {
      try {
        c.setCongestionControl(this.params.congestion);
      } catch {
        /* unknown: keep the default */
      }
    }
    this.congestion = c.congestionControl;
    const st = this.addStream({ tcp: c, udpPeer: null, bytes: 0, packets: 0, errors: 0, jitter: 0, lastTransit: null, lastSeq: 0, outOfOrder: 0, sender });
    const local = c.localAddress();
    const remote = c.remoteAddress();
    this.out(`[${String(st.id + 4).padStart(3)}] local ${hostText(local)} port ${local.port} connected to ${hostText(remote)} port ${remote.port}\n`);
    if (sender) void this.sendTcp(st, c);
    else void this.recvTcp(st, c, rest);
    return true;
  }

  private async recvTcp(st: Stream, c: TcpSocket, rest: Uint8Array): Promise<void> {
    if (this.running) st.bytes += rest.length;
    try {
      for await (const chunk of c) if (this.running) st.bytes += chunk.length;
    } catch {
      /* reset at the end of a test is normal */
    }
  }

  private async sendTcp(st: Stream, c: TcpSocket): Promise<void> {
    const block = new Uint8Array(this.params.len ?? DEFAULT_TCP_BLKSIZE);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7) & 0xff;
    while (!this.running && this.ended === 0) await new Promise((r) => this.timers.push(this.im.clock.after(1, () => r(null))));
    try {
      while (this.running) {
        await c.write(block);
        st.bytes += block.length;
      }
    } catch {
      /* the client closed */
    }
  }

  /** UDP streams: one socket on the server port; each client port is a stream. */
  startUdp(): void {
    const u = this.im.sockets.udp(this.family === 6 ? { family: 6, v6only: this.bind6 !== '::' } : {});
    u.reuseAddr = true;
    if (this.family === 6) u.bind(this.port, this.bind6);
    else u.bind(this.port);
    this.udp = u;
    void (async () => {
      for (;;) {
        let d: Datagram | null;
        try {
          d = await u.recv();
        } catch {
          continue;
        }
        if (d === null) return;
        this.udpInput(u, d);
      }
    })();
  }

  private udpInput(u: UdpSocket, d: Datagram): void {
    let st = this.streams.find((s) => s.udpPeer !== null && samePeer(s.udpPeer, d));
    if (st === undefined) {
      if (d.data.length !== 4 || this.streams.length >= this.nStreams) return;
      const v = new DataView(d.data.buffer, d.data.byteOffset, 4).getUint32(0, true);
      if (v !== UDP_CONNECT_MSG && v !== LEGACY_UDP_CONNECT_MSG) return;
      const sender = this.params.reverse === true;
      st = this.addStream({ tcp: null, udpPeer: { addr: d.addr, port: d.port, to: d.addr6 !== undefined ? { addr6: d.addr6, zone: d.zone ?? null } : d.addr }, bytes: 0, packets: 0, errors: 0, jitter: 0, lastTransit: null, lastSeq: 0, outOfOrder: 0, sender });
      const reply = new Uint8Array(4);
      new DataView(reply.buffer).setUint32(0, v === UDP_CONNECT_MSG ? UDP_CONNECT_REPLY : LEGACY_UDP_CONNECT_REPLY, true);
      u.send(reply, st.udpPeer!.to, d.port);
      const here = d.addr6 === undefined || in6IsV4Mapped(d.addr6) ? ip4ToString(d.dst) : hostText(u.address());
      this.out(`[${String(st.id + 4).padStart(3)}] local ${here} port ${this.port} connected to ${hostText(d)} port ${d.port}\n`);
      if (sender) this.sendUdp(st, u);
      return;
    }
    if (!this.running || st.sender) return;
    // Datagram header: seconds, microseconds, sequence (32 or 64 bits), network order.
    const b = d.data;
    if (b.length < 12) return;
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    const sec = dv.getUint32(0);
    const usec = dv.getUint32(4);
    const seq = this.params.udp_counters_64bit === 1 && b.length >= 16 ? Number(dv.getBigUint64(8)) : dv.getUint32(8);
    st.bytes += b.length;
    st.packets++;
    if (seq > st.lastSeq + 1) st.errors += seq - st.lastSeq - 1;
    else if (seq <= st.lastSeq) {
      st.outOfOrder++;
      if (st.errors > 0) st.errors--;
    }
    if (seq > st.lastSeq) st.lastSeq = seq;
    // RFC 1889 jitter over the transit time.
    const transit = Date.now() / 1000 - (sec + usec / 1e6);
    if (st.lastTransit !== null) st.jitter += (Math.abs(transit - st.lastTransit) - st.jitter) / 16;
    st.lastTransit = transit;
  }

  private sendUdp(st: Stream, u: UdpSocket): void {
    const len = Math.max(16, this.params.len ?? DEFAULT_UDP_BLKSIZE);
    const rate = this.params.bandwidth !== undefined && this.params.bandwidth > 0 ? this.params.bandwidth : DEFAULT_UDP_RATE;
    const peer = st.udpPeer!;
    let seq = 0;
    let t0 = -1;
    const tick = (): void => {
      if (this.ended !== 0) return;
      if (this.running) {
        const now = this.im.clock.now();
        if (t0 < 0) t0 = now;
        const due = Math.floor(((now - t0) / 1000) * (rate / 8)) - st.bytes;
        for (let sent = 0; sent < due && sent < 2 * 1024 * 1024; sent += len) {
          const b = new Uint8Array(len);
          const dv = new DataView(b.buffer);
          const wall = Date.now();
          dv.setUint32(0, Math.floor(wall / 1000));
          dv.setUint32(4, (wall % 1000) * 1000);
          seq++;
          if (this.params.udp_counters_64bit === 1) dv.setBigUint64(8, BigInt(seq));
          else dv.setUint32(8, seq);
          try {
            u.send(b, peer.to, peer.port);
          } catch {
            st.errors++;
          }
          st.bytes += len;
          st.packets++;
        }
      }
      this.timers.push(this.im.clock.after(2, tick));
    };
    tick();
  }

  results(): string {
    const dur = Math.max((this.ended || this.im.clock.now()) - this.started, 1) / 1000;
    const sender = this.params.reverse === true;
    return JSON.stringify({
      cpu_util_total: 0,
      cpu_util_user: 0,
      cpu_util_system: 0,
      sender_has_retransmits: sender ? 1 : -1,
      congestion_used: this.congestion,
      streams: this.streams.map((s) => ({
        id: s.id,
        bytes: s.bytes,
        retransmits: sender && s.tcp !== null ? 0 : -1,
        jitter: s.jitter,
        errors: s.errors,
        omitted_errors: 0,
        packets: s.packets,
        omitted_packets: 0,
        start_time: 0,
        end_time: dur,
      })),
    });
  }

  summary(): void {
    const dur = Math.max(this.ended - this.started, 1) / 1000;
    this.out('- - - - - - - - - - - - - - - - - - - - - - - - -\n');
    const udp = this.params.udp === true;
    this.out(udp ? '[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n' : '[ ID] Interval           Transfer     Bitrate\n');
    for (const s of this.streams) {
      const role = s.sender ? 'sender' : 'receiver';
      let line = `[${String(s.id + 4).padStart(3)}]   0.00-${dur.toFixed(2).padEnd(6)}sec  ${fmtBytes(s.bytes).padStart(10)}  ${fmtBits((s.bytes * 8) / dur).padStart(14)}`;
      if (udp && !s.sender) {
        const total = s.packets + s.errors;
        line += `  ${(s.jitter * 1000).toFixed(3)} ms  ${s.errors}/${total} (${total > 0 ? ((100 * s.errors) / total).toPrecision(2) : '0'}%)`;
      }
      this.out(`${line}  ${role}\n`);
    }
  }

  closeStreams(): void {
    for (const s of this.streams) s.tcp?.close();
  }

  close(): void {
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    for (const s of this.streams) s.tcp?.close();
    this.udp?.close();
    this.udp = null;
  }
}

async function sendState(c: TcpSocket, state: number): Promise<void> {
  await c.write(new Uint8Array([state & 0xff]));
}

async function sendJson(c: TcpSocket, text: string): Promise<void> {
  const body = new TextEncoder().encode(text);
  const b = new Uint8Array(4 + body.length);
  new DataView(b.buffer).setUint32(0, body.length);
  b.set(body, 4);
  await c.write(b);
}

async function readJson(r: Reader): Promise<unknown> {
  const h = await r.exact(4);
  if (h === null) return null;
  const n = new DataView(h.buffer, h.byteOffset, 4).getUint32(0);
  if (n > 1 << 20) return null;
  const body = await r.exact(n);
  if (body === null) return null;
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return null;
  }
}

/** Run one test on an accepted control connection. */
async function runTest(ctx: CommandContext, sess: Session, ctrl: TcpSocket, r: Reader): Promise<void> {
  const c = await r.exact(COOKIE_SIZE);
  if (c === null) return;
  sess.cookie = new TextDecoder().decode(c.subarray(0, COOKIE_SIZE - 1));
  ctrl.setNoDelay(true);
  await sendState(ctrl, S.PARAM_EXCHANGE);
  const p = await readJson(r);
  if (p === null || typeof p !== 'object') {
    await sendState(ctrl, S.SERVER_ERROR).catch(() => {});
    return;
  }
  sess.params = p as Params;
  if (sess.params.bidirectional === true) {
    ctx.stderr.write('iperf3: --bidir is not supported by this server\n');
    await sendState(ctrl, S.SERVER_ERROR).catch(() => {});
    return;
  }
  if (sess.params.udp === true) sess.startUdp();
  await sendState(ctrl, S.CREATE_STREAMS);
  if (!(await sess.waitStreams())) {
    await sendState(ctrl, S.SERVER_ERROR).catch(() => {});
    return;
  }
  sess.started = ctx.image.clock.now();
  sess.running = true;
  await sendState(ctrl, S.TEST_START);
  await sendState(ctrl, S.TEST_RUNNING);
  for (;;) {
    const m = await r.exact(1);
    if (m === null) return;
    const state = m[0]!;
    if (state === S.TEST_END) {
      sess.running = false;
      sess.ended = ctx.image.clock.now();
      // As iperf3's server: the data streams close at once (a client blocked reading one sees its end).
      sess.closeStreams();
      await sendState(ctrl, S.EXCHANGE_RESULTS);
      const theirs = await readJson(r);
      if (theirs === null) return;
      await sendJson(ctrl, sess.results());
      await sendState(ctrl, S.DISPLAY_RESULTS);
      sess.summary();
    } else if (state === S.IPERF_DONE || state === S.CLIENT_TERMINATE) {
      if (state === S.CLIENT_TERMINATE && sess.ended === 0) {
        sess.ended = ctx.image.clock.now();
        sess.summary();
      }
      return;
    }
  }
}

const iperf3: Command = async (ctx) => {
  const g = getopt(ctx.argv, 'sp:1B:c:VvhJi:f:D');
  const usage = 'usage: iperf3 -s [-p port] [-1] [-B bind_address]';
  if ('error' in g) {
    ctx.stderr.write(`iperf3: ${g.error}\n${usage}\n`);
    return EX_USAGE;
  }
  let server = false;
  let port = 5201;
  let oneOff = false;
  let bind = 0;
  let bind6: string | undefined;
  for (const [ch, arg] of g.opts) {
    if (ch === 's') server = true;
    else if (ch === 'p') {
      const v = Number(arg);
      if (!Number.isInteger(v) || v < 1 || v > 65535) {
        ctx.stderr.write(`iperf3: parameter error - invalid port ${arg}\n`);
        return EX_USAGE;
      }
      port = v;
    } else if (ch === '1') oneOff = true;
    else if (ch === 'B') {
      const a = parseIp4(arg);
      if (a === undefined && parseIp6(arg.split('%')[0]!) !== undefined) {
        bind6 = arg;
        continue;
      }
      if (a === undefined) {
        ctx.stderr.write(`iperf3: parameter error - ${arg} is not an IPv4 or IPv6 address\n`);
        return EX_USAGE;
      }
      bind = a;
    } else if (ch === 'c') {
      ctx.stderr.write('iperf3: client mode is not available inside an image yet; run the client on a Linux host\n');
      return EX_USAGE;
    } else if (ch === 'v' || ch === 'V') {
      ctx.stdout.write('iperf 3.x compatible server (vimage)\n');
      return 0;
    }
  }
  if (!server) {
    ctx.stderr.write(`iperf3: parameter error - must either be a client (-c) or server (-s)\n${usage}\n`);
    return EX_USAGE;
  }
  const im = ctx.image;
  // As iperf3: one socket on :: taking both families (tcp46), unless -B names an IPv4 address.
  const family: 4 | 6 = bind !== 0 ? 4 : 6;
  const l = im.sockets.tcpListener(family === 6 ? { family: 6, v6only: bind6 !== undefined } : {});
  l.reuseAddr = true;
  try {
    l.listen(port, 128, family === 6 ? (bind6 ?? '::') : bind);
  } catch (e) {
    l.close();
    ctx.stderr.write(`iperf3: error - unable to start listener for connections: ${(e as Error).message}\n`);
    return EX_FAIL;
  }
  const rule = '-----------------------------------------------------------\n';
  let testNo = 1;
  let sess: Session | null = null;
  let ctrlBusy = false;
  const stop = new Promise<'abort'>((resolve) => {
    if (ctx.signal.aborted) resolve('abort');
    ctx.signal.addEventListener('abort', () => resolve('abort'), { once: true });
  });
  const done: { finish: () => void } = { finish: () => {} };
  const allDone = new Promise<void>((resolve) => (done.finish = resolve));
  ctx.stdout.write(`${rule}Server listening on ${port} (test #${testNo})\n${rule}`);
  void (async () => {
    for await (const c of l) {
      if (ctrlBusy && sess !== null) {
        // A data connection for the running test: cookie first.
        const r = new Reader(c);
        const cookie = await r.exact(COOKIE_SIZE);
        const text = cookie === null ? '' : new TextDecoder().decode(cookie.subarray(0, COOKIE_SIZE - 1));
        if (!(await sess.offerTcp(c, text, r.rest()))) {
          await sendState(c, S.ACCESS_DENIED).catch(() => {});
          c.close();
        }
        continue;
      }
      ctrlBusy = true;
      const peer = c.remoteAddress();
      ctx.stdout.write(`Accepted connection from ${hostText(peer)}, port ${peer.port}\n`);
      sess = new Session(ctx, im, port, family, bind6 ?? '::');
      const s = sess;
      void (async () => {
        try {
          await runTest(ctx, s, c, new Reader(c));
        } catch {
          /* the client went away */
        } finally {
          s.close();
          c.close();
          sess = null;
          ctrlBusy = false;
          testNo++;
          if (oneOff) done.finish();
          else ctx.stdout.write(`${rule}Server listening on ${port} (test #${testNo})\n${rule}`);
        }
      })();
    }
  })();
  await Promise.race([stop, allDone]);
  l.close();
  (sess as Session | null)?.close();
  return ctx.signal.aborted ? signalStatus(ctx.signal.reason) : 0;
};

export const commands: Record<string, Command> = { iperf3 };
