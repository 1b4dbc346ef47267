/* core: schemas and shape inference of the nn operators (convolutions, pools, normalisations).
 * MatMul, Gemm, Resize and Upsample are in ops_nn_2.c. */
#include "core/ir/ops_nn.h"

#include <stdint.h>
#include <string.h>

/* Reads an ints attribute that must have exactly want entries (or be absent: then every entry is def). Entries
 * must be >= lo. */
static int attr_ints_n(cleave_ctx *ctx, const cl_node *n, const char *name, int want, int64_t def, int64_t lo,
                       int64_t *dst) {
  const int64_t *v;
  int cnt = cl_attr_ints(n, name, &v);
  if (cnt < 0) {
    for (int i = 0; i < want; i++) dst[i] = def;
    return 0;
  }
  if (cnt != want)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute %s has %d values, expected %d", name, cnt, want);
  for (int i = 0; i < want; i++) {
    if (v[i] > INT32_MAX)
      return cl_node_err(ctx, n, CLEAVE_ELIMIT, "attribute %s[%d] is %lld, too large", name, i, (long long)v[i]);
    if (v[i] < lo)
      return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute %s[%d] is %lld, must be >= %lld", name, i, (long long)v[i],
                         (long long)lo);
    dst[i] = v[i];
  }
  return 0;
}

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

static int auto_pad(cleave_ctx *ctx, const cl_node *n, int *out) {
  const char *s = cl_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(s, "NOTSET") == 0)
    *out = PAD_NOTSET;
  else if (strcmp(s, "SAME_UPPER") == 0)
    *out = PAD_SAME_UPPER;
  else if (strcmp(s, "SAME_LOWER") == 0)
    *out = PAD_SAME_LOWER;
  else if (strcmp(s, "VALID") == 0)
    *out = PAD_VALID;
  else
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", s);
  return 0;
}

static int64_t div_ceil(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* (k - 1) * d + 1, or -1 for an unknown kernel; the sizes involved stay far below 2^62 when it succeeds. */
static int kernel_extent(cleave_ctx *ctx, const cl_node *n, int i, int64_t k, int64_t d, int64_t *dk) {
  *dk = -1;
  if (k < 0) return 0;
  if (k > INT32_MAX || cl_mul_i64(k - 1, d, dk) || *dk > INT32_MAX)
    return cl_node_err(ctx, n, CLEAVE_ELIMIT, "spatial dim %d: kernel %lld with dilation %lld is too large", i,
                       (long long)k, (long long)d);
  *dk += 1;
  return 0;
}

static int check_in(cleave_ctx *ctx, const cl_node *n, int i, int64_t in) {
  if (in > INT32_MAX)
    return cl_node_err(ctx, n, CLEAVE_ELIMIT, "spatial dim %d: size %lld is too large", i, (long long)in);
  return 0;
}

int cl_nn_geom_init(cleave_ctx *ctx, const cl_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                    bool ceil_mode, cl_nn_geom *g) {
  int rc, ap;
  int64_t pads[2 * CL_MAX_DIMS];
  if (nsp < 1 || nsp > CL_MAX_DIMS - 2)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "%d spatial dims are not supported", nsp);
  memset(g, 0, sizeof *g);
  g->nsp = nsp;
  if ((rc = auto_pad(ctx, n, &ap)) || (rc = attr_ints_n(ctx, n, "strides", nsp, 1, 1, g->s)) ||
      (rc = attr_ints_n(ctx, n, "dilations", nsp, 1, 1, g->d)) ||
      (rc = attr_ints_n(ctx, n, "pads", 2 * nsp, 0, 0, pads)))
    return rc;
  for (int i = 0; i < nsp; i++) {
    g->in[i] = in[i] >= 0 ? in[i] : CL_DIM_UNKNOWN;
    g->k[i] = kernel[i] >= 0 ? kernel[i] : CL_DIM_UNKNOWN;
    if (kernel[i] == 0) return cl_node_err(ctx, n, CLEAVE_EMODEL, "kernel dim %d is 0", i);
    g->pb[i] = ap == PAD_NOTSET ? pads[i] : 0;
    g->pe[i] = ap == PAD_NOTSET ? pads[nsp + i] : 0;
    g->out[i] = CL_DIM_UNKNOWN;
    int64_t dk, o;
    if ((rc = kernel_extent(ctx, n, i, g->k[i], g->d[i], &dk)) || (rc = check_in(ctx, n, i, g->in[i]))) return rc;
    if (g->in[i] < 0) {
      if (ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER) g->pb[i] = g->pe[i] = CL_DIM_UNKNOWN;
      continue;
    }
    if (ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER) {
      o = div_ceil(g->in[i], g->s[i]);
      if (dk < 0) {
        g->pb[i] = g->pe[i] = CL_DIM_UNKNOWN;
      } else {
        int64_t total = (o - 1) * g->s[i] + dk - g->in[i];
        if (total < 0) total = 0;
        g->pb[i] = ap == PAD_SAME_UPPER ? total / 2 : total - total / 2;
        g->pe[i] = total - g->pb[i];
      }
      g->out[i] = o;
      continue;
    }
    if (dk < 0) continue;
    int64_t span = g->in[i] + g->pb[i] + g->pe[i] - dk;
    if (span < 0)
      return cl_node_err(ctx, n, CLEAVE_EMODEL,
                         "spatial dim %d: the kernel extent %lld is larger than the padded input %lld", i,
                         (long long)dk, (long long)(g->in[i] + g->pb[i] + g->pe[i]));
    if (ceil_mode && ap == PAD_NOTSET) {
      o = div_ceil(span, g->s[i]) + 1;
      /* As PyTorch and newer ONNX: a last window that starts in the end padding is dropped. */
      if ((o - 1) * g->s[i] >= g->in[i] + g->pb[i]) o--;
    } else {
      o = span / g->s[i] + 1;
    }
    g->out[i] = o;
  }
  return 0;
}

