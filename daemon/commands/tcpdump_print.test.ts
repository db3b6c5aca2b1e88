import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXPECTED, EXPECTED6, FRAMES, FRAMES6, TRUNCATED } from './tcpdump_golden.js';
import { PacketPrinter, formatTime, hexDump, ip6ToString } from './tcpdump_print.js';

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** What tcpdump -t prints for the frames, in one printer (sequence numbers are relative across frames). */
function decode(frames: ReadonlyArray<readonly [string, string]>, verbose: number, link: boolean, snap = 262144): string {
  const p = new PacketPrinter({ verbose, link });
  return frames.map(([, hex]) => {
    const f = bytes(hex);
    return p.ether(f.subarray(0, Math.min(snap, f.length)), f.length) + '\n';
  }).join('');
}

for (const [flags, verbose, link] of [['-n', 0, false], ['-n -v', 1, false], ['-n -e', 0, true], ['-n -vv', 2, false]] as const) {
  test(`golden frames decode as Linux's tcpdump ${flags} prints them`, () => {
    const want = EXPECTED[flags]!.split('\n');
    const got = decode(FRAMES, verbose, link).split('\n');
    for (let i = 0; i < Math.max(want.length, got.length); i++) assert.equal(got[i], want[i], `line ${i + 1} with ${flags}`);
  });
}

test('IPv6: neighbour discovery, MLD behind a hop-by-hop header, echo, TCP, UDP and unreachable as tcpdump -n prints them', () => {
  assert.equal(decode(FRAMES6, 0, false), EXPECTED6);
});

test('frames cut by the snapshot length print the truncation mark', () => {
  const cut = [FRAMES[9]!, FRAMES[6]!, FRAMES[3]!];
  assert.equal(decode(cut, 0, false, 40), TRUNCATED);
});

test('relative sequence numbers: the SYN and SYN-ACK are absolute, the rest relative to them, per connection', () => {
  const got = decode(FRAMES.slice(6, 13), 0, false).split('\n');
  assert.match(got[0]!, /seq 1000000, win/);
  assert.match(got[1]!, /seq 3000000000, ack 1000001/);
  assert.match(got[2]!, /Flags \[\.\], ack 1, win/);
  assert.match(got[6]!, /Flags \[F\.\], seq 28, ack 39/);
});

test('hostile frames never throw: every prefix of every golden frame, and random bytes', () => {
  const p = new PacketPrinter({ verbose: 2, link: true });
  for (const [, hex] of [...FRAMES, ...FRAMES6]) {
    const f = bytes(hex);
    for (let n = 0; n <= f.length; n++) assert.equal(typeof p.line(0, f.subarray(0, n), f.length), 'string');
  }
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 2000; i++) {
    const f = new Uint8Array(14 + (rnd() % 120));
    for (let j = 0; j < f.length; j++) f[j] = rnd();
    f[12] = [0x08, 0x86, 0x08][i % 3]!;
    f[13] = [0x00, 0xdd, 0x06][i % 3]!;
    if (i % 3 === 0) f[14] = 0x45;
    assert.equal(typeof p.line(0, f, f.length), 'string');
  }
});

test('timestamps are HH:MM:SS.uuuuuu local time', () => {
  const t = new Date(2026, 0, 2, 3, 4, 5).getTime() * 1000 + 6007;
  assert.equal(formatTime(t), '03:04:05.006007');
});

test('hex dump as hex_and_ascii_print', () => {
  const b = Uint8Array.from([0x41, 0x42, 0x00, 0x20, 0x7e]);
  assert.equal(hexDump(b, 0, 5), `\n\t0x0000:  4142 0020 7e${' '.repeat(27)}  AB..~`);
});

test('IPv6 addresses as inet_ntop writes them', () => {
  const a = (s: string): Uint8Array => {
    const out = new Uint8Array(16);
    const [h, t] = s.includes('::') ? s.split('::') : [s, ''];
    const hs = h ? h.split(':') : [];
    const ts = t ? t.split(':') : [];
    const g = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
    g.forEach((x, i) => { out[2 * i] = parseInt(x, 16) >> 8; out[2 * i + 1] = parseInt(x, 16) & 0xff; });
    return out;
  };
  assert.equal(ip6ToString(a('fe80::1'), 0), 'fe80::1');
  assert.equal(ip6ToString(a('::'), 0), '::');
  assert.equal(ip6ToString(a('2001:db8:0:1:0:0:0:1'), 0), '2001:db8:0:1::1');
  assert.equal(ip6ToString(a('2001:db8:0:1:1:1:1:1'), 0), '2001:db8:0:1:1:1:1:1');
});
