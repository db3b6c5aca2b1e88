/**
 * The Linux ABI numbers the netlink and interface-ioctl emulation speaks,
 * in one table, as the kernel's uapi headers spell them
 * (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr,neighbour,if,
 * if_arp,sockios}.h and asm-generic/errno.h). x86_64 layouts: netlink is
 * host byte order (little-endian), addresses are network byte order.
 */

export const NL = {
  // netlink.h: message header and flags
  HDRLEN: 16,
  F_REQUEST: 0x1,
  F_MULTI: 0x2,
  F_ACK: 0x4,
  /** NLM_F_ROOT | NLM_F_MATCH: either bit makes a GET a dump, as the kernel tests it. */
  F_DUMP: 0x300,
  /** On an NLMSG_ERROR: only the request's header is echoed. */
  F_CAPPED: 0x100,
  NOOP: 1,
  ERROR: 2,
  DONE: 3,
  MIN_TYPE: 0x10,
  ATTR_HDRLEN: 4,
  NLA_F_NESTED: 0x8000,
  NLA_TYPE_MASK: 0x3fff,
  /**
   * NLMSG_GOODSIZE on x86_64 (SKB_WITH_OVERHEAD(PAGE_SIZE)): the first dump
   * skb of a fresh socket. glibc and Go read netlink with a page-sized
   * buffer and fail on MSG_TRUNC, so dumps are cut at this size by default.
   */
  GOODSIZE: 3776,
  /** The kernel never builds a dump skb larger than this (netlink_recvmsg's cap). */
  MAX_DUMP: 32768,
} as const;

/** rtnetlink.h message types. kind = (type - 16) & 3: 0 NEW, 1 DEL, 2 GET, 3 SET. */
export const RTM = {
  BASE: 16,
  NEWLINK: 16,
  GETLINK: 18,
  NEWADDR: 20,
  GETADDR: 22,
  NEWROUTE: 24,
  GETROUTE: 26,
  NEWNEIGH: 28,
  GETNEIGH: 30,
  NEWRULE: 32,
  GETRULE: 34,
  /** Highest type rtnetlink knows (RTM_MAX is larger, but nothing past here is emulated). */
  MAX: 127,
  KIND_GET: 2,
} as const;

/** Address families (socket.h). */
export const AF = { UNSPEC: 0, INET: 2, BRIDGE: 7, INET6: 10, PACKET: 17, MPLS: 28, IPMR: 128, IP6MR: 129 } as const;

/** struct ifinfomsg (16 bytes) and IFLA_* (if_link.h). */
export const IFLA = {
  MSGLEN: 16,
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  QDISC: 6,
  STATS: 7,
  TXQLEN: 13,
  OPERSTATE: 16,
  LINKMODE: 17,
  LINKINFO: 18,
  STATS64: 23,
  GROUP: 27,
  PROMISCUITY: 30,
  NUM_TX_QUEUES: 31,
  NUM_RX_QUEUES: 32,
  CARRIER: 33,
  CARRIER_CHANGES: 35,
  PROTO_DOWN: 39,
  GSO_MAX_SEGS: 40,
  GSO_MAX_SIZE: 41,
  MIN_MTU: 50,
  MAX_MTU: 51,
  ALT_IFNAME: 53,
  INFO_KIND: 1,
  /** struct rtnl_link_stats64: 25 u64 (rx_otherhost_dropped is the last). */
  STATS64_FIELDS: 25,
  /** struct rtnl_link_stats: 24 u32 (rx_nohandler is the last). */
  STATS_FIELDS: 24,
} as const;

/** Indexes into rtnl_link_stats{,64} (same order in both). */
export const LINK_STAT = {
  rx_packets: 0,
  tx_packets: 1,
  rx_bytes: 2,
  tx_bytes: 3,
  rx_errors: 4,
  tx_errors: 5,
  rx_dropped: 6,
  tx_dropped: 7,
  multicast: 8,
  collisions: 9,
  rx_nohandler: 23,
} as const;

/** Linux's IFF_* (if.h); FreeBSD's numbering differs (MULTICAST, SIMPLEX), so flags are translated. */
export const LIFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  DEBUG: 0x4,
  LOOPBACK: 0x8,
  POINTOPOINT: 0x10,
  RUNNING: 0x40,
  NOARP: 0x80,
  PROMISC: 0x100,
  ALLMULTI: 0x200,
  MULTICAST: 0x1000,
  LOWER_UP: 0x10000,
} as const;

/** RFC 2863 operational states (IF_OPER_*), link modes. */
export const OPER = { UNKNOWN: 0, DOWN: 2, UP: 6 } as const;

