/**
 * Host TAP devices for the registry, and the rule that a TAP's two sides
 * are one link: when the host side disappears (`ip link del`, or the
 * network namespace it was moved into is deleted), the image interface goes
 * with it, its addresses and routes too, and the saved state forgets it, so
 * a restart does not bring it back.
 *
 * A device the user made beforehand (`ip tuntap add NAME mode tap`) is
 * attached to, not owned: destroying the interface closes the descriptor
 * and leaves the device on the host.
 */

import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { TapDriver, type TapOpenRequest } from '../lib/net/if_tap.js';
import { TapDevice, tapExists, tapReattach } from '../lib/net/tapdev.js';

export interface HostLinks {
  /** The registry's `openTap`. */
  open(req: TapOpenRequest): TapDevice;
  /** Set once the registry exists (it needs `open` to be built). */
  bind(registry: Registry, onChange: () => unknown): void;
}

export function hostLinks(log: Logger): HostLinks {
  let registry: Registry | null = null;
  let changed: () => unknown = () => undefined;

  const gone = (dev: TapDevice, errno: number): void => {
    if (registry === null) return;
    for (const im of registry.list()) {
      for (const ifp of im.ifnets.values()) {
        if (!(ifp.driver instanceof TapDriver) || ifp.driver.port !== dev) continue;
        log.warn(
          { image: im.name, ifname: ifp.name, hostif: dev.name, errno },
          'host side of the TAP device is gone (deleted, or its network namespace was); interface removed',
        );
        ifp.driver.markHostGone();
        registry.destroyIfnet(im as Image, ifp);
        void changed();
        return;
      }
    }
    dev.close(); // no interface uses it (any more): just the descriptor
  };

  return {
    open({ name, persist, reattach, adopted }: TapOpenRequest): TapDevice {
      let dev: TapDevice;
      let created: boolean;
      if (reattach === true) {
        const r = tapReattach({ name, persist, up: true });
        dev = r.dev;
        created = r.created;
        if (r.netns !== null) log.info({ hostif: name, netns: r.netns }, 'TAP device re-attached in another network namespace');
        else if (!created) log.debug({ hostif: name }, 'TAP device re-attached');
        dev.owned = created || adopted !== true;
      } else {
        created = !tapExists(name);
        dev = TapDevice.open({ name, persist, up: true });
        dev.owned = created;
        if (!created) log.info({ hostif: name }, 'attached to an existing host TAP device; it stays on the host when the interface is destroyed');
      }
      dev.onGone = (errno) => gone(dev, errno);
      return dev;
    },
    bind(r: Registry, onChange: () => unknown): void {
      registry = r;
      changed = onChange;
    },
  };
}
