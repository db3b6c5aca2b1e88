/*
 * vimage-supervisor: what ICMP datagram ("ping") sockets and raw sockets
 * add to the datagram sockets of supervisor_dgram.c.
 *
 * socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), socket(AF_INET6, SOCK_DGRAM,
 * IPPROTO_ICMPV6) and socket(AF_INET, SOCK_RAW, proto) are SOCK_SEQPACKET pairs relayed over the datagram channel like
 * UDP sockets; the daemon (daemon/linux/icmp.ts) gives them their Linux
 * meaning. Here:
 *
 * - Raw sockets need CAP_NET_RAW in the caller's effective set, as on
 *   Linux (EPERM otherwise). Ping sockets are open to every user: Linux's
 *   net.ipv4.ping_group_range is about the host's stack, not the image's.
 * - The control messages iputils ping asks for on a received datagram:
 *   SO_TIMESTAMP/SO_TIMESTAMPNS (the time the supervisor hands the
 *   datagram over) and IP_RECVTTL, or IPV6_RECVHOPLIMIT on an ICMPv6 ping
 *   socket (the TTL or hop limit the daemon sent in the frame's port
 *   field). The options go on to the daemon as any other.
 * - The error queue of ping sockets (IP_RECVERR): the daemon sends an ICMP
 *   error quoting one of the socket's echo requests as an ERROR frame
 *   with the entry; recvmsg(MSG_ERRQUEUE) reads it back with its
 *   IP_RECVERR control message (struct sock_extended_err and the
 *   offender), as iputils ping expects. One entry per socket (the latest);
 *   no POLLERR, since the program's descriptor is an AF_UNIX socket: the
 *   error wakes a blocked trapped receive, else the next trapped call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "supervisor_int.h"

#define CAP_NET_ADMIN_BIT 12
#define CAP_NET_RAW_BIT 13
#define L_SO_DEBUG 1
#define L_SO_MARK 36

/* Bits of isock.cmsg. */
enum { CM_TS = 1, CM_TSNS = 2, CM_TS_NEW = 4, CM_TTL = 8, CM_HOPLIMIT = 16 };

/* Linux's numbers (asm-generic/socket.h, in.h), whatever the libc headers call them. */
#define L_SO_TIMESTAMP_OLD 29
#define L_SO_TIMESTAMPNS_OLD 35
#define L_SO_TIMESTAMP_NEW 63
#define L_SO_TIMESTAMPNS_NEW 64
#define L_IP_TTL 2
#define L_IP_RECVTTL 12
#define L_IPV6_RECVHOPLIMIT 51
#define L_IPV6_HOPLIMIT 52

/*
 * Whether the caller (a thread of the program) has capability `bit` over
 * the image's network: in its effective set, and in our user namespace.
 * Linux asks ns_capable(net->user_ns, ...) of the namespace that owns the
 * network, which for the program's sockets is ours: a process that made a
 * user namespace of its own (unshare -Ur) has every capability there and
 * none here. Anything unreadable counts as no.
 */
static int has_cap(pid_t pid, int bit) {
  char path[64];
  struct stat mine, theirs;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  if (stat("/proc/self/ns/user", &mine) < 0 || stat(path, &theirs) < 0 || mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev) return 0;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  char line[256];
  int ok = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "CapEff:", 7) == 0) {
      unsigned long long caps = strtoull(line + 7, NULL, 16);
      ok = (caps >> bit) & 1;
      break;
    }
  }
  fclose(f);
  return ok;
}

int icmp_may_raw(pid_t pid) {
  return has_cap(pid, CAP_NET_RAW_BIT);
}

/* Options Linux keeps for the privileged (sk_setsockopt): the errno it gives the caller, or 0. */
int icmp_opt_denied(pid_t pid, int level, int name, int32_t v) {
  if (level != SOL_SOCKET) return 0;
  if (name == L_SO_DEBUG && v != 0 && !has_cap(pid, CAP_NET_ADMIN_BIT)) return EACCES;
  if (name == L_SO_MARK && !has_cap(pid, CAP_NET_RAW_BIT) && !has_cap(pid, CAP_NET_ADMIN_BIT)) return EPERM;
  return 0;
}