/** if_arp.h hardware types. */
export const ARPHRD = { ETHER: 1, TUNNEL: 768, LOOPBACK: 772 } as const;

/** struct ifaddrmsg (8 bytes) and IFA_* (if_addr.h). */
export const IFA = {
  MSGLEN: 8,
  ADDRESS: 1,
  LOCAL: 2,
  LABEL: 3,
  BROADCAST: 4,
  CACHEINFO: 6,
  FLAGS: 8,
  F_SECONDARY: 0x01,
  F_PERMANENT: 0x80,
  /** INFINITY_LIFE_TIME: ifa_prefered / ifa_valid of a permanent address. */
  INFINITY: 0xffffffff,
} as const;

/** struct rtmsg (12 bytes), RTA_*, tables, protocols, scopes, types (rtnetlink.h). */
export const RT = {
  MSGLEN: 12,
  DST: 1,
  OIF: 4,
  GATEWAY: 5,
  PREFSRC: 7,
  METRICS: 8,
  CACHEINFO: 12,
  TABLE: 15,
  UID: 25,
  RTAX_MTU: 2,
  TABLE_MAIN: 254,
  TABLE_LOCAL: 255,
  PROT_UNSPEC: 0,
  PROT_REDIRECT: 1,
  PROT_KERNEL: 2,
  PROT_BOOT: 3,
  SCOPE_UNIVERSE: 0,
  SCOPE_LINK: 253,
  SCOPE_HOST: 254,
  RTN_UNICAST: 1,
  RTN_LOCAL: 2,
  RTN_BLACKHOLE: 6,
  RTN_UNREACHABLE: 7,
  /** rtm_flags of an `ip route get` answer: a cloned (cache) entry; RTCF_LOCAL marks a local one. */
  F_CLONED: 0x200,
  RTCF_LOCAL: 0x80000000,
  /** struct rta_cacheinfo: 8 u32. */
  CACHEINFO_LEN: 32,
} as const;

/** struct ndmsg (12 bytes), NDA_*, NUD_* (neighbour.h). */
export const NDA = {
  MSGLEN: 12,
  DST: 1,
  LLADDR: 2,
  CACHEINFO: 3,
  PROBES: 4,
  NUD_INCOMPLETE: 0x01,
  NUD_REACHABLE: 0x02,
  NUD_STALE: 0x04,
  NUD_PERMANENT: 0x80,
} as const;

/** struct fib_rule_hdr (12 bytes) and FRA_* (fib_rules.h): an image has Linux's three default rules. */
export const FRA = {
  MSGLEN: 12,
  PRIORITY: 6,
  SUPPRESS_PREFIXLEN: 14,
  TABLE: 15,
  PROTOCOL: 21,
  FR_ACT_TO_TBL: 1,
  /** (priority, table): `0: from all lookup local`, `32766: ... main`, `32767: ... default`. */
  DEFAULTS: [
    [0, 255],
    [32766, 254],
    [32767, 253],
  ],
} as const;

/** sockios.h interface ioctls, and the 40-byte x86_64 struct ifreq. */
export const SIOC = {
  GIFNAME: 0x8910,
  GIFCONF: 0x8912,
  GIFFLAGS: 0x8913,
  SIFFLAGS: 0x8914,
  GIFADDR: 0x8915,
  GIFDSTADDR: 0x8917,
  GIFBRDADDR: 0x8919,
  GIFNETMASK: 0x891b,
  GIFMETRIC: 0x891d,
  GIFMTU: 0x8921,
  GIFHWADDR: 0x8927,
  GIFINDEX: 0x8933,
  GIFTXQLEN: 0x8942,
  GIFMAP: 0x8970,
  /** Set requests this emulation refuses (SIOCSIF*, SIOC[AD]IFADDR, SIOC[AD]DMULTI...). */
  SET: [0x8914, 0x8916, 0x8918, 0x891a, 0x891c, 0x891e, 0x8922, 0x8923, 0x8924, 0x8931, 0x8932, 0x8934, 0x8936, 0x8937, 0x8943, 0x8971],
  IFNAMSIZ: 16,
  IFREQ_SIZE: 40,
  /** Offset of the ifreq union (sockaddr, flags, ifindex, mtu, hwaddr...). */
  UNION: 16,
} as const;

/** Linux errno numbers (asm-generic/errno*.h). */
export const LERR = {
  EPERM: 1,
  ENOENT: 2,
  ENODEV: 19,
  EINVAL: 22,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  EHOSTUNREACH: 113,
} as const;

/** The queue length Linux gives ethernet and loopback devices (txqueuelen). */
export const TXQLEN = 1000;
