import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../lib/image.js';
import { TcpListener, TcpSocket } from '../../lib/socket/tcp.js';
import { UdpSocket } from '../../lib/socket/udp.js';
import { B_ADDR, twoImages, type TestNet } from '../../lib/testing/testnet.js';
import type { Command, CommandContext } from '../command.js';
import { commands as ncCommands } from './nc.js';
import { commands as netstatCommands } from './netstat.js';
import { commands as serverCommands } from './servers.js';
import { commandHandles } from '../../lib/control/index.js';

const nc = ncCommands['nc']!;
const netstat = netstatCommands['netstat']!;

interface Proc {
  done: Promise<number>;
  stdout: () => string;
  stderr: () => string;
  abort: () => void;
  /** Feed stdin; `null` ends it. */
  input: (s: string | null) => void;
}

function start(n: TestNet, im: Image, cmd: Command, argv: string[]): Proc {
  const out: string[] = [];
  const err: string[] = [];
  const ac = new AbortController();
  const chunks: Array<Uint8Array | null> = [];
  let wake: (() => void) | null = null;
  const stdin: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const c = chunks.shift();
        if (c === null) return;
        if (c !== undefined) {
          yield c;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
  };
  const ctx: CommandContext = {
    argv,
    ...commandHandles(im, n.reg),
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin,
    signal: ac.signal,
    json: false,
    pid: 7,
  };
  return {
    done: cmd(ctx),
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    abort: () => ac.abort('SIGINT'),
    input: (s) => {
      chunks.push(s === null ? null : new Uint8Array(Buffer.from(s)));
      wake?.();
    },
  };
}

async function until(n: TestNet, cond: () => boolean, maxMs = 10_000): Promise<void> {
  for (let t = 0; t < maxMs; t++) {
    await n.settle();
    if (cond()) return;
    n.clock.advance(1);
  }
  throw new Error('condition not reached');
}

async function finish(n: TestNet, p: Proc, maxMs = 10_000): Promise<number> {
  let st: number | undefined;
  void p.done.then((s) => (st = s));
  await until(n, () => st !== undefined, maxMs);
  return st!;
}

test('nc client to a TCP server in another image: stdin out, the reply to stdout, -v messages', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(5000);
  const srv = (async () => {
    const c = (await l.accept())!;
    const got: Uint8Array[] = [];
    for await (const x of c) got.push(x);
    await c.write(new Uint8Array(Buffer.from(`got ${Buffer.concat(got).toString()}`)));
    c.close();
  })();
  const p = start(n, n.a, nc, ['nc', '-v', '-N', '10.0.0.2', '5000']);
  p.input('hello\n');
  p.input(null);
  assert.equal(await finish(n, p), 0);
  await srv;
  assert.equal(p.stdout(), 'got hello\n');
  assert.equal(p.stderr(), 'Connection to 10.0.0.2 5000 port [tcp/*] succeeded!\n');
});

test('nc -z reports refused and open ports like FreeBSD, with the exit status', async () => {
  const n = twoImages();
  const l = new TcpListener(n.b);
  l.listen(22);
  const closed = start(n, n.a, nc, ['nc', '-z', '10.0.0.2', '23']);
  assert.equal(await finish(n, closed), 1);
  assert.equal(closed.stderr(), 'nc: connect to 10.0.0.2 port 23 (tcp) failed: Connection refused\n');
  const open = start(n, n.a, nc, ['nc', '-zv', '10.0.0.2', '20-22']);
  assert.equal(await finish(n, open), 0);
  assert.match(open.stderr(), /port 20 \(tcp\) failed: Connection refused\n.*port 21.*\nConnection to 10.0.0.2 22 port \[tcp\/\*\] succeeded!\n$/);
});

test('nc -w gives up on a silent host with "Operation timed out"', async () => {
  const n = twoImages();
  n.b.sysctl.set('net.inet.tcp.blackhole', '2');
  const p = start(n, n.a, nc, ['nc', '-w', '2', '10.0.0.2', '80']);
  assert.equal(await finish(n, p, 5000), 1);
  assert.equal(p.stderr(), 'nc: connect to 10.0.0.2 port 80 (tcp) failed: Operation timed out\n');
});

