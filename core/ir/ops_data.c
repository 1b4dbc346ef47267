/* core: schemas and shape inference of the data operators (constants, shapes, casts, reshapes, joins).
 *
 * The rest of the family (indexing, padding, generators) is in ops_data_2.c. Shape subgraphs fold at load only if
 * every output shape here is exact whenever the values it depends on are constant, so unknown dims are produced
 * only where a value is genuinely unknown. */
#include <string.h>

#include "core/ir/ops_data.h"

/* ---- helpers shared with ops_data_2.c ---- */

const cl_ival *cl_data_opt_in(const cl_ival *in, int n_in, int i) {
  return i < n_in && in[i].present ? &in[i] : NULL;
}

void cl_data_set_unknown(cl_oval *o, int ndim) {
  o->shape.ndim = ndim;
  for (int i = 0; i < ndim && i < CL_MAX_DIMS; i++) o->shape.d[i] = CL_DIM_UNKNOWN;
}

int cl_data_rank_ok(const cl_infer_ctx *ic, const cl_node *n, int64_t rank) {
  if (rank > CL_MAX_DIMS)
    return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "output rank %lld exceeds the limit of %d", (long long)rank,
                       CL_MAX_DIMS);
  return 0;
}

bool cl_data_int_dtype(int dt) {
  return dt == CLEAVE_DTYPE_UNDEFINED || dt == CLEAVE_DTYPE_INT64 || dt == CLEAVE_DTYPE_INT32;
}

/* An integer list that ONNX moved from attribute attr (opset < since) to input idx (opset >= since). Sets *count
 * to the number of values, CL_LIST_ABSENT or CL_LIST_UNKNOWN (an input whose value is not known yet). */
int cl_data_read_list(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, const char *attr,
                      int idx, int since, int64_t *dst, int max, int *count) {
  if (ic->opset < since) {
    const int64_t *v;
    int k = cl_attr_ints(n, attr, &v);
    if (k < 0) {
      *count = CL_LIST_ABSENT;
      return 0;
    }
    if (k > max)
      return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "attribute %s has %d values, at most %d are supported", attr, k,
                         max);
    if (k) memcpy(dst, v, sizeof *dst * (size_t)k);
    *count = k;
    return 0;
  }
  const cl_ival *v = cl_data_opt_in(in, n_in, idx);
  if (!v) {
    *count = CL_LIST_ABSENT;
    return 0;
  }
  if (!cl_data_int_dtype(v->dtype))
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %s must be int64, not %s", attr,
                       cleave_dtype_name(v->dtype));
  if (v->shape.ndim > 1)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s must be 1-D, it has rank %d", attr, v->shape.ndim);
  int k = cl_ival_ints(v, dst, max);
  if (k == -2)
    return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "input %s has more than %d values", attr, max);
  *count = k < 0 ? CL_LIST_UNKNOWN : k;
  return 0;
}

/* Length of a 1-D list input whose values are unknown, or -1. */
int64_t cl_data_list_len(const cl_ival *in, int n_in, int idx) {
  const cl_ival *v = cl_data_opt_in(in, n_in, idx);
  if (!v || v->shape.ndim != 1 || v->shape.d[0] < 0) return -1;
  return v->shape.d[0];
}

/* Product of dims [from, to) of s: a single dim passes through (symbol included); unknown if any is unknown. */
static int dims_product(const cl_infer_ctx *ic, const cl_node *n, const cl_shape *s, int from, int to, int64_t *out) {
  if (to - from == 1) {
    *out = s->d[from];
    return 0;
  }
  int64_t p = 1;
  bool unknown = false;
  for (int i = from; i < to; i++) {
    if (s->d[i] < 0) unknown = true;
    else if (cl_mul_i64(p, s->d[i], &p))
      return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "element count overflows");
  }
  *out = unknown && p != 0 ? CL_DIM_UNKNOWN : p;
  return 0;
}

