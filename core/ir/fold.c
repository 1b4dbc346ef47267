/* core: load-time shape inference, constant folding and dead-node removal over the whole graph. */
#include <string.h>

#include "core/ir/graph.h"
#include "core/ir/ops.h"

/* Folding evaluates a node once at load; outputs larger than this stay computed at run time. */
#define FOLD_MAX_BYTES ((int64_t)64 << 20)

static void fill_ivals(const cl_graph *g, const cl_node *n, cl_ival *iv) {
  for (int i = 0; i < n->n_in; i++) {
    int v = n->in[i];
    memset(&iv[i], 0, sizeof iv[i]);
    if (v < 0) {
      iv[i].shape.ndim = -1;
      continue;
    }
    const cl_value *val = &g->values[v];
    iv[i].present = true;
    iv[i].dtype = val->dtype;
    iv[i].shape = val->shape;
    iv[i].value = val->konst;
  }
}

/* Merges what inference found with what the model declared (value_info is not used; declared graph outputs may
 * carry names for dims inference left unknown). */
static int infer_node(cl_graph *g, int idx) {
  cl_node *n = &g->nodes[idx];
  cl_ival iv[n->n_in > 0 ? n->n_in : 1];
  cl_oval ov[n->n_out > 0 ? n->n_out : 1];
  fill_ivals(g, n, iv);
  cl_infer_ctx ic = {.ctx = g->ctx, .opset = g->opset, .runtime = false};
  int rc = cl_op_infer(&ic, n, iv, n->n_in, ov, n->n_out);
  if (rc) return rc;
  for (int j = 0; j < n->n_out; j++) {
    if (n->out[j] < 0) continue;
    cl_value *val = &g->values[n->out[j]];
    val->dtype = ov[j].dtype;
    val->shape = ov[j].shape;
  }
  return 0;
}

int cl_graph_infer(cl_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    int rc = infer_node(g, i);
    if (rc) return rc;
  }
  return 0;
}

/* Shape and Size read only their input's dims: a static shape is as good as a constant. */
static bool reads_dims_only(const cl_node *n) { return strcmp(n->op, "Shape") == 0 || strcmp(n->op, "Size") == 0; }

static bool foldable(const cl_graph *g, const cl_node *n) {
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    const cl_value *v = &g->values[n->in[i]];
    if (!v->konst && !(reads_dims_only(n) && cl_shape_is_static(&v->shape))) return false;
  }
  for (int j = 0; j < n->n_out; j++) {
    if (n->out[j] < 0) continue;
    int64_t b = cl_value_bytes(g, n->out[j]);
    if (b < 0 || b > FOLD_MAX_BYTES) return false;
  }
  char why[256];
  return g->ctx->fold->supports(g, n, why, sizeof why) == 1;
}

static int fold_node(cl_graph *g, cl_node *n) {
  const cl_tensor *in[n->n_in > 0 ? n->n_in : 1];
  cl_tensor dims_only[n->n_in > 0 ? n->n_in : 1];
  cl_tensor out[n->n_out > 0 ? n->n_out : 1];
  for (int i = 0; i < n->n_in; i++) {
    const cl_value *v = n->in[i] >= 0 ? &g->values[n->in[i]] : NULL;
    in[i] = v ? v->konst : NULL;
    if (v && !v->konst) { /* a static shape without data (see foldable) */
      dims_only[i] = (cl_tensor){.dtype = v->dtype, .ndim = v->shape.ndim};
      memcpy(dims_only[i].dims, v->shape.d, sizeof v->shape.d);
      in[i] = &dims_only[i];
    }
  }
  int rc = g->ctx->fold->eval(g->ctx, g->opset, n, in, n->n_in, out, n->n_out);
  if (rc) return rc;
  for (int j = 0; j < n->n_out; j++) {
    if (n->out[j] < 0) {
      cl_tensor_release(g->ctx, &out[j]);
      continue;
    }
    cl_tensor *t = cl_malloc(g->ctx, sizeof *t);
    if (!t) {
      for (int k = j; k < n->n_out; k++) cl_tensor_release(g->ctx, &out[k]);
      return cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory folding constants");
    }
    *t = out[j];
    cl_value *val = &g->values[n->out[j]];
    val->konst = t;
    val->dtype = t->dtype;
    cl_shape_from_tensor(&val->shape, t);
    val->producer = -1;
  }
  return 0;
}

