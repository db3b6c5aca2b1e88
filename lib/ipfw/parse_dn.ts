/**
 * The dummynet configuration grammar (FreeBSD 14's ipfw_config_pipe and
 * process_extra_parms in sbin/ipfw/dummynet.c), shared by `ipfw` and
 * `dnctl`: the words after `pipe|queue|sched N config`.
 */

import { EX_DATAERR, EX_USAGE, RuleSyntaxError, strtoulStrict } from './parse_tokens.js';
import type { PipeConfig } from './dn_private.js';
import { SCHED_TYPE_NAMES, schedType as findSchedType } from './dn_sched_all.js';
import { codelDefaults, fqDefaults, pieDefaults, type CodelParams, type FqParams, type PieParams, type RedParams } from './dn_params.js';

/**
 * What `pipe|queue|sched N config ...` asked for; absent fields keep their
 * value. `profileFile` names a delay profile that the caller reads (with
 * parseProfile) into `profile`.
 */
export interface DnConfigSpec extends PipeConfig {
  profileFile?: string;
}

export type DnKind = 'pipe' | 'queue' | 'sched';

const DN_UNSUPPORTED = new Set(['link', 'flowset', 'flow-id', 'dst-ipv6', 'dst-ip6', 'src-ipv6', 'src-ip6']);

/**
 * read_bandwidth: a number (decimal or 0x hex), an optional K, M or G
 * (x1000) and a unit: none, `b`, `bit`, `bits`, `bit/s`, `bps` are bits per
 * second; `B`, `Byte`, `Bytes`, `Byte/s`, `bytes`, `Bps` are bytes (x8),
 * told apart as FreeBSD does ('B' not followed by 'i', or 'by'). Bits per
 * second; throws RuleSyntaxError pointing at token `at`.
 */
export function parseBandwidth(t: string, at = 0): number {
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
  if (!/^(|b|bits?|bits?\/s|bps|Bits?|Bits?\/s|B|Bps|Bytes?|Bytes?\/s|bytes?|bytes?\/s)$/.test(end)) {
    throw new RuleSyntaxError(`bw: bad unit \`\`${t}''; use bit/s or Byte/s with K, M or G`, at, EX_DATAERR);
  }
  if ((end[0] === 'B' && !end.startsWith('Bi')) || end.startsWith('by')) bw *= 8;
  if (bw > 0x7fffffff) throw new RuleSyntaxError('bandwidth too large', at, EX_DATAERR);
  return bw;
}

/** time_to_us: `5ms`, `100us`, `1.5s`, `20` (ms); microseconds, or -1. */
export function timeToUs(s: string): number {
  const m = /^(\d+\.?\d*|\.\d+)(us|ms|s)?$/i.exec(s);
  if (m === null || s.length > 15) return -1;
  const v = Number(m[1]);
  const u = (m[2] ?? 'ms').toLowerCase();
  return Math.round(u === 'us' ? v : u === 'ms' ? v * 1000 : v * 1_000_000);
}

/** expand_number(3): digits, an optional k, m, g, t, p or e (powers of 1024), an optional B. */
export function expandNumber(s: string): number | undefined {
  const m = /^(\d+)([kmgtpe]?)b?$/i.exec(s);
  if (m === null) return undefined;
  const pow = ' kmgtpe'.indexOf((m[2] || ' ').toLowerCase());
  return Number(m[1]) * 1024 ** pow;
}

const isNum = (s: string | undefined): boolean => s !== undefined && /^(\d+\.?\d*|\.\d+)$/.test(s);

/**
 * ipfw_config_pipe: the words after `config` for `pipe`, `queue` or
 * `sched`. `limits` are net.inet.ip.dummynet.pipe_slot_limit and
 * pipe_byte_limit.
 */
