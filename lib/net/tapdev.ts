/**
 * Host TAP devices through the native binding (native/tap.c, loaded by
 * lib/native/binding.ts). Other system calls are in lib/native/sys.ts.
 *
 * A TapDevice owns one /dev/net/tun file descriptor attached to a TAP
 * interface, by default with a 10-byte virtio-net header in front of every
 * frame and checksum/TSO offloads negotiated (see `offloads`). Receiving is
 * batched: one native wake-up reads as many frames as are queued (up to the
 * number of slots) into `rx`, frame i at `i * slotSize` with its length,
 * header included, in `rxLen[i]`, then calls `onBatch(count)` once. Slots are
 * reused by the next batch, so a consumer must be done with them when
 * `onBatch` returns. All devices of the same slot geometry share one receive
 * area: batches run to completion one at a time on the one thread, so they
 * never overlap, and a thousand TAPs need 4 MiB of slots, not 4 GiB.
 *
 * Errors: control calls throw a plain Error with `code` set to the errno name
 * ('EPERM', 'EBUSY', 'EINVAL', 'ENODEV', ...) and `errno` to the negative
 * errno, with a message that says what to do. The data path never throws for
 * a network condition: `write` returns bytes written or -errno (-EAGAIN when
 * the device queue is full, -EIO while the host side is down, -EBADF after
 * close). It throws only for programming errors (off/len outside `buf`).
 */

import { binding, type RxHandle, type TapBinding, type TapOpened } from '../native/binding.js';
import { enterNetns, leaveNetns, otherNetnsPaths } from '../native/sys.js';

const EBADF = 9;
/** What the tun driver answers once its device was deleted (linux/drivers/net/tun.c). */
const EBADFD = 77;

/** TUN_F_* offload bits as in linux/if_tun.h. */
export const TUN_F = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, TSO_ECN: 0x08 } as const;

/** The TAP half of the native binding, loaded on first use. */
function native(): TapBinding {
  return binding();
}

export interface TapOpenOptions {
  /** Host interface name, at most 15 bytes; 'vtap%d' lets the kernel pick. */
  name: string;
  /** Prefix frames with a virtio-net header and negotiate offloads (default true). */
  vnetHdr?: boolean;
  /** Keep the host device after close (default false). */
  persist?: boolean;
  /** Bring the host side up after opening. */
  up?: boolean;
  /** Host-side MTU to set after opening. */
  mtu?: number;
  /** Receive slots, i.e. the largest batch (default 64). */
  slots?: number;
  /** Bytes per slot (default 65550 with a virtio-net header: a 64 KiB GSO frame plus header; else 9216 + 14). */
  slotSize?: number;
}

const receiveAreas = new Map<string, { rx: Uint8Array; rxLen: Int32Array }>();

/** The receive slots shared by every device of this geometry (see the header). */
function receiveArea(slots: number, slotSize: number): { rx: Uint8Array; rxLen: Int32Array } {
  const key = `${slots}x${slotSize}`;
  let a = receiveAreas.get(key);
  if (a === undefined) {
    a = { rx: new Uint8Array(slots * slotSize), rxLen: new Int32Array(slots) };
    receiveAreas.set(key, a);
  }
  return a;
}

export class TapDevice {
  readonly name: string;
  readonly vnetHdrLen: number;
  readonly slotSize: number;
  readonly rx: Uint8Array;
  readonly rxLen: Int32Array;
  readonly offloads: number;
  /** Set when receiving stopped on a device error (e.g. EBADFD after the host device was deleted): the negative errno. */
  rxError = 0;
  /**
   * Called once when the host side is gone (`ip link del`, or its network
   * namespace was deleted): the descriptor is then detached and carries
   * nothing. Runs from the event loop (setImmediate), never from inside the
   * native receive callback, so the listener may close the device.
   */
  onGone: ((errno: number) => void) | null = null;
  /** False for a device the user made before vimage attached to it: it is left on the host when released. */
  owned = true;
  private goneSeen = false;
  private fd: number;
  private handle: RxHandle | null = null;
  private readonly addon: TapBinding;

  private constructor(addon: TapBinding, opened: TapOpened, slots: number, slotSize: number) {
    this.addon = addon;
    this.fd = opened.fd;
    this.name = opened.name;
    this.vnetHdrLen = opened.vnetHdrLen;
    this.offloads = opened.offloads;
    this.slotSize = slotSize;
    const area = receiveArea(slots, slotSize);
    this.rx = area.rx;
    this.rxLen = area.rxLen;
  }

