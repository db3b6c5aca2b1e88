import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TH } from '../../wire/tcp.js';
import { TCP_REASS_MAXQ, TcpCb } from './tcp_cb.js';
import { tcpSackAdd } from './tcp_sack.js';
import { seq, seqAdd, seqGt, seqLt, seqSub } from './tcp_seq.js';
import { Link, Side, pair } from './tcp_testlink.js';
import { TCPS } from './tcp_var.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/** Push all of `data` through a's send buffer as space opens, running the clock. */
function transfer(link: Link, a: Side, data: Uint8Array, maxMs = 600_000): void {
  let off = 0;
  for (let t = 0; t < maxMs && (off < data.length || a.cb.flight > 0 || a.cb.snd.length > 0); t++) {
    if (off < data.length) off += a.cb.send(data.subarray(off, Math.min(off + 65536, data.length)));
    link.clock.advance(1);
  }
}

test('sequence arithmetic wraps around 2^32', () => {
  const a = seq(0xfffffff0);
  const b = seqAdd(a, 0x20);
  assert.equal(b, 0x10);
  assert.ok(seqLt(a, b));
  assert.ok(seqGt(b, a));
  assert.equal(seqSub(b, a), 0x20);
  assert.equal(seqSub(a, b), -0x20);
});

test('three-way handshake negotiates MSS, window scale, timestamps and SACK', () => {
  const { link, a, b } = pair();
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  assert.equal(b.cb.state, TCPS.ESTABLISHED);
  assert.deepEqual(a.events, ['connected']);
  const [syn] = link.sent('a', TH.SYN);
  assert.equal(syn!.r.mss, 1460);
  assert.ok(syn!.r.wscale >= 0);
  assert.ok(syn!.r.tsPresent);
  assert.ok(syn!.r.sackPermitted);
  const synack = link.sent('b', TH.SYN | TH.ACK)[0]!;
  assert.equal(synack.r.ack, (syn!.r.seq + 1) >>> 0);
  assert.ok(a.cb.tsOn && b.cb.tsOn && a.cb.sackOn && b.cb.sackOn);
  assert.equal(a.cb.smss, 1460 - 12, 'timestamps take 12 bytes of every segment');
  assert.equal(a.cb.sndScale, b.cb.rcvScale);
});

test('data flows both ways and an orderly close ends in TIME_WAIT, then CLOSED after 2 MSL', () => {
  const { link, a, b } = pair();
  a.cb.send(bytes('hello from a'));
  b.cb.send(bytes('hello from b'));
  link.run(100);
  assert.equal(b.text(), 'hello from a');
  assert.equal(a.text(), 'hello from b');
  a.cb.shutdown();
  link.run(10);
  assert.equal(a.cb.state, TCPS.FIN_WAIT_2);
  assert.equal(b.cb.state, TCPS.CLOSE_WAIT);
  assert.ok(b.events.includes('eof'));
  b.cb.send(bytes('half-closed still sends'));
  link.run(100);
  assert.equal(a.text(), 'hello from bhalf-closed still sends');
  b.cb.shutdown();
  link.run(10);
  assert.equal(a.cb.state, TCPS.TIME_WAIT);
  assert.equal(b.cb.state, TCPS.CLOSED);
  link.run(2 * 30_000 - 100);
  assert.equal(a.cb.state, TCPS.TIME_WAIT);
  link.run(200);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.equal(link.clock.pending, 0, 'no timers left');
});

test('net.inet.tcp.msl sets the TIME_WAIT length', () => {
  const { link, a, b } = pair({}, (l) => {
    l.a.values.set('net.inet.tcp.msl', '1000');
  });
  a.cb.shutdown();
  link.run(10);
  b.cb.shutdown();
  link.run(10);
  assert.equal(a.cb.state, TCPS.TIME_WAIT);
  link.run(2000);
  assert.equal(a.cb.state, TCPS.CLOSED);
});

