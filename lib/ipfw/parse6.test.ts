import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testbed } from '../testing/testbed.js';
import { restoreIpfwConfig, saveIpfwConfig } from './config.js';
import { ruleBody } from './format.js';
import { RuleSyntaxError, parseRule } from './parse.js';

const show = (s: string): string => ruleBody(parseRule(s.split(' ')));

test('IPv6 rules print as FreeBSD 14 prints them (print_ip6, print_icmp6types, print_flow6id, print_ext6hdr, unreach6)', () => {
  const cases: Array<[string, string]> = [
    ['deny ipv6-icmp from any to any icmp6types 128', 'deny ipv6-icmp from any to any icmp6types 128'],
    ['allow ipv6-icmp from any to any icmp6types 136,135,133,134', 'allow ipv6-icmp from any to any icmp6types 133,134,135,136'],
    ['allow ip6 from 2001:DB8:0:0::/64 to any', 'allow ip6 from 2001:db8::/64 to any'],
    ['allow ip6 from 2001:db8::1:2/64 to any', 'allow ip6 from 2001:db8::/64 to any'],
    ['allow ip6 from 2001:db8::1 to 2001:db8:1::/48 keep-state', 'allow ip6 from 2001:db8::1 to 2001:db8:1::/48 keep-state :default'],
    ['allow tcp from 2001:db8::/64 to me6 80 setup keep-state', 'allow tcp from 2001:db8::/64 to me6 80 setup keep-state :default'],
    ['allow ip6 from me to any', 'allow ip6 from me6 to any'],
    ['allow tcp from any to any ip6', 'allow ip6 from any to any proto tcp'],
    ['pipe 1 ip6 from any to any', 'pipe 1 ip6 from any to any'],
    ['allow ip from 2001:db8::1,2001:db8::2/127 to any', 'allow ip from 2001:db8::1,2001:db8::2/127 to any'],
    ['allow ip from { 2001:db8::1 or 2001:db8::2 } to any', 'allow ip from { 2001:db8::1 or 2001:db8::2 } to any'],
    ['allow ip from any to any src-ip6 2001:db8::/32 dst-ip6 me6', 'allow ip from 2001:db8::/32 to me6'],
    ['allow ip from 10.0.0.1 to any dst-ip6 2001:db8::/32', 'allow ip from 10.0.0.1 to 2001:db8::/32'],
    ['allow ip from 10.0.0.1 to 10.0.0.2 dst-ip6 2001:db8::/32', 'allow ip from 10.0.0.1 to 10.0.0.2 dst-ip6 2001:db8::/32'],
    ['allow ip6 from any to any flow-id 5,7', 'allow ip6 from any to any flow-id 5,7 '],
    ['deny ip from any to any ext6hdr frag,hopopt,rthdr0', 'deny ip from any to any extension header: fragmentation,hop options,rthdr0'],
    ['unreach6 admin-prohib ip6 from any to any', 'unreach6 admin-prohib ip6 from any to any'],
    ['unreach6 7 ip6 from any to any', 'unreach6 7 ip6 from any to any'],
    ['reset6 tcp from any to any', 'reset6 tcp from any to any'],
    ['deny ip6 from 2001:db8::/ffff:ffff:0:ffff:: to any', 'deny ip6 from 2001:db8::/ffff:ffff:0:ffff:: to any'],
    ['deny ip6 from not 2001:db8::/64 to any', 'deny ip6 from not 2001:db8::/64 to any'],
    ['allow ip6 from 2001:db8::5/0 to any', 'allow ip6 from any to any'],
    ['allow ipv4 from any to any', 'allow ip4 from any to any'],
    ['allow ip from any to any ip4', 'allow ip4 from any to any'],
    ['allow ip from any to any { ip4 or ip6 }', 'allow { ip4 or ip6 } from any to any'],
    ['count ip from ::ffff:10.0.0.1 to any', 'count ip from ::ffff:10.0.0.1 to any'],
  ];
  for (const [input, want] of cases) assert.equal(show(input), want, input);
});

test('IPv6 words that do not parse are refused with FreeBSD messages, pointing at the token', () => {
  const cases: Array<[string, string, number, number]> = [
    ['deny ip6 from 10.0.0.1 to any', 'bad address "10.0.0.1"', 3, 65],
    ['deny ip from 2001:db8::/129 to any', `bad width "129''`, 3, 65],
    ['deny ip from any to any icmp6types 300', 'ICMP6 type out of range', 7, 65],
    ['deny ip from any to any icmp6types 12x', 'invalid ICMP6 type', 7, 65],
    ['allow ip from any to any flow-id 5', 'flow-id filter is active only for ipv6 protocol', 6, 64],
    ['allow ip6 from any to any flow-id 0x100000', 'flow number out of range 0x100000', 7, 65],
    ['unreach6 foo ip6 from any to any', "unknown ICMPv6 unreachable code ``foo''", 1, 65],
    ['unreach6', 'missing unreach code', 1, 64],
    ['deny ip from any to any ext6hdr bogus', 'invalid option for ipv6 exten header', 7, 65],
    ['deny ip6 from zz::1 to any', 'bad address "zz::1"', 3, 65],
    ['deny ip6 from not ::/0 to any', 'not any never matches', 4, 65],
    ['deny ip from any to any src-ip6', 'missing source IP6', 7, 64],
  ];
  for (const [input, msg, at, status] of cases) {
    assert.throws(
      () => parseRule(input.split(' ')),
      (e: unknown) => e instanceof RuleSyntaxError && e.message === msg && e.at === at && e.status === status,
      input,
    );
  }
});

test('IPv6 rules are saved as text that compiles back to the same rules', () => {
  const { r } = testbed();
  const texts = [
    '100 deny ipv6-icmp from any to any icmp6types 128',
    '200 allow tcp from 2001:db8::/64 to me6 80 setup keep-state',
    '300 deny ip from any to any ext6hdr frag,route,ah',
    '400 allow ip6 from any to any flow-id 5,7',
    '500 unreach6 port ip6 from 2001:db8::1,2001:db8::2/127 to not 2001:db8:1::/48',
    '600 reset6 tcp from any to any',
    '700 pipe 1 ip6 from any to any in',
    '800 allow ip from { 2001:db8::1 or 2001:db8::2 } to any { ip4 or ip6 }',
    '900 count ip from { 10.0.0.1 or 2001:db8::1 } to any',
  ];
  for (const t of texts) r.fw.add(parseRule(t.split(' ')));
  const saved = saveIpfwConfig(r)!;
  assert.equal(saved.rules[2], '300 deny ip from any to any ext6hdr frag,route,ah', 'ext6hdr is saved in the words it is given in');
  const listed = r.fw.rules.map((x) => ruleBody(x));
  const { r: r2 } = testbed();
  restoreIpfwConfig(r2, JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(
    r2.fw.rules.map((x) => ruleBody(x)),
    listed,
  );
  assert.deepEqual(saveIpfwConfig(r2)!.rules, saved.rules);
});
