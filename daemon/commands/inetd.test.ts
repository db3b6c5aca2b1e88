import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandHandles } from '../../lib/control/index.js';
import { ip, routerTopology } from '../../lib/testing/topology.js';
import { commands, cpmHit, parseInetdArgs, syslogLine } from './inetd.js';
import { parseInetdConf, printService, servicesFrom } from './inetd_conf.js';
import { chargenLine, daytimeText, timeBytes } from './inetd_internal.js';
import { settle, start, until } from './tools_harness.js';

const inetd = commands['inetd']!;
const SERVICES = servicesFrom(
  ['# comment', 'echo\t\t7/tcp', 'echo\t\t7/udp', 'discard\t\t9/tcp\t\tsink null', 'daytime\t\t13/tcp', 'daytime 13/udp', 'chargen 19/tcp ttytst source', 'chargen 19/udp', 'time 37/tcp timserver', 'time 37/udp', 'ftp 21/tcp'].join('\n'),
);

test('/etc/services resolves names and aliases per protocol', () => {
  assert.equal(SERVICES('echo', 'udp'), 7);
  assert.equal(SERVICES('sink', 'tcp'), 9);
  assert.equal(SERVICES('sink', 'udp'), undefined);
  assert.equal(SERVICES('timserver', 'tcp'), 37);
  assert.equal(SERVICES('nosuch', 'tcp'), undefined);
});

test('inetd.conf lines parse as FreeBSD getconfigent() reads them; wrong lines are skipped with its messages', () => {
  const conf = [
    '# FreeBSD /etc/inetd.conf style',
    'echo\tstream\ttcp\tnowait\troot\tinternal',
    'echo\tdgram\tudp\twait\troot\tinternal',
    'daytime stream tcp4 nowait root internal',
    'sink   stream tcp nowait/10/20/3 root internal',
    'ftp    stream tcp nowait/5 nobody:nogroup /usr/libexec/ftpd ftpd -l',
    '4000   stream tcp nowait root /bin/cat cat',
    'time   stream tcp6 nowait root internal',
    'chargen stream tcp46 nowait root internal',
    'echo   stream tcp  maybe root internal',
    'ftp    stream tcp  nowait/x root /x',
    'gopher stream tcp  nowait root internal',
    'nosuch stream tcp  nowait root /bin/true',
    'echo   stream udp  nowait root internal',
    'echo   stream tcp5 nowait root internal',
    '4001   stream tcp nowait root /bin/sh sh -c',
    "   'echo hi; cat'",
  ].join('\n');
  const r = parseInetdConf(conf, '/etc/inetd.conf', SERVICES);
  assert.equal(r.fatal, undefined);
  assert.deepEqual(r.errors, [
    'IPv6 bind is ignored for time',
    'IPv6 bind is ignored for chargen',
    '/etc/inetd.conf: bad wait/nowait for service echo',
    '/etc/inetd.conf: bad max-child for service ftp',
    'internal service gopher unknown',
    'nosuch/tcp: unknown service',
    'echo/udp: socket: Protocol wrong type for socket',
    'bad IP version for tcp5',
  ]);
  const brief = r.entries.map((e) => [e.service, e.port, e.socktype, e.proto, e.wait, e.maxChild, e.maxCpm, e.maxPerIp, e.user, e.group ?? '', e.server, e.argv.join(' '), e.builtin ?? '']);
  assert.deepEqual(brief, [
    ['echo', 7, 'stream', 'tcp', false, 0, 0, 0, 'root', '', 'internal', '', 'echo'],
    ['echo', 7, 'dgram', 'udp', false, 1, 0, 0, 'root', '', 'internal', '', 'echo'],
    ['daytime', 13, 'stream', 'tcp', false, 0, 0, 0, 'root', '', 'internal', '', 'daytime'],
    ['sink', 9, 'stream', 'tcp', false, 10, 20, 3, 'root', '', 'internal', '', 'discard'],
    ['ftp', 21, 'stream', 'tcp', false, 5, 0, 0, 'nobody', 'nogroup', '/usr/libexec/ftpd', 'ftpd -l', ''],
    ['4000', 4000, 'stream', 'tcp', false, 0, 0, 0, 'root', '', '/bin/cat', 'cat', ''],
    ['chargen', 19, 'stream', 'tcp', false, 0, 0, 0, 'root', '', 'internal', '', 'chargen'],
    ['4001', 4001, 'stream', 'tcp', false, 0, 0, 0, 'root', '', '/bin/sh', 'sh -c echo hi; cat', ''],
  ]);
  assert.equal(parseInetdConf('echo stream tcp nowait root\n', 'f', SERVICES).fatal, 'f: syntax error');
  assert.equal(
    printService('ADD ', r.entries[0]!),
    'ADD : echo proto=tcp accept=1 max=0 user=root group=(null)class=daemon builtin=echo server=internal\n',
  );
});

