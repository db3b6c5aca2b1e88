/**
 * The compiled form of an ipfw rule (FreeBSD's `struct ip_fw` and its
 * microinstructions, sys/netinet/ip_fw.h), and the name tables the parser
 * and the printer share.
 *
 * A rule is a list of match instructions (`Insn`) evaluated in order, then
 * one action. Every instruction has the same shape (opcode, flags, two
 * integer arguments, a typed-array list and a name) so the matcher's loop
 * stays monomorphic and allocates nothing. Instructions are kept in the
 * order ipfw(8) prints them: proto, source, source ports, destination,
 * destination ports, options as typed, keep-state last.
 */

import { isV6Only } from './rule6.js';

/** Match opcodes (FreeBSD's O_*). */
export const O = {
  PROB: 1,
  PROTO: 2,
  IP4: 3,
  SRC_IP: 4, // one address: arg = address
  SRC_MASK: 5, // list of (addr, mask) pairs
  SRC_ME: 6,
  SRC_SET: 7, // base/len{list}: arg = base, arg2 = size, list = bitmap words
  DST_IP: 8,
  DST_MASK: 9,
  DST_ME: 10,
  DST_SET: 11,
  SRCPORT: 12, // list of (lo, hi) pairs
  DSTPORT: 13,
  IN: 14, // not => out
  RECV: 15, // name, or arg = address when name is ''
  XMIT: 16,
  VIA: 17,
  FRAG: 18,
  IPLEN: 19, // arg = value, or list of (lo, hi)
  IPTTL: 20,
  IPID: 21,
  ICMPTYPE: 22, // arg = bitmap of types 0..31
  TCPFLAGS: 23, // arg = set, arg2 = clear
  ESTAB: 24,
  KEEP_STATE: 25,
  COMMENT: 26,
  SRC_LOOKUP: 27, // table(NAME[,VALUE]): name = table, arg = kidx once bound, arg2 = value or -1
  DST_LOOKUP: 28,
  LOOKUP: 29, // lookup KEY[:MASK] NAME: arg = kidx, arg2 = key (LK), list = [mask] or empty
  DSCP: 30, // arg = bitmap of code points 0..31, arg2 = 32..63 (ip_fw_actions.ts)
  TAGGED: 31, // list of (lo, hi) tag ranges
} as const;

/** Keys of `lookup KEY NAME` (FreeBSD's lookup_key order). */
export const LK = { DST_IP: 0, SRC_IP: 1, DST_PORT: 2, SRC_PORT: 3, UID: 4, JAIL: 5, DSCP: 6, RULENUM: 10 } as const;

/** The action argument `tablearg` (FreeBSD's IP_FW_TARG): the value of the last table lookup that matched. */
export const IP_FW_TARG = 65535;

/** Actions (FreeBSD's O_ACCEPT ... O_CHECK_STATE). */
export const A = {
  ACCEPT: 1,
  DENY: 2,
  REJECT: 3, // arg = ICMP unreachable code
  RESET: 4,
  COUNT: 5,
  SKIPTO: 6,
  PIPE: 7,
  QUEUE: 8,
  CHECK_STATE: 9,
  NAT: 10, // arg = nat instance (lib/ipfw/nat_set.ts)
  SETDSCP: 11, // arg = code point 0..63 (ip_fw_actions.ts); the walk goes on
  CALL: 12, // arg = rule number; skipIdx = its chain index
  RETURN: 13, // arg = RET_NEXT_RULE or RET_NEXT_RULENUM
  FWD: 14, // arg = next hop address, actPort = port or 0 (ip_fw_fwd.ts)
} as const;

/** One match instruction. `list` is empty when unused; `name` is '' when unused. */
export interface Insn {
  op: number;
  not: boolean;
  /** Part of an `{ a or b }` block with the instruction after it. */
  or: boolean;
  arg: number;
  arg2: number;
  list: Uint32Array;
  name: string;
}

export const EMPTY = new Uint32Array(0);

export function insn(op: number, arg = 0, arg2 = 0, list: Uint32Array = EMPTY, name = ''): Insn {
  return { op, not: false, or: false, arg, arg2, list, name };
}

