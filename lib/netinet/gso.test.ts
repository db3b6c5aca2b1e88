import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../platform.js';
import { silentLogger } from '../log.js';
import { Registry } from '../image.js';
import { IFF, type Ifnet, type LinkDriver } from '../net/if.js';
import { internetChecksum, pseudoHeaderSum, sum16, foldComplement } from '../wire/checksum.js';
import type { Mac } from '../wire/ethernet.js';
import { VnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO } from '../wire/vnet.js';
import { arpAddStatic } from './if_ether.js';
import { inAddAddress } from './in.js';
import { allocPacket, ipToLink, readU32 } from './ip_output.js';

/** An in-memory link that keeps what it is given; `offload` as asked. */
class CaptureDriver implements LinkDriver {
  readonly kind = 'cap';
  readonly headroom = 0;
  readonly frames: Array<{ frame: Uint8Array; meta: VnetHdr }> = [];
  constructor(readonly offload: boolean) {}
  output(_ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    this.frames.push({ frame: buf.slice(off, off + len), meta: new VnetHdr().copyFrom(meta) });
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

function setup(offload: boolean): { reg: Registry; drv: CaptureDriver; ifp: Ifnet; im: ReturnType<Registry['create']> } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const im = reg.create('G');
  const drv = new CaptureDriver(offload);
  const ifp = reg.newIfnet(im, 'cap0', 'cap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000001 as Mac, drv);
  im.ifnets.set('cap0', ifp);
  inAddAddress(im, ifp, 0x0a000001, 24, { alias: false });
  arpAddStatic(im, 0x0a000002, 0x020000000002 as Mac);
  drv.frames.length = 0; // the gratuitous ARP
  return { reg, drv, ifp, im };
}

/** A TCP/IPv4 super-frame of `payload` bytes with FIN|PSH|ACK, partial checksum as Linux sends it. */
function superFrame(payload: number): { buf: Uint8Array; off: number; len: number } {
  const len = 20 + 20 + payload;
  const p = allocPacket(len);
  const b = p.buf;
  const o = p.off;
  b.set([0x45, 0, len >> 8, len & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], o);
  const s = internetChecksum(b, o, 20);
  b[o + 10] = s >> 8;
  b[o + 11] = s & 0xff;
  const t = o + 20;
  b.set([0x30, 0x39, 0x00, 0x50, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x50, 0x19, 0xff, 0xff, 0, 0, 0, 0], t);
  for (let i = 0; i < payload; i++) b[t + 20 + i] = i & 0xff;
  // Partial checksum: the pseudo-header sum only, as with VIRTIO_NET_HDR_F_NEEDS_CSUM.
  const ps = foldComplement(pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 20 + payload));
  const partial = ~ps & 0xffff;
  b[t + 16] = partial >> 8;
  b[t + 17] = partial & 0xff;
  return { buf: b, off: o, len };
}

function gsoMeta(mss: number): VnetHdr {
  const m = new VnetHdr();
  m.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  m.gsoType = VIRTIO_NET_HDR_GSO.TCPV4;
  m.gsoSize = mss;
  m.hdrLen = 14 + 40;
  m.csumStart = 14 + 20;
  m.csumOffset = 16;
  return m;
}

test('a GSO super-frame leaves intact, metadata and all, through a link that takes offloads', () => {
  const env = setup(true);
  const f = superFrame(250);
  ipToLink(env.im, env.ifp, 0x0a000002, f.buf, f.off, f.len, gsoMeta(100));
  assert.equal(env.drv.frames.length, 1);
  const out = env.drv.frames[0]!;
  assert.equal(out.frame.length, 14 + f.len);
  assert.equal(out.meta.gsoType, VIRTIO_NET_HDR_GSO.TCPV4);
  assert.equal(out.meta.gsoSize, 100);
});

test('a GSO super-frame is cut into valid MSS segments for a link without offloads', () => {
  const { im, ifp, drv } = setup(false);
  const f = superFrame(250);
  ipToLink(im, ifp, 0x0a000002, f.buf, f.off, f.len, gsoMeta(100));
  assert.equal(drv.frames.length, 3);
  const sizes: number[] = [];
  let expectSeq = 0xffffff00;
  drv.frames.forEach(({ frame, meta }, i) => {
    assert.equal(meta.gsoType, 0);
    assert.equal(meta.flags, 0);
    const ip = frame.subarray(14);
    const tot = (ip[2]! << 8) | ip[3]!;
    assert.equal(tot, ip.length);
    assert.equal(internetChecksum(ip, 0, 20), 0, `IP checksum of segment ${i}`);
    const tcpLen = tot - 20;
    assert.equal(foldComplement(sum16(ip, 20, tcpLen, pseudoHeaderSum(0x0a000001, 0x0a000002, 6, tcpLen))), 0, `TCP checksum of segment ${i}`);
    assert.equal(readU32(ip, 24), expectSeq >>> 0, 'sequence numbers advance, wrapping');
    const flags = ip[33]!;
    const last = i === 2;
    assert.equal((flags & 0x09) !== 0, last, 'FIN and PSH only on the last segment');
    sizes.push(tcpLen - 20);
    expectSeq = (expectSeq + tcpLen - 20) >>> 0;
    // payload bytes continue where the previous segment stopped
    assert.equal(ip[40], (i * 100) & 0xff);
  });
  assert.deepEqual(sizes, [100, 100, 50]);
});

test('a partial checksum is completed for a link without offloads', () => {
  const { im, ifp, drv } = setup(false);
  const f = superFrame(60);
  const m = gsoMeta(0);
  m.gsoType = VIRTIO_NET_HDR_GSO.NONE;
  ipToLink(im, ifp, 0x0a000002, f.buf, f.off, f.len, m);
  assert.equal(drv.frames.length, 1);
  const ip = drv.frames[0]!.frame.subarray(14);
  assert.equal(foldComplement(sum16(ip, 20, 80, pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 80))), 0);
});

test('a malformed GSO frame (not TCP) is dropped and counted, not sent', () => {
  const { im, ifp, drv } = setup(false);
  const f = superFrame(200);
  f.buf[f.off + 9] = 17;
  ipToLink(im, ifp, 0x0a000002, f.buf, f.off, f.len, gsoMeta(100));
  assert.equal(drv.frames.length, 0);
  assert.equal(im.ipstat.odropped, 1);
});