test('internal services answer as builtins.c writes them', () => {
  const l0 = Buffer.from(chargenLine(0)).toString('latin1');
  assert.equal(l0, ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n');
  assert.equal(Buffer.from(chargenLine(94)).toString('latin1').slice(0, 3), '~ !');
  const ms = new Date(2026, 11, 4, 8, 9, 3).getTime(); // local time, as ctime(3)
  assert.equal(daytimeText(ms), 'Fri Dec  4 08:09:03 2026\r\n');
  assert.deepEqual([...timeBytes(Date.UTC(1970, 0, 1))], [0x83, 0xaa, 0x7e, 0x80]); // 2208988800
  assert.equal(syslogLine(ms, 'R', 101, 'echo from 10.0.0.2'), 'Dec  4 08:09:03 R inetd[101]: echo from 10.0.0.2\n');
});

test('inetd options', () => {
  assert.deepEqual(parseInetdArgs(['inetd', '-dl', '/x.conf']), { debug: true, log: true, bindAddr: 0, maxCpm: 0, maxChild: 0, toomany: 256, maxPerIp: 0, conf: '/x.conf' });
  assert.equal((parseInetdArgs(['inetd']) as { conf: string }).conf, '/etc/inetd.conf');
  assert.match(parseInetdArgs(['inetd', '-x']) as string, /illegal option -- x/);
  assert.match(parseInetdArgs(['inetd', '-c', 'many']) as string, /maximum children/);
  assert.match(parseInetdArgs(['inetd', 'a', 'b']) as string, /^usage: inetd/);
});

test('inetd serves echo, daytime and time over TCP and echo and chargen over UDP, logs with -l, and rereads on SIGHUP', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vtl-inetd-'));
  try {
    const conf = path.join(dir, 'inetd.conf');
    writeFileSync(conf, ['echo stream tcp nowait root internal', 'echo dgram udp wait root internal', 'daytime stream tcp nowait root internal', 'chargen dgram udp wait root internal', 'time stream tcp nowait root internal'].join('\n') + '\n');
    const env = routerTopology();
    const d = start(env, env.b, inetd, ['inetd', '-l', conf], { owner: { pid: 4242, command: 'inetd', uid: 0, nextFd: 3 } });
    await settle(env);
    assert.equal(d.status, undefined, d.err.join(''));
    const cli = commandHandles(env.a, env.reg).image.sockets;
    const B = ip('10.2.0.2');

    const tcpExchange = async (port: number, send: string | null): Promise<Buffer> => {
      const s = cli.tcp();
      const p = s.connect(B, port);
      await until(env, () => s.state >= 4, `connect to ${port}`);
      await p;
      if (send !== null) {
        await s.write(Buffer.from(send));
        await s.end();
      }
      const got: Buffer[] = [];
      let eof = false;
      void (async () => {
        for await (const c of s) got.push(Buffer.from(c));
        eof = true;
      })();
      await until(env, () => eof, `EOF from ${port}`);
      s.close();
      return Buffer.concat(got);
    };
    assert.equal((await tcpExchange(7, 'hello inetd\n')).toString(), 'hello inetd\n');
    assert.match((await tcpExchange(13, null)).toString(), /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$/);
    const t = await tcpExchange(37, null);
    assert.equal(t.length, 4);
    assert.ok(Math.abs(t.readUInt32BE(0) - (Math.floor(Date.now() / 1000) + 2208988800)) < 5);

    const u = cli.udp();
    u.bind(0);
    u.send(Buffer.from('ping'), B, 7);
    u.send(Buffer.from('x'), B, 19);
    const dgrams: string[] = [];
    void (async () => {
      for await (const dg of u) dgrams.push(`${dg.port}:${Buffer.from(dg.data).toString('latin1')}`);
    })();
    await until(env, () => dgrams.length === 2, 'two datagrams back');
    assert.deepEqual(dgrams.sort(), [`19:${Buffer.from(chargenLine(0)).toString('latin1')}`, '7:ping']);

    const log = d.err.join('');
    assert.match(log, new RegExp(`^[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${env.b.name} inetd\\[4242\\]: echo from 10\\.1\\.0\\.2$`, 'm'));
    for (const svc of ['echo', 'daytime', 'time', 'chargen']) assert.match(log, new RegExp(`inetd\\[4242\\]: ${svc} from 10\\.1\\.0\\.2\\n`));

    // A datagram from another internal dgram service's port is refused (check_loop).
    const loopy = commandHandles(env.a, env.reg).image.sockets.udp();
    loopy.bind(19);
    loopy.send(Buffer.from('loop?'), B, 7);
    await until(env, () => d.err.join('').includes('loop request REFUSED'), 'loop refused');
    assert.match(d.err.join(''), /echo\/udp:chargen\/udp loop request REFUSED from 10\.1\.0\.2\n/);
    loopy.close();

    // SIGHUP: echo goes, discard comes, daytime keeps its socket.
    const before = env.b.tcp.tcb.count;
    writeFileSync(conf, 'daytime stream tcp nowait root internal\ndiscard stream tcp nowait root internal\n');
    d.hangup!();
    await settle(env);
    const ports = new Set(commandHandles(env.b, env.reg).image.sockets.owned().filter((r) => r.fport === 0).map((r) => `${r.proto}:${r.lport}`));
    assert.deepEqual([...ports].sort(), ['tcp4:13', 'tcp4:9']);
    assert.ok(env.b.tcp.tcb.count <= before);
    assert.equal((await tcpExchange(9, 'dropped')).length, 0);

    d.abort.abort('TERM');
    await until(env, () => d.status !== undefined, 'inetd to stop');
    assert.equal(d.status, 143);
    assert.equal(commandHandles(env.b, env.reg).image.sockets.owned().filter((r) => r.fport === 0).length, 0, 'listeners closed');
    u.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inetd -d prints print_service lines; a program line without a way to run programs closes the connection and says why', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vtl-inetd-'));
  try {
    const conf = path.join(dir, 'inetd.conf');
    writeFileSync(conf, '4000 stream tcp nowait root /bin/cat cat\n4001 stream tcp wait root /bin/cat cat\n');
    const env = routerTopology();
    const d = start(env, env.b, inetd, ['inetd', '-d', conf]);
    await settle(env);
    const err = (): string => d.err.join('');
    assert.match(err(), /^ADD : 4000 proto=tcp accept=1 max=0 user=root group=\(null\)class=daemon builtin=0x0 server=\/bin\/cat$/m);
    assert.match(err(), /^inetd: enabling 4000, port 4000$/m);
    assert.match(err(), /4001\/tcp: wait stream services that run a program need the socket itself as fd 0.*service ignored$/m);
    const s = commandHandles(env.a, env.reg).image.sockets.tcp();
    const p = s.connect(ip('10.2.0.2'), 4000);
    await until(env, () => s.state >= 4, 'connect');
    await p;
    let eof = false;
    void (async () => {
      for await (const _ of s) {
        /* nothing comes */
      }
      eof = true;
    })().catch(() => (eof = true));
    await until(env, () => eof, 'the connection to close');
    assert.match(err(), /4000\/tcp: execv \/bin\/cat: this process cannot run programs$/m);
    s.close();
    d.abort.abort('INT');
    await until(env, () => d.status !== undefined, 'inetd to stop');
    assert.equal(d.status, 130);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inetd stops at a syntax error and when its file cannot be read, and says why', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vtl-inetd-'));
  try {
    const env = routerTopology();
    const missing = start(env, env.b, inetd, ['inetd', path.join(dir, 'none.conf')]);
    await until(env, () => missing.status !== undefined, 'inetd to give up');
    assert.equal(missing.status, 1);
    assert.match(missing.err.join(''), /inetd\[4242\]: .*none\.conf: No such file or directory\n/);
    const bad = path.join(dir, 'bad.conf');
    writeFileSync(bad, 'echo stream tcp\n');
    const b = start(env, env.b, inetd, ['inetd', bad]);
    await until(env, () => b.status !== undefined, 'inetd to stop');
    assert.equal(b.status, 65);
    assert.match(b.err.join(''), /bad\.conf: syntax error\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cpmip: the per-address table forgets peers silent for a minute, so many one-time peers do not grow it forever', () => {
  const cpm = { byAddr: new Map<number, number[]>(), swept: 0 };
  for (let a = 1; a <= 5000; a++) assert.equal(cpmHit(cpm, a, 1000, 3), false);
  assert.equal(cpmHit(cpm, 1, 2000, 3), false);
  assert.equal(cpmHit(cpm, 1, 3000, 3), false);
  assert.equal(cpmHit(cpm, 1, 4000, 3), true, 'a fourth connection within the minute is over -C 3');
  // Two minutes later one more peer connects: the 5000 silent ones are gone.
  assert.equal(cpmHit(cpm, 9999, 125_000, 3), false);
  assert.ok(cpm.byAddr.size <= 2, `table holds ${cpm.byAddr.size} peers`);
  assert.equal(cpmHit(cpm, 9999, 125_001, 1), true, 'the counting still works after a sweep');
});

