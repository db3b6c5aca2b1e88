/**
 * UDP and NETLINK_ROUTE sockets of unmodified Linux programs in an image
 * (vimage-supervisor's datagram sockets): python3, socat, dig and iperf3 in
 * image R against a Linux host in a namespace over a TAP.
 *
 *   host A (10.74.1.2) --tap-- R (10.74.1.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, Lab, background, labUnavailable, until } from './lab.js';

const P = 'vlu'; // prefix of every namespace and host device this file makes
const HOST = '10.74.1.2';
const IMG = '10.74.1.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  for (const t of ['python3', 'socat', 'dig', 'dnsmasq', 'iperf3']) {
    if (spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  }
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();



/** A python3 UDP program on host A (in its namespace), in the background. */
function hostPy(ns: string, code: string): ReturnType<typeof background> {
  return background('ip', ['netns', 'exec', ns, 'python3', '-u', '-c', code]);
}

/** Run with `unshare -m`: fake host resolver sockets under a private /run, resolv.conf bound over, lookups from the image. */
const NS_SCRIPT = `set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/nscd /run/systemd/resolve
LISTEN='import os,socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); c,_=s.accept(); print("LEAK", sys.argv[1], file=open(os.environ["LEAKS"], "a"))'
python3 -c "$LISTEN" /run/nscd/socket & L1=$!
python3 -c "$LISTEN" /run/systemd/resolve/io.systemd.Resolve & L2=$!
python3 -c "$LISTEN" /run/other & L3=$!
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S /run/nscd/socket ] && [ -S /run/systemd/resolve/io.systemd.Resolve ] && [ -S /run/other ] && break; sleep 0.2; done
mount --bind "$RESOLV" /etc/resolv.conf
node "$CLI" R python3 -c '
import errno, socket
for p in ("/run/nscd/socket", "/var/run/nscd/socket", "/run/systemd/resolve/io.systemd.Resolve", "/run/other"):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p)
        print(p, "connected")
    except OSError as e:
        print(p, errno.errorcode[e.errno])
'
wait $L3
cat "$LEAKS"
node "$CLI" R getent hosts vimage.test
kill $L1 $L2 2>/dev/null || true
`;

const ECHO = (port: number): string => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("${HOST}", ${port}))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"echo:" + d + (" from %s:%d" % a).encode(), a)
`;

describe('UDP and netlink sockets of Linux programs in an image', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  const stops: Array<() => Promise<string>> = [];

  before(async () => {
    await lab.start();
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
    const echo = hostPy(A, ECHO(7000));
    stops.push(echo.stop);
    await until('the echo server on host A', () => echo.out().includes('ready'));
  });

  after(async () => {
    for (const s of stops) await s();
    await lab.close();
  });

  test('python3: sendto/recvfrom through the image, the source is the Linux host', async () => {
    const py = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("fresh", s.getsockname())
s.sendto(b"hi", ("${HOST}", 7000))
d, a = s.recvfrom(1000)
print(d.decode().split(" from ")[0], a)
print("local", s.getsockname()[0], s.getsockname()[1] > 0)
d, anc, flags, a = (s.sendto(b"two", ("${HOST}", 7000)), s.recvmsg(1000))[1]
print(d.decode().split(" from ")[0], a, flags)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # net.inet6.ip6.v6only is 1, as on FreeBSD
s6.sendto(b"six", ("::ffff:${HOST}", 7000))
d, a = s6.recvfrom(1000)
print(d.decode().split(" from ")[0], a[0], a[1])
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], "fresh ('0.0.0.0', 0)");
    assert.equal(lines[1], `echo:hi ('${HOST}', 7000)`);
    assert.equal(lines[2], 'local 0.0.0.0 True'); // unconnected: the wildcard, as on Linux
    assert.equal(lines[3], `echo:two ('${HOST}', 7000) 0`);
    assert.equal(lines[4], `echo:six ::ffff:${HOST} 7000`);
  });

  test('python3 server in the image: bind INADDR_ANY, reports the Linux client, answers it; netstat lists it', async () => {
    const py = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7001))
print("bound", flush=True)
for i in range(2):
    d, a = s.recvfrom(1000)
    print("from", a[0], d.decode(), flush=True)
    s.sendto(b"back:" + d, a)
`;
    const srv = background(process.execPath, [CLI, 'R', 'python3', '-u', '-c', py], { VIMAGE_SOCKET: lab.sock });
    stops.push(srv.stop);
    await until('the server in R', () => srv.out().includes('bound'));
    assert.match(await lab.ok(['R', 'netstat', '-an']), /udp4\s+0\s+0\s+\*\.7001\s+\*\.\*/);
    const client = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.bind(("${HOST}", 7101))
