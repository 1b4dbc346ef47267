/* local: executors: worker threads behind one bounded queue, with batching, completing through uv_async. */
#include "local/executor.h"

#include <pthreadpool.h>
#include <stdio.h>
#include <string.h>

typedef struct worker {
  cl_executor *x;
  uv_thread_t th;
  bool started;
  void *state;
  void *pool;
  char err[CL_ERRMSG_MAX];
} worker;

struct cl_executor {
  cleave_ctx *ctx;
  cleave_allocator alloc; /* a copy: the executor may be freed after its context, when its handle closes */
  cl_executor_config cfg;
  uv_async_t async;
  uv_mutex_t mu;
  uv_cond_t cv;
  cl_job *head, *tail;      /* waiting */
  cl_job *done, *done_tail; /* finished, for the loop, in the order they finished */
  int queued, running;
  bool stop, drain;
  double ewma_ms;   /* service time per job */
  long outstanding; /* submitted and not yet delivered (loop thread): the handle keeps the loop alive only then */
  worker *w;
  int n_w;
  int init_rc; /* the first worker_init error */
  int n_init;  /* workers past worker_init */
  void (*closed)(void *);
  void *closed_arg;
};

static void push_done(cl_executor *x, cl_job *j) {
  j->next = NULL;
  if (x->done_tail)
    x->done_tail->next = j;
  else
    x->done = j;
  x->done_tail = j;
}

static cl_job *take_done(cl_executor *x) {
  uv_mutex_lock(&x->mu);
  cl_job *d = x->done;
  x->done = x->done_tail = NULL;
  uv_mutex_unlock(&x->mu);
  return d;
}

static void deliver(cl_executor *x, cl_job *d) {
  for (cl_job *n; d; d = n) {
    n = d->next;
    d->next = NULL;
    if (--x->outstanding == 0) uv_unref((uv_handle_t *)&x->async);
    d->done(d);
  }
}

static void on_async(uv_async_t *a) {
  cl_executor *x = a->data;
  deliver(x, take_done(x));
}

/* Moves waiting jobs that batch with batch[0] into batch. Called with the lock held. */
static void gather(cl_executor *x, cl_job **batch, int *n, int max) {
  cl_job **link = &x->head, *prev = NULL;
  while (*link && *n < max) {
    cl_job *j = *link;
    if (x->cfg.batches_with(batch[0], j)) {
      *link = j->next;
      if (x->tail == j) x->tail = prev;
      x->queued--;
      batch[(*n)++] = j;
    } else {
      prev = j;
      link = &j->next;
    }
  }
}

#define MAX_BATCH 64

