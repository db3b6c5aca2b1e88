/**
 * The ipfw firewall of one image (FreeBSD's per-vnet `ip_fw_chain` and
 * ipfw_chk in sys/netpfil/ipfw/ip_fw2.c): the rule chain and the matcher
 * the packet path runs on input and output of every interface.
 *
 * The other parts sit beside it as FreeBSD splits them: chain changes in
 * ip_fw_sockopt.ts, dynamic states in ip_fw_dynamic.ts (table in dyn.ts),
 * the `log` action in ip_fw_log.ts, the pfil hook (verdicts, reject and
 * reset, dummynet re-injection) in ip_fw_pfil.ts, dummynet in dummynet.ts.
 * ipfw reaches the IP layer only through its image's inet pfil head
 * (lib/net/pfil.ts, made by lib/netinet/ip_pfil.ts) and icmp_error.
 *
 * `check` runs on every packet: it reads the headers once into plain
 * number fields, walks the chain with a monomorphic instruction loop and
 * allocates nothing.
 */

import type { Vnet } from '../net/vnet.js';
import type { Timer } from '../clock.js';
import type { Ifnet } from '../net/if.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { IcmpPacket } from '../wire/icmp.js';
import { IP_OFFMASK, Ipv4Packet } from '../wire/ipv4.js';
import { TcpPacket } from '../wire/tcp.js';
import { UdpPacket } from '../wire/udp.js';
import { DynTable, type DynLifetimes } from './dyn.js';
import { Dummynet } from './dummynet.js';
import { dynInstall, dynProbe, dynSweep } from './ip_fw_dynamic.js';
import { ipfwLog } from './ip_fw_log.js';
import { IpfwHook } from './ip_fw_pfil.js';
import { chainAdd, chainDelete, chainFlush, chainRefresh, chainResetLog, chainZero } from './ip_fw_sockopt.js';
import { A, DEFAULT_RULE, IP_FW_TARG, O, Rule, TH, type Insn } from './rule.js';
import { IpfwNat, NATV_DENY } from './nat_set.js';
import type { VnetHdr } from '../wire/vnet.js';
import { TableSet, fwTablesMax, type Table } from './table.js';
import { BV_MAX_RULES, BV_MIN_RULES, ChainIndex } from './ip_fw_bv.js';
import { tableAddr, tableIf, tableLookup } from './ip_fw_table.js';
import { FwPktTags, applyTag, callPush, callReturn, dscpMatch, setDscp, setDscp6, taggedMatch } from './ip_fw_actions.js';
import { NO_PKT6, Pkt6, match6 } from './ip_fw6.js';
import { Ipfw6Hook } from './ip_fw6_pfil.js';
import { A6 } from './rule6.js';

// ------------------------------------------------------------- tunables

export const fwEnable = sysctlInt({ name: 'net.inet.ip.fw.enable', def: 0, min: 0, max: 1, descr: 'Enable ipfw' });
export const fwOnePass = sysctlInt({
  name: 'net.inet.ip.fw.one_pass',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Only do a single pass through ipfw when using dummynet(4)',
});
export const fwDefaultToAccept = sysctlInt({
  name: 'net.inet.ip.fw.default_to_accept',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Make the default rule accept all packets',
  tunable: true,
});
export const fwAutoincStep = sysctlInt({ name: 'net.inet.ip.fw.autoinc_step', def: 100, min: 1, max: 1000, descr: 'Rule number auto-increment step' });
export const fwVerbose = sysctlInt({ name: 'net.inet.ip.fw.verbose', def: 1, min: 0, max: 1, descr: 'Log matches to log rules' });
export const fwVerboseLimit = sysctlInt({
  name: 'net.inet.ip.fw.verbose_limit',
  def: 0,
  min: 0,
  max: 1_000_000,
  descr: 'Set upper limit of matches of ipfw rules logged',
});

export const ipfwStats = defineStats({
  passed: 'packets passed by the firewall',
  denied: 'packets denied',
  rejected: 'packets rejected with an ICMP unreachable',
  reset: 'packets answered with a TCP reset',
  dummynet: 'packets sent to dummynet',
  nopipe: 'packets for a pipe or queue that is not configured',
  pullup: 'packets dropped because the transport header was truncated',
  dynoverflow: 'states not created because net.inet.ip.fw.dyn_max was reached',
  logged: 'log lines written',
  logsuppressed: 'log lines suppressed by the rate limit',
});
export type IpfwStats = Stats<(typeof ipfwStats.keys)[number]>;