test('simultaneous close passes through CLOSING on both sides', () => {
  const { link, a, b } = pair();
  a.cb.shutdown();
  b.cb.shutdown();
  assert.equal(a.cb.state, TCPS.FIN_WAIT_1);
  link.run(5);
  assert.ok(link.a.states.includes(TCPS.CLOSING));
  assert.ok(link.b.states.includes(TCPS.CLOSING));
  assert.equal(a.cb.state, TCPS.TIME_WAIT);
  assert.equal(b.cb.state, TCPS.TIME_WAIT);
});

test('simultaneous open: both SYN_SENT, then SYN_RECEIVED, then ESTABLISHED', () => {
  const link = new Link();
  const ca = new TcpCb(link.a);
  const cb = new TcpCb(link.b);
  ca.lport = cb.fport = 5000;
  cb.lport = ca.fport = 6000;
  link.a.cb = ca;
  link.b.cb = cb;
  const a = new Side(ca);
  const b = new Side(cb);
  ca.so = a;
  cb.so = b;
  ca.connect();
  cb.connect();
  link.run(20);
  assert.equal(ca.state, TCPS.ESTABLISHED);
  assert.equal(cb.state, TCPS.ESTABLISHED);
  assert.ok(link.a.states.includes(TCPS.SYN_RECEIVED));
  ca.send(bytes('x'));
  link.run(10);
  assert.equal(b.text(), 'x');
});

test('a megabyte arrives intact through 2% loss, reordering and duplication, using fast retransmit', () => {
  const rnd = mulberry(7);
  const { link, a, b } = pair();
  link.opts = {
    delayMs: 5,
    drop: () => rnd() < 0.02,
    jitter: () => (rnd() < 0.05 ? 7 : 0),
    dup: () => rnd() < 0.01,
  };
  const data = pattern(1 << 20);
  transfer(link, a, data);
  link.run(1000);
  assert.equal(sha(b.bytes()), sha(data));
  assert.ok(link.a.stat.fastrexmit > 0, 'fast retransmit used');
  assert.ok(link.a.stat.sndrexmitpack > 0);
  assert.ok(link.b.stat.rcvoopack > 0, 'out of order segments reassembled');
  assert.ok(link.b.stat.sacksndblocks > 0, 'SACK blocks reported');
});

test('CUBIC (TCP_CONGESTION) also carries a megabyte through loss intact', () => {
  const rnd = mulberry(11);
  const { link, a, b } = pair();
  assert.ok(a.cb.setCongestionControl('cubic'));
  assert.equal(a.cb.ccName, 'cubic');
  assert.equal(a.cb.setCongestionControl('vegas'), false);
  link.opts = { delayMs: 5, drop: () => rnd() < 0.01 };
  const data = pattern(1 << 20);
  transfer(link, a, data);
  assert.equal(sha(b.bytes()), sha(data));
  assert.ok(link.a.stat.recoveryepisode > 0);
});

test('transfer across sequence number wrap-around', () => {
  const { link, a, b } = pair({}, (l) => {
    l.isn.a = (0x100000000 - 5000) / 0x100000000;
    l.isn.b = (0x100000000 - 100) / 0x100000000;
  });
  assert.ok(a.cb.iss > 0xffff0000);
  const data = pattern(200_000);
  transfer(link, a, data);
  b.cb.send(pattern(3000));
  link.run(100);
  assert.equal(sha(b.bytes()), sha(data));
  assert.equal(a.bytes().length, 3000);
  assert.ok(a.cb.sndUna < 0x10000000, 'sequence space wrapped');
});

