import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCodecs, fuzzInput, inputTarget, Rng } from './testing/fuzz.js';
import { fuzzCodecs6, fuzzInput6 } from './testing/fuzz6.js';
import { nd6MaxEntries } from './netinet6/ip6_var.js';
import { arpMaxEntries } from './netinet/if_ether.js';
import { ipMaxFragPackets } from './netinet/ip_var.js';

// Bounded in CI; `npm run fuzz` runs longer (FUZZ_MS) with other seeds (FUZZ_SEED).
const MS = Number(process.env['FUZZ_MS'] ?? 2000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261125);

test(`codec views never throw on hostile bytes (seed ${SEED})`, () => {
  const n = fuzzCodecs(new Rng(SEED), Infinity, performance.now() + MS);
  assert.ok(n > 1000, `only ${n} buffers tried`);
});

test(`IPv6 codec views and the extension-header walk never throw on hostile bytes (seed ${SEED})`, () => {
  const n = fuzzCodecs6(new Rng(SEED), Infinity, performance.now() + MS / 2);
  assert.ok(n > 1000, `only ${n} buffers tried`);
});

test(`the image input path survives hostile frames with bounded state (seed ${SEED})`, () => {
  const t = inputTarget();
  const n = fuzzInput(t, new Rng(SEED), Infinity, performance.now() + MS);
  assert.ok(n > 1000, `only ${n} frames fed`);
  const { im } = t;
  assert.ok(im.arp.entries.size <= im.sysctl.get(arpMaxEntries), `ARP entries ${im.arp.entries.size}`);
  assert.ok(im.reass.queues.size <= im.sysctl.get(ipMaxFragPackets), `reassembly queues ${im.reass.queues.size}`);
  assert.equal(t.in0.counters.ipackets + t.in1.counters.ipackets + t.in0.counters.iqdrops + t.in1.counters.iqdrops > 0, true);
  // Drops were counted by name.
  const st = im.ipstat;
  assert.ok(st.badsum + st.badhlen + st.badlen + st.tooshort + st.toosmall + st.badvers > 0, 'malformed IPv4 was counted');
  assert.ok(im.arpstat.badformat > 0, 'malformed ARP was counted');
  assert.ok(st.forward > 0 && st.delivered > 0, 'good traffic kept flowing');
});

test(`the image's IPv6 input survives hostile frames with bounded state (seed ${SEED})`, () => {
  const t = inputTarget();
  const n = fuzzInput6(t, new Rng(SEED), Infinity, performance.now() + MS / 2);
  assert.ok(n > 1000, `only ${n} frames fed`);
  const { im } = t;
  assert.ok(im.nd6.size <= im.sysctl.get(nd6MaxEntries), `ND entries ${im.nd6.size}`);
  const st = im.ip6stat;
  assert.ok(st.tooshort + st.toosmall + st.badvers + st.badscope + st.badoptions > 0, 'malformed IPv6 was counted');
  assert.ok(im.icmp6stat.checksum > 0, 'bad ICMPv6 checksums were counted');
  assert.ok(im.icmp6stat.badns + im.icmp6stat.badna > 0, 'invalid ND was counted');
  assert.ok(st.delivered > 0 && im.icmp6stat.reflect > 0, 'echo requests were answered');
  assert.ok(st.forward > 0, 'IPv6 was forwarded');
});

test('the same seed gives the same run', () => {
  const a = inputTarget();
  const b = inputTarget();
  fuzzInput(a, new Rng(7), 3000);
  fuzzInput(b, new Rng(7), 3000);
  assert.deepEqual({ ...a.im.ipstat }, { ...b.im.ipstat });
  assert.deepEqual({ ...a.im.arpstat }, { ...b.im.arpstat });
});

test('an ARP storm from many senders cannot grow the cache past its cap', () => {
  const t = inputTarget();
  t.im.sysctl.set('net.link.ether.inet.max_entries', '64');
  fuzzInput(t, new Rng(99), 20000);
  assert.ok(t.im.arp.entries.size <= 64, `${t.im.arp.entries.size} entries`);
});
