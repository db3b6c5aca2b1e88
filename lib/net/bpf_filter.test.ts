import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BPF_MAXINSNS, BpfProgram, bpfFilter, bpfValidate } from './bpf_filter.js';

type Insn = readonly [number, number, number, number];
const words = (p: readonly Insn[]): Uint32Array => Uint32Array.from(p.flat());
const prog = (p: readonly Insn[]): BpfProgram => {
  const r = BpfProgram.from(words(p));
  if (typeof r === 'string') throw new Error(r);
  return r;
};
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const run = (p: BpfProgram, f: Uint8Array, caplen = f.length): number => bpfFilter(p, f, 0, f.length, caplen);

// Programs as `tcpdump -dd EXPR` prints them (libpcap 1.10, DLT_EN10MB, snaplen 262144).
const GOLDEN: Record<string, Insn[]> = {
  icmp: [[0x28, 0, 0, 0x0c], [0x15, 0, 3, 0x800], [0x30, 0, 0, 0x17], [0x15, 0, 1, 0x01], [0x6, 0, 0, 0x40000], [0x6, 0, 0, 0]],
  arp: [[0x28, 0, 0, 0x0c], [0x15, 0, 1, 0x806], [0x6, 0, 0, 0x40000], [0x6, 0, 0, 0]],
  'tcp port 80 and host 10.0.0.2': [
    [0x28, 0, 0, 0x0c], [0x15, 15, 0, 0x86dd], [0x15, 0, 14, 0x800], [0x30, 0, 0, 0x17], [0x15, 0, 12, 0x06], [0x28, 0, 0, 0x14],
    [0x45, 10, 0, 0x1fff], [0xb1, 0, 0, 0x0e], [0x48, 0, 0, 0x0e], [0x15, 2, 0, 0x50], [0x48, 0, 0, 0x10], [0x15, 0, 5, 0x50],
    [0x20, 0, 0, 0x1a], [0x15, 2, 0, 0x0a000002], [0x20, 0, 0, 0x1e], [0x15, 0, 1, 0x0a000002], [0x6, 0, 0, 0x40000], [0x6, 0, 0, 0],
  ],
  'udp and len > 40': [
    [0x28, 0, 0, 0x0c], [0x15, 0, 2, 0x800], [0x30, 0, 0, 0x17], [0x15, 6, 9, 0x11], [0x15, 0, 8, 0x86dd], [0x30, 0, 0, 0x14],
    [0x15, 3, 0, 0x11], [0x15, 0, 5, 0x2c], [0x30, 0, 0, 0x36], [0x15, 0, 3, 0x11], [0x80, 0, 0, 0], [0x25, 0, 1, 0x28],
    [0x6, 0, 0, 0x40000], [0x6, 0, 0, 0],
  ],
  'tcp[tcpflags] & tcp-syn != 0': [
    [0x28, 0, 0, 0x0c], [0x15, 0, 8, 0x800], [0x30, 0, 0, 0x17], [0x15, 0, 6, 0x06], [0x28, 0, 0, 0x14], [0x45, 4, 0, 0x1fff],
    [0xb1, 0, 0, 0x0e], [0x50, 0, 0, 0x1b], [0x45, 0, 1, 0x02], [0x6, 0, 0, 0x40000], [0x6, 0, 0, 0],
  ],
};

const FRAMES = {
  arp: hex('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002'),
  echo: hex('02000000000202000000000108004500005400644000400126430a0000010a0000020800eeb712340001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637'),
  udp: hex('02000000000202000000000108004500002100074000401126c30a0000010a00000213881770000d7d0768656c6c6f'),
  syn80: hex('02000000000202000000000108004500003c00004000400626ba0a0000010a0000029c400050000f424000000000a002faf056450000020405b40402080a000003e80000000001030307'),
  rst22: hex('02000000000202000000000108004500002800064000400626c80a0000010a0000029c410016000000050000000050040000fe800000'),
};

test('golden programs select exactly the frames their expressions describe', () => {
  const want: Record<string, Array<keyof typeof FRAMES>> = {
    icmp: ['echo'],
    arp: ['arp'],
    'tcp port 80 and host 10.0.0.2': ['syn80'],
    'udp and len > 40': ['udp'],
    'tcp[tcpflags] & tcp-syn != 0': ['syn80'],
  };
  for (const [expr, insns] of Object.entries(GOLDEN)) {
    const p = prog(insns);
    for (const [name, f] of Object.entries(FRAMES)) {
      const accept = want[expr]!.includes(name as keyof typeof FRAMES);
      assert.equal(run(p, f), accept ? 0x40000 : 0, `${expr} on ${name}`);
    }
  }
});

