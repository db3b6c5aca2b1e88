import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Image } from '../../lib/image.js';
import { commandHandles } from '../../lib/control/index.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { Command, CommandContext } from '../command.js';
import { commands as pingCommands } from './ping.js';
import { commands as tcpdumpCommands } from './tcpdump.js';

const tcpdump = tcpdumpCommands['tcpdump']!;
const ping = pingCommands['ping']!;

interface Proc {
  done: Promise<number>;
  stdout: () => string;
  bytes: () => Uint8Array;
  stderr: () => string;
  abort: () => void;
}

function start(n: TestNet, im: Image, cmd: Command, argv: string[]): Proc {
  const out: string[] = [];
  const raw: Uint8Array[] = [];
  const err: string[] = [];
  const ac = new AbortController();
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s), writeBytes: (b) => void raw.push(Uint8Array.from(b)) },
    stderr: { write: (s) => void err.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: ac.signal,
    json: false,
    pid: 7,
  };
  return {
    done: cmd(ctx),
    stdout: () => out.join(''),
    bytes: () => Uint8Array.from(Buffer.concat(raw)),
    stderr: () => err.join(''),
    abort: () => ac.abort('SIGINT'),
  };
}

/**
 * Wait (real time) until a capture is attached to `ifname`: the filter is
 * compiled on libuv's pool first, and the test's clock is manual, so nothing
 * else keeps the event loop alive or tells when the capture started.
 */
async function attached(im: Image, ifname: string): Promise<void> {
  const ifp = im.ifnets.get(ifname)!;
  for (let i = 0; i < 1000 && (ifp.bpf === null || ifp.bpf.length === 0); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ifp.bpf !== null && ifp.bpf.length > 0, `a capture on ${ifname}`);
}

/** The line bodies, without the timestamps. */
const bodies = (text: string): string[] => text.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{6} /, ''));

test('tcpdump -c 4 icmp on an epair shows the ping across it, then the three counts', async () => {
  const n = twoImages();
  const ifname = [...n.a.ifnets.keys()].find((k) => k.startsWith('epair'))!;
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-n', '-i', ifname, '-c', '4', 'icmp']);
  await attached(n.a, ifname);
  const p = start(n, n.b, ping, ['ping', '-c', '2', '10.0.0.1']);
  await n.run(3000, 100);
  assert.equal(await p.done, 0);
  assert.equal(await cap.done, 0);
  const lines = bodies(cap.stdout());
  assert.equal(lines.length, 4, cap.stdout());
  assert.match(lines[0]!, /^IP 10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo request, id \d+, seq 0, length 64$/);
  assert.match(lines[1]!, /^IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo reply, id \d+, seq 0, length 64$/);
  assert.match(lines[3]!, /echo reply, id \d+, seq 1, length 64$/);
  assert.match(cap.stdout(), /^\d\d:\d\d:\d\d\.\d{6} IP /);
  const err = cap.stderr();
  assert.ok(
    err.startsWith(`tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\nlistening on ${ifname}, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n`),
    err,
  );
  // Received counts every frame the tap saw (the ARP exchange too), as FreeBSD's bpf does.
  const m = /\n4 packets captured\n(\d+) packets received by filter\n0 packets dropped by kernel\n$/.exec(err);
  assert.ok(m !== null && Number(m[1]) >= 6, err);
  assert.equal(n.a.ifnets.get(ifname)!.bpf, null, 'the capture is detached when tcpdump ends');
});

test('Ctrl-C stops the capture: a newline, then the counts; ARP passes no icmp filter but is received', async () => {
  const n = twoImages();
  const ifname = [...n.b.ifnets.keys()][1]!;
  const cap = start(n, n.b, tcpdump, ['tcpdump', '-i', ifname, '-e', 'arp']);
  await attached(n.b, ifname);
  const p = start(n, n.b, ping, ['ping', '-c', '1', '10.0.0.1']);
  await n.run(2000, 100);
  await p.done;
  cap.abort();
  assert.equal(await cap.done, 0);
  // B's request and A's answer (the stack pads ARP to the Ethernet minimum, as Linux does); A's gratuitous ARP may come first.
  const lines = bodies(cap.stdout()).filter((l) => !/tell 10\.0\.0\.1,/.test(l));
  assert.equal(lines.length, 2, cap.stdout());
  assert.match(lines[0]!, /^[0-9a-f:]{17} > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), length 60: Request who-has 10\.0\.0\.1 tell 10\.0\.0\.2, length 46$/);
  assert.match(lines[1]!, /ethertype ARP \(0x0806\), length 60: Reply 10\.0\.0\.1 is-at [0-9a-f:]{17}, length 46$/);
  assert.ok(cap.stdout().endsWith('\n\n'));
  const m = /\n(\d+) packets captured\n(\d+) packets received by filter\n0 packets dropped by kernel\n$/.exec(cap.stderr());
  assert.ok(m !== null, cap.stderr());
  assert.equal(Number(m[1]), bodies(cap.stdout()).length);
  assert.ok(Number(m[2]) >= Number(m[1]) + 2, 'the ping itself was received by the filter but not captured');
});