/** Verdicts of `check`. */
export const V_PASS = 0;
export const V_DENY = 1;
export const V_REJECT = 2;
export const V_RESET = 3;
export const V_DUMMYNET = 4;
/** Translated by `nat N`: pass (one_pass=1) or go on after the rule (ip_fw_pfil.ts). */
export const V_NAT = 5;
/** `fwd ADDR`: sent on towards another next hop (ip_fw_fwd.ts). */
export const V_FWD = 6;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_SCTP = 132;

/** Shell-style match for interface names with `*` and `?` (ipfw's fnmatch on globs). */
function globMatch(pat: string, s: string): boolean {
  let p = 0;
  let i = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    if (p < pat.length && (pat[p] === '?' || pat[p] === s[i])) {
      p++;
      i++;
    } else if (p < pat.length && pat[p] === '*') {
      star = p++;
      mark = i;
    } else if (star >= 0) {
      p = star + 1;
      i = ++mark;
    } else return false;
  }
  while (p < pat.length && pat[p] === '*') p++;
  return p === pat.length;
}

export class Ipfw {
  readonly im: Vnet;
  /** Sorted by number; the default rule is always last. */
  rules: Rule[];
  readonly defaultRule: Rule;
  readonly dyn = new DynTable();
  /** Lookup tables (table.ts); rules hold their kernel indexes. */
  readonly tables: TableSet;
  readonly dn: Dummynet;
  /** NAT instances (`ipfw nat N config`), for the `nat N` action. */
  readonly nat: IpfwNat;
  /** @internal Offload metadata of the packet being checked (set by ip_fw_pfil.ts), for nat. */
  meta: VnetHdr;
  /** The hook on the image's inet pfil head; dummynet hands packets back through it. */
  readonly hook: IpfwHook;
  /** The hook on the inet6 head (ip_fw6_pfil.ts). */
  readonly hook6: Ipfw6Hook;
  readonly stat: IpfwStats = ipfwStats.create();
  /** @internal The sweeper of dynamic states (ip_fw_dynamic.ts), running while any exist. */
  sweeper: Timer | null = null;
  /** @internal Rate limit of the `log` action (ip_fw_log.ts). */
  logWindow = -Infinity;
  logCount = 0;
  /** @internal Lifetimes read for one state update (ip_fw_dynamic.ts). */
  readonly lt: DynLifetimes = { ack: 0, syn: 0, fin: 0, rst: 0, udp: 0, short: 0 };
  /** @internal Tags and call stack of the packet being checked (ip_fw_actions.ts). */
  readonly pkt = new FwPktTags();
  /** Disabled rule sets, one bit per set (`ipfw set disable`; set 31 never). */
  setDisable = 0;
  /** @internal Views over the packet being checked. */
  readonly ip = new Ipv4Packet();
  private readonly tcp = new TcpPacket();
  private readonly udp = new UdpPacket();
  private readonly icmp = new IcmpPacket();

  // @internal The packet being checked (FreeBSD's ip_fw_args), valid during `check`.
  /** An IPv6 packet (check6): its addresses and the rest are in `p6`; src and dst are 0. */
  v6 = false;
  p6: Pkt6 = NO_PKT6;
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  fragOff = 0;
  hlen = 0;
  ipLen = 0;
  tcpFlags = 0;
  icmpType = 0;
  /** @internal The matched rule of the last `check` (for the action and dummynet). */
  hit: Rule | null = null;
  /** @internal The action argument of `hit`, tablearg resolved (pipe/queue number for dummynet). */
  arg = 0;
  /** @internal tablearg: the table and value index of the last lookup that matched, or null. */
  targT: Table | null = null;
  targ = 0;
  /** @internal The rule being matched (for `lookup rulenum`). */
  cur: Rule | null = null;
  /** @internal Where a skipto, call or return continues: a chain index. */
  skipTo = 0;
  /** @internal The bit-vector index of the chain (ip_fw_bv.ts), or null; rebuilt on the first packet after a change. */
  private bv: ChainIndex | null = null;
  /** @internal Set by chainRefresh when the chain changed. */
  bvStale = true;
  /** @internal The packet's keys as int32 (ChainIndex.fill's layout): protocol, source, destination, ports, direction. */
  readonly key = new Int32Array(7);
  /** @internal The key of a table lookup (ip_fw_table.ts). */
  readonly tkey = new Int32Array(1);
  /** @internal Tests turn the index off to compare the walks. */
  bvOn = true;

