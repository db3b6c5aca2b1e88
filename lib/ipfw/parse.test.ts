import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ruleBody } from './format.js';
import { RuleSyntaxError, parseDnConfig, parseRule } from './parse.js';

const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '');
const text = (s: string): string => ruleBody(parseRule(words(s)));

test('rules print back in ipfw list form', () => {
  const cases: Array<[string, string]> = [
    ['allow icmp from any to any', 'allow icmp from any to any'],
    ['pass all from any to any', 'allow ip from any to any'],
    ['permit tcp from 10.0.0.0/8 to me 22,80-90 in via tap0', 'allow tcp from 10.0.0.0/8 to me 22,80-90 in via tap0'],
    ['drop udp from any 53 to any', 'deny udp from any 53 to any'],
    ['reject tcp from any to any', 'reject tcp from any to any'],
    ['unreach port udp from any to any 7', 'unreach port udp from any to any 7'],
    ['unreach 13 ip from any to any', 'unreach filter-prohib ip from any to any'],
    ['reset tcp from any to any 25', 'reset tcp from any to any 25'],
    ['count log ip from any to any', 'count log ip from any to any'],
    ['count log logamount 5 ip from any to any', 'count log logamount 5 ip from any to any'],
    ['skipto 1000 ip from any to any', 'skipto 1000 ip from any to any'],
    ['pipe 1 ip from any to any out xmit epair0a', 'pipe 1 ip from any to any out xmit epair0a'],
    ['queue 2 tcp from any to any dst-port 5201', 'queue 2 tcp from any to any 5201'],
    ['check-state', 'check-state :default'],
    ['check-state :any', 'check-state :any'],
    ['allow tcp from any to any setup keep-state', 'allow tcp from any to any setup keep-state :default'],
    ['allow tcp from any to any established', 'allow tcp from any to any established'],
    ['allow tcp from any to any tcpflags syn,!ack', 'allow tcp from any to any setup'],
    ['allow tcp from any to any tcpflags fin,rst', 'allow tcp from any to any tcpflags fin,rst'],
    ['allow icmp from any to any icmptypes 8,0', 'allow icmp from any to any icmptypes 0,8'],
    ['deny ip from any to any frag', 'deny ip from any to any frag'],
    ['deny ip from any to any iplen 1000-1500 ipttl 1 ipid 7,9', 'deny ip from any to any iplen 1000-1500 ipttl 1 ipid 7,9'],
    ['deny ip from not 10.1.2.3 to any', 'deny ip from not 10.1.2.3 to any'],
    ['deny ip from { 10.0.0.1 or 10.0.0.2 } to any', 'deny ip from { 10.0.0.1 or 10.0.0.2 } to any'],
    ['deny ip from 10.0.0.1,10.0.1.0/24 to 1.2.3.0:255.255.0.255', 'deny ip from 10.0.0.1,10.0.1.0/24 to 1.2.0.0:255.255.0.255'],
    ['deny ip from 10.0.0.0/24{1,2,3,7} to any', 'deny ip from 10.0.0.0/24{1-3,7} to any'],
    ['deny ip from 0.0.0.0/0 to any', 'deny ip from any to any'],
    ['allow in recv tap0', 'allow in recv tap0'],
    ['allow ip from any to any out', 'allow ip from any to any out'],
    ['allow ip from any to any not out', 'allow ip from any to any in'],
    ['prob 0.25 deny ip from any to any', 'prob 0.250000 deny ip from any to any'],
    ['deny 47 from any to any', 'deny gre from any to any'],
    ['deny 253 from any to any', 'deny 253 from any to any'],
    ['allow tcp from any http to any', 'allow tcp from any 80 to any'],
    ['allow ip from any to any // a comment here', 'allow ip from any to any // a comment here'],
    // As FreeBSD's print_address: lone src/dst options print in the from/to part.
    ['allow ip from any to any src-port 1-2 dst-ip 1.2.3.4', 'allow ip from any 1-2 to 1.2.3.4'],
    ['allow ip from any to any in dst-port 80,443 src-port 1', 'allow ip from any 1 to any 80,443 in'],
  ];
  for (const [input, want] of cases) assert.equal(text(input), want, input);
});

test('rule numbers: explicit, or 0 for the chain to assign', () => {
  assert.equal(parseRule(words('500 allow ip from any to any')).num, 500);
  assert.equal(parseRule(words('allow ip from any to any')).num, 0);
});

