/**
 * The image's IPv6 stack against Linux's, probe by probe (the IPv6 part of
 * test/compare.test.ts): the same crafted packets (test/tools/probes6.py,
 * scapy) go to a Linux host and to an image, both forwarding IPv6 with a
 * route beyond them, each running a TCP listener on the same port and
 * leaving the same TCP and UDP ports closed; the normalised answers must be
 * equal, except where FreeBSD (which the image follows) and Linux differ on
 * purpose: the allow-list below says where and why.
 *
 *   probe ns P:  v6xp0 (no address) --veth-- v6xl0 Linux ns L (2001:db8:61::1)
 *                v6xt0 (no address) --tap--- image T (2001:db8:62::1)
 *
 * Covered: Neighbor Discovery (solicitations multicast, unicast, for DAD,
 * and the invalid ones RFC 4861 7.1.1 drops), a DAD conflict (a defended
 * address is marked duplicated on both), ICMPv6 errors and what they quote
 * (hop limit exceeded while forwarding, port unreachable, parameter
 * problem for an unknown next header), extension headers (hop-by-hop and
 * destination options with an unknown option of each action class, to a
 * unicast address and to all-nodes, hop-by-hop not first, routing header
 * type 0 refused as RFC 5095 says), TCP's handshake, RST and challenge ACKs.
 *
 * Not covered: fragments (overlapping fragments dropped, RFC 5722) wait for
 * IPv6 reassembly, which is another helper's work not yet on main.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable, sh } from './lab.js';

const P = 'v6x'; // prefix of every namespace and host device this file makes
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PROBES = path.join(ROOT, 'test/tools/probes6.py');
const OPEN = 7600;
const CLOSED_TCP = 7699;
const CLOSED_UDP = 7698;
const BEYOND = '2001:db8:69::1';
const LINUX = { addr: '2001:db8:61::1', probe: '2001:db8:61::2', gw: '2001:db8:61::99', dup: '2001:db8:61::77' };
const IMAGE = { addr: '2001:db8:62::1', probe: '2001:db8:62::2', gw: '2001:db8:62::99', dup: '2001:db8:62::77' };

const skip = labUnavailable() ?? (spawnSync(PY, ['-c', 'import scapy']).status === 0 ? undefined : 'python3-scapy is not installed (scripts/install-test-tools.sh)');

type Signature = Record<string, unknown>[];
type Signatures = Record<string, Signature>;

const LINUX_DISCARD = `
import socket, threading
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", ${OPEN}))
s.listen(128)
def serve(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/**
 * Where FreeBSD (and so the image) answers differently from Linux on
 * purpose. Each entry is what the image must answer; Linux's answer is only
 * reported (it varies between kernel versions).
 */
const FREEBSD_DIFFERS: Record<string, { image: Signature; why: string }> = {};

const DETAIL = process.env.VCMP_DETAIL === '1' ? ['detail'] : [];

const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

function runProbes(ns: string, ifname: string, target: string, mac: string, src: string): Signatures {
  const r = spawnSync('ip', ['netns', 'exec', ns, PY, PROBES, ifname, target, mac, src, BEYOND, String(OPEN), String(CLOSED_TCP), String(CLOSED_UDP), ...DETAIL], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `probes6.py against ${target} failed: ${r.stderr}${r.error?.message ?? ''}`);
  return JSON.parse(r.stdout) as Signatures;
}

