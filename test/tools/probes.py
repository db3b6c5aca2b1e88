#!/usr/bin/python3
"""Send the same crafted probes to one target (a Linux host or a vimage
image) and print one JSON object: probe name -> normalised response
signature, so two stacks can be compared class by class.

    probes.py IFACE TARGET TARGET_MAC SRC OPEN_TCP CLOSED_TCP CLOSED_UDP [detail]

Frames go out of IFACE (raw, L2) from SRC, an address IFACE's namespace
does not own: its kernel ignores the answers (no RST of its own to a
SYN,ACK), and the target reaches SRC through a static ARP/neighbour entry
for IFACE's MAC. Every probe uses its own source port or ICMP id, so late
answers to one probe (a retransmitted SYN,ACK) never count for another.

A signature is the list of answers seen within WAIT seconds, each reduced
to what must not differ between two correct stacks: flags, sequence and
acknowledgment numbers relative to what the probe sent (never the ISN),
option kinds (not their order or the window scale), ICMP type/code, what an
ICMP error quotes, IP options recorded in a reply, the TTL. Windows, IP
ids, TOS/DF and option order are left out ("detail" adds TOS, DF and
windows, to read). [] means no answer.
"""
import json
import random
import select
import sys
import time

from scapy.all import ICMP, IP, TCP, UDP, Ether, IPOption, IPOption_EOL, IPOption_NOP, IPOption_RR, Raw, conf, fragment, get_if_hwaddr  # type: ignore

iface, dst, dst_mac, src = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
OPEN, CLOSED, UCLOSED = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
WAIT = 0.6
DETAIL = len(sys.argv) > 8 and sys.argv[8] == "detail"  # also TOS, DF, windows: for reading, not comparing
conf.verb = 0
rnd = random.Random(7411)
mac = get_if_hwaddr(iface)
sock = conf.L2socket(iface=iface, nofilter=1)
M32 = 0xFFFFFFFF
_port = [rnd.randrange(20000, 40000)]
_ts = [rnd.randrange(1 << 20, 1 << 30)]


def sport():
    _port[0] += 1
    return _port[0]


def tsval():
    _ts[0] += 10
    return _ts[0]


