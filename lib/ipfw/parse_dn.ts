/**
 * The dummynet configuration grammar (FreeBSD's ipfw_config_pipe in
 * sbin/ipfw/dummynet.c): the words after `ipfw pipe|queue N config`.
 */

import { EX_DATAERR, EX_USAGE, RuleSyntaxError, strtoulStrict } from './parse_tokens.js';

/** What `ipfw pipe|queue N config ...` asked for; absent fields keep their value. */
export interface DnConfigSpec {
  bw?: number;
  delay?: number;
  plr?: number;
  qsize?: number;
  qbytes?: boolean;
  mask?: { proto: number; src: number; dst: number; sport: number; dport: number };
  buckets?: number;
  weight?: number;
  pipe?: number;
}

const DN_UNSUPPORTED = new Set(['red', 'gred', 'ecn', 'codel', 'fq_codel', 'pie', 'fq_pie', 'profile', 'burst', 'type', 'link', 'sched', 'flowset', 'pri', 'priority', 'lmax', 'maxlen', 'sched_mask', 'flow_mask', 'flow-id', 'dst-ipv6', 'dst-ip6', 'src-ipv6', 'src-ip6']);

/** read_bandwidth: `10Mbit/s`, `1MByte/s`, `500K`, `64000`; bits per second. */
function bandwidth(t: string, at: number): number {
  if (/^[a-z]/.test(t)) throw new RuleSyntaxError(`bw ${t}: clocking a pipe from an interface is not supported`, at, EX_DATAERR);
  const m = /^(0[xX][0-9a-fA-F]+|\d+)(.*)$/.exec(t);
  if (m === null) throw new RuleSyntaxError(`bw needs bandwidth or interface`, at, EX_DATAERR);
  let bw = strtoulStrict(m[1]!)!;
  let end = m[2]!;
  const unit = end[0];
  if (unit === 'K' || unit === 'k') {
    bw *= 1000;
    end = end.slice(1);
  } else if (unit === 'M' || unit === 'm') {
    bw *= 1_000_000;
    end = end.slice(1);
  } else if (unit === 'G' || unit === 'g') {
    bw *= 1_000_000_000;
    end = end.slice(1);
  }
  if ((end[0] === 'B' && !end.startsWith('Bi')) || end.startsWith('by')) bw *= 8;
  else if (end !== '' && !/^(bit\/s|Bit\/s|bps|bits?)$/.test(end)) throw new RuleSyntaxError(`bw: bad unit \`\`${t}''; use bit/s or Byte/s with K, M or G`, at, EX_DATAERR);
  if (bw > 0x7fffffff) throw new RuleSyntaxError('bandwidth too large', at, EX_DATAERR);
  return bw;
}

/**
 * ipfw_config_pipe: the words after `config` for `pipe` or `queue`.
 * `limits` are net.inet.ip.dummynet.pipe_slot_limit and pipe_byte_limit.
 */