  /**
   * Create the TAP device, or attach to an existing (persistent) one of the
   * same name. Throws coded errors, e.g. EPERM without CAP_NET_ADMIN, EBUSY
   * when another process holds the device, EINVAL for a bad name.
   */
  static open(opts: TapOpenOptions): TapDevice {
    const vnetHdr = opts.vnetHdr ?? true;
    const slots = opts.slots ?? 64;
    const slotSize = opts.slotSize ?? (vnetHdr ? 65550 : 9216 + 14);
    if (!Number.isInteger(slots) || slots < 1 || slots > 4096) {
      throw Object.assign(new RangeError(`tap ${opts.name}: slots must be an integer in [1, 4096], got ${slots}`), {
        code: 'EINVAL',
        errno: -22,
      });
    }
    if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize > 1 << 20) {
      throw Object.assign(new RangeError(`tap ${opts.name}: slotSize must be an integer in [64, 1048576], got ${slotSize}`), {
        code: 'EINVAL',
        errno: -22,
      });
    }
    const a = native();
    const opened = a.open(opts.name, { vnetHdr, persist: opts.persist ?? false });
    const dev = new TapDevice(a, opened, slots, slotSize);
    try {
      if (opts.mtu !== undefined) a.setMtu(dev.name, opts.mtu);
      if (opts.up) a.setUp(dev.name, true);
    } catch (err) {
      dev.close();
      throw err;
    }
    return dev;
  }

  /** True until close(). */
  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /**
   * Begin receiving: `onBatch(count)` runs once per batch of frames in `rx`.
   * If the device fails (the host side was deleted), receiving stops and
   * `rxError` holds the negative errno; onBatch is not called for it.
   * onBatch returning false ends this wake-up's reading: other devices get
   * their turn before more of this one's frames are read.
   */
  start(onBatch: (count: number, readMs: number) => boolean | void): void {
    if (this.fd < 0) throw Object.assign(new Error(`tap ${this.name}: device is closed`), { code: 'EBADF', errno: -EBADF });
    if (this.handle !== null) {
      throw Object.assign(new Error(`tap ${this.name}: already receiving`), { code: 'EALREADY', errno: -114 });
    }
    this.rxError = 0;
    this.handle = this.addon.start(this.fd, this.rx, this.rxLen, this.slotSize, (count: number, readMs: number): boolean => {
      if (count >= 0) return onBatch(count, readMs) !== false;
      this.rxError = count;
      this.checkGone(count);
      return false;
    });
  }

  /** Stop receiving; idempotent. */
  stop(): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    this.addon.stop(h);
  }

  /**
   * Stop reading the device for a while (on) or read it again (off). While
   * paused, frames wait in the kernel and, once its queue is full, are
   * dropped there, at no cost to the daemon. Does nothing when not receiving.
   */
  pause(on: boolean): void {
    if (this.handle !== null) this.addon.pause(this.handle, on);
  }

  /**
   * Frames the kernel dropped on their way to us (the host device's transmit
   * drops, in whatever namespace it lives), or -errno when it cannot tell.
   */
  hostDrops(): number {
    if (this.fd < 0) return -EBADF;
    return this.addon.hostDrops(this.fd);
  }

  /** Send one frame (with its virtio-net header when vnetHdrLen is 10): bytes written or -errno, -EBADF after close. */
  write(buf: Uint8Array, off: number, len: number): number {
    const fd = this.fd;
    if (fd < 0) return -EBADF;
    const n = this.addon.write(fd, buf, off, len);
    if (n === -EBADFD) this.checkGone(n);
    return n;
  }

  /**
   * A read or write failed: if the tun driver says the device is detached
   * (TUNGETIFF answers EBADFD), the host side is gone for good; tell
   * `onGone` once. Any other failure is left in `rxError`.
   */
  private checkGone(errno: number): void {
    if (this.goneSeen || this.fd < 0) return;
    if (this.addon.hostDrops(this.fd) !== -EBADFD) return;
    this.goneSeen = true;
    setImmediate(() => this.onGone?.(errno));
  }

  /** Make the host device outlive this descriptor (or not). */
  setPersist(on: boolean): void {
    if (this.fd < 0) throw Object.assign(new Error(`tap ${this.name}: device is closed`), { code: 'EBADF', errno: -EBADF });
    this.addon.setPersist(this.fd, on);
  }

  /** Bring the host side up or down (in this process's network namespace). */
  setHostUp(up: boolean): void {
    this.addon.setUp(this.name, up);
  }

  /** Set the host side's MTU (in this process's network namespace). */
  setHostMtu(mtu: number): void {
    this.addon.setMtu(this.name, mtu);
  }

  /** Stop receiving and release the descriptor; idempotent. A non-persistent device disappears. */
  close(): void {
    this.stop();
    const fd = this.fd;
    if (fd < 0) return;
    this.fd = -1;
    this.addon.close(fd);
  }
}

/** Remove a (persistent) TAP device by name: true if removed, false if there was none. Throws EBUSY if a process holds it. */
export function tapDestroy(name: string): boolean {
  return native().destroy(name);
}

/** Whether a network interface of this name exists in this network namespace. */
export function tapExists(name: string): boolean {
  return native().exists(name);
}

/** The MTU of a host network interface; throws ENODEV if there is none. */
export function hostIfMtu(name: string): number {
  return native().getMtu(name);
}

/**
 * Attach to a persistent TAP device by name wherever its host side now
 * lives: in our namespace, or in one it was moved to (needs CAP_SYS_ADMIN to
 * enter). When it exists nowhere, it is created here. Returns the device and
 * the namespace it was found in (null for ours).
 */
export function tapReattach(opts: TapOpenOptions): { dev: TapDevice; netns: string | null; created: boolean } {
  if (tapExists(opts.name)) return { dev: TapDevice.open({ ...opts, up: false }), netns: null, created: false };
  for (const ns of otherNetnsPaths()) {
    let found: TapDevice | undefined;
    let saved: number;
    try {
      saved = enterNetns(ns);
    } catch {
      continue; // not ours to enter
    }
    try {
      if (tapExists(opts.name)) found = TapDevice.open({ ...opts, up: false, mtu: undefined });
    } catch {
      // a device of that name there that is not a TAP we can attach: keep looking
    } finally {
      // Failing to come back would leave the daemon in a foreign namespace: let that throw.
      leaveNetns(saved);
    }
    if (found !== undefined) return { dev: found, netns: ns, created: false };
  }
  return { dev: TapDevice.open(opts), netns: null, created: true };
}
