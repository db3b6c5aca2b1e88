#!/usr/bin/python3
"""IPv6 probes for test/compare6.test.ts: the same crafted packets to one
target (a Linux host or a vimage image); prints one JSON object, probe name
-> normalised answers, as test/tools/probes.py does for IPv4.

    probes6.py IFACE TARGET TARGET_MAC SRC BEYOND OPEN_TCP CLOSED_TCP CLOSED_UDP [detail]
    probes6.py dad IFACE SECONDS TARGET...

Frames leave IFACE from SRC, an address IFACE's namespace does not own; the
target reaches SRC through a static neighbour entry. BEYOND is an address
the target routes onward (it forwards), for hop-limit-exceeded probes.

The second form answers Duplicate Address Detection probes (neighbor
solicitations from :: for one of the TARGETs) with a neighbor
advertisement for the target, for SECONDS: the target's DAD must then
mark its address duplicated.

A signature keeps what two correct stacks must agree on: ICMPv6
type/code, hop limit, ND flags and options, what an error quotes and its
pointer, TCP flags and sequence numbers relative to the probe's, option
kinds. [] means no answer within WAIT seconds.
"""
import json
import random
import select
import sys
import time

from scapy.all import (  # type: ignore
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    HBHOptUnknown,
    TCP,
    UDP,
    Ether,
    Raw,
    conf,
    get_if_hwaddr,
    in6_getnsma,
    in6_getnsmac,
    inet_pton,
    inet_ntop,
)
import socket

conf.verb = 0
WAIT = 0.6
M32 = 0xFFFFFFFF


def solicited(a):
    return inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, a)))


def solicited_mac(a):
    return in6_getnsmac(inet_pton(socket.AF_INET6, a))


def dad_responder(iface, seconds, targets):
    mac = get_if_hwaddr(iface)
    sock = conf.L2socket(iface=iface, nofilter=1)
    want = {inet_pton(socket.AF_INET6, t) for t in targets}
    print("ready", flush=True)
    end = time.time() + seconds
    answered = 0
    while time.time() < end:
        r, _, _ = select.select([sock], [], [], end - time.time())
        if not r:
            break
        p = sock.recv()
        if p is None or ICMPv6ND_NS not in p or IPv6 not in p or p[IPv6].src != "::":
            continue
        tgt = p[ICMPv6ND_NS].tgt
        if inet_pton(socket.AF_INET6, tgt) not in want:
            continue
        # RFC 4862 5.4.4: a defending advertisement to all-nodes, override set.
        na = Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src="fe80::6:1", dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt=tgt, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac)
        sock.send(na)
        answered += 1
    print(json.dumps({"answered": answered}))


