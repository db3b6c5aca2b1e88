/**
 * rtadvd(8) inside an image: router advertisements on the named interfaces
 * (RFC 4861 6.2), as FreeBSD 14's rtadvd sends them.
 *
 *     vimage -b R rtadvd [-dDfRs] [-c configfile] interface ...
 *
 * Each interface advertises the prefixes of its global inet6 addresses
 * (read again for every advertisement, so address changes show at the next
 * one), from its link-local address to ff02::1 with hop limit 255 and a
 * source link-layer address option, with rtadvd.conf(5)'s defaults:
 * maxinterval 600 s, mininterval maxinterval/3, router lifetime
 * 3 x maxinterval (1800 s), current hop limit 64, prefixes on-link and
 * autonomous with valid lifetime 2592000 s and preferred 604800 s, an MTU
 * option only when `mtu` is configured. Unsolicited advertisements go out
 * at random intervals between mininterval and maxinterval, the first three
 * at most 16 s apart (6.2.4); a router solicitation is answered by a
 * multicast advertisement after a random delay of up to 500 ms and never
 * sooner than 3 s after the last one (6.2.6). On kill or when the image is
 * destroyed a final advertisement with router lifetime 0 goes out (6.2.5).
 *
 * As FreeBSD's rtadvd refuses in getconfig(), an interface with a non-zero
 * router lifetime is not advertised on while net.inet6.ip6.forwarding is 0.
 *
 * An image has no files of its own: `-c -` reads an rtadvd.conf(5) from
 * standard input (`vimage R rtadvd -c - tap0 < rtadvd.conf`); it knows the
 * numeric capabilities maxinterval, mininterval, chlim, raflags, rltime,
 * rtime, retrans, mtu, pinfoflags, vltime and pltime, and `tc=`.
 */

