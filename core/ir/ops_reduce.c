/* core: schemas and shape inference of the reduce operators: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax,
 * LayerNormalization and CumSum. */
#include "core/ir/ops.h"

#include <stdio.h>
#include <string.h>

/* ONNX moved Reduce* axes from an attribute to an optional input: ReduceSum at opset 13, the others at 18. */
static int axes_input_opset(const cl_node *n) { return strcmp(n->op, "ReduceSum") == 0 ? 13 : 18; }

static const char *shape_str(const cl_shape *s, char *buf, size_t len) { return cl_shape_str(s, buf, len, NULL); }

/* Reads the reduction axes. *n_axes is -1 when they come from an input whose value is unknown at load. */
static int reduce_axes(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, int64_t *axes,
                       int *n_axes) {
  int from = axes_input_opset(n);
  if (ic->opset < from) {
    if (n_in > 1 && in[1].present)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "takes axes as an attribute before opset %d, not as input 1",
                         from);
    const int64_t *a;
    int k = cl_attr_ints(n, "axes", &a);
    if (k > CL_MAX_DIMS)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d axes, more than the %d dims a tensor can have", k,
                         CL_MAX_DIMS);
    *n_axes = k < 0 ? 0 : k;
    for (int i = 0; i < *n_axes; i++)
      axes[i] = a[i];
    return 0;
  }
  if (cl_node_attr(n, "axes"))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "takes axes as input 1 from opset %d, not as an attribute", from);
  if (n_in < 2 || !in[1].present) {
    *n_axes = 0;
    return 0;
  }
  if (in[1].dtype != CLEAVE_DTYPE_INT64 && in[1].dtype != CLEAVE_DTYPE_INT32)
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "axes input has dtype %s, expected int64",
                       cleave_dtype_name(in[1].dtype));
  if (in[1].shape.ndim > 1)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "axes input has rank %d, expected a 1-D tensor", in[1].shape.ndim);
  int k = cl_ival_ints(&in[1], axes, CL_MAX_DIMS);
  if (k == -2)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axes input has more than the %d dims a tensor can have",
                       CL_MAX_DIMS);
  if (k == -1 && cl_shape_numel(&in[1].shape) == 0) k = 0; /* an empty list is known without its value */
  *n_axes = k;
  return 0;
}

static int infer_reduce(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out) {
  const cl_shape *xs = &in[0].shape;
  bool keep = cl_attr_int(n, "keepdims", 1) != 0;
  bool noop = cl_attr_int(n, "noop_with_empty_axes", 0) != 0;
  int64_t axes[CL_MAX_DIMS];
  int n_axes = 0, rc;
  if ((rc = reduce_axes(ic, n, in, n_in, axes, &n_axes))) return rc;
  out[0].dtype = in[0].dtype;
  if (xs->ndim < 0) return 0;
  int rank = xs->ndim;
  if (n_axes < 0) {
    /* Which dims go is unknown; with keepdims the rank stays and dims of 1 stay 1. */
    if (!keep) return 0;
    out[0].shape.ndim = rank;
    for (int d = 0; d < rank; d++)
      out[0].shape.d[d] = xs->d[d] == 1 ? 1 : CL_DIM_UNKNOWN;
    return 0;
  }
  bool red[CL_MAX_DIMS] = {false};
  if (n_axes == 0) {
    for (int d = 0; d < rank; d++)
      red[d] = !noop;
  }
  for (int i = 0; i < n_axes; i++) {
    int a = 0;
    if ((rc = cl_norm_axis(ic->ctx, n, axes[i], rank, &a))) return rc;
    if (red[a]) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axis %lld is listed twice", (long long)axes[i]);
    red[a] = true;
  }
  int o = 0;
  for (int d = 0; d < rank; d++) {
    if (!red[d])
      out[0].shape.d[o++] = xs->d[d];
    else if (keep)
      out[0].shape.d[o++] = 1;
  }
  out[0].shape.ndim = o;
  return 0;
}

static int infer_arg(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out) {
  const cl_shape *xs = &in[0].shape;
  bool keep = cl_attr_int(n, "keepdims", 1) != 0;
  out[0].dtype = CLEAVE_DTYPE_INT64;
  if (xs->ndim < 0) return 0;
  int a = 0, rc;
  if ((rc = cl_norm_axis(ic->ctx, n, cl_attr_int(n, "axis", 0), xs->ndim, &a))) return rc;
  if (xs->d[a] == 0) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "axis %d is empty, there is no extremum", a);
  int o = 0;
  for (int d = 0; d < xs->ndim; d++) {
    if (d != a)
      out[0].shape.d[o++] = xs->d[d];
    else if (keep)
      out[0].shape.d[o++] = 1;
  }
  out[0].shape.ndim = o;
  return 0;
}

/* Softmax, LogSoftmax, Hardmax: before opset 13 the input is seen as 2-D at axis (default 1); from 13 the op runs
 * along one axis (default -1). Either way the output has the input's shape. */
