/* local/xnnpack: lowering a segment into steps (see xnn.h). Fusion, BatchNormalization folding and the layout of
 * every value are decided here, once per session. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ir/ops.h"
#include "local/ref/ref.h"
#include "local/xnnpack/xnn.h"

typedef struct lctx {
  xexe *e;
  const cl_graph *g;
  int *uses;    /* per graph value: readers inside the segment (+1 for a segment output) */
  bool *in_seg; /* per node */
  bool *done;   /* per node: already part of a step */
} lctx;

/* ---- values ---- */

static int grow(cleave_ctx *ctx, void **p, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int nc = *cap ? *cap * 2 : 64;
  while (nc < need)
    nc *= 2;
  void *q = cl_realloc(ctx, *p, size * (size_t)nc);
  if (!q) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory lowering the segment");
  memset((char *)q + size * (size_t)*cap, 0, size * (size_t)(nc - *cap));
  *p = q;
  *cap = nc;
  return 0;
}

static int new_value(xexe *e, int gv, int layout) {
  if (grow(e->ctx, (void **)&e->v, &e->cap_v, e->n_v + 1, sizeof *e->v)) return -1;
  xv *v = &e->v[e->n_v];
  memset(v, 0, sizeof *v);
  v->gv = gv;
  v->layout = layout;
  v->dtype = gv >= 0 ? e->g->values[gv].dtype : CLEAVE_DTYPE_FLOAT32;
  v->konst = gv >= 0 ? e->g->values[gv].konst : NULL;
  v->input = -1;
  v->producer = -1;
  v->alias_of = -1;
  if (gv >= 0 && e->vmap[layout][gv] < 0) e->vmap[layout][gv] = e->n_v;
  return e->n_v++;
}

static xstep *new_step(xexe *e, xs_kind kind, int node) {
  if (grow(e->ctx, (void **)&e->s, &e->cap_s, e->n_s + 1, sizeof *e->s)) return NULL;
  xstep *st = &e->s[e->n_s++];
  memset(st, 0, sizeof *st);
  st->kind = kind;
  st->node = node;
  st->out_min = -INFINITY;
  st->out_max = INFINITY;
  return st;
}

static int step_out(xexe *e, xstep *st, int gv, int layout) {
  int v = new_value(e, gv, layout);
  if (v < 0) return -1;
  e->v[v].producer = (int)(st - e->s);
  st->out[st->n_out++] = v;
  return v;
}

/* Constant t (ONNX layout, rank <= 4) as seen in NHWC: extended to rank 4 with leading 1s, then permuted. */
static void *nhwc_const(cleave_ctx *ctx, const cl_tensor *t) {
  int64_t d[4] = {1, 1, 1, 1};
  for (int i = 0; i < t->ndim; i++)
    d[4 - t->ndim + i] = t->dims[i];
  size_t es = cl_dtype_size(t->dtype);
  char *dst = cl_aligned_alloc(ctx, 64, t->nbytes + 64);
  if (!dst) return NULL;
  const char *src = t->data;
  for (int64_t n = 0; n < d[0]; n++)
    for (int64_t c = 0; c < d[1]; c++)
      for (int64_t hw = 0; hw < d[2] * d[3]; hw++)
        memcpy(dst + (size_t)(((n * d[2] * d[3] + hw) * d[1] + c)) * es,
               src + (size_t)(((n * d[1] + c) * d[2] * d[3] + hw)) * es, es);
  return dst;
}

int xl_value(xexe *e, int gv, int layout) {
  int have = e->vmap[layout][gv];
  if (have >= 0) return have;
  const cl_value *val = &e->g->values[gv];
  int other = e->vmap[!layout][gv];
  if (val->konst) {
    if (layout == XL_NHWC && val->konst->ndim > 4)
      return cl_err(e->ctx, CLEAVE_EINVAL, "constant '%s' has rank %d in an NHWC region", val->name,
                    val->konst->ndim);
    int v = new_value(e, gv, layout);
    if (v < 0) return CLEAVE_ENOMEM;
    if (layout == XL_NHWC && !(e->v[v].kdata = nhwc_const(e->ctx, val->konst)))
      return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
    return v;
  }
  if (other < 0) return cl_err(e->ctx, CLEAVE_EMODEL, "value '%s' is used before it is computed", val->name);
  if (val->shape.ndim > 4 || (layout == XL_ONNX && val->shape.ndim != 4 && val->shape.ndim >= 0))
    return cl_err(e->ctx, CLEAVE_EINVAL, "value '%s' (rank %d) cannot change layout", val->name, val->shape.ndim);
  /* a layout change, placed where it is first needed */
  xstep *st = new_step(e, layout == XL_NHWC ? XS_TO_NHWC : XS_TO_NCHW, val->producer >= 0 ? val->producer : 0);
  if (!st) return CLEAVE_ENOMEM;
  st->in[st->n_in++] = other;
  int v = step_out(e, st, gv, layout);
  return v < 0 ? CLEAVE_ENOMEM : v;
}

/* ---- helpers over the graph ---- */

static const cl_tensor *konst(const lctx *L, int v) { return v >= 0 ? L->g->values[v].konst : NULL; }

static bool is_f32(const lctx *L, int v) { return v >= 0 && L->g->values[v].dtype == CLEAVE_DTYPE_FLOAT32; }

static int rank(const lctx *L, int v) { return v >= 0 ? L->g->values[v].shape.ndim : -1; }

/* The only in-segment reader of v, if v has exactly one and is not a segment output. */
static const cl_node *sole_reader(const lctx *L, int v) {
  if (v < 0 || L->uses[v] != 1) return NULL;
  const cl_value *val = &L->g->values[v];
  for (int i = 0; i < val->n_consumers; i++) {
    int c = val->consumers[i];
    if (L->in_seg[c] && !L->done[c]) return &L->g->nodes[c];
  }
  return NULL;
}

static bool op_is(const cl_node *n, const char *op) { return n && strcmp(n->op, op) == 0; }

/* Scalar value of a one-element float constant. */
static bool scalar_const(const lctx *L, int v, float *out) {
  const cl_tensor *t = konst(L, v);
  if (!t || t->dtype != CLEAVE_DTYPE_FLOAT32 || cl_tensor_numel(t) != 1) return false;
  *out = ((const float *)t->data)[0];
  return true;
}

/* A float constant that varies at most along one axis of a value of rank r: the channel axis ch (counted from
 * the front). Broadcasting it must not grow the value. Fills dst[channels] (broadcast) when dst is given. */
