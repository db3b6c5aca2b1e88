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

async function routed(): Promise<{ n: TestNet; c: Image; ca: string; sh: (im: Image, argv: string[]) => Promise<void> }> {
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
  return { n, c, ca: ca.name, sh };
}

test('traceroute6 sends UDP probes by default (ports 33435 up, pid as the source port): time exceeded from the router, port unreachable from the target ends it; FreeBSD\'s banner and layout', async () => {
  const { n, c } = await routed();
  // Watch the probes arrive at C: UDP to 33434 + seq, hop limit 1 left after the router.
  const seen: Array<[number, number]> = [];
  const orig = c.protosw.ip6[17]!;
  c.protosw.ip6[17] = {
    ...orig,
    input: (vn, ifp, buf, off, hoff, len, meta, mcast) => {
      seen.push([(buf[hoff]! << 8) | buf[hoff + 1]!, (buf[hoff + 2]! << 8) | buf[hoff + 3]!]);
      orig.input(vn, ifp, buf, off, hoff, len, meta, mcast);
    },
  };
  const r = await run(n, n.b, ['traceroute6', '-w', '1', '2001:db8:2::2']);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.err, 'traceroute6 to 2001:db8:2::2 (2001:db8:2::2) from 2001:db8:1::2, 64 hops max, 28 byte packets\n');
  assert.match(r.out, /^ 1  2001:db8:1::1  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n 2  2001:db8:2::2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n$/);
  assert.deepEqual(seen, [
    [0x3412, 33438],
    [0x3412, 33439],
    [0x3412, 33440],
  ]);
  assert.equal(c.udpstat.noport, 3);
  // -p moves the base port; the raw sockets are closed afterwards.
  seen.length = 0;
  const p = await run(n, n.b, ['traceroute6', '-p', '40000', '-q', '1', '-f', '2', '-w', '1', '2001:db8:2::2']);
  assert.equal(p.out, `Skipping 1 intermediate hops\n${p.out.split('\n')[1]}\n`);
  assert.match(p.out, /\n 2  2001:db8:2::2  \d+\.\d{3} ms\n$/);
  assert.deepEqual(seen, [[0x3412, 40001]]);
  assert.equal(n.b.rip6.pcbs.length, 0);
});

test('traceroute6 -I probes with echo requests; the echo reply ends it; -N sends no-next-header probes that the target refuses with !H', async () => {
  const { n } = await routed();
  const r = await run(n, n.b, ['traceroute6', '-I', '-w', '1', '2001:db8:2::2']);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.err, 'traceroute6 to 2001:db8:2::2 (2001:db8:2::2) from 2001:db8:1::2, 64 hops max, 20 byte packets\n');
  assert.match(r.out, /^ 1  2001:db8:1::1  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n 2  2001:db8:2::2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms\n$/);
  // A No Next Header packet is taken by the target and dropped silently (RFC 8200 4.7): stars after the router.
  const none = await run(n, n.b, ['traceroute6', '-N', '-q', '1', '-m', '3', '-w', '1', '2001:db8:2::2']);
  assert.equal(none.err, 'traceroute6 to 2001:db8:2::2 (2001:db8:2::2) from 2001:db8:1::2, 3 hops max, 0 byte packets\n');
  assert.match(none.out, /^ 1  2001:db8:1::1  \d+\.\d{3} ms\n 2  \*\n 3  \*\n$/);
});

test('traceroute6: !N from a router without a route ends at half the probes; stars when nothing answers; FreeBSD\'s errors', async () => {
  const { n, c, ca } = await routed();
  const s = await run(n, n.b, ['traceroute6', '-m', '5', '-q', '1', '-w', '1', '-f', '2', '2001:db8:3::9']);
  assert.match(s.out, /^Skipping 1 intermediate hops\n 2  2001:db8:1::1  \d+\.\d{3} ms !N\n$/);
  await run(n, c, ['ifconfig', ca, 'down']);
  const t = await run(n, n.b, ['traceroute6', '-m', '3', '-f', '2', '-q', '2', '-w', '1', '2001:db8:2::2']);
  assert.equal(t.out, 'Skipping 1 intermediate hops\n 2  * *\n 3  * *\n');
  const bad = await run(n, n.b, ['traceroute6', '-m', '0', '2001:db8:2::2']);
  assert.deepEqual([bad.status, bad.err], [1, 'traceroute6: max hoplimit must be larger than first hoplimit.\n']);
  const q = await run(n, n.b, ['traceroute6', '-q', '0', '2001:db8:2::2']);
  assert.deepEqual([q.status, q.err], [1, 'traceroute6: nprobes must be >0.\n']);
  const src = await run(n, n.b, ['traceroute6', '-s', '2001:db8:9::1', '2001:db8:2::2']);
  assert.deepEqual([src.status, src.err], [1, "bind: Can't assign requested address\n"]);
});
