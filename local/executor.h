/* local: executors, worker threads behind one bounded queue, completing on a libuv loop (private).
 *
 * The one way work leaves the loop thread: the engine has an executor per local device (one thread, so that a
 * device runs one segment at a time in the order they came) and the gateway one for its backend (several threads,
 * with dynamic batching). A job is queued on the loop thread, runs on a worker, and its done() callback runs back
 * on the loop thread, posted with uv_async, in the order jobs finished. Every queued job's done() runs exactly
 * once: after its run, or with status CLEAVE_ECANCELED when it was canceled while waiting or the executor closed
 * before it ran.
 *
 * Batching: when the config has batches_with, a worker that takes a job also takes the waiting jobs that batch with
 * it (up to max_batch), and waits up to batch_window_ms for company while another worker is busy (an idle executor
 * runs at once).
 *
 * The executor's handle keeps its loop alive only while it has jobs that are not yet delivered.
 *
 * Errors: while run() executes, the worker's errors go to a buffer of its own (cl_err_bind), which
 * cleave_ctx_last_error() returns on that thread; run() copies what it needs into its jobs.
 *
 * Threads: cl_executor_new, _submit, _cancel, _wait, _flush, _close and done() are on the loop thread; _load on
 * any thread. The executor keeps a copy of the context's allocator, so its handle may finish closing after the
 * context is gone. */
#ifndef CLEAVE_LOCAL_EXECUTOR_H
#define CLEAVE_LOCAL_EXECUTOR_H

#include <stdbool.h>
#include <uv.h>

#include "core/ir/ctx.h"

typedef struct cl_job cl_job;

struct cl_job {
  cl_job *next;                    /* the executor's */
  void (*done)(cl_job *job);       /* on the loop thread, once */
  double t_queued, t_start, t_end; /* cl_now_ms() when queued, and around its run (0 if it never ran) */
  int status;                      /* run() sets it; CLEAVE_ECANCELED if it never ran */
  bool running;                    /* the executor's: a worker holds it */
  bool cancel;                     /* set by cl_executor_cancel on a running job: run() may look, nothing more */
};

typedef struct cl_executor_config {
  const char *name;       /* for messages and the threads' names ("cpu", "gateway") */
  int threads;            /* workers, >= 1 */
  int pool_threads;       /* > 0: each worker owns a pthreadpool of this many threads, bound to it for CPU
                             backends (cl_thread_bind_pool); 0: the context's pool */
  int queue_length;       /* jobs waiting beyond those running; a submit beyond gets CLEAVE_EBUSY */
  int max_batch;          /* jobs per run, >= 1 */
  double batch_window_ms; /* how long a worker waits for company, only while another worker is busy */
  /* whether b may run in the same run as a; NULL: no batching */
  bool (*batches_with)(const cl_job *a, const cl_job *b);
  /* Per-worker state: made on the worker's thread before its first job, released there after its last. */
  int (*worker_init)(void *user, void **state);
  void (*worker_fini)(void *user, void *state);
  /* Runs n jobs (n > 1 only when batching) on a worker thread and sets their status. */
  void (*run)(void *user, void *state, cl_job **jobs, int n);
  void *user;
} cl_executor_config;

typedef struct cl_executor cl_executor;

/* Starts cfg->threads workers; done() callbacks run on loop. Errors: CLEAVE_EINVAL, CLEAVE_ENOMEM (threads,
 * pools), or a worker_init's error. */
int cl_executor_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_executor_config *cfg, cl_executor **out);
/* Queues job (its done set), or returns CLEAVE_EBUSY when the queue is full (done then never runs). */
int cl_executor_submit(cl_executor *x, cl_job *job);
/* A waiting job is taken out and completes with CLEAVE_ECANCELED (its done runs later, on the loop); a running one
 * is flagged (job->cancel) and completes as its run decides. Returns true if it was still waiting. */
bool cl_executor_cancel(cl_executor *x, cl_job *job);
/* Blocks until job is not running (it may still be waiting: cancel it first). */
void cl_executor_wait(cl_executor *x, cl_job *job);
/* Runs the done() callbacks of every finished job now, on the calling (loop) thread. */
void cl_executor_flush(cl_executor *x);
/* Jobs waiting and running, and the expected wait of a new job in ms (the smoothed service time of a job times the
 * jobs ahead of it, spread over the workers). */
void cl_executor_load(cl_executor *x, int *queued, int *running, double *wait_ms);
/* Smoothed service time of one job in ms (0 before the first). */
double cl_executor_service_ms(cl_executor *x);
/* Stops the executor: drain true lets the workers finish every queued job, false cancels those still waiting.
 * Joins the workers (blocking while a job runs), delivers the remaining done() callbacks before it returns, closes
 * its handle and frees it; closed(arg), if not NULL, runs on the loop once that is over. */
void cl_executor_close(cl_executor *x, bool drain, void (*closed)(void *arg), void *arg);

#endif
