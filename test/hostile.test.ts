/**
 * Hostile traffic from a Linux host, with scapy, nmap and hping3, against an
 * image that routes between two hosts, while a ping keeps going through it.
 * The daemon must not crash, must count the drops, must keep its memory
 * bounded and must keep forwarding the good traffic.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable } from './lab.js';

const P = 'vhs';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const tools = (): string | undefined => {
  for (const [cmd, args] of [
    [PY, ['-c', 'import scapy']],
    ['nmap', ['--version']],
    ['hping3', ['--version']],
  ] as const) {
    if (spawnSync(cmd, [...args]).status !== 0) return `${cmd} ${args.join(' ')} failed: run scripts/install-test-tools.sh`;
  }
  return undefined;
};
const skip = labUnavailable() ?? tools();

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('hostile traffic while good traffic flows', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';
  let rMac = '';

  before(async () => {
    await lab.start(['--log-level', 'warn']);
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    const t0 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const t1 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.73.1.2/24', '10.73.1.1');
    lab.wireHost(`${P}b0`, B, '10.73.2.2/24', '10.73.2.1');
    await lab.ok(['R', 'ifconfig', t0, 'inet', '10.73.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', t1, 'inet', '10.73.2.1/24', 'up']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    rMac = /\tether ([0-9a-f:]{17})/.exec(await lab.ok(['R', 'ifconfig', t0]))![1]!;
    lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.73.2.2']);
  });
  after(async () => {
    await lab.close();
  });

  test('scapy, nmap and hping3 do not stop a ping through the image', async () => {
    const pid = lab.daemonProcess!.pid!;
    const rssBefore = rssKb(pid);
    const ping = new Promise<string>((resolve) => {
      const p = spawn('ip', ['netns', 'exec', A, 'ping', '-c', '100', '-i', '0.1', '-W', '1', '10.73.2.2']);
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.on('close', () => resolve(out));
    });
    const attacks = [
      [PY, path.join(ROOT, 'test/tools/malformed.py'), `${P}a0`, '10.73.1.1', rMac, '10.73.1.2', '3000'],
      ['nmap', '-n', '-Pn', '-sS', '-T5', '--max-retries', '0', '-p', '1-1000', '10.73.1.1'],
      ['nmap', '-n', '-Pn', '-sO', '-T5', '--max-retries', '0', '10.73.1.1'],
      ['hping3', '-q', '-c', '5000', '-i', 'u200', '--rand-source', '-S', '-p', '80', '10.73.2.2'],
      ['hping3', '-q', '-c', '2000', '-i', 'u200', '-f', '-d', '1000', '-1', '10.73.1.1'],
      ['hping3', '-q', '-c', '2000', '-i', 'u200', '-F', '-P', '-U', '-X', '-Y', '-p', '22', '10.73.1.1'],
    ];
    for (const cmd of attacks) {
      const r = spawnSync('ip', ['netns', 'exec', A, ...cmd], { encoding: 'utf8', timeout: 120_000 });
      assert.notEqual(r.error?.message.includes('ETIMEDOUT'), true, `${cmd[0]} hung`);
      assert.equal(lab.daemonProcess!.exitCode, null, `vimaged died during ${cmd.join(' ')}: ${lab.daemonLog().slice(-2000)}`);
    }
    const out = await ping;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m !== null, out);
    assert.ok(Number(m[2]) >= 90, `ping kept going: ${m[0]}`);
    // Still serving, counted the drops, memory bounded.
    const st = await lab.ok(['R', 'netstat', '-s', '-p', 'ip']);
    const n = (re: RegExp): number => Number(re.exec(st)?.[1] ?? 0);
    assert.ok(n(/^\t(\d+) bad header checksums?/m) > 0, st);
    assert.ok(n(/^\t(\d+) with data size < data length/m) + n(/^\t(\d+) with header length < data size/m) + n(/^\t(\d+) with bad options/m) + n(/^\t(\d+) with incorrect version number/m) > 0, st);
    assert.ok(n(/^\t(\d+) fragments? received/m) > 0, st);
    const arp = await lab.ok(['R', 'arp', '-an']);
    assert.ok(arp.split('\n').length < 300, 'the ARP storm did not fill the cache');
    const rssAfter = rssKb(pid);
    assert.ok(rssAfter - rssBefore < 200 * 1024, `RSS grew ${rssBefore} -> ${rssAfter} kB`);
  });
});
