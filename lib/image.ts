/**
 * The Image: one complete network stack (FreeBSD's vnet), and the Registry
 * that holds all images of a daemon.
 *
 * Everything FreeBSD virtualises per vnet hangs off the Image and is passed
 * explicitly: interfaces, routes, ARP cache, reassembly queues, raw PCBs,
 * sysctl values, statistics, timers and logger. Subsystems start in a fixed
 * order on create and stop in reverse order on destroy (VNET_SYSINIT /
 * VNET_SYSUNINIT), so creating and destroying images leaks no timer.
 *
 * Images share nothing but links (epair ends, the netisr queue), so they can
 * later be spread over worker threads.
 */

import type { Clock, Timer } from './clock.js';
import { ImageCpu, LOAD_INTERVAL_MS, Scheduler } from './sched.js';
import { E, VimageError, fail } from './errors.js';
import type { Logger } from './log.js';
import { realPlatform, type Platform } from './platform.js';
import { IFF, Ifnet, ifReleaseLinks, type IfIndex, type LinkDriver } from './net/if.js';
import { etherInput, etherStats } from './net/if_ethersubr.js';
import { ipProtoRegister, ProtoSwitch, type ImageLimits, type Vnet } from './net/vnet.js';
import { EpairDriver } from './net/if_epair.js';
import { LoopDriver } from './net/if_loop.js';
import { vlanInit } from './net/if_vlan.js';
import { vxlanDestroy, vxlanInit, type VxlanState } from './net/if_vxlan.js';
import { gifAttach, gifDetach } from './netinet/in_gif.js';
import { TapDriver, type TapOpener } from './net/if_tap.js';
import { Netisr } from './net/netisr.js';
import { ArpTable, arpDestroy, arpInit, arpStats } from './netinet/if_ether.js';
import { inAddAddress, inPurgeInterface } from './netinet/in.js';
import { IcmpState, icmpStats } from './netinet/ip_icmp.js';
import { ipDeliver, ipInit, ipInput } from './netinet/ip_input.js';
import { Ipfw, ipfwDestroy, ipfwInit } from './ipfw/ip_fw2.js';
import { PFIL_PASS, type PfilHead } from './net/pfil.js';
import { ipPfilInit } from './netinet/ip_pfil.js';
import { ip6PfilInit } from './netinet6/ip6_pfil.js';
import { ReassTable, reassDestroy, reassInit } from './netinet/ip_reass.js';
import { IpViews, ipStats } from './netinet/ip_var.js';
import { RawTable, rawDestroy } from './netinet/raw_ip.js';
import { RouteTable } from './netinet/route.js';
import { routeDestroy } from './netinet/route_redirect.js';
import { UdpViews, udpDestroy, udpInit, udpStats, type UdpPcb } from './netinet/udp_usrreq.js';
import { tcpCtlInput, tcpDestroy, tcpInit, tcpInput, tcpStats, type TcpImage } from './netinet/tcp/tcp_usrreq.js';
import type { PcbTable } from './socket/in_pcb.js';
import { SysctlValues } from './sysctl.js';
import { In6State, in6IfUp, in6PurgeInterface } from './netinet6/in6.js';
import { Icmp6State } from './netinet6/icmp6.js';
import { ip6Destroy, ip6Init } from './netinet6/ip6_input.js';
import { udp6Init } from './netinet6/udp6_usrreq.js';
import { tcp6Init } from './netinet6/tcp6_usrreq.js';
import { Ip6Views, icmp6Stats, ip6Stats } from './netinet6/ip6_var.js';
import { Mld6State, mld6Destroy } from './netinet6/mld6.js';
import { Rip6Table, rip6Destroy, rip6Init, rip6Stats } from './netinet6/raw_ip6.js';
import { Nd6Table, nd6Destroy, nd6Init } from './netinet6/nd6.js';
import { Nd6RtrState, nd6RtrDestroy, nd6RtrInit } from './netinet6/nd6_rtr.js';
import { Route6Table } from './netinet6/route6.js';
import { Frag6Table } from './netinet6/frag6.js';
import { Pmtu6Table } from './netinet6/pmtu6.js';
import type { Mac } from './wire/ethernet.js';
import { IPPROTO } from './wire/ipv4.js';
import { VnetHdr } from './wire/vnet.js';

