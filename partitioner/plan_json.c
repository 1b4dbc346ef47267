/* partitioner: plans as JSON (for cleave-sim plan and explanations). */
#include "partitioner/plan_json.h"

#include <math.h>
#include <string.h>

static const char *const mode_names[] = {"auto", "prefer-local", "only-local", "prefer-edge", "only-edge"};
static const char *const kind_names[] = {"cpu", "gpu", "npu", "edge"};

static json_t *num_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *objective(const cl_objective *o) {
  return json_pack("{s:o,s:o,s:o,s:o,s:f,s:f}", "latency_ms", num_or_null(o->latency_ms), "energy_mj",
                   num_or_null(o->energy_mj), "cost", num_or_null(o->cost), "value", num_or_null(o->value),
                   "up_bytes", o->up_bytes, "down_bytes", o->down_bytes);
}

static json_t *names(const cl_graph *g, const int *ids, int n, bool nodes) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_string(nodes ? g->nodes[ids[i]].name : g->values[ids[i]].name))) {
      json_decref(a);
      return NULL;
    }
  return a;
}

json_t *cl_plan_json(const cl_planner *pl, const cl_place_problem *p, const cl_plan *plan, bool with_graph) {
  const cl_graph *g = cl_planner_graph(pl);
  json_t *root = json_object();
  if (!root) return NULL;
  int bad = 0;
  json_t *devs = json_array();
  for (int d = 0; devs && d < p->n_devices; d++)
    bad |= json_array_append_new(
        devs, json_pack("{s:s,s:s}", "name", p->dev[d].profile->name, "kind", kind_names[p->dev[d].profile->kind]));
  bad |= json_object_set_new(root, "devices", devs);
  bad |= json_object_set_new(root, "network",
                             json_pack("{s:f,s:f,s:f,s:s,s:b,s:f}", "uplink_mbps", p->net.up_mbps, "downlink_mbps",
                                       p->net.down_mbps, "rtt_ms", p->net.rtt_ms, "radio",
                                       cl_radio_preset(p->net.radio)->name, "radio_warm", (int)p->net.radio_warm,
                                       "queue_ms", p->edge_queue_ms));
  bad |= json_object_set_new(root, "weights",
                             json_pack("{s:f,s:f,s:f}", "lat", p->w_lat, "energy", p->w_energy, "cost", p->w_cost));
  bad |= json_object_set_new(root, "mode", json_string(mode_names[p->mode]));
  if (with_graph) {
    json_t *nodes = json_array();
    for (int n = 0; nodes && n < g->n_nodes; n++) {
      json_t *costs = json_object();
      for (int d = 0; costs && d < p->n_devices; d++)
        bad |= json_object_set_new(costs, p->dev[d].profile->name, num_or_null(cl_planner_node_ms(pl, p, n, d)));
      cl_node_cost c;
      cl_cost_node(g, &g->nodes[n], &c);
      bad |= json_array_append_new(nodes, json_pack("{s:s,s:s,s:s,s:f,s:f,s:o*}", "name", g->nodes[n].name, "op",
                                                    g->nodes[n].op, "class",
                                                    cl_op_class_name(cl_op_class_of(g, &g->nodes[n])), "flops",
                                                    c.flops, "bytes", c.bytes, "cost_ms", costs));
    }
    bad |= json_object_set_new(root, "nodes", nodes);
    json_t *tensors = json_array();
    for (int v = 0; tensors && v < g->n_values; v++) {
      const cl_value *val = &g->values[v];
      if (val->konst || (val->producer < 0 && !val->is_input) || (!val->n_consumers && !val->is_output)) continue;
      json_t *cons = json_array();
      for (int c = 0; cons && c < val->n_consumers; c++) {
        /* a node that reads the tensor twice is listed once */
        bool dup = false;
        for (int k = 0; k < c; k++)
          dup |= val->consumers[k] == val->consumers[c];
        if (!dup) bad |= json_array_append_new(cons, json_string(g->nodes[val->consumers[c]].name));
      }
      bad |= json_array_append_new(
          tensors, json_pack("{s:s,s:f,s:o,s:o*,s:b}", "name", val->name, "bytes", cl_planner_value_bytes(pl, v),
                             "producer", val->producer >= 0 ? json_string(g->nodes[val->producer].name) : json_null(),
                             "consumers", cons, "output", (int)val->is_output));
    }
    bad |= json_object_set_new(root, "tensors", tensors);
  }
  json_t *assign = json_object();
  for (int n = 0; assign && n < plan->n_nodes; n++)
    bad |= json_object_set_new(assign, g->nodes[n].name, json_string(p->dev[plan->assign[n]].profile->name));
  bad |= json_object_set_new(root, "assignment", assign);
  json_t *segs = json_array();
  for (int s = 0; segs && s < plan->n_segments; s++) {
    const cl_plan_segment *sg = &plan->segments[s];
    json_t *deps = json_array();
    for (int k = 0; deps && k < sg->n_deps; k++)
      bad |= json_array_append_new(deps, json_integer(sg->deps[k]));
    bad |= json_array_append_new(segs, json_pack("{s:i,s:s,s:o*,s:o*,s:o*,s:o*,s:o,s:o,s:o}", "id", s, "device",
                                                 p->dev[sg->device].profile->name, "nodes",
                                                 names(g, sg->nodes, sg->n_nodes, true), "inputs",
                                                 names(g, sg->inputs, sg->n_inputs, false), "outputs",
                                                 names(g, sg->outputs, sg->n_outputs, false), "deps", deps,
                                                 "compute_ms", num_or_null(sg->compute_ms), "start_ms",
                                                 num_or_null(sg->start_ms), "end_ms", num_or_null(sg->end_ms)));
  }
  bad |= json_object_set_new(root, "segments", segs);
  bad |= json_object_set_new(root, "plan", json_string(plan->name));
  bad |= json_object_set_new(root, "objective", objective(&plan->obj));
  int nc;
  const cl_plan_candidate *cand = cl_planner_candidates(pl, &nc);
  json_t *cands = json_array();
  for (int i = 0; cands && i < nc; i++) {
    json_t *o = objective(&cand[i].obj);
    if (o) {
      bad |= json_object_set_new(o, "name", json_string(cand[i].name));
      bad |= json_object_set_new(o, "feasible", json_boolean(cand[i].feasible));
      bad |= json_object_set_new(o, "why", cand[i].why[0] ? json_string(cand[i].why) : json_null());
      bad |= json_object_set_new(o, "segments", json_integer(cand[i].n_segments));
    }
    bad |= json_array_append_new(cands, o);
  }
  bad |= json_object_set_new(root, "candidates", cands);
  if (bad) {
    json_decref(root);
    return NULL;
  }
  return root;
}
