/**
 * IPv4 reassembly (RFC 791 3.2, RFC 815) with hard caps: at most
 * net.inet.ip.maxfragpackets datagrams in reassembly, at most
 * net.inet.ip.maxfragsperpacket fragments each, and net.inet.ip.fragttl
 * seconds to complete. Overlapping fragments other than exact duplicates drop
 * the whole datagram (the safe choice against overlap attacks, as RFC 5722
 * requires for IPv6).
 */

import type { Vnet } from '../net/vnet.js';
import { IP_MAXPACKET, Ipv4Packet } from '../wire/ipv4.js';
import { allocPacket, ipFragTtl, ipMaxFragPackets, ipMaxFragsPerPacket } from './ip_var.js';

interface Frag {
  start: number;
  data: Uint8Array;
}

interface FragQueue {
  frags: Frag[];
  /** Payload length once the last fragment (MF clear) has arrived; -1 before. */
  total: number;
  /** Header of the fragment at offset 0, once seen. */
  header: Uint8Array | null;
  expire: number;
}

export class ReassTable {
  readonly queues = new Map<string, FragQueue>();
  sweeper: { cancel(): void } | null = null;
  /** The fragment being added, then the datagram being rebuilt (reused). */
  readonly view = new Ipv4Packet();
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly reass: ReassTable;
  }
}

export function reassInit(_im: Vnet): void {
  // The sweeper is armed with the first queue (an idle image has no timer).
}

export function reassDestroy(im: Vnet): void {
  im.reass.sweeper?.cancel();
  im.reass.sweeper = null;
  im.reass.queues.clear();
}

function reassSweep(im: Vnet): void {
  const now = im.clock.now();
  for (const [k, q] of im.reass.queues) {
    if (q.expire <= now) {
      im.ipstat.fragtimeout += q.frags.length;
      im.reass.queues.delete(k);
    }
  }
  if (im.reass.queues.size === 0) {
    im.reass.sweeper?.cancel();
    im.reass.sweeper = null;
  }
}

/**
 * Add a fragment; returns the reassembled packet when it completes, else
 * null. Every fragment dropped is counted once.
 */
export function ipReass(im: Vnet, buf: Uint8Array, off: number, hlen: number, ipLen: number): { buf: Uint8Array; off: number; len: number } | null {
  const st = im.ipstat;
  const t = im.reass;
  st.fragments++;
  const ip = t.view.reset(buf, off, ipLen);
  const start = ip.fragOffset;
  const more = ip.moreFrags;
  const plen = ipLen - hlen;
  // RFC 791: every fragment but the last carries a multiple of 8 bytes.
  if ((more && (plen & 7) !== 0) || plen === 0) {
    st.fragdropped++;
    return null;
  }
  // As FreeBSD: a fragment must lie within a packet of valid size.
  if (start + plen > IP_MAXPACKET) {
    st.toolong++;
    st.fragdropped++;
    return null;
  }
  // RFC 791: fragments of one datagram share source, destination, protocol and identification.
  const key = `${ip.src}>${ip.dst}#${ip.ident}/${ip.protocol}`;
  let q = t.queues.get(key);
  if (q === undefined) {
    if (t.queues.size >= im.sysctl.v[ipMaxFragPackets.slot]!) {
      st.fragdropped++;
      return null;
    }
    q = { frags: [], total: -1, header: null, expire: im.clock.now() + im.sysctl.v[ipFragTtl.slot]! * 1000 };
    t.queues.set(key, q);
    if (t.sweeper === null) t.sweeper = im.clock.every(1000, () => reassSweep(im));
  }
  const end = start + plen;
  for (const f of q.frags) {
    const fe = f.start + f.data.length;
    if (end <= f.start || start >= fe) continue;
    if (f.start === start && fe === end) {
      st.fragdropped++; // exact duplicate
      return null;
    }
    st.fragdropped += q.frags.length + 1;
    t.queues.delete(key);
    return null;
  }
  if (q.frags.length >= im.sysctl.v[ipMaxFragsPerPacket.slot]! || (q.total >= 0 && (!more || end > q.total)) || (!more && q.frags.some((f) => f.start + f.data.length > end))) {
    st.fragdropped += q.frags.length + 1;
    t.queues.delete(key);
    return null;
  }
  q.frags.push({ start, data: buf.slice(off + hlen, off + ipLen) });
  if (!more) q.total = end;
  if (start === 0) q.header = buf.slice(off, off + hlen);
  if (q.total < 0 || q.header === null) return null;
  let have = 0;
  for (const f of q.frags) have += f.data.length;
  if (have !== q.total) return null;
  t.queues.delete(key);
  const h = q.header;
  const len = h.length + q.total;
  // The data fits, but with this header the datagram would not (FreeBSD's second toolong check).
  if (len > IP_MAXPACKET) {
    st.toolong++;
    st.fragdropped += q.frags.length;
    return null;
  }
  const p = allocPacket(len);
  p.buf.set(h, p.off);
  for (const f of q.frags) p.buf.set(f.data, p.off + h.length + f.start);
  const o = p.off;
  const whole = t.view.reset(p.buf, o, len);
  whole.totalLen = len;
  whole.fragField = 0;
  whole.fillChecksum();
  st.reassembled++;
  return { buf: p.buf, off: o, len };
}