  constructor(im: Vnet) {
    this.im = im;
    this.defaultRule = new Rule({
      num: DEFAULT_RULE,
      insns: [],
      action: A.DENY,
      actArg: 0,
      prob: 1,
      log: false,
      logAmount: 0,
      keepState: false,
      justOpts: false,
      comment: '',
      stateName: 'default',
    });
    this.defaultRule.set = 31;
    this.rules = [this.defaultRule];
    this.tables = new TableSet(() => im.sysctl.v[fwTablesMax.slot]!);
    this.hook = new IpfwHook(this, im.inetPfil);
    this.hook6 = new Ipfw6Hook(this, im.inet6Pfil);
    this.dn = new Dummynet(im, this.hook);
    this.dn.pktTags = this.pkt;
    this.nat = new IpfwNat(im);
    this.meta = im.noOffload;
    chainRefresh(this);
  }

  get enabled(): boolean {
    return this.im.sysctl.v[fwEnable.slot] !== 0;
  }

  /** The default rule's action as the chain applies and prints it. */
  defaultAccepts(): boolean {
    return this.im.sysctl.v[fwDefaultToAccept.slot] !== 0;
  }

  destroy(): void {
    this.sweeper?.cancel();
    this.sweeper = null;
    this.dyn.removeRule(null);
    this.dn.destroy();
    this.nat.destroy();
  }

  // ------------------------------------------------------- control plane

  /** Add a parsed rule, numbering it when it has no number; returns it. */
  add(rule: Rule): Rule {
    return chainAdd(this, rule);
  }

  /** Delete the rules numbered `lo`..`hi`; returns how many went. */
  deleteRange(lo: number, hi: number): number {
    return chainDelete(this, lo, hi);
  }

  flush(): void {
    chainFlush(this);
  }

  /** `ipfw zero [NUM]`: counters and log counts. Returns the rules touched. */
  zero(num?: number): number {
    return chainZero(this, num);
  }

  resetLog(num?: number): number {
    return chainResetLog(this, num);
  }

  /** @internal Timer callback of the state sweeper. */
  readonly sweep = (): void => dynSweep(this);

  /**
   * ipfw_chk: walk the chain from `start` for this packet. Returns a
   * verdict; `hit` is the rule whose action decided it.
   */
  check(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, start: number): number {
    const ip = this.ip.reset(buf, off, len);
    const hlen = ip.headerLen;
    const proto = ip.protocol;
    const fragOff = ip.fragField & IP_OFFMASK;
    this.begin(false, len);
    this.hlen = hlen;
    this.proto = proto;
    const key = this.key;
    ip.addrsInto(key, 1);
    this.src = key[1]! >>> 0;
    this.dst = key[2]! >>> 0;
    this.fragOff = fragOff;
    if (fragOff === 0) {
      const l4 = off + hlen;
      const room = len - hlen;
      // A first fragment or whole packet must carry its transport header (pullup).
      if (proto === IPPROTO_TCP) {
        if (room < 20) return this.pullupFailed();
        const th = this.tcp.reset(buf, l4, room);
        this.sport = th.srcPort;
        this.dport = th.dstPort;
        this.tcpFlags = th.flags;
      } else if (proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
        if (room < 8) return this.pullupFailed();
        // SCTP's ports sit where UDP's do.
        const uh = this.udp.reset(buf, l4, room);
        this.sport = uh.srcPort;
        this.dport = uh.dstPort;
      } else if (proto === IPPROTO_ICMP) {
        if (room < 4) return this.pullupFailed();
        this.icmpType = this.icmp.reset(buf, l4, room).type;
      }
    }
    return this.walk(out, rcvif, outif, buf, off, len, start);
  }

