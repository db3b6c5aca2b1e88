/**
 * Capture against Linux's tcpdump: `vimage R tcpdump` on a TAP prints what
 * Linux's tcpdump prints on the host side of the same TAP, filters mean what
 * they mean to tcpdump, `-w -` and `-w FILE` give pcap that tcpdump -r reads,
 * and a capture on an epair between two images shows their traffic.
 *
 *   host A (10.77.1.2) --tap vcpa0-- R (10.77.1.1)      S (10.77.2.1) --epair-- T (10.77.2.2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, Lab, labUnavailable, until } from './lab.js';

const P = 'vcp'; // prefix of every namespace and host device this file makes
const HOST = '10.77.1.2';
const IMG = '10.77.1.1';

const skip = labUnavailable() ?? (spawnSync('sh', ['-c', 'command -v tcpdump']).status !== 0 ? 'tcpdump is not installed (scripts/install-test-tools.sh)' : undefined);

interface Bg {
  /** Resolves when the process exits. */
  done: Promise<{ code: number; out: Buffer; err: string }>;
  err: () => string;
  signal: (s: NodeJS.Signals) => void;
}

function bg(cmd: string, args: string[], env: Record<string, string> = {}, stdin?: Buffer): Bg {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(stdin ?? Buffer.alloc(0));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number; out: Buffer; err: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, out: Buffer.concat(out), err });
    });
  });
  return { done, err: () => err, signal: (s) => child.kill(s) };
}

/** Line bodies without their timestamps. */
const bodies = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '').map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{6} /, ''));

