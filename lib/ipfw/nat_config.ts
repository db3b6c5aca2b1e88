/**
 * `ipfw nat N config ...`: the configuration of one NAT instance, its
 * parser (after ipfw_config_nat and setup_redir_* in FreeBSD 14's
 * sbin/ipfw/nat.c, with its messages) and its printer (nat_show_cfg there:
 * `ipfw nat 1 config if tap1 log same_ports ...`, the flags in the order
 * nat_show_cfg tests them, then port_range, then the redirects as given).
 */

import { ip4ToString, parseIp4 } from '../wire/ipv4.js';
import { EX_DATAERR, RuleSyntaxError } from './parse_tokens.js';
import { protoByName, protoName } from './rule.js';

export interface NatRedirect {
  kind: 'addr' | 'port';
  /** 6 or 17 for port redirects; 0 for address redirects. */
  proto: number;
  lAddr: number;
  lPort: number;
  /** 0: the instance's alias address. */
  pAddr: number;
  pPort: number;
  /** Ports in the local and public ranges (1 for one port). */
  count: number;
  /** 0: any remote address / port. */
  rAddr: number;
  rPort: number;
  rCount: number;
}

export interface NatConfig {
  id: number;
  /** `if IF`: follow this interface's first address; '' with `ip`. */
  ifName: string;
  /** `ip ADDR` (0 with `if`). */
  ip: number;
  log: boolean;
  denyIn: boolean;
  samePorts: boolean;
  skipGlobal: boolean;
  unregOnly: boolean;
  unregCgn: boolean;
  reset: boolean;
  reverse: boolean;
  proxyOnly: boolean;
  /** port_range LOW-HIGH; 0-0 when not set (libalias's 32768-65535). */
  portLo: number;
  portHi: number;
  redirects: NatRedirect[];
}

const FLAGS = [
  ['log', 'log'],
  ['deny_in', 'denyIn'],
  ['same_ports', 'samePorts'],
  ['skip_global', 'skipGlobal'],
  ['unreg_only', 'unregOnly'],
  ['unreg_cgn', 'unregCgn'],
  ['reset', 'reset'],
  ['reverse', 'reverse'],
  ['proxy_only', 'proxyOnly'],
] as const;

export function emptyNatConfig(id: number): NatConfig {
  return {
    id,
    ifName: '',
    ip: 0,
    log: false,
    denyIn: false,
    samePorts: false,
    skipGlobal: false,
    unregOnly: false,
    unregCgn: false,
    reset: false,
    reverse: false,
    proxyOnly: false,
    portLo: 0,
    portHi: 0,
    redirects: [],
  };
}

/** `80` or `80-90` (ports 0..65535): [lo, count], or undefined. */
function portRange(s: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 0xffff || hi > 0xffff || hi < lo) return undefined;
  return [lo, hi - lo + 1];
}

/** `ADDR:PORT[-PORT]` (StrToAddrAndPortRange). */
function addrPort(s: string): [number, number, number] | undefined {
  const c = s.lastIndexOf(':');
  if (c < 0) return undefined;
  const a = parseIp4(s.slice(0, c));
  const p = portRange(s.slice(c + 1));
  if (a === undefined || p === undefined) return undefined;
  return [a, p[0], p[1]];
}

/**
 * The words after `ipfw nat N config`. Throws RuleSyntaxError with
 * FreeBSD's message and the index of the wrong word.
 */