static int infer_softmax(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  out[0].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  if (in[0].shape.ndim < 0) return 0;
  int a = 0;
  int64_t axis = cl_attr_int(n, "axis", ic->opset < 13 ? 1 : -1);
  if (ic->opset < 13 && axis == in[0].shape.ndim) return 0; /* coerced to [N, 1]: legal before 13 */
  return cl_norm_axis(ic->ctx, n, axis, in[0].shape.ndim, &a);
}

/* Scale and B must broadcast one way onto the normalised dims X.shape[axis:]. */
static int check_ln_param(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *x, const cl_ival *p,
                          const char *what, int axis) {
  char b1[96], b2[96];
  if (p->dtype != x->dtype)
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "%s has dtype %s, X has %s", what, cleave_dtype_name(p->dtype),
                       cleave_dtype_name(x->dtype));
  if (p->shape.ndim < 0 || x->shape.ndim < 0) return 0;
  cl_shape norm = {.ndim = x->shape.ndim - axis};
  for (int d = 0; d < norm.ndim; d++)
    norm.d[d] = x->shape.d[axis + d];
  bool ok = p->shape.ndim <= norm.ndim;
  for (int d = 0; ok && d < p->shape.ndim; d++) {
    int64_t pd = p->shape.d[d], nd = norm.d[norm.ndim - p->shape.ndim + d];
    if (pd >= 0 && nd >= 0 && pd != nd && pd != 1) ok = false;
  }
  if (!ok)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "%s of shape %s does not broadcast to the normalised shape %s",
                       what, shape_str(&p->shape, b1, sizeof b1), shape_str(&norm, b2, sizeof b2));
  return 0;
}

static int infer_layernorm(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  const cl_ival *x = &in[0];
  int stash = (int)cl_attr_int(n, "stash_type", CLEAVE_DTYPE_FLOAT32);
  if (x->dtype != CLEAVE_DTYPE_FLOAT32 && x->dtype != CLEAVE_DTYPE_FLOAT16 && x->dtype != CLEAVE_DTYPE_FLOAT64)
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "X has dtype %s, expected a float type",
                       cleave_dtype_name(x->dtype));
  if (stash != CLEAVE_DTYPE_FLOAT32 && stash != CLEAVE_DTYPE_FLOAT16 && stash != CLEAVE_DTYPE_FLOAT64)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "stash_type %d is not a float type", stash);
  out[0].dtype = x->dtype;
  out[0].shape = x->shape;
  for (int i = 1; i < n_out; i++)
    out[i].dtype = stash;
  if (x->shape.ndim < 0) return 0;
  int a = 0, rc, rank = x->shape.ndim;
  if ((rc = cl_norm_axis(ic->ctx, n, cl_attr_int(n, "axis", -1), rank, &a))) return rc;
  if ((rc = check_ln_param(ic, n, x, &in[1], "Scale", a))) return rc;
  if (n_in > 2 && in[2].present && (rc = check_ln_param(ic, n, x, &in[2], "B", a))) return rc;
  for (int i = 1; i < n_out; i++) {
    out[i].shape.ndim = rank;
    for (int d = 0; d < rank; d++)
      out[i].shape.d[d] = d < a ? x->shape.d[d] : 1;
  }
  return 0;
}

static int infer_cumsum(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out) {
  const cl_ival *ax = &in[1];
  out[0].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  if (ax->dtype != CLEAVE_DTYPE_INT64 && ax->dtype != CLEAVE_DTYPE_INT32)
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "axis input has dtype %s, expected int32 or int64",
                       cleave_dtype_name(ax->dtype));
  /* A 0-D tensor by the spec; a 1-element 1-D tensor is accepted as ONNX Runtime does. */
  if (ax->shape.ndim > 1 || (ax->shape.ndim == 1 && ax->shape.d[0] >= 0 && ax->shape.d[0] != 1))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "axis input must be a scalar");
  int64_t v;
  if (in[0].shape.ndim < 0 || cl_ival_ints(ax, &v, 1) != 1) return 0;
  int a = 0;
  return cl_norm_axis(ic->ctx, n, v, in[0].shape.ndim, &a);
}

#define REDUCE(op)                                                                                                   \
  { .name = op, .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1, .infer = infer_reduce }

const cl_op_schema cl_ops_reduce[] = {
    REDUCE("ReduceMean"),
    REDUCE("ReduceSum"),
    REDUCE("ReduceMax"),
    REDUCE("ReduceMin"),
    REDUCE("ReduceProd"),
    REDUCE("ReduceL1"),
    REDUCE("ReduceL2"),
    REDUCE("ReduceSumSquare"),
    REDUCE("ReduceLogSum"),
    REDUCE("ReduceLogSumExp"),
    {.name = "ArgMax", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_arg},
    {.name = "ArgMin", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_arg},
    {.name = "Softmax", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_softmax},
    {.name = "LogSoftmax",
     .min_inputs = 1,
     .max_inputs = 1,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_softmax},
    {.name = "Hardmax", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_softmax},
    {.name = "LayerNormalization",
     .min_inputs = 2,
     .max_inputs = 3,
     .min_outputs = 1,
     .max_outputs = 3,
     .infer = infer_layernorm},
    {.name = "CumSum", .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1, .infer = infer_cumsum},
    {.name = NULL},
};
