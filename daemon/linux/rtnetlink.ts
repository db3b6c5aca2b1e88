/**
 * NETLINK_ROUTE for Linux programs in an image, answered from the image's
 * control surface: what the kernel would answer a program's sendmsg on a
 * NETLINK_ROUTE socket in a network namespace set up like the image, so
 * glibc (getifaddrs, if_nameindex), iproute2 (`ip addr`, `ip route`, `ip
 * neigh`, `ip route get`) and Go (net.Interfaces) see the image.
 *
 * The request ladder follows netlink_rcv_skb and rtnetlink_rcv_msg: a
 * header that is short or runs past the buffer ends the batch (the kernel
 * drops the rest silently; here the program gets EINVAL so it does not wait
 * forever); a message without NLM_F_REQUEST or of a control type is only
 * acknowledged; GETs with NLM_F_DUMP dump links, addresses, routes,
 * neighbours or the (fixed, default) policy rules; GETLINK, GETROUTE and GETNEIGH also answer one object; anything that
 * would change the image answers EOPNOTSUPP (changes through netlink come
 * later), as does an unknown type. Input is hostile: nothing here throws.
 *
 * The interface ioctls (SIOCGIF*, SIOCGIFCONF) live in rtnetlink_ioctl.ts
 * and are re-exported here.
 */

import type { ImageControl, InterfaceInfo } from '../../lib/control/index.js';
import { IFF, RTF } from '../../lib/control/index.js';
import { AF, FRA, IFLA, LERR, NDA, NL, RT, RTM } from './rtnetlink_abi.js';
import { addr6Msgs, getRoute6, linux6Routes, nd6Entries, neigh6Msg, route6Msg } from './rtnetlink_inet6.js';
import { addrMsgs, linkMsg, linuxRoute, neighMsg, NlWriter, routeMsg, ruleMsg, type LinkRow, type MsgHead } from './rtnetlink_msgs.js';

export { ifconfAnswer, ifreqAnswer } from './rtnetlink_ioctl.js';

const align4 = (n: number): number => (n + 3) & ~3;

/** One request message, bounds checked. */
interface Req {
  type: number;
  flags: number;
  seq: number;
  /** The whole message (header included). */
  msg: Uint8Array;
  /** The payload after the header. */
  body: Uint8Array;
}

/** Datagrams of a multipart answer, each at most `max` bytes (one message bigger than that goes alone). */
class Packer {
  readonly out: Uint8Array[] = [];
  #parts: Uint8Array[] = [];
  #len = 0;

  constructor(readonly max: number) {}

