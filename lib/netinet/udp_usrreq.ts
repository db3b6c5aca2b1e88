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

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { InPcb, PcbTable, broadcastIfnet } from '../socket/in_pcb.js';
import { defineStats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { pseudoHeaderSum, foldComplement, sum16 } from '../wire/checksum.js';
import { ICMP_TYPE, ICMP_UNREACH } from '../wire/icmp.js';
import { UDP_HDR_LEN, emitUdp } from '../wire/udp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, type VnetHdr } from '../wire/vnet.js';
import { icmpError } from './ip_icmp.js';
import { allocPacket, buildIpHeader, ipOutputLocal, readU32 } from './ip_output.js';
import type { OutResult } from './ip_var.js';

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
});

/** What a UDP endpoint's owner (the socket) is told. */
export interface UdpSockHooks {
  /** Bytes waiting to be read (netstat's Recv-Q). */
  readonly recvQueued: number;
  /**
   * A datagram from src:sport to dst at buf[off, off+len): copy what is kept
   * before returning. False when the receive buffer is full (counted fullsock).
   */
  input(src: number, sport: number, dst: number, buf: Uint8Array, off: number, len: number): boolean;
  /** An ICMP error about a datagram this endpoint sent (connected endpoints only). */
  ctlError(errno: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'ENOPROTOOPT'): void;
}

export class UdpPcb extends InPcb {
  constructor(readonly so: UdpSockHooks) {
    super();
  }
}

export function udpInit(im: Image): void {
  im.udb = new PcbTable<UdpPcb>('udp');
}

/** Destroying an image closes its UDP endpoints. */
export function udpDestroy(im: Image): void {
  im.udb.clear();
}

export function udpInput(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.udpstat;
  st.ipackets++;
  const u = off + hlen;
  const ulen = ipLen - hlen;
  if (ulen < UDP_HDR_LEN) {
    st.hdrops++;
    return;
  }
  const fieldLen = (buf[u + 4]! << 8) | buf[u + 5]!;
  if (fieldLen < UDP_HDR_LEN || fieldLen > ulen) {
    st.badlen++;
    return;
  }
  const src = readU32(buf, off + 12);
  const dst = readU32(buf, off + 16);
  const csum = (buf[u + 6]! << 8) | buf[u + 7]!;
  if (csum === 0) st.nosum++;
  else if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0) {
    if (foldComplement(sum16(buf, u, fieldLen, pseudoHeaderSum(src, dst, 17, fieldLen))) !== 0) {
      st.badsum++;
      return;
    }
  }
  const sport = (buf[u]! << 8) | buf[u + 1]!;
  const dport = (buf[u + 2]! << 8) | buf[u + 3]!;
  const data = u + UDP_HDR_LEN;
  const dlen = fieldLen - UDP_HDR_LEN;
  if (bcast) {
    // Every endpoint bound to the port (wildcard or to this broadcast address) gets a copy.
    let got = false;
    for (const p of im.udb.boundTo(dport)) {
      if (p.laddr !== 0 && p.laddr !== dst) continue;
      if (p.fport !== 0 && (p.faddr !== src || p.fport !== sport)) continue;
      got = true;
      if (p.so.input(src, sport, dst, buf, data, dlen)) st.delivered++;
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
export function udpOutput(im: Image, pcb: UdpPcb, src: number, faddr: number, fport: number, data: Uint8Array, dontFrag = false): OutResult {
  const n = data.length;
  if (n > 65535 - 20 - UDP_HDR_LEN) return 'EMSGSIZE';
  const total = 20 + UDP_HDR_LEN + n;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  b.set(data, o + 20 + UDP_HDR_LEN);
  buildIpHeader(im, b, o, total, 17, src, faddr);
  emitUdp({ srcPort: pcb.lport, dstPort: fport, payloadLen: n }, b, o + 20, src, faddr, im.sysctl.v[udpChecksum.slot] === 1);
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
export function udpCtlInput(im: Image, errno: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'ENOPROTOOPT', buf: Uint8Array, q: number): void {
  const hl = (buf[q]! & 0xf) << 2;
  const src = readU32(buf, q + 12);
  const dst = readU32(buf, q + 16);
  const sport = (buf[q + hl]! << 8) | buf[q + hl + 1]!;
  const dport = (buf[q + hl + 2]! << 8) | buf[q + hl + 3]!;
  const pcb = im.udb.lookupConnected(src, sport, dst, dport);
  if (pcb !== undefined) pcb.so.ctlError(errno);
}
