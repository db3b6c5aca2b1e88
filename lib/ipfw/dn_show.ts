/**
 * dummynet as plain data: pipes with their two schedulers (the FIFO one for
 * packets sent to the pipe, the WF2Q+ one for queues attached to it),
 * queues (flowsets) and the flows each holds. `ipfw --json pipe|queue|sched
 * show` prints this; daemon/commands/ipfw_dn.ts formats it as FreeBSD 14's
 * sbin/ipfw/dummynet.c does.
 */

import type { FlowCounters, FlowMask, FlowQueue, Flowset, Sched, SchedInst } from './dn_private.js';
import type { AqmConfig, SchedParams } from './dn_params.js';
import { codelDefaults, fqDefaults, pieDefaults } from './dn_params.js';
import type { Dummynet } from './dummynet.js';
import type { TimerAccuracy } from './timer.js';

/** One flow (a queue of one flow-mask bucket) and its counters. Addresses are numbers. */
export interface DnFlowInfo {
  bucket: number;
  proto: number;
  src: number;
  sport: number;
  dst: number;
  dport: number;
  totPkts: number;
  totBytes: number;
  /** Packets and bytes queued now. */
  pkts: number;
  bytes: number;
  drops: number;
}

export interface DnMaskInfo {
  proto: number;
  src: number;
  sport: number;
  dst: number;
  dport: number;
}

/** A queue (flowset): a pipe's own, or one made with `ipfw queue N config`. */
export interface DnFlowsetInfo {
  nr: number;
  /** Queue size in slots, or in bytes when `queueBytes`. */
  queueSize: number;
  queueBytes: boolean;
  plr: number;
  schedNr: number;
  weight: number;
  /** Hash buckets of the flow mask (1 without a mask). */
  buckets: number;
  lmax?: number;
  pri?: number;
  /** RED/GRED, CoDel or PIE settings (times in microseconds); absent is droptail. */
  aqm?: AqmConfig;
  mask?: DnMaskInfo;
  flows: DnFlowInfo[];
}

export interface DnSchedInfo {
  nr: number;
  /** FIFO, WF2Q+, RR, QFQ, PRIO, FQ_CODEL or FQ_PIE. */
  type: string;
  /** The fq_* schedulers' parameters (times in microseconds). */
  params?: SchedParams;
  /** The pipe's mask makes one instance per flow. */
  masked: boolean;
  buckets: number;
  mask?: DnMaskInfo;
  /** Flows of the active instances. */
  flows: DnFlowInfo[];
  active: number;
  /** Queues attached to this scheduler (WF2Q+ only). */
  children: number[];
}

export interface DnPipeInfo {
  nr: number;
  /** Bits per second; 0 is unlimited. */
  bandwidth: number;
  delayMs: number;
  /** Bytes let through at line rate after an idle period. */
  burst?: number;
  /** `profile FILE`: its name, loss-level (0..1) and number of samples. */
  profile?: { name: string; loss: number; samples: number };
  /** The pipe's own queue (flowset nr + 131072) and FIFO scheduler (nr + 65536). */
  flowset: DnFlowsetInfo;
  fifo: DnSchedInfo;
  /** Scheduler nr, serving the queues attached to the pipe. */
  sched: DnSchedInfo;
}

export interface DummynetInfo {
  pipes: DnPipeInfo[];
  queues: DnFlowsetInfo[];
  /** How late the shaper's timer ran (see lib/ipfw/timer.ts). */
  timer: TimerAccuracy;
}

function flow(n: FlowCounters): DnFlowInfo {
  return {
    bucket: n.bucket,
    proto: n.proto,
    src: n.src,
    sport: n.sport,
    dst: n.dst,
    dport: n.dport,
    totPkts: n.totPkts,
    totBytes: n.totBytes,
    pkts: n.length,
    bytes: n.lenBytes,
    drops: n.drops,
  };
}

function mask(m: FlowMask): DnMaskInfo {
  return { proto: m.proto, src: m.src, sport: m.sport, dst: m.dst, dport: m.dport };
}

function flowset(fs: Flowset, flows: DnFlowInfo[]): DnFlowsetInfo {
  const info: DnFlowsetInfo = {
    nr: fs.nr,
    queueSize: fs.qsize,
    queueBytes: fs.qbytes,
    plr: fs.plr,
    schedNr: fs.schedNr,
    weight: fs.weight,
    buckets: fs.isPipe ? 1 : fs.hasMask ? fs.buckets : 1,
    flows,
  };
  if (fs.lmax !== 0) info.lmax = fs.lmax;
  if (fs.pri !== 0) info.pri = fs.pri;
  if (fs.aqm !== null) info.aqm = { ...fs.aqm };
  if (!fs.isPipe && fs.hasMask) info.mask = mask(fs.mask);
  return info;
}

function sched(dn: Dummynet, s: Sched): DnSchedInfo {
  const p = s.pipe;
  const insts = s.insts.filter((x): x is SchedInst => x !== null);
  const info: DnSchedInfo = {
    nr: s.nr,
    type: s.type.name,
    masked: p.hasMask,
    buckets: p.hasMask ? p.buckets : 0,
    flows: insts.map((si) => flow(si.ni)),
    active: insts.length,
    children: s.fifo ? [] : [...dn.queues.values()].filter((q) => q.schedNr === p.nr).map((q) => q.nr),
  };
  if (p.hasMask) info.mask = mask(p.mask);
  if (s.type.name === 'FQ_CODEL') info.params = { codel: s.params.codel ?? codelDefaults(), fq: s.params.fq ?? fqDefaults() };
  if (s.type.name === 'FQ_PIE') info.params = { pie: s.params.pie ?? pieDefaults(), fq: s.params.fq ?? fqDefaults() };
  return info;
}

/** Everything, sorted by number. */
export function dummynetInfo(dn: Dummynet): DummynetInfo {
  return {
    pipes: [...dn.pipes.values()]
      .sort((a, b) => a.nr - b.nr)
      .map((p) => {
        const info: DnPipeInfo = { nr: p.nr, bandwidth: p.bw, delayMs: p.delay, flowset: flowset(p.fs, []), fifo: sched(dn, p.fifo), sched: sched(dn, p.wf2q) };
        if (p.burst !== 0) info.burst = p.burst;
        const pf = p.profile;
        if (pf !== null) info.profile = { name: pf.name, loss: pf.lossLevel / pf.samples.length, samples: pf.samples.length };
        return info;
      }),
    queues: [...dn.queues.values()]
      .sort((a, b) => a.nr - b.nr)
      .map((fs) =>
        flowset(
          fs,
          fs.queues.filter((q): q is FlowQueue => q !== null).map((q) => flow(q.ni)),
        ),
      ),
    timer: { ...dn.timer.accuracy },
  };
}
