/**
 * npm run bench, Linux programs section: unmodified Linux programs in an
 * image (vimage-supervisor and the daemon's agent) against references
 * measured in the same run. A real vimaged on a private socket, image R
 * with one TAP to host A (a Linux network namespace):
 *
 *   host A (10.84.1.2) --tap-- R (10.84.1.1)
 *   host A (10.84.2.1) --veth-- host C (10.84.2.2)      reference path, kernel only
 *
 * (a) TCP throughput: the real `iperf3 -s` (Debian's) run as a Linux
 *     program in R against R's built-in `iperf3 -s`, both loaded by stock
 *     iperf3 on host A over the same TAP; both directions; ratio real/built-in.
 * (b) Connection setup: a shell loop of `curl` (one connection each) from R
 *     to a server on host A, against the same loop run in host C (Linux
 *     straight, over a veth); ms per connection and the ratio. And the same
 *     with a Python loop of connect/recv/close (no process start per
 *     connection), which isolates the socket calls the supervisor serves.
 *     Known skew (December 2026): the image's TCP picks an ephemeral port,
 *     ISN and timestamp that can land on host A's TIME_WAIT of an earlier
 *     connection; Linux answers the SYN with the old connection's ACK and
 *     the image gets through only on its SYN retransmission, 1 s later. A
 *     few of those per loop dominate the image's mean in the later rounds.
 *
 * BENCH_LINUX=0 skips this section, BENCH_LINUX=only runs only it;
 * BENCH_SECONDS and BENCH_ROUNDS as for the other sections,
 * BENCH_CONNECTIONS (default 200) the connections of each loop.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { socketAnswers } from '../lib/socket_answers.js';
import { figure } from './report.js';

const P = 'vbl'; // prefix of every namespace and device this section makes
const NS_A = `${P}A`;
const NS_C = `${P}C`;
const IMG = '10.84.1.1';
const HOST_A = '10.84.1.2';
const HOST_A_VETH = '10.84.2.1';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 200);
const DIST = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DAEMON = path.join(DIST, 'daemon/main.js');
const CLI = path.join(DIST, 'cli/main.js');
const SUPERVISOR = path.resolve(DIST, '../build/Release/vimage-supervisor');

function sh(args: string[], allowFail = false): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout ?? '';
}

/** Run a command to its end; resolves with stdout, rejects with its output when it fails. */
function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}${out.slice(0, 400)}`))));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The lab of this section: a vimaged, image R, hosts A and C, a web server on A. */
class Lab {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), `${P}-`));
  readonly sock = path.join(this.dir, 'vimaged.sock');
  private daemon: ChildProcess | null = null;
  private web: ChildProcess | null = null;
  private readonly onExit = (): void => this.close();

  async open(): Promise<void> {
    process.on('exit', this.onExit); // main's SIGINT handler exits: leave nothing behind
    this.cleanupNet();
    const log = openSync(path.join(this.dir, 'vimaged.log'), 'a');
    // The priority vimaged.service gives it (Nice=-10), as the system tests run it.
    this.daemon = spawn('nice', ['-n', '-10', process.execPath, DAEMON, '--socket', this.sock, '--state-dir', path.join(this.dir, 'state'), '--log-level', 'warn'], { stdio: ['ignore', log, log] });
    closeSync(log);
    for (let i = 0; i < 200 && !(await socketAnswers(this.sock)); i++) {
      if (this.daemon.exitCode !== null) throw new Error('vimaged did not start');
      await sleep(50);
    }
    sh(['ip', 'netns', 'add', NS_A]);
    sh(['ip', 'netns', 'add', NS_C]);
    sh(['ip', '-n', NS_A, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', NS_C, 'link', 'set', 'lo', 'up']);
    await this.vimage(['-c', 'R']);
    const tap = (await this.vimage(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    sh(['ip', 'link', 'set', `${P}a0`, 'netns', NS_A]);
    sh(['ip', '-n', NS_A, 'addr', 'add', `${HOST_A}/24`, 'dev', `${P}a0`]);
    sh(['ip', '-n', NS_A, 'link', 'set', `${P}a0`, 'up']);
    await this.vimage(['R', 'ifconfig', tap, 'inet', `${IMG}/24`, 'up']);
    sh(['ip', 'link', 'add', `${P}c0`, 'netns', NS_C, 'type', 'veth', 'peer', 'name', `${P}c1`, 'netns', NS_A]);
    sh(['ip', '-n', NS_C, 'addr', 'add', '10.84.2.2/24', 'dev', `${P}c0`]);
    sh(['ip', '-n', NS_A, 'addr', 'add', `${HOST_A_VETH}/24`, 'dev', `${P}c1`]);
    sh(['ip', '-n', NS_C, 'link', 'set', `${P}c0`, 'up']);
    sh(['ip', '-n', NS_A, 'link', 'set', `${P}c1`, 'up']);
    await run(['ip', 'netns', 'exec', NS_A, 'ping', '-c', '2', '-i', '0.2', '-W', '2', IMG]);
    await run(['ip', 'netns', 'exec', NS_C, 'ping', '-c', '1', '-W', '2', HOST_A_VETH]);
    // A small page on host A for the connection loops.
    this.web = spawn('ip', ['netns', 'exec', NS_A, 'python3', '-m', 'http.server', '-d', this.dir, '8000'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (spawnSync('ip', ['netns', 'exec', NS_A, 'curl', '-s', '-o', '/dev/null', `http://${HOST_A}:8000/`]).status === 0) return;
      await sleep(100);
    }
    throw new Error('the web server on host A did not start');
  }

  vimage(args: string[]): Promise<string> {
    return run([process.execPath, CLI, ...args], { VIMAGE_SOCKET: this.sock });
  }

  /** Start `vimage -b R ...` and wait until R listens on `port`; returns its pid. */
  async background(args: string[], port: number): Promise<number> {
    const pid = Number(/^\[(\d+)\]$/.exec((await this.vimage(['-b', 'R', ...args])).trim())?.[1]);
    const listening = new RegExp(`\\*\\.${port}\\s+\\*\\.\\*\\s+LISTEN`);
    for (let i = 0; i < 100; i++) {
      if (listening.test(await this.vimage(['R', 'netstat', '-an']))) return pid;
      await sleep(100);
    }
    throw new Error(`${args.join(' ')} did not listen on ${port}`);
  }

  async stop(pid: number, port: number): Promise<void> {
    await this.vimage(['R', 'kill', String(pid)]).catch(() => '');
    const listening = new RegExp(`\\*\\.${port}\\s`);
    for (let i = 0; i < 100 && listening.test(await this.vimage(['R', 'netstat', '-an'])); i++) await sleep(100);
  }

  private cleanupNet(): void {
    sh(['ip', 'netns', 'del', NS_A], true);
    sh(['ip', 'netns', 'del', NS_C], true);
    for (const d of [`${P}a0`, `${P}c0`, `${P}c1`]) sh(['ip', 'link', 'del', d], true);
  }

  close(): void {
    process.off('exit', this.onExit);
    this.web?.kill();
    this.web = null;
    if (this.daemon !== null && this.daemon.exitCode === null) {
      // Destroying R stops the Linux programs a failed run left there; the daemon goes after.
      spawnSync(process.execPath, [CLI, '-d', 'R'], { env: { ...process.env, VIMAGE_SOCKET: this.sock }, timeout: 10_000 });
      this.daemon.kill('SIGKILL');
    }
    this.daemon = null;
    this.cleanupNet();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Iperf {
  end: { sum_received?: { bits_per_second: number } };
  error?: string;
}

/** Stock iperf3 on host A against a server in R on `port`. */
async function iperfFromA(port: number, reverse: boolean): Promise<number> {
  const args = ['ip', 'netns', 'exec', NS_A, 'iperf3', '-c', IMG, '-p', String(port), '-t', String(SECONDS), '-J'];
  if (reverse) args.push('-R');
  const j = JSON.parse(await run(args)) as Iperf;
  if (j.end.sum_received === undefined) throw new Error(`iperf3 -c ${IMG} -p ${port}: ${j.error ?? 'no result'}`);
  return j.end.sum_received.bits_per_second;
}

/** A shell loop of N curls, timed inside the shell (no program start-up counted): ns per connection. */
const CURL_LOOP = (host: string, n: number): string =>
  `s=$(date +%s%N); i=0; while [ $i -lt ${n} ]; do curl -s -o /dev/null http://${host}:8000/ || exit 1; i=$((i+1)); done; e=$(date +%s%N); echo $(( (e - s) / ${n} ))`;

/** Connect, send a request, read to the end, close; N times in one process: ns per connection. */
const PY_LOOP = `
import socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
t = time.perf_counter_ns()
for i in range(n):
    s = socket.create_connection((host, 8000))
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    while s.recv(65536):
        pass
    s.close()
print((time.perf_counter_ns() - t) // n)
`;

export async function linuxPrograms(): Promise<void> {
  if (!existsSync(SUPERVISOR)) {
    console.log('\nLinux programs in an image: skipped (vimage-supervisor is not built: npm run build:native)');
    return;
  }
  for (const t of ['curl', 'python3']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) {
      console.log(`\nLinux programs in an image: skipped (${t} is missing; run scripts/install-test-tools.sh)`);
      return;
    }
  }
  const lab = new Lab();
  try {
    await lab.open();
    console.log(`\nLinux programs in an image: real iperf3 -s (a Linux program in R) vs R's built-in iperf3 -s, from host A over the same TAP; best of ${ROUNDS}\n`);
    console.log(`${'case'.padEnd(20)}${'built-in'.padStart(14)}${'Linux iperf3'.padStart(14)}${'ratio'.padStart(9)}`);
    const g = (v: number): string => `${(v / 1e9).toFixed(2)} Gbit/s`;
    for (const reverse of [false, true]) {
      let builtin = 0;
      let linux = 0;
      for (let round = 0; round < ROUNDS; round++) {
        let pid = await lab.background(['iperf3', '-s', '-p', '5201'], 5201);
        builtin = Math.max(builtin, await iperfFromA(5201, reverse));
        await lab.stop(pid, 5201);
        pid = await lab.background(['exec', '--linux', 'iperf3', '-s', '-p', '5202'], 5202);
        linux = Math.max(linux, await iperfFromA(5202, reverse));
        await lab.stop(pid, 5202);
      }
      console.log(`${(reverse ? 'image -> host' : 'host -> image').padEnd(20)}${g(builtin).padStart(14)}${g(linux).padStart(14)}${(linux / builtin).toFixed(2).padStart(9)}`);
      figure({ section: 'linux', case: `real iperf3 -s in an image, ${reverse ? 'image -> host' : 'host -> image'}`, value: linux, unit: 'bit/s', reference: { name: 'built-in iperf3 -s', value: builtin }, ratio: linux / builtin, goal: 0.8 });
    }
    console.log(`\nconnection setup from a Linux program, ${CONNECTIONS} sequential HTTP/1.0 connections to host A; best of ${ROUNDS}\n`);
    console.log(`${'loop'.padEnd(20)}${'Linux (veth)'.padStart(14)}${'in image R'.padStart(14)}${'ratio'.padStart(9)}`);
    const ms = (ns: number): string => `${(ns / 1e6).toFixed(2)} ms`;
    for (const [name, inNs, inImage] of [
      ['curl per connection', ['sh', '-c', CURL_LOOP(HOST_A_VETH, CONNECTIONS)], ['sh', '-c', CURL_LOOP(HOST_A, CONNECTIONS)]],
      ['python connect loop', ['python3', '-c', PY_LOOP, HOST_A_VETH, String(CONNECTIONS)], ['python3', '-c', PY_LOOP, HOST_A, String(CONNECTIONS)]],
    ] as const) {
      let ref = Infinity;
      let img = Infinity;
      for (let round = 0; round < ROUNDS; round++) {
        ref = Math.min(ref, Number((await run(['ip', 'netns', 'exec', NS_C, ...inNs])).trim()));
        img = Math.min(img, Number((await lab.vimage(['R', ...inImage])).trim()));
      }
      console.log(`${name.padEnd(20)}${ms(ref).padStart(14)}${ms(img).padStart(14)}${(img / ref).toFixed(2).padStart(9)}`);
      figure({ section: 'linux', case: `${name}, time per connection`, value: img / 1e3, unit: 'us', reference: { name: 'the same loop on Linux (veth)', value: ref / 1e3 }, ratio: img / ref, lowerIsBetter: true });
    }
  } finally {
    lab.close();
  }
}
