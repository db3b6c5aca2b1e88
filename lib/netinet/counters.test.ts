import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/image.js';
import { Registry, type Image } from '../image.js';
import { silentLogger } from '../log.js';
import { IFF, type Ifnet, type LinkDriver } from '../net/if.js';
import { put16 } from '../wire/bytes.js';
import { internetChecksum } from '../wire/checksum.js';
import { ETHER_HDR_LEN, emitEthernet, type Mac } from '../wire/ethernet.js';
import { ICMP_TYPE, ICMP_UNREACH } from '../wire/icmp.js';
import { IPPROTO, IP_MF, emitIpv4 } from '../wire/ipv4.js';
import { TH } from '../wire/tcp.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VnetHdr } from '../wire/vnet.js';
import { arpAddStatic } from './if_ether.js';
import { inAddAddress } from './in.js';

class Sink implements LinkDriver {
  readonly kind = 'sink';
  readonly offload = false;
  readonly headroom = 10;
  frames = 0;
  output(): void {
    this.frames++;
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

const MAC_R = 0x020000000100 as Mac;
const MAC_PEER = 0x020000000200 as Mac;
const R0 = 0x0a500001; // 10.80.0.1/24 on if0
const R1 = 0x0a510001; // 10.81.0.1/24 on if1
const PEER0 = 0x0a500002;
const PEER1 = 0x0a510002;

/** Image R routing between two sink links, forwarding on, both peers resolved. */
function router(): { im: Image; reg: Registry; if0: Ifnet; if1: Ifnet; out1: Sink } {
  const reg = new Registry({ platform: new ManualPlatform({ random: () => 0.5 }), log: silentLogger });
  const im = reg.create('R');
  const mk = (name: string, addr: number): [Ifnet, Sink] => {
    const d = new Sink();
    const ifp = reg.newIfnet(im, name, 'sink', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC_R, d);
    im.ifnets.set(name, ifp);
    inAddAddress(im, ifp, addr, 24, { alias: false });
    return [ifp, d];
  };
  const [if0] = mk('sink0', R0);
  const [if1, out1] = mk('sink1', R1);
  arpAddStatic(im, PEER0, MAC_PEER);
  arpAddStatic(im, PEER1, MAC_PEER);
  im.sysctl.set('net.inet.ip.forwarding', '1');
  return { im, reg, if0, if1, out1 };
}

/** An Ethernet frame to R carrying an IPv4 packet with `opts` (a multiple of 4 bytes) and `payload`. */
function frame(o: { dst: number; proto: number; payload: number[]; opts?: number[]; frag?: number; src?: number }): Uint8Array {
  const opts = o.opts ?? [];
  const hl = 20 + opts.length;
  const total = hl + o.payload.length;
  const b = new Uint8Array(ETHER_HDR_LEN + total);
  emitEthernet({ dst: MAC_R, src: MAC_PEER, etherType: 0x0800 }, b, 0);
  const ip = ETHER_HDR_LEN;
  emitIpv4({ tos: 0, totalLen: total, ident: 7, fragField: o.frag ?? 0, ttl: 64, protocol: o.proto, src: o.src ?? PEER0, dst: o.dst }, b, ip);
  if (opts.length > 0) {
    b[ip] = 0x40 | (hl >> 2);
    b.set(opts, ip + 20);
    put16(b, ip + 10, 0);
    put16(b, ip + 10, internetChecksum(b, ip, hl));
  }
  b.set(o.payload, ip + hl);
  return b;
}

function icmp(type: number, code: number, body: number[]): number[] {
  const m = new Uint8Array(8 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 8);
  put16(m, 2, internetChecksum(m, 0, m.length));
  return [...m];
}

/** Frame input; `csumValid` as a TAP says the transport checksum was verified. */
function input(ifp: Ifnet, b: Uint8Array, csumValid = false): void {
  const m = new VnetHdr();
  if (csumValid) m.flags = VIRTIO_NET_HDR_F_DATA_VALID;
  ifp.input(b, 0, b.length, m);
}

test('a forwarded packet without options is also counted fast forwarded (ip_tryforward); one with options only forwarded', () => {
  const { im, if0, out1 } = router();
  const sent = out1.frames;
  input(if0, frame({ dst: PEER1, proto: IPPROTO.UDP, payload: new Array(16).fill(1) }));
  assert.equal(im.ipstat.forward, 1);
  assert.equal(im.ipstat.fastforward, 1);
  input(if0, frame({ dst: PEER1, proto: IPPROTO.UDP, payload: new Array(16).fill(1), opts: [1, 1, 1, 0] }));
  assert.equal(im.ipstat.forward, 2);
  assert.equal(im.ipstat.fastforward, 1);
  assert.equal(out1.frames - sent, 2);
});

test('a fragment reaching past 65535 bytes is counted toolong and dropped', () => {
  const { im, if0 } = router();
  // Offset 8184 * 8 = 65472, plus 72 bytes of data: 65544.
  input(if0, frame({ dst: R0, proto: IPPROTO.UDP, payload: new Array(72).fill(0), frag: IP_MF | 8184 }));
  assert.equal(im.ipstat.toolong, 1);
  assert.equal(im.ipstat.fragdropped, 1);
  assert.equal(im.reass.queues.size, 0);
  input(if0, frame({ dst: R0, proto: IPPROTO.UDP, payload: new Array(72).fill(0), frag: IP_MF | 100 }));
  assert.equal(im.ipstat.toolong, 1, 'a fragment inside the limit is queued');
  assert.equal(im.reass.queues.size, 1);
});

test('ICMP errors with unknown codes are counted badcode and not passed on', () => {
  const { im, if0 } = router();
  const quoted = [...frame({ dst: PEER0, src: R0, proto: IPPROTO.UDP, payload: [0, 53, 0, 53, 0, 8, 0, 0] }).subarray(ETHER_HDR_LEN)];
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.UNREACH, 16, quoted) }));
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.TIME_EXCEEDED, 2, quoted) }));
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.REDIRECT, 4, quoted) }));
  assert.equal(im.icmpstat.badcode, 2, 'a router ignores redirects before looking at the code (RFC 1812 5.2.7.2)');
  im.sysctl.set('net.inet.ip.forwarding', '0');
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.REDIRECT, 4, quoted) }));
  assert.equal(im.icmpstat.badcode, 3);
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.UNREACH, ICMP_UNREACH.PORT, quoted) }));
  input(if0, frame({ dst: R0, proto: IPPROTO.ICMP, payload: icmp(ICMP_TYPE.REDIRECT, 1, quoted) }));
  assert.equal(im.icmpstat.badcode, 3, 'known codes are not bad');
  assert.equal(im.icmpstat.badlen, 0);
});

