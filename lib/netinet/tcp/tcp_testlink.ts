/**
 * Test harness: two TcpCbs joined by an in-memory link under a manual
 * clock. Segments are really encoded and parsed (the wire codec is part of
 * what is tested); the link can delay, drop, duplicate and reorder them.
 */

import { ManualClock } from '../../clock.js';
import { SysctlValues } from '../../sysctl.js';
import { TH, TcpPacket, emitTcp, newTcpRepr, parseTcp, tcpHeaderLen, type TcpRepr } from '../../wire/tcp.js';
import { TcpCb, type TcpErrno, type TcpHost, type TcpSockHooks } from './tcp_cb.js';
import { tcpStats, type TcpState } from './tcp_var.js';

export interface Wire {
  from: 'a' | 'b';
  bytes: Uint8Array;
  r: TcpRepr;
  payload: number;
}

export interface LinkOptions {
  delayMs?: number;
  /** Return true to drop this segment. */
  drop?: (w: Wire, n: number) => boolean;
  /** Extra delay for this segment (reordering). */
  jitter?: (w: Wire, n: number) => number;
  /** Deliver this segment twice. */
  dup?: (w: Wire, n: number) => boolean;
}

export class Side implements TcpSockHooks {
  readonly received: Uint8Array[] = [];
  events: string[] = [];
  errors: TcpErrno[] = [];
  /** Read data as it arrives (like an application that keeps up). */
  autoRead = true;
  constructor(public cb: TcpCb) {}
  connected(): void {
    this.events.push('connected');
  }
  readable(): void {
    if (this.autoRead) this.read();
    if (this.cb.rcvdFin) this.events.push('eof');
  }
  read(): void {
    let got = false;
    for (let c = this.cb.rcv.read(); c !== null; c = this.cb.rcv.read()) {
      this.received.push(c);
      got = true;
    }
    if (got) this.cb.rcvd();
  }
  writable(): void {}
  error(e: TcpErrno): void {
    this.errors.push(e);
  }
  closed(): void {
    this.events.push('closed');
  }
  text(): string {
    return Buffer.concat(this.received).toString();
  }
  bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

export class TestHost implements TcpHost {
  readonly stat = tcpStats.create();
  readonly values = new SysctlValues();
  peer!: TestHost;
  cb!: TcpCb;
  readonly states: TcpState[] = [];
  detached = false;
  /** A listener stands behind this host: a SYN to a CLOSED cb opens it passively. */
  listening = false;
  constructor(
    readonly name: 'a' | 'b',
    readonly link: Link,
  ) {}
  get sysctl(): readonly number[] {
    return this.values.v;
  }
  now(): number {
    return this.link.clock.now();
  }
  after(ms: number, fn: () => void) {
    return this.link.clock.after(ms, fn);
  }
  random(): number {
    return this.link.random(this.name);
  }
  /** The test chooses the ISN (Link.isn) and the timestamp offset follows it, as when both were random. */
  newIsn(): number {
    return Math.floor(this.random() * 0x100000000);
  }
  tsOffset(): number {
    return Math.floor(this.random() * 0x100000000);
  }
  output(cb: TcpCb, r: TcpRepr, off: number, len: number): void {
    const hl = tcpHeaderLen(r);
    const bytes = new Uint8Array(hl + len);
    emitTcp(r, bytes, 0);
    if (len > 0) cb.snd.copyOut(off, len, bytes, hl);
    this.link.send({ from: this.name, bytes, r: { ...r, sack: r.sack.slice() }, payload: len });
  }
  detach(): void {
    this.detached = true;
  }
  established(): void {}
  stateChange(_cb: TcpCb, _from: TcpState, to: TcpState): void {
    this.states.push(to);
  }
}

export class Link {
  readonly clock = new ManualClock();
  readonly log: Wire[] = [];
  readonly a: TestHost;
  readonly b: TestHost;
  opts: LinkOptions;
  private n = 0;
  /** Initial sequence numbers come from these (0..1). */
  isn: Record<'a' | 'b', number> = { a: 0.25, b: 0.75 };

  constructor(opts: LinkOptions = {}) {
    this.opts = opts;
    this.a = new TestHost('a', this);
    this.b = new TestHost('b', this);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  random(who: 'a' | 'b'): number {
    return this.isn[who];
  }

  send(w: Wire): void {
    const n = this.n++;
    this.log.push(w);
    if (this.opts.drop?.(w, n) === true) return;
    const delay = (this.opts.delayMs ?? 1) + (this.opts.jitter?.(w, n) ?? 0);
    const copies = this.opts.dup?.(w, n) === true ? 2 : 1;
    for (let i = 0; i < copies; i++) this.clock.after(delay, () => this.deliver(w));
  }

  private deliver(w: Wire): void {
    const to = w.from === 'a' ? this.b : this.a;
    const cb = to.cb;
    const v = new TcpPacket().reset(w.bytes, 0, w.bytes.length);
    if (v.check() !== 'ok') throw new Error('bad segment on the link');
    const r = parseTcp(v, newTcpRepr());
    // A CLOSED endpoint with a listener behind it: a SYN opens it passively.
    if (cb.state === 0 && (r.flags & (TH.SYN | TH.ACK | TH.RST)) === TH.SYN && to.listening) {
      cb.acceptSyn(r);
      return;
    }
    cb.input(r, w.bytes, v.headerLen, v.payloadLength);
  }

  /** Segments sent by `from` with these flags set. */
  sent(from: 'a' | 'b', flags = 0): Wire[] {
    return this.log.filter((w) => w.from === from && (w.r.flags & flags) === flags);
  }

  run(ms: number, step = 1): void {
    for (let t = 0; t < ms; t += step) this.clock.advance(step);
  }
}

/** A connected pair: a connects to b (listening). Options are set before the handshake. */
export function pair(opts: LinkOptions = {}, setup?: (l: Link) => void): { link: Link; a: Side; b: Side } {
  const link = new Link(opts);
  setup?.(link);
  const ca = new TcpCb(link.a);
  const cbb = new TcpCb(link.b);
  for (const [cb, lp, fp] of [
    [ca, 40000, 80],
    [cbb, 80, 40000],
  ] as const) {
    cb.lport = lp;
    cb.fport = fp;
    cb.mssOffer = 1460;
  }
  link.a.cb = ca;
  link.b.cb = cbb;
  link.b.listening = true;
  const a = new Side(ca);
  const b = new Side(cbb);
  ca.so = a;
  cbb.so = b;
  ca.connect();
  link.run(10);
  return { link, a, b };
}
