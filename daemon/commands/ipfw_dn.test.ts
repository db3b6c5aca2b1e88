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

// ------------------------------------------------------------ dnctl and the new settings

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Image, Registry } from '../../lib/image.js';
import { testbed } from '../../lib/testing/testbed.js';
import { commandHandles } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';
import { commands as dnctlCommands } from './dnctl.js';
import { commands as ipfwCommands } from './ipfw.js';

async function run(reg: Registry, im: Image, line: string, json = false): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const argv = line.split(' ');
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, reg),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json,
    pid: 1,
  };
  const cmd = argv[0] === 'dnctl' ? dnctlCommands.dnctl! : ipfwCommands.ipfw!;
  return { status: await cmd(ctx), out, err };
}

test('dnctl: pipe, sched type fq_codel and a codel queue, listed as FreeBSD 14 prints them; ipfw sees the same objects', async () => {
  const { reg, r } = testbed();
  assert.equal((await run(reg, r, 'dnctl pipe 1 config bw 10Mbit/s delay 5 burst 3000')).status, 0);
  assert.equal((await run(reg, r, 'dnctl sched 1 config type fq_codel target 10ms quantum 1000 ecn')).status, 0);
  assert.equal((await run(reg, r, 'dnctl queue 3 config sched 1 weight 2 codel interval 50ms')).status, 0);
  assert.equal((await run(reg, r, 'dnctl queue 4 config sched 1 pie')).status, 0);
  assert.equal((await run(reg, r, 'dnctl queue 5 config sched 1 gred 0.002/5/15/0.1')).status, 0);
  assert.equal(
    (await run(reg, r, 'dnctl sched show')).out,
    '00001:  10.000 Mbit/s    5 ms burst 3000\n' +
      ' sched 1 type FQ_CODEL flags 0x0 0 buckets 0 active\n' +
      ' FQ_CODEL target 10ms interval 100ms quantum 1000 limit 10240 flows 1024 ECN\n' +
      '   Children flowsets: 3 4 5 \n',
  );
  assert.equal(
    (await run(reg, r, 'dnctl queue show')).out,
    'q00003  50 sl. 0 flows (1 buckets) sched 1 weight 2 lmax 0 pri 0  AQM CoDel target 5ms interval 50ms NoECN\n' +
      'q00004  50 sl. 0 flows (1 buckets) sched 1 weight 1 lmax 0 pri 0  AQM type PIE target 15ms tupdate 15ms alpha 0.125 beta 1.25 max_burst 150ms max_ecnth 0.1 NoECN CapDrop DRE Derand\n' +
      'q00005  50 sl. 0 flows (1 buckets) sched 1 weight 1 lmax 0 pri 0 \n' +
      '\t GRED w_q 0.001999 min_th 5 max_th 15 max_p 0.099991\n',
  );
  assert.equal((await run(reg, r, 'ipfw pipe 1 show')).out.split('\n')[0], '00001:  10.000 Mbit/s    5 ms burst 3000');
  assert.equal((await run(reg, r, 'dnctl sched 1 config type fq_pie')).status, 0);
  assert.equal(
    (await run(reg, r, 'dnctl sched 1 show')).out.split('\n')[2],
    '  FQ_PIE target 15ms tupdate 15ms alpha 0.125 beta 1.25 max_burst 150ms max_ecnth 0.1 quantum 1514 limit 10240 flows 1024 NoECN CapDrop DRE Derand',
  );
  const j = JSON.parse((await run(reg, r, 'dnctl sched show', true)).out);
  assert.equal(j.pipes[0].sched.type, 'FQ_PIE');
  assert.equal((await run(reg, r, 'dnctl queue 3 delete')).status, 0);
  assert.deepEqual(await run(reg, r, 'dnctl queue delete 3'), { status: 1, out: '', err: 'dnctl: rule 3: setsockopt(IP_DUMMYNET_DEL): No such file or directory\n' });
  assert.deepEqual(await run(reg, r, 'dnctl -q flush'), { status: 0, out: '', err: '' });
  assert.equal((await run(reg, r, 'dnctl pipe show')).out, '');
});

