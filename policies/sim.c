/* policies: the discrete-event simulation behind `cleave-sim run` (see sim.h for the model). */
#include "policies/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "partitioner/plan_cache.h"
#include "policies/apply.h"

enum { R_DEV, R_EDGE, R_UP, R_DOWN, N_RES };
enum { DEV = 0, EDGE = 1 };
enum { EV_ARRIVE, EV_DONE, EV_LAND };

/* ---- plans prepared for execution ---- */

typedef struct xfer {
  int value, src_seg, dst_dev; /* src_seg -1: a graph input, on the device at arrival */
  double bytes;
  int *dst; /* segments waiting for it */
  int n_dst;
  bool final; /* a graph output going home */
} xfer;

typedef struct pexec {
  cl_plan plan;
  uint64_t hash;
  int n_seg;
  int *npre;             /* per segment: inputs it waits for */
  int **succ, *n_succ;   /* same-device successors */
  int **out_x, *n_out_x; /* transfers a segment starts */
  int n_x;
  xfer *x;
  int *first_x, n_first_x; /* transfers that start at arrival */
  int **in_x, *n_in_x;     /* per segment: incoming transfers (for the oracle) */
  int **in_s, *n_in_s;     /* per segment: same-device producers (for the oracle) */
} pexec;

static void pexec_free(cleave_ctx *ctx, pexec *e) {
  for (int k = 0; k < e->n_seg; k++) {
    cl_free(ctx, e->succ[k]);
    cl_free(ctx, e->out_x[k]);
    cl_free(ctx, e->in_x[k]);
    cl_free(ctx, e->in_s[k]);
  }
  for (int i = 0; i < e->n_x; i++)
    cl_free(ctx, e->x[i].dst);
  cl_free(ctx, e->npre);
  cl_free(ctx, e->succ);
  cl_free(ctx, e->n_succ);
  cl_free(ctx, e->out_x);
  cl_free(ctx, e->n_out_x);
  cl_free(ctx, e->in_x);
  cl_free(ctx, e->n_in_x);
  cl_free(ctx, e->in_s);
  cl_free(ctx, e->n_in_s);
  cl_free(ctx, e->x);
  cl_free(ctx, e->first_x);
  cl_plan_free(ctx, &e->plan);
  memset(e, 0, sizeof *e);
}

static int push_int(cleave_ctx *ctx, int **a, int *n, int v) {
  int *b = cl_realloc(ctx, *a, (size_t)(*n + 1) * sizeof *b);
  if (!b) return CLEAVE_ENOMEM;
  b[(*n)++] = v;
  *a = b;
  return 0;
}

/* Dependencies of every segment: producers on the same device, and transfers (one per value and destination). */
static int pexec_build(cleave_ctx *ctx, const cl_graph *g, pexec *e) {
  const cl_plan *p = &e->plan;
  int ns = e->n_seg = p->n_segments, rc = CLEAVE_ENOMEM;
  int *seg_of = cl_malloc(ctx, (size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *seg_of);
  e->npre = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->npre);
  e->succ = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->succ);
  e->n_succ = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->n_succ);
  e->out_x = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->out_x);
  e->n_out_x = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->n_out_x);
  e->in_x = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->in_x);
  e->n_in_x = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->n_in_x);
  e->in_s = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->in_s);
  e->n_in_s = cl_calloc(ctx, (size_t)ns + 1, sizeof *e->n_in_s);
  if (!seg_of || !e->npre || !e->succ || !e->n_succ || !e->out_x || !e->n_out_x || !e->in_x || !e->n_in_x ||
      !e->in_s || !e->n_in_s) {
    e->n_seg = 0; /* the per-segment arrays may be missing: free only the tables */
    goto done;
  }
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < p->segments[k].n_nodes; i++)
      seg_of[p->segments[k].nodes[i]] = k;
  int cap_x = 0;
  for (int k = 0; k <= ns; k++) {
    /* k == ns stands for "home", where graph outputs must arrive. */
    const int *vals = k < ns ? p->segments[k].inputs : g->outputs;
    int nv = k < ns ? p->segments[k].n_inputs : g->n_outputs;
    int dev = k < ns ? p->segments[k].device : DEV;
    for (int i = 0; i < nv; i++) {
      int v = vals[i], prod = g->values[v].producer, src = prod >= 0 ? seg_of[prod] : -1;
      int src_dev = src >= 0 ? p->segments[src].device : DEV;
      if (src_dev == dev) {
        if (src >= 0 && k < ns) {
          if (push_int(ctx, &e->succ[src], &e->n_succ[src], k) || push_int(ctx, &e->in_s[k], &e->n_in_s[k], src))
            goto done;
          e->npre[k]++;
        }
        continue;
      }
      int xi = -1;
      for (int j = 0; j < e->n_x; j++)
        if (e->x[j].value == v && e->x[j].dst_dev == dev) xi = j;
      if (xi < 0) {
        if (e->n_x == cap_x) {
          int nc = cap_x ? 2 * cap_x : 16;
          xfer *nx = cl_realloc(ctx, e->x, (size_t)nc * sizeof *nx);
          if (!nx) goto done;
          e->x = nx;
          cap_x = nc;
        }
        xi = e->n_x++;
        e->x[xi] = (xfer){.value = v,
                          .src_seg = src,
                          .dst_dev = dev,
                          .bytes = cl_value_bytes(g, v) > 0 ? (double)cl_value_bytes(g, v) : 0};
        if (src >= 0 ? push_int(ctx, &e->out_x[src], &e->n_out_x[src], xi)
                     : push_int(ctx, &e->first_x, &e->n_first_x, xi))
          goto done;
      }
      if (k < ns) {
        if (push_int(ctx, &e->x[xi].dst, &e->x[xi].n_dst, k) || push_int(ctx, &e->in_x[k], &e->n_in_x[k], xi))
          goto done;
        e->npre[k]++;
      } else {
        e->x[xi].final = true;
      }
    }
  }
  rc = 0;
done:
  cl_free(ctx, seg_of);
  return rc;
}

/* ---- the simulation state ---- */

typedef struct job {
  int req, kind, idx; /* kind: 0 segment, 1 transfer, 2 fallback (the whole model on the device) */
  bool failed;        /* a transfer cut off by the timeout */
} job;