def send(pkt, bcast=False):
    sock.send(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff" if bcast else dst_mac) / pkt)


def collect(match, wait=WAIT, first=False, any_src=False):
    """IP packets from the target to SRC that `match` accepts, for `wait` seconds (or the first)."""
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
        if p is None or IP not in p:
            continue
        ip = p[IP]
        if (ip.src != dst and not any_src) or ip.dst != src or not match(ip):
            continue
        out.append(ip)
        if first:
            break
    return out


def rel(v, base):
    d = (v - base) & M32
    if d < 1 << 16:
        return "+%d" % d
    if d > M32 - (1 << 16):
        return "-%d" % (M32 + 1 - d)
    return "far"


OPT_NAMES = {"MSS", "SAckOK", "Timestamp", "WScale", "SAck"}


def tcp_sig(ip, seq_base=None, ack_base=None, probe=None, ts=None):
    """seq_base/ack_base: what the answer's seq/ack are measured against (None: the probe's).
    ts: the probe's TSval, to tell whether the answer echoes it."""
    t = ip[TCP]
    s = {"flags": str(t.flags), "ttl": ip.ttl, "len": len(bytes(t.payload))}
    if DETAIL:
        s["df"] = int("DF" in str(ip.flags))
        s["tos"] = ip.tos
        s["win"] = t.window
    if seq_base is not None:
        s["seq"] = rel(t.seq, seq_base)
    elif t.seq == 0:
        s["seq"] = "0"
    elif probe is not None and t.seq == probe.ack and "A" in str(probe.flags):
        s["seq"] = "=probe.ack"
    else:
        s["seq"] = "isn"
    if "A" in str(t.flags):
        s["ack"] = rel(t.ack, ack_base if ack_base is not None else probe.seq)
    if "S" not in str(t.flags) and "R" not in str(t.flags):
        for o in t.options:
            if o[0] == "Timestamp" and ts is not None:
                s["tsecr"] = "=probe.tsval" if o[1][1] == ts else "earlier"
            if o[0] == "SAck":
                base = ack_base if ack_base is not None else probe.seq
                s["sack"] = [rel(x, base) for x in o[1]]
    if "S" in str(t.flags):
        kinds = sorted({o[0] for o in t.options if o[0] in OPT_NAMES})
        s["opts"] = kinds
        for o in t.options:
            if o[0] == "MSS":
                s["mss"] = o[1]
            if o[0] == "Timestamp" and ts is not None:
                s["tsecr"] = "=probe.tsval" if o[1][1] == ts else "other"
    return s


def opts(ts=None, full=True):
    o = [("MSS", 1460)]
    if full:
        o += [("SAckOK", b""), ("Timestamp", (ts if ts is not None else tsval(), 0)), ("NOP", None), ("WScale", 7)]
    return o


def tcp_from(port, sp):
    return lambda ip: TCP in ip and ip[TCP].sport == port and ip[TCP].dport == sp


results = {}


def listen_probe(name, port, flags, payload=b"", syn_opts=True, bad_sum=False, ack=None, raw_opts=None, bcast=False):
    """One segment to a listening or closed port; the signatures of the answers."""
    sp = sport()
    seq = rnd.randrange(1 << 31)
    ts = tsval()
    t = TCP(sport=sp, dport=port, flags=flags, seq=seq, ack=ack if ack is not None else (rnd.randrange(1 << 31) if "A" in flags else 0), window=65535)
    if "S" in flags:
        t.options = opts(ts, syn_opts)
    if raw_opts is not None:
        # Options scapy would not build: the bytes follow a header whose data offset covers them.
        t.options = []
        t.dataofs = 5 + len(raw_opts) // 4
        payload = raw_opts + payload
    if bad_sum:
        t.chksum = 0xBEEF
    p = IP(src=src, dst=dst.rsplit(".", 1)[0] + ".255" if bcast else dst) / t
    if payload:
        p = p / Raw(payload)
    p = IP(bytes(p))
    send(p, bcast)
    got = collect(tcp_from(port, sp))
    results[name] = [tcp_sig(g, probe=p[TCP], ts=ts) for g in got[:3]]
    # Remove any half-open connection the probe made.
    for g in got:
        if "S" in str(g[TCP].flags):
            send(IP(src=src, dst=dst) / TCP(sport=sp, dport=port, flags="R", seq=(seq + 1) & M32))
            break


class Conn:
    """A connection handshaken by hand to the open port (timestamps, SACK, window scaling)."""

    def __init__(self):
        self.sp = sport()
        self.snd = rnd.randrange(1 << 31)
        ts = tsval()
        send(IP(src=src, dst=dst) / TCP(sport=self.sp, dport=OPEN, flags="S", seq=self.snd, window=65535, options=opts(ts)))
        sa = collect(tcp_from(OPEN, self.sp), wait=3, first=True)
        if not sa or str(sa[0][TCP].flags) != "SA":
            raise RuntimeError("no SYN,ACK from %s:%d: %r" % (dst, OPEN, sa))
        t = sa[0][TCP]
        self.snd = (self.snd + 1) & M32
        self.rcv = (t.seq + 1) & M32
        self.peer_ts = dict(t.options).get("Timestamp", (0, 0))[0]
        self.seg("A")
        time.sleep(0.3)  # accepted by the server

    def seg(self, flags, payload=b"", seq=None, ack=None, ts=None, port=None):
        self.last_ts = tsval() if ts is None else ts
        t = TCP(sport=self.sp, dport=OPEN if port is None else port, flags=flags, seq=self.snd if seq is None else seq, ack=self.rcv if ack is None else ack, window=512)
        t.options = [("NOP", None), ("NOP", None), ("Timestamp", (self.last_ts, self.peer_ts))]
        p = IP(src=src, dst=dst) / t
        if payload:
            p = p / Raw(payload)
        send(p)

    def answers(self, wait=WAIT):
        got = collect(tcp_from(OPEN, self.sp), wait)
        for g in got:
            for o in g[TCP].options:
                if o[0] == "Timestamp":
                    self.peer_ts = o[1][0]
        return [tcp_sig(g, seq_base=self.rcv, ack_base=self.snd, ts=self.last_ts) for g in got[:3]]

    def close(self):
        self.seg("R", ack=0)


def est_probe(name, fn):
    c = Conn()
    try:
        results[name] = fn(c)
    finally:
        c.close()


def icmp_sig(ip, sent):
    ic = ip[ICMP]
    s = {"icmp": "%d/%d" % (ic.type, ic.code), "ttl": ip.ttl}
    if ip.src != dst:
        s["from"] = ip.src
    if ip.ihl > 5:
        s["ip_options"] = ip_options(bytes(ip)[20 : ip.ihl * 4])
    if DETAIL:
        s["df"] = int("DF" in str(ip.flags))
        s["tos"] = ip.tos
    body = bytes(ic)
    if ic.type == 0:
        req = sent[ICMP]
        s["echo"] = ic.id == req.id and ic.seq == req.seq and body[8:] == bytes(req)[8:]
    elif ic.type == 14:
        req = sent[ICMP]
        s["ts"] = ic.id == req.id and ic.seq == req.seq and ic.ts_ori == req.ts_ori
    elif ic.type in (3, 4, 5, 11, 12):
        if ic.type == 12:
            s["pointer"] = body[4]
        q = body[8:]
        raw = bytes(sent)
        s["quote_ip"] = q[:20] == raw[:20]
        s["quote_l4"] = q[20:28] == raw[20:28]
        s["quote"] = "all" if q == raw else ("prefix" if raw.startswith(q) and len(q) >= 28 else "differs")
        if s["quote"] == "prefix":
            s["quoted_bytes"] = len(q)
    return s


def ip_options(raw):
    """The options of a reply (scapy's parser is not used: it chokes on some)."""
    out, i = [], 0
    while i < len(raw) and raw[i] != 0:
        if raw[i] == 1:
            i += 1
            continue
        n = raw[i + 1] if i + 1 < len(raw) else 0
        if n < 2:
            out.append(["malformed"])
            break
        out.append(opt_sig(raw[i : i + n]))
        i += n
    return out


def opt_sig(b):
    """An IP option in a reply: its number and whose addresses (or how many timestamps) it records."""
    if b[0] == 7:  # record route: the addresses up to the pointer
        got = [".".join(str(x) for x in b[i : i + 4]) for i in range(3, min(b[2] - 1, len(b)), 4)]
        return ["RR", sorted({"target" if a == dst else "other" for a in got})]
    if b[0] == 68:  # timestamp
        return ["TS", "flg%d" % (b[3] & 0xF), "stamped" if b[2] > 5 else "empty"]
    return [b[0]]


def icmp_probe(name, p, match, bcast=False, frags=None, any_src=False, tcp_port=None):
    p = IP(bytes(p))
    for f in frags if frags is not None else [p]:
        send(f, bcast)
    got = collect(lambda ip: (ICMP in ip and match(ip)) or (tcp_port is not None and TCP in ip and ip[TCP].dport == tcp_port), any_src=any_src)
    results[name] = [tcp_sig(g, probe=p[TCP]) if TCP in g else icmp_sig(g, p) for g in got[:3]]


def echo_id(i):
    return lambda ip: ip[ICMP].type in (0, 14, 18) and ip[ICMP].id == i


def quoting(proto, sp, at=0):
    """An ICMP error quoting our packet of protocol `proto` with `sp` at byte `at` of its transport header."""

    def m(ip):
        b = bytes(ip[ICMP])
        qh = (b[8] & 0xF) * 4 if len(b) > 8 else 0
        return ip[ICMP].type in (3, 11, 12) and len(b) >= 8 + qh + at + 2 and b[8 + 9] == proto and int.from_bytes(b[8 + qh + at : 8 + qh + at + 2], "big") == sp

    return m


# ---------------------------------------------------------------- listener and closed ports
for port, tag in ((OPEN, "open"), (CLOSED, "closed")):
    listen_probe("syn_" + tag, port, "S")
    listen_probe("syn_noopts_" + tag, port, "S", syn_opts=False)
    listen_probe("syn_data_" + tag, port, "S", payload=b"hello")
    listen_probe("syn_badsum_" + tag, port, "S", bad_sum=True)
    listen_probe("synfin_" + tag, port, "SF")
    listen_probe("synack_" + tag, port, "SA")
    listen_probe("synrst_" + tag, port, "SR")
    listen_probe("ack_" + tag, port, "A")
    listen_probe("finack_" + tag, port, "FA")
    listen_probe("rst_" + tag, port, "R")
    listen_probe("rstack_" + tag, port, "RA")
    listen_probe("null_" + tag, port, "")
    listen_probe("fin_" + tag, port, "F")
    listen_probe("xmas_" + tag, port, "FPU")
    listen_probe("data_noack_" + tag, port, "P", payload=b"0123456789")
    listen_probe("data_ack_" + tag, port, "PA", payload=b"0123456789")
    listen_probe("syn_bad_optlen_" + tag, port, "S", raw_opts=b"\x02\x04\x05\xb4\x03\x00\x01\x01")
    listen_probe("syn_broadcast_" + tag, port, "S", bcast=True)

# ---------------------------------------------------------------- during the handshake
def half_open(name, third):
    """SYN, the SYN,ACK, then `third(seq, isn, sp)`: the answers to what follows the SYN,ACK."""
    sp = sport()
    seq = rnd.randrange(1 << 31)
    ts = tsval()
    syn = IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="S", seq=seq, window=65535, options=opts(ts))
    send(syn)
    sa = collect(tcp_from(OPEN, sp), wait=3, first=True)
    if not sa:
        results[name] = ["no SYN,ACK"]
        return
    isn = sa[0][TCP].seq
    p = third(syn, seq, isn, sp)
    got = collect(tcp_from(OPEN, sp))
    results[name] = [tcp_sig(g, seq_base=(isn + 1) & M32 if "S" not in str(g[TCP].flags) and g[TCP].seq != 0 else None, ack_base=seq, probe=p, ts=ts) for g in got[:3]]
    if "SA" in [str(g[TCP].flags) for g in got]:
        results[name].append({"synack_isn": "same" if any(g[TCP].seq == isn for g in got) else "new"})
    send(IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="R", seq=(seq + 1) & M32))