/* setsockopt on an ICMP or raw socket: remember the control messages asked for (the daemon answers the call). */
void icmp_note_opt(struct seccomp_notif *n, struct isock *s) {
  __u64 *a = n->data.args;
  int level = (int)a[1], name = (int)a[2];
  int32_t v = 0;
  uint32_t len = (uint32_t)a[4];
  if (a[3] == 0 || len == 0 || mem_read(n->pid, a[3], &v, len < 4 ? len : 4) < 0) return;
  if (len == 1) v &= 0xff;
  unsigned bit = 0;
  if (level == SOL_SOCKET) {
    /* SO_TIMESTAMP clears nanoseconds, SO_TIMESTAMPNS sets them (Linux's sock_set_timestamp). */
    switch (name) {
    case L_SO_TIMESTAMP_OLD:
    case L_SO_TIMESTAMP_NEW:
      s->cmsg &= ~(unsigned)(CM_TSNS | CM_TS_NEW);
      if (name == L_SO_TIMESTAMP_NEW) s->cmsg |= CM_TS_NEW;
      bit = CM_TS;
      break;
    case L_SO_TIMESTAMPNS_OLD:
    case L_SO_TIMESTAMPNS_NEW:
      s->cmsg &= ~(unsigned)CM_TS_NEW;
      if (name == L_SO_TIMESTAMPNS_NEW) s->cmsg |= CM_TS_NEW;
      bit = CM_TS | CM_TSNS;
      break;
    default:
      return;
    }
  } else if (level == IPPROTO_IP && name == L_IP_RECVTTL) {
    bit = CM_TTL;
  } else if (level == IPPROTO_IPV6 && name == L_IPV6_RECVHOPLIMIT && s->v6) {
    bit = CM_HOPLIMIT;
  } else {
    return;
  }
  if (v != 0) s->cmsg |= bit;
  else s->cmsg &= ~bit;
}

/* Append one control message to buf at *off (room bytes in all); 0, or MSG_CTRUNC when it does not fit. */
static int put_cmsg(unsigned char *buf, size_t room, size_t *off, int level, int type, const void *data, size_t len) {
  size_t space = CMSG_SPACE(len);
  if (*off + space > room) return MSG_CTRUNC;
  struct cmsghdr h = {.cmsg_len = CMSG_LEN(len), .cmsg_level = level, .cmsg_type = type};
  memset(buf + *off, 0, space);
  memcpy(buf + *off, &h, sizeof h);
  memcpy(buf + *off + CMSG_LEN(0), data, len);
  *off += space;
  return 0;
}

/*
 * Write the control messages a received datagram carries into the
 * program's msghdr mh (at mhp): its msg_control and msg_controllen;
 * MSG_CTRUNC goes into *mflags when they do not fit. 0 or -EFAULT.
 */
int icmp_cmsgs(struct isock *s, pid_t pid, const struct msghdr *mh, uint64_t mhp, struct dg_src src, int *mflags) {
  unsigned char buf[128];
  size_t room = mh->msg_control == NULL ? 0 : mh->msg_controllen;
  if (room > sizeof buf) room = sizeof buf;
  size_t off = 0;
  int tr = 0;
  if (s->cmsg & CM_TS) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int nsec = (s->cmsg & CM_TSNS) != 0, nw = (s->cmsg & CM_TS_NEW) != 0;
    int type = nsec ? (nw ? L_SO_TIMESTAMPNS_NEW : L_SO_TIMESTAMPNS_OLD) : (nw ? L_SO_TIMESTAMP_NEW : L_SO_TIMESTAMP_OLD);
    /* struct timeval, timespec and __kernel_sock_timeval are all two 64-bit words on 64-bit Linux. */
    int64_t w[2] = {(int64_t)ts.tv_sec, nsec ? (int64_t)ts.tv_nsec : (int64_t)ts.tv_nsec / 1000};
    tr |= put_cmsg(buf, room, &off, SOL_SOCKET, type, w, sizeof w);
  }
  if (s->cmsg & CM_TTL) {
    int ttl = src.port & 0xff;
    tr |= put_cmsg(buf, room, &off, IPPROTO_IP, L_IP_TTL, &ttl, sizeof ttl);
  }
  if (s->cmsg & CM_HOPLIMIT) {
    int hlim = src.port & 0xff; /* ICMPv6 ping sockets: the hop limit the daemon sent in the frame's port */
    tr |= put_cmsg(buf, room, &off, IPPROTO_IPV6, L_IPV6_HOPLIMIT, &hlim, sizeof hlim);
  }
  *mflags |= tr;
  if (off > 0 && mem_write(pid, (uint64_t)(uintptr_t)mh->msg_control, buf, off) < 0) return -EFAULT;
  size_t cl = off;
  if (mem_write(pid, mhp + offsetof(struct msghdr, msg_controllen), &cl, sizeof cl) < 0) return -EFAULT;
  return 0;
}

/* ---- the error queue of ping sockets ---- */

#define ERRQ_SLOTS 64
#define ERRQ_HEADER 16 /* type, code, errno u16, info, offender, original destination (daemon/linux/icmp.ts) */
#define ERRQ_DATA 576

