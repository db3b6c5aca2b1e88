/**
 * TCP and UDP over IPv6 against Linux: a Linux host in a namespace on a
 * TAP reaches the image's built-in servers over IPv6 (nc, httpd with
 * curl -6, iperf3), the image's nc -6 reaches Linux's nc -6 -l, a closed
 * port answers with a reset, netstat -an lists the tcp6 sockets, and the
 * image sends large segments through the TAP (TSO over IPv6).
 *
 *   Linux v6tA (10.77.1.2, 2001:db8:77::2) --tap-- image R (10.77.1.1, 2001:db8:77::1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, labUnavailable, sh, until, type Run } from './lab.js';

const P = 'v6t'; // prefix of every namespace and host device this file makes
const HOST4 = '10.77.1.2';
const IMG4 = '10.77.1.1';
const HOST = '2001:db8:77::2';
const IMG = '2001:db8:77::1';

function missingTools(): string | undefined {
  for (const t of ['nc', 'curl']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  return undefined;
}

const skip = labUnavailable() ?? missingTools();
const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Run a command in a namespace in the background; resolves when it exits. */
function bg(ns: string, cmd: string[], opts: { stdin?: string; timeoutMs?: number } = {}): { done: Promise<Run>; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const done = new Promise<Run>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

describe('inet6 transport: TCP and UDP over IPv6 between an image and Linux', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let tap = '';

  async function waitSocket(re: RegExp): Promise<void> {
    await until(`a socket matching ${re} in R`, async () => re.test(await lab.ok(['R', 'netstat', '-an'])), 5000);
  }

  async function waitHostPort(port: number, udp = false): Promise<void> {
    await until(`something listening on ${port} in ${A}`, () => new RegExp(`:${port}\\s`).test(lab.inNs(A, ['ss', udp ? '-uln' : '-tln'], { allowFail: true }).stdout), 5000);
  }

  /** Ctrl-C every process in R whose command is `cmd`. */
  async function stop(cmd: string): Promise<void> {
    const ps = await lab.ok(['R', 'ps']);
    for (const m of ps.matchAll(new RegExp(`^\\s*(\\d+)\\s.*\\s${cmd}(?:\\s.*)?$`, 'gm'))) await lab.vimage(['R', 'kill', '-INT', m[1]!]);
  }

  before(async () => {
    await lab.start();
    ({ ns: A, tap } = await lab.imageWithHost('R', HOST4, IMG4));
    sh('ip', ['-n', A, 'addr', 'add', `${HOST}/64`, 'dev', `${P}a0`, 'nodad']);
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.dad_count=0']);
    await lab.ok(['R', 'ifconfig', tap, 'inet6', `${IMG}/64`]);
    await until('Linux reaches the image over IPv6', () => lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '1', IMG], { allowFail: true }).code === 0, 10_000);
  });
  after(async () => {
    await lab.close();
  });

  test('Linux nc -6 connects to nc -6 -l in the image: data both ways, netstat shows tcp6', async () => {
    const img = lab.vimage(['R', 'nc', '-6', '-lv', '7101'], { stdin: 'reply from image\n', timeoutMs: 15_000 });
    await waitSocket(/^tcp6 .* \*\.7101 .* LISTEN$/m);
    const c = bg(A, ['sh', '-c', `printf 'from linux\\n' | nc -6 -N -w 5 ${IMG} 7101`], { timeoutMs: 15_000 });
    const i = await img;
    const r = await c.done;
    assert.equal(i.code, 0, i.stderr);
    assert.equal(i.stdout, 'from linux\n');
    assert.match(i.stderr, new RegExp(`^Connection from ${HOST.replace(/\./g, '\\.')} \\d+ received!\\n$`));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'reply from image\n');
  });

  test("the image's nc -6 connects to Linux nc -6 -l", async () => {
    const srv = bg(A, ['nc', '-6', '-l', '-N', HOST, '7102']);
    await waitHostPort(7102);
    const r = await lab.vimage(['R', 'nc', '-6', '-N', HOST, '7102'], { stdin: 'from the image over IPv6\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await srv.done).stdout, 'from the image over IPv6\n');
  });

  test('a closed port answers a TCP SYN over IPv6 with a reset (nc -z fails at once)', () => {
    const t0 = Date.now();
    const r = lab.inNs(A, ['nc', '-6', '-z', '-v', '-w', '5', IMG, '7999'], { allowFail: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /refused/i);
    assert.ok(Date.now() - t0 < 4000, 'refused by RST, not a timeout');
  });

  test('UDP over IPv6 both ways: Linux nc -6 -u to the image, the image nc -6 -u to Linux', async () => {
    const img = lab.vimage(['R', 'nc', '-6', '-lu', '7103'], { timeoutMs: 10_000, signalAfterMs: 3000 });
    await waitSocket(/^udp6 .* \*\.7103 /m);
    lab.inNs(A, ['sh', '-c', `printf 'datagram to image\\n' | nc -6 -u -w 1 ${IMG} 7103`]);
    assert.equal((await img).stdout, 'datagram to image\n');
    const host = bg(A, ['nc', '-6', '-lu', '-W', '1', HOST, '7104'], { timeoutMs: 10_000 });
    await waitHostPort(7104, true);
    const r = await lab.vimage(['R', 'nc', '-6', '-u', '-w', '1', HOST, '7104'], { stdin: 'datagram to linux\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await host.done).stdout, 'datagram to linux\n');
  });

  test('curl -6 downloads from httpd in the image over IPv6 (and over IPv4 from the same server)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
    try {
      const b = Buffer.alloc(2 << 20);
      for (let i = 0; i < b.length; i++) b[i] = (i * 13 + (i >> 9)) & 0xff;
      writeFileSync(path.join(dir, 'blob.bin'), b);
      const srv = lab.vimage(['R', 'httpd', '-p', '8086', '-r', dir], { timeoutMs: 40_000 });
      await waitSocket(/^tcp6 .* \*\.8086 .* LISTEN$/m);
      await waitSocket(/^tcp4 .* \*\.8086 .* LISTEN$/m);
      const out = path.join(dir, 'got');
      const r = lab.inNs(A, ['curl', '-6', '-sS', '--fail', '-g', `http://[${IMG}]:8086/blob.bin`, '-o', out], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      const sha = (x: Uint8Array): string => createHash('sha256').update(x).digest('hex');
      assert.equal(sha(readFileSync(out)), sha(b));
      const r4 = lab.inNs(A, ['curl', '-sS', '--fail', '-o', '/dev/null', '-w', '%{http_code}', `http://${IMG4}:8086/blob.bin`], { timeoutMs: 20_000 });
      assert.equal(r4.stdout, '200');
      // A connection held open: netstat -an shows it as FreeBSD prints a tcp6 row.
      const held = bg(A, ['sh', '-c', `sleep 3 | nc -6 ${IMG} 8086`], { timeoutMs: 10_000 });
      await waitSocket(new RegExp(`^tcp6 +0 +0 ${IMG}\\.8086 +${HOST}\\.\\d+ +ESTABLISHED$`, 'm'));
      held.kill();
      await held.done;
      await stop('httpd');
      await srv;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Linux iperf3 -6 -c against iperf3 -s in the image (one dual-stack socket, tcp46)', { skip: has('iperf3') ? false : 'iperf3 is not installed' }, async () => {
    const srv = lab.vimage(['R', 'iperf3', '-s', '-p', '5306'], { timeoutMs: 40_000 });
    await waitSocket(/^tcp46 .* \*\.5306 .* LISTEN$/m);
    const tsoSent = async (): Promise<number> => Number(/(\d+) TSO segments?\n/.exec(await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']))?.[1] ?? 0);
    const tso0 = await tsoSent();
    for (const extra of [['-b', '500M'], ['-b', '500M', '-R'], ['-u', '-b', '20M']]) {
      const r = lab.inNs(A, ['iperf3', '-6', '-c', IMG, '-p', '5306', '-t', '1', '-J', ...extra], { timeoutMs: 20_000, allowFail: true });
      assert.equal(r.code, 0, `iperf3 ${extra.join(' ')}: ${r.stdout.slice(-600)} ${r.stderr}`);
      const j = JSON.parse(r.stdout) as { end: { sum_received?: { bytes: number }; sum?: { bytes: number } } };
      const got = j.end.sum_received?.bytes ?? j.end.sum?.bytes ?? 0;
      assert.ok(got > 1_000_000, `iperf3 -6 ${extra.join(' ')} moved ${got} bytes`);
    }
    // The image sent (-R) through the TAP as large segments the kernel cut (VIRTIO_NET_HDR_GSO_TCPV6).
    const tso1 = await tsoSent();
    assert.ok(tso1 > tso0, `TSO segments sent over IPv6: ${tso1 - tso0}`);
    await stop('iperf3');
    const s = await srv;
    assert.match(s.stdout, new RegExp(`Accepted connection from ${HOST}, port \\d+`));
  });
});
