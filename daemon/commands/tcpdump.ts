/**
 * tcpdump(1) on one interface of the image, as FreeBSD 14's tcpdump (4.99)
 * prints: `tcpdump [-enptv] [-c count] [-i interface] [-s snaplen] [-w file]
 * [expression]`.
 *
 * The capture hangs on the interface's taps (lib/net/bpf.ts) with the
 * expression compiled by libpcap (pcap_compile) and run as classic BPF on
 * each frame. Accepted frames wait in the capture's fixed store buffer; this
 * command empties it one batch at a time and prints one line per packet
 * (tcpdump_print.ts), or with `-w -` writes a pcap stream (classic pcap,
 * microsecond timestamps, LINKTYPE_ETHERNET) to standard output. `-w FILE`
 * is handled by the client, which asks for `-w -` and writes the stream to
 * FILE itself: the daemon never opens a user's path. When the client cannot
 * keep up (its connection's send queue is full), the store buffer is not
 * emptied, fills, and further frames are counted as dropped rather than
 * stalling the image.
 *
 * It stops on Ctrl-C (SIGINT through the client), after -c packets, or when
 * the interface goes away, and prints tcpdump's three counts on stderr.
 * Host names and ports are never resolved (-n is implied).
 */

import { BPF_DEFAULT_SNAPLEN, BpfCompileError, DLT_NULL, bpfCompile, bpfLinkType, type BpfDesc, type Timer } from '../../lib/control/index.js';
import { EX_FAIL, EX_OK, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, parseCInt } from './ping.js';
import { PacketPrinter } from './tcpdump_print.js';

const USAGE = 'usage: tcpdump [-DelnNpqtUv] [-c count] [-i interface] [-s snaplen] [-w file] [expression]';
/** Stop emptying the capture while this many bytes wait to be sent to the client. */
const BACKLOG_HIGH = 4 << 20;
/** How often a backlogged reader, and the interface's presence, are checked (ms). */
const POLL_MS = 50;
const LINKTYPE_ETHERNET = 1;
/** What `listening on` says of each link type, as libpcap names them. */
const LINKTYPE_TEXT: Record<number, string> = { 0: 'NULL (BSD loopback)', 1: 'EN10MB (Ethernet)' };
/** Largest piece written to stdout at once: well under the exec stream's 1 MiB frame limit. */
const CHUNK = 256 << 10;

interface TcpdumpOptions {
  ifname: string | undefined;
  link: boolean;
  verbose: number;
  count: number;
  snaplen: number;
  write: string | undefined;
  noTime: boolean;
  list: boolean;
  expr: string;
}

function parseArgs(argv: readonly string[]): TcpdumpOptions | string {
  const p = getopt(argv, 'c:Dei:lnNpqs:tUvw:');
  if ('error' in p) return `${p.error}\n${USAGE}`;
  const o: TcpdumpOptions = { ifname: undefined, link: false, verbose: 0, count: 0, snaplen: BPF_DEFAULT_SNAPLEN, write: undefined, noTime: false, list: false, expr: '' };
  for (const [ch, arg] of p.opts) {
    switch (ch) {
      case 'c': {
        const v = parseCInt(arg);
        if (v === undefined || v <= 0) return `invalid packet count ${arg}`;
        o.count = v;
        break;
      }
      case 'D':
        o.list = true;
        break;
      case 'e':
        o.link = true;
        break;
      case 'i':
        o.ifname = arg;
        break;
      case 's': {
        const v = parseCInt(arg);
        if (v === undefined || v < 0 || v > 0x7fffffff) return `invalid snaplen ${arg}`;
        // As tcpdump: 0 means the default; values above it are cut to it.
        o.snaplen = v === 0 || v > BPF_DEFAULT_SNAPLEN ? BPF_DEFAULT_SNAPLEN : v;
        break;
      }
      case 't':
        o.noTime = true;
        break;
      case 'v':
        o.verbose++;
        break;
      case 'w':
        o.write = arg;
        break;
      default:
        break; // -l -n -N -p -q -U: line buffering, no name resolution and no promiscuous mode are how it always runs
    }
  }
  o.expr = p.operands.join(' ');
  return o;
}

