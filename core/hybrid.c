/* core: hybrid sessions: devices, edges and their profiles, the link as measured, the policy's decision, plans made,
 * cached and adopted with hysteresis, segments with their programs, and what finished runs feed back. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/session.h"
#include "partitioner/network.h"
#include "policies/apply.h"
#include "policies/settings.h"
#include "remote/edge_impl.h"

#define PLAN_CACHE_SIZE 32
#define SIGNALS_EVERY_MS 1000 /* the system's files are read at most this often */
#define EPOCH_MS 2000         /* plans are remade at most this often as the correction moves */
#define PROBE_EVERY_MS 2000   /* an edge the plan does not use is probed this often */
#define PROFILE_RETRY_MS 10000 /* a gateway that gave no profile is asked again after this */
#define BACKOFF_MIN_MS 250.0   /* an edge that failed is not planned for this long, doubling per failure */
#define BACKOFF_MAX_MS 8000.0
#define EXPLORE_FACTOR 1.5          /* an untested edge is tried once when within this factor of the best */
#define UPLOAD_TIMEOUT_MS 600000    /* a model's upload may take minutes on a slow link, but not for ever */

/* Requests about an edge outlive a session that goes first: they are detached (h NULL) and freed when they end
 * (an edge answers every request, at the latest when it is closed, which comes before the context's end). */
typedef struct cl_hfetch {
  cleave_ctx *ctx;
  cl_hybrid *h;
  int edge;
} cl_hfetch;

/* ---- programs ---- */

cl_hprog *cl_hybrid_prog(cl_hybrid *h, int device, const int *in, int n_in, const int *out, int n_out) {
  for (cl_hprog *p = h->progs; p; p = p->next)
    if (p->device == device && p->n_in == n_in && p->n_out == n_out &&
        !memcmp(p->in, in, sizeof(int) * (size_t)n_in) && !memcmp(p->out, out, sizeof(int) * (size_t)n_out))
      return p;
  cl_hprog *p = cl_calloc(h->ctx, 1, sizeof *p);
  if (!p) return NULL;
  p->device = device;
  p->n_in = n_in;
  p->n_out = n_out;
  p->in = cl_dup_ints(h->ctx, in, n_in);
  p->out = cl_dup_ints(h->ctx, out, n_out);
  if (!p->in || !p->out) {
    cl_free(h->ctx, p->in);
    cl_free(h->ctx, p->out);
    cl_free(h->ctx, p);
    return NULL;
  }
  p->next = h->progs;
  h->progs = p;
  return p;
}

/* ---- plans ---- */

static void hplan_free(cl_hybrid *h, cl_hplan *p) {
  cleave_ctx *ctx = h->ctx;
  for (int i = 0; p->seg && i < p->n_seg; i++) {
    cl_hseg *s = &p->seg[i];
    cl_free(ctx, s->in);
    cl_free(ctx, s->out);
    cl_free(ctx, s->extra);
    cl_free(ctx, s->next);
  }
  cl_free(ctx, p->seg);
  cl_free(ctx, p->slot_value);
  cl_free(ctx, p->in_slot);
  cl_free(ctx, p->out_slot);
  cl_plan_free(ctx, &p->plan);
  cl_free(ctx, p);
}

/* Plans are freed only by eviction from the session's list (when no run uses them) and with the session. */
void cl_hplan_unref(cl_hybrid *h, cl_hplan *p) {
  (void)h;
  if (p) p->refs--;
}

/* The local profile of problem device d (d < n_local). */
static const cl_profile *edge_profile(const cl_hybrid *h, int e) {
  const cl_hedge *ed = &h->edge[e];
  return ed->given ? ed->given : ed->has_profile ? &ed->fetched : NULL;
}

/* The predictions of hp's segments under problem p, where plan is hp's assignment as the planner just valued it:
 * a local segment's compute, an edge segment's whole request (up, the edge's queue and compute, down, a round trip).
 * Remade each time the plan is chosen again, so that they follow the correction and the link. */
static void hplan_predict(cl_hybrid *h, cl_hplan *hp, const cl_place_problem *p, const cl_plan *plan) {
  hp->plan.obj = plan->obj;
  hp->net = p->net;
  for (int k = 0; k < hp->n_seg; k++) {
    const cl_plan_segment *ps = &hp->plan.segments[k];
    cl_hseg *s = &hp->seg[k];
    double compute = 0;
    for (int i = 0; i < ps->n_nodes; i++)
      compute += cl_planner_node_ms(h->pl, p, ps->nodes[i], ps->device);
    s->pred_ms = compute;
    if (s->local < 0)
      s->pred_ms += cl_net_up_ms(&p->net, s->up_bytes) + cl_net_down_ms(&p->net, s->down_bytes) + p->net.rtt_ms +
                    p->edge_queue_ms;
  }
}

