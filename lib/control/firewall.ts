/**
 * The firewall part of an image's control surface: ipfw's rule chain
 * (add, delete, flush, zero, resetlog, list), its dynamic states, and
 * dummynet's pipes, queues and schedulers (configure, delete, flush, show).
 *
 * Rules and states come back as plain data in the shapes `ipfw --json`
 * prints; the dummynet listings come back as FreeBSD 14's text (and a
 * snapshot for --json). Words that do not parse throw RuleSyntaxError
 * (FreeBSD's message, the index of the wrong token, the exit status);
 * limits throw the project's coded errors.
 */

import type { Image } from '../image.js';
import { E, fail } from '../errors.js';
import { fwEnable, fwOnePass, fwVerbose, fwVerboseLimit } from '../ipfw/ip_fw2.js';
import { dummynetInfo, type DummynetInfo } from '../ipfw/dn_show.js';
import { dnByteLimit, dnSlotLimit } from '../ipfw/dummynet.js';
import { ruleBody } from '../ipfw/format.js';
import { words6ToString } from '../ipfw/format6.js';
import { parseDnConfig, parseRule, type DnConfigSpec } from '../ipfw/parse.js';
import { parseBandwidth, type DnKind } from '../ipfw/parse_dn.js';
import { parseProfile, type DnProfile } from '../ipfw/dn_params.js';
import { DEFAULT_RULE } from '../ipfw/rule.js';
import type { TablesControl } from '../ipfw/table.js';
import { ip4ToString } from '../wire/ipv4.js';
import { formatNatConfig, parseNatConfig, type NatConfig } from '../ipfw/nat_config.js';
import type { NatInfo } from '../ipfw/nat_set.js';
import { fwSets, type SetsControl } from '../ipfw/ip_fw_sets.js';
export { RESVD_SET, setShowLine, type SetsControl } from '../ipfw/ip_fw_sets.js';

export { RuleSyntaxError, type DnConfigSpec } from '../ipfw/parse.js';
export { ProfileError, type DnProfile } from '../ipfw/dn_params.js';
export { DEFAULT_RULE, protoName } from '../ipfw/rule.js';
export type { NatConfig } from '../ipfw/nat_config.js';
export type { NatInfo, NatLinkInfo } from '../ipfw/nat_set.js';
export { FLOW_FIELDS, TT, TT_NAMES, VT_LEGACY, VT_NAMES, parseValtype, type EntryResult, type TableCreateSpec, type TableEntry, type TableInfo, type TablesControl } from '../ipfw/table.js';
export type { DnFlowInfo, DnFlowsetInfo, DnMaskInfo, DnPipeInfo, DnSchedInfo, DummynetInfo } from '../ipfw/dn_show.js';

/** One rule as `ipfw list` shows it: number, counters, and the text after the number. */
export interface RuleInfo {
  rule: number;
  text: string;
  packets: number;
  bytes: number;
  /** Rule set 0..31. */
  set: number;
}

/** One dynamic state (`ipfw -d list`). */
export interface DynStateInfo {
  rule: number;
  proto: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  packets: number;
  bytes: number;
  /** Seconds until it expires, rounded up. */
  expiresIn: number;
  name: string;
}

/** What `ipfw enable|disable WHAT` switches. */
export type FirewallSwitch = 'firewall' | 'one_pass' | 'verbose';

const SWITCHES: Record<FirewallSwitch, string> = {
  firewall: fwEnable.name,
  one_pass: fwOnePass.name,
  verbose: fwVerbose.name,
};

export class FirewallControl {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  /** The chain in order, the default rule last (printed `allow` when default_to_accept is 1). */
  rules(): RuleInfo[] {
    const fw = this.#im.fw;
    const def = fw.defaultAccepts() ? 'allow' : undefined;
    return fw.rules.map((r) => ({ rule: r.num, text: ruleBody(r, r.num === DEFAULT_RULE ? def : undefined), packets: r.pcnt, bytes: r.bcnt, set: r.set }));
  }

  /** The live dynamic states, in table order. */
  states(): DynStateInfo[] {
    const im = this.#im;
    const dyn = im.fw.dyn;
    const h = dyn.h;
    const now = im.clock.now();
    return dyn.slots(now).map((s) => ({
      rule: dyn.rule[s]!.num,
      proto: h.proto[s]!,
      src: dyn.fam[s] === 1 ? words6ToString(dyn.a6, s * 8) : ip4ToString(h.a[s]!),
      srcPort: h.pa[s]!,
      dst: dyn.fam[s] === 1 ? words6ToString(dyn.a6, s * 8 + 4) : ip4ToString(h.b[s]!),
      dstPort: h.pb[s]!,
      packets: dyn.pcnt[s]!,
      bytes: dyn.bcnt[s]!,
      expiresIn: Math.ceil((dyn.expire[s]! - now) / 1000),
      name: dyn.name[s]!,
    }));
  }

