/**
 * Raw IPv6 sockets (socket(AF_INET6, SOCK_RAW, proto); FreeBSD's
 * raw_ip6.c rip6_output/rip6_ctloutput) over lib/netinet6/raw_ip6.ts.
 *
 * As on FreeBSD and RFC 3542, what a raw IPv6 socket reads starts at the
 * upper-layer header (no IPv6 header, no extension headers); the source
 * address, the hop limit the packet arrived with (IPV6_RECVHOPLIMIT) and
 * the interface come beside it. What it sends is the upper-layer message;
 * the stack builds the IPv6 header with the socket's hop limit
 * (IPV6_UNICAST_HOPS / IPV6_MULTICAST_HOPS, or one given per send).
 *
 * Options: ICMP6_FILTER (`filter`, ICMPv6 sockets: types to pass; all by
 * default), IPV6_CHECKSUM (`setChecksum(offset)`: the stack fills the
 * checksum at that offset on output and verifies it on input; -1 turns it
 * off; always 2 and not changeable on an ICMPv6 socket, EINVAL as FreeBSD).
 *
 * Packets are read from a bounded queue (`recv()`) or, with `onPacket`, by
 * a handler on the packet path with views valid only during the call (ping
 * and traceroute time what they receive that way, no copy).
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { allocPacket } from '../netinet/ip_var.js';
import { in6Local, in6SelectSource } from '../netinet6/in6.js';
import { ip6DefHlim } from '../netinet6/ip6_var.js';
import { ip6Output } from '../netinet6/ip6_output.js';
import { Icmp6Filter, rip6Attach, type Rip6Pcb } from '../netinet6/raw_ip6.js';
import { put16 } from '../wire/bytes.js';
import { foldComplement, pseudoHeaderSum6, sum16 } from '../wire/checksum.js';
import { IP6_HDR_LEN, IP6_SRC_OFF, IPPROTO6, emitIpv6Raw, in6Copy, in6IsMulticast, in6IsScoped, in6IsUnspecified } from '../wire/ipv6.js';
import { SocketError, socketRoom } from './errno.js';
import { AsyncQueue } from './queue.js';
import { fmtAddr6, sockAddr6, type Addr6Arg } from './sockaddr6.js';

export { Icmp6Filter };

export interface Raw6Packet {
  /** The upper-layer message (a copy). */
  data: Uint8Array;
  /** Source address (16 bytes) and its text with the zone (`fe80::1%tap0`). */
  src6: Uint8Array;
  from: string;
  /** The hop limit the packet arrived with (IPV6_RECVHOPLIMIT). */
  hlim: number;
  ifp: Ifnet;
}

/**
 * Receives each packet on the packet path: the message is buf[off, off+len),
 * its source buf[src, src+16), valid only until the handler returns.
 */
export type Raw6Handler = (buf: Uint8Array, off: number, len: number, src: number, hlim: number, ifp: Ifnet) => void;

/** FreeBSD's rip6_recvspace. */
const RAW6_RECVSPACE = 9216 * 4;
/** FreeBSD's rip6_sendspace: the largest message. */
const RAW6_SENDSPACE = 9216 * 4;
/** Where ICMPv6's checksum lies. */
const ICMP6_CKSUM_OFF = 2;

export class Raw6Socket implements Rip6Pcb, AsyncIterable<Raw6Packet> {
  readonly proto: number;
  /** ICMP6_FILTER: the ICMPv6 types this socket receives. */
  readonly filter = new Icmp6Filter();
  private readonly q = new AsyncQueue<Raw6Packet>();
  private readonly detach: () => void;
  private queued = 0;
  private open = true;
  private handler: Raw6Handler | null = null;
  private cksum: number;
  laddr6: Uint8Array | null = null;
  faddr6: Uint8Array | null = null;
  /** The interface of a link-scoped bound or connected address. */
  zone: Ifnet | null = null;
  /** IPV6_UNICAST_HOPS; undefined = net.inet6.ip6.hlim. */
  hopLimit: number | undefined;
  /** IPV6_MULTICAST_HOPS (FreeBSD's default 1). */
  multicastHops = 1;
  /** IPV6_MULTICAST_IF. */
  multicastIf: Ifnet | null = null;

  /** socket(AF_INET6, SOCK_RAW, proto); EMFILE at the daemon's limit on sockets per image. */
  constructor(
    readonly im: Vnet,
    proto: number,
  ) {
    if (!Number.isInteger(proto) || proto < 1 || proto > 255) throw new SocketError('EINVAL', 'socket');
    socketRoom(im);
    this.proto = proto;
    this.cksum = proto === IPPROTO6.ICMPV6 ? ICMP6_CKSUM_OFF : -1;
    this.detach = rip6Attach(im, this);
    im.sockets.add(this);
  }

  /** @internal Rip6Pcb: input checks ICMPv6's checksum itself. */
  get cksumOff(): number {
    return this.proto === IPPROTO6.ICMPV6 ? -1 : this.cksum;
  }

  /** IPV6_CHECKSUM's value. */
  get checksum(): number {
    return this.cksum;
  }

  /**
   * setsockopt(IPV6_CHECKSUM): the offset of a 16-bit checksum the stack
   * computes and verifies, or -1. EINVAL for an odd offset or on ICMPv6
   * (RFC 3542 3.1, FreeBSD's ip6_raw_ctloutput).
   */
  setChecksum(off: number): void {
    this.check('setsockopt');
    if (this.proto === IPPROTO6.ICMPV6 || !Number.isInteger(off) || off < -1 || off > 0xffff || (off > 0 && (off & 1) !== 0)) throw new SocketError('EINVAL', 'setsockopt');
    this.cksum = off;
  }