/* Compiles plan (under problem p, offloading to edge e or none) into segments, slots and programs. */
static int hplan_build(cl_hybrid *h, const cl_place_problem *p, const cl_plan *plan, int e, cl_hplan **out) {
  cleave_ctx *ctx = h->ctx;
  const cl_graph *g = &h->model->graph;
  *out = NULL;
  cl_hplan *hp = cl_calloc(ctx, 1, sizeof *hp);
  int *vslot = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_values + 1));
  int rc = CLEAVE_ENOMEM;
  if (!hp || !vslot || cl_plan_copy(ctx, plan, &hp->plan)) goto fail;
  hp->refs = 1;
  hp->edge = e;
  hp->hash = cl_plan_assign_hash(plan->assign, plan->n_nodes) ^ (uint64_t)(e + 1) * 0x9e3779b97f4a7c15ull;
  hp->n_seg = plan->n_segments;
  hp->seg = cl_calloc(ctx, (size_t)hp->n_seg + 1, sizeof *hp->seg);
  hp->slot_value = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_values + 1));
  hp->in_slot = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_inputs + 1));
  hp->out_slot = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_outputs + 1));
  if (!hp->seg || !hp->slot_value || !hp->in_slot || !hp->out_slot) goto fail;
  for (int v = 0; v < g->n_values; v++)
    vslot[v] = -1;
#define SLOT(v) (vslot[v] >= 0 ? vslot[v] : (hp->slot_value[hp->n_slots] = (v), vslot[v] = hp->n_slots++))
  for (int i = 0; i < g->n_inputs; i++)
    hp->in_slot[i] = SLOT(g->inputs[i]);
  for (int i = 0; i < g->n_outputs; i++)
    hp->out_slot[i] = SLOT(g->outputs[i]);
  const cl_profile *eprof = e >= 0 ? edge_profile(h, e) : NULL;
  for (int k = 0; k < hp->n_seg; k++) {
    const cl_plan_segment *ps = &plan->segments[k];
    cl_hseg *s = &hp->seg[k];
    s->local = ps->device < h->n_local ? ps->device : -1;
    s->n_nodes = ps->n_nodes;
    s->n_deps = ps->n_deps;
    s->in = cl_malloc(ctx, sizeof(int) * ((size_t)ps->n_inputs + 1));
    s->out = cl_malloc(ctx, sizeof(int) * ((size_t)ps->n_outputs + 1));
    s->extra = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_values + 1));
    if (!s->in || !s->out || !s->extra) goto fail;
    s->n_in = ps->n_inputs;
    s->n_out = ps->n_outputs;
    for (int i = 0; i < ps->n_inputs; i++) {
      s->in[i] = SLOT(ps->inputs[i]);
      s->up_bytes += cl_planner_value_bytes(h->pl, ps->inputs[i]);
    }
    for (int i = 0; i < ps->n_outputs; i++) {
      s->out[i] = SLOT(ps->outputs[i]);
      s->down_bytes += cl_planner_value_bytes(h->pl, ps->outputs[i]);
    }
    const cl_profile *prof = s->local >= 0 ? h->prof[s->local] : eprof;
    for (int i = 0; i < ps->n_nodes; i++) {
      const cl_node *n = &g->nodes[ps->nodes[i]];
      cl_node_cost c;
      cl_cost_node(g, n, &c);
      cl_op_class cls = cl_op_class_of(g, n);
      double ms = cl_profile_node_ms(prof, &c, cls);
      if (isfinite(ms)) s->pred_class_ms[cls] += ms;
      /* what the specialisation folded, the gateway's copy of the model still computes: it is sent along */
      for (int j = 0; s->local < 0 && j < n->n_in; j++) {
        int v = n->in[j];
        bool seen = false;
        for (int q = 0; v >= 0 && h->folded[v] && q < s->n_extra; q++)
          seen |= hp->slot_value[s->extra[q]] == v;
        if (v >= 0 && h->folded[v] && !seen) {
          s->extra[s->n_extra++] = SLOT(v);
          s->up_bytes += (double)g->values[v].konst->nbytes;
        }
      }
    }
    if (s->local >= 0) {
      s->up_bytes = s->down_bytes = 0;
      if (!(s->prog = cl_hybrid_prog(h, h->local[s->local], ps->inputs, ps->n_inputs, ps->outputs, ps->n_outputs)))
        goto fail;
    } else {
      hp->uses_edge = true;
    }
  }
#undef SLOT
  hplan_predict(h, hp, p, plan);
  /* who reads whom */
  for (int k = 0; k < hp->n_seg; k++) {
    const cl_plan_segment *ps = &plan->segments[k];
    for (int d = 0; d < ps->n_deps; d++)
      hp->seg[ps->deps[d]].n_next++;
  }
  for (int k = 0; k < hp->n_seg; k++) {
    hp->seg[k].next = cl_malloc(ctx, sizeof(int) * ((size_t)hp->seg[k].n_next + 1));
    if (!hp->seg[k].next) goto fail;
    hp->seg[k].n_next = 0;
  }
  for (int k = 0; k < hp->n_seg; k++) {
    const cl_plan_segment *ps = &plan->segments[k];
    for (int d = 0; d < ps->n_deps; d++) {
      cl_hseg *dep = &hp->seg[ps->deps[d]];
      dep->next[dep->n_next++] = k;
    }
  }
  cl_free(ctx, vslot);
  *out = hp;
  return 0;
fail:
  cl_free(ctx, vslot);
  if (hp) hplan_free(h, hp);
  return cl_err(ctx, rc, "out of memory building a plan");
}

