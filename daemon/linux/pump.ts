/**
 * Bytes between a Linux program's backing socket (an AF_UNIX stream the
 * program reads and writes natively) and the image's TCP socket, with
 * backpressure both ways: the Unix side is paused while the TCP send
 * buffer is full, and the TCP side is not read while the Unix side's
 * buffer is full. Half-close passes through (shutdown(SHUT_WR) is a FIN,
 * the peer's FIN is end of file); a reset or timeout of the connection
 * drops the Unix side. `skip` bytes at the start of the Unix side are
 * dropped (the filler of a non-blocking connect).
 */

import type { Socket } from 'node:net';
import type { TcpSocket } from '../../lib/socket/tcp.js';

/** Pump until both directions are done; resolves then, with the TCP socket closed. */
export function pump(u: Socket, t: TcpSocket, head?: Uint8Array, skip = 0): Promise<void> {
  u.allowHalfOpen = true;
  let closed = false;
  let ending: Promise<void> | null = null;

  const toTcp = new Promise<void>((resolve) => {
    const write = (c: Uint8Array): void => {
      if (skip > 0) {
        // The supervisor's filler that held back POLLOUT during a non-blocking connect.
        const n = Math.min(skip, c.length);
        skip -= n;
        if (n === c.length) return;
        c = c.subarray(n);
      }
      u.pause();
      t.write(c).then(
        () => {
          if (!closed) u.resume();
        },
        () => u.destroy(),
      );
    };
    if (head !== undefined && head.length > 0) write(head);
    u.on('data', write);
    u.on('end', () => {
      ending = t.end(); // the program's shutdown(SHUT_WR) or close: FIN after what it wrote
    });
    u.on('error', () => {});
    u.on('close', () => {
      closed = true;
      // The program let go of the socket: finish what it wrote, then close (a reader waiting on t wakes with end of file).
      void (ending ?? t.end())
        .catch(() => {})
        .finally(() => {
          t.close();
          resolve();
        });
    });
    u.resume();
  });

  const fromTcp = (async (): Promise<void> => {
    try {
      for (;;) {
        const c = await t.read();
        if (c === null) {
          if (!closed) u.end();
          return;
        }
        if (closed) return;
        if (!u.write(c)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              u.off('drain', done);
              u.off('close', done);
              resolve();
            };
            u.on('drain', done);
            u.on('close', done);
          });
        }
      }
    } catch {
      u.destroy(); // reset or timed out: the program sees the connection drop
    }
  })();

  return Promise.all([toTcp, fromTcp]).then(() => {
    t.close();
    u.destroy();
  });
}
