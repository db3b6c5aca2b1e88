/**
 * Packet filter hooks (FreeBSD's pfil(9)): the points where a filter
 * (ipfw, and dummynet through it) sees packets without the protocol
 * layer knowing which filters exist, and without the filter calling back
 * into the protocol layer's internals.
 *
 * A protocol layer makes one head per image (inet: lib/netinet/ip_pfil.ts)
 * and runs it at its filter points: `runIn` on input of every valid packet,
 * `runOut` on output of our own and of forwarded packets (forwarding is in
 * then out, as in FreeBSD). Filters register hooks on the head. Each hook
 * returns a verdict:
 *
 *   PFIL_PASS      go on with the packet
 *   PFIL_DROPPED   the filter refused it (a local sender sees EACCES)
 *   PFIL_CONSUMED  the filter kept it (dummynet) and may hand it back later
 *
 * A hook that kept a packet resumes it with `reinjectIn`/`reinjectOut`: the
 * hooks after it run, then the continuation the protocol layer gave the head
 * when it made it (`PfilProto`), which is where the packet left its path.
 *
 * The walk is a plain loop over an array of hook objects (monomorphic method
 * calls, no closure or allocation per packet). Adding or removing a hook
 * replaces the array, so a walk in progress (a filter's own packet re-enters
 * the head) keeps the list it started with.
 */

import type { VnetHdr } from '../wire/vnet.js';
import type { Ifnet } from './if.js';

export const PFIL_PASS = 0;
export const PFIL_DROPPED = 1;
export const PFIL_CONSUMED = 2;
export type PfilVerdict = typeof PFIL_PASS | typeof PFIL_DROPPED | typeof PFIL_CONSUMED;

/** Directions a hook is added for (pfil_add_hook's PFIL_IN / PFIL_OUT). */
export const PFIL_IN = 1;
export const PFIL_OUT = 2;

/** A filter's hook. A hook added for a direction must have that direction's method. */
export interface PfilHook {
  readonly name: string;
  /** A packet arriving on `ifp`; `len` is its IP length. */
  pfilIn?(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict;
  /**
   * A packet leaving through `ifp` towards `nexthop`, fragmented to `mtu`
   * later if needed; `rcvif` is where a forwarded packet came in, null for
   * our own.
   */
  pfilOut?(rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): PfilVerdict;
}

/**
 * What the protocol layer that owns a head gives it: where a packet goes on
 * past the filters, and the one output entry point a filter needs for a
 * packet of its own (a TCP reset). Filters reach the protocol layer only
 * through these.
 */
export interface PfilProto {
  /** Input past the filters: local delivery or forwarding. */
  resumeInput(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void;
  /** Output past the filters: fragmentation if needed, then the link. */
  resumeOutput(ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): void;
  /** Bytes a filter leaves free before the network header of a packet it builds. */
  readonly headroom: number;
  /**
   * Send a packet a filter built at buf[off + 20 .. off + len) (the network
   * header is written here) from `src` to `dst` as our own output.
   */
  sendLocal(buf: Uint8Array, off: number, len: number, proto: number, src: number, dst: number): void;
}

export class PfilHead {
  readonly name: string;
  readonly proto: PfilProto;
  private inHooks: readonly PfilHook[] = [];
  private outHooks: readonly PfilHook[] = [];

  constructor(name: string, proto: PfilProto) {
    this.name = name;
    this.proto = proto;
  }

  /** pfil_add_hook: append `hook` for the directions in `dirs` (PFIL_IN | PFIL_OUT). */
  addHook(hook: PfilHook, dirs: number): void {
    if ((dirs & PFIL_IN) !== 0) {
      if (hook.pfilIn === undefined) throw new TypeError(`pfil hook ${hook.name} has no input method`);
      if (!this.inHooks.includes(hook)) this.inHooks = [...this.inHooks, hook];
    }
    if ((dirs & PFIL_OUT) !== 0) {
      if (hook.pfilOut === undefined) throw new TypeError(`pfil hook ${hook.name} has no output method`);
      if (!this.outHooks.includes(hook)) this.outHooks = [...this.outHooks, hook];
    }
  }

  /** pfil_remove_hook: remove `hook` from both directions. */
  removeHook(hook: PfilHook): void {
    this.inHooks = this.inHooks.filter((h) => h !== hook);
    this.outHooks = this.outHooks.filter((h) => h !== hook);
  }

  /** Names of the hooks, in the order they run. */
  hooks(): { in: string[]; out: string[] } {
    return { in: this.inHooks.map((h) => h.name), out: this.outHooks.map((h) => h.name) };
  }

  /** Run the input hooks; the first verdict other than PFIL_PASS ends the walk. */
  runIn(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict {
    // The walk written out here rather than through walkIn: one call less per packet.
    const hooks = this.inHooks;
    for (let i = 0; i < hooks.length; i++) {
      const v = hooks[i]!.pfilIn!(ifp, buf, off, len, meta);
      if (v !== PFIL_PASS) return v;
    }
    return PFIL_PASS;
  }

  /** Run the output hooks; the first verdict other than PFIL_PASS ends the walk. */
  runOut(rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): PfilVerdict {
    const hooks = this.outHooks;
    for (let i = 0; i < hooks.length; i++) {
      const v = hooks[i]!.pfilOut!(rcvif, ifp, nexthop, buf, off, len, mtu, meta);
      if (v !== PFIL_PASS) return v;
    }
    return PFIL_PASS;
  }

  /** A hook that consumed an input packet hands it back: the hooks after it, then input goes on. */
  reinjectIn(after: PfilHook, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const k = this.inHooks.indexOf(after);
    if (this.walkIn(k + 1, ifp, buf, off, len, meta) === PFIL_PASS) this.proto.resumeInput(ifp, buf, off, len, meta);
  }

  /** A hook that consumed an output packet hands it back: the hooks after it, then output goes on. */
  reinjectOut(after: PfilHook, rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): void {
    const k = this.outHooks.indexOf(after);
    if (this.walkOut(k + 1, rcvif, ifp, nexthop, buf, off, len, mtu, meta) === PFIL_PASS) this.proto.resumeOutput(ifp, nexthop, buf, off, len, mtu, meta);
  }

  private walkIn(from: number, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): PfilVerdict {
    const hooks = this.inHooks;
    for (let i = from; i < hooks.length; i++) {
      const v = hooks[i]!.pfilIn!(ifp, buf, off, len, meta);
      if (v !== PFIL_PASS) return v;
    }
    return PFIL_PASS;
  }

  private walkOut(from: number, rcvif: Ifnet | null, ifp: Ifnet, nexthop: number, buf: Uint8Array, off: number, len: number, mtu: number, meta: VnetHdr): PfilVerdict {
    const hooks = this.outHooks;
    for (let i = from; i < hooks.length; i++) {
      const v = hooks[i]!.pfilOut!(rcvif, ifp, nexthop, buf, off, len, mtu, meta);
      if (v !== PFIL_PASS) return v;
    }
    return PFIL_PASS;
  }
}
