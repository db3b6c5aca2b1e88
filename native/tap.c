/*
 * vimage_tap: the host TAP device binding (Linux, N-API, libuv).
 *
 * Control calls (open, persist, MTU, up/down, destroy) are synchronous ioctls
 * and throw an Error whose .code is the errno name ('EPERM', 'EBUSY', ...),
 * whose .errno is the negative errno (Node's convention) and whose message
 * says what to do about it.
 *
 * The data path never throws for a network condition and never allocates per
 * frame: write() returns bytes written or -errno; the receive side is a
 * uv_poll_t that, on each wake-up, reads frames straight into caller-owned
 * slots (rx[i * slotSize], length in rxLen[i]) until EAGAIN or the slots are
 * full, then calls JS once with the count. A full batch is followed by up to
 * MAX_BATCHES - 1 more in the same wake-up before yielding to the loop,
 * unless the callback returns false (another device should have its turn).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>

#include <node_api.h>
#include <uv.h>

#define TUN_PATH "/dev/net/tun"
#define VNET_HDR_LEN 10 /* sizeof(struct virtio_net_hdr), no num_buffers */
#define MAX_BATCHES 1   /* full batches read per wake-up before other devices get their turn */

/* ---- errors ------------------------------------------------------------ */

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EBADFD: return "EBADFD";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: return uv_err_name(-e);
  }
}

/* Throw Error(message) with .code = errno name, .errno = -err. */
static void throw_errno(napi_env env, int err, const char *fmt, ...) {
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_value code, text, error, eno;
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok ||
      napi_create_error(env, code, text, &error) != napi_ok ||
      napi_create_int32(env, -err, &eno) != napi_ok ||
      napi_set_named_property(env, error, "errno", eno) != napi_ok) {
    napi_throw_error(env, errno_name(err), msg);
    return;
  }
  napi_throw(env, error);
}

/* Any N-API failure that left no exception pending becomes a generic one. */
#define NAPI_CALL(env, call)                                              \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      bool pending_ = false;                                              \
      napi_is_exception_pending((env), &pending_);                        \
      if (!pending_) napi_throw_error((env), NULL, "vimage_tap: " #call " failed"); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static void throw_tun_open(napi_env env, int e) {
  switch (e) {
    case EACCES:
    case EPERM:
      throw_errno(env, e, TUN_PATH ": permission denied, run as root or grant CAP_NET_ADMIN");
      break;
    case ENOENT:
    case ENODEV:
    case ENXIO:
      throw_errno(env, e, TUN_PATH ": no such device, load the tun module (modprobe tun)");
      break;
    case EMFILE:
    case ENFILE:
      throw_errno(env, e, TUN_PATH ": too many open files");
      break;
    default:
      throw_errno(env, e, TUN_PATH ": open failed: %s", strerror(e));
  }
}

static void throw_setiff(napi_env env, int e, const char *name) {
  switch (e) {
    case EBUSY:
      throw_errno(env, e, "tap device %s is busy: another process holds it", name);
      break;
    case EINVAL:
      if (if_nametoindex(name) != 0)
        throw_errno(env, e, "%s: a network device of that name exists and is not a tap device", name);
      else
        throw_errno(env, e, "%s: invalid interface name", name);
      break;
    case EPERM:
    case EACCES:
      throw_errno(env, e,
                  "tap device %s: permission denied, run as root or grant CAP_NET_ADMIN "
                  "(or the device belongs to another user)", name);
      break;
    default:
      throw_errno(env, e, "tap device %s: TUNSETIFF failed: %s", name, strerror(e));
  }
}

static void throw_hostif(napi_env env, int e, const char *name, const char *what) {
  switch (e) {
    case ENODEV:
    case ENXIO:
      throw_errno(env, e, "%s: no such network interface", name);
      break;
    case EPERM:
    case EACCES:
      throw_errno(env, e, "%s: %s: permission denied, run as root or grant CAP_NET_ADMIN", name, what);
      break;
    default:
      throw_errno(env, e, "%s: %s failed: %s", name, what, strerror(e));
  }
}

/* ---- argument helpers -------------------------------------------------- */

