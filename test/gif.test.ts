/**
 * gif(4) against Linux and between images.
 *
 * Image R: tap0 (10.66.0.1/24, fd66::1/64) to namespace L (vgft0,
 * 10.66.0.2/24, fd66::2/64) is the underlay. R's gif0 is a 4in4 tunnel to L
 * (inner 10.9.0.1 --> 10.9.0.2).
 *
 * Linux's own tunnel devices (`ip tunnel add NAME mode ipip`, `mode sit`,
 * `ip -6 tunnel add NAME mode ip6ip6`/`ipip6`) need the kernel's ipip, sit
 * and ip6_tunnel; where the kernel has none (CONFIG_NET_IPIP,
 * CONFIG_IPV6_SIT, CONFIG_IPV6_TUNNEL not set) those tests are skipped and
 * say so, and L's end of the tunnel is a small raw-socket program instead
 * (python3, IPPROTO_IPIP / IPPROTO_IPV6 raw sockets): it answers the echo
 * requests that arrive encapsulated, encapsulated, and sends its own, which
 * checks both directions of 4in4 and 6in4 with Linux's IP stack building
 * the outer header.
 *
 * Images A and B on an epair (fd67::1, fd67::2) run 4in6 and 6in6 tunnels.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, Lab, labUnavailable, sh, until } from './lab.js';

const P = 'vgf'; // prefix of every namespace and host device this file makes
const skip = labUnavailable() ?? (spawnSync('python3', ['-c', '1']).status === 0 ? undefined : 'python3 is not installed (the raw-socket tunnel peer)');

/**
 * L's end of a tunnel without the kernel's: `peer.py respond PROTO OUTER_PEER N`
 * answers N encapsulated ICMP/ICMPv6 echo requests; `peer.py ping PROTO
 * OUTER_PEER INNER_SRC INNER_DST` sends one and waits for the reply. PROTO
 * is 4 (IPv4 inside) or 41 (IPv6 inside); the outer header is IPv4 and is
 * Linux's (a raw socket of that protocol without IP_HDRINCL).
 */
const PEER = String.raw`
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ip4(src, dst, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 7, 0, 64, 1, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload
def echo4(typ, ident, seq, data):
    m = struct.pack('!BBHHH', typ, 0, 0, ident, seq) + data
    return m[:2] + struct.pack('!H', csum(m)) + m[4:]
def ip6(src, dst, payload):
    s = socket.inet_pton(socket.AF_INET6, src); d = socket.inet_pton(socket.AF_INET6, dst)
    ph = s + d + struct.pack('!IxxxB', len(payload), 58)
    payload = payload[:2] + b'\0\0' + payload[4:]
    payload = payload[:2] + struct.pack('!H', csum(ph + payload)) + payload[4:]
    return struct.pack('!IHBB', 0x60000000, len(payload), 58, 64) + s + d + payload
mode, proto, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
s.settimeout(10)
def inner_of(pkt):
    hl = (pkt[0] & 15) * 4
    return pkt[hl:]
if mode == 'respond':
    n = int(sys.argv[4]); done = 0
    print('ready', flush=True)
    while done < n:
        pkt, addr = s.recvfrom(65535)
        if addr[0] != peer: continue
        i = inner_of(pkt)
        if proto == 4 and i[0] >> 4 == 4 and i[9] == 1 and i[(i[0] & 15) * 4] == 8:
            hl = (i[0] & 15) * 4
            _, _, _, ident, seq = struct.unpack('!BBHHH', i[hl:hl + 8])
            src = socket.inet_ntoa(i[12:16]); dst = socket.inet_ntoa(i[16:20])
            s.sendto(ip4(dst, src, echo4(0, ident, seq, i[hl + 8:])), (peer, 0)); done += 1
        elif proto == 41 and i[0] >> 4 == 6 and i[6] == 58 and i[40] == 128:
            src = socket.inet_ntop(socket.AF_INET6, i[8:24]); dst = socket.inet_ntop(socket.AF_INET6, i[24:40])
            s.sendto(ip6(dst, src, bytes([129]) + i[41:]), (peer, 0)); done += 1
    print('answered', done)
else:
    src, dst = sys.argv[4], sys.argv[5]
    if proto == 4: s.sendto(ip4(src, dst, echo4(8, 0x4242, 1, b'vimage-gif')), (peer, 0))
    else: s.sendto(ip6(src, dst, bytes([128, 0, 0, 0, 0x42, 0x42, 0, 1]) + b'vimage-gif'), (peer, 0))
    while True:
        pkt, addr = s.recvfrom(65535)
        i = inner_of(pkt)
        if addr[0] == peer and ((proto == 4 and i[0] >> 4 == 4 and i[(i[0] & 15) * 4] == 0) or (proto == 41 and i[0] >> 4 == 6 and i[40] == 129)):
            print('reply from', socket.inet_ntoa(i[12:16]) if proto == 4 else socket.inet_ntop(socket.AF_INET6, i[8:24])); break
`;