/* Merges two views of one dimension (for inputs that must agree): known beats unknown. */
static int merge_dim(const cl_infer_ctx *ic, const cl_node *n, int64_t a, int64_t b, int axis, int64_t *out) {
  if (a >= 0 && b >= 0 && a != b)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "inputs disagree on dimension %d: %lld vs %lld", axis,
                       (long long)a, (long long)b);
  *out = a >= 0 ? a : b >= 0 ? b : a == b ? a : CL_DIM_UNKNOWN;
  return 0;
}

/* ---- Constant ---- */

static int infer_constant(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                          int n_out) {
  const cl_attr *a;
  cl_shape *s = &out[0].shape;
  if ((a = cl_node_attr(n, "value")) && a->type == CL_ATTR_TENSOR && a->t) {
    out[0].dtype = a->t->dtype;
    cl_shape_from_tensor(s, a->t);
  } else if ((a = cl_node_attr(n, "value_float")) && a->type == CL_ATTR_FLOAT) {
    out[0].dtype = CLEAVE_DTYPE_FLOAT32;
    s->ndim = 0;
  } else if ((a = cl_node_attr(n, "value_floats")) && a->type == CL_ATTR_FLOATS) {
    out[0].dtype = CLEAVE_DTYPE_FLOAT32;
    s->ndim = 1;
    s->d[0] = a->n;
  } else if ((a = cl_node_attr(n, "value_int")) && a->type == CL_ATTR_INT) {
    out[0].dtype = CLEAVE_DTYPE_INT64;
    s->ndim = 0;
  } else if ((a = cl_node_attr(n, "value_ints")) && a->type == CL_ATTR_INTS) {
    out[0].dtype = CLEAVE_DTYPE_INT64;
    s->ndim = 1;
    s->d[0] = a->n;
  } else if ((a = cl_node_attr(n, "value_string"))) {
    out[0].dtype = CLEAVE_DTYPE_STRING;
    s->ndim = 0;
  } else if ((a = cl_node_attr(n, "value_strings"))) {
    out[0].dtype = CLEAVE_DTYPE_STRING;
    s->ndim = 1;
    s->d[0] = a->n;
  } else if (cl_node_attr(n, "sparse_value")) {
    /* left to the backends' capability checks, which reject it; its type is not known here */
    out[0].dtype = CLEAVE_DTYPE_UNDEFINED;
    s->ndim = -1;
  } else {
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has no value attribute");
  }
  return 0;
}

/* ---- Shape, Size ---- */

static int infer_shape(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  out[0].dtype = CLEAVE_DTYPE_INT64;
  int r = in[0].shape.ndim;
  if (r < 0) {
    cl_data_set_unknown(&out[0], 1);
    return 0;
  }
  int64_t start = cl_attr_int(n, "start", 0), end = cl_attr_int(n, "end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = start < 0 ? 0 : start > r ? r : start;
  end = end < 0 ? 0 : end > r ? r : end;
  out[0].shape.ndim = 1;
  out[0].shape.d[0] = end > start ? end - start : 0;
  return 0;
}

static int infer_size(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  out[0].dtype = CLEAVE_DTYPE_INT64;
  out[0].shape.ndim = 0;
  return 0;
}

/* ---- Cast, CastLike ---- */

bool cl_cast_target_ok(int64_t to, const char **name) {
  static const char *const names[] = {"undefined",  "float",          "uint8",      "int8",           "uint16",
                                      "int16",      "int32",          "int64",      "string",         "bool",
                                      "float16",    "double",         "uint32",     "uint64",         "complex64",
                                      "complex128", "bfloat16",       "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
                                      "float8e5m2fnuz", "uint4",      "int4",       "float4e2m1"};
  *name = to >= 0 && to < (int64_t)(sizeof names / sizeof names[0]) ? names[to] : "unknown";
  return to == CLEAVE_DTYPE_FLOAT32 || to == CLEAVE_DTYPE_INT32 || to == CLEAVE_DTYPE_INT64 ||
         to == CLEAVE_DTYPE_BOOL;
}

static int infer_cast(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  const cl_attr *a = cl_node_attr(n, "to");
  if (!a || a->type != CL_ATTR_INT) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute 'to' is missing");
  if (a->i < 1 || a->i > 23)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "to=%lld is not an ONNX data type", (long long)a->i);
  out[0].dtype = (int)a->i;
  out[0].shape = in[0].shape;
  return 0;
}

