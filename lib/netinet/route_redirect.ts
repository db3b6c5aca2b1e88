/**
 * ICMP redirects (RFC 792, RFC 1122 3.2.2.2, RFC 1812 5.2.7.2), as FreeBSD
 * 14 handles them:
 *
 * - A host (net.inet.ip.forwarding=0) that receives a redirect it can
 *   verify adds a dynamic host route through the new gateway
 *   (sys/netinet/ip_icmp.c icmp_input and icmp_verify_redirect_gateway,
 *   sys/net/route/route_ctl.c rib_add_redirect), flags UGHD, which expires
 *   after net.inet.icmp.redirtimeout seconds (route_temporal.c).
 * - A router that forwards a packet back out the interface it came in on,
 *   to a gateway on the sender's own subnet, tells the sender with a host
 *   redirect (sys/netinet/ip_fastfwd.c ip_redir_alloc), unless
 *   net.inet.ip.redirect is 0.
 */

import type { Ifnet } from '../net/if.js';
import type { Vnet } from '../net/vnet.js';
import { sysctlInt } from '../sysctl.js';
import { ICMP_MINLEN, ICMP_TYPE, type IcmpPacket } from '../wire/icmp.js';
import { IP_HDR_LEN, ip4ToString } from '../wire/ipv4.js';
import { icmpError } from './ip_icmp.js';
import { ipForwarding } from './ip_var.js';
import { RTF, type Route } from './route.js';
import { RTM } from './route_events.js';

export const ipSendRedirects = sysctlInt({
  name: 'net.inet.ip.redirect',
  def: 1,
  min: 0,
  max: 1,
  descr: 'Enable sending IP redirects',
});
export const icmpDropRedirect = sysctlInt({
  name: 'net.inet.icmp.drop_redirect',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Ignore ICMP redirects',
});
export const icmpLogRedirect = sysctlInt({
  name: 'net.inet.icmp.log_redirect',
  def: 0,
  min: 0,
  max: 1,
  descr: 'Log ICMP redirects to the console',
});
export const icmpRedirTimeout = sysctlInt({
  name: 'net.inet.icmp.redirtimeout',
  def: 600,
  min: 0,
  max: 1_000_000,
  descr: 'Delay in seconds before expiring redirect route',
});

/** Redirect codes: network, host, TOS and network, TOS and host (RFC 792). */
const ICMP_REDIRECT_HOST = 1;
const ICMP_REDIRECT_MAXCODE = 3;

/**
 * A redirect addressed to us (icmp_input's ICMP_REDIRECT case). RFC 1122
 * says network redirects are treated as host redirects, so every accepted
 * one makes a host route to the quoted destination.
 */
export function redirectInput(im: Vnet, buf: Uint8Array, off: number, icmpLen: number, icp: IcmpPacket): void {
  const st = im.icmpstat;
  const sender = im.icmp.ip.reset(buf, off, IP_HDR_LEN).src;
  const gw = icp.gateway;
  const q = icp.quoteOffset;
  const quoted = im.icmp.ip.reset(buf, q, Math.max(0, icmpLen - ICMP_MINLEN));
  const dst = icmpLen >= ICMP_MINLEN + IP_HDR_LEN ? quoted.dst : 0;
  if (im.sysctl.v[icmpLogRedirect.slot] === 1) im.log.info(`icmp redirect from ${ip4ToString(sender)}: ${ip4ToString(dst)} => ${ip4ToString(gw)}`);
  // RFC 1812 5.2.7.2: a router ignores redirects.
  if (im.sysctl.v[icmpDropRedirect.slot] === 1 || im.sysctl.v[ipForwarding.slot] === 1) return;
  if (icp.code > ICMP_REDIRECT_MAXCODE) {
    st.badcode++;
    return;
  }
  // The quoted header and 8 bytes of its data (ICMP_ADVLENMIN, ICMP_ADVLEN).
  if (icmpLen < ICMP_MINLEN + IP_HDR_LEN + 8 || quoted.headerLen < IP_HDR_LEN || icmpLen < ICMP_MINLEN + quoted.headerLen + 8) {
    st.badlen++;
    return;
  }
  const out = verifyRedirect(im, sender, dst, gw);
  if (out === undefined) return;
  const timeout = im.sysctl.v[icmpRedirTimeout.slot]!;
  try {
    im.routes.add(
      { dst, prefixLen: 32, gateway: gw, ifp: out, flags: RTF.GATEWAY | RTF.HOST | RTF.DYNAMIC, mtu: 0, expire: timeout > 0 ? im.clock.now() + timeout * 1000 : 0 },
      false,
      RTM.REDIRECT,
      sender,
    );
  } catch {
    return; // a host route appeared meanwhile: nothing to do
  }
  if (timeout > 0) scheduleExpiry(im);
}

