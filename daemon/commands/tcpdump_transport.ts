/**
 * The transport part of tcpdump's decode (tcpdump_print.ts is the link and
 * network part): UDP and TCP over IPv4 or IPv6, as tcp_print and udp_print
 * in tcpdump 4.99 print them with -n. TCP sequence numbers are relative to
 * the first ones seen of each connection (tcpdump's tcp_seq_hash), options
 * are listed in the order they are on the wire, and port 80 payloads show
 * HTTP's first line. Every read is checked against the captured bytes.
 */

import { foldComplement, sum16 } from '../../lib/wire/checksum.js';
import { TCP_HDR_LEN, TcpPacket } from '../../lib/wire/tcp.js';
import { UDP_HDR_LEN, UdpPacket } from '../../lib/wire/udp.js';

/** Where a transport header sits and what the network layer knows of it. */
export interface L4 {
  b: Uint8Array;
  off: number;
  /** Length by the network header (bytes after it). */
  len: number;
  /** Printed addresses. */
  src: string;
  dst: string;
  /** Fixed-width hex of the addresses: compared as tcpdump compares them with memcmp. */
  srcKey: string;
  dstKey: string;
  /** Unfolded sum of the pseudo-header's addresses; the protocol and length are added per use. */
  phAddrs: number;
  /** A fragment (the payload is not all here): no checksum. */
  frag: boolean;
}

const TCP_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

const TCP_OPTION_NAMES: Record<number, string> = {
  0: 'eol',
  1: 'nop',
  2: 'mss',
  3: 'wscale',
  4: 'sackOK',
  5: 'sack',
  6: 'echo',
  7: 'echoreply',
  8: 'TS',
  11: 'cc',
  12: 'ccnew',
  13: 'ccecho',
  19: 'md5',
  27: 'qs',
  28: 'uto',
  29: 'tcp-ao',
  30: 'mptcp',
  34: 'tfo',
  253: 'exp',
  254: 'exp',
};

const HTTP_METHODS = new Set([
  'OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH', 'COPY', 'MOVE', 'LOCK',
  'UNLOCK', 'POLL', 'BCOPY', 'BMOVE', 'SEARCH', 'BDELETE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'NOTIFY', 'X-MS-ENUMATTS',
]);

/** Relative sequence numbers are kept for this many connections; then the table starts over. */
const MAX_CONVERSATIONS = 4096;

interface Conv {
  seq: number;
  ack: number;
}

/** The correct checksum for a segment whose stored one is `stored` (tcpdump's in_cksum_shouldbe). */
function shouldBe(sum: number, stored: number): number {
  return foldComplement(sum + (0xffff - stored));
}

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}

export class TransportPrinter {
  private readonly udp = new UdpPacket();
  private readonly tcp = new TcpPacket();
  private readonly convs = new Map<string, Conv>();

  constructor(private readonly verbose: number) {}

  udpLine(p: L4): string {
    const { b, off, len } = p;
    const caplen = Math.max(0, Math.min(b.length - off, len));
    if (caplen < UDP_HDR_LEN) return `${p.src} > ${p.dst}:  [|udp]`;
    const u = this.udp.reset(b, off, caplen);
    const addrs = `${p.src}.${u.srcPort} > ${p.dst}.${u.dstPort}: `;
    const ulen = u.length;
    if (ulen < UDP_HDR_LEN) return `${addrs}truncated-udplength ${ulen}`;
    if (ulen > len) return `${addrs}truncated-udp - ${ulen - len} bytes missing!`;
    let s = addrs;
    if (this.verbose > 1 && !p.frag && caplen >= ulen) {
      const stored = u.checksum;
      const sum = sum16(b, off, ulen, p.phAddrs + 17 + ulen);
      if (stored === 0 && p.srcKey.length === 8) s += '[no cksum] ';
      else if (foldComplement(sum) === 0) s += '[udp sum ok] ';
      else s += `[bad udp cksum ${hex4(stored)} -> ${hex4(shouldBe(sum, stored))}!] `;
    }
    return `${s}UDP, length ${ulen - UDP_HDR_LEN}`;
  }

