import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ip, rules, send, settle, sniff, testbed } from '../testing/testbed.js';
import { parseNatConfig } from './nat_config.js';
import { restoreIpfwConfig, saveIpfwConfig } from './config.js';

/** A (10.1.0.2) -- R -- B (10.2.0.2), R translating to its epair1a address 10.2.0.1. */
function natBed(oneRule = true) {
  const bed = testbed();
  bed.r.fw.nat.config(parseNatConfig(1, ['if', 'epair1a', 'log']));
  const rs = rules(bed.r, '100 nat 1 ip from any to any via epair1a', ...(oneRule ? ['200 allow ip from any to any'] : []));
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  return { bed, rs };
}

test('nat N: B sees only R\'s address; the echo reply finds its way back to A', () => {
  const { bed } = natBed();
  const atB = sniff(bed.b, 1);
  const atA = sniff(bed.a, 1);
  send(bed.reg, bed.a, { proto: 1, dst: '10.2.0.2', icmpType: 8, size: 8 });
  settle(bed);
  assert.deepEqual(atB.seen.filter((x) => x.type === 8).map((x) => x.src), [ip('10.2.0.1')]);
  const replies = atA.seen.filter((x) => x.type === 0);
  assert.deepEqual(replies.map((x) => [x.src, x.dst]), [[ip('10.2.0.2'), ip('10.1.0.2')]]);
  assert.equal(bed.r.fw.nat.info(1)[0]!.links.icmp, 1);
  const udp = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 9 });
  assert.equal(udp.seen[0]!.src, ip('10.2.0.1'));
  assert.notEqual(udp.seen[0]!.sport, 0);
});

test('one_pass=1 leaves the chain after nat; one_pass=0 goes on with the next rule', () => {
  const { bed, rs } = natBed(false);
  const [r200] = rules(bed.r, '200 count ip from 10.2.0.1 to any', '300 allow ip from any to any');
  const atB = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 5000, dport: 9 });
  assert.equal(atB.seen.length, 1);
  assert.equal(r200!.pcnt, 0);
  bed.r.sysctl.set('net.inet.ip.fw.one_pass', '0');
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', sport: 5001, dport: 9 });
  assert.equal(atB.seen.length, 2);
  // The rule after nat sees the translated source.
  assert.equal(r200!.pcnt, 1);
  assert.ok(rs[0]!.pcnt >= 2);
});

test('nat to an instance that does not exist denies; the configuration is saved and restored', () => {
  const bed = testbed();
  rules(bed.r, '100 nat 5 ip from any to any', '200 allow ip from any to any');
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  const atB = sniff(bed.b, 17);
  send(bed.reg, bed.a, { proto: 17, dst: '10.2.0.2', dport: 9 });
  assert.equal(atB.seen.length, 0);
  bed.r.fw.nat.config(parseNatConfig(5, 'ip 10.2.0.1 same_ports redirect_port tcp 10.1.0.2:80 8080'.split(' ')));
  const saved = saveIpfwConfig(bed.r)!;
  assert.deepEqual(saved.nat, ['5 ip 10.2.0.1 same_ports redirect_port tcp 10.1.0.2:80 8080']);
  assert.ok(saved.rules.includes('100 nat 5 ip from any to any'));
  const other = testbed();
  restoreIpfwConfig(other.r, JSON.parse(JSON.stringify(saved)));
  assert.equal(other.r.fw.nat.configs().length, 1);
  assert.deepEqual(saveIpfwConfig(other.r), saved);
});
