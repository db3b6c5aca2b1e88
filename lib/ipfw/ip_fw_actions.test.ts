import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ruleLine } from './format.js';
import { parseRule, RuleSyntaxError } from './parse.js';
import { fwSets, setShowLine } from './ip_fw_sets.js';
import { restoreIpfwConfig, saveIpfwConfig } from './config.js';
import { rules, send, settle, sniff, testbed } from '../testing/testbed.js';
import { rawAttach } from '../netinet/raw_ip.js';
import { internetChecksum } from '../wire/checksum.js';
import { findSysctl } from '../sysctl.js';
import { setDscp6 } from './ip_fw_actions.js';

const line = (text: string): string => ruleLine(parseRule(text.split(' ')), 0, 0);

test('setdscp, dscp, tag, untag, tagged, call and return print as FreeBSD prints them', () => {
  assert.equal(line('100 setdscp ef ip from any to any'), '00100 setdscp ef ip from any to any');
  assert.equal(line('100 setdscp 10 ip from any to any'), '00100 setdscp af11 ip from any to any');
  assert.equal(line('100 setdscp 0 ip from any to any'), '00100 setdscp be ip from any to any');
  assert.equal(line('100 setdscp 7 ip from any to any'), '00100 setdscp 7 ip from any to any');
  assert.equal(line('100 allow ip from any to any dscp cs1,af21,63'), '00100 allow ip from any to any dscp cs1,af21,63');
  assert.equal(line('100 count log tag 5 ip from any to any'), '00100 count log tag 5 ip from any to any');
  assert.equal(line('100 count ip from any to any untag 7'), '00100 count untag 7 ip from any to any');
  assert.equal(line('100 deny ip from any to any tagged 5'), '00100 deny ip from any to any tagged 5');
  assert.equal(line('100 deny ip from any to any tagged 1-4,9'), '00100 deny ip from any to any tagged 1-4,9');
  assert.equal(line('100 call 1000 tcp from any to any'), '00100 call 1000 tcp from any to any');
  assert.equal(line('100 return ip from any to any'), '00100 return ip from any to any');
  assert.equal(line('100 return next-rulenum ip from any to any'), '00100 return next-rulenum ip from any to any');
  assert.equal(line('100 set 5 allow ip from any to any'), '00100 allow ip from any to any');
  assert.equal(parseRule('100 set 5 allow ip from any to any'.split(' ')).set, 5);
});

test('bad words get FreeBSD messages', () => {
  const err = (text: string, msg: string): void => {
    assert.throws(() => parseRule(text.split(' ')), (e: unknown) => e instanceof RuleSyntaxError && e.message === msg, text);
  };
  err('setdscp xx ip from any to any', 'Unknown DSCP code');
  err('setdscp 64 ip from any to any', 'Invalid DSCP value');
  err('allow ip from any to any dscp af11,99', 'Invalid DSCP value');
  err('count ip from any to any tag 0', 'tag: argument is out of range (1..65534): 0');
  err('count ip from any to any tag 1 untag 2', 'tag and untag cannot be specified more than once');
  err('deny ip from any to any tagged x', 'tagged: invalid argument: x');
  err('call x ip from any to any', 'call: invalid argument: x');
  err('100 set 32 allow ip from any to any', 'illegal set 32');
});

/** Record the TOS byte and whether the header checksum verifies, of UDP packets reaching `im`. */
function tosSniffer(im: Parameters<typeof rawAttach>[0]): Array<[number, boolean]> {
  const seen: Array<[number, boolean]> = [];
  rawAttach(im, {
    proto: 17,
    input(buf, off) {
      seen.push([buf[off + 1]!, internetChecksum(buf, off, (buf[off]! & 0xf) << 2) === 0]);
    },
  });
  return seen;
}

