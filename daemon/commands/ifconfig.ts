/**
 * ifconfig(8) inside an image: list interfaces in FreeBSD's layout, clone
 * and destroy epair/tap interfaces, set addresses, flags, MTU, name and
 * link address, and move an interface to another image (`vnet`).
 *
 * Parameters are validated before anything changes, so a typo never leaves
 * an interface half-configured. As in FreeBSD, flag and MTU changes apply in
 * argument order and the address change is made last.
 */

import { E, IFF, classfulLen, fail, type InterfaceInfo, type InterfaceOp, type VxlanParams } from '../../lib/control/index.js';
import { ip4ToString, maskToLen, parseIp4, prefixMask } from '../../lib/wire/ipv4.js';
import { parseMac } from '../../lib/wire/ethernet.js';
import { parseIp6Cidr, type In6Addr } from '../../lib/wire/ipv6.js';
import { EX_OK, type Command, type CommandContext } from '../command.js';
import { failure, guarded, printJson, usageError } from './util.js';
import { parseVxlanArg, vxlanStatus } from './ifconfig_vxlan.js';
import { descriptionStatus, groupsStatus, inGroup, parseAttrArg, printGroup, type AttrPlan } from './ifconfig_attr.js';
import { applyGifPlan, cloneGif, gifStatus, parseGifArg, type GifPlan } from './ifconfig_gif.js';
import { applyLinkPlan, bridgeStatus, cloneLink, emptyLinkPlan, parseLinkArg, vlanStatus, type LinkPlan } from './ifconfig_bridge.js';

const CMD = 'ifconfig';

function hasLinkAddress(f: InterfaceInfo): boolean {
  return f.ether !== undefined;
}

/** One interface in FreeBSD's `ifconfig` layout. */
function formatStatus(f: InterfaceInfo, verbose = false, af?: string): string {
  let s = `${f.name}: flags=${f.flags.toString(16)}<${f.flagNames.join(',')}> metric ${f.metric} mtu ${f.mtu}\n`;
  s += descriptionStatus(f);
  s += gifStatus(f);
  if (f.ether !== undefined) s += `\tether ${f.ether}\n`;
  // `ifconfig IF ether`: the link level only, then the media (status_nl with the link af).
  if (af === 'ether') return s + (f.media !== undefined ? `\tmedia: ${f.media}\n\tstatus: ${f.status}\n` : '');
  for (const a of f.inet) {
    s += `\tinet ${a.address}${a.destination !== undefined ? ` --> ${a.destination}` : ''} netmask 0x${(prefixMask(a.prefixLen) >>> 0).toString(16)}`;
    if ((f.flags & IFF.BROADCAST) !== 0 && a.broadcast !== undefined) s += ` broadcast ${a.broadcast}`;
    s += '\n';
  }
  s += formatInet6(f);
  s += bridgeStatus(f);
  s += groupsStatus(f);
  s += vlanStatus(f);
  s += vxlanStatus(f, verbose);
  if (f.media !== undefined) {
    s += `\tmedia: ${f.media}\n`;
    s += `\tstatus: ${f.status}\n`;
  }
  s += `\tnd6 options=${f.nd6.options.toString(16)}<${f.nd6.optionNames.join(',')}>\n`;
  if (typeof f.link['hostif'] === 'string') s += `\thostif: ${f.link['hostif']}\n`;
  return s;
}

/** FreeBSD 14's inet6 lines: `inet6 ADDR[%IF] prefixlen N [flags] [scopeid 0xI]`. */
function formatInet6(f: InterfaceInfo): string {
  let s = '';
  for (const a of f.inet6) {
    s += `\tinet6 ${a.address} prefixlen ${a.prefixLen}`;
    for (const fl of a.flags) s += ` ${fl}`;
    if (a.scopeId !== undefined) s += ` scopeid 0x${a.scopeId.toString(16)}`;
    s += '\n';
  }
  return s;
}