for m in (b"one", b"two"):
    s.sendto(m, ("${IMG}", 7001))
    print(s.recvfrom(100))
`;
    const c = lab.inNs(A, ['python3', '-c', client], { timeoutMs: 15_000 });
    assert.equal(c.stdout, `(b'back:one', ('${IMG}', 7001))\n(b'back:two', ('${IMG}', 7001))\n`);
    await until('the server to finish', () => srv.child.exitCode !== null);
    assert.equal(srv.out(), `bound\nfrom ${HOST} one\nfrom ${HOST} two\n`);
    await until('the socket to go', async () => !/\*\.7001\s/.test(await lab.ok(['R', 'netstat', '-an'])));
  });

  test('datagram boundaries are kept both ways (3 datagrams of different sizes arrive as 3)', async () => {
    const sizes = [1, 1400, 9000];
    const recvPy = (bindTo: string, port: number): string => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("${bindTo}", ${port}))
print("bound", flush=True)
s.settimeout(10)
for i in range(3):
    d, a = s.recvfrom(65535)
    print(len(d), set(d) == {${'0x61'} + i}, flush=True)
`;
    const sendPy = (to: string, port: number): string => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i, n in enumerate((${sizes.join(', ')})):
    s.sendto(bytes([0x61 + i]) * n, ("${to}", ${port}))
