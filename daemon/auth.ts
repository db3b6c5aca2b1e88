/**
 * Who may use the daemon. One rule, enforced twice: root and members of
 * the `vimage` group may do everything; nobody else may do anything.
 *
 * The socket file is mode 0660, owner root, group `vimage`, so others
 * cannot even connect; and the daemon checks each client's credentials
 * (SO_PEERCRED) on every request as well, so a socket whose mode was
 * widened, or one passed in by a misconfigured socket unit, changes nothing.
 * A member is a client whose primary group is `vimage`, whose supplementary
 * groups (from /proc, for the same uid) include it, or whose user the group
 * database lists in it.
 */

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { peerCred } from '../lib/native/sys.js';

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  /** Root or a member of the vimage group: may do everything (nobody else may do anything). */
  admin: boolean;
}

export const GROUP = 'vimage';

/** What a refused client is told. */
export function refusal(uid: number): string {
  return `permission denied: vimaged serves only root and members of the ${GROUP} group (you are uid ${uid}); an administrator adds you with 'sudo usermod -aG ${GROUP} USER', then log in again`;
}

/** The gid of the `vimage` group, if the system has one. */
export function vimageGid(): number | undefined {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === GROUP && gid !== undefined) return Number(gid);
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

/** The supplementary groups of process `pid`, if it still runs as `uid`. */
function procGroups(pid: number, uid: number): number[] {
  if (pid <= 0) return [];
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const u = /^Uid:\s+(\d+)/m.exec(status);
    if (u === null || Number(u[1]) !== uid) return [];
    const g = /^Groups:\s*([\d ]*)$/m.exec(status);
    return g === null ? [] : g[1]!.trim().split(/\s+/).filter((x) => x !== '').map(Number);
  } catch {
    return [];
  }
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
        const admin = c.uid === 0 || (g !== undefined && (c.gid === g || procGroups(c.pid, c.uid).includes(g) || userInGroup(c.uid, g)));
        p = { ...c, admin };
      } catch {
        // not a Unix socket: unprivileged
      }
    }
    this.cache.set(socket, p);
    return p;
  }
}