int cl_graph_fold(cl_graph *g) {
  if (!g->ctx->fold) return cl_graph_remove_dead(g);
  bool changed = false;
  for (int i = 0; i < g->n_nodes; i++) {
    cl_node *n = &g->nodes[i];
    if (foldable(g, n)) {
      int rc = fold_node(g, n);
      if (rc) return rc;
      changed = true;
    } else if (changed) {
      /* inputs became constants: infer again, now with values (e.g. a Reshape whose shape was folded) */
      int rc = infer_node(g, i);
      if (rc) return rc;
    }
  }
  return cl_graph_remove_dead(g);
}

int cl_graph_remove_dead(cl_graph *g) {
  if (g->n_nodes == 0) return 0;
  bool *live = cl_calloc(g->ctx, (size_t)g->n_nodes, sizeof(bool));
  bool *needed = cl_calloc(g->ctx, (size_t)g->n_values, sizeof(bool));
  int rc = 0;
  if (!live || !needed) {
    rc = cl_err(g->ctx, CLEAVE_ENOMEM, "out of memory removing dead nodes");
    goto out;
  }
  for (int i = 0; i < g->n_outputs; i++) needed[g->outputs[i]] = true;
  /* reverse topological sweep: a node lives if it still produces (not folded) a needed value */
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const cl_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_out && !live[i]; j++) {
      int v = n->out[j];
      if (v >= 0 && needed[v] && !g->values[v].konst) live[i] = true;
    }
    if (!live[i]) continue;
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) needed[n->in[j]] = true;
  }
  int k = 0;
  for (int i = 0; i < g->n_nodes; i++)
    if (live[i]) g->nodes[k++] = g->nodes[i];
  g->n_nodes = k;
  /* constants nobody reads any more (folded away or dead) are freed now */
  for (int v = 0; v < g->n_values; v++) {
    cl_value *val = &g->values[v];
    if (val->konst && !needed[v]) {
      cl_tensor_release(g->ctx, val->konst);
      cl_free(g->ctx, val->konst);
      val->konst = NULL;
    }
  }
  rc = cl_graph_link(g);
out:
  cl_free(g->ctx, live);
  cl_free(g->ctx, needed);
  return rc;
}

int cl_graph_fix_input_shape(cl_graph *g, const char *name, int ndim, const int64_t *dims) {
  int v = -1;
  for (int i = 0; i < g->n_inputs; i++)
    if (strcmp(g->values[g->inputs[i]].name, name) == 0) v = g->inputs[i];
  if (v < 0) return cl_err(g->ctx, CLEAVE_ENOTFOUND, "the model has no input named '%s'", name);
  cl_shape *s = &g->values[v].shape;
  if (ndim < 1 || ndim > CL_MAX_DIMS || (s->ndim >= 0 && s->ndim != ndim))
    return cl_err(g->ctx, CLEAVE_ESHAPE, "input '%s' has rank %d; %d dims given", name, s->ndim, ndim);
  for (int d = 0; d < ndim; d++) {
    if (dims[d] < 0 || dims[d] > CL_MAX_DIM_VALUE)
      return cl_err(g->ctx, CLEAVE_ESHAPE, "input '%s': dim %d out of range", name, d);
    if (s->ndim >= 0 && s->d[d] >= 0 && s->d[d] != dims[d])
      return cl_err(g->ctx, CLEAVE_ESHAPE, "input '%s': dim %d is %lld in the model, %lld given", name, d,
                    (long long)s->d[d], (long long)dims[d]);
  }
  s->ndim = ndim;
  for (int d = 0; d < ndim; d++)
    s->d[d] = dims[d];
  int rc = cl_graph_infer(g);
  if (!rc) rc = cl_graph_fold(g);
  return rc;
}