static int infer_cast_like(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  out[0].dtype = in[1].dtype;
  out[0].shape = in[0].shape;
  return 0;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

/* The -1 of a Reshape, or a check of the element count, from what is known on both sides: known dims multiply,
 * and a symbolic output dim copied from the input cancels the same symbol on the input side. */
static int reshape_count(const cl_infer_ctx *ic, const cl_node *n, const cl_shape *is, cl_shape *os, int neg) {
  int64_t in_known = 1, out_known = 1, syms[CL_MAX_DIMS];
  int n_syms = 0;
  bool open = false;
  for (int i = 0; i < is->ndim; i++) {
    if (is->d[i] >= 0) {
      if (cl_mul_i64(in_known, is->d[i], &in_known))
        return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "input element count overflows");
    } else if (CL_DIM_IS_SYM(is->d[i])) syms[n_syms++] = is->d[i];
    else open = true;
  }
  for (int i = 0; i < os->ndim; i++) {
    if (i == neg) continue;
    int64_t d = os->d[i];
    if (d >= 0) {
      if (cl_mul_i64(out_known, d, &out_known))
        return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "output element count overflows");
      continue;
    }
    int j = 0;
    while (j < n_syms && syms[j] != d) j++;
    if (CL_DIM_IS_SYM(d) && j < n_syms) syms[j] = syms[--n_syms];
    else open = true;
  }
  if (open) return 0;
  char b1[96], b2[96];
  if (neg >= 0) {
    if (n_syms == 0) {
      if (out_known == 0)
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot infer the -1 of %s: the other dims multiply to 0",
                           cl_shape_str(os, b2, sizeof b2, NULL));
      if (in_known % out_known)
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot reshape %s (%lld elements) to %s",
                           cl_shape_str(is, b1, sizeof b1, NULL), (long long)in_known,
                           cl_shape_str(os, b2, sizeof b2, NULL));
      os->d[neg] = in_known / out_known;
    } else if (n_syms == 1 && in_known == out_known) {
      os->d[neg] = syms[0];
    }
  } else if (n_syms == 0 && in_known != out_known) {
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                       cl_shape_str(is, b1, sizeof b1, NULL), (long long)in_known,
                       cl_shape_str(os, b2, sizeof b2, NULL), (long long)out_known);
  }
  return 0;
}

static int infer_reshape(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t sh[CL_MAX_DIMS];
  int k, rc;
  bool allowzero = cl_attr_int(n, "allowzero", 0) != 0;
  out[0].dtype = in[0].dtype;
  if (ic->opset >= 5 && !cl_data_opt_in(in, n_in, 1))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "the shape input is missing");
  if ((rc = cl_data_read_list(ic, n, in, n_in, "shape", 1, 5, sh, CL_MAX_DIMS, &k))) return rc;
  if (k == CL_LIST_ABSENT) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute 'shape' is missing");
  if (k == CL_LIST_UNKNOWN) {
    int64_t r = cl_data_list_len(in, n_in, 1);
    if (r >= 0) {
      if ((rc = cl_data_rank_ok(ic, n, r))) return rc;
      cl_data_set_unknown(&out[0], (int)r);
    }
    return 0;
  }
  cl_shape *os = &out[0].shape;
  os->ndim = k;
  int neg = -1;
  bool zero = false;
  for (int i = 0; i < k; i++) {
    int64_t v = sh[i];
    if (v == -1) {
      if (neg >= 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "the target shape has more than one -1");
      neg = i;
      os->d[i] = CL_DIM_UNKNOWN;
    } else if (v < -1) {
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "target dimension %d is %lld", i, (long long)v);
    } else if (v == 0 && !allowzero) {
      if (is->ndim >= 0 && i >= is->ndim)
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "target dimension %d is 0 (copy) but the input has rank %d", i,
                           is->ndim);
      os->d[i] = is->ndim >= 0 ? is->d[i] : CL_DIM_UNKNOWN;
    } else {
      zero |= v == 0;
      os->d[i] = v;
    }
  }
  if (zero && neg >= 0)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "allowzero=1 with both 0 and -1 in the target shape");
  return is->ndim >= 0 ? reshape_count(ic, n, is, os, neg) : 0;
}