import type { Icmp6Socket, ImageControl, Timer } from '../../lib/control/index.js';
import { put16, put32 } from '../../lib/wire/bytes.js';
import type { Mac } from '../../lib/wire/ethernet.js';
import { ICMP6_TYPE, ND_OPT, emitNdLla, emitNdMtu, emitNdPrefix } from '../../lib/wire/icmp6.js';
import { IN6ADDR_LINKLOCAL_ALLNODES, in6Mask, ip6ToString, parseIp6, type In6Addr } from '../../lib/wire/ipv6.js';
import { EX_FAIL, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const CMD = 'rtadvd';
const USAGE = 'usage: rtadvd [-dDfRs] [-c configfile] interface ...';

/** RFC 4861 10 router constants (ms). */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS = 3_000;
export const MAX_RA_DELAY_TIME = 500;

/** One interface's advertising parameters (rtadvd.conf(5); times in seconds). */
export interface RaConfig {
  maxinterval: number;
  mininterval: number;
  chlim: number;
  raflags: number;
  rltime: number;
  rtime: number;
  retrans: number;
  /** 0: no MTU option. */
  mtu: number;
  pinfoflags: number;
  vltime: number;
  pltime: number;
}

export function defaultConfig(maxinterval = 600): RaConfig {
  return { maxinterval, mininterval: Math.floor(maxinterval / 3), chlim: 64, raflags: 0, rltime: 3 * maxinterval, rtime: 0, retrans: 0, mtu: 0, pinfoflags: 0xc0, vltime: 2592000, pltime: 604800 };
}

/** What the advertiser needs of an interface, read when each advertisement is built. */
export interface RaLink {
  /** A usable link-local address (undefined while it is tentative). */
  linkLocal: In6Addr | undefined;
  mac: Mac;
  prefixes: Array<{ prefix: In6Addr; prefixLen: number }>;
}

/** Build a router advertisement (without checksum; the ICMPv6 endpoint computes it). */
export function buildRa(c: RaConfig, link: RaLink, rltime: number): Uint8Array {
  const msg = new Uint8Array(16 + 8 + (c.mtu > 0 ? 8 : 0) + 32 * link.prefixes.length);
  msg[0] = ICMP6_TYPE.ROUTER_ADVERT;
  msg[4] = c.chlim;
  msg[5] = c.raflags;
  put16(msg, 6, rltime);
  put32(msg, 8, c.rtime);
  put32(msg, 12, c.retrans);
  let p = 16;
  p += emitNdLla(ND_OPT.SOURCE_LINKADDR, link.mac, msg, p);
  if (c.mtu > 0) p += emitNdMtu(c.mtu, msg, p);
  for (const x of link.prefixes) {
    p += emitNdPrefix({ prefixLen: x.prefixLen, onLink: (c.pinfoflags & 0x80) !== 0, autonomous: (c.pinfoflags & 0x40) !== 0, validLifetime: c.vltime, preferredLifetime: c.pltime, prefix: x.prefix }, msg, p);
  }
  return msg;
}

interface IfState {
  readonly name: string;
  readonly cfg: RaConfig;
  /** Advertisements sent, and when the last multicast one went (clock ms). */
  sent: number;
  last: number;
  timer: Timer | null;
  /** When the pending advertisement goes (clock ms). */
  due: number;
}

export interface RtAdvertiserOptions {
  clock: { now(): number; after(ms: number, fn: () => void): Timer };
  random: () => number;
  link: (ifname: string) => RaLink | undefined;
  send: (ifname: string, src: In6Addr, msg: Uint8Array) => void;
  debug?: (line: string) => void;
}

/**
 * The advertising engine, independent of how it sends: `send` gets the
 * interface and a built advertisement. Time comes from `clock`, jitter from
 * `random`.
 */
export class RtAdvertiser {
  readonly #ifs = new Map<string, IfState>();
  readonly #o: RtAdvertiserOptions;

  constructor(o: RtAdvertiserOptions) {
    this.#o = o;
  }

  /** Start advertising on `ifname`: the first advertisement soon (after up to MAX_RA_DELAY_TIME). */
  add(ifname: string, cfg: RaConfig): void {
    const st: IfState = { name: ifname, cfg, sent: 0, last: -Infinity, timer: null, due: Infinity };
    this.#ifs.set(ifname, st);
    this.#arm(st, Math.floor(this.#o.random() * MAX_RA_DELAY_TIME));
  }

  #arm(st: IfState, ms: number): void {
    st.timer?.cancel();
    st.due = this.#o.clock.now() + ms;
    st.timer = this.#o.clock.after(ms, () => this.#fire(st));
  }

  /** RFC 4861 6.2.4: a random interval in [min, max], at most 16 s for the first advertisements. */
  #nextInterval(st: IfState): number {
    const c = st.cfg;
    let ms = (c.mininterval + this.#o.random() * (c.maxinterval - c.mininterval)) * 1000;
    if (st.sent < MAX_INITIAL_RTR_ADVERTISEMENTS && ms > MAX_INITIAL_RTR_ADVERT_INTERVAL) ms = MAX_INITIAL_RTR_ADVERT_INTERVAL;
    return Math.floor(ms);
  }

  #fire(st: IfState): void {
    st.timer = null;
    if (!this.#send(st, st.cfg.rltime)) {
      // No usable link-local address yet (DAD): try again in a second.
      this.#arm(st, 1000);
      return;
    }
    this.#arm(st, this.#nextInterval(st));
  }

  #send(st: IfState, rltime: number): boolean {
    const link = this.#o.link(st.name);
    if (link === undefined || link.linkLocal === undefined) return false;
    this.#o.send(st.name, link.linkLocal, buildRa(st.cfg, link, rltime));
    st.sent++;
    st.last = this.#o.clock.now();
    this.#o.debug?.(`<ra_output> send RA on ${st.name}, # of RAs=${st.sent}`);
    return true;
  }

  /** A router solicitation came in on `ifname` (RFC 4861 6.2.6). */
  solicited(ifname: string): void {
    const st = this.#ifs.get(ifname);
    if (st === undefined) return;
    const now = this.#o.clock.now();
    let at = now + Math.floor(this.#o.random() * MAX_RA_DELAY_TIME);
    // At most one multicast advertisement per MIN_DELAY_BETWEEN_RAS.
    if (at < st.last + MIN_DELAY_BETWEEN_RAS) at = st.last + MIN_DELAY_BETWEEN_RAS + (at - now);
    // An advertisement already due sooner answers it.
    if (at >= st.due) return;
    this.#o.debug?.(`<rs_input> RS received on ${ifname}, RA in ${at - now} ms`);
    this.#arm(st, at - now);
  }

  /** Stop: timers cancelled and, RFC 4861 6.2.5, a final advertisement with router lifetime 0 on each interface. */
  stop(final: boolean): void {
    for (const st of this.#ifs.values()) {
      st.timer?.cancel();
      st.timer = null;
      st.due = Infinity;
      if (final) this.#send(st, 0);
    }
  }
}