int cl_nn_convt_geom_init(cleave_ctx *ctx, const cl_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                          cl_nn_geom *g) {
  int rc, ap;
  int64_t pads[2 * CL_MAX_DIMS], adj[CL_MAX_DIMS];
  if (nsp < 1 || nsp > CL_MAX_DIMS - 2)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "%d spatial dims are not supported", nsp);
  memset(g, 0, sizeof *g);
  g->nsp = nsp;
  if ((rc = auto_pad(ctx, n, &ap)) || (rc = attr_ints_n(ctx, n, "strides", nsp, 1, 1, g->s)) ||
      (rc = attr_ints_n(ctx, n, "dilations", nsp, 1, 1, g->d)) ||
      (rc = attr_ints_n(ctx, n, "pads", 2 * nsp, 0, 0, pads)) ||
      (rc = attr_ints_n(ctx, n, "output_padding", nsp, 0, 0, adj)))
    return rc;
  const int64_t *os;
  int n_os = cl_attr_ints(n, "output_shape", &os);
  if (n_os >= 0 && n_os != nsp && n_os != nsp + 2)
    return cl_node_err(ctx, n, CLEAVE_EMODEL, "attribute output_shape has %d values, expected %d", n_os, nsp);
  if (n_os == nsp + 2) os += 2;
  for (int i = 0; i < nsp; i++) {
    g->in[i] = in[i] >= 0 ? in[i] : CL_DIM_UNKNOWN;
    g->k[i] = kernel[i] >= 0 ? kernel[i] : CL_DIM_UNKNOWN;
    if (kernel[i] == 0) return cl_node_err(ctx, n, CLEAVE_EMODEL, "kernel dim %d is 0", i);
    if (adj[i] >= g->s[i] && adj[i] >= g->d[i])
      return cl_node_err(ctx, n, CLEAVE_EMODEL, "output_padding[%d] = %lld must be less than the stride or dilation",
                         i, (long long)adj[i]);
    g->pb[i] = ap == PAD_NOTSET ? pads[i] : 0;
    g->pe[i] = ap == PAD_NOTSET ? pads[nsp + i] : 0;
    g->out[i] = CL_DIM_UNKNOWN;
    int64_t dk;
    if ((rc = kernel_extent(ctx, n, i, g->k[i], g->d[i], &dk)) || (rc = check_in(ctx, n, i, g->in[i]))) return rc;
    bool same = ap == PAD_SAME_UPPER || ap == PAD_SAME_LOWER;
    if (n_os >= 0 || same) {
      if (n_os >= 0 && (os[i] <= 0 || os[i] > INT32_MAX))
        return cl_node_err(ctx, n, CLEAVE_EMODEL, "output_shape[%d] is %lld", i, (long long)os[i]);
      if (n_os >= 0)
        g->out[i] = os[i];
      else if (g->in[i] >= 0)
        g->out[i] = g->in[i] * g->s[i];
      if (g->in[i] < 0 || dk < 0) {
        g->pb[i] = g->pe[i] = CL_DIM_UNKNOWN;
        continue;
      }
      /* Total padding from the natural size; a negative total extends the output at the end. */
      int64_t total = g->s[i] * (g->in[i] - 1) + adj[i] + dk - g->out[i];
      if (total < 0) total = 0;
      g->pb[i] = ap == PAD_SAME_UPPER ? total / 2 : total - total / 2;
      g->pe[i] = total - g->pb[i];
      continue;
    }
    if (g->in[i] < 0 || dk < 0) continue;
    int64_t o = g->s[i] * (g->in[i] - 1) + adj[i] + dk - g->pb[i] - g->pe[i];
    if (o <= 0)
      return cl_node_err(ctx, n, CLEAVE_EMODEL, "spatial dim %d: pads leave an output size of %lld", i, (long long)o);
    g->out[i] = o;
  }
  return 0;
}