static bool channel_const(const lctx *L, int v, int r, int ch, int64_t channels, float *dst) {
  const cl_tensor *t = konst(L, v);
  if (!t || t->dtype != CLEAVE_DTYPE_FLOAT32 || r < 1 || t->ndim > r) return false;
  int64_t numel = cl_tensor_numel(t);
  if (numel != 1) {
    if (numel != channels) return false;
    for (int i = 0; i < t->ndim; i++) {
      int axis = r - t->ndim + i;
      if (t->dims[i] != 1 && axis != ch) return false;
    }
  }
  if (dst)
    for (int64_t c = 0; c < channels; c++)
      dst[c] = ((const float *)t->data)[numel == 1 ? 0 : c];
  return true;
}

static int append_label(xexe *e, xstep *st, const char *op) {
  const char *base = st->label ? st->label : e->g->nodes[st->node].op;
  size_t len = strlen(base) + strlen(op) + 2;
  char *l = cl_malloc(e->ctx, len);
  if (!l) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  snprintf(l, len, "%s+%s", base, op);
  cl_free(e->ctx, st->label);
  st->label = l;
  return 0;
}

/* Clip bounds from attributes (opset < 11) or constant inputs. */
static bool clip_bounds(const lctx *L, const cl_node *n, float *lo, float *hi) {
  /* a bound left out is the type's limit, so that Clip turns infinities into finite values */
  *lo = -FLT_MAX, *hi = FLT_MAX;
  if (L->g->opset < 11) {
    *lo = cl_attr_float(n, "min", -FLT_MAX);
    *hi = cl_attr_float(n, "max", FLT_MAX);
    return true;
  }
  if (n->n_in > 1 && n->in[1] >= 0 && !scalar_const(L, n->in[1], lo)) return false;
  if (n->n_in > 2 && n->in[2] >= 0 && !scalar_const(L, n->in[2], hi)) return false;
  return true;
}

/* ---- producers with weights: Conv, ConvTranspose, Gemm, MatMul ---- */

/* Per-output-channel affine folded into the weights: w rows of the output channel scaled by s, then b = b*s + t. */
typedef struct wlayout {
  int64_t oc; /* output channels */
  float *w, *b;
  /* weight element (o, j) for j < per: w[index(o, j)] */
  int64_t per;
  int kind; /* 0: [oc][per] rows (conv, fc); 1: deconv [ic][oc/g][k] */
  int64_t groups, ic_per_g, oc_per_g, ksz;
} wlayout;

static void scale_weights(wlayout *wl, const float *s) {
  if (wl->kind == 0) {
    for (int64_t o = 0; o < wl->oc; o++)
      for (int64_t j = 0; j < wl->per; j++)
        wl->w[o * wl->per + j] *= s[o];
  } else {
    for (int64_t g = 0; g < wl->groups; g++)
      for (int64_t i = 0; i < wl->ic_per_g; i++)
        for (int64_t o = 0; o < wl->oc_per_g; o++)
          for (int64_t k = 0; k < wl->ksz; k++)
            wl->w[(((g * wl->ic_per_g + i) * wl->oc_per_g) + o) * wl->ksz + k] *= s[g * wl->oc_per_g + o];
  }
}

/* Absorbs BatchNormalization, per-channel Mul/Div/Add/Sub and then one clamp that follow the producer's output
 * *cur (rank r, channel axis ch). Returns 0 or an error. */
static int absorb_tail(lctx *L, xstep *st, wlayout *wl, int *cur, int r, int ch) {
  xexe *e = L->e;
  cleave_ctx *ctx = e->ctx;
  int64_t C = wl->oc;
  float *s = cl_malloc(ctx, sizeof(float) * (size_t)C), *t = cl_malloc(ctx, sizeof(float) * (size_t)C);
  int rc = 0;
  if (!s || !t) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
    goto out;
  }
  for (;;) {
    const cl_node *n = sole_reader(L, *cur);
    if (!n || n->n_out != 1) break;
    int other = -1;
    bool affine = false, clamp = false;
    float lo = -INFINITY, hi = INFINITY;
    if (op_is(n, "BatchNormalization") && n->in[0] == *cur && n->n_in == 5) {
      const cl_tensor *sc = konst(L, n->in[1]), *bb = konst(L, n->in[2]), *mu = konst(L, n->in[3]),
                      *var = konst(L, n->in[4]);
      if (!sc || !bb || !mu || !var || cl_attr_int(n, "training_mode", 0) || cl_tensor_numel(sc) != C ||
          cl_tensor_numel(bb) != C || cl_tensor_numel(mu) != C || cl_tensor_numel(var) != C || r < 2 || ch != 1)
        break;
      double eps = cl_attr_float(n, "epsilon", 1e-5f);
      for (int64_t c = 0; c < C; c++) {
        double k = ((const float *)sc->data)[c] / sqrt((double)((const float *)var->data)[c] + eps);
        s[c] = (float)k;
        t[c] = (float)(((const float *)bb->data)[c] - ((const float *)mu->data)[c] * k);
      }
      affine = true;
    } else if ((op_is(n, "Mul") || op_is(n, "Add")) && n->n_in == 2) {
      other = n->in[0] == *cur ? n->in[1] : n->in[0];
      if (n->in[0] == n->in[1] || !channel_const(L, other, r, ch, C, op_is(n, "Mul") ? s : t)) break;
      if (op_is(n, "Mul"))
        for (int64_t c = 0; c < C; c++)
          t[c] = 0.0f;
      else
        for (int64_t c = 0; c < C; c++)
          s[c] = 1.0f;
      affine = true;
    } else if ((op_is(n, "Div") || op_is(n, "Sub")) && n->n_in == 2 && n->in[0] == *cur) {
      if (!channel_const(L, n->in[1], r, ch, C, op_is(n, "Div") ? s : t)) break;
      for (int64_t c = 0; c < C; c++) {
        if (op_is(n, "Div")) {
          s[c] = 1.0f / s[c];
          t[c] = 0.0f;
        } else {
          t[c] = -t[c];
          s[c] = 1.0f;
        }
      }
      affine = true;
    } else if (op_is(n, "Relu")) {
      lo = 0.0f, clamp = true;
    } else if (op_is(n, "Clip") && n->in[0] == *cur) {
      if (!clip_bounds(L, n, &lo, &hi)) break;
      clamp = true;
    } else if (op_is(n, "HardSigmoid")) {
      float a = cl_attr_float(n, "alpha", 0.2f), b = cl_attr_float(n, "beta", 0.5f);
      for (int64_t c = 0; c < C; c++)
        s[c] = a, t[c] = b;
      affine = clamp = true;
      lo = 0.0f, hi = 1.0f;
    } else {
      break;
    }
    if (affine && (st->out_min > -INFINITY || st->out_max < INFINITY)) break; /* affine after a clamp */
    /* XNNPACK needs min < max; an empty or one-point range is left to a chain */
    if (clamp && !(fmaxf(st->out_min, lo) < fminf(st->out_max, hi))) break;
    if (affine) {
      scale_weights(wl, s);
      for (int64_t c = 0; c < C; c++)
        wl->b[c] = wl->b[c] * s[c] + t[c];
    }
    if (clamp) {
      st->out_min = fmaxf(st->out_min, lo);
      st->out_max = fminf(st->out_max, hi);
    }
    if ((rc = append_label(e, st, n->op))) goto out;
    L->done[n - L->g->nodes] = true;
    *cur = n->out[0];
  }
