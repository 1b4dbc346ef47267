/* core: runs of hybrid sessions: a plan's segment DAG dispatched as its inputs arrive, local segments on their
 * devices' executors and remote ones as edge requests, tensors moved between segments without copies, fallback to
 * the device when the edge fails, hedging of late edge requests, cancel, and the result with its placement.
 *
 * Exactly once: a run in flight always has something outstanding (a job or an edge request) until it finishes, and
 * every outstanding thing comes back exactly once (executors and edges guarantee it); the run finishes at the
 * first of: its last segment done, a local failure, a cancel. What comes back after that (a hedge's loser, work of a
 * canceled run) is released without effect. The run's memory lives until nothing of it is outstanding. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/engine.h"
#include "core/session.h"
#include "policies/settings.h"
#include "remote/edge_impl.h"

#define HEDGE_MIN_MS 20.0 /* never hedge before this */

typedef enum { SEG_WAIT, SEG_RUN, SEG_DONE } seg_state;

struct cleave_run_req;

/* A local run of one segment (planned, fallback or hedge). */
typedef struct seg_job {
  cl_engine_job ej; /* first */
  struct seg_job *jprev, *jnext; /* the run's jobs out, dropped ones included */
  cleave_ctx *ctx;
  const cleave_model *model;
  struct cleave_run_req *r;
  int seg;
  int device; /* engine index */
  cl_hprog *prog;
  bool fallback, hedge, dropped;
  bool first; /* this run made the program */
  int n_in;
  cleave_tensor *in;
  int *in_slot;
  cleave_result *res;
  char err[CL_ERRMSG_MAX];
} seg_job;

/* An edge request for one segment. */
typedef struct edge_call {
  struct cleave_run_req *r;
  int seg;
  bool dropped; /* the run no longer wants its answer */
} edge_call;

typedef struct run_seg {
  seg_state st;
  int deps_left;
  seg_job *job;   /* the local run in flight (planned or fallback) */
  seg_job *hedge; /* a hedge in flight */
  edge_call *call;
  cleave_edge_req *ereq;
  double ready_at, sent_at, hedge_at;
  bool hedged, fell_back;
  int tried_cpu;
  cleave_segment_report rep;
  char where[CL_WHERE_MAX];
  char *why;
} run_seg;

struct cleave_run_req {
  struct cleave_run_req *prev, *next; /* the session's runs with anything outstanding, finished ones included */
  cleave_ctx *ctx;
  cl_hybrid *h; /* NULL once detached */
  cl_hplan *plan;
  cleave_run_cb cb;
  void *user;
  int refs; /* one while not finished, one per job or edge request out */
  bool finished, canceled;
  bool submitting; /* inside cl_run_submit: a failure there is returned, not called back */
  double t0, deadline_at;
  int n_slots;
  cl_tensor *slot;
  bool *own;    /* the run owns slot[i]'s buffer */
  int *readers; /* jobs out that read slot[i] */
  run_seg *rs;
  seg_job *jobs; /* every job out: a dropped one may still run on its executor, using the session's programs */
  int n_seg, left;
  int status;
  char err[CL_ERRMSG_MAX];
  struct plain_job *plain; /* a run of a session on one device: its one job */
};

/* ---- life of a run ---- */

