/*
 * vimage-supervisor: the trapped system calls (see supervisor.c for the
 * whole picture). Image sockets by inode, requests waiting for vimaged,
 * reading and writing the program's memory, and one handler per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor_int.h"

/* ---- image sockets by inode ---- */

static struct isock *table[4096];

struct isock *table_get(uint64_t ino) {
  for (struct isock *s = table[ino % 4096]; s != NULL; s = s->next)
    if (s->ino == ino) return s;
  return NULL;
}

struct isock *table_add(uint64_t ino, uint32_t id, int type, int v6) {
  struct isock *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->sfd = -1;
  s->v6 = v6;
  s->ino = ino;
  s->id = id;
  s->type = type;
  s->next = table[ino % 4096];
  table[ino % 4096] = s;
  return s;
}

void table_del(uint64_t ino) {
  for (struct isock **p = &table[ino % 4096]; *p != NULL; p = &(*p)->next) {
    if ((*p)->ino == ino) {
      struct isock *s = *p;
      *p = s->next;
      if (s->sfd >= 0) dg_forget(s);
      free(s);
      return;
    }
  }
}

/*
 * Names of connected stream sockets, by socket id (ids are never reused):
 * a TCP connection's peer never changes, nor, once it has one, its local
 * name, so they are asked of the daemon once. (curl alone asks for them
 * five times per connection.) [0] local, [1] peer; direct-mapped.
 */
#define NAME_SLOTS 1024
static struct {
  uint32_t id;
  uint8_t ok;
  struct dg_src a;
} names[2][NAME_SLOTS];

static int name_cached(uint32_t id, int peer) {
  return names[peer][id % NAME_SLOTS].ok && names[peer][id % NAME_SLOTS].id == id;
}

/* The daemon named stream socket `id`: keep the peer, and the local name once the peer is known. */
static void name_keep(uint32_t id, int peer, const struct dg_src *a) {
  static const uint8_t any6[16];
  int any = a->v6 ? memcmp(a->x.addr, any6, 16) == 0 : a->addr == 0;
  if (!peer && (!name_cached(id, 1) || any || a->port == 0)) return; /* not connected yet: it may still change */
  names[peer][id % NAME_SLOTS].id = id;
  names[peer][id % NAME_SLOTS].a = *a;
  names[peer][id % NAME_SLOTS].ok = 1;
}

/* AF_UNIX sockets of the program already checked, so their calls continue at once. */
static uint64_t unix_seen[256];
static unsigned unix_next;

/* ---- requests waiting for the daemon ---- */

struct pending pend[MAX_PENDING];

/* ---- small helpers ---- */

void respond(uint64_t nid, int64_t val, int err) {
  struct seccomp_notif_resp r = {.id = nid, .val = val, .error = err != 0 ? -err : 0, .flags = 0};
  ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &r); /* ENOENT: the caller went away (signal) */
}