describe('capture: tcpdump in an image against Linux tcpdump', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let TAP = '';
  const vimage = (args: string[]): Bg => bg(process.execPath, [CLI, ...args], { VIMAGE_SOCKET: lab.sock });
  const listening = (p: Bg, what: string): Promise<void> => until(`${what} to listen`, () => /listening on/.test(p.err()));

  before(async () => {
    await lab.start();
    ({ ns: A, tap: TAP } = await lab.imageWithHost('R', HOST, IMG));
  });
  after(async () => {
    await lab.close();
  });

  test('4 pings print in the image as Linux tcpdump prints them on the host side of the TAP', async () => {
    const mine = vimage(['R', 'tcpdump', '-n', '-i', TAP, '-c', '4', 'icmp']);
    const host = bg('ip', ['netns', 'exec', A, 'tcpdump', '-n', '-l', '-i', `${P}a0`, '-c', '4', 'icmp']);
    await listening(mine, 'vimage tcpdump');
    await listening(host, 'Linux tcpdump');
    lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', IMG]);
    const [m, h] = await Promise.all([mine.done, host.done]);
    assert.equal(m.code, 0, m.err);
    const got = bodies(m.out.toString());
    assert.equal(got.length, 4, m.out.toString());
    assert.deepEqual(got, bodies(h.out.toString()));
    assert.match(got[0]!, new RegExp(`^IP ${HOST} > ${IMG}: ICMP echo request, id \\d+, seq 1, length 64$`));
    assert.match(m.out.toString(), /^\d\d:\d\d:\d\d\.\d{6} IP /);
    assert.equal(m.err.split('\n')[0], 'tcpdump: verbose output suppressed, use -v[v]... for full protocol decode');
    assert.equal(m.err.split('\n')[1], `listening on ${TAP}, link-type EN10MB (Ethernet), snapshot length 262144 bytes`);
    assert.match(m.err, /\n4 packets captured\n\d+ packets received by filter\n0 packets dropped by kernel\n$/);
  });

  test("'tcp port 80' shows only port 80 traffic; Ctrl-C through the client ends it with the counts", async () => {
    const mine = vimage(['R', 'tcpdump', '-n', '-i', TAP, 'tcp', 'port', '80']);
    await listening(mine, 'vimage tcpdump');
    // Nothing listens in R: each connection attempt is a SYN and a RST.
    lab.inNs(A, ['ping', '-c', '1', IMG]);
    lab.inNs(A, ['nc', '-z', '-w', '2', IMG, '81'], { allowFail: true });
    lab.inNs(A, ['nc', '-z', '-w', '2', IMG, '80'], { allowFail: true });
    lab.inNs(A, ['nc', '-z', '-w', '2', IMG, '8080'], { allowFail: true });
    await new Promise((r) => setTimeout(r, 300));
    mine.signal('SIGINT');
    const m = await mine.done;
    assert.equal(m.code, 0, m.err);
    const got = bodies(m.out.toString());
    assert.equal(got.length, 2, m.out.toString());
    assert.match(got[0]!, new RegExp(`^IP ${HOST.replace(/\./g, '\\.')}\\.\\d+ > ${IMG.replace(/\./g, '\\.')}\\.80: Flags \\[S\\], seq \\d+, win \\d+, options \\[.*\\], length 0$`));
    assert.match(got[1]!, new RegExp(`^IP ${IMG.replace(/\./g, '\\.')}\\.80 > ${HOST.replace(/\./g, '\\.')}\\.\\d+: Flags \\[R\\.\\], seq 0, ack \\d+, win 0, length 0$`));
    const counts = /\n2 packets captured\n(\d+) packets received by filter\n0 packets dropped by kernel\n$/.exec(m.err);
    assert.ok(counts !== null, m.err);
    assert.ok(Number(counts[1]) >= 8, 'the ping and the other ports were seen by the filter');
  });

  test('-w - streams pcap that tcpdump -r - decodes to the same packets; -w FILE is written by the client', async () => {
    const text = vimage(['R', 'tcpdump', '-n', '-i', TAP, '-c', '4', 'icmp']);
    const pcap = vimage(['R', 'tcpdump', '-i', TAP, '-w', '-', '-c', '4', 'icmp']);
    const file = path.join(lab.dir, 'ping.pcap');
    const toFile = vimage(['R', 'tcpdump', '-i', TAP, '-c', '2', '-w', file, 'icmp']);
    await listening(text, 'text capture');
    await listening(pcap, 'pcap capture');
    await listening(toFile, 'file capture');
    lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', IMG]);
    const [t, p, f] = await Promise.all([text.done, pcap.done, toFile.done]);
    assert.equal(p.code, 0, p.err);
    assert.equal(f.code, 0, f.err);
    assert.equal(f.out.length, 0);
    assert.match(p.err, /^tcpdump: listening on /);
    assert.equal(p.out.readUInt32LE(0), 0xa1b2c3d4);
    const r = bg('tcpdump', ['-n', '-r', '-'], {}, p.out);
    const decoded = await r.done;
    assert.equal(decoded.code, 0, decoded.err);
    assert.deepEqual(bodies(decoded.out.toString()), bodies(t.out.toString()));
    assert.equal(bodies(decoded.out.toString()).length, 4);
    const fromFile = spawnSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8' });
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.deepEqual(bodies(fromFile.stdout), bodies(t.out.toString()).slice(0, 2));
    assert.equal(readFileSync(file).readUInt32LE(0), 0xa1b2c3d4);
    // A capture that cannot start says why and leaves no empty file.
    const badFile = path.join(lab.dir, 'bad.pcap');
    const bad = await lab.vimage(['R', 'tcpdump', '-i', TAP, '-w', badFile, 'tcp prt 80']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "tcpdump: can't parse filter expression: syntax error\n");
    assert.equal(existsSync(badFile), false);
  });

  test('a capture on an epair between two images shows their ping', async () => {
    await lab.ok(['-c', 'S']);
    await lab.ok(['-c', 'T']);
    const a = (await lab.ok(['S', 'ifconfig', 'epair', 'create'])).trim();
    const b = a.replace(/a$/, 'b');
    await lab.ok(['S', 'ifconfig', b, 'vnet', 'T']);
    await lab.ok(['S', 'ifconfig', a, 'inet', '10.77.2.1/24', 'up']);
    await lab.ok(['T', 'ifconfig', b, 'inet', '10.77.2.2/24', 'up']);
    const mine = vimage(['S', 'tcpdump', '-n', '-e', '-i', a, '-c', '4', 'icmp']);
    await listening(mine, 'epair capture');
    const ping = await lab.vimage(['T', 'ping', '-c', '2', '-i', '0.2', '10.77.2.1']);
    assert.equal(ping.code, 0, ping.stderr);
    const m = await mine.done;
    assert.equal(m.code, 0, m.err);
    const got = bodies(m.out.toString());
    assert.equal(got.length, 4, m.out.toString());
    assert.match(got[0]!, /^[0-9a-f:]{17} > [0-9a-f:]{17}, ethertype IPv4 \(0x0800\), length 98: 10\.77\.2\.2 > 10\.77\.2\.1: ICMP echo request, id \d+, seq 0, length 64$/);
    assert.match(got[1]!, /: 10\.77\.2\.1 > 10\.77\.2\.2: ICMP echo reply, id \d+, seq 0, length 64$/);
    assert.match(got[3]!, /ICMP echo reply, id \d+, seq 1, length 64$/);
  });
});
