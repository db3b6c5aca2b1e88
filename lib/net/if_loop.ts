/** The loopback link (lo0): what it sends, it receives, one netisr turn later. */

import type { VnetHdr } from '../wire/vnet.js';
import type { Ifnet, LinkDriver } from './if.js';
import { NETISR_ETHER, type Netisr } from './netisr.js';

export class LoopDriver implements LinkDriver {
  readonly kind = 'lo';
  readonly offload = true;
  readonly headroom = 0;

  constructor(private readonly netisr: Netisr) {}

  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    this.netisr.enqueue(NETISR_ETHER, ifp, buf, off, len, meta);
  }

  destroy(): void {}

  describe(): Record<string, string | number | boolean> {
    return {};
  }
}