`;
    // Image to host.
    const hostRecv = hostPy(A, recvPy(HOST, 7002));
    stops.push(hostRecv.stop);
    await until('the receiver on host A', () => hostRecv.out().includes('bound'));
    const r = await lab.vimage(['R', 'python3', '-c', sendPy(HOST, 7002)]);
    assert.equal(r.code, 0, r.stderr);
    await until('three datagrams on host A', () => hostRecv.out().split('\n').length >= 5);
    assert.equal(hostRecv.out(), `bound\n${sizes.map((n) => `${n} True`).join('\n')}\n`);
    // Host to image.
    const imgRecv = background(process.execPath, [CLI, 'R', 'python3', '-u', '-c', recvPy('0.0.0.0', 7003)], { VIMAGE_SOCKET: lab.sock });
    stops.push(imgRecv.stop);
    await until('the receiver in R', () => imgRecv.out().includes('bound'));
    lab.inNs(A, ['python3', '-c', sendPy(IMG, 7003)]);
    await until('three datagrams in R', () => imgRecv.out().split('\n').length >= 5);
    assert.equal(imgRecv.out(), `bound\n${sizes.map((n) => `${n} True`).join('\n')}\n`);
  });

  test('socat both ways: UDP-SENDTO, UDP-RECVFROM and connected UDP', async () => {
    // UDP-SENDTO from the image: the host's echo answers and socat prints it.
    const to = await lab.vimage(['R', 'socat', '-t', '2', '-', `UDP-SENDTO:${HOST}:7000`], { stdin: 'via sendto\n' });
    assert.equal(to.code, 0, to.stderr);
    assert.match(to.stdout, new RegExp(`^echo:via sendto\\n from ${IMG.replace(/\./g, '\\.')}:\\d+$`));
    // Connected UDP (socat UDP:): plain write and read on a connected socket.
    const conn = await lab.vimage(['R', 'socat', '-t', '2', '-', `UDP:${HOST}:7000`], { stdin: 'connected\n' });
    assert.equal(conn.code, 0, conn.stderr);
    assert.match(conn.stdout, /^echo:connected\n from /);
    // UDP-RECVFROM in the image, the host sends.
    const srv = background(process.execPath, [CLI, 'R', 'socat', '-u', 'UDP-RECVFROM:7004', 'STDOUT'], { VIMAGE_SOCKET: lab.sock });
    stops.push(srv.stop);
    await until('socat in R', async () => /\*\.7004\s/.test(await lab.ok(['R', 'netstat', '-an'])));
    const sent = spawnSync('ip', ['netns', 'exec', A, 'socat', '-u', 'STDIN', `UDP-SENDTO:${IMG}:7004`], { input: 'to the image\n' });
    assert.equal(sent.status, 0);
    await until('socat in R to print', () => srv.out().includes('to the image'));
    await until('socat in R to exit', () => srv.child.exitCode !== null);
  });

  test('dig, and glibc\'s resolver (getent hosts), through the image to dnsmasq on a Linux host; host resolver sockets refused', async () => {
    const dns = background('ip', ['netns', 'exec', A, 'dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${HOST}`, '--address=/vimage.test/10.9.8.7', '--pid-file=']);
    stops.push(dns.stop);
    await until('dnsmasq', () => lab.inNs(A, ['dig', '+short', '+time=1', '+tries=1', `@${HOST}`, 'vimage.test'], { allowFail: true }).stdout.trim() === '10.9.8.7');
    const r = await lab.vimage(['R', 'dig', '+short', '+time=2', '+tries=2', `@${HOST}`, 'vimage.test']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '10.9.8.7\n');
    // glibc's resolver (getent hosts) with a resolv.conf naming the host, in a private mount namespace where the
    // host's nscd and systemd-resolved sockets exist (fakes that would say LEAK): they are refused, and the
    // lookup goes over UDP through the image.
    writeFileSync(path.join(lab.dir, 'resolv.conf'), `nameserver ${HOST}\n`);
    writeFileSync(path.join(lab.dir, 'ns.sh'), NS_SCRIPT);
    const g = spawnSync('timeout', ['30', 'unshare', '-m', 'sh', path.join(lab.dir, 'ns.sh')], {
      env: { ...process.env, VIMAGE_SOCKET: lab.sock, RESOLV: path.join(lab.dir, 'resolv.conf'), LEAKS: path.join(lab.dir, 'leaks'), CLI },
      encoding: 'utf8',
    });
    assert.equal(g.status, 0, g.stderr);
    assert.equal(
      g.stdout,
      ['/run/nscd/socket ENOENT', '/var/run/nscd/socket ENOENT', '/run/systemd/resolve/io.systemd.Resolve ENOENT', '/run/other connected', 'LEAK /run/other', '10.9.8.7        vimage.test', ''].join('\n'),
    );
    await dns.stop();
  });

  test('iperf3 -u from the image to a Linux host, no error', async () => {
    const srv = background('ip', ['netns', 'exec', A, 'iperf3', '-s', '-1', '-B', HOST, '-p', '5299']);
    stops.push(srv.stop);
    await until('iperf3 -s on host A', () => lab.inNs(A, ['ss', '-ltnH'], { allowFail: true }).stdout.includes(`${HOST}:5299`));
    const r = await lab.vimage(['R', 'exec', '--linux', 'iperf3', '-u', '-c', HOST, '-p', '5299', '-b', '2M', '-t', '2', '-l', '1200', '--json'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout) as { error?: string; end: { sum: { packets: number; lost_packets: number } } };
    assert.equal(j.error, undefined);
    assert.ok(j.end.sum.packets > 100, `packets ${j.end.sum.packets}`);
    assert.ok(j.end.sum.lost_packets <= j.end.sum.packets / 10, `lost ${j.end.sum.lost_packets} of ${j.end.sum.packets}`);
  });

  test('socket semantics: connected to a closed port, non-blocking, peek, truncation, epoll, options', async () => {
    const py = `
import errno, select, socket, struct, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(("${HOST}", 9))
print("peer", c.getpeername())
c.send(b"anyone?")
try:
    c.recvfrom(100)
except OSError as e:
    print("recvfrom", errno.errorcode[e.errno])
c.send(b"again")
time.sleep(0.5)
print("so_error", errno.errorcode.get(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0))
c.connect(("${HOST}", 7000))
c.send(b"re")
print(c.recv(100).split(b" from ")[0])
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("unspec", libc.connect(c.fileno(), (ctypes.c_ubyte * 16)(), 16))
try:
    c.getpeername()
except OSError as e:
    print("after unspec", errno.errorcode[e.errno])
n = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n.setblocking(False)
try:
    n.recvfrom(10)
except BlockingIOError as e:
    print("nonblocking", errno.errorcode[e.errno])
n.setblocking(True)
ep = select.epoll()
ep.register(n.fileno(), select.EPOLLIN)
n.sendto(b"peek me", ("${HOST}", 7000))
print("epoll", len(ep.poll(5)))
d, a = n.recvfrom(100, socket.MSG_PEEK)
print("peek", d.split(b" from ")[0], a)
d, anc, flags, a = n.recvmsg(4)
print("trunc", d, flags & socket.MSG_TRUNC != 0, a)
n.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
print("broadcast", n.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))
n.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
print("rcvbuf", n.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
n.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 7)
print("ttl", n.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
print("type", n.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
n.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 300000))
t0 = time.monotonic()
try:
    n.recvfrom(10)
except BlockingIOError as e:
    print("rcvtimeo", errno.errorcode[e.errno], 0.25 < time.monotonic() - t0 < 2)
`;
    const r = await lab.vimage(['R', 'python3', '-c', py], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `peer ('${HOST}', 9)`,
        'recvfrom ECONNREFUSED',
        'so_error ECONNREFUSED',
        "b'echo:re'",
        'unspec 0',
        'after unspec ENOTCONN',
        'nonblocking EAGAIN',
        'epoll 1',
        `peek b'echo:peek me' ('${HOST}', 7000)`,
        `trunc b'echo' True ('${HOST}', 7000)`,
        'broadcast 1',
        'rcvbuf 131072',
        'ttl 7',
        'type 2',
        'rcvtimeo EAGAIN True',
        '',
      ].join('\n'),
    );
  });

  test('netlink: NETLINK_ROUTE is a datagram socket answered by the image; other netlink protocols stay closed', async () => {
    const py = `
import errno, socket, struct, os
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
pid, groups = s.getsockname()
print("bound", pid == os.getpid(), groups)
req = struct.pack("=IHHII", 32, 18, 0x301, 4242, 0) + struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0)
s.sendto(req, (0, 0))
d, anc, flags, a = s.recvmsg(0, 0, socket.MSG_PEEK | socket.MSG_TRUNC)
size = s.recv_into(bytearray(1), 1, socket.MSG_PEEK | socket.MSG_TRUNC)
print("peek", flags & socket.MSG_TRUNC != 0, a, size >= 16)
d, a = s.recvfrom(65536)
def walk(d):
    out, o = [], 0
    while o + 16 <= len(d):
        ln, typ, fl, seq, port = struct.unpack_from("=IHHII", d, o)
        out.append((typ, seq))
        o += (ln + 3) & ~3
    return out, o == len(d)
msgs, whole = walk(d)
print("reply", whole, sorted({q for _, q in msgs}), a, len(d) == size)
while msgs[-1][0] != 3:  # the dump goes on until NLMSG_DONE
    more, ok = walk(s.recv(65536))
    msgs += more
print("links", sum(1 for t, _ in msgs if t == 16) >= 2)
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)
except OSError as e:
    print("uevent", errno.errorcode[e.errno])
`;
    const r = await lab.vimage(['R', 'python3', '-c', py], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, ['bound True 0', 'peek True (0, 0) True', 'reply True [4242] (0, 0) True', 'links True', 'uevent EPROTONOSUPPORT', ''].join('\n'));
  });

  test('iproute2 and getifaddrs in the image see its interfaces, addresses and routes, and cannot change them', async () => {
    const tap = (await lab.ok(['R', 'ifconfig', '-l'])).trim().split(' ').find((n) => n.startsWith('tap'))!;
    const addr = await lab.vimage(['R', 'ip', '-br', '-4', 'addr']);
    assert.equal(addr.code, 0, addr.stderr);
    assert.match(addr.stdout, /^lo0 +UNKNOWN +127\.0\.0\.1\/8 *$/m);
    assert.match(addr.stdout, new RegExp(`^${tap} +UP +${IMG.replaceAll('.', '\\.')}/24 *$`, 'm'));
    assert.doesNotMatch(addr.stdout, /eth|ens|enp|docker/, 'nothing of the host');
    const route = await lab.vimage(['R', 'ip', '-4', 'route']);
    assert.equal(route.code, 0, route.stderr);
    assert.match(route.stdout, new RegExp(`^10\\.74\\.1\\.0/24 dev ${tap} proto kernel scope link src ${IMG.replaceAll('.', '\\.')}`, 'm'));
    const ifaddrs = await lab.vimage(['R', 'python3', '-c', 'import socket; print(sorted(n for _, n in socket.if_nameindex()))']);
    assert.equal(ifaddrs.stdout.trim(), `['lo0', '${tap}']`);
    const add = await lab.vimage(['R', 'ip', 'addr', 'add', '10.74.9.1/24', 'dev', tap]);
    assert.notEqual(add.code, 0);
    assert.match(add.stderr, /Operation not supported/);
    assert.doesNotMatch(await lab.ok(['R', 'ifconfig', tap]), /10\.74\.9\.1/);
    // IPv6: the image's inet6 addresses, its connected prefix and the route `ip -6 route get` picks.
    await lab.ok(['R', 'ifconfig', tap, 'inet6', '2001:db8:74::1/64']);
    try {
      const addr6 = await lab.vimage(['R', 'ip', '-br', '-6', 'addr']);
      assert.equal(addr6.code, 0, addr6.stderr);
      assert.match(addr6.stdout, /^lo0 +UNKNOWN +fe80::1\/64 ::1\/128 *$/m); // larger scope first, as Linux keeps the list
      assert.match(addr6.stdout, new RegExp(`^${tap} +UP +2001:db8:74::1/64 fe80::[0-9a-f:]+/64 *$`, 'm'));
      const route6 = await lab.vimage(['R', 'ip', '-6', 'route']);
      assert.equal(route6.code, 0, route6.stderr);
      assert.match(route6.stdout, new RegExp(`^2001:db8:74::/64 dev ${tap} proto kernel metric 256 pref medium$`, 'm'));
      assert.match(route6.stdout, new RegExp(`^fe80::/64 dev ${tap} proto kernel metric 256 pref medium$`, 'm'));
      // Until DAD is done (about a second) the new address is tentative and the source is the link-local one.
      await until('2001:db8:74::1 to finish DAD', async () => !/2001:db8:74::1 .*tentative/.test(await lab.ok(['R', 'ifconfig', tap])), 5000);
      const get6 = await lab.vimage(['R', 'ip', '-6', 'route', 'get', '2001:db8:74::9']);
      assert.equal(get6.code, 0, get6.stderr);
      assert.match(get6.stdout, new RegExp(`^2001:db8:74::9 from :: dev ${tap} proto kernel src 2001:db8:74::1 metric 256 pref medium`));
      const py6 = 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("2001:db8:74::1", 80, socket.AF_INET6)}))';
      assert.equal((await lab.ok(['R', 'python3', '-c', py6])).trim(), "['2001:db8:74::1']");
    } finally {
      await lab.ok(['R', 'ifconfig', tap, 'inet6', '2001:db8:74::1', '-alias']);
    }
  });

  test('escape check: UDP to the host\'s loopback or a host-only address never reaches the host', async () => {
    const hostOnly = dgram.createSocket('udp4');
    let got = 0;
    hostOnly.on('message', () => got++);
    await new Promise<void>((r) => hostOnly.bind(0, '127.0.0.1', r));
    const port = hostOnly.address().port;
    try {
      const py = `
import errno, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"to the image's own loopback", ("127.0.0.1", ${port}))
for a in ("192.0.2.1", "8.8.8.8"):
    try:
        s.sendto(b"out", (a, ${port}))
        print("sent", a)
    except OSError as e:
        print(a, errno.errorcode[e.errno])
`;
      const r = await lab.vimage(['R', 'python3', '-c', py]);
      assert.equal(r.code, 0, r.stderr);
      // No route in the image (its only network is the TAP's): the image's stack refuses at once.
      assert.match(r.stdout, /^192\.0\.2\.1 E(NET|HOST)UNREACH\n8\.8\.8\.8 E(NET|HOST)UNREACH\n$/);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(got, 0);
    } finally {
      hostOnly.close();
    }
  });
});
