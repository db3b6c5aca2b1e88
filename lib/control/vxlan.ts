/**
 * The vxlan(4) part of the interfaces control surface: cloning vxlan
 * interfaces and setting their parameters (FreeBSD's VXLAN_CMD_* ioctls).
 * The driver (lib/net/if_vxlan.ts) holds the state; this validates and
 * turns refusals into coded errors. As in FreeBSD, the VNI, addresses,
 * ports and vxlandev change only while the interface is not running
 * (EBUSY); TTL, learning and the table's parameters change any time.
 * Multicast groups (vxlangroup) are not implemented and are refused.
 */

import type { Image, Registry } from '../image.js';
import { E, fail } from '../errors.js';
import { IFF, type Ifnet } from '../net/if.js';
import { VXLAN_FTABLE_MAX_TIMEOUT, VXLAN_MTU, VxlanDriver, type VxlanEntry, type VxlanInfo } from '../net/if_vxlan.js';
import type { InterfacesControl } from './interfaces.js';
import type { Mac } from '../wire/ethernet.js';
import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import { VXLAN_VNI_MAX } from '../wire/vxlan.js';

/** What `ifconfig vxlanN ...` may set; absent fields are left as they are. */
export interface VxlanParams {
  vni?: number;
  local?: number;
  remote?: number;
  localPort?: number;
  remotePort?: number;
  portMin?: number;
  portMax?: number;
  ttl?: number;
  learn?: boolean;
  /** vxlandev NAME; null: none. */
  dev?: string | null;
  timeout?: number;
  maxaddr?: number;
  /** vxlanflush / vxlanflushall. */
  flush?: boolean;
}

export function hasVxlanParams(p: VxlanParams): boolean {
  return Object.keys(p).length > 0;
}

/** `ifconfig vxlan[N] create [params]`. */
export function createVxlan(reg: Registry, im: Image, name: string | undefined, p: VxlanParams): Ifnet {
  reg.checkRoom(im, 1);
  const driver = new VxlanDriver();
  // FreeBSD's generated addresses use its OUI, 58:9c:fc.
  const mac = (0x589cfc000000 + Math.floor(reg.random() * 0xffffff)) as Mac;
  const ifp = reg.newIfnet(im, name ?? reg.freeName('vxlan'), 'vxlan', IFF.BROADCAST | IFF.SIMPLEX | IFF.MULTICAST, VXLAN_MTU, mac, driver);
  driver.ifp = ifp;
  im.ifnets.set(ifp.name, ifp);
  try {
    setVxlan(ifp, p);
  } catch (e) {
    reg.destroyIfnet(im, ifp); // out of the registry's index table too
    throw e;
  }
  return ifp;
}

function vxlanOf(ifp: Ifnet): VxlanDriver {
  if (!(ifp.driver instanceof VxlanDriver)) fail(E.BAD_ARGUMENT, `${ifp.name} is not a vxlan interface; 'ifconfig vxlan create vxlanid N ...' makes one`);
  return ifp.driver;
}

function intIn(v: number | undefined, what: string, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) fail(E.OUT_OF_RANGE, `${what} ${v}: give ${min} to ${max}`);
}

function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

/** Apply `p` (validated whole first, so a refusal changes nothing). */
export function setVxlan(ifp: Ifnet, p: VxlanParams): void {
  const d = vxlanOf(ifp);
  intIn(p.vni, 'vxlanid', 0, VXLAN_VNI_MAX);
  intIn(p.localPort, 'vxlanlocalport', 1, 65535);
  intIn(p.remotePort, 'vxlanremoteport', 1, 65535);
  intIn(p.portMin, 'vxlanportrange', 1, 65535);
  intIn(p.portMax, 'vxlanportrange', 1, 65535);
  intIn(p.ttl, 'vxlanttl', 1, 255);
  intIn(p.timeout, 'vxlantimeout', 0, VXLAN_FTABLE_MAX_TIMEOUT);
  intIn(p.maxaddr, 'vxlanmaxaddr', 0, 1_000_000);
  if ((p.portMin ?? d.portMin) > (p.portMax ?? d.portMax)) fail(E.OUT_OF_RANGE, `vxlanportrange ${p.portMin ?? d.portMin} ${p.portMax ?? d.portMax}: the low port must not be above the high one`);
  if (p.remote !== undefined && isMulticast(p.remote)) {
    fail(E.BAD_ARGUMENT, `vxlanremote ${ip4ToString(p.remote)}: multicast groups (vxlangroup) are not supported by vimage; give the unicast address of the other end point`);
  }
  if (p.remote !== undefined && (p.remote === 0 || p.remote === 0xffffffff)) fail(E.BAD_ARGUMENT, `vxlanremote ${ip4ToString(p.remote)}: give the unicast address of the other end point`);
  if (p.local !== undefined && (isMulticast(p.local) || p.local === 0xffffffff)) fail(E.BAD_ARGUMENT, `vxlanlocal ${ip4ToString(p.local)}: give one of this image's unicast addresses`);
  const busy = (['vni', 'local', 'remote', 'localPort', 'remotePort', 'portMin', 'portMax', 'dev'] as const).find((k) => p[k] !== undefined);
  if (busy !== undefined && d.so !== null) {
    fail(E.INTERFACE_BUSY, `${ifp.name}: the VNI, addresses, ports and vxlandev cannot change while the interface is running; 'ifconfig ${ifp.name} down' first`);
  }
  if (p.vni !== undefined) d.vni = p.vni;
  if (p.local !== undefined) d.laddr = p.local;
  if (p.remote !== undefined) d.raddr = p.remote;
  if (p.localPort !== undefined) d.lport = p.localPort;
  if (p.remotePort !== undefined) d.rport = p.remotePort;
  if (p.portMin !== undefined) d.portMin = p.portMin;
  if (p.portMax !== undefined) d.portMax = p.portMax;
  if (p.dev !== undefined) d.dev = p.dev ?? '';
  if (p.ttl !== undefined) d.ttl = p.ttl;
  if (p.learn !== undefined) d.learning = p.learn;
  if (p.timeout !== undefined) d.timeout = p.timeout;
  if (p.maxaddr !== undefined) d.setMaxaddr(p.maxaddr);
  if (p.flush === true) d.flush(true);
  // Up but not running (no VNI or remote before, or its address came later): try again now.
  if ((ifp.flags & IFF.UP) !== 0 && d.so === null) d.start(ifp);
}

