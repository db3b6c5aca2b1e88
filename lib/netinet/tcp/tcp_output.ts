/**
 * What a connection sends (FreeBSD's tcp_output.c): the decision what the
 * state, the windows, Nagle and SWS avoidance allow, building the header
 * with its options, advancing the send sequence, starting the retransmit
 * or persist timer, and the resets a connection sends.
 */

import { TH, setTcpRepr, type TcpRepr } from '../../wire/tcp.js';
import type { TcpCb } from './tcp_cb.js';
import { seqAdd, seqGt, seqLt, seqSub, type Seq } from './tcp_seq.js';
import { tcpTimerActivate, tcpTimerStop } from './tcp_timer.js';
import {
  TCPS,
  TCP_BACKOFF,
  TCP_MAXRXTSHIFT,
  TCP_MAXWIN,
  TT_DELACK,
  TT_PERSIST,
  TT_REXMT,
  tcpPersMax,
  tcpPersMin,
  tcpRexmitSlop,
  tcpRfc1323,
  tcpSackEnable,
} from './tcp_var.js';

/**
 * Send what the state, the windows and Nagle allow (FreeBSD's tcp_output):
 * data segments, a SYN or FIN, a pending ACK or a window update.
 */
export function tcpOutput(cb: TcpCb): void {
  for (let guard = 0; guard < 1024; guard++) {
    if (cb.state === TCPS.CLOSED || cb.state === TCPS.LISTEN) return;
    if (cb.state === TCPS.SYN_SENT || cb.state === TCPS.SYN_RECEIVED) {
      if (cb.sndNxt === cb.iss) {
        tcpEmit(cb, 0, true);
        continue;
      }
      if (cb.ackNow) tcpEmit(cb, 0, false);
      return;
    }
    let off = seqSub(cb.sndNxt, cb.sndUna);
    let win = Math.min(cb.sndWnd, cb.cwnd);
    // A persist probe forces one byte into a zero window; into a small one it
    // sends what fits, and then the persist timer has done its job.
    const probe = cb.force && win === 0;
    if (probe) win = 1;
    else if (cb.force && cb.deadline[TT_PERSIST] !== 0) {
      tcpTimerStop(cb, TT_PERSIST);
      cb.rxtShift = 0;
    }
    let len = Math.min(cb.snd.length, win) - off;
    if (len < 0) {
      len = 0;
      if (win === 0) {
        // The window closed under data already sent: stop retransmitting, pull
        // SND.NXT back to the closed window's edge and persist (FreeBSD's tcp_output).
        tcpTimerStop(cb, TT_REXMT);
        cb.rxtShift = 0;
        cb.sndNxt = cb.sndUna;
        off = 0;
        if (cb.deadline[TT_PERSIST] === 0) tcpSetPersist(cb);
      }
    }
    const max = cb.tsoMax > 0 ? Math.max(cb.smss, Math.floor(cb.tsoMax / cb.smss) * cb.smss) : cb.smss;
    let full = false;
    if (len > max) {
      len = max;
      full = true;
    } else if (len >= cb.smss) full = true;
    // No FIN rides on a probe byte when more data follows it.
    const sendFin = cb.finQueued && off + len === cb.snd.length && (!cb.sentFin || seqLt(cb.sndNxt, cb.sndMax)) && !(probe && off < cb.snd.length);
    let go = false;
    if (len > 0) {
      const idle = cb.sndMax === cb.sndUna;
      if (full) go = true;
      else if ((idle || cb.noDelay) && off + len === cb.snd.length) go = true; // Nagle (RFC 896)
      else if (cb.force) go = true;
      else if (len >= cb.maxSndWnd / 2 && cb.maxSndWnd > 0) go = true;
      else if (seqLt(cb.sndNxt, cb.sndMax)) go = true;
    }
    if (!go && sendFin && (len > 0 || off === cb.snd.length)) go = true;
    if (!go && cb.ackNow) go = true;
    if (!go && windowUpdateDue(cb)) {
      cb.host.stat.sndwinup++;
      go = true;
    }
    if (!go) {
      persistIfIdle(cb);
      return;
    }
    tcpEmit(cb, len, false, sendFin);
    if (probe) return; // one byte per persist timeout
    if (len === 0) {
      // A control segment or an ACK went instead of data that waits for the
      // window: make sure the window is still polled (FreeBSD's tcp_output after "timer:").
      persistIfIdle(cb);
      return;
    }
  }
}

/**
 * Data waiting on a closed or too small window and neither timer running:
 * the persist timer polls for the window update (RFC 9293 3.8.6.1, RFC 1122
 * 4.2.2.17; FreeBSD's tcp_output). Retransmit and persist are exclusive.
 */
