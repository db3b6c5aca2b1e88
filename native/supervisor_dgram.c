/*
 * vimage-supervisor: datagram sockets (UDP, ICMP "ping" and raw sockets, see
 * also supervisor_icmp.c, and NETLINK_ROUTE) and interface ioctls (see
 * supervisor.c for the whole picture, supervisor.h for the wire).
 *
 * Why a SOCK_SEQPACKET pair: the program's descriptor must be a real
 * socket so that read, write, poll, epoll, dup, fork and fd passing run
 * natively, and it must keep datagram boundaries, which the stream
 * sockets vimaged can accept (Node has no SEQPACKET) do not. So the
 * program gets one end of an AF_UNIX SOCK_SEQPACKET pair and we keep the
 * other in our poll loop, relaying datagrams to and from the daemon over
 * the session's datagram channel (one stream connection for all datagram
 * sockets, framed, so a program making a socket per DNS query does not
 * cost a control connection each).
 *
 * - send/write on a connected socket (and sendto without an address) run
 *   natively: the datagram appears on our end and goes to the peer.
 * - sendto with an address, sendmsg and sendmmsg are trapped: we read the
 *   payload from the program's memory and send it with the address;
 *   sendto/sendmsg wait for the image's verdict (ENETUNREACH, EACCES...).
 * - Datagrams from the image are written into the pair and their source
 *   addresses kept, in order, in a per-socket FIFO. recv/read run
 *   natively (nginx and friends call recv on TCP sockets constantly; the
 *   filter cannot tell a TCP descriptor from a UDP one, so recvfrom with a
 *   NULL address is never trapped). recvfrom with an address, recvmsg and
 *   recvmmsg are trapped: we read the next datagram from our copy of the
 *   program's descriptor and write payload and address into its memory. A
 *   blocking one waits in pend[] until the descriptor is readable.
 *
 * Known limits: a program that mixes read()/recv() with recvfrom() on an
 * unconnected socket can see the wrong source address (the FIFO does not
 * see native reads); an ICMP error (ECONNREFUSED) is reported by the next
 * trapped call on the socket (recvfrom with an address, recvmsg, recvmmsg,
 * sendto with an address, sendmsg, sendmmsg, getsockopt SO_ERROR), not by
 * a native recv/send, which the kernel serves without us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "supervisor_int.h"

#define MAX_DGRAM_SOCKS 1024
#define UDP_MAX 65507

static int chan_fd = -1;
static struct isock *dgs[MAX_DGRAM_SOCKS];
static int ndgs;
/*
 * One frame being assembled: its payload always at obuf + OHDR, the header
 * right before it, or before the IPv6 address trailer when there is one.
 */
#define OHDR (sizeof(struct vsa_dg) + sizeof(struct vsa_addr6))
static unsigned char obuf[OHDR + VSA_DG_MAX];
static unsigned char ibuf[2 * (OHDR + VSA_DG_MAX)];
static size_t ilen;
static unsigned char dbuf[VSA_DG_MAX];
static uint32_t nl_next = 0x80000000u;

/* ---- the datagram channel ---- */

static int chan_open(void) {
  if (chan_fd >= 0) return 0;
  if (agent_fd < 0) return -ENETDOWN;
  int s = ctl_connect();
  if (s < 0) return -ENETDOWN;
  char req[256];
  int n = snprintf(req, sizeof req, "GET /v1/agent/data?key=%s&id=%u HTTP/1.1\r\nHost: vimaged\r\nConnection: Upgrade\r\nUpgrade: vimage-data\r\n\r\n", key_hex,
                   VSA_CHAN_ID);
  if (write_all(s, req, (size_t)n) < 0) {
    close(s);
    return -ENETDOWN;
  }
  chan_fd = s;
  return 0;
}

static void chan_gone(void) {
  if (chan_fd >= 0) close(chan_fd);
  chan_fd = -1;
  ilen = 0;
  for (int i = 0; i < MAX_PENDING; i++) {
    if (pend[i].used && pend[i].kind == PK_CHAN) {
      respond(pend[i].nid, -1, ENETDOWN);
      pend[i].used = 0;
    }
  }
}

/* Send one frame whose payload is already at obuf + OHDR; x: the IPv6 address it goes to (VSD_ADDR6), or NULL. */
static int chan_send6(uint32_t id, uint32_t seq, uint32_t addr, uint16_t port, uint16_t flags, size_t len, const struct vsa_addr6 *x) {
  if (chan_fd < 0) {
    chan_gone(); /* answers a call already waiting for this frame's status, as a failed write does */
    return -ENETDOWN;
  }
  struct vsa_dg h = {.len = (uint32_t)len, .id = id, .seq = seq, .addr = addr, .port = port, .flags = flags};
  size_t at = sizeof(struct vsa_addr6);
  if (x != NULL) {
    h.flags |= VSD_ADDR6;
    memcpy(obuf + sizeof h, x, sizeof *x);
    at = 0;
  }
  memcpy(obuf + at, &h, sizeof h);
  if (write_all(chan_fd, obuf + at, OHDR - at + len) < 0) {
    chan_gone();
    return -ENETDOWN;
  }
  return 0;
}

static int chan_send(uint32_t id, uint32_t seq, uint32_t addr, uint16_t port, uint16_t flags, size_t len) {
  return chan_send6(id, seq, addr, port, flags, len, NULL);
}

static struct isock *by_id(uint32_t id) {
  for (int i = 0; i < ndgs; i++)
    if (dgs[i]->id == id) return dgs[i];
  return NULL;
}