test('inetd: a looping service that rests is not set up again after SIGHUP removed it from the file', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vtl-inetd-'));
  try {
    const conf = path.join(dir, 'inetd.conf');
    writeFileSync(conf, 'echo stream tcp nowait root internal\ndaytime stream tcp nowait root internal\n');
    const env = routerTopology();
    const d = start(env, env.b, inetd, ['inetd', '-R', '1', conf]);
    await settle(env);
    const listening = (): number[] => commandHandles(env.b, env.reg).image.sockets.owned().filter((r) => r.fport === 0 && r.proto.startsWith('tcp')).map((r) => r.lport).sort((x, y) => x - y);
    assert.deepEqual(listening(), [7, 13]);
    const cli = commandHandles(env.a, env.reg).image.sockets;
    for (let i = 0; i < 2; i++) {
      const s = cli.tcp();
      const p = s.connect(ip('10.2.0.2'), 7);
      await until(env, () => s.state >= 4 || d.err.join('').includes('looping'), 'connect');
      await p.catch(() => {});
      s.close();
      await settle(env);
    }
    assert.match(d.err.join(''), /echo\/tcp server failing \(looping\), service terminated/);
    assert.deepEqual(listening(), [13], 'echo rests');
    writeFileSync(conf, 'daytime stream tcp nowait root internal\n');
    d.hangup!();
    await settle(env);
    env.clock.advance(61_000);
    await settle(env);
    assert.deepEqual(listening(), [13], 'echo, gone from the file, does not come back when its rest ends');
    d.abort.abort('TERM');
    await until(env, () => d.status !== undefined, 'inetd to stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
