/**
 * vxlan(4): a virtual Ethernet segment carried in UDP between tunnel end
 * points (RFC 7348), FreeBSD's if_vxlan over the image's own stack.
 *
 * Output: the inner frame gets the outer IPv4, UDP and VXLAN headers
 * written in place in the room in front of it (PKT_HEADROOM), and the
 * datagram from vxlanlocal to the remote end point goes through the image's
 * ip output like any locally generated packet: routed out whatever
 * interface reaches the remote (the underlay), through ipfw. The remote is
 * the one learned for the inner destination address, else vxlanremote
 * (unknown unicast, broadcast and multicast all go there).
 *
 * Input: the interface's socket (a UDP kernel tunnel bound to
 * vxlanlocalport when the interface goes up, shared by the interfaces with
 * the same port, like FreeBSD's vxlan_socket) takes the datagram for
 * vxlanlocal, checks the header, finds the interface
 * by VNI, learns the inner source address's end point (vxlanlearn) and hands
 * the inner frame to the interface's input: a bridge member's bridge, or
 * the image. Every drop is counted once (`vxlanstat`, or the interface's
 * ierrors for a bad inner frame).
 *
 * Multicast groups (vxlangroup) are not implemented: the control plane
 * refuses a multicast remote.
 */

import type { Timer } from '../clock.js';
import { defineStats, type Stats } from '../stats.js';
import { ETHER_HDR_LEN, etherIsGroup, macToString, type Mac } from '../wire/ethernet.js';
import { IP_HDR_LEN, IPPROTO, ip4ToString } from '../wire/ipv4.js';
import { internetChecksum } from '../wire/checksum.js';
import { put16 } from '../wire/bytes.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, VnetHdr } from '../wire/vnet.js';
import { VXLAN_ENCAP_LEN, VXLAN_PORT, VxlanHeader, emitVxlanUdp, vxlanFlowHash } from '../wire/vxlan.js';
import { udpTunnelBind, type UdpPcb, type UdpTunnel } from '../netinet/udp_usrreq.js';
import { buildIpHeader, ipOutputLocal } from '../netinet/ip_output.js';
import { FRAME_HEADROOM } from '../netinet/ip_var.js';
import { RT_EMPTY, BridgeRtable } from './bridge_rtable.js';
import { IFF, type Ifnet, type LinkDriver } from './if.js';
import type { Vnet } from './vnet.js';

/** FreeBSD's defaults (if_vxlan.c): table size, entry lifetime in seconds, outer TTL. */
export const VXLAN_FTABLE_MAX = 2000;
export const VXLAN_FTABLE_TIMEOUT = 20 * 60;
export const VXLAN_FTABLE_MAX_TIMEOUT = 24 * 60 * 60;
export const VXLAN_TTL = 64;
/** The default outer source port range (FreeBSD's IP_PORTRANGE_HIGH, 49152-65535). */
export const VXLAN_PORT_MIN = 49152;
export const VXLAN_PORT_MAX = 65535;
/** Ethernet MTU less the outer Ethernet, IPv4, UDP and VXLAN headers. */
export const VXLAN_MTU = 1500 - ETHER_HDR_LEN - VXLAN_ENCAP_LEN;
/** Tunnels inside tunnels deeper than this are dropped (a misrouted remote would recurse forever). */
export const VXLAN_MAX_NEST = 3;
/** Distinct remote end points one interface learns. */
const MAX_REMOTES = 4096;

export const vxlanStats = defineStats({
  ipackets: 'datagrams received by vxlan sockets',
  hdrops: 'datagrams shorter than a VXLAN header',
  badflags: 'datagrams without the VNI flag',
  novni: 'datagrams for a VNI no running interface has',
  badaddr: "datagrams to an address other than the interface's vxlanlocal",
  badframe: 'inner frames shorter than an Ethernet header',
  gso: 'large (GSO) datagrams that cannot be decapsulated',
  nested: 'packets dropped as nested too deep',
  ftnospace: 'addresses not learned, table full',
});
export type VxlanStat = Stats<(typeof vxlanStats.fields)[number]>;

/** Per-image vxlan state: the sockets by local port, counters, nesting depth. */
export class VxlanState {
  readonly sockets = new Map<number, VxlanSocket>();
  readonly stat: VxlanStat = vxlanStats.create();
  depth = 0;
}