void cont(uint64_t nid) {
  struct seccomp_notif_resp r = {.id = nid, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
  ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

int still_valid(uint64_t nid) {
  return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &nid) == 0;
}

int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len) {
  struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
  return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len) {
  struct iovec l = {(void *)buf, len}, r = {(void *)(uintptr_t)addr, len};
  return process_vm_writev(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* The thread group of thread `tid` (notifications name the calling thread). */
pid_t tgid_of(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return tid;
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  if (n <= 0) return tid;
  buf[n] = 0;
  char *t = strstr(buf, "\nTgid:");
  return t != NULL ? (pid_t)atoi(t + 6) : tid;
}

/* Our own copy of the program's descriptor `fd` (the same open socket). */
int grab_fd(pid_t tid, int fd) {
  int pidfd = (int)syscall(SYS_pidfd_open, tgid_of(tid), 0);
  if (pidfd < 0) return -1;
  int d = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  close(pidfd);
  return d;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pf = {fd, POLLOUT, 0};
      if (poll(&pf, 1, 2000) <= 0) return -1;
      continue;
    }
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/*
 * Connect socket `fd` (ours or a copy of the program's) to vimaged as the
 * backing of image socket `id`. Returns 0, 1 when it already was, or -errno.
 */
static int attach(int fd, uint32_t id) {
  if (connect(fd, (struct sockaddr *)&ctl_addr, ctl_len) < 0) {
    if (errno == EISCONN) return 1;
    if (errno == EAGAIN || errno == EINPROGRESS) {
      struct pollfd pf = {fd, POLLOUT, 0};
      if (poll(&pf, 1, 2000) <= 0) return -EAGAIN;
    } else {
      return errno == ENOENT || errno == ECONNREFUSED ? -ENETDOWN : -errno;
    }
  }
  char req[256];
  int n = snprintf(req, sizeof req, "GET /v1/agent/data?key=%s&id=%u HTTP/1.1\r\nHost: vimaged\r\nConnection: Upgrade\r\nUpgrade: vimage-data\r\n\r\n", key_hex, id);
  return write_all(fd, req, (size_t)n) == 0 ? 0 : -EIO;
}

uint64_t inode_of(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

enum { CLS_OTHER, CLS_UNIX, CLS_HOST, CLS_IMAGE };

/* What descriptor `fd` of `pid` is: one of our image sockets, an AF_UNIX socket, another socket, or not a socket. */
static int classify(pid_t pid, int fd, struct isock **out) {
  char path[64], link[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n <= 0) return CLS_OTHER;
  link[n] = 0;
  if (strncmp(link, "socket:[", 8) != 0) return CLS_OTHER;
  uint64_t ino = strtoull(link + 8, NULL, 10);
  struct isock *s = table_get(ino);
  if (s != NULL) {
    *out = s;
    return CLS_IMAGE;
  }
  for (unsigned i = 0; i < 256; i++)
    if (unix_seen[i] == ino) return CLS_UNIX;
  int d = grab_fd(pid, fd);
  if (d < 0) return CLS_HOST; /* cannot look: treat as foreign */
  int dom = 0;
  socklen_t l = sizeof dom;
  int r = getsockopt(d, SOL_SOCKET, SO_DOMAIN, &dom, &l);
  close(d);
  if (r == 0 && dom == AF_UNIX) {
    unix_seen[unix_next++ % 256] = ino;
    return CLS_UNIX;
  }
  return CLS_HOST;
}

/* Send request q, followed by x when q->flags has VSA_ADDR6. */
static void send_req(struct vsa_req *q, const struct vsa_addr6 *x) {
  unsigned char b[sizeof *q + sizeof *x];
  memcpy(b, q, sizeof *q);
  size_t len = sizeof *q;
  if ((q->flags & VSA_ADDR6) && x != NULL) {
    memcpy(b + len, x, sizeof *x);
    len += sizeof *x;
  }
  if (agent_fd < 0 || write_all(agent_fd, b, len) < 0) {
    /* daemon gone: the reply will never come */
    for (int i = 0; i < MAX_PENDING; i++) {
      if (pend[i].used && pend[i].kind == PK_AGENT && pend[i].seq == q->seq) {
        if (pend[i].nr == __NR_socket) {
          dg_stale(&pend[i]);
          respond(pend[i].nid, -1, ENETDOWN);
          continue;
        }
        respond(pend[i].nid, -1, ENETDOWN);
        if (pend[i].lfd >= 0) close(pend[i].lfd);
        pend[i].used = 0;
      }
    }
  }
}

/* Put address a into request q: IPv4 in its fields, IPv6 as the trailer x (VSA_ADDR6). */
static const struct vsa_addr6 *req_addr(struct vsa_req *q, const struct dg_src *a) {
  q->port = a->port;
  if (!a->v6) {
    q->addr = a->addr;
    return NULL;
  }
  q->addr = 0;
  q->flags |= VSA_ADDR6;
  return &a->x;
}

static struct pending *ask_x(struct seccomp_notif *n, struct vsa_req *q, uint32_t newid, int lfd, const struct vsa_addr6 *x);

/* Queue notification `n` until the daemon answers request `q`. */
struct pending *ask(struct seccomp_notif *n, struct vsa_req *q, uint32_t newid, int lfd) {
  return ask_x(n, q, newid, lfd, NULL);
}

struct pending *ask_addr(struct seccomp_notif *n, struct vsa_req *q, const struct dg_src *a) {
  const struct vsa_addr6 *x = req_addr(q, a);
  return ask_x(n, q, 0, -1, x);
}

static struct pending *ask_x(struct seccomp_notif *n, struct vsa_req *q, uint32_t newid, int lfd, const struct vsa_addr6 *x) {
  int slot = -1;
  for (int i = 0; i < MAX_PENDING; i++)
    if (!pend[i].used) {
      slot = i;
      break;
    }
  if (slot < 0 || agent_fd < 0) {
    if (lfd >= 0) close(lfd);
    respond(n->id, -1, agent_fd < 0 ? ENETDOWN : EAGAIN);
    return NULL;
  }
  struct pending *p = &pend[slot];
  memset(p, 0, sizeof *p);
  p->used = 1;
  p->seq = q->seq = next_seq++;
  p->nid = n->id;
  p->pid = n->pid;
  p->nr = n->data.nr;
  memcpy(p->args, n->data.args, sizeof p->args);
  p->newid = newid;
  p->lfd = lfd;
  p->v6 = (q->flags & VSA_INET6) != 0;
  send_req(q, x);
  return p;
}

/*
 * Write address `a` to the program's (addr, addrlen) pair, truncated as the
 * kernel does: a sockaddr_in, or for an AF_INET6 socket a sockaddr_in6 (an
 * IPv4 address as ::ffff:a.b.c.d, :: for none).
 */
int put_sockaddr(pid_t pid, uint64_t addr, uint64_t lenp, const struct dg_src *a, int v6) {
  if (addr == 0) return 0;
  uint32_t len;
  if (mem_read(pid, lenp, &len, sizeof len) < 0) return -EFAULT;
  if ((int32_t)len < 0) return -EINVAL;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(a->port), .sin_addr = {htonl(a->addr)}};
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(a->port)};
  if (a->v6) {
    memcpy(&sin6.sin6_addr, a->x.addr, 16);
    sin6.sin6_flowinfo = a->x.flow;
    sin6.sin6_scope_id = a->x.scope;
  } else if (a->addr != 0) {
    sin6.sin6_addr.s6_addr[10] = 0xff;
    sin6.sin6_addr.s6_addr[11] = 0xff;
    uint32_t be = htonl(a->addr);
    memcpy(&sin6.sin6_addr.s6_addr[12], &be, 4);
  }
  const void *src = v6 ? (const void *)&sin6 : (const void *)&sin;
  uint32_t full = v6 ? sizeof sin6 : sizeof sin;
  size_t n = len < full ? len : full;
  if (n > 0 && mem_write(pid, addr, src, n) < 0) return -EFAULT;
  return mem_write(pid, lenp, &full, sizeof full) < 0 ? -EFAULT : 0;
}

/*
 * Read a sockaddr argument; 0 or -errno. An AF_INET socket takes a
 * sockaddr_in; an AF_INET6 one a sockaddr_in6 (v4-mapped addresses and
 * all), whose scope id counts only for a link-scoped address, which must
 * have one (EINVAL, as Linux says for fe80:: without an interface).
 */
int get_sockaddr(pid_t pid, uint64_t addr, uint64_t len, int v6, struct dg_src *out) {
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  memset(out, 0, sizeof *out);
  if (len < sizeof(sa_family_t) || len > 128) return -EINVAL;
  if (mem_read(pid, addr, &sa, len < sizeof sa ? len : sizeof sa) < 0) return -EFAULT;
  if (!v6) {
    struct sockaddr_in sin;
    memcpy(&sin, &sa, sizeof sin);
    if (sin.sin_family != AF_INET) return -EAFNOSUPPORT;
    if (len < sizeof sin) return -EINVAL;
    out->addr = ntohl(sin.sin_addr.s_addr);
    out->port = ntohs(sin.sin_port);
    return 0;
  }
  if (v6 == GSA_V6_DGRAM && sa.sin6_family == AF_INET) {
    /* UDP's connect and sendto take a sockaddr_in on an AF_INET6 socket too
     * (__ip6_datagram_connect, udpv6_sendmsg): an IPv4 peer, as ::ffff:a.b.c.d. */
    struct sockaddr_in sin;
    memcpy(&sin, &sa, sizeof sin);
    if (len < sizeof sin) return -EINVAL;
    out->addr = ntohl(sin.sin_addr.s_addr);
    out->port = ntohs(sin.sin_port);
    return 0;
  }
  /* Linux checks the length first (inet6_bind, tcp_v6_connect): a sockaddr_in is EINVAL, not EAFNOSUPPORT. */
  if (len < 24) return -EINVAL; /* SIN6_LEN_RFC2133: without sin6_scope_id, taken as 0 */
  if (sa.sin6_family != AF_INET6) return -EAFNOSUPPORT;
  out->v6 = 1;
  out->port = ntohs(sa.sin6_port);
  memcpy(out->x.addr, &sa.sin6_addr, 16);
  out->x.flow = sa.sin6_flowinfo;
  if (IN6_IS_ADDR_LINKLOCAL(&sa.sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&sa.sin6_addr) || IN6_IS_ADDR_MC_NODELOCAL(&sa.sin6_addr)) {
    if (sa.sin6_scope_id == 0 && !IN6_IS_ADDR_MC_NODELOCAL(&sa.sin6_addr)) return -EINVAL;
    out->x.scope = sa.sin6_scope_id;
  }
  return 0;
}

/* ---- system calls ---- */

static void do_socket(struct seccomp_notif *n) {
  int domain = (int)n->data.args[0], type = (int)n->data.args[1], proto = (int)n->data.args[2];
  if (domain == AF_UNIX) {
    cont(n->id); /* the filter lets these through itself; safe either way */
    return;
  }
  if (type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC)) {
    respond(n->id, -1, EINVAL);
    return;
  }
  if (domain == AF_NETLINK) {
    /* NETLINK_ROUTE is answered from the image; every other netlink protocol would describe the host. */
    if (((type & 0xf) != SOCK_RAW && (type & 0xf) != SOCK_DGRAM) || proto != 0 /* NETLINK_ROUTE */) respond(n->id, -1, EPROTONOSUPPORT);
    else dg_socket(n, domain, type, proto);
    return;
  }
  if (domain != AF_INET && domain != AF_INET6) {
    respond(n->id, -1, EAFNOSUPPORT); /* AF_PACKET, ... : fail closed */
    return;
  }
  if (domain == AF_INET && ((type & 0xf) == SOCK_RAW || ((type & 0xf) == SOCK_DGRAM && proto == IPPROTO_ICMP))) {
    dg_socket(n, domain, type, proto); /* ping and raw sockets: supervisor_dgram.c, supervisor_icmp.c */
    return;
  }
  if (domain == AF_INET6 && (type & 0xf) == SOCK_DGRAM && proto == IPPROTO_ICMPV6) {
    dg_socket(n, domain, type, proto); /* an ICMPv6 ping socket (ping -6 as a user); raw IPv6 sockets are refused below */
    return;
  }
  if ((type & 0xf) == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP)) {
    dg_socket(n, domain, type, proto);
    return;
  }
  if ((type & 0xf) != SOCK_STREAM || (proto != 0 && proto != IPPROTO_TCP)) {
    respond(n->id, -1, EPROTONOSUPPORT);
    return;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (type & SOCK_NONBLOCK), 0);
  if (s < 0) {
    respond(n->id, -1, errno);
    return;
  }
  uint64_t ino = inode_of(s);
  table_add(ino, next_id++, SOCK_STREAM, domain == AF_INET6);
  struct seccomp_notif_addfd af = {
      .id = n->id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)s, .newfd = 0, .newfd_flags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0};
  if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &af) < 0) table_del(ino);
  close(s);
}

