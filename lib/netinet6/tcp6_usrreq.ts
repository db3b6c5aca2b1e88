/**
 * TCP over IPv6 (FreeBSD's tcp6_input and the isipv6 branches of
 * tcp_output.c, tcp_subr.c and tcp_syncache.c): the same connections,
 * listeners, SYN cookies and state machine as IPv4 (tcp_usrreq.ts and the
 * files beside it), with IPv6 input from the protocol switch, segments
 * built under an IPv6 header with the RFC 8200 8.1 pseudo-header checksum,
 * the MSS from the path MTU (MTU - 60, pmtu6.ts), and ICMPv6 errors (packet too big
 * lowers the MSS; unreachables are soft errors).
 *
 * Through a link that offloads (a TAP), segments go out as one large
 * segment with a partial checksum and VIRTIO_NET_HDR_GSO_TCPV6 metadata,
 * as over IPv4; elsewhere they are one MSS and checksummed here.
 */

import type { Ifnet } from '../net/if.js';
import { ip6ProtoRegister, type CtlErrno, type Vnet } from '../net/vnet.js';
import { allocPacket } from '../netinet/ip_var.js';
import type { TcpCb, TcpErrno } from '../netinet/tcp/tcp_cb.js';
import { seq, seqAdd, seqGt } from '../netinet/tcp/tcp_seq.js';
import type { TcpImage, TcpPcb } from '../netinet/tcp/tcp_usrreq.js';
import { tcpMssDflt, tcpTso } from '../netinet/tcp/tcp_var.js';
import { INP_IPV6 } from '../socket/in_pcb.js';
import { u32 } from '../wire/bytes.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { IP6_DST_OFF, IP6_HDR_LEN, IP6_SRC_OFF, IPPROTO6, emitIpv6Raw, in6Copy, in6IsLinkLocal, in6IsLoopback, in6IsUnspecified } from '../wire/ipv6.js';
import { TH, emitTcp, parseTcp, tcpHeaderLen, type TcpRepr } from '../wire/tcp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { ETHER_HDR_LEN } from '../wire/ethernet.js';
import { in6Local } from './in6.js';
import { ip6DefHlim, type Out6Result } from './ip6_var.js';
import { ip6Output } from './ip6_output.js';
import { ip6PathMtu } from './pmtu6.js';

const EMPTY = new Uint8Array(0);

/** The four words of an address folded into one (ISN, timestamp offset and SYN cookie hashes). */
export function in6Fold(b: Uint8Array, o: number): number {
  return (u32(b, o) ^ u32(b, o + 4) ^ u32(b, o + 8) ^ u32(b, o + 12)) >>> 0;
}

/** Subsystem init (after tcp and inet6): TCP in the IPv6 protocol switch. */
export function tcp6Init(im: Vnet): void {
  ip6ProtoRegister(im, IPPROTO6.TCP, { input: tcp6Input, ctlinput: tcp6CtlInput });
}

/** IPv6 input for next header 6: the TCP header at buf[hoff], the IPv6 header at buf[off]. */
export function tcp6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  const t = im.tcp;
  const st = t.stat;
  st.rcvtotal++;
  const v = t.view.reset(buf, hoff, off + ip6Len - hoff);
  const fault = v.check();
  if (fault !== 'ok') {
    st[fault]++;
    return;
  }
  const s = off + IP6_SRC_OFF;
  const d = off + IP6_DST_OFF;
  if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0) {
    if (foldComplement(sum16(buf, v.off, v.len, pseudoHeaderSum6(buf, s, d, v.len, IPPROTO6.TCP))) !== 0) {
      st.rcvbadsum++;
      return;
    }
  }
  // RFC 1122 4.2.3.10 carried over: no TCP to a multicast group.
  if (mcast) {
    if ((v.flags & TH.SYN) !== 0) st.badsyn++;
    else st.noport++;
    return;
  }
  // FreeBSD's tcp_input: :: marks an unconnected PCB, so a segment from it could confuse the lookups; dropped (counted as a bad attempt).
  if (in6IsUnspecified(buf, s)) {
    st.badsyn++;
    return;
  }
  t.in6 = true;
  t.in6buf = buf;
  t.in6src = s;
  t.in6dst = d;
  t.in6ifp = ifp;
  t.segment(ifp, parseTcp(v, t.seg), buf, v.payloadOffset, v.payloadLength, in6Fold(buf, s), in6Fold(buf, d));
  t.in6 = false;
  t.in6buf = EMPTY;
  t.in6ifp = null;
}