/**
 * RFC 1122 3.2.2.2's checks (FreeBSD's icmp_verify_redirect_gateway): the
 * new gateway is on a directly connected network and is not one of our
 * addresses; the redirect comes from the gateway we now use for `dst`,
 * through the same interface; the route is a network route through a
 * gateway (a host route already there, or a directly reachable
 * destination, is left alone). Returns the interface of the new route.
 */
function verifyRedirect(im: Vnet, sender: number, dst: number, gw: number): Ifnet | undefined {
  const out = im.interfaceForNeighbour(gw);
  if (out === undefined) return undefined; // ENETUNREACH
  if (im.localIfnet(gw) !== undefined) return undefined; // EHOSTUNREACH: to ourselves
  const rt = im.routes.lookup(dst);
  if (rt === undefined) return undefined;
  let cur: Route | undefined;
  for (const p of rt.group ?? [rt]) if ((p.flags & RTF.GATEWAY) !== 0 && p.gateway === sender) cur = p;
  if (cur === undefined) return undefined; // not from our current first hop
  if (cur.ifp !== out || cur.ifp.subnetOf(cur.gateway) !== out.subnetOf(gw)) return undefined;
  if ((cur.flags & RTF.HOST) !== 0) return undefined; // EEXIST
  return out;
}

/**
 * The forwarding path found that `rt` sends a packet from `src` back out
 * the interface it arrived on: send the sender a host redirect to the
 * route's gateway when FreeBSD's ip_redir_alloc would (not for a default,
 * dynamic, reject or blackhole route, only through a gateway, and only to a
 * sender on the outgoing interface's subnet). The quote is the packet as
 * forwarded. Two differences from FreeBSD 14, whose fast path sends one
 * per forwarded packet and leaves ips_redirectsent alone: icmplim limits
 * how many go out per second (as for the other errors here), and every one
 * sent counts in `netstat -s -p ip` "redirects sent".
 */
export function ipRedirect(im: Vnet, ifp: Ifnet, rt: Route, src: number, buf: Uint8Array, off: number, ipLen: number): void {
  if (im.sysctl.v[ipSendRedirects.slot] === 0) return;
  if (rt.prefixLen === 0 || (rt.flags & (RTF.DYNAMIC | RTF.REJECT | RTF.BLACKHOLE)) !== 0) return;
  if ((rt.flags & RTF.GATEWAY) === 0 || rt.gateway === 0) return;
  if (ifp.subnetOf(src) === undefined || ifp.subnetOf(src) !== ifp.subnetOf(rt.gateway)) return;
  const before = im.icmp.outhist[ICMP_TYPE.REDIRECT]!;
  icmpError(im, ifp, buf, off, ipLen, ICMP_TYPE.REDIRECT, ICMP_REDIRECT_HOST, 0, rt.gateway);
  // ips_redirectsent, once the redirect was built (not rate-limited away).
  if (im.icmp.outhist[ICMP_TYPE.REDIRECT]! !== before) im.ipstat.redirectsent++;
}

/** Run the expiry timer for the earliest route that expires (route_temporal.c's expire_callout). */
export function scheduleExpiry(im: Vnet): void {
  const rt = im.routes;
  rt.expiryTimer?.cancel();
  rt.expiryTimer = null;
  if (rt.expiring <= 0) return;
  let next = Infinity;
  for (const r of rt.list()) if (r.expire !== 0 && r.expire < next) next = r.expire;
  if (next === Infinity) return;
  rt.expiryTimer = im.clock.after(Math.max(0, next - im.clock.now()), () => {
    rt.expiryTimer = null;
    const now = im.clock.now();
    rt.removeWhere((r) => r.expire !== 0 && r.expire <= now);
    scheduleExpiry(im);
  });
}

/** Subsystem destroy: stop the expiry timer. */
export function routeDestroy(im: Vnet): void {
  im.routes.expiryTimer?.cancel();
  im.routes.expiryTimer = null;
}