declare module './vnet.js' {
  interface Vnet {
    /** vxlan(4) sockets and counters (lib/net/if_vxlan.ts); made by vxlanInit. */
    vxlan: VxlanState;
  }
}

export function vxlanInit(vn: Vnet): void {
  vn.vxlan = new VxlanState();
}

export function vxlanDestroy(vn: Vnet): void {
  for (const so of vn.vxlan.sockets.values()) vn.udb.remove(so.pcb);
  vn.vxlan.sockets.clear();
}

/**
 * FreeBSD's vxlan_socket: one UDP endpoint, the interfaces on it by VNI.
 * Unlike FreeBSD's (one per local address and port) it is bound to the
 * wildcard address, so it opens even before vxlanlocal is configured (a
 * restored configuration brings interfaces up before their addresses);
 * input checks each interface's vxlanlocal instead, and one VNI is one
 * interface per port.
 */
export class VxlanSocket implements UdpTunnel {
  readonly vnis = new Map<number, Ifnet>();
  readonly hdr = new VxlanHeader();
  pcb!: UdpPcb;
  constructor(readonly port: number) {}

  input(im: Vnet, _ifp: Ifnet, buf: Uint8Array, ipOff: number, data: number, dlen: number, src: number, dst: number, meta: VnetHdr): void {
    const st = im.vxlan.stat;
    st.ipackets++;
    const h = this.hdr.reset(buf, data, dlen);
    if (!h.checked()) {
      st.hdrops++;
      return;
    }
    if (!h.vniValid) {
      st.badflags++;
      return;
    }
    const v = this.vnis.get(h.vni);
    if (v === undefined) {
      st.novni++;
      return;
    }
    const d = v.driver as VxlanDriver;
    if (d.laddr !== 0 && d.laddr !== dst) {
      st.badaddr++;
      return;
    }
    const off = h.payloadOffset;
    const len = h.payloadLength;
    if (len < ETHER_HDR_LEN) {
      v.counters.ierrors++;
      st.badframe++;
      return;
    }
    if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
      v.counters.ierrors++;
      st.gso++;
      return;
    }
    let m = meta;
    if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      // csum_start counts from the start of the outer frame; now it starts at the inner one.
      m = d.inMeta.copyFrom(meta);
      m.csumStart -= off - (ipOff - ETHER_HDR_LEN);
      if (m.csumStart < 0) m.flags &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
    }
    if (d.learning) d.learn(im, src, buf, off + 6);
    if (im.vxlan.depth >= VXLAN_MAX_NEST) {
      st.nested++;
      return;
    }
    im.vxlan.depth++;
    v.input(buf, off, len, m);
    im.vxlan.depth--;
  }
}

export interface VxlanInfo {
  /** The VNI; absent until one is set. */
  vni?: number;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  portMin: number;
  portMax: number;
  ttl: number;
  learn: boolean;
  /** vxlandev, when given (FreeBSD uses it for multicast only). */
  dev?: string;
  ftable: { count: number; max: number; timeout: number };
}

export interface VxlanEntry {
  address: string;
  remote: string;
  expire: number;
}

export class VxlanDriver implements LinkDriver {
  readonly kind = 'vxlan';
  readonly offload = false;
  /** Inner frames come with PKT_HEADROOM in front; the outer headers go there. */
  readonly headroom = 0;
  ifp: Ifnet | null = null;
  /** Unset (FreeBSD's VXLAN_VNI_MAX + 1): the interface does not start. */
  vni = -1;
  laddr = 0;
  lport = VXLAN_PORT;
  raddr = 0;
  rport = VXLAN_PORT;
  portMin = VXLAN_PORT_MIN;
  portMax = VXLAN_PORT_MAX;
  ttl = VXLAN_TTL;
  learning = true;
  dev = '';
  maxaddr = VXLAN_FTABLE_MAX;
  timeout = VXLAN_FTABLE_TIMEOUT;
  /** The socket while running. */
  so: VxlanSocket | null = null;
  secs = 0;
  readonly inMeta = new VnetHdr();
  private readonly rt = new BridgeRtable(64);
  /** Learned end points: the table's `port` is an index here. */
  private readonly remotes: number[] = [];
  private readonly remoteSlot = new Map<number, number>();
  private timer: Timer | null = null;
  /** When output may next try to start a stopped interface (image clock, ms). */
  private retryAt = 0;