test('a zero window is probed and reopened by a window update after the application reads', () => {
  const { link, a, b } = pair({}, (l) => {
    l.b.values.set('net.inet.tcp.recvspace', '16384');
    l.b.values.set('net.inet.tcp.recvbuf_auto', '0');
  });
  b.autoRead = false;
  const data = pattern(100_000);
  let off = a.cb.send(data);
  link.run(20_000);
  assert.equal(a.cb.sndWnd, 0, 'receiver closed its window');
  assert.ok(link.a.stat.sndprobe > 0 || link.a.stat.persisttimeo > 0, 'persist timer probed');
  assert.ok(link.b.stat.rcvwinprobe > 0 || link.b.stat.rcvpackafterwin > 0);
  const probesBefore = link.a.stat.persisttimeo;
  b.autoRead = true;
  b.read();
  for (let t = 0; t < 20_000 && b.bytes().length < data.length; t++) {
    if (off < data.length) off += a.cb.send(data.subarray(off));
    link.clock.advance(1);
  }
  assert.equal(sha(b.bytes()), sha(data));
  assert.ok(link.b.stat.sndwinup > 0, 'window update sent after reading');
  assert.ok(link.a.stat.persisttimeo >= probesBefore);
});

test('retransmission timeouts back off exponentially and end in ETIMEDOUT', () => {
  const { link, a } = pair();
  link.opts = { drop: () => true };
  const t0 = link.clock.now();
  a.cb.send(bytes('lost'));
  link.run(20 * 60_000, 10);
  const times = link.sent('a').filter((w) => w.payload > 0).map((w) => 0);
  assert.ok(times.length >= 10);
  assert.deepEqual(a.errors, ['ETIMEDOUT']);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.equal(link.a.stat.timeoutdrop, 1);
  void t0;
});

test('RFC 6298 backoff doubles the interval between retransmissions', () => {
  const { link, a } = pair();
  const at: number[] = [];
  link.opts = {
    drop: (w) => {
      if (w.from === 'a' && w.payload > 0) at.push(link.clock.now());
      return true;
    },
  };
  a.cb.send(bytes('lost'));
  link.run(30_000, 1);
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps.length >= 4);
  for (let i = 1; i < 4; i++) assert.ok(Math.abs(gaps[i]! / gaps[i - 1]! - 2) < 0.1, `gap ${i} doubles: ${gaps.join(',')}`);
});

test('RST exactly at RCV.NXT resets; elsewhere in the window it earns a challenge ACK (RFC 5961)', () => {
  const { link, a, b } = pair();
  const rcvNxt = b.cb.rcvNxt;
  const acksBefore = link.sent('b').length;
  inject(link, 'a', { seq: seqAdd(rcvNxt, 100), flags: TH.RST });
  assert.equal(b.cb.state, TCPS.ESTABLISHED);
  assert.equal(link.sent('b').length, acksBefore + 1, 'challenge ACK');
  assert.equal(link.b.stat.challengeack, 1);
  inject(link, 'a', { seq: seqAdd(rcvNxt, 10_000_000), flags: TH.RST });
  assert.equal(link.sent('b').length, acksBefore + 1, 'out-of-window RST ignored silently');
  inject(link, 'a', { seq: rcvNxt, flags: TH.RST });
  assert.equal(b.cb.state, TCPS.CLOSED);
  assert.deepEqual(b.errors, ['ECONNRESET']);
  void a;
});

test('a SYN on an established connection earns a challenge ACK, not a reset (RFC 5961 4)', () => {
  const { link, b } = pair();
  inject(link, 'a', { seq: seqAdd(b.cb.rcvNxt, 5), flags: TH.SYN });
  assert.equal(b.cb.state, TCPS.ESTABLISHED);
  assert.equal(link.b.stat.challengeack, 1);
  const last = link.log[link.log.length - 1]!;
  assert.equal(last.r.flags, TH.ACK);
});

test('an ACK for data never sent is challenged and dropped (RFC 5961 5)', () => {
  const { link, b } = pair();
  inject(link, 'a', { seq: b.cb.rcvNxt, flags: TH.ACK, ack: seqAdd(b.cb.sndMax, 1000) });
  assert.equal(link.b.stat.rcvacktoomuch, 1);
  assert.equal(link.b.stat.challengeack, 1);
});

