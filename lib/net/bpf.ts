/**
 * Capture taps (FreeBSD's bpf(4) descriptors, without the device).
 *
 * Every interface has a tap on its input (`Ifnet.input`, after the UP check
 * and before Ethernet input, so frames that ipfw or the destination check
 * later drop are seen) and one on its output (`Ifnet.output`, before the
 * driver). With no capture attached a tap is one null check of
 * `Ifnet.bpf`. With captures attached each frame is run through each
 * capture's filter program (lib/net/bpf_filter.ts), and only a frame the
 * filter accepts is copied, at most snaplen bytes of it, into the capture's
 * store buffer: a fixed-size buffer allocated at attach time. When the
 * reader (tcpdump) has not emptied it and the frame does not fit, the frame
 * is counted as dropped, as the kernel's bpf drops when its store buffer is
 * full; the image never waits for a capture.
 *
 * Frames are captured as they are on the interface, offload metadata left
 * out: a TSO/GSO super-frame (an epair or a TAP with a virtio-net header
 * carries them) is one record whose length exceeds the MTU, its IP total
 * length covering all the segments it will be cut into, and its TCP/UDP
 * checksum partial (only the pseudo-header sum) when the sender left it to
 * the offload. Linux's tcpdump shows the same on an interface with TSO.
 *
 * Loopback interfaces tap input only (what lo0 sends, it receives), so a
 * packet shows once, as on FreeBSD's lo0.
 *
 * Counters, with FreeBSD's meanings, as tcpdump prints them at the end:
 * `received` (bd_rcount, "packets received by filter": every frame the tap
 * saw), `dropped` (bd_dcount, "packets dropped by kernel": accepted but no
 * room in the store buffer).
 */

import type { BpfProgram } from './bpf_filter.js';
import { bpfFilter } from './bpf_filter.js';
import type { Ifnet } from './if.js';

/** Bytes in front of each frame in the store buffer: time (µs since the epoch, float64), captured length, length on the wire. */
export const BPF_REC_HDR = 16;
/** Default store buffer: 1 MiB. */
export const BPF_BUFSIZE = 1 << 20;
export const BPF_DEFAULT_SNAPLEN = 262144;

export interface BpfOptions {
  /** The filter; null accepts every frame. */
  program: BpfProgram | null;
  /** Bytes kept of each frame. */
  snaplen: number;
  /** Store buffer size in bytes (default BPF_BUFSIZE). */
  bufSize?: number;
  /** Wall-clock microseconds since the epoch, read once per accepted frame. */
  nowUs: () => number;
}

/** One capture on one interface. */
export class BpfDesc {
  readonly program: BpfProgram | null;
  readonly snaplen: number;
  /** Records: BPF_REC_HDR bytes of header, then the captured bytes. */
  readonly store: Uint8Array;
  private readonly view: DataView;
  /** Bytes of `store` holding records not yet read. */
  fill = 0;
  /** Frames the tap saw (bd_rcount). */
  received = 0;
  /** Frames the filter accepted (bd_fcount). */
  accepted = 0;
  /** Accepted frames lost because the store buffer was full (bd_dcount). */
  dropped = 0;
  /** Called when the store buffer stops being empty: the reader schedules a read. */
  wake: (() => void) | null = null;
  private readonly nowUs: () => number;
  private ifp: Ifnet | null = null;

  constructor(o: BpfOptions) {
    this.program = o.program;
    this.snaplen = Math.max(1, Math.min(o.snaplen, BPF_DEFAULT_SNAPLEN));
    this.store = new Uint8Array(Math.max(o.bufSize ?? BPF_BUFSIZE, 4096));
    this.view = new DataView(this.store.buffer, this.store.byteOffset, this.store.byteLength);
    this.nowUs = o.nowUs;
  }

  /** The interface this capture is attached to; null once closed. */
  get attachedTo(): Ifnet | null {
    return this.ifp;
  }

  /** Start capturing on `ifp`. */
  attach(ifp: Ifnet): this {
    if (this.ifp !== null) this.close();
    this.ifp = ifp;
    ifp.bpf = ifp.bpf === null ? [this] : [...ifp.bpf, this];
    return this;
  }

  /** Stop capturing; idempotent. The interface's tap goes back to one null check when this was its last capture. */
  close(): void {
    const ifp = this.ifp;
    if (ifp === null) return;
    this.ifp = null;
    const rest = (ifp.bpf ?? []).filter((d) => d !== this);
    ifp.bpf = rest.length === 0 ? null : rest;
  }

