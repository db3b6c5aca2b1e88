/**
 * Real iperf3 from Debian in two images: the server as a background
 * program of image S, the client in the caller's terminal in image C, over
 * an epair between them. TCP and UDP, as issue 11 asks ("real iperf3 -s in
 * one image and iperf3 -c in another").
 *
 *   C (10.77.0.2) --epair-- S (10.77.0.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable, until } from './lab.js';

const P = 'vip'; // prefix of the daemon's socket and state this file makes (no namespace or host device)
const S_ADDR = '10.77.0.1';
const C_ADDR = '10.77.0.2';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0) return 'iperf3 is not installed (scripts/install-test-tools.sh)';
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();

interface IperfEnd {
  sum_received?: { bytes: number; bits_per_second: number };
  sum?: { bytes: number; packets: number; lost_packets: number; lost_percent: number };
}

describe('real iperf3 server in one image, client in another', { skip }, () => {
  const lab = new Lab(P);
  let server = 0;

  before(async () => {
    await lab.start();
    await lab.ok(['-c', 'S']);
    await lab.ok(['-c', 'C']);
    const a = (await lab.ok(['S', 'ifconfig', 'epair', 'create'])).trim();
    const b = a.replace(/a$/, 'b');
    await lab.ok(['S', 'ifconfig', b, 'vnet', 'C']);
    await lab.ok(['S', 'ifconfig', a, 'inet', `${S_ADDR}/24`, 'up']);
    await lab.ok(['C', 'ifconfig', b, 'inet', `${C_ADDR}/24`, 'up']);
    const r = await lab.vimage(['-b', 'S', 'exec', '--linux', 'iperf3', '-s', '-p', '5301']);
    assert.equal(r.code, 0, r.stderr);
    server = Number(/^\[(\d+)\]$/.exec(r.stdout.trim())?.[1]);
    assert.ok(server > 1, r.stdout);
    await until('iperf3 -s to listen in S', async () => /\*\.5301\s+\*\.\*\s+LISTEN/.test(await lab.ok(['S', 'netstat', '-an'])));
  });

  after(async () => {
    // Destroying the images kills the server and anything a failed test left running.
    if (lab.daemonProcess !== null) {
      await lab.vimage(['-d', 'S']).catch(() => undefined);
      await lab.vimage(['-d', 'C']).catch(() => undefined);
    }
    await lab.close();
  });

  async function client(args: string[]): Promise<IperfEnd> {
    const r = await lab.vimage(['C', 'exec', '--linux', 'iperf3', '-c', S_ADDR, '-p', '5301', '-t', '2', '--json', ...args], { timeoutMs: 40_000 });
    const out = JSON.parse(r.stdout) as { end: IperfEnd; error?: string };
    assert.equal(out.error, undefined, `iperf3 -c: ${out.error ?? ''}\n${r.stderr}\n${await lab.ok(['S', 'logs', String(server)])}`);
    assert.equal(r.code, 0, r.stderr);
    return out.end;
  }

  test('TCP: the client in C sends for 2 s and the server in S receives it all', async () => {
    const end = await client([]);
    const got = end.sum_received!;
    assert.ok(got.bytes > 1_000_000, `received ${got.bytes} bytes`);
    // The server's side of the connection, as S's netstat saw it, came from C's address.
    assert.match(await lab.ok(['S', 'logs', String(server)]), new RegExp(`Accepted connection from ${C_ADDR.replace(/\./g, '\\.')}, port \\d+`));
  });

  test('UDP: 5 Mbit/s of 1200-byte datagrams from C to S, boundaries kept, little lost', async () => {
    const end = await client(['-u', '-b', '5M', '-l', '1200']);
    const s = end.sum!;
    assert.ok(s.packets > 500, `sent ${s.packets} datagrams`);
    assert.ok(s.lost_percent < 5, `lost ${s.lost_percent}% (${s.lost_packets} of ${s.packets})`);
    assert.equal(s.bytes, s.packets * 1200);
  });

  test('TCP in reverse (-R): the server in S sends and the client in C receives', async () => {
    const end = await client(['-R']);
    assert.ok(end.sum_received!.bytes > 1_000_000, `received ${end.sum_received!.bytes} bytes`);
  });
});
