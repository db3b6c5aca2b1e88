/**
 * Multicast Listener Discovery for the groups an image's interfaces join
 * (RFC 3810 MLDv2, with RFC 2710 MLDv1 compatibility; FreeBSD's mld6.c).
 *
 * The groups are in6.ts's: all-nodes and each address's solicited-node
 * group. All-nodes and interface-local groups are never reported
 * (mld_is_addr_reported); loopback interfaces are silent. A group joined
 * sends an MLDv2 state-change report (CHANGE_TO_EXCLUDE {}) at the next
 * fast tick (200 ms, so groups joined together share a report), repeated
 * robustness - 1 times at random within the unsolicited report interval
 * (FreeBSD's MLD_URI_INIT, 3 s); a group left sends CHANGE_TO_INCLUDE {}
 * the same way. Reports go to ff02::16 with hop limit 1 and a router alert
 * (RFC 3810 5, 5.2.14), from the interface's link-local address, or from ::
 * while that is still tentative (RFC 3590 4, as DAD needs).
 *
 * Queries: a general query schedules one current-state report of every
 * group (MODE_IS_EXCLUDE {}) at random within the maximum response delay,
 * a group-specific one a report of that group, unless a general response
 * is due first (RFC 3810 6.2). A group-and-source query is answered as a
 * group query: an ASM listener (EXCLUDE {}) listens to every source. The
 * querier's robustness and query interval are adopted (RFC 3810 5.1.8,
 * 5.1.9). An MLDv1 query (24 bytes) switches the link to MLDv1 for the
 * Older Version Querier Present time (rv * qi + qri, RFC 3810 8.2.1);
 * then reports are MLDv1 reports to the group, suppressed when another
 * listener's report for it is heard (RFC 2710 4), and a leave sends Done
 * to ff02::2 if we reported last. net.inet6.mld.v1enable=0 ignores v1 queries.
 *
 * Sent and received messages are in netstat -s -p icmp6's histograms.
 */

import type { Timer } from '../clock.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { allocPacket } from '../netinet/ip_var.js';
import { sysctlInt } from '../sysctl.js';
import { put16 } from '../wire/bytes.js';
import { ICMP6_TYPE, icmp6FillChecksum } from '../wire/icmp6.js';
import { IN6ADDR_LINKLOCAL_ALLNODES, IN6ADDR_LINKLOCAL_ALLROUTERS, IP6_DST_OFF, IP6_HDR_LEN, IP6_SRC_OFF, IPPROTO6, in6Equal, in6IsLinkLocal, in6IsUnspecified, in6McastScope, parseIp6 } from '../wire/ipv6.js';
import { IN6_IFF_NOTREADY } from './ip6_var.js';
import { ip6ToLink } from './ip6_output.js';

export const mldV1Enable = sysctlInt({ name: 'net.inet6.mld.v1enable', def: 1, min: 0, max: 1, descr: 'Enable fallback to MLDv1' });
export const mldV2Enable = sysctlInt({ name: 'net.inet6.mld.v2enable', def: 1, min: 0, max: 1, descr: 'Enable MLDv2' });
export const mldUseAllow = sysctlInt({ name: 'net.inet6.mld.use_allow', def: 1, min: 0, max: 1, descr: 'Use ALLOW/BLOCK for RFC 4604 SSM joins/leaves' });
export const mldGsrDelay = sysctlInt({ name: 'net.inet6.mld.gsrdelay', def: 10, min: -1, max: 59, descr: 'Rate limit for MLDv2 Group-and-Source queries in seconds' });

/** RFC 3810 9 defaults as FreeBSD's mld6_var.h has them (seconds). */
export const MLD_RV_INIT = 2;
export const MLD_QI_INIT = 125;
export const MLD_QRI_INIT = 10;
export const MLD_URI_INIT = 3;
/** RFC 2710 7.10: the MLDv1 unsolicited report interval (s). */
const MLD_V1_MAX_RI = 10;
/** FreeBSD's fast timeout (PR_FASTHZ = 5): state changes go out at the next tick. */
const FAST_TICK = 200;

