/**
 * The per-image core that protocol code sees (FreeBSD's vnet): what one
 * network stack holds and what its subsystems may call, and no more. `Image`
 * (lib/image.ts) implements it; protocol modules take a `Vnet`, never the
 * Image, and never the registry of images.
 *
 * The core below is what every layer shares: clock, logger, sysctl values,
 * interfaces, routes, local addresses and the protocol switch. Each
 * subsystem declares its own per-image state beside its code by augmenting
 * this interface (as FreeBSD's VNET_DEFINE sits in the file that uses it):
 *
 *     declare module '../net/vnet.js' {
 *       interface Vnet { readonly arp: ArpTable; readonly arpstat: ArpStat }
 *     }
 *
 * A subsystem changes another's state only by calling it (arpPurgeSubnet,
 * inPurgeInterface), never by editing its tables.
 *
 * Protocols plug in by registration, as FreeBSD's domain/protosw and netisr
 * and gVisor's protocol registration: link input dispatches on a per-image
 * EtherType table and IP input on a per-image protocol switch, both filled
 * when the image is assembled, so new link kinds and protocols need no edit
 * of the input functions. ICMP errors reach the transport they concern
 * through the same switch (`ctlinput`).
 */

import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Platform } from '../platform.js';
import type { SysctlValues } from '../sysctl.js';
import type { VnetHdr } from '../wire/vnet.js';
import type { Ifnet } from './if.js';
import type { Netisr } from './netisr.js';

/** Link-layer input for one EtherType: the payload after the Ethernet header. */
export type EtherInput = (vn: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr) => void;

/** The errno an ICMP error means to the socket it concerns (FreeBSD's inetctlerrmap). */
export type CtlErrno = 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EMSGSIZE' | 'ENOPROTOOPT';

/** One IP protocol's entry points (FreeBSD's struct protosw: pr_input, pr_ctlinput). */
export interface IpProtoSw {
  /**
   * A valid packet for this image: IP header at buf[off] (hlen bytes), ipLen
   * bytes in all; `bcast` when sent to a broadcast or multicast address.
   */
  input(vn: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hlen: number, ipLen: number, meta: VnetHdr, bcast: boolean): void;
  /**
   * An ICMP error quoting a packet of this protocol that we sent: the quoted
   * IP header is at buf[q] (its header and at least 8 bytes after it are
   * there); `mtu` is the next-hop MTU of a fragmentation-needed message, else 0.
   */
  ctlinput?(vn: Vnet, errno: CtlErrno, mtu: number, buf: Uint8Array, q: number): void;
}

/** One IPv6 upper-layer protocol's input (FreeBSD's inet6sw pr_input). */
export interface Ip6ProtoSw {
  /**
   * A valid packet for this image: IPv6 header at buf[off], the upper-layer
   * header at buf[hoff] (past any extension headers), ip6Len bytes from off
   * in all; `mcast` when sent to a multicast group.
   */
  input(vn: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number, meta: VnetHdr, mcast: boolean): void;
  /**
   * An ICMPv6 error quoting a packet of this protocol that we sent
   * (pr_ctlinput): the quoted IPv6 header at buf[q], this protocol's header
   * at buf[uh] (at least 8 bytes of it), `mtu` for a packet too big.
   */
  ctlinput?(vn: Vnet, errno: CtlErrno, mtu: number, buf: Uint8Array, q: number, uh: number): void;
}

/** Most EtherTypes one image registers (IPv4, ARP; IPv6, VLAN later). */
const MAX_ETHERTYPES = 16;

/** The per-image dispatch tables: EtherTypes (netisr/ether_demux) and IP protocols (protosw). */
export class ProtoSwitch {
  /** Registered EtherTypes, scanned in order: a handful, cheaper than a map lookup. */
  readonly etherTypes = new Int32Array(MAX_ETHERTYPES).fill(-1);
  readonly etherInputs: Array<EtherInput | null> = new Array<EtherInput | null>(MAX_ETHERTYPES).fill(null);
  etherCount = 0;
  /** Indexed by IP protocol number; as long as the highest registered one needs (undefined past it). */
  readonly ip: Array<IpProtoSw | null> = [];
  /** Indexed by IPv6 next-header value (the upper layer, past extension headers); as long as the highest registered one needs. */
  readonly ip6: Array<Ip6ProtoSw | null> = [];

  /** The input for `type`, or null (counted noproto by the caller). */
  ether(type: number): EtherInput | null {
    const t = this.etherTypes;
    for (let i = 0; i < this.etherCount; i++) if (t[i] === type) return this.etherInputs[i]!;
    return null;
  }
}

/** What one image may hold, set daemon-wide (limits in vimaged's configuration). */
export interface ImageLimits {
  /** Interfaces per image, lo0 included. */
  interfaces: number;
  /** ipfw rules per image, the default rule not counted. */
  rules: number;
  /** Sockets opened by programs per image (accepted connections are not refused). */
  sockets: number;
}

/** The core every image offers its subsystems. Subsystems add their state by augmentation. */
export interface Vnet {
  readonly name: string;
  /** The image's clock: timers run here are CPU charged to the image. */
  readonly clock: Clock;
  /** Wall clock, CPU clock and randomness (lib/platform.ts). */
  readonly platform: Platform;
  readonly log: Logger;
  readonly netisr: Netisr;
  readonly sysctl: SysctlValues;
  /** Randomness (injected; tests make it repeatable). */
  random(): number;
  readonly limits: Readonly<ImageLimits>;
  readonly protosw: ProtoSwitch;

  readonly ifnets: ReadonlyMap<string, Ifnet>;
  readonly lo0: Ifnet;
  /** Offload metadata for packets built here: none. Never mutated. */
  readonly noOffload: VnetHdr;

  /** The interface holding local address `a`, if `a` is one of ours. */
  localIfnet(a: number): Ifnet | undefined;
  isBroadcast(a: number): boolean;
  /** The interface whose subnet holds `ip` (for static neighbour entries). */
  interfaceForNeighbour(ip: number): Ifnet | undefined;
  /** The next IPv4 identification field value. */
  nextIpId(): number;
}

/** Register link input for `type` (ether_demux's table). Registering a type twice replaces it. */
export function etherRegister(vn: Vnet, type: number, input: EtherInput): void {
  const sw = vn.protosw;
  for (let i = 0; i < sw.etherCount; i++) {
    if (sw.etherTypes[i] === type) {
      sw.etherInputs[i] = input;
      return;
    }
  }
  if (sw.etherCount === MAX_ETHERTYPES) throw new Error(`too many EtherTypes registered in image ${vn.name}`);
  sw.etherTypes[sw.etherCount] = type;
  sw.etherInputs[sw.etherCount] = input;
  sw.etherCount++;
}

/** Register an IP protocol (pr_input, pr_ctlinput). */
export function ipProtoRegister(vn: Vnet, proto: number, sw: IpProtoSw): void {
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new Error(`bad IP protocol number ${proto}`);
  const ip = vn.protosw.ip;
  while (ip.length < proto) ip.push(null); // kept packed, no holes
  ip[proto] = sw;
}

/** Register an IPv6 upper-layer protocol (inet6sw). */
export function ip6ProtoRegister(vn: Vnet, proto: number, sw: Ip6ProtoSw): void {
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new Error(`bad IPv6 next header ${proto}`);
  const ip6 = vn.protosw.ip6;
  while (ip6.length < proto) ip6.push(null); // kept packed, no holes
  ip6[proto] = sw;
}
