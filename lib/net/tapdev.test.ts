// Real host TAP devices: needs root and /dev/net/tun (CI runs as root).
// Every device is named vtdv<run><i>, the namespace vtdvns<run>, where <run>
// is this process's id: a concurrent run of this file (another checkout, or
// `npm run test:unit`, which includes lib/) must neither delete our
// namespace or devices in its cleanup nor we its. Ours are removed in before()
// and after(), even when a test fails.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TapDevice, TUN_F, hostIfMtu, tapDestroy, tapExists } from './tapdev.js';

const canRun = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const SKIP = 'needs root and /dev/net/tun';
const RUN = (process.pid % 36 ** 4).toString(36); // at most 4 characters: names stay within 15 bytes
const NS = `vtdvns${RUN}`;
const [V0, V1, V2, V3, V4] = [0, 1, 2, 3, 4].map((i) => `vtdv${RUN}${i}`) as [string, string, string, string, string];
const NAMES = [V0, V1, V2, V3, V4];

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(cmd: string, ...args: string[]): void {
  try {
    sh(cmd, ...args);
  } catch {
    // already gone
  }
}

function cleanup(): void {
  for (const n of NAMES) {
    try {
      tapDestroy(n);
    } catch {
      // held or not a tap: ip link del below
    }
    quiet('ip', 'link', 'del', n);
  }
  quiet('ip', 'netns', 'del', NS);
}

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
}

function link(name: string): IpLink {
  return (JSON.parse(sh('ip', '-j', 'link', 'show', name)) as IpLink[])[0]!;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

before(() => {
  if (canRun) cleanup();
});

after(() => {
  if (canRun) cleanup();
});

test('open creates a host device with the requested MTU, up, with offloads', (t) => {
  if (!canRun) return t.skip(SKIP);
  const dev = TapDevice.open({ name: V0, mtu: 1400, up: true });
  try {
    assert.equal(dev.name, V0);
    assert.equal(dev.vnetHdrLen, 10);
    assert.equal(dev.slotSize, 65550);
    assert.equal(dev.rx.byteLength, 64 * 65550);
    assert.equal(dev.rxLen.length, 64);
    assert.ok((dev.offloads & TUN_F.CSUM) !== 0, `offloads ${dev.offloads}`);
    const l = link(V0);
    assert.equal(l.mtu, 1400);
    assert.ok(l.flags.includes('UP'), l.flags.join(','));
    assert.equal(hostIfMtu(V0), 1400);
    dev.setHostMtu(9000);
    assert.equal(link(V0).mtu, 9000);
    dev.setHostUp(false);
    assert.ok(!link(V0).flags.includes('UP'));
  } finally {
    dev.close();
  }
  assert.equal(tapExists(V0), false, 'a non-persistent device goes away on close');
});

test('without a virtio-net header there are no offloads and 9230-byte slots', (t) => {
  if (!canRun) return t.skip(SKIP);
  const dev = TapDevice.open({ name: V1, vnetHdr: false, slots: 8 });
  try {
    assert.equal(dev.vnetHdrLen, 0);
    assert.equal(dev.offloads, 0);
    assert.equal(dev.slotSize, 9230);
    assert.equal(dev.rxLen.length, 8);
    assert.ok(tapExists(V1));
  } finally {
    dev.close();
  }
});

test('devices of the same slot geometry share one receive area; another geometry gets its own', (t) => {
  if (!canRun) return t.skip(SKIP);
  const a = TapDevice.open({ name: V2 });
  const b = TapDevice.open({ name: V3 });
  const c = TapDevice.open({ name: V4, vnetHdr: false, slots: 8 });
  try {
    assert.equal(a.rx, b.rx);
    assert.equal(a.rxLen, b.rxLen);
    assert.notEqual(a.rx, c.rx);
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

test('a persistent device survives close, can be re-attached, and tapDestroy removes it', (t) => {
  if (!canRun) return t.skip(SKIP);
  const a = TapDevice.open({ name: V1, persist: true, mtu: 1280 });
  a.close();
  a.close(); // idempotent
  assert.ok(tapExists(V1));
  assert.match(sh('ip', '-d', 'link', 'show', V1), /tun type tap .*persist/);
  const b = TapDevice.open({ name: V1, persist: true });
  try {
    assert.equal(b.name, V1);
    assert.equal(hostIfMtu(V1), 1280, 're-attached to the same device');
  } finally {
    b.close();
  }
  assert.ok(tapExists(V1));
  assert.equal(tapDestroy(V1), true);
  assert.equal(tapExists(V1), false);
  assert.equal(tapDestroy(V1), false, 'a missing device is not an error');
  assert.equal(tapDestroy('vtdv-name-far-too-long'), false);
});

test('setPersist(false) on an attached persistent device removes it on close', (t) => {
  if (!canRun) return t.skip(SKIP);
  const dev = TapDevice.open({ name: V3, persist: true });
  dev.setPersist(false);
  dev.close();
  assert.equal(tapExists(V3), false);
});

test('bad names, busy devices and use after close give coded, readable errors', (t) => {
  if (!canRun) return t.skip(SKIP);
  assert.throws(() => TapDevice.open({ name: 'vtdv-twenty-chars-xx' }), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.errno, -22);
    assert.match(e.message, /vtdv-twenty-chars-xx: invalid interface name/);
    return true;
  });
  assert.throws(() => TapDevice.open({ name: 'lo' }), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EINVAL');
    assert.match(e.message, /lo: .*not a tap device/);
    return true;
  });
  assert.throws(() => TapDevice.open({ name: V2, slots: 0 }), { code: 'EINVAL' });

  const dev = TapDevice.open({ name: V2 });
  try {
    assert.throws(() => TapDevice.open({ name: V2 }), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'EBUSY');
      assert.match(e.message, new RegExp(`tap device ${V2} is busy: another process holds it`));
      return true;
    });
    assert.throws(() => tapDestroy(V2), { code: 'EBUSY' });
    assert.throws(() => dev.write(new Uint8Array(10), 4, 10), RangeError);
  } finally {
    dev.close();
  }
  // Documented: write after close returns -EBADF, never touches a reused fd.
  assert.equal(dev.write(new Uint8Array(64), 0, 64), -9);
  assert.throws(() => dev.start(() => {}), { code: 'EBADF' });
  assert.throws(() => dev.setPersist(true), { code: 'EBADF' });
  dev.stop();
  dev.close();
  assert.throws(() => hostIfMtu(V2), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENODEV');
    assert.match(e.message, new RegExp(`${V2}: no such network interface`));
    return true;
  });
});

