/**
 * Ethernet input (FreeBSD's ether_input/ether_demux): count, filter by
 * destination address, demultiplex by EtherType. Unknown EtherTypes are data:
 * counted (noproto) and dropped.
 */

import type { Image } from '../image.js';
import { defineStats } from '../stats.js';
import { ETHERTYPE, ETHER_HDR_LEN, readMac } from '../wire/ethernet.js';
import type { VnetHdr } from '../wire/vnet.js';
import { arpInput } from '../netinet/if_ether.js';
import { ipInput } from '../netinet/ip_input.js';
import { IFF, type Ifnet } from './if.js';

export const etherStats = defineStats({
  runts: 'frames shorter than an Ethernet header',
  notours: 'unicast frames for another station',
  noproto: 'frames with an unsupported EtherType',
});

export function etherInput(im: Image, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const c = ifp.counters;
  if (len < ETHER_HDR_LEN) {
    c.ierrors++;
    im.etherstat.runts++;
    return;
  }
  c.ipackets++;
  c.ibytes += len;
  if ((buf[off]! & 1) !== 0) {
    c.imcasts++;
  } else if ((ifp.flags & IFF.PROMISC) === 0 && readMac(buf, off) !== ifp.mac) {
    im.etherstat.notours++;
    return;
  }
  const type = (buf[off + 12]! << 8) | buf[off + 13]!;
  if (type === ETHERTYPE.IPV4) {
    ipInput(im, ifp, buf, off + ETHER_HDR_LEN, len - ETHER_HDR_LEN, meta);
  } else if (type === ETHERTYPE.ARP) {
    arpInput(im, ifp, buf, off + ETHER_HDR_LEN, len - ETHER_HDR_LEN);
  } else {
    c.noproto++;
    im.etherstat.noproto++;
  }
}
