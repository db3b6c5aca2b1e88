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
 *
 * `sched N config type T` gives scheduler N another type (dn_sched_all.ts:
 * FIFO, WF2Q+, RR, QFQ, PRIO, FQ_CODEL, FQ_PIE); a flowset may manage its
 * queues with RED/GRED, CoDel or PIE (dn_aqm_*.ts). A link may let `burst`
 * bytes through at line rate after idling, and add an empirical extra
 * delay (`profile`) that occupies it, as FreeBSD's extra_bits does.
 *
 * This file is configuration and I/O (FreeBSD's ip_dummynet.c and
 * ip_dn_io.c); the objects are in dn_private.ts, the schedulers behind
 * dn_sched.ts's interface, the listings in dn_show.ts.
 */

import type { FwPktTags } from './ip_fw_actions.js';
import type { Vnet } from '../net/vnet.js';
import type { Ifnet } from '../net/if.js';
import { sysctlInt } from '../sysctl.js';
import type { VnetHdr } from '../wire/vnet.js';
import { E, fail } from '../errors.js';
import { DN_HEADROOM, DnPkt, FlowQueue, Flowset, NO_MASK, Pipe, SchedInst, maskIsSet, type PktList, type PipeConfig, type Sched } from './dn_private.js';
import type { DnAqm, DnSink } from './dn_sched.js';
import { FIFO, WF2Q, schedType } from './dn_sched_all.js';
import { Codel } from './dn_aqm_codel.js';
import { Pie } from './dn_aqm_pie.js';
import { Red } from './dn_aqm_red.js';
import type { AqmConfig } from './dn_params.js';
import { HiresTimer, TimerHeap } from './timer.js';

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

export { DN_MAX_ID, Flowset, Pipe, type FlowMask, type PipeConfig } from './dn_private.js';

const POOL_MAX = 1024;

/** Where a packet dummynet lets go continues: ipfw's hook (the rest of the chain, then the path it left). */
export interface DnReinject {
  reinject(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number): void;
}

export class Dummynet implements DnSink {
  readonly pipes = new Map<number, Pipe>();
  readonly queues = new Map<number, Flowset>();
  readonly heap = new TimerHeap<SchedInst>();
  readonly timer: HiresTimer;
  private readonly pool: DnPkt[] = [];
  /** ipfw's tags and call stack of the packet being checked, carried through the pipes (set by Ipfw). */
  pktTags: FwPktTags | null = null;
  /** Packets dropped because their interface left the image while queued. */
  orphans = 0;
  /** Packets sent at once by the io_fast path. */
  fastPath = 0;
  /** Packets a delay profile's loss-level lost. */
  profileLost = 0;

  constructor(
    private readonly im: Vnet,
    private readonly io: DnReinject,
  ) {
    this.timer = new HiresTimer(im.clock, this.onTimer);
  }

  random(): number {
    return this.im.random();
  }

  /** A scheduler or AQM dropped a queued packet. */
  dropQueued(si: SchedInst, p: DnPkt): void {
    this.uncount(si, p);
    const fq = p.fq;
    if (fq !== null) {
      fq.ni.drops++;
      if (fq.ni !== si.ni) si.ni.drops++;
    }
    this.free(p);
  }

