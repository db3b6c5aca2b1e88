/**
 * dummynet(4) for one image: pipes (links with a bandwidth, a delay and a
 * loss rate), queues (weighted flowsets sharing a pipe) and the schedulers
 * that serve them, FreeBSD's model (sys/netpfil/ipfw/ip_dn_io.c):
 *
 *   pipe N   = link N + a FIFO scheduler (N+65536) + its own flowset (N+131072)
 *              `ipfw add pipe N` sends packets to that flowset
 *   queue Q  = flowset Q attached to pipe P's WF2Q+ scheduler (number P),
 *              which has a link of its own with pipe P's parameters
 *
 * A packet sent to a flowset is counted, dropped with probability plr (the
 * image's injected random), tail-dropped when its queue is full, else
 * copied into the queue. The scheduler instance hands packets to its link
 * as the bandwidth allows; each then waits out the delay and is re-injected
 * where it left the packet path. Masks split flowsets into per-flow queues
 * and schedulers into per-flow instances (each with a link of its own, as
 * FreeBSD's per-flow pipes). All timing is on the image clock through one
 * HiresTimer per image.
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { FRAME_HEADROOM } from '../netinet/ip_output.js';
import { sysctlInt } from '../sysctl.js';
import { ip4ToString } from '../wire/ipv4.js';
import { VnetHdr } from '../wire/vnet.js';
import { E, fail } from '../errors.js';
import { FlowHash } from './flowhash.js';
import { HiresTimer, TimerHeap, type HeapEntry } from './timer.js';
import type { Ipfw } from './ip_fw2.js';
import { protoName } from './rule.js';

export const dnSlotLimit = sysctlInt({
  name: 'net.inet.ip.dummynet.pipe_slot_limit',
  def: 100,
  min: 2,
  max: 1_000_000,
  descr: 'Upper limit in slots for pipe queue.',
});
export const dnByteLimit = sysctlInt({
  name: 'net.inet.ip.dummynet.pipe_byte_limit',
  def: 1_048_576,
  min: 1500,
  max: 1 << 30,
  descr: 'Upper limit in bytes for pipe queue.',
});
export const dnHashSize = sysctlInt({ name: 'net.inet.ip.dummynet.hash_size', def: 64, min: 16, max: 65536, descr: 'Default hash table size' });
export const dnIoFast = sysctlInt({
  name: 'net.inet.ip.dummynet.io_fast',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Let a packet through at once, without a copy, when its pipe has no bandwidth limit, no delay and nothing queued',
});

export const DN_MAX_ID = 0x10000;
const DEFAULT_QSIZE = 50;

/** A flow id mask (FreeBSD's ipfw_flow_id as a mask). */
export interface FlowMask {
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

const NO_MASK: FlowMask = Object.freeze({ proto: 0, src: 0, dst: 0, sport: 0, dport: 0 });

function maskIsSet(m: FlowMask): boolean {
  return m.proto !== 0 || m.src !== 0 || m.dst !== 0 || m.sport !== 0 || m.dport !== 0;
}

/** One queued packet: a copy of the IP packet plus where to put it back. Pooled. */
class DnPkt {
  buf: Uint8Array;
  off = FRAME_HEADROOM;
  len = 0;
  readonly meta = new VnetHdr();
  out = false;
  rcvif: Ifnet | null = null;
  outif: Ifnet | null = null;
  nexthop = 0;
  mtu = 0;
  ruleNum = 0;
  /** Clock ms when the packet leaves the delay line. */
  outTime = 0;
  next: DnPkt | null = null;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
}

/** An intrusive FIFO of packets. */
class PktList {
  head: DnPkt | null = null;
  tail: DnPkt | null = null;
  n = 0;
  bytes = 0;

  push(p: DnPkt): void {
    p.next = null;
    if (this.tail === null) this.head = p;
    else this.tail.next = p;
    this.tail = p;
    this.n++;
    this.bytes += p.len;
  }

