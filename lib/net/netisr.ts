/**
 * The deferred dispatch queue between links (FreeBSD's netisr).
 *
 * A link that hands a frame to another interface in the same process (epair,
 * loopback) does not call into the receiving image directly: it queues the
 * frame here, and the queue is drained after the current batch. That keeps
 * the call stack flat (no recursion through a chain of images), gives every
 * image its frames in its own turn, and lets a frame reference the batch
 * buffer it arrived in without a copy: a buffer handed in must stay valid
 * until the next `drain()` returns, which the TAP driver guarantees by
 * draining before it returns from its batch callback.
 *
 * Entries live in preallocated parallel arrays; queuing allocates nothing.
 */

import { VnetHdr } from '../wire/vnet.js';
import type { Ifnet, IfnetOwner } from './if.js';

/** What an entry carries: an Ethernet frame to `etherInput`, or an IPv4 packet to `ipInput`. */
export const NETISR_ETHER = 0;
export const NETISR_IP = 1;

export interface IpInputSink {
  ipInputFrom(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
}

export class Netisr {
  readonly capacity: number;
  private readonly ifp: Array<Ifnet | null>;
  private readonly buf: Array<Uint8Array | null>;
  private readonly off: Int32Array;
  private readonly len: Int32Array;
  private readonly kind: Uint8Array;
  private readonly hdr: Uint16Array; // six fields per entry
  private head = 0;
  private count = 0;
  private readonly scratch = new VnetHdr();
  private draining = false;
  /**
   * A drain is scheduled (setImmediate) and has not run yet. Draining
   * synchronously in between leaves it scheduled: frames queued after that
   * wait for it, so a run of frames costs one Immediate, not one each.
   */
  private scheduled = false;
  /** Entries refused because the queue was full. */
  drops = 0;
  /**
   * CPU accounting: time spent delivering consecutive entries for the same
   * owner (image) is charged to it, so work done in an image reached over an
   * epair is that image's, not the sender's.
   */
  account: ((owner: IfnetOwner, ms: number) => void) | null = null;
  /** The clock `account` charges by (the platform's charging clock, cpuNow). */
  cpuNow: () => number = () => 0;
  /**
   * Scheduling of frames between images (epairs): asked once per run of
   * entries for the same owner; false drops the run's Ethernet frames at the
   * receiving interface (iqdrops), as FreeBSD's netisr drops at a full queue.
   */
  admit: ((owner: IfnetOwner) => boolean) | null = null;

  constructor(capacity = 4096) {
    this.capacity = capacity;
    this.ifp = new Array<Ifnet | null>(capacity).fill(null);
    this.buf = new Array<Uint8Array | null>(capacity).fill(null);
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.hdr = new Uint16Array(capacity * 6);
  }

  get length(): number {
    return this.count;
  }

  /** Queue one frame for `ifp`'s input; false (and counted) when full. */
  enqueue(kind: number, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): boolean {
    if (this.count === this.capacity) {
      this.drops++;
      ifp.counters.iqdrops++;
      return false;
    }
    const i = (this.head + this.count) % this.capacity;
    this.ifp[i] = ifp;
    this.buf[i] = buf;
    this.off[i] = off;
    this.len[i] = len;
    this.kind[i] = kind;
    const h = i * 6;
    this.hdr[h] = meta.flags;
    this.hdr[h + 1] = meta.gsoType;
    this.hdr[h + 2] = meta.hdrLen;
    this.hdr[h + 3] = meta.gsoSize;
    this.hdr[h + 4] = meta.csumStart;
    this.hdr[h + 5] = meta.csumOffset;
    this.count++;
    if (!this.draining && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainLater);
    }
    return true;
  }

  private readonly drainLater = (): void => {
    this.scheduled = false;
    this.drain();
  };

  /** Deliver queued frames, including those queued while draining. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    const m = this.scratch;
    const account = this.account;
    let owner: IfnetOwner | null = null;
    let since = 0;
    let refused = false;
    try {
      while (this.count > 0) {
        const i = this.head;
        const ifp = this.ifp[i]!;
        if (ifp.owner !== owner) {
          if (account !== null) {
            const now = this.cpuNow();
            if (owner !== null) account(owner, now - since);
            since = now;
          }
          owner = ifp.owner;
          refused = this.admit !== null && !this.admit(owner);
        }
        const buf = this.buf[i]!;
        const h = i * 6;
        m.flags = this.hdr[h]!;
        m.gsoType = this.hdr[h + 1]!;
        m.hdrLen = this.hdr[h + 2]!;
        m.gsoSize = this.hdr[h + 3]!;
        m.csumStart = this.hdr[h + 4]!;
        m.csumOffset = this.hdr[h + 5]!;
        const off = this.off[i]!;
        const len = this.len[i]!;
        const kind = this.kind[i]!;
        this.ifp[i] = null;
        this.buf[i] = null;
        this.head = (i + 1) % this.capacity;
        this.count--;
        if (kind === NETISR_ETHER && refused) ifp.counters.iqdrops++;
        else if (kind === NETISR_ETHER) ifp.input(buf, off, len, m);
        else (ifp.owner as unknown as IpInputSink).ipInputFrom(ifp, buf, off, len, m);
      }
    } finally {
      if (account !== null && owner !== null) account(owner, this.cpuNow() - since);
      this.draining = false;
      // Left behind by an input that threw: they must not wait for the next frame.
      if (this.count > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drainLater);
      }
    }
  }
}
