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

export type { SocketOwner };

export interface OwnedSocketRow {
  proto: 'tcp4' | 'udp4';
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** TCP state name (FreeBSD's tcpstates[]); '' for UDP. */
  state: string;
  /** Absent: no open socket holds the endpoint. fd -1: not known (a Linux program's). */
  owner?: { pid: number; command: string; uid: number; fd: number };
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
      rows.push({ proto: 'tcp4', laddr: p.laddr, lport: p.lport, faddr: 0, fport: 0, state: TCP_STATE_NAMES[TCPS.LISTEN]!, owner: ownerOf(im, p.listen.hooks) });
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
    rows.push(row);
  }
  for (const p of im.udb.all()) {
    rows.push({ proto: 'udp4', laddr: p.laddr, lport: p.lport, faddr: p.faddr, fport: p.fport, state: '', owner: ownerOf(im, p.so) });
  }
  return rows;
}