/** tcpdump's default device: the first interface that is up and not a loopback, else the first one up. */
function defaultInterface(ctx: CommandContext): string | undefined {
  const list = ctx.image.interfaces.list();
  const up = list.filter((i) => (i.flags & 0x1) !== 0);
  return (up.find((i) => (i.flags & 0x8) === 0) ?? up[0])?.name;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The classic pcap file header (microsecond timestamps, little-endian). */
export function pcapFileHeader(snaplen: number, linktype: number = LINKTYPE_ETHERNET): Uint8Array {
  const h = new Uint8Array(24);
  const v = new DataView(h.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linktype, true);
  return h;
}

/** One pcap record header for a frame captured at `tsUs`. */
function putRecordHeader(v: DataView, at: number, tsUs: number, caplen: number, wirelen: number): void {
  const sec = Math.floor(tsUs / 1e6);
  v.setUint32(at, sec, true);
  v.setUint32(at + 4, Math.floor(tsUs - sec * 1e6), true);
  v.setUint32(at + 8, caplen, true);
  v.setUint32(at + 12, wirelen, true);
}

export const tcpdump: Command = async (ctx) => {
  const o = parseArgs(ctx.argv);
  if (typeof o === 'string') {
    ctx.stderr.write(`tcpdump: ${o}\n`);
    return EX_USAGE;
  }
  if (o.write !== undefined && o.write !== '-') {
    // The client rewrites -w FILE to -w - and writes the file; getting here means another client sent it.
    ctx.stderr.write(`tcpdump: ${o.write}: the daemon does not open files; run 'vimage IMAGE tcpdump -w FILE' with the vimage client, or use -w - and redirect\n`);
    return EX_USAGE;
  }
  if (o.write === '-' && ctx.stdout.writeBytes === undefined) {
    ctx.stderr.write('tcpdump: -w -: this runner carries only text; run it from the vimage client\n');
    return EX_USAGE;
  }
  if (o.list) {
    // tcpdump -D: the interfaces a capture can use, numbered, with their state as libpcap reports it.
    let text = '';
    ctx.image.interfaces.list().forEach((i, n) => {
      const st = [(i.flags & 0x1) !== 0 ? 'Up' : '', (i.flags & 0x40) !== 0 ? 'Running' : '', (i.flags & 0x8) !== 0 ? 'Loopback' : i.status === 'no carrier' ? 'Disconnected' : 'Connected'];
      text += `${n + 1}.${i.name} [${st.filter((x) => x !== '').join(', ')}]\n`;
    });
    ctx.stdout.write(text);
    return EX_OK;
  }
  const ifname = o.ifname ?? defaultInterface(ctx);
  if (ifname === undefined) {
    ctx.stderr.write('tcpdump: no suitable device found\n');
    return EX_FAIL;
  }
  if (!ctx.image.interfaces.has(ifname)) {
    ctx.stderr.write(`tcpdump: ${ifname}: No such device exists\n(BIOCSETIF failed: Device not configured)\n`);
    return EX_FAIL;
  }
  // lo0 and gif carry IP packets behind a 4-byte address family (DLT_NULL), as on FreeBSD.
  const dlt = bpfLinkType(ctx.image.interfaces.get(ifname).kind);
  let program;
  try {
    program = await bpfCompile(o.expr, o.snaplen, dlt);
  } catch (e) {
    if (!(e instanceof BpfCompileError)) throw e;
    ctx.stderr.write(`tcpdump: ${e.message}\n`);
    return EX_FAIL;
  }
  if (ctx.signal.aborted) return EX_OK;

  const pcap = o.write === '-';
  if (o.verbose === 0 && !pcap) ctx.stderr.write('tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\n');
  else ctx.stderr.write('tcpdump: ');
  ctx.stderr.write(`listening on ${ifname}, link-type ${LINKTYPE_TEXT[dlt]}, snapshot length ${o.snaplen} bytes\n`);
  if (pcap) ctx.stdout.writeBytes!(pcapFileHeader(o.snaplen, dlt));

  const d = ctx.image.interfaces.capture(ifname, { program, snaplen: o.snaplen });
  const printer = new PacketPrinter({ verbose: o.verbose, link: o.link, dlt: dlt === DLT_NULL ? 0 : 1 });
  const clock = ctx.image.clock;
  let captured = 0;
  let done = false;
  let finish: (how: 'count' | 'signal' | 'gone') => void = () => {};
  const ended = new Promise<'count' | 'signal' | 'gone'>((resolve) => {
    finish = (how) => {
      if (!done) {
        done = true;
        resolve(how);
      }
    };
  });
  let pending: Timer | null = null;

  /** Print or write what the store buffer holds; false when the client is too far behind to take more now. */
  const drain = (): boolean => {
    if (d.fill === 0 || done) return true;
    if ((ctx.stdout.backlog?.() ?? 0) > BACKLOG_HIGH) return false;
    if (pcap) captured = writePcap(d, ctx, o.count, captured);
    else {
      let text = '';
      d.read((ts, frame, wire) => {
        if (o.count > 0 && captured >= o.count) return;
        captured++;
        const line = printer.line(ts, frame, wire);
        text += (o.noTime ? line.slice(line.indexOf(' ') + 1) : line) + '\n';
        // One frame of the exec stream carries at most 1 MiB (lib/protocol.ts MAX_FRAME).
        if (text.length > CHUNK) {
          ctx.stdout.write(text);
          text = '';
        }
      });
      ctx.stdout.write(text);
    }
    if (o.count > 0 && captured >= o.count) finish('count');
    return true;
  };
  const run = (): void => {
    pending = null;
    if (!drain()) pending = clock.after(POLL_MS, run);
  };
  d.wake = (): void => {
    if (pending === null && !done) pending = clock.immediate(run);
  };
  const watch = clock.every(POLL_MS * 20, () => {
    if (d.fill > 0 && pending === null) pending = clock.immediate(run);
    if (!ctx.image.interfaces.has(ifname) || d.attachedTo === null || d.attachedTo.name !== ifname) finish('gone');
  });
  const onAbort = (): void => finish('signal');
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) finish('signal');

  const how = await ended;
  ctx.signal.removeEventListener('abort', onAbort);
  watch.cancel();
  (pending as Timer | null)?.cancel();
  d.close();
  // What was captured before the stop is still shown (the count stops at -c).
  if (how !== 'count') {
    done = false;
    drain();
    done = true;
  }
  if (how === 'signal' && !pcap) ctx.stdout.write('\n');
  // libpcap's pcap_read_bpf on FreeBSD: read(2) fails with ENXIO once the interface is detached.
  if (how === 'gone') ctx.stderr.write('tcpdump: pcap_loop: The interface disappeared\n');
  ctx.stderr.write(`${plural(captured, 'packet')} captured\n${plural(d.received, 'packet')} received by filter\n${plural(d.dropped, 'packet')} dropped by kernel\n`);
  return how === 'gone' ? EX_FAIL : EX_OK;
};

/**
 * Write the store buffer's records as pcap (the record header is the same
 * 16 bytes as the store's, so the buffer's fill is the size), stopping at
 * `count` packets when it is set; returns the packets written so far.
 */
function writePcap(d: BpfDesc, ctx: CommandContext, count: number, before: number): number {
  const out = new Uint8Array(d.fill);
  const v = new DataView(out.buffer);
  let at = 0;
  let n = before;
  let from = 0;
  d.read((ts, frame, wire) => {
    if (count > 0 && n >= count) return;
    n++;
    if (at - from > CHUNK) {
      ctx.stdout.writeBytes!(out.slice(from, at));
      from = at;
    }
    putRecordHeader(v, at, ts, frame.length, wire);
    out.set(frame, at + 16);
    at += 16 + frame.length;
  });
  if (at > from) ctx.stdout.writeBytes!(out.slice(from, at));
  return n;
}

export const commands: Record<string, Command> = { tcpdump };
