import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type Image } from '../image.js';
import { allocWindows } from '../testing/alloc.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { inAddAddress } from '../netinet/in.js';
import { send, ip } from '../testing/testbed.js';
import { VlanFrame, parseVlan, vlanTag, vlanTci, vlanUntag, ETHER_VLAN_HDR_LEN } from '../wire/vlan.js';
import { VnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type Ifnet, type LinkDriver } from './if.js';
import type { VlanDriver } from './if_vlan.js';

test('802.1Q codec: golden bytes, tag and untag in place, short frames refused by the view', () => {
  const untagged = [1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x08, 0x00, 0x45];
  const buf = new Uint8Array(4 + untagged.length);
  buf.set(untagged, 4);
  const off = vlanTag(buf, 4, vlanTci({ vid: 10, pcp: 5, dei: true }));
  assert.equal(off, 0);
  assert.deepEqual([...buf], [1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x81, 0x00, 0xb0, 0x0a, 0x08, 0x00, 0x45]);
  const v = new VlanFrame().reset(buf, 0, buf.length);
  assert.ok(v.checked());
  assert.equal(v.tpid, 0x8100);
  assert.deepEqual(parseVlan(v), { vid: 10, pcp: 5, dei: true });
  assert.equal(v.innerType, 0x0800);
  assert.equal(vlanUntag(buf, 0), 4);
  assert.deepEqual([...buf.subarray(4)], untagged);
  assert.equal(new VlanFrame().reset(buf, 0, ETHER_VLAN_HDR_LEN - 1).checked(), false);
  assert.equal(new VlanFrame().reset(buf, 10, ETHER_VLAN_HDR_LEN).checked(), false, 'window past the buffer');
});