def h_syn_again(syn, seq, isn, sp):
    send(syn)
    return syn[TCP]


def h_bad_ack(syn, seq, isn, sp):
    p = IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="A", seq=(seq + 1) & M32, ack=(isn + 1000) & M32, window=512)
    send(p)
    return p[TCP]


def h_rst_then_ack(syn, seq, isn, sp):
    send(IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="R", seq=(seq + 1) & M32))
    time.sleep(0.1)
    p = IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="A", seq=(seq + 1) & M32, ack=(isn + 1) & M32, window=512)
    send(p)
    return p[TCP]


def h_ack_no_ts(syn, seq, isn, sp):
    # Timestamps were offered by both SYNs; the third segment carries data but no timestamp.
    p = IP(src=src, dst=dst) / TCP(sport=sp, dport=OPEN, flags="PA", seq=(seq + 1) & M32, ack=(isn + 1) & M32, window=512) / Raw(b"0123456789")
    send(p)
    return p[TCP]


half_open("synrcvd_syn_again", h_syn_again)
half_open("synrcvd_bad_ack", h_bad_ack)
half_open("synrcvd_rst_then_ack", h_rst_then_ack)
half_open("synrcvd_data_without_timestamp", h_ack_no_ts)

# ---------------------------------------------------------------- an established connection
DATA = b"x" * 10


