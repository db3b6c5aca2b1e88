import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandHandles, type SocketOwner } from '../../lib/control/index.js';
import { routerTopology, ip } from '../../lib/testing/topology.js';
import { commands } from './sockstat.js';
import { formatSockstat, parseSockstat, selectRows, type SockstatEntry, type SockstatPlan } from './sockstat.js';
import { run, settle } from './tools_harness.js';

const sockstat = commands['sockstat']!;
const names = (uid: number): string => (uid === 0 ? 'root' : String(uid));

test('sockstat options parse as FreeBSD 14 sets its flags', () => {
  const cases: Array<[string[], Partial<SockstatPlan> | RegExp]> = [
    [['sockstat'], { inet4: true, inet6: true, unix: true, connected: true, listening: true }],
    [['sockstat', '-4', '-l'], { inet4: true, inet6: false, unix: false, connected: false, listening: true }],
    [['sockstat', '-4lc'], { connected: true, listening: true }],
    [['sockstat', '-P', 'udp'], { inet4: true, inet6: true, unix: false }],
    [['sockstat', '-qsn'], { quiet: true, states: true, numeric: true }],
    [['sockstat', '-p', 'x'], /syntax error in port range/],
    [['sockstat', '-p', '9-7'], /invalid port number/],
    [['sockstat', '-P', 'icmp'], /unknown protocol/],
    [['sockstat', '-j', '3'], /its own vnet/],
    [['sockstat', '-C'], /congestion control column is not available/],
    [['sockstat', '-z'], /illegal option -- z/],
    [['sockstat', 'extra'], /^usage: sockstat/],
  ];
  for (const [argv, want] of cases) {
    const p = parseSockstat(argv);
    if (want instanceof RegExp) {
      assert.equal(typeof p, 'string', argv.join(' '));
      assert.match(p as string, want);
    } else {
      assert.notEqual(typeof p, 'string', `${argv.join(' ')}: ${String(p)}`);
      for (const [k, v] of Object.entries(want)) assert.equal((p as unknown as Record<string, unknown>)[k], v, `${argv.join(' ')} ${k}`);
    }
  }
  const ports = parseSockstat(['sockstat', '-p', '7,13,19-21']) as SockstatPlan;
  assert.deepEqual([...ports.ports!], [7, 13, 19, 20, 21]);
});

test('sockstat prints the columns of FreeBSD display() and displaysock()', () => {
  const plan = parseSockstat(['sockstat', '-4']) as SockstatPlan;
  const rows: SockstatEntry[] = [
    { user: 'root', command: 'inetd', pid: 101, fd: 3, proto: 'tcp4', local: '*:7', foreign: '*:*' },
    { user: 'www-data', command: 'averyverylongname', pid: 123456, fd: 12, proto: 'udp4', local: '10.0.0.1:53', foreign: '*:*' },
    { user: '?', command: '?', pid: null, fd: null, proto: 'tcp4', local: '10.0.0.1:7', foreign: '10.0.0.2:40000' },
  ];
  assert.equal(
    formatSockstat(rows, plan),
    [
      'USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS      ',
      'root     inetd      101   3  tcp4   *:7                   *:*',
      'www-data averyveryl 123456 12 udp4  10.0.0.1:53           *:*',
      '?        ?          ?     ?  tcp4   10.0.0.1:7            10.0.0.2:40000',
      '',
    ].join('\n'),
  );
  const s = parseSockstat(['sockstat', '-4sq']) as SockstatPlan;
  assert.equal(
    formatSockstat([{ ...rows[0]!, state: 'LISTEN' }], s),
    'root     inetd      101   3  tcp4   *:7                   *:*                                LISTEN\n',
  );
  const h = formatSockstat([], parseSockstat(['sockstat', '-s']) as SockstatPlan);
  assert.equal(h, 'USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS       PATH STATE   CONN STATE  \n');
});

