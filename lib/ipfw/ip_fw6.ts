/**
 * The IPv6 half of ipfw_chk (FreeBSD's sys/netpfil/ipfw/ip_fw2.c, the
 * is_ipv6 branches): reading an IPv6 packet's headers into the matcher's
 * fields (the extension-header walk that finds the upper-layer protocol,
 * its ports, TCP flags or ICMPv6 type, the fragment offset, the flow
 * label and the extension headers seen), and the IPv6 instructions of
 * rule6.ts. The chain walk itself is Ipfw.walk, shared with IPv4.
 *
 * Runs per packet: it reads through the packet bytes and writes plain
 * number fields and one Int32Array; nothing allocates.
 */

import type { Ifnet } from '../net/if.js';
import { in6Local } from '../netinet6/in6.js';
import type { Insn } from './rule.js';
import { EXT, O6 } from './rule6.js';
import type { Ipfw } from './ip_fw2.js';

const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_ESP = 50;
const IPPROTO_AH = 51;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_NONE = 59;
const IPPROTO_DSTOPTS = 60;
const IPPROTO_SCTP = 132;

/** What check6 reads of an IPv6 packet besides the fields IPv4 shares (FreeBSD's f_id for IPv6). */
export class Pkt6 {
  /** Source then destination address, as big-endian int32 words. */
  readonly a6 = new Int32Array(8);
  /** The flow label (20 bits). */
  flow = 0;
  /** EXT_* bits of the extension headers seen. */
  ext = 0;
  hlim = 0;
  /** Traffic class (the TOS byte's place). */
  tc = 0;
}

/**
 * ipfw_chk for an IPv6 packet at buf[off, off+len): read its headers,
 * then walk the chain from rule index `start`. Returns a verdict.
 */
/** `Ipfw.p6` of an image that has checked no IPv6 packet: shared and never written (check6 replaces it first). */
export const NO_PKT6 = new Pkt6();

export function check6(fw: Ipfw, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, start: number): number {
  let p6 = fw.p6;
  if (p6 === NO_PKT6) p6 = fw.p6 = new Pkt6(); // the image's first IPv6 packet through ipfw
  const a6 = p6.a6;
  for (let k = 0; k < 8; k++) {
    const o = off + 8 + 4 * k;
    a6[k] = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
  }
  p6.tc = ((buf[off]! & 0xf) << 4) | (buf[off + 1]! >>> 4);
  p6.flow = ((buf[off + 1]! & 0xf) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  p6.hlim = buf[off + 7]!;
  fw.begin(true, len);
  const key = fw.key;
  // IPv4 keys are 0 (no IPv4 address rule matches); src and dst hold folds of the addresses, for dynamic states and dummynet flows.
  key[1] = 0;
  key[2] = 0;
  fw.src = (a6[0]! ^ a6[1]! ^ a6[2]! ^ a6[3]!) >>> 0;
  fw.dst = (a6[4]! ^ a6[5]! ^ a6[6]! ^ a6[7]!) >>> 0;
  // The extension headers, as ipfw_chk walks them to the upper-layer header.
  let ext = 0;
  let nxt = buf[off + 6]!;
  let p = off + 40;
  const end = off + len;
  let walking = true;
  while (walking) {
    switch (nxt) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS:
      case IPPROTO_ROUTING: {
        if (p + 8 > end) return pullupFailed(fw, nxt, p, off);
        if (nxt === IPPROTO_HOPOPTS) ext |= EXT.HOPOPTS;
        else if (nxt === IPPROTO_DSTOPTS) ext |= EXT.DSTOPTS;
        else {
          ext |= EXT.ROUTING;
          const type = buf[p + 2]!;
          if (type === 0) ext |= EXT.RTHDR0;
          else if (type === 2) ext |= EXT.RTHDR2;
        }
        nxt = buf[p]!;
        p += (buf[p + 1]! + 1) << 3;
        break;
      }
      case IPPROTO_FRAGMENT: {
        if (p + 8 > end) return pullupFailed(fw, nxt, p, off);
        ext |= EXT.FRAGMENT;
        fw.fragOff = ((buf[p + 2]! << 8) | buf[p + 3]!) >>> 3;
        nxt = buf[p]!;
        p += 8;
        // A later fragment carries no upper-layer header.
        if (fw.fragOff !== 0) walking = false;
        break;
      }
      case IPPROTO_AH:
        if (p + 8 > end) return pullupFailed(fw, nxt, p, off);
        ext |= EXT.AH;
        nxt = buf[p]!;
        p += (buf[p + 1]! + 2) << 2;
        break;
      case IPPROTO_ESP:
        ext |= EXT.ESP;
        walking = false;
        break;
      default:
        walking = false;
    }
  }
  p6.ext = ext;
  fw.proto = nxt;
  fw.hlen = p - off;
  if (fw.fragOff === 0) {
    const room = end - p;
    if (nxt === IPPROTO_TCP) {
      if (room < 20) return pullupFailed(fw, nxt, p, off);
      fw.sport = (buf[p]! << 8) | buf[p + 1]!;
      fw.dport = (buf[p + 2]! << 8) | buf[p + 3]!;
      fw.tcpFlags = buf[p + 13]! & 0x3f;
    } else if (nxt === IPPROTO_UDP || nxt === IPPROTO_SCTP) {
      if (room < 8) return pullupFailed(fw, nxt, p, off);
      fw.sport = (buf[p]! << 8) | buf[p + 1]!;
      fw.dport = (buf[p + 2]! << 8) | buf[p + 3]!;
    } else if (nxt === IPPROTO_ICMPV6) {
      if (room < 4) return pullupFailed(fw, nxt, p, off);
      fw.icmpType = buf[p]!;
    } else if (nxt === IPPROTO_NONE) {
      // No upper layer: nothing more to read.
    }
  }
  return fw.walk(out, rcvif, outif, buf, off, len, start);
}

