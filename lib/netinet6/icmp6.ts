/**
 * ICMPv6 (RFC 4443; FreeBSD's icmp6.c): input with its checks (length,
 * checksum, codes), echo replies, Neighbor Discovery dispatch, error
 * generation with RFC 4443 2.4's restrictions and a per-second limit
 * (net.inet6.icmp6.errppslimit), in/out histograms, and the ICMPv6
 * endpoints ping6 reads replies and errors from (FreeBSD's raw ICMPv6
 * sockets, reduced to what ping6 needs).
 */

import { allocPacket } from '../netinet/ip_var.js';
import type { Ifnet } from '../net/if.js';
import type { CtlErrno, Vnet } from '../net/vnet.js';
import { ICMP6_DST_UNREACH, ICMP6_HDR_LEN, ICMP6_PARAMPROB, ICMP6_TYPE, emitIcmp6Echo, icmp6Checksum, icmp6FillChecksum } from '../wire/icmp6.js';
import {
  IN6ADDR_ANY,
  IP6_DST_OFF,
  IP6_HDR_LEN,
  IP6_SRC_OFF,
  IPPROTO6,
  IPV6_MMTU,
  emitIpv6Raw,
  in6IsLinkLocal,
  in6IsMulticast,
  in6IsUnspecified,
  in6Copy,
  type In6Addr,
} from '../wire/ipv6.js';
import { put32, u32 } from '../wire/bytes.js';
import type { VnetHdr } from '../wire/vnet.js';
import { in6Local, in6SelectSource } from './in6.js';
import { icmp6ErrPpsLimit, ip6DefHlim, type Out6Result } from './ip6_var.js';
import { ip6Output } from './ip6_output.js';
import { nd6NaInput, nd6NsInput } from './nd6_nbr.js';
import { nd6RaInput, nd6RsInput } from './nd6_rtr.js';
import { ip6LinkMtu, pmtu6Update } from './pmtu6.js';

/** What an ICMPv6 endpoint is handed: the packet (IPv6 header at ip, message at ic, icmpLen bytes) and the interface it came in on. */
export type Icmp6Handler = (buf: Uint8Array, ip: number, ic: number, icmpLen: number, ifp: Ifnet) => void;

/** netstat's names of ICMPv6 types (FreeBSD's icmp6names). */
export const ICMP6_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo',
  129: 'echo reply',
  130: 'multicast listener query',
  131: 'MLDv1 listener report',
  132: 'MLDv1 listener done',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
  143: 'MLDv2 listener report',
};

export class Icmp6State {
  #in: Float64Array | null = null;
  #out: Float64Array | null = null;
  /** Messages received, by type (netstat -s -p icmp6's input histogram); made on first use: 2 KiB off the heap an idle image need not hold. */
  get inhist(): Float64Array {
    return (this.#in ??= new Float64Array(256));
  }
  /** Messages sent, by type (the output histogram). */
  get outhist(): Float64Array {
    return (this.#out ??= new Float64Array(256));
  }
  /** The errppslimit window: its start (clock ms) and errors sent in it. */
  errWindow = -Infinity;
  errCount = 0;
  readonly endpoints = new Set<Icmp6Endpoint>();
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly icmp6: Icmp6State;
  }
}

/** An ICMPv6 endpoint of a program in the image (ping6): echo replies and errors in, messages out. */
export class Icmp6Endpoint {
  readonly #im: Vnet;
  #handler: Icmp6Handler | null = null;
  #open = true;
  /** Valid router solicitations come here too (FreeBSD's ICMP6_FILTER, as rtadvd sets it). */
  wantsRs = false;

  constructor(im: Vnet) {
    this.#im = im;
    im.icmp6.endpoints.add(this);
  }

  onPacket(fn: Icmp6Handler): void {
    this.#handler = fn;
  }

  /** @internal */
  deliver(buf: Uint8Array, ip: number, ic: number, len: number, ifp: Ifnet): void {
    this.#handler?.(buf, ip, ic, len, ifp);
  }

