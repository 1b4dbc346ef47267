/* partitioner: the planner. Builds the cost graph for a problem, generates candidate plans (single devices,
 * two-way min-cuts, k-way expansion), compiles each into segments, evaluates its makespan and energy, and keeps
 * the best feasible one. */
#include "partitioner/placement.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "partitioner/correction.h"
#include "partitioner/cut.h"
#include "partitioner/segment.h"

#define MAXD CL_PLACE_MAX_DEVICES
#define MAX_CAND (2 * MAXD + 2)

struct cl_planner {
  cleave_ctx *ctx;
  const cl_graph *g;
  cl_node_cost *cost;
  cl_op_class *cls;
  double *weights;     /* per node: bytes of its constant inputs */
  double *act;         /* per node: bytes of its other inputs and outputs */
  double *value_bytes; /* per value */
  cl_pgraph pg;        /* structure fixed at creation; costs refilled per problem */
  cl_cut_work work;
  double cut_cost[MAXD]; /* the cost-graph cost of the two-way cut "d | edge" of this plan (INFINITY: none) */
  double *node_ms; /* [n_nodes * MAXD] for the current problem */
  int *pin_value;  /* per node: a pinned value it touches, or -1 */
  int *op_id;      /* per node: index of its op type among the graph's distinct ones */
  const char **ops;
  int n_ops;
  bool *op_listed; /* [MAXD * n_ops]: the op type is on the device's unsupported list (for the current problem) */
  int *assign, *start;
  int *cand_assign; /* [MAX_CAND * n_nodes]: the candidates' assignments, so that a repeat is not evaluated again */
  double *arrival;  /* [n_values * MAXD] evaluator scratch: when a value is on a device, valid where stamped */
  unsigned *arrival_stamp;
  unsigned stamp;
  double *ready;     /* [n_values]: when the segment producing a value ends */
  cl_plan best_plan; /* the best feasible candidate so far, evaluated */
  cl_plan_candidate cand[MAX_CAND];
  int n_cand;
  int edge;          /* index of the edge device in the current problem, or -1 */
  double edge_fixed; /* objective of using the edge at all: RTT, queue, radio promotion and tail */
};

void cl_place_problem_init(cl_place_problem *p) {
  memset(p, 0, sizeof *p);
  cl_network_default(&p->net);
  p->edge_cost_mult = 1;
  p->w_lat = 1;
  p->mode = CL_PLACE_AUTO;
  p->prefer_factor = 1.5;
  p->pin_inputs = true;
}

int cl_place_problem_add(cl_place_problem *p, const cl_profile *profile) {
  if (p->n_devices >= MAXD) return CLEAVE_ELIMIT;
  p->dev[p->n_devices] = (cl_place_device){.profile = profile, .speed = 1, .energy = 1, .allowed = true};
  return p->n_devices++;
}

void cl_planner_free(cl_planner *pl) {
  if (!pl) return;
  cleave_ctx *ctx = pl->ctx;
  cl_free(ctx, pl->cost);
  cl_free(ctx, pl->cls);
  cl_free(ctx, pl->weights);
  cl_free(ctx, pl->act);
  cl_free(ctx, pl->value_bytes);
  cl_pgraph_free(ctx, &pl->pg);
  cl_cut_work_free(ctx, &pl->work);
  cl_free(ctx, pl->node_ms);
  cl_free(ctx, pl->pin_value);
  cl_free(ctx, pl->op_id);
  cl_free(ctx, pl->ops);
  cl_free(ctx, pl->op_listed);
  cl_free(ctx, pl->assign);
  cl_free(ctx, pl->start);
  cl_free(ctx, pl->cand_assign);
  cl_plan_free(ctx, &pl->best_plan);
  cl_free(ctx, pl->arrival);
  cl_free(ctx, pl->arrival_stamp);
  cl_free(ctx, pl->ready);
  cl_free(ctx, pl);
}