/** A TAP-like parent that records frames and can loop them to another interface. */
class Wire implements LinkDriver {
  readonly kind = 'tap';
  readonly headroom = 10;
  readonly offload = true;
  readonly frames: Array<{ bytes: number[]; csumStart: number }> = [];
  peer: Ifnet | null = null;
  output(_ifp: Ifnet, buf: Uint8Array, off: number, len: number, meta: VnetHdr): void {
    this.frames.push({ bytes: [...buf.subarray(off, off + 18)], csumStart: meta.csumStart });
    if (this.peer !== null) {
      const copy = new Uint8Array(PKT_HEADROOM + len);
      copy.set(buf.subarray(off, off + len), PKT_HEADROOM);
      const m = new VnetHdr().copyFrom(meta);
      this.peer.input(copy, PKT_HEADROOM, len, m);
    }
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

function twoHosts(): { reg: Registry; a: Image; b: Image; pa: Ifnet; pb: Ifnet; wa: Wire; wb: Wire } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const a = reg.create('A');
  const b = reg.create('B');
  const wa = new Wire();
  const wb = new Wire();
  const pa = reg.newIfnet(a, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000a01 as never, wa);
  const pb = reg.newIfnet(b, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000b01 as never, wb);
  a.ifnets.set('tap0', pa);
  b.ifnets.set('tap0', pb);
  wa.peer = pb;
  wb.peer = pa;
  return { reg, a, b, pa, pb, wa, wb };
}

test('a VLAN tags on output, untags on input, and untagged traffic on the parent still flows', () => {
  const { reg, a, b, pa, pb, wa } = twoHosts();
  for (const [im, p, host, name] of [[a, pa, 1, 'tap0.10'], [b, pb, 2, 'vlan1']] as const) {
    const ctl = new ImageControl(im, reg);
    assert.equal(ctl.interfaces.create('vlan', { name, vlan: 10, vlandev: 'tap0' }), name);
    ctl.interfaces.configure(name, [{ kind: 'up' }]);
    inAddAddress(im, im.ifnet(name), ip(`10.0.10.${host}`), 24, { alias: false });
    inAddAddress(im, p, ip(`10.0.0.${host}`), 24, { alias: false });
  }
  wa.frames.length = 0; // the gratuitous ARPs of the addresses above
  send(reg, a, { proto: 1, dst: '10.0.10.2' }); // ARP first: held, then sent
  reg.netisr.drain();
  assert.equal(b.icmp.inhist[8], 1, 'B got the echo request on its VLAN');
  assert.equal(a.icmp.inhist[0], 1, 'A got the reply');
  // Every frame on the wire for the VLAN carries tag 10.
  assert.ok(wa.frames.length >= 2);
  for (const f of wa.frames) assert.deepEqual(f.bytes.slice(12, 16), [0x81, 0x00, 0x00, 0x0a]);
  const tagged = b.ifnet('vlan1').counters.ipackets;
  assert.ok(tagged >= 2);
  send(reg, a, { proto: 1, dst: '10.0.0.2' });
  reg.netisr.drain();
  assert.equal(b.icmp.inhist[8], 2, 'untagged echo on the parent');
  assert.equal(a.icmp.inhist[0], 2);
  assert.equal(b.ifnet('vlan1').counters.ipackets, tagged, 'the VLAN saw none of it');
  // A tag nobody claims is counted and dropped.
  const f = new Uint8Array(PKT_HEADROOM + 64);
  f.set([2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1, 0x81, 0, 0, 99, 8, 0], PKT_HEADROOM);
  const np = pb.counters.noproto;
  pb.input(f, PKT_HEADROOM, 64, b.noOffload);
  assert.equal(pb.counters.noproto, np + 1);
});

test('offload metadata follows the tag: csum_start moves by 4 each way', () => {
  const { reg, a, b, pa, wa } = twoHosts();
  const ctl = new ImageControl(a, reg);
  ctl.interfaces.create('vlan', { name: 'vlan0', vlan: 7, vlandev: 'tap0' });
  ctl.interfaces.configure('vlan0', [{ kind: 'up' }]);
  new ImageControl(b, reg).interfaces.create('vlan', { name: 'vlan1', vlan: 7, vlandev: 'tap0' });
  const vb = b.ifnet('vlan1');
  new ImageControl(b, reg).interfaces.configure('vlan1', [{ kind: 'up' }]);
  let seen = -1;
  vb.input = (_buf, _off, _len, meta): void => void (seen = meta.csumStart);
  const meta = new VnetHdr();
  meta.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  meta.csumStart = 34;
  meta.csumOffset = 16;
  const frame = new Uint8Array(PKT_HEADROOM + 80);
  frame.set([2, 0, 0, 0, 0xb, 1], PKT_HEADROOM); // to B's parent
  a.ifnet('vlan0').output(frame, PKT_HEADROOM, 80, meta);
  assert.equal(wa.frames.at(-1)!.csumStart, 38, 'on the wire, counted from the tagged frame');
  assert.equal(seen, 34, 'after untagging, back to the untagged frame');
  assert.equal(meta.csumStart, 34, "the sender's metadata is not changed");
  assert.equal(pa.driver.offload, true);
  assert.equal(a.ifnet('vlan0').driver.offload, true);
  assert.equal((a.ifnet('vlan0').driver as VlanDriver).headroom, 14);
});

test('a VLAN moved to another image keeps its parent; destroying the parent leaves it without one', () => {
  const { reg, a, b } = twoHosts();
  const ctl = new ImageControl(a, reg);
  ctl.interfaces.create('vlan', { name: 'vlan0', vlan: 10, vlandev: 'tap0' });
  const c = reg.create('C');
  reg.move(a, a.ifnet('vlan0'), c);
  const v = c.ifnet('vlan0');
  assert.equal((v.driver as VlanDriver).parent?.name, 'tap0');
  c.setUp(v, true);
  inAddAddress(c, v, ip('10.0.10.3'), 24, { alias: false });
  const vbCtl = new ImageControl(b, reg);
  vbCtl.interfaces.create('vlan', { name: 'vlan1', vlan: 10, vlandev: 'tap0' });
  vbCtl.interfaces.configure('vlan1', [{ kind: 'up' }]);
  inAddAddress(b, b.ifnet('vlan1'), ip('10.0.10.2'), 24, { alias: false });
  send(reg, b, { proto: 1, dst: '10.0.10.3' });
  reg.netisr.drain();
  assert.equal(c.icmp.inhist[8], 1, 'C answers through a parent in image A');
  assert.equal(b.icmp.inhist[0], 1);
  ctl.interfaces.destroy('tap0');
  assert.equal((v.driver as VlanDriver).parent, null);
});

test('tagged input to a VLAN and tagged output allocate nothing per frame', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const im = reg.create('V');
  let sent = 0;
  const sink: LinkDriver = { kind: 'tap', headroom: 10, offload: true, output: () => void sent++, destroy: () => {}, describe: () => ({}) };
  const p = reg.newIfnet(im, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000a01 as never, sink);
  im.ifnets.set('tap0', p);
  const ctl = new ImageControl(im, reg);
  ctl.interfaces.create('vlan', { name: 'vlan0', vlan: 10, vlandev: 'tap0' });
  ctl.interfaces.configure('vlan0', [{ kind: 'up' }]);
  const v = im.ifnet('vlan0');
  // A tagged frame for the parent's address with an EtherType nobody takes (counted on vlan0, dropped).
  const template = new Uint8Array(PKT_HEADROOM + 64);
  template.set([2, 0, 0, 0, 0xa, 1, 2, 0, 0, 0, 0xb, 1, 0x81, 0, 0, 10, 0x88, 0xb5], PKT_HEADROOM);
  const buf = new Uint8Array(template.length);
  const meta = new VnetHdr();
  meta.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  meta.csumStart = 34;
  const out = new Uint8Array(PKT_HEADROOM + 60);
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      buf.set(template); // untagging moves the addresses in place
      p.input(buf, PKT_HEADROOM, 64, meta);
      v.output(out, PKT_HEADROOM, 60, meta); // tags into the 4 bytes in front of the frame
    }
  };
  run(50_000);
  const N = 100_000;
  const windows = allocWindows(run, N);
  assert.ok(windows.length > 0, 'a garbage collection ran during every window: something allocates per frame');
  assert.ok(Math.min(...windows) < 8, `${windows.map((w) => w.toFixed(2)).join(', ')} bytes per frame`);
  assert.ok(v.counters.ipackets > 2 * N && sent > 2 * N);
});
