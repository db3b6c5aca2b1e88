/**
 * Initial sequence numbers and timestamp offsets (FreeBSD's tcp_new_isn and
 * tcp_new_ts_offset in tcp_subr.c), from a per-image secret.
 *
 * RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secret),
 * M a clock ticking every 4 us. A new connection on the 4-tuple of one that
 * just closed then starts above the old one's sequence space, so a peer
 * still holding that connection in TIME-WAIT accepts the SYN (RFC 9293
 * 3.4.1; Linux's tcp_timewait_state_process). Random ISNs break that about
 * half the time: the peer answers the SYN with the old connection's ACK,
 * we reset it, and the connection waits a SYN retransmission (1 s).
 *
 * RFC 7323 5.4: the timestamp clock gets an offset per 4-tuple, not per
 * connection, so TSval keeps rising across connections on one 4-tuple
 * (PAWS on the peer, and its TIME-WAIT check, see newer values).
 */

/** 32-bit keyed hash of five words (not cryptographic; enough against blind guessing). */
export function tcpKeyedHash(secret: number, a: number, b: number, c: number, d: number, e: number): number {
  let h = (secret ^ 0x9e3779b9) >>> 0;
  h = mix(h, a);
  h = mix(h, b);
  h = mix(h, c);
  h = mix(h, d);
  return mix(h, e);
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** M of RFC 6528: 250 ticks a millisecond (4 us). */
const ISN_TICKS_PER_MS = 250;

/** The ISN for a connection from laddr:lport to faddr:fport at `nowMs` (monotonic). */
export function tcpNewIsn(secret: number, laddr: number, lport: number, faddr: number, fport: number, nowMs: number): number {
  return (tcpKeyedHash(secret, laddr, faddr, ((lport << 16) | fport) >>> 0, 0x69736e, 0) + Math.floor(nowMs * ISN_TICKS_PER_MS)) >>> 0;
}

/** The timestamp offset for the 4-tuple (added to the millisecond clock for TSval). */
export function tcpNewTsOffset(secret: number, laddr: number, lport: number, faddr: number, fport: number): number {
  return tcpKeyedHash(secret, laddr, faddr, ((lport << 16) | fport) >>> 0, 0x74736f, 1);
}
