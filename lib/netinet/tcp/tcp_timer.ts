/**
 * The five timers of a connection (FreeBSD's tcp_timer.c): retransmit,
 * persist, delayed ACK, keepalive and 2 MSL. Each has a deadline slot in
 * the control block; one host timer is armed for the earliest, and when
 * it fires every slot that is due runs.
 */

import type { TcpCb } from './tcp_cb.js';
import { tcpRangeRto } from './tcp_congestion.js';
import { tcpEmit, tcpOutput, tcpSetPersist } from './tcp_output.js';
import { seqAdd } from './tcp_seq.js';
import { tcpDrop } from './tcp_subr.js';
import {
  TCPS,
  TCP_BACKOFF,
  TCP_MAXPERSISTIDLE,
  TCP_MAXRXTSHIFT,
  TCP_PERSMAX,
  TCP_REXMTMAX,
  TCP_SYN_RETRIES,
  TCP_TOTBACKOFF,
  TT_2MSL,
  TT_DELACK,
  TT_KEEP,
  TT_N,
  TT_PERSIST,
  TT_REXMT,
  tcpKeepCnt,
  tcpKeepIdle,
  tcpKeepIntvl,
  tcpRexmitInitial,
  tcpRexmitMin,
} from './tcp_var.js';

/** Start (or restart) timer `slot` to fire `ms` from now (tcp_timer_activate). */
export function tcpTimerActivate(cb: TcpCb, slot: number, ms: number): void {
  const at = cb.host.now() + ms;
  cb.deadline[slot] = at;
  if (at < cb.timerAt) arm(cb, at);
}

/** Stop timer `slot`. The host timer stays; when it fires it finds nothing due and re-arms. */
export function tcpTimerStop(cb: TcpCb, slot: number): void {
  cb.deadline[slot] = 0;
}

/** Whether timer `slot` is running (tcp_timer_active). */
export function tcpTimerActive(cb: TcpCb, slot: number): boolean {
  return cb.deadline[slot] !== 0;
}

function arm(cb: TcpCb, at: number): void {
  cb.timer?.cancel();
  cb.timerAt = at;
  cb.timer = cb.host.after(Math.max(0, at - cb.host.now()), cb.fire);
}

/** The host timer fired: run every slot that is due, then arm for the next (tcp_timer_enter). */
export function tcpTimersFire(cb: TcpCb): void {
  cb.timer = null;
  cb.timerAt = Infinity;
  const now = cb.host.now();
  for (let slot = 0; slot < TT_N; slot++) {
    const d = cb.deadline[slot]!;
    if (d !== 0 && d <= now + 1e-9) {
      cb.deadline[slot] = 0;
      runTimer(cb, slot);
      if (cb.state === TCPS.CLOSED) return;
    }
  }
  let next = Infinity;
  for (let slot = 0; slot < TT_N; slot++) {
    const d = cb.deadline[slot]!;
    if (d !== 0 && d < next) next = d;
  }
  if (next !== Infinity && next < cb.timerAt) arm(cb, next);
}

function runTimer(cb: TcpCb, slot: number): void {
  switch (slot) {
    case TT_DELACK:
      cb.host.stat.delack++;
      cb.ackNow = true;
      tcpOutput(cb);
      return;
    case TT_REXMT:
      tcpTimerRexmt(cb);
      return;
    case TT_PERSIST:
      tcpTimerPersist(cb);
      return;
    case TT_KEEP:
      tcpTimerKeep(cb);
      return;
    case TT_2MSL:
      // TIME-WAIT over, or FIN-WAIT-2 gave up on the peer.
      tcpDrop(cb, null);
      return;
  }
}

