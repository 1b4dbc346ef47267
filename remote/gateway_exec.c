/* remote: the gateway's executors, on the shared executor (local/executor.h): dynamic batching of jobs of one cut,
 * and programs compiled for the backend per executor thread. */
#include <string.h>

#include "remote/gateway_impl.h"

#define MAX_PROGRAMS 64 /* per executor thread; the least recently used goes first */

typedef struct w_prog {
  gw_cut *cut;
  cl_program *p;
  cleave_result *r;
  unsigned long long used;
} w_prog;

/* One executor thread's state. */
typedef struct worker {
  cl_gateway *gw;
  cleave_ctx *ctx;
  const cl_device_iface *dev;
  void *dev_state; /* the backend, once per thread, shared by its programs */
  w_prog progs[MAX_PROGRAMS];
  int n_progs;
  unsigned long long tick;
  void *scratch[CL_OIP_MAX_TENSORS]; /* batched inputs */
  size_t scratch_cap[CL_OIP_MAX_TENSORS];
} worker;

void gw_job_free(cleave_ctx *ctx, gw_job *job) {
  if (!job) return;
  cl_oip_message_release(ctx, &job->msg);
  cl_free(ctx, job->body);
  cl_free(ctx, job);
}

/* ---- programs per executor ---- */

static w_prog *worker_program(worker *w, gw_cut *cut) {
  w->tick++;
  for (int i = 0; i < w->n_progs; i++)
    if (w->progs[i].cut == cut) {
      w->progs[i].used = w->tick;
      return &w->progs[i];
    }
  cl_program_spec spec = {.inputs = cut->meta->in_ids,
                          .n_inputs = cut->meta->n_in,
                          .outputs = cut->meta->out_ids,
                          .n_outputs = cut->meta->n_out};
  cl_program *p = NULL;
  int rc = cl_program_new(w->ctx, cut->entry->model, &spec, &p);
  if (!rc) rc = cl_program_compile(p, w->dev, w->dev_state);
  if (rc) {
    cl_program_free(p);
    return NULL;
  }
  w_prog *slot;
  if (w->n_progs < MAX_PROGRAMS) {
    slot = &w->progs[w->n_progs++];
  } else {
    slot = &w->progs[0];
    for (int i = 1; i < w->n_progs; i++)
      if (w->progs[i].used < slot->used) slot = &w->progs[i];
    cleave_result_free(slot->r);
    cl_program_free(slot->p);
  }
  *slot = (w_prog){.cut = cut, .p = p, .used = w->tick};
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
  w_prog *ws = worker_program(w, cut);
  if (!ws) {
    for (int k = 0; k < nj; k++)
      fail_job(jobs[k], CLEAVE_EBACKEND, cleave_ctx_last_error(w->ctx));
    return;
  }
  int n_in = cut->meta->n_in, n_out = cut->meta->n_out;
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
  int rc = cl_program_run(ws->p, in, (size_t)n_in, &ws->r);
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
static bool batches_with(const cl_job *ja, const cl_job *jb) {
  const gw_job *a = (const gw_job *)ja, *b = (const gw_job *)jb;
  if (a->cut != b->cut || !a->cut->batchable || atomic_load(&a->cut->no_batch)) return false;
  int n = a->cut->meta->n_in;
  for (int i = 0; i < n; i++) {
    const cleave_tensor *x = a->in[i], *y = b->in[i];
    if (x->ndim != y->ndim) return false;
    for (int d = 1; d < x->ndim; d++)
      if (x->dims[d] != y->dims[d]) return false;
  }
  return true;
}

static void run(void *user, void *state, cl_job **jobs, int n) {
  (void)user;
  run_jobs(state, (gw_job **)jobs, n);
}

static int worker_init(void *user, void **state) {
  cl_gateway *gw = user;
  worker *w = cl_calloc(gw->ctx, 1, sizeof *w);
  if (!w) return cl_err(gw->ctx, CLEAVE_ENOMEM, "out of memory");
  w->gw = gw;
  w->ctx = gw->ctx;
  w->dev = cl_device_find(gw->cfg.backend);
  int rc = w->dev->create(w->ctx, &w->dev_state);
  if (rc) {
    cl_free(gw->ctx, w);
    return rc;
  }
  *state = w;
  return 0;
}

static void worker_fini(void *user, void *state) {
  worker *w = state;
  for (int i = 0; i < w->n_progs; i++) {
    cleave_result_free(w->progs[i].r);
    cl_program_free(w->progs[i].p);
  }
  for (int i = 0; i < CL_OIP_MAX_TENSORS; i++)
    cl_free(w->ctx, w->scratch[i]);
  w->dev->destroy(w->dev_state);
  cl_free(w->ctx, w);
}

int gw_exec_threads(const cl_gateway_config *cfg) {
  if (cfg->threads > 0) return cfg->threads;
  int n = cfg->max_concurrency > 0 ? cfg->max_concurrency : 1;
  uv_cpu_info_t *ci;
  int cores = 1;
  if (!uv_cpu_info(&ci, &cores)) uv_free_cpu_info(ci, cores);
  return cores / n > 0 ? cores / n : 1;
}

int gw_exec_start(cl_gateway *gw) {
  const cl_gateway_config *cfg = &gw->cfg;
  int n = cfg->max_concurrency > 0 ? cfg->max_concurrency : 1;
  int threads = gw_exec_threads(cfg);
  cl_executor_config xc = {.name = "gateway",
                           .threads = n,
                           .pool_threads = threads,
                           .queue_length = cfg->queue_length,
                           .max_batch = cfg->max_batch < CL_OIP_MAX_TENSORS ? cfg->max_batch : CL_OIP_MAX_TENSORS,
                           .batch_window_ms = cfg->batch_window_ms,
                           .batches_with = cfg->batch_window_ms > 0 ? batches_with : NULL,
                           .worker_init = worker_init,
                           .worker_fini = worker_fini,
                           .run = run,
                           .user = gw};
  int rc = cl_executor_new(gw->ctx, gw->loop, &xc, &gw->exec);
  if (rc) return cl_err(gw->ctx, rc, "cannot start the executors: %s", cleave_ctx_last_error(gw->ctx));
  return 0;
}
