/**
 * npm run bench: forwarding through an image against the ceiling of
 * user-space forwarding on this machine, measured in the same run.
 *
 *   ceiling: host A --tap-- [copy loop: frames copied as they are] --tap-- host B
 *   image:   host A --tap-- [image R routing 10.83.1/24 <-> 10.83.2/24] --tap-- host B
 *
 * Both sides use the project's own TAP binding; hosts are Linux network
 * namespaces and the load is stock iperf3 (TCP, and 64-byte UDP). Rounds
 * alternate ceiling and image so both see the same machine noise; the best
 * round of each is compared. Prints the ratios image/ceiling.
 *
 * BENCH_SECONDS (default 5) and BENCH_ROUNDS (default 2) tune the run;
 * BENCH_IPFW=0 skips the ipfw section, BENCH_IPFW=only runs only it.
 *
 * The bridge section switches the same traffic through bridge0 in image SW
 * (both TAPs members, hosts on one /24) as a ratio to routing it through R
 * (goal 0.95 or better). BENCH_BRIDGE=0 skips it, BENCH_BRIDGE=only runs only it.
 *
 * The vxlan section joins two images at layer 2, bridge0 in R (a TAP to
 * host A) and bridge0 in S (a TAP to host B): over vxlan0 in each,
 * encapsulated in UDP across an epair that R and S route, as a ratio to the
 * same two bridges joined by the epair itself (the same path without the
 * encapsulation). BENCH_VXLAN=0 skips it, BENCH_VXLAN=only runs only it.
 *
 * The transport section measures TCP between a Linux host and an image
 * (stock iperf3 against `iperf3 -s` running in image R, both directions) as
 * a ratio to forwarding through an image in the same run, then connections
 * per second to `httpd` in the image and the memory an open connection
 * costs. BENCH_TRANSPORT=0 skips it, BENCH_TRANSPORT=only runs only it.
 *
 * The latency section (bench/latency.ts) pings through an image in a real
 * vimaged and through a C copy loop. BENCH_LATENCY=0 skips it,
 * BENCH_LATENCY=only runs only it.
 *
 * The scale section (bench/scale.ts) creates BENCH_IMAGES (10000) images in
 * a vimaged of its own; BENCH_SCALE=0 skips it, BENCH_SCALE=only runs only it.
 *
 * The Linux programs section (bench/linux.ts): a real iperf3 server run as
 * a Linux program in an image vs the built-in one, and connection setup
 * from a Linux program. BENCH_LINUX=0 skips it, BENCH_LINUX=only runs only it.
 *
 * `npm run -s bench -- --json` prints the tables on stderr and every figure
 * as one JSON document on stdout (bench/report.ts); BENCH_JSON=FILE writes
 * the document to FILE too.
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Command, CommandContext } from '../daemon/command.js';
import { commands as httpdCommands } from '../daemon/commands/httpd.js';
import { commands as iperf3Commands } from '../daemon/commands/iperf3.js';
import { TcpListener, type TcpSocket } from '../lib/socket/tcp.js';
import { commandHandles } from '../lib/control/index.js';
import { createVxlan } from '../lib/control/vxlan.js';
import { Registry, type Image } from '../lib/image.js';
import { parseRule } from '../lib/ipfw/parse.js';
import { silentLogger } from '../lib/log.js';
import { TapDevice, tapDestroy } from '../lib/net/tapdev.js';
import { inAddAddress } from '../lib/netinet/in.js';
import { parseIp4 } from '../lib/wire/ipv4.js';
import { latency } from './latency.js';
import { figure, startReport, writeReport } from './report.js';
import { scale } from './scale.js';
import { linuxPrograms } from './linux.js';

const P = process.env['BENCH_PREFIX'] ?? 'vbn'; // prefix of every namespace and device the bench makes (BENCH_PREFIX overrides)
const NS_A = `${P}A`;
const NS_B = `${P}B`;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);

function sh(args: string[], allowFail = false): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout ?? '';
}

/** Run a command without blocking the event loop (the stack runs in this process). */
function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}${out.slice(0, 400)}`))));
  });
}

function cleanup(): void {
  sh(['ip', 'netns', 'del', NS_A], true);
  sh(['ip', 'netns', 'del', NS_B], true);
  for (const d of [`${P}a0`, `${P}b0`]) {
    try {
      tapDestroy(d);
    } catch {
      // held or gone
    }
  }
}

function wire(dev: string, ns: string, cidr: string, gw: string | null): void {
  sh(['ip', 'link', 'set', dev, 'netns', ns]);
  sh(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  if (gw !== null) sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', gw]);
}

interface Setup {
  target: string;
  close(): void;
}

/** The ceiling: frames copied unchanged (virtio header included) between two TAPs. */
function copyLoop(offload: boolean): Setup {
  const a = TapDevice.open({ name: `${P}a0`, vnetHdr: offload, up: true });
  const b = TapDevice.open({ name: `${P}b0`, vnetHdr: offload, up: true });
  const pump = (from: TapDevice, to: TapDevice) => (count: number): void => {
    const { rx, rxLen, slotSize } = from;
    for (let i = 0; i < count; i++) to.write(rx, i * slotSize, rxLen[i]!);
  };
  a.start(pump(a, b));
  b.start(pump(b, a));
  wire(a.name, NS_A, '10.83.0.1/24', null);
  wire(b.name, NS_B, '10.83.0.2/24', null);
  return {
    target: '10.83.0.2',
    close() {
      a.close();
      b.close();
    },
  };
}

/**
 * ipfw in R for the ipfw section: `empty` is ipfw on with only the default
 * rule (accepting); `rules100` adds 100 rules no benchmark packet matches;
 * `pipe` sends every packet in through a pipe of bw 0 (unlimited) delay 0;
 * `table10k` is one rule `deny ip from table(t) to any` whose table holds
 * 10,000 prefixes (lengths 16 to 32) no benchmark packet is in.
 */
type FwSetup = 'off' | 'empty' | 'rules100' | 'pipe' | 'table10k';

function setupFirewall(r: Image, fw: FwSetup): void {
  if (fw === 'off') return;
  r.sysctl.set('net.inet.ip.fw.default_to_accept', '1', true); // a tunable, as at creation
  r.sysctl.set('net.inet.ip.fw.enable', '1');
  const add = (rule: string): void => void r.fw.add(parseRule(rule.split(' ')));
  if (fw === 'rules100') {
    for (let i = 0; i < 100; i++) {
      if (i % 2 === 0) add(`deny ip from 10.99.${i}.0/24 to 10.98.${i}.0/24`);
      else add(`deny ${i % 4 === 1 ? 'tcp' : 'udp'} from any to any ${20000 + i}`);
    }
  } else if (fw === 'table10k') {
    r.fw.tables.create('t');
    let x = 12345;
    const pairs: Array<[string, string]> = [];
    while (pairs.length < 10000) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const a = (((x >>> 8) % 0xdf000000) + 0x0b000000) >>> 0; // 11.0.0.0 up: never 10.83/16
      const len = 16 + (x % 17);
      pairs.push([`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`, '1']);
    }
    r.fw.tables.add('t', pairs, true);
    add('deny ip from table(t) to any');
  } else if (fw === 'pipe') {
    r.fw.dn.configPipe(1, { bw: 0, delay: 0 });
    add('pipe 1 ip from any to any in');
  }
}

/** Images on the real clock whose TAP devices are opened with or without offloads. */
function benchRegistry(offload: boolean): Registry {
  return new Registry({
    log: silentLogger,
    openTap: ({ name }) => TapDevice.open({ name, vnetHdr: offload, up: true }),
  });
}

/** The image: R routes between two TAP interfaces. */
function imageRouter(offload: boolean, fw: FwSetup = 'off'): Setup {
  const reg = benchRegistry(offload);
  const r = reg.create('R');
  const ta = reg.createTap(r, `${P}a0`);
  const tb = reg.createTap(r, `${P}b0`);
  r.setUp(ta, true);
  r.setUp(tb, true);
  inAddAddress(r, ta, parseIp4('10.83.1.1')!, 24, { alias: false });
  inAddAddress(r, tb, parseIp4('10.83.2.1')!, 24, { alias: false });
  r.sysctl.set('net.inet.ip.forwarding', '1');
  setupFirewall(r, fw);
  wire(`${P}a0`, NS_A, '10.83.1.2/24', '10.83.1.1');
  wire(`${P}b0`, NS_B, '10.83.2.2/24', '10.83.2.1');
  return { target: '10.83.2.2', close: () => reg.close(false) };
}

/** The image as a switch: bridge0 in SW with both TAPs as members, the hosts on one /24. */
function imageBridge(offload: boolean): Setup {
  const reg = benchRegistry(offload);
  const sw = reg.create('SW');
  const ifs = commandHandles(sw, reg).image.interfaces;
  const ta = reg.createTap(sw, `${P}a0`);
  const tb = reg.createTap(sw, `${P}b0`);
  const br = ifs.create('bridge');
  ifs.configureBridge(br, [{ kind: 'addm', ifname: ta.name }, { kind: 'addm', ifname: tb.name }]);
  for (const n of [ta.name, tb.name, br]) ifs.configure(n, [{ kind: 'up' }]);
  wire(`${P}a0`, NS_A, '10.83.0.1/24', null);
  wire(`${P}b0`, NS_B, '10.83.0.2/24', null);
  return { target: '10.83.0.2', close: () => reg.close(false) };
}

/**
 * bridge0 in R (TAP to A) and bridge0 in S (TAP to B), joined by an epair
 * (`vxlan` false), or by vxlan0 in each (VNI 42) carried across that epair,
 * which R and S then route as 10.83.9.0/30 with an MTU of 1550 so vxlan0
 * takes 1500-byte frames. The hosts share 10.83.0.0/24.
 */
function twoBridges(offload: boolean, vxlan: boolean): Setup {
  const reg = benchRegistry(offload);
  const r = reg.create('R');
  const s = reg.create('S');
  const rh = commandHandles(r, reg);
  const sh2 = commandHandles(s, reg);
  const ta = reg.createTap(r, `${P}a0`);
  const tb = reg.createTap(s, `${P}b0`);
  const ea = rh.image.interfaces.create('epair');
  const eb = ea.replace(/a$/, 'b');
  rh.vnet.moveTo(eb, 'S');
  const joinR = vxlan ? createVxlan(reg, r, undefined, { vni: 42, local: parseIp4('10.83.9.1')!, remote: parseIp4('10.83.9.2')! }).name : ea;
  const joinS = vxlan ? createVxlan(reg, s, undefined, { vni: 42, local: parseIp4('10.83.9.2')!, remote: parseIp4('10.83.9.1')! }).name : eb;
  if (vxlan) {
    inAddAddress(r, r.ifnet(ea), parseIp4('10.83.9.1')!, 30, { alias: false });
    inAddAddress(s, s.ifnet(eb), parseIp4('10.83.9.2')!, 30, { alias: false });
    // Room for the 50 bytes of outer headers, so vxlan0 carries the hosts' 1500-byte frames (bridge members
    // must share one MTU).
    rh.image.interfaces.configure(ea, [{ kind: 'mtu', mtu: 1550 }]);
    sh2.image.interfaces.configure(eb, [{ kind: 'mtu', mtu: 1550 }]);
    rh.image.interfaces.configure(joinR, [{ kind: 'mtu', mtu: 1500 }]);
    sh2.image.interfaces.configure(joinS, [{ kind: 'mtu', mtu: 1500 }]);
  }
  for (const [h, members] of [
    [rh, [ta.name, joinR]],
    [sh2, [tb.name, joinS]],
  ] as const) {
    const ifs = h.image.interfaces;
    const br = ifs.create('bridge');
    ifs.configureBridge(br, members.map((ifname) => ({ kind: 'addm' as const, ifname })));
    for (const n of [...members, br]) ifs.configure(n, [{ kind: 'up' }]);
  }
  rh.image.interfaces.configure(ea, [{ kind: 'up' }]);
  sh2.image.interfaces.configure(eb, [{ kind: 'up' }]);
  wire(`${P}a0`, NS_A, '10.83.0.1/24', null);
  wire(`${P}b0`, NS_B, '10.83.0.2/24', null);
  return { target: '10.83.0.2', close: () => reg.close(false) };
}

interface Iperf {
  end: {
    sum_received?: { bits_per_second: number };
    sum?: { packets: number; lost_packets: number; seconds: number };
  };
}

async function iperf(target: string, udp: boolean): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', NS_B, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  try {
    const args = ['ip', 'netns', 'exec', NS_A, 'iperf3', '-c', target, '-t', String(SECONDS), '-J'];
    if (udp) args.push('-u', '-l', '64', '-b', '0');
    const j = JSON.parse(await run(args)) as Iperf;
    if (udp) {
      const s = j.end.sum!;
      return (s.packets - s.lost_packets) / s.seconds;
    }
    return j.end.sum_received!.bits_per_second;
  } finally {
    server.kill();
  }
}

async function measure(kind: 'ceiling' | 'image' | 'bridge' | 'epair' | 'vxlan', offload: boolean, udp: boolean, fw: FwSetup = 'off'): Promise<number> {
  cleanup();
  sh(['ip', 'netns', 'add', NS_A]);
  sh(['ip', 'netns', 'add', NS_B]);
  const s =
    kind === 'ceiling' ? copyLoop(offload) : kind === 'bridge' ? imageBridge(offload) : kind === 'image' ? imageRouter(offload, fw) : twoBridges(offload, kind === 'vxlan');
  try {
    // ARP and the first TCP handshake settle before the clock starts.
    await run(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '2', '-i', '0.2', '-W', '2', s.target]);
    return await iperf(s.target, udp);
  } finally {
    s.close();
    cleanup();
  }
}

// ------------------------------------------------------------- transport

/** Image R with one TAP to host A (10.83.1.2); R is 10.83.1.1. */
function imageHost(offload: boolean): { reg: Registry; r: Image; close(): void } {
  const reg = benchRegistry(offload);
  const r = reg.create('R');
  const ta = reg.createTap(r, `${P}a0`);
  r.setUp(ta, true);
  inAddAddress(r, ta, parseIp4('10.83.1.1')!, 24, { alias: false });
  wire(`${P}a0`, NS_A, '10.83.1.2/24', null);
  return { reg, r, close: () => reg.close(false) };
}

/** Start an in-image command (as vimaged would) and return a stopper. */
function startCommand(reg: Registry, im: Image, cmd: Command, argv: string[]): { stop(): Promise<number> } {
  const ac = new AbortController();
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, reg),
    stdout: { write: () => {} },
    stderr: { write: (t) => void process.stderr.write(`[${argv[0]}] ${t}`) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    signal: ac.signal,
    json: false,
    pid: 1,
  };
  const done = cmd(ctx);
  return {
    stop: () => {
      ac.abort('SIGINT');
      return done;
    },
  };
}

async function hostToImage(reverse: boolean): Promise<number> {
  cleanup();
  sh(['ip', 'netns', 'add', NS_A]);
  const h = imageHost(true);
  const srv = startCommand(h.reg, h.r, iperf3Commands['iperf3']!, ['iperf3', '-s']);
  try {
    await run(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.83.1.1']);
    const args = ['ip', 'netns', 'exec', NS_A, 'iperf3', '-c', '10.83.1.1', '-t', String(SECONDS), '-J'];
    if (reverse) args.push('-R');
    const j = JSON.parse(await run(args)) as Iperf;
    return j.end.sum_received!.bits_per_second;
  } finally {
    await srv.stop();
    h.close();
    cleanup();
  }
}

/** Python load generator: N parallel workers making one-request HTTP/1.0 connections for `secs`. */
const CPS_PY = `
import socket, sys, time, os
host, secs, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def work():
    n = 0
    end = time.time() + secs
    while time.time() < end:
        s = socket.create_connection((host, 8080))
        s.sendall(b"GET /small HTTP/1.0\\r\\n\\r\\n")
        while s.recv(65536):
            pass
        s.close()
        n += 1
    return n
