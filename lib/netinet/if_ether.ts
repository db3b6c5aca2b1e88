/**
 * ARP for IPv4 over Ethernet (RFC 826), one cache per image, as FreeBSD's
 * per-vnet lltable: requests and replies, a bounded hold queue for packets
 * waiting on resolution, retransmission, expiry, static entries and
 * gratuitous ARP when an address is added.
 */

import { etherRegister, type Vnet } from '../net/vnet.js';
import type { Ifnet } from '../net/if.js';
import { IFF } from '../net/if.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { ArpPacket, ARPOP, ARP_LEN, emitArp } from '../wire/arp.js';
import { ETHERTYPE, ETHER_HDR_LEN, MAC_BROADCAST, emitEthernetSrc, macToString, writeMac, type Mac } from '../wire/ethernet.js';
import { Ipv4Packet, ip4ToString } from '../wire/ipv4.js';
import { VnetHdr } from '../wire/vnet.js';
import { E, fail } from '../errors.js';
import { PKT_HEADROOM } from '../net/if.js';
import { holdFrame, type HeldFrame } from '../net/llhold.js';

export const arpMaxAge = sysctlInt({
  name: 'net.link.ether.inet.max_age',
  def: 1200,
  min: 1,
  max: 86400 * 365,
  descr: 'ARP entry lifetime in seconds',
});
export const arpMaxTries = sysctlInt({
  name: 'net.link.ether.inet.maxtries',
  def: 5,
  min: 1,
  max: 100,
  descr: 'ARP resolution attempts before giving up',
});
export const arpMaxHold = sysctlInt({
  name: 'net.link.ether.inet.maxhold',
  def: 16,
  min: 1,
  max: 1024,
  descr: 'Number of packets to hold per ARP entry',
});
export const arpWait = sysctlInt({
  name: 'net.link.ether.inet.wait',
  def: 20,
  min: 1,
  max: 3600,
  descr: 'Incomplete ARP entry lifetime in seconds',
});

export const arpMaxEntries = sysctlInt({
  name: 'net.link.ether.inet.max_entries',
  def: 4096,
  min: 16,
  max: 1 << 20,
  descr: 'Most ARP entries per image (vimage: bounds memory under ARP storms and scans)',
});

export const arpStats = defineStats({
  txrequests: 'ARP requests sent',
  txerrors: 'ARP requests failed to sent',
  txreplies: 'ARP replies sent',
  rxrequests: 'ARP requests received',
  rxreplies: 'ARP replies received',
  received: 'ARP packets received',
  badformat: 'ARP packets dropped for bad format',
  notours: 'ARP packets for another host',
  dropped: 'total packets dropped due to no ARP entry',
  timeouts: 'ARP entrys timed out',
  dupips: 'Duplicate IPs seen',
});

export type ArpStat = Stats<(typeof arpStats.fields)[number]>;

declare module '../net/vnet.js' {
  interface Vnet {
    readonly arp: ArpTable;
    readonly arpstat: ArpStat;
  }
}

export const LLE_INCOMPLETE = 0;
export const LLE_REACHABLE = 1;
export const LLE_STATIC = 2;

/** One neighbour (FreeBSD's llentry). */
export interface LlEntry {
  readonly ip: number;
  mac: Mac;
  ifp: Ifnet;
  state: number;
  /** Clock ms when this entry expires; Infinity for static entries. */
  expire: number;
  /** Requests sent since the entry went incomplete. */
  asked: number;
  lastAsked: number;
  hold: HeldFrame[];
}

export class ArpTable {
  readonly entries = new Map<number, LlEntry>();
  sweeper: { cancel(): void } | null = null;
  /** Reused frame buffer for requests and replies (sent synchronously). */
  readonly frame = new Uint8Array(PKT_HEADROOM + ETHER_HDR_LEN + ARP_LEN + 18);
  readonly view = new ArpPacket();
  /** The IPv4 header of a frame waiting on resolution. */
  readonly ipView = new Ipv4Packet();
  readonly meta = new VnetHdr();
}

