/**
 * ipfw and dummynet over IPv6 with Linux hosts on two IPv6 subnets either
 * side of an image: real daemon, real vimage CLI, TAP devices, namespaces,
 * and stock ping -6 and nc -6 as the peers.
 *
 *   A (2001:db8:61::2) --tap-- R --tap-- B (2001:db8:62::2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Lab, labUnavailable, sh, until } from './lab.js';

const P = 'vw6'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const NC = spawnSync('nc.openbsd', ['-h']).error === undefined ? 'nc.openbsd' : 'nc';
const A6 = '2001:db8:61::2';
const B6 = '2001:db8:62::2';
const ND = ['ipfw', '-q', 'add', '50', 'allow', 'ipv6-icmp', 'from', 'any', 'to', 'any', 'icmp6types', '133,134,135,136'];

/** Median RTT (ms) of ping's replies. */
function medianRtt(out: string): number {
  const t = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  assert.ok(t.length > 0, out);
  return t[t.length >> 1]!;
}

describe('ipfw and dummynet over IPv6 between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';

  /** Does `echo | nc -6` from A reach a listener on B's `port`? */
  async function tcp(from: string, to: string, port: number): Promise<boolean> {
    const server = spawn('ip', ['netns', 'exec', from === A ? B : A, NC, '-6', '-l', String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let got = '';
    server.stdout.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    const c = lab.inNs(from, ['sh', '-c', `echo hello6 | ${NC} -6 -N -w 2 ${to} ${port}`], { allowFail: true, timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    server.kill();
    return c.code === 0 && got.includes('hello6');
  }

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    const tA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const tB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.74.1.2/24', '10.74.1.1');
    lab.wireHost(`${P}b0`, B, '10.74.2.2/24', '10.74.2.1');
    sh('ip', ['-n', A, 'addr', 'add', `${A6}/64`, 'dev', `${P}a0`, 'nodad']);
    sh('ip', ['-n', B, 'addr', 'add', `${B6}/64`, 'dev', `${P}b0`, 'nodad']);
    sh('ip', ['-n', A, '-6', 'route', 'add', 'default', 'via', '2001:db8:61::1']);
    sh('ip', ['-n', B, '-6', 'route', 'add', 'default', 'via', '2001:db8:62::1']);
    await lab.ok(['R', 'ifconfig', tA, 'inet6', '2001:db8:61::1/64', 'up']);
    await lab.ok(['R', 'ifconfig', tB, 'inet6', '2001:db8:62::1/64', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.forwarding=1']);
    await until('A pings B over IPv6 through R', () => lab.inNs(A, ['ping', '-6', '-c', '1', '-W', '1', B6], { allowFail: true }).code === 0, 20_000);
  });
  after(async () => {
    await lab.close();
  });

  test('default deny stops Neighbor Discovery as on FreeBSD; allowing ICMPv6 types 133-136 brings it back', async () => {
    await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'ip6', 'from', '2001:db8:61::/64', 'to', '2001:db8:62::/64']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '210', 'allow', 'ip6', 'from', '2001:db8:62::/64', 'to', '2001:db8:61::/64']);
    // A forgets R's link address: its solicitation meets the default rule.
    sh('ip', ['-n', A, '-6', 'neigh', 'flush', 'dev', `${P}a0`]);
    const denied = lab.inNs(A, ['ping', '-6', '-c', '2', '-i', '0.3', '-W', '1', B6], { allowFail: true });
    assert.notEqual(denied.code, 0, 'the solicitation for R is denied: A cannot resolve its router');
    assert.equal(await lab.ok(['R', ...ND.filter((w) => w !== '-q')]), '00050 allow ipv6-icmp from any to any icmp6types 133,134,135,136\n');
    const ok = lab.inNs(A, ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', B6]);
    assert.match(ok.stdout, /2 received/);
  });

  test('deny ipv6-icmp icmp6types 128 stops ping -6 while TCP over IPv6 passes; ipfw show counts the denied requests', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', ...ND]);
    assert.equal(await lab.ok(['R', 'ipfw', 'add', '100', 'deny', 'ipv6-icmp', 'from', 'any', 'to', 'any', 'icmp6types', '128']), '00100 deny ipv6-icmp from any to any icmp6types 128\n');
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'ip6', 'from', 'any', 'to', 'any']);
    const p = lab.inNs(A, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '1', B6], { allowFail: true });
    assert.match(p.stdout, /3 packets transmitted, 0 received/);
    assert.ok(await tcp(A, B6, 5301), 'nc -6 from A to B gets through');
    const show = await lab.ok(['R', 'ipfw', 'show', '100']);
    assert.match(show, /^00100 +3 +312 deny ipv6-icmp from any to any icmp6types 128\n$/);
  });

  test('a rule on an IPv6 prefix and port: one port of B is closed to A\'s subnet, another open', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', ...ND]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'deny', 'tcp', 'from', '2001:db8:61::/64', 'to', B6, '5302']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'ip6', 'from', 'any', 'to', 'any']);
    assert.equal(await tcp(A, B6, 5302), false);
    assert.equal(await tcp(A, B6, 5303), true);
    assert.match(await lab.ok(['R', 'ipfw', 'list', '100']), /^00100 deny tcp from 2001:db8:61::\/64 to 2001:db8:62::2 5302\n$/);
  });

  test('keep-state for IPv6 TCP: the replies come back by the state; B cannot start a conversation', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', ...ND]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'check-state']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'tcp', 'from', A6, 'to', 'any', '5304', 'setup', 'keep-state']);
    assert.equal(await tcp(A, B6, 5304), true, 'A to B:5304 with its state');
    const dyn = await lab.ok(['R', 'ipfw', '-d', 'list']);
    assert.match(dyn, /^00200 STATE tcp 2001:db8:61::2 \d+ <-> 2001:db8:62::2 5304 :default$/m);
    assert.equal(await tcp(A, B6, 5305), false, 'another port has no rule');
    assert.equal(await tcp(B, A6, 5304), false, 'B may not start a conversation');
    const ping = lab.inNs(B, ['ping', '-6', '-c', '1', '-W', '1', A6], { allowFail: true });
    assert.notEqual(ping.code, 0);
  });

  test('pipe 1 with delay 50 on IPv6 input adds 100 ms to the ping -6 round trip', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', ...ND]);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'ip6', 'from', 'any', 'to', 'any']);
    const base = medianRtt(lab.inNs(A, ['ping', '-6', '-c', '10', '-i', '0.1', '-W', '2', B6]).stdout);
    await lab.ok(['R', 'ipfw', 'pipe', '1', 'config', 'delay', '50']);
    // `in`: a router sees a packet on input and again on output; once each way makes 2 x 50 ms.
    assert.equal(await lab.ok(['R', 'ipfw', 'add', '100', 'pipe', '1', 'ip6', 'from', 'any', 'to', 'any', 'in']), '00100 pipe 1 ip6 from any to any in\n');
    const slow = medianRtt(lab.inNs(A, ['ping', '-6', '-c', '10', '-i', '0.2', '-W', '2', B6]).stdout);
    assert.ok(slow - base >= 99 && slow - base <= 110, `base ${base} ms, with the pipe ${slow} ms\n${await lab.ok(['R', 'ipfw', 'show'])}${await lab.ok(['R', 'ipfw', 'pipe', 'show'])}`);
  });
});
