/**
 * The image's sockets as netstat lists them (FreeBSD's pcblist sysctls):
 * TCP connections and listeners, then UDP endpoints, newest first. The
 * protocol name carries the families an endpoint takes, as FreeBSD's
 * netstat prints inp_vflag: tcp4, tcp6, or tcp46 for an AF_INET6 socket on
 * :: that takes IPv4 too (a v4-mapped connection is tcp4).
 */

import type { Vnet } from '../net/vnet.js';
import { TCP_STATE_NAMES, TCPS } from '../netinet/tcp/tcp_var.js';
import { INP_IPV4, INP_IPV6, type InPcb } from './in_pcb.js';
import { fmtAddr6 } from './sockaddr6.js';

export interface SocketRow {
  /** Raw IPv6 sockets: `icm6` (ICMPv6) and `ip66` (IPPROTO_RAW), as FreeBSD's protopr prints its "icmp6" and "ip6" entries. */
  proto: 'tcp4' | 'tcp6' | 'tcp46' | 'udp4' | 'udp6' | 'udp46' | 'icm6' | 'ip66';
  recvQ: number;
  sendQ: number;
  /** IPv4 addresses (0 for the wildcard, and in IPv6 rows). */
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** IPv6 rows: the addresses as text with their zone (`fe80::1%tap0`, `::` for the wildcard). */
  laddr6?: string;
  faddr6?: string;
  /** TCP state name (FreeBSD's tcpstates[]); '' for UDP. */
  state: string;
  /** Listen queue: completed, incomplete, limit (netstat -L). */
  listen?: { qlen: number; incqlen: number; maxqlen: number };
}

function family<T extends 'tcp' | 'udp'>(t: T, p: InPcb): `${T}4` | `${T}6` | `${T}46` {
  const v = p.vflag & (INP_IPV4 | INP_IPV6);
  return (v === INP_IPV4 ? `${t}4` : v === INP_IPV6 ? `${t}6` : `${t}46`) as `${T}4` | `${T}6` | `${T}46`;
}

function row(proto: SocketRow['proto'], p: InPcb, laddr: number, recvQ: number, sendQ: number, state: string): SocketRow {
  const r: SocketRow = { proto, recvQ, sendQ, laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state };
  if ((p.vflag & INP_IPV6) !== 0) {
    r.laddr = 0;
    r.faddr = 0;
    r.laddr6 = fmtAddr6(p.laddr6!, p.zone);
    r.faddr6 = fmtAddr6(p.faddr6!, p.zone);
  }
  return r;
}

export function listSockets(im: Vnet): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const p of im.tcp.tcb.all()) {
    const proto = family('tcp', p);
    if (p.listen !== null) {
      const q = p.listen;
      const r = row(proto, p, p.laddr, 0, 0, TCP_STATE_NAMES[TCPS.LISTEN]!);
      r.listen = { qlen: q.ready.length, incqlen: q.incomplete.size, maxqlen: q.backlog };
      rows.push(r);
    } else if (p.cb !== null) {
      const cb = p.cb;
      rows.push(row(proto, p, cb.laddr || p.laddr, cb.rcv.length, cb.snd.length, TCP_STATE_NAMES[cb.state]!));
    } else {
      rows.push(row(proto, p, p.laddr, 0, 0, 'CLOSED'));
    }
  }
  const udp: SocketRow[] = [];
  for (const p of im.udb.all()) udp.push(row(family('udp', p), p, p.laddr, p.so.recvQueued, 0, ''));
  return [...rows.reverse(), ...udp.reverse(), ...raw6Rows(im)];
}

/**
 * Raw IPv6 sockets: FreeBSD's netstat lists those of IPPROTO_RAW under
 * "ip6" and those of IPPROTO_ICMPV6 under "icmp6" (in that order, after
 * UDP), cut to three letters plus the family; other protocols are not listed.
 */
function raw6Rows(im: Vnet): SocketRow[] {
  const out: SocketRow[] = [];
  for (const want of [255, 58]) {
    for (let i = im.rip6.pcbs.length - 1; i >= 0; i--) {
      const p = im.rip6.pcbs[i]!;
      if (p.proto !== want) continue;
      const q = (p as { recvQueued?: number }).recvQueued ?? 0;
      out.push({
        proto: want === 58 ? 'icm6' : 'ip66',
        recvQ: q,
        sendQ: 0,
        laddr: 0,
        lport: 0,
        faddr: 0,
        fport: 0,
        laddr6: p.laddr6 === null ? '::' : fmtAddr6(p.laddr6, null),
        faddr6: p.faddr6 === null ? '::' : fmtAddr6(p.faddr6, null),
        state: '',
      });
    }
  }
  return out;
}
