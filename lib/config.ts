/**
 * The configuration of a whole Registry as a plain, readable document:
 * images, interfaces (with host device names and epair peers), addresses,
 * static routes, static ARP entries and sysctls that differ from their
 * defaults, scheduling weights, and sections kept by other modules: the
 * ipfw rules, pipes and queues (lib/ipfw/config.ts, under `ipfw`) and the
 * daemon's kept commands (`keep`).
 *
 * `exportConfig` is a pure read. `applyConfig` builds what the document
 * describes on top of what exists, item by item: a failing item is reported
 * and skipped, never aborting the rest ("start with what it can restore").
 * `vimage load` checks a document whole first (lib/config_check.ts) and,
 * unless merging, removes what the named images have and the document does
 * not (lib/config_converge.ts) before applying it: `loadConfig`.
 *
 * What one image holds is read and changed through its control surface
 * (lib/control: interfaces, addresses, ARP entries, sysctls, CPU). What
 * spans images stays with the registry: creating images, making and moving
 * links (an epair's ends, a TAP found in another image), interface indexes,
 * and static routes, which the file records with both gateway and
 * interface (the control surface derives the interface from the gateway).
 */

import { CONFIG_VERSION, checkConfig } from './config_check.js';
import { convergeConfig, precheckConverge } from './config_converge.js';
import { VimageError } from './errors.js';
import { restoreIpfwConfig, saveIpfwConfig } from './ipfw/config.js';
import type { Image, Registry } from './image.js';
import { ImageControl, type BridgeOp, type InterfaceInfo, type InterfaceOp } from './control/index.js';
import { vxlanConfigOf, restoreVxlan, type VxlanConfig } from './control/vxlan.js';
import { ifAttrConfigOf, LO0_SECTION, restoreIfAttrs, type IfAttrConfig } from './config_ifattr.js';
import { gifConfigOf, restoreGif, type GifConfig } from './control/gif.js';
import { IFF, type Ifnet } from './net/if.js';
import { EpairDriver } from './net/if_epair.js';
import { TapDriver } from './net/if_tap.js';
import { RTF } from './netinet/route.js';
import { sysctlText } from './sysctl.js';
import { CPU_MAX_DEFAULT, CPU_WEIGHT_DEFAULT } from './sched.js';
import { macToString, parseMac } from './wire/ethernet.js';
import { ip4ToString, parseCidr, parseIp4 } from './wire/ipv4.js';
import { parseIp6Cidr } from './wire/ipv6.js';

export { CONFIG_VERSION, ConfigError } from './config_check.js';

export interface InterfaceConfig extends IfAttrConfig {
  name: string;
  kind: string;
  /** tap: the host device. */
  hostif?: string;
  /** tap: the user made the host device; destroying the interface leaves it. */
  adopted?: boolean;
  /** epair: where the other end is. */
  peer?: { image: string; name: string };
  mtu: number;
  up: boolean;
  mac: string;
  /** `A.B.C.D/LEN`, first is the primary address. */
  addrs: string[];
  /** inet6 addresses as `ADDR/LEN`, the link-local one made from the MAC left out (absent in older files). */
  inet6?: string[];
  /** The interface index, kept across restarts (the file may leave it out). */
  index?: number;
  /** bridge: member interfaces (same image), span ports, table size and entry lifetime. */
  members?: string[];
  span?: string[];
  maxaddr?: number;
  timeout?: number;
  /** vlan: the tag and the parent interface. */
  vlan?: number;
  vlandev?: string;
  /** vxlan: VNI, end points, ports, TTL, learning and table parameters. */
  vxlan?: VxlanConfig;
  /** gif: the tunnel and the point-to-point destinations. */
  gif?: GifConfig;
}

export interface RouteConfig {
  dst: string;
  gateway?: string;
  interface: string;
  flags: Array<'blackhole' | 'reject'>;
  mtu?: number;
}

export interface ImageConfig {
  name: string;
  /** The index of the image's lo0, kept across restarts. */
  loIndex?: number;
  interfaces: InterfaceConfig[];
  routes: RouteConfig[];
  /** Static IPv6 routes (absent in older files and when there are none). */
  routes6?: Array<{ dst: string; gateway?: string; interface: string }>;
  arp: Array<{ ip: string; mac: string }>;
  /** Values that differ from the defaults; names for sysctls with named values. */
  sysctl: Record<string, number | string>;
  /** Scheduling parameters, when not the defaults. */
  cpu?: { weight: number; max: number };
  [section: string]: unknown;
}