static bool is_float(int dt) {
  return dt == CLEAVE_DTYPE_FLOAT32 || dt == CLEAVE_DTYPE_FLOAT16 || dt == CLEAVE_DTYPE_FLOAT64;
}

static int need_float(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in) {
  /* MaxPool also takes 8-bit integers from opset 12 */
  bool int8_ok = strcmp(n->op, "MaxPool") == 0 && ic->opset >= 12;
  if (!is_float(in[0].dtype) && !(int8_ok && (in[0].dtype == CLEAVE_DTYPE_INT8 || in[0].dtype == CLEAVE_DTYPE_UINT8)))
    return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input 0 has dtype %s, expected a float type",
                       cleave_dtype_name(in[0].dtype));
  for (int i = 1; i < n_in; i++)
    if (in[i].present && in[i].dtype != in[0].dtype)
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %d has dtype %s, input 0 has %s", i,
                         cleave_dtype_name(in[i].dtype), cleave_dtype_name(in[0].dtype));
  return 0;
}

/* Checks that a known 1-D per-channel input has c entries (c < 0: unknown). */
static int check_vec(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *v, const char *what, int64_t c) {
  if (!v->present || v->shape.ndim < 0) return 0;
  if (v->shape.ndim != 1)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s has rank %d, expected 1", what, v->shape.ndim);
  if (c >= 0 && v->shape.d[0] >= 0 && v->shape.d[0] != c)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s has %lld entries, expected %lld", what,
                       (long long)v->shape.d[0], (long long)c);
  return 0;
}

/* Rank of a windowed op's input X (N x C x spatial): from X, else from w (another input of the same rank), else
 * from kernel_shape; -1 if nothing tells. */
static int window_rank(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *x, const cl_ival *w, int *rank) {
  *rank = x->shape.ndim;
  if (w && w->shape.ndim >= 0) {
    if (*rank >= 0 && *rank != w->shape.ndim)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has rank %d but W has rank %d", *rank, w->shape.ndim);
    *rank = w->shape.ndim;
  }
  const int64_t *ks;
  int nk = cl_attr_ints(n, "kernel_shape", &ks);
  if (nk >= 0) {
    if (*rank >= 0 && *rank != nk + 2)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "kernel_shape has %d dims but the input has rank %d", nk, *rank);
    *rank = nk + 2;
  }
  if (*rank >= 0 && (*rank < 3 || *rank > CL_MAX_DIMS))
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has rank %d, expected N x C x spatial (3 to %d)", *rank,
                       CL_MAX_DIMS);
  return 0;
}