test('dnctl: errors as FreeBSD words them, the wrong word underlined; nothing changes', async () => {
  const { reg, r } = testbed();
  assert.deepEqual(await run(reg, r, 'dnctl sched 1 config type frob'), {
    status: 65,
    out: '',
    err: 'dnctl: unknown scheduler type frob: one of fifo, wf2q+, rr, qfq, prio, fq_codel, fq_pie\n  sched 1 config type frob\n                      ^^^^\n',
  });
  assert.equal((await run(reg, r, 'dnctl pipe 0 config')).err, 'dnctl: need a pipe/flowset/sched number\n');
  assert.equal((await run(reg, r, 'dnctl frob')).err, "dnctl: bad command `frob'\n");
  assert.equal((await run(reg, r, 'dnctl /etc/dnctl.conf')).status, 64);
  assert.equal((await run(reg, r, 'dnctl -s 9 pipe show')).status, 64);
  assert.equal((await run(reg, r, 'dnctl -x pipe show')).status, 64);
  assert.equal((await run(reg, r, 'dnctl queue 2 config weight 3')).err, 'dnctl: queue 2 needs a pipe: dnctl queue 2 needs a pipe: dnctl queue 2 config pipe P [weight W] ...\n'.replace('queue 2 needs a pipe: dnctl queue 2 needs a pipe: ', 'queue 2 needs a pipe: '));
  assert.equal((await run(reg, r, 'dnctl -n pipe 7 config bw 1Mbit/s')).status, 0);
  assert.equal((await run(reg, r, 'dnctl pipe show')).out, '', '-n checks and changes nothing');
});

test('dnctl pipe config profile FILE: read by the daemon, absolute and world-readable, errors with line numbers', async () => {
  const { reg, r } = testbed();
  const dir = mkdtempSync(join(tmpdir(), 'vdn-profile-'));
  try {
    const good = join(dir, 'good');
    writeFileSync(good, 'name wifi\nsamples 20\nloss-level 0.9\nprob delay\n0 1\n1 21\n');
    chmodSync(good, 0o644);
    assert.deepEqual(await run(reg, r, `dnctl pipe 2 config bw 1Mbit/s profile ${good}`), { status: 0, out: '', err: '' });
    assert.equal((await run(reg, r, 'dnctl pipe 2 show')).out.split('\n').slice(0, 2).join('\n'), '00002:   1.000 Mbit/s    0 ms burst 0\n\t profile: name "wifi" loss 0.900000 samples 20');
    assert.equal((await run(reg, r, 'dnctl pipe 2 config profile good')).err, 'dnctl: profile good: give an absolute path (dnctl runs inside vimaged, which does not know your working directory)\n');
    assert.equal((await run(reg, r, `dnctl pipe 2 config profile ${join(dir, 'none')}`)).err, `dnctl: fopen: ${join(dir, 'none')}: No such file or directory\n`);
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'prob delay\n0 1\n1 2\n');
    chmodSync(secret, 0o600);
    const res = await run(reg, r, `dnctl pipe 2 config profile ${secret}`);
    assert.equal(res.status, 69);
    assert.match(res.err, /not readable by everyone/);
    const broken = join(dir, 'broken');
    writeFileSync(broken, 'samples 10\nfrob 1\n');
    chmodSync(broken, 0o644);
    assert.deepEqual(await run(reg, r, `ipfw pipe 2 config profile ${broken}`), { status: 65, out: '', err: `ipfw: error in ${broken} at line 2: unrecognised command 'frob'\n` });
    assert.equal((await run(reg, r, `dnctl pipe 2 config profile ${dir}`)).status, 69);
    // The good profile is still in place after the failed attempts.
    assert.match((await run(reg, r, 'dnctl pipe 2 show')).out, /profile: name "wifi"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dnctl -s sorts the flows of a listing by a counter', async () => {
  const { reg, r, a } = testbed();
  const { send } = await import('../../lib/testing/testbed.js');
  await run(reg, r, 'dnctl pipe 1 config bw 1Mbit/s mask src-port 0xffff');
  await run(reg, r, 'ipfw add 100 pipe 1 udp from any to any in');
  await run(reg, r, 'ipfw add 200 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  for (const [sport, n] of [[1, 1], [2, 3], [3, 2]] as const) for (let k = 0; k < n; k++) send(reg, a, { proto: 17, dst: '10.2.0.2', sport, size: 100 });
  const ports = (out: string): string[] => out.split('\n').filter((l) => l.includes(' ip  ')).map((l) => l.split('/')[1]!.split(' ')[0]!);
  assert.deepEqual(ports((await run(reg, r, 'dnctl -s 3 pipe show')).out), ['2', '3', '1']);
  assert.deepEqual(ports((await run(reg, r, 'dnctl -s -3 pipe show')).out), ['1', '3', '2']);
});
