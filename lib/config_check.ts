/**
 * Checking a configuration document before anything of it is applied.
 *
 * `vimage load` takes a file a person may have written by hand. It is
 * checked whole, value by value, and refused with the path of the first bad
 * value (`images[1].interfaces[0].inet: ...`) before anything changes. What
 * a hand-written file leaves out gets its default, filled in here so the
 * applier sees one complete shape:
 *
 *   version      1
 *   interfaces   mtu 1500; up when it has an address; MAC generated;
 *                `inet` (a string or a list) may stand for `addrs`
 *   routes       `default` for 0.0.0.0/0; without `interface`, the
 *                interface whose network holds the gateway; flags []
 *   arp, sysctl  none
 *
 * Strict checking (a file to load) also refuses keys it does not know, so
 * a typo is not silently ignored. The daemon's own state file is checked
 * loosely: a key a newer daemon wrote must not make it throw the state away.
 */

import { parseIp6Cidr } from './wire/ipv6.js';
import { IFNAME_RE, HOST_IFNAME_RE, IMAGE_NAME_RE } from './image.js';
import { parseRule } from './ipfw/parse.js';
import { parseNatConfig } from './ipfw/nat_config.js';
import { CPU_WEIGHT_MAX } from './sched.js';
import { SysctlValues } from './sysctl.js';
import { parseMac } from './wire/ethernet.js';
import { parseCidr, parseIp4, prefixMask } from './wire/ipv4.js';
import type { ConfigDocument, InterfaceConfig, RouteConfig } from './config.js';
import { checkVxlanConfig, type VxlanConfig } from './control/vxlan.js';
import { checkIfAttrs, IF_ATTR_KEYS } from './config_ifattr.js';
import { checkGifConfig, type GifConfig } from './control/gif.js';

export const CONFIG_VERSION = 1;

/** Interface kinds a document can create. */
export const LOADABLE_KINDS: readonly string[] = ['tap', 'epair', 'bridge', 'vlan', 'vxlan', 'lo', 'gif'];

/** A document that is refused; `path` names the first bad value. */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(path === '' ? what : `${path}: ${what}`);
    this.name = 'ConfigError';
  }
}

type Obj = Record<string, unknown>;

function bad(path: string, what: string): never {
  throw new ConfigError(path, what);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object');
  return v as Obj;
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(path, 'must be a list');
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(path, 'must be a non-empty string');
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(path, `must be an integer between ${min} and ${max}, not ${JSON.stringify(v)}`);
  return v;
}

function onlyKeys(o: Obj, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) bad(`${path}.${k}`, `unknown key; known here: ${known.join(', ')}`);
}

const IMAGE_KEYS = ['name', 'loIndex', 'interfaces', 'routes', 'routes6', 'arp', 'sysctl', 'cpu'];
const IF_KEYS = ['name', 'kind', 'hostif', 'adopted', 'peer', 'mtu', 'up', 'mac', 'addrs', 'inet', 'inet6', 'index', 'members', 'span', 'maxaddr', 'timeout', 'vlan', 'vlandev', 'vxlan', 'gif'];
const ROUTE_KEYS = ['dst', 'gateway', 'interface', 'flags', 'mtu'];

/**
 * Check `doc` and return it complete (defaults filled in). `sections` are
 * the names of the registered sections (ipfw, ...); with `strict`, any
 * other unknown key is refused.
 */
