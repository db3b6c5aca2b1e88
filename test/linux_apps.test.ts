/**
 * Real server programs from Debian, unmodified, in an image: nginx with 4
 * worker processes loaded by ab, sshd with a login whose session's
 * programs are still in the image, and a static Go binary (raw system
 * calls, no libc) that lists interfaces, listens and fetches.
 *
 *   host A (10.76.1.2) --tap-- R (10.76.1.1 | 10.76.2.1) --tap-- host B (10.76.2.2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, Lab, background, labUnavailable, sh, until } from './lab.js';

const P = 'vla'; // prefix of every namespace, host device and temporary directory this file makes
const HOST_A = '10.76.1.2';
const IMG_A = '10.76.1.1';
const HOST_B = '10.76.2.2';
const IMG_B = '10.76.2.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  for (const t of ['nginx', 'sshd', 'ssh', 'ssh-keygen', 'ab', 'go', 'curl', 'python3', 'nc']) {
    if (spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  }
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();

/** Open descriptors of process `pid`. */
function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether a 64-bit little-endian ELF file asks for a program interpreter (PT_INTERP: dynamically linked). */
function hasInterpreter(elf: Buffer): boolean {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(phoff + i * size) === 3) return true;
  return false;
}

/** The pid `vimage -b` printed ("[PID]"). */
function bgPid(out: string): number {
  const pid = Number(/^\[(\d+)\]$/.exec(out.trim())?.[1]);
  assert.ok(pid > 1, out);
  return pid;
}

const NGINX_CONF = (dir: string): string => `
worker_processes 4;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 512; }
http {
  log_format probe '$remote_addr $server_port $pid "$request" $status $body_bytes_sent';
  access_log ${dir}/access.log probe;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server {
    listen 8080;
    listen 8081 reuseport;
    root ${dir}/www;
  }
}
`;

const SSHD_CONF = (dir: string): string => `
Port 2222
ListenAddress 0.0.0.0
HostKey ${dir}/host_ed25519
PidFile ${dir}/sshd.pid
AuthorizedKeysFile ${dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PrintMotd no
`;

/** A static Go program: interfaces and addresses, one TCP connection served, one page fetched with net/http. */
const GO_PROBE = `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	ifs, err := net.Interfaces()
	if err != nil {
		fmt.Println("interfaces:", err)
		os.Exit(1)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			fmt.Println("addrs:", err)
			os.Exit(1)
		}
		fmt.Printf("if %s up=%v", ifc.Name, ifc.Flags&net.FlagUp != 0)
		for _, a := range addrs {
			fmt.Printf(" %s", a)
		}
		fmt.Println()
	}
	ln, err := net.Listen("tcp4", ":"+os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr())
	served := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			fmt.Fprintf(c, "hello from go, you are %s\\n", c.RemoteAddr())
			c.Close()
		}
		close(served)
	}()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(os.Args[2])
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("got %d %q\\n", resp.StatusCode, body)
	<-served
	fmt.Println("done")
}
`;

