/**
 * gif(4): IPv4 and IPv6 tunnelled in IPv4 or IPv6 (RFC 2893, RFC 2003),
 * FreeBSD's if_gif over the image's own stack.
 *
 * A gif interface carries IP packets, not Ethernet frames: the IP output
 * paths hand it the packet itself (`LinkDriver.l3Output`, called by
 * ipToLink and ip6ToLink where an Ethernet link would be framed). Output
 * taps the packet for captures with a 4-byte address family header
 * (DLT_NULL, as FreeBSD's bpf_mtap2), writes the outer header in the room in
 * front of it (in_gif.ts for an IPv4 tunnel, in6_gif.ts for IPv6) and sends
 * the result through the image's IP output like any locally built packet:
 * routed out whatever interface reaches the tunnel's destination (the
 * underlay), through ipfw there. The inner packet went through ipfw on the
 * gif interface on its way here.
 *
 * Input: in_gif.ts and in6_gif.ts are in the image's IPv4 and IPv6
 * protocol switches for IPPROTO_IPV4 (4) and IPPROTO_IPV6 (41); they match
 * an outer packet to the interface whose tunnel source and destination it
 * carries (the outer destination is the tunnel's source) and hand the inner
 * packet to gifInput, which counts it, taps it and runs IP input on the gif
 * interface (ipfw sees it there).
 *
 * Nesting: a tunnel whose destination is routed through a gif (itself, or
 * another that leads back) would encapsulate forever; output in one pass
 * through more than `net.link.gif.max_nesting` gif interfaces is dropped,
 * FreeBSD's gif_check_nesting. Input decapsulation is limited as well (a
 * hostile packet of nested headers would otherwise recurse once per header).
 *
 * Every drop is counted once (`gifstat`, or the interface's oerrors).
 */

import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import { IP_HDR_LEN, Ipv4Packet, ip4ToString } from '../wire/ipv4.js';
import { IP6_HDR_LEN, Ipv6Packet, in6Equal, ip6ToString, type In6Addr } from '../wire/ipv6.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, type VnetHdr } from '../wire/vnet.js';
import { completeChecksum } from '../netinet/gso.js';
import { in6Local } from '../netinet6/in6.js';
import { bpfTapNull } from './bpf.js';
import { IFF, type Ifnet, type LinkDriver } from './if.js';
import type { Vnet } from './vnet.js';

/** Address families in the DLT_NULL header, FreeBSD's values (host byte order on the wire of a capture). */
export const AF_INET = 2;
export const AF_INET6 = 28;
/** FreeBSD's GIF_MTU, GIF_MTU_MIN, GIF_MTU_MAX (if_gif.h). */
export const GIF_MTU = 1280;
export const GIF_MTU_MIN = 1280;
export const GIF_MTU_MAX = 8192;
/** Decapsulations inside one another on input before the packet is dropped. */
export const GIF_MAX_INPUT_NEST = 8;
/** IP protocol numbers of the inner packet (IPPROTO_IPV4, IPPROTO_IPV6). */
export const IPPROTO_IPV4 = 4;
export const IPPROTO_IPV6 = 41;

export const gifMaxNesting = sysctlInt({
  name: 'net.link.gif.max_nesting',
  def: 1,
  min: 1,
  max: 32,
  descr: 'Max nested tunnels',
});

export const gifStats = defineStats({
  opackets: 'packets encapsulated',
  ipackets: 'packets decapsulated and handed to a gif interface',
  nomatch: 'outer packets no running gif interface has the tunnel for',
  ingress: 'outer packets whose source is not routed back through the interface they came in on',
  hdrops: 'outer packets too short for the inner header they announce',
  badinner: 'inner packets of another IP version than the outer protocol says',
  down: 'packets for a gif interface that is down or has no tunnel',
  gso: 'large (GSO) packets that cannot be decapsulated',
  nested: 'packets dropped as nested too deep (net.link.gif.max_nesting)',
});
export type GifStat = Stats<(typeof gifStats.fields)[number]>;

/** Outer output of one tunnel family: returns 0 or an errno name. */
export type GifOutput = (vn: Vnet, d: GifDriver, buf: Uint8Array, off: number, len: number, proto: number, tos: number) => number | string;

