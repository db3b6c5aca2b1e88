/**
 * The daemon's end of vimage-supervisor: two upgrades of control-socket
 * connections.
 *
 *   GET /v1/images/NAME/agent   Upgrade: vimage-agent
 *       opens a session for the Linux programs one supervisor runs in
 *       image NAME. Allowed to whoever may run commands in an image (root
 *       and the vimage group, by the peer's credentials, as for exec).
 *       Answers 101, a hello frame with the session key, then serves
 *       requests (daemon/linux/session.ts, framing in wire.ts).
 *   GET /v1/agent/data?key=KEY&id=ID   Upgrade: vimage-data
 *       the backing Unix socket of image socket ID of session KEY. Nothing
 *       is answered: from here on the connection carries the program's
 *       bytes. A wrong key closes it.
 */

import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import path from 'node:path';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { commandHandles } from '../../lib/control/index.js';
import { E, fail } from '../../lib/errors.js';
import type { Registry } from '../../lib/image.js';
import type { Logger } from '../../lib/log.js';
import { peerCred } from '../../lib/native/sys.js';
import type { Guard } from '../auth.js';
import { procArgv, type LinuxProcs } from './procs.js';
import { Session } from './session.js';
import { AGENT_UPGRADE, DATA_UPGRADE, encodeHello } from './wire.js';

const AGENT_PATH = /^\/v1\/images\/([^/]+)\/agent$/;

export class LinuxAgent {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly guard?: Guard,
    /** Linux programs as in-image processes (ps, kill, cgroups). */
    private readonly procs?: LinuxProcs,
  ) {}

  /** The supervisor's pid and uid, as the kernel tells them. */
  private peerOf(socket: Socket): { pid: number; uid: number } {
    if (this.guard !== undefined) return this.guard.peer(socket);
    try {
      return peerCred((socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1);
    } catch {
      return { pid: 0, uid: 0 };
    }
  }

  /**
   * Take an upgrade request if it is one of ours: true when handled. Throws
   * a VimageError (answered as an HTTP error by the caller) to refuse.
   */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://vimaged');
    const kind = (req.headers.upgrade ?? '').toLowerCase();
    if (kind === DATA_UPGRADE && url.pathname === '/v1/agent/data') {
      this.data(url, socket as Socket, head);
      return true;
    }
    const m = AGENT_PATH.exec(url.pathname);
    if (m === null || kind !== AGENT_UPGRADE) return false;
    if (this.guard !== undefined) {
      const peer = this.guard.peer(req.socket as Socket);
      if (!peer.admin) fail(E.PERMISSION, `permission denied: running programs in an image needs root or membership of the vimage group (you are uid ${peer.uid})`);
    }
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      fail(E.BAD_NAME, 'image name in the path is not valid percent-encoding');
    }
    const im = this.registry.image(name);
    // sockstat: the session's sockets belong to its program (its host pid, as ps shows it); their fds are the program's own, not known here.
    const owner = {
      get pid(): number {
        return ls?.program ?? [...(ls?.supervisors ?? [])][0] ?? 0;
      },
      get command(): string {
        return path.basename(procArgv(this.pid)[0] ?? '?');
      },
      get uid(): number {
        return ls?.uid ?? 0;
      },
      nextFd: -1,
    };
    const { image } = commandHandles(im, this.registry, owner);
    const key = randomBytes(16);
    const hex = key.toString('hex');
    const log = this.log.child({ image: name, agent: hex.slice(0, 8) });
    // Into the image's cgroup before the hello: the program it forks next is born there.
    const peer = this.procs === undefined ? undefined : this.peerOf(req.socket as Socket);
    const ls = peer === undefined ? undefined : this.procs?.open(im, peer.pid, peer.uid);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${AGENT_UPGRADE}\r\n\r\n`);
    socket.write(encodeHello(process.pid, key));
    const session = new Session(image, () => this.registry.get(name) === im, (f) => socket.write(f), log);
    this.sessions.set(hex, session);
    log.debug('linux program session opened');
    const input = ls === undefined ? (c: Buffer): void => session.input(c) : this.procs!.input(ls, (c) => session.input(c));
    if (head.length > 0) input(head);
    socket.on('data', input);
    socket.on('error', () => {});
    socket.on('end', () => socket.end()); // the supervisor exited
    socket.on('close', () => {
      this.sessions.delete(hex);
      if (ls !== undefined) this.procs?.close(ls);
      session.close();
      log.debug('linux program session closed');
    });
    return true;
  }

  private data(url: URL, socket: Socket, head: Buffer): void {
    const session = this.sessions.get(url.searchParams.get('key') ?? '');
    const id = Number(url.searchParams.get('id'));
    if (session === undefined || !Number.isInteger(id) || id <= 0 || id > 0xffffffff) {
      socket.destroy();
      return;
    }
    session.attach(id, socket, new Uint8Array(head));
  }

  /** Open sessions (one per running supervisor). */
  get size(): number {
    return this.sessions.size;
  }

  /** Daemon shutdown. */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}
