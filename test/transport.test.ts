/**
 * Transport against Linux: TCP and UDP between a Linux host (a namespace)
 * and image R over a TAP device, with Linux's own tools as the peers.
 *
 *   host A (10.72.1.2) --tap-- R (10.72.1.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, labUnavailable, type Run } from './lab.js';

const P = 'vtp'; // prefix of every namespace and host device this file makes
const HOST = '10.72.1.2';
const IMG = '10.72.1.1';

function missingTools(): string | undefined {
  for (const t of ['nc', 'curl', 'python3']) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/install-test-tools.sh)`;
  return undefined;
}

const skip = labUnavailable() ?? missingTools();

/** Run a command in a namespace in the background; resolves when it exits. */
function bg(ns: string, cmd: string[], opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): { done: Promise<Run & { out: Buffer }>; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const done = new Promise<Run & { out: Buffer }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      const b = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: b.toString(), stderr, out: b });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Named counters' packet counts from `nft -j list counters`. */
function nftCounters(json: string): Record<string, number> {
  const out: Record<string, number> = {};
  const j = JSON.parse(json) as { nftables: Array<{ counter?: { name: string; packets: number } }> };
  for (const e of j.nftables) if (e.counter !== undefined) out[e.counter.name] = e.counter.packets;
  return out;
}

/**
 * TCP data segments in a pcap (Ethernet, tcpdump -w) that were overtaken on
 * the wire: Linux numbers the IP ID of a connected TCP socket's packets in
 * the order it sends them (a GSO packet takes one ID per segment), so a
 * data segment whose ID is behind the highest already seen in its flow left
 * after later ones. Drops before the capture point do not count (the next
 * packet just skips IDs); a duplicate repeats an ID and does not count.
 */
function overtaken(pcap: Buffer): { segments: number; overtaken: number } {
  const le = pcap.readUInt32LE(0) === 0xa1b2c3d4 || pcap.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o));
  const maxId = new Map<string, number>();
  let segments = 0;
  let late = 0;
  for (let o = 24; o + 16 <= pcap.length; ) {
    const caplen = u32(o + 8);
    const f = pcap.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    if (f.length < 14 + 20 || f.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (f[14]! & 0x0f) * 4;
    if (f[14 + 9] !== 6 || f.length < 14 + ihl + 14) continue;
    const payload = f.readUInt16BE(14 + 2) - ihl - (f[14 + ihl + 12]! >> 4) * 4;
    if (payload <= 0) continue;
    segments++;
    const flow = `${f.readUInt32BE(14 + 12)}:${f.readUInt16BE(14 + ihl)}>${f.readUInt32BE(14 + 16)}:${f.readUInt16BE(14 + ihl + 2)}`;
    const id = f.readUInt16BE(14 + 4);
    const max = maxId.get(flow);
    if (max === undefined || ((id - max) & 0xffff) < 0x8000) maxId.set(flow, id);
    else late++;
  }
  return { segments, overtaken: late };
}