  /** Learn (or refresh) the end point of the inner source address at buf[s]. */
  learn(im: Vnet, raddr: number, buf: Uint8Array, s: number): void {
    if ((buf[s]! & 1) !== 0) return;
    const hi = (buf[s]! << 8) | buf[s + 1]!;
    const lo = (buf[s + 2]! << 24) | (buf[s + 3]! << 16) | (buf[s + 4]! << 8) | buf[s + 5]!;
    const rt = this.rt;
    const i = rt.find(hi, lo);
    if (i >= 0) {
      if (this.remotes[rt.port[i]!] !== raddr) {
        const slot = this.slotOf(raddr);
        if (slot < 0) rt.del(i);
        else rt.port[i] = slot;
        if (slot < 0) return;
      }
      rt.exp[i] = this.secs + this.timeout;
      return;
    }
    if (rt.count >= this.maxaddr) {
      im.vxlan.stat.ftnospace++;
      return;
    }
    if (rt.count * 2 >= rt.mask) rt.resize(Math.min(this.maxaddr, rt.count * 2 + 16));
    const slot = this.slotOf(raddr);
    if (slot >= 0) rt.insert(hi, lo, slot, this.secs + this.timeout);
    else im.vxlan.stat.ftnospace++;
  }

  private slotOf(raddr: number): number {
    const s = this.remoteSlot.get(raddr | 0);
    if (s !== undefined) return s;
    if (this.remotes.length >= MAX_REMOTES) this.compactRemotes();
    if (this.remotes.length >= MAX_REMOTES) return -1;
    this.remotes.push(raddr);
    this.remoteSlot.set(raddr | 0, this.remotes.length - 1);
    return this.remotes.length - 1;
  }

  /** Keep only the end points entries still use (expired entries leave theirs behind); renumber the entries' slots. */
  private compactRemotes(): void {
    const rt = this.rt;
    const old = this.remotes.slice();
    this.remotes.length = 0;
    this.remoteSlot.clear();
    for (let i = 0; i <= rt.mask; i++) {
      const p = rt.port[i]!;
      if (p === RT_EMPTY) continue;
      const a = old[p]!;
      let slot = this.remoteSlot.get(a | 0);
      if (slot === undefined) {
        this.remotes.push(a);
        slot = this.remotes.length - 1;
        this.remoteSlot.set(a | 0, slot);
      }
      rt.port[i] = slot;
    }
  }

