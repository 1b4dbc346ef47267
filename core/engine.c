/* core: the engine's devices: one executor thread per local device of the context, with the device's state made
 * on that thread, so that each device runs one segment at a time, in order, whoever queued it. */
#include "core/engine.h"

#include <string.h>

#include "partitioner/calibrate.h"

/* How long measuring a device without a profile may take (once per device, thread count and host: cached). */
#define CALIBRATE_MS 1200
/* Jobs a device may have waiting: far more than runs in flight ever queue (each session bounds its own). */
#define DEVICE_QUEUE (1 << 20)

struct cl_engine *cl_engine_get(cleave_ctx *ctx) {
  if (!ctx->engine) {
    struct cl_engine *e = cl_calloc(ctx, 1, sizeof *e);
    if (!e) return NULL;
    e->ctx = ctx;
    cl_correction_init(&e->corr, ctx);
    ctx->engine = e;
  }
  return ctx->engine;
}

static int worker_init(void *user, void **state) {
  cl_engine_device *d = user;
  return d->dev->create(d->ctx, state);
}

static void worker_fini(void *user, void *state) {
  cl_engine_device *d = user;
  d->dev->destroy(state);
}

static void run(void *user, void *state, cl_job **jobs, int n) {
  cl_engine_device *d = user;
  for (int i = 0; i < n; i++) {
    cl_engine_job *j = (cl_engine_job *)jobs[i];
    j->work(j, d->dev, state);
  }
}

int cl_engine_device_index(cleave_ctx *ctx, const char *name) {
  const cl_device_iface *dev = cl_device_find(name);
  if (!dev || dev->kind == CL_DEV_EDGE) return cl_err(ctx, CLEAVE_ENODEVICE, "no local device named '%s'", name);
  struct cl_engine *e = cl_engine_get(ctx);
  if (!e) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < e->n_dev; i++)
    if (e->dev[i].dev == dev) return i;
  if (e->n_dev == CL_ENGINE_MAX_DEVICES) return cl_err(ctx, CLEAVE_ELIMIT, "too many devices");
  uv_loop_t *loop = cl_ctx_loop(ctx);
  if (!loop) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  cl_engine_device *d = &e->dev[e->n_dev];
  memset(d, 0, sizeof *d);
  d->ctx = ctx;
  d->dev = dev;
  cl_executor_config cfg = {.name = dev->name,
                            .threads = 1,
                            .queue_length = DEVICE_QUEUE,
                            .max_batch = 1,
                            .worker_init = worker_init,
                            .worker_fini = worker_fini,
                            .run = run,
                            .user = d};
  int rc = cl_executor_new(ctx, loop, &cfg, &d->x);
  if (rc) return rc;
  return e->n_dev++;
}

/* Measuring runs on the device's own thread, like every other use of it, while the caller waits. */
typedef struct calib_job {
  cl_engine_job j;
  cleave_ctx *ctx;
  cl_profile profile;
  uv_mutex_t mu;
  uv_cond_t cv;
  bool finished;
  int rc;
  char err[CL_ERRMSG_MAX];
} calib_job;

static void calib_work(cl_engine_job *jb, const cl_device_iface *dev, void *state) {
  calib_job *c = (calib_job *)jb;
  (void)state;
  int rc = cl_calibrate_cached(c->ctx, dev->name, CALIBRATE_MS, &c->profile, NULL, 0);
  uv_mutex_lock(&c->mu);
  c->rc = rc;
  if (rc) snprintf(c->err, sizeof c->err, "%s", cleave_ctx_last_error(c->ctx));
  c->finished = true;
  uv_cond_signal(&c->cv);
  uv_mutex_unlock(&c->mu);
}

static void calib_done(cl_job *jb) {
  calib_job *c = (calib_job *)jb;
  uv_cond_destroy(&c->cv);
  uv_mutex_destroy(&c->mu);
  cl_free(c->ctx, c);
}

int cl_engine_device_profile(cleave_ctx *ctx, int i, const cl_profile **out) {
  struct cl_engine *e = ctx->engine;
  cl_engine_device *d = &e->dev[i];
  if (d->measured) {
    *out = &d->profile;
    return 0;
  }
  calib_job *c = cl_calloc(ctx, 1, sizeof *c);
  if (!c) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  c->ctx = ctx;
  c->j.work = calib_work;
  c->j.job.done = calib_done;
  if (uv_mutex_init(&c->mu)) {
    cl_free(ctx, c);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  if (uv_cond_init(&c->cv)) {
    uv_mutex_destroy(&c->mu);
    cl_free(ctx, c);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  if (cl_executor_submit(d->x, &c->j.job)) {
    calib_done(&c->j.job);
    return cl_err(ctx, CLEAVE_EBUSY, "device '%s' is too busy to be measured", d->dev->name);
  }
  uv_mutex_lock(&c->mu);
  while (!c->finished)
    uv_cond_wait(&c->cv, &c->mu);
  int rc = c->rc;
  if (rc) {
    cl_err(ctx, rc, "measuring device '%s' for its profile: %s", d->dev->name, c->err);
  } else {
    d->profile = c->profile;
    d->measured = true;
    *out = &d->profile;
  }
  uv_mutex_unlock(&c->mu);
  /* c is freed by calib_done, on the loop, once the executor hands it back */
  return rc;
}

int cl_engine_submit(cleave_ctx *ctx, int i, cl_engine_job *j) {
  return cl_executor_submit(ctx->engine->dev[i].x, &j->job);
}

void cl_engine_cancel_wait(cleave_ctx *ctx, int i, cl_engine_job *j) {
  cl_executor *x = ctx->engine->dev[i].x;
  if (!cl_executor_cancel(x, &j->job)) cl_executor_wait(x, &j->job);
}

void cl_engine_flush(cleave_ctx *ctx) {
  struct cl_engine *e = ctx->engine;
  for (int i = 0; e && i < e->n_dev; i++)
    cl_executor_flush(e->dev[i].x);
}

void cl_engine_free(cleave_ctx *ctx) {
  struct cl_engine *e = ctx->engine;
  if (!e) return;
  for (int i = 0; i < e->n_dev; i++)
    cl_executor_close(e->dev[i].x, false, NULL, NULL);
  cl_free(ctx, e);
  ctx->engine = NULL;
}
