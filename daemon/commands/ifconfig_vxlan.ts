/**
 * ifconfig(8)'s vxlan(4) parameters, as FreeBSD 14's ifvxlan.c: `vxlanid`
 * (`vxlanvni`), `vxlanlocal`, `vxlanremote`, `vxlanlocalport`,
 * `vxlanremoteport`, `vxlanportrange`, `vxlantimeout`, `vxlanmaxaddr`,
 * `vxlandev`, `vxlanttl`, `[-]vxlanlearn`, `vxlanflush`, `vxlanflushall`,
 * plus `vxlanport P` for both ports. `vxlangroup` (multicast) is refused;
 * `[-]vxlanhwcsum` and `[-]vxlanhwtso` are accepted and change nothing.
 * The status line is FreeBSD's, with its `-v` lines.
 */

import type { InterfaceInfo, VxlanParams } from '../../lib/control/index.js';
import { parseIp4 } from '../../lib/wire/ipv4.js';

const NUMERIC: Record<string, [keyof VxlanParams, string]> = {
  vxlanid: ['vni', 'a VNI from 0 to 16777215 (e.g. vxlanid 42)'],
  vxlanvni: ['vni', 'a VNI from 0 to 16777215 (e.g. vxlanvni 42)'],
  vxlanlocalport: ['localPort', 'a port (e.g. vxlanlocalport 4789)'],
  vxlanremoteport: ['remotePort', 'a port (e.g. vxlanremoteport 4789)'],
  vxlanttl: ['ttl', 'a TTL from 1 to 255 (e.g. vxlanttl 64)'],
  vxlantimeout: ['timeout', 'seconds (e.g. vxlantimeout 1200)'],
  vxlanmaxaddr: ['maxaddr', 'a number of addresses (e.g. vxlanmaxaddr 2000)'],
};

const IGNORED = new Set(['vxlanhwcsum', '-vxlanhwcsum', 'vxlanhwtso', '-vxlanhwtso']);

/** A vxlan parameter at args[i]: how many words it took (0: not one), or an error text. */
export function parseVxlanArg(args: readonly string[], i: number, p: VxlanParams): number | string {
  const a = args[i]!;
  if (!a.startsWith('vxlan') && !a.startsWith('-vxlan')) return 0;
  const next = args[i + 1];
  const num = NUMERIC[a];
  if (num !== undefined) {
    if (next === undefined || !/^\d{1,10}$/.test(next)) return `${a}: give ${num[1]}`;
    (p as Record<string, number>)[num[0]] = Number(next);
    return 2;
  }
  switch (a) {
    case 'vxlanport':
      if (next === undefined || !/^\d{1,5}$/.test(next)) return 'vxlanport: give a port (e.g. vxlanport 4789)';
      p.localPort = p.remotePort = Number(next);
      return 2;
    case 'vxlanlocal':
    case 'vxlanremote': {
      const addr = next === undefined ? undefined : parseIp4(next);
      if (addr === undefined) {
        if (next !== undefined && next.includes(':')) return `${a} ${next}: IPv6 end points are not supported; give an IPv4 address`;
        return `${a}: give an IPv4 address (e.g. ${a} 192.0.2.1)`;
      }
      if (a === 'vxlanlocal') p.local = addr;
      else p.remote = addr;
      return 2;
    }
    case 'vxlangroup':
      return 'vxlangroup: multicast groups are not supported by vimage; give the other end point with vxlanremote ADDR';
    case 'vxlanportrange': {
      const hi = args[i + 2];
      if (next === undefined || hi === undefined || !/^\d{1,5}$/.test(next) || !/^\d{1,5}$/.test(hi)) return 'vxlanportrange: give the low and high source ports (e.g. vxlanportrange 49152 65535)';
      p.portMin = Number(next);
      p.portMax = Number(hi);
      return 3;
    }
    case 'vxlandev':
      if (next === undefined) return 'vxlandev: missing interface name (e.g. vxlandev tap0)';
      p.dev = next;
      return 2;
    case 'vxlanlearn':
    case '-vxlanlearn':
      p.learn = a === 'vxlanlearn';
      return 1;
    case 'vxlanflush':
    case 'vxlanflushall':
      p.flush = true;
      return 1;
  }
  if (IGNORED.has(a)) return 1;
  return `${a}: unknown vxlan parameter`;
}

/** FreeBSD's vxlan_status: one line, and with -v the config and ftable lines. */
export function vxlanStatus(f: InterfaceInfo, verbose: boolean): string {
  const v = f.vxlan;
  if (v === undefined || v.vni === undefined) return '';
  let s = `\tvxlan vni ${v.vni} local ${v.local}:${v.localPort} remote ${v.remote}:${v.remotePort}`;
  if (verbose) {
    s += `\n\t\tconfig: ${v.learn ? '' : 'no'}learning portrange ${v.portMin}-${v.portMax} ttl ${v.ttl}`;
    s += `\n\t\tftable: cnt ${v.ftable.count} max ${v.ftable.max} timeout ${v.ftable.timeout}`;
  }
  return s + '\n';
}