export interface ConfigDocument {
  version: number;
  images: ImageConfig[];
}

/**
 * A part of an image's configuration that another module keeps (ipfw's
 * rules and pipes here; the daemon's kept commands register theirs).
 */
export interface ConfigSection {
  readonly name: string;
  /** undefined when the image has nothing to save in this section. */
  save(im: Image): unknown;
  restore(im: Image, data: unknown): void;
}

// Declarations, like sysctl declarations: fixed at start, not image state.
const sections: ConfigSection[] = [{ name: 'ipfw', save: saveIpfwConfig, restore: restoreIpfwConfig }, LO0_SECTION];

/** Add a section (the daemon's `keep`); lib/ modules are listed above instead. */
export function registerConfigSection(s: ConfigSection): void {
  if (sections.some((x) => x.name === s.name)) throw new Error(`config section ${s.name} registered twice`);
  sections.push(s);
}

function interfaceConfig(i: InterfaceInfo): InterfaceConfig {
  const c: InterfaceConfig = {
    name: i.name,
    kind: i.kind,
    mtu: i.mtu,
    up: (i.flags & IFF.UP) !== 0,
    mac: i.ether ?? '00:00:00:00:00:00',
    addrs: i.inet.map((a) => `${a.address}/${a.prefixLen}`),
    index: i.index,
  };
  const v6 = i.inet6.filter((a) => !a.auto).map((a) => `${a.address.split('%')[0]}/${a.prefixLen}`);
  if (v6.length > 0) c.inet6 = v6;
  const { hostif, adopted, peer, peerImage } = i.link;
  if (typeof hostif === 'string') c.hostif = hostif;
  if (adopted === true) c.adopted = true;
  if (typeof peer === 'string' && typeof peerImage === 'string') c.peer = { image: peerImage, name: peer };
  if (i.bridge !== undefined) {
    c.members = i.bridge.members.map((m) => m.name);
    if (i.bridge.spans.length > 0) c.span = i.bridge.spans.map((m) => m.name);
    c.maxaddr = i.bridge.maxaddr;
    c.timeout = i.bridge.timeout;
  }
  if (i.vlan !== undefined) {
    c.vlan = i.vlan.vlan;
    if (i.vlan.parent !== undefined) c.vlandev = i.vlan.parent;
  }
  if (i.vxlan !== undefined) c.vxlan = vxlanConfigOf(i.vxlan);
  Object.assign(c, ifAttrConfigOf(i));
  if (i.gif !== undefined) c.gif = gifConfigOf(i.gif, i.inet);
  return c;
}

/** One image as the document holds it, read through its control surface. */
function imageConfig(ctl: ImageControl, im: Image): ImageConfig {
  const sysctl: Record<string, number | string> = {};
  // Only the values that differ from the defaults (no SysctlInfo per tunable: saving reads thousands of images).
  for (const { decl: d, value } of im.sysctl.list()) if (!d.readOnly && value !== d.def) sysctl[d.name] = d.names !== undefined ? sysctlText(d, value) : value;
  const ifs = ctl.interfaces.list();
  const lo0 = ifs.find((i) => i.index === im.lo0.index)!;
  const own = new Set(ifs.flatMap((i) => i.inet.map((a) => a.address)));
  const ic: ImageConfig = {
    name: ctl.name,
    loIndex: lo0.index,
    interfaces: ifs.filter((i) => i !== lo0).map(interfaceConfig),
    routes: ctl.routes
      .list()
      // Static routes the user added; not the host routes of our own addresses.
      .filter((r) => (r.flags & RTF.STATIC) !== 0 && !(r.prefixLen === 32 && own.has(ip4ToString(r.dst)) && r.interface === lo0.name))
      .map((r) => {
        const rc: RouteConfig = {
          dst: `${ip4ToString(r.dst)}/${r.prefixLen}`,
          interface: r.interface,
          flags: [...((r.flags & RTF.BLACKHOLE) !== 0 ? (['blackhole'] as const) : []), ...((r.flags & RTF.REJECT) !== 0 ? (['reject'] as const) : [])],
        };
        if ((r.flags & RTF.GATEWAY) !== 0) rc.gateway = ip4ToString(r.gateway);
        if (r.routeMtu !== 0) rc.mtu = r.routeMtu;
        return rc;
      }),
    arp: ctl.neighbours
      .list()
      // Entries made with arp -s; one for an address the image has since taken is not restorable.
      .filter((n) => n.static && n.mac !== null && !own.has(ip4ToString(n.ip)))
      .map((n) => ({ ip: ip4ToString(n.ip), mac: macToString(n.mac!) })),
    sysctl,
  };
  const routes6 = ctl.inet6.staticRoutes();
  if (routes6.length > 0) ic.routes6 = routes6;
  const cpu = ctl.cpu;
  if (cpu.weight !== CPU_WEIGHT_DEFAULT || cpu.max !== CPU_MAX_DEFAULT) ic.cpu = { weight: cpu.weight, max: cpu.max };
  for (const sec of sections) {
    const data = sec.save(im);
    if (data !== undefined) ic[sec.name] = data;
  }
  return ic;
}

