/**
 * Dynamic states (FreeBSD's ip_fw_dynamic.c): `keep-state` installs one per
 * flow; `check-state` and the implicit probe of every keep-state rule find
 * it for packets of either direction. Lifetimes follow the protocol state
 * (TCP SYN, established, closing, reset; UDP; other), all in seconds from
 * net.inet.ip.fw.dyn_*_lifetime, measured on the image clock.
 */

import { FlowHash } from './flowhash.js';
import { TH, type Rule } from './rule.js';
import type { ParentTable } from './ip_fw_limit.js';

export const MATCH_FORWARD = 1;
export const MATCH_REVERSE = 2;

const TCP_FLAGS = TH.FIN | TH.SYN | TH.RST;
const BOTH_SYN = TH.SYN | (TH.SYN << 8);
const BOTH_FIN = TH.FIN | (TH.FIN << 8);

export interface DynLifetimes {
  ack: number;
  syn: number;
  fin: number;
  rst: number;
  udp: number;
  short: number;
}

const NO_F64 = new Float64Array(0);
const NO_U32 = new Uint32Array(0);
const NO_U8 = new Uint8Array(0);
const NO_I32 = new Int32Array(0);

export class DynTable {
  /** Empty until the first state: an idle image's table allocates nothing of its own. */
  readonly h = new FlowHash(0);
  rule: Array<Rule | null>;
  name: string[];
  expire: Float64Array;
  state: Uint32Array;
  pcnt: Float64Array;
  bcnt: Float64Array;
  /** Parent states of `limit` rules (ip_fw_limit.ts), per rule. */
  parents: Map<Rule, ParentTable> | null = null;
  /** 1 for an IPv6 state, whose hash key holds folds of its addresses (the whole ones are in `a6`). */
  fam: Uint8Array;
  /** IPv6 states' source and destination addresses, 8 int32 words per slot. */
  a6: Int32Array;
  /** Result of the last `lookup`: MATCH_FORWARD or MATCH_REVERSE. */
  dir = 0;

  constructor() {
    const cap = this.h.capacity;
    this.rule = new Array<Rule | null>(cap).fill(null);
    this.name = new Array<string>(cap).fill('');
    this.expire = cap === 0 ? NO_F64 : new Float64Array(cap);
    this.pcnt = cap === 0 ? NO_F64 : new Float64Array(cap);
    this.bcnt = cap === 0 ? NO_F64 : new Float64Array(cap);
    this.state = cap === 0 ? NO_U32 : new Uint32Array(cap);
    this.fam = cap === 0 ? NO_U8 : new Uint8Array(cap);
    this.a6 = cap === 0 ? NO_I32 : new Int32Array(cap * 8);
    this.h.onGrow = (n) => {
      const fam = new Uint8Array(n);
      fam.set(this.fam);
      this.fam = fam;
      const a6 = new Int32Array(n * 8);
      a6.set(this.a6);
      this.a6 = a6;
      const f64 = (x: Float64Array): Float64Array => {
        const y = new Float64Array(n);
        y.set(x);
        return y;
      };
      const old = this.expire.length;
      this.rule.length = n;
      this.rule.fill(null, old);
      this.name.length = n;
      this.name.fill('', old);
      this.expire = f64(this.expire);
      this.pcnt = f64(this.pcnt);
      this.bcnt = f64(this.bcnt);
      const s = new Uint32Array(n);
      s.set(this.state);
      this.state = s;
    };
  }

  get count(): number {
    return this.h.count;
  }

  /**
   * Find the live state for this packet in either direction; -1 if none.
   * `name` 'any' matches states of every name. Sets `dir`.
   */
  lookup(now: number, proto: number, src: number, dst: number, sport: number, dport: number, name: string, a6: Int32Array | null = null): number {
    let s = this.find(proto, src, dst, sport, dport, a6, 0);
    let dir = MATCH_FORWARD;
    if (s < 0) {
      s = this.find(proto, dst, src, dport, sport, a6, 4);
      dir = MATCH_REVERSE;
    }
    if (s < 0) return -1;
    if (this.expire[s]! <= now) {
      this.remove(s);
      return -1;
    }
    if (name !== 'any' && this.name[s] !== name) return -1;
    this.dir = dir;
    return s;
  }