static struct pending *slot(void) {
  for (int i = 0; i < MAX_PENDING; i++)
    if (!pend[i].used) {
      memset(&pend[i], 0, sizeof pend[i]);
      pend[i].lfd = -1;
      return &pend[i];
    }
  return NULL;
}

/* Keep notification n waiting for the VSA_STATUS frame of a new seq; returns the seq, or 0 (answered with an error). */
static uint32_t wait_status(struct seccomp_notif *n, struct isock *s, int64_t val) {
  struct pending *p = slot();
  if (p == NULL) {
    respond(n->id, -1, EAGAIN);
    return 0;
  }
  p->used = 1;
  p->kind = PK_CHAN;
  p->seq = next_seq++;
  p->nid = n->id;
  p->pid = n->pid;
  p->nr = n->data.nr;
  memcpy(p->args, n->data.args, sizeof p->args);
  p->sid = s != NULL ? s->id : 0;
  p->val = val;
  return p->seq;
}

/* ---- sockets ---- */

void dg_socket(struct seccomp_notif *n, int domain, int type, int proto) {
  int raw = domain == AF_INET && (type & 0xf) == SOCK_RAW;
  if (raw) {
    /* Linux's inet_create, in its order: the protocol's range, a protocol at all, then CAP_NET_RAW. */
    if (proto < 0 || proto > 255) {
      respond(n->id, -1, EINVAL);
      return;
    }
    if (proto == 0) {
      respond(n->id, -1, EPROTONOSUPPORT);
      return;
    }
    if (!icmp_may_raw(n->pid)) {
      respond(n->id, -1, EPERM);
      return;
    }
  }
  if (ndgs >= MAX_DGRAM_SOCKS) {
    respond(n->id, -1, ENOBUFS);
    return;
  }
  int r = chan_open();
  if (r < 0) {
    respond(n->id, -1, -r);
    return;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    respond(n->id, -1, errno);
    return;
  }
  if (type & SOCK_NONBLOCK) fcntl(sv[0], F_SETFL, O_NONBLOCK);
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  /* Room for bursts: the pair's buffers are the socket's receive and send buffers. */
  int big = 1 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  struct isock *s = table_add(inode_of(sv[0]), next_id++, SOCK_DGRAM, domain == AF_INET6);
  struct dg_src *fifo = calloc(DG_FIFO, sizeof *fifo);
  if (s == NULL || fifo == NULL) {
    if (s != NULL) table_del(s->ino);
    free(fifo);
    close(sv[0]);
    close(sv[1]);
    respond(n->id, -1, ENOMEM);
    return;
  }
  s->sfd = sv[1];
  s->fifo = fifo;
  s->netlink = domain == AF_NETLINK;
  s->type = type & 0xf;
  s->proto = s->netlink ? 0 : (raw || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) ? proto : IPPROTO_UDP;
  s->cmsg = 0;
  if (s->netlink) {
    /* The kernel gives a process's first netlink socket its pid as port id, later ones other numbers. */
    pid_t tg = tgid_of(n->pid);
    s->nl_pid = (uint32_t)tg;
    for (int i = 0; i < ndgs; i++)
      if (dgs[i]->netlink && dgs[i]->nl_pid == (uint32_t)tg) s->nl_pid = nl_next++;
  }
  dgs[ndgs++] = s;
  struct vsa_req q = {
      .op = VSA_DGRAM, .type = SOCK_DGRAM, .id = s->id, .flags = s->v6 ? VSA_INET6 : 0, .a = s->netlink ? VSA_NETLINK_ROUTE : s->proto, .b = s->netlink ? SOCK_DGRAM : s->type};
  struct pending *p = ask(n, &q, 0, sv[0]);
  if (p == NULL) table_del(s->ino); /* ask answered and closed sv[0] */
  else p->sid = s->id;
}

/* The daemon made (or refused) the image socket: give the program its end. */
void dg_socket_done(struct pending *p, struct vsa_rep *r) {
  struct isock *s = by_id(p->sid);
  if (r->err != 0 || s == NULL) {
    if (s != NULL) table_del(s->ino);
    respond(p->nid, -1, r->err != 0 ? r->err : ENOMEM);
    return;
  }
  int type = (int)p->args[1];
  struct seccomp_notif_addfd af = {
      .id = p->nid, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)p->lfd, .newfd = 0, .newfd_flags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0};
  if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &af) < 0) {
    table_del(s->ino);
    if (agent_fd >= 0) {
      struct vsa_req q = {.seq = next_seq++, .op = VSA_CLOSE, .id = p->sid};
      (void)write_all(agent_fd, &q, sizeof q);
    }
  }
}

/* A pending call whose caller went away (or whose daemon did): free it and what it holds. */
void dg_stale(struct pending *p) {
  if (p->nr == __NR_socket && p->lfd >= 0) {
    struct isock *s = by_id(p->sid);
    if (s != NULL) table_del(s->ino);
    if (agent_fd >= 0) {
      struct vsa_req q = {.seq = next_seq++, .op = VSA_CLOSE, .id = p->sid}; /* the daemon may have made it already */
      (void)write_all(agent_fd, &q, sizeof q);
    }
  }
  if (p->lfd >= 0) close(p->lfd);
  p->lfd = -1;
  p->used = 0;
}

