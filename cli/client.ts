/**
 * The CLI's side of the control API: JSON requests and the exec stream over
 * the daemon's Unix socket. Imports only the shared protocol, never the stack.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { EXEC_UPGRADE, FRAME, FrameDecoder, encodeFrame, type ApiError } from '../lib/protocol.js';

/** sysexits: the daemon cannot be reached. */
export const EX_UNAVAILABLE = 69;
export const EX_NOPERM = 77;

/** A failure the CLI reports in one line and exits with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Exit status for a daemon error: EX_NOPERM when refused for who you are, else 1. */
function statusFor(code: string | undefined): number {
  return code === 'VIMAGE_ERR_PERMISSION' ? EX_NOPERM : 1;
}

function connectError(sock: string, e: NodeJS.ErrnoException): CliError {
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    return new CliError(
      `cannot reach vimaged at ${sock} (${e.code === 'ENOENT' ? 'no such socket' : 'connection refused'}): start it with 'sudo vimaged &' (or 'systemctl start vimaged'), or point --socket / VIMAGE_SOCKET at its socket`,
      EX_UNAVAILABLE,
    );
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new CliError(
      `permission denied on ${sock}: only root and members of the vimage group may use vimaged; an administrator adds you with 'sudo usermod -aG vimage USER', then log in again`,
      EX_NOPERM,
    );
  }
  return new CliError(`cannot talk to vimaged at ${sock}: ${e.message}`, EX_UNAVAILABLE);
}

export class Client {
  constructor(readonly socketPath: string) {}

  /** One JSON request; resolves to the parsed body or rejects with a CliError. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : {};
            } catch {
              reject(new CliError(`vimaged answered ${res.statusCode} with a body that is not JSON`, 1));
              return;
            }
            if ((res.statusCode ?? 500) >= 400) {
              const err = (parsed as ApiError).error;
              reject(new CliError(err?.message ?? `vimaged answered ${res.statusCode}`, statusFor(err?.code), err?.code));
              return;
            }
            resolve(parsed as T);
          });
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(connectError(this.socketPath, e)));
      req.end(data);
    });
  }

  /**
   * Run `argv` inside `image`, streaming stdin in and stdout/stderr out;
   * Ctrl-C is forwarded as a signal. Resolves to the command's exit status.
   */
  exec(image: string, argv: readonly string[], json: boolean, stdout: NodeJS.WritableStream = process.stdout): Promise<number> {
    const query = new URLSearchParams({ argv: JSON.stringify(argv) });
    if (json) query.set('json', '1');
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method: 'GET',
        path: `/v1/images/${encodeURIComponent(image)}/exec?${query.toString()}`,
        headers: { connection: 'Upgrade', upgrade: EXEC_UPGRADE },
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(connectError(this.socketPath, e)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let msg = `vimaged refused to run the command (HTTP ${res.statusCode})`;
          let code: string | undefined;
          try {
            const err = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiError).error;
            msg = err.message;
            code = err.code;
          } catch {
            // keep the generic message
          }
          reject(new CliError(msg, statusFor(code), code));
        });
      });
      req.on('upgrade', (_res, socket: Duplex, head: Buffer) => {
        let status: number | null = null;
        let interrupts = 0;
        let waiting = false;
        const onSigint = (): void => {
          interrupts++;
          if (interrupts > 1) process.exit(130); // a second Ctrl-C gives up waiting
          socket.write(encodeFrame(FRAME.SIGNAL, Buffer.from('INT')));
        };
        const onSigterm = (): void => {
          socket.write(encodeFrame(FRAME.SIGNAL, Buffer.from('TERM')));
        };
        process.on('SIGINT', onSigint);
        process.on('SIGTERM', onSigterm);
        const decoder = new FrameDecoder((type, payload) => {
          // Raw bytes (pcap, nc); when the reader is slow, stop reading the daemon so its side sees the backlog.
          // One chunk may hold many frames: wait for a single 'drain', not one per frame.
          if (type === FRAME.STDOUT && !stdout.write(payload) && !waiting) {
            waiting = true;
            socket.pause();
            stdout.once('drain', () => {
              waiting = false;
              socket.resume();
            });
          }
          else if (type === FRAME.STDERR) process.stderr.write(payload);
          else if (type === FRAME.EXIT && payload.length >= 4) status = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
        });
        if (head.length > 0) decoder.push(head);
        socket.on('data', (c: Buffer) => {
          if (!decoder.push(c)) socket.destroy();
        });
        const stdin = process.stdin;
        const onStdin = (c: Buffer): void => {
          socket.write(encodeFrame(FRAME.STDIN, c));
        };
        const onStdinEnd = (): void => {
          socket.write(encodeFrame(FRAME.STDIN_EOF, new Uint8Array(0)));
        };
        // A terminal's stdin is forwarded only when the command may read it;
        // a pipe or file is always forwarded.
        if (!stdin.isTTY) {
          stdin.on('data', onStdin);
          stdin.on('end', onStdinEnd);
          stdin.on('error', onStdinEnd);
        }
        socket.on('error', () => {});
        socket.on('close', () => {
          process.off('SIGINT', onSigint);
          process.off('SIGTERM', onSigterm);
          stdin.off('data', onStdin);
          stdin.off('end', onStdinEnd);
          stdin.pause();
          if (status === null) reject(new CliError('the connection to vimaged closed before the command finished', EX_UNAVAILABLE));
          else resolve(status);
        });
      });
      req.end();
    });
  }
}