/** Start the raw-socket peer answering `n` encapsulated echo requests of `proto`; resolves once its socket is open. */
async function responder(ns: string, peer: string, proto: 4 | 41, n: number): Promise<{ done: Promise<number | null>; said: () => string; kill: () => void }> {
  const p = spawn('ip', ['netns', 'exec', ns, 'python3', peer, 'respond', String(proto), '10.66.0.1', String(n)]);
  let said = '';
  p.stdout.on('data', (c: Buffer) => (said += c.toString()));
  p.stderr.on('data', (c: Buffer) => (said += c.toString()));
  const done = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  await until('the raw-socket peer to open its socket', () => said.includes('ready'));
  return { done, said: () => said, kill: () => void p.kill('SIGKILL') };
}

/** Does this kernel make Linux tunnel devices of `mode`? */
function kernelTunnel(ns: string, mode: string): boolean {
  const six = mode === 'ip6ip6' || mode === 'ipip6';
  const r = sh('ip', ['-n', ns, ...(six ? ['-6'] : []), 'tunnel', 'add', `${P}probe`, 'mode', mode, 'local', six ? 'fd66::2' : '10.66.0.2', 'remote', six ? 'fd66::1' : '10.66.0.1'], { allowFail: true });
  if (r.code === 0) sh('ip', ['-n', ns, 'link', 'del', `${P}probe`], { allowFail: true });
  return r.code === 0;
}

