/**
 * `vimage IMAGE tcpdump -w FILE`: the daemon never opens a user's path, so
 * the client asks for `-w -` (a pcap stream on the command's stdout) and
 * writes that stream into FILE itself, with the caller's permissions.
 * Options are read with the same getopt letters as the daemon's tcpdump.
 */

import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, unlinkSync, write } from 'node:fs';
import { Writable } from 'node:stream';
import { CliError, type Client } from './client.js';

/** Letters of tcpdump's options that take an argument (daemon/commands/tcpdump.ts). */
const WITH_ARG = new Set(['c', 'i', 's', 'w']);

/** For `tcpdump ... -w FILE` (FILE not `-`): the argv to send (with `-w -`) and FILE; otherwise null. */
export function captureToFile(argv: readonly string[]): { argv: string[]; file: string } | null {
  if (argv[0] !== 'tcpdump') return null;
  const out = [...argv];
  let file: string | null = null;
  for (let i = 1; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') break;
    if (a.length < 2 || a[0] !== '-') continue;
    for (let j = 1; j < a.length; j++) {
      const ch = a[j]!;
      if (!WITH_ARG.has(ch)) continue;
      const inline = j + 1 < a.length;
      const value = inline ? a.slice(j + 1) : out[i + 1];
      if (ch === 'w' && value !== undefined && value !== '-') {
        file = value;
        if (inline) out[i] = `${a.slice(0, j + 1)}-`;
        else out[i + 1] = '-';
      }
      if (!inline) i++;
      break;
    }
  }
  return file === null ? null : { argv: out, file };
}

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  EISDIR: 'Is a directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
};

/** Run the capture with its pcap stream written into `cap.file` (created or truncated, mode 0644 before umask). */
export async function execToFile(c: Client, image: string, cap: { argv: string[]; file: string }, json: boolean): Promise<number> {
  // Opened without truncating, so a capture that never starts (a bad filter, no such interface) leaves the
  // file as it was, as tcpdump opens its file only once the capture is set up; truncated at the first byte.
  const existed = existsSync(cap.file);
  let fd: number;
  try {
    fd = openSync(cap.file, 'a', 0o644);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`tcpdump: ${cap.file}: ${ERRNO_TEXT[err.code ?? ''] ?? err.message}`, 1);
  }
  // A write that fails (a full disk) must neither throw out of the client (an 'error' with no listener) nor
  // leave the capture paused for a 'drain' that never comes: the rest is discarded and the error reported at the end.
  let writeError: NodeJS.ErrnoException | null = null;
  let started = false;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      if (writeError !== null) return cb();
      if (!started) {
        started = true;
        try {
          if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
        } catch (e) {
          writeError = e as NodeJS.ErrnoException;
          return cb();
        }
      }
      const put = (at: number): void => {
        write(fd, chunk, at, chunk.length - at, null, (e, n) => {
          if (e !== null) writeError = e;
          else if (at + n < chunk.length) return put(at + n);
          cb();
        });
      };
      put(0);
    },
  });
  let status = 1;
  try {
    status = await c.exec(image, cap.argv, json, out);
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
    closeSync(fd);
    // A capture that never started leaves no file behind that it made; one that was there (or a device) stays.
    if (!started && !existed) {
      try {
        unlinkSync(cap.file);
      } catch {
        // already gone
      }
    }
  }
  const err = writeError as NodeJS.ErrnoException | null; // set in the stream callbacks
  if (err !== null) throw new CliError(`tcpdump: ${cap.file}: ${ERRNO_TEXT[err.code ?? ''] ?? err.message}`, 1);
  return status;
}
