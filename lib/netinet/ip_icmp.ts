/**
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo and timestamp replies,
 * error generation for the forwarding and delivery paths, and the per-second
 * response limit (FreeBSD's icmplim / badport_bandlim).
 */

import type { Ifnet } from '../net/if.js';
import type { CtlErrno, Vnet } from '../net/vnet.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { checksumAdjust } from '../wire/checksum.js';
import { ICMP_MINLEN, ICMP_TIMXCEED, ICMP_TSLEN, ICMP_TYPE, ICMP_UNREACH, IcmpPacket, isIcmpError } from '../wire/icmp.js';
import { IPOPT } from '../wire/ip_options.js';
import { IP_HDR_LEN, IP_OFFMASK, IPPROTO, Ipv4Packet } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, type VnetHdr } from '../wire/vnet.js';
import { buildIpHeader, ipOutputLocal } from './ip_output.js';
import { allocPacket, ipDefTtl } from './ip_var.js';
import { redirectInput } from './route_redirect.js';

export const icmpLim = sysctlInt({
  name: 'net.inet.icmp.icmplim',
  def: 200,
  min: 0,
  max: 1_000_000,
  descr: 'Maximum number of ICMP responses per second (0: no limit)',
});
export const icmpBmcastEcho = sysctlInt({
  name: 'net.inet.icmp.bmcastecho',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Reply to ICMP echo and timestamp requests sent to broadcast or multicast addresses',
});
export const icmpQuoteLen = sysctlInt({
  name: 'net.inet.icmp.quotelen',
  def: 548,
  min: 8,
  max: 1472,
  descr: 'Number of bytes of the offending packet quoted after its header in ICMP errors',
});
export const icmpLimOutput = sysctlInt({
  name: 'net.inet.icmp.icmplim_output',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Log when ICMP responses are suppressed by icmplim',
});
export const icmpTstampRepl = sysctlInt({
  name: 'net.inet.icmp.tstamprepl',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Respond to ICMP timestamp requests',
});

export const icmpStats = defineStats({
  error: 'calls to icmp_error',
  oldicmp: 'errors not generated in response to an icmp message',
  oldshort: 'errors not generated because old message was too short',
  badcode: 'messages with bad code fields',
  tooshort: 'messages less than the minimum length',
  checksum: 'messages with bad checksum',
  badlen: 'messages with bad length',
  bmcastecho: 'multicast echo requests ignored',
  bmcasttstamp: 'multicast timestamp requests ignored',
  reflect: 'message responses generated',
  badaddr: 'invalid return addresses',
  noroute: 'no return routes',
  ratelimited: 'responses suppressed by icmplim',
});

/** Names of ICMP types as netstat -s prints them in its histograms. */
export const ICMP_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'echo reply',
  3: 'destination unreachable',
  4: 'source quench',
  5: 'routing redirect',
  6: 'alternate host address',
  8: 'echo',
  9: 'router advertisement',
  10: 'router solicitation',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'time stamp',
  14: 'time stamp reply',
  15: 'information request',
  16: 'information request reply',
  17: 'address mask request',
  18: 'address mask reply',
};

export const ICMP_MAXTYPE = 40;

/** Response kinds limited separately, as FreeBSD's BANDLIM_* classes. */
const LIM_UNREACH = 0;
const LIM_ECHO = 1;
const LIM_TSTAMP = 2;
const LIM_NAMES = ['icmp unreach response', 'icmp ping response', 'icmp tstamp response'];

export type IcmpStat = Stats<(typeof icmpStats.fields)[number]>;

export class IcmpState {
  readonly inhist = new Float64Array(ICMP_MAXTYPE + 1);
  readonly outhist = new Float64Array(ICMP_MAXTYPE + 1);
  readonly limWindow = new Float64Array(3).fill(-Infinity);
  readonly limCount = new Float64Array(3);
  /** The ICMP message being received or built (reused, never allocated per packet). */
  readonly view = new IcmpPacket();
  /** The IP header an error quotes, or the packet an error is about. */
  readonly ip = new Ipv4Packet();
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly icmp: IcmpState;
    readonly icmpstat: IcmpStat;
  }
}

