/**
 * One TCP connection (FreeBSD's tcpcb): the RFC 9293 state machine, the
 * send and receive sequence spaces, retransmission (RFC 6298), congestion
 * control with fast retransmit and NewReno recovery (RFC 5681, 6582),
 * SACK (RFC 2018 blocks we report; RFC 6675-style hole filling when we
 * send), window scaling and timestamps with PAWS (RFC 7323), delayed ACK,
 * Nagle, zero-window probes, keepalive and TIME-WAIT.
 *
 * The logic is nearly pure: `input` takes a parsed segment and its payload,
 * the application calls `send`/`rcvd`/`shutdown`/`close`, timers call
 * `onTimer`; everything it emits goes through the `TcpHost` (segments,
 * timer wishes, connection events). The host is the image in production
 * and an in-memory link with a manual clock in tests.
 */

import type { Timer } from '../../clock.js';
import { TH, newTcpRepr, setTcpRepr, type TcpRepr } from '../../wire/tcp.js';
import { CC_ALGORITHMS, newCc, type CcVars, type CongestionControl } from './tcp_cc.js';
import { seq, seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqSub, tsLt, type Seq } from './tcp_seq.js';
import { ReassQueue, RecvBuffer, SendBuffer } from './tcp_sockbuf.js';
import {
  TCPS,
  TCP_BACKOFF,
  TCP_MAXRXTSHIFT,
  TCP_MAXWIN,
  TCP_MAX_WINSHIFT,
  TCP_PAWS_IDLE,
  TCP_PERSMAX,
  TCP_PERSMIN,
  TCP_REXMTMAX,
  TCP_SYN_RETRIES,
  tcpAckWarCnt,
  tcpAckWarTimeWindow,
  tcpDelackTime,
  tcpDelayedAck,
  tcpFinWait2Timeout,
  tcpInitCwndSegs,
  tcpKeepCnt,
  tcpKeepIdle,
  tcpKeepInit,
  tcpKeepIntvl,
  tcpMsl,
  tcpRecvbufAuto,
  tcpRecvbufMax,
  tcpRecvspace,
  tcpRexmitInitial,
  tcpRexmitMin,
  tcpRexmitSlop,
  tcpRfc1323,
  tcpSackEnable,
  tcpSendbufAuto,
  tcpSendbufMax,
  tcpSendspace,
  type TcpStat,
  type TcpState,
} from './tcp_var.js';

export type TcpErrno = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'EHOSTDOWN' | 'EACCES' | 'ECONNABORTED' | 'EMSGSIZE';

/** What a connection needs from where it lives. */
export interface TcpHost {
  now(): number;
  after(ms: number, fn: () => void): Timer;
  random(): number;
  /** Sysctl values, indexed by declaration slot. */
  readonly sysctl: readonly number[];
  readonly stat: TcpStat;
  /**
   * Send one segment: header fields in `r`, payload the `len` bytes that
   * start `off` bytes after SND.UNA in cb.snd. `len` may exceed the MSS
   * only when cb.tsoMax allows it (the host segments or offloads it).
   */
  output(cb: TcpCb, r: TcpRepr, off: number, len: number): void;
  /** The connection reached CLOSED: forget it (PCB table, accept queue). */
  detach(cb: TcpCb): void;
  /** A passive connection reached ESTABLISHED: queue it for accept. */
  established(cb: TcpCb): void;
  /** State changed (for per-state gauges). */
  stateChange(cb: TcpCb, from: TcpState, to: TcpState): void;
}

/** What the socket above is told. Every method is optional to implement as a no-op. */
export interface TcpSockHooks {
  connected(): void;
  /** Data or the peer's FIN arrived. */
  readable(): void;
  /** Send buffer space opened. */
  writable(): void;
  /** The connection failed or was reset; it is closed. */
  error(e: TcpErrno): void;
  /** The connection is gone (orderly: after both FINs, or after an error). */
  closed(): void;
}

const NO_HOOKS: TcpSockHooks = { connected() {}, readable() {}, writable() {}, error() {}, closed() {} };

// Timer slots.
const T_REXMT = 0;
const T_PERSIST = 1;
const T_DELACK = 2;
const T_KEEP = 3;
const T_2MSL = 4;
const NTIMERS = 5;

/** Most out-of-order pieces kept per connection (FreeBSD's net.inet.tcp.reass.maxqueuelen idea). */
export const TCP_REASS_MAXQ = 4096;

// Option sizes that reduce the payload of each segment.
const TS_OPTLEN = 12;

export class TcpCb implements CcVars {
  readonly host: TcpHost;
  so: TcpSockHooks = NO_HOOKS;
  state: TcpState = TCPS.CLOSED;

  // Endpoints (for the host; the protocol logic does not look at them).
  laddr = 0;
  lport = 0;
  faddr = 0;
  fport = 0;

  // Send sequence space (RFC 9293 3.3.1).
  iss: Seq = seq(0);
  sndUna: Seq = seq(0);
  sndNxt: Seq = seq(0);
  /** Highest sequence number sent (FreeBSD's snd_max). */
  sndMax: Seq = seq(0);
  sndWnd = 0;
  sndWl1: Seq = seq(0);
  sndWl2: Seq = seq(0);
  /** Largest window the peer has offered (for Nagle's "half the window" rule). */
  maxSndWnd = 0;
  sndScale = 0;

  // Receive sequence space.
  irs: Seq = seq(0);
  rcvNxt: Seq = seq(0);
  /** Right edge of the window we last advertised. */
  rcvAdv: Seq = seq(0);
  rcvScale = 0;
  /** Our requested receive scale (sent in our SYN). */
  private requestScale = 0;
  /** The peer's SYN carried a window scale option. */
  private wsOk = false;

  // Options in use.
  tsOn = false;
  private tsOffset = 0;
  tsRecent = 0;
  private tsRecentAge = 0;
  lastAckSent: Seq = seq(0);
  sackOn = false;
  /** Our MSS offer: the route's MTU minus headers. */
  mssOffer = 1460;
  /** Largest segment the peer accepts (its MSS option, clamped to our route). */
  maxseg = 536;
  /** Payload per full segment after options (SMSS). */
  smss = 536;
  /** Bytes one TSO super-segment may carry (0: no TSO). */
  tsoMax = 0;

  // Congestion control.
  cwnd = 0;
  ssthresh = 0x7fffffff;
  srtt = 0;
  rttvar = 0;
  rto = 1000;
  rxtShift = 0;
  dupAcks = 0;
  inRecovery = false;
  recover: Seq = seq(0);
  private cc: CongestionControl;
  private rtSeq: Seq = seq(0);
  private rtStart = -1;
  /**
   * FreeBSD's t_softerror: the last unreachable or host-down error seen
   * (ICMP, or ARP giving up under our output). A connection that then times
   * out reports it instead of ETIMEDOUT; an RTT sample (the path works) clears it.
   */
  softErr: TcpErrno | null = null;
  /** SACK scoreboard: ranges above SND.UNA the peer holds (left, right pairs, sorted). */
  private readonly sacked: Seq[] = [];
  /** Highest byte retransmitted in this recovery (RFC 6675 HighRxt). */
  private highRxt: Seq = seq(0);
  /** A duplicate range to report once as the first SACK block of the next ACK (RFC 2883 D-SACK); empty when start === end. */
  private dsackStart: Seq = seq(0);
  private dsackEnd: Seq = seq(0);

