/**
 * The small tools against a Linux host: inetd in an image serving echo,
 * daytime and chargen over TCP and UDP to the host's nc, and running
 * /bin/cat and a shell script per connection; sockstat listing inetd's
 * listeners and a Linux program's socket with their processes; SIGHUP
 * rereading inetd.conf; ping -o and ping -f to the host.
 *
 *   host A (10.79.5.2) --tap-- R (10.79.5.1)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findLayout, tryRmdir } from '../daemon/linux/cgroup.js';
import { Lab, labUnavailable, until } from './lab.js';

const P = 'vtl'; // prefix of every namespace, host device and temporary directory this file makes
const HOST = '10.79.5.2';
const IMG = '10.79.5.1';
const SUPERVISOR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vimage-supervisor');

function missing(): string | undefined {
  const nc = spawnSync('nc', ['-h'], { encoding: 'utf8' });
  if (!/OpenBSD netcat/.test(`${nc.stdout}${nc.stderr}`)) return "OpenBSD nc is not installed (the test uses its -N, -d and -u)";
  if (!existsSync(SUPERVISOR)) return 'vimage-supervisor is not built (npm run build:native)';
  return undefined;
}

const skip = labUnavailable() ?? missing();
const layout = skip === undefined ? findLayout(readFileSync('/proc/mounts', 'utf8')) : undefined;

/** sockstat rows as [user, command, pid, fd, proto, local, foreign]. */
function rows(out: string): string[][] {
  return out
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}