static void worker_main(void *arg) {
  worker *w = arg;
  cl_executor *x = w->x;
  const cl_executor_config *cfg = &x->cfg;
  if (cfg->pool_threads > 0) {
    w->pool = pthreadpool_create((size_t)cfg->pool_threads);
    cl_thread_bind_pool(w->pool);
  }
  int rc = cfg->worker_init ? cfg->worker_init(cfg->user, &w->state) : 0;
  uv_mutex_lock(&x->mu);
  if (rc && !x->init_rc) x->init_rc = rc;
  x->n_init++;
  uv_cond_broadcast(&x->cv);
  int max = cfg->max_batch < MAX_BATCH ? cfg->max_batch : MAX_BATCH;
  cl_job *batch[MAX_BATCH];
  for (;;) {
    while (!x->head && !x->stop)
      uv_cond_wait(&x->cv, &x->mu);
    if (!x->head || (x->stop && !x->drain) || rc) break;
    cl_job *j = x->head;
    x->head = j->next;
    if (!x->head) x->tail = NULL;
    x->queued--;
    int n = 1;
    batch[0] = j;
    j->running = true;
    if (cfg->batches_with && max > 1) {
      double deadline = j->t_queued + cfg->batch_window_ms;
      for (;;) {
        gather(x, batch, &n, max);
        double now = cl_now_ms();
        /* an idle executor runs at once: waiting for company only pays while the others are busy */
        if (n == max || now >= deadline || x->stop || x->running == 0 || cfg->batch_window_ms <= 0) break;
        uv_cond_timedwait(&x->cv, &x->mu, (uint64_t)((deadline - now) * 1e6) + 1);
      }
      for (int k = 1; k < n; k++)
        batch[k]->running = true;
    }
    x->running += n;
    uv_mutex_unlock(&x->mu);
    double t0 = cl_now_ms();
    for (int k = 0; k < n; k++)
      batch[k]->t_start = t0;
    cl_err_bind(w->err, sizeof w->err);
    cfg->run(cfg->user, w->state, batch, n);
    cl_err_bind(NULL, 0);
    double t1 = cl_now_ms();
    uv_mutex_lock(&x->mu);
    x->running -= n;
    double per = (t1 - t0) / n;
    x->ewma_ms = x->ewma_ms > 0 ? 0.8 * x->ewma_ms + 0.2 * per : per;
    for (int k = 0; k < n; k++) {
      batch[k]->t_end = t1;
      batch[k]->running = false;
      push_done(x, batch[k]);
    }
    uv_cond_broadcast(&x->cv); /* for cl_executor_wait */
    uv_async_send(&x->async);
  }
  uv_mutex_unlock(&x->mu);
  if (cfg->worker_fini && !rc) cfg->worker_fini(cfg->user, w->state);
  cl_thread_bind_pool(NULL);
  if (w->pool) pthreadpool_destroy(w->pool);
}

static void join_workers(cl_executor *x, bool drain) {
  uv_mutex_lock(&x->mu);
  x->stop = true;
  x->drain = drain;
  uv_cond_broadcast(&x->cv);
  uv_mutex_unlock(&x->mu);
  for (int i = 0; i < x->n_w; i++)
    if (x->w[i].started) uv_thread_join(&x->w[i].th);
  x->n_w = 0;
  /* what nobody ran completes as canceled */
  for (cl_job *j = x->head, *n; j; j = n) {
    n = j->next;
    j->status = CLEAVE_ECANCELED;
    push_done(x, j);
  }
  x->head = x->tail = NULL;
  x->queued = 0;
}

static void destroy(cl_executor *x) {
  cleave_allocator a = x->alloc;
  uv_cond_destroy(&x->cv);
  uv_mutex_destroy(&x->mu);
  a.deallocate(a.context, x->w);
  a.deallocate(a.context, x);
}

static void on_closed(uv_handle_t *h) {
  cl_executor *x = h->data;
  deliver(x, take_done(x));
  void (*closed)(void *) = x->closed;
  void *arg = x->closed_arg;
  destroy(x);
  if (closed) closed(arg);
}

