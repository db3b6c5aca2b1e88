/**
 * Dynamic states of one image's chain (FreeBSD's
 * sys/netpfil/ipfw/ip_fw_dynamic.c): their lifetimes, the lookup the first
 * keep-state or check-state rule makes, the install `keep-state` makes,
 * and the sweeper that expires them on the image clock while any exist.
 * The table itself is dyn.ts.
 */

import { sysctlInt } from '../sysctl.js';
import type { Ipfw } from './ip_fw2.js';
import type { DynLifetimes } from './dyn.js';
import type { Rule } from './rule.js';
import { fwDynCount, limitAdmit, limitRecount } from './ip_fw_limit.js';

export const fwDynMax = sysctlInt({ name: 'net.inet.ip.fw.dyn_max', def: 16384, min: 0, max: 1_048_576, descr: 'Max number of dynamic states' });
export const fwDynAck = sysctlInt({ name: 'net.inet.ip.fw.dyn_ack_lifetime', def: 300, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP ACK' });
export const fwDynSyn = sysctlInt({ name: 'net.inet.ip.fw.dyn_syn_lifetime', def: 20, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP SYN' });
export const fwDynFin = sysctlInt({ name: 'net.inet.ip.fw.dyn_fin_lifetime', def: 1, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP FIN' });
export const fwDynRst = sysctlInt({ name: 'net.inet.ip.fw.dyn_rst_lifetime', def: 1, min: 1, max: 86400, descr: 'Lifetime of dynamic states for TCP RST' });
export const fwDynUdp = sysctlInt({ name: 'net.inet.ip.fw.dyn_udp_lifetime', def: 10, min: 1, max: 86400, descr: 'Lifetime of dynamic states for UDP' });
export const fwDynShort = sysctlInt({
  name: 'net.inet.ip.fw.dyn_short_lifetime',
  def: 5,
  min: 1,
  max: 86400,
  descr: 'Lifetime of dynamic states for other situations',
});


function lifetimes(fw: Ipfw): DynLifetimes {
  const v = fw.im.sysctl.v;
  const lt = fw.lt;
  lt.ack = v[fwDynAck.slot]!;
  lt.syn = v[fwDynSyn.slot]!;
  lt.fin = v[fwDynFin.slot]!;
  lt.rst = v[fwDynRst.slot]!;
  lt.udp = v[fwDynUdp.slot]!;
  lt.short = v[fwDynShort.slot]!;
  return lt;
}

/** Find the packet's state; count it there and return the rule that made it. */
export function dynProbe(fw: Ipfw, name: string, len: number): Rule | null {
  const dyn = fw.dyn;
  if (dyn.count === 0) return null;
  const now = fw.im.clock.now();
  const s = dyn.lookup(now, fw.proto, fw.src, fw.dst, fw.sport, fw.dport, name, fw.v6 ? fw.p6.a6 : null);
  if (s < 0) return null;
  dyn.update(s, now, dyn.dir, fw.proto, fw.tcpFlags, len, lifetimes(fw));
  return dyn.rule[s]!;
}

/** O_KEEP_STATE: make (or find) the packet's state. False when dyn_max is reached. */
export function dynInstall(fw: Ipfw, r: Rule): boolean {
  const dyn = fw.dyn;
  const im = fw.im;
  const now = im.clock.now();
  const a6 = fw.v6 ? fw.p6.a6 : null;
  let s = dyn.lookup(now, fw.proto, fw.src, fw.dst, fw.sport, fw.dport, 'any', a6);
  if (s < 0) {
    if (dyn.count >= im.sysctl.v[fwDynMax.slot]!) {
      fw.stat.dynoverflow++;
      return false;
    }
    // limit N: the flow's parent must have room (the keep-state instruction is the rule's last).
    const c = r.insns[r.insns.length - 1]!;
    if (c.arg2 > 0 && !limitAdmit(fw, r, c)) return false;
    s = dyn.install(now, r, r.stateName, fw.proto, fw.src, fw.dst, fw.sport, fw.dport, a6);
    dyn.dir = 1;
    if (fw.sweeper === null) fw.sweeper = im.clock.every(1000, fw.sweep);
    im.sysctl.v[fwDynCount.slot] = dyn.count;
  }
  dyn.update(s, now, dyn.dir, fw.proto, fw.tcpFlags, fw.ipLen, lifetimes(fw));
  return true;
}

/** Once a second while states exist: expire the old ones; stop when none are left. */
export function dynSweep(fw: Ipfw): void {
  const left = fw.dyn.expireAll(fw.im.clock.now());
  limitRecount(fw);
  if (left === 0) {
    fw.sweeper?.cancel();
    fw.sweeper = null;
  }
}
