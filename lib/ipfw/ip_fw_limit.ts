/**
 * `limit {src-addr|src-port|dst-addr|dst-port} N [:name]` (FreeBSD's
 * O_LIMIT and its parent states in sys/netpfil/ipfw/ip_fw_dynamic.c): a
 * keep-state whose new flows are counted per flow key (the fields the
 * mask keeps, per rule); a new flow past N for its key is denied.
 *
 * The parent counts sit in their own hash (one slot per rule and key) and
 * are rebuilt from the live states by the once-a-second sweeper, which is
 * when a closed connection's expired state gives its slot back (FreeBSD
 * decrements a parent when a child state goes). The rule carries the limit
 * on its keep-state instruction: arg = mask, arg2 = N (0 for keep-state).
 */

import { sysctlInt } from '../sysctl.js';
import { FlowHash } from './flowhash.js';
import type { Ipfw } from './ip_fw2.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError, validStateName } from './parse_tokens.js';
import { EMPTY, O, insn, type Insn, type Rule } from './rule.js';

export const DYN_SRC_ADDR = 1;
export const DYN_SRC_PORT = 2;
export const DYN_DST_ADDR = 4;
export const DYN_DST_PORT = 8;

/** ipfw's limit_masks, in its order (the printer tries `all` first). */
const LIMIT_MASKS: ReadonlyArray<readonly [string, number]> = [
  ['all', 15],
  ['src-addr', DYN_SRC_ADDR],
  ['src-port', DYN_SRC_PORT],
  ['dst-addr', DYN_DST_ADDR],
  ['dst-port', DYN_DST_PORT],
];

export const fwDynCount = sysctlInt({ name: 'net.inet.ip.fw.dyn_count', def: 0, min: 0, max: 0x7fffffff, descr: 'Current number of dynamic states.', readOnly: true });
export const fwDynParentCount = sysctlInt({ name: 'net.inet.ip.fw.dyn_parent_count', def: 0, min: 0, max: 0x7fffffff, descr: 'Current number of parent states. ', readOnly: true });
export const fwDynParentMax = sysctlInt({ name: 'net.inet.ip.fw.dyn_parent_max', def: 4096, min: 0, max: 1_048_576, descr: 'Max number of parent dynamic states' });

/** Parent states of one limit rule: one per masked flow key, with its count of live child states. */
export class ParentTable {
  readonly h = new FlowHash(0);
  cnt = new Int32Array(0);
  /**
   * Seeds the key of an IPv6 address (its whole 128 bits), in place of the
   * XOR fold check6 leaves in fw.src/dst, which a sender picks at will to
   * share, and use up, another source's parent.
   */
  constructor(readonly seed = 0) {
    this.h.onGrow = (n) => {
      const c = new Int32Array(n);
      c.set(this.cnt);
      this.cnt = c;
    };
  }
}

/** `limit MASK... N [:name]` at tokens[i] (the word `limit`): the keep-state instruction and the next index. */
export function parseLimit(tokens: readonly string[], i: number): { c: Insn; next: number } {
  let k = i + 1;
  let mask = 0;
  for (;;) {
    const t = tokens[k];
    const m = t === undefined ? undefined : LIMIT_MASKS.find(([n]) => n === t);
    if (m === undefined) break;
    mask |= m[1];
    k++;
  }
  if (mask === 0) throw new RuleSyntaxError('limit: missing limit mask', k, EX_USAGE);
  const t = tokens[k];
  if (t === undefined) throw new RuleSyntaxError('limit: missing limit value', k, EX_USAGE);
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new RuleSyntaxError(`illegal limit value ${t}`, k, EX_DATAERR);
  k++;
  let name = 'default';
  const s = tokens[k];
  if (s !== undefined && s[0] === ':') {
    name = s.slice(1);
    if (!validStateName(name)) throw new RuleSyntaxError(`Invalid state name ${s}`, k, EX_DATAERR);
    k++;
  }
  return { c: insn(O.KEEP_STATE, mask, n, EMPTY, name), next: k };
}

/** print_instruction for O_LIMIT: ` limit src-addr,dst-port 2 :default`. */
export function limitText(c: Insn): string {
  let x = c.arg;
  let s = ' limit';
  let comma = ' ';
  for (const [n, v] of LIMIT_MASKS) {
    if ((x & v) !== v) continue;
    x &= ~v;
    s += comma + n;
    comma = ',';
  }
  return `${s} ${c.arg2} :${c.name}`;
}

