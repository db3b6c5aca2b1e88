/**
 * The actions and options that travel with a packet through ipfw_chk
 * (FreeBSD's sys/netpfil/ipfw/ip_fw2.c): `setdscp` and the `dscp` match,
 * `tag`/`untag` and `tagged` (FreeBSD keeps tags in mbuf tags of type
 * MTAG_IPFW), and `call`/`return` with their per-packet call stack
 * (MTAG_IPFW_CALL, IPFW_CALLSTACK_SIZE entries).
 *
 * A packet's tags and call stack sit in one preallocated `FwPktTags` of
 * the chain (and one of each queued dummynet packet, which copies it in
 * and hands it back on re-injection), so that the packet path allocates
 * nothing.
 */

import { checksumAdjust } from '../wire/checksum.js';
import type { Ipv4Packet } from '../wire/ipv4.js';
import type { Insn, Rule } from './rule.js';

/** FreeBSD's IPFW_CALLSTACK_SIZE. */
export const CALLSTACK_SIZE = 16;
/** Tags one packet may carry at once (a `tag` beyond that is not applied). */
export const PKT_TAGS_MAX = 16;

/** `return` (continue after the call rule) and `return next-rulenum` (first rule numbered above it). */
export const RET_NEXT_RULE = 0;
export const RET_NEXT_RULENUM = 1;

/** The DiffServ code point names of ipfw(8) (f_ipdscp), in its order: the printer takes the first name of a value. */
export const DSCP_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['af11', 10],
  ['af12', 12],
  ['af13', 14],
  ['af21', 18],
  ['af22', 20],
  ['af23', 22],
  ['af31', 26],
  ['af32', 28],
  ['af33', 30],
  ['af41', 34],
  ['af42', 36],
  ['af43', 38],
  ['be', 0],
  ['ef', 46],
  ['cs0', 0],
  ['cs1', 8],
  ['cs2', 16],
  ['cs3', 24],
  ['cs4', 32],
  ['cs5', 40],
  ['cs6', 48],
  ['cs7', 56],
];

/** A code point by name or number (0..63); undefined otherwise. */
export function dscpValue(s: string): number | undefined {
  for (const [n, v] of DSCP_NAMES) if (n === s) return v;
  if (!/^\d+$/.test(s)) return undefined;
  const v = Number(s);
  return v <= 63 ? v : undefined;
}

/** The printed name of a code point: its first name, else the number. */
export function dscpText(v: number): string {
  for (const [n, c] of DSCP_NAMES) if (c === v) return n;
  return String(v);
}

/** Where each part lives in `FwPktTags.w`: one array, as every image and queued packet holds one of these. */
const W_TAGS = 0;
const W_POS = PKT_TAGS_MAX;
const W_NUM = PKT_TAGS_MAX + CALLSTACK_SIZE;

/** Tags and call stack of the packet being checked. */
export class FwPktTags {
  /** The tags (W_TAGS), then the chain index (W_POS) and number (W_NUM) of each `call` rule on the stack. */
  readonly w = new Int32Array(PKT_TAGS_MAX + 2 * CALLSTACK_SIZE);
  nTags = 0;
  depth = 0;
  /** Set when the next walk continues this packet's (dummynet, nat with one_pass=0): keep, not clear. */
  carried = false;

  clear(): void {
    this.nTags = 0;
    this.depth = 0;
  }

  copyFrom(o: FwPktTags): void {
    if (o === this) return;
    this.nTags = o.nTags;
    this.depth = o.depth;
    this.w.set(o.w);
  }

  has(tag: number): boolean {
    for (let k = 0; k < this.nTags; k++) if (this.w[W_TAGS + k] === tag) return true;
    return false;
  }
}