  shift(): DnPkt | null {
    const p = this.head;
    if (p === null) return null;
    this.head = p.next;
    if (this.head === null) this.tail = null;
    p.next = null;
    this.n--;
    this.bytes -= p.len;
    return p;
  }
}

/** Per-flow counters as `pipe show` prints them (FreeBSD's dn_flow). */
class FlowCounters {
  totPkts = 0;
  totBytes = 0;
  drops = 0;
  /** Packets and bytes waiting now. */
  length = 0;
  lenBytes = 0;
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  bucket = 0;
}

/** dn_queue: one flow of a flowset, inside one scheduler instance. */
class FlowQueue {
  readonly q = new PktList();
  /** A FIFO instance's queue shares the instance's counters. */
  ni = new FlowCounters();
  /** WF2Q+ start and finish tags. */
  S = 0;
  F = 0;
  active = false;
  constructor(
    readonly fs: Flowset,
    readonly si: SchedInst,
  ) {}
}

/** dn_fs: a flowset (the pipe's own, or a `queue N`). */
export class Flowset {
  qsize = DEFAULT_QSIZE;
  qbytes = false;
  plr = 0;
  weight: number;
  mask: FlowMask = NO_MASK;
  hasMask = false;
  buckets = 0;
  /** Pipe number this flowset feeds (queues); the pipe itself for pipe flowsets. */
  schedNr: number;
  readonly flows = new FlowHash(16);
  queues: Array<FlowQueue | null> = [];
  constructor(
    readonly nr: number,
    schedNr: number,
    readonly isPipe: boolean,
  ) {
    this.schedNr = schedNr;
    this.weight = isPipe ? 0 : 1;
  }
}

/** dn_sch_inst: one instance of a scheduler with its own link state. */
class SchedInst implements HeapEntry {
  wakeAt = 0;
  heapIdx = -1;
  /** Clock ms at which the link can start sending the next packet. */
  txFree = -Infinity;
  readonly delayLine = new PktList();
  readonly ni = new FlowCounters();
  /** FIFO: the one queue. WF2Q+: backlogged queues. */
  fifo: FlowQueue | null = null;
  readonly active: FlowQueue[] = [];
  V = 0;
  wsum = 0;
  /** Packets queued in all queues of this instance. */
  backlog = 0;
  constructor(readonly sched: Sched) {}
}

/** A scheduler bound to a link: FIFO (pipe N) or WF2Q+ (queues of pipe N). */
class Sched {
  readonly flows = new FlowHash(16);
  insts: Array<SchedInst | null> = [];
  constructor(
    readonly nr: number,
    readonly fifo: boolean,
    readonly pipe: Pipe,
  ) {}
}

/** A pipe: link parameters and its two schedulers. */
export class Pipe {
  bw = 0;
  delay = 0;
  mask: FlowMask = NO_MASK;
  hasMask = false;
  buckets = 0;
  readonly fifo: Sched;
  readonly wf2q: Sched;
  readonly fs: Flowset;
  constructor(readonly nr: number) {
    this.fifo = new Sched(nr + DN_MAX_ID, true, this);
    this.wf2q = new Sched(nr, false, this);
    this.fs = new Flowset(nr + 2 * DN_MAX_ID, nr + DN_MAX_ID, true);
  }
}

export interface PipeConfig {
  bw?: number;
  delay?: number;
  plr?: number;
  qsize?: number;
  qbytes?: boolean;
  mask?: FlowMask;
  buckets?: number;
  weight?: number;
  pipe?: number;
}

const POOL_MAX = 1024;

export class Dummynet {
  readonly pipes = new Map<number, Pipe>();
  readonly queues = new Map<number, Flowset>();
  readonly heap = new TimerHeap<SchedInst>();
  readonly timer: HiresTimer;
  private readonly pool: DnPkt[] = [];
  /** Packets dropped because their interface left the image while queued. */
  orphans = 0;
  /** Packets sent at once by the io_fast path. */
  fastPath = 0;

  constructor(
    private readonly im: Image,
    private readonly fw: Ipfw,
  ) {
    this.timer = new HiresTimer(im.clock, this.onTimer);
  }

  destroy(): void {
    this.timer.destroy();
    this.heap.clear();
    this.pipes.clear();
    this.queues.clear();
    this.pool.length = 0;
  }

  // ----------------------------------------------------- configuration