typedef struct resource {
  int *q; /* job ids, FIFO */
  int head, tail, cap;
  int busy;       /* job id in service, or -1 */
  double free_at; /* estimate of when the queue drains (the oracle's view) */
} resource;

typedef struct event {
  double t;
  int type, a, b;
} event;

typedef struct request {
  double t0, done_t, energy_mj, cost, local_ms, up_bytes, down_bytes;
  int plan, pending, *npre, *x_left;
  bool fallback, finished;
  float temp_c;
} request;

typedef struct sim {
  cleave_ctx *ctx;
  const cl_sim_config *cfg;
  pexec *plans;
  int n_plans, cap_plans;
  double all_local_ms;
  double wl, we, wc; /* the objective every policy is scored on */
  /* per run */
  double now, temp_c, energy_j, busy_since, last_t;
  bool dev_busy;
  double radio_end; /* when the last transfer ended (the tail starts there) */
  int radio_req;    /* request the next tail energy goes to */
  resource res[N_RES];
  event *ev;
  int n_ev, cap_ev;
  job *jobs;
  int n_jobs, cap_jobs;
  request *req;
  int n_req;
  const double *arr;
  int n_arr;
} sim;

static double sim_radio_at(const sim *s, double t, const cl_radio_model **m) {
  const cl_link_sample *ls = cl_trace_at(s->cfg->link, t);
  int kind = ls->radio >= 0 ? ls->radio : (int)s->cfg->radio;
  *m = cl_radio_preset((cl_radio_kind)kind);
  return kind;
}

static int ev_push(sim *s, double t, int type, int a, int b) {
  if (s->n_ev == s->cap_ev) {
    int nc = s->cap_ev ? 2 * s->cap_ev : 256;
    event *ne = cl_realloc(s->ctx, s->ev, (size_t)nc * sizeof *ne);
    if (!ne) return CLEAVE_ENOMEM;
    s->ev = ne;
    s->cap_ev = nc;
  }
  int i = s->n_ev++;
  event e = {t, type, a, b};
  /* Ties go to the event pushed first (b of arrivals is the request index, so order is stable enough). */
  while (i > 0) {
    int p = (i - 1) / 2;
    if (s->ev[p].t <= t) break;
    s->ev[i] = s->ev[p];
    i = p;
  }
  s->ev[i] = e;
  return 0;
}

static event ev_pop(sim *s) {
  event top = s->ev[0], last = s->ev[--s->n_ev];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= s->n_ev) break;
    if (c + 1 < s->n_ev && s->ev[c + 1].t < s->ev[c].t) c++;
    if (s->ev[c].t >= last.t) break;
    s->ev[i] = s->ev[c];
    i = c;
  }
  if (s->n_ev > 0) s->ev[i] = last;
  return top;
}

/* Advances the thermal model and the device's energy to time t. */
static void advance(sim *s, double t) {
  double dt = t - s->last_t;
  if (dt <= 0) return;
  const cl_profile *d = s->cfg->device;
  double p = s->dev_busy ? d->active_w : d->idle_w;
  s->energy_j += p * dt;
  const cl_thermal_model *m = &d->thermal;
  if (m->r_c_per_w > 0 && m->c_j_per_c > 0) {
    double target = m->ambient_c + p * m->r_c_per_w;
    s->temp_c = target + (s->temp_c - target) * exp(-dt / (m->r_c_per_w * m->c_j_per_c));
  }
  s->last_t = t;
}

static double speed_now(const sim *s) {
  const cl_thermal_model *m = &s->cfg->device->thermal;
  return m->r_c_per_w > 0 ? cl_thermal_speed(m, s->temp_c) : 1;
}

static int new_job(sim *s, int req, int kind, int idx) {
  if (s->n_jobs == s->cap_jobs) {
    int nc = s->cap_jobs ? 2 * s->cap_jobs : 1024;
    job *nj = cl_realloc(s->ctx, s->jobs, (size_t)nc * sizeof *nj);
    if (!nj) return CLEAVE_ENOMEM;
    s->jobs = nj;
    s->cap_jobs = nc;
  }
  s->jobs[s->n_jobs] = (job){req, kind, idx, false};
  return s->n_jobs++;
}

static int start_next(sim *s, int r);

static int enqueue(sim *s, int r, int req, int kind, int idx, double est_s) {
  int j = new_job(s, req, kind, idx);
  if (j < 0) return j;
  resource *q = &s->res[r];
  if (q->tail == q->cap) {
    if (q->head > 0) {
      memmove(q->q, q->q + q->head, (size_t)(q->tail - q->head) * sizeof *q->q);
      q->tail -= q->head;
      q->head = 0;
    }
    if (q->tail == q->cap) {
      int nc = q->cap ? 2 * q->cap : 64;
      int *nq = cl_realloc(s->ctx, q->q, (size_t)nc * sizeof *nq);
      if (!nq) return CLEAVE_ENOMEM;
      q->q = nq;
      q->cap = nc;
    }
  }
  q->q[q->tail++] = j;
  q->free_at = (q->free_at > s->now ? q->free_at : s->now) + est_s;
  return q->busy < 0 ? start_next(s, r) : 0;
}

static int seg_ready(sim *s, int req, int k) {
  const pexec *e = &s->plans[s->req[req].plan];
  int dev = e->plan.segments[k].device;
  double est = e->plan.segments[k].compute_ms / 1e3;
  return enqueue(s, dev == DEV ? R_DEV : R_EDGE, req, 0, k, est);
}

static int xfer_ready(sim *s, int req, int xi) {
  const pexec *e = &s->plans[s->req[req].plan];
  const xfer *x = &e->x[xi];
  const cl_link_sample *ls = cl_trace_at(s->cfg->link, s->now);
  double mbps = x->dst_dev == EDGE ? ls->up_mbps : ls->down_mbps;
  return enqueue(s, x->dst_dev == EDGE ? R_UP : R_DOWN, req, 1, xi, mbps > 0 ? x->bytes * 8 / (mbps * 1e6) : 0);
}

static int fall_back(sim *s, int req) {
  request *q = &s->req[req];
  if (q->fallback) return 0;
  q->fallback = true;
  return enqueue(s, R_DEV, req, 2, 0, s->all_local_ms / 1e3);
}

