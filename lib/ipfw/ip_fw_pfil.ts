/**
 * ipfw on the inet pfil head (FreeBSD's sys/netpfil/ipfw/ip_fw_pfil.c):
 * the hook that runs the chain for every packet when net.inet.ip.fw.enable
 * is 1 and turns its verdict into a pfil verdict (dropped: deny, reject
 * with an ICMP unreachable, reset; consumed: handed to dummynet), and the
 * way back for packets dummynet releases.
 */

import type { Ifnet } from '../net/if.js';
import { PFIL_CONSUMED, PFIL_DROPPED, PFIL_IN, PFIL_OUT, PFIL_PASS, type PfilHead, type PfilHook, type PfilVerdict } from '../net/pfil.js';
import { icmpError } from '../netinet/ip_icmp.js';
import { u32, put32 } from '../wire/bytes.js';
import { foldComplement, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import type { VnetHdr } from '../wire/vnet.js';
import { fwEnable, fwOnePass, V_DENY, V_FWD, V_NAT, V_PASS, V_REJECT, V_RESET, type Ipfw } from './ip_fw2.js';
import { fwdOut } from './ip_fw_fwd.js';
import { A, TH } from './rule.js';

const IPPROTO_TCP = 6;

/** The hook ipfw adds to its image's inet head, in and out. */
export class IpfwHook implements PfilHook {
  readonly name = 'ipfw';
  constructor(
    readonly fw: Ipfw,
    readonly head: PfilHead,
  ) {}

  pfilIn(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict {
    const fw = this.fw;
    if (fw.im.sysctl.v[fwEnable.slot] === 0) return PFIL_PASS;
    return ipfwRun(fw, this.head, false, ifp, null, 0, buf, off, len, 0, meta, 0);
  }

  pfilOut(rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): PfilVerdict {
    const fw = this.fw;
    if (fw.im.sysctl.v[fwEnable.slot] === 0) return PFIL_PASS;
    return ipfwRun(fw, this.head, true, rcvif, ifp, nexthop, buf, off, len, mtu, meta, 0);
  }

  attach(): void {
    this.head.addHook(this, PFIL_IN | PFIL_OUT);
  }

  detach(): void {
    this.head.removeHook(this);
  }

  /**
   * Dummynet hands a packet back: on through the rest of the chain after
   * rule `ruleNum` (net.inet.ip.fw.one_pass=0), then through the hooks after
   * ipfw and on along the path it left.
   */
  reinject(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number): void {
    const fw = this.fw;
    // Dummynet holds both families: an IPv6 packet goes back through the inet6 hook.
    if (buf[off]! >>> 4 === 6) return fw.hook6.reinject(out, rcvif, outif, buf, off, len, mtu, meta, ruleNum);
    const v = fw.im.sysctl.v;
    if (v[fwEnable.slot] !== 0 && v[fwOnePass.slot] === 0) {
      let start = 0;
      while (start < fw.rules.length - 1 && fw.rules[start]!.num <= ruleNum) start++;
      if (ipfwRun(fw, this.head, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, start) !== PFIL_PASS) return;
    }
    fw.pkt.carried = false;
    if (out) this.head.reinjectOut(this, rcvif, outif!, nexthop, buf, off, len, mtu, meta);
    else this.head.reinjectIn(this, rcvif!, buf, off, len, meta);
  }
}

/** Run the chain from rule index `start` and carry out its verdict. */
function ipfwRun(fw: Ipfw, head: PfilHead, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, start: number): PfilVerdict {
  fw.meta = meta;
  const v = fw.check(out, rcvif, outif, buf, off, len, start);
  const st = fw.stat;
  switch (v) {
    case V_NAT:
      // ip_fw_pfil.c: a translated packet leaves the chain with one_pass=1,
      // else the chain starts again after the nat rule, on the new headers.
      if (fw.im.sysctl.v[fwOnePass.slot] !== 0) {
        st.passed++;
        return PFIL_PASS;
      }
      fw.pkt.carried = true;
      return ipfwRun(fw, head, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, fw.hit!.pos + 1);
    case V_PASS:
      st.passed++;
      return PFIL_PASS;
    case V_FWD:
      return fwdOut(fw, head, out, buf, off, len, meta);
    case V_DENY:
      st.denied++;
      return PFIL_DROPPED;
    case V_REJECT:
      st.rejected++;
      if (fw.fragOff === 0) icmpError(fw.im, rcvif, buf, off, len, 3, fw.hit!.actArg, 0);
      return PFIL_DROPPED;
    case V_RESET:
      st.reset++;
      if (fw.proto === IPPROTO_TCP && fw.fragOff === 0 && (fw.tcpFlags & TH.RST) === 0) sendReset(fw, head, buf, off);
      return PFIL_DROPPED;
    default: {
      // Dummynet has the packet now (or there was no such pipe: dropped,
      // though a local sender is told it went, as before).
      const r = fw.hit!;
      if (!fw.dn.enqueue(r.action === A.PIPE, fw.arg, out, rcvif, outif, nexthop, buf, off, len, mtu, meta, r.num, fw.proto, fw.src, fw.dst, fw.sport, fw.dport)) st.nopipe++;
      else st.dummynet++;
      return PFIL_CONSUMED;
    }
  }
}

/**
 * The 20-byte TCP header of a RST answering the segment at buf[t] (RFC 9293
 * 3.10.7.1), written at b[tt] without its checksum: ports swapped; seq from
 * the segment's ack if it had one, else ack of what it carried. `reset` and
 * `reset6` both send it.
 */
export function writeReset(fw: Ipfw, buf: Uint8Array, t: number, b: Uint8Array, tt: number): void {
  const seq = u32(buf, t + 4);
  const ack = u32(buf, t + 8);
  const thl = (buf[t + 12]! >> 4) << 2;
  const flags = fw.tcpFlags;
  let dataLen = fw.ipLen - fw.hlen - thl;
  if (dataLen < 0) dataLen = 0;
  if ((flags & TH.SYN) !== 0) dataLen++;
  if ((flags & TH.FIN) !== 0) dataLen++;
  b[tt] = buf[t + 2]!;
  b[tt + 1] = buf[t + 3]!;
  b[tt + 2] = buf[t]!;
  b[tt + 3] = buf[t + 1]!;
  if ((flags & TH.ACK) !== 0) {
    put32(b, tt + 4, ack);
    put32(b, tt + 8, 0);
    b[tt + 13] = TH.RST;
  } else {
    put32(b, tt + 4, 0);
    put32(b, tt + 8, (seq + dataLen) >>> 0);
    b[tt + 13] = TH.RST | TH.ACK;
  }
  b[tt + 12] = 5 << 4;
}

/** `reset`: a RST back to the sender, built by hand. */
function sendReset(fw: Ipfw, head: PfilHead, buf: Uint8Array, off: number): void {
  const o = head.proto.headroom;
  const b = new Uint8Array(o + 40);
  const tt = o + 20;
  writeReset(fw, buf, off + fw.hlen, b, tt);
  const sum = foldComplement(sum16(b, tt, 20, pseudoHeaderSum(fw.dst, fw.src, IPPROTO_TCP, 20)));
  b[tt + 16] = sum >> 8;
  b[tt + 17] = sum & 0xff;
  head.proto.sendLocal(b, o, 40, IPPROTO_TCP, fw.dst, fw.src);
}