  // Flags.
  ackNow = false;
  noDelay = false;
  keepAlive = false;
  /** The application has shut down sending: a FIN follows the data. */
  finQueued = false;
  private sentFin = false;
  /** The peer's FIN has been received. */
  rcvdFin = false;
  /** The application has closed the socket (no more reads). */
  detached = false;
  /** Forces one byte into a zero window (persist probe). */
  private force = false;
  private challengeCount = 0;
  private challengeWindow = 0;
  private lastRcv = 0;
  /** Passive open: created by a listener (reset in SYN_RECEIVED returns to LISTEN, i.e. vanishes). */
  passive = false;
  /** The listener this connection will be accepted on. */
  listener: unknown = null;

  // Buffers.
  readonly snd = new SendBuffer();
  readonly rcv = new RecvBuffer();
  readonly reass = new ReassQueue();
  sndBufSize: number;
  rcvBufSize: number;
  private rcvAutoStart = 0;
  private rcvAutoBytes = 0;

  // Timers: deadlines per slot (0 = off), one host timer for the earliest.
  private readonly deadline = new Float64Array(NTIMERS);
  private timer: Timer | null = null;
  private timerAt = Infinity;
  private readonly out: TcpRepr = newTcpRepr();

  constructor(host: TcpHost, ccAlgorithm = 0) {
    this.host = host;
    this.cc = newCc(ccAlgorithm);
    const v = host.sysctl;
    this.sndBufSize = v[tcpSendspace.slot]!;
    this.rcvBufSize = v[tcpRecvspace.slot]!;
    this.rto = v[tcpRexmitInitial.slot]!;
  }

  get ccName(): string {
    return this.cc.name;
  }

  /** TCP_CONGESTION: switch the algorithm ('newreno' or 'cubic'); false for an unknown name. */
  setCongestionControl(name: string): boolean {
    const i = CC_ALGORITHMS.indexOf(name as (typeof CC_ALGORITHMS)[number]);
    if (i < 0) return false;
    if (this.cc.name !== name) this.cc = newCc(i);
    return true;
  }

  /** Bytes sent and not yet acknowledged (FlightSize). */
  get flight(): number {
    return seqSub(this.sndMax, this.sndUna);
  }

  /** Room in the send buffer. */
  get sndSpace(): number {
    return Math.max(0, this.sndLimit() - this.snd.length);
  }

  private sndLimit(): number {
    const v = this.host.sysctl;
    if (v[tcpSendbufAuto.slot] === 1) {
      // Keep two windows' worth buffered so the pipe never drains while the application writes.
      const want = Math.min(v[tcpSendbufMax.slot]!, 2 * Math.max(this.cwnd, this.sndWnd));
      if (want > this.sndBufSize) this.sndBufSize = want;
    }
    return this.sndBufSize;
  }

  // ------------------------------------------------------------------ setup

  private setState(s: TcpState): void {
    const from = this.state;
    if (from === s) return;
    this.state = s;
    this.host.stateChange(this, from, s);
  }

  private initSendSpace(): void {
    this.iss = seq(Math.floor(this.host.random() * 0x100000000));
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.tsOffset = Math.floor(this.host.random() * 0x100000000);
    const v = this.host.sysctl;
    // Our receive scale: the smallest shift that lets the largest buffer be advertised (RFC 7323 2.2).
    const max = v[tcpRecvbufAuto.slot] === 1 ? Math.max(v[tcpRecvbufMax.slot]!, this.rcvBufSize) : this.rcvBufSize;
    let s = 0;
    while (s < TCP_MAX_WINSHIFT && TCP_MAXWIN << s < max) s++;
    this.requestScale = s;
  }

  /** Active open (connect): send a SYN. */
  connect(): void {
    this.initSendSpace();
    this.setState(TCPS.SYN_SENT);
    this.host.stat.connattempt++;
    this.setTimer(T_KEEP, this.host.sysctl[tcpKeepInit.slot]!);
    this.output();
  }

  /**
   * Passive open: a listener got this SYN (already validated). Record the
   * peer's options and answer with SYN,ACK (RFC 9293 3.10.7.2).
   */
  acceptSyn(r: TcpRepr): void {
    this.initSendSpace();
    this.passive = true;
    this.irs = seq(r.seq);
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdv = this.rcvNxt;
    this.negotiate(r);
    this.sndWnd = r.window; // never scaled in a SYN (RFC 7323 2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = this.irs;
    this.setState(TCPS.SYN_RECEIVED);
    this.setTimer(T_KEEP, this.host.sysctl[tcpKeepInit.slot]!);
    this.output();
  }

  /**
   * The handshake completed by a valid SYN cookie (the listen queue was
   * full when the SYN came): ESTABLISHED at once, with the MSS the cookie
   * encoded and no other options (they were not kept).
   */
  acceptCookie(r: TcpRepr, mss: number): void {
    this.passive = true;
    this.iss = seq((r.ack - 1) >>> 0);
    this.sndUna = seq(r.ack);
    this.sndNxt = this.sndUna;
    this.sndMax = this.sndUna;
    this.recover = this.sndUna;
    this.irs = seq((r.seq - 1) >>> 0);
    this.rcvNxt = seq(r.seq);
    this.rcvAdv = seqAdd(this.rcvNxt, TCP_MAXWIN);
    this.maxseg = Math.min(mss, this.mssOffer);
    this.smss = this.maxseg;
    this.cwnd = this.host.sysctl[tcpInitCwndSegs.slot]! * this.smss;
    this.sndWnd = r.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seq(r.seq);
    this.sndWl2 = seq(r.ack);
    this.setState(TCPS.ESTABLISHED);
    this.host.stat.connects++;
    this.host.stat.accepts++;
    this.host.established(this);
  }

  /** Options from the peer's SYN (RFC 7323 2.2, 3.2; RFC 2018 2; RFC 9293 3.7.1). */
  private negotiate(r: TcpRepr): void {
    const v = this.host.sysctl;
    // Scaling only when both SYNs carry the option (RFC 7323 2.2).
    this.wsOk = v[tcpRfc1323.slot] === 1 && r.wscale >= 0;
    this.sndScale = this.wsOk ? r.wscale : 0;
    this.rcvScale = this.wsOk ? this.requestScale : 0;
    if (v[tcpRfc1323.slot] === 1 && r.tsPresent) {
      this.tsOn = true;
      this.tsRecent = r.tsVal;
      this.tsRecentAge = this.host.now();
    }
    this.sackOn = v[tcpSackEnable.slot] === 1 && r.sackPermitted;
    // No MSS option: 536 (RFC 9293 3.7.1); clamp to what our route carries.
    const peer = r.mss !== 0 ? r.mss : 536;
    this.maxseg = Math.max(64, Math.min(peer, this.mssOffer));
    this.smss = this.maxseg - (this.tsOn ? TS_OPTLEN : 0);
    // RFC 5681 3.1 / RFC 6928: initial window.
    this.cwnd = Math.min(v[tcpInitCwndSegs.slot]! * this.smss, Math.max(2 * this.smss, 14600));
    if (v[tcpInitCwndSegs.slot]! * this.smss < this.cwnd) this.cwnd = v[tcpInitCwndSegs.slot]! * this.smss;
  }

  // -------------------------------------------------------------- user calls

  /** Queue data; returns how many bytes were taken (limited by the send buffer). */
  send(b: Uint8Array): number {
    if (this.finQueued || this.state === TCPS.CLOSED) return 0;
    const n = Math.min(b.length, this.sndSpace);
    if (n === 0) return 0;
    this.snd.append(n === b.length ? b : b.subarray(0, n));
    if (this.state >= TCPS.ESTABLISHED) this.output();
    return n;
  }

  /** The application read `n` bytes: the window may open (RFC 9293 3.8.6.2.2 window update). */
  rcvd(): void {
    if (this.state === TCPS.CLOSED || this.state < TCPS.ESTABLISHED) return;
    this.output();
  }

