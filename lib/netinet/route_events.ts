/**
 * Routing-table events, the messages FreeBSD's routing socket carries to
 * `route monitor` (sys/net/route.h RTM_* types). The table keeps a list of
 * watchers; with none (the usual case) a change costs one length check and
 * builds nothing.
 */

/** Message types, FreeBSD's RTM_* values (sys/net/route.h). */
export const RTM = {
  ADD: 0x1,
  DELETE: 0x2,
  CHANGE: 0x3,
  GET: 0x4,
  LOSING: 0x5,
  REDIRECT: 0x6,
  MISS: 0x7,
} as const;

/** One change to an image's IPv4 routing table, as plain data. */
export interface RouteEvent {
  type: number;
  /** Destination, masked. */
  dst: number;
  prefixLen: number;
  /** Next hop; 0 for an interface route. */
  gateway: number;
  /** RTF_* flags of the route. */
  flags: number;
  ifIndex: number;
  ifName: string;
  /** The sender of an ICMP redirect (RTA_AUTHOR); 0 otherwise. */
  author: number;
}

export type RouteWatcher = (ev: RouteEvent) => void;
