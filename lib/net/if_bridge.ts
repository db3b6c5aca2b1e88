/**
 * bridge(4): a learning Ethernet switch between member interfaces of one
 * image (FreeBSD's if_bridge, without spanning tree).
 *
 * A member's input is taken before its image sees it (`Ifnet.bridge`): the
 * source address is learned on that member, then the frame goes to the
 * member that learned its destination, or, for broadcast, multicast and
 * unknown destinations, to every other member (flooding). Frames for the
 * bridge's own address (or a member's) go up the image's stack on that
 * interface; the bridge interface can hold the image's address on the
 * segment. Span ports get a copy of every frame the bridge sees.
 *
 * The address table is open addressing over typed arrays (no allocation per
 * frame); time is a seconds counter advanced by one timer per bridge, which
 * also ages entries out after `timeout` seconds. At most `maxaddr` entries
 * are learned; beyond that, new addresses are flooded to, as FreeBSD does.
 *
 * Buffers: a frame sent to one member is passed on as it is, offload
 * metadata included. A TAP writes it out before `output` returns and
 * changes nothing but the header room in front, so any number of TAPs share
 * one buffer; other receivers (an epair's peer image, the bridge's own
 * stack, a VLAN that tags in place) may change the frame, or read it later,
 * so when flooding all but the last of them get a copy. STP is not
 * implemented: a loop between bridges (two epairs between two bridged
 * images) is not detected and storms until the netisr queue drops.
 */

import { ETHER_HDR_LEN, ETHERTYPE, etherIsGroup, macToString, type Mac } from '../wire/ethernet.js';
import { put16 } from '../wire/bytes.js';
import { internetChecksum } from '../wire/checksum.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO, VnetHdr } from '../wire/vnet.js';
import type { Clock, Timer } from '../clock.js';
import { bpfTap } from './bpf.js';
import { BridgeRtable, RT_EMPTY } from './bridge_rtable.js';
import { IFF, PKT_HEADROOM, type Ifnet, type InputHook, type LinkDriver, type LinkTie } from './if.js';
import type { Vnet } from './vnet.js';
import { softwareSegment, type SegmentOutput } from '../netinet/gso.js';

/** Member flags (FreeBSD's IFBIF_*). */
export const IFBIF = {
  LEARNING: 0x1,
  DISCOVER: 0x2,
  STP: 0x4,
  SPAN: 0x8,
  STICKY: 0x10,
  BSTP_EDGE: 0x20,
  BSTP_AUTOEDGE: 0x40,
  BSTP_PTP: 0x80,
  BSTP_AUTOPTP: 0x100,
  PRIVATE: 0x800,
} as const;

/** In the order ifconfig prints them (IFBIFBITS). */
export const IFBIF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IFBIF.LEARNING, 'LEARNING'],
  [IFBIF.DISCOVER, 'DISCOVER'],
  [IFBIF.STP, 'STP'],
  [IFBIF.SPAN, 'SPAN'],
  [IFBIF.STICKY, 'STICKY'],
  [IFBIF.PRIVATE, 'PRIVATE'],
  [IFBIF.BSTP_EDGE, 'EDGE'],
  [IFBIF.BSTP_AUTOEDGE, 'AUTOEDGE'],
  [IFBIF.BSTP_PTP, 'PTP'],
  [IFBIF.BSTP_AUTOPTP, 'AUTOPTP'],
];

/** A new member's flags, as FreeBSD sets them. */
export const IFBIF_DEFAULT = IFBIF.LEARNING | IFBIF.DISCOVER | IFBIF.BSTP_AUTOEDGE | IFBIF.BSTP_AUTOPTP;
export const BRIDGE_MAXADDR_DEFAULT = 2000;
export const BRIDGE_TIMEOUT_DEFAULT = 1200;
/** Members per bridge: bounds the work of flooding one frame. */
export const BRIDGE_MAX_MEMBERS = 256;
/** Kinds that may be members (FreeBSD takes Ethernet-like interfaces, never a bridge or a loopback). */
export const BRIDGE_MEMBER_KINDS: readonly string[] = ['tap', 'epair', 'vlan', 'vxlan'];

