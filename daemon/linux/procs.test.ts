import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ManualPlatform } from '../../lib/platform.js';
import { Registry } from '../../lib/image.js';
import { silentLogger } from '../../lib/log.js';
import { decodeKept, encodeKept } from '../keep.js';
import { descendants, LinuxProcs, procStat, signalHost, supervisorCommand } from './procs.js';
import { encodeRequest, OP, PID_ROLE } from './wire.js';

const frame = (op: number, a = 0, b = 0, seq = 1): Buffer => Buffer.from(encodeRequest({ seq, op, type: 1, id: 1, addr: 0, port: 0, flags: 0, a, b, c: 0 }));

test('OP.PID frames are taken out of the supervisor\'s stream, split anywhere; the rest passes on whole', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const lp = new LinuxProcs(undefined, silentLogger);
  // This test process plays the supervisor; its child the program.
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const s = lp.open(reg.default, process.pid, process.getuid!());
  const passed: Buffer[] = [];
  const input = lp.input(s, (b) => passed.push(Buffer.from(b)));
  const bind = frame(OP.BIND, 0, 0, 7);
  const bgSup = process.ppid; // runs as us too
  const stream = Buffer.concat([bind, frame(OP.PID, child.pid!, PID_ROLE.PROGRAM, 0), frame(OP.CLOSE, 0, 0, 8), frame(OP.PID, bgSup, PID_ROLE.SUPERVISOR, 0)]);
  for (const cut of [[5, 40, 70, 100], [32], [1, 2, 3]]) {
    passed.length = 0;
    s.program = undefined;
    let at = 0;
    for (const c of [...cut, stream.length]) {
      input(stream.subarray(at, c));
      at = c;
    }
    assert.equal(s.program, child.pid);
    assert.ok(s.supervisors.has(bgSup));
    assert.deepEqual(Buffer.concat(passed), Buffer.concat([bind, frame(OP.CLOSE, 0, 0, 8)]));
  }
  // Hostile pids are ignored: nonsense, init, a process that is not the supervisor's child.
  s.program = undefined;
  input(frame(OP.PID, -5, PID_ROLE.PROGRAM, 0));
  input(frame(OP.PID, 1, PID_ROLE.PROGRAM, 0));
  input(frame(OP.PID, process.ppid, PID_ROLE.PROGRAM, 0));
  assert.equal(s.program, undefined);
  // A user's supervisor cannot claim another user's process.
  const userSession = lp.open(reg.default, 0, 54321);
  lp.input(userSession, () => {})(frame(OP.PID, process.pid, PID_ROLE.SUPERVISOR, 0));
  assert.equal(userSession.supervisors.size, 0);
  lp.close(userSession);
  lp.close(s);
  child.kill('SIGKILL');
});

test('an OP.PID frame flagged with an addr6 trailer is taken out with its trailer: what passes on stays whole frames', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const lp = new LinuxProcs(undefined, silentLogger);
  const s = lp.open(reg.default, process.pid, process.getuid!());
  const passed: Buffer[] = [];
  const input = lp.input(s, (b) => passed.push(Buffer.from(b)));
  const pid6 = Buffer.from(encodeRequest({ seq: 0, op: OP.PID, type: 1, id: 1, addr: 0, port: 0, flags: 0, a: -5, b: PID_ROLE.PROGRAM, c: 0, a6: { addr: new Uint8Array(16).fill(0xee), scope: 7, flow: 0 } }));
  const close = frame(OP.CLOSE, 0, 0, 8);
  input(Buffer.concat([pid6, close]));
  assert.deepEqual(Buffer.concat(passed), close);
  lp.close(s);
});

test('/proc: a child and its grandchild are found from the root; kill needs root or the owner', async () => {
  const child = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  try {
    let tree = new Set<number>();
    for (let i = 0; i < 50 && tree.size < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tree = descendants([child.pid!]);
    }
    assert.equal(tree.size, 2, 'sh and its sleep');
    const st = procStat(child.pid!)!;
    assert.equal(st.ppid, process.pid);
    assert.equal(st.uid, process.getuid!());
    assert.ok(Math.abs(st.startedAt - Date.now()) < 60_000, 'start time from /proc/stat btime');
    const other = process.getuid!() === 0 ? 54321 : process.getuid!() + 1;
    assert.equal(signalHost(child.pid!, 'TERM', other), 'EPERM');
    assert.equal(procStat(child.pid!) !== undefined, true, 'still running');
    assert.equal(signalHost(child.pid!, 'KILL', process.getuid!()), 'ok');
    await new Promise((r) => child.once('exit', r));
    assert.equal(signalHost(child.pid!, 'TERM', undefined), 'ESRCH');
  } finally {
    child.kill('SIGKILL');
  }
});

test('a kept Linux program is saved as exec --linux with who, where and PATH, and read back', () => {
  const start = { uid: 1000, gid: 100, cwd: '/srv/www', path: '/usr/bin:/bin' };
  const saved = encodeKept(['python3', '-m', 'http.server', '--', 'x'], start);
  assert.deepEqual(saved, ['exec', '--linux', '--uid=1000', '--gid=100', '--cwd=/srv/www', '--path=/usr/bin:/bin', '--', 'python3', '-m', 'http.server', '--', 'x']);
  assert.deepEqual(decodeKept(saved), { argv: ['python3', '-m', 'http.server', '--', 'x'], linux: start });
  assert.deepEqual(decodeKept(['httpd', '-r', '/srv']), { argv: ['httpd', '-r', '/srv'] });
  assert.deepEqual(encodeKept(['httpd'], undefined), ['httpd']);
});

test('a background program runs as the caller (setpriv) only when the daemon is root and the caller is not', () => {
  const c = supervisorCommand('/sup', '/run/s', 'R', ['python3', '-V'], { uid: 4242, gid: 4242, cwd: '/nonexistent-vlp', path: '/bin' });
  assert.equal(c.file, '/sup');
  assert.equal(c.cwd, '/');
  assert.equal(c.env['PATH'], '/bin');
  if (process.getuid!() === 0) {
    assert.deepEqual(c.args.slice(0, 2), ['/run/s', 'R']);
    assert.match(c.args[2]!, /setpriv$/);
    assert.deepEqual(c.args.slice(3), ['--reuid=4242', '--regid=4242', '--clear-groups', '--', 'python3', '-V']);
  } else {
    assert.deepEqual(c.args, ['/run/s', 'R', 'python3', '-V']);
  }
  const root = supervisorCommand('/sup', '/run/s', 'R', ['python3'], { uid: 0, gid: 0, cwd: '/', path: '/bin' });
  assert.deepEqual(root.args, ['/run/s', 'R', 'python3']);
});
