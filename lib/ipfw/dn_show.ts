/**
 * dummynet listings: `ipfw pipe|queue|sched show` in FreeBSD 14's layout
 * (sbin/ipfw/dummynet.c's list_pipes and friends) and the --json snapshot.
 */

import { ip4ToString } from '../wire/ipv4.js';
import { DN_MAX_ID, type FlowCounters, type FlowMask, type FlowQueue, type Flowset, type Pipe, type Sched, type SchedInst } from './dn_private.js';
import type { Dummynet } from './dummynet.js';
import { protoName } from './rule.js';

/** `ipfw pipe show` (FreeBSD 14 layout). `only` limits to those pipes. */
export function showPipes(dn: Dummynet, only?: (nr: number) => boolean): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of [...dn.pipes.values()].sort((a, b) => a.nr - b.nr)) {
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
export function showQueues(dn: Dummynet, only?: (nr: number) => boolean): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const fs of [...dn.queues.values()].sort((a, b) => a.nr - b.nr)) {
    if (only !== undefined && !only(fs.nr)) continue;
    const qs = fs.queues.filter((q): q is FlowQueue => q !== null);
    out.push(fsLine(fs, qs.length));
    if (fs.hasMask) out.push(maskLine(fs.mask));
    for (const q of qs) flowLines(out, q.ni, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `ipfw sched show`: the WF2Q+ schedulers of pipes that have queues. */
export function showScheds(dn: Dummynet, only?: (nr: number) => boolean): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of [...dn.pipes.values()].sort((a, b) => a.nr - b.nr)) {
    if (only !== undefined && !only(p.nr)) continue;
    out.push(linkLine(p.nr, p));
    out.push(schedLine(p.wf2q));
    if (p.hasMask) out.push(maskLine(p.mask));
    const children = [...dn.queues.values()].filter((q) => q.schedNr === p.nr).map((q) => q.nr);
    if (children.length > 0) out.push(`   Children flowsets: ${children.map((c) => `${c} `).join('')}`);
    for (const si of p.wf2q.insts) if (si !== null) flowLines(out, si.ni, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** For --json. */
export function snapshot(dn: Dummynet): unknown {
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
    pipes: [...dn.pipes.values()].map((p) => ({
      pipe: p.nr,
      bandwidth: p.bw,
      delayMs: p.delay,
      plr: p.fs.plr,
      queue: p.fs.qsize,
      queueUnit: p.fs.qbytes ? 'bytes' : 'slots',
      flows: p.fifo.insts.filter((s): s is SchedInst => s !== null).map((s) => flow(s.ni)),
    })),
    queues: [...dn.queues.values()].map((q) => ({
      queue: q.nr,
      pipe: q.schedNr,
      weight: q.weight,
      plr: q.plr,
      queue_size: q.qsize,
      flows: q.queues.filter((x): x is FlowQueue => x !== null).map((x) => flow(x.ni)),
    })),
    timer: dn.timer.accuracy,
  };
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
