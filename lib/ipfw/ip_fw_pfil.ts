/**
 * ipfw's packet-path glue (FreeBSD's sys/netpfil/ipfw/ip_fw_pfil.c): run
 * the chain for a packet, carry out the verdict (drop, ICMP unreachable,
 * TCP reset, hand to dummynet), and take packets dummynet gives back.
 */

import type { Ifnet } from '../net/if.js';
import { icmpError } from '../netinet/ip_icmp.js';
import { ipInputDispatch } from '../netinet/ip_input.js';
import { allocPacket, buildIpHeader, ipOutputFinish, ipOutputLocal, readU32, writeU32 } from '../netinet/ip_output.js';
import { foldComplement, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import type { VnetHdr } from '../wire/vnet.js';
import { fwEnable, fwOnePass, V_DENY, V_PASS, V_REJECT, V_RESET, type Ipfw } from './ip_fw2.js';
import { A, TH } from './rule.js';

const IPPROTO_TCP = 6;

/** Run the chain from rule index `start` and carry out its verdict: true to let the packet go on. */
export function ipfwRun(fw: Ipfw, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, start: number): boolean {
  const v = fw.check(out, rcvif, outif, buf, off, len, start);
  const st = fw.stat;
  // `denied` is set last: the ICMP error or RST sent below runs the chain again.
  switch (v) {
    case V_PASS:
      st.passed++;
      return true;
    case V_DENY:
      st.denied++;
      fw.denied = true;
      return false;
    case V_REJECT:
      st.rejected++;
      if (fw.fragOff === 0) icmpError(fw.im, rcvif, buf, off, len, 3, fw.hit!.actArg, 0);
      fw.denied = true;
      return false;
    case V_RESET:
      st.reset++;
      if (fw.proto === IPPROTO_TCP && fw.fragOff === 0 && (fw.tcpFlags & TH.RST) === 0) sendReset(fw, buf, off);
      fw.denied = true;
      return false;
    default: {
      const r = fw.hit!;
      if (!fw.dn.enqueue(r.action === A.PIPE, r.actArg, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, r.num, fw.proto, fw.src, fw.dst, fw.sport, fw.dport)) st.nopipe++;
      else st.dummynet++;
      fw.denied = false;
      return false;
    }
  }
}

/** Dummynet hands a packet back: on through the rest of the chain (one_pass=0) and the path. */
export function ipfwReinject(fw: Ipfw, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number): void {
  const im = fw.im;
  if (im.sysctl.v[fwEnable.slot] !== 0 && im.sysctl.v[fwOnePass.slot] === 0) {
    let start = 0;
    while (start < fw.rules.length - 1 && fw.rules[start]!.num <= ruleNum) start++;
    if (!ipfwRun(fw, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, start)) return;
  }
  if (out) {
    ipOutputFinish(im, outif!, nexthop, buf, off, len, mtu, meta);
  } else {
    const hlen = (buf[off]! & 0xf) << 2;
    ipInputDispatch(im, rcvif!, buf, off, hlen, len, meta, readU32(buf, off + 16));
  }
}

/** `reset`: a RST back to the sender (RFC 9293 3.10.7.1), built by hand. */
function sendReset(fw: Ipfw, buf: Uint8Array, off: number): void {
  const im = fw.im;
  const hlen = fw.hlen;
  const t = off + hlen;
  const seq = readU32(buf, t + 4);
  const ack = readU32(buf, t + 8);
  const thl = (buf[t + 12]! >> 4) << 2;
  const flags = fw.tcpFlags;
  let dataLen = fw.ipLen - hlen - thl;
  if (dataLen < 0) dataLen = 0;
  if ((flags & TH.SYN) !== 0) dataLen++;
  if ((flags & TH.FIN) !== 0) dataLen++;
  const p = allocPacket(40);
  const b = p.buf;
  const o = p.off;
  const tt = o + 20;
  b[tt] = buf[t + 2]!;
  b[tt + 1] = buf[t + 3]!;
  b[tt + 2] = buf[t]!;
  b[tt + 3] = buf[t + 1]!;
  if ((flags & TH.ACK) !== 0) {
    writeU32(b, tt + 4, ack);
    writeU32(b, tt + 8, 0);
    b[tt + 13] = TH.RST;
  } else {
    writeU32(b, tt + 4, 0);
    writeU32(b, tt + 8, (seq + dataLen) >>> 0);
    b[tt + 13] = TH.RST | TH.ACK;
  }
  b[tt + 12] = 5 << 4;
  const sum = foldComplement(sum16(b, tt, 20, pseudoHeaderSum(fw.dst, fw.src, IPPROTO_TCP, 20)));
  b[tt + 16] = sum >> 8;
  b[tt + 17] = sum & 0xff;
  buildIpHeader(im, b, o, 40, IPPROTO_TCP, fw.dst, fw.src);
  ipOutputLocal(im, b, o, 40, im.noOffload);
}
