/**
 * ICMPv6 ping sockets of Linux programs (icmp6.ts), driven as the
 * supervisor drives them: agent requests through Session and frames with
 * the addr6 trailer on the datagram channel; two images with IPv6
 * addresses on an in-memory link (no root, no TAP).
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { A6, B6, twoImages6 } from '../../lib/testing/testnet6.js';
import { ip6ToString, parseIp6 } from '../../lib/wire/ipv6.js';
import { harness, req, until, type Harness } from './dg_harness.js';
import { Icmp6PingSocket, icmp6IdentImages } from './icmp6.js';
import { ImageControl } from '../../lib/control/index.js';
import { type Addr6, AF_INET6, DG_FLAG, INET6, IPPROTO_ICMPV6, IPPROTO_IPV6, IPV6, LINUX_ERRNO, OP, SO, SOCK_DGRAM, SOL_SOCKET, encodeDg } from './wire.js';

const a6 = (t: string): Addr6 => ({ addr: parseIp6(t)!, scope: 0, flow: 0 });

/** An ICMPv6 message: type, code 0, a bogus checksum, identifier, sequence, data. */
function icmp6(type: number, ident: number, seq: number, data: string): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = type;
  b.writeUInt16BE(0xdead, 2);
  b.writeUInt16BE(ident, 4);
  b.writeUInt16BE(seq, 6);
  b.write(data, 8);
  return b;
}