  /** Bytes waiting to be read (netstat's Recv-Q). */
  get recvQueued(): number {
    return this.queued;
  }

  /** bind(2): packets to `addr` only, and `addr` as the source. EADDRNOTAVAIL unless it is ours. */
  bind(addr: Addr6Arg): void {
    this.check('bind');
    const a = sockAddr6(this.im, addr, 'bind');
    if (in6IsUnspecified(a.addr6)) {
      this.laddr6 = null;
      return;
    }
    const ia = in6Local(this.im, a.addr6, 0, a.zone);
    if (ia === undefined) throw new SocketError('EADDRNOTAVAIL', 'bind');
    this.laddr6 = a.addr6.slice();
    if (a.zone !== null) this.zone = a.zone;
  }

  /** connect(2): packets from `addr` only (:: undoes it). */
  connect(addr: Addr6Arg): void {
    this.check('connect');
    const a = sockAddr6(this.im, addr, 'connect');
    this.faddr6 = in6IsUnspecified(a.addr6) ? null : a.addr6.slice();
    if (a.zone !== null) this.zone = a.zone;
  }

  /** Receive with `handler` on the packet path instead of the queue (null: back to the queue). */
  onPacket(handler: Raw6Handler | null): void {
    this.handler = handler;
  }

  /** @internal Rip6Pcb */
  input(buf: Uint8Array, off: number, hoff: number, ip6Len: number, ifp: Ifnet): boolean {
    if (!this.open) return true;
    const len = off + ip6Len - hoff;
    const h = this.handler;
    if (h !== null) {
      h(buf, hoff, len, off + IP6_SRC_OFF, buf[off + 7]!, ifp);
      return true;
    }
    if (this.queued + len > RAW6_RECVSPACE) return false;
    this.queued += len;
    const src6 = buf.slice(off + IP6_SRC_OFF, off + IP6_SRC_OFF + 16);
    this.q.push({ data: buf.slice(hoff, hoff + len), src6, from: fmtAddr6(src6, ifp), hlim: buf[off + 7]!, ifp });
    return true;
  }

  /**
   * sendto(2): `msg` to `dst` with this socket's protocol. `hlim` overrides
   * the hop limit for this send (IPV6_HOPLIMIT ancillary data). Throws a
   * SocketError with the output errno.
   */
  send(msg: Uint8Array, dst: Addr6Arg, o: { hlim?: number } = {}): void {
    this.check('send');
    const im = this.im;
    const d = sockAddr6(im, dst, 'send');
    const len = msg.length;
    if (len > RAW6_SENDSPACE) throw new SocketError('EMSGSIZE', 'send');
    if (this.cksum >= 0 && this.cksum + 2 > len) throw new SocketError('EINVAL', 'send');
    const mcast = in6IsMulticast(d.addr6);
    const hlim = o.hlim ?? (mcast ? this.multicastHops : (this.hopLimit ?? im.sysctl.v[ip6DefHlim.slot]!));
    if (!Number.isInteger(hlim) || hlim < 0 || hlim > 255) throw new SocketError('EINVAL', 'send');
    // The outgoing interface: the zone of a scoped destination, IPV6_MULTICAST_IF, else the route's.
    const zone = d.zone ?? (mcast ? this.multicastIf : null) ?? (in6IsScoped(d.addr6, 0) ? this.zone : null);
    if ((mcast || in6IsScoped(d.addr6, 0)) && zone === null) throw new SocketError('EHOSTUNREACH', 'send');
    const p = allocPacket(IP6_HDR_LEN + len);
    const b = p.buf;
    const ip = p.off;
    b.set(msg, ip + IP6_HDR_LEN);
    emitIpv6Raw(b, ip, len, this.proto, hlim, this.laddr6 ?? d.addr6, 0, d.addr6, 0);
    if (this.laddr6 === null) {
      // The source is chosen before the checksum, which covers it.
      const ifp = zone ?? im.route6.lookup(d.addr6, 0)?.ifp ?? in6Local(im, d.addr6, 0, null)?.ifp;
      if (ifp === undefined) {
        im.ip6stat.noroute++;
        throw new SocketError('EHOSTUNREACH', 'send');
      }
      const src = in6SelectSource(im, ifp, d.addr6, 0);
      if (src === undefined) throw new SocketError('EADDRNOTAVAIL', 'send');
      in6Copy(b, ip + IP6_SRC_OFF, src, 0);
    }
    if (this.cksum >= 0) {
      const c = ip + IP6_HDR_LEN + this.cksum;
      put16(b, c, 0);
      let sum = foldComplement(sum16(b, ip + IP6_HDR_LEN, len, pseudoHeaderSum6(b, ip + IP6_SRC_OFF, ip + 24, len, this.proto)));
      // UDP sends a zero checksum as all ones (RFC 8200 8.1).
      if (sum === 0 && this.proto === IPPROTO6.UDP) sum = 0xffff;
      put16(b, c, sum);
    }
    if (this.proto === IPPROTO6.ICMPV6) im.icmp6.outhist[msg[0]!]!++;
    im.rip6stat.opackets++;
    const r = ip6Output(im, b, ip, IP6_HDR_LEN + len, im.noOffload, zone !== null ? { ifp: zone } : undefined);
    if (r !== 0) throw new SocketError(r, 'send');
  }

  async recv(): Promise<Raw6Packet | null> {
    const p = await this.q.next();
    if (p !== null) this.queued -= p.data.length;
    return p;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Raw6Packet> {
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
