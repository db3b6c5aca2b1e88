import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManualClock } from '../../lib/clock.js';
import type { Registry, Image } from '../../lib/image.js';
import { routerTopology, type Topology } from '../../lib/testing/topology.js';
import type { Command, CommandContext } from '../command.js';
import { commands as pingCommands } from './ping.js';
import { commands as tracerouteCommands } from './traceroute.js';
import { commandHandles } from '../../lib/control/index.js';

const ping = pingCommands['ping']!;
const traceroute = tracerouteCommands['traceroute']!;

/** A --(epair0)-- R --(epair1)-- B; R forwards between 10.1.0.0/24 and 10.2.0.0/24. */
const topology = (forwarding = true): Topology => routerTopology({ forwarding });

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Run a command in `im`, driving the manual clock `stepMs` at a time while
 * it runs (frames are delivered between steps), optionally aborting it
 * (Ctrl-C) once `abortAfterMs` have passed.
 */
async function run(
  env: { reg: Registry; clock: ManualClock },
  im: Image,
  cmd: Command,
  argv: string[],
  opts: { stepMs?: number; abortAfterMs?: number; maxMs?: number; json?: boolean } = {},
): Promise<Result> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ac = new AbortController();
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, env.reg),
    stdout: { write: (s) => void stdout.push(s) },
    stderr: { write: (s) => void stderr.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: ac.signal,
    json: opts.json ?? false,
    pid: 4242,
  };
  const step = opts.stepMs ?? 100;
  const maxMs = opts.maxMs ?? 120_000;
  let status: number | undefined;
  const done = cmd(ctx).then((s) => {
    status = s;
  });
  let elapsed = 0;
  for (;;) {
    // Let frames, replies and the command's reactions settle before time moves.
    for (let k = 0; k < 5; k++) {
      await tick();
      env.reg.netisr.drain();
    }
    if (status !== undefined) break;
    if (opts.abortAfterMs !== undefined && elapsed >= opts.abortAfterMs && !ac.signal.aborted) {
      ac.abort('SIGINT');
      continue;
    }
    assert.ok(elapsed < maxMs, `${argv.join(' ')} still running after ${maxMs} ms; output so far:\n${stdout.join('')}`);
    env.clock.advance(step);
    elapsed += step;
  }
  await done;
  return { status: status!, stdout: stdout.join(''), stderr: stderr.join('') };
}

test('ping -c 3 gets three replies through the router and prints FreeBSD statistics', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '-c', '3', '10.2.0.2']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    [
      'PING 10.2.0.2 (10.2.0.2): 56 data bytes',
      '64 bytes from 10.2.0.2: icmp_seq=0 ttl=63 time=0.000 ms',
      '64 bytes from 10.2.0.2: icmp_seq=1 ttl=63 time=0.000 ms',
      '64 bytes from 10.2.0.2: icmp_seq=2 ttl=63 time=0.000 ms',
      '',
      '--- 10.2.0.2 ping statistics ---',
      '3 packets transmitted, 3 packets received, 0.0% packet loss',
      'round-trip min/avg/max/stddev = 0.000/0.000/0.000/0.000 ms',
      '',
    ].join('\n'),
  );
  // It stopped on the third reply, without lingering.
  assert.ok(env.clock.now() < 2500, `finished at ${env.clock.now()} ms`);
  assert.equal(env.a.raw.pcbs.length, 0, 'raw endpoint closed');
});

test('ping --json prints one object per line while it runs, then the summary', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '-c', '2', '10.2.0.2'], { json: true });
  assert.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l['type']),
    ['start', 'reply', 'reply', 'summary'],
  );
  assert.deepEqual(lines[0], { type: 'start', target: '10.2.0.2', address: '10.2.0.2', dataBytes: 56 });
  assert.deepEqual(lines[2], { type: 'reply', bytes: 64, from: '10.2.0.2', icmpSeq: 1, ttl: 63, timeMs: 0 });
  assert.deepEqual(lines[3], {
    type: 'summary',
    target: '10.2.0.2',
    transmitted: 2,
    received: 2,
    duplicates: 0,
    packetLossPercent: 0,
    roundTripMs: { min: 0, avg: 0, max: 0, stddev: 0 },
  });
  // An unreachable network: the ICMP error is a line too, and the summary says 100% loss.
  const env2 = topology(false);
  const r2 = await run(env2, env2.a, ping, ['ping', '-c', '1', '-t', '3', '10.2.0.2'], { json: true });
  const last = JSON.parse(r2.stdout.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
  assert.equal(last['type'], 'summary');
  assert.equal(last['received'], 0);
  assert.equal(last['packetLossPercent'], 100);
  assert.equal(r2.status, 2);
});