/** One member, as `ifconfig bridge0` and `--json` show it. */
export interface BridgeMemberInfo {
  name: string;
  flags: number;
  flagNames: string[];
  ifmaxaddr: number;
  port: number;
  priority: number;
  pathCost: number;
}

export interface BridgeInfo {
  members: BridgeMemberInfo[];
  spans: BridgeMemberInfo[];
  maxaddr: number;
  timeout: number;
  /** Learned addresses now in the table. */
  addresses: number;
}

/** One learned address (`ifconfig bridge0 addr`). */
export interface BridgeAddress {
  address: string;
  vlan: number;
  interface: string;
  /** Seconds until it ages out. */
  expire: number;
  flags: number;
}

export function bridgeFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of IFBIF_NAMES) if ((flags & bit) !== 0) out.push(name);
  return out;
}

/** A member port: takes the member's input (Ifnet.bridge). */
class BridgePort implements InputHook {
  promiscSet = false;
  constructor(
    readonly br: BridgeDriver,
    readonly ifp: Ifnet,
    readonly slot: number,
    public flags: number,
  ) {}

  input(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    this.br.portInput(this, buf, off, len, meta);
  }

  detach(ifp: Ifnet): void {
    this.br.deleteMember(ifp);
  }
}

export class BridgeDriver implements LinkDriver, LinkTie {
  readonly kind = 'bridge';
  readonly headroom = 0;
  /** The bridge interface itself; set by `bridgeAttach`. */
  ifp: Ifnet | null = null;
  /** Members by slot (the `port` of a table entry); null where one left. */
  private readonly ports: Array<BridgePort | null> = [];
  /** Members in the order they were added. */
  private readonly members: BridgePort[] = [];
  private readonly spans: Ifnet[] = [];
  maxaddr = BRIDGE_MAXADDR_DEFAULT;
  timeout = BRIDGE_TIMEOUT_DEFAULT;
  /** Seconds since the bridge was made (FreeBSD's time_uptime for the table). */
  secs = 0;
  private timer: Timer | null;
  /** Moved to another image: take the new image's clock at the next tick. */
  private rearm = false;
  private readonly rt = new BridgeRtable(BRIDGE_MAXADDR_DEFAULT);
  private readonly fix = new VnetHdr();
  /** The Ethernet header of the GSO frame being cut for a member without offload (segOut puts it back). */
  private readonly segEh = new Uint8Array(ETHER_HDR_LEN);

  constructor(clock: Clock) {
    this.timer = clock.every(1000, this.tick);
  }

  /** Learned addresses in the table. */
  get count(): number {
    return this.rt.count;
  }

  /**
   * The bridge takes offloaded frames when every member does (FreeBSD's
   * capability intersection); recomputed when members come and go.
   */
  offload = true;

  private updateOffload(): void {
    this.offload = this.members.every((m) => m.ifp.driver.offload);
  }

  private readonly tick = (): void => {
    if (this.rearm) this.moveTimer();
    this.secs++;
    this.rt.expire(this.secs);
  };

  /** Learn (or refresh) the source address of a frame at buf[off] that came in on `p`. */
  private learn(p: BridgePort, buf: Uint8Array, off: number): void {
    const s = off + 6;
    const hi = (buf[s]! << 8) | buf[s + 1]!;
    const lo = (buf[s + 2]! << 24) | (buf[s + 3]! << 16) | (buf[s + 4]! << 8) | buf[s + 5]!;
    const rt = this.rt;
    const i = rt.find(hi, lo);
    if (i >= 0) {
      // A station that moved is learned on its new member, unless its entry is sticky.
      if (rt.port[i] !== p.slot && (this.ports[rt.port[i]!]!.flags & IFBIF.STICKY) === 0) rt.port[i] = p.slot;
      rt.exp[i] = this.secs + this.timeout;
      return;
    }
    if (rt.count >= this.maxaddr) return;
    rt.insert(hi, lo, p.slot, this.secs + this.timeout);
  }

