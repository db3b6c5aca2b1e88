/**
 * Typed counter structs. A counter cannot exist without its description: the
 * struct's fields are the keys of the description table, so a missing
 * description is a compile error. The description is the text netstat prints
 * after the number.
 *
 * Counters are plain number fields, bumped with `s.field++` on the hot path.
 *
 * A listing may also carry lines FreeBSD prints for events that cannot
 * happen in vimage (a gif tunnel, a redirect sent, a multicast source
 * filter): named in `zero`, they keep netstat's output FreeBSD's, always 0,
 * and are not fields, so nothing can bump them by mistake.
 */

export type Stats<K extends string> = { [P in K]: number };

export interface StatsDef<K extends string, Z extends string = never> {
  readonly descr: Readonly<Record<K | Z, string>>;
  /** Every line, in listing order: the counters and the always-zero lines. */
  readonly keys: readonly (K | Z)[];
  /** The counters: the fields of the struct. */
  readonly fields: readonly K[];
  create(): Stats<K>;
  reset(s: Stats<K>): void;
  /** The value of a listed line: the counter, or 0 for a line in `zero`. */
  value(s: Stats<K>, k: K | Z): number;
}

export function defineStats<D extends Record<string, string>, Z extends keyof D & string = never>(
  descr: D,
  opts?: { zero: readonly Z[] },
): StatsDef<Exclude<keyof D & string, Z>, Z> {
  type K = Exclude<keyof D & string, Z>;
  const zero = new Set<string>(opts?.zero ?? []);
  const keys = Object.keys(descr) as Array<K | Z>;
  const fields = keys.filter((k): k is K => !zero.has(k));
  // A class gives every instance the same hidden shape: field reads stay monomorphic.
  const init = new Function(fields.map((k) => `this[${JSON.stringify(k)}] = 0;`).join('\n')) as unknown as new () => Stats<K>;
  return {
    descr: Object.freeze({ ...descr }) as Readonly<Record<K | Z, string>>,
    keys,
    fields,
    create: () => new init(),
    reset(s) {
      for (const k of fields) s[k] = 0;
    },
    value: (s, k) => (zero.has(k) ? 0 : s[k as K]),
  };
}

/** A plain copy of a counter struct (the always-zero lines included), for JSON. */
export function snapshot<K extends string, Z extends string>(def: StatsDef<K, Z>, s: Stats<K>): Record<K | Z, number> {
  const out = {} as Record<K | Z, number>;
  for (const k of def.keys) out[k] = def.value(s, k);
  return out;
}
