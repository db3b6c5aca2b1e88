/**
 * inetd(8), the internet super-server, in an image:
 *
 *   vimage -b R inetd [-dl] [-a address] [-C rate] [-c maximum] [-R rate] [-s maximum] [inetd.conf]
 *
 * Reads inetd.conf(5) (inetd_conf.ts; default /etc/inetd.conf), listens on
 * the image's sockets for every service and serves each connection or
 * datagram: the internal services itself (inetd_internal.ts), other lines
 * by running their program in the image, one per connection (nowait), with
 * the connection as the program's stdin, stdout and stderr. The program's
 * descriptors are pipes whose other ends the daemon pumps to and from the
 * accepted image socket, so getpeername(0) fails with ENOTSOCK: programs
 * that ask who called them (tcpd-style checks) cannot learn it. `wait`
 * lines that run a program (which would be handed the socket itself) are
 * skipped with a message, and so are dgram lines that run a program.
 *
 * SIGHUP (`kill -HUP PID`) rereads the file as FreeBSD's config() does:
 * services still there keep their sockets, new ones are opened, removed
 * ones closed. Messages go to the process's log (`vimage R logs PID`) in
 * syslogd's file format, `Mmm dd hh:mm:ss IMAGE inetd[PID]: message`;
 * errors always, and with -l each connection as FreeBSD logs it
 * ("%s from %s"). -d adds FreeBSD's debug lines (print_service, enabling).
 *
 * Limits as FreeBSD applies them: max-child (no more accepts until a child
 * ends), max-connections-per-ip-per-minute ("%s from %s exceeded
 * counts/min (limit %d/min)"), max-child-per-ip ("%s from %s exceeded
 * counts (limit %d)"), and -R's invocations per minute per service
 * ("%s/%s server failing (looping), service terminated", retried after
 * RETRYTIME).
 */

