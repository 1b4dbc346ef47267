/* core: schemas' infer functions of the data operators that index, pad and generate (Slice, Gather, Tile, Expand,
 * ConstantOfShape, Range, Pad, DepthToSpace, SpaceToDepth), and the arithmetic their kernels share with them. */
#include <math.h>
#include <string.h>

#include "core/ir/ops_data.h"

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- Slice ---- */

int64_t cl_slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first) {
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (step > 0) {
    start = clamp64(start, 0, d);
    end = clamp64(end, 0, d);
    *first = start;
    if (end <= start) return 0;
    return (end - start) / step + ((end - start) % step != 0);
  }
  /* negative steps walk from start down to end, exclusive; -1 as the end means "through index 0" */
  start = start < 0 ? 0 : start > d - 1 ? d - 1 : start;
  end = end < -1 ? -1 : end > d - 1 ? d - 1 : end;
  *first = start;
  if (start <= end) return 0;
  uint64_t mag = (uint64_t)0 - (uint64_t)step, span = (uint64_t)(start - end);
  return (int64_t)(span / mag + (span % mag != 0));
}

int cl_data_infer_slice(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t starts[CL_MAX_DIMS], ends[CL_MAX_DIMS], axes[CL_MAX_DIMS], steps[CL_MAX_DIMS];
  int ks, ke, ka, kt = CL_LIST_ABSENT, r = is->ndim, rc;
  out[0].dtype = in[0].dtype;
  if (ic->opset >= 10 && (!cl_data_opt_in(in, n_in, 1) || !cl_data_opt_in(in, n_in, 2)))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "inputs starts and ends are required");
  if ((rc = cl_data_read_list(ic, n, in, n_in, "starts", 1, 10, starts, CL_MAX_DIMS, &ks)) ||
      (rc = cl_data_read_list(ic, n, in, n_in, "ends", 2, 10, ends, CL_MAX_DIMS, &ke)) ||
      (rc = cl_data_read_list(ic, n, in, n_in, "axes", 3, 10, axes, CL_MAX_DIMS, &ka)))
    return rc;
  if (ic->opset >= 10 && (rc = cl_data_read_list(ic, n, in, n_in, "steps", 4, 10, steps, CL_MAX_DIMS, &kt)))
    return rc;
  if (ks == CL_LIST_ABSENT || ke == CL_LIST_ABSENT)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attributes starts and ends are required");
  if (ks >= 0 && ke >= 0 && ks != ke)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "starts has %d values, ends %d", ks, ke);
  int k = ks >= 0 ? ks : ke >= 0 ? ke : (int)cl_data_list_len(in, n_in, 1);
  if (k >= 0 && ((ka >= 0 && ka != k) || (kt >= 0 && kt != k)))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "starts, ends, axes and steps differ in length");
  if (r < 0) return 0;
  if (ka == CL_LIST_ABSENT && k >= 0) {
    if (k > r) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "%d starts for an input of rank %d", k, r);
    for (int i = 0; i < k; i++) axes[i] = i;
    ka = k;
  }
  out[0].shape = *is;
  if (ka < 0) {
    cl_data_set_unknown(&out[0], r);
    return 0;
  }
  unsigned seen = 0;
  int ax[CL_MAX_DIMS];
  for (int i = 0; i < ka; i++) {
    if ((rc = cl_norm_axis(ic->ctx, n, axes[i], r, &ax[i]))) return rc;
    if (seen & (1u << ax[i])) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axis %d is repeated", ax[i]);
    seen |= 1u << ax[i];
  }
  bool known = ks >= 0 && ke >= 0 && kt != CL_LIST_UNKNOWN;
  for (int i = 0; i < ka; i++) {
    int64_t *d = &out[0].shape.d[ax[i]];
    if (!known) {
      *d = CL_DIM_UNKNOWN;
      continue;
    }
    int64_t step = kt >= 0 ? steps[i] : 1, first;
    if (step == 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "step %d is 0", i);
    if (*d >= 0) *d = cl_slice_axis(*d, starts[i], ends[i], step, &first);
    else if (!(starts[i] == 0 && step == 1 && ends[i] >= INT32_MAX)) *d = CL_DIM_UNKNOWN; /* else: all of it */
  }
  return 0;
}