/** A rule of the chain. Counters are plain numbers, bumped on the packet path. */
export class Rule {
  num: number;
  readonly insns: Insn[];
  readonly action: number;
  readonly actArg: number;
  /** Match probability in (0, 1]; 1 = always. */
  readonly prob: number;
  readonly log: boolean;
  /** logamount: lines this rule may log before it goes quiet (0 = no limit). */
  readonly logAmount: number;
  /** Rule has keep-state: probe the dynamic table first, install a state on match. */
  readonly keepState: boolean;
  /** Printed without `proto from src to dst` (FreeBSD's IPFW_RULE_JUSTOPTS). */
  readonly justOpts: boolean;
  /** Text after `//`, or ''. */
  readonly comment: string;
  /** keep-state :NAME / check-state :NAME ('any' for check-state :any). */
  readonly stateName: string;
  pcnt = 0;
  bcnt = 0;
  logged = 0;
  /** Index in the chain, refreshed when the chain changes. */
  pos = 0;

  // Quick-reject fields: conditions every matching packet must meet, taken
  // from the rule's plain (not negated, not or-ed) instructions so that most
  // non-matching rules cost a few integer compares. -1 / 0 mean "no condition".
  qProto = -1;
  /** Source must satisfy (src & qSrcM) === qSrcA (int32 values). */
  qSrcA = 0;
  qSrcM = 0;
  qDstA = 0;
  qDstM = 0;
  qSpLo = -1;
  qSpHi = -1;
  qDpLo = -1;
  qDpHi = -1;
  /** 1: input only, 2: output only. */
  qDir = 0;
  /** 4: IPv4 packets only, 6: IPv6 only (an address or option of one family), 0: both. */
  qV = 0;
  /** Chain index of the skipto target, refreshed when the chain changes. */
  skipIdx = 0;
  /** Rule set 0..31 (`set N`; 31 is the default rule's). */
  set = 0;
  /** `tag N` (1), `untag N` (2) or none (0), applied when the rule matches (ip_fw_actions.ts). */
  tagOp = 0;
  tagArg = 0;
  /** `fwd ADDR,PORT`: the port (0 when none). */
  actPort = 0;

  constructor(a: {
    num: number;
    insns: Insn[];
    action: number;
    actArg: number;
    prob: number;
    log: boolean;
    logAmount: number;
    keepState: boolean;
    justOpts: boolean;
    comment: string;
    stateName: string;
  }) {
    this.num = a.num;
    this.insns = a.insns;
    this.action = a.action;
    this.actArg = a.actArg;
    this.prob = a.prob;
    this.log = a.log;
    this.logAmount = a.logAmount;
    this.keepState = a.keepState;
    this.justOpts = a.justOpts;
    this.comment = a.comment;
    this.stateName = a.stateName;
    this.quick();
  }

  private quick(): void {
    const ins = this.insns;
    for (let k = 0; k < ins.length; k++) {
      const c = ins[k]!;
      if (c.or || (k > 0 && ins[k - 1]!.or)) continue;
      if (c.op === O.IN) {
        this.qDir = c.not ? 2 : 1; // `out` is `not in`
        continue;
      }
      if (c.not) continue;
      if (c.op === O.IP4 || (c.op >= O.SRC_IP && c.op <= O.DST_SET)) this.qV = 4;
      else if (isV6Only(c.op)) this.qV = 6;
      switch (c.op) {
        case O.PROTO:
          this.qProto = c.arg;
          break;
        case O.SRC_IP:
          this.qSrcA = c.arg | 0;
          this.qSrcM = -1;
          break;
        case O.SRC_MASK:
          if (c.list.length === 2) {
            this.qSrcA = c.list[0]! | 0;
            this.qSrcM = c.list[1]! | 0;
          }
          break;
        case O.DST_IP:
          this.qDstA = c.arg | 0;
          this.qDstM = -1;
          break;
        case O.DST_MASK:
          if (c.list.length === 2) {
            this.qDstA = c.list[0]! | 0;
            this.qDstM = c.list[1]! | 0;
          }
          break;
        case O.SRCPORT:
          if (c.list.length === 2) {
            this.qSpLo = c.list[0]!;
            this.qSpHi = c.list[1]!;
          }
          break;
        case O.DSTPORT:
          if (c.list.length === 2) {
            this.qDpLo = c.list[0]!;
            this.qDpHi = c.list[1]!;
          }
          break;
      }
    }
  }
}