describe('inetd, sockstat and ping against a Linux host', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let conf = '';
  let inetdPid = 0;
  const pids: number[] = [];
  let daemonPid = 0;

  const nc = (script: string): string => lab.inNs(A, ['timeout', '10', 'sh', '-c', script], { timeoutMs: 15_000 }).stdout;

  before(async () => {
    await lab.start();
    daemonPid = lab.daemonProcess!.pid!;
    ({ ns: A } = await lab.imageWithHost('R', HOST, IMG));
    const script = path.join(lab.dir, 'greet.sh');
    writeFileSync(script, '#!/bin/sh\nread line\necho "vtl got: $line"\n');
    chmodSync(script, 0o755);
    chmodSync(lab.dir, 0o755);
    conf = path.join(lab.dir, 'inetd.conf');
    writeFileSync(
      conf,
      [
        '# vtl test inetd.conf',
        'echo    stream tcp  nowait root internal',
        'echo    dgram  udp  wait   root internal',
        'daytime stream tcp  nowait root internal',
        'daytime dgram  udp  wait   root internal',
        'chargen stream tcp  nowait root internal',
        'chargen dgram  udp  wait   root internal',
        '4000    stream tcp  nowait root /bin/cat cat',
        `4001    stream tcp  nowait root /bin/sh sh ${script}`,
        'time    stream tcp6 nowait root internal',
        '',
      ].join('\n'),
    );
    const r = await lab.vimage(['-b', 'R', 'inetd', '-l', conf]);
    assert.equal(r.code, 0, r.stderr);
    inetdPid = Number(/^\[(\d+)\]$/.exec(r.stdout.trim())?.[1]);
    assert.ok(inetdPid > 0, r.stdout);
  });

  after(async () => {
    await lab.close();
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (layout !== undefined && daemonPid > 0) {
      for (const root of new Set([layout.cpu, layout.acct])) {
        const home = path.join(root, 'vimage', `d${daemonPid}`);
        if (!existsSync(home)) continue;
        for (const sub of readdirSync(home, { withFileTypes: true })) if (sub.isDirectory()) await until(`rmdir ${sub.name}`, () => tryRmdir(path.join(home, sub.name)), 3000).catch(() => {});
        tryRmdir(home);
      }
    }
  });

  test('nc on the host reaches inetd\'s internal echo, daytime and chargen over TCP and UDP', () => {
    assert.equal(nc(`printf 'hello vtl\\n' | nc -N -w 3 ${IMG} 7`), 'hello vtl\n');
    assert.match(nc(`nc -d -w 3 ${IMG} 13`), /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$/);
    const gen = nc(`nc -d ${IMG} 19 | head -c 148`);
    assert.equal(gen, ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n');
    assert.equal(nc(`printf 'udp vtl' | nc -u -w 1 ${IMG} 7`), 'udp vtl');
    assert.match(nc(`printf x | nc -u -w 1 ${IMG} 13`), /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$/);
    assert.equal(nc(`printf x | nc -u -w 1 ${IMG} 19`), gen.slice(0, 74), 'one line per datagram, the ring\'s first');
  });

  test('a nowait line runs its program per connection with the connection as stdin and stdout', () => {
    assert.equal(nc(`printf 'through cat\\n' | nc -N -w 5 ${IMG} 4000`), 'through cat\n');
    assert.equal(nc(`printf 'abc\\n' | nc -N -w 5 ${IMG} 4001`), 'vtl got: abc\n');
    // Two at once: each connection its own program.
    const both = nc(`(printf 'one\\n'; sleep 1) | nc -N -w 5 ${IMG} 4000 & (printf 'two\\n'; sleep 1) | nc -N -w 5 ${IMG} 4000; wait`);
    assert.deepEqual(both.split('\n').filter((l) => l !== '').sort(), ['one', 'two']);
  });

  test('inetd -l logs each connection as FreeBSD does, and the tcp6 line as a kernel without IPv6 would', async () => {
    const log = await lab.ok(['R', 'logs', String(inetdPid)]);
    assert.match(log, new RegExp(`^[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d R inetd\\[${inetdPid}\\]: IPv6 bind is ignored for time$`, 'm'));
    for (const svc of ['echo', 'daytime', 'chargen', '4000', '4001']) assert.match(log, new RegExp(`inetd\\[${inetdPid}\\]: ${svc} from ${HOST.replace(/\./g, '\\.')}$`, 'm'), svc);
  });

  test('sockstat -4 -l shows inetd\'s listeners and a Linux program\'s with command and pid', async () => {
    const b = await lab.vimage(['-b', 'R', '/usr/bin/nc', '-l', '18055']);
    assert.equal(b.code, 0, b.stderr);
    const ncPid = Number(/^\[(\d+)\]$/.exec(b.stdout.trim())?.[1]);
    pids.push(ncPid);
    let out = '';
    await until('nc to listen', async () => (out = await lab.ok(['R', 'sockstat', '-4', '-l'])).includes('*:18055'));
    assert.match(out.split('\n')[0]!, /^USER {5}COMMAND {4}PID {3}FD PROTO {2}LOCAL ADDRESS {9}FOREIGN ADDRESS {6}$/);
    const r = rows(out);
    const inetd = r.filter((x) => x[1] === 'inetd').map((x) => `${x[0]} ${x[2]} ${x[4]} ${x[5]} ${x[6]}`);
    for (const want of ['tcp4 *:7', 'udp4 *:7', 'tcp4 *:13', 'udp4 *:13', 'tcp4 *:19', 'udp4 *:19', 'tcp4 *:4000', 'tcp4 *:4001']) assert.ok(inetd.includes(`root ${inetdPid} ${want} *:*`), `${want} in\n${out}`);
    assert.equal(inetd.length, 8, out);
    const fds = r.filter((x) => x[1] === 'inetd').map((x) => Number(x[3]));
    assert.deepEqual([...fds].sort((a, c) => a - c), [3, 4, 5, 6, 7, 8, 9, 10]);
    const lin = r.find((x) => x[5] === '*:18055')!;
    assert.deepEqual([lin[1], lin[2], lin[3], lin[4]], ['nc', String(ncPid), '?', 'tcp4']);
    const j = JSON.parse(await lab.ok(['--json', 'R', 'sockstat', '-4l', '-p', '18055'])) as { sockets: Array<{ command: string; pid: number }> };
    assert.deepEqual(j.sockets.map((s) => [s.command, s.pid]), [['nc', ncPid]]);
    await lab.ok(['R', 'kill', String(ncPid)]);
  });

  test('SIGHUP rereads inetd.conf: removed services close, new ones open, kept ones keep their sockets', async () => {
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^4001 .*$/m, 'discard stream tcp nowait root internal'));
    assert.equal((await lab.vimage(['R', 'kill', '-HUP', String(inetdPid)])).code, 0);
    let out = '';
    await until('port 9 to listen', async () => (out = await lab.ok(['R', 'sockstat', '-4l', '-P', 'tcp'])).includes('*:9 '));
    assert.ok(!out.includes('*:4001'), out);
    assert.match(out, new RegExp(`^root +inetd +${inetdPid} +3 +tcp4 +\\*:7 `, 'm'), 'echo kept its socket (fd 3)');
    assert.equal(nc(`printf 'gone\\n' | nc -N -w 3 ${IMG} 9`), '');
    assert.equal(nc(`printf 'still\\n' | nc -N -w 3 ${IMG} 7`), 'still\n');
  });

  test('ping -o stops at the first reply; ping -f -c 200 floods the host', async () => {
    const o = await lab.vimage(['R', 'ping', '-o', HOST]);
    assert.equal(o.code, 0, o.stderr);
    assert.match(o.stdout, /^PING 10\.79\.5\.2 \(10\.79\.5\.2\): 56 data bytes\n64 bytes from 10\.79\.5\.2: icmp_seq=0 ttl=64 time=[\d.]+ ms\n\n--- 10\.79\.5\.2 ping statistics ---\n1 packets transmitted, 1 packets received, 0\.0% packet loss\n/);
    const t0 = Date.now();
    const f = await lab.vimage(['R', 'ping', '-f', '-c', '200', HOST], { timeoutMs: 30_000 });
    const took = Date.now() - t0;
    assert.equal(f.code, 0, f.stderr);
    const marks = f.stdout.split('\n')[1]!;
    assert.equal([...marks].filter((c) => c === '.').length, 200);
    const m = /(\d+) packets transmitted, (\d+) packets received/.exec(f.stdout)!;
    assert.equal(m[1], '200');
    assert.ok(Number(m[2]) >= 190, f.stdout);
    assert.equal([...marks].filter((c) => c === '\b').length, Number(m[2]));
    // At least one request per 10 ms: 200 requests take well under the 200 s of a plain ping.
    assert.ok(took < 15_000, `ping -f took ${took} ms`);
  });

  test('stopping inetd closes its sockets', async () => {
    assert.equal((await lab.vimage(['R', 'kill', String(inetdPid)])).code, 0);
    await until('inetd\'s sockets to close', async () => !(await lab.ok(['R', 'sockstat', '-4l'])).includes('inetd'));
  });
});
