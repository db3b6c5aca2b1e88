/**
 * The classic BPF machine (FreeBSD's bpf_filter.c, McCanne and Jacobson
 * 1993): the program libpcap's pcap_compile makes of a tcpdump expression,
 * run on each frame a capture sees.
 *
 * A program is validated once (`bpfValidate`, as FreeBSD's bpf_validate):
 * known opcodes only, jumps forward and inside the program, scratch memory
 * indexes below BPF_MEMWORDS, no division by a constant zero, a return as
 * the last instruction. A valid program cannot loop (every jump goes
 * forward) and runs at most `length` instructions; every packet load is
 * bounds-checked against the captured bytes, and a load outside them
 * rejects the packet (returns 0), as the kernel does. Division or modulo by
 * a zero X also returns 0. Nothing here throws or allocates per packet.
 *
 * Instructions are kept as four 32-bit words each (code, jt, jf, k), the
 * layout the native compiler returns.
 */

export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

// Instruction classes and fields (net/bpf.h).
export const BPF = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  W: 0x00,
  H: 0x08,
  B: 0x10,
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  K: 0x00,
  X: 0x08,
  A: 0x10,
  TAX: 0x00,
  TXA: 0x80,
} as const;

/** A validated program with its scratch memory (one per capture; the machine is not re-entrant per program). */
export class BpfProgram {
  readonly insns: Uint32Array;
  readonly length: number;
  readonly mem = new Uint32Array(BPF_MEMWORDS);

  private constructor(insns: Uint32Array) {
    this.insns = insns;
    this.length = insns.length >>> 2;
  }

  /** The program, or the reason it is refused. */
  static from(insns: Uint32Array): BpfProgram | string {
    const why = bpfValidate(insns);
    return why === null ? new BpfProgram(insns) : why;
  }
}

/** Why `insns` is not a safe program, or null when it is. */
export function bpfValidate(insns: Uint32Array): string | null {
  if (insns.length % 4 !== 0) return 'program is not a whole number of instructions';
  const n = insns.length >>> 2;
  if (n === 0) return 'empty program';
  if (n > BPF_MAXINSNS) return `program longer than ${BPF_MAXINSNS} instructions`;
  for (let pc = 0; pc < n; pc++) {
    const code = insns[pc * 4]!;
    const jt = insns[pc * 4 + 1]!;
    const jf = insns[pc * 4 + 2]!;
    const k = insns[pc * 4 + 3]!;
    if (code > 0xffff || jt > 0xff || jf > 0xff) return `instruction ${pc}: field out of range`;
    switch (code & 0x07) {
      case BPF.LD:
      case BPF.LDX: {
        const mode = code & 0xe0;
        const size = code & 0x18;
        if (code & 0x07) {
          // LDX: W with IMM, MEM, LEN; B with MSH.
          if (!((size === BPF.W && (mode === BPF.IMM || mode === BPF.MEM || mode === BPF.LEN)) || (size === BPF.B && mode === BPF.MSH))) {
            return `instruction ${pc}: bad ldx 0x${code.toString(16)}`;
          }
        } else if (size === 0x18 || !(mode === BPF.IMM || mode === BPF.ABS || mode === BPF.IND || mode === BPF.MEM || mode === BPF.LEN)) {
          return `instruction ${pc}: bad ld 0x${code.toString(16)}`;
        } else if ((mode === BPF.IMM || mode === BPF.MEM || mode === BPF.LEN) && size !== BPF.W) {
          return `instruction ${pc}: bad ld 0x${code.toString(16)}`;
        }
        if (mode === BPF.MEM && k >= BPF_MEMWORDS) return `instruction ${pc}: scratch index ${k} out of range`;
        if (code & ~0xff) return `instruction ${pc}: bad opcode 0x${code.toString(16)}`;
        break;
      }
      case BPF.ST:
      case BPF.STX:
        if (code & ~0x07) return `instruction ${pc}: bad store 0x${code.toString(16)}`;
        if (k >= BPF_MEMWORDS) return `instruction ${pc}: scratch index ${k} out of range`;
        break;
      case BPF.ALU: {
        const op = code & 0xf0;
        if (code & ~0xff || op > BPF.XOR) return `instruction ${pc}: bad alu 0x${code.toString(16)}`;
        if (op === BPF.NEG && (code & BPF.X)) return `instruction ${pc}: bad alu 0x${code.toString(16)}`;
        if ((op === BPF.DIV || op === BPF.MOD) && (code & BPF.X) === 0 && k === 0) return `instruction ${pc}: division by zero`;
        break;
      }
      case BPF.JMP: {
        const op = code & 0xf0;
        if (code & ~0xff) return `instruction ${pc}: bad jump 0x${code.toString(16)}`;
        if (op === BPF.JA) {
          if (code & BPF.X) return `instruction ${pc}: bad jump 0x${code.toString(16)}`;
          if (k >= n - pc - 1) return `instruction ${pc}: jump out of the program`;
        } else if (op === BPF.JEQ || op === BPF.JGT || op === BPF.JGE || op === BPF.JSET) {
          if (pc + 1 + jt >= n || pc + 1 + jf >= n) return `instruction ${pc}: jump out of the program`;
        } else {
          return `instruction ${pc}: bad jump 0x${code.toString(16)}`;
        }
        break;
      }
      case BPF.RET: {
        const src = code & 0x18;
        if (code & ~0x1e || src === 0x18) return `instruction ${pc}: bad ret 0x${code.toString(16)}`;
        break;
      }
      case BPF.MISC:
        if (code !== (BPF.MISC | BPF.TAX) && code !== (BPF.MISC | BPF.TXA)) return `instruction ${pc}: bad misc 0x${code.toString(16)}`;
        break;
    }
  }
  const last = insns[(n - 1) * 4]! & 0x07;
  return last === BPF.RET ? null : 'program does not end with a return';
}

