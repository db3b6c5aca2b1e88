import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image, Registry } from '../../lib/image.js';
import { testbed } from '../../lib/testing/testbed.js';
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

test('ipfw table: create, add, list, info, lookup, delete print as FreeBSD 14', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw table bad create type addr'), { status: 0, out: '', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw table bad add 10.0.0.0/8 5 192.0.2.1'), { status: 0, out: 'added: 10.0.0.0/8 5\nadded: 192.0.2.1/32 0\n', err: '' });
  assert.equal((await run(reg, r, 'ipfw table bad list')).out, '--- table(bad), set(0) ---\n10.0.0.0/8 5\n192.0.2.1/32 0\n');
  assert.equal(
    (await run(reg, r, 'ipfw table bad info')).out,
    '--- table(bad), set(0) ---\n kindex: 1, type: addr\n references: 0, valtype: legacy\n algorithm: addr:radix\n items: 2, size: 552\n',
  );
  assert.deepEqual(await run(reg, r, 'ipfw table bad lookup 10.9.9.9'), { status: 0, out: '10.0.0.0/8 5\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw table bad lookup 11.0.0.1'), { status: 69, out: '', err: 'ipfw: Entry 11.0.0.1 not found\n' });
  // A duplicate: every entry's result, then the error.
  assert.deepEqual(await run(reg, r, 'ipfw table bad add 10.0.0.0/8 6'), { status: 71, out: 'exists: 10.0.0.0/8 6\n', err: 'ipfw: Adding record failed: record already exists\n' });
  // -q updates quietly.
  assert.deepEqual(await run(reg, r, 'ipfw -q table bad add 10.0.0.0/8 6'), { status: 0, out: '', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw table bad delete 10.0.0.0/8'), { status: 0, out: 'deleted: 10.0.0.0/8 6\n', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw table bad delete 10.0.0.0/8'), { status: 71, out: 'notfound: 10.0.0.0/8 0\n', err: 'ipfw: Deleting record failed: record not found\n' });
  const j = JSON.parse((await run(reg, r, 'ipfw table bad list', true)).out) as { entries: unknown[] };
  assert.deepEqual(j.entries, [{ key: '192.0.2.1/32', value: '0' }]);
  assert.equal((JSON.parse((await run(reg, r, 'ipfw table all info', true)).out) as unknown[]).length, 1);
});

test('ipfw table: errors, swap, lock, destroy, all, and auto-creation', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'ipfw table t create'), { status: 0, out: '', err: '' });
  assert.deepEqual(await run(reg, r, 'ipfw table t create'), { status: 71, out: '', err: 'ipfw: Table creation failed: File exists\n' });
  assert.equal((await run(reg, r, 'ipfw table t create missing')).status, 0);
  assert.deepEqual(await run(reg, r, 'ipfw table t create type bogus'), { status: 64, out: '', err: 'ipfw: Unknown tabletype: bogus. Supported: addr, mac, iface, number, flow\n' });
  assert.deepEqual(await run(reg, r, 'ipfw table t create colour red'), { status: 64, out: '', err: 'ipfw: invalid option colour\n' });
  assert.deepEqual(await run(reg, r, 'ipfw table nope info'), { status: 71, out: '', err: 'ipfw: failed to request table info: No such process\n' });
  assert.deepEqual(await run(reg, r, 'ipfw table nope delete 1.2.3.4'), { status: 65, out: '', err: 'ipfw: Table nope does not exist\n' });
  assert.deepEqual(await run(reg, r, 'ipfw table all add 1.2.3.4'), { status: 64, out: '', err: 'ipfw: table name required\n' });
  assert.deepEqual(await run(reg, r, 'ipfw table t add 1.2.3.4/40'), { status: 65, out: '', err: 'ipfw: bad IPv4 mask width: 40\n' });
  // Unique prefixes of table commands are accepted, as get_token does.
  assert.equal((await run(reg, r, 'ipfw table t ad 1.2.3.4')).out, 'added: 1.2.3.4/32 0\n');
  assert.deepEqual(await run(reg, r, 'ipfw table t l'), { status: 64, out: '', err: 'ipfw: ambiguous table command l\n' });
  // Auto-created on add (with FreeBSD's warning), typed from the key.
  const auto = await run(reg, r, 'ipfw table p add 80 1000');
  assert.equal(auto.err, 'ipfw: DEPRECATED: inserting data into non-existent table p. (auto-created)\n');
  assert.match((await run(reg, r, 'ipfw table p info')).out, /type: number/);
  assert.deepEqual(await run(reg, r, 'ipfw table t swap p'), { status: 64, out: '', err: 'ipfw: Unable to swap table: check types\n' });
  await run(reg, r, 'ipfw table u create');
  await run(reg, r, 'ipfw table u add 5.5.5.0/24 1');
  assert.equal((await run(reg, r, 'ipfw table t swap u')).status, 0);
  assert.equal((await run(reg, r, 'ipfw table t list')).out, '--- table(t), set(0) ---\n5.5.5.0/24 1\n');
  await run(reg, r, 'ipfw table t lock');
  assert.match((await run(reg, r, 'ipfw table t info')).out, /type: addr, locked/);
  assert.deepEqual(await run(reg, r, 'ipfw table t add 6.6.6.6'), { status: 71, out: '', err: 'ipfw: Adding record failed: table is locked\n' });
  await run(reg, r, 'ipfw table t unlock');
  // A table a rule uses cannot be destroyed.
  await run(reg, r, 'ipfw -q add 100 deny ip from table(t) to any');
  assert.deepEqual(await run(reg, r, 'ipfw table t destroy'), { status: 71, out: '', err: 'ipfw: failed to destroy table t: Device busy\n' });
  assert.match((await run(reg, r, 'ipfw table t info')).out, /references: 1/);
  assert.equal((await run(reg, r, 'ipfw table all list')).out.split('\n').filter((l) => l.startsWith('---')).length, 3);
  assert.equal((await run(reg, r, 'ipfw table all flush')).status, 0);
  assert.equal((await run(reg, r, 'ipfw table p list')).out, '--- table(p), set(0) ---\n');
  assert.equal((await run(reg, r, 'ipfw list')).out, '00100 deny ip from table(t) to any\n65535 deny ip from any to any\n');
});