  /** The member that learned the destination of the frame at buf[off], or null. */
  private lookupDst(buf: Uint8Array, off: number): BridgePort | null {
    const hi = (buf[off]! << 8) | buf[off + 1]!;
    const lo = (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
    const i = this.rt.find(hi, lo);
    return i < 0 ? null : this.ports[this.rt.port[i]!]!;
  }

  /** A member's input (bridge_input). */
  portInput(p: BridgePort, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const br = this.ifp!;
    const mif = p.ifp;
    if ((br.flags & IFF.UP) === 0 || len < ETHER_HDR_LEN) {
      // A bridge that is down passes its members' frames to their own stacks (FreeBSD does).
      mif.owner.etherInput(mif, buf, off, len, meta);
      return;
    }
    const group = etherIsGroup(buf, off);
    // A frame for the member's own address goes up its stack below, which counts it (and the bridge does not see it).
    const own = !group && this.isLocal(mif, buf, off);
    if (!own) {
      const c = mif.counters;
      c.ipackets++;
      c.ibytes += len;
      if (group) c.imcasts++;
      // FreeBSD taps the bridge interface for every frame it forwards, floods or takes for itself.
      if (br.bpf !== null) bpfTap(br.bpf, buf, off, len);
    }
    if ((p.flags & IFBIF.LEARNING) !== 0 && (buf[off + 6]! & 1) === 0) this.learn(p, buf, off);
    if (this.spans.length > 0) this.spanOut(buf, off, len, meta);
    if (group) {
      this.flood(p, buf, off, len, meta, true, false);
      return;
    }
    if (this.isLocal(br, buf, off)) {
      br.owner.etherInput(br, buf, off, len, meta);
      return;
    }
    const members = this.members;
    for (let k = 0; k < members.length; k++) {
      const mi = members[k]!.ifp;
      if (this.isLocal(mi, buf, off)) {
        mi.owner.etherInput(mi, buf, off, len, meta);
        return;
      }
    }
    const dst = this.lookupDst(buf, off);
    if (dst === null) this.flood(p, buf, off, len, meta, false, true);
    else if (dst !== p) this.send(dst.ifp, buf, off, len, meta);
    // else: the destination is on the member it came from; the segment has it already.
  }

  private isLocal(ifp: Ifnet, buf: Uint8Array, off: number): boolean {
    return (
      ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0 === ifp.macLo &&
      ((buf[off]! << 8) | buf[off + 1]!) === ifp.macHi
    );
  }

  /** The image sends through the bridge interface (bridge_output). */
  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    if (len < ETHER_HDR_LEN) {
      ifp.counters.oerrors++;
      return;
    }
    if (this.spans.length > 0) this.spanOut(buf, off, len, meta);
    const dst = etherIsGroup(buf, off) ? null : this.lookupDst(buf, off);
    if (dst === null) this.flood(null, buf, off, len, meta, false, false);
    else this.send(dst.ifp, buf, off, len, meta);
  }

