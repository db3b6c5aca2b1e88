/**
 * dummynet's settings as plain values: the AQM of a flowset (RED/GRED,
 * CoDel, PIE), the parameters of a scheduler type (fq_codel, fq_pie) and
 * the empirical delay profile of a link, with FreeBSD 14's defaults
 * (sys/netpfil/ipfw/dn_aqm_codel.c, dn_aqm_pie.c, dn_sched_fq_codel.c,
 * dn_sched_fq_pie.c) and the profile file reader (sbin/ipfw/dummynet.c
 * load_extra_delays). Times are microseconds, as FreeBSD keeps them.
 */

/** CoDel (`codel [target T] [interval I] [ecn|noecn]`). */
export interface CodelParams {
  target: number;
  interval: number;
  ecn: boolean;
}

/** PIE (`pie [target T] [tupdate T] [alpha A] [beta B] [max_burst T] [max_ecnth P] [ecn|noecn] [capdrop|nocapdrop] [onoff] [dre|ts] [derand|noderand]`). */
export interface PieParams {
  target: number;
  tupdate: number;
  maxBurst: number;
  maxEcnth: number;
  alpha: number;
  beta: number;
  ecn: boolean;
  capdrop: boolean;
  onoff: boolean;
  dre: boolean;
  derand: boolean;
}

/** RED/GRED (`red|gred w_q/min_th/max_th/max_p`); thresholds in the queue's unit (slots or bytes). */
export interface RedParams {
  wq: number;
  minTh: number;
  maxTh: number;
  maxP: number;
  gentle: boolean;
  ecn: boolean;
}

export type AqmConfig = ({ kind: 'red' } & RedParams) | ({ kind: 'codel' } & CodelParams) | ({ kind: 'pie' } & PieParams);

/** The fq_* schedulers' own parameters (others have none). */
export interface FqParams {
  quantum: number;
  limit: number;
  flows: number;
}

export interface SchedParams {
  codel?: CodelParams;
  pie?: PieParams;
  fq?: FqParams;
}

/** `profile FILE`: extra delay drawn from an empirical distribution (FreeBSD's dn_profile). */
export interface DnProfile {
  name: string;
  /** Delay in ms of each of `samples.length` equally likely slots. */
  samples: number[];
  /** Slots at and above this index lose the packet (loss-level x samples). */
  lossLevel: number;
  /** `bw` given in the file (bits/s), or undefined. */
  bw?: number;
}

export const AQM_MS = 1000;

export function codelDefaults(): CodelParams {
  return { target: 5 * AQM_MS, interval: 100 * AQM_MS, ecn: false };
}

/** dn_aqm_pie.c pie_sysctl: CapDrop, DRE and Derand on. */
export function pieDefaults(): PieParams {
  return { target: 15 * AQM_MS, tupdate: 15 * AQM_MS, maxBurst: 150 * AQM_MS, maxEcnth: 0.1, alpha: 0.125, beta: 1.25, ecn: false, capdrop: true, onoff: false, dre: true, derand: true };
}

/** fq_codel: quantum 1514, limit 10240, flows 1024 (dn_sched_fq_codel.c fq_codel_sysctl); fq_pie the same. */
export function fqDefaults(): FqParams {
  return { quantum: 1514, limit: 10240, flows: 1024 };
}

/** The first `n` characters of a name in the profile (ED_MAX_NAME_LEN is 32). */
const ED_MAX_NAME_LEN = 32;
const ED_MAX_SAMPLES_NO = 1024;
const ED_MIN_SAMPLES_NO = 2;

/** A profile file that does not parse: FreeBSD's message, with file and line. */
export class ProfileError extends Error {}

const isNum = (s: string): boolean => /^\d*\.?\d*$/.test(s) && /\d/.test(s);

/**
 * Read a profile file's text as FreeBSD's load_extra_delays does: lines
 * `name N`, `samples N`, `loss-level L`, `bw B`, then `prob delay` or
 * `delay prob` and two or more points; `#` starts a comment. Points are
 * sorted and interpolated into `samples` slots. `bandwidth` parses a `bw`
 * line. Throws ProfileError; `warn` gets FreeBSD's warnings.
 */