test('ping measures round trips on the image clock', async () => {
  const env = topology();
  // The first request leaves at 0 and is answered at once; the second leaves
  // at 1000 during a 300 ms step, so its reply is read at 1200.
  const r = await run(env, env.a, ping, ['ping', '-c', '2', '-s', '100', '10.2.0.2'], { stepMs: 300 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^PING 10\.2\.0\.2 \(10\.2\.0\.2\): 100 data bytes\n/);
  assert.match(r.stdout, /108 bytes from 10\.2\.0\.2: icmp_seq=0 ttl=63 time=0\.000 ms\n/);
  assert.match(r.stdout, /108 bytes from 10\.2\.0\.2: icmp_seq=1 ttl=63 time=200\.000 ms\n/);
  assert.match(r.stdout, /\nround-trip min\/avg\/max\/stddev = 0\.000\/100\.000\/200\.000\/100\.000 ms\n$/);
});

test('ping to a network the router cannot reach prints net unreachable and exits 2', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '-c', '1', '10.9.0.1']);
  assert.equal(r.status, 2);
  assert.equal(
    r.stdout,
    [
      'PING 10.9.0.1 (10.9.0.1): 56 data bytes',
      '92 bytes from 10.1.0.1: Destination Net Unreachable',
      '',
      '--- 10.9.0.1 ping statistics ---',
      '1 packets transmitted, 0 packets received, 100.0% packet loss',
      '',
    ].join('\n'),
  );
  // No reply: one interval, then -W (10 s by default) before giving up.
  assert.ok(env.clock.now() >= 11_000 && env.clock.now() < 11_500, `finished at ${env.clock.now()} ms`);
});

test('ping -m 1 -t 1 gets time to live exceeded from the first hop and stops after a second', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '-m', '1', '-t', '1', '10.2.0.2']);
  assert.equal(r.status, 2);
  assert.match(r.stdout, /\n92 bytes from 10\.1\.0\.1: Time to live exceeded\n/);
  assert.match(r.stdout, /\n1 packets transmitted, 0 packets received, 100\.0% packet loss\n$/);
  assert.equal(env.clock.now(), 1000);
});

test('ping -q prints only the banner and the statistics', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '-q', '-c', '2', '-i', '0.5', '10.2.0.2']);
  assert.equal(r.status, 0);
  assert.doesNotMatch(r.stdout, /bytes from/);
  assert.match(r.stdout, /2 packets transmitted, 2 packets received, 0\.0% packet loss/);
  assert.ok(env.clock.now() < 1000, 'interval of half a second');
});

