/**
 * The scale section of `npm run bench`: a real vimaged (its own socket and
 * state directory in a temporary directory, no root needed) driven through
 * the control API as a user would.
 *
 * - image creation with 8 concurrent clients (`POST /v1/images`, one name a
 *   request), the rate over the first and the last thousand images; the
 *   reference is `GET /v1/version` with the same 8 clients in the same run
 *   (the API's own ceiling: one HTTP round trip, nothing saved);
 * - the bulk form (`POST /v1/images` with many names), images per second;
 * - the daemon's RSS growth per idle image;
 * - `vimage -l` wall time with all the images, against `vimage -l` with
 *   only the default image (the CLI's start-up: the reference).
 *
 * BENCH_IMAGES (default 10000) is N; BENCH_SCALE=0 skips the section and
 * BENCH_SCALE=only runs only it (then neither root nor iperf3 is needed).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { figure } from './report.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLIENTS = 8;

interface Daemon {
  proc: ChildProcess;
  sock: string;
  dir: string;
}

function request(sock: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath: sock, method, path: p, agent: false, headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function startDaemon(images: number): Promise<Daemon> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-scale-'));
  const sock = path.join(dir, 'vimaged.sock');
  const conf = path.join(dir, 'vimaged.json');
  writeFileSync(conf, JSON.stringify({ logLevel: 'warn', limits: { images: 2 * images + 16, connections: 1024 } }));
  const proc = spawn(process.execPath, [path.join(DIST, 'daemon/main.js'), '--socket', sock, '--state-dir', path.join(dir, 'state'), '--config', conf], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    if (existsSync(sock)) {
      try {
        if ((await request(sock, 'GET', '/v1/version')).status === 200) return { proc, sock, dir };
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error('vimaged did not start');
}

async function stopDaemon(d: Daemon): Promise<void> {
  const done = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill('SIGTERM');
  const t = setTimeout(() => d.proc.kill('SIGKILL'), 30_000);
  await done;
  clearTimeout(t);
  rmSync(d.dir, { recursive: true, force: true });
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

/**
 * `count` requests made by CLIENTS workers; `make(i)` is request i.
 * Returns the time at which each request completed (ms from the start).
 */
async function concurrently(count: number, make: (i: number) => Promise<void>): Promise<number[]> {
  const done = new Array<number>(count);
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await make(i);
      done[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, worker));
  return done;
}

function cliList(sock: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(DIST, 'cli/main.js'), '--socket', sock, '-l'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`vimage -l: ${r.stderr}`);
  return ms;
}

function best(n: number, f: () => number): number {
  let b = Infinity;
  for (let i = 0; i < n; i++) b = Math.min(b, f());
  return b;
}

export async function scale(): Promise<Record<string, number>> {
  const n = Number(process.env['BENCH_IMAGES'] ?? 10000);
  const out: Record<string, number> = {};
  console.log(`\nscale: one vimaged, ${n} images through the API, ${CLIENTS} concurrent clients\n`);
  const d = await startDaemon(n);
  try {
    // Reference: the API round trip alone, same clients, same run.
    const ref = await concurrently(4000, async () => {
      if ((await request(d.sock, 'GET', '/v1/version')).status !== 200) throw new Error('GET /v1/version failed');
    });
    out['apiRoundTripsPerSecond'] = 4000 / (ref[ref.length - 1]! / 1000);
    const listRef = best(3, () => cliList(d.sock));
    await new Promise((r) => setTimeout(r, 500));
    const rss0 = rssKiB(d.proc.pid!);
    const times = await concurrently(n, async (i) => {
      const r = await request(d.sock, 'POST', '/v1/images', { name: `s${i}` });
      if (r.status !== 201) throw new Error(`create s${i}: ${r.status} ${r.body}`);
    });
    // Completion times are in request order only roughly; sort them.
    const sorted = [...times].sort((a, b) => a - b);
    const k = Math.min(1000, Math.floor(n / 2));
    const first = k / (sorted[k - 1]! / 1000);
    const last = k / ((sorted[n - 1]! - sorted[n - 1 - k]!) / 1000);
    out['createFirstPerSecond'] = first;
    out['createLastPerSecond'] = last;
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = rssKiB(d.proc.pid!);
    out['rssPerImageKiB'] = (rss1 - rss0) / n;
    const list = best(3, () => cliList(d.sock));
    out['listMs'] = list;
    out['listReferenceMs'] = listRef;
    const fmt = (v: number): string => v.toFixed(0).padStart(8);
    console.log(`API round trip (GET /v1/version), the reference  ${fmt(out['apiRoundTripsPerSecond'])} /s`);
    console.log(`image creation, first ${k}                      ${fmt(first)} /s`);
    console.log(`image creation, last ${k} (${n - k}..${n})       ${fmt(last)} /s`);
    console.log(`daemon RSS growth per idle image                  ${(rss1 - rss0) / n > 0 ? ((rss1 - rss0) / n).toFixed(1).padStart(8) : '       ?'} KiB  (${(rss0 / 1024).toFixed(0)} -> ${(rss1 / 1024).toFixed(0)} MiB)`);
    console.log(`vimage -l with ${n} images                     ${fmt(list)} ms  (reference: -l with one image ${listRef.toFixed(0)} ms)`);
    figure({ section: 'scale', case: `image creation, first ${k}`, value: first, unit: '1/s', reference: { name: 'API round trips per second', value: out['apiRoundTripsPerSecond'] }, goal: 5000 });
    figure({ section: 'scale', case: `image creation, last ${k} of ${n}`, value: last, unit: '1/s', reference: { name: 'API round trips per second', value: out['apiRoundTripsPerSecond'] }, goal: 5000 });
    figure({ section: 'scale', case: 'daemon RSS growth per idle image', value: out['rssPerImageKiB'], unit: 'KiB', goal: 32, lowerIsBetter: true });
    figure({ section: 'scale', case: `vimage -l with ${n} images`, value: list, unit: 'ms', reference: { name: 'vimage -l with one image', value: listRef }, goal: 1000, lowerIsBetter: true });
    if (process.env['BENCH_SCALE_BULK'] !== '0') {
      // The bulk form: all names again (as b*) in requests of 1000 names, one client.
      const t0 = performance.now();
      const per = 1000;
      let made = 0;
      for (let i = 0; i < n; i += per) {
        const names = Array.from({ length: Math.min(per, n - i) }, (_, j) => `b${i + j}`);
        const r = await request(d.sock, 'POST', '/v1/images', { names });
        if (r.status !== 201) {
          console.log(`bulk creation: not available (${r.status} ${r.body.slice(0, 120)})`);
          break;
        }
        made += names.length;
      }
      if (made > 0) {
        out['bulkCreatePerSecond'] = made / ((performance.now() - t0) / 1000);
        console.log(`bulk creation (${per} names a request)          ${fmt(out['bulkCreatePerSecond'])} /s  (${n + made} images now)`);
        figure({ section: 'scale', case: `bulk image creation, ${per} names a request`, value: out['bulkCreatePerSecond'], unit: '1/s', goal: 5000 });
      }
    }
  } finally {
    await stopDaemon(d);
  }
  return out;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  scale().catch((e: unknown) => {
    console.error(`bench scale: ${(e as Error).message}`);
    process.exit(1);
  });
}
