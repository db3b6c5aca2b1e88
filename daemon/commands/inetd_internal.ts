/**
 * inetd's internal services, as FreeBSD 14's usr.sbin/inetd/builtins.c
 * serves them, on the image's sockets:
 *
 *   echo     RFC 862  stream: bytes back until EOF; dgram: the datagram back
 *   discard  RFC 863  read and drop
 *   chargen  RFC 864  stream: 72-character lines + CRLF from the ring of the
 *                     95 printable characters, each line one further on,
 *                     until the client goes; dgram: one such line per
 *                     datagram received (builtins.c sends LINESIZ+2 bytes)
 *   daytime  RFC 867  ctime(3)'s 24 characters + CRLF ("%.24s\r\n"), then close
 *   time     RFC 868  seconds since 1900-01-01 as 32 bits, network order
 *
 * Datagrams from a port another internal dgram service listens on are
 * refused (check_loop(): echo to chargen would loop forever).
 */

import type { TcpSocket } from '../../lib/socket/tcp.js';
import type { Datagram, UdpSocket } from '../../lib/socket/udp.js';
import type { Builtin } from './inetd_conf.js';

/** builtins.c LINESIZ. */
export const LINESIZ = 72;
/** Printable ASCII: the chargen ring (initring(): isprint(0..128)). */
const RING = 95;
/** Seconds from 1900-01-01 to 1970-01-01 (RFC 868). */
export const EPOCH_1900 = 2208988800;

/** Chargen line `n` of the ring: LINESIZ characters from ring position n, CR, LF. */
export function chargenLine(n: number): Uint8Array {
  const b = new Uint8Array(LINESIZ + 2);
  for (let i = 0; i < LINESIZ; i++) b[i] = 32 + ((n + i) % RING);
  b[LINESIZ] = 13;
  b[LINESIZ + 1] = 10;
  return b;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** daytime's reply: ctime(3) in the daemon's local time zone, `%.24s\r\n` ("Fri Dec  4 18:49:03 2026\r\n"). */
export function daytimeText(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}\r\n`;
}

/** time's reply: machtime(), seconds since 1900 in 32 bits, big-endian. */
export function timeBytes(ms: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, (Math.floor(ms / 1000) + EPOCH_1900) >>> 0);
  return b;
}

const enc = new TextEncoder();

/** Serve one accepted stream connection; resolves when it is over (the socket closed). */
export async function serveStream(svc: Builtin, c: TcpSocket, wallNow: () => number, stop: AbortSignal): Promise<void> {
  const onStop = (): void => c.destroy();
  stop.addEventListener('abort', onStop, { once: true });
  try {
    switch (svc) {
      case 'echo':
        for await (const chunk of c) await c.write(chunk);
        break;
      case 'discard':
        for await (const _ of c) {
          /* dropped */
        }
        break;
      case 'chargen': {
        let gone = false;
        void (async () => {
          try {
            for await (const _ of c) {
              /* chargen reads nothing, but notices the client going */
            }
          } catch {
            /* reset */
          }
          gone = true;
        })();
        // 95 lines are one turn of the ring; every turn is the same.
        const turn = new Uint8Array((LINESIZ + 2) * RING);
        for (let n = 0; n < RING; n++) turn.set(chargenLine(n), n * (LINESIZ + 2));
        while (!gone && !stop.aborted) await c.write(turn);
        break;
      }
      case 'daytime':
        await c.write(enc.encode(daytimeText(wallNow())));
        break;
      case 'time':
        await c.write(timeBytes(wallNow()));
        break;
    }
    await c.end(); // MSG_EOF / exit(0): the client sees FIN
    await c.drain();
  } catch {
    // The client reset or went away.
  } finally {
    stop.removeEventListener('abort', onStop);
    c.close();
  }
}

/** One dgram service's state (chargen's ring position persists across datagrams, as its static rs). */
export class DgramServer {
  private rs = 0;

  constructor(
    readonly svc: Builtin,
    private readonly u: UdpSocket,
    private readonly wallNow: () => number,
    /** check_loop(): the message to log when the sender's port is another internal dgram service's, else undefined. */
    private readonly loop: (d: Datagram) => string | undefined,
    private readonly warn: (msg: string) => void,
    /** Every datagram, before it is served (inetd -l logs it). */
    private readonly seen: (d: Datagram) => void = () => {},
  ) {}

  /** Answer one datagram as builtins.c does. */
  handle(d: Datagram): void {
    this.seen(d);
    if (this.svc === 'discard') return;
    const why = this.loop(d);
    if (why !== undefined) {
      this.warn(why);
      return;
    }
    let reply: Uint8Array;
    switch (this.svc) {
      case 'echo':
        reply = d.data;
        break;
      case 'chargen':
        reply = chargenLine(this.rs);
        this.rs = (this.rs + 1) % RING;
        break;
      case 'daytime':
        reply = enc.encode(daytimeText(this.wallNow()));
        break;
      case 'time':
        reply = timeBytes(this.wallNow());
        break;
    }
    try {
      this.u.send(reply, d.addr, d.port);
    } catch {
      // sendto failed (no route, buffer full): a datagram service drops it
    }
  }

  async run(): Promise<void> {
    for (;;) {
      let d: Datagram | null;
      try {
        d = await this.u.recv();
      } catch {
        continue; // an ICMP error reported on the socket
      }
      if (d === null) return;
      this.handle(d);
    }
  }
}
