/**
 * sockstat(1): the image's Internet sockets with the process holding each.
 *
 * Format: FreeBSD 14 usr.bin/sockstat/sockstat.c, display() and
 * displaysock(): the header `%-8s %-10s %-5s %-2s %-6s %-21s %-21s`
 * (45-wide addresses with -w), then per socket USER padded to column 9,
 * COMMAND (`%.10s`) to 20, PID to 26, FD, the protocol name with its
 * family digit from column 29, the local address from column 36 and the
 * foreign one 22 columns on (46 with -w); -s adds the PATH STATE (SCTP
 * only, blank here) and CONN STATE columns, 13 wide each. Addresses print as
 * printaddr() does: `*` for the wildcard address, `:*` for port 0.
 * Sockets no process holds print `?` in the four owner columns, after the
 * owned ones, as FreeBSD prints them.
 *
 * Differences: default protocols are TCP and UDP (FreeBSD also gathers
 * SCTP and divert, which images do not have; raw sockets are not listed by
 * FreeBSD's sockstat either); there are no Unix-domain sockets in an image,
 * so -u lists none; -j is refused (an image is its own vnet: run sockstat in
 * it). A Linux program's fd is not known to the daemon and prints `?`.
 */

import { readFileSync } from 'node:fs';
import type { OwnedSocketRow } from '../../lib/control/index.js';
import { ip4ToString } from '../../lib/wire/ipv4.js';
import { EX_OK, type Command, type CommandContext } from '../command.js';
import { getopt, printJson } from './util.js';

const USAGE = 'usage: sockstat [-46cLlnqsuw] [-p ports] [-P protocols]';

export interface SockstatPlan {
  inet4: boolean;
  inet6: boolean;
  unix: boolean;
  connected: boolean;
  listening: boolean;
  noLoopback: boolean;
  numeric: boolean;
  quiet: boolean;
  states: boolean;
  wide: boolean;
  /** -p: ports to show (undefined: all). */
  ports: Set<number> | undefined;
  protos: Set<'tcp' | 'udp'>;
}

/** Parse argv (argv[0] included) into a plan, or an error text. */
export function parseSockstat(argv: readonly string[]): SockstatPlan | string {
  const g = getopt(argv.slice(1), '46CcLlnqSsUuvwj:p:P:');
  if (typeof g === 'string') return `${g}\n${USAGE}`;
  if (g.rest.length > 0) return USAGE;
  if (g.value.has('j')) return '-j: an image is its own vnet; run sockstat inside it (vimage NAME sockstat)';
  for (const c of ['C', 'S', 'U']) if (g.count.has(c)) return `-${c}: the ${c === 'C' ? 'congestion control' : c === 'S' ? 'TCP stack' : 'UDP encapsulation port'} column is not available in an image`;
  const has = (c: string): boolean => g.count.has(c);
  let ports: Set<number> | undefined;
  const pv = g.value.get('p');
  if (pv !== undefined) {
    ports = new Set();
    // parse_ports: a comma-separated list of ports and lo-hi ranges.
    for (const part of pv.split(',')) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (m === null) return `syntax error in port range: ${pv}`;
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo > 65535 || hi > 65535 || hi < lo) return `invalid port number: ${part}`;
      for (let p = lo; p <= hi; p++) ports.add(p);
    }
  }
  let protos: Set<'tcp' | 'udp'> = new Set(['tcp', 'udp']);
  const pp = g.value.get('P');
  if (pp !== undefined) {
    protos = new Set();
    for (const name of pp.split(',')) {
      if (name === 'tcp' || name === 'udp') protos.add(name);
      else if (name === 'sctp' || name === 'divert') continue; // known to FreeBSD, absent from images
      else return `getprotobyname: ${name}: unknown protocol; images have tcp and udp`;
    }
  }
  let inet4 = has('4');
  let inet6 = has('6');
  let unix = has('u');
  if (!inet4 && !inet6 && pp !== undefined) inet4 = inet6 = true;
  if (!inet4 && !inet6 && !unix) inet4 = inet6 = unix = true;
  let connected = has('c');
  let listening = has('l');
  if (!connected && !listening) connected = listening = true;
  return { inet4, inet6, unix, connected, listening, noLoopback: has('L'), numeric: has('n'), quiet: has('q'), states: has('s'), wide: has('w'), ports, protos };
}

/** One output row, as --json prints it. */
export interface SockstatEntry {
  user: string;
  command: string;
  pid: number | null;
  fd: number | null;
  proto: string;
  local: string;
  foreign: string;
  state?: string;
}

function addr(a: number, a6: string | undefined, port: number): string {
  const host = a6 !== undefined ? (a6 === '::' ? '*' : a6) : a === 0 ? '*' : ip4ToString(a);
  return `${host}:${port === 0 ? '*' : port}`;
}

/**
 * Rows the plan selects, owned ones first, as FreeBSD walks kern.file
 * before the rest: processes newest first (allproc order; here the higher
 * pid), each one's sockets by fd.
 */
