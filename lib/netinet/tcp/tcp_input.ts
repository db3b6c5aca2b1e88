/**
 * Segment processing for one connection (FreeBSD's tcp_input.c):
 * tcpInput is the entry (tcp_input's part after the PCB lookup),
 * tcpDoSegment the RFC 9293 3.10.7.4 ladder for synchronized states,
 * tcpInputSynSent the SYN-SENT case, and tcpNegotiate the options of the
 * peer's SYN (tcp_dooptions, tcp_mss). Acknowledgments go on to
 * tcp_congestion.ts and tcp_sack.ts, segment text to tcp_reass.ts.
 */

import { TH, type TcpRepr } from '../../wire/tcp.js';
import type { TcpCb } from './tcp_cb.js';
import { tcpDupAck, tcpNewAck, tcpXmitTimer } from './tcp_congestion.js';
import { tcpOutput, tcpSendRstFor } from './tcp_output.js';
import { tcpReass } from './tcp_reass.js';
import { tcpSackDoAck } from './tcp_sack.js';
import { seq, seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqSub, tsLt, type Seq } from './tcp_seq.js';
import { tcpDrop, tcpTwStart } from './tcp_subr.js';
import { tcpRestartKeep, tcpTimerActivate, tcpTimerStop } from './tcp_timer.js';
import {
  TCPOLEN_TSTAMP_APPA,
  TCPS,
  TCP_PAWS_IDLE,
  TT_2MSL,
  TT_KEEP,
  TT_REXMT,
  tcpAckWarCnt,
  tcpAckWarTimeWindow,
  tcpFinWait2Timeout,
  tcpInitCwndSegs,
  tcpMsl,
  tcpRfc1323,
  tcpSackEnable,
} from './tcp_var.js';

/**
 * A segment for this connection (checksum and header already checked).
 * The payload is buf[off, off+len). RFC 9293 3.10.7.
 */
export function tcpInput(cb: TcpCb, r: TcpRepr, buf: Uint8Array, off: number, len: number): void {
  const st = cb.host.stat;
  const now = cb.host.now();
  cb.lastRcv = now;
  if (cb.state === TCPS.SYN_SENT) {
    tcpInputSynSent(cb, r);
    return;
  }
  if (cb.state === TCPS.CLOSED || cb.state === TCPS.LISTEN) return;
  const flags = r.flags;
  if (cb.state === TCPS.SYN_RECEIVED && (flags & (TH.SYN | TH.ACK | TH.RST)) === TH.SYN && seq(r.seq) === cb.irs) {
    // The peer retransmitted its SYN: our SYN,ACK was lost. Send it again.
    cb.sndNxt = cb.iss;
    tcpOutput(cb);
    return;
  }
  if (cb.keepAlive || cb.state < TCPS.ESTABLISHED) tcpRestartKeep(cb);

  // RFC 7323 5.3: PAWS, before the sequence check.
  if (cb.tsOn && r.tsPresent && (flags & TH.RST) === 0 && cb.tsRecent !== 0 && tsLt(r.tsVal, cb.tsRecent)) {
    if (now - cb.tsRecentAge > TCP_PAWS_IDLE) {
      cb.tsRecent = 0; // too old to prove anything (RFC 7323 5.5)
    } else {
      st.pawsdrop++;
      st.rcvduppack++;
      st.rcvdupbyte += len;
      cb.ackNow = true;
      tcpOutput(cb);
      return;
    }
  }
  tcpDoSegment(cb, r, buf, off, len, now);
}

/** RFC 9293 3.10.7.4, first check: is the segment in the receive window? */
function seqAcceptable(cb: TcpCb, segSeq: Seq, segLen: number, rcvWnd: number): boolean {
  if (segLen === 0) return rcvWnd === 0 ? segSeq === cb.rcvNxt : seqGeq(segSeq, cb.rcvNxt) && seqLt(segSeq, seqAdd(cb.rcvNxt, rcvWnd));
  if (rcvWnd === 0) return false;
  const lastSeq = seqAdd(segSeq, segLen - 1);
  return (
    (seqGeq(segSeq, cb.rcvNxt) && seqLt(segSeq, seqAdd(cb.rcvNxt, rcvWnd))) ||
    (seqGeq(lastSeq, cb.rcvNxt) && seqLt(lastSeq, seqAdd(cb.rcvNxt, rcvWnd)))
  );
}

/**
 * The synchronized states: sequence check, RST, trimming to the window,
 * SYN, the ACK field, then segment text and FIN (tcp_do_segment).
 */
