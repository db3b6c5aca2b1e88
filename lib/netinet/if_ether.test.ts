import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketError } from '../socket/errno.js';
import { RawSocket } from '../socket/raw.js';
import { twoImages } from '../testing/testnet.js';
import { UdpSocket } from '../socket/udp.js';
import { parseIp4 } from '../wire/ipv4.js';
import { RTF } from './route.js';

const ip = (s: string): number => parseIp4(s)!;
const NOBODY = ip('10.0.0.9'); // on A's subnet, never answers ARP

const errno = (code: string) => (e: unknown): boolean => e instanceof SocketError && e.code === code;

test('a UDP send to a neighbour that never answered ARP gets EHOSTDOWN until the entry expires', async () => {
  const n = twoImages();
  const s = new UdpSocket(n.a);
  s.send(new Uint8Array(8), NOBODY, 9); // held while ARP asks
  await n.run(3000, 500);
  s.send(new Uint8Array(8), NOBODY, 9); // still asking: held, no error
  await n.run(2000, 500);
  assert.equal(n.a.arp.entries.get(NOBODY)!.asked, 5, 'net.link.ether.inet.maxtries requests went out');
  const dropped = n.a.arpstat.dropped;
  assert.throws(
    () => s.send(new Uint8Array(8), NOBODY, 9),
    (e: unknown) => errno('EHOSTDOWN')(e) && (e as Error).message === 'Host is down' && (e as SocketError).syscall === 'send',
  );
  assert.throws(() => s.send(new Uint8Array(8), NOBODY, 9), errno('EHOSTDOWN'), 'every send while the entry is down');
  assert.equal(n.a.arpstat.dropped, dropped + 2);
  // net.link.ether.inet.wait (20 s) later the entry is gone and ARP asks again.
  await n.run(21_000, 1000);
  assert.equal(n.a.arp.entries.has(NOBODY), false);
  s.send(new Uint8Array(8), NOBODY, 9);
  assert.equal(n.a.arp.entries.get(NOBODY)!.asked, 1);
  s.close();
});

test('through a gateway that never answered ARP, sends get EHOSTUNREACH', async () => {
  const n = twoImages();
  const ifp = [...n.a.ifnets.values()].find((i) => !i.loopback)!;
  n.a.routes.add({ dst: ip('10.9.0.0'), prefixLen: 24, gateway: NOBODY, ifp, flags: RTF.GATEWAY | RTF.STATIC, mtu: 0 });
  const s = new UdpSocket(n.a);
  s.send(new Uint8Array(8), ip('10.9.0.1'), 9);
  await n.run(6000, 500);
  assert.throws(() => s.send(new Uint8Array(8), ip('10.9.0.1'), 9), errno('EHOSTUNREACH'));
  s.close();
});

test('a raw socket hears EHOSTDOWN too (ping prints "sendto: Host is down"); a neighbour that answers is unaffected', async () => {
  const n = twoImages();
  const s = new RawSocket(n.a, 1);
  s.send(new Uint8Array(8), NOBODY);
  await n.run(6000, 500);
  assert.throws(() => s.send(new Uint8Array(8), NOBODY), errno('EHOSTDOWN'));
  // A neighbour that answers is not affected.
  s.send(new Uint8Array(8), ip('10.0.0.2'));
  s.close();
});
