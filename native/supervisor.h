/*
 * The wire between vimage-supervisor and vimaged's Linux-program agent
 * (daemon/linux/wire.ts is the other half; keep the two in step).
 *
 * The supervisor opens an agent session by upgrading a connection to the
 * control socket (GET /v1/images/NAME/agent, Upgrade: vimage-agent). After
 * the 101 response the daemon sends one hello frame, then both sides
 * exchange fixed 32-byte frames, little-endian: requests one way, replies
 * (matched by seq) the other. A reply may come long after its request
 * (a blocking accept or connect); requests are served concurrently.
 *
 * Each image socket is backed by an AF_UNIX stream socket in the program.
 * When it is connected or listens, the supervisor connects that same
 * socket to the control socket with GET /v1/agent/data?key=KEY&id=ID
 * (Upgrade: vimage-data); the daemon answers nothing on success and pumps
 * bytes between it and the image socket ID from then on.
 *
 * Datagram sockets (UDP, ICMP, raw, NETLINK_ROUTE) keep boundaries and per-datagram
 * addresses, which a byte stream cannot: the program's descriptor is one
 * end of an AF_UNIX SOCK_SEQPACKET pair whose other end the supervisor
 * keeps, and all datagram sockets of a session share one more data
 * connection (id VSA_CHAN_ID), the datagram channel, carrying frames of a
 * 20-byte header (struct vsa_dg) and the payload. The same channel carries
 * the answers that need variable-length data (interface ioctls).
 *
 * AF_INET6 sockets are IPv6 sockets of the image (dual stack: IPv4 peers
 * as v4-mapped addresses, unless IPV6_V6ONLY). Every address of one goes
 * as a struct vsa_addr6 (16 bytes, scope id, flow info) right after the
 * frame that names it: a request with VSA_ADDR6 in flags, a reply with
 * VSR_ADDR6 in flags, a datagram frame with VSD_ADDR6 (before the
 * payload; len counts the payload only). IPv4 frames are unchanged.
 */
#ifndef VIMAGE_SUPERVISOR_H
#define VIMAGE_SUPERVISOR_H

#include <stdint.h>

#define VSA_MAGIC 0x414d4956u /* "VIMA" */
#define VSA_VERSION 1

enum vsa_op {
  VSA_BIND = 1,    /* id, type, addr, port -> err */
  VSA_CONNECT = 2, /* id, type, addr, port -> err once connected or failed */
  VSA_LISTEN = 3,  /* id, type, a=backlog -> err */
  VSA_ACCEPT = 4,  /* id, flags=VSA_NONBLOCK, a=new id -> err, peer addr, port */
  VSA_NAME = 5,    /* id, a=0 local / 1 peer -> err, addr, port */
  VSA_SETOPT = 6,  /* id, a=level, b=name, c=value -> err */
  VSA_GETOPT = 7,  /* id, a=level, b=name -> err, val */
  VSA_CANCEL = 8,  /* a=seq of a pending request whose caller went away -> nothing */
  VSA_CLOSE = 9,   /* id -> nothing: forget the socket */
  VSA_PID = 10,    /* a=host pid, b=VSA_PID_PROGRAM or VSA_PID_SUPERVISOR -> nothing (seq 0) */
  VSA_DGRAM = 11,  /* id, type=SOCK_DGRAM, a=IPPROTO_UDP, IPPROTO_ICMP (ping), a raw protocol or VSA_NETLINK_ROUTE,
                      b=the program's type (SOCK_DGRAM or SOCK_RAW) -> err: make the image's datagram socket */
};

/* VSA_PID roles: the program's top process, or this supervisor after it moved to the background. */
#define VSA_PID_PROGRAM 0
#define VSA_PID_SUPERVISOR 1

#define VSA_NETLINK_ROUTE 0x10000 /* VSA_DGRAM's a for socket(AF_NETLINK, ..., NETLINK_ROUTE) */
#define VSA_UNSPEC 4              /* VSA_CONNECT: to AF_UNSPEC, i.e. forget the peer (datagram sockets) */

/* The datagram channel's id in its data connection's URL. */
#define VSA_CHAN_ID 0xffffffffu
/* Largest payload of one channel frame. */
#define VSA_DG_MAX (256 * 1024)

enum vsa_dg_flag {
  VSD_ACK = 1,    /* to the daemon: answer with a VSD_STATUS frame of the same seq (a trapped sendto/sendmsg) */
  VSD_NOADDR = 2, /* to the daemon: to the connected peer (a plain send/write); addr/port unused */
  VSD_IOCTL = 4,  /* to the daemon: interface ioctl, addr = request, payload = struct ifreq (SIOCGIFCONF: u32 room) */
  VSD_STATUS = 8, /* from the daemon: answer to seq; addr = Linux errno (0: done); payload = ioctl result */
  VSD_ERROR = 16, /* from the daemon: socket id has a pending error (ICMP), addr = Linux errno */
  VSD_SETOPT = 32, /* to the daemon: setsockopt in order with the datagrams (ICMP, raw); addr = level, port = name, payload = i32 value */
  VSD_ADDR6 = 64,  /* either way: a struct vsa_addr6 follows the header (the address of an AF_INET6 socket's datagram); addr unused */
};

/* An IPv6 socket address: follows a frame flagged VSA_ADDR6, VSR_ADDR6 or VSD_ADDR6. */
struct vsa_addr6 {
  uint8_t addr[16]; /* network byte order, as in sockaddr_in6 */
  uint32_t scope;   /* sin6_scope_id: the image's interface index (link-local), else 0 */
  uint32_t flow;    /* sin6_flowinfo, network byte order */
};
_Static_assert(sizeof(struct vsa_addr6) == 24, "IPv6 address trailer is 24 bytes");

/* One frame on the datagram channel, followed by len payload bytes. For a
 * netlink socket, addr is the socket's port id (to the daemon) or 0. */
struct vsa_dg {
  uint32_t len;
  uint32_t id;
  uint32_t seq;
  uint32_t addr;
  uint16_t port;
  uint16_t flags;
};
_Static_assert(sizeof(struct vsa_dg) == 20, "datagram frame header is 20 bytes");

#define VSA_NONBLOCK 1
#define VSA_INET6 2 /* an AF_INET6 socket (an IPv6 socket of the image) */
#define VSA_ADDR6 8 /* a struct vsa_addr6 follows this request: its address (addr unused) */
#define VSR_ADDR6 1 /* a struct vsa_addr6 follows this reply: the address (addr unused) */

struct vsa_req {
  uint32_t seq;
  uint16_t op;
  uint16_t type; /* SOCK_STREAM, SOCK_DGRAM */
  uint32_t id;
  uint32_t addr; /* IPv4 address, host byte order */
  uint16_t port;
  uint16_t flags;
  int32_t a, b, c;
};

struct vsa_rep {
  uint32_t seq;
  int32_t err; /* Linux errno, 0 for success */
  uint32_t addr;
  uint16_t port;
  uint16_t flags; /* VSR_ADDR6 */
  int32_t val;
  uint32_t pad2[3];
};

struct vsa_hello {
  uint32_t magic;
  uint16_t version;
  uint16_t pad;
  uint32_t pid; /* the daemon's pid */
  uint8_t key[16];
  uint32_t pad2;
};

_Static_assert(sizeof(struct vsa_req) == 32, "request frame is 32 bytes");
_Static_assert(sizeof(struct vsa_rep) == 32, "reply frame is 32 bytes");
_Static_assert(sizeof(struct vsa_hello) == 32, "hello frame is 32 bytes");

#endif
