/**
 * VXLAN (RFC 7348): an Ethernet frame carried in a UDP datagram behind an
 * 8-byte header: flags (the I bit says the VNI is valid), 24 reserved bits,
 * the 24-bit VXLAN Network Identifier and 8 more reserved bits.
 *
 * RFC 7348 section 5: reserved fields "MUST be set to zero on transmission
 * and ignored on receipt"; a header without the I flag carries no VNI and
 * is dropped. The outer UDP checksum "SHOULD be transmitted as zero".
 */

import { WireView } from './bytes.js';

export const VXLAN_HDR_LEN = 8;
/** The IANA port (RFC 7348 section 5); FreeBSD's and Linux's default. */
export const VXLAN_PORT = 4789;
/** The I flag: the VNI field is valid. */
export const VXLAN_FLAG_VNI = 0x08;
export const VXLAN_VNI_MAX = 0xffffff;
/** Outer IPv4 + UDP + VXLAN headers in front of the inner Ethernet frame. */
export const VXLAN_ENCAP_LEN = 20 + 8 + VXLAN_HDR_LEN;

const F = { FLAGS: 0, VNI: 4 } as const;

/** A view over a VXLAN header and the inner frame after it at buf[off, off+len). */
export class VxlanHeader extends WireView {
  checked(): boolean {
    return this.holds(VXLAN_HDR_LEN);
  }
  get flags(): number {
    return this.buf[this.off + F.FLAGS]!;
  }
  /** The I flag is set: the VNI is meaningful. */
  get vniValid(): boolean {
    return (this.flags & VXLAN_FLAG_VNI) !== 0;
  }
  get vni(): number {
    const b = this.buf;
    const o = this.off + F.VNI;
    return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  }
  /** Where the inner Ethernet frame starts. */
  get payloadOffset(): number {
    return this.off + VXLAN_HDR_LEN;
  }
  get payloadLength(): number {
    return this.len - VXLAN_HDR_LEN;
  }
}

export interface VxlanRepr {
  vni: number;
}

/** The VNI of a checked header, or undefined when the I flag is clear. */
export function parseVxlan(v: VxlanHeader): VxlanRepr | undefined {
  return v.vniValid ? { vni: v.vni } : undefined;
}

export function emitVxlan(r: VxlanRepr, buf: Uint8Array, off: number): void {
  emitVxlanVni(buf, off, r.vni);
}

/** Write the header at buf[off]: the I flag, the VNI, reserved bits zero (the packet path's form of emitVxlan). */
export function emitVxlanVni(buf: Uint8Array, off: number, v: number): void {
  buf[off] = VXLAN_FLAG_VNI;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (v >>> 16) & 0xff;
  buf[off + 5] = (v >>> 8) & 0xff;
  buf[off + 6] = v & 0xff;
  buf[off + 7] = 0;
}

/**
 * Write the outer UDP header and the VXLAN header in front of the inner
 * frame at buf[off + 16, off + 16 + innerLen). The UDP checksum is sent as
 * zero (RFC 7348 section 5: "SHOULD be transmitted as zero"; Linux and
 * FreeBSD do so over IPv4).
 */
export function emitVxlanUdp(buf: Uint8Array, off: number, sport: number, dport: number, innerLen: number, vni: number): void {
  const ulen = 8 + VXLAN_HDR_LEN + innerLen;
  buf[off] = sport >>> 8;
  buf[off + 1] = sport & 0xff;
  buf[off + 2] = dport >>> 8;
  buf[off + 3] = dport & 0xff;
  buf[off + 4] = ulen >>> 8;
  buf[off + 5] = ulen & 0xff;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  emitVxlanVni(buf, off + 8, vni);
}

/**
 * A hash of the inner frame's flow (both Ethernet addresses and type; for
 * IPv4 also the addresses and the first four bytes after the header, the
 * ports), to pick the outer source port so that one flow keeps one port and
 * the underlay can spread flows (RFC 7348 section 5, "Source Port").
 */
export function vxlanFlowHash(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  const end = Math.min(len, 14);
  for (let i = 0; i < end; i++) h = Math.imul(h ^ buf[off + i]!, 0x01000193);
  if (len >= 14 + 20 && buf[off + 12] === 0x08 && buf[off + 13] === 0x00 && buf[off + 14]! >>> 4 === 4) {
    const ihl = (buf[off + 14]! & 15) * 4;
    const n = len >= 14 + ihl + 4 ? ihl + 4 : 20;
    for (let i = 26; i < 14 + n; i++) if (i < 34 || i >= 14 + ihl) h = Math.imul(h ^ buf[off + i]!, 0x01000193);
  }
  return (h ^ (h >>> 16)) >>> 0;
}