/* Kernel dims: kernel_shape if given (checked against W's known dims), else W's. */
static int kernel_dims(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *w, int nsp, int64_t *k) {
  const int64_t *ks;
  int nk = cl_attr_ints(n, "kernel_shape", &ks);
  for (int i = 0; i < nsp; i++) {
    int64_t wd = w && w->shape.ndim == nsp + 2 ? w->shape.d[2 + i] : CL_DIM_UNKNOWN;
    if (wd < 0) wd = CL_DIM_UNKNOWN;
    if (nk >= 0) {
      if (ks[i] <= 0) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "kernel_shape[%d] is %lld", i, (long long)ks[i]);
      if (wd >= 0 && wd != ks[i])
        return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "kernel_shape[%d] is %lld but W has %lld there", i,
                           (long long)ks[i], (long long)wd);
      k[i] = ks[i];
    } else {
      k[i] = wd;
    }
  }
  return 0;
}

static int64_t dim_or_unknown(const cl_shape *s, int i) {
  return s->ndim > i && s->d[i] >= 0 ? s->d[i] : CL_DIM_UNKNOWN;
}

static int infer_conv(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  int rc, rank;
  if ((rc = need_float(ic, n, in, n_in)) || (rc = window_rank(ic, n, &in[0], &in[1], &rank))) return rc;
  out[0].dtype = in[0].dtype;
  if (rank < 0) return 0;
  int nsp = rank - 2;
  int64_t group = cl_attr_int(n, "group", 1), k[CL_MAX_DIMS], xin[CL_MAX_DIMS];
  if (group < 1) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "group is %lld", (long long)group);
  if ((rc = kernel_dims(ic, n, &in[1], nsp, k))) return rc;
  int64_t c = dim_or_unknown(&in[0].shape, 1), wc = dim_or_unknown(&in[1].shape, 1);
  int64_t m = dim_or_unknown(&in[1].shape, 0);
  if (c >= 0 && wc >= 0 && c != wc * group)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE,
                       "input X has %lld channels, weights W expect %lld per group x %lld groups", (long long)c,
                       (long long)wc, (long long)group);
  if (c >= 0 && c % group)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has %lld channels, not divisible by group %lld",
                       (long long)c, (long long)group);
  if (m >= 0 && m % group)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "W has %lld output channels, not divisible by group %lld",
                       (long long)m, (long long)group);
  if (n_in > 2 && (rc = check_vec(ic, n, &in[2], "B", m))) return rc;
  for (int i = 0; i < nsp; i++) xin[i] = dim_or_unknown(&in[0].shape, 2 + i);
  cl_nn_geom g;
  if ((rc = cl_nn_geom_init(ic->ctx, n, nsp, xin, k, false, &g))) return rc;
  out[0].shape.ndim = rank;
  out[0].shape.d[0] = in[0].shape.ndim >= 0 ? in[0].shape.d[0] : CL_DIM_UNKNOWN;
  out[0].shape.d[1] = m;
  for (int i = 0; i < nsp; i++) out[0].shape.d[2 + i] = g.out[i];
  return 0;
}

