/**
 * A bridge's learned address table (FreeBSD's bridge_rtnode list and hash):
 * MAC address to member slot and expiry second, in typed arrays with open
 * addressing and linear probing, so a lookup or an update per frame
 * allocates nothing. Deletion shifts the following entries back (no
 * tombstones), so the table never needs rebuilding after churn.
 */

/** A free slot's `port`. */
export const RT_EMPTY = -1;

function hashMac(hi: number, lo: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x45d9f3b) ^ (lo >>> 15), 0x9e3779b1) >>> 0;
}

export class BridgeRtable {
  /** Capacity - 1 (a power of two minus one). */
  mask = 0;
  /** The address's top 16 bits, bottom 32 bits (as int32), member slot (RT_EMPTY: free) and expiry second. */
  hi = new Int32Array(0);
  lo = new Int32Array(0);
  port = new Int16Array(0);
  exp = new Float64Array(0);
  count = 0;

  constructor(maxaddr: number) {
    this.resize(maxaddr);
  }

  /** Room for `maxaddr` entries at most half full; the entries are kept. */
  resize(maxaddr: number): void {
    let cap = 16;
    while (cap < maxaddr * 2) cap *= 2;
    const { hi, lo, port, exp } = this;
    this.mask = cap - 1;
    this.hi = new Int32Array(cap);
    this.lo = new Int32Array(cap);
    this.port = new Int16Array(cap).fill(RT_EMPTY);
    this.exp = new Float64Array(cap);
    this.count = 0;
    for (let i = 0; i < port.length; i++) if (port[i] !== RT_EMPTY) this.insert(hi[i]!, lo[i]!, port[i]!, exp[i]!);
  }

  /** The entry for the address, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.mask;
    const port = this.port;
    for (let i = hashMac(hi, lo) & mask; ; i = (i + 1) & mask) {
      if (port[i] === RT_EMPTY) return -1;
      if (this.lo[i] === lo && this.hi[i] === hi) return i;
    }
  }

  /** Add an address that is not in the table (the caller checked, and keeps count under capacity). */
  insert(hi: number, lo: number, slot: number, exp: number): void {
    const mask = this.mask;
    let i = hashMac(hi, lo) & mask;
    while (this.port[i] !== RT_EMPTY) i = (i + 1) & mask;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.port[i] = slot;
    this.exp[i] = exp;
    this.count++;
  }

  /** Remove entry i; a later entry may move into i (callers scanning the table look at i again). */
  del(i: number): void {
    const mask = this.mask;
    const port = this.port;
    port[i] = RT_EMPTY;
    this.count--;
    for (let j = (i + 1) & mask; port[j] !== RT_EMPTY; j = (j + 1) & mask) {
      const k = hashMac(this.hi[j]!, this.lo[j]!) & mask;
      // j stays unless the hole at i lies between its home slot k and j (cyclically).
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (stays) continue;
      this.hi[i] = this.hi[j]!;
      this.lo[i] = this.lo[j]!;
      port[i] = port[j]!;
      this.exp[i] = this.exp[j]!;
      port[j] = RT_EMPTY;
      i = j;
    }
  }

  /** Remove the entries for which `drop(i)` holds. */
  removeWhere(drop: (i: number) => boolean): void {
    for (let i = 0; i <= this.mask; i++) {
      if (this.port[i] !== RT_EMPTY && drop(i)) {
        this.del(i);
        i--;
      }
    }
  }

  /** Age out what expires at or before second `now` (bridge_timer's rtage). */
  expire(now: number): void {
    if (this.count === 0) return;
    const exp = this.exp;
    const port = this.port;
    for (let i = 0; i <= this.mask; i++) {
      if (port[i] !== RT_EMPTY && exp[i]! <= now) {
        this.del(i);
        i--;
      }
    }
  }

  /** Keep at most `n` entries, dropping those closest to expiry (bridge_rttrim). */
  trim(n: number): void {
    if (this.count <= n) return;
    const live: Array<[number, number, number]> = [];
    for (let i = 0; i <= this.mask; i++) if (this.port[i] !== RT_EMPTY) live.push([this.exp[i]!, this.hi[i]!, this.lo[i]!]);
    live.sort((a, b) => a[0] - b[0]);
    for (const [, hi, lo] of live.slice(0, this.count - n)) this.del(this.find(hi, lo));
  }

  clear(): void {
    this.port.fill(RT_EMPTY);
    this.count = 0;
  }
}