/* The compiled plan for plan (offloading to e), made once and kept among the most recent. */
static int hplan_get(cl_hybrid *h, const cl_place_problem *p, const cl_plan *plan, int e, cl_hplan **out) {
  uint64_t hash = cl_plan_assign_hash(plan->assign, plan->n_nodes) ^ (uint64_t)(e + 1) * 0x9e3779b97f4a7c15ull;
  cl_hplan **link = &h->plans;
  for (cl_hplan *q; (q = *link); link = &q->next)
    if (q->hash == hash && q->edge == e) {
      *link = q->next; /* to the front */
      q->next = h->plans;
      h->plans = q;
      hplan_predict(h, q, p, plan);
      *out = q;
      return 0;
    }
  int rc = hplan_build(h, p, plan, e, out);
  if (rc) return rc;
  (*out)->next = h->plans;
  h->plans = *out;
  if (++h->n_plans > CL_HYBRID_MAX_PLANS) { /* the least recent that no run uses goes */
    cl_hplan **victim = NULL;
    for (cl_hplan **l = &h->plans; *l; l = &(*l)->next)
      if ((*l)->refs == 1 && *l != h->current) victim = l;
    if (victim) {
      cl_hplan *v = *victim;
      *victim = v->next;
      h->n_plans--;
      hplan_free(h, v);
    }
  }
  return 0;
}

/* ---- conditions ---- */

static void signals_now(cl_hybrid *h, cl_signals *sig) {
  cleave_ctx *ctx = h->ctx;
  double now = cl_now_ms();
  if (h->sys_at == 0 || now - h->sys_at > SIGNALS_EVERY_MS) {
    cl_signals_clear(&h->sys);
    if (!ctx->policy->system_off) cl_linux_read(ctx->policy->root, &h->sys);
    h->sys_at = now;
  }
  *sig = h->sys;
  cl_host_signals.read(ctx, 0, sig);
}

/* Whether edge e can be planned now: its profile known, the model there, not backing off after a failure. */
static bool edge_available(const cl_hybrid *h, int e, double now) {
  const cl_hedge *ed = &h->edge[e];
  return edge_profile(h, e) && ed->model_ready && now >= ed->down_until;
}

/* The problem of planning now, with edge e (or none) as the last device. */
static void build_problem(cl_hybrid *h, int e, const cl_policy_result *r, cl_place_problem *p) {
  cl_place_problem_init(p);
  for (int i = 0; i < h->n_local; i++) {
    cl_place_problem_add(p, h->prof[i]);
    p->dev[i].node_ok = h->node_ok[i];
  }
  if (e >= 0) cl_place_problem_add(p, edge_profile(h, e));
  p->pin_inputs = !h->offload_inputs;
  p->pinned = h->pinned;
  p->n_pinned = h->n_pinned;
  p->correction = &h->ctx->engine->corr;
  cl_policy_apply(r, p);
  if (h->weights) {
    p->w_lat = h->w[0];
    p->w_energy = h->w[1];
    p->w_cost = h->w[2];
  }
  if (e < 0) return;
  cl_hedge *ed = &h->edge[e];
  cleave_edge_stats st;
  cleave_edge_get_stats(ed->e, &st);
  double up, down;
  cl_edge_link_rates(ed->e, &up, &down); /* as measured lately, else the signals' */
  if (up > 0) p->net.up_mbps = up;
  if (down > 0) p->net.down_mbps = down;
  if (st.rtt_min_ms > 0) p->net.rtt_ms = st.rtt_min_ms; /* the path's; a transfer's own queueing is in its time */
  if (st.load_queue >= 0 && st.load_wait_ms >= 0) p->edge_queue_ms = st.load_wait_ms;
}

static int thermal_level(double headroom) {
  static const double steps[6] = {0.5, 0.7, 0.9, 1.0, 1.2, 1.5};
  int l = 0;
  while (l < 6 && headroom >= steps[l])
    l++;
  return l;
}

static uint32_t mix(uint32_t h, double v) {
  /* weights and the like in 1/16 steps of a doubling */
  int32_t q = v > 0 ? (int32_t)lround(16 * log2(v)) : INT32_MIN;
  return (h ^ (uint32_t)q) * 16777619u;
}

static cl_plan_key key_of(const cl_hybrid *h, const cl_place_problem *p, const cl_signals *sig, int e) {
  double level = cl_signals_get(sig, CLEAVE_SIGNAL_BATTERY_LEVEL, 1);
  bool charging = cl_signals_get(sig, CLEAVE_SIGNAL_BATTERY_CHARGING, 0) == 1;
  uint32_t x = 2166136261u ^ (uint32_t)(e + 1);
  x = mix(x, p->w_lat);
  x = mix(x, p->w_energy);
  x = mix(x, p->w_cost);
  x = mix(x, p->edge_queue_ms + 1);
  x = mix(x, p->edge_cost_mult + 1);
  const cl_correction *corr = &h->ctx->engine->corr;
  for (int i = 0; i < p->n_devices; i++) {
    x = mix(x, p->dev[i].speed);
    x = mix(x, p->dev[i].allowed ? 1 : 0.5);
    /* the correction in the same steps: plans are made again as it moves, and only then */
    for (int k = 0; k < CL_OPC_COUNT; k++)
      x = mix(x, cl_correction_factor(corr, p->dev[i].profile->name, (cl_op_class)k));
  }
  cl_conditions c = {.up_mbps = e >= 0 ? p->net.up_mbps : 0,
                     .down_mbps = e >= 0 ? p->net.down_mbps : 0,
                     .rtt_ms = p->net.rtt_ms,
                     .thermal_level = thermal_level(cl_signals_get(sig, CLEAVE_SIGNAL_THERMAL_HEADROOM, 0)),
                     .battery_band = charging       ? 3
                                     : level < 0.15 ? 0
                                     : level < 0.5  ? 1
                                                    : 2,
                     .mode = (int)p->mode,
                     .extra = x};
  return cl_plan_key_of(&c);
}

