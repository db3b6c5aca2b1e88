/**
 * Per-image tunables, FreeBSD's `VNET_DEFINE` + `SYSCTL_INT` in one call.
 *
 * A subsystem declares each tunable beside the code it steers:
 *
 *     export const ipForwarding = sysctlInt({ name: 'net.inet.ip.forwarding',
 *       def: 0, min: 0, max: 1, descr: 'Enable IP forwarding between interfaces' });
 *
 * and reads it on the hot path as `image.sysctl.v[ipForwarding.slot]`, a plain
 * array index. Declarations are immutable once made; values live in each image.
 */

import { E, fail } from './errors.js';

export interface SysctlDecl {
  readonly name: string;
  readonly slot: number;
  readonly def: number;
  readonly min: number;
  readonly max: number;
  readonly descr: string;
  /** Read-only tunables report a value but refuse writes. */
  readonly readOnly: boolean;
  /** A boot-time tunable (FreeBSD's CTLFLAG_RDTUN): set when the image is created, read-only after. */
  readonly tunable: boolean;
  /** A sysctl whose value is one of these names (stored as the index), e.g. net.inet.tcp.cc.algorithm. */
  readonly names?: readonly string[];
}

const decls: SysctlDecl[] = [];
const byName = new Map<string, SysctlDecl>();

export function sysctlInt(d: { name: string; def: number; min: number; max: number; descr: string; readOnly?: boolean; tunable?: boolean; names?: readonly string[] }): SysctlDecl {
  const existing = byName.get(d.name);
  if (existing !== undefined) throw new Error(`sysctl ${d.name} declared twice`);
  if (!Number.isInteger(d.def) || d.def < d.min || d.def > d.max) throw new Error(`sysctl ${d.name}: default outside bounds`);
  const decl: SysctlDecl = Object.freeze({ ...d, slot: decls.length, readOnly: d.readOnly ?? false, tunable: d.tunable ?? false });
  decls.push(decl);
  byName.set(d.name, decl);
  sorted = null;
  return decl;
}

/** A sysctl that takes one of `names` (FreeBSD's string sysctls with a fixed set of values). */
export function sysctlEnum(d: { name: string; names: readonly string[]; def: string; descr: string }): SysctlDecl {
  const def = d.names.indexOf(d.def);
  if (def < 0) throw new Error(`sysctl ${d.name}: default ${d.def} is not one of its names`);
  return sysctlInt({ name: d.name, def, min: 0, max: d.names.length - 1, descr: d.descr, names: d.names });
}

/** A value as sysctl prints it: the name for enum sysctls, else the number. */
export function sysctlText(d: SysctlDecl, value: number): string {
  return d.names?.[value] ?? String(value);
}

/** `decls` sorted by name, made again after a declaration (saving thousands of images reads it per image). */
let sorted: SysctlDecl[] | null = null;

/** All declarations, sorted by name (as `sysctl -a` prints them). */
export function sysctlDecls(): SysctlDecl[] {
  sorted ??= [...decls].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.slice();
}

export function findSysctl(name: string): SysctlDecl | undefined {
  return byName.get(name);
}

/** One image's values. */
export class SysctlValues {
  /** Indexed by `SysctlDecl.slot`; read directly on the packet path. */
  readonly v: number[];

  constructor() {
    this.v = decls.map((d) => d.def);
  }

  get(d: SysctlDecl): number {
    return this.v[d.slot] ?? d.def;
  }

  /** Names matching `prefix` exactly or as a dotted prefix; all when prefix is empty. */
  list(prefix = ''): Array<{ decl: SysctlDecl; value: number }> {
    return sysctlDecls()
      .filter((d) => prefix === '' || d.name === prefix || d.name.startsWith(prefix.endsWith('.') ? prefix : prefix + '.'))
      .map((decl) => ({ decl, value: this.get(decl) }));
  }

  /** Parse and set a value from text; throws a coded error naming the bounds. */
  set(name: string, text: string, atCreation = false): { decl: SysctlDecl; old: number; value: number } {
    const decl = byName.get(name);
    if (decl === undefined) fail(E.NO_SUCH_SYSCTL, `unknown oid '${name}'`);
    if (decl.readOnly) fail(E.READ_ONLY, `oid '${name}' is read only`);
    if (decl.tunable && !atCreation) fail(E.READ_ONLY, `oid '${name}' is a tunable, read only once the image exists: set it when creating the image, vimage -c NAME ${name}=VALUE`);
    const t = text.trim();
    let value: number;
    if (decl.names !== undefined) {
      value = decl.names.indexOf(t);
      if (value < 0) fail(E.BAD_ARGUMENT, `${name}: '${text}' is not available; choose one of ${decl.names.join(', ')}`);
    } else {
      // Decimal or hex (0x40), as FreeBSD's sysctl reads integers with strtol(3) base 0.
      if (/^-?\d+$/.test(t)) value = Number(t);
      else if (/^-?0x[0-9a-f]+$/i.test(t)) value = (t.startsWith('-') ? -1 : 1) * parseInt(t.replace(/^-?0x/i, ''), 16);
      else fail(E.BAD_ARGUMENT, `invalid integer '${text}' for ${name}`);
    }
    if (value < decl.min || value > decl.max) {
      fail(E.OUT_OF_RANGE, `${name}: ${value} out of range, must be between ${decl.min} and ${decl.max}`);
    }
    const old = this.get(decl);
    this.v[decl.slot] = value;
    return { decl, old, value };
  }
}
