/**
 * ICMP ("ping") and raw sockets of unmodified Linux programs in an image:
 * Debian's iputils ping and traceroute, and python3, in image R against
 * Linux hosts in namespaces over a TAP. Ping runs as `exec --linux ping`
 * (`ping` alone is the built-in).
 *
 *   R (10.86.1.1) --tap-- host A (10.86.1.2, forwards) --veth-- host B (10.86.2.2)
 *   10.86.200.1: an address of the host itself, on a veth pair in its namespace (the escape check)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable, sh } from './lab.js';

const P = 'vli'; // prefix of every namespace and host device this file makes
const HOST = '10.86.1.2';
const IMG = '10.86.1.1';
const FAR = '10.86.2.2';
const HOST_ONLY = '10.86.200.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');
/** Run as nobody inside the image: the program drops root itself (setpriv), still under the supervisor. */
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

function missing(): string | undefined {
  for (const t of ['/usr/bin/ping', '/usr/sbin/traceroute', '/usr/bin/python3', '/usr/bin/setpriv']) {
    if (!existsSync(t)) return `${t} is not installed (scripts/install-test-tools.sh)`;
  }
  if (spawnSync('/usr/bin/ping', ['-V'], { encoding: 'utf8' }).stdout?.includes('iputils') !== true) return 'ping is not iputils ping';
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();

/** Icmp counters of a Linux host (its /proc/net/snmp), by name. */
function snmpIcmp(lab: Lab, ns: string): Record<string, number> {
  const lines = lab.inNs(ns, ['cat', '/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Icmp:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, vals[i]!]));
}

/** The image's input histogram count of ICMP type `name` (netstat -s -p icmp). */
async function inHist(lab: Lab, name: string): Promise<number> {
  const out = await lab.ok(['R', 'netstat', '-s', '-p', 'icmp']);
  const input = out.split('Input histogram:')[1] ?? '';
  const m = new RegExp(`^\\t\\t${name}: (\\d+)$`, 'm').exec(input);
  return m === null ? 0 : Number(m[1]);
}

const PY_PING = `
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.settimeout(5)
print("fresh", s.getsockname())
s.setsockopt(socket.SOL_SOCKET, 29, 1)   # SO_TIMESTAMP
s.setsockopt(socket.IPPROTO_IP, 12, 1)   # IP_RECVTTL
s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7) + b"hello", ("${HOST}", 0))
ident = s.getsockname()[1]
d, anc, flags, a = s.recvmsg(1000, 256)
t, c, ck, rid, seq = struct.unpack("!BBHHH", d[:8])
print("reply", t, c, rid == ident, rid != 0x1234, seq, d[8:].decode(), a, csum(d) == 0)
print("cmsgs", [(l, ty, len(x)) for l, ty, x in anc], [struct.unpack("i", x)[0] for l, ty, x in anc if (l, ty) == (0, 2)])
try:
    s.sendto(struct.pack("!BBHHH", 13, 0, 0, 0, 0), ("${HOST}", 0))
except OSError as e:
    print("not an echo", e.errno)
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("raw", "made")
except OSError as e:
    print("raw", e.errno)
for name in (36, 1):  # SO_MARK, SO_DEBUG: CAP_NET_RAW/CAP_NET_ADMIN only
    try:
        s.setsockopt(socket.SOL_SOCKET, name, 1)
        print("opt", name, "set")
    except OSError as e:
        print("opt", name, e.errno)
`;

const PY_RAW = `
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r.settimeout(5)
p = struct.pack("!BBHHH", 8, 0, 0, 0x4321, 9) + b"raw!"
r.sendto(p[:2] + struct.pack("!H", csum(p)) + p[4:], ("${HOST}", 0))
while True:
    d, a = r.recvfrom(1000)
    hl = (d[0] & 15) * 4
    if d[hl] == 0 and struct.unpack("!H", d[hl + 4:hl + 6])[0] == 0x4321: break
print("raw reply", a, d[0] >> 4, d[9], struct.unpack("!H", d[hl + 6:hl + 8])[0], d[hl + 8:].decode())
print("name", r.getsockname(), r.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
`;

describe('ICMP and raw sockets of Linux programs in an image', { skip }, () => {
  const lab = new Lab(P);
  let A = '';

  before(async () => {
    await lab.start();
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
    const B = lab.netns('B');
    sh('ip', ['link', 'add', `${P}b0`, 'type', 'veth', 'peer', 'name', `${P}b1`]);
    lab.wireHost(`${P}b0`, A, '10.86.2.1/24');
    lab.wireHost(`${P}b1`, B, `${FAR}/24`, '10.86.2.1');
    lab.inNs(A, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // An address only the host itself has.
    sh('ip', ['link', 'add', `${P}d0`, 'type', 'veth', 'peer', 'name', `${P}d1`]);
    sh('ip', ['addr', 'add', `${HOST_ONLY}/32`, 'dev', `${P}d0`]);
    sh('ip', ['link', 'set', `${P}d0`, 'up']);
    sh('ip', ['link', 'set', `${P}d1`, 'up']);
  });

  after(async () => {
    await lab.close();
  });

  test('root: iputils ping gets every reply from the Linux host, in its usual output; the image counts the replies', async () => {
    const before = snmpIcmp(lab, A);
    const repliesBefore = await inHist(lab, 'echo reply');
    const r = await lab.vimage(['R', 'exec', '--linux', 'ping', '-c', '3', '-i', '0.2', HOST]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^PING ${HOST} \\(${HOST}\\) 56\\(84\\) bytes of data\\.$`, 'm'));
    for (const seq of [1, 2, 3]) assert.match(r.stdout, new RegExp(`^64 bytes from ${HOST.replace(/\./g, '\\.')}: icmp_seq=${seq} ttl=64 time=[\\d.]+ ms$`, 'm'));
    assert.match(r.stdout, /^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$/m);
    assert.match(r.stdout, /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);
    assert.equal(r.stderr, '');
    const after = snmpIcmp(lab, A);
    assert.equal(after.InEchos! - before.InEchos!, 3, 'the Linux host answered three echo requests');
    assert.equal(await inHist(lab, 'echo reply') - repliesBefore, 3, 'netstat -s -p icmp in the image counts them');
    // The same by path, and to the image's own loopback.
    const lo = await lab.vimage(['R', '/usr/bin/ping', '-c', '2', '-i', '0.2', '127.0.0.1']);
    assert.equal(lo.code, 0, lo.stderr + lo.stdout);
    assert.match(lo.stdout, /2 packets transmitted, 2 received, 0% packet loss/);
  });

  test('an address nobody answers: 100% loss in the usual time; no route: ping\'s connect error at once', async () => {
    const t0 = Date.now();
    const r = await lab.vimage(['R', 'exec', '--linux', 'ping', '-c', '3', '-i', '0.2', '-W', '1', '10.86.1.99']);
    const took = Date.now() - t0;
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /^3 packets transmitted, 0 received, 100% packet loss, time \d+ms$/m);
    assert.ok(took < 6000, `took ${took} ms`);
    const t1 = Date.now();
    const nr = await lab.vimage(['R', 'exec', '--linux', 'ping', '-c', '1', '-W', '1', '10.86.99.1']);
    assert.equal(nr.code, 2, nr.stderr + nr.stdout);
    assert.match(nr.stderr, /^ping: connect: (No route to host|Network is unreachable)$/m);
    assert.ok(Date.now() - t1 < 3000);
  });

  test('a user without privileges pings through a ping socket; a raw socket is EPERM for them', async () => {
    const r = await lab.vimage(['R', ...NOBODY, 'ping', '-c', '2', '-i', '0.2', HOST]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^2 packets transmitted, 2 received, 0% packet loss/m);
    assert.match(r.stdout, new RegExp(`^64 bytes from ${HOST.replace(/\./g, '\\.')}: icmp_seq=2 ttl=64 time=`, 'm'));
    const py = await lab.vimage(['R', ...NOBODY, '/usr/bin/python3', '-c', PY_PING]);
    assert.equal(py.code, 0, py.stderr);
    const lines = py.stdout.split('\n');
    assert.equal(lines[0], "fresh ('0.0.0.0', 0)");
    assert.equal(lines[1], `reply 0 0 True True 7 hello ('${HOST}', 0) True`, 'an echo reply with the identifier the image wrote, a good checksum');
    assert.equal(lines[2], 'cmsgs [(1, 29, 16), (0, 2, 4)] [64]', 'SO_TIMESTAMP and IP_TTL control messages');
    assert.equal(lines[3], 'not an echo 22');
    assert.equal(lines[4], 'raw 1', 'EPERM without CAP_NET_RAW');
    assert.deepEqual(lines.slice(5, 7), ['opt 36 1', 'opt 1 13'], 'SO_MARK: EPERM, SO_DEBUG: EACCES, as Linux');
    // Root may.
    const root = await lab.vimage(['R', '/usr/bin/python3', '-c', PY_PING]);
    assert.equal(root.code, 0, root.stderr);
    assert.deepEqual(root.stdout.split('\n').slice(4, 7), ['raw made', 'opt 36 set', 'opt 1 set']);
  });

  test('root: a python3 raw ICMP socket sends its own echo request and reads the reply with its IP header', async () => {
    const py = await lab.vimage(['R', '/usr/bin/python3', '-c', PY_RAW]);
    assert.equal(py.code, 0, py.stderr);
    const lines = py.stdout.split('\n');
    assert.equal(lines[0], `raw reply ('${HOST}', 0) 4 1 9 raw!`);
    assert.equal(lines[1], "name ('0.0.0.0', 1) 3");
  });

  test('traceroute -I through a Linux router reaches the far host; an address only the host has is not reachable from the image, and ping prints the router\'s error', async () => {
    await lab.ok(['R', 'route', 'add', 'default', HOST]);
    // traceroute (either socket: -O raw or a ping socket) reaches the far host through the router. The routers'
    // own hops need IP_RECVERR's error queue, which traceroute reads for every method and the image does not keep.
    for (const how of [['-O', 'raw'], []]) {
      const tr = await lab.vimage(['R', 'exec', '--linux', 'traceroute', '-I', ...how, '-n', '-q', '1', '-w', '1', '-m', '2', FAR]);
      assert.equal(tr.code, 0, tr.stderr + tr.stdout);
      assert.match(tr.stdout, new RegExp(`^traceroute to ${FAR} \\(${FAR}\\), 2 hops max, 60 byte packets$`, 'm'));
      assert.match(tr.stdout, new RegExp(`^ 2  ${FAR.replace(/\./g, '\\.')}  [\\d.]+ ms\\s*$`, 'm'), tr.stdout);
    }
    // The host answers its own address at once; from the image it goes out the TAP to host A, which has no route to it.
    assert.equal(sh('ping', ['-c', '1', '-W', '1', HOST_ONLY], { allowFail: true }).code, 0);
    const r = await lab.vimage(['R', 'exec', '--linux', 'ping', '-c', '2', '-i', '0.2', '-W', '1', HOST_ONLY]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /bytes from/);
    // Host A's "no route" comes back through the ping socket's error queue (IP_RECVERR), printed as on Linux.
    assert.match(r.stdout, new RegExp(`^From ${HOST.replace(/\./g, '\\.')} icmp_seq=1 Destination Net Unreachable$`, 'm'), r.stdout);
    assert.match(r.stdout, /^2 packets transmitted, 0 received, \+2 errors, 100% packet loss, time \d+ms$/m, r.stdout);
    const rr = await lab.vimage(['R', '/usr/bin/python3', '-c', `
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.settimeout(1.5)
s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1), ("${HOST_ONLY}", 0))
try:
    print("answered", s.recvfrom(100)[1])
except socket.timeout:
    print("no answer")
`]);
    assert.equal(rr.stdout.trim(), 'no answer', rr.stderr);
  });

  test('every program has exited: no image socket is left behind', async () => {
    assert.match(await lab.ok(['-l', '-v', 'R']), /^\s+0 sockets, /m);
  });
});