/** Retransmission timeout: back off, go back to SND.UNA, slow start (RFC 6298 5.4-5.7, RFC 5681 3.1). */
function tcpTimerRexmt(cb: TcpCb): void {
  const st = cb.host.stat;
  st.rexmttimeo++;
  cb.rxtShift++;
  const limit = cb.state === TCPS.SYN_SENT || cb.state === TCPS.SYN_RECEIVED ? TCP_SYN_RETRIES : TCP_MAXRXTSHIFT;
  if (cb.rxtShift > limit) {
    st.timeoutdrop++;
    tcpDrop(cb, 'ETIMEDOUT');
    return;
  }
  // RFC 6298 5.5: back off; 5.7: a lost SYN restarts at 3 s when RTT is unknown (we keep FreeBSD's 1 s base).
  const base = cb.srtt === 0 ? cb.host.sysctl[tcpRexmitInitial.slot]! : tcpRangeRto(cb, cb.srtt + 4 * cb.rttvar);
  cb.rto = Math.min(base * TCP_BACKOFF[Math.min(cb.rxtShift, TCP_BACKOFF.length - 1)]!, TCP_REXMTMAX);
  if (cb.state >= TCPS.ESTABLISHED && cb.flight > 0) cb.cc.timeout(cb, cb.host.now());
  cb.inRecovery = false;
  cb.dupAcks = 0;
  cb.recover = cb.sndMax;
  cb.sacked.length = 0;
  cb.rtStart = -1;
  // Go back to SND.UNA (RFC 5681 3.1 after a timeout: one segment, slow start).
  // A FIN already sent goes again when the retransmission reaches it (SND.NXT < SND.MAX).
  cb.sndNxt = cb.sndUna;
  tcpTimerActivate(cb, TT_REXMT, cb.rto);
  tcpOutput(cb);
}

/**
 * Persist timeout (tcp_timer_persist): force a byte into the closed window
 * (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17) and keep doing so, backing off, for
 * as long as the peer answers. As FreeBSD: give up only when the peer has
 * been silent for TCP_MAXPERSISTIDLE or a full retransmit backoff after the
 * backoff is exhausted, or for TCPTV_PERSMAX once the application has closed.
 */
function tcpTimerPersist(cb: TcpCb): void {
  const st = cb.host.stat;
  st.persisttimeo++;
  const idle = cb.host.now() - cb.lastRcv;
  const rexmtval = Math.max(cb.srtt + 4 * cb.rttvar, cb.host.sysctl[tcpRexmitMin.slot]!);
  if (
    (cb.rxtShift >= TCP_MAXRXTSHIFT && (idle >= TCP_MAXPERSISTIDLE || idle >= rexmtval * TCP_TOTBACKOFF)) ||
    (cb.state > TCPS.CLOSE_WAIT && idle >= TCP_PERSMAX)
  ) {
    st.persistdrop++;
    tcpDrop(cb, 'ETIMEDOUT');
    return;
  }
  tcpSetPersist(cb);
  cb.force = true;
  tcpOutput(cb);
  cb.force = false;
}

/** Keepalive, or connection establishment timing out (net.inet.tcp.keepinit). */
function tcpTimerKeep(cb: TcpCb): void {
  const st = cb.host.stat;
  const v = cb.host.sysctl;
  if (cb.state < TCPS.ESTABLISHED) {
    st.keeptimeo++;
    tcpDrop(cb, 'ETIMEDOUT');
    return;
  }
  if (!cb.keepAlive || cb.state > TCPS.CLOSE_WAIT) return;
  st.keeptimeo++;
  const idle = cb.host.now() - cb.lastRcv;
  const maxIdle = v[tcpKeepIdle.slot]! + v[tcpKeepCnt.slot]! * v[tcpKeepIntvl.slot]!;
  if (idle >= maxIdle) {
    st.keepdrops++;
    tcpDrop(cb, 'ETIMEDOUT');
    return;
  }
  // Keepalive probe: SEG.SEQ = SND.NXT - 1 elicits an ACK (RFC 1122 4.2.3.6).
  st.keepprobe++;
  const saved = cb.sndNxt;
  cb.sndNxt = seqAdd(cb.sndUna, -1);
  const savedMax = cb.sndMax;
  tcpEmit(cb, 0, false);
  cb.sndNxt = saved;
  cb.sndMax = savedMax;
  tcpTimerActivate(cb, TT_KEEP, idle >= v[tcpKeepIdle.slot]! ? v[tcpKeepIntvl.slot]! : v[tcpKeepIdle.slot]! - idle);
}

/** Restart the keepalive timer after traffic (not before ESTABLISHED: keepinit runs until then). */
export function tcpRestartKeep(cb: TcpCb): void {
  if (cb.state < TCPS.ESTABLISHED) return;
  if (cb.keepAlive) tcpTimerActivate(cb, TT_KEEP, cb.host.sysctl[tcpKeepIdle.slot]!);
}