export const DEFAULT_RULE = 65535;

// ---------------------------------------------------------------- names

/** /etc/protocols, the entries ipfw users type. */
export const PROTOCOLS: ReadonlyArray<readonly [string, number]> = [
  ['ip', 0],
  ['icmp', 1],
  ['igmp', 2],
  ['ggp', 3],
  ['ipencap', 4],
  ['st2', 5],
  ['tcp', 6],
  ['egp', 8],
  ['igp', 9],
  ['pup', 12],
  ['udp', 17],
  ['hmp', 20],
  ['xns-idp', 22],
  ['rdp', 27],
  ['ipv6', 41],
  ['ipv6-route', 43],
  ['ipv6-frag', 44],
  ['rsvp', 46],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
  ['ipv6-icmp', 58],
  ['ipv6-nonxt', 59],
  ['ipv6-opts', 60],
  ['ospf', 89],
  ['ipip', 94],
  ['encap', 98],
  ['pim', 103],
  ['carp', 112],
  ['l2tp', 115],
  ['sctp', 132],
  ['udplite', 136],
  ['divert', 258],
];

export function protoByName(name: string): number | undefined {
  for (const [n, v] of PROTOCOLS) if (n === name) return v;
  return undefined;
}

export function protoName(p: number): string | undefined {
  for (const [n, v] of PROTOCOLS) if (v === p) return n;
  return undefined;
}

/** /etc/services entries for port names (tcp and udp share numbers here). */
export const SERVICES: ReadonlyArray<readonly [string, number]> = [
  ['echo', 7],
  ['discard', 9],
  ['daytime', 13],
  ['chargen', 19],
  ['ftp-data', 20],
  ['ftp', 21],
  ['ssh', 22],
  ['telnet', 23],
  ['smtp', 25],
  ['time', 37],
  ['domain', 53],
  ['bootps', 67],
  ['bootpc', 68],
  ['tftp', 69],
  ['gopher', 70],
  ['finger', 79],
  ['http', 80],
  ['www', 80],
  ['kerberos', 88],
  ['pop3', 110],
  ['sunrpc', 111],
  ['auth', 113],
  ['nntp', 119],
  ['ntp', 123],
  ['netbios-ns', 137],
  ['netbios-dgm', 138],
  ['netbios-ssn', 139],
  ['imap', 143],
  ['snmp', 161],
  ['snmptrap', 162],
  ['bgp', 179],
  ['ldap', 389],
  ['https', 443],
  ['microsoft-ds', 445],
  ['syslog', 514],
  ['submission', 587],
  ['ldaps', 636],
  ['imaps', 993],
  ['pop3s', 995],
  ['openvpn', 1194],
  ['mysql', 3306],
  ['iperf3', 5201],
];

export function serviceByName(name: string): number | undefined {
  for (const [n, v] of SERVICES) if (n === name) return v;
  return undefined;
}

/** ICMP unreachable codes by name (ipfw's icmpcodes table). */
export const ICMP_CODES: ReadonlyArray<readonly [string, number]> = [
  ['net', 0],
  ['host', 1],
  ['protocol', 2],
  ['port', 3],
  ['needfrag', 4],
  ['srcfail', 5],
  ['net-unknown', 6],
  ['host-unknown', 7],
  ['isolated', 8],
  ['net-prohib', 9],
  ['host-prohib', 10],
  ['tosnet', 11],
  ['toshost', 12],
  ['filter-prohib', 13],
  ['host-precedence', 14],
  ['precedence-cutoff', 15],
];

export const TH = { FIN: 0x01, SYN: 0x02, RST: 0x04, PUSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

/** ipfw's f_tcpflags, in its print order. */
export const TCP_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['syn', TH.SYN],
  ['fin', TH.FIN],
  ['ack', TH.ACK],
  ['psh', TH.PUSH],
  ['rst', TH.RST],
  ['urg', TH.URG],
];
