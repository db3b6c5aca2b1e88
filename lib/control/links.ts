/**
 * The bridge and VLAN part of the interfaces control surface: cloning
 * bridge(4) and vlan(4) interfaces, bridge membership, span ports and
 * address table parameters, and a VLAN's tag and parent. The drivers
 * (lib/net/if_bridge.ts, if_vlan.ts) hold the state; this checks the
 * request and turns their refusals into coded errors.
 */

import type { Image, Registry } from '../image.js';
import { E, fail } from '../errors.js';
import { IFF, type Ifnet } from '../net/if.js';
import { BridgeDriver, IFBIF, type BridgeAddress } from '../net/if_bridge.js';
import { VLAN_PARENT_KINDS, VlanDriver } from '../net/if_vlan.js';
import type { Mac } from '../wire/ethernet.js';
import { VLAN_VID_MAX } from '../wire/vlan.js';

/** What `ifconfig bridgeN ...` may change, applied in order. */
export type BridgeOp =
  | { kind: 'addm' | 'deletem' | 'span' | '-span'; ifname: string }
  | { kind: 'learn' | 'discover' | 'sticky'; ifname: string; on: boolean }
  | { kind: 'maxaddr' | 'timeout'; value: number }
  | { kind: 'flush' };

const FLAG_OF = { learn: IFBIF.LEARNING, discover: IFBIF.DISCOVER, sticky: IFBIF.STICKY } as const;

function newMac(reg: Registry): Mac {
  // FreeBSD's generated addresses use its OUI, 58:9c:fc.
  return (0x589cfc000000 + Math.floor(reg.random() * 0xffffff)) as Mac;
}

/** `ifconfig bridge[N] create`. */
export function createBridge(reg: Registry, im: Image, name?: string): Ifnet {
  reg.checkRoom(im, 1);
  const driver = new BridgeDriver(im.clock);
  const ifp = reg.newIfnet(im, name ?? reg.freeName('bridge'), 'bridge', IFF.BROADCAST | IFF.SIMPLEX | IFF.MULTICAST, 1500, newMac(reg), driver);
  driver.ifp = ifp;
  im.ifnets.set(ifp.name, ifp);
  return ifp;
}

/** `ifconfig vlan[N] create [vlan TAG vlandev IF]` and `ifconfig IF.TAG create`. */
export function createVlan(reg: Registry, im: Image, name: string | undefined, tag?: number, parent?: string): Ifnet {
  reg.checkRoom(im, 1);
  const driver = new VlanDriver();
  const ifp = reg.newIfnet(im, name ?? reg.freeName('vlan'), 'vlan', IFF.BROADCAST | IFF.SIMPLEX | IFF.MULTICAST, 1500, newMac(reg), driver);
  im.ifnets.set(ifp.name, ifp);
  if (tag !== undefined || parent !== undefined) {
    try {
      setVlan(im, ifp, tag, parent);
    } catch (e) {
      im.ifnets.delete(ifp.name);
      throw e;
    }
  }
  return ifp;
}

/**
 * Does a frame sent on `from` come, in the same call, to `to`: through a
 * VLAN's parent, or a bridge's members and span ports? Such a link would
 * close a loop that recurses until the stack overflows, so it is refused.
 */
function outputReaches(from: Ifnet, to: Ifnet, seen = new Set<Ifnet>()): boolean {
  if (from === to) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  const d = from.driver;
  if (d instanceof VlanDriver) return d.parent !== null && outputReaches(d.parent, to, seen);
  if (d instanceof BridgeDriver) return d.outputs().some((m) => outputReaches(m, to, seen));
  return false;
}

function refuseLoop(member: Ifnet, br: Ifnet): void {
  if (outputReaches(member, br)) fail(E.BAD_ARGUMENT, `${member.name}: its frames come back to ${br.name} (a VLAN on the bridge, or on a bridge it feeds); that would loop`);
}