  configPipe(nr: number, c: PipeConfig): Pipe {
    let p = this.pipes.get(nr);
    if (p === undefined) {
      p = new Pipe(nr);
      this.pipes.set(nr, p);
    }
    if (c.bw !== undefined) p.bw = c.bw;
    if (c.delay !== undefined) p.delay = c.delay;
    applyFs(p.fs, c);
    if (c.mask !== undefined) {
      p.mask = c.mask;
      p.hasMask = maskIsSet(c.mask);
      p.buckets = p.hasMask ? (c.buckets ?? this.im.sysctl.v[dnHashSize.slot]!) : 0;
      // New masks make new instances: what was queued goes.
      this.resetSched(p.fifo);
      this.resetSched(p.wf2q);
    }
    return p;
  }

  configQueue(nr: number, c: PipeConfig): Flowset {
    let fs = this.queues.get(nr);
    if (fs === undefined) {
      if (c.pipe === undefined) fail(E.BAD_ARGUMENT, 'a new queue needs a pipe: ipfw queue N config pipe P');
      fs = new Flowset(nr, c.pipe, false);
      this.queues.set(nr, fs);
    }
    if (c.pipe !== undefined && c.pipe !== fs.schedNr) {
      this.resetFs(fs);
      fs.schedNr = c.pipe;
    }
    applyFs(fs, c);
    if (c.weight !== undefined) fs.weight = c.weight;
    if (c.mask !== undefined) {
      this.resetFs(fs);
      fs.mask = c.mask;
      fs.hasMask = maskIsSet(c.mask);
      fs.buckets = fs.hasMask ? (c.buckets ?? this.im.sysctl.v[dnHashSize.slot]!) : 1;
    }
    return fs;
  }

  deletePipe(nr: number): boolean {
    const p = this.pipes.get(nr);
    if (p === undefined) return false;
    this.resetSched(p.fifo);
    this.resetSched(p.wf2q);
    this.pipes.delete(nr);
    return true;
  }

  deleteQueue(nr: number): boolean {
    const fs = this.queues.get(nr);
    if (fs === undefined) return false;
    this.resetFs(fs);
    this.queues.delete(nr);
    return true;
  }

  flush(): void {
    for (const nr of [...this.pipes.keys()]) this.deletePipe(nr);
    for (const nr of [...this.queues.keys()]) this.deleteQueue(nr);
  }

  /** Drop every instance of a scheduler with what it holds. */
  private resetSched(s: Sched): void {
    for (const si of s.insts) {
      if (si === null) continue;
      this.heap.remove(si);
      this.dropList(si.delayLine);
      for (const q of si.active) this.dropList(q.q);
      if (si.fifo !== null) this.dropList(si.fifo.q);
    }
    s.insts = [];
    s.flows.clear();
    for (const fs of this.queues.values()) if (fs.schedNr === s.nr && !s.fifo) this.forgetQueues(fs);
    if (s.fifo) this.forgetQueues(s.pipe.fs);
  }

  /** A flowset leaves its scheduler: its queued packets go. */
  private resetFs(fs: Flowset): void {
    for (const q of fs.queues) {
      if (q === null) continue;
      const si = q.si;
      if (q.active) {
        const k = si.active.indexOf(q);
        if (k >= 0) si.active.splice(k, 1);
        si.wsum -= Math.max(1, fs.weight);
        q.active = false;
      }
      si.backlog -= q.q.n;
      si.ni.length -= q.q.n;
      si.ni.lenBytes -= q.q.bytes;
      this.dropList(q.q);
    }
    this.forgetQueues(fs);
  }

  private forgetQueues(fs: Flowset): void {
    fs.queues = [];
    fs.flows.clear();
  }

  private dropList(l: PktList): void {
    for (let p = l.shift(); p !== null; p = l.shift()) this.free(p);
  }

  // ------------------------------------------------------------ packets