out:
  cl_free(ctx, s);
  cl_free(ctx, t);
  return rc;
}

static bool ints_attr(const cl_node *n, const char *name, int want, const int64_t **v) {
  int c = cl_attr_ints(n, name, v);
  if (c < 0) {
    *v = NULL;
    return true;
  }
  return c == want;
}

/* Geometry shared by Conv, ConvTranspose and the pools; false when XNNPACK cannot express it. */
static bool geometry(const cl_node *n, xstep *st, int64_t kh, int64_t kw, bool is_pool) {
  const int64_t *strides, *dil, *pads;
  if (!ints_attr(n, "strides", 2, &strides) || !ints_attr(n, "dilations", 2, &dil) || !ints_attr(n, "pads", 4, &pads))
    return false;
  const char *ap = cl_attr_str(n, "auto_pad", "NOTSET");
  struct xgeom *q = &st->geo;
  if (kh < 1 || kw < 1 || kh > 4096 || kw > 4096) return false;
  for (int i = 0; i < 2; i++)
    if ((strides && (strides[i] < 1 || strides[i] > 4096)) || (dil && (dil[i] < 1 || dil[i] > 4096))) return false;
  q->kh = (uint32_t)kh, q->kw = (uint32_t)kw;
  q->sh = strides ? (uint32_t)strides[0] : 1, q->sw = strides ? (uint32_t)strides[1] : 1;
  q->dh = dil ? (uint32_t)dil[0] : 1, q->dw = dil ? (uint32_t)dil[1] : 1;
  if (strcmp(ap, "NOTSET") == 0) {
    if (pads) {
      for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > 4096) return false;
      q->pt = (uint32_t)pads[0], q->pl = (uint32_t)pads[1], q->pb = (uint32_t)pads[2], q->pr = (uint32_t)pads[3];
    }
  } else if (strcmp(ap, "SAME_UPPER") == 0 && !is_pool) {
    st->same_upper = true;
  } else if (strcmp(ap, "VALID") != 0) {
    return false;
  }
  return true;
}

static int lower_conv(lctx *L, const cl_node *n, bool *ok) {
  xexe *e = L->e;
  const cl_tensor *w = konst(L, n->in[1]), *b = n->n_in > 2 ? konst(L, n->in[2]) : NULL;
  *ok = false;
  if (!is_f32(L, n->in[0]) || rank(L, n->in[0]) != 4 || !w || w->ndim != 4 || w->dtype != CLEAVE_DTYPE_FLOAT32 ||
      (n->n_in > 2 && n->in[2] >= 0 && !b))
    return 0;
  int64_t groups = cl_attr_int(n, "group", 1), oc = w->dims[0], gic = w->dims[1];
  if (groups < 1 || oc < 1 || gic < 1 || oc % groups || (b && cl_tensor_numel(b) != oc)) return 0;
  xstep tmp = {0};
  if (!geometry(n, &tmp, w->dims[2], w->dims[3], false)) return 0;
  const int64_t *ks;
  if (!ints_attr(n, "kernel_shape", 2, &ks) || (ks && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))) return 0;
  int in = xl_value(e, n->in[0], XL_NHWC);
  if (in < 0) return in;
  xstep *st = new_step(e, XS_CONV, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  st->geo = tmp.geo;
  st->same_upper = tmp.same_upper;
  st->groups = (uint32_t)groups, st->gic = (size_t)gic, st->goc = (size_t)(oc / groups);
  st->w = cl_malloc(e->ctx, w->nbytes);
  st->bias = cl_calloc(e->ctx, (size_t)oc, sizeof(float));
  if (!st->w || !st->bias) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  memcpy(st->w, w->data, w->nbytes);
  if (b) memcpy(st->bias, b->data, b->nbytes);
  L->done[st->node] = true;
  st->in[st->n_in++] = in;
  wlayout wl = {.oc = oc, .w = st->w, .b = st->bias, .per = w->nbytes / sizeof(float) / (size_t)oc};
  int cur = n->out[0];
  int rc = absorb_tail(L, st, &wl, &cur, 4, 1);
  if (rc) return rc;
  *ok = true;
  return step_out(e, st, cur, XL_NHWC) < 0 ? CLEAVE_ENOMEM : 0;
}

static int lower_deconv(lctx *L, const cl_node *n, bool *ok) {
  xexe *e = L->e;
  const cl_tensor *w = konst(L, n->in[1]), *b = n->n_in > 2 ? konst(L, n->in[2]) : NULL;
  *ok = false;
  if (!is_f32(L, n->in[0]) || rank(L, n->in[0]) != 4 || !w || w->ndim != 4 || w->dtype != CLEAVE_DTYPE_FLOAT32 ||
      (n->n_in > 2 && n->in[2] >= 0 && !b) || cl_node_attr(n, "output_shape"))
    return 0;
  int64_t groups = cl_attr_int(n, "group", 1), ic = w->dims[0], goc = w->dims[1];
  if (groups < 1 || ic < 1 || goc < 1 || ic % groups || (b && cl_tensor_numel(b) != goc * groups)) return 0;
  const char *ap = cl_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) return 0;
  xstep tmp = {0};
  if (!geometry(n, &tmp, w->dims[2], w->dims[3], false)) return 0;
  const int64_t *op;
  if (!ints_attr(n, "output_padding", 2, &op)) return 0;
  if (op && (op[0] < 0 || op[1] < 0 || op[0] >= (int64_t)tmp.geo.sh || op[1] >= (int64_t)tmp.geo.sw)) return 0;
  int in = xl_value(e, n->in[0], XL_NHWC);
  if (in < 0) return in;
  xstep *st = new_step(e, XS_DECONV, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  st->geo = tmp.geo;
  st->adj_h = op ? (uint32_t)op[0] : 0, st->adj_w = op ? (uint32_t)op[1] : 0;
  st->groups = (uint32_t)groups, st->gic = (size_t)(ic / groups), st->goc = (size_t)goc;
  int64_t oc = goc * groups;
  st->w = cl_malloc(e->ctx, w->nbytes);
  st->bias = cl_calloc(e->ctx, (size_t)oc, sizeof(float));
  if (!st->w || !st->bias) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  memcpy(st->w, w->data, w->nbytes);
  if (b) memcpy(st->bias, b->data, b->nbytes);
  st->in[st->n_in++] = in;
  L->done[st->node] = true;
  wlayout wl = {.oc = oc,
                .w = st->w,
                .b = st->bias,
                .kind = 1,
                .groups = groups,
                .ic_per_g = ic / groups,
                .oc_per_g = goc,
                .ksz = w->dims[2] * w->dims[3]};
  int cur = n->out[0];
  int rc = absorb_tail(L, st, &wl, &cur, 4, 1);
  if (rc) return rc;
  *ok = true;
  return step_out(e, st, cur, XL_NHWC) < 0 ? CLEAVE_ENOMEM : 0;
}

