/**
 * The TAP link: an image interface bound to a host TAP device. Frames arrive
 * in batches (one native wake-up per batch) into the device's receive slots
 * and are processed in place, run to completion; the netisr is drained
 * before the batch callback returns, so nothing refers to a slot after it.
 * Output writes the virtio-net header in front of the frame and the frame in
 * one system call.
 */

import { VnetHdr } from '../wire/vnet.js';
import type { Ifnet, LinkDriver } from './if.js';
import type { Netisr } from './netisr.js';

/** What the driver needs of a host TAP device (lib/net/tapdev.ts provides it). */
export interface TapPort {
  readonly name: string;
  readonly vnetHdrLen: number;
  readonly slotSize: number;
  readonly rx: Uint8Array;
  readonly rxLen: Int32Array;
  /** onBatch returning false: stop reading this device for now, let the others have their turn. */
  start(onBatch: (count: number) => boolean | void): void;
  stop(): void;
  write(buf: Uint8Array, off: number, len: number): number;
  setPersist(on: boolean): void;
  close(): void;
}

export interface TapOpenRequest {
  /** Host-side device name. */
  name: string;
  persist: boolean;
  /** Restoring saved state: look for the device in other network namespaces too. */
  reattach?: boolean;
}

export type TapOpener = (req: TapOpenRequest) => TapPort;

/** The scheduler's say on each batch, and the CPU time it cost (lib/sched.ts). */
export interface BatchAccount {
  /** false: the image is over its share; the batch is dropped (iqdrops). */
  admit(ifp: Ifnet): boolean;
  /** Charge a processed batch; false when another image is waiting for the CPU (yield). */
  charge(ifp: Ifnet, ms: number): boolean;
}

export class TapDriver implements LinkDriver {
  readonly kind = 'tap';
  readonly offload: boolean;
  readonly headroom: number;
  readonly port: TapPort;
  private readonly meta = new VnetHdr();
  private ifp: Ifnet | null = null;
  private closed = false;

  constructor(
    port: TapPort,
    private readonly netisr: Netisr,
    private readonly account: BatchAccount,
  ) {
    this.port = port;
    this.offload = port.vnetHdrLen > 0;
    this.headroom = port.vnetHdrLen;
  }

  /** Start receiving for `ifp`. */
  attach(ifp: Ifnet): void {
    this.ifp = ifp;
    this.port.start(this.onBatch);
  }

  private readonly onBatch = (count: number): boolean => {
    const ifp = this.ifp;
    if (ifp === null) return false;
    if (!this.account.admit(ifp)) {
      ifp.counters.iqdrops += count;
      return false;
    }
    const t0 = performance.now();
    const { rx, rxLen, slotSize, vnetHdrLen } = this.port;
    const meta = this.meta;
    for (let i = 0; i < count; i++) {
      const base = i * slotSize;
      const len = rxLen[i]!;
      if (len < vnetHdrLen) {
        ifp.counters.ierrors++;
        continue;
      }
      if (vnetHdrLen > 0) meta.read(rx, base);
      else meta.clear();
      ifp.input(rx, base + vnetHdrLen, len - vnetHdrLen, meta);
    }
    const more = this.account.charge(ifp, performance.now() - t0);
    // What the batch queued for other images (epairs) is charged to them by the netisr.
    this.netisr.drain();
    return more;
  };

  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const h = this.headroom;
    if (h > 0) meta.write(buf, off - h);
    const n = this.port.write(buf, off - h, len + h);
    if (n < 0) {
      ifp.counters.oerrors++;
      return;
    }
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    if ((buf[off]! & 1) !== 0) ifp.counters.omcasts++;
  }

  /** Release the device; a persistent device is removed unless `keep`. */
  release(keep: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.ifp = null;
    try {
      this.port.stop();
      if (!keep) this.port.setPersist(false);
    } finally {
      this.port.close();
    }
  }

  destroy(): void {
    this.release(false);
  }

  describe(): Record<string, string | number | boolean> {
    return { hostif: this.port.name };
  }
}
