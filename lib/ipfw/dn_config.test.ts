/** Save and restore of the scheduler types, AQMs, burst and profiles with the rest of the ipfw configuration. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDnConfig } from './parse.js';
import { dummynetInfo } from './dn_show.js';
import { restoreIpfwConfig, saveIpfwConfig } from './config.js';
import { testbed } from '../testing/testbed.js';

const LIM = { slots: 100, bytes: 1 << 20 };
const w = (s: string): string[] => s.split(' ');

test('sched types, fq_codel parameters, AQMs, burst and a profile survive save and restore as JSON', () => {
  const a = testbed();
  const dn = a.r.fw.dn;
  const pipe = parseDnConfig('pipe', w('bw 10Mbit/s delay 5 burst 2k queue 30 red 0.002/5/15/0.1'), LIM);
  pipe.profile = { name: 'x', samples: [1, 2, 3], lossLevel: 3 };
  dn.configPipe(1, pipe);
  dn.configSched(1, parseDnConfig('sched', w('type fq_codel target 7ms limit 100 ecn'), LIM));
  dn.configPipe(2, parseDnConfig('pipe', w('bw 1Mbit/s'), LIM));
  dn.configSched(2, parseDnConfig('sched', w('type rr'), LIM));
  dn.configQueue(3, parseDnConfig('queue', w('pipe 2 weight 4 lmax 1000 pri 2 pie tupdate 30ms'), LIM));
  dn.configQueue(4, parseDnConfig('queue', w('pipe 1 codel'), LIM));
  const saved = JSON.parse(JSON.stringify(saveIpfwConfig(a.r)));
  const b = testbed();
  restoreIpfwConfig(b.r, saved);
  const strip = (x: ReturnType<typeof dummynetInfo>): unknown => ({ ...x, timer: undefined });
  assert.deepEqual(strip(dummynetInfo(b.r.fw.dn)), strip(dummynetInfo(dn)));
  const info = dummynetInfo(b.r.fw.dn);
  assert.equal(info.pipes[0]!.sched.type, 'FQ_CODEL');
  assert.equal(info.pipes[0]!.sched.params!.codel!.target, 7000);
  assert.equal(info.pipes[1]!.sched.type, 'RR');
  assert.equal(info.pipes[0]!.burst, 2048);
  assert.deepEqual(b.r.fw.dn.pipes.get(1)!.profile, { name: 'x', samples: [1, 2, 3], lossLevel: 3 });
  assert.equal(info.queues[0]!.aqm!.kind, 'pie');
  assert.equal(info.queues[0]!.lmax, 1000);
  // A plain WF2Q+ pipe saves no type.
  const c = testbed();
  c.r.fw.dn.configPipe(5, parseDnConfig('pipe', w('bw 1Mbit/s'), LIM));
  assert.deepEqual(saveIpfwConfig(c.r)!.pipes[0], { nr: 5, bw: 1_000_000, delay: 0, plr: 0, qsize: 50, qbytes: false });
});
