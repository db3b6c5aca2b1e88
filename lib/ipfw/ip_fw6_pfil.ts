/**
 * ipfw on the inet6 pfil head (FreeBSD's ipfw_check_packet for IPv6 in
 * sys/netpfil/ipfw/ip_fw_pfil.c): the hook that runs the chain for every
 * IPv6 packet in, out and forwarded when net.inet.ip.fw.enable is 1 (as
 * FreeBSD's net.inet6.ip6.fw.enable, which vimage does not split off), and
 * turns its verdict into a pfil verdict: deny; `unreach6 CODE`, `reject`
 * and `unreach` answered with an ICMPv6 unreachable (send_reject6, the
 * IPv4 codes mapped as map_icmp_unreach does); `reset6`/`reset` with a TCP
 * RST; dummynet keeps the packet and hands it back through `reinject`.
 */

import type { Ifnet } from '../net/if.js';
import { PFIL_CONSUMED, PFIL_DROPPED, PFIL_IN, PFIL_OUT, PFIL_PASS, type PfilHead, type PfilHook, type PfilVerdict } from '../net/pfil.js';
import { icmp6Error } from '../netinet6/icmp6.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import { allocPacket } from '../netinet/ip_var.js';
import { writeReset } from './ip_fw_pfil.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { emitIpv6Raw, in6IsMulticast } from '../wire/ipv6.js';
import type { VnetHdr } from '../wire/vnet.js';
import { fwEnable, fwOnePass, V_DENY, V_FWD, V_NAT, V_PASS, V_REJECT, V_RESET, type Ipfw } from './ip_fw2.js';
import { A, TH } from './rule.js';
import { A6, ICMP6_UNREACH_RST } from './rule6.js';
import { check6 } from './ip_fw6.js';

const IPPROTO_TCP = 6;
const IPPROTO_ICMPV6 = 58;
const ICMP6_DST_UNREACH = 1;

/** The hook ipfw adds to its image's inet6 head, in and out. */
export class Ipfw6Hook implements PfilHook {
  readonly name = 'ipfw';
  constructor(
    readonly fw: Ipfw,
    readonly head: PfilHead,
  ) {}