/* Read an interface name; throws EINVAL if empty or longer than 15 bytes. */
static bool get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  char buf[256];
  size_t len = 0;
  if (v == NULL || napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "interface name must be a string");
    return false;
  }
  if (len == 0) {
    throw_errno(env, EINVAL, "invalid interface name: empty");
    return false;
  }
  if (len >= IFNAMSIZ) {
    throw_errno(env, EINVAL, "%.64s: invalid interface name, longer than %d bytes", buf, IFNAMSIZ - 1);
    return false;
  }
  memcpy(out, buf, len + 1);
  return true;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out, const char *what) {
  if (v == NULL || napi_get_value_int32(env, v, out) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  return true;
}

static bool get_bool(napi_env env, napi_value v, bool *out, const char *what) {
  if (v == NULL || napi_get_value_bool(env, v, out) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  return true;
}

/* Optional boolean property of an options object; `def` when absent. */
static bool get_flag(napi_env env, napi_value obj, const char *key, bool def) {
  napi_valuetype t;
  if (obj == NULL || napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return def;
  napi_value v;
  bool b = def;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return def;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) return def;
  napi_get_value_bool(env, v, &b);
  return b;
}

static napi_value make_i32(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

static napi_value make_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

/* ---- device control ---------------------------------------------------- */

/* open(name, {vnetHdr, persist}) -> {fd, name, offloads, vnetHdrLen} */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  if (!get_ifname(env, argv[0], name)) return NULL;
  bool vnet = get_flag(env, argv[1], "vnetHdr", true);
  bool persist = get_flag(env, argv[1], "persist", false);

  int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_tun_open(env, errno);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    throw_setiff(env, e, name);
    return NULL;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';

  unsigned offloads = 0;
  if (vnet) {
    int sz = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
      int e = errno;
      close(fd);
      throw_errno(env, e, "tap device %s: cannot set the virtio-net header size: %s", ifr.ifr_name, strerror(e));
      return NULL;
    }
    /* Ask for checksum and TSO offload; settle for less on older kernels. */
    static const unsigned tries[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, TUN_F_CSUM, 0};
    int e = 0;
    size_t i;
    for (i = 0; i < sizeof tries / sizeof tries[0]; i++) {
      if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) break;
      e = errno;
    }
    if (i == sizeof tries / sizeof tries[0]) {
      close(fd);
      throw_errno(env, e, "tap device %s: cannot set offloads: %s", ifr.ifr_name, strerror(e));
      return NULL;
    }
    offloads = tries[i];
  }
  if (ioctl(fd, TUNSETPERSIST, (unsigned long)(persist ? 1 : 0)) < 0) {
    int e = errno;
    close(fd);
    throw_errno(env, e, "tap device %s: cannot set persistence: %s", ifr.ifr_name, strerror(e));
    return NULL;
  }

  napi_value res, v;
  NAPI_CALL(env, napi_create_object(env, &res));
  NAPI_CALL(env, napi_set_named_property(env, res, "fd", make_i32(env, fd)));
  NAPI_CALL(env, napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, res, "name", v));
  NAPI_CALL(env, napi_set_named_property(env, res, "offloads", make_i32(env, (int32_t)offloads)));
  NAPI_CALL(env, napi_set_named_property(env, res, "vnetHdrLen", make_i32(env, vnet ? VNET_HDR_LEN : 0)));
  return res;
}

/* setPersist(fd, on) */
static napi_value js_set_persist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool on;
  if (!get_i32(env, argv[0], &fd, "fd") || !get_bool(env, argv[1], &on, "persist")) return NULL;
  if (ioctl(fd, TUNSETPERSIST, (unsigned long)(on ? 1 : 0)) < 0) {
    int e = errno;
    throw_errno(env, e, "tap device: cannot %s persistence: %s", on ? "set" : "clear", strerror(e));
    return NULL;
  }
  return NULL;
}

/* close(fd) -> 0 or -errno */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (!get_i32(env, argv[0], &fd, "fd")) return NULL;
  int r = close(fd);
  return make_i32(env, r < 0 ? -errno : 0);
}

/* One SIOC* ioctl on an AF_INET datagram socket; 0 or -errno. */
static int ifreq_ioctl(unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int r = ioctl(s, req, ifr);
  int e = errno;
  close(s);
  return r < 0 ? -e : 0;
}