test('PAWS drops a segment with an old timestamp (RFC 7323 5)', () => {
  const { link, a, b } = pair();
  a.cb.send(bytes('fresh'));
  link.run(50);
  assert.equal(b.text(), 'fresh');
  inject(link, 'a', { seq: b.cb.rcvNxt, flags: TH.ACK | TH.PSH, ack: b.cb.sndNxt, ts: [(b.cb.tsRecent - 1000) >>> 0, 0], data: 'stale' });
  assert.equal(b.text(), 'fresh');
  assert.equal(link.b.stat.pawsdrop, 1);
});

test('an unacceptable ACK in SYN-RECEIVED is answered with <SEQ=SEG.ACK><CTL=RST>, no ACK bit (RFC 9293 3.10.7.4)', () => {
  // The handshake's third segment is lost: b stays in SYN_RECEIVED.
  const { link, b } = pair({ drop: (w) => w.from === 'a' && w.r.flags === TH.ACK });
  assert.equal(b.cb.state, TCPS.SYN_RECEIVED);
  const bad = seqAdd(b.cb.sndNxt, 1000);
  inject(link, 'a', { seq: b.cb.rcvNxt, flags: TH.ACK, ack: bad });
  const last = link.log[link.log.length - 1]!;
  assert.equal(last.from, 'b');
  assert.equal(last.r.flags, TH.RST, 'as FreeBSD (syncache_expand fails: tcp_dropwithreset) and Linux answer');
  assert.equal(last.r.seq, bad);
  assert.equal(b.cb.state, TCPS.SYN_RECEIVED, 'the half-open connection survives a forged ACK');
});

test('a duplicate segment is acknowledged with a D-SACK block for it (RFC 2883)', () => {
  const { link, a, b } = pair();
  a.cb.send(bytes('0123456789'));
  link.run(100);
  assert.equal(b.text(), '0123456789');
  const start = seqAdd(b.cb.rcvNxt, -10);
  inject(link, 'a', { seq: start, flags: TH.ACK | TH.PSH, ack: b.cb.sndNxt, ts: [(b.cb.tsRecent + 10) >>> 0, 0], data: '0123456789' });
  const ack = link.log[link.log.length - 1]!;
  assert.equal(ack.from, 'b');
  assert.equal(ack.r.flags, TH.ACK);
  assert.equal(ack.r.sackCount, 1);
  assert.deepEqual([ack.r.sack[0], ack.r.sack[1]], [start, b.cb.rcvNxt]);
  assert.equal(link.b.stat.snddsackopt, 1);
  // Reported once: the next ACK carries no block.
  a.cb.send(bytes('more'));
  link.run(100);
  assert.ok(link.sent('b', TH.ACK).slice(-1)[0]!.r.sackCount === 0);
  // Part old, part new: the old part is reported, the new part taken.
  const rn = b.cb.rcvNxt;
  inject(link, 'a', { seq: seqAdd(rn, -2), flags: TH.ACK | TH.PSH, ack: b.cb.sndNxt, ts: [(b.cb.tsRecent + 20) >>> 0, 0], data: 'reXY' });
  assert.equal(b.text(), '0123456789moreXY');
  const last = link.sent('b', TH.ACK).slice(-1)[0]!;
  assert.deepEqual([last.r.sackCount, last.r.sack[0], last.r.sack[1]], [1, seqAdd(rn, -2), rn]);
});