test('a load past the captured bytes rejects the frame instead of reading beyond them', () => {
  const p = prog(GOLDEN['tcp port 80 and host 10.0.0.2']!);
  assert.equal(run(p, FRAMES.syn80, 36), 0); // the port is at 36..37
  assert.equal(run(p, FRAMES.syn80, 37), 0); // half the port
  assert.equal(run(p, FRAMES.syn80, 38), 0x40000); // everything the program reads is there
  assert.equal(run(p, FRAMES.syn80), 0x40000);
  assert.equal(bpfFilter(p, FRAMES.syn80, 0, 74, 75), 0); // caplen longer than the buffer: nothing read
  assert.equal(bpfFilter(p, FRAMES.syn80, -1, 60, 10), 0);
  // ld [x + k] with a huge x, ldb past the end, ldxb past the end
  assert.equal(run(prog([[0x01, 0, 0, 0xffffffff], [0x40, 0, 0, 2], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
  assert.equal(run(prog([[0x30, 0, 0, 42], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
  assert.equal(run(prog([[0x30, 0, 0, 41], [0x6, 0, 0, 1]]), FRAMES.arp), 1);
  assert.equal(run(prog([[0xb1, 0, 0, 42], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
  assert.equal(run(prog([[0x20, 0, 0, 39], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
  assert.equal(run(prog([[0x20, 0, 0, 38], [0x16, 0, 0, 0]]), FRAMES.arp), 0x0a000002);
});

test('every ALU operation, with K and with X, in unsigned 32-bit arithmetic', () => {
  const alu = (op: number, a: number, v: number): number => {
    const k = prog([[0x00, 0, 0, a], [0x04 | op, 0, 0, v], [0x16, 0, 0, 0]]);
    const x = prog([[0x00, 0, 0, a], [0x01, 0, 0, v], [0x0c | op, 0, 0, 0], [0x16, 0, 0, 0]]);
    const rk = run(k, FRAMES.arp);
    assert.equal(run(x, FRAMES.arp), rk, `op 0x${op.toString(16)} K and X agree`);
    return rk;
  };
  assert.equal(alu(0x00, 0xffffffff, 2), 1);
  assert.equal(alu(0x10, 1, 2), 0xffffffff);
  assert.equal(alu(0x20, 0x10000, 0x10001), 0x10000);
  assert.equal(alu(0x30, 0xffffffff, 16), 0x0fffffff);
  assert.equal(alu(0x90, 100, 7), 2);
  assert.equal(alu(0x40, 0xf0, 0x0f), 0xff);
  assert.equal(alu(0x50, 0xf0f0f0f0, 0xff00ff00), 0xf000f000);
  assert.equal(alu(0xa0, 0xffffffff, 0x0f0f0f0f), 0xf0f0f0f0);
  assert.equal(alu(0x60, 1, 31), 0x80000000);
  assert.equal(alu(0x70, 0x80000000, 31), 1);
  assert.equal(run(prog([[0x00, 0, 0, 1], [0x84, 0, 0, 0], [0x16, 0, 0, 0]]), FRAMES.arp), 0xffffffff);
  // Division and modulo by a zero X reject the frame.
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x01, 0, 0, 0], [0x3c, 0, 0, 0], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x01, 0, 0, 0], [0x9c, 0, 0, 0], [0x6, 0, 0, 1]]), FRAMES.arp), 0);
});

test('scratch memory, tax/txa, ld/ldx len, ja, jset and ret x', () => {
  const p = prog([
    [0x80, 0, 0, 0], // A = len
    [0x02, 0, 0, 15], // M[15] = A
    [0x00, 0, 0, 0], // A = 0
    [0x61, 0, 0, 15], // X = M[15]
    [0x87, 0, 0, 0], // A = X
    [0x07, 0, 0, 0], // X = A
    [0x03, 0, 0, 3], // M[3] = X
    [0x60, 0, 0, 3], // A = M[3]
    [0x05, 0, 0, 1], // ja +1
    [0x6, 0, 0, 0], // skipped
    [0x45, 0, 1, 0x20], // jset #0x20 (42 = 0x2a)
    [0x0e, 0, 0, 0], // ret x
    [0x6, 0, 0, 7],
  ]);
  assert.equal(run(p, FRAMES.arp), 42);
  assert.equal(run(prog([[0x81, 0, 0, 0], [0x0e, 0, 0, 0]]), FRAMES.echo), 98);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x1d, 1, 0, 0], [0x6, 0, 0, 1], [0x6, 0, 0, 2]]), FRAMES.arp), 1);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x01, 0, 0, 4], [0x2d, 0, 1, 0], [0x6, 0, 0, 1], [0x6, 0, 0, 2]]), FRAMES.arp), 1);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x01, 0, 0, 5], [0x3d, 0, 1, 0], [0x6, 0, 0, 1], [0x6, 0, 0, 2]]), FRAMES.arp), 1);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x01, 0, 0, 2], [0x4d, 0, 1, 0], [0x6, 0, 0, 1], [0x6, 0, 0, 2]]), FRAMES.arp), 2);
  assert.equal(run(prog([[0x00, 0, 0, 5], [0x35, 0, 1, 5], [0x6, 0, 0, 1], [0x6, 0, 0, 2]]), FRAMES.arp), 1);
});