int cl_planner_new(cleave_ctx *ctx, const cl_graph *g, cl_planner **out) {
  if (!g || !out) return cl_err(ctx, CLEAVE_EINVAL, "cl_planner_new: NULL argument");
  *out = NULL;
  int nn = g->n_nodes, nv = g->n_values;
  cl_planner *pl = cl_calloc(ctx, 1, sizeof *pl);
  if (!pl) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  pl->ctx = ctx;
  pl->g = g;
  pl->cost = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->cost);
  pl->cls = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->cls);
  pl->weights = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->weights);
  pl->act = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->act);
  pl->value_bytes = cl_calloc(ctx, (size_t)nv + 1, sizeof *pl->value_bytes);
  pl->node_ms = cl_calloc(ctx, (size_t)nn * MAXD + 1, sizeof *pl->node_ms);
  pl->pin_value = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->pin_value);
  pl->op_id = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->op_id);
  pl->ops = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->ops);
  pl->op_listed = cl_calloc(ctx, (size_t)nn * MAXD + 1, sizeof *pl->op_listed);
  pl->assign = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->assign);
  pl->start = cl_calloc(ctx, (size_t)nn + 1, sizeof *pl->start);
  pl->cand_assign = cl_calloc(ctx, (size_t)nn * MAX_CAND + 1, sizeof *pl->cand_assign);
  pl->arrival = cl_calloc(ctx, (size_t)nv * MAXD + 1, sizeof *pl->arrival);
  pl->arrival_stamp = cl_calloc(ctx, (size_t)nv * MAXD + 1, sizeof *pl->arrival_stamp);
  pl->ready = cl_calloc(ctx, (size_t)nv + 1, sizeof *pl->ready);
  int *mark = cl_calloc(ctx, (size_t)nn + 1, sizeof *mark);
  int rc = 0;
  if (!pl->cost || !pl->cls || !pl->weights || !pl->act || !pl->value_bytes || !pl->node_ms || !pl->pin_value ||
      !pl->op_id || !pl->ops || !pl->op_listed || !pl->assign || !pl->start || !pl->cand_assign || !pl->arrival ||
      !pl->arrival_stamp || !pl->ready || !mark)
    goto nomem;
  for (int v = 0; v < nv; v++) {
    int64_t b = cl_value_bytes(g, v);
    pl->value_bytes[v] = b > 0 ? (double)b : 0;
  }
  for (int n = 0; n < nn; n++) {
    const cl_node *node = &g->nodes[n];
    cl_cost_node(g, node, &pl->cost[n]);
    pl->cls[n] = cl_op_class_of(g, node);
    int k = 0;
    while (k < pl->n_ops && strcmp(pl->ops[k], node->op) != 0)
      k++;
    if (k == pl->n_ops) pl->ops[pl->n_ops++] = node->op;
    pl->op_id[n] = k;
    for (int i = 0; i < node->n_in; i++)
      if (node->in[i] >= 0) {
        if (g->values[node->in[i]].konst)
          pl->weights[n] += pl->value_bytes[node->in[i]];
        else
          pl->act[n] += pl->value_bytes[node->in[i]];
      }
    for (int i = 0; i < node->n_out; i++)
      if (node->out[i] >= 0) pl->act[n] += pl->value_bytes[node->out[i]];
  }
  /* tensors of the cost graph: values that flow (not constants) and are read or returned */
  int n_t = 0, n_cons = 0;
  for (int v = 0; v < nv; v++) {
    const cl_value *val = &g->values[v];
    if (val->konst || (val->producer < 0 && !val->is_input) || (!val->n_consumers && !val->is_output)) continue;
    n_t++;
    n_cons += val->n_consumers;
  }
  if ((rc = cl_pgraph_alloc(ctx, &pl->pg, nn, MAXD, n_t, n_cons))) goto fail;
  for (int n = 0; n < nn; n++)
    mark[n] = -1;
  int t = 0, k = 0;
  for (int v = 0; v < nv; v++) {
    const cl_value *val = &g->values[v];
    if (val->konst || (val->producer < 0 && !val->is_input) || (!val->n_consumers && !val->is_output)) continue;
    pl->pg.producer[t] = val->producer;
    pl->pg.to_home[t] = val->is_output;
    pl->pg.bytes[t] = pl->value_bytes[v];
    pl->pg.cons_off[t] = k;
    for (int c = 0; c < val->n_consumers; c++) {
      int node = val->consumers[c];
      if (mark[node] == v) continue;
      mark[node] = v;
      pl->pg.cons[k++] = node;
    }
    t++;
  }
  pl->pg.cons_off[t] = k;
  cl_free(ctx, mark);
  *out = pl;
  return 0;
nomem:
  rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
fail:
  cl_free(ctx, mark);
  cl_planner_free(pl);
  return rc;
}

const cl_graph *cl_planner_graph(const cl_planner *pl) { return pl->g; }

long cl_planner_maxflows(const cl_planner *pl) { return pl->work.maxflows; }

double cl_planner_value_bytes(const cl_planner *pl, int v) {
  return v >= 0 && v < pl->g->n_values ? pl->value_bytes[v] : 0;
}

static bool is_edge(const cl_place_problem *p, int d) { return p->dev[d].profile->kind == CL_DEV_EDGE; }

static double nominal_ms(const cl_planner *pl, const cl_place_problem *p, int n, int d) {
  const cl_place_device *dv = &p->dev[d];
  double ms = cl_profile_node_ms(dv->profile, &pl->cost[n], pl->cls[n]);
  if (!isfinite(ms)) return ms;
  double f = dv->speed > 0 ? dv->speed : 1;
  if (p->correction) f *= cl_correction_factor(p->correction, dv->profile->name, pl->cls[n]);
  return ms * f;
}

static bool supported(const cl_planner *pl, const cl_place_device *dv, int n) {
  const cl_profile *pr = dv->profile;
  if (!(pr->gflops[pl->cls[n]] > 0) || (dv->node_ok && !dv->node_ok[n])) return false;
  for (int i = 0; i < pr->n_unsupported; i++)
    if (strcmp(pr->unsupported[i], pl->g->nodes[n].op) == 0) return false;
  return true;
}

