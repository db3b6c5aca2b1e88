/**
 * Linux programs as in-image processes: `vimage -b` runs them under the
 * daemon, `ps` lists them (and foreground ones) by host pid, `kill` stops
 * them, `--restart` keeps them across a daemon restart, destroying the
 * image kills their process trees, and each image's cgroup follows its
 * cpu.weight and cpu.max and counts their CPU time in `vimage -l -v`.
 *
 *   host A (10.74.1.2) --tap-- R (10.74.1.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findLayout, tryRmdir } from '../daemon/linux/cgroup.js';
import { CLI, Lab, ensureVimageGroup, labUnavailable, sh, until } from './lab.js';

const P = 'vlp'; // prefix of every namespace, host device and temporary directory this file makes
const HOST = '10.74.1.2';
const IMG = '10.74.1.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');
/** Arguments that mark this file's programs, so that cleanup finds them and nothing else. */
const MARK = ['4711', '4712', '4713', '4714', '4715'];

function missing(): string | undefined {
  for (const t of ['curl', 'python3', 'setpriv']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed`;
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();
const layout = findLayout(readFileSync('/proc/mounts', 'utf8'));


function alive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** ps lines as [pid, stat, command]. */
function psRows(out: string): Array<[number, string, string]> {
  return out
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^\s*(\d+)\s+\S+\s+(\S+)\s+\S+\s+(.*)$/.exec(l)!;
      return [Number(m[1]), m[2]!, m[3]!];
    });
}

/** The cgroup directories of image `image` of the daemon with pid `dpid`: [cpu, cpuacct]. */
function cgDirs(dpid: number, image: string): string[] {
  if (layout === undefined) return [];
  return [...new Set([layout.cpu, layout.acct])].map((r) => path.join(r, 'vimage', `d${dpid}`, `i-${image}`));
}

describe('Linux programs as in-image processes', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  const daemonPids: number[] = [];

  const startDaemon = async (): Promise<void> => {
    await lab.start();
    daemonPids.push(lab.daemonProcess!.pid!);
  };
  const stopDaemon = async (): Promise<void> => {
    const d = lab.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
  };
  const dpid = (): number => lab.daemonProcess!.pid!;

  before(async () => {
    await startDaemon();
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
  });

  after(async () => {
    await lab.close();
    // Whatever a failed test left: our marked programs, and our daemons' cgroups.
    for (const n of readdirSync('/proc')) {
      if (!/^\d+$/.test(n)) continue;
      const c = cmdline(Number(n));
      if (MARK.some((m) => c.includes(m)) && (c.includes('sleep') || c.includes('python3') || c.includes('vimage-supervisor'))) {
        try {
          process.kill(Number(n), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (layout !== undefined) {
      for (const root of new Set([layout.cpu, layout.acct])) {
        for (const d of daemonPids) {
          const home = path.join(root, 'vimage', `d${d}`);
          if (!existsSync(home)) continue;
          for (const sub of readdirSync(home, { withFileTypes: true })) if (sub.isDirectory()) await until(`rmdir ${sub.name}`, () => tryRmdir(path.join(home, sub.name)), 3000).catch(() => {});
          tryRmdir(home);
        }
        tryRmdir(path.join(root, 'vimage'));
      }
    }
  });

  test('vimage -b runs python3 -m http.server in the image: a Linux host reaches it, ps lists its pid, logs has its output, kill stops it', async () => {
    const r = await lab.vimage(['-b', 'R', 'python3', '-u', '-m', 'http.server', '18001', '--bind', '0.0.0.0']);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(/^\[(\d+)\]$/.exec(r.stdout.trim())?.[1]);
    assert.ok(pid > 1, r.stdout);
    assert.match(cmdline(pid), /python3 -u -m http\.server 18001/, 'the pid is the program\'s host pid');
    await until('the server to answer', () => lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${IMG}:18001/`], { allowFail: true }).code === 0);
    const page = lab.inNs(A, ['curl', '-sS', '-m', '5', `http://${IMG}:18001/`]);
    assert.match(page.stdout, /Directory listing/);
    const ps = psRows(await lab.ok(['R', 'ps']));
    const row = ps.find(([p]) => p === pid);
    assert.ok(row !== undefined, `ps lists ${pid}: ${JSON.stringify(ps)}`);
    assert.equal(row[1], 'Ss');
    assert.equal(row[2], 'python3 -u -m http.server 18001 --bind 0.0.0.0');
    await until('the request in its log', async () => new RegExp(`${HOST.replace(/\./g, '\\.')} - - .*"GET / HTTP/1.1" 200`).test(await lab.ok(['R', 'logs', String(pid)])));
    assert.equal((await lab.vimage(['R', 'kill', String(pid)])).code, 0);
    await until('the program to exit', () => !alive(pid));
    await until('ps to show it exited', async () => /<defunct> \(python3 .*exit 143\)/.test(await lab.ok(['R', 'ps'])));
    assert.notEqual(lab.inNs(A, ['curl', '-s', '-m', '2', `http://${IMG}:18001/`], { allowFail: true }).code, 0);
    const again = await lab.vimage(['R', 'kill', String(pid)]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`kill: ${pid}: No such process`));
  });

  test('vimage -b with a program that does not exist fails at once, as a bad built-in does', async () => {
    const r = await lab.vimage(['-b', 'R', 'vlp-no-such-program', '4711']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /^vimage: vlp-no-such-program: command not found; commands in an image: .*; nor is it a program on your PATH\n$/);
    const p = await lab.vimage(['-b', 'R', '/nonexistent/vlp-prog']);
    assert.equal(p.code, 127);
    assert.match(p.stderr, /vimage: \/nonexistent\/vlp-prog: command not found/);
    // On the caller's PATH but not runnable by the daemon's supervisor: the early failure is reported with its status.
    const q = await lab.vimage(['-b', 'R', 'sh', '-c', 'echo vlp-said-this >&2; exit 3']);
    assert.equal(q.code, 1);
    assert.match(q.stderr, /sh exited at once with status 3: vlp-said-this/);
    const ps = psRows(await lab.ok(['R', 'ps']));
    assert.equal(ps.filter(([, st]) => !st.startsWith('Z')).length, 1, 'only ps itself runs');
  });

  test('a foreground program shows in ps from another client, with its child; kill works; destroying the image kills the whole tree', async () => {
    await lab.ok(['-c', 'F']);
    const fg = spawn(process.execPath, [CLI, 'F', 'sh', '-c', 'sleep 4712 & wait'], { env: { ...process.env, VIMAGE_SOCKET: lab.sock }, stdio: 'ignore' });
    const fgExit = new Promise<number | null>((r) => fg.once('exit', (code, sig) => r(code ?? (sig === null ? null : 128))));
    const fg2 = spawn(process.execPath, [CLI, 'F', 'sleep', '4713'], { env: { ...process.env, VIMAGE_SOCKET: lab.sock }, stdio: 'ignore' });
    const fg2Exit = new Promise<number | null>((r) => fg2.once('exit', (code) => r(code)));
    try {
      let rows: Array<[number, string, string]> = [];
      await until('ps to list the programs', async () => {
        rows = psRows(await lab.ok(['F', 'ps']));
        return rows.some(([, , c]) => c === 'sleep 4712') && rows.some(([, , c]) => c === 'sh -c sleep 4712 & wait') && rows.some(([, , c]) => c === 'sleep 4713');
      });
      const sh = rows.find(([, , c]) => c.startsWith('sh -c'))![0];
      const sleep = rows.find(([, , c]) => c === 'sleep 4712')![0];
      const sleep2 = rows.find(([, , c]) => c === 'sleep 4713')![0];
      assert.match(cmdline(sh), /^sh -c sleep 4712 & wait$/);
      assert.equal(cmdline(sleep), 'sleep 4712');
      for (const [, st] of rows.filter(([p]) => p === sh || p === sleep)) assert.equal(st, 'S+', 'in the foreground of a terminal');
      // The image's process count includes them (ps's own 1 + 3).
      const summary = JSON.parse(await lab.ok(['--json', '-l', 'F'])) as { processes: number };
      assert.ok(summary.processes >= 3, JSON.stringify(summary));
      // kill PID on a foreground program: the CLI sees its status.
      assert.equal((await lab.vimage(['F', 'kill', '-KILL', String(sleep2)])).code, 0);
      assert.equal(await fg2Exit, 137);
      // Not an image's process: refused.
      const other = await lab.vimage(['F', 'kill', String(process.pid)]);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /No such process/);
      await lab.ok(['-d', 'F']);
      assert.equal(alive(sh), false, 'sh is gone once destroy returns');
      assert.equal(alive(sleep), false, 'its child too');
      assert.notEqual(await fgExit, 0);
    } finally {
      fg.kill('SIGKILL');
      fg2.kill('SIGKILL');
      await lab.vimage(['-d', 'F']);
    }
  });

  test('each image has a cgroup for its programs that follows cpu.weight and cpu.max, and is gone after destroy', { skip: layout === undefined ? 'no cgroup cpu controller on this machine' : false }, async () => {
    await lab.ok(['-c', 'W', 'cpu.weight=300']);
    try {
      const r = await lab.ok(['-b', 'W', 'sleep', '4714']);
      const pid = Number(/\[(\d+)\]/.exec(r)![1]);
      const dirs = cgDirs(dpid(), 'W');
      for (const d of dirs) assert.ok(parsePidsOf(d).includes(pid), `${pid} in ${d}`);
      const cpu = dirs[0]!;
      if (layout!.kind === 'v1') {
        assert.equal(readFileSync(path.join(cpu, 'cpu.shares'), 'utf8').trim(), '3072');
        assert.equal(readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '-1');
        await lab.ok(['W', 'set', 'cpu.weight=50', 'cpu.max=20']);
        assert.equal(readFileSync(path.join(cpu, 'cpu.shares'), 'utf8').trim(), '512');
        assert.equal(readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '20000');
        assert.equal(readFileSync(path.join(cpu, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      } else {
        assert.equal(readFileSync(path.join(cpu, 'cpu.weight'), 'utf8').trim(), '300');
        await lab.ok(['W', 'set', 'cpu.weight=50', 'cpu.max=20']);
        assert.equal(readFileSync(path.join(cpu, 'cpu.weight'), 'utf8').trim(), '50');
        assert.equal(readFileSync(path.join(cpu, 'cpu.max'), 'utf8').trim(), '20000 100000');
      }
      await lab.ok(['-d', 'W']);
      assert.equal(alive(pid), false);
      for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
    } finally {
      await lab.vimage(['-d', 'W']);
    }
  });

  test('a CPU-burning program\'s time shows in vimage -l -v', { skip: layout === undefined ? 'no cgroup cpu controller on this machine' : false }, async () => {
    await lab.ok(['-c', 'B']);
    try {
      const before = JSON.parse(await lab.ok(['--json', '-l', '-v', 'B'])) as { cpuMs: number; procCpuMs: number };
      assert.ok(before.cpuMs < 300, JSON.stringify(before));
      const r = await lab.ok(['-b', 'B', 'python3', '-c', 'import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\ntime.sleep(60)', '4711']);
      const pid = Number(/\[(\d+)\]/.exec(r)![1]);
      // utime + stime, in ticks of 10 ms
      const ticks = (): number => {
        const f = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
        return Number(f[11]) + Number(f[12]);
      };
      await until('a second of CPU burnt', () => ticks() >= 100, 20_000);
      const s = JSON.parse(await lab.ok(['--json', '-l', '-v', 'B'])) as { cpuMs: number; procCpuMs: number };
      assert.ok(s.procCpuMs >= 1000 && s.cpuMs >= s.procCpuMs, JSON.stringify(s));
      const text = await lab.ok(['-l', '-v', 'B']);
      const m = /CPU time: ([\d.]+) s \(processes ([\d.]+) s\)/.exec(text);
      assert.ok(m !== null && Number(m[2]) >= 1.0, text);
    } finally {
      await lab.vimage(['-d', 'B']);
    }
  });

  test('vimage -b --restart keeps a Linux program across a daemon restart, as the same user, until kill', async () => {
    const r = await lab.vimage(['-b', '--restart', 'R', 'python3', '-m', 'http.server', '18002']);
    assert.equal(r.code, 0, r.stderr);
    const first = Number(/\[(\d+)\]/.exec(r.stdout)![1]);
    await until('the kept server', () => lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${IMG}:18002/`], { allowFail: true }).code === 0);
    const saved = JSON.parse(readFileSync(path.join(lab.stateDir, 'state.json'), 'utf8')) as unknown;
    assert.match(JSON.stringify(saved), /"keep":\[\["exec","--linux","--uid=0","--gid=0","--cwd=[^"]+",.*"--","python3","-m","http.server","18002"\]\]/);
    const oldDaemon = dpid();
    await stopDaemon();
    assert.equal(alive(first), false, 'stopping the daemon stops the program');
    for (const d of cgDirs(oldDaemon, 'R')) assert.equal(existsSync(d), false, `${d} removed at shutdown`);
    await startDaemon();
    let second = 0;
    await until('the program back', async () => {
      const row = psRows(await lab.ok(['R', 'ps'])).find(([, , c]) => c === 'python3 -m http.server 18002');
      second = row?.[0] ?? 0;
      return second > 0;
    });
    assert.notEqual(second, first);
    assert.match(cmdline(second), /python3 -m http\.server 18002/);
    await until('the kept server again', () => lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${IMG}:18002/`], { allowFail: true }).code === 0);
    // killall by name stops it for good: not restarted, not saved.
    assert.equal((await lab.vimage(['R', 'killall', 'python3'])).code, 0);
    await until('it to stop', () => !alive(second));
    await new Promise((r) => setTimeout(r, 1500)); // past the first restart back-off
    assert.ok(!psRows(await lab.ok(['R', 'ps'])).some(([, st, c]) => !st.startsWith('Z') && c.includes('http.server')));
    await until('the state without it', () => !readFileSync(path.join(lab.stateDir, 'state.json'), 'utf8').includes('18002'));
  });

  test('a daemon that starts after a crash removes the cgroups the dead one left and kills what ran in them', { skip: layout === undefined ? 'no cgroup cpu controller on this machine' : false }, async () => {
    const r = await lab.ok(['-b', 'R', 'sleep', '4713']);
    const pid = Number(/\[(\d+)\]/.exec(r)![1]);
    const dead = dpid();
    const dirs = cgDirs(dead, 'R');
    for (const d of dirs) assert.ok(existsSync(d));
    const d = lab.daemonProcess!;
    const exited = new Promise<void>((res) => d.once('exit', () => res()));
    d.kill('SIGKILL');
    await exited;
    assert.equal(alive(pid), true, 'the program outlives a crashed daemon');
    await startDaemon();
    await until('the orphan to be killed', () => !alive(pid), 5000);
    for (const dir of dirs) assert.equal(existsSync(path.dirname(dir)), false, `${path.dirname(dir)} removed`);
    const said = new RegExp(`"cgroup":"[^"]*/vimage/d${dead}".*"removed the cgroup a vimaged that is gone left behind"`);
    await until('the daemon to say so', () => said.test(lab.daemonLog()), 5000);
  });
});