  /**
   * Send the ICMPv6 message `msg` (its checksum is computed here) to `dst`,
   * from `src` (or a selected source), with hop limit `hlim`; `zone` is the
   * interface of a link-scoped destination.
   */
  send(dst: In6Addr, msg: Uint8Array, o: { zone?: Ifnet; hlim?: number; src?: In6Addr } = {}): Out6Result {
    if (!this.#open) return 'ENETUNREACH';
    const im = this.#im;
    const p = allocPacket(IP6_HDR_LEN + msg.length);
    p.buf.set(msg, p.off + IP6_HDR_LEN);
    emitIpv6Raw(p.buf, p.off, msg.length, IPPROTO6.ICMPV6, o.hlim ?? im.sysctl.v[ip6DefHlim.slot]!, o.src ?? IN6ADDR_ANY, 0, dst, 0);
    // The source is chosen before the checksum, which covers it.
    if (o.src === undefined) {
      const ifp = o.zone ?? im.route6.lookup(dst, 0)?.ifp ?? in6Local(im, dst, 0, null)?.ifp;
      if (ifp === undefined) {
        im.ip6stat.noroute++;
        return 'EHOSTUNREACH';
      }
      const src = in6SelectSource(im, ifp, dst, 0);
      if (src === undefined) return 'EADDRNOTAVAIL';
      in6Copy(p.buf, p.off + IP6_SRC_OFF, src, 0);
    }
    icmp6FillChecksum(p.buf, p.off, p.off + IP6_HDR_LEN, msg.length);
    im.icmp6.outhist[msg[0]!]!++;
    return ip6Output(im, p.buf, p.off, IP6_HDR_LEN + msg.length, im.noOffload, o.zone !== undefined ? { ifp: o.zone } : undefined);
  }

  close(): void {
    this.#open = false;
    this.#handler = null;
    this.#im.icmp6.endpoints.delete(this);
  }
}

export function icmp6Destroy(im: Vnet): void {
  for (const ep of [...im.icmp6.endpoints]) ep.close();
}

/** ICMPv6 input: the message is at buf[hoff, off+ip6Len). */
export function icmp6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  void meta;
  const st = im.icmp6stat;
  const len = off + ip6Len - hoff;
  if (len < ICMP6_HDR_LEN) {
    st.tooshort++;
    return;
  }
  if (icmp6Checksum(buf, off, hoff, len) !== 0) {
    st.checksum++;
    return;
  }
  const type = buf[hoff]!;
  const code = buf[hoff + 1]!;
  im.icmp6.inhist[type]!++;
  switch (type) {
    case ICMP6_TYPE.ECHO_REQUEST:
      if (code !== 0) {
        st.badcode++;
        return;
      }
      icmp6Reflect(im, ifp, buf, off, hoff, len, mcast);
      return;
    case ICMP6_TYPE.NEIGHBOR_SOLICIT:
    case ICMP6_TYPE.NEIGHBOR_ADVERT:
      if (code !== 0) {
        st.badcode++;
        return;
      }
      if (type === ICMP6_TYPE.NEIGHBOR_SOLICIT) nd6NsInput(im, ifp, buf, off, hoff, len);
      else nd6NaInput(im, ifp, buf, off, hoff, len);
      return;
    case ICMP6_TYPE.ECHO_REPLY:
    case ICMP6_TYPE.DST_UNREACH:
    case ICMP6_TYPE.PACKET_TOO_BIG:
    case ICMP6_TYPE.TIME_EXCEEDED:
    case ICMP6_TYPE.PARAM_PROB:
      if (type !== ICMP6_TYPE.ECHO_REPLY && len < ICMP6_HDR_LEN + IP6_HDR_LEN) {
        st.tooshort++;
        return;
      }
      for (const ep of im.icmp6.endpoints) ep.deliver(buf, off, hoff, len, ifp);
      if (type === ICMP6_TYPE.PACKET_TOO_BIG) icmp6MtuDisc(im, ifp, buf, hoff);
      if (type !== ICMP6_TYPE.ECHO_REPLY) icmp6Notify(im, buf, hoff, len, type, code);
      return;
    case ICMP6_TYPE.ROUTER_SOLICIT:
      if (nd6RsInput(im, ifp, buf, off, hoff, len)) for (const ep of im.icmp6.endpoints) if (ep.wantsRs) ep.deliver(buf, off, hoff, len, ifp);
      return;
    case ICMP6_TYPE.ROUTER_ADVERT:
      nd6RaInput(im, ifp, buf, off, hoff, len);
      return;
    default:
      // Redirects, MLD and unknown informational
      // messages: not acted on yet (RFC 4443 2.4 (b): unknown ones are dropped).
      return;
  }
}

/** An echo reply to the request at buf[ic, ic+len) (RFC 4443 4.2): a new packet with the same data. */
function icmp6Reflect(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ic: number, len: number, mcast: boolean): void {
  const p = allocPacket(IP6_HDR_LEN + len);
  const b = p.buf;
  const ip = p.off;
  b.set(buf.subarray(ic, ic + len), ip + IP6_HDR_LEN);
  emitIcmp6Echo(ICMP6_TYPE.ECHO_REPLY, (buf[ic + 4]! << 8) | buf[ic + 5]!, (buf[ic + 6]! << 8) | buf[ic + 7]!, b, ip + IP6_HDR_LEN);
  // Reply from the address the request went to, unless that was a group (RFC 4443 4.2).
  const src = mcast ? in6SelectSource(im, ifp, buf, off + IP6_SRC_OFF) : undefined;
  if (mcast && src === undefined) return;
  emitIpv6Raw(b, ip, len, IPPROTO6.ICMPV6, im.sysctl.v[ip6DefHlim.slot]!, src ?? buf, src !== undefined ? 0 : off + IP6_DST_OFF, buf, off + IP6_SRC_OFF);
  icmp6FillChecksum(b, ip, ip + IP6_HDR_LEN, len);
  im.icmp6stat.reflect++;
  im.icmp6.outhist[ICMP6_TYPE.ECHO_REPLY]!++;
  ip6Output(im, b, ip, IP6_HDR_LEN + len, im.noOffload, { ifp: ifp.loopback ? (in6Local(im, buf, off + IP6_SRC_OFF, ifp)?.ifp ?? ifp) : ifp });
}

/**
 * Send an ICMPv6 error about the packet at buf[off, off+ip6Len) that came
 * in on `ifp` (FreeBSD's icmp6_error). RFC 4443 2.4 (e): never about an
 * ICMPv6 error or a redirect, never to a multicast destination except a
 * packet too big or an unrecognised option (parameter problem code 2), never
 * from an unspecified or multicast source; (f): limited per second.
 * `proto` and `hoff` are the upper layer and where its header starts, when
 * the caller walked that far (else -1).
 */
export function icmp6Error(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ip6Len: number, proto: number, hoff: number, type: number, code: number, param: number): void {
  const st = im.icmp6stat;
  st.error++;
  const src = off + IP6_SRC_OFF;
  const dst = off + IP6_DST_OFF;
  if (in6IsMulticast(buf, dst) && type !== ICMP6_TYPE.PACKET_TOO_BIG && !(type === ICMP6_TYPE.PARAM_PROB && code === ICMP6_PARAMPROB.OPTION)) {
    st.canterror++;
    return;
  }
  if (in6IsUnspecified(buf, src) || in6IsMulticast(buf, src)) {
    st.canterror++;
    return;
  }
  if (proto < 0) {
    // Find the upper layer past any extension headers, without judging them (FreeBSD's ip6_lasthdr).
    const end = off + ip6Len;
    proto = buf[off + 6]!;
    hoff = off + IP6_HDR_LEN;
    for (let n = 0; n < 16 && (proto === 0 || proto === 43 || proto === 60 || proto === 44) && hoff + 8 <= end; n++) {
      const next = buf[hoff]!;
      hoff += proto === 44 ? 8 : (buf[hoff + 1]! + 1) << 3;
      proto = next;
    }
  }
  if (proto === IPPROTO6.ICMPV6 && hoff < off + ip6Len) {
    const t = buf[hoff]!;
    if (t < 128 || t === ICMP6_TYPE.REDIRECT) {
      st.canterror++;
      return;
    }
  }
  const now = im.clock.now();
  const limit = im.sysctl.v[icmp6ErrPpsLimit.slot]!;
  if (now - im.icmp6.errWindow >= 1000) {
    im.icmp6.errWindow = now;
    im.icmp6.errCount = 0;
  }
  if (limit > 0 && ++im.icmp6.errCount > limit) {
    st.toofreq++;
    return;
  }
  // As much of the packet as fits the minimum MTU (RFC 4443 2.4 (c)).
  const quote = Math.min(ip6Len, IPV6_MMTU - IP6_HDR_LEN - ICMP6_HDR_LEN);
  const mlen = ICMP6_HDR_LEN + quote;
  const p = allocPacket(IP6_HDR_LEN + mlen);
  const b = p.buf;
  const ip = p.off;
  const ic = ip + IP6_HDR_LEN;
  b[ic] = type;
  b[ic + 1] = code;
  put32(b, ic + 4, param);
  b.set(buf.subarray(off, off + quote), ic + ICMP6_HDR_LEN);
  // From the address the packet was for when it is ours, else one of the arrival interface's.
  const ours = in6Local(im, buf, dst, ifp);
  const from = ours !== undefined ? ours.addr : in6SelectSource(im, ifp, buf, src);
  if (from === undefined) {
    st.canterror++;
    return;
  }
  emitIpv6Raw(b, ip, mlen, IPPROTO6.ICMPV6, im.sysctl.v[ip6DefHlim.slot]!, from, 0, buf, src);
  icmp6FillChecksum(b, ip, ic, mlen);
  im.icmp6.outhist[type]!++;
  ip6Output(im, b, ip, IP6_HDR_LEN + mlen, im.noOffload, { ifp });
}

/**
 * A Packet Too Big about a packet we sent (FreeBSD's icmp6_mtudisc_update):
 * the path MTU to the quoted destination goes down (pmtu6.ts). Only a quote
 * whose source is one of our addresses is believed (RFC 8201 4 and 5.2:
 * the node checks the quoted packet is one it could have sent).
 */
function icmp6MtuDisc(im: Vnet, ifp: Ifnet, buf: Uint8Array, ic: number): void {
  const q = ic + ICMP6_HDR_LEN;
  if (in6Local(im, buf, q + IP6_SRC_OFF, null) === undefined) return;
  const d = q + IP6_DST_OFF;
  if (in6IsMulticast(buf, d)) return;
  const out = in6IsLinkLocal(buf, d) ? ifp : (im.route6.lookup(buf, d)?.ifp ?? ifp);
  if (pmtu6Update(im, buf, d, u32(buf, ic + 4), ip6LinkMtu(im, out))) im.icmp6stat.pmtuchg++;
}

/**
 * Tell the transport that sent the packet an error quotes (FreeBSD's
 * icmp6_notify_error and inet6ctlerrmap): port unreachable refuses, packet
 * too big carries the MTU, the others are unreachability. Only a quote whose
 * upper-layer header follows the IPv6 header directly is matched.
 */
function icmp6Notify(im: Vnet, buf: Uint8Array, ic: number, len: number, type: number, code: number): void {
  const q = ic + ICMP6_HDR_LEN;
  const uh = q + IP6_HDR_LEN;
  if (uh + 8 > ic + len) return;
  const sw = im.protosw.ip6[buf[q + 6]!];
  if (sw === null || sw === undefined || sw.ctlinput === undefined) return;
  let errno: CtlErrno = 'EHOSTUNREACH';
  let mtu = 0;
  if (type === ICMP6_TYPE.DST_UNREACH && code === ICMP6_DST_UNREACH.NOPORT) errno = 'ECONNREFUSED';
  else if (type === ICMP6_TYPE.PACKET_TOO_BIG) {
    errno = 'EMSGSIZE';
    mtu = u32(buf, ic + 4);
  } else if (type === ICMP6_TYPE.PARAM_PROB) errno = 'ENOPROTOOPT';
  sw.ctlinput(im, errno, mtu, buf, q, uh);
}
