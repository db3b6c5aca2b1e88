/**
 * IPv6 fragmentation, reassembly and path MTU against Linux: Linux pings
 * the image with 3000-byte echoes (fragmented both ways), the image's
 * ping6 -s 3000 reaches Linux, UDP datagrams larger than the MTU cross
 * both ways, and through image R with a 1280-byte MTU on its far side
 * both a Linux sender and an image host (H) get Packet Too Big, lower
 * their path MTU and finish a large TCP transfer.
 *
 *   Linux vf6A (2001:db8:f6:1::2) --tap-- R --tap (mtu 1280)-- Linux vf6B (2001:db8:f6:2::2)
 *                                         R --epair-- image H (2001:db8:f6:3::2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, Lab, labUnavailable, sh, until, type Run } from './lab.js';

const P = 'vf6'; // prefix of every namespace and host device this file makes
const A = '2001:db8:f6:1::2';
const RA = '2001:db8:f6:1::1';
const B = '2001:db8:f6:2::2';
const RB = '2001:db8:f6:2::1';
const H = '2001:db8:f6:3::2';
const RH = '2001:db8:f6:3::1';

function missingTools(): string | undefined {
  for (const t of ['nc', 'curl', 'python3']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  return undefined;
}
const skip = labUnavailable() ?? missingTools();

/** Run a command in a namespace in the background (its stdin held open); resolves when it exits. */
function bg(ns: string, cmd: string[], timeoutMs = 30_000): { done: Promise<Run>; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Run>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

const sha = (x: string | Uint8Array): string => createHash('sha256').update(x).digest('hex');

describe('inet6 fragments and path MTU: an image and Linux', { skip }, () => {
  const lab = new Lab(P);
  let nsA = '';
  let nsB = '';
  let tapA = '';
  let tapB = '';
  let dir = '';

  const stat = async (im: string, p: string): Promise<string> => lab.ok([im, 'netstat', '-s', '-p', p]);
  const count = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? -1);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
    await lab.start();
    nsA = lab.netns('A');
    nsB = lab.netns('B');
    await lab.ok(['-c', 'R']);
    await lab.ok(['-c', 'H']);
    for (const im of ['R', 'H']) await lab.ok([im, 'sysctl', 'net.inet6.ip6.dad_count=0']);
    tapA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    tapB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, nsA, '10.86.1.2/24');
    lab.wireHost(`${P}b0`, nsB, '10.86.2.2/24');
    sh('ip', ['-n', nsA, 'addr', 'add', `${A}/64`, 'dev', `${P}a0`, 'nodad']);
    sh('ip', ['-n', nsB, 'addr', 'add', `${B}/64`, 'dev', `${P}b0`, 'nodad']);
    sh('ip', ['-n', nsA, '-6', 'route', 'add', 'default', 'via', RA]);
    sh('ip', ['-n', nsB, '-6', 'route', 'add', 'default', 'via', RB]);
    await lab.ok(['R', 'ifconfig', tapA, 'inet6', `${RA}/64`]);
    await lab.ok(['R', 'ifconfig', tapA, 'up']);
    await lab.ok(['R', 'ifconfig', tapB, 'inet6', `${RB}/64`]);
    await lab.ok(['R', 'ifconfig', tapB, 'mtu', '1280', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.forwarding=1']);
    const ep = (await lab.ok(['R', 'ifconfig', 'epair', 'create'])).trim();
    const epb = ep.replace(/a$/, 'b');
    await lab.ok(['R', 'ifconfig', epb, 'vnet', 'H']);
    await lab.ok(['R', 'ifconfig', ep, 'inet6', `${RH}/64`]);
    await lab.ok(['R', 'ifconfig', ep, 'up']);
    await lab.ok(['H', 'ifconfig', epb, 'inet6', `${H}/64`]);
    await lab.ok(['H', 'ifconfig', epb, 'up']);
    await lab.ok(['H', 'route', '-6', 'add', 'default', RH]);
    await until('Linux A reaches R over IPv6', () => lab.inNs(nsA, ['ping', '-6', '-c', '1', '-W', '1', RA], { allowFail: true }).code === 0, 15_000);
    await until('Linux B reaches H through R', () => lab.inNs(nsB, ['ping', '-6', '-c', '1', '-W', '1', H], { allowFail: true }).code === 0, 15_000);
    await until('Linux A reaches Linux B through R', () => lab.inNs(nsA, ['ping', '-6', '-c', '1', '-W', '1', B], { allowFail: true }).code === 0, 15_000);
  });
  after(async () => {
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Linux pings the image with 3000-byte echoes: the image reassembles them and fragments its replies', async () => {
    const before = await stat('R', 'ip6');
    const r = lab.inNs(nsA, ['ping', '-6', '-s', '3000', '-c', '3', '-i', '0.2', '-W', '2', RA], { allowFail: true });
    assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    assert.match(r.stdout, /3008 bytes from/);
    const after = await stat('R', 'ip6');
    assert.ok(count(after, /\t(\d+) packets? reassembled ok\n/) - count(before, /\t(\d+) packets? reassembled ok\n/) >= 3, after);
    assert.ok(count(after, /\t(\d+) fragments? received\n/) - count(before, /\t(\d+) fragments? received\n/) >= 9, after);
    assert.ok(count(after, /\t(\d+) output datagrams? fragmented\n/) >= 3, after);
    assert.ok(count(after, /\t(\d+) fragments? created\n/) >= 9, after);
    assert.match(after, /^ip6:\n\t\d+ total packets? received\n/);
  });

  test("the image's ping6 -s 3000 reaches Linux (Linux reassembles, the image reassembles the replies)", async () => {
    const r = await lab.vimage(['R', 'ping6', '-c', '2', '-i', '0.3', '-s', '3000', A], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^PING6\(3048=40\+8\+3000 bytes\)/);
    assert.match(r.stdout, /2 packets transmitted, 2 packets received/);
    assert.match(r.stdout, /3008 bytes from 2001:db8:f6:1::2/);
  });

  test('UDP datagrams larger than the MTU, both ways', async () => {
    const big = 'x'.repeat(2999) + '\n';
    const img = lab.vimage(['R', 'nc', '-6', '-lu', '7301'], { timeoutMs: 10_000, signalAfterMs: 4000 });
    await until('nc -lu in R', async () => /^udp6 .* \*\.7301 /m.test(await lab.ok(['R', 'netstat', '-an'])), 5000);
    lab.inNs(nsA, ['sh', '-c', `head -c 2999 /dev/zero | tr '\\0' x | { cat; echo; } | nc -6 -u -w 1 ${RA} 7301`]);
    const got = (await img).stdout;
    assert.equal(got.length, 3000, `the image received ${got.length} bytes`);
    assert.equal(got, big);
    const host = bg(nsA, ['sh', '-c', `timeout 5 nc -6 -lu -W 1 ${A} 7302 | wc -c`], 10_000);
    await until('nc -lu in Linux A', () => /:7302\s/.test(lab.inNs(nsA, ['ss', '-uln'], { allowFail: true }).stdout), 5000);
    const r = await lab.vimage(['R', 'nc', '-6', '-u', '-w', '1', A, '7302'], { stdin: big });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await host.done).stdout.trim(), '3000');
    const s = await stat('R', 'ip6');
    assert.ok(count(s, /\t(\d+) output datagrams? fragmented\n/) >= 6, s);
  });

  test('R answers Packet Too Big toward its 1280 link; Linux lowers its path MTU and a large TCP transfer completes', async () => {
    const body = Buffer.alloc(3 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
    writeFileSync(path.join(dir, 'big.bin'), body);
    const srv = bg(nsA, ['python3', '-m', 'http.server', '8186', '--bind', A, '--directory', dir], 60_000);
    try {
      await until('python http.server in A', () => /:8186\s/.test(lab.inNs(nsA, ['ss', '-tln'], { allowFail: true }).stdout), 10_000);
      const out = path.join(dir, 'got.bin');
      const r = lab.inNs(nsB, ['curl', '-6', '-sS', '--fail', '-m', '30', '-g', `http://[${A}]:8186/big.bin`, '-o', out], { allowFail: true, timeoutMs: 40_000 });
      assert.equal(r.code, 0, r.stderr);
      const got = spawnSync('sha256sum', [out]).stdout.toString().split(' ')[0];
      assert.equal(got, sha(body));
      const rt = lab.inNs(nsA, ['ip', '-6', 'route', 'get', B]).stdout;
      assert.match(rt, /mtu 1280/, `Linux cached the path MTU: ${rt}`);
      const icmp = await stat('R', 'icmp6');
      assert.match(icmp, /\tOutput histogram:\n(\t\t.*\n)*\t\tpacket too big: \d+\n/);
    } finally {
      srv.kill();
      await srv.done;
    }
  });

  test('an image host that gets Packet Too Big lowers its path MTU (route -6 get, netstat) and its transfer completes', async () => {
    let data = '';
    for (let i = 0; data.length < 2 << 20; i++) data += `line ${i} of a transfer from image H across R's 1280-byte link\n`;
    const recv = bg(nsB, ['sh', '-c', `nc -6 -l ${B} 7303 | tee /tmp/${P}-got | sha256sum; wc -c < /tmp/${P}-got >&2; rm -f /tmp/${P}-got`], 60_000);
    await until('nc -l in Linux B', () => /:7303\s/.test(lab.inNs(nsB, ['ss', '-tln'], { allowFail: true }).stdout), 5000);
    const file = path.join(dir, 'h.txt');
    writeFileSync(file, data);
    // From a file: the CLI's stdin is read as nc in the image sends (a pipe the CLI stops reading would be EPIPE here).
    const r = spawnSync('sh', ['-c', `cat "${file}" | "${process.execPath}" "${CLI}" H nc -6 -N ${B} 7303`], { env: { ...process.env, VIMAGE_SOCKET: lab.sock }, timeout: 60_000 });
    assert.equal(r.status, 0, `${r.stdout.toString()}${r.stderr.toString()}`);
    const got = await recv.done;
    assert.equal(got.stdout.split(' ')[0], sha(data), `B received ${got.stderr.trim()} bytes of ${data.length}`);
    const rt = await lab.ok(['H', 'route', '-6', 'get', B]);
    assert.match(rt, /\n\s+0\s+0\s+0\s+0\s+1280\s+1\s+0 \n$/, rt);
    const icmp = await stat('H', 'icmp6');
    assert.match(icmp, /\t[1-9]\d* path MTU changes?\n/, icmp);
    // The path MTU belongs to B alone: R's address on the same link keeps the link's.
    assert.match(await lab.ok(['H', 'route', '-6', 'get', RH]), /\s1500\s+1\s+0 \n$/);
  });
});