static double timeout_s(const sim *s) { return (s->cfg->timeout_ms > 0 ? s->cfg->timeout_ms : 2000) / 1e3; }

/* Starts the next job of resource r that still matters. */
static int start_next(sim *s, int r) {
  resource *q = &s->res[r];
  while (q->head < q->tail) {
    int j = q->q[q->head++];
    job *jb = &s->jobs[j];
    request *rq = &s->req[jb->req];
    if (rq->finished || (rq->fallback && jb->kind != 2)) continue; /* abandoned work is dropped */
    const pexec *e = &s->plans[rq->plan];
    double dur;
    if (jb->kind == 2 || (jb->kind == 0 && r == R_DEV)) {
      double ms = (jb->kind == 2 ? s->all_local_ms : e->plan.segments[jb->idx].compute_ms) / speed_now(s);
      dur = ms / 1e3;
      rq->energy_mj += s->cfg->device->active_w * ms;
      rq->local_ms += ms;
      advance(s, s->now);
      s->dev_busy = true;
    } else if (jb->kind == 0) {
      dur = e->plan.segments[jb->idx].compute_ms / 1e3;
      rq->cost += s->cfg->edge->cost_per_s * dur;
    } else {
      const xfer *x = &e->x[jb->idx];
      int up = r == R_UP;
      const cl_link_sample *ls = cl_trace_at(s->cfg->link, s->now);
      if ((up ? ls->up_mbps : ls->down_mbps) <= 0) { /* no route: fails at once */
        q->busy = -1;
        if (fall_back(s, jb->req)) return CLEAVE_ENOMEM;
        continue;
      }
      const cl_radio_model *m;
      sim_radio_at(s, s->now, &m);
      double promo = 0, gap = s->now - s->radio_end;
      if (s->radio_end < 0 || gap > m->tail_s) {
        promo = m->promo_s;
        rq->energy_mj += m->promo_s * m->promo_mw;
        if (s->radio_req >= 0) s->req[s->radio_req].energy_mj += m->tail_s * m->tail_mw;
        s->energy_j += (m->promo_s * m->promo_mw + (s->radio_req >= 0 ? m->tail_s * m->tail_mw : 0)) / 1e3;
      } else if (gap > 0 && s->radio_req >= 0) {
        s->req[s->radio_req].energy_mj += gap * m->tail_mw;
        s->energy_j += gap * m->tail_mw / 1e3;
      }
      double send = cl_trace_transfer_s(s->cfg->link, s->now + promo, x->bytes, up);
      dur = promo + send;
      if (!(dur <= timeout_s(s))) { /* too slow: the request gives up on the edge after the timeout */
        dur = timeout_s(s);
        send = dur - promo;
        jb->failed = true;
      }
      double mbps = send > 0 ? x->bytes * 8 / send / 1e6 : 0;
      double mj = (m->base_mw + (up ? m->up_mw_per_mbps : m->down_mw_per_mbps) * mbps) * send;
      rq->energy_mj += mj;
      s->energy_j += mj / 1e3;
      if (s->now + dur > s->radio_end) s->radio_end = s->now + dur;
      s->radio_req = jb->req;
      if (up)
        rq->up_bytes += x->bytes;
      else
        rq->down_bytes += x->bytes;
    }
    q->busy = j;
    return ev_push(s, s->now + dur, EV_DONE, r, j);
  }
  q->busy = -1;
  if (r == R_DEV) {
    advance(s, s->now);
    s->dev_busy = false;
  }
  return 0;
}

static void finish(sim *s, int req) {
  request *q = &s->req[req];
  if (q->finished) return;
  q->finished = true;
  q->done_t = s->now;
}

static int seg_done(sim *s, int req, int k) {
  request *q = &s->req[req];
  const pexec *e = &s->plans[q->plan];
  int rc = 0;
  for (int i = 0; !rc && i < e->n_succ[k]; i++)
    if (--q->npre[e->succ[k][i]] == 0) rc = seg_ready(s, req, e->succ[k][i]);
  for (int i = 0; !rc && i < e->n_out_x[k]; i++)
    rc = xfer_ready(s, req, e->out_x[k][i]);
  if (--q->pending == 0) finish(s, req);
  return rc;
}

static int xfer_landed(sim *s, int req, int xi) {
  request *q = &s->req[req];
  if (q->finished || q->fallback) return 0;
  const pexec *e = &s->plans[q->plan];
  int rc = 0;
  for (int i = 0; !rc && i < e->x[xi].n_dst; i++)
    if (--q->npre[e->x[xi].dst[i]] == 0) rc = seg_ready(s, req, e->x[xi].dst[i]);
  if (--q->pending == 0) finish(s, req);
  return rc;
}

static int job_done(sim *s, int r, int j) {
  resource *q = &s->res[r];
  job jb = s->jobs[j];
  q->busy = -1;
  if (q->free_at < s->now) q->free_at = s->now;
  request *rq = &s->req[jb.req];
  int rc = 0;
  if (jb.kind == 2) {
    finish(s, jb.req);
  } else if (!rq->finished && !rq->fallback) {
    if (jb.kind == 0)
      rc = seg_done(s, jb.req, jb.idx);
    else if (s->jobs[j].failed)
      rc = fall_back(s, jb.req);
    else
      rc = ev_push(s, s->now + cl_trace_at(s->cfg->link, s->now)->rtt_ms / 2e3, EV_LAND, jb.req, jb.idx);
  }
  if (!rc) rc = start_next(s, r);
  return rc;
}

/* ---- the plan table ---- */