/** MLDv2 record types (RFC 3810 5.2.12). */
export const MLD_REC = { MODE_IS_INCLUDE: 1, MODE_IS_EXCLUDE: 2, CHANGE_TO_INCLUDE: 3, CHANGE_TO_EXCLUDE: 4, ALLOW_NEW: 5, BLOCK_OLD: 6 } as const;

/** ff02::16, where MLDv2 reports go (RFC 3810 5.2.14). */
export const IN6ADDR_LINKLOCAL_ALLV2ROUTERS = parseIp6('ff02::16')!;
/** The hop-by-hop header MLD sends: PadN, then a router alert for MLD (value 0), as FreeBSD's mld_ra. */
const HBH_RA = [IPPROTO6.ICMPV6, 0, 1, 0, 5, 2, 0, 0] as const;

/** One group of one interface. */
export interface MldGroup {
  readonly addr: Uint8Array;
  /** Reported (not all-nodes, not interface-local). */
  readonly reported: boolean;
  /** State-change transmissions still to send, and when the next is due (ms; Infinity: none). */
  scLeft: number;
  scAt: number;
  /** Left: kept until its state-change reports are sent. */
  leaving: boolean;
  /** A current-state report (query response; MLDv1 report) due at (ms; Infinity: none). */
  curAt: number;
  /** MLDv1: we sent the last report heard for this group (we send Done when leaving). */
  v1Reporter: boolean;
}

/** One interface's MLD state (FreeBSD's mld_ifsoftc). */
export class MldIf {
  version: 1 | 2 = 2;
  /** Older Version Querier Present until (ms). */
  v1Until = -Infinity;
  rv = MLD_RV_INIT;
  qi = MLD_QI_INIT;
  qri = MLD_QRI_INIT;
  uri = MLD_URI_INIT;
  /** Response to a general query due at (ms; Infinity: none). */
  genAt = Infinity;
  readonly groups: MldGroup[] = [];
  constructor(readonly ifp: Ifnet) {}
}

/** The state of an image with no listening interface: shared, never written (an idle image makes no Map). */
const NO_IFS: Map<Ifnet, MldIf> = new Map();

export class Mld6State {
  /** NO_IFS until an interface (not a loopback) joins a group. */
  ifs = NO_IFS;
  timer: Timer | null = null;
  timerAt = Infinity;
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly mld6: Mld6State;
  }
}

function reported(g: Uint8Array): boolean {
  const scope = in6McastScope(g, 0);
  return scope > 1 && !in6Equal(g, 0, IN6ADDR_LINKLOCAL_ALLNODES, 0);
}

function jitter(im: Vnet, maxMs: number): number {
  return Math.floor(im.random() * maxMs);
}

/**
 * The groups `ifp` listens to are now `groups` (in6.ts calls this when an
 * address comes or goes): joins and leaves start their reports.
 */
export function mld6SetGroups(im: Vnet, ifp: Ifnet, groups: readonly Uint8Array[]): void {
  if (ifp.loopback) return;
  let mi = im.mld6.ifs.get(ifp);
  if (mi === undefined) {
    mi = new MldIf(ifp);
    if (im.mld6.ifs === NO_IFS) im.mld6.ifs = new Map();
    im.mld6.ifs.set(ifp, mi);
  }
  const now = im.clock.now();
  v1Expire(mi, now);
  for (const a of groups) {
    const g = mi.groups.find((x) => in6Equal(x.addr, 0, a, 0));
    if (g !== undefined && !g.leaving) continue;
    const ng: MldGroup = g ?? { addr: a.slice(), reported: reported(a), scLeft: 0, scAt: Infinity, leaving: false, curAt: Infinity, v1Reporter: false };
    ng.leaving = false;
    if (g === undefined) mi.groups.push(ng);
    if (!ng.reported) continue;
    if (mi.version === 1) {
      // RFC 2710 4: report at once, and again within the unsolicited report interval.
      sendV1(im, mi, ng, ICMP6_TYPE.MLD_REPORT);
      ng.curAt = now + jitter(im, MLD_V1_MAX_RI * 1000);
    } else {
      ng.scLeft = mi.rv;
      ng.scAt = now + FAST_TICK;
    }
  }
  for (const g of mi.groups) {
    if (g.leaving || groups.some((a) => in6Equal(a, 0, g.addr, 0))) continue;
    g.leaving = true;
    g.curAt = Infinity;
    if (!g.reported) g.scLeft = 0;
    else if (mi.version === 1) {
      if (g.v1Reporter) sendV1(im, mi, g, ICMP6_TYPE.MLD_DONE);
      g.scLeft = 0;
    } else {
      g.scLeft = mi.rv;
      g.scAt = now + FAST_TICK;
    }
  }
  prune(mi);
  schedule(im);
}

