/**
 * TCP in an image: the per-image connection table (`tcbinfo`), input
 * demultiplexing (with the validation ladder and tcpstat counters), listen
 * queues with SYN cookies when they overflow, resets for segments to closed
 * ports (net.inet.tcp.blackhole), segment output through IP with checksum
 * and segmentation offload when the route's link takes it (TSO: one large
 * segment with virtio-net GSO metadata), and ICMP errors for connections.
 *
 * The protocol itself is in tcp_cb.ts and the files beside it (tcp_input,
 * tcp_output, tcp_timer, tcp_sack, tcp_congestion, tcp_reass, tcp_subr);
 * this file is the glue the image provides as its `TcpHost`.
 */

import { tcpKeyedHash, tcpNewIsn, tcpNewTsOffset } from './tcp_isn.js';
import type { Clock, Timer } from '../../clock.js';
import type { Vnet } from '../../net/vnet.js';
import type { Ifnet } from '../../net/if.js';
import { INP_IPV4, InPcb, PcbTable } from '../../socket/in_pcb.js';
import { in6Fold, tcp6Output, tcp6RouteParams, tcp6SendBare, tcp6Spawned } from '../../netinet6/tcp6_usrreq.js';
import { foldComplement, pseudoHeaderSum, sum16 } from '../../wire/checksum.js';
import { ETHER_HDR_LEN } from '../../wire/ethernet.js';
import { TH, TcpPacket, emitTcp, newTcpRepr, parseTcp, tcpChecksum, tcpHeaderLen, tcpPseudoChecksum, setTcpRepr, type TcpRepr } from '../../wire/tcp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, VnetHdr, type VnetHdr as VnetHdrT } from '../../wire/vnet.js';
import { icmpLim, icmpLimOutput } from '../ip_icmp.js';
import { allocPacket, buildIpHeader, ipOutputLocal, readU32 } from '../ip_output.js';
import { RTF } from '../route.js';
import { TcpCb, type TcpErrno, type TcpHost } from './tcp_cb.js';
import { seq, seqAdd, seqGt } from './tcp_seq.js';
import { TCPS, tcpBlackhole, tcpCcAlgorithm, tcpMssDflt, tcpStats, tcpSyncookies, tcpTso, type TcpStat, type TcpState } from './tcp_var.js';

declare module '../../net/vnet.js' {
  interface Vnet {
    /** TCP connections and listeners (FreeBSD's tcbinfo); made by tcpInit. */
    tcp: TcpImage;
    readonly tcpstat: TcpStat;
  }
}

/** A TCP endpoint in the table: a connection or a listener. */
export class TcpPcb extends InPcb {
  cb: TcpCb | null = null;
  listen: TcpListen | null = null;
}

/** What a listening socket is told. */
export interface TcpListenHooks {
  /** A connection is ready in the accept queue. */
  acceptable(): void;
}

/** A listen queue (FreeBSD's so_incomp / so_comp with so_qlimit). */
export class TcpListen {
  readonly incomplete = new Set<TcpCb>();
  readonly ready: TcpCb[] = [];
  /** Connections refused because the queue was full (netstat -L's third number is ours to add). */
  overflows = 0;
  /** TCP_NODELAY inherited by accepted connections. */
  noDelay = false;
  constructor(
    readonly pcb: TcpPcb,
    public backlog: number,
    public hooks: TcpListenHooks,
  ) {}

  get qlen(): number {
    return this.incomplete.size + this.ready.length;
  }
}

interface CbPcb {
  pcb: TcpPcb;
}