  /** The end point for the inner destination at buf[off]: learned, else vxlanremote. */
  private remoteFor(buf: Uint8Array, off: number): number {
    if (this.rt.count === 0 || etherIsGroup(buf, off)) return this.raddr;
    const hi = (buf[off]! << 8) | buf[off + 1]!;
    const lo = (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
    const i = this.rt.find(hi, lo);
    return i < 0 ? this.raddr : this.remotes[this.rt.port[i]!]!;
  }

  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    // An interface's owner is its image (lib/image.ts).
    const im = ifp.owner as unknown as Vnet;
    if (this.so === null) {
      // Up but not running (its port taken, its VNI claimed): try again at most once a second, not per packet.
      const now = im.clock.now();
      if (now < this.retryAt || !this.start(ifp)) {
        if (now >= this.retryAt) this.retryAt = now + 1000;
        ifp.counters.oerrors++;
        return;
      }
    }
    if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE || im.vxlan.depth >= VXLAN_MAX_NEST) {
      if (meta.gsoType === VIRTIO_NET_HDR_GSO.NONE) im.vxlan.stat.nested++;
      ifp.counters.oerrors++;
      return;
    }
    if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      const start = off + meta.csumStart;
      const at = start + meta.csumOffset;
      if (at + 2 <= off + len) {
        put16(buf, at, internetChecksum(buf, start, off + len - start));
      }
    }
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    if (etherIsGroup(buf, off)) ifp.counters.omcasts++;
    const raddr = this.remoteFor(buf, off);
    if (off < VXLAN_ENCAP_LEN) {
      // Built without the usual room in front: copy once.
      const copy = new Uint8Array(FRAME_HEADROOM + VXLAN_ENCAP_LEN + len);
      copy.set(buf.subarray(off, off + len), FRAME_HEADROOM + VXLAN_ENCAP_LEN);
      buf = copy;
      off = FRAME_HEADROOM + VXLAN_ENCAP_LEN;
    }
    const n = this.portMax - this.portMin + 1;
    const sport = this.portMin + (vxlanFlowHash(buf, off, len) % n);
    const ipOff = off - VXLAN_ENCAP_LEN;
    const total = VXLAN_ENCAP_LEN + len;
    emitVxlanUdp(buf, ipOff + IP_HDR_LEN, sport, this.rport, len, this.vni);
    buildIpHeader(im, buf, ipOff, total, IPPROTO.UDP, this.laddr, raddr, this.ttl);
    im.vxlan.depth++;
    const r = ipOutputLocal(im, buf, ipOff, total, im.noOffload);
    im.vxlan.depth--;
    if (r !== 0) ifp.counters.oerrors++;
  }

  /**
   * Open the socket (FreeBSD's vxlan_init when the interface goes up):
   * bind the local port, claim the VNI. False (not running) when there is
   * no VNI or remote, a UDP socket holds the port, or another interface has
   * the VNI on that port.
   */
  start(ifp: Ifnet): boolean {
    if (this.so !== null) return true;
    if ((ifp.flags & IFF.UP) === 0 || this.vni < 0 || this.raddr === 0) return false;
    const im = ifp.owner as unknown as Vnet;
    let so = im.vxlan.sockets.get(this.lport);
    if (so === undefined) {
      const s = new VxlanSocket(this.lport);
      try {
        s.pcb = udpTunnelBind(im, 0, this.lport, s);
      } catch {
        return false;
      }
      im.vxlan.sockets.set(this.lport, s);
      so = s;
    }
    if (so.vnis.has(this.vni)) return false;
    so.vnis.set(this.vni, ifp);
    this.so = so;
    ifp.flags |= IFF.RUNNING;
    if (this.timer === null) this.timer = im.clock.every(1000, this.tick);
    return true;
  }

  /** Leave the socket (down, moved, destroyed); the socket closes with its last interface. */
  stop(ifp: Ifnet): void {
    ifp.flags &= ~IFF.RUNNING;
    this.timer?.cancel();
    this.timer = null;
    const so = this.so;
    if (so === null) return;
    this.so = null;
    if (so.vnis.get(this.vni) === ifp) so.vnis.delete(this.vni);
    if (so.vnis.size === 0) {
      const im = ifp.owner as unknown as Vnet;
      im.udb.remove(so.pcb);
      im.vxlan.sockets.delete(so.port);
    }
    this.flush(true);
  }

  setUp(ifp: Ifnet, up: boolean): void {
    if (up) {
      ifp.flags &= ~IFF.RUNNING;
      this.start(ifp);
    } else this.stop(ifp);
  }

  private readonly tick = (): void => {
    this.secs++;
    this.rt.expire(this.secs);
  };

  /** `vxlanflush` (learned entries) / `vxlanflushall`; the table holds no static entries. */
  flush(_all: boolean): void {
    this.rt.clear();
    this.remotes.length = 0;
    this.remoteSlot.clear();
  }

  setMaxaddr(n: number): void {
    this.maxaddr = n;
    this.rt.trim(n);
  }

  entries(): VxlanEntry[] {
    const out: VxlanEntry[] = [];
    const rt = this.rt;
    for (let i = 0; i <= rt.mask; i++) {
      if (rt.port[i] === RT_EMPTY) continue;
      const mac = ((rt.hi[i]! & 0xffff) * 0x100000000 + (rt.lo[i]! >>> 0)) as Mac;
      out.push({ address: macToString(mac), remote: ip4ToString(this.remotes[rt.port[i]!]!), expire: Math.max(0, rt.exp[i]! - this.secs) });
    }
    return out;
  }

  get count(): number {
    return this.rt.count;
  }

  moved(ifp: Ifnet): void {
    this.stop(ifp);
  }

  destroy(ifp: Ifnet): void {
    this.stop(ifp);
  }

  info(): VxlanInfo {
    return {
      ...(this.vni >= 0 ? { vni: this.vni } : {}),
      local: ip4ToString(this.laddr),
      localPort: this.lport,
      remote: ip4ToString(this.raddr),
      remotePort: this.rport,
      portMin: this.portMin,
      portMax: this.portMax,
      ttl: this.ttl,
      learn: this.learning,
      ...(this.dev !== '' ? { dev: this.dev } : {}),
      ftable: { count: this.rt.count, max: this.maxaddr, timeout: this.timeout },
    };
  }

  describe(): Record<string, string | number | boolean> {
    return this.vni < 0 ? {} : { vni: this.vni, remote: ip4ToString(this.raddr) };
  }
}