/* The best plan under p from the cache or the planner. */
static int plan_for(cl_hybrid *h, const cl_place_problem *p, const cl_plan_key *key, const cl_plan **out) {
  if ((*out = cl_plan_cache_get(h->cache, key))) return 0;
  cl_plan plan;
  int rc = cl_planner_plan(h->pl, p, &plan);
  if (rc) return rc;
  h->replans++;
  cl_log(h->ctx, CLEAVE_LOG_DEBUG,
         "planned %s: %.2f ms predicted (link up %.2f down %.2f Mbit/s, rtt %.1f ms, %d devices)", plan.name,
         plan.obj.latency_ms, p->net.up_mbps, p->net.down_mbps, p->net.rtt_ms, p->n_devices);
  rc = cl_plan_cache_put(h->cache, key, &plan);
  cl_plan_free(h->ctx, &plan);
  if (rc) return rc;
  *out = cl_plan_cache_get(h->cache, key);
  return 0;
}

/* Whether plan puts any node on the edge (the last problem device). */
static bool plan_uses(const cl_hybrid *h, const cl_plan *plan) {
  for (int i = 0; i < plan->n_nodes; i++)
    if (plan->assign[i] >= h->n_local) return true;
  return false;
}

static void start_fetch(cl_hybrid *h, int e);
static void start_probe(cl_hybrid *h, int e);
static void start_ensure(cl_hybrid *h, int e);

int cl_hybrid_plan(cl_hybrid *h, cl_hplan **out) {
  cleave_ctx *ctx = h->ctx;
  double now = cl_now_ms();
  *out = NULL;
  for (int e = 0; e < h->n_edges; e++) {
    cl_hedge *ed = &h->edge[e];
    if (!edge_profile(h, e) && !ed->fetching && now - ed->fetch_at > PROFILE_RETRY_MS) start_fetch(h, e);
    if (edge_profile(h, e) && !ed->model_ready && !ed->ensure && now - ed->ensure_at > PROFILE_RETRY_MS)
      start_ensure(h, e);
  }
  cl_signals sig;
  signals_now(h, &sig);
  cl_policy_result r;
  int rc = cl_policy_decide_as(ctx, &sig, h->mode >= 0 ? (cleave_mode)h->mode : ctx->policy->mode, &r);
  if (rc) return rc;
  cl_place_problem p, best_p;
  const cl_plan *best = NULL;
  int best_e = -1;
  char why[CL_ERRMSG_MAX] = "";
  int last_rc = 0;
  /* the device alone, and with each edge that can be planned now: the lowest objective wins */
  int forced_e = -1;
  for (int i = 0; h->forced && i < h->model->graph.n_nodes; i++)
    if (h->forced[i] >= h->n_local) forced_e = 0;
  if (forced_e >= 0 && !edge_profile(h, 0))
    return cl_err(ctx, CLEAVE_EINFEASIBLE, "the forced plan uses the edge, whose profile is not known yet");
  for (int e = -1; e < h->n_edges; e++) {
    if (h->forced ? e != forced_e : e >= 0 && !edge_available(h, e, now)) continue;
    build_problem(h, e, &r, &p);
    cl_plan_key key = key_of(h, &p, &sig, e);
    const cl_plan *cand = NULL;
    if (h->forced) {
      cl_plan tmp;
      if ((rc = cl_planner_evaluate(h->pl, &p, h->forced, &tmp))) return rc;
      snprintf(tmp.name, sizeof tmp.name, "forced");
      rc = cl_plan_cache_put(h->cache, &key, &tmp);
      cl_plan_free(ctx, &tmp);
      if (rc) return rc;
      cand = cl_plan_cache_get(h->cache, &key);
    } else if ((rc = plan_for(h, &p, &key, &cand))) {
      if (rc == CLEAVE_ENOMEM) return rc;
      last_rc = rc;
      snprintf(why, sizeof why, "%s", cleave_ctx_last_error(ctx));
      continue;
    }
    if (!best || cand->obj.value < best->obj.value) {
      best = cand;
      best_e = e;
      best_p = p;
    }
  }
  if (!best) return cl_err(ctx, last_rc ? last_rc : CLEAVE_EINFEASIBLE, "%s", why[0] ? why : "no plan is feasible");
  /* An edge whose figures were never tested is tried once when the plan it offers is within a factor of the best:
   * the edge's real times then correct its profile (a profile measured on micro-models can be far off). */
  for (int e = 0; !h->forced && e < h->n_edges; e++) {
    cl_hedge *ed = &h->edge[e];
    if (best_e == e || ed->explored || !edge_available(h, e, now) ||
        cl_correction_count(&ctx->engine->corr, edge_profile(h, e)->name) > 0)
      continue;
    build_problem(h, e, &r, &p);
    p.mode = CL_PLACE_PREFER_EDGE;
    p.prefer_factor = EXPLORE_FACTOR;
    cl_plan_key key = key_of(h, &p, &sig, e);
    const cl_plan *cand = NULL;
    if (plan_for(h, &p, &key, &cand) || !plan_uses(h, cand)) continue;
    ed->explored = true;
    cl_hplan *x;
    build_problem(h, e, &r, &p);
    if ((rc = hplan_get(h, &p, cand, e, &x))) return rc;
    cl_log(ctx, CLEAVE_LOG_INFO, "trying edge %s once with plan %s, to test its figures", cl_edge_url(ed->e),
           cand->name);
    x->refs++;
    *out = x;
    return 0;
  }
  cl_hplan *prop;
  if ((rc = hplan_get(h, &best_p, best, best_e, &prop))) return rc;
  if (h->current != prop) {
    double cur_value = INFINITY;
    cl_hplan *cur = h->current;
    if (cur && !h->forced && (cur->edge < 0 || edge_available(h, cur->edge, now))) {
      build_problem(h, cur->edge, &r, &p);
      cl_plan tmp;
      if (cl_planner_check(h->pl, &p, cur->plan.assign) == 0 &&
          cl_planner_evaluate(h->pl, &p, cur->plan.assign, &tmp) == 0) {
        cur_value = tmp.obj.value;
        cl_plan_free(ctx, &tmp);
      }
    }
    if (!cur || h->forced || cl_hysteresis_offer(&h->hyst, cur_value, prop->plan.obj.value, prop->hash)) {
      if (cur) cl_hplan_unref(h, cur);
      prop->refs++;
      h->current = prop;
      cl_log(ctx, CLEAVE_LOG_INFO, "session plan now %s (%d segments, predicted %.2f ms)", prop->plan.name,
             prop->n_seg, prop->plan.obj.latency_ms);
    }
  }
  /* an edge the plan does not use is probed now and then, so that its recovery is seen */
  for (int e = 0; e < h->n_edges; e++)
    if ((h->current->edge != e || !h->current->uses_edge) && edge_available(h, e, now) && !h->edge[e].probe)
      start_probe(h, e);
  h->current->refs++;
  *out = h->current;
  return 0;
}