/** Per-image TCP: the TcpHost of its connections. */
export class TcpImage implements TcpHost {
  readonly im: Vnet;
  readonly stat: TcpStat;
  readonly sysctl: readonly number[];
  readonly tcb = new PcbTable<TcpPcb>('tcp');
  /** Connections per state (netstat's per-state gauges). */
  readonly states = new Float64Array(11);
  private readonly clock: Clock;
  /** @internal Reused per segment (tcp6_usrreq.ts shares them). */
  readonly meta = new VnetHdr();
  /** @internal */
  readonly view = new TcpPacket();
  /** @internal */
  readonly seg: TcpRepr = newTcpRepr();
  private readonly rst: TcpRepr = newTcpRepr();
  /**
   * The IPv6 segment being processed (tcp6_usrreq.ts sets it): its buffer,
   * where its source and destination addresses lie, and the interface it
   * came in on. Replies without a connection (RST, SYN cookies) and new
   * connections take their addresses from here. `in6` false for IPv4.
   */
  in6 = false;
  in6buf: Uint8Array = new Uint8Array(0);
  in6src = 0;
  in6dst = 0;
  in6ifp: Ifnet | null = null;
  /** @internal ip6_output's options for a zoned connection (reused). */
  readonly out6: { ifp?: Ifnet } = {};
  /** SYN cookie secret (per image). */
  private readonly secret: number;
  /** ISN and timestamp-offset secret (per image; FreeBSD's tcp_isn_secret). */
  private readonly isnSecret: number;
  private readonly pcbOf = new WeakMap<TcpCb, CbPcb>();
  /** Every connection (for listing and destroy). */
  readonly conns = new Set<TcpCb>();

  constructor(im: Vnet) {
    this.im = im;
    this.stat = im.tcpstat;
    this.sysctl = im.sysctl.v;
    this.clock = im.clock;
    this.secret = Math.floor(im.random() * 0x100000000) >>> 0;
    this.isnSecret = Math.floor(im.random() * 0x100000000) >>> 0;
  }

  now(): number {
    return this.clock.now();
  }

  after(ms: number, fn: () => void): Timer {
    return this.clock.after(ms, fn);
  }

  random(): number {
    return this.im.random();
  }

  newIsn(cb: TcpCb): number {
    const l = cb.laddr6 !== null ? in6Fold(cb.laddr6, 0) : cb.laddr;
    const f = cb.faddr6 !== null ? in6Fold(cb.faddr6, 0) : cb.faddr;
    return tcpNewIsn(this.isnSecret, l, cb.lport, f, cb.fport, this.clock.now());
  }

  tsOffset(cb: TcpCb): number {
    const l = cb.laddr6 !== null ? in6Fold(cb.laddr6, 0) : cb.laddr;
    const f = cb.faddr6 !== null ? in6Fold(cb.faddr6, 0) : cb.faddr;
    return tcpNewTsOffset(this.isnSecret, l, cb.lport, f, cb.fport);
  }

  stateChange(_cb: TcpCb, from: TcpState, to: TcpState): void {
    this.states[from]!--;
    this.states[to]!++;
  }

  /** A new connection object registered with this image. */
  newCb(): TcpCb {
    const cb = new TcpCb(this, this.sysctl[tcpCcAlgorithm.slot]);
    this.states[TCPS.CLOSED]!++;
    this.conns.add(cb);
    return cb;
  }

  pcbFor(cb: TcpCb): TcpPcb | undefined {
    return this.pcbOf.get(cb)?.pcb;
  }

  attach(cb: TcpCb, pcb: TcpPcb): void {
    pcb.cb = cb;
    this.pcbOf.set(cb, { pcb });
  }

  detach(cb: TcpCb): void {
    if (!this.conns.delete(cb)) return;
    const p = this.pcbOf.get(cb);
    if (p !== undefined) {
      this.tcb.remove(p.pcb);
      p.pcb.cb = null;
    }
    const l = cb.listener as TcpListen | null;
    if (l !== null) {
      l.incomplete.delete(cb);
      const i = l.ready.indexOf(cb);
      if (i >= 0) l.ready.splice(i, 1);
      cb.listener = null;
    }
    this.states[TCPS.CLOSED]!--;
  }

  established(cb: TcpCb): void {
    const l = cb.listener as TcpListen | null;
    if (l === null) return;
    l.incomplete.delete(cb);
    l.ready.push(cb);
    l.hooks.acceptable();
  }

