/**
 * Typed counter structs. A counter cannot exist without its description: the
 * struct's fields are the keys of the description table, so a missing
 * description is a compile error. The description is the text netstat prints
 * after the number.
 *
 * Counters are plain number fields, bumped with `s.field++` on the hot path.
 */

export type Stats<K extends string> = { [P in K]: number };

export interface StatsDef<K extends string> {
  readonly descr: Readonly<Record<K, string>>;
  readonly keys: readonly K[];
  create(): Stats<K>;
  reset(s: Stats<K>): void;
}

export function defineStats<K extends string>(descr: Record<K, string>): StatsDef<K> {
  const keys = Object.keys(descr) as K[];
  // A class gives every instance the same hidden shape: field reads stay monomorphic.
  const init = new Function(keys.map((k) => `this[${JSON.stringify(k)}] = 0;`).join('\n')) as unknown as new () => Stats<K>;
  return {
    descr: Object.freeze({ ...descr }),
    keys,
    create: () => new init(),
    reset(s) {
      for (const k of keys) s[k] = 0;
    },
  };
}

/** A plain copy of a counter struct, for JSON. */
export function snapshot<K extends string>(def: StatsDef<K>, s: Stats<K>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of def.keys) out[k] = s[k];
  return out;
}
