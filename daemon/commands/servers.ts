/**
 * The small servers of inetd(8), each a command that runs until stopped:
 * `echo` (RFC 862, port 7), `discard` (RFC 863, port 9) and `chargen`
 * (RFC 864, port 19), over TCP and UDP at once unless -t or -u picks one.
 *
 *     vimage S echo [-t|-u] [-p PORT] [-v]
 *
 * -v logs each TCP connection on stderr.
 */

import type { ImageControl } from '../../lib/control/index.js';
import { SocketError } from '../../lib/socket/errno.js';
import type { TcpSocket } from '../../lib/socket/tcp.js';
import { UdpSocket } from '../../lib/socket/udp.js';
import { endpointText } from '../../lib/socket/sockaddr6.js';
import { EX_FAIL, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

type Service = 'echo' | 'discard' | 'chargen';

const PORTS: Record<Service, number> = { echo: 7, discard: 9, chargen: 19 };

/** RFC 864: 72-character lines, each starting one character further along the 95 printable ASCII characters. */
export function chargenLine(n: number): Uint8Array {
  const b = new Uint8Array(74);
  for (let i = 0; i < 72; i++) b[i] = 32 + ((n + i) % 95);
  b[72] = 13;
  b[73] = 10;
  return b;
}

/** A block of `lines` chargen lines starting at line `n`. */
function chargenBlock(n: number, lines: number): Uint8Array {
  const b = new Uint8Array(74 * lines);
  for (let k = 0; k < lines; k++) b.set(chargenLine(n + k), k * 74);
  return b;
}

async function serveTcp(svc: Service, c: TcpSocket): Promise<void> {
  try {
    switch (svc) {
      case 'echo':
        for await (const chunk of c) await c.write(chunk);
        await c.end();
        break;
      case 'discard':
        for await (const _ of c) {
          /* discarded */
        }
        break;
      case 'chargen': {
        // Send until the client goes away; whatever it sends is discarded.
        let stop = false;
        void (async () => {
          try {
            for await (const _ of c) {
              /* discarded */
            }
          } catch {
            /* reset */
          }
          stop = true;
        })();
        // One full cycle of 95 lines per write; every cycle is the same.
        const cycle = chargenBlock(0, 95);
        while (!stop) await c.write(cycle);
        break;
      }
    }
  } catch {
    // The client reset or went away.
  } finally {
    c.close();
  }
}

function serveUdp(svc: Service, u: UdpSocket): Promise<void> {
  return (async () => {
    let line = 0;
    for (;;) {
      let d;
      try {
        d = await u.recv();
      } catch {
        continue;
      }
      if (d === null) return;
      const to = d.addr6 !== undefined ? { addr6: d.addr6, zone: d.zone ?? null } : d.addr;
      try {
        if (svc === 'echo') u.send(d.data, to, d.port);
        else if (svc === 'chargen') {
          // RFC 864: a datagram of a random 0 to 512 characters; we send whole lines.
          const lines = 1 + (line % 6);
          u.send(chargenBlock(line, lines), to, d.port);
          line++;
        }
      } catch (e) {
        if (!(e instanceof SocketError)) throw e;
      }
    }
  })();
}

function server(svc: Service): Command {
  return async (ctx: CommandContext) => {
    const g = getopt(ctx.argv, 'p:tuv');
    const usage = `usage: ${svc} [-t | -u] [-p port] [-v]`;
    if ('error' in g) {
      ctx.stderr.write(`${svc}: ${g.error}\n${usage}\n`);
      return EX_USAGE;
    }
    if (g.operands.length > 0) {
      ctx.stderr.write(`${usage}\n`);
      return EX_USAGE;
    }
    let port = PORTS[svc];
    let tcp = true;
    let udp = true;
    let verbose = false;
    for (const [ch, arg] of g.opts) {
      if (ch === 'p') {
        const v = Number(arg);
        if (!Number.isInteger(v) || v < 1 || v > 65535) {
          ctx.stderr.write(`${svc}: port number invalid: ${arg}\n`);
          return EX_USAGE;
        }
        port = v;
      } else if (ch === 't') udp = false;
      else if (ch === 'u') tcp = false;
      else if (ch === 'v') verbose = true;
    }
    if (!tcp && !udp) {
      ctx.stderr.write(`${svc}: -t and -u exclude each other\n${usage}\n`);
      return EX_USAGE;
    }
    const im: ImageControl = ctx.image;
    const l = tcp ? im.sockets.tcpListener() : null;
    const u = udp ? im.sockets.udp() : null;
    try {
      if (l !== null) {
        l.reuseAddr = true;
        l.listen(port, 128);
      }
      u?.bind(port);
    } catch (e) {
      l?.close();
      u?.close();
      ctx.stderr.write(`${svc}: bind to port ${port}: ${(e as Error).message}\n`);
      return EX_FAIL;
    }
    // IPv6 too, on v6-only sockets beside the IPv4 ones (inetd's tcp6/udp6 lines); skipped where the port is taken.
    let l6 = tcp ? im.sockets.tcpListener({ family: 6, v6only: true }) : null;
    let u6 = udp ? im.sockets.udp({ family: 6, v6only: true }) : null;
    try {
      if (l6 !== null) {
        l6.reuseAddr = true;
        l6.listen(port, 128);
      }
    } catch {
      l6?.close();
      l6 = null;
    }
    try {
      u6?.bind(port);
    } catch {
      u6?.close();
      u6 = null;
    }
    const conns = new Set<TcpSocket>();
    const tasks: Array<Promise<void>> = [];
    for (const from of [l, l6]) {
      if (from === null) continue;
      tasks.push(
        (async () => {
          for await (const c of from) {
            conns.add(c);
            if (verbose) {
              const p = c.remoteAddress();
              ctx.stderr.write(`${svc}: connection from ${endpointText(p)} ${p.port}\n`);
            }
            void serveTcp(svc, c).finally(() => conns.delete(c));
          }
        })(),
      );
    }
    if (u !== null) tasks.push(serveUdp(svc, u));
    if (u6 !== null) tasks.push(serveUdp(svc, u6));
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    l?.close();
    u?.close();
    l6?.close();
    u6?.close();
    for (const c of conns) c.destroy();
    await Promise.allSettled(tasks);
    return signalStatus(ctx.signal.reason);
  };
}

export const commands: Record<string, Command> = {
  echo: server('echo'),
  discard: server('discard'),
  chargen: server('chargen'),
};