pids = []
r, w = os.pipe()
for i in range(workers):
    pid = os.fork()
    if pid == 0:
        os.write(w, (str(work()) + "\\n").encode()); os._exit(0)
    pids.append(pid)
for p in pids: os.waitpid(p, 0)
os.close(w)
print(sum(int(x) for x in os.read(r, 65536).split()))
`;

async function httpConnectionsPerSecond(): Promise<number> {
  cleanup();
  sh(['ip', 'netns', 'add', NS_A]);
  const h = imageHost(true);
  const dir = mkdtempSync(path.join(os.tmpdir(), `${P}-www-`));
  writeFileSync(path.join(dir, 'small'), 'x'.repeat(512));
  const srv = startCommand(h.reg, h.r, httpdCommands['httpd']!, ['httpd', '-p', '8080', '-r', dir]);
  try {
    await run(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.83.1.1']);
    const out = await run(['ip', 'netns', 'exec', NS_A, 'python3', '-c', CPS_PY, '10.83.1.1', String(SECONDS), '4']);
    return Number(out.trim()) / SECONDS;
  } finally {
    await srv.stop();
    h.close();
    rmSync(dir, { recursive: true, force: true });
    cleanup();
  }
}

/** Hold N idle connections from host A open to a listener in R; returns heap bytes per connection. */
async function memoryPerConnection(n: number): Promise<number> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  cleanup();
  sh(['ip', 'netns', 'add', NS_A]);
  const h = imageHost(true);
  const l = new TcpListener(h.r);
  l.listen(9000, 4096);
  const held: TcpSocket[] = [];
  const acceptor = (async () => {
    for await (const c of l) held.push(c);
  })();
  const py = `
