/**
 * Ethernet input (FreeBSD's ether_input/ether_demux): count, filter by
 * destination address, demultiplex by EtherType. Unknown EtherTypes are data:
 * counted (noproto) and dropped.
 */

import { defineStats, type Stats } from '../stats.js';
import { ETHER_HDR_LEN, etherIsGroup, etherTypeAt, macHalvesAt } from '../wire/ethernet.js';
import type { VnetHdr } from '../wire/vnet.js';
import type { Ifnet } from './if.js';
import type { Vnet } from './vnet.js';

export const etherStats = defineStats({
  runts: 'frames shorter than an Ethernet header',
  notours: 'unicast frames for another station',
  noproto: 'frames with an unsupported EtherType',
});

export type EtherStat = Stats<(typeof etherStats.fields)[number]>;

declare module './vnet.js' {
  interface Vnet {
    readonly etherstat: EtherStat;
  }
}

/** Link input: count, filter on the destination, hand the payload to the EtherType's registered input. */
export function etherInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const c = ifp.counters;
  if (len < ETHER_HDR_LEN) {
    c.ierrors++;
    im.etherstat.runts++;
    return;
  }
  c.ipackets++;
  c.ibytes += len;
  if (etherIsGroup(buf, off)) {
    c.imcasts++;
  } else if (!macHalvesAt(buf, off, ifp.macHi, ifp.macLo)) {
    // A promiscuous interface takes every frame (its captures saw it in
    // Ifnet.input), but one for another station goes no further up: FreeBSD's
    // ether_demux drops M_PROMISC frames on an interface outside a bridge.
    im.etherstat.notours++;
    return;
  }
  const input = im.protosw.ether(etherTypeAt(buf, off));
  if (input === null) {
    c.noproto++;
    im.etherstat.noproto++;
    return;
  }
  input(im, ifp, buf, off + ETHER_HDR_LEN, len - ETHER_HDR_LEN, meta);
}
