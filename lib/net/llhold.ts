/**
 * Frames waiting on link-layer resolution (FreeBSD's `la_hold` in an
 * llentry): ARP (netinet/if_ether.ts) and IPv6 neighbour discovery
 * (netinet6/nd6.ts) both keep a copy of each frame, with its VnetHdr, until
 * the neighbour answers. How many are kept, and which are dropped, is each
 * protocol's own policy (ARP drops one, as arpresolve does; ND drops down to
 * the limit, as nd6_resolve_slow does), so it stays with the caller.
 */

import { VnetHdr } from '../wire/vnet.js';
import { PKT_HEADROOM } from './if.js';

/** A held frame, Ethernet header included, at buf[off, off+len). */
export interface HeldFrame {
  buf: Uint8Array;
  off: number;
  len: number;
  meta: VnetHdr;
}

/** Appends a copy of the frame at buf[off, off+len) and its header to `hold`, with PKT_HEADROOM in front. */
export function holdFrame(hold: HeldFrame[], buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const copy = new Uint8Array(PKT_HEADROOM + len);
  copy.set(buf.subarray(off, off + len), PKT_HEADROOM);
  hold.push({ buf: copy, off: PKT_HEADROOM, len, meta: new VnetHdr().copyFrom(meta) });
}
