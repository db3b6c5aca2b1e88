/**
 * IPv6 reassembly (RFC 8200 4.5; FreeBSD's frag6.c). Fragments of one
 * datagram (same source, destination and identification) wait in a queue
 * found through a seeded hash of those fields (1024 buckets), sorted by
 * offset, until the datagram is whole or IPV6_FRAGTTL (60 s) passes; a
 * queue that times out with its first fragment answers the source with a
 * time exceeded, fragment reassembly time exceeded (RFC 8200 4.5).
 *
 * Limits, as FreeBSD's sysctls: net.inet6.ip6.maxfrags fragments held in
 * all, maxfragpackets datagrams in reassembly, maxfragbucketsize datagrams
 * per hash bucket, maxfragsperpacket fragments per datagram. Hostile input
 * (a fragment storm) therefore holds at most maxfrags fragment copies.
 * Overlapping fragments drop the whole datagram (RFC 5722); an exact
 * duplicate is dropped alone (RFC 8200 4.5). Atomic fragments (offset 0,
 * M clear: RFC 6946) never come here: ip6_input delivers them at once.
 *
 * Every fragment dropped bumps one ip6stat counter: fragdropped, or
 * fragtimeout / fragoverflow for the fragments of a queue freed by the
 * timer (FreeBSD's frag6_slowtimo).
 */

import type { Timer } from '../clock.js';
import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { allocPacket } from '../netinet/ip_var.js';
import { sysctlInt } from '../sysctl.js';
import { put16, u16, u32 } from '../wire/bytes.js';
import { ICMP6_PARAMPROB, ICMP6_TIME_EXCEED, ICMP6_TYPE } from '../wire/icmp6.js';
import { IP6_DST_OFF, IP6_FRAG_LEN, IP6_HDR_LEN, IP6_SRC_OFF, IP6F_MORE_FRAG, IP6F_OFF_MASK, IPPROTO6, in6Equal } from '../wire/ipv6.js';
import { icmp6Error } from './icmp6.js';

/*
 * FreeBSD sizes these from nmbclusters (IP6_MAXFRAGS = nmbclusters / 32,
 * IP6_MAXFRAGPACKETS = min(IP6_MAXFRAGS, IP6REASS_NHASH * 50), bucket size
 * maxfragpackets / (IP6REASS_NHASH / 2)); the defaults here are what it
 * computes on a 1 GiB machine (nmbclusters 65536). The descriptions are
 * FreeBSD 14's, word for word.
 */
export const ip6MaxFragPackets = sysctlInt({
  name: 'net.inet6.ip6.maxfragpackets',
  def: 2048,
  min: -1,
  max: 1_000_000,
  descr: 'Default maximum number of outstanding fragmented IPv6 packets. A value of 0 means no fragmented packets will be accepted, while a a value of -1 means no limit',
});
export const ip6MaxFrags = sysctlInt({
  name: 'net.inet6.ip6.maxfrags',
  def: 2048,
  min: -1,
  max: 1_000_000,
  descr: 'Maximum allowed number of outstanding IPv6 packet fragments. A value of 0 means no fragmented packets will be accepted, while a a value of -1 means no limit',
});
export const ip6MaxFragsPerPacket = sysctlInt({
  name: 'net.inet6.ip6.maxfragsperpacket',
  def: 64,
  min: 0,
  max: 8192,
  descr: 'Maximum allowed number of fragments per packet',
});
export const ip6MaxFragBucketSize = sysctlInt({
  name: 'net.inet6.ip6.maxfragbucketsize',
  def: 4,
  min: 0,
  max: 1_000_000,
  descr: 'Maximum number of reassembly queues per hash bucket',
});

/** IPV6_FRAGTTL: 120 ticks of FreeBSD's 500 ms slow timer (ms). */
export const IPV6_FRAGTTL = 60_000;
const NHASH = 1024;
const IPV6_MAXPACKET = 65535;
const ECN_NOTECT = 0;
const ECN_CE = 3;
/** Never written: what rbuf holds when no datagram was completed. */
const EMPTY = new Uint8Array(0);

interface Frag6 {
  /** The whole fragment as it arrived (IPv6 header on), for the time exceeded quote and the unfragmentable part. */
  readonly pkt: Uint8Array;
  /** Offset of the fragment's data in pkt. */
  readonly data: number;
  /** Fragment offset and length of its data (bytes). */
  readonly off: number;
  readonly len: number;
  readonly more: boolean;
}

