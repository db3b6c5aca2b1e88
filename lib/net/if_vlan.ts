/**
 * vlan(4): an 802.1Q VLAN on a parent Ethernet interface (FreeBSD's
 * if_vlan). Output tags the frame in place (the 4 bytes come out of the room
 * in front of it) and hands it to the parent; input is the image's
 * EtherType 0x8100 entry (registered at init, as FreeBSD's vlan_input hangs
 * on ether_demux), which finds the VLAN by parent and tag, untags in place
 * and gives the frame to the VLAN interface. Untagged traffic on the parent
 * is not affected, and a tag no VLAN claims is counted (noproto) and dropped.
 *
 * Offload metadata: virtio-net's csum_start and hdr_len count from the
 * start of the frame, tag included, so they move by 4 with the tag; a
 * tagged GSO frame stays one frame and the Linux end segments it. A VLAN
 * takes offloaded frames when its parent does.
 *
 * A VLAN may be moved to another image and keeps its parent (jails use
 * this); frames for it are then handed over through the netisr. When the
 * parent is destroyed or moved, its VLANs are left without one.
 */

import { ETHER_HDR_LEN, ETHERTYPE, etherIsGroup } from '../wire/ethernet.js';
import { ETHER_VLAN_HDR_LEN, VLAN_TAG_LEN, vlanTag, vlanTciAt, vlanUntag } from '../wire/vlan.js';
import { VIRTIO_NET_HDR_GSO, VnetHdr } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type Ifnet, type LinkDriver } from './if.js';
import { NETISR_ETHER } from './netisr.js';
import { etherRegister, type Vnet } from './vnet.js';

/** Kinds that can carry VLANs. */
export const VLAN_PARENT_KINDS: readonly string[] = ['tap', 'epair', 'bridge', 'vxlan'];

export interface VlanInfo {
  vlan: number;
  vlanproto: '802.1q';
  vlanpcp: number;
  /** The parent's name; absent when the VLAN has none. */
  parent?: string;
}

/** Move csum_start and hdr_len by `d` bytes with the tag (they count from the frame's start). */
function shiftMeta(out: VnetHdr, meta: VnetHdr, d: number): VnetHdr {
  out.copyFrom(meta);
  if (out.csumStart !== 0) out.csumStart += d;
  if (out.hdrLen !== 0) out.hdrLen += d;
  return out;
}

export class VlanDriver implements LinkDriver {
  readonly kind = 'vlan';
  parent: Ifnet | null = null;
  tag = 0;
  pcp = 0;
  private readonly outMeta = new VnetHdr();
  readonly inMeta = new VnetHdr();

  get offload(): boolean {
    return this.parent !== null && this.parent.driver.offload;
  }

  /** The tag and the parent driver's own header go in front of the frame. */
  get headroom(): number {
    return VLAN_TAG_LEN + (this.parent?.driver.headroom ?? 0);
  }

  output(ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    const parent = this.parent;
    if (parent === null || (parent.flags & IFF.UP) === 0) {
      ifp.counters.oerrors++;
      return;
    }
    if (off < this.headroom) {
      // Not enough room in front (a frame built elsewhere): copy once.
      const copy = new Uint8Array(PKT_HEADROOM + len);
      copy.set(buf.subarray(off, off + len), PKT_HEADROOM);
      buf = copy;
      off = PKT_HEADROOM;
    }
    ifp.counters.opackets++;
    ifp.counters.obytes += len;
    if (etherIsGroup(buf, off)) ifp.counters.omcasts++;
    const n = vlanTag(buf, off, (this.pcp << 13) | this.tag);
    const m = meta.flags === 0 && meta.gsoType === VIRTIO_NET_HDR_GSO.NONE ? meta : shiftMeta(this.outMeta, meta, VLAN_TAG_LEN);
    parent.output(buf, n, len + VLAN_TAG_LEN, m);
  }

  /** Attach to `parent` with `tag` (the caller checked kind, image and that the tag is free). */
  attach(ifp: Ifnet, parent: Ifnet, tag: number): void {
    this.detachParent(ifp);
    let map = parent.vlans;
    if (map === null) map = parent.vlans = new Map();
    map.set(tag, ifp);
    this.parent = parent;
    this.tag = tag;
    ifp.mac = parent.mac;
    // FreeBSD keeps 1500 on a parent that can carry the tag's 4 extra bytes (VLAN_MTU); ours all can.
    ifp.mtu = parent.mtu;
  }

  /** `-vlandev`: leave the parent; the tag is kept. */
  detachParent(ifp: Ifnet): void {
    const p = this.parent;
    if (p === null) return;
    const map = p.vlans;
    if (map !== null && map.get(this.tag) === ifp) {
      map.delete(this.tag);
      if (map.size === 0) p.vlans = null;
    }
    this.parent = null;
    ifp.flags &= ~IFF.RUNNING;
  }

  parentGone(ifp: Ifnet): void {
    this.detachParent(ifp);
  }

  destroy(ifp: Ifnet): void {
    this.detachParent(ifp);
  }

  info(): VlanInfo {
    return { vlan: this.tag, vlanproto: '802.1q', vlanpcp: this.pcp, ...(this.parent !== null ? { parent: this.parent.name } : {}) };
  }

  describe(): Record<string, string | number | boolean> {
    return this.parent === null ? { vlan: this.tag } : { vlan: this.tag, vlandev: this.parent.name };
  }
}

/** EtherType 0x8100 input: payload at buf[off] follows a 14-byte header whose type is the TPID. */
export function vlanInput(vn: Vnet, ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
  const f = off - ETHER_HDR_LEN;
  const flen = len + ETHER_HDR_LEN;
  const map = ifp.vlans;
  const v = map === null || flen < ETHER_VLAN_HDR_LEN ? undefined : map.get(vlanTciAt(buf, f) & 0xfff);
  if (v === undefined) {
    ifp.counters.noproto++;
    vn.etherstat.noproto++;
    return;
  }
  const d = v.driver as VlanDriver;
  const n = vlanUntag(buf, f);
  const m = meta.flags === 0 && meta.gsoType === VIRTIO_NET_HDR_GSO.NONE ? meta : shiftMeta(d.inMeta, meta, -VLAN_TAG_LEN);
  if (v.owner === ifp.owner) v.input(buf, n, flen - VLAN_TAG_LEN, m);
  else vn.netisr.enqueue(NETISR_ETHER, v, buf, n, flen - VLAN_TAG_LEN, m);
}

/** Subsystem init: the image takes tagged frames. */
export function vlanInit(vn: Vnet): void {
  etherRegister(vn, ETHERTYPE.VLAN, vlanInput);
}