test('ping stopped with Ctrl-C prints its statistics', async () => {
  const env = topology();
  const r = await run(env, env.a, ping, ['ping', '10.2.0.2'], { abortAfterMs: 2500 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /icmp_seq=2 ttl=63/);
  assert.match(r.stdout, /\n\n--- 10\.2\.0\.2 ping statistics ---\n3 packets transmitted, 3 packets received, 0\.0% packet loss\nround-trip /);
  assert.equal(env.a.raw.pcbs.length, 0);
});

test('ping with no route reports the send error and keeps going', async () => {
  const env = topology();
  const c = env.reg.create('C'); // only lo0: no route anywhere
  const r = await run(env, c, ping, ['ping', '-c', '2', '10.2.0.2']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'ping: sendto: No route to host\nping: sendto: No route to host\n');
  assert.match(r.stdout, /2 packets transmitted, 0 packets received, 100\.0% packet loss/);
});

test('ping rejects bad arguments with one line and status 64, unknown hosts with 68', async () => {
  const env = topology();
  const cases: Array<[string[], number, RegExp]> = [
    [['ping'], 64, /^ping: missing host operand; usage: ping \[/],
    [['ping', '-c', '0', '10.2.0.2'], 64, /^ping: invalid count of packets to transmit: `0': give a positive integer$/],
    [['ping', '-c'], 64, /^ping: option requires an argument -- c; usage: /],
    [['ping', '-x', '10.2.0.2'], 64, /^ping: illegal option -- x; usage: /],
    [['ping', '-s', '70000', '10.2.0.2'], 64, /^ping: packet size too large: 70000 > 65507$/],
    [['ping', '-i', 'soon', '10.2.0.2'], 64, /^ping: invalid timing interval: `soon'/],
    [['ping', '-t', '0', '10.2.0.2'], 64, /^ping: invalid timeout: `0'/],
    [['ping', '-m', '300', '10.2.0.2'], 64, /^ping: invalid TTL: `300'/],
    [['ping', '10.2.0.2', '10.2.0.3'], 64, /^ping: too many operands; usage: /],
    [['ping', 'nohost.example'], 68, /^ping: cannot resolve nohost\.example: Unknown host$/],
    [['ping', '-S', '10.9.9.9', '10.2.0.2'], 1, /^ping: bind: Can't assign requested address/],
  ];
  for (const [argv, status, re] of cases) {
    const r = await run(env, env.a, ping, argv);
    assert.equal(r.status, status, argv.join(' '));
    assert.equal(r.stdout, '', argv.join(' '));
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), re);
  }
  assert.equal(env.a.raw.pcbs.length, 0);
});

test('traceroute from A to B shows the router, then B, and stops', async () => {
  const env = topology();
  const r = await run(env, env.a, traceroute, ['traceroute', '10.2.0.2']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, 'traceroute to 10.2.0.2 (10.2.0.2), 64 hops max, 40 byte packets\n');
  assert.equal(
    r.stdout,
    ' 1  10.1.0.1 (10.1.0.1)  0.000 ms  0.000 ms  0.000 ms\n' + ' 2  10.2.0.2 (10.2.0.2)  0.000 ms  0.000 ms  0.000 ms\n',
  );
  // Six UDP probes, three of them answered by B's closed ports.
  assert.equal(env.b.udpstat.noport, 3);
  assert.equal(env.b.udpstat.badsum, 0);
  assert.equal(env.a.raw.pcbs.length, 0);
});

test('traceroute -I uses echo requests and stops at the echo reply', async () => {
  const env = topology();
  const r = await run(env, env.a, traceroute, ['traceroute', '-I', '-n', '10.2.0.2']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, 'traceroute to 10.2.0.2 (10.2.0.2), 64 hops max, 48 byte packets\n');
  assert.equal(r.stdout, ' 1  10.1.0.1  0.000 ms  0.000 ms  0.000 ms\n' + ' 2  10.2.0.2  0.000 ms  0.000 ms  0.000 ms\n');
  assert.equal(env.b.udpstat.ipackets, 0);
});

test('traceroute past a router with no route shows !N and gives up', async () => {
  const env = topology();
  const r = await run(env, env.a, traceroute, ['traceroute', '-n', '10.9.0.1']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, ' 1  10.1.0.1  0.000 ms  0.000 ms  0.000 ms\n' + ' 2  10.1.0.1  0.000 ms !N  0.000 ms !N  0.000 ms !N\n');
});

test('traceroute --json prints a start line, one line per hop and a summary', async () => {
  const env = topology();
  const r = await run(env, env.a, traceroute, ['traceroute', '-q', '2', '10.9.0.1'], { json: true });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  const probe = { from: '10.1.0.1', timeMs: 0 };
  assert.deepEqual(lines, [
    { type: 'start', target: '10.9.0.1', address: '10.9.0.1', maxHops: 64, packetBytes: 40 },
    { type: 'hop', ttl: 1, probes: [probe, probe] },
    { type: 'hop', ttl: 2, probes: [{ ...probe, mark: '!N' }, { ...probe, mark: '!N' }] },
    { type: 'summary', target: '10.9.0.1', address: '10.9.0.1', hops: 2, reached: false },
  ]);
  const env2 = topology(false);
  const r2 = await run(env2, env2.a, traceroute, ['traceroute', '-m', '1', '-q', '1', '-w', '1', '10.2.0.2'], { json: true });
  assert.deepEqual(JSON.parse(r2.stdout.split('\n')[1]!), { type: 'hop', ttl: 1, probes: [{ lost: true }] });
});

test('traceroute prints * for unanswered probes and waits -w seconds for each', async () => {
  const env = topology(false); // R drops what it cannot forward, silently
  const r = await run(env, env.a, traceroute, ['traceroute', '-n', '-m', '2', '-q', '2', '-w', '1', '10.2.0.2']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, 'traceroute to 10.2.0.2 (10.2.0.2), 2 hops max, 40 byte packets\n');
  assert.equal(r.stdout, ' 1  * *\n 2  * *\n');
  assert.equal(env.clock.now(), 4000);
});

test('traceroute -f and -p choose the first TTL and the base port', async () => {
  const env = topology();
  const r = await run(env, env.a, traceroute, ['traceroute', '-n', '-f', '2', '-q', '1', '-p', '40000', '10.2.0.2']);
  assert.equal(r.stdout, ' 2  10.2.0.2  0.000 ms\n');
});

test('traceroute stops on Ctrl-C', async () => {
  const env = topology(false);
  const r = await run(env, env.a, traceroute, ['traceroute', '-n', '10.2.0.2'], { abortAfterMs: 7000 });
  assert.equal(r.status, 130);
  assert.equal(r.stdout, ' 1  *\n');
  assert.equal(env.a.raw.pcbs.length, 0);
});

test('traceroute rejects bad arguments with status 64 and unknown hosts with 68', async () => {
  const env = topology();
  const cases: Array<[string[], number, RegExp]> = [
    [['traceroute'], 64, /^traceroute: missing host operand; usage: traceroute \[/],
    [['traceroute', '-m', '0', '10.2.0.2'], 64, /^traceroute: max ttl must be >= 1$/],
    [['traceroute', '-q', 'x', '10.2.0.2'], 64, /^traceroute: "x" bad value for nprobes$/],
    [['traceroute', '-f', '5', '-m', '3', '10.2.0.2'], 64, /^traceroute: first ttl \(5\) may not be greater than max ttl \(3\)$/],
    [['traceroute', '-z', '10.2.0.2'], 64, /^traceroute: illegal option -- z; usage: /],
    [['traceroute', '10.2.0.2', '20'], 64, /^traceroute: packet length must be >= 28$/],
    [['traceroute', 'nohost.example'], 68, /^traceroute: unknown host nohost\.example$/],
  ];
  for (const [argv, status, re] of cases) {
    const r = await run(env, env.a, traceroute, argv);
    assert.equal(r.status, status, argv.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trimEnd(), re);
  }
});

test('ping -D through a smaller MTU gets fragmentation needed; -S names the source', async () => {
  const env = topology();
  env.r.setMtu(env.r.ifnet('epair1a'), 1000);
  const df = await run(env, env.a, ping, ['ping', '-D', '-c', '1', '-s', '1400', '10.2.0.2']);
  assert.equal(df.status, 2);
  assert.match(df.stdout, /\n576 bytes from 10\.1\.0\.1: frag needed and DF set \(MTU 1000\)\n/);
  // Without -D the router fragments and B answers in fragments too.
  const frag = await run(env, env.a, ping, ['ping', '-S', '10.1.0.2', '-c', '1', '-s', '1400', '10.2.0.2']);
  assert.equal(frag.status, 0);
  assert.match(frag.stdout, /^PING 10\.2\.0\.2 \(10\.2\.0\.2\) from 10\.1\.0\.2: 1400 data bytes\n1408 bytes from 10\.2\.0\.2: icmp_seq=0 ttl=63 time=0\.000 ms\n/);
});

test('traceroute -F with a large packet shows !F and the next-hop MTU', async () => {
  const env = topology();
  env.r.setMtu(env.r.ifnet('epair1a'), 1000);
  const r = await run(env, env.a, traceroute, ['traceroute', '-n', '-F', '10.2.0.2', '1400']);
  assert.equal(r.stderr, 'traceroute to 10.2.0.2 (10.2.0.2), 64 hops max, 1400 byte packets\n');
  assert.equal(r.stdout, ' 1  10.1.0.1  0.000 ms  0.000 ms  0.000 ms\n' + ' 2  10.1.0.1  0.000 ms !F-1000  0.000 ms !F-1000  0.000 ms !F-1000\n');
});