  /**
   * Send a packet to `pipe N` (isPipe) or `queue N`. False when that pipe or
   * queue does not exist (the caller drops the packet). The packet is copied
   * unless the io_fast path lets it through at once.
   */
  enqueue(isPipe: boolean, nr: number, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number, proto: number, src: number, dst: number, sport: number, dport: number): boolean {
    let fs: Flowset;
    let sched: Sched;
    if (isPipe) {
      const p = this.pipes.get(nr);
      if (p === undefined) return false;
      fs = p.fs;
      sched = p.fifo;
    } else {
      const q = this.queues.get(nr);
      if (q === undefined) return false;
      const p = this.pipes.get(q.schedNr);
      if (p === undefined) return false;
      fs = q;
      sched = p.wf2q;
    }
    const pipe = sched.pipe;
    const now = this.im.clock.now();
    const si = this.instance(sched, proto, src, dst, sport, dport);
    const fq = this.flowQueue(fs, si, proto, src, dst, sport, dport);
    const ni = fq.ni;
    const sni = si.ni;
    ni.totPkts++;
    ni.totBytes += len;
    if (fq.ni !== sni) {
      sni.totPkts++;
      sni.totBytes += len;
    }
    if (fs.plr > 0 && this.im.registry.random() < fs.plr) return this.drop(fq, si);
    if (fs.qbytes ? fq.q.bytes + len > fs.qsize : fq.q.n >= fs.qsize) return this.drop(fq, si);
    if (
      pipe.bw === 0 &&
      pipe.delay === 0 &&
      si.backlog === 0 &&
      si.delayLine.n === 0 &&
      this.im.sysctl.v[dnIoFast.slot] !== 0
    ) {
      // io_fast: nothing to wait for; the packet goes on from here, uncopied.
      this.fastPath++;
      this.fw.reinject(out, rcvif, outif, nexthop, buf, off, len, mtu, meta, ruleNum);
      return true;
    }
    const pk = this.alloc(len);
    pk.buf.set(buf.subarray(off, off + len), pk.off);
    pk.len = len;
    const m = pk.meta;
    m.flags = meta.flags;
    m.gsoType = meta.gsoType;
    m.hdrLen = meta.hdrLen;
    m.gsoSize = meta.gsoSize;
    m.csumStart = meta.csumStart;
    m.csumOffset = meta.csumOffset;
    pk.out = out;
    pk.rcvif = rcvif;
    pk.outif = outif;
    pk.nexthop = nexthop;
    pk.mtu = mtu;
    pk.ruleNum = ruleNum;
    if (si.backlog === 0 && si.txFree < now) si.txFree = now; // the link was idle
    fq.q.push(pk);
    ni.length++;
    ni.lenBytes += len;
    if (fq.ni !== sni) {
      sni.length++;
      sni.lenBytes += len;
    }
    si.backlog++;
    if (!si.sched.fifo && !fq.active) {
      // WF2Q+: a queue becoming backlogged gets its start and finish tags.
      const w = Math.max(1, fs.weight);
      fq.S = Math.max(fq.F, si.V);
      fq.F = fq.S + len / w;
      fq.active = true;
      si.active.push(fq);
      si.wsum += w;
    }
    this.serve(si, now);
    return true;
  }

  private drop(fq: FlowQueue, si: SchedInst): true {
    fq.ni.drops++;
    if (fq.ni !== si.ni) si.ni.drops++;
    return true;
  }

  /** The scheduler instance for this packet (per flow when the pipe has a mask). */
  private instance(s: Sched, proto: number, src: number, dst: number, sport: number, dport: number): SchedInst {
    const p = s.pipe;
    let slot: number;
    if (!p.hasMask) {
      slot = s.flows.find(0, 0, 0, 0, 0);
      if (slot < 0) slot = this.newInst(s, 0, 0, 0, 0, 0);
    } else {
      const m = p.mask;
      const a = proto & m.proto;
      const b = (src & m.src) >>> 0;
      const c = (dst & m.dst) >>> 0;
      const d = sport & m.sport;
      const e = dport & m.dport;
      slot = s.flows.find(a, b, c, d, e);
      if (slot < 0) slot = this.newInst(s, a, b, c, d, e);
    }
    return s.insts[slot]!;
  }

  private newInst(s: Sched, proto: number, src: number, dst: number, sport: number, dport: number): number {
    const slot = s.flows.insert(proto, src, dst, sport, dport);
    const si = new SchedInst(s);
    const ni = si.ni;
    ni.proto = proto;
    ni.src = src;
    ni.dst = dst;
    ni.sport = sport;
    ni.dport = dport;
    ni.bucket = slot;
    s.insts[slot] = si;
    return slot;
  }

