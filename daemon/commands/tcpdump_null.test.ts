import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Image } from '../../lib/image.js';
import { ImageControl, commandHandles } from '../../lib/control/index.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { Command, CommandContext } from '../command.js';
import { commands as pingCommands } from './ping.js';
import { commands as ping6Commands } from './ping6.js';
import { commands as tcpdumpCommands } from './tcpdump.js';
import { PacketPrinter } from './tcpdump_print.js';

const tcpdump = tcpdumpCommands['tcpdump']!;
const ping = pingCommands['ping']!;

function start(n: TestNet, im: Image, cmd: Command, argv: string[]): { done: Promise<number>; stdout: () => string; bytes: () => Uint8Array; stderr: () => string } {
  const out: string[] = [];
  const raw: Uint8Array[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s), writeBytes: (b) => void raw.push(Uint8Array.from(b)) },
    stderr: { write: (s) => void err.push(s) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: new AbortController().signal,
    json: false,
    pid: 7,
  };
  return { done: cmd(ctx), stdout: () => out.join(''), bytes: () => Uint8Array.from(Buffer.concat(raw)), stderr: () => err.join('') };
}

async function attached(im: Image, ifname: string): Promise<void> {
  const ifp = im.ifnets.get(ifname)!;
  for (let i = 0; i < 1000 && (ifp.bpf === null || ifp.bpf.length === 0); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ifp.bpf !== null && ifp.bpf.length > 0, `a capture on ${ifname}`);
}

const bodies = (text: string): string[] => text.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{6} /, ''));

/** A and B of twoImages (10.0.0.1, 10.0.0.2 on an epair) with a 4in4 gif between them: 10.9.0.1 --> 10.9.0.2. */
function tunnel(): TestNet {
  const n = twoImages();
  for (const [im, me, peer] of [[n.a, 1, 2], [n.b, 2, 1]] as const) {
    const c = new ImageControl(im, n.reg).interfaces;
    const g = c.createGif();
    c.configureGif(g, { src: `10.0.0.${me}`, dst: `10.0.0.${peer}` });
    c.configure(g, [{ kind: 'up' }]);
    c.addAddress(g, (10 << 24) | (9 << 16) | me, 8, { alias: false, dst: (10 << 24) | (9 << 16) | peer });
  }
  return n;
}

test('tcpdump -i gif0 is DLT_NULL: link-type NULL, IP lines, -e prints AF IPv4 (2); filters compile for DLT_NULL', async () => {
  const n = tunnel();
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-n', '-e', '-i', 'gif0', '-c', '2', 'icmp and host 10.9.0.2']);
  await attached(n.a, 'gif0');
  const p = start(n, n.a, ping, ['ping', '-c', '1', '10.9.0.2']);
  await n.run(2000, 100);
  assert.equal(await p.done, 0, p.stdout() + p.stderr());
  assert.equal(await cap.done, 0);
  assert.match(cap.stderr(), /listening on gif0, link-type NULL \(BSD loopback\), snapshot length 262144 bytes\n/);
  const lines = bodies(cap.stdout());
  assert.equal(lines.length, 2, cap.stdout());
  assert.match(lines[0]!, /^AF IPv4 \(2\), length 88: 10\.9\.0\.1 > 10\.9\.0\.2: ICMP echo request, id \d+, seq 0, length 64$/);
  assert.match(lines[1]!, /^AF IPv4 \(2\), length 88: 10\.9\.0\.2 > 10\.9\.0\.1: ICMP echo reply, id \d+, seq 0, length 64$/);
});

test('tcpdump -i gif0 -w - writes pcap with linktype 0; the underlay shows IP in IP as tcpdump prints it', async () => {
  const n = tunnel();
  const ep = [...n.a.ifnets.keys()].find((k) => k.startsWith('epair'))!;
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-i', 'gif0', '-c', '1', '-w', '-']);
  const under = start(n, n.a, tcpdump, ['tcpdump', '-n', '-i', ep, '-c', '1', 'ip proto 4']);
  await attached(n.a, 'gif0');
  await attached(n.a, ep);
  const p = start(n, n.a, ping, ['ping', '-c', '1', '10.9.0.2']);
  await n.run(2000, 100);
  assert.equal(await p.done, 0);
  assert.equal(await cap.done, 0);
  assert.equal(await under.done, 0);
  const b = cap.bytes();
  const v = new DataView(b.buffer, b.byteOffset);
  assert.equal(v.getUint32(0, true), 0xa1b2c3d4);
  assert.equal(v.getUint32(20, true), 0, 'LINKTYPE_NULL');
  assert.equal(v.getUint32(24 + 8, true), 88, 'caplen: 4 + 84');
  assert.deepEqual([...b.subarray(40, 45)], [2, 0, 0, 0, 0x45]);
  assert.match(bodies(under.stdout())[0]!, /^IP 10\.0\.0\.1 > 10\.0\.0\.2: IP 10\.9\.0\.1 > 10\.9\.0\.2: ICMP echo request, id \d+, seq 0, length 64 \(ipip-proto-4\)$/);
});

test('tcpdump -i lo0 is DLT_NULL too; ip6 filters match FreeBSD\'s AF_INET6 (28)', async () => {
  const n = twoImages();
  const cap = start(n, n.a, tcpdump, ['tcpdump', '-n', '-i', 'lo0', '-c', '2', 'ip6']);
  const cap4 = start(n, n.a, tcpdump, ['tcpdump', '-n', '-i', 'lo0', '-c', '2', 'icmp']);
  await attached(n.a, 'lo0');
  const p6 = start(n, n.a, ping6Commands['ping6']!, ['ping6', '-c', '1', '::1']);
  const p4 = start(n, n.a, ping, ['ping', '-c', '1', '127.0.0.1']);
  await n.run(2000, 100);
  await p6.done;
  assert.equal(await p4.done, 0);
  assert.equal(await cap.done, 0);
  assert.equal(await cap4.done, 0);
  assert.match(cap.stderr(), /link-type NULL \(BSD loopback\)/);
  const l6 = bodies(cap.stdout());
  assert.match(l6[0]!, /^IP6 ::1 > ::1: ICMP6, echo request/);
  const l4 = bodies(cap4.stdout());
  assert.match(l4[0]!, /^IP 127\.0\.0\.1 > 127\.0\.0\.1: ICMP echo request/);
  assert.match(l4[1]!, /^IP 127\.0\.0\.1 > 127\.0\.0\.1: ICMP echo reply/);
});

test('DLT_NULL decode of hostile records: short, unknown family, the other byte order', () => {
  const pr = new PacketPrinter({ verbose: 0, link: false, dlt: 0 });
  assert.equal(pr.nullLink(new Uint8Array([2, 0]), 2), ' [|null]');
  assert.match(pr.nullLink(new Uint8Array([99, 0, 0, 0, 1, 2]), 6), /^AF Unknown \(99\), length 6: /);
  assert.match(pr.nullLink(new Uint8Array([0, 0, 0, 2, 0x45]), 5), /^IP  \[\|ip\]$/);
  assert.equal(pr.nullLink(new Uint8Array([2, 0, 0, 0, 0x45, 0, 0]), 7), 'IP  [|ip]');
});