export function parseNatConfig(id: number, t: readonly string[]): NatConfig {
  const c = emptyNatConfig(id);
  let i = 0;
  const fail = (msg: string, at = i): never => {
    throw new RuleSyntaxError(msg, at, EX_DATAERR);
  };
  const need = (msg: string): string => t[i] ?? fail(msg, t.length);
  if (t.length === 0) fail('missing option', 0);
  while (i < t.length) {
    const w = t[i++]!;
    const flag = FLAGS.find(([name]) => name === w);
    if (flag !== undefined) {
      c[flag[1]] = true;
      continue;
    }
    switch (w) {
      case 'ip': {
        const s = need('missing option');
        const a = parseIp4(s);
        if (a === undefined) fail(`bad ip address \`\`${s}''`);
        c.ip = a!;
        c.ifName = '';
        i++;
        break;
      }
      case 'if': {
        const s = need('missing option');
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s)) fail(`bad interface name \`\`${s}''`);
        c.ifName = s;
        c.ip = 0;
        i++;
        break;
      }
      case 'port_range': {
        const s = need('missing option');
        const r = portRange(s);
        // nat.c: "Port range must be in 1024-65535 and lower < upper".
        if (r === undefined || r[0] < 1024 || r[1] < 2) fail(`invalid port_range ${s}: ports must be in 1024-65535 and lower < upper`);
        c.portLo = r![0];
        c.portHi = r![0] + r![1] - 1;
        i++;
        break;
      }
      case 'redirect_addr': {
        if (t.length - i < 2) fail('redirect_addr: not enough arguments', t.length);
        if (t[i]!.includes(',')) fail('redirect_addr: LSNAT server pools are not supported in vimage');
        const l = parseIp4(t[i]!);
        if (l === undefined) fail(`redirect_addr: bad local address ${t[i]}`);
        const p = parseIp4(t[i + 1]!);
        if (p === undefined) fail(`redirect_addr: bad public address ${t[i + 1]}`, i + 1);
        c.redirects.push({ kind: 'addr', proto: 0, lAddr: l!, lPort: 0, pAddr: p!, pPort: 0, count: 1, rAddr: 0, rPort: 0, rCount: 1 });
        i += 2;
        break;
      }
      case 'redirect_port': {
        if (t.length - i < 3) fail('redirect_port: not enough arguments', t.length);
        const pn = t[i]!;
        const proto = protoByName(pn);
        if (proto !== 6 && proto !== 17) fail(`redirect_port: protocol ${pn} is not tcp or udp (sctp is not supported in vimage)`);
        i++;
        if (t[i]!.includes(',')) fail('redirect_port: LSNAT server pools are not supported in vimage');
        const l = addrPort(t[i]!);
        if (l === undefined) fail('redirect_port: invalid local port range');
        i++;
        const ps = t[i]!;
        let pAddr = 0;
        let pr: [number, number] | undefined;
        if (ps.includes(':')) {
          const ap = addrPort(ps);
          if (ap !== undefined) {
            pAddr = ap[0];
            pr = [ap[1], ap[2]];
          }
        } else pr = portRange(ps);
        if (pr === undefined) fail('redirect_port: invalid public port range');
        i++;
        let rAddr = 0;
        let rPort = 0;
        let rCount = 1;
        if (i < t.length && /^\d/.test(t[i]!)) {
          const rs = t[i]!;
          if (rs.includes(':')) {
            const ap = addrPort(rs);
            if (ap === undefined) fail('redirect_port: invalid remote port range');
            [rAddr, rPort, rCount] = ap!;
          } else {
            const a = parseIp4(rs);
            if (a === undefined) fail(`redirect_port: bad remote address ${rs}`);
            rAddr = a!;
          }
          i++;
        }
        if (l![2] !== pr![1]) fail('redirect_port: port ranges must be equal in size', i - 1);
        if (rCount !== l![2] && (rCount !== 1 || rPort !== 0)) fail('redirect_port: remote port must be 0 or equal to local port range in size', i - 1);
        c.redirects.push({ kind: 'port', proto: proto!, lAddr: l![0], lPort: l![1], pAddr, pPort: pr![0], count: l![2], rAddr, rPort, rCount });
        break;
      }
      case 'redirect_proto':
      case 'udp_eim':
        fail(`${w} is not supported in vimage`, i - 1);
        break;
      default:
        fail(`unrecognised option \`\`${w}''`, i - 1);
    }
  }
  if (c.ifName === '' && c.ip === 0) fail('nat needs an address: if IF or ip ADDR', t.length);
  return c;
}

/** nat_show_cfg's line: `ipfw nat 1 config if tap1 log same_ports redirect_port tcp 10.0.0.2:80 8080`. */
export function formatNatConfig(c: NatConfig): string {
  let s = `ipfw nat ${c.id} config`;
  if (c.ifName !== '') s += ` if ${c.ifName}`;
  else if (c.ip !== 0) s += ` ip ${ip4ToString(c.ip)}`;
  for (const [name, key] of FLAGS) if (c[key]) s += ` ${name}`;
  if (c.portLo !== 0) s += ` port_range ${c.portLo}-${c.portHi}`;
  for (const r of c.redirects) {
    if (r.kind === 'addr') {
      s += ` redirect_addr ${ip4ToString(r.lAddr)} ${ip4ToString(r.pAddr)}`;
      continue;
    }
    s += ` redirect_port ${protoName(r.proto)} ${ip4ToString(r.lAddr)}:${r.lPort}`;
    if (r.count > 1) s += `-${r.lPort + r.count - 1}`;
    s += ' ';
    if (r.pAddr !== 0) s += `${ip4ToString(r.pAddr)}:`;
    s += `${r.pPort}`;
    if (r.count > 1) s += `-${r.pPort + r.count - 1}`;
    if (r.rAddr !== 0) {
      s += ` ${ip4ToString(r.rAddr)}`;
      if (r.rPort !== 0) {
        s += `:${r.rPort}`;
        if (r.rCount > 1) s += `-${r.rPort + r.rCount - 1}`;
      }
    }
  }
  return s;
}

/** The words to give `parseNatConfig` to make `c` again (the saved form). */
export function natConfigWords(c: NatConfig): string[] {
  return formatNatConfig(c).split(' ').slice(4);
}