export function arpInit(im: Vnet): void {
  etherRegister(im, ETHERTYPE.ARP, arpInput);
}

/** The sweeper runs only while there are entries: an idle image has no timer. */
function arpArm(im: Vnet): void {
  if (im.arp.sweeper === null) im.arp.sweeper = im.clock.every(1000, () => arpSweep(im));
}

export function arpDestroy(im: Vnet): void {
  im.arp.sweeper?.cancel();
  im.arp.sweeper = null;
  for (const e of im.arp.entries.values()) dropHeld(im, e);
  im.arp.entries.clear();
}

/** Forget every entry on `ifp` (address removed, interface moved away). */
export function arpPurgeInterface(im: Vnet, ifp: Ifnet): void {
  for (const [ip, e] of im.arp.entries) {
    if (e.ifp === ifp) {
      dropHeld(im, e);
      im.arp.entries.delete(ip);
    }
  }
}

/**
 * Forget the entries on `ifp` in subnet net/mask that no address left on
 * `ifp` covers (an address was removed; FreeBSD's lltable_prefix_free).
 */
export function arpPurgeSubnet(im: Vnet, ifp: Ifnet, net: number, mask: number): void {
  for (const [ip, e] of im.arp.entries) {
    if (e.ifp === ifp && ((ip & mask) >>> 0) === net && ifp.subnetOf(ip) === undefined) {
      dropHeld(im, e);
      im.arp.entries.delete(ip);
    }
  }
}

function dropHeld(im: Vnet, e: LlEntry): void {
  im.arpstat.dropped += e.hold.length;
  e.hold.length = 0;
}

function arpSweep(im: Vnet): void {
  const now = im.clock.now();
  for (const [ip, e] of im.arp.entries) {
    if (e.state === LLE_INCOMPLETE && e.asked < im.sysctl.v[arpMaxTries.slot]! && now - e.lastAsked >= 1000) {
      arpRequest(im, e.ifp, 0, ip);
      e.asked++;
      e.lastAsked = now;
      if (e.asked >= im.sysctl.v[arpMaxTries.slot]!) {
        // RFC 1122 2.3.2.2: give up on the queued packets once resolution fails.
        dropHeld(im, e);
        e.expire = now + im.sysctl.v[arpWait.slot]! * 1000;
      }
      continue;
    }
    if (e.expire <= now) {
      if (e.state !== LLE_INCOMPLETE) im.arpstat.timeouts++;
      dropHeld(im, e);
      im.arp.entries.delete(ip);
    }
  }
  if (im.arp.entries.size === 0) {
    im.arp.sweeper?.cancel();
    im.arp.sweeper = null;
  }
}

/**
 * ARP input: validate, learn the sender when the request is for us (RFC 826
 * "merge" when we already know the sender), answer requests for our
 * addresses.
 */
export function arpInput(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number): void {
  const st = im.arpstat;
  st.received++;
  const v = im.arp.view.reset(buf, off, len);
  if (len < ARP_LEN || !v.checked()) {
    st.badformat++;
    return;
  }
  const op = v.op;
  if (op === ARPOP.REQUEST) st.rxrequests++;
  else if (op === ARPOP.REPLY) st.rxreplies++;
  else {
    st.badformat++;
    return;
  }
  const spa = v.senderIp;
  const sha = v.senderMac;
  const tpa = v.targetIp;
  if (sha === ifp.mac) return; // our own frame looped back by a bridge
  const mine = ifp.addrs.find((a) => a.addr === tpa);
  if (ifp.addrs.some((a) => a.addr === spa) && spa !== 0) {
    st.dupips++;
    im.log.warn({ ifname: ifp.name, ip: ip4ToString(spa), mac: macToString(sha) }, 'arp: duplicate IP address sent from this MAC');
    return;
  }
  const known = im.arp.entries.get(spa);
  // Learn only neighbours on one of this interface's subnets (FreeBSD's
  // in_lltable_rtcheck), and no new ones when the table is full.
  if (spa !== 0 && (known !== undefined || (mine !== undefined && ifp.subnetOf(spa) !== undefined && roomForEntry(im)))) {
    learn(im, ifp, spa, sha, known);
  }
  if (mine === undefined) {
    st.notours++;
    return;
  }
  if (op === ARPOP.REQUEST) {
    arpSend(im, ifp, ARPOP.REPLY, sha, mine.addr, sha, spa);
    st.txreplies++;
  }
}