describe('transport: TCP and UDP sockets in an image against Linux', { skip }, () => {
  const lab = new Lab(P);
  let A = '';

  /** Wait until `netstat -an` in R shows a line matching `re`. */
  async function waitSocket(re: RegExp): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (re.test(await lab.ok(['R', 'netstat', '-an']))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no socket matching ${re} in R: ${await lab.ok(['R', 'netstat', '-an'])}`);
  }

  /** Wait until something listens on `port` in namespace A. */
  async function waitHostPort(port: number, udp = false): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const ss = lab.inNs(A, ['ss', udp ? '-uln' : '-tln'], { allowFail: true }).stdout;
      if (new RegExp(`:${port}\\s`).test(ss)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nothing listens on ${port} in ${A}`);
  }

  /** Ctrl-C every process in R whose command is `cmd`. */
  async function stop(cmd: string): Promise<void> {
    const ps = await lab.ok(['R', 'ps']);
    for (const m of ps.matchAll(new RegExp(`^\\s*(\\d+)\\s.*\\s${cmd}(?:\\s.*)?$`, 'gm'))) {
      await lab.vimage(['R', 'kill', '-INT', m[1]!]);
    }
  }

  before(async () => {
    await lab.start();
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
  });
  after(async () => {
    await lab.close();
  });

  test('image nc connects to Linux nc -l and its data arrives', async () => {
    const srv = bg(A, ['nc', '-l', '-N', HOST, '7001']);
    await waitHostPort(7001);
    const r = await lab.vimage(['R', 'nc', '-N', HOST, '7001'], { stdin: 'from the image\n' });
    assert.equal(r.code, 0, r.stderr);
    const s = await srv.done;
    assert.equal(s.stdout, 'from the image\n');
  });

  test('Linux nc connects to nc -l in the image, both directions of data', async () => {
    const img = lab.vimage(['R', 'nc', '-l', '7002'], { stdin: 'reply from image\n' });
    await waitSocket(/^tcp4 .* \*\.7002 .* LISTEN$/m);
    const r = lab.inNs(A, ['sh', '-c', `printf 'from linux\\n' | nc -N -w 5 ${IMG} 7002`], { timeoutMs: 15_000 });
    const i = await img;
    assert.equal(i.code, 0, i.stderr);
    assert.equal(i.stdout, 'from linux\n');
    assert.equal(r.code, 0, r.stderr);
  });

  test('a large transfer from Linux to the image and back arrives intact', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-`));
    try {
      const data = Buffer.alloc(4 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 12)) & 0xff;
      const file = path.join(dir, 'blob');
      writeFileSync(file, data);
      // The image echoes everything back; Linux compares.
      const echo = lab.vimage(['R', 'echo', '-t', '-p', '7003'], { timeoutMs: 60_000 });
      await waitSocket(/^tcp4 .* \*\.7003 .* LISTEN$/m);
      const c = bg(A, ['sh', '-c', `nc -N ${IMG} 7003 < ${file}`], { timeoutMs: 20_000 });
      const got = await c.done;
      assert.equal(got.out.length, data.length, got.stderr);
      assert.equal(sha(got.out), sha(data));
      await stop('echo');
      const e = await echo;
      assert.equal(e.code, 130, 'echo server stopped by Ctrl-C');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('UDP both ways between Linux nc -u and the image', async () => {
    const img = lab.vimage(['R', 'nc', '-lu', '7004'], { timeoutMs: 10_000, signalAfterMs: 3000 });
    await waitSocket(/^udp4 .* \*\.7004 /m);
    lab.inNs(A, ['sh', '-c', `printf 'datagram to image\\n' | nc -u -w 1 ${IMG} 7004`]);
    const i = await img;
    assert.equal(i.stdout, 'datagram to image\n');

    const host = bg(A, ['nc', '-lu', '-W', '1', HOST, '7005'], { timeoutMs: 10_000 });
    await waitHostPort(7005, true);
    const r = await lab.vimage(['R', 'nc', '-u', '-w', '1', HOST, '7005'], { stdin: 'datagram to linux\n' });
    assert.equal(r.code, 0, r.stderr);
    const h = await host.done;
    assert.equal(h.stdout, 'datagram to linux\n');
  });

  test('a closed TCP port in the image answers RST: Linux nc -z fails fast with Connection refused', () => {
    const t0 = Date.now();
    const r = lab.inNs(A, ['nc', '-z', '-v', '-w', '5', IMG, '7999'], { allowFail: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Connection refused/);
    assert.ok(Date.now() - t0 < 2000, 'refused at once, not after a timeout');
  });

  test('a closed UDP port in the image answers ICMP port unreachable (Linux sees ECONNREFUSED)', () => {
    const py = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("${IMG}", 7998))
s.send(b"x")
try:
    s.recv(100)
    print("got data")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
`;
    const r = lab.inNs(A, ['python3', '-c', py]);
    assert.equal(r.stdout.trim(), 'refused');
  });

  test('image nc -z against Linux: open and closed ports', async () => {
    const srv = bg(A, ['nc', '-l', HOST, '7006']);
    await waitHostPort(7006);
    const open = await lab.vimage(['R', 'nc', '-zv', HOST, '7006']);
    assert.equal(open.code, 0);
    assert.equal(open.stderr, `Connection to ${HOST} 7006 port [tcp/*] succeeded!\n`);
    srv.kill();
    await srv.done;
    const closed = await lab.vimage(['R', 'nc', '-z', HOST, '7997']);
    assert.equal(closed.code, 1);
    assert.equal(closed.stderr, `nc: connect to ${HOST} port 7997 (tcp) failed: Connection refused\n`);
  });

  test('curl downloads files of several sizes from httpd in the image, checksums intact, over one keep-alive connection', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
    try {
      const sizes = [0, 1, 1460, 65536, 1_000_003, 8 << 20];
      const sums: string[] = [];
      for (const n of sizes) {
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) b[i] = (i * 17 + (i >> 10)) & 0xff;
        writeFileSync(path.join(dir, `f${n}.bin`), b);
        sums.push(sha(b));
      }
      writeFileSync(path.join(dir, 'index.html'), '<h1>vimage</h1>\n');
      const srv = lab.vimage(['R', 'httpd', '-p', '8080', '-r', dir], { timeoutMs: 60_000 });
      await waitSocket(/^tcp4 .* \*\.8080 .* LISTEN$/m);
      const urls = sizes.map((n) => `http://${IMG}:8080/f${n}.bin`);
      const outs = sizes.map((n) => path.join(dir, `got${n}`));
      const args = urls.flatMap((u, i) => [u, '-o', outs[i]!]);
      const r = lab.inNs(A, ['curl', '-sS', '--fail', '-w', '%{num_connects} ', ...args], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split(/\s+/).map(Number).reduce((x, y) => x + y, 0), 1, 'one connection for all files (keep-alive)');
      sizes.forEach((n, i) => assert.equal(sha(readFileSync(outs[i]!)), sums[i], `file of ${n} bytes`));
      const idx = lab.inNs(A, ['curl', '-sS', `http://${IMG}:8080/`]);
      assert.equal(idx.stdout, '<h1>vimage</h1>\n');
      const missing = lab.inNs(A, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${IMG}:8080/nope`]);
      assert.equal(missing.stdout, '404');
      const escape = lab.inNs(A, ['curl', '-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `http://${IMG}:8080/../../etc/passwd`]);
      assert.equal(escape.stdout, '404', 'no way out of the document root');
      await stop('httpd');
      await srv;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('stock iperf3 against iperf3 -s in the image: TCP both ways, UDP both ways', async () => {
    const srv = lab.vimage(['R', 'iperf3', '-s', '-p', '5301'], { timeoutMs: 90_000 });
    await waitSocket(/^tcp46? .* \*\.5301 .* LISTEN$/m);
    // Paced (-b): this checks the protocol and the data path, not speed (npm run bench does), and
    // leaves CPU to system tests running beside it.
    for (const extra of [['-b', '1G'], ['-b', '1G', '-R'], ['-u', '-b', '20M'], ['-u', '-b', '20M', '-R'], ['-b', '200M', '-P', '3']]) {
      const r = lab.inNs(A, ['iperf3', '-c', IMG, '-p', '5301', '-t', '1', '-J', ...extra], { timeoutMs: 30_000, allowFail: true });
      assert.equal(r.code, 0, `iperf3 ${extra.join(' ')}: ${r.stdout.slice(-600)} ${r.stderr}`);
      const j = JSON.parse(r.stdout) as { end: { sum_received?: { bytes: number; bits_per_second: number }; sum?: { bytes: number; lost_percent?: number } } };
      const got = j.end.sum_received?.bytes ?? j.end.sum?.bytes ?? 0;
      assert.ok(got > 1_000_000, `iperf3 ${extra.join(' ')} moved ${got} bytes`);
    }
    await stop('iperf3');
    const s = await srv;
    assert.match(s.stdout, /Server listening on 5301 \(test #1\)/);
    assert.match(s.stdout, /receiver\n/);
  });

  /** Echo 3 MiB through the image and download it from httpd; checksums must match. */
  async function transfersIntact(tag: string): Promise<void> {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-${tag}-`));
    try {
      const data = Buffer.alloc(3 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 151 + (i >> 11)) & 0xff;
      const file = path.join(dir, 'blob.bin');
      writeFileSync(file, data);
      const echo = lab.vimage(['R', 'echo', '-t', '-p', '7010'], { timeoutMs: 120_000 });
      const web = lab.vimage(['R', 'httpd', '-p', '8090', '-r', dir], { timeoutMs: 120_000 });
      await waitSocket(/^tcp4 .* \*\.7010 .* LISTEN$/m);
      await waitSocket(/^tcp4 .* \*\.8090 .* LISTEN$/m);
      const c = await bg(A, ['sh', '-c', `nc -N ${IMG} 7010 < ${file}`], { timeoutMs: 60_000 }).done;
      assert.equal(c.out.length, data.length, c.stderr);
      assert.equal(sha(c.out), sha(data), 'echoed intact');
      const got = path.join(dir, 'got.bin');
      const r = lab.inNs(A, ['curl', '-sS', '--fail', '-o', got, `http://${IMG}:8090/blob.bin`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha(readFileSync(got)), sha(data), 'downloaded intact');
      // Stop both servers (they would otherwise hold the ports for the next test).
      await stop('echo');
      await stop('httpd');
      await echo;
      await web;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const netem = ((): boolean => {
    if (skip !== undefined) return false;
    spawnSync('ip', ['netns', 'add', `${P}probe`]);
    const r = spawnSync('ip', ['netns', 'exec', `${P}probe`, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    spawnSync('ip', ['netns', 'del', `${P}probe`]);
    return r.status === 0;
  })();

  test('with tc netem loss, reordering, duplication and delay both ways, transfers arrive intact', { skip: netem ? false : 'tc netem is not available in this kernel (sch_netem)' }, async () => {
    const dev = `${P}a0`;
    const ifb = `${P}ifb0`;
    const impair = ['netem', 'delay', '5ms', '1ms', 'loss', '2%', 'duplicate', '1%', 'reorder', '10%', '50%'];
    // Linux -> image: egress of the host side; image -> Linux: its ingress, redirected through an ifb.
    lab.inNs(A, ['tc', 'qdisc', 'add', 'dev', dev, 'root', ...impair]);
    lab.inNs(A, ['ip', 'link', 'add', ifb, 'type', 'ifb']);
    lab.inNs(A, ['ip', 'link', 'set', ifb, 'up']);
    lab.inNs(A, ['tc', 'qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress']);
    lab.inNs(A, ['tc', 'filter', 'add', 'dev', dev, 'parent', 'ffff:', 'matchall', 'action', 'mirred', 'egress', 'redirect', 'dev', ifb]);
    lab.inNs(A, ['tc', 'qdisc', 'add', 'dev', ifb, 'root', ...impair]);
    try {
      await transfersIntact('netem');
      const st = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
      assert.match(st, /\t\t[1-9]\d* data packets? \(\d+ bytes?\) retransmitted\n/, 'the image recovered losses');
      assert.match(st, /\t\t[1-9]\d* out-of-order packets? \(/, 'the image reassembled');
    } finally {
      lab.inNs(A, ['tc', 'qdisc', 'del', 'dev', dev, 'root'], { allowFail: true });
      lab.inNs(A, ['tc', 'qdisc', 'del', 'dev', dev, 'ingress'], { allowFail: true });
      lab.inNs(A, ['ip', 'link', 'del', ifb], { allowFail: true });
    }
  });

  test('with loss, reordering and duplication made by nftables and HTB on the host side (and delay from dummynet in the image), transfers arrive intact', async (t) => {
    // The netem test's impairments, from parts that every kernel here has (no sch_netem):
    //   loss          1% each way: nft netdev ingress (image -> Linux) and egress (Linux -> image)
    //   duplication   1% each way: Linux -> image, netdev egress `dup to` the TAP itself;
    //                 image -> Linux, ip prerouting `dup to` Linux's own address via lo, so the
    //                 copy is delivered to Linux's TCP as well
    //   reordering    Linux -> image: nft sets skb->priority 1:20 on ~10% of packets; HTB holds
    //                 them in a class of lower priority, so later segments overtake them
    //   delay         dummynet pipes in the image, 2 ms each way
    // Loss and delay are smaller than the netem test's, and segments are MSS-sized, to keep it
    // within ~15 s: with data flowing both ways (the echo) every lost segment costs the image an
    // RTO (at least rexmit_min + rexmit_slop, 230 ms).
    // Not skips: CI installs both (scripts/install-test-tools.sh), so a missing one is a broken setup.
    assert.ok(has('nft'), 'nft is not installed: run scripts/install-test-tools.sh (Debian package nftables)');
    assert.ok(has('tcpdump'), 'tcpdump is not installed: run scripts/install-test-tools.sh');
    const dev = `${P}a0`;
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-nft-`));
    const rules = `
table netdev ${P}_impair {
  counter in_seen {}
  counter in_drop {}
  counter out_seen {}
  counter out_drop {}
  counter out_dup {}
  counter out_slow {}
  chain in {
    type filter hook ingress device "${dev}" priority 0; policy accept;
    meta protocol ip counter name "in_seen"
    meta protocol ip numgen random mod 100 < 1 counter name "in_drop" drop
  }
  chain out {
    type filter hook egress device "${dev}" priority 0; policy accept;
    meta protocol ip counter name "out_seen"
    meta protocol ip numgen random mod 100 < 1 counter name "out_drop" drop
    meta protocol ip numgen random mod 100 < 1 counter name "out_dup" dup to "${dev}"
    meta protocol ip numgen random mod 100 < 10 counter name "out_slow" meta priority set 1:20
  }
}
table ip ${P}_dup {
  counter in_dup {}
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    iifname "${dev}" numgen random mod 100 < 1 counter name "in_dup" dup to ${HOST} device "lo"
  }
}
`;
    const rulesFile = path.join(dir, 'impair.nft');
    writeFileSync(rulesFile, rules);
    const pcap = path.join(dir, 'out.pcap');
    let capture: ReturnType<typeof bg> | undefined;
    // One segment per packet both ways, so that the per-packet impairments act on thousands of
    // segments, not on a few dozen 64 KiB GSO packets.
    const gsoSegs = /gso_max_segs (\d+)/.exec(lab.inNs(A, ['ip', '-d', 'link', 'show', dev]).stdout)?.[1] ?? '65535';
    const tso = (await lab.ok(['R', 'sysctl', '-n', 'net.inet.tcp.tso'])).trim();
    try {
      lab.inNs(A, ['ip', 'link', 'set', dev, 'gso_max_segs', '1']);
      await lab.ok(['R', 'sysctl', 'net.inet.tcp.tso=0']);
      lab.inNs(A, ['nft', '-f', rulesFile]);
      // Linux -> image at 100 Mbit/s (2 packets of burst, so TCP's bursts queue). The marked ~10%
      // wait in a class of lower priority and 10 Mbit/s: queued packets of the default class go
      // first, so later segments overtake them. At most ~24 ms in that class, then it drops.
      const htb = (...a: string[]): Run => lab.inNs(A, ['tc', ...a, 'quantum', '3000']);
      lab.inNs(A, ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
      htb('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100mbit', 'burst', '3000', 'cburst', '3000');
      htb('class', 'add', 'dev', dev, 'parent', '1:1', 'classid', '1:10', 'htb', 'rate', '100mbit', 'burst', '3000', 'cburst', '3000', 'prio', '0');
      htb('class', 'add', 'dev', dev, 'parent', '1:1', 'classid', '1:20', 'htb', 'rate', '10mbit', 'ceil', '10mbit', 'burst', '1600', 'cburst', '1600', 'prio', '1');
      lab.inNs(A, ['tc', 'qdisc', 'add', 'dev', dev, 'parent', '1:20', 'handle', '20:', 'bfifo', 'limit', '30000']);
      await lab.ok(['R', 'ipfw', '-q', 'flush']);
      await lab.ok(['R', 'ipfw', 'pipe', '11', 'config', 'delay', '2']);
      await lab.ok(['R', 'ipfw', 'pipe', '12', 'config', 'delay', '2']);
      await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '11', 'tcp', 'from', 'any', 'to', 'any', 'in']);
      await lab.ok(['R', 'ipfw', '-q', 'add', '110', 'pipe', '12', 'tcp', 'from', 'any', 'to', 'any', 'out']);
      await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
      await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
      // What leaves Linux for the image, in wire order (after HTB), to count overtaken segments.
      capture = bg(A, ['tcpdump', '-i', dev, '-Q', 'out', '-n', '-s', '96', '-U', '-w', pcap, 'tcp'], { timeoutMs: 90_000 });
      for (let i = 0; i < 100 && !(existsSync(pcap) && statSync(pcap).size >= 24); i++) await new Promise((r) => setTimeout(r, 50));
      const before = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
      await transfersIntact('nft');
      const st = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
      capture.kill();
      await capture.done;
      capture = undefined;
      const c = nftCounters(lab.inNs(A, ['nft', '-j', 'list', 'counters']).stdout);
      const w = overtaken(readFileSync(pcap));
      const stat = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? 0);
      const ooo = /\t(\d+) out-of-order packets? \(/;
      const dupp = /\t(\d+) completely duplicate packets? \(/;
      const rto = /\t(\d+) retransmit timeouts?\n/;
      const fast = /\t(\d+) fast retransmits?\n/;
      const report =
        `nft ${JSON.stringify(c)}; wire: ${w.segments} data segments, ${w.overtaken} overtaken; image: ${stat(ooo, st) - stat(ooo, before)} out-of-order, ` +
        `${stat(dupp, st) - stat(dupp, before)} duplicate, ${stat(fast, st) - stat(fast, before)} fast retransmits, ${stat(rto, st) - stat(rto, before)} retransmit timeouts`;
      t.diagnostic(report);
      for (const k of ['in_drop', 'out_drop', 'in_dup', 'out_dup', 'out_slow']) assert.ok((c[k] ?? 0) > 0, `${k} happened (${report})`);
      assert.ok(w.overtaken > 0, `HTB reordered Linux -> image segments (${report})`);
      assert.ok(stat(ooo, st) > stat(ooo, before), `the image reassembled out-of-order segments (${report})`);
      assert.ok(stat(dupp, st) > stat(dupp, before), `the image discarded duplicate segments (${report})`);
    } finally {
      capture?.kill();
      await capture?.done;
      lab.inNs(A, ['nft', 'delete', 'table', 'netdev', `${P}_impair`], { allowFail: true });
      lab.inNs(A, ['nft', 'delete', 'table', 'ip', `${P}_dup`], { allowFail: true });
      lab.inNs(A, ['tc', 'qdisc', 'del', 'dev', dev, 'root'], { allowFail: true });
      lab.inNs(A, ['ip', 'link', 'set', dev, 'gso_max_segs', gsoSegs], { allowFail: true });
      await lab.vimage(['R', 'sysctl', `net.inet.tcp.tso=${tso}`]);
      await lab.vimage(['R', 'sysctl', 'net.inet.ip.fw.enable=0']);
      await lab.vimage(['R', 'ipfw', '-q', 'flush']);
      await lab.vimage(['R', 'ipfw', 'pipe', '11', 'delete']);
      await lab.vimage(['R', 'ipfw', 'pipe', '12', 'delete']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with 2% loss and 5 ms delay both ways (dummynet in the image), transfers arrive intact', async () => {
    await lab.ok(['R', 'ipfw', '-q', 'flush']);
    await lab.ok(['R', 'ipfw', 'pipe', '1', 'config', 'delay', '5', 'plr', '0.02']);
    await lab.ok(['R', 'ipfw', 'pipe', '2', 'config', 'delay', '5', 'plr', '0.02']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'pipe', '1', 'tcp', 'from', 'any', 'to', 'any', 'in']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '110', 'pipe', '2', 'tcp', 'from', 'any', 'to', 'any', 'out']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '1000', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
    try {
      const before = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
      const rexmit = (t: string): number => Number(/\t(\d+) data packets? \(\d+ bytes?\) retransmitted/.exec(t)?.[1] ?? 0);
      await transfersIntact('plr');
      const st = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
      assert.ok(rexmit(st) > rexmit(before), `the image retransmitted what dummynet dropped\n${st}`);
    } finally {
      await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=0']);
      await lab.ok(['R', 'ipfw', '-q', 'flush']);
    }
  });

  test('a SYN flood (hping3, random sources) fills the listen queue; SYN cookies still let a real client in', { skip: spawnSync('sh', ['-c', 'command -v hping3']).status === 0 ? false : 'hping3 is not installed' }, async () => {
    const echo = lab.vimage(['R', 'echo', '-t', '-p', '7020'], { timeoutMs: 60_000 });
    await waitSocket(/^tcp4 .* \*\.7020 .* LISTEN$/m);
    const flood = bg(A, ['hping3', '-q', '-S', '-p', '7020', '-i', 'u200', '-c', '4000', '--rand-source', IMG], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    const c = lab.inNs(A, ['sh', '-c', `printf 'through the flood\n' | nc -N -w 5 ${IMG} 7020`], { timeoutMs: 15_000 });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'through the flood\n');
    await flood.done;
    const st = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
    assert.match(st, /\t[1-9]\d* cookies? sent\n/, st);
    const q = await lab.ok(['R', 'netstat', '-L']);
    assert.match(q, /tcp4  \d+\/(\d+)\/128 +\*\.7020/, 'half-open connections are bounded');
    const inc = Number(/tcp4  \d+\/(\d+)\/128/.exec(q)![1]);
    assert.ok(inc <= 193, `incomplete ${inc} <= 1.5 x backlog + 1`);
    await stop('echo');
    await echo;
  });

  test('many concurrent connections, a half-closed one and a slow reader', async () => {
    const echo = lab.vimage(['R', 'echo', '-t', '-p', '7030'], { timeoutMs: 60_000 });
    const chargen = lab.vimage(['R', 'chargen', '-t', '-p', '7031'], { timeoutMs: 60_000 });
    await waitSocket(/^tcp4 .* \*\.7030 .* LISTEN$/m);
    await waitSocket(/^tcp4 .* \*\.7031 .* LISTEN$/m);
    const py = `
import socket, threading, hashlib, time, sys
ok = []
def one(i):
    data = bytes((i * 7 + j) & 0xff for j in range(200000))
    s = socket.create_connection(("${IMG}", 7030))
    def rd(out):
        while True:
            b = s.recv(65536)
            if not b: break
            out.append(b)
    got = []
    t = threading.Thread(target=rd, args=(got,)); t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)   # half-close: the echo keeps coming back
    t.join()
    ok.append(b"".join(got) == data)
ts = [threading.Thread(target=one, args=(i,)) for i in range(64)]
[t.start() for t in ts]; [t.join() for t in ts]
print("echo", sum(ok), len(ok))
# A slow reader of chargen: the image must wait on the closed window, not drop or flood.
s = socket.create_connection(("${IMG}", 7031))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
n = 0
for k in range(30):
    n += len(s.recv(4096)); time.sleep(0.05)
time.sleep(1.0)
b = s.recv(74)
print("slow", n > 0, len(b) > 0)
s.close()
`;
    const r = lab.inNs(A, ['python3', '-c', py], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^echo 64 64$/m);
    assert.match(r.stdout, /^slow True True$/m);
    await stop('echo');
    await stop('chargen');
    await echo;
    await chargen;
  });

  test('netstat -s -p tcp in the image counts what happened', async () => {
    const out = await lab.ok(['R', 'netstat', '-s', '-p', 'tcp']);
    assert.match(out, /^tcp:\n/);
    assert.match(out, /\t[1-9]\d* connection accepts?\n/);
    assert.match(out, /\t[1-9]\d* resets? sent\n/);
  });
});
