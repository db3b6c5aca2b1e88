/**
 * epair: two Ethernet interfaces wired back to back (FreeBSD's if_epair).
 * A frame sent on one end is received on the other, through the netisr, so
 * the bytes are not copied and the receiving image runs in its own turn.
 */

import { etherIsGroup } from '../wire/ethernet.js';
import type { VnetHdr } from '../wire/vnet.js';
import { IFF, type Ifnet, type LinkDriver } from './if.js';
import { NETISR_ETHER, type Netisr } from './netisr.js';

export class EpairDriver implements LinkDriver {
  readonly kind = 'epair';
  readonly offload = true;
  readonly headroom = 0;
  /** The other end; null once the pair is destroyed. */
  peer: Ifnet | null = null;

  constructor(private readonly netisr: Netisr) {}

  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const peer = this.peer;
    if (peer === null || (peer.flags & IFF.UP) === 0) {
      ifp.counters.oerrors++;
      return;
    }
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    if (etherIsGroup(buf, off)) ifp.counters.omcasts++;
    this.netisr.enqueue(NETISR_ETHER, peer, buf, off, len, meta);
  }

  destroy(): void {
    this.peer = null;
  }

  describe(): Record<string, string | number | boolean> {
    const p = this.peer;
    return p === null ? {} : { peer: p.name, peerImage: p.owner.name };
  }
}