export type ImageId = number & { readonly __brand: 'ImageId' };

/** The process that opened a socket (getters may resolve late: a Linux program's pid arrives after its first socket). */
export interface SocketOwner {
  readonly pid: number;
  readonly command: string;
  readonly uid: number;
  /** The fd the next socket gets, or -1 when fds are not known (a Linux program's). */
  nextFd: number;
}

/** One per-image subsystem: started in list order, stopped in reverse. */
interface Subsystem {
  readonly name: string;
  init(im: Image): void;
  destroy(im: Image): void;
}

const SUBSYSTEMS: readonly Subsystem[] = [
  { name: 'inet', init: ipInit, destroy: routeDestroy },
  { name: 'loopback', init: (im) => im.attachLoopback(), destroy: () => {} },
  { name: 'inet6', init: ip6Init, destroy: ip6Destroy },
  { name: 'arp', init: arpInit, destroy: arpDestroy },
  { name: 'vlan', init: vlanInit, destroy: () => {} },
  { name: 'nd6', init: nd6Init, destroy: nd6Destroy },
  { name: 'nd6rtr', init: nd6RtrInit, destroy: nd6RtrDestroy },
  { name: 'rip6', init: rip6Init, destroy: rip6Destroy },
  { name: 'mld6', init: () => {}, destroy: mld6Destroy },
  { name: 'reass', init: reassInit, destroy: reassDestroy },
  { name: 'raw', init: () => {}, destroy: rawDestroy },
  { name: 'pfil', init: ipPfilInit, destroy: () => {} },
  { name: 'pfil6', init: ip6PfilInit, destroy: () => {} },
  { name: 'ipfw', init: ipfwInit, destroy: ipfwDestroy },
  { name: 'udp', init: udpInit, destroy: udpDestroy },
  { name: 'udp6', init: udp6Init, destroy: () => {} },
  { name: 'tcp', init: tcpAttach, destroy: tcpDestroy },
  { name: 'tcp6', init: tcp6Init, destroy: () => {} },
  { name: 'vxlan', init: vxlanInit, destroy: vxlanDestroy },
  { name: 'gif', init: gifAttach, destroy: gifDetach },
  { name: 'sockets', init: () => {}, destroy: (im) => { for (const so of [...im.sockets]) so.close(); } },
];

/** TCP's init and its place in the protocol switch (tcp_usrreq.ts takes the Image; the switch hands it back). */
function tcpAttach(im: Image): void {
  tcpInit(im);
  ipProtoRegister(im, IPPROTO.TCP, { input: tcpInput, ctlinput: tcpCtlInput });
}

export const IMAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const IFNAME_RE = /^[a-z][a-z0-9_.]{0,14}$/;
export const HOST_IFNAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/;

export class Image implements Vnet {
  readonly id: ImageId;
  readonly name: string;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly platform: Platform;
  readonly log: Logger;
  readonly netisr: Netisr;
  /** Wall-clock ms of creation. */
  readonly createdAt: number;

  readonly sysctl = new SysctlValues();
  readonly ipstat = ipStats.create();
  readonly icmpstat = icmpStats.create();
  readonly arpstat = arpStats.create();
  readonly udpstat = udpStats.create();
  readonly tcpstat = tcpStats.create();
  readonly etherstat = etherStats.create();
  /** EtherType table and IP protocol switch, filled by the subsystems' init. */
  readonly protosw = new ProtoSwitch();
  readonly ipViews = new IpViews();
  readonly ip6stat = ip6Stats.create();
  readonly icmp6stat = icmp6Stats.create();
  readonly ip6Views = new Ip6Views();
  /** inet6 addresses, routes, neighbour cache and ICMPv6 state (lib/netinet6). */
  readonly in6 = new In6State();
  readonly route6 = new Route6Table();
  readonly nd6 = new Nd6Table();
  readonly nd6rtr = new Nd6RtrState();
  readonly icmp6 = new Icmp6State();
  readonly frag6 = new Frag6Table();
  readonly pmtu6 = new Pmtu6Table();
  readonly rip6 = new Rip6Table();
  readonly rip6stat = rip6Stats.create();
  readonly mld6 = new Mld6State();
  readonly udpViews = new UdpViews();

