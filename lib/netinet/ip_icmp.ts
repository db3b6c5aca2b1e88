/**
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo and timestamp replies,
 * error generation for the forwarding and delivery paths, and the per-second
 * response limit (FreeBSD's icmplim / badport_bandlim).
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { defineStats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { checksumAdjust, internetChecksum } from '../wire/checksum.js';
import { ICMP_TIMXCEED, ICMP_TYPE, ICMP_UNREACH, isIcmpError } from '../wire/icmp.js';
import { IP_OFFMASK } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, type VnetHdr } from '../wire/vnet.js';
import { allocPacket, buildIpHeader, ipOutputLocal, readU32, writeU32 } from './ip_output.js';
import { ipDefTtl } from './ip_var.js';
import { tcpCtlInput } from './tcp/tcp_usrreq.js';
import { udpCtlInput } from './udp_usrreq.js';

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

export class IcmpState {
  readonly inhist = new Float64Array(ICMP_MAXTYPE + 1);
  readonly outhist = new Float64Array(ICMP_MAXTYPE + 1);
  readonly limWindow = new Float64Array(3).fill(-Infinity);
  readonly limCount = new Float64Array(3);
}

/** True when one more response of this kind fits this second's allowance. */
function bandlim(im: Image, which: number): boolean {
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
export function icmpInput(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.icmpstat;
  const io = off + hlen;
  const icmpLen = ipLen - hlen;
  if (icmpLen < 8) {
    st.tooshort++;
    return;
  }
  if ((meta.flags & VIRTIO_NET_HDR_F_DATA_VALID) === 0 && internetChecksum(buf, io, icmpLen) !== 0) {
    st.checksum++;
    return;
  }
  const type = buf[io]!;
  if (type <= ICMP_MAXTYPE) im.icmp.inhist[type]!++;
  switch (type) {
    case ICMP_TYPE.ECHO:
      if (bcast && im.sysctl.v[icmpBmcastEcho.slot] === 0) {
        st.bmcastecho++;
        return;
      }
      if (!bandlim(im, LIM_ECHO)) return;
      // Echo reply: same identifier, sequence and data (RFC 792).
      buf[io] = ICMP_TYPE.ECHO_REPLY;
      setSum(buf, io + 2, checksumAdjust(getSum(buf, io + 2), ICMP_TYPE.ECHO << 8, ICMP_TYPE.ECHO_REPLY << 8));
      icmpReflect(im, ifp, buf, off, hlen, ipLen, ICMP_TYPE.ECHO_REPLY);
      return;
    case ICMP_TYPE.TIMESTAMP: {
      if (im.sysctl.v[icmpTstampRepl.slot] === 0) return;
      if (bcast && im.sysctl.v[icmpBmcastEcho.slot] === 0) {
        st.bmcasttstamp++;
        return;
      }
      if (icmpLen < 20) {
        st.badlen++;
        return;
      }
      if (!bandlim(im, LIM_TSTAMP)) return;
      // RFC 792: receive and transmit timestamps in ms since midnight UT.
      const ms = im.platform.wallNow() % 86_400_000;
      buf[io] = ICMP_TYPE.TIMESTAMP_REPLY;
      writeU32(buf, io + 12, ms);
      writeU32(buf, io + 16, ms);
      buf[io + 2] = 0;
      buf[io + 3] = 0;
      setSum(buf, io + 2, internetChecksum(buf, io, icmpLen));
      icmpReflect(im, ifp, buf, off, hlen, ipLen, ICMP_TYPE.TIMESTAMP_REPLY);
      return;
    }
    case ICMP_TYPE.UNREACH:
    case ICMP_TYPE.TIME_EXCEEDED:
    case ICMP_TYPE.PARAM_PROB:
    case ICMP_TYPE.SOURCE_QUENCH:
      // An error must quote at least the offending IP header and 8 bytes (RFC 792).
      if (icmpLen < 8 + 20 + 8 || ((buf[io + 8]! & 0xf) << 2) < 20) {
        st.badlen++;
        return;
      }
      if (icmpLen >= 8 + ((buf[io + 8]! & 0xf) << 2) + 8) ctlInput(im, type, buf[io + 1]!, buf, io + 8, (buf[io + 6]! << 8) | buf[io + 7]!);
      return;
    default:
      return;
  }
}

/**
 * Hand an ICMP error to the transport protocol of the datagram it quotes
 * (FreeBSD's pr_ctlinput), so the socket it concerns hears it: unreachable
 * net/host/admin and time exceeded as EHOSTUNREACH, port and protocol
 * unreachable as ECONNREFUSED, fragmentation needed as EMSGSIZE (with the
 * next-hop MTU, RFC 1191), parameter problem as ENOPROTOOPT.
 */
function ctlInput(im: Image, type: number, code: number, buf: Uint8Array, q: number, mtu: number): void {
  let errno: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'ENOPROTOOPT';
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
  const proto = buf[q + 9];
  if (proto === 17) udpCtlInput(im, errno, buf, q);
  else if (proto === 6) tcpCtlInput(im, errno, mtu, buf, q);
}

function getSum(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function setSum(b: Uint8Array, o: number, v: number): void {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
}

/**
 * Send a reply built in place back to the sender: addresses swapped (our
 * source is the address it was sent to, or the receiving interface's for
 * broadcasts), fresh TTL. Of the options, record route and timestamp stay
 * (ip_dooptions() has filled in our part), as in FreeBSD's icmp_reflect();
 * the others are dropped.
 */
function icmpReflect(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, type: number): void {
  const st = im.icmpstat;
  const src = readU32(buf, off + 12);
  const dst = readU32(buf, off + 16);
  if (src === 0 || src === 0xffffffff || src >>> 28 === 0xe || src >>> 24 === 0x7f && !ifp.loopback) {
    st.badaddr++;
    return;
  }
  let from = dst;
  if (im.localIfnet(dst) === undefined) from = ifp.subnetOf(src)?.addr ?? ifp.addrs[0]?.addr ?? 0;
  if (hlen > 20) {
    // Keep record route (7) and timestamp (68) options, padded to 32 bits; move the ICMP message up against them.
    let w = off + 20;
    for (let cp = off + 20; cp < off + hlen; ) {
      const opt = buf[cp]!;
      if (opt === 0) break;
      if (opt === 1) {
        cp++;
        continue;
      }
      const n = buf[cp + 1] ?? 0;
      if (n < 2 || cp + n > off + hlen) break;
      if (opt === 7 || opt === 68) {
        buf.copyWithin(w, cp, cp + n);
        w += n;
      }
      cp += n;
    }
    while (((w - off) & 3) !== 0) buf[w++] = 0;
    const nh = w - off;
    buf.copyWithin(off + nh, off + hlen, off + ipLen);
    ipLen -= hlen - nh;
    hlen = nh;
  }
  buildIpHeader(im, buf, off, ipLen, 1, from, src, im.sysctl.v[ipDefTtl.slot]!);
  buf[off] = 0x40 | (hlen >> 2);
  st.reflect++;
  im.icmp.outhist[type]!++;
  const r = ipOutputLocal(im, buf, off, ipLen, im.noOffload);
  if (r === 'ENETUNREACH' || r === 'EHOSTUNREACH') st.noroute++;
}

/**
 * Send an ICMP error about the packet at buf[off, off+ipLen) that arrived on
 * `ifp` (RFC 1122 3.2.2, RFC 1812 4.3.2.7: never about an ICMP error, a
 * non-initial fragment, or a broadcast/multicast/invalid source).
 */
export function icmpError(im: Image, ifp: Ifnet | null, buf: Uint8Array, off: number, ipLen: number, type: number, code: number, mtu: number): void {
  const st = im.icmpstat;
  st.error++;
  const hlen = (buf[off]! & 0xf) << 2;
  const frag = (((buf[off + 6]! << 8) | buf[off + 7]!) & IP_OFFMASK) !== 0;
  if (frag) return;
  const proto = buf[off + 9];
  if (proto === 1 && ipLen >= hlen + 1 && isIcmpError(buf[off + hlen]!)) {
    st.oldicmp++;
    return;
  }
  if (ipLen < hlen + 8 && proto !== 1) {
    st.oldshort++;
    return;
  }
  const src = readU32(buf, off + 12);
  const dst = readU32(buf, off + 16);
  if (src === 0 || src === 0xffffffff || src >>> 28 >= 0xe || dst === 0xffffffff || dst >>> 28 === 0xe || im.isBroadcast(dst)) {
    st.badaddr++;
    return;
  }
  if (!bandlim(im, LIM_UNREACH)) return;
  const quote = Math.min(ipLen, hlen + im.sysctl.v[icmpQuoteLen.slot]!);
  const total = 20 + 8 + quote;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  const io = o + 20;
  b[io] = type;
  b[io + 1] = code;
  b[io + 4] = 0;
  if (type === ICMP_TYPE.PARAM_PROB) {
    // As FreeBSD's icmp_error(): for a parameter problem, `code` is the pointer to the bad byte.
    b[io + 1] = 0;
    b[io + 4] = code;
  }
  b[io + 5] = 0;
  b[io + 6] = mtu >> 8;
  b[io + 7] = mtu & 0xff;
  b.set(buf.subarray(off, off + quote), io + 8);
  const sum = internetChecksum(b, io, 8 + quote);
  setSum(b, io + 2, sum);
  // The source is the address the packet was sent to if it was ours,
  // else the receiving interface's, so traceroute shows the hop it crossed.
  let from = im.localIfnet(dst) !== undefined ? dst : 0;
  if (from === 0 && ifp !== null && !ifp.loopback) from = ifp.subnetOf(src)?.addr ?? ifp.addrs[0]?.addr ?? 0;
  buildIpHeader(im, b, o, total, 1, from, src, im.sysctl.v[ipDefTtl.slot]!);
  if (type <= ICMP_MAXTYPE) im.icmp.outhist[type]!++;
  const r = ipOutputLocal(im, b, o, total, im.noOffload);
  if (r === 'ENETUNREACH' || r === 'EHOSTUNREACH') st.noroute++;
}
