/* core: schemas and shape inference of MatMul, Gemm, Resize and Upsample. */
#include <math.h>
#include <string.h>

#include "core/ir/ops_nn.h"

static int64_t dim_at(const cl_shape *s, int i) { return s->d[i] >= 0 ? s->d[i] : CL_DIM_UNKNOWN; }

static bool dims_clash(int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; }

int cl_nn_infer_matmul(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  const cl_shape *a = &in[0].shape, *b = &in[1].shape;
  if (in[0].dtype != in[1].dtype)
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input A has dtype %s but B has %s", cleave_dtype_name(in[0].dtype),
                       cleave_dtype_name(in[1].dtype));
  out[0].dtype = in[0].dtype;
  if (a->ndim == 0 || b->ndim == 0)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s is a scalar; MatMul needs rank >= 1",
                       a->ndim ? "B" : "A");
  if (a->ndim < 0 || b->ndim < 0) return 0;
  int64_t ka = a->d[a->ndim - 1], kb = b->ndim == 1 ? b->d[0] : b->d[b->ndim - 2];
  if (dims_clash(ka, kb))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "A has %lld columns but B has %lld rows", (long long)ka,
                       (long long)kb);
  cl_shape ba = {.ndim = a->ndim > 2 ? a->ndim - 2 : 0}, bb = {.ndim = b->ndim > 2 ? b->ndim - 2 : 0}, bo;
  for (int i = 0; i < ba.ndim; i++) ba.d[i] = a->d[i];
  for (int i = 0; i < bb.ndim; i++) bb.d[i] = b->d[i];
  if (cl_shape_broadcast(&ba, &bb, &bo)) {
    char s1[96], s2[96];
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "batch dims %s and %s do not broadcast",
                       cl_shape_str(&ba, s1, sizeof s1, NULL), cl_shape_str(&bb, s2, sizeof s2, NULL));
  }
  cl_shape *o = &out[0].shape;
  *o = bo;
  if (a->ndim >= 2) o->d[o->ndim++] = dim_at(a, a->ndim - 2);
  if (b->ndim >= 2) o->d[o->ndim++] = dim_at(b, b->ndim - 1);
  return 0;
}

int cl_nn_infer_gemm(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out) {
  const cl_shape *a = &in[0].shape, *b = &in[1].shape;
  for (int i = 1; i < n_in; i++)
    if (in[i].present && in[i].dtype != in[0].dtype)
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %d has dtype %s but A has %s", i,
                         cleave_dtype_name(in[i].dtype), cleave_dtype_name(in[0].dtype));
  out[0].dtype = in[0].dtype;
  if ((a->ndim >= 0 && a->ndim != 2) || (b->ndim >= 0 && b->ndim != 2))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s has rank %d, Gemm needs matrices",
                       a->ndim >= 0 && a->ndim != 2 ? "A" : "B", a->ndim >= 0 && a->ndim != 2 ? a->ndim : b->ndim);
  bool ta = cl_attr_int(n, "transA", 0) != 0, tb = cl_attr_int(n, "transB", 0) != 0;
  int64_t m = CL_DIM_UNKNOWN, ka = CL_DIM_UNKNOWN, kb = CL_DIM_UNKNOWN, nn = CL_DIM_UNKNOWN;
  if (a->ndim == 2) {
    m = dim_at(a, ta ? 1 : 0);
    ka = dim_at(a, ta ? 0 : 1);
  }
  if (b->ndim == 2) {
    kb = dim_at(b, tb ? 1 : 0);
    nn = dim_at(b, tb ? 0 : 1);
  }
  if (dims_clash(ka, kb))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "op(A) has %lld columns but op(B) has %lld rows", (long long)ka,
                       (long long)kb);
  if (n_in > 2 && in[2].present && in[2].shape.ndim >= 0) {
    const cl_shape *c = &in[2].shape;
    int64_t mn[2] = {m, nn};
    if (c->ndim > 2) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input C has rank %d, expected <= 2", c->ndim);
    for (int i = 0; i < c->ndim; i++) {
      int64_t want = mn[2 - c->ndim + i];
      if (c->d[i] != 1 && dims_clash(c->d[i], want))
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input C dim %d is %lld, does not broadcast to %lld", i,
                           (long long)c->d[i], (long long)want);
    }
  }
  out[0].shape.ndim = 2;
  out[0].shape.d[0] = m;
  out[0].shape.d[1] = nn;
  return 0;
}

/* What infer knows of a float/int list input: -1 absent or known empty, 0 present but not known yet, 1 known. */
static int list_state(const cl_ival *v) {
  if (!v || !v->present) return -1;
  if (v->value) return cl_tensor_numel(v->value) > 0 ? 1 : -1;
  int64_t cnt = cl_shape_numel(&v->shape);
  return cnt == 0 ? -1 : 0;
}