  readonly ifnets = new Map<string, Ifnet>();
  lo0!: Ifnet;
  readonly routes = new RouteTable();
  readonly arp = new ArpTable();
  readonly icmp = new IcmpState();
  readonly reass = new ReassTable();
  readonly raw = new RawTable();
  /** The inet pfil head: filters' hooks on IP input and output (made by the pfil subsystem's init). */
  readonly inetPfil!: PfilHead;
  readonly inet6Pfil!: PfilHead;
  /** ipfw rule chain, dynamic states and dummynet (made by the ipfw subsystem's init). */
  fw!: Ipfw;
  /** UDP endpoints (FreeBSD's udbinfo); made by the udp subsystem. */
  udb!: PcbTable<UdpPcb>;
  vxlan!: VxlanState;
  gif!: Vnet['gif'];
  /** TCP connections and listeners (FreeBSD's tcbinfo); made by the tcp subsystem. */
  tcp!: TcpImage;
  /** Open sockets of programs in this image; destroying the image closes them. */
  readonly sockets = new Set<{ close(): void }>();
  /** Who holds each open socket (sockstat's USER COMMAND PID FD); recorded by the control surface that made it. */
  readonly socketOwners = new WeakMap<object, { owner: SocketOwner; fd: number }>();
  /** Unicast addresses of this image, to the interface that holds each. */
  readonly inAddrs = new Map<number, Ifnet>();
  /** Directed broadcast addresses of this image's subnets. */
  readonly bcastAddrs = new Set<number>();
  /** Offload metadata for packets built here: none. Never mutated. */
  readonly noOffload = new VnetHdr();
  /** CPU accounting, load averages and scheduling parameters (lib/sched.ts). */
  readonly cpu = new ImageCpu();
  private ipId: number;
  private alive = true;

  constructor(registry: Registry, id: ImageId, name: string) {
    this.registry = registry;
    this.id = id;
    this.name = name;
    this.clock = accountedClock(registry, this.cpu);
    this.platform = registry.platform;
    this.createdAt = registry.platform.wallNow();
    this.netisr = registry.netisr;
    this.log = registry.log.child({ image: name });
    this.ipId = Math.floor(registry.random() * 0x10000);
    registry.sched.add(this.cpu);
    for (const s of SUBSYSTEMS) s.init(this);
  }

  random(): number {
    return this.registry.random();
  }

  get limits(): Readonly<ImageLimits> {
    return this.registry.limits;
  }

  /** Milliseconds of CPU spent on this image (packets, timers, processes). */
  get cpuMs(): number {
    return this.cpu.ms;
  }

  get live(): boolean {
    return this.alive;
  }

  /** Stop every subsystem (reverse order). The registry moves interfaces out first. */
  teardown(): void {
    if (!this.alive) return;
    this.alive = false;
    for (let i = SUBSYSTEMS.length - 1; i >= 0; i--) SUBSYSTEMS[i]!.destroy(this);
    this.registry.sched.remove(this.cpu);
  }

  /** @internal subsystem init: lo0 with 127.0.0.1/8. */
  attachLoopback(): void {
    const lo = this.registry.newIfnet(this, 'lo0', 'lo', IFF.UP | IFF.LOOPBACK | IFF.MULTICAST | IFF.RUNNING, 16384, 0 as Mac, new LoopDriver(this.netisr));
    this.lo0 = lo;
    this.ifnets.set(lo.name, lo);
    inAddAddress(this, lo, 0x7f000001, 8, { alias: false });
  }

  etherInput(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    etherInput(this, ifp, buf, off, len, meta);
  }

  /** Netisr delivery of a looped-back IP packet. */
  ipInputFrom(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    ifp.counters.ipackets++;
    ifp.counters.ibytes += len;
    const ip = this.ipViews.input.reset(buf, off, len);
    if (ifp.loopback && ip.check(false) === 'ok') {
      // Our own output: already validated; deliver (broadcasts included).
      const hlen = ip.headerLen;
      const dst = ip.dst;
      if (this.inAddrs.has(dst) || dst >>> 24 === 127) {
        this.ipstat.total++;
        const ipLen = ip.totalLen;
        if (this.inetPfil.runIn(ifp, buf, off, ipLen, meta) !== PFIL_PASS) return;
        ipDeliver(this, ifp, buf, off, hlen, ipLen, meta, false);
        return;
      }
    }
    ipInput(this, ifp, buf, off, len, meta);
  }

