/**
 * The interface object (FreeBSD's `struct ifnet`): name, index, flags, MTU,
 * link-level address, IPv4 addresses and counters, plus the link driver that
 * moves its frames. An Ifnet belongs to exactly one image at a time; moving it
 * changes `image` and nothing else about the link.
 */

import type { Mac } from '../wire/ethernet.js';
import type { VnetHdr } from '../wire/vnet.js';
import { defineStats, type Stats } from '../stats.js';
import { bpfDetachAll, bpfTap, bpfTapEtherNull, type BpfDesc } from './bpf.js';

export type IfIndex = number & { readonly __brand: 'IfIndex' };

/** Interface flags, FreeBSD's IFF_* values. */
export const IFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  DEBUG: 0x4,
  LOOPBACK: 0x8,
  POINTOPOINT: 0x10,
  RUNNING: 0x40,
  NOARP: 0x80,
  PROMISC: 0x100,
  ALLMULTI: 0x200,
  SIMPLEX: 0x800,
  MULTICAST: 0x8000,
  /** Promiscuous mode the user asked for (`ifconfig IF promisc`); PROMISC is set while it or a bridge wants it. */
  PPROMISC: 0x20000,
  /** Link is up (carrier). Reported by ifconfig from the link state; never stored in `Ifnet.flags`. */
  LOWER_UP: 0x1000000,
} as const;

/** The flag names in the order ifconfig prints them. */
export const IFF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IFF.UP, 'UP'],
  [IFF.BROADCAST, 'BROADCAST'],
  [IFF.DEBUG, 'DEBUG'],
  [IFF.LOOPBACK, 'LOOPBACK'],
  [IFF.POINTOPOINT, 'POINTOPOINT'],
  [IFF.RUNNING, 'RUNNING'],
  [IFF.NOARP, 'NOARP'],
  [IFF.PROMISC, 'PROMISC'],
  [IFF.ALLMULTI, 'ALLMULTI'],
  [IFF.SIMPLEX, 'SIMPLEX'],
  [IFF.MULTICAST, 'MULTICAST'],
  [IFF.PPROMISC, 'PPROMISC'],
  [IFF.LOWER_UP, 'LOWER_UP'],
];

export const ifCounters = defineStats({
  ipackets: 'packets received',
  ierrors: 'input errors',
  iqdrops: 'input packets dropped (queue full or no buffer)',
  opackets: 'packets sent',
  oerrors: 'output errors',
  oqdrops: 'output packets dropped',
  ibytes: 'bytes received',
  obytes: 'bytes sent',
  imcasts: 'multicast and broadcast packets received',
  omcasts: 'multicast and broadcast packets sent',
  collisions: 'collisions',
  noproto: 'packets received for an unknown protocol',
  // Links here are full duplex: as FreeBSD's tap and epair, they never count a collision.
}, { zero: ['collisions'] });
export type IfCounters = Stats<(typeof ifCounters.fields)[number]>;

/** One IPv4 address on an interface. */
export interface InAddr {
  readonly addr: number;
  readonly prefixLen: number;
  readonly mask: number;
  /** Directed broadcast address; 0 on point-to-point and loopback. */
  readonly broadcast: number;
  /** The other end of a point-to-point link (`ifconfig gif0 inet A B`); absent otherwise. */
  readonly dstaddr?: number;
}

/**
 * A link driver moves frames for one interface: a TAP device, one end of an
 * epair, the loopback. `output` takes an Ethernet frame at buf[off, off+len)
 * with its offload metadata; the buffer has at least PKT_HEADROOM bytes free
 * before `off` for the driver's own header. It counts opackets/obytes or an
 * output error on the interface and never throws.
 */
