/**
 * One TCP connection (FreeBSD's tcpcb): the control block with the send
 * and receive sequence spaces, its options, timers and buffers, and the
 * calls the socket above makes (connect, send, rcvd, shutdown, close).
 *
 * The protocol runs in plain functions that take the control block, split
 * as FreeBSD splits it: segment processing in tcp_input.ts (and
 * tcp_reass.ts for the data), what to send in tcp_output.ts, the five
 * timers in tcp_timer.ts, SACK in tcp_sack.ts, RTT and congestion control
 * in tcp_congestion.ts (the algorithms in tcp_cc.ts), drops and ICMP
 * notifications in tcp_subr.ts.
 *
 * The logic is nearly pure: `input` takes a parsed segment and its payload,
 * the application calls `send`/`rcvd`/`shutdown`/`close`, and everything a
 * connection emits goes through the `TcpHost` (segments, timer wishes,
 * connection events). The host is the image in production and an
 * in-memory link with a manual clock in tests.
 */

import type { Timer } from '../../clock.js';
import type { Ifnet } from '../../net/if.js';
import { newTcpRepr, type TcpRepr } from '../../wire/tcp.js';
import { CC_ALGORITHMS, newCc, type CcVars, type CongestionControl } from './tcp_cc.js';
import { tcpInput, tcpNegotiate } from './tcp_input.js';
import { tcpOutput, tcpRespondRst } from './tcp_output.js';
import { seq, seqAdd, seqSub, type Seq } from './tcp_seq.js';
import { ReassQueue, RecvBuffer, SendBuffer } from './tcp_sockbuf.js';
import { NO_HOOKS, tcpDrop, tcpMtuDisc, tcpSoftError } from './tcp_subr.js';
import { tcpRestartKeep, tcpTimerActivate, tcpTimersFire, tcpTimerStop } from './tcp_timer.js';
import {
  TCPS,
  TCP_MAXWIN,
  TCP_MAX_WINSHIFT,
  TT_2MSL,
  TT_KEEP,
  TT_N,
  tcpFinWait2Timeout,
  tcpInitCwndSegs,
  tcpKeepInit,
  tcpRecvbufAuto,
  tcpRecvbufMax,
  tcpRecvspace,
  tcpRexmitInitial,
  tcpSendbufAuto,
  tcpSendbufMax,
  tcpSendspace,
  type TcpStat,
  type TcpState,
} from './tcp_var.js';

export { TCP_REASS_MAXQ } from './tcp_reass.js';

export type TcpErrno = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'EHOSTDOWN' | 'EACCES' | 'ECONNABORTED' | 'EMSGSIZE';

/** What a connection needs from where it lives. */
export interface TcpHost {
  now(): number;
  after(ms: number, fn: () => void): Timer;
  random(): number;
  /** The initial send sequence number of cb's connection (RFC 6528; tcp_isn.ts). */
  newIsn(cb: TcpCb): number;
  /** The offset of cb's timestamp clock (RFC 7323 5.4; tcp_isn.ts). */
  tsOffset(cb: TcpCb): number;
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

/**
 * The control block. Fields without a doc sentence mirror FreeBSD's tcpcb
 * members of the same meaning; the protocol files read and write them
 * directly, the socket layer only through the methods and the documented
 * fields.
 */
export class TcpCb implements CcVars {
  readonly host: TcpHost;
  so: TcpSockHooks = NO_HOOKS;
  state: TcpState = TCPS.CLOSED;

  // Endpoints (for the host; the protocol logic does not look at them).
  laddr = 0;
  lport = 0;
  faddr = 0;
  fport = 0;
  /** Over IPv6: the PCB's 16-byte addresses (shared, not copied) and the zone of a link-local pair; null over IPv4. */
  laddr6: Uint8Array | null = null;
  faddr6: Uint8Array | null = null;
  zone: Ifnet | null = null;

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
  requestScale = 0;
  /** The peer's SYN carried a window scale option. */
  wsOk = false;

  // Options in use.
  tsOn = false;
  tsOffset = 0;
  tsRecent = 0;
  tsRecentAge = 0;
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
  cc: CongestionControl;
  rtSeq: Seq = seq(0);
  rtStart = -1;
  /**
   * FreeBSD's t_softerror: the last unreachable or host-down error seen
   * (ICMP, or ARP giving up under our output). A connection that then times
   * out reports it instead of ETIMEDOUT; an RTT sample (the path works) clears it.
   */
  softErr: TcpErrno | null = null;
  /** SACK scoreboard: ranges above SND.UNA the peer holds (left, right pairs, sorted). */
  readonly sacked: Seq[] = [];
  /** Highest byte retransmitted in this recovery (RFC 6675 HighRxt). */
  highRxt: Seq = seq(0);
  /** A duplicate range to report once as the first SACK block of the next ACK (RFC 2883 D-SACK); empty when start === end. */
  dsackStart: Seq = seq(0);
  dsackEnd: Seq = seq(0);