function tcpDoSegment(cb: TcpCb, r: TcpRepr, buf: Uint8Array, off: number, len: number, now: number): void {
  const st = cb.host.stat;
  let flags = r.flags;
  let segSeq = seq(r.seq);
  const rcvWnd = Math.max(0, seqSub(cb.rcvAdv, cb.rcvNxt));
  const segLen = len + ((flags & TH.SYN) !== 0 ? 1 : 0) + ((flags & TH.FIN) !== 0 ? 1 : 0);
  const acceptable = seqAcceptable(cb, segSeq, segLen, rcvWnd);
  // RFC 9293: with a zero window, valid ACKs and RSTs must still be processed;
  // a segment at RCV.NXT (a window probe) passes with its data cut off below.
  const probe = !acceptable && rcvWnd === 0 && segSeq === cb.rcvNxt && len > 0;
  if (!acceptable && !probe) {
    tcpDropAfterAck(cb, r, segSeq, len, seqAdd(segSeq, segLen), now);
    return;
  }
  if ((flags & TH.RST) !== 0) {
    tcpInputRst(cb, segSeq);
    return;
  }

  // Trim what lies before RCV.NXT (duplicate data) and after the window.
  let dOff = off;
  let dLen = len;
  if (seqSub(cb.rcvNxt, segSeq) > 0) {
    if ((flags & TH.SYN) !== 0) {
      flags &= ~TH.SYN;
      segSeq = seqAdd(segSeq, 1);
    }
    const cut = Math.min(seqSub(cb.rcvNxt, segSeq), dLen);
    if (cut > 0) {
      st.rcvpartduppack++;
      st.rcvpartdupbyte += cut;
      tcpNoteDsack(cb, segSeq, seqAdd(segSeq, cut));
      dOff += cut;
      dLen -= cut;
      segSeq = seqAdd(segSeq, cut);
      cb.ackNow = true;
    }
  }
  const room = Math.max(0, seqSub(seqAdd(cb.rcvNxt, rcvWnd), segSeq));
  if (dLen > room) {
    if (probe) st.rcvwinprobe++;
    else {
      st.rcvpackafterwin++;
      st.rcvbyteafterwin += dLen - room;
    }
    dLen = room;
    flags &= ~TH.FIN; // the FIN lies beyond what we take
    cb.ackNow = true;
  }

  // RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset.
  if ((flags & TH.SYN) !== 0) {
    st.badsyn++;
    tcpChallengeAck(cb);
    return;
  }
  if ((flags & TH.ACK) === 0) {
    // RFC 9293: "if the ACK bit is off, drop the segment and return".
    if (cb.ackNow) tcpOutput(cb);
    return;
  }
  // RFC 7323 4.3: remember the timestamp of a segment that covers Last.ACK.sent.
  if (cb.tsOn && r.tsPresent && seqLeq(segSeq, cb.lastAckSent) && seqLeq(cb.lastAckSent, seqAdd(segSeq, dLen + ((flags & TH.FIN) !== 0 ? 1 : 0)))) {
    cb.tsRecent = r.tsVal;
    cb.tsRecentAge = now;
  }
  if (!tcpDoAck(cb, r, flags, segSeq, dLen, now)) return;
  tcpDoData(cb, flags, segSeq, buf, dOff, dLen);
}

/** An unacceptable segment: acknowledged (unless a RST) and dropped (tcp_dropafterack). */
function tcpDropAfterAck(cb: TcpCb, r: TcpRepr, segSeq: Seq, len: number, endSeq: Seq, now: number): void {
  const st = cb.host.stat;
  if ((r.flags & TH.RST) !== 0) return; // RFC 5961 3.2: out-of-window RST is dropped silently
  if (seqLt(segSeq, cb.rcvNxt) && seqLeq(endSeq, cb.rcvNxt)) {
    st.rcvduppack++;
    st.rcvdupbyte += len;
    if (len > 0) tcpNoteDsack(cb, segSeq, seqAdd(segSeq, len));
    // A segment ending at RCV.NXT (a keepalive probe) covers Last.ACK.sent, so its
    // timestamp is the one to echo (RFC 7323 4.3), as FreeBSD and Linux echo it.
    if (cb.tsOn && r.tsPresent && endSeq === cb.rcvNxt && seqLeq(segSeq, cb.lastAckSent) && seqLeq(cb.lastAckSent, endSeq)) {
      cb.tsRecent = r.tsVal;
      cb.tsRecentAge = now;
    }
  } else {
    st.rcvpackafterwin++;
    st.rcvbyteafterwin += len;
  }
  if (cb.state === TCPS.TIME_WAIT && (r.flags & TH.FIN) !== 0) tcpTimerActivate(cb, TT_2MSL, 2 * cb.host.sysctl[tcpMsl.slot]!);
  cb.ackNow = true;
  tcpOutput(cb);
}