/** Parse an rtadvd.conf(5) text: entries by name, each a map of capabilities (numbers as text). */
export function parseConf(text: string): Map<string, Map<string, string>> | string {
  const entries = new Map<string, Map<string, string>>();
  const joined = text.replace(/\\\r?\n/g, '');
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // Fields are separated by ':' outside double quotes (string values such as rdnss="::1" hold colons).
    const fields: string[] = [];
    let cur = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      if (ch === ':' && !quoted) {
        if (cur.trim() !== '') fields.push(cur.trim());
        cur = '';
      } else cur += ch;
    }
    if (cur.trim() !== '') fields.push(cur.trim());
    const names = fields.shift()!.split('|');
    const caps = new Map<string, string>();
    for (const f of fields) {
      const m = /^([a-zA-Z0-9_]+)(?:([#=])(.*))?$/.exec(f);
      if (m === null) return `bad capability '${f}' in entry ${names[0]}`;
      caps.set(m[1]!, (m[3] ?? '').replace(/^"(.*)"$/, '$1'));
    }
    for (const n of names) entries.set(n, caps);
  }
  return entries;
}

const NUMERIC = ['maxinterval', 'mininterval', 'chlim', 'raflags', 'rltime', 'rtime', 'retrans', 'mtu', 'pinfoflags', 'vltime', 'pltime'] as const;

/** rtadvd's getconfig for one interface: its entry (with tc= followed) over the defaults, checked as rtadvd checks it. */
export function interfaceConfig(conf: Map<string, Map<string, string>>, ifname: string, ifmtu: number): RaConfig | string {
  const caps = new Map<string, string>();
  let name: string | undefined = conf.has(ifname) ? ifname : undefined;
  for (let depth = 0; name !== undefined && depth < 8; depth++) {
    const e = conf.get(name);
    if (e === undefined) return `tc=${name}: no such entry`;
    for (const [k, v] of e) if (!caps.has(k)) caps.set(k, v);
    name = e.get('tc');
    caps.delete('tc');
  }
  const num = (k: string): number | undefined => {
    const v = caps.get(k);
    if (v === undefined) return undefined;
    if (k === 'raflags' && /^[moh l]*$/.test(v) && v !== '') return (v.includes('m') ? 0x80 : 0) | (v.includes('o') ? 0x40 : 0) | (v.includes('h') ? 0x08 : 0) | (v.includes('l') ? 0x18 : 0);
    if (k === 'pinfoflags' && /^[la]*$/.test(v) && v !== '') return (v.includes('l') ? 0x80 : 0) | (v.includes('a') ? 0x40 : 0);
    if (k === 'mtu' && v === 'auto') return ifmtu;
    return /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
  };
  for (const k of caps.keys()) if (!(NUMERIC as readonly string[]).includes(k)) return `capability ${k} is not supported here (only ${NUMERIC.join(', ')})`;
  for (const k of NUMERIC) if (Number.isNaN(num(k))) return `${k}: bad value '${caps.get(k)}'`;
  const max = num('maxinterval') ?? 600;
  if (max < 4 || max > 1800) return `maxinterval (${max}) on ${ifname} is invalid (must be between 4 and 1800)`;
  const c = defaultConfig(max);
  c.mininterval = num('mininterval') ?? c.mininterval;
  if (c.mininterval < 3 || c.mininterval > (max * 3) / 4) return `mininterval (${c.mininterval}) on ${ifname} is invalid (must be between 3 and ${Math.floor((max * 3) / 4)})`;
  c.chlim = num('chlim') ?? c.chlim;
  c.raflags = num('raflags') ?? c.raflags;
  c.rltime = num('rltime') ?? c.rltime;
  if (c.rltime !== 0 && (c.rltime < max || c.rltime > 9000)) return `router lifetime (${c.rltime}) on ${ifname} is invalid (must be 0 or between ${max} and 9000)`;
  c.rtime = num('rtime') ?? 0;
  c.retrans = num('retrans') ?? 0;
  c.mtu = num('mtu') ?? 0;
  if (c.mtu !== 0 && (c.mtu < 1280 || c.mtu > ifmtu)) return `advertised link mtu (${c.mtu}) on ${ifname} is invalid (must be between 1280 and ${ifmtu})`;
  c.pinfoflags = num('pinfoflags') ?? c.pinfoflags;
  c.vltime = num('vltime') ?? c.vltime;
  c.pltime = num('pltime') ?? c.pltime;
  if (c.pltime > c.vltime) return `pltime (${c.pltime}) is larger than vltime (${c.vltime}) on ${ifname}`;
  for (const [k, v] of [['chlim', 255], ['raflags', 255], ['pinfoflags', 255], ['rltime', 0xffff]] as const) if (c[k] > v) return `${k} (${c[k]}) on ${ifname} is invalid`;
  return c;
}

/** The interface as rtadvd reads it: its usable link-local address, MAC and the prefixes of its global addresses. */
function linkOf(im: ImageControl, ifname: string): RaLink | undefined {
  if (!im.interfaces.has(ifname)) return undefined;
  const f = im.interfaces.get(ifname);
  if (f.ether === undefined) return undefined;
  let linkLocal: In6Addr | undefined;
  const prefixes: RaLink['prefixes'] = [];
  for (const a of f.inet6) {
    const addr = parseIp6(a.address.split('%')[0]!);
    if (addr === undefined) continue;
    if (addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80) {
      if (!a.flags.includes('tentative') && !a.flags.includes('duplicated')) linkLocal = addr;
      continue;
    }
    // Autoconfigured and deprecated addresses are not ours to advertise; a /128 has no prefix to share.
    if (a.flags.includes('autoconf') || a.prefixLen >= 128) continue;
    const prefix = in6Mask(addr, a.prefixLen);
    if (!prefixes.some((x) => x.prefixLen === a.prefixLen && ip6ToString(x.prefix) === ip6ToString(prefix))) prefixes.push({ prefix, prefixLen: a.prefixLen });
  }
  const mac = f.ether.split(':').reduce((acc, h) => acc * 256 + parseInt(h, 16), 0) as Mac;
  return { linkLocal, mac, prefixes };
}

async function readAll(stdin: AsyncIterable<Uint8Array>): Promise<string> {
  const dec = new TextDecoder();
  let s = '';
  for await (const c of stdin) {
    s += dec.decode(c, { stream: true });
    if (s.length > 1 << 20) break;
  }
  return s + dec.decode();
}

const rtadvd: Command = async (ctx: CommandContext) => {
  const g = getopt(ctx.argv, 'c:C:dDfM:p:Rs');
  if ('error' in g) {
    ctx.stderr.write(`${CMD}: ${g.error}\n${USAGE}\n`);
    return EX_USAGE;
  }
  if (g.operands.length === 0) {
    ctx.stderr.write(`${USAGE}\n`);
    return EX_USAGE;
  }
  let debug = false;
  let confText = '';
  for (const [c, v] of g.opts) {
    if (c === 'd' || c === 'D') debug = true;
    else if (c === 'c') {
      if (v !== '-') {
        ctx.stderr.write(`${CMD}: -c ${v}: an image has no files; give the configuration on standard input with -c - (vimage R rtadvd -c - IF < rtadvd.conf)\n`);
        return EX_USAGE;
      }
      confText = await readAll(ctx.stdin);
    }
    // -f (foreground), -s, -R, -M, -p, -C: nothing to do in an image (vimage -b puts it in the background).
  }
  const conf = parseConf(confText);
  if (typeof conf === 'string') {
    ctx.stderr.write(`${CMD}: <getconfig> ${conf}\n`);
    return EX_FAIL;
  }
  const im = ctx.image;
  const forwarding = im.sysctl.get('net.inet6.ip6.forwarding')?.value === 1;
  const configs = new Map<string, RaConfig>();
  for (const ifname of g.operands) {
    if (!im.interfaces.has(ifname)) {
      ctx.stderr.write(`${CMD}: <getconfig> interface ${ifname} does not exist\n`);
      continue;
    }
    const c = interfaceConfig(conf, ifname, im.interfaces.get(ifname).mtu);
    if (typeof c === 'string') {
      ctx.stderr.write(`${CMD}: <getconfig> ${c}\n`);
      continue;
    }
    // FreeBSD's rtadvd: hosts MUST NOT advertise as routers (RFC 4861 6.2.3).
    if (c.rltime !== 0 && !forwarding) {
      ctx.stderr.write(`${CMD}: <getconfig> non zero router lifetime is specified for ${ifname}, which must not be allowed for hosts.  you must change router lifetime or enable IPv6 forwarding (sysctl net.inet6.ip6.forwarding=1).\n`);
      continue;
    }
    configs.set(ifname, c);
  }
  if (configs.size === 0) {
    ctx.stderr.write(`${CMD}: no interface to advertise on\n`);
    return EX_FAIL;
  }
  let sock: Icmp6Socket | null = im.inet6.icmp6Socket({ routerSolicitations: true });
  const ra = new RtAdvertiser({
    clock: im.clock,
    random: Math.random,
    link: (ifname) => linkOf(im, ifname),
    send: (ifname, src, msg) => void sock?.send(IN6ADDR_LINKLOCAL_ALLNODES, msg, { zone: ifname, hlim: 255, src }),
    ...(debug ? { debug: (line: string) => ctx.stderr.write(`${CMD}: ${line}\n`) } : {}),
  });
  sock.onMessage((msg, _from, hlim, ifname) => {
    if (msg[0] === ICMP6_TYPE.ROUTER_SOLICIT && hlim === 255) ra.solicited(ifname);
  });
  for (const [ifname, c] of configs) ra.add(ifname, c);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      ra.stop(true);
      sock?.close();
      sock = null;
      resolve();
    };
    if (ctx.signal.aborted) stop();
    else ctx.signal.addEventListener('abort', stop, { once: true });
  });
  return ctx.signal.aborted ? signalStatus(ctx.signal.reason) : EX_OK;
};

export const commands: Record<string, Command> = { rtadvd };
