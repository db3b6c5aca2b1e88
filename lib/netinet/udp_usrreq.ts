/**
 * UDP (RFC 768): input demultiplexing to the image's UDP endpoints
 * (`udbinfo`), output with the checksum per net.inet.udp.checksum, and ICMP
 * errors delivered to the connected endpoint they concern. Counted as
 * FreeBSD's `struct udpstat`. Datagrams for ports nobody listens on are
 * answered with ICMP port unreachable (what traceroute's probes rely on)
 * unless net.inet.udp.blackhole says to stay silent.
 *
 * Input is a validation ladder: each failing check bumps one counter.
 */

import type { Ifnet } from '../net/if.js';
import { ipProtoRegister, type CtlErrno, type Vnet } from '../net/vnet.js';
import { INP_IPV4, InPcb, PcbTable, broadcastIfnet } from '../socket/in_pcb.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { ICMP_TYPE, ICMP_UNREACH } from '../wire/icmp.js';
import { IP_HDR_LEN, IPPROTO, Ipv4Packet } from '../wire/ipv4.js';
import { UDP_HDR_LEN, UdpPacket, emitUdp } from '../wire/udp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, type VnetHdr } from '../wire/vnet.js';
import { icmpError } from './ip_icmp.js';
import { buildIpHeader, ipOutputLocal } from './ip_output.js';
import { allocPacket, type OutResult } from './ip_var.js';

export const udpBlackhole = sysctlInt({
  name: 'net.inet.udp.blackhole',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Do not send port unreachables for refused connects',
});
export const udpChecksum = sysctlInt({
  name: 'net.inet.udp.checksum',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Compute UDP checksum',
});
export const udpRecvspace = sysctlInt({
  name: 'net.inet.udp.recvspace',
  def: 42080,
  min: 1024,
  max: 16 * 1024 * 1024,
  descr: 'Maximum space for incoming UDP datagrams',
});
export const udpMaxDgram = sysctlInt({
  name: 'net.inet.udp.maxdgram',
  def: 9216,
  min: 1,
  max: 65535 - 28,
  descr: 'Maximum outgoing UDP datagram size',
});

export const udpStats = defineStats({
  ipackets: 'datagrams received',
  hdrops: 'with incomplete header',
  badlen: 'with bad data length field',
  badsum: 'with bad checksum',
  nosum: 'with no checksum',
  noport: 'dropped due to no socket',
  noportbcast: 'broadcast/multicast datagrams undelivered',
  fullsock: 'dropped due to full socket buffers',
  pcbhashmiss: 'not for hashed pcb',
  delivered: 'delivered',
  opackets: 'datagrams output',
  filtmcast: 'times multicast source filter matched',
  // FreeBSD 14 prints pcbhashmiss but never bumps it; there are no multicast source filters here.
}, { zero: ['pcbhashmiss', 'filtmcast'] });

export type UdpStat = Stats<(typeof udpStats.fields)[number]>;

/** UDP's header views (reused, never allocated per packet). */
export class UdpViews {
  readonly ip = new Ipv4Packet();
  readonly udp = new UdpPacket();
}

declare module '../net/vnet.js' {
  interface Vnet {
    /** UDP endpoints (FreeBSD's udbinfo); made by udpInit. */
    udb: PcbTable<UdpPcb>;
    readonly udpstat: UdpStat;
    readonly udpViews: UdpViews;
  }
}

/** What a UDP endpoint's owner (the socket) is told. */
export interface UdpSockHooks {
  /** Bytes waiting to be read (netstat's Recv-Q). */
  readonly recvQueued: number;
  /**
   * A datagram from src:sport to dst at buf[off, off+len): copy what is kept
   * before returning. False when the receive buffer is full (counted fullsock).
   */
  input(src: number, sport: number, dst: number, buf: Uint8Array, off: number, len: number): boolean;
  /**
   * An IPv6 datagram (IPv6 header at buf[ip], from port sport, in on ifp)
   * with its data at buf[off, off+len); false when the buffer is full.
   * Only AF_INET6 endpoints (which take IPv6) have it.
   */
  input6?(buf: Uint8Array, ip: number, sport: number, ifp: Ifnet, off: number, len: number): boolean;
  /** An ICMP error about a datagram this endpoint sent (connected endpoints only). */
  ctlError(errno: CtlErrno): void;
}

export class UdpPcb extends InPcb {
  /** A kernel tunnel's endpoint (udpTunnelBind): datagrams go to it, not to `so`. */
  tunnel: UdpTunnel | null = null;
  constructor(readonly so: UdpSockHooks) {
    super();
  }
}

/**
 * A kernel tunnel (FreeBSD's udp_set_kernel_tunneling, as vxlan(4) uses):
 * a datagram for the endpoint, checked and counted delivered, goes to
 * `input` with its IP header at buf[ipOff] and data at buf[data, data+dlen).
 */
export interface UdpTunnel {
  input(im: Vnet, ifp: Ifnet, buf: Uint8Array, ipOff: number, data: number, dlen: number, src: number, dst: number, meta: VnetHdr): void;
}

