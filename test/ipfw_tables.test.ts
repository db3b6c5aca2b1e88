/**
 * ipfw lookup tables with Linux hosts on either side of an image: real
 * daemon, real vimage CLI, TAP devices, namespaces, and stock ping.
 *
 *   A (10.74.1.2) --tap-- R --tap-- B (10.74.2.2), B also 10.74.3.2
 *
 * R's chain denies what a table lists; adding and deleting entries changes
 * what ping gets, with no rule change.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailable } from './lab.js';

const P = 'vtb'; // prefix of every namespace and host device this file makes
const skip = labUnavailable();

describe('ipfw tables between Linux hosts', { skip }, () => {
  const lab = new Lab(P);
  let A = '';
  let B = '';

  const ping = (dst: string): boolean => lab.inNs(A, ['ping', '-c', '1', '-W', '1', dst], { allowFail: true }).code === 0;

  before(async () => {
    await lab.start();
    A = lab.netns('A');
    B = lab.netns('B');
    await lab.ok(['-c', 'R']);
    const tA = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}a0`])).trim();
    const tB = (await lab.ok(['R', 'ifconfig', 'tap', 'create', 'hostname', `${P}b0`])).trim();
    lab.wireHost(`${P}a0`, A, '10.74.1.2/24', '10.74.1.1');
    lab.wireHost(`${P}b0`, B, '10.74.2.2/24', '10.74.2.1');
    lab.inNs(B, ['ip', 'addr', 'add', '10.74.3.2/32', 'dev', `${P}b0`]);
    await lab.ok(['R', 'ifconfig', tA, 'inet', '10.74.1.1/24', 'up']);
    await lab.ok(['R', 'ifconfig', tB, 'inet', '10.74.2.1/24', 'up']);
    await lab.ok(['R', 'route', 'add', '-host', '10.74.3.2', '10.74.2.2']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.forwarding=1']);
    lab.inNs(A, ['ping', '-c', '1', '-W', '2', '10.74.2.2']);
  });
  after(async () => {
    await lab.close();
  });

  test('a chain denying table(blocked): entries added and deleted change what ping gets', async () => {
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'create', 'type', 'addr']), '');
    await lab.ok(['R', 'ipfw', '-q', 'add', '100', 'deny', 'ip', 'from', 'any', 'to', 'table(blocked)']);
    await lab.ok(['R', 'ipfw', '-q', 'add', '200', 'allow', 'ip', 'from', 'any', 'to', 'any']);
    await lab.ok(['R', 'sysctl', 'net.inet.ip.fw.enable=1']);
    assert.equal(ping('10.74.2.2'), true);
    assert.equal(ping('10.74.3.2'), true);
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'add', '10.74.3.0/24']), 'added: 10.74.3.0/24 0\n');
    assert.equal(ping('10.74.3.2'), false);
    assert.equal(ping('10.74.2.2'), true);
    // A longer prefix inside another: deleting the /24 leaves the /32 denying.
    await lab.ok(['R', 'ipfw', '-q', 'table', 'blocked', 'add', '10.74.2.2/32', '7']);
    assert.equal(ping('10.74.2.2'), false);
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'list']), '--- table(blocked), set(0) ---\n10.74.2.2/32 7\n10.74.3.0/24 0\n');
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'delete', '10.74.3.0/24']), 'deleted: 10.74.3.0/24 0\n');
    assert.equal(ping('10.74.3.2'), true);
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'lookup', '10.74.2.2']), '10.74.2.2/32 7\n');
    assert.match(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'info']), /references: 1, valtype: legacy\n algorithm: addr:radix\n items: 1,/);
    assert.equal(await lab.ok(['R', 'ipfw', 'table', 'blocked', 'flush']), '');
    assert.equal(ping('10.74.2.2'), true);
    const show = await lab.ok(['R', 'ipfw', 'show', '100']);
    assert.match(show, /^00100 +\d+ +\d+ deny ip from any to table\(blocked\)\n$/);
  });
});