/* Gemm (transA = 0) and MatMul with a constant 2-D right-hand side: XNNPACK fully connected, weights [N][K]. */
static int lower_fc(lctx *L, const cl_node *n, bool *ok) {
  xexe *e = L->e;
  bool gemm = op_is(n, "Gemm");
  const cl_tensor *bw = konst(L, n->in[1]), *c = gemm && n->n_in > 2 ? konst(L, n->in[2]) : NULL;
  *ok = false;
  int ra = rank(L, n->in[0]);
  if (!is_f32(L, n->in[0]) || !bw || bw->ndim != 2 || bw->dtype != CLEAVE_DTYPE_FLOAT32 || ra < 1) return 0;
  if (gemm && (cl_attr_int(n, "transA", 0) != 0 || ra != 2 || (n->n_in > 2 && n->in[2] >= 0 && !c))) return 0;
  bool tb = gemm && cl_attr_int(n, "transB", 0) != 0;
  int64_t K = tb ? bw->dims[1] : bw->dims[0], N = tb ? bw->dims[0] : bw->dims[1];
  if (K < 1 || N < 1) return 0;
  float alpha = gemm ? cl_attr_float(n, "alpha", 1.0f) : 1.0f, beta = gemm ? cl_attr_float(n, "beta", 1.0f) : 1.0f;
  if (c && c->dtype != CLEAVE_DTYPE_FLOAT32) return 0;
  /* the bias must broadcast along the output's last axis only */
  if (c && !channel_const(L, n->in[2], 2, 1, N, NULL)) return 0;
  int in = xl_value(e, n->in[0], XL_ONNX);
  if (in < 0) return in;
  xstep *st = new_step(e, XS_FC, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  st->gic = (size_t)K, st->goc = (size_t)N;
  st->w = cl_malloc(e->ctx, sizeof(float) * (size_t)(K * N));
  st->bias = cl_calloc(e->ctx, (size_t)N, sizeof(float));
  if (!st->w || !st->bias) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory");
  const float *src = bw->data;
  for (int64_t o = 0; o < N; o++)
    for (int64_t k = 0; k < K; k++)
      st->w[o * K + k] = alpha * (tb ? src[o * K + k] : src[k * N + o]);
  if (c) {
    channel_const(L, n->in[2], 2, 1, N, st->bias);
    for (int64_t o = 0; o < N; o++)
      st->bias[o] *= beta;
  }
  st->in[st->n_in++] = in;
  L->done[st->node] = true;
  wlayout wl = {.oc = N, .w = st->w, .b = st->bias, .per = K};
  int cur = n->out[0], r = gemm ? 2 : rank(L, n->out[0]);
  int rc = r >= 1 ? absorb_tail(L, st, &wl, &cur, r, r - 1) : 0;
  if (rc) return rc;
  *ok = true;
  return step_out(e, st, cur, XL_ONNX) < 0 ? CLEAVE_ENOMEM : 0;
}

/* ---- elementwise chains ---- */

/* HardSwish written out: Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6), with Mul(., 1/6) for the Div and either operand
 * order. n is the Add. On a match *x is x and inner[0..3) the Clip, Mul and the last node. */
static bool match_hardswish(const lctx *L, const cl_node *n, int *x, const cl_node *inner[3]) {
  float k, lo, hi, d;
  if (!op_is(n, "Add") || n->n_in != 2) return false;
  int xi = scalar_const(L, n->in[1], &k) ? n->in[0] : scalar_const(L, n->in[0], &k) ? n->in[1] : -1;
  if (xi < 0 || k != 3.0f || konst(L, xi)) return false;
  const cl_node *clip = sole_reader(L, n->out[0]);
  if (!op_is(clip, "Clip") || clip->in[0] != n->out[0] || !clip_bounds(L, clip, &lo, &hi) || lo != 0.0f || hi != 6.0f)
    return false;
  const cl_node *mul = sole_reader(L, clip->out[0]);
  if (!op_is(mul, "Mul") || mul->n_in != 2 ||
      !((mul->in[0] == xi && mul->in[1] == clip->out[0]) || (mul->in[1] == xi && mul->in[0] == clip->out[0])))
    return false;
  const cl_node *last = sole_reader(L, mul->out[0]);
  if (!last || last->n_in != 2) return false;
  bool div = op_is(last, "Div") && last->in[0] == mul->out[0] && scalar_const(L, last->in[1], &d) && d == 6.0f;
  bool mul6 = op_is(last, "Mul") && scalar_const(L, last->in[last->in[0] == mul->out[0] ? 1 : 0], &d) &&
              fabsf(d - 1.0f / 6.0f) < 1e-7f;
  if (!div && !mul6) return false;
  *x = xi;
  inner[0] = clip, inner[1] = mul, inner[2] = last;
  return true;
}

/* The chain-able op at n applied to value cur (rank r), or NULL. Fills op; *n_inner gets the other nodes it
 * covers (a written-out HardSwish), the last of which produces its result. */
static const cl_node *chain_op(lctx *L, const cl_node *n, int cur, int r, xe_op *op, bool *per_channel,
                               const cl_node *inner[3], int *n_inner, int *err) {
  float lo, hi, k;
  int x;
  memset(op, 0, sizeof *op);
  *n_inner = 0;
  if (!n || n->n_out != 1 || !is_f32(L, n->out[0]) || L->done[n - L->g->nodes]) return NULL;
  if (op_is(n, "Add") && match_hardswish(L, n, &x, inner)) {
    if (x != cur) return NULL;
    op->kind = XE_HARDSWISH;
    *n_inner = 3;
    return inner[2];
  }
  if (n->in[0] != cur && !(n->n_in == 2 && n->in[1] == cur)) return NULL;
  if (op_is(n, "HardSwish")) {
    op->kind = XE_HARDSWISH;
    return n;
  }
  if (op_is(n, "Relu") || (op_is(n, "Clip") && n->in[0] == cur && clip_bounds(L, n, &lo, &hi))) {
    op->kind = XE_CLAMP;
    op->a = op_is(n, "Relu") ? 0.0f : lo;
    op->b = op_is(n, "Relu") ? INFINITY : hi;
    return n;
  }
  if (op_is(n, "HardSigmoid") && fabsf(cl_attr_float(n, "alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f &&
      cl_attr_float(n, "beta", 0.5f) == 0.5f) {
    /* x * HardSigmoid(x) with alpha 1/6, beta 1/2 is HardSwish */
    const cl_node *mul = sole_reader(L, n->out[0]);
    if (op_is(mul, "Mul") && mul->n_in == 2 &&
        ((mul->in[0] == cur && mul->in[1] == n->out[0]) || (mul->in[1] == cur && mul->in[0] == n->out[0]))) {
      op->kind = XE_HARDSWISH;
      inner[0] = mul;
      *n_inner = 1;
      return mul;
    }
  }
  if (op_is(n, "HardSigmoid")) {
    op->kind = XE_HARDSIGMOID;
    op->a = cl_attr_float(n, "alpha", 0.2f);
    op->b = cl_attr_float(n, "beta", 0.5f);
    return n;
  }
  bool mul = op_is(n, "Mul"), add = op_is(n, "Add"), div = op_is(n, "Div"), sub = op_is(n, "Sub");
  if (!(mul || add || div || sub) || n->n_in != 2 || n->in[0] == n->in[1]) return NULL;
  bool first = n->in[0] == cur;
  int other = first ? n->in[1] : n->in[0];
  if ((div || sub) && !first) return NULL;
  op->kind = XE_AFFINE;
  if (scalar_const(L, other, &k)) {
    op->a = mul ? k : div ? 1.0f / k : 1.0f;
    op->b = add ? k : sub ? -k : 0.0f;
    return n;
  }
  /* per channel: axis 1 of a rank-4 value (innermost once in NHWC), or the last axis otherwise */
  int ch = r == 4 ? 1 : r - 1;
  const cl_tensor *t = konst(L, other);
  int64_t C = 0;
  if (!t || r < 1) return NULL;
  for (int i = 0; i < t->ndim; i++)
    if (t->dims[i] != 1) C = t->dims[i];
  const cl_shape *cs = &L->g->values[cur].shape;
  if (C < 1 || !channel_const(L, other, r, ch, C, NULL) || cs->ndim != r || cs->d[ch] != C) return NULL;
  float *v = cl_malloc(L->e->ctx, sizeof(float) * (size_t)C);
  if (!v) {
    *err = cl_err(L->e->ctx, CLEAVE_ENOMEM, "out of memory");
    return NULL;
  }
  channel_const(L, other, r, ch, C, v);
  for (int64_t c = 0; c < C; c++)
    v[c] = div ? 1.0f / v[c] : sub ? -v[c] : v[c];
  op->channels = C;
  op->a = 1.0f;
  if (mul || div)
    op->scale = v;
  else
    op->bias = v;
  *per_channel = true;
  return n;
}

static void free_ew(cleave_ctx *ctx, xe_op *op) {
  cl_free(ctx, op->scale);
  cl_free(ctx, op->bias);
  op->scale = op->bias = NULL;
}

/* The data input of a chain that starts at n. */
static int chain_input(const lctx *L, const cl_node *n) {
  int x;
  const cl_node *inner[3];
  if (match_hardswish(L, n, &x, inner)) return x;
  if (n->n_in == 2 && (op_is(n, "Mul") || op_is(n, "Add")) && konst(L, n->in[0])) return n->in[1];
  return n->in[0];
}

/* A chain of cheap elementwise ops starting at n, in one pass; ok = false when n starts none. Per-channel
 * constants over a rank-4 value put the chain in NHWC; a chain of scalars follows its input's layout. */
static int lower_chain(lctx *L, const cl_node *n, bool *ok) {
  xexe *e = L->e;
  *ok = false;
  int x = chain_input(L, n);
  if (!is_f32(L, x) || konst(L, x)) return 0;
  int r = rank(L, x);
  xe_op ops[XS_MAX_EW];
  const cl_node *covered[XS_MAX_EW * 4];
  int n_ops = 0, n_cov = 0, cur = x, rc = 0;
  bool per_channel = false;
  const cl_node *at = n;
  while (at && n_ops < XS_MAX_EW) {
    const cl_node *inner[3];
    int n_inner;
    bool pc = false;
    const cl_node *last = chain_op(L, at, cur, r, &ops[n_ops], &pc, inner, &n_inner, &rc);
    if (rc) goto fail;
    if (last && (r < 0 || rank(L, last->out[0]) != r)) {
      free_ew(e->ctx, &ops[n_ops]);
      last = NULL;
    }
    if (!last) break;
    per_channel |= pc;
    n_ops++;
    covered[n_cov++] = at;
    for (int i = 0; i < n_inner; i++)
      covered[n_cov++] = inner[i];
    cur = last->out[0];
    at = sole_reader(L, cur);
  }
  if (n_ops == 0) return 0;
  int layout = r == 4 && (per_channel || e->vmap[XL_NHWC][x] >= 0) ? XL_NHWC : XL_ONNX;
  int in = xl_value(e, x, layout);
  if (in < 0) {
    rc = in;
    goto fail;
  }
  xstep *st = new_step(e, XS_EW, (int)(n - L->g->nodes));
  if (!st) {
    rc = CLEAVE_ENOMEM;
    goto fail;
  }
  memcpy(st->ew, ops, sizeof(xe_op) * (size_t)n_ops);
  st->n_ew = n_ops;
  n_ops = 0; /* owned by the step now */
  st->in[st->n_in++] = in;
  for (int i = 0; i < n_cov; i++) {
    L->done[covered[i] - L->g->nodes] = true;
    if (i > 0 && (rc = append_label(e, st, covered[i]->op))) return rc;
  }
  *ok = true;
  return step_out(e, st, cur, layout) < 0 ? CLEAVE_ENOMEM : 0;
fail:
  for (int i = 0; i < n_ops; i++)
    free_ew(e->ctx, &ops[i]);
  return rc;
}

/* ---- the rest ---- */

static const char *const agnostic_ops[] = {
    "Abs",  "Acos",     "Acosh",      "Asin",     "Asinh",   "Atan",        "Atanh",     "Ceil",
    "Cos",  "Cosh",     "Erf",        "Exp",      "Floor",   "IsInf",       "IsNaN",     "Log",
    "Neg",  "Not",      "Reciprocal", "Round",    "Sign",    "Sin",         "Sinh",      "Sqrt",
    "Tan",  "Tanh",     "Softplus",   "Softsign", "Selu",    "Elu",         "LeakyRelu", "ThresholdedRelu",
    "Celu", "Mish",     "Gelu",       "Relu",     "Sigmoid", "HardSigmoid", "HardSwish", "Clip",
    "Cast", "Identity", "Add",        "Sub",      "Mul",     "Div",         "Pow",       "Max",
    "Min",  "Sum",      "Mean",       "Equal",    "Less",    "LessOrEqual", "Greater",   "GreaterOrEqual",
    "And",  "Or",       "Xor",        "Where",    "Mod",     "BitShift",    "PRelu",     NULL};

static bool is_agnostic(const cl_node *n) {
  for (int i = 0; agnostic_ops[i]; i++)
    if (strcmp(n->op, agnostic_ops[i]) == 0) return true;
  return false;
}

/* Layout for an op that works in either: NHWC when its output is rank 4 and a computed input already is NHWC. */
static int follow_layout(lctx *L, const cl_node *n) {
  int r = n->n_out > 0 ? rank(L, n->out[0]) : -1;
  if (r != 4 || n->n_out != 1 || !is_f32(L, n->out[0])) return XL_ONNX;
  for (int j = 0; j < n->n_in; j++) {
    int v = n->in[j];
    if (v < 0) continue;
    if (!is_f32(L, v) || rank(L, v) < 0 || rank(L, v) > 4) return XL_ONNX;
  }
  for (int j = 0; j < n->n_in; j++) {
    int v = n->in[j];
    if (v >= 0 && !konst(L, v) && L->e->vmap[XL_NHWC][v] >= 0) return XL_NHWC;
  }
  return XL_ONNX;
}

static int simple_step(lctx *L, const cl_node *n, xs_kind kind, int layout, int n_data_in) {
  xexe *e = L->e;
  int ins[XS_MAX_IN];
  for (int j = 0; j < n_data_in; j++) {
    ins[j] = n->in[j] >= 0 ? xl_value(e, n->in[j], layout) : -1;
    if (n->in[j] >= 0 && ins[j] < 0) return ins[j];
  }
  xstep *st = new_step(e, kind, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  for (int j = 0; j < n_data_in; j++)
    st->in[st->n_in++] = ins[j];
  L->done[st->node] = true;
  for (int j = 0; j < n->n_out; j++)
    if (step_out(e, &e->s[e->n_s - 1], n->out[j], layout) < 0) return CLEAVE_ENOMEM;
  return 0;
}

static int lower_binary(lctx *L, const cl_node *n, bool *ok) {
  static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
  *ok = false;
  int code = -1;
  for (int i = 0; i < 6; i++)
    if (op_is(n, ops[i])) code = i;
  if (code < 0 || n->n_in != 2 || !is_f32(L, n->in[0]) || !is_f32(L, n->in[1])) return 0;
  if (rank(L, n->in[0]) < 0 || rank(L, n->in[1]) < 0 || rank(L, n->out[0]) > XNN_MAX_TENSOR_DIMS) return 0;
  int rc = simple_step(L, n, XS_BINARY, follow_layout(L, n), 2);
  if (rc) return rc;
  L->e->s[L->e->n_s - 1].op_code = code;
  *ok = true;
  return 0;
}

static int lower_unary(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  int code = -1;
  float k;
  if (!is_f32(L, n->in[0]) || n->n_out != 1) return 0;
  if (op_is(n, "Sigmoid"))
    code = XU_SIGMOID;
  else if (op_is(n, "LeakyRelu"))
    code = XU_LEAKY;
  else if (op_is(n, "Elu"))
    code = XU_ELU;
  else if (op_is(n, "Abs"))
    code = XU_ABS;
  else if (op_is(n, "Neg"))
    code = XU_NEG;
  else if (op_is(n, "Floor"))
    code = XU_FLOOR;
  else if (op_is(n, "Ceil"))
    code = XU_CEIL;
  else if (op_is(n, "Round"))
    code = XU_ROUND;
  else if (op_is(n, "Sqrt"))
    code = XU_SQRT;
  else if (op_is(n, "Pow") && scalar_const(L, n->in[1], &k) && k == 2.0f)
    code = XU_SQUARE;
  if (code < 0) return 0;
  int rc = simple_step(L, n, XS_UNARY, follow_layout(L, n), 1);
  if (rc) return rc;
  xstep *st = &L->e->s[L->e->n_s - 1];
  st->op_code = code;
  st->alpha = code == XU_LEAKY ? cl_attr_float(n, "alpha", 0.01f) : cl_attr_float(n, "alpha", 1.0f);
  *ok = true;
  return 0;
}

static int lower_pool(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  if (!is_f32(L, n->in[0]) || rank(L, n->in[0]) != 4 || n->n_out != 1) return 0;
  bool gap = op_is(n, "GlobalAveragePool"), maxp = op_is(n, "MaxPool");
  xstep tmp = {0};
  if (!gap) {
    const int64_t *ks;
    if (cl_attr_ints(n, "kernel_shape", &ks) != 2 || cl_attr_int(n, "ceil_mode", 0) != 0) return 0;
    if (maxp && cl_attr_int(n, "storage_order", 0) != 0) return 0;
    if (!geometry(n, &tmp, ks[0], ks[1], true)) return 0;
    const struct xgeom *q = &tmp.geo;
    if (q->kh * q->kw == 1) return 0; /* XNNPACK pools need a window of two or more */
    if (!maxp && (q->dh != 1 || q->dw != 1)) return 0;
    bool padded = q->pt || q->pl || q->pb || q->pr;
    if (!maxp && padded && cl_attr_int(n, "count_include_pad", 0) != 0) return 0;
    if (q->pt >= q->kh || q->pb >= q->kh || q->pl >= q->kw || q->pr >= q->kw) return 0;
  }
  int rc = simple_step(L, n, gap ? XS_GAP : maxp ? XS_MAXPOOL : XS_AVGPOOL, XL_NHWC, 1);
  if (rc) return rc;
  xstep *st = &L->e->s[L->e->n_s - 1];
  if (!gap) st->geo = tmp.geo;
  *ok = true;
  return 0;
}

static int lower_resize(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  if (!is_f32(L, n->in[0]) || rank(L, n->in[0]) != 4 || n->n_out != 1) return 0;
  /* the parameters must be constants, so that the decision holds for every shape */
  cl_ival iv[4] = {0};
  for (int j = 0; j < n->n_in && j < 4; j++) {
    if (n->in[j] < 0) continue;
    iv[j].present = true;
    iv[j].dtype = L->g->values[n->in[j]].dtype;
    iv[j].shape = L->g->values[n->in[j]].shape;
    iv[j].value = konst(L, n->in[j]);
    if (j > 0 && !iv[j].value) return 0;
  }
  cl_nn_resize p;
  if (cl_nn_resize_params(L->e->ctx, L->g->opset, n, iv, n->n_in, &p)) return 0;
  if (p.rank != 4 || p.scale[0] != 1.0f || p.scale[1] != 1.0f || p.antialias || p.coord == CL_RS_TF_CROP_AND_RESIZE)
    return 0;
  /* with sizes, N and C must be known to stay as they are: the scale of an unknown dim reads as 1 */
  bool sizes = n->n_in > 3 && n->in[3] >= 0;
  const cl_shape *xs = &L->g->values[n->in[0]].shape;
  if (sizes && (xs->d[0] < 0 || xs->d[1] < 0 || p.out[0] != xs->d[0] || p.out[1] != xs->d[1])) return 0;
  if (strcmp(cl_attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0) return 0;
  xs_kind kind;
  if (p.mode == CL_RS_NEAREST) {
    kind = XS_RESIZE_NN;
  } else if (p.mode == CL_RS_LINEAR &&
             (p.coord == CL_RS_HALF_PIXEL || p.coord == CL_RS_ALIGN_CORNERS || p.coord == CL_RS_ASYMMETRIC) &&
             p.scale[2] == floorf(p.scale[2]) && p.scale[3] == floorf(p.scale[3]) && p.scale[2] >= 1.0f &&
             p.scale[3] >= 1.0f) {
    /* XNNPACK maps with input/output lengths; ONNX with the scale: the same exactly for whole scales */
    kind = XS_RESIZE_BL;
  } else {
    return 0;
  }
  int rc = simple_step(L, n, kind, XL_NHWC, 1);
  if (rc) return rc;
  xstep *st = &L->e->s[L->e->n_s - 1];
  st->coord_mode = p.coord;
  st->nearest_mode = p.nearest;
  *ok = true;
  return 0;
}

/* Pad in constant mode with constant, non-negative pads: XNNPACK's constant pad, in either layout. */
static int lower_pad(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  int r = rank(L, n->in[0]);
  if (!is_f32(L, n->in[0]) || r < 1 || r > XNN_MAX_TENSOR_DIMS || n->n_out != 1) return 0;
  if (strcmp(cl_attr_str(n, "mode", "constant"), "constant") != 0) return 0;
  int64_t pads[2 * XNN_MAX_TENSOR_DIMS];
  float value = 0.0f;
  if (L->g->opset < 11) {
    const int64_t *p;
    if (cl_attr_ints(n, "pads", &p) != 2 * r) return 0;
    memcpy(pads, p, sizeof(int64_t) * (size_t)(2 * r));
    value = cl_attr_float(n, "value", 0.0f);
  } else {
    const cl_tensor *p = konst(L, n->n_in > 1 ? n->in[1] : -1);
    if (!p || cl_tensor_numel(p) != 2 * r || (n->n_in > 3 && n->in[3] >= 0)) return 0;
    for (int i = 0; i < 2 * r; i++)
      pads[i] = cl_tensor_get_i64(p, i);
    if (n->n_in > 2 && n->in[2] >= 0 && !scalar_const(L, n->in[2], &value)) return 0;
  }
  for (int i = 0; i < 2 * r; i++)
    if (pads[i] < 0 || pads[i] > CL_MAX_DIM_VALUE) return 0;
  int layout = follow_layout(L, n);
  int rc = simple_step(L, n, XS_PAD, layout, 1);
  if (rc) return rc;
  xstep *st = &L->e->s[L->e->n_s - 1];
  static const int from_nhwc[4] = {0, 2, 3, 1}; /* physical axis i is ONNX axis from_nhwc[i] */
  for (int i = 0; i < r; i++) {
    int a = layout == XL_NHWC ? from_nhwc[i] : i;
    st->pre[i] = (size_t)pads[a];
    st->post[i] = (size_t)pads[r + a];
  }
  st->alpha = value;
  *ok = true;
  return 0;
}

/* PRelu with a scalar slope is LeakyRelu; with one slope per channel, XNNPACK's PReLU over the innermost axis
 * (channels of a rank-4 value in NHWC, or the last axis). */
static int lower_prelu(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  int r = rank(L, n->in[0]);
  float k;
  if (!is_f32(L, n->in[0]) || r < 1 || n->n_out != 1) return 0;
  if (scalar_const(L, n->in[1], &k)) {
    int rc = simple_step(L, n, XS_UNARY, follow_layout(L, n), 1);
    if (rc) return rc;
    L->e->s[L->e->n_s - 1].op_code = XU_LEAKY;
    L->e->s[L->e->n_s - 1].alpha = k;
    *ok = true;
    return 0;
  }
  const cl_tensor *t = konst(L, n->in[1]);
  int ch = r == 4 ? 1 : r - 1;
  if (!t || r < 2 || !channel_const(L, n->in[1], r, ch, cl_tensor_numel(t), NULL)) return 0;
  int64_t C = cl_tensor_numel(t);
  float *slope = cl_malloc(L->e->ctx, sizeof(float) * (size_t)C);
  if (!slope) return cl_err(L->e->ctx, CLEAVE_ENOMEM, "out of memory");
  channel_const(L, n->in[1], r, ch, C, slope);
  int rc = simple_step(L, n, XS_PRELU, r == 4 ? XL_NHWC : XL_ONNX, 1);
  if (rc) {
    cl_free(L->e->ctx, slope);
    return rc;
  }
  xstep *st = &L->e->s[L->e->n_s - 1];
  st->w = slope;
  st->goc = (size_t)C;
  *ok = true;
  return 0;
}

static int lower_softmax(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  int r = rank(L, n->in[0]);
  if (!is_f32(L, n->in[0]) || r < 1) return 0;
  int64_t axis = cl_attr_int(n, "axis", L->g->opset >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return 0;
  /* before opset 13 Softmax flattens from axis on; since then it is over one axis, which must be the last */
  if (L->g->opset >= 13 && axis != r - 1) return 0;
  int rc = simple_step(L, n, XS_SOFTMAX, XL_ONNX, 1);
  if (rc) return rc;
  L->e->s[L->e->n_s - 1].axis = (int)axis;
  *ok = true;
  return 0;
}

static int lower_concat(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  int r = rank(L, n->out[0]);
  if (r < 1 || n->n_in < 1 || n->n_in > XS_MAX_IN || n->n_out != 1) return 0;
  int64_t axis = cl_attr_int(n, "axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return 0;
  int layout = follow_layout(L, n);
  int rc = simple_step(L, n, XS_CONCAT, layout, n->n_in);
  if (rc) return rc;
  static const int to_nhwc[4] = {0, 3, 1, 2};
  L->e->s[L->e->n_s - 1].axis = layout == XL_NHWC ? to_nhwc[axis] : (int)axis;
  *ok = true;
  return 0;
}

static int lower_matmul(lctx *L, const cl_node *n, bool *ok) {
  *ok = false;
  if (!is_f32(L, n->in[0]) || !is_f32(L, n->in[1]) || rank(L, n->in[0]) < 2 || rank(L, n->in[1]) < 2) return 0;
  int rc = simple_step(L, n, XS_MATMUL, XL_ONNX, 2);
  if (!rc) *ok = true;
  return rc;
}

static int lower_alias(lctx *L, const cl_node *n, bool *ok) {
  static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", NULL};
  *ok = false;
  bool hit = false;
  for (int i = 0; ops[i]; i++)
    hit |= op_is(n, ops[i]);
  if (!hit || n->n_out < 1 || n->out[0] < 0) return 0;
  if (op_is(n, "Dropout") && (n->n_out > 1 && n->out[1] >= 0)) return 0;
  int in = xl_value(L->e, n->in[0], XL_ONNX);
  if (in < 0) return in;
  xstep *st = new_step(L->e, XS_ALIAS, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  st->in[st->n_in++] = in;
  L->done[st->node] = true;
  *ok = true;
  return step_out(L->e, st, n->out[0], XL_ONNX) < 0 ? CLEAVE_ENOMEM : 0;
}

static int lower_ref(lctx *L, const cl_node *n) {
  xexe *e = L->e;
  int layout = is_agnostic(n) ? follow_layout(L, n) : XL_ONNX;
  int ins[XS_MAX_IN];
  if (n->n_in > XS_MAX_IN || n->n_out > 4)
    return cl_node_err(e->ctx, n, CLEAVE_EUNSUPPORTED, "the cpu device runs nodes of at most 64 inputs, 4 outputs");
  for (int j = 0; j < n->n_in; j++) {
    ins[j] = n->in[j] >= 0 ? xl_value(e, n->in[j], layout) : -1;
    if (n->in[j] >= 0 && ins[j] < 0) return ins[j];
  }
  xstep *st = new_step(e, XS_REF, (int)(n - L->g->nodes));
  if (!st) return CLEAVE_ENOMEM;
  st->ref = n;
  st->n_in = n->n_in;
  for (int j = 0; j < st->n_in; j++)
    st->in[j] = ins[j];
  L->done[st->node] = true;
  /* an omitted output still gets scratch memory: the kernel writes every output */
  for (int j = 0; j < n->n_out; j++)
    if (step_out(e, &e->s[e->n_s - 1], n->out[j], n->out[j] < 0 ? XL_ONNX : layout) < 0) return CLEAVE_ENOMEM;
  return 0;
}

typedef int (*lower_fn)(lctx *L, const cl_node *n, bool *ok);

int xl_lower(xexe *e, const cl_segment *seg) {
  cleave_ctx *ctx = e->ctx;
  const cl_graph *g = seg->graph;
  lctx L = {.e = e, .g = g};
  int rc = 0;
  L.uses = cl_calloc(ctx, (size_t)g->n_values + 1, sizeof(int));
  L.in_seg = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(bool));
  L.done = cl_calloc(ctx, (size_t)g->n_nodes + 1, sizeof(bool));
  if (!L.uses || !L.in_seg || !L.done) {
    rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory lowering the segment");
    goto out;
  }
  for (int k = 0; k < seg->n_nodes; k++) {
    const cl_node *n = &g->nodes[seg->nodes[k]];
    L.in_seg[seg->nodes[k]] = true;
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) L.uses[n->in[j]]++;
  }
  for (int i = 0; i < seg->n_outputs; i++)
    L.uses[seg->outputs[i]]++;
  for (int i = 0; i < seg->n_inputs; i++) {
    int v = new_value(e, seg->inputs[i], XL_ONNX);
    if (v < 0) {
      rc = CLEAVE_ENOMEM;
      goto out;
    }
    e->v[v].input = i;
  }
  static const struct {
    const char *op;
    lower_fn fn;
  } table[] = {
      {"Conv", lower_conv},        {"ConvTranspose", lower_deconv},
      {"Gemm", lower_fc},          {"MatMul", lower_fc},
      {"MatMul", lower_matmul},    {"Add", lower_chain},
      {"Mul", lower_chain},        {"Sub", lower_chain},
      {"Div", lower_chain},        {"Relu", lower_chain},
      {"Clip", lower_chain},       {"HardSigmoid", lower_chain},
      {"HardSwish", lower_chain},  {"Add", lower_binary},
      {"Sub", lower_binary},       {"Mul", lower_binary},
      {"Div", lower_binary},       {"Max", lower_binary},
      {"Min", lower_binary},       {"Sigmoid", lower_unary},
      {"LeakyRelu", lower_unary},  {"Elu", lower_unary},
      {"Abs", lower_unary},        {"Neg", lower_unary},
      {"Floor", lower_unary},      {"Ceil", lower_unary},
      {"Round", lower_unary},      {"Sqrt", lower_unary},
      {"Pow", lower_unary},        {"MaxPool", lower_pool},
      {"AveragePool", lower_pool}, {"GlobalAveragePool", lower_pool},
      {"Resize", lower_resize},    {"Upsample", lower_resize},
      {"Softmax", lower_softmax},  {"Pad", lower_pad},
      {"PRelu", lower_prelu},      {"Concat", lower_concat},
      {"Reshape", lower_alias},    {"Flatten", lower_alias},
      {"Squeeze", lower_alias},    {"Unsqueeze", lower_alias},
      {"Identity", lower_alias},   {"Dropout", lower_alias},
  };
  for (int k = 0; k < seg->n_nodes && !rc; k++) {
    int id = seg->nodes[k];
    const cl_node *n = &g->nodes[id];
    if (L.done[id]) continue;
    bool ok = false;
    for (size_t t = 0; t < sizeof table / sizeof table[0] && !ok && !rc; t++)
      if (op_is(n, table[t].op)) rc = table[t].fn(&L, n, &ok);
    if (!ok && !rc) rc = lower_ref(&L, n);
  }
  for (int i = 0; i < seg->n_outputs && !rc; i++) {
    int v = xl_value(e, seg->outputs[i], XL_ONNX);
    if (v < 0)
      rc = v;
    else
      e->out_v[i] = v;
  }
out:
  cl_free(ctx, L.uses);
  cl_free(ctx, L.in_seg);
  cl_free(ctx, L.done);
  return rc;
}
