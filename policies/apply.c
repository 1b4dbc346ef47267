/* policies: from a decision to a placement problem, and the JSON that explains a decision. */
#include "policies/apply.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ctx.h"
#include "policies/settings.h"

#define MIB (1024.0 * 1024.0)

void cl_policy_apply(const cl_policy_result *r, cl_place_problem *p) {
  const cleave_policy_decision *d = &r->d;
  p->w_lat = d->w_latency;
  p->w_energy = d->w_energy;
  p->w_cost = d->w_cost;
  p->mode = (cl_place_mode)d->mode;
  p->prefer_factor = CL_POLICY_PREFER_FACTOR;
  p->edge_cost_mult *= d->edge_cost_scale;
  for (int i = 0; i < p->n_devices; i++) {
    cl_place_device *dv = &p->dev[i];
    if (dv->profile->kind == CL_DEV_EDGE) {
      dv->allowed = dv->allowed && d->edge_allowed;
      dv->speed *= d->edge_slowdown;
      continue;
    }
    dv->speed *= d->local_slowdown;
    dv->energy *= d->local_energy_scale;
    if (i > 0 && !d->local_allowed) dv->allowed = false;
    double base = dv->mem_cap > 0 ? dv->mem_cap : dv->profile->mem_bytes,
           cap = base > 0 ? base * d->memory_cap_scale : 0;
    if (d->memory_cap_mb > 0 && (cap == 0 || d->memory_cap_mb * MIB < cap)) cap = d->memory_cap_mb * MIB;
    dv->mem_cap = cap;
  }
  if (!isnan(r->up_mbps)) p->net.up_mbps = r->up_mbps;
  if (!isnan(r->down_mbps)) p->net.down_mbps = r->down_mbps;
  if (!isnan(r->rtt_ms)) p->net.rtt_ms = r->rtt_ms;
  if (!isnan(r->edge_queue_ms)) p->edge_queue_ms = r->edge_queue_ms;
  if (r->cost_per_mb > p->net.cost_per_mb) p->net.cost_per_mb = r->cost_per_mb;
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *objective_json(const cl_objective *o) {
  return json_pack("{s:o,s:o,s:o,s:o,s:f,s:f}", "latency_ms", num(o->latency_ms), "energy_mj", num(o->energy_mj),
                   "cost", num(o->cost), "objective", num(o->value), "up_bytes", o->up_bytes, "down_bytes",
                   o->down_bytes);
}

static json_t *plan_json(const cl_plan *plan, const cl_place_problem *p, const cl_graph *g) {
  json_t *o = objective_json(&plan->obj), *devs = json_object(), *segs = json_array();
  if (!o || !devs || !segs) goto fail;
  for (int d = 0; d < p->n_devices; d++) {
    int n = 0;
    for (int i = 0; i < plan->n_nodes; i++)
      n += plan->assign[i] == d;
    if (json_object_set_new(devs, p->dev[d].profile->name, json_integer(n))) goto fail;
  }
  for (int k = 0; k < plan->n_segments; k++) {
    const cl_plan_segment *s = &plan->segments[k];
    json_t *in = json_array(), *out = json_array();
    for (int i = 0; in && i < s->n_inputs; i++)
      json_array_append_new(in, json_string(g->values[s->inputs[i]].name));
    for (int i = 0; out && i < s->n_outputs; i++)
      json_array_append_new(out, json_string(g->values[s->outputs[i]].name));
    json_t *js = json_pack("{s:s,s:i,s:o,s:o,s:f,s:f,s:f}", "device", p->dev[s->device].profile->name, "nodes",
                           s->n_nodes, "inputs", in ? in : json_null(), "outputs", out ? out : json_null(),
                           "compute_ms", s->compute_ms, "start_ms", s->start_ms, "end_ms", s->end_ms);
    if (!js || json_array_append_new(segs, js)) goto fail;
  }
  json_object_set_new(o, "name", json_string(plan->name));
  json_object_set_new(o, "nodes_per_device", devs);
  json_object_set_new(o, "segments", segs);
  return o;
fail:
  json_decref(o);
  json_decref(devs);
  json_decref(segs);
  return NULL;
}

json_t *cl_explain_json(const cl_signals *s, cleave_mode mode, cleave_power_preference pref,
                        const cl_policy_result *r, const cl_graph *g, const cl_planner *pl, const cl_place_problem *p,
                        const cl_plan *plan, const char *why) {
  json_t *root = json_object(), *sig = json_object(), *rules = json_array();
  if (!root || !sig || !rules) goto fail;
  for (int k = 0; k < CLEAVE_SIGNAL_COUNT; k++)
    if (cl_signals_has(s, (cleave_signal)k))
      json_object_set_new(
          sig, cleave_signal_name((cleave_signal)k),
          json_pack("{s:f,s:s}", "value", s->v[k], "source", cl_signal_origin_name((cl_signal_origin)s->origin[k])));
  for (int i = 0; i < r->n_rules; i++)
    json_array_append_new(rules, json_string(r->rules[i]));
  const cleave_policy_decision *d = &r->d;
  json_object_set_new(root, "signals", sig);
  sig = NULL;
  json_object_set_new(root, "mode", json_string(cl_mode_name(mode)));
  json_object_set_new(root, "power_preference", json_string(cl_power_name(pref)));
  json_object_set_new(root, "decision",
                      json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:b,s:b,s:s}", "w_latency", d->w_latency,
                                "w_energy", d->w_energy, "w_cost", d->w_cost, "local_slowdown", d->local_slowdown,
                                "local_energy_scale", d->local_energy_scale, "memory_cap_scale", d->memory_cap_scale,
                                "memory_cap_mb", d->memory_cap_mb, "edge_cost_scale", d->edge_cost_scale,
                                "edge_slowdown", d->edge_slowdown, "edge_allowed", d->edge_allowed, "local_allowed",
                                d->local_allowed, "mode", cl_mode_name(d->mode)));
  json_object_set_new(root, "link",
                      json_pack("{s:o,s:o,s:o,s:o,s:f}", "up_mbps", num(r->up_mbps), "down_mbps", num(r->down_mbps),
                                "rtt_ms", num(r->rtt_ms), "edge_queue_ms", num(r->edge_queue_ms), "cost_per_mb",
                                r->cost_per_mb));
  json_object_set_new(root, "rules", rules);
  rules = NULL;
  if (pl) {
    int n;
    const cl_plan_candidate *c = cl_planner_candidates(pl, &n);
    json_t *cands = json_array();
    for (int i = 0; cands && i < n; i++) {
      json_t *o = objective_json(&c[i].obj);
      if (!o) continue;
      json_object_set_new(o, "name", json_string(c[i].name));
      json_object_set_new(o, "feasible", json_boolean(c[i].feasible));
      if (!c[i].feasible) json_object_set_new(o, "why", json_string(c[i].why));
      json_object_set_new(o, "segments", json_integer(c[i].n_segments));
      json_object_set_new(o, "biased_objective", num(c[i].biased));
      json_array_append_new(cands, o);
    }
    json_object_set_new(root, "candidates", cands ? cands : json_null());
    json_object_set_new(root, "chosen", plan ? plan_json(plan, p, g) : json_null());
  }
  if (why) json_object_set_new(root, "error", json_string(why));
  return root;