static int infer_conv_transpose(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                                int n_out) {
  int rc, rank;
  if ((rc = need_float(ic, n, in, n_in)) || (rc = window_rank(ic, n, &in[0], &in[1], &rank))) return rc;
  out[0].dtype = in[0].dtype;
  if (rank < 0) return 0;
  int nsp = rank - 2;
  int64_t group = cl_attr_int(n, "group", 1), k[CL_MAX_DIMS], xin[CL_MAX_DIMS];
  if (group < 1) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "group is %lld", (long long)group);
  if ((rc = kernel_dims(ic, n, &in[1], nsp, k))) return rc;
  int64_t c = dim_or_unknown(&in[0].shape, 1), wc = dim_or_unknown(&in[1].shape, 0);
  int64_t mg = dim_or_unknown(&in[1].shape, 1), m = mg >= 0 ? mg * group : CL_DIM_UNKNOWN;
  if (c >= 0 && wc >= 0 && c != wc)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has %lld channels, weights W have %lld", (long long)c,
                       (long long)wc);
  if (c >= 0 && c % group)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has %lld channels, not divisible by group %lld",
                       (long long)c, (long long)group);
  if (n_in > 2 && (rc = check_vec(ic, n, &in[2], "B", m))) return rc;
  for (int i = 0; i < nsp; i++) xin[i] = dim_or_unknown(&in[0].shape, 2 + i);
  cl_nn_geom g;
  if ((rc = cl_nn_convt_geom_init(ic->ctx, n, nsp, xin, k, &g))) return rc;
  out[0].shape.ndim = rank;
  out[0].shape.d[0] = in[0].shape.ndim >= 0 ? in[0].shape.d[0] : CL_DIM_UNKNOWN;
  out[0].shape.d[1] = m;
  for (int i = 0; i < nsp; i++) out[0].shape.d[2 + i] = g.out[i];
  return 0;
}

/* AveragePool, MaxPool, LpPool. */
static int infer_pool(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                      int n_out) {
  int rc, rank;
  if ((rc = need_float(ic, n, in, n_in)) || (rc = window_rank(ic, n, &in[0], NULL, &rank))) return rc;
  const int64_t *ks;
  if (cl_attr_ints(n, "kernel_shape", &ks) < 0)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute kernel_shape is missing");
  int64_t storage = cl_attr_int(n, "storage_order", 0), cim = cl_attr_int(n, "count_include_pad", 0);
  if (storage != 0 && storage != 1)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "storage_order is %lld, expected 0 or 1", (long long)storage);
  if (cim != 0 && cim != 1)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "count_include_pad is %lld, expected 0 or 1", (long long)cim);
  out[0].dtype = in[0].dtype;
  if (n_out > 1) out[1].dtype = CLEAVE_DTYPE_INT64;
  int nsp = rank - 2;
  int64_t k[CL_MAX_DIMS], xin[CL_MAX_DIMS];
  if ((rc = kernel_dims(ic, n, NULL, nsp, k))) return rc;
  for (int i = 0; i < nsp; i++) xin[i] = dim_or_unknown(&in[0].shape, 2 + i);
  cl_nn_geom g;
  if ((rc = cl_nn_geom_init(ic->ctx, n, nsp, xin, k, cl_attr_int(n, "ceil_mode", 0) != 0, &g))) return rc;
  out[0].shape.ndim = rank;
  out[0].shape.d[0] = dim_or_unknown(&in[0].shape, 0);
  out[0].shape.d[1] = dim_or_unknown(&in[0].shape, 1);
  for (int i = 0; i < nsp; i++) out[0].shape.d[2 + i] = g.out[i];
  if (n_out > 1) out[1].shape = out[0].shape;
  return 0;
}

/* GlobalAveragePool, GlobalMaxPool, GlobalLpPool. */
static int infer_global_pool(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                             int n_out) {
  int rc;
  if ((rc = need_float(ic, n, in, n_in))) return rc;
  out[0].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  if (in[0].shape.ndim < 0) return 0;
  if (in[0].shape.ndim < 2)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X has rank %d, expected N x C x spatial", in[0].shape.ndim);
  for (int i = 2; i < in[0].shape.ndim; i++) out[0].shape.d[i] = 1;
  return 0;
}