/** True when one more response of this kind fits this second's allowance. */
function bandlim(im: Vnet, which: number): boolean {
  const lim = im.sysctl.v[icmpLim.slot]!;
  if (lim <= 0) return true;
  const s = im.icmp;
  const now = im.clock.now();
  if (now - s.limWindow[which]! >= 1000) {
    const over = s.limCount[which]! - lim;
    if (over > 0 && im.sysctl.v[icmpLimOutput.slot] === 1) {
      im.log.info(`Limiting ${LIM_NAMES[which]} from ${s.limCount[which]} to ${lim} packets/sec`);
    }
    s.limWindow[which] = now;
    s.limCount[which] = 0;
  }
  s.limCount[which]!++;
  if (s.limCount[which]! > lim) {
    im.icmpstat.ratelimited++;
    return false;
  }
  return true;
}

/**
 * ICMP input for a packet addressed to this image. `bcast` is true when it
 * was sent to a broadcast or multicast address. Raw sockets have already
 * seen it.
 */
export function icmpInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.icmpstat;
  const icmpLen = ipLen - hlen;
  const icp = im.icmp.view.reset(buf, off + hlen, icmpLen);
  if (!icp.checked()) {
    st.tooshort++;
    return;
  }
  if ((meta.flags & VIRTIO_NET_HDR_F_DATA_VALID) === 0 && !icp.verifyChecksum()) {
    st.checksum++;
    return;
  }
  const type = icp.type;
  if (type <= ICMP_MAXTYPE) im.icmp.inhist[type]!++;
  switch (type) {
    case ICMP_TYPE.ECHO:
      if (bcast && im.sysctl.v[icmpBmcastEcho.slot] === 0) {
        st.bmcastecho++;
        return;
      }
      if (!bandlim(im, LIM_ECHO)) return;
      // Echo reply: same identifier, sequence and data (RFC 792).
      icp.type = ICMP_TYPE.ECHO_REPLY;
      icp.checksum = checksumAdjust(icp.checksum, ICMP_TYPE.ECHO << 8, ICMP_TYPE.ECHO_REPLY << 8);
      icmpReflect(im, ifp, buf, off, hlen, ipLen, ICMP_TYPE.ECHO_REPLY);
      return;
    case ICMP_TYPE.TIMESTAMP: {
      if (im.sysctl.v[icmpTstampRepl.slot] === 0) return;
      if (bcast && im.sysctl.v[icmpBmcastEcho.slot] === 0) {
        st.bmcasttstamp++;
        return;
      }
      if (icmpLen < ICMP_TSLEN) {
        st.badlen++;
        return;
      }
      if (!bandlim(im, LIM_TSTAMP)) return;
      // RFC 792: receive and transmit timestamps in ms since midnight UT.
      const ms = im.platform.wallNow() % 86_400_000;
      icp.type = ICMP_TYPE.TIMESTAMP_REPLY;
      icp.receiveTime = ms;
      icp.transmitTime = ms;
      icp.fillChecksum();
      icmpReflect(im, ifp, buf, off, hlen, ipLen, ICMP_TYPE.TIMESTAMP_REPLY);
      return;
    }
    case ICMP_TYPE.REDIRECT:
      redirectInput(im, buf, off, icmpLen, icp);
      return;
    case ICMP_TYPE.UNREACH:
    case ICMP_TYPE.TIME_EXCEEDED:
    case ICMP_TYPE.PARAM_PROB:
    case ICMP_TYPE.SOURCE_QUENCH: {
      // Codes past the last one RFC 792, 1122 and 1812 define (FreeBSD's icmp_input).
      if (icp.code > icmpMaxCode(type)) {
        st.badcode++;
        return;
      }
      // An error must quote at least the offending IP header and 8 bytes (RFC 792).
      const q = icp.quoteOffset;
      const quoted = im.icmp.ip.reset(buf, q, icmpLen - ICMP_MINLEN);
      if (icmpLen < ICMP_MINLEN + IP_HDR_LEN + 8 || quoted.headerLen < IP_HDR_LEN) {
        st.badlen++;
        return;
      }
      if (icmpLen >= ICMP_MINLEN + quoted.headerLen + 8) ctlInput(im, type, icp.code, buf, q, quoted.protocol, icp.nextHopMtu);
      return;
    }
    default:
      return;
  }
}