test('a keepalive probe (one old byte) is acknowledged echoing its timestamp (RFC 7323 4.3, as FreeBSD and Linux)', () => {
  const { link, a, b } = pair();
  a.cb.send(bytes('x'));
  link.run(100);
  link.run(1000);
  const tsv = (b.cb.tsRecent + 500) >>> 0;
  inject(link, 'a', { seq: seqAdd(b.cb.rcvNxt, -1), flags: TH.ACK, ack: b.cb.sndNxt, ts: [tsv, 0], data: 'x' });
  const ack = link.log[link.log.length - 1]!;
  assert.equal(ack.from, 'b');
  assert.equal(ack.r.ack, b.cb.rcvNxt);
  assert.equal(ack.r.tsEcr, tsv);
  // An old duplicate that ends before RCV.NXT does not move TS.Recent.
  inject(link, 'a', { seq: seqAdd(b.cb.rcvNxt, -1), flags: TH.ACK, ack: b.cb.sndNxt, ts: [(tsv + 500) >>> 0, 0], data: '' });
  assert.equal(b.cb.tsRecent, tsv);
});

test('the reassembly queue is bounded against a peer sending tiny out-of-order pieces', () => {
  const { link, b } = pair();
  const base = b.cb.rcvNxt;
  for (let i = 0; i < TCP_REASS_MAXQ + 100; i++) {
    inject(link, 'a', { seq: seqAdd(base, 2 + 2 * i), flags: TH.ACK, data: 'x' });
  }
  assert.equal(b.cb.reass.length, TCP_REASS_MAXQ);
  assert.equal(link.b.stat.rcvreassfull, 100);
  // Filling the first hole delivers the piece behind it, in order.
  inject(link, 'a', { seq: base, flags: TH.ACK, data: 'yz' });
  assert.equal(b.cb.rcvNxt, seqAdd(base, 3));
  assert.equal(b.cb.reass.length, TCP_REASS_MAXQ - 1);
  assert.ok(b.text().endsWith('yzx'));
});

test('delayed ACK: one segment is acknowledged after delacktime, the second at once', () => {
  const { link, a, b } = pair();
  const base = link.sent('b').length;
  a.cb.noDelay = true;
  a.cb.send(bytes('one'));
  link.run(5);
  assert.equal(link.sent('b').length, base, 'ACK delayed');
  link.run(40);
  assert.equal(link.sent('b').length, base + 1);
  assert.equal(link.b.stat.delack, 1);
  a.cb.send(bytes('two'));
  link.run(3);
  a.cb.send(bytes('three'));
  link.run(3);
  assert.equal(link.sent('b').length, base + 2, 'every second segment is acknowledged at once');
  void b;
});

test('Nagle holds small writes while data is unacknowledged; TCP_NODELAY sends them', () => {
  const { link, a } = pair({ delayMs: 50 });
  link.run(200);
  const base = link.sent('a').filter((w) => w.payload > 0).length;
  a.cb.send(bytes('a'));
  a.cb.send(bytes('b'));
  a.cb.send(bytes('c'));
  link.run(1);
  assert.equal(link.sent('a').filter((w) => w.payload > 0).length, base + 1, 'only the first small segment left');
  link.run(300);
  const segs = link.sent('a').filter((w) => w.payload > 0);
  assert.equal(segs[segs.length - 1]!.payload, 2, 'the rest coalesced');
  a.cb.noDelay = true;
  a.cb.send(bytes('d'));
  a.cb.send(bytes('e'));
  link.run(1);
  assert.equal(link.sent('a').filter((w) => w.payload > 0).length, base + 4);
});

test('keepalive probes an idle peer and drops the connection when it is gone', () => {
  const { link, a } = pair({}, (l) => {
    l.a.values.set('net.inet.tcp.keepidle', '10000');
    l.a.values.set('net.inet.tcp.keepintvl', '1000');
    l.a.values.set('net.inet.tcp.keepcnt', '3');
  });
  a.cb.setKeepAlive(true);
  link.run(10_500, 10);
  assert.equal(link.a.stat.keepprobe, 1, 'a live peer answers the first probe');
  assert.equal(a.cb.state, TCPS.ESTABLISHED);
  link.opts = { drop: () => true };
  link.run(30_000, 10);
  assert.equal(a.cb.state, TCPS.CLOSED);
  assert.deepEqual(a.errors, ['ETIMEDOUT']);
  assert.ok(link.a.stat.keepdrops === 1);
});

