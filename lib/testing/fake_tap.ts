/** For tests of code that creates TAP interfaces, without root or devices. */

import type { TapOpener, TapPort } from '../net/if_tap.js';

/** A TAP opener whose ports send nowhere and receive nothing; records the names opened. */
export function fakeTapOpener(opened: string[] = []): TapOpener {
  return (req) => {
    opened.push(req.name);
    const port: TapPort = {
      name: req.name,
      vnetHdrLen: 0,
      slotSize: 2048,
      rx: new Uint8Array(2048),
      rxLen: new Int32Array(1),
      start() {},
      stop() {},
      pause() {},
      hostDrops: () => -1,
      write: (_b, _o, len) => len,
      setPersist() {},
      close() {},
    };
    return port;
  };
}