static int plan_index(sim *s, cl_planner *pl, const int *assign, const char *name) {
  const cl_graph *g = s->cfg->graph;
  uint64_t h = cl_plan_assign_hash(assign, g->n_nodes);
  for (int i = 0; i < s->n_plans; i++)
    if (s->plans[i].hash == h && memcmp(s->plans[i].plan.assign, assign, (size_t)g->n_nodes * sizeof *assign) == 0)
      return i;
  if (s->n_plans == s->cap_plans) {
    if (s->n_plans >= INT16_MAX) return cl_err(s->ctx, CLEAVE_ELIMIT, "simulation: too many distinct plans");
    int nc = s->cap_plans ? 2 * s->cap_plans : 16;
    pexec *np = cl_realloc(s->ctx, s->plans, (size_t)nc * sizeof *np);
    if (!np) return CLEAVE_ENOMEM;
    s->plans = np;
    s->cap_plans = nc;
  }
  pexec *e = &s->plans[s->n_plans];
  memset(e, 0, sizeof *e);
  cl_place_problem p;
  cl_place_problem_init(&p);
  cl_place_problem_add(&p, s->cfg->device);
  cl_place_problem_add(&p, s->cfg->edge);
  p.pin_inputs = false;
  int rc = cl_planner_evaluate(pl, &p, assign, &e->plan);
  if (rc) return rc;
  snprintf(e->plan.name, sizeof e->plan.name, "%s", name);
  e->hash = h;
  if ((rc = pexec_build(s->ctx, g, e))) {
    pexec_free(s->ctx, e);
    return cl_err(s->ctx, rc, "simulation: out of memory");
  }
  return s->n_plans++;
}

/* ---- AUTO: the policy rules and the planner on what the device can see ---- */

typedef struct auto_state {
  cl_planner *pl;
  cl_plan_cache *cache;
  cl_hysteresis hyst;
  int current; /* plan index in use, -1 before the first */
  cl_plan cand;
} auto_state;

static int thermal_level(double h) {
  static const double steps[6] = {0.5, 0.7, 0.9, 1.0, 1.2, 1.5};
  int l = 0;
  while (l < 6 && h >= steps[l])
    l++;
  return l;
}

/* The signals of the moment: the link's mean over the past window, its current rtt and radio, the battery and
 * the temperature mapped to headroom (1.0 at max_c, where the thermal model reaches its slowest speed). */
static void sim_signals(const sim *s, cl_signals *sig, int *radio, bool *warm) {
  const cl_sim_config *c = s->cfg;
  cl_signals_clear(sig);
  const cl_link_sample *ls = cl_trace_at(c->link, s->now);
  double w = c->window_s > 0 ? c->window_s : 2, up, down;
  if (s->now > 0)
    cl_trace_mean(c->link, s->now - w > 0 ? s->now - w : 0, s->now, &up, &down);
  else
    up = ls->up_mbps, down = ls->down_mbps;
  const cl_radio_model *m;
  *radio = (int)sim_radio_at(s, s->now, &m);
  *warm = s->radio_end >= 0 && s->now - s->radio_end <= m->tail_s;
  int online = ls->up_mbps > 0 && ls->down_mbps > 0;
  cl_signals_put(sig, CLEAVE_SIGNAL_NET_ONLINE, online, CL_ORIGIN_TRACE);
  if (online) {
    cl_signals_put(sig, CLEAVE_SIGNAL_NET_UPLINK_MBPS, up > 0 ? up : ls->up_mbps, CL_ORIGIN_TRACE);
    cl_signals_put(sig, CLEAVE_SIGNAL_NET_DOWNLINK_MBPS, down > 0 ? down : ls->down_mbps, CL_ORIGIN_TRACE);
    cl_signals_put(sig, CLEAVE_SIGNAL_NET_RTT_MS, ls->rtt_ms, CL_ORIGIN_TRACE);
  }
  cl_signals_put(sig, CLEAVE_SIGNAL_NET_METERED,
                 *radio == CL_RADIO_LTE || *radio == CL_RADIO_3G || *radio == CL_RADIO_5G, CL_ORIGIN_TRACE);
  double cap_j = (c->battery_wh > 0 ? c->battery_wh : 15) * 3600;
  double level = (c->battery_start > 0 ? c->battery_start : 1) - s->energy_j / cap_j;
  cl_signals_put(sig, CLEAVE_SIGNAL_BATTERY_LEVEL, level > 0 ? level : 0, CL_ORIGIN_SIM);
  cl_signals_put(sig, CLEAVE_SIGNAL_BATTERY_CHARGING, 0, CL_ORIGIN_SIM);
  const cl_thermal_model *th = &c->device->thermal;
  if (th->r_c_per_w > 0 && th->max_c > th->ambient_c) {
    double h = (s->temp_c - th->ambient_c) / (th->max_c - th->ambient_c);
    cl_signals_put(sig, CLEAVE_SIGNAL_THERMAL_HEADROOM, h > 0 ? h : 0, CL_ORIGIN_SIM);
    cl_signals_put(sig, CLEAVE_SIGNAL_TEMPERATURE_C, s->temp_c, CL_ORIGIN_SIM);
  }
  double q = s->res[R_EDGE].free_at - s->now;
  cl_signals_put(sig, CLEAVE_SIGNAL_EDGE_QUEUE_MS, q > 0 ? q * 1e3 : 0, CL_ORIGIN_SIM);
}

static int auto_choose(sim *s, auto_state *as) {
  const cl_sim_config *c = s->cfg;
  cl_signals sig;
  int radio;
  bool warm;
  sim_signals(s, &sig, &radio, &warm);
  cl_policy_result r;
  if (cl_policy_builtin(s->ctx, &sig, c->mode, c->power, &r)) return 0; /* the mode cannot be met: the device */
  cl_place_problem p;
  cl_place_problem_init(&p);
  cl_place_problem_add(&p, c->device);
  cl_place_problem_add(&p, c->edge);
  p.pin_inputs = c->pin_inputs;
  p.net.radio = (cl_radio_kind)radio;
  p.net.radio_warm = warm;
  cl_policy_apply(&r, &p);
  double h = cl_signals_get(&sig, CLEAVE_SIGNAL_THERMAL_HEADROOM, 0), level = sig.v[CLEAVE_SIGNAL_BATTERY_LEVEL];
  cl_conditions cond = {.up_mbps = r.d.edge_allowed ? p.net.up_mbps : 0,
                        .down_mbps = r.d.edge_allowed ? p.net.down_mbps : 0,
                        .rtt_ms = p.net.rtt_ms,
                        .thermal_level = thermal_level(h),
                        .battery_band = level < 0.15  ? 0
                                        : level < 0.5 ? 1
                                                      : 2,
                        .mode = (int)c->mode,
                        .extra = (uint32_t)warm | (uint32_t)radio << 1 | (uint32_t)(r.cost_per_mb > 0) << 4};
  cl_plan_key key = cl_plan_key_of(&cond);
  const cl_plan *prop = cl_plan_cache_get(as->cache, &key);
  if (!prop) {
    int rc = cl_planner_plan(as->pl, &p, &as->cand);
    if (rc == CLEAVE_ENOMEM) return rc;
    if (rc) return as->current >= 0 ? as->current : 0; /* nothing feasible: keep going as before */
    rc = cl_plan_cache_put(as->cache, &key, &as->cand);
    cl_plan_free(s->ctx, &as->cand);
    if (rc) return rc;
    prop = cl_plan_cache_get(as->cache, &key);
  }
  int idx = plan_index(s, as->pl, prop->assign, prop->name);
  if (idx < 0) return idx;
  if (as->current < 0 || idx == as->current) return as->current = idx;
  const int *cur = s->plans[as->current].plan.assign;
  double cur_value = INFINITY;
  if (cl_planner_check(as->pl, &p, cur) == 0) {
    cl_plan tmp;
    if (cl_planner_evaluate(as->pl, &p, cur, &tmp) == 0) {
      cur_value = tmp.obj.value;
      cl_plan_free(s->ctx, &tmp);
    }
  }
  if (cl_hysteresis_offer(&as->hyst, cur_value, prop->obj.value, s->plans[idx].hash)) as->current = idx;
  return as->current;
}