/*
 * setsockopt/getsockopt on an image socket (stream or datagram; `q` carries
 * its id and type): asked of the daemon, except the options that act on
 * the backing socket's own reads and writes (timeouts, low-water marks),
 * which the kernel serves.
 */
void sockopt(struct seccomp_notif *n, struct vsa_req *q) {
  __u64 *a = n->data.args;
  int level = (int)a[1], name = (int)a[2];
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_RCVLOWAT || name == 66 || name == 67)) {
    cont(n->id);
    return;
  }
  if (level == IPPROTO_IP && name == IP_OPTIONS) {
    /*
     * The image's IP carries no options, so there are none to read back:
     * length 0, as Linux says for a socket without them. (sshd reads them
     * from every connection and drops one whose options are not empty.)
     */
    if (n->data.nr == __NR_setsockopt) {
      if (a[4] == 0) respond(n->id, 0, 0); /* clearing them: there are none */
      else respond(n->id, -1, ENOPROTOOPT);
      return;
    }
    uint32_t zero = 0;
    int r = mem_write(n->pid, a[4], &zero, sizeof zero);
    respond(n->id, r < 0 ? -1 : 0, r < 0 ? EFAULT : 0);
    return;
  }
  q->a = level;
  q->b = name;
  if (n->data.nr == __NR_setsockopt) {
    int32_t v = 0;
    uint32_t len = (uint32_t)a[4];
    int r = a[3] == 0 || len == 0 ? -EFAULT : mem_read(n->pid, a[3], &v, len < 4 ? len : 4) < 0 ? -EFAULT : 0;
    if (!still_valid(n->id)) return;
    if (r < 0) {
      respond(n->id, -1, -r);
      return;
    }
    if (len == 1) v &= 0xff;
    q->op = VSA_SETOPT;
    q->c = v;
  } else {
    q->op = VSA_GETOPT;
  }
  ask(n, q, 0, -1);
}