/* Whether node n may run on device d under p, as fill_costs() last set up for p. */
static bool may_run(const cl_planner *pl, const cl_place_problem *p, int n, int d) {
  const cl_place_device *dv = &p->dev[d];
  if (!dv->allowed) return false;
  if (is_edge(p, d)) {
    if (!(p->net.up_mbps > 0 && p->net.down_mbps > 0) || p->mode == CL_PLACE_ONLY_LOCAL || pl->pin_value[n] >= 0)
      return false;
  } else if (p->mode == CL_PLACE_ONLY_EDGE) {
    return false;
  }
  /* supported(), with the unsupported lists matched once per op type instead of once per node */
  return dv->profile->gflops[pl->cls[n]] > 0 && (!dv->node_ok || dv->node_ok[n]) &&
         !pl->op_listed[(size_t)d * (size_t)pl->n_ops + (size_t)pl->op_id[n]];
}

double cl_planner_node_ms(const cl_planner *pl, const cl_place_problem *p, int n, int d) {
  if (n < 0 || n >= pl->g->n_nodes || d < 0 || d >= p->n_devices) return INFINITY;
  if (!p->dev[d].profile || !supported(pl, &p->dev[d], n)) return INFINITY;
  return nominal_ms(pl, p, n, d);
}

/* Why node n may not run on device d under p ("" if it may). */
static void why_not(const cl_planner *pl, const cl_place_problem *p, int n, int d, char *buf, size_t len) {
  const cl_place_device *dv = &p->dev[d];
  const cl_node *node = &pl->g->nodes[n];
  const char *name = dv->profile->name;
  buf[0] = 0;
  if (!dv->allowed && dv->off_why)
    snprintf(buf, len, "device '%s' is not available: %s", name, dv->off_why);
  else if (!dv->allowed)
    snprintf(buf, len, "device '%s' is not allowed (switched off or forbidden)", name);
  else if (is_edge(p, d) && !(p->net.up_mbps > 0 && p->net.down_mbps > 0))
    snprintf(buf, len, "the link to the edge '%s' is down", name);
  else if (is_edge(p, d) && p->mode == CL_PLACE_ONLY_LOCAL)
    snprintf(buf, len, "mode ONLY_LOCAL forbids the edge");
  else if (!is_edge(p, d) && p->mode == CL_PLACE_ONLY_EDGE)
    snprintf(buf, len, "mode ONLY_EDGE forbids local device '%s'", name);
  else if (is_edge(p, d) && pl->pin_value[n] >= 0)
    snprintf(buf, len, "privacy pin on tensor '%s' keeps node '%s' (%s) on the device",
             pl->g->values[pl->pin_value[n]].name, node->name, node->op);
  else if (!supported(pl, dv, n))
    snprintf(buf, len, "'%s' does not support node '%s' (%s)", name, node->name, node->op);
}

static int check_problem(cl_planner *pl, const cl_place_problem *p) {
  cleave_ctx *ctx = pl->ctx;
  if (p->n_devices < 1 || p->n_devices > MAXD)
    return cl_err(ctx, CLEAVE_EINVAL, "placement: %d devices (1 to %d)", p->n_devices, MAXD);
  pl->edge = -1;
  for (int d = 0; d < p->n_devices; d++) {
    if (!p->dev[d].profile) return cl_err(ctx, CLEAVE_EINVAL, "placement: device %d has no profile", d);
    if (is_edge(p, d)) {
      if (d == 0) return cl_err(ctx, CLEAVE_EINVAL, "placement: the home device (0) must be local");
      if (pl->edge >= 0) return cl_err(ctx, CLEAVE_EINVAL, "placement: more than one edge device");
      pl->edge = d;
    }
    if (!(p->dev[d].speed >= 0) || !(p->dev[d].energy >= 0) || !(p->dev[d].mem_cap >= 0))
      return cl_err(ctx, CLEAVE_EINVAL, "placement: device '%s' has a negative or NaN factor",
                    p->dev[d].profile->name);
  }
  double w[] = {p->w_lat, p->w_energy, p->w_cost, p->edge_cost_mult, p->prefer_factor, p->edge_queue_ms};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
    if (!(w[i] >= 0) || !isfinite(w[i]))
      return cl_err(ctx, CLEAVE_EINVAL,
                    "placement: weights, multipliers and the queue delay must be finite and >= 0");
  if (p->w_lat + p->w_energy + p->w_cost <= 0) return cl_err(ctx, CLEAVE_EINVAL, "placement: all weights are 0");
  if ((unsigned)p->mode > CL_PLACE_ONLY_EDGE) return cl_err(ctx, CLEAVE_EINVAL, "placement: unknown mode");
  if (p->mode == CL_PLACE_ONLY_EDGE && pl->edge < 0)
    return cl_err(ctx, CLEAVE_EINFEASIBLE, "mode ONLY_EDGE but the problem has no edge device");
  /* privacy pins */
  const cl_graph *g = pl->g;
  for (int n = 0; n < g->n_nodes; n++)
    pl->pin_value[n] = -1;
  for (int i = -1; i < p->n_pinned; i++) {
    int lo = 0, hi = 0, one = -1;
    if (i < 0) {
      if (!p->pin_inputs) continue;
      hi = g->n_inputs;
    } else {
      one = p->pinned[i] ? cl_graph_find_value(g, p->pinned[i]) : -1;
      if (one < 0)
        return cl_err(ctx, CLEAVE_ENOTFOUND, "privacy pin: the model has no tensor named '%s'",
                      p->pinned[i] ? p->pinned[i] : "(null)");
      hi = 1;
    }
    for (int k = lo; k < hi; k++) {
      int v = one >= 0 ? one : g->inputs[k];
      const cl_value *val = &g->values[v];
      if (val->producer >= 0 && pl->pin_value[val->producer] < 0) pl->pin_value[val->producer] = v;
      for (int c = 0; c < val->n_consumers; c++)
        if (pl->pin_value[val->consumers[c]] < 0) pl->pin_value[val->consumers[c]] = v;
    }
  }
  return 0;
}