/** Parse a netmask given as dotted quad or hex (`0xffffff00`), as inet_aton accepts. */
function parseMask(text: string): number | undefined {
  if (/^0x[0-9a-f]{1,8}$/i.test(text)) return parseInt(text.slice(2), 16) >>> 0;
  return parseIp4(text);
}

type Op = InterfaceOp;

interface Plan {
  ops: Op[];
  /** `inet6` was given: the address is an IPv6 one. */
  inet6?: boolean;
  addr6?: In6Addr;
  zone6?: string;
  /** `accept_rtadv` / `-accept_rtadv`: the interface's ND6_IFF_ACCEPT_RTADV flag. */
  acceptRtadv?: boolean;
  addr?: number;
  prefixLen?: number;
  broadcast?: number;
  alias: boolean;
  remove: boolean;
  vnet?: string;
  destroy: boolean;
  create: boolean;
  hostname?: string;
  /** bridge(4) and vlan(4) parameters (ifconfig_bridge.ts). */
  link: LinkPlan;
  /** vxlan(4) parameters (ifconfig_vxlan.ts). */
  vxlan: VxlanParams;
  /** Description, groups, promisc, vlanpcp (ifconfig_attr.ts; its interface changes go to ops). */
  attr: AttrPlan;
  /** gif(4) tunnel (ifconfig_gif.ts). */
  gif: GifPlan;
  /** The other end of a point-to-point interface: `inet A B`. */
  dst?: number;
}

