import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpSocket } from './socket/tcp.js';
import { twoImages } from './testing/testnet.js';
import { findSysctl, sysctlText } from './sysctl.js';

test('net.inet.tcp.cc.algorithm takes a name, prints it, and refuses others with the choices', () => {
  const n = twoImages();
  const d = findSysctl('net.inet.tcp.cc.algorithm')!;
  assert.equal(sysctlText(d, n.a.sysctl.get(d)), 'newreno');
  const r = n.a.sysctl.set('net.inet.tcp.cc.algorithm', 'cubic');
  assert.equal(sysctlText(d, r.old), 'newreno');
  assert.equal(sysctlText(d, r.value), 'cubic');
  assert.throws(() => n.a.sysctl.set('net.inet.tcp.cc.algorithm', 'bbr'), /'bbr' is not available; choose one of newreno, cubic/);
  assert.equal(new TcpSocket(n.a).congestionControl, 'cubic', 'new connections use the chosen algorithm');
  assert.equal(new TcpSocket(n.b).congestionControl, 'newreno', 'per image');
});

test('integer sysctls refuse values outside their bounds, naming them', () => {
  const n = twoImages();
  assert.throws(() => n.a.sysctl.set('net.inet.ip.ttl', '0'), /between 1 and 255/);
  assert.throws(() => n.a.sysctl.set('net.inet.ip.ttl', 'x'), /invalid integer 'x'/);
});
