/**
 * vimaged as a system service: the systemd units, sd_notify, socket
 * activation, SIGHUP, the state file when it is corrupt, the guarded socket
 * and many clients at once.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { CLI, DAEMON, labPool, labUnavailable, sh } from './lab.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const P = 'vsvc';

/** `Key=value` lines of a unit file, by section. */
function unit(file: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let section = '';
  for (const raw of readFileSync(path.join(ROOT, 'systemd', file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s !== null) {
      section = s[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    m.set(key, [...(m.get(key) ?? []), line.slice(eq + 1)]);
  }
  return m;
}

describe('systemd units', () => {
  test('the service declares notify, watchdog, reload and the hardening that keeps it working', () => {
    const u = unit('vimaged.service');
    const one = (k: string): string => u.get(`Service.${k}`)?.[0] ?? '';
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'main');
    assert.equal(one('Nice'), '-10');
    assert.match(one('WatchdogSec'), /^\d+s$/);
    assert.match(one('ExecReload'), /kill -HUP \$MAINPID/);
    // Background Linux programs inherit the sandbox: they must run as from a root shell.
    assert.equal(u.get('Service.CapabilityBoundingSet'), undefined, 'root programs (nginx, sshd) need their capabilities');
    assert.equal(one('ProtectSystem'), 'full');
    assert.equal(one('StateDirectory'), 'vimage');
    assert.equal(one('RuntimeDirectory'), 'vimage');
    assert.equal(u.get('Service.ProtectHome'), undefined);
    assert.equal(u.get('Service.PrivateTmp'), undefined, 'a program serving /tmp/www must see the caller\'s /tmp');
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.deepEqual(one('RestrictAddressFamilies').split(' ').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    assert.deepEqual(one('RestrictNamespaces').split(' ').sort(), ['mnt', 'net'], 'the supervisor binds resolv.conf in a mount namespace');
    const filter = one('SystemCallFilter');
    assert.ok(filter.startsWith('~'), 'a deny-list: the supervisor needs seccomp, pidfd_getfd, process_vm_readv and mount');
    for (const g of ['@debug', '@mount', '@privileged', '@process', '@ipc']) assert.ok(!filter.includes(g), `${g} not denied`);
    // A deny-list kills the caller with SIGSYS unless an errno is named: a background program calling adjtimex(2)
    // to read the clock's state (allowed to anyone on Linux; ntpd, chronyd) must get an error, not die.
    assert.equal(one('SystemCallErrorNumber'), 'EPERM');
    // Per-image cgroups below the service's own.
    assert.equal(one('Delegate'), 'yes');
    assert.equal(one('ProtectControlGroups'), 'no');
    assert.equal(one('ReadWritePaths'), '/sys/fs/cgroup', 'ProtectControlGroups=no already keeps it writable under ProtectKernelTunables; said once more');
    assert.match(one('ExecStart'), / --cgroup delegated(\s|$)/);
    assert.equal(one('DeviceAllow'), '/dev/net/tun rw');
    assert.equal(u.get('Service.MemoryDenyWriteExecute'), undefined, 'V8 needs writable executable memory');
  });

  test('the socket unit makes /run/vimage/vimaged.sock 0660 for the vimage group', () => {
    const u = unit('vimaged.socket');
    assert.deepEqual(u.get('Socket.ListenStream'), ['/run/vimage/vimaged.sock']);
    assert.deepEqual(u.get('Socket.SocketMode'), ['0660']);
    assert.deepEqual(u.get('Socket.SocketGroup'), ['vimage']);
    assert.match(readFileSync(path.join(ROOT, 'systemd/vimage.sysusers.conf'), 'utf8'), /^g vimage -$/m);
  });

  test('installed units pass systemd-analyze verify', { skip: spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'systemd-analyze not installed' }, () => {
    const prefix = path.join('/tmp', `${P}-units-${process.pid}`);
    const r = spawnSync('bash', [path.join(ROOT, 'scripts/install-service.sh')], { env: { ...process.env, PREFIX: prefix }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const svc = readFileSync(path.join(prefix, 'etc/systemd/system/vimaged.service'), 'utf8');
    assert.match(svc, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${DAEMON} `, 'm'));
    const v = spawnSync('systemd-analyze', ['verify', path.join(prefix, 'etc/systemd/system/vimaged.service'), path.join(prefix, 'etc/systemd/system/vimaged.socket')], {
      encoding: 'utf8',
    });
    assert.equal(v.status, 0, v.stderr);
    sh('rm', ['-rf', prefix]);
  });
});

const skip = labUnavailable();

describe('vimaged as a service', { skip }, () => {
  const { lab, closeAll } = labPool(P);
  after(closeAll);

  test('tells systemd READY=1 once its socket answers, and STOPPING=1 on SIGTERM', async () => {
    const l = lab('n');
    const notifySock = path.join(l.dir, 'notify.sock');
    // A stand-in for systemd's notification socket.
    const py = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    print(s.recv(4096).decode().replace('\\n', '|'), flush=True)
`, notifySock]);
    let got = '';
    py.stdout.on('data', (c: Buffer) => (got += c.toString()));
    try {
      while (!got.includes('bound')) await new Promise((r) => setTimeout(r, 20));
      await l.start([], { NOTIFY_SOCKET: notifySock });
      for (let i = 0; i < 100 && !got.includes('READY=1'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(got, /READY=1\|STATUS=serving 1 images\|MAINPID=\d+/);
      assert.match((await l.ok(['-l'])), /"default":/);
      const d = l.daemonProcess!;
      const exited = new Promise<void>((r) => d.once('exit', () => r()));
      d.kill('SIGTERM');
      await exited;
      for (let i = 0; i < 50 && !got.includes('STOPPING=1'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(got, /STOPPING=1/);
    } finally {
      py.kill();
    }
  });

  test('runs on a socket systemd passes (socket activation)', async () => {
    const l = lab('a');
    const act = spawn('systemd-socket-activate', ['-l', l.sock, process.execPath, DAEMON, '--state-dir', l.stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    act.stdout.on('data', (c: Buffer) => (log += c.toString()));
    act.stderr.on('data', (c: Buffer) => (log += c.toString()));
    try {
      for (let i = 0; i < 100 && !existsSync(l.sock); i++) await new Promise((r) => setTimeout(r, 20));
      const r = await l.vimage(['-c', 'act']);
      assert.equal(r.code, 0, r.stderr + log);
      assert.match(await l.ok(['-l']), /"act":/);
      assert.match(log, /"socket":"fd 3"/);
    } finally {
      act.kill('SIGTERM');
      await new Promise((r) => act.once('exit', r));
    }
  });

  test('SIGHUP re-reads the log level from the settings file; a bad file is refused at start', async () => {
    const l = lab('h');
    const conf = path.join(l.dir, 'vimaged.json');
    writeFileSync(conf, JSON.stringify({ logLevel: 'info' }));
    await l.start(['--config', conf]);
    writeFileSync(conf, JSON.stringify({ logLevel: 'debug' }));
    l.daemonProcess!.kill('SIGHUP');
    for (let i = 0; i < 100 && !l.daemonLog().includes('settings reloaded'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(l.daemonLog(), /"level":"debug".*"msg":"settings reloaded"|"msg":"settings reloaded"/);
    await l.ok(['default', 'ifconfig', '-l']);
    assert.match(l.daemonLog(), /"level":20,.*"msg":"process started"/, 'debug lines appear after the reload');
    writeFileSync(conf, JSON.stringify({ logLevel: 'loud' }));
    const bad = spawnSync(process.execPath, [DAEMON, '--socket', path.join(l.dir, 'x.sock'), '--config', conf], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /logLevel must be one of/);
  });

  test('a corrupt state file is kept aside with a clear log line, and the previous good state is restored', async () => {
    const l = lab('c');
    await l.start();
    await l.ok(['-c', 'one']);
    await l.ok(['-c', 'two']);
    const d = l.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGKILL');
    await exited;
    writeFileSync(path.join(l.stateDir, 'state.json'), '{"version":1,"images":[{"na');
    await l.start();
    const list = await l.ok(['-l']);
    assert.match(list, /"one":/, 'the previous good state came back');
    assert.ok(readdirSync(l.stateDir).some((f) => f.startsWith('state.json.corrupt-')), 'the corrupt file is kept');
    assert.match(l.daemonLog(), /state file is unreadable or corrupt; kept aside/);
  });

  test('vimage save and load export and import the whole configuration', async () => {
    const l = lab('s');
    await l.start();
    await l.ok(['-c', 'R']);
    await l.ok(['R', 'ifconfig', 'epair', 'create']);
    await l.ok(['R', 'ifconfig', 'epair0a', 'inet', '10.5.0.1/24', 'up']);
    await l.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    const file = path.join(l.dir, 'net.json');
    await l.ok(['save', file]);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { images: Array<{ name: string; sysctl: Record<string, number> }> };
    assert.deepEqual(doc.images.find((i) => i.name === 'R')?.sysctl, { 'net.inet.ip.forwarding': 1 });
    await l.ok(['-d', 'R']);
    const out = await l.ok(['load', file]);
    assert.match(out, /items applied/);
    assert.match(await l.ok(['R', 'ifconfig', 'epair0a']), /inet 10\.5\.0\.1 netmask 0xffffff00/);
    writeFileSync(file, '{"version": 7, "images": []}');
    const bad = await l.vimage(['load', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unsupported configuration version 7/);
  });

  test('a client that is neither root nor in the vimage group is refused everything, reads included, even on a widened socket', async () => {
    const l = lab('p');
    await l.start();
    chmodSync(l.dir, 0o755);
    chmodSync(l.sock, 0o666); // let the unprivileged user reach the daemon: the check is on its credentials
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--socket', l.sock, ...args], { encoding: 'utf8' });
    for (const args of [['-l'], ['save', '-'], ['-c', 'mine'], ['default', 'ifconfig']]) {
      const r = asNobody(args);
      assert.equal(r.status, 77, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /permission denied: vimaged serves only root and members of the vimage group \(you are uid 65534\)/);
      assert.equal(r.stdout, '');
    }
    assert.doesNotMatch(await l.ok(['-l']), /"mine":/);
  });

  test('hundreds of concurrent clients are all served', async () => {
    const l = lab('m');
    await l.start();
    const req = (method: string, p: string, body?: unknown): Promise<number> =>
      new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const r = http.request({ socketPath: l.sock, method, path: p, headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        r.on('error', reject);
        r.end(data);
      });
    const jobs: Array<Promise<number>> = [];
    for (let i = 0; i < 150; i++) jobs.push(req('POST', '/v1/images', { name: `c${i}` }));
    for (let i = 0; i < 150; i++) jobs.push(req('GET', '/v1/images'));
    const codes = await Promise.all(jobs);
    assert.equal(codes.filter((c) => c === 201).length, 150);
    assert.equal(codes.filter((c) => c === 200).length, 150);
    assert.equal((await l.ok(['-l'])).match(/^"c\d+":$/gm)?.length, 150);
  });

  test('malformed requests get coded errors and change nothing', async () => {
    const l = lab('b');
    await l.start();
    const raw = (text: string): Promise<string> =>
      new Promise((resolve) => {
        let out = '';
        const c = net.connect(l.sock, () => c.end(text));
        c.on('data', (b: Buffer) => (out += b.toString()));
        c.on('close', () => resolve(out));
        c.on('error', () => resolve(out));
      });
    assert.match(await raw('POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\n{"na'), /VIMAGE_ERR_BAD_REQUEST.*not valid JSON/);
    assert.match(await raw('POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n{"name": 42}'), /field 'name' must be a non-empty string/);
    assert.match(await raw(`POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-length: 70000\r\n\r\n${'x'.repeat(70000)}`), /larger than 65536 bytes/);
    assert.match(await raw('GET /v2/whatever HTTP/1.1\r\nhost: x\r\n\r\n'), /VIMAGE_ERR_NOT_FOUND/);
    assert.match(await raw('GET /v1/images/default/exec?argv=%5B1%5D HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: vimage-exec\r\n\r\n'), /argv' must be a JSON array of 1 to 256 strings/);
    assert.match(await raw('garbage\r\n\r\n'), /400|^$/);
    assert.equal((await l.ok(['-l'])).match(/^"/gm)?.length, 1, 'only the default image');
  });
});