static struct {
  uint32_t id; /* the socket's id; 0: free */
  uint32_t len;
  unsigned char d[ERRQ_HEADER + ERRQ_DATA];
} errq[ERRQ_SLOTS];
static unsigned errq_next;

void icmp_errq_put(struct isock *s, const unsigned char *entry, size_t len) {
  if (s->proto != IPPROTO_ICMP || len < ERRQ_HEADER) return;
  unsigned k = ERRQ_SLOTS;
  for (unsigned i = 0; i < ERRQ_SLOTS; i++)
    if (errq[i].id == s->id) k = i;
  if (k == ERRQ_SLOTS) k = errq_next++ % ERRQ_SLOTS; /* the oldest entry of another socket goes */
  if (len > sizeof errq[k].d) len = sizeof errq[k].d;
  errq[k].id = s->id;
  errq[k].len = (uint32_t)len;
  memcpy(errq[k].d, entry, len);
}

/* recvmsg(MSG_ERRQUEUE) on s: answer p with the queued entry and return 1, or return 0 when there is none. */
int icmp_errq_read(struct pending *p, struct isock *s) {
  if (p->nr != __NR_recvmsg) return 0;
  unsigned k;
  for (k = 0; k < ERRQ_SLOTS; k++)
    if (errq[k].id == s->id && errq[k].len >= ERRQ_HEADER) break;
  if (k == ERRQ_SLOTS) return 0;
  const unsigned char *e = errq[k].d;
  size_t n = errq[k].len - ERRQ_HEADER;
  uint32_t info, offender, dst;
  memcpy(&info, e + 4, 4);
  memcpy(&offender, e + 8, 4);
  memcpy(&dst, e + 12, 4);
  errq[k].id = 0;
  errq[k].len = 0;
  s->err = 0; /* reading the queue clears the pending error, as Linux's sock_dequeue_err_skb does */
  uint64_t mhp = p->args[1];
  struct msghdr mh;
  if (mem_read(p->pid, mhp, &mh, sizeof mh) < 0) {
    respond(p->nid, -1, EFAULT);
    return 1;
  }
  /* The quoted ICMP message, into the iovecs. */
  size_t done = 0;
  for (size_t i = 0; i < mh.msg_iovlen && i < 1024 && done < n; i++) {
    struct iovec v;
    if (mem_read(p->pid, (uint64_t)(uintptr_t)mh.msg_iov + i * sizeof v, &v, sizeof v) < 0) {
      respond(p->nid, -1, EFAULT);
      return 1;
    }
    size_t c = v.iov_len < n - done ? v.iov_len : n - done;
    if (c > 0 && mem_write(p->pid, (uint64_t)(uintptr_t)v.iov_base, e + ERRQ_HEADER + done, c) < 0) {
      respond(p->nid, -1, EFAULT);
      return 1;
    }
    done += c;
  }
  int mf = MSG_ERRQUEUE | (done < n ? MSG_TRUNC : 0);
  /* msg_name: where the echo request was going. */
  struct dg_src to = {.addr = dst};
  if (put_sockaddr(p->pid, (uint64_t)(uintptr_t)mh.msg_name, mhp + offsetof(struct msghdr, msg_namelen), &to, s->v6) < 0) {
    respond(p->nid, -1, EFAULT);
    return 1;
  }
  struct {
    struct sock_extended_err ee;
    struct sockaddr_in off;
  } x;
  memset(&x, 0, sizeof x);
  uint16_t errno_;
  memcpy(&errno_, e + 2, 2);
  x.ee.ee_errno = errno_;
  x.ee.ee_origin = SO_EE_ORIGIN_ICMP;
  x.ee.ee_type = e[0];
  x.ee.ee_code = e[1];
  x.ee.ee_info = info;
  x.off.sin_family = AF_INET;
  x.off.sin_addr.s_addr = htonl(offender);
  unsigned char buf[CMSG_SPACE(sizeof x)];
  size_t room = mh.msg_control == NULL ? 0 : mh.msg_controllen;
  if (room > sizeof buf) room = sizeof buf;
  size_t cl = 0;
  mf |= put_cmsg(buf, room, &cl, IPPROTO_IP, IP_RECVERR, &x, sizeof x);
  if ((cl > 0 && mem_write(p->pid, (uint64_t)(uintptr_t)mh.msg_control, buf, cl) < 0) ||
      mem_write(p->pid, mhp + offsetof(struct msghdr, msg_controllen), &cl, sizeof cl) < 0 ||
      mem_write(p->pid, mhp + offsetof(struct msghdr, msg_flags), &mf, sizeof mf) < 0) {
    respond(p->nid, -1, EFAULT);
    return 1;
  }
  respond(p->nid, (int64_t)done, 0);
  return 1;
}