  /** The interface holding local address `a`, if `a` is one of ours. */
  localIfnet(a: number): Ifnet | undefined {
    return this.inAddrs.get(a);
  }

  isBroadcast(a: number): boolean {
    return a === 0xffffffff || this.bcastAddrs.has(a);
  }

  /** The interface whose subnet holds `ip` (for static ARP entries). */
  interfaceForNeighbour(ip: number): Ifnet | undefined {
    for (const ifp of this.ifnets.values()) if (!ifp.loopback && ifp.subnetOf(ip) !== undefined) return ifp;
    return undefined;
  }

  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  ifnet(name: string): Ifnet {
    const ifp = this.ifnets.get(name);
    if (ifp === undefined) fail(E.NO_SUCH_INTERFACE, `interface ${name} does not exist in image ${this.name}; 'ifconfig' lists them`);
    return ifp;
  }

  setUp(ifp: Ifnet, up: boolean): void {
    if (up) ifp.flags |= IFF.UP | IFF.RUNNING;
    else ifp.flags &= ~IFF.UP;
    ifp.changedAt = this.platform.wallNow();
    if (up) in6IfUp(this, ifp);
    ifp.driver.setUp?.(ifp, up);
  }

  setMtu(ifp: Ifnet, mtu: number): void {
    const max = ifp.loopback ? 65536 : 65535 - 14;
    if (!Number.isInteger(mtu) || mtu < 72 || mtu > max) fail(E.OUT_OF_RANGE, `mtu ${mtu} out of range, must be between 72 and ${max}`);
    ifp.mtu = mtu;
  }

  rename(ifp: Ifnet, newName: string): void {
    if (!IFNAME_RE.test(newName)) fail(E.BAD_NAME, `invalid interface name '${newName}': use a lowercase letter then up to 14 letters, digits, '_' or '.'`);
    if (this.ifnets.has(newName)) fail(E.INTERFACE_EXISTS, `interface ${newName} already exists in image ${this.name}`);
    if (ifp.loopback && ifp === this.lo0) fail(E.BAD_ARGUMENT, 'lo0 cannot be renamed');
    this.ifnets.delete(ifp.name);
    ifp.name = newName;
    this.ifnets.set(newName, ifp);
  }
}

export interface RegistryOptions {
  /** Clocks and randomness (default: the host's, charging wall time); tests pass a ManualPlatform. */
  platform?: Platform;
  log: Logger;
  /** Opens host TAP devices; absent where no TAP can be made (tests). */
  openTap?: TapOpener;
  /** Does a host network device of this name exist (to pick free TAP names)? */
  hostIfExists?: (name: string) => boolean;
  limits?: Partial<RegistryLimits>;
  /**
   * Drop frames passed between images (epairs) for an image over its CPU
   * share. Defaults to on with a real-time clock: shares mean something only
   * when time moves with the CPU charged, not on a manual clock.
   */
  scheduleEpairs?: boolean;
}

/** Caps on what clients can create (configurable in the daemon). */
export interface RegistryLimits extends ImageLimits {
  images: number;
}

export const DEFAULT_LIMITS: RegistryLimits = { images: 10000, interfaces: 1024, rules: 65534, sockets: 65536 };

/** All images of one daemon, the interface index space and the netisr. */
export class Registry {
  readonly platform: Platform;
  readonly clock: Clock;
  readonly log: Logger;
  readonly netisr: Netisr;
  readonly random: () => number;
  private readonly openTap: TapOpener | undefined;
  private readonly hostIfExists: (name: string) => boolean;
  private readonly images = new Map<string, Image>();
  readonly limits: RegistryLimits;
  readonly sched: Scheduler;
  private readonly sampler: Timer;
  private nextImageId = 0;
  private nextIfIndex = 1;
  /** Interfaces by index, for restoring saved indexes without a scan of every image. */
  private readonly byIndex = new Map<number, Ifnet>();
  /**
   * Names of images that may have changed since the state was last saved
   * (made, destroyed, an interface moved or removed, a control surface
   * handed out). The daemon's state journal saves these and clears the set,
   * so a change costs the same with ten images or ten thousand.
   */
  readonly changed = new Set<string>();

