/**
 * The end of a connection and what reaches it from below (FreeBSD's
 * tcp_subr.c and tcp_timewait.c): dropping and closing, entering
 * TIME-WAIT, ICMP soft errors (tcp_notify) and path MTU changes
 * (tcp_mtudisc).
 */

import type { TcpCb, TcpErrno, TcpSockHooks } from './tcp_cb.js';
import { tcpOutput } from './tcp_output.js';
import { tcpTimerActivate } from './tcp_timer.js';
import { TCPOLEN_TSTAMP_APPA, TCPS, TT_2MSL, TT_N, tcpMsl } from './tcp_var.js';

/** The socket hooks of a connection nobody listens to any more. */
export const NO_HOOKS: TcpSockHooks = { connected() {}, readable() {}, writable() {}, error() {}, closed() {} };

/** Drop the connection: CLOSED, timers off, the socket told. `e` null for an orderly end (tcp_drop, tcp_close). */
export function tcpDrop(cb: TcpCb, e: TcpErrno | null): void {
  if (cb.state === TCPS.CLOSED) return;
  if (e === 'ETIMEDOUT' && cb.softErr !== null) e = cb.softErr; // tcp_drop reports the soft error
  const st = cb.host.stat;
  if (cb.state < TCPS.ESTABLISHED) {
    if (e !== null || !cb.passive) st.conndrops++;
  } else if (e !== null) st.drops++;
  st.closed++;
  cb.setState(TCPS.CLOSED);
  for (let s = 0; s < TT_N; s++) cb.deadline[s] = 0;
  cb.timer?.cancel();
  cb.timer = null;
  cb.timerAt = Infinity;
  cb.reass.clear();
  cb.snd.clear();
  cb.sacked.length = 0;
  cb.host.detach(cb);
  const so = cb.so;
  cb.so = NO_HOOKS;
  if (e !== null) so.error(e);
  so.closed();
}

/** TIME-WAIT: every timer off but the 2 MSL one; the socket is done (tcp_twstart). */
export function tcpTwStart(cb: TcpCb): void {
  cb.setState(TCPS.TIME_WAIT);
  for (let s = 0; s < TT_N; s++) cb.deadline[s] = 0;
  tcpTimerActivate(cb, TT_2MSL, 2 * cb.host.sysctl[tcpMsl.slot]!);
  const so = cb.so;
  cb.so = NO_HOOKS;
  so.closed();
}

/** PMTU discovery (RFC 1191): the path carries at most `mtu` bytes; resend what was too big. */
export function tcpMtuDisc(cb: TcpCb, mtu: number): void {
  const mss = mtu - (cb.faddr6 !== null ? 60 : 40); // IPv6: a 40-byte header (RFC 8201 and RFC 9293 3.7.1)
  if (mss >= cb.maxseg || mss < 64) return;
  cb.maxseg = mss;
  cb.mssOffer = Math.min(cb.mssOffer, mss);
  cb.smss = mss - (cb.tsOn ? TCPOLEN_TSTAMP_APPA : 0);
  cb.host.stat.mturesent++;
  if (cb.sndMax !== cb.sndUna) {
    cb.sndNxt = cb.sndUna;
    tcpOutput(cb);
  }
}

/**
 * A soft error from ICMP (host/net unreachable) or from our own output
 * (ARP gave up: EHOSTDOWN), as FreeBSD's tcp_notify: refused or repeated
 * while connecting is fatal; on an established connection unreachability
 * is transient and ignored; otherwise it is kept for a later timeout.
 */
export function tcpSoftError(cb: TcpCb, e: TcpErrno): void {
  if (e === 'ECONNREFUSED') {
    // Port unreachable matters only to a connect in progress (tcp_drop_syn_sent).
    if (cb.state === TCPS.SYN_SENT) tcpDrop(cb, e);
    return;
  }
  if (cb.state === TCPS.ESTABLISHED && (e === 'EHOSTUNREACH' || e === 'ENETUNREACH' || e === 'EHOSTDOWN')) return;
  if (cb.state < TCPS.ESTABLISHED && cb.rxtShift > 3 && cb.softErr !== null) {
    tcpDrop(cb, e);
    return;
  }
  cb.softErr = e;
}