/** The learned forwarding table (FreeBSD's sysctl net.link.vxlan.N.ftable.dump). */
export function vxlanEntries(ifp: Ifnet): VxlanEntry[] {
  return vxlanOf(ifp).entries();
}

/** A vxlan in the configuration file (lib/config.ts): ifconfig's parameters by name. */
export interface VxlanConfig {
  vni?: number;
  local?: string;
  remote?: string;
  localPort?: number;
  remotePort?: number;
  portMin?: number;
  portMax?: number;
  ttl?: number;
  learn?: boolean;
  timeout?: number;
  maxaddr?: number;
  dev?: string;
}

const CONFIG_INTS: Record<string, [number, number]> = {
  vni: [0, VXLAN_VNI_MAX],
  localPort: [1, 65535],
  remotePort: [1, 65535],
  portMin: [1, 65535],
  portMax: [1, 65535],
  ttl: [1, 255],
  timeout: [0, VXLAN_FTABLE_MAX_TIMEOUT],
  maxaddr: [0, 1_000_000],
};

/** Check a configuration's vxlan object: the bad key and why, or undefined. */
export function checkVxlanConfig(o: Record<string, unknown>, strict: boolean): [string, string] | undefined {
  for (const [k, v] of Object.entries(o)) {
    const r = CONFIG_INTS[k];
    if (r !== undefined) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < r[0] || v > r[1]) return [k, `must be an integer between ${r[0]} and ${r[1]}, not ${JSON.stringify(v)}`];
    } else if (k === 'local' || k === 'remote') {
      const a = typeof v === 'string' ? parseIp4(v) : undefined;
      if (a === undefined) return [k, `must be an IPv4 address, not ${JSON.stringify(v)}`];
      if (k === 'remote' && isMulticast(a)) return [k, 'multicast groups are not supported; give the unicast address of the other end point'];
    } else if (k === 'learn') {
      if (typeof v !== 'boolean') return [k, 'must be true or false'];
    } else if (k === 'dev') {
      if (typeof v !== 'string' || v === '') return [k, 'must be an interface name'];
    } else if (strict) return [k, `unknown key; known here: ${[...Object.keys(CONFIG_INTS), 'local', 'remote', 'learn', 'dev'].join(', ')}`];
  }
  return undefined;
}

/** What the configuration file keeps of a vxlan. */
export function vxlanConfigOf(v: VxlanInfo): VxlanConfig {
  return {
    ...(v.vni !== undefined ? { vni: v.vni } : {}),
    local: v.local,
    remote: v.remote,
    localPort: v.localPort,
    remotePort: v.remotePort,
    portMin: v.portMin,
    portMax: v.portMax,
    ttl: v.ttl,
    learn: v.learn,
    timeout: v.ftable.timeout,
    maxaddr: v.ftable.max,
    ...(v.dev !== undefined ? { dev: v.dev } : {}),
  };
}

function paramsOf(c: VxlanConfig | undefined): VxlanParams {
  const p: VxlanParams = {};
  if (c === undefined) return p;
  if (c.vni !== undefined) p.vni = c.vni;
  // 0.0.0.0 is "not set" for both ends (as the status prints it).
  if (c.local !== undefined) p.local = parseIp4(c.local) ?? 0;
  if (c.remote !== undefined && parseIp4(c.remote) !== 0) p.remote = parseIp4(c.remote)!;
  for (const k of ['localPort', 'remotePort', 'portMin', 'portMax', 'ttl', 'timeout', 'maxaddr'] as const) if (c[k] !== undefined) p[k] = c[k];
  if (c.learn !== undefined) p.learn = c.learn;
  if (c.dev !== undefined) p.dev = c.dev;
  return p;
}

/**
 * Make (or, `existing`, re-set) a vxlan as a configuration has it; the
 * applier sets up/down afterwards. Returns the interface's name.
 */
export function restoreVxlan(ctl: InterfacesControl, name: string, c: VxlanConfig | undefined, existing: boolean): string {
  const p = paramsOf(c);
  if (!existing) return ctl.createVxlan({ name, params: p });
  const cur = ctl.get(name).vxlan;
  if (cur !== undefined && JSON.stringify(vxlanConfigOf(cur)) === JSON.stringify({ ...vxlanConfigOf(cur), ...c })) return name;
  ctl.configure(name, [{ kind: 'down' }]);
  ctl.configureVxlan(name, p);
  return name;
}
