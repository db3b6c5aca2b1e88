/**
 * Per-image resolvers for Linux programs, as `ip netns exec` gives a
 * namespace its own: /etc/vimage/IMAGE/resolv.conf and hosts are bound over
 * /etc/resolv.conf and /etc/hosts for programs run in IMAGE, in a private
 * mount namespace that leaks nothing into the host's. Without the privilege
 * for a mount namespace the program sees the host's files and a warning.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, Lab, labUnavailable } from './lab.js';

const P = 'vln'; // prefix of every image, namespace and file this test makes
const IMAGE = `${P}R`;
const PLAIN = `${P}S`;
const ETC = '/etc/vimage';
const DIR = path.join(ETC, IMAGE);
const RESOLV = `# ${P}: resolvers of image ${IMAGE}\nnameserver 10.73.9.53\n`;
const HOSTS = `10.73.9.80\t${P}-www.example\n`;
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  if (existsSync(DIR)) return `${DIR} exists already; remove it to run this test`;
  return undefined;
}

const skip = labUnavailable() ?? missing();
const mountinfo = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

describe('per-image resolv.conf and hosts for Linux programs', { skip }, () => {
  const lab = new Lab(P);
  let madeEtc = false;
  let hostResolv = '';
  let hostHosts = '';
  let mountsBefore = '';

  before(async () => {
    hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    hostHosts = readFileSync('/etc/hosts', 'utf8');
    mountsBefore = mountinfo();
    madeEtc = !existsSync(ETC);
    mkdirSync(DIR, { recursive: true });
    writeFileSync(path.join(DIR, 'resolv.conf'), RESOLV);
    writeFileSync(path.join(DIR, 'hosts'), HOSTS);
    await lab.start();
    await lab.ok(['-c', IMAGE]);
    await lab.ok(['-c', PLAIN]);
  });

  after(async () => {
    await lab.close();
    rmSync(DIR, { recursive: true, force: true });
    if (madeEtc) rmdirSync(ETC);
  });

  test('a program in the image reads the image\'s resolv.conf and hosts', async () => {
    const r = await lab.vimage([IMAGE, 'cat', '/etc/resolv.conf']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, RESOLV);
    assert.equal(r.stderr, '');
    const h = await lab.vimage([IMAGE, 'cat', '/etc/hosts']);
    assert.equal(h.stdout, HOSTS);
    // glibc's own lookups go through the bound file.
    const g = await lab.vimage([IMAGE, 'getent', 'hosts', `${P}-www.example`]);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^10\.73\.9\.80\s+vln-www\.example/);
  });

  test('while it runs and after it exits, the host\'s files and mount table are untouched', async () => {
    const child = spawn(process.execPath, [CLI, IMAGE, 'sh', '-c', 'cat /etc/resolv.conf; sleep 2'], { env: { ...process.env, VIMAGE_SOCKET: lab.sock }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    for (let i = 0; i < 100 && out === ''; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(out, RESOLV, 'the program is running with the image\'s file');
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv, 'host resolv.conf while it runs');
    assert.equal(mountinfo(), mountsBefore, 'no mount in the host\'s namespace while it runs');
    assert.equal(await exited, 0);
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv);
    assert.equal(readFileSync('/etc/hosts', 'utf8'), hostHosts);
    assert.equal(mountinfo(), mountsBefore, 'no mount in the host\'s namespace after');
  });

  test('an image without its own files sees the host\'s, with no warning', async () => {
    const r = await lab.vimage([PLAIN, 'cat', '/etc/resolv.conf']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, hostResolv);
    assert.equal(r.stderr, '');
  });

  test('without the privilege for a mount namespace the program runs with the host\'s file and a warning', { skip: spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv (util-linux) is not installed' : false }, async () => {
    // Root without CAP_SYS_ADMIN: vimaged still lets uid 0 in, unshare(CLONE_NEWNS) fails.
    const r = spawnSync('setpriv', ['--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin', process.execPath, CLI, IMAGE, 'cat', '/etc/resolv.conf'], {
      env: { ...process.env, VIMAGE_SOCKET: lab.sock },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, hostResolv);
    assert.match(r.stderr, /vimage: warning: \/etc\/vimage\/vlnR\/resolv\.conf is not used: a private mount namespace needs root/);
    assert.match(r.stderr, /\/etc\/vimage\/vlnR\/hosts is not used/);
    assert.equal(r.stderr.trim().split('\n').length, 2, 'one line per file');
  });
});