function roomForEntry(im: Vnet): boolean {
  return im.arp.entries.size < im.sysctl.v[arpMaxEntries.slot]!;
}

function learn(im: Vnet, ifp: Ifnet, ip: number, mac: Mac, e: LlEntry | undefined): void {
  const now = im.clock.now();
  if (e !== undefined && e.state === LLE_STATIC) return;
  if (e === undefined) {
    e = { ip, mac, ifp, state: LLE_REACHABLE, expire: 0, asked: 0, lastAsked: 0, hold: [] };
    im.arp.entries.set(ip, e);
    arpArm(im);
  }
  e.mac = mac;
  e.ifp = ifp;
  e.state = LLE_REACHABLE;
  e.asked = 0;
  e.expire = now + im.sysctl.v[arpMaxAge.slot]! * 1000;
  if (e.hold.length > 0) {
    const held = e.hold;
    e.hold = [];
    for (const h of held) {
      writeMac(h.buf, h.off, mac);
      writeMac(h.buf, h.off + 6, ifp.mac);
      ifp.output(h.buf, h.off, h.len, h.meta);
    }
  }
}

/**
 * What arpResolve did with a frame: 0, the destination MAC is written and
 * the frame can go now; 'held', it waits on the entry's hold queue for a
 * reply (or was dropped and counted), which the sender does not hear about
 * (FreeBSD's EWOULDBLOCK, masked by ether_output); or the errno of a
 * resolution that failed recently, as FreeBSD's arpresolve returns it once
 * maxtries requests went unanswered: EHOSTDOWN for a neighbour, EHOSTUNREACH
 * when the next hop is a gateway.
 */
export type ArpResult = 0 | 'held' | 'EHOSTDOWN' | 'EHOSTUNREACH';

/**
 * Resolve `nexthop` for an outgoing IPv4 frame whose Ethernet header starts
 * at buf[off] (src and type already written). Writes the destination MAC and
 * returns 0 when the frame can go now; otherwise the frame is copied onto
 * the entry's hold queue (or dropped and counted when the queue is full), a
 * request goes out and the result is 'held'. While the entry is in its
 * failed state (maxtries requests unanswered, until net.link.ether.inet.wait
 * expires it) frames are dropped and counted, and the errno is returned.
 */
export function arpResolve(im: Vnet, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, meta: VnetHdr): ArpResult {
  const e = im.arp.entries.get(nexthop);
  if (e !== undefined && e.state !== LLE_INCOMPLETE && e.ifp === ifp) {
    writeMac(buf, off, e.mac);
    return 0;
  }
  const now = im.clock.now();
  let entry = e;
  if (entry === undefined && !roomForEntry(im)) {
    im.arpstat.dropped++;
    return 'held';
  }
  if (entry === undefined || entry.ifp !== ifp) {
    if (entry !== undefined) dropHeld(im, entry);
    entry = { ip: nexthop, mac: 0 as Mac, ifp, state: LLE_INCOMPLETE, expire: now + im.sysctl.v[arpWait.slot]! * 1000, asked: 0, lastAsked: -Infinity, hold: [] };
    im.arp.entries.set(nexthop, entry);
    arpArm(im);
  }
  if (entry.asked >= im.sysctl.v[arpMaxTries.slot]!) {
    // Resolution failed recently: drop until the incomplete entry expires,
    // and tell the sender (FreeBSD's is_gw test: the packet is not for the next hop).
    im.arpstat.dropped++;
    return ipDstOf(im, buf, off, len) !== nexthop ? 'EHOSTUNREACH' : 'EHOSTDOWN';
  }
  if (entry.hold.length >= im.sysctl.v[arpMaxHold.slot]!) {
    entry.hold.shift();
    im.arpstat.dropped++;
  }
  holdFrame(entry.hold, buf, off, len, meta);
  if (now - entry.lastAsked >= 1000) {
    const src = ifp.subnetOf(nexthop)?.addr ?? ifp.addrs[0]?.addr ?? 0;
    arpRequest(im, ifp, src, nexthop);
    entry.asked++;
    entry.lastAsked = now;
  }
  return 'held';
}