test('sockstat names the process holding each socket, ? for endpoints nobody holds', async () => {
  const env = routerTopology();
  const owner: SocketOwner = { pid: 321, command: 'inetd', uid: 0, nextFd: 3 };
  const srv = commandHandles(env.b, env.reg, owner).image;
  const l = srv.sockets.tcpListener();
  l.listen(7);
  const u = srv.sockets.udp();
  u.bind(7);
  const client = commandHandles(env.a, env.reg).image.sockets.tcp();
  const connecting = client.connect(ip('10.2.0.2'), 7);
  await settle(env, 20);
  await connecting;
  const accepted = await l.accept();
  assert.ok(accepted !== null);

  const rows = srv.sockets.owned();
  const listen = rows.find((r) => r.proto === 'tcp4' && r.fport === 0)!;
  assert.deepEqual(listen.owner, { pid: 321, command: 'inetd', uid: 0, fd: 3 });
  const conn = rows.find((r) => r.proto === 'tcp4' && r.fport !== 0)!;
  assert.equal(conn.state, 'ESTABLISHED');
  assert.deepEqual(conn.owner, { pid: 321, command: 'inetd', uid: 0, fd: 5 }, 'an accepted connection is its listener holder\'s next fd');
  assert.deepEqual(rows.find((r) => r.proto === 'udp4')!.owner, { pid: 321, command: 'inetd', uid: 0, fd: 4 });

  const r = await run(env, env.b, sockstat, ['sockstat', '-4', '-l']);
  assert.equal(r.status, 0);
  const lines = r.stdout.split('\n');
  assert.match(lines[1]!, /^root {5}inetd {6}321 {3}3  tcp4   \*:7 {19}\*:\*$/);
  assert.match(lines[2]!, /^root {5}inetd {6}321 {3}4  udp4   \*:7 {19}\*:\*$/);
  assert.equal(lines.length, 4, r.stdout);

  // The client's socket was made without an owner: FreeBSD's ? row.
  const ra = await run(env, env.a, sockstat, ['sockstat', '-c', '-n']);
  assert.match(ra.stdout, /^\? {8}\? {10}\? {5}\? {2}tcp4 {3}10\.1\.0\.2:\d+ +10\.2\.0\.2:7$/m);

  const j = await run(env, env.b, sockstat, ['sockstat', '-4c'], { json: true });
  const doc = JSON.parse(j.stdout) as { sockets: SockstatEntry[] };
  assert.deepEqual(doc.sockets.map((s) => [s.command, s.pid, s.fd, s.proto, s.local]), [['inetd', 321, 5, 'tcp4', '10.2.0.2:7']]);

  // Closed by its holder, a connection in TIME_WAIT or FIN_WAIT belongs to nobody.
  accepted.close();
  await settle(env, 10);
  const after = srv.sockets.owned().find((r) => r.proto === 'tcp4' && r.fport !== 0);
  if (after !== undefined) assert.equal(after.owner, undefined);
  l.close();
  u.close();
  client.destroy();
  assert.deepEqual(selectRows([], parseSockstat(['sockstat']) as SockstatPlan, names), []);
  // Newest process first, each one's sockets by fd; then the ones nobody holds.
  const mk = (pid: number | null, fd: number, lport: number) => ({ proto: 'tcp4' as const, laddr: 0, lport, faddr: 0, fport: 0, state: 'LISTEN', ...(pid === null ? {} : { owner: { pid, command: 'c', uid: 0, fd } }) });
  const order = selectRows([mk(null, 0, 1), mk(100, 4, 2), mk(200, 3, 3), mk(100, 3, 4)], parseSockstat(['sockstat']) as SockstatPlan, names);
  assert.deepEqual(order.map((e) => e.local), ['*:3', '*:4', '*:2', '*:1']);
});

test('sockstat: an AF_INET6 socket is listed as udp6/udp46 with its IPv6 address, and -4 leaves a v6-only one out', () => {
  const env = routerTopology();
  const owner: SocketOwner = { pid: 77, command: 'v6srv', uid: 0, nextFd: 3 };
  const so = commandHandles(env.b, env.reg, owner).image.sockets;
  const u6 = so.udp({ family: 6, v6only: true });
  u6.bind(5353, '::1');
  const u46 = so.udp({ family: 6, v6only: false });
  u46.bind(5354);
  try {
    const rows = commandHandles(env.b, env.reg).image.sockets.owned();
    const all = selectRows(rows, parseSockstat(['sockstat']) as SockstatPlan, names);
    const byPort = (p: string): SockstatEntry | undefined => all.find((e) => e.local.endsWith(p));
    assert.deepEqual([byPort(':5353')?.proto, byPort(':5353')?.local], ['udp6', '::1:5353']);
    assert.deepEqual([byPort(':5354')?.proto, byPort(':5354')?.local], ['udp46', '*:5354']);
    const only4 = selectRows(rows, parseSockstat(['sockstat', '-4']) as SockstatPlan, names);
    assert.equal(only4.find((e) => e.local.endsWith(':5353')), undefined, 'a v6-only socket is not an IPv4 one');
    assert.ok(only4.find((e) => e.local.endsWith(':5354')) !== undefined, 'a dual-stack socket takes IPv4 too');
    const only6 = selectRows(rows, parseSockstat(['sockstat', '-6']) as SockstatPlan, names);
    assert.equal(only6.length, 2);
  } finally {
    u6.close();
    u46.close();
  }
});