  /** Offer one frame (the tap): filter, then copy into the store buffer or count a drop. */
  catch(buf: Uint8Array, off: number, len: number): void {
    this.received++;
    let keep = this.snaplen;
    if (this.program !== null) {
      const r = bpfFilter(this.program, buf, off, len, len);
      if (r === 0) return;
      if (r < keep) keep = r;
    }
    this.accepted++;
    const cap = len < keep ? len : keep;
    const at = this.fill;
    if (at + BPF_REC_HDR + cap > this.store.length) {
      this.dropped++;
      return;
    }
    const v = this.view;
    v.setFloat64(at, this.nowUs(), true);
    v.setUint32(at + 8, cap, true);
    v.setUint32(at + 12, len, true);
    this.store.set(buf.subarray(off, off + cap), at + BPF_REC_HDR);
    this.fill = at + BPF_REC_HDR + cap;
    if (at === 0 && this.wake !== null) this.wake();
  }

  /**
   * Hand every stored record to `fn` (time in µs, the captured bytes, the
   * length on the wire) and empty the buffer. The bytes are a view into the
   * store buffer, valid only during the call.
   */
  read(fn: (tsUs: number, frame: Uint8Array, wirelen: number) => void): number {
    const v = this.view;
    const end = this.fill;
    let n = 0;
    this.fill = 0;
    for (let at = 0; at + BPF_REC_HDR <= end; ) {
      const ts = v.getFloat64(at, true);
      const cap = v.getUint32(at + 8, true);
      const wire = v.getUint32(at + 12, true);
      const s = at + BPF_REC_HDR;
      fn(ts, this.store.subarray(s, s + cap), wire);
      at = s + cap;
      n++;
    }
    return n;
  }
}

/**
 * The interface is destroyed or moves to another image: detach every
 * capture (FreeBSD's bpfdetach; the reader then sees ENXIO), so no capture
 * started in one image sees another image's frames.
 */
export function bpfDetachAll(ifp: Ifnet): void {
  const list = ifp.bpf;
  if (list !== null) for (const d of list) d.close();
}

/** The tap: offer a frame to every capture on the interface (called only when `list` is non-null). */
export function bpfTap(list: readonly BpfDesc[], buf: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < list.length; i++) list[i]!.catch(buf, off, len);
}

/** Link types a capture is delivered in (pcap's LINKTYPE_ values, the same as DLT_ ones here). */
export const DLT_NULL = 0;
export const DLT_EN10MB = 1;

/** The link type captures on an interface of this kind see: BSD loopback framing on lo and gif, as FreeBSD's bpfattach(ifp, DLT_NULL, 4). */
export function bpfLinkType(kind: string): number {
  return kind === 'lo' || kind === 'gif' ? DLT_NULL : DLT_EN10MB;
}

/**
 * The tap of a DLT_NULL interface (FreeBSD's bpf_mtap2 with the address
 * family): offer the IP packet at buf[off, off+len) behind a 4-byte
 * address family in host byte order (little-endian here, as on amd64).
 * The 4 bytes in front of the packet are borrowed for the header and put
 * back; a packet without that room is copied once (a capture is running).
 */
export function bpfTapNull(list: readonly BpfDesc[], af: number, buf: Uint8Array, off: number, len: number): void {
  let b = buf;
  let o = off - 4;
  if (o < 0) {
    b = new Uint8Array(len + 4);
    b.set(buf.subarray(off, off + len), 4);
    o = 0;
  }
  const s0 = b[o]!;
  const s1 = b[o + 1]!;
  const s2 = b[o + 2]!;
  const s3 = b[o + 3]!;
  b[o] = af & 0xff;
  b[o + 1] = (af >>> 8) & 0xff;
  b[o + 2] = (af >>> 16) & 0xff;
  b[o + 3] = af >>> 24;
  for (let i = 0; i < list.length; i++) list[i]!.catch(b, o, len + 4);
  b[o] = s0;
  b[o + 1] = s1;
  b[o + 2] = s2;
  b[o + 3] = s3;
}

/** A loopback's tap for an Ethernet-framed packet (lo0 carries IPv6 so): seen as DLT_NULL, its family from the EtherType. */
export function bpfTapEtherNull(list: readonly BpfDesc[], buf: Uint8Array, off: number, len: number): void {
  if (len < 14) return;
  const type = (buf[off + 12]! << 8) | buf[off + 13]!;
  // AF_INET 2, AF_INET6 28 (FreeBSD); another EtherType keeps its number, as no family fits.
  const af = type === 0x0800 ? 2 : type === 0x86dd ? 28 : type;
  bpfTapNull(list, af, buf, off + 14, len - 14);
}
