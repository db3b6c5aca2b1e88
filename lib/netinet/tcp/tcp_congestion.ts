/**
 * RTT estimation and congestion control on ACKs (FreeBSD's tcp_xmit_timer
 * and the cc_* hooks in tcp_input.c): new data acknowledged, duplicate
 * ACKs, fast retransmit and NewReno/SACK recovery (RFC 5681, 6582, 6675)
 * and the RFC 6298 RTO. The window arithmetic of each algorithm is in
 * tcp_cc.ts.
 */

import type { TcpRepr } from '../../wire/tcp.js';
import type { TcpCb } from './tcp_cb.js';
import { tcpTsNow } from './tcp_output.js';
import { tcpRetransmitHole, tcpSackPrune, tcpSackedBytes } from './tcp_sack.js';
import { seqGeq, seqGt, seqLt, seqSub, type Seq } from './tcp_seq.js';
import { tcpTimerActivate, tcpTimerStop } from './tcp_timer.js';
import { TCP_REXMTMAX, TT_PERSIST, TT_REXMT, tcpRexmitMin, tcpRexmitSlop } from './tcp_var.js';

/** New data acknowledged: free it, time it, grow the window or go on with recovery. */
export function tcpNewAck(cb: TcpCb, ack: Seq, r: TcpRepr, now: number): void {
  const st = cb.host.stat;
  let acked = seqSub(ack, cb.sndUna);
  st.rcvackpack++;
  st.rcvackbyte += acked;
  tcpXmitTimer(cb, r, ack, now);
  // Sequence space beyond the data: our SYN (before) and FIN (after).
  if (cb.sndUna === cb.iss) acked--;
  const dataAcked = Math.min(acked, cb.snd.length);
  cb.snd.drop(dataAcked);
  const prevUna = cb.sndUna;
  cb.sndUna = ack;
  if (seqLt(cb.sndNxt, cb.sndUna)) cb.sndNxt = cb.sndUna;
  tcpSackPrune(cb);
  if (cb.inRecovery) {
    if (seqGeq(ack, cb.recover)) {
      // Full acknowledgment: leave recovery (RFC 6582 3.2 step 3).
      cb.inRecovery = false;
      cb.dupAcks = 0;
      cb.cc.postRecovery(cb, now);
    } else {
      // Partial acknowledgment: retransmit the next hole at once (RFC 6582 3.2 step 4; with SACK, RFC 6675 NextSeg).
      if (!tcpRetransmitHole(cb, !cb.sackOn) && cb.sackOn) tcpRetransmitHole(cb, true);
      cb.cwnd = Math.max(cb.cwnd - seqSub(ack, prevUna) + cb.smss, cb.smss);
    }
  } else {
    cb.dupAcks = 0;
    cb.cc.ack(cb, seqSub(ack, prevUna), now);
  }
  // RFC 6298 5.2/5.3: restart the timer while data is outstanding, stop it when all is acked.
  cb.rxtShift = 0;
  // In persist state the persist timer stays in charge (FreeBSD's tcp_do_segment).
  if (cb.sndUna === cb.sndMax) tcpTimerStop(cb, TT_REXMT);
  else if (cb.deadline[TT_PERSIST] === 0) tcpTimerActivate(cb, TT_REXMT, cb.rto);
  if (cb.sndSpace > 0) cb.so.writable();
}

/** A duplicate ACK: count it, enter fast retransmit at three (RFC 5681 3.2, RFC 6675 5). */
export function tcpDupAck(cb: TcpCb, ack: Seq): void {
  cb.dupAcks++;
  if (cb.inRecovery) {
    // Each further duplicate means a segment left the network (RFC 5681 3.2 step 4).
    cb.cwnd += cb.smss;
    if (cb.sackOn) tcpRetransmitHole(cb);
    return;
  }
  if (cb.dupAcks === 3 || (cb.sackOn && tcpSackedBytes(cb) > 3 * cb.smss && cb.dupAcks >= 1)) {
    // RFC 6582 3.2 step 2: only when the ACK covers more than `recover` (no false fast retransmit).
    if (!seqGt(ack, cb.recover) && cb.recover !== cb.iss && seqLt(cb.sndUna, cb.recover)) return;
    const st = cb.host.stat;
    st.fastrexmit++;
    st.recoveryepisode++;
    cb.cc.loss(cb, cb.host.now());
    cb.recover = cb.sndMax;
    cb.inRecovery = true;
    cb.highRxt = cb.sndUna;
    cb.rtStart = -1; // Karn: no RTT sample from retransmitted data
    tcpRetransmitHole(cb, true);
    cb.cwnd = cb.ssthresh + 3 * cb.smss;
  }
}

/** RFC 6298 section 2 with timestamps (RFC 7323 4.1) or one timed segment (Karn): tcp_xmit_timer. */
export function tcpXmitTimer(cb: TcpCb, r: TcpRepr, ack: Seq, now: number): void {
  let rtt = -1;
  if (cb.tsOn && r.tsPresent && r.tsEcr !== 0) {
    rtt = (tcpTsNow(cb, now) - r.tsEcr) >>> 0;
    if (rtt > TCP_REXMTMAX * 2) rtt = -1;
  } else if (cb.rtStart >= 0 && seqGt(ack, cb.rtSeq)) {
    rtt = now - cb.rtStart;
  }
  if (cb.rtStart >= 0 && seqGt(ack, cb.rtSeq)) cb.rtStart = -1;
  if (rtt < 0) return;
  cb.softErr = null;
  cb.host.stat.rttupdated++;
  if (cb.srtt === 0) {
    cb.srtt = Math.max(rtt, 0.001);
    cb.rttvar = rtt / 2;
  } else {
    cb.rttvar = 0.75 * cb.rttvar + 0.25 * Math.abs(cb.srtt - rtt);
    cb.srtt = 0.875 * cb.srtt + 0.125 * rtt;
  }
  cb.rto = tcpRangeRto(cb, cb.srtt + 4 * cb.rttvar);
}

/** FreeBSD's TCPT_RANGESET: value plus rexmit_slop, within [rexmit_min, 64 s]. */
export function tcpRangeRto(cb: TcpCb, v: number): number {
  const sys = cb.host.sysctl;
  return Math.min(Math.max(v + sys[tcpRexmitSlop.slot]!, sys[tcpRexmitMin.slot]!), TCP_REXMTMAX);
}