/** Per-image gif state: the tunnels, counters, nesting depths, the families' outputs. */
export class GifState {
  /** Interfaces with a tunnel set, scanned on input (an image has a handful). */
  readonly tunnels: GifDriver[] = [];
  readonly stat: GifStat = gifStats.create();
  /** gif interfaces the packet being sent has passed through. */
  depth = 0;
  /** Decapsulations of the packet being received. */
  inDepth = 0;
  readonly v4 = new Ipv4Packet();
  readonly v6 = new Ipv6Packet();
  /** Set by in_gif.ts and in6_gif.ts when the image is assembled. */
  out4: GifOutput | null = null;
  out6: GifOutput | null = null;
}

declare module './vnet.js' {
  interface Vnet {
    /** gif(4) tunnels and counters (lib/net/if_gif.ts); made by gifInit. */
    gif: GifState;
  }
}

export function gifInit(vn: Vnet): void {
  vn.gif = new GifState();
}

export function gifDestroy(vn: Vnet): void {
  vn.gif.tunnels.length = 0;
}

/** The tunnel as ifconfig prints and the configuration keeps it. */
export interface GifInfo {
  tunnel?: { family: 'inet' | 'inet6'; src: string; dst: string };
}

export class GifDriver implements LinkDriver {
  readonly kind = 'gif';
  readonly offload = false;
  readonly headroom = 0;
  ifp: Ifnet | null = null;
  /** 0: no tunnel; 4 or 6: the outer header's version. */
  family: 0 | 4 | 6 = 0;
  src4 = 0;
  dst4 = 0;
  src6: In6Addr = new Uint8Array(16);
  dst6: In6Addr = new Uint8Array(16);

  /** Ethernet frames never reach a gif: nothing frames for it. */
  output(ifp: Ifnet): void {
    ifp.counters.oerrors++;
  }

  /**
   * FreeBSD's gif_transmit: an IP packet of family `af` at buf[off, off+len)
   * (with FRAME_HEADROOM in front) for the tunnel. Never throws.
   */
  l3Output(ifp: Ifnet, af: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    // An interface's owner is its image (lib/image.ts).
    const im = ifp.owner as unknown as Vnet;
    const g = im.gif;
    if ((ifp.flags & IFF.UP) === 0 || this.family === 0 || !this.running(im)) {
      g.stat.down++;
      ifp.counters.oerrors++;
      return;
    }
    if (g.depth >= im.sysctl.v[gifMaxNesting.slot]!) {
      g.stat.nested++;
      ifp.counters.oerrors++;
      return;
    }
    if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
      g.stat.gso++;
      ifp.counters.oerrors++;
      return;
    }
    if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) completeChecksum(buf, off, len, meta);
    if (ifp.bpf !== null) bpfTapNull(ifp.bpf, af, buf, off, len);
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    // ECN_NOCARE (no IFF_LINK1): the outer header takes the inner TOS / traffic class as it is.
    const tos = af === AF_INET ? g.v4.reset(buf, off, len).tos : g.v6.reset(buf, off, len).trafficClass;
    const proto = af === AF_INET ? IPPROTO_IPV4 : IPPROTO_IPV6;
    const out = this.family === 4 ? g.out4 : g.out6;
    g.stat.opackets++;
    g.depth++;
    let r: number | string = 'ENETDOWN';
    try {
      if (out !== null) r = out(im, this, buf, off, len, proto, tos);
    } finally {
      g.depth--;
    }
    if (r !== 0) ifp.counters.oerrors++;
  }

  /**
   * IFF_RUNNING: a tunnel whose source is one of the image's addresses
   * (FreeBSD's in_gif_set_running, against spoofing), looked at again
   * whenever it is asked, so an address that comes or goes later counts.
   */
  running(im: Vnet): boolean {
    const ifp = this.ifp!;
    let ok = false;
    if (this.family === 4) ok = im.inAddrs.has(this.src4);
    else if (this.family === 6) ok = in6Local(im, this.src6, 0, null) !== undefined;
    if (ok) ifp.flags |= IFF.RUNNING;
    else ifp.flags &= ~IFF.RUNNING;
    return ok;
  }

  /** Does this tunnel carry an outer packet from `src` to `dst` (inbound: its destination is our source)? */
  matches4(src: number, dst: number): boolean {
    return this.family === 4 && this.src4 === dst && this.dst4 === src;
  }

  matches6(buf: Uint8Array, so: number, dO: number): boolean {
    return this.family === 6 && in6Equal(this.src6, 0, buf, dO) && in6Equal(this.dst6, 0, buf, so);
  }

  destroy(ifp: Ifnet): void {
    gifUnlink(ifp.owner as unknown as Vnet, this);
  }

  /** Moved to another image: the tunnel is deleted, as FreeBSD's gif_reassign does. */
  moved(ifp: Ifnet): void {
    this.deleteTunnel(ifp);
  }

  /** `deletetunnel` (FreeBSD's gif_delete_tunnel). */
  deleteTunnel(ifp: Ifnet): void {
    gifUnlink(ifp.owner as unknown as Vnet, this);
    this.family = 0;
    this.src4 = this.dst4 = 0;
    this.src6.fill(0);
    this.dst6.fill(0);
    ifp.flags &= ~IFF.RUNNING;
  }

  info(): GifInfo {
    if (this.family === 0) return {};
    return this.family === 4
      ? { tunnel: { family: 'inet', src: ip4ToString(this.src4), dst: ip4ToString(this.dst4) } }
      : { tunnel: { family: 'inet6', src: ip6ToString(this.src6), dst: ip6ToString(this.dst6) } };
  }

  describe(): Record<string, string | number | boolean> {
    const t = this.info().tunnel;
    return t === undefined ? {} : { tunnel: `${t.src} --> ${t.dst}` };
  }
}