static int infer_flatten(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  const cl_shape *is = &in[0].shape;
  int r = is->ndim, rc;
  out[0].dtype = in[0].dtype;
  cl_data_set_unknown(&out[0], 2);
  if (r < 0) return 0;
  int64_t axis = cl_attr_int(n, "axis", 1);
  if (axis < -r || axis > r)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axis %lld is out of range for rank %d", (long long)axis, r);
  if (axis < 0) axis += r;
  if ((rc = dims_product(ic, n, is, 0, (int)axis, &out[0].shape.d[0]))) return rc;
  return dims_product(ic, n, is, (int)axis, r, &out[0].shape.d[1]);
}

/* Axes normalised against rank into *mask; duplicates are an error. */
static int axes_mask(const cl_infer_ctx *ic, const cl_node *n, const int64_t *axes, int k, int rank, unsigned *mask) {
  *mask = 0;
  for (int i = 0; i < k; i++) {
    int a, rc;
    if ((rc = cl_norm_axis(ic->ctx, n, axes[i], rank, &a))) return rc;
    if (*mask & (1u << a)) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axis %d is repeated", a);
    *mask |= 1u << a;
  }
  return 0;
}

static int infer_squeeze(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t axes[CL_MAX_DIMS];
  int k, rc, r = is->ndim;
  out[0].dtype = in[0].dtype;
  if ((rc = cl_data_read_list(ic, n, in, n_in, "axes", 1, 13, axes, CL_MAX_DIMS, &k))) return rc;
  if (r < 0) return 0;
  unsigned mask = 0;
  if (k == CL_LIST_UNKNOWN) {
    int64_t len = cl_data_list_len(in, n_in, 1);
    if (len >= 0 && len <= r) cl_data_set_unknown(&out[0], r - (int)len);
    return 0;
  }
  if (k == CL_LIST_ABSENT) {
    for (int i = 0; i < r; i++) {
      if (is->d[i] < 0) return 0; /* might be 1: the rank is not known */
      if (is->d[i] == 1) mask |= 1u << i;
    }
  } else {
    if ((rc = axes_mask(ic, n, axes, k, r, &mask))) return rc;
    for (int i = 0; i < r; i++)
      if ((mask & (1u << i)) && is->d[i] >= 0 && is->d[i] != 1)
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot squeeze axis %d of size %lld", i, (long long)is->d[i]);
  }
  cl_shape *os = &out[0].shape;
  os->ndim = 0;
  for (int i = 0; i < r; i++)
    if (!(mask & (1u << i))) os->d[os->ndim++] = is->d[i];
  return 0;
}

static int infer_unsqueeze(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t axes[CL_MAX_DIMS];
  int k, rc, r = is->ndim;
  out[0].dtype = in[0].dtype;
  if ((rc = cl_data_read_list(ic, n, in, n_in, "axes", 1, 13, axes, CL_MAX_DIMS, &k))) return rc;
  if (k == CL_LIST_ABSENT) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axes are missing");
  if (r < 0) return 0;
  if (k == CL_LIST_UNKNOWN) {
    int64_t len = cl_data_list_len(in, n_in, 1);
    if (len >= 0) {
      if ((rc = cl_data_rank_ok(ic, n, r + len))) return rc;
      cl_data_set_unknown(&out[0], r + (int)len);
    }
    return 0;
  }
  if ((rc = cl_data_rank_ok(ic, n, r + k))) return rc;
  unsigned mask;
  if ((rc = axes_mask(ic, n, axes, k, r + k, &mask))) return rc;
  cl_shape *os = &out[0].shape;
  os->ndim = r + k;
  for (int i = 0, j = 0; i < r + k; i++) os->d[i] = (mask & (1u << i)) ? 1 : is->d[j++];
  return 0;
}