/* ---- Gather, GatherElements ---- */

int cl_data_infer_gather(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  const cl_shape *ds = &in[0].shape, *xs = &in[1].shape;
  int r = ds->ndim, q = xs->ndim, axis, rc;
  out[0].dtype = in[0].dtype;
  if (!cl_data_int_dtype(in[1].dtype))
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "indices must be int32 or int64, not %s",
                       cleave_dtype_name(in[1].dtype));
  if (r == 0) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot gather from a scalar");
  if (r < 0 || q < 0) return 0;
  if ((rc = cl_norm_axis(ic->ctx, n, cl_attr_int(n, "axis", 0), r, &axis))) return rc;
  if ((rc = cl_data_rank_ok(ic, n, (int64_t)r + q - 1))) return rc;
  cl_shape *os = &out[0].shape;
  os->ndim = 0;
  for (int i = 0; i < axis; i++) os->d[os->ndim++] = ds->d[i];
  for (int i = 0; i < q; i++) os->d[os->ndim++] = xs->d[i];
  for (int i = axis + 1; i < r; i++) os->d[os->ndim++] = ds->d[i];
  return 0;
}

int cl_data_infer_gather_elements(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                  cl_oval *out, int n_out) {
  const cl_shape *ds = &in[0].shape, *xs = &in[1].shape;
  int axis, rc;
  out[0].dtype = in[0].dtype;
  out[0].shape = *xs;
  if (!cl_data_int_dtype(in[1].dtype))
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "indices must be int32 or int64, not %s",
                       cleave_dtype_name(in[1].dtype));
  if (ds->ndim < 0 || xs->ndim < 0) return 0;
  if (ds->ndim != xs->ndim)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "data has rank %d, indices rank %d", ds->ndim, xs->ndim);
  if (ds->ndim == 0) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot gather from a scalar");
  if ((rc = cl_norm_axis(ic->ctx, n, cl_attr_int(n, "axis", 0), ds->ndim, &axis))) return rc;
  for (int i = 0; i < ds->ndim; i++)
    if (i != axis && ds->d[i] >= 0 && xs->d[i] > ds->d[i])
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "indices dimension %d is %lld, data has only %lld", i,
                         (long long)xs->d[i], (long long)ds->d[i]);
  return 0;
}

/* ---- Tile, Expand ---- */

int cl_data_infer_tile(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t rep[CL_MAX_DIMS];
  int k, rc, r = is->ndim;
  out[0].dtype = in[0].dtype;
  if ((rc = cl_data_read_list(ic, n, in, n_in, "repeats", 1, 0, rep, CL_MAX_DIMS, &k))) return rc;
  if (k < 0 || r < 0) {
    if (r >= 0) cl_data_set_unknown(&out[0], r);
    else if (k >= 0) cl_data_set_unknown(&out[0], k);
    return 0;
  }
  if (k != r) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "%d repeats for an input of rank %d", k, r);
  out[0].shape.ndim = r;
  for (int i = 0; i < r; i++) {
    int64_t d = is->d[i], *o = &out[0].shape.d[i];
    if (rep[i] < 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "repeat %d is %lld", i, (long long)rep[i]);
    if (d >= 0) {
      if (cl_mul_i64(d, rep[i], o)) return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "the output size overflows");
    } else {
      *o = rep[i] == 1 ? d : rep[i] == 0 ? 0 : CL_DIM_UNKNOWN;
    }
  }
  return 0;
}