test('setdscp rewrites the DS field with a valid header checksum and the walk goes on; dscp matches it', () => {
  const bed = testbed();
  const [r100, r200, r300] = rules(bed.r, '100 setdscp af41 udp from any to any in', '200 count udp from any to any dscp af41 out', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const seen = tosSniffer(bed.b);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.deepEqual(seen, [[34 << 2, true]]);
  assert.equal(r100!.pcnt, 1);
  assert.equal(r200!.pcnt, 1);
  assert.equal(r300!.pcnt, 4); // and B's port unreachable, in and out
});

test('tags live through the chain: tag on one rule, tagged decides later; untag removes it', () => {
  const bed = testbed();
  rules(bed.r, '100 count udp from any to any 53 tag 7', '150 count udp from any to any 54 tag 7', '160 count udp from any to any 54 untag 7', '200 deny ip from any to any tagged 5-8', '300 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 54 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 55 });
  assert.deepEqual(s.seen.map((x) => x.dport), [54, 55]);
});

test('tags and the call stack cross dummynet (one_pass=0): the rules after the pipe see them', () => {
  const bed = testbed();
  bed.r.fw.dn.configPipe(1, { bw: 1_000_000, plr: 0, qsize: 50, qbytes: false });
  rules(bed.r, '50 allow icmp from any to any', '100 call 1000 udp from any to any in', '200 deny ip from any to any tagged 9', '300 allow ip from any to any', '1000 count udp from any to any 53 tag 9', '1100 pipe 1 udp from any to any in', '1200 return ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  bed.r.sysctl.set('net.inet.ip.fw.one_pass', '0');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 80 });
  settle(bed, 100);
  // Port 53 was tagged before the pipe; after it, `return` went back to rule 200, which saw the tag.
  assert.deepEqual(s.seen.map((x) => x.dport), [80]);
  assert.equal(bed.r.fw.rules.find((r) => r.num === 200)!.pcnt, 1);
});

test('call and return: a subroutine, return next-rulenum, an empty stack and a full one go to the next rule', () => {
  const bed = testbed();
  const fw = bed.r.fw;
  rules(
    bed.r,
    '50 allow icmp from any to any',
    '100 call 1000 udp from any to any',
    '100 count udp from any to any', // same number as the call: `return` comes back here, next-rulenum skips it
    '200 allow udp from any to any 53',
    '300 deny ip from any to any',
    '1000 deny udp from any to any 54',
    '1100 return udp from any to any 53',
    '1200 return next-rulenum ip from any to any',
  );
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 54 });
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 55 });
  assert.deepEqual(s.seen.map((x) => x.dport), [53]);
  const n = (num: number): number => fw.rules.filter((r) => r.num === num).reduce((a, r) => a + r.pcnt, 0);
  // 53: call, return -> second rule 100 (count) -> 200 allow; 55: call, return next-rulenum -> 200, 300 deny.
  assert.equal(fw.rules[2]!.pcnt, 2); // port 53 in and out
  assert.equal(n(300), 1);
  assert.equal(n(1000), 1);
  // A return with nothing on the stack goes to the next rule; a call with the stack full too (16 deep).
  fw.flush();
  rules(bed.r, '100 return ip from any to any', '200 call 200 udp from any to any', '300 allow ip from any to any');
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 2);
  assert.equal(fw.rules[1]!.pcnt, 34); // 17 times in (16 pushed, the 17th goes on), and 17 out
});