  /** The flow queue of a flowset in an instance (per flow when the flowset has a mask). */
  private flowQueue(fs: Flowset, si: SchedInst, proto: number, src: number, dst: number, sport: number, dport: number): FlowQueue {
    if (si.sched.fifo) {
      // A FIFO instance has one queue, counted as the instance itself.
      if (si.fifo === null) {
        si.fifo = new FlowQueue(fs, si);
        si.fifo.ni = si.ni;
      }
      return si.fifo;
    }
    const m = fs.hasMask ? fs.mask : NO_MASK;
    const sm = si.sched.pipe.hasMask ? si.sched.pipe.mask : NO_MASK;
    const a = proto & (m.proto | sm.proto);
    const b = (src & (m.src | sm.src)) >>> 0;
    const c = (dst & (m.dst | sm.dst)) >>> 0;
    const d = sport & (m.sport | sm.sport);
    const e = dport & (m.dport | sm.dport);
    let slot = fs.flows.find(a, b, c, d, e);
    if (slot < 0) {
      slot = fs.flows.insert(a, b, c, d, e);
      const q = new FlowQueue(fs, si);
      const ni = q.ni;
      ni.proto = proto & m.proto;
      ni.src = (src & m.src) >>> 0;
      ni.dst = (dst & m.dst) >>> 0;
      ni.sport = sport & m.sport;
      ni.dport = dport & m.dport;
      ni.bucket = slot;
      fs.queues[slot] = q;
    }
    return fs.queues[slot]!;
  }

  /** Next packet to put on the link: FIFO order, or WF2Q+ among backlogged queues. */
  private dequeue(si: SchedInst): DnPkt | null {
    let fq: FlowQueue | null;
    if (si.sched.fifo) fq = si.fifo;
    else {
      const act = si.active;
      if (act.length === 0) return null;
      // Eligible queues have S <= V; among them the smallest F goes first.
      let best: FlowQueue | null = null;
      let minS = Infinity;
      for (let k = 0; k < act.length; k++) {
        const q = act[k]!;
        if (q.S < minS) minS = q.S;
        if (q.S <= si.V && (best === null || q.F < best.F)) best = q;
      }
      if (best === null) {
        si.V = minS;
        for (let k = 0; k < act.length; k++) {
          const q = act[k]!;
          if (q.S <= si.V && (best === null || q.F < best.F)) best = q;
        }
      }
      fq = best;
    }
    if (fq === null) return null;
    const p = fq.q.shift();
    if (p === null) return null;
    si.backlog--;
    fq.ni.length--;
    fq.ni.lenBytes -= p.len;
    if (fq.ni !== si.ni) {
      si.ni.length--;
      si.ni.lenBytes -= p.len;
    }
    if (!si.sched.fifo) {
      const w = Math.max(1, fq.fs.weight);
      si.V += p.len / si.wsum;
      const next = fq.q.head;
      if (next === null) {
        fq.active = false;
        si.active.splice(si.active.indexOf(fq), 1);
        si.wsum -= w;
      } else {
        fq.S = fq.F;
        fq.F = fq.S + next.len / w;
      }
    }
    return p;
  }

  /**
   * Move packets on: onto the link while it is free, out of the delay line
   * when their time has come; then arm the timer for what is next.
   */
  private serve(si: SchedInst, now: number): void {
    const pipe = si.sched.pipe;
    const bw = pipe.bw;
    while (si.backlog > 0 && si.txFree <= now) {
      const p = this.dequeue(si);
      if (p === null) break;
      const tx = bw > 0 ? (p.len * 8 * 1000) / bw : 0;
      si.txFree += tx;
      p.outTime = si.txFree + pipe.delay;
      si.delayLine.push(p);
    }
    // Detach what is due before re-injecting: re-injection may come back here.
    let due: DnPkt | null = null;
    let dueTail: DnPkt | null = null;
    const dl = si.delayLine;
    while (dl.head !== null && dl.head.outTime <= now) {
      const p = dl.shift()!;
      if (dueTail === null) due = p;
      else dueTail.next = p;
      dueTail = p;
    }
    let next = Infinity;
    if (dl.head !== null) next = dl.head.outTime;
    if (si.backlog > 0 && si.txFree < next) next = si.txFree;
    if (next === Infinity) this.heap.remove(si);
    else this.heap.set(si, next);
    this.rearm();
    while (due !== null) {
      const p: DnPkt = due;
      due = p.next;
      this.output(p);
    }
  }