export interface LinkDriver {
  readonly kind: string;
  /** The link accepts frames larger than the MTU carrying GSO metadata, and partial checksums. */
  readonly offload: boolean;
  /** Bytes the driver writes in front of the Ethernet header (virtio-net header); at most PKT_HEADROOM. */
  readonly headroom: number;
  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
  /** Release the link (host device, peer pointer). Called once. */
  destroy(ifp: Ifnet): void;
  /** The interface moves to another image: cut ties to interfaces of the old one (a bridge's members). */
  moved?(ifp: Ifnet): void;
  /** The interface goes up or down (after its flags change): vxlan(4) opens or closes its socket. */
  setUp?(ifp: Ifnet, up: boolean): void;
  /** A VLAN's parent is destroyed or moved away: the VLAN is left without one. */
  parentGone?(ifp: Ifnet): void;
  /**
   * A link that carries IP packets rather than Ethernet frames (gif(4)):
   * IP output hands it the packet of family `af` (2 or 28) instead of
   * framing it; it counts and taps the packet itself.
   */
  l3Output?(ifp: Ifnet, af: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
  /** Extra lines of `ifconfig` output and JSON fields (host device name, peer). */
  describe(ifp: Ifnet): Record<string, string | number | boolean>;
}

/**
 * Bytes a locally built frame keeps free before its Ethernet header, for a
 * driver's own header: a TAP's virtio-net header, or vxlan(4)'s outer
 * Ethernet, IPv4, UDP and VXLAN headers (50 bytes) plus the underlay's.
 */
export const PKT_HEADROOM = 64;

/**
 * A link layer that takes a member interface's input before its image does
 * (bridge(4): FreeBSD's if_bridge hook in ether_input). Set on the member.
 */
export interface InputHook {
  input(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
  /** The interface leaves the bridge (destroyed, moved to another image, deletem). */
  detach(ifp: Ifnet): void;
}

/** A tie from another interface that must be cut when this one is destroyed or moved (a bridge's span port). */
export interface LinkTie {
  detach(ifp: Ifnet): void;
}

/** What an interface needs from the image that holds it. */
export interface IfnetOwner {
  readonly name: string;
  /** Ethernet frame input, run to completion. */
  etherInput(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
}

export class Ifnet {
  readonly index: IfIndex;
  name: string;
  /** The driver's family name: lo, tap, epair. */
  readonly kind: string;
  owner: IfnetOwner;
  flags: number;
  mtu: number;
  #mac: Mac;
  /** The link address in halves (16 and 32 bits), for the per-frame destination check: small integers, never boxed. */
  macHi = 0;
  macLo = 0;
  addrs: InAddr[] = [];
  readonly counters: IfCounters = ifCounters.create();
  driver: LinkDriver;
  /** Milliseconds (wall clock) of the last flags change, for JSON listings. */
  changedAt = 0;
  /** Captures attached to this interface's taps (lib/net/bpf.ts); null when none, the only cost of a tap. */
  bpf: BpfDesc[] | null = null;
  /** The bridge this interface is a member of: it takes the interface's input (lib/net/if_bridge.ts). */
  bridge: InputHook | null = null;
  /** The VLANs on this parent, by tag (lib/net/if_vlan.ts); null when none. */
  vlans: Map<number, Ifnet> | null = null;
  /** The bridge this interface is a span port of. */
  spanOf: LinkTie | null = null;
  /** `ifconfig IF description TEXT` (FreeBSD's if_description); null when none. */
  description: string | null = null;
  /** Interface groups (FreeBSD's if_groups, less the implicit `all`): the driver's family name, then those added. */
  groups: string[];

  constructor(a: { index: IfIndex; name: string; kind: string; owner: IfnetOwner; flags: number; mtu: number; mac: Mac; driver: LinkDriver }) {
    this.index = a.index;
    this.name = a.name;
    this.kind = a.kind;
    this.owner = a.owner;
    this.flags = a.flags;
    this.mtu = a.mtu;
    this.#mac = a.mac;
    this.mac = a.mac;
    this.driver = a.driver;
    this.groups = [a.kind];
  }

  get mac(): Mac {
    return this.#mac;
  }

  set mac(m: Mac) {
    this.#mac = m;
    this.macLo = m % 0x100000000;
    this.macHi = (m - this.macLo) / 0x100000000;
  }

  get up(): boolean {
    return (this.flags & IFF.UP) !== 0;
  }

  get loopback(): boolean {
    return (this.flags & IFF.LOOPBACK) !== 0;
  }

  /** Input from the driver: count, then hand to the image (run to completion). */
  input(buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    if ((this.flags & IFF.UP) === 0) {
      this.counters.iqdrops++;
      return;
    }
    if (this.bpf !== null) {
      if ((this.flags & IFF.LOOPBACK) !== 0) bpfTapEtherNull(this.bpf, buf, off, len);
      else bpfTap(this.bpf, buf, off, len);
    }
    const br = this.bridge;
    if (br !== null) br.input(this, buf, off, len, meta);
    else this.owner.etherInput(this, buf, off, len, meta);
  }

  /** Output to the driver, if the interface is up. */
  output(buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    if ((this.flags & IFF.UP) === 0) {
      this.counters.oqdrops++;
      return;
    }
    if (this.bpf !== null && (this.flags & IFF.LOOPBACK) === 0) bpfTap(this.bpf, buf, off, len);
    this.driver.output(this, buf, off, len, meta);
  }

  /** The address on this interface whose subnet holds `a`, if any. */
  subnetOf(a: number): InAddr | undefined {
    for (const ia of this.addrs) {
      if (((a ^ ia.addr) & ia.mask) === 0) return ia;
    }
    return undefined;
  }
}

/**
 * Cut the ties between `ifp` and other interfaces of its image before it is
 * destroyed or moved to another image: its captures, its bridge membership or span port,
 * a bridge's members (moving), the VLANs on it (they lose their parent).
 */
export function ifReleaseLinks(ifp: Ifnet, moving: boolean): void {
  bpfDetachAll(ifp);
  if (ifp.bridge !== null) ifp.bridge.detach(ifp);
  if (ifp.spanOf !== null) ifp.spanOf.detach(ifp);
  if (moving) ifp.driver.moved?.(ifp);
  const v = ifp.vlans;
  if (v !== null) for (const x of [...v.values()]) x.driver.parentGone?.(x);
}
