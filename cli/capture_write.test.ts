import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execToFile } from './capture.js';
import { CliError, type Client } from './client.js';

/** A client whose capture writes `chunks` pieces of pcap stream, honouring back-pressure as Client.exec does. */
function fakeClient(chunks: number): Client {
  return {
    exec: async (_image: string, _argv: readonly string[], _json: boolean, out: NodeJS.WritableStream): Promise<number> => {
      for (let i = 0; i < chunks; i++) {
        if (!out.write(new Uint8Array(64 << 10))) {
          // Client.exec pauses the daemon until 'drain'; a capture that never gets it never ends.
          const drained = await Promise.race([new Promise((r) => out.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 2000))]);
          if (!drained) throw new Error('the file stream never drained: the capture would hang');
        }
      }
      return 0;
    },
  } as unknown as Client;
}

test('-w FILE on a full disk ends with the errno text, neither crashing nor hanging the client', { skip: !existsSync('/dev/full') && 'no /dev/full' }, async () => {
  const errors: unknown[] = [];
  const onUncaught = (e: unknown): void => void errors.push(e);
  process.on('uncaughtException', onUncaught);
  const dir = mkdtempSync(join(tmpdir(), 'vr1-full-'));
  try {
    // Through a symlink, so that a client that wrongly unlinks its file cannot remove the device itself.
    const full = join(dir, 'full');
    symlinkSync('/dev/full', full);
    await assert.rejects(execToFile(fakeClient(8), 'X', { argv: ['tcpdump', '-w', '-'], file: full }, false), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.equal(e.message, `tcpdump: ${full}: No space left on device`);
      assert.equal(e.exitCode, 1);
      return true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(errors, [], 'no error escaped as an uncaught exception');
    assert.ok(existsSync(full), 'a device the capture wrote to is not unlinked');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    process.off('uncaughtException', onUncaught);
  }
});

function client(write: Uint8Array | null, status: number): Client {
  return {
    exec: async (_i: string, _a: readonly string[], _j: boolean, out: NodeJS.WritableStream): Promise<number> => {
      if (write !== null) out.write(write);
      return status;
    },
  } as unknown as Client;
}

test('a capture that never starts leaves an existing file (or device) as it was, and no new empty file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vr1-cap-'));
  try {
    const old = join(dir, 'old.pcap');
    writeFileSync(old, 'keep');
    assert.equal(await execToFile(client(null, 1), 'X', { argv: [], file: old }, false), 1);
    assert.equal(readFileSync(old, 'utf8'), 'keep', 'a bad filter must not delete or truncate the user\'s file');
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    assert.equal(await execToFile(client(null, 1), 'X', { argv: [], file: empty }, false), 1);
    assert.ok(existsSync(empty), 'an existing empty file (as /dev/null looks to fstat) is not unlinked');
    const fresh = join(dir, 'new.pcap');
    assert.equal(await execToFile(client(null, 1), 'X', { argv: [], file: fresh }, false), 1);
    assert.ok(!existsSync(fresh), 'a file the client made for a capture that never started is removed');
    assert.equal(await execToFile(client(Uint8Array.from([1, 2, 3]), 0), 'X', { argv: [], file: old }, false), 0);
    assert.deepEqual([...readFileSync(old)], [1, 2, 3], 'a capture that starts replaces the old contents');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