/** Fill the TCP checksum of the segment at b[th, th+len) under the IPv6 header at b[ip]. */
export function tcp6Checksum(b: Uint8Array, ip: number, th: number, len: number): void {
  b[th + 16] = 0;
  b[th + 17] = 0;
  const c = foldComplement(sum16(b, th, len, pseudoHeaderSum6(b, ip + IP6_SRC_OFF, ip + IP6_DST_OFF, len, IPPROTO6.TCP)));
  b[th + 16] = c >>> 8;
  b[th + 17] = c & 0xff;
}

/** One segment of connection cb (the TcpHost's output over IPv6): header fields in r, payload `len` bytes `off` after SND.UNA. */
export function tcp6Output(t: TcpImage, cb: TcpCb, r: TcpRepr, off: number, len: number): Out6Result {
  const im = t.im;
  const hl = tcpHeaderLen(r);
  const tl = hl + len;
  const total = IP6_HDR_LEN + tl;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  emitIpv6Raw(b, o, tl, IPPROTO6.TCP, im.sysctl.v[ip6DefHlim.slot]!, cb.laddr6!, 0, cb.faddr6!, 0);
  const th = o + IP6_HDR_LEN;
  emitTcp(r, b, th);
  if (len > 0) cb.snd.copyOut(off, len, b, th + hl);
  let m = im.noOffload;
  if (cb.tsoMax > 0) {
    // The link completes the checksum and cuts a segment larger than one MSS (VIRTIO_NET_HDR_GSO_TCPV6).
    m = t.meta.clear();
    let sum = pseudoHeaderSum6(b, o + IP6_SRC_OFF, o + IP6_DST_OFF, tl, IPPROTO6.TCP);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    b[th + 16] = sum >>> 8;
    b[th + 17] = sum & 0xff;
    m.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    m.csumStart = ETHER_HDR_LEN + IP6_HDR_LEN;
    m.csumOffset = 16;
    if (len > cb.smss) {
      m.gsoType = VIRTIO_NET_HDR_GSO.TCPV6;
      m.gsoSize = cb.smss;
      m.hdrLen = ETHER_HDR_LEN + IP6_HDR_LEN + hl;
    }
  } else tcp6Checksum(b, o, th, tl);
  let res: Out6Result;
  if (cb.zone === null) res = ip6Output(im, b, o, total, m);
  else {
    t.out6.ifp = cb.zone;
    res = ip6Output(im, b, o, total, m, t.out6);
  }
  if (res === 'EMSGSIZE' && len > cb.smss) {
    // The path left the offloading link: MSS-sized segments from now on; the retransmit timer resends this one.
    cb.tsoMax = 0;
    return 0;
  }
  return res;
}

/** A segment without a connection (RST, SYN cookie SYN,ACK) from s[so] to d[do], `ifp` the zone of a link-local peer. */
export function tcp6SendBare(t: TcpImage, sb: Uint8Array, so: number, db: Uint8Array, dso: number, ifp: Ifnet | null, x: TcpRepr): void {
  const im = t.im;
  const hl = tcpHeaderLen(x);
  const total = IP6_HDR_LEN + hl;
  const p = allocPacket(total);
  emitIpv6Raw(p.buf, p.off, hl, IPPROTO6.TCP, im.sysctl.v[ip6DefHlim.slot]!, sb, so, db, dso);
  emitTcp(x, p.buf, p.off + IP6_HDR_LEN);
  tcp6Checksum(p.buf, p.off, p.off + IP6_HDR_LEN, hl);
  if (ifp !== null && (in6IsLinkLocal(db, dso) || in6IsLinkLocal(sb, so))) {
    t.out6.ifp = ifp;
    ip6Output(im, p.buf, p.off, total, im.noOffload, t.out6);
  } else ip6Output(im, p.buf, p.off, total, im.noOffload);
}