  /** @internal The chain walk from rule index `start`, over the fields `check` or check6 (ip_fw6.ts) read. */
  walk(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, start: number): number {
    const im = this.im;
    const key = this.key;
    const proto = this.proto;
    const rules = this.rules;
    const n = rules.length;
    let probed = false;
    const src = key[1]!;
    const dst = key[2]!;
    const ports = this.hasPorts();
    const sport = this.sport;
    const dport = this.dport;
    const dir = out ? 2 : 1;
    const dis = this.setDisable;
    if (this.bvStale) this.reindex();
    const bv = this.bv;
    let bits: Int32Array | null = null;
    if (bv !== null) {
      key[0] = proto;
      key[3] = ports ? sport : -1;
      key[4] = ports ? dport : -1;
      key[5] = dir;
      key[6] = this.v6 ? 1 : 0;
      bits = bv.fill(key);
    }
    for (let i = start; i < n; i++) {
      if (bits !== null) {
        // The next rule at or after i that the index leaves (the default rule is always there).
        let w = i >>> 5;
        let b = bits[w]! & (-1 << (i & 31));
        while (b === 0 && ++w < bits.length) b = bits[w]!;
        if (b === 0) break;
        i = (w << 5) + (31 - Math.clz32(b & -b));
      }
      let r = rules[i]!;
      if (((dis >>> r.set) & 1) !== 0) continue;
      if (r.keepState && !probed) {
        // O_PROBE_STATE: the first keep-state rule looks the flow up once.
        probed = true;
        const s = dynProbe(this, r.stateName, len);
        if (s !== null) {
          r = s;
          i = r.pos;
          const v = this.act(r, len, out, rcvif, outif, buf, off);
          if (v >= 0) return v;
          if (v === -2) i = this.skipTo - 1;
          continue;
        }
      }
      // Quick reject on the rule's plain conditions, then the full match.
      if (r.qProto >= 0 && r.qProto !== proto) continue;
      if ((src & r.qSrcM) !== r.qSrcA || (dst & r.qDstM) !== r.qDstA) continue;
      if (r.qDpLo >= 0 && (!ports || dport < r.qDpLo || dport > r.qDpHi)) continue;
      if (r.qSpLo >= 0 && (!ports || sport < r.qSpLo || sport > r.qSpHi)) continue;
      if (r.qDir !== 0 && r.qDir !== dir) continue;
      if (r.prob < 1 && im.random() >= r.prob) continue;
      this.cur = r;
      if (!this.match(r.insns, out, rcvif, outif, buf, off)) continue;
      if (r.keepState && !dynInstall(this, r)) {
        this.hit = r;
        return V_DENY;
      }
      if (r.action === A.CHECK_STATE) {
        // check-state is never counted itself: a state found counts on its rule.
        if (probed) continue;
        probed = true;
        const s = dynProbe(this, r.stateName, len);
        if (s === null) continue;
        r = s;
        i = r.pos;
      }
      const v = this.act(r, len, out, rcvif, outif, buf, off);
      if (v >= 0) return v;
      if (v === -2) i = this.skipTo - 1;
    }
    this.hit = this.defaultRule;
    return V_DENY;
  }

  /**
   * What every packet's walk starts from, IPv4 (check) or IPv6 (check6):
   * no ports, flags or table argument yet; no tags and an empty call stack,
   * unless the packet is one handed back by dummynet or nat, which keeps its own.
   */
  begin(v6: boolean, len: number): void {
    this.v6 = v6;
    this.ipLen = len;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.icmpType = 0;
    this.fragOff = 0;
    this.targT = null;
    const pkt = this.pkt;
    if (pkt.carried) pkt.carried = false;
    else pkt.clear();
  }