describe('the image answers crafted IPv6 probes as Linux does (FreeBSD where they differ)', { skip }, () => {
  const lab = new Lab(P);
  let L = '';
  let PNS = '';
  let tap = '';
  let linuxServer: ChildProcess | null = null;
  let imageServer: Promise<unknown> | null = null;
  let linuxMac = '';
  let imageMac = '';

  before(async () => {
    await lab.start(['--log-level', 'warn']);
    L = lab.netns('L');
    PNS = lab.netns('P');
    sh('ip', ['link', 'add', `${P}l0`, 'type', 'veth', 'peer', 'name', `${P}p0`]);
    sh('ip', ['link', 'set', `${P}l0`, 'netns', L]);
    sh('ip', ['link', 'set', `${P}p0`, 'netns', PNS]);
    lab.inNs(L, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    sh('ip', ['-n', L, 'link', 'set', `${P}l0`, 'up']);
    sh('ip', ['-n', L, 'addr', 'add', `${LINUX.addr}/64`, 'dev', `${P}l0`, 'nodad']);
    sh('ip', ['-n', L, '-6', 'route', 'add', '2001:db8:69::/64', 'via', LINUX.gw, 'dev', `${P}l0`]);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}p0`, 'up']);
    await lab.ok(['-c', 'T']);
    tap = (await lab.ok(['T', 'ifconfig', 'tap', 'create', 'hostname', `${P}t0`])).trim();
    sh('ip', ['link', 'set', `${P}t0`, 'netns', PNS]);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}t0`, 'up']);
    await lab.ok(['T', 'sysctl', 'net.inet6.ip6.forwarding=1']);
    await lab.ok(['T', 'ifconfig', tap, 'inet6', `${IMAGE.addr}/64`, 'up']);
    await lab.ok(['T', 'route', '-6', 'add', '2001:db8:69::/64', IMAGE.gw]);
    const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]{17})/.exec(sh('ip', ['-n', ns, 'link', 'show', dev]).stdout)![1]!;
    sh('ip', ['-n', L, 'neigh', 'add', LINUX.probe, 'lladdr', macOf(PNS, `${P}p0`), 'dev', `${P}l0`, 'nud', 'permanent']);
    await lab.ok(['T', 'ndp', '-s', IMAGE.probe, macOf(PNS, `${P}t0`)]);
    linuxMac = macOf(L, `${P}l0`);
    imageMac = /\tether ([0-9a-f:]{17})/.exec(await lab.ok(['T', 'ifconfig', tap]))![1]!;
    linuxServer = spawn('ip', ['netns', 'exec', L, PY, '-c', LINUX_DISCARD], { stdio: 'ignore' });
    imageServer = lab.vimage(['T', 'discard', '-t', '-p', String(OPEN)], { timeoutMs: 600_000 });
    for (let i = 0; i < 200; i++) {
      const ss = sh('ip', ['netns', 'exec', L, 'ss', '-tln'], { allowFail: true }).stdout;
      const ns = await lab.ok(['T', 'netstat', '-an']);
      const ifc = await lab.ok(['T', 'ifconfig', tap]);
      // The image's address is usable once its DAD is over.
      if (ss.includes(`:${OPEN} `) && new RegExp(`\\*\\.${OPEN} .* LISTEN`).test(ns) && ifc.includes(IMAGE.addr) && !/2001:db8:62::1 prefixlen 64 tentative/.test(ifc)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the listeners or the addresses did not come up');
  });

  after(async () => {
    linuxServer?.kill('SIGKILL');
    await lab.close();
    await imageServer?.catch(() => undefined);
  });

  let linux: Signatures = {};
  let image: Signatures = {};
  const table = (names: string[]): string =>
    names.map((n) => `${n}: ${canon(linux[n])}${canon(linux[n]) === canon(image[n]) ? '' : ` / image ${canon(image[n])}`}`).join('\n');

  test('the same IPv6 probes go to Linux and to the image', () => {
    linux = runProbes(PNS, `${P}p0`, LINUX.addr, linuxMac, LINUX.probe);
    image = runProbes(PNS, `${P}t0`, IMAGE.addr, imageMac, IMAGE.probe);
    if (process.env.VCMP_DUMP !== undefined) writeFileSync(process.env.VCMP_DUMP, JSON.stringify({ linux, image }, null, 1));
    assert.deepEqual(Object.keys(image).sort(), Object.keys(linux).sort());
    // The captures work: answers of every kind were seen, so empty captures cannot pass below.
    assert.equal(linux.ns_multicast![0]!.icmp6, '136/0', table(['ns_multicast']));
    assert.equal(linux.udp_closed![0]!.icmp6, '1/4', table(['udp_closed']));
    assert.equal(linux.hlim_exceeded![0]!.icmp6, '3/0', table(['hlim_exceeded']));
    assert.equal(linux.syn_open![0]!.flags, 'SA', table(['syn_open']));
  });

  test('every ND, ICMPv6, extension-header and TCP probe gets the answer Linux gives, except the listed FreeBSD differences', () => {
    assert.ok(Object.keys(linux).length > 0, 'the probes ran');
    const names = Object.keys(linux).sort();
    const wrong: string[] = [];
    for (const name of names) {
      const l = canon(linux[name]);
      const i = canon(image[name]);
      const allowed = FREEBSD_DIFFERS[name];
      if (allowed !== undefined) {
        if (i !== canon(allowed.image)) wrong.push(`${name}: image ${i}, FreeBSD answers ${canon(allowed.image)}`);
        else console.log(`# expected difference ${name}: linux ${l}, image ${i}: ${allowed.why}`);
      } else if (l !== i) {
        wrong.push(`${name}: linux ${l} image ${i}`);
      }
    }
    assert.deepEqual(wrong, [], `answers that differ:\n${wrong.join('\n')}\n\nall probes (linux / image):\n${table(names)}`);
  });

  test('DAD conflict: an address another node defends is marked duplicated on both, and not used', async () => {
    // The probe namespace answers the DAD solicitations for both new addresses (RFC 4862 5.4.4).
    const child = spawn('ip', ['netns', 'exec', PNS, PY, PROBES, 'dad', `${P}p0`, '10', LINUX.dup], { stdio: ['ignore', 'pipe', 'pipe'] });
    const child2 = spawn('ip', ['netns', 'exec', PNS, PY, PROBES, 'dad', `${P}t0`, '10', IMAGE.dup], { stdio: ['ignore', 'pipe', 'pipe'] });
    const text = ['', ''];
    const out = (c: ChildProcess, k: number): Promise<string> =>
      new Promise((resolve) => {
        c.stdout!.on('data', (d: Buffer) => (text[k] += d.toString()));
        c.on('close', () => resolve(text[k]!.trim().split('\n').pop()!));
      });
    const [o1, o2] = [out(child, 0), out(child2, 1)];
    // Both responders listen before the addresses are configured.
    for (let i = 0; i < 300 && !(text[0]!.includes('ready') && text[1]!.includes('ready')); i++) await new Promise((r) => setTimeout(r, 50));
    sh('ip', ['-n', L, 'addr', 'add', `${LINUX.dup}/64`, 'dev', `${P}l0`]);
    await lab.ok(['T', 'ifconfig', tap, 'inet6', `${IMAGE.dup}/64`]);
    let linuxState = '';
    let imageState = '';
    for (let i = 0; i < 80; i++) {
      linuxState = sh('ip', ['-n', L, '-6', 'addr', 'show', 'dev', `${P}l0`]).stdout;
      imageState = await lab.ok(['T', 'ifconfig', tap]);
      if (/dadfailed/.test(linuxState) && /2001:db8:62::77 prefixlen 64 duplicated/.test(imageState)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(linuxState, /inet6 2001:db8:61::77\/64 scope global (dadfailed tentative|tentative dadfailed)/, linuxState);
    assert.match(imageState, /inet6 2001:db8:62::77 prefixlen 64 duplicated/, imageState);
    const stats = await lab.ok(['T', 'netstat', '-s', '-p', 'icmp6']);
    assert.match(stats, /neighbor advertisement: \d+/, stats);
    await Promise.all([o1, o2]).then(([a, b]) => {
      assert.ok(JSON.parse(a).answered >= 1, `the responder answered Linux's probe: ${a}`);
      assert.ok(JSON.parse(b).answered >= 1, `the responder answered the image's probe: ${b}`);
    });
    // A duplicated address is not ours: an echo to it is not answered (the probe sends one from P).
    const ping = sh('ip', ['netns', 'exec', PNS, PY, '-c', `
from scapy.all import Ether, IPv6, ICMPv6EchoRequest, conf
import select, time
s = conf.L2socket(iface="${P}t0", nofilter=1)
s.send(Ether(dst="${imageMac}") / IPv6(src="${IMAGE.probe}", dst="${IMAGE.dup}") / ICMPv6EchoRequest(id=77))
end = time.time() + 1
n = 0
while time.time() < end:
    r, _, _ = select.select([s], [], [], end - time.time())
    if not r: break
    p = s.recv()
    if p is not None and IPv6 in p and p[IPv6].src == "${IMAGE.dup}": n += 1
print(n)
`]);
    assert.equal(ping.stdout.trim(), '0');
  });

  test('MLD: a Linux bridge querier\'s general query is answered with an MLDv2 report of every group (MODE_IS_EXCLUDE)', () => {
    // The TAP's far end joins a bridge that queries (MLDv2, 1 s maximum response delay).
    // The querier needs a usable link-local address on the bridge: no DAD, and queries enabled once it is up.
    sh('ip', ['-n', PNS, 'link', 'add', `${P}br`, 'type', 'bridge', 'mcast_snooping', '1', 'mcast_mld_version', '2', 'mcast_query_response_interval', '100', 'mcast_startup_query_interval', '100']);
    lab.inNs(PNS, ['sysctl', '-qw', `net.ipv6.conf.${P}br.accept_dad=0`]);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}t0`, 'master', `${P}br`]);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}br`, 'up']);
    spawnSync('sleep', ['1']);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}br`, 'type', 'bridge', 'mcast_querier', '1']);
    const r = sh('ip', ['netns', 'exec', PNS, PY, '-c', `
