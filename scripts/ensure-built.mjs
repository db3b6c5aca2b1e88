#!/usr/bin/env node
// `npm start` on a fresh checkout: install dependencies and build (native
// binding and TypeScript) when the build output is missing.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const built = ['dist/daemon/main.js', 'dist/cli/main.js', 'build/Release/vimage_tap.node', 'build/Release/vimage-supervisor'].every((f) => existsSync(root + f));
if (!built) {
  console.error('vimage: not built yet; running npm install (native binding and TypeScript)');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