/* setMtu(name, mtu) */
static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int32_t mtu;
  if (!get_ifname(env, argv[0], ifr.ifr_name) || !get_i32(env, argv[1], &mtu, "mtu")) return NULL;
  ifr.ifr_mtu = mtu;
  int r = ifreq_ioctl(SIOCSIFMTU, &ifr);
  if (r == -EINVAL) {
    throw_errno(env, EINVAL, "%s: MTU %d is out of range for this device", ifr.ifr_name, mtu);
    return NULL;
  }
  if (r < 0) {
    throw_hostif(env, -r, ifr.ifr_name, "setting the MTU");
    return NULL;
  }
  return NULL;
}

/* getMtu(name) -> mtu */
static napi_value js_get_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  int r = ifreq_ioctl(SIOCGIFMTU, &ifr);
  if (r < 0) {
    throw_hostif(env, -r, ifr.ifr_name, "reading the MTU");
    return NULL;
  }
  return make_i32(env, ifr.ifr_mtu);
}

/* setUp(name, up) */
static napi_value js_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  bool up;
  if (!get_ifname(env, argv[0], ifr.ifr_name) || !get_bool(env, argv[1], &up, "up")) return NULL;
  int r = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    if (up) ifr.ifr_flags |= IFF_UP;
    else ifr.ifr_flags &= ~IFF_UP;
    r = ifreq_ioctl(SIOCSIFFLAGS, &ifr);
  }
  if (r < 0) {
    throw_hostif(env, -r, ifr.ifr_name, up ? "bringing the interface up" : "bringing the interface down");
    return NULL;
  }
  return NULL;
}

/* exists(name) -> boolean (false for names no interface can have) */
static napi_value js_exists(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char buf[64];
  size_t len = 0;
  if (argv[0] == NULL || napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "interface name must be a string");
    return NULL;
  }
  if (len == 0 || len >= IFNAMSIZ) return make_bool(env, false);
  return make_bool(env, if_nametoindex(buf) != 0);
}

/*
 * destroy(name) -> true if removed, false if there is no such device.
 * Attaches (TUNSETIFF on an existing name never creates one: we check first,
 * and a device created by a race is removed by the same close), clears
 * persistence and closes, which unregisters the device.
 */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  if (!get_ifname(env, argv[0], name)) {
    /* A name that is too long or empty names no device. */
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    return make_bool(env, false);
  }
  if (if_nametoindex(name) == 0) return make_bool(env, false);

  int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_tun_open(env, errno);
    return NULL;
  }
  /* TUNSETIFF on an existing device checks mode and multi-queue, not VNET_HDR;
   * try the creation flags first, then the variants others may have used. */
  static const short tries[] = {
      IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
      IFF_TAP | IFF_NO_PI,
      IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE,
  };
  int e = 0;
  bool ok = false;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = tries[i];
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
      ok = true;
      break;
    }
    e = errno;
    if (e != EINVAL) break;
  }
  if (!ok) {
    close(fd);
    if (if_nametoindex(name) == 0) return make_bool(env, false); /* went away meanwhile */
    throw_setiff(env, e, name);
    return NULL;
  }
  if (ioctl(fd, TUNSETPERSIST, 0UL) < 0) {
    e = errno;
    close(fd);
    throw_errno(env, e, "tap device %s: cannot clear persistence: %s", name, strerror(e));
    return NULL;
  }
  close(fd);
  return make_bool(env, true);
}

/* ---- data path: write -------------------------------------------------- */

/* write(fd, buf, off, len) -> bytes written or -errno. Throws only for bad
 * arguments (not a Uint8Array, or off/len outside it): programming errors. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, off, len;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_uint8_clamped_array) ||
      napi_get_value_int32(env, argv[2], &off) != napi_ok || napi_get_value_int32(env, argv[3], &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "write(fd: number, buf: Uint8Array, off: number, len: number)");
    return NULL;
  }
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "write: off/len outside the buffer");
    return NULL;
  }
  ssize_t n;
  do {
    n = write(fd, (const uint8_t *)data + off, (size_t)len);
  } while (n < 0 && errno == EINTR);
  return make_i32(env, n < 0 ? -errno : (int32_t)n);
}

/* ---- data path: receive ------------------------------------------------ */

