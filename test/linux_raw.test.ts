/**
 * Raw sockets of Linux programs in an image, the cases review rev2 found
 * wrong: a raw socket of protocol IPPROTO_UDP is a raw socket (not a UDP
 * socket) in the supervisor, and CAP_NET_RAW held only in a user namespace
 * of the program's own is no CAP_NET_RAW over the image (Linux checks it in
 * the user namespace that owns the network, ns_capable(net->user_ns)).
 * One image, no host (everything over lo0). Prefix vr2.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable } from './lab.js';

const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  for (const t of ['/usr/bin/python3', '/usr/bin/unshare']) if (!existsSync(t)) return `${t} is not installed`;
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();

const PY_RAW_UDP = `
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
r.settimeout(5)
r.setsockopt(socket.SOL_SOCKET, 29, 1)   # SO_TIMESTAMP: a raw socket's control message
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"vr2!", ("127.0.0.1", 9))
d, anc, flags, a = r.recvmsg(1000, 256)
hl = (d[0] & 15) * 4
print("raw udp", a, d[9], d[hl + 8:].decode(), [(l, t) for l, t, x in anc])
`;

const PY_RAW_TRY = `
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("raw made")
except OSError as e:
    print("raw", e.errno)
`;

const PY_TCP_ERRQ = `
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
a.sendall(b"stream data")
import time; time.sleep(0.3)
for f in (socket.MSG_ERRQUEUE, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT):
    try:
        print("errqueue", c.recvmsg(100, 256, f))
    except OSError as e:
        print("errqueue", e.errno)
print("data", c.recv(100))
`;

describe('raw sockets of Linux programs (review rev2)', { skip }, () => {
  const lab = new Lab('vr2');

  before(async () => {
    await lab.start();
    await lab.ok(['-c', 'R']);
  });

  after(async () => {
    await lab.close();
  });

  test('a SOCK_RAW IPPROTO_UDP socket gets whole packets with port 0 in the source address and the control messages it asked for', async () => {
    const r = await lab.vimage(['R', '/usr/bin/python3', '-c', PY_RAW_UDP]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "raw udp ('127.0.0.1', 0) 17 vr2! [(1, 29)]");
  });

  test('capabilities in a user namespace of the program\'s own do not make a raw socket (EPERM, as Linux)', async () => {
    const plain = await lab.vimage(['R', '/usr/bin/python3', '-c', PY_RAW_TRY]);
    assert.equal(plain.stdout.trim(), 'raw made', plain.stderr);
    const r = await lab.vimage(['R', '/usr/bin/unshare', '--user', '--map-root-user', '/usr/bin/python3', '-c', PY_RAW_TRY]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'raw 1');
  });

  test('recvmsg(MSG_ERRQUEUE) on a TCP socket is EAGAIN (its error queue is empty) and takes none of the stream', async () => {
    const r = await lab.vimage(['R', '/usr/bin/python3', '-c', PY_TCP_ERRQ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "errqueue 11\nerrqueue 11\ndata b'stream data'\n");
  });

  test('every program has exited: no image socket is left behind', async () => {
    assert.match(await lab.ok(['-l', '-v', 'R']), /^\s+0 sockets, /m);
  });
});
