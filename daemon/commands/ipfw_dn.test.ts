import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DnFlowInfo, DnSchedInfo, DummynetInfo } from '../../lib/control/index.js';
import { showPipes, showQueues, showScheds } from './ipfw_dn.js';

const flow = (o: Partial<DnFlowInfo>): DnFlowInfo => ({ bucket: 0, proto: 0, src: 0, sport: 0, dst: 0, dport: 0, totPkts: 0, totBytes: 0, pkts: 0, bytes: 0, drops: 0, ...o });
const sched = (o: Partial<DnSchedInfo>): DnSchedInfo => ({ nr: 1, type: 'WF2Q+', masked: false, buckets: 0, flows: [], active: 0, children: [], ...o });

// Layouts as FreeBSD 14's sbin/ipfw/dummynet.c prints them (list_pipes, print_flowset_parms, print_mask, the flow table).
const dn: DummynetInfo = {
  pipes: [
    {
      nr: 1,
      bandwidth: 1e6,
      delayMs: 0,
      flowset: { nr: 131073, queueSize: 5, queueBytes: false, plr: 0, schedNr: 65537, weight: 0, buckets: 1, flows: [] },
      fifo: sched({ nr: 65537, type: 'FIFO', active: 1, flows: [flow({ totPkts: 20, totBytes: 20000, pkts: 5, bytes: 5000, drops: 14 })] }),
      sched: sched({ nr: 1, children: [5] }),
    },
    {
      nr: 2,
      bandwidth: 0,
      delayMs: 50,
      flowset: { nr: 131074, queueSize: 16384, queueBytes: true, plr: 0.1, schedNr: 65538, weight: 0, buckets: 1, flows: [] },
      fifo: sched({
        nr: 65538,
        type: 'FIFO',
        masked: true,
        buckets: 64,
        active: 1,
        mask: { proto: 0, src: 0, sport: 0xffff, dst: 0, dport: 0 },
        flows: [flow({ bucket: 3, proto: 17, src: 0x0a010002, sport: 2000, dst: 0x0a020002, dport: 53, totPkts: 1, totBytes: 28 })],
      }),
      sched: sched({ nr: 2 }),
    },
  ],
  queues: [{ nr: 5, queueSize: 50, queueBytes: false, plr: 0, schedNr: 1, weight: 3, buckets: 64, mask: { proto: 0, src: 0, sport: 0, dst: 0xffffffff, dport: 0 }, flows: [] }],
  timer: { fires: 0, lateSum: 0, lateMax: 0, coarseLate: 0 },
};

test('ipfw pipe show: each pipe, its own queue and FIFO scheduler, mask and flows', () => {
  assert.equal(
    showPipes(dn, undefined),
    '00001:   1.000 Mbit/s    0 ms burst 0\n' +
      'q131073   5 sl. 0 flows (1 buckets) sched 65537 weight 0 lmax 0 pri 0 droptail\n' +
      ' sched 65537 type FIFO flags 0x0 0 buckets 1 active\n' +
      'BKT Prot ___Source IP/port____ ____Dest. IP/port____ Tot_pkt/bytes Pkt/Byte Drp\n' +
      '  0 ip           0.0.0.0/0             0.0.0.0/0       20    20000  5 5000  14\n' +
      '00002: unlimited        50 ms burst 0\n' +
      'q131074 16 KBplr 0.100000 0 flows (1 buckets) sched 65538 weight 0 lmax 0 pri 0 droptail\n' +
      ' sched 65538 type FIFO flags 0x1 64 buckets 1 active\n' +
      '    mask:  0x00 0x00000000/0xffff -> 0x00000000/0x0000\n' +
      '  3 udp         10.1.0.2/2000         10.2.0.2/53       1       28  0    0   0\n',
  );
  assert.equal(showPipes(dn, (n) => n === 2).split('\n')[0], '00002: unlimited        50 ms burst 0');
  assert.equal(showPipes(dn, (n) => n === 9), '');
});

test('ipfw sched show and queue show', () => {
  assert.equal(
    showScheds(dn, (n) => n === 1),
    '00001:   1.000 Mbit/s    0 ms burst 0\n' + ' sched 1 type WF2Q+ flags 0x0 0 buckets 0 active\n' + '   Children flowsets: 5 \n',
  );
  assert.equal(showQueues(dn, undefined), 'q00005  50 sl. 0 flows (64 buckets) sched 1 weight 3 lmax 0 pri 0 droptail\n' + '    mask:  0x00 0x00000000/0x0000 -> 0xffffffff/0x0000\n');
});