  /**
   * Send to every member but `from` (DISCOVER members only for an unknown
   * unicast), then, when `local`, up the bridge's own stack. TAPs share the
   * buffer; of the receivers that may change or keep it, all but the last
   * get a copy.
   */
  private flood(from: BridgePort | null, buf: Uint8Array, off: number, len: number, meta: VnetHdr, local: boolean, unknown: boolean): void {
    const br = this.ifp!;
    let keepers = local ? 1 : 0;
    const members = this.members;
    for (let k = 0; k < members.length; k++) {
      const m = members[k]!;
      if (m === from || (unknown && (m.flags & IFBIF.DISCOVER) === 0) || (m.ifp.flags & IFF.UP) === 0) continue;
      if (m.ifp.kind === 'tap') this.send(m.ifp, buf, off, len, meta);
      else keepers++;
    }
    if (keepers === 0) return;
    for (let k = 0; k < members.length; k++) {
      const m = members[k]!;
      if (m === from || (unknown && (m.flags & IFBIF.DISCOVER) === 0) || (m.ifp.flags & IFF.UP) === 0 || m.ifp.kind === 'tap') continue;
      keepers--;
      if (keepers === 0) this.send(m.ifp, buf, off, len, meta);
      else this.sendCopy(m.ifp, buf, off, len, meta);
    }
    if (local) br.owner.etherInput(br, buf, off, len, meta);
  }

  private spanOut(buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const spans = this.spans;
    for (let k = 0; k < spans.length; k++) {
      const s = spans[k]!;
      if ((s.flags & IFF.UP) === 0) continue;
      if (s.kind === 'tap') this.send(s, buf, off, len, meta);
      else this.sendCopy(s, buf, off, len, meta);
    }
  }

  private sendCopy(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const copy = new Uint8Array(PKT_HEADROOM + len);
    copy.set(buf.subarray(off, off + len), PKT_HEADROOM);
    this.send(ifp, copy, PKT_HEADROOM, len, meta);
  }