/* Called by table_del: the program closed its last descriptor, or the socket never got going. */
void dg_forget(struct isock *s) {
  for (int i = 0; i < ndgs; i++) {
    if (dgs[i] == s) {
      dgs[i] = dgs[--ndgs];
      break;
    }
  }
  close(s->sfd);
  s->sfd = -1;
  free(s->fifo);
  s->fifo = NULL;
}

/* ---- helpers ---- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

static int take_err(struct isock *s) {
  int e = s->err;
  s->err = 0;
  return e;
}

/* Gather the iovecs of a msghdr in the program into dbuf; the length, or -errno. */
static ssize_t gather(pid_t pid, uint64_t iov, uint64_t iovlen, size_t max) {
  if (iovlen > 1024) return -EMSGSIZE;
  size_t total = 0;
  for (uint64_t i = 0; i < iovlen; i++) {
    struct iovec v;
    if (mem_read(pid, iov + i * sizeof v, &v, sizeof v) < 0) return -EFAULT;
    if (v.iov_len == 0) continue;
    if (total + v.iov_len > max) return -EMSGSIZE;
    if (mem_read(pid, (uint64_t)(uintptr_t)v.iov_base, dbuf + total, v.iov_len) < 0) return -EFAULT;
    total += v.iov_len;
  }
  return (ssize_t)total;
}

/* Scatter n bytes of dbuf into the program's iovecs; the bytes written, or -errno. */
static ssize_t scatter(pid_t pid, uint64_t iov, uint64_t iovlen, size_t n) {
  if (iovlen > 1024) return -EMSGSIZE;
  size_t done = 0;
  for (uint64_t i = 0; i < iovlen && done < n; i++) {
    struct iovec v;
    if (mem_read(pid, iov + i * sizeof v, &v, sizeof v) < 0) return -EFAULT;
    size_t k = v.iov_len < n - done ? v.iov_len : n - done;
    if (k > 0 && mem_write(pid, (uint64_t)(uintptr_t)v.iov_base, dbuf + done, k) < 0) return -EFAULT;
    done += k;
  }
  return (ssize_t)done;
}

/* Write the source of a received datagram as the program's socket names it. */
static int put_src(struct isock *s, pid_t pid, uint64_t addr, uint64_t lenp, struct dg_src src) {
  /* ICMP and raw sockets: port 0 (src.port is the TTL the datagram arrived with). */
  if (!s->netlink) {
    if (!dg_is_udp(s)) src.port = 0;
    return put_sockaddr(pid, addr, lenp, &src, s->v6);
  }
  if (addr == 0) return 0;
  uint32_t len;
  if (mem_read(pid, lenp, &len, sizeof len) < 0) return -EFAULT;
  if ((int32_t)len < 0) return -EINVAL;
  /* From the kernel: port id 0, no groups (glibc drops anything else). */
  struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
  uint32_t full = sizeof nl;
  size_t k = len < full ? len : full;
  if (k > 0 && mem_write(pid, addr, &nl, k) < 0) return -EFAULT;
  return mem_write(pid, lenp, &full, sizeof full) < 0 ? -EFAULT : 0;
}

/* ---- sending ---- */

/* A datagram of len bytes at obuf + OHDR, to `to` (or the peer with VSD_NOADDR); sync waits for the verdict. */
static void send_dgram(struct seccomp_notif *n, struct isock *s, size_t len, const struct dg_src *to, uint16_t flags, int sync) {
  const struct vsa_addr6 *x = to->v6 && !(flags & VSD_NOADDR) ? &to->x : NULL;
  uint32_t addr = to->addr;
  uint16_t port = to->port;
  if (s->netlink) {
    /* A request to the kernel: answered later as datagrams on the pair. */
    int r = chan_send(s->id, 0, s->nl_pid, 0, VSD_NOADDR, len);
    respond(n->id, r < 0 ? -1 : (int64_t)len, r < 0 ? -r : 0);
    return;
  }
  if (!sync) {
    int r = chan_send6(s->id, 0, addr, port, flags, len, x);
    respond(n->id, r < 0 ? -1 : (int64_t)len, r < 0 ? -r : 0);
    return;
  }
  uint32_t seq = wait_status(n, s, (int64_t)len);
  if (seq == 0) return;
  (void)chan_send6(s->id, seq, addr, port, flags | VSD_ACK, len, x); /* on failure chan_gone answered it */
}

/* The destination of a trapped send: 0 with `to` and flags, or -errno. */
static int dest(struct seccomp_notif *n, struct isock *s, uint64_t name, uint64_t namelen, struct dg_src *to, uint16_t *flags) {
  memset(to, 0, sizeof *to);
  *flags = 0;
  if (s->netlink) return 0;
  if (name == 0 || namelen == 0) {
    *flags = VSD_NOADDR;
    return 0;
  }
  return get_sockaddr(n->pid, name, namelen, s->v6 && dg_is_udp(s) ? GSA_V6_DGRAM : s->v6, to);
}

static void do_sendto(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  size_t len = (size_t)a[2];
  if (!s->netlink && len > UDP_MAX) {
    respond(n->id, -1, EMSGSIZE);
    return;
  }
  if (len > VSA_DG_MAX) {
    respond(n->id, -1, EMSGSIZE);
    return;
  }
  struct dg_src to;
  uint16_t flags;
  int r = dest(n, s, a[4], a[5], &to, &flags);
  if (r == 0 && len > 0 && mem_read(n->pid, a[1], obuf + OHDR, len) < 0) r = -EFAULT;
  if (!still_valid(n->id)) return;
  if (r == 0 && s->err != 0) r = -take_err(s);
  if (r < 0) {
    respond(n->id, -1, -r);
    return;
  }
  send_dgram(n, s, len, &to, flags, 1);
}

