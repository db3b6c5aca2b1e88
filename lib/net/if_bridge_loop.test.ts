import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../image.js';
import { silentLogger } from '../log.js';
import { ManualPlatform } from '../platform.js';
import { ImageControl } from '../control/index.js';
import { emitEthernet, type Mac } from '../wire/ethernet.js';
import { VnetHdr } from '../wire/vnet.js';
import { IFF, PKT_HEADROOM, type Ifnet, type LinkDriver } from './if.js';

/** A TAP-like link that counts what it sends. */
class Rec implements LinkDriver {
  readonly kind = 'tap';
  readonly headroom = 10;
  readonly offload = true;
  sent = 0;
  output(): void {
    this.sent++;
  }
  destroy(): void {}
  describe(): Record<string, string> {
    return {};
  }
}

function setup(): { reg: Registry; ctl: ImageControl; tap: Ifnet; rec: Rec } {
  const platform = new ManualPlatform();
  const reg = new Registry({ platform, log: silentLogger });
  const im = reg.create('LOOP');
  const ctl = new ImageControl(im, reg);
  const rec = new Rec();
  const tap = reg.newIfnet(im, 'tap0', 'tap', IFF.BROADCAST | IFF.UP | IFF.RUNNING, 1500, 0x020000000001 as Mac, rec);
  im.ifnets.set('tap0', tap);
  return { reg, ctl, tap, rec };
}

function broadcast(): Uint8Array {
  const b = new Uint8Array(PKT_HEADROOM + 64);
  emitEthernet({ dst: 0xffffffffffff as Mac, src: 0x020000000099 as Mac, etherType: 0x88b5 }, b, PKT_HEADROOM);
  return b;
}

test('a VLAN on a bridge cannot be a member (or span port) of that bridge: it would loop frames forever', () => {
  const { ctl, tap } = setup();
  ctl.interfaces.create('bridge', { name: 'bridge0' });
  ctl.interfaces.create('vlan', { name: 'vlan0', vlan: 10, vlandev: 'bridge0' });
  ctl.interfaces.configure('bridge0', [{ kind: 'up' }]);
  ctl.interfaces.configure('vlan0', [{ kind: 'up' }]);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap0' }]);
  assert.throws(() => ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'vlan0' }]), /VLAN|loop/i);
  assert.throws(() => ctl.interfaces.configureBridge('bridge0', [{ kind: 'span', ifname: 'vlan0' }]), /VLAN|loop/i);
  // Whatever the control plane allowed, a broadcast must not throw out of the packet path.
  assert.doesNotThrow(() => tap.input(broadcast(), PKT_HEADROOM, 64, new VnetHdr()));
});

test('a loop through two bridges and two VLANs is refused whichever link closes it', () => {
  const { ctl, tap } = setup();
  for (const b of ['bridge0', 'bridge1']) {
    ctl.interfaces.create('bridge', { name: b });
    ctl.interfaces.configure(b, [{ kind: 'up' }]);
  }
  ctl.interfaces.create('vlan', { name: 'vlan0', vlan: 10, vlandev: 'bridge0' });
  ctl.interfaces.create('vlan', { name: 'vlan1', vlan: 20, vlandev: 'bridge1' });
  ctl.interfaces.configure('vlan0', [{ kind: 'up' }]);
  ctl.interfaces.configure('vlan1', [{ kind: 'up' }]);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'tap0' }, { kind: 'addm', ifname: 'vlan1' }]);
  // bridge0 -> vlan1 -> bridge1 -> vlan0 -> bridge0
  assert.throws(() => ctl.interfaces.configureBridge('bridge1', [{ kind: 'addm', ifname: 'vlan0' }]), /loop/i);
  // Closed the other way: vlan0 joins first, then vlan1 is moved onto bridge0 (still a member of bridge0 is fine; re-parent it).
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'deletem', ifname: 'vlan1' }]);
  ctl.interfaces.configureBridge('bridge1', [{ kind: 'addm', ifname: 'vlan0' }]);
  ctl.interfaces.create('vlan', { name: 'vlan2', vlan: 30, vlandev: 'tap0' });
  ctl.interfaces.configure('vlan2', [{ kind: 'up' }]);
  ctl.interfaces.configureBridge('bridge0', [{ kind: 'addm', ifname: 'vlan2' }]);
  // vlan2 (member of bridge0) re-parented onto bridge1: bridge0 -> vlan2 -> bridge1 -> vlan0 -> bridge0.
  assert.throws(() => ctl.interfaces.configureVlan('vlan2', { vlandev: 'bridge1' }), /loop/i);
  assert.doesNotThrow(() => tap.input(broadcast(), PKT_HEADROOM, 64, new VnetHdr()));
});