int cl_data_infer_expand(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  const cl_shape *is = &in[0].shape;
  cl_shape t;
  int k, rc, r = is->ndim;
  out[0].dtype = in[0].dtype;
  if ((rc = cl_data_read_list(ic, n, in, n_in, "shape", 1, 0, t.d, CL_MAX_DIMS, &k))) return rc;
  if (k < 0) {
    int64_t len = cl_data_list_len(in, n_in, 1);
    if (len < 0 || r < 0) return 0;
    int64_t rank = len > r ? len : r;
    if ((rc = cl_data_rank_ok(ic, n, rank))) return rc;
    cl_data_set_unknown(&out[0], (int)rank);
    /* a dim other than 1 can only broadcast to itself */
    for (int i = 0; i < r; i++)
      if (is->d[i] != 1) out[0].shape.d[rank - r + i] = is->d[i];
    return 0;
  }
  t.ndim = k;
  for (int i = 0; i < k; i++)
    if (t.d[i] < 0)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "target dimension %d is %lld", i, (long long)t.d[i]);
  if (cl_shape_broadcast(is, &t, &out[0].shape)) {
    char b1[96], b2[96];
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot broadcast %s to %s", cl_shape_str(is, b1, sizeof b1, NULL),
                       cl_shape_str(&t, b2, sizeof b2, NULL));
  }
  return 0;
}

/* ---- ConstantOfShape, Range ---- */

int cl_data_infer_constant_of_shape(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                    cl_oval *out, int n_out) {
  const cl_attr *a = cl_node_attr(n, "value");
  out[0].dtype = CLEAVE_DTYPE_FLOAT32;
  if (a) {
    if (a->type != CL_ATTR_TENSOR || !a->t || cl_tensor_numel(a->t) != 1)
      return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute value must be a tensor of one element");
    out[0].dtype = a->t->dtype;
  }
  int64_t dims[CL_MAX_DIMS];
  int k, rc;
  if ((rc = cl_data_read_list(ic, n, in, n_in, "input", 0, 0, dims, CL_MAX_DIMS, &k))) return rc;
  if (k < 0) {
    int64_t len = cl_data_list_len(in, n_in, 0);
    if (len >= 0) {
      if ((rc = cl_data_rank_ok(ic, n, len))) return rc;
      cl_data_set_unknown(&out[0], (int)len);
    }
    return 0;
  }
  out[0].shape.ndim = k;
  for (int i = 0; i < k; i++) {
    if (dims[i] < 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "dimension %d is %lld", i, (long long)dims[i]);
    out[0].shape.d[i] = dims[i];
  }
  if (cl_shape_numel(&out[0].shape) < 0) return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "the output size overflows");
  return 0;
}

int64_t cl_range_count(const cl_tensor *start, const cl_tensor *limit, const cl_tensor *delta) {
  if (start->dtype == CLEAVE_DTYPE_FLOAT32) {
    float s = *(const float *)start->data, l = *(const float *)limit->data, d = *(const float *)delta->data;
    if (d == 0) return -1;
    /* ONNX Runtime: the difference in float, the division and ceil in double */
    double c = ceil((double)(l - s) / d);
    if (c != c || c >= 9.2e18) return -1;
    return c > 0 ? (int64_t)c : 0;
  }
  int64_t s = cl_tensor_get_i64(start, 0), l = cl_tensor_get_i64(limit, 0), d = cl_tensor_get_i64(delta, 0);
  if (d == 0) return -1;
  /* unsigned magnitudes: limit - start may not fit int64 */
  uint64_t span, mag;
  if (d > 0) {
    if (l <= s) return 0;
    span = (uint64_t)l - (uint64_t)s;
    mag = (uint64_t)d;
  } else {
    if (l >= s) return 0;
    span = (uint64_t)s - (uint64_t)l;
    mag = (uint64_t)0 - (uint64_t)d;
  }
  uint64_t c = span / mag + (span % mag != 0);
  return c > (uint64_t)INT64_MAX ? -1 : (int64_t)c;
}