int cl_hybrid_force(cl_hybrid *h, const int *assign) {
  cleave_ctx *ctx = h->ctx;
  cl_free(ctx, (void *)h->forced);
  h->forced = NULL;
  if (assign && !(h->forced = cl_dup_ints(ctx, assign, h->model->graph.n_nodes)))
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  cl_plan_cache_free(h->cache);
  h->cache = NULL;
  return cl_plan_cache_new(ctx, PLAN_CACHE_SIZE, &h->cache);
}

double cl_hybrid_local_ms(cl_hybrid *h, const cl_hseg *sg, const cl_hplan *p, int dev_local) {
  const cl_graph *g = &h->model->graph;
  (void)g;
  int k = (int)(sg - p->seg);
  const cl_plan_segment *ps = &p->plan.segments[k];
  double ms = 0;
  const cl_correction *corr = &h->ctx->engine->corr;
  for (int i = 0; i < ps->n_nodes; i++) {
    const cl_node *n = &h->model->graph.nodes[ps->nodes[i]];
    cl_node_cost c;
    cl_cost_node(&h->model->graph, n, &c);
    cl_op_class cls = cl_op_class_of(&h->model->graph, n);
    double t = cl_profile_node_ms(h->prof[dev_local], &c, cls);
    if (isfinite(t)) ms += t * cl_correction_factor(corr, h->prof[dev_local]->name, cls);
  }
  return ms;
}

/* ---- feedback ---- */

static void observe_classes(cl_hybrid *h, const char *profile, const double *pred, double measured) {
  double total = 0;
  for (int k = 0; k < CL_OPC_COUNT; k++)
    total += pred[k];
  if (!(total > 0) || !(measured > 0)) return;
  cl_correction *c = &h->ctx->engine->corr;
  for (int k = 0; k < CL_OPC_COUNT; k++)
    if (pred[k] > 0) cl_correction_observe(c, profile, (cl_op_class)k, measured * pred[k] / total, pred[k]);
}

void cl_hybrid_observe_local(cl_hybrid *h, const cl_hseg *sg, int device, double ms) {
  if (sg->local < 0 || h->local[sg->local] != device) return; /* a fallback: predicted for another device */
  observe_classes(h, h->prof[sg->local]->name, sg->pred_class_ms, ms);
}

void cl_hybrid_observe_edge(cl_hybrid *h, int e, const cl_hseg *sg, double total_ms, double edge_recv_ms,
                            double edge_queue_ms, double edge_compute_ms) {
  cl_hedge *ed = &h->edge[e];
  ed->fails = 0;
  double server = (edge_queue_ms > 0 ? edge_queue_ms : 0) + (edge_compute_ms > 0 ? edge_compute_ms : 0);
  cl_edge_link_sample(ed->e, sg->up_bytes, sg->down_bytes, total_ms - server, edge_recv_ms, CL_LINK_RUN);
  const cl_profile *prof = edge_profile(h, e);
  if (prof && edge_compute_ms > 0) observe_classes(h, prof->name, sg->pred_class_ms, edge_compute_ms);
}

void cl_hybrid_observe_edge_late(cl_hybrid *h, int e, const cl_hseg *sg, double elapsed_ms) {
  cl_edge_link_sample(h->edge[e].e, sg->up_bytes, sg->down_bytes, elapsed_ms, -1, CL_LINK_AT_MOST);
}

void cl_hybrid_edge_failed(cl_hybrid *h, int e, const char *why) {
  cl_hedge *ed = &h->edge[e];
  double backoff = BACKOFF_MIN_MS * pow(2, ed->fails < 16 ? ed->fails : 16);
  if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
  ed->fails++;
  ed->down_until = cl_now_ms() + backoff;
  snprintf(ed->why, sizeof ed->why, "%s", why ? why : "");
  cl_log(h->ctx, CLEAVE_LOG_WARN, "edge %s failed (%s); not planned for %.0f ms", cl_edge_url(ed->e), ed->why,
         backoff);
}