/* ---- the oracle: every plan tried on the real link and queues of the moment ---- */

typedef struct whatif_scratch {
  double *seg_end, *x_land;
  int cap_seg, cap_x;
} whatif_scratch;

static double whatif(sim *s, int k, whatif_scratch *w) {
  const sim *cs = s;
  const pexec *e = &s->plans[k];
  const cl_sim_config *c = s->cfg;
  double t0 = s->now, spd = speed_now(s);
  double fr[N_RES];
  for (int r = 0; r < N_RES; r++)
    fr[r] = s->res[r].free_at > t0 ? s->res[r].free_at : t0;
  double energy = 0, cost = 0, local_ms = 0, radio_end = s->radio_end, end = t0, fail_t = -1;
  for (int i = 0; i < e->n_x; i++)
    w->x_land[i] = -1;
    /* Transfers start when their data is ready and their link is free, in the order the DES would queue them. */
#define XFER(xi, ready)                                                                                              \
  do {                                                                                                               \
    const xfer *x_ = &e->x[xi];                                                                                      \
    int up_ = x_->dst_dev == EDGE, r_ = up_ ? R_UP : R_DOWN;                                                         \
    double st_ = (ready) > fr[r_] ? (ready) : fr[r_];                                                                \
    const cl_link_sample *ls_ = cl_trace_at(c->link, st_);                                                           \
    if ((up_ ? ls_->up_mbps : ls_->down_mbps) <= 0) {                                                                \
      if (fail_t < 0 || st_ < fail_t) fail_t = st_;                                                                  \
      w->x_land[xi] = INFINITY;                                                                                      \
      break;                                                                                                         \
    }                                                                                                                \
    const cl_radio_model *m_;                                                                                        \
    sim_radio_at(cs, st_, &m_);                                                                                      \
    double promo_ = 0;                                                                                               \
    if (radio_end < 0 || st_ - radio_end > m_->tail_s) {                                                             \
      promo_ = m_->promo_s;                                                                                          \
      energy += m_->promo_s * m_->promo_mw + m_->tail_s * m_->tail_mw;                                               \
    } else if (st_ > radio_end)                                                                                      \
      energy += (st_ - radio_end) * m_->tail_mw;                                                                     \
    double send_ = cl_trace_transfer_s(c->link, st_ + promo_, x_->bytes, up_);                                       \
    if (!(promo_ + send_ <= timeout_s(s))) {                                                                         \
      double ft_ = st_ + timeout_s(s);                                                                               \
      if (fail_t < 0 || ft_ < fail_t) fail_t = ft_;                                                                  \
      w->x_land[xi] = INFINITY;                                                                                      \
      break;                                                                                                         \
    }                                                                                                                \
    double mbps_ = send_ > 0 ? x_->bytes * 8 / send_ / 1e6 : 0;                                                      \
    energy += (m_->base_mw + (up_ ? m_->up_mw_per_mbps : m_->down_mw_per_mbps) * mbps_) * send_;                     \
    fr[r_] = st_ + promo_ + send_;                                                                                   \
    if (fr[r_] > radio_end) radio_end = fr[r_];                                                                      \
    w->x_land[xi] = fr[r_] + ls_->rtt_ms / 2e3;                                                                      \
    if (w->x_land[xi] > end) end = w->x_land[xi];                                                                    \
  } while (0)
  for (int i = 0; i < e->n_first_x; i++)
    XFER(e->first_x[i], t0);
  for (int j = 0; j < e->n_seg && fail_t < 0; j++) {
    double ready = t0;
    for (int i = 0; i < e->n_in_s[j]; i++)
      if (w->seg_end[e->in_s[j][i]] > ready) ready = w->seg_end[e->in_s[j][i]];
    for (int i = 0; i < e->n_in_x[j]; i++)
      if (w->x_land[e->in_x[j][i]] > ready) ready = w->x_land[e->in_x[j][i]];
    int dev = e->plan.segments[j].device, r = dev == DEV ? R_DEV : R_EDGE;
    double st = ready > fr[r] ? ready : fr[r], ms = e->plan.segments[j].compute_ms;
    if (dev == DEV) {
      ms /= spd;
      local_ms += ms;
      energy += c->device->active_w * ms;
    } else {
      cost += c->edge->cost_per_s * ms / 1e3;
    }
    fr[r] = w->seg_end[j] = st + ms / 1e3;
    if (w->seg_end[j] > end) end = w->seg_end[j];
    for (int i = 0; i < e->n_out_x[j]; i++)
      XFER(e->out_x[j][i], w->seg_end[j]);
  }
#undef XFER
  if (fail_t >= 0) { /* the fallback: the whole model on the device after the failure */
    double st = fail_t > fr[R_DEV] ? fail_t : fr[R_DEV], ms = s->all_local_ms / spd;
    end = st + ms / 1e3;
    local_ms += ms;
    energy += c->device->active_w * ms;
  }
  double lat_ms = (end - t0) * 1e3;
  if (lat_ms > local_ms) energy += c->device->idle_w * (lat_ms - local_ms);
  return s->wl * lat_ms + s->we * energy + s->wc * cost;
}