  tcpLine(p: L4): string {
    const { b, off, len } = p;
    const caplen = Math.max(0, Math.min(b.length - off, len));
    if (caplen < 4) return `${p.src} > ${p.dst}:  [|tcp]`;
    const t = this.tcp.reset(b, off, caplen);
    const sport = t.srcPort;
    const dport = t.dstPort;
    let s = `${p.src}.${sport} > ${p.dst}.${dport}: `;
    if (caplen < TCP_HDR_LEN) return `${s} [|tcp]`;
    const flags = t.flags;
    s += `Flags [${flagString(flags)}]`;
    let seq = t.seq;
    let ack = t.ack;
    let thseq = 0;
    let thack = 0;
    let rev = false;
    if ((flags & 0x10) !== 0) {
      // tcpdump's conversation key: the two ends ordered by port, then address, so both directions share it.
      rev = sport > dport || (sport === dport && p.srcKey > p.dstKey);
      const key = rev ? `${p.dstKey}${p.srcKey}${dport}:${sport}` : `${p.srcKey}${p.dstKey}${sport}:${dport}`;
      let c = this.convs.get(key);
      if (c === undefined || (flags & 0x02) !== 0) {
        if (c === undefined) {
          if (this.convs.size >= MAX_CONVERSATIONS) this.convs.clear();
          c = { seq: 0, ack: 0 };
          this.convs.set(key, c);
        }
        if (rev) {
          c.ack = seq;
          c.seq = (ack - 1) >>> 0;
        } else {
          c.seq = seq;
          c.ack = (ack - 1) >>> 0;
        }
      } else if (rev) {
        seq = (seq - c.ack) >>> 0;
        ack = (ack - c.seq) >>> 0;
      } else {
        seq = (seq - c.seq) >>> 0;
        ack = (ack - c.ack) >>> 0;
      }
      thseq = c.seq;
      thack = c.ack;
    }
    const hlen = t.headerLen;
    if (hlen < TCP_HDR_LEN) return `${s} tcp ${len - hlen} [bad hdr length ${hlen} - too short, < 20]`;
    if (hlen > len) return `${s} [bad hdr length ${hlen} - too long, > ${len}]`;
    if (this.verbose > 0 && !p.frag && caplen >= len) {
      const stored = t.checksum;
      const sum = sum16(b, off, len, p.phAddrs + 6 + len);
      s += `, cksum ${hex4(stored)}`;
      s += foldComplement(sum) === 0 ? ' (correct)' : ` (incorrect -> ${hex4(shouldBe(sum, stored))})`;
    }
    const dlen = len - hlen;
    if (this.verbose > 1 || dlen > 0 || (flags & 0x07) !== 0) {
      s += `, seq ${seq}`;
      if (dlen > 0) s += `:${(seq + dlen) >>> 0}`;
    }
    if ((flags & 0x10) !== 0) s += `, ack ${ack}`;
    s += `, win ${t.window}`;
    if ((flags & 0x20) !== 0) s += `, urg ${t.urgent}`;
    if (hlen > TCP_HDR_LEN) {
      if (hlen > caplen) return `${s}, options [ [|tcp]`;
      s += `, options [${tcpOptions(b, off + TCP_HDR_LEN, hlen - TCP_HDR_LEN, rev ? thseq : thack)}]`;
    }
    s += `, length ${dlen}`;
    if (dlen > 0 && (sport === 80 || dport === 80)) s += `: ${httpText(b, off + hlen, Math.max(0, Math.min(dlen, caplen - hlen)), this.verbose)}`;
    return s;
  }
}

function flagString(flags: number): string {
  let s = '';
  for (const [bit, c] of TCP_FLAGS) if ((flags & bit) !== 0) s += c;
  return s === '' ? 'none' : s;
}

