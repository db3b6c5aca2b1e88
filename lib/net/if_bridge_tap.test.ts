import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { emitEthernet, type Mac } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type Ifnet, type LinkDriver } from './if.js';

class Rec implements LinkDriver {
  readonly kind = 'tap';
  readonly headroom = 10;
  readonly offload = true;
  output(): void {}
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

const MAC = (n: number): Mac => (0x020000000000 + n) as Mac;

function setup(): { ctl: ImageControl; br: Ifnet; taps: Ifnet[] } {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('BT');
  const ctl = new ImageControl(im, reg);
  ctl.interfaces.create('bridge', { name: 'bridge0' });
  const taps: Ifnet[] = [];
  for (let i = 0; i < 2; i++) {
    const ifp = reg.newIfnet(im, `tap${i}`, 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, MAC(0x100 + i), new Rec());
    im.ifnets.set(ifp.name, ifp);
    taps.push(ifp);
  }
  ctl.interfaces.configureBridge('bridge0', taps.map((t) => ({ kind: 'addm' as const, ifname: t.name })));
  ctl.interfaces.configure('bridge0', [{ kind: 'up' }]);
  return { ctl, br: im.ifnet('bridge0'), taps };
}

function frame(dst: number, src: number, type = 0x88b5): Uint8Array {
  const b = new Uint8Array(PKT_HEADROOM + 64);
  emitEthernet({ dst: dst as Mac, src: src as Mac, etherType: type }, b, PKT_HEADROOM);
  return b;
}

const none = new VnetHdr();

test('tcpdump -i bridge0 sees what arrives on the members: forwarded, flooded, broadcast and local frames', () => {
  const { ctl, br, taps } = setup();
  const d = ctl.interfaces.capture('bridge0', { program: null, snaplen: 1500 });
  try {
    taps[0]!.input(frame(0xffffffffffff, MAC(1)), PKT_HEADROOM, 64, none); // broadcast
    taps[0]!.input(frame(MAC(2), MAC(1)), PKT_HEADROOM, 64, none); // unknown unicast: flooded
    taps[1]!.input(frame(MAC(1), MAC(2)), PKT_HEADROOM, 64, none); // learned: forwarded
    taps[1]!.input(frame(br.mac, MAC(2), 0x0800), PKT_HEADROOM, 64, none); // for the bridge itself
    assert.equal(d.received, 4, 'every frame the bridge took from a member passes its tap once');
  } finally {
    d.close();
  }
});

test('a frame for a member\'s own address is counted once on that member', () => {
  const { taps } = setup();
  const t = taps[0]!;
  const before = t.counters.ipackets;
  t.input(frame(t.mac, MAC(1), 0x0800), PKT_HEADROOM, 64, none);
  assert.equal(t.counters.ipackets, before + 1);
});