/** Highest known code of an error type (source quench has only 0, but is not checked: it is ignored). */
function icmpMaxCode(type: number): number {
  if (type === ICMP_TYPE.UNREACH) return ICMP_UNREACH.PRECEDENCE_CUTOFF;
  if (type === ICMP_TYPE.TIME_EXCEEDED) return ICMP_TIMXCEED.REASS;
  if (type === ICMP_TYPE.PARAM_PROB) return 1;
  return 255;
}

/**
 * Hand an ICMP error to the transport protocol of the datagram it quotes
 * through the protocol switch (FreeBSD's pr_ctlinput), so the socket it
 * concerns hears it: unreachable net/host/admin and time exceeded as
 * EHOSTUNREACH, port and protocol unreachable as ECONNREFUSED,
 * fragmentation needed as EMSGSIZE (with the next-hop MTU, RFC 1191),
 * parameter problem as ENOPROTOOPT.
 */
function ctlInput(im: Vnet, type: number, code: number, buf: Uint8Array, q: number, proto: number, mtu: number): void {
  let errno: CtlErrno;
  if (type === ICMP_TYPE.UNREACH) {
    if (code === ICMP_UNREACH.PORT || code === ICMP_UNREACH.PROTOCOL) errno = 'ECONNREFUSED';
    else if (code === ICMP_UNREACH.NEEDFRAG) errno = 'EMSGSIZE';
    else if (code <= ICMP_UNREACH.HOST_PRECEDENCE) errno = 'EHOSTUNREACH';
    else return;
  } else if (type === ICMP_TYPE.TIME_EXCEEDED) {
    if (code !== ICMP_TIMXCEED.INTRANS) return;
    errno = 'EHOSTUNREACH';
  } else if (type === ICMP_TYPE.PARAM_PROB) errno = 'ENOPROTOOPT';
  else return; // source quench is deprecated (RFC 6633): ignored
  const sw = im.protosw.ip[proto];
  if (sw !== null && sw !== undefined && sw.ctlinput !== undefined) sw.ctlinput(im, errno, mtu, buf, q);
}

/**
 * Send a reply built in place back to the sender: addresses swapped (our
 * source is the address it was sent to, or the receiving interface's for
 * broadcasts), fresh TTL. Of the options, record route and timestamp stay
 * (ip_dooptions() has filled in our part), as in FreeBSD's icmp_reflect();
 * the others are dropped.
 */
function icmpReflect(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, type: number): void {
  const st = im.icmpstat;
  const ip = im.icmp.ip.reset(buf, off, ipLen);
  const src = ip.src;
  const dst = ip.dst;
  if (src === 0 || src === 0xffffffff || src >>> 28 === 0xe || src >>> 24 === 0x7f && !ifp.loopback) {
    st.badaddr++;
    return;
  }
  let from = dst;
  if (im.localIfnet(dst) === undefined) from = ifp.subnetOf(src)?.addr ?? ifp.addrs[0]?.addr ?? 0;
  if (hlen > 20) {
    // Keep record route and timestamp options, padded to 32 bits; move the ICMP message up against them.
    let w = off + 20;
    for (const o = im.ipViews.options.reset(buf, off, hlen); !o.done && o.length !== 0; ) {
      if (o.kind === IPOPT.RR || o.kind === IPOPT.TS) w = o.takeTo(w);
      else o.next();
    }
    while (((w - off) & 3) !== 0) buf[w++] = 0;
    const nh = w - off;
    buf.copyWithin(off + nh, off + hlen, off + ipLen);
    ipLen -= hlen - nh;
    hlen = nh;
  }
  buildIpHeader(im, buf, off, ipLen, IPPROTO.ICMP, from, src, im.sysctl.v[ipDefTtl.slot]!);
  im.icmp.ip.reset(buf, off, ipLen).headerLen = hlen;
  st.reflect++;
  im.icmp.outhist[type]!++;
  const r = ipOutputLocal(im, buf, off, ipLen, im.noOffload);
  if (r === 'ENETUNREACH' || r === 'EHOSTUNREACH') st.noroute++;
}