describe('ICMPv6 ping sockets of Linux programs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vl6-unit-'));
  const open: Harness[] = [];
  after(() => {
    for (const h of open) {
      h.s.close();
      h.sup.destroy();
      h.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('echo request out with the identifier the image chose; only its echo replies back, with source and hop limit', async () => {
    const tn = twoImages6();
    const h = await harness(tn, dir);
    open.push(h);
    assert.equal((await h.ask(req({ seq: 1, op: OP.DGRAM, id: 1, a: IPPROTO_ICMPV6, b: SOCK_DGRAM }))).err, LINUX_ERRNO.EPROTONOSUPPORT); // AF_INET
    assert.equal((await h.ask(req({ seq: 2, op: OP.DGRAM, id: 2, a: IPPROTO_ICMPV6, b: SOCK_DGRAM, flags: INET6 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 3, op: OP.GETOPT, id: 2, a: SOL_SOCKET, b: SO.DOMAIN }))).val, AF_INET6);
    assert.equal((await h.ask(req({ seq: 4, op: OP.GETOPT, id: 2, a: SOL_SOCKET, b: SO.PROTOCOL }))).val, IPPROTO_ICMPV6);
    assert.equal((await h.ask(req({ seq: 5, op: OP.SETOPT, id: 2, a: IPPROTO_IPV6, b: IPV6.RECVHOPLIMIT, c: 1 }))).err, 0);
    h.sup.write(encodeDg(2, 70, 0, 0, DG_FLAG.ACK, icmp6(128, 0x1234, 7, 'hello'), a6(B6)));
    await until(tn, () => h.frames.some((f) => f.seq === 70));
    assert.equal(h.frames.find((f) => f.seq === 70)!.addr, 0);
    await until(tn, () => h.frames.some((f) => f.id === 2 && (f.flags & DG_FLAG.STATUS) === 0));
    const name = await h.ask(req({ seq: 6, op: OP.NAME, id: 2, flags: INET6 }));
    assert.ok(name.port !== 0, 'an identifier');
    const r = h.frames.find((f) => f.id === 2 && (f.flags & DG_FLAG.STATUS) === 0)!;
    assert.equal(r.flags, DG_FLAG.ADDR6);
    assert.equal(ip6ToString(r.a6!.addr), B6);
    assert.equal(r.port, 64, 'the hop limit the reply arrived with');
    assert.equal(r.data[0], 129, 'an echo reply');
    assert.equal(r.data.readUInt16BE(4), name.port, 'the identifier the image wrote');
    assert.equal(r.data.readUInt16BE(6), 7);
    assert.equal(r.data.subarray(8).toString(), 'hello');
    // What Linux refuses: not an echo request, a v4-mapped destination, too short.
    h.sup.write(encodeDg(2, 71, 0, 0, DG_FLAG.ACK, icmp6(129, 1, 1, 'x'), a6(B6)));
    h.sup.write(encodeDg(2, 72, 0, 0, DG_FLAG.ACK, icmp6(128, 1, 1, 'x'), a6('::ffff:10.0.0.2')));
    h.sup.write(encodeDg(2, 73, 0, 0, DG_FLAG.ACK, Buffer.alloc(4, 128), a6(B6)));
    h.sup.write(encodeDg(2, 74, 0, 0, DG_FLAG.ACK | DG_FLAG.NOADDR, icmp6(128, 1, 1, 'x')));
    await until(tn, () => [71, 72, 73, 74].every((s) => h.frames.some((f) => f.seq === s)));
    assert.deepEqual([71, 72, 73, 74].map((s) => h.frames.find((f) => f.seq === s)!.addr), [LINUX_ERRNO.EINVAL, LINUX_ERRNO.EINVAL, LINUX_ERRNO.EINVAL, LINUX_ERRNO.EDESTADDRREQ]);
    // IPV6_UNICAST_HOPS is the hop limit of what it sends; out of range is EINVAL.
    assert.equal((await h.ask(req({ seq: 8, op: OP.SETOPT, id: 2, a: IPPROTO_IPV6, b: IPV6.UNICAST_HOPS, c: 3 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 9, op: OP.GETOPT, id: 2, a: IPPROTO_IPV6, b: IPV6.UNICAST_HOPS }))).val, 3);
    assert.equal((await h.ask(req({ seq: 10, op: OP.SETOPT, id: 2, a: IPPROTO_IPV6, b: IPV6.UNICAST_HOPS, c: 300 }))).err, LINUX_ERRNO.EINVAL);
    assert.equal((await h.ask(req({ seq: 11, op: OP.SETOPT, id: 2, a: IPPROTO_IPV6, b: IPV6.RECVPKTINFO, c: 1 }))).err, LINUX_ERRNO.ENOPROTOOPT);
    // Connected: a plain send goes to the peer; getpeername names it.
    assert.equal((await h.ask(req({ seq: 12, op: OP.CONNECT, id: 2, flags: INET6, a6: a6(B6) }))).err, 0);
    const pn = await h.ask(req({ seq: 13, op: OP.NAME, id: 2, flags: INET6, a: 1 }));
    assert.equal(ip6ToString(pn.a6!.addr), B6);
    h.sup.write(encodeDg(2, 75, 0, 0, DG_FLAG.ACK | DG_FLAG.NOADDR, icmp6(128, 1, 8, 'again')));
    await until(tn, () => h.frames.some((f) => f.id === 2 && f.data.subarray(8).toString() === 'again'));
    // Bound to an address that is not the image's: EADDRNOTAVAIL.
    assert.equal((await h.ask(req({ seq: 14, op: OP.DGRAM, id: 3, a: IPPROTO_ICMPV6, b: SOCK_DGRAM, flags: INET6 }))).err, 0);
    assert.equal((await h.ask(req({ seq: 15, op: OP.BIND, id: 3, flags: INET6, a6: a6('2001:db8::99') }))).err, LINUX_ERRNO.EADDRNOTAVAIL);
    assert.equal((await h.ask(req({ seq: 16, op: OP.BIND, id: 3, flags: INET6, a6: a6(A6) }))).err, 0);
    const ln = await h.ask(req({ seq: 17, op: OP.NAME, id: 3, flags: INET6 }));
    assert.equal(ip6ToString(ln.a6!.addr), A6);
    h.s.serve(req({ seq: 18, op: OP.CLOSE, id: 2, type: 0 }));
    h.s.serve(req({ seq: 19, op: OP.CLOSE, id: 3, type: 0 }));
    assert.equal(h.s.dgram.size, 0);
  });
});

test('the identifier table keeps no entry for an image once its last ping socket closes', () => {
  const n = twoImages6();
  const ctl = new ImageControl(n.a, n.reg);
  const before = icmp6IdentImages();
  const any = a6('::');
  const s1 = new Icmp6PingSocket(ctl, () => {});
  const s2 = new Icmp6PingSocket(ctl, () => {});
  assert.equal(s1.bind(any, 77), 0);
  assert.equal(s2.bind(any, 77), LINUX_ERRNO.EADDRINUSE);
  assert.equal(s2.bind(any, 78), 0);
  assert.equal(icmp6IdentImages(), before + 1);
  s1.close();
  assert.equal(icmp6IdentImages(), before + 1, 'ident 78 is still held');
  s2.close();
  assert.equal(icmp6IdentImages(), before);
});
