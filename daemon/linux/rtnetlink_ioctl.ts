/**
 * The interface ioctls of a Linux program in an image (SIOCGIF*,
 * SIOCGIFCONF; ifconfig from net-tools and older programs use them),
 * answered from the image's control surface as dev_ifsioc_locked and
 * devinet_ioctl answer them. struct ifreq is the 40-byte x86_64 layout: a
 * 16-byte name, then a 24-byte union (sockaddr, flags, ifindex, mtu, hwaddr,
 * map). Set requests are refused with EOPNOTSUPP, as netlink changes are.
 */

import type { ImageControl, InterfaceInfo } from '../../lib/control/index.js';
import { AF, LERR, SIOC, TXQLEN } from './rtnetlink_abi.js';
import { hwInfo, ip4, linuxFlags } from './rtnetlink_msgs.js';

/** The ifreq's name: up to the first NUL, at most IFNAMSIZ-1 bytes (the kernel forces the terminator). */
function ifrName(ifreq: Uint8Array): string {
  const raw = ifreq.subarray(0, SIOC.IFNAMSIZ - 1);
  const nul = raw.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul));
}

/** Write a sockaddr_in (family, port 0, address, zero padding) at `off`. */
function putSockaddrIn(b: Uint8Array, off: number, addr: number): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  b.fill(0, off, off + 16);
  dv.setUint16(off, AF.INET, true);
  dv.setUint32(off + 4, addr >>> 0, false);
}

function putName(b: Uint8Array, off: number, name: string): void {
  const n = new TextEncoder().encode(name).subarray(0, SIOC.IFNAMSIZ - 1);
  b.fill(0, off, off + SIOC.IFNAMSIZ);
  b.set(n, off);
}

/** Requests about an interface's IPv4 address: "eth0:1" names an alias label, which images do not have. */
const ADDR_REQUESTS: ReadonlySet<number> = new Set([SIOC.GIFADDR, SIOC.GIFDSTADDR, SIOC.GIFBRDADDR, SIOC.GIFNETMASK]);

/**
 * One interface ioctl. `ifreq` is the program's struct ifreq (at least 40
 * bytes); on success err is 0 and `ifreq` is the filled copy to write back.
 * Errors are Linux errnos: ENODEV for an unknown interface, EADDRNOTAVAIL
 * when it has no IPv4 address, EOPNOTSUPP for a change, EINVAL for an
 * unknown request or a short ifreq.
 */
export function ifreqAnswer(ctl: ImageControl, request: number, ifreq: Uint8Array): { err: number; ifreq?: Uint8Array } {
  try {
    return answer(ctl, request >>> 0, ifreq);
  } catch {
    return { err: LERR.EINVAL };
  }
}

function answer(ctl: ImageControl, request: number, ifreq: Uint8Array): { err: number; ifreq?: Uint8Array } {
  if (!(ifreq instanceof Uint8Array) || ifreq.length < SIOC.IFREQ_SIZE) return { err: LERR.EINVAL };
  if ((SIOC.SET as readonly number[]).includes(request)) return { err: LERR.EOPNOTSUPP };
  // A copy of our own: the caller's bytes may be a view into a larger (pooled) buffer.
  const out = new Uint8Array(SIOC.IFREQ_SIZE);
  out.set(ifreq.subarray(0, SIOC.IFREQ_SIZE));
  const dv = new DataView(out.buffer);
  const U = SIOC.UNION;
  const list = ctl.interfaces.list();
  if (request === SIOC.GIFNAME) {
    const f = list.find((x) => x.index === dv.getInt32(U, true));
    if (f === undefined) return { err: LERR.ENODEV };
    putName(out, 0, f.name);
    return { err: 0, ifreq: out };
  }
  const known = [SIOC.GIFFLAGS, SIOC.GIFMETRIC, SIOC.GIFMTU, SIOC.GIFHWADDR, SIOC.GIFINDEX, SIOC.GIFTXQLEN, SIOC.GIFMAP] as number[];
  if (!ADDR_REQUESTS.has(request) && !known.includes(request)) return { err: LERR.EINVAL };
  const name = ifrName(ifreq);
  const colon = name.indexOf(':');
  const f: InterfaceInfo | undefined = list.find((x) => x.name === (colon < 0 ? name : name.slice(0, colon)));
  if (f === undefined) return { err: LERR.ENODEV };
  if (ADDR_REQUESTS.has(request)) {
    const ia = colon < 0 ? f.inet[0] : undefined;
    if (ia === undefined) return { err: LERR.EADDRNOTAVAIL };
    const addr =
      request === SIOC.GIFNETMASK ? ip4(ia.netmask) : request === SIOC.GIFBRDADDR ? (ia.broadcast !== undefined ? ip4(ia.broadcast) : 0) : ip4(ia.address);
    putSockaddrIn(out, U, addr);
    return { err: 0, ifreq: out };
  }
  if (colon >= 0) return { err: LERR.ENODEV };
  switch (request) {
    case SIOC.GIFFLAGS:
      // ifr_flags is a short: LOWER_UP (0x10000) does not fit, as on Linux.
      dv.setInt16(U, linuxFlags(f) & 0xffff, true);
      break;
    case SIOC.GIFMETRIC:
      dv.setInt32(U, f.metric, true);
      break;
    case SIOC.GIFMTU:
      dv.setInt32(U, f.mtu, true);
      break;
    case SIOC.GIFINDEX:
      dv.setInt32(U, f.index, true);
      break;
    case SIOC.GIFTXQLEN:
      dv.setInt32(U, TXQLEN, true);
      break;
    case SIOC.GIFMAP:
      out.fill(0, U, SIOC.IFREQ_SIZE);
      break;
    case SIOC.GIFHWADDR: {
      const hw = hwInfo(f);
      out.fill(0, U, U + 16);
      dv.setUint16(U, hw.type, true);
      out.set(hw.addr, U + 2);
      break;
    }
  }
  return { err: 0, ifreq: out };
}

/**
 * SIOCGIFCONF: one packed 40-byte ifreq (name, sockaddr_in) per IPv4
 * address, interfaces in index order, as inet_gifconf lists them, cut to
 * the entries that fit in `room` bytes. `room` 0 gives nothing; the caller
 * learns the size it would need from ifconfAnswer(ctl, Infinity).length.
 */
export function ifconfAnswer(ctl: ImageControl, room: number): Uint8Array {
  try {
    const fit = room > 0 ? Math.floor(Math.min(room, 1 << 30) / SIOC.IFREQ_SIZE) : 0;
    if (!(fit > 0)) return new Uint8Array(0);
    const entries: Array<[string, number]> = [];
    for (const f of ctl.interfaces.list()) for (const ia of f.inet) entries.push([f.name, ip4(ia.address)]);
    const n = Math.min(fit, entries.length);
    const out = new Uint8Array(n * SIOC.IFREQ_SIZE);
    for (let i = 0; i < n; i++) {
      const [name, addr] = entries[i]!;
      putName(out, i * SIOC.IFREQ_SIZE, name);
      putSockaddrIn(out, i * SIOC.IFREQ_SIZE + SIOC.UNION, addr);
    }
    return out;
  } catch {
    return new Uint8Array(0);
  }
}