  /**
   * The slot of this key and family; for IPv6 (`a6` non-null) the stored
   * addresses must be a6's, source at a6[at], destination at a6[at ^ 4].
   */
  private find(proto: number, src: number, dst: number, sport: number, dport: number, a6: Int32Array | null, at: number): number {
    const h = this.h;
    let s = h.find(proto, src, dst, sport, dport);
    while (s >= 0) {
      if (a6 === null ? this.fam[s] === 0 : this.fam[s] === 1 && this.same6(s, a6, at)) return s;
      s = h.findNext(s, proto, src, dst, sport, dport);
    }
    return -1;
  }

  private same6(s: number, a6: Int32Array, at: number): boolean {
    const m = this.a6;
    const b = s * 8;
    const d = at ^ 4;
    return m[b] === a6[at] && m[b + 1] === a6[at + 1] && m[b + 2] === a6[at + 2] && m[b + 3] === a6[at + 3] && m[b + 4] === a6[d] && m[b + 5] === a6[d + 1] && m[b + 6] === a6[d + 2] && m[b + 7] === a6[d + 3];
  }

  install(now: number, rule: Rule, name: string, proto: number, src: number, dst: number, sport: number, dport: number, a6: Int32Array | null = null): number {
    const s = this.h.insert(proto, src, dst, sport, dport);
    this.fam[s] = a6 === null ? 0 : 1;
    if (a6 !== null) this.a6.set(a6, s * 8);
    this.rule[s] = rule;
    this.name[s] = name;
    this.state[s] = 0;
    this.pcnt[s] = 0;
    this.bcnt[s] = 0;
    this.expire[s] = now;
    return s;
  }

  /** Count a packet and refresh the lifetime (dyn_update_proto_state). */
  update(s: number, now: number, dir: number, proto: number, tcpFlags: number, len: number, lt: DynLifetimes): void {
    this.pcnt[s]!++;
    this.bcnt[s]! += len;
    let life: number;
    if (proto === 6) {
      const f = tcpFlags & TCP_FLAGS;
      const st = (this.state[s]! | (dir === MATCH_FORWARD ? f : f << 8)) >>> 0;
      this.state[s] = st;
      switch (st & (TCP_FLAGS | (TCP_FLAGS << 8))) {
        case TH.SYN: // opening
          life = lt.syn;
          break;
        case BOTH_SYN: // established
        case BOTH_SYN | TH.FIN: // one side closing
        case BOTH_SYN | (TH.FIN << 8):
          life = lt.ack;
          break;
        case BOTH_SYN | BOTH_FIN: // both sides closed
          life = lt.fin;
          break;
        default:
          // A reset, or a state made mid-connection without `setup`.
          life = lt.rst;
      }
    } else if (proto === 17) life = lt.udp;
    else life = lt.short;
    this.expire[s] = now + life * 1000;
  }

  remove(s: number): void {
    this.rule[s] = null;
    this.h.remove(s);
  }

  /** Remove expired states; returns how many are left. */
  expireAll(now: number): number {
    const cap = this.h.capacity;
    for (let s = 0; s < cap; s++) if (this.h.used[s] === 1 && this.expire[s]! <= now) this.remove(s);
    return this.h.count;
  }

  /** Remove the states a rule made (the rule was deleted), or all when `rule` is null. */
  removeRule(rule: Rule | null): void {
    const cap = this.h.capacity;
    for (let s = 0; s < cap; s++) if (this.h.used[s] === 1 && (rule === null || this.rule[s] === rule)) this.remove(s);
    if (rule === null) this.parents?.clear();
    else this.parents?.delete(rule);
  }

  /** Live slots in slot order, for listings. */
  slots(now: number): number[] {
    const out: number[] = [];
    const cap = this.h.capacity;
    for (let s = 0; s < cap; s++) if (this.h.used[s] === 1 && this.expire[s]! > now) out.push(s);
    return out;
  }
}
