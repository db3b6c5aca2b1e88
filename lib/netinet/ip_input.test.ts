import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSocket } from '../socket/raw.js';
import { A_ADDR, B_ADDR, twoImages, type TestNet } from '../testing/testnet.js';
import { internetChecksum } from '../wire/checksum.js';
import { ipForwarding } from './ip_var.js';

/** An ICMP echo request from A to B with these IP options (padded to 32 bits). */
function echoWithOptions(opts: number[], id: number): Uint8Array {
  const o = [...opts];
  while (o.length % 4 !== 0) o.push(0);
  const hlen = 20 + o.length;
  const p = new Uint8Array(hlen + 8 + 4);
  p[0] = 0x40 | (hlen >> 2);
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 1;
  new DataView(p.buffer).setUint32(12, A_ADDR);
  new DataView(p.buffer).setUint32(16, B_ADDR);
  p.set(o, 20);
  const sum = internetChecksum(p, 0, hlen);
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
  p[hlen] = 8; // echo
  p[hlen + 4] = id >> 8;
  p[hlen + 5] = id & 0xff;
  p.set([1, 2, 3, 4], hlen + 8);
  const isum = internetChecksum(p, hlen, p.length - hlen);
  p[hlen + 2] = isum >> 8;
  p[hlen + 3] = isum & 0xff;
  return p;
}

/** Send from A with IP_HDRINCL; what comes back to A's ICMP raw socket. */
async function exchange(n: TestNet, pkt: Uint8Array): Promise<Uint8Array[]> {
  const s = new RawSocket(n.a, 1);
  s.hdrIncl = true;
  const got: Uint8Array[] = [];
  s.onPacket((buf, off, len) => got.push(buf.slice(off, off + len)));
  s.send(pkt, B_ADDR);
  await n.run(50);
  s.close();
  return got;
}

const u32 = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset).getUint32(o);
const hl = (b: Uint8Array): number => (b[0]! & 0xf) << 2;

test('an echo with a record route option comes back with the address of the image it reached, and of the one it returned to (ip_dooptions, icmp_reflect)', async () => {
  const n = twoImages();
  await n.run(10);
  const got = await exchange(n, echoWithOptions([7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0], 0x1111));
  const reply = got.find((b) => b[hl(b)] === 0);
  assert.ok(reply !== undefined, 'echo reply');
  assert.equal(hl(reply), 32);
  assert.deepEqual([...reply.subarray(20, 23)], [7, 11, 12], 'the pointer moved past two addresses');
  assert.equal(u32(reply, 23), B_ADDR, 'B recorded the request');
  assert.equal(u32(reply, 27), A_ADDR, 'A recorded the reply');
  assert.equal(internetChecksum(reply, 0, 32), 0);
  assert.equal(reply[32 + 4]! * 256 + reply[32 + 5]!, 0x1111);
});

test('a timestamp option is stamped (by B, then by A); NOPs and unknown options are not echoed', async () => {
  const n = twoImages();
  await n.run(10);
  const got = await exchange(n, echoWithOptions([1, 68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1e, 4, 0, 0], 0x2222));
  const reply = got.find((b) => b[hl(b)] === 0)!;
  assert.equal(hl(reply), 32);
  assert.deepEqual([...reply.subarray(20, 24)], [68, 12, 13, 0], 'two timestamps recorded');
  assert.ok(u32(reply, 24) < 86_400_000 && u32(reply, 28) < 86_400_000, 'milliseconds since midnight UT');
  assert.deepEqual([...reply.subarray(32, 33)], [0], 'the ICMP message follows the kept option');
});

test('malformed options earn a parameter problem pointing at the bad byte; source routes are dropped by a host', async () => {
  const n = twoImages();
  await n.run(10);
  // Option length 0: pointer at the length byte (offset 21).
  let got = await exchange(n, echoWithOptions([7, 0, 4, 0], 0x3333));
  let err = got.find((b) => b[hl(b)] === 12);
  assert.ok(err !== undefined, 'parameter problem');
  assert.deepEqual([err[20 + 1], err[20 + 4]], [0, 21]);
  assert.equal(got.filter((b) => b[hl(b)] === 0).length, 0, 'no echo reply');
  assert.equal(n.b.ipstat.badoptions, 1);
  // Record route with a pointer below 4: pointer at the pointer byte (offset 22).
  got = await exchange(n, echoWithOptions([7, 7, 2, 0, 0, 0, 0], 0x4444));
  err = got.find((b) => b[hl(b)] === 12)!;
  assert.equal(err[20 + 4], 22);
  // Loose source route ending here: a host drops it silently (net.inet.ip.accept_sourceroute=0).
  const cant = n.b.ipstat.cantforward;
  got = await exchange(n, echoWithOptions([131, 7, 8, 10, 0, 0, 2], 0x5555));
  assert.deepEqual(got, []);
  assert.equal(n.b.ipstat.cantforward, cant + 1);
  // A router says "source route failed".
  n.b.sysctl.v[ipForwarding.slot] = 1;
  got = await exchange(n, echoWithOptions([131, 7, 8, 10, 0, 0, 2], 0x6666));
  err = got.find((b) => b[hl(b)] === 3)!;
  assert.equal(err[20 + 1], 5);
});
