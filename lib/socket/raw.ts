/**
 * Raw IP sockets (SOCK_RAW) over raw_ip.ts: every packet of the protocol
 * delivered to the image is shown to the socket, IP header included, as
 * FreeBSD's rip_input does; `send` builds the IP header (or takes the
 * caller's with `hdrIncl`, IP_HDRINCL), as rip_output does.
 *
 * Packets are read either from the receive queue (`recv()`, `for await`),
 * bounded like FreeBSD's raw recvspace, or, with `onPacket(handler)`, by a
 * handler called on the packet path with a view of the packet that is valid
 * only during the call. The handler mode suits programs that time what they
 * receive (ping, traceroute): no copy, no queue, the image clock read at
 * arrival. Output errors come back from `send` as a `SocketError` with the
 * errno FreeBSD's sendto(2) returns (EHOSTUNREACH, ENETUNREACH, EMSGSIZE,
 * EHOSTDOWN, ENOBUFS).
 */

import type { Vnet } from '../net/vnet.js';
import type { Ifnet } from '../net/if.js';
import { buildIpHeader, ipOutputLocal } from '../netinet/ip_output.js';
import { allocPacket } from '../netinet/ip_var.js';
import { IP_HDR_LEN, Ipv4Packet, parseIp4 } from '../wire/ipv4.js';
import { rawAttach, type RawPcb } from '../netinet/raw_ip.js';
import { SocketError, socketRoom } from './errno.js';
import { AsyncQueue } from './queue.js';

export interface RawPacket {
  /** The whole IP packet, header included (a copy). */
  packet: Uint8Array;
  src: number;
  ifp: Ifnet;
}

/**
 * Receives each packet on the packet path: the whole IP packet is
 * buf[off, off+len), valid only until the handler returns (copy what you keep).
 */
export type RawHandler = (buf: Uint8Array, off: number, len: number, ifp: Ifnet) => void;

/** FreeBSD's rip_recvspace. */
const RAW_RECVSPACE = 9216 * 4;

export class RawSocket implements RawPcb, AsyncIterable<RawPacket> {
  readonly proto: number;
  private readonly q = new AsyncQueue<RawPacket>();
  /** Header view (reused: input runs per packet). */
  private readonly view = new Ipv4Packet();
  private readonly detach: () => void;
  private queued = 0;
  private open = true;
  private handler: RawHandler | null = null;
  private boundAddr = 0;
  /** IP_HDRINCL: `send` takes a complete IP header. */
  hdrIncl = false;
  /** IP_TTL for packets this socket builds; undefined = net.inet.ip.ttl. */
  ttl: number | undefined;
  /** IP_TOS for packets this socket builds. */
  tos = 0;
  /** IP_DONTFRAG: set DF on packets this socket builds; a send larger than the path MTU fails with EMSGSIZE. */
  dontFrag = false;
  /** Only packets from this address (a connected raw socket); 0 = any. */
  faddr = 0;

  /** socket(AF_INET, SOCK_RAW, proto); EMFILE at the daemon's limit on sockets per image. */
  constructor(
    readonly im: Vnet,
    proto: number,
  ) {
    if (!Number.isInteger(proto) || proto < 1 || proto > 255) throw new SocketError('EINVAL', 'socket');
    socketRoom(im);
    this.proto = proto;
    this.detach = rawAttach(im, this);
    im.sockets.add(this);
  }

  /** Bytes waiting to be read (netstat's Recv-Q). */
  get recvQueued(): number {
    return this.queued;
  }

  /** The bound local address (0 = any). */
  get laddr(): number {
    return this.boundAddr;
  }

  /**
   * bind(2): use `addr`, which must be an address of this image, as the
   * source of packets this socket builds, and receive only packets sent to
   * it (rip_input's inp_laddr check). EADDRNOTAVAIL otherwise.
   */
  bind(addr: number | string): void {
    this.check('bind');
    const a = typeof addr === 'string' ? parseIp4(addr) : addr;
    if (a === undefined) throw new SocketError('EINVAL', 'bind');
    if (a !== 0 && this.im.localIfnet(a) === undefined) throw new SocketError('EADDRNOTAVAIL', 'bind');
    this.boundAddr = a;
  }

  /** connect(2): receive only packets from `addr` (0 undoes it). */
  connect(addr: number | string): void {
    this.check('connect');
    const a = typeof addr === 'string' ? parseIp4(addr) : addr;
    if (a === undefined) throw new SocketError('EINVAL', 'connect');
    this.faddr = a;
  }

  /**
   * Receive with `handler` on the packet path instead of the queue (null
   * goes back to the queue). Packets already queued stay there.
   */
  onPacket(handler: RawHandler | null): void {
    this.handler = handler;
  }

  /** @internal RawPcb */
  input(buf: Uint8Array, off: number, len: number, ifp: Ifnet): void {
    if (!this.open) return;
    const ip = this.view.reset(buf, off, len);
    const src = ip.src;
    if (this.faddr !== 0 && src !== this.faddr) return;
    if (this.boundAddr !== 0 && ip.dst !== this.boundAddr) return;
    const h = this.handler;
    if (h !== null) {
      h(buf, off, len, ifp);
      return;
    }
    if (this.queued + len > RAW_RECVSPACE) return;
    this.queued += len;
    this.q.push({ packet: buf.slice(off, off + len), src, ifp });
  }

  /**
   * sendto(2): send `payload` to `dst` with this socket's protocol, or, with
   * hdrIncl, a whole packet whose header names the destination (`dst` is then
   * ignored; a zero IP id or source is filled in, as rip_output and
   * ip_output do). Throws a SocketError with the output errno.
   */
  send(payload: Uint8Array, dst: number): void {
    this.check('send');
    let p;
    let total;
    if (this.hdrIncl) {
      total = payload.length;
      // The header must be whole and name this payload's length (the checksum is output's to fill).
      const given = this.view.reset(payload, 0, total);
      if (given.check(false) !== 'ok' || given.totalLen !== total) throw new SocketError('EINVAL', 'send');
      p = allocPacket(total);
      p.buf.set(payload, p.off);
      const ip = this.view.reset(p.buf, p.off, total);
      if (ip.ident === 0) ip.ident = this.im.nextIpId();
      this.im.ipstat.rawout++;
    } else {
      total = IP_HDR_LEN + payload.length;
      if (total > 65535) throw new SocketError('EMSGSIZE', 'send');
      p = allocPacket(total);
      // A zero source is chosen by output from the route, as ip_output does.
      buildIpHeader(this.im, p.buf, p.off, total, this.proto, this.boundAddr, dst, this.ttl);
      this.view.reset(p.buf, p.off, total).tos = this.tos;
      p.buf.set(payload, p.off + IP_HDR_LEN);
    }
    const r = ipOutputLocal(this.im, p.buf, p.off, total, this.im.noOffload, this.dontFrag && !this.hdrIncl ? { dontFrag: true } : undefined);
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

  /** close(2); idempotent. Wakes a waiting `recv()` with null. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.handler = null;
    this.detach();
    this.im.sockets.delete(this);
    this.q.close();
  }

  private check(call: string): void {
    if (!this.open) throw new SocketError('EBADF', call);
  }
}