if len(sys.argv) > 1 and sys.argv[1] == "dad":
    dad_responder(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    sys.exit(0)

iface, dst, dst_mac, src, beyond = sys.argv[1:6]
OPEN, CLOSED, UCLOSED = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
DETAIL = len(sys.argv) > 9 and sys.argv[9] == "detail"
rnd = random.Random(7611)
mac = get_if_hwaddr(iface)
sock = conf.L2socket(iface=iface, nofilter=1)
_port = [rnd.randrange(20000, 40000)]
_id = [rnd.randrange(1, 30000)]
results = {}


def sport():
    _port[0] += 1
    return _port[0]


def ident():
    _id[0] += 1
    return _id[0]


def send(pkt, l2dst=None):
    sock.send(Ether(src=mac, dst=l2dst or dst_mac) / pkt)


def collect(match, wait=WAIT, first=False, mcast_ok=False):
    """IPv6 packets from the target to SRC (or a group, with mcast_ok) that `match` accepts."""
    end = time.time() + wait
    out = []
    while True:
        left = end - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            break
        p = sock.recv()
        if p is None or IPv6 not in p:
            continue
        ip = p[IPv6]
        if ip.src != dst and not ip.src.startswith("fe80:"):
            continue
        if ip.dst != src and not (mcast_ok and ip.dst.startswith("ff")):
            continue
        if not match(ip):
            continue
        out.append(ip)
        if first:
            break
    return out


def icmp6_types(*types):
    def m(ip):
        return ip.nh == 58 and bytes(ip.payload)[0] in types

    return m


ERRS = (1, 2, 3, 4)


def icmp6_sig(ip, sent):
    body = bytes(ip.payload)
    t, c = body[0], body[1]
    s = {"icmp6": "%d/%d" % (t, c), "hlim": ip.hlim}
    if ip.src != dst:
        s["from"] = "link-local" if ip.src.startswith("fe80:") else ip.src
    if DETAIL:
        s["tc"] = ip.tc
    if t == 129:
        req = bytes(sent)[-len(body):] if sent is not None else b""
        s["echo"] = body[4:] == req[4:]
    elif t in ERRS:
        if t == 4 or t == 2:
            s["pointer"] = int.from_bytes(body[4:8], "big")
        q = body[8:]
        raw = bytes(sent)
        s["quote"] = "all" if q == raw else ("prefix" if raw.startswith(q) and len(q) >= 48 else "differs")
        if s["quote"] == "prefix":
            s["quoted_bytes"] = len(q)
    elif t == 136:
        na = ip[ICMPv6ND_NA]
        s["flags"] = ("R" if na.R else "") + ("S" if na.S else "") + ("O" if na.O else "")
        s["tgt"] = na.tgt == dst
        s["tlla"] = ICMPv6NDOptDstLLAddr in ip and ip[ICMPv6NDOptDstLLAddr].lladdr == dst_mac
        s["to"] = "probe" if ip.dst == src else ip.dst
    return s


def probe(name, pkt, l2dst=None, match=None, mcast_ok=False):
    pkt = IPv6(bytes(pkt))
    send(pkt, l2dst)
    got = collect(match or (lambda ip: ip.nh in (58, 0)), mcast_ok=mcast_ok)
    results[name] = [icmp6_sig(g, pkt) for g in got[:3]]


def echo():
    return ICMPv6EchoRequest(id=ident(), seq=1, data=b"vimage-compare6")


nd = icmp6_types(136)
err_or_reply = icmp6_types(1, 2, 3, 4, 129)

# --- Neighbor Discovery (RFC 4861 7.1.1, 7.2.3, 7.2.4)
sn = solicited(dst)
snmac = solicited_mac(dst)
prefix = dst.rsplit(":", 1)[0]
probe("ns_multicast", IPv6(src=src, dst=sn, hlim=255) / ICMPv6ND_NS(tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=mac), snmac, nd)
probe("ns_unicast_no_slla", IPv6(src=src, dst=dst, hlim=255) / ICMPv6ND_NS(tgt=dst), None, nd)
probe("ns_hlim_64", IPv6(src=src, dst=sn, hlim=64) / ICMPv6ND_NS(tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=mac), snmac, nd)
probe("ns_code_1", IPv6(src=src, dst=sn, hlim=255) / ICMPv6ND_NS(code=1, tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=mac), snmac, nd)
probe("ns_other_target", IPv6(src=src, dst=solicited(prefix + ":99"), hlim=255) / ICMPv6ND_NS(tgt=prefix + ":99") / ICMPv6NDOptSrcLLAddr(lladdr=mac), solicited_mac(prefix + ":99"), nd)
probe("ns_multicast_target", IPv6(src=src, dst=dst, hlim=255) / ICMPv6ND_NS(tgt="ff02::1") / ICMPv6NDOptSrcLLAddr(lladdr=mac), None, nd)
probe("ns_dad", IPv6(src="::", dst=sn, hlim=255) / ICMPv6ND_NS(tgt=dst), snmac, nd, mcast_ok=True)
probe("ns_dad_with_slla", IPv6(src="::", dst=sn, hlim=255) / ICMPv6ND_NS(tgt=dst) / ICMPv6NDOptSrcLLAddr(lladdr=mac), snmac, nd, mcast_ok=True)

# --- ICMPv6 errors and their quoting (RFC 4443)
probe("echo", IPv6(src=src, dst=dst) / echo(), None, err_or_reply)
probe("echo_large", IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=ident(), seq=1, data=bytes(1400)), None, err_or_reply)
probe("udp_closed", IPv6(src=src, dst=dst) / UDP(sport=sport(), dport=UCLOSED) / Raw(b"x" * 20), None, err_or_reply)
probe("udp_closed_large", IPv6(src=src, dst=dst) / UDP(sport=sport(), dport=UCLOSED) / Raw(bytes(1400)), None, err_or_reply)
probe("hlim_exceeded", IPv6(src=src, dst=beyond, hlim=1) / echo(), None, err_or_reply)
probe("hlim_exceeded_udp", IPv6(src=src, dst=beyond, hlim=1) / UDP(sport=sport(), dport=33434) / Raw(b"t" * 12), None, err_or_reply)
probe("unknown_next_header", IPv6(src=src, dst=dst, nh=253) / Raw(bytes(16)), None, err_or_reply)
probe("no_next_header", IPv6(src=src, dst=dst, nh=59) / Raw(bytes(16)), None, err_or_reply)
probe("error_about_error", IPv6(src=src, dst=dst) / ICMPv6DestUnreach(code=4) / IPv6(src=dst, dst=src) / UDP(sport=1, dport=2), None, err_or_reply)

