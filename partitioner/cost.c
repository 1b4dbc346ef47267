/* partitioner: FLOPs and bytes per node. Multiply-accumulate counts as 2 operations. */
#include "partitioner/cost.h"

#include <string.h>

static double numel(const cl_graph *g, int v) {
  if (v < 0) return 0;
  int64_t n = cl_shape_numel(&g->values[v].shape);
  return n < 0 ? -1 : (double)n;
}

static bool is(const cl_node *n, const char *op) { return strcmp(n->op, op) == 0; }

void cl_cost_node(const cl_graph *g, const cl_node *n, cl_node_cost *c) {
  memset(c, 0, sizeof *c);
  c->known = true;
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    int64_t b = cl_value_bytes(g, n->in[i]);
    if (b < 0) c->known = false;
    else c->bytes += (double)b;
  }
  double out_elems = 0;
  for (int i = 0; i < n->n_out; i++) {
    if (n->out[i] < 0) continue;
    int64_t b = cl_value_bytes(g, n->out[i]);
    double e = numel(g, n->out[i]);
    if (b < 0 || e < 0) c->known = false;
    else {
      c->bytes += (double)b;
      out_elems += e;
    }
  }
  if (!c->known) return;
  double in0 = n->n_in > 0 ? numel(g, n->in[0]) : 0;
  if (is(n, "Conv") || is(n, "ConvTranspose")) {
    /* each output (Conv) or input (ConvTranspose) element does Cin/group * prod(kernel) MACs */
    const cl_shape *w = &g->values[n->in[1]].shape;
    double k = 1;
    for (int i = 1; i < w->ndim; i++) k *= (double)w->d[i]; /* W: [Cout, Cin/g, k...] or [Cin, Cout/g, k...] */
    if (is(n, "Conv")) c->flops = 2 * out_elems * k;
    else c->flops = 2 * in0 * k;
  } else if (is(n, "MatMul") || is(n, "Gemm")) {
    const cl_shape *a = &g->values[n->in[0]].shape;
    double kdim = a->ndim >= 1 ? (double)a->d[a->ndim - 1] : 1;
    if (is(n, "Gemm") && cl_attr_int(n, "transA", 0)) kdim = (double)a->d[0];
    c->flops = 2 * out_elems * kdim;
  } else if (is(n, "AveragePool") || is(n, "MaxPool")) {
    const int64_t *ks;
    int nk = cl_attr_ints(n, "kernel_shape", &ks);
    double k = 1;
    for (int i = 0; i < nk; i++) k *= (double)ks[i];
    c->flops = out_elems * k;
  } else if (strncmp(n->op, "Reduce", 6) == 0 || strncmp(n->op, "Global", 6) == 0) {
    c->flops = in0;
  } else if (is(n, "Softmax") || is(n, "LogSoftmax") || is(n, "LayerNormalization") ||
             is(n, "BatchNormalization")) {
    c->flops = 5 * out_elems;
  } else if (is(n, "Resize") || is(n, "Upsample")) {
    c->flops = 4 * out_elems;
  } else if (is(n, "Reshape") || is(n, "Flatten") || is(n, "Squeeze") || is(n, "Unsqueeze") ||
             is(n, "Identity") || is(n, "Shape") || is(n, "Dropout")) {
    c->flops = 0;
    c->bytes = 0; /* views: nothing moves */
  } else {
    c->flops = out_elems; /* elementwise and data movement: one operation per output element */
  }
}
