/*
 * The latency reference of `npm run bench`: the least a user-space hop can
 * cost. Opens TAP devices A and B and copies every frame from one to the
 * other as it is, one poll(2) wake-up and one read and write per frame.
 *
 *   taploop NAME_A NAME_B      prints "ready" once both devices exist
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int tap_open(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: taploop NAME_A NAME_B\n");
    return 2;
  }
  int fd[2] = {tap_open(argv[1]), tap_open(argv[2])};
  if (fd[0] < 0 || fd[1] < 0) {
    fprintf(stderr, "taploop: cannot open the TAP devices: %s\n", strerror(errno));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  static unsigned char buf[65536];
  struct pollfd p[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      ssize_t n = read(fd[i], buf, sizeof buf);
      if (n > 0 && write(fd[1 - i], buf, (size_t)n) < 0 && errno != EIO) return 1;
    }
  }
}