  /**
   * Count, log and apply a matched rule's action. Returns a verdict, or -1
   * to go on with the next rule (count), -2 to jump to `skipIdx` (skipto).
   */
  private act(r: Rule, len: number, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): number {
    r.pcnt++;
    r.bcnt += len;
    if (r.log) ipfwLog(this, r, out, rcvif, outif, buf, off);
    this.hit = r;
    this.arg = r.actArg === IP_FW_TARG ? this.tablearg(r.action) : r.actArg;
    if (r.tagOp !== 0) applyTag(this.pkt, r, r.tagArg);
    switch (r.action) {
      case A.ACCEPT:
        return V_PASS;
      case A.DENY:
        if (r === this.defaultRule && this.im.sysctl.v[fwDefaultToAccept.slot] !== 0) return V_PASS;
        return V_DENY;
      case A.REJECT:
        return V_REJECT;
      case A.RESET:
        return V_RESET;
      case A6.UNREACH6:
        // O_UNREACH6 answers only an IPv6 packet; an IPv4 one falls through to deny.
        return this.v6 ? V_REJECT : V_DENY;
      case A.COUNT:
      case A.CHECK_STATE:
        return -1;
      case A.SKIPTO:
        this.skipTo = r.actArg === IP_FW_TARG ? this.skipIndex(r, this.arg) : r.skipIdx;
        return -2;
      case A.SETDSCP:
        if (this.v6) this.p6.tc = setDscp6(buf, off, this.arg); // a later dscp match reads the new class
        else setDscp(this.ip, this.arg);
        return -1;
      case A.CALL:
      case A.RETURN: {
        // The call stack is full or empty: on with the next rule.
        const to = r.action === A.CALL ? callPush(this.pkt, r) : callReturn(this.pkt, this.rules, r.actArg);
        if (to < 0) return -1;
        this.skipTo = to;
        return -2;
      }
      case A.FWD:
        return V_FWD;
      case A.NAT:
        // libalias is IPv4 only: ipfw_chk denies an IPv6 packet sent to nat.
        if (this.v6) return V_DENY;
        // The packet is rewritten in place: the fields read above are stale after this (see V_NAT).
        return this.nat.run(r.actArg, out, buf, off, len, this.meta) === NATV_DENY ? V_DENY : V_NAT;
      default:
        return V_DUMMYNET;
    }
  }

  /** Rebuild (or drop) the bit-vector index after a chain change. */
  private reindex(): void {
    this.bvStale = false;
    const n = this.rules.length;
    this.bv = this.bvOn && n >= BV_MIN_RULES && n <= BV_MAX_RULES ? new ChainIndex(this.rules) : null;
  }

  /** The field of the tablearg value an action uses; 0 when no lookup matched. */
  private tablearg(action: number): number {
    const t = this.targT;
    if (t === null) return 0;
    const v = t.value(this.targ);
    return action === A.SKIPTO ? v.skipto : v.pipe;
  }

  /** skipto tablearg: the first rule numbered `num` or more after `r` (binary search; no going back). */
  private skipIndex(r: Rule, num: number): number {
    const rules = this.rules;
    let lo = r.pos + 1;
    let hi = rules.length - 1;
    if (num <= r.num) return lo;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rules[mid]!.num < num) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** @internal */
  pullupFailed(): number {
    this.stat.pullup++;
    this.hit = this.defaultRule;
    return V_DENY;
  }

  /** All instructions of a rule, with `{ a or b }` blocks and `not`. */
  private match(ins: Insn[], out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): boolean {
    for (let k = 0; k < ins.length; k++) {
      const c = ins[k]!;
      let m = this.insnMatch(c, out, rcvif, outif, buf, off);
      if (c.not) m = !m;
      if (m) {
        // The first match of an or-block satisfies the whole block.
        if (c.or) while (k < ins.length && ins[k]!.or) k++;
      } else if (!c.or) return false;
    }
    return true;
  }