/* Copy time between a local device's memory and the host's. */
static void copy_cost(const cl_place_problem *p, int d, double *fixed_ms, double *per_byte_ms) {
  const cl_profile *pr = p->dev[d].profile;
  if (d == 0 || is_edge(p, d) || !(pr->xfer_gbps > 0)) return;
  *fixed_ms += pr->xfer_ms;
  *per_byte_ms += 1.0 / (pr->xfer_gbps * 1e6);
}

/* Fills node times and the cost graph's unary and transfer costs for p. */
static void fill_costs(cl_planner *pl, const cl_place_problem *p) {
  const cl_graph *g = pl->g;
  int nd = p->n_devices, nn = g->n_nodes;
  cl_pgraph *pg = &pl->pg;
  pg->n_dev = nd;
  pg->home = 0;
  const cl_profile *home = p->dev[0].profile;
  double f = p->prefer_factor;
  double bias_edge = p->mode == CL_PLACE_PREFER_LOCAL ? f : 1, bias_local = p->mode == CL_PLACE_PREFER_EDGE ? f : 1;
  for (int d = 0; d < nd; d++) {
    const cl_profile *pr = p->dev[d].profile;
    for (int k = 0; k < pl->n_ops; k++) {
      bool listed = false;
      for (int i = 0; i < pr->n_unsupported && !listed; i++)
        listed = strcmp(pr->unsupported[i], pl->ops[k]) == 0;
      pl->op_listed[(size_t)d * (size_t)pl->n_ops + (size_t)k] = listed;
    }
  }
  for (int n = 0; n < nn; n++)
    for (int d = 0; d < nd; d++) {
      double ms = may_run(pl, p, n, d) ? nominal_ms(pl, p, n, d) : INFINITY;
      pl->node_ms[(size_t)n * MAXD + (size_t)d] = ms;
      double u = INFINITY;
      if (isfinite(ms)) {
        const cl_place_device *dv = &p->dev[d];
        if (is_edge(p, d))
          u = bias_edge * (p->w_lat * ms + p->w_energy * ms * home->idle_w +
                           p->w_cost * ms / 1e3 * dv->profile->cost_per_s * p->edge_cost_mult);
        else
          u = bias_local * (p->w_lat * ms + p->w_energy * ms * dv->profile->active_w * dv->energy);
      }
      pg->unary[(size_t)n * (size_t)nd + (size_t)d] = u;
    }
  double up_pb = cl_net_up_ms(&p->net, 1), down_pb = cl_net_down_ms(&p->net, 1);
  double up_mj = cl_radio_up_mj(&p->net, 1), down_mj = cl_radio_down_mj(&p->net, 1);
  double money = p->net.cost_per_mb / 1e6 * p->edge_cost_mult;
  for (int a = 0; a < nd; a++)
    for (int b = 0; b < nd; b++) {
      double fixed = 0, pb_ms = 0, pb_mj = 0, pb_cost = 0, bias = 1;
      if (a != b) {
        copy_cost(p, a, &fixed, &pb_ms);
        copy_cost(p, b, &fixed, &pb_ms);
        if (is_edge(p, b)) pb_ms += up_pb, pb_mj += up_mj, pb_cost += money, bias = bias_edge;
        if (is_edge(p, a)) pb_ms += down_pb, pb_mj += down_mj, pb_cost += money, bias = bias_edge;
      }
      pg->xfer_fixed[a][b] = bias * p->w_lat * fixed;
      pg->xfer_byte[a][b] = bias * (p->w_lat * pb_ms + p->w_energy * pb_mj + p->w_cost * pb_cost);
      if (!isfinite(pg->xfer_byte[a][b])) pg->xfer_byte[a][b] = 1e300; /* link down: never chosen */
    }
  pl->edge_fixed = bias_edge * (p->w_lat * (p->net.rtt_ms + p->edge_queue_ms + cl_radio_fixed_ms(&p->net)) +
                                p->w_energy * cl_radio_fixed_mj(&p->net));
}

