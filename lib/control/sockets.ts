/**
 * The image's Internet sockets with the process that holds each, as
 * sockstat(1) lists them: FreeBSD joins the pcblist sysctls with kern.file;
 * here the control surface that made a socket recorded its owner
 * (Image.socketOwners). A TCP connection a listener accepted has no record
 * of its own; it belongs to whoever holds the listener that accepted it
 * (same local port and address), as it does in every server that keeps the
 * connections it accepts, and gets that owner's next fd when first listed.
 * Endpoints no open socket holds (a connection in TIME_WAIT, one whose
 * program closed it) have no owner, as FreeBSD prints them with `?`.
 */

import type { Image, SocketOwner } from '../image.js';
import { TCP_STATE_NAMES, TCPS } from '../netinet/tcp/tcp_var.js';
import { INP_IPV4, INP_IPV6, type InPcb } from '../socket/in_pcb.js';
import { fmtAddr6 } from '../socket/sockaddr6.js';

export type { SocketOwner };

export interface OwnedSocketRow {
  /** The families the endpoint takes, as netstat and sockstat name them (tcp4, tcp6, tcp46). */
  proto: 'tcp4' | 'tcp6' | 'tcp46' | 'udp4' | 'udp6' | 'udp46';
  /** IPv4 addresses (0 for the wildcard, and in IPv6 rows). */
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** IPv6 rows: the addresses as text with their zone (`::` for the wildcard). */
  laddr6?: string;
  faddr6?: string;
  /** TCP state name (FreeBSD's tcpstates[]); '' for UDP. */
  state: string;
  /** Absent: no open socket holds the endpoint. fd -1: not known (a Linux program's). */
  owner?: { pid: number; command: string; uid: number; fd: number };
}

/** The row's family and, for an endpoint that takes IPv6, its IPv6 addresses (lib/socket/list.ts's rule). */
function family(r: OwnedSocketRow, t: 'tcp' | 'udp', p: InPcb): OwnedSocketRow {
  const v = p.vflag & (INP_IPV4 | INP_IPV6);
  r.proto = v === INP_IPV4 ? `${t}4` : v === INP_IPV6 ? `${t}6` : `${t}46`;
  if ((v & INP_IPV6) !== 0) {
    r.laddr = 0;
    r.faddr = 0;
    r.laddr6 = fmtAddr6(p.laddr6!, p.zone);
    r.faddr6 = fmtAddr6(p.faddr6!, p.zone);
  }
  return r;
}

/** A socket made for `owner`: it gets the owner's next fd. */
export function recordOwner(im: Image, so: object, owner: SocketOwner | undefined): void {
  if (owner === undefined) return;
  const fd = owner.nextFd;
  if (fd >= 0) owner.nextFd = fd + 1;
  im.socketOwners.set(so, { owner, fd });
}

function ownerOf(im: Image, so: object | null): OwnedSocketRow['owner'] {
  if (so === null || !im.sockets.has(so as { close(): void })) return undefined;
  const r = im.socketOwners.get(so);
  if (r === undefined) return undefined;
  return { pid: r.owner.pid, command: r.owner.command, uid: r.owner.uid, fd: r.fd };
}

/** TCP endpoints (listeners first met), then UDP, in table order. */
export function ownedSockets(im: Image): OwnedSocketRow[] {
  const rows: OwnedSocketRow[] = [];
  const listeners = new Map<number, Array<{ laddr: number; so: object }>>();
  const all = [...im.tcp.tcb.all()];
  for (const p of all) {
    if (p.listen === null) continue;
    const l = listeners.get(p.lport) ?? [];
    l.push({ laddr: p.laddr, so: p.listen.hooks });
    listeners.set(p.lport, l);
  }
  for (const p of all) {
    if (p.listen !== null) {
      rows.push(family({ proto: 'tcp4', laddr: p.laddr, lport: p.lport, faddr: 0, fport: 0, state: TCP_STATE_NAMES[TCPS.LISTEN]!, owner: ownerOf(im, p.listen.hooks) }, 'tcp', p));
      continue;
    }
    const cb = p.cb;
    const laddr = cb !== null && cb.laddr !== 0 ? cb.laddr : p.laddr;
    const row: OwnedSocketRow = { proto: 'tcp4', laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state: cb === null ? 'CLOSED' : TCP_STATE_NAMES[cb.state]! };
    const so = cb === null ? null : (cb.so as object);
    row.owner = ownerOf(im, so);
    if (row.owner === undefined && so !== null && im.sockets.has(so as { close(): void }) && !im.socketOwners.has(so)) {
      // An accepted connection: the listener's holder accepted it.
      const l = listeners.get(p.lport)?.find((x) => x.laddr === 0 || x.laddr === laddr);
      const lo = l === undefined ? undefined : im.socketOwners.get(l.so);
      if (lo !== undefined && im.sockets.has(l!.so as { close(): void })) {
        recordOwner(im, so, lo.owner);
        row.owner = ownerOf(im, so);
      }
    }
    rows.push(family(row, 'tcp', p));
  }
  for (const p of im.udb.all()) {
    rows.push(family({ proto: 'udp4', laddr: p.laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state: '', owner: ownerOf(im, p.so) }, 'udp', p));
  }
  return rows;
}
