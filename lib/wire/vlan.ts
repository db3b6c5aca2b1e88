/**
 * IEEE 802.1Q VLAN tagging: a 4-byte tag (TPID 0x8100, then the TCI:
 * priority code point, drop eligible bit and the 12-bit VLAN id) between
 * the source address and the EtherType of an Ethernet header.
 *
 * Tagging and untagging move the two addresses by 4 bytes in place, so a
 * frame is never copied: tagging uses 4 bytes of the room in front of the
 * frame, untagging gives them back.
 */

import { u16, put16, WireView } from './bytes.js';
import { ETHER_HDR_LEN, ETHERTYPE } from './ethernet.js';

export const VLAN_TAG_LEN = 4;
/** An Ethernet header with one 802.1Q tag. */
export const ETHER_VLAN_HDR_LEN = ETHER_HDR_LEN + VLAN_TAG_LEN;
export const VLAN_VID_MAX = 4094;

const F = { TPID: 12, TCI: 14, TYPE: 16 } as const;

/** A view over a tagged Ethernet header at buf[off]. */
export class VlanFrame extends WireView {
  checked(): boolean {
    return this.holds(ETHER_VLAN_HDR_LEN);
  }
  get tpid(): number {
    return u16(this.buf, this.off + F.TPID);
  }
  get tci(): number {
    return u16(this.buf, this.off + F.TCI);
  }
  get vid(): number {
    return this.tci & 0xfff;
  }
  get pcp(): number {
    return this.tci >>> 13;
  }
  get dei(): boolean {
    return (this.tci & 0x1000) !== 0;
  }
  /** The EtherType of the payload. */
  get innerType(): number {
    return u16(this.buf, this.off + F.TYPE);
  }
}

export interface VlanRepr {
  vid: number;
  pcp: number;
  dei: boolean;
}

export function vlanTci(r: VlanRepr): number {
  return ((r.pcp & 7) << 13) | (r.dei ? 0x1000 : 0) | (r.vid & 0xfff);
}

export function parseVlan(v: VlanFrame): VlanRepr {
  return { vid: v.vid, pcp: v.pcp, dei: v.dei };
}

/** The TCI of the tagged frame at buf[off] (at least ETHER_VLAN_HDR_LEN bytes). */
export function vlanTciAt(buf: Uint8Array, off: number): number {
  return u16(buf, off + F.TCI);
}

/**
 * Tag the untagged frame at buf[off] in place, using the VLAN_TAG_LEN bytes
 * before it (the caller checks off >= VLAN_TAG_LEN). Returns the tagged
 * frame's offset (off - 4); its length is 4 more.
 */
export function vlanTag(buf: Uint8Array, off: number, tci: number): number {
  const n = off - VLAN_TAG_LEN;
  buf.copyWithin(n, off, off + 12);
  put16(buf, n + F.TPID, ETHERTYPE.VLAN);
  put16(buf, n + F.TCI, tci);
  return n;
}

/** Remove the tag of the frame at buf[off] in place; returns the untagged frame's offset (off + 4). */
export function vlanUntag(buf: Uint8Array, off: number): number {
  buf.copyWithin(off + VLAN_TAG_LEN, off, off + 12);
  return off + VLAN_TAG_LEN;
}
