import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image, Registry } from '../../lib/image.js';
import { send, testbed } from '../../lib/testing/testbed.js';
import type { CommandContext } from '../command.js';
import { commands } from './ipfw.js';
import { commandHandles } from '../../lib/control/index.js';

interface Result {
  status: number;
  out: string;
  err: string;
}

async function run(reg: Registry, im: Image, line: string, opts: { stdin?: string; json?: boolean } = {}): Promise<Result> {
  let out = '';
  let err = '';
  const input = opts.stdin;
  const ctx: CommandContext = {
    argv: line.split(' '),
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: {
      async *[Symbol.asyncIterator]() {
        if (input !== undefined) yield new TextEncoder().encode(input);
      },
    },
    signal: new AbortController().signal,
    json: opts.json ?? false,
    pid: 1,
  };
  const status = await commands.ipfw!(ctx);
  return { status, out, err };
}

test('ipfw add echoes the rule, numbered by autoinc_step; list and show print as FreeBSD', async () => {
  const { reg, r, a } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw add allow icmp from any to any'), { status: 0, out: '00100 allow icmp from any to any\n', err: '' });
  assert.equal((await run(reg, r, 'ipfw -q add 150 deny udp from any to any 53')).out, '');
  r.sysctl.set('net.inet.ip.fw.autoinc_step', '10');
  assert.equal((await run(reg, r, 'ipfw add count ip from any to any')).out, '00160 count ip from any to any\n');
  assert.equal(
    (await run(reg, r, 'ipfw list')).out,
    '00100 allow icmp from any to any\n00150 deny udp from any to any 53\n00160 count ip from any to any\n65535 deny ip from any to any\n',
  );
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  for (let k = 0; k < 12; k++) send(reg, a, { proto: 1, dst: '10.1.0.1', icmpType: 13, size: 12 });
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  // 12 echoes in; their replies out are also icmp: 24 packets of 40 bytes.
  assert.equal(
    (await run(reg, r, 'ipfw show')).out,
    '00100 24 960 allow icmp from any to any\n' + '00150  1  28 deny udp from any to any 53\n' + '00160  0   0 count ip from any to any\n' + '65535  0   0 deny ip from any to any\n',
  );
  assert.equal((await run(reg, r, 'ipfw -a list 150')).out, '00150  1  28 deny udp from any to any 53\n');
  assert.deepEqual(await run(reg, r, 'ipfw show 300'), { status: 69, out: '', err: 'ipfw: rule 300 does not exist\n' });
});

test('a bad rule prints FreeBSD\'s message and the rule with the wrong token marked; the chain is unchanged', async () => {
  const { reg, r } = testbed();
  const bad = await run(reg, r, 'ipfw add allow tcp from any to 10.0.0.300 80');
  assert.equal(bad.status, 68);
  assert.equal(bad.out, '');
  assert.equal(bad.err, "ipfw: hostname ``10.0.0.300'' unknown\n" + '  add allow tcp from any to 10.0.0.300 80\n' + '                            ^^^^^^^^^^\n');
  const missing = await run(reg, r, 'ipfw add allow tcp from any');
  assert.equal(missing.err, "ipfw: missing ``to''\n  add allow tcp from any\n                         ^\n");
  assert.equal(missing.status, 64);
  assert.equal(r.fw.rules.length, 1);
});

