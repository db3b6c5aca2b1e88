/**
 * Support for stack tests (no root, no TAP): the A–R–B topology over epairs
 * on a manual platform. Imported by tests only.
 *
 *   A 10.1.0.2 --(epair0)-- 10.1.0.1 R 10.2.0.1 --(epair1)-- 10.2.0.2 B
 */

import type { ManualClock } from '../clock.js';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { inAddAddress } from '../netinet/in.js';
import { RTF } from '../netinet/route.js';
import { parseIp4 } from '../wire/ipv4.js';

/** A dotted quad that must parse. */
export const ip = (s: string): number => {
  const a = parseIp4(s);
  if (a === undefined) throw new Error(`bad address in a test: ${s}`);
  return a;
};

export interface Topology {
  reg: Registry;
  clock: ManualClock;
  a: Image;
  r: Image;
  b: Image;
}

/** A and B with default routes through R; R forwards unless `forwarding` is false. */
export function routerTopology(opts: { forwarding?: boolean; random?: () => number } = {}): Topology {
  const platform = new ManualPlatform({ random: opts.random ?? (() => 0.5) });
  const clock = platform.clock;
  const reg = new Registry({ platform, log: silentLogger });
  const a = reg.create('A');
  const r = reg.create('R');
  const b = reg.create('B');
  const [e0a, e0b] = reg.createEpair(r);
  const [e1a, e1b] = reg.createEpair(r);
  reg.move(r, e0b, a);
  reg.move(r, e1b, b);
  for (const [im, ifp, addr] of [
    [a, e0b, '10.1.0.2'],
    [r, e0a, '10.1.0.1'],
    [r, e1a, '10.2.0.1'],
    [b, e1b, '10.2.0.2'],
  ] as const) {
    im.setUp(ifp, true);
    inAddAddress(im, ifp, ip(addr), 24, { alias: false });
  }
  a.routes.add({ dst: 0, prefixLen: 0, gateway: ip('10.1.0.1'), ifp: e0b, flags: RTF.GATEWAY | RTF.STATIC, mtu: 0 });
  b.routes.add({ dst: 0, prefixLen: 0, gateway: ip('10.2.0.1'), ifp: e1b, flags: RTF.GATEWAY | RTF.STATIC, mtu: 0 });
  if (opts.forwarding !== false) r.sysctl.set('net.inet.ip.forwarding', '1');
  reg.netisr.drain();
  return { reg, clock, a, r, b };
}
