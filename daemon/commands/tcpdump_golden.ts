/** Golden frames for the tcpdump decoder tests: built by hand, decoded by Linux's tcpdump 4.99.3 (`tcpdump -t -r FILE FLAGS`). Test data only. */
export const FRAMES: ReadonlyArray<readonly [string, string]> = [
 [
  "arp request",
  "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002"
 ],
 [
  "arp request padded",
  "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002000000000000000000000000000000000000"
 ],
 [
  "arp reply",
  "020000000001020000000002080600010800060400020200000000020a0000020200000000010a000001"
 ],
 [
  "echo request",
  "02000000000202000000000108004500005400644000400126430a0000010a0000020800eeb712340001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
 ],
 [
  "echo reply",
  "02000000000102000000000208004500005400c80000400165df0a0000020a0000010000f6b712340001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"
 ],
 [
  "udp",
  "02000000000202000000000108004500002100074000401126c30a0000010a00000213881770000d7d0768656c6c6f"
 ],
 [
  "syn",
  "02000000000202000000000108004500003c00004000400626ba0a0000010a0000029c400050000f424000000000a002faf056450000020405b40402080a000003e80000000001030307"
 ],
 [
  "syn-ack",
  "02000000000102000000000208004500003c00004000400626ba0a0000020a00000100509c40b2d05e00000f4241a012fe8841cb0000020405b40402080a000003e80000000001030307"
 ],
 [
  "ack",
  "02000000000202000000000108004500003400014000400626c10a0000010a0000029c400050000f4241b2d05e01801001f6655900000101080a000003e9000007d0"
 ],
 [
  "http get",
  "02000000000202000000000108004500004f00024000400626a50a0000010a0000029c400050000f4241b2d05e01801801f6118000000101080a000003ea000007d0474554202f20485454502f312e310d0a486f73743a20780d0a0d0a"
 ],
 [
  "http resp",
  "02000000000102000000000208004500005a00034000400626990a0000020a00000100509c40b2d05e01000f425c801801fdb60800000101080a000007d1000003ea485454502f312e3120323030204f4b0d0a436f6e74656e742d4c656e6774683a20300d0a0d0a"
 ],
 [
  "sack",
  "02000000000202000000000108004500003400044000400626be0a0000010a0000029c400050000f425cb2d05e01801001f6512900000101050ab2d05e64b2d05ec8"
 ],
 [
  "fin",
  "02000000000202000000000108004500003400054000400626bd0a0000010a0000029c400050000f425cb2d05e27801101f6651400000101080a000003eb000007d1"
 ],
 [
  "rst bad cksum",
  "02000000000202000000000108004500002800064000400626c80a0000010a0000029c410016000000050000000050040000fe800000"
 ],
 [
  "port unreach",
  "02000000000102000000000208004500003800090000400166ba0a0000020a0000010303891a000000004500001d00014000401126cd0a0000010a00000213881771000948e0"
 ],
 [
  "bad ip cksum",
  "02000000000202000000000108004502001c000a4000401134f70a0000010a000002000100020008ebd8"
 ],
 [
  "ttl exceeded",
  "020000000001020000000002080045000038000b0000400166b80a0000020a0000010b00122c000000004500001c0001400040111dbe0a0000010a090909829a829b0008dd95"
 ],
 [
  "unknown ethertype",
  "0180c200000e02000000000188b5000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
 ],
 [
  "ipv6",
  "33330000000202000000000186dd6000000000083aff00000000000000000000000000000000000000000000000000000000000000008500000000000000"
 ]
];
export const EXPECTED: Readonly<Record<string, string>> = {
 "-n": "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28\nARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46\nARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28\nIP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 4660, seq 1, length 64\nIP 10.0.0.2 > 10.0.0.1: ICMP echo reply, id 4660, seq 1, length 64\nIP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 5\nIP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000000, win 64240, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 3000000000, ack 1000001, win 65160, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [nop,nop,TS val 1001 ecr 2000], length 0\nIP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:28, ack 1, win 502, options [nop,nop,TS val 1002 ecr 2000], length 27: HTTP: GET / HTTP/1.1\nIP 10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], seq 1:39, ack 28, win 509, options [nop,nop,TS val 2001 ecr 1002], length 38: HTTP: HTTP/1.1 200 OK\nIP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [nop,nop,sack 1 {100:200}], length 0\nIP 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 28, ack 39, win 502, options [nop,nop,TS val 1003 ecr 2001], length 0\nIP 10.0.0.1.40001 > 10.0.0.2.22: Flags [R], seq 5, win 0, length 0\nIP 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 6001 unreachable, length 36\nIP 10.0.0.1.1 > 10.0.0.2.2: UDP, length 0\nIP 10.0.0.2 > 10.0.0.1: ICMP time exceeded in-transit, length 36\n02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype Unknown (0x88b5), length 44: \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213 1415 1617 1819 1a1b 1c1d       ..............\nIP6 :: > ::: ICMP6, router solicitation, length 8\n",
 "-n -v": "ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell 10.0.0.1, length 28\nARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell 10.0.0.1, length 46\nARP, Ethernet (len 6), IPv4 (len 4), Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28\nIP (tos 0x0, ttl 64, id 100, offset 0, flags [DF], proto ICMP (1), length 84)\n    10.0.0.1 > 10.0.0.2: ICMP echo request, id 4660, seq 1, length 64\nIP (tos 0x0, ttl 64, id 200, offset 0, flags [none], proto ICMP (1), length 84)\n    10.0.0.2 > 10.0.0.1: ICMP echo reply, id 4660, seq 1, length 64\nIP (tos 0x0, ttl 64, id 7, offset 0, flags [DF], proto UDP (17), length 33)\n    10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 5\nIP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [S], cksum 0x5645 (correct), seq 1000000, win 64240, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60)\n    10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], cksum 0x41cb (correct), seq 3000000000, ack 1000001, win 65160, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [.], cksum 0x6559 (correct), ack 1, win 502, options [nop,nop,TS val 1001 ecr 2000], length 0\nIP (tos 0x0, ttl 64, id 2, offset 0, flags [DF], proto TCP (6), length 79)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], cksum 0x1180 (correct), seq 1:28, ack 1, win 502, options [nop,nop,TS val 1002 ecr 2000], length 27: HTTP, length: 27\n\tGET / HTTP/1.1\n\tHost: x\n\t\nIP (tos 0x0, ttl 64, id 3, offset 0, flags [DF], proto TCP (6), length 90)\n    10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], cksum 0xb608 (correct), seq 1:39, ack 28, win 509, options [nop,nop,TS val 2001 ecr 1002], length 38: HTTP, length: 38\n\tHTTP/1.1 200 OK\n\tContent-Length: 0\n\t\nIP (tos 0x0, ttl 64, id 4, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [.], cksum 0x5129 (correct), ack 1, win 502, options [nop,nop,sack 1 {100:200}], length 0\nIP (tos 0x0, ttl 64, id 5, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], cksum 0x6514 (correct), seq 28, ack 39, win 502, options [nop,nop,TS val 1003 ecr 2001], length 0\nIP (tos 0x0, ttl 64, id 6, offset 0, flags [DF], proto TCP (6), length 40)\n    10.0.0.1.40001 > 10.0.0.2.22: Flags [R], cksum 0xfe80 (incorrect -> 0xff81), seq 5, win 0, length 0\nIP (tos 0x0, ttl 64, id 9, offset 0, flags [none], proto ICMP (1), length 56)\n    10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 6001 unreachable, length 36\n\tIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 29)\n    10.0.0.1.5000 > 10.0.0.2.6001: UDP, length 1\nIP (tos 0x2,ECT(0), ttl 64, id 10, offset 0, flags [DF], proto UDP (17), length 28, bad cksum 34f7 (->26c3)!)\n    10.0.0.1.1 > 10.0.0.2.2: UDP, length 0\nIP (tos 0x0, ttl 64, id 11, offset 0, flags [none], proto ICMP (1), length 56)\n    10.0.0.2 > 10.0.0.1: ICMP time exceeded in-transit, length 36\n\tIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 28)\n    10.0.0.1.33434 > 10.9.9.9.33435: UDP, length 0\n02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype Unknown (0x88b5), length 44: \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213 1415 1617 1819 1a1b 1c1d       ..............\nIP6 (hlim 255, next-header ICMPv6 (58) payload length: 8) :: > ::: [bad icmp6 cksum 0x0000 -> 0x7abd!] ICMP6, router solicitation, length 8\n",
 "-n -e": "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60: Request who-has 10.0.0.2 tell 10.0.0.1, length 46\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype ARP (0x0806), length 42: Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 98: 10.0.0.1 > 10.0.0.2: ICMP echo request, id 4660, seq 1, length 64\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 98: 10.0.0.2 > 10.0.0.1: ICMP echo reply, id 4660, seq 1, length 64\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 47: 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 5\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74: 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000000, win 64240, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 74: 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 3000000000, ack 1000001, win 65160, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 66: 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [nop,nop,TS val 1001 ecr 2000], length 0\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 93: 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:28, ack 1, win 502, options [nop,nop,TS val 1002 ecr 2000], length 27: HTTP: GET / HTTP/1.1\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 104: 10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], seq 1:39, ack 28, win 509, options [nop,nop,TS val 2001 ecr 1002], length 38: HTTP: HTTP/1.1 200 OK\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 66: 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [nop,nop,sack 1 {100:200}], length 0\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 66: 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 28, ack 39, win 502, options [nop,nop,TS val 1003 ecr 2001], length 0\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 54: 10.0.0.1.40001 > 10.0.0.2.22: Flags [R], seq 5, win 0, length 0\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 70: 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 6001 unreachable, length 36\n02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 42: 10.0.0.1.1 > 10.0.0.2.2: UDP, length 0\n02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 70: 10.0.0.2 > 10.0.0.1: ICMP time exceeded in-transit, length 36\n02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype Unknown (0x88b5), length 44: \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213 1415 1617 1819 1a1b 1c1d       ..............\n02:00:00:00:00:01 > 33:33:00:00:00:02, ethertype IPv6 (0x86dd), length 62: :: > ::: ICMP6, router solicitation, length 8\n",
 "-n -vv": "ARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell 10.0.0.1, length 28\nARP, Ethernet (len 6), IPv4 (len 4), Request who-has 10.0.0.2 tell 10.0.0.1, length 46\nARP, Ethernet (len 6), IPv4 (len 4), Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28\nIP (tos 0x0, ttl 64, id 100, offset 0, flags [DF], proto ICMP (1), length 84)\n    10.0.0.1 > 10.0.0.2: ICMP echo request, id 4660, seq 1, length 64\nIP (tos 0x0, ttl 64, id 200, offset 0, flags [none], proto ICMP (1), length 84)\n    10.0.0.2 > 10.0.0.1: ICMP echo reply, id 4660, seq 1, length 64\nIP (tos 0x0, ttl 64, id 7, offset 0, flags [DF], proto UDP (17), length 33)\n    10.0.0.1.5000 > 10.0.0.2.6000: [udp sum ok] UDP, length 5\nIP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [S], cksum 0x5645 (correct), seq 1000000, win 64240, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto TCP (6), length 60)\n    10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], cksum 0x41cb (correct), seq 3000000000, ack 1000001, win 65160, options [mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7], length 0\nIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [.], cksum 0x6559 (correct), seq 1, ack 1, win 502, options [nop,nop,TS val 1001 ecr 2000], length 0\nIP (tos 0x0, ttl 64, id 2, offset 0, flags [DF], proto TCP (6), length 79)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], cksum 0x1180 (correct), seq 1:28, ack 1, win 502, options [nop,nop,TS val 1002 ecr 2000], length 27: HTTP, length: 27\n\tGET / HTTP/1.1\n\tHost: x\n\t\nIP (tos 0x0, ttl 64, id 3, offset 0, flags [DF], proto TCP (6), length 90)\n    10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], cksum 0xb608 (correct), seq 1:39, ack 28, win 509, options [nop,nop,TS val 2001 ecr 1002], length 38: HTTP, length: 38\n\tHTTP/1.1 200 OK\n\tContent-Length: 0\n\t\nIP (tos 0x0, ttl 64, id 4, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [.], cksum 0x5129 (correct), seq 28, ack 1, win 502, options [nop,nop,sack 1 {100:200}], length 0\nIP (tos 0x0, ttl 64, id 5, offset 0, flags [DF], proto TCP (6), length 52)\n    10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], cksum 0x6514 (correct), seq 28, ack 39, win 502, options [nop,nop,TS val 1003 ecr 2001], length 0\nIP (tos 0x0, ttl 64, id 6, offset 0, flags [DF], proto TCP (6), length 40)\n    10.0.0.1.40001 > 10.0.0.2.22: Flags [R], cksum 0xfe80 (incorrect -> 0xff81), seq 5, win 0, length 0\nIP (tos 0x0, ttl 64, id 9, offset 0, flags [none], proto ICMP (1), length 56)\n    10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 6001 unreachable, length 36\n\tIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 29)\n    10.0.0.1.5000 > 10.0.0.2.6001: UDP, length 1\nIP (tos 0x2,ECT(0), ttl 64, id 10, offset 0, flags [DF], proto UDP (17), length 28, bad cksum 34f7 (->26c3)!)\n    10.0.0.1.1 > 10.0.0.2.2: [udp sum ok] UDP, length 0\nIP (tos 0x0, ttl 64, id 11, offset 0, flags [none], proto ICMP (1), length 56)\n    10.0.0.2 > 10.0.0.1: ICMP time exceeded in-transit, length 36\n\tIP (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 28)\n    10.0.0.1.33434 > 10.9.9.9.33435: [udp sum ok] UDP, length 0\n02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype Unknown (0x88b5), length 44: \n\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n\t0x0010:  1011 1213 1415 1617 1819 1a1b 1c1d       ..............\nIP6 (hlim 255, next-header ICMPv6 (58) payload length: 8) :: > ::: [bad icmp6 cksum 0x0000 -> 0x7abd!] ICMP6, router solicitation, length 8\n"
};
/** The HTTP GET, SYN and echo request cut to 40 bytes (-s 40), printed with -n. */
export const TRUNCATED = "IP 10.0.0.1.40000 > 10.0.0.2.80:  [|tcp]\nIP 10.0.0.1.40000 > 10.0.0.2.80:  [|tcp]\nIP 10.0.0.1 > 10.0.0.2:  [|icmp]\n";
export const FRAMES6: ReadonlyArray<readonly [string, string]> = [
 [
  "rs",
  "33330000000202000000000186dd6000000000083afffe800000000000000000000000000001ff02000000000000000000000000000285007d3600000000"
 ],
 [
  "ns",
  "3333ff00000202000000000186dd6000000000203afffd000001000000000000000000000001ff0200000000000000000001ff00000287007d9500000000fd0000010000000000000000000000020101020000000001"
 ],
 [
  "na",
  "02000000000102000000000286dd6000000000203afffd000001000000000000000000000002fd00000100000000000000000000000188001c9760000000fd0000010000000000000000000000020201020000000002"
 ],
 [
  "echo6",
  "02000000000202000000000186dd6000000000403a40fd000001000000000000000000000001fd00000100000000000000000000000280008574000700030000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
 ],
 [
  "mld",
  "33330000001602000000000186dd6000000000240001fe800000000000000000000000000001ff0200000000000000000000000000163a000502000001008f0071070000000104000000ff0200000000000000000001ff000001"
 ],
 [
  "tcp6",
  "02000000000202000000000186dd6000000000180640fd000001000000000000000000000001fd000001000000000000000000000002c350001600000007000000006002fd20dda50000020405a0"
 ],
 [
  "udp6",
  "02000000000202000000000186dd60000000000b1140fd000001000000000000000000000001fd00000100000000000000000000000213881770000b1677616263"
 ],
 [
  "unreach6",
  "02000000000102000000000286dd6000000000383a40fd000001000000000000000000000002fd00000100000000000000000000000101049353000000006000000000081140fd000001000000000000000000000001fd00000100000000000000000000000203e807d00008fa1f"
 ]
];
export const EXPECTED6 = "IP6 fe80::1 > ff02::2: ICMP6, router solicitation, length 8\nIP6 fd00:1::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fd00:1::2, length 32\nIP6 fd00:1::2 > fd00:1::1: ICMP6, neighbor advertisement, tgt is fd00:1::2, length 32\nIP6 fd00:1::1 > fd00:1::2: ICMP6, echo request, id 7, seq 3, length 64\nIP6 fe80::1 > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28\nIP6 fd00:1::1.50000 > fd00:1::2.22: Flags [S], seq 7, win 64800, options [mss 1440], length 0\nIP6 fd00:1::1.5000 > fd00:1::2.6000: UDP, length 3\nIP6 fd00:1::2 > fd00:1::1: ICMP6, destination unreachable, unreachable port, fd00:1::2 udp port 2000, length 56\n";
