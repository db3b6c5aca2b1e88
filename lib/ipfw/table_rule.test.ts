import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VimageError } from '../errors.js';
import { ruleBody } from './format.js';
import { parseRule } from './parse.js';
import { TT } from './table.js';
import { rules, send, sniff, testbed } from '../testing/testbed.js';

const words = (s: string): string[] => s.split(' ');

test('table rules parse and print as ipfw(8) lists them', () => {
  for (const [input, shown] of [
    ['deny ip from table(bad) to any', 'deny ip from table(bad) to any'],
    ['deny ip from any to table(bad,7)', 'deny ip from any to table(bad,7)'],
    // As FreeBSD's print_address does, the first source and destination options print in from/to.
    ['allow tcp from any to any dst-ip table(srv) src-ip table(cl,3)', 'allow tcp from table(cl,3) to table(srv)'],
    ['skipto tablearg ip from table(map) to any', 'skipto tablearg ip from table(map) to any'],
    ['pipe tablearg udp from any to any lookup dst-port ports', 'pipe tablearg udp from any to any lookup dst-port ports'],
    ['count ip from any to any lookup src-ip:0xffffff00 nets', 'count ip from any to any lookup src-ip:0xffffff00 nets'],
  ] as const) {
    assert.equal(ruleBody(parseRule(words(input))), shown, input);
  }
  assert.throws(() => parseRule(words('deny ip from table(a/b) to any')), /Invalid table name/);
  assert.throws(() => parseRule(words('count ip from any to any lookup uid x')), /not supported/);
  assert.throws(() => parseRule(words('count ip from any to any lookup foo x')), /cannot lookup on foo/);
  assert.throws(() => parseRule(words('count ip from any to any lookup dst-ip')), /lookup argument/);
});

test('a rule creates the table it names, with the type it needs, and holds a reference until it goes', () => {
  const { r } = testbed();
  const [rule] = rules(r, '100 deny ip from table(bad) to any lookup dst-port ports');
  const t = r.fw.tables;
  assert.equal(t.info('bad').type, 'addr');
  assert.equal(t.info('ports').type, 'number');
  assert.equal(t.info('bad').references, 1);
  assert.throws(() => t.destroy('bad'), (e: unknown) => e instanceof VimageError && e.errno === 'EBUSY');
  // A rule that needs another type for an existing table is refused and leaves nothing behind.
  assert.throws(() => r.fw.add(parseRule(words('200 deny ip from table(ports) to any'))), (e: unknown) => e instanceof VimageError && e.code === 'VIMAGE_ERR_TABLE_MISMATCH');
  assert.equal(r.fw.rules.length, 2);
  r.fw.deleteRange(100, 100);
  assert.equal(t.info('bad').references, 0);
  t.destroy('bad');
  rules(r, '300 allow ip from any to table(x)');
  r.fw.flush();
  assert.equal(t.info('x').references, 0);
  void rule;
});

test('packets are matched through table(): adding and deleting entries changes what passes', () => {
  const bed = testbed();
  const { reg, a, r, b } = bed;
  r.fw.tables.create('blocked');
  rules(r, '100 deny ip from any to table(blocked)', '200 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(b, 17);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 1);
  r.fw.tables.add('blocked', [['10.2.0.0/16', undefined]], false);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 1);
  assert.equal(r.fw.rules[0]!.pcnt, 1);
  r.fw.tables.delete('blocked', ['10.2.0.0/16']);
  r.fw.tables.add('blocked', [['10.2.0.3', undefined]], false);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 2);
});

test('table(NAME,VALUE) matches only entries with that value; lookup dst-port and dscp use number tables', () => {
  const { reg, a, r, b } = testbed();
  const t = r.fw.tables;
  t.create('src');
  t.add('src', [['10.1.0.0/24', '5']], false);
  t.create('ports', { type: TT.NUMBER });
  t.add('ports', [['53', '1']], false);
  const [r100, r200, r300] = rules(r, '100 count ip from table(src,4) to any', '200 count ip from table(src,5) to any', '300 deny udp from any to any lookup dst-port ports', '400 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(b, 17);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 54 });
  assert.equal(r100!.pcnt, 0);
  assert.equal(r200!.pcnt, 3); // in for 53 (then denied), in and out for 54
  assert.equal(r300!.pcnt, 1);
  assert.deepEqual(
    s.seen.map((x) => x.dport),
    [54],
  );
});

test('skipto tablearg jumps to the rule the entry names; pipe tablearg picks the pipe', () => {
  const { reg, a, r, b } = testbed();
  const t = r.fw.tables;
  t.create('map', { vmask: 0x1 | 0x2 });
  t.add('map', [['10.2.0.2', '1000,0']], false);
  const [, r500, r1000] = rules(r, '100 skipto tablearg ip from any to table(map)', '500 deny udp from any to any', '1000 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(b, 17);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(s.seen.length, 1);
  assert.equal(r1000!.pcnt >= 2, true); // in on epair0a, out on epair1a (and the ICMP unreachable back)
  assert.equal(r500!.pcnt, 0);
  // A value at or below the rule's own number goes on with the next rule.
  t.add('map', [['10.2.0.2', '50,0']], true);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(s.seen.length, 1);
  assert.equal(r500!.pcnt, 1);
  // pipe tablearg: the entry's pipe field is the pipe the packet goes to.
  r.fw.flush();
  r.fw.dn.configPipe(7, { bw: 0, delay: 0 });
  t.create('pipes', { type: TT.NUMBER, vmask: 0x2 });
  t.add('pipes', [['9', '7']], false);
  rules(r, '100 pipe tablearg udp from any to any lookup dst-port pipes in', '200 allow ip from any to any');
  const [dn, nopipe] = [r.fw.stat.dummynet, r.fw.stat.nopipe];
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(r.fw.stat.dummynet, dn + 1);
  assert.equal(r.fw.stat.nopipe, nopipe);
  // An entry naming a pipe that does not exist: counted as nopipe.
  t.add('pipes', [['9', '8']], true);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(r.fw.stat.nopipe, nopipe + 1);
});

test('recv|xmit|via table(NAME) match interface names held in an iface table', () => {
  const { reg, a, r, b } = testbed();
  assert.equal(ruleBody(parseRule(words('deny ip from any to any recv table(ifs)'))), 'deny ip from any to any recv table(ifs)');
  const [deny] = rules(r, '100 deny udp from any to any xmit table(ifs)', '200 allow ip from any to any');
  assert.equal(r.fw.tables.info('ifs').type, 'iface');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(b, 17);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 7 });
  assert.equal(s.seen.length, 1);
  r.fw.tables.add('ifs', [['epair1a', undefined]], false);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 7 });
  assert.equal(s.seen.length, 1);
  assert.equal(deny!.pcnt, 1);
});

test('lookup rulenum: the number of the rule being matched is the key', () => {
  const { reg, a, r, b } = testbed();
  r.fw.tables.create('nums', { type: TT.NUMBER });
  r.fw.tables.add('nums', [['200', '1']], false);
  const [r100, r200] = rules(r, '100 count ip from any to any lookup rulenum nums', '200 count ip from any to any lookup rulenum nums', '300 allow ip from any to any');
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(b, 17);
  send(reg, a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(s.seen.length, 1);
  assert.equal(r100!.pcnt, 0);
  assert.equal(r200!.pcnt >= 2, true);
});