import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Timer } from '../../lib/control/index.js';
import type { TcpListener, TcpSocket } from '../../lib/socket/tcp.js';
import type { UdpSocket } from '../../lib/socket/udp.js';
import { ip4ToString, parseIp4 } from '../../lib/wire/ipv4.js';
import { EX_FAIL, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { parseInetdConf, printService, servicesFrom, type ServEntry, type Services } from './inetd_conf.js';
import { DgramServer, serveStream } from './inetd_internal.js';
import { getopt, signalStatus } from './ping.js';

const USAGE = 'usage: inetd [-dl] [-a address] [-C rate] [-c maximum] [-R rate] [-s maximum] [configuration_file]';
const CONFIG = '/etc/inetd.conf';
/** sysexits EX_DATAERR: what sskip() exits with on a syntax error. */
const EX_DATAERR = 65;
/** -R default (TOOMANY) and its window (CNT_INTVL), and how long a looping service rests (RETRYTIME). */
const TOOMANY = 256;
const CNT_INTVL_MS = 60_000;
const RETRYTIME_MS = 60_000;
/** Internal services that fork in FreeBSD (bi_fork): they count as children. */
const FORKS = new Set(['echo', 'discard', 'chargen']);

interface Opts {
  debug: boolean;
  log: boolean;
  bindAddr: number;
  maxCpm: number;
  maxChild: number;
  toomany: number;
  maxPerIp: number;
  conf: string;
}

export function parseInetdArgs(argv: readonly string[]): Opts | string {
  const g = getopt(argv, 'a:C:c:dlR:s:');
  if ('error' in g) return `${g.error}\n${USAGE}`;
  if (g.operands.length > 1) return USAGE;
  const o: Opts = { debug: false, log: false, bindAddr: 0, maxCpm: 0, maxChild: 0, toomany: TOOMANY, maxPerIp: 0, conf: g.operands[0] ?? CONFIG };
  for (const [ch, arg] of g.opts) {
    const n = /^\d+$/.test(arg) ? Number(arg) : NaN;
    switch (ch) {
      case 'a': {
        const a = parseIp4(arg);
        if (a === undefined) return `-a ${arg}: give an IPv4 address of the image`;
        o.bindAddr = a;
        break;
      }
      case 'C':
        if (Number.isNaN(n)) return `-C ${arg}: bad value for maximum connections per IP per minute`;
        o.maxCpm = n;
        break;
      case 'c':
        if (Number.isNaN(n)) return `-c ${arg}: bad value for maximum children`;
        o.maxChild = n;
        break;
      case 'd':
        o.debug = true;
        break;
      case 'l':
        o.log = true;
        break;
      case 'R':
        if (Number.isNaN(n)) return `-R ${arg}: bad value for service invocation rate`;
        o.toomany = n;
        break;
      case 's':
        if (Number.isNaN(n)) return `-s ${arg}: bad value for maximum children per source address`;
        o.maxPerIp = n;
        break;
    }
  }
  return o;
}

/** One service with its socket, as FreeBSD's struct servtab. */
interface Serv {
  e: ServEntry;
  listener?: TcpListener;
  udp?: UdpSocket;
  children: number;
  perIp: Map<number, number>;
  cpm: CpmTable;
  /** Invocations in the current CNT_INTVL window (se_count, se_time). */
  count: number;
  countSince: number;
  room: (() => void) | null;
  closed: boolean;
  retry?: Timer;
}

/** Connection times in the last minute by peer address (cpmip()'s table), and when it was last swept. */
export interface CpmTable {
  byAddr: Map<number, number[]>;
  swept: number;
}

/** Record a connection from `addr` at `now`: more than `max` in the last minute? */
export function cpmHit(cpm: CpmTable, addr: number, now: number, max: number): boolean {
  // Once a minute, forget the peers with no connection in the last minute (FreeBSD's table is fixed in size).
  if (now - cpm.swept >= 60_000) {
    for (const [a, t] of cpm.byAddr) if (now - t[t.length - 1]! >= 60_000) cpm.byAddr.delete(a);
    cpm.swept = now;
  }
  const times = (cpm.byAddr.get(addr) ?? []).filter((t) => now - t < 60_000);
  times.push(now);
  cpm.byAddr.set(addr, times);
  return times.length > max;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** syslogd's line: "Dec  4 18:49:03 HOST inetd[PID]: message". */
export function syslogLine(ms: number, host: string, pid: number, msg: string): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${host} inetd[${pid}]: ${msg}\n`;
}

/** uid and gid of a user (and group) from the host's /etc/passwd and /etc/group. */
function lookupUser(user: string, group: string | undefined): { uid: number; gid: number } | string {
  const read = (f: string): string[] => {
    try {
      return readFileSync(f, 'utf8').split('\n');
    } catch {
      return [];
    }
  };
  const pw = read('/etc/passwd').map((l) => l.split(':')).find((f) => f[0] === user && f.length >= 4);
  if (pw === undefined) return `no such user '${user}'`;
  let gid = Number(pw[3]);
  if (group !== undefined) {
    const gr = read('/etc/group').map((l) => l.split(':')).find((f) => f[0] === group && f.length >= 3);
    if (gr === undefined) return `no such group '${group}'`;
    gid = Number(gr[2]);
  }
  return { uid: Number(pw[2]), gid };
}

class Inetd {
  private readonly servs = new Map<string, Serv>();
  private readonly conns = new Set<TcpSocket>();
  private readonly kids = new Set<{ kill(sig: NodeJS.Signals): void }>();
  private readonly tasks = new Set<Promise<void>>();
  /** Looping services waiting out RETRYTIME (closed, so not in `servs`). */
  private readonly resting = new Set<Serv>();
  readonly stop = new AbortController();

  constructor(
    private readonly ctx: CommandContext,
    private readonly o: Opts,
    private readonly services: Services,
  ) {}

  syslog(msg: string): void {
    this.ctx.stderr.write(syslogLine(Date.now(), this.ctx.image.name, this.ctx.pid, msg));
  }

  /** -d: warnx() lines ("inetd: ..."), or print_service()'s, which have no prefix. */
  private debug(msg: string, raw = false): void {
    if (this.o.debug) this.ctx.stderr.write(raw ? msg : `inetd: ${msg}\n`);
  }

  private track(p: Promise<void>): void {
    this.tasks.add(p);
    void p.finally(() => this.tasks.delete(p));
  }

  /** config(): (re)read the file; false when inetd must stop (unreadable at start, or a syntax error). */
  config(first: boolean): boolean {
    let text: string;
    try {
      text = readFileSync(this.o.conf, 'utf8');
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message;
      this.syslog(`${this.o.conf}: ${why}`);
      return !first;
    }
    const conf = parseInetdConf(text, this.o.conf, this.services);
    for (const m of conf.errors) this.syslog(m);
    if (conf.fatal !== undefined) {
      this.syslog(conf.fatal);
      return false;
    }
    // A resting service still in the file is set up again below, at once (as FreeBSD's config() does); one gone from it stays gone.
    this.unrest();
    const seen = new Set<string>();
    for (const e of conf.entries) {
      if (e.maxCpm === 0) e.maxCpm = this.o.maxCpm;
      if (e.maxPerIp === 0) e.maxPerIp = this.o.maxPerIp;
      if (e.builtin === undefined && e.maxChild === 0) e.maxChild = this.o.maxChild;
      if (e.builtin === undefined && (e.wait || e.socktype === 'dgram')) {
        this.syslog(`${e.service}/${e.proto}: ${e.wait ? 'wait' : 'nowait'} ${e.socktype} services that run a program need the socket itself as fd 0, which image sockets cannot be for a Linux program yet; service ignored`);
        continue;
      }
      const user = lookupUser(e.user, e.group);
      if (typeof user === 'string') {
        this.syslog(`${e.service}/${e.proto}: ${user}, service ignored`);
        continue;
      }
      const key = `${e.service}/${e.proto}`;
      seen.add(key);
      const old = this.servs.get(key);
      if (old !== undefined && !old.closed && old.e.port === e.port) {
        old.e = e; // same socket, new settings
        this.debug(printService('REDO', e), true);
        continue;
      }
      if (old !== undefined) this.close(key, old);
      this.debug(printService('ADD ', e), true);
      this.setup(key, e);
    }
    for (const [key, s] of [...this.servs]) {
      if (seen.has(key)) continue;
      this.debug(printService('FREE', s.e), true);
      this.close(key, s);
    }
    return true;
  }

  private setup(key: string, e: ServEntry): void {
    const s: Serv = { e, children: 0, perIp: new Map(), cpm: { byAddr: new Map(), swept: 0 }, count: 0, countSince: 0, room: null, closed: false };
    const im = this.ctx.image;
    try {
      if (e.socktype === 'stream') {
        const l = im.sockets.tcpListener();
        s.listener = l;
        l.reuseAddr = true;
        l.listen(e.port, 128, this.o.bindAddr);
        this.track(this.acceptLoop(s, l));
      } else {
        const u = im.sockets.udp();
        s.udp = u;
        u.reuseAddr = true;
        u.bind(e.port, this.o.bindAddr);
        const ds = new DgramServer(
          e.builtin!,
          u,
          () => Date.now(),
          (d) => this.checkLoop(s, d.port, d.addr),
          (m) => this.syslog(m),
          (d) => {
            if (this.o.log) this.syslog(`${s.e.service} from ${ip4ToString(d.addr)}`);
          },
        );
        this.track(ds.run());
      }
    } catch (err) {
      s.listener?.close();
      s.udp?.close();
      this.syslog(`${e.service}/${e.proto}: bind: ${(err as Error).message}`);
      return;
    }
    this.servs.set(key, s);
    // FreeBSD says "enabling %s, fd %d"; the fd of an image socket is sockstat's business, so the port instead.
    this.debug(`enabling ${e.service}, port ${e.port}`);
  }

  private close(key: string, s: Serv): void {
    s.closed = true;
    s.retry?.cancel();
    s.listener?.close();
    s.udp?.close();
    s.room?.();
    if (this.servs.get(key) === s) this.servs.delete(key);
  }

  /** check_loop(): a datagram from another internal dgram service's port. */
  private checkLoop(s: Serv, port: number, addr: number): string | undefined {
    for (const o of this.servs.values()) {
      if (o.e.builtin === undefined || o.e.socktype !== 'dgram' || o.e.port !== port) continue;
      return `${s.e.service}/${s.e.proto}:${o.e.service}/${o.e.proto} loop request REFUSED from ${ip4ToString(addr)}`;
    }
    return undefined;
  }

  /** cpmip(): connections from `addr` in the last minute, this one included, over the limit? */
  private overCpm(s: Serv, addr: number): boolean {
    if (s.e.maxCpm <= 0) return false;
    return cpmHit(s.cpm, addr, this.ctx.image.clock.now(), s.e.maxCpm);
  }

  private async acceptLoop(s: Serv, l: TcpListener): Promise<void> {
    for (;;) {
      // At max-child the service is disabled: connections wait in the listen queue.
      while (!s.closed && s.e.maxChild > 0 && s.children >= s.e.maxChild) {
        this.debug(`disabling ${s.e.service}, port ${s.e.port}`);
        await new Promise<void>((r) => (s.room = r));
        s.room = null;
      }
      const c = await l.accept();
      if (c === null || s.closed) {
        c?.destroy();
        return;
      }
      this.connection(s, c);
    }
  }

  private connection(s: Serv, c: TcpSocket): void {
    const e = s.e;
    const peer = c.remoteAddress().addr;
    const pname = ip4ToString(peer);
    if (this.overCpm(s, peer)) {
      this.syslog(`${e.service} from ${pname} exceeded counts/min (limit ${e.maxCpm}/min)`);
      c.close();
      return;
    }
    if (e.maxPerIp > 0 && (s.perIp.get(peer) ?? 0) >= e.maxPerIp) {
      this.syslog(`${e.service} from ${pname} exceeded counts (limit ${e.maxPerIp})`);
      c.close();
      return;
    }
    if (this.o.log) this.syslog(`${e.service} from ${pname}`);
    const forks = e.builtin === undefined || FORKS.has(e.builtin);
    if (forks && this.o.toomany > 0) {
      const now = this.ctx.image.clock.now();
      if (s.count === 0 || now - s.countSince > CNT_INTVL_MS) {
        s.count = 0;
        s.countSince = now;
      }
      if (++s.count > this.o.toomany) {
        this.syslog(`${e.service}/${e.proto} server failing (looping), service terminated`);
        c.close();
        this.rest(s);
        return;
      }
    }
    if (forks) {
      s.children++;
      s.perIp.set(peer, (s.perIp.get(peer) ?? 0) + 1);
    }
    this.conns.add(c);
    const run = e.builtin !== undefined ? serveStream(e.builtin, c, () => Date.now(), this.stop.signal) : this.runProgram(s, c);
    this.track(
      run.finally(() => {
        this.conns.delete(c);
        if (!forks) return;
        s.children--;
        const n = (s.perIp.get(peer) ?? 1) - 1;
        if (n <= 0) s.perIp.delete(peer);
        else s.perIp.set(peer, n);
        s.room?.();
      }),
    );
  }

  /** A looping service closes its socket and is set up again after RETRYTIME. */
  private rest(s: Serv): void {
    const key = `${s.e.service}/${s.e.proto}`;
    this.close(key, s);
    this.resting.add(s);
    s.retry = this.ctx.image.clock.after(RETRYTIME_MS, () => {
      this.resting.delete(s);
      if (!this.stop.signal.aborted && !this.servs.has(key)) this.setup(key, s.e);
    });
  }

  /** Cancel every resting service's retry. */
  private unrest(): void {
    for (const r of this.resting) r.retry?.cancel();
    this.resting.clear();
  }

  /** nowait: the line's program with the connection as fds 0, 1 and 2 (execv(se_server, se_argv)). */
  private async runProgram(s: Serv, c: TcpSocket): Promise<void> {
    const e = s.e;
    const user = lookupUser(e.user, e.group);
    const argv = [e.server, ...e.argv.slice(1)];
    const child = typeof user === 'string' ? user : (this.ctx.procs?.runLinux?.(argv, user) ?? 'this process cannot run programs');
    if (typeof child === 'string') {
      this.syslog(`${e.service}/${e.proto}: execv ${e.server}: ${child}`);
      c.close();
      return;
    }
    this.kids.add(child);
    const toChild = (async () => {
      try {
        for await (const chunk of c) if (!child.stdin.write(chunk)) await once(child.stdin, 'drain');
      } catch {
        // reset by the client, or the program is gone (EPIPE)
      }
      child.stdin.end();
    })();
    const fromChild = async (r: NodeJS.ReadableStream): Promise<void> => {
      try {
        for await (const chunk of r) await c.write(chunk as Uint8Array);
      } catch {
        // the client went away
      }
    };
    await Promise.all([fromChild(child.stdout), fromChild(child.stderr)]);
    const status = await child.done;
    this.kids.delete(child);
    if (this.o.debug) this.ctx.stderr.write(`inetd: ${child.pid} reaped, status ${status}\n`);
    try {
      await c.end();
    } catch {
      // already reset
    }
    c.close(); // the program's descriptors are closed: so is the connection
    await toChild;
  }

  async shutdown(): Promise<void> {
    this.stop.abort();
    this.unrest();
    for (const [key, s] of [...this.servs]) this.close(key, s);
    for (const k of this.kids) k.kill('SIGTERM');
    for (const c of this.conns) c.destroy();
    await Promise.allSettled([...this.tasks]);
  }
}

function readServices(): Services {
  try {
    return servicesFrom(readFileSync('/etc/services', 'utf8'));
  } catch {
    // No /etc/services on this host: the internal services' own ports (RFC 862-868), nothing else.
    return servicesFrom('echo 7/tcp\necho 7/udp\ndiscard 9/tcp sink null\ndiscard 9/udp sink null\ndaytime 13/tcp\ndaytime 13/udp\nchargen 19/tcp ttytst source\nchargen 19/udp ttytst source\ntime 37/tcp timserver\ntime 37/udp timserver\n');
  }
}

const inetd: Command = async (ctx: CommandContext) => {
  const o = parseInetdArgs(ctx.argv);
  if (typeof o === 'string') {
    ctx.stderr.write(`inetd: ${o}\n`);
    return EX_USAGE;
  }
  const d = new Inetd(ctx, o, readServices());
  // Unlike FreeBSD's, which runs on with no services, an unreadable file at start stops inetd: nothing would listen.
  if (!d.config(true)) {
    await d.shutdown();
    return existsConf(o.conf) ? EX_DATAERR : EX_FAIL;
  }
  ctx.onHangup?.(() => {
    if (!d.config(false)) void d.shutdown(); // a syntax error stops inetd, as sskip() exits
  });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted || d.stop.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    d.stop.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const byUs = d.stop.signal.aborted && !ctx.signal.aborted;
  await d.shutdown();
  return byUs ? EX_DATAERR : signalStatus(ctx.signal.reason);
};

function existsConf(f: string): boolean {
  try {
    readFileSync(f);
    return true;
  } catch {
    return false;
  }
}

export const commands: Record<string, Command> = { inetd };