  /** Route-dependent parameters of a connection to `faddr`: MSS offer (clamped to the route MTU) and TSO size. */
  routeParams(cb: TcpCb, faddr: number): void {
    const im = this.im;
    let mtu: number;
    let ifp: Ifnet | undefined;
    if (im.localIfnet(faddr) !== undefined || faddr >>> 24 === 127) {
      ifp = im.lo0;
      mtu = ifp.mtu;
    } else {
      const rt = im.routes.lookup(faddr);
      if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) {
        mtu = 576;
      } else {
        ifp = rt.ifp;
        mtu = rt.mtu !== 0 ? rt.mtu : rt.ifp.mtu;
      }
    }
    const dflt = this.sysctl[tcpMssDflt.slot]!;
    cb.mssOffer = Math.max(Math.min(mtu - 40, 65495), Math.min(dflt, mtu - 40));
    // TSO: one segment of up to 64 KiB, cut by the link (or by gso.ts for a link that cannot).
    cb.tsoMax = ifp !== undefined && ifp.driver.offload && this.sysctl[tcpTso.slot] === 1 && !ifp.loopback ? 65535 - 20 - 60 : 0;
  }

  output(cb: TcpCb, r: TcpRepr, off: number, len: number): void {
    if (cb.faddr6 !== null) {
      this.outputResult(cb, tcp6Output(this, cb, r, off, len));
      return;
    }
    const im = this.im;
    const hl = tcpHeaderLen(r);
    const total = 20 + hl + len;
    const p = allocPacket(total);
    const b = p.buf;
    const o = p.off;
    buildIpHeader(im, b, o, total, 6, cb.laddr, cb.faddr);
    b[o + 6] = 0x40; // DF: path MTU discovery (RFC 1191)
    const t = o + 20;
    emitTcp(r, b, t);
    if (len > 0) cb.snd.copyOut(off, len, b, t + hl);
    const m = this.meta.clear();
    if (cb.tsoMax > 0) {
      // The link completes the checksum (and cuts the segment when it is larger than one MSS).
      tcpPseudoChecksum(b, t, hl + len, cb.laddr, cb.faddr);
      m.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      m.csumStart = ETHER_HDR_LEN + 20;
      m.csumOffset = 16;
      if (len > cb.smss) {
        m.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
        m.gsoSize = cb.smss;
        m.hdrLen = ETHER_HDR_LEN + 20 + hl;
      }
    } else tcpChecksum(b, t, hl + len, cb.laddr, cb.faddr);
    this.outputResult(cb, ipOutputLocal(im, b, o, total, m, { dontFrag: true }));
  }

  /** What a connection makes of its output's result. */
  private outputResult(cb: TcpCb, res: string | 0): void {
    if (res === 'EMSGSIZE') cb.mtuChanged(cb.faddr6 !== null ? 1280 : 576);
    // FreeBSD's tcp_output: once a SYN was received, unreachable or down is a soft error, kept for a timeout.
    else if ((res === 'EHOSTDOWN' || res === 'EHOSTUNREACH' || res === 'ENETUNREACH') && cb.state >= TCPS.SYN_RECEIVED) cb.softErr = res;
    // The firewall refused it: kept; a connect in progress fails at once, as connect(2) returns EACCES.
    else if (res === 'EACCES') {
      cb.softErr = 'EACCES';
      if (cb.state === TCPS.SYN_SENT) cb.drop('EACCES');
    }
  }

  /** Answer a segment no connection wants with RST (RFC 9293 3.10.7.1). */
  respondRst(src: number, dst: number, r: TcpRepr, segLen: number): void {
    const x =
      (r.flags & TH.ACK) !== 0
        ? setTcpRepr(this.rst, r.dstPort, r.srcPort, r.ack, 0, TH.RST, 0)
        : setTcpRepr(this.rst, r.dstPort, r.srcPort, 0, seqAdd(seq(r.seq), segLen), TH.RST | TH.ACK, 0);
    this.sendBare(dst, src, x);
    this.stat.sndrst++;
  }

  /** A segment with no connection behind it (RST, SYN cookie SYN,ACK). */
  private sendBare(src: number, dst: number, x: TcpRepr): void {
    if (this.in6) {
      // An answer to the IPv6 segment being processed: from its destination to its source.
      tcp6SendBare(this, this.in6buf, this.in6dst, this.in6buf, this.in6src, this.in6ifp, x);
      this.stat.sndtotal++;
      return;
    }
    const hl = tcpHeaderLen(x);
    const total = 20 + hl;
    const p = allocPacket(total);
    buildIpHeader(this.im, p.buf, p.off, total, 6, src, dst);
    emitTcp(x, p.buf, p.off + 20);
    tcpChecksum(p.buf, p.off + 20, hl, src, dst);
    this.stat.sndtotal++;
    ipOutputLocal(this.im, p.buf, p.off, total, this.im.noOffload);
  }

  // ------------------------------------------------------------ SYN cookies

  /** Keyed hash of the connection and a 64-second epoch. */
  private cookieHash(src: number, sport: number, dst: number, dport: number, epoch: number, isn: number): number {
    return tcpKeyedHash(this.secret, src, dst, ((sport << 16) | dport) >>> 0, epoch, isn);
  }

  private static readonly MSS_TABLE = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];

  /** SYN,ACK whose ISS encodes the connection (FreeBSD's syncookie): no state kept. */
  private sendCookie(src: number, dst: number, r: TcpRepr, mssOffer: number): void {
    const epoch = Math.floor(this.now() / 64000) & 0x3;
    const peerMss = r.mss !== 0 ? r.mss : 536;
    let mi = 0;
    for (let i = 0; i < TcpImage.MSS_TABLE.length; i++) if (TcpImage.MSS_TABLE[i]! <= Math.min(peerMss, mssOffer)) mi = i;
    const h = this.cookieHash(src, r.srcPort, dst, r.dstPort, epoch, r.seq);
    const iss = ((h & 0xffffffe0) | (epoch << 3) | mi) >>> 0;
    const x = setTcpRepr(this.rst, r.dstPort, r.srcPort, iss, (r.seq + 1) >>> 0, TH.SYN | TH.ACK, 65535);
    x.mss = TcpImage.MSS_TABLE[mi]!;
    this.stat.sc_sendcookie++;
    this.sendBare(dst, src, x);
  }

  /** The MSS a valid cookie in this ACK encodes, or -1. */
  private checkCookie(src: number, dst: number, r: TcpRepr): number {
    const iss = (r.ack - 1) >>> 0;
    const epochNow = Math.floor(this.now() / 64000);
    const e = (iss >>> 3) & 0x3;
    const mi = iss & 0x7;
    // Valid for the current and the previous epoch.
    if (e !== (epochNow & 3) && e !== ((epochNow - 1) & 3)) return -1;
    const h = this.cookieHash(src, r.srcPort, dst, r.dstPort, e, (r.seq - 1) >>> 0);
    if (((h & 0xffffffe0) >>> 0) !== ((iss & 0xffffffe0) >>> 0)) return -1;
    return TcpImage.MSS_TABLE[mi]!;
  }

  // ------------------------------------------------------------------ input

  input(ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdrT, bcast: boolean): void {
    const st = this.stat;
    st.rcvtotal++;
    const v = this.view.reset(buf, off + hlen, ipLen - hlen);
    const fault = v.check();
    if (fault !== 'ok') {
      st[fault]++;
      return;
    }
    const src = readU32(buf, off + 12);
    const dst = readU32(buf, off + 16);
    if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0) {
      if (foldComplement(sum16(buf, v.off, v.len, pseudoHeaderSum(src, dst, 6, v.len))) !== 0) {
        st.rcvbadsum++;
        return;
      }
    }
    // RFC 1122 4.2.3.10: no TCP to or from broadcast and multicast addresses.
    if (bcast || src >>> 28 === 0xe) {
      if ((v.flags & TH.SYN) !== 0) st.badsyn++; // FreeBSD's listen path: a bad connection attempt
      else st.noport++; // no connection has a broadcast or multicast address
      return;
    }
    this.in6 = false;
    this.segment(ifp, parseTcp(v, this.seg), buf, v.payloadOffset, v.payloadLength, src, dst);
  }

  private lookupIn(r: TcpRepr, src: number, dst: number): TcpPcb | undefined {
    if (this.in6) return this.tcb.lookup6(this.in6buf, this.in6dst, r.dstPort, this.in6buf, this.in6src, r.srcPort, this.in6ifp);
    return this.tcb.lookup(dst, r.dstPort, src, r.srcPort);
  }

  /**
   * @internal A checked segment, after the IP layer (both families; for
   * IPv6, `in6` and its fields are set and src/dst are 32-bit folds of the
   * addresses, for the SYN cookie hash).
   */
  segment(ifp: Ifnet, r: TcpRepr, buf: Uint8Array, dOff: number, dLen: number, src: number, dst: number): void {
    let pcb = this.lookupIn(r, src, dst);
    if (pcb !== undefined && pcb.cb !== null && pcb.cb.state === TCPS.TIME_WAIT && (r.flags & (TH.SYN | TH.ACK | TH.RST)) === TH.SYN && seqGt(seq(r.seq), pcb.cb.rcvNxt)) {
      // A new SYN for a connection in TIME-WAIT with a higher sequence number reopens it (RFC 9293 3.6.1, RFC 6191).
      pcb.cb.drop(null);
      pcb = this.lookupIn(r, src, dst);
    }
    if (pcb === undefined || (pcb.cb === null && pcb.listen === null)) {
      this.closedPort(src, dst, r, dLen, ifp);
      return;
    }
    if (pcb.cb !== null) {
      pcb.cb.input(r, buf, dOff, dLen);
      return;
    }
    this.listenInput(pcb, pcb.listen!, src, dst, r);
  }

  private closedPort(src: number, dst: number, r: TcpRepr, dLen: number, _ifp: Ifnet): void {
    this.stat.noport++;
    if ((r.flags & TH.RST) !== 0) return;
    const bh = this.sysctl[tcpBlackhole.slot]!;
    // net.inet.tcp.blackhole: 1 drops SYNs silently, 2 every segment.
    if (bh === 2 || (bh === 1 && (r.flags & TH.SYN) !== 0)) return;
    if (!this.rstAllowed()) return;
    this.respondRst(src, dst, r, dLen + ((r.flags & TH.SYN) !== 0 ? 1 : 0) + ((r.flags & TH.FIN) !== 0 ? 1 : 0));
  }

  private rstWindow = -Infinity;
  private rstCount = 0;

  /**
   * FreeBSD's badport_bandlim(BANDLIM_RST_CLOSEDPORT): resets for closed
   * ports share net.inet.icmp.icmplim per second, so a scan or flood cannot
   * turn the image into a reflector.
   */
  private rstAllowed(): boolean {
    const lim = this.sysctl[icmpLim.slot]!;
    if (lim <= 0) return true;
    const now = this.now();
    if (now - this.rstWindow >= 1000) {
      if (this.rstCount > lim && this.sysctl[icmpLimOutput.slot] === 1) {
        this.im.log.info(`Limiting closed port RST response from ${this.rstCount} to ${lim} packets/sec`);
      }
      this.rstWindow = now;
      this.rstCount = 0;
    }
    return ++this.rstCount <= lim;
  }

  private listenInput(lpcb: TcpPcb, l: TcpListen, src: number, dst: number, r: TcpRepr): void {
    const st = this.stat;
    const f = r.flags;
    if ((f & TH.RST) !== 0) return;
    if ((f & TH.ACK) !== 0) {
      // The third segment of a handshake answered with a cookie?
      if ((f & TH.SYN) === 0 && this.sysctl[tcpSyncookies.slot] === 1) {
        const mss = this.checkCookie(src, dst, r);
        // Half-open entries (a SYN flood) do not keep a real client out: only accepted-ready ones count here.
        if (mss > 0 && l.ready.length <= Math.floor((3 * Math.max(l.backlog, 1)) / 2)) {
          st.sc_recvcookie++;
          this.cookieConnection(lpcb, l, src, dst, r, mss);
          return;
        }
      }
      // RFC 9293 3.10.7.2: an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST>.
      this.respondRst(src, dst, r, 0);
      return;
    }
    if ((f & TH.SYN) === 0) return;
    if (src === dst && r.srcPort === r.dstPort) {
      st.badsyn++; // LAND attack
      return;
    }
    // FreeBSD's sonewconn: refuse past 1.5 x the backlog.
    if (l.qlen >= Math.floor((3 * Math.max(l.backlog, 1)) / 2) + 1) {
      if (this.sysctl[tcpSyncookies.slot] === 1) {
        const cb0 = { mssOffer: 1460, tsoMax: 0 } as TcpCb;
        if (this.in6) tcp6RouteParams(this, cb0, this.in6buf, this.in6src, this.in6ifp);
        else this.routeParams(cb0, src);
        this.sendCookie(src, dst, r, cb0.mssOffer);
        return;
      }
      st.listendrop++;
      l.overflows++;
      return;
    }
    const cb = this.spawn(lpcb, l, src, dst, r.srcPort);
    if (cb === null) return;
    st.sc_added++;
    cb.acceptSyn(r);
  }

  private spawn(lpcb: TcpPcb, l: TcpListen, src: number, dst: number, sport: number): TcpCb | null {
    const cb = this.newCb();
    const pcb = new TcpPcb();
    pcb.lport = lpcb.lport;
    pcb.fport = sport;
    cb.lport = lpcb.lport;
    cb.fport = sport;
    if (lpcb.af6) pcb.setAf6(lpcb.v6only);
    if (this.in6) tcp6Spawned(this, cb, pcb);
    else {
      pcb.vflag = INP_IPV4; // an AF_INET6 listener's IPv4 connection is v4-mapped
      pcb.laddr = dst;
      pcb.faddr = src;
      cb.laddr = dst;
      cb.faddr = src;
      this.routeParams(cb, src);
    }
    this.tcb.insertConnected(pcb);
    this.attach(cb, pcb);
    cb.listener = l;
    cb.noDelay = l.noDelay;
    l.incomplete.add(cb);
    return cb;
  }

  private cookieConnection(lpcb: TcpPcb, l: TcpListen, src: number, dst: number, r: TcpRepr, mss: number): void {
    const cb = this.spawn(lpcb, l, src, dst, r.srcPort);
    if (cb === null) return;
    cb.acceptCookie(r, mss);
  }

  /** ICMP error about a segment we sent: the quoted IP header at buf[q]. */
  ctlInput(errno: TcpErrno | 'ENOPROTOOPT', mtu: number, buf: Uint8Array, q: number): void {
    const hl = (buf[q]! & 0xf) << 2;
    const src = readU32(buf, q + 12);
    const dst = readU32(buf, q + 16);
    const sport = (buf[q + hl]! << 8) | buf[q + hl + 1]!;
    const dport = (buf[q + hl + 2]! << 8) | buf[q + hl + 3]!;
    const pcb = this.tcb.lookupConnected(src, sport, dst, dport);
    const cb = pcb?.cb;
    if (cb === null || cb === undefined) return;
    // RFC 5927 / 5961 spirit: the quoted sequence number must be in flight.
    const s = readU32(buf, q + hl + 4);
    if (!(seqGt(seq(s), seqAdd(cb.sndUna, -1)) && !seqGt(seq(s), cb.sndMax))) return;
    if (errno === 'EMSGSIZE') {
      cb.mtuChanged(mtu !== 0 ? mtu : 576);
      return;
    }
    if (errno === 'ENOPROTOOPT') return;
    cb.softError(errno);
  }

  /** Image destroy: every connection dropped without a word on the wire. */
  destroy(): void {
    for (const cb of [...this.conns]) cb.drop('ECONNABORTED');
    this.tcb.clear();
  }
}

export function tcpInit(im: Vnet): void {
  im.tcp = new TcpImage(im);
}

export function tcpDestroy(im: Vnet): void {
  im.tcp.destroy();
}

/** IP input for protocol 6. */
export function tcpInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdrT, bcast: boolean): void {
  im.tcp.input(ifp, buf, off, hlen, ipLen, meta, bcast);
}

/** ICMP error quoting a TCP segment. */
export function tcpCtlInput(im: Vnet, errno: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'ENOPROTOOPT', mtu: number, buf: Uint8Array, q: number): void {
  im.tcp.ctlInput(errno, mtu, buf, q);
}

export { tcpStats };