test('-w - writes a pcap stream: the file header, then one record per packet', async () => {
  const n = twoImages();
  const ifname = [...n.a.ifnets.keys()].find((k) => k.startsWith('epair'))!;
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-i', ifname, '-w', '-', '-c', '2', '-s', '60', 'icmp']);
  await attached(n.a, ifname);
  const p = start(n, n.b, ping, ['ping', '-c', '1', '10.0.0.1']);
  await n.run(2000, 100);
  await p.done;
  assert.equal(await cap.done, 0);
  assert.equal(cap.stdout(), '');
  assert.match(cap.stderr(), /^tcpdump: listening on epair\w+, link-type EN10MB \(Ethernet\), snapshot length 60 bytes\n2 packets captured\n/);
  const b = cap.bytes();
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(v.getUint32(0, true), 0xa1b2c3d4);
  assert.deepEqual([v.getUint16(4, true), v.getUint16(6, true), v.getUint32(16, true), v.getUint32(20, true)], [2, 4, 60, 1]);
  assert.equal(b.length, 24 + 2 * (16 + 60));
  assert.deepEqual([v.getUint32(24 + 8, true), v.getUint32(24 + 12, true)], [60, 98]);
  assert.equal(b[24 + 16 + 12], 0x08); // EtherType IPv4
  assert.equal(b[24 + 16 + 14 + 9], 1); // ICMP
});

test('user errors: a bad filter, an unknown interface, bad -c and -s, -w FILE sent to the daemon', async () => {
  const n = twoImages();
  const run = async (argv: string[]): Promise<[number, string]> => {
    const p = start(n, n.a, tcpdump, ['tcpdump', ...argv]);
    return [await p.done, p.stderr()];
  };
  assert.deepEqual(await run(['-i', 'lo0', 'tcp prt 80']), [1, 'tcpdump: can\'t parse filter expression: syntax error\n']);
  assert.deepEqual(await run(['-i', 'nope0']), [1, 'tcpdump: nope0: No such device exists\n(BIOCSETIF failed: Device not configured)\n']);
  assert.equal((await run(['-c', '0']))[0], 64);
  assert.match((await run(['-c', 'x']))[1], /^tcpdump: invalid packet count x\n$/);
  assert.match((await run(['-s', '-1']))[1], /^tcpdump: invalid snaplen -1\n$/);
  assert.match((await run(['-w', 'out.pcap']))[1], /does not open files/);
  assert.match((await run(['-Z']))[1], /illegal option -- Z/);
  const list = start(n, n.a, tcpdump, ['tcpdump', '-D']);
  assert.equal(await list.done, 0);
  assert.match(list.stdout(), /^1\.lo0 \[Up, Running, Loopback\]\n2\.epair0a \[Up, Running, Connected\]\n$/);
});

test('the interface going away ends the capture with tcpdump\'s read error and the counts', async () => {
  const n = twoImages();
  const ifname = [...n.a.ifnets.keys()].find((k) => k.startsWith('epair'))!;
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-i', ifname]);
  await attached(n.a, ifname);
  const ifp = n.a.ifnets.get(ifname)!;
  assert.equal(ifp.bpf?.length, 1);
  n.reg.destroyIfnet(n.a, ifp);
  await n.run(1500, 100);
  assert.equal(await cap.done, 1);
  assert.match(cap.stderr(), /\ntcpdump: pcap_loop: The interface disappeared\n(\d+) packets? captured\n\1 packets? received by filter\n0 packets dropped by kernel\n$/);
  assert.equal(ifp.bpf, null);
});
