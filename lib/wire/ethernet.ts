/**
 * Ethernet II framing. A MAC address is carried as a 48-bit integer (exact in
 * a double), so comparing and storing one costs nothing.
 */

import { WireView } from './bytes.js';

declare const macBrand: unique symbol;
/** A 48-bit MAC address as an integer, most significant byte first. */
export type Mac = number & { readonly [macBrand]: true };

export const ETHER_HDR_LEN = 14;
export const ETHER_ADDR_LEN = 6;
export const ETHER_MIN_LEN = 60; // without FCS
export const MAC_BROADCAST = 0xffffffffffff as Mac;

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
} as const;

const HI = 0x100000000;

export function readMac(buf: Uint8Array, off: number): Mac {
  const hi = (buf[off]! << 8) | buf[off + 1]!;
  const lo = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  return (hi * HI + lo) as Mac;
}

/**
 * Is the address at buf[off] `mac`? Compared in two halves that fit small
 * integers: readMac makes a 48-bit number, which V8 boxes (a heap
 * allocation) whenever the call is not inlined, so the per-frame
 * destination check must not use it.
 */
export function macIs(buf: Uint8Array, off: number, mac: Mac): boolean {
  const lo = mac % HI;
  return macHalvesAt(buf, off, (mac - lo) / HI, lo);
}

/** macIs with the address already in halves (Ifnet keeps its own so), the form the per-frame check uses. */
export function macHalvesAt(buf: Uint8Array, off: number, hi: number, lo: number): boolean {
  return (
    ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0 === lo &&
    ((buf[off]! << 8) | buf[off + 1]!) === hi
  );
}

export function writeMac(buf: Uint8Array, off: number, mac: Mac): void {
  const hi = Math.floor(mac / HI);
  const lo = mac % HI;
  buf[off] = hi >>> 8;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

export function macToString(mac: Mac): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const b = Math.floor(mac / 2 ** (8 * i)) & 0xff;
    s += (i < 5 ? ':' : '') + b.toString(16).padStart(2, '0');
  }
  return s;
}

/** Parse `aa:bb:cc:dd:ee:ff` (or with `-`); undefined when malformed. */
export function parseMac(text: string): Mac | undefined {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return undefined;
    v = v * 256 + parseInt(p, 16);
  }
  return v as Mac;
}

export function isMulticastMac(mac: Mac): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

const F = { DST: 0, SRC: 6, TYPE: 12 } as const;

/**
 * The fields ether_input reads, as functions over the frame at buf[off]
 * (at least ETHER_HDR_LEN bytes): the view below reads through them too.
 * ether_input calls them directly rather than through a view: measured on
 * the forwarding path, a view re-pointed per frame cost about 10% there.
 */
export function etherIsGroup(buf: Uint8Array, off: number): boolean {
  return (buf[off + F.DST]! & 1) !== 0;
}

export function etherTypeAt(buf: Uint8Array, off: number): number {
  return (buf[off + F.TYPE]! << 8) | buf[off + F.TYPE + 1]!;
}

/** A view over an Ethernet II header. */
export class EthernetFrame extends WireView {
  checked(): boolean {
    return this.len >= ETHER_HDR_LEN && this.off >= 0 && this.off + this.len <= this.buf.length;
  }

  get dst(): Mac {
    return readMac(this.buf, this.off + F.DST);
  }
  get src(): Mac {
    return readMac(this.buf, this.off + F.SRC);
  }
  /** The destination is a group (multicast or broadcast) address: the I/G bit. */
  get isGroup(): boolean {
    return etherIsGroup(this.buf, this.off);
  }
  get etherType(): number {
    return etherTypeAt(this.buf, this.off);
  }
  get payloadOffset(): number {
    return this.off + ETHER_HDR_LEN;
  }
}

export interface EthernetRepr {
  dst: Mac;
  src: Mac;
  etherType: number;
}

export function emitEthernet(r: EthernetRepr, buf: Uint8Array, off: number): void {
  writeMac(buf, off + F.DST, r.dst);
  writeMac(buf, off + F.SRC, r.src);
  buf[off + F.TYPE] = r.etherType >>> 8;
  buf[off + F.TYPE + 1] = r.etherType & 0xff;
}

/** Write the source address and EtherType of a header whose destination is written later (after resolution). */
export function emitEthernetSrc(buf: Uint8Array, off: number, src: Mac, etherType: number): void {
  writeMac(buf, off + F.SRC, src);
  buf[off + F.TYPE] = etherType >>> 8;
  buf[off + F.TYPE + 1] = etherType & 0xff;
}
