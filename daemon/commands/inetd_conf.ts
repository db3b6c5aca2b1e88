/**
 * inetd.conf(5) as FreeBSD 14's inetd reads it (usr.sbin/inetd/inetd.c,
 * getconfigent() and config()): one service per line,
 *
 *   service-name socket-type protocol {wait|nowait}[/max-child[/max-connections-per-ip-per-minute[/max-child-per-ip]]]
 *       user[:group][/login-class] server-program [server-program-arguments]
 *
 * fields separated by blanks, a line starting with a blank continuing the
 * previous one, `#` lines ignored, arguments quoted with ' or ". A line
 * that is wrong is logged with FreeBSD's message and skipped; a missing
 * field is a syntax error that stops inetd (EX_DATAERR), as sskip() does.
 *
 * Here: protocols tcp and udp (tcp4/udp4 the same); tcp6/udp6 lines are
 * skipped with FreeBSD's own message for a kernel without IPv6 sockets
 * ("IPv6 bind is ignored for ...") and tcp46/udp46 bind IPv4 only, until
 * images have IPv6 sockets. Service names resolve through /etc/services
 * (getservbyname); a number is taken as the port (an extension).
 */

/** RFC 862/863/864/867/868 services inetd serves itself (builtins.c). */
export type Builtin = 'echo' | 'discard' | 'chargen' | 'daytime' | 'time';
const BUILTINS: readonly Builtin[] = ['echo', 'discard', 'chargen', 'daytime', 'time'];

export interface ServEntry {
  /** 1-based line number of the entry's first line. */
  line: number;
  /** The name as written (logged as FreeBSD logs se_service). */
  service: string;
  port: number;
  socktype: 'stream' | 'dgram';
  proto: 'tcp' | 'udp';
  /** wait (false: nowait). Internal services are forced to nowait, as FreeBSD does. */
  wait: boolean;
  /** 0: no limit. */
  maxChild: number;
  maxCpm: number;
  maxPerIp: number;
  user: string;
  group: string | undefined;
  /** 'internal' or the program's path. */
  server: string;
  argv: string[];
  builtin: Builtin | undefined;
}

export interface ParsedConf {
  entries: ServEntry[];
  /** syslog-style messages for lines that were skipped, in order. */
  errors: string[];
  /** Set when inetd must stop (a syntax error). */
  fatal?: string;
}

/** Default max-child for nowait services (inetd -c; FreeBSD's default 0 is no limit). */
const MAX_MAXCHLD = 32767;

/** /etc/services: name or alias + protocol to port. */
export type Services = (name: string, proto: 'tcp' | 'udp') => number | undefined;

/** getservbyname over the text of an /etc/services file. */
export function servicesFrom(text: string): Services {
  const map = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const l = raw.replace(/#.*/, '').trim();
    if (l === '') continue;
    const f = l.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(f[1] ?? '');
    if (m === null) continue;
    const port = Number(m[1]);
    for (const n of [f[0]!, ...f.slice(2)]) {
      const k = `${n}/${m[2]}`;
      if (!map.has(k)) map.set(k, port);
    }
  }
  return (name, proto) => map.get(`${name}/${proto}`);
}

/** Split a line into fields as skip() does: blanks separate, ' or " quote. */
function fields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    const q = text[i] === '"' || text[i] === "'" ? text[i++] : undefined;
    const start = i;
    if (q !== undefined) while (i < text.length && text[i] !== q) i++;
    else while (i < text.length && text[i] !== ' ' && text[i] !== '\t') i++;
    out.push(text.slice(start, i));
    i++;
  }
  return out;
}

