/**
 * Segment text in sequence (FreeBSD's tcp_reass.c and tcp_autorcvbuf):
 * data at RCV.NXT goes to the application, data ahead of it waits in the
 * reassembly queue, and the receive buffer grows when the peer fills it
 * within a round trip.
 */

import type { TcpCb } from './tcp_cb.js';
import { seqAdd, seqSub, type Seq } from './tcp_seq.js';
import { tcpTimerActivate } from './tcp_timer.js';
import { TT_DELACK, tcpDelackTime, tcpDelayedAck, tcpRecvbufAuto, tcpRecvbufMax } from './tcp_var.js';

/** Most out-of-order pieces kept per connection (FreeBSD's net.inet.tcp.reass.maxqueuelen idea). */
export const TCP_REASS_MAXQ = 4096;

/** Take `len` bytes of segment text at sequence `s` from buf[off...]. */
export function tcpReass(cb: TcpCb, s: Seq, buf: Uint8Array, off: number, len: number): void {
  const st = cb.host.stat;
  if (s === cb.rcvNxt && cb.reass.length === 0) {
    // In order and nothing waiting: straight to the application.
    cb.rcvNxt = seqAdd(cb.rcvNxt, len);
    st.rcvpack++;
    st.rcvbyte += len;
    cb.rcv.push(buf.slice(off, off + len));
    tcpAutoRcvBuf(cb, len);
    const delack = cb.host.sysctl[tcpDelayedAck.slot] === 1;
    // Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2): at least every second full segment.
    if (!delack || cb.deadline[TT_DELACK] !== 0 || len >= 2 * cb.smss) cb.ackNow = true;
    else tcpTimerActivate(cb, TT_DELACK, cb.host.sysctl[tcpDelackTime.slot]!);
    cb.so.readable();
    return;
  }
  // Out of order, or filling a hole: through the reassembly queue; ACK at once
  // (RFC 5681 4.2: a duplicate ACK for a gap, an immediate ACK when it fills).
  cb.ackNow = true;
  if (s !== cb.rcvNxt) {
    if (cb.reass.length >= TCP_REASS_MAXQ) {
      // A peer slicing the window into tiny pieces does not get unbounded memory.
      st.rcvreassfull++;
      return;
    }
    st.rcvoopack++;
    st.rcvoobyte += len;
    cb.reass.insert(s, buf, off, len);
    return;
  }
  cb.reass.insert(s, buf, off, len);
  const before = cb.rcvNxt;
  cb.rcvNxt = cb.reass.pullInOrder(cb.rcvNxt, (d) => cb.rcv.push(d));
  const got = seqSub(cb.rcvNxt, before);
  st.rcvpack++;
  st.rcvbyte += got;
  tcpAutoRcvBuf(cb, got);
  cb.so.readable();
}

/** Receive buffer autosizing: grow when the peer fills most of the buffer within one RTT. */
function tcpAutoRcvBuf(cb: TcpCb, n: number): void {
  const v = cb.host.sysctl;
  if (v[tcpRecvbufAuto.slot] !== 1) return;
  const now = cb.host.now();
  const rtt = Math.max(cb.srtt, 1);
  cb.rcvAutoBytes += n;
  if (now - cb.rcvAutoStart > rtt) {
    if (cb.rcvAutoBytes > (cb.rcvBufSize * 7) / 8 && cb.rcvBufSize < v[tcpRecvbufMax.slot]!) {
      cb.rcvBufSize = Math.min(cb.rcvBufSize * 2, v[tcpRecvbufMax.slot]!);
    }
    cb.rcvAutoStart = now;
    cb.rcvAutoBytes = 0;
  } else if (cb.rcvAutoBytes > (cb.rcvBufSize * 7) / 8 && cb.rcvBufSize < v[tcpRecvbufMax.slot]!) {
    cb.rcvBufSize = Math.min(cb.rcvBufSize * 2, v[tcpRecvbufMax.slot]!);
    cb.rcvAutoStart = now;
    cb.rcvAutoBytes = 0;
  }
}