  /** To one member (bridge_enqueue): offload metadata kept, or resolved for a member that cannot take it. */
  private send(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const bc = this.ifp!.counters;
    if ((meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE || meta.flags !== 0) && !ifp.driver.offload) {
      // FreeBSD keeps members' capabilities equal; here a member without offload gets a completed frame, and
      // a TCP/IPv4 GSO frame (from a TAP whose host sends TSO) is cut into segments first, as Linux's bridge
      // does for a port without the feature (a vxlan member, a TAP opened without offloads).
      if (meta.gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
        const im = this.ifp!.owner as unknown as Vnet;
        const ip = im.ipViews.output.reset(buf, off + ETHER_HDR_LEN, len - ETHER_HDR_LEN);
        if (len <= ETHER_HDR_LEN || ((buf[off + 12]! << 8) | buf[off + 13]!) !== ETHERTYPE.IPV4 || ip.check(false) !== 'ok') {
          bc.oerrors++;
          return;
        }
        this.segEh.set(buf.subarray(off, off + ETHER_HDR_LEN));
        softwareSegment(im, ifp, 0, buf, off + ETHER_HDR_LEN, ip.totalLen, meta, this.segOut);
        return;
      }
      const copy = new Uint8Array(PKT_HEADROOM + len);
      copy.set(buf.subarray(off, off + len), PKT_HEADROOM);
      if ((meta.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
        const start = PKT_HEADROOM + meta.csumStart;
        const at = start + meta.csumOffset;
        if (at + 2 <= PKT_HEADROOM + len) put16(copy, at, internetChecksum(copy, start, PKT_HEADROOM + len - start));
      }
      bc.opackets++;
      bc.obytes += len;
      ifp.output(copy, PKT_HEADROOM, len, this.fix.clear());
      return;
    }
    if (off < ifp.driver.headroom) {
      // The member writes its own header in front (a TAP's virtio-net header) and there is no room: copy once.
      this.sendCopy(ifp, buf, off, len, meta);
      return;
    }
    bc.opackets++;
    bc.obytes += len;
    ifp.output(buf, off, len, meta);
  }

  /** One segment of a frame cut by send(): the frame's Ethernet header in front, to the member. */
  private readonly segOut: SegmentOutput = (_im, ifp, _nexthop, buf, off, len) => {
    const bc = this.ifp!.counters;
    const e = off - ETHER_HDR_LEN;
    buf.set(this.segEh, e);
    bc.opackets++;
    bc.obytes += len + ETHER_HDR_LEN;
    ifp.output(buf, e, len + ETHER_HDR_LEN, this.fix.clear());
  };

  // --- control plane ---

  /** `addm IF`. Throws a message; the caller turns it into a coded error. */
  addMember(ifp: Ifnet): void {
    const br = this.ifp!;
    if (ifp === br) throw new Error(`cannot add ${ifp.name} to itself`);
    if (!BRIDGE_MEMBER_KINDS.includes(ifp.kind)) throw new Error(`${ifp.name}: a ${ifp.kind} interface cannot be a bridge member (members: ${BRIDGE_MEMBER_KINDS.join(', ')})`);
    if (ifp.owner !== br.owner) throw new Error(`${ifp.name} is in another image`);
    if (ifp.bridge !== null) throw new Error(`${ifp.name} is already a member of a bridge; deletem it there first`);
    if (ifp.spanOf !== null) throw new Error(`${ifp.name} is a span port; -span it first`);
    if (this.members.length >= BRIDGE_MAX_MEMBERS) throw new Error(`${br.name} has ${BRIDGE_MAX_MEMBERS} members, the most a bridge takes`);
    if (this.members.length > 0 && ifp.mtu !== br.mtu) throw new Error(`${ifp.name} has MTU ${ifp.mtu}, ${br.name} ${br.mtu}: members must have the bridge's MTU`);
    if (this.members.length === 0) br.mtu = ifp.mtu;
    let slot = this.ports.indexOf(null);
    if (slot < 0) slot = this.ports.length;
    const p = new BridgePort(this, ifp, slot, IFBIF_DEFAULT);
    this.ports[slot] = p;
    this.members.push(p);
    if ((ifp.flags & IFF.PROMISC) === 0) {
      ifp.flags |= IFF.PROMISC;
      p.promiscSet = true;
    }
    ifp.bridge = p;
    this.updateOffload();
  }

  /** `deletem IF`; also when a member is destroyed or moved away. */
  deleteMember(ifp: Ifnet): void {
    const p = ifp.bridge instanceof BridgePort && ifp.bridge.br === this ? ifp.bridge : null;
    if (p === null) throw new Error(`${ifp.name} is not a member of ${this.ifp?.name ?? 'the bridge'}`);
    const port = this.rt.port;
    this.rt.removeWhere((i) => port[i] === p.slot);
    this.ports[p.slot] = null;
    this.members.splice(this.members.indexOf(p), 1);
    if ((ifp.flags & IFF.PPROMISC) === 0) ifp.flags &= ~IFF.PROMISC; // unless the user asked for promisc
    ifp.bridge = null;
    this.updateOffload();
  }

  isMember(ifp: Ifnet): boolean {
    return ifp.bridge instanceof BridgePort && ifp.bridge.br === this;
  }

  /** Set or clear member flags (`learn`/`-learn`, `discover`/`-discover`, `sticky`/`-sticky`). */
  setMemberFlag(ifp: Ifnet, flag: number, on: boolean): void {
    if (!this.isMember(ifp)) throw new Error(`${ifp.name} is not a member of ${this.ifp!.name}`);
    const p = ifp.bridge as BridgePort;
    p.flags = on ? p.flags | flag : p.flags & ~flag;
  }

  /** `span IF`. */
  addSpan(ifp: Ifnet): void {
    const br = this.ifp!;
    if (ifp === br || !BRIDGE_MEMBER_KINDS.includes(ifp.kind)) throw new Error(`${ifp.name} cannot be a span port`);
    if (ifp.owner !== br.owner) throw new Error(`${ifp.name} is in another image`);
    if (ifp.bridge !== null) throw new Error(`${ifp.name} is a bridge member; deletem it first`);
    if (ifp.spanOf !== null) throw new Error(`${ifp.name} is already a span port`);
    this.spans.push(ifp);
    ifp.spanOf = this;
  }

  /** `-span IF`; also when the span port is destroyed or moved away (LinkTie). */
  detach(ifp: Ifnet): void {
    const i = this.spans.indexOf(ifp);
    if (i < 0) throw new Error(`${ifp.name} is not a span port of ${this.ifp!.name}`);
    this.spans.splice(i, 1);
    ifp.spanOf = null;
  }

  setMaxaddr(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 1_000_000) throw new Error(`maxaddr ${n}: give 0 to 1000000`);
    this.maxaddr = n;
    this.rt.trim(n);
    const cap = this.rt.mask + 1;
    if (n * 2 > cap || (n * 8 < cap && cap > 16)) this.rt.resize(n);
  }

