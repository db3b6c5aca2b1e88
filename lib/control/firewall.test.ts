import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../platform.js';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { ImageControl, RuleSyntaxError } from './index.js';

function setup(): ImageControl {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const R = reg.create('R');
  return new ImageControl(R, reg);
}

test('firewall: rules are added, listed as plain data, zeroed and deleted', () => {
  const fw = setup().firewall;
  assert.deepEqual(fw.addRule(['allow', 'icmp', 'from', 'any', 'to', 'any']), { rule: 100, text: 'allow icmp from any to any' });
  assert.deepEqual(fw.addRule(['50', 'deny', 'udp', 'from', 'any', 'to', 'any', '53'], true), { rule: 50, text: 'deny udp from any to any 53' });
  assert.deepEqual(
    fw.rules().map((r) => [r.rule, r.text, r.packets, r.bytes]),
    [
      [100, 'allow icmp from any to any', 0, 0],
      [65535, 'deny ip from any to any', 0, 0],
    ],
    'a dry run adds nothing',
  );
  assert.equal(fw.zero(100), 1);
  assert.equal(fw.zero(7), 0);
  assert.equal(fw.deleteRules(1, 1000), 1);
  assert.equal(fw.rules().length, 1);
  assert.deepEqual(fw.states(), []);
});

test('firewall: words that do not parse throw RuleSyntaxError pointing at the token', () => {
  const fw = setup().firewall;
  assert.throws(
    () => fw.addRule(['allow', 'tcp', 'from', 'any', 'to', 'any', 'frobnicate']),
    (e: unknown) => e instanceof RuleSyntaxError && e.at === 6 && e.status === 64,
  );
  assert.throws(() => fw.parseDummynet('pipe', ['bw', 'fast']), RuleSyntaxError);
});

test('firewall: pipes and queues are configured, shown and deleted; switches set the sysctls', () => {
  const im = setup();
  const fw = im.firewall;
  fw.configPipe(1, fw.parseDummynet('pipe', ['bw', '10Mbit/s', 'delay', '20']));
  assert.equal(fw.hasQueue(5), false);
  fw.configQueue(5, fw.parseDummynet('queue', ['pipe', '1', 'weight', '3']));
  assert.equal(fw.hasQueue(5), true);
  const dn = fw.dummynet();
  assert.deepEqual(
    dn.pipes.map((p) => [p.nr, p.bandwidth, p.delayMs, p.sched.type, p.sched.children]),
    [[1, 10e6, 20, 'WF2Q+', [5]]],
  );
  assert.deepEqual(
    dn.queues.map((q) => [q.nr, q.queueSize, q.schedNr, q.weight]),
    [[5, 50, 1, 3]],
  );
  assert.equal(fw.deleteQueue(5), true);
  assert.equal(fw.deletePipe(2), false);
  fw.flushDummynet();
  assert.deepEqual(fw.dummynet().pipes, []);
  fw.setSwitch('firewall', true);
  assert.equal(im.sysctl.get('net.inet.ip.fw.enable')!.value, 1);
  fw.setSwitch('firewall', false);
  assert.equal(im.sysctl.get('net.inet.ip.fw.enable')!.value, 0);
});