fail:
  json_decref(root);
  json_decref(sig);
  json_decref(rules);
  return NULL;
}

int cl_explain(cleave_ctx *ctx, const cl_graph *g, const cl_profile *dev, const cl_profile *edge, char **json_out) {
  *json_out = NULL;
  cl_signals s;
  cl_policy_result r;
  int rc = cl_ctx_signals(ctx, &s);
  if (!rc) rc = cl_policy_decide(ctx, &s, &r);
  if (rc) return rc;
  cl_planner *pl = NULL;
  cl_place_problem p;
  cl_plan plan;
  cl_place_binding bind = {0};
  memset(&plan, 0, sizeof plan);
  bool planned = false;
  char why[CL_ERRMSG_MAX] = "";
  if (dev) {
    cl_place_problem_init(&p);
    cl_place_problem_add(&p, dev);
    if (edge) cl_place_problem_add(&p, edge);
    cl_policy_apply(&r, &p);
    /* planned where it runs: the local device's backend says whether it is there and what it runs */
    if ((rc = cl_place_bind_backends(ctx, g, &p, &bind))) goto done;
    if ((rc = cl_planner_new(ctx, g, &pl))) goto done;
    rc = cl_planner_plan(pl, &p, &plan);
    if (rc == CLEAVE_ENOMEM) goto done;
    if (rc) snprintf(why, sizeof why, "%s", cleave_ctx_last_error(ctx));
    planned = rc == 0;
    rc = 0;
  } else {
    snprintf(why, sizeof why, "no device profile: cleave_policy_set_profiles() names the files to plan with");
  }
  json_t *j = cl_explain_json(&s, ctx->policy->mode, ctx->policy->power, &r, g, pl, dev ? &p : NULL,
                              planned ? &plan : NULL, why[0] ? why : NULL);
  char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
  json_decref(j);
  if (!text) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "explain: out of memory");
    goto done;
  }
  size_t len = strlen(text);
  if ((*json_out = cl_malloc(ctx, len + 1)))
    memcpy(*json_out, text, len + 1);
  else
    rc = cl_err(ctx, CLEAVE_ENOMEM, "explain: out of memory");
  free(text);
done:
  if (planned) cl_plan_free(ctx, &plan);
  cl_planner_free(pl);
  cl_place_binding_free(ctx, &bind);
  return rc;
}

static int check_kinds(cleave_ctx *ctx, const cl_profile *dev, const cl_profile *edge, const char *dev_what,
                       const char *edge_what) {
  if (dev && dev->kind == CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_EINVAL, "%s: profile '%s' is an edge, not a device", dev_what, dev->name);
  if (edge && edge->kind != CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_EINVAL, "%s: profile '%s' is not of kind edge", edge_what, edge->name);
  return 0;
}

int cleave_policy_set_profiles(cleave_ctx *ctx, const char *device_path, const char *edge_path) {
  if (!ctx || !device_path) return cl_err(ctx, CLEAVE_EINVAL, "cleave_policy_set_profiles: no device profile");
  cl_profile dev, edge;
  int rc = cl_profile_load(ctx, device_path, &dev);
  if (!rc && edge_path) rc = cl_profile_load(ctx, edge_path, &edge);
  if (!rc) rc = check_kinds(ctx, &dev, edge_path ? &edge : NULL, device_path, edge_path);
  if (rc) return rc;
  /* the context has no cleanup of its own for the policies: files are held by value */
  ctx->policy->profiles[0] = dev;
  if (edge_path) ctx->policy->profiles[1] = edge;
  ctx->policy->device = &ctx->policy->profiles[0];
  ctx->policy->edge = edge_path ? &ctx->policy->profiles[1] : NULL;
  return 0;
}

int cleave_policy_use_profiles(cleave_ctx *ctx, const cleave_profile *device, const cleave_profile *edge) {
  if (!ctx) return CLEAVE_EINVAL;
  const cl_profile *dev = cl_profile_of(device), *ed = device ? cl_profile_of(edge) : NULL;
  int rc = check_kinds(ctx, dev, ed, "cleave_policy_use_profiles", "cleave_policy_use_profiles");
  if (rc) return rc;
  ctx->policy->device = dev;
  ctx->policy->edge = ed;
  return 0;
}
