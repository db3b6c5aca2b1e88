import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerTopology } from '../../lib/testing/topology.js';
import { commands } from './ping.js';
import { run } from './tools_harness.js';

const ping = commands['ping']!;

test('ping -f prints a dot per request and a backspace per reply, and sends as fast as replies come back', async () => {
  const env = routerTopology();
  const r = await run(env, env.a, ping, ['ping', '-f', '-c', '5', '10.2.0.2'], { stepMs: 10 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(
    r.stdout,
    [
      'PING 10.2.0.2 (10.2.0.2): 56 data bytes',
      '.\b.\b.\b.\b.\b',
      '--- 10.2.0.2 ping statistics ---',
      '5 packets transmitted, 5 packets received, 0.0% packet loss',
      'round-trip min/avg/max/stddev = 0.000/0.000/0.000/0.000 ms',
      '',
    ].join('\n'),
  );
  // Each reply triggered the next request at once: no 10 ms waits were needed.
  assert.ok(env.clock.now() < 10, `took ${env.clock.now()} ms`);
});

test('ping -f without replies sends every 10 ms (FreeBSD flood interval) and -q hides the dots', async () => {
  const env = routerTopology({ forwarding: false });
  const r = await run(env, env.a, ping, ['ping', '-f', '-c', '20', '-W', '100', '10.2.0.2'], { stepMs: 1 });
  assert.equal(r.status, 2);
  assert.equal(r.stdout.split('\n')[1], '.'.repeat(20));
  assert.match(r.stdout, /20 packets transmitted, 0 packets received, 100\.0% packet loss/);
  // 20 requests 10 ms apart, then the -W linger.
  assert.ok(env.clock.now() >= 190 + 100 && env.clock.now() < 190 + 100 + 20, `took ${env.clock.now()} ms`);
  const q = await run(routerTopology(), routerTopology().a, ping, ['ping', '-h'], {});
  assert.equal(q.status, 64);
  const env2 = routerTopology();
  const quiet = await run(env2, env2.a, ping, ['ping', '-fq', '-c', '3', '10.2.0.2'], { stepMs: 10 });
  assert.equal(quiet.stdout.split('\n')[1], '');
});

test('ping -o, -D, -C and -f errors as FreeBSD 14 gives them', async () => {
  const cases: Array<[string[], number, RegExp, 'stdout' | 'stderr']> = [
    [['ping', '-f', '-i', '0.5', '10.2.0.2'], 64, /^ping: -f and -i: incompatible options\n$/, 'stderr'],
    [['ping', '-f', '224.0.0.1'], 64, /^ping: -f flag cannot be used with multicast destination\n$/, 'stderr'],
    [['ping', '-C', '8', '10.2.0.2'], 64, /^ping: invalid PCP: `8'/, 'stderr'],
    [['ping', '-C', 'x', '10.2.0.2'], 64, /^ping: invalid PCP: `x'/, 'stderr'],
    [['ping', '-C', '5', '-c', '1', '10.2.0.2'], 0, /1 packets transmitted, 1 packets received/, 'stdout'],
    [['ping', '-C', '-1', '-c', '1', '10.2.0.2'], 0, /1 packets received/, 'stdout'],
    [['ping', '-o', '10.2.0.2'], 0, /^PING [^\n]+\n64 bytes from 10\.2\.0\.2: icmp_seq=0 ttl=63 time=[\d.]+ ms\n\n--- 10\.2\.0\.2 ping statistics ---\n1 packets transmitted, 1 packets received/, 'stdout'],
    [['ping', '-c', '1', '-W', '100', '10.9.0.1'], 2, /^PING [^\n]+\n\d+ bytes from 10\.1\.0\.1: Destination Net Unreachable\n\n---/, 'stdout'],
    // -Q: ICMP errors about our requests are not shown.
    [['ping', '-Q', '-c', '1', '-W', '100', '10.9.0.1'], 2, /^PING 10\.9\.0\.1 \(10\.9\.0\.1\): 56 data bytes\n\n--- 10\.9\.0\.1 ping statistics ---\n/, 'stdout'],
    [['ping', '-s', '2000', '-c', '1', '10.2.0.2'], 0, /2008 bytes from 10\.2\.0\.2/, 'stdout'],
    // -D: DF set, so a datagram above the 1500-byte MTU is not fragmented but refused (EMSGSIZE).
    [['ping', '-D', '-s', '2000', '-c', '1', '-W', '100', '10.2.0.2'], 2, /^ping: sendto: Message too long\n$/, 'stderr'],
  ];
  for (const [argv, status, re, where] of cases) {
    const env = routerTopology();
    const r = await run(env, env.a, ping, argv, { stepMs: 50 });
    assert.equal(r.status, status, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r[where], re, argv.join(' '));
  }
});