function u32at(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** TCP options as tcp_print lists them (SACK edges relative to `base`). */
export function tcpOptions(b: Uint8Array, off: number, hlen: number, base: number): string {
  const parts: string[] = [];
  const end = off + hlen;
  for (let i = off; i < end; ) {
    const opt = b[i]!;
    const name = TCP_OPTION_NAMES[opt] ?? `unknown-${opt}`;
    let len = 1;
    if (opt > 1) {
      if (i + 1 >= end) {
        parts.push(`${name} [|tcp]`);
        break;
      }
      len = b[i + 1]!;
      if (len < 2 || i + len > end) {
        parts.push(`${name} [bad opt]`);
        break;
      }
    }
    const d = i + (opt > 1 ? 2 : 1);
    const dlen = len - (opt > 1 ? 2 : 1);
    let p = name;
    let used = 0;
    if (opt === 2 && dlen >= 2) {
      p += ` ${(b[d]! << 8) | b[d + 1]!}`;
      used = 2;
    } else if (opt === 3 && dlen >= 1) {
      p += ` ${b[d]}`;
      used = 1;
    } else if (opt === 8 && dlen >= 8) {
      p += ` val ${u32at(b, d)} ecr ${u32at(b, d + 4)}`;
      used = 8;
    } else if (opt === 5) {
      if (dlen % 8 !== 0) p += ' invalid sack';
      else {
        p += ` ${dlen / 8} `;
        for (let k = 0; k < dlen; k += 8) p += `{${(u32at(b, d + k) - base) >>> 0}:${(u32at(b, d + k + 4) - base) >>> 0}}`;
      }
      used = dlen;
    } else if (opt > 1 && opt !== 4 && dlen > 0) {
      p += ' ';
      for (let k = 0; k < dlen; k++) p += b[d + k]!.toString(16).padStart(2, '0');
      used = dlen;
    }
    if (opt > 1 && used + 2 !== len) p += `[len ${len}]`;
    parts.push(p);
    if (opt === 0) break;
    i += len;
  }
  return parts.join(',');
}

/** What tcpdump's http_print shows of a segment: `HTTP`, and the first line (-v: all lines) of a request or response. */
export function httpText(b: Uint8Array, off: number, len: number, verbose: number): string {
  const end = off + len;
  const tok = (from: number): [string, number] => {
    let i = from;
    let t = '';
    while (i < end && b[i] !== 0x20 && b[i] !== 0x0d && b[i] !== 0x0a) {
      if (b[i]! < 0x21 || b[i]! > 0x7e) return ['', -1];
      t += String.fromCharCode(b[i]!);
      i++;
    }
    while (i < end && b[i] === 0x20) i++;
    return [t, i];
  };
  const [t1, n1] = tok(off);
  let ok = n1 >= 0 && HTTP_METHODS.has(t1.toUpperCase());
  if (!ok && n1 >= 0) ok = /^\d{3}$/.test(tok(n1)[0]);
  if (!ok) return 'HTTP';
  /** One text line from `from`: [text, next, whether it ended in a line break]; null for binary data. */
  const line = (from: number): [string, number, boolean] | null => {
    let s = '';
    for (let i = from; i < end; i++) {
      const c = b[i]!;
      if (c === 0x0a) return [s, i + 1, true];
      if (c === 0x0d) {
        if (i + 1 >= end || b[i + 1] !== 0x0a) return null;
        return [s, i + 2, true];
      }
      if ((c < 0x20 || c > 0x7e) && c !== 0x09) return null;
      s += String.fromCharCode(c);
    }
    return [s, end, false];
  };
  if (verbose === 0) {
    const l = line(off);
    if (l === null) return 'HTTP';
    return l[2] ? `HTTP: ${l[0]}` : `HTTP: ${l[0]} [|http]`;
  }
  let s = `HTTP, length: ${len}`;
  for (let i = off; i < end; ) {
    const l = line(i);
    if (l === null) break;
    s += `\n\t${l[0]}`;
    if (!l[2]) {
      s += ' [|http]';
      break;
    }
    i = l[1];
  }
  return s;
}
