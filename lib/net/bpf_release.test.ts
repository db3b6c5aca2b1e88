import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { emitEthernet, type Mac } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type LinkDriver } from './if.js';

class Sink implements LinkDriver {
  readonly kind = 'tap';
  readonly headroom = 0;
  readonly offload = false;
  output(): void {}
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

test('a capture stops when its interface moves to another image: no frame of the other image reaches it', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const a = reg.create('A');
  const b = reg.create('B');
  const ifp = reg.newIfnet(a, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000001 as Mac, new Sink());
  a.ifnets.set('tap0', ifp);
  const d = new ImageControl(a, reg).interfaces.capture('tap0', { program: null, snaplen: 1500 });
  const f = new Uint8Array(PKT_HEADROOM + 64);
  emitEthernet({ dst: 0xffffffffffff as Mac, src: 0x020000000002 as Mac, etherType: 0x88b5 }, f, PKT_HEADROOM);
  ifp.input(f, PKT_HEADROOM, 64, new VnetHdr());
  assert.equal(d.received, 1);
  reg.move(a, ifp, b);
  b.setUp(ifp, true);
  ifp.input(f, PKT_HEADROOM, 64, new VnetHdr());
  ifp.output(f, PKT_HEADROOM, 64, new VnetHdr());
  assert.equal(d.received, 1, "image B's traffic is not shown to a capture started in image A");
  assert.equal(d.attachedTo, null);
  assert.equal(ifp.bpf, null);
});

test('a capture is detached when its interface is destroyed', () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const a = reg.create('A');
  const ifp = reg.newIfnet(a, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000001 as Mac, new Sink());
  a.ifnets.set('tap0', ifp);
  const d = new ImageControl(a, reg).interfaces.capture('tap0', { program: null, snaplen: 1500 });
  reg.destroyIfnet(a, ifp);
  assert.equal(d.attachedTo, null);
  assert.equal(ifp.bpf, null);
});