  /** shutdown(SHUT_WR): FIN after the queued data. */
  shutdown(): void {
    if (this.finQueued) return;
    switch (this.state) {
      case TCPS.SYN_SENT:
      case TCPS.SYN_RECEIVED:
        // The FIN follows once the connection is established.
        this.finQueued = true;
        return;
      case TCPS.CLOSED:
        return;
      case TCPS.ESTABLISHED:
        this.finQueued = true;
        this.setState(TCPS.FIN_WAIT_1);
        break;
      case TCPS.CLOSE_WAIT:
        this.finQueued = true;
        this.setState(TCPS.LAST_ACK);
        break;
      default:
        return;
    }
    this.output();
  }

  /**
   * close(): no more reads or writes. Unread data makes it an abort (RST,
   * RFC 9293 3.6 / RFC 2525 2.17); otherwise an orderly FIN.
   */
  close(): void {
    this.detached = true;
    this.so = NO_HOOKS;
    if (this.state === TCPS.CLOSED) return;
    if (this.rcv.length > 0 || this.state === TCPS.SYN_SENT) {
      this.abort();
      return;
    }
    this.shutdown();
    if (this.state === TCPS.FIN_WAIT_2) this.setTimer(T_2MSL, this.host.sysctl[tcpFinWait2Timeout.slot]!);
  }

  /** Send RST and drop (SO_LINGER 0, or close with unread data). */
  abort(): void {
    if (this.state >= TCPS.SYN_RECEIVED && this.state !== TCPS.TIME_WAIT) this.respondRst(this.sndNxt);
    this.drop(null);
  }

  // ------------------------------------------------------------------- input

  /**
   * A segment for this connection (checksum and header already checked).
   * The payload is buf[off, off+len). RFC 9293 3.10.7.
   */
  input(r: TcpRepr, buf: Uint8Array, off: number, len: number): void {
    const st = this.host.stat;
    const now = this.host.now();
    this.lastRcv = now;
    if (this.state === TCPS.SYN_SENT) {
      this.inputSynSent(r, buf, off, len);
      return;
    }
    if (this.state === TCPS.CLOSED || this.state === TCPS.LISTEN) return;
    let flags = r.flags;
    let segSeq = seq(r.seq);
    if (this.state === TCPS.SYN_RECEIVED && (flags & (TH.SYN | TH.ACK | TH.RST)) === TH.SYN && segSeq === this.irs) {
      // The peer retransmitted its SYN: our SYN,ACK was lost. Send it again.
      this.sndNxt = this.iss;
      this.output();
      return;
    }
    if (this.keepAlive || this.state < TCPS.ESTABLISHED) this.restartKeep();

    // RFC 7323 5.3: PAWS, before the sequence check.
    if (this.tsOn && r.tsPresent && (flags & TH.RST) === 0 && this.tsRecent !== 0 && tsLt(r.tsVal, this.tsRecent)) {
      if (now - this.tsRecentAge > TCP_PAWS_IDLE) {
        this.tsRecent = 0; // too old to prove anything (RFC 7323 5.5)
      } else {
        st.pawsdrop++;
        st.rcvduppack++;
        st.rcvdupbyte += len;
        this.ackNow = true;
        this.output();
        return;
      }
    }

    // Sequence acceptability (RFC 9293 3.10.7.4, first check).
    const rcvWnd = Math.max(0, seqSub(this.rcvAdv, this.rcvNxt));
    const segLen = len + ((flags & TH.SYN) !== 0 ? 1 : 0) + ((flags & TH.FIN) !== 0 ? 1 : 0);
    const endSeq = seqAdd(segSeq, segLen);
    let acceptable: boolean;
    if (segLen === 0) acceptable = rcvWnd === 0 ? segSeq === this.rcvNxt : seqGeq(segSeq, this.rcvNxt) && seqLt(segSeq, seqAdd(this.rcvNxt, rcvWnd));
    else if (rcvWnd === 0) acceptable = false;
    else {
      const lastSeq = seqAdd(endSeq, -1);
      acceptable =
        (seqGeq(segSeq, this.rcvNxt) && seqLt(segSeq, seqAdd(this.rcvNxt, rcvWnd))) ||
        (seqGeq(lastSeq, this.rcvNxt) && seqLt(lastSeq, seqAdd(this.rcvNxt, rcvWnd)));
    }
    // RFC 9293: with a zero window, valid ACKs and RSTs must still be processed;
    // a segment at RCV.NXT (a window probe) passes with its data cut off below.
    const probe = !acceptable && rcvWnd === 0 && segSeq === this.rcvNxt && len > 0;
    if (!acceptable && !probe) {
      if ((flags & TH.RST) !== 0) return; // RFC 5961 3.2: out-of-window RST is dropped silently
      if (seqLt(segSeq, this.rcvNxt) && seqLeq(endSeq, this.rcvNxt)) {
        st.rcvduppack++;
        st.rcvdupbyte += len;
        if (len > 0) this.noteDsack(segSeq, seqAdd(segSeq, len));
        // A segment ending at RCV.NXT (a keepalive probe) covers Last.ACK.sent, so its
        // timestamp is the one to echo (RFC 7323 4.3), as FreeBSD and Linux echo it.
        if (this.tsOn && r.tsPresent && endSeq === this.rcvNxt && seqLeq(segSeq, this.lastAckSent) && seqLeq(this.lastAckSent, endSeq)) {
          this.tsRecent = r.tsVal;
          this.tsRecentAge = now;
        }
      } else {
        st.rcvpackafterwin++;
        st.rcvbyteafterwin += len;
      }
      if (this.state === TCPS.TIME_WAIT && (flags & TH.FIN) !== 0) this.setTimer(T_2MSL, 2 * this.host.sysctl[tcpMsl.slot]!);
      this.ackNow = true;
      this.output();
      return;
    }

    // RFC 5961 3.2: RST exactly at RCV.NXT resets; elsewhere in the window earns a challenge ACK.
    if ((flags & TH.RST) !== 0) {
      if (segSeq !== this.rcvNxt) {
        st.badrst++;
        this.challengeAck();
        return;
      }
      switch (this.state) {
        case TCPS.SYN_RECEIVED:
          // A passive open goes back to LISTEN (it simply vanishes); an active one is refused.
          this.drop(this.passive ? null : 'ECONNREFUSED');
          return;
        case TCPS.ESTABLISHED:
        case TCPS.FIN_WAIT_1:
        case TCPS.FIN_WAIT_2:
        case TCPS.CLOSE_WAIT:
          this.drop('ECONNRESET');
          return;
        default:
          this.drop(null);
          return;
      }
    }

    // Trim what lies before RCV.NXT (duplicate data) and after the window.
    let dOff = off;
    let dLen = len;
    const before = seqSub(this.rcvNxt, segSeq);
    if (before > 0) {
      if ((flags & TH.SYN) !== 0) {
        flags &= ~TH.SYN;
        segSeq = seqAdd(segSeq, 1);
      }
      const cut = Math.min(seqSub(this.rcvNxt, segSeq), dLen);
      if (cut > 0) {
        st.rcvpartduppack++;
        st.rcvpartdupbyte += cut;
        this.noteDsack(segSeq, seqAdd(segSeq, cut));
        dOff += cut;
        dLen -= cut;
        segSeq = seqAdd(segSeq, cut);
        this.ackNow = true;
      }
    }
    const room = Math.max(0, seqSub(seqAdd(this.rcvNxt, rcvWnd), segSeq));
    if (dLen > room) {
      if (probe) st.rcvwinprobe++;
      else {
        st.rcvpackafterwin++;
        st.rcvbyteafterwin += dLen - room;
      }
      dLen = room;
      flags &= ~TH.FIN; // the FIN lies beyond what we take
      this.ackNow = true;
    }

    // RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset.
    if ((flags & TH.SYN) !== 0) {
      st.badsyn++;
      this.challengeAck();
      return;
    }

    if ((flags & TH.ACK) === 0) {
      // RFC 9293: "if the ACK bit is off, drop the segment and return".
      if (this.ackNow) this.output();
      return;
    }

    // RFC 7323 4.3: remember the timestamp of a segment that covers Last.ACK.sent.
    if (this.tsOn && r.tsPresent && seqLeq(segSeq, this.lastAckSent) && seqLeq(this.lastAckSent, seqAdd(segSeq, dLen + ((flags & TH.FIN) !== 0 ? 1 : 0)))) {
      this.tsRecent = r.tsVal;
      this.tsRecentAge = now;
    }

    const ack = seq(r.ack);
    if (this.state === TCPS.SYN_RECEIVED) {
      if (!(seqGt(ack, this.sndUna) && seqLeq(ack, this.sndMax))) {
        // RFC 9293 3.10.7.4: an unacceptable ACK in SYN-RECEIVED is answered with <SEQ=SEG.ACK><CTL=RST>.
        this.sendRstFor(ack);
        return;
      }
      this.host.stat.connects++;
      if (this.passive) this.host.stat.accepts++;
      this.setState(this.finQueued ? TCPS.FIN_WAIT_1 : TCPS.ESTABLISHED);
      this.clearTimer(T_KEEP);
      if (this.keepAlive) this.restartKeep();
      this.sndWnd = r.window << this.sndScale;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = segSeq;
      this.sndWl2 = ack;
      if (this.passive) this.host.established(this);
      else this.so.connected();
    }

    // RFC 5961 5.2: an ACK below SND.UNA - MAX.SND.WND or beyond SND.MAX.
    if (seqGt(ack, this.sndMax)) {
      st.rcvacktoomuch++;
      this.challengeAck();
      return;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.challengeAck();
      return;
    }

    const newSack = r.sackCount > 0 && this.sackOn && this.sackUpdate(r, ack);

    const wnd = r.window << this.sndScale;
    if (seqLeq(ack, this.sndUna)) {
      // Duplicate ACK detection (RFC 5681 section 2, the five conditions);
      // with SACK, an ACK at SND.UNA that brings previously unknown SACK
      // information is a duplicate too, data or a window change
      // notwithstanding (RFC 6675 section 2), as from a peer that is sending
      // data of its own.
      const pending = ack === this.sndUna && this.sndMax !== this.sndUna && (flags & TH.FIN) === 0;
      if (pending && ((dLen === 0 && wnd === this.sndWnd) || newSack)) {
        st.rcvdupack++;
        this.dupAck(ack);
      } else if (ack === this.sndUna && dLen === 0 && this.sndMax === this.sndUna) {
        this.dupAcks = 0;
      }
    } else {
      this.newAck(ack, r, now);
    }

    // Window update (RFC 9293 3.10.7.4, fifth check: SND.WL1/WL2 rule).
    if (seqLt(this.sndWl1, segSeq) || (this.sndWl1 === segSeq && seqLeq(this.sndWl2, ack))) {
      if (dLen === 0 && this.sndWl2 === ack && wnd > this.sndWnd) st.rcvwinupd++;
      this.sndWnd = wnd;
      this.sndWl1 = segSeq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wnd > 0 && this.deadline[T_PERSIST] !== 0) {
        this.clearTimer(T_PERSIST);
        this.rxtShift = 0;
      }
    }

