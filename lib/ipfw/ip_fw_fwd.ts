/**
 * `fwd ADDR` (FreeBSD's O_FORWARD_IP, carried out in ip_output.c and
 * ip_fastfwd.c through the PACKET_TAG_IPFORWARD tag): a packet the rule
 * matches goes on towards ADDR as its next hop instead of the one its
 * route gives. ADDR is looked up in the routing table: a directly
 * connected address is the next hop itself, else the route's gateway.
 *
 * On output (our own packets and forwarded ones) the packet leaves through
 * the interface towards ADDR; on input a packet to forward is forwarded
 * there at once (TTL decremented as ip_forward does), even one addressed
 * to the image, while a broadcast, multicast or loopback one is dropped
 * as ip_forward drops it. A local ADDR (and
 * `fwd ADDR,PORT`, FreeBSD's transparent proxying to a local socket) is
 * not carried out in vimage: the packet goes on unchanged (see parse).
 */

import { PFIL_CONSUMED, PFIL_DROPPED, PFIL_PASS, type PfilHead, type PfilVerdict } from '../net/pfil.js';
import { RTF } from '../netinet/route.js';
import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import type { VnetHdr } from '../wire/vnet.js';
import type { Ipfw } from './ip_fw2.js';
import { EX_DATAERR, EX_USAGE, RuleSyntaxError } from './parse_tokens.js';
import type { Rule } from './rule.js';

/** Carry out `fwd` for the packet `fw` just matched. */
export function fwdOut(fw: Ipfw, head: PfilHead, out: boolean, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict {
  const im = fw.im;
  const addr = fw.hit!.actArg;
  const st = fw.stat;
  // Our own packet to ourselves stays on lo0. On input even a packet for us goes on to ADDR, as
  // FreeBSD's ip_input ships any packet with the tag to ip_forward.
  if (im.localIfnet(addr) !== undefined || (out && im.localIfnet(fw.dst) !== undefined)) {
    st.passed++;
    return PFIL_PASS;
  }
  const ip = fw.ip;
  if (!out) {
    // ip_forward's in_canforward and M_BCAST|M_MCAST test: such a packet is dropped, not sent on.
    const d = fw.dst;
    if (d >>> 28 >= 0xe || d >>> 24 === 127 || d >>> 24 === 0 || im.isBroadcast(d)) {
      im.ipstat.cantforward++;
      st.denied++;
      return PFIL_DROPPED;
    }
    // A forwarded packet: the TTL check and decrement of ip_forward; an expiring one takes the normal path (time exceeded).
    if (ip.ttl <= 1) {
      st.passed++;
      return PFIL_PASS;
    }
    ip.decrementTtl(1);
  }
  const rt = im.routes.lookup(addr);
  if (rt === undefined || (rt.flags & (RTF.REJECT | RTF.BLACKHOLE)) !== 0) {
    st.denied++;
    return PFIL_DROPPED;
  }
  rt.use++;
  const nexthop = (rt.flags & RTF.GATEWAY) !== 0 ? rt.gateway : addr;
  st.passed++;
  head.proto.resumeOutput(rt.ifp, nexthop, buf, off, len, rt.mtu !== 0 ? rt.mtu : rt.ifp.mtu, meta);
  return PFIL_CONSUMED;
}

/** `fwd|forward ADDR[,PORT]` at tokens[i] (the action word): [address, port, next index]. */
export function parseFwd(tokens: readonly string[], i: number): [number, number, number] {
  const t = tokens[i + 1];
  if (t === undefined) throw new RuleSyntaxError('missing forward address', i + 1, EX_USAGE);
  if (t === 'tablearg') throw new RuleSyntaxError('fwd tablearg is not supported in vimage', i + 1, EX_DATAERR);
  const comma = t.indexOf(',');
  const host = comma < 0 ? t : t.slice(0, comma);
  const a = parseIp4(host);
  if (a === undefined) throw new RuleSyntaxError(`hostname \`\`${host}'' unknown`, i + 1, 68);
  if (comma >= 0) {
    const p = t.slice(comma + 1);
    if (!/^\d+$/.test(p) || Number(p) > 65535) throw new RuleSyntaxError(`invalid port: ${p}`, i + 1, EX_DATAERR);
    throw new RuleSyntaxError('fwd ADDR,PORT (forwarding to a local socket) is not supported in vimage', i + 1, EX_DATAERR);
  }
  return [a, 0, i + 2];
}

/** print_action_instruction for O_FORWARD_IP: `fwd ADDR[,PORT]`. */
export function fwdText(r: Rule): string {
  return `fwd ${ip4ToString(r.actArg)}${r.actPort !== 0 ? `,${r.actPort}` : ''}`;
}
