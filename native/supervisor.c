/*
 * vimage-supervisor: runs an unmodified Linux program inside an image.
 *
 *   vimage-supervisor SOCKET IMAGE PROGRAM [ARGS...]
 *
 * It opens an agent session with vimaged on the control socket SOCKET (the
 * daemon checks the caller's credentials), forks, and the child sets
 * no_new_privs, installs a seccomp filter that hands socket calls to us
 * (SECCOMP_RET_USER_NOTIF) and execs PROGRAM from PATH. We serve the
 * notifications until no process is left under the filter:
 *
 * - socket(AF_UNIX) runs natively (decided in the filter, from registers).
 *   socket(AF_INET or AF_INET6, SOCK_STREAM) gets a fresh AF_UNIX stream
 *   socket, installed with SECCOMP_IOCTL_NOTIF_ADDFD: the image socket's
 *   backing. AF_INET6 ones are IPv6 sockets of the image (dual stack,
 *   IPv4 peers as v4-mapped addresses, unless IPV6_V6ONLY). UDP, ICMP
 *   ping and
 *   NETLINK_ROUTE sockets are datagram sockets (supervisor_dgram.c). Every
 *   other family (AF_PACKET, other netlink protocols, ...) and type fails
 *   with an errno: nothing reaches the host's stack.
 * - connect/listen connect the backing socket to vimaged, which pumps its
 *   bytes to and from a socket of the image; read, write, poll, epoll, dup,
 *   fork and exec then run natively on it.
 * - bind, accept, getsockname, getpeername, setsockopt, getsockopt on an
 *   image socket are answered by the daemon; on any other socket they run
 *   natively (SECCOMP_USER_NOTIF_FLAG_CONTINUE), except that connect, bind,
 *   listen, accept and addressed sends on a socket that is neither AF_UNIX
 *   nor ours (one inherited or received) fail with EACCES.
 * - io_uring (which could open sockets behind the filter's back), 32-bit
 *   and x32 system calls fail with ENOSYS.
 *
 * Image sockets are known by the backing socket's inode, so they survive
 * dup, fork and fd passing. Arguments in the program's memory are read with
 * process_vm_readv and the notification checked with NOTIF_ID_VALID after
 * reading; the daemon acts on the copy we read, never on memory the program
 * could change after the check. This is not a sandbox: see the README.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor_int.h"

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#error "vimage-supervisor: unsupported architecture"
#endif

#define EX_USAGE 64
#define EX_UNAVAILABLE 69

struct sockaddr_un ctl_addr;
socklen_t ctl_len;
int notify_fd = -1;
int agent_fd = -1;
static pid_t child = -1;
char key_hex[33];
uint32_t next_id = 1;
uint32_t next_seq = 1;

/* ---- session, filter, child ---- */

