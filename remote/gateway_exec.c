/* remote: the gateway's executors: a bounded queue, dynamic batching, and one context per executor thread. */
#include <string.h>

#include "core/model.h"
#include "remote/gateway_impl.h"

#define MAX_SESSIONS 64 /* per executor; the least recently used goes first */

typedef struct w_model {
  cl_repo_entry *entry;
  cleave_model *model;
} w_model;

typedef struct w_session {
  gw_cut *cut;
  cleave_session *s;
  cleave_result *r;
  unsigned long long used;
} w_session;

typedef struct worker {
  gw_exec *x;
  uv_thread_t th;
  cleave_ctx *ctx;
  w_model *models;
  int n_models, cap_models;
  w_session sess[MAX_SESSIONS];
  int n_sess;
  unsigned long long tick;
  void *scratch[CL_OIP_MAX_TENSORS]; /* batched inputs */
  size_t scratch_cap[CL_OIP_MAX_TENSORS];
} worker;

struct gw_exec {
  cl_gateway *gw;
  uv_mutex_t mu;
  uv_cond_t cv;
  gw_job *head, *tail; /* waiting */
  gw_job *done;        /* finished, for the loop */
  int queued, running;
  bool stop;
  double ewma_ms; /* service time per request */
  worker *w;
  int n_w;
};

void gw_job_free(cleave_ctx *ctx, gw_job *job) {
  if (!job) return;
  cl_oip_message_release(ctx, &job->msg);
  cl_free(ctx, job->body);
  cl_free(ctx, job);
}

/* ---- sessions per executor ---- */

static cleave_model *worker_model(worker *w, cl_repo_entry *e) {
  for (int i = 0; i < w->n_models; i++)
    if (w->models[i].entry == e) return w->models[i].model;
  if (w->n_models == w->cap_models) {
    int cap = w->cap_models ? 2 * w->cap_models : 8;
    w_model *p = cl_realloc(w->ctx, w->models, sizeof *p * (size_t)cap);
    if (!p) return NULL;
    w->models = p;
    w->cap_models = cap;
  }
  cleave_model *m;
  if (cleave_model_load(w->ctx, e->path, &m)) return NULL;
  w->models[w->n_models++] = (w_model){e, m};
  return m;
}

static w_session *worker_session(worker *w, gw_cut *cut) {
  w->tick++;
  for (int i = 0; i < w->n_sess; i++)
    if (w->sess[i].cut == cut) {
      w->sess[i].used = w->tick;
      return &w->sess[i];
    }
  cleave_model *m = worker_model(w, cut->entry);
  if (!m) return NULL;
  const char *in[CL_OIP_MAX_TENSORS], *out[CL_OIP_MAX_TENSORS];
  int n_in = cleave_session_num_inputs(cut->meta), n_out = cleave_session_num_outputs(cut->meta);
  for (int i = 0; i < n_in; i++)
    in[i] = cleave_session_input(cut->meta, i)->name;
  for (int i = 0; i < n_out; i++)
    out[i] = cleave_session_output(cut->meta, i)->name;
  cleave_session_options *o = NULL;
  cleave_session *s = NULL;
  int rc = cleave_session_options_new(&o);
  if (!rc) rc = cleave_session_options_set_device(o, w->x->gw->cfg.backend);
  if (!rc) rc = cleave_session_options_set_inputs(o, in, n_in);
  if (!rc) rc = cleave_session_options_set_outputs(o, out, n_out);
  if (rc) cl_err(w->ctx, rc, "session options: %s", cleave_strerror(rc));
  if (!rc) rc = cleave_session_new(w->ctx, m, o, &s);
  cleave_session_options_free(o);
  if (rc) return NULL;
  w_session *slot;
  if (w->n_sess < MAX_SESSIONS) {
    slot = &w->sess[w->n_sess++];
  } else {
    slot = &w->sess[0];
    for (int i = 1; i < w->n_sess; i++)
      if (w->sess[i].used < slot->used) slot = &w->sess[i];
    cleave_result_free(slot->r);
    cleave_session_free(slot->s);
  }
  *slot = (w_session){.cut = cut, .s = s, .used = w->tick};
  return slot;
}