function persistIfIdle(cb: TcpCb): void {
  if (cb.snd.length > 0 && cb.deadline[TT_REXMT] === 0 && cb.deadline[TT_PERSIST] === 0) {
    cb.rxtShift = 0;
    tcpSetPersist(cb);
  }
}

function windowUpdateDue(cb: TcpCb): boolean {
  if (cb.state < TCPS.ESTABLISHED || cb.rcvdFin) return false;
  const win = Math.min(Math.max(0, cb.rcvBufSize - cb.rcv.length), TCP_MAXWIN << cb.rcvScale);
  const adv = win - seqSub(cb.rcvAdv, cb.rcvNxt);
  return adv >= 2 * cb.maxseg || 2 * adv >= cb.rcvBufSize;
}

/** Our receive window: free buffer space, never shrinking what was offered (RFC 9293 3.8.6.2.2). */
function rcvWindow(cb: TcpCb): number {
  let win = Math.max(0, cb.rcvBufSize - cb.rcv.length);
  // Receiver SWS avoidance: don't advertise tiny windows (RFC 9293 3.8.6.2.2).
  if (win < Math.min(cb.rcvBufSize / 4, cb.maxseg)) win = 0;
  win = Math.min(win, TCP_MAXWIN << cb.rcvScale);
  const offered = seqSub(cb.rcvAdv, cb.rcvNxt);
  if (win < offered) win = offered;
  return win;
}

/** Our timestamp clock (RFC 7323 5.4: ms, with a random offset per connection). */
export function tcpTsNow(cb: TcpCb, now: number): number {
  return (Math.floor(now) + cb.tsOffset) >>> 0;
}

/** The options of a segment (tcp_addoptions): those of a SYN, or timestamps and SACK blocks. */
function tcpAddOptions(cb: TcpCb, r: TcpRepr, syn: boolean): void {
  if (syn) {
    r.mss = cb.mssOffer;
    const v = cb.host.sysctl;
    if (cb.state === TCPS.SYN_SENT) {
      // Offer everything we do; the SYN,ACK tells what the peer agrees to.
      const rfc = v[tcpRfc1323.slot] === 1;
      r.wscale = rfc ? cb.requestScale : -1;
      r.tsPresent = rfc;
      r.sackPermitted = v[tcpSackEnable.slot] === 1;
    } else {
      // SYN,ACK: only the options the peer's SYN offered (RFC 7323 2.2, 3.2; RFC 2018 2).
      r.wscale = cb.wsOk ? cb.requestScale : -1;
      r.tsPresent = cb.tsOn;
      r.sackPermitted = cb.sackOn;
    }
    return;
  }
  if (cb.tsOn) r.tsPresent = true;
  if (cb.sackOn) {
    const st = cb.host.stat;
    const max = cb.tsOn ? 3 : 4;
    let n = 0;
    if (cb.dsackStart !== cb.dsackEnd) {
      // RFC 2883 4: the D-SACK block first, then the usual blocks.
      r.sack[0] = cb.dsackStart;
      r.sack[1] = cb.dsackEnd;
      cb.dsackEnd = cb.dsackStart;
      n = 1;
      st.snddsackopt++;
    }
    if (cb.reass.length > 0) n += cb.reass.sackBlocks(r.sack.subarray(2 * n), max - n);
    r.sackCount = n;
    if (n > 0) st.sacksndblocks++;
  }
}

