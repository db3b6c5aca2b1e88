/*
 * pcap glue: compile a filter expression in tcpdump's language (pcap-filter(7))
 * into a classic BPF program with libpcap's own compiler, so an expression
 * means exactly what it means to tcpdump. The program is run in TypeScript
 * (lib/net/bpf_filter.ts); nothing else of libpcap is used.
 *
 * libpcap is loaded at run time (dlopen of libpcap.so.0.8, Debian's
 * libpcap0.8, or libpcap.so.1 / libpcap.so), so building the addon needs no
 * libpcap headers and the daemon runs without libpcap until someone uses a
 * filter. The few declarations needed are spelled out here; they are
 * libpcap's stable ABI (struct bpf_program and struct bpf_insn have not
 * changed since 4.4BSD).
 *
 * JS: pcapCompile(expr: string, snaplen: number, linktype: number, optimize: boolean): Uint32Array
 *   returns 4 words per instruction (code, jt, jf, k); throws an Error with
 *   code 'ENOENT' when libpcap cannot be loaded and 'EINVAL' with libpcap's
 *   message when the expression does not compile.
 * pcapCompileAsync(...same): Promise<Uint32Array>, compiled on libuv's thread
 *   pool, since pcap_compile resolves host names in the expression and must
 *   not stop the daemon's event loop while it does.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

struct vp_bpf_insn {
  unsigned short code;
  unsigned char jt;
  unsigned char jf;
  uint32_t k;
};

struct vp_bpf_program {
  unsigned int bf_len;
  struct vp_bpf_insn *bf_insns;
};

typedef struct pcap pcap_t;

#define VP_NETMASK_UNKNOWN 0xffffffffu
#define VP_MAX_EXPR 65536

static pcap_t *(*p_open_dead)(int, int);
static int (*p_compile)(pcap_t *, struct vp_bpf_program *, const char *, int, uint32_t);
static void (*p_freecode)(struct vp_bpf_program *);
static char *(*p_geterr)(pcap_t *);
static void (*p_close)(pcap_t *);
static const char *load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
/* pcap_compile was not thread-safe before libpcap 1.8; keep calls one at a time. */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static void load(void) {
  static const char *names[] = {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"};
  void *h = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && h == NULL; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    load_error = "libpcap is not installed (libpcap.so.0.8 not found); install it: apt-get install libpcap0.8";
    return;
  }
  p_open_dead = (pcap_t * (*)(int, int)) dlsym(h, "pcap_open_dead");
  p_compile = (int (*)(pcap_t *, struct vp_bpf_program *, const char *, int, uint32_t))dlsym(h, "pcap_compile");
  p_freecode = (void (*)(struct vp_bpf_program *))dlsym(h, "pcap_freecode");
  p_geterr = (char *(*)(pcap_t *))dlsym(h, "pcap_geterr");
  p_close = (void (*)(pcap_t *))dlsym(h, "pcap_close");
  if (p_open_dead == NULL || p_compile == NULL || p_freecode == NULL || p_geterr == NULL || p_close == NULL) {
    load_error = "the libpcap found lacks pcap_open_dead/pcap_compile; install Debian's libpcap0.8";
  }
}

/* The compile itself, on any thread: fills *out (4 words per instruction) or err. Returns 0, or an errno-like code name. */
static const char *compile_core(const char *expr, int snaplen, int linktype, bool optimize, uint32_t **out, size_t *n, char *err, size_t errlen) {
  pthread_once(&load_once, load);
  if (load_error != NULL) {
    snprintf(err, errlen, "%s", load_error);
    return "ENOENT";
  }
  pthread_mutex_lock(&compile_lock);
  pcap_t *p = p_open_dead(linktype, snaplen);
  if (p == NULL) {
    pthread_mutex_unlock(&compile_lock);
    snprintf(err, errlen, "pcap_open_dead failed");
    return "ENOMEM";
  }
  struct vp_bpf_program prog = {0, NULL};
  if (p_compile(p, &prog, expr, optimize ? 1 : 0, VP_NETMASK_UNKNOWN) != 0) {
    snprintf(err, errlen, "%s", p_geterr(p));
    p_close(p);
    pthread_mutex_unlock(&compile_lock);
    return "EINVAL";
  }
  *n = prog.bf_len;
  *out = malloc((*n > 0 ? *n : 1) * 16);
  if (*out != NULL) {
    for (size_t i = 0; i < *n; i++) {
      (*out)[i * 4] = prog.bf_insns[i].code;
      (*out)[i * 4 + 1] = prog.bf_insns[i].jt;
      (*out)[i * 4 + 2] = prog.bf_insns[i].jf;
      (*out)[i * 4 + 3] = prog.bf_insns[i].k;
    }
  }
  p_freecode(&prog);
  p_close(p);
  pthread_mutex_unlock(&compile_lock);
  if (*out == NULL) {
    snprintf(err, errlen, "out of memory");
    return "ENOMEM";
  }
  return NULL;
}