/* ---- Transpose, Concat, Split ---- */

static int infer_transpose(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  const cl_shape *is = &in[0].shape;
  const int64_t *perm;
  int k = cl_attr_ints(n, "perm", &perm), r = is->ndim;
  out[0].dtype = in[0].dtype;
  if (k > CL_MAX_DIMS) return cl_data_rank_ok(ic, n, k);
  if (r < 0) {
    if (k >= 0) cl_data_set_unknown(&out[0], k);
    return 0;
  }
  if (k >= 0 && k != r)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "perm has %d entries for an input of rank %d", k, r);
  unsigned seen = 0;
  cl_shape *os = &out[0].shape;
  os->ndim = r;
  for (int i = 0; i < r; i++) {
    int64_t p = k >= 0 ? perm[i] : r - 1 - i;
    if (p < 0 || p >= r || (seen & (1u << p)))
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "perm is not a permutation of 0..%d", r - 1);
    seen |= 1u << p;
    os->d[i] = is->d[p];
  }
  return 0;
}

static int infer_concat(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out) {
  const cl_attr *a = cl_node_attr(n, "axis");
  if (!a && ic->opset >= 4) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute 'axis' is missing");
  if (a && a->type != CL_ATTR_INT) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute 'axis' must be an int");
  int64_t axis_attr = a ? a->i : 1;
  int r = -1, dtype = CLEAVE_DTYPE_UNDEFINED, ref = -1, rc;
  for (int i = 0; i < n_in; i++) {
    if (!in[i].present) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "input %d is missing", i);
    if (in[i].dtype != CLEAVE_DTYPE_UNDEFINED) {
      if (dtype != CLEAVE_DTYPE_UNDEFINED && in[i].dtype != dtype)
        return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %d is %s, input %d is %s", ref, cleave_dtype_name(dtype),
                           i, cleave_dtype_name(in[i].dtype));
      dtype = in[i].dtype;
      ref = i;
    }
    if (in[i].shape.ndim >= 0) {
      if (r >= 0 && in[i].shape.ndim != r)
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "inputs have ranks %d and %d", r, in[i].shape.ndim);
      r = in[i].shape.ndim;
    }
  }
  out[0].dtype = dtype;
  if (r < 0) return 0;
  if (r == 0) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot concatenate scalars");
  int axis;
  if ((rc = cl_norm_axis(ic->ctx, n, axis_attr, r, &axis))) return rc;
  cl_shape *os = &out[0].shape;
  os->ndim = r;
  bool first = true;
  int64_t sum = 0;
  for (int i = 0; i < n_in; i++) {
    const cl_shape *s = &in[i].shape;
    if (s->ndim < 0) {
      sum = CL_DIM_UNKNOWN;
      continue;
    }
    for (int d = 0; d < r; d++) {
      if (d == axis) continue;
      if (first) os->d[d] = s->d[d];
      else if ((rc = merge_dim(ic, n, os->d[d], s->d[d], d, &os->d[d]))) return rc;
    }
    first = false;
    if (sum >= 0 && s->d[axis] >= 0) {
      if (s->d[axis] > INT64_MAX - sum) return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "the output size overflows");
      sum += s->d[axis];
    } else {
      sum = CL_DIM_UNKNOWN;
    }
  }
  os->d[axis] = n_in == 1 && in[0].shape.ndim >= 0 ? in[0].shape.d[axis] : sum; /* one input: a symbol passes */
  return 0;
}