static int oracle_choose(sim *s, whatif_scratch *w) {
  int best = 0;
  double best_v = INFINITY;
  for (int k = 0; k < s->n_plans; k++) {
    const pexec *e = &s->plans[k];
    if (e->n_seg > w->cap_seg || e->n_x > w->cap_x) {
      int ns = e->n_seg > w->cap_seg ? e->n_seg : w->cap_seg, nx = e->n_x > w->cap_x ? e->n_x : w->cap_x;
      double *a = cl_realloc(s->ctx, w->seg_end, (size_t)(ns + 1) * sizeof *a);
      if (!a) return CLEAVE_ENOMEM;
      w->seg_end = a;
      double *b = cl_realloc(s->ctx, w->x_land, (size_t)(nx + 1) * sizeof *b);
      if (!b) return CLEAVE_ENOMEM;
      w->x_land = b;
      w->cap_seg = ns;
      w->cap_x = nx;
    }
    double v = whatif(s, k, w);
    if (v < best_v) best_v = v, best = k;
  }
  return best;
}

/* ---- one run of one policy ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void reset(sim *s) {
  const cl_thermal_model *th = &s->cfg->device->thermal;
  s->now = s->last_t = s->energy_j = 0;
  s->temp_c = th->r_c_per_w > 0 ? th->ambient_c : 25;
  s->dev_busy = false;
  s->radio_end = -1;
  s->radio_req = -1;
  for (int r = 0; r < N_RES; r++) {
    s->res[r].head = s->res[r].tail = 0;
    s->res[r].busy = -1;
    s->res[r].free_at = 0;
  }
  s->n_ev = 0;
  s->n_jobs = 0;
  for (int i = 0; i < s->n_req; i++) {
    cl_free(s->ctx, s->req[i].npre);
    memset(&s->req[i], 0, sizeof s->req[i]);
  }
}

static int arrive(sim *s, int i, int plan) {
  request *q = &s->req[i];
  const pexec *e = &s->plans[plan];
  q->t0 = s->now;
  q->plan = plan;
  q->temp_c = (float)s->temp_c;
  q->pending = e->n_seg + e->n_x;
  if (!(q->npre = cl_malloc(s->ctx, (size_t)(e->n_seg + 1) * sizeof *q->npre))) return CLEAVE_ENOMEM;
  memcpy(q->npre, e->npre, (size_t)e->n_seg * sizeof *q->npre);
  int rc = 0;
  for (int k = 0; !rc && k < e->n_seg; k++)
    if (q->npre[k] == 0) rc = seg_ready(s, i, k);
  for (int k = 0; !rc && k < e->n_first_x; k++)
    rc = xfer_ready(s, i, e->first_x[k]);
  return rc;
}

typedef struct run_ctx {
  int policy, fixed;
  auto_state *as;
  whatif_scratch *w;
  double progress_base, progress_span;
} run_ctx;

static int run_policy(sim *s, const run_ctx *rc_, cl_sim_point *pts, cl_sim_summary *sum) {
  reset(s);
  int rc = 0;
  for (int i = 0; !rc && i < s->n_arr; i++)
    rc = ev_push(s, s->arr[i], EV_ARRIVE, i, 0);
  long steps = 0;
  while (!rc && s->n_ev > 0) {
    event ev = ev_pop(s);
    advance(s, ev.t);
    s->now = ev.t;
    if (ev.type == EV_ARRIVE) {
      int plan = rc_->fixed;
      if (rc_->policy == CL_SIM_AUTO)
        plan = auto_choose(s, rc_->as);
      else if (rc_->policy == CL_SIM_ORACLE)
        plan = oracle_choose(s, rc_->w);
      if (plan < 0)
        rc = plan;
      else
        rc = arrive(s, ev.a, plan);
      if (s->cfg->progress && (ev.a & 63) == 0)
        s->cfg->progress(s->cfg->progress_user, rc_->progress_base + rc_->progress_span * ev.a / s->n_arr);
    } else if (ev.type == EV_DONE) {
      rc = job_done(s, ev.a, ev.b);
    } else {
      rc = xfer_landed(s, ev.a, ev.b);
    }
    steps++;
  }
  if (rc) return rc == CLEAVE_ENOMEM ? cl_err(s->ctx, rc, "simulation: out of memory") : rc;
  /* The last tail, and idle time to the end of the run. */
  double end = s->cfg->duration_s;
  if (s->now > end) end = s->now;
  advance(s, end);
  if (s->radio_req >= 0) {
    const cl_radio_model *m;
    sim_radio_at(s, s->radio_end, &m);
    double tail = end - s->radio_end < m->tail_s ? end - s->radio_end : m->tail_s;
    s->req[s->radio_req].energy_mj += tail * m->tail_mw;
    s->energy_j += tail * m->tail_mw / 1e3;
  }
  const cl_sim_config *c = s->cfg;
  double cap_j = (c->battery_wh > 0 ? c->battery_wh : 15) * 3600;
  double *lat = cl_malloc(s->ctx, (size_t)(s->n_req + 1) * sizeof *lat);
  if (!lat) return cl_err(s->ctx, CLEAVE_ENOMEM, "simulation: out of memory");
  memset(sum, 0, sizeof *sum);
  sum->n = s->n_req;
  double obj = 0, sum_lat = 0, e_at = 0;
  for (int i = 0; i < s->n_req; i++) {
    request *q = &s->req[i];
    if (!q->finished) q->done_t = end; /* cannot happen: every failure falls back to the device */
    double l = (q->done_t - q->t0) * 1e3;
    if (l > q->local_ms) q->energy_mj += c->device->idle_w * (l - q->local_ms);
    double o = s->wl * l + s->we * q->energy_mj + s->wc * q->cost;
    bool missed = c->deadline_ms > 0 && l > c->deadline_ms;
    lat[i] = l;
    sum_lat += l;
    obj += o;
    sum->misses += missed;
    sum->fallbacks += q->fallback;
    sum->up_bytes += q->up_bytes;
    sum->down_bytes += q->down_bytes;
    if (i > 0 && q->plan != s->req[i - 1].plan) sum->plan_changes++;
    if (q->temp_c > sum->max_temp_c) sum->max_temp_c = q->temp_c;
    e_at += q->energy_mj / 1e3;
    pts[i] = (cl_sim_point){.t_s = (float)q->t0,
                            .latency_ms = (float)l,
                            .energy_mj = (float)q->energy_mj,
                            .objective = (float)o,
                            .temp_c = q->temp_c,
                            .plan = (int16_t)q->plan,
                            .fallback = q->fallback,
                            .missed = missed};
  }
  /* Battery level along the run: the energy of requests so far plus idle power, scaled to the run's total. */
  double idle_j = c->device->idle_w * end, acc = 0, start = c->battery_start > 0 ? c->battery_start : 1;
  double scale = e_at + idle_j > 0 ? s->energy_j / (e_at + idle_j) : 1;
  for (int i = 0; i < s->n_req; i++) {
    acc += s->req[i].energy_mj / 1e3;
    pts[i].battery = (float)(start - scale * (acc + c->device->idle_w * s->req[i].t0) / cap_j);
  }
  if (s->n_req) {
    qsort(lat, (size_t)s->n_req, sizeof *lat, cmp_double);
    sum->p50_ms = lat[(s->n_req - 1) / 2];
    sum->p95_ms = lat[(int)ceil(0.95 * s->n_req) - 1];
    sum->mean_ms = sum_lat / s->n_req;
    sum->mean_objective = obj / s->n_req;
  }
  sum->energy_j = s->energy_j;
  sum->battery_used = s->energy_j / cap_j;
  cl_free(s->ctx, lat);
  return 0;
}