/* ---- running ---- */

static int status_of(int err) {
  switch (err) {
  case CLEAVE_EPARSE:
  case CLEAVE_EDTYPE:
  case CLEAVE_ESHAPE:
  case CLEAVE_EINVAL:
  case CLEAVE_EMISSING:
  case CLEAVE_ENOTFOUND:
  case CLEAVE_ERANGE: return 400;
  case CLEAVE_ELIMIT: return 413;
  case CLEAVE_EUNSUPPORTED: return 422;
  default: return 500;
  }
}

static void fail_job(gw_job *j, int err, const char *msg) {
  j->status = status_of(err);
  snprintf(j->error, sizeof j->error, "%s", msg);
}

static void answer(worker *w, gw_job *j, const cleave_tensor *outs, int n) {
  cl_oip_out o[CL_OIP_MAX_TENSORS];
  for (int i = 0; i < n; i++)
    o[i] = (cl_oip_out){&outs[i], j->out_binary[i]};
  cl_repo_entry *e = j->cut->entry;
  int rc =
      cl_oip_encode_response(w->ctx, e->name, e->version, j->msg.id, o, n, &j->body, &j->body_len, &j->header_len);
  if (rc)
    fail_job(j, rc, cleave_ctx_last_error(w->ctx));
  else
    j->status = 200;
}

/* Runs jobs (same cut; when more than one, inputs that differ only in the leading batch dimension) as one run. */
static void run_jobs(worker *w, gw_job **jobs, int nj) {
  gw_cut *cut = jobs[0]->cut;
  w_session *ws = worker_session(w, cut);
  if (!ws) {
    for (int k = 0; k < nj; k++)
      fail_job(jobs[k], CLEAVE_EBACKEND, cleave_ctx_last_error(w->ctx));
    return;
  }
  int n_in = cleave_session_num_inputs(cut->meta), n_out = cleave_session_num_outputs(cut->meta);
  cleave_tensor in[CL_OIP_MAX_TENSORS];
  int64_t rows = 0;
  for (int i = 0; i < n_in; i++) {
    in[i] = *jobs[0]->in[i];
    if (nj == 1) continue;
    size_t total = 0;
    for (int k = 0; k < nj; k++)
      total += jobs[k]->in[i]->nbytes;
    if (total > w->scratch_cap[i]) {
      void *p = cl_realloc(w->ctx, w->scratch[i], total);
      if (!p) {
        for (int k = 0; k < nj; k++)
          fail_job(jobs[k], CLEAVE_ENOMEM, "out of memory batching inputs");
        return;
      }
      w->scratch[i] = p;
      w->scratch_cap[i] = total;
    }
    size_t off = 0;
    in[i].dims[0] = 0;
    for (int k = 0; k < nj; k++) {
      memcpy((char *)w->scratch[i] + off, jobs[k]->in[i]->data, jobs[k]->in[i]->nbytes);
      off += jobs[k]->in[i]->nbytes;
      in[i].dims[0] += jobs[k]->in[i]->dims[0];
    }
    in[i].data = w->scratch[i];
    in[i].nbytes = total;
    rows = in[i].dims[0];
  }
  double t0 = cl_now_ms();
  int rc = cleave_run_into(ws->s, in, (size_t)n_in, &ws->r);
  double ms = cl_now_ms() - t0;
  for (int k = 0; k < nj; k++) {
    jobs[k]->t_run_ms = ms / nj;
    jobs[k]->batch = nj;
    jobs[k]->batch_lead = k == 0;
  }
  if (rc) {
    for (int k = 0; k < nj; k++)
      fail_job(jobs[k], rc, cleave_ctx_last_error(w->ctx));
    return;
  }
  cleave_tensor outs[CL_OIP_MAX_TENSORS];
  for (int i = 0; i < n_out; i++)
    outs[i] = *cleave_result_output(ws->r, i);
  if (nj == 1) {
    answer(w, jobs[0], outs, n_out);
    return;
  }
  for (int i = 0; i < n_out; i++)
    if (outs[i].ndim < 1 || outs[i].dims[0] != rows) {
      /* the model did not keep the batch dimension after all: run them one by one, and never batch this cut again */
      atomic_store(&cut->no_batch, true);
      for (int k = 0; k < nj; k++)
        run_jobs(w, &jobs[k], 1);
      return;
    }
  int64_t row0 = 0;
  for (int k = 0; k < nj; k++) {
    int64_t r = jobs[k]->in[0]->dims[0];
    cleave_tensor part[CL_OIP_MAX_TENSORS];
    for (int i = 0; i < n_out; i++) {
      size_t row_bytes = rows ? outs[i].nbytes / (size_t)rows : 0;
      part[i] = outs[i];
      part[i].dims[0] = r;
      part[i].data = (char *)outs[i].data + (size_t)row0 * row_bytes;
      part[i].nbytes = (size_t)r * row_bytes;
    }
    answer(w, jobs[k], part, n_out);
    row0 += r;
  }
}