export function parseProfile(text: string, filename: string, bandwidth: (t: string) => number, warn: (msg: string) => void = () => {}): DnProfile {
  let samples = -1;
  let loss = -1;
  let name = '';
  let delayFirst = false;
  let doPoints = false;
  let bw: number | undefined;
  const points: Array<{ prob: number; delay: number }> = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const lineno = n + 1;
    const err = (msg: string): never => {
      throw new ProfileError(`error in ${filename} at line ${lineno}: ${msg}`);
    };
    const words: string[] = [];
    for (const w of lines[n]!.split(/[ \t\r]+/)) {
      if (w === '') continue;
      if (w[0] === '#') break;
      words.push(w);
    }
    if (words.length === 0) continue;
    if (words.length > 2) err('too many arguments');
    const [key, arg] = words as [string, string | undefined];
    if (arg === undefined) err(`missing arg for ${key}`);
    const k = key.toLowerCase();
    if (k === 'samples') {
      if (samples > 0) err("duplicate ``samples'' line");
      const v = Number.parseInt(arg!, 10);
      if (!(v > 0)) err('invalid number of samples');
      if (v > ED_MAX_SAMPLES_NO) err(`too many samples, maximum is ${ED_MAX_SAMPLES_NO}`);
      samples = v;
      doPoints = false;
    } else if (k === 'bw') {
      try {
        bw = bandwidth(arg!);
      } catch (e) {
        err((e as Error).message);
      }
      doPoints = false;
    } else if (k === 'loss-level') {
      if (loss !== -1) err(`duplicated token: ${key}`);
      if (!isNum(arg!)) err(`invalid ${arg}`);
      loss = Number(arg);
      if (loss > 1) err(`${key} greater than 1.0`);
      doPoints = false;
    } else if (k === 'name') {
      if (name !== '') err(`duplicated token: ${key}`);
      name = arg!.slice(0, ED_MAX_NAME_LEN - 1);
      doPoints = false;
    } else if (k === 'delay' || k === 'prob') {
      if (doPoints) err(`duplicated token: ${key}`);
      delayFirst = k === 'delay';
      doPoints = true;
    } else if (doPoints) {
      if (!isNum(key) || !isNum(arg!)) err('invalid point found');
      const a = Number(key);
      const b = Number(arg);
      const pt = delayFirst ? { delay: a, prob: b } : { delay: b, prob: a };
      if (pt.prob > 1) err('probability greater than 1.0');
      if (points.length >= ED_MAX_SAMPLES_NO) err('too many points');
      points.push(pt);
    } else err(`unrecognised command '${key}'`);
  }
  if (samples === -1) {
    warn("'samples' not found, assuming 100");
    samples = 100;
  }
  if (loss === -1) {
    warn("'loss-level' not found, assuming no loss");
    loss = 1;
  }
  if (points.length < ED_MIN_SAMPLES_NO) throw new ProfileError(`error in ${filename}: too few samples, need at least ${ED_MIN_SAMPLES_NO}`);
  points.sort((a, b) => a.prob - b.prob || a.delay - b.delay);
  const out = new Array<number>(samples).fill(0);
  for (let i = 0; i < points.length - 1; i++) {
    const y1 = points[i]!.prob * samples;
    const x1 = points[i]!.delay;
    const y2 = points[i + 1]!.prob * samples;
    const x2 = points[i + 1]!.delay;
    const stop = Math.min(samples, Math.trunc(y2));
    let ix = Math.trunc(y1);
    if (x1 === x2) for (; ix < stop; ix++) out[ix] = x1;
    else {
      const m = (y2 - y1) / (x2 - x1);
      const c = y1 - m * x1;
      for (; ix < stop; ix++) out[ix] = (ix - c) / m;
    }
  }
  const p: DnProfile = { name, samples: out, lossLevel: loss * samples };
  if (bw !== undefined) p.bw = bw;
  return p;
}