  constructor(o: RegistryOptions) {
    this.platform = o.platform ?? realPlatform();
    this.clock = this.platform.clock;
    this.log = o.log;
    this.random = this.platform.random;
    this.openTap = o.openTap;
    this.hostIfExists = o.hostIfExists ?? (() => false);
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.sched = new Scheduler(this.platform);
    this.sampler = this.clock.every(LOAD_INTERVAL_MS, () => this.sched.sample());
    this.netisr = new Netisr();
    this.netisr.cpuNow = this.platform.cpuNow;
    this.netisr.account = (owner, ms) => this.sched.charge((owner as Image).cpu, ms, true);
    if (o.scheduleEpairs ?? this.clock.realTime) this.netisr.admit = (owner) => this.sched.admitQueued((owner as Image).cpu);
    this.create('default');
  }

  get default(): Image {
    return this.images.get('default')!;
  }

  /** Note that `im`'s saved configuration may be out of date (see `changed`). */
  touch(im: Image): void {
    this.changed.add(im.name);
  }

  get size(): number {
    return this.images.size;
  }

  list(): Image[] {
    return [...this.images.values()];
  }

  /** The images in creation order, without copying the list. */
  values(): IterableIterator<Image> {
    return this.images.values();
  }

  get(name: string): Image | undefined {
    return this.images.get(name);
  }

  image(name: string): Image {
    const im = this.images.get(name);
    if (im === undefined) fail(E.NO_SUCH_IMAGE, `image ${name} does not exist; 'vimage -l' lists images, 'vimage -c ${name}' creates it`);
    return im;
  }