/* The additive cost of an assignment, with the edge's fixed cost when it is used. */
static double additive(const cl_planner *pl, const int *assign) {
  double c = cl_pgraph_cost(&pl->pg, assign);
  if (pl->edge >= 0)
    for (int n = 0; n < pl->g->n_nodes; n++)
      if (assign[n] == pl->edge) return c + pl->edge_fixed;
  return c;
}

/* ---- evaluation: segments, makespan, energy, cost ---- */

void cl_plan_free(cleave_ctx *ctx, cl_plan *plan) {
  if (!plan) return;
  cl_free(ctx, plan->assign);
  cl_segments_free(ctx, plan->segments, plan->n_segments);
  memset(plan, 0, sizeof *plan);
}

int cl_plan_copy(cleave_ctx *ctx, const cl_plan *src, cl_plan *dst) {
  memset(dst, 0, sizeof *dst);
  memcpy(dst->name, src->name, sizeof dst->name);
  dst->n_nodes = src->n_nodes;
  dst->obj = src->obj;
  dst->assign = cl_dup_ints(ctx, src->assign, src->n_nodes);
  dst->segments = cl_calloc(ctx, (size_t)src->n_segments + 1, sizeof *dst->segments);
  if (!dst->assign || !dst->segments) goto nomem;
  dst->n_segments = src->n_segments;
  for (int i = 0; i < src->n_segments; i++) {
    const cl_plan_segment *a = &src->segments[i];
    cl_plan_segment *b = &dst->segments[i];
    *b = *a;
    b->nodes = cl_dup_ints(ctx, a->nodes, a->n_nodes);
    b->inputs = cl_dup_ints(ctx, a->inputs, a->n_inputs);
    b->outputs = cl_dup_ints(ctx, a->outputs, a->n_outputs);
    b->deps = cl_dup_ints(ctx, a->deps, a->n_deps);
    if (!b->nodes || !b->inputs || !b->outputs || !b->deps) goto nomem;
  }
  return 0;
nomem:
  cl_plan_free(ctx, dst);
  return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
}

/* When value v (produced on device src, ready at t) is available on device dst; transfers over the link are
 * serialised per direction. */
static double move(cl_planner *pl, const cl_place_problem *p, int v, int src, int dst, double t, double *up_free,
                   double *down_free, cl_objective *o) {
  size_t k = (size_t)v * MAXD + (size_t)dst;
  double *arr = &pl->arrival[k];
  if (pl->arrival_stamp[k] == pl->stamp) return *arr;
  pl->arrival_stamp[k] = pl->stamp;
  double bytes = pl->value_bytes[v], fixed = 0, pb = 0;
  if (src != dst) {
    copy_cost(p, src, &fixed, &pb);
    copy_cost(p, dst, &fixed, &pb);
    t += fixed + pb * bytes;
    if (dst == pl->edge) {
      double s = t > *up_free ? t : *up_free;
      *up_free = s + cl_net_up_ms(&p->net, bytes);
      t = *up_free + p->net.rtt_ms / 2;
      o->up_bytes += bytes;
    } else if (src == pl->edge) {
      double s = t > *down_free ? t : *down_free;
      *down_free = s + cl_net_down_ms(&p->net, bytes);
      t = *down_free + p->net.rtt_ms / 2;
      o->down_bytes += bytes;
    }
  }
  return *arr = t;
}

