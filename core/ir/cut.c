/* core: the minimal subgraph between given values (see cut.h). */
#include "core/ir/cut.h"

#include <string.h>

enum { UNSEEN = 0, FED = 1, NEEDED = 2 };

int cl_graph_cut(cleave_ctx *ctx, const cl_graph *g, const int *ins, int n_ins, const int *outs, int n_outs,
                 int *nodes, int *n_nodes) {
  *n_nodes = 0;
  unsigned char *vmark = cl_calloc(ctx, (size_t)g->n_values + 1, 1);
  unsigned char *nmark = cl_calloc(ctx, (size_t)g->n_nodes + 1, 1);
  int *stack = cl_malloc(ctx, sizeof(int) * ((size_t)g->n_values + 1));
  int rc = 0;
  if (!vmark || !nmark || !stack) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < n_ins; i++) {
    const cl_value *v = &g->values[ins[i]];
    if (vmark[ins[i]]) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "input '%s' is named twice", v->name);
      goto out;
    }
    if (v->konst) {
      rc = cl_err(ctx, CLEAVE_EINVAL, "'%s' is a constant of the model, not a tensor that can be fed", v->name);
      goto out;
    }
    vmark[ins[i]] = FED;
  }
  int top = 0;
  for (int i = 0; i < n_outs; i++) {
    if (vmark[outs[i]] == UNSEEN) {
      vmark[outs[i]] = NEEDED;
      stack[top++] = outs[i];
    }
  }
  /* each value is pushed at most once (marked when pushed), so the stack never holds more than n_values */
  while (top) {
    const cl_value *v = &g->values[stack[--top]];
    if (v->konst) continue;
    if (v->producer < 0) {
      rc = cl_err(ctx, CLEAVE_EMISSING,
                  "computing the requested outputs needs the model input '%s', which is not given", v->name);
      goto out;
    }
    if (nmark[v->producer]) continue;
    nmark[v->producer] = 1;
    const cl_node *n = &g->nodes[v->producer];
    for (int k = 0; k < n->n_in; k++) {
      int in = n->in[k];
      if (in < 0 || vmark[in]) continue;
      vmark[in] = NEEDED;
      stack[top++] = in;
    }
  }
  for (int i = 0; i < g->n_nodes; i++)
    if (nmark[i]) nodes[(*n_nodes)++] = i; /* nodes are kept in topological order */
out:
  cl_free(ctx, vmark);
  cl_free(ctx, nmark);
  cl_free(ctx, stack);
  return rc;
}