test('nc -l accepts one connection, prints what arrives and exits at its end', async () => {
  const n = twoImages();
  const p = start(n, n.b, nc, ['nc', '-lv', '6000']);
  p.input(null);
  await n.settle();
  const s = new TcpSocket(n.a);
  await s.connect(B_ADDR, 6000).then(
    () => {},
    () => {},
  );
  await until(n, () => s.state === 4);
  await s.write(new Uint8Array(Buffer.from('over the wire\n')));
  await s.end();
  assert.equal(await finish(n, p), 0);
  assert.equal(p.stdout(), 'over the wire\n');
  assert.match(p.stderr(), /^Connection from 10\.0\.0\.1 \d+ received!\n$/);
});

test('nc -u sends datagrams and prints the replies; nc -lu receives them', async () => {
  const n = twoImages();
  const srv = start(n, n.b, nc, ['nc', '-lu', '7000']);
  srv.input(null);
  await n.settle();
  const cli = start(n, n.a, nc, ['nc', '-u', '-w', '1', '10.0.0.2', '7000']);
  cli.input('datagram one\n');
  await until(n, () => srv.stdout() === 'datagram one\n');
  assert.equal(await finish(n, cli), 0, 'ends after -w idle seconds');
  srv.abort();
  await finish(n, srv);
});

test('echo, discard and chargen serve TCP and UDP; netstat -an lists the sockets', async () => {
  const n = twoImages();
  const echo = start(n, n.b, serverCommands['echo']!, ['echo']);
  const chargen = start(n, n.b, serverCommands['chargen']!, ['chargen', '-t']);
  await n.settle();
  const c = start(n, n.a, nc, ['nc', '-N', '10.0.0.2', '7']);
  c.input('echo me\n');
  c.input(null);
  assert.equal(await finish(n, c), 0);
  assert.equal(c.stdout(), 'echo me\n');
  const u = new UdpSocket(n.a);
  u.send(new Uint8Array(Buffer.from('udp echo')), B_ADDR, 7);
  await n.settle();
  assert.equal(Buffer.from((await u.recv())!.data).toString(), 'udp echo');
  const s = new TcpSocket(n.a);
  void s.connect(B_ADDR, 19);
  await until(n, () => s.recvQueued >= 148);
  const first = Buffer.from((await s.read(74))!).toString();
  assert.equal(first, ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n');
  const ns = start(n, n.b, netstat, ['netstat', '-an']);
  assert.equal(await finish(n, ns), 0);
  const lines = ns.stdout().split('\n');
  assert.equal(lines[0], 'Active Internet connections (including servers)');
  assert.equal(lines[1], 'Proto Recv-Q Send-Q Local Address          Foreign Address        (state)    ');
  assert.ok(lines.some((l) => /^tcp4\s+0\s+\d+ 10\.0\.0\.2\.19\s+10\.0\.0\.1\.\d+\s+ESTABLISHED$/.test(l)), ns.stdout());
  assert.ok(lines.includes('tcp4       0      0 *.7                    *.*                    LISTEN'), ns.stdout());
  assert.ok(lines.includes('udp4       0      0 *.7                    *.*'), ns.stdout());
  assert.ok(lines.includes('tcp6       0      0 *.7                    *.*                    LISTEN'), ns.stdout());
  assert.ok(lines.includes('udp6       0      0 *.7                    *.*'), ns.stdout());
  const nl = start(n, n.b, netstat, ['netstat', '-L']);
  await finish(n, nl);
  // Each server listens on IPv4 and (v6-only) IPv6, newest first.
  assert.match(nl.stdout(), /^Current listen queue sizes \(qlen\/incqlen\/maxqlen\)\nProto Listen +Local Address\ntcp6  0\/0\/128 +\*\.19\ntcp4  0\/0\/128 +\*\.19\n/);
  const st = start(n, n.b, netstat, ['netstat', '-s', '-p', 'tcp']);
  await finish(n, st);
  assert.match(st.stdout(), /^tcp:\n\t\d+ packets sent\n\t\t\d+ data packets \(\d+ bytes\)\n/);
  assert.match(st.stdout(), /\n\t\d+ connection requests?\n\t2 connection accepts\n/);
  assert.match(st.stdout(), /\tTCP connection count by state:\n\t\t0 connections in CLOSED state\n\t\t4 connections in LISTEN state\n(?:\t\t\d+ connections? in [A-Z_12]+ state\n){9}$/);
  assert.match(st.stdout(), /\t\t1 connection in ESTABLISHED state\n/);
  s.destroy();
  echo.abort();
  chargen.abort();
  await finish(n, echo);
  await finish(n, chargen);
  assert.equal(n.b.sockets.size, 0, 'servers closed their sockets');
});