describe('real server programs in an image: nginx, sshd, a static Go binary', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let dir = '';
  let madeRunSshd = false;
  const stops: Array<() => Promise<string>> = [];
  const pids: number[] = [];
  let web: ReturnType<typeof background>;

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    const B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    for (const [ns, host, img, dev] of [
      [A, HOST_A, IMG_A, `${P}a0`],
      [B, HOST_B, IMG_B, `${P}b0`],
    ] as const) {
      const tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', dev])).trim();
      lab.wireHost(dev, ns, `${host}/24`);
      await lab.ok(['R', 'ifconfig', tap, 'inet', `${img}/24`, 'up']);
      lab.inNs(ns, ['ping', '-c', '1', '-W', '2', img]);
    }
    dir = mkdtempSync(path.join(os.tmpdir(), `${P}-`));
    chmodSync(dir, 0o755); // nginx's workers run as an unprivileged user and read the root from here
    mkdirSync(path.join(dir, 'b'));
    writeFileSync(path.join(dir, 'b', 'index.html'), 'page of host B\n');
    web = background('ip', ['netns', 'exec', B, 'python3', '-m', 'http.server', '-b', HOST_B, '-d', path.join(dir, 'b'), '80']);
    stops.push(web.stop);
    await until('the web server on host B', () => lab.inNs(B, ['curl', '-s', '-o', '/dev/null', `http://${HOST_B}/`], { allowFail: true }).code === 0);
  });

  after(async () => {
    // Destroying R kills what a failed test left running there (nginx's workers, sshd's sessions).
    if (lab.daemonProcess !== null) await lab.vimage(['-d', 'R']).catch(() => undefined);
    for (const s of stops) await s().catch(() => '');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await lab.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    if (madeRunSshd) rmSync('/run/sshd', { recursive: true, force: true });
  });

  test('nginx with 4 workers serves 2000 requests from ab without a failure (and more on a reuseport listener); the log has the client; no descriptor is left in the daemon', async () => {
    const ngx = path.join(dir, 'nginx');
    mkdirSync(path.join(ngx, 'www'), { recursive: true });
    mkdirSync(path.join(ngx, 'tmp'));
    writeFileSync(path.join(ngx, 'www', 'index.html'), 'hello from nginx in R\n');
    writeFileSync(path.join(ngx, 'nginx.conf'), NGINX_CONF(ngx));
    const daemon = lab.daemonProcess!.pid!;
    const fdsBefore = fdCount(daemon);
    const r = await lab.vimage(['-b', 'R', 'nginx', '-c', path.join(ngx, 'nginx.conf'), '-g', 'daemon off;']);
    assert.equal(r.code, 0, r.stderr);
    const master = bgPid(r.stdout);
    pids.push(master);
    await until('nginx to answer', () => lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${IMG_A}:8080/`], { allowFail: true }).code === 0);
    const workers = (await lab.ok(['R', 'ps'])).split('\n').filter((l) => l.includes('nginx: worker process'));
    assert.equal(workers.length, 4, await lab.ok(['R', 'ps']));
    const ab = lab.inNs(A, ['ab', '-q', '-n', '2000', '-c', '20', '-s', '10', `http://${IMG_A}:8080/`], { timeoutMs: 60_000 });
    assert.match(ab.stdout, /^Complete requests:\s+2000$/m, ab.stdout);
    assert.match(ab.stdout, /^Failed requests:\s+0$/m, ab.stdout);
    assert.doesNotMatch(ab.stdout, /Non-2xx responses/, ab.stdout);
    assert.match(ab.stdout, /^Document Length:\s+22 bytes$/m);
    // listen ... reuseport: one socket per worker on one port (SO_REUSEPORT), connections dealt out to all four.
    const ab2 = lab.inNs(A, ['ab', '-q', '-n', '400', '-c', '10', '-s', '10', `http://${IMG_A}:8081/`], { timeoutMs: 60_000 });
    assert.match(ab2.stdout, /^Complete requests:\s+400$/m, ab2.stdout);
    assert.match(ab2.stdout, /^Failed requests:\s+0$/m, ab2.stdout);
    const log = readFileSync(path.join(ngx, 'access.log'), 'utf8').trim().split('\n');
    assert.equal(log.length, 2401); // and the first curl's
    const bad = log.find((l) => !new RegExp(`^${HOST_A.replace(/\./g, '\\.')} 808[01] \\d+ "GET / HTTP/1\\.[01]" 200 22$`).test(l));
    assert.equal(bad, undefined);
    const servedBy = new Set(log.filter((l) => l.split(' ')[1] === '8081').map((l) => l.split(' ')[2]));
    assert.equal(servedBy.size, 4, `workers that served the reuseport listener: ${[...servedBy].join(' ')}`);
    assert.doesNotMatch(readFileSync(path.join(ngx, 'error.log'), 'utf8'), /\[(alert|crit|emerg|error)\]/);
    assert.equal((await lab.vimage(['R', 'kill', String(master)])).code, 0);
    await until('nginx to exit', () => !alive(master));
    await until('its listeners to go', async () => !/\*\.808[01]\s/.test(await lab.ok(['R', 'netstat', '-an'])));
    await until('the daemon to let go of nginx\'s descriptors', () => fdCount(daemon) <= fdsBefore).catch(() => {
      assert.fail(`the daemon holds ${fdCount(daemon)} descriptors, ${fdsBefore} before nginx`);
    });
  });

  test('sshd: ssh from a Linux host logs in, and curl in the session is still in the image', async () => {
    const d = path.join(dir, 'ssh');
    mkdirSync(d);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(d, 'host_ed25519')]);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(d, 'client')]);
    writeFileSync(path.join(d, 'authorized_keys'), readFileSync(path.join(d, 'client.pub')), { mode: 0o600 });
    writeFileSync(path.join(d, 'sshd_config'), SSHD_CONF(d));
    if (!existsSync('/run/sshd')) {
      mkdirSync('/run/sshd', { mode: 0o755 });
      madeRunSshd = true;
    }
    const r = await lab.vimage(['-b', 'R', '/usr/sbin/sshd', '-D', '-e', '-f', path.join(d, 'sshd_config')]);
    assert.equal(r.code, 0, r.stderr);
    const sshd = bgPid(r.stdout);
    pids.push(sshd);
    await until('sshd to listen', async () => /\*\.2222\s+\*\.\*\s+LISTEN/.test(await lab.ok(['R', 'netstat', '-an'])));
    const ssh = ['ssh', '-F', '/dev/null', '-i', path.join(d, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-p', '2222', `root@${IMG_A}`];
    const s = lab.inNs(A, [...ssh, `curl -sS -m 10 -w '%{local_ip}' http://${HOST_B}/`], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(s.code, 0, `${s.stderr}\n${await lab.ok(['R', 'logs', String(sshd)])}`);
    assert.equal(s.stdout, `page of host B\n${IMG_B}`);
    assert.match(await lab.ok(['R', 'logs', String(sshd)]), new RegExp(`Accepted publickey for root from ${HOST_A.replace(/\./g, '\\.')} port \\d+`));
    // A port forwarded with ssh -L: sshd connects from the image (host B's server logs R's address).
    const fwd = background('ip', ['netns', 'exec', A, ...ssh.slice(0, -1), '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:9999:${HOST_B}:80`, ssh.at(-1)!, 'sleep 20']);
    stops.push(fwd.stop);
    await until('the forwarded port', () => lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-m', '2', 'http://127.0.0.1:9999/fwd'], { allowFail: true }).code === 0);
    const fromR = new RegExp(`^${IMG_B.replace(/\./g, '\\.')} - - .*"GET /fwd HTTP/1.1" 404`, 'm');
    await until('host B to log the forwarded request from R', () => fromR.test(web.out()), 5000);
    await fwd.stop();
    assert.equal((await lab.vimage(['R', 'kill', String(sshd)])).code, 0);
    await until('sshd to exit', () => !alive(sshd));
  });

  test('IP_OPTIONS of an image socket read back empty, as Linux says for a socket without options (sshd drops connections with options)', async () => {
    const py = `
import socket
s = socket.create_connection(("${HOST_B}", 80))
print(repr(s.getsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, 40)))
s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"")
try:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\\x01\\x01\\x01\\x00")
except OSError as e:
    print(e.errno)
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "b''\n92\n"); // ENOPROTOOPT: the image's IP sends no options
  });

  test('connections that reuse one 4-tuple while host B holds the last one in TIME-WAIT connect at once (ISNs and timestamps rise per 4-tuple)', async () => {
    // host B's http.server closes first, so B keeps each connection in TIME-WAIT; the next SYN from the
    // same port must start above it (RFC 6528, RFC 7323 5.4) or Linux answers it with the old ACK.
    const py = `
import socket, time
worst = 0
for i in range(12):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("${IMG_B}", 47123))
    t = time.monotonic()
    s.connect(("${HOST_B}", 80))
    worst = max(worst, time.monotonic() - t)
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    while s.recv(4096):
        pass
    s.close()
    time.sleep(0.05)
print("worst %.3f" % worst)
`;
    const r = await lab.vimage(['R', 'python3', '-c', py], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const worst = Number(/worst ([\d.]+)/.exec(r.stdout)![1]);
    assert.ok(worst < 0.5, `a connect took ${worst} s (a SYN retransmission after the peer's TIME-WAIT answered with the old ACK)`);
    assert.match(lab.inNs(`${P}B`, ['ss', '-tan', 'state', 'time-wait'], { allowFail: true }).stdout, new RegExp(`${HOST_B.replace(/\./g, '\\.')}:80\\s+${IMG_B.replace(/\./g, '\\.')}:47123`), 'host B held the 4-tuple in TIME-WAIT');
  });

  test('socket names stay right when the supervisor answers them from its cache of connected sockets; calls from other threads', async () => {
    const py = `
import socket
s = socket.socket()
s.bind(("0.0.0.0", 0))
port = s.getsockname()[1]
print("bound", s.getsockname()[0], port > 0)
try:
    s.getpeername()
except OSError as e:
    print("peer", e.errno)
s.connect(("${HOST_B}", 80))
names = [(s.getsockname(), s.getpeername()) for i in range(3)]
print("connected", names[0][0] == ("${IMG_B}", port), names[0][1], len(set(names)))
l = socket.socket()
l.bind(("0.0.0.0", 8099))
l.listen()
c = socket.create_connection(("${IMG_A}", 8099))
a, peer = l.accept()
print("accepted", a.getsockname() == a.getsockname() == ("${IMG_A}", 8099), a.getpeername() == a.getpeername() == peer == c.getsockname(), c.getpeername())
print("listener", l.getsockname())
import threading
def other_thread():
    t = socket.create_connection(("${HOST_B}", 80))  # calls from a thread that is not its group's leader
    print("thread", t.getpeername())
th = threading.Thread(target=other_thread)
th.start()
th.join()
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, ['bound 0.0.0.0 True', 'peer 107', `connected True ('${HOST_B}', 80) 1`, `accepted True True ('${IMG_A}', 8099)`, "listener ('0.0.0.0', 8099)", `thread ('${HOST_B}', 80)`, ''].join('\n'));
  });

  test('a static Go binary (raw system calls) sees the image\'s interfaces, listens for a Linux host and fetches with net/http', async () => {
    const d = path.join(dir, 'go');
    mkdirSync(d);
    writeFileSync(path.join(d, 'probe.go'), GO_PROBE);
    const env = { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off', GOCACHE: path.join(d, 'cache'), GOPATH: path.join(d, 'path'), GOFLAGS: '' };
    const b = spawnSync('go', ['build', '-o', path.join(d, 'probe'), path.join(d, 'probe.go')], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(b.status, 0, b.stderr);
    assert.equal(hasInterpreter(readFileSync(path.join(d, 'probe'))), false, 'a static binary: no ELF interpreter, so no libc');
    const run = background(process.execPath, [CLI, 'R', path.join(d, 'probe'), '7000', `http://${HOST_B}/`], { VIMAGE_SOCKET: lab.sock });
    stops.push(run.stop);
    await until('the Go program to listen', () => run.out().includes('listening'));
    const hello = lab.inNs(A, ['nc', '-w', '5', IMG_A, '7000'], { timeoutMs: 10_000 });
    assert.match(hello.stdout, new RegExp(`^hello from go, you are ${HOST_A.replace(/\./g, '\\.')}:\\d+\\n$`));
    await until('the Go program to finish', () => run.child.exitCode !== null);
    const lines = run.out().trim().split('\n');
    const ifs = lines.filter((l) => l.startsWith('if '));
    const names = (await lab.ok(['R', 'ifconfig', '-l'])).trim().split(/\s+/);
    assert.deepEqual(ifs.map((l) => l.split(' ')[1]).sort(), [...names].sort(), run.out());
    assert.ok(ifs.some((l) => /^if lo0 up=true 127\.0\.0\.1\/8( |$)/.test(l)), run.out());
    // Each tap's IPv4 address, then the IPv6 link-local address the image gave it (netlink lists IPv4 first).
    assert.ok(ifs.some((l) => new RegExp(`^if tap\\d+ up=true ${IMG_A.replace(/\./g, '\\.')}/24 fe80::[0-9a-f:]+/64$`).test(l)), run.out());
    assert.ok(ifs.some((l) => new RegExp(`^if tap\\d+ up=true ${IMG_B.replace(/\./g, '\\.')}/24 fe80::[0-9a-f:]+/64$`).test(l)), run.out());
    assert.deepEqual(lines.filter((l) => !l.startsWith('if ')), ['listening 0.0.0.0:7000', 'got 200 "page of host B\\n"', 'done']);
    assert.equal(run.child.exitCode, 0);
  });
});
