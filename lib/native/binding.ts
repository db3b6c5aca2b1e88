/**
 * The native addon (native/tap.c and native/sys.c, built by node-gyp into
 * build/Release/vimage_tap.node), loaded on first use and typed. Nothing but
 * the two facades imports this: lib/net/tapdev.ts (TAP devices) and
 * lib/native/sys.ts (network namespaces, sd_notify, peer credentials, the
 * thread CPU clock).
 *
 * Errors: the addon's calls throw a plain Error with `code` set to the errno
 * name ('EPERM', 'ENOENT', ...) and `errno` to the negative errno. When the
 * addon is not built, `binding()` throws such an error with code ENOENT and
 * a message that says how to build it.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const rxHandleBrand: unique symbol;
/** A receive loop started by `start` (native/tap.c). */
export type RxHandle = { readonly [rxHandleBrand]: true };

/** What `open` returns (native/tap.c). */
export interface TapOpened {
  fd: number;
  /** The name the kernel gave (differs from the request for patterns like 'vtap%d'). */
  name: string;
  /** Negotiated TUN_F_* bits; 0 without a virtio-net header. */
  offloads: number;
  vnetHdrLen: number;
}

/** TAP devices and host links (native/tap.c). */
export interface TapBinding {
  open(name: string, flags: { vnetHdr: boolean; persist: boolean }): TapOpened;
  setPersist(fd: number, on: boolean): void;
  close(fd: number): number;
  setMtu(name: string, mtu: number): void;
  getMtu(name: string): number;
  setUp(name: string, up: boolean): void;
  exists(name: string): boolean;
  destroy(name: string): boolean;
  write(fd: number, buf: Uint8Array, off: number, len: number): number;
  start(fd: number, rx: Uint8Array, rxLen: Int32Array, slotSize: number, cb: (count: number, readMs: number) => boolean | void): RxHandle;
  stop(handle: RxHandle): void;
  pause(handle: RxHandle, on: boolean): void;
  hostDrops(fd: number): number;
}

/** The process at the other end of a Unix socket (SO_PEERCRED). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** System glue (native/sys.c). */
export interface SysBinding {
  /** Move this thread into the network namespace at `path`; returns a descriptor of the one it left. */
  nsEnter(path: string): number;
  /** Return to the namespace `nsEnter` left (and close its descriptor). */
  nsLeave(saved: number): void;
  /** 0 or -errno. */
  sdNotify(socketPath: string, message: string): number;
  peerCred(fd: number): PeerCred;
  /** CLOCK_THREAD_CPUTIME_ID in ms. */
  threadCpuMs(): number;
}

export type Binding = TapBinding & SysBinding;

const ADDON_FILE = join('build', 'Release', 'vimage_tap.node');

/** Walk up from `dir` to the vimage project root (package.json named vimage). */
function findRoot(dir: string): string | null {
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'vimage') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function addonError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ENOENT', errno: -2 });
}

// The loaded binding is immutable once loaded; caching it is not image state.
let loaded: Binding | null = null;

/** The addon, loaded on first use, so importing a facade never needs it. */
export function binding(): Binding {
  if (loaded !== null) return loaded;
  const root = findRoot(dirname(fileURLToPath(import.meta.url))) ?? findRoot(process.cwd());
  if (root === null) {
    throw addonError(`native binding: cannot find the vimage project root above ${fileURLToPath(import.meta.url)}`);
  }
  const file = join(root, ADDON_FILE);
  if (!existsSync(file)) {
    throw addonError(`native binding not built: ${file} is missing, run \`npm run build:native\` in ${root}`);
  }
  loaded = createRequire(import.meta.url)(file) as Binding;
  return loaded;
}
