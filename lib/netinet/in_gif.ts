/**
 * gif(4) over IPv4 (FreeBSD's in_gif.c): the outer IPv4 header on output,
 * and the IPv4 protocol switch's entries for IPPROTO_IPV4 (4in4) and
 * IPPROTO_IPV6 (6in4) on input.
 *
 * Output builds the outer header from the tunnel's addresses, TTL
 * `net.inet.ip.gifttl` (30), the inner TOS, no DF (FreeBSD leaves ip_off
 * zero: a large packet is fragmented on the underlay), and sends it through
 * ipOutputLocal.
 *
 * Input is a validation ladder. The outer packet must carry a whole inner
 * header of the version the protocol says; then it is matched to the gif
 * interface whose tunnel source is the outer destination and whose tunnel
 * destination is the outer source (in_gif_lookup), that is up, and whose
 * tunnel destination is routed back through the interface the packet came
 * in on (FreeBSD's ingress filter, without IFF_LINK2). A packet no tunnel
 * takes is what FreeBSD's rip_input makes of it: counted in ipstat's
 * noproto and answered with an ICMP protocol unreachable.
 */

import { IFF, type Ifnet } from '../net/if.js';
import { IPPROTO_IPV4, IPPROTO_IPV6, gifDecap, gifDestroy, gifInit, type GifDriver } from '../net/if_gif.js';
import { in6GifInit } from '../netinet6/in6_gif.js';
import { ipProtoRegister, type Vnet } from '../net/vnet.js';
import { sysctlInt } from '../sysctl.js';
import { ICMP_TYPE, ICMP_UNREACH } from '../wire/icmp.js';
import { IP_HDR_LEN } from '../wire/ipv4.js';
import type { VnetHdr } from '../wire/vnet.js';
import { icmpError } from './ip_icmp.js';
import { buildIpHeader, ipOutputLocal } from './ip_output.js';
import { FRAME_HEADROOM, allocPacket } from './ip_var.js';

export const ipGifTtl = sysctlInt({
  name: 'net.inet.ip.gifttl',
  def: 30,
  min: 1,
  max: 255,
  descr: 'Default TTL value for encapsulated packets',
});

/** The gif subsystem of an image (lib/image.ts): its state, then both tunnel families in the protocol switches. */
export function gifAttach(im: Vnet): void {
  gifInit(im);
  inGifInit(im);
  in6GifInit(im);
}

export const gifDetach = gifDestroy;

/** Subsystem init: the IPv4 tunnel output, and 4in4 and 6in4 in the protocol switch. */
export function inGifInit(im: Vnet): void {
  im.gif.out4 = inGifOutput;
  ipProtoRegister(im, IPPROTO_IPV4, { input: inGifInput });
  ipProtoRegister(im, IPPROTO_IPV6, { input: inGifInput });
}

/** FreeBSD's in_gif_output: prepend the outer IPv4 header to the inner packet at buf[off, off+len). */
export function inGifOutput(im: Vnet, d: GifDriver, buf: Uint8Array, off: number, len: number, proto: number, tos: number): number | string {
  let o = off - IP_HDR_LEN;
  if (o < FRAME_HEADROOM) {
    // Built without the usual room in front: copy once.
    const p = allocPacket(IP_HDR_LEN + len);
    p.buf.set(buf.subarray(off, off + len), p.off + IP_HDR_LEN);
    buf = p.buf;
    o = p.off;
  }
  const total = IP_HDR_LEN + len;
  if (total > 0xffff) return 'EMSGSIZE';
  buildIpHeader(im, buf, o, total, proto, d.src4, d.dst4, im.sysctl.v[ipGifTtl.slot]!);
  im.gif.v4.reset(buf, o, IP_HDR_LEN).tos = tos;
  return ipOutputLocal(im, buf, o, total, im.noOffload);
}

/** The gif whose tunnel carries an outer packet from `src` to `dst` (FreeBSD's in_gif_lookup without the hash). */
export function inGifLookup(im: Vnet, src: number, dst: number): GifDriver | undefined {
  const list = im.gif.tunnels;
  for (let i = 0; i < list.length; i++) if (list[i]!.matches4(src, dst)) return list[i];
  return undefined;
}

/** Protocol switch input for IPPROTO_IPV4 and IPPROTO_IPV6 over IPv4. */
export function inGifInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void {
  const st = im.gif.stat;
  const ip = im.gif.v4.reset(buf, off, ipLen);
  const proto = ip.protocol;
  const src = ip.src;
  const dst = ip.dst;
  const inner = off + hlen;
  const ilen = ipLen - hlen;
  const d = bcast ? undefined : inGifLookup(im, src, dst);
  const gifp = d?.ifp ?? null;
  if (d === undefined || gifp === null || (gifp.flags & IFF.UP) === 0) {
    st.nomatch++;
    noTunnel(im, ifp, buf, off, ipLen, bcast);
    return;
  }
  // Ingress filter on the outer source: it must be routed back out the interface it came in on.
  const rt = im.routes.lookup(src);
  if (rt === undefined || (rt.ifp !== ifp && !ifp.loopback)) {
    st.ingress++;
    noTunnel(im, ifp, buf, off, ipLen, bcast);
    return;
  }
  gifDecap(im, gifp, proto, buf, inner, ilen, meta, off, ipLen);
}

/** No tunnel takes it: rip_input's answer, protocol unreachable (not to a broadcast), unless a raw socket took it (ip_input showed it to them). */
function noTunnel(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ipLen: number, bcast: boolean): void {
  const raw = im.raw.byProto;
  if (raw.length !== 0 && raw[buf[off + 9]!] !== 0) return;
  im.ipstat.noproto++;
  if (!bcast) icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.UNREACH, ICMP_UNREACH.PROTOCOL, 0);
}
