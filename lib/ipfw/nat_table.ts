/**
 * The link table of one NAT instance (libalias's alias_db.c): every
 * translation is a "link" from a local endpoint (lAddr:lPort) to a remote
 * one (rAddr:rPort) through an alias endpoint (aAddr:aPort). For TCP and
 * UDP the ports are ports; for ICMP echo the identifier takes the port's
 * place (lPort/aPort) and rPort is 0; for other protocols all ports are 0.
 *
 * Links live in parallel typed arrays indexed by slot (addresses as int32), with two chained
 * hashes keyed by numbers: "out" by (proto, lAddr, lPort, rAddr, rPort),
 * "in" by (proto, aAddr, aPort, rAddr, rPort). A lookup allocates nothing.
 * The table is bounded (`max`): it starts small and doubles up to it; when
 * full, `add` returns -1 and the caller counts the drop.
 *
 * Lifetimes follow alias_db.c's constants (FreeBSD 14,
 * sys/netinet/libalias/alias_db.c): ICMP_EXPIRE_TIME 60 s,
 * UDP_EXPIRE_TIME 60 s, PROTO_EXPIRE_TIME 60 s, TCP_EXPIRE_INITIAL 300 s
 * until both directions have seen a SYN, TCP_EXPIRE_CONNECTED 86400 s
 * once they have, TCP_EXPIRE_SINGLEDEAD 90 s once one side has sent FIN or
 * RST while the other is still connected, TCP_EXPIRE_DEAD 10 s once
 * neither is (SetStateIn/SetStateOut), FRAGMENT_PTR_EXPIRE_TIME 30 s. Each packet refreshes its link.
 */

export const ICMP_EXPIRE = 60;
export const UDP_EXPIRE = 60;
export const PROTO_EXPIRE = 60;
export const TCP_EXPIRE_INITIAL = 300;
export const TCP_EXPIRE_CONNECTED = 86400;
export const TCP_EXPIRE_SINGLEDEAD = 90;
export const TCP_EXPIRE_DEAD = 10;
/** FRAGMENT_PTR_EXPIRE_TIME: where an incoming datagram's later fragments go. */
export const FRAGMENT_PTR_EXPIRE = 30;
/** The pseudo-protocol of fragment links (255, reserved): aPort/lPort hold the IP id. */
export const P_FRAG = 255;

/** TCP half-connection states (libalias's ALIAS_TCP_STATE_*). */
export const TS_NOT_CONNECTED = 0;
export const TS_CONNECTED = 1;
export const TS_DISCONNECTED = 2;

const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;

const NBUCKETS = 4096;
const BMASK = NBUCKETS - 1;
const INITIAL = 256;

function hash5(p: number, a: number, ap: number, r: number, rp: number): number {
  let h = Math.imul(a ^ ((ap << 8) | p), 0x9e3779b1);
  h = Math.imul(h ^ r, 0x85ebca6b);
  h = Math.imul(h ^ rp ^ (h >>> 15), 0xc2b2ae35);
  return (h ^ (h >>> 13)) & BMASK;
}

export class NatTable {
  /** Most links the table may hold. */
  readonly max: number;
  cap = 0;
  count = 0;
  /** Links per protocol, for the `log` line (icmp, udp, tcp, other). */
  icmpLinks = 0;
  udpLinks = 0;
  tcpLinks = 0;
  protoLinks = 0;
  fragLinks = 0;

  proto = new Uint8Array(0);
  /** 0: free, 1: dynamic, 2: made from a redirect (still expires). */
  used = new Uint8Array(0);
  lAddr = new Int32Array(0);
  lPort = new Uint16Array(0);
  rAddr = new Int32Array(0);
  rPort = new Uint16Array(0);
  aAddr = new Int32Array(0);
  aPort = new Uint16Array(0);
  stIn = new Uint8Array(0);
  stOut = new Uint8Array(0);
  /** Lifetime, seconds, and the clock ms it ends at. */
  ttl = new Uint32Array(0);
  expire = new Float64Array(0);
  private outNext = new Int32Array(0);
  private inNext = new Int32Array(0);
  private readonly outHead = new Int32Array(NBUCKETS).fill(-1);
  private readonly inHead = new Int32Array(NBUCKETS).fill(-1);
  private free = new Int32Array(0);
  private nfree = 0;

  constructor(max: number) {
    this.max = max;
    this.grow(Math.min(INITIAL, max));
  }

