/**
 * UDP over IPv6 (FreeBSD's udp6_usrreq.c): input from the IPv6 protocol
 * switch into the same endpoint table as IPv4 (`udbinfo`), output through
 * ip6_output with the pseudo-header checksum, ICMPv6 port unreachable for
 * ports nobody listens on, and ICMPv6 errors for connected endpoints.
 * Counted in the shared `struct udpstat`, as FreeBSD counts both families.
 *
 * RFC 8200 8.1: the checksum is mandatory over IPv6; a datagram with a zero
 * checksum is counted (nosum) and dropped, as FreeBSD's udp6_input does.
 */

import type { Ifnet } from '../net/if.js';
import { ip6ProtoRegister, type CtlErrno, type Vnet } from '../net/vnet.js';
import { allocPacket } from '../netinet/ip_var.js';
import { udpBlackhole, type UdpPcb } from '../netinet/udp_usrreq.js';
import { INP_IPV6 } from '../socket/in_pcb.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { ICMP6_DST_UNREACH, ICMP6_TYPE } from '../wire/icmp6.js';
import { IP6_DST_OFF, IP6_HDR_LEN, IP6_SRC_OFF, IPPROTO6, emitIpv6Raw, in6Equal, in6IsMulticast, in6IsUnspecified } from '../wire/ipv6.js';
import { UDP_HDR_LEN, emitUdp } from '../wire/udp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, type VnetHdr } from '../wire/vnet.js';
import { icmp6Error } from './icmp6.js';
import { ip6SelectSourceInto } from './in6_pcb.js';
import { ip6DefHlim, type Out6Result } from './ip6_var.js';
import { ip6Output } from './ip6_output.js';

/** Subsystem init (after udp and inet6): UDP in the IPv6 protocol switch. */
export function udp6Init(im: Vnet): void {
  ip6ProtoRegister(im, IPPROTO6.UDP, { input: udp6Input, ctlinput: udp6CtlInput });
}

/** IPv6 input for next header 17: the UDP header at buf[hoff], the IPv6 header at buf[off]. */
export function udp6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  const st = im.udpstat;
  st.ipackets++;
  const ulen = off + ip6Len - hoff;
  const uh = im.udpViews.udp.reset(buf, hoff, ulen);
  const fault = uh.check();
  if (fault !== 'ok') {
    st[fault]++;
    return;
  }
  if (uh.checksum === 0) {
    st.nosum++; // RFC 8200 8.1: never valid over IPv6
    return;
  }
  const s = off + IP6_SRC_OFF;
  const d = off + IP6_DST_OFF;
  if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0) {
    const n = uh.len;
    if (foldComplement(sum16(buf, hoff, n, pseudoHeaderSum6(buf, s, d, n, IPPROTO6.UDP))) !== 0) {
      st.badsum++;
      return;
    }
  }
  const sport = uh.srcPort;
  const dport = uh.dstPort;
  const data = uh.payloadOffset;
  const dlen = uh.payloadLength;
  if (mcast) {
    // Every IPv6 endpoint bound to the port (wildcard or to this group) gets a copy.
    let got = false;
    for (const p of im.udb.boundTo(dport)) {
      if ((p.vflag & INP_IPV6) === 0) continue;
      if (!in6IsUnspecified(p.laddr6!, 0) && !in6Equal(p.laddr6!, 0, buf, d)) continue;
      if (p.fport !== 0 && (p.fport !== sport || !in6Equal(p.faddr6!, 0, buf, s))) continue;
      got = true;
      if (p.so.input6!(buf, off, sport, ifp, data, dlen)) st.delivered++;
      else st.fullsock++;
    }
    if (!got) st.noportbcast++;
    return;
  }
  const pcb = im.udb.lookup6(buf, d, dport, buf, s, sport, ifp);
  if (pcb === undefined) {
    st.noport++;
    if (im.sysctl.v[udpBlackhole.slot] === 0) icmp6Error(im, ifp, buf, off, ip6Len, IPPROTO6.UDP, hoff, ICMP6_TYPE.DST_UNREACH, ICMP6_DST_UNREACH.NOPORT, 0);
    return;
  }
  if (!pcb.so.input6!(buf, off, sport, ifp, data, dlen)) {
    st.fullsock++;
    return;
  }
  st.delivered++;
}

/**
 * Send `data` from the endpoint's port, from src (a local address, or ::
 * to let ip6_output choose) to dst%zone:fport, with hop limit `hlim`.
 */
export function udp6Output(im: Vnet, pcb: UdpPcb, src: Uint8Array, dst: Uint8Array, zone: Ifnet | null, fport: number, data: Uint8Array, hlim = -1): Out6Result {
  const n = data.length;
  if (n > 65535 - UDP_HDR_LEN) return 'EMSGSIZE';
  const total = IP6_HDR_LEN + UDP_HDR_LEN + n;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  b.set(data, o + IP6_HDR_LEN + UDP_HDR_LEN);
  const h = hlim >= 0 ? hlim : in6IsMulticast(dst, 0) ? 1 : im.sysctl.v[ip6DefHlim.slot]!;
  emitIpv6Raw(b, o, UDP_HDR_LEN + n, IPPROTO6.UDP, h, src, 0, dst, 0);
  emitUdp({ srcPort: pcb.lport, dstPort: fport, payloadLen: n }, b, o + IP6_HDR_LEN, 0, 0, false);
  const meta = im.noOffload;
  // The checksum covers the source, so ip6_output chooses it first when the endpoint has none.
  if (in6IsUnspecified(b, o + IP6_SRC_OFF)) {
    const r = ip6SelectSourceInto(im, b, o, zone);
    if (r !== 0) return r;
  }
  udp6Checksum(b, o, o + IP6_HDR_LEN, UDP_HDR_LEN + n);
  im.udpstat.opackets++;
  return ip6Output(im, b, o, total, meta, zone !== null ? { ifp: zone } : undefined);
}

/** Fill the checksum of the UDP datagram at b[u, u+len) under the IPv6 header at b[ip] (0 sent as 0xffff). */
export function udp6Checksum(b: Uint8Array, ip: number, u: number, len: number): void {
  b[u + 6] = 0;
  b[u + 7] = 0;
  let c = foldComplement(sum16(b, u, len, pseudoHeaderSum6(b, ip + IP6_SRC_OFF, ip + IP6_DST_OFF, len, IPPROTO6.UDP)));
  if (c === 0) c = 0xffff;
  b[u + 6] = c >>> 8;
  b[u + 7] = c & 0xff;
}

/**
 * An ICMPv6 error quoting a datagram we sent (FreeBSD's udp6_ctlinput):
 * only a connected endpoint hears it.
 */
export function udp6CtlInput(im: Vnet, errno: CtlErrno, _mtu: number, buf: Uint8Array, q: number, uh: number): void {
  const sport = (buf[uh]! << 8) | buf[uh + 1]!;
  const dport = (buf[uh + 2]! << 8) | buf[uh + 3]!;
  const pcb = im.udb.lookupConnected6(buf, q + IP6_SRC_OFF, sport, buf, q + IP6_DST_OFF, dport, null);
  if (pcb !== undefined) pcb.so.ctlError(errno);
}
