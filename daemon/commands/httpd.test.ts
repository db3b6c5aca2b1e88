import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TcpSocket } from '../../lib/socket/tcp.js';
import { B_ADDR, twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { CommandContext } from '../command.js';
import { commands, parseRequest } from './httpd.js';
import { commandHandles } from '../../lib/control/index.js';

const httpd = commands['httpd']!;

async function drive<T>(n: TestNet, p: Promise<T>, maxMs = 5000): Promise<T> {
  let done = false;
  let v: T | undefined;
  let err: unknown;
  p.then(
    (x) => ((done = true), (v = x)),
    (e) => ((done = true), (err = e)),
  );
  for (let t = 0; t < maxMs && !done; t++) {
    await n.settle();
    if (!done) n.clock.advance(1);
  }
  // fs work happens on the real event loop: give it real time.
  for (let i = 0; i < 200 && !done; i++) {
    await new Promise((r) => setTimeout(r, 5));
    await n.settle();
  }
  if (!done) throw new Error('pending');
  if (err !== undefined) throw err;
  return v as T;
}

/** Send raw request bytes on one connection and collect everything until `until` matches or the server closes. */
async function exchange(n: TestNet, s: TcpSocket, req: string, until: (t: string) => boolean): Promise<string> {
  await drive(n, s.write(new Uint8Array(Buffer.from(req))));
  let got = '';
  while (!until(got)) {
    const c = await drive(n, s.read());
    if (c === null) break;
    got += Buffer.from(c).toString('latin1');
  }
  return got;
}

test('parseRequest reads the request line and headers, and refuses garbage', () => {
  const r = parseRequest('GET /a%20b?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close');
  assert.equal(r?.method, 'GET');
  assert.equal(r?.target, '/a%20b?x=1');
  assert.equal(r?.headers.get('connection'), 'close');
  assert.equal(parseRequest('GET / HTTP/1.1\r\nbroken header'), null);
  assert.equal(parseRequest('hello'), null);
});

test('httpd serves files with keep-alive, HEAD, 404, 405, index.html, and never leaves its root', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vhttpd-'));
  try {
    writeFileSync(path.join(dir, 'index.html'), '<p>home</p>');
    writeFileSync(path.join(dir, 'a.txt'), 'alpha');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'index.html'), 'sub');
    symlinkSync('/etc/hostname', path.join(dir, 'out'));
    const n = twoImages();
    const ac = new AbortController();
    const err: string[] = [];
    const ctx: CommandContext = {
      argv: ['httpd', '-p', '80', '-r', dir],
      ...commandHandles(n.b, n.reg),
      stdout: { write: () => {} },
      stderr: { write: (t) => void err.push(t) },
      stdin: { async *[Symbol.asyncIterator]() {} },
      signal: ac.signal,
      json: false,
      pid: 1,
    };
    const done = httpd(ctx);
    // httpd resolves its root on the real file system before it listens:
    // until then a connection is refused, so try again for a while (real time).
    let s = new TcpSocket(n.a);
    for (let tries = 0; ; tries++) {
      try {
        await drive(n, s.connect(B_ADDR, 80));
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ECONNREFUSED' || tries >= 200) throw e;
        s.close();
        await new Promise((r) => setTimeout(r, 10));
        s = new TcpSocket(n.a);
      }
    }
    const ends = (body: string) => (t: string) => t.endsWith(body);
    const r1 = await exchange(n, s, 'GET /a.txt HTTP/1.1\r\nHost: b\r\n\r\n', ends('alpha'));
    assert.match(r1, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r1, /\r\nContent-Length: 5\r\n/);
    assert.match(r1, /\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
    assert.match(r1, /\r\nConnection: keep-alive\r\n/);
    const r2 = await exchange(n, s, 'HEAD / HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.includes('\r\n\r\n'));
    assert.match(r2, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 11\r\n[\s\S]*\r\n\r\n$/);
    const r3 = await exchange(n, s, 'GET /sub/ HTTP/1.1\r\n\r\n', ends('sub'));
    assert.match(r3, /^HTTP\/1\.1 200 OK/);
    const r4 = await exchange(n, s, 'GET /nope HTTP/1.1\r\n\r\n', ends('</html>\n'));
    assert.match(r4, /^HTTP\/1\.1 404 Not Found/);
    const r5 = await exchange(n, s, 'POST /a.txt HTTP/1.1\r\n\r\n', ends('</html>\n'));
    assert.match(r5, /^HTTP\/1\.1 405 Method Not Allowed\r\n[\s\S]*Allow: GET, HEAD\r\n/);
    const r6 = await exchange(n, s, 'GET /out HTTP/1.1\r\n\r\n', ends('</html>\n'));
    assert.match(r6, /^HTTP\/1\.1 403 Forbidden/, 'a symlink out of the root is refused');
    const r7 = await exchange(n, s, 'GET /../../etc/passwd HTTP/1.1\r\nConnection: close\r\n\r\n', () => false);
    assert.match(r7, /^HTTP\/1\.1 404 Not Found[\s\S]*Connection: close\r\n/);
    assert.equal(await drive(n, s.read()), null, 'closed after Connection: close');
    ac.abort('SIGINT');
    assert.equal(await drive(n, done), 130);
    assert.equal(n.b.sockets.size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
