/**
 * Lookup tables in an image's saved configuration (under `ipfw.tables`):
 * each table's kind, limits and lock, and its entries as `ipfw table NAME
 * list` prints them, so that a restore goes through the same parser as
 * `ipfw table NAME add`. Tables are restored before the rules that use them.
 */

import type { TableSet } from './table.js';
import { VT_LEGACY } from './table_value.js';

export interface TableSaved {
  name: string;
  type: number;
  tflags?: number;
  vmask?: number;
  algo: string;
  limit?: number;
  locked?: boolean;
  /** [key, value] as `list` prints them. */
  entries: Array<[string, string]>;
}

export function saveTables(ts: TableSet): TableSaved[] {
  return ts.names().map((name) => {
    const t = ts.get(name)!;
    const s: TableSaved = { name, type: t.type, algo: t.algo, entries: ts.list(name).map((e) => [e.key, e.value]) };
    if (t.tflags !== 0) s.tflags = t.tflags;
    if (t.vmask !== VT_LEGACY) s.vmask = t.vmask;
    if (t.limit > 0) s.limit = t.limit;
    if (t.locked) s.locked = true;
    return s;
  });
}

/** Create (or refill) the saved tables; returns one message per table that failed. */
export function restoreTables(ts: TableSet, saved: unknown): string[] {
  const errors: string[] = [];
  if (!Array.isArray(saved)) return errors;
  for (const x of saved as Partial<TableSaved>[]) {
    try {
      if (typeof x !== 'object' || x === null || typeof x.name !== 'string') throw new Error('not a saved table');
      const name = x.name;
      if (!ts.has(name)) {
        ts.create(name, {
          type: x.type ?? 1,
          tflags: x.tflags ?? 0,
          vmask: x.vmask ?? VT_LEGACY,
          ...(x.algo !== undefined ? { algo: x.algo } : {}),
          limit: x.limit ?? 0,
        });
      }
      ts.lock(name, false);
      const entries = Array.isArray(x.entries) ? x.entries : [];
      ts.add(
        name,
        entries.map((e) => [String(e[0]), String(e[1])] as const),
        true,
      );
      if (x.locked === true) ts.lock(name, true);
    } catch (e) {
      errors.push(`table '${String((x as { name?: unknown })?.name)}': ${(e as Error).message}`);
    }
  }
  return errors;
}
