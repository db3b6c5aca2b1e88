/**
 * Raw IP delivery (FreeBSD's ripcb list, per image): every packet of a
 * protocol delivered to this image is shown to each raw endpoint open for
 * that protocol. Endpoints copy what they keep before returning.
 */

import type { Vnet } from '../net/vnet.js';
import type { Ifnet } from '../net/if.js';

export interface RawPcb {
  readonly proto: number;
  /** The whole IP packet, header included, at buf[off, off+len). */
  input(buf: Uint8Array, off: number, len: number, ifp: Ifnet): void;
}

export class RawTable {
  readonly pcbs: RawPcb[] = [];
  /** Protocols with at least one endpoint, for a cheap check on the input path (made with the first endpoint). */
  byProto: Uint16Array = NO_PROTOS;
}

const NO_PROTOS = new Uint16Array(0);

declare module '../net/vnet.js' {
  interface Vnet {
    readonly raw: RawTable;
  }
}

export function rawAttach(im: Vnet, pcb: RawPcb): () => void {
  im.raw.pcbs.push(pcb);
  if (im.raw.byProto.length === 0) im.raw.byProto = new Uint16Array(256);
  im.raw.byProto[pcb.proto]!++;
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    const i = im.raw.pcbs.indexOf(pcb);
    if (i < 0) return; // already dropped by rawDestroy
    im.raw.pcbs.splice(i, 1);
    im.raw.byProto[pcb.proto]!--;
  };
}

/** Show a delivered packet to the raw endpoints of its protocol; true if any took it. */
export function rawInput(im: Vnet, proto: number, buf: Uint8Array, off: number, len: number, ifp: Ifnet): boolean {
  if (im.raw.pcbs.length === 0 || im.raw.byProto[proto] === 0) return false;
  for (const pcb of im.raw.pcbs) if (pcb.proto === proto) pcb.input(buf, off, len, ifp);
  return true;
}

export function rawDestroy(im: Vnet): void {
  im.raw.pcbs.length = 0;
  im.raw.byProto.fill(0);
}
