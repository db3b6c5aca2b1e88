/**
 * System calls the daemon needs besides TAP devices, through the native
 * binding (native/sys.c): network namespaces, sd_notify(3), the peer
 * credentials of a Unix socket and the thread CPU clock. The daemon's auth
 * and systemd code and the platform's CPU clock use this, not the TAP module.
 *
 * Errors are those of lib/native/binding.ts: a plain Error with `code` (the
 * errno name) and `errno` (negative).
 */

import { readdirSync, statSync } from 'node:fs';
import { binding, type PeerCred } from './binding.js';

export type { PeerCred } from './binding.js';

/**
 * Move this thread into the network namespace at `nsPath` (needs
 * CAP_SYS_ADMIN). Returns a handle for `leaveNetns`; throws (EPERM, ENOENT,
 * EINVAL) when it cannot enter, leaving the thread where it was.
 */
export function enterNetns(nsPath: string): number {
  return binding().nsEnter(nsPath);
}

/** Return to the namespace `enterNetns` left. Throws if it cannot: the thread would be left in a foreign namespace. */
export function leaveNetns(saved: number): void {
  binding().nsLeave(saved);
}

/** Run `fn` with this thread inside the network namespace at `nsPath`. */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const saved = enterNetns(nsPath);
  try {
    return fn();
  } finally {
    leaveNetns(saved);
  }
}

/**
 * Network namespaces other than ours: named ones (/run/netns) first, then
 * those of running processes (containers, VMs' helpers), one path each.
 */
export function otherNetnsPaths(): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  const add = (p: string): void => {
    try {
      const ino = statSync(p).ino;
      if (seen.has(ino)) return;
      seen.add(ino);
      out.push(p);
    } catch {
      // gone meanwhile, or not ours to read
    }
  };
  add('/proc/self/ns/net');
  out.length = 0; // ours is only marked as seen
  try {
    for (const n of readdirSync('/run/netns')) add(`/run/netns/${n}`);
  } catch {
    // no named namespaces
  }
  try {
    for (const pid of readdirSync('/proc')) if (/^\d+$/.test(pid)) add(`/proc/${pid}/ns/net`);
  } catch {
    // no /proc
  }
  return out;
}

/** sd_notify(3): 0 or -errno; does nothing (returns 0) when `socketPath` is empty. */
export function sdNotify(socketPath: string, message: string): number {
  if (socketPath === '') return 0;
  return binding().sdNotify(socketPath, message);
}

/** SO_PEERCRED of a connected Unix socket's file descriptor. */
export function peerCred(fd: number): PeerCred {
  return binding().peerCred(fd);
}

/** CPU time of the calling thread, ms (CLOCK_THREAD_CPUTIME_ID): the daemon's charging clock. */
export function threadCpuMs(): number {
  return binding().threadCpuMs();
}