static void do_sendmsg(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  struct msghdr mh;
  if (mem_read(n->pid, a[1], &mh, sizeof mh) < 0) {
    respond(n->id, -1, EFAULT);
    return;
  }
  struct dg_src to;
  uint16_t flags;
  int r = dest(n, s, (uint64_t)(uintptr_t)mh.msg_name, mh.msg_namelen, &to, &flags);
  ssize_t len = 0;
  if (r == 0) len = gather(n->pid, (uint64_t)(uintptr_t)mh.msg_iov, mh.msg_iovlen, s->netlink ? VSA_DG_MAX : UDP_MAX);
  if (len < 0) r = (int)len;
  if (r == 0) memmove(obuf + OHDR, dbuf, (size_t)len);
  if (!still_valid(n->id)) return;
  if (r == 0 && s->err != 0) r = -take_err(s);
  if (r < 0) {
    respond(n->id, -1, -r);
    return;
  }
  send_dgram(n, s, (size_t)len, &to, flags, 1);
}

/* sendmmsg: each message is sent without waiting for the image's verdict (errors after the first are lost, as UDP may lose them). */
static void do_sendmmsg(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  unsigned vlen = (unsigned)a[2] > 1024 ? 1024 : (unsigned)a[2];
  if (s->err != 0) {
    respond(n->id, -1, take_err(s));
    return;
  }
  unsigned i;
  int err = 0;
  for (i = 0; i < vlen; i++) {
    struct mmsghdr mm;
    uint64_t at = a[1] + i * sizeof mm;
    if (mem_read(n->pid, at, &mm, sizeof mm) < 0) {
      err = EFAULT;
      break;
    }
    struct dg_src to;
    uint16_t flags;
    int r = dest(n, s, (uint64_t)(uintptr_t)mm.msg_hdr.msg_name, mm.msg_hdr.msg_namelen, &to, &flags);
    ssize_t len = r < 0 ? r : gather(n->pid, (uint64_t)(uintptr_t)mm.msg_hdr.msg_iov, mm.msg_hdr.msg_iovlen, s->netlink ? VSA_DG_MAX : UDP_MAX);
    if (len < 0) {
      err = (int)-len;
      break;
    }
    memmove(obuf + OHDR, dbuf, (size_t)len);
    const struct vsa_addr6 *x = !s->netlink && to.v6 && !(flags & VSD_NOADDR) ? &to.x : NULL;
    if (chan_send6(s->id, 0, s->netlink ? s->nl_pid : to.addr, to.port, s->netlink ? VSD_NOADDR : flags, (size_t)len, x) < 0) {
      err = ENETDOWN;
      break;
    }
    unsigned ml = (unsigned)len;
    if (mem_write(n->pid, at + offsetof(struct mmsghdr, msg_len), &ml, sizeof ml) < 0) {
      err = EFAULT;
      break;
    }
  }
  if (i > 0) respond(n->id, i, 0);
  else respond(n->id, -1, err != 0 ? err : EINVAL);
}

/* ---- receiving ---- */

/*
 * Deliver the next datagram on our copy d of the program's descriptor to
 * call p (recvfrom, recvmsg or recvmmsg). Returns 1 when answered, 0 when
 * nothing is there yet.
 */