/** All parents of the image: the sum over the rules' tables. */
function parentCount(parents: Map<Rule, ParentTable>): number {
  let n = 0;
  for (const t of parents.values()) n += t.h.count;
  return n;
}

/**
 * A new flow on a limit rule: count it on its parent, or refuse it (false)
 * when the parent has N already or no parent can be made (dyn_parent_max).
 */
export function limitAdmit(fw: Ipfw, r: Rule, c: Insn): boolean {
  // Made at the first limit rule's first flow: most images never have one.
  const all = (fw.dyn.parents ??= new Map());
  let p = all.get(r);
  if (p === undefined) {
    // Once per limit rule.
    p = new ParentTable(Math.floor(fw.im.random() * 0x100000000) | 0);
    all.set(r, p);
  }
  const m = c.arg;
  const proto = fw.proto;
  const a6 = fw.v6 ? fw.p6.a6 : null;
  const a = (m & DYN_SRC_ADDR) === 0 ? 0 : a6 !== null ? addrKey6(p.seed, a6, 0) : fw.src;
  const pa = (m & DYN_SRC_PORT) !== 0 ? fw.sport : 0;
  const b = (m & DYN_DST_ADDR) === 0 ? 0 : a6 !== null ? addrKey6(p.seed, a6, 4) : fw.dst;
  const pb = (m & DYN_DST_PORT) !== 0 ? fw.dport : 0;
  let s = p.h.find(proto, a, b, pa, pb);
  const v = fw.im.sysctl.v;
  if (s < 0) {
    const n = v[fwDynParentCount.slot]!;
    if (n >= v[fwDynParentMax.slot]!) return false;
    s = p.h.insert(proto, a, b, pa, pb);
    p.cnt[s] = 0;
    v[fwDynParentCount.slot] = n + 1;
  }
  if (p.cnt[s]! >= c.arg2) return false;
  p.cnt[s]!++;
  return true;
}

/** A parent's key for the IPv6 address in w[at, at+4): a seeded hash of all four words. */
function addrKey6(seed: number, w: Int32Array, at: number): number {
  let h = seed;
  for (let i = 0; i < 4; i++) {
    h = Math.imul(h ^ w[at + i]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** The sweeper's pass: parents recounted from the live states; the dyn_*count sysctls refreshed. */
export function limitRecount(fw: Ipfw): void {
  const dyn = fw.dyn;
  const all = dyn.parents;
  const v = fw.im.sysctl.v;
  v[fwDynCount.slot] = dyn.count;
  if (all === null || all.size === 0) {
    // No limit rule left (deleted, flushed): no parents either.
    v[fwDynParentCount.slot] = 0;
    return;
  }
  for (const [r, t] of all) {
    if (r.pos >= fw.rules.length || fw.rules[r.pos] !== r) all.delete(r); // the rule was deleted
    else t.h.clear();
  }
  const h = dyn.h;
  const cap = h.capacity;
  for (let s = 0; s < cap; s++) {
    const r = dyn.rule[s];
    if (h.used[s] !== 1 || r === null || r === undefined || !r.keepState) continue;
    const c = r.insns[r.insns.length - 1]!;
    if (c.op !== O.KEEP_STATE || c.arg2 === 0) continue;
    const p = all.get(r);
    if (p === undefined) continue;
    const m = c.arg;
    const proto = h.proto[s]!;
    const v6 = dyn.fam[s] === 1;
    const a = (m & DYN_SRC_ADDR) === 0 ? 0 : v6 ? addrKey6(p.seed, dyn.a6, s * 8) : h.a[s]!;
    const pa = (m & DYN_SRC_PORT) !== 0 ? h.pa[s]! : 0;
    const b = (m & DYN_DST_ADDR) === 0 ? 0 : v6 ? addrKey6(p.seed, dyn.a6, s * 8 + 4) : h.b[s]!;
    const pb = (m & DYN_DST_PORT) !== 0 ? h.pb[s]! : 0;
    let q = p.h.find(proto, a, b, pa, pb);
    if (q < 0) {
      q = p.h.insert(proto, a, b, pa, pb);
      p.cnt[q] = 0;
    }
    p.cnt[q]!++;
  }
  v[fwDynParentCount.slot] = parentCount(all);
}