const OUR_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0x77, 0x00, 0x02);
const OUR_IP = Uint8Array.of(10, 77, 0, 2);
const HOST_IP = Uint8Array.of(10, 77, 0, 1);

/** vnet header (zero: no offload) + ARP reply from OUR_MAC/OUR_IP to the requester. */
function arpReply(reqMac: Uint8Array): Uint8Array {
  const f = new Uint8Array(10 + 42);
  const e = 10;
  f.set(reqMac, e);
  f.set(OUR_MAC, e + 6);
  f[e + 12] = 0x08;
  f[e + 13] = 0x06;
  const a = e + 14;
  f.set([0, 1, 0x08, 0x00, 6, 4, 0, 2], a); // Ethernet/IPv4, op 2 (reply)
  f.set(OUR_MAC, a + 8);
  f.set(OUR_IP, a + 14);
  f.set(reqMac, a + 18);
  f.set(HOST_IP, a + 24);
  return f;
}

test('host frames arrive in batches and written frames reach the host (ARP round trip in a netns)', async (t) => {
  if (!canRun) return t.skip(SKIP);
  const dev = TapDevice.open({ name: V4, slots: 16 });
  try {
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'link', 'set', V4, 'netns', NS);
    sh('ip', '-n', NS, 'link', 'set', V4, 'up');
    sh('ip', '-n', NS, 'addr', 'add', '10.77.0.1/24', 'dev', V4);

    let arpRequest: ((f: Uint8Array) => void) | null = null;
    let udpToUs: ((f: Uint8Array) => void) | null = null;
    const gotArp = new Promise<Uint8Array>((r) => (arpRequest = r));
    const gotUdp = new Promise<Uint8Array>((r) => (udpToUs = r));
    let batches = 0;
    dev.start((count) => {
      batches++;
      assert.ok(count >= 1 && count <= 16);
      for (let i = 0; i < count; i++) {
        const base = i * dev.slotSize;
        const len = dev.rxLen[i]!;
        const f = dev.rx.subarray(base + dev.vnetHdrLen, base + len);
        const type = (f[12]! << 8) | f[13]!;
        if (type === 0x0806 && f[21] === 1) arpRequest?.(f.slice());
        if (type === 0x0800 && f.subarray(0, 6).every((b, k) => b === OUR_MAC[k])) udpToUs?.(f.slice());
      }
    });

    // One UDP datagram to 10.77.0.2 makes the host ARP for it, then (once
    // answered) sends the datagram to the MAC we gave.
    const sender = spawn(
      'ip',
      ['netns', 'exec', NS, process.execPath, '-e',
        "const s=require('dgram').createSocket('udp4');s.send('vtdv',9999,'10.77.0.2',()=>setTimeout(()=>s.close(),3000))"],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((r) => sender.once('exit', () => r()));
    try {
      const req = await withTimeout(gotArp, 5000, 'an ARP request on the tap');
      assert.deepEqual([...req.subarray(28, 32)], [...HOST_IP], 'sender IP');
      assert.deepEqual([...req.subarray(38, 42)], [...OUR_IP], 'target IP');
      const reqMac = req.subarray(6, 12);
      assert.deepEqual([...req.subarray(22, 28)], [...reqMac], 'sender MAC');

      const reply = arpReply(reqMac);
      assert.equal(dev.write(reply, 0, reply.length), reply.length);

      const udp = await withTimeout(gotUdp, 5000, 'the held UDP datagram addressed to our MAC');
      assert.equal(udp[23], 17, 'IP protocol UDP');
      assert.match(sh('ip', '-n', NS, 'neigh', 'show', '10.77.0.2'), /lladdr 02:00:00:77:00:02/);
      assert.ok(batches >= 2);
    } finally {
      sender.kill();
      await exited;
    }
  } finally {
    dev.close();
    quiet('ip', 'netns', 'del', NS);
  }
});

