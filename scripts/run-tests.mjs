#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with node's test runner.
// (Node 20's `node --test DIR` also treats every file under a test/ folder as
// a test, helpers included; listing the files keeps the count honest.)
// Extra arguments filter by substring: `npm test -- wire image`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(dist);
files.sort();
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => relative(dist, f).includes(s)));
if (chosen.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