import socket, sys, time
socks = [socket.create_connection(("10.83.1.1", 9000)) for _ in range(int(sys.argv[1]))]
print("open", flush=True)
time.sleep(float(sys.argv[2]))
`;
  try {
    await run(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '1', '-W', '2', '10.83.1.1']);
    gc();
    const mem = (): number => {
      // Small typed arrays (a connection's timers, SACK blocks) live in the V8 heap too.
      return process.memoryUsage().heapUsed;
    };
    const before = mem();
    const holder = spawn('ip', ['netns', 'exec', NS_A, 'python3', '-c', py, String(n), '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.on('data', () => resolve()));
    for (let i = 0; i < 100 && held.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    gc();
    const after = mem();
    const count = held.length;
    holder.kill();
    return count > 0 ? (after - before) / count : NaN;
  } finally {
    l.close();
    for (const c of held) c.destroy();
    await acceptor;
    h.close();
    cleanup();
  }
}

async function transport(): Promise<void> {
  console.log(`\nTCP between a Linux host and an image (iperf3 -s in the image), ratio to forwarding through an image; offloads on; best of ${ROUNDS}\n`);
  console.log(`${'case'.padEnd(20)}${'forwarding'.padStart(14)}${'to image'.padStart(14)}${'ratio'.padStart(9)}`);
  let fwd = 0;
  let up = 0;
  let down = 0;
  for (let round = 0; round < ROUNDS; round++) {
    fwd = Math.max(fwd, await measure('image', true, false));
    up = Math.max(up, await hostToImage(false));
    down = Math.max(down, await hostToImage(true));
  }
  const g = (v: number): string => `${(v / 1e9).toFixed(2)} Gbit/s`;
  console.log(`${'host -> image'.padEnd(20)}${g(fwd).padStart(14)}${g(up).padStart(14)}${(up / fwd).toFixed(2).padStart(9)}`);
  console.log(`${'image -> host'.padEnd(20)}${g(fwd).padStart(14)}${g(down).padStart(14)}${(down / fwd).toFixed(2).padStart(9)}`);
  for (const [name, v] of [['host -> image', up], ['image -> host', down]] as const) {
    figure({ section: 'transport', case: `TCP ${name}`, value: v, unit: 'bit/s', reference: { name: 'forwarding through an image', value: fwd }, ratio: v / fwd });
  }
  const cps = await httpConnectionsPerSecond();
  console.log(`\nhttpd in the image: ${cps.toFixed(0)} connections/s (HTTP/1.0, 512-byte file, 4 clients)`);
  figure({ section: 'transport', case: 'httpd connections per second', value: cps, unit: '1/s' });
  const mem = await memoryPerConnection(2000);
  console.log(`memory per open idle connection in the image: ${(mem / 1024).toFixed(1)} KiB of heap (2000 connections; receive and send buffers empty)`);
  figure({ section: 'transport', case: 'memory per idle connection', value: mem, unit: 'byte', lowerIsBetter: true });
}

/** Switching through bridge0 as a ratio to routing through R (goal: 0.95 or better). */
async function bridgeSection(cases: ReadonlyArray<{ name: string; offload: boolean; udp: boolean; unit: string; scale: number }>): Promise<void> {
  console.log(`\nswitching through a bridge in the image vs. routing through it; best of ${ROUNDS}\n`);
  console.log(`${'case'.padEnd(20)}${'routed'.padStart(14)}${'bridged'.padStart(14)}${'ratio'.padStart(9)}`);
  for (const c of cases) {
    let routed = 0;
    let bridged = 0;
    for (let round = 0; round < ROUNDS; round++) {
      routed = Math.max(routed, await measure('image', c.offload, c.udp));
      bridged = Math.max(bridged, await measure('bridge', c.offload, c.udp));
    }
    const fmt = (v: number): string => `${(v / c.scale).toFixed(2)} ${c.unit}`;
    console.log(`${c.name.padEnd(20)}${fmt(routed).padStart(14)}${fmt(bridged).padStart(14)}${(bridged / routed).toFixed(2).padStart(9)}`);
    figure({ section: 'bridge', case: c.name, value: bridged, unit: c.udp ? 'packet/s' : 'bit/s', reference: { name: 'routed through the image', value: routed }, ratio: bridged / routed, goal: 0.95 });
  }
}

/** Two bridges joined by vxlan over an epair, as a ratio to the same bridges joined by the epair. */
async function vxlanSection(cases: ReadonlyArray<{ name: string; offload: boolean; udp: boolean; unit: string; scale: number }>): Promise<void> {
  console.log(`\nbridges in two images joined by vxlan vs. by the epair it runs over; best of ${ROUNDS}\n`);
  console.log(`${'case'.padEnd(20)}${'epair'.padStart(14)}${'vxlan'.padStart(14)}${'ratio'.padStart(9)}`);
  for (const c of cases) {
    let plain = 0;
    let tunnel = 0;
    for (let round = 0; round < ROUNDS; round++) {
      plain = Math.max(plain, await measure('epair', c.offload, c.udp));
      tunnel = Math.max(tunnel, await measure('vxlan', c.offload, c.udp));
    }
    const fmt = (v: number): string => `${(v / c.scale).toFixed(2)} ${c.unit}`;
    console.log(`${c.name.padEnd(20)}${fmt(plain).padStart(14)}${fmt(tunnel).padStart(14)}${(tunnel / plain).toFixed(2).padStart(9)}`);
    figure({ section: 'vxlan', case: c.name, value: tunnel, unit: c.udp ? 'packet/s' : 'bit/s', reference: { name: 'the same bridges joined by the epair', value: plain }, ratio: tunnel / plain });
  }
}

async function main(): Promise<void> {
  if (process.env['BENCH_SCALE'] === 'only') {
    await scale();
    return;
  }
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
    console.error('bench: needs root and /dev/net/tun (TAP devices and network namespaces)');
    process.exit(1);
  }
  if (spawnSync('iperf3', ['--version']).status !== 0) {
    console.error('bench: iperf3 is missing; run scripts/install-test-tools.sh');
    process.exit(1);
  }
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const cases: Array<{ name: string; offload: boolean; udp: boolean; unit: string; scale: number }> = [
    { name: 'TCP, offloads on', offload: true, udp: false, unit: 'Gbit/s', scale: 1e9 },
    { name: 'TCP, offloads off', offload: false, udp: false, unit: 'Gbit/s', scale: 1e9 },
    { name: 'UDP 64-byte', offload: true, udp: true, unit: 'kpps', scale: 1e3 },
  ];
  if (process.env['BENCH_LINUX'] === 'only') return linuxPrograms();
  if (process.env['BENCH_TRANSPORT'] === 'only') {
    await transport();
    return;
  }
  if (process.env['BENCH_LATENCY'] === 'only') {
    await latency(ROUNDS);
    return;
  }
  if (process.env['BENCH_BRIDGE'] === 'only') {
    await bridgeSection(cases);
    return;
  }
  if (process.env['BENCH_VXLAN'] === 'only') {
    await vxlanSection(cases);
    return;
  }
  console.log(`forwarding through an image vs. a plain TAP copy loop (the ceiling); ${ROUNDS} rounds of ${SECONDS} s, best of each\n`);
  console.log(`${'case'.padEnd(20)}${'ceiling'.padStart(14)}${'image'.padStart(14)}${'ratio'.padStart(9)}`);
  for (const c of process.env['BENCH_IPFW'] === 'only' ? [] : cases) {
    let ceil = 0;
    let img = 0;
    for (let round = 0; round < ROUNDS; round++) {
      ceil = Math.max(ceil, await measure('ceiling', c.offload, c.udp));
      img = Math.max(img, await measure('image', c.offload, c.udp));
    }
    const fmt = (v: number): string => `${(v / c.scale).toFixed(2)} ${c.unit}`;
    console.log(`${c.name.padEnd(20)}${fmt(ceil).padStart(14)}${fmt(img).padStart(14)}${(img / ceil).toFixed(2).padStart(9)}`);
    figure({ section: 'forwarding', case: c.name, value: img, unit: c.udp ? 'packet/s' : 'bit/s', reference: { name: 'C TAP copy loop', value: ceil }, ratio: img / ceil });
  }
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_BRIDGE'] !== '0') await bridgeSection(cases);
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_VXLAN'] !== '0') await vxlanSection(cases);
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_TRANSPORT'] !== '0') await transport();
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_LATENCY'] !== '0') await latency(ROUNDS);
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_SCALE'] !== '0') await scale();
  if (process.env['BENCH_IPFW'] !== 'only' && process.env['BENCH_LINUX'] !== '0') await linuxPrograms();
  if (process.env['BENCH_IPFW'] === '0') return;
  // ipfw: the same forwarding with the firewall on, as a ratio to an empty chain (goal: 100 rules >= 0.90).
  console.log(`\nipfw in the image, ratio to an empty chain (ipfw on, default rule accepting); best of ${ROUNDS}\n`);
  console.log(
    `${'case'.padEnd(20)}${'empty'.padStart(14)}${'100 rules'.padStart(14)}${'ratio'.padStart(9)}${'pipe bw 0'.padStart(14)}${'ratio'.padStart(9)}${'table 10k'.padStart(14)}${'ratio'.padStart(9)}`,
  );
  for (const c of cases) {
    let empty = 0;
    let rules = 0;
    let pipe = 0;
    let table = 0;
    for (let round = 0; round < ROUNDS; round++) {
      empty = Math.max(empty, await measure('image', c.offload, c.udp, 'empty'));
      rules = Math.max(rules, await measure('image', c.offload, c.udp, 'rules100'));
      pipe = Math.max(pipe, await measure('image', c.offload, c.udp, 'pipe'));
      // A table of 10,000 prefixes, one lookup rule.
      table = Math.max(table, await measure('image', c.offload, c.udp, 'table10k'));
    }
    const fmt = (v: number): string => `${(v / c.scale).toFixed(2)} ${c.unit}`;
    console.log(
      `${c.name.padEnd(20)}${fmt(empty).padStart(14)}${fmt(rules).padStart(14)}${(rules / empty).toFixed(2).padStart(9)}${fmt(pipe).padStart(14)}${(pipe / empty).toFixed(2).padStart(9)}${fmt(table).padStart(14)}${(table / empty).toFixed(2).padStart(9)}`,
    );
    const unit = c.udp ? 'packet/s' : 'bit/s';
    const reference = { name: 'empty chain', value: empty };
    figure({ section: 'ipfw', case: `${c.name}, 100 non-matching rules`, value: rules, unit, reference, ratio: rules / empty, goal: 0.95 });
    figure({ section: 'ipfw', case: `${c.name}, pipe with no bandwidth limit`, value: pipe, unit, reference, ratio: pipe / empty });
    figure({ section: 'ipfw', case: `${c.name}, table of 10,000 prefixes, one lookup rule`, value: table, unit, reference, ratio: table / empty });
  }
}

startReport();
main()
  .then(() => writeReport({ seconds: SECONDS, rounds: ROUNDS }))
  .catch((e: unknown) => {
    cleanup();
    console.error(`bench: ${(e as Error).message}`);
    process.exit(1);
  });
