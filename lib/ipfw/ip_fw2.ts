/**
 * The ipfw firewall of one image (FreeBSD's per-vnet `ip_fw_chain` and
 * ipfw_chk in sys/netpfil/ipfw/ip_fw2.c): the rule chain, the matcher the
 * packet path calls on input and output of every interface, the actions,
 * dynamic states, and the hand-off to dummynet.
 *
 * The hooks (`input`, `output`) run on every packet: they read the headers
 * once into plain number fields, walk the chain with a monomorphic
 * instruction loop and allocate nothing unless an action needs to (an ICMP
 * error, a TCP reset, a copy into a dummynet queue). A verdict other than
 * "pass" ends the packet's path; dummynet re-injects its copy later where
 * the packet left it (`reinject`).
 */

import type { Image } from '../image.js';
import type { Timer } from '../clock.js';
import type { Ifnet } from '../net/if.js';
import { icmpError } from '../netinet/ip_icmp.js';
import { ipInputDispatch } from '../netinet/ip_input.js';
import { allocPacket, buildIpHeader, ipOutputFinish, ipOutputLocal, readU32, writeU32 } from '../netinet/ip_output.js';
import { defineStats, type Stats } from '../stats.js';
import { sysctlInt } from '../sysctl.js';
import { foldComplement, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { ip4ToString } from '../wire/ipv4.js';
import type { VnetHdr } from '../wire/vnet.js';
import { DynTable } from './dyn.js';
import { Dummynet } from './dummynet.js';
import { A, DEFAULT_RULE, O, Rule, TH, protoName, type Insn } from './rule.js';
import { E, fail } from '../errors.js';

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
export const fwDynMax = sysctlInt({ name: 'net.inet.ip.fw.dyn_max', def: 16384, min: 0, max: 1_048_576, descr: 'Max number of dynamic states' });
export const fwDynAck = sysctlInt({ name: 'net.inet.ip.fw.dyn_ack_lifetime', def: 300, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP ACK' });
export const fwDynSyn = sysctlInt({ name: 'net.inet.ip.fw.dyn_syn_lifetime', def: 20, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP SYN' });
export const fwDynFin = sysctlInt({ name: 'net.inet.ip.fw.dyn_fin_lifetime', def: 1, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP FIN' });
export const fwDynRst = sysctlInt({ name: 'net.inet.ip.fw.dyn_rst_lifetime', def: 1, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP RST' });
export const fwDynUdp = sysctlInt({ name: 'net.inet.ip.fw.dyn_udp_lifetime', def: 10, min: 1, max: 86400, descr: 'Lifetime of dynamic states for UDP' });
export const fwDynShort = sysctlInt({
  name: 'net.inet.ip.fw.dyn_short_lifetime',
  def: 5,
  min: 1,
  max: 86400,
  descr: 'Lifetime of dynamic states for other situations',
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

/** Log lines per second an image may write for `log` rules; the rest are counted. */
const LOG_PER_SECOND = 100;

const V_PASS = 0;
const V_DENY = 1;
const V_REJECT = 2;
const V_RESET = 3;
const V_DUMMYNET = 4;

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
  readonly im: Image;
  /** Sorted by number; the default rule is always last. */
  rules: Rule[];
  readonly defaultRule: Rule;
  readonly dyn = new DynTable();
  readonly dn: Dummynet;
  readonly stat: IpfwStats = ipfwStats.create();
  private sweeper: Timer | null = null;
  private logWindow = -Infinity;
  private logCount = 0;

  // The packet being checked (FreeBSD's ip_fw_args), valid during `check`.
  private proto = 0;
  private src = 0;
  private dst = 0;
  private sport = 0;
  private dport = 0;
  private fragOff = 0;
  private hlen = 0;
  private ipLen = 0;
  private tcpFlags = 0;
  private icmpType = 0;
  /** The matched rule of the last `check` (for the action and dummynet). */
  private hit: Rule | null = null;

  constructor(im: Image) {
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
    this.rules = [this.defaultRule];
    this.dn = new Dummynet(im, this);
    this.refresh();
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
  }

  // ------------------------------------------------------- control plane

  /** Recompute positions and skipto targets after the chain changed. */
  private refresh(): void {
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      r.pos = i;
      if (r.action === A.SKIPTO) {
        let j = i + 1;
        while (j < rules.length - 1 && rules[j]!.num < r.actArg) j++;
        r.skipIdx = j;
      }
    }
  }

  /** Add a parsed rule, numbering it when it has no number; returns it. */
  add(rule: Rule): Rule {
    const max = this.im.registry.limits.rules;
    if (this.rules.length - 1 >= max) fail(E.LIMIT, `image ${this.im.name} has ${max} rules, the daemon's limit (limits.rules in vimaged's configuration)`);
    if (rule.num === 0) {
      const step = this.im.sysctl.v[fwAutoincStep.slot]!;
      const last = this.rules.length > 1 ? this.rules[this.rules.length - 2]!.num : 0;
      rule.num = last < DEFAULT_RULE - step ? last + step : last;
      if (rule.num === 0) fail(E.OUT_OF_RANGE, 'no rule number left below 65535');
    }
    let i = 0;
    while (i < this.rules.length - 1 && this.rules[i]!.num <= rule.num) i++;
    this.rules.splice(i, 0, rule);
    if (rule.logAmount > 0) rule.logged = 0;
    this.refresh();
    return rule;
  }

  /** Delete the rules numbered `lo`..`hi`; returns how many went. */
  deleteRange(lo: number, hi: number): number {
    const gone = this.rules.filter((r) => r !== this.defaultRule && r.num >= lo && r.num <= hi);
    if (gone.length === 0) return 0;
    for (const r of gone) this.dyn.removeRule(r);
    this.rules = this.rules.filter((r) => !gone.includes(r));
    this.refresh();
    return gone.length;
  }

  flush(): void {
    this.rules = [this.defaultRule];
    this.dyn.removeRule(null);
    this.refresh();
  }

  /** `ipfw zero [NUM]`: counters and log counts. Returns the rules touched. */
  zero(num?: number): number {
    let n = 0;
    for (const r of this.rules) {
      if (num !== undefined && r.num !== num) continue;
      r.pcnt = 0;
      r.bcnt = 0;
      r.logged = 0;
      n++;
    }
    return n;
  }

  resetLog(num?: number): number {
    let n = 0;
    for (const r of this.rules) {
      if (num !== undefined && r.num !== num) continue;
      r.logged = 0;
      n++;
    }
    return n;
  }

  // --------------------------------------------------------- the hooks

  /** pfil input hook: true to continue with the packet. */
  input(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): boolean {
    if (this.im.sysctl.v[fwEnable.slot] === 0) return true;
    return this.run(false, ifp, null, 0, buf, off, len, 0, meta, 0);
  }

  /**
   * pfil output hook, for packets leaving through `ifp` towards `nexthop`
   * (`rcvif` is where a forwarded packet came in, null for our own).
   */
  /** Whether the last packet output() or input() refused was denied (not taken by dummynet). */
  denied = false;

  output(rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): boolean {
    if (this.im.sysctl.v[fwEnable.slot] === 0) return true;
    return this.run(true, rcvif, ifp, nexthop, buf, off, len, mtu, meta, 0);
  }

  /** Dummynet hands a packet back: on through the rest of the chain (one_pass=0) and the path. */
  reinject(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number): void {
    const im = this.im;
    if (im.sysctl.v[fwEnable.slot] !== 0 && im.sysctl.v[fwOnePass.slot] === 0) {
      let start = 0;
      while (start < this.rules.length - 1 && this.rules[start]!.num <= ruleNum) start++;
      if (!this.run(out, rcvif, outif, nexthop, buf, off, len, mtu, meta, start)) return;
    }
    if (out) {
      ipOutputFinish(im, outif!, nexthop, buf, off, len, mtu, meta);
    } else {
      const hlen = (buf[off]! & 0xf) << 2;
      ipInputDispatch(im, rcvif!, buf, off, hlen, len, meta, readU32(buf, off + 16));
    }
  }

  private run(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, start: number): boolean {
    const v = this.check(out, rcvif, outif, buf, off, len, start);
    const st = this.stat;
    // `denied` is set last: the ICMP error or RST sent below runs the chain again.
    switch (v) {
      case V_PASS:
        st.passed++;
        return true;
      case V_DENY:
        st.denied++;
        this.denied = true;
        return false;
      case V_REJECT:
        st.rejected++;
        if (this.fragOff === 0) icmpError(this.im, rcvif, buf, off, len, 3, this.hit!.actArg, 0);
        this.denied = true;
        return false;
      case V_RESET:
        st.reset++;
        if (this.proto === IPPROTO_TCP && this.fragOff === 0 && (this.tcpFlags & TH.RST) === 0) this.sendReset(buf, off);
        this.denied = true;
        return false;
      default: {
        const r = this.hit!;
        if (!this.dn.enqueue(r.action === A.PIPE, r.actArg, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, r.num, this.proto, this.src, this.dst, this.sport, this.dport)) st.nopipe++;
        else st.dummynet++;
        this.denied = false;
        return false;
      }
    }
  }

  /**
   * ipfw_chk: walk the chain from `start` for this packet. Returns a
   * verdict; `hit` is the rule whose action decided it.
   */
  private check(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, start: number): number {
    const im = this.im;
    const hlen = (buf[off]! & 0xf) << 2;
    const proto = buf[off + 9]!;
    const fragOff = ((buf[off + 6]! & 0x1f) << 8) | buf[off + 7]!;
    this.hlen = hlen;
    this.ipLen = len;
    this.proto = proto;
    this.src = readU32(buf, off + 12);
    this.dst = readU32(buf, off + 16);
    this.fragOff = fragOff;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.icmpType = 0;
    if (fragOff === 0) {
      const l4 = off + hlen;
      const room = len - hlen;
      // A first fragment or whole packet must carry its transport header (pullup).
      if (proto === IPPROTO_TCP) {
        if (room < 20) return this.pullupFailed();
        this.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
        this.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
        this.tcpFlags = buf[l4 + 13]!;
      } else if (proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
        if (room < 8) return this.pullupFailed();
        this.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
        this.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      } else if (proto === IPPROTO_ICMP) {
        if (room < 4) return this.pullupFailed();
        this.icmpType = buf[l4]!;
      }
    }

    const rules = this.rules;
    const n = rules.length;
    let probed = false;
    const src = this.src | 0;
    const dst = this.dst | 0;
    const ports = this.hasPorts();
    const sport = this.sport;
    const dport = this.dport;
    const dir = out ? 2 : 1;
    for (let i = start; i < n; i++) {
      let r = rules[i]!;
      if (r.keepState && !probed) {
        // O_PROBE_STATE: the first keep-state rule looks the flow up once.
        probed = true;
        const s = this.probe(r.stateName, len);
        if (s !== null) {
          r = s;
          i = r.pos;
          const v = this.act(r, len, out, rcvif, outif, buf, off);
          if (v >= 0) return v;
          if (v === -2) i = r.skipIdx - 1;
          continue;
        }
      }
      // Quick reject on the rule's plain conditions, then the full match.
      if (r.qProto >= 0 && r.qProto !== proto) continue;
      if ((src & r.qSrcM) !== r.qSrcA || (dst & r.qDstM) !== r.qDstA) continue;
      if (r.qDpLo >= 0 && (!ports || dport < r.qDpLo || dport > r.qDpHi)) continue;
      if (r.qSpLo >= 0 && (!ports || sport < r.qSpLo || sport > r.qSpHi)) continue;
      if (r.qDir !== 0 && r.qDir !== dir) continue;
      if (r.prob < 1 && im.registry.random() >= r.prob) continue;
      if (!this.match(r.insns, out, rcvif, outif, buf, off)) continue;
      if (r.keepState && !this.installState(r)) {
        this.hit = r;
        return V_DENY;
      }
      if (r.action === A.CHECK_STATE) {
        // check-state is never counted itself: a state found counts on its rule.
        if (probed) continue;
        probed = true;
        const s = this.probe(r.stateName, len);
        if (s === null) continue;
        r = s;
        i = r.pos;
      }
      const v = this.act(r, len, out, rcvif, outif, buf, off);
      if (v >= 0) return v;
      if (v === -2) i = r.skipIdx - 1;
    }
    this.hit = this.defaultRule;
    return V_DENY;
  }

  /**
   * Count, log and apply a matched rule's action. Returns a verdict, or -1
   * to go on with the next rule (count), -2 to jump to `skipIdx` (skipto).
   */
  private act(r: Rule, len: number, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): number {
    r.pcnt++;
    r.bcnt += len;
    if (r.log) this.logMatch(r, out, rcvif, outif, buf, off);
    this.hit = r;
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
      case A.COUNT:
      case A.CHECK_STATE:
        return -1;
      case A.SKIPTO:
        return -2;
      default:
        return V_DUMMYNET;
    }
  }

  /** Find this packet's state; count it there and return the rule that made it. */
  private probe(name: string, len: number): Rule | null {
    const dyn = this.dyn;
    if (dyn.count === 0) return null;
    const now = this.im.clock.now();
    const s = dyn.lookup(now, this.proto, this.src, this.dst, this.sport, this.dport, name);
    if (s < 0) return null;
    dyn.update(s, now, dyn.dir, this.proto, this.tcpFlags, len, this.lifetimes());
    return dyn.rule[s]!;
  }

  private lifetimes(): { ack: number; syn: number; fin: number; rst: number; udp: number; short: number } {
    const v = this.im.sysctl.v;
    const lt = this.lt;
    lt.ack = v[fwDynAck.slot]!;
    lt.syn = v[fwDynSyn.slot]!;
    lt.fin = v[fwDynFin.slot]!;
    lt.rst = v[fwDynRst.slot]!;
    lt.udp = v[fwDynUdp.slot]!;
    lt.short = v[fwDynShort.slot]!;
    return lt;
  }
  private readonly lt = { ack: 0, syn: 0, fin: 0, rst: 0, udp: 0, short: 0 };

  /** O_KEEP_STATE: make (or find) this flow's state. False when dyn_max is reached. */
  private installState(r: Rule): boolean {
    const dyn = this.dyn;
    const now = this.im.clock.now();
    let s = dyn.lookup(now, this.proto, this.src, this.dst, this.sport, this.dport, 'any');
    if (s < 0) {
      if (dyn.count >= this.im.sysctl.v[fwDynMax.slot]!) {
        this.stat.dynoverflow++;
        return false;
      }
      s = dyn.install(now, r, r.stateName, this.proto, this.src, this.dst, this.sport, this.dport);
      dyn.dir = 1;
      if (this.sweeper === null) this.sweeper = this.im.clock.every(1000, this.sweep);
    }
    dyn.update(s, now, dyn.dir, this.proto, this.tcpFlags, this.ipLen, this.lifetimes());
    return true;
  }

  private readonly sweep = (): void => {
    if (this.dyn.expireAll(this.im.clock.now()) === 0) {
      this.sweeper?.cancel();
      this.sweeper = null;
    }
  };

  private pullupFailed(): number {
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
    switch (c.op) {
      case O.PROTO:
        return this.proto === c.arg;
      case O.IP4:
        return true;
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
        return rcvif !== null && ifMatch(c, rcvif);
      case O.XMIT:
        return outif !== null && ifMatch(c, outif);
      case O.VIA: {
        const ifp = out ? outif : rcvif;
        return ifp !== null && ifMatch(c, ifp);
      }
      case O.FRAG:
        return this.fragOff !== 0;
      case O.IPLEN:
        return c.list.length === 0 ? this.ipLen === c.arg : rangeMatch(c.list, this.ipLen);
      case O.IPTTL: {
        const ttl = buf[off + 8]!;
        return c.list.length === 0 ? ttl === c.arg : rangeMatch(c.list, ttl);
      }
      case O.IPID: {
        const id = (buf[off + 4]! << 8) | buf[off + 5]!;
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
      default:
        return false;
    }
  }

  private hasPorts(): boolean {
    const p = this.proto;
    return this.fragOff === 0 && (p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP);
  }

  // ------------------------------------------------------------ actions

  /** `reset`: a RST back to the sender (RFC 9293 3.10.7.1), built by hand. */
  private sendReset(buf: Uint8Array, off: number): void {
    const im = this.im;
    const hlen = this.hlen;
    const t = off + hlen;
    const seq = readU32(buf, t + 4);
    const ack = readU32(buf, t + 8);
    const thl = (buf[t + 12]! >> 4) << 2;
    const flags = this.tcpFlags;
    let dataLen = this.ipLen - hlen - thl;
    if (dataLen < 0) dataLen = 0;
    if ((flags & TH.SYN) !== 0) dataLen++;
    if ((flags & TH.FIN) !== 0) dataLen++;
    const p = allocPacket(40);
    const b = p.buf;
    const o = p.off;
    const tt = o + 20;
    b[tt] = buf[t + 2]!;
    b[tt + 1] = buf[t + 3]!;
    b[tt + 2] = buf[t]!;
    b[tt + 3] = buf[t + 1]!;
    if ((flags & TH.ACK) !== 0) {
      writeU32(b, tt + 4, ack);
      writeU32(b, tt + 8, 0);
      b[tt + 13] = TH.RST;
    } else {
      writeU32(b, tt + 4, 0);
      writeU32(b, tt + 8, (seq + dataLen) >>> 0);
      b[tt + 13] = TH.RST | TH.ACK;
    }
    b[tt + 12] = 5 << 4;
    const sum = foldComplement(sum16(b, tt, 20, pseudoHeaderSum(this.dst, this.src, IPPROTO_TCP, 20)));
    b[tt + 16] = sum >> 8;
    b[tt + 17] = sum & 0xff;
    buildIpHeader(im, b, o, 40, IPPROTO_TCP, this.dst, this.src);
    ipOutputLocal(im, b, o, 40, im.noOffload);
  }

  /** ipfw_log: `ipfw: 100 Deny ICMP:8.0 10.0.0.1 10.0.0.2 in via em0`, rate limited. */
  private logMatch(r: Rule, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): void {
    const im = this.im;
    if (im.sysctl.v[fwVerbose.slot] === 0) return;
    if (r.logAmount > 0) {
      if (r.logged >= r.logAmount) return;
      r.logged++;
    }
    const now = im.clock.now();
    if (now - this.logWindow >= 1000) {
      if (this.logCount > LOG_PER_SECOND) im.log.warn(`ipfw: ${this.logCount - LOG_PER_SECOND} log lines suppressed (more than ${LOG_PER_SECOND}/s)`);
      this.logWindow = now;
      this.logCount = 0;
    }
    if (++this.logCount > LOG_PER_SECOND) {
      this.stat.logsuppressed++;
      return;
    }
    this.stat.logged++;
    im.log.info(logLine(r, this.defaultAccepts(), out, rcvif, outif, buf, off, this.proto, this.sport, this.dport, this.fragOff));
    if (r.logAmount > 0 && r.logged === r.logAmount) im.log.info(`ipfw: limit ${r.logAmount} reached on entry ${r.num}`);
  }
}

function logLine(r: Rule, defAccept: boolean, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, proto: number, sport: number, dport: number, fragOff: number): string {
  let action: string;
  switch (r.action) {
    case A.ACCEPT:
      action = 'Accept';
      break;
    case A.DENY:
      action = r.num === DEFAULT_RULE && defAccept ? 'Accept' : 'Deny';
      break;
    case A.REJECT:
      action = r.actArg === 1 ? 'Reject' : `Unreach ${r.actArg}`;
      break;
    case A.RESET:
      action = 'Reset';
      break;
    case A.COUNT:
      action = 'Count';
      break;
    case A.SKIPTO:
      action = `SkipTo ${r.actArg}`;
      break;
    case A.PIPE:
      action = `Pipe ${r.actArg}`;
      break;
    case A.QUEUE:
      action = `Queue ${r.actArg}`;
      break;
    default:
      action = 'Check-State';
  }
  const src = ip4ToString(readU32(buf, off + 12));
  const dst = ip4ToString(readU32(buf, off + 16));
  const hlen = (buf[off]! & 0xf) << 2;
  let what: string;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    const name = proto === IPPROTO_TCP ? 'TCP' : 'UDP';
    what = fragOff === 0 ? `${name} ${src}:${sport} ${dst}:${dport}` : `${name} ${src} ${dst}`;
  } else if (proto === IPPROTO_ICMP) {
    what = fragOff === 0 ? `ICMP:${buf[off + hlen]}.${buf[off + hlen + 1]} ${src} ${dst}` : `ICMP ${src} ${dst}`;
  } else what = `P:${proto} ${src} ${dst}`;
  const ifp = out ? outif : rcvif;
  let s = `ipfw: ${r.num} ${action} ${what} ${out ? 'out' : 'in'} via ${ifp?.name ?? '-'}`;
  if (fragOff !== 0 || (buf[off + 6]! & 0x20) !== 0) {
    const len = ((buf[off + 2]! << 8) | buf[off + 3]!) - hlen;
    s += ` (frag ${(buf[off + 4]! << 8) | buf[off + 5]!}:${len}@${fragOff << 3}${(buf[off + 6]! & 0x20) !== 0 ? '+' : ''})`;
  }
  void protoName;
  return s;
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

export function ipfwInit(im: Image): void {
  im.fw = new Ipfw(im);
}

export function ipfwDestroy(im: Image): void {
  im.fw.destroy();
}