static int deliver(struct pending *p, struct isock *s, int d) {
  uint64_t *a = p->args;
  if (((p->nr == __NR_recvmsg ? (int)a[2] : (int)a[3]) & MSG_ERRQUEUE) != 0) {
    /* The error queue (IP_RECVERR): ping sockets keep ICMP errors there (supervisor_icmp.c); else always empty. */
    if (!icmp_errq_read(p, s)) respond(p->nid, -1, EAGAIN);
    return 1;
  }
  if (s->err != 0) {
    respond(p->nid, -1, take_err(s));
    return 1;
  }
  if (!still_valid(p->nid)) {
    respond(p->nid, -1, EINTR);
    return 1;
  }
  int flags = p->nr == __NR_recvfrom ? (int)a[3] : (int)a[2];
  if (p->nr == __NR_recvmmsg) flags = (int)a[3];
  int peek = flags & MSG_PEEK;
  unsigned count = p->nr == __NR_recvmmsg ? ((unsigned)a[2] > 1024 ? 1024 : (unsigned)a[2]) : 1;
  if (count == 0) {
    respond(p->nid, 0, 0);
    return 1;
  }
  unsigned got = 0;
  for (; got < count; got++) {
    ssize_t n = recv(d, dbuf, sizeof dbuf, MSG_DONTWAIT | MSG_TRUNC | peek);
    if (n < 0) {
      if (errno == EAGAIN && got == 0) return 0;
      if (got > 0) break;
      respond(p->nid, -1, errno);
      return 1;
    }
    struct dg_src src;
    memset(&src, 0, sizeof src);
    if (s->fcount > 0) {
      src = s->fifo[s->fhead];
      if (!peek) {
        s->fhead = (s->fhead + 1) % DG_FIFO;
        s->fcount--;
      }
    }
    size_t have = (size_t)n < sizeof dbuf ? (size_t)n : sizeof dbuf;
    int64_t ret;
    int r = 0;
    if (p->nr == __NR_recvfrom) {
      size_t room = (size_t)a[2];
      size_t k = have < room ? have : room;
      if (k > 0 && mem_write(p->pid, a[1], dbuf, k) < 0) r = -EFAULT;
      if (r == 0) r = put_src(s, p->pid, a[4], a[5], src);
      ret = (flags & MSG_TRUNC) ? n : (int64_t)k;
      if (r < 0) {
        respond(p->nid, -1, -r);
        return 1;
      }
      respond(p->nid, ret, 0);
      return 1;
    }
    uint64_t mhp = p->nr == __NR_recvmsg ? a[1] : a[1] + got * sizeof(struct mmsghdr);
    struct msghdr mh;
    if (mem_read(p->pid, mhp, &mh, sizeof mh) < 0) r = -EFAULT;
    ssize_t k = r < 0 ? r : scatter(p->pid, (uint64_t)(uintptr_t)mh.msg_iov, mh.msg_iovlen, have);
    if (k < 0) r = (int)k;
    if (r == 0) r = put_src(s, p->pid, (uint64_t)(uintptr_t)mh.msg_name, mhp + offsetof(struct msghdr, msg_namelen), src);
    if (r == 0) {
      size_t zero = 0;
      int mf = (size_t)k < (size_t)n ? MSG_TRUNC : 0;
      if (s->cmsg != 0) r = icmp_cmsgs(s, p->pid, &mh, mhp, src, &mf); /* SO_TIMESTAMP*, IP_RECVTTL */
      else if (mem_write(p->pid, mhp + offsetof(struct msghdr, msg_controllen), &zero, sizeof zero) < 0) r = -EFAULT;
      if (r == 0 && mem_write(p->pid, mhp + offsetof(struct msghdr, msg_flags), &mf, sizeof mf) < 0) r = -EFAULT;
    }
    if (r < 0) {
      if (got > 0) break;
      respond(p->nid, -1, -r);
      return 1;
    }
    if (p->nr == __NR_recvmsg) {
      respond(p->nid, (flags & MSG_TRUNC) ? n : k, 0);
      return 1;
    }
    unsigned ml = (unsigned)((flags & MSG_TRUNC) ? n : k);
    (void)mem_write(p->pid, a[1] + got * sizeof(struct mmsghdr) + offsetof(struct mmsghdr, msg_len), &ml, sizeof ml);
    if (peek) {
      got++;
      break;
    }
  }
  respond(p->nid, got, 0);
  return 1;
}

static void do_recv(struct seccomp_notif *n, struct isock *s) {
  int d = grab_fd(n->pid, (int)n->data.args[0]);
  if (d < 0) {
    respond(n->id, -1, EBADF);
    return;
  }
  struct pending tmp = {.used = 1, .kind = PK_RECV, .nid = n->id, .pid = n->pid, .nr = n->data.nr, .lfd = d, .sid = s->id};
  memcpy(tmp.args, n->data.args, sizeof tmp.args);
  if (deliver(&tmp, s, d)) {
    close(d);
    return;
  }
  int flags = n->data.nr == __NR_recvmsg ? (int)n->data.args[2] : (int)n->data.args[3];
  if ((flags & MSG_DONTWAIT) || nonblocking(d)) {
    close(d);
    respond(n->id, -1, EAGAIN);
    return;
  }
  /* A blocking receive: wait in pend[] until d is readable (or the caller goes away: sweep; or SO_RCVTIMEO passes). */
  struct pending *p = slot();
  if (p == NULL) {
    close(d);
    respond(n->id, -1, EAGAIN);
    return;
  }
  struct timeval tv = {0, 0};
  socklen_t tl = sizeof tv;
  if (getsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 && (tv.tv_sec > 0 || tv.tv_usec > 0))
    tmp.deadline = now_ms() + (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  *p = tmp;
}

/* ---- the calls on a datagram socket ---- */

static void from_program(struct isock *s, short rev);

/*
 * setsockopt on an ICMP or raw socket goes over the datagram channel, in
 * order with the datagrams: traceroute sets IP_TTL and then send()s on a
 * connected socket natively, so the option must not overtake a datagram
 * still in the pair (over the agent session it could). Returns 0 when the
 * option is the kernel's to serve (sockopt() continues it).
 */
static int chan_setopt(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  int level = (int)a[1], name = (int)a[2];
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_RCVLOWAT || name == 66 || name == 67)) return 0;
  int32_t v = 0;
  uint32_t len = (uint32_t)a[4];
  int r = a[3] == 0 || len == 0 ? -EFAULT : mem_read(n->pid, a[3], &v, len < 4 ? len : 4) < 0 ? -EFAULT : 0;
  if (!still_valid(n->id)) return 1;
  if (r < 0) {
    respond(n->id, -1, -r);
    return 1;
  }
  if (len == 1) v &= 0xff;
  int denied = icmp_opt_denied(n->pid, level, name, v);
  if (denied != 0) {
    respond(n->id, -1, denied);
    return 1;
  }
  for (int i = 0; i < 16; i++) from_program(s, 0); /* what the program wrote before goes first */
  uint32_t seq = wait_status(n, s, 0);
  if (seq == 0) return 1;
  memcpy(obuf + OHDR, &v, sizeof v);
  (void)chan_send(s->id, seq, (uint32_t)level, (uint16_t)name, VSD_SETOPT | VSD_ACK, sizeof v); /* on failure chan_gone answered it */
  return 1;
}

