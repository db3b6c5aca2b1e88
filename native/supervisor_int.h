/*
 * What the parts of vimage-supervisor share: supervisor.c (session,
 * filter, child, main loop), supervisor_calls.c (the trapped calls),
 * supervisor_dgram.c (datagram sockets: UDP, ICMP, raw and NETLINK_ROUTE)
 * and supervisor_icmp.c (what ICMP and raw sockets add).
 */
#ifndef VIMAGE_SUPERVISOR_INT_H
#define VIMAGE_SUPERVISOR_INT_H

#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "supervisor.h"

#define MAX_PENDING 1024

/* The control socket's address, for the backing sockets' data connections. */
extern struct sockaddr_un ctl_addr;
extern socklen_t ctl_len;
/* The seccomp listener and the agent session (-1 once the daemon is gone). */
extern int notify_fd;
extern int agent_fd;
/* The session key, in hex, for data connections. */
extern char key_hex[33];
/* Ids of image sockets and sequence numbers of requests, both chosen here. */
extern uint32_t next_id;
extern uint32_t next_seq;
/* Agent bytes read but not yet a whole reply. */
extern unsigned char rbuf[4096];
extern size_t rlen;

/*
 * A socket address as the wire carries it: IPv4 (addr, host byte order),
 * or with v6 set the IPv6 address of an AF_INET6 socket (x). Also the
 * sources of the datagrams put into a datagram socket, in order (there,
 * an ICMP socket's port is the hop limit the datagram arrived with).
 */
struct dg_src {
  uint32_t addr;
  uint16_t port;
  uint16_t v6;
  struct vsa_addr6 x;
};
#define DG_FIFO 1024

/* An image socket, known by the inode of the program's descriptor. */
struct isock {
  uint64_t ino;
  uint32_t id;
  int type;
  int v6; /* AF_INET6: an IPv6 socket of the image (IPv4 peers as v4-mapped addresses) */
  struct isock *next;
  /* Datagram sockets only (sfd >= 0): */
  int sfd;         /* our end of the SOCK_SEQPACKET pair */
  int netlink;     /* NETLINK_ROUTE rather than UDP */
  int proto;       /* IPPROTO_UDP, or an ICMP/ICMPv6 (ping) or raw socket's protocol (supervisor_icmp.c); 0 for netlink */
                   /* (a raw socket may have protocol IPPROTO_UDP too: dg_is_udp tells a UDP socket) */
  unsigned cmsg;   /* ICMP and raw sockets: the control messages asked for (supervisor_icmp.c) */
  uint32_t nl_pid; /* netlink port id */
  int err;         /* pending error (ICMP), reported by the next trapped call */
  int eof;         /* the program shut down its sending side: nothing more to read from sfd */
  struct dg_src *fifo;
  unsigned fhead, fcount;
};

/* A UDP socket, not a ping, raw (SOCK_RAW of any protocol, IPPROTO_UDP included) or netlink one. */
static inline int dg_is_udp(const struct isock *s) {
  return !s->netlink && s->type == SOCK_DGRAM && s->proto == IPPROTO_UDP;
}

enum { PK_AGENT = 0, PK_CHAN, PK_RECV };

/* A notification waiting: for the daemon's reply (agent or channel) or for a datagram. */
struct pending {
  int used;
  int kind; /* PK_AGENT, PK_CHAN (a VSD_STATUS frame), PK_RECV (rfd readable) */
  uint32_t seq;
  uint64_t nid; /* notification id */
  pid_t pid;
  int nr;
  uint64_t args[6];
  uint32_t newid; /* accept: the id given to the new connection */
  int lfd;        /* accept: our copy of the listening socket; socket(): the program's end; receive: our copy to poll */
  int v6;         /* addresses go back as sockaddr_in6 */
  uint32_t sid;   /* datagram calls: the socket's id */
  int64_t val;    /* a trapped send: the length to return */
  int64_t deadline; /* a blocking receive with SO_RCVTIMEO: CLOCK_MONOTONIC ms when it gives up, else 0 */
};
extern struct pending pend[MAX_PENDING];

/* Serve one notification. */
void handle(struct seccomp_notif *n);
/* Tell the daemon about requests whose caller went away. */
void sweep(void);
/* Read and dispatch the daemon's replies. */
void agent_read(void);
int write_all(int fd, const void *buf, size_t len);

/* supervisor_calls.c helpers the datagram code shares. */
struct isock *table_get(uint64_t ino);
struct isock *table_add(uint64_t ino, uint32_t id, int type, int v6);
void table_del(uint64_t ino);
void respond(uint64_t nid, int64_t val, int err);
void cont(uint64_t nid);
int still_valid(uint64_t nid);
int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
pid_t tgid_of(pid_t tid);
int grab_fd(pid_t tid, int fd);
uint64_t inode_of(int fd);
int put_sockaddr(pid_t pid, uint64_t addr, uint64_t lenp, const struct dg_src *a, int v6);
/* v6: 0 (AF_INET socket), 1 (AF_INET6), GSA_V6_DGRAM (an AF_INET6 UDP socket's connect or sendto: a sockaddr_in is taken too). */
#define GSA_V6_DGRAM 2
int get_sockaddr(pid_t pid, uint64_t addr, uint64_t len, int v6, struct dg_src *out);
struct pending *ask(struct seccomp_notif *n, struct vsa_req *q, uint32_t newid, int lfd);
/* As ask, with address `a` in the request (an AF_INET6 one as a struct vsa_addr6 after it). */
struct pending *ask_addr(struct seccomp_notif *n, struct vsa_req *q, const struct dg_src *a);
void sockopt(struct seccomp_notif *n, struct vsa_req *q);
int ctl_connect(void);

/* supervisor_dgram.c */
void dg_socket(struct seccomp_notif *n, int domain, int type, int proto);
void dg_socket_done(struct pending *p, struct vsa_rep *r);
void dg_call(struct seccomp_notif *n, struct isock *s);
int dg_ioctl(struct seccomp_notif *n);
void dg_forget(struct isock *s);
/* The main loop's part: fill pollfds (returns how many), then act on their events. */
int dg_pollfds(struct pollfd *pf, int room);
void dg_events(struct pollfd *pf, int n);
void dg_stale(struct pending *p);

/* supervisor_icmp.c: ICMP ("ping") and raw sockets, which are datagram sockets otherwise. */
int icmp_may_raw(pid_t pid);
int icmp_opt_denied(pid_t pid, int level, int name, int32_t v);
void icmp_note_opt(struct seccomp_notif *n, struct isock *s);
struct msghdr;
void icmp_errq_put(struct isock *s, const unsigned char *entry, size_t len);
int icmp_errq_read(struct pending *p, struct isock *s);
int icmp_cmsgs(struct isock *s, pid_t pid, const struct msghdr *mh, uint64_t mhp, struct dg_src src, int *mflags);

#endif