test('sets: disabled sets are skipped, set show lists them, move and swap renumber, set 31 survives flush', () => {
  const bed = testbed();
  const fw = bed.r.fw;
  const sets = fwSets(fw);
  rules(bed.r, '100 set 3 deny udp from any to any', '200 set 4 allow ip from any to any', '300 set 31 allow udp from any to any 7');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 0);
  assert.equal(setShowLine(sets.disabledMask()), 'enable 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30');
  sets.enable(1 << 3, 0);
  assert.equal(setShowLine(sets.disabledMask()), 'disable 3 enable 0 1 2 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30');
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 1);
  sets.enable(1 << 31, 0);
  assert.equal(sets.disabledMask(), 1 << 3, 'set 31 cannot be disabled');
  // Saved and restored: sets and the disabled mask.
  const saved = saveIpfwConfig(bed.r)!;
  assert.deepEqual(saved.rules, ['100 set 3 deny udp from any to any', '200 set 4 allow ip from any to any', '300 set 31 allow udp from any to any 7']);
  assert.equal(saved.setDisable, 1 << 3);
  sets.swap(3, 4);
  assert.deepEqual(fw.rules.map((r) => r.set), [4, 3, 31, 31]);
  assert.equal(sets.move(3, 5), 1);
  sets.enable(0, 1 << 3);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  assert.equal(s.seen.length, 1, 'rule 100 (now set 4) denies again');
  assert.equal(sets.moveRule(100, 6), 1);
  assert.equal(sets.deleteSet(6), 1);
  fw.flush();
  assert.deepEqual(fw.rules.map((r) => r.num), [300, 65535]);
  fw.setDisable = 0;
  fw.flush();
  assert.equal(sets.deleteSet(31), 1);
  restoreIpfwConfig(bed.r, saved);
  assert.deepEqual(fw.rules.map((r) => `${r.num}:${r.set}`), ['100:3', '200:4', '300:31', '65535:31']);
  assert.equal(fw.setDisable, 1 << 3);
  const again = saveIpfwConfig(bed.r)!;
  assert.deepEqual(again, saved);
});

test('the new actions save and restore with the configuration', () => {
  const bed = testbed();
  const text = ['100 setdscp cs3 ip from any to any', '200 count tag 3 udp from any to any', '300 call 1000 ip from any to any dscp be,ef tagged 3-5', '1000 return next-rulenum ip from any to any', '1100 return ip from any to any'];
  rules(bed.r, ...text);
  const saved = saveIpfwConfig(bed.r)!;
  assert.deepEqual(saved.rules, text);
  bed.r.fw.flush();
  restoreIpfwConfig(bed.r, saved);
  assert.deepEqual(saveIpfwConfig(bed.r), saved);
});

test('limit src-addr 2: the third new connection from one source is denied until a state expires; dyn_* counters', () => {
  const bed = testbed();
  const v = (n: string): number => bed.r.sysctl.get(findSysctl(n)!);
  assert.equal(line('100 allow tcp from any to any setup limit src-addr 2'), '00100 allow tcp from any to any setup limit src-addr 2 :default');
  assert.equal(line('100 allow tcp from any to any limit src-addr dst-port 3 :web'), '00100 allow tcp from any to any limit src-addr,dst-port 3 :web');
  assert.equal(line('100 allow tcp from any to any limit src-addr src-port dst-addr dst-port 3'), '00100 allow tcp from any to any limit all 3 :default');
  assert.throws(() => parseRule('allow tcp from any to any limit 3'.split(' ')), /limit: missing limit mask/);
  assert.throws(() => parseRule('allow tcp from any to any limit src-addr 0'.split(' ')), /illegal limit value 0/);
  rules(bed.r, '50 allow icmp from any to any', '100 allow tcp from any to any setup limit src-addr 2', '200 deny ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const s = sniff(bed.b, 6);
  for (const sport of [1001, 1002, 1003]) send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport, dport: 80, flags: 0x02 });
  assert.deepEqual(s.seen.map((x) => x.sport), [1001, 1002]);
  assert.equal(v('net.inet.ip.fw.dyn_count'), 2);
  assert.equal(v('net.inet.ip.fw.dyn_parent_count'), 1);
  // Another source has its own count.
  send(bed.reg, bed.b, { proto: 6, dst: '10.1.0.2', sport: 2001, dport: 80, flags: 0x02 });
  assert.equal(v('net.inet.ip.fw.dyn_parent_count'), 2);
  // SYN states live dyn_syn_lifetime (20 s); then the source may open again.
  settle(bed, 21_000);
  assert.equal(v('net.inet.ip.fw.dyn_count'), 0);
  assert.equal(v('net.inet.ip.fw.dyn_parent_count'), 0);
  send(bed.reg, bed.a, { proto: 6, dst: '10.2.0.2', sport: 1004, dport: 80, flags: 0x02 });
  assert.deepEqual(s.seen.map((x) => x.sport), [1001, 1002, 1004]);
  const saved = saveIpfwConfig(bed.r)!;
  assert.equal(saved.rules[1], '100 allow tcp from any to any setup limit src-addr 2 :default');
});

