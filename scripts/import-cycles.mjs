#!/usr/bin/env node
// Import cycles among the TypeScript sources (runtime imports only: `import type`
// and `export type` are erased). Usage: node scripts/import-cycles.mjs [DIR...]
// (default lib daemon cli). Prints each cycle once; exits 1 when there is one.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['lib', 'daemon', 'cli'];
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = path.join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) files.push(p);
  }
};
roots.forEach(walk);
const edges = new Map();
const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"](\.[^'"]+)['"]/gm;
for (const f of files) {
  const out = [];
  for (const m of readFileSync(f, 'utf8').matchAll(IMPORT)) {
    // `import { type A, type B }` is erased too.
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    const allTypes = names !== undefined && names.split(',').every((x) => x.trim() === '' || x.trim().startsWith('type '));
    if (m[1] === undefined && !allTypes) out.push(path.join(path.dirname(f), m[2].replace(/\.js$/, '.ts')));
  }
  edges.set(f, out);
}
const cycles = new Set();
const state = new Map(); // 1 on stack, 2 done
const stack = [];
const visit = (f) => {
  state.set(f, 1);
  stack.push(f);
  for (const g of edges.get(f) ?? []) {
    if (state.get(g) === 1) {
      const c = stack.slice(stack.indexOf(g));
      const i = c.indexOf([...c].sort()[0]);
      cycles.add([...c.slice(i), ...c.slice(0, i)].join(' -> '));
    } else if (state.get(g) === undefined && edges.has(g)) visit(g);
  }
  stack.pop();
  state.set(f, 2);
};
for (const f of files) if (state.get(f) === undefined) visit(f);
for (const c of cycles) console.log(c);
console.log(`${files.length} files, ${cycles.size} cycles`);
process.exit(cycles.size > 0 ? 1 : 0);