typedef struct tap_rx {
  uv_poll_t poll;
  napi_env env;
  napi_ref rx_ref, len_ref, cb_ref;
  uint8_t *rx;
  int32_t *lens;
  size_t slot_size, slots;
  int fd;
  bool active;    /* refs held, handle not yet closing */
  bool polling;   /* uv_poll_start in effect */
  bool failed;    /* receiving stopped on an error: pause(false) does not restart it */
  bool closed;    /* uv close callback ran */
  bool finalized; /* JS handle collected */
} tap_rx_t;

static void rx_on_close(uv_handle_t *h) {
  tap_rx_t *r = h->data;
  r->closed = true;
  if (r->finalized) free(r);
}

static void rx_cleanup_hook(void *arg);

/* Stop polling, release the JS references, close the uv handle. */
static void rx_release(tap_rx_t *r, bool from_hook) {
  if (!r->active) return;
  r->active = false;
  if (r->polling) uv_poll_stop(&r->poll);
  r->polling = false;
  napi_delete_reference(r->env, r->rx_ref);
  napi_delete_reference(r->env, r->len_ref);
  napi_delete_reference(r->env, r->cb_ref);
  if (!from_hook) napi_remove_env_cleanup_hook(r->env, rx_cleanup_hook, r);
  uv_close((uv_handle_t *)&r->poll, rx_on_close);
}

static void rx_cleanup_hook(void *arg) { rx_release(arg, true); }

static void rx_finalize(napi_env env, void *data, void *hint) {
  tap_rx_t *r = data;
  r->finalized = true;
  if (r->active) rx_release(r, false); /* handle dropped without stop() */
  else if (r->closed) free(r);
}

/*
 * Call the JS callback with `count` and the thread CPU ms the reads of the
 * batch cost: -1 if it threw, 0 if it returned false (yield to the loop now:
 * another device's turn), 1 to go on reading.
 */