  private output(p: DnPkt): void {
    const owner = this.im;
    const ifp = p.out ? p.outif : p.rcvif;
    if (ifp === null || ifp.owner !== owner) this.orphans++;
    else this.fw.reinject(p.out, p.rcvif, p.outif, p.nexthop, p.buf, p.off, p.len, p.mtu, p.meta, p.ruleNum);
    this.free(p);
  }

  private rearm(): void {
    const top = this.heap.peek();
    if (top === undefined) this.timer.cancel();
    else if (top.wakeAt !== this.timer.armedFor) this.timer.arm(top.wakeAt);
  }

  private readonly onTimer = (): void => {
    const now = this.im.clock.now();
    for (let top = this.heap.peek(); top !== undefined && top.wakeAt <= now; top = this.heap.peek()) {
      this.heap.remove(top);
      this.serve(top, now);
    }
    this.rearm();
    // Deliver what the released packets queued for other images now, as a TAP batch does.
    this.im.netisr.drain();
  };

  private alloc(len: number): DnPkt {
    const need = FRAME_HEADROOM + len;
    const p = this.pool.pop();
    if (p !== undefined) {
      if (p.buf.length < need) p.buf = new Uint8Array(need <= 2048 ? 2048 : FRAME_HEADROOM + 65536);
      return p;
    }
    return new DnPkt(need <= 2048 ? 2048 : Math.max(need, FRAME_HEADROOM + 65536));
  }

  private free(p: DnPkt): void {
    p.rcvif = null;
    p.outif = null;
    p.next = null;
    if (this.pool.length < POOL_MAX) this.pool.push(p);
  }

  // ------------------------------------------------------------ listing

  /** `ipfw pipe show` (FreeBSD 14 layout). `only` limits to those pipes. */
  showPipes(only?: (nr: number) => boolean): string {
    const out: string[] = [];
    const hdr = { printed: false };
    for (const p of [...this.pipes.values()].sort((a, b) => a.nr - b.nr)) {
      if (only !== undefined && !only(p.nr)) continue;
      out.push(linkLine(p.nr, p));
      out.push(fsLine(p.fs, 0));
      out.push(schedLine(p.fifo));
      if (p.hasMask) out.push(maskLine(p.mask));
      for (const si of p.fifo.insts) if (si !== null) flowLines(out, si.ni, hdr);
    }
    return out.map((l) => l + '\n').join('');
  }

  /** `ipfw queue show`. */
  showQueues(only?: (nr: number) => boolean): string {
    const out: string[] = [];
    const hdr = { printed: false };
    for (const fs of [...this.queues.values()].sort((a, b) => a.nr - b.nr)) {
      if (only !== undefined && !only(fs.nr)) continue;
      const qs = fs.queues.filter((q): q is FlowQueue => q !== null);
      out.push(fsLine(fs, qs.length));
      if (fs.hasMask) out.push(maskLine(fs.mask));
      for (const q of qs) flowLines(out, q.ni, hdr);
    }
    return out.map((l) => l + '\n').join('');
  }

  /** `ipfw sched show`: the WF2Q+ schedulers of pipes that have queues. */
  showScheds(only?: (nr: number) => boolean): string {
    const out: string[] = [];
    const hdr = { printed: false };
    for (const p of [...this.pipes.values()].sort((a, b) => a.nr - b.nr)) {
      if (only !== undefined && !only(p.nr)) continue;
      out.push(linkLine(p.nr, p));
      out.push(schedLine(p.wf2q));
      if (p.hasMask) out.push(maskLine(p.mask));
      const children = [...this.queues.values()].filter((q) => q.schedNr === p.nr).map((q) => q.nr);
      if (children.length > 0) out.push(`   Children flowsets: ${children.map((c) => `${c} `).join('')}`);
      for (const si of p.wf2q.insts) if (si !== null) flowLines(out, si.ni, hdr);
    }
    return out.map((l) => l + '\n').join('');
  }