/** `tag N` / `untag N` of a matched rule (O_TAG): before its action runs. */
export function applyTag(p: FwPktTags, r: Rule, arg: number): void {
  const t = p.w;
  if (r.tagOp === 1) {
    if (!p.has(arg) && p.nTags < PKT_TAGS_MAX) t[W_TAGS + p.nTags++] = arg;
    return;
  }
  for (let k = 0; k < p.nTags; k++) {
    if (t[W_TAGS + k] !== arg) continue;
    t[W_TAGS + k] = t[W_TAGS + --p.nTags]!;
    return;
  }
}

/** `tagged LIST` (O_TAGGED): any tag of the packet in one of the ranges. */
export function taggedMatch(p: FwPktTags, c: Insn): boolean {
  const l = c.list;
  for (let k = 0; k < p.nTags; k++) {
    const v = p.w[W_TAGS + k]!;
    for (let j = 0; j < l.length; j += 2) if (v >= l[j]! && v <= l[j + 1]!) return true;
  }
  return false;
}

/** `dscp LIST` (O_DSCP): the packet's code point in the rule's 64-bit set. */
export function dscpMatch(c: Insn, tos: number): boolean {
  const d = tos >>> 2;
  return d < 32 ? ((c.arg >>> d) & 1) === 1 : ((c.arg2 >>> (d - 32)) & 1) === 1;
}

/** `setdscp CODE` (O_SETDSCP): rewrite the DS field, patching the header checksum (RFC 1624). */
export function setDscp(ip: Ipv4Packet, code: number): void {
  const tos = ip.tos;
  const now = ((code & 0x3f) << 2) | (tos & 3);
  if (now === tos) return;
  const hi = (ip.version << 4) | (ip.headerLen >>> 2);
  ip.checksum = checksumAdjust(ip.checksum, (hi << 8) | tos, (hi << 8) | now);
  ip.tos = now;
}

/** `setdscp` on an IPv6 packet at buf[off]: the upper six bits of the traffic class (no header checksum). Returns the new class. */
export function setDscp6(buf: Uint8Array, off: number, code: number): number {
  const tc = ((buf[off]! & 0xf) << 4) | (buf[off + 1]! >>> 4);
  const now = ((code & 0x3f) << 2) | (tc & 3);
  buf[off] = (buf[off]! & 0xf0) | (now >>> 4);
  buf[off + 1] = ((now & 0xf) << 4) | (buf[off + 1]! & 0xf);
  return now;
}

/**
 * `call N`: push the call rule and jump to the first rule numbered N or
 * more (`r.skipIdx`). Returns the chain index to go on at, or -1 for the
 * next rule when the stack is full (FreeBSD's behaviour on overflow).
 */
export function callPush(p: FwPktTags, r: Rule): number {
  if (p.depth >= CALLSTACK_SIZE) return -1;
  p.w[W_POS + p.depth] = r.pos;
  p.w[W_NUM + p.depth] = r.num;
  p.depth++;
  return r.skipIdx;
}

/**
 * `return`: pop the last call and go on after it (next-rule: the rule
 * after the call rule; next-rulenum: the first rule numbered above it).
 * Returns the chain index, or -1 (next rule) on an empty stack.
 */
export function callReturn(p: FwPktTags, rules: readonly Rule[], mode: number): number {
  if (p.depth === 0) return -1;
  p.depth--;
  const pos = p.w[W_POS + p.depth]!;
  const num = p.w[W_NUM + p.depth]!;
  const last = rules.length - 1;
  // The chain may have changed while the packet sat in dummynet: then go by number.
  if (mode === RET_NEXT_RULE && pos < last && rules[pos]!.num === num) return pos + 1;
  let lo = 0;
  let hi = last;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (rules[m]!.num <= num) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** The chain index of the first rule numbered `num` or more (the default rule at the end). */
export function firstAtOrAbove(rules: readonly Rule[], num: number): number {
  let lo = 0;
  let hi = rules.length - 1;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (rules[m]!.num < num) lo = m + 1;
    else hi = m;
  }
  return lo;
}
