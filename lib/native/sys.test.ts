// The system half of the native binding (native/sys.c): no devices made, no
// root needed except for entering a namespace.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enterNetns, otherNetnsPaths, peerCred, sdNotify, threadCpuMs, withNetns } from './sys.js';

test('the thread CPU clock moves with work done on this thread, not with sleeping', async () => {
  const t0 = threadCpuMs();
  let x = 0;
  for (let i = 0; i < 5e6; i++) x += i % 7;
  const t1 = threadCpuMs();
  assert.ok(x > 0 && t1 > t0, `${t0} -> ${t1}`);
  await new Promise((r) => setTimeout(r, 50));
  const t2 = threadCpuMs();
  assert.ok(t2 - t1 < 40, `50 ms asleep cost ${t2 - t1} ms of CPU`);
});

test('peer credentials of a Unix socket connection are those of the connecting process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpl-sys-'));
  const path = join(dir, 's');
  const server = net.createServer();
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const client = net.connect(path);
    const conn = await accepted;
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    const c = peerCred(fd);
    assert.equal(c.pid, process.pid);
    assert.equal(c.uid, process.getuid?.());
    assert.equal(c.gid, process.getgid?.());
    assert.throws(() => peerCred(-1), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
    client.destroy();
    conn.destroy();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sd_notify does nothing outside systemd and reports a missing socket as -ENOENT', () => {
  assert.equal(sdNotify('', 'READY=1'), 0);
  assert.equal(sdNotify('/nonexistent/vpl-notify.sock', 'READY=1'), -2);
});

test('network namespaces: entering a missing one throws and leaves us where we were; ours can be entered and left', (t) => {
  assert.ok(Array.isArray(otherNetnsPaths()));
  assert.ok(!otherNetnsPaths().includes('/proc/self/ns/net'), 'ours is not "other"');
  assert.throws(() => enterNetns('/nonexistent/vpl-netns'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.errno === -2);
  if (process.getuid?.() !== 0) {
    t.skip('entering a namespace needs root (CAP_SYS_ADMIN)');
    return;
  }
  assert.equal(withNetns('/proc/self/ns/net', () => 42), 42);
});