static int parse_enum(cleave_ctx *ctx, const cl_node *n, const char *attr, const char *def, const char *const *names,
                      int count, int *out) {
  const char *s = cl_attr_str(n, attr, def);
  for (int i = 0; i < count; i++)
    if (names[i] && strcmp(s, names[i]) == 0) {
      *out = i;
      return 0;
    }
  return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute %s '%s' is not supported by this operator", attr, s);
}

int cl_nn_resize_params(cleave_ctx *ctx, int opset, const cl_node *n, const cl_ival *in, int n_in, cl_nn_resize *p) {
  static const char *const modes[] = {"nearest", "linear", "cubic"};
  static const char *const coords[] = {"half_pixel",          "pytorch_half_pixel",   "align_corners",
                                       "asymmetric",          "tf_half_pixel_for_nn", "tf_crop_and_resize",
                                       "half_pixel_symmetric"};
  static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  int rc;
  bool upsample = strcmp(n->op, "Upsample") == 0, legacy = upsample || opset < 11;
  memset(p, 0, sizeof *p);
  if ((rc = parse_enum(ctx, n, "mode", "nearest", modes, legacy ? 2 : 3, &p->mode))) return rc;
  p->cubic_a = -0.75f;
  if (legacy) {
    /* Before opset 11 coordinates were x_out / scale, and nearest picked as ONNX Runtime's "simple" mode. */
    p->coord = CL_RS_ASYMMETRIC;
    p->nearest = CL_RS_SIMPLE;
  } else {
    if ((rc = parse_enum(ctx, n, "coordinate_transformation_mode", "half_pixel", coords, opset >= 19 ? 7 : 6,
                         &p->coord)) ||
        (rc = parse_enum(ctx, n, "nearest_mode", "round_prefer_floor", nearests, 4, &p->nearest)))
      return rc;
    p->cubic_a = cl_attr_float(n, "cubic_coeff_a", -0.75f);
    p->extrapolation = cl_attr_float(n, "extrapolation_value", 0.0f);
    p->exclude_outside = cl_attr_int(n, "exclude_outside", 0) != 0;
    p->antialias = cl_attr_int(n, "antialias", 0) != 0;
  }
  enum { STRETCH, NOT_LARGER, NOT_SMALLER } policy = STRETCH;
  static const char *const policies[] = {"stretch", "not_larger", "not_smaller"};
  int pol = 0;
  if (!legacy && (rc = parse_enum(ctx, n, "keep_aspect_ratio_policy", "stretch", policies, 3, &pol))) return rc;
  policy = pol;

  const cl_ival *roi = NULL, *scales = NULL, *sizes = NULL;
  if (upsample)
    scales = opset >= 9 && n_in > 1 ? &in[1] : NULL;
  else if (opset < 11)
    scales = n_in > 1 ? &in[1] : NULL;
  else {
    roi = n_in > 1 ? &in[1] : NULL;
    scales = n_in > 2 ? &in[2] : NULL;
    sizes = n_in > 3 ? &in[3] : NULL;
  }
  const float *scale_attr = NULL;
  int n_scale_attr = -1;
  if (upsample && opset < 9) {
    n_scale_attr = cl_attr_floats(n, "scales", &scale_attr);
    if (n_scale_attr < 0) return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute scales is missing");
  }
  int st_scales = n_scale_attr >= 0 ? 1 : list_state(scales), st_sizes = list_state(sizes);
  if (st_scales == 1 && st_sizes == 1)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "both scales and sizes are given; only one may be");
  if (st_scales == -1 && st_sizes == -1)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "neither scales nor sizes is given");

  const cl_shape *x = &in[0].shape;
  int rank = x->ndim;
  const int64_t *axes_attr = NULL;
  int n_axes = legacy ? -1 : cl_attr_ints(n, "axes", &axes_attr);
  int given = st_scales == 1  ? (n_scale_attr >= 0 ? n_scale_attr : (int)cl_tensor_numel(scales->value))
              : st_sizes == 1 ? (int)cl_tensor_numel(sizes->value)
                              : -1;
  if (rank < 0 && n_axes < 0) rank = given; /* scales or sizes cover every axis */
  p->rank = rank;
  if (rank < 0) return 0;
  if (rank > CL_MAX_DIMS) return cl_node_err(ctx, n, CLEAVE_ESHAPE, "input has rank %d", rank);
  int axes[CL_MAX_DIMS], na = rank;
  if (n_axes >= 0) {
    if (n_axes > rank)
      return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute axes has %d entries for rank %d", n_axes, rank);
    na = n_axes;
    bool seen[CL_MAX_DIMS] = {false};
    for (int j = 0; j < na; j++) {
      if ((rc = cl_norm_axis(ctx, n, axes_attr[j], rank, &axes[j]))) return rc;
      if (seen[axes[j]]) return cl_node_err(ctx, n, CLEAVE_EMODEL, "axis %d is listed twice", axes[j]);
      seen[axes[j]] = true;
    }
  } else {
    for (int j = 0; j < rank; j++) axes[j] = j;
  }
  if (given >= 0 && given != na)
    return cl_node_err(ctx, n, CLEAVE_ESHAPE, "%s has %d values for %d axes", st_scales == 1 ? "scales" : "sizes",
                       given, na);
  for (int i = 0; i < rank; i++) {
    int64_t d = i < x->ndim ? x->d[i] : CL_DIM_UNKNOWN;
    p->out[i] = d >= 0 ? d : CL_DIM_UNKNOWN;
    p->scale[i] = 1.0f;
    p->out_len[i] = d >= 0 ? (double)d : 0.0;
    p->roi_start[i] = 0.0f;
    p->roi_end[i] = 1.0f;
  }
  if (st_scales == 1) {
    for (int j = 0; j < na; j++) {
      int a = axes[j];
      float s = scale_attr ? scale_attr[j] : (float)cl_tensor_get_f64(scales->value, j);
      if (!(s > 0.0f) || !isfinite(s))
        return cl_node_err(ctx, n, CLEAVE_EMODEL, "scales[%d] is %g, must be > 0", j, (double)s);
      p->scale[a] = s;
      if (p->out[a] >= 0) {
        double len = (double)s * (double)p->out[a];
        if (len > (double)INT64_MAX / 2) return cl_node_err(ctx, n, CLEAVE_ELIMIT, "scales[%d] is too large", j);
        p->out_len[a] = len;
        p->out[a] = (int64_t)floor(len);
      }
    }
  } else if (st_sizes == 1) {
    int64_t t[CL_MAX_DIMS];
    for (int j = 0; j < na; j++) {
      t[j] = cl_tensor_get_i64(sizes->value, j);
      if (t[j] < 0) return cl_node_err(ctx, n, CLEAVE_EMODEL, "sizes[%d] is %lld", j, (long long)t[j]);
    }
    if (policy == STRETCH) {
      for (int j = 0; j < na; j++) {
        int a = axes[j];
        if (p->out[a] > 0) p->scale[a] = (float)t[j] / (float)p->out[a];
        p->out[a] = t[j];
        p->out_len[a] = (double)t[j];
      }
    } else {
      /* One scale for every listed axis, the largest (smallest) that keeps the result within (around) sizes. */
      float s = 0.0f;
      bool all = true;
      for (int j = 0; j < na; j++) {
        int64_t d = p->out[axes[j]];
        if (d <= 0) {
          all = false;
          continue;
        }
        float sj = (float)t[j] / (float)d;
        if (j == 0 || (policy == NOT_LARGER ? sj < s : sj > s)) s = sj;
      }
      for (int j = 0; j < na; j++) {
        int a = axes[j];
        if (!all) {
          p->out[a] = CL_DIM_UNKNOWN;
          continue;
        }
        p->scale[a] = s;
        p->out[a] = (int64_t)floor((double)s * (double)p->out[a] + 0.5);
        p->out_len[a] = (double)p->out[a];
      }
    }
  } else {
    for (int j = 0; j < na; j++) p->out[axes[j]] = CL_DIM_UNKNOWN;
  }
  if (p->coord == CL_RS_TF_CROP_AND_RESIZE && roi && roi->value) {
    int64_t cnt = cl_tensor_numel(roi->value);
    if (cnt != 2 * na)
      return cl_node_err(ctx, n, CLEAVE_ESHAPE, "roi has %lld values, expected %d", (long long)cnt, 2 * na);
    for (int j = 0; j < na; j++) {
      p->roi_start[axes[j]] = (float)cl_tensor_get_f64(roi->value, j);
      p->roi_end[axes[j]] = (float)cl_tensor_get_f64(roi->value, na + j);
    }
  }
  return 0;
}

static int infer_resize_common(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out) {
  cl_nn_resize p;
  int rc = cl_nn_resize_params(ic->ctx, ic->opset, n, in, n_in, &p);
  if (rc) return rc;
  out[0].dtype = in[0].dtype;
  out[0].shape.ndim = p.rank;
  for (int i = 0; i < p.rank; i++) out[0].shape.d[i] = p.out[i];
  return 0;
}

int cl_nn_infer_resize(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                       int n_out) {
  if (ic->opset < 11 && n_in != 2)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs; Resize-10 takes X and scales", n_in);
  return infer_resize_common(ic, n, in, n_in, out);
}

int cl_nn_infer_upsample(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                         int n_out) {
  if (ic->opset < 7) return cl_node_err(ic->ctx, n, CLEAVE_EUNSUPPORTED, "Upsample before opset 7 is not supported");
  if (ic->opset >= 9 && n_in < 2)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs; Upsample-9 takes X and scales", n_in);
  return infer_resize_common(ic, n, in, n_in, out);
}
