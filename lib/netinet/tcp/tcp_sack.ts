/**
 * SACK when we send (FreeBSD's tcp_sack.c): the scoreboard of what the
 * peer holds above SND.UNA (RFC 2018), and RFC 6675 loss recovery that
 * retransmits the holes. The blocks we report come from the reassembly
 * queue (tcp_sockbuf.ts) and are written by tcp_output.ts.
 */

import type { TcpRepr } from '../../wire/tcp.js';
import type { TcpCb } from './tcp_cb.js';
import { tcpSendAt } from './tcp_output.js';
import { seq, seqAdd, seqGt, seqLeq, seqLt, seqMax, seqSub, type Seq } from './tcp_seq.js';

/** Merge the segment's SACK blocks into the scoreboard; true if they covered data not SACKed before (tcp_sack_doack). */
export function tcpSackDoAck(cb: TcpCb, r: TcpRepr, ack: Seq): boolean {
  cb.host.stat.sackrcvblocks++;
  const before = tcpSackedBytes(cb);
  for (let k = 0; k < r.sackCount; k++) {
    const l = seq(r.sack[k * 2]!);
    const rr = seq(r.sack[k * 2 + 1]!);
    // RFC 2018: ignore blocks below the ACK or beyond what we sent.
    if (!seqLt(l, rr) || seqLeq(rr, ack) || seqGt(rr, cb.sndMax)) continue;
    tcpSackAdd(cb, seqMax(l, ack), rr);
  }
  return tcpSackedBytes(cb) > before;
}

/** Merge [l, r) into the scoreboard (sorted, disjoint pairs), in place: no allocation per ACK. */
export function tcpSackAdd(cb: TcpCb, l: Seq, r: Seq): void {
  const s = cb.sacked;
  let i = 0;
  while (i < s.length && seqLt(s[i + 1]!, l)) i += 2; // blocks wholly below
  let j = i;
  while (j < s.length && !seqGt(s[j]!, r)) {
    // overlapping or touching: absorbed
    if (seqLt(s[j]!, l)) l = s[j]!;
    if (seqGt(s[j + 1]!, r)) r = s[j + 1]!;
    j += 2;
  }
  const absorbed = (j - i) >> 1;
  if (absorbed === 0) {
    // a new block at i: move the tail up one pair
    s.push(0 as Seq, 0 as Seq);
    for (let k = s.length - 1; k >= i + 2; k--) s[k] = s[k - 2]!;
  } else if (absorbed > 1) {
    s.copyWithin(i + 2, j);
    s.length -= (absorbed - 1) * 2;
  }
  s[i] = l;
  s[i + 1] = r;
}

/** Forget what SND.UNA has passed. */
export function tcpSackPrune(cb: TcpCb): void {
  const s = cb.sacked;
  if (s.length === 0) return;
  const una = cb.sndUna;
  let i = 0;
  while (i < s.length && seqLeq(s[i + 1]!, una)) i += 2;
  if (i > 0) {
    s.copyWithin(0, i);
    s.length -= i;
  }
  if (s.length > 0 && seqLt(s[0]!, una)) s[0] = una;
}

export function tcpSackedBytes(cb: TcpCb): number {
  let n = 0;
  for (let i = 0; i < cb.sacked.length; i += 2) n += seqSub(cb.sacked[i + 1]!, cb.sacked[i]!);
  return n;
}

/** RFC 6675 IsLost(): at least DupThresh (3) SACKed segments' worth of data above `s`. */
function isLost(cb: TcpCb, s: Seq): boolean {
  let above = 0;
  let blocks = 0;
  for (let i = 0; i < cb.sacked.length; i += 2) {
    const l = cb.sacked[i]!;
    const r = cb.sacked[i + 1]!;
    if (seqLeq(r, s)) continue;
    above += seqSub(r, seqGt(l, s) ? l : s);
    blocks++;
  }
  return blocks >= 3 || above > 2 * cb.smss;
}

/**
 * Retransmit one segment. Without SACK (or for the first retransmission of
 * a recovery, `first`) it is the segment at SND.UNA (RFC 6582, RFC 6675
 * 5 step 4). With SACK it is RFC 6675's NextSeg() rule 1: the first byte
 * above HighRxt the peer does not hold and that counts as lost (enough
 * SACKed data above it); when there is none, nothing is retransmitted and
 * new data may go instead. Returns whether a segment was sent.
 */
export function tcpRetransmitHole(cb: TcpCb, first = false): boolean {
  let start = cb.sndUna;
  if (cb.sackOn && !first) {
    if (seqGt(cb.highRxt, start)) start = cb.highRxt;
    // Skip ranges the peer holds.
    for (let i = 0; i < cb.sacked.length; i += 2) {
      if (seqLeq(cb.sacked[i]!, start) && seqGt(cb.sacked[i + 1]!, start)) start = cb.sacked[i + 1]!;
    }
    if (!isLost(cb, start)) return false;
  }
  let len = Math.min(cb.smss, seqSub(cb.sndMax, start));
  if (cb.sackOn) {
    for (let i = 0; i < cb.sacked.length; i += 2) {
      const l = cb.sacked[i]!;
      if (seqGt(l, start) && seqSub(l, start) < len) len = seqSub(l, start);
    }
  }
  if (len <= 0) return false;
  tcpSendAt(cb, start, len);
  const end = seqAdd(start, len);
  if (seqGt(end, cb.highRxt)) cb.highRxt = end;
  if (cb.sackOn) cb.host.stat.sackrexmitpack++;
  return true;
}
