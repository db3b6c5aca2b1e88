import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketPrinter } from './tcpdump_print.js';

// 802.1Q, 802.1Q with PCP/DEI carrying ARP, QinQ, a cut tag, an unknown type behind a tag, a cut inner tag.
const FRAMES = [
  "0200000000020200000000018100000a08004500005400644000400112430a000a010a000a020800e5ca123400010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
  "ffffffffffff0200000000018100b014080600010800060400010200000000010a000a010000000000000a000a02",
  "02000000000202000000000188a800648100000a08004500005400644000400112430a000a010a000a020800e5ca123400010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
  "020000000002020000000001810000",
  "0200000000020200000000018100001e88b5000102030405060708090a0b0c0d0e0f10111213",
  "02000000000202000000000188a800648100000a"
];

// tcpdump 4.99.3 -t -r of the same frames (Debian's; FreeBSD 14's 4.99 prints the same).
const EXPECTED: Record<string, string> = {
  "-n": "IP 10.0.10.1 > 10.0.10.2: ICMP echo request, id 4660, seq 1, length 64\nARP, Request who-has 10.0.10.2 tell 10.0.10.1, length 28\nIP 10.0.10.1 > 10.0.10.2: ICMP echo request, id 4660, seq 1, length 64\n [|vlan]\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype Unknown (0x88b5), length 38: \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213                                ....\n [|vlan]\n",
  "-n -e": "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 102: vlan 10, p 0, ethertype IPv4 (0x0800), 10.0.10.1 > 10.0.10.2: ICMP echo request, id 4660, seq 1, length 64\n02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 46: vlan 20, p 5, DEI, ethertype ARP (0x0806), Request who-has 10.0.10.2 tell 10.0.10.1, length 28\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), length 106: vlan 100, p 0, ethertype 802.1Q (0x8100), vlan 10, p 0, ethertype IPv4 (0x0800), 10.0.10.1 > 10.0.10.2: ICMP echo request, id 4660, seq 1, length 64\n02:00:00:00:00:01 > 02:00:00:00:00:02,  [|vlan]\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 38: vlan 30, p 0, ethertype Unknown (0x88b5), \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213                                ....\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), length 20: vlan 100, p 0,  [|vlan]\n"
};

for (const [flags, link] of [['-n', false], ['-n -e', true]] as const) {
  test(`802.1Q and QinQ frames decode through their tags as tcpdump ${flags} prints them`, () => {
    const p = new PacketPrinter({ verbose: 0, link });
    const got = FRAMES.map((h) => {
      const f = Uint8Array.from(Buffer.from(h, 'hex'));
      return p.ether(f, f.length) + '\n';
    }).join('');
    assert.equal(got, EXPECTED[flags]);
  });
}