static void do_image(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  pid_t pid = n->pid;
  struct vsa_req q = {.type = (uint16_t)s->type, .id = s->id, .flags = s->v6 ? VSA_INET6 : 0};
  struct dg_src sa;
  const struct vsa_addr6 *x = NULL;
  int r, d;
  if (s->sfd >= 0) {
    dg_call(n, s); /* datagram sockets: supervisor_dgram.c */
    return;
  }
  switch (n->data.nr) {
  case __NR_connect:
  case __NR_bind:
    r = get_sockaddr(pid, a[1], a[2], s->v6, &sa);
    if (!still_valid(n->id)) return; /* what we read may not be the caller's any more */
    if (r < 0) {
      respond(n->id, -1, -r);
      return;
    }
    if (n->data.nr == __NR_bind) {
      q.op = VSA_BIND;
      ask_addr(n, &q, &sa);
      return;
    }
    q.op = VSA_CONNECT;
    x = req_addr(&q, &sa);
    /* the backing socket must reach the daemon first */
    __attribute__((fallthrough));
  case __NR_listen:
    d = grab_fd(pid, (int)a[0]);
    if (d < 0) {
      respond(n->id, -1, EPERM);
      return;
    }
    r = attach(d, s->id);
    if (r < 0) {
      close(d);
      respond(n->id, -1, -r);
      return;
    }
    int fl = fcntl(d, F_GETFL);
    if (r == 0 && q.op == VSA_CONNECT && fl >= 0 && (fl & O_NONBLOCK)) {
      /*
       * Non-blocking connect: EINPROGRESS now, POLLOUT once the image's
       * connection is up. The backing socket is writable at once, so we fill
       * its send buffer with bytes the daemon discards when the connection is
       * established (or drops the socket when it fails; SO_ERROR then says why).
       */
      static const char filler[65536];
      long total = 0;
      for (;;) {
        ssize_t w = send(d, filler, sizeof filler, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0) break;
        total += w;
      }
      close(d);
      q.flags |= VSA_NONBLOCK;
      q.c = (int32_t)total;
      q.seq = next_seq++; /* nobody waits for this reply */
      send_req(&q, x);
      respond(n->id, -1, agent_fd < 0 ? ENETDOWN : EINPROGRESS);
      return;
    }
    close(d);
    if (n->data.nr == __NR_listen) {
      q.op = VSA_LISTEN;
      q.a = (int32_t)a[1];
    }
    ask_x(n, &q, 0, -1, x);
    return;
  case __NR_accept:
  case __NR_accept4: {
    d = grab_fd(pid, (int)a[0]);
    if (d < 0) {
      respond(n->id, -1, EPERM);
      return;
    }
    int fl = fcntl(d, F_GETFL);
    q.op = VSA_ACCEPT;
    q.flags |= (fl >= 0 && (fl & O_NONBLOCK)) ? VSA_NONBLOCK : 0;
    q.a = (int32_t)next_id;
    ask(n, &q, next_id++, d);
    return;
  }
  case __NR_getsockname:
  case __NR_getpeername: {
    int peer = n->data.nr == __NR_getpeername;
    if (s->type == SOCK_STREAM && name_cached(s->id, peer)) {
      int e = -put_sockaddr(pid, a[1], a[2], &names[peer][s->id % NAME_SLOTS].a, s->v6);
      respond(n->id, e == 0 ? 0 : -1, e);
      return;
    }
    q.op = VSA_NAME;
    q.a = peer;
    struct pending *p = ask(n, &q, 0, -1);
    if (p != NULL) p->sid = s->type == SOCK_STREAM ? s->id : 0; /* finish() keeps the answer */
    return;
  }
  case __NR_setsockopt:
  case __NR_getsockopt:
    sockopt(n, &q);
    return;
  case __NR_sendto:
    /* TCP: an address on a stream socket; the backing socket would refuse it anyway. */
    respond(n->id, -1, EISCONN);
    return;
  case __NR_sendmsg: {
    struct msghdr mh;
    if (mem_read(pid, a[1], &mh, sizeof mh) < 0) {
      respond(n->id, -1, EFAULT);
      return;
    }
    if (mh.msg_name != NULL && mh.msg_namelen != 0) respond(n->id, -1, EISCONN);
    else cont(n->id); /* plain data on the backing socket */
    return;
  }
  case __NR_recvmsg:
  case __NR_recvmmsg:
    /*
     * The error queue (MSG_ERRQUEUE: IP_RECVERR, MSG_ZEROCOPY and timestamp
     * notifications) of a TCP socket in the image is always empty: EAGAIN, as
     * Linux's tcp_recvmsg answers an empty one. The backing AF_UNIX socket
     * knows no such flag and would hand over stream bytes instead.
     */
    if (((n->data.nr == __NR_recvmsg ? (int)a[2] : (int)a[3]) & MSG_ERRQUEUE) != 0) {
      respond(n->id, -1, EAGAIN);
      return;
    }
    cont(n->id);
    return;
  default:
    cont(n->id);
  }
}