  /** Double the arrays (a control-plane cost paid at most log2(max/256) times). */
  private grow(n: number): void {
    const old = this.cap;
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, mk: new (n: number) => T): T => {
      const b = new mk(n);
      b.set(a);
      return b;
    };
    this.proto = g(this.proto, Uint8Array);
    this.used = g(this.used, Uint8Array);
    this.lAddr = g(this.lAddr, Int32Array);
    this.lPort = g(this.lPort, Uint16Array);
    this.rAddr = g(this.rAddr, Int32Array);
    this.rPort = g(this.rPort, Uint16Array);
    this.aAddr = g(this.aAddr, Int32Array);
    this.aPort = g(this.aPort, Uint16Array);
    this.stIn = g(this.stIn, Uint8Array);
    this.stOut = g(this.stOut, Uint8Array);
    this.ttl = g(this.ttl, Uint32Array);
    this.expire = g(this.expire, Float64Array);
    this.outNext = g(this.outNext, Int32Array);
    this.inNext = g(this.inNext, Int32Array);
    const free = new Int32Array(n);
    free.set(this.free.subarray(0, this.nfree));
    let k = this.nfree;
    for (let s = n - 1; s >= old; s--) free[k++] = s;
    this.free = free;
    this.nfree = k;
    this.cap = n;
  }

  /** The live link for an outgoing packet, or -1. An expired one is removed. */
  findOut(now: number, p: number, la: number, lp: number, ra: number, rp: number): number {
    let s = this.outHead[hash5(p, la, lp, ra, rp)]!;
    while (s >= 0) {
      if (this.proto[s] === p && this.lAddr[s] === la && this.lPort[s] === lp && this.rAddr[s] === ra && this.rPort[s] === rp) {
        if (this.expire[s]! <= now) {
          this.remove(s);
          return -1;
        }
        return s;
      }
      s = this.outNext[s]!;
    }
    return -1;
  }

  /** The live link for an incoming packet to aAddr:aPort from rAddr:rPort, or -1. */
  findIn(now: number, p: number, aa: number, ap: number, ra: number, rp: number): number {
    let s = this.inHead[hash5(p, aa, ap, ra, rp)]!;
    while (s >= 0) {
      if (this.proto[s] === p && this.aAddr[s] === aa && this.aPort[s] === ap && this.rAddr[s] === ra && this.rPort[s] === rp) {
        if (this.expire[s]! <= now) {
          this.remove(s);
          return -1;
        }
        return s;
      }
      s = this.inNext[s]!;
    }
    return -1;
  }

  /** A new link (TCP starts NOT_CONNECTED both ways); -1 when the table is full. */
  add(now: number, kind: number, p: number, la: number, lp: number, ra: number, rp: number, aa: number, ap: number): number {
    if (this.nfree === 0) {
      if (this.cap >= this.max) return -1;
      this.grow(Math.min(this.max, this.cap * 2));
    }
    const s = this.free[--this.nfree]!;
    this.used[s] = kind;
    this.proto[s] = p;
    this.lAddr[s] = la;
    this.lPort[s] = lp;
    this.rAddr[s] = ra;
    this.rPort[s] = rp;
    this.aAddr[s] = aa;
    this.aPort[s] = ap;
    this.stIn[s] = TS_NOT_CONNECTED;
    this.stOut[s] = TS_NOT_CONNECTED;
    const ttl = p === 6 ? TCP_EXPIRE_INITIAL : p === 17 ? UDP_EXPIRE : p === 1 ? ICMP_EXPIRE : p === P_FRAG ? FRAGMENT_PTR_EXPIRE : PROTO_EXPIRE;
    this.ttl[s] = ttl;
    this.expire[s] = now + ttl * 1000;
    const ho = hash5(p, la, lp, ra, rp);
    this.outNext[s] = this.outHead[ho]!;
    this.outHead[ho] = s;
    const hi = hash5(p, aa, ap, ra, rp);
    this.inNext[s] = this.inHead[hi]!;
    this.inHead[hi] = s;
    this.count++;
    this.countProto(p, 1);
    return s;
  }

  private countProto(p: number, d: number): void {
    if (p === 6) this.tcpLinks += d;
    else if (p === 17) this.udpLinks += d;
    else if (p === 1) this.icmpLinks += d;
    else if (p === P_FRAG) this.fragLinks += d;
    else this.protoLinks += d;
  }

  remove(s: number): void {
    if (this.used[s] === 0) return;
    const p = this.proto[s]!;
    unlink(this.outHead, this.outNext, hash5(p, this.lAddr[s]!, this.lPort[s]!, this.rAddr[s]!, this.rPort[s]!), s);
    unlink(this.inHead, this.inNext, hash5(p, this.aAddr[s]!, this.aPort[s]!, this.rAddr[s]!, this.rPort[s]!), s);
    this.used[s] = 0;
    this.free[this.nfree++] = s;
    this.count--;
    this.countProto(p, -1);
  }

  /** A packet used link `s`: refresh its expiry and, for TCP, follow the flags (TcpMonitorIn/Out). */
  touch(s: number, now: number, incoming: boolean, flags: number): void {
    if (this.proto[s] === 6) {
      const mine = incoming ? this.stIn : this.stOut;
      const other = incoming ? this.stOut : this.stIn;
      const st = mine[s]!;
      let next = st;
      if (st === TS_NOT_CONNECTED) {
        if ((flags & TH_RST) !== 0) next = TS_DISCONNECTED;
        else if ((flags & TH_SYN) !== 0) next = TS_CONNECTED;
      } else if (st === TS_CONNECTED && (flags & (TH_FIN | TH_RST)) !== 0) next = TS_DISCONNECTED;
      if (next !== st) {
        mine[s] = next;
        if (next === TS_DISCONNECTED) this.ttl[s] = other[s] === TS_CONNECTED ? TCP_EXPIRE_SINGLEDEAD : TCP_EXPIRE_DEAD;
        else if (other[s] === TS_CONNECTED) this.ttl[s] = TCP_EXPIRE_CONNECTED;
      }
    }
    this.expire[s] = now + this.ttl[s]! * 1000;
  }

  /** Remove every link whose time is up; returns how many are left. */
  expireAll(now: number): number {
    const e = this.expire;
    const u = this.used;
    for (let s = 0; s < this.cap; s++) if (u[s] !== 0 && e[s]! <= now) this.remove(s);
    return this.count;
  }

  clear(): void {
    for (let s = 0; s < this.cap; s++) this.remove(s);
  }

  /** Live slots, for listings. */
  slots(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.cap; s++) if (this.used[s] !== 0) out.push(s);
    return out;
  }
}

function unlink(head: Int32Array, next: Int32Array, h: number, s: number): void {
  let p = head[h]!;
  if (p === s) {
    head[h] = next[s]!;
    return;
  }
  while (p >= 0) {
    const n = next[p]!;
    if (n === s) {
      next[p] = next[s]!;
      return;
    }
    p = n;
  }
}