export function parseDnConfig(kind: 'pipe' | 'queue', tokens: readonly string[], limits: { slots: number; bytes: number }): DnConfigSpec {
  const c: DnConfigSpec = {};
  const isPipe = kind === 'pipe';
  let i = 0;
  const need = (msg: string): string => {
    const t = tokens[i];
    if (t === undefined) throw new RuleSyntaxError(msg, i, EX_USAGE);
    return t;
  };
  const fail = (msg: string, at = i, status = EX_DATAERR): never => {
    throw new RuleSyntaxError(msg, at, status);
  };
  while (i < tokens.length) {
    const tok = tokens[i]!;
    const at = i;
    i++;
    switch (tok) {
      case 'noerror':
      case 'droptail':
        break;
      case 'plr': {
        const t = need('plr needs argument 0..1');
        let d = Number(t);
        if (Number.isNaN(d)) d = parseFloat(t) || 0;
        c.plr = Math.min(1, Math.max(0, d));
        i++;
        break;
      }
      case 'queue': {
        const t = need('queue needs queue size');
        const m = /^(\d+)(.*)$/.exec(t);
        if (m === null) fail(`queue needs queue size`);
        let q = Number(m![1]);
        const rest = m![2]!;
        let bytes = false;
        if (rest[0] === 'K' || rest[0] === 'k') {
          bytes = true;
          q *= 1024;
        } else if (rest[0] === 'B' || rest.startsWith('by')) bytes = true;
        if (bytes && q > limits.bytes) fail(`queue size must be < ${limits.bytes}B`);
        if (!bytes && (q > limits.slots || q < 2)) fail(`2 <= queue size <= ${limits.slots}`);
        c.qsize = q;
        c.qbytes = bytes;
        i++;
        break;
      }
      case 'buckets': {
        const t = need('buckets needs argument');
        const v = strtoulStrict(t);
        if (v === undefined) fail(`buckets needs argument`);
        c.buckets = v;
        i++;
        break;
      }
      case 'mask':
      case 'all': {
        if (tok === 'all') {
          i--;
        }
        const mask = { proto: 0, src: 0, dst: 0, sport: 0, dport: 0 };
        if (i >= tokens.length) fail('mask needs mask specifier', i, EX_USAGE);
        maskLoop: while (i < tokens.length) {
          const w = tokens[i]!;
          i++;
          let field: 'src' | 'dst' | 'sport' | 'dport' | 'proto';
          switch (w) {
            case 'all':
              mask.src = 0xffffffff;
              mask.dst = 0xffffffff;
              mask.sport = 0xffff;
              mask.dport = 0xffff;
              mask.proto = 0xff;
              break maskLoop;
            case 'dst-ip':
              field = 'dst';
              break;
            case 'src-ip':
              field = 'src';
              break;
            case 'dst-port':
              field = 'dport';
              break;
            case 'src-port':
              field = 'sport';
              break;
            case 'proto':
              field = 'proto';
              break;
            default:
              i--;
              break maskLoop;
          }
          const v = tokens[i];
          if (v === undefined) fail('mask: value missing', i, EX_USAGE);
          let a: number | undefined;
          if (v![0] === '/') {
            const n = strtoulStrict(v!.slice(1));
            a = n === undefined || n > 32 ? undefined : n === 32 ? 0xffffffff : (2 ** n - 1) >>> 0;
          } else a = strtoulStrict(v!);
          if (a === undefined) fail(`mask: bad value ${v}`);
          if ((field === 'sport' || field === 'dport') && a! > 0xffff) fail('port mask must be 16 bit');
          if (field === 'proto' && a! > 0xff) fail('proto mask must be 8 bit');
          mask[field] = a! >>> 0;
          i++;
        }
        c.mask = mask;
        break;
      }
      case 'bw':
      case 'bandwidth': {
        if (!isPipe) fail('bw is only for links', at);
        const t = need('bw needs bandwidth or interface');
        c.bw = bandwidth(t, i);
        i++;
        break;
      }
      case 'delay': {
        if (!isPipe) fail('delay is only for links', at);
        const t = need('delay needs argument 0..10000ms');
        const m = /^(\d+)(ms)?$/.exec(t);
        if (m === null) fail(`delay needs argument 0..10000ms`);
        const d = Number(m![1]);
        if (d > 10000) fail('delay must be < 10000');
        c.delay = d;
        i++;
        break;
      }
      case 'weight': {
        const t = need('weight needs argument');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v > 100) fail(`weight must be between 1 and 100: ${t}`);
        c.weight = v;
        i++;
        break;
      }
      case 'pipe': {
        if (isPipe) fail('pipe is only for queues', at);
        const t = need('pipe/link/sched needs number');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v >= 65536) fail(`pipe/link/sched needs number`);
        c.pipe = v;
        i++;
        break;
      }
      default:
        if (DN_UNSUPPORTED.has(tok)) fail(`${tok} is not supported in vimage`, at);
        fail(`unrecognised option \`\`${tok}''`, at);
    }
  }
  return c;
}