test('a paused device is not read: the kernel queues, then drops and counts (hostDrops, across namespaces); resumed, it is read again', async (t) => {
  if (!canRun) return t.skip(SKIP);
  const dev = TapDevice.open({ name: V4 });
  try {
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'link', 'set', V4, 'netns', NS);
    sh('ip', '-n', NS, 'link', 'set', V4, 'up');
    sh('ip', '-n', NS, 'addr', 'add', '10.77.0.1/24', 'dev', V4);
    sh('ip', '-n', NS, 'neigh', 'add', '10.77.0.2', 'lladdr', '02:00:00:77:00:02', 'dev', V4);
    let frames = 0;
    dev.start((count) => void (frames += count));
    const before = dev.hostDrops();
    assert.ok(before >= 0, `hostDrops: ${before}`);
    dev.pause(true);
    // 3000 echo requests as fast as the host sends them: nobody answers.
    quiet('ip', 'netns', 'exec', NS, 'ping', '-f', '-c', '3000', '-W', '0.01', '10.77.0.2');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(frames, 0, 'nothing read while paused');
    const dropped = dev.hostDrops() - before;
    assert.ok(dropped > 1000, `the kernel dropped ${dropped} of 3000 once its queue was full`);
    dev.pause(false);
    await withTimeout(
      (async () => {
        while (frames + dropped < 3000) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      `the queued frames after resuming (read ${frames}, dropped ${dropped})`,
    );
    assert.ok(frames > 0);
  } finally {
    dev.close();
    quiet('ip', 'netns', 'del', NS);
  }
});