/** The interface leaves the image: its MLD state goes, nothing more is sent. */
export function mld6Purge(im: Vnet, ifp: Ifnet): void {
  im.mld6.ifs.delete(ifp);
  schedule(im);
}

export function mld6Destroy(im: Vnet): void {
  im.mld6.ifs = NO_IFS;
  im.mld6.timer?.cancel();
  im.mld6.timer = null;
  im.mld6.timerAt = Infinity;
}

function prune(mi: MldIf): void {
  for (let i = mi.groups.length - 1; i >= 0; i--) {
    const g = mi.groups[i]!;
    if (g.leaving && g.scLeft === 0) mi.groups.splice(i, 1);
  }
}

function v1Expire(mi: MldIf, now: number): void {
  if (mi.version === 1 && now >= mi.v1Until) mi.version = 2;
}

/** Arm the image's one MLD timer for the earliest thing due. */
function schedule(im: Vnet): void {
  const st = im.mld6;
  let at = Infinity;
  for (const mi of st.ifs.values()) {
    if (mi.genAt < at) at = mi.genAt;
    if (mi.version === 1 && mi.v1Until < at) at = mi.v1Until;
    for (const g of mi.groups) at = Math.min(at, g.scAt, g.curAt);
  }
  if (at === st.timerAt) return;
  st.timer?.cancel();
  st.timer = null;
  st.timerAt = at;
  if (at === Infinity) return;
  st.timer = im.clock.after(Math.max(0, at - im.clock.now()), () => {
    st.timer = null;
    st.timerAt = Infinity;
    mld6Timeout(im);
  });
}

/** Everything due now: state changes (merged per interface), query responses, v1 reports. */
export function mld6Timeout(im: Vnet): void {
  const now = im.clock.now();
  for (const mi of im.mld6.ifs.values()) {
    v1Expire(mi, now);
    if (mi.version === 2) {
      const sc = mi.groups.filter((g) => g.scLeft > 0 && g.scAt <= now);
      if (sc.length > 0) {
        sendV2(im, mi, sc.map((g) => [g.leaving ? MLD_REC.CHANGE_TO_INCLUDE : MLD_REC.CHANGE_TO_EXCLUDE, g.addr] as const));
        for (const g of sc) {
          g.scLeft--;
          // RFC 3810 6.1: retransmissions at random within the unsolicited report interval.
          g.scAt = g.scLeft > 0 ? now + FAST_TICK + jitter(im, mi.uri * 1000 - FAST_TICK) : Infinity;
        }
      }
      if (mi.genAt <= now) {
        mi.genAt = Infinity;
        const recs = mi.groups.filter((g) => g.reported && !g.leaving).map((g) => [MLD_REC.MODE_IS_EXCLUDE, g.addr] as const);
        if (recs.length > 0) sendV2(im, mi, recs);
      }
    }
    for (const g of mi.groups) {
      if (g.curAt > now) continue;
      g.curAt = Infinity;
      if (g.leaving || !g.reported) continue;
      if (mi.version === 1) sendV1(im, mi, g, ICMP6_TYPE.MLD_REPORT);
      else sendV2(im, mi, [[MLD_REC.MODE_IS_EXCLUDE, g.addr]]);
    }
    prune(mi);
  }
  schedule(im);
}

/**
 * An MLD message that passed icmp6Input's checks (raw_ip6.ts hands it
 * here): queries and, in MLDv1 mode, other listeners' reports.
 */