const TUNNEL_SO: UdpSockHooks = { recvQueued: 0, input: () => false, ctlError: () => {} };

/** Bind a kernel tunnel endpoint to laddr:lport (throws SocketError EADDRINUSE/EADDRNOTAVAIL); `im.udb.remove` unbinds it. */
export function udpTunnelBind(im: Vnet, laddr: number, lport: number, tunnel: UdpTunnel): UdpPcb {
  const pcb = new UdpPcb(TUNNEL_SO);
  pcb.tunnel = tunnel;
  im.udb.bind(im, pcb, laddr, lport);
  return pcb;
}

export function udpInit(im: Vnet): void {
  im.udb = new PcbTable<UdpPcb>('udp');
  ipProtoRegister(im, IPPROTO.UDP, { input: udpInput, ctlinput: udpCtlInput });
}

/** Destroying an image closes its UDP endpoints. */
export function udpDestroy(im: Vnet): void {
  im.udb.clear();
}

export function udpInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.udpstat;
  st.ipackets++;
  const uh = im.udpViews.udp.reset(buf, off + hlen, ipLen - hlen);
  const fault = uh.check();
  if (fault !== 'ok') {
    st[fault]++;
    return;
  }
  const ip = im.udpViews.ip.reset(buf, off, ipLen);
  const src = ip.src;
  const dst = ip.dst;
  if (uh.checksum === 0) st.nosum++;
  else if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0 && !uh.verifyChecksum(src, dst)) {
    st.badsum++;
    return;
  }
  const sport = uh.srcPort;
  const dport = uh.dstPort;
  const data = uh.payloadOffset;
  const dlen = uh.payloadLength;
  if (bcast) {
    // Every endpoint bound to the port (wildcard or to this broadcast address) gets a copy.
    let got = false;
    for (const p of im.udb.boundTo(dport)) {
      if ((p.vflag & INP_IPV4) === 0) continue;
      if (p.laddr !== 0 && p.laddr !== dst) continue;
      if (p.fport !== 0 && (p.faddr !== src || p.fport !== sport)) continue;
      got = true;
      if (p.tunnel !== null) {
        st.delivered++;
        p.tunnel.input(im, ifp, buf, off, data, dlen, src, dst, meta);
      } else if (p.so.input(src, sport, dst, buf, data, dlen)) st.delivered++;
      else st.fullsock++;
    }
    if (!got) st.noportbcast++;
    return;
  }
  const pcb = im.udb.lookup(dst, dport, src, sport);
  if (pcb === undefined) {
    st.noport++;
    if (im.sysctl.v[udpBlackhole.slot] === 0) icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.PORT, 0);
    return;
  }
  if (pcb.tunnel !== null) {
    st.delivered++;
    pcb.tunnel.input(im, ifp, buf, off, data, dlen, src, dst, meta);
    return;
  }
  if (!pcb.so.input(src, sport, dst, buf, data, dlen)) {
    st.fullsock++;
    return;
  }
  st.delivered++;
}

/**
 * Send `data` from the endpoint (bound; laddr may be the wildcard, then
 * `src` is the source chosen for the destination) to faddr:fport. Returns
 * 0 or the errno the sender sees.
 */
export function udpOutput(im: Vnet, pcb: UdpPcb, src: number, faddr: number, fport: number, data: Uint8Array, dontFrag = false): OutResult {
  const n = data.length;
  if (n > 65535 - 20 - UDP_HDR_LEN) return 'EMSGSIZE';
  const total = IP_HDR_LEN + UDP_HDR_LEN + n;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  b.set(data, o + IP_HDR_LEN + UDP_HDR_LEN);
  buildIpHeader(im, b, o, total, IPPROTO.UDP, src, faddr);
  emitUdp({ srcPort: pcb.lport, dstPort: fport, payloadLen: n }, b, o + IP_HDR_LEN, src, faddr, im.sysctl.v[udpChecksum.slot] === 1);
  im.udpstat.opackets++;
  let ifp: Ifnet | undefined;
  if (faddr === 0xffffffff) {
    ifp = broadcastIfnet(im, pcb.laddr);
    if (ifp === undefined) return 'ENETUNREACH';
  }
  return ipOutputLocal(im, b, o, total, im.noOffload, ifp !== undefined ? { ifp, dontFrag } : { dontFrag });
}

/**
 * An ICMP error quoting a datagram we sent (FreeBSD's udp_common_ctlinput):
 * the quoted IP header is at buf[q], its UDP ports follow. Only a connected
 * endpoint hears it (an unconnected one could not tell which send failed).
 */
export function udpCtlInput(im: Vnet, errno: CtlErrno, _mtu: number, buf: Uint8Array, q: number): void {
  const ip = im.udpViews.ip.reset(buf, q, IP_HDR_LEN);
  const uh = im.udpViews.udp.reset(buf, q + ip.headerLen, UDP_HDR_LEN);
  const pcb = im.udb.lookupConnected(ip.src, uh.srcPort, ip.dst, uh.dstPort);
  if (pcb !== undefined) pcb.so.ctlError(errno);
}