  add(m: Uint8Array): void {
    if (this.#len > 0 && this.#len + m.length > this.max) this.flush();
    this.#parts.push(m);
    this.#len += m.length;
  }

  flush(): void {
    if (this.#len === 0) return;
    const d = new Uint8Array(this.#len);
    let at = 0;
    for (const p of this.#parts) {
      d.set(p, at);
      at += p.length;
    }
    this.out.push(d);
    this.#parts = [];
    this.#len = 0;
  }
}

/**
 * NLMSG_ERROR (error 0 is an ACK). An ACK echoes only the request's header
 * (NLM_F_CAPPED); an error echoes the whole request as the kernel does
 * without NETLINK_CAP_ACK, unless it is too large for one datagram.
 */
function nlError(pid: number, seq: number, errno: number, echo: Uint8Array, max: number): Uint8Array {
  const full = errno !== 0 && echo.length >= NL.HDRLEN && NL.HDRLEN + 4 + echo.length <= max;
  const w = new NlWriter();
  const m = w.begin({ type: NL.ERROR, flags: full ? 0 : NL.F_CAPPED, seq, pid });
  w.i32(-errno);
  if (full) w.bytes(echo);
  else {
    const h = echo.subarray(0, NL.HDRLEN);
    w.bytes(h);
    w.zeros(NL.HDRLEN - h.length);
  }
  w.end(m);
  return w.take();
}

function done(w: NlWriter, pid: number, seq: number): Uint8Array {
  const m = w.begin({ type: NL.DONE, flags: NL.F_MULTI, seq, pid });
  w.i32(0);
  w.end(m);
  return w.take();
}

/** Walk the attributes after a fixed header: type to value, or undefined when one runs past the end. */
function attrs(body: Uint8Array, from: number): Map<number, Uint8Array> | undefined {
  const out = new Map<number, Uint8Array>();
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = from;
  while (at + NL.ATTR_HDRLEN <= body.length) {
    const len = dv.getUint16(at, true);
    const type = dv.getUint16(at + 2, true) & NL.NLA_TYPE_MASK;
    if (len < NL.ATTR_HDRLEN || at + len > body.length) return undefined;
    if (!out.has(type)) out.set(type, body.subarray(at + NL.ATTR_HDRLEN, at + len));
    at += align4(len);
  }
  return out;
}

/** A NUL-terminated (or not) attribute string. */
function attrString(v: Uint8Array): string {
  const nul = v.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? v : v.subarray(0, nul));
}

/**
 * Does a dump of `type` for `family` list the image's IPv4 objects? The
 * kernel answers a family with its own handler from that handler (IPv6:
 * inet6Dump; MPLS, multicast routing, bridge: nothing, the image has none
 * of them) and falls back to AF_UNSPEC for the rest (glibc asks with AF_PACKET);
 * neighbour dumps list only tables of the family asked for.
 */
function inetDump(type: number, family: number): boolean {
  if (family === AF.UNSPEC || family === AF.INET) return true;
  if (type === RTM.GETNEIGH || type === RTM.GETRULE) return false;
  if (type === RTM.GETLINK) return family !== AF.BRIDGE;
  return family !== AF.INET6 && family !== AF.MPLS && family !== AF.IPMR && family !== AF.IP6MR && family !== AF.BRIDGE;
}

/**
 * Does a dump of `type` for `family` list the image's IPv6 objects? AF_INET6
 * itself, and AF_UNSPEC with the families that fall back to it (the kernel
 * dumps every family in order, IPv4 before IPv6); links and rules are
 * answered elsewhere.
 */
function inet6Dump(type: number, family: number): boolean {
  if (type !== RTM.GETADDR && type !== RTM.GETROUTE && type !== RTM.GETNEIGH) return false;
  if (family === AF.UNSPEC || family === AF.INET6) return true;
  if (type === RTM.GETNEIGH) return false;
  return family !== AF.INET && family !== AF.MPLS && family !== AF.IPMR && family !== AF.IP6MR && family !== AF.BRIDGE;
}

function dump(ctl: ImageControl, r: Req, pid: number, max: number): Uint8Array[] {
  const p = new Packer(max);
  const w = new NlWriter();
  const family = r.body[0]!;
  if (inetDump(r.type, family)) {
    switch (r.type) {
      case RTM.GETLINK: {
        const h: MsgHead = { type: RTM.NEWLINK, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const f of ctl.interfaces.listWithCounters()) {
          linkMsg(w, h, f);
          p.add(w.take());
        }
        break;
      }
      case RTM.GETADDR: {
        const h: MsgHead = { type: RTM.NEWADDR, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const f of ctl.interfaces.list()) addrMsgs(w, h, f, () => p.add(w.take()));
        break;
      }
      case RTM.GETROUTE: {
        const h: MsgHead = { type: RTM.NEWROUTE, flags: NL.F_MULTI, seq: r.seq, pid };
        const byName = new Map(ctl.interfaces.list().map((f) => [f.name, f] as const));
        const routes = ctl.routes.list().map((ri) => linuxRoute(ctl, ri, byName));
        // Table main first, then table local, as the kernel walks its tables.
        for (const lr of [...routes.filter((x) => x.table === RT.TABLE_MAIN), ...routes.filter((x) => x.table !== RT.TABLE_MAIN)]) {
          routeMsg(w, h, lr);
          p.add(w.take());
        }
        break;
      }
      case RTM.GETRULE: {
        const h: MsgHead = { type: RTM.NEWRULE, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const [prio, table] of FRA.DEFAULTS) {
          ruleMsg(w, h, prio, table);
          p.add(w.take());
        }
        break;
      }
      case RTM.GETNEIGH: {
        const h: MsgHead = { type: RTM.NEWNEIGH, flags: NL.F_MULTI, seq: r.seq, pid };
        const index = new Map(ctl.interfaces.list().map((f) => [f.name, f.index] as const));
        // The image's own addresses are pinned entries of its ARP table; Linux does not list them.
        for (const n of ctl.neighbours.list()) {
          if (n.own) continue;
          neighMsg(w, h, n, index.get(n.interface) ?? 0);
          p.add(w.take());
        }
        break;
      }
    }
  }
  if (inet6Dump(r.type, family)) {
    switch (r.type) {
      case RTM.GETADDR: {
        const h: MsgHead = { type: RTM.NEWADDR, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const f of ctl.interfaces.list()) addr6Msgs(w, h, f, () => p.add(w.take()));
        break;
      }
      case RTM.GETROUTE: {
        const h: MsgHead = { type: RTM.NEWROUTE, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const lr of linux6Routes(ctl)) {
          route6Msg(w, h, lr);
          p.add(w.take());
        }
        break;
      }
      case RTM.GETNEIGH: {
        const h: MsgHead = { type: RTM.NEWNEIGH, flags: NL.F_MULTI, seq: r.seq, pid };
        for (const e of nd6Entries(ctl)) {
          neigh6Msg(w, h, e.n, e.a, e.ifindex);
          p.add(w.take());
        }
        break;
      }
    }
  }
  p.add(done(w, pid, r.seq));
  p.flush();
  return p.out;
}

/** RTM_GETLINK for one interface, by ifi_index or IFLA_IFNAME (rtnl_getlink). */
function getLink(ctl: ImageControl, r: Req, pid: number): Uint8Array | number {
  if (r.body.length < IFLA.MSGLEN) return LERR.EINVAL;
  const index = new DataView(r.body.buffer, r.body.byteOffset, r.body.byteLength).getInt32(4, true);
  const a = attrs(r.body, IFLA.MSGLEN);
  if (a === undefined) return LERR.EINVAL;
  const nameAttr = a.get(IFLA.IFNAME) ?? a.get(IFLA.ALT_IFNAME);
  if (index <= 0 && nameAttr === undefined) return LERR.EINVAL;
  const name = nameAttr !== undefined ? attrString(nameAttr) : undefined;
  const f = ctl.interfaces.listWithCounters().find((x) => (index > 0 ? x.index === index : x.name === name));
  if (f === undefined) return LERR.ENODEV;
  const w = new NlWriter();
  linkMsg(w, { type: RTM.NEWLINK, flags: 0, seq: r.seq, pid }, f as LinkRow);
  return w.take();
}

/**
 * RTM_GETROUTE for one destination (`ip route get A.B.C.D`,
 * inet_rtm_getroute): the route output would use, as a cloned entry with
 * the source address it would pick. No route is ENETUNREACH, a blackhole
 * EINVAL and a reject route EHOSTUNREACH, the errors fib_props gives.
 */
function getRoute(ctl: ImageControl, r: Req, pid: number): Uint8Array | number {
  if (r.body.length < RT.MSGLEN) return LERR.EINVAL;
  const family = r.body[0]!;
  if (family !== AF.INET && family !== AF.INET6) return LERR.EOPNOTSUPP;
  const a = attrs(r.body, RT.MSGLEN);
  if (a === undefined) return LERR.EINVAL;
  if (family === AF.INET6) {
    const d6 = a.get(RT.DST);
    if (d6 !== undefined && d6.length !== 16) return LERR.EINVAL;
    const w6 = new NlWriter();
    if (!getRoute6(ctl, d6 === undefined ? new Uint8Array(16) : Uint8Array.from(d6), { type: RTM.NEWROUTE, flags: 0, seq: r.seq, pid }, w6)) return LERR.ENETUNREACH;
    return w6.take();
  }
  const d = a.get(RT.DST);
  if (d !== undefined && d.length !== 4) return LERR.EINVAL;
  const dst = d === undefined ? 0 : new DataView(d.buffer, d.byteOffset, 4).getUint32(0, false);
  const list: InterfaceInfo[] = ctl.interfaces.list();
  let type: number = RT.RTN_UNICAST;
  let flags: number = RT.F_CLONED;
  let oif: number;
  let gateway: number | undefined;
  let src: number | undefined;
  if (ctl.interfaces.ownerOf(dst) !== undefined) {
    // A local destination goes through the loopback interface, as Linux routes it.
    type = RT.RTN_LOCAL;
    flags = (flags | RT.RTCF_LOCAL) >>> 0;
    oif = list.find((f) => (f.flags & IFF.LOOPBACK) !== 0)?.index ?? 0;
    src = dst;
  } else {
    const rt = ctl.routes.lookup(dst);
    if (rt === undefined) return LERR.ENETUNREACH;
    if ((rt.flags & RTF.BLACKHOLE) !== 0) return LERR.EINVAL;
    if ((rt.flags & RTF.REJECT) !== 0) return LERR.EHOSTUNREACH;
    oif = rt.interfaceIndex;
    if ((rt.flags & RTF.GATEWAY) !== 0) gateway = rt.gateway >>> 0;
    src = ctl.routes.sourceFor(dst);
  }
  const w = new NlWriter();
  const m = w.begin({ type: RTM.NEWROUTE, flags: 0, seq: r.seq, pid });
  w.u8(AF.INET);
  w.u8(32);
  w.u8(0);
  w.u8(0);
  w.u8(RT.TABLE_MAIN);
  w.u8(RT.PROT_UNSPEC);
  w.u8(RT.SCOPE_UNIVERSE);
  w.u8(type);
  w.u32(flags);
  w.attrU32(RT.TABLE, RT.TABLE_MAIN);
  w.attrIp4(RT.DST, dst);
  w.attrU32(RT.OIF, oif);
  if (src !== undefined) w.attrIp4(RT.PREFSRC, src);
  if (gateway !== undefined) w.attrIp4(RT.GATEWAY, gateway);
  const c = w.attrStart(RT.CACHEINFO);
  w.zeros(RT.CACHEINFO_LEN);
  w.attrEnd(c);
  w.end(m);
  return w.take();
}

/** RTM_GETNEIGH for one address (`ip neigh get A.B.C.D dev IF`, neigh_get): ENOENT when the image has no entry. */
function getNeigh(ctl: ImageControl, r: Req, pid: number): Uint8Array | number {
  if (r.body.length < NDA.MSGLEN) return LERR.EINVAL;
  if (r.body[0] === AF.INET6) return getNeigh6(ctl, r, pid);
  if (r.body[0] !== AF.INET) return LERR.EOPNOTSUPP;
  const ifindex = new DataView(r.body.buffer, r.body.byteOffset, r.body.byteLength).getInt32(4, true);
  const a = attrs(r.body, NDA.MSGLEN);
  const d = a?.get(NDA.DST);
  if (d === undefined || d.length !== 4) return LERR.EINVAL;
  const dst = new DataView(d.buffer, d.byteOffset, 4).getUint32(0, false);
  const index = new Map(ctl.interfaces.list().map((f) => [f.name, f.index] as const));
  if (ifindex > 0 && ![...index.values()].includes(ifindex)) return LERR.ENODEV;
  const n = ctl.neighbours.list().find((x) => !x.own && x.ip === dst && (ifindex <= 0 || index.get(x.interface) === ifindex));
  if (n === undefined) return LERR.ENOENT;
  const w = new NlWriter();
  neighMsg(w, { type: RTM.NEWNEIGH, flags: 0, seq: r.seq, pid }, n, index.get(n.interface) ?? 0);
  return w.take();
}

/** RTM_GETNEIGH for one IPv6 address (`ip -6 neigh get ADDR dev IF`). */
function getNeigh6(ctl: ImageControl, r: Req, pid: number): Uint8Array | number {
  const ifindex = new DataView(r.body.buffer, r.body.byteOffset, r.body.byteLength).getInt32(4, true);
  const d = attrs(r.body, NDA.MSGLEN)?.get(NDA.DST);
  if (d === undefined || d.length !== 16) return LERR.EINVAL;
  if (ifindex > 0 && !ctl.interfaces.list().some((f) => f.index === ifindex)) return LERR.ENODEV;
  const e = nd6Entries(ctl).find((x) => x.a.every((b, i) => b === d[i]) && (ifindex <= 0 || x.ifindex === ifindex));
  if (e === undefined) return LERR.ENOENT;
  const w = new NlWriter();
  neigh6Msg(w, { type: RTM.NEWNEIGH, flags: 0, seq: r.seq, pid }, e.n, e.a, e.ifindex);
  return w.take();
}

/** Answer one well-formed message: the datagrams to deliver. */
function one(ctl: ImageControl, r: Req, pid: number, max: number): Uint8Array[] {
  const ack = (r.flags & NL.F_ACK) !== 0;
  const err = (e: number): Uint8Array[] => [nlError(pid, r.seq, e, r.msg, max)];
  // Not a request, or a control message: nothing to do but the ACK asked for.
  if ((r.flags & NL.F_REQUEST) === 0 || r.type < NL.MIN_TYPE) return ack ? err(0) : [];
  if (r.type > RTM.MAX) return err(LERR.EOPNOTSUPP);
  const kind = (r.type - RTM.BASE) & 3;
  // NEW, DEL, SET: changing an image through netlink comes later.
  if (kind !== RTM.KIND_GET) return err(LERR.EOPNOTSUPP);
  if ((r.flags & NL.F_DUMP) !== 0) {
    if (r.type !== RTM.GETLINK && r.type !== RTM.GETADDR && r.type !== RTM.GETROUTE && r.type !== RTM.GETNEIGH && r.type !== RTM.GETRULE) return err(LERR.EOPNOTSUPP);
    // rtgenmsg: at least the family byte.
    if (r.body.length < 1) return err(LERR.EINVAL);
    return dump(ctl, r, pid, max);
  }
  let res: Uint8Array | number;
  if (r.type === RTM.GETLINK) res = getLink(ctl, r, pid);
  else if (r.type === RTM.GETROUTE) res = getRoute(ctl, r, pid);
  else if (r.type === RTM.GETNEIGH) res = getNeigh(ctl, r, pid);
  else res = LERR.EOPNOTSUPP;
  if (typeof res === 'number') return err(res);
  return ack ? [res, nlError(pid, r.seq, 0, r.msg, max)] : [res];
}

/**
 * Answer the bytes of one sendmsg on an image's NETLINK_ROUTE socket: the
 * datagrams the program's recvmsg calls return, in order. A dump is cut into
 * datagrams of at most `maxDatagram` bytes (the kernel sizes dump skbs to the
 * reader's buffer; glibc and Go read with one page, so the default is
 * NLMSG_GOODSIZE; at most 32 KiB) and ends with NLMSG_DONE. Replies carry
 * the request's sequence number and `portId`.
 */
export function netlinkAnswer(ctl: ImageControl, req: Uint8Array, portId: number, maxDatagram: number = NL.GOODSIZE): Uint8Array[] {
  const pid = portId >>> 0;
  const max = Math.min(Math.max(Number.isFinite(maxDatagram) ? Math.floor(maxDatagram) : NL.GOODSIZE, 256), NL.MAX_DUMP);
  const out: Uint8Array[] = [];
  const dv = new DataView(req.buffer, req.byteOffset, req.byteLength);
  let off = 0;
  while (off < req.length) {
    const left = req.length - off;
    const len = left >= 4 ? dv.getUint32(off, true) : 0;
    const seq = left >= 12 ? dv.getUint32(off + 8, true) : 0;
    if (left < NL.HDRLEN || len < NL.HDRLEN || len > left) {
      // A broken header ends the batch: nothing after it can be framed.
      out.push(nlError(pid, seq, LERR.EINVAL, req.subarray(off, off + Math.min(left, NL.HDRLEN)), max));
      break;
    }
    const msg = req.subarray(off, off + len);
    const r: Req = { type: dv.getUint16(off + 4, true), flags: dv.getUint16(off + 6, true), seq, msg, body: msg.subarray(NL.HDRLEN) };
    try {
      out.push(...one(ctl, r, pid, max));
    } catch {
      // The control surface throws coded errors (an image going away); the program gets an errno, never a crash.
      out.push(nlError(pid, seq, LERR.EINVAL, msg, max));
    }
    off += align4(len);
  }
  return out;
}