/* ---- the whole comparison ---- */

const char *cl_sim_policy_name(cl_sim_policy p) {
  static const char *const names[] = {"auto", "all-local", "all-edge", "best-static", "oracle"};
  return (int)p >= 0 && p < CL_SIM_POLICIES ? names[p] : "?";
}

/* xorshift64*: arrivals must not depend on the C library's rand(). */
static double uniform(uint64_t *st) {
  uint64_t x = *st;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *st = x;
  return ((x * UINT64_C(2685821657736338717)) >> 11) * (1.0 / 9007199254740992.0);
}

static int check_config(cleave_ctx *ctx, const cl_sim_config *c) {
  if (!c->graph || !c->device || !c->edge || !c->link)
    return cl_err(ctx, CLEAVE_EINVAL, "simulation: a model, a device profile, an edge profile and a link are needed");
  if (c->device->kind == CL_DEV_EDGE) return cl_err(ctx, CLEAVE_EINVAL, "simulation: the device profile is an edge");
  if (c->edge->kind != CL_DEV_EDGE) return cl_err(ctx, CLEAVE_EINVAL, "simulation: the edge profile is not an edge");
  if (!(c->duration_s > 0) || !isfinite(c->duration_s))
    return cl_err(ctx, CLEAVE_EINVAL, "simulation: duration %g s must be positive", c->duration_s);
  if (!c->arrivals && !(c->rate_per_s > 0 && isfinite(c->rate_per_s)))
    return cl_err(ctx, CLEAVE_EINVAL, "simulation: arrival rate %g /s must be positive", c->rate_per_s);
  if (c->deadline_ms < 0 || c->timeout_ms < 0 || c->battery_wh < 0 || c->battery_start < 0 || c->battery_start > 1 ||
      c->w_lat < 0 || c->w_energy < 0 || c->w_cost < 0 || c->window_s < 0)
    return cl_err(ctx, CLEAVE_EINVAL,
                  "simulation: deadline, timeout, battery, weights and window must be >= 0 "
                  "(battery start at most 1)");
  for (int i = 1; c->arrivals && i < c->n_arrivals; i++)
    if (!(c->arrivals[i] >= c->arrivals[i - 1]))
      return cl_err(ctx, CLEAVE_EINVAL, "simulation: arrival %d (%g s) comes before the one before it", i,
                    c->arrivals[i]);
  return 0;
}

void cl_sim_result_free(cl_sim_result *r) {
  if (!r || !r->ctx) return;
  for (int p = 0; p < CL_SIM_POLICIES; p++)
    cl_free(r->ctx, r->pts[p]);
  cl_free(r->ctx, r->plans);
  cl_free(r->ctx, r->link_t);
  cl_free(r->ctx, r->link_up);
  cl_free(r->ctx, r->link_down);
  memset(r, 0, sizeof *r);
}