from scapy.all import conf, IPv6
import select, time, json
s = conf.L2socket(iface="${P}br", nofilter=1)
end = time.time() + 12
queries, records = 0, set()
while time.time() < end and not (queries and records):
    r, _, _ = select.select([s], [], [], end - time.time())
    if not r: break
    p = s.recv()
    if p is None or IPv6 not in p: continue
    raw = bytes(p[IPv6])
    if raw[6] != 0 or len(raw) < 56: continue
    t = raw[48]
    if t == 130: queries += 1
    if t == 143 and p.src == "${imageMac}":
        n = int.from_bytes(raw[54:56], "big")
        for k in range(n):
            o = 56 + 20 * k
            if raw[o] == 2: records.add(raw[o + 4:o + 20].hex())
print(json.dumps({"queries": queries, "records": sorted(records)}))
`], { timeoutMs: 30_000 });
    const got = JSON.parse(r.stdout) as { queries: number; records: string[] };
    // MODE_IS_EXCLUDE records are only sent in answer to a query (joins and leaves are CHANGE_TO_* records).
    // The solicited-node groups of the link-local address and of 2001:db8:62::1 (and ::77, duplicated but configured).
    assert.ok(got.records.includes('ff0200000000000000000001ff000001'), `a MODE_IS_EXCLUDE record for ff02::1:ff00:1: ${r.stdout}`);
    assert.ok(got.records.length >= 2, `${r.stdout}${r.stderr}`);
  });
});