def e_data(c):
    c.seg("PA", DATA)
    c.snd = (c.snd + len(DATA)) & M32
    return c.answers()


def e_data_noack(c):
    c.seg("P", DATA)
    return c.answers()


def e_oow_data(c):
    c.seg("PA", DATA, seq=(c.snd + 3_000_000) & M32)
    return c.answers()


def e_old_data(c):
    c.seg("PA", DATA, seq=(c.snd - 100) & M32)
    return c.answers()


def e_rst_exact(c):
    c.seg("R", ack=0)
    first = c.answers()
    c.seg("PA", DATA)  # the connection must be gone: the listener answers RST
    got = collect(tcp_from(OPEN, c.sp))
    return first + [tcp_sig(g, seq_base=(c.rcv), ack_base=c.snd) for g in got[:2]]


def e_rst_inwin(c):
    c.seg("R", seq=(c.snd + 100) & M32, ack=0)
    return c.answers()


def e_rst_oow(c):
    c.seg("R", seq=(c.snd + 3_000_000) & M32, ack=0)
    return c.answers()


def e_syn(c):
    c.seg("S")
    return c.answers()


def e_syn_oow(c):
    c.seg("S", seq=(c.snd + 3_000_000) & M32)
    return c.answers()


def e_ack_unsent(c):
    c.seg("A", ack=(c.rcv + 100_000) & M32)
    return c.answers()


def e_ack_old(c):
    c.seg("A", ack=(c.rcv - 1_500_000_000) & M32)
    return c.answers()


def e_out_of_order(c):
    c.seg("PA", DATA, seq=(c.snd + 100) & M32)
    return c.answers()


def e_partly_old(c):
    c.seg("PA", DATA, seq=(c.snd - 5) & M32)
    c.snd = (c.snd + 5) & M32
    return c.answers()


