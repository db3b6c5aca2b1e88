import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image, Registry } from '../../lib/image.js';
import { send, testbed } from '../../lib/testing/testbed.js';
import type { CommandContext } from '../command.js';
import { commands } from './ipfw.js';
import { commandHandles } from '../../lib/control/index.js';

async function run(reg: Registry, im: Image, line: string, json = false): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CommandContext = {
    argv: line.split(' '),
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json,
    pid: 1,
  };
  const status = await commands.ipfw!(ctx);
  return { status, out, err };
}

test('ipfw nat N config prints the configuration back; show config lists every instance', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw nat 1 config if epair1a log same_ports redirect_port tcp 10.1.0.2:80 8080'), {
    status: 0,
    out: 'ipfw nat 1 config if epair1a log same_ports redirect_port tcp 10.1.0.2:80 8080\n',
    err: '',
  });
  assert.equal((await run(reg, r, 'ipfw -q nat 2 config ip 10.2.0.1 deny_in')).out, '');
  assert.equal((await run(reg, r, 'ipfw nat 1 show config')).out, 'ipfw nat 1 config if epair1a log same_ports redirect_port tcp 10.1.0.2:80 8080\n');
  assert.equal((await run(reg, r, 'ipfw nat show config')).out, 'ipfw nat 1 config if epair1a log same_ports redirect_port tcp 10.1.0.2:80 8080\nipfw nat 2 config ip 10.2.0.1 deny_in\n');
  const j = JSON.parse((await run(reg, r, 'ipfw nat show config', true)).out) as Array<{ id: number; text: string }>;
  assert.deepEqual(j.map((x) => x.id), [1, 2]);
});

test('ipfw nat show prints libalias\'s counts for instances with log; --json has the links', async () => {
  const { reg, r, a } = testbed();
  await run(reg, r, 'ipfw -q nat 1 config if epair1a log');
  await run(reg, r, 'ipfw -q nat 2 config if epair1a');
  await run(reg, r, 'ipfw -q add 100 nat 1 ip from any to any via epair1a');
  await run(reg, r, 'ipfw -q add 200 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  send(reg, a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 9 });
  send(reg, a, { proto: 1, dst: '10.2.0.2', icmpType: 8, size: 8 });
  assert.equal((await run(reg, r, 'ipfw nat show')).out, 'nat 1: icmp=1, udp=1, tcp=0, sctp=0, pptp=0, proto=0, frag_id=0 frag_ptr=0 / tot=2\n');
  assert.equal((await run(reg, r, 'ipfw nat 2 show')).out, '');
  const [info] = JSON.parse((await run(reg, r, 'ipfw nat 1 show', true)).out) as Array<{ aliasAddress: string; table: Array<{ local: string; alias: string; proto: number }> }>;
  assert.equal(info!.aliasAddress, '10.2.0.1');
  assert.deepEqual(info!.table.map((l) => [l.proto, l.local, l.alias]).sort(), [[1, '10.1.0.2', '10.2.0.1'], [17, '10.1.0.2', '10.2.0.1']]);
  assert.equal((await run(reg, r, 'ipfw list 100')).out, '00100 nat 1 ip from any to any via epair1a\n');
});

test('ipfw nat errors: bad options, missing instance on delete, nat tablearg', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw nat 1 config if epair1a frob'), { status: 65, out: '', err: "ipfw: unrecognised option ``frob''\n" });
  assert.deepEqual(await run(reg, r, 'ipfw nat 0 config if epair1a'), { status: 65, out: '', err: 'ipfw: illegal nat id: 0\n' });
  assert.deepEqual(await run(reg, r, 'ipfw nat 4 config if tap9'), { status: 1, out: '', err: 'ipfw: unknown interface name tap9\n' });
  assert.deepEqual(await run(reg, r, 'ipfw nat 3 delete'), { status: 65, out: '', err: 'ipfw: NAT 3 not found\n' });
  await run(reg, r, 'ipfw -q nat 3 config ip 10.2.0.1');
  assert.equal((await run(reg, r, 'ipfw nat 3 delete')).status, 0);
  assert.equal((await run(reg, r, 'ipfw nat show config')).out, '');
  const t = await run(reg, r, 'ipfw add nat tablearg ip from any to any');
  assert.equal(t.status, 65);
  assert.match(t.err, /nat tablearg is not supported in vimage/);
});