/* ---- what the gateway says about itself ---- */

static void on_profile(void *user, int status, int http_status, const char *body, size_t len) {
  cl_hfetch *f = user;
  cl_hybrid *h = f->h;
  if (!h) {
    cl_free(f->ctx, f);
    return;
  }
  int e = f->edge;
  cl_hedge *ed = &h->edge[e];
  cleave_ctx *ctx = h->ctx;
  ed->fetching = false;
  ed->fetch = NULL;
  ed->fetch_at = cl_now_ms();
  cl_free(ctx, f);
  if (status || http_status != 200) {
    cl_log(ctx, CLEAVE_LOG_WARN, "edge %s gave no profile (%s); it is not planned until it does", cl_edge_url(ed->e),
           status ? cleave_ctx_last_error(ctx) : "HTTP error");
    return;
  }
  json_t *j = json_loadb(body, len, 0, NULL);
  json_t *pj = j ? json_object_get(j, "profile") : NULL;
  char *text = pj ? json_dumps(pj, 0) : NULL;
  char what[300];
  snprintf(what, sizeof what, "the profile of edge %s", cl_edge_url(ed->e));
  cl_profile prof;
  int rc = text ? cl_profile_parse(ctx, text, strlen(text), what, &prof) : CLEAVE_EINVAL;
  free(text);
  json_decref(j);
  if (rc || prof.kind != CL_DEV_EDGE) {
    cl_log(ctx, CLEAVE_LOG_WARN, "%s is not usable: %s", what, rc ? cleave_ctx_last_error(ctx) : "not of kind edge");
    return;
  }
  /* named after the edge, so that its correction is its own even when it was measured like a local device */
  char name[CL_PROFILE_NAME_MAX];
  snprintf(name, sizeof name, "edge:%s", prof.name);
  memcpy(prof.name, name, sizeof name);
  ed->fetched = prof;
  ed->has_profile = true;
  cl_log(ctx, CLEAVE_LOG_INFO, "edge %s: profile '%s'", cl_edge_url(ed->e), prof.name);
  if (!ed->ensure) start_ensure(h, e);
}

static void start_fetch(cl_hybrid *h, int e) {
  cl_hedge *ed = &h->edge[e];
  cl_hfetch *f = cl_malloc(h->ctx, sizeof *f);
  if (!f) return;
  *f = (cl_hfetch){h->ctx, h, e};
  ed->fetch_at = cl_now_ms();
  if (cl_edge_get(ed->e, "/v2/cleave/profile", 5000, on_profile, f)) {
    cl_free(h->ctx, f);
    return;
  }
  ed->fetching = true;
  ed->fetch = f;
}

/* The model goes to the gateway ahead of the runs that need it (uploading it can take long on a slow link, and a
 * run should not wait for it): until it is there the edge is not planned. */
static void on_ensured(void *user, int status, cleave_result *res) {
  cl_hfetch *f = user;
  cl_hybrid *h = f->h;
  cleave_result_free(res);
  if (!h) {
    cl_free(f->ctx, f);
    return;
  }
  cl_hedge *ed = &h->edge[f->edge];
  cl_free(h->ctx, f);
  ed->ensure = NULL;
  ed->ensure_at = cl_now_ms();
  if (status) {
    cl_log(h->ctx, CLEAVE_LOG_WARN, "edge %s cannot have model %s: %s; it is not planned", cl_edge_url(ed->e),
           ed->model_name, cleave_ctx_last_error(h->ctx));
    return;
  }
  ed->model_ready = true;
  cl_log(h->ctx, CLEAVE_LOG_INFO, "edge %s has model %s", cl_edge_url(ed->e), ed->model_name);
}

static void start_ensure(cl_hybrid *h, int e) {
  cl_hedge *ed = &h->edge[e];
  cl_hfetch *f = cl_malloc(h->ctx, sizeof *f);
  if (!f) return;
  *f = (cl_hfetch){h->ctx, h, e};
  ed->ensure_at = cl_now_ms();
  if (cl_edge_ensure_model(ed->e, h->model, ed->model_name, UPLOAD_TIMEOUT_MS, on_ensured, f, NULL)) {
    cl_free(h->ctx, f);
    return;
  }
  ed->ensure = f;
}

/* The edge's probes are shared by its sessions (one at a time, cl_edge_link_probe); the session that sent one
 * learns of its failure. */
static void on_probe(void *user, int status, double ms, double recv_ms) {
  cl_hfetch *pr = user;
  cl_hybrid *h = pr->h;
  int e = pr->edge;
  cl_free(pr->ctx, pr);
  if (!h) return;
  cl_hedge *ed = &h->edge[e];
  ed->probe = NULL;
  if (status) {
    cl_hybrid_edge_failed(h, e, cleave_ctx_last_error(h->ctx));
    return;
  }
  double up, down;
  cl_edge_link_rates(ed->e, &up, &down);
  cl_log(h->ctx, CLEAVE_LOG_DEBUG, "probe of edge %s: %.1f ms (upload %.1f); the link now %.2f Mbit/s up, %.2f down",
         cl_edge_url(ed->e), ms, recv_ms, up, down);
}

