/* core: cleave_model_print, the graph as text with each node's cost (partitioner/cost.h). */
#include <stdio.h>

#include "core/ir/model.h"
#include "partitioner/cost.h"

static void print_values(FILE *f, const cl_graph *g, const int *ids, int n) {
  char buf[160];
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0) {
      fprintf(f, "%s-", i ? ", " : "");
      continue;
    }
    const cl_value *v = &g->values[ids[i]];
    fprintf(f, "%s%s:%s%s%s", i ? ", " : "", v->name, cleave_dtype_name((cleave_dtype)v->dtype),
            cl_shape_str(&v->shape, buf, sizeof buf, g->symbols), v->konst ? "(const)" : "");
  }
}

int cleave_model_print(const cleave_model *m, FILE *f) {
  if (!m || !f) return CLEAVE_EINVAL;
  const cl_graph *g = &m->graph;
  double total_flops = 0, total_bytes = 0;
  int64_t weight_bytes = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].konst) weight_bytes += (int64_t)g->values[v].konst->nbytes;
  fprintf(f, "graph: opset %d, %d inputs, %d outputs, %d nodes, %.2f MB of constants\n", g->opset, g->n_inputs,
          g->n_outputs, g->n_nodes, (double)weight_bytes / 1e6);
  fprintf(f, "inputs:  ");
  print_values(f, g, g->inputs, g->n_inputs);
  fprintf(f, "\noutputs: ");
  print_values(f, g, g->outputs, g->n_outputs);
  fprintf(f, "\n%5s  %-18s %-28s %12s %12s  %s\n", "#", "op", "name", "MFLOPs", "KB moved", "inputs -> outputs");
  for (int i = 0; i < g->n_nodes; i++) {
    const cl_node *n = &g->nodes[i];
    cl_node_cost c;
    cl_cost_node(g, n, &c);
    if (c.known) {
      total_flops += c.flops;
      total_bytes += c.bytes;
      fprintf(f, "%5d  %-18s %-28s %12.3f %12.1f  ", i, n->op, n->name, c.flops / 1e6, c.bytes / 1024);
    } else {
      fprintf(f, "%5d  %-18s %-28s %12s %12s  ", i, n->op, n->name, "?", "?");
    }
    print_values(f, g, n->in, n->n_in);
    fprintf(f, " -> ");
    print_values(f, g, n->out, n->n_out);
    fputc('\n', f);
  }
  fprintf(f, "total: %.3f GFLOPs, %.1f MB moved\n", total_flops / 1e9, total_bytes / 1e6);
  return ferror(f) ? CLEAVE_EIO : 0;
}