/** Parse the parameters after the interface name; an error text on bad input. */
function parsePlan(args: readonly string[]): Plan | string {
  const p: Plan = { ops: [], alias: false, remove: false, destroy: false, create: false, link: emptyLinkPlan(), vxlan: {}, attr: {}, gif: {} };
  const need = (i: number, what: string): string | undefined => (args[i + 1] === undefined ? `${args[i]}: missing ${what}` : undefined);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const vx = parseVxlanArg(args, i, p.vxlan);
    if (typeof vx === 'string') return vx;
    if (vx > 0) {
      i += vx - 1;
      continue;
    }
    const at = parseAttrArg(args, i, p.ops, p.attr);
    if (typeof at === 'string') return at;
    if (at > 0) {
      i += at - 1;
      continue;
    }
    const gf = parseGifArg(args, i, p.gif);
    if (typeof gf === 'string') return gf;
    if (gf > 0) {
      i += gf - 1;
      continue;
    }
    const used = parseLinkArg(args, i, p.link);
    if (typeof used === 'string') return used;
    if (used > 0) {
      i += used - 1;
      continue;
    }
    switch (a) {
      case 'up':
        p.ops.push({ kind: 'up' });
        break;
      case 'down':
        p.ops.push({ kind: 'down' });
        break;
      case 'mtu': {
        const e = need(i, 'value (e.g. mtu 1500)');
        if (e !== undefined) return e;
        const t = args[++i]!;
        if (!/^\d{1,6}$/.test(t)) return `mtu ${t}: bad value; give a number such as 1500`;
        p.ops.push({ kind: 'mtu', mtu: Number(t) });
        break;
      }
      case 'name': {
        const e = need(i, 'new name (e.g. name lan0)');
        if (e !== undefined) return e;
        p.ops.push({ kind: 'name', name: args[++i]! });
        break;
      }
      case 'ether':
      case 'lladdr':
      case 'link': {
        const e = need(i, 'MAC address (e.g. lladdr 02:00:00:00:00:01)');
        if (e !== undefined) return e;
        const t = args[++i]!;
        const mac = parseMac(t);
        if (mac === undefined) return `${t}: bad value; give a MAC address like 02:00:00:00:00:01`;
        if ((Math.floor(mac / 2 ** 40) & 1) !== 0) return `${t}: a multicast address cannot be an interface address`;
        p.ops.push({ kind: 'lladdr', mac });
        break;
      }
      case 'arp':
        p.ops.push({ kind: 'arp', on: true });
        break;
      case '-arp':
        p.ops.push({ kind: 'arp', on: false });
        break;
      case 'inet':
        break;
      case 'inet6':
        p.inet6 = true;
        break;
      case 'accept_rtadv':
      case '-accept_rtadv':
        p.acceptRtadv = a === 'accept_rtadv';
        break;
      case 'prefixlen': {
        const e = need(i, 'length (e.g. prefixlen 64)');
        if (e !== undefined) return e;
        const t = args[++i]!;
        if (!/^\d{1,3}$/.test(t) || Number(t) > 128) return `prefixlen ${t}: bad value; give 0 to 128`;
        p.prefixLen = Number(t);
        break;
      }
      case 'netmask': {
        const e = need(i, 'mask (e.g. netmask 255.255.255.0 or 0xffffff00)');
        if (e !== undefined) return e;
        const t = args[++i]!;
        const m = parseMask(t);
        if (m === undefined) return `netmask ${t}: bad value; give a mask like 255.255.255.0 or 0xffffff00`;
        const len = maskToLen(m);
        if (len < 0) return `netmask ${t}: not a contiguous mask; give one like 255.255.255.0 or 0xffffff00`;
        p.prefixLen = len;
        break;
      }
      case 'broadcast': {
        const e = need(i, 'address');
        if (e !== undefined) return e;
        const t = args[++i]!;
        const b = parseIp4(t);
        if (b === undefined) return `broadcast ${t}: bad value; give an IPv4 address`;
        p.broadcast = b;
        break;
      }
      case 'alias':
      case 'add':
        p.alias = true;
        break;
      case '-alias':
      case 'delete':
      case 'remove':
        p.remove = true;
        break;
      case 'vnet':
      case '-vnet': {
        const e = need(i, 'image name (e.g. vnet R)');
        if (e !== undefined) return e;
        if (a === '-vnet') return '-vnet: run it as \'ifconfig IF -vnet IMAGE\' with no other parameters';
        p.vnet = args[++i]!;
        break;
      }
      case 'destroy':
        p.destroy = true;
        break;
      case 'create':
        p.create = true;
        break;
      case 'hostname': {
        const e = need(i, 'host device name (e.g. hostname vtap0)');
        if (e !== undefined) return e;
        p.hostname = args[++i]!;
        break;
      }
      case 'metric': {
        const e = need(i, 'value');
        if (e !== undefined) return e;
        if (args[++i] !== '0') return 'metric: only metric 0 is supported';
        break;
      }
      default: {
        if (p.inet6 === true) {
          if (p.addr6 !== undefined) return `${a}: unknown parameter`;
          const c = parseIp6Cidr(a);
          if (c === undefined) return `${a}: bad value; give an IPv6 address like 2001:db8::1/64 or a parameter (prefixlen, alias, -alias)`;
          p.addr6 = c.addr;
          if (c.zone !== undefined) p.zone6 = c.zone;
          if (c.prefixLen !== undefined) p.prefixLen = c.prefixLen;
          break;
        }
        if (p.addr !== undefined && p.dst === undefined && parseIp4(a) !== undefined) {
          p.dst = parseIp4(a)!; // `inet A B`: B is the other end of a point-to-point link
          break;
        }
        if (p.addr !== undefined) return `${a}: unknown parameter (a destination address needs a point-to-point interface)`;
        const slash = a.indexOf('/');
        const addr = parseIp4(slash < 0 ? a : a.slice(0, slash));
        if (addr === undefined) return `${a}: bad value; give an IPv4 address like 10.0.0.1/24 or a parameter (up, down, mtu, alias, -alias, name, vnet, destroy)`;
        if (slash >= 0) {
          const lenText = a.slice(slash + 1);
          const len = /^\d{1,2}$/.test(lenText) ? Number(lenText) : -1;
          if (len < 0 || len > 32) return `${a}: bad value (width invalid); the prefix length must be 0 to 32`;
          p.prefixLen = len;
        }
        p.addr = addr;
      }
    }
  }
  if (p.destroy && (p.ops.length > 0 || p.addr !== undefined || p.remove || p.vnet !== undefined || p.create)) {
    return 'destroy takes no other parameters';
  }
  if (p.vnet !== undefined && (p.ops.length > 0 || p.addr !== undefined || p.remove)) {
    return 'vnet cannot be combined with other parameters; configure the interface inside the target image';
  }
  if (p.hostname !== undefined && !p.create) return 'hostname is only valid with create (ifconfig tap create hostname HOSTIF)';
  if (p.inet6 === true && p.remove && p.addr6 === undefined) return '-alias: give the inet6 address to remove, e.g. ifconfig IF inet6 2001:db8::1 -alias';
  if (p.alias && p.addr === undefined && p.addr6 === undefined) return 'alias: give the address to add, e.g. ifconfig IF inet 10.0.0.2/24 alias';
  return p;
}