  /**
   * `ipfw add ...`: compile the words and, unless `dryRun` (ipfw -n), add
   * the rule, numbered by autoinc_step when it has no number. Returns the
   * rule as listed (counters zero).
   */
  addRule(tokens: readonly string[], dryRun = false): Omit<RuleInfo, 'packets' | 'bytes' | 'set'> {
    const im = this.#im;
    const rule = parseRule(tokens, { verboseLimit: im.sysctl.v[fwVerboseLimit.slot]! });
    if (!dryRun) im.fw.add(rule);
    return { rule: rule.num, text: ruleBody(rule) };
  }

  /** Delete the rules numbered `lo`..`hi` (not the default rule); returns how many went. */
  deleteRules(lo: number, hi: number): number {
    return this.#im.fw.deleteRange(lo, hi);
  }

  /** Every rule but the default one, and every state. */
  flush(): void {
    this.#im.fw.flush();
  }

  /** Counters and log counts of rule `num` (all when absent); returns the rules touched. */
  zero(num?: number): number {
    return this.#im.fw.zero(num);
  }

  /** Log counts of rule `num` (all when absent); returns the rules touched. */
  resetLog(num?: number): number {
    return this.#im.fw.resetLog(num);
  }

  /** `ipfw table ...`: the image's lookup tables (plain data; coded errors, RuleSyntaxError for bad keys). */
  tables(): TablesControl {
    return this.#im.fw.tables;
  }

  /** `ipfw set ...` and `ipfw delete set N`: rule sets (ip_fw_sets.ts). */
  sets(): SetsControl {
    return fwSets(this.#im.fw);
  }

  /** `ipfw enable|disable firewall|one_pass|verbose`. */
  setSwitch(which: FirewallSwitch, on: boolean): void {
    this.#im.sysctl.set(SWITCHES[which], on ? '1' : '0');
  }

  // ------------------------------------------------------------ dummynet

  /** Compile the words after `ipfw pipe|queue N config` (limits from the image's sysctls); changes nothing. */
  parseDummynet(kind: DnKind, tokens: readonly string[]): DnConfigSpec {
    const v = this.#im.sysctl.v;
    return parseDnConfig(kind, tokens, { slots: v[dnSlotLimit.slot]!, bytes: v[dnByteLimit.slot]! });
  }

  /** Create or change pipe `nr`. */
  configPipe(nr: number, spec: DnConfigSpec): void {
    this.#im.fw.dn.configPipe(nr, spec);
  }

  /** A delay profile file's text (`profile FILE`); throws ProfileError with FreeBSD's message. */
  parseProfile(text: string, filename: string, warn?: (msg: string) => void): DnProfile {
    return parseProfile(text, filename, (t) => parseBandwidth(t), warn);
  }

  /** Create or change scheduler `nr` (`sched N config`); BAD_ARGUMENT for an unknown type. */
  configSched(nr: number, spec: DnConfigSpec): void {
    this.#im.fw.dn.configSched(nr, spec);
  }

  /** Create or change queue `nr`; a new queue needs `spec.pipe` (else BAD_ARGUMENT). */
  configQueue(nr: number, spec: DnConfigSpec): void {
    this.#im.fw.dn.configQueue(nr, spec);
  }

  hasQueue(nr: number): boolean {
    return this.#im.fw.dn.queues.has(nr);
  }

  /** False when there is no such pipe. */
  deletePipe(nr: number): boolean {
    return this.#im.fw.dn.deletePipe(nr);
  }

  /** False when there is no such queue. */
  deleteQueue(nr: number): boolean {
    return this.#im.fw.dn.deleteQueue(nr);
  }

  /** Every pipe and queue, with what they hold. */
  flushDummynet(): void {
    this.#im.fw.dn.flush();
  }

  /** Pipes (with their schedulers), queues and their flows: what `ipfw pipe|queue|sched show` lists. */
  dummynet(): DummynetInfo {
    return dummynetInfo(this.#im.fw.dn);
  }

  // ----------------------------------------------------------------- nat

  /** Compile the words after `ipfw nat N config`; changes nothing. Throws RuleSyntaxError. */
  parseNat(id: number, tokens: readonly string[]): NatConfig {
    return parseNatConfig(id, tokens);
  }

  /** Create NAT instance `c.id`, or give it new settings; NOT_FOUND for an `if` the image does not have (set_addr_dynamic). */
  configNat(c: NatConfig): void {
    if (c.ifName !== '' && !this.#im.ifnets.has(c.ifName)) fail(E.NOT_FOUND, `unknown interface name ${c.ifName}`);
    this.#im.fw.nat.config(c);
  }

  /** False when there is no such instance. */
  deleteNat(id: number): boolean {
    return this.#im.fw.nat.delete(id);
  }

  /** Every instance's configuration, by id, with the line `ipfw nat N show config` prints. */
  natConfigs(): Array<{ id: number; text: string; config: NatConfig }> {
    return this.#im.fw.nat.configs().map((c) => ({ id: c.id, text: formatNatConfig(c), config: c }));
  }

  /** Instances (one, or all) with their link counts, counters and, with `log`, their links. */
  natInfo(id?: number): NatInfo[] {
    return this.#im.fw.nat.info(id);
  }
}