/*
 * A connect to the host's resolver daemons (nscd, systemd-resolved's varlink
 * socket): glibc would resolve names through the host's network. Refused,
 * glibc falls back to resolv.conf and asks over UDP, through the image.
 */
static int host_resolver(struct seccomp_notif *n) {
  static const char *const paths[] = {"/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/", "/var/run/systemd/resolve/"};
  struct sockaddr_un sa;
  uint64_t len = n->data.args[2];
  if (len <= offsetof(struct sockaddr_un, sun_path) + 1 || len > sizeof sa) return 0;
  memset(&sa, 0, sizeof sa);
  if (mem_read(n->pid, n->data.args[1], &sa, (size_t)len) < 0 || sa.sun_family != AF_UNIX || sa.sun_path[0] == 0) return 0;
  sa.sun_path[sizeof sa.sun_path - 1] = 0;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    size_t k = strlen(paths[i]);
    if (paths[i][k - 1] == '/' ? strncmp(sa.sun_path, paths[i], k) == 0 : strcmp(sa.sun_path, paths[i]) == 0) return 1;
  }
  return 0;
}

void handle(struct seccomp_notif *n) {
  int nr = n->data.nr;
  if (nr == __NR_socket) {
    do_socket(n);
    return;
  }
  if (nr == __NR_ioctl) {
    /* Interface ioctls (SIOCGIF*) are answered from the image, on any socket; the rest (SIOCADDRT, ...) would touch the host. */
    unsigned cmd = (unsigned)n->data.args[1];
    if (dg_ioctl(n)) return;
    if (cmd <= 0x890a) cont(n->id);
    else respond(n->id, -1, ENODEV);
    return;
  }
  struct isock *s = NULL;
  switch (classify(n->pid, (int)n->data.args[0], &s)) {
  case CLS_IMAGE:
    do_image(n, s);
    return;
  case CLS_HOST:
    if (nr == __NR_connect || nr == __NR_bind || nr == __NR_listen || nr == __NR_accept || nr == __NR_accept4 || nr == __NR_sendto ||
        nr == __NR_sendmsg || nr == __NR_sendmmsg) {
      respond(n->id, -1, EACCES); /* a host socket the program was handed: never on the host's network */
      return;
    }
    cont(n->id);
    return;
  default:
    if (nr == __NR_connect && host_resolver(n)) {
      respond(n->id, -1, ENOENT); /* as if the host ran no nscd or systemd-resolved */
      return;
    }
    cont(n->id); /* AF_UNIX, or not a socket: the kernel answers */
  }
}

