/** The dummynet grammar's new words, the bandwidth units, delay profiles and hostile input. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandNumber, parseBandwidth, parseDnConfig, timeToUs } from './parse_dn.js';
import { ProfileError, parseProfile } from './dn_params.js';

const LIM = { slots: 100, bytes: 1 << 20 };
const words = (s: string): string[] => (s === '' ? [] : s.split(' '));

test('bandwidth as FreeBSD accepts it', () => {
  const table: Array<[string, number]> = [
    ['64000', 64000],
    ['0x100', 256],
    ['10Mb', 10_000_000],
    ['10Mbit/s', 10_000_000],
    ['10Mbits/s', 10_000_000],
    ['10MBit/s', 10_000_000],
    ['10mbit', 10_000_000],
    ['100Kbit/s', 100_000],
    ['100kbps', 100_000],
    ['1MB', 8_000_000],
    ['1MByte/s', 8_000_000],
    ['1MBytes/s', 8_000_000],
    ['2KByte/s', 16_000],
    ['1Byte/s', 8],
    ['1Bps', 8],
    ['3bytes', 24],
    ['100bit/s', 100],
    ['1Gbit/s', 1_000_000_000],
    ['2147483647', 0x7fffffff],
  ];
  for (const [t, bw] of table) assert.equal(parseBandwidth(t), bw, t);
  const bad: Array<[string, string]> = [
    ['10Qbit/s', "bw: bad unit ``10Qbit/s''; use bit/s or Byte/s with K, M or G"],
    ['10Mbit/h', "bw: bad unit ``10Mbit/h''; use bit/s or Byte/s with K, M or G"],
    ['3Gbit/s', 'bandwidth too large'],
    ['1GByte/s', 'bandwidth too large'],
    ['-5', 'bw needs bandwidth or interface'],
    ['', 'bw needs bandwidth or interface'],
    ['em0', 'bw em0: clocking a pipe from an interface is not supported'],
    ['99999999999999999999', 'bandwidth too large'],
  ];
  for (const [t, msg] of bad) assert.throws(() => parseBandwidth(t), { message: msg }, t);
});

test('times and sizes: time_to_us and expand_number', () => {
  assert.deepEqual(['5ms', '100us', '1.5s', '20', '0.5ms', 'x', '5h', '', '1234567890123456'].map(timeToUs), [5000, 100, 1_500_000, 20_000, 500, -1, -1, -1, -1]);
  assert.deepEqual(['0', '1500', '2k', '1M', '1mb', '3KB', 'k', '1.5k', '-1'].map(expandNumber), [0, 1500, 2048, 1 << 20, 1 << 20, 3072, undefined, undefined, undefined]);
});

test('sched config: types, fq_codel and fq_pie parameters with FreeBSD defaults', () => {
  assert.deepEqual(parseDnConfig('sched', words('type RR'), LIM), { type: 'rr' });
  assert.deepEqual(parseDnConfig('sched', words('type fq_codel target 10ms interval 200ms quantum 1000 limit 500 flows 64 ecn'), LIM), {
    type: 'fq_codel',
    sched: { codel: { target: 10000, interval: 200000, ecn: true }, fq: { quantum: 1000, limit: 500, flows: 64 } },
  });
  const fp = parseDnConfig('sched', words('type fq_pie target 20ms alpha 0.25 noderand mask src-ip 0xffffffff'), LIM);
  assert.equal(fp.type, 'fq_pie');
  assert.deepEqual(fp.sched!.pie, { target: 20000, tupdate: 15000, maxBurst: 150000, maxEcnth: 0.1, alpha: 0.25, beta: 1.25, ecn: false, capdrop: true, onoff: false, dre: true, derand: false });
  assert.deepEqual(fp.sched!.fq, { quantum: 1514, limit: 10240, flows: 1024 });
  assert.equal(fp.mask!.src, 0xffffffff, 'words after the fq_pie parameters are the config again');
  assert.deepEqual(parseDnConfig('sched', words('pipe 1 fq_codel'), LIM).type, 'fq_codel');
  assert.deepEqual(parseDnConfig('pipe', words('bw 1Mbit/s type qfq'), LIM), { bw: 1_000_000, type: 'qfq' });
});

test('queue config: codel, pie, red, gred, lmax, pri; pipe config: burst, profile', () => {
  assert.deepEqual(parseDnConfig('queue', words('sched 2 codel target 4ms noecn weight 7'), LIM), { pipe: 2, aqm: { kind: 'codel', target: 4000, interval: 100000, ecn: false }, weight: 7 });
  assert.deepEqual(parseDnConfig('queue', words('pipe 1 pie ecn capdrop ts onoff'), LIM).aqm, { kind: 'pie', target: 15000, tupdate: 15000, maxBurst: 150000, maxEcnth: 0.1, alpha: 0.125, beta: 1.25, ecn: true, capdrop: true, onoff: true, dre: false, derand: true });
  assert.deepEqual(parseDnConfig('queue', words('red 0.002/5/15/0.1'), LIM).aqm, { kind: 'red', wq: 0.002, minTh: 5, maxTh: 15, maxP: 0.1, gentle: false, ecn: false });
  assert.deepEqual(parseDnConfig('pipe', words('gred 0.5/2k/4K/1 ecn'), LIM).aqm, { kind: 'red', wq: 0.5, minTh: 2048, maxTh: 4096, maxP: 1, gentle: true, ecn: true });
  assert.deepEqual(parseDnConfig('queue', words('codel droptail'), LIM).aqm, null);
  assert.deepEqual(parseDnConfig('queue', words('lmax 1000 pri 3'), LIM), { lmax: 1000, pri: 3 });
  assert.deepEqual(parseDnConfig('pipe', words('bw 10Mbit/s delay 20ms burst 1m profile /tmp/p'), LIM), { bw: 10_000_000, delay: 20, burst: 1 << 20, profileFile: '/tmp/p' });
});

test('hostile and wrong input: clear errors, never a crash', () => {
  const bad: Array<['pipe' | 'queue' | 'sched', string, string]> = [
    ['sched', 'type frob', 'unknown scheduler type frob: one of fifo, wf2q+, rr, qfq, prio, fq_codel, fq_pie'],
    ['sched', 'type', 'type needs a string'],
    ['sched', 'type aaaaaaaaaaaaaaaaaaaa', 'type aaaaaaaaaaaaaaaaaaaa too long'],
    ['sched', 'type fq_codel target', 'target needs a time (e.g. 5ms, 100us, 1s)'],
    ['sched', 'type fq_codel target 10x', 'target needs a time (e.g. 5ms, 100us, 1s)'],
    ['sched', 'type fq_codel target 99s', 'target must be between 1us and 5000000us: 99s'],
    ['sched', 'type fq_codel quantum 0', 'quantum must be between 1 and 9000: 0'],
    ['sched', 'type fq_codel limit 1e9', 'limit needs number'],
    ['sched', 'type fq_codel flows 70000', 'flows must be between 1 and 65536: 70000'],
    ['sched', 'type fq_pie alpha 9', 'alpha must be between 0 and 7.99: 9'],
    ['sched', 'type fq_pie max_ecnth NaN', 'max_ecnth needs number'],
    ['sched', 'bw 1Mbit/s', 'bw is only for links'],
    ['sched', 'queue 10', 'queue is only for pipes or flowsets'],
    ['sched', 'codel', 'codel/pie is only for flowsets'],
    ['queue', 'type rr', 'type is only for schedulers'],
    ['queue', 'fq_codel', 'fq_codel/fq_pie is only for schd'],
    ['queue', 'red', 'red/gred needs w_q/min_th/max_th/max_p'],
    ['queue', 'red 0/1/2/0.1', '0 < w_q <= 1'],
    ['queue', 'red 0.1/1/2', 'red/gred needs w_q/min_th/max_th/max_p'],
    ['queue', 'red 0.1/5/2/0.1', 'min_th 5 must be < than max_th 2'],
    ['queue', 'red 0.1/0/0/0.1', 'min_th 0 must be < than max_th 0'],
    ['queue', 'red 0.1/1/2/1.5', '0 <= max_p <= 1'],
    ['queue', 'red 0.1/x/2/0.5', 'red/gred: bad threshold x'],
    ['queue', 'ecn', 'ECN can be used with red/gred/codel/fq_codel only!'],
    ['queue', 'lmax -1', 'lmax needs a number up to 65535: -1'],
    ['queue', 'pri 1000', 'priority needs a number up to 255: 1000'],
    ['pipe', 'burst 1.5', 'burst: invalid argument'],
    ['pipe', 'burst 1e', 'burst: out of range (0..2^48-1)'],
    ['pipe', 'burst', 'burst needs argument'],
    ['pipe', 'profile', 'extra delay needs the file name'],
    ['pipe', 'profile a profile b', 'profile already set'],
    ['queue', 'profile /x', 'profile is only for links'],
    ['queue', 'sched 0', 'pipe/link/sched needs number'],
  ];
  for (const [kind, input, msg] of bad) assert.throws(() => parseDnConfig(kind, words(input), LIM), { message: msg }, `${kind} ${input}`);
});

const bw = (t: string): number => parseBandwidth(t);

test('profile files: FreeBSD example, interpolation, loss-level, bw', () => {
  const text = ['# a comment line', 'name    bla_bla_bla', 'samples 10', 'loss-level    0.8', 'bw 1Mbit/s', 'prob    delay', '0       200\t# minimum overhead is 200ms', '0.5     200', '0.5     300', '1       1300', ''].join('\n');
  const p = parseProfile(text, 'p.txt', bw);
  assert.equal(p.name, 'bla_bla_bla');
  assert.equal(p.lossLevel, 8);
  assert.equal(p.bw, 1_000_000);
  assert.deepEqual(p.samples, [200, 200, 200, 200, 200, 300, 500, 700, 900, 1100]);
  const warnings: string[] = [];
  const q = parseProfile('delay prob\n10 0\n20 1\n', 'q', bw, (w) => warnings.push(w));
  assert.equal(q.samples.length, 100);
  assert.equal(q.lossLevel, 100);
  assert.equal(q.samples[50], 15);
  assert.deepEqual(warnings, ["'samples' not found, assuming 100", "'loss-level' not found, assuming no loss"]);
});

test('profile files that do not parse: FreeBSD messages with file and line', () => {
  const bad: Array<[string, string]> = [
    ['samples 0\n', 'error in f at line 1: invalid number of samples'],
    ['samples 5000\n', 'error in f at line 1: too many samples, maximum is 1024'],
    ['samples 10\nsamples 10\n', "error in f at line 2: duplicate ``samples'' line"],
    ['loss-level 2\n', 'error in f at line 1: loss-level greater than 1.0'],
    ['loss-level abc\n', 'error in f at line 1: invalid abc'],
    ['name a b\n', 'error in f at line 1: too many arguments'],
    ['name\n', 'error in f at line 1: missing arg for name'],
    ['frob 1\n', "error in f at line 1: unrecognised command 'frob'"],
    ['prob delay\n0 x\n', 'error in f at line 2: invalid point found'],
    ['prob delay\n1.5 10\n', 'error in f at line 2: probability greater than 1.0'],
    ['prob delay\n0 1\n', 'error in f: too few samples, need at least 2'],
    ['prob delay\nprob delay\n', 'error in f at line 2: duplicated token: prob'],
    ['bw 10Qbit/s\n', "error in f at line 1: bw: bad unit ``10Qbit/s''; use bit/s or Byte/s with K, M or G"],
    ['\u0000\u0001 \u00ff\n', "error in f at line 1: unrecognised command '\u0000\u0001'"],
  ];
  for (const [text, msg] of bad) assert.throws(() => parseProfile(text, 'f', bw), (e: unknown) => e instanceof ProfileError && e.message === msg, JSON.stringify(text));
  // A huge point list is cut off with an error, not an unbounded array.
  const many = 'prob delay\n' + Array.from({ length: 2000 }, (_, k) => `${(k / 2000).toFixed(4)} ${k}`).join('\n');
  assert.throws(() => parseProfile(many, 'f', bw), /too many points/);
});