test('delete, zero and resetlog report as FreeBSD does', async () => {
  const { reg, r } = testbed();
  await run(reg, r, 'ipfw -q add 100 allow ip from any to any');
  await run(reg, r, 'ipfw -q add 200 allow ip from any to any');
  assert.deepEqual(await run(reg, r, 'ipfw zero'), { status: 0, out: 'Accounting cleared.\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw zero 100'), { status: 0, out: 'Entry 100 cleared.\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw zero 300'), { status: 69, out: 'Entry 300 not found\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw resetlog'), { status: 0, out: 'Logging counts reset.\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw delete 100'), { status: 0, out: '', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw delete 100'), { status: 69, out: '', err: 'ipfw: rule 100 not found\n' });
  assert.deepEqual(await run(reg, r, 'ipfw delete 65535'), { status: 69, out: '', err: 'ipfw: rule 65535: setsockopt(IP_FW_XDEL): Invalid argument\n' });
  assert.deepEqual(await run(reg, r, 'ipfw delete'), { status: 64, out: '', err: 'ipfw: missing rule specification\n' });
});

test('flush asks first; -f and -q do not', async () => {
  const { reg, r } = testbed();
  await run(reg, r, 'ipfw -q add 100 allow ip from any to any');
  assert.deepEqual(await run(reg, r, 'ipfw flush'), { status: 0, out: 'Are you sure? [yn] ', err: '' });
  assert.equal(r.fw.rules.length, 2, 'no answer: nothing flushed');
  assert.deepEqual(await run(reg, r, 'ipfw flush', { stdin: 'n\n' }), { status: 0, out: 'Are you sure? [yn] \n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw flush', { stdin: 'y\n' }), { status: 0, out: 'Are you sure? [yn] \nFlushed all rules.\n', err: '' });
  await run(reg, r, 'ipfw -q add 100 allow ip from any to any');
  assert.deepEqual(await run(reg, r, 'ipfw -f flush'), { status: 0, out: 'Flushed all rules.\n', err: '' });
  assert.equal(r.fw.rules.length, 1);
});

test('-d show lists dynamic states with counters and time left', async () => {
  const bed = testbed();
  const { reg, r, a } = bed;
  await run(reg, r, 'ipfw -q add 100 allow udp from any to any keep-state');
  // The link-local addresses finish DAD first: ipfw sees IPv6 too, and the solicitations would reach the default rule.
  bed.clock.advance(4000);
  reg.netisr.drain();
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  bed.b.sysctl.set('net.inet.udp.blackhole', '1');
  send(reg, a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 53 });
  bed.clock.advance(2000);
  const out = (await run(reg, r, 'ipfw -d show')).out;
  assert.equal(
    out,
    '00100 2 56 allow udp from any to any keep-state :default\n' +
      '65535 0  0 deny ip from any to any\n' +
      '## Dynamic rules (1 152):\n' +
      '00100 2 56 (8s) STATE udp 10.1.0.2 5000 <-> 10.2.0.2 53 :default\n',
  );
  assert.equal((await run(reg, r, 'ipfw -d list')).out.split('\n')[3], '00100 STATE udp 10.1.0.2 5000 <-> 10.2.0.2 53 :default');
  const json = JSON.parse((await run(reg, r, 'ipfw -d show', { json: true })).out) as { rules: unknown[]; dynamic: Array<{ expiresIn: number }> };
  assert.equal(json.rules.length, 2);
  assert.equal(json.dynamic[0]!.expiresIn, 8);
});

test('pipe and queue config, show, delete and flush', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw pipe 1 config bw 10Mbit/s delay 50'), { status: 0, out: '', err: '' });
  await run(reg, r, 'ipfw queue 5 config pipe 1 weight 3 mask dst-ip 0xffffffff');
  assert.equal(
    (await run(reg, r, 'ipfw pipe show')).out,
    '00001:  10.000 Mbit/s   50 ms burst 0\n' + 'q131073  50 sl. 0 flows (1 buckets) sched 65537 weight 0 lmax 0 pri 0 droptail\n' + ' sched 65537 type FIFO flags 0x0 0 buckets 0 active\n',
  );
  assert.equal(
    (await run(reg, r, 'ipfw queue show')).out,
    'q00005  50 sl. 0 flows (64 buckets) sched 1 weight 3 lmax 0 pri 0 droptail\n' + '    mask:  0x00 0x00000000/0x0000 -> 0xffffffff/0x0000\n',
  );
  // As FreeBSD's kernel does it (sbin/ipfw/dummynet.c, "pipe N config"): pipe 1 is link 1 with
  // scheduler 1 (WF2Q+, for queues attached to the pipe) and a FIFO scheduler 65537 with flowset
  // 131073 for packets sent to the pipe itself. pipe show lists the FIFO one, sched show scheduler 1.
  assert.equal(
    (await run(reg, r, 'ipfw sched show')).out,
    '00001:  10.000 Mbit/s   50 ms burst 0\n' + ' sched 1 type WF2Q+ flags 0x0 0 buckets 0 active\n' + '   Children flowsets: 5 \n',
  );
  const bad = await run(reg, r, 'ipfw pipe 2 config bw 10Mbit/s delay lots');
  assert.equal(bad.status, 65);
  assert.equal(bad.err, 'ipfw: delay needs argument 0..10000ms\n  pipe 2 config bw 10Mbit/s delay lots\n                                  ^^^^\n');
  assert.equal((await run(reg, r, 'ipfw queue 9 config weight 2')).status, 65);
  assert.deepEqual(await run(reg, r, 'ipfw pipe 1 delete'), { status: 0, out: '', err: '' });
  assert.equal((await run(reg, r, 'ipfw pipe 1 delete')).status, 1);
  assert.deepEqual(await run(reg, r, 'ipfw pipe flush'), { status: 0, out: 'Flushed all pipes.\n', err: '' });
  assert.equal((await run(reg, r, 'ipfw queue show')).out, '');
});

test('enable firewall sets net.inet.ip.fw.enable', async () => {
  const { reg, r } = testbed();
  await run(reg, r, 'ipfw enable firewall');
  assert.equal(r.fw.enabled, true);
  await run(reg, r, 'ipfw disable firewall');
  assert.equal(r.fw.enabled, false);
});
