/**
 * The IPv6 part of ipfw's rule language (FreeBSD's O_IP6*, O_ICMP6TYPE,
 * O_FLOW6ID, O_EXT_HDR and O_UNREACH6, sys/netinet/ip_fw.h and
 * sbin/ipfw/ipv6.c): opcodes and name tables shared by the compiler
 * (parse6.ts), the printer (format6.ts) and the matcher (ip_fw6.ts).
 *
 * Opcodes are numbered from 100, apart from rule.ts's, so that both tables
 * can grow independently. An IPv6 address instruction keeps its entries in
 * `list` as 8 words each: the address, then the mask, both as big-endian
 * 32-bit words.
 */

export const O6 = {
  IP6: 100, // the packet is IPv6
  SRC_IP6: 101, // one address: list = [addr x4, all-ones mask x4]
  SRC_MASK6: 102, // list of (addr x4, mask x4)
  SRC_ME6: 103,
  DST_IP6: 104,
  DST_MASK6: 105,
  DST_ME6: 106,
  ICMP6TYPE: 107, // list = 8 words, a bitmap of types 0..255
  FLOW6ID: 108, // list of flow labels
  EXT6HDR: 109, // arg = EXT_* bits
} as const;

/** Actions (FreeBSD's O_UNREACH6): arg = ICMPv6 unreachable code, or ICMP6_UNREACH_RST for reset6. */
export const A6 = {
  UNREACH6: 100,
} as const;

/** The code of `reset6` (FreeBSD's ICMP6_UNREACH_RST). */
export const ICMP6_UNREACH_RST = 0x100;

/** ipv6.c's icmp6codes. */
export const ICMP6_CODES: ReadonlyArray<readonly [string, number]> = [
  ['no-route', 0],
  ['admin-prohib', 1],
  ['address', 3],
  ['port', 4],
];

/** Extension header bits (FreeBSD's EXT_*). */
export const EXT = {
  FRAGMENT: 0x1,
  HOPOPTS: 0x2,
  ROUTING: 0x4,
  AH: 0x8,
  ESP: 0x10,
  DSTOPTS: 0x20,
  RTHDR0: 0x40,
  RTHDR2: 0x80,
} as const;

/** ipv6.c's ext6hdrcodes. */
export const EXT6_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['frag', EXT.FRAGMENT],
  ['hopopt', EXT.HOPOPTS],
  ['route', EXT.ROUTING],
  ['dstopt', EXT.DSTOPTS],
  ['ah', EXT.AH],
  ['esp', EXT.ESP],
  ['rthdr0', EXT.RTHDR0],
  ['rthdr2', EXT.RTHDR2],
];

/** ICMP6_MAXTYPE: the largest type `icmp6types` takes. */
export const ICMP6_MAXTYPE = 201;

export function isSrc6(op: number): boolean {
  return op === O6.SRC_IP6 || op === O6.SRC_MASK6 || op === O6.SRC_ME6;
}

export function isDst6(op: number): boolean {
  return op === O6.DST_IP6 || op === O6.DST_MASK6 || op === O6.DST_ME6;
}

/** Opcodes that only an IPv6 packet can match. */
export function isV6Only(op: number): boolean {
  return op >= O6.IP6 && op <= O6.EXT6HDR;
}