/* Evaluates assign with the costs fill_costs() left for p. */
static int evaluate(cl_planner *pl, const cl_place_problem *p, const int *assign, cl_plan *out) {
  cleave_ctx *ctx = pl->ctx;
  const cl_graph *g = pl->g;
  memset(out, 0, sizeof *out);
  if (!assign) return cl_err(ctx, CLEAVE_EINVAL, "cl_planner_evaluate: NULL assignment");
  for (int n = 0; n < g->n_nodes; n++)
    if (assign[n] < 0 || assign[n] >= p->n_devices)
      return cl_err(ctx, CLEAVE_EINVAL, "cl_planner_evaluate: node %d on device %d of %d", n, assign[n],
                    p->n_devices);
  int rc = cl_segments_build(ctx, g, assign, &out->segments, &out->n_segments);
  if (rc) return rc;
  out->n_nodes = g->n_nodes;
  if (!(out->assign = cl_dup_ints(ctx, assign, g->n_nodes))) {
    cl_plan_free(ctx, out);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  bool edge_used = false;
  for (int n = 0; n < g->n_nodes && pl->edge >= 0; n++)
    edge_used |= assign[n] == pl->edge;
  cl_objective *o = &out->obj;
  const cl_profile *home = p->dev[0].profile;
  double dev_free[MAXD] = {0}, up_free = edge_used ? cl_radio_fixed_ms(&p->net) : 0, down_free = 0, edge_ms = 0;
  if (++pl->stamp == 0) { /* wrapped: forget every stamp */
    memset(pl->arrival_stamp, 0, sizeof *pl->arrival_stamp * (size_t)g->n_values * MAXD);
    pl->stamp = 1;
  }
  for (int s = 0; s < out->n_segments; s++) {
    cl_plan_segment *sg = &out->segments[s];
    int d = sg->device;
    double ready = 0, compute = 0;
    for (int i = 0; i < sg->n_inputs; i++) {
      int v = sg->inputs[i], pr = g->values[v].producer;
      /* the producing segment has a smaller index and is already timed */
      double t0 = pr >= 0 ? pl->ready[v] : 0;
      int src = pr >= 0 ? assign[pr] : 0;
      double t = move(pl, p, v, src, d, t0, &up_free, &down_free, o);
      if (t > ready) ready = t;
    }
    for (int k = 0; k < sg->n_nodes; k++) {
      int n = sg->nodes[k];
      double ms = pl->node_ms[(size_t)n * MAXD + (size_t)d];
      compute += ms;
      if (d == pl->edge) {
        edge_ms += ms;
        o->energy_mj += ms * home->idle_w;
      } else {
        o->energy_mj += ms * p->dev[d].profile->active_w * p->dev[d].energy;
      }
    }
    if (d == pl->edge) ready += p->edge_queue_ms;
    sg->compute_ms = compute;
    sg->start_ms = ready > dev_free[d] ? ready : dev_free[d];
    sg->end_ms = sg->start_ms + compute;
    dev_free[d] = sg->end_ms;
    if (sg->end_ms > o->latency_ms) o->latency_ms = sg->end_ms;
    for (int j = 0; j < sg->n_outputs; j++)
      pl->ready[sg->outputs[j]] = sg->end_ms;
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i], pr = g->values[v].producer;
    if (pr < 0 || assign[pr] == 0) continue;
    double t = move(pl, p, v, assign[pr], 0, pl->ready[v], &up_free, &down_free, o);
    if (t > o->latency_ms) o->latency_ms = t;
  }
  o->energy_mj += cl_radio_up_mj(&p->net, o->up_bytes) + cl_radio_down_mj(&p->net, o->down_bytes);
  if (edge_used) o->energy_mj += cl_radio_fixed_mj(&p->net);
  if (pl->edge >= 0)
    o->cost = (edge_ms / 1e3 * p->dev[pl->edge].profile->cost_per_s +
               (o->up_bytes + o->down_bytes) / 1e6 * p->net.cost_per_mb) *
              p->edge_cost_mult;
  o->value = p->w_lat * o->latency_ms + p->w_energy * o->energy_mj + p->w_cost * o->cost;
  if (!isfinite(o->value)) o->value = INFINITY;
  return 0;
}

int cl_planner_evaluate(cl_planner *pl, const cl_place_problem *p, const int *assign, cl_plan *out) {
  memset(out, 0, sizeof *out);
  int rc = check_problem(pl, p);
  if (rc) return rc;
  fill_costs(pl, p);
  return evaluate(pl, p, assign, out);
}

/* ---- constraints ---- */

/* Memory a device needs under assign: the weights of its nodes plus its largest node's activations. */
static double mem_need(const cl_planner *pl, const int *assign, int d) {
  double w = 0, peak = 0;
  for (int n = 0; n < pl->g->n_nodes; n++)
    if (assign[n] == d) {
      w += pl->weights[n];
      if (pl->act[n] > peak) peak = pl->act[n];
    }
  return w + peak;
}

static double mem_cap(const cl_place_problem *p, int d) {
  double a = p->dev[d].profile->mem_bytes, b = p->dev[d].mem_cap;
  if (a > 0 && b > 0) return a < b ? a : b;
  return a > 0 ? a : b;
}

/* 0, or CLEAVE_EINFEASIBLE with the first broken constraint in why (and *bad_dev the device over its cap). */
static int violation(cl_planner *pl, const cl_place_problem *p, const int *assign, char *why, size_t len,
                     int *bad_dev) {
  *bad_dev = -1;
  double weights[MAXD] = {0}, peak[MAXD] = {0};
  for (int n = 0; n < pl->g->n_nodes; n++) {
    int d = assign[n];
    if (!isfinite(pl->node_ms[(size_t)n * MAXD + (size_t)d]) && !may_run(pl, p, n, d)) {
      why_not(pl, p, n, d, why, len);
      return CLEAVE_EINFEASIBLE;
    }
    weights[d] += pl->weights[n]; /* mem_need() for every device in one pass */
    if (pl->act[n] > peak[d]) peak[d] = pl->act[n];
  }
  for (int d = 0; d < p->n_devices; d++) {
    double cap = mem_cap(p, d);
    if (!(cap > 0)) continue;
    double need = weights[d] + peak[d];
    if (need > cap) {
      snprintf(why, len, "memory cap of '%s' (%.1f MB) is below the %.1f MB its nodes need", p->dev[d].profile->name,
               cap / 1e6, need / 1e6);
      *bad_dev = d;
      return CLEAVE_EINFEASIBLE;
    }
  }
  return 0;
}