static void nl_sockopt(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  if (n->data.nr == __NR_setsockopt) {
    respond(n->id, 0, 0); /* buffer sizes, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK...: accepted */
    return;
  }
  int level = (int)a[1], name = (int)a[2];
  int32_t v = 0;
  if (level == SOL_SOCKET) {
    if (name == SO_TYPE) v = s->type;
    else if (name == SO_DOMAIN) v = AF_NETLINK;
    else if (name == SO_PROTOCOL) v = NETLINK_ROUTE;
    else if (name == SO_RCVBUF || name == SO_SNDBUF) v = 212992;
    else if (name == SO_ERROR) v = take_err(s);
  }
  uint32_t len;
  if (mem_read(n->pid, a[4], &len, sizeof len) < 0 || (int32_t)len < 0) {
    respond(n->id, -1, EFAULT);
    return;
  }
  uint32_t k = len < 4 ? len : 4;
  if ((k > 0 && mem_write(n->pid, a[3], &v, k) < 0) || mem_write(n->pid, a[4], &k, sizeof k) < 0) respond(n->id, -1, EFAULT);
  else respond(n->id, 0, 0);
}

static void nl_name(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  uint32_t len;
  if (mem_read(n->pid, a[2], &len, sizeof len) < 0 || (int32_t)len < 0) {
    respond(n->id, -1, EFAULT);
    return;
  }
  struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_pid = n->data.nr == __NR_getsockname ? s->nl_pid : 0};
  uint32_t full = sizeof nl;
  size_t k = len < full ? len : full;
  if ((k > 0 && mem_write(n->pid, a[1], &nl, k) < 0) || mem_write(n->pid, a[2], &full, sizeof full) < 0) respond(n->id, -1, EFAULT);
  else respond(n->id, 0, 0);
}

void dg_call(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  switch (n->data.nr) {
  case __NR_sendto:
    do_sendto(n, s);
    return;
  case __NR_sendmsg:
    do_sendmsg(n, s);
    return;
  case __NR_sendmmsg:
    do_sendmmsg(n, s);
    return;
  case __NR_recvfrom:
  case __NR_recvmsg:
  case __NR_recvmmsg:
    do_recv(n, s);
    return;
  case __NR_listen:
  case __NR_accept:
  case __NR_accept4:
    respond(n->id, -1, EOPNOTSUPP);
    return;
  default:
    break;
  }
  if (s->netlink) {
    switch (n->data.nr) {
    case __NR_bind:
    case __NR_connect: {
      struct sockaddr_nl nl;
      memset(&nl, 0, sizeof nl);
      if (a[2] < sizeof nl) {
        respond(n->id, -1, EINVAL);
        return;
      }
      if (mem_read(n->pid, a[1], &nl, sizeof nl) < 0) {
        respond(n->id, -1, EFAULT);
        return;
      }
      if (nl.nl_family != AF_NETLINK) {
        respond(n->id, -1, EINVAL);
        return;
      }
      /* bind: port id 0 means "assign one" (kept: the process's pid); multicast groups are accepted and stay silent. */
      if (n->data.nr == __NR_bind && nl.nl_pid != 0) s->nl_pid = nl.nl_pid;
      respond(n->id, 0, 0);
      return;
    }
    case __NR_getsockname:
    case __NR_getpeername:
      nl_name(n, s);
      return;
    case __NR_setsockopt:
    case __NR_getsockopt:
      nl_sockopt(n, s);
      return;
    default:
      cont(n->id);
      return;
    }
  }
  struct vsa_req q = {.type = SOCK_DGRAM, .id = s->id, .flags = s->v6 ? VSA_INET6 : 0};
  struct dg_src to;
  memset(&to, 0, sizeof to);
  int r;
  switch (n->data.nr) {
  case __NR_connect: {
    sa_family_t fam = 0;
    if (a[2] >= sizeof fam && mem_read(n->pid, a[1], &fam, sizeof fam) < 0) {
      respond(n->id, -1, EFAULT);
      return;
    }
    if (a[2] >= sizeof fam && fam == AF_UNSPEC) {
      q.flags |= VSA_UNSPEC; /* forget the peer */
      r = 0;
    } else {
      r = get_sockaddr(n->pid, a[1], a[2], s->v6 && dg_is_udp(s) ? GSA_V6_DGRAM : s->v6, &to);
    }
    if (!still_valid(n->id)) return;
    if (r < 0) {
      respond(n->id, -1, -r);
      return;
    }
    s->err = 0;
    q.op = VSA_CONNECT;
    ask_addr(n, &q, &to);
    return;
  }
  case __NR_bind:
    r = get_sockaddr(n->pid, a[1], a[2], s->v6, &to);
    if (!still_valid(n->id)) return;
    if (r < 0) {
      respond(n->id, -1, -r);
      return;
    }
    q.op = VSA_BIND;
    ask_addr(n, &q, &to);
    return;
  case __NR_getsockname:
  case __NR_getpeername:
    q.op = VSA_NAME;
    q.a = n->data.nr == __NR_getpeername;
    ask(n, &q, 0, -1);
    return;
  case __NR_getsockopt:
    if ((int)a[1] == SOL_SOCKET && (int)a[2] == SO_ERROR && s->err != 0) {
      int32_t v = take_err(s);
      uint32_t four = 4;
      if (mem_write(n->pid, a[3], &v, sizeof v) < 0 || mem_write(n->pid, a[4], &four, sizeof four) < 0) respond(n->id, -1, EFAULT);
      else respond(n->id, 0, 0);
      return;
    }
    break;
  default:
    break;
  }
  if (n->data.nr == __NR_setsockopt && !dg_is_udp(s)) {
    icmp_note_opt(n, s); /* the control messages it asks for */
    if (chan_setopt(n, s)) return;
  }
  if (n->data.nr == __NR_setsockopt || n->data.nr == __NR_getsockopt) sockopt(n, &q); /* as for TCP, with the socket's type */
  else cont(n->id);
}

