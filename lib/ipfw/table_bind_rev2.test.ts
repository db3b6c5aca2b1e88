import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VimageError } from '../errors.js';
import { testbed } from '../testing/testbed.js';
import { parseRule } from './parse.js';

test('a rule refused because tables_max leaves no room for its second table holds no reference and leaves no table behind', () => {
  const { r } = testbed();
  r.sysctl.set('net.inet.ip.fw.tables_max', '1');
  assert.throws(() => r.fw.add(parseRule('100 deny ip from table(a) to table(b)'.split(' '))), (e: unknown) => e instanceof VimageError);
  assert.equal(r.fw.rules.length, 1);
  const t = r.fw.tables;
  // Nothing refers to `a`: it can go (or was never left behind).
  if (t.has('a')) {
    assert.equal(t.info('a').references, 0);
    t.destroy('a');
  }
  assert.equal(t.has('a'), false);
});