int cl_planner_check(cl_planner *pl, const cl_place_problem *p, const int *assign) {
  int rc = check_problem(pl, p), bad;
  if (rc) return rc;
  char why[256];
  fill_costs(pl, p);
  if (violation(pl, p, assign, why, sizeof why, &bad)) return cl_err(pl->ctx, CLEAVE_EINFEASIBLE, "%s", why);
  return 0;
}

const cl_plan_candidate *cl_planner_candidates(const cl_planner *pl, int *n) {
  if (n) *n = pl ? pl->n_cand : 0;
  return pl ? pl->cand : NULL;
}

/* ---- planning ---- */

/* Records assign as a candidate; keeps its evaluation in pl->best_plan when it is the best feasible one so far. */
static int consider(cl_planner *pl, const cl_place_problem *p, const char *name, const int *assign,
                    double *best_biased) {
  if (pl->n_cand >= MAX_CAND) return 0;
  size_t nn = (size_t)pl->g->n_nodes;
  int k = pl->n_cand++, same = -1;
  cl_plan_candidate *c = &pl->cand[k];
  memset(c, 0, sizeof *c);
  int *mine = pl->cand_assign + (size_t)k * nn;
  memcpy(mine, assign, nn * sizeof *assign);
  for (int i = 0; i < k && same < 0; i++)
    if (memcmp(pl->cand_assign + (size_t)i * nn, assign, nn * sizeof *assign) == 0) same = i;
  cl_plan plan = {0};
  if (same >= 0) { /* a cut that kept everything on one device, an expansion that found nothing better */
    *c = pl->cand[same];
  } else {
    int bad, rc = evaluate(pl, p, assign, &plan);
    if (rc) return rc;
    c->obj = plan.obj;
    c->n_segments = plan.n_segments;
    c->feasible = !violation(pl, p, assign, c->why, sizeof c->why, &bad);
  }
  snprintf(c->name, sizeof c->name, "%s", name);
  bool uses_edge = false, uses_local = false;
  for (int n = 0; n < pl->g->n_nodes; n++) {
    if (assign[n] == pl->edge)
      uses_edge = true;
    else
      uses_local = true;
  }
  c->biased = c->obj.value;
  if (p->mode == CL_PLACE_PREFER_LOCAL && uses_edge) c->biased *= p->prefer_factor;
  if (p->mode == CL_PLACE_PREFER_EDGE && uses_local) c->biased *= p->prefer_factor;
  if (c->feasible && c->biased < *best_biased) { /* a repeat is never better than its first: plan is set */
    *best_biased = c->biased;
    cl_plan_free(pl->ctx, &pl->best_plan);
    pl->best_plan = plan;
  } else {
    cl_plan_free(pl->ctx, &plan);
  }
  return 0;
}

/* Moves nodes with weights off device d until it fits its memory cap: each step moves the node whose move
 * raises the cost least per byte of weights freed. Returns false if no move is possible. */
static bool repair_cap(cl_planner *pl, const cl_place_problem *p, int d, int *assign) {
  int nn = pl->g->n_nodes;
  double cap = mem_cap(p, d);
  for (int guard = 0; guard < nn && mem_need(pl, assign, d) > cap; guard++) {
    double base = cl_pgraph_cost(&pl->pg, assign), best = INFINITY;
    int bn = -1, bd = -1;
    for (int n = 0; n < nn; n++) {
      if (assign[n] != d || !(pl->weights[n] > 0)) continue;
      for (int e = 0; e < p->n_devices; e++) {
        if (e == d || !isfinite(pl->node_ms[(size_t)n * MAXD + (size_t)e])) continue;
        assign[n] = e;
        double per = (cl_pgraph_cost(&pl->pg, assign) - base) / pl->weights[n];
        assign[n] = d;
        if (per < best) best = per, bn = n, bd = e;
      }
    }
    if (bn < 0) return false;
    assign[bn] = bd;
  }
  return true;
}

/* A min-cut candidate; a plan over a memory cap is repaired by moving weights off the device. */
static int cut_candidate(cl_planner *pl, const cl_place_problem *p, const char *name, int a, int b, bool kway,
                         double *best_biased) {
  cleave_ctx *ctx = pl->ctx;
  int nn = pl->g->n_nodes, rc;
  double cost;
  if (kway) {
    memcpy(pl->assign, pl->start, sizeof(int) * (size_t)nn);
    unsigned mask = 0, settled = 0;
    for (int d = 0; d < p->n_devices; d++)
      mask |= 1u << d;
    /* The cut "d | edge" is the best labelling over {d, edge}; a start inside that set and no worse than it
     * gains nothing from a move to d or to the edge, which would only search that set again. */
    double cur = pl->start[0] >= 0 ? cl_pgraph_cost(&pl->pg, pl->start) : INFINITY;
    for (int d = 0; d < p->n_devices && isfinite(cur); d++) {
      if (!isfinite(pl->cut_cost[d]) || pl->cut_cost[d] < cur - 1e-12 * (fabs(cur) + 1)) continue;
      int n = 0;
      while (n < nn && (pl->start[n] == d || pl->start[n] == pl->edge))
        n++;
      if (n == nn) settled |= 1u << d | 1u << pl->edge;
    }
    rc = cl_cut_expand(ctx, &pl->work, &pl->pg, mask, settled, 6, pl->assign, &cost);
  } else {
    rc = cl_cut_two(ctx, &pl->work, &pl->pg, a, b, pl->assign, &cost);
    pl->cut_cost[a] = rc ? INFINITY : cost;
  }
  if (rc == CLEAVE_EINFEASIBLE) return 0;
  if (rc) return rc;
  char why[8];
  int bad;
  for (int round = 0; round < p->n_devices; round++) {
    if (!violation(pl, p, pl->assign, why, sizeof why, &bad) || bad < 0) break;
    if (!repair_cap(pl, p, bad, pl->assign)) break;
  }
  return consider(pl, p, name, pl->assign, best_biased);
}

