/**
 * UDP input (RFC 768). This layer validates datagrams, counts them as
 * FreeBSD's `struct udpstat` does, and answers datagrams for ports nobody
 * listens on with ICMP port unreachable (what traceroute's probes rely on),
 * unless net.inet.udp.blackhole says to stay silent.
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { defineStats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { pseudoHeaderSum, foldComplement, sum16 } from '../wire/checksum.js';
import { ICMP_TYPE, ICMP_UNREACH } from '../wire/icmp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, type VnetHdr } from '../wire/vnet.js';
import { icmpError } from './ip_icmp.js';
import { readU32 } from './ip_output.js';

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

export const udpStats = defineStats({
  ipackets: 'datagrams received',
  hdrops: 'with incomplete header',
  badlen: 'with bad data length field',
  badsum: 'with bad checksum',
  nosum: 'with no checksum',
  noport: 'dropped due to no socket',
  noportbcast: 'broadcast/multicast datagrams undelivered',
  fullsock: 'dropped due to full socket buffers',
  delivered: 'delivered',
  opackets: 'datagrams output',
});

export function udpInput(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.udpstat;
  st.ipackets++;
  const u = off + hlen;
  const ulen = ipLen - hlen;
  if (ulen < 8) {
    st.hdrops++;
    return;
  }
  const fieldLen = (buf[u + 4]! << 8) | buf[u + 5]!;
  if (fieldLen < 8 || fieldLen > ulen) {
    st.badlen++;
    return;
  }
  const csum = (buf[u + 6]! << 8) | buf[u + 7]!;
  if (csum === 0) st.nosum++;
  else if ((meta.flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) === 0) {
    const ps = pseudoHeaderSum(readU32(buf, off + 12), readU32(buf, off + 16), 17, fieldLen);
    if (foldComplement(sum16(buf, u, fieldLen, ps)) !== 0) {
      st.badsum++;
      return;
    }
  }
  // No UDP sockets are bound in this image yet: every port is closed.
  if (bcast) {
    st.noportbcast++;
    return;
  }
  st.noport++;
  if (im.sysctl.v[udpBlackhole.slot] === 0) icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.PORT, 0);
}