test('the validator refuses programs that could loop, read outside scratch memory, divide by zero or fall off the end', () => {
  const bad: Array<[string, Insn[]]> = [
    ['empty', []],
    ['no return at the end', [[0x00, 0, 0, 1]]],
    ['ja out of the program', [[0x05, 0, 0, 1], [0x6, 0, 0, 0]]],
    ['ja backwards (wraps)', [[0x05, 0, 0, 0xffffffff], [0x6, 0, 0, 0]]],
    ['jeq past the end', [[0x15, 0, 5, 0], [0x6, 0, 0, 0]]],
    ['jt past the end', [[0x15, 2, 0, 0], [0x6, 0, 0, 0]]],
    ['ld M[16]', [[0x60, 0, 0, 16], [0x6, 0, 0, 0]]],
    ['st M[99]', [[0x02, 0, 0, 99], [0x6, 0, 0, 0]]],
    ['stx M[16]', [[0x03, 0, 0, 16], [0x6, 0, 0, 0]]],
    ['ldx M[16]', [[0x61, 0, 0, 16], [0x6, 0, 0, 0]]],
    ['div #0', [[0x34, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['mod #0', [[0x94, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['unknown alu op', [[0xb4, 0, 0, 1], [0x6, 0, 0, 0]]],
    ['unknown misc', [[0x17, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['unknown ld mode', [[0xe0, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['ldx abs', [[0x21, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['ld msh', [[0xb0, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['ldh imm', [[0x08, 0, 0, 0], [0x6, 0, 0, 0]]],
    ['ret with a bad source', [[0x1e, 0, 0, 0]]],
    ['opcode above 16 bits', [[0x10006, 0, 0, 0]]],
    ['jt above 8 bits', [[0x15, 256, 0, 0], [0x6, 0, 0, 0]]],
  ];
  for (const [why, p] of bad) assert.equal(typeof BpfProgram.from(words(p)), 'string', why);
  assert.notEqual(bpfValidate(new Uint32Array(3)), null);
  assert.notEqual(bpfValidate(new Uint32Array((BPF_MAXINSNS + 1) * 4).fill(6)), null);
  for (const p of Object.values(GOLDEN)) assert.equal(bpfValidate(words(p)), null);
});

test('random programs that pass the validator end, never throw and never read outside the frame', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const codes = [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x0e, 0x15, 0x16, 0x1d, 0x20, 0x25, 0x28, 0x2d, 0x30, 0x35, 0x3d, 0x40, 0x45, 0x48,
    0x4d, 0x50, 0x60, 0x61, 0x80, 0x81, 0x84, 0x87, 0xb1, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64,
    0x6c, 0x74, 0x7c, 0x94, 0x9c, 0xa4, 0xac];
  // A guarded frame: reads outside [off, off+caplen) would see 0xee, which no accepted result depends on here.
  const buf = new Uint8Array(200).fill(0xee);
  buf.set(FRAMES.syn80, 50);
  let valid = 0;
  for (let i = 0; i < 20000; i++) {
    const n = 1 + rnd(20);
    const p: Insn[] = [];
    for (let j = 0; j < n; j++) p.push([codes[rnd(codes.length)]!, rnd(4), rnd(4), rnd(4) === 0 ? rnd(0x100000000) : rnd(80)]);
    if (rnd(8) !== 0) p.push([0x06, 0, 0, rnd(100)]);
    const r = BpfProgram.from(words(p));
    if (typeof r === 'string') continue;
    valid++;
    const v = bpfFilter(r, buf, 50, FRAMES.syn80.length, FRAMES.syn80.length);
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  }
  assert.ok(valid > 1000, `${valid} valid programs`);
});