describe('Linux programs of a member of the vimage group', { skip }, () => {
  let l: Lab | undefined;
  let madeGroup = false;
  const pids: number[] = [];
  before(() => {
    madeGroup = ensureVimageGroup();
  });
  after(async () => {
    await l?.close();
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (madeGroup) sh('groupdel', ['vimage'], { allowFail: true });
  });

  test('run as the caller: a member\'s background program has the member\'s uid; kill needs root or the owner', async () => {
    l = new Lab(`${P}u`);
    await l.start();
    chmodSync(l.dir, 0o755);
    const gid = Number(sh('getent', ['group', 'vimage']).stdout.split(':')[2]);
    const member = ['--reuid=65534', '--regid=65534', `--groups=${gid}`];
    const as = (args: string[]) => spawnSync('setpriv', [...member, process.execPath, CLI, '--socket', l!.sock, ...args], { encoding: 'utf8', cwd: '/' });
    await l.ok(['-c', 'U']);
    const mine = as(['-b', 'U', 'sleep', '4711']);
    assert.equal(mine.status, 0, mine.stderr);
    const memberPid = Number(/\[(\d+)\]/.exec(mine.stdout)![1]);
    pids.push(memberPid);
    assert.match(readFileSync(`/proc/${memberPid}/status`, 'utf8'), /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, 'runs as the member');
    const rootPid = Number(/\[(\d+)\]/.exec(await l.ok(['-b', 'U', 'sleep', '4712']))![1]);
    pids.push(rootPid);
    assert.match(readFileSync(`/proc/${rootPid}/status`, 'utf8'), /^Uid:\s+0\s/m);
    const ps = as(['U', 'ps', '-u']);
    assert.match(ps.stdout, new RegExp(`^\\S+\\s+${memberPid} .* sleep 4711$`, 'm'));
    assert.match(ps.stdout, new RegExp(`^root\\s+${rootPid} .* sleep 4712$`, 'm'));
    const denied = as(['U', 'kill', String(rootPid)]);
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, new RegExp(`kill: ${rootPid}: Operation not permitted`));
    assert.equal(alive(rootPid), true);
    assert.equal(as(['U', 'kill', String(memberPid)]).status, 0, 'the owner may');
    await until('the member\'s program to stop', () => !alive(memberPid));
    assert.equal((await l.vimage(['U', 'kill', String(rootPid)])).code, 0, 'root may');
    await until('root\'s program to stop', () => !alive(rootPid));
  });
});