/* The daemon answered request p (x: the address trailer of a VSR_ADDR6 reply, else NULL). */
static void finish(struct pending *p, struct vsa_rep *r, const struct vsa_addr6 *x) {
  int err = r->err;
  struct dg_src ra = {.addr = r->addr, .port = r->port, .v6 = x != NULL};
  if (x != NULL) ra.x = *x;
  if (!still_valid(p->nid)) {
    /* The caller went away (a signal): its buffers are not ours to write; an accepted connection is dropped. */
    if (p->nr == __NR_socket) dg_stale(p);
    if (p->lfd >= 0) close(p->lfd);
    if (err == 0 && (p->nr == __NR_accept || p->nr == __NR_accept4) && agent_fd >= 0) {
      struct vsa_req q = {.seq = next_seq++, .op = VSA_CLOSE, .id = p->newid};
      (void)write_all(agent_fd, &q, sizeof q);
    }
    p->used = 0;
    return;
  }
  switch (p->nr) {
  case __NR_socket:
    dg_socket_done(p, r);
    break;
  case __NR_getsockname:
  case __NR_getpeername:
    if (err == 0 && p->sid != 0) name_keep(p->sid, p->nr == __NR_getpeername, &ra);
    if (err == 0) err = -put_sockaddr(p->pid, p->args[1], p->args[2], &ra, p->v6);
    respond(p->nid, err == 0 ? 0 : -1, err);
    break;
  case __NR_getsockopt:
    if (err == 0) {
      uint32_t len;
      if (mem_read(p->pid, p->args[4], &len, sizeof len) < 0 || (int32_t)len < 0) err = EFAULT;
      else {
        uint32_t n = len < 4 ? len : 4;
        int32_t v = r->val;
        if ((n > 0 && mem_write(p->pid, p->args[3], &v, n) < 0) || mem_write(p->pid, p->args[4], &n, sizeof n) < 0) err = EFAULT;
      }
    }
    respond(p->nid, err == 0 ? 0 : -1, err);
    break;
  case __NR_accept:
  case __NR_accept4: {
    if (err != 0) {
      respond(p->nid, -1, err);
      break;
    }
    /* One byte on the listening socket announced this connection (its POLLIN). */
    struct pollfd pf = {p->lfd, POLLIN, 0};
    char b;
    if (poll(&pf, 1, 1000) > 0) (void)recv(p->lfd, &b, 1, MSG_DONTWAIT);
    int flags = p->nr == __NR_accept4 ? (int)p->args[3] : 0;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (flags & SOCK_NONBLOCK), 0);
    if (s < 0) {
      respond(p->nid, -1, errno);
      break;
    }
    int a = attach(s, p->newid);
    if (a < 0) {
      close(s);
      respond(p->nid, -1, -a);
      break;
    }
    uint64_t ino = inode_of(s);
    table_add(ino, p->newid, SOCK_STREAM, p->v6);
    if (put_sockaddr(p->pid, p->args[1], p->args[2], &ra, p->v6) < 0) {
      table_del(ino);
      close(s);
      respond(p->nid, -1, EFAULT);
      break;
    }
    struct seccomp_notif_addfd af = {
        .id = p->nid, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)s, .newfd = 0, .newfd_flags = (flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0};
    if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &af) < 0) table_del(ino); /* closing s drops the connection */
    close(s);
    break;
  }
  default:
    respond(p->nid, err == 0 ? 0 : -1, err);
  }
  if (p->lfd >= 0) close(p->lfd);
  p->used = 0;
}