static int plan(cl_planner *pl, const cl_place_problem *p) {
  cleave_ctx *ctx = pl->ctx;
  const cl_graph *g = pl->g;
  int nn = g->n_nodes, nd = p->n_devices;
  int rc = check_problem(pl, p);
  if (rc) return rc;
  fill_costs(pl, p);
  /* a node no device may run makes every plan infeasible: say why for each device */
  for (int n = 0; n < nn; n++) {
    bool any = false;
    for (int d = 0; d < nd && !any; d++)
      any = isfinite(pl->node_ms[(size_t)n * MAXD + (size_t)d]);
    if (any) continue;
    char msg[CL_ERRMSG_MAX], why[256];
    size_t len =
        (size_t)snprintf(msg, sizeof msg, "node '%s' (%s) can run on no device:", g->nodes[n].name, g->nodes[n].op);
    for (int d = 0; d < nd && len < sizeof msg; d++) {
      why_not(pl, p, n, d, why, sizeof why);
      len += (size_t)snprintf(msg + len, sizeof msg - len, "%s %s", d ? ";" : "", why);
    }
    return cl_err(ctx, CLEAVE_EINFEASIBLE, "%s", msg);
  }
  double best = INFINITY, best_add = INFINITY;
  char name[CL_PLAN_NAME_MAX];
  for (int d = 0; d < MAXD; d++)
    pl->cut_cost[d] = INFINITY;
  for (int d = 0; d < nd; d++) {
    for (int n = 0; n < nn; n++)
      pl->assign[n] = d;
    if (d == pl->edge)
      snprintf(name, sizeof name, "edge");
    else
      snprintf(name, sizeof name, "local:%s", p->dev[d].profile->name);
    if ((rc = consider(pl, p, name, pl->assign, &best))) return rc;
    double a = additive(pl, pl->assign);
    if (a < best_add) best_add = a, memcpy(pl->start, pl->assign, sizeof(int) * (size_t)nn);
  }
  if (pl->edge >= 0)
    for (int d = 0; d < nd; d++) {
      if (d == pl->edge) continue;
      snprintf(name, sizeof name, "cut:%s|edge", p->dev[d].profile->name);
      int before = pl->n_cand;
      if ((rc = cut_candidate(pl, p, name, d, pl->edge, false, &best))) return rc;
      if (pl->n_cand > before) {
        double a = additive(pl, pl->assign);
        if (a < best_add) best_add = a, memcpy(pl->start, pl->assign, sizeof(int) * (size_t)nn);
      }
    }
  if (nd > 2 || (nd == 2 && pl->edge < 0)) {
    if (!isfinite(best_add)) pl->start[0] = -1;
    if ((rc = cut_candidate(pl, p, "kway", 0, 0, true, &best))) return rc;
  }
  if (!isfinite(best)) {
    /* name the constraint that the cheapest candidate breaks */
    const cl_plan_candidate *c = NULL;
    for (int i = 0; i < pl->n_cand; i++)
      if (!c || pl->cand[i].obj.value < c->obj.value) c = &pl->cand[i];
    return cl_err(ctx, CLEAVE_EINFEASIBLE, "no plan satisfies the constraints: %s",
                  c && c->why[0] ? c->why : "every candidate breaks one");
  }
  for (int i = 0; i < pl->n_cand; i++)
    if (pl->cand[i].feasible && pl->cand[i].biased == best) {
      snprintf(pl->best_plan.name, sizeof pl->best_plan.name, "%s", pl->cand[i].name);
      break;
    }
  return 0;
}

int cl_planner_plan(cl_planner *pl, const cl_place_problem *p, cl_plan *out) {
  memset(out, 0, sizeof *out);
  pl->n_cand = 0;
  cl_plan_free(pl->ctx, &pl->best_plan);
  int rc = plan(pl, p);
  if (!rc)
    *out = pl->best_plan;
  else
    cl_plan_free(pl->ctx, &pl->best_plan);
  memset(&pl->best_plan, 0, sizeof pl->best_plan);
  return rc;
}
