/**
 * The interfaces part of an image's control surface: list interfaces as
 * plain data, clone and destroy links, set flags, MTU, name, link address
 * and IPv4 addresses. Every change goes through the subsystem that owns the
 * state (in_control for addresses, the registry for links), never by
 * writing another subsystem's tables.
 */

import type { Image, Registry } from '../image.js';
import { E, fail } from '../errors.js';
import { IFF, IFF_NAMES, ifCounters, type Ifnet } from '../net/if.js';
import { BpfDesc, type BpfOptions } from '../net/bpf.js';
import { snapshot } from '../stats.js';
import { inAddAddress, inDeleteAddress } from '../netinet/in.js';
import { macToString, type Mac } from '../wire/ethernet.js';
import { ip4ToString, prefixMask } from '../wire/ipv4.js';
import { BridgeDriver, type BridgeAddress, type BridgeInfo } from '../net/if_bridge.js';
import { VlanDriver, type VlanInfo } from '../net/if_vlan.js';
import { VxlanDriver, type VxlanEntry, type VxlanInfo } from '../net/if_vxlan.js';
import { createVxlan, setVxlan, vxlanEntries, type VxlanParams } from './vxlan.js';
import { createGif, deleteGifTunnel, gifInfo, gifLinkUp, gifMtuProblem, setGifTunnel, type GifInfo, type GifTunnel } from './gif.js';
import { bridgeAddresses, configureBridge, createBridge, createVlan, setVlan, type BridgeOp } from './links.js';
import { checkDescription, checkGroupName, createLoopback, setDescription, setGroup, setLladdr, setPromisc } from './ifattr.js';

export type { BridgeAddress, BridgeInfo, BridgeOp, VlanInfo };
import { inet6Info, nd6IfInfo, type Inet6AddressInfo, type Nd6IfInfo } from './inet6.js';

/** One IPv4 address of an interface, as `ifconfig --json` prints it. */
export interface AddressInfo {
  address: string;
  prefixLen: number;
  netmask: string;
  broadcast?: string;
  /** The other end of a point-to-point interface (gif). */
  destination?: string;
}

/** Interface counters (FreeBSD's if_data), as `netstat -i --json` reads them. */
export interface InterfaceCounters {
  ipackets: number;
  ierrors: number;
  iqdrops: number;
  opackets: number;
  oerrors: number;
  oqdrops: number;
  ibytes: number;
  obytes: number;
  imcasts: number;
  omcasts: number;
  collisions: number;
  noproto: number;
}

/** One interface, in the shape `ifconfig --json` prints (counters apart). */
export interface InterfaceInfo {
  name: string;
  index: number;
  kind: string;
  /** Stored flags plus LOWER_UP from the link state. */
  flags: number;
  flagNames: string[];
  metric: number;
  mtu: number;
  /** `ifconfig IF description TEXT`. */
  description?: string;
  ether?: string;
  inet: AddressInfo[];
  inet6: Inet6AddressInfo[];
  /** ND options (ifconfig's `nd6 options=`) and parameters. */
  nd6: Nd6IfInfo;
  groups: string[];
  media?: string;
  status?: 'active' | 'no carrier';
  /** What the link says of itself: `hostif` for tap, `peer`/`peerImage` for epair. */
  link: Record<string, string | number | boolean>;
  /** A bridge: members, span ports, table parameters. */
  bridge?: BridgeInfo;
  /** A vlan: tag and parent. */
  vlan?: VlanInfo;
  /** A vxlan: VNI, end points, ports, forwarding table parameters. */
  vxlan?: VxlanInfo;
  /** A gif: its tunnel. */
  gif?: GifInfo;
}

/** Interface flag names (IFF_*) in the order ifconfig prints them. */
export function flagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of IFF_NAMES) if ((flags & bit) !== 0) out.push(name);
  return out;
}

export { IFF };