static void start_probe(cl_hybrid *h, int e) {
  cl_hedge *ed = &h->edge[e];
  cl_hfetch *pr = cl_malloc(h->ctx, sizeof *pr);
  if (!pr) return;
  *pr = (cl_hfetch){h->ctx, h, e};
  if (cl_edge_link_probe(ed->e, PROBE_EVERY_MS, on_probe, pr)) {
    cl_free(h->ctx, pr);
    return;
  }
  ed->probe = pr;
}

/* ---- the session's hybrid part ---- */

typedef struct timer_block {
  uv_timer_t t;
  cleave_allocator alloc; /* the timer may finish closing after the context is gone */
} timer_block;

static void timer_closed(uv_handle_t *t) {
  timer_block *b = (timer_block *)t;
  b->alloc.deallocate(b->alloc.context, b);
}

/* Gives the copy's inputs the shapes the options fix, so that every tensor's size is known to the cost model. */
static int specialise(cl_hybrid *h, const cleave_session_options *opt) {
  cl_graph *g = &h->model->graph;
  for (int i = 0; i < g->n_inputs; i++) {
    const cl_value *v = &g->values[g->inputs[i]];
    if (v->shape.ndim < 0)
      return cl_err(h->ctx, CLEAVE_EINVAL, "input '%s' has no known rank: a hybrid session cannot be planned for it",
                    v->name);
    int64_t dims[CL_MAX_DIMS];
    for (int d = 0; d < v->shape.ndim; d++) {
      int64_t x = v->shape.d[d];
      const char *sym = CL_DIM_IS_SYM(x) ? g->symbols[CL_DIM_SYM_ID(x)] : NULL;
      dims[d] = x;
      for (int k = 0; sym && k < opt->n_dims; k++)
        if (strcmp(opt->dim_names[k], sym) == 0) dims[d] = opt->dim_values[k];
      if (dims[d] < 0)
        return cl_err(
            h->ctx, CLEAVE_EINVAL,
            "input '%s' dim %d%s%s%s is not fixed: a hybrid session is planned for fixed shapes (fix it with "
            "cleave_session_options_set_dim)",
            v->name, d, sym ? " ('" : "", sym ? sym : "", sym ? "')" : "");
    }
    char name[512];
    snprintf(name, sizeof name, "%s", v->name);
    int rc = cl_graph_fix_input_shape(g, name, v->shape.ndim, dims);
    if (rc) return rc;
  }
  return 0;
}

static int add_local(cl_hybrid *h, const char *name, const cleave_session_options *opt) {
  cleave_ctx *ctx = h->ctx;
  int idx = cl_engine_device_index(ctx, name);
  if (idx < 0) return idx;
  for (int i = 0; i < h->n_local; i++)
    if (h->local[i] == idx) return cl_err(ctx, CLEAVE_EINVAL, "device '%s' is named twice", name);
  if (h->n_local == CL_HYBRID_MAX_LOCAL) return cl_err(ctx, CLEAVE_ELIMIT, "too many devices");
  int k = h->n_local;
  const cl_device_iface *dev = ctx->engine->dev[idx].dev;
  const cl_profile *prof = NULL;
  for (int i = 0; i < opt->n_profiles; i++)
    if (cl_device_find(opt->profiles[i].device) == dev) prof = cl_profile_of(opt->profiles[i].profile);
  int rc = 0;
  if (!prof && (rc = cl_engine_device_profile(ctx, idx, &prof))) return rc;
  if (prof->kind == CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_EINVAL, "profile '%s' for device '%s' is an edge's", prof->name, name);
  for (int i = 0; i < k; i++)
    if (strcmp(h->prof[i]->name, prof->name) == 0)
      return cl_err(ctx, CLEAVE_EINVAL, "devices '%s' and '%s' have the same profile name '%s'",
                    ctx->engine->dev[h->local[i]].dev->name, name, prof->name);
  /* what the backend runs, asked of a state of its own (the executor's is its thread's) */
  const cl_graph *g = &h->model->graph;
  bool *ok = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof *ok);
  void *state = NULL;
  if (!ok) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  if ((rc = dev->create(ctx, &state))) {
    cl_free(ctx, ok);
    return rc;
  }
  char why[256];
  for (int n = 0; n < g->n_nodes; n++)
    ok[n] = dev->supports(state, g, &g->nodes[n], why, sizeof why) != 0;
  dev->destroy(state);
  h->local[k] = idx;
  h->prof[k] = prof;
  h->node_ok[k] = ok;
  h->n_local++;
  return 0;
}

/* The model's name on a gateway: its file's name without folder and ".onnx", in the characters a path segment
 * takes. */
static void model_name(const char *path, char *out, size_t len) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  size_t n = 0;
  for (const char *c = b; *c && n + 1 < len; c++) {
    if (strcmp(c, ".onnx") == 0) break;
    bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || (*c == '.' && n > 0);
    out[n++] = ok ? *c : '_';
  }
  if (n == 0)
    snprintf(out, len, "model");
  else
    out[n] = '\0';
}

