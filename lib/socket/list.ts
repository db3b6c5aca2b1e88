/**
 * The image's sockets as netstat lists them (FreeBSD's pcblist sysctls):
 * TCP connections and listeners, then UDP endpoints, newest first.
 */

import type { Vnet } from '../net/vnet.js';
import { TCP_STATE_NAMES, TCPS } from '../netinet/tcp/tcp_var.js';

export interface SocketRow {
  proto: 'tcp4' | 'udp4';
  recvQ: number;
  sendQ: number;
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** TCP state name (FreeBSD's tcpstates[]); '' for UDP. */
  state: string;
  /** Listen queue: completed, incomplete, limit (netstat -L). */
  listen?: { qlen: number; incqlen: number; maxqlen: number };
}

export function listSockets(im: Vnet): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const p of im.tcp.tcb.all()) {
    if (p.listen !== null) {
      const q = p.listen;
      rows.push({
        proto: 'tcp4',
        recvQ: 0,
        sendQ: 0,
        laddr: p.laddr,
        lport: p.lport,
        faddr: 0,
        fport: 0,
        state: TCP_STATE_NAMES[TCPS.LISTEN]!,
        listen: { qlen: q.ready.length, incqlen: q.incomplete.size, maxqlen: q.backlog },
      });
    } else if (p.cb !== null) {
      const cb = p.cb;
      rows.push({
        proto: 'tcp4',
        recvQ: cb.rcv.length,
        sendQ: cb.snd.length,
        laddr: cb.laddr || p.laddr,
        lport: p.lport,
        faddr: p.faddr,
        fport: p.fport,
        state: TCP_STATE_NAMES[cb.state]!,
      });
    } else {
      rows.push({ proto: 'tcp4', recvQ: 0, sendQ: 0, laddr: p.laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state: 'CLOSED' });
    }
  }
  const udp: SocketRow[] = [];
  for (const p of im.udb.all()) {
    udp.push({ proto: 'udp4', recvQ: p.so.recvQueued, sendQ: 0, laddr: p.laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state: '' });
  }
  return [...rows.reverse(), ...udp.reverse()];
}
