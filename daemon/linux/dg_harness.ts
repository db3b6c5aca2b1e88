/**
 * Test fixture shared by the datagram-socket tests (dgram.test.ts,
 * icmp.test.ts): a Session of image A whose datagram channel is a real Unix
 * socket pair, `sup` playing the supervisor's end, with the frames it
 * receives decoded and the replies to agent requests kept by seq.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { commandHandles } from '../../lib/control/index.js';
import { silentLogger } from '../../lib/log.js';
import type { TestNet } from '../../lib/testing/testnet.js';
import { Session } from './session.js';
import { type Addr6, CHAN_ID, DG_HEADER, SOCK_DGRAM, decodeAddr6, decodeDg, decodeReply, dgTrailer, type Request } from './wire.js';

export type Reply = ReturnType<typeof decodeReply>;

/** An agent request: a datagram socket's, with the fields given. */
export function req(p: Partial<Request> & { seq: number; op: number; id: number }): Request {
  return { type: SOCK_DGRAM, addr: 0, port: 0, flags: 0, a: 0, b: 0, c: 0, ...p };
}

/** A frame the daemon sent on the datagram channel (its data copied out). */
export interface Frame {
  id: number;
  seq: number;
  addr: number;
  port: number;
  flags: number;
  data: Buffer;
  /** The addr6 trailer (an AF_INET6 socket's datagram). */
  a6?: Addr6;
}

export interface Harness {
  s: Session;
  sup: net.Socket;
  frames: Frame[];
  /** The reply to request `seq`, once it has come (the images run meanwhile). */
  wait: (seq: number) => Promise<Reply>;
  /** Serves `q` and waits for its reply. */
  ask: (q: Request) => Promise<Reply>;
  server: net.Server;
}

/** A session of image A with its datagram channel, the socket file made in `dir`. */
export async function harness(tn: TestNet, dir: string): Promise<Harness> {
  // decodeReply's a6 (REP_ADDR6) comes along with the rest.
  const replies = new Map<number, Reply>();
  const s = new Session(commandHandles(tn.a, tn.reg).image, () => true, (f) => {
    const r = decodeReply(f);
    replies.set(r.seq, r);
  }, silentLogger);
  const server = net.createServer();
  const p = path.join(dir, `s${Math.random()}`);
  await new Promise<void>((r) => server.listen(p, r));
  const daemonEnd = new Promise<net.Socket>((r) => server.once('connection', r));
  const sup = net.connect({ path: p });
  s.attach(CHAN_ID, await daemonEnd, new Uint8Array(0));
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  sup.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= DG_HEADER) {
      const h = decodeDg(buf, 0);
      const x = dgTrailer(h.flags);
      if (buf.length < DG_HEADER + x + h.len) break;
      const f: Frame = { id: h.id, seq: h.seq, addr: h.addr, port: h.port, flags: h.flags, data: Buffer.from(buf.subarray(DG_HEADER + x, DG_HEADER + x + h.len)) };
      if (x !== 0) f.a6 = decodeAddr6(buf, DG_HEADER);
      frames.push(f);
      buf = buf.subarray(DG_HEADER + x + h.len);
    }
  });
  const wait = async (seq: number): Promise<Reply> => {
    for (let i = 0; i < 200; i++) {
      const r = replies.get(seq);
      if (r !== undefined) return r;
      await tn.run(5);
    }
    throw new Error(`no reply to ${seq}`);
  };
  const ask = (q: Request): Promise<Reply> => {
    s.serve(q);
    return wait(q.seq);
  };
  return { s, sup, frames, wait, ask, server };
}

/** Runs the images (and the event loop) until `fn` holds; fails the test after 300 rounds. */
export async function until(tn: TestNet, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !fn(); i++) {
    await tn.run(5);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(fn(), 'timed out');
}
