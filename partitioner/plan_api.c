/* partitioner: the public API of include/cleave/plan.h (profiles and the online correction). */
#include <math.h>
#include <string.h>

#include "core/ir/model.h"
#include "partitioner/correction.h"

struct cleave_profile {
  cleave_ctx *ctx;
  cl_profile p;
};

struct cleave_correction {
  cl_correction c;
};

int cleave_profile_load(cleave_ctx *ctx, const char *path, cleave_profile **out) {
  if (!ctx || !path || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_profile_load: NULL argument");
  *out = NULL;
  cleave_profile *p = cl_calloc(ctx, 1, sizeof *p);
  if (!p) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  p->ctx = ctx;
  int rc = cl_profile_load(ctx, path, &p->p);
  if (rc) {
    cl_free(ctx, p);
    return rc;
  }
  *out = p;
  return 0;
}

void cleave_profile_free(cleave_profile *p) {
  if (p) cl_free(p->ctx, p);
}

const char *cleave_profile_name(const cleave_profile *p) { return p ? p->p.name : NULL; }

const cl_profile *cl_profile_of(const cleave_profile *p) { return p ? &p->p : NULL; }

int cleave_correction_new(cleave_ctx *ctx, cleave_correction **out) {
  if (!ctx || !out) return cl_err(ctx, CLEAVE_EINVAL, "cleave_correction_new: NULL argument");
  *out = cl_calloc(ctx, 1, sizeof **out);
  if (!*out) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  cl_correction_init(&(*out)->c, ctx);
  return 0;
}

void cleave_correction_free(cleave_correction *c) {
  if (c) cl_free(c->c.ctx, c);
}

int cleave_correction_load(cleave_correction *c, const char *path) {
  if (!c || !path) return CLEAVE_EINVAL;
  return cl_correction_load(&c->c, path);
}

int cleave_correction_save(const cleave_correction *c, const char *path) {
  if (!c || !path) return CLEAVE_EINVAL;
  return cl_correction_save(&c->c, path);
}

int cleave_correction_observe(cleave_correction *c, const cleave_model *model, const cleave_profile *profile,
                              const cleave_result *result) {
  if (!c || !model || !profile || !result) return CLEAVE_EINVAL;
  const cl_graph *g = &model->graph;
  int n_prof, used = 0, rc = 0;
  const cleave_node_profile *np = cleave_result_profile(result, &n_prof);
  if (n_prof == 0) return 0;
  /* a node may take several steps (a layout conversion beside its kernel): one observation of their sum */
  double *ms = cl_calloc(c->c.ctx, (size_t)g->n_nodes + 1, sizeof *ms);
  if (!ms) return cl_err(c->c.ctx, CLEAVE_ENOMEM, "out of memory");
  for (int i = 0; i < n_prof; i++)
    for (int n = 0; n < g->n_nodes; n++)
      if (strcmp(g->nodes[n].name, np[i].node) == 0) {
        ms[n] += np[i].ms > 0 ? np[i].ms : 1e-12; /* > 0 marks the node as timed */
        break;
      }
  for (int n = 0; n < g->n_nodes && !rc; n++) {
    if (!(ms[n] > 0)) continue;
    cl_node_cost cost;
    cl_cost_node(g, &g->nodes[n], &cost);
    if (!cost.known) continue;
    cl_op_class k = cl_op_class_of(g, &g->nodes[n]);
    double pred = cl_profile_node_ms(&profile->p, &cost, k);
    if (!isfinite(pred)) continue;
    if (!(rc = cl_correction_observe(&c->c, profile->p.name, k, ms[n], pred))) used++;
  }
  cl_free(c->c.ctx, ms);
  return rc ? rc : used;
}

double cleave_correction_factor(const cleave_correction *c, const char *profile, const char *op_class) {
  if (!c || !profile || !op_class) return CLEAVE_EINVAL;
  for (int k = 0; k < CL_OPC_COUNT; k++)
    if (strcmp(cl_op_class_name(k), op_class) == 0) return cl_correction_factor(&c->c, profile, (cl_op_class)k);
  return CLEAVE_EINVAL;
}
