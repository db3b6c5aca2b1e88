/**
 * Thousands of images in one vimaged: made in one request (vimage create
 * A B C ...), listed page by page (vimage -l), saved through the state
 * journal so that a kill -9 loses none of them, destroyed, all within a
 * memory bound. No namespaces or devices: a daemon of its own (socket and
 * state directory in a temporary directory, prefix vsc).
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { labPool, labUnavailable } from './lab.js';

const P = 'vsc';
const N = 10_000;
/**
 * Daemon RSS growth allowed for N idle images, KiB per image. Measured:
 * about 20 KiB (heap 14 KiB) on Node 20; the bound leaves room for GC
 * timing and allocator slack.
 */
const RSS_PER_IMAGE_KIB = 40;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

function request(sock: string, method: string, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('thousands of images', { skip: labUnavailable() }, () => {
  const { lab, closeAll } = labPool(P);
  after(closeAll);

  test(`${N} images: made in one request, listed in pages, kept across kill -9, destroyed, RSS bounded`, async () => {
    const l = lab('a');
    const conf = path.join(l.dir, 'vimaged.json');
    writeFileSync(conf, JSON.stringify({ logLevel: 'warn' })); // the default limit: 10000 images
    await l.start(['--config', conf]);
    const pid = (): number => l.daemonProcess!.pid!;
    const rss0 = rssKiB(pid());
    const names = Array.from({ length: N - 1 }, (_, i) => `sc${i}`); // 'last' makes N
    await l.ok(['create', ...names]);
    // Over the limit: nothing is made.
    const over = await l.vimage(['create', 'extra1', 'extra2']);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /limit is 10000.*no image was created/);
    const rss1 = rssKiB(pid());
    const perImage = (rss1 - rss0) / names.length;
    assert.ok(perImage < RSS_PER_IMAGE_KIB, `RSS grew ${perImage.toFixed(1)} KiB per idle image (${rss0} -> ${rss1} KiB)`);

    const t0 = performance.now();
    const list = await l.ok(['-l']);
    const listMs = performance.now() - t0;
    const listed = list.match(/^"[^"]+":$/gm) ?? [];
    assert.equal(listed.length, N);
    assert.equal(listed[N - 1], `"sc${N - 2}":`);
    // Under 1 s on a quiet machine (bench/scale.ts measures it); generous here, the suite shares the CPU.
    assert.ok(listMs < 5000, `vimage -l took ${listMs.toFixed(0)} ms`);
    const json = JSON.parse(await l.ok(['--json', '-l'])) as { images: Array<{ name: string }> };
    assert.equal(json.images.length, N);
    assert.equal(new Set(json.images.map((i) => i.name)).size, N, 'pages neither repeat nor skip');

    // One more change, acknowledged, then kill -9: everything comes back from the snapshot and the journal.
    await l.ok(['-c', 'last']);
    const d = l.daemonProcess!;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.kill('SIGKILL');
    await exited;
    await l.start(['--config', conf]);
    const back = JSON.parse(await l.ok(['--json', '-l'])) as { images: Array<{ name: string }> };
    assert.equal(back.images.length, N + 1);
    assert.ok(back.images.some((i) => i.name === 'last'));

    // Destroy them all (8 clients at once), then the daemon holds one image again.
    let next = 0;
    const all = [...names, 'last'];
    const worker = async (): Promise<void> => {
      while (next < all.length) {
        const n = all[next++]!;
        const status = await request(l.sock, 'DELETE', `/v1/images/${n}`);
        assert.equal(status, 200, `destroy ${n}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.equal((await l.ok(['-l'])).trim(), '"default":\n    0 sockets, 1 ifnets, 0 processes');
    // Restarted, it comes back with only the default image.
    const d2 = l.daemonProcess!;
    const exited2 = new Promise<void>((r) => d2.once('exit', () => r()));
    d2.kill('SIGKILL');
    await exited2;
    await l.start(['--config', conf]);
    assert.equal((await l.ok(['-l'])).trim(), '"default":\n    0 sockets, 1 ifnets, 0 processes');
  });
});
