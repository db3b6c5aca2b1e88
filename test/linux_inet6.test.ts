/**
 * IPv6 sockets of unmodified Linux programs in an image: curl -6, python3's
 * http.server on ::, socat over UDP6, ping -6 as a user, link-local
 * addresses with a zone, IPV6_V6ONLY, and an escape check, against a Linux
 * host in a namespace over a TAP.
 *
 *   host A (10.96.1.2, 2001:db8:96::2, fe80::...%vl6a0) --tap-- R (10.96.1.1, 2001:db8:96::1)
 *   the host itself: a server on [::1] (the escape check: the image's ::1 is its own lo0)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, Lab, background, labUnavailable, sh, until } from './lab.js';

const P = 'vl6'; // prefix of every namespace and host device this file makes
const HOST4 = '10.96.1.2';
const IMG4 = '10.96.1.1';
const HOST = '2001:db8:96::2';
const IMG = '2001:db8:96::1';
const ESCAPE_PORT = 18796;
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

function missing(): string | undefined {
  for (const t of ['/usr/bin/python3', '/usr/bin/curl', '/usr/bin/socat', '/usr/bin/ping', '/usr/bin/setpriv']) {
    if (!existsSync(t)) return `${t} is not installed (scripts/install-test-tools.sh)`;
  }
  if (spawnSync('/usr/bin/ping', ['-V'], { encoding: 'utf8' }).stdout?.includes('iputils') !== true) return 'ping is not iputils ping';
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const ECHO6 = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("${HOST}", 7000))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"echo:" + d + (" from %s" % a[0]).encode(), a)
`;

describe('IPv6 sockets of Linux programs in an image', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let tap = '';
  let hostLL = '';
  let imgLL = '';
  const stops: Array<() => Promise<string>> = [];

  before(async () => {
    await lab.start();
    ({ ns: A, tap } = await lab.imageWithHost('R', HOST4, IMG4));
    sh('ip', ['-n', A, 'addr', 'add', `${HOST}/64`, 'dev', `${P}a0`, 'nodad']);
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.dad_count=0']);
    await lab.ok(['R', 'ifconfig', tap, 'inet6', `${IMG}/64`]);
    await until('Linux reaches the image over IPv6', () => lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '1', IMG], { allowFail: true }).code === 0, 10_000);
    // The host's link-local address, once DAD is done with it.
    await until('the host link-local address', () => {
      const out = lab.inNs(A, ['ip', '-6', '-o', 'addr', 'show', 'dev', `${P}a0`, 'scope', 'link'], { allowFail: true }).stdout;
      const m = /inet6 (fe80::[0-9a-f:]+)\/64 scope link(?! tentative)/.exec(out);
      hostLL = m?.[1] ?? '';
      return hostLL !== '' && !out.includes('tentative');
    });
    const ifc = await lab.ok(['R', 'ifconfig', tap]);
    imgLL = /inet6 (fe80::[0-9a-f:]+)%/.exec(ifc)?.[1] ?? '';
    assert.notEqual(imgLL, '', ifc);
    const dir = path.join(lab.dir, 'www');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'page.txt'), 'page over IPv6\n');
    const web = background('ip', ['netns', 'exec', A, 'python3', '-u', '-m', 'http.server', '--bind', '::', '-d', dir, '8080']);
    stops.push(web.stop);
    const echo = background('ip', ['netns', 'exec', A, 'python3', '-u', '-c', ECHO6]);
    stops.push(echo.stop);
    // The escape check's target: a server only the host itself can reach, on its ::1.
    const local = background('python3', ['-u', '-m', 'http.server', '--bind', '::1', '-d', dir, String(ESCAPE_PORT)]);
    stops.push(local.stop);
    await until('the servers', () => echo.out().includes('ready') && /:8080\s/.test(lab.inNs(A, ['ss', '-tln']).stdout) && /\]:18796\s/.test(sh('ss', ['-tln']).stdout));
  });

  after(async () => {
    for (const s of stops) await s();
    await lab.close();
  });

  test('curl -6 from the image: the page, and the image\'s IPv6 address as curl\'s local address', async () => {
    const r = await lab.vimage(['R', 'curl', '-6', '-s', '-m', '10', '-w', '%{local_ip}', `http://[${HOST}]:8080/page.txt`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `page over IPv6\n${IMG}`);
  });

  test('curl to a link-local address with %tapN: the zone is the image\'s interface', async () => {
    const r = await lab.vimage(['R', 'curl', '-6', '-s', '-g', '-m', '10', '-w', '%{local_ip}', `http://[${hostLL}%25${tap}]:8080/page.txt`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^page over IPv6\\n${esc(imgLL)}(%${tap})?$`));
  });

  test('python3 sockets: IPV6_V6ONLY defaults to net.inet6.ip6.v6only, link-local names carry the scope id, fe80:: without one is EINVAL', async () => {
    const py = `
import socket, errno
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
print("v6only", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
idx = socket.if_nametoindex("${tap}")
s.connect(("${hostLL}", 8080, 0, idx))
l, p = s.getsockname(), s.getpeername()
print("local", l[0], l[3] == idx, "peer", p[0], p[1], p[3] == idx)
s.close()
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    t.connect(("${hostLL}", 8080))
except OSError as e:
    print("no scope", errno.errorcode[e.errno])
u = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
try:
    u.connect(("::ffff:${HOST4}", 8080))
except OSError as e:
    print("v6only to v4-mapped", errno.errorcode[e.errno])
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `v6only 1\nlocal ${imgLL} True peer ${hostLL} 8080 True\nno scope EINVAL\nv6only to v4-mapped EINVAL\n`);
    // The image's own default: change it, a new socket follows.
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.v6only=0']);
    const r0 = await lab.vimage(['R', 'python3', '-c', 'import socket; print(socket.socket(socket.AF_INET6).getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))']);
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.v6only=1']);
    assert.equal(r0.stdout, '0\n', r0.stderr);
  });

  test('a sockaddr_in on an AF_INET6 socket: EINVAL for bind and TCP connect (length first, as Linux), taken by UDP connect and sendto as a v4-mapped peer', async () => {
    const py = `
import socket, ctypes, errno, struct
libc = ctypes.CDLL(None, use_errno=True)
sin = ctypes.create_string_buffer(struct.pack("=H", socket.AF_INET) + struct.pack("!H", 7001) + socket.inet_aton("${HOST4}") + bytes(8), 16)
def call(f, *a):
    return "ok" if f(*a) >= 0 else errno.errorcode[ctypes.get_errno()]
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
print("udp6 bind", call(libc.bind, t.fileno(), sin, 16))
c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
print("tcp6 connect", call(libc.connect, c.fileno(), sin, 16))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
print("udp6 sendto", call(libc.sendto, s.fileno(), b"x", 1, 0, sin, 16))
print("udp6 connect", call(libc.connect, s.fileno(), sin, 16), s.getpeername()[:2])
`;
    const r = await lab.vimage(['R', 'python3', '-c', py]);
    assert.equal(r.code, 0, r.stderr);
    // What Linux itself answers (the same script on the host gives these lines).
    assert.equal(r.stdout, `udp6 bind EINVAL\ntcp6 connect EINVAL\nudp6 sendto ok\nudp6 connect ok ('::ffff:${HOST4}', 7001)\n`);
  });

  test('vimage -b python3 -m http.server --bind :: reached by curl -6 from Linux; the log shows the client\'s IPv6 address', async () => {
    const r = await lab.ok(['-b', 'R', 'python3', '-u', '-m', 'http.server', '--bind', '::', '8000']);
    const pid = Number(/\d+/.exec(r)?.[0]);
    assert.ok(pid > 0, r);
    try {
      await until('the listener in R', async () => /^tcp46? .*\*\.8000 .*LISTEN$/m.test(await lab.ok(['R', 'netstat', '-an'])));
      const c = lab.inNs(A, ['curl', '-6', '-s', '-m', '10', '-o', '/dev/null', '-w', '%{http_code} %{remote_ip}', `http://[${IMG}]:8000/`], { allowFail: true });
      assert.equal(c.stdout, `200 ${IMG}`, c.stderr);
      // http.server on :: clears IPV6_V6ONLY itself: IPv4 clients come in v4-mapped.
      const c4 = lab.inNs(A, ['curl', '-4', '-s', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${IMG4}:8000/`], { allowFail: true });
      assert.equal(c4.stdout, '200', c4.stderr);
      await until('both requests in its log', async () => {
        const log = await lab.ok(['R', 'logs', String(pid)]);
        return new RegExp(`^${esc(HOST)} - - .*"GET / HTTP/1.1" 200`, 'm').test(log) && new RegExp(`^::ffff:${esc(HOST4)} - - .*"GET / HTTP/1.1" 200`, 'm').test(log);
      });
    } finally {
      await lab.vimage(['R', 'kill', String(pid)]);
    }
  });

  test('socat over UDP6 both ways: sendto, connected UDP, recvfrom with the Linux host\'s address', async () => {
    const to = await lab.vimage(['R', 'socat', '-t', '2', '-', `UDP6-SENDTO:[${HOST}]:7000`], { stdin: 'via sendto\n' });
    assert.equal(to.code, 0, to.stderr);
    assert.equal(to.stdout, `echo:via sendto\n from ${IMG}`);
    const conn = await lab.vimage(['R', 'socat', '-t', '2', '-', `UDP6:[${HOST}]:7000`], { stdin: 'connected\n' });
    assert.equal(conn.code, 0, conn.stderr);
    assert.equal(conn.stdout, `echo:connected\n from ${IMG}`);
    const srv = background(process.execPath, [CLI, 'R', 'python3', '-u', '-c', `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 7004))
print("bound", flush=True)
d, a = s.recvfrom(1000)
print("from", a[0], d.decode().strip(), flush=True)
s.sendto(b"back", a)
`], { VIMAGE_SOCKET: lab.sock });
    stops.push(srv.stop);
    await until('the receiver in R', () => srv.out().includes('bound'));
    const c = spawnSync('ip', ['netns', 'exec', A, 'socat', '-t', '3', '-', `UDP6:[${IMG}]:7004`], { input: 'to the image\n', encoding: 'utf8', timeout: 10_000 });
    assert.equal(c.stdout, 'back', c.stderr);
    await until('the receiver to finish', () => srv.child.exitCode !== null);
    assert.equal(srv.out(), `bound\nfrom ${HOST} to the image\n`);
  });

  test('ping -6 as a user (ICMPv6 datagram socket) from the image', async () => {
    const r = await lab.vimage(['R', ...NOBODY, 'ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', HOST], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^PING ${esc(HOST)}\\(${esc(HOST)}\\) 56 data bytes\\n64 bytes from ${esc(HOST)}: icmp_seq=1 ttl=64 time=`, 'm'));
    assert.match(r.stdout, /2 packets transmitted, 2 received, 0% packet loss/);
  });

  test('escape check: the host\'s own ::1 is not reachable (the image\'s ::1 is its lo0)', async () => {
    const host = sh('curl', ['-6', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://[::1]:${ESCAPE_PORT}/page.txt`], { allowFail: true });
    assert.equal(host.stdout, '200', 'the host itself reaches it');
    const r = await lab.vimage(['R', 'env', '-i', '/usr/bin/curl', '-6', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://[::1]:${ESCAPE_PORT}/page.txt`]);
    assert.equal(r.code, 7, `curl: ${r.stdout} ${r.stderr}`); // connection refused by the image
    assert.equal(r.stdout, '000');
  });
});