export function selectRows(rows: readonly OwnedSocketRow[], plan: SockstatPlan, userName: (uid: number) => string): SockstatEntry[] {
  const keep = rows.filter((r) => {
    // tcp46/udp46 (an AF_INET6 socket on :: that takes IPv4 too) is in both families.
    const v4 = r.proto.endsWith('4') || r.proto.endsWith('46');
    const v6 = r.proto.endsWith('6');
    if (!((plan.inet4 && v4) || (plan.inet6 && v6))) return false;
    if (!plan.protos.has(r.proto.startsWith('tcp') ? 'tcp' : 'udp')) return false;
    if ((r.fport === 0 && !plan.listening) || (r.fport !== 0 && !plan.connected)) return false;
    if (plan.noLoopback && (r.laddr >>> 24 === 127 || r.faddr >>> 24 === 127 || r.laddr6 === '::1' || r.faddr6 === '::1')) return false;
    if (plan.ports !== undefined && !plan.ports.has(r.lport) && !plan.ports.has(r.fport)) return false;
    return true;
  });
  const owned = keep.filter((r) => r.owner !== undefined).sort((a, b) => b.owner!.pid - a.owner!.pid || a.owner!.fd - b.owner!.fd);
  const rest = keep.filter((r) => r.owner === undefined);
  return [...owned, ...rest].map((r) => {
    const o = r.owner;
    const e: SockstatEntry = {
      user: o === undefined ? '?' : plan.numeric ? String(o.uid) : userName(o.uid),
      command: o === undefined ? '?' : o.command,
      pid: o === undefined ? null : o.pid,
      fd: o === undefined || o.fd < 0 ? null : o.fd,
      proto: r.proto,
      local: addr(r.laddr, r.laddr6, r.lport),
      foreign: addr(r.faddr, r.faddr6, r.fport),
    };
    if (plan.states && r.proto.startsWith('tcp')) e.state = r.state;
    return e;
  });
}

function padTo(s: string, col: number): string {
  return s.length >= col ? s : s + ' '.repeat(col - s.length);
}

/** The text FreeBSD 14's display() prints for `entries`. */
export function formatSockstat(entries: readonly SockstatEntry[], plan: SockstatPlan): string {
  const aw = plan.wide ? 45 : 21;
  let out = '';
  if (!plan.quiet) {
    let h = `${'USER'.padEnd(8)} ${'COMMAND'.padEnd(10)} ${'PID'.padEnd(5)} ${'FD'.padEnd(2)} ${'PROTO'.padEnd(6)} ${'LOCAL ADDRESS'.padEnd(aw)} ${'FOREIGN ADDRESS'.padEnd(aw)}`;
    if (plan.states) h += ` ${'PATH STATE'.padEnd(12)} ${'CONN STATE'.padEnd(12)}`;
    out += h + '\n';
  }
  for (const e of entries) {
    let l: string;
    if (e.pid === null) l = `${'?'.padEnd(8)} ${'?'.padEnd(10)} ${'?'.padEnd(5)} ${'?'.padEnd(2)} `;
    else {
      l = padTo(`${e.user} `, 9);
      l = padTo(l + e.command.slice(0, 10), 20);
      l = padTo(l + `${e.pid} `, 26);
      l += `${e.fd === null ? '?' : e.fd} `;
    }
    l = padTo(l, 29) + e.proto + ' ';
    let off = 36;
    l = padTo(l, off) + e.local;
    off += plan.wide ? 46 : 22;
    l = padTo(l, off) + e.foreign;
    off += plan.wide ? 46 : 22;
    if (plan.states) {
      off += 13; // PATH STATE: SCTP paths only
      if (e.state !== undefined) l = padTo(l, off) + e.state;
    }
    out += l + '\n';
  }
  return out;
}

/** getpwuid(3) over the host's /etc/passwd (the users processes in an image run as); the number when unknown. */
function passwdNames(): (uid: number) => string {
  let map: Map<number, string> | undefined;
  return (uid) => {
    if (map === undefined) {
      map = new Map();
      try {
        for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
          const f = line.split(':');
          if (f.length >= 3 && /^\d+$/.test(f[2]!) && !map.has(Number(f[2]))) map.set(Number(f[2]), f[0]!);
        }
      } catch {
        // no passwd file: numbers
      }
    }
    return map.get(uid) ?? String(uid);
  };
}

const sockstat: Command = async (ctx: CommandContext) => {
  const plan = parseSockstat(ctx.argv);
  if (typeof plan === 'string') {
    if (ctx.json) ctx.stderr.write(JSON.stringify({ error: { code: 'VIMAGE_ERR_USAGE', message: `sockstat: ${plan}` } }) + '\n');
    else ctx.stderr.write(`sockstat: ${plan}\n`);
    return plan.startsWith('-j') ? 3 : 1; // FreeBSD: usage() exits 1; a jail it cannot attach to, 3
  }
  const entries = selectRows(ctx.image.sockets.owned(), plan, passwdNames());
  if (ctx.json) printJson(ctx, { sockets: entries });
  else ctx.stdout.write(formatSockstat(entries, plan));
  return EX_OK;
};

export const commands: Record<string, Command> = { sockstat };