# --- Extension headers: unknown options of each action class (RFC 8200 4.2), type 0 routing (RFC 5095)
OPT = {"00": 0x1E, "01": 0x5E, "10": 0x9E, "11": 0xDE}
for cls, t in OPT.items():
    probe("hbh_opt_" + cls, IPv6(src=src, dst=dst) / IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=t, optdata=b"\x00\x00")]) / echo(), None, err_or_reply)
    probe("dst_opt_" + cls, IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=t, optdata=b"\x00\x00")]) / echo(), None, err_or_reply)
    probe("hbh_opt_%s_to_all_nodes" % cls, IPv6(src=src, dst="ff02::1") / IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=t, optdata=b"\x00\x00")]) / echo(), "33:33:00:00:00:01", err_or_reply)
probe("hbh_not_first", IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / echo(), None, err_or_reply)
probe("rh0_segleft_1", IPv6(src=src, dst=dst) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[beyond]) / echo(), None, err_or_reply)
probe("rh0_segleft_0", IPv6(src=src, dst=dst) / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[beyond]) / echo(), None, err_or_reply)
probe("rh_type_253_segleft_1", IPv6(src=src, dst=dst) / IPv6ExtHdrRouting(type=253, segleft=1, addresses=[beyond]) / echo(), None, err_or_reply)


# --- TCP over IPv6: handshake, RST, challenge ACKs (RFC 9293, RFC 5961)
def rel(v, base):
    d = (v - base) & M32
    if d < 1 << 16:
        return "+%d" % d
    if d > M32 - (1 << 16):
        return "-%d" % (M32 + 1 - d)
    return "far"


OPT_NAMES = {"MSS", "SAckOK", "Timestamp", "WScale"}


def tcp_sig(ip, probe_tcp=None, seq_base=None, ack_base=None):
    t = ip[TCP]
    s = {"flags": str(t.flags), "hlim": ip.hlim, "len": len(bytes(t.payload))}
    if DETAIL:
        s["win"] = t.window
    if seq_base is not None:
        s["seq"] = rel(t.seq, seq_base)
    elif t.seq == 0:
        s["seq"] = "0"
    elif probe_tcp is not None and "A" in str(probe_tcp.flags) and t.seq == probe_tcp.ack:
        s["seq"] = "=probe.ack"
    else:
        s["seq"] = "isn"
    if "A" in str(t.flags):
        s["ack"] = rel(t.ack, ack_base if ack_base is not None else probe_tcp.seq)
    if "S" in str(t.flags):
        s["opts"] = sorted({o[0] for o in t.options if o[0] in OPT_NAMES})
        for o in t.options:
            if o[0] == "MSS":
                s["mss"] = o[1]
    return s


