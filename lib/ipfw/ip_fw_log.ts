/**
 * ipfw's `log` action (FreeBSD's sys/netpfil/ipfw/ip_fw_log.c): one line
 * per matched packet in FreeBSD's format, limited per rule by `logamount`
 * and per image to LOG_PER_SECOND lines a second; the rest are counted.
 */

import { logActionText } from './parse_actions.js';
import type { Ifnet } from '../net/if.js';
import { u32 } from '../wire/bytes.js';
import { ip4ToString } from '../wire/ipv4.js';
import { fwVerbose, type Ipfw } from './ip_fw2.js';
import { A, DEFAULT_RULE, type Rule } from './rule.js';
import { A6, ICMP6_UNREACH_RST } from './rule6.js';
import { logWhat6 } from './format6.js';

/** Log lines per second an image may write for `log` rules; the rest are counted. */
const LOG_PER_SECOND = 100;

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** ipfw_log: `ipfw: 100 Deny ICMP:8.0 10.0.0.1 10.0.0.2 in via em0`, rate limited. */
export function ipfwLog(fw: Ipfw, r: Rule, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number): void {
  const im = fw.im;
  if (im.sysctl.v[fwVerbose.slot] === 0) return;
  if (r.logAmount > 0) {
    if (r.logged >= r.logAmount) return;
    r.logged++;
  }
  const now = im.clock.now();
  if (now - fw.logWindow >= 1000) {
    if (fw.logCount > LOG_PER_SECOND) im.log.warn(`ipfw: ${fw.logCount - LOG_PER_SECOND} log lines suppressed (more than ${LOG_PER_SECOND}/s)`);
    fw.logWindow = now;
    fw.logCount = 0;
  }
  if (++fw.logCount > LOG_PER_SECOND) {
    fw.stat.logsuppressed++;
    return;
  }
  fw.stat.logged++;
  im.log.info(logLine(r, fw.defaultAccepts(), out, rcvif, outif, buf, off, fw.proto, fw.sport, fw.dport, fw.fragOff, fw.v6 ? fw.hlen : -1));
  if (r.logAmount > 0 && r.logged === r.logAmount) im.log.info(`ipfw: limit ${r.logAmount} reached on entry ${r.num}`);
}

function logLine(r: Rule, defAccept: boolean, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, proto: number, sport: number, dport: number, fragOff: number, hlen6: number): string {
  let action: string;
  switch (r.action) {
    case A.ACCEPT:
      action = 'Accept';
      break;
    case A.DENY:
      action = r.num === DEFAULT_RULE && defAccept ? 'Accept' : 'Deny';
      break;
    case A.REJECT:
      action = r.actArg === 1 ? 'Reject' : `Unreach ${r.actArg}`;
      break;
    case A.RESET:
      action = 'Reset';
      break;
    case A.COUNT:
      action = 'Count';
      break;
    case A.SKIPTO:
      action = `SkipTo ${r.actArg}`;
      break;
    case A.PIPE:
      action = `Pipe ${r.actArg}`;
      break;
    case A.QUEUE:
      action = `Queue ${r.actArg}`;
      break;
    case A6.UNREACH6:
      action = r.actArg === ICMP6_UNREACH_RST ? 'Reset' : `Unreach ${r.actArg}`;
      break;
    default:
      action = logActionText(r) ?? 'Check-State';
  }
  if (hlen6 >= 0) return `ipfw: ${r.num} ${action} ${logWhat6(buf, off, hlen6, proto, sport, dport, fragOff)} ${out ? 'out' : 'in'} via ${(out ? outif : rcvif)?.name ?? '-'}`;
  const src = ip4ToString(u32(buf, off + 12));
  const dst = ip4ToString(u32(buf, off + 16));
  const hlen = (buf[off]! & 0xf) << 2;
  let what: string;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    const name = proto === IPPROTO_TCP ? 'TCP' : 'UDP';
    what = fragOff === 0 ? `${name} ${src}:${sport} ${dst}:${dport}` : `${name} ${src} ${dst}`;
  } else if (proto === IPPROTO_ICMP) {
    what = fragOff === 0 ? `ICMP:${buf[off + hlen]}.${buf[off + hlen + 1]} ${src} ${dst}` : `ICMP ${src} ${dst}`;
  } else what = `P:${proto} ${src} ${dst}`;
  const ifp = out ? outif : rcvif;
  let s = `ipfw: ${r.num} ${action} ${what} ${out ? 'out' : 'in'} via ${ifp?.name ?? '-'}`;
  if (fragOff !== 0 || (buf[off + 6]! & 0x20) !== 0) {
    const len = ((buf[off + 2]! << 8) | buf[off + 3]!) - hlen;
    s += ` (frag ${(buf[off + 4]! << 8) | buf[off + 5]!}:${len}@${fragOff << 3}${(buf[off + 6]! & 0x20) !== 0 ? '+' : ''})`;
  }
  return s;
}