  private insnMatch(c: Insn, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): boolean {
    // IPv4 addresses never match an IPv6 packet (FreeBSD's is_ipv4 tests).
    if (this.v6 && c.op >= O.SRC_IP && c.op <= O.DST_SET) return false;
    switch (c.op) {
      case O.PROTO:
        return this.proto === c.arg;
      case O.IP4:
        return !this.v6;
      case O.SRC_IP:
        return this.src === c.arg;
      case O.DST_IP:
        return this.dst === c.arg;
      case O.SRC_MASK:
        return maskMatch(c.list, this.src);
      case O.DST_MASK:
        return maskMatch(c.list, this.dst);
      case O.SRC_ME:
        return this.im.inAddrs.has(this.src);
      case O.DST_ME:
        return this.im.inAddrs.has(this.dst);
      case O.SRC_SET:
        return setMatch(c, this.src);
      case O.DST_SET:
        return setMatch(c, this.dst);
      case O.SRCPORT:
        return this.hasPorts() && rangeMatch(c.list, this.sport);
      case O.DSTPORT:
        return this.hasPorts() && rangeMatch(c.list, this.dport);
      case O.IN:
        return !out;
      case O.RECV:
        return rcvif !== null && (c.arg2 === 2 ? tableIf(this, c, rcvif) : ifMatch(c, rcvif));
      case O.XMIT:
        return outif !== null && (c.arg2 === 2 ? tableIf(this, c, outif) : ifMatch(c, outif));
      case O.VIA: {
        const ifp = out ? outif : rcvif;
        return ifp !== null && (c.arg2 === 2 ? tableIf(this, c, ifp) : ifMatch(c, ifp));
      }
      case O.FRAG:
        return this.fragOff !== 0;
      case O.IPLEN:
        return c.list.length === 0 ? this.ipLen === c.arg : rangeMatch(c.list, this.ipLen);
      case O.IPTTL: {
        const ttl = this.v6 ? this.p6.hlim : this.ip.ttl;
        return c.list.length === 0 ? ttl === c.arg : rangeMatch(c.list, ttl);
      }
      case O.IPID: {
        if (this.v6) return false;
        const id = this.ip.ident;
        return c.list.length === 0 ? id === c.arg : rangeMatch(c.list, id);
      }
      case O.ICMPTYPE:
        return this.proto === IPPROTO_ICMP && this.fragOff === 0 && this.icmpType < 32 && ((c.arg >>> this.icmpType) & 1) === 1;
      case O.TCPFLAGS:
        return this.proto === IPPROTO_TCP && this.fragOff === 0 && (this.tcpFlags & c.arg) === c.arg && (this.tcpFlags & c.arg2) === 0;
      case O.ESTAB:
        return this.proto === IPPROTO_TCP && this.fragOff === 0 && (this.tcpFlags & (TH.RST | TH.ACK)) !== 0;
      case O.KEEP_STATE:
      case O.COMMENT:
        return true;
      case O.SRC_LOOKUP:
        if (this.v6) return false; // tables hold IPv4 keys
        this.tkey[0] = this.key[1]!;
        return tableAddr(this, c, c.arg2);
      case O.DST_LOOKUP:
        if (this.v6) return false;
        this.tkey[0] = this.key[2]!;
        return tableAddr(this, c, c.arg2);
      case O.LOOKUP:
        if (this.v6 && c.arg2 <= 1) return false; // an address key: tables hold IPv4 keys
        return tableLookup(this, c, this.v6 ? this.p6.tc : this.ip.tos);
      case O.DSCP:
        return dscpMatch(c, this.v6 ? this.p6.tc : this.ip.tos);
      case O.TAGGED:
        return taggedMatch(this.pkt, c);
      default:
        return match6(this, c, buf, off);
    }
  }

  /** @internal A first fragment or whole TCP, UDP or SCTP packet: it has ports. */
  hasPorts(): boolean {
    const p = this.proto;
    return this.fragOff === 0 && (p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP);
  }
}

function maskMatch(l: Uint32Array, a: number): boolean {
  for (let k = 0; k < l.length; k += 2) if (((a & l[k + 1]!) >>> 0) === l[k]) return true;
  return false;
}

function rangeMatch(l: Uint32Array, v: number): boolean {
  for (let k = 0; k < l.length; k += 2) if (v >= l[k]! && v <= l[k + 1]!) return true;
  return false;
}

function setMatch(c: Insn, a: number): boolean {
  const d = a - c.arg;
  if (d < 0 || d >= c.arg2) return false;
  return ((c.list[d >> 5]! >>> (d & 31)) & 1) === 1;
}

/** iface_match: by name (or glob), or by an address the interface holds. */
function ifMatch(c: Insn, ifp: Ifnet): boolean {
  if (c.name !== '') return c.arg2 === 0 ? ifp.name === c.name : globMatch(c.name, ifp.name);
  const addrs = ifp.addrs;
  for (let k = 0; k < addrs.length; k++) if (addrs[k]!.addr === c.arg) return true;
  return false;
}

declare module '../net/vnet.js' {
  interface Vnet {
    /** ipfw rule chain, dynamic states and dummynet; made by ipfwInit. */
    fw: Ipfw;
  }
}

/** Subsystem init, after the inet pfil head exists: the chain, and its hook on the head. */
export function ipfwInit(im: Vnet): void {
  im.fw = new Ipfw(im);
  im.fw.hook.attach();
  im.fw.hook6.attach();
}

export function ipfwDestroy(im: Vnet): void {
  im.fw.hook.detach();
  im.fw.hook6.detach();
  im.fw.destroy();
}
