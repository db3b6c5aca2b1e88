/**
 * PLACEHOLDER, to be replaced whole by helper "nlk"'s real file: the
 * NETLINK_ROUTE and SIOCGIF* answers for Linux programs in an image. Until
 * then a dump (NLM_F_DUMP) is empty (one NLMSG_DONE: glibc's getaddrinfo
 * waits for it), every other request is refused (NLMSG_ERROR -EOPNOTSUPP),
 * interface ioctls get ENODEV and SIOCGIFCONF lists nothing. Only the three exported
 * signatures matter to daemon/linux/dgram.ts.
 */

import type { ImageControl } from '../../lib/control/index.js';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_DUMP = 0x300;
const EOPNOTSUPP = 95;
const ENODEV = 19;

/** The datagrams answering one netlink request message `req` from port `portId`, in order. */
export function netlinkAnswer(_ctl: ImageControl, req: Uint8Array, portId: number): Uint8Array[] {
  if (req.length < 16) return [];
  const rv = new DataView(req.buffer, req.byteOffset, 16);
  if ((rv.getUint16(6, true) & NLM_F_DUMP) === NLM_F_DUMP) {
    const done = new Uint8Array(20);
    const d = new DataView(done.buffer);
    d.setUint32(0, 20, true);
    d.setUint16(4, NLMSG_DONE, true);
    d.setUint16(6, 2, true); // NLM_F_MULTI
    d.setUint32(8, rv.getUint32(8, true), true);
    d.setUint32(12, portId >>> 0, true);
    return [done];
  }
  const out = new Uint8Array(36);
  const v = new DataView(out.buffer);
  v.setUint32(0, 36, true);
  v.setUint16(4, NLMSG_ERROR, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, rv.getUint32(8, true), true);
  v.setUint32(12, portId >>> 0, true);
  v.setInt32(16, -EOPNOTSUPP, true);
  out.set(req.subarray(0, 16), 20);
  return [out];
}

/** An interface ioctl (SIOCGIF*) on the 40-byte struct ifreq. */
export function ifreqAnswer(_ctl: ImageControl, _request: number, _ifreq: Uint8Array): { err: number; ifreq?: Uint8Array } {
  return { err: ENODEV };
}

/** SIOCGIFCONF: the packed 40-byte ifreq entries, at most `room` bytes (0: the caller asks for the size). */
export function ifconfAnswer(_ctl: ImageControl, _room: number): Uint8Array {
  return new Uint8Array(0);
}
