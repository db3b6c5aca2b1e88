/**
 * IPv4 input and forwarding (FreeBSD's ip_input.c / ip_fastfwd.c).
 *
 * Input is a validation ladder: each check that fails bumps exactly one
 * ipstat counter and drops. A valid packet is delivered locally (after
 * reassembly) or forwarded, in place: the TTL and header checksum are
 * updated in the receive buffer and the frame leaves from the same bytes,
 * offload metadata and all.
 */

import type { Ifnet } from '../net/if.js';
import { etherRegister, ipProtoRegister, type Vnet } from '../net/vnet.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import { PFIL_PASS } from '../net/pfil.js';
import { ICMP_TYPE, ICMP_TIMXCEED, ICMP_UNREACH } from '../wire/icmp.js';
import { IPOPT, IPOPT_TS } from '../wire/ip_options.js';
import { IP_HDR_LEN, IPPROTO, type Ipv4Packet } from '../wire/ipv4.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { icmpError, icmpInput } from './ip_icmp.js';
import { ipOutputFinish, selectSource } from './ip_output.js';
import { ipReass } from './ip_reass.js';
import { ipForwarding } from './ip_var.js';
import { rawInput } from './raw_ip.js';
import { RTF } from './route.js';
import { flowHash, mpathSelect } from './route_mpath.js';
import { ipRedirect } from './route_redirect.js';

const IPTTLDEC = 1;

/** Subsystem init: IPv4 on the image's links, ICMP in its protocol switch. */
export function ipInit(im: Vnet): void {
  etherRegister(im, ETHERTYPE.IPV4, ipInput);
  ipProtoRegister(im, IPPROTO.ICMP, { input: icmpInput });
}

export function ipInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const st = im.ipstat;
  st.total++;
  const ip = im.ipViews.input.reset(buf, off, len);
  const fault = ip.check();
  if (fault !== 'ok') {
    st[fault]++;
    return;
  }
  // Bytes past ip_len (Ethernet padding) are ignored from here on.
  const hlen = ip.headerLen;
  const ipLen = ip.totalLen;
  const src = ip.src;
  const dst = ip.dst;
  // RFC 1812 5.3.7: never accept a broadcast, multicast or (off the loopback) loopback source.
  if (src === 0xffffffff || src >>> 28 === 0xe || ((src >>> 24 === 127 || dst >>> 24 === 127) && !ifp.loopback)) {
    st.badaddr++;
    return;
  }
  // pfil: the firewall sees every valid packet before delivery or forwarding.
  if (im.inetPfil.runIn(ifp, buf, off, ipLen, meta) !== PFIL_PASS) return;
  // A filter may have rewritten the destination (ipfw nat): decide on the new one, as ip_input does after pfil.
  ipInputDispatch(im, ifp, buf, off, hlen, ipLen, meta, im.ipViews.input.reset(buf, off, len).dst);
}

/** Local delivery or forwarding of a valid packet past the input filter (dummynet re-enters here). */
export function ipInputDispatch(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, dst: number): void {
  const st = im.ipstat;
  if (hlen > 20 && ipDoOptions(im, ifp, buf, off, hlen, ipLen, dst)) return;
  if (im.inAddrs.has(dst)) {
    ipDeliver(im, ifp, buf, off, hlen, ipLen, meta, false);
    return;
  }
  if (dst === 0xffffffff || dst === 0 || im.bcastAddrs.has(dst)) {
    ipDeliver(im, ifp, buf, off, hlen, ipLen, meta, true);
    return;
  }
  if (dst >>> 28 === 0xe) {
    // No multicast group memberships: every group is foreign.
    st.notmember++;
    return;
  }
  if (im.sysctl.v[ipForwarding.slot] === 0) {
    st.cantforward++;
    return;
  }
  ipForward(im, ifp, buf, off, hlen, ipLen, meta, dst);
}

