/* core: the context, allocation through the context's hooks, errors and logging (private). */
#ifndef CLEAVE_CORE_CTX_H
#define CLEAVE_CORE_CTX_H

#include <stdarg.h>
#include <stddef.h>

#include "cleave.h"
#include "policies/settings.h"

#define CL_ERRMSG_MAX 1024

struct cleave_options {
  cleave_allocator alloc;
  cleave_log_fn log_fn;
  void *log_user;
  cleave_log_level log_level;
  int threads;
};

struct cleave_ctx {
  cleave_allocator alloc;
  cleave_log_fn log_fn;
  void *log_user;
  cleave_log_level log_level;
  int threads;
  void *threadpool; /* pthreadpool_t, created on first use by a CPU backend */
  struct uv_loop_s *loop;
  cl_policy_settings policy; /* signals pushed by the host, mode, custom policy (policies/) */
  char errmsg[CL_ERRMSG_MAX];
};

/* The context's worker pool (ctx->threads threads, the caller's included), created on first call; NULL when it
 * cannot be created, and CPU backends then run on the calling thread. Not thread-safe: call from the thread
 * that drives the context. */
void *cl_ctx_threadpool(cleave_ctx *ctx);

/* The system allocator (malloc/realloc/free/aligned_alloc). */
extern const cleave_allocator cl_default_allocator;

void *cl_malloc(cleave_ctx *ctx, size_t size);
void *cl_calloc(cleave_ctx *ctx, size_t n, size_t size); /* NULL on overflow too */
void *cl_realloc(cleave_ctx *ctx, void *p, size_t size);
void cl_free(cleave_ctx *ctx, void *p);
void *cl_aligned_alloc(cleave_ctx *ctx, size_t alignment, size_t size);
void cl_aligned_free(cleave_ctx *ctx, void *p);
char *cl_strdup(cleave_ctx *ctx, const char *s);
/* A copy of n ints (at least one slot is allocated, so n == 0 gives a valid pointer); NULL when out of memory. */
int *cl_dup_ints(cleave_ctx *ctx, const int *src, int n);

/* Records "message" as ctx's last error and returns code (a negative CLEAVE_E*). ctx may be NULL. */
int cl_err(cleave_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cl_verr(cleave_ctx *ctx, int code, const char *fmt, va_list ap);

void cl_log(cleave_ctx *ctx, cleave_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic clock in milliseconds. */
double cl_now_ms(void);

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
int cl_mul_size(size_t a, size_t b, size_t *out);
int cl_mul_i64(int64_t a, int64_t b, int64_t *out);

#endif
