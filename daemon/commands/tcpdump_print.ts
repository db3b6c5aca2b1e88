/**
 * tcpdump's decode of a captured Ethernet frame, as tcpdump 4.99 prints it
 * with -n (FreeBSD 14's tcpdump prints the same): ARP, IPv4 with ICMP, IPv6
 * with ICMPv6, and UDP and TCP over both (tcpdump_transport.ts); -v adds the
 * IPv4 header details, checksums and the datagram an ICMP error quotes; -e
 * the link header. Names are never resolved (-n is always on). Application
 * protocols are not decoded except HTTP's first line on port 80; UDP
 * payloads print as `UDP, length N`; IPv6 with -v prints its header fields
 * and then the same line as without. Other EtherTypes print the link header
 * and a hex dump, as tcpdump does for a type it does not know.
 *
 * Captured bytes are untrusted and may be cut short by the snapshot length:
 * every read is checked against the captured length, and a header that is
 * cut prints ` [|proto]`, tcpdump's truncation mark. Nothing here throws.
 */

import { ArpPacket } from '../../lib/wire/arp.js';
import { foldComplement, internetChecksum, sum16 } from '../../lib/wire/checksum.js';
import { ETHER_HDR_LEN, EthernetFrame, macToString } from '../../lib/wire/ethernet.js';
import { ICMP_MINLEN, IcmpPacket } from '../../lib/wire/icmp.js';
import { IP_HDR_LEN, Ipv4Packet, ip4ToString } from '../../lib/wire/ipv4.js';
import { ip6ToString } from '../../lib/wire/ipv6.js';
import { TransportPrinter, type L4 } from './tcpdump_transport.js';

export interface PrintOptions {
  /** -v count. */
  verbose: number;
  /** -e: print the link-level header. */
  link: boolean;
  /** The capture's link type: DLT_EN10MB (1, the default) or DLT_NULL (0: lo0, gif). */
  dlt?: number;
}

/** BSD address families in a DLT_NULL header (tcpdump's bsd_af_values). */
const BSD_AF_NAMES: Record<number, string> = { 2: 'IPv4', 24: 'IPv6', 28: 'IPv6', 30: 'IPv6', 7: 'OSI', 23: 'IPX', 16: 'Appletalk' };

const ETHERTYPE_NAMES: Record<number, string> = {
  0x0800: 'IPv4',
  0x0806: 'ARP',
  0x8035: 'Reverse ARP',
  0x8100: '802.1Q',
  0x86dd: 'IPv6',
  0x88a8: '802.1Q-QinQ',
  0x9100: '802.1Q-9100',
  0x9200: '802.1Q-9200',
  0x88cc: 'LLDP',
  0x8847: 'MPLS unicast',
  0x8863: 'PPPoE D',
  0x8864: 'PPPoE S',
  0x888e: 'EAPOL',
};

const IPPROTO_NAMES: Record<number, string> = {
  0: 'Options',
  1: 'ICMP',
  2: 'IGMP',
  4: 'IPIP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMPv6',
  89: 'OSPF',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
};

const UNREACH: Record<number, (dst: string) => string> = {
  0: (d) => `net ${d} unreachable`,
  1: (d) => `host ${d} unreachable`,
  5: (d) => `${d} unreachable - source route failed`,
  6: (d) => `${d} unreachable - unknown network`,
  7: (d) => `${d} unreachable - unknown host`,
  8: (d) => `${d} unreachable - source host isolated`,
  9: (d) => `net ${d} unreachable - admin prohibited`,
  10: (d) => `host ${d} unreachable - admin prohibited`,
  11: (d) => `net ${d} unreachable - tos prohibited`,
  12: (d) => `host ${d} unreachable - tos prohibited`,
  13: (d) => `host ${d} unreachable - admin prohibited filter`,
  14: (d) => `host ${d} unreachable - host precedence violation`,
  15: (d) => `host ${d} unreachable - precedence cutoff`,
};

const ICMP6_UNREACH = ['unreachable route', 'unreachable prohibited', 'beyond scope', 'unreachable address', 'unreachable port', 'failed policy', 'reject route'];