def e_fin(c):
    # The server reads EOF and closes. Whether the ACK of our FIN rides on its FIN
    # (Linux, when the server is quick) or goes alone first (FreeBSD: TF_ACKNOW) is
    # timing, so the signature says only: our FIN acknowledged, and a FIN back.
    c.seg("FA")
    c.snd = (c.snd + 1) & M32
    got = c.answers(wait=1.0)
    return [{"fin_acked": any(g.get("ack") == "+0" for g in got), "fin_back": any("F" in g["flags"] for g in got)}]


def e_keepalive(c):
    c.seg("A", b"\0", seq=(c.snd - 1) & M32)
    return c.answers()


def e_paws(c):
    c.seg("PA", DATA, ts=(_ts[0] - 1_000_000) & M32)
    return c.answers()


def e_paws_then_data(c):
    c.seg("PA", DATA, ts=(_ts[0] - 1_000_000) & M32)
    time.sleep(0.2)
    c.seg("PA", DATA)  # the same bytes, now acceptable: acked as new data
    c.snd = (c.snd + len(DATA)) & M32
    return c.answers()


def e_no_ts(c):
    # Timestamps were negotiated; a segment without one (RFC 7323 3.2: MAY drop).
    t = TCP(sport=c.sp, dport=OPEN, flags="PA", seq=c.snd, ack=c.rcv, window=512)
    send(IP(src=src, dst=dst) / t / Raw(DATA))
    c.snd = (c.snd + len(DATA)) & M32
    c.last_ts = None
    return c.answers()


for n, f in [
    ("est_data", e_data),
    ("est_data_noack", e_data_noack),
    ("est_data_out_of_window", e_oow_data),
    ("est_data_old_duplicate", e_old_data),
    ("est_rst_exact_then_data", e_rst_exact),
    ("est_rst_in_window", e_rst_inwin),
    ("est_rst_out_of_window", e_rst_oow),
    ("est_syn", e_syn),
    ("est_syn_out_of_window", e_syn_oow),
    ("est_ack_unsent", e_ack_unsent),
    ("est_ack_too_old", e_ack_old),
    ("est_data_out_of_order", e_out_of_order),
    ("est_data_without_timestamp", e_no_ts),
    ("est_keepalive_probe", e_keepalive),
    ("est_data_partly_old", e_partly_old),
    ("est_fin", e_fin),
    ("est_paws", e_paws),
    ("est_paws_then_data", e_paws_then_data),
]:
    est_probe(n, f)

# ---------------------------------------------------------------- UDP, ICMP, IP
sp = sport()
icmp_probe("udp_closed", IP(src=src, dst=dst) / UDP(sport=sp, dport=UCLOSED) / Raw(b"probe data"), quoting(17, sp))
sp = sport()
icmp_probe("udp_closed_nocsum", IP(src=src, dst=dst) / UDP(sport=sp, dport=UCLOSED, chksum=0) / Raw(b"probe data"), quoting(17, sp))
sp = sport()
icmp_probe("udp_closed_badsum", IP(src=src, dst=dst) / UDP(sport=sp, dport=UCLOSED, chksum=0x1234) / Raw(b"probe data"), quoting(17, sp))
sp = sport()
icmp_probe("udp_closed_broadcast", IP(src=src, dst=dst.rsplit(".", 1)[0] + ".255") / UDP(sport=sp, dport=UCLOSED) / Raw(b"x"), quoting(17, sp), bcast=True)
i = sport()
icmp_probe("proto_unreachable", IP(src=src, dst=dst, proto=253) / Raw(i.to_bytes(2, "big") + b"\x00" * 14), quoting(253, i))
i = sport()
icmp_probe("echo", IP(src=src, dst=dst) / ICMP(id=i, seq=1) / Raw(b"ping" * 8), echo_id(i))
i = sport()
icmp_probe("echo_ttl1", IP(src=src, dst=dst, ttl=1) / ICMP(id=i, seq=1) / Raw(b"ttl1"), echo_id(i))
i = sport()
icmp_probe("echo_bad_ip_checksum", IP(src=src, dst=dst, chksum=0x1234) / ICMP(id=i, seq=1), echo_id(i))
i = sport()
icmp_probe("echo_bad_icmp_checksum", IP(src=src, dst=dst) / ICMP(id=i, seq=1, chksum=0x1234), echo_id(i))
i = sport()
icmp_probe("echo_broadcast", IP(src=src, dst=dst.rsplit(".", 1)[0] + ".255") / ICMP(id=i, seq=1), echo_id(i), bcast=True)
i = sport()
big = IP(src=src, dst=dst, id=i) / ICMP(id=i, seq=2) / Raw(bytes(range(200)) * 6)
icmp_probe("echo_fragmented", big, echo_id(i), frags=fragment(IP(bytes(big)), fragsize=400))
i = sport()
icmp_probe("echo_1472_bytes", IP(src=src, dst=dst, flags="DF") / ICMP(id=i, seq=1) / Raw(bytes(range(256)) * 5 + bytes(192)), echo_id(i))
i = sport()
icmp_probe("echo_code_5", IP(src=src, dst=dst) / ICMP(id=i, seq=1, code=5) / Raw(b"code"), echo_id(i))
i = sport()
icmp_probe("echo_reply_unsolicited", IP(src=src, dst=dst) / ICMP(type=0, id=i, seq=1), lambda ip: ip[ICMP].type != 0 or ip[ICMP].id == i)
i = sport()
icmp_probe("icmp_unknown_type", IP(src=src, dst=dst) / ICMP(type=42, code=0, id=i, seq=1) / Raw(b"\0" * 8), lambda ip: ip[ICMP].type != 0 or ip[ICMP].id == i)
sp = sport()
icmp_probe("icmp_port_unreachable_in", IP(src=src, dst=dst) / ICMP(type=3, code=3) / IP(src=dst, dst=src) / UDP(sport=sp, dport=9), lambda ip: True)
i = sport()
icmp_probe("timestamp", IP(src=src, dst=dst) / ICMP(type=13, id=i, seq=1, ts_ori=12345, ts_rx=0, ts_tx=0), echo_id(i))
i = sport()
icmp_probe("address_mask", IP(src=src, dst=dst) / ICMP(type=17, id=i, seq=1) / Raw(b"\x00" * 4), echo_id(i))
i = sport()
icmp_probe("info_request", IP(src=src, dst=dst) / ICMP(type=15, id=i, seq=1), echo_id(i))

