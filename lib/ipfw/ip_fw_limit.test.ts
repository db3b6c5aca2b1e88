import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rules, send, settle, testbed } from '../testing/testbed.js';
import { findSysctl } from '../sysctl.js';

test('dyn_parent_count goes back to 0 when the limit rule is deleted or the chain flushed, not only when states expire', () => {
  const bed = testbed();
  const v = (n: string): number => bed.r.sysctl.get(findSysctl(n)!);
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  for (const drop of [(): void => void bed.r.fw.deleteRange(100, 100), (): void => bed.r.fw.flush()]) {
    rules(bed.r, '50 allow icmp from any to any', '100 allow tcp from any to any setup limit src-addr 5', '200 allow ip from any to any');
    for (const sport of [1001, 1002]) send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport, dport: 80, flags: 0x02 });
    send(bed.reg, bed.b, { proto: 6, dst: '10.1.0.2', sport: 2001, dport: 80, flags: 0x02 });
    settle(bed, 1100);
    assert.equal(v('net.inet.ip.fw.dyn_parent_count'), 2);
    drop();
    settle(bed, 3000);
    assert.equal(v('net.inet.ip.fw.dyn_count'), 0);
    assert.equal(v('net.inet.ip.fw.dyn_parent_count'), 0, 'no limit rule, no parents');
    bed.r.fw.flush();
  }
});
