#!/usr/bin/env node
// Builds the N-API TAP binding (native/tap.c) with node-gyp. When this
// Node's own headers are installed (e.g. /usr/include/node on Debian), build
// against them, so no header download is needed on machines without internet.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = ['rebuild'];
const configured = process.env.npm_config_nodedir;
const prefix = process.config.variables.node_prefix || '/usr';
const candidates = [configured, prefix, '/usr', '/usr/local'].filter(Boolean);
const nodedir = candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
if (nodedir !== undefined) args.push(`--nodedir=${nodedir}`);
const r = spawnSync('node-gyp', args, { stdio: 'inherit', shell: false });
if (r.error !== undefined) {
  console.error(`build-native: cannot run node-gyp (${r.error.message}); run this through npm (npm install / npm run build:native)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