  /** For --json. */
  snapshot(): unknown {
    const flow = (n: FlowCounters): Record<string, unknown> => ({
      proto: n.proto,
      src: `${ip4ToString(n.src)}/${n.sport}`,
      dst: `${ip4ToString(n.dst)}/${n.dport}`,
      totPkts: n.totPkts,
      totBytes: n.totBytes,
      pkts: n.length,
      bytes: n.lenBytes,
      drops: n.drops,
    });
    return {
      pipes: [...this.pipes.values()].map((p) => ({
        pipe: p.nr,
        bandwidth: p.bw,
        delayMs: p.delay,
        plr: p.fs.plr,
        queue: p.fs.qsize,
        queueUnit: p.fs.qbytes ? 'bytes' : 'slots',
        flows: p.fifo.insts.filter((s): s is SchedInst => s !== null).map((s) => flow(s.ni)),
      })),
      queues: [...this.queues.values()].map((q) => ({
        queue: q.nr,
        pipe: q.schedNr,
        weight: q.weight,
        plr: q.plr,
        queue_size: q.qsize,
        flows: q.queues.filter((x): x is FlowQueue => x !== null).map((x) => flow(x.ni)),
      })),
      timer: this.timer.accuracy,
    };
  }
}

function applyFs(fs: Flowset, c: PipeConfig): void {
  if (c.plr !== undefined) fs.plr = c.plr;
  if (c.qsize !== undefined) {
    fs.qsize = c.qsize;
    fs.qbytes = c.qbytes ?? false;
  }
}

/** `%7.3f Mbit/s` and friends, or `unlimited     `. */
function bwText(b: number): string {
  if (b === 0) return 'unlimited     ';
  if (b >= 1e9) return `${(b / 1e9).toFixed(3).padStart(7)} Gbit/s`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(3).padStart(7)} Mbit/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(3).padStart(7)} Kbit/s`;
  return `${b.toFixed(3).padStart(7)} bit/s `;
}

function linkLine(nr: number, p: Pipe): string {
  return `${String(nr % DN_MAX_ID).padStart(5, '0')}: ${bwText(p.bw)} ${String(p.delay).padStart(4)} ms burst 0`;
}

function fsLine(fs: Flowset, flows: number): string {
  const qs = fs.qbytes ? (fs.qsize >= 8192 ? `${Math.floor(fs.qsize / 1024)} KB` : `${fs.qsize} B`) : `${String(fs.qsize).padStart(3)} sl.`;
  const plr = fs.plr > 0 ? `plr ${(Math.trunc(fs.plr * 0x7fffffff) / 0x7fffffff).toFixed(6)}` : '';
  const buckets = fs.isPipe ? 1 : fs.hasMask ? fs.buckets : 1;
  return `q${String(fs.nr).padStart(5, '0')} ${qs}${plr} ${flows} flows (${buckets} buckets) sched ${fs.schedNr} weight ${fs.weight} lmax 0 pri 0 droptail`;
}

function schedLine(s: Sched): string {
  const p = s.pipe;
  const active = s.insts.filter((x) => x !== null).length;
  return ` sched ${s.nr} type ${s.fifo ? 'FIFO' : 'WF2Q+'} flags 0x${p.hasMask ? 1 : 0} ${p.hasMask ? p.buckets : 0} buckets ${active} active`;
}

const hex = (v: number, w: number): string => '0x' + (v >>> 0).toString(16).padStart(w, '0');

function maskLine(m: FlowMask): string {
  return `    mask:  ${hex(m.proto, 2)} ${hex(m.src, 8)}/${hex(m.sport, 4)} -> ${hex(m.dst, 8)}/${hex(m.dport, 4)}`;
}

function flowLines(out: string[], n: FlowCounters, hdr: { printed: boolean }): void {
  if (!hdr.printed) {
    out.push('BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp');
    hdr.printed = true;
  }
  const name = protoName(n.proto);
  let s = `${String(n.bucket & 0xff).padStart(3)} `;
  s += name !== undefined ? `${name.padEnd(4)} ` : `${String(n.proto).padStart(4)} `;
  s += `${ip4ToString(n.src).padStart(15)}/${String(n.sport).padEnd(5)} `;
  s += `${ip4ToString(n.dst).padStart(15)}/${String(n.dport).padEnd(5)} `;
  s += `${String(n.totPkts).padStart(4)} ${String(n.totBytes).padStart(8)} `;
  s += `${String(n.length).padStart(2)} ${String(n.lenBytes).padStart(4)} ${String(n.drops).padStart(3)}`;
  out.push(s);
}