  // Flags.
  ackNow = false;
  noDelay = false;
  keepAlive = false;
  /** The application has shut down sending: a FIN follows the data. */
  finQueued = false;
  sentFin = false;
  /** The peer's FIN has been received. */
  rcvdFin = false;
  /** The application has closed the socket (no more reads). */
  detached = false;
  /** Forces one byte into a zero window (persist probe; FreeBSD's TF_FORCEDATA). */
  force = false;
  challengeCount = 0;
  challengeWindow = 0;
  /** When the last segment arrived (FreeBSD's t_rcvtime). */
  lastRcv = 0;
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
  rcvAutoStart = 0;
  rcvAutoBytes = 0;

  // Timers: deadlines per slot (0 = off), one host timer for the earliest.
  readonly deadline = new Float64Array(TT_N);
  timer: Timer | null = null;
  timerAt = Infinity;
  /** The host timer's callback (one per connection, made once). */
  readonly fire = (): void => tcpTimersFire(this);
  /** The header of the segment being built (reused: no allocation per segment). */
  readonly out: TcpRepr = newTcpRepr();

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

  setState(s: TcpState): void {
    const from = this.state;
    if (from === s) return;
    this.state = s;
    this.host.stateChange(this, from, s);
  }

  private initSendSpace(): void {
    this.iss = seq(this.host.newIsn(this));
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.tsOffset = this.host.tsOffset(this);
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
    tcpTimerActivate(this, TT_KEEP, this.host.sysctl[tcpKeepInit.slot]!);
    tcpOutput(this);
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
    tcpNegotiate(this, r);
    this.sndWnd = r.window; // never scaled in a SYN (RFC 7323 2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = this.irs;
    this.setState(TCPS.SYN_RECEIVED);
    tcpTimerActivate(this, TT_KEEP, this.host.sysctl[tcpKeepInit.slot]!);
    tcpOutput(this);
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

  // -------------------------------------------------------------- user calls

  /** Queue data; returns how many bytes were taken (limited by the send buffer). */
  send(b: Uint8Array): number {
    if (this.finQueued || this.state === TCPS.CLOSED) return 0;
    const n = Math.min(b.length, this.sndSpace);
    if (n === 0) return 0;
    this.snd.append(n === b.length ? b : b.subarray(0, n));
    if (this.state >= TCPS.ESTABLISHED) tcpOutput(this);
    return n;
  }

  /** The application read `n` bytes: the window may open (RFC 9293 3.8.6.2.2 window update). */
  rcvd(): void {
    if (this.state === TCPS.CLOSED || this.state < TCPS.ESTABLISHED) return;
    tcpOutput(this);
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
    tcpOutput(this);
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
    if (this.state === TCPS.FIN_WAIT_2) tcpTimerActivate(this, TT_2MSL, this.host.sysctl[tcpFinWait2Timeout.slot]!);
  }

  /** Send RST and drop (SO_LINGER 0, or close with unread data). */
  abort(): void {
    if (this.state >= TCPS.SYN_RECEIVED && this.state !== TCPS.TIME_WAIT) tcpRespondRst(this, this.sndNxt);
    tcpDrop(this, null);
  }

  /** SO_KEEPALIVE on or off. */
  setKeepAlive(on: boolean): void {
    this.keepAlive = on;
    if (on) {
      this.lastRcv = this.host.now();
      tcpRestartKeep(this);
    } else if (this.state >= TCPS.ESTABLISHED) tcpTimerStop(this, TT_KEEP);
  }

  // ------------------------------------------- entry points of the protocol

  /**
   * A segment for this connection (checksum and header already checked).
   * The payload is buf[off, off+len). RFC 9293 3.10.7.
   */
  input(r: TcpRepr, buf: Uint8Array, off: number, len: number): void {
    tcpInput(this, r, buf, off, len);
  }

  /** Send what the state, the windows and Nagle allow (tcp_output). */
  output(): void {
    tcpOutput(this);
  }

  /** PMTU discovery (RFC 1191): the path carries at most `mtu` bytes; resend what was too big. */
  mtuChanged(mtu: number): void {
    tcpMtuDisc(this, mtu);
  }

  /** A soft error from ICMP or from our own output (tcp_notify). */
  softError(e: TcpErrno): void {
    tcpSoftError(this, e);
  }

  /** Drop the connection: CLOSED, timers off, the socket told. `e` null for an orderly end. */
  drop(e: TcpErrno | null): void {
    tcpDrop(this, e);
  }
}