  create(name: string): Image {
    if (!IMAGE_NAME_RE.test(name)) fail(E.BAD_NAME, `invalid image name '${name}': use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    if (this.images.has(name)) fail(E.IMAGE_EXISTS, `image ${name} already exists`);
    // The default image is not counted: limits.images is how many a user may create.
    const made = this.images.size - (this.images.has('default') ? 1 : 0);
    if (name !== 'default' && made >= this.limits.images) fail(E.LIMIT, `cannot create image ${name}: the daemon's limit of ${this.limits.images} images is reached (limits.images in vimaged's configuration)`);
    const im = new Image(this, this.nextImageId++ as ImageId, name);
    this.images.set(name, im);
    this.changed.add(name);
    this.log.info({ image: name, id: im.id }, 'image created');
    return im;
  }

  /**
   * Destroy an image: its interfaces other than lo0 go back to the default
   * image with their addresses purged, then its subsystems stop. Destroying
   * an image that does not exist is an error the caller may ignore.
   */
  destroy(name: string): void {
    if (name === 'default') fail(E.IMAGE_IS_DEFAULT, 'the default image cannot be destroyed');
    const im = this.image(name);
    for (const ifp of [...im.ifnets.values()]) {
      if (ifp.loopback) continue; // lo0 and cloned loopbacks go with the image
      let target = ifp.name;
      if (this.default.ifnets.has(target)) target = this.freeName(ifp.kind === 'epair' ? 'epair' : ifp.kind, ifp.kind === 'epair' ? 'a' : '');
      this.move(im, ifp, this.default, target);
    }
    for (const ifp of [...im.ifnets.values()]) this.detach(im, ifp);
    im.teardown();
    this.images.delete(name);
    this.changed.add(name);
    this.log.info({ image: name }, 'image destroyed');
  }

  /** Move `ifp` from `from` to `to`, optionally renamed (`ifconfig IF vnet IMAGE`). */
  move(from: Image, ifp: Ifnet, to: Image, newName?: string): void {
    const name = newName ?? ifp.name;
    if (ifp === from.lo0) fail(E.NOT_MOVABLE, `${ifp.name} is the loopback of image ${from.name} and cannot be moved`);
    if (from === to) fail(E.SAME_IMAGE, `${ifp.name} is already in image ${to.name}`);
    if (!IFNAME_RE.test(name)) fail(E.BAD_NAME, `invalid interface name '${name}'`);
    if (to.ifnets.has(name)) fail(E.INTERFACE_EXISTS, `interface ${name} already exists in image ${to.name}; give a new name: vimage -i ${to.name} ${ifp.name} NEWNAME`);
    if (to !== this.default) this.checkRoom(to, 1); // the default image takes back whatever comes home
    ifReleaseLinks(ifp, true);
    inPurgeInterface(from, ifp);
    in6PurgeInterface(from, ifp);
    from.ifnets.delete(ifp.name);
    ifp.name = name;
    ifp.owner = to;
    to.ifnets.set(name, ifp);
    if (ifp.up) in6IfUp(to, ifp);
    this.touch(from);
    this.touch(to);
    this.log.info({ ifname: name, from: from.name, to: to.name }, 'interface moved');
  }

  /** @internal Allocate an interface (never reusing an index within this daemon's life). */
  checkRoom(im: Image, n: number): void {
    if (im.ifnets.size + n > this.limits.interfaces) {
      fail(E.LIMIT, `image ${im.name} has ${im.ifnets.size} interfaces; the daemon's limit is ${this.limits.interfaces} (limits.interfaces in vimaged's configuration)`);
    }
  }

  /**
   * Restoring saved state: give `ifp` the index it had, if no other
   * interface has it, and allocate new indexes above it. False when taken.
   */
  setIfIndex(ifp: Ifnet, index: number): boolean {
    if (!Number.isInteger(index) || index < 1) return false;
    this.reserveIfIndexes(index);
    if (ifp.index === index) return true;
    const other = this.byIndex.get(index);
    if (other !== undefined && (other.owner as Image).ifnets.get(other.name) === other) return false;
    if (this.byIndex.get(ifp.index) === ifp) this.byIndex.delete(ifp.index);
    (ifp as { index: IfIndex }).index = index as IfIndex; // only while restoring, before anything refers to it
    this.byIndex.set(index, ifp);
    return true;
  }

  /** New interfaces get indexes above `max` (restoring: saved indexes stay free). */
  reserveIfIndexes(max: number): void {
    if (max >= this.nextIfIndex) this.nextIfIndex = max + 1;
  }

  newIfnet(im: Image, name: string, kind: string, flags: number, mtu: number, mac: Mac, driver: LinkDriver): Ifnet {
    const ifp = new Ifnet({ index: this.nextIfIndex++ as IfIndex, name, kind, owner: im, flags, mtu, mac, driver });
    ifp.changedAt = this.platform.wallNow();
    this.byIndex.set(ifp.index, ifp);
    return ifp;
  }

  /** A name `${prefix}${unit}${suffix}` free in every image (units are global, as FreeBSD's cloners). */
  freeName(prefix: string, suffix = '', hostToo = false): string {
    const taken = new Set<string>();
    for (const im of this.images.values()) for (const n of im.ifnets.keys()) taken.add(n);
    for (let unit = 0; ; unit++) {
      const n = `${prefix}${unit}${suffix}`;
      const clash = taken.has(n) || (prefix === 'epair' && (taken.has(`${prefix}${unit}a`) || taken.has(`${prefix}${unit}b`)));
      if (!clash && !(hostToo && this.hostIfExists(n))) return n;
    }
  }

  /** `ifconfig epair create`: both ends in `im`; returns [a, b]. */
  createEpair(im: Image): [Ifnet, Ifnet] {
    this.checkRoom(im, 2);
    const base = this.freeName('epair', 'a').slice(0, -1);
    const da = new EpairDriver(this.netisr);
    const db = new EpairDriver(this.netisr);
    const flags = IFF.BROADCAST | IFF.SIMPLEX | IFF.MULTICAST;
    const r = Math.floor(this.random() * 0xffffff);
    // FreeBSD's epair MACs: locally administered 02:..., ending in 0a and 0b.
    const macBase = 0x020000000000 + r * 0x100;
    const a = this.newIfnet(im, `${base}a`, 'epair', flags, 1500, (macBase + 0x0a) as Mac, da);
    const b = this.newIfnet(im, `${base}b`, 'epair', flags, 1500, (macBase + 0x0b) as Mac, db);
    da.peer = b;
    db.peer = a;
    im.ifnets.set(a.name, a);
    im.ifnets.set(b.name, b);
    return [a, b];
  }

  /** `ifconfig tap create [hostname NAME]`: a new interface bound to a host TAP device. */
  createTap(im: Image, hostName?: string, opts: { reattach?: boolean; adopted?: boolean } = {}): Ifnet {
    if (this.openTap === undefined) fail(E.DEVICE, 'TAP devices are not available in this daemon');
    this.checkRoom(im, 1);
    const name = this.freeName('tap', '', hostName === undefined);
    const host = hostName ?? name;
    if (!HOST_IFNAME_RE.test(host)) fail(E.BAD_NAME, `invalid host interface name '${host}': up to 15 letters, digits, '_', '.' or '-'`);
    for (const other of this.list()) {
      for (const ifp of other.ifnets.values()) {
        if (ifp.driver instanceof TapDriver && ifp.driver.port.name === host) {
          fail(E.INTERFACE_EXISTS, `host device ${host} is already bound to ${ifp.name} in image ${other.name}`);
        }
      }
    }
    let port;
    try {
      port = this.openTap({ name: host, persist: true, reattach: opts.reattach === true, adopted: opts.adopted === true });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new VimageError(E.DEVICE, err.message);
    }
    const sched = this.sched;
    const driver = new TapDriver(port, this.netisr, {
      begin: (ifp) => sched.begin((ifp.owner as Image).cpu),
      charge: (ifp, ms) => {
        const cpu = (ifp.owner as Image).cpu;
        sched.charge(cpu, ms, true);
        return !sched.othersWaiting(cpu);
      },
      holdOff: (ifp) => sched.holdOff((ifp.owner as Image).cpu),
      after: (ms, fn) => this.clock.after(ms, fn),
      cpuNow: this.platform.cpuNow,
    });
    const r = Math.floor(this.random() * 0xffffff);
    // FreeBSD's tap(4) uses its own OUI, 58:9c:fc.
    const ifp = this.newIfnet(im, name, 'tap', IFF.BROADCAST | IFF.SIMPLEX | IFF.MULTICAST, 1500, (0x589cfc000000 + r) as Mac, driver);
    im.ifnets.set(name, ifp);
    driver.attach(ifp);
    return ifp;
  }

  /** `ifconfig IF destroy`. lo0 stays; destroying an epair end destroys both. */
  destroyIfnet(im: Image, ifp: Ifnet): void {
    if (ifp === im.lo0) fail(E.NOT_DESTROYABLE, 'lo0 cannot be destroyed');
    if (ifp.driver instanceof EpairDriver) {
      const peer = ifp.driver.peer;
      if (peer !== null) this.detach(peer.owner as Image, peer);
    }
    this.detach(im, ifp);
  }

  private detach(im: Image, ifp: Ifnet): void {
    ifReleaseLinks(ifp, false);
    this.touch(im);
    if (this.byIndex.get(ifp.index) === ifp) this.byIndex.delete(ifp.index);
    inPurgeInterface(im, ifp);
    in6PurgeInterface(im, ifp);
    im.ifnets.delete(ifp.name);
    ifp.flags &= ~(IFF.UP | IFF.RUNNING);
    try {
      ifp.driver.destroy(ifp);
    } catch (e) {
      this.log.warn({ ifname: ifp.name, err: (e as Error).message }, 'interface release failed');
    }
  }

  /**
   * Daemon shutdown: release host devices and stop every image. With
   * `keepHostDevices` the TAP devices stay persistent for a later restore;
   * without it (nothing restores them yet) they are removed from the host.
   */
  close(keepHostDevices = false): void {
    for (const im of this.list()) {
      for (const ifp of im.ifnets.values()) {
        if (ifp.driver instanceof TapDriver) ifp.driver.release(keepHostDevices);
      }
      im.teardown();
    }
    this.images.clear();
    this.sampler.cancel();
  }
}

/** The image's view of the clock: timer callbacks are CPU spent on the image. */
function accountedClock(reg: Registry, cpu: ImageCpu): Clock {
  const base = reg.clock;
  // One accounting wrapper per callback, made once: timers are re-armed with
  // the same handlers (TCP's, dummynet's poll), so no closure per arming.
  const wrapped = new WeakMap<() => void, () => void>();
  const wrap = (fn: () => void): (() => void) => {
    let w = wrapped.get(fn);
    if (w === undefined) {
      w = (): void => reg.sched.runTimer(cpu, fn);
      wrapped.set(fn, w);
    }
    return w;
  };
  return {
    realTime: base.realTime,
    now: () => base.now(),
    after: (ms, fn) => base.after(ms, wrap(fn)),
    every: (ms, fn) => base.every(ms, wrap(fn)),
    immediate: (fn) => base.immediate(wrap(fn)),
  };
}