int cl_hybrid_new(cleave_session *s, cleave_model *model, const cleave_session_options *opt, cl_hybrid **out) {
  cleave_ctx *ctx = s->ctx;
  *out = NULL;
  if (opt->cut_in.n || opt->cut_out.n)
    return cl_err(ctx, CLEAVE_EINVAL,
                  "a hybrid session runs the whole model: it cannot be given cut inputs or outputs");
  if (!model->path)
    return cl_err(
        ctx, CLEAVE_EINVAL,
        "a hybrid session needs a model loaded from a file (cleave_model_load): gateways are sent that file");
  cl_hybrid *h = cl_calloc(ctx, 1, sizeof *h);
  if (!h) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  h->ctx = ctx;
  h->s = s;
  h->user_model = model;
  h->mode = opt->mode;
  memcpy(h->w, opt->w, sizeof h->w);
  h->weights = opt->weights;
  h->deadline_ms = opt->deadline_ms;
  h->offload_inputs = opt->offload_inputs;
  h->hedging = !opt->no_hedging;
  h->max_in_flight = opt->max_in_flight > 0 ? opt->max_in_flight : 256;
  h->fallback_dev = -1;
  cl_hysteresis_init(&h->hyst);
  int rc;
  uv_loop_t *loop = cl_ctx_loop(ctx);
  timer_block *tb = loop ? cl_calloc(ctx, 1, sizeof *tb) : NULL;
  if (!cl_engine_get(ctx) || !tb) {
    cl_free(ctx, tb);
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  tb->alloc = ctx->alloc;
  uv_timer_init(loop, &tb->t);
  tb->t.data = h;
  h->timer = &tb->t;
  /* the session's own copy of the model, its inputs' shapes fixed and folded again */
  if ((rc = cleave_model_load(ctx, model->path, &h->model))) goto fail;
  if (strcmp(h->model->sha256, model->sha256) != 0) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "%s has changed since the model was loaded from it", model->path);
    goto fail;
  }
  if ((rc = specialise(h, opt))) goto fail;
  const cl_graph *g = &h->model->graph;
  if (!(h->folded = cl_calloc(ctx, (size_t)g->n_values + 1, sizeof *h->folded))) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  for (int v = 0; v < g->n_values; v++) {
    int u = g->values[v].konst ? cl_graph_find_value(&model->graph, g->values[v].name) : -1;
    h->folded[v] = u >= 0 && !model->graph.values[u].konst;
  }
  cl_program_spec whole = {0};
  if ((rc = cl_program_new(ctx, h->model, &whole, &h->meta))) goto fail;
  /* devices */
  if (opt->devices.n) {
    for (int i = 0; i < opt->devices.n; i++)
      if ((rc = add_local(h, opt->devices.names[i], opt))) goto fail;
  } else if ((rc = add_local(h, opt->device ? opt->device : "cpu", opt))) {
    goto fail;
  }
  if (ctx->engine->dev[h->local[0]].dev != cl_device_find("cpu")) {
    int c = cl_engine_device_index(ctx, "cpu");
    h->fallback_dev = c >= 0 ? c : -1;
  }
  /* edges */
  for (int i = 0; i < opt->n_edges; i++) {
    cl_hedge *ed = &h->edge[h->n_edges++];
    ed->e = opt->edges[i].edge;
    ed->given = cl_profile_of(opt->edges[i].profile);
    if (ed->given && ed->given->kind != CL_DEV_EDGE) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "profile '%s' given for edge %s is not of kind edge", ed->given->name,
                  cl_edge_url(ed->e));
      goto fail;
    }
    model_name(model->path, ed->model_name, sizeof ed->model_name);
  }
  /* privacy pins */
  if (opt->pins.n && !(h->pinned = cl_calloc(ctx, (size_t)opt->pins.n, sizeof *h->pinned))) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < opt->pins.n; i++) {
    int v = cl_graph_find_value(g, opt->pins.names[i]);
    if (v < 0) {
      rc = cl_err(ctx, CLEAVE_ENOTFOUND, "privacy pin: the model has no tensor named '%s'", opt->pins.names[i]);
      goto fail;
    }
    h->pinned[h->n_pinned++] = g->values[v].name;
  }
  if ((rc = cl_planner_new(ctx, g, &h->pl)) || (rc = cl_plan_cache_new(ctx, PLAN_CACHE_SIZE, &h->cache))) goto fail;
  for (int e = 0; e < h->n_edges; e++)
    if (!h->edge[e].given)
      start_fetch(h, e);
    else
      start_ensure(h, e);
  *out = h;
  return 0;
fail:
  cl_hybrid_free(h);
  return rc;
}

void cl_hybrid_free(cl_hybrid *h) {
  if (!h) return;
  cleave_ctx *ctx = h->ctx;
  cl_run_cancel_all(h);
  for (int e = 0; e < h->n_edges; e++) {
    if (h->edge[e].fetch) h->edge[e].fetch->h = NULL;
    if (h->edge[e].ensure) h->edge[e].ensure->h = NULL;
    if (h->edge[e].probe) h->edge[e].probe->h = NULL;
  }
  if (h->timer) {
    uv_timer_stop(h->timer);
    h->timer->data = NULL;
    uv_close((uv_handle_t *)h->timer, timer_closed);
  }
  for (cl_hplan *p = h->plans, *n; p; p = n) {
    n = p->next;
    hplan_free(h, p);
  }
  for (cl_hprog *p = h->progs, *n; p; p = n) {
    n = p->next;
    cl_program_free(p->p);
    cl_free(ctx, p->in);
    cl_free(ctx, p->out);
    cl_free(ctx, p);
  }
  for (int i = 0; i < h->n_local; i++)
    cl_free(ctx, h->node_ok[i]);
  cl_planner_free(h->pl);
  cl_plan_cache_free(h->cache);
  cl_program_free(h->meta);
  cleave_model_free(h->model);
  cl_free(ctx, h->folded);
  cl_free(ctx, h->pinned);
  cl_free(ctx, (void *)h->forced);
  cl_free(ctx, h);
}
