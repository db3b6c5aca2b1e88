import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { twoImages, type TestNet } from '../testing/testnet.js';
import { ICMP6_TYPE, icmp6Checksum, icmp6FillChecksum } from '../wire/icmp6.js';
import { in6LinkLocalFromMac, in6SolicitedNode, ip6ToString, parseIp6 } from '../wire/ipv6.js';
import { in6AddAddress, in6DeleteAddress } from './in6.js';
import { decodeMaxResp, decodeQqic, mld6Info, mldV1Enable } from './mld6.js';

function eth(im: Image): Ifnet {
  return [...im.ifnets.values()].find((i) => !i.loopback)!;
}

/** MLD messages `ifp` sends, as whole IPv6 packets (copies), with the clock time. */
function capture(n: TestNet, ifp: Ifnet): Array<{ at: number; p: Uint8Array }> {
  const out: Array<{ at: number; p: Uint8Array }> = [];
  const orig = ifp.output.bind(ifp);
  ifp.output = (buf, off, len, meta) => {
    // Ethernet (14) + IPv6 (40) + hop-by-hop (8): an MLD message after a router alert.
    if (buf[off + 12] === 0x86 && buf[off + 13] === 0xdd && buf[off + 14 + 6] === 0) out.push({ at: n.clock.now(), p: buf.slice(off + 14, off + len) });
    orig(buf, off, len, meta);
  };
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function snGroup(a: Uint8Array): Uint8Array {
  const g = new Uint8Array(16);
  in6SolicitedNode(g, 0, a, 0);
  return g;
}

/** The MLDv2 report FreeBSD sends: IPv6 to ff02::16 with hop limit 1, PadN + router alert, type 143 and its records (checksum zeroed). */
function v2Report(src: Uint8Array, recs: Array<[number, Uint8Array]>): string {
  const plen = 8 + 8 + 20 * recs.length;
  const b = new Uint8Array(40 + plen);
  b.set([0x60, 0, 0, 0, plen >> 8, plen & 0xff, 0, 1]);
  b.set(src, 8);
  b.set(parseIp6('ff02::16')!, 24);
  b.set([58, 0, 1, 0, 5, 2, 0, 0], 40);
  b.set([143, 0, 0, 0, 0, 0, 0, recs.length], 48);
  recs.forEach(([t, g], i) => {
    b[56 + 20 * i] = t;
    b.set(g, 56 + 20 * i + 4);
  });
  return hex(b);
}

function noSum(p: Uint8Array): string {
  const c = p.slice();
  c[50] = 0;
  c[51] = 0;
  return hex(c);
}

/** A query frame as a Linux querier sends it (ip6 hop-by-hop router alert, from its link-local address). */
function queryFrame(from: Ifnet, dst: string, body: number[]): Uint8Array {
  const plen = 8 + body.length;
  const f = new Uint8Array(14 + 40 + plen);
  const d = parseIp6(dst)!;
  f.set([0x33, 0x33, d[12]!, d[13]!, d[14]!, d[15]!], 0);
  f.set(from.mac as unknown as Uint8Array, 6);
  f.set([0x86, 0xdd], 12);
  f.set([0x60, 0, 0, 0, plen >> 8, plen & 0xff, 0, 1], 14);
  f.set(in6LinkLocalFromMac(from.mac), 22);
  f.set(d, 38);
  f.set([58, 0, 5, 2, 0, 0, 1, 0], 54);
  f.set(body, 62);
  icmp6FillChecksum(f, 14, 62, body.length);
  return f;
}

test('a new address sends an MLDv2 state-change report for its solicited-node group, from :: while the link-local address is tentative, robustness (2) times within the unsolicited report interval', async () => {
  const n = twoImages();
  const ea = eth(n.a);
  const cap = capture(n, ea);
  const ll = in6LinkLocalFromMac(ea.mac);
  await n.run(4000, 50);
  assert.equal(cap.length, 2, 'two copies of the join');
  assert.equal(cap[0]!.at, 200, 'the first at the next fast tick');
  assert.ok(cap[1]!.at > 200 && cap[1]!.at <= 3200, `the second within 3 s (${cap[1]!.at})`);
  // Golden bytes: CHANGE_TO_EXCLUDE {} for ff02::1:ffXX:XXXX, unspecified source (RFC 3590 4).
  assert.equal(noSum(cap[0]!.p), v2Report(new Uint8Array(16), [[4, snGroup(ll)]]));
  assert.equal(icmp6Checksum(cap[0]!.p, 0, 48, cap[0]!.p.length - 48), 0);
  assert.equal(n.a.icmp6.outhist[ICMP6_TYPE.MLDV2_REPORT], 2);
  assert.equal(n.a.icmp6stat.dadcollision, 0, 'DAD still finishes');
  // A global address with another interface id: its own group, now from the link-local address.
  cap.length = 0;
  const g = parseIp6('2001:db8::1')!;
  in6AddAddress(n.a, ea, g, 64);
  await n.run(4000, 50);
  assert.equal(cap.length, 2);
  assert.equal(noSum(cap[0]!.p), v2Report(ll, [[4, snGroup(g)]]));
  // Removing it: CHANGE_TO_INCLUDE {} (the group is left), twice.
  cap.length = 0;
  in6DeleteAddress(n.a, ea, g);
  await n.run(4000, 50);
  assert.equal(cap.length, 2);
  assert.equal(noSum(cap[0]!.p), v2Report(ll, [[3, snGroup(g)]]));
  const info = mld6Info(n.a).find((i) => i.interface === ea.name)!;
  assert.deepEqual(
    info.groups.map((x) => [ip6ToString(x.group), x.reported]),
    [
      ['ff02::1', false],
      [ip6ToString(snGroup(ll)), true],
    ],
  );
  assert.deepEqual([info.version, info.rv, info.qi, info.qri, info.uri], [2, 2, 125, 10, 3]);
});

test('queries from a Linux querier: a general query is answered within the maximum response delay with every group, a group-specific one with that group', async () => {
  const n = twoImages();
  const ea = eth(n.a);
  const eb = eth(n.b);
  const g = parseIp6('2001:db8::1')!;
  in6AddAddress(n.a, ea, g, 64);
  await n.run(4000, 50);
  const cap = capture(n, ea);
  const ll = in6LinkLocalFromMac(ea.mac);
  // MLDv2 general query: max response 10000 ms, QRV 2, QQIC 125, no sources (as Linux's bridge querier).
  ea.input(queryFrame(eb, 'ff02::1', [130, 0, 0, 0, 0x27, 0x10, 0, 0, ...new Uint8Array(16), 2, 125, 0, 0]), 0, 14 + 40 + 8 + 28, n.a.noOffload);
  await n.run(10_500, 50);
  assert.equal(cap.length, 1);
  assert.ok(cap[0]!.at - 4000 < 10_000);
  assert.equal(noSum(cap[0]!.p), v2Report(ll, [[2, snGroup(ll)], [2, snGroup(g)]]), 'MODE_IS_EXCLUDE {} for both groups, in one report');
  assert.equal(n.a.icmp6.inhist[ICMP6_TYPE.MLD_QUERY], 1);
  // Group-specific query, to the group, max response 1000 ms.
  cap.length = 0;
  const sg = snGroup(g);
  ea.input(queryFrame(eb, ip6ToString(sg), [130, 0, 0, 0, 0x03, 0xe8, 0, 0, ...sg, 2, 125, 0, 0]), 0, 14 + 40 + 8 + 28, n.a.noOffload);
  await n.run(1500, 50);
  assert.equal(cap.length, 1);
  assert.equal(noSum(cap[0]!.p), v2Report(ll, [[2, sg]]));
  // A query for a group we are not in, and one from a global source (RFC 3810 5.1.14), get nothing.
  cap.length = 0;
  ea.input(queryFrame(eb, 'ff02::1:ff00:9', [130, 0, 0, 0, 0x03, 0xe8, 0, 0, ...parseIp6('ff02::1:ff00:9')!, 2, 125, 0, 0]), 0, 90, n.a.noOffload);
  const bad = queryFrame(eb, 'ff02::1', [130, 0, 0, 0, 0x03, 0xe8, 0, 0, ...new Uint8Array(16), 2, 125, 0, 0]);
  bad.set(parseIp6('2001:db8::2')!, 22);
  icmp6FillChecksum(bad, 14, 62, 28);
  ea.input(bad, 0, 90, n.a.noOffload);
  await n.run(1500, 50);
  assert.equal(cap.length, 0);
});

test('an MLDv1 query switches the link to MLDv1: reports to the group, suppressed by another listener\'s, Done on leave, and back to MLDv2 after the older querier times out', async () => {
  const n = twoImages();
  const ea = eth(n.a);
  const eb = eth(n.b);
  const g = parseIp6('2001:db8::1')!;
  in6AddAddress(n.a, ea, g, 64);
  await n.run(4000, 50);
  const cap = capture(n, ea);
  const ll = in6LinkLocalFromMac(ea.mac);
  const sg = snGroup(g);
  const v1q = queryFrame(eb, 'ff02::1', [130, 0, 0, 0, 0x27, 0x10, 0, 0, ...new Uint8Array(16)]);
  ea.input(v1q, 0, v1q.length, n.a.noOffload);
  await n.run(10_500, 50);
  assert.equal(mld6Info(n.a)[0]!.version, 1);
  assert.equal(cap.length, 2, 'one MLDv1 report per group');
  const r = cap.find((c) => c.p[24 + 15] === sg[15])!.p;
  const want = new Uint8Array(40 + 8 + 24);
  want.set([0x60, 0, 0, 0, 0, 32, 0, 1]);
  want.set(ll, 8);
  want.set(sg, 24);
  want.set([58, 0, 1, 0, 5, 2, 0, 0], 40);
  want.set([131, 0, 0, 0, 0, 0, 0, 0], 48);
  want.set(sg, 56);
  assert.equal(noSum(r), hex(want), 'RFC 2710 report: to the group, hop limit 1, router alert');
  // Another listener's report while ours is pending suppresses ours.
  cap.length = 0;
  ea.input(v1q, 0, v1q.length, n.a.noOffload);
  for (const grp of [sg, snGroup(ll)]) {
    const rep = queryFrame(eb, ip6ToString(grp), [131, 0, 0, 0, 0, 0, 0, 0, ...grp]);
    ea.input(rep, 0, rep.length, n.a.noOffload);
  }
  await n.run(10_500, 50);
  assert.equal(cap.length, 0);
  // Leaving when we were not the last reporter: no Done. Join again and report, then leave: Done to ff02::2.
  in6DeleteAddress(n.a, ea, g);
  await n.run(100, 50);
  assert.equal(cap.length, 0);
  in6AddAddress(n.a, ea, g, 64);
  await n.run(3000, 50);
  assert.equal(cap[0]!.p[48], ICMP6_TYPE.MLD_REPORT);
  cap.length = 0;
  in6DeleteAddress(n.a, ea, g);
  assert.equal(cap.length, 1);
  assert.equal(cap[0]!.p[48], ICMP6_TYPE.MLD_DONE);
  assert.equal(ip6ToString(cap[0]!.p.subarray(24, 40)), 'ff02::2');
  // Older Version Querier Present: 2 * 125 + 10 s after the last v1 query.
  await n.run(260_000, 1000);
  assert.equal(mld6Info(n.a)[0]!.version, 2);
  // With net.inet6.mld.v1enable=0 a v1 query is ignored.
  n.a.sysctl.v[mldV1Enable.slot] = 0;
  ea.input(v1q, 0, v1q.length, n.a.noOffload);
  assert.equal(mld6Info(n.a)[0]!.version, 2);
});

test('maximum response code and QQIC decode as RFC 3810 5.1.3 and 5.1.9 say', () => {
  assert.equal(decodeMaxResp(10_000), 10_000);
  assert.equal(decodeMaxResp(0x8000), 0x1000 << 3);
  assert.equal(decodeMaxResp(0xffff), 0x1fff << 10);
  assert.equal(decodeQqic(125), 125);
  assert.equal(decodeQqic(0x80), 0x10 << 3);
  assert.equal(decodeQqic(0xff), 0x1f << 10);
});
