/**
 * Test helper: twoImages() with IPv6 global addresses 2001:db8::1 (A) and
 * 2001:db8::2 (B) on the epair, usable at once (no DAD wait; the
 * link-local addresses still run DAD: advance the clock 2.5 s for them).
 */

import type { Image } from '../image.js';
import type { Ifnet } from '../net/if.js';
import { in6AddAddress } from '../netinet6/in6.js';
import { parseIp6 } from '../wire/ipv6.js';
import { twoImages, type TestNet } from './testnet.js';

export const A6 = '2001:db8::1';
export const B6 = '2001:db8::2';

/** The image's Ethernet interface (its epair end). */
export function ethOf(im: Image): Ifnet {
  return [...im.ifnets.values()].find((i) => !i.loopback)!;
}

export function twoImages6(): TestNet {
  const n = twoImages();
  for (const [im, a] of [
    [n.a, A6],
    [n.b, B6],
  ] as const) {
    im.sysctl.set('net.inet6.ip6.dad_count', '0');
    in6AddAddress(im, ethOf(im), parseIp6(a)!, 64);
  }
  return n;
}
