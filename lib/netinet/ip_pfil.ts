/**
 * The inet pfil head of an image (FreeBSD's V_inet_pfil_head, made in
 * ip_init): IP input runs its input hooks on every valid packet, IP output
 * its output hooks on our own and forwarded packets. The head is given the
 * IP layer's continuations, so a filter that kept a packet (dummynet)
 * resumes it where it left without importing ip_input or ip_output.
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { PfilHead } from '../net/pfil.js';
import type { VnetHdr } from '../wire/vnet.js';
import { ipInputDispatch } from './ip_input.js';
import { buildIpHeader, ipOutputFinish, ipOutputLocal } from './ip_output.js';
import { FRAME_HEADROOM } from './ip_var.js';

/** Subsystem init: the head, before any filter registers on it. */
export function ipPfilInit(im: Vnet): void {
  (im as { inetPfil: PfilHead }).inetPfil = new PfilHead('inet', {
    resumeInput(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
      const ip = im.ipViews.input.reset(buf, off, len);
      ipInputDispatch(im, ifp, buf, off, ip.headerLen, len, meta, ip.dst);
    },
    resumeOutput(ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): void {
      ipOutputFinish(im, ifp, nexthop, buf, off, len, mtu, meta);
    },
    headroom: FRAME_HEADROOM,
    sendLocal(buf: Uint8Array, off: number, len: number, proto: number, src: number, dst: number): void {
      buildIpHeader(im, buf, off, len, proto, src, dst);
      ipOutputLocal(im, buf, off, len, im.noOffload);
    },
  });
}
