/**
 * Filter expressions in tcpdump's language (pcap-filter(7)), compiled by
 * libpcap's own pcap_compile on a dead Ethernet handle
 * (pcap_open_dead(DLT_EN10MB, snaplen)) through the native addon
 * (native/pcap.c, which loads libpcap.so.0.8 at run time), so `tcp port 80
 * and host 10.0.1.2` means exactly what it means to tcpdump. The program is
 * validated before it is used (lib/net/bpf_filter.ts).
 *
 * Errors are BpfCompileErrors: reason 'nolib' when libpcap (or the addon)
 * is missing, with a message that says what to install or build, and
 * 'syntax' with libpcap's own message (`can't parse filter expression:
 * syntax error`, `unknown host 'x'`) when the expression is wrong.
 */

import { binding } from '../native/binding.js';
import { BpfProgram } from './bpf_filter.js';
import { DLT_EN10MB, DLT_NULL } from './bpf.js';

export { DLT_EN10MB, DLT_NULL };
/** AF_INET6 as the libpcap on this host compiles it (Linux's 10) and as FreeBSD's DLT_NULL header carries it (28), in the word `ld [0]` loads. */
const LINUX_AF_INET6_WORD = 0x0a000000;
const FREEBSD_AF_INET6_WORD = 0x1c000000;

/**
 * A DLT_NULL program compiled by Linux's libpcap tests the 4-byte family
 * against Linux's AF_INET6 (10); captures here carry FreeBSD's (28), as
 * FreeBSD's lo0 and gif do. Rewrite the constant of every comparison made
 * right after loading that word (`ld [0]`, BPF_LD|BPF_W|BPF_ABS k=0), in
 * place. AF_INET is 2 on both.
 */
function bsdFamilies(w: Uint32Array): void {
  let family = false;
  for (let i = 0; i + 3 < w.length; i += 4) {
    const code = w[i]!;
    const k = w[i + 3]!;
    if ((code & 0x07) === 0x05 && (code & 0x08) === 0 && family && k === LINUX_AF_INET6_WORD) w[i + 3] = FREEBSD_AF_INET6_WORD;
    if ((code & 0x07) <= 0x01) family = code === 0x20 && k === 0; // a load: is it the family word?
  }
}

interface PcapBinding {
  pcapCompile(expr: string, snaplen: number, linktype: number, optimize: boolean): Uint32Array;
  pcapCompileAsync(expr: string, snaplen: number, linktype: number, optimize: boolean): Promise<Uint32Array>;
}

/** Why compiling failed: libpcap is missing ('nolib') or the expression is wrong ('syntax'). */
export class BpfCompileError extends Error {
  constructor(
    message: string,
    readonly reason: 'nolib' | 'syntax',
  ) {
    super(message);
  }
}

function pcapBinding(): PcapBinding {
  let b: PcapBinding;
  try {
    b = binding() as unknown as PcapBinding;
  } catch (e) {
    throw new BpfCompileError((e as Error).message, 'nolib');
  }
  if (typeof b.pcapCompile !== 'function' || typeof b.pcapCompileAsync !== 'function') {
    throw new BpfCompileError('the native addon has no pcap glue: rebuild it with `npm run build:native`', 'nolib');
  }
  return b;
}

function compileError(e: unknown): BpfCompileError {
  const err = e as Error & { code?: string };
  return new BpfCompileError(err.message, err.code === 'EINVAL' ? 'syntax' : 'nolib');
}

function validated(words: Uint32Array): BpfProgram {
  const p = BpfProgram.from(words);
  if (typeof p === 'string') throw new BpfCompileError(`libpcap produced a program the filter machine refuses: ${p}`, 'syntax');
  return p;
}

/** Raw instructions (4 words each) for `expr`, compiled on the calling thread; throws BpfCompileError. */
export function pcapCompile(expr: string, snaplen: number, optimize = true, linktype: number = DLT_EN10MB): Uint32Array {
  const b = pcapBinding();
  try {
    const w = b.pcapCompile(expr, snaplen, linktype, optimize);
    if (linktype === DLT_NULL) bsdFamilies(w);
    return w;
  } catch (e) {
    throw compileError(e);
  }
}

/**
 * A validated program for `expr`, or null for an empty expression (capture
 * everything). Compiled off the event loop: libpcap resolves a host name
 * in the expression while it compiles, which must not stall the images.
 * Rejects with BpfCompileError.
 */
export async function bpfCompile(expr: string, snaplen: number, linktype: number = DLT_EN10MB): Promise<BpfProgram | null> {
  if (expr.trim() === '') return null;
  const b = pcapBinding();
  let words: Uint32Array;
  try {
    words = await b.pcapCompileAsync(expr, snaplen, linktype, true);
  } catch (e) {
    throw compileError(e);
  }
  if (linktype === DLT_NULL) bsdFamilies(words);
  return validated(words);
}