export function mld6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, hoff: number, ip6Len: number): void {
  const mi = im.mld6.ifs.get(ifp);
  if (mi === undefined) return;
  const len = off + ip6Len - hoff;
  const type = buf[hoff]!;
  // RFC 3810 5.1.14, 5.2.13: MLD messages come from link-local sources; others are dropped.
  if (len < 24 || !in6IsLinkLocal(buf, off + IP6_SRC_OFF)) return;
  const now = im.clock.now();
  v1Expire(mi, now);
  const gOff = hoff + 8;
  const general = in6IsUnspecified(buf, gOff);
  if (type === ICMP6_TYPE.MLD_REPORT) {
    // RFC 2710 4: another listener reported; our pending report is suppressed.
    if (mi.version !== 1) return;
    const g = findGroup(mi, buf, gOff);
    if (g !== undefined && g.curAt !== Infinity) {
      g.curAt = Infinity;
      g.v1Reporter = false;
    }
    schedule(im);
    return;
  }
  if (type !== ICMP6_TYPE.MLD_QUERY) return;
  const code = (buf[hoff + 4]! << 8) | buf[hoff + 5]!;
  if (len === 24) {
    if (im.sysctl.v[mldV1Enable.slot] !== 1) return;
    // A general query must go to all-nodes (RFC 2710 5).
    if (general && !in6Equal(buf, off + IP6_DST_OFF, IN6ADDR_LINKLOCAL_ALLNODES, 0)) return;
    if (mi.version === 2) {
      // RFC 3810 8.2.1: pending MLDv2 state changes and responses are dropped.
      mi.genAt = Infinity;
      for (const g of mi.groups) {
        g.scLeft = 0;
        g.scAt = Infinity;
        g.curAt = Infinity;
      }
      prune(mi);
    }
    mi.version = 1;
    mi.v1Until = now + (mi.rv * mi.qi + mi.qri) * 1000;
    const maxDelay = Math.max(code, 1);
    for (const g of mi.groups) {
      if (!g.reported || g.leaving || (!general && !in6Equal(g.addr, 0, buf, gOff))) continue;
      const at = now + jitter(im, maxDelay);
      if (g.curAt > at) g.curAt = at;
    }
    schedule(im);
    return;
  }
  // An MLDv2 query (RFC 3810 5.1): at least 28 bytes with its sources.
  if (len < 28 || im.sysctl.v[mldV2Enable.slot] !== 1 || mi.version !== 2) return;
  const nsrc = (buf[hoff + 26]! << 8) | buf[hoff + 27]!;
  if (len < 28 + 16 * nsrc) return;
  const maxResp = Math.max(decodeMaxResp(code), 1);
  const qrv = buf[hoff + 24]! & 7;
  if (qrv !== 0) mi.rv = Math.max(qrv, 2);
  const qqi = decodeQqic(buf[hoff + 25]!);
  if (qqi !== 0) mi.qi = qqi;
  mi.qri = Math.max(1, Math.ceil(maxResp / 1000));
  const at = now + jitter(im, maxResp);
  if (general) {
    if (mi.genAt > at) mi.genAt = at;
  } else {
    const g = findGroup(mi, buf, gOff);
    // RFC 3810 6.2 (1): a general response due first covers this group.
    if (g === undefined || !g.reported || mi.genAt <= at) return;
    if (g.curAt > at) g.curAt = at;
  }
  schedule(im);
}

function findGroup(mi: MldIf, buf: Uint8Array, o: number): MldGroup | undefined {
  for (const g of mi.groups) if (!g.leaving && in6Equal(g.addr, 0, buf, o)) return g;
  return undefined;
}

/** RFC 3810 5.1.3: Maximum Response Code to milliseconds. */
export function decodeMaxResp(code: number): number {
  if (code < 0x8000) return code;
  return ((code & 0x0fff) | 0x1000) << (((code >> 12) & 7) + 3);
}

/** RFC 3810 5.1.9: QQIC to seconds. */
export function decodeQqic(code: number): number {
  if (code < 0x80) return code;
  return ((code & 0x0f) | 0x10) << (((code >> 4) & 7) + 3);
}

