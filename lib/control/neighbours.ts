/**
 * The neighbour part of an image's control surface: the ARP cache as
 * plain data (the image's own addresses included as permanent entries, as
 * FreeBSD's lltable holds them), static and temporary entries, deletion.
 * ND for IPv6 will sit beside it.
 */

import type { Image } from '../image.js';
import { E, fail } from '../errors.js';
import { arpAddStatic, arpDelete, arpMaxAge, LLE_INCOMPLETE, LLE_STATIC } from '../netinet/if_ether.js';
import type { Mac } from '../wire/ethernet.js';
import { ip4ToString } from '../wire/ipv4.js';

/** One ARP entry. */
export interface NeighbourInfo {
  ip: number;
  /** null while resolution is in progress (incomplete). */
  mac: Mac | null;
  interface: string;
  /** Seconds left; null for permanent entries. */
  expires: number | null;
  /** One of the image's own addresses (FreeBSD's pinned ifaddr entries). */
  own: boolean;
  /** A permanent entry made by `arp -s` (not one of our addresses). */
  static: boolean;
}

export class NeighboursControl {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  /** Entries sorted by address, optionally only those on interface `ifname`. */
  list(ifname?: string): NeighbourInfo[] {
    const im = this.#im;
    const now = im.clock.now();
    const out: NeighbourInfo[] = [];
    for (const ifp of im.ifnets.values()) {
      if (ifp.loopback) continue;
      for (const a of ifp.addrs) out.push({ ip: a.addr, mac: ifp.mac, interface: ifp.name, expires: null, own: true, static: false });
    }
    for (const e of im.arp.entries.values()) {
      out.push({
        ip: e.ip,
        mac: e.state === LLE_INCOMPLETE ? null : e.mac,
        interface: e.ifp.name,
        expires: e.state === LLE_STATIC || e.expire === Infinity ? null : Math.floor((e.expire - now) / 1000),
        own: false,
        static: e.state === LLE_STATIC,
      });
    }
    return out.filter((r) => ifname === undefined || r.interface === ifname).sort((a, b) => a.ip - b.ip);
  }

  /** The interface holding `ip` when it is one of the image's own addresses. */
  #own(ip: number): string | undefined {
    return this.#im.localIfnet(ip)?.name;
  }

  /**
   * `arp -s` (permanent) or `arp -s ... temp` (expires after
   * net.link.ether.inet.max_age). With `replace` false an existing
   * permanent entry is an error (`arp -S` replaces).
   */
  set(ip: number, mac: Mac, o: { temp: boolean; replace: boolean }): void {
    const im = this.#im;
    const own = this.#own(ip);
    if (own !== undefined) fail(E.ADDRESS_EXISTS, `${ip4ToString(ip)}: is an address of ${own}; its entry is permanent`);
    if (!o.replace && im.arp.entries.get(ip)?.state === LLE_STATIC) {
      fail(E.ADDRESS_EXISTS, `set ${ip4ToString(ip)}: a permanent entry exists; use 'arp -S' to replace it or 'arp -d' first`);
    }
    arpAddStatic(im, ip, mac, o.temp ? im.sysctl.get(arpMaxAge) * 1000 : undefined);
  }

  /** `arp -d`: one of our own addresses cannot be deleted here. */
  delete(ip: number): void {
    const own = this.#own(ip);
    if (own !== undefined) fail(E.BAD_ARGUMENT, `${ip4ToString(ip)}: is an address of ${own}; remove it with 'ifconfig ${own} inet ${ip4ToString(ip)} -alias'`);
    arpDelete(this.#im, ip);
  }
}
