/**
 * Lookup structures of ipfw tables (the role of FreeBSD's
 * sys/netpfil/ipfw/ip_fw_table_algo.c; written for vimage, not a port):
 *
 * - `U32Map`: an open-addressing hash from a uint32 key to an int, in
 *   typed arrays, so that a lookup allocates nothing (a JS Map boxes keys
 *   above 2^30 into heap numbers). Keys of `number` tables live here.
 * - `AddrLpm`: longest-prefix match over IPv4 prefixes: one `U32Map` per
 *   prefix length present, keyed by the masked address, searched from the
 *   longest length present down. A lookup costs at most 33 hash probes
 *   whatever the number of prefixes (O(1) in n), with no allocation.
 *   From 256 prefixes on, a first stage indexed by the top 16 bits of the
 *   address (the DIR-16 idea of Gupta, Lin and McKeown) keeps the lengths
 *   above 16 that may hold the address, and the best prefix of length 16
 *   or less outright, so most lookups take one or two probes (512 KiB).
 *
 * Values are small ints (indexes into the table's value list); -1 is "absent".
 */

const EMPTY_KEY = 0;

/** Open addressing with linear probing and backward-shift deletion. */
export class U32Map {
  keys: Int32Array;
  vals: Int32Array;
  used: Uint8Array;
  size = 0;
  private mask: number;
  private shift: number;
  /** log2 of the capacity. */
  bits: number;

  constructor(cap = 8) {
    let c = 8;
    while (c < cap) c <<= 1;
    this.keys = new Int32Array(c);
    this.vals = new Int32Array(c);
    this.used = new Uint8Array(c);
    this.mask = c - 1;
    this.shift = 32 - Math.log2(c);
    this.bits = Math.log2(c);
  }

  /** Packet path: the value of the key in `key[0]` (see AddrLpm.findAt), -1 when absent. */
  getAt(key: Int32Array): number {
    return probe(this, key[0]!);
  }

  private slot(k: number): number {
    return Math.imul(k | 0, 0x9e3779b1) >>> this.shift;
  }

  /** The value of key `k` (a uint32 or int32), -1 when absent. */
  get(k: number): number {
    const key = k | 0;
    const keys = this.keys;
    const used = this.used;
    const m = this.mask;
    let s = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (used[s] === 1) {
      if (keys[s] === key) return this.vals[s]!;
      s = (s + 1) & m;
    }
    return -1;
  }

  /** Set `k` to `v`; returns true when the key is new. */
  set(k: number, v: number): boolean {
    const key = k | 0;
    let s = this.slot(key);
    while (this.used[s] === 1) {
      if (this.keys[s] === key) {
        this.vals[s] = v;
        return false;
      }
      s = (s + 1) & this.mask;
    }
    this.used[s] = 1;
    this.keys[s] = key;
    this.vals[s] = v;
    this.size++;
    if (this.size * 4 > this.keys.length * 3) this.grow();
    return true;
  }

  /** Remove `k`; returns true when it was there. */
  delete(k: number): boolean {
    const key = k | 0;
    const m = this.mask;
    let s = this.slot(key);
    while (this.used[s] === 1 && this.keys[s] !== key) s = (s + 1) & m;
    if (this.used[s] !== 1) return false;
    // Backward shift: move later entries of the run into the hole when their home allows it.
    let hole = s;
    let j = (s + 1) & m;
    while (this.used[j] === 1) {
      const home = this.slot(this.keys[j]!);
      if (((j - home) & m) >= ((j - hole) & m)) {
        this.keys[hole] = this.keys[j]!;
        this.vals[hole] = this.vals[j]!;
        hole = j;
      }
      j = (j + 1) & m;
    }
    this.used[hole] = 0;
    this.keys[hole] = EMPTY_KEY;
    this.size--;
    return true;
  }

  /** Every [key (uint32), value] pair, in slot order. */
  entries(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let s = 0; s < this.keys.length; s++) if (this.used[s] === 1) out.push([this.keys[s]! >>> 0, this.vals[s]!]);
    return out;
  }

  private grow(): void {
    const { keys, vals, used } = this;
    const c = keys.length * 2;
    this.keys = new Int32Array(c);
    this.vals = new Int32Array(c);
    this.used = new Uint8Array(c);
    this.mask = c - 1;
    this.shift = 32 - Math.log2(c);
    this.bits = Math.log2(c);
    this.size = 0;
    for (let s = 0; s < keys.length; s++) if (used[s] === 1) this.set(keys[s]!, vals[s]!);
  }
}

/** U32Map.get for the packet path, written out so that callers inline it (`key` is an int32). */
function probe(m: U32Map, key: number): number {
  const keys = m.keys;
  const used = m.used;
  const mask = keys.length - 1;
  let s = Math.imul(key, 0x9e3779b1) >>> (32 - m.bits);
  while (used[s] === 1) {
    if (keys[s] === key) return m.vals[s]!;
    s = (s + 1) & mask;
  }
  return -1;
}

/** Prefixes from which an AddrLpm builds its DIR-16 stage. */
export const DIR16_MIN = 256;

/** The netmask of a prefix length, as an int32 (len 0 gives 0). */
export function lenMask(len: number): number {
  return len === 0 ? 0 : (-1 << (32 - len)) | 0;
}