/* ---- interface ioctls ---- */

int dg_ioctl(struct seccomp_notif *n) {
  unsigned cmd = (unsigned)n->data.args[1];
  switch (cmd) {
  case SIOCGIFCONF:
  case SIOCGIFFLAGS:
  case SIOCGIFADDR:
  case SIOCGIFNETMASK:
  case SIOCGIFBRDADDR:
  case SIOCGIFDSTADDR:
  case SIOCGIFINDEX:
  case SIOCGIFNAME:
  case SIOCGIFHWADDR:
  case SIOCGIFMTU:
  case SIOCGIFMETRIC:
  case SIOCGIFTXQLEN:
  case SIOCGIFMAP:
    break;
  default:
    return 0;
  }
  int r = chan_open();
  if (r < 0) {
    respond(n->id, -1, -r);
    return 1;
  }
  uint64_t arg = n->data.args[2];
  size_t len;
  if (cmd == SIOCGIFCONF) {
    struct ifconf ic;
    if (mem_read(n->pid, arg, &ic, sizeof ic) < 0) r = -EFAULT;
    /* A NULL buffer asks for the size the whole list needs (Linux's dev_ifconf). */
    uint32_t room = ic.ifc_buf == NULL ? VSA_DG_MAX : ic.ifc_len < 0 ? 0 : (uint32_t)ic.ifc_len;
    if (room > VSA_DG_MAX) room = VSA_DG_MAX;
    memcpy(obuf + OHDR, &room, sizeof room);
    len = sizeof room;
  } else {
    if (mem_read(n->pid, arg, obuf + OHDR, sizeof(struct ifreq)) < 0) r = -EFAULT;
    len = sizeof(struct ifreq);
  }
  if (!still_valid(n->id)) return 1;
  if (r < 0) {
    respond(n->id, -1, -r);
    return 1;
  }
  uint32_t seq = wait_status(n, NULL, 0);
  if (seq != 0) (void)chan_send(0, seq, cmd, 0, VSD_IOCTL, len);
  return 1;
}

static void ioctl_done(struct pending *p, int err, const unsigned char *data, size_t len) {
  if (err != 0) {
    respond(p->nid, -1, err);
    return;
  }
  uint64_t arg = p->args[2];
  if ((unsigned)p->args[1] == SIOCGIFCONF) {
    struct ifconf ic;
    if (mem_read(p->pid, arg, &ic, sizeof ic) < 0) {
      respond(p->nid, -1, EFAULT);
      return;
    }
    if (ic.ifc_buf != NULL) {
      size_t room = ic.ifc_len > 0 ? (size_t)ic.ifc_len : 0;
      size_t k = len < room ? len : room;
      k -= k % sizeof(struct ifreq);
      if (k > 0 && mem_write(p->pid, (uint64_t)(uintptr_t)ic.ifc_buf, data, k) < 0) {
        respond(p->nid, -1, EFAULT);
        return;
      }
      len = k;
    }
    int32_t il = (int32_t)len;
    if (mem_write(p->pid, arg + offsetof(struct ifconf, ifc_len), &il, sizeof il) < 0) respond(p->nid, -1, EFAULT);
    else respond(p->nid, 0, 0);
    return;
  }
  size_t k = len < sizeof(struct ifreq) ? len : sizeof(struct ifreq);
  if (k > 0 && mem_write(p->pid, arg, data, k) < 0) respond(p->nid, -1, EFAULT);
  else respond(p->nid, 0, 0);
}

/* ---- the main loop's part ---- */