test('a connection refused by RST in SYN_SENT reports ECONNREFUSED', () => {
  const link = new Link();
  const ca = new TcpCb(link.a);
  const cb = new TcpCb(link.b);
  link.a.cb = ca;
  link.b.cb = cb;
  const a = new Side(ca);
  ca.so = a;
  ca.lport = 1;
  ca.fport = 2;
  ca.connect();
  const syn = link.log[0]!;
  inject(link, 'b', { seq: 0, ack: seqAdd(seq(syn.r.seq), 1), flags: TH.RST | TH.ACK }, ca);
  assert.deepEqual(a.errors, ['ECONNREFUSED']);
  assert.equal(ca.state, TCPS.CLOSED);
});

/** A connect whose segments all vanish, run for its first second. */
function connectIntoTheVoid(): { link: Link; ca: TcpCb; a: Side } {
  const link = new Link({ drop: () => true });
  const ca = new TcpCb(link.a);
  link.a.cb = ca;
  link.b.cb = new TcpCb(link.b);
  const a = new Side(ca);
  ca.so = a;
  ca.connect();
  link.run(1000, 1);
  return { link, ca, a };
}

test('a lost SYN is retransmitted after the initial RTO and connect times out after the retries', () => {
  const { link, a } = connectIntoTheVoid();
  assert.equal(link.sent('a', TH.SYN).length, 2, 'retransmitted at 1 s (net.inet.tcp.rexmit_initial)');
  link.run(200_000, 100);
  assert.deepEqual(a.errors, ['ETIMEDOUT']);
});

test('a connect answered by repeated host unreachables ends with EHOSTUNREACH, not ETIMEDOUT (tcp_notify, tcp_drop)', () => {
  const { link, ca, a } = connectIntoTheVoid();
  ca.softError('EHOSTUNREACH'); // early: kept, not fatal
  assert.equal(ca.state, TCPS.SYN_SENT);
  link.run(200_000, 100);
  assert.deepEqual(a.errors, ['EHOSTUNREACH']);
});

test('host unreachable or port unreachable on an established connection is ignored (tcp_notify, tcp_drop_syn_sent)', () => {
  const { link, a, b } = pair();
  a.cb.softError('EHOSTUNREACH');
  a.cb.softError('ECONNREFUSED');
  assert.equal(a.cb.softErr, null);
  a.cb.send(bytes('still here'));
  link.run(50);
  assert.equal(b.text(), 'still here');
});

test('closing with unread data sends RST (RFC 9293 3.6)', () => {
  const { link, a, b } = pair();
  b.autoRead = false;
  a.cb.send(bytes('unread'));
  link.run(50);
  b.cb.close();
  link.run(5);
  const last = link.sent('b', TH.RST);
  assert.equal(last.length, 1);
  assert.deepEqual(a.errors, ['ECONNRESET']);
});

test('SACK recovery repairs several holes in one window', () => {
  const { link, a, b } = pair();
  const lost = new Set([20, 23, 26]);
  let n = 0;
  link.opts = {
    delayMs: 10,
    drop: (w) => w.from === 'a' && w.payload > 0 && lost.has(n++) && (lost.delete(n - 1) || true),
  };
  const data = pattern(200_000);
  transfer(link, a, data);
  assert.equal(sha(b.bytes()), sha(data));
  assert.ok(link.a.stat.sackrexmitpack >= 3);
  assert.equal(link.a.stat.rexmttimeo, 0, 'recovered without a timeout');
});

test('MSS is clamped to the smaller of both offers', () => {
  const { a, b } = pair({}, (l) => {
    void l;
  });
  assert.equal(a.cb.maxseg, 1460);
  const link2 = new Link();
  const c1 = new TcpCb(link2.a);
  const c2 = new TcpCb(link2.b);
  c1.mssOffer = 9000;
  c2.mssOffer = 1200;
  link2.a.cb = c1;
  link2.b.cb = c2;
  link2.b.listening = true;
  c1.so = new Side(c1);
  c2.so = new Side(c2);
  c1.connect();
  link2.run(10);
  assert.equal(c1.maxseg, 1200);
  assert.equal(c2.maxseg, 1200);
  void b;
});

