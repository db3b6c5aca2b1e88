/**
 * ifconfig(8)'s gif(4) parameters, as FreeBSD 14's ifconfig: `tunnel SRC
 * DST` (two IPv4 or two IPv6 addresses), `deletetunnel`, and the status
 * lines a gif adds: `options=80000<LINKSTATE>` and `tunnel inet A --> B`
 * (or `tunnel inet6 ...`), printed after the flags line as FreeBSD does.
 * `ifconfig gif[N] create` clones one.
 */

import type { InterfaceInfo } from '../../lib/control/index.js';
import type { CommandContext } from '../command.js';

/** What `ifconfig gifN ...` asked of the tunnel: set it, delete it, or nothing. */
export interface GifPlan {
  tunnel?: { src: string; dst: string } | null;
}

/** A gif parameter at args[i]: how many words it took (0: not one), or an error text. */
export function parseGifArg(args: readonly string[], i: number, p: GifPlan): number | string {
  const a = args[i]!;
  if (a === 'deletetunnel') {
    p.tunnel = null;
    return 1;
  }
  if (a !== 'tunnel') return 0;
  const src = args[i + 1];
  const dst = args[i + 2];
  if (src === undefined || dst === undefined) return 'tunnel: give the source and destination addresses (e.g. tunnel 192.0.2.1 198.51.100.1)';
  p.tunnel = { src, dst };
  return 3;
}

/** `ifconfig gif[N] create`: the new interface's name, or undefined when `requested` is not a gif. */
export function cloneGif(ctx: CommandContext, requested: string): string | undefined {
  const m = /^gif(\d+)?$/.exec(requested);
  if (m === null) return undefined;
  return ctx.image.interfaces.createGif(m[1] !== undefined ? { unit: m[1] } : {});
}

/** Apply the tunnel part of a plan. */
export function applyGifPlan(ifs: CommandContext['image']['interfaces'], name: string, p: GifPlan): void {
  if (p.tunnel !== undefined) ifs.configureGif(name, p.tunnel);
}

/** IFCAP_LINKSTATE, the one capability a gif reports. */
const IFCAP_LINKSTATE = 0x80000;

/** The lines FreeBSD prints for a gif after its flags line: options, then the tunnel. */
export function gifStatus(f: InterfaceInfo): string {
  if (f.gif === undefined) return '';
  let s = `\toptions=${IFCAP_LINKSTATE.toString(16)}<LINKSTATE>\n`;
  const t = f.gif.tunnel;
  if (t !== undefined) s += `\ttunnel ${t.family} ${t.src} --> ${t.dst}\n`;
  return s;
}
