/**
 * Is something answering on a Unix socket? vimaged asks before it takes its
 * control socket (a stale socket file refuses connections, so it may be
 * replaced); the test lab and the benchmarks ask while a daemon starts.
 */

import net from 'node:net';

/** True once a connection to `sock` succeeds (it is closed at once); false on any error. */
export function socketAnswers(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