static int infer_batchnorm(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                           int n_out) {
  int rc;
  if (n_in < 5) return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "has %d inputs, expected 5", n_in);
  if ((rc = need_float(ic, n, in, 1))) return rc;
  for (int i = 0; i < n_out; i++) out[i].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  const cl_shape *x = &in[0].shape;
  if (x->ndim == 0) return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input X is a scalar");
  int64_t c = x->ndim == 1 ? 1 : dim_or_unknown(x, 1);
  /* Statistics are per channel; opset < 9 with spatial = 0 has them per channel and position. */
  int64_t per = c;
  if (ic->opset < 9 && cl_attr_int(n, "spatial", 1) == 0) {
    cl_shape tail = {.ndim = x->ndim >= 1 ? x->ndim - 1 : -1};
    for (int i = 1; i < x->ndim; i++) tail.d[i - 1] = x->d[i];
    per = x->ndim >= 0 ? cl_shape_numel(&tail) : -1;
  }
  static const char *const names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; i++) {
    const cl_ival *v = &in[i];
    if (v->dtype != in[0].dtype && !(ic->opset >= 15 && is_float(v->dtype)))
      return cl_node_err(ic->ctx, n, CLEAVE_EDTYPE, "input %s has dtype %s, X has %s", names[i],
                         cleave_dtype_name(v->dtype), cleave_dtype_name(in[0].dtype));
    int64_t cnt = cl_shape_numel(&v->shape);
    if (cnt >= 0 && per >= 0 && cnt != per)
      return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input %s has %lld values, expected %lld", names[i],
                         (long long)cnt, (long long)per);
  }
  for (int i = 1; i < n_out; i++) out[i].shape = in[1].shape;
  return 0;
}

static int infer_instancenorm(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out,
                              int n_out) {
  int rc;
  if ((rc = need_float(ic, n, in, n_in))) return rc;
  out[0].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  const cl_shape *x = &in[0].shape;
  if (x->ndim >= 0 && x->ndim < 2)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input has rank %d, expected N x C x spatial", x->ndim);
  int64_t c = dim_or_unknown(x, 1);
  if ((rc = check_vec(ic, n, &in[1], "scale", c)) || (rc = check_vec(ic, n, &in[2], "B", c))) return rc;
  return 0;
}

static int infer_lrn(const cl_infer_ctx *ic, const cl_node *n, const cl_ival *in, int n_in, cl_oval *out, int n_out) {
  int rc;
  if ((rc = need_float(ic, n, in, n_in))) return rc;
  int64_t size = cl_attr_int(n, "size", 0);
  if (size < 1)
    return cl_node_err(ic->ctx, n, CLEAVE_EMODEL, "attribute size is %lld, must be >= 1", (long long)size);
  if (in[0].shape.ndim >= 0 && in[0].shape.ndim < 2)
    return cl_node_err(ic->ctx, n, CLEAVE_ESHAPE, "input has rank %d, expected N x C x ...", in[0].shape.ndim);
  out[0].dtype = in[0].dtype;
  out[0].shape = in[0].shape;
  return 0;
}

const cl_op_schema cl_ops_nn[] = {
    {.name = "Conv", .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1, .infer = infer_conv},
    {.name = "ConvTranspose",
     .min_inputs = 2,
     .max_inputs = 3,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_conv_transpose},
    {.name = "AveragePool",
     .min_inputs = 1,
     .max_inputs = 1,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_pool},
    {.name = "MaxPool", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 2, .infer = infer_pool},
    {.name = "LpPool", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_pool},
    {.name = "GlobalAveragePool",
     .min_inputs = 1,
     .max_inputs = 1,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_global_pool},
    {.name = "GlobalMaxPool",
     .min_inputs = 1,
     .max_inputs = 1,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_global_pool},
    {.name = "GlobalLpPool",
     .min_inputs = 1,
     .max_inputs = 1,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_global_pool},
    {.name = "BatchNormalization",
     .min_inputs = 5,
     .max_inputs = 5,
     .min_outputs = 1,
     .max_outputs = 5,
     .infer = infer_batchnorm},
    {.name = "InstanceNormalization",
     .min_inputs = 3,
     .max_inputs = 3,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = infer_instancenorm},
    {.name = "LRN", .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1, .infer = infer_lrn},
    {.name = "MatMul",
     .min_inputs = 2,
     .max_inputs = 2,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = cl_nn_infer_matmul},
    {.name = "Gemm", .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1, .infer = cl_nn_infer_gemm},
    {.name = "Resize",
     .min_inputs = 1,
     .max_inputs = 4,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = cl_nn_infer_resize},
    {.name = "Upsample",
     .min_inputs = 1,
     .max_inputs = 2,
     .min_outputs = 1,
     .max_outputs = 1,
     .infer = cl_nn_infer_upsample},
    {.name = NULL},
};