/** The IPv4 destination of the frame at buf[off, off+len). */
function ipDstOf(im: Vnet, buf: Uint8Array, off: number, len: number): number {
  return im.arp.ipView.reset(buf, off + ETHER_HDR_LEN, len - ETHER_HDR_LEN).dst;
}

/** Broadcast a request for `tpa`; `spa` 0 picks the interface's address on that subnet. */
export function arpRequest(im: Vnet, ifp: Ifnet, spa: number, tpa: number): void {
  const src = spa !== 0 ? spa : (ifp.subnetOf(tpa)?.addr ?? ifp.addrs[0]?.addr ?? 0);
  if (arpSend(im, ifp, ARPOP.REQUEST, MAC_BROADCAST, src, 0 as Mac, tpa)) im.arpstat.txrequests++;
  else im.arpstat.txerrors++;
}

/** Gratuitous ARP when an address is configured: a request for our own address. */
export function arpAnnounce(im: Vnet, ifp: Ifnet, addr: number): void {
  if ((ifp.flags & (IFF.UP | IFF.NOARP | IFF.LOOPBACK)) !== IFF.UP) return;
  arpRequest(im, ifp, addr, addr);
}

function arpSend(im: Vnet, ifp: Ifnet, op: number, dst: Mac, spa: number, tha: Mac, tpa: number): boolean {
  if ((ifp.flags & IFF.UP) === 0) return false;
  const f = im.arp.frame;
  const off = PKT_HEADROOM;
  writeMac(f, off, dst);
  emitEthernetSrc(f, off, ifp.mac, ETHERTYPE.ARP);
  emitArp({ op, senderMac: ifp.mac, senderIp: spa, targetMac: tha, targetIp: tpa }, f, off + ETHER_HDR_LEN);
  // Pad to the Ethernet minimum (60 bytes without FCS).
  f.fill(0, off + ETHER_HDR_LEN + ARP_LEN, off + 60);
  ifp.output(f, off, 60, im.arp.meta.clear());
  return true;
}

/**
 * `arp -s`: a permanent entry, or with `tempMs` (`arp -s ... temp`) a
 * reachable one that expires after that many milliseconds.
 */
export function arpAddStatic(im: Vnet, ip: number, mac: Mac, tempMs?: number): LlEntry {
  const ifp = im.interfaceForNeighbour(ip);
  if (ifp === undefined) fail(E.NETWORK_UNREACHABLE, `set ${ip4ToString(ip)}: no interface has a subnet containing this address; configure one with ifconfig first`);
  const old = im.arp.entries.get(ip);
  if (old !== undefined) dropHeld(im, old);
  const e: LlEntry =
    tempMs === undefined
      ? { ip, mac, ifp, state: LLE_STATIC, expire: Infinity, asked: 0, lastAsked: 0, hold: [] }
      : { ip, mac, ifp, state: LLE_REACHABLE, expire: im.clock.now() + tempMs, asked: 0, lastAsked: 0, hold: [] };
  im.arp.entries.set(ip, e);
  arpArm(im);
  return e;
}

/** `arp -d`. */
export function arpDelete(im: Vnet, ip: number): void {
  const e = im.arp.entries.get(ip);
  if (e === undefined) fail(E.NO_SUCH_ENTRY, `${ip4ToString(ip)}: no such ARP entry`);
  dropHeld(im, e);
  im.arp.entries.delete(ip);
}
