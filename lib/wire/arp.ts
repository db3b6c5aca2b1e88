/**
 * ARP for IPv4 over Ethernet (RFC 826). `checked()` accepts only hardware
 * type 1, protocol 0x0800 and address lengths 6 and 4; any other packet is
 * data the caller counts as malformed.
 */

import { WireView, put32, u32 } from './bytes.js';
import { readMac, writeMac, type Mac } from './ethernet.js';

export const ARP_LEN = 28;
export const ARPHRD_ETHER = 1;
export const ARPOP = { REQUEST: 1, REPLY: 2 } as const;

const F = { HTYPE: 0, PTYPE: 2, HLEN: 4, PLEN: 5, OP: 6, SHA: 8, SPA: 14, THA: 18, TPA: 24 } as const;

export class ArpPacket extends WireView {
  /** Long enough, and Ethernet/IPv4 with the right address lengths. */
  checked(): boolean {
    const b = this.buf;
    const o = this.off;
    if (!this.holds(ARP_LEN)) return false;
    return (
      ((b[o + F.HTYPE]! << 8) | b[o + F.HTYPE + 1]!) === ARPHRD_ETHER &&
      ((b[o + F.PTYPE]! << 8) | b[o + F.PTYPE + 1]!) === 0x0800 &&
      b[o + F.HLEN] === 6 &&
      b[o + F.PLEN] === 4
    );
  }

  get op(): number {
    return (this.buf[this.off + F.OP]! << 8) | this.buf[this.off + F.OP + 1]!;
  }
  get senderMac(): Mac {
    return readMac(this.buf, this.off + F.SHA);
  }
  get senderIp(): number {
    return u32(this.buf, this.off + F.SPA);
  }
  get targetMac(): Mac {
    return readMac(this.buf, this.off + F.THA);
  }
  get targetIp(): number {
    return u32(this.buf, this.off + F.TPA);
  }
}

export interface ArpRepr {
  op: number;
  senderMac: Mac;
  senderIp: number;
  targetMac: Mac;
  targetIp: number;
}

export function parseArp(v: ArpPacket): ArpRepr {
  return { op: v.op, senderMac: v.senderMac, senderIp: v.senderIp, targetMac: v.targetMac, targetIp: v.targetIp };
}

/** Write a 28-byte Ethernet/IPv4 ARP packet at `off`. */
export function emitArp(r: ArpRepr, buf: Uint8Array, off: number): void {
  buf[off + F.HTYPE] = 0;
  buf[off + F.HTYPE + 1] = ARPHRD_ETHER;
  buf[off + F.PTYPE] = 0x08;
  buf[off + F.PTYPE + 1] = 0x00;
  buf[off + F.HLEN] = 6;
  buf[off + F.PLEN] = 4;
  buf[off + F.OP] = r.op >>> 8;
  buf[off + F.OP + 1] = r.op & 0xff;
  writeMac(buf, off + F.SHA, r.senderMac);
  put32(buf, off + F.SPA, r.senderIp);
  writeMac(buf, off + F.THA, r.targetMac);
  put32(buf, off + F.TPA, r.targetIp);
}