/** Link state: an epair end has carrier while its peer exists; tap and lo always do here. */
function linkUp(ifp: Ifnet): boolean {
  const g = gifLinkUp(ifp);
  if (g !== undefined) return g;
  if (ifp.kind === 'epair') return 'peer' in ifp.driver.describe(ifp);
  if (ifp.driver instanceof VlanDriver) return ifp.driver.parent !== null && linkUp(ifp.driver.parent);
  // FreeBSD's vxlan reports its link up while it runs (its socket is open).
  if (ifp.driver instanceof VxlanDriver) return ifp.driver.so !== null;
  return true;
}

function media(ifp: Ifnet): string | undefined {
  if (ifp.kind === 'epair') return 'Ethernet 10Gbase-T (10Gbase-T <full-duplex>)';
  if (ifp.kind === 'tap') return 'Ethernet 1000baseT <full-duplex>';
  if (ifp.driver instanceof VlanDriver) return ifp.driver.parent !== null ? media(ifp.driver.parent) ?? 'Ethernet autoselect' : 'Ethernet autoselect';
  if (ifp.kind === 'vxlan') return 'Ethernet autoselect (autoselect <full-duplex>)';
  return undefined;
}

export function interfaceInfo(ifp: Ifnet, im: Image = ifp.owner as Image): InterfaceInfo {
  const up = linkUp(ifp);
  const flags = (ifp.flags | (up ? IFF.LOWER_UP : 0)) >>> 0;
  const m = media(ifp);
  const info: InterfaceInfo = {
    name: ifp.name,
    index: ifp.index,
    kind: ifp.kind,
    flags,
    flagNames: flagNames(flags),
    metric: 0,
    mtu: ifp.mtu,
    ...(ifp.description !== null ? { description: ifp.description } : {}),
    ...(ifp.loopback || ifp.kind === 'gif' ? {} : { ether: macToString(ifp.mac) }),
    inet: ifp.addrs.map((a) => ({
      address: ip4ToString(a.addr),
      prefixLen: a.prefixLen,
      netmask: ip4ToString(a.mask),
      ...(a.broadcast !== 0 ? { broadcast: ip4ToString(a.broadcast) } : {}),
      ...(a.dstaddr !== undefined ? { destination: ip4ToString(a.dstaddr) } : {}),
    })),
    inet6: inet6Info(im, ifp),
    nd6: nd6IfInfo(im, ifp),
    groups: [...ifp.groups],
    ...(m !== undefined ? { media: m, status: up ? ('active' as const) : ('no carrier' as const) } : {}),
    link: ifp.driver.describe(ifp),
  };
  if (ifp.driver instanceof BridgeDriver) info.bridge = ifp.driver.info();
  if (ifp.driver instanceof VlanDriver) info.vlan = ifp.driver.info();
  if (ifp.driver instanceof VxlanDriver) info.vxlan = ifp.driver.info();
  const g = gifInfo(ifp);
  if (g !== undefined) info.gif = g;
  return info;
}

/** The classful mask of an address given without one (FreeBSD's in_control default). */
export function classfulLen(addr: number): number {
  if (addr >>> 31 === 0) return 8;
  if (addr >>> 30 === 2) return 16;
  return 24;
}

/** What `ifconfig IF ...` may change, applied in order. */
export type InterfaceOp =
  | { kind: 'up' }
  | { kind: 'down' }
  | { kind: 'mtu'; mtu: number }
  | { kind: 'name'; name: string }
  | { kind: 'lladdr'; mac: Mac }
  | { kind: 'arp'; on: boolean }
  | { kind: 'promisc'; on: boolean }
  | { kind: 'description'; text: string | null }
  | { kind: 'group'; name: string; on: boolean };

export class InterfacesControl {
  readonly #im: Image;
  readonly #reg: Registry;

  constructor(im: Image, reg: Registry) {
    this.#im = im;
    this.#reg = reg;
  }