test('TCP to a broadcast address is dropped and counted: a SYN as a bad connection attempt, anything else as no port', () => {
  const { im, if0 } = router();
  const seg = (flags: number): number[] => {
    const t = new Uint8Array(20);
    put16(t, 0, 1234);
    put16(t, 2, 80);
    t[12] = 5 << 4;
    t[13] = flags;
    return [...t];
  };
  const bcast = 0x0a5000ff;
  input(if0, frame({ dst: bcast, proto: IPPROTO.TCP, payload: seg(TH.SYN) }), true);
  assert.equal(im.tcpstat.badsyn, 1);
  input(if0, frame({ dst: bcast, proto: IPPROTO.TCP, payload: seg(TH.ACK) }), true);
  assert.equal(im.tcpstat.noport, 1);
  assert.equal(im.tcpstat.sndrst, 0, 'no reset to a broadcast');
  assert.equal(im.tcpstat.rcvtotal, 2);
});

test('lines FreeBSD prints for what cannot happen here are listed as 0 and are not counters', () => {
  const { im, reg } = router();
  assert.equal('collisions' in im.lo0.counters, false);
  assert.equal('nogif' in im.ipstat, false);
  assert.equal('pcbhashmiss' in im.udpstat, false);
  const ctl = new ImageControl(im, reg);
  const lo = ctl.interfaces.listWithCounters().find((i) => i.name === 'lo0')!;
  assert.equal(lo.counters.collisions, 0);
  const udp = ctl.stats.protocol('udp').counters.map((c) => c.name);
  assert.deepEqual(udp.slice(udp.indexOf('fullsock'), udp.indexOf('fullsock') + 3), ['fullsock', 'pcbhashmiss', 'delivered'], "FreeBSD's order kept");
  const ip = ctl.stats.protocol('ip').counters.find((c) => c.name === 'nogif')!;
  assert.equal(ip.value, 0);
});
