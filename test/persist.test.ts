/**
 * The persist timer against Linux (issue 16): a Linux receiver in a
 * namespace stops reading, its receive buffer fills and it advertises a
 * zero window for 20 s. The image must keep probing the window (seen on
 * the wire with tcpdump and in `netstat -s -p tcp`), keep the connection,
 * and deliver everything intact once the reader resumes.
 *
 *   host A (10.93.7.2) --tap-- R (10.93.7.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Lab, labUnavailable, type Run } from './lab.js';

const P = 'vpst'; // prefix of every namespace and host device this file makes
const HOST = '10.93.7.2';
const IMG = '10.93.7.1';
const PORT = 7161;
const STALL_S = 20;

function missingTools(): string | undefined {
  for (const t of ['python3', 'tcpdump']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  return undefined;
}

const skip = labUnavailable() ?? missingTools();

/** Run a command in a namespace in the background; resolves when it exits. */
function bg(ns: string, cmd: string[], timeoutMs: number): { done: Promise<Run>; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A receiver that accepts one connection, reads nothing for `stall` seconds, then reads it all and prints its length and SHA-256. */
const RECEIVER = `
import hashlib, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("${HOST}", ${PORT}))
s.listen(1)
c, _ = s.accept()
time.sleep(float(sys.argv[1]))
print("reading", flush=True)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
`;

describe('persist: an image keeps probing a Linux peer whose receive window stays closed', { skip }, () => {
  const lab = new Lab(P);
  let A = '';

  async function tcpCounters(): Promise<{ probes: number; persist: number }> {
    const s = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
    const probes = /^\t\t(\d+) window probe packets?$/m.exec(s);
    const persist = /^\t(\d+) persist timeouts?$/m.exec(s);
    assert.ok(probes !== null && persist !== null, `netstat -s -p tcp prints both lines:\n${s}`);
    return { probes: Number(probes[1]), persist: Number(persist[1]) };
  }

  before(async () => {
    await lab.start();
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
  });
  after(async () => {
    await lab.close();
  });

  test(`probes keep coming for ${STALL_S} s of zero window, the connection holds, and all data arrives when the reader resumes`, async () => {
    // 2 MB of text: far more than the receiver's buffer and what is in flight.
    let data = '';
    for (let i = 0; data.length < 2 << 20; i++) data += `line ${i} of the persist test, padded to make it longer than a few bytes\n`;
    const want = { n: Buffer.byteLength(data), sha: createHash('sha256').update(data).digest('hex') };

    const dump = bg(A, ['tcpdump', '-l', '-n', '-tt', '-i', `${P}a0`, `tcp and src host ${IMG} and src port not ${PORT}`], 120_000);
    const rcv = bg(A, ['python3', '-c', RECEIVER, String(STALL_S)], 120_000);
    for (let i = 0; i < 100 && !new RegExp(`:${PORT}\\s`).test(lab.inNs(A, ['ss', '-tln'], { allowFail: true }).stdout); i++) await sleep(50);
    const before0 = await tcpCounters();
    const t0 = Date.now();
    const nc = lab.vimage(['R', 'nc', '-N', HOST, String(PORT)], { stdin: data, timeoutMs: 120_000 });

    // The window fills within a moment; then only the persist timer talks.
    await sleep(4_000);
    const early = await tcpCounters();
    assert.match(await lab.ok(['R', 'netstat', '-an']), new RegExp(`^tcp4 .* ${HOST.replace(/\./g, '\\.')}\\.${PORT} +ESTABLISHED$`, 'm'));
    await sleep(Math.max(0, t0 + (STALL_S - 1) * 1000 - Date.now()));
    const late = await tcpCounters();
    assert.match(await lab.ok(['R', 'netstat', '-an']), new RegExp(`^tcp4 .* ${HOST.replace(/\./g, '\\.')}\\.${PORT} +ESTABLISHED$`, 'm'), 'still established after the zero window');
    assert.ok(late.persist - early.persist >= 2, `persist timeouts went on during the stall: ${early.persist} -> ${late.persist}`);
    assert.ok(late.probes - before0.probes >= 3, `window probes: ${before0.probes} -> ${late.probes}`);

    // The reader resumes: everything arrives, in order and intact.
    const r = await rcv.done;
    const sent = await nc;
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(r.code, 0, r.stderr);
    const [n, sum] = r.stdout.trim().split('\n').pop()!.split(' ');
    assert.equal(Number(n), want.n, 'all bytes arrived');
    assert.equal(sum, want.sha, 'intact');

    // On the wire: one-byte probes from the image, at least 5 s apart (net.inet.tcp.persmin), all through the stall.
    dump.kill();
    const d = await dump.done;
    const probes = d.stdout
      .split('\n')
      .filter((l) => /length 1$/.test(l))
      .map((l) => Number(l.split(' ')[0]) * 1000);
    assert.ok(probes.length >= 3, `tcpdump saw ${probes.length} window probes:\n${d.stdout.slice(-2000)}`);
    for (let i = 1; i < probes.length; i++) assert.ok(probes[i]! - probes[i - 1]! >= 4_900, `probe gaps: ${probes.map((t) => t - probes[0]!).join(', ')}`);
    assert.ok(probes[probes.length - 1]! - probes[0]! >= 9_900, `probing lasted: ${probes.map((t) => t - probes[0]!).join(', ')}`);
  });
});