/** RFC 5961 3.2: RST exactly at RCV.NXT resets; elsewhere in the window earns a challenge ACK. */
function tcpInputRst(cb: TcpCb, segSeq: Seq): void {
  if (segSeq !== cb.rcvNxt) {
    cb.host.stat.badrst++;
    tcpChallengeAck(cb);
    return;
  }
  switch (cb.state) {
    case TCPS.SYN_RECEIVED:
      // A passive open goes back to LISTEN (it simply vanishes); an active one is refused.
      tcpDrop(cb, cb.passive ? null : 'ECONNREFUSED');
      return;
    case TCPS.ESTABLISHED:
    case TCPS.FIN_WAIT_1:
    case TCPS.FIN_WAIT_2:
    case TCPS.CLOSE_WAIT:
      tcpDrop(cb, 'ECONNRESET');
      return;
    default:
      tcpDrop(cb, null);
      return;
  }
}

/** The ACK field (RFC 9293 3.10.7.4, fifth check). False when processing ends here. */
function tcpDoAck(cb: TcpCb, r: TcpRepr, flags: number, segSeq: Seq, dLen: number, now: number): boolean {
  const st = cb.host.stat;
  const ack = seq(r.ack);
  if (cb.state === TCPS.SYN_RECEIVED && !tcpSynRcvdAck(cb, r, segSeq, ack)) return false;
  // RFC 5961 5.2: an ACK below SND.UNA - MAX.SND.WND or beyond SND.MAX.
  if (seqGt(ack, cb.sndMax)) {
    st.rcvacktoomuch++;
    tcpChallengeAck(cb);
    return false;
  }
  if (seqLt(ack, seqAdd(cb.sndUna, -Math.max(cb.maxSndWnd, 1)))) {
    tcpChallengeAck(cb);
    return false;
  }
  const newSack = r.sackCount > 0 && cb.sackOn && tcpSackDoAck(cb, r, ack);
  const wnd = r.window << cb.sndScale;
  if (seqLeq(ack, cb.sndUna)) {
    // Duplicate ACK detection (RFC 5681 section 2, the five conditions);
    // with SACK, an ACK at SND.UNA that brings previously unknown SACK
    // information is a duplicate too, data or a window change
    // notwithstanding (RFC 6675 section 2), as from a peer that is sending
    // data of its own.
    const pending = ack === cb.sndUna && cb.sndMax !== cb.sndUna && (flags & TH.FIN) === 0;
    if (pending && ((dLen === 0 && wnd === cb.sndWnd) || newSack)) {
      st.rcvdupack++;
      // The answer to a window probe is no sign of loss: without the retransmit
      // timer (persist state) duplicates are not counted (FreeBSD's tcp_do_segment).
      if (cb.deadline[TT_REXMT] === 0) cb.dupAcks = 0;
      else tcpDupAck(cb, ack);
    } else if (ack === cb.sndUna && dLen === 0 && cb.sndMax === cb.sndUna) {
      cb.dupAcks = 0;
    }
  } else {
    tcpNewAck(cb, ack, r, now);
  }
  tcpUpdateWindow(cb, segSeq, ack, wnd, dLen);
  return tcpAckedFin(cb, flags, ack);
}

/** The ACK that completes a passive (or simultaneous) open. False when the segment is refused. */
function tcpSynRcvdAck(cb: TcpCb, r: TcpRepr, segSeq: Seq, ack: Seq): boolean {
  if (!(seqGt(ack, cb.sndUna) && seqLeq(ack, cb.sndMax))) {
    // RFC 9293 3.10.7.4: an unacceptable ACK in SYN-RECEIVED is answered with <SEQ=SEG.ACK><CTL=RST>.
    tcpSendRstFor(cb, ack);
    return false;
  }
  cb.host.stat.connects++;
  if (cb.passive) cb.host.stat.accepts++;
  cb.setState(cb.finQueued ? TCPS.FIN_WAIT_1 : TCPS.ESTABLISHED);
  tcpTimerStop(cb, TT_KEEP);
  if (cb.keepAlive) tcpRestartKeep(cb);
  cb.sndWnd = r.window << cb.sndScale;
  cb.maxSndWnd = Math.max(cb.maxSndWnd, cb.sndWnd);
  cb.sndWl1 = segSeq;
  cb.sndWl2 = ack;
  if (cb.passive) cb.host.established(cb);
  else cb.so.connected();
  return true;
}

