import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../lib/log.js';
import { Cgroups, dirName, findLayout, ownCgroup, parsePids, quotaOf, sharesOf } from './cgroup.js';

const V1_SPLIT = `tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;

test('findLayout: v2 when its root offers cpu, else v1 cpu with cpuacct beside or with it, else nothing', () => {
  assert.deepEqual(findLayout(V1_SPLIT, () => 'hugetlb'), { kind: 'v1', cpu: '/sys/fs/cgroup/cpu', acct: '/sys/fs/cgroup/cpuacct' });
  assert.deepEqual(findLayout(V1_SPLIT, (d) => (d === '/sys/fs/cgroup/unified' ? 'cpuset cpu io memory' : '')), {
    kind: 'v2',
    cpu: '/sys/fs/cgroup/unified',
    acct: '/sys/fs/cgroup/unified',
  });
  const comounted = 'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n';
  assert.deepEqual(findLayout(comounted, () => ''), { kind: 'v1', cpu: '/sys/fs/cgroup/cpu,cpuacct', acct: '/sys/fs/cgroup/cpu,cpuacct' });
  assert.equal(findLayout('proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n', () => 'memory pids'), undefined);
  assert.equal(findLayout('', () => ''), undefined);
});

test('parameters: weight 100 is 1024 shares, cpu.max 100 is no cap, P% is P ms per 100 ms', () => {
  assert.equal(sharesOf(100), 1024);
  assert.equal(sharesOf(300), 3072);
  assert.equal(sharesOf(1), 10);
  assert.equal(sharesOf(10000), 102400);
  assert.equal(quotaOf(100), -1);
  assert.equal(quotaOf(50), 50000);
  assert.equal(quotaOf(1), 1000);
});

test('an image name becomes a directory name that cannot clash with cgroup files or escape', () => {
  assert.equal(dirName('R'), 'i-R');
  assert.equal(dirName('cpu.shares'), 'i-cpu%2eshares');
  assert.equal(dirName('../x'), 'i-%2e%2e%2fx');
  assert.deepEqual(parsePids('12\n34\n\n'), [12, 34]);
  assert.deepEqual(parsePids(undefined), []);
});

test('Cgroups (v1 layout over a scratch tree): made with the parameters, followed, processes added, CPU time read', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vlp-cg-'));
  try {
    const cpu = path.join(root, 'cpu');
    const acct = path.join(root, 'cpuacct');
    mkdirSync(cpu);
    mkdirSync(acct);
    const cg = new Cgroups({ kind: 'v1', cpu, acct }, silentLogger, 4242, () => false);
    const dirs = cg.ensure('R', 300, 50)!;
    assert.deepEqual(dirs, [path.join(cpu, 'vimage/d4242/i-R'), path.join(acct, 'vimage/d4242/i-R')]);
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.shares'), 'utf8'), '3072');
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.cfs_quota_us'), 'utf8'), '50000');
    cg.update('R', 100, 100);
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.shares'), 'utf8'), '1024');
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.cfs_quota_us'), 'utf8'), '-1');
    assert.equal(cg.add('R', 777), true);
    assert.equal(readFileSync(path.join(dirs[1]!, 'cgroup.procs'), 'utf8'), '777');
    assert.deepEqual(cg.pids('R'), [777]);
    assert.equal(cg.add('nope', 1), false);
    assert.equal(cg.pids('nope'), undefined);
    writeFileSync(path.join(dirs[1]!, 'cpuacct.usage'), '2500000000\n');
    assert.equal(cg.usageMs('R'), 2500);
    assert.equal(cg.usageMs('nope'), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('leftovers: a gone daemon\'s directory is removed at start, a live one\'s is left alone', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vlp-cg-'));
  try {
    const cpu = path.join(root, 'cpu');
    mkdirSync(path.join(cpu, 'vimage/d111/i-A'), { recursive: true });
    mkdirSync(path.join(cpu, 'vimage/d222/i-B'), { recursive: true });
    const cg = new Cgroups({ kind: 'v1', cpu, acct: cpu }, silentLogger, 333, (pid) => pid === 222);
    cg.cleanLeftovers();
    assert.equal(existsSync(path.join(cpu, 'vimage/d111')), false);
    assert.equal(existsSync(path.join(cpu, 'vimage/d222/i-B')), true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('without a cpu controller nothing is made and nothing is claimed', () => {
  const cg = new Cgroups(undefined, silentLogger);
  assert.equal(cg.available, false);
  assert.equal(cg.ensure('R', 100, 100), undefined);
  assert.equal(cg.usageMs('R'), undefined);
  cg.cleanLeftovers();
});

test('a cgroup that cannot be made turns cgroups off, once, and programs go on without', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vlp-cg-'));
  try {
    const file = path.join(root, 'not-a-dir');
    writeFileSync(file, '');
    let warned = 0;
    const log = { ...silentLogger, warn: () => void warned++, child: () => log };
    const cg = new Cgroups({ kind: 'v1', cpu: file, acct: file }, log, 1, () => false);
    assert.equal(cg.ensure('R', 100, 100), undefined);
    assert.equal(cg.ensure('S', 100, 100), undefined);
    assert.equal(warned, 1);
    assert.equal(cg.available, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Cgroups (v2 layout over a scratch tree): cpu enabled on the way down, cpu.weight and cpu.max written, usage_usec read', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vlp-cg-'));
  try {
    const cg = new Cgroups({ kind: 'v2', cpu: root, acct: root }, silentLogger, 7, () => false);
    const dirs = cg.ensure('R', 250, 30)!;
    assert.deepEqual(dirs, [path.join(root, 'vimage/d7/i-R')]);
    for (const d of [root, path.join(root, 'vimage'), path.join(root, 'vimage/d7')]) assert.equal(readFileSync(path.join(d, 'cgroup.subtree_control'), 'utf8'), '+cpu', d);
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.weight'), 'utf8'), '250');
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.max'), 'utf8'), '30000 100000');
    cg.update('R', 250, 100);
    assert.equal(readFileSync(path.join(dirs[0]!, 'cpu.max'), 'utf8'), 'max 100000');
    writeFileSync(path.join(dirs[0]!, 'cpu.stat'), 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n');
    assert.equal(cg.usageMs('R'), 1500);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('ownCgroup reads the daemon\'s cgroup for a v1 controller or the unified hierarchy from /proc/self/cgroup', () => {
  const text = '12:cpu,cpuacct:/system.slice/vimaged.service\n1:name=systemd:/system.slice/vimaged.service\n0::/system.slice/vimaged.service\n';
  assert.equal(ownCgroup(text, 'v1', 'cpu'), '/system.slice/vimaged.service');
  assert.equal(ownCgroup(text, 'v1', 'cpuacct'), '/system.slice/vimaged.service');
  assert.equal(ownCgroup(text, 'v2', 'cpu'), '/system.slice/vimaged.service');
  assert.equal(ownCgroup('3:cpu:/a\n2:cpuacct:/b\n', 'v1', 'cpuacct'), '/b');
  assert.equal(ownCgroup('1:name=systemd:/x\n', 'v1', 'cpu'), undefined);
  assert.equal(ownCgroup('garbage\n', 'v2', 'cpu'), undefined);
});

test('delegated (v2 over a scratch tree): the daemon moves into OWN/daemon, images sit beside it, leftovers in OWN are removed, OWN stays', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vlp-cg-'));
  try {
    const own = path.join(root, 'system.slice/vimaged.service');
    mkdirSync(path.join(own, 'i-old'), { recursive: true });
    const cg = new Cgroups({ kind: 'v2', cpu: root, acct: root }, silentLogger, 55, () => true, [own, own]);
    cg.enterDaemonLeaf();
    assert.equal(readFileSync(path.join(own, 'daemon/cgroup.procs'), 'utf8'), '55');
    cg.cleanLeftovers();
    assert.equal(existsSync(path.join(own, 'i-old')), false, 'a leftover image group is removed');
    assert.equal(existsSync(path.join(own, 'daemon')), true, 'the daemon\'s own leaf stays');
    const dirs = cg.ensure('R', 200, 100)!;
    assert.deepEqual(dirs, [path.join(own, 'i-R')]);
    assert.equal(readFileSync(path.join(own, 'cgroup.subtree_control'), 'utf8'), '+cpu', 'cpu enabled in OWN only');
    assert.equal(existsSync(path.join(root, 'cgroup.subtree_control')), false, 'nothing written above OWN');
    assert.equal(existsSync(path.join(root, 'vimage')), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
