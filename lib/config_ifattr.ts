/**
 * The interface attributes of lib/control/ifattr.ts in the configuration
 * document: an interface's `description`, `groups` (when not just its
 * kind's), `promisc` (user promiscuous mode) and a vlan's `vlanpcp`; lo0,
 * which the document does not list as an interface, keeps its own in the
 * image's `lo0` section.
 */

import type { Image } from './image.js';
import type { ConfigSection, InterfaceConfig } from './config.js';
import { ConfigError } from './config_check.js';
import { ImageControl, IFF, type InterfaceInfo, type InterfaceOp } from './control/index.js';
import { interfaceInfo } from './control/interfaces.js';

/** Keys an interface record may have for these attributes. */
export const IF_ATTR_KEYS: readonly string[] = ['description', 'groups', 'promisc', 'vlanpcp'];

export interface IfAttrConfig {
  description?: string;
  /** Every group the interface is in (its kind's included), when not just its kind's. */
  groups?: string[];
  promisc?: boolean;
  /** vlan: the priority code point of its tag, when not 0. */
  vlanpcp?: number;
}

/** The attributes of `i` worth saving. */
export function ifAttrConfigOf(i: InterfaceInfo): IfAttrConfig {
  const c: IfAttrConfig = {};
  if (i.description !== undefined) c.description = i.description;
  if (i.groups.length !== 1 || i.groups[0] !== i.kind) c.groups = [...i.groups];
  if ((i.flags & IFF.PPROMISC) !== 0) c.promisc = true;
  if (i.vlan !== undefined && i.vlan.vlanpcp !== 0) c.vlanpcp = i.vlan.vlanpcp;
  return c;
}

/** Check the attributes of the record `o` at `at` into `fc`. */
export function checkIfAttrs(o: Record<string, unknown>, fc: InterfaceConfig & IfAttrConfig, at: string): void {
  const bad = (k: string, what: string): never => {
    throw new ConfigError(`${at}.${k}`, what);
  };
  if (o['description'] !== undefined) {
    if (typeof o['description'] !== 'string') bad('description', 'must be a string');
    fc.description = o['description'] as string;
  }
  if (o['groups'] !== undefined) {
    const g = o['groups'];
    if (!Array.isArray(g) || !g.every((x) => typeof x === 'string' && /^[A-Za-z_][A-Za-z0-9_.-]{0,14}$/.test(x) && !/\d$/.test(x))) {
      bad('groups', 'must be a list of group names (up to 15 characters, not ending in a digit)');
    }
    fc.groups = [...(g as string[])];
  }
  if (o['promisc'] !== undefined) {
    if (typeof o['promisc'] !== 'boolean') bad('promisc', 'must be true or false');
    fc.promisc = o['promisc'] as boolean;
  }
  if (o['vlanpcp'] !== undefined) {
    const v = o['vlanpcp'];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 7) bad('vlanpcp', 'must be a priority code point, 0 to 7');
    if (fc.kind !== 'vlan') bad('vlanpcp', `only a vlan has vlanpcp, this is a ${fc.kind}`);
    fc.vlanpcp = v as number;
  }
}

/** The changes that make the interface's attributes the document's (all absent: none of them). */
function attrOps(have: InterfaceInfo, fc: IfAttrConfig): InterfaceOp[] {
  const ops: InterfaceOp[] = [];
  if ((fc.description ?? null) !== (have.description ?? null)) ops.push({ kind: 'description', text: fc.description ?? null });
  const want = fc.groups ?? [have.kind];
  for (const g of have.groups) if (!want.includes(g)) ops.push({ kind: 'group', name: g, on: false });
  for (const g of want) if (!have.groups.includes(g)) ops.push({ kind: 'group', name: g, on: true });
  const promisc = (have.flags & IFF.PPROMISC) !== 0;
  if ((fc.promisc === true) !== promisc) ops.push({ kind: 'promisc', on: fc.promisc === true });
  return ops;
}

/** Restore the attributes of interface `name` of `ctl`'s image. */
export function restoreIfAttrs(ctl: ImageControl, name: string, fc: IfAttrConfig): void {
  const have = ctl.interfaces.get(name);
  const ops = attrOps(have, fc);
  if (ops.length > 0) ctl.interfaces.configure(name, ops);
  if (have.vlan !== undefined && have.vlan.vlanpcp !== (fc.vlanpcp ?? 0)) ctl.interfaces.configureVlan(name, { pcp: fc.vlanpcp ?? 0 });
}

/** The image's `lo0` section: lo0's attributes, when it has any. */
export const LO0_SECTION: ConfigSection = {
  name: 'lo0',
  save(im: Image): unknown {
    // Read without a control surface: handing one out marks the image changed.
    const c = ifAttrConfigOf(interfaceInfo(im.lo0, im));
    return Object.keys(c).length > 0 ? c : undefined;
  },
  restore(im: Image, data: unknown): void {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('lo0: must be an object like {"description": "..."}');
    const fc = { name: im.lo0.name, kind: 'lo', mtu: im.lo0.mtu, up: true, mac: '', addrs: [] } as InterfaceConfig & IfAttrConfig;
    checkIfAttrs(data as Record<string, unknown>, fc, 'lo0');
    restoreIfAttrs(new ImageControl(im, im.registry), im.lo0.name, fc);
  },
};