/** `ifconfig epair|tap[N] create ...`; returns the new interface's name (epair: the `a` end). */
function clone(ctx: CommandContext, requested: string, plan: Plan): string {
  const link = cloneLink(ctx, requested, plan.link);
  if (link !== undefined) return link;
  const lo = /^lo(\d+)?$/.exec(requested);
  if (lo !== null) return ctx.image.interfaces.create('lo', lo[1] !== undefined ? { unit: lo[1] } : {});
  const vx = /^vxlan(\d+)?$/.exec(requested);
  if (vx !== null) {
    const name = ctx.image.interfaces.createVxlan({ ...(vx[1] !== undefined ? { unit: vx[1] } : {}), params: plan.vxlan });
    plan.vxlan = {};
    return name;
  }
  const gif = cloneGif(ctx, requested);
  if (gif !== undefined) return gif;
  const m = /^(epair|tap)(\d+)?$/.exec(requested);
  if (m === null) fail(E.BAD_ARGUMENT, `${requested}: cannot create interfaces of this kind; use 'ifconfig epair|tap|bridge|vlan|vxlan|gif|lo create' or 'ifconfig IF.TAG create'`);
  const unit = m[2];
  return ctx.image.interfaces.create(m[1] as 'epair' | 'tap', { ...(unit !== undefined ? { unit } : {}), ...(plan.hostname !== undefined ? { hostname: plan.hostname } : {}) });
}

function show(ctx: CommandContext, list: InterfaceInfo[], verbose = false, af?: string): number {
  if (ctx.json) printJson(ctx, { interfaces: list });
  else ctx.stdout.write(list.map((f) => formatStatus(f, verbose, af)).join(''));
  return EX_OK;
}

/**
 * Setting an address brings the interface up, as FreeBSD's SIOCSIFADDR
 * does in ether_ioctl (and loioctl, gif_ioctl): after the parameters, so
 * `ifconfig tap0 inet 10.0.0.1/24 down` leaves it up there too.
 */
function upOnAddress(ctx: CommandContext, name: string): void {
  const ifs = ctx.image.interfaces;
  if ((ifs.get(name).flags & IFF.UP) === 0) ifs.configure(name, [{ kind: 'up' }]);
}

/** `ifconfig IF -vnet IMAGE`: take IF back from IMAGE into this image. */
function reclaim(ctx: CommandContext, ifname: string, from: string): number {
  return guarded(ctx, CMD, () => {
    ctx.vnet.reclaim(ifname, from);
    return EX_OK;
  });
}