/* Requests whose caller went away (a signal interrupted connect or accept): tell the daemon. */
void sweep(void) {
  for (int i = 0; i < MAX_PENDING; i++) {
    struct pending *p = &pend[i];
    if (!p->used || still_valid(p->nid)) continue;
    if (p->kind != PK_AGENT || p->nr == __NR_socket) {
      dg_stale(p); /* nothing to cancel in the daemon: a datagram call or a socket() */
      continue;
    }
    struct vsa_req q = {.seq = next_seq++, .op = VSA_CANCEL, .a = (int32_t)p->seq};
    if (p->lfd >= 0) close(p->lfd);
    p->used = 0;
    if (agent_fd >= 0) (void)write_all(agent_fd, &q, sizeof q);
  }
}

unsigned char rbuf[4096];
size_t rlen;

static void agent_gone(void) {
  close(agent_fd);
  agent_fd = -1;
  for (int i = 0; i < MAX_PENDING; i++) {
    if (!pend[i].used) continue;
    if (pend[i].nr == __NR_socket || pend[i].kind != PK_AGENT) {
      respond(pend[i].nid, -1, ENETDOWN);
      dg_stale(&pend[i]);
      continue;
    }
    respond(pend[i].nid, -1, ENETDOWN);
    if (pend[i].lfd >= 0) close(pend[i].lfd);
    pend[i].used = 0;
  }
}

void agent_read(void) {
  ssize_t n = read(agent_fd, rbuf + rlen, sizeof rbuf - rlen);
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    agent_gone();
    return;
  }
  rlen += (size_t)n;
  size_t off = 0;
  while (rlen - off >= sizeof(struct vsa_rep)) {
    struct vsa_rep r;
    struct vsa_addr6 x;
    memcpy(&r, rbuf + off, sizeof r);
    int has6 = (r.flags & VSR_ADDR6) != 0;
    if (has6) {
      if (rlen - off < sizeof r + sizeof x) break; /* its address is still on the way */
      memcpy(&x, rbuf + off + sizeof r, sizeof x);
    }
    off += sizeof r + (has6 ? sizeof x : 0);
    for (int i = 0; i < MAX_PENDING; i++) {
      if (pend[i].used && pend[i].kind == PK_AGENT && pend[i].seq == r.seq) {
        finish(&pend[i], &r, has6 ? &x : NULL);
        break;
      }
    }
  }
  memmove(rbuf, rbuf + off, rlen - off);
  rlen -= off;
}