export function parseDnConfig(kind: DnKind, tokens: readonly string[], limits: { slots: number; bytes: number }): DnConfigSpec {
  const c: DnConfigSpec = {};
  const isPipe = kind === 'pipe';
  const isSched = kind === 'sched';
  const hasFs = !isSched;
  let ecn = false;
  let i = 0;
  const need = (msg: string): string => {
    const t = tokens[i];
    if (t === undefined) throw new RuleSyntaxError(msg, i, EX_USAGE);
    return t;
  };
  const fail = (msg: string, at = i, status = EX_DATAERR): never => {
    throw new RuleSyntaxError(msg, at, status);
  };
  const time = (what: string, lo: number, hi: number): number => {
    const t = tokens[i];
    const us = t === undefined ? -1 : timeToUs(t);
    if (us < 0) fail(`${what} needs a time (e.g. 5ms, 100us, 1s)`);
    if (us < lo || us > hi) fail(`${what} must be between ${lo}us and ${hi}us: ${t}`);
    i++;
    return us;
  };
  const num = (what: string, lo: number, hi: number, int = true): number => {
    const t = tokens[i];
    if (!isNum(t) || (int && !/^\d+$/.test(t!))) fail(`${what} needs number`);
    const v = Number(t);
    if (v < lo || v > hi) fail(`${what} must be between ${lo} and ${hi}: ${t}`);
    i++;
    return v;
  };
  /** codel's and fq_codel's words, up to the first that is not one. */
  const codelParms = (p: CodelParams, fq: FqParams | null): void => {
    for (;;) {
      const w = tokens[i];
      i++;
      if (w === 'target') p.target = time('target', 1, 5_000_000);
      else if (w === 'interval') p.interval = time('interval', 1000, 100_000_000);
      else if (w === 'ecn') p.ecn = true;
      else if (w === 'noecn') p.ecn = false;
      else if (fq !== null && fqParm(w, fq)) continue;
      else {
        i--;
        return;
      }
    }
  };
  const fqParm = (w: string | undefined, fq: FqParams): boolean => {
    if (w === 'quantum') fq.quantum = num('quantum', 1, 9000);
    else if (w === 'limit') fq.limit = num('limit', 1, 20480);
    else if (w === 'flows') fq.flows = num('flows', 1, 65536);
    else return false;
    return true;
  };
  const pieParms = (p: PieParams, fq: FqParams | null): void => {
    for (;;) {
      const w = tokens[i];
      i++;
      if (w === 'target') p.target = time('target', 1, 5_000_000);
      else if (w === 'tupdate') p.tupdate = time('tupdate', 1, 5_000_000);
      else if (w === 'max_burst') p.maxBurst = time('max_burst', 0, 10_000_000);
      else if (w === 'max_ecnth') p.maxEcnth = num('max_ecnth', 0, 1, false);
      else if (w === 'alpha') p.alpha = num('alpha', 0, 7.99, false);
      else if (w === 'beta') p.beta = num('beta', 0, 7.99, false);
      else if (w === 'ecn' || w === 'noecn') p.ecn = w === 'ecn';
      else if (w === 'capdrop' || w === 'nocapdrop') p.capdrop = w === 'capdrop';
      else if (w === 'onoff') p.onoff = true;
      else if (w === 'dre' || w === 'ts') p.dre = w === 'dre';
      else if (w === 'derand' || w === 'noderand') p.derand = w === 'derand';
      else if (fq !== null && fqParm(w, fq)) continue;
      else {
        i--;
        return;
      }
    }
  };
  const schedType = (t: string): void => {
    if (findSchedType(t) === undefined) fail(`unknown scheduler type ${t}: one of ${SCHED_TYPE_NAMES.join(', ')}`, i - 1);
    c.type = t.toLowerCase();
    if (c.type === 'fq_codel') {
      const codel = codelDefaults();
      const fq = fqDefaults();
      codelParms(codel, fq);
      c.sched = { codel, fq };
    } else if (c.type === 'fq_pie') {
      const pie = pieDefaults();
      const fq = fqDefaults();
      pieParms(pie, fq);
      c.sched = { pie, fq };
    }
  };
  while (i < tokens.length) {
    const tok = tokens[i]!;
    const at = i;
    i++;
    switch (tok) {
      case 'noerror':
        if (!hasFs) fail('noerror is only for pipes', at);
        break;
      case 'droptail':
        if (!hasFs) fail('droptail is only for flowsets', at);
        c.aqm = null;
        break;
      case 'plr': {
        if (!hasFs) fail('plr is only for pipes', at);
        const t = need('plr needs argument 0..1');
        let d = Number(t);
        if (Number.isNaN(d)) d = parseFloat(t) || 0;
        c.plr = Math.min(1, Math.max(0, d));
        i++;
        break;
      }
      case 'queue': {
        if (!hasFs) fail('queue is only for pipes or flowsets', at);
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
      case 'sched_mask':
      case 'flow_mask':
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
        c.bw = parseBandwidth(t, i);
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
      case 'burst': {
        if (!isPipe) fail('burst is only for links', at);
        const t = need('burst needs argument');
        const v = expandNumber(t);
        if (v === undefined) fail('burst: invalid argument');
        if (v! > 2 ** 48 - 1) fail('burst: out of range (0..2^48-1)');
        c.burst = v!;
        i++;
        break;
      }
      case 'profile': {
        if (!isPipe) fail('profile is only for links', at);
        if (c.profileFile !== undefined) fail('profile already set', at);
        c.profileFile = need('extra delay needs the file name');
        i++;
        break;
      }
      case 'weight': {
        if (!hasFs) fail('weight is only for flowsets', at);
        const t = need('weight needs argument');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v > 100) fail(`weight must be between 1 and 100: ${t}`);
        c.weight = v;
        i++;
        break;
      }
      case 'lmax':
      case 'maxlen': {
        if (!hasFs) fail('lmax is only for flowsets', at);
        const t = need('lmax needs argument');
        const v = strtoulStrict(t);
        if (v === undefined || v > 65535) fail(`lmax needs a number up to 65535: ${t}`);
        c.lmax = v;
        i++;
        break;
      }
      case 'pri':
      case 'priority': {
        if (!hasFs) fail('priority is only for flowsets', at);
        const t = need('priority needs argument');
        const v = strtoulStrict(t);
        if (v === undefined || v > 255) fail(`priority needs a number up to 255: ${t}`);
        c.pri = v;
        i++;
        break;
      }
      case 'pipe':
      case 'sched': {
        if (isPipe) fail('pipe is only for queues', at);
        const t = need('pipe/link/sched needs number');
        const v = strtoulStrict(t);
        if (v === undefined || v < 1 || v >= 65536) fail(`pipe/link/sched needs number`);
        if (!isSched) c.pipe = v;
        i++;
        break;
      }
      case 'type': {
        // A pipe has scheduler N too (ipfw_config_pipe makes one for `pipe N config`).
        if (!isSched && !isPipe) fail('type is only for schedulers', at);
        const t = need('type needs a string');
        if (t.length === 0 || t.length > 15) fail(`type ${t} too long`);
        i++;
        schedType(t);
        break;
      }
      case 'fq_codel':
      case 'fq_pie':
        if (!isSched && !isPipe) fail('fq_codel/fq_pie is only for schd', at);
        schedType(tok);
        break;
      case 'codel': {
        if (!hasFs) fail('codel/pie is only for flowsets', at);
        const p = codelDefaults();
        codelParms(p, null);
        c.aqm = { kind: 'codel', ...p };
        break;
      }
      case 'pie': {
        if (!hasFs) fail('codel/pie is only for flowsets', at);
        const p = pieDefaults();
        pieParms(p, null);
        c.aqm = { kind: 'pie', ...p };
        break;
      }
      case 'red':
      case 'gred': {
        if (!hasFs) fail('red/gred is only for flowsets', at);
        const t = need('red/gred needs w_q/min_th/max_th/max_p');
        c.aqm = { kind: 'red', ...red(t, tok === 'gred', fail) };
        i++;
        break;
      }
      case 'ecn':
        ecn = true;
        break;
      default:
        if (DN_UNSUPPORTED.has(tok)) fail(`${tok} is not supported in vimage`, at);
        fail(`unrecognised option \`\`${tok}''`, at);
    }
  }
  if (ecn) {
    const a = c.aqm;
    if (a === undefined || a === null) fail('ECN can be used with red/gred/codel/fq_codel only!', tokens.indexOf('ecn'), EX_USAGE);
    a!.ecn = true;
  }
  const a = c.aqm;
  if (a && a.kind === 'red') {
    if (!a.ecn && a.minTh >= a.maxTh) fail(`min_th ${a.minTh} must be < than max_th ${a.maxTh}`, tokens.indexOf(a.gentle ? 'gred' : 'red') + 1);
    if (a.maxTh === 0) fail('max_th must be > 0', tokens.indexOf(a.gentle ? 'gred' : 'red') + 1);
  }
  return c;
}

/** `w_q/min_th/max_th/max_p` (thresholds may end in K: x1024). */
function red(t: string, gentle: boolean, fail: (msg: string) => never): RedParams {
  const parts = t.split('/');
  if (parts.length !== 4) fail('red/gred needs w_q/min_th/max_th/max_p');
  const [a, b, c, d] = parts as [string, string, string, string];
  const wq = Number(a);
  if (!isNum(a) || wq > 1 || wq <= 0) fail('0 < w_q <= 1');
  const th = (s: string): number => {
    const m = /^(\d+)([kK]?)$/.exec(s);
    if (m === null) fail(`red/gred: bad threshold ${s}`);
    return Number(m![1]) * (m![2] === '' ? 1 : 1024);
  };
  const maxP = Number(d);
  if (!isNum(d) || maxP > 1 || maxP < 0) fail('0 <= max_p <= 1');
  return { wq, minTh: th(b), maxTh: th(c), maxP, gentle, ecn: false };
}