describe('gif(4): with Linux over a TAP, and between two images', { skip }, () => {
  const lab = new Lab(P);
  let L = '';
  let dir = '';
  let peer = '';

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), `${P}-peer-`));
    peer = path.join(dir, 'peer.py');
    writeFileSync(peer, PEER);
    await lab.start();
    L = lab.netns('L');
    await lab.ok(['-c', 'R']);
    const tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}t0`])).trim();
    lab.wireHost(`${P}t0`, L, '10.66.0.2/24');
    sh('ip', ['-n', L, 'addr', 'add', 'fd66::2/64', 'dev', `${P}t0`, 'nodad']);
    await lab.ok(['R', 'ifconfig', tap, 'inet', '10.66.0.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', tap, 'inet6', 'fd66::1/64']);
    lab.inNs(L, ['ping', '-c', '1', '-W', '2', '10.66.0.1']);
  });
  after(async () => {
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ifconfig gif create, tunnel, point-to-point address: FreeBSD 14 status lines', async () => {
    assert.equal(await lab.ok(['R', 'ifconfig', 'gif', 'create']), 'gif0\n');
    await lab.ok(['R', 'ifconfig', 'gif0', 'tunnel', '10.66.0.1', '10.66.0.2']);
    await lab.ok(['R', 'ifconfig', 'gif0', 'inet', '10.9.0.1', '10.9.0.2', 'up']);
    await lab.ok(['R', 'ifconfig', 'gif0', 'inet6', 'fd09::1', 'prefixlen', '64']);
    const out = await lab.ok(['R', 'ifconfig', 'gif0']);
    assert.match(out, /^gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280\n\toptions=80000<LINKSTATE>\n\ttunnel inet 10\.66\.0\.1 --> 10\.66\.0\.2\n\tinet 10\.9\.0\.1 --> 10\.9\.0\.2 netmask 0xff000000\n/);
    assert.match(out, /\tgroups: gif\n/);
    const j = JSON.parse(await lab.ok(['--json', 'R', 'ifconfig', 'gif0'])) as { interfaces: Array<{ gif: unknown }> };
    assert.deepEqual(j.interfaces[0]!.gif, { tunnel: { family: 'inet', src: '10.66.0.1', dst: '10.66.0.2' } });
  });

  test('4in4 with a Linux raw-socket peer: the image pings through the tunnel and answers pings from Linux', async () => {
    const resp = await responder(L, peer, 4, 3);
    try {
      const out = await lab.ok(['R', 'ping', '-c', '3', '-i', '0.2', '10.9.0.2']);
      assert.match(out, /3 packets transmitted, 3 packets received/, out);
      assert.equal(await resp.done, 0, resp.said());
      assert.match(resp.said(), /answered 3/);
    } finally {
      resp.kill();
    }
    const r = lab.inNs(L, ['python3', peer, 'ping', '4', '10.66.0.1', '10.9.0.2', '10.9.0.1'], { timeoutMs: 15_000 });
    assert.match(r.stdout, /reply from 10\.9\.0\.1/, r.stdout + r.stderr);
  });

  test('6in4 with the raw-socket peer: IPv6 inside IPv4 protocol 41, both ways', async () => {
    const resp = await responder(L, peer, 41, 2);
    try {
      const out = await lab.ok(['R', 'ping6', '-c', '2', '-i', '0.2', 'fd09::2']);
      assert.match(out, /2 packets transmitted, 2 packets received/, out);
      assert.equal(await resp.done, 0, resp.said());
    } finally {
      resp.kill();
    }
    const r = lab.inNs(L, ['python3', peer, 'ping', '41', '10.66.0.1', 'fd09::2', 'fd09::1'], { timeoutMs: 15_000 });
    assert.match(r.stdout, /reply from fd09::1/, r.stdout + r.stderr);
  });

  test("Linux's ipip and sit devices (ip tunnel add NAME mode ipip|sit) ping the image through gif", async (t) => {
    if (!kernelTunnel(L, 'ipip') || !kernelTunnel(L, 'sit')) {
      t.skip('this kernel has no ipip/sit tunnels (CONFIG_NET_IPIP, CONFIG_IPV6_SIT not set; modprobe ipip sit fails)');
      return;
    }
    sh('ip', ['-n', L, 'tunnel', 'add', `${P}ip`, 'mode', 'ipip', 'local', '10.66.0.2', 'remote', '10.66.0.1']);
    sh('ip', ['-n', L, 'addr', 'add', '10.9.0.2', 'peer', '10.9.0.1', 'dev', `${P}ip`]);
    sh('ip', ['-n', L, 'link', 'set', `${P}ip`, 'up']);
    let r = lab.inNs(L, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.9.0.1'], { allowFail: true });
    assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    assert.match(await lab.ok(['R', 'ping', '-c', '2', '-i', '0.2', '10.9.0.2']), /2 packets received/);
    sh('ip', ['-n', L, 'link', 'del', `${P}ip`]);
    sh('ip', ['-n', L, 'tunnel', 'add', `${P}st`, 'mode', 'sit', 'local', '10.66.0.2', 'remote', '10.66.0.1']);
    sh('ip', ['-n', L, 'addr', 'add', 'fd09::2/64', 'dev', `${P}st`, 'nodad']);
    sh('ip', ['-n', L, 'link', 'set', `${P}st`, 'up']);
    r = lab.inNs(L, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd09::1'], { allowFail: true });
    assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    sh('ip', ['-n', L, 'link', 'del', `${P}st`]);
  });

  test("Linux's ip6ip6 and ipip6 devices (ip -6 tunnel add) ping the image through an IPv6 gif", async (t) => {
    if (!kernelTunnel(L, 'ip6ip6') || !kernelTunnel(L, 'ipip6')) {
      t.skip('this kernel has no IPv6 tunnels (CONFIG_IPV6_TUNNEL not set; modprobe ip6_tunnel fails)');
      return;
    }
    assert.equal(await lab.ok(['R', 'ifconfig', 'gif', 'create']), 'gif1\n');
    await lab.ok(['R', 'ifconfig', 'gif1', 'tunnel', 'fd66::1', 'fd66::2']);
    await lab.ok(['R', 'ifconfig', 'gif1', 'inet', '10.10.0.1', '10.10.0.2', 'up']);
    sh('ip', ['-n', L, '-6', 'tunnel', 'add', `${P}6`, 'mode', 'ipip6', 'local', 'fd66::2', 'remote', 'fd66::1']);
    sh('ip', ['-n', L, 'addr', 'add', '10.10.0.2', 'peer', '10.10.0.1', 'dev', `${P}6`]);
    sh('ip', ['-n', L, 'link', 'set', `${P}6`, 'up']);
    const r = lab.inNs(L, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.10.0.1'], { allowFail: true });
    assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    sh('ip', ['-n', L, 'link', 'del', `${P}6`]);
    await lab.ok(['R', 'ifconfig', 'gif1', 'destroy']);
  });

  test('tcpdump -i gif0 -w - is a DLT_NULL pcap (linktype 0) that tcpdump -r reads as BSD loopback', async () => {
    const cap = spawn(process.execPath, [CLI, 'R', 'tcpdump', '-i', 'gif0', '-c', '2', '-w', '-', 'icmp'], { env: { ...process.env, VIMAGE_SOCKET: lab.sock } });
    const chunks: Buffer[] = [];
    let err = '';
    cap.stdout.on('data', (c: Buffer) => chunks.push(c));
    cap.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const closed = new Promise<void>((r) => cap.on('close', () => r()));
    const resp = await responder(L, peer, 4, 1);
    try {
      await until('tcpdump to listen', () => /listening on gif0, link-type NULL \(BSD loopback\)/.test(err));
      await lab.ok(['R', 'ping', '-c', '1', '10.9.0.2']);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      cap.kill('SIGKILL');
      resp.kill();
    }
    const file = path.join(dir, 'gif0.pcap');
    writeFileSync(file, Buffer.concat(chunks));
    const r = sh('tcpdump', ['-n', '-r', file]);
    assert.match(r.stderr, /link-type NULL \(BSD loopback\)/, r.stderr);
    assert.match(r.stdout, /IP 10\.9\.0\.1 > 10\.9\.0\.2: ICMP echo request/, r.stdout);
    assert.match(r.stdout, /IP 10\.9\.0\.2 > 10\.9\.0\.1: ICMP echo reply/);
  });

  test('two images with gif over an epair: 4in6 and 6in6 both ways', async () => {
    await lab.ok(['-c', 'A']);
    await lab.ok(['-c', 'B']);
    const ea = (await lab.ok(['A', 'ifconfig', 'epair', 'create'])).trim();
    const eb = ea.replace(/a$/, 'b');
    await lab.ok(['A', 'ifconfig', eb, 'vnet', 'B']);
    await lab.ok(['A', 'ifconfig', ea, 'inet6', 'fd67::1/64', 'up']);
    await lab.ok(['B', 'ifconfig', eb, 'inet6', 'fd67::2/64', 'up']);
    const ga = (await lab.ok(['A', 'ifconfig', 'gif', 'create'])).trim();
    const gb = (await lab.ok(['B', 'ifconfig', 'gif', 'create'])).trim();
    await lab.ok(['A', 'ifconfig', ga, 'tunnel', 'fd67::1', 'fd67::2']);
    await lab.ok(['B', 'ifconfig', gb, 'tunnel', 'fd67::2', 'fd67::1']);
    await lab.ok(['A', 'ifconfig', ga, 'inet', '10.68.0.1', '10.68.0.2', 'up']);
    await lab.ok(['B', 'ifconfig', gb, 'inet', '10.68.0.2', '10.68.0.1', 'up']);
    await lab.ok(['A', 'ifconfig', ga, 'inet6', 'fd68::1', 'prefixlen', '64']);
    await lab.ok(['B', 'ifconfig', gb, 'inet6', 'fd68::2', 'prefixlen', '64']);
    assert.match(await lab.ok(['A', 'ifconfig', ga]), /\ttunnel inet6 fd67::1 --> fd67::2\n/);
    await until('DAD on the underlay', async () => /1 packets received/.test((await lab.vimage(['A', 'ping6', '-c', '1', 'fd67::2'])).stdout), 10_000);
    assert.match(await lab.ok(['A', 'ping', '-c', '3', '-i', '0.2', '10.68.0.2']), /3 packets transmitted, 3 packets received/);
    assert.match(await lab.ok(['B', 'ping', '-c', '3', '-i', '0.2', '10.68.0.1']), /3 packets transmitted, 3 packets received/);
    await until('DAD on the tunnel', async () => /1 packets received/.test((await lab.vimage(['A', 'ping6', '-c', '1', 'fd68::2'])).stdout), 10_000);
    assert.match(await lab.ok(['A', 'ping6', '-c', '3', '-i', '0.2', 'fd68::2']), /3 packets transmitted, 3 packets received/);
    assert.match(await lab.ok(['B', 'ping6', '-c', '3', '-i', '0.2', 'fd68::1']), /3 packets transmitted, 3 packets received/);
  });

  test('after a daemon restart the tunnel is back and the image pings through it again', async () => {
    const d = lab.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
    await lab.start();
    const out = await lab.ok(['R', 'ifconfig', 'gif0']);
    assert.match(out, /^gif0: flags=1008051<UP,POINTOPOINT,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 1280\n\toptions=80000<LINKSTATE>\n\ttunnel inet 10\.66\.0\.1 --> 10\.66\.0\.2\n\tinet 10\.9\.0\.1 --> 10\.9\.0\.2 netmask 0xff000000\n/);
    const resp = await responder(L, peer, 4, 2);
    try {
      await until('the tap to carry again', async () => /1 packets received/.test((await lab.vimage(['R', 'ping', '-c', '1', '10.66.0.2'])).stdout), 15_000);
      assert.match(await lab.ok(['R', 'ping', '-c', '2', '-i', '0.2', '10.9.0.2']), /2 packets transmitted, 2 packets received/);
    } finally {
      resp.kill();
    }
    assert.match(await lab.ok(['A', 'ping', '-c', '2', '-i', '0.2', '10.68.0.2']), /2 packets transmitted, 2 packets received/);
  });
});