int cl_data_infer_range(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                        int n_out) {
  static const char *const names[] = {"start", "limit", "delta"};
  int dt = in[0].dtype;
  for (int i = 0; i < 3; i++) {
    if (in[i].dtype != CLEAVE_DTYPE_UNDEFINED && dt != CLEAVE_DTYPE_UNDEFINED && in[i].dtype != dt)
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "start is %s but %s is %s", cleave_dtype_name(dt), names[i],
                         cleave_dtype_name(in[i].dtype));
    int64_t numel = cl_shape_numel(&in[i].shape);
    if (numel >= 0 && numel != 1)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "%s must be a scalar, it has %lld elements", names[i],
                         (long long)numel);
  }
  out[0].dtype = dt;
  cl_data_set_unknown(&out[0], 1);
  if (!in[0].value || !in[1].value || !in[2].value) return 0;
  if (dt != CLEAVE_DTYPE_FLOAT32 && dt != CLEAVE_DTYPE_INT32 && dt != CLEAVE_DTYPE_INT64) return 0;
  int64_t c = cl_range_count(in[0].value, in[1].value, in[2].value);
  if (c < 0) {
    if (cl_tensor_get_f64(in[2].value, 0) == 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "delta is 0");
    return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "the range has too many elements");
  }
  out[0].shape.d[0] = c;
  return 0;
}

/* ---- Pad ---- */

int cl_pad_mode(const cl_node *n) {
  const char *m = cl_attr_str(n, "mode", "constant");
  return strcmp(m, "constant") == 0 ? CL_PAD_CONSTANT
         : strcmp(m, "reflect") == 0 ? CL_PAD_REFLECT
         : strcmp(m, "edge") == 0    ? CL_PAD_EDGE
         : strcmp(m, "wrap") == 0    ? CL_PAD_WRAP
                                     : CL_PAD_BAD;
}

int cl_data_infer_pad(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  const cl_shape *is = &in[0].shape;
  int64_t pads[2 * CL_MAX_DIMS], axes[CL_MAX_DIMS];
  int kp, ka, rc, r = is->ndim, mode = cl_pad_mode(n);
  out[0].dtype = in[0].dtype;
  if (mode == CL_PAD_BAD)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "mode '%s' is not constant, reflect, edge or wrap",
                       cl_attr_str(n, "mode", ""));
  if (ic->opset >= 11 && !cl_data_opt_in(in, n_in, 1))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "input pads is missing");
  const char *pads_attr = ic->opset < 2 ? "paddings" : "pads";
  if ((rc = cl_data_read_list(ic, n, in, n_in, pads_attr, 1, 11, pads, 2 * CL_MAX_DIMS, &kp)) ||
      (rc = cl_data_read_list(ic, n, in, n_in, "axes", 3, 18, axes, CL_MAX_DIMS, &ka)))
    return rc;
  if (kp == CL_LIST_ABSENT) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute %s is missing", pads_attr);
  const cl_ival *cv = cl_data_opt_in(in, n_in, 2);
  if (ic->opset >= 11 && cv) {
    if (cv->dtype != CLEAVE_DTYPE_UNDEFINED && in[0].dtype != CLEAVE_DTYPE_UNDEFINED && cv->dtype != in[0].dtype)
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "constant_value is %s, data is %s", cleave_dtype_name(cv->dtype),
                         cleave_dtype_name(in[0].dtype));
    int64_t numel = cl_shape_numel(&cv->shape);
    if (numel > 1)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "constant_value must be a scalar, it has %lld elements",
                         (long long)numel);
  }
  if (r < 0) return 0;
  out[0].shape = *is;
  if (kp < 0 || ka == CL_LIST_UNKNOWN) {
    cl_data_set_unknown(&out[0], r);
    return 0;
  }
  int na = ka >= 0 ? ka : r;
  if (ka < 0)
    for (int i = 0; i < r; i++) axes[i] = i;
  if (kp != 2 * na)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "%d pads for %d axes (2 per axis expected)", kp, na);
  unsigned seen = 0;
  for (int i = 0; i < na; i++) {
    int a;
    if ((rc = cl_norm_axis(ic->ctx, n, axes[i], r, &a))) return rc;
    if (seen & (1u << a)) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "axis %d is repeated", a);
    seen |= 1u << a;
    int64_t b = pads[i], e = pads[i + na], d = is->d[a], *o = &out[0].shape.d[a];
    const int64_t big = INT64_MAX / 4;
    if (b > big || b < -big || e > big || e < -big)
      return cl_node_err(ic->ctx, n, CLEAVE_ELIMIT, "pads of axis %d are out of range", a);
    if (d < 0) {
      *o = b == 0 && e == 0 ? d : CL_DIM_UNKNOWN;
      continue;
    }
    if (d + b + e < 0 || d + b + e > big)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "pads %lld, %lld leave axis %d of size %lld with %lld elements",
                         (long long)b, (long long)e, a, (long long)d, (long long)(d + b + e));
    if (d == 0 && (b > 0 || e > 0) && mode != CL_PAD_CONSTANT)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "cannot pad the empty axis %d in mode %s", a,
                         cl_attr_str(n, "mode", ""));
    *o = d + b + e;
  }
  return 0;
}