/** Forget `d` in the image's tunnel list (no tunnel, destroyed, moved away). */
export function gifUnlink(im: Vnet, d: GifDriver): void {
  const list = im.gif?.tunnels;
  if (list === undefined) return;
  const i = list.indexOf(d);
  if (i >= 0) list.splice(i, 1);
}

/** List `d` as carrying its tunnel in image `im` (set, or moved in). */
export function gifLink(im: Vnet, d: GifDriver): void {
  if (!im.gif.tunnels.includes(d)) im.gif.tunnels.push(d);
}

/**
 * Decapsulation, once a tunnel of `gifp` took the outer packet: the inner
 * packet (IPPROTO_IPV4 or IPPROTO_IPV6 as `proto`) at buf[inner, inner+ilen)
 * must hold a whole header of that version, then goes to gifInput.
 */
export function gifDecap(im: Vnet, gifp: Ifnet, proto: number, buf: Uint8Array, inner: number, ilen: number, meta: VnetHdr, outerOff: number, outerLen: number): void {
  const v4 = proto === IPPROTO_IPV4;
  if (ilen < (v4 ? IP_HDR_LEN : IP6_HDR_LEN)) {
    im.gif.stat.hdrops++;
    return;
  }
  if (buf[inner]! >>> 4 !== (v4 ? 4 : 6)) {
    im.gif.stat.badinner++;
    gifp.counters.ierrors++;
    return;
  }
  gifInput(im, gifp, v4 ? AF_INET : AF_INET6, buf, inner, ilen, meta, outerOff, outerLen);
}

/**
 * FreeBSD's gif_input: the inner packet of family `af` at buf[off, off+len)
 * arrived on `gifp`'s tunnel. `outerOff`/`outerLen` delimit the outer IP
 * packet, which offload metadata (a checksum left to complete) refers to.
 */
export function gifInput(im: Vnet, gifp: Ifnet, af: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr, outerOff: number, outerLen: number): void {
  const g = im.gif;
  if ((gifp.flags & IFF.UP) === 0) {
    g.stat.down++;
    gifp.counters.iqdrops++;
    return;
  }
  if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
    g.stat.gso++;
    gifp.counters.ierrors++;
    return;
  }
  // A checksum the sender left to the offload is completed against the outer frame, then the inner packet is plain.
  if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) completeChecksum(buf, outerOff, outerLen, meta);
  if (g.inDepth >= GIF_MAX_INPUT_NEST) {
    g.stat.nested++;
    gifp.counters.ierrors++;
    return;
  }
  if (gifp.bpf !== null) bpfTapNull(gifp.bpf, af, buf, off, len);
  gifp.counters.ipackets++;
  gifp.counters.ibytes += len;
  g.stat.ipackets++;
  const input = im.protosw.ether(af === AF_INET ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6);
  if (input === null) {
    gifp.counters.noproto++;
    return;
  }
  g.inDepth++;
  try {
    input(im, gifp, buf, off, len, im.noOffload);
  } finally {
    g.inDepth--;
  }
}
