import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../lib/image.js';
import { twoImages, type TestNet } from '../../lib/testing/testnet.js';
import { in6LinkLocalFromMac, in6SolicitedNode, ip6ToString, parseIp6 } from '../../lib/wire/ipv6.js';
import type { Command } from '../command.js';
import { allCommands } from './index.js';
import { runOnce } from './tools_harness.js';

const cmds = allCommands();

function run(n: TestNet, im: Image, argv: string[], json = false): Promise<{ status: number; out: string; err: string }> {
  return runOnce(n.reg, im, cmds.get(argv[0]!) as Command, argv, json);
}

test('ifmcstat lists each interface\'s MLD state and groups as FreeBSD prints them; the MLD sysctls are there', async () => {
  const n = twoImages();
  const ea = [...n.a.ifnets.values()].find((i) => !i.loopback)!;
  await run(n, n.a, ['ifconfig', ea.name, 'inet6', '2001:db8::1/64']);
  await n.run(3000, 100);
  const ll = in6LinkLocalFromMac(ea.mac);
  const sn = (a: Uint8Array): string => {
    const g = new Uint8Array(16);
    in6SolicitedNode(g, 0, a, 0);
    return ip6ToString(g);
  };
  const mac = (g: string): string => {
    const b = parseIp6(g)!;
    return ['33', '33', ...[...b.subarray(12)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
  };
  const r = await run(n, n.a, ['ifmcstat', '-i', ea.name]);
  assert.equal(r.status, 0, r.err);
  assert.equal(
    r.out,
    `${ea.name}:\n\tinet6 ${ip6ToString(ll)}%${ea.name}\n\tmldv2 flags=2<USEALLOW> rv 2 qi 125 qri 10 uri 3\n` +
      `\t\tgroup ff02::1%${ea.name} mode exclude\n\t\t\tmcast-macaddr 33:33:00:00:00:01\n` +
      `\t\tgroup ${sn(ll)}%${ea.name} mode exclude\n\t\t\tmcast-macaddr ${mac(sn(ll))}\n` +
      `\t\tgroup ${sn(parseIp6('2001:db8::1')!)}%${ea.name} mode exclude\n\t\t\tmcast-macaddr ${mac(sn(parseIp6('2001:db8::1')!))}\n`,
  );
  const j = await run(n, n.a, ['ifmcstat'], true);
  const doc = JSON.parse(j.out) as { interfaces: Array<{ interface: string; groups: unknown[] }> };
  assert.deepEqual(
    doc.interfaces.map((i) => [i.interface, i.groups.length]),
    [[ea.name, 3]],
  );
  assert.equal((await run(n, n.a, ['ifmcstat', '-f', 'inet'])).out, '');
  assert.equal((await run(n, n.a, ['ifmcstat', '-i', 'nope0'])).status, 1);
  const s = await run(n, n.a, ['sysctl', 'net.inet6.mld']);
  assert.equal(s.out, 'net.inet6.mld.gsrdelay: 10\nnet.inet6.mld.use_allow: 1\nnet.inet6.mld.v1enable: 1\nnet.inet6.mld.v2enable: 1\n');
});
