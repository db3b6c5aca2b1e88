import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image, Registry } from '../../lib/image.js';
import { testbed } from '../../lib/testing/testbed.js';
import { commands } from './ipfw.js';
import { runOnce } from './tools_harness.js';

function run(reg: Registry, im: Image, line: string): Promise<{ status: number; out: string; err: string }> {
  return runOnce(reg, im, commands.ipfw!, line.split(' '));
}

const ALL = Array.from({ length: 31 }, (_, i) => i);

test('ipfw set show, disable, enable, move, swap; disabled sets hidden from show unless -S', async () => {
  const { reg, r } = testbed();
  await run(reg, r, 'ipfw -q add 100 set 1 deny ip from any to any tagged 4');
  await run(reg, r, 'ipfw -q add 200 set 2 call 1000 ip from any to any');
  assert.equal((await run(reg, r, 'ipfw set show')).out, `enable ${ALL.join(' ')}\n`);
  assert.deepEqual(await run(reg, r, 'ipfw set disable 1 enable 2'), { status: 0, out: '', err: '' });
  assert.equal((await run(reg, r, 'ipfw set show')).out, `disable 1 enable ${ALL.filter((i) => i !== 1).join(' ')}\n`);
  assert.equal((await run(reg, r, 'ipfw list')).out, '00200 call 1000 ip from any to any\n65535 deny ip from any to any\n');
  assert.equal(
    (await run(reg, r, 'ipfw -S list')).out,
    '# DISABLED 00100 set 1 deny ip from any to any tagged 4\n00200 set 2 call 1000 ip from any to any\n65535 set 31 deny ip from any to any\n',
  );
  assert.equal((await run(reg, r, 'ipfw set 2 list')).out, '00200 call 1000 ip from any to any\n');
  await run(reg, r, 'ipfw set swap 1 2');
  assert.equal((await run(reg, r, 'ipfw list')).out, '00100 deny ip from any to any tagged 4\n65535 deny ip from any to any\n');
  await run(reg, r, 'ipfw set move 2 to 7');
  await run(reg, r, 'ipfw set move rule 100 to 8');
  assert.equal((await run(reg, r, 'ipfw -S list')).out.split('\n').slice(0, 2).join('\n'), '00100 set 8 deny ip from any to any tagged 4\n# DISABLED 00200 set 1 call 1000 ip from any to any');
  assert.deepEqual(await run(reg, r, 'ipfw set enable 3 disable 3'), { status: 65, out: '', err: 'ipfw: cannot enable and disable the same set\n\n' });
  assert.equal((await run(reg, r, 'ipfw set bogus')).status, 64);
  assert.equal((await run(reg, r, 'ipfw set swap 1')).status, 64);
  assert.deepEqual(await run(reg, r, 'ipfw set disable 32'), { status: 65, out: '', err: 'ipfw: invalid set number 32\n\n' });
  await run(reg, r, 'ipfw delete set 8');
  await run(reg, r, 'ipfw set 1 delete');
  assert.equal((await run(reg, r, 'ipfw -S list')).out, '65535 set 31 deny ip from any to any\n');
  // Set 31 rules stay through flush.
  await run(reg, r, 'ipfw -q add 300 set 31 allow ip from any to any');
  await run(reg, r, 'ipfw -q add 400 allow ip from any to any');
  await run(reg, r, 'ipfw -q -f flush');
  assert.equal((await run(reg, r, 'ipfw list')).out, '00300 allow ip from any to any\n65535 deny ip from any to any\n');
});