def tcp_from(port, sp):
    return lambda ip: TCP in ip and ip[TCP].sport == port and ip[TCP].dport == sp


def syn_opts():
    return [("MSS", 1440), ("SAckOK", b""), ("Timestamp", (rnd.randrange(1 << 30), 0)), ("NOP", None), ("WScale", 7)]


def tcp_probe(name, port, flags, opts=True):
    sp = sport()
    seq = rnd.randrange(1 << 31)
    t = TCP(sport=sp, dport=port, flags=flags, seq=seq, ack=rnd.randrange(1 << 31) if "A" in flags else 0, window=65535)
    if opts:
        t.options = syn_opts()
    p = IPv6(bytes(IPv6(src=src, dst=dst) / t))
    send(p)
    got = collect(tcp_from(port, sp))
    results[name] = [tcp_sig(g, probe_tcp=p[TCP]) for g in got[:3]]
    for g in got:
        if "S" in str(g[TCP].flags):
            send(IPv6(src=src, dst=dst) / TCP(sport=sp, dport=port, flags="R", seq=(seq + 1) & M32))
            break


tcp_probe("syn_open", OPEN, "S")
tcp_probe("syn_closed", CLOSED, "S")
tcp_probe("ack_closed", CLOSED, "A", opts=False)
tcp_probe("syn_open_no_options", OPEN, "S", opts=False)


class Conn:
    def __init__(self):
        self.sp = sport()
        self.snd = rnd.randrange(1 << 31)
        send(IPv6(src=src, dst=dst) / TCP(sport=self.sp, dport=OPEN, flags="S", seq=self.snd, window=65535, options=[("MSS", 1440)]))
        sa = collect(tcp_from(OPEN, self.sp), wait=3, first=True)
        if not sa or str(sa[0][TCP].flags) != "SA":
            raise RuntimeError("no SYN,ACK from %s:%d: %r" % (dst, OPEN, sa))
        self.snd = (self.snd + 1) & M32
        self.rcv = (sa[0][TCP].seq + 1) & M32
        self.seg("A")
        time.sleep(0.3)

    def seg(self, flags, seq=None, ack=None, payload=b""):
        p = IPv6(src=src, dst=dst) / TCP(sport=self.sp, dport=OPEN, flags=flags, seq=self.snd if seq is None else seq, ack=self.rcv if ack is None else ack, window=512)
        if payload:
            p = p / Raw(payload)
        send(p)

    def answers(self):
        got = collect(tcp_from(OPEN, self.sp))
        return [tcp_sig(g, seq_base=self.rcv, ack_base=self.snd) for g in got[:3]]


def est(name, fn):
    c = Conn()
    try:
        results[name] = fn(c)
    finally:
        c.seg("R", ack=0)


def rst_in_window(c):
    c.seg("R", seq=(c.snd + 100) & M32, ack=0)
    return c.answers()


def syn_in_est(c):
    c.seg("S", seq=(c.snd + 7) & M32, ack=0)
    return c.answers()


def data(c):
    c.seg("PA", payload=b"hello")
    r = c.answers()
    c.snd = (c.snd + 5) & M32
    return r


def rst_exact(c):
    c.seg("R", ack=0)
    r = c.answers()
    c.seg("A", payload=b"after")
    return r + [{"after_rst": c.answers()}]


est("est_data", data)
est("est_rst_in_window", rst_in_window)
est("est_syn", syn_in_est)
est("est_rst_exact", rst_exact)

print(json.dumps(results, sort_keys=True))
