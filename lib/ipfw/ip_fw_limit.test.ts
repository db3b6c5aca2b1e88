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

test('flush with states scans the state table once, not once per rule (a long chain flushed stalls no daemon)', () => {
  const bed = testbed();
  const fw = bed.r.fw;
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const lines = ['50 allow icmp from any to any', '100 allow tcp from any to any setup keep-state'];
  for (let i = 0; i < 300; i++) lines.push(`${1000 + i} count udp from any to any ${i + 1}`);
  rules(bed.r, ...lines);
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 1001, dport: 80, flags: 0x02 });
  assert.equal(fw.dyn.count, 1);
  let scans = 0;
  const orig = fw.dyn.removeRule.bind(fw.dyn);
  fw.dyn.removeRule = (r) => {
    scans++;
    orig(r);
  };
  fw.flush();
  assert.equal(fw.dyn.count, 0);
  assert.equal(fw.rules.length, 1);
  assert.equal(scans, 1);
  // With a rule in set 31 kept, its state stays and the others' go.
  rules(bed.r, '50 allow icmp from any to any', '60 set 31 allow udp from any to any keep-state', '100 allow tcp from any to any setup keep-state');
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 1002, dport: 80, flags: 0x02 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 1003, dport: 53 });
  assert.equal(fw.dyn.count, 2);
  fw.flush();
  assert.equal(fw.dyn.count, 1);
  assert.deepEqual(fw.rules.map((r) => r.num), [60, 65535]);
});