    // Our FIN acknowledged?
    const finAcked = this.sentFin && ack === this.sndMax;
    switch (this.state) {
      case TCPS.FIN_WAIT_1:
        if (finAcked) {
          this.setState(TCPS.FIN_WAIT_2);
          // A socket nobody reads any more does not wait forever for the peer's FIN.
          if (this.detached) this.setTimer(T_2MSL, this.host.sysctl[tcpFinWait2Timeout.slot]!);
        }
        break;
      case TCPS.CLOSING:
        if (finAcked) this.enterTimeWait();
        break;
      case TCPS.LAST_ACK:
        if (finAcked) {
          this.drop(null);
          return;
        }
        break;
      case TCPS.TIME_WAIT:
        // A retransmitted FIN: acknowledge and restart the 2 MSL wait.
        if ((flags & TH.FIN) !== 0) {
          this.ackNow = true;
          this.setTimer(T_2MSL, 2 * this.host.sysctl[tcpMsl.slot]!);
          this.output();
        }
        return;
    }

    // Segment text (RFC 9293 3.10.7.4, seventh check).
    if (dLen > 0 && (this.state === TCPS.ESTABLISHED || this.state === TCPS.FIN_WAIT_1 || this.state === TCPS.FIN_WAIT_2)) {
      this.dataIn(segSeq, buf, dOff, dLen);
    } else if (dLen > 0) {
      st.rcvafterclose++;
    }
    if (dLen > 0 && this.detached && this.state >= TCPS.FIN_WAIT_1) {
      // Nobody will read it: the socket is closed. Reset, as FreeBSD and Linux do.
      st.rcvafterclose++;
      this.abort();
      return;
    }