/** Window update (RFC 9293 3.10.7.4, fifth check: the SND.WL1/WL2 rule). */
function tcpUpdateWindow(cb: TcpCb, segSeq: Seq, ack: Seq, wnd: number, dLen: number): void {
  if (!(seqLt(cb.sndWl1, segSeq) || (cb.sndWl1 === segSeq && seqLeq(cb.sndWl2, ack)))) return;
  if (dLen === 0 && cb.sndWl2 === ack && wnd > cb.sndWnd) cb.host.stat.rcvwinupd++;
  cb.sndWnd = wnd;
  cb.sndWl1 = segSeq;
  cb.sndWl2 = ack;
  if (wnd > cb.maxSndWnd) cb.maxSndWnd = wnd;
  // A persist timer still running stops when data flows again (tcp_output), as in FreeBSD.
}

/** Our FIN acknowledged: the closing states move on. False when processing ends here. */
function tcpAckedFin(cb: TcpCb, flags: number, ack: Seq): boolean {
  const finAcked = cb.sentFin && ack === cb.sndMax;
  switch (cb.state) {
    case TCPS.FIN_WAIT_1:
      if (finAcked) {
        cb.setState(TCPS.FIN_WAIT_2);
        // A socket nobody reads any more does not wait forever for the peer's FIN.
        if (cb.detached) tcpTimerActivate(cb, TT_2MSL, cb.host.sysctl[tcpFinWait2Timeout.slot]!);
      }
      return true;
    case TCPS.CLOSING:
      if (finAcked) tcpTwStart(cb);
      return true;
    case TCPS.LAST_ACK:
      if (finAcked) {
        tcpDrop(cb, null);
        return false;
      }
      return true;
    case TCPS.TIME_WAIT:
      // A retransmitted FIN: acknowledge and restart the 2 MSL wait.
      if ((flags & TH.FIN) !== 0) {
        cb.ackNow = true;
        tcpTimerActivate(cb, TT_2MSL, 2 * cb.host.sysctl[tcpMsl.slot]!);
        tcpOutput(cb);
      }
      return false;
    default:
      return true;
  }
}

/** Segment text and FIN (RFC 9293 3.10.7.4, seventh and eighth checks), then what to send. */
function tcpDoData(cb: TcpCb, flags: number, segSeq: Seq, buf: Uint8Array, dOff: number, dLen: number): void {
  const st = cb.host.stat;
  if (dLen > 0 && (cb.state === TCPS.ESTABLISHED || cb.state === TCPS.FIN_WAIT_1 || cb.state === TCPS.FIN_WAIT_2)) {
    tcpReass(cb, segSeq, buf, dOff, dLen);
  } else if (dLen > 0) {
    st.rcvafterclose++;
  }
  if (dLen > 0 && cb.detached && cb.state >= TCPS.FIN_WAIT_1) {
    // Nobody will read it: the socket is closed. Reset, as FreeBSD and Linux do.
    st.rcvafterclose++;
    cb.abort();
    return;
  }
  // FIN (eighth check): only once everything before it has arrived.
  if ((flags & TH.FIN) !== 0 && seqAdd(segSeq, dLen) === cb.rcvNxt && !cb.rcvdFin) {
    cb.rcvdFin = true;
    cb.rcvNxt = seqAdd(cb.rcvNxt, 1);
    cb.ackNow = true;
    switch (cb.state) {
      case TCPS.SYN_RECEIVED:
      case TCPS.ESTABLISHED:
        cb.setState(TCPS.CLOSE_WAIT);
        break;
      case TCPS.FIN_WAIT_1:
        // Simultaneous close (RFC 9293 figure 13).
        cb.setState(TCPS.CLOSING);
        break;
      case TCPS.FIN_WAIT_2:
        tcpTwStart(cb);
        break;
    }
    cb.so.readable();
  } else if ((flags & TH.FIN) !== 0 && !cb.rcvdFin && seqGt(segSeq, cb.rcvNxt)) {
    // FIN ahead of a hole: ask for the missing data.
    cb.ackNow = true;
  }
  tcpOutput(cb);
}