test('fwd ADDR: a forwarded packet goes to another next hop; our own packets too; printed and refused as FreeBSD', () => {
  assert.equal(line('100 fwd 10.2.0.2 ip from any to 10.9.0.0/16'), '00100 fwd 10.2.0.2 ip from any to 10.9.0.0/16');
  assert.equal(line('100 forward 10.2.0.2 ip from any to any'), '00100 fwd 10.2.0.2 ip from any to any');
  assert.throws(() => parseRule('fwd 127.0.0.1,3128 tcp from any to any 80'.split(' ')), /not supported in vimage/);
  const bed = testbed();
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(bed.r, '100 fwd 10.2.0.2 udp from any to 10.9.0.0/16 in', '200 fwd 10.2.0.2 udp from me to 10.1.0.2 5353 out', '1000 allow ip from any to any');
  const noroute = bed.r.ipstat.noroute;
  const b0 = bed.b.ipstat.cantforward;
  send(bed.reg, bed.a, { proto: 17, dst: '10.9.1.1', dport: 53 });
  // R has no route to 10.9.1.1: without the rule it would count noroute; B (not a router) got it instead.
  assert.equal(bed.r.ipstat.noroute, noroute);
  assert.equal(bed.b.ipstat.cantforward, b0 + 1);
  // R's own packet to A leaves towards B instead.
  const a0 = bed.a.ipstat.total;
  send(bed.reg, bed.r, { proto: 17, dst: '10.1.0.2', dport: 5353 });
  assert.equal(bed.b.ipstat.cantforward, b0 + 2);
  assert.equal(bed.a.ipstat.total, a0);
  assert.deepEqual(saveIpfwConfig(bed.r)!.rules.slice(0, 2), ['100 fwd 10.2.0.2 udp from any to 10.9.0.0/16 in', '200 fwd 10.2.0.2 udp from me to 10.1.0.2 5353 out']);
});

test('log names the new actions as ipfw_log does', () => {
  const bed = testbed();
  const lines: string[] = [];
  const orig = bed.r.log.info.bind(bed.r.log);
  bed.r.log.info = (m: string) => void lines.push(m);
  try {
    bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
    rules(bed.r, '100 setdscp ef log udp from any to any in', '200 call 1000 log udp from any to any in', '300 allow ip from any to any', '1000 return log ip from any to any');
    send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 53 });
  } finally {
    bed.r.log.info = orig;
  }
  assert.match(lines.join('\n'), /ipfw: 100 SetDscp 46 UDP 10\.1\.0\.2:1234 10\.2\.0\.2:53 in via/);
  assert.match(lines.join('\n'), /ipfw: 200 Call 1000 UDP/);
  assert.match(lines.join('\n'), /ipfw: 1000 Return next-rule UDP/);
});

test('setdscp on an IPv6 packet rewrites the traffic class\'s DS bits; ECN bits, version and flow label stay', () => {
  // version 6, traffic class 0x01 (DSCP 0, ECT(1)), flow label 0xabcde
  const b = Uint8Array.from([0x60, 0x1a, 0xbc, 0xde]);
  setDscp6(b, 0, 46); // ef
  const tc = ((b[0]! & 0xf) << 4) | (b[1]! >>> 4);
  assert.equal(tc, (46 << 2) | 1);
  assert.equal(b[0]! >>> 4, 6);
  assert.equal(((b[1]! & 0xf) << 16) | (b[2]! << 8) | b[3]!, 0xabcde);
});
