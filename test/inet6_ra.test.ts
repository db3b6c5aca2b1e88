/**
 * Router advertisements with Linux on the other side, both ways.
 *
 * rtadvd in image R: a Linux host in a namespace behind R takes a SLAAC
 * address in R's prefix and a default route via R's link-local address,
 * and pings a second Linux host on another IPv6 subnet through R; killing
 * rtadvd, or destroying R, withdraws the router (final advertisement,
 * router lifetime 0).
 *
 *   Linux v6rA (SLAAC 2001:db8:61::/64) --tap-- R --tap-- Linux v6rB (2001:db8:62::2)
 *
 * radvd on a Linux router: image H with accept_rtadv takes a SLAAC address
 * and a default route from it, pings a host behind the Linux router, and
 * traceroute6 shows the router.
 *
 *   image H (SLAAC 2001:db8:63::/64) --tap-- Linux v6rC (radvd, forwarding) --veth-- Linux v6rD (2001:db8:64::2)
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, background, labUnavailable, sh, until } from './lab.js';

const P = 'v6r'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();
/** Wait until `fn` holds, for at most `ms` of wall time (each try may take a while: it runs the CLI). */
async function waitFor(what: string, fn: () => Promise<boolean>, ms: number, diag: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}\n${diag()}`);
}

const radvdMissing = sh('sh', ['-c', 'command -v radvd'], { allowFail: true }).code !== 0;

describe('inet6 router advertisements: rtadvd in an image, radvd for an image', { skip }, () => {
  const lab = new Lab(P);
  let nsA = '';
  let nsB = '';
  let tap0 = '';
  let tap1 = '';
  let radvd: ReturnType<typeof background> | null = null;

  before(async () => {
    await lab.start();
    nsA = lab.netns('A');
    nsB = lab.netns('B');
    await lab.ok(['-c', 'R']);
    tap0 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    tap1 = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    // Linux A autoconfigures from advertisements (accept_ra=2: even were it forwarding).
    sh('ip', ['link', 'set', `${P}a0`, 'netns', nsA]);
    lab.inNs(nsA, ['sysctl', '-qw', `net.ipv6.conf.${P}a0.accept_ra=2`, `net.ipv6.conf.${P}a0.autoconf=1`]);
    // Linux B has a fixed address and takes its default route from R's advertisements too.
    sh('ip', ['link', 'set', `${P}b0`, 'netns', nsB]);
    lab.inNs(nsB, ['sysctl', '-qw', `net.ipv6.conf.${P}b0.accept_ra=2`, `net.ipv6.conf.${P}b0.autoconf=0`]);
    sh('ip', ['-n', nsB, 'addr', 'add', '2001:db8:62::2/64', 'dev', `${P}b0`, 'nodad']);
    sh('ip', ['-n', nsA, 'link', 'set', `${P}a0`, 'up']);
    sh('ip', ['-n', nsB, 'link', 'set', `${P}b0`, 'up']);
    await lab.ok(['R', 'ifconfig', tap0, 'inet6', '2001:db8:61::1/64', 'up']);
    await lab.ok(['R', 'ifconfig', tap1, 'inet6', '2001:db8:62::1/64', 'up']);
  });
  after(async () => {
    await radvd?.stop();
    await lab.close();
  });

  test('rtadvd refuses while net.inet6.ip6.forwarding is 0, as FreeBSD\'s does', async () => {
    const r = await lab.vimage(['R', 'rtadvd', tap0]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`non zero router lifetime is specified for ${tap0}, which must not be allowed for hosts`));
  });

  test('a Linux host takes a SLAAC address in R\'s prefix and a default route via R\'s link-local address, and pings a host on R\'s other subnet', async () => {
    await lab.ok(['R', 'sysctl', 'net.inet6.ip6.forwarding=1']);
    const bg = await lab.ok(['-b', 'R', 'rtadvd', tap0, tap1]);
    const pid = /^\[(\d+)\]$/m.exec(bg)?.[1];
    assert.ok(pid !== undefined, bg);
    const rll = (JSON.parse(await lab.ok(['--json', 'R', 'ifconfig', tap0])) as { interfaces: Array<{ inet6: Array<{ address: string }> }> }).interfaces[0]!.inet6
      .find((a) => a.address.startsWith('fe80:'))!
      .address.split('%')[0]!;
    let addr = '';
    await until(
      'Linux A has a SLAAC address in 2001:db8:61::/64',
      () => {
        const m = /inet6 (2001:db8:61:0:[0-9a-f:]+)\/64 scope global (?:dynamic )?mngtmpaddr/.exec(sh('ip', ['-n', nsA, '-6', 'addr', 'show', 'dev', `${P}a0`]).stdout);
        if (m !== null) addr = m[1]!;
        return addr !== '' && !sh('ip', ['-n', nsA, '-6', 'addr', 'show', 'dev', `${P}a0`, 'tentative']).stdout.includes(addr);
      },
      20_000,
    );
    await until('Linux A and B have a default route via R', () => sh('ip', ['-n', nsA, '-6', 'route', 'show', 'default']).stdout.includes(`via ${rll} dev ${P}a0 proto ra`) && /default via fe80::\S+ dev v6rb0 proto ra/.test(sh('ip', ['-n', nsB, '-6', 'route', 'show', 'default']).stdout), 20_000);
    const route = sh('ip', ['-n', nsA, '-6', 'route', 'show']).stdout;
    assert.match(route, /2001:db8:61::\/64 dev v6ra0 proto (kernel|ra) metric \d+ expires \d+sec/, 'the on-link prefix, expiring');
    const r = lab.inNs(nsA, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '2001:db8:62::2']);
    assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    assert.match(r.stdout, /ttl=63/, 'one hop through R');
    // R's own view: the counters saw router advertisements go out and solicitations come in.
    const st = JSON.parse(await lab.ok(['--json', 'R', 'netstat', '-s', '-p', 'icmp6'])) as unknown;
    assert.match(JSON.stringify(st), /router advertisement/);
    // Killing rtadvd sends a final advertisement with router lifetime 0: Linux drops the default route.
    assert.equal((await lab.vimage(['R', 'kill', pid])).code, 0);
    await until('Linux A dropped the default route via R', () => !sh('ip', ['-n', nsA, '-6', 'route', 'show', 'default']).stdout.includes(rll), 10_000);
    // The same when the image is destroyed with rtadvd running in it.
    await lab.ok(['-b', 'R', 'rtadvd', tap0]);
    await until('Linux A has the default route via R again', () => sh('ip', ['-n', nsA, '-6', 'route', 'show', 'default']).stdout.includes(rll), 10_000);
    await lab.ok(['-d', 'R']);
    await until('Linux A dropped the default route when R was destroyed', () => !sh('ip', ['-n', nsA, '-6', 'route', 'show', 'default']).stdout.includes(rll), 10_000);
  });

  test('radvd on a Linux router gives an image with accept_rtadv a SLAAC address and a default route, and the image pings through it', { skip: radvdMissing ? 'radvd is not installed (scripts/install-test-tools.sh installs it)' : false }, async () => {
    const nsC = lab.netns('C');
    const nsD = lab.netns('D');
    await lab.ok(['-c', 'H']);
    const tap = (await lab.ok(['H', 'ifconfig', 'tap', 'create', 'hostname', `${P}c0`])).trim();
    sh('ip', ['link', 'set', `${P}c0`, 'netns', nsC]);
    lab.inNs(nsC, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    sh('ip', ['-n', nsC, 'addr', 'add', '2001:db8:63::1/64', 'dev', `${P}c0`, 'nodad']);
    sh('ip', ['-n', nsC, 'link', 'set', `${P}c0`, 'up']);
    sh('ip', ['link', 'add', `${P}d0`, 'netns', nsC, 'type', 'veth', 'peer', 'name', `${P}d1`, 'netns', nsD]);
    sh('ip', ['-n', nsC, 'addr', 'add', '2001:db8:64::1/64', 'dev', `${P}d0`, 'nodad']);
    sh('ip', ['-n', nsD, 'addr', 'add', '2001:db8:64::2/64', 'dev', `${P}d1`, 'nodad']);
    sh('ip', ['-n', nsC, 'link', 'set', `${P}d0`, 'up']);
    sh('ip', ['-n', nsD, 'link', 'set', `${P}d1`, 'up']);
    sh('ip', ['-n', nsD, 'route', 'add', 'default', 'via', '2001:db8:64::1']);
    const conf = path.join(lab.dir, 'radvd.conf');
    writeFileSync(conf, `interface ${P}c0 {\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 10;\n  AdvLinkMTU 1400;\n  prefix 2001:db8:63::/64 {\n    AdvOnLink on;\n    AdvAutonomous on;\n  };\n};\n`);
    await lab.ok(['H', 'ifconfig', tap, 'inet6', 'accept_rtadv', 'up']);
    radvd = background('ip', ['netns', 'exec', nsC, 'radvd', '-n', '-C', conf, '-p', path.join(lab.dir, 'radvd.pid'), '-m', 'stderr']);
    let addr = '';
    let last = '';
    await waitFor(
      'image H autoconfigured an address from radvd',
      async () => {
        last = await lab.ok(['H', 'ifconfig', tap]);
        const m = /\tinet6 (2001:db8:63:[0-9a-f:]+) prefixlen 64 autoconf\n/.exec(last);
        if (m !== null) addr = m[1]!;
        return m !== null;
      },
      20_000,
      () => `${last}\nradvd: ${radvd?.out() ?? ''}\n${lab.daemonLog().slice(-3000)}`,
    );
    const linuxLL = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(sh('ip', ['-n', nsC, '-6', 'addr', 'show', 'dev', `${P}c0`]).stdout)![1]!;
    const routes = await lab.ok(['H', 'netstat', '-rn', '-f', 'inet6']);
    assert.match(routes, new RegExp(`\\ndefault +${linuxLL.replace(/\./g, '\\.')}%${tap} +UG +${tap}\\s*\\n`), routes);
    assert.match(await lab.ok(['H', 'ndp', '-r']), new RegExp(`^${linuxLL}%${tap} if=${tap}, flags=, pref=medium, expire=(\\d+m)?\\d+s\\n$`));
    assert.match(await lab.ok(['H', 'ndp', '-p']), new RegExp(`^2001:db8:63::/64 if=${tap}\\nflags=LAO vltime=86400, pltime=14400, expire=23h59m\\d+s, ref=1\\n  advertised by\\n    ${linuxLL}%${tap} \\((reachable|no neighbor state)\\)\\n`));
    assert.match(await lab.ok(['H', 'ndp', '-i', tap]), /^linkmtu=1400, /);
    const p = await lab.vimage(['H', 'ping6', '-c', '2', '-i', '0.2', '2001:db8:64::2'], { timeoutMs: 20_000 });
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.match(p.stdout, new RegExp(`^PING6\\(56=40\\+8\\+8 bytes\\) ${addr} --> 2001:db8:64::2\\n`));
    assert.match(p.stdout, /16 bytes from 2001:db8:64::2, icmp_seq=0 hlim=63 /);
    // traceroute6 from the image shows the Linux router, then the host behind it.
    const tr = await lab.vimage(['H', 'traceroute6', '-I', '-q', '1', '-w', '2', '2001:db8:64::2'], { timeoutMs: 20_000 });
    assert.equal(tr.code, 0, tr.stderr);
    assert.match(tr.stderr, new RegExp(`^traceroute6 to 2001:db8:64::2 \\(2001:db8:64::2\\) from ${addr}, 64 hops max, 20 byte packets\\n$`));
    assert.match(tr.stdout, /^ 1  (2001:db8:63::1|fe80::[0-9a-f:]+%tap\d+)  \d+\.\d{3} ms\n 2  2001:db8:64::2  \d+\.\d{3} ms\n$/, tr.stdout);
    // The default UDP probes: Linux's time exceeded, then the host's port unreachable ends the trace.
    const tu = await lab.vimage(['H', 'traceroute6', '-q', '1', '-w', '2', '2001:db8:64::2'], { timeoutMs: 20_000 });
    assert.equal(tu.code, 0, tu.stderr);
    assert.match(tu.stderr, new RegExp(`^traceroute6 to 2001:db8:64::2 \\(2001:db8:64::2\\) from ${addr}, 64 hops max, 28 byte packets\\n$`));
    assert.match(tu.stdout, /^ 1  (2001:db8:63::1|fe80::[0-9a-f:]+%tap\d+)  \d+\.\d{3} ms\n 2  2001:db8:64::2  \d+\.\d{3} ms\n$/, tu.stdout);
  });
});
