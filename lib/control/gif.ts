/**
 * The gif(4) part of the interfaces control surface: cloning gif
 * interfaces and setting or deleting their tunnel (FreeBSD's
 * SIOCSIFPHYADDR, SIOCSIFPHYADDR_IN6, SIOCDIFPHYADDR). The driver
 * (lib/net/if_gif.ts) holds the state; this validates and turns refusals
 * into coded errors, with FreeBSD's errnos: both ends of one family,
 * neither unspecified (EADDRNOTAVAIL), and no two interfaces with the same
 * tunnel (EADDRNOTAVAIL, as in_gif_checkdup).
 */

import type { Image, Registry } from '../image.js';
import { E, fail } from '../errors.js';
import { IFF, type Ifnet } from '../net/if.js';
import { GIF_MTU, GIF_MTU_MAX, GIF_MTU_MIN, GifDriver, gifLink, gifUnlink, type GifInfo } from '../net/if_gif.js';
import type { Mac } from '../wire/ethernet.js';
import { parseIp4 } from '../wire/ipv4.js';
import { in6Equal, in6IsMulticast, in6IsUnspecified, parseIp6 } from '../wire/ipv6.js';

export type { GifInfo };

/** A tunnel's end points as ifconfig gives them: `tunnel SRC DST`, both IPv4 or both IPv6. */
export interface GifTunnel {
  src: string;
  dst: string;
}

/** `ifconfig gif[N] create`. */
export function createGif(reg: Registry, im: Image, name: string | undefined): Ifnet {
  reg.checkRoom(im, 1);
  const driver = new GifDriver();
  // No link-level address is shown or used; this one only seeds the interface identifier of its IPv6
  // link-local address (FreeBSD borrows another interface's), so two gifs do not collide in DAD.
  const mac = (0x020000000000 + Math.floor(reg.random() * 0xffffffff)) as Mac;
  const ifp = reg.newIfnet(im, name ?? reg.freeName('gif'), 'gif', IFF.POINTOPOINT | IFF.MULTICAST, GIF_MTU, mac, driver);
  driver.ifp = ifp;
  im.ifnets.set(ifp.name, ifp);
  return ifp;
}

function gifOf(ifp: Ifnet): GifDriver {
  if (!(ifp.driver instanceof GifDriver)) fail(E.BAD_ARGUMENT, `${ifp.name} is not a gif interface; 'ifconfig gif create' makes one`);
  return ifp.driver;
}

export function isGif(ifp: Ifnet): boolean {
  return ifp.driver instanceof GifDriver;
}

/** `ifconfig gifN tunnel SRC DST`: set (or replace) the tunnel. */
export function setGifTunnel(im: Image, ifp: Ifnet, t: GifTunnel): void {
  const d = gifOf(ifp);
  const s4 = parseIp4(t.src);
  const d4 = parseIp4(t.dst);
  const s6 = s4 === undefined ? parseIp6(t.src) : undefined;
  const d6 = d4 === undefined ? parseIp6(t.dst) : undefined;
  if ((s4 === undefined && s6 === undefined) || (d4 === undefined && d6 === undefined)) {
    fail(E.BAD_ARGUMENT, `tunnel ${t.src} ${t.dst}: give two IPv4 or two IPv6 addresses (e.g. tunnel 192.0.2.1 198.51.100.1)`);
  }
  if ((s4 === undefined) !== (d4 === undefined)) fail(E.BAD_ARGUMENT, `tunnel ${t.src} ${t.dst}: both ends must be of the same address family`);
  const unusable4 = (a: number): boolean => a === 0 || a === 0xffffffff || a >>> 28 === 0xe;
  if (s4 !== undefined && (unusable4(s4) || unusable4(d4!))) fail(E.NO_SUCH_ADDRESS, `SIOCSIFPHYADDR: Can't assign requested address (tunnel ${t.src} ${t.dst}: give unicast addresses)`);
  if (s6 !== undefined && (in6IsUnspecified(s6) || in6IsUnspecified(d6!) || in6IsMulticast(s6) || in6IsMulticast(d6!))) {
    fail(E.NO_SUCH_ADDRESS, `SIOCSIFPHYADDR_IN6: Can't assign requested address (tunnel ${t.src} ${t.dst}: give unicast addresses)`);
  }
  for (const o of im.gif.tunnels) {
    if (o === d) continue;
    const same = s4 !== undefined ? o.family === 4 && o.src4 === s4 && o.dst4 === d4 : o.family === 6 && in6Equal(o.src6, 0, s6!, 0) && in6Equal(o.dst6, 0, d6!, 0);
    if (same) fail(E.NO_SUCH_ADDRESS, `SIOCSIFPHYADDR: Can't assign requested address (${o.ifp?.name} already has the tunnel ${t.src} --> ${t.dst})`);
  }
  gifUnlink(im, d);
  if (s4 !== undefined) {
    d.family = 4;
    d.src4 = s4;
    d.dst4 = d4!;
  } else {
    d.family = 6;
    d.src6.set(s6!);
    d.dst6.set(d6!);
  }
  gifLink(im, d);
  d.running(im);
}