int cl_executor_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_executor_config *cfg, cl_executor **out) {
  *out = NULL;
  if (!cfg->run || cfg->threads < 1 || cfg->max_batch < 1 || cfg->queue_length < 0)
    return cl_err(ctx, CLEAVE_EINVAL, "executor %s: a run function, threads and a batch size are needed",
                  cfg->name ? cfg->name : "");
  cl_executor *x = cl_calloc(ctx, 1, sizeof *x);
  if (!x) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  x->ctx = ctx;
  x->alloc = ctx->alloc;
  x->cfg = *cfg;
  if (!(x->w = cl_calloc(ctx, (size_t)cfg->threads, sizeof *x->w)) || uv_mutex_init(&x->mu)) {
    cl_free(ctx, x->w);
    cl_free(ctx, x);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  if (uv_cond_init(&x->cv)) {
    uv_mutex_destroy(&x->mu);
    cl_free(ctx, x->w);
    cl_free(ctx, x);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  int rc = uv_async_init(loop, &x->async, on_async);
  if (rc) {
    destroy(x);
    return cl_err(ctx, CLEAVE_ENOMEM, "executor %s: uv_async_init: %s", cfg->name, uv_strerror(rc));
  }
  x->async.data = x;
  uv_unref((uv_handle_t *)&x->async);
  for (int i = 0; i < cfg->threads; i++) {
    worker *w = &x->w[i];
    w->x = x;
    if (uv_thread_create(&w->th, worker_main, w)) {
      rc = cl_err(ctx, CLEAVE_ENOMEM, "executor %s: cannot start a thread", cfg->name);
      break;
    }
    w->started = true;
    x->n_w++;
  }
  /* a worker whose init failed says so before any job is taken */
  uv_mutex_lock(&x->mu);
  while (!rc && x->n_init < x->n_w)
    uv_cond_wait(&x->cv, &x->mu);
  if (!rc && x->init_rc) rc = x->init_rc;
  uv_mutex_unlock(&x->mu);
  if (rc) {
    join_workers(x, false);
    x->closed = NULL;
    uv_close((uv_handle_t *)&x->async, on_closed);
    return rc;
  }
  *out = x;
  return 0;
}

int cl_executor_submit(cl_executor *x, cl_job *job) {
  uv_mutex_lock(&x->mu);
  if (x->stop || x->queued >= x->cfg.queue_length + x->n_w - x->running) {
    uv_mutex_unlock(&x->mu);
    return CLEAVE_EBUSY;
  }
  job->t_queued = cl_now_ms();
  job->t_start = job->t_end = 0;
  job->status = 0;
  job->cancel = job->running = false;
  job->next = NULL;
  if (x->tail)
    x->tail->next = job;
  else
    x->head = job;
  x->tail = job;
  x->queued++;
  uv_cond_broadcast(&x->cv);
  uv_mutex_unlock(&x->mu);
  if (x->outstanding++ == 0) uv_ref((uv_handle_t *)&x->async);
  return 0;
}

bool cl_executor_cancel(cl_executor *x, cl_job *job) {
  bool waiting = false;
  uv_mutex_lock(&x->mu);
  if (job->running) {
    job->cancel = true;
  } else {
    cl_job **link = &x->head, *prev = NULL;
    for (; *link; prev = *link, link = &(*link)->next)
      if (*link == job) {
        *link = job->next;
        if (x->tail == job) x->tail = prev;
        x->queued--;
        job->status = CLEAVE_ECANCELED;
        push_done(x, job);
        waiting = true;
        break;
      }
  }
  uv_mutex_unlock(&x->mu);
  if (waiting) uv_async_send(&x->async);
  return waiting;
}

void cl_executor_wait(cl_executor *x, cl_job *job) {
  uv_mutex_lock(&x->mu);
  while (job->running)
    uv_cond_wait(&x->cv, &x->mu);
  uv_mutex_unlock(&x->mu);
}

void cl_executor_flush(cl_executor *x) { deliver(x, take_done(x)); }

void cl_executor_load(cl_executor *x, int *queued, int *running, double *wait_ms) {
  uv_mutex_lock(&x->mu);
  *queued = x->queued;
  *running = x->running;
  int n = x->cfg.threads;
  *wait_ms = x->ewma_ms * (double)(x->queued + x->running) / (double)n;
  uv_mutex_unlock(&x->mu);
}

double cl_executor_service_ms(cl_executor *x) {
  uv_mutex_lock(&x->mu);
  double ms = x->ewma_ms;
  uv_mutex_unlock(&x->mu);
  return ms;
}

void cl_executor_close(cl_executor *x, bool drain, void (*closed)(void *), void *arg) {
  if (!x) return;
  join_workers(x, drain);
  deliver(x, take_done(x)); /* now, while whatever the jobs point to is still there */
  x->closed = closed;
  x->closed_arg = arg;
  uv_close((uv_handle_t *)&x->async, on_closed);
}
