/**
 * dummynet's schedulers with Linux hosts on either side of an image: real
 * daemon, real CLI (dnctl and ipfw), TAP devices, namespaces, stock ping
 * and iperf3.
 *
 *   A (10.91.1.2) --tap-- R --tap-- B (10.91.2.2)
 *
 * A bulk TCP transfer (Reno, which fills whatever buffer it is given,
 * unlike the host's default BBR) from A to B fills a 10 Mbit/s pipe on R's input from
 * A while A pings B. Behind a FIFO with a 100-slot queue the ping waits
 * behind the standing queue; with `sched type fq_codel` the ping is a
 * sparse flow served first, and CoDel keeps the bulk flow's queue short.
 * Then each scheduler type carries pings, and fq_codel with `ecn` marks an
 * ECN-capable flow instead of dropping it.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Lab, labUnavailable } from './lab.js';

const P = 'vdn'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();

function rtts(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

const median = (t: number[]): number => t[t.length >> 1]!;

describe('dummynet schedulers between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';
  let tA = '';
  const kids: ChildProcess[] = [];

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    tA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const tB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.91.1.2/24', '10.91.1.1');
    lab.wireHost(`${P}b0`, B, '10.91.2.2/24', '10.91.2.1');
    await lab.ok(['R', 'ifconfig', tA, 'inet', '10.91.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', tB, 'inet', '10.91.2.1/24', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.91.2.2']);
    // MTU-sized packets into the pipe, as a FreeBSD router's dummynet sees them: no 64 KB TSO/GSO frames from A.
    lab.inNs(A, ['ethtool', '-K', `${P}a0`, 'tso', 'off', 'gso', 'off']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
  });
  after(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await lab.close();
  });

  /** Ping RTTs from A to B while an iperf3 TCP transfer from A fills the path. */
  async function rttUnderLoad(port: number): Promise<{ rtt: number[]; mbps: number }> {
    const server = spawn('ip', ['netns', 'exec', B, 'iperf3', '-s', '-1', '-p', String(port)], { stdio: 'ignore' });
    kids.push(server);
    await new Promise((r) => setTimeout(r, 400));
    const client = spawn('ip', ['netns', 'exec', A, 'iperf3', '-c', '10.91.2.2', '-p', String(port), '-t', '7', '-C', 'reno', '-J'], { stdio: ['ignore', 'pipe', 'ignore'] });
    kids.push(client);
    let out = '';
    client.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const done = new Promise<void>((r) => client.on('close', () => r()));
    try {
      // Let TCP fill the queue, then ping through it.
      await new Promise((r) => setTimeout(r, 2000));
      const ping = lab.inNs(A, ['ping', '-c', '20', '-i', '0.2', '-W', '3', '10.91.2.2'], { allowFail: true, timeoutMs: 15_000 });
      await done;
      const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
      return { rtt: rtts(ping.stdout), mbps: j.end.sum_received.bits_per_second / 1e6 };
    } finally {
      client.kill();
      server.kill();
    }
  }

  test('fq_codel keeps a ping fast while bulk TCP fills a 10 Mbit/s pipe; a FIFO with a big queue does not', async (t) => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', 'pipe', '1', 'config', 'bw', '10Mbit/s', 'queue', '100']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '1', 'ip', 'from', '10.91.1.2', 'to', '10.91.2.2', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const fifo = await rttUnderLoad(5401);

    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', 'pipe', '2', 'config', 'bw', '10Mbit/s']);
    await lab.ok(['R', 'dnctl', 'sched', '2', 'config', 'type', 'fq_codel']);
    await lab.ok(['R', 'dnctl', 'queue', '2', 'config', 'sched', '2']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'queue', '2', 'ip', 'from', '10.91.1.2', 'to', '10.91.2.2', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const fq = await rttUnderLoad(5402);
    const show = await lab.ok(['R', 'dnctl', 'sched', 'show']);

    const report = `FIFO queue 100: median ping RTT ${median(fifo.rtt)} ms (${fifo.rtt.length} replies, ${fifo.mbps.toFixed(2)} Mbit/s TCP); ` + `FQ_CODEL: median ${median(fq.rtt)} ms (${fq.rtt.length} replies, ${fq.mbps.toFixed(2)} Mbit/s TCP)`;
    t.diagnostic(report);
    assert.ok(fifo.rtt.length >= 15 && fq.rtt.length >= 15, report);
    // Both ran the pipe near full (TCP goodput under 10 Mbit/s of IP).
    assert.ok(fifo.mbps > 7 && fifo.mbps < 10.2, report);
    assert.ok(fq.mbps > 7 && fq.mbps < 10.2, report);
    // 100 packets of 1500 bytes at 10 Mbit/s: a full FIFO holds 120 ms.
    assert.ok(median(fifo.rtt) > 40, report);
    assert.ok(median(fq.rtt) < median(fifo.rtt) / 4, report);
    assert.ok(median(fq.rtt) < 20, report);
    assert.match(show, / sched 2 type FQ_CODEL flags 0x0 0 buckets 1 active\n FQ_CODEL target 5ms interval 100ms quantum 1514 limit 10240 flows 1024 NoECN\n/);
  });

  test('each scheduler type, and each queue AQM, carries pings', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', 'pipe', '3', 'config', 'bw', '5Mbit/s', 'delay', '5']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'queue', '3', 'icmp', 'from', '10.91.1.2', 'to', '10.91.2.2', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    const cases: Array<[string, string[]]> = [
      ['fifo', []],
      ['wf2q+', []],
      ['rr', []],
      ['qfq', []],
      ['prio', []],
      ['fq_codel', []],
      ['fq_pie', []],
      ['wf2q+', ['codel']],
      ['wf2q+', ['pie']],
      ['rr', ['red', '0.002/10/30/0.1']],
      ['qfq', ['gred', '0.002/10/30/0.1']],
    ];
    for (const [type, aqm] of cases) {
      await lab.ok(['R', 'dnctl', 'sched', '3', 'config', 'type', type]);
      await lab.ok(['R', 'dnctl', 'queue', '3', 'config', 'sched', '3', 'droptail', ...aqm]);
      const r = lab.inNs(A, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.91.2.2'], { allowFail: true });
      const t = rtts(r.stdout);
      assert.equal(t.length, 3, `${type} ${aqm.join(' ')}: ${r.stdout}${r.stderr}`);
      // The pipe's 5 ms delay is in every round trip.
      assert.ok(t[0]! >= 5, `${type}: ${t.join(' ')}`);
      const show = await lab.ok(['R', 'dnctl', 'sched', '3', 'show']);
      assert.match(show, new RegExp(` sched 3 type ${type.toUpperCase().replace('+', '\\+')} `), show);
    }
    const q = await lab.ok(['R', 'dnctl', 'queue', '3', 'show']);
    assert.match(q, /q00003 +50 sl\. 1 flows \(1 buckets\) sched 3 weight 1 lmax 0 pri 0 \n\t GRED w_q 0\.001999 min_th 10 max_th 30 max_p 0\.099991\n/);
  });

  test('fq_codel with ecn marks an ECN-capable TCP flow CE instead of dropping it: the Linux receiver counts CE packets', async (t) => {
    /** Linux's count of CE-marked packets received (IpExt InCEPkts in /proc/net/netstat). */
    const inCe = (): number => {
      const lines = lab.inNs(B, ['cat', '/proc/net/netstat']).stdout.split('\n').filter((l) => l.startsWith('IpExt:'));
      const names = lines[0]!.split(/\s+/);
      return Number(lines[1]!.split(/\s+/)[names.indexOf('InCEPkts')]);
    };
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', '-q', 'flush']);
    await lab.ok(['R', 'dnctl', 'pipe', '4', 'config', 'bw', '10Mbit/s']);
    await lab.ok(['R', 'dnctl', 'sched', '4', 'config', 'type', 'fq_codel', 'ecn']);
    await lab.ok(['R', 'dnctl', 'queue', '4', 'config', 'sched', '4']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'queue', '4', 'ip', 'from', '10.91.1.2', 'to', '10.91.2.2', 'in', 'recv', tA]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    lab.inNs(A, ['sysctl', '-qw', 'net.ipv4.tcp_ecn=1']);
    try {
      const before = inCe();
      const server = spawn('ip', ['netns', 'exec', B, 'iperf3', '-s', '-1', '-p', '5404'], { stdio: 'ignore' });
      kids.push(server);
      await new Promise((r) => setTimeout(r, 400));
      const run = lab.inNs(A, ['iperf3', '-c', '10.91.2.2', '-p', '5404', '-t', '4', '-C', 'reno', '-J'], { timeoutMs: 20_000 });
      server.kill();
      const j = JSON.parse(run.stdout) as { end: { sum_sent: { retransmits: number }; sum_received: { bits_per_second: number } } };
      const ce = inCe() - before;
      const report = `${ce} CE-marked packets reached B; ${j.end.sum_sent.retransmits} retransmits; ${(j.end.sum_received.bits_per_second / 1e6).toFixed(2)} Mbit/s`;
      t.diagnostic(report);
      // CoDel signals at most about once per interval (100 ms) while the queue stays above target, and Reno
      // halves its window at each mark: a few marks a second, no drops (one run here: 11 marks, 0 retransmits).
      assert.ok(ce >= 3, report);
      assert.ok(j.end.sum_received.bits_per_second > 6e6, report);
      assert.match(await lab.ok(['R', 'dnctl', 'sched', '4', 'show']), /FQ_CODEL target 5ms interval 100ms quantum 1514 limit 10240 flows 1024 ECN\n/);
    } finally {
      lab.inNs(A, ['sysctl', '-qw', 'net.ipv4.tcp_ecn=2']);
    }
  });
});