const ifconfig: Command = async (ctx) => {
  const args = ctx.argv.slice(1);
  let all = false;
  let names = false;
  let onlyUp = false;
  let onlyDown = false;
  let verbose = false;
  let group: string | undefined;
  let noGroup: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (!/^-[a-zA-Z]+$/.test(a)) break;
    for (let k = 1; k < a.length; k++) {
      const c = a[k]!;
      if (c === 'g' || c === 'G') {
        // getopt: the rest of this word, or the next one, is the group.
        const g = k + 1 < a.length ? a.slice(k + 1) : args[++i];
        if (g === undefined) return usageError(ctx, CMD, `option requires an argument -- ${c}; e.g. ifconfig -g lan`);
        if (c === 'g') group = g;
        else noGroup = g;
        break;
      }
      if (c === 'a') all = true;
      else if (c === 'l') names = true;
      else if (c === 'u') onlyUp = true;
      else if (c === 'd') onlyDown = true;
      else if (c === 'v') verbose = true;
      else return usageError(ctx, CMD, `illegal option -- ${c}; usage: ifconfig [-a | -l] [-u] [-d] [-v] [-g GROUP] [-G GROUP] [inet | inet6 | ether] | ifconfig -g GROUP | ifconfig IF [parameters] | ifconfig epair|tap|bridge|vlan|vxlan|lo create`);
    }
  }
  const operands = args.slice(i);
  // Without -a (or -l), -g GROUP prints the group's members and nothing else (ifgroup.c's printgroup).
  if (group !== undefined && !all && !names) {
    if (operands.length > 0) return usageError(ctx, CMD, `-g ${group} takes no other arguments; use ifconfig -a -g ${group} for their status`);
    return printGroup(ctx, group);
  }
  if (noGroup !== undefined && !all && !names) return usageError(ctx, CMD, '-G GROUP needs -a or -l (e.g. ifconfig -a -G lo)');

  if (all || names || operands.length === 0 || (operands.length === 1 && (operands[0] === 'inet' || operands[0] === 'inet6' || operands[0] === 'ether'))) {
    const af = operands[0];
    if (operands.length > 1 || (af !== undefined && af !== 'inet' && af !== 'inet6' && af !== 'ether')) {
      return usageError(ctx, CMD, `-${names ? 'l' : 'a'} takes at most an address family (inet, inet6 or ether), not '${operands.join(' ')}'`);
    }
    const list = ctx.image.interfaces.list().filter(
      (f) =>
        (!onlyUp || (f.flags & IFF.UP) !== 0) &&
        (!onlyDown || (f.flags & IFF.UP) === 0) &&
        (af !== 'inet' || f.inet.length > 0) &&
        (af !== 'inet6' || f.inet6.length > 0) &&
        (af !== 'ether' || hasLinkAddress(f)) &&
        (group === undefined || inGroup(f, group)) &&
        (noGroup === undefined || !inGroup(f, noGroup)),
    );
    if (names) {
      if (ctx.json) printJson(ctx, { interfaces: list.map((f) => f.name) });
      else ctx.stdout.write(list.map((f) => f.name).join(' ') + '\n');
      return EX_OK;
    }
    return show(ctx, list, verbose, af);
  }

  const ifname = operands[0]!;
  const rest = operands.slice(1);
  if (rest.length === 2 && rest[0] === '-vnet') return reclaim(ctx, ifname, rest[1]!);

  // `ifconfig IF ether`: the link level only (FreeBSD's af ether).
  if (rest.length === 1 && rest[0] === 'ether') {
    if (!ctx.image.interfaces.has(ifname)) return failure(ctx, CMD, `interface ${ifname} does not exist; 'ifconfig -l' lists interfaces`);
    return show(ctx, [ctx.image.interfaces.get(ifname)], verbose, 'ether');
  }
  const plan = parsePlan(rest);
  if (typeof plan === 'string') return usageError(ctx, CMD, plan);

  const ifs = ctx.image.interfaces;
  let name = ifname;
  let printName: string | undefined;
  if (plan.create) {
    if (ifs.has(ifname)) return failure(ctx, CMD, `interface ${ifname} already exists`);
    const box: { made?: string } = {};
    const st = guarded(ctx, CMD, () => {
      box.made = clone(ctx, ifname, plan);
      return EX_OK;
    });
    if (st !== EX_OK || box.made === undefined) return st;
    name = box.made;
    if (name !== ifname) printName = name;
  } else if (!ifs.has(ifname)) {
    return failure(ctx, CMD, `interface ${ifname} does not exist; 'ifconfig -l' lists interfaces`);
  }

  if (rest.length === 0 || (rest.length === 1 && (rest[0] === 'inet' || rest[0] === 'inet6'))) return show(ctx, [ifs.get(name)], verbose);
  if (plan.zone6 !== undefined && plan.zone6 !== name) return usageError(ctx, CMD, `${plan.zone6}: the zone of the address must be the interface, ${name}`);
  if (plan.dst !== undefined && !ifs.isPointToPoint(name)) return usageError(ctx, CMD, `${ip4ToString(plan.dst)}: unknown parameter (a destination address needs a point-to-point interface)`);

  return guarded(ctx, CMD, () => {
    if (plan.destroy) {
      ifs.destroy(name);
      return EX_OK;
    }
    if (plan.vnet !== undefined) {
      ctx.vnet.moveTo(name, plan.vnet);
      return EX_OK;
    }
    applyGifPlan(ifs, name, plan.gif);
    const renamed = plan.ops.some((op) => op.kind === 'name');
    if (Object.keys(plan.vxlan).length > 0) {
      // FreeBSD applies parameters in order: what comes before the first `up` (a `down`) goes first.
      const k = plan.ops.findIndex((op) => op.kind === 'up');
      name = ifs.configure(name, k < 0 ? plan.ops : plan.ops.slice(0, k));
      ifs.configureVxlan(name, plan.vxlan);
      if (k >= 0) name = ifs.configure(name, plan.ops.slice(k));
    } else name = ifs.configure(name, plan.ops);
    if (renamed) printName = name;
    if (plan.inet6 === true) {
      if (plan.remove) ctx.image.inet6.deleteAddress(name, plan.addr6!);
      else if (plan.addr6 !== undefined) {
        ctx.image.inet6.addAddress(name, plan.addr6, plan.prefixLen ?? 64);
        upOnAddress(ctx, name);
      }
    } else if (plan.remove) {
      ifs.deleteAddress(name, plan.addr);
    } else if (plan.addr !== undefined) {
      let len = plan.prefixLen;
      if (len === undefined) {
        len = classfulLen(plan.addr);
        if (!ifs.isPointToPoint(name)) {
          ctx.stderr.write(`${CMD}: WARNING: setting interface address without mask is deprecated, default mask may not be correct (using /${len}); give one as A.B.C.D/LEN\n`);
        }
      }
      if (plan.broadcast !== undefined && (plan.broadcast & prefixMask(len)) >>> 0 !== (plan.addr & prefixMask(len)) >>> 0) {
        return usageError(ctx, CMD, `broadcast ${ip4ToString(plan.broadcast)} is not in ${ip4ToString(plan.addr)}/${len}`);
      }
      ifs.addAddress(name, plan.addr, len, plan.broadcast !== undefined ? { alias: plan.alias, broadcast: plan.broadcast } : plan.dst !== undefined ? { alias: plan.alias, dst: plan.dst } : { alias: plan.alias });
      upOnAddress(ctx, name);
    }
    if (plan.acceptRtadv !== undefined) ctx.image.inet6.setAcceptRtadv(name, plan.acceptRtadv);
    applyLinkPlan(ctx, name, plan.link);
    if (plan.attr.pcp !== undefined) {
      if (plan.attr.pcpWord !== 'vlanpcp' && ifs.get(name).vlan === undefined) {
        return failure(ctx, CMD, `pcp: ${name} is not a vlan interface; priority tags on untagged frames are not supported, give the priority to a vlan (ifconfig vlanN vlanpcp N)`);
      }
      ifs.configureVlan(name, { pcp: plan.attr.pcp });
    }
    if (printName !== undefined) {
      if (ctx.json) printJson(ctx, { name: printName });
      else ctx.stdout.write(`${printName}\n`);
    }
    return EX_OK;
  });
};

export const commands: Record<string, Command> = { ifconfig };