int ctl_connect(void) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (connect(s, (struct sockaddr *)&ctl_addr, ctl_len) < 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

/* Open the agent session for image `name`: 0, or exits with a message. */
static void open_session(const char *sock, const char *name) {
  agent_fd = ctl_connect();
  if (agent_fd < 0) {
    fprintf(stderr, "vimage: cannot reach vimaged at %s (%s): start it with 'sudo vimaged &', or point --socket / VIMAGE_SOCKET at its socket\n", sock,
            strerror(errno));
    exit(EX_UNAVAILABLE);
  }
  char enc[768], req[1024];
  size_t e = 0;
  for (const char *c = name; *c != 0 && e + 4 < sizeof enc; c++) {
    unsigned char ch = (unsigned char)*c;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.') enc[e++] = (char)ch;
    else e += (size_t)snprintf(enc + e, 4, "%%%02X", ch);
  }
  enc[e] = 0;
  int n = snprintf(req, sizeof req, "GET /v1/images/%s/agent HTTP/1.1\r\nHost: vimaged\r\nConnection: Upgrade\r\nUpgrade: vimage-agent\r\n\r\n", enc);
  if (write_all(agent_fd, req, (size_t)n) < 0) {
    fprintf(stderr, "vimage: lost the connection to vimaged\n");
    exit(EX_UNAVAILABLE);
  }
  char buf[8192];
  size_t len = 0;
  char *end = NULL;
  while (end == NULL) {
    ssize_t r = read(agent_fd, buf + len, sizeof buf - 1 - len);
    if (r <= 0) {
      fprintf(stderr, "vimage: vimaged closed the connection\n");
      exit(EX_UNAVAILABLE);
    }
    len += (size_t)r;
    buf[len] = 0;
    end = strstr(buf, "\r\n\r\n");
    if (end == NULL && len >= sizeof buf - 1) break;
  }
  if (end == NULL || strncmp(buf, "HTTP/1.1 101", 12) != 0) {
    /* An error: the body is JSON {"error":{"code":...,"message":"..."}}; print the message. */
    while (len < sizeof buf - 1) {
      ssize_t r = read(agent_fd, buf + len, sizeof buf - 1 - len);
      if (r <= 0) break;
      len += (size_t)r;
    }
    buf[len] = 0;
    char *m = strstr(buf, "\"message\":\"");
    if (m != NULL) {
      m += 11;
      char *q = m;
      while (*q != 0 && !(*q == '"' && q[-1] != '\\')) q++;
      *q = 0;
      fprintf(stderr, "vimage: %s\n", m);
    } else {
      fprintf(stderr, "vimage: vimaged refused to run the program\n");
    }
    exit(1);
  }
  size_t head = (size_t)(end + 4 - buf);
  struct vsa_hello h;
  size_t have = len - head < sizeof h ? len - head : sizeof h;
  memcpy(&h, buf + head, have);
  while (have < sizeof h) {
    ssize_t r = read(agent_fd, (char *)&h + have, sizeof h - have);
    if (r <= 0) {
      fprintf(stderr, "vimage: vimaged closed the connection\n");
      exit(EX_UNAVAILABLE);
    }
    have += (size_t)r;
  }
  if (h.magic != VSA_MAGIC || h.version != VSA_VERSION) {
    fprintf(stderr, "vimage: vimaged speaks another agent protocol version; use the vimage that came with it\n");
    exit(EX_UNAVAILABLE);
  }
  rlen = len - head - (len - head < sizeof h ? len - head : sizeof h);
  if (rlen > 0) memcpy(rbuf, buf + head + sizeof h, rlen);
  for (int i = 0; i < 16; i++) snprintf(key_hex + 2 * i, 3, "%02x", h.key[i]);
}

/* ---- the seccomp filter, assembled with resolved forward jumps ---- */

enum { L_NEXT = 0, L_ALLOW = 1, L_NOTIFY, L_ENOSYS, L_SOCKET, L_SENDTO, L_RECVFROM, L_IOCTL, L_MAX };
static struct sock_filter prog[128];
static int plabel_t[128], plabel_f[128], label_at[L_MAX];
static unsigned short plen;

static void emit(uint16_t code, uint32_t k, int lt, int lf) {
  prog[plen] = (struct sock_filter)BPF_JUMP(code, k, 0, 0);
  plabel_t[plen] = lt;
  plabel_f[plen] = lf;
  plen++;
}
#define LDW(off) emit(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off), L_NEXT, L_NEXT)
#define JEQ(k, lt, lf) emit(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(k), (lt), (lf))
#define RET(k) emit(BPF_RET | BPF_K, (uint32_t)(k), L_NEXT, L_NEXT)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)

/* Calls answered by the supervisor (socket, sendto and ioctl are decided by their arguments first). */
static const int notified[] = {
    __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4, __NR_getsockname, __NR_getpeername,
    __NR_setsockopt, __NR_getsockopt, __NR_sendmsg, __NR_sendmmsg, __NR_recvmsg, __NR_recvmmsg,
};

static int install_filter(void) {
  LDW(offsetof(struct seccomp_data, arch));
  JEQ(AUDIT_ARCH_NATIVE, L_NEXT, L_ENOSYS);
  LDW(offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  emit(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, L_ENOSYS, L_NEXT); /* x32 */
#endif
  JEQ(__NR_socket, L_SOCKET, L_NEXT);
  JEQ(__NR_sendto, L_SENDTO, L_NEXT);
  JEQ(__NR_recvfrom, L_RECVFROM, L_NEXT);
  JEQ(__NR_ioctl, L_IOCTL, L_NEXT);
  JEQ(__NR_io_uring_setup, L_ENOSYS, L_NEXT);
  JEQ(__NR_io_uring_enter, L_ENOSYS, L_NEXT);
  JEQ(__NR_io_uring_register, L_ENOSYS, L_NEXT);
  for (size_t i = 0; i < sizeof notified / sizeof notified[0]; i++) JEQ(notified[i], L_NOTIFY, L_NEXT);
  RET(SECCOMP_RET_ALLOW);
  label_at[L_SOCKET] = plen; /* socket(AF_UNIX, ...) runs natively; every other family is ours */
  LDW(ARG_LO(0));
  JEQ(AF_UNIX, L_ALLOW, L_NOTIFY);
  label_at[L_SENDTO] = plen; /* sendto with a destination address */
  LDW(ARG_LO(4));
  JEQ(0, L_NEXT, L_NOTIFY);
  LDW(ARG_HI(4));
  JEQ(0, L_ALLOW, L_NOTIFY);
  label_at[L_RECVFROM] = plen; /* recvfrom asking for the source address (a UDP receive; recv() stays native) */
  LDW(ARG_LO(4));
  JEQ(0, L_NEXT, L_NOTIFY);
  LDW(ARG_HI(4));
  JEQ(0, L_ALLOW, L_NOTIFY);
  label_at[L_IOCTL] = plen; /* socket ioctls: 0x89xx */
  LDW(ARG_LO(1));
  emit(BPF_ALU | BPF_AND | BPF_K, 0xff00, L_NEXT, L_NEXT);
  JEQ(0x8900, L_NOTIFY, L_ALLOW);
  label_at[L_NOTIFY] = plen;
  RET(SECCOMP_RET_USER_NOTIF);
  label_at[L_ENOSYS] = plen;
  RET(SECCOMP_RET_ERRNO | ENOSYS);
  label_at[L_ALLOW] = plen;
  RET(SECCOMP_RET_ALLOW);
  for (int i = 0; i < plen; i++) {
    if (BPF_CLASS(prog[i].code) != BPF_JMP) continue;
    prog[i].jt = plabel_t[i] == L_NEXT ? 0 : (uint8_t)(label_at[plabel_t[i]] - i - 1);
    prog[i].jf = plabel_f[i] == L_NEXT ? 0 : (uint8_t)(label_at[plabel_f[i]] - i - 1);
  }
  struct sock_fprog fp = {.len = plen, .filter = prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
}

static void on_signal(int sig) {
  if (child > 0) kill(child, sig);
}

static int exit_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

/*
 * Per-image resolvers, as `ip netns exec` does it: when
 * /etc/vimage/IMAGE/resolv.conf (or hosts) exists, the child enters a
 * private mount namespace (mounts propagate in from the host, never out)
 * and binds the file over /etc/resolv.conf (/etc/hosts). Without the
 * privilege for that (not root) the program sees the host's files, and
 * says so once per file.
 */
static void image_etc(const char *image) {
  static const char *const files[] = {"resolv.conf", "hosts"};
  char src[2][512];
  int have = 0;
  if (strchr(image, '/') != NULL || image[0] == '.' || image[0] == '\0') return;
  for (int i = 0; i < 2; i++) {
    snprintf(src[i], sizeof src[i], "/etc/vimage/%s/%s", image, files[i]);
    if (access(src[i], F_OK) == 0) have |= 1 << i;
  }
  if (have == 0) return;
  /* Slave before any bind: a bind in a namespace that still shares "/" would show on the host. */
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
    const char *why = strerror(errno);
    for (int i = 0; i < 2; i++) {
      if (have & (1 << i)) fprintf(stderr, "vimage: warning: %s is not used: a private mount namespace needs root (%s); the program sees the host's /etc/%s\n", src[i], why, files[i]);
    }
    return;
  }
  for (int i = 0; i < 2; i++) {
    char dst[32];
    snprintf(dst, sizeof dst, "/etc/%s", files[i]);
    if ((have & (1 << i)) && mount(src[i], dst, NULL, MS_BIND, NULL) < 0) {
      fprintf(stderr, "vimage: warning: cannot bind %s over %s: %s\n", src[i], dst, strerror(errno));
    }
  }
}

static void serve(int pidfd);

/* Tell vimaged a host pid of ours (VSA_PID), for the image's `ps`, `kill` and destroy. */
static void report_pid(pid_t pid, int role) {
  struct vsa_req q = {.op = VSA_PID, .a = (int32_t)pid, .b = role};
  if (agent_fd >= 0) write_all(agent_fd, &q, sizeof q);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: vimage-supervisor SOCKET IMAGE PROGRAM [ARGS...]\n");
    return EX_USAGE;
  }
  if (strlen(argv[1]) >= sizeof ctl_addr.sun_path) {
    fprintf(stderr, "vimage: socket path too long: %s\n", argv[1]);
    return EX_USAGE;
  }
  ctl_addr.sun_family = AF_UNIX;
  strcpy(ctl_addr.sun_path, argv[1]);
  ctl_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(argv[1]) + 1);
  open_session(argv[1], argv[2]);

  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0) {
    perror("vimage: pipe");
    return 1;
  }
  child = fork();
  if (child < 0) {
    perror("vimage: fork");
    return 1;
  }
  if (child == 0) {
    close(agent_fd);
    image_etc(argv[2]);
    int lfd = install_filter();
    if (lfd < 0) {
      fprintf(stderr, "vimage: cannot install the seccomp filter: %s (needs Linux 5.14 or later)\n", strerror(errno));
      _exit(1);
    }
    char ok;
    if (write(up[1], &lfd, sizeof lfd) != sizeof lfd || read(down[0], &ok, 1) != 1) _exit(1);
    close(lfd);
    execvp(argv[3], argv + 3);
    int e = errno;
    fprintf(stderr, "vimage: %s: %s\n", argv[3], e == ENOENT ? "command not found" : strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  close(up[1]);
  close(down[0]);
  int lfd = -1;
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  if (read(up[0], &lfd, sizeof lfd) != sizeof lfd || pidfd < 0 || (notify_fd = (int)syscall(SYS_pidfd_getfd, pidfd, lfd, 0)) < 0) {
    int st = 0;
    waitpid(child, &st, 0);
    return exit_code(st) != 0 ? exit_code(st) : 1;
  }
  fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
  signal(SIGINT, SIG_IGN); /* the terminal sends these to the program too; it decides */
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  report_pid(child, VSA_PID_PROGRAM);
  char ok = 1;
  if (write(down[1], &ok, 1) != 1) return 1;
  close(down[1]);
  close(up[0]);
  serve(pidfd);
  return 0;
}

static void serve(int pidfd) {
  struct seccomp_notif_sizes sz;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) sz.seccomp_notif = sizeof(struct seccomp_notif);
  size_t nsize = sz.seccomp_notif > sizeof(struct seccomp_notif) ? sz.seccomp_notif : sizeof(struct seccomp_notif);
  struct seccomp_notif *n = malloc(nsize);
  int code = -1;
  static struct pollfd pf[3 + 4096];
  for (;;) {
    pf[0] = (struct pollfd){notify_fd, POLLIN, 0};
    pf[1] = (struct pollfd){agent_fd, POLLIN, 0};
    pf[2] = (struct pollfd){pidfd, POLLIN, 0};
    int ndg = dg_pollfds(pf + 3, 4096); /* datagram sockets (supervisor_dgram.c) */
    int r = poll(pf, (nfds_t)(3 + ndg), 250);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) dg_events(pf + 3, ndg);
    if (pf[0].revents & POLLIN) {
      memset(n, 0, nsize);
      if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, n) == 0) handle(n);
    }
    if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) agent_read();
    if (pidfd >= 0 && (pf[2].revents & POLLIN)) {
      int st = 0;
      waitpid(child, &st, 0);
      code = exit_code(st);
      close(pidfd);
      pidfd = -1;
      child = -1;
      /* Processes it left behind keep their image sockets: serve them from the background. */
      struct pollfd h = {notify_fd, POLLIN, 0};
      if (poll(&h, 1, 0) >= 0 && !(h.revents & POLLHUP)) {
        pid_t bg = fork();
        if (bg != 0) _exit(code);
        setsid();
        report_pid(getpid(), VSA_PID_SUPERVISOR);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
          dup2(null, 0);
          dup2(null, 1);
          dup2(null, 2);
          if (null > 2) close(null);
        }
      }
    }
    if (pf[0].revents & POLLHUP) break; /* no process left under the filter */
    sweep();
  }
  if (child > 0) {
    /* The filter can lose its last user before the child is reaped. */
    int st = 0;
    if (waitpid(child, &st, 0) == child) code = exit_code(st);
  }
  exit(code < 0 ? 1 : code);
}
