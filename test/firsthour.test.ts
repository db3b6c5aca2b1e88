/**
 * The first hour of a new user (issue 9): a TAP's host side and its image
 * interface are one link; `vimage load` with hand-written files; who may do
 * what; --json errors; the command line's help. Prefix vfh.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CLI, Lab, ensureVimageGroup, labPool, labUnavailable, sh } from './lab.js';

const P = 'vfh';
const skip = labUnavailable();

async function until(what: string, ms: number, fn: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - t0;
    if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function hostHas(ifname: string): boolean {
  return sh('ip', ['link', 'show', ifname], { allowFail: true }).code === 0;
}

describe('a TAP\'s host side and its image interface are one link', { skip }, () => {
  const { lab, closeAll } = labPool(P);
  after(closeAll);

  test('deleting the namespace that holds the host side removes the interface, its addresses and routes, and the saved state forgets it', async () => {
    const l = lab('n');
    await l.start();
    await l.ok(['-c', 'R']);
    const host = `${P}n0`;
    assert.equal((await l.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', host])).trim(), 'tap0');
    await l.ok(['R', 'ifconfig', 'tap0', 'inet', '10.77.0.1/24', 'up']);
    await l.ok(['R', 'route', 'add', '-net', '10.78.0.0/16', '10.77.0.2']);
    const ns = l.netns('a');
    l.wireHost(host, ns, '10.77.0.2/24');
    assert.match(await l.ok(['R', 'netstat', '-rn']), /10\.78/);
    sh('ip', ['netns', 'del', ns]);
    const took = await until('tap0 removed', 1500, async () => !/tap0/.test(await l.ok(['R', 'ifconfig', '-l'])));
    assert.ok(took <= 1500, `took ${took} ms`);
    assert.equal((await l.ok(['R', 'ifconfig', '-l'])).trim(), 'lo0');
    assert.doesNotMatch(await l.ok(['R', 'netstat', '-rn']), /10\.7[78]/);
    assert.doesNotMatch(await l.ok(['-l', '-v']), new RegExp(host));
    assert.match(l.daemonLog(), /host side of the TAP device is gone/);
    await until('state saved', 1000, async () => !readFileSync(path.join(l.stateDir, 'state.json'), 'utf8').includes(host));
    // A restart does not bring it back, neither in the image nor on the host.
    const d = l.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
    await l.start();
    assert.equal((await l.ok(['R', 'ifconfig', '-l'])).trim(), 'lo0');
    assert.equal(hostHas(host), false);
  });

  test('`ip link del` of the host side removes the interface within a second', async () => {
    const l = lab('d');
    await l.start();
    const host = `${P}d0`;
    const name = (await l.ok(['default', 'ifconfig', 'tap', 'create', 'hostname', host])).trim();
    await l.ok(['default', 'ifconfig', name, 'inet', '10.79.0.1/24', 'up']);
    sh('ip', ['link', 'del', host]);
    await until(`${name} removed`, 1500, async () => !new RegExp(name).test(await l.ok(['default', 'ifconfig', '-l'])));
    assert.doesNotMatch(await l.ok(['default', 'ifconfig']), /10\.79\.0\.1/);
  });

  test('a TAP device the user made is attached to, and left on the host when the interface is destroyed, also after a restart', async () => {
    const l = lab('u');
    await l.start();
    const mine = `${P}u0`;
    const ours = `${P}u1`;
    sh('ip', ['tuntap', 'add', mine, 'mode', 'tap']);
    const a = (await l.ok(['default', 'ifconfig', 'tap', 'create', 'hostname', mine])).trim();
    const b = (await l.ok(['default', 'ifconfig', 'tap', 'create', 'hostname', ours])).trim();
    await l.ok(['default', 'ifconfig', a, 'destroy']);
    await l.ok(['default', 'ifconfig', b, 'destroy']);
    assert.equal(hostHas(mine), true, 'the user\'s device stays');
    assert.equal(hostHas(ours), false, 'the device vimage made goes');
    // Attached again, saved, restored: still the user's.
    const c = (await l.ok(['default', 'ifconfig', 'tap', 'create', 'hostname', mine])).trim();
    const d = l.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
    await l.start();
    await l.ok(['default', 'ifconfig', c, 'destroy']);
    assert.equal(hostHas(mine), true, 'the user\'s device stays after a restart too');
  });
});

describe('vimage load with a file a person wrote', { skip }, () => {
  let l: Lab;
  after(async () => {
    await l?.close();
  });

  test('a minimal file loads with defaults; a wrong one is refused whole with the path of the bad value; load converges, --merge adds', async () => {
    l = new Lab(`${P}l`);
    await l.start();
    const file = path.join(l.dir, 'lab.json');
    const doc = {
      images: [
        { name: 'L', interfaces: [{ name: 'epair0a', kind: 'epair', peer: { image: 'M', name: 'epair0b' }, inet: '10.66.0.1/24' }], routes: [{ dst: '10.67.0.0/16', gateway: '10.66.0.2' }] },
        { name: 'M', interfaces: [{ name: 'epair0b', kind: 'epair', peer: { image: 'L', name: 'epair0a' }, inet: '10.66.0.2/24' }] },
      ],
    };
    writeFileSync(file, JSON.stringify(doc));
    assert.match(await l.ok(['load', file]), /items applied/);
    const ifc = await l.ok(['L', 'ifconfig', 'epair0a']);
    assert.match(ifc, /flags=.*<UP,/);
    assert.match(ifc, /mtu 1500/);
    assert.match(ifc, /inet 10\.66\.0\.1 netmask 0xffffff00/);
    assert.match(await l.ok(['L', 'netstat', '-rn']), /10\.67\.0\.0\/16\s+10\.66\.0\.2/);

    const before = await l.ok(['-l']);
    const bad = { images: [{ name: 'N' }, { name: 'L', interfaces: [{ name: 'epair0a', kind: 'epair', peer: { image: 'M', name: 'epair0b' }, inet: '10.66.0.300/24' }] }, doc.images[1]] };
    writeFileSync(file, JSON.stringify(bad));
    const r = await l.vimage(['load', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /images\[1\]\.interfaces\[0\]\.inet: "10\.66\.0\.300\/24" is not an address/);
    assert.match(r.stderr, /nothing changed/);
    assert.doesNotMatch(r.stderr, /TypeError|failed/);
    assert.equal(await l.ok(['-l']), before, 'N was not created');

    doc.images[0]!.interfaces[0]!.inet = '10.66.0.5/24';
    writeFileSync(file, JSON.stringify(doc));
    assert.match(await l.ok(['load', '--merge', file]), /items applied/);
    assert.match(await l.ok(['L', 'ifconfig', 'epair0a']), /inet 10\.66\.0\.1 .*\n.*inet 10\.66\.0\.5 /);
    assert.match(await l.ok(['load', file]), /removed/);
    const after = await l.ok(['L', 'ifconfig', 'epair0a']);
    assert.doesNotMatch(after, /10\.66\.0\.1 /);
    assert.match(after, /inet 10\.66\.0\.5 /);
  });
});

describe('who may use vimaged: root and the vimage group, nobody else', { skip }, () => {
  let l: Lab | undefined;
  let madeGroup = false;
  before(() => {
    madeGroup = ensureVimageGroup();
  });
  after(async () => {
    await l?.close();
    if (madeGroup) sh('groupdel', ['vimage'], { allowFail: true });
  });

  test('the socket is 0660 root:vimage; a member may do everything, nobody may do nothing and is told how to get in', async () => {
    l = new Lab(`${P}p`);
    await l.start();
    chmodSync(l.dir, 0o755);
    const gid = Number(sh('getent', ['group', 'vimage']).stdout.split(':')[2]);
    const st = statSync(l.sock);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, gid);
    const as = (creds: string[], args: string[]) => spawnSync('setpriv', [...creds, process.execPath, CLI, '--socket', l!.sock, ...args], { encoding: 'utf8' });
    const member = ['--reuid=65534', '--regid=65534', `--groups=${gid}`];
    const primary = ['--reuid=65534', `--regid=${gid}`, '--clear-groups'];
    const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    for (const [args, out] of [[['-c', 'G'], /^$/], [['G', 'ifconfig', 'lo0'], /inet 127\.0\.0\.1/], [['save', '-'], /"name": "G"/], [['-l'], /"G":/]] as const) {
      const r = as(member, [...args]);
      assert.equal(r.status, 0, `member: ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, out);
    }
    assert.equal(as(primary, ['-l']).status, 0, 'vimage as the primary group counts too');
    const r = as(nobody, ['-l']);
    assert.equal(r.status, 77);
    assert.match(r.stderr, /permission denied on .*: only root and members of the vimage group may use vimaged; an administrator adds you with 'sudo usermod -aG vimage USER'/);
    chmodSync(l.sock, 0o666);
    for (const args of [['-l'], ['save', '-'], ['G', 'ifconfig']]) {
      const n = as(nobody, args);
      assert.equal(n.status, 77, `${args.join(' ')}: ${n.stderr}`);
      assert.match(n.stderr, /vimaged serves only root and members of the vimage group \(you are uid 65534\)/);
    }
    assert.match(await l.ok(['-l']), /"G":/, 'root may');
  });
});

describe('machine-readable errors and an honest HTTP API', { skip }, () => {
  let l: Lab | undefined;
  after(async () => {
    await l?.close();
  });

  test('with --json an error is one JSON object on stderr with its code, and the same exit status', async () => {
    l = new Lab(`${P}j`);
    await l.start();
    const one = (stderr: string): { error: { code: string; message: string } } => {
      const lines = stderr.split('\n').filter((x) => x !== '');
      assert.equal(lines.length, 1, stderr);
      return JSON.parse(lines[0]!) as { error: { code: string; message: string } };
    };
    const cases: Array<[string[], number, string, RegExp]> = [
      [['--json', '-d', 'nosuch'], 1, 'VIMAGE_ERR_NO_SUCH_IMAGE', /image nosuch does not exist/],
      [['--json', 'nosuch', 'ifconfig'], 1, 'VIMAGE_ERR_NO_SUCH_IMAGE', /nosuch/],
      [['--json', 'default', 'ifconfig', 'lo0', 'inet', '127.0.0.1/8', 'alias'], 1, 'VIMAGE_ERR_ADDRESS_EXISTS', /File exists/],
      [['--json', 'default', 'arp', '-d', '10.1.1.1'], 1, 'VIMAGE_ERR_NO_SUCH_ENTRY', /no such ARP entry/],
      [['--json', 'default', 'sysctl', 'net.nope=1'], 1, 'VIMAGE_ERR_COMMAND_FAILED', /unknown oid/],
      [['--json', 'default', 'route', 'frob'], 64, 'VIMAGE_ERR_USAGE', /route/],
      [['--json', '-l', 'a', 'b'], 64, 'VIMAGE_ERR_USAGE', /unexpected argument/],
      [['--json', '--bogus'], 64, 'VIMAGE_ERR_USAGE', /unknown option/],
      [['--json', 'load', '/nonexistent/x.json'], 66, 'VIMAGE_ERR_FILE', /cannot read/],
      [['--json', '--socket', '/nonexistent/s.sock', '-l'], 69, 'VIMAGE_ERR_UNAVAILABLE', /cannot reach vimaged/],
    ];
    for (const [args, status, code, msg] of cases) {
      const r = await l.vimage(args);
      assert.equal(r.code, status, `${args.join(' ')}: ${r.stderr}`);
      const e = one(r.stderr);
      assert.equal(e.error.code, code, args.join(' '));
      assert.match(e.error.message, msg);
      const plain = await l.vimage(args.filter((a) => a !== '--json'));
      assert.equal(plain.code, status, 'the same status without --json');
      assert.doesNotMatch(plain.stderr, /^\{/);
    }
    await l.ok(['-c', 'J']);
    assert.deepEqual(JSON.parse(await l.ok(['--json', 'J', 'set', 'cpu.weight=200'])), { cpu: { weight: 200, max: 100 } });
    assert.deepEqual(JSON.parse(await l.ok(['--json', 'J', 'set'])), { cpu: { weight: 200, max: 100 } });
  });

  test('a wrong method is 405 with Allow, an oversized body 413', async () => {
    const raw = (text: string): Promise<string> =>
      new Promise((resolve) => {
        let out = '';
        const c = net.connect(l!.sock, () => c.end(text));
        c.on('data', (b: Buffer) => (out += b.toString()));
        c.on('close', () => resolve(out));
        c.on('error', () => resolve(out));
      });
    const put = await raw('PUT /v1/images HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    assert.match(put, /^HTTP\/1\.1 405 /);
    assert.match(put, /allow: GET, POST/i);
    assert.match(put, /VIMAGE_ERR_METHOD_NOT_ALLOWED/);
    const del = await raw('DELETE /v1/config HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(del, /^HTTP\/1\.1 405 /);
    const big = await raw(`POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-length: 70000\r\nconnection: close\r\n\r\n${'x'.repeat(70000)}`);
    assert.match(big, /^HTTP\/1\.1 413 /);
    assert.match(big, /VIMAGE_ERR_TOO_LARGE.*larger than 65536 bytes/);
    assert.match(await raw('GET /v1/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), /^HTTP\/1\.1 404 .*[\s\S]*docs\/api\.md/);
  });

  test('every endpoint the server answers is in docs/api.md', () => {
    const doc = readFileSync(path.join(path.dirname(CLI), '../../docs/api.md'), 'utf8');
    for (const ep of ['GET /v1/version', 'GET /v1/images', 'POST /v1/images', 'GET /v1/images/NAME', 'DELETE /v1/images/NAME', 'POST /v1/images/NAME/interfaces', 'POST /v1/images/NAME/processes', 'GET /v1/images/NAME/exec', 'GET /v1/config', 'POST /v1/config']) {
      assert.ok(doc.includes(ep), ep);
    }
  });
});

describe('the command line helps', { skip }, () => {
  let l: Lab | undefined;
  after(async () => {
    await l?.close();
  });

  test('help, help CMD and --version', async () => {
    l = new Lab(`${P}h`);
    await l.start();
    const version = (JSON.parse(readFileSync(path.join(path.dirname(CLI), '../../package.json'), 'utf8')) as { version: string }).version;
    assert.equal((await l.ok(['--version'])).trim(), version);
    assert.match(await l.ok(['help']), /Usage: vimage[\s\S]*load[\s\S]*vimage help CMD/);
    assert.match(await l.ok(['help', 'load']), /Usage: vimage load \[options\] <file>[\s\S]*--merge/);
    assert.match(await l.ok(['help', 'ifconfig']), /usage: ifconfig/i);
  });

  test('a background command that fails at once reports it and exits non-zero', async () => {
    await l!.ok(['-c', 'S']);
    const r = await l!.vimage(['-b', 'S', 'httpd', '-r', '/nonexistent/www']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /httpd exited at once with status \d+/);
    assert.doesNotMatch(r.stdout, /^\[\d+\]/);
    const ok = await l!.vimage(['-b', 'S', 'httpd', '-p', '8089', '-r', '/tmp']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^\[\d+\]$/m);
  });

  test('a reader that goes away (vimage S ping | head -2) ends the client as SIGPIPE would, quietly, and stops the command', async () => {
    await l!.vimage(['-c', 'S']);
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" S ping -i 0.01 127.0.0.1 | head -2`], {
      encoding: 'utf8',
      env: { ...process.env, VIMAGE_SOCKET: l!.sock },
      timeout: 20_000,
    });
    assert.equal(r.status, 141, r.stderr);
    assert.equal(r.stdout.split('\n').filter((x) => x !== '').length, 2);
    assert.equal(r.stderr, '', 'no EPIPE trace');
    await until('the ping to stop', 5000, async () => !/ping -i/.test(await l!.ok(['S', 'ps'])));
  });

  test('arguments too long and bad create parameters get clear errors', async () => {
    const long = await l!.vimage(['default', 'ifconfig', ...Array.from({ length: 5 }, () => 'x'.repeat(4000))]);
    assert.equal(long.code, 64);
    assert.match(long.stderr, /arguments too long: .* the limit of a request is 16384/);
    assert.doesNotMatch(long.stderr, /431/);
    const one = await l!.vimage(['default', 'ifconfig', 'x'.repeat(5000)]);
    assert.match(one.stderr, /argument 2 is 5000 characters long, the limit is 4096/);
    const w = await l!.vimage(['-c', 'X', 'cpu.weight=abc']);
    assert.equal(w.code, 64);
    assert.match(w.stderr, /cpu\.weight=abc: 'abc' is not a valid cpu\.weight/);
    assert.doesNotMatch(w.stderr, /unknown oid/);
    assert.doesNotMatch(await l!.ok(['-l']), /"X":/);
    const n = await l!.vimage(['-c', 'a'.repeat(300)]);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /use 1 to 64 letters/, 'the real limit of an image name');
  });

  test('a daemon refused at start removes the pid file it wrote', async () => {
    const other = new Lab(`${P}i`);
    try {
      // Same socket as the running daemon, its own state directory: refused because the socket answers.
      const r = spawnSync(process.execPath, [path.join(path.dirname(CLI), '../daemon/main.js'), '--socket', l!.sock, '--state-dir', other.stateDir], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /another vimaged is already serving/);
      assert.equal(existsSync(path.join(other.stateDir, 'vimaged.pid')), false);
    } finally {
      await other.close();
    }
  });
});

describe('servers that come back: vimage -b --restart', { skip }, () => {
  let l: Lab | undefined;
  after(async () => {
    await l?.close();
  });

  const pids = async (lab: Lab, image: string, cmd: string): Promise<number[]> =>
    (await lab.ok([image, 'ps', 'ax'])).split('\n').filter((x) => x.includes(cmd) && !x.includes(' ps ') && !/^\s*\d+\s+\S+\s+Z/.test(x)).map((x) => Number(/^\s*(\d+)/.exec(x)?.[1])).filter((n) => n > 0);

  test('a kept command is restarted when it exits, saved, back after a daemon restart, and kill stops it for good', async () => {
    l = new Lab(`${P}k`);
    await l.start();
    await l.ok(['-c', 'W']);
    // A command that exits by itself at once: restarted after a back-off.
    assert.match(await l.ok(['-b', '--restart', 'W', 'ping', '-c', '1', '127.0.0.1']), /^\[\d+\]$/m);
    await until('ping restarted', 4000, async () => /kept command exited; restarting it/.test(l!.daemonLog()));
    // A server: saved with the image, back after a restart.
    await l.ok(['-b', '--restart', 'W', 'httpd', '-p', '8091', '-r', '/tmp']);
    const saved = JSON.parse(await l.ok(['save', '-'])) as { images: Array<{ name: string; keep?: string[][] }> };
    assert.deepEqual(saved.images.find((i) => i.name === 'W')?.keep, [['ping', '-c', '1', '127.0.0.1'], ['httpd', '-p', '8091', '-r', '/tmp']]);
    const d = l.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
    await l.start();
    await until('httpd back after the restart', 3000, async () => (await pids(l!, 'W', 'httpd')).length === 1);
    const [pid] = await pids(l, 'W', 'httpd');
    const ps = JSON.parse(await l.ok(['--json', 'W', 'ps'])) as { processes: Array<{ pid: number; kept?: boolean }> };
    assert.equal(ps.processes.find((p) => p.pid === pid)?.kept, true, 'ps --json marks a kept command');
    assert.match(await l.ok(['W', 'ps']), new RegExp(`^ +${pid} +- +Ssk +[\\d:.]+ httpd -p 8091 -r /tmp$`, 'm'), 'ps marks it with k in STAT');
    await l.ok(['W', 'kill', String(pid)]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await pids(l, 'W', 'httpd'), [], 'kill stops it for good');
    const after = JSON.parse(await l.ok(['save', '-'])) as { images: Array<{ name: string; keep?: string[][] }> };
    assert.deepEqual(after.images.find((i) => i.name === 'W')?.keep, [['ping', '-c', '1', '127.0.0.1']]);
    const bad = await l.vimage(['-b', '--restart', 'W', 'httpd', '-r', '/nonexistent']);
    assert.notEqual(bad.code, 0);
    const again = JSON.parse(await l.ok(['save', '-'])) as { images: Array<{ name: string; keep?: string[][] }> };
    assert.equal(again.images.find((i) => i.name === 'W')?.keep?.length, 1, 'a command that fails at once is not kept');
  });
});

describe('the README tear-down leaves nothing behind', { skip }, () => {
  let l: Lab | undefined;
  after(async () => {
    await l?.close();
  });

  test('after -d S, -d R, destroying the epair and deleting the namespaces: no host device, no namespace, lo0 only', async () => {
    l = new Lab(`${P}t`);
    await l.start();
    const [hA, hB] = [`${P}tA`, `${P}tB`];
    const A = l.netns('A');
    const B = l.netns('B');
    await l.ok(['-c', 'R']);
    await l.ok(['-c', 'S']);
    await l.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', hA]);
    await l.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', hB]);
    l.wireHost(hA, A, '10.0.1.2/24');
    l.wireHost(hB, B, '10.0.2.2/24');
    await l.ok(['R', 'ifconfig', 'tap0', 'inet', '10.0.1.1/24', 'up']);
    await l.ok(['R', 'ifconfig', 'tap1', 'inet', '10.0.2.1/24', 'up']);
    await l.ok(['R', 'ifconfig', 'epair', 'create']);
    await l.ok(['R', 'ifconfig', 'epair0b', 'vnet', 'S']);
    // the tear-down, as the README has it
    await l.ok(['-d', 'S']);
    await l.ok(['-d', 'R']);
    await l.ok(['default', 'ifconfig', 'epair0a', 'destroy']);
    sh('ip', ['netns', 'del', A]);
    sh('ip', ['netns', 'del', B]);
    await until('nothing left in the default image', 1500, async () => (await l!.ok(['default', 'ifconfig', '-l'])).trim() === 'lo0');
    assert.doesNotMatch(sh('ip', ['-br', 'link']).stdout, new RegExp(`${P}t`));
    assert.doesNotMatch(sh('ip', ['netns']).stdout, new RegExp(`${P}t`));
    assert.doesNotMatch(await l.ok(['-l', '-v']), /tap\d|epair/);
  });
});