  #ifnet(name: string): Ifnet {
    return this.#im.ifnet(name);
  }

  /** Interfaces in index order (FreeBSD lists them so). */
  list(): InterfaceInfo[] {
    return this.#sorted().map((ifp) => interfaceInfo(ifp, this.#im));
  }

  #sorted(): Ifnet[] {
    return [...this.#im.ifnets.values()].sort((a, b) => a.index - b.index);
  }

  /** Interfaces with their counters, in index order (netstat -i). */
  listWithCounters(): Array<InterfaceInfo & { counters: InterfaceCounters }> {
    return this.#sorted().map((ifp) => ({ ...interfaceInfo(ifp, this.#im), counters: snapshot(ifCounters, ifp.counters) }));
  }

  get(name: string): InterfaceInfo {
    return interfaceInfo(this.#ifnet(name), this.#im);
  }

  has(name: string): boolean {
    return this.#im.ifnets.has(name);
  }

  /** Attach a capture (tcpdump) to the interface's input and output taps; `close()` on the result detaches it. */
  capture(name: string, o: Omit<BpfOptions, 'nowUs'>): BpfDesc {
    const ifp = this.#ifnet(name);
    const { clock, platform } = this.#im;
    const base = platform.wallNow() * 1000 - clock.now() * 1000;
    return new BpfDesc({ ...o, nowUs: () => base + clock.now() * 1000 }).attach(ifp);
  }

  /** Does any image of the daemon hold an interface of this name (clone units are global)? */
  nameTaken(name: string): boolean {
    return this.#reg.list().some((im) => im.ifnets.has(name));
  }

  /**
   * `ifconfig epair[N] create` / `ifconfig tap[N] create [hostname H]`:
   * returns the new interface's name (epair: the `a` end).
   */
  create(kind: 'epair' | 'tap' | 'bridge' | 'vlan' | 'lo', o: { unit?: string; hostname?: string; name?: string; vlan?: number; vlandev?: string } = {}): string {
    const im = this.#im;
    if (kind === 'lo') {
      const name = o.name ?? (o.unit !== undefined ? `lo${o.unit}` : undefined);
      if (name !== undefined && this.nameTaken(name)) fail(E.INTERFACE_EXISTS, `${name}: interface already exists; 'ifconfig lo create' picks a free unit`);
      return createLoopback(this.#reg, im, name).name;
    }
    if (kind === 'bridge' || kind === 'vlan') {
      const name = o.name ?? (o.unit !== undefined ? `${kind}${o.unit}` : undefined);
      if (name !== undefined && this.nameTaken(name)) fail(E.INTERFACE_EXISTS, `${name}: interface already exists; 'ifconfig ${kind} create' picks a free unit`);
      if (kind === 'bridge') return createBridge(this.#reg, im, name).name;
      return createVlan(this.#reg, im, name, o.vlan, o.vlandev).name;
    }
    if (kind === 'epair') {
      if (o.hostname !== undefined) fail(E.BAD_ARGUMENT, 'hostname is only valid for tap interfaces');
      if (o.unit !== undefined && (this.nameTaken(`epair${o.unit}a`) || this.nameTaken(`epair${o.unit}b`))) {
        fail(E.INTERFACE_EXISTS, `epair${o.unit}: interface already exists; 'ifconfig epair create' picks a free unit`);
      }
      const [a, b] = this.#reg.createEpair(im);
      if (o.unit !== undefined) {
        im.rename(a, `epair${o.unit}a`);
        im.rename(b, `epair${o.unit}b`);
      }
      return a.name;
    }
    const requested = o.unit !== undefined ? `tap${o.unit}` : undefined;
    if (requested !== undefined && this.nameTaken(requested)) fail(E.INTERFACE_EXISTS, `${requested}: interface already exists; 'ifconfig tap create' picks a free unit`);
    const ifp = this.#reg.createTap(im, o.hostname ?? requested);
    if (requested !== undefined && ifp.name !== requested) im.rename(ifp, requested);
    return ifp.name;
  }

  /** `ifconfig bridgeN addm IF ...`: bridge parameters, in order. */
  configureBridge(name: string, ops: readonly BridgeOp[]): void {
    configureBridge(this.#im, this.#ifnet(name), ops);
  }

  /** `ifconfig bridgeN addr`: the learned address table. */
  bridgeAddresses(name: string): BridgeAddress[] {
    return bridgeAddresses(this.#ifnet(name));
  }

  /** `ifconfig vlanN vlan TAG vlandev IF` / `-vlandev` (parent null) / `vlanpcp N`. */
  configureVlan(name: string, o: { vlan?: number; vlandev?: string | null; pcp?: number }): void {
    const ifp = this.#ifnet(name);
    if (o.vlan !== undefined || o.vlandev !== undefined || o.pcp === undefined) setVlan(this.#im, ifp, o.vlan, o.vlandev);
    if (o.pcp !== undefined) {
      // FreeBSD's SIOCSVLANPCP: EINVAL on anything but a vlan, and a value above 7.
      if (!(ifp.driver instanceof VlanDriver)) fail(E.BAD_ARGUMENT, `ioctl (SIOCSVLANPCP): Invalid argument (${ifp.name} is not a vlan interface)`);
      if (!Number.isInteger(o.pcp) || o.pcp < 0 || o.pcp > 7) fail(E.OUT_OF_RANGE, 'value for vlanpcp out of range');
      ifp.driver.pcp = o.pcp;
    }
  }

  /** `ifconfig vxlan[N] create [vxlanid N vxlanlocal A vxlanremote B ...]`: returns the new interface's name. */
  createVxlan(o: { unit?: string; name?: string; params?: VxlanParams } = {}): string {
    const name = o.name ?? (o.unit !== undefined ? `vxlan${o.unit}` : undefined);
    if (name !== undefined && this.nameTaken(name)) fail(E.INTERFACE_EXISTS, `${name}: interface already exists; 'ifconfig vxlan create' picks a free unit`);
    return createVxlan(this.#reg, this.#im, name, o.params ?? {}).name;
  }

  /** `ifconfig vxlanN vxlanid N vxlanremote B ...`. */
  configureVxlan(name: string, p: VxlanParams): void {
    setVxlan(this.#ifnet(name), p);
  }

  /** `ifconfig gif[N] create`: returns the new interface's name. */
  createGif(o: { unit?: string; name?: string } = {}): string {
    const name = o.name ?? (o.unit !== undefined ? `gif${o.unit}` : undefined);
    if (name !== undefined && this.nameTaken(name)) fail(E.INTERFACE_EXISTS, `${name}: interface already exists; 'ifconfig gif create' picks a free unit`);
    return createGif(this.#reg, this.#im, name).name;
  }

  /** `ifconfig gifN tunnel SRC DST` (a tunnel) / `deletetunnel` (null). */
  configureGif(name: string, tunnel: GifTunnel | null): void {
    const ifp = this.#ifnet(name);
    if (tunnel === null) deleteGifTunnel(ifp);
    else setGifTunnel(this.#im, ifp, tunnel);
  }

  /** A vxlan's learned forwarding table. */
  vxlanEntries(name: string): VxlanEntry[] {
    return vxlanEntries(this.#ifnet(name));
  }

  /** `ifconfig IF destroy`: lo0 stays; destroying an epair end destroys both. */
  destroy(name: string): void {
    this.#reg.destroyIfnet(this.#im, this.#ifnet(name));
  }

  /**
   * Apply `ops` in order (FreeBSD applies flag and MTU changes in argument
   * order). Returns the interface's name afterwards.
   */
  configure(name: string, ops: readonly InterfaceOp[]): string {
    const im = this.#im;
    const ifp = this.#ifnet(name);
    if (ifp.loopback && ops.some((op) => op.kind === 'lladdr')) fail(E.BAD_ARGUMENT, `${ifp.name} has no link-level address to set`);
    // What can be refused is checked before anything changes.
    for (const op of ops) {
      if (op.kind === 'description') checkDescription(op.text);
      else if (op.kind === 'group') checkGroupName(op.name, op.on ? 'setifgroup' : 'unsetifgroup');
    }
    for (const op of ops) {
      switch (op.kind) {
        case 'up':
          im.setUp(ifp, true);
          break;
        case 'down':
          im.setUp(ifp, false);
          break;
        case 'mtu': {
          const bad = gifMtuProblem(ifp, op.mtu);
          if (bad !== undefined) fail(E.OUT_OF_RANGE, bad);
          im.setMtu(ifp, op.mtu);
          break;
        }
        case 'name':
          im.rename(ifp, op.name);
          break;
        case 'lladdr':
          setLladdr(im, ifp, op.mac);
          break;
        case 'promisc':
          setPromisc(ifp, op.on);
          break;
        case 'description':
          setDescription(ifp, op.text);
          break;
        case 'group':
          setGroup(ifp, op.name, op.on);
          break;
        case 'arp':
          if (op.on) ifp.flags &= ~IFF.NOARP;
          else ifp.flags |= IFF.NOARP;
          break;
      }
    }
    return ifp.name;
  }

  /**
   * `ifconfig IF A.B.C.D/LEN [broadcast B] [alias]`. Without `alias` the
   * interface's first address is replaced, as FreeBSD does.
   */
  addAddress(name: string, addr: number, prefixLen: number, o: { alias: boolean; broadcast?: number; dst?: number }): void {
    const ifp = this.#ifnet(name);
    // FreeBSD's SIOCAIFADDR: an alias that is already there is EEXIST
    // (without `alias` the first address is replaced, so setting it again is fine).
    if (o.alias && ifp.addrs.some((a) => a.addr === addr)) fail(E.ADDRESS_EXISTS, `ioctl (SIOCAIFADDR): File exists (${ip4ToString(addr)} is already on ${ifp.name})`);
    if (o.broadcast !== undefined && (o.broadcast & prefixMask(prefixLen)) >>> 0 !== (addr & prefixMask(prefixLen)) >>> 0) {
      fail(E.BAD_ARGUMENT, `broadcast ${ip4ToString(o.broadcast)} is not in ${ip4ToString(addr)}/${prefixLen}`);
    }
    if (o.dst !== undefined && (ifp.flags & IFF.POINTOPOINT) === 0) fail(E.BAD_ARGUMENT, `${ip4ToString(o.dst)}: a destination address needs a point-to-point interface (gif); ${ifp.name} is not one`);
    inAddAddress(this.#im, ifp, addr, prefixLen, o.broadcast !== undefined ? { alias: o.alias, broadcast: o.broadcast } : o.dst !== undefined ? { alias: o.alias, dst: o.dst } : { alias: o.alias });
  }

  /** `ifconfig IF A.B.C.D -alias`; without an address, the first one. */
  deleteAddress(name: string, addr?: number): void {
    const ifp = this.#ifnet(name);
    const target = addr ?? ifp.addrs[0]?.addr;
    if (target === undefined) fail(E.NO_SUCH_ADDRESS, `${ifp.name} has no IPv4 address to delete`);
    inDeleteAddress(this.#im, ifp, target);
  }

  /** Is `name` a point-to-point or loopback interface (no broadcast, no classful warning)? */
  isPointToPoint(name: string): boolean {
    return (this.#ifnet(name).flags & (IFF.LOOPBACK | IFF.POINTOPOINT)) !== 0;
  }

  /** The interface holding local address `a`, if `a` is one of this image's. */
  ownerOf(a: number): string | undefined {
    return this.#im.localIfnet(a)?.name;
  }
}