/**
 * Run `p` on the frame buf[off, off+caplen) whose length on the wire is
 * `wirelen`. Returns how many bytes to keep (0: reject), as bpf_filter(9).
 */
export function bpfFilter(p: BpfProgram, buf: Uint8Array, off: number, wirelen: number, caplen: number): number {
  const ins = p.insns;
  const mem = p.mem;
  const n = p.length;
  if (off < 0 || caplen < 0 || off + caplen > buf.length) return 0;
  let a = 0;
  let x = 0;
  let pc = 0;
  while (pc < n) {
    const i = pc * 4;
    const code = ins[i]!;
    const k = ins[i + 3]!;
    pc++;
    switch (code) {
      case 0x06: // ret k
        return k;
      case 0x16: // ret a
        return a;
      case 0x0e: // ret x
        return x;
      case 0x20: // ld [k]
      case 0x40: {
        // ld [x + k]
        const at = code === 0x20 ? k : x + k;
        if (at > caplen - 4 || caplen < 4) return 0;
        const o = off + at;
        a = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
        break;
      }
      case 0x28: // ldh [k]
      case 0x48: {
        const at = code === 0x28 ? k : x + k;
        if (at > caplen - 2 || caplen < 2) return 0;
        a = (buf[off + at]! << 8) | buf[off + at + 1]!;
        break;
      }
      case 0x30: // ldb [k]
      case 0x50: {
        const at = code === 0x30 ? k : x + k;
        if (at >= caplen) return 0;
        a = buf[off + at]!;
        break;
      }
      case 0x80: // ld #len
        a = wirelen >>> 0;
        break;
      case 0x81: // ldx #len
        x = wirelen >>> 0;
        break;
      case 0x00: // ld #k
        a = k;
        break;
      case 0x01: // ldx #k
        x = k;
        break;
      case 0x60: // ld M[k]
        a = mem[k]!;
        break;
      case 0x61: // ldx M[k]
        x = mem[k]!;
        break;
      case 0xb1: // ldxb 4*([k]&0xf)
        if (k >= caplen) return 0;
        x = (buf[off + k]! & 0xf) << 2;
        break;
      case 0x02: // st M[k]
        mem[k] = a;
        break;
      case 0x03: // stx M[k]
        mem[k] = x;
        break;
      case 0x05: // ja
        pc += k;
        break;
      case 0x15: // jeq #k
        pc += a === k ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x25: // jgt #k
        pc += a > k ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x35: // jge #k
        pc += a >= k ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x45: // jset #k
        pc += (a & k) !== 0 ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x1d: // jeq x
        pc += a === x ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x2d:
        pc += a > x ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x3d:
        pc += a >= x ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x4d:
        pc += (a & x) !== 0 ? ins[i + 1]! : ins[i + 2]!;
        break;
      case 0x07: // tax
        x = a;
        break;
      case 0x87: // txa
        a = x;
        break;
      case 0x84: // neg
        a = -a >>> 0;
        break;
      default: {
        if ((code & 0x07) !== BPF.ALU) return 0; // bpfValidate refuses these; never reached
        const v = (code & BPF.X) !== 0 ? x : k;
        switch (code & 0xf0) {
          case BPF.ADD:
            a = (a + v) >>> 0;
            break;
          case BPF.SUB:
            a = (a - v) >>> 0;
            break;
          case BPF.MUL:
            a = Math.imul(a, v) >>> 0;
            break;
          case BPF.DIV:
            if (v === 0) return 0;
            a = Math.floor(a / v) >>> 0;
            break;
          case BPF.MOD:
            if (v === 0) return 0;
            a = a % v >>> 0;
            break;
          case BPF.OR:
            a = (a | v) >>> 0;
            break;
          case BPF.AND:
            a = (a & v) >>> 0;
            break;
          case BPF.XOR:
            a = (a ^ v) >>> 0;
            break;
          case BPF.LSH:
            a = v >= 32 ? 0 : (a << v) >>> 0;
            break;
          case BPF.RSH:
            a = v >= 32 ? 0 : a >>> v;
            break;
          default:
            return 0;
        }
      }
    }
  }
  return 0;
}
