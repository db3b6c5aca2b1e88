import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandHandles } from '../../lib/control/index.js';
import type { Image } from '../../lib/image.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { Command, CommandContext } from '../command.js';
import { allCommands } from './index.js';

const cmds = allCommands();

async function run(n: TestNet, im: Image, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json: false,
    pid: 0x1234,
  };
  let status: number | undefined;
  void (cmds.get(argv[0]!) as Command)(ctx).then((s) => (status = s));
  for (let t = 0; status === undefined && t < 120_000; t += 100) await n.run(100, 100);
  assert.notEqual(status, undefined, `${argv.join(' ')} ended`);
  return { status: status!, out: out.join(''), err: err.join('') };
}

const eth = (im: Image, i = 0): string => [...im.ifnets.values()].filter((x) => !x.loopback)[i]!.name;

test('traceroute6 -I through a router: the router answers hop 1 with time exceeded, the target hop 2 with the echo reply; FreeBSD\'s layout', async () => {
  // B --epair-- A (router) --epair-- C
  const n = twoImages();
  const c = n.reg.create('C');
  const [ac, ca] = n.reg.createEpair(n.a);
  n.reg.move(n.a, ca, c);
  n.a.setUp(ac, true);
  c.setUp(ca, true);
  const sh = async (im: Image, argv: string[]): Promise<void> => assert.equal((await run(n, im, argv)).status, 0, argv.join(' '));
  await sh(n.a, ['sysctl', 'net.inet6.ip6.forwarding=1']);
  await sh(n.a, ['ifconfig', eth(n.a, 0), 'inet6', '2001:db8:1::1/64']);
  await sh(n.a, ['ifconfig', ac.name, 'inet6', '2001:db8:2::1/64']);
  await sh(n.b, ['ifconfig', eth(n.b), 'inet6', '2001:db8:1::2/64']);
  await sh(c, ['ifconfig', ca.name, 'inet6', '2001:db8:2::2/64']);
  await n.run(3000, 100);
  await sh(n.b, ['route', '-6', 'add', 'default', '2001:db8:1::1']);
  await sh(c, ['route', '-6', 'add', 'default', '2001:db8:2::1']);
  const r = await run(n, n.b, ['traceroute6', '-I', '-w', '1', '2001:db8:2::2']);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.err, 'traceroute6 to 2001:db8:2::2 (2001:db8:2::2) from 2001:db8:1::2, 64 hops max, 16 byte packets\n');
  assert.match(r.out, /^ 1  2001:db8:1::1  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n 2  2001:db8:2::2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n$/);
  // No route beyond the router: its unreachable (no route) is marked !N and ends the trace.
  const s = await run(n, n.b, ['traceroute6', '-m', '5', '-q', '1', '-w', '1', '-f', '2', '2001:db8:3::9']);
  assert.match(s.out, /^ 2  2001:db8:1::1  \d+\.\d{3} ms !N\n$/);
  // Nothing answers: stars, and -m bounds the hops.
  await sh(c, ['ifconfig', ca.name, 'down']);
  const t = await run(n, n.b, ['traceroute6', '-m', '3', '-f', '2', '-q', '2', '-w', '1', '2001:db8:2::2']);
  assert.equal(t.out, ' 2  * *\n 3  * *\n');
  const bad = await run(n, n.b, ['traceroute6', '-m', '0', '2001:db8:2::2']);
  assert.equal(bad.status, 64);
});
