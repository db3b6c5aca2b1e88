/**
 * The interface attributes ifconfig(8) sets beside addresses and flags, as
 * FreeBSD 14 keeps them: the description (SIOCSIFDESCR), interface groups
 * (SIOCAIFGROUP/SIOCDIFGROUP), user promiscuous mode (IFF_PPROMISC), the
 * link address (if_setlladdr, with the gratuitous ARP of
 * arp_handle_ifllchange), and cloned loopbacks (`ifconfig lo create`).
 * interfaces.ts applies them in argument order with the other changes.
 */

import type { Image, Registry } from '../image.js';
import { E, fail } from '../errors.js';
import { IFF, type Ifnet } from '../net/if.js';
import { LoopDriver } from '../net/if_loop.js';
import { arpAnnounce } from '../netinet/if_ether.js';
import type { Mac } from '../wire/ethernet.js';

/** FreeBSD's IFNAMSIZ: a group name is shorter. */
const IFNAMSIZ = 16;
/** FreeBSD's net.ifdescr_maxlen default. */
export const IFDESCR_MAXLEN = 1024;

export function checkDescription(text: string | null): void {
  if (text !== null && Buffer.byteLength(text) >= IFDESCR_MAXLEN) fail(E.OUT_OF_RANGE, `ioctl (SIOCSIFDESCR): Name too long (a description is at most ${IFDESCR_MAXLEN - 1} bytes)`);
}

/** `description TEXT` (null or empty: `-description`, as FreeBSD clears an empty one). */
export function setDescription(ifp: Ifnet, text: string | null): void {
  checkDescription(text);
  ifp.description = text === null || text === '' ? null : text;
}

/** The checks ifconfig's setifgroup makes before the ioctl, and the kernel's (if_addgroup). */
export function checkGroupName(name: string, verb: 'setifgroup' | 'unsetifgroup'): void {
  if (name.length > 0 && /\d$/.test(name)) fail(E.BAD_ARGUMENT, `${verb}: group names may not end in a digit`);
  if (Buffer.byteLength(name) >= IFNAMSIZ) fail(E.BAD_ARGUMENT, `${verb}: group name too long`);
  if (name === '' || name === 'all' || /[\s/]/.test(name)) fail(E.BAD_ARGUMENT, `SIOCAIFGROUP: Invalid argument ('${name}' cannot be a group name)`);
}

/** `group NAME` / `-group NAME`: being in the group already, or not, is no error (ifconfig ignores EEXIST and ENOENT). */
export function setGroup(ifp: Ifnet, name: string, on: boolean): void {
  checkGroupName(name, on ? 'setifgroup' : 'unsetifgroup');
  const i = ifp.groups.indexOf(name);
  if (on && i < 0) ifp.groups = [...ifp.groups, name];
  else if (!on && i >= 0) ifp.groups = ifp.groups.filter((g) => g !== name);
}

/** `promisc` / `-promisc`: IFF_PPROMISC, and PROMISC while it or a bridge wants it (FreeBSD's if_pcount). */
export function setPromisc(ifp: Ifnet, on: boolean): void {
  if (on) ifp.flags |= IFF.PPROMISC | IFF.PROMISC;
  else {
    ifp.flags &= ~IFF.PPROMISC;
    if (ifp.bridge === null) ifp.flags &= ~IFF.PROMISC;
  }
}

/**
 * `ether|lladdr|link ADDR`. VLANs on the interface take the new address (vlan_iflladdr);
 * an interface that is up announces each of its IPv4 addresses with the new one
 * (a gratuitous ARP, arp_handle_ifllchange), so neighbours update their caches.
 */
export function setLladdr(im: Image, ifp: Ifnet, mac: Mac): void {
  if (ifp.loopback) fail(E.BAD_ARGUMENT, `${ifp.name} has no link-level address to set`);
  if (mac === ifp.mac) return;
  ifp.mac = mac;
  if (ifp.vlans !== null) for (const v of ifp.vlans.values()) v.mac = mac;
  for (const a of ifp.addrs) arpAnnounce(im, ifp, a.addr);
  if (ifp.vlans !== null) for (const v of ifp.vlans.values()) for (const a of v.addrs) if (v.owner === im) arpAnnounce(im, v, a.addr);
}

/**
 * `ifconfig lo[N] create`: another loopback, down and without addresses
 * (FreeBSD's lo cloner). It stays in its image: destroying the image
 * destroys it, as vnet_loif_uninit does.
 */
export function createLoopback(reg: Registry, im: Image, name?: string): Ifnet {
  reg.checkRoom(im, 1);
  const ifp = reg.newIfnet(im, name ?? reg.freeName('lo'), 'lo', IFF.LOOPBACK | IFF.MULTICAST, 16384, 0 as Mac, new LoopDriver(im.netisr));
  im.ifnets.set(ifp.name, ifp);
  return ifp;
}
