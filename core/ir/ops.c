/* core: the operator registry and helpers shared by infer functions. */
#include "core/ir/ops.h"

#include <string.h>

static const cl_op_schema *const families[] = {cl_ops_elementwise, cl_ops_nn, cl_ops_data, cl_ops_reduce};

const cl_op_schema *cl_op_find(const char *domain, const char *op) {
  if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return NULL;
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const cl_op_schema *s = families[f]; s->name; s++)
      if (strcmp(s->name, op) == 0) return s;
  return NULL;
}

int cl_op_infer(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out) {
  const cl_op_schema *s = n->schema;
  if (!s) return cl_node_err(ic->ctx, n, CLEAVE_EUNSUPPORTED, "unknown operator");
  int present_in = n_in;
  while (present_in > 0 && !in[present_in - 1].present) present_in--;
  if (present_in < s->min_inputs || (s->max_inputs >= 0 && n_in > s->max_inputs))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs, the operator takes %d to %d", n_in,
                       s->min_inputs, s->max_inputs);
  if (n_out < s->min_outputs || n_out > s->max_outputs)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d outputs, the operator makes %d to %d", n_out,
                       s->min_outputs, s->max_outputs);
  for (int i = 0; i < s->min_inputs && i < n_in; i++)
    if (!in[i].present) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "required input %d is missing", i);
  for (int i = 0; i < n_out; i++) {
    out[i].dtype = CLEAVE_DTYPE_UNDEFINED;
    out[i].shape.ndim = -1;
  }
  int rc = s->infer(ic, n, in, n_in, out, n_out);
  if (rc) return rc;
  /* one guard for every op: no output may be larger than the library can address safely */
  for (int i = 0; i < n_out; i++) {
    const cl_shape *sh = &out[i].shape;
    if (sh->ndim > CL_MAX_DIMS)
      return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "output %d would have rank %d; at most %d is supported", i,
                         sh->ndim, CL_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < sh->ndim; d++) {
      if (sh->d[d] > CL_MAX_DIM_VALUE || (sh->d[d] >= 0 && cl_mul_i64(numel, sh->d[d], &numel)) ||
          numel > CL_MAX_DIM_VALUE)
        return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "output %d would have more than 2^40 elements", i);
    }
  }
  return 0;
}

int cl_norm_axis(cleave_ctx *ctx, const cl_node *n, int64_t axis, int rank, int *out) {
  if (axis < -(int64_t)rank || axis >= rank)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "axis %lld is out of range for rank %d", (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

int cl_ival_ints(const cl_ival *v, int64_t *dst, int max) {
  if (!v->present || !v->value) return -1;
  int64_t n = cl_tensor_numel(v->value);
  if (n > max) return -2;
  for (int64_t i = 0; i < n; i++) dst[i] = cl_tensor_get_i64(v->value, i);
  return (int)n;
}