    // FIN (eighth check): only once everything before it has arrived.
    if ((flags & TH.FIN) !== 0 && seqAdd(segSeq, dLen) === this.rcvNxt && !this.rcvdFin) {
      this.rcvdFin = true;
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.ackNow = true;
      switch (this.state) {
        case TCPS.SYN_RECEIVED:
        case TCPS.ESTABLISHED:
          this.setState(TCPS.CLOSE_WAIT);
          break;
        case TCPS.FIN_WAIT_1:
          // Simultaneous close (RFC 9293 figure 13).
          this.setState(TCPS.CLOSING);
          break;
        case TCPS.FIN_WAIT_2:
          this.enterTimeWait();
          break;
      }
      this.so.readable();
    } else if ((flags & TH.FIN) !== 0 && !this.rcvdFin && seqGt(segSeq, this.rcvNxt)) {
      // FIN ahead of a hole: ask for the missing data.
      this.ackNow = true;
    }
    this.output();
  }

  private inputSynSent(r: TcpRepr, _buf: Uint8Array, _off: number, _len: number): void {
    const flags = r.flags;
    const ack = seq(r.ack);
    // RFC 9293 3.10.7.3, first: the ACK must cover our SYN and nothing more.
    const ackOk = (flags & TH.ACK) !== 0 && seqGt(ack, this.iss) && seqLeq(ack, this.sndMax);
    if ((flags & TH.ACK) !== 0 && !ackOk) {
      if ((flags & TH.RST) === 0) this.sendRstFor(ack);
      return;
    }
    if ((flags & TH.RST) !== 0) {
      // RFC 5961 3.2 in SYN-SENT: only a RST acknowledging our SYN counts.
      if (ackOk) this.drop('ECONNREFUSED');
      return;
    }
    if ((flags & TH.SYN) === 0) return;
    this.irs = seq(r.seq);
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdv = this.rcvNxt;
    this.negotiate(r);
    if (ackOk) {
      this.sndUna = ack;
      this.clearTimer(T_REXMT);
      this.rxtShift = 0;
      this.rttSample(r, ack, this.host.now());
      this.sndWnd = r.window; // unscaled in a SYN
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = this.irs;
      this.sndWl2 = ack;
      this.host.stat.connects++;
      this.setState(this.finQueued ? TCPS.FIN_WAIT_1 : TCPS.ESTABLISHED);
      this.clearTimer(T_KEEP);
      if (this.keepAlive) this.restartKeep();
      this.ackNow = true;
      this.so.connected();
      this.output();
      return;
    }
    // Simultaneous open (RFC 9293 figure 8): SYN-RECEIVED, send SYN,ACK.
    this.sndWnd = r.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = this.irs;
    this.setState(TCPS.SYN_RECEIVED);
    this.sndNxt = this.iss;
    this.output();
  }

  private dataIn(s: Seq, buf: Uint8Array, off: number, len: number): void {
    const st = this.host.stat;
    if (s === this.rcvNxt && this.reass.length === 0) {
      // In order and nothing waiting: straight to the application.
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      st.rcvpack++;
      st.rcvbyte += len;
      this.rcv.push(buf.slice(off, off + len));
      this.autoSize(len);
      const delack = this.host.sysctl[tcpDelayedAck.slot] === 1;
      // Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2): at least every second full segment.
      if (!delack || this.deadline[T_DELACK] !== 0 || len >= 2 * this.smss) this.ackNow = true;
      else this.setTimer(T_DELACK, this.host.sysctl[tcpDelackTime.slot]!);
      this.so.readable();
      return;
    }
    // Out of order, or filling a hole: through the reassembly queue; ACK at once
    // (RFC 5681 4.2: a duplicate ACK for a gap, an immediate ACK when it fills).
    this.ackNow = true;
    if (s !== this.rcvNxt) {
      if (this.reass.length >= TCP_REASS_MAXQ) {
        // A peer slicing the window into tiny pieces does not get unbounded memory.
        st.rcvreassfull++;
        return;
      }
      st.rcvoopack++;
      st.rcvoobyte += len;
      this.reass.insert(s, buf, off, len);
      return;
    }
    this.reass.insert(s, buf, off, len);
    const before = this.rcvNxt;
    this.rcvNxt = this.reass.pullInOrder(this.rcvNxt, (d) => this.rcv.push(d));
    const got = seqSub(this.rcvNxt, before);
    st.rcvpack++;
    st.rcvbyte += got;
    this.autoSize(got);
    this.so.readable();
  }

  /** Receive buffer autosizing: grow when the peer fills most of the buffer within one RTT. */
  private autoSize(n: number): void {
    const v = this.host.sysctl;
    if (v[tcpRecvbufAuto.slot] !== 1) return;
    const now = this.host.now();
    const rtt = Math.max(this.srtt, 1);
    this.rcvAutoBytes += n;
    if (now - this.rcvAutoStart > rtt) {
      if (this.rcvAutoBytes > (this.rcvBufSize * 7) / 8 && this.rcvBufSize < v[tcpRecvbufMax.slot]!) {
        this.rcvBufSize = Math.min(this.rcvBufSize * 2, v[tcpRecvbufMax.slot]!);
      }
      this.rcvAutoStart = now;
      this.rcvAutoBytes = 0;
    } else if (this.rcvAutoBytes > (this.rcvBufSize * 7) / 8 && this.rcvBufSize < v[tcpRecvbufMax.slot]!) {
      this.rcvBufSize = Math.min(this.rcvBufSize * 2, v[tcpRecvbufMax.slot]!);
      this.rcvAutoStart = now;
      this.rcvAutoBytes = 0;
    }
  }

  // ---------------------------------------------------------- ACK processing

  private newAck(ack: Seq, r: TcpRepr, now: number): void {
    const st = this.host.stat;
    let acked = seqSub(ack, this.sndUna);
    st.rcvackpack++;
    st.rcvackbyte += acked;
    this.rttSample(r, ack, now);
    // Sequence space beyond the data: our SYN (before) and FIN (after).
    if (this.sndUna === this.iss) acked--;
    const dataAcked = Math.min(acked, this.snd.length);
    this.snd.drop(dataAcked);
    const prevUna = this.sndUna;
    this.sndUna = ack;
    if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    this.pruneSacked();
    if (this.inRecovery) {
      if (seqGeq(ack, this.recover)) {
        // Full acknowledgment: leave recovery (RFC 6582 3.2 step 3).
        this.inRecovery = false;
        this.dupAcks = 0;
        this.cc.postRecovery(this, now);
      } else {
        // Partial acknowledgment: retransmit the next hole at once (RFC 6582 3.2 step 4; with SACK, RFC 6675 NextSeg).
        if (!this.retransmitHole(!this.sackOn) && this.sackOn) this.retransmitHole(true);
        this.cwnd = Math.max(this.cwnd - seqSub(ack, prevUna) + this.smss, this.smss);
      }
    } else {
      this.dupAcks = 0;
      this.cc.ack(this, seqSub(ack, prevUna), now);
    }
    // RFC 6298 5.2/5.3: restart the timer while data is outstanding, stop it when all is acked.
    this.rxtShift = 0;
    if (this.sndUna === this.sndMax) this.clearTimer(T_REXMT);
    else this.setTimer(T_REXMT, this.rto);
    if (this.sndSpace > 0) this.so.writable();
  }

  private dupAck(ack: Seq): void {
    this.dupAcks++;
    if (this.inRecovery) {
      // Each further duplicate means a segment left the network (RFC 5681 3.2 step 4).
      this.cwnd += this.smss;
      if (this.sackOn) this.retransmitHole();
      return;
    }
    if (this.dupAcks === 3 || (this.sackOn && this.sackedBytes() > 3 * this.smss && this.dupAcks >= 1)) {
      // RFC 6582 3.2 step 2: only when the ACK covers more than `recover` (no false fast retransmit).
      if (!seqGt(ack, this.recover) && this.recover !== this.iss && seqLt(this.sndUna, this.recover)) return;
      const st = this.host.stat;
      st.fastrexmit++;
      st.recoveryepisode++;
      this.cc.loss(this, this.host.now());
      this.recover = this.sndMax;
      this.inRecovery = true;
      this.highRxt = this.sndUna;
      this.rtStart = -1; // Karn: no RTT sample from retransmitted data
      this.retransmitHole(true);
      this.cwnd = this.ssthresh + 3 * this.smss;
    }
  }

  /**
   * Retransmit one segment. Without SACK (or for the first retransmission of
   * a recovery, `first`) it is the segment at SND.UNA (RFC 6582, RFC 6675
   * 5 step 4). With SACK it is RFC 6675's NextSeg() rule 1: the first byte
   * above HighRxt the peer does not hold and that counts as lost (enough
   * SACKed data above it); when there is none, nothing is retransmitted and
   * new data may go instead. Returns whether a segment was sent.
   */
  private retransmitHole(first = false): boolean {
    let start = this.sndUna;
    if (this.sackOn && !first) {
      if (seqGt(this.highRxt, start)) start = this.highRxt;
      // Skip ranges the peer holds.
      for (let i = 0; i < this.sacked.length; i += 2) {
        if (seqLeq(this.sacked[i]!, start) && seqGt(this.sacked[i + 1]!, start)) start = this.sacked[i + 1]!;
      }
      if (!this.isLost(start)) return false;
    }
    let len = Math.min(this.smss, seqSub(this.sndMax, start));
    if (this.sackOn) {
      for (let i = 0; i < this.sacked.length; i += 2) {
        const l = this.sacked[i]!;
        if (seqGt(l, start) && seqSub(l, start) < len) len = seqSub(l, start);
      }
    }
    if (len <= 0) return false;
    this.sendAt(start, len);
    const end = seqAdd(start, len);
    if (seqGt(end, this.highRxt)) this.highRxt = end;
    if (this.sackOn) this.host.stat.sackrexmitpack++;
    return true;
  }

  /** RFC 6675 IsLost(): at least DupThresh (3) SACKed segments' worth of data above `s`. */
  private isLost(s: Seq): boolean {
    let above = 0;
    let blocks = 0;
    for (let i = 0; i < this.sacked.length; i += 2) {
      const l = this.sacked[i]!;
      const r = this.sacked[i + 1]!;
      if (seqLeq(r, s)) continue;
      above += seqSub(r, seqGt(l, s) ? l : s);
      blocks++;
    }
    return blocks >= 3 || above > 2 * this.smss;
  }

  /** Send the data at sequence `s` (retransmission) without disturbing SND.NXT. */
  private sendAt(s: Seq, len: number): void {
    const saved = this.sndNxt;
    this.sndNxt = s;
    this.emit(len, false);
    if (seqGt(saved, this.sndNxt)) this.sndNxt = saved;
    if (this.deadline[T_REXMT] === 0) this.setTimer(T_REXMT, this.rto);
  }

  /** Merge the segment's SACK blocks into the scoreboard; true if they covered data not SACKed before. */
  private sackUpdate(r: TcpRepr, ack: Seq): boolean {
    this.host.stat.sackrcvblocks++;
    const before = this.sackedBytes();
    for (let k = 0; k < r.sackCount; k++) {
      const l = seq(r.sack[k * 2]!);
      const rr = seq(r.sack[k * 2 + 1]!);
      // RFC 2018: ignore blocks below the ACK or beyond what we sent.
      if (!seqLt(l, rr) || seqLeq(rr, ack) || seqGt(rr, this.sndMax)) continue;
      this.addSacked(seqMax(l, ack), rr);
    }
    return this.sackedBytes() > before;
  }

  /** Merge [l, r) into the scoreboard (sorted, disjoint pairs), in place: no allocation per ACK. */
  private addSacked(l: Seq, r: Seq): void {
    const s = this.sacked;
    let i = 0;
    while (i < s.length && seqLt(s[i + 1]!, l)) i += 2; // blocks wholly below
    let j = i;
    while (j < s.length && !seqGt(s[j]!, r)) {
      // overlapping or touching: absorbed
      if (seqLt(s[j]!, l)) l = s[j]!;
      if (seqGt(s[j + 1]!, r)) r = s[j + 1]!;
      j += 2;
    }
    const absorbed = (j - i) >> 1;
    if (absorbed === 0) {
      // a new block at i: move the tail up one pair
      s.push(0 as Seq, 0 as Seq);
      for (let k = s.length - 1; k >= i + 2; k--) s[k] = s[k - 2]!;
    } else if (absorbed > 1) {
      s.copyWithin(i + 2, j);
      s.length -= (absorbed - 1) * 2;
    }
    s[i] = l;
    s[i + 1] = r;
  }

  private pruneSacked(): void {
    const s = this.sacked;
    if (s.length === 0) return;
    const una = this.sndUna;
    let i = 0;
    while (i < s.length && seqLeq(s[i + 1]!, una)) i += 2;
    if (i > 0) {
      s.copyWithin(0, i);
      s.length -= i;
    }
    if (s.length > 0 && seqLt(s[0]!, una)) s[0] = una;
  }

  private sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.sacked.length; i += 2) n += seqSub(this.sacked[i + 1]!, this.sacked[i]!);
    return n;
  }

  /** RFC 6298 section 2 with timestamps (RFC 7323 4.1) or one timed segment (Karn). */
  private rttSample(r: TcpRepr, ack: Seq, now: number): void {
    let rtt = -1;
    if (this.tsOn && r.tsPresent && r.tsEcr !== 0) {
      rtt = (this.tsNow(now) - r.tsEcr) >>> 0;
      if (rtt > TCP_REXMTMAX * 2) rtt = -1;
    } else if (this.rtStart >= 0 && seqGt(ack, this.rtSeq)) {
      rtt = now - this.rtStart;
    }
    if (this.rtStart >= 0 && seqGt(ack, this.rtSeq)) this.rtStart = -1;
    if (rtt < 0) return;
    this.softErr = null;
    const st = this.host.stat;
    st.rttupdated++;
    if (this.srtt === 0) {
      this.srtt = Math.max(rtt, 0.001);
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
    this.rto = this.rangeRto(this.srtt + 4 * this.rttvar);
  }

  /** FreeBSD's TCPT_RANGESET: value plus rexmit_slop, within [rexmit_min, 64 s]. */
  private rangeRto(v: number): number {
    const sys = this.host.sysctl;
    return Math.min(Math.max(v + sys[tcpRexmitSlop.slot]!, sys[tcpRexmitMin.slot]!), TCP_REXMTMAX);
  }

  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  // ------------------------------------------------------------------ output

  /** Our receive window: free buffer space, never shrinking what was offered (RFC 9293 3.8.6.2.2). */
  private rcvWindow(): number {
    let win = Math.max(0, this.rcvBufSize - this.rcv.length);
    // Receiver SWS avoidance: don't advertise tiny windows (RFC 9293 3.8.6.2.2).
    if (win < Math.min(this.rcvBufSize / 4, this.maxseg)) win = 0;
    win = Math.min(win, TCP_MAXWIN << this.rcvScale);
    const offered = seqSub(this.rcvAdv, this.rcvNxt);
    if (win < offered) win = offered;
    return win;
  }

  /**
   * Send what the state, the windows and Nagle allow (FreeBSD's tcp_output):
   * data segments, a SYN or FIN, a pending ACK or a window update.
   */
  output(): void {
    for (let guard = 0; guard < 1024; guard++) {
      if (this.state === TCPS.CLOSED || this.state === TCPS.LISTEN) return;
      if (this.state === TCPS.SYN_SENT || this.state === TCPS.SYN_RECEIVED) {
        if (this.sndNxt === this.iss) {
          this.emit(0, true);
          continue;
        }
        if (this.ackNow) this.emit(0, false);
        return;
      }
      const off = seqSub(this.sndNxt, this.sndUna);
      let win = Math.min(this.sndWnd, this.cwnd);
      if (this.force && win === 0) win = 1;
      let len = Math.min(this.snd.length, win) - off;
      if (len < 0) len = 0;
      const max = this.tsoMax > 0 ? Math.max(this.smss, Math.floor(this.tsoMax / this.smss) * this.smss) : this.smss;
      let full = false;
      if (len > max) {
        len = max;
        full = true;
      } else if (len >= this.smss) full = true;
      const sendFin = this.finQueued && off + len === this.snd.length && (!this.sentFin || seqLt(this.sndNxt, this.sndMax));
      let go = false;
      if (len > 0) {
        const idle = this.sndMax === this.sndUna;
        if (full) go = true;
        else if ((idle || this.noDelay) && off + len === this.snd.length) go = true; // Nagle (RFC 896)
        else if (this.force) go = true;
        else if (len >= this.maxSndWnd / 2 && this.maxSndWnd > 0) go = true;
        else if (seqLt(this.sndNxt, this.sndMax)) go = true;
      }
      if (!go && sendFin && (len > 0 || off === this.snd.length)) go = true;
      if (!go && this.ackNow) go = true;
      if (!go && this.windowUpdateDue()) {
        this.host.stat.sndwinup++;
        go = true;
      }
      if (!go) {
        // Data waiting on a closed or too small window, nothing in flight: the
        // persist timer polls for the window update (RFC 9293 3.8.6.1, FreeBSD's tcp_output).
        if (this.snd.length > off && this.deadline[T_REXMT] === 0 && this.deadline[T_PERSIST] === 0 && seqSub(this.sndNxt, this.sndUna) === 0) {
          this.rxtShift = 0;
          this.setPersist();
        }
        return;
      }
      this.emit(len, false, sendFin);
      if (len === 0) return; // control segment sent; nothing more to do
    }
  }

  private windowUpdateDue(): boolean {
    if (this.state < TCPS.ESTABLISHED || this.rcvdFin) return false;
    const win = Math.min(Math.max(0, this.rcvBufSize - this.rcv.length), TCP_MAXWIN << this.rcvScale);
    const adv = win - seqSub(this.rcvAdv, this.rcvNxt);
    return adv >= 2 * this.maxseg || 2 * adv >= this.rcvBufSize;
  }

  /** Build and send one segment of `len` bytes at SND.NXT (a SYN when `syn`). */
  private emit(len: number, syn: boolean, fin = false): void {
    const st = this.host.stat;
    const now = this.host.now();
    const r = this.out;
    const off = seqSub(this.sndNxt, this.sndUna);
    const isSynSent = this.state === TCPS.SYN_SENT && syn;
    // Window: unscaled in SYNs (RFC 7323 2.2).
    const win = this.rcvWindow();
    const window = syn ? Math.min(win, TCP_MAXWIN) : Math.min(win >>> this.rcvScale, TCP_MAXWIN);
    setTcpRepr(r, this.lport, this.fport, this.sndNxt, isSynSent ? 0 : this.rcvNxt, 0, window);
    let flags: number = TH.ACK;
    if (syn) {
      flags = this.state === TCPS.SYN_SENT ? TH.SYN : TH.SYN | TH.ACK;
      r.mss = this.mssOffer;
      const v = this.host.sysctl;
      if (this.state === TCPS.SYN_SENT) {
        // Offer everything we do; the SYN,ACK tells what the peer agrees to.
        const rfc = v[tcpRfc1323.slot] === 1;
        r.wscale = rfc ? this.requestScale : -1;
        r.tsPresent = rfc;
        r.sackPermitted = v[tcpSackEnable.slot] === 1;
      } else {
        // SYN,ACK: only the options the peer's SYN offered (RFC 7323 2.2, 3.2; RFC 2018 2).
        r.wscale = this.wsOk ? this.requestScale : -1;
        r.tsPresent = this.tsOn;
        r.sackPermitted = this.sackOn;
      }
    } else {
      if (this.tsOn) r.tsPresent = true;
      if (this.sackOn) {
        const max = this.tsOn ? 3 : 4;
        let n = 0;
        if (this.dsackStart !== this.dsackEnd) {
          // RFC 2883 4: the D-SACK block first, then the usual blocks.
          r.sack[0] = this.dsackStart;
          r.sack[1] = this.dsackEnd;
          this.dsackEnd = this.dsackStart;
          n = 1;
          st.snddsackopt++;
        }
        if (this.reass.length > 0) n += this.reass.sackBlocks(r.sack.subarray(2 * n), max - n);
        r.sackCount = n;
        if (n > 0) st.sacksndblocks++;
      }
    }
    if (r.tsPresent) {
      r.tsVal = this.tsNow(now);
      r.tsEcr = this.tsRecent;
    }
    if (fin) flags |= TH.FIN;
    if (len > 0 && off + len === this.snd.length) flags |= TH.PSH;
    r.flags = flags;
    const rexmit = seqLt(this.sndNxt, this.sndMax);
    // Counters.
    st.sndtotal++;
    if (len > 0) {
      if (this.force && this.sndWnd === 0) st.sndprobe++;
      if (rexmit) {
        st.sndrexmitpack++;
        st.sndrexmitbyte += len;
      } else {
        st.sndpack++;
        st.sndbyte += len;
      }
      if (this.tsoMax > 0 && len > this.smss) st.sndtso++;
    } else if ((flags & (TH.SYN | TH.FIN)) !== 0) st.sndctrl++;
    else st.sndacks++;
    this.host.output(this, r, syn ? 0 : off, len);
    // Advance the send sequence.
    const consumed = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (fin) this.sentFin = true;
    if (consumed > 0) {
      // Time one segment per RTT when there are no timestamps (RFC 6298 3, Karn).
      if (!this.tsOn && this.rtStart < 0 && !rexmit) {
        this.rtStart = now;
        this.rtSeq = this.sndNxt;
        st.segstimed++;
      }
      this.sndNxt = seqAdd(this.sndNxt, consumed);
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (this.deadline[T_REXMT] === 0 && this.sndNxt !== this.sndUna) {
        if (this.deadline[T_PERSIST] !== 0 && !this.force) this.clearTimer(T_PERSIST);
        if (this.deadline[T_PERSIST] === 0) this.setTimer(T_REXMT, this.rto);
      }
    }
    // An ACK went out with this segment.
    const adv = seqAdd(this.rcvNxt, syn ? Math.min(win, TCP_MAXWIN) : r.window << this.rcvScale);
    if (seqGt(adv, this.rcvAdv)) this.rcvAdv = adv;
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.clearTimer(T_DELACK);
  }

  private challengeAck(): void {
    // RFC 5961 section 7: limit challenge ACKs (net.inet.tcp.ack_war_*).
    const v = this.host.sysctl;
    const now = this.host.now();
    if (now - this.challengeWindow >= v[tcpAckWarTimeWindow.slot]!) {
      this.challengeWindow = now;
      this.challengeCount = 0;
    }
    const cnt = v[tcpAckWarCnt.slot]!;
    if (cnt > 0 && this.challengeCount >= cnt) return;
    this.challengeCount++;
    this.host.stat.challengeack++;
    this.ackNow = true;
    this.output();
  }

  /** RST with sequence `s` (our reply to an unacceptable ACK, or an abort). */
  private respondRst(s: Seq): void {
    const r = setTcpRepr(this.out, this.lport, this.fport, s, this.rcvNxt, TH.RST | TH.ACK, 0);
    this.host.stat.sndtotal++;
    this.host.stat.sndrst++;
    this.host.output(this, r, 0, 0);
  }

  /** A duplicate segment arrived: tell the peer in the next ACK (RFC 2883), as FreeBSD and Linux do. */
  private noteDsack(start: Seq, end: Seq): void {
    if (!this.sackOn) return;
    this.dsackStart = start;
    this.dsackEnd = end;
    this.ackNow = true;
  }

  /** RST for an unacceptable ACK in SYN-SENT or SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>. */
  private sendRstFor(ack: Seq): void {
    const r = setTcpRepr(this.out, this.lport, this.fport, ack, 0, TH.RST, 0);
    this.host.stat.sndtotal++;
    this.host.stat.sndrst++;
    this.host.output(this, r, 0, 0);
  }

  // ------------------------------------------------------------------ timers

  private setTimer(slot: number, ms: number): void {
    const at = this.host.now() + ms;
    this.deadline[slot] = at;
    if (at < this.timerAt) this.arm(at);
  }

  private clearTimer(slot: number): void {
    this.deadline[slot] = 0;
    // The host timer stays; when it fires it finds nothing due and re-arms.
  }

  private arm(at: number): void {
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.host.after(Math.max(0, at - this.host.now()), this.fire);
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.host.now();
    for (let slot = 0; slot < NTIMERS; slot++) {
      const d = this.deadline[slot]!;
      if (d !== 0 && d <= now + 1e-9) {
        this.deadline[slot] = 0;
        this.onTimer(slot);
        if (this.state === TCPS.CLOSED) return;
      }
    }
    let next = Infinity;
    for (let slot = 0; slot < NTIMERS; slot++) {
      const d = this.deadline[slot]!;
      if (d !== 0 && d < next) next = d;
    }
    if (next !== Infinity && next < this.timerAt) this.arm(next);
  };

  private onTimer(slot: number): void {
    const st = this.host.stat;
    const v = this.host.sysctl;
    switch (slot) {
      case T_DELACK:
        st.delack++;
        this.ackNow = true;
        this.output();
        return;
      case T_REXMT: {
        st.rexmttimeo++;
        this.rxtShift++;
        const limit = this.state === TCPS.SYN_SENT || this.state === TCPS.SYN_RECEIVED ? TCP_SYN_RETRIES : TCP_MAXRXTSHIFT;
        if (this.rxtShift > limit) {
          st.timeoutdrop++;
          this.drop('ETIMEDOUT');
          return;
        }
        // RFC 6298 5.5: back off; 5.7: a lost SYN restarts at 3 s when RTT is unknown (we keep FreeBSD's 1 s base).
        const base = this.srtt === 0 ? v[tcpRexmitInitial.slot]! : this.rangeRto(this.srtt + 4 * this.rttvar);
        this.rto = Math.min(base * TCP_BACKOFF[Math.min(this.rxtShift, TCP_BACKOFF.length - 1)]!, TCP_REXMTMAX);
        if (this.state >= TCPS.ESTABLISHED && this.flight > 0) this.cc.timeout(this, this.host.now());
        this.inRecovery = false;
        this.dupAcks = 0;
        this.recover = this.sndMax;
        this.sacked.length = 0;
        this.rtStart = -1;
        // Go back to SND.UNA (RFC 5681 3.1 after a timeout: one segment, slow start).
        // A FIN already sent goes again when the retransmission reaches it (SND.NXT < SND.MAX).
        this.sndNxt = this.sndUna;
        this.setTimer(T_REXMT, this.rto);
        this.output();
        return;
      }
      case T_PERSIST: {
        st.persisttimeo++;
        if (this.snd.length > 0) {
          // A zero window gets the first unacknowledged byte (FreeBSD resets snd_nxt),
          // a small one whatever fits.
          if (this.sndWnd === 0) this.sndNxt = this.sndUna;
          this.force = true;
          this.output();
          this.force = false;
        }
        if (this.rxtShift < TCP_MAXRXTSHIFT) this.rxtShift++;
        if (this.snd.length > seqSub(this.sndNxt, this.sndUna) && this.deadline[T_REXMT] === 0 && this.deadline[T_PERSIST] === 0) this.setPersist();
        return;
      }
      case T_KEEP: {
        if (this.state < TCPS.ESTABLISHED) {
          // Connection establishment timed out (net.inet.tcp.keepinit).
          st.keeptimeo++;
          this.drop('ETIMEDOUT');
          return;
        }
        if (!this.keepAlive || this.state > TCPS.CLOSE_WAIT) return;
        st.keeptimeo++;
        const idle = this.host.now() - this.lastRcv;
        const maxIdle = v[tcpKeepIdle.slot]! + v[tcpKeepCnt.slot]! * v[tcpKeepIntvl.slot]!;
        if (idle >= maxIdle) {
          st.keepdrops++;
          this.drop('ETIMEDOUT');
          return;
        }
        // Keepalive probe: SEG.SEQ = SND.NXT - 1 elicits an ACK (RFC 1122 4.2.3.6).
        st.keepprobe++;
        const saved = this.sndNxt;
        this.sndNxt = seqAdd(this.sndUna, -1);
        const savedMax = this.sndMax;
        this.emit(0, false);
        this.sndNxt = saved;
        this.sndMax = savedMax;
        this.setTimer(T_KEEP, idle >= v[tcpKeepIdle.slot]! ? v[tcpKeepIntvl.slot]! : v[tcpKeepIdle.slot]! - idle);
        return;
      }
      case T_2MSL:
        // TIME-WAIT over, or FIN-WAIT-2 gave up on the peer.
        this.drop(null);
        return;
    }
  }

  private setPersist(): void {
    // RFC 9293 3.8.6.1 with RFC 6298 backoff, bounded as FreeBSD's TCPTV_PERSMIN/MAX.
    const base = this.srtt === 0 ? 1000 : this.srtt + 4 * this.rttvar;
    const t = Math.min(Math.max(base * TCP_BACKOFF[Math.min(this.rxtShift, TCP_BACKOFF.length - 1)]!, TCP_PERSMIN), TCP_PERSMAX);
    this.setTimer(T_PERSIST, t);
  }

  private restartKeep(): void {
    const v = this.host.sysctl;
    if (this.state < TCPS.ESTABLISHED) return; // keepinit runs until established
    if (this.keepAlive) this.setTimer(T_KEEP, v[tcpKeepIdle.slot]!);
  }

  /** SO_KEEPALIVE on or off. */
  setKeepAlive(on: boolean): void {
    this.keepAlive = on;
    if (on) {
      this.lastRcv = this.host.now();
      this.restartKeep();
    } else if (this.state >= TCPS.ESTABLISHED) this.clearTimer(T_KEEP);
  }

  private enterTimeWait(): void {
    this.setState(TCPS.TIME_WAIT);
    for (let s = 0; s < NTIMERS; s++) this.deadline[s] = 0;
    this.setTimer(T_2MSL, 2 * this.host.sysctl[tcpMsl.slot]!);
    const so = this.so;
    this.so = NO_HOOKS;
    so.closed();
  }

  /** PMTU discovery (RFC 1191): the path carries at most `mtu` bytes; resend what was too big. */
  mtuChanged(mtu: number): void {
    const mss = mtu - 40;
    if (mss >= this.maxseg || mss < 64) return;
    this.maxseg = mss;
    this.mssOffer = Math.min(this.mssOffer, mss);
    this.smss = mss - (this.tsOn ? TS_OPTLEN : 0);
    this.host.stat.mturesent++;
    if (this.sndMax !== this.sndUna) {
      this.sndNxt = this.sndUna;
      this.output();
    }
  }

  /**
   * A soft error from ICMP (host/net unreachable) or from our own output
   * (ARP gave up: EHOSTDOWN), as FreeBSD's tcp_notify: refused or repeated
   * while connecting is fatal; on an established connection unreachability
   * is transient and ignored; otherwise it is kept for a later timeout.
   */
  softError(e: TcpErrno): void {
    if (e === 'ECONNREFUSED') {
      // Port unreachable matters only to a connect in progress (tcp_drop_syn_sent).
      if (this.state === TCPS.SYN_SENT) this.drop(e);
      return;
    }
    if (this.state === TCPS.ESTABLISHED && (e === 'EHOSTUNREACH' || e === 'ENETUNREACH' || e === 'EHOSTDOWN')) return;
    if (this.state < TCPS.ESTABLISHED && this.rxtShift > 3 && this.softErr !== null) {
      this.drop(e);
      return;
    }
    this.softErr = e;
  }

  /** Drop the connection: CLOSED, timers off, the socket told. `e` null for an orderly end. */
  drop(e: TcpErrno | null): void {
    if (this.state === TCPS.CLOSED) return;
    if (e === 'ETIMEDOUT' && this.softErr !== null) e = this.softErr; // tcp_drop reports the soft error
    const st = this.host.stat;
    if (this.state < TCPS.ESTABLISHED) {
      if (e !== null || !this.passive) st.conndrops++;
    } else if (e !== null) st.drops++;
    st.closed++;
    this.setState(TCPS.CLOSED);
    for (let s = 0; s < NTIMERS; s++) this.deadline[s] = 0;
    this.timer?.cancel();
    this.timer = null;
    this.timerAt = Infinity;
    this.reass.clear();
    this.snd.clear();
    this.sacked.length = 0;
    this.host.detach(this);
    const so = this.so;
    this.so = NO_HOOKS;
    if (e !== null) so.error(e);
    so.closed();
  }
}

