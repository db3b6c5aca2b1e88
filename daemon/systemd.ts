/**
 * systemd glue without libsystemd: sd_notify(3) through the native binding
 * (the message must come from the main PID for NotifyAccess=main), the
 * watchdog keep-alive, and socket activation (LISTEN_FDS/LISTEN_PID).
 * Outside systemd every function here does nothing.
 */

import { sdNotify } from '../lib/native/sys.js';
import type { Logger } from '../lib/log.js';

/** The first socket systemd passes (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

export function notify(message: string, log?: Logger): void {
  const sock = process.env['NOTIFY_SOCKET'] ?? '';
  if (sock === '') return;
  const rc = sdNotify(sock, message);
  if (rc < 0) log?.warn({ errno: rc, message }, 'sd_notify failed');
}

/** Start WATCHDOG=1 pings at half of WatchdogSec when systemd asks for them. */
export function startWatchdog(log: Logger): (() => void) | undefined {
  const usec = Number(process.env['WATCHDOG_USEC'] ?? 0);
  const pid = process.env['WATCHDOG_PID'];
  if (!(usec > 0) || (pid !== undefined && Number(pid) !== process.pid)) return undefined;
  const every = Math.max(100, usec / 1000 / 2);
  // The event loop answering is what the watchdog vouches for: a stuck
  // packet path or control server stops these pings.
  const t = setInterval(() => notify('WATCHDOG=1', log), every);
  t.unref();
  return () => clearInterval(t);
}

/** The listening socket systemd passed us, if any (vimaged.socket). */
export function activationFd(): number | undefined {
  const pid = Number(process.env['LISTEN_PID'] ?? 0);
  const n = Number(process.env['LISTEN_FDS'] ?? 0);
  if (pid !== process.pid || !(n >= 1)) return undefined;
  return SD_LISTEN_FDS_START;
}
