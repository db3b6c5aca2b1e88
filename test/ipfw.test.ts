/**
 * ipfw and dummynet with Linux hosts on either side of an image: real
 * daemon, real vimage CLI, TAP devices, namespaces, and stock ping, nc and
 * iperf3 as the peers.
 *
 *   A (10.73.1.2) --tap-- R --tap-- B (10.73.2.2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Lab, labUnavailable } from './lab.js';

const P = 'vfw'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const NC = spawnSync('nc.openbsd', ['-h']).error === undefined ? 'nc.openbsd' : 'nc';

/** Median RTT (ms) of ping's replies. */
function medianRtt(out: string): number {
  const t = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  assert.ok(t.length > 0, out);
  return t[t.length >> 1]!;
}

describe('ipfw and dummynet between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';
  let tA = '';

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    // IPv4 only: ipfw sees IPv6 too, and the hosts' MLD reports would reach the default rule's counters.
    for (const ns of [A, B]) for (const k of ['all', 'default']) lab.inNs(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    await lab.ok(['-c', 'R']);
    tA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const tB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.73.1.2/24', '10.73.1.1');
    lab.wireHost(`${P}b0`, B, '10.73.2.2/24', '10.73.2.1');
    await lab.ok(['R', 'ifconfig', tA, 'inet', '10.73.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', tB, 'inet', '10.73.2.1/24', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.73.2.2']);
  });
  after(async () => {
    await lab.close();
  });

  test('ipfw on with only the default rule: pings are denied; allow icmp lets them through', async () => {
    assert.equal((await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1'])).trim(), 'net.inet.ip.fw.enable: 0 -> 1');
    const denied = lab.inNs(A, ['ping', '-c', '1', '-W', '1', '10.73.2.2'], { allowFail: true });
    assert.notEqual(denied.code, 0);
    assert.equal(await lab.ok(['R', 'ipfw', 'add', '100', 'allow', 'icmp', 'from', 'any', 'to', 'any']), '00100 allow icmp from any to any\n');
    const ok = lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.73.2.2']);
    assert.match(ok.stdout, /2 received/);
  });

  test('ipfw show counts exactly the pings sent', async () => {
    await lab.ok(['R', 'ipfw', 'zero']);
    lab.inNs(A, ['ping', '-c', '5', '-i', '0.2', '-W', '2', '10.73.2.2']);
    const show = await lab.ok(['R', 'ipfw', 'show']);
    // 5 requests and 5 replies, each seen on input and on output: 20 packets of 84 bytes.
    assert.equal(show, '00100 20 1680 allow icmp from any to any\n65535  0    0 deny ip from any to any\n');
  });

  test('a bad rule is refused, pointing at the wrong token, and changes nothing', async () => {
    const before = await lab.ok(['R', 'ipfw', 'list']);
    const r = await lab.vimage(['R', 'ipfw', 'add', 'allow', 'tcp', 'from', 'any', 'to', 'any', 'keep-sate']);
    assert.equal(r.code, 64);
    assert.equal(r.stderr, 'ipfw: unrecognised option [-1] keep-sate\n  add allow tcp from any to any keep-sate\n                                ^^^^^^^^^\n');
    assert.equal(await lab.ok(['R', 'ipfw', 'list']), before);
  });

  test('keep-state lets replies back through default deny; the other direction stays closed', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'check-state']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'icmp', 'from', '10.73.1.2', 'to', 'any', 'keep-state']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '300', 'allow', 'tcp', 'from', '10.73.1.2', 'to', 'any', '5001', 'setup', 'keep-state']);
    const ba = lab.inNs(B, ['ping', '-c', '1', '-W', '1', '10.73.1.2'], { allowFail: true });
    assert.notEqual(ba.code, 0, 'B may not start a conversation');
    const ab = lab.inNs(A, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.73.2.2']);
    assert.match(ab.stdout, /2 received/);
    const dyn = await lab.ok(['R', 'ipfw', '-d', 'list']);
    assert.match(dyn, /^## Dynamic rules \(\d+ \d+\):\n00200 STATE icmp 10\.73\.1\.2 0 <-> 10\.73\.2\.2 0 :default$/m);
    // TCP: the allowed port connects, another port does not.
    for (const [port, expect] of [
      [5001, true],
      [5002, false],
    ] as const) {
      const server = spawn('ip', ['netns', 'exec', B, NC, '-l', String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((r) => setTimeout(r, 300));
      const c = lab.inNs(A, ['sh', '-c', `echo hello | ${NC} -N -w 2 10.73.2.2 ${port}`], { allowFail: true, timeoutMs: 5000 });
      server.kill();
      assert.equal(c.code === 0, expect, `port ${port}: ${c.stderr}`);
    }
  });

  test('a pipe with delay 50 ms adds 50 ms to the ping round trip (never less, at most 2 ms more)', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const base = medianRtt(lab.inNs(A, ['ping', '-c', '20', '-i', '0.1', '-W', '2', '10.73.2.2']).stdout);
    await lab.ok(['R', 'ipfw', 'pipe', '1', 'config', 'delay', '50']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '1', 'icmp', 'from', 'any', 'to', 'any', 'in', 'recv', tA]);
    const slow = medianRtt(lab.inNs(A, ['ping', '-c', '20', '-i', '0.1', '-W', '2', '10.73.2.2']).stdout);
    // Never early. FreeBSD's dummynet runs on a 1 ms tick, so it adds up to 1 ms more; a shared
    // machine that deschedules the daemon adds a little on top (CI saw +1.0 ms with the timer
    // 0.7 ms late on average), hence 2 ms.
    const added = slow - base;
    if (added < 49.5 || added >= 52) {
      const timer = (JSON.parse(await lab.ok(['--json', 'R', 'ipfw', 'pipe', 'show'])) as { timer: unknown }).timer;
      assert.fail(`base ${base} ms, with the pipe ${slow} ms; dummynet timer ${JSON.stringify(timer)}\n${await lab.ok(['R', 'ipfw', 'show'])}${await lab.ok(['R', 'ipfw', 'pipe', 'show'])}`);
    }
    const show = await lab.ok(['R', 'ipfw', 'pipe', 'show']);
    assert.match(show, /^00001: unlimited {8}50 ms burst 0$/m);
    // The twenty echo requests that came in on tA went through the pipe (the replies come in on B's side).
    assert.match(show, /^ +0 ip +0\.0\.0\.0\/0 +0\.0\.0\.0\/0 +20 +1680 +0 +0 +0$/m);
  });

  test('a pipe of 10 Mbit/s carries 10 Mbit/s of iperf3 traffic (within 3%)', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', '2', 'config', 'bw', '10Mbit/s', 'queue', '100']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '2', 'udp', 'from', '10.73.1.2', 'to', '10.73.2.2', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const server = spawn('ip', ['netns', 'exec', B, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 400));
    try {
      // UDP at 20 Mbit/s offered: the pipe lets 10 Mbit/s of IP packets through.
      const r = lab.inNs(A, ['iperf3', '-c', '10.73.2.2', '-u', '-b', '20M', '-l', '1472', '-t', '5', '-J'], { timeoutMs: 20_000 });
      const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
      // What B received, in IP bytes: each 1472-byte datagram is a 1500-byte IP packet.
      const ipRate = (j.end.sum_received.bits_per_second * 1500) / 1472;
      assert.ok(Math.abs(ipRate / 10e6 - 1) < 0.03, `IP rate ${(ipRate / 1e6).toFixed(3)} Mbit/s`);
    } finally {
      server.kill();
    }
  });

  test('plr 0.1 loses a tenth of thousands of pings, within statistical bounds', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', '3', 'config', 'plr', '0.1']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '3', 'icmp', 'from', '10.73.1.2', 'to', '10.73.2.2', 'icmptypes', '8', 'in', 'recv', tA]); // once: a router sees the packet on input and on output
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const n = 2000;
    const r = lab.inNs(A, ['ping', '-q', '-c', String(n), '-i', '0.002', '-W', '1', '10.73.2.2'], { allowFail: true, timeoutMs: 60_000 });
    const got = Number(/(\d+) received/.exec(r.stdout)?.[1]);
    const lost = (n - got) / n;
    // Binomial: sd = sqrt(0.1 * 0.9 / 2000) = 0.0067; allow 3.5 sd.
    assert.ok(Math.abs(lost - 0.1) < 0.024, `lost ${(100 * lost).toFixed(2)}% of ${n}`);
  });

  test('two queues with weights 1 and 3 share a pipe in that ratio', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', '4', 'config', 'bw', '8Mbit/s', 'queue', '100']);
    await lab.ok(['R', 'ipfw', 'queue', '1', 'config', 'pipe', '4', 'weight', '1', 'queue', '100']);
    await lab.ok(['R', 'ipfw', 'queue', '2', 'config', 'pipe', '4', 'weight', '3', 'queue', '100']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'queue', '1', 'udp', 'from', '10.73.1.2', 'to', '10.73.2.2', 'dst-port', '5301', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '110', 'queue', '2', 'udp', 'from', '10.73.1.2', 'to', '10.73.2.2', 'dst-port', '5302', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const servers = ['5301', '5302'].map((port) => spawn('ip', ['netns', 'exec', B, 'iperf3', '-s', '-1', '-p', port], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 400));
    const client = (port: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const c = spawn('ip', ['netns', 'exec', A, 'iperf3', '-c', '10.73.2.2', '-p', port, '-u', '-b', '10M', '-l', '1000', '-t', '5', '-J'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.on('close', () => {
          try {
            resolve((JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second);
          } catch (e) {
            reject(new Error(`iperf3 -p ${port}: ${out.slice(0, 300)} ${(e as Error).message}`));
          }
        });
      });
    try {
      const [w1, w3] = await Promise.all([client('5301'), client('5302')]);
      const ratio = w3 / w1;
      assert.ok(ratio > 2.5 && ratio < 3.5, `weight 1: ${(w1 / 1e6).toFixed(2)} Mbit/s, weight 3: ${(w3 / 1e6).toFixed(2)} Mbit/s, ratio ${ratio.toFixed(2)}`);
      assert.ok((w1 + w3) / 8e6 < 1.03, 'together they do not exceed the pipe');
    } finally {
      for (const s of servers) s.kill();
    }
  });
});