static int rx_deliver(tap_rx_t *r, int32_t count, double read_ms) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  int ok = 1;
  napi_value cb, recv, args[2], result;
  /* napi_make_callback (not call_function) so nextTicks and microtasks run
   * after the batch; its receiver must be an object, hence the global. No
   * async context (async id 0): async_hooks' before/after hooks do not run
   * for a batch. They would on every wake-up as soon as any hook is enabled
   * (vimaged's process accounting has one), and the first frame after an
   * idle spell paid tens of microseconds for them on a cold cache; packet
   * work is charged by the scheduler, not by hooks. */
  if (napi_get_reference_value(env, r->cb_ref, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, count, &args[0]) == napi_ok &&
      napi_create_double(env, read_ms, &args[1]) == napi_ok) {
    napi_status s = napi_make_callback(env, NULL, recv, cb, 2, args, &result);
    if (s != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        napi_fatal_exception(env, exc); /* 'uncaughtException', not abort */
      }
      ok = -1;
    } else {
      bool more = true;
      if (napi_get_value_bool(env, result, &more) == napi_ok && !more) ok = 0;
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

/* Time spent reading, on the monotonic clock (vDSO, ~0.1 us): the thread's
 * CPU clock is a system call of several microseconds on a virtual machine,
 * too dear twice per batch. The scheduler corrects the sum to real CPU time. */
static double busy_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void rx_on_readable(uv_poll_t *h, int status, int events) {
  tap_rx_t *r = h->data;
  if (!r->active) return;
  if (status < 0) {
    /* libuv reports the poll itself failed: stop, tell JS once. */
    uv_poll_stop(&r->poll);
    r->polling = false;
    r->failed = true;
    rx_deliver(r, status, 0);
    return;
  }
  for (int batch = 0; batch < MAX_BATCHES && r->active; batch++) {
    size_t n = 0;
    int err = 0;
    double t0 = busy_ms();
    while (n < r->slots) {
      ssize_t k = read(r->fd, r->rx + n * r->slot_size, r->slot_size);
      if (k > 0) {
        r->lens[n++] = (int32_t)k;
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n > 0 && rx_deliver(r, (int32_t)n, busy_ms() - t0) <= 0) return;
    if (err != 0 && r->active) {
      /* e.g. EBADFD once the host device was deleted: polling again would
       * spin, so stop and report -errno through the same callback. */
      uv_poll_stop(&r->poll);
      r->polling = false;
      r->failed = true;
      rx_deliver(r, -err, 0);
      return;
    }
    if (n < r->slots) return;
  }
}

/* start(fd, rx: Uint8Array, rxLen: Int32Array, slotSize, cb) -> handle */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5] = {NULL, NULL, NULL, NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slot_size;
  if (!get_i32(env, argv[0], &fd, "fd") || !get_i32(env, argv[3], &slot_size, "slotSize")) return NULL;
  napi_typedarray_type t1, t2;
  size_t rx_bytes, nlens;
  void *rx, *lens;
  if (argv[1] == NULL || napi_get_typedarray_info(env, argv[1], &t1, &rx_bytes, &rx, NULL, NULL) != napi_ok ||
      t1 != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "rx must be a Uint8Array");
    return NULL;
  }
  if (argv[2] == NULL || napi_get_typedarray_info(env, argv[2], &t2, &nlens, &lens, NULL, NULL) != napi_ok ||
      t2 != napi_int32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "rxLen must be an Int32Array");
    return NULL;
  }
  napi_valuetype ct;
  if (argv[4] == NULL || napi_typeof(env, argv[4], &ct) != napi_ok || ct != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return NULL;
  }
  if (slot_size < 64) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slotSize must be at least 64");
    return NULL;
  }
  size_t slots = rx_bytes / (size_t)slot_size;
  if (nlens < slots) slots = nlens;
  if (slots == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rx and rxLen must hold at least one slot");
    return NULL;
  }

  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  tap_rx_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    throw_errno(env, ENOMEM, "tap receive: out of memory");
    return NULL;
  }
  r->env = env;
  r->fd = fd;
  r->rx = rx;
  r->lens = lens;
  r->slot_size = (size_t)slot_size;
  r->slots = slots;
  int ue = uv_poll_init(loop, &r->poll, fd);
  if (ue < 0) {
    free(r);
    throw_errno(env, -ue, "tap receive: cannot poll fd %d: %s", fd, uv_strerror(ue));
    return NULL;
  }
  r->poll.data = r;
  napi_value handle;
  if (napi_create_reference(env, argv[1], 1, &r->rx_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &r->len_ref) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &r->cb_ref) != napi_ok) {
    /* Not reachable in practice; leak the partial refs rather than guess. */
    r->finalized = true;
    uv_close((uv_handle_t *)&r->poll, rx_on_close);
    napi_throw_error(env, NULL, "tap receive: cannot create references");
    return NULL;
  }
  r->active = true;
  ue = uv_poll_start(&r->poll, UV_READABLE, rx_on_readable);
  if (ue < 0) {
    r->finalized = true;
    rx_release(r, true);
    throw_errno(env, -ue, "tap receive: cannot poll fd %d: %s", fd, uv_strerror(ue));
    return NULL;
  }
  r->polling = true;
  napi_add_env_cleanup_hook(env, rx_cleanup_hook, r);
  if (napi_create_external(env, r, rx_finalize, NULL, &handle) != napi_ok) {
    r->finalized = true;
    rx_release(r, false);
    napi_throw_error(env, NULL, "tap receive: cannot create handle");
    return NULL;
  }
  return handle;
}

/* stop(handle): idempotent. */
static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  if (argv[0] == NULL || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "stop: not a receive handle");
    return NULL;
  }
  rx_release(data, false);
  return NULL;
}

/*
 * pause(handle, on): stop reading the device (on) or read it again (off).
 * While paused, frames wait in the kernel's queue for the device and, once
 * that is full, the kernel drops them (counted by hostDrops). Idempotent.
 */
