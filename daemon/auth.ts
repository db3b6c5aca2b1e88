/**
 * Who may do what on the control socket, from the peer's credentials
 * (SO_PEERCRED), not only from the socket file's mode: root and members of
 * the `vimage` group may change things; everyone else may only read.
 */

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { peerCred } from '../lib/native/sys.js';

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  /** May create, destroy, move and run commands. */
  admin: boolean;
}

/** The gid of the `vimage` group, if the system has one. */
export function vimageGid(): number | undefined {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === 'vimage' && gid !== undefined) return Number(gid);
    }
  } catch {
    // no /etc/group
  }
  return undefined;
}

/**
 * Is the user `uid` a member of group `gid`, by the user databases (primary
 * group in /etc/passwd, members in /etc/group)? Decided from the uid the
 * kernel vouches for, not from a pid that could be reused.
 */
function userInGroup(uid: number, gid: number): boolean {
  try {
    let user: string | undefined;
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && Number(f[2]) === uid) {
        if (Number(f[3]) === gid) return true;
        user = f[0];
        break;
      }
    }
    if (user === undefined) return false;
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && Number(f[2]) === gid) return f[3]!.split(',').includes(user);
    }
  } catch {
    // no user database: not a member
  }
  return false;
}

export class Guard {
  private readonly cache = new WeakMap<Socket, Peer>();

  constructor(private gid: number | undefined = vimageGid()) {}

  /** Re-read the group (SIGHUP). */
  reload(): void {
    this.gid = vimageGid();
  }

  /** Credentials of the client on `socket`; a socket we cannot ask is treated as an unprivileged peer. */
  peer(socket: Socket): Peer {
    const known = this.cache.get(socket);
    if (known !== undefined) return known;
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let p: Peer = { pid: 0, uid: 65534, gid: 65534, admin: false };
    if (typeof fd === 'number' && fd >= 0) {
      try {
        const c = peerCred(fd);
        const g = this.gid;
        const admin = c.uid === 0 || (g !== undefined && (c.gid === g || userInGroup(c.uid, g)));
        p = { ...c, admin };
      } catch {
        // not a Unix socket: unprivileged
      }
    }
    this.cache.set(socket, p);
    return p;
  }
}
