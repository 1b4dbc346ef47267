/* core/ir: the context's ground part: options, allocation hooks, errors, logging, the worker pool, the own loop. */
#include "core/ir/ctx.h"

#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static void *sys_allocate(void *c, size_t size) {
  (void)c;
  return malloc(size ? size : 1);
}
static void *sys_reallocate(void *c, void *p, size_t size) {
  (void)c;
  return realloc(p, size ? size : 1);
}
static void sys_deallocate(void *c, void *p) {
  (void)c;
  free(p);
}
static void *sys_aligned_allocate(void *c, size_t alignment, size_t size) {
  (void)c;
  void *p = NULL;
  if (alignment < sizeof(void *)) alignment = sizeof(void *);
  if (posix_memalign(&p, alignment, size ? size : 1) != 0) return NULL;
  return p;
}

const cleave_allocator cl_default_allocator = {
    .context = NULL,
    .allocate = sys_allocate,
    .reallocate = sys_reallocate,
    .deallocate = sys_deallocate,
    .aligned_allocate = sys_aligned_allocate,
    .aligned_deallocate = sys_deallocate,
};

/* ---- errors ---- */

const char *cleave_strerror(int err) {
  switch (err) {
  case CLEAVE_OK: return "success";
#define XX(name, num, msg)                                                                                           \
  case CLEAVE_E##name: return msg;
    CLEAVE_ERRNO_MAP(XX)
#undef XX
  default: return "unknown error";
  }
}

const char *cleave_err_name(int err) {
  switch (err) {
  case CLEAVE_OK: return "OK";
#define XX(name, num, msg)                                                                                           \
  case CLEAVE_E##name: return #name;
    CLEAVE_ERRNO_MAP(XX)
#undef XX
  default: return "UNKNOWN";
  }
}

const char *cleave_version(void) { return "0.1.0"; }

/* The calling thread's bound error buffer (cl_err_bind), and its bound worker pool (cl_thread_bind_pool). */
static _Thread_local char *bound_err;
static _Thread_local size_t bound_err_len;
static _Thread_local void *bound_pool;

void cl_err_bind(char *buf, size_t len) {
  bound_err = buf && len ? buf : NULL;
  bound_err_len = bound_err ? len : 0;
  if (bound_err) bound_err[0] = '\0';
}

int cl_verr(cleave_ctx *ctx, int code, const char *fmt, va_list ap) {
  if (bound_err) {
    vsnprintf(bound_err, bound_err_len, fmt, ap);
  } else if (ctx) {
    pthread_mutex_lock(&ctx->mu);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    pthread_mutex_unlock(&ctx->mu);
  }
  return code;
}

int cl_err(cleave_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cl_verr(ctx, code, fmt, ap);
  va_end(ap);
  if (ctx) cl_log(ctx, CLEAVE_LOG_DEBUG, "%s: %s", cleave_err_name(code), cleave_ctx_last_error(ctx));
  return code;
}

