/*
 * vimage_tap, system glue: network namespaces (to re-attach persistent TAP
 * devices whose host side was moved into a namespace), sd_notify for
 * systemd's Type=notify, SO_PEERCRED for the control socket, and the
 * thread CPU clock the scheduler charges images by.
 *
 * Errors throw an Error with .code = errno name and .errno = -errno, like
 * the rest of the binding.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

static void throw_sys(napi_env env, int err, const char *what, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "", strerror(err));
  napi_value m, e, code, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  const char *name = err == EPERM ? "EPERM" : err == ENOENT ? "ENOENT" : err == EINVAL ? "EINVAL" : err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_create_int32(env, -err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_throw(env, e);
}

static bool get_str(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (v == NULL || napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "argument must be a string");
    return false;
  }
  if (len + 1 >= cap) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "string argument too long");
    return false;
  }
  return true;
}

/* nsEnter(path) -> fd of the namespace we left: switch this thread's network namespace. */
static napi_value js_ns_enter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (!get_str(env, argv[0], path, sizeof path)) return NULL;
  int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved < 0) {
    throw_sys(env, errno, "cannot open", "/proc/thread-self/ns/net");
    return NULL;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(saved);
    throw_sys(env, e, "cannot open network namespace", path);
    return NULL;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int e = errno;
    close(target);
    close(saved);
    throw_sys(env, e, "cannot enter network namespace", path);
    return NULL;
  }
  close(target);
  napi_value r;
  napi_create_int32(env, saved, &r);
  return r;
}

/* nsLeave(fd): return to the namespace nsEnter saved, and close it. */
static napi_value js_ns_leave(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argv[0] == NULL || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "namespace fd must be a number");
    return NULL;
  }
  int rc = setns(fd, CLONE_NEWNET);
  int e = errno;
  close(fd);
  if (rc != 0) throw_sys(env, e, "cannot return to the daemon's network namespace", NULL);
  return NULL;
}

/* sdNotify(socketPath, message) -> 0 or -errno. '@' starts an abstract socket name. */
static napi_value js_sd_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char msg[4096];
  if (!get_str(env, argv[0], path, sizeof path) || !get_str(env, argv[1], msg, sizeof msg)) return NULL;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t plen = strlen(path);
  if (plen == 0 || plen >= sizeof sa.sun_path) {
    napi_value r;
    napi_create_int32(env, -EINVAL, &r);
    return r;
  }
  memcpy(sa.sun_path, path, plen);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int rc = 0;
  if (fd < 0) rc = -errno;
  else {
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0) rc = -errno;
    close(fd);
  }
  napi_value r;
  napi_create_int32(env, rc, &r);
  return r;
}

/* peerCred(fd) -> {pid, uid, gid} of the process at the other end of a Unix socket. */
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argv[0] == NULL || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a number");
    return NULL;
  }
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    throw_sys(env, errno, "SO_PEERCRED", NULL);
    return NULL;
  }
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_int32(env, uc.pid, &v);
  napi_set_named_property(env, o, "pid", v);
  napi_create_uint32(env, uc.uid, &v);
  napi_set_named_property(env, o, "uid", v);
  napi_create_uint32(env, uc.gid, &v);
  napi_set_named_property(env, o, "gid", v);
  return o;
}

/* threadCpuMs() -> CPU time of the calling thread, ms: what packet work really cost, preemption excluded. */
static napi_value js_thread_cpu_ms(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  napi_value v;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  napi_create_double(env, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, &v);
  return v;
}

napi_status vimage_sys_register(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"nsEnter", NULL, js_ns_enter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nsLeave", NULL, js_ns_leave, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sdNotify", NULL, js_sd_notify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"threadCpuMs", NULL, js_thread_cpu_ms, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
