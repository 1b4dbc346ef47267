/* core/ir: the context's ground part: allocation through the context's hooks, errors, logging, the worker pool and
 * the loop (private).
 *
 * The ground layer knows the context only as this struct. The layers above hang their own state on it through the
 * pointers at the end (policy settings, the engine); the top layer (core/ctx.c) creates and frees them, and wires
 * in how constant folding evaluates a node.
 *
 * Threads. A context is driven by one thread, the loop's (or, without a loop, the thread that calls it), while
 * the library's own worker threads (device executors, the gateway's executors) use it too. What they share is
 * guarded here: allocation goes through hooks that must be thread-safe (the system allocator is); the worker pool
 * and the own loop are created under the context's mutex; and errors go to the calling thread's own buffer when
 * it has bound one (cl_err_bind(): every job on a worker thread does), so that a worker never writes the driving
 * thread's last-error message. */
#ifndef CLEAVE_CORE_IR_CTX_H
#define CLEAVE_CORE_IR_CTX_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleave.h"

#define CL_ERRMSG_MAX 1024

struct cleave_options {
  cleave_allocator alloc;
  cleave_log_fn log_fn;
  void *log_user;
  cleave_log_level log_level;
  int threads;
};

struct cl_graph;
struct cl_node;
struct cl_tensor;

/* How a node is evaluated on constant inputs (constant folding at load): the reference kernels, wired in by the
 * context's creator. supports() says whether eval() can run n; eval() infers n's outputs from concrete inputs,
 * allocates them and runs the node (outputs released on error). */
typedef struct cl_node_eval {
  int (*supports)(const struct cl_graph *g, const struct cl_node *n, char *why, size_t why_len);
  int (*eval)(cleave_ctx *ctx, int opset, const struct cl_node *n, const struct cl_tensor *const *in, int n_in,
              struct cl_tensor *out, int n_out);
} cl_node_eval;

struct uv_loop_s;
struct cl_policy_settings; /* policies/settings.h */
struct cl_engine;          /* core/engine.h */

struct cleave_ctx {
  cleave_allocator alloc;
  cleave_log_fn log_fn;
  void *log_user;
  cleave_log_level log_level;
  int threads;
  struct uv_loop_s *loop;            /* the host's loop, or the own one once created (cl_ctx_loop) */
  struct uv_loop_s *own_loop;        /* created by cl_ctx_loop when the host gave none */
  const cl_node_eval *fold;          /* NULL: no constant folding */
  struct cl_policy_settings *policy; /* signals pushed by the host, mode, custom policy, profiles */
  struct cl_engine *engine;          /* executors and engine state, created on first use by core/ */
  pthread_mutex_t mu;                /* guards threadpool, own_loop and errmsg writes */
  void *threadpool;                  /* pthreadpool_t, created on first use by a CPU backend */
  char errmsg[CL_ERRMSG_MAX];
};

/* Initialises the ground part of a context allocated by the caller (zeroed) from opt (NULL: defaults) and loop.
 * Returns 0 or CLEAVE_ENOMEM. */
int cl_ctx_init(cleave_ctx *ctx, struct uv_loop_s *loop, const cleave_options *opt);
/* Releases what cl_ctx_init and later calls made: the worker pool, and the own loop after running it until every
 * handle on it has closed (whoever put handles there must have closed them). Does not free ctx. */
void cl_ctx_fini(cleave_ctx *ctx);

/* The context's worker pool (ctx->threads threads, the caller's included), created on first call; the pool the
 * calling thread bound with cl_thread_bind_pool() instead, if any. NULL when it cannot be created, and CPU
 * backends then run on the calling thread. Any thread. */
void *cl_ctx_threadpool(cleave_ctx *ctx);
/* Makes pool (a pthreadpool_t, or NULL to unbind) the calling thread's pool for cl_ctx_threadpool(). */
void cl_thread_bind_pool(void *pool);

/* The loop asynchronous work runs on: the host's, else one the context owns, created on first call (NULL when out
 * of memory). An own loop only turns while a synchronous call drives it. Any thread; the loop itself belongs to
 * the driving thread. */
struct uv_loop_s *cl_ctx_loop(cleave_ctx *ctx);

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

/* Records "message" as the calling thread's last error on ctx (see cl_err_bind) and returns code (a negative
 * CLEAVE_E*). ctx may be NULL. */
int cl_err(cleave_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cl_verr(cleave_ctx *ctx, int code, const char *fmt, va_list ap);
/* Sends the calling thread's errors to buf (len bytes, kept NUL-terminated) instead of the context's buffer, until
 * cl_err_bind(NULL, 0). cleave_ctx_last_error() on this thread then returns buf. Worker threads bind each job's own
 * message buffer, so that completions never share an error buffer. */
void cl_err_bind(char *buf, size_t len);

void cl_log(cleave_ctx *ctx, cleave_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic clock in milliseconds. */
double cl_now_ms(void);

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
int cl_mul_size(size_t a, size_t b, size_t *out);
int cl_mul_i64(int64_t a, int64_t b, int64_t *out);

#endif
