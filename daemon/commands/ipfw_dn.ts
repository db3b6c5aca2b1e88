/**
 * `ipfw pipe|queue|sched show` as FreeBSD 14 prints them (sbin/ipfw/
 * dummynet.c: list_pipes, print_flowset_parms, print_mask and the flow
 * table), from the plain data of the image's control surface.
 */

import { protoName, type DnFlowInfo, type DnFlowsetInfo, type DnMaskInfo, type DnPipeInfo, type DnSchedInfo, type DummynetInfo } from '../../lib/control/index.js';
import { ip4ToString } from '../../lib/wire/ipv4.js';

/** Numbers of pipes, queues and schedulers wrap at 65536 in the listing (FreeBSD's DN_MAX_ID). */
const DN_MAX_ID = 0x10000;

type Only = ((nr: number) => boolean) | undefined;

/** `ipfw pipe show`: each pipe with its own queue and FIFO scheduler. */
export function showPipes(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of dn.pipes) {
    if (only !== undefined && !only(p.nr)) continue;
    out.push(linkLine(p), fsLine(p.flowset), schedLine(p.fifo));
    if (p.fifo.mask !== undefined) out.push(maskLine(p.fifo.mask));
    for (const f of p.fifo.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `ipfw queue show`. */
export function showQueues(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const fs of dn.queues) {
    if (only !== undefined && !only(fs.nr)) continue;
    out.push(fsLine(fs));
    if (fs.mask !== undefined) out.push(maskLine(fs.mask));
    for (const f of fs.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `ipfw sched show`: each pipe's scheduler for the queues attached to it. */
export function showScheds(dn: DummynetInfo, only: Only): string {
  const out: string[] = [];
  const hdr = { printed: false };
  for (const p of dn.pipes) {
    if (only !== undefined && !only(p.nr)) continue;
    out.push(linkLine(p), schedLine(p.sched));
    if (p.sched.mask !== undefined) out.push(maskLine(p.sched.mask));
    if (p.sched.children.length > 0) out.push(`   Children flowsets: ${p.sched.children.map((c) => `${c} `).join('')}`);
    for (const f of p.sched.flows) flowLine(out, f, hdr);
  }
  return out.map((l) => l + '\n').join('');
}

/** `%7.3f Mbit/s` and friends, or `unlimited     `. */
function bwText(b: number): string {
  if (b === 0) return 'unlimited     ';
  if (b >= 1e9) return `${(b / 1e9).toFixed(3).padStart(7)} Gbit/s`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(3).padStart(7)} Mbit/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(3).padStart(7)} Kbit/s`;
  return `${b.toFixed(3).padStart(7)} bit/s `;
}

function linkLine(p: DnPipeInfo): string {
  return `${String(p.nr % DN_MAX_ID).padStart(5, '0')}: ${bwText(p.bandwidth)} ${String(p.delayMs).padStart(4)} ms burst 0`;
}

function fsLine(fs: DnFlowsetInfo): string {
  const qs = fs.queueBytes ? (fs.queueSize >= 8192 ? `${Math.floor(fs.queueSize / 1024)} KB` : `${fs.queueSize} B`) : `${String(fs.queueSize).padStart(3)} sl.`;
  // FreeBSD keeps plr as a fraction of 2^31 - 1 and prints what that gives back.
  const plr = fs.plr > 0 ? `plr ${(Math.trunc(fs.plr * 0x7fffffff) / 0x7fffffff).toFixed(6)}` : '';
  return `q${String(fs.nr).padStart(5, '0')} ${qs}${plr} ${fs.flows.length} flows (${fs.buckets} buckets) sched ${fs.schedNr} weight ${fs.weight} lmax 0 pri 0 droptail`;
}

function schedLine(s: DnSchedInfo): string {
  return ` sched ${s.nr} type ${s.type} flags 0x${s.masked ? 1 : 0} ${s.buckets} buckets ${s.active} active`;
}

const hex = (v: number, w: number): string => '0x' + (v >>> 0).toString(16).padStart(w, '0');

function maskLine(m: DnMaskInfo): string {
  return `    mask:  ${hex(m.proto, 2)} ${hex(m.src, 8)}/${hex(m.sport, 4)} -> ${hex(m.dst, 8)}/${hex(m.dport, 4)}`;
}

function flowLine(out: string[], n: DnFlowInfo, hdr: { printed: boolean }): void {
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
  s += `${String(n.pkts).padStart(2)} ${String(n.bytes).padStart(4)} ${String(n.drops).padStart(3)}`;
  out.push(s);
}