static void unlink_run(cl_hybrid *h, struct cleave_run_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    h->runs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void run_release(struct cleave_run_req *r) {
  if (--r->refs > 0) return;
  cleave_ctx *ctx = r->ctx;
  if (r->h) unlink_run(r->h, r);
  if (r->h && r->plan) cl_hplan_unref(r->h, r->plan); /* a detached run's plan went with its session */
  for (int i = 0; r->own && r->slot && i < r->n_slots; i++)
    if (r->own[i]) cl_tensor_release(ctx, &r->slot[i]);
  for (int k = 0; r->rs && k < r->n_seg; k++)
    cl_free(ctx, r->rs[k].why);
  cl_free(ctx, r->slot);
  cl_free(ctx, r->own);
  cl_free(ctx, r->readers);
  cl_free(ctx, r->rs);
  cl_free(ctx, r);
}

static void job_free(seg_job *j) {
  cleave_ctx *ctx = j->ctx;
  struct cleave_run_req *r = j->r;
  if (j->jprev)
    j->jprev->jnext = j->jnext;
  else if (r && r->jobs == j)
    r->jobs = j->jnext;
  if (j->jnext) j->jnext->jprev = j->jprev;
  cleave_result_free(j->res);
  cl_free(ctx, j->in);
  cl_free(ctx, j->in_slot);
  cl_free(ctx, j);
}

/* Stops what the finished run no longer needs: edge requests are reset, jobs not started are taken back. */
static void drop_outstanding(struct cleave_run_req *r) {
  for (int k = 0; k < r->n_seg; k++) {
    run_seg *rs = &r->rs[k];
    if (rs->call) {
      rs->call->dropped = true;
      rs->call = NULL;
      if (rs->ereq) cleave_edge_cancel(rs->ereq);
      rs->ereq = NULL;
    }
    seg_job *js[2] = {rs->job, rs->hedge};
    for (int i = 0; i < 2; i++)
      if (js[i]) {
        js[i]->dropped = true;
        cl_executor_cancel(r->ctx->engine->dev[js[i]->device].x, &js[i]->ej.job);
      }
    rs->job = rs->hedge = NULL;
  }
}

/* The graph outputs into a result, moved where nothing else reads them, copied where something still does. */
static int make_result(struct cleave_run_req *r, cleave_result **out) {
  cl_hybrid *h = r->h;
  cleave_ctx *ctx = r->ctx;
  const cl_hplan *p = r->plan;
  const cl_graph *ug = &h->user_model->graph;
  int n = ug->n_outputs;
  cleave_result *res = cl_result_new(ctx, NULL, n, 0);
  if (!res) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  const char *names[CL_PROGRAM_MAX_NAMES];
  for (int i = 0; i < n && i < CL_PROGRAM_MAX_NAMES; i++) {
    int s = p->out_slot[i];
    names[i] = ug->values[ug->outputs[i]].name;
    if (r->own[s] && r->readers[s] == 0) {
      cl_result_take(res, i, names[i], &r->slot[s], r->slot[s].nbytes);
      r->own[s] = false;
    } else {
      cl_tensor t = r->slot[s];
      t.data = NULL;
      if (cl_tensor_alloc(ctx, &t)) {
        cleave_result_free(res);
        return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
      }
      if (t.nbytes) memcpy(t.data, r->slot[s].data, t.nbytes);
      cl_result_take(res, i, names[i], &t, t.nbytes);
    }
  }
  cl_result_publish(res, n, names);
  res->ms = cl_now_ms() - r->t0;
  if (cl_result_placement(res, p->plan.name, r->n_seg)) {
    cleave_result_free(res);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  cleave_placement *pl = &res->placement;
  pl->predicted_ms = p->plan.obj.latency_ms;
  for (int k = 0; k < r->n_seg; k++) {
    run_seg *rs = &r->rs[k];
    cleave_segment_report *rep = &res->seg[k];
    *rep = rs->rep;
    rep->where = res->where[k];
    rep->n_nodes = p->seg[k].n_nodes;
    rep->fallback = rs->fell_back;
    rep->hedged = rs->hedged;
    if (cl_result_segment_text(res, k, rs->where, rs->why)) {
      cleave_result_free(res);
      return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    }
    pl->fallbacks += rs->fell_back;
    pl->hedges += rs->hedged;
    pl->energy_mj += rep->energy_mj;
  }
  *out = res;
  return 0;
}

/* Finishes the run: status 0 makes the result. The callback runs here; the run's memory stays until nothing of it
 * is outstanding. */
static void finish(struct cleave_run_req *r, int status, const char *msg) {
  if (r->finished) return;
  cl_hybrid *h = r->h;
  cleave_result *res = NULL;
  r->finished = true;
  if (!status && (status = make_result(r, &res))) msg = cleave_ctx_last_error(r->ctx);
  r->status = status;
  if (status) snprintf(r->err, sizeof r->err, "%s", msg ? msg : cleave_strerror(status));
  drop_outstanding(r);
  h->in_flight--;
  if (r->submitting) return; /* cl_run_submit returns the error and drops the reference */
  r->cb(r, status, res);
  run_release(r);
}

/* ---- dispatch ---- */

static void dispatch(struct cleave_run_req *r, int k);

static void seg_done(struct cleave_run_req *r, int k) {
  run_seg *rs = &r->rs[k];
  rs->st = SEG_DONE;
  rs->rep.end_ms = cl_now_ms() - r->t0;
  const cl_hseg *sg = &r->plan->seg[k];
  for (int i = 0; i < sg->n_next; i++)
    if (--r->rs[sg->next[i]].deps_left == 0) dispatch(r, sg->next[i]);
  if (--r->left == 0 && !r->finished) finish(r, 0, NULL);
}

static cleave_tensor slot_tensor(const struct cleave_run_req *r, int s) {
  const cl_tensor *t = &r->slot[s];
  const cl_graph *g = &r->h->model->graph;
  cleave_tensor o = {.name = g->values[r->plan->slot_value[s]].name,
                     .dtype = (cleave_dtype)t->dtype,
                     .ndim = t->ndim,
                     .data = t->data,
                     .nbytes = t->nbytes};
  memcpy(o.dims, t->dims, sizeof o.dims);
  return o;
}

static void job_work(cl_engine_job *ej, const cl_device_iface *dev, void *state) {
  seg_job *j = (seg_job *)ej;
  cl_hprog *hp = j->prog;
  cleave_ctx *ctx = j->ctx;
  if (!hp->tried) { /* made here, on the device's own thread, once */
    hp->tried = true;
    j->first = true;
    cl_program_spec spec = {.inputs = hp->in, .n_inputs = hp->n_in, .outputs = hp->out, .n_outputs = hp->n_out};
    int rc = cl_program_new(ctx, j->model, &spec, &hp->p);
    if (!rc) rc = cl_program_compile(hp->p, dev, state);
    if (rc) {
      hp->rc = rc;
      snprintf(hp->err, sizeof hp->err, "%s", cleave_ctx_last_error(ctx));
    }
  }
  if (hp->rc) {
    j->ej.job.status = hp->rc;
    snprintf(j->err, sizeof j->err, "%s", hp->err);
    return;
  }
  int rc = cl_program_run(hp->p, j->in, (size_t)j->n_in, &j->res);
  j->ej.job.status = rc;
  if (rc) snprintf(j->err, sizeof j->err, "%s", cleave_ctx_last_error(ctx));
}

static void on_job_done(cl_job *job);

/* Queues segment k of r on engine device dev with program prog. */
static int submit_local(struct cleave_run_req *r, int k, int dev, cl_hprog *prog, bool fallback, bool hedge) {
  cleave_ctx *ctx = r->ctx;
  const cl_hseg *sg = &r->plan->seg[k];
  seg_job *j = cl_calloc(ctx, 1, sizeof *j);
  if (!j) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  j->ctx = ctx;
  j->model = r->h->model;
  j->r = r;
  j->seg = k;
  j->device = dev;
  j->prog = prog;
  j->fallback = fallback;
  j->hedge = hedge;
  j->n_in = sg->n_in;
  j->in = cl_calloc(ctx, (size_t)sg->n_in + 1, sizeof *j->in);
  j->in_slot = cl_dup_ints(ctx, sg->in, sg->n_in);
  if (!j->in || !j->in_slot) {
    job_free(j);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  for (int i = 0; i < sg->n_in; i++)
    j->in[i] = slot_tensor(r, sg->in[i]);
  j->ej.work = job_work;
  j->ej.job.done = on_job_done;
  if (cl_engine_submit(ctx, dev, &j->ej)) {
    job_free(j);
    return cl_err(ctx, CLEAVE_EBUSY, "device '%s' has too much work queued", ctx->engine->dev[dev].dev->name);
  }
  for (int i = 0; i < sg->n_in; i++)
    r->readers[sg->in[i]]++;
  r->refs++;
  j->jnext = r->jobs;
  if (r->jobs) r->jobs->jprev = j;
  r->jobs = j;
  if (hedge)
    r->rs[k].hedge = j;
  else
    r->rs[k].job = j;
  return 0;
}

/* Runs segment k on the device because the edge failed it (or is not to be waited for): on the home device, or on
 * "cpu" when the home device refuses one of its nodes. */
static int run_here(struct cleave_run_req *r, int k, bool hedge) {
  cl_hybrid *h = r->h;
  const cl_hseg *sg = &r->plan->seg[k];
  const cl_plan_segment *ps = &r->plan->plan.segments[k];
  int dev = r->rs[k].tried_cpu && h->fallback_dev >= 0 ? h->fallback_dev : h->local[0];
  cl_hprog *hp = cl_hybrid_prog(h, dev, ps->inputs, ps->n_inputs, ps->outputs, ps->n_outputs);
  (void)sg;
  if (!hp) return cl_err(r->ctx, CLEAVE_ENOMEM, "out of memory");
  return submit_local(r, k, dev, hp, !hedge, hedge);
}

static void on_edge_answer(void *user, int status, cleave_result *res);

static int send_edge(struct cleave_run_req *r, int k) {
  cl_hybrid *h = r->h;
  cleave_ctx *ctx = r->ctx;
  const cl_hseg *sg = &r->plan->seg[k];
  cl_hedge *ed = &h->edge[r->plan->edge];
  run_seg *rs = &r->rs[k];
  int n = sg->n_in + sg->n_extra, n_out = sg->n_out;
  cleave_tensor *in = cl_calloc(ctx, (size_t)n + 1, sizeof *in);
  const char **outs = cl_calloc(ctx, (size_t)n_out + 1, sizeof *outs);
  edge_call *call = cl_calloc(ctx, 1, sizeof *call);
  int rc = in && outs && call ? 0 : cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  if (!rc) {
    for (int i = 0; i < sg->n_in; i++)
      in[i] = slot_tensor(r, sg->in[i]);
    for (int i = 0; i < sg->n_extra; i++)
      in[sg->n_in + i] = slot_tensor(r, sg->extra[i]);
    const cl_graph *g = &h->model->graph;
    for (int i = 0; i < n_out; i++)
      outs[i] = g->values[r->plan->slot_value[sg->out[i]]].name;
    call->r = r;
    call->seg = k;
    int timeout = h->deadline_ms > 0 ? (int)(2 * h->deadline_ms) + 1 : -1;
    rc = cleave_edge_infer_cut(ed->e, h->model, ed->model_name, in, (size_t)n, outs, n_out, timeout, on_edge_answer,
                               call, &rs->ereq);
  }
  cl_free(ctx, in);
  cl_free(ctx, outs);
  if (rc) {
    cl_free(ctx, call);
    return rc;
  }
  rs->call = call;
  rs->sent_at = cl_now_ms();
  rs->rep.start_ms = rs->sent_at - r->t0;
  rs->rep.on_edge = 1;
  rs->rep.predicted_ms = sg->pred_ms;
  snprintf(rs->where, sizeof rs->where, "%s", cl_edge_url(ed->e));
  r->refs++;
  /* all-edge means no copy on the device while the edge is working (a failed request still falls back) */
  cleave_mode mode = h->mode >= 0 ? (cleave_mode)h->mode : h->ctx->policy->mode;
  if (h->hedging && mode != CLEAVE_MODE_ONLY_EDGE) {
    double wait = 2 * sg->pred_ms;
    if (wait < HEDGE_MIN_MS) wait = HEDGE_MIN_MS;
    if (r->deadline_at > 0) {
      /* late enough that the device can still make the deadline, if it can */
      double local = cl_hybrid_local_ms(h, sg, r->plan, 0);
      double latest = r->deadline_at - local - rs->sent_at;
      if (latest < wait) wait = latest > 0 ? latest : 0;
    }
    rs->hedge_at = rs->sent_at + wait;
    cl_run_hedge_scan(h);
  }
  return 0;
}

static void fall_back(struct cleave_run_req *r, int k, const char *why) {
  run_seg *rs = &r->rs[k];
  rs->fell_back = true;
  if (!rs->why) rs->why = cl_strdup(r->ctx, why ? why : "");
  if (rs->hedge) { /* a hedge already runs it here: it becomes the segment's run */
    rs->job = rs->hedge;
    rs->hedge = NULL;
    rs->job->hedge = false;
    rs->job->fallback = true;
    return;
  }
  int rc = run_here(r, k, false);
  if (rc) finish(r, rc, cleave_ctx_last_error(r->ctx));
}

static void dispatch(struct cleave_run_req *r, int k) {
  if (r->finished) return;
  cl_hybrid *h = r->h;
  run_seg *rs = &r->rs[k];
  const cl_hseg *sg = &r->plan->seg[k];
  rs->st = SEG_RUN;
  rs->ready_at = cl_now_ms();
  rs->rep.ready_ms = rs->ready_at - r->t0;
  int rc;
  if (sg->local >= 0) {
    rs->rep.predicted_ms = sg->pred_ms;
    rc = submit_local(r, k, h->local[sg->local], sg->prog, false, false);
  } else if ((rc = send_edge(r, k)) && rc != CLEAVE_ENOMEM) {
    /* the edge would not even take it: the device does it */
    cl_hybrid_edge_failed(h, r->plan->edge, cleave_ctx_last_error(r->ctx));
    fall_back(r, k, cleave_ctx_last_error(r->ctx));
    return;
  }
  if (rc) finish(r, rc, cleave_ctx_last_error(r->ctx));
}

/* ---- completions ---- */

/* A local run of segment k came back. */
static void on_job_done(cl_job *job) {
  seg_job *j = (seg_job *)job;
  struct cleave_run_req *r = j->r;
  for (int i = 0; i < j->n_in; i++)
    r->readers[j->in_slot[i]]--;
  if (!r->h || r->finished || j->dropped) goto out;
  if (r->canceled) {
    finish(r, CLEAVE_ECANCELED, "the run was canceled");
    goto out;
  }
  cl_hybrid *h = r->h;
  int k = j->seg;
  run_seg *rs = &r->rs[k];
  if (j->hedge)
    rs->hedge = NULL;
  else
    rs->job = NULL;
  if (rs->st == SEG_DONE) goto out;
  const cl_hseg *sg = &r->plan->seg[k];
  int status = job->status;
  if (status == CLEAVE_EUNSUPPORTED && (j->fallback || j->hedge) && !rs->tried_cpu && h->fallback_dev >= 0) {
    rs->tried_cpu = 1; /* the home device refuses a node the edge ran: "cpu" runs everything */
    int rc = run_here(r, k, j->hedge);
    if (rc) finish(r, rc, cleave_ctx_last_error(r->ctx));
    goto out;
  }
  if (status) {
    if (j->hedge && rs->call) goto out; /* the edge may still answer */
    finish(r, status, j->err);
    goto out;
  }
  /* the outputs move into the run's slots */
  const cl_program *p = j->prog->p;
  for (int i = 0; i < sg->n_out; i++) {
    int s = sg->out[i];
    if (r->own[s]) cl_tensor_release(r->ctx, &r->slot[s]);
    r->slot[s] = j->res->data[i];
    r->own[s] = true;
    memset(&j->res->data[i], 0, sizeof j->res->data[i]);
  }
  (void)p;
  cl_engine_device *d = &r->ctx->engine->dev[j->device];
  double compute = job->t_end - job->t_start;
  rs->rep.start_ms = job->t_start - r->t0;
  rs->rep.queue_ms = job->t_start - job->t_queued;
  rs->rep.compute_ms = compute;
  rs->rep.on_edge = 0;
  rs->rep.bytes_up = rs->rep.bytes_down = 0;
  if (j->hedge || j->fallback) rs->rep.predicted_ms = cl_hybrid_local_ms(h, sg, r->plan, 0);
  int li = -1;
  for (int i = 0; i < h->n_local; i++)
    if (h->local[i] == j->device) li = i;
  const cl_profile *prof = li >= 0 ? h->prof[li] : d->measured ? &d->profile : NULL;
  rs->rep.energy_mj = prof ? compute * prof->active_w : 0;
  snprintf(rs->where, sizeof rs->where, "%s", d->dev->name);
  if (j->hedge) {
    rs->hedged = true;
    if (rs->call) { /* the edge lost the race */
      cl_hybrid_observe_edge_late(h, r->plan->edge, sg, cl_now_ms() - rs->sent_at);
      rs->call->dropped = true;
      rs->call = NULL;
      if (rs->ereq) cleave_edge_cancel(rs->ereq);
      rs->ereq = NULL;
    }
  }
  if (!j->first) cl_hybrid_observe_local(h, sg, j->device, compute);
  seg_done(r, k);
out:
  job_free(j);
  run_release(r);
}

/* Whether res holds every output of segment k with the dtype and shape the model gives it. */
static bool answer_fits(struct cleave_run_req *r, int k, cleave_result *res, int *idx, char *why, size_t len) {
  const cl_hseg *sg = &r->plan->seg[k];
  const cl_graph *g = &r->h->model->graph;
  for (int i = 0; i < sg->n_out; i++) {
    const cl_value *v = &g->values[r->plan->slot_value[sg->out[i]]];
    idx[i] = -1;
    for (int o = 0; o < res->n_outputs; o++)
      if (strcmp(res->outputs[o].name, v->name) == 0) idx[i] = o;
    if (idx[i] < 0) {
      snprintf(why, len, "the edge's answer lacks tensor '%s'", v->name);
      return false;
    }
    const cleave_tensor *t = &res->outputs[idx[i]];
    bool same = (int)t->dtype == v->dtype && t->ndim == v->shape.ndim;
    for (int d = 0; same && d < t->ndim; d++)
      same = v->shape.d[d] < 0 || v->shape.d[d] == t->dims[d];
    if (!same) {
      snprintf(why, len, "the edge's tensor '%s' has another dtype or shape than the model's", v->name);
      return false;
    }
  }
  return true;
}

static void on_edge_answer(void *user, int status, cleave_result *res) {
  edge_call *call = user;
  struct cleave_run_req *r = call->r;
  int k = call->seg;
  bool dropped = call->dropped;
  cl_free(r->ctx, call);
  if (dropped || !r->h || r->finished) goto out;
  run_seg *rs = &r->rs[k];
  rs->call = NULL;
  rs->ereq = NULL;
  if (r->canceled) {
    finish(r, CLEAVE_ECANCELED, "the run was canceled");
    goto out;
  }
  if (rs->st == SEG_DONE) goto out;
  cl_hybrid *h = r->h;
  const cl_hseg *sg = &r->plan->seg[k];
  int idx[CL_PROGRAM_MAX_NAMES];
  char why[CL_ERRMSG_MAX];
  if (status) {
    snprintf(why, sizeof why, "%s", cleave_ctx_last_error(r->ctx));
  } else if (!answer_fits(r, k, res, idx, why, sizeof why)) {
    status = CLEAVE_EPROTO;
  }
  if (status) {
    cl_hybrid_edge_failed(h, r->plan->edge, why);
    fall_back(r, k, why);
    goto out;
  }
  for (int i = 0; i < sg->n_out; i++) {
    int s = sg->out[i];
    if (r->own[s]) cl_tensor_release(r->ctx, &r->slot[s]);
    r->slot[s] = res->data[idx[i]];
    r->own[s] = true;
    memset(&res->data[idx[i]], 0, sizeof res->data[idx[i]]);
  }
  double total = cl_now_ms() - rs->sent_at;
  rs->rep.queue_ms = res->edge_queue_ms > 0 ? res->edge_queue_ms : 0;
  rs->rep.compute_ms = res->edge_compute_ms > 0 ? res->edge_compute_ms : 0;
  rs->rep.transfer_ms = total - rs->rep.queue_ms - rs->rep.compute_ms;
  rs->rep.bytes_up = (uint64_t)sg->up_bytes;
  rs->rep.bytes_down = (uint64_t)sg->down_bytes;
  /* the device's radio was busy for the transfer's measured time, on the radio the plan was made for */
  rs->rep.energy_mj = cl_radio_transfer_mj(&r->plan->net, sg->up_bytes, sg->down_bytes, rs->rep.transfer_ms);
  if (rs->hedge) { /* the device lost the race */
    rs->hedge->dropped = true;
    cl_executor_cancel(r->ctx->engine->dev[rs->hedge->device].x, &rs->hedge->ej.job);
    rs->hedge = NULL;
  }
  cl_hybrid_observe_edge(h, r->plan->edge, sg, total, res->edge_recv_ms, res->edge_queue_ms, res->edge_compute_ms);
  seg_done(r, k);
out:
  cleave_result_free(res);
  run_release(r);
}

/* ---- hedging ---- */

static void on_timer(uv_timer_t *t) {
  cl_hybrid *h = t->data;
  if (h) cl_run_hedge_scan(h);
}

void cl_run_hedge_scan(cl_hybrid *h) {
  double now = cl_now_ms(), next = INFINITY;
  for (struct cleave_run_req *r = h->runs, *n; r; r = n) {
    n = r->next;
    for (int k = 0; k < r->n_seg && !r->finished; k++) {
      run_seg *rs = &r->rs[k];
      if (!rs->call || rs->hedge || rs->hedge_at <= 0) continue;
      if (rs->hedge_at > now) {
        if (rs->hedge_at < next) next = rs->hedge_at;
        continue;
      }
      rs->hedge_at = 0;
      int rc = run_here(r, k, true);
      if (rc) cl_log(h->ctx, CLEAVE_LOG_WARN, "no hedge for a late edge request: %s", cleave_ctx_last_error(h->ctx));
    }
  }
  if (isfinite(next)) {
    uv_timer_start(h->timer, on_timer, (uint64_t)ceil(next - now), 0);
    h->timer_due = next;
  } else {
    uv_timer_stop(h->timer);
    h->timer_due = 0;
  }
}

/* ---- submit and cancel ---- */

int cl_run_submit(cleave_session *s, cl_hybrid *h, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb,
                  void *user, struct cleave_run_req **out) {
  cleave_ctx *ctx = s->ctx;
  if (out) *out = NULL;
  if (h->closing) return cl_err(ctx, CLEAVE_EINVAL, "the session is being freed");
  if (h->in_flight >= h->max_in_flight)
    return cl_err(ctx, CLEAVE_EBUSY, "the session has %d runs in flight, its limit", h->in_flight);
  int rc = cl_program_check(h->meta, inputs, n_inputs);
  if (rc) return rc;
  cl_hplan *p;
  if ((rc = cl_hybrid_plan(h, &p))) return rc;
  struct cleave_run_req *r = cl_calloc(ctx, 1, sizeof *r);
  if (r) {
    r->ctx = ctx;
    r->n_slots = p->n_slots;
    r->n_seg = p->n_seg;
    r->slot = cl_calloc(ctx, (size_t)p->n_slots + 1, sizeof *r->slot);
    r->own = cl_calloc(ctx, (size_t)p->n_slots + 1, sizeof *r->own);
    r->readers = cl_calloc(ctx, (size_t)p->n_slots + 1, sizeof *r->readers);
    r->rs = cl_calloc(ctx, (size_t)p->n_seg + 1, sizeof *r->rs);
  }
  if (!r || !r->slot || !r->own || !r->readers || !r->rs) {
    if (r) {
      r->refs = 1;
      run_release(r);
    }
    cl_hplan_unref(h, p);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  r->ctx = ctx;
  r->h = h;
  r->plan = p;
  r->cb = cb;
  r->user = user;
  r->refs = 1;
  r->t0 = cl_now_ms();
  r->deadline_at = h->deadline_ms > 0 ? r->t0 + h->deadline_ms : 0;
  r->left = p->n_seg;
  /* the inputs are borrowed, and constants the edge still computes point at the model's data */
  const cl_graph *g = &h->model->graph;
  for (int i = 0; i < g->n_inputs; i++)
    for (size_t k = 0; k < n_inputs; k++)
      if (strcmp(inputs[k].name, g->values[g->inputs[i]].name) == 0) {
        cl_tensor *t = &r->slot[p->in_slot[i]];
        t->dtype = inputs[k].dtype;
        t->ndim = inputs[k].ndim;
        memcpy(t->dims, inputs[k].dims, sizeof t->dims);
        t->data = inputs[k].data;
        t->nbytes = inputs[k].nbytes;
      }
  for (int i = 0; i < p->n_slots; i++) {
    const cl_tensor *c = g->values[p->slot_value[i]].konst;
    if (c) r->slot[i] = *c;
  }
  r->next = h->runs;
  if (h->runs) h->runs->prev = r;
  h->runs = r;
  h->in_flight++;
  for (int k = 0; k < p->n_seg; k++)
    r->rs[k].deps_left = p->seg[k].n_deps;
  /* a reference for the dispatching itself, so that a segment finishing at once cannot free the run under us */
  r->refs++;
  r->submitting = true;
  for (int k = 0; k < p->n_seg && !r->finished; k++)
    if (r->rs[k].deps_left == 0 && r->rs[k].st == SEG_WAIT) dispatch(r, k);
  r->submitting = false;
  if (r->finished) { /* it failed before anything came back: the caller gets the error, the callback never runs */
    rc = cl_err(ctx, r->status, "%s", r->err);
    run_release(r); /* the run's own reference, which finish() left */
    run_release(r);
    return rc;
  }
  if (out) *out = r;
  run_release(r);
  return 0;
}

static bool plain_cancel(struct cleave_run_req *r);

int cleave_run_cancel(struct cleave_run_req *r) {
  if (!r) return CLEAVE_EINVAL;
  if (r->finished || r->canceled) return 0;
  r->canceled = true;
  if (r->plain) return plain_cancel(r), 0;
  /* every outstanding thing is stopped; the first to come back finishes the run as canceled */
  for (int k = 0; k < r->n_seg; k++) {
    run_seg *rs = &r->rs[k];
    if (rs->ereq) cleave_edge_cancel(rs->ereq);
    seg_job *js[2] = {rs->job, rs->hedge};
    for (int i = 0; i < 2; i++)
      if (js[i]) cl_executor_cancel(r->ctx->engine->dev[js[i]->device].x, &js[i]->ej.job);
  }
  return 0;
}

void *cleave_run_req_user(const struct cleave_run_req *r) { return r ? r->user : NULL; }

const char *cleave_run_req_error(const struct cleave_run_req *r) { return r ? r->err : ""; }

void cl_run_cancel_all(cl_hybrid *h) {
  cleave_ctx *ctx = h->ctx;
  h->closing = true;
  /* nothing of the session may run once this returns: jobs not started are taken back, running ones waited for,
   * those of finished runs too (a hedge's loser, a job of a canceled run may still be running) */
  for (struct cleave_run_req *r = h->runs; r; r = r->next)
    for (seg_job *j = r->jobs; j; j = j->jnext)
      cl_engine_cancel_wait(ctx, j->device, &j->ej);
  while (h->runs) {
    struct cleave_run_req *r = h->runs;
    r->refs++;
    if (!r->finished) finish(r, CLEAVE_ECANCELED, "the session was freed with the run in flight");
    unlink_run(h, r);
    r->h = NULL;
    run_release(r);
  }
  cl_engine_flush(ctx);
}

/* ---- sessions on one device ---- */

/* The whole run as one job: the session's program on its device's executor. */
typedef struct plain_job {
  cl_engine_job ej; /* first */
  cleave_ctx *ctx;
  struct cleave_run_req *r;
  cleave_session *s;
  int device;
  cleave_tensor *in;
  size_t n_in;
  cleave_result *res;
  char err[CL_ERRMSG_MAX];
} plain_job;

int cl_run_plain_placement(cleave_session *s, cleave_result *r, double start_ms, double queue_ms) {
  int rc = cl_result_placement(r, s->prog->dev->name, 1);
  if (rc) return rc;
  cleave_segment_report *sr = &r->seg[0];
  cl_result_segment_text(r, 0, s->prog->dev->name, NULL);
  sr->n_nodes = s->prog->n_nodes;
  sr->start_ms = start_ms;
  sr->queue_ms = queue_ms;
  sr->compute_ms = r->ms;
  sr->end_ms = start_ms + r->ms;
  return 0;
}

static void plain_work(cl_engine_job *ej, const cl_device_iface *dev, void *state) {
  plain_job *j = (plain_job *)ej;
  (void)dev;
  (void)state;
  int rc = cl_program_run(j->s->prog, j->in, j->n_in, &j->res);
  j->ej.job.status = rc;
  if (rc) snprintf(j->err, sizeof j->err, "%s", cleave_ctx_last_error(j->ctx));
}

static void plain_unlink(cleave_session *s, struct cleave_run_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    s->runs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void plain_done(cl_job *job) {
  plain_job *j = (plain_job *)job;
  struct cleave_run_req *r = j->r;
  cleave_ctx *ctx = j->ctx;
  if (!r->finished) {
    cleave_session *s = j->s;
    int status = r->canceled ? CLEAVE_ECANCELED : job->status;
    cleave_result *res = status ? NULL : j->res;
    if (res && (status = cl_run_plain_placement(s, res, job->t_start - r->t0, job->t_start - job->t_queued))) {
      snprintf(j->err, sizeof j->err, "%s", cleave_ctx_last_error(ctx));
      res = NULL;
    }
    if (res) j->res = NULL;
    r->finished = true;
    r->status = status;
    if (status)
      snprintf(r->err, sizeof r->err, "%s",
               status == CLEAVE_ECANCELED && !job->status ? "the run was canceled" : j->err);
    plain_unlink(s, r);
    r->cb(r, status, res);
  }
  cleave_result_free(j->res);
  cl_free(ctx, j->in);
  cl_free(ctx, j);
  cl_free(ctx, r);
}

int cl_run_plain_submit(cleave_session *s, const cleave_tensor *inputs, size_t n_inputs, cleave_run_cb cb, void *user,
                        struct cleave_run_req **out) {
  cleave_ctx *ctx = s->ctx;
  int rc = cl_program_check(s->prog, inputs, n_inputs);
  if (rc) return rc;
  if (s->plain_dev < 0) {
    int d = cl_engine_device_index(ctx, s->prog->dev->name);
    if (d < 0) return d;
    s->plain_dev = d;
  }
  struct cleave_run_req *r = cl_calloc(ctx, 1, sizeof *r);
  plain_job *j = cl_calloc(ctx, 1, sizeof *j);
  cleave_tensor *in = cl_calloc(ctx, n_inputs + 1, sizeof *in);
  if (!r || !j || !in) {
    cl_free(ctx, r);
    cl_free(ctx, j);
    cl_free(ctx, in);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  memcpy(in, inputs, sizeof *in * n_inputs);
  r->ctx = ctx;
  r->cb = cb;
  r->user = user;
  r->t0 = cl_now_ms();
  r->plain = j;
  *j = (plain_job){
      .ej = {.work = plain_work}, .ctx = ctx, .r = r, .s = s, .device = s->plain_dev, .in = in, .n_in = n_inputs};
  j->ej.job.done = plain_done;
  if (cl_engine_submit(ctx, s->plain_dev, &j->ej)) {
    cl_free(ctx, r);
    cl_free(ctx, j);
    cl_free(ctx, in);
    return cl_err(ctx, CLEAVE_EBUSY, "device '%s' has too much work queued", s->prog->dev->name);
  }
  r->next = s->runs;
  if (s->runs) s->runs->prev = r;
  s->runs = r;
  if (out) *out = r;
  return 0;
}

static bool plain_cancel(struct cleave_run_req *r) {
  plain_job *j = r->plain;
  return cl_executor_cancel(r->ctx->engine->dev[j->device].x, &j->ej.job);
}

void cl_run_plain_cancel_all(cleave_session *s) {
  for (struct cleave_run_req *r = s->runs; r; r = r->next) {
    r->canceled = true;
    plain_job *j = r->plain;
    cl_engine_cancel_wait(s->ctx, j->device, &j->ej);
  }
  if (s->runs) cl_engine_flush(s->ctx);
}