function parsePidsOf(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number);
  } catch {
    return [];
  }
}


describe('vimaged --cgroup delegated (as the systemd unit runs it, with Delegate=yes)', { skip: skip || (layout === undefined ? 'no cgroup cpu controller on this machine' : false) }, () => {
  // A cgroup standing in for the one systemd gives the service: the daemon is started in it.
  const owns = layout === undefined ? [] : [...new Set([layout.cpu, layout.acct])].map((r) => path.join(r, `${P}-svc`));
  const lab = new Lab(`${P}d`);

  before(async () => {
    for (const o of owns) mkdirSync(o, { recursive: true });
    const enter = owns.map((o) => `echo $$ > ${o}/cgroup.procs`).join(' && ');
    await lab.start(['--cgroup', 'delegated'], {}, ['sh', '-c', `${enter} && exec "$@"`, 'sh']);
  });

  after(async () => {
    await lab.close();
    for (const o of owns) {
      for (const sub of existsSync(o) ? readdirSync(o, { withFileTypes: true }) : []) {
        if (!sub.isDirectory()) continue;
        for (const pid of parsePidsOf(path.join(o, sub.name))) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await until(`rmdir ${sub.name}`, () => tryRmdir(path.join(o, sub.name)), 3000).catch(() => {});
      }
      await until(`rmdir ${o}`, () => tryRmdir(o), 3000).catch(() => {});
    }
  });

  test('the daemon moves into OWN/daemon, an image\'s programs go into OWN/i-NAME, nothing is written outside OWN, destroy removes the group', async () => {
    const dpid = lab.daemonProcess!.pid!;
    for (const o of owns) assert.ok(parsePidsOf(path.join(o, 'daemon')).includes(dpid), `vimaged ${dpid} in ${o}/daemon`);
    await lab.ok(['-c', 'D', 'cpu.weight=200']);
    const r = await lab.ok(['-b', 'D', 'sleep', '4715']);
    const pid = Number(/\[(\d+)\]/.exec(r)![1]);
    for (const o of owns) assert.ok(parsePidsOf(path.join(o, 'i-D')).includes(pid), `${pid} in ${o}/i-D`);
    if (layout!.kind === 'v1') assert.equal(readFileSync(path.join(owns[0]!, 'i-D', 'cpu.shares'), 'utf8').trim(), '2048');
    else assert.equal(readFileSync(path.join(owns[0]!, 'i-D', 'cpu.weight'), 'utf8').trim(), '200');
    for (const r of new Set([layout!.cpu, layout!.acct])) assert.equal(existsSync(path.join(r, 'vimage', `d${dpid}`)), false, 'no shared-mode directory');
    await lab.ok(['-d', 'D']);
    assert.equal(alive(pid), false);
    for (const o of owns) await until(`${o}/i-D removed`, () => !existsSync(path.join(o, 'i-D')), 3000);
  });
});