export function checkConfig(doc: unknown, opts: { strict: boolean; sections: readonly string[] }): ConfigDocument {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('', 'the configuration must be a JSON object, {"images": [...]}');
  const d = doc as Obj;
  if (opts.strict) onlyKeys(d, '', ['version', 'images']);
  const version = d['version'] ?? CONFIG_VERSION;
  if (version !== CONFIG_VERSION) bad('version', `unsupported configuration version ${String(version)}; this vimaged reads version ${CONFIG_VERSION}`);
  if (d['images'] === undefined) bad('images', 'missing: a list of images, e.g. [{"name": "R"}]');
  const raw = list(d['images'], 'images');
  const names = new Map<string, number>();
  raw.forEach((im, i) => {
    const name = str(obj(im, `images[${i}]`)['name'], `images[${i}].name`);
    if (!IMAGE_NAME_RE.test(name)) bad(`images[${i}].name`, `'${name}' is not an image name: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    if (names.has(name)) bad(`images[${i}].name`, `image ${name} appears twice (also images[${names.get(name)}])`);
    names.set(name, i);
  });
  const images = raw.map((im, i) => checkImage(im as Obj, `images[${i}]`, opts));
  // Epairs: the other end must be in the file, and point back.
  images.forEach((ic, i) => {
    ic.interfaces.forEach((fc, j) => {
      if (fc.kind !== 'epair') return;
      const at = `images[${i}].interfaces[${j}].peer`;
      const peer = fc.peer!;
      const pi = names.get(peer.image);
      if (pi === undefined) bad(at, `image ${peer.image} of the other end is not in the file`);
      const other = images[pi]!.interfaces.find((x) => x.name === peer.name);
      if (other === undefined) bad(at, `${peer.name} is not among the interfaces of image ${peer.image} in the file`);
      if (other.kind !== 'epair' || other.peer?.image !== ic.name || other.peer.name !== fc.name) bad(at, `${peer.image}'s ${peer.name} must be an epair whose peer is ${ic.name}'s ${fc.name}`);
    });
  });
  return { version: CONFIG_VERSION, images };
}

function checkImage(o: Obj, at: string, opts: { strict: boolean; sections: readonly string[] }): ConfigDocument['images'][number] {
  if (opts.strict) onlyKeys(o, at, [...IMAGE_KEYS, ...opts.sections]);
  const name = o['name'] as string;
  const interfaces = list(o['interfaces'], `${at}.interfaces`).map((f, j) => checkInterface(f, `${at}.interfaces[${j}]`, opts.strict));
  const seen = new Set<string>(['lo0']);
  interfaces.forEach((fc, j) => {
    if (seen.has(fc.name)) bad(`${at}.interfaces[${j}].name`, fc.name === 'lo0' ? 'lo0 is in every image; do not list it' : `${fc.name} appears twice`);
    seen.add(fc.name);
  });
  const routes = list(o['routes'], `${at}.routes`).map((r, j) => checkRoute(r, `${at}.routes[${j}]`, interfaces, opts.strict));
  const arp = list(o['arp'], `${at}.arp`).map((a, j) => {
    const e = obj(a, `${at}.arp[${j}]`);
    if (opts.strict) onlyKeys(e, `${at}.arp[${j}]`, ['ip', 'mac']);
    const ip = str(e['ip'], `${at}.arp[${j}].ip`);
    if (parseIp4(ip) === undefined) bad(`${at}.arp[${j}].ip`, `'${ip}' is not an IPv4 address`);
    const mac = str(e['mac'], `${at}.arp[${j}].mac`);
    if (parseMac(mac) === undefined) bad(`${at}.arp[${j}].mac`, `'${mac}' is not a MAC address like 02:00:00:00:00:01`);
    return { ip, mac };
  });
  const sysctl: Record<string, number | string> = {};
  if (o['sysctl'] !== undefined) {
    const scratch = new SysctlValues();
    for (const [k, v] of Object.entries(obj(o['sysctl'], `${at}.sysctl`))) {
      if (typeof v !== 'number' && typeof v !== 'string') bad(`${at}.sysctl.${k}`, 'must be a number (or the name of a value)');
      // The state file: a sysctl this daemon no longer has is reported when applied, not a reason to refuse the whole state.
      if (opts.strict) {
        try {
          scratch.set(k, String(v), true);
        } catch (e) {
          bad(`${at}.sysctl.${k}`, (e as Error).message);
        }
      }
      sysctl[k] = v;
    }
  }
  const ic: ConfigDocument['images'][number] = { name, interfaces, routes, arp, sysctl };
  if (o['loIndex'] !== undefined) ic.loIndex = int(o['loIndex'], `${at}.loIndex`, 1, 0x7fffffff);
  if (o['routes6'] !== undefined) ic.routes6 = list(o['routes6'], `${at}.routes6`).map((r, j) => checkRoute6(r, `${at}.routes6[${j}]`, opts.strict));
  if (o['cpu'] !== undefined) {
    const c = obj(o['cpu'], `${at}.cpu`);
    if (opts.strict) onlyKeys(c, `${at}.cpu`, ['weight', 'max']);
    ic.cpu = { weight: c['weight'] === undefined ? 100 : int(c['weight'], `${at}.cpu.weight`, 1, CPU_WEIGHT_MAX), max: c['max'] === undefined ? 100 : int(c['max'], `${at}.cpu.max`, 1, 100) };
  }
  for (const s of opts.sections) {
    if (o[s] === undefined) continue;
    if (s === 'ipfw' && opts.strict) checkIpfw(o[s], `${at}.ipfw`);
    if (s === 'keep') {
      list(o[s], `${at}.keep`).forEach((argv, k) => {
        if (!Array.isArray(argv) || argv.length === 0 || !argv.every((x) => typeof x === 'string')) bad(`${at}.keep[${k}]`, 'must be a command as a list of strings, e.g. ["httpd", "-r", "/srv/www"]');
      });
    }
    ic[s] = o[s];
  }
  return ic;
}

function checkInterface(f: unknown, at: string, strict: boolean): InterfaceConfig {
  const o = obj(f, at);
  if (strict) onlyKeys(o, at, [...IF_KEYS, ...IF_ATTR_KEYS]);
  const name = str(o['name'], `${at}.name`);
  if (!IFNAME_RE.test(name)) bad(`${at}.name`, `'${name}' is not an interface name: a lowercase letter, then up to 14 letters, digits, '_' or '.'`);
  const kind = str(o['kind'], `${at}.kind`);
  if (strict && !LOADABLE_KINDS.includes(kind)) bad(`${at}.kind`, `'${kind}' cannot be loaded; kinds: ${LOADABLE_KINDS.join(', ')}`);
  if (o['addrs'] !== undefined && o['inet'] !== undefined) bad(`${at}.inet`, "give the addresses as 'addrs' or as 'inet', not both");
  const key = o['inet'] !== undefined ? 'inet' : 'addrs';
  const rawAddrs = typeof o[key] === 'string' ? [o[key]] : list(o[key], `${at}.${key}`);
  const addrs = rawAddrs.map((a, k) => {
    const p = typeof o[key] === 'string' ? `${at}.${key}` : `${at}.${key}[${k}]`;
    if (typeof a !== 'string' || !/\/\d+$/.test(a) || parseCidr(a) === undefined) bad(p, `${JSON.stringify(a)} is not an address with a prefix length, like 10.0.0.1/24`);
    return a;
  });
  const fc: InterfaceConfig = {
    name,
    kind,
    mtu: o['mtu'] === undefined ? 1500 : int(o['mtu'], `${at}.mtu`, 72, 65535 - 14),
    up: o['up'] === undefined ? addrs.length > 0 : (o['up'] as boolean),
    mac: '',
    addrs,
  };
  if (typeof fc.up !== 'boolean') bad(`${at}.up`, 'must be true or false');
  if (o['mac'] !== undefined) {
    const mac = str(o['mac'], `${at}.mac`);
    if (parseMac(mac) === undefined) bad(`${at}.mac`, `'${mac}' is not a MAC address like 02:00:00:00:00:01`);
    fc.mac = mac;
  }
  if (kind === 'tap') {
    if (o['hostif'] === undefined) bad(`${at}.hostif`, 'missing: the host TAP device to bind (up to 15 characters)');
    const h = str(o['hostif'], `${at}.hostif`);
    if (!HOST_IFNAME_RE.test(h)) bad(`${at}.hostif`, `'${h}' is not a host interface name: up to 15 letters, digits, '_', '.' or '-'`);
    fc.hostif = h;
    if (o['adopted'] !== undefined && typeof o['adopted'] !== 'boolean') bad(`${at}.adopted`, 'must be true or false');
    if (o['adopted'] === true) fc.adopted = true;
  } else if (strict && o['hostif'] !== undefined) bad(`${at}.hostif`, `only a tap has a host device, this is ${kind === 'epair' ? 'an' : 'a'} ${kind}`);
  if (kind === 'epair') {
    if (o['peer'] === undefined) bad(`${at}.peer`, 'missing: where the other end is, {"image": "S", "name": "epair0b"}');
    const p = obj(o['peer'], `${at}.peer`);
    if (strict) onlyKeys(p, `${at}.peer`, ['image', 'name']);
    fc.peer = { image: str(p['image'], `${at}.peer.image`), name: str(p['name'], `${at}.peer.name`) };
  }
  if (o['index'] !== undefined) fc.index = int(o['index'], `${at}.index`, 1, 0x7fffffff);
  if (o['inet6'] !== undefined) fc.inet6 = checkInet6(o['inet6'], `${at}.inet6`);
  checkLinkKeys(o, fc, at, strict);
  checkIfAttrs(o, fc, at);
  return fc;
}

/** bridge (members, span, maxaddr, timeout) and vlan (vlan, vlandev) keys. */
function checkLinkKeys(o: Record<string, unknown>, fc: InterfaceConfig, at: string, strict: boolean): void {
  const names = (k: string): string[] =>
    list(o[k], `${at}.${k}`).map((n, j) => {
      if (typeof n !== 'string' || !IFNAME_RE.test(n)) bad(`${at}.${k}[${j}]`, `${JSON.stringify(n)} is not an interface name`);
      return n;
    });
  const bridgeKeys = ['members', 'span', 'maxaddr', 'timeout'].filter((k) => o[k] !== undefined);
  const vlanKeys = ['vlan', 'vlandev'].filter((k) => o[k] !== undefined);
  if (fc.kind === 'bridge') {
    if (o['members'] !== undefined) fc.members = names('members');
    if (o['span'] !== undefined) fc.span = names('span');
    if (o['maxaddr'] !== undefined) fc.maxaddr = int(o['maxaddr'], `${at}.maxaddr`, 0, 1_000_000);
    if (o['timeout'] !== undefined) fc.timeout = int(o['timeout'], `${at}.timeout`, 0, 0x7fffffff);
  } else if (strict && bridgeKeys.length > 0) bad(`${at}.${bridgeKeys[0]}`, `only a bridge has ${bridgeKeys[0]}, this is a ${fc.kind}`);
  if (fc.kind === 'vlan') {
    if (o['vlan'] === undefined) bad(`${at}.vlan`, 'missing: the 802.1Q tag, 1 to 4094');
    fc.vlan = int(o['vlan'], `${at}.vlan`, 1, 4094);
    if (o['vlandev'] !== undefined) {
      const d = str(o['vlandev'], `${at}.vlandev`);
      if (!IFNAME_RE.test(d)) bad(`${at}.vlandev`, `'${d}' is not an interface name`);
      fc.vlandev = d;
    }
  } else if (strict && vlanKeys.length > 0) bad(`${at}.${vlanKeys[0]}`, `only a vlan has ${vlanKeys[0]}, this is a ${fc.kind}`);
  if (fc.kind === 'vxlan' && o['vxlan'] !== undefined) {
    const v = obj(o['vxlan'], `${at}.vxlan`);
    const problem = checkVxlanConfig(v, strict);
    if (problem !== undefined) bad(`${at}.vxlan.${problem[0]}`, problem[1]);
    fc.vxlan = v as unknown as VxlanConfig;
  } else if (strict && o['vxlan'] !== undefined) bad(`${at}.vxlan`, `only a vxlan has vxlan, this is a ${fc.kind}`);
  if (fc.kind === 'gif' && o['gif'] !== undefined) {
    const g = obj(o['gif'], `${at}.gif`);
    const problem = checkGifConfig(g, strict);
    if (problem !== undefined) bad(`${at}.gif.${problem[0]}`, problem[1]);
    fc.gif = g as unknown as GifConfig;
  } else if (strict && o['gif'] !== undefined) bad(`${at}.gif`, `only a gif has gif, this is a ${fc.kind}`);
}

/** A static IPv6 route: `dst` ADDR/LEN, a `gateway` (ADDR, or ADDR%IF when link-local) or an `interface`. */
function checkRoute6(r: unknown, at: string, strict: boolean): { dst: string; gateway?: string; interface: string } {
  const o = obj(r, at);
  if (strict) onlyKeys(o, at, ['dst', 'gateway', 'interface']);
  const dst = str(o['dst'], `${at}.dst`);
  const d = parseIp6Cidr(dst);
  if (d === undefined || d.prefixLen === undefined || d.zone !== undefined) bad(`${at}.dst`, `'${dst}' is not an IPv6 prefix like 2001:db8::/48`);
  const rc: { dst: string; gateway?: string; interface: string } = { dst, interface: str(o['interface'], `${at}.interface`) };
  if (o['gateway'] !== undefined) {
    const g = str(o['gateway'], `${at}.gateway`);
    const gw = parseIp6Cidr(g);
    if (gw === undefined || gw.prefixLen !== undefined) bad(`${at}.gateway`, `'${g}' is not an IPv6 address (ADDR, or ADDR%IF when link-local)`);
    rc.gateway = g;
  }
  return rc;
}

/** inet6 addresses: `ADDR/LEN` strings (a string or a list). */
function checkInet6(v: unknown, at: string): string[] {
  const raw = typeof v === 'string' ? [v] : list(v, at);
  return raw.map((a, k) => {
    const p = typeof v === 'string' ? at : `${at}[${k}]`;
    const c = typeof a === 'string' ? parseIp6Cidr(a) : undefined;
    if (typeof a !== 'string' || c === undefined || c.prefixLen === undefined || c.zone !== undefined) bad(p, `${JSON.stringify(a)} is not an IPv6 address with a prefix length, like 2001:db8::1/64`);
    return a;
  });
}

function checkRoute(r: unknown, at: string, ifs: InterfaceConfig[], strict: boolean): RouteConfig {
  const o = obj(r, at);
  if (strict) onlyKeys(o, at, ROUTE_KEYS);
  let dst = str(o['dst'], `${at}.dst`);
  if (dst === 'default') dst = '0.0.0.0/0';
  if (parseCidr(dst) === undefined) bad(`${at}.dst`, `'${dst}' is not a destination like 10.1.0.0/16, 10.1.2.3 or default`);
  if (!dst.includes('/')) dst += '/32';
  const rc: RouteConfig = { dst, interface: '', flags: [] };
  let gw: number | undefined;
  if (o['gateway'] !== undefined) {
    const g = str(o['gateway'], `${at}.gateway`);
    gw = parseIp4(g);
    if (gw === undefined) bad(`${at}.gateway`, `'${g}' is not an IPv4 address`);
    rc.gateway = g;
  }
  if (o['interface'] !== undefined) {
    rc.interface = str(o['interface'], `${at}.interface`);
    if (rc.interface !== 'lo0' && !ifs.some((f) => f.name === rc.interface)) bad(`${at}.interface`, `${rc.interface} is not an interface of this image in the file`);
  } else {
    if (gw === undefined) bad(`${at}.interface`, 'missing: give the interface, or a gateway on one of its networks');
    const on = ifs.find((f) => f.addrs.some((a) => {
      const c = parseCidr(a)!;
      const m = prefixMask(c.prefixLen);
      return ((c.addr & m) >>> 0) === ((gw! & m) >>> 0);
    }));
    if (on === undefined) bad(`${at}.gateway`, `${rc.gateway} is not on the network of any interface of this image in the file`);
    rc.interface = on.name;
  }
  for (const [k, f] of list(o['flags'], `${at}.flags`).entries()) {
    if (f !== 'blackhole' && f !== 'reject') bad(`${at}.flags[${k}]`, `${JSON.stringify(f)} is not a route flag; flags: blackhole, reject`);
    rc.flags.push(f);
  }
  if (o['mtu'] !== undefined) rc.mtu = int(o['mtu'], `${at}.mtu`, 0, 65535);
  return rc;
}

function checkIpfw(v: unknown, at: string): void {
  const o = obj(v, at);
  list(o['rules'], `${at}.rules`).forEach((text, i) => {
    if (typeof text !== 'string') bad(`${at}.rules[${i}]`, 'must be a rule as `ipfw list` prints it');
    try {
      parseRule(text.trim().split(/\s+/));
    } catch (e) {
      bad(`${at}.rules[${i}]`, (e as Error).message);
    }
  });
  list(o['nat'], `${at}.nat`).forEach((text, i) => {
    const w = typeof text === 'string' ? text.trim().split(/\s+/) : [];
    const id = /^\d+$/.test(w[0] ?? '') ? Number(w[0]) : 0;
    if (!(id > 0 && id <= 65535)) bad(`${at}.nat[${i}]`, 'must be a nat id followed by the words of `ipfw nat N config`');
    try {
      parseNatConfig(id, w.slice(1));
    } catch (e) {
      bad(`${at}.nat[${i}]`, (e as Error).message);
    }
  });
  for (const k of ['pipes', 'queues']) {
    list(o[k], `${at}.${k}`).forEach((p, i) => {
      const q = obj(p, `${at}.${k}[${i}]`);
      int(q['nr'], `${at}.${k}[${i}].nr`, 1, 65535);
      if (typeof q['plr'] !== 'number' || typeof q['qsize'] !== 'number') bad(`${at}.${k}[${i}]`, 'needs plr and qsize, as vimage save writes them');
    });
  }
}
