import assert from 'node:assert/strict';
import { test } from 'node:test';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { FRAME, encodeFrame } from '../lib/protocol.js';
import { Client } from './client.js';

test('a slow stdout: the client waits for one drain at a time, however many frames arrive together', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vr1-cli-'));
  const path = join(dir, 'd.sock');
  const server = net.createServer((s) => {
    s.once('data', () => {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 40; i++) frames.push(encodeFrame(FRAME.STDOUT, new Uint8Array(100).fill(i)));
      const exit = new Uint8Array(4);
      frames.push(encodeFrame(FRAME.EXIT, exit));
      s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: vimage-exec\r\n\r\n');
      s.end(Buffer.concat(frames)); // one chunk: all frames decoded in one go
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  let most = 0;
  let got = 0;
  const out = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _e, cb): void {
      got += chunk.length;
      most = Math.max(most, out.listenerCount('drain'));
      setTimeout(cb, 1);
    },
  });
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    const status = await new Client(path).exec('X', ['cat'], false, out);
    await new Promise<void>((r) => out.end(() => r()));
    assert.equal(status, 0);
    assert.equal(got, 4000, 'every byte reached stdout');
    assert.ok(most <= 1, `${most} drain listeners were waiting at once`);
    assert.deepEqual(warnings.map((w) => w.name), []);
  } finally {
    process.off('warning', onWarning);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