/** A listener took the IPv6 SYN being processed: the new endpoint's addresses and route parameters. */
export function tcp6Spawned(t: TcpImage, cb: TcpCb, pcb: TcpPcb): void {
  const b = t.in6buf;
  if (!pcb.af6) pcb.setAf6(true);
  pcb.vflag = INP_IPV6;
  in6Copy(pcb.laddr6!, 0, b, t.in6dst);
  in6Copy(pcb.faddr6!, 0, b, t.in6src);
  pcb.zone = in6IsLinkLocal(b, t.in6src) || in6IsLinkLocal(b, t.in6dst) ? t.in6ifp : null;
  tcp6Attach(t, cb, pcb);
}

/** Point the connection at its PCB's IPv6 addresses and size its segments for the path. */
export function tcp6Attach(t: TcpImage, cb: TcpCb, pcb: TcpPcb): void {
  cb.laddr6 = pcb.laddr6;
  cb.faddr6 = pcb.faddr6;
  cb.zone = pcb.zone;
  cb.laddr = 0;
  cb.faddr = 0;
  cb.lport = pcb.lport;
  cb.fport = pcb.fport;
  tcp6RouteParams(t, cb, pcb.faddr6!, 0, pcb.zone);
}

/**
 * The MSS offer for a connection to b[o]%zone (FreeBSD's tcp_mssopt with
 * isipv6): the route's link MTU minus the IPv6 and TCP headers (60), at
 * least net.inet.tcp.mssdflt where the MTU allows; the loopback's MTU for
 * our own addresses.
 */
export function tcp6RouteParams(t: TcpImage, cb: Pick<TcpCb, 'mssOffer' | 'tsoMax'>, b: Uint8Array, o: number, zone: Ifnet | null): void {
  const im = t.im;
  let mtu = 1280;
  let ifp: Ifnet | null = null;
  if (in6IsLoopback(b, o) || in6Local(im, b, o, zone) !== undefined) mtu = im.lo0.mtu;
  else if (zone !== null && in6IsLinkLocal(b, o)) {
    ifp = zone;
    mtu = ip6PathMtu(im, zone, b, o);
  } else {
    const rt = im.route6.lookup(b, o);
    if (rt !== undefined) {
      ifp = rt.ifp;
      mtu = ip6PathMtu(im, rt.ifp, b, o);
    }
  }
  const dflt = t.sysctl[tcpMssDflt.slot]!;
  cb.mssOffer = Math.max(Math.min(mtu - 60, 65475), Math.min(dflt, mtu - 60));
  // TSO: one segment of up to 64 KiB when the route's link offloads (a TAP), as over IPv4.
  cb.tsoMax = ifp !== null && ifp.driver.offload && !ifp.loopback && t.sysctl[tcpTso.slot] === 1 ? 65535 - 60 : 0;
}

/**
 * An ICMPv6 error quoting a segment we sent (tcp6_ctlinput): the quoted
 * IPv6 header at buf[q], its TCP header at buf[uh]. Packet too big lowers
 * the MSS (RFC 8201); the others are soft errors, as over IPv4.
 */
export function tcp6CtlInput(im: Vnet, errno: CtlErrno, mtu: number, buf: Uint8Array, q: number, uh: number): void {
  const sport = (buf[uh]! << 8) | buf[uh + 1]!;
  const dport = (buf[uh + 2]! << 8) | buf[uh + 3]!;
  const pcb = im.tcp.tcb.lookupConnected6(buf, q + IP6_SRC_OFF, sport, buf, q + IP6_DST_OFF, dport, null);
  const cb = pcb?.cb;
  if (cb === null || cb === undefined) return;
  // RFC 5927: the quoted sequence number must be in flight.
  const s = u32(buf, uh + 4);
  if (!(seqGt(seq(s), seqAdd(cb.sndUna, -1)) && !seqGt(seq(s), cb.sndMax))) return;
  if (errno === 'EMSGSIZE') {
    cb.mtuChanged(Math.max(mtu, 1280)); // RFC 8200 5: never below the minimum MTU
    return;
  }
  if (errno === 'ENOPROTOOPT') return;
  cb.softError(errno as TcpErrno);
}