interface Frag6Queue {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly ident: number;
  readonly bucket: number;
  /** Sorted by offset, none overlapping. */
  readonly frags: Frag6[];
  /** Length of the unfragmentable part after the IPv6 header, once the first fragment came; -1 before. */
  unfrglen: number;
  /** Next header from the first fragment's fragment header. */
  nxt: number;
  ecn: number;
  /** Where the first fragment came in (the time exceeded goes out there). */
  ifp: Ifnet | null;
  readonly expire: number;
}

/** One image's reassembly queues. */
export class Frag6Table {
  /** Made with the first fragment: an image that never sees one holds no buckets. */
  buckets: Frag6Queue[][] | null = null;
  nfragpackets = 0;
  nfrags = 0;
  seed = 0;
  sweeper: Timer | null = null;
  /** The datagram frag6Input completed (valid until the next call). */
  rbuf: Uint8Array = EMPTY;
  roff = 0;
  rlen = 0;
}

declare module '../net/vnet.js' {
  interface Vnet {
    readonly frag6: Frag6Table;
  }
}

function hash(seed: number, b: Uint8Array, off: number, ident: number): number {
  let h = seed;
  for (let i = 0; i < 32; i += 4) {
    h = Math.imul(h ^ u32(b, off + IP6_SRC_OFF + i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ ident, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) & (NHASH - 1);
}

/** Free a queue: its fragments are gone (the caller counted them). With `timeout`, a time exceeded for the first fragment. */
function freeQueue(im: Vnet, q: Frag6Queue, timeout: boolean): void {
  const t = im.frag6;
  const b = t.buckets![q.bucket]!;
  const i = b.indexOf(q);
  if (i >= 0) b.splice(i, 1);
  t.nfragpackets--;
  t.nfrags -= q.frags.length;
  const first = q.frags[0];
  // RFC 8200 4.5: time exceeded code 1 only if the first fragment arrived; an interface gone since is not answered through.
  if (timeout && first !== undefined && first.off === 0 && q.ifp !== null && im.ifnets.get(q.ifp.name) === q.ifp) {
    icmp6Error(im, q.ifp, first.pkt, 0, first.pkt.length, -1, -1, ICMP6_TYPE.TIME_EXCEEDED, ICMP6_TIME_EXCEED.REASSEMBLY, 0);
  }
  if (t.nfragpackets === 0) {
    t.sweeper?.cancel();
    t.sweeper = null;
  }
}

/** Drop a whole queue and the fragment that arrived with it; all counted fragdropped. */
function dropQueue(im: Vnet, q: Frag6Queue): void {
  im.ip6stat.fragdropped += q.frags.length + 1;
  freeQueue(im, q, false);
}

/**
 * The timer (FreeBSD's frag6_slowtimo): queues past IPV6_FRAGTTL go, their
 * fragments counted fragtimeout; then, if a limit was lowered, the oldest
 * queues go until the image is within it again (fragoverflow).
 */
export function frag6Sweep(im: Vnet): void {
  const t = im.frag6;
  const bs = t.buckets;
  if (bs === null) return;
  const st = im.ip6stat;
  const now = im.clock.now();
  const maxp = im.sysctl.v[ip6MaxFragPackets.slot]!;
  const maxb = im.sysctl.v[ip6MaxFragBucketSize.slot]!;
  for (const b of bs) {
    if (b.length === 0) continue;
    for (let i = b.length - 1; i >= 0; i--) {
      const q = b[i]!;
      if (q.expire <= now) {
        st.fragtimeout += q.frags.length;
        freeQueue(im, q, true);
      }
    }
    // Newest first in a bucket: the oldest is last.
    while ((maxp === 0 || (maxp > 0 && b.length > maxb)) && b.length > 0) {
      const q = b[b.length - 1]!;
      st.fragoverflow += q.frags.length;
      freeQueue(im, q, false);
    }
  }
  for (let k = 0; maxp >= 0 && t.nfragpackets > maxp && k < NHASH * 2; k++) {
    const b = bs[k % NHASH]!;
    const q = b[b.length - 1];
    if (q === undefined) continue;
    st.fragoverflow += q.frags.length;
    freeQueue(im, q, false);
  }
}

export function frag6Destroy(im: Vnet): void {
  const t = im.frag6;
  t.sweeper?.cancel();
  t.sweeper = null;
  t.buckets = null;
  t.nfragpackets = 0;
  t.nfrags = 0;
  t.rbuf = EMPTY;
}

/** Fragments held now, and datagrams in reassembly (tests, and the limits' gauges). */
export function frag6Counts(im: Vnet): { frags: number; packets: number } {
  return { frags: im.frag6.nfrags, packets: im.frag6.nfragpackets };
}

/**
 * A non-atomic fragment: the IPv6 header at buf[off] (ip6Len bytes in all),
 * its fragment header at buf[fo]; it came in on `ifp`. The caller has
 * counted it in ip6s_fragments. Returns true when it completed a datagram,
 * which is then at frag6.rbuf[roff, roff+rlen), without the fragment
 * header, to be processed as if it had arrived whole.
 */
export function frag6Input(im: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, ip6Len: number, fo: number): boolean {
  const st = im.ip6stat;
  const t = im.frag6;
  const sv = im.sysctl.v;
  const offlg = u16(buf, fo + 2);
  const more = (offlg & IP6F_MORE_FRAG) !== 0;
  const fragoff = offlg & IP6F_OFF_MASK;
  const data = fo + IP6_FRAG_LEN;
  const len = off + ip6Len - data;
  // RFC 8200 4.5: every fragment but the last carries a multiple of 8 bytes; the payload length is at fault.
  if ((more && (len & 7) !== 0) || len === 0) {
    st.fragdropped++;
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.HEADER, 4);
    return false;
  }
  const maxfrags = sv[ip6MaxFrags.slot]!;
  if (maxfrags >= 0 && t.nfrags >= maxfrags) {
    st.fragdropped++;
    return false;
  }
  const ident = u32(buf, fo + 4);
  if (t.buckets === null) {
    t.buckets = Array.from({ length: NHASH }, () => []);
    t.seed = Math.floor(im.random() * 0x100000000) >>> 0;
  }
  const bi = hash(t.seed, buf, off, ident);
  const bucket = t.buckets[bi]!;
  let q: Frag6Queue | undefined;
  for (const x of bucket) {
    if (x.ident === ident && in6Equal(x.src, 0, buf, off + IP6_SRC_OFF) && in6Equal(x.dst, 0, buf, off + IP6_DST_OFF)) {
      q = x;
      break;
    }
  }
  const ecn = (u32(buf, off) >>> 20) & 3;
  let fresh = false;
  if (q === undefined) {
    const maxp = sv[ip6MaxFragPackets.slot]!;
    if (maxp >= 0 && (bucket.length >= sv[ip6MaxFragBucketSize.slot]! || t.nfragpackets >= maxp)) {
      st.fragdropped++;
      return false;
    }
    q = {
      src: buf.slice(off + IP6_SRC_OFF, off + IP6_SRC_OFF + 16),
      dst: buf.slice(off + IP6_DST_OFF, off + IP6_DST_OFF + 16),
      ident,
      bucket: bi,
      frags: [],
      unfrglen: -1,
      nxt: 0,
      ecn,
      ifp: null,
      expire: im.clock.now() + IPV6_FRAGTTL,
    };
    bucket.unshift(q);
    t.nfragpackets++;
    t.sweeper ??= im.clock.every(1000, () => frag6Sweep(im));
    fresh = true;
  }
  const unfrglen = fo - off - IP6_HDR_LEN;
  // The datagram rebuilt must fit a payload length (RFC 8200 4.5): the fragment offset field is at fault.
  if ((fragoff === 0 ? unfrglen : Math.max(q.unfrglen, 0)) + fragoff + len > IPV6_MAXPACKET) {
    st.fragdropped++;
    if (fresh) freeQueue(im, q, false);
    icmp6Error(im, ifp, buf, off, ip6Len, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.HEADER, fo - off + 2);
    return false;
  }
  if (!fresh) {
    // RFC 3168 5.3, as FreeBSD: CE in a datagram that was not ECN-capable, or not-ECT mixed with ECT, drops the fragment.
    if ((ecn === ECN_CE && q.ecn === ECN_NOTECT) || (ecn === ECN_NOTECT && q.ecn !== ECN_NOTECT)) {
      st.fragdropped++;
      return false;
    }
    if (ecn === ECN_CE) q.ecn = ECN_CE;
  }
  const fr = q.frags;
  let i = 0;
  while (i < fr.length && fr[i]!.off <= fragoff) i++;
  const end = fragoff + len;
  const prev = i > 0 ? fr[i - 1]! : undefined;
  const next = fr[i];
  for (let k = 0; k < 2; k++) {
    const o = k === 0 ? prev : next;
    if (o === undefined || o.off + o.len <= fragoff || o.off >= end) continue;
    if (o.off === fragoff && o.len === len) {
      st.fragdropped++; // an exact duplicate goes alone (RFC 8200 4.5)
      return false;
    }
    dropQueue(im, q); // RFC 5722 3: overlapping fragments discard the whole datagram
    return false;
  }
  // The last fragment (M clear) fixes the length: a fragment past it, or a last one before data already held, is malformed.
  const last = fr[fr.length - 1];
  if ((last !== undefined && !last.more && end > last.off + last.len) || (!more && last !== undefined && last.off + last.len > end)) {
    dropQueue(im, q);
    return false;
  }
  if (fragoff === 0 && q.unfrglen < 0) {
    q.unfrglen = unfrglen;
    q.nxt = buf[fo]!;
    q.ifp = ifp;
    // Fragments that came first and now overflow 65535 with this unfragmentable part go (FreeBSD answers each with a parameter problem).
    for (let k = fr.length - 1; k >= 0; k--) {
      const o = fr[k]!;
      if (unfrglen + o.off + o.len <= IPV6_MAXPACKET) continue;
      fr.splice(k, 1);
      t.nfrags--;
      st.fragdropped++;
      icmp6Error(im, ifp, o.pkt, 0, o.pkt.length, -1, -1, ICMP6_TYPE.PARAM_PROB, ICMP6_PARAMPROB.HEADER, o.data - IP6_FRAG_LEN + 2);
    }
    i = 0;
    while (i < fr.length && fr[i]!.off <= fragoff) i++;
  }
  fr.splice(i, 0, { pkt: buf.slice(off, off + ip6Len), data: data - off, off: fragoff, len, more });
  t.nfrags++;
  // Whole? Contiguous from 0, ending with a last fragment.
  let plen = 0;
  for (const f of fr) {
    if (f.off !== plen) return tooMany(im, q);
    plen += f.len;
  }
  if (fr[fr.length - 1]!.more || q.unfrglen < 0) return tooMany(im, q);
  return rebuild(im, q, plen);
}

/** Not complete yet: past maxfragsperpacket the datagram goes (FreeBSD counts its fragments fragdropped). */
function tooMany(im: Vnet, q: Frag6Queue): false {
  if (q.frags.length > im.sysctl.v[ip6MaxFragsPerPacket.slot]!) {
    im.ip6stat.fragdropped += q.frags.length;
    freeQueue(im, q, false);
  }
  return false;
}

/** Concatenate: the first fragment's headers up to its fragment header, then every fragment's data. */
function rebuild(im: Vnet, q: Frag6Queue, plen: number): true {
  const t = im.frag6;
  const first = q.frags[0]!;
  const hl = IP6_HDR_LEN + q.unfrglen;
  const total = hl + plen;
  const p = allocPacket(total);
  const b = p.buf;
  const o = p.off;
  b.set(first.pkt.subarray(0, hl), o);
  let w = o + hl;
  for (const f of q.frags) {
    b.set(f.pkt.subarray(f.data, f.data + f.len), w);
    w += f.len;
  }
  put16(b, o + 4, total - IP6_HDR_LEN);
  if (q.ecn === ECN_CE) b[o + 1]! |= ECN_CE << 4;
  // The header before the fragment header now names what followed it.
  let nxtAt = o + 6;
  let nxt = b[nxtAt]!;
  let h = o + IP6_HDR_LEN;
  while (h < o + hl && nxt !== IPPROTO6.FRAGMENT) {
    nxtAt = h;
    nxt = b[h]!;
    h += (b[h + 1]! + 1) << 3;
  }
  b[nxtAt] = q.nxt;
  freeQueue(im, q, false);
  im.ip6stat.reassembled++;
  t.rbuf = b;
  t.roff = o;
  t.rlen = total;
  return true;
}