  pfilIn(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict {
    const fw = this.fw;
    if (fw.im.sysctl.v[fwEnable.slot] === 0) return PFIL_PASS;
    return ipfw6Run(fw, false, ifp, null, buf, off, len, 0, meta, 0);
  }

  pfilOut(rcvif: Ifnet | null, ifp: Ifnet, _nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): PfilVerdict {
    const fw = this.fw;
    if (fw.im.sysctl.v[fwEnable.slot] === 0) return PFIL_PASS;
    return ipfw6Run(fw, true, rcvif, ifp, buf, off, len, mtu, meta, 0);
  }

  attach(): void {
    this.head.addHook(this, PFIL_IN | PFIL_OUT);
  }

  detach(): void {
    this.head.removeHook(this);
  }

  /** Dummynet hands an IPv6 packet back: the rest of the chain (one_pass=0), then the hooks after ipfw and the path it left. */
  reinject(out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, ruleNum: number): void {
    const fw = this.fw;
    const v = fw.im.sysctl.v;
    if (v[fwEnable.slot] !== 0 && v[fwOnePass.slot] === 0) {
      let start = 0;
      while (start < fw.rules.length - 1 && fw.rules[start]!.num <= ruleNum) start++;
      if (ipfw6Run(fw, out, rcvif, outif, buf, off, len, mtu, meta, start) !== PFIL_PASS) return;
    }
    if (out) this.head.reinjectOut(this, rcvif, outif!, 0, buf, off, len, mtu, meta);
    else this.head.reinjectIn(this, rcvif!, buf, off, len, meta);
  }
}

/**
 * Run the chain from rule index `start` over an IPv6 packet and carry out its verdict. `mtu` is the one output
 * cuts the packet to (the path MTU of our own packets), which dummynet keeps for the packet's way back.
 */
function ipfw6Run(fw: Ipfw, out: boolean, rcvif: Ifnet | null, outif: Ifnet | null, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr, start: number): PfilVerdict {
  fw.meta = meta;
  const v = check6(fw, out, rcvif, outif, buf, off, len, start);
  const st = fw.stat;
  switch (v) {
    case V_PASS:
    case V_NAT:
    // `fwd` holds an IPv4 next hop, which an IPv6 packet does not take: FreeBSD tags it M_IP_NEXTHOP, which
    // ip6_output and ip6_forward ignore, and it goes on as passed (not into a dummynet queue named by the address).
    case V_FWD:
      st.passed++;
      return PFIL_PASS;
    case V_DENY:
      st.denied++;
      return PFIL_DROPPED;
    case V_REJECT: {
      const r = fw.hit!;
      const code = r.action === A6.UNREACH6 ? r.actArg : mapIcmpUnreach(r.actArg);
      if (code === ICMP6_UNREACH_RST) st.reset++;
      else st.rejected++;
      sendReject6(fw, code, out ? outif : rcvif, buf, off, len);
      return PFIL_DROPPED;
    }
    case V_RESET:
      st.reset++;
      sendReject6(fw, ICMP6_UNREACH_RST, out ? outif : rcvif, buf, off, len);
      return PFIL_DROPPED;
    default: {
      const r = fw.hit!;
      // Dummynet's flows are keyed by 32-bit addresses: an IPv6 flow by the folds check6 made.
      if (!fw.dn.enqueue(r.action === A.PIPE, fw.arg, out, rcvif, outif, 0, buf, off, len, mtu, meta, r.num, fw.proto, fw.src, fw.dst, fw.sport, fw.dport)) st.nopipe++;
      else st.dummynet++;
      return PFIL_CONSUMED;
    }
  }
}

/** map_icmp_unreach (RFC 7915 4.2): an ICMP unreachable code as the ICMPv6 one send_reject6 uses. */
function mapIcmpUnreach(code: number): number {
  switch (code) {
    case 0: // net
    case 1: // host
    case 5: // srcfail
    case 6: // net-unknown
    case 7: // host-unknown
    case 11: // tosnet
    case 12: // toshost
      return 0; // no-route
    case 3: // port
      return 4;
    default:
      return 1; // admin-prohib
  }
}

/**
 * send_reject6: a TCP RST for `reset6` on a TCP packet that is not one
 * itself, else (not a later fragment, not an ICMPv6 error, not to a
 * multicast group) an ICMPv6 destination unreachable with `code`.
 */
function sendReject6(fw: Ipfw, code: number, ifp: Ifnet | null, buf: Uint8Array, off: number, len: number): void {
  if (fw.fragOff !== 0 || in6IsMulticast(buf, off + 24)) return;
  if (code === ICMP6_UNREACH_RST) {
    if (fw.proto === IPPROTO_TCP && (fw.tcpFlags & TH.RST) === 0) sendReset6(fw, buf, off);
    return;
  }
  if (fw.proto === IPPROTO_ICMPV6 && fw.icmpType < 128) return;
  if (ifp !== null) icmp6Error(fw.im, ifp, buf, off, len, -1, -1, ICMP6_DST_UNREACH, code, 0);
}

/** A RST back to the sender (RFC 9293 3.10.7.1) under an IPv6 header, sent as our own output. */
function sendReset6(fw: Ipfw, buf: Uint8Array, off: number): void {
  const p = allocPacket(60);
  const b = p.buf;
  const o = p.off;
  emitIpv6Raw(b, o, 20, IPPROTO_TCP, 64, buf, off + 24, buf, off + 8);
  const tt = o + 40;
  writeReset(fw, buf, off + fw.hlen, b, tt);
  const sum = foldComplement(sum16(b, tt, 20, pseudoHeaderSum6(b, o + 8, o + 24, 20, IPPROTO_TCP)));
  b[tt + 16] = sum >> 8;
  b[tt + 17] = sum & 0xff;
  ip6Output(fw.im, b, o, 60, fw.im.noOffload);
}
