#!/usr/bin/python3
"""Send malformed and hostile frames out of IFACE toward TARGET (through
GATEWAY_MAC), as a hostile host on a vimage TAP would: bad versions,
header lengths and checksums, truncations, option bombs, overlapping and
endless fragments, ARP storms, TCP with odd flag combinations, oversized
lengths. Seeded and repeatable. Prints the number of frames sent."""
import random
import sys

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, conf, fragment, sendp  # type: ignore

iface, target, gw_mac, src = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 3000
rnd = random.Random(20261125)
conf.verb = 0
eth = Ether(dst=gw_mac)
frames = []
for i in range(count):
    k = i % 12
    if k == 0:
        p = eth / IP(src=src, dst=target, version=rnd.choice([0, 5, 6, 15])) / ICMP()
    elif k == 1:
        p = eth / IP(src=src, dst=target, ihl=rnd.choice([0, 1, 4, 15])) / ICMP()
    elif k == 2:
        p = eth / IP(src=src, dst=target, chksum=rnd.randrange(65536)) / ICMP()
    elif k == 3:
        p = eth / IP(src=src, dst=target, len=rnd.choice([0, 19, 65535])) / ICMP() / Raw(b"x" * 40)
    elif k == 4:
        raw = bytes(eth / IP(src=src, dst=target) / UDP(dport=rnd.randrange(65536)) / Raw(b"y" * 60))
        p = Ether(raw[: rnd.randrange(14, len(raw))])
    elif k == 5:  # option bomb: 40 bytes of options, garbage or endless NOPs
        opts = bytes(rnd.randrange(256) for _ in range(40)) if rnd.random() < 0.5 else b"\x01" * 40
        p = eth / IP(src=src, dst=target, options=[]) / ICMP()
        b = bytearray(bytes(p))
        b = b[:14] + bytes([0x4F]) + b[15:34] + opts + b[34:]
        b[16:18] = (len(b) - 14).to_bytes(2, "big")
        p = Ether(bytes(b))
    elif k == 6:  # fragments that never complete, and overlapping ones
        ident = rnd.randrange(65536)
        p = eth / IP(src=src, dst=target, id=ident, flags="MF", frag=rnd.randrange(1, 8000)) / Raw(b"z" * 64)
    elif k == 7:
        ident = rnd.randrange(65536)
        frames.append(eth / IP(src=src, dst=target, id=ident, flags="MF", frag=0) / Raw(b"a" * 64))
        p = eth / IP(src=src, dst=target, id=ident, flags="MF", frag=4) / Raw(b"b" * 64)
    elif k == 8:  # ARP storm from random senders
        p = Ether(dst="ff:ff:ff:ff:ff:ff", src="02:%02x:%02x:%02x:%02x:%02x" % tuple(rnd.randrange(256) for _ in range(5))) / ARP(
            op=rnd.choice([1, 2, 7]), psrc="%d.%d.%d.%d" % tuple(rnd.randrange(256) for _ in range(4)), pdst=target
        )
    elif k == 9:  # TCP with odd flag combinations
        p = eth / IP(src=src, dst=target) / TCP(dport=rnd.randrange(1, 65536), flags=rnd.randrange(256), dataofs=rnd.choice([0, 3, 5, 15]))
    elif k == 10:  # an unknown EtherType and a runt
        p = Ether(dst=gw_mac, type=rnd.choice([0x1234, 0x88B5, 0x86DD])) / Raw(b"q" * rnd.randrange(0, 50))
    else:  # ICMP errors quoting garbage, to make the stack answer nothing
        p = eth / IP(src=src, dst=target) / ICMP(type=rnd.choice([3, 11, 12, 5]), code=rnd.randrange(16)) / Raw(bytes(rnd.randrange(256) for _ in range(28)))
    frames.append(p)
sendp(frames, iface=iface)
print(len(frames))