  setTimeout(s: number): void {
    if (!Number.isInteger(s) || s < 0 || s > 0x7fffffff) throw new Error(`timeout ${s}: give seconds, 0 or more`);
    this.timeout = s;
  }

  /** `flush`: forget every learned address. */
  flush(): void {
    this.rt.clear();
  }

  /** The learned table (`ifconfig bridge0 addr`), in table order. */
  addresses(): BridgeAddress[] {
    const out: BridgeAddress[] = [];
    const rt = this.rt;
    for (let i = 0; i <= rt.mask; i++) {
      if (rt.port[i] === RT_EMPTY) continue;
      const mac = ((rt.hi[i]! & 0xffff) * 0x100000000 + (rt.lo[i]! >>> 0)) as Mac;
      // FreeBSD shows untagged entries in VLAN 1.
      out.push({ address: macToString(mac), vlan: 1, interface: this.ports[rt.port[i]!]!.ifp.name, expire: Math.max(0, rt.exp[i]! - this.secs), flags: 0 });
    }
    return out;
  }

  /** Members and span ports: where this bridge's output may go. */
  outputs(): Ifnet[] {
    return [...this.members.map((m) => m.ifp), ...this.spans];
  }

  memberNames(): string[] {
    return this.members.map((m) => m.ifp.name);
  }

  spanNames(): string[] {
    return this.spans.map((s) => s.name);
  }

  info(): BridgeInfo {
    const entry = (ifp: Ifnet, flags: number, member: boolean): BridgeMemberInfo => ({
      name: ifp.name,
      flags,
      flagNames: bridgeFlagNames(flags),
      ifmaxaddr: 0,
      port: ifp.index & 0xfff,
      priority: member ? 128 : 0,
      // FreeBSD's default path cost from link speed: 10 Gbit/s epairs 2000; links without a speed 2000000.
      pathCost: member ? (ifp.kind === 'epair' ? 2000 : 2000000) : 0,
    });
    return {
      members: this.members.map((m) => entry(m.ifp, m.flags, true)),
      spans: this.spans.map((s) => entry(s, IFBIF.SPAN, false)),
      maxaddr: this.maxaddr,
      timeout: this.timeout,
      addresses: this.rt.count,
    };
  }

  /** Release every member and span port (the bridge is destroyed or leaves the image). */
  releaseAll(): void {
    for (const m of [...this.members]) this.deleteMember(m.ifp);
    for (const s of [...this.spans]) this.detach(s);
    this.flush();
  }

  moved(): void {
    this.releaseAll();
    this.rearm = true;
  }

  /** After a move: the aging timer runs on (and is charged to) the new image's clock. */
  private moveTimer(): void {
    this.rearm = false;
    const clock = (this.ifp?.owner as Partial<{ clock: Clock }> | undefined)?.clock;
    if (clock === undefined || this.timer === null) return;
    this.timer.cancel();
    this.timer = clock.every(1000, this.tick);
  }

  destroy(): void {
    this.releaseAll();
    this.timer?.cancel();
    this.timer = null;
  }

  describe(): Record<string, string | number | boolean> {
    return { members: this.members.length, maxaddr: this.maxaddr, timeout: this.timeout };
  }
}