/** The source MLD sends from: the link-local address when it is usable, else :: (RFC 3590 4). */
function mldSource(im: Vnet, ifp: Ifnet): Uint8Array {
  const ii = im.in6.ifs.get(ifp);
  if (ii !== undefined) for (const ia of ii.addrs) if (in6IsLinkLocal(ia.addr) && (ia.flags & IN6_IFF_NOTREADY) === 0) return ia.addr;
  return IN6ADDR_ANY16;
}

const IN6ADDR_ANY16 = new Uint8Array(16);

/** Build and send one MLD message of `mlen` bytes to `dst` on the interface; `fill` writes its body at [ic, ic+mlen). */
function sendMld(im: Vnet, mi: MldIf, dst: Uint8Array, mlen: number, fill: (b: Uint8Array, ic: number) => void): void {
  const ifp = mi.ifp;
  if (im.mld6.ifs.get(ifp) !== mi) return;
  const total = IP6_HDR_LEN + HBH_RA.length + mlen;
  const p = allocPacket(total);
  const b = p.buf;
  const ip = p.off;
  const src = mldSource(im, ifp);
  // Hop limit 1: MLD never leaves the link (RFC 3810 5).
  b[ip] = 0x60;
  put16(b, ip + 4, HBH_RA.length + mlen);
  b[ip + 6] = IPPROTO6.HOPOPTS;
  b[ip + 7] = 1;
  b.set(src, ip + IP6_SRC_OFF);
  b.set(dst, ip + IP6_DST_OFF);
  b.set(HBH_RA, ip + IP6_HDR_LEN);
  const ic = ip + IP6_HDR_LEN + HBH_RA.length;
  fill(b, ic);
  icmp6FillChecksum(b, ip, ic, mlen);
  im.icmp6.outhist[b[ic]!]!++;
  im.ip6stat.localout++;
  ip6ToLink(im, ifp, dst, 0, b, ip, total, im.noOffload);
}

/** An MLDv2 report (type 143) with one record per [type, group], no sources. */
function sendV2(im: Vnet, mi: MldIf, recs: ReadonlyArray<readonly [number, Uint8Array]>): void {
  if (im.sysctl.v[mldV2Enable.slot] !== 1) return;
  sendMld(im, mi, IN6ADDR_LINKLOCAL_ALLV2ROUTERS, 8 + 20 * recs.length, (b, ic) => {
    b[ic] = ICMP6_TYPE.MLDV2_REPORT;
    put16(b, ic + 6, recs.length);
    let r = ic + 8;
    for (const [t, g] of recs) {
      b[r] = t;
      b.set(g, r + 4);
      r += 20;
    }
  });
}

/** An MLDv1 report (to the group) or Done (to all-routers), 24 bytes (RFC 2710 3). */
function sendV1(im: Vnet, mi: MldIf, g: MldGroup, type: number): void {
  if (type === ICMP6_TYPE.MLD_REPORT) g.v1Reporter = true;
  sendMld(im, mi, type === ICMP6_TYPE.MLD_DONE ? IN6ADDR_LINKLOCAL_ALLROUTERS : g.addr, 24, (b, ic) => {
    b[ic] = type;
    b.set(g.addr, ic + 8);
  });
}

/** ifmcstat-like listing of one interface: version, timers' parameters and groups. */
export interface Mld6IfInfo {
  interface: string;
  version: 1 | 2;
  rv: number;
  qi: number;
  qri: number;
  uri: number;
  groups: Array<{ group: Uint8Array; reported: boolean; leaving: boolean }>;
}

export function mld6Info(im: Vnet): Mld6IfInfo[] {
  const now = im.clock.now();
  const out: Mld6IfInfo[] = [];
  for (const mi of im.mld6.ifs.values()) {
    v1Expire(mi, now);
    out.push({
      interface: mi.ifp.name,
      version: mi.version,
      rv: mi.rv,
      qi: mi.qi,
      qri: mi.qri,
      uri: mi.uri,
      groups: mi.groups.map((g) => ({ group: g.addr, reported: g.reported, leaving: g.leaving })),
    });
  }
  return out;
}
