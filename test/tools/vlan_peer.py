"""
An 802.1Q peer for test/bridge.test.ts where Linux has no 8021q module: from a
namespace, over AF_PACKET on a TAP host side, ARP and ping an address on VLAN
VID, and report the tags seen on the replies (inline or in PACKET_AUXDATA).
Usage: vlan_peer.py IFNAME MY_IP PEER_IP VID COUNT; prints one JSON line.
"""
import json, socket, struct, sys, time
ifn, my_ip, peer_ip, vid, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifn, 0))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
mymac = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
def send(dst, etype, payload):
    s.send(dst + mymac + struct.pack('!HHH', 0x8100, vid, etype) + payload)
def recv(deadline):
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data, anc, _, _ = s.recvmsg(65535, socket.CMSG_SPACE(20))
        except socket.timeout:
            return None
        tag = None
        for lvl, typ, d in anc:
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA:
                st, _, _, _, _, tci = struct.unpack('IIIHHH', d[:18])
                if st & TP_STATUS_VLAN_VALID: tag = tci & 0xfff
        if data[12:14] == b'\x81\x00':  # tag left inline
            tag = struct.unpack('!H', data[14:16])[0] & 0xfff
            data = data[:12] + data[16:]
        if data[6:12] == mymac: continue  # our own
        return tag, data
    return None
arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, mymac, socket.inet_aton(my_ip), b'\0' * 6, socket.inet_aton(peer_ip))
res = {'arpTag': None, 'replies': 0, 'replyTags': []}
peer_mac = None
for attempt in range(3):
    send(b'\xff' * 6, 0x0806, arp)
    end = time.time() + 1
    while True:
        r = recv(end)
        if r is None: break
        tag, f = r
        if f[12:14] == b'\x08\x06' and f[20:22] == b'\x00\x02' and f[28:32] == socket.inet_aton(peer_ip):
            res['arpTag'] = tag
            peer_mac = f[22:28]
            break
    if peer_mac: break
if peer_mac:
    for seq in range(count):
        icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'vimage-vlan-test'
        icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, socket.inet_aton(my_ip), socket.inet_aton(peer_ip))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        send(peer_mac, 0x0800, ip + icmp)
        end = time.time() + 1
        while True:
            r = recv(end)
            if r is None: break
            tag, f = r
            if f[12:14] == b'\x08\x00' and f[23] == 1 and f[34] == 0 and f[26:30] == socket.inet_aton(peer_ip):
                res['replies'] += 1
                res['replyTags'].append(tag)
                break
        time.sleep(0.1)
print(json.dumps(res))
