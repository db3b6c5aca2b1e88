/**
 * The TAP link: an image interface bound to a host TAP device. Frames arrive
 * in batches (one native wake-up per batch) into the device's receive slots
 * and are processed in place, run to completion; the netisr is drained
 * before the batch callback returns, so nothing refers to a slot after it.
 * Output writes the virtio-net header in front of the frame and the frame in
 * one system call.
 */

import type { Timer } from '../clock.js';
import { etherIsGroup } from '../wire/ethernet.js';
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
  /** onBatch(count, readMs): `count` frames are in the slots; reading them took `readMs` (monotonic clock). */
  start(onBatch: (count: number, readMs: number) => boolean | void): void;
  stop(): void;
  /** Stop reading for now (frames wait, then drop, in the kernel) or read again. */
  pause(on: boolean): void;
  /** The kernel's count of frames it dropped on their way to us; negative when unknown. */
  hostDrops(): number;
  write(buf: Uint8Array, off: number, len: number): number;
  setPersist(on: boolean): void;
  close(): void;
  /** False when the user made the host device before vimage attached to it: releasing it leaves it (default true). */
  readonly owned?: boolean;
}

export interface TapOpenRequest {
  /** Host-side device name. */
  name: string;
  persist: boolean;
  /** Restoring saved state: look for the device in other network namespaces too. */
  reattach?: boolean;
  /** Restoring saved state: the user made this device, vimage only attached to it. */
  adopted?: boolean;
}

export type TapOpener = (req: TapOpenRequest) => TapPort;

/** The scheduler's say on each batch, and the CPU time it cost (lib/sched.ts). */
export interface BatchAccount {
  /** A batch for this interface's image is about to be processed. */
  begin(ifp: Ifnet): void;
  /** Charge a processed batch; false when another image is waiting for the CPU (yield). */
  charge(ifp: Ifnet, ms: number): boolean;
  /** After a charged batch: 0, or the image is over its share and the device is not read for this many ms. */
  holdOff(ifp: Ifnet): number;
  /** Run `fn` after `ms` (the end of a hold-off). */
  after(ms: number, fn: () => void): Timer;
  /** The clock batches are charged by (the platform's charging clock, cpuNow, ms). */
  cpuNow(): number;
}

export class TapDriver implements LinkDriver {
  readonly kind = 'tap';
  readonly offload: boolean;
  readonly headroom: number;
  readonly port: TapPort;
  private readonly meta = new VnetHdr();
  private ifp: Ifnet | null = null;
  private closed = false;
  /** The host side was deleted: nothing is left to make non-persistent. */
  private hostGone = false;
  /**
   * Set while the device is not read because its image is over its share:
   * the frames the kernel drops meanwhile cost the daemon nothing, and are
   * added to iqdrops when reading resumes.
   */
  private holdOff: Timer | null = null;
  /** The kernel's drop counter when last read (-1: never, or it cannot tell). */
  private hostDropsSeen = -1;

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

  private readonly onBatch = (count: number, readMs: number): boolean => {
    const ifp = this.ifp;
    if (ifp === null) return false;
    this.account.begin(ifp);
    const t0 = this.account.cpuNow();
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
    const more = this.account.charge(ifp, readMs + this.account.cpuNow() - t0);
    const hold = this.account.holdOff(ifp);
    // What the batch queued for other images (epairs) is charged to them by the netisr.
    this.netisr.drain();
    if (hold > 0) {
      this.hold(hold);
      return false;
    }
    return more;
  };

  /**
   * Stop reading for `ms`: the kernel queues, then drops, what comes
   * meanwhile. The kernel's drop counter is read once per hold, when it
   * ends (and once before the first), and what it gained since the last
   * reading joins iqdrops: those frames never reached the image.
   */
  private hold(ms: number): void {
    if (this.holdOff !== null) return;
    this.port.pause(true);
    if (this.hostDropsSeen < 0) this.hostDropsSeen = this.port.hostDrops();
    this.holdOff = this.account.after(ms, this.endHold);
  }

  private readonly endHold = (): void => {
    this.holdOff = null;
    const ifp = this.ifp;
    if (ifp === null) return;
    const t0 = this.account.cpuNow();
    const d = this.port.hostDrops();
    if (d > this.hostDropsSeen && this.hostDropsSeen >= 0) ifp.counters.iqdrops += d - this.hostDropsSeen;
    if (d >= 0) this.hostDropsSeen = d;
    this.port.pause(false);
    this.account.charge(ifp, this.account.cpuNow() - t0); // reading the counter is the image's cost
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
    if (etherIsGroup(buf, off)) ifp.counters.omcasts++;
  }

  /** The host side of the link is gone (deleted with its namespace, or `ip link del`): release only the descriptor. */
  markHostGone(): void {
    this.hostGone = true;
  }

  /**
   * Release the device; a persistent device vimage created is removed
   * unless `keep`. One the user made (`owned` false) is left on the host.
   */
  release(keep: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.ifp = null;
    this.holdOff?.cancel();
    this.holdOff = null;
    try {
      this.port.stop();
      if (!keep && !this.hostGone && this.port.owned !== false) this.port.setPersist(false);
    } finally {
      this.port.close();
    }
  }

  destroy(): void {
    this.release(false);
  }

  describe(): Record<string, string | number | boolean> {
    return this.port.owned === false ? { hostif: this.port.name, adopted: true } : { hostif: this.port.name };
  }
}
