/**
 * gif(4) over IPv6 (FreeBSD's in6_gif.c): the outer IPv6 header on output
 * (4in6 and 6in6), and the IPv6 protocol switch's entries for
 * IPPROTO_IPV4 and IPPROTO_IPV6 on input.
 *
 * Output writes the 40-byte header from the tunnel's addresses, hop limit
 * `net.inet6.ip6.gifhlim` (30) and the inner TOS as traffic class, and
 * sends it through ip6Output. Input is in_gif.ts's ladder for IPv6: a whole
 * inner header, the tunnel whose source is the outer destination and whose
 * destination is the outer source, up, its destination routed back through
 * the receiving interface; a packet no tunnel takes earns ICMPv6's
 * parameter problem for an unrecognized next header, as ip6_input gives a
 * protocol nobody handles.
 */

import { IFF, type Ifnet } from '../net/if.js';
import { IPPROTO_IPV4, IPPROTO_IPV6, gifDecap, type GifDriver } from '../net/if_gif.js';
import { ip6ProtoRegister, type Vnet } from '../net/vnet.js';
import { sysctlInt } from '../sysctl.js';
import { put32 } from '../wire/bytes.js';
import { IP6_DST_OFF, IP6_HDR_LEN, IP6_SRC_OFF, emitIpv6Raw } from '../wire/ipv6.js';
import type { VnetHdr } from '../wire/vnet.js';
import { FRAME_HEADROOM, allocPacket } from '../netinet/ip_var.js';
import { rip6Input } from './raw_ip6.js';
import { ip6Output } from './ip6_output.js';

export const ip6GifHlim = sysctlInt({
  name: 'net.inet6.ip6.gifhlim',
  def: 30,
  min: 1,
  max: 255,
  descr: 'Default hop limit for encapsulated packets',
});

/** Subsystem init: the IPv6 tunnel output, and 4in6 and 6in6 in the IPv6 protocol switch. */
export function in6GifInit(im: Vnet): void {
  im.gif.out6 = in6GifOutput;
  ip6ProtoRegister(im, IPPROTO_IPV4, { input: in6Gif4Input });
  ip6ProtoRegister(im, IPPROTO_IPV6, { input: in6Gif6Input });
}

/** FreeBSD's in6_gif_output: prepend the outer IPv6 header to the inner packet at buf[off, off+len). */
export function in6GifOutput(im: Vnet, d: GifDriver, buf: Uint8Array, off: number, len: number, proto: number, tos: number): number | string {
  let o = off - IP6_HDR_LEN;
  if (o < FRAME_HEADROOM) {
    const p = allocPacket(IP6_HDR_LEN + len);
    p.buf.set(buf.subarray(off, off + len), p.off + IP6_HDR_LEN);
    buf = p.buf;
    o = p.off;
  }
  if (len > 0xffff) return 'EMSGSIZE';
  emitIpv6Raw(buf, o, len, proto, im.sysctl.v[ip6GifHlim.slot]!, d.src6, 0, d.dst6, 0);
  put32(buf, o, (0x60000000 | ((tos & 0xff) << 20)) >>> 0); // version and traffic class; flow label 0
  return ip6Output(im, buf, o, IP6_HDR_LEN + len, im.noOffload);
}

/** The gif whose tunnel carries the outer IPv6 packet at buf[off]. */
export function in6GifLookup(im: Vnet, buf: Uint8Array, off: number): GifDriver | undefined {
  const list = im.gif.tunnels;
  const so = off + IP6_SRC_OFF;
  const dO = off + IP6_DST_OFF;
  for (let i = 0; i < list.length; i++) if (list[i]!.matches6(buf, so, dO)) return list[i];
  return undefined;
}

/** The switch's entries: IPv4 (4in6) and IPv6 (6in6) inside. */
function in6Gif4Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  in6GifInput(im, ifp, IPPROTO_IPV4, buf, off, hoff, ip6Len, meta, mcast);
}

function in6Gif6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  in6GifInput(im, ifp, IPPROTO_IPV6, buf, off, hoff, ip6Len, meta, mcast);
}

/** Input of IPPROTO_IPV4 or IPPROTO_IPV6 (`proto`) over IPv6, the upper-layer header at hoff. */
export function in6GifInput(im: Vnet, ifp: Ifnet, proto: number, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  const st = im.gif.stat;
  const ilen = off + ip6Len - hoff;
  const d = mcast ? undefined : in6GifLookup(im, buf, off);
  const gifp = d?.ifp ?? null;
  if (d === undefined || gifp === null || (gifp.flags & IFF.UP) === 0) {
    st.nomatch++;
    noTunnel(im, ifp, buf, off, hoff, ip6Len, meta, mcast);
    return;
  }
  const rt = im.route6.lookup(buf, off + IP6_SRC_OFF);
  if (rt === undefined || (rt.ifp !== ifp && !ifp.loopback)) {
    st.ingress++;
    noTunnel(im, ifp, buf, off, hoff, ip6Len, meta, mcast);
    return;
  }
  gifDecap(im, gifp, proto, buf, hoff, ilen, meta, off, ip6Len);
}

/** No tunnel takes it: rip6_input (the raw sockets of the protocol, else a parameter problem), as FreeBSD's encap6_input falls back to. */
function noTunnel(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void {
  rip6Input(im, ifp, buf, off, hoff, ip6Len, meta, mcast);
}
