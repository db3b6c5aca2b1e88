import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfCompileError, bpfCompile, pcapCompile } from './bpf_compile.js';
import { bpfFilter } from './bpf_filter.js';

// libpcap0.8 comes with tcpdump (scripts/install-test-tools.sh installs both).
test('pcap_compile through the addon gives the program tcpdump -dd prints', () => {
  assert.deepEqual([...pcapCompile('icmp', 262144)], [0x28, 0, 0, 12, 0x15, 0, 3, 0x800, 0x30, 0, 0, 23, 0x15, 0, 1, 1, 0x6, 0, 0, 262144, 0x6, 0, 0, 0]);
  assert.deepEqual([...pcapCompile('arp', 96)], [0x28, 0, 0, 12, 0x15, 0, 1, 0x806, 0x6, 0, 0, 96, 0x6, 0, 0, 0]);
});

test('a compiled expression runs in the filter machine; an empty one captures everything', async () => {
  const p = (await bpfCompile('udp dst port 6000 and src host 10.0.0.1', 262144))!;
  const f = Uint8Array.from(Buffer.from('02000000000202000000000108004500002100074000401126c30a0000010a00000213881770000d7d0768656c6c6f', 'hex'));
  assert.equal(bpfFilter(p, f, 0, f.length, f.length), 262144);
  const q = (await bpfCompile('udp dst port 6001', 262144))!;
  assert.equal(bpfFilter(q, f, 0, f.length, f.length), 0);
  assert.equal(await bpfCompile('  ', 262144), null);
});

test('a wrong expression is a syntax error with libpcap\'s message', async () => {
  await assert.rejects(bpfCompile('tcp prt 80', 262144), (e: unknown) => e instanceof BpfCompileError && e.reason === 'syntax' && /syntax error/.test(e.message));
  await assert.rejects(bpfCompile('host nosuchhost.invalid', 262144), (e: unknown) => e instanceof BpfCompileError && e.reason === 'syntax');
  assert.throws(() => pcapCompile('ip and', 262144), (e: unknown) => e instanceof BpfCompileError && e.reason === 'syntax');
});