void cl_log(cleave_ctx *ctx, cleave_log_level level, const char *fmt, ...) {
  if (!ctx || !ctx->log_fn || level > ctx->log_level) return;
  char buf[CL_ERRMSG_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ctx->log_fn(ctx->log_user, level, buf);
}

double cl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- allocation ---- */

int cl_mul_size(size_t a, size_t b, size_t *out) {
  if (b && a > SIZE_MAX / b) return -1;
  *out = a * b;
  return 0;
}

int cl_mul_i64(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return -1;
  if (b && a > INT64_MAX / b) return -1;
  *out = a * b;
  return 0;
}

void *cl_malloc(cleave_ctx *ctx, size_t size) { return ctx->alloc.allocate(ctx->alloc.context, size); }

void *cl_calloc(cleave_ctx *ctx, size_t n, size_t size) {
  size_t total;
  if (cl_mul_size(n, size, &total)) return NULL;
  void *p = cl_malloc(ctx, total);
  if (p) memset(p, 0, total);
  return p;
}

void *cl_realloc(cleave_ctx *ctx, void *p, size_t size) { return ctx->alloc.reallocate(ctx->alloc.context, p, size); }

void cl_free(cleave_ctx *ctx, void *p) {
  if (p) ctx->alloc.deallocate(ctx->alloc.context, p);
}

void *cl_aligned_alloc(cleave_ctx *ctx, size_t alignment, size_t size) {
  return ctx->alloc.aligned_allocate(ctx->alloc.context, alignment, size);
}

void cl_aligned_free(cleave_ctx *ctx, void *p) {
  if (p) ctx->alloc.aligned_deallocate(ctx->alloc.context, p);
}

int *cl_dup_ints(cleave_ctx *ctx, const int *src, int n) {
  int *d = cl_malloc(ctx, sizeof(int) * (size_t)(n > 0 ? n : 1));
  if (d && n > 0) memcpy(d, src, sizeof(int) * (size_t)n);
  return d;
}

char *cl_strdup(cleave_ctx *ctx, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = cl_malloc(ctx, n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- options ---- */

int cleave_options_new(cleave_options **out) {
  if (!out) return CLEAVE_EINVAL;
  cleave_options *o = calloc(1, sizeof *o);
  *out = o;
  if (!o) return CLEAVE_ENOMEM;
  o->alloc = cl_default_allocator;
  o->log_level = CLEAVE_LOG_WARN;
  return 0;
}

void cleave_options_free(cleave_options *opt) { free(opt); }

int cleave_options_set_allocator(cleave_options *opt, const cleave_allocator *a) {
  if (!opt || !a || !a->allocate || !a->reallocate || !a->deallocate || !a->aligned_allocate ||
      !a->aligned_deallocate)
    return CLEAVE_EINVAL;
  opt->alloc = *a;
  return 0;
}

void cleave_options_set_log(cleave_options *opt, cleave_log_fn fn, void *user, cleave_log_level max_level) {
  if (!opt) return;
  opt->log_fn = fn;
  opt->log_user = user;
  opt->log_level = max_level;
}

int cleave_options_set_threads(cleave_options *opt, int n) {
  if (!opt || n < 0) return CLEAVE_EINVAL;
  opt->threads = n;
  return 0;
}

/* ---- context ---- */

int cl_ctx_init(cleave_ctx *ctx, struct uv_loop_s *loop, const cleave_options *opt) {
  ctx->alloc = opt ? opt->alloc : cl_default_allocator;
  ctx->loop = loop;
  ctx->log_level = CLEAVE_LOG_WARN;
  if (opt) {
    ctx->log_fn = opt->log_fn;
    ctx->log_user = opt->log_user;
    ctx->log_level = opt->log_level;
    ctx->threads = opt->threads;
  }
  if (ctx->threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    ctx->threads = n > 0 ? (int)n : 1;
  }
  return pthread_mutex_init(&ctx->mu, NULL) ? CLEAVE_ENOMEM : 0;
}

void cl_ctx_fini(cleave_ctx *ctx) {
  if (ctx->threadpool) pthreadpool_destroy(ctx->threadpool);
  ctx->threadpool = NULL;
  if (ctx->own_loop) {
    /* handles closed by their owners finish closing here */
    uv_run(ctx->own_loop, UV_RUN_DEFAULT);
    uv_loop_close(ctx->own_loop);
    cl_free(ctx, ctx->own_loop);
    ctx->own_loop = NULL;
    ctx->loop = NULL;
  }
  pthread_mutex_destroy(&ctx->mu);
}

void cl_thread_bind_pool(void *pool) { bound_pool = pool; }

void *cl_ctx_threadpool(cleave_ctx *ctx) {
  if (bound_pool) return bound_pool;
  pthread_mutex_lock(&ctx->mu);
  if (!ctx->threadpool) ctx->threadpool = pthreadpool_create((size_t)ctx->threads);
  void *tp = ctx->threadpool;
  pthread_mutex_unlock(&ctx->mu);
  return tp;
}

struct uv_loop_s *cl_ctx_loop(cleave_ctx *ctx) {
  pthread_mutex_lock(&ctx->mu);
  if (!ctx->loop) {
    uv_loop_t *l = cl_malloc(ctx, sizeof *l);
    if (l && uv_loop_init(l) == 0) {
      ctx->own_loop = ctx->loop = l;
    } else {
      cl_free(ctx, l);
    }
  }
  struct uv_loop_s *loop = ctx->loop;
  pthread_mutex_unlock(&ctx->mu);
  return loop;
}

const char *cleave_ctx_last_error(const cleave_ctx *ctx) {
  if (bound_err) return bound_err;
  return ctx ? ctx->errmsg : "";
}
