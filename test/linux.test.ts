/**
 * Unmodified Linux programs in an image (vimage-supervisor): curl and
 * python3 run with `vimage R PROGRAM`, every AF_INET socket theirs being a
 * socket of image R, against a Linux host in a namespace over a TAP.
 *
 *   host A (10.73.1.2) --tap-- R (10.73.1.1)
 *
 * And the failures that must stay closed: other families get an errno, and
 * an address only the host can reach is out of reach.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CLI, Lab, background, labUnavailable, until } from './lab.js';

const P = 'vlx'; // prefix of every namespace and host device this file makes
const HOST = '10.73.1.2';
const IMG = '10.73.1.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  for (const t of ['curl', 'python3']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();



describe('Linux programs in an image', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let dir = '';
  const stops: Array<() => Promise<string>> = [];

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    await lab.ok(['-c', 'R']);
    const tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    lab.wireHost(`${P}a0`, A, `${HOST}/24`);
    await lab.ok(['R', 'ifconfig', tap, 'inet', `${IMG}/24`, 'up']);
    dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
    writeFileSync(path.join(dir, 'index.html'), 'hello from host A\n');
    writeFileSync(path.join(dir, 'big'), randomBytes(4 * 1024 * 1024));
    const web = background('ip', ['netns', 'exec', A, 'python3', '-m', 'http.server', '-b', HOST, '-d', dir, '80']);
    stops.push(web.stop);
    await until('the web server on host A', () => web.out().includes('Serving HTTP') || lab.inNs(A, ['curl', '-s', '-o', '/dev/null', `http://${HOST}/`], { allowFail: true }).code === 0);
  });

  after(async () => {
    for (const s of stops) await s();
    await lab.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('curl in the image fetches from the host, from the image address', async () => {
    const r = await lab.vimage(['R', 'curl', '-sS', '-m', '10', '-w', '\n%{local_ip}\n', `http://${HOST}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `hello from host A\n\n${IMG}\n`);
  });

  test('4 MiB both ways arrive whole (backpressure through the backing sockets)', async () => {
    const want = createHash('sha256').update(readFileSync(path.join(dir, 'big'))).digest('hex');
    const down = await lab.vimage(['R', 'sh', '-c', `curl -sS -m 60 http://${HOST}/big | sha256sum`], { timeoutMs: 90_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout.split(' ')[0], want);
    const srv = background(process.execPath, [CLI, 'R', 'python3', '-m', 'http.server', '-b', IMG, '-d', dir, '8001'], { VIMAGE_SOCKET: lab.sock });
    stops.push(srv.stop);
    await until('the server in R', async () => /\.8001\s+\*\.\*\s+LISTEN/.test(await lab.ok(['R', 'netstat', '-an'])));
    const up = lab.inNs(A, ['sh', '-c', `curl -sS -m 60 http://${IMG}:8001/big | sha256sum`], { timeoutMs: 90_000 });
    assert.equal(up.stdout.split(' ')[0], want);
    await srv.stop();
  });

  test('connection refused comes back as curl knows it, at once', async () => {
    const t0 = process.hrtime.bigint();
    const r = await lab.vimage(['R', 'curl', '-sS', '-m', '10', `http://${HOST}:9/`]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(r.code, 7, r.stderr); // CURLE_COULDNT_CONNECT
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  test('a black hole times out in curl\'s own time (non-blocking connect)', async () => {
    const t0 = process.hrtime.bigint();
    const r = await lab.vimage(['R', 'curl', '-sS', '--connect-timeout', '1', 'http://10.73.1.77/']);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(r.code, 28, r.stderr); // CURLE_OPERATION_TIMEDOUT
    assert.ok(ms >= 900 && ms < 4000, `took ${ms} ms`);
  });

  test('python3 -m http.server in the image (on ::, dual stack) serves a Linux host; the image lists the listener', async () => {
    const srv = background(process.execPath, [CLI, 'R', 'python3', '-u', '-m', 'http.server', '-d', dir, '8000'], { VIMAGE_SOCKET: lab.sock });
    stops.push(srv.stop);
    await until('the listener in R', async () => /tcp46\s+0\s+0\s+\*\.8000\s+\*\.\*\s+LISTEN/.test(await lab.ok(['R', 'netstat', '-an'])));
    for (let i = 0; i < 3; i++) {
      const r = lab.inNs(A, ['curl', '-sS', '-m', '10', '-w', '%{remote_ip}', `http://${IMG}:8000/`]);
      assert.equal(r.stdout, `hello from host A\n${IMG}`);
    }
    const log = await srv.stop();
    assert.match(log, /Serving HTTP on :: port 8000/);
    assert.match(log, new RegExp(`::ffff:${HOST.replace(/\./g, '\\.')} - - .*"GET / HTTP/1.1" 200`), log);
    // The program is gone: so is its listener.
    await until('the listener to go', async () => !/\*\.8000\s/.test(await lab.ok(['R', 'netstat', '-an'])));
  });

  test('socket calls are answered by the image: names, options, non-blocking connect', async () => {
    const py = `
import errno, select, socket
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.connect(("${HOST}", 80))
print("local", s.getsockname()[0])
print("peer", s.getpeername())
print("nodelay", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
print("type", s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
print("body", data.split(b"\\r\\n\\r\\n", 1)[1].decode().strip())
for port in (80, 9):
    n = socket.socket()
    n.setblocking(False)
    print("connect_ex", errno.errorcode.get(n.connect_ex(("${HOST}", port)), 0))
    select.select([], [n], [], 5)
    print("so_error", errno.errorcode.get(n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0))
    n.close()
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [`local ${IMG}`, `peer ('${HOST}', 80)`, 'nodelay 1', 'type 1', 'body hello from host A', 'connect_ex EINPROGRESS', 'so_error 0', 'connect_ex EINPROGRESS', 'so_error ECONNREFUSED', ''].join('\n'),
    );
  });

  test('fails closed: other families get an errno and host-only addresses stay out of reach', async () => {
    // A server only the host can reach: on the host's loopback.
    const hostOnly = net.createServer((c) => c.end('host secret\n'));
    await new Promise<void>((r) => hostOnly.listen(0, '127.0.0.1', r));
    const port = (hostOnly.address() as net.AddressInfo).port;
    try {
      const py = `
import socket
for fam, typ in ((socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_APPLETALK, socket.SOCK_DGRAM), (socket.AF_INET, socket.SOCK_RAW), (socket.AF_INET6, socket.SOCK_RAW)):
    try:
        socket.socket(fam, typ)
        print("opened", fam)
    except OSError as e:
        print(e.errno)
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("127.0.0.1", ${port}))
    print("reached the host:", s.recv(100))
except OSError as e:
    print("refused" if e.errno == 111 else e)
s6 = socket.socket(socket.AF_INET6)
for a in ("::1", "2001:db8::1"):
    print(s6.connect_ex((a, ${port})))
`;
      const r = await lab.vimage(['R', 'python3', '-c', py]);
      assert.equal(r.code, 0, r.stderr);
      // AF_PACKET, AF_APPLETALK: EAFNOSUPPORT; raw: EPROTONOSUPPORT; ::1 is the image's own lo0 (refused), an IPv6
      // address the image has no route to: EHOSTUNREACH, as FreeBSD's in6_selectsrc says (UDP and NETLINK_ROUTE: test/linux_udp;
      // IPv6: test/linux_inet6)
      assert.equal(r.stdout, '97\n97\n93\n93\nrefused\n111\n113\n');
      const c = await lab.vimage(['R', 'env', '-i', 'PATH=/usr/bin:/bin', 'curl', '-sS', '-m', '5', `http://127.0.0.1:${port}/`]);
      assert.notEqual(c.code, 0);
      assert.doesNotMatch(c.stdout, /host secret/);
      const c6 = await lab.vimage(['R', 'curl', '-sS', '-m', '5', `http://[::1]:${port}/`]);
      assert.notEqual(c6.code, 0);
    } finally {
      hostOnly.close();
    }
  });

  test('exit status, command lookup and exec --linux', async () => {
    assert.equal((await lab.vimage(['R', 'sh', '-c', 'exit 3'])).code, 3);
    const nf = await lab.vimage(['R', 'no-such-program-vlx']);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /no-such-program-vlx: command not found; commands in an image: .*ifconfig.*; nor is it a program on your PATH/);
    const bg = await lab.vimage(['-b', 'R', 'curl', `http://${HOST}/`]);
    assert.equal(bg.code, 0, bg.stderr); // background Linux programs: test/linux_proc.test.ts
    assert.match(bg.stdout, /^\[\d+\]\n$/);
    // A built-in's name runs the built-in; exec --linux runs the Linux program of that name.
    const builtin = await lab.vimage(['R', 'netstat', '-an']);
    assert.match(builtin.stdout, /Active Internet connections/);
    const linux = await lab.vimage(['R', 'exec', '--linux', 'sh', '-c', 'echo from linux; exit 5']);
    assert.equal(linux.code, 5);
    assert.equal(linux.stdout, 'from linux\n');
  });

  test('a program in an image that does not exist is refused', async () => {
    const r = await lab.vimage(['nosuchimage', 'curl', `http://${HOST}/`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nosuchimage/);
  });
});