function bridgeOf(ifp: Ifnet): BridgeDriver {
  if (!(ifp.driver instanceof BridgeDriver)) fail(E.BAD_ARGUMENT, `${ifp.name} is not a bridge; 'ifconfig bridge create' makes one`);
  return ifp.driver;
}

/** Apply bridge parameters in order (FreeBSD's BRDG* ioctls). */
export function configureBridge(im: Image, ifp: Ifnet, ops: readonly BridgeOp[]): void {
  const br = bridgeOf(ifp);
  for (const op of ops) {
    try {
      switch (op.kind) {
        case 'addm':
          refuseLoop(im.ifnet(op.ifname), ifp);
          br.addMember(im.ifnet(op.ifname));
          break;
        case 'deletem':
          br.deleteMember(im.ifnet(op.ifname));
          break;
        case 'span':
          refuseLoop(im.ifnet(op.ifname), ifp);
          br.addSpan(im.ifnet(op.ifname));
          break;
        case '-span':
          br.detach(im.ifnet(op.ifname));
          break;
        case 'learn':
        case 'discover':
        case 'sticky':
          br.setMemberFlag(im.ifnet(op.ifname), FLAG_OF[op.kind], op.on);
          break;
        case 'maxaddr':
          br.setMaxaddr(op.value);
          break;
        case 'timeout':
          br.setTimeout(op.value);
          break;
        case 'flush':
          br.flush();
          break;
      }
    } catch (e) {
      if (e instanceof Error && e.constructor === Error) fail(E.BAD_ARGUMENT, `${op.kind}: ${e.message}`);
      throw e;
    }
  }
}

export function bridgeAddresses(ifp: Ifnet): BridgeAddress[] {
  return bridgeOf(ifp).addresses();
}

/** `vlan TAG`, `vlandev IF`, `-vlandev` (parent null). */
export function setVlan(im: Image, ifp: Ifnet, tag: number | undefined, parent: string | null | undefined): void {
  if (!(ifp.driver instanceof VlanDriver)) fail(E.BAD_ARGUMENT, `${ifp.name} is not a vlan interface`);
  const d = ifp.driver;
  if (tag !== undefined && (!Number.isInteger(tag) || tag < 1 || tag > VLAN_VID_MAX)) fail(E.OUT_OF_RANGE, `vlan ${tag}: give a tag from 1 to ${VLAN_VID_MAX}`);
  if (parent === null) {
    d.detachParent(ifp);
    if (tag !== undefined) d.tag = tag;
    return;
  }
  const newTag = tag ?? d.tag;
  const p = parent !== undefined ? im.ifnet(parent) : d.parent;
  if (p === null) {
    d.tag = newTag;
    return;
  }
  if (newTag === 0) fail(E.BAD_ARGUMENT, `${ifp.name}: give the tag too, e.g. vlan 10 vlandev ${p.name}`);
  if (!VLAN_PARENT_KINDS.includes(p.kind)) fail(E.BAD_ARGUMENT, `${p.name}: a ${p.kind} interface cannot carry VLANs (parents: ${VLAN_PARENT_KINDS.join(', ')})`);
  if (p.owner !== ifp.owner) fail(E.BAD_ARGUMENT, `${p.name} is in another image`);
  const other = p.vlans?.get(newTag);
  if (other !== undefined && other !== ifp) fail(E.INTERFACE_EXISTS, `vlan ${newTag} on ${p.name} is already ${other.name}`);
  // A VLAN that is a bridge member or span port: every loop through it after this goes ifp -> p -> ... -> ifp.
  if (p !== d.parent && outputReaches(p, ifp)) fail(E.BAD_ARGUMENT, `${ifp.name}: frames sent on ${p.name} come back to ${ifp.name} (it is a member of a bridge ${p.name} feeds); that would loop`);
  d.attach(ifp, p, newTag);
  if ((ifp.flags & IFF.UP) !== 0) ifp.flags |= IFF.RUNNING;
}