/* ---- DepthToSpace, SpaceToDepth ---- */

/* Blocksize and the rank-4 check common to both; *b gets the blocksize. */
static int block_common(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, cl_oval *out, int64_t *b) {
  const cl_attr *a = cl_node_attr(n, "blocksize");
  if (!a || a->type != CL_ATTR_INT || a->i <= 0 || a->i > (1 << 20))
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute blocksize must be a positive integer");
  *b = a->i;
  out[0].dtype = in[0].dtype;
  cl_data_set_unknown(&out[0], 4);
  if (in[0].shape.ndim >= 0 && in[0].shape.ndim != 4)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input must have rank 4, it has %d", in[0].shape.ndim);
  return 0;
}

static int64_t mul_or_unknown(int64_t d, int64_t b) {
  int64_t o;
  return d < 0 || cl_mul_i64(d, b, &o) ? CL_DIM_UNKNOWN : o;
}

int cl_data_infer_depth_to_space(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                 cl_oval *out, int n_out) {
  int64_t b;
  int rc;
  if ((rc = block_common(ic, n, in, out, &b))) return rc;
  const char *mode = cl_attr_str(n, "mode", "DCR");
  if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "mode '%s' is not DCR or CRD", mode);
  const cl_shape *is = &in[0].shape;
  if (is->ndim < 0) return 0;
  int64_t *o = out[0].shape.d, c = is->d[1];
  if (c >= 0 && c % (b * b))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "%lld channels do not divide into blocks of %lld x %lld",
                       (long long)c, (long long)b, (long long)b);
  o[0] = is->d[0];
  o[1] = c >= 0 ? c / (b * b) : CL_DIM_UNKNOWN;
  o[2] = mul_or_unknown(is->d[2], b);
  o[3] = mul_or_unknown(is->d[3], b);
  return 0;
}

int cl_data_infer_space_to_depth(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in,
                                 cl_oval *out, int n_out) {
  int64_t b;
  int rc;
  if ((rc = block_common(ic, n, in, out, &b))) return rc;
  const cl_shape *is = &in[0].shape;
  if (is->ndim < 0) return 0;
  int64_t *o = out[0].shape.d;
  for (int i = 2; i < 4; i++) {
    if (is->d[i] >= 0 && is->d[i] % b)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "dimension %d of size %lld is not a multiple of blocksize %lld",
                         i, (long long)is->d[i], (long long)b);
    o[i] = is->d[i] >= 0 ? is->d[i] / b : CL_DIM_UNKNOWN;
  }
  o[0] = is->d[0];
  o[1] = mul_or_unknown(is->d[1], b * b);
  return 0;
}