/** One image's part of the document (the daemon's state journal saves images one at a time). */
export function exportImageConfig(reg: Registry, im: Image): ImageConfig {
  return imageConfig(new ImageControl(im, reg), im);
}

export function exportConfig(reg: Registry): ConfigDocument {
  return { version: CONFIG_VERSION, images: reg.list().map((im) => imageConfig(new ImageControl(im, reg), im)) };
}

export interface ApplyReport {
  applied: number;
  errors: string[];
}

/**
 * `vimage load`: a checked document (checkLoadable). Without `merge`, each
 * image it names is first cleared of what the document does not have
 * (lib/config_converge.ts), so it ends up as the file says; with `merge`
 * nothing is removed. Throws a ConfigError, before any change, when the
 * live state makes the document impossible.
 */
export function loadConfig(reg: Registry, doc: ConfigDocument, merge: boolean): ApplyReport & { removed: number } {
  let removed = 0;
  if (!merge) {
    precheckConverge(reg, doc);
    removed = convergeConfig(reg, doc, sections);
  }
  return { ...applyConfig(reg, doc), removed };
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what} must be a string`);
  return v;
}

/**
 * Check the daemon's own state file (loosely: keys a newer daemon added are
 * kept, kinds this one cannot build are reported when applied). Throws a
 * ConfigError naming the first bad value; fills in defaults.
 */
export function validateConfig(doc: unknown): ConfigDocument {
  return checkConfig(doc, { strict: false, sections: sections.map((s) => s.name) });
}

/** Check a file to load (`vimage load`): every value, and no unknown keys. */
export function checkLoadable(doc: unknown): ConfigDocument {
  return checkConfig(doc, { strict: true, sections: sections.map((s) => s.name) });
}

/**
 * Build the document's configuration. `openTap` failures, clashes and bad
 * values are collected in the report; everything else is applied.
 */
export function applyConfig(reg: Registry, doc: ConfigDocument): ApplyReport {
  const report: ApplyReport = { applied: 0, errors: [] };
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
      report.applied++;
    } catch (e) {
      report.errors.push(`${what}: ${e instanceof VimageError || e instanceof Error ? e.message : String(e)}`);
    }
  };
  const existing = new Set(reg.list().flatMap((im) => [...im.ifnets.values()]));
  // Saved interface indexes stay free for their interfaces: new ones are numbered above them.
  // (a loop, not Math.max(...all): a hundred thousand arguments overflow the stack)
  let maxIndex = 0;
  for (const ic of doc.images) for (const i of [ic.loIndex ?? 0, ...ic.interfaces.map((f) => f.index ?? 0)]) if (i > maxIndex) maxIndex = i;
  reg.reserveIfIndexes(maxIndex);
  // Images first, so epair peers have somewhere to go.
  for (const ic of doc.images) {
    if (reg.get(ic.name) === undefined) {
      attempt(`image ${ic.name}`, () => {
        const im = reg.create(ic.name);
        if (ic.loIndex !== undefined) reg.setIfIndex(im.lo0, ic.loIndex);
      });
    }
  }
  // Interfaces.
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    if (im === undefined) continue;
    // Bridges (members are added below) before VLANs, whose parent may be a bridge; VLANs after their parents.
    const order = (k: string): number => (k === 'bridge' ? 1 : k === 'vlan' ? 2 : 0);
    for (const fc of [...(ic.interfaces ?? [])].sort((x, y) => order(x.kind) - order(y.kind))) {
      attempt(`image ${ic.name} interface ${fc.name}`, () => restoreInterface(reg, im, fc));
    }
  }
  // Bridge members and span ports, once every interface exists.
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    if (im === undefined) continue;
    for (const fc of ic.interfaces ?? []) {
      if (fc.kind === 'bridge' && im.ifnets.has(fc.name)) attempt(`image ${ic.name} ${fc.name} members`, () => restoreBridge(new ImageControl(im, reg), fc));
    }
  }
  // Interfaces made now take their saved indexes (both ends of an epair are made with the first record).
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    for (const fc of ic.interfaces ?? []) {
      const ifp = im?.ifnets.get(fc.name);
      if (ifp !== undefined && fc.index !== undefined && !existing.has(ifp)) reg.setIfIndex(ifp, fc.index);
    }
  }
  // Addresses, then routes and ARP entries that depend on them, then sysctls and sections:
  // what one image holds goes through its control surface.
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    if (im === undefined) continue;
    const ctl = new ImageControl(im, reg);
    for (const fc of ic.interfaces ?? []) {
      if (!ctl.interfaces.has(fc.name)) continue;
      (fc.addrs ?? []).forEach((text) => {
        const have = ctl.interfaces.get(fc.name).inet;
        if (have.some((a) => `${a.address}/${a.prefixLen}` === text)) return;
        attempt(`image ${ic.name} ${fc.name} inet ${text}`, () => {
          const c = parseCidr(str(text, 'address'));
          if (c === undefined) throw new Error(`bad address ${text}`);
          // The address with another prefix (load --merge): it takes the file's, as ifconfig would set it again.
          const other = have.find((a) => a.address === ip4ToString(c.addr));
          if (other !== undefined) ctl.interfaces.deleteAddress(fc.name, c.addr);
          const peer = fc.gif?.peers?.[ip4ToString(c.addr)];
          const alias = have.length > (other === undefined ? 0 : 1);
          ctl.interfaces.addAddress(fc.name, c.addr, c.prefixLen, peer !== undefined ? { alias, dst: parseIp4(peer)! } : { alias });
        });
      });
    }
    for (const fc of ic.interfaces ?? []) {
      if (!ctl.interfaces.has(fc.name)) continue;
      for (const text of fc.inet6 ?? []) {
        attempt(`image ${ic.name} ${fc.name} inet6 ${text}`, () => {
          const c = parseIp6Cidr(str(text, 'address'));
          if (c === undefined || c.prefixLen === undefined) throw new Error(`bad inet6 address ${text}`);
          ctl.inet6.addAddress(fc.name, c.addr, c.prefixLen);
        });
      }
    }
    for (const rc of ic.routes ?? []) {
      attempt(`image ${ic.name} route ${rc.dst}`, () => restoreRoute(im, rc));
    }
    for (const rc of ic.routes6 ?? []) {
      attempt(`image ${ic.name} route6 ${rc.dst}`, () => {
        const d = parseIp6Cidr(str(rc.dst, 'dst'));
        if (d === undefined || d.prefixLen === undefined) throw new Error(`bad IPv6 prefix ${rc.dst}`);
        if (ctl.inet6.getRoute(d.addr, d.prefixLen) !== undefined) return;
        if (rc.gateway === undefined) return ctl.inet6.addRoute(d.addr, d.prefixLen, { interface: rc.interface });
        const g = parseIp6Cidr(rc.gateway);
        if (g === undefined) throw new Error(`bad IPv6 gateway ${rc.gateway}`);
        ctl.inet6.addRoute(d.addr, d.prefixLen, g.zone !== undefined ? { gateway: g.addr, zone: g.zone } : { gateway: g.addr });
      });
    }
    for (const ac of ic.arp ?? []) {
      attempt(`image ${ic.name} arp ${ac.ip}`, () => {
        const ip = parseIp4(ac.ip);
        const mac = parseMac(ac.mac);
        if (ip === undefined || mac === undefined) throw new Error(`bad ARP entry ${ac.ip} ${ac.mac}`);
        ctl.neighbours.set(ip, mac, { temp: false, replace: true });
      });
    }
    for (const [name, value] of Object.entries(ic.sysctl ?? {})) {
      attempt(`image ${ic.name} sysctl ${name}`, () => void ctl.sysctl.set(name, String(value), true));
    }
    if (ic.cpu !== undefined) {
      const cpu = ic.cpu;
      attempt(`image ${ic.name} cpu`, () => ctl.setCpu({ weight: cpu.weight, max: cpu.max }));
    }
    for (const s of sections) {
      if (ic[s.name] !== undefined) attempt(`image ${ic.name} ${s.name}`, () => s.restore(im, ic[s.name]));
    }
  }
  return report;
}

function restoreInterface(reg: Registry, im: Image, fc: InterfaceConfig): void {
  let ifp = im.ifnets.get(fc.name);
  if (ifp === undefined) {
    if (fc.kind === 'tap') {
      const hostif = str(fc.hostif, 'hostif');
      const bound = findTap(reg, hostif);
      if (bound !== undefined) {
        // Already attached (e.g. returned to the default image): move it where the document has it.
        if (bound.im === im) im.rename(bound.ifp, fc.name);
        else reg.move(bound.im, bound.ifp, im, fc.name);
        ifp = bound.ifp;
      } else {
        ifp = reg.createTap(im, hostif, { reattach: true, adopted: fc.adopted === true });
        if (ifp.name !== fc.name) im.rename(ifp, fc.name);
      }
    } else if (fc.kind === 'epair') {
      // One pair per two records: the end whose peer already exists was made with it.
      if (fc.peer === undefined) throw new Error('epair without its peer');
      const peerIm = reg.get(fc.peer.image);
      const peerIfp = peerIm?.ifnets.get(fc.peer.name);
      if (peerIfp !== undefined) {
        // The pair exists: bring this end home if it wandered (image destroyed).
        const mine = peerIfp.driver instanceof EpairDriver ? peerIfp.driver.peer : null;
        if (mine === null) throw new Error(`${fc.peer.name} in image ${fc.peer.image} is not the other end of an epair`);
        if (mine.owner !== im) reg.move(mine.owner as Image, mine, im, fc.name);
        else if (mine.name !== fc.name) im.rename(mine, fc.name);
        ifp = mine;
      } else {
        if (peerIm === undefined) throw new Error(`image ${fc.peer.image} of the peer does not exist`);
        const [a, b] = reg.createEpair(im);
        if (a.name !== fc.name) im.rename(a, fc.name);
        if (peerIm !== im) reg.move(im, b, peerIm, fc.peer.name);
        else if (b.name !== fc.peer.name) im.rename(b, fc.peer.name);
        ifp = a;
      }
    } else if (fc.kind === 'bridge' || fc.kind === 'vlan') {
      const ctl = new ImageControl(im, reg).interfaces;
      const o = fc.kind === 'vlan' ? { name: fc.name, ...(fc.vlan !== undefined ? { vlan: fc.vlan } : {}), ...(fc.vlandev !== undefined ? { vlandev: fc.vlandev } : {}) } : { name: fc.name };
      ifp = im.ifnet(ctl.create(fc.kind, o));
    } else if (fc.kind === 'vxlan') {
      ifp = im.ifnet(restoreVxlan(new ImageControl(im, reg).interfaces, fc.name, fc.vxlan, false));
    } else if (fc.kind === 'lo') {
      ifp = im.ifnet(new ImageControl(im, reg).interfaces.create('lo', { name: fc.name }));
    } else if (fc.kind === 'gif') {
      ifp = im.ifnet(restoreGif(new ImageControl(im, reg).interfaces, fc.name, fc.gif, false));
    } else {
      throw new Error(`unknown interface kind ${fc.kind}`);
    }
  } else if (fc.kind === 'gif' && ifp.kind === 'gif') {
    restoreGif(new ImageControl(im, reg).interfaces, fc.name, fc.gif, true);
  } else if (fc.kind === 'vxlan' && ifp.kind === 'vxlan') {
    restoreVxlan(new ImageControl(im, reg).interfaces, fc.name, fc.vxlan, true);
  } else if (fc.kind === 'vlan' && ifp.kind === 'vlan') {
    const cur = new ImageControl(im, reg).interfaces.get(fc.name).vlan;
    if (cur?.vlan !== fc.vlan || cur?.parent !== fc.vlandev) new ImageControl(im, reg).interfaces.configureVlan(fc.name, { ...(fc.vlan !== undefined ? { vlan: fc.vlan } : {}), vlandev: fc.vlandev ?? null });
  }
  const mac = fc.mac ? parseMac(fc.mac) : undefined;
  const ops: InterfaceOp[] = [];
  if (mac !== undefined && mac !== 0 && !ifp.loopback) ops.push({ kind: 'lladdr', mac }); // 0: none saved (gif has no link address)
  if (fc.mtu !== undefined && fc.mtu !== ifp.mtu) ops.push({ kind: 'mtu', mtu: fc.mtu });
  ops.push({ kind: fc.up === true ? 'up' : 'down' });
  new ImageControl(im, reg).interfaces.configure(ifp.name, ops);
  restoreIfAttrs(new ImageControl(im, reg), ifp.name, fc);
}

/** A bridge's members and span ports become the document's; then its table parameters. */
function restoreBridge(ctl: ImageControl, fc: InterfaceConfig): void {
  const have = ctl.interfaces.get(fc.name).bridge!;
  const want = fc.members ?? [];
  const wantSpan = fc.span ?? [];
  const ops: BridgeOp[] = [
    ...have.members.filter((m) => !want.includes(m.name)).map((m) => ({ kind: 'deletem' as const, ifname: m.name })),
    ...have.spans.filter((m) => !wantSpan.includes(m.name)).map((m) => ({ kind: '-span' as const, ifname: m.name })),
    ...want.filter((n) => !have.members.some((m) => m.name === n)).map((n) => ({ kind: 'addm' as const, ifname: n })),
    ...wantSpan.filter((n) => !have.spans.some((m) => m.name === n)).map((n) => ({ kind: 'span' as const, ifname: n })),
  ];
  if (fc.maxaddr !== undefined) ops.push({ kind: 'maxaddr', value: fc.maxaddr });
  if (fc.timeout !== undefined) ops.push({ kind: 'timeout', value: fc.timeout });
  ctl.interfaces.configureBridge(fc.name, ops);
}

function findTap(reg: Registry, hostif: string): { im: Image; ifp: Ifnet } | undefined {
  for (const im of reg.list()) {
    for (const ifp of im.ifnets.values()) if (ifp.driver instanceof TapDriver && ifp.driver.port.name === hostif) return { im, ifp };
  }
  return undefined;
}

function restoreRoute(im: Image, rc: RouteConfig): void {
  const c = parseCidr(str(rc.dst, 'dst'));
  if (c === undefined) throw new Error(`bad destination ${rc.dst}`);
  const ifp = im.ifnets.get(str(rc.interface, 'interface'));
  if (ifp === undefined) throw new Error(`interface ${rc.interface} does not exist`);
  let flags = RTF.UP | RTF.STATIC;
  let gateway = 0;
  if (rc.gateway !== undefined) {
    const g = parseIp4(rc.gateway);
    if (g === undefined) throw new Error(`bad gateway ${rc.gateway}`);
    gateway = g;
    flags |= RTF.GATEWAY;
  }
  if (c.prefixLen === 32) flags |= RTF.HOST;
  if (rc.flags?.includes('blackhole')) flags |= RTF.BLACKHOLE;
  if (rc.flags?.includes('reject')) flags |= RTF.REJECT;
  // A multipath route is saved as one entry per path: a later path through another gateway joins the first.
  const old = im.routes.get(c.addr, c.prefixLen);
  if (old !== undefined && (gateway === 0 || im.routes.getPath(c.addr, c.prefixLen, gateway) !== undefined)) return;
  im.routes.add({ dst: c.addr, prefixLen: c.prefixLen, gateway, ifp, flags, mtu: rc.mtu ?? 0 }, old !== undefined);
}
