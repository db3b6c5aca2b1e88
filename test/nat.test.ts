/**
 * ipfw nat in an image between Linux hosts: two hosts on a private /24
 * behind image GW (one TAP, bridged on the host side), GW's other TAP to
 * an "internet" host. Real daemon, real vimage CLI, stock curl, python3,
 * ping and tcpdump as the peers.
 *
 *   H1 192.168.77.2 --+
 *                     br -- tap -- GW -- tap -- I 203.0.113.2
 *   H2 192.168.77.3 --+            nat 1 if tap1 (203.0.113.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Lab, background, labUnavailable, sh, until } from './lab.js';

const P = 'vnt'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const PY = '/usr/bin/python3';
const UDP_ECHO = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('203.0.113.2',9999))\nprint('ready',flush=True)\nwhile True:\n  d,a=s.recvfrom(2000)\n  print('from',a[0],a[1],flush=True)\n  s.sendto(d,a)\n";
const UDP_ASK = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\ns.sendto(b'hello nat',('203.0.113.2',9999))\nprint(s.recvfrom(2000)[0].decode())\n";

describe('ipfw nat between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let S = '';
  let H1 = '';
  let H2 = '';
  let I = '';
  let t1 = '';
  let dump: ReturnType<typeof background> | null = null;
  const servers: Array<ReturnType<typeof background>> = [];
  const www = path.join(lab.dir, 'www');

  before(async () => {
    await lab.start();
    S = lab.netns('S');
    H1 = lab.netns('H1');
    H2 = lab.netns('H2');
    I = lab.netns('I');
    await lab.ok(['-c', 'GW']);
    const t0 = (await lab.ok(['GW', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    t1 = (await lab.ok(['GW', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    // The private side: the TAP and two veths on a bridge in namespace S.
    sh('ip', ['link', 'set', `${P}a0`, 'netns', S]);
    sh('ip', ['-n', S, 'link', 'add', `${P}br`, 'type', 'bridge']);
    sh('ip', ['-n', S, 'link', 'set', `${P}a0`, 'master', `${P}br`, 'up']);
    for (const [ns, n, addr] of [[H1, '1', '192.168.77.2/24'], [H2, '2', '192.168.77.3/24']] as const) {
      sh('ip', ['-n', S, 'link', 'add', `${P}p${n}`, 'type', 'veth', 'peer', 'name', `${P}h${n}`, 'netns', ns]);
      sh('ip', ['-n', S, 'link', 'set', `${P}p${n}`, 'master', `${P}br`, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', `${P}h${n}`]);
      sh('ip', ['-n', ns, 'link', 'set', `${P}h${n}`, 'up']);
      sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', '192.168.77.1']);
    }
    sh('ip', ['-n', S, 'link', 'set', `${P}br`, 'up']);
    // The internet host knows no private route: only GW's public address can reach it.
    lab.wireHost(`${P}b0`, I, '203.0.113.2/24');
    await lab.ok(['GW', 'ifconfig', t0, 'inet', '192.168.77.1/24', 'up']);
    await lab.ok(['GW', 'ifconfig', t1, 'inet', '203.0.113.1/24', 'up']);
    await lab.ok(['GW', 'sysctl', 'net.inet.ip.forwarding=1']);
    assert.equal(
      await lab.ok(['GW', 'ipfw', 'nat', '1', 'config', 'if', t1, 'log', 'redirect_port', 'tcp', '192.168.77.3:8000', '8080']),
      `ipfw nat 1 config if ${t1} log redirect_port tcp 192.168.77.3:8000 8080\n`,
    );
    await lab.ok(['GW', 'ipfw', '-q', 'add', '100', 'nat', '1', 'ip', 'from', 'any', 'to', 'any', 'via', t1]);
    await lab.ok(['GW', 'ipfw', '-q', 'add', '200', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    await lab.ok(['GW', 'sysctl', 'net.inet.ip.fw.enable=1']);
    // A file big enough for TSO/GSO frames both ways.
    mkdirSync(www);
    writeFileSync(path.join(www, 'big'), Buffer.alloc(3 << 20, 'nat'));
    servers.push(background('ip', ['netns', 'exec', I, PY, '-m', 'http.server', '8000', '--bind', '203.0.113.2', '--directory', www]));
    servers.push(background('ip', ['netns', 'exec', H2, PY, '-m', 'http.server', '8000', '--bind', '192.168.77.3', '--directory', www]));
    servers.push(background('ip', ['netns', 'exec', I, PY, '-c', UDP_ECHO]));
    dump = background('ip', ['netns', 'exec', I, 'tcpdump', '-l', '-n', '-i', `${P}b0`, 'ip']);
    await until('servers', () => sh('ip', ['netns', 'exec', I, 'ss', '-ltn'], { allowFail: true }).stdout.includes('203.0.113.2:8000') && servers[2]!.out().includes('ready'));
    await until('tcpdump', () => dump!.out().includes('listening'));
    for (const h of [H1, H2]) lab.inNs(h, ['ping', '-c', '1', '-W', '2', '192.168.77.1'], { allowFail: true });
  });
  after(async () => {
    for (const s of servers) await s.stop();
    await dump?.stop();
    await lab.close();
  });

  test('ping, curl and UDP from both private hosts reach the internet host from GW\'s address only', async () => {
    for (const h of [H1, H2]) {
      assert.match(lab.inNs(h, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '203.0.113.2']).stdout, /2 received/);
      const r = lab.inNs(h, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', 'http://203.0.113.2:8000/big'], { timeoutMs: 20_000 });
      assert.equal(r.stdout, `200 ${3 << 20}`);
      assert.equal(lab.inNs(h, [PY, '-c', UDP_ASK], { timeoutMs: 10_000 }).stdout, 'hello nat\n');
    }
    // http.server logs each client; the UDP echo prints each sender.
    const gets = (out: () => string, from: string): number => (out().match(new RegExp(`^${from.replaceAll('.', '\\.')} - - .*"GET /big HTTP/1\\.1" 200`, 'gm')) ?? []).length;
    await until('access log', () => gets(servers[0]!.out, '203.0.113.1') >= 2, 5000).catch(() => {});
    const log = servers[0]!.out();
    assert.equal(gets(servers[0]!.out, '203.0.113.1'), 2, log);
    assert.equal((servers[2]!.out().match(/^from 203\.0\.113\.1 /gm) ?? []).length, 2);
    await until('tcpdump output', () => /ICMP echo request/.test(dump!.out()));
    const seen = dump!.out();
    assert.match(seen, /203\.0\.113\.1 > 203\.0\.113\.2: ICMP echo request/);
    assert.doesNotMatch(seen, /192\.168\.77\./, 'a private address leaked to the internet side');
    // The translation table counts what is live.
    assert.match(await lab.ok(['GW', 'ipfw', 'nat', 'show']), /^nat 1: icmp=\d+, udp=2, tcp=2, sctp=0, pptp=0, proto=0, frag_id=0 frag_ptr=0 \/ tot=\d+\n$/);
  });

  test('redirect_port reaches the server on H2 from the internet host, with TSO from H2 and without offload', async () => {
    const get = (): string => lab.inNs(I, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', 'http://203.0.113.1:8080/big'], { timeoutMs: 20_000 }).stdout;
    const partial = async (): Promise<number> => (JSON.parse(await lab.ok(['--json', 'GW', 'ipfw', 'nat', '1', 'show'])) as Array<{ stats: { partial: number; in: number } }>)[0]!.stats.partial;
    assert.equal(get(), `200 ${3 << 20}`);
    // Linux handed GW offloaded frames (partial checksums, TSO): translated without breaking them.
    const p1 = await partial();
    assert.ok(p1 > 0, 'no offloaded frame went through nat');
    // Now with full checksums from both Linux sides.
    sh('ip', ['netns', 'exec', I, 'ethtool', '-K', `${P}b0`, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { allowFail: true });
    sh('ip', ['netns', 'exec', H2, 'ethtool', '-K', `${P}h2`, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { allowFail: true });
    assert.equal(get(), `200 ${3 << 20}`);
    assert.equal(await partial(), p1, 'with offload off, every frame carried a full checksum');
    // H2 saw the real remote address (redirect_port rewrites only the destination).
    const gets = (): number => (servers[1]!.out().match(/^203\.0\.113\.2 - - .*"GET \/big HTTP\/1\.1" 200/gm) ?? []).length;
    await until('access log', () => gets() >= 2, 5000).catch(() => {});
    assert.equal(gets(), 2, servers[1]!.out());
    assert.equal(lab.inNs(I, ['curl', '-sS', '-m', '2', 'http://203.0.113.1:8081/'], { allowFail: true }).code !== 0, true, 'an unredirected port stays closed');
  });

  test('ipfw nat 1 show config prints what was configured; ipfw list shows the nat rule', async () => {
    assert.equal(await lab.ok(['GW', 'ipfw', 'nat', '1', 'show', 'config']), `ipfw nat 1 config if ${t1} log redirect_port tcp 192.168.77.3:8000 8080\n`);
    assert.equal(await lab.ok(['GW', 'ipfw', 'list', '100']), `00100 nat 1 ip from any to any via ${t1}\n`);
    const j = JSON.parse(await lab.ok(['--json', 'GW', 'ipfw', 'nat', '1', 'show'])) as Array<{ aliasAddress: string; table: unknown[] }>;
    assert.equal(j[0]!.aliasAddress, '203.0.113.1');
    assert.ok(j[0]!.table.length > 0);
  });
});