/** Build and send one segment of `len` bytes at SND.NXT (a SYN when `syn`). */
export function tcpEmit(cb: TcpCb, len: number, syn: boolean, fin = false): void {
  const st = cb.host.stat;
  const now = cb.host.now();
  const r = cb.out;
  const off = seqSub(cb.sndNxt, cb.sndUna);
  const isSynSent = cb.state === TCPS.SYN_SENT && syn;
  // Window: unscaled in SYNs (RFC 7323 2.2).
  const win = rcvWindow(cb);
  const window = syn ? Math.min(win, TCP_MAXWIN) : Math.min(win >>> cb.rcvScale, TCP_MAXWIN);
  setTcpRepr(r, cb.lport, cb.fport, cb.sndNxt, isSynSent ? 0 : cb.rcvNxt, 0, window);
  let flags: number = TH.ACK;
  if (syn) flags = cb.state === TCPS.SYN_SENT ? TH.SYN : TH.SYN | TH.ACK;
  tcpAddOptions(cb, r, syn);
  if (r.tsPresent) {
    r.tsVal = tcpTsNow(cb, now);
    r.tsEcr = cb.tsRecent;
  }
  if (fin) flags |= TH.FIN;
  if (len > 0 && off + len === cb.snd.length) flags |= TH.PSH;
  r.flags = flags;
  const rexmit = seqLt(cb.sndNxt, cb.sndMax);
  // Counters.
  st.sndtotal++;
  if (len > 0) {
    if (cb.force && len === 1) st.sndprobe++;
    else if (rexmit) {
      st.sndrexmitpack++;
      st.sndrexmitbyte += len;
    } else {
      st.sndpack++;
      st.sndbyte += len;
    }
    if (cb.tsoMax > 0 && len > cb.smss) st.sndtso++;
  } else if ((flags & (TH.SYN | TH.FIN)) !== 0) st.sndctrl++;
  else st.sndacks++;
  cb.host.output(cb, r, syn ? 0 : off, len);
  // Advance the send sequence. A probe sent by the persist timer leaves SND.NXT
  // where it is (the byte lies beyond the window) and only extends SND.MAX.
  const consumed = len + (syn ? 1 : 0) + (fin ? 1 : 0);
  if (fin) cb.sentFin = true;
  if (cb.force && cb.deadline[TT_PERSIST] !== 0) {
    const end = seqAdd(cb.sndNxt, consumed);
    if (seqGt(end, cb.sndMax)) cb.sndMax = end;
  } else if (consumed > 0) {
    // Time one segment per RTT when there are no timestamps (RFC 6298 3, Karn).
    if (!cb.tsOn && cb.rtStart < 0 && !rexmit) {
      cb.rtStart = now;
      cb.rtSeq = cb.sndNxt;
      st.segstimed++;
    }
    cb.sndNxt = seqAdd(cb.sndNxt, consumed);
    if (seqGt(cb.sndNxt, cb.sndMax)) cb.sndMax = cb.sndNxt;
    if (cb.deadline[TT_REXMT] === 0 && cb.sndNxt !== cb.sndUna) {
      // Data in flight: the retransmit timer takes over from the persist timer.
      if (cb.deadline[TT_PERSIST] !== 0) {
        tcpTimerStop(cb, TT_PERSIST);
        cb.rxtShift = 0;
      }
      tcpTimerActivate(cb, TT_REXMT, cb.rto);
    }
  }
  // An ACK went out with this segment.
  const adv = seqAdd(cb.rcvNxt, syn ? Math.min(win, TCP_MAXWIN) : r.window << cb.rcvScale);
  if (seqGt(adv, cb.rcvAdv)) cb.rcvAdv = adv;
  cb.lastAckSent = cb.rcvNxt;
  cb.ackNow = false;
  tcpTimerStop(cb, TT_DELACK);
}

/** Send the data at sequence `s` (retransmission) without disturbing SND.NXT. */
export function tcpSendAt(cb: TcpCb, s: Seq, len: number): void {
  const saved = cb.sndNxt;
  cb.sndNxt = s;
  tcpEmit(cb, len, false);
  if (seqGt(saved, cb.sndNxt)) cb.sndNxt = saved;
  if (cb.deadline[TT_REXMT] === 0) tcpTimerActivate(cb, TT_REXMT, cb.rto);
}

/**
 * Start the persist timer and back it off (tcp_setpersist). FreeBSD's base
 * is ((t_srtt >> 2) + t_rttvar) >> 1 on its fixed-point values (t_srtt
 * scaled by 32, t_rttvar by 16), which is 4 SRTT + 8 RTTVAR; it is
 * multiplied by tcp_backoff[t_rxtshift], given the rexmit slop and held
 * within net.inet.tcp.persmin and persmax (5 s and 60 s).
 */
export function tcpSetPersist(cb: TcpCb): void {
  const v = cb.host.sysctl;
  const t = 4 * cb.srtt + 8 * cb.rttvar;
  const tt = Math.min(Math.max(t * TCP_BACKOFF[cb.rxtShift]! + v[tcpRexmitSlop.slot]!, v[tcpPersMin.slot]!), v[tcpPersMax.slot]!);
  tcpTimerActivate(cb, TT_PERSIST, tt);
  if (cb.rxtShift < TCP_MAXRXTSHIFT) cb.rxtShift++;
}

/** RST with sequence `s` (our reply to an unacceptable ACK, or an abort). */
export function tcpRespondRst(cb: TcpCb, s: Seq): void {
  const r = setTcpRepr(cb.out, cb.lport, cb.fport, s, cb.rcvNxt, TH.RST | TH.ACK, 0);
  cb.host.stat.sndtotal++;
  cb.host.stat.sndrst++;
  cb.host.output(cb, r, 0, 0);
}

/** RST for an unacceptable ACK in SYN-SENT or SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>. */
export function tcpSendRstFor(cb: TcpCb, ack: Seq): void {
  const r = setTcpRepr(cb.out, cb.lport, cb.fport, ack, 0, TH.RST, 0);
  cb.host.stat.sndtotal++;
  cb.host.stat.sndrst++;
  cb.host.output(cb, r, 0, 0);
}