// ------------------------------------------------------------------ helpers

function mulberry(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Hand-craft a segment from `from` and deliver it to the other side at once. */
function inject(link: Link, from: 'a' | 'b', s: { seq: number; ack?: number; flags: number; ts?: [number, number]; data?: string; sack?: Array<[number, number]> }, target?: TcpCb): void {
  const to = target ?? (from === 'a' ? link.b.cb : link.a.cb);
  const r = {
    srcPort: to.fport,
    dstPort: to.lport,
    seq: s.seq >>> 0,
    ack: (s.ack ?? to.sndNxt) >>> 0,
    flags: s.flags,
    window: 1000,
    urgent: 0,
    mss: 0,
    wscale: -1,
    sackPermitted: false,
    tsPresent: s.ts !== undefined,
    tsVal: s.ts?.[0] ?? 0,
    tsEcr: s.ts?.[1] ?? 0,
    sackCount: s.sack?.length ?? 0,
    sack: Uint32Array.from([...(s.sack ?? []).flat(), 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8)),
  };
  const d = s.data !== undefined ? bytes(s.data) : new Uint8Array(0);
  to.input(r, d, 0, d.length);
}

test('ACKs that carry data but bring new SACK blocks count as duplicates (RFC 6675 2): a peer sending data still gets fast recovery', () => {
  const { link, a, b } = pair();
  link.opts = { drop: (w) => w.from === 'a' }; // what a sends never arrives; the test plays b's answers
  const una = a.cb.sndUna;
  a.cb.send(pattern(8 * a.cb.smss));
  link.run(1);
  assert.ok(seqSub(a.cb.sndMax, una) >= 8 * a.cb.smss, 'a window of eight segments in flight');
  // The first segment was lost; b's replies carry data of its own and SACK the second to fourth.
  let ts = (a.cb.tsRecent + 10) >>> 0;
  for (let k = 1; k <= 3; k++) {
    inject(link, 'b', {
      seq: a.cb.rcvNxt,
      ack: una,
      flags: TH.ACK | TH.PSH,
      ts: [ts++, 0],
      data: `reply ${k}`,
      sack: [[seqAdd(una, a.cb.smss), seqAdd(una, (k + 1) * a.cb.smss)]],
    });
  }
  assert.equal(link.a.stat.fastrexmit, 1, 'fast retransmit on the third');
  assert.equal(link.a.stat.rcvdupack, 3);
  assert.equal(a.text(), 'reply 1reply 2reply 3');
  void b;
});

test('the SACK scoreboard merges blocks in place like a plain interval union (random blocks, across sequence wrap)', () => {
  const rnd = mulberry(11);
  for (let round = 0; round < 200; round++) {
    const { a } = pair();
    const base = (0xffff0000 + Math.floor(rnd() * 0x20000)) >>> 0; // straddles 2^32 about half the time
    const held = new Uint8Array(400);
    for (let k = 0; k < 12; k++) {
      const l = Math.floor(rnd() * 380);
      const r = l + 1 + Math.floor(rnd() * 20);
      tcpSackAdd(a.cb, seqAdd(seq(base), l), seqAdd(seq(base), r));
      held.fill(1, l, r);
    }
    const want: number[] = [];
    for (let x = 0; x < held.length; x++) {
      if (held[x] === 1 && (x === 0 || held[x - 1] === 0)) want.push(seqAdd(seq(base), x));
      if (held[x] === 1 && (x === held.length - 1 || held[x + 1] === 0)) want.push(seqAdd(seq(base), x + 1));
    }
    assert.deepEqual(a.cb.sacked, want, `round ${round}`);
  }
});