/** `ifconfig gifN deletetunnel`. */
export function deleteGifTunnel(ifp: Ifnet): void {
  gifOf(ifp).deleteTunnel(ifp);
}

/** gif's MTU bounds (FreeBSD's GIF_MTU_MIN..GIF_MTU_MAX); undefined when fine. */
export function gifMtuProblem(ifp: Ifnet, mtu: number): string | undefined {
  if (!isGif(ifp)) return undefined;
  return mtu < GIF_MTU_MIN || mtu > GIF_MTU_MAX ? `mtu ${mtu} out of range, must be between ${GIF_MTU_MIN} and ${GIF_MTU_MAX} for gif` : undefined;
}

/** The gif's tunnel and link state for ifconfig: its link is up once a tunnel is set; running while the source is ours. */
export function gifInfo(ifp: Ifnet): GifInfo | undefined {
  if (!(ifp.driver instanceof GifDriver)) return undefined;
  const d = ifp.driver;
  if (d.family !== 0) d.running(ifp.owner as Image);
  return d.info();
}

/** Link state of a gif (LINK_STATE_UP while it has a tunnel); undefined for other kinds. */
export function gifLinkUp(ifp: Ifnet): boolean | undefined {
  return ifp.driver instanceof GifDriver ? ifp.driver.family !== 0 : undefined;
}

/** A gif in the configuration file (lib/config.ts): its tunnel, and the other end of each point-to-point address. */
export interface GifConfig {
  tunnel?: GifTunnel;
  peers?: Record<string, string>;
}

/** Check a configuration's gif object: the bad key and why, or undefined. */
export function checkGifConfig(o: Record<string, unknown>, strict: boolean): [string, string] | undefined {
  for (const [k, v] of Object.entries(o)) {
    if (k === 'tunnel') {
      const t = v as Record<string, unknown> | null;
      if (typeof t !== 'object' || t === null || typeof t['src'] !== 'string' || typeof t['dst'] !== 'string') return [k, 'must be { "src": ADDRESS, "dst": ADDRESS }'];
      const v4 = parseIp4(t['src']) !== undefined && parseIp4(t['dst']) !== undefined;
      const v6 = parseIp6(t['src']) !== undefined && parseIp6(t['dst']) !== undefined;
      if (!v4 && !v6) return [k, 'src and dst must be two IPv4 or two IPv6 addresses'];
    } else if (k === 'peers') {
      if (typeof v !== 'object' || v === null || Object.entries(v).some(([a, d]) => parseIp4(a) === undefined || typeof d !== 'string' || parseIp4(d) === undefined)) {
        return [k, 'must map each IPv4 address to the other end, like { "10.9.0.1": "10.9.0.2" }'];
      }
    } else if (strict) return [k, 'unknown key; known here: tunnel, peers'];
  }
  return undefined;
}

/** What the configuration file keeps of a gif. */
export function gifConfigOf(g: GifInfo, inet: ReadonlyArray<{ address: string; destination?: string }>): GifConfig {
  const peers = gifPeersOf(inet);
  return { ...(g.tunnel !== undefined ? { tunnel: { src: g.tunnel.src, dst: g.tunnel.dst } } : {}), ...(peers !== undefined ? { peers } : {}) };
}

/** The document's point-to-point destinations of an interface's addresses (address to other end). */
export function gifPeersOf(inet: ReadonlyArray<{ address: string; destination?: string }>): Record<string, string> | undefined {
  const peers: Record<string, string> = {};
  for (const a of inet) if (a.destination !== undefined) peers[a.address] = a.destination;
  return Object.keys(peers).length > 0 ? peers : undefined;
}

/** What restoring needs of the interfaces control surface. */
interface GifControl {
  createGif(o: { name?: string }): string;
  configureGif(name: string, tunnel: GifTunnel | null): void;
  get(name: string): { gif?: GifInfo };
}

/**
 * Make (or, `existing`, re-set) a gif as a configuration has it; the
 * applier sets up/down and the addresses afterwards. Returns its name.
 */
export function restoreGif(ctl: GifControl, name: string, c: GifConfig | undefined, existing: boolean): string {
  if (!existing) ctl.createGif({ name });
  const cur = ctl.get(name).gif?.tunnel;
  const want = c?.tunnel;
  if (want === undefined) {
    if (cur !== undefined) ctl.configureGif(name, null);
  } else if (cur === undefined || cur.src !== want.src || cur.dst !== want.dst) ctl.configureGif(name, want);
  return name;
}
