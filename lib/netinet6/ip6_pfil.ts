/**
 * The inet6 pfil head of an image (FreeBSD's V_inet6_pfil_head, made in
 * ip6_init): IPv6 input runs its input hooks on every valid packet before
 * the local-or-forward decision, output and forwarding run its output
 * hooks once the outgoing interface is known. The head is given the IPv6
 * layer's continuations, so a filter that kept a packet (dummynet) resumes
 * it where it left: input at the local-or-forward decision, output at the
 * link, with the next hop looked up again (as FreeBSD's dummynet sends
 * an IPv6 packet back through ip6_output).
 */

import { IFF, type Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { PfilHead } from '../net/pfil.js';
import { completeChecksum } from '../netinet/gso.js';
import { FRAME_HEADROOM } from '../netinet/ip_var.js';
import { IP6_DST_OFF, in6IsMulticast, in6IsScoped } from '../wire/ipv6.js';
import { VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { ip6InputRoute } from './ip6_input.js';
import { ip6Fragment, ip6Output, ip6ToLink } from './ip6_output.js';

declare module '../net/vnet.js' {
  interface Vnet {
    /** The inet6 pfil head: the filters' hooks on IPv6 input and output (lib/netinet6/ip6_pfil.ts). */
    readonly inet6Pfil: PfilHead;
  }
}

/** Subsystem init: the head, before any filter registers on it. */
export function ip6PfilInit(im: Vnet): void {
  (im as { inet6Pfil: PfilHead }).inet6Pfil = new PfilHead('inet6', {
    resumeInput(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
      ip6InputRoute(im, ifp, buf, off, len, meta);
    },
    resumeOutput(ifp: Ifnet, _nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): void {
      ip6OutputResume(im, ifp, buf, off, len, mtu, meta);
    },
    headroom: FRAME_HEADROOM,
    sendLocal(buf: Uint8Array, off: number, len: number): void {
      // The filter built the whole IPv6 packet at buf[off].
      ip6Output(im, buf, off, len, im.noOffload);
    },
  });
}

/**
 * Output of a packet a filter held, on `ifp`: the next hop again (the
 * destination on its link, else the route's gateway). A packet of our own
 * larger than the `mtu` it was filtered with is cut into fragments now, as
 * ip6Output would have done (a forwarded one was checked against the link
 * MTU before the filter and is never larger).
 */
function ip6OutputResume(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): void {
  const d = off + IP6_DST_OFF;
  let nh = buf;
  let nho = d;
  if ((ifp.flags & IFF.LOOPBACK) === 0 && !in6IsMulticast(buf, d) && !in6IsScoped(buf, d)) {
    const rt = im.route6.lookup(buf, d);
    if (rt === undefined) {
      im.ip6stat.noroute++;
      return;
    }
    if (rt.gateway !== null) {
      nh = rt.gateway;
      nho = 0;
    }
  }
  if (len > mtu && meta.gsoType === VIRTIO_NET_HDR_GSO.NONE) {
    if (meta.flags !== 0) completeChecksum(buf, off, len, meta);
    ip6Fragment(im, ifp, nh, nho, buf, off, len, mtu);
    return;
  }
  if (meta.flags !== 0 && !ifp.driver.offload) completeChecksum(buf, off, len, meta);
  ip6ToLink(im, ifp, nh, nho, buf, off, len, meta);
}
