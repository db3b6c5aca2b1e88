/**
 * Raw IP sockets (SOCK_RAW) over raw_ip.ts: every packet of the protocol
 * delivered to the image is shown to the socket, IP header included, as
 * FreeBSD's rip_input does; `send` builds the IP header (or takes the
 * caller's with `hdrIncl`, IP_HDRINCL).
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { allocPacket, buildIpHeader, ipOutputLocal, readU32 } from '../netinet/ip_output.js';
import { rawAttach, type RawPcb } from '../netinet/raw_ip.js';
import { SocketError } from './errno.js';
import { localAddressFor } from './in_pcb.js';
import { AsyncQueue } from './queue.js';

export interface RawPacket {
  /** The whole IP packet, header included (a copy). */
  packet: Uint8Array;
  src: number;
  ifp: Ifnet;
}

const RAW_RECVSPACE = 9216 * 4;

export class RawSocket implements RawPcb, AsyncIterable<RawPacket> {
  readonly proto: number;
  private readonly q = new AsyncQueue<RawPacket>();
  private readonly detach: () => void;
  private queued = 0;
  private open = true;
  /** IP_HDRINCL: `send` takes a complete IP header. */
  hdrIncl = false;
  /** IP_TTL for packets this socket builds. */
  ttl: number | undefined;
  /** Only packets from this address (a connected raw socket); 0 = any. */
  faddr = 0;

  constructor(
    readonly im: Image,
    proto: number,
  ) {
    this.proto = proto;
    this.detach = rawAttach(im, this);
    im.sockets.add(this);
  }

  get recvQueued(): number {
    return this.queued;
  }

  /** @internal RawPcb */
  input(buf: Uint8Array, off: number, len: number, ifp: Ifnet): void {
    if (!this.open || this.queued + len > RAW_RECVSPACE) return;
    const src = readU32(buf, off + 12);
    if (this.faddr !== 0 && src !== this.faddr) return;
    this.queued += len;
    this.q.push({ packet: buf.slice(off, off + len), src, ifp });
  }

  /** Send `payload` to `dst` with this socket's protocol (or a full packet with hdrIncl). */
  send(payload: Uint8Array, dst: number): void {
    if (!this.open) throw new SocketError('EBADF', 'send');
    let p;
    let total;
    if (this.hdrIncl) {
      total = payload.length;
      if (total < 20) throw new SocketError('EINVAL', 'send');
      p = allocPacket(total);
      p.buf.set(payload, p.off);
    } else {
      total = 20 + payload.length;
      if (total > 65535) throw new SocketError('EMSGSIZE', 'send');
      const src = localAddressFor(this.im, dst);
      if (typeof src === 'string') throw new SocketError(src, 'send');
      p = allocPacket(total);
      buildIpHeader(this.im, p.buf, p.off, total, this.proto, src, dst, this.ttl);
      p.buf.set(payload, p.off + 20);
    }
    if (this.hdrIncl) this.im.ipstat.rawout++;
    const r = ipOutputLocal(this.im, p.buf, p.off, total, this.im.noOffload);
    if (r !== 0) throw new SocketError(r, 'send');
  }

  async recv(): Promise<RawPacket | null> {
    const p = await this.q.next();
    if (p !== null) this.queued -= p.packet.length;
    return p;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RawPacket> {
    for (;;) {
      const p = await this.recv();
      if (p === null) return;
      yield p;
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.detach();
    this.im.sockets.delete(this);
    this.q.close();
  }
}
