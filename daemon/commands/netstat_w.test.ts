import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../../lib/platform.js';
import { silentLogger } from '../../lib/log.js';
import { Registry, type Image } from '../../lib/image.js';
import { commands } from './netstat.js';
import { commands as ifcommands } from './ifconfig.js';
import { run, settle, start, type Env } from './tools_harness.js';
import { sidewaysBanner, sidewaysLine } from './netstat_w.js';

function setup(): { env: Env; p: ManualPlatform; a: Image; b: Image } {
  const p = new ManualPlatform();
  const reg = new Registry({ platform: p, log: silentLogger });
  const env: Env = { reg, clock: p.clock };
  return { env, p, a: reg.create('A'), b: reg.create('B') };
}

/** Let IPv6 duplicate address detection and router solicitations on the new links finish. */
async function quiet(env: Env): Promise<void> {
  for (let i = 0; i < 40; i++) {
    env.clock.advance(1000);
    await settle(env);
  }
}

/** n frames of 100 bytes from A's epair0a to B (counted as output on epair0a, input on epair0b). */
function send(a: Image, n: number): void {
  const ifp = a.ifnets.get('epair0a')!;
  const f = new Uint8Array(164);
  f.fill(0xff, 64, 70);
  for (let i = 0; i < n; i++) ifp.output(f, 64, 100, a.noOffload);
}

test('the banner and a line are FreeBSD 14 sidewaysintpr\'s columns', () => {
  assert.equal(
    sidewaysBanner(undefined, false),
    '            input        (Total)           output\n   packets  errs idrops      bytes    packets  errs      bytes colls\n',
  );
  assert.equal(
    sidewaysBanner('epair0a', true),
    '            input        epair0a           output\n   packets  errs idrops      bytes    packets  errs      bytes colls drops\n',
  );
  const d = { ipackets: 12, ierrors: 0, iqdrops: 1, ibytes: 1200, opackets: 3, oerrors: 0, obytes: 300, collisions: 0, oqdrops: 7 };
  assert.equal(sidewaysLine(d, false), '        12     0     1       1200          3     0        300     0\n');
  assert.equal(sidewaysLine(d, true), '        12     0     1       1200          3     0        300     0     7\n');
});

test('netstat -w 1 -I IF -q 3: three lines of the traffic in each second, then it exits', async () => {
  const { env, a, b } = setup();
  await run(env, a, ifcommands['ifconfig']!, ['ifconfig', 'epair', 'create']);
  a.registry.move(a, a.ifnets.get('epair0b')!, b);
  await run(env, a, ifcommands['ifconfig']!, ['ifconfig', 'epair0a', 'up']);
  await run(env, b, ifcommands['ifconfig']!, ['ifconfig', 'epair0b', 'up']);
  await quiet(env);
  send(a, 5); // before the start: not in any line
  await settle(env);
  const r = start(env, a, commands['netstat']!, ['netstat', '-w', '1', '-I', 'epair0a', '-q', '3']);
  await settle(env);
  send(a, 10);
  env.clock.advance(1000);
  await settle(env);
  env.clock.advance(1000); // a quiet second
  await settle(env);
  send(a, 2);
  assert.equal(r.status, undefined, 'still running after two lines');
  env.clock.advance(1000);
  await settle(env);
  await r.done;
  assert.equal(r.status, 0);
  assert.equal(
    r.out.join(''),
    sidewaysBanner('epair0a', false) +
      '         0     0     0          0         10     0       1000     0\n' +
      '         0     0     0          0          0     0          0     0\n' +
      '         0     0     0          0          2     0        200     0\n',
  );
});

test('netstat -w without -I sums every interface; the banner comes again after 21 lines; Ctrl-C stops it', async () => {
  const { env, a, b } = setup();
  await run(env, a, ifcommands['ifconfig']!, ['ifconfig', 'epair', 'create']);
  await run(env, a, ifcommands['ifconfig']!, ['ifconfig', 'epair0a', 'up']);
  await run(env, a, ifcommands['ifconfig']!, ['ifconfig', 'epair0b', 'up']);
  void b;
  await quiet(env);
  const r = start(env, a, commands['netstat']!, ['netstat', '-w', '2', '-d']);
  await settle(env);
  send(a, 4); // out on epair0a, in on epair0b: both in the total
  await settle(env);
  env.clock.advance(2000);
  await settle(env);
  for (let i = 0; i < 21; i++) {
    env.clock.advance(2000);
    await settle(env);
  }
  r.abort.abort('SIGINT');
  await r.done;
  const lines = r.out.join('').split('\n');
  assert.equal(lines[2], '         4     0     0        400          4     0        400     0     0');
  assert.equal(lines[0], '            input        (Total)           output');
  assert.equal(lines[23], '            input        (Total)           output', 'banner after 21 lines');
  assert.equal(lines.length, 2 + 21 + 2 + 1 + 1);
});

test('netstat -w: bad interval, unknown interface, --json lines', async () => {
  const { env, a } = setup();
  const bad = await run(env, a, commands['netstat']!, ['netstat', '-w', '0']);
  assert.equal(bad.status, 64);
  assert.match(bad.stderr, /-w 0/);
  const nf = await run(env, a, commands['netstat']!, ['netstat', '-w', '1', '-I', 'nosuch0']);
  assert.equal(nf.status, 65);
  assert.equal(nf.stderr, 'netstat: interface nosuch0 not found\n');
  const q = await run(env, a, commands['netstat']!, ['netstat', '-q', '2']);
  assert.equal(q.status, 64);
  const j = await run(env, a, commands['netstat']!, ['netstat', '-w', '1', '-c', '2'], { json: true });
  assert.equal(j.status, 0);
  const docs = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(docs.length, 2);
  assert.equal(docs[0].interface, '(Total)');
  assert.equal(typeof docs[0].ipackets, 'number');
});