static napi_value js_pause(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data = NULL;
  bool on = false;
  if (argv[0] == NULL || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "pause: not a receive handle");
    return NULL;
  }
  if (argv[1] == NULL || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "pause: on must be a boolean");
    return NULL;
  }
  tap_rx_t *r = data;
  if (!r->active || r->failed) return NULL;
  if (on && r->polling) {
    uv_poll_stop(&r->poll);
    r->polling = false;
  } else if (!on && !r->polling) {
    int ue = uv_poll_start(&r->poll, UV_READABLE, rx_on_readable);
    if (ue < 0) {
      throw_errno(env, -ue, "tap receive: cannot poll fd %d again: %s", r->fd, uv_strerror(ue));
      return NULL;
    }
    r->polling = true;
  }
  return NULL;
}

/*
 * The `drop` field of the transmit half of `name`'s line in a /proc/net/dev
 * text: frames the kernel could not queue for us. -1 if the line is missing.
 */
static double parse_tx_drops(const char *text, const char *name) {
  size_t nlen = strlen(name);
  for (const char *line = text; *line != '\0';) {
    const char *p = line;
    while (*p == ' ') p++;
    const char *eol = strchr(p, '\n');
    if (strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
      p += nlen + 1;
      /* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop */
      double v = -1;
      for (int field = 0; field < 12; field++) {
        char *end;
        v = strtod(p, &end);
        if (end == p) return -1;
        p = end;
      }
      return v;
    }
    if (eol == NULL) break;
    line = eol + 1;
  }
  return -1;
}

/*
 * hostDrops(fd) -> the host-side device's transmit drop counter: frames the
 * kernel dropped because its queue towards us was full (we were not reading
 * fast enough, or paused). The device may live in another network namespace
 * (moved into a container); TUNGETDEVNETNS finds it, and /proc/net/dev is
 * opened there and read back home. Returns -errno on failure.
 */
static napi_value js_host_drops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (!get_i32(env, argv[0], &fd, "fd")) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return make_i32(env, -errno);
  int devns = ioctl(fd, TUNGETDEVNETNS);
  if (devns < 0) return make_i32(env, -errno);
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    int e = errno;
    close(devns);
    return make_i32(env, -e);
  }
  struct stat a, b;
  bool same = fstat(devns, &a) == 0 && fstat(home, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
  int f = -1, e = 0;
  if (same) {
    f = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
    if (f < 0) e = errno;
  } else if (setns(devns, CLONE_NEWNET) == 0) {
    f = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
    if (f < 0) e = errno;
    if (setns(home, CLONE_NEWNET) != 0) {
      /* Carrying on in the device's namespace would misroute everything. */
      fprintf(stderr, "vimage_tap: cannot return to the daemon's network namespace: %s\n", strerror(errno));
      abort();
    }
  } else {
    e = errno;
  }
  close(devns);
  close(home);
  if (f < 0) return make_i32(env, -e);
  size_t cap = 16384, len = 0;
  int rerr = 0;
  char *text = malloc(cap);
  while (text != NULL) {
    if (len + 1 >= cap) {
      if (cap >= (8u << 20)) break; /* a namespace with tens of thousands of devices: read no further */
      char *t = realloc(text, cap * 2);
      if (t == NULL) break;
      text = t;
      cap *= 2;
    }
    ssize_t k = read(f, text + len, cap - len - 1);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) rerr = errno;
    if (k <= 0) break;
    len += (size_t)k;
  }
  close(f);
  if (text == NULL) return make_i32(env, -ENOMEM);
  text[len] = '\0';
  double v = parse_tx_drops(text, ifr.ifr_name);
  free(text);
  if (v < 0) return make_i32(env, rerr != 0 ? -rerr : -ENODEV);
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, v, &out));
  return out;
}

/* ---- module ------------------------------------------------------------ */

napi_status vimage_sys_register(napi_env env, napi_value exports); /* native/sys.c */
napi_status vimage_pcap_register(napi_env env, napi_value exports); /* native/pcap.c */

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setPersist", NULL, js_set_persist, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMtu", NULL, js_set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getMtu", NULL, js_get_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUp", NULL, js_set_up, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exists", NULL, js_exists, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pause", NULL, js_pause, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hostDrops", NULL, js_host_drops, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (vimage_sys_register(env, exports) != napi_ok) return NULL;
  if (vimage_pcap_register(env, exports) != napi_ok) return NULL;
  return exports;
}
