/**
 * ipfw actions with Linux hosts on either side of an image, checked on the
 * wire: setdscp (tcpdump on the far side), unreach and reset (errors seen by
 * ping, nc and curl), limit, call/return with tags, rule sets.
 *
 *   A (10.76.1.2) --tap-- R --tap-- B (10.76.2.2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Lab, background, labUnavailable, until } from './lab.js';

const P = 'vfa'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
const NC = spawnSync('nc.openbsd', ['-h']).error === undefined ? 'nc.openbsd' : 'nc';

describe('ipfw actions between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';
  let tA = '';
  const ipfw = (...w: string[]): Promise<string> => lab.ok(['R', 'ipfw', '-q', ...w]);
  const pingOk = (n = 1): boolean => lab.inNs(A, ['ping', '-c', String(n), '-i', '0.2', '-W', '1', '10.76.2.2'], { allowFail: true }).code === 0;

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    tA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const tB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.76.1.2/24', '10.76.1.1');
    lab.wireHost(`${P}b0`, B, '10.76.2.2/24', '10.76.2.1');
    await lab.ok(['R', 'ifconfig', tA, 'inet', '10.76.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', tB, 'inet', '10.76.2.1/24', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.76.2.2']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
  });
  after(async () => {
    await lab.close();
  });

  test('setdscp af41: B sees TOS 0x88 on the pings R forwards, and ipfw show prints the rule', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'setdscp', 'af41', 'icmp', 'from', 'any', 'to', 'any', 'in', 'recv', tA);
    await ipfw('add', '200', 'count', 'icmp', 'from', 'any', 'to', 'any', 'dscp', 'af41', 'out');
    await ipfw('add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any');
    const dump = background('ip', ['netns', 'exec', B, 'tcpdump', '-l', '-n', '-v', '-c', '1', '-i', `${P}b0`, 'icmp[icmptype] == icmp-echo']);
    try {
      await until('tcpdump listening', () => dump.out().includes('listening on'));
      assert.ok(pingOk(), 'the ping goes through');
      await until('tcpdump saw the echo request', () => /tos 0x/.test(dump.out()), 5000);
      assert.match(dump.out(), /tos 0x88/);
    } finally {
      await dump.stop();
    }
    const show = await lab.ok(['R', 'ipfw', 'show', '100', '200']);
    assert.match(show, /^00100 +1 +84 setdscp af41 icmp from any to any in recv \S+$/m);
    // B's Linux echoes the request's TOS in its reply: that one leaves R towards A with af41 too.
    assert.match(show, /^00200 +2 +168 count icmp from any to any dscp af41 out$/m);
  });

  test('unreach host: ping reports Destination Host Unreachable from R; unreach port: nc is refused', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'unreach', 'host', 'icmp', 'from', 'any', 'to', '10.76.2.2');
    await ipfw('add', '200', 'unreach', 'port', 'tcp', 'from', 'any', 'to', 'any', '5001');
    await ipfw('add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any');
    const p = lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.76.2.2'], { allowFail: true });
    assert.notEqual(p.code, 0);
    assert.match(p.stdout, /From 10\.76\.1\.1 icmp_seq=1 Destination Host Unreachable/);
    const c = lab.inNs(A, [NC, '-z', '-v', '-w', '3', '10.76.2.2', '5001'], { allowFail: true, timeoutMs: 6000 });
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /refused/i);
  });

  test('reset: curl sees connection refused at once (a RST from R, B has a listener)', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'reset', 'tcp', 'from', 'any', 'to', 'any', '80');
    await ipfw('add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any');
    const server = spawn('ip', ['netns', 'exec', B, NC, '-l', '-k', '80'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const c = lab.inNs(A, ['curl', '-sS', '--max-time', '5', 'http://10.76.2.2/'], { allowFail: true, timeoutMs: 8000 });
      assert.equal(c.code, 7, c.stderr);
      assert.match(c.stderr, /Connection refused|Couldn't connect/);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      server.kill();
    }
    assert.match(await lab.ok(['R', 'ipfw', 'show', '100']), /^00100 +1 +60 reset tcp from any to any 80$/m);
  });

  test('limit src-addr 2: two connections from A open, the third is refused; dyn_count shows the states', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'check-state');
    await ipfw('add', '200', 'allow', 'tcp', 'from', '10.76.1.2', 'to', 'any', '5002', 'setup', 'limit', 'src-addr', '2');
    await ipfw('add', '300', 'allow', 'icmp', 'from', 'any', 'to', 'any');
    const server = spawn('ip', ['netns', 'exec', B, NC, '-l', '-k', '5002'], { stdio: 'ignore' });
    const held: Array<ReturnType<typeof background>> = [];
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let k = 0; k < 2; k++) held.push(background('ip', ['netns', 'exec', A, 'sh', '-c', `sleep 6 | ${NC} -w 8 10.76.2.2 5002`]));
      await until('two states', async () => /net\.inet\.ip\.fw\.dyn_count: 2/.test(await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.dyn_count'])), 5000);
      const third = lab.inNs(A, [NC, '-z', '-w', '2', '10.76.2.2', '5002'], { allowFail: true, timeoutMs: 5000 });
      assert.notEqual(third.code, 0, 'the third connection is refused');
      assert.match(await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.dyn_parent_count']), /: 1$/m);
      assert.match(await lab.ok(['R', 'ipfw', 'list', '200']), /^00200 allow tcp from 10\.76\.1\.2 to any 5002 setup limit src-addr 2 :default$/m);
    } finally {
      for (const h of held) await h.stop();
      server.kill();
    }
  });

  test('fwd 10.76.2.2: pings to an address R has no route for leave towards B; tcpdump on B sees them', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'fwd', '10.76.2.2', 'icmp', 'from', 'any', 'to', '10.76.9.0/24', 'in', 'recv', tA);
    await ipfw('add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any');
    const dump = background('ip', ['netns', 'exec', B, 'tcpdump', '-l', '-n', '-c', '1', '-i', `${P}b0`, 'dst host 10.76.9.9']);
    try {
      await until('tcpdump listening', () => dump.out().includes('listening on'));
      lab.inNs(A, ['ping', '-c', '1', '-W', '1', '10.76.9.9'], { allowFail: true });
      await until('tcpdump saw the forwarded echo request', () => /> 10\.76\.9\.9: ICMP echo request/.test(dump.out()), 5000);
    } finally {
      await dump.stop();
    }
    assert.match(await lab.ok(['R', 'ipfw', 'show', '100']), /^00100 +1 +84 fwd 10\.76\.2\.2 icmp from any to 10\.76\.9\.0\/24 in recv \S+$/m);
  });

  test('call/return and tags change the verdict: a subroutine tags pings, a later rule denies the tagged', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'call', '1000', 'icmp', 'from', 'any', 'to', 'any', 'in');
    await ipfw('add', '200', 'deny', 'icmp', 'from', 'any', 'to', 'any', 'tagged', '7');
    await ipfw('add', '300', 'allow', 'ip', 'from', 'any', 'to', 'any');
    await ipfw('add', '1000', 'count', 'tag', '7', 'icmp', 'from', 'any', 'to', 'any', 'icmptypes', '8');
    await ipfw('add', '1100', 'return', 'ip', 'from', 'any', 'to', 'any');
    assert.equal(pingOk(), false, 'the tagged echo request is denied by rule 200');
    assert.match(await lab.ok(['R', 'ipfw', 'show', '200']), /^00200 +1 +84 deny icmp from any to any tagged 7$/m);
    await ipfw('delete', '1000');
    assert.equal(pingOk(), true, 'untagged, the return comes back to 200 and 300 allows');
    // The first echo request, the second and its reply (which came in on B's side) each called and returned.
    assert.match(await lab.ok(['R', 'ipfw', 'show', '1100']), /^01100 +3 +252 return ip from any to any$/m);
  });

  test('set disable / enable: the rules of a disabled set are skipped; set show lists it', async () => {
    await ipfw('-f', 'flush');
    await ipfw('add', '100', 'set', '5', 'deny', 'icmp', 'from', 'any', 'to', 'any');
    await ipfw('add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any');
    assert.equal(pingOk(), false);
    await lab.ok(['R', 'ipfw', 'set', 'disable', '5']);
    assert.match(await lab.ok(['R', 'ipfw', 'set', 'show']), /^disable 5 enable 0 1 2 3 4 6 /);
    assert.equal(pingOk(), true);
    assert.doesNotMatch(await lab.ok(['R', 'ipfw', 'list']), /^00100/m);
    assert.match(await lab.ok(['R', 'ipfw', '-S', 'list']), /^# DISABLED 00100 set 5 deny icmp from any to any$/m);
    await lab.ok(['R', 'ipfw', 'set', 'enable', '5']);
    assert.equal(pingOk(), false);
    await lab.ok(['R', 'ipfw', 'delete', 'set', '5']);
    assert.equal(pingOk(), true);
  });
});
