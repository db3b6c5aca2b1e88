import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TCP_HDR_LEN, TH, TcpPacket, emitTcp, newTcpRepr, parseTcp, tcpChecksum, tcpHeaderLen } from './tcp.js';
import { UDP_HDR_LEN, UdpPacket, emitUdp, parseUdp } from './udp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const A = 0x0a090901; // 10.9.9.1, both ends of the captures below (Linux, lo)

// Captured from Linux on lo, where the kernel leaves TCP/UDP checksums partial
// (offload); the checksum fields below are the complete values (computed
// independently with Python), everything else is as captured.
// curl's SYN to 10.9.9.1:7 (mss 65495, sackOK, TS, nop, wscale 10) ...
const SYN = hex('e8e0 0007 bbfd 1366 0000 0000 a002 ffd7 bcf3 0000 0204 ffd7 0402 080a 4c2f 667f 0000 0000 0103 030a');
// ... answered by RST|ACK from the closed port.
const RST = hex('0007 e8e0 0000 0000 bbfd 1367 5014 0000 d170 0000');
// A UDP datagram "hello" from port 49798 to 9.
const UDP = hex('c286 0009 000d d35e 6865 6c6c 6f');

test('TCP view parses a Linux SYN with MSS, SACK-permitted, timestamps and window scale', () => {
  const v = new TcpPacket().reset(SYN, 0, SYN.length);
  assert.equal(v.check(), 'ok');
  assert.ok(v.verifyChecksum(A, A));
  const r = parseTcp(v, newTcpRepr());
  assert.equal(r.srcPort, 59616);
  assert.equal(r.dstPort, 7);
  assert.equal(r.seq, 3153924966);
  assert.equal(r.ack, 0);
  assert.equal(r.flags, TH.SYN);
  assert.equal(r.window, 65495);
  assert.equal(r.mss, 65495);
  assert.equal(r.sackPermitted, true);
  assert.equal(r.tsPresent, true);
  assert.equal(r.tsVal, 0x4c2f667f);
  assert.equal(r.tsEcr, 0);
  assert.equal(r.wscale, 10);
  assert.equal(v.payloadLength, 0);
});

test('TCP emit reproduces the Linux SYN and RST byte for byte', () => {
  const r = parseTcp(new TcpPacket().reset(SYN, 0, SYN.length), newTcpRepr());
  assert.equal(tcpHeaderLen(r), 40);
  const out = new Uint8Array(40);
  assert.equal(emitTcp(r, out, 0), 40);
  tcpChecksum(out, 0, 40, A, A);
  assert.deepEqual(out, SYN);
  const rst = parseTcp(new TcpPacket().reset(RST, 0, RST.length), newTcpRepr());
  assert.equal(rst.flags, TH.RST | TH.ACK);
  assert.equal(rst.ack, 3153924967);
  const o2 = new Uint8Array(TCP_HDR_LEN);
  emitTcp(rst, o2, 0);
  tcpChecksum(o2, 0, 20, A, A);
  assert.deepEqual(o2, RST);
});

test('TCP SACK blocks round-trip', () => {
  const r = newTcpRepr();
  Object.assign(r, { srcPort: 1, dstPort: 2, seq: 100, ack: 200, flags: TH.ACK, window: 1000, tsPresent: true, tsVal: 5, tsEcr: 6, sackCount: 2 });
  r.sack.set([0xfffffff0, 0x10, 300, 400]);
  const b = new Uint8Array(tcpHeaderLen(r) + 3);
  const hl = emitTcp(r, b, 0);
  assert.equal(hl, 20 + 12 + 4 + 16);
  const p = parseTcp(new TcpPacket().reset(b, 0, b.length), newTcpRepr());
  assert.equal(p.sackCount, 2);
  assert.deepEqual([...p.sack.subarray(0, 4)], [0xfffffff0, 0x10, 300, 400]);
  assert.equal(p.tsVal, 5);
  assert.equal(p.tsEcr, 6);
  assert.equal(new TcpPacket().reset(b, 0, b.length).payloadLength, 3);
});

test('TCP truncated, impossible offsets and bad options never throw', () => {
  assert.equal(new TcpPacket().reset(SYN, 0, 19).check(), 'rcvshort');
  const bad = SYN.slice();
  bad[12] = 0x40; // data offset 16 < 20
  assert.equal(new TcpPacket().reset(bad, 0, bad.length).check(), 'rcvbadoff');
  bad[12] = 0xf0; // 60 > 40 bytes present
  assert.equal(new TcpPacket().reset(bad, 0, bad.length).check(), 'rcvbadoff');
  const opt = SYN.slice();
  opt[21] = 40; // MSS option claims 40 bytes: parsing stops, nothing read past the header
  const r = parseTcp(new TcpPacket().reset(opt, 0, opt.length), newTcpRepr());
  assert.equal(r.mss, 0);
  const zero = SYN.slice();
  zero[21] = 0; // zero-length option
  assert.equal(parseTcp(new TcpPacket().reset(zero, 0, zero.length), newTcpRepr()).wscale, -1);
  const flipped = SYN.slice();
  flipped[30] ^= 1;
  assert.equal(new TcpPacket().reset(flipped, 0, flipped.length).verifyChecksum(A, A), false);
});

test('UDP view parses a Linux datagram and emit reproduces it with its checksum', () => {
  const v = new UdpPacket().reset(UDP, 0, UDP.length);
  assert.equal(v.check(), 'ok');
  assert.ok(v.verifyChecksum(A, A));
  const r = parseUdp(v);
  assert.deepEqual(r, { srcPort: 49798, dstPort: 9, payloadLen: 5 });
  assert.equal(Buffer.from(UDP.subarray(v.payloadOffset, v.payloadOffset + 5)).toString(), 'hello');
  const out = UDP.slice();
  out.fill(0, 0, UDP_HDR_LEN);
  emitUdp(r, out, 0, A, A, true);
  assert.deepEqual(out, UDP);
  emitUdp(r, out, 0, A, A, false);
  assert.equal(new UdpPacket().reset(out, 0, out.length).checksum, 0);
});

test('UDP truncated, bad length and bad checksum are reported, not thrown', () => {
  assert.equal(new UdpPacket().reset(UDP, 0, 7).check(), 'hdrops');
  const long = UDP.slice();
  long[5] = 0x20; // length 32 > 13 present
  assert.equal(new UdpPacket().reset(long, 0, long.length).check(), 'badlen');
  long[5] = 4; // below the header
  assert.equal(new UdpPacket().reset(long, 0, long.length).check(), 'badlen');
  const bad = UDP.slice();
  bad[9] ^= 0xff;
  assert.equal(new UdpPacket().reset(bad, 0, bad.length).verifyChecksum(A, A), false);
});

test('UDP checksum that computes to zero is sent as 0xffff (RFC 768)', () => {
  // Find a payload whose checksum folds to zero, then check the substitution.
  const b = new Uint8Array(10);
  for (let x = 0; x < 0x10000; x++) {
    b[8] = x >> 8;
    b[9] = x & 0xff;
    emitUdp({ srcPort: 1, dstPort: 2, payloadLen: 2 }, b, 0, 1, 2, true);
    const c = (b[6]! << 8) | b[7]!;
    assert.notEqual(c, 0);
    if (c === 0xffff) {
      assert.ok(new UdpPacket().reset(b, 0, 10).verifyChecksum(1, 2));
      return;
    }
  }
  assert.fail('no payload gave a zero checksum');
});