/** From the netisr (loopback): packets that were already framed by our own output. */
export function ipDeliver(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.ipstat;
  let ip = im.ipViews.input.reset(buf, off, ipLen);
  if (ip.isFragment) {
    const whole = ipReass(im, buf, off, hlen, ipLen);
    if (whole === null) return;
    buf = whole.buf;
    off = whole.off;
    ipLen = whole.len;
    ip = im.ipViews.input.reset(buf, off, ipLen);
    hlen = ip.headerLen;
    meta = im.noOffload;
  }
  st.delivered++;
  const proto = ip.protocol;
  const raw = rawInput(im, proto, buf, off, ipLen, ifp);
  const sw = im.protosw.ip[proto];
  if (sw !== null && sw !== undefined) {
    sw.input(im, ifp, buf, off, hlen, ipLen, meta, bcast);
    return;
  }
  if (!raw) {
    st.noproto++;
    if (!bcast) icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.PROTOCOL, 0);
  }
}


/**
 * FreeBSD's ip_dooptions() with its defaults (net.inet.ip.sourceroute=0,
 * accept_sourceroute=0): every option is checked; a record route (RFC 791)
 * gets our address and a timestamp option (RFC 791) our time, while they
 * have room (icmp_reflect() copies both into an echo reply); source-routed
 * packets are refused, with "source route failed" from a router and silently
 * by a host. A malformed option earns a parameter problem pointing at the
 * bad byte (RFC 1122 3.2.1.8, 3.2.2.5). True when the packet is consumed.
 */
function ipDoOptions(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, dst: number): boolean {
  const st = im.ipstat;
  const o = im.ipViews.options.reset(buf, off, hlen);
  let type: number = ICMP_TYPE.PARAM_PROB;
  let code = 0;
  let changed = false;
  const ours = im.inAddrs.has(dst);
  bad: {
    for (; !o.done; o.next()) {
      const opt = o.kind;
      if (opt === IPOPT.NOP) continue;
      const optlen = o.length;
      if (optlen === 0) {
        code = o.at(1);
        break bad;
      }
      switch (opt) {
        case IPOPT.LSRR:
        case IPOPT.SSRR:
          if (optlen < 3) {
            code = o.at(1);
            break bad;
          }
          if (o.pointer < 4) {
            code = o.at(2);
            break bad;
          }
          // No source routing: a strict route through a host that is not ours failed;
          // otherwise a router says so and a host drops the packet.
          if ((opt === IPOPT.SSRR && !ours) || im.sysctl.v[ipForwarding.slot] === 1) {
            type = ICMP_TYPE.UNREACH;
            code = ICMP_UNREACH.SRCFAIL;
            break bad;
          }
          st.cantforward++;
          return true;
        case IPOPT.RR: {
          if (optlen < 3 || o.pointer < 4) {
            code = o.at(2);
            break bad;
          }
          const at = o.pointer - 1;
          if (at > optlen - 4) break; // full: nothing to record
          // Our address: the destination when it is ours, else where the packet leaves.
          let addr = ours ? dst : 0;
          if (addr === 0) {
            const rt = im.routes.lookup(dst);
            if (rt !== undefined) addr = selectSource(im, rt, dst);
          }
          if (addr === 0) {
            type = ICMP_TYPE.UNREACH;
            code = ICMP_UNREACH.HOST;
            break bad;
          }
          o.setWord(at, addr);
          o.pointer = at + 5;
          changed = true;
          break;
        }
        case IPOPT.TS: {
          if (optlen < 4 || optlen > 40 || o.pointer < 5) {
            code = o.at(1);
            break bad;
          }
          let at = o.pointer - 1;
          if (at > optlen - 4) {
            // Full: count the overflow; the count itself overflowing is an error.
            o.tsOverflow = o.tsOverflow + 1;
            changed = true;
            if (o.tsOverflow === 0) {
              code = o.at(2);
              break bad;
            }
            break;
          }
          const flg = o.tsFlags;
          if (flg !== IPOPT_TS.TSONLY && flg !== IPOPT_TS.TSANDADDR && flg !== IPOPT_TS.PRESPEC) {
            code = o.at(3);
            break bad;
          }
          if (flg !== IPOPT_TS.TSONLY) {
            if (at + 8 > optlen) {
              code = o.at(2);
              break bad;
            }
            if (flg === IPOPT_TS.TSANDADDR) {
              const a = ifp.subnetOf(dst)?.addr ?? ifp.addrs[0]?.addr;
              if (a === undefined) break;
              o.setWord(at, a);
            } else if (!im.inAddrs.has(o.word(at))) break; // prespecified for someone else
            at += 4;
            o.pointer = o.pointer + 4;
          }
          // Milliseconds since midnight UT (RFC 791), as iptime().
          o.setWord(at, im.platform.wallNow() % 86_400_000);
          o.pointer = o.pointer + 4;
          changed = true;
          break;
        }
      }
    }
    // The header changed: its checksum must be whole again for forwarding's incremental update.
    if (changed) im.ipViews.input.reset(buf, off, ipLen).fillChecksum();
    return false;
  }
  st.badoptions++;
  icmpError(im, ifp, buf, off, ipLen, type, code, 0);
  return true;
}