sp = sport()
icmp_probe("udp_closed_large", IP(src=src, dst=dst) / UDP(sport=sp, dport=UCLOSED) / Raw(b"L" * 1200), quoting(17, sp))
i = sport()
icmp_probe("echo_record_route", IP(src=src, dst=dst, options=IPOption_RR(routers=["0.0.0.0"] * 9)) / ICMP(id=i, seq=1) / Raw(b"rr"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_record_route_full", IP(src=src, dst=dst, options=IPOption_RR(routers=["10.9.9.9"], pointer=8)) / ICMP(id=i, seq=1) / Raw(b"rr"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_timestamp_option", IP(src=src, dst=dst, options=[IPOption(b"\x44\x14\x05\x00" + b"\0" * 16)]) / ICMP(id=i, seq=1) / Raw(b"ts"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_rr_too_short", IP(src=src, dst=dst, options=[IPOption(b"\x07\x02\x04\x00")]) / ICMP(id=i, seq=1) / Raw(b"bad"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_option_length_zero", IP(src=src, dst=dst, options=[IPOption(b"\x07\x00\x04\x00")]) / ICMP(id=i, seq=1) / Raw(b"bad"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_bad_rr_pointer", IP(src=src, dst=dst, options=[IPOption(b"\x07\x07\x02\x00\x00\x00\x00\x00")]) / ICMP(id=i, seq=1) / Raw(b"bad"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
# Loose source route whose last hop is the target (pointer past the end): hosts drop it.
icmp_probe("echo_source_routed", IP(src=src, dst=dst, options=[IPOption(b"\x83\x07\x08" + bytes(int(x) for x in dst.split(".")) + b"\x00")]) / ICMP(id=i, seq=1) / Raw(b"lsrr"), lambda ip: echo_id(i)(ip) or quoting(1, i, 4)(ip))
i = sport()
icmp_probe("echo_ip_nop_options", IP(src=src, dst=dst, options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]) / ICMP(id=i, seq=1) / Raw(b"nop"), echo_id(i))
i = sport()
icmp_probe("echo_to_loopback_address", IP(src=src, dst="127.0.0.1") / ICMP(id=i, seq=1), echo_id(i), any_src=True)
sp = sport()
icmp_probe("tcp_closed_with_ip_options", IP(src=src, dst=dst, options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]) / TCP(sport=sp, dport=CLOSED, flags="S", seq=1000), lambda ip: False, tcp_port=sp)

sock.close()
print(json.dumps(results, sort_keys=True))