/* A frame from the daemon (x: its IPv6 address trailer, or NULL). */
static void chan_frame(const struct vsa_dg *h, const struct vsa_addr6 *x, const unsigned char *data) {
  if (h->flags & VSD_STATUS) {
    for (int i = 0; i < MAX_PENDING; i++) {
      struct pending *p = &pend[i];
      if (!p->used || p->kind != PK_CHAN || p->seq != h->seq) continue;
      if (!still_valid(p->nid)) {
        p->used = 0;
        return;
      }
      if (p->nr == __NR_ioctl) ioctl_done(p, (int)h->addr, data, h->len);
      else respond(p->nid, h->addr != 0 ? -1 : p->val, (int)h->addr);
      p->used = 0;
      return;
    }
    return;
  }
  struct isock *s = by_id(h->id);
  if (s == NULL) return;
  if (h->flags & VSD_ERROR) {
    if (h->len > 0) icmp_errq_put(s, data, h->len); /* an entry for the error queue (ping sockets with IP_RECVERR) */
    s->err = (int)h->addr;
    /* A blocked trapped receive hears it now (Linux wakes it with the error). */
    for (int i = 0; i < MAX_PENDING; i++) {
      struct pending *p = &pend[i];
      if (p->used && p->kind == PK_RECV && p->sid == s->id) {
        respond(p->nid, -1, take_err(s));
        close(p->lfd);
        p->used = 0;
        break;
      }
    }
    return;
  }
  if (send(s->sfd, data, h->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return; /* the program's receive buffer is full: dropped, as UDP does */
  if (s->fcount == DG_FIFO) {
    /* Native reads took datagrams without us: forget the oldest source. */
    s->fhead = (s->fhead + 1) % DG_FIFO;
    s->fcount--;
  }
  struct dg_src *e = &s->fifo[(s->fhead + s->fcount) % DG_FIFO];
  e->addr = h->addr;
  e->port = h->port;
  e->v6 = x != NULL;
  if (x != NULL) e->x = *x;
  s->fcount++;
}

static void chan_read(void) {
  ssize_t n = read(chan_fd, ibuf + ilen, sizeof ibuf - ilen);
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    chan_gone();
    return;
  }
  ilen += (size_t)n;
  size_t off = 0;
  for (;;) {
    struct vsa_dg h;
    if (ilen - off < sizeof h) break;
    memcpy(&h, ibuf + off, sizeof h);
    if (h.len > VSA_DG_MAX) {
      chan_gone(); /* not the daemon we know */
      return;
    }
    size_t xl = (h.flags & VSD_ADDR6) ? sizeof(struct vsa_addr6) : 0;
    if (ilen - off - sizeof h < xl + h.len) break;
    struct vsa_addr6 x;
    if (xl > 0) memcpy(&x, ibuf + off + sizeof h, sizeof x);
    chan_frame(&h, xl > 0 ? &x : NULL, ibuf + off + sizeof h + xl);
    off += sizeof h + xl + h.len;
  }
  memmove(ibuf, ibuf + off, ilen - off);
  ilen -= off;
}

/* A datagram the program wrote natively (send/write on a connected socket). */
static void from_program(struct isock *s, short rev) {
  for (int i = 0; i < 64; i++) {
    ssize_t n = recv(s->sfd, obuf + OHDR, VSA_DG_MAX, MSG_DONTWAIT);
    if (n < 0) break;
    if (n == 0) {
      /* An empty datagram, or the end: shutdown(SHUT_WR) or close (then recv returns 0 for ever). */
      struct pollfd e = {s->sfd, POLLRDHUP, 0};
      if ((rev & POLLHUP) || (poll(&e, 1, 0) > 0 && (e.revents & (POLLRDHUP | POLLHUP)))) {
        s->eof = 1;
        break;
      }
    }
    if (chan_send(s->id, 0, s->netlink ? s->nl_pid : 0, 0, VSD_NOADDR, (size_t)n) < 0) break;
  }
}

static int mapped[MAX_DGRAM_SOCKS + MAX_PENDING + 1]; /* pollfd index -> what: -1 channel, 0..: dgs index, >= 0x10000: pend index */

int dg_pollfds(struct pollfd *pf, int room) {
  int k = 0;
  if (chan_fd >= 0 && k < room) {
    pf[k] = (struct pollfd){chan_fd, POLLIN, 0};
    mapped[k++] = -1;
  }
  for (int i = 0; i < ndgs && k < room; i++) {
    pf[k] = (struct pollfd){dgs[i]->sfd, dgs[i]->eof ? 0 : POLLIN, 0}; /* POLLHUP comes anyway */
    mapped[k++] = i;
  }
  int64_t now = -1;
  for (int i = 0; i < MAX_PENDING && k < room; i++) {
    if (!pend[i].used || pend[i].kind != PK_RECV) continue;
    if (pend[i].deadline != 0) {
      if (now < 0) now = now_ms();
      if (now >= pend[i].deadline) { /* SO_RCVTIMEO passed (checked each turn of the loop: 250 ms at worst) */
        respond(pend[i].nid, -1, EAGAIN);
        close(pend[i].lfd);
        pend[i].used = 0;
        continue;
      }
    }
    pf[k] = (struct pollfd){pend[i].lfd, POLLIN, 0};
    mapped[k++] = 0x10000 + i;
  }
  return k;
}

void dg_events(struct pollfd *pf, int n) {
  /* Sockets first (their indexes shift when one goes), pending receives and the channel after. */
  struct isock *gone[MAX_DGRAM_SOCKS];
  int ngone = 0;
  for (int k = 0; k < n; k++) {
    if (pf[k].revents == 0) continue;
    int m = mapped[k];
    if (m >= 0 && m < 0x10000) {
      if (m >= ndgs || dgs[m]->sfd != pf[k].fd) continue;
      struct isock *s = dgs[m];
      if (pf[k].revents & POLLIN) from_program(s, pf[k].revents);
      if ((pf[k].revents & (POLLHUP | POLLERR)) && ngone < MAX_DGRAM_SOCKS) gone[ngone++] = s;
    } else if (m >= 0x10000) {
      struct pending *p = &pend[m - 0x10000];
      if (!p->used || p->kind != PK_RECV || p->lfd != pf[k].fd) continue;
      struct isock *s = by_id(p->sid);
      if (s == NULL) {
        respond(p->nid, -1, EBADF);
        close(p->lfd);
        p->used = 0;
        continue;
      }
      if (deliver(p, s, p->lfd)) {
        close(p->lfd);
        p->used = 0;
      }
    }
  }
  for (int k = 0; k < n; k++)
    if (mapped[k] == -1 && chan_fd >= 0 && pf[k].fd == chan_fd && (pf[k].revents & (POLLIN | POLLHUP | POLLERR))) chan_read();
  /* The program closed its last descriptor of these: the image's socket goes too. */
  for (int i = 0; i < ngone; i++) {
    struct isock *s = gone[i];
    /* Unread datagrams the program wrote before closing still go out. */
    from_program(s, POLLHUP);
    uint32_t id = s->id;
    table_del(s->ino);
    if (agent_fd >= 0) {
      struct vsa_req q = {.seq = next_seq++, .op = VSA_CLOSE, .id = id};
      (void)write_all(agent_fd, &q, sizeof q);
    }
  }
}