  /** A packet leaves its queue (to the link, or dropped). */
  private uncount(si: SchedInst, p: DnPkt): void {
    si.backlog--;
    const fq = p.fq;
    if (fq === null) return;
    fq.ni.length--;
    fq.ni.lenBytes -= p.len;
    if (fq.ni !== si.ni) {
      si.ni.length--;
      si.ni.lenBytes -= p.len;
    }
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
    const p = this.pipe(nr);
    if (c.bw !== undefined) p.bw = c.bw;
    if (c.delay !== undefined) p.delay = c.delay;
    if (c.burst !== undefined) p.burst = c.burst;
    if (c.profile !== undefined) p.profile = c.profile;
    if (c.profile?.bw !== undefined && c.bw === undefined) p.bw = c.profile.bw;
    if (c.aqm !== undefined) this.resetSched(p.fifo);
    applyFs(p.fs, c);
    // `pipe N config type T` sets scheduler N's type, as FreeBSD's pipe config carries a scheduler.
    if (c.type !== undefined || c.sched !== undefined) {
      const sc: PipeConfig = {};
      if (c.type !== undefined) sc.type = c.type;
      if (c.sched !== undefined) sc.sched = c.sched;
      this.configSched(nr, sc);
    }
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

  private pipe(nr: number): Pipe {
    let p = this.pipes.get(nr);
    if (p === undefined) {
      p = new Pipe(nr, FIFO, WF2Q, {});
      this.pipes.set(nr, p);
    }
    return p;
  }

  /**
   * `sched N config`: the type and parameters of scheduler N (made with an
   * unlimited link N when there is no pipe N yet, as FreeBSD does). A new
   * type or new parameters make new instances: what was queued goes.
   */
  configSched(nr: number, c: PipeConfig): Pipe {
    const p = this.pipe(nr);
    const s = p.wf2q;
    if (c.type !== undefined) {
      const t = schedType(c.type);
      if (t === undefined) fail(E.BAD_ARGUMENT, `sched ${nr}: unknown scheduler type ${c.type}`);
      if (t !== s.type) {
        this.resetSched(s);
        s.type = t;
      }
    }
    if (c.sched !== undefined) {
      this.resetSched(s);
      s.params = c.sched;
    }
    if (c.bw !== undefined) p.bw = c.bw;
    if (c.delay !== undefined) p.delay = c.delay;
    if (c.burst !== undefined) p.burst = c.burst;
    if (c.mask !== undefined) {
      p.mask = c.mask;
      p.hasMask = maskIsSet(c.mask);
      p.buckets = p.hasMask ? (c.buckets ?? this.im.sysctl.v[dnHashSize.slot]!) : 0;
      this.resetSched(p.fifo);
      this.resetSched(s);
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
    if (c.aqm !== undefined || c.weight !== undefined || c.lmax !== undefined) this.resetFs(fs);
    applyFs(fs, c);
    if (c.weight !== undefined) fs.weight = c.weight;
    if (c.lmax !== undefined) fs.lmax = c.lmax;
    if (c.pri !== undefined) fs.pri = c.pri;
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
      si.alg.flush(this.freeFn);
      if (si.fifo !== null) this.dropList(si.fifo.q);
    }
    s.insts = [];
    s.flows.clear();
    for (const fs of this.queues.values()) if (fs.schedNr === s.nr && !s.fifo) this.forgetQueues(fs);
    if (s.fifo) this.forgetQueues(s.pipe.fs);
  }

  /** A flowset leaves its scheduler: its queued packets go. */
  private resetFs(fs: Flowset): void {
    const p = this.pipes.get(fs.schedNr);
    // A single-queue scheduler mixes its flowsets' packets: it starts again.
    if (!fs.isPipe && p !== undefined && p.wf2q.type.single) this.resetSched(p.wf2q);
    for (const q of fs.queues) {
      if (q === null) continue;
      const si = q.si;
      si.alg.remove(q);
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

  private readonly freeFn = (p: DnPkt): void => this.free(p);

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
    if (fs.plr > 0 && this.im.random() < fs.plr) return this.drop(fq, si);
    if (!sched.type.ownQueues) {
      if (fs.qbytes ? fq.q.bytes + len > fs.qsize : fq.q.n >= fs.qsize) return this.drop(fq, si);
      if (fq.aqm !== null && !fq.aqm.admit(si, fq.q, buf, off, len, now)) return this.drop(fq, si);
    }
    if (
      pipe.bw === 0 &&
      pipe.delay === 0 &&
      pipe.profile === null &&
      si.backlog === 0 &&
      si.delayLine.n === 0 &&
      this.im.sysctl.v[dnIoFast.slot] !== 0
    ) {
      // io_fast: nothing to wait for; the packet goes on from here, uncopied.
      this.fastPath++;
      if (this.pktTags !== null) this.pktTags.carried = true;
      this.io.reinject(out, rcvif, outif, nexthop, buf, off, len, mtu, meta, ruleNum);
      return true;
    }
    const pk = this.alloc(len);
    pk.buf.set(buf.subarray(off, off + len), pk.off);
    pk.len = len;
    pk.meta.copyFrom(meta);
    pk.out = out;
    pk.rcvif = rcvif;
    pk.outif = outif;
    pk.nexthop = nexthop;
    pk.mtu = mtu;
    pk.ruleNum = ruleNum;
    if (this.pktTags !== null) pk.ftag.copyFrom(this.pktTags);
    pk.enqTime = now;
    pk.fq = fq;
    pk.hash = flowHash(proto, src, dst, sport, dport);
    if (si.backlog === 0 && si.txFree < now) {
      // The link was idle: it may have earned burst credit (FreeBSD's si->credit), then restarts now.
      if (pipe.burst > 0 && pipe.bw > 0) si.credit = Math.min(pipe.burst * 8, si.credit + ((now - si.txFree) * pipe.bw) / 1000);
      si.txFree = now;
    }
    if (!si.alg.enqueue(fq, pk, now)) {
      this.free(pk);
      return this.drop(fq, si);
    }
    ni.length++;
    ni.lenBytes += len;
    if (fq.ni !== sni) {
      sni.length++;
      sni.lenBytes += len;
    }
    si.backlog++;
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
    const si = new SchedInst(s, this);
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
    if (si.sched.type.single) {
      // A FIFO (or fq_*) instance has one queue, counted as the instance itself.
      if (si.fifo === null) {
        si.fifo = new FlowQueue(fs, si);
        si.fifo.ni = si.ni;
        if (!si.sched.type.ownQueues) si.fifo.aqm = newAqm(fs.aqm, fs.qbytes);
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
      q.aqm = newAqm(fs.aqm, fs.qbytes);
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

  /**
   * Move packets on: onto the link while it is free, out of the delay line
   * when their time has come; then arm the timer for what is next.
   */
  private serve(si: SchedInst, now: number): void {
    const pipe = si.sched.pipe;
    const bw = pipe.bw;
    while (si.backlog > 0 && si.txFree <= now) {
      const p = si.alg.dequeue(now);
      if (p === null) break;
      this.uncount(si, p);
      const bits = p.len * 8;
      let tx = 0;
      if (bw > 0) {
        if (si.credit >= bits) si.credit -= bits;
        else tx = (bits * 1000) / bw;
      }
      const pf = pipe.profile;
      if (pf !== null) {
        // Extra delay from the empirical curve occupies the link (FreeBSD's extra_bits); past loss-level the packet is lost.
        const ix = Math.floor(this.im.random() * pf.samples.length);
        tx += pf.samples[ix]!;
        if (ix >= pf.lossLevel) p.lost = true;
      }
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
    const ifp = p.out ? p.outif : p.rcvif;
    if (p.lost) this.profileLost++;
    // The interface left this image (moved or destroyed) while the packet waited.
    else if (ifp === null || this.im.ifnets.get(ifp.name) !== ifp) this.orphans++;
    else {
      if (this.pktTags !== null) {
        this.pktTags.copyFrom(p.ftag);
        this.pktTags.carried = true;
      }
      this.io.reinject(p.out, p.rcvif, p.outif, p.nexthop, p.buf, p.off, p.len, p.mtu, p.meta, p.ruleNum);
    }
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
    const need = DN_HEADROOM + len;
    const p = this.pool.pop();
    if (p !== undefined) {
      if (p.buf.length < need) p.buf = new Uint8Array(need <= 2048 ? 2048 : DN_HEADROOM + 65536);
      return p;
    }
    return new DnPkt(need <= 2048 ? 2048 : Math.max(need, DN_HEADROOM + 65536));
  }

  private free(p: DnPkt): void {
    p.rcvif = null;
    p.outif = null;
    p.next = null;
    p.fq = null;
    p.lost = false;
    if (this.pool.length < POOL_MAX) this.pool.push(p);
  }
}

/** A 32-bit mix of the 5-tuple (fq_codel's sub-queue). */
function flowHash(proto: number, src: number, dst: number, sport: number, dport: number): number {
  let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((sport << 16) | dport), 0x27d4eb2f);
  h ^= proto;
  return (h ^ (h >>> 15)) >>> 0;
}

/** The AQM state of a new queue of `fs`, or null (droptail). */
function newAqm(c: AqmConfig | null, bytes: boolean): DnAqm | null {
  if (c === null) return null;
  if (c.kind === 'codel') return new Codel(c);
  if (c.kind === 'pie') return new Pie(c);
  return new Red(c, bytes);
}

function applyFs(fs: Flowset, c: PipeConfig): void {
  if (c.aqm !== undefined) fs.aqm = c.aqm;
  if (c.plr !== undefined) fs.plr = c.plr;
  if (c.qsize !== undefined) {
    fs.qsize = c.qsize;
    fs.qbytes = c.qbytes ?? false;
  }
}