/** Longest-prefix match over IPv4 prefixes. */
export class AddrLpm {
  /** One map per prefix length 0..32; null while no prefix of that length exists. */
  private readonly byLen: Array<U32Map | null> = new Array<U32Map | null>(33).fill(null);
  /** The lengths present, longest first, and their masks. */
  private lens = new Int32Array(0);
  private masks = new Int32Array(0);
  size = 0;
  /** DIR-16 stage, or null below DIR16_MIN prefixes: per /16, bit L-17 set when a prefix of length L > 16 may lie in it. */
  private p16: Uint32Array | null = null;
  /** Per /16: value of the longest prefix of length <= 16 covering it (-1: none), and that length. */
  private b16: Int32Array | null = null;
  private l16: Int8Array | null = null;

  /**
   * Packet path: value of the longest prefix holding the address in
   * `key[0]`, -1 when none. The key comes in an Int32Array so that an
   * address above 2^30 is never boxed on the way to a call that is not
   * inlined.
   */
  findAt(key: Int32Array): number {
    const a = key[0]!;
    const p16 = this.p16;
    if (p16 !== null) {
      const hi = a >>> 16;
      let bits = p16[hi]!;
      while (bits !== 0) {
        const top = 31 - Math.clz32(bits);
        const v = probe(this.byLen[top + 17]!, a & (-1 << (15 - top)));
        if (v >= 0) return v;
        bits &= ~(1 << top);
      }
      return this.b16![hi]!;
    }
    const lens = this.lens;
    const masks = this.masks;
    const by = this.byLen;
    for (let k = 0; k < lens.length; k++) {
      const v = probe(by[lens[k]!]!, a & masks[k]!);
      if (v >= 0) return v;
    }
    return -1;
  }

  /** Value of the longest prefix holding `a`, -1 when none does. */
  find(a: number): number {
    const p16 = this.p16;
    if (p16 !== null) {
      const hi = a >>> 16;
      let bits = p16[hi]!;
      while (bits !== 0) {
        const top = 31 - Math.clz32(bits);
        const len = top + 17;
        const v = this.byLen[len]!.get(a & lenMask(len));
        if (v >= 0) return v;
        bits &= ~(1 << top);
      }
      return this.b16![hi]!;
    }
    const lens = this.lens;
    const masks = this.masks;
    const by = this.byLen;
    for (let k = 0; k < lens.length; k++) {
      const v = by[lens[k]!]!.get(a & masks[k]!);
      if (v >= 0) return v;
    }
    return -1;
  }

  /** Value of exactly this prefix, -1 when absent. */
  exact(addr: number, len: number): number {
    const m = this.byLen[len];
    return m === null || m === undefined ? -1 : m.get(addr & lenMask(len));
  }

  /** Add or replace a prefix (the address is masked here); true when new. */
  set(addr: number, len: number, v: number): boolean {
    let m = this.byLen[len]!;
    if (m === null) {
      m = new U32Map();
      this.byLen[len] = m;
      this.relens();
    }
    const fresh = m.set(addr & lenMask(len), v);
    if (fresh) this.size++;
    if (this.p16 !== null) this.stage(addr, len, v);
    else if (this.size >= DIR16_MIN) this.build16();
    return fresh;
  }

  /** Enter one prefix into the DIR-16 stage. */
  private stage(addr: number, len: number, v: number): void {
    if (len > 16) {
      this.p16![addr >>> 16] = this.p16![addr >>> 16]! | (1 << (len - 17));
      return;
    }
    const first = (addr & lenMask(len)) >>> 16;
    const n = 1 << (16 - len);
    const b = this.b16!;
    const l = this.l16!;
    for (let s = first; s < first + n; s++) {
      if (l[s]! <= len) {
        b[s] = v;
        l[s] = len;
      }
    }
  }

  private build16(): void {
    this.p16 = new Uint32Array(65536);
    this.b16 = new Int32Array(65536).fill(-1);
    this.l16 = new Int8Array(65536).fill(-1);
    for (let len = 0; len <= 32; len++) {
      const m = this.byLen[len];
      if (m) for (const [a, v] of m.entries()) this.stage(a, len, v);
    }
  }

  delete(addr: number, len: number): boolean {
    const m = this.byLen[len];
    if (m === null || m === undefined || !m.delete(addr & lenMask(len))) return false;
    this.size--;
    if (m.size === 0) {
      this.byLen[len] = null;
      this.relens();
      // No map of that length is left to probe: its bit must go from every /16.
      if (this.p16 !== null && len > 16) {
        const clr = ~(1 << (len - 17));
        for (let s = 0; s < 65536; s++) this.p16[s] = this.p16[s]! & clr;
      }
    }
    // Above 16 a stale bit only costs a probe; at 16 or less the covered /16s find their best prefix again.
    if (this.p16 !== null && len <= 16) {
      const first = (addr & lenMask(len)) >>> 16;
      const n = 1 << (16 - len);
      for (let s = first; s < first + n; s++) {
        if (this.l16![s]! !== len) continue;
        this.b16![s] = -1;
        this.l16![s] = -1;
        for (let l = len - 1; l >= 0; l--) {
          const v = this.exact(s << 16, l);
          if (v >= 0) {
            this.b16![s] = v;
            this.l16![s] = l;
            break;
          }
        }
      }
    }
    return true;
  }

  /** [address (uint32), length, value] of every prefix, by address then length (radix order). */
  entries(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let len = 0; len <= 32; len++) {
      const m = this.byLen[len];
      if (m) for (const [a, v] of m.entries()) out.push([a, len, v]);
    }
    out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    return out;
  }

  private relens(): void {
    const l: number[] = [];
    for (let len = 32; len >= 0; len--) if (this.byLen[len] !== null) l.push(len);
    this.lens = Int32Array.from(l);
    this.masks = Int32Array.from(l.map(lenMask));
  }
}
