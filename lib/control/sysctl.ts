/**
 * The sysctl part of an image's control surface: the image's tunables as
 * plain data (name, description, value, its text), lookups by name or
 * dotted prefix, and writes that return old and new values or throw a coded
 * error naming the bounds.
 */

import type { Image } from '../image.js';
import { findSysctl, sysctlDecls, sysctlText, type SysctlDecl } from '../sysctl.js';

/** One tunable and its value in this image. */
export interface SysctlInfo {
  name: string;
  description: string;
  value: number;
  /** The value as sysctl prints it: the name for named values, else the number. */
  text: string;
  /** Named values (e.g. net.inet.tcp.cc.algorithm); absent for plain integers. */
  names?: readonly string[];
  readOnly: boolean;
  /** Set only when the image is created. */
  tunable: boolean;
  def: number;
  min: number;
  max: number;
}

function info(d: SysctlDecl, value: number): SysctlInfo {
  return {
    name: d.name,
    description: d.descr,
    value,
    text: sysctlText(d, value),
    ...(d.names !== undefined ? { names: d.names } : {}),
    readOnly: d.readOnly,
    tunable: d.tunable,
    def: d.def,
    min: d.min,
    max: d.max,
  };
}

export class SysctlControl {
  readonly #im: Image;

  constructor(im: Image) {
    this.#im = im;
  }

  /** Names matching `prefix` exactly or as a dotted prefix; all when prefix is empty. Sorted by name. */
  list(prefix = ''): SysctlInfo[] {
    return this.#im.sysctl.list(prefix).map(({ decl, value }) => info(decl, value));
  }

  /** A leaf by exact name. */
  get(name: string): SysctlInfo | undefined {
    const d = findSysctl(name);
    return d === undefined ? undefined : info(d, this.#im.sysctl.get(d));
  }

  /** Is `name` an inner node (a prefix of some tunable's name)? */
  isNode(name: string): boolean {
    return sysctlDecls().some((d) => d.name.startsWith(name + '.'));
  }

  /** Set from text (named values by name); `atCreation` allows boot-time tunables. */
  set(name: string, text: string, atCreation = false): { old: SysctlInfo; now: SysctlInfo } {
    const r = this.#im.sysctl.set(name, text, atCreation);
    return { old: info(r.decl, r.old), now: info(r.decl, r.value) };
  }
}
