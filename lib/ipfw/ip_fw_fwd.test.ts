import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rules, send, testbed } from '../testing/testbed.js';

test("fwd on input ships a packet addressed to the image itself on to ADDR (FreeBSD's ip_input: \"forwarding packets originally destined to us\"), refuses broadcasts as ip_forward does", () => {
  const bed = testbed();
  bed.r.sysctl.set('net.inet.ip.fw.enable', '1');
  rules(bed.r, '100 fwd 10.2.0.2 udp from any to any 53 in', '1000 allow ip from any to any');
  const b0 = bed.b.ipstat.cantforward;
  const r0 = bed.r.udpstat?.noport ?? 0;
  send(bed.reg, bed.a, { proto: 17, dst: '10.1.0.1', dport: 53 });
  assert.equal(bed.b.ipstat.cantforward, b0 + 1, 'B (not a router) got the packet for R');
  assert.equal(bed.r.udpstat?.noport ?? 0, r0, 'R did not take it itself');
  // A broadcast is not forwardable: dropped and counted, never sent on to B.
  const rc = bed.r.ipstat.cantforward;
  const bt = bed.b.ipstat.total;
  send(bed.reg, bed.a, { proto: 17, dst: '10.1.0.255', dport: 53 });
  assert.equal(bed.r.ipstat.cantforward, rc + 1);
  assert.equal(bed.b.ipstat.total, bt);
});