/** SYN-SENT (RFC 9293 3.10.7.3). */
function tcpInputSynSent(cb: TcpCb, r: TcpRepr): void {
  const flags = r.flags;
  const ack = seq(r.ack);
  // First: the ACK must cover our SYN and nothing more.
  const ackOk = (flags & TH.ACK) !== 0 && seqGt(ack, cb.iss) && seqLeq(ack, cb.sndMax);
  if ((flags & TH.ACK) !== 0 && !ackOk) {
    if ((flags & TH.RST) === 0) tcpSendRstFor(cb, ack);
    return;
  }
  if ((flags & TH.RST) !== 0) {
    // RFC 5961 3.2 in SYN-SENT: only a RST acknowledging our SYN counts.
    if (ackOk) tcpDrop(cb, 'ECONNREFUSED');
    return;
  }
  if ((flags & TH.SYN) === 0) return;
  cb.irs = seq(r.seq);
  cb.rcvNxt = seqAdd(cb.irs, 1);
  cb.rcvAdv = cb.rcvNxt;
  tcpNegotiate(cb, r);
  if (ackOk) {
    cb.sndUna = ack;
    tcpTimerStop(cb, TT_REXMT);
    cb.rxtShift = 0;
    tcpXmitTimer(cb, r, ack, cb.host.now());
    cb.sndWnd = r.window; // unscaled in a SYN
    cb.maxSndWnd = cb.sndWnd;
    cb.sndWl1 = cb.irs;
    cb.sndWl2 = ack;
    cb.host.stat.connects++;
    cb.setState(cb.finQueued ? TCPS.FIN_WAIT_1 : TCPS.ESTABLISHED);
    tcpTimerStop(cb, TT_KEEP);
    if (cb.keepAlive) tcpRestartKeep(cb);
    cb.ackNow = true;
    cb.so.connected();
    tcpOutput(cb);
    return;
  }
  // Simultaneous open (RFC 9293 figure 8): SYN-RECEIVED, send SYN,ACK.
  cb.sndWnd = r.window;
  cb.maxSndWnd = cb.sndWnd;
  cb.sndWl1 = cb.irs;
  cb.setState(TCPS.SYN_RECEIVED);
  cb.sndNxt = cb.iss;
  tcpOutput(cb);
}

/** Options from the peer's SYN (RFC 7323 2.2, 3.2; RFC 2018 2; RFC 9293 3.7.1). */
export function tcpNegotiate(cb: TcpCb, r: TcpRepr): void {
  const v = cb.host.sysctl;
  // Scaling only when both SYNs carry the option (RFC 7323 2.2).
  cb.wsOk = v[tcpRfc1323.slot] === 1 && r.wscale >= 0;
  cb.sndScale = cb.wsOk ? r.wscale : 0;
  cb.rcvScale = cb.wsOk ? cb.requestScale : 0;
  if (v[tcpRfc1323.slot] === 1 && r.tsPresent) {
    cb.tsOn = true;
    cb.tsRecent = r.tsVal;
    cb.tsRecentAge = cb.host.now();
  }
  cb.sackOn = v[tcpSackEnable.slot] === 1 && r.sackPermitted;
  // No MSS option: 536 (RFC 9293 3.7.1); clamp to what our route carries.
  const peer = r.mss !== 0 ? r.mss : 536;
  cb.maxseg = Math.max(64, Math.min(peer, cb.mssOffer));
  cb.smss = cb.maxseg - (cb.tsOn ? TCPOLEN_TSTAMP_APPA : 0);
  // RFC 5681 3.1 / RFC 6928: initial window.
  cb.cwnd = Math.min(v[tcpInitCwndSegs.slot]! * cb.smss, Math.max(2 * cb.smss, 14600));
  if (v[tcpInitCwndSegs.slot]! * cb.smss < cb.cwnd) cb.cwnd = v[tcpInitCwndSegs.slot]! * cb.smss;
}

/** RFC 5961 section 7: a challenge ACK, limited by net.inet.tcp.ack_war_*. */
function tcpChallengeAck(cb: TcpCb): void {
  const v = cb.host.sysctl;
  const now = cb.host.now();
  if (now - cb.challengeWindow >= v[tcpAckWarTimeWindow.slot]!) {
    cb.challengeWindow = now;
    cb.challengeCount = 0;
  }
  const cnt = v[tcpAckWarCnt.slot]!;
  if (cnt > 0 && cb.challengeCount >= cnt) return;
  cb.challengeCount++;
  cb.host.stat.challengeack++;
  cb.ackNow = true;
  tcpOutput(cb);
}

/** A duplicate segment arrived: tell the peer in the next ACK (RFC 2883), as FreeBSD and Linux do. */
function tcpNoteDsack(cb: TcpCb, start: Seq, end: Seq): void {
  if (!cb.sackOn) return;
  cb.dsackStart = start;
  cb.dsackEnd = end;
  cb.ackNow = true;
}