static napi_value make_words(napi_env env, const uint32_t *w, size_t n) {
  napi_value ab, out;
  void *data = NULL;
  if (napi_create_arraybuffer(env, n * 16, &data, &ab) != napi_ok) return NULL;
  memcpy(data, w, n * 16);
  if (napi_create_typedarray(env, napi_uint32_array, n * 4, ab, 0, &out) != napi_ok) return NULL;
  return out;
}

static napi_value make_error(napi_env env, const char *code, const char *msg) {
  napi_value c, m, err;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  return err;
}

/* Arguments shared by both entry points: the expression (malloc'd) and the numbers. */
static const char *read_args(napi_env env, napi_callback_info info, char **expr, int32_t *snaplen, int32_t *linktype, bool *optimize) {
  size_t argc = 4;
  napi_value argv[4];
  *expr = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return "pcapCompile(expr, snaplen, linktype, optimize)";
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) return "expression must be a string";
  if (len > VP_MAX_EXPR) return "expression too long";
  *expr = malloc(len + 1);
  if (*expr == NULL) return "out of memory";
  napi_get_value_string_utf8(env, argv[0], *expr, len + 1, &len);
  *snaplen = 262144;
  *linktype = 1;
  *optimize = true;
  napi_get_value_int32(env, argv[1], snaplen);
  napi_get_value_int32(env, argv[2], linktype);
  if (argc > 3) napi_get_value_bool(env, argv[3], optimize);
  return NULL;
}

static napi_value js_pcap_compile(napi_env env, napi_callback_info info) {
  char *expr;
  int32_t snaplen, linktype;
  bool optimize;
  const char *bad = read_args(env, info, &expr, &snaplen, &linktype, &optimize);
  if (bad != NULL) {
    free(expr);
    napi_throw(env, make_error(env, "EINVAL", bad));
    return NULL;
  }
  uint32_t *w = NULL;
  size_t n = 0;
  char err[512];
  const char *code = compile_core(expr, snaplen, linktype, optimize, &w, &n, err, sizeof err);
  free(expr);
  if (code != NULL) {
    napi_throw(env, make_error(env, code, err));
    return NULL;
  }
  napi_value out = make_words(env, w, n);
  free(w);
  return out;
}

/* Async: a host name in the expression is resolved by pcap_compile; do it off the event loop. */
struct compile_job {
  napi_async_work work;
  napi_deferred deferred;
  char *expr;
  int32_t snaplen, linktype;
  bool optimize;
  uint32_t *words;
  size_t n;
  const char *code;
  char err[512];
};

static void job_execute(napi_env env, void *data) {
  (void)env;
  struct compile_job *j = data;
  j->code = compile_core(j->expr, j->snaplen, j->linktype, j->optimize, &j->words, &j->n, j->err, sizeof j->err);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  struct compile_job *j = data;
  if (status != napi_ok) napi_reject_deferred(env, j->deferred, make_error(env, "ECANCELED", "compile cancelled"));
  else if (j->code != NULL) napi_reject_deferred(env, j->deferred, make_error(env, j->code, j->err));
  else {
    napi_value out = make_words(env, j->words, j->n);
    if (out != NULL) napi_resolve_deferred(env, j->deferred, out);
    else napi_reject_deferred(env, j->deferred, make_error(env, "ENOMEM", "out of memory"));
  }
  napi_delete_async_work(env, j->work);
  free(j->words);
  free(j->expr);
  free(j);
}

static napi_value js_pcap_compile_async(napi_env env, napi_callback_info info) {
  struct compile_job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw(env, make_error(env, "ENOMEM", "out of memory"));
    return NULL;
  }
  const char *bad = read_args(env, info, &j->expr, &j->snaplen, &j->linktype, &j->optimize);
  if (bad != NULL) {
    free(j->expr);
    free(j);
    napi_throw(env, make_error(env, "EINVAL", bad));
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "vimage:pcapCompile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) != napi_ok || napi_queue_async_work(env, j->work) != napi_ok) {
    napi_reject_deferred(env, j->deferred, make_error(env, "ENOMEM", "cannot queue the compile"));
    free(j->expr);
    free(j);
  }
  return promise;
}

napi_status vimage_pcap_register(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"pcapCompile", NULL, js_pcap_compile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pcapCompileAsync", NULL, js_pcap_compile_async, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
