/**
 * A hash table keyed by an IPv4 5-tuple (proto, addr a, addr b, port a,
 * port b) held in typed arrays, for dynamic states and dummynet flows.
 * Lookups and inserts allocate nothing once the table has grown to its
 * working size (it doubles when full). Slots are small integers the caller
 * uses to index its own parallel arrays.
 */

// The arrays of a table that has not grown yet, shared: never written (head[0] stays -1, the rest are empty).
const NO_HEAD = new Int32Array([-1]);
const NO_I32 = new Int32Array(0);
const NO_U8 = new Uint8Array(0);
const NO_U16 = new Uint16Array(0);
const NO_U32 = new Uint32Array(0);

export class FlowHash {
  private mask: number;
  private head: Int32Array;
  private next: Int32Array;
  proto: Uint8Array;
  a: Uint32Array;
  b: Uint32Array;
  pa: Uint16Array;
  pb: Uint16Array;
  /** 1 while the slot holds an entry. */
  used: Uint8Array;
  private freeTop = 0;
  private freeList: Int32Array;
  count = 0;
  /** Called with the new capacity after the slot arrays grew, so owners can grow theirs. */
  onGrow: ((cap: number) => void) | null = null;

  /**
   * `capacity` 0: nothing is allocated until the first insert (an idle
   * image's dynamic-state table costs a few shared empty arrays).
   */
  constructor(capacity = 64) {
    if (capacity === 0) {
      this.mask = 0;
      this.head = NO_HEAD;
      this.next = this.freeList = NO_I32;
      this.proto = this.used = NO_U8;
      this.a = this.b = NO_U32;
      this.pa = this.pb = NO_U16;
      return;
    }
    let cap = 16;
    while (cap < capacity) cap <<= 1;
    this.mask = cap - 1;
    this.head = new Int32Array(cap).fill(-1);
    this.next = new Int32Array(cap);
    this.proto = new Uint8Array(cap);
    this.a = new Uint32Array(cap);
    this.b = new Uint32Array(cap);
    this.pa = new Uint16Array(cap);
    this.pb = new Uint16Array(cap);
    this.used = new Uint8Array(cap);
    this.freeList = new Int32Array(cap);
    for (let s = cap - 1; s >= 0; s--) this.freeList[this.freeTop++] = s;
  }

  get capacity(): number {
    return this.used.length;
  }

  private static hash(proto: number, a: number, b: number, pa: number, pb: number): number {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
    h ^= Math.imul(b ^ (h >>> 15), 0xc2b2ae35);
    h ^= Math.imul((pa << 16) | pb, 0x27d4eb2f) ^ proto;
    h ^= h >>> 13;
    h = Math.imul(h, 0x165667b1);
    return (h ^ (h >>> 16)) >>> 0;
  }

  find(proto: number, a: number, b: number, pa: number, pb: number): number {
    let s = this.head[FlowHash.hash(proto, a, b, pa, pb) & this.mask]!;
    while (s >= 0) {
      if (this.a[s] === a && this.b[s] === b && this.pa[s] === pa && this.pb[s] === pb && this.proto[s] === proto) return s;
      s = this.next[s]!;
    }
    return -1;
  }

  /** The next entry after slot `s` with the same key (its owner told them apart by more than the key); -1 if none. */
  findNext(s: number, proto: number, a: number, b: number, pa: number, pb: number): number {
    s = this.next[s]!;
    while (s >= 0) {
      if (this.a[s] === a && this.b[s] === b && this.pa[s] === pa && this.pb[s] === pb && this.proto[s] === proto) return s;
      s = this.next[s]!;
    }
    return -1;
  }

  /** Insert a key known to be absent; returns its slot. */
  insert(proto: number, a: number, b: number, pa: number, pb: number): number {
    if (this.freeTop === 0) this.grow();
    const s = this.freeList[--this.freeTop]!;
    this.proto[s] = proto;
    this.a[s] = a;
    this.b[s] = b;
    this.pa[s] = pa;
    this.pb[s] = pb;
    this.used[s] = 1;
    const h = FlowHash.hash(proto, a, b, pa, pb) & this.mask;
    this.next[s] = this.head[h]!;
    this.head[h] = s;
    this.count++;
    return s;
  }

  remove(s: number): void {
    if (this.used[s] !== 1) return;
    const h = FlowHash.hash(this.proto[s]!, this.a[s]!, this.b[s]!, this.pa[s]!, this.pb[s]!) & this.mask;
    let p = this.head[h]!;
    if (p === s) this.head[h] = this.next[s]!;
    else {
      while (p >= 0 && this.next[p] !== s) p = this.next[p]!;
      if (p >= 0) this.next[p] = this.next[s]!;
    }
    this.used[s] = 0;
    this.freeList[this.freeTop++] = s;
    this.count--;
  }

  clear(): void {
    const cap = this.capacity;
    if (cap === 0) return;
    this.head.fill(-1);
    this.used.fill(0);
    this.freeTop = 0;
    for (let s = cap - 1; s >= 0; s--) this.freeList[this.freeTop++] = s;
    this.count = 0;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = Math.max(16, old * 2);
    const grow8 = (x: Uint8Array): Uint8Array => {
      const y = new Uint8Array(cap);
      y.set(x);
      return y;
    };
    const grow16 = (x: Uint16Array): Uint16Array => {
      const y = new Uint16Array(cap);
      y.set(x);
      return y;
    };
    const grow32 = (x: Uint32Array): Uint32Array => {
      const y = new Uint32Array(cap);
      y.set(x);
      return y;
    };
    this.proto = grow8(this.proto);
    this.used = grow8(this.used);
    this.a = grow32(this.a);
    this.b = grow32(this.b);
    this.pa = grow16(this.pa);
    this.pb = grow16(this.pb);
    this.next = new Int32Array(cap);
    this.head = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.freeList = new Int32Array(cap);
    this.freeTop = 0;
    for (let s = cap - 1; s >= old; s--) this.freeList[this.freeTop++] = s;
    for (let s = 0; s < old; s++) {
      if (this.used[s] !== 1) {
        this.freeList[this.freeTop++] = s;
        continue;
      }
      const h = FlowHash.hash(this.proto[s]!, this.a[s]!, this.b[s]!, this.pa[s]!, this.pb[s]!) & this.mask;
      this.next[s] = this.head[h]!;
      this.head[h] = s;
    }
    this.onGrow?.(cap);
  }
}