int cl_sim_run(cleave_ctx *ctx, const cl_sim_config *cfg, cl_sim_result *out) {
  memset(out, 0, sizeof *out);
  cl_sim_config c = *cfg;
  if (c.duration_s == 0 && c.link) c.duration_s = c.link->duration_s;
  int rc = check_config(ctx, &c);
  if (rc) return rc;
  sim s = {.ctx = ctx, .cfg = &c};
  auto_state as = {.current = -1};
  whatif_scratch w = {0};
  cl_hysteresis_init(&as.hyst);
  s.wl = c.w_lat, s.we = c.w_energy, s.wc = c.w_cost;
  if (s.wl + s.we + s.wc == 0) s.wl = CL_POLICY_W_LATENCY, s.we = CL_POLICY_W_ENERGY, s.wc = CL_POLICY_W_COST;
  int *assign = NULL;
  double *arr = NULL;
  /* Arrivals. */
  if (c.arrivals) {
    int n = 0;
    while (n < c.n_arrivals && c.arrivals[n] < c.duration_s)
      n++;
    s.arr = c.arrivals;
    s.n_arr = n;
  } else {
    uint64_t st = c.seed ? c.seed : UINT64_C(0x9E3779B97F4A7C15);
    int cap = 0, n = 0;
    for (double t = -log(1 - uniform(&st)) / c.rate_per_s; t < c.duration_s;
         t += -log(1 - uniform(&st)) / c.rate_per_s) {
      if (n == cap) {
        if (cap >= (1 << 24)) {
          rc = cl_err(ctx, CLEAVE_ELIMIT, "simulation: more than %d requests", 1 << 24);
          goto done;
        }
        cap = cap ? 2 * cap : 1024;
        double *na = cl_realloc(ctx, arr, (size_t)cap * sizeof *na);
        if (!na) goto nomem;
        arr = na;
      }
      arr[n++] = t;
    }
    s.arr = arr;
    s.n_arr = n;
  }
  s.n_req = s.n_arr;
  if (!(s.req = cl_calloc(ctx, (size_t)s.n_req + 1, sizeof *s.req))) goto nomem;
  out->ctx = ctx;
  out->n_pts = s.n_req;
  for (int p = 0; p < CL_SIM_POLICIES; p++)
    if (!(out->pts[p] = cl_calloc(ctx, (size_t)s.n_req + 1, sizeof *out->pts[p]))) goto nomem;

  /* The plan table starts with all-local and all-edge. */
  const cl_graph *g = c.graph;
  if ((rc = cl_planner_new(ctx, g, &as.pl))) goto done;
  if ((rc = cl_plan_cache_new(ctx, 64, &as.cache))) goto done;
  if (!(assign = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof *assign))) goto nomem;
  if ((rc = plan_index(&s, as.pl, assign, "all-local")) < 0) goto done;
  for (int i = 0; i < g->n_nodes; i++)
    assign[i] = EDGE;
  if ((rc = plan_index(&s, as.pl, assign, "all-edge")) < 0) goto done;
  s.all_local_ms = 0;
  for (int k = 0; k < s.plans[0].n_seg; k++)
    s.all_local_ms += s.plans[0].plan.segments[k].compute_ms;

  run_ctx r = {.policy = CL_SIM_AUTO, .as = &as, .progress_span = 0.4};
  if ((rc = run_policy(&s, &r, out->pts[CL_SIM_AUTO], &out->sum[CL_SIM_AUTO]))) goto done;
  /* Every plan run alone: all-local, all-edge and each split AUTO used; the best mean objective is the best
   * static split. */
  int n_static = s.n_plans;
  double best = INFINITY;
  cl_sim_summary tmp;
  cl_sim_point *tmp_pts = cl_calloc(ctx, (size_t)s.n_req + 1, sizeof *tmp_pts);
  if (!tmp_pts) goto nomem;
  for (int k = 0; k < n_static; k++) {
    run_ctx rs = {.policy = CL_SIM_STATIC,
                  .fixed = k,
                  .progress_base = 0.4 + 0.4 * k / n_static,
                  .progress_span = 0.4 / n_static};
    cl_sim_point *dst = k == 0 ? out->pts[CL_SIM_LOCAL] : k == 1 ? out->pts[CL_SIM_EDGE] : tmp_pts;
    if ((rc = run_policy(&s, &rs, dst, &tmp))) {
      cl_free(ctx, tmp_pts);
      goto done;
    }
    if (k == 0) out->sum[CL_SIM_LOCAL] = tmp;
    if (k == 1) out->sum[CL_SIM_EDGE] = tmp;
    if (tmp.mean_objective < best) {
      best = tmp.mean_objective;
      out->static_plan = k;
      out->sum[CL_SIM_STATIC] = tmp;
      memcpy(out->pts[CL_SIM_STATIC], dst, (size_t)s.n_req * sizeof *dst);
    }
  }
  cl_free(ctx, tmp_pts);
  run_ctx ro = {.policy = CL_SIM_ORACLE, .w = &w, .progress_base = 0.8, .progress_span = 0.2};
  if ((rc = run_policy(&s, &ro, out->pts[CL_SIM_ORACLE], &out->sum[CL_SIM_ORACLE]))) goto done;
  if (c.progress) c.progress(c.progress_user, 1);

  /* What the report needs besides the points. */
  out->duration_s = c.duration_s;
  out->w_lat = s.wl, out->w_energy = s.we, out->w_cost = s.wc;
  snprintf(out->device, sizeof out->device, "%s", c.device->name);
  snprintf(out->edge, sizeof out->edge, "%s", c.edge->name);
  if (!(out->plans = cl_calloc(ctx, (size_t)s.n_plans, sizeof *out->plans))) goto nomem;
  out->n_plans = s.n_plans;
  for (int k = 0; k < s.n_plans; k++) {
    const pexec *e = &s.plans[k];
    cl_sim_plan_info *pi = &out->plans[k];
    snprintf(pi->name, sizeof pi->name, "%s", e->plan.name);
    pi->n_nodes = g->n_nodes;
    for (int i = 0; i < g->n_nodes; i++)
      pi->edge_nodes += e->plan.assign[i] == EDGE;
    for (int j = 0; j < e->n_seg; j++)
      *(e->plan.segments[j].device == DEV ? &pi->local_ms : &pi->edge_ms) += e->plan.segments[j].compute_ms;
    for (int i = 0; i < e->n_x; i++)
      *(e->x[i].dst_dev == EDGE ? &pi->up_bytes : &pi->down_bytes) += e->x[i].bytes;
  }
  out->n_link = 600;
  out->link_t = cl_malloc(ctx, 600 * sizeof(float));
  out->link_up = cl_malloc(ctx, 600 * sizeof(float));
  out->link_down = cl_malloc(ctx, 600 * sizeof(float));
  if (!out->link_t || !out->link_up || !out->link_down) goto nomem;
  for (int i = 0; i < 600; i++) {
    double t0 = c.duration_s * i / 600, t1 = c.duration_s * (i + 1) / 600, up, down;
    cl_trace_mean(c.link, t0, t1, &up, &down);
    out->link_t[i] = (float)t0;
    out->link_up[i] = (float)up;
    out->link_down[i] = (float)down;
  }
  rc = 0;
  goto done;
nomem:
  rc = cl_err(ctx, CLEAVE_ENOMEM, "simulation: out of memory");
done:
  if (rc) cl_sim_result_free(out);
  for (int i = 0; i < s.n_req; i++)
    cl_free(ctx, s.req[i].npre);
  cl_free(ctx, s.req);
  for (int k = 0; k < s.n_plans; k++)
    pexec_free(ctx, &s.plans[k]);
  cl_free(ctx, s.plans);
  for (int r2 = 0; r2 < N_RES; r2++)
    cl_free(ctx, s.res[r2].q);
  cl_free(ctx, s.ev);
  cl_free(ctx, s.jobs);
  cl_free(ctx, w.seg_end);
  cl_free(ctx, w.x_land);
  cl_free(ctx, assign);
  cl_free(ctx, arr);
  cl_plan_cache_free(as.cache);
  cl_planner_free(as.pl);
  return rc;
}