static int infer_split(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  const cl_shape *is = &in[0].shape;
  int r = is->ndim, axis, rc;
  for (int i = 0; i < n_out; i++) out[i].dtype = in[0].dtype;
  if (r < 0) return 0;
  if ((rc = cl_norm_axis(ic->ctx, n, cl_attr_int(n, "axis", 0), r, &axis))) return rc;
  int64_t d = is->d[axis];
  for (int i = 0; i < n_out; i++) {
    out[i].shape = *is;
    out[i].shape.d[axis] = CL_DIM_UNKNOWN;
  }
  /* sizes come from the split attribute/input, num_outputs, or an equal split over the outputs */
  const int64_t *attr_split = NULL;
  const cl_tensor *in_split = NULL;
  if (ic->opset < 13) {
    int k = cl_attr_ints(n, "split", &attr_split);
    if (k >= 0 && k != n_out)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "split has %d sizes for %d outputs", k, n_out);
  } else if (cl_data_opt_in(in, n_in, 1)) {
    const cl_ival *v = &in[1];
    if (!cl_data_int_dtype(v->dtype))
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input split must be int64, not %s", cleave_dtype_name(v->dtype));
    if (!v->value) return 0;
    if (cl_tensor_numel(v->value) != n_out)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "split has %lld sizes for %d outputs",
                         (long long)cl_tensor_numel(v->value), n_out);
    in_split = v->value;
  }
  if (attr_split || in_split) {
    int64_t sum = 0;
    for (int i = 0; i < n_out; i++) {
      int64_t s = attr_split ? attr_split[i] : cl_tensor_get_i64(in_split, i);
      if (s < 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "split size %d is %lld", i, (long long)s);
      if (s > INT64_MAX - sum) return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "split sizes overflow");
      sum += s;
      out[i].shape.d[axis] = s;
    }
    if (d >= 0 && sum != d)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "split sizes add up to %lld, axis %d has %lld", (long long)sum,
                         axis, (long long)d);
    return 0;
  }
  const cl_attr *num = ic->opset >= 18 ? cl_node_attr(n, "num_outputs") : NULL;
  if (num) {
    if (num->type != CL_ATTR_INT || num->i != n_out)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "num_outputs is %lld but the node has %d outputs",
                         (long long)num->i, n_out);
    if (d < 0) return 0;
    int64_t chunk = d / n_out + (d % n_out != 0);
    for (int i = 0; i < n_out; i++) {
      int64_t left = d - chunk * i;
      out[i].shape.d[axis] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return 0;
  }
  if (d < 0) {
    if (n_out == 1) out[0].shape.d[axis] = d;
    return 0;
  }
  if (d % n_out)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "axis %d of size %lld does not split into %d equal parts", axis,
                       (long long)d, n_out);
  for (int i = 0; i < n_out; i++) out[i].shape.d[axis] = d / n_out;
  return 0;
}

const cl_op_schema cl_ops_data[] = {
    {"Constant", 0, 0, 1, 1, infer_constant},
    {"Shape", 1, 1, 1, 1, infer_shape},
    {"Size", 1, 1, 1, 1, infer_size},
    {"Cast", 1, 1, 1, 1, infer_cast},
    {"CastLike", 2, 2, 1, 1, infer_cast_like},
    {"Reshape", 1, 2, 1, 1, infer_reshape},
    {"Flatten", 1, 1, 1, 1, infer_flatten},
    {"Squeeze", 1, 2, 1, 1, infer_squeeze},
    {"Unsqueeze", 1, 2, 1, 1, infer_unsqueeze},
    {"Transpose", 1, 1, 1, 1, infer_transpose},
    {"Concat", 1, -1, 1, 1, infer_concat},
    {"Split", 1, 2, 1, 1 << 16, infer_split},
    {"Slice", 1, 5, 1, 1, cl_data_infer_slice},
    {"Gather", 2, 2, 1, 1, cl_data_infer_gather},
    {"GatherElements", 2, 2, 1, 1, cl_data_infer_gather_elements},
    {"Tile", 2, 2, 1, 1, cl_data_infer_tile},
    {"Expand", 2, 2, 1, 1, cl_data_infer_expand},
    {"ConstantOfShape", 1, 1, 1, 1, cl_data_infer_constant_of_shape},
    {"Range", 3, 3, 1, 1, cl_data_infer_range},
    {"Pad", 1, 4, 1, 1, cl_data_infer_pad},
    {"DepthToSpace", 1, 1, 1, 1, cl_data_infer_depth_to_space},
    {"SpaceToDepth", 1, 1, 1, 1, cl_data_infer_space_to_depth},
    {NULL},
};