/* Same cut, and inputs equal but for the leading dimension. */
static bool batches_with(const gw_job *a, const gw_job *b) {
  if (a->cut != b->cut) return false;
  int n = cleave_session_num_inputs(a->cut->meta);
  for (int i = 0; i < n; i++) {
    const cleave_tensor *x = a->in[i], *y = b->in[i];
    if (x->ndim != y->ndim) return false;
    for (int d = 1; d < x->ndim; d++)
      if (x->dims[d] != y->dims[d]) return false;
  }
  return true;
}

/* Moves waiting jobs that batch with batch[0] into batch. Called with the lock held. */
static void gather(gw_exec *x, gw_job **batch, int *n, int max) {
  gw_job **link = &x->head, *prev = NULL;
  while (*link && *n < max) {
    gw_job *j = *link;
    if (batches_with(batch[0], j)) {
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

static void worker_main(void *arg) {
  worker *w = arg;
  gw_exec *x = w->x;
  const cl_gateway_config *cfg = &x->gw->cfg;
  int max = cfg->max_batch < CL_OIP_MAX_TENSORS ? cfg->max_batch : CL_OIP_MAX_TENSORS;
  gw_job *batch[CL_OIP_MAX_TENSORS];
  uv_mutex_lock(&x->mu);
  for (;;) {
    while (!x->head && !x->stop)
      uv_cond_wait(&x->cv, &x->mu);
    if (!x->head) break; /* stopping, and nothing left */
    gw_job *j = x->head;
    x->head = j->next;
    if (!x->head) x->tail = NULL;
    x->queued--;
    int n = 1;
    batch[0] = j;
    if (cfg->batch_window_ms > 0 && max > 1 && j->cut->batchable && !atomic_load(&j->cut->no_batch)) {
      double deadline = j->t_queued + cfg->batch_window_ms;
      for (;;) {
        gather(x, batch, &n, max);
        double now = cl_now_ms();
        /* an idle gateway answers at once: waiting for company only pays when the executors are busy */
        if (n == max || now >= deadline || x->stop || x->running == 0) break;
        uv_cond_timedwait(&x->cv, &x->mu, (uint64_t)((deadline - now) * 1e6) + 1);
      }
    }
    x->running += n;
    uv_mutex_unlock(&x->mu);
    run_jobs(w, batch, n);
    uv_mutex_lock(&x->mu);
    x->running -= n;
    for (int k = 0; k < n; k++) {
      double ms = batch[k]->t_run_ms;
      x->ewma_ms = x->ewma_ms > 0 ? 0.8 * x->ewma_ms + 0.2 * ms : ms;
      batch[k]->next = x->done;
      x->done = batch[k];
    }
    uv_async_send(&x->gw->done_async);
  }
  uv_mutex_unlock(&x->mu);
}

/* ---- the queue ---- */

int gw_exec_submit(gw_exec *x, gw_job *job) {
  uv_mutex_lock(&x->mu);
  if (x->queued >= x->gw->cfg.queue_length + x->n_w - x->running) {
    uv_mutex_unlock(&x->mu);
    return CLEAVE_EBUSY;
  }
  job->t_queued = cl_now_ms();
  job->next = NULL;
  if (x->tail)
    x->tail->next = job;
  else
    x->head = job;
  x->tail = job;
  x->queued++;
  uv_cond_broadcast(&x->cv);
  uv_mutex_unlock(&x->mu);
  return 0;
}

void gw_exec_load(gw_exec *x, int *queued, int *running, double *wait_ms) {
  uv_mutex_lock(&x->mu);
  *queued = x->queued;
  *running = x->running;
  /* a new request waits for those ahead of it, spread over the executors */
  *wait_ms = x->ewma_ms * (double)(x->queued + x->running) / (double)x->n_w;
  uv_mutex_unlock(&x->mu);
}

gw_job *gw_exec_take_done(gw_exec *x) {
  uv_mutex_lock(&x->mu);
  gw_job *d = x->done;
  x->done = NULL;
  uv_mutex_unlock(&x->mu);
  return d;
}

static void worker_release(worker *w) {
  for (int i = 0; i < w->n_sess; i++) {
    cleave_result_free(w->sess[i].r);
    cleave_session_free(w->sess[i].s);
  }
  for (int i = 0; i < w->n_models; i++)
    cleave_model_free(w->models[i].model);
  for (int i = 0; i < CL_OIP_MAX_TENSORS; i++)
    cl_free(w->ctx, w->scratch[i]);
  cl_free(w->ctx, w->models);
  cleave_ctx_free(w->ctx);
}

int gw_exec_start(cl_gateway *gw, gw_exec **out) {
  cleave_ctx *ctx = gw->ctx;
  *out = NULL;
  gw_exec *x = cl_calloc(ctx, 1, sizeof *x);
  if (!x) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  x->gw = gw;
  int n = gw->cfg.max_concurrency > 0 ? gw->cfg.max_concurrency : 1;
  x->w = cl_calloc(ctx, (size_t)n, sizeof *x->w);
  if (!x->w || uv_mutex_init(&x->mu)) {
    cl_free(ctx, x->w);
    cl_free(ctx, x);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  uv_cond_init(&x->cv);
  int threads = gw->cfg.threads;
  if (threads <= 0) {
    uv_cpu_info_t *ci;
    int cores = 1;
    if (!uv_cpu_info(&ci, &cores)) uv_free_cpu_info(ci, cores);
    threads = cores / n > 0 ? cores / n : 1;
  }
  int rc = 0;
  cleave_options *o = NULL;
  if ((rc = cleave_options_new(&o)) || (rc = cleave_options_set_allocator(o, &ctx->alloc)) ||
      (rc = cleave_options_set_threads(o, threads))) {
    cleave_options_free(o);
    gw_exec_stop(x);
    return cl_err(ctx, rc, "executor options: %s", cleave_strerror(rc));
  }
  for (int i = 0; i < n; i++) {
    worker *w = &x->w[i];
    w->x = x;
    /* the executors' memory comes from the same hooks, so that a response body made there is freed here */
    if ((rc = cleave_ctx_new(&w->ctx, NULL, o))) break;
    if (uv_thread_create(&w->th, worker_main, w)) {
      cleave_ctx_free(w->ctx);
      w->ctx = NULL;
      rc = CLEAVE_ENOMEM;
      break;
    }
    x->n_w++;
  }
  cleave_options_free(o);
  if (rc) {
    gw_exec_stop(x);
    return cl_err(ctx, rc, "cannot start the executors: %s", cleave_strerror(rc));
  }
  *out = x;
  return 0;
}

void gw_exec_stop(gw_exec *x) {
  if (!x) return;
  cleave_ctx *ctx = x->gw->ctx;
  uv_mutex_lock(&x->mu);
  x->stop = true;
  uv_cond_broadcast(&x->cv);
  uv_mutex_unlock(&x->mu);
  for (int i = 0; i < x->n_w; i++) {
    uv_thread_join(&x->w[i].th);
    worker_release(&x->w[i]);
  }
  for (gw_job *j = x->done, *n; j; j = n) {
    n = j->next;
    cl_h2_pending_complete(j->pending); /* nobody waits any more: the server has closed */
    gw_job_free(ctx, j);
  }
  uv_cond_destroy(&x->cv);
  uv_mutex_destroy(&x->mu);
  cl_free(ctx, x->w);
  cl_free(ctx, x);
}
