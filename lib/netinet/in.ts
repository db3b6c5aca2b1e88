/**
 * IPv4 address configuration (FreeBSD's in_control): adding and removing
 * addresses with their connected and local routes, and the image's sets of
 * local and broadcast addresses that the input path consults.
 */

import type { Vnet } from '../net/vnet.js';
import { IFF, type Ifnet, type InAddr } from '../net/if.js';
import { E, fail } from '../errors.js';
import { ip4ToString, prefixMask } from '../wire/ipv4.js';
import { arpAnnounce, arpPurgeInterface, arpPurgeSubnet } from './if_ether.js';
import { RTF } from './route.js';

declare module '../net/vnet.js' {
  interface Vnet {
    /** Unicast addresses of this image, to the interface that holds each. */
    readonly inAddrs: Map<number, Ifnet>;
    /** Directed broadcast addresses of this image's subnets. */
    readonly bcastAddrs: Set<number>;
  }
}

export function inAddAddress(im: Vnet, ifp: Ifnet, addr: number, prefixLen: number, opts: { alias: boolean; broadcast?: number; dst?: number }): InAddr {
  if (addr === 0 || addr === 0xffffffff || addr >>> 28 >= 0xe) fail(E.BAD_ARGUMENT, `${ip4ToString(addr)}: not a usable unicast address`);
  const mask = prefixMask(prefixLen);
  const onThis = ifp.addrs.find((a) => a.addr === addr);
  const owner = im.inAddrs.get(addr);
  if (owner !== undefined && owner !== ifp) fail(E.ADDRESS_EXISTS, `${ip4ToString(addr)} is already configured on ${owner.name}`);
  if (onThis !== undefined) inDeleteAddress(im, ifp, addr);
  else if (!opts.alias && ifp.addrs.length > 0) inDeleteAddress(im, ifp, ifp.addrs[0]!.addr);
  const p2p = (ifp.flags & (IFF.LOOPBACK | IFF.POINTOPOINT)) !== 0 || prefixLen >= 31;
  const broadcast = p2p ? 0 : (opts.broadcast ?? ((addr & mask) | ~mask) >>> 0);
  const ia: InAddr = opts.dst !== undefined ? { addr, prefixLen, mask, broadcast, dstaddr: opts.dst } : { addr, prefixLen, mask, broadcast };
  ifp.addrs = [...ifp.addrs, ia];
  im.inAddrs.set(addr, ifp);
  if (broadcast !== 0) im.bcastAddrs.add(broadcast);
  const net = (addr & mask) >>> 0;
  if (opts.dst !== undefined) {
    // Point-to-point (FreeBSD's in_addprefix for IFF_POINTOPOINT): a host route to the other end, no prefix route.
    if (im.routes.get(opts.dst, 32) === undefined) im.routes.add({ dst: opts.dst, prefixLen: 32, gateway: 0, ifp, flags: RTF.UP | RTF.HOST, mtu: 0 });
  } else if (!ifp.loopback && prefixLen < 32 && im.routes.get(net, prefixLen) === undefined) {
    im.routes.add({ dst: net, prefixLen, gateway: 0, ifp, flags: RTF.UP, mtu: 0 });
  }
  // The address itself is reached through the loopback, as FreeBSD's "UHS lo0" route
  // (a loopback's own address: a host route on it, "UH lo1", as in_addprefix makes).
  if (im.routes.get(addr, 32) === undefined) {
    im.routes.add({ dst: addr, prefixLen: 32, gateway: 0, ifp: ifp.loopback ? ifp : im.lo0, flags: RTF.UP | RTF.HOST | (ifp.loopback ? 0 : RTF.STATIC), mtu: 0 });
  }
  arpAnnounce(im, ifp, addr);
  return ia;
}

export function inDeleteAddress(im: Vnet, ifp: Ifnet, addr: number): void {
  const ia = ifp.addrs.find((a) => a.addr === addr);
  if (ia === undefined) fail(E.NO_SUCH_ADDRESS, `${ip4ToString(addr)} is not configured on ${ifp.name}`);
  ifp.addrs = ifp.addrs.filter((a) => a !== ia);
  im.inAddrs.delete(addr);
  rebuildBroadcasts(im);
  const net = (addr & ia.mask) >>> 0;
  if (ia.dstaddr !== undefined) {
    const peer = im.routes.get(ia.dstaddr, 32);
    if (peer !== undefined && peer.ifp === ifp && (peer.flags & RTF.GATEWAY) === 0) im.routes.delete(ia.dstaddr, 32);
  }
  const prefix = im.routes.get(net, ia.prefixLen);
  if (prefix !== undefined && prefix.ifp === ifp && (prefix.flags & RTF.GATEWAY) === 0 && ia.prefixLen < 32) {
    im.routes.delete(net, ia.prefixLen);
    // Another address in the same subnet keeps its prefix route.
    for (const other of im.ifnets.values()) {
      const keep = other.addrs.find((a) => a.prefixLen === ia.prefixLen && ((a.addr & a.mask) >>> 0) === net);
      if (keep !== undefined) {
        im.routes.add({ dst: net, prefixLen: ia.prefixLen, gateway: 0, ifp: other, flags: RTF.UP, mtu: 0 });
        break;
      }
    }
  }
  const host = im.routes.get(addr, 32);
  if (host !== undefined && (host.ifp === im.lo0 || (ifp.loopback && host.ifp === ifp)) && (host.flags & RTF.GATEWAY) === 0) im.routes.delete(addr, 32);
  // Routes through a gateway that is no longer reachable on this interface go too.
  im.routes.removeWhere((r) => r.ifp === ifp && (r.flags & RTF.GATEWAY) !== 0 && ifp.subnetOf(r.gateway) === undefined);
  arpPurgeSubnet(im, ifp, net, ia.mask);
}

/** Remove all addresses, the routes through `ifp` and its ARP entries (interface leaving the image). */
export function inPurgeInterface(im: Vnet, ifp: Ifnet): void {
  for (const ia of [...ifp.addrs]) inDeleteAddress(im, ifp, ia.addr);
  im.routes.purgeInterface(ifp);
  arpPurgeInterface(im, ifp);
}

function rebuildBroadcasts(im: Vnet): void {
  im.bcastAddrs.clear();
  for (const ifp of im.ifnets.values()) for (const a of ifp.addrs) if (a.broadcast !== 0) im.bcastAddrs.add(a.broadcast);
}