/** Parse inetd.conf text `file` (named `path` in messages). */
export function parseInetdConf(text: string, path: string, services: Services): ParsedConf {
  const res: ParsedConf = { entries: [], errors: [] };
  // Continuation lines (starting with a blank) join the entry before them.
  const logical: Array<{ line: number; text: string }> = [];
  text.split('\n').forEach((l, n) => {
    if (l.startsWith('#') || l.trim() === '') return;
    if ((l[0] === ' ' || l[0] === '\t') && logical.length > 0) logical[logical.length - 1]!.text += ' ' + l;
    else logical.push({ line: n + 1, text: l });
  });
  for (const { line, text: l } of logical) {
    const f = fields(l);
    if (f.length < 6) {
      res.fatal = `${path}: syntax error`;
      return res;
    }
    const [service, type, protoField, waitField, userField, server] = f as [string, string, string, string, string, string];
    const err = (m: string): void => void res.errors.push(m);
    if (service.startsWith(':') || service.startsWith('tcpmux/')) {
      err(`${service}: unix-domain and tcpmux services are not supported in an image, service ignored`);
      continue;
    }
    let proto = protoField.split('/')[0]!;
    let v4 = false;
    let v6 = false;
    let bad = false;
    while (/\d$/.test(proto)) {
      if (proto.endsWith('6')) v6 = true;
      else if (proto.endsWith('4')) v4 = true;
      else {
        err(`bad IP version for ${proto}`);
        bad = true;
        break;
      }
      proto = proto.slice(0, -1);
    }
    if (bad) continue;
    if (v6) {
      // What FreeBSD's inetd says on a kernel without IPv6 sockets (v6bind_ok == 0).
      err(`IPv6 bind is ignored for ${service}`);
      if (!v4) continue;
    }
    if (proto !== 'tcp' && proto !== 'udp') {
      err(`${service}/${protoField}: unknown service`);
      continue;
    }
    if (type !== 'stream' && type !== 'dgram') {
      err(`${service}/${proto}: socket: Protocol not supported`);
      continue;
    }
    if ((type === 'stream') !== (proto === 'tcp')) {
      err(`${service}/${proto}: socket: Protocol wrong type for socket`);
      continue;
    }
    let wait: boolean;
    if (waitField.startsWith('wait')) wait = true;
    else if (waitField.startsWith('nowait')) wait = false;
    else {
      err(`${path}: bad wait/nowait for service ${service}`);
      continue;
    }
    let maxChild = -1;
    let maxCpm = 0;
    let maxPerIp = 0;
    const slash = waitField.indexOf('/');
    if (slash >= 0) {
      const m = /^(\d+)(?:\/(-?\d+))?(?:\/(-?\d+))?/.exec(waitField.slice(slash + 1));
      if (m === null || Number(m[1]) > MAX_MAXCHLD) {
        err(`${path}: bad max-child for service ${service}`);
        continue;
      }
      maxChild = Number(m[1]);
      if (m[2] !== undefined) maxCpm = Math.max(0, Number(m[2]));
      if (m[3] !== undefined) maxPerIp = Math.max(0, Number(m[3]));
    }
    let user = userField;
    const cls = user.lastIndexOf('/');
    if (cls >= 0) user = user.slice(0, cls); // login class: no login.conf here
    let group: string | undefined;
    const colon = user.lastIndexOf(':');
    if (colon >= 0) {
      group = user.slice(colon + 1);
      user = user.slice(0, colon);
    }
    let builtin: Builtin | undefined;
    if (server === 'internal') {
      // matchservent(): the name itself, or a name /etc/services gives the same port (an alias such as `sink`).
      const sp = services(service, proto);
      builtin = BUILTINS.find((b) => b === service || (sp !== undefined && services(b, proto) === sp));
      if (builtin === undefined) {
        err(`internal service ${service} unknown`);
        continue;
      }
      wait = false; // force accept mode for built-ins
    }
    const port = /^\d+$/.test(service) ? Number(service) : services(service, proto);
    if (port === undefined || port < 1 || port > 65535) {
      err(`${service}/${proto}: unknown service`);
      continue;
    }
    // Default max-child: 1 for a dgram built-in (bi_maxchild) or a wait service, else no limit.
    if (maxChild < 0) maxChild = (builtin !== undefined && type === 'dgram') || wait ? 1 : 0;
    res.entries.push({ line, service, port, socktype: type, proto, wait, maxChild, maxCpm, maxPerIp, user, group, server, argv: f.slice(6), builtin });
  }
  return res;
}

/** inetd -d's print_service(): one line per entry, as FreeBSD writes it to stderr. */
export function printService(action: string, e: ServEntry): string {
  return `${action}: ${e.service} proto=${e.proto} accept=${e.wait ? 0 : 1} max=${e.maxChild} user=${e.user} group=${e.group ?? '(null)'}class=daemon builtin=${e.builtin !== undefined ? e.builtin : '0x0'} server=${e.server}\n`;
}