function ipForward(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, dst: number): void {
  const st = im.ipstat;
  const ip = im.ipViews.input.reset(buf, off, ipLen);
  if (ip.ttl <= IPTTLDEC) {
    icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.TIME_EXCEEDED, ICMP_TIMXCEED.INTRANS, 0);
    return;
  }
  let rt = im.routes.lookup(dst);
  if (rt === undefined || (rt.flags & RTF.REJECT) !== 0) {
    st.noroute++;
    st.cantforward++;
    icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, rt === undefined ? ICMP_UNREACH.NET : ICMP_UNREACH.HOST, 0);
    return;
  }
  if ((rt.flags & RTF.BLACKHOLE) !== 0) {
    st.cantforward++;
    return;
  }
  // A multipath route: the path this flow's hash picks (route_mpath.ts).
  if (rt.group !== null) rt = mpathSelect(rt.group, flowHash(ip, hlen, im.ipViews.tcp));
  const out = rt.ifp;
  const mtu = rt.mtu !== 0 ? rt.mtu : out.mtu;
  if (ipLen > mtu) {
    const gso = meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE;
    // A GSO super-frame leaves as segments: what must fit is one segment.
    const segLen = gso ? gsoSegmentLength(im, ip, hlen, meta) : ipLen;
    if (segLen > mtu && (ip.dontFrag || gso)) {
      st.cantfrag++;
      icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.NEEDFRAG, mtu);
      return;
    }
  }
  ip.decrementTtl(IPTTLDEC);
  st.forward++;
  // FreeBSD's ip_tryforward takes packets without options, not from a
  // loopback and not to or from 169.254/16: the fast path, counted twice.
  const src = ip.src;
  if (hlen === IP_HDR_LEN && !ifp.loopback && src >>> 16 !== 0xa9fe && dst >>> 16 !== 0xa9fe) st.fastforward++;
  rt.use++;
  const nexthop = (rt.flags & RTF.GATEWAY) !== 0 ? rt.gateway : dst;
  // Back out the interface it came in on: perhaps tell the sender of a better first hop.
  if (out === ifp) ipRedirect(im, ifp, rt, src, buf, off, ipLen);
  // pfil output; then fragmentation (if needed) and the link.
  if (im.inetPfil.runOut(ifp, out, nexthop, buf, off, ipLen, mtu, meta) !== PFIL_PASS) return;
  ipOutputFinish(im, out, nexthop, buf, off, ipLen, mtu, meta);
}

/** Size of one IP packet cut from a GSO super-frame: headers plus gso_size. */
function gsoSegmentLength(im: Vnet, ip: Ipv4Packet, hlen: number, meta: VnetHdr): number {
  let l4 = 8;
  if (ip.protocol === IPPROTO.TCP) l4 = im.ipViews.tcp.reset(ip.buf, ip.off + hlen, ip.len - hlen).headerLen;
  return hlen + l4 + meta.gsoSize;
}