/**
 * Send an ICMP error about the packet at buf[off, off+ipLen) that arrived on
 * `ifp` (RFC 1122 3.2.2, RFC 1812 4.3.2.7: never about an ICMP error, a
 * non-initial fragment, or a broadcast/multicast/invalid source). A
 * redirect carries `gateway` and, as FreeBSD's icmp_error(), is not counted
 * as an error call and may quote an ICMP error.
 */
export function icmpError(im: Vnet, ifp: Ifnet | null, buf: Uint8Array, off: number, ipLen: number, type: number, code: number, mtu: number, gateway = 0): void {
  const st = im.icmpstat;
  const redirect = type === ICMP_TYPE.REDIRECT;
  if (!redirect) st.error++;
  const ip = im.icmp.ip.reset(buf, off, ipLen);
  const hlen = ip.headerLen;
  if ((ip.fragField & IP_OFFMASK) !== 0) return;
  const proto = ip.protocol;
  if (!redirect && proto === IPPROTO.ICMP && ipLen >= hlen + 1 && isIcmpError(im.icmp.view.reset(buf, off + hlen, ipLen - hlen).type)) {
    st.oldicmp++;
    return;
  }
  if (ipLen < hlen + 8 && proto !== IPPROTO.ICMP) {
    st.oldshort++;
    return;
  }
  const src = ip.src;
  const dst = ip.dst;
  if (src === 0 || src === 0xffffffff || src >>> 28 >= 0xe || dst === 0xffffffff || dst >>> 28 === 0xe || im.isBroadcast(dst)) {
    st.badaddr++;
    return;
  }
  if (!bandlim(im, LIM_UNREACH)) return;
  const quote = Math.min(ipLen, hlen + im.sysctl.v[icmpQuoteLen.slot]!);
  const total = IP_HDR_LEN + ICMP_MINLEN + quote;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  b.set(buf.subarray(off, off + quote), o + IP_HDR_LEN + ICMP_MINLEN);
  const icp = im.icmp.view.reset(b, o + IP_HDR_LEN, ICMP_MINLEN + quote);
  icp.type = type;
  // As FreeBSD's icmp_error(): for a parameter problem, `code` is the pointer to the bad byte.
  if (type === ICMP_TYPE.PARAM_PROB) {
    icp.code = 0;
    icp.setErrorWord(code, mtu);
  } else if (redirect) {
    icp.code = code;
    icp.gateway = gateway;
  } else {
    icp.code = code;
    icp.setErrorWord(0, mtu);
  }
  icp.fillChecksum();
  // The source is the address the packet was sent to if it was ours,
  // else the receiving interface's, so traceroute shows the hop it crossed.
  let from = im.localIfnet(dst) !== undefined ? dst : 0;
  if (from === 0 && ifp !== null && !ifp.loopback) from = ifp.subnetOf(src)?.addr ?? ifp.addrs[0]?.addr ?? 0;
  buildIpHeader(im, b, o, total, IPPROTO.ICMP, from, src, im.sysctl.v[ipDefTtl.slot]!);
  if (type <= ICMP_MAXTYPE) im.icmp.outhist[type]!++;
  const r = ipOutputLocal(im, b, o, total, im.noOffload);
  if (r === 'ENETUNREACH' || r === 'EHOSTUNREACH') st.noroute++;
}
