import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import { inAddAddress } from '../../lib/netinet/in.js';
import { commandHandles } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';
import { commands } from './route.js';
import { commands as netstatCommands } from './netstat.js';
import { commands as ifconfigCommands } from './ifconfig.js';
import { ctime } from './route_monitor.js';
import { RTF, RTM } from '../../lib/control/index.js';

const noInput: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

function ctx(reg: Registry, im: Image, line: string, signal = new AbortController().signal): { ctx: CommandContext; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const c: CommandContext = {
    argv: line.split(' '),
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: noInput,
    signal,
    json: false,
    pid: 1,
  };
  return { ctx: c, out: () => out, err: () => err };
}

async function run(reg: Registry, im: Image, line: string): Promise<string> {
  const c = ctx(reg, im, line);
  const cmd = commands[line.split(' ')[0]!] ?? netstatCommands[line.split(' ')[0]!] ?? ifconfigCommands[line.split(' ')[0]!]!;
  const st = await cmd(c.ctx);
  assert.equal(c.err(), '', line);
  assert.equal(st, 0, line);
  return c.out();
}

function lab(): { reg: Registry; im: Image } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const im = reg.create('R');
  const [a] = reg.createEpair(im);
  im.setUp(a, true);
  inAddAddress(im, a, 0x0a010001, 24, { alias: false });
  return { reg, im };
}

test('ctime prints as ctime(3) does', () => {
  const d = new Date(2026, 11, 4, 18, 49, 7);
  assert.equal(ctime(d.getTime()), 'Fri Dec  4 18:49:07 2026\n');
});

test('route monitor prints each routing message as FreeBSD route(8) does, until Ctrl-C', async () => {
  const { reg, im } = lab();
  const ac = new AbortController();
  const m = ctx(reg, im, 'route -n monitor', ac.signal);
  const done = commands['route']!(m.ctx);
  await run(reg, im, 'route add -net 10.2.0.0/24 10.1.0.2');
  await run(reg, im, 'route add -net 10.2.0.0/24 10.1.0.3');
  await run(reg, im, 'route delete -net 10.2.0.0/24 10.1.0.2');
  await run(reg, im, 'route add -host 10.7.7.7 10.1.0.2');
  ac.abort();
  assert.equal(await done, 0);
  const when = m.out().match(/got message of size 200 on (.*\n)/)![1]!;
  assert.match(when, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n$/);
  assert.equal(
    m.out(),
    `\ngot message of size 200 on ${when}` +
      'RTM_ADD: Add Route: len 200, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\n' +
      'locks:  inits: \n' +
      'sockaddrs: <DST,GATEWAY,NETMASK>\n' +
      ' 10.2.0.0 10.1.0.2 255.255.255.0\n' +
      `\ngot message of size 200 on ${when}` +
      'RTM_ADD: Add Route: len 200, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\n' +
      'locks:  inits: \n' +
      'sockaddrs: <DST,GATEWAY,NETMASK>\n' +
      ' 10.2.0.0 10.1.0.3 255.255.255.0\n' +
      `\ngot message of size 200 on ${when}` +
      'RTM_DELETE: Delete Route: len 200, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,DONE,STATIC>\n' +
      'locks:  inits: \n' +
      'sockaddrs: <DST,GATEWAY,NETMASK>\n' +
      ' 10.2.0.0 10.1.0.2 255.255.255.0\n' +
      `\ngot message of size 184 on ${when}` +
      'RTM_ADD: Add Route: len 184, pid: 0, seq 0, errno 0, flags:<UP,GATEWAY,HOST,DONE,STATIC>\n' +
      'locks:  inits: \n' +
      'sockaddrs: <DST,GATEWAY>\n' +
      ' 10.7.7.7 10.1.0.2\n',
  );
  // Nobody listens any more.
  assert.equal((im.routes as unknown as { watchers: unknown[] }).watchers.length, 0);
});