function isVlanType(t: number): boolean {
  return t === 0x8100 || t === 0x88a8 || t === 0x9100 || t === 0x9200;
}

/** Local time of day as tcpdump prints it: HH:MM:SS.uuuuuu. */
export function formatTime(tsUs: number): string {
  const sec = Math.floor(tsUs / 1e6);
  const us = Math.floor(tsUs - sec * 1e6);
  const d = new Date(sec * 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(us).padStart(6, '0')}`;
}

/** The bytes as tcpdump's hex_and_ascii_print: 16 a line, in 16-bit groups, then the printable characters. */
export function hexDump(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let line = 0; line < len; line += 16) {
    let hex = '';
    let asc = '';
    for (let i = line; i < line + 16 && i < len; i++) {
      const c = b[off + i]!;
      if ((i & 1) === 0) hex += ' ';
      hex += c.toString(16).padStart(2, '0');
      asc += c > 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
    }
    s += `\n\t0x${line.toString(16).padStart(4, '0')}: ${hex.padEnd(40)}  ${asc}`;
  }
  return s;
}

function u32at(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** An IPv6 address as inet_ntop writes it (RFC 5952). */
export { ip6ToString };

/** A decoder with the state tcpdump keeps between packets (initial sequence numbers per connection). */
export class PacketPrinter {
  private readonly o: PrintOptions;
  private readonly eth = new EthernetFrame();
  private readonly arp = new ArpPacket();
  private readonly ip = new Ipv4Packet();
  private readonly icmp = new IcmpPacket();
  private readonly l4: TransportPrinter;

  constructor(o: PrintOptions) {
    this.o = o;
    this.l4 = new TransportPrinter(o.verbose);
  }

  /** The whole output (without the final newline) for one captured frame. */
  line(tsUs: number, frame: Uint8Array, wirelen: number): string {
    try {
      return `${formatTime(tsUs)} ${this.o.dlt === 0 ? this.nullLink(frame, wirelen) : this.ether(frame, wirelen)}`;
    } catch {
      return `${formatTime(tsUs)}  [|ether]`;
    }
  }

  /**
   * DLT_NULL (tcpdump's null_if_print): a 4-byte address family in the
   * capturing host's byte order (little-endian here), then the packet; -e
   * prints `AF IPv4 (2), length N: `.
   */
  nullLink(b: Uint8Array, wirelen: number): string {
    if (b.length < 4) return ' [|null]';
    let af = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    // As tcpdump: a family with its high half set was written in the other byte order.
    if ((af & 0xffff0000) !== 0) af = ((af & 0xff) << 24 | (af & 0xff00) << 8 | ((af >>> 8) & 0xff00) | (af >>> 24)) >>> 0;
    const hdr = `AF ${BSD_AF_NAMES[af] ?? 'Unknown'} (${af}), length ${wirelen}: `;
    const link = this.o.link ? hdr : '';
    if (af === 2) return link + (this.o.link ? '' : 'IP ') + this.ipv4(b, 4);
    if (af === 24 || af === 28 || af === 30) return link + (this.o.link ? '' : 'IP6 ') + this.ipv6(b, 4);
    return hdr + hexDump(b, 4, b.length - 4);
  }

  /** The decode after the timestamp. */
  ether(b: Uint8Array, wirelen: number): string {
    const caplen = b.length;
    const e = this.eth.reset(b, 0, caplen);
    if (!e.checked()) return ` [|ether]`;
    let type = e.etherType;
    const addrs = `${macToString(e.src)} > ${macToString(e.dst)}`;
    const typeName = (t: number): string => `ethertype ${ETHERTYPE_NAMES[t] ?? 'Unknown'} (0x${t.toString(16).padStart(4, '0')})`;
    const head = (t: number): string => `${addrs}, ${t <= 1500 ? '802.3' : typeName(t)}, length ${t <= 1500 ? t : wirelen}: `;
    let hdr = head(type);
    let p = ETHER_HDR_LEN;
    if (isVlanType(type)) {
      // 802.1Q / QinQ tags are looked through, as ether_common_print does; -e shows each tag and the type after it.
      let tags = `${addrs}, `;
      while (isVlanType(type)) {
        if (caplen - p < 4) return this.o.link ? `${tags} [|vlan]` : ' [|vlan]';
        const tci = (b[p]! << 8) | b[p + 1]!;
        tags += p === ETHER_HDR_LEN ? `${typeName(type)}, length ${wirelen}: ` : `${typeName(type)}, `;
        tags += `vlan ${tci & 0xfff}, p ${tci >>> 13}${(tci & 0x1000) !== 0 ? ', DEI' : ''}, `;
        type = (b[p + 2]! << 8) | b[p + 3]!;
        p += 4;
      }
      if (this.o.link) hdr = type > 1500 ? `${tags}${typeName(type)}, ` : tags;
      else hdr = head(type);
    }
    const link = this.o.link ? hdr : '';
    if (type === 0x0800) return link + (this.o.link ? '' : 'IP ') + this.ipv4(b, p);
    if (type === 0x86dd) return link + (this.o.link ? '' : 'IP6 ') + this.ipv6(b, p);
    if (type === 0x0806) return link + this.arpLine(b, p, wirelen - p);
    return hdr + hexDump(b, p, caplen - p);
  }

  arpLine(b: Uint8Array, off: number, wire: number): string {
    let s = this.o.link ? '' : 'ARP, ';
    const caplen = b.length - off;
    const a = this.arp.reset(b, off, caplen);
    if (!a.checked()) {
      if (caplen < 8) return `${s} [|arp]`;
      const hrd = (b[off]! << 8) | b[off + 1]!;
      const pro = (b[off + 2]! << 8) | b[off + 3]!;
      const hname = hrd === 1 ? 'Ethernet' : `Unknown Hardware (${hrd})`;
      const pname = ETHERTYPE_NAMES[pro] ?? `Unknown Protocol (0x${pro.toString(16).padStart(4, '0')})`;
      return `${s}${hname} (len ${b[off + 4]}), ${pname} (len ${b[off + 5]}), length ${wire}`;
    }
    if (this.o.verbose > 0) s += 'Ethernet (len 6), IPv4 (len 4), ';
    const op = a.op;
    if (op === 1) {
      const tha = a.targetMac;
      s += `Request who-has ${ip4ToString(a.targetIp)}${tha !== 0 ? ` (${macToString(tha)})` : ''} tell ${ip4ToString(a.senderIp)}`;
    } else if (op === 2) {
      s += `Reply ${ip4ToString(a.senderIp)} is-at ${macToString(a.senderMac)}`;
    } else if (op === 3 || op === 4 || op === 8 || op === 9) {
      const names: Record<number, string> = { 3: 'Reverse Request', 4: 'Reverse Reply', 8: 'Inverse Request', 9: 'Inverse Reply' };
      s += `${names[op]} who-is ${macToString(a.targetMac)} tell ${macToString(a.senderMac)}`;
    } else {
      s += `op ${op}`;
    }
    return `${s}, length ${wire}`;
  }

  /** IPv4 from its header at `off` to the end of the captured bytes (after any `IP ` prefix). */
  ipv4(b: Uint8Array, off: number): string {
    const caplen = b.length - off;
    if (caplen < IP_HDR_LEN) return ' [|ip]';
    const ip = this.ip.reset(b, off, caplen);
    if (ip.version !== 4) return `IP${ip.version}`;
    const hlen = ip.headerLen;
    const total = ip.totalLen;
    if (hlen < IP_HDR_LEN) return `bad-hlen ${hlen}`;
    if (total < hlen) return `truncated-ip - ${hlen - total} bytes missing!`;
    const proto = ip.protocol;
    const frag = ip.fragField;
    let s = '';
    if (this.o.verbose > 0) {
      const tos = ip.tos;
      s += `(tos 0x${tos.toString(16)}`;
      if ((tos & 3) === 1) s += ',ECT(1)';
      else if ((tos & 3) === 2) s += ',ECT(0)';
      else if ((tos & 3) === 3) s += ',CE';
      if (ip.ttl >= 1) s += `, ttl ${ip.ttl}`;
      const flags: string[] = [];
      if (frag & 0x2000) flags.push('+');
      if (frag & 0x4000) flags.push('DF');
      if (frag & 0x8000) flags.push('rsvd');
      s += `, id ${ip.ident}, offset ${(frag & 0x1fff) * 8}, flags [${flags.length > 0 ? flags.join(', ') : 'none'}]`;
      s += `, proto ${IPPROTO_NAMES[proto] ?? 'unknown'} (${proto}), length ${total}`;
      if (hlen > IP_HDR_LEN && hlen <= caplen) s += `, options (${ipOptions(b, off + IP_HDR_LEN, hlen - IP_HDR_LEN)})`;
      if (hlen <= caplen && internetChecksum(b, off, hlen) !== 0) {
        const stored = ip.checksum;
        s += `, bad cksum ${stored.toString(16)} (->${foldComplement(sum16(b, off, hlen) + (0xffff - stored)).toString(16)})!`;
      }
      s += ')\n    ';
    }
    if (hlen > caplen) return `${s} [|ip]`;
    const src = ip.src;
    const dst = ip.dst;
    const addrs = `${ip4ToString(src)} > ${ip4ToString(dst)}:`;
    if ((frag & 0x1fff) !== 0) return `${s}${addrs} ip-proto-${proto}`;
    const plen = total - hlen;
    const poff = off + hlen;
    if (proto === 6 || proto === 17) {
      const p: L4 = {
        b,
        off: poff,
        len: plen,
        src: ip4ToString(src),
        dst: ip4ToString(dst),
        srcKey: src.toString(16).padStart(8, '0'),
        dstKey: dst.toString(16).padStart(8, '0'),
        phAddrs: (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff),
        frag: (frag & 0x2000) !== 0,
      };
      return s + (proto === 6 ? this.l4.tcpLine(p) : this.l4.udpLine(p));
    }
    if (proto === 1) return `${s}${addrs} ${this.icmpLine(b, poff, plen)}`;
    // IP in IP (tcpdump's ip_demux_print): the inner packet's own line; 4in4 marks itself unless -v.
    if (proto === 4) return `${s}${addrs} ${this.o.link ? '' : 'IP '}${this.ipv4(b.subarray(0, Math.min(b.length, poff + plen)), poff)}${this.o.verbose > 0 ? '' : ' (ipip-proto-4)'}`;
    if (proto === 41) return `${s}${addrs} ${this.o.link ? '' : 'IP6 '}${this.ipv6(b.subarray(0, Math.min(b.length, poff + plen)), poff)}`;
    return `${s}${addrs}  ip-proto-${proto} ${plen}`;
  }

  icmpLine(b: Uint8Array, off: number, len: number): string {
    const caplen = Math.max(0, Math.min(b.length - off, len));
    if (caplen < ICMP_MINLEN) return ' [|icmp]';
    const v = this.icmp.reset(b, off, caplen);
    const type = v.type;
    const code = v.code;
    const quoted = caplen >= ICMP_MINLEN + IP_HDR_LEN;
    const q = off + ICMP_MINLEN;
    const qdst = quoted ? ip4ToString(u32at(b, q + 16)) : '';
    let str: string;
    let error = false;
    switch (type) {
      case 0:
        str = `echo reply, id ${v.ident}, seq ${v.seq}`;
        break;
      case 8:
        str = `echo request, id ${v.ident}, seq ${v.seq}`;
        break;
      case 3: {
        error = true;
        if (!quoted) return ' [|icmp]';
        if (code === 2) str = `${qdst} protocol ${b[q + 9]} unreachable`;
        else if (code === 3) {
          const qhl = (b[q]! & 0xf) << 2;
          const qp = b[q + 9]!;
          if (caplen < ICMP_MINLEN + qhl + 4) return ' [|icmp]';
          const port = (b[q + qhl + 2]! << 8) | b[q + qhl + 3]!;
          str = qp === 6 ? `${qdst} tcp port ${port} unreachable` : qp === 17 ? `${qdst} udp port ${port} unreachable` : `${qdst} protocol ${qp} port ${port} unreachable`;
        } else if (code === 4) {
          const mtu = (b[off + 6]! << 8) | b[off + 7]!;
          str = mtu !== 0 ? `${qdst} unreachable - need to frag (mtu ${mtu})` : `${qdst} unreachable - need to frag`;
        } else str = UNREACH[code]?.(qdst) ?? `${qdst} unreachable - #${code}`;
        break;
      }
      case 4:
        error = true;
        str = 'source quench';
        break;
      case 5:
        error = true;
        if (!quoted) return ' [|icmp]';
        str = `redirect ${qdst} to ${['net', 'host', 'tos-net', 'tos-host'][code] ?? 'host'} ${ip4ToString(u32at(b, off + 4))}`;
        break;
      case 9:
        str = 'router advertisement';
        break;
      case 10:
        str = 'router solicitation';
        break;
      case 11:
        error = true;
        str = code === 0 ? 'time exceeded in-transit' : code === 1 ? 'ip reassembly time exceeded' : `time exceeded-#${code}`;
        break;
      case 12:
        error = true;
        str = code === 0 ? `parameter problem - octet ${b[off + 4]}` : `parameter problem code ${code}`;
        break;
      case 13:
        str = `time stamp query id ${v.ident} seq ${v.seq}`;
        break;
      case 14:
        str = `time stamp reply id ${v.ident} seq ${v.seq}`;
        break;
      case 17:
        str = `address mask request`;
        break;
      default:
        str = `type-#${type}`;
    }
    let s = `ICMP ${str}, length ${len}`;
    if (this.o.verbose > 0) {
      if (caplen >= len && internetChecksum(b, off, len) !== 0) {
        const stored = v.checksum;
        s += ` (wrong icmp cksum ${stored.toString(16)} (->${foldComplement(sum16(b, off, len) + (0xffff - stored)).toString(16)})!)`;
      }
      // The datagram the error quotes, decoded as a packet of its own (its transport checksum is not checked).
      if (error && quoted) {
        const inner = new PacketPrinter({ verbose: this.o.verbose, link: false });
        s += `\n\tIP ${inner.ipv4(b.subarray(0, off + caplen), q)}`;
      }
    }
    return s;
  }

  /** IPv6 from its header at `off` (after any `IP6 ` prefix). */
  ipv6(b: Uint8Array, off: number): string {
    const caplen = b.length - off;
    if (caplen < 40) return ' [|ip6]';
    if (b[off]! >>> 4 !== 6) return `IP6, wrong link-layer encapsulation`;
    const flow = u32at(b, off);
    const plen = (b[off + 4]! << 8) | b[off + 5]!;
    let nh = b[off + 6]!;
    const hlim = b[off + 7]!;
    const src = ip6ToString(b, off + 8);
    const dst = ip6ToString(b, off + 24);
    let s = '';
    if (this.o.verbose > 0) {
      const cls = (flow >>> 20) & 0xff;
      const label = flow & 0xfffff;
      s += '(';
      if (cls !== 0) s += `class 0x${cls.toString(16).padStart(2, '0')}, `;
      if (label !== 0) s += `flowlabel 0x${label.toString(16).padStart(5, '0')}, `;
      s += `hlim ${hlim}, next-header ${IPPROTO_NAMES[nh] ?? 'unknown'} (${nh}) payload length: ${plen}) `;
    }
    let p = off + 40;
    let rest = plen;
    let ext = '';
    // Hop-by-hop, routing and destination options: skipped by their length, named as tcpdump names them.
    while ((nh === 0 || nh === 43 || nh === 60) && rest >= 8 && p + 8 <= b.length) {
      const l = (b[p + 1]! + 1) * 8;
      ext += nh === 0 ? 'HBH ' : nh === 43 ? 'srcrt ' : 'DSTOPT ';
      nh = b[p]!;
      p += l;
      rest -= l;
    }
    if (rest < 0) return `${s}${src} > ${dst}: ${ext} [|ip6]`;
    let ph = 0;
    for (let i = 0; i < 32; i += 2) ph += (b[off + 8 + i]! << 8) | b[off + 9 + i]!;
    if (nh === 6 || nh === 17) {
      let sk = '';
      let dk = '';
      for (let i = 0; i < 16; i++) {
        sk += b[off + 8 + i]!.toString(16).padStart(2, '0');
        dk += b[off + 24 + i]!.toString(16).padStart(2, '0');
      }
      const l4: L4 = { b, off: p, len: rest, src, dst, srcKey: sk, dstKey: dk, phAddrs: ph, frag: false };
      return s + ext + (nh === 6 ? this.l4.tcpLine(l4) : this.l4.udpLine(l4));
    }
    s += `${src} > ${dst}: ${ext}`;
    if (nh === 58) {
      if (this.o.verbose > 0 && rest >= 4 && p + rest <= b.length) {
        const sum = sum16(b, p, rest, ph + 58 + rest);
        const stored = (b[p + 2]! << 8) | b[p + 3]!;
        const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
        s += foldComplement(sum) === 0 ? '[icmp6 sum ok] ' : `[bad icmp6 cksum ${hex(stored)} -> ${hex(foldComplement(sum + (0xffff - stored)))}!] `;
      }
      return s + this.icmp6Line(b, p, rest);
    }
    if (nh === 44) return `${s}frag`;
    return `${s} ip-proto-${nh} ${rest}`;
  }

  icmp6Line(b: Uint8Array, off: number, len: number): string {
    const caplen = Math.max(0, Math.min(b.length - off, len));
    if (caplen < 4) return 'ICMP6 [|icmp6]';
    const type = b[off]!;
    const code = b[off + 1]!;
    const word = (o: number): number => (o + 2 <= off + caplen ? (b[o]! << 8) | b[o + 1]! : 0);
    const target = (): string => (caplen >= 24 ? ip6ToString(b, off + 8) : '[|icmp6]');
    let str: string;
    switch (type) {
      case 1: {
        const why = ICMP6_UNREACH[code] ?? `unknown unreach code (${code})`;
        let what = '';
        if (caplen >= 48) {
          const q = off + 8;
          const qdst = ip6ToString(b, q + 24);
          if (code === 4 && caplen >= 52 && (b[q + 6] === 17 || b[q + 6] === 6)) what = `, ${qdst} ${b[q + 6] === 17 ? 'udp' : 'tcp'} port ${word(q + 42)}`;
          else what = `, ${qdst}`;
        }
        str = `destination unreachable, ${why}${what}`;
        break;
      }
      case 2:
        str = `packet too big, mtu ${caplen >= 8 ? u32at(b, off + 4) : 0}`;
        break;
      case 3:
        str = code === 0 ? 'time exceeded in-transit' : 'time exceeded in-transit (reassembly)';
        break;
      case 4:
        str = 'parameter problem';
        break;
      case 128:
        str = `echo request, id ${word(off + 4)}, seq ${word(off + 6)}`;
        break;
      case 129:
        str = `echo reply, id ${word(off + 4)}, seq ${word(off + 6)}`;
        break;
      case 130:
        str = 'multicast listener query';
        break;
      case 131:
        str = 'multicast listener report';
        break;
      case 132:
        str = 'multicast listener done';
        break;
      case 133:
        str = 'router solicitation';
        break;
      case 134:
        str = 'router advertisement';
        break;
      case 135:
        str = `neighbor solicitation, who has ${target()}`;
        break;
      case 136:
        str = `neighbor advertisement, tgt is ${target()}`;
        break;
      case 137:
        str = 'redirect';
        break;
      case 143:
        str = `multicast listener report v2, ${word(off + 6)} group record(s)`;
        break;
      default:
        str = `type-#${type}`;
    }
    return `ICMP6, ${str}, length ${len}`;
  }
}

/** IP options, named as ip_optprint does for the common ones. */
function ipOptions(b: Uint8Array, off: number, len: number): string {
  const names: Record<number, string> = { 0: 'EOL', 1: 'NOP', 7: 'RR', 68: 'TS', 130: 'security', 131: 'LSRR', 137: 'SSRR', 148: 'RA' };
  const out: string[] = [];
  for (let i = off; i < off + len; ) {
    const t = b[i]!;
    if (t === 0 || t === 1) {
      out.push(names[t]!);
      i++;
      if (t === 0) break;
      continue;
    }
    const l = i + 1 < off + len ? b[i + 1]! : 0;
    out.push(`${names[t] ?? `unknown ${t}`}${l < 2 ? ' [bad length]' : ''}`);
    if (l < 2) break;
    i += l;
  }
  return out.join(',');
}

