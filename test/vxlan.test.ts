/**
 * vxlan(4) against Linux and between daemons.
 *
 * (a) Image R: tap0 (10.77.0.1) to namespace L (vvxt0, 10.77.0.2) is the
 *     underlay; R's vxlan0 (VNI 42) is a member of bridge0, which holds
 *     10.78.0.1; L has Linux's `vxlan` device vx0 (VNI 42, port 4789) at
 *     10.78.0.2. They ping both ways, tcpdump -i vxlan0 shows the inner
 *     frames, and after a daemon restart it all works again.
 *
 *     R: bridge0 10.78.0.1 [vxlan0] ~~ tap0 10.77.0.1 --TAP-- L: vvxt0 10.77.0.2, vx0 10.78.0.2
 *
 * (b) Two daemons, each with an image whose TAP goes into a Linux bridge
 *     in namespace U (10.79.0.0/24 underlay); their vxlan interfaces join
 *     one segment (10.80.0.0/24) and the images ping each other.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, Lab, labUnavailable, sh, until } from './lab.js';

const P = 'vvx'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();

describe('vxlan(4) with a Linux vxlan device, and between two daemons', { skip }, () => {
  const lab = new Lab(P);
  const labA = new Lab(`${P}A`);
  const labB = new Lab(`${P}B`);
  let L = '';
  let U = '';

  before(async () => {
    await lab.start();
    L = lab.netns('L');
    await lab.ok(['-c', 'R']);
    const tap = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}t0`])).trim();
    lab.wireHost(`${P}t0`, L, '10.77.0.2/24');
    await lab.ok(['R', 'ifconfig', tap, 'inet', '10.77.0.1/24', 'up']);
    sh('ip', ['-n', L, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'remote', '10.77.0.1', 'local', '10.77.0.2', 'dstport', '4789', 'dev', `${P}t0`]);
    sh('ip', ['-n', L, 'addr', 'add', '10.78.0.2/24', 'dev', 'vx0']);
    sh('ip', ['-n', L, 'link', 'set', 'vx0', 'up']);
  });
  after(async () => {
    await labA.close();
    await labB.close();
    await lab.close();
  });

  test('ifconfig vxlan create prints vxlan0 and shows FreeBSD\'s vxlan line with MTU 1450', async () => {
    assert.equal(await lab.ok(['R', 'ifconfig', 'vxlan', 'create', 'vxlanid', '42', 'vxlanlocal', '10.77.0.1', 'vxlanremote', '10.77.0.2', 'vxlanport', '4789']), 'vxlan0\n');
    assert.equal(await lab.ok(['R', 'ifconfig', 'bridge', 'create']), 'bridge0\n');
    await lab.ok(['R', 'ifconfig', 'vxlan0', 'up']);
    await lab.ok(['R', 'ifconfig', 'bridge0', 'addm', 'vxlan0', 'up']);
    await lab.ok(['R', 'ifconfig', 'bridge0', 'inet', '10.78.0.1/24']);
    const out = await lab.ok(['R', 'ifconfig', 'vxlan0']);
    assert.match(out, /^vxlan0: flags=[0-9a-f]+<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST[^>]*> metric 0 mtu 1450\n/);
    assert.match(out, /\tgroups: vxlan\n\tvxlan vni 42 local 10\.77\.0\.1:4789 remote 10\.77\.0\.2:4789\n/);
    const j = JSON.parse(await lab.ok(['--json', 'R', 'ifconfig', 'vxlan0'])) as { interfaces: Array<{ vxlan: { vni: number; remote: string } }> };
    assert.deepEqual([j.interfaces[0]!.vxlan.vni, j.interfaces[0]!.vxlan.remote], [42, '10.77.0.2']);
  });

  test('Linux and the image ping each other through the vxlan, both ways; tcpdump -i vxlan0 sees the inner frames', async () => {
    const dump = spawn(process.execPath, [CLI, 'R', 'tcpdump', '-n', '-i', 'vxlan0', '-c', '2', 'icmp'], { env: { ...process.env, VIMAGE_SOCKET: lab.sock } });
    let dumped = '';
    let dumpErr = '';
    dump.stdout.on('data', (c: Buffer) => (dumped += c.toString()));
    dump.stderr.on('data', (c: Buffer) => (dumpErr += c.toString()));
    const dumpDone = new Promise<void>((r) => dump.on('close', () => r()));
    try {
      await until('tcpdump to listen', () => /listening on/.test(dumpErr));
      const r = lab.inNs(L, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.78.0.1']);
      assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
      await Promise.race([dumpDone, new Promise((r2) => setTimeout(r2, 5000))]);
    } finally {
      dump.kill('SIGKILL');
    }
    assert.match(dumped, /IP 10\.78\.0\.2 > 10\.78\.0\.1: ICMP echo request/, dumped + dumpErr);
    assert.match(dumped, /IP 10\.78\.0\.1 > 10\.78\.0\.2: ICMP echo reply/);
    const back = await lab.ok(['R', 'ping', '-c', '3', '-i', '0.2', '10.78.0.2']);
    assert.match(back, /3 packets transmitted, 3 packets received/);
    // The outer packets went over the TAP as UDP to 4789 (Linux's counters), and R learned Linux's MAC behind 10.77.0.2.
    const st = lab.inNs(L, ['ip', '-s', 'link', 'show', 'vx0']).stdout;
    assert.match(st, /RX:[^\n]*\n\s+(\d+)\s+([1-9]\d*)/);
    const v = await lab.ok(['R', 'ifconfig', '-v', 'vxlan0']);
    assert.match(v, /ftable: cnt [1-9]\d* max 2000 timeout 1200/);
  });

  test('TCP over the vxlan: Linux fetches 300 kB from httpd in the image, intact', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
    try {
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
      writeFileSync(path.join(dir, 'big'), data);
      chmodSync(dir, 0o755);
      await lab.ok(['-b', 'R', 'httpd', '-p', '8080', '-r', dir]);
      const out = path.join(dir, 'got');
      const r = lab.inNs(L, ['curl', '-s', '-m', '20', '-o', out, 'http://10.78.0.1:8080/big'], { allowFail: true });
      assert.equal(r.code, 0, `curl: ${r.stderr}`);
      assert.ok(readFileSync(out).equals(data), 'the file came through intact');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('TCP the other way: iperf3 from Linux to the image over the vxlan moves over a megabyte without error', async () => {
    await lab.ok(['-b', 'R', 'iperf3', '-s', '-1']);
    await new Promise((r) => setTimeout(r, 300));
    const r = lab.inNs(L, ['iperf3', '-c', '10.78.0.1', '-t', '2', '-J'], { timeoutMs: 30_000, allowFail: true });
    const res = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bytes: number } } };
    assert.equal(res.error, undefined);
    assert.ok(res.end.sum_received.bytes > 1_000_000, `received ${res.end.sum_received.bytes} bytes`);
  });

  test('after a daemon restart the vxlan is back, running, and Linux pings through it again', async () => {
    const d = lab.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGTERM');
    await exited;
    await lab.start();
    const out = await lab.ok(['R', 'ifconfig', 'vxlan0']);
    assert.match(out, /RUNNING/);
    assert.match(out, /vxlan vni 42 local 10\.77\.0\.1:4789 remote 10\.77\.0\.2:4789/);
    assert.match(await lab.ok(['R', 'ifconfig', 'bridge0']), /member: vxlan0 /);
    await until('Linux to reach the image again', () => /1 received/.test(lab.inNs(L, ['ping', '-c', '1', '-W', '1', '10.78.0.1'], { allowFail: true }).stdout), 15_000);
    const r = lab.inNs(L, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.78.0.1']);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
  });

  test('two daemons, each through its own TAP into a Linux bridge, join one segment and their images ping each other', async () => {
    U = lab.netns('U');
    sh('ip', ['-n', U, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', U, 'link', 'set', 'br0', 'up']);
    const sides = [
      { l: labA, img: 'A', tap: `${P}ua`, under: '10.79.0.1', peer: '10.79.0.2', over: '10.80.0.1' },
      { l: labB, img: 'B', tap: `${P}ub`, under: '10.79.0.2', peer: '10.79.0.1', over: '10.80.0.2' },
    ];
    for (const s of sides) {
      await s.l.start();
      await s.l.ok(['-c', s.img]);
      const t = (await s.l.ok([s.img, 'ifconfig', 'tap', 'create', 'hostname', s.tap])).trim();
      sh('ip', ['link', 'set', s.tap, 'netns', U]);
      sh('ip', ['-n', U, 'link', 'set', s.tap, 'master', 'br0']);
      sh('ip', ['-n', U, 'link', 'set', s.tap, 'up']);
      await s.l.ok([s.img, 'ifconfig', t, 'inet', `${s.under}/24`, 'up']);
      const vx = (await s.l.ok([s.img, 'ifconfig', 'vxlan', 'create', 'vxlanid', '4242', 'vxlanlocal', s.under, 'vxlanremote', s.peer])).trim();
      assert.match(vx, /^vxlan\d+$/);
      await s.l.ok([s.img, 'ifconfig', vx, 'inet', `${s.over}/24`, 'up']);
    }
    const ab = await labA.ok(['A', 'ping', '-c', '3', '-i', '0.2', '10.80.0.2']);
    assert.match(ab, /3 packets transmitted, 3 packets received/);
    const ba = await labB.ok(['B', 'ping', '-c', '3', '-i', '0.2', '10.80.0.1']);
    assert.match(ba, /3 packets transmitted, 3 packets received/);
    // The pings were switched on the vxlan segment (TTL 64), not routed.
    assert.match(ab, /ttl=64/);
  });
});