function pullupFailed(fw: Ipfw, proto: number, p: number, off: number): number {
  fw.proto = proto;
  fw.hlen = p - off;
  return fw.pullupFailed();
}

function addrMatch(l: Uint32Array, a6: Int32Array, at: number): boolean {
  for (let k = 0; k < l.length; k += 8) {
    if (((a6[at]! & l[k + 4]!) >>> 0) === l[k] && ((a6[at + 1]! & l[k + 5]!) >>> 0) === l[k + 1] && ((a6[at + 2]! & l[k + 6]!) >>> 0) === l[k + 2] && ((a6[at + 3]! & l[k + 7]!) >>> 0) === l[k + 3])
      return true;
  }
  return false;
}

/** An IPv6 instruction (rule6.ts) against the packet being checked; false for an IPv4 packet. */
export function match6(fw: Ipfw, c: Insn, buf: Uint8Array, off: number): boolean {
  if (!fw.v6) return false;
  switch (c.op) {
    case O6.IP6:
      return true;
    case O6.SRC_IP6:
    case O6.SRC_MASK6:
      return addrMatch(c.list, fw.p6.a6, 0);
    case O6.DST_IP6:
    case O6.DST_MASK6:
      return addrMatch(c.list, fw.p6.a6, 4);
    case O6.SRC_ME6:
      return in6Local(fw.im, buf, off + 8, null) !== undefined;
    case O6.DST_ME6:
      return in6Local(fw.im, buf, off + 24, null) !== undefined;
    case O6.ICMP6TYPE: {
      const t = fw.icmpType;
      return fw.proto === IPPROTO_ICMPV6 && fw.fragOff === 0 && ((c.list[t >> 5]! >>> (t & 31)) & 1) === 1;
    }
    case O6.FLOW6ID: {
      const f = fw.p6.flow;
      for (let k = 0; k < c.list.length; k++) if (c.list[k] === f) return true;
      return false;
    }
    case O6.EXT6HDR:
      return (fw.p6.ext & c.arg) !== 0;
    default:
      return false;
  }
}