test('bad rules fail with FreeBSD\'s message at the wrong token', () => {
  const cases: Array<[string, string, number, number]> = [
    ['', 'missing action', 0, 64],
    ['frob ip from any to any', 'invalid action frob', 0, 65],
    ['allow', 'missing protocol', 1, 64],
    ['allow tpc from any to any', 'unrecognised option [-1] tpc', 1, 64],
    ['allow tcp any to any', "missing ``from''", 2, 64],
    ['allow tcp from any', "missing ``to''", 4, 64],
    ['allow tcp from any foo to any', "missing ``to''", 4, 64],
    ['allow tcp from', 'missing source address', 3, 64],
    ['allow tcp from any to', 'missing dst address', 5, 64],
    ['allow ip from 10.0.0.300 to any', "hostname ``10.0.0.300'' unknown", 3, 68],
    ['allow ip from 10.0.0.1/33 to any', "bad width ``33''", 3, 65],
    ['allow ip from 10.0.0.1:255.x to any', "bad netmask ``255.x''", 3, 65],
    ['allow ip from 10.0.0.0/16{1,2} to any', 'invalid set with mask 16', 3, 65],
    ['allow ip from 10.0.0.0/24{1,300} to any', 'addr 300 out of range [0-255]', 3, 65],
    ['allow ip from not any to any', 'not any never matches', 4, 65],
    ['allow ip from any to any 70000', 'unrecognised option [-1] 70000', 6, 64],
    ['allow ip from any to any bogus', 'unrecognised option [-1] bogus', 6, 64],
    ['allow ip from any to any uid 0', 'option uid is not supported in vimage', 6, 64],
    ['unreach', 'missing reject code', 1, 64],
    ['unreach bogus ip from any to any', "unknown ICMP unreachable code ``bogus''", 1, 65],
    ['skipto', 'missing argument for skipto', 1, 64],
    ['skipto abc ip from any to any', 'illegal argument for skipto', 1, 65],
    ['pipe 0 ip from any to any', 'illegal argument for pipe', 1, 65],
    ['prob 2 allow ip from any to any', 'illegal match prob. 2', 1, 65],
    ['70000 allow ip from any to any', 'illegal rule number 70000', 0, 65],
    ['allow icmp from any to any icmptypes 40', 'ICMP type out of range', 7, 65],
    ['allow icmp from any to any icmptypes x', 'invalid ICMP type', 7, 65],
    ['allow icmp from any to any icmptypes', 'icmptypes requires list of types', 7, 64],
    ['allow tcp from any to any tcpflags syn,bogus', 'invalid flag bogus', 7, 65],
    ['allow ip from any to any ipttl x', 'invalid ipttl x', 7, 65],
    ['allow ip from any to any iplen 1-x', 'invalid ip len 1-x', 7, 65],
    ['allow ip from any to any via', 'recv, xmit, via require interface name or address', 7, 64],
    ['allow ip from any to any keep-state keep-state', 'only one of keep-state, record-state,  limit and set-limit is allowed', 7, 64],
    ['allow ip from any to any not not in', 'double "not" not allowed', 7, 64],
    ['allow ip from any to any or in', 'invalid OR block', 6, 65],
    ['allow ip from any to any in or out', 'invalid "or" block', 7, 64],
    ['allow ip from { 10.0.0.1 or 10.0.0.2 to any', 'missing ")"', 7, 64],
    ['log allow ip from any to any', 'invalid action log', 0, 65],
    ['allow log log ip from any to any', 'log cannot be specified more than once', 2, 65],
    ['check-state from any', 'Invalid state name from', 1, 65],
    ['check-state :x in', 'check-state takes no match pattern (only a state name and a // comment)', 2, 65],
    ['allow ip from any to any keep-state :any', 'Invalid state name :any', 7, 65],
  ];
  for (const [input, msg, at, status] of cases) {
    assert.throws(
      () => parseRule(words(input)),
      (e: unknown) => {
        assert.ok(e instanceof RuleSyntaxError, input);
        assert.equal(e.message, msg, input);
        assert.equal(e.at, at, `${input}: token index`);
        assert.equal(e.status, status, `${input}: status`);
        return true;
      },
      input,
    );
  }
});

test('pipe and queue configuration: units, limits and errors', () => {
  const lim = { slots: 100, bytes: 1048576 };
  assert.deepEqual(parseDnConfig('pipe', words('bw 10Mbit/s delay 50 plr 0.1 queue 20'), lim), { bw: 10_000_000, delay: 50, plr: 0.1, qsize: 20, qbytes: false });
  assert.equal(parseDnConfig('pipe', words('bw 1MByte/s'), lim).bw, 8_000_000);
  assert.equal(parseDnConfig('pipe', words('bw 300Kbit/s'), lim).bw, 300_000);
  assert.equal(parseDnConfig('pipe', words('bw 64000'), lim).bw, 64000);
  assert.deepEqual(parseDnConfig('pipe', words('queue 100KBytes'), lim), { qsize: 102400, qbytes: true });
  assert.deepEqual(parseDnConfig('pipe', words('mask dst-ip 0xffffff00 src-port 0xffff'), lim).mask, { proto: 0, src: 0, dst: 0xffffff00, sport: 0xffff, dport: 0 });
  assert.deepEqual(parseDnConfig('pipe', words('mask all'), lim).mask, { proto: 0xff, src: 0xffffffff, dst: 0xffffffff, sport: 0xffff, dport: 0xffff });
  assert.deepEqual(parseDnConfig('queue', words('pipe 1 weight 3'), lim), { pipe: 1, weight: 3 });
  const bad: Array<[('pipe' | 'queue'), string, string]> = [
    ['pipe', 'delay 20000', 'delay must be < 10000'],
    ['pipe', 'queue 500', '2 <= queue size <= 100'],
    ['pipe', 'queue 2000KBytes', 'queue size must be < 1048576B'],
    ['pipe', 'bw 10Qbit/s', "bw: bad unit ``10Qbit/s''; use bit/s or Byte/s with K, M or G"],
    ['pipe', 'bw 3Gbit/s', 'bandwidth too large'],
    ['pipe', 'bw', 'bw needs bandwidth or interface'],
    ['pipe', 'frob 1', "unrecognised option ``frob''"],
    ['queue', 'bw 1Mbit/s', 'bw is only for links'],
    ['queue', 'weight 0', 'weight must be between 1 and 100: 0'],
    ['pipe', 'mask dst-port 0x10000', 'port mask must be 16 bit'],
  ];
  for (const [kind, input, msg] of bad) assert.throws(() => parseDnConfig(kind, words(input), lim), { message: msg }, input);
});