test('route flush deletes the gateway routes, one line each as flushroutes_fib prints them; -4 keeps IPv6 ones', async () => {
  const { reg, im } = lab();
  await run(reg, im, 'route add default 10.1.0.2');
  await run(reg, im, 'route add -net 10.2.0.0/16 10.1.0.3');
  await run(reg, im, 'route add -host 10.7.7.7 10.1.0.2');
  await run(reg, im, 'route add -net 10.2.0.0/16 10.1.0.4');
  assert.equal(
    await run(reg, im, 'route -n flush -4'),
    'default              10.1.0.2             -fib 0   done\n' +
      '10.2                 10.1.0.3             -fib 0   done\n' +
      '10.2                 10.1.0.4             -fib 0   done\n' +
      '10.7.7.7             10.1.0.2             -fib 0   done\n',
  );
  const table = await run(reg, im, 'netstat -rn -f inet');
  assert.doesNotMatch(table, /UG/);
  assert.match(table, /10\.1\.0\.0\/24/);
  assert.equal(await run(reg, im, 'route -q flush'), '');
});

test('netstat -rn lists each path of a multipath route, and route get one of them', async () => {
  const { reg, im } = lab();
  await run(reg, im, 'route add -net 10.2.0.0/16 10.1.0.3');
  await run(reg, im, 'route add -net 10.2.0.0/16 10.1.0.4');
  const table = await run(reg, im, 'netstat -rn -f inet');
  assert.match(table, /\n10\.2\.0\.0\/16        10\.1\.0\.3           UGS         epair0a\n10\.2\.0\.0\/16        10\.1\.0\.4           UGS         epair0a\n/);
  assert.match(await run(reg, im, 'route -n get 10.2.3.4'), /    gateway: 10\.1\.0\.3\n/);
  assert.equal(await run(reg, im, 'route delete -net 10.2.0.0/16 10.1.0.3'), 'delete net 10.2.0.0/16: gateway 10.1.0.3\n');
  assert.match(await run(reg, im, 'route -n get 10.2.3.4'), /    gateway: 10\.1\.0\.4\n/);
});

test('netstat -rn and route get show a dynamic (redirect) route with flag D and the seconds it has left', async () => {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('H');
  const [a] = reg.createEpair(im);
  im.setUp(a, true);
  inAddAddress(im, a, 0x0a010005, 24, { alias: false });
  im.routes.add({ dst: 0x0a630101, prefixLen: 32, gateway: 0x0a010002, ifp: a, flags: RTF.GATEWAY | RTF.HOST | RTF.DYNAMIC, mtu: 0, expire: 600_000 }, false, RTM.REDIRECT, 0x0a010001);
  platform.clock.advance(10_000);
  assert.match(await run(reg, im, 'netstat -rn -f inet'), /\n10\.99\.1\.1          10\.1\.0\.2           UGHD        epair0a    590\n/);
  const got = await run(reg, im, 'route -n get 10.99.1.1');
  assert.match(got, /flags: <UP,GATEWAY,HOST,DYNAMIC,DONE>\n/);
  assert.match(got, /\n       0         0         0         0      1500         1       590 \n$/);
});

test('route flush -6 deletes only the IPv6 gateway routes, -4 only the IPv4 ones; route add -inet6 reaches route -6', async () => {
  const { reg, im } = lab();
  await run(reg, im, 'ifconfig epair0a inet6 2001:db8::1/64');
  await run(reg, im, 'route add -inet6 -net 2001:db8:5::/48 2001:db8::2');
  await run(reg, im, 'route add -net 10.2.0.0/16 10.1.0.3');
  assert.equal(await run(reg, im, 'route -n flush -6'), '2001:db8:5::         2001:db8::2          -fib 0   done\n');
  assert.match(await run(reg, im, 'netstat -rn -f inet'), /10\.2\.0\.0\/16/);
  assert.doesNotMatch(await run(reg, im, 'netstat -rn -f inet6'), /2001:db8:5::/);
  await run(reg, im, 'route -6 add -net 2001:db8:6::/48 2001:db8::2');
  assert.equal(await run(reg, im, 'route -4 -n flush'), '10.2                 10.1.0.3             -fib 0   done\n');
  assert.match(await run(reg, im, 'netstat -rn -f inet6'), /2001:db8:6::\/48/);
});
