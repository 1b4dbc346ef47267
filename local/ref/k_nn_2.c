/* local/ref: reference kernels of the pools, the normalisations and Resize / Upsample. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ir/ops_nn.h"
#include "local/ref/k_nn.h"

/* ---- windowed pools ---- */

enum { POOL_AVG, POOL_MAX, POOL_LP };

typedef struct pool3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
} pool3;

int cl_nn_check_pool(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  int r = g->values[n->in[0]].shape.ndim;
  if (r > 5) {
    snprintf(why, why_len, "%s with %d spatial dims is not implemented (at most 3)", n->op, r - 2);
    return 0;
  }
  return 1;
}

static double lp_norm_p(const cl_node *n) {
  const cl_attr *a = cl_node_attr(n, "p");
  if (!a) return 2.0;
  return a->type == CL_ATTR_FLOAT ? (double)a->f : (double)a->i;
}

static int run_pool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, cl_tensor *const *out, int n_out,
                    int kind) {
  const cl_tensor *x = in[0];
  int nsp = x->ndim - 2, rc;
  if (nsp < 1 || nsp > 3) return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%d spatial dims", nsp);
  const int64_t *ks;
  cl_attr_ints(n, "kernel_shape", &ks);
  cl_nn_geom gg;
  if ((rc = cl_nn_geom_init(k->ctx, n, nsp, x->dims + 2, ks, cl_attr_int(n, "ceil_mode", 0) != 0, &gg))) return rc;
  pool3 g;
  int off = 3 - nsp;
  for (int i = 0; i < 3; i++) {
    int j = i - off;
    g.in[i] = j >= 0 ? gg.in[j] : 1;
    g.out[i] = j >= 0 ? gg.out[j] : 1;
    g.k[i] = j >= 0 ? gg.k[j] : 1;
    g.s[i] = j >= 0 ? gg.s[j] : 1;
    g.d[i] = j >= 0 ? gg.d[j] : 1;
    g.pb[i] = j >= 0 ? gg.pb[j] : 0;
    g.pe[i] = j >= 0 ? gg.pe[j] : 0;
  }
  bool include_pad = cl_attr_int(n, "count_include_pad", 0) != 0;
  bool col_major = cl_attr_int(n, "storage_order", 0) != 0;
  double p = kind == POOL_LP ? lp_norm_p(n) : 2.0;
  const int64_t planes = x->dims[0] * x->dims[1], ip = g.in[0] * g.in[1] * g.in[2];
  const int64_t op = g.out[0] * g.out[1] * g.out[2];
  const float *xd = x->data;
  float *yd = out[0]->data;
  int64_t *id = n_out > 1 && out[1] ? out[1]->data : NULL;
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = xd + pl * ip;
    int64_t o = pl * op;
    for (int64_t oz = 0; oz < g.out[0]; oz++)
      for (int64_t oy = 0; oy < g.out[1]; oy++)
        for (int64_t ox = 0; ox < g.out[2]; ox++, o++) {
          int64_t st[3] = {oz * g.s[0] - g.pb[0], oy * g.s[1] - g.pb[1], ox * g.s[2] - g.pb[2]};
          int64_t lo[3], hi[3], padded = 1;
          for (int i = 0; i < 3; i++) {
            /* taps inside the input, and (for count_include_pad) inside the padded input */
            int64_t l = 0, h = g.k[i], pl_ = 0, ph = g.k[i];
            while (l < h && st[i] + l * g.d[i] < 0) l++;
            while (h > l && st[i] + (h - 1) * g.d[i] >= g.in[i]) h--;
            while (pl_ < ph && st[i] + pl_ * g.d[i] < -g.pb[i]) pl_++;
            while (ph > pl_ && st[i] + (ph - 1) * g.d[i] >= g.in[i] + g.pe[i]) ph--;
            lo[i] = l;
            hi[i] = h;
            padded *= ph - pl_;
          }
          double acc = 0.0;
          float mx = -FLT_MAX;
          int64_t arg = -1, cnt = 0;
          for (int64_t a = lo[0]; a < hi[0]; a++) {
            int64_t iz = st[0] + a * g.d[0];
            for (int64_t b = lo[1]; b < hi[1]; b++) {
              int64_t iy = st[1] + b * g.d[1];
              const float *row = xp + (iz * g.in[1] + iy) * g.in[2];
              for (int64_t c = lo[2]; c < hi[2]; c++) {
                int64_t ix = st[2] + c * g.d[2];
                float v = row[ix];
                cnt++;
                if (kind == POOL_MAX) {
                  if (v > mx || arg < 0) {
                    if (v > mx) mx = v;
                    if (id)
                      arg = col_major ? (ix * g.in[1] + iy) * g.in[0] + iz : (iz * g.in[1] + iy) * g.in[2] + ix;
                    else
                      arg = 0;
                  }
                } else if (kind == POOL_AVG) {
                  acc += v;
                } else {
                  acc += p == 2.0 ? (double)v * v : pow(fabs((double)v), p);
                }
              }
            }
          }
          if (kind == POOL_MAX) {
            yd[o] = mx;
            if (id) id[o] = arg >= 0 ? pl * ip + arg : -1;
          } else if (kind == POOL_AVG) {
            int64_t div = include_pad ? padded : cnt;
            yd[o] = div > 0 ? (float)(acc / (double)div) : 0.0f;
          } else {
            yd[o] = (float)(p == 2.0 ? sqrt(acc) : pow(acc, 1.0 / p));
          }
        }
  }
  return 0;
}

int cl_nn_run_avgpool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                      int n_out) {
  return run_pool(k, n, in, out, n_out, POOL_AVG);
}

int cl_nn_run_maxpool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                      int n_out) {
  return run_pool(k, n, in, out, n_out, POOL_MAX);
}

int cl_nn_run_lppool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                     int n_out) {
  return run_pool(k, n, in, out, n_out, POOL_LP);
}

int cl_nn_run_global_pool(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                          cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0];
  int64_t planes = x->dims[0] * x->dims[1], sp = 1;
  for (int i = 2; i < x->ndim; i++) sp *= x->dims[i];
  const float *xd = x->data;
  float *yd = out[0]->data;
  int kind = strcmp(n->op, "GlobalMaxPool") == 0 ? POOL_MAX : strcmp(n->op, "GlobalLpPool") == 0 ? POOL_LP : POOL_AVG;
  double p = kind == POOL_LP ? lp_norm_p(n) : 2.0;
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = xd + pl * sp;
    if (kind == POOL_MAX) {
      float m = sp > 0 ? xp[0] : -FLT_MAX;
      for (int64_t i = 1; i < sp; i++)
        if (xp[i] > m) m = xp[i];
      yd[pl] = m;
    } else if (kind == POOL_AVG) {
      double s = 0.0;
      for (int64_t i = 0; i < sp; i++) s += xp[i];
      yd[pl] = sp > 0 ? (float)(s / (double)sp) : 0.0f;
    } else {
      double s = 0.0;
      for (int64_t i = 0; i < sp; i++) s += p == 2.0 ? (double)xp[i] * xp[i] : pow(fabs((double)xp[i]), p);
      yd[pl] = (float)(p == 2.0 ? sqrt(s) : pow(s, 1.0 / p));
    }
  }
  return 0;
}

/* ---- normalisations ---- */

int cl_nn_check_batchnorm(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  if (cl_attr_int(n, "training_mode", 0) != 0) {
    snprintf(why, why_len, "BatchNormalization with training_mode=1 is not implemented");
    return 0;
  }
  int outs = 0;
  for (int i = 0; i < n->n_out; i++) outs += n->out[i] >= 0;
  if (outs > 1) {
    snprintf(why, why_len, "BatchNormalization with training outputs (mean, var) is not implemented");
    return 0;
  }
  for (int i = 1; i < n->n_in && i < 5; i++)
    if (n->in[i] >= 0 && g->values[n->in[i]].dtype != CLEAVE_DTYPE_FLOAT32) {
      snprintf(why, why_len, "BatchNormalization input %d has dtype %s", i,
               cleave_dtype_name(g->values[n->in[i]].dtype));
      return 0;
    }
  return 1;
}

int cl_nn_run_batchnorm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                        cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0];
  if (cl_attr_int(n, "training_mode", 0) != 0)
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "training_mode=1 is not implemented");
  for (int i = 1; i < 5; i++)
    if (in[i]->dtype != CLEAVE_DTYPE_FLOAT32)
      return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "input %d has dtype %s", i, cleave_dtype_name(in[i]->dtype));
  double eps = cl_attr_float(n, "epsilon", 1e-5f);
  int64_t nb = x->ndim >= 1 ? x->dims[0] : 1, c = x->ndim >= 2 ? x->dims[1] : 1, sp = 1;
  for (int i = 2; i < x->ndim; i++) sp *= x->dims[i];
  /* Per-channel statistics, or (spatial = 0, opset < 9) one per channel and position. */
  int64_t per = cl_tensor_numel(in[1]), inner = per == c ? sp : 1, groups = per;
  const float *sc = in[1]->data, *bi = in[2]->data, *mean = in[3]->data, *var = in[4]->data, *xd = x->data;
  float *yd = out[0]->data;
  for (int64_t i = 0; i < nb; i++)
    for (int64_t s = 0; s < groups; s++) {
      float a = (float)((double)sc[s] / sqrt((double)var[s] + eps));
      float b = (float)((double)bi[s] - (double)mean[s] * a);
      const float *xp = xd + (i * groups + s) * inner;
      float *yp = yd + (i * groups + s) * inner;
      for (int64_t t = 0; t < inner; t++) yp[t] = xp[t] * a + b;
    }
  return 0;
}

int cl_nn_run_instancenorm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                           cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0];
  double eps = cl_attr_float(n, "epsilon", 1e-5f);
  int64_t nb = x->dims[0], c = x->dims[1], sp = 1;
  for (int i = 2; i < x->ndim; i++) sp *= x->dims[i];
  const float *sc = in[1]->data, *bi = in[2]->data, *xd = x->data;
  float *yd = out[0]->data;
  for (int64_t i = 0; i < nb * c; i++) {
    const float *xp = xd + i * sp;
    float *yp = yd + i * sp;
    double sum = 0.0, sq = 0.0;
    for (int64_t t = 0; t < sp; t++) sum += xp[t];
    double mean = sp > 0 ? sum / (double)sp : 0.0;
    for (int64_t t = 0; t < sp; t++) sq += ((double)xp[t] - mean) * ((double)xp[t] - mean);
    double var = sp > 0 ? sq / (double)sp : 0.0, a = (double)sc[i % c] / sqrt(var + eps);
    for (int64_t t = 0; t < sp; t++) yp[t] = (float)(((double)xp[t] - mean) * a + bi[i % c]);
  }
  return 0;
}

int cl_nn_run_lrn(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                  int n_out) {
  const cl_tensor *x = in[0];
  double alpha = cl_attr_float(n, "alpha", 1e-4f), beta = cl_attr_float(n, "beta", 0.75f);
  double bias = cl_attr_float(n, "bias", 1.0f);
  int64_t size = cl_attr_int(n, "size", 1), nb = x->dims[0], c = x->dims[1], sp = 1;
  for (int i = 2; i < x->ndim; i++) sp *= x->dims[i];
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  const float *xd = x->data;
  float *yd = out[0]->data;
  double *sq = cl_malloc(k->ctx, sizeof(double) * (size_t)(sp > 0 ? sp : 1));
  if (!sq) return cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory");
  for (int64_t i = 0; i < nb; i++)
    for (int64_t ch = 0; ch < c; ch++) {
      memset(sq, 0, sizeof(double) * (size_t)sp);
      int64_t lo = ch - before < 0 ? 0 : ch - before, hi = ch + after >= c ? c - 1 : ch + after;
      for (int64_t j = lo; j <= hi; j++) {
        const float *xp = xd + (i * c + j) * sp;
        for (int64_t t = 0; t < sp; t++) sq[t] += (double)xp[t] * xp[t];
      }
      const float *xp = xd + (i * c + ch) * sp;
      float *yp = yd + (i * c + ch) * sp;
      for (int64_t t = 0; t < sp; t++) yp[t] = (float)(xp[t] / pow(bias + alpha / (double)size * sq[t], beta));
    }
  cl_free(k->ctx, sq);
  return 0;
}

/* ---- Resize / Upsample ----
 * Separable per-axis tables: for each axis and output coordinate, up to four taps (input index, weight), or a flag
 * that the coordinate falls outside the crop box (tf_crop_and_resize). An output element is the sum over the
 * product of its axes' taps. */

enum { MAX_TAPS = 4 };

int cl_nn_check_resize(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  const char *mode = cl_attr_str(n, "mode", "nearest");
  if (cl_attr_int(n, "antialias", 0) != 0 && strcmp(mode, "nearest") != 0) {
    snprintf(why, why_len, "%s with antialias=1 is not implemented", n->op);
    return 0;
  }
  return 1;
}

static float cubic_weight(float r, int tap, float a) {
  /* tap 0..3 is the input at floor(x) - 1 + tap; r = x - floor(x). */
  float t;
  switch (tap) {
  case 0: t = r + 1.0f; return ((a * t - 5.0f * a) * t + 8.0f * a) * t - 4.0f * a;
  case 1: t = r; return ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  case 2: t = 1.0f - r; return ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  default: t = 2.0f - r; return ((a * t - 5.0f * a) * t + 8.0f * a) * t - 4.0f * a;
  }
}

typedef struct axis_taps {
  int ntaps;
  int64_t *idx; /* out x ntaps, input element offsets (index * stride) */
  float *w;     /* out x ntaps */
  bool *oob;    /* out: outside the crop box */
} axis_taps;

static float original_coord(const cl_nn_resize *p, int a, int64_t o, int64_t in_len) {
  float s = p->scale[a], xo = (float)o;
  double out_len = p->out_len[a];
  switch (p->coord) {
  case CL_RS_HALF_PIXEL: return (xo + 0.5f) / s - 0.5f;
  case CL_RS_PYTORCH_HALF_PIXEL: return p->out[a] > 1 ? (xo + 0.5f) / s - 0.5f : 0.0f;
  case CL_RS_ALIGN_CORNERS:
    return out_len == 1.0 ? 0.0f : (float)((double)o * (double)(in_len - 1) / (out_len - 1.0));
  case CL_RS_TF_HALF_PIXEL_FOR_NN: return (xo + 0.5f) / s;
  case CL_RS_TF_CROP_AND_RESIZE: {
    double st = p->roi_start[a], en = p->roi_end[a], l = (double)(in_len - 1);
    if (out_len > 1.0) return (float)(st * l + (double)o * (en - st) * l / (out_len - 1.0));
    return (float)(0.5 * (st + en) * l);
  }
  case CL_RS_HALF_PIXEL_SYMMETRIC: {
    float adj = (float)p->out[a] / (s * (float)in_len), center = (float)in_len / 2.0f;
    return center * (1.0f - adj) + (xo + 0.5f) / s - 0.5f;
  }
  default: return xo / s; /* asymmetric */
  }
}

static int64_t nearest_index(const cl_nn_resize *p, int a, float xo) {
  float f = floorf(xo);
  switch (p->nearest) {
  case CL_RS_ROUND_PREFER_FLOOR: return (int64_t)(xo == f + 0.5f ? f : roundf(xo));
  case CL_RS_ROUND_PREFER_CEIL: return (int64_t)(xo == f + 0.5f ? f + 1.0f : roundf(xo));
  case CL_RS_FLOOR: return (int64_t)f;
  case CL_RS_CEIL: return (int64_t)ceilf(xo);
  default: return p->scale[a] < 1.0f ? (int64_t)ceilf(xo) : (int64_t)xo; /* ONNX Runtime's pre-11 rule */
  }
}

/* ONNX Runtime copies an axis of scale 1 as it is; the formula alone would shift it by one under
 * tf_half_pixel_for_nn with a ceiling rule. */
static bool unscaled(const cl_nn_resize *p, int a, int64_t in_len) {
  return p->scale[a] == 1.0f && p->out[a] == in_len && p->coord != CL_RS_TF_CROP_AND_RESIZE;
}

int64_t cl_nn_resize_nearest(const cl_nn_resize *p, int a, int64_t o, int64_t in_len) {
  if (unscaled(p, a, in_len)) return o;
  float xo = fminf(fmaxf(original_coord(p, a, o, in_len), -2.0f), (float)in_len + 2.0f);
  int64_t i = nearest_index(p, a, xo);
  return i < 0 ? 0 : i >= in_len ? in_len - 1 : i;
}

static void build_taps(const cl_nn_resize *p, int a, int64_t in_len, int64_t out_len, int64_t stride, axis_taps *t) {
  int nt = p->mode == CL_RS_NEAREST ? 1 : p->mode == CL_RS_LINEAR ? 2 : 4;
  t->ntaps = nt;
  for (int64_t o = 0; o < out_len; o++) {
    float xo = original_coord(p, a, o, in_len);
    int64_t *ix = t->idx + o * nt;
    float *w = t->w + o * nt;
    t->oob[o] = p->coord == CL_RS_TF_CROP_AND_RESIZE && (xo < 0.0f || xo > (float)(in_len - 1));
    /* Far outside the input every tap clamps to the edge anyway; bounding xo keeps the integer casts defined. */
    xo = fminf(fmaxf(xo, -2.0f), (float)in_len + 2.0f);
    if (nt == 1) {
      int64_t i = unscaled(p, a, in_len) ? o : nearest_index(p, a, xo);
      ix[0] = (i < 0 ? 0 : i >= in_len ? in_len - 1 : i) * stride;
      w[0] = 1.0f;
      continue;
    }
    float f = floorf(xo), r = xo - f;
    int64_t base = (int64_t)f - (nt == 4 ? 1 : 0);
    float sum = 0.0f;
    for (int j = 0; j < nt; j++) {
      int64_t i = base + j;
      w[j] = nt == 2 ? (j == 0 ? 1.0f - r : r) : cubic_weight(r, j, p->cubic_a);
      if (p->exclude_outside && (i < 0 || i >= in_len)) w[j] = 0.0f;
      sum += w[j];
      ix[j] = (i < 0 ? 0 : i >= in_len ? in_len - 1 : i) * stride;
    }
    if (p->exclude_outside && sum != 0.0f)
      for (int j = 0; j < nt; j++) w[j] /= sum;
  }
  /* An axis whose every output takes one input with weight 1 (e.g. an unscaled axis) needs a single tap. */
  if (nt > 1) {
    bool single = true;
    for (int64_t o = 0; o < out_len && single; o++) {
      int ones = 0, zeros = 0;
      for (int j = 0; j < nt; j++) {
        ones += t->w[o * nt + j] == 1.0f;
        zeros += t->w[o * nt + j] == 0.0f;
      }
      single = ones == 1 && zeros == nt - 1;
    }
    if (single) {
      for (int64_t o = 0; o < out_len; o++) {
        int j = 0;
        while (t->w[o * nt + j] != 1.0f) j++;
        t->idx[o] = t->idx[o * nt + j];
        t->w[o] = 1.0f;
      }
      t->ntaps = 1;
    }
  }
}

int cl_nn_run_resize(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                     int n_out) {
  const cl_tensor *x = in[0];
  cl_tensor *y = out[0];
  cl_ival iv[4];
  for (int i = 0; i < n_in && i < 4; i++) {
    iv[i].present = in[i] != NULL;
    iv[i].value = in[i];
    iv[i].dtype = in[i] ? in[i]->dtype : 0;
    if (in[i])
      cl_shape_from_tensor(&iv[i].shape, in[i]);
    else
      iv[i].shape.ndim = -1;
  }
  cl_nn_resize p;
  int rc = cl_nn_resize_params(k->ctx, k->opset, n, iv, n_in < 4 ? n_in : 4, &p);
  if (rc) return rc;
  if (p.antialias && p.mode != CL_RS_NEAREST)
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "antialias=1 is not implemented");
  int rank = x->ndim;
  int64_t ynum = cl_tensor_numel(y);
  if (ynum == 0) return 0;
  if (rank == 0) {
    ((float *)y->data)[0] = ((const float *)x->data)[0];
    return 0;
  }
  if (cl_tensor_numel(x) == 0) return cl_node_err(k->ctx, n, CLEAVE_ESHAPE, "cannot resize an empty tensor");
  int64_t xs[CL_MAX_DIMS], tot = 0;
  xs[rank - 1] = 1;
  for (int i = rank - 2; i >= 0; i--) xs[i] = xs[i + 1] * x->dims[i + 1];
  for (int i = 0; i < rank; i++) tot += y->dims[i];
  axis_taps t[CL_MAX_DIMS];
  int64_t *idx = cl_malloc(k->ctx, sizeof(int64_t) * MAX_TAPS * (size_t)tot);
  float *w = cl_malloc(k->ctx, sizeof(float) * MAX_TAPS * (size_t)tot);
  bool *oob = cl_malloc(k->ctx, sizeof(bool) * (size_t)tot);
  int64_t *coff = NULL;
  float *cw = NULL;
  rc = 0;
  if (!idx || !w || !oob) goto nomem;
  int64_t at = 0, combos = 1;
  for (int a = 0; a < rank; a++) {
    t[a].idx = idx + MAX_TAPS * at;
    t[a].w = w + MAX_TAPS * at;
    t[a].oob = oob + at;
    build_taps(&p, a, x->dims[a], y->dims[a], xs[a], &t[a]);
    at += y->dims[a];
    if (a < rank - 1) combos *= t[a].ntaps;
  }
  /* Per outer position: every combination of the outer axes' taps as (offset, weight). */
  coff = cl_malloc(k->ctx, sizeof(int64_t) * (size_t)combos);
  cw = cl_malloc(k->ctx, sizeof(float) * (size_t)combos);
  if (!coff || !cw) goto nomem;
  const float *xd = x->data;
  float *yd = y->data;
  const axis_taps *last = &t[rank - 1];
  const int64_t olast = y->dims[rank - 1], nl = last->ntaps, rows = ynum / olast;
  int64_t pos[CL_MAX_DIMS] = {0};
  for (int64_t r = 0; r < rows; r++) {
    float *yr = yd + r * olast;
    bool outside = false;
    int64_t nc = 1;
    coff[0] = 0;
    cw[0] = 1.0f;
    for (int a = 0; a < rank - 1; a++) {
      const axis_taps *ta = &t[a];
      if (ta->oob[pos[a]]) outside = true;
      int64_t nt = ta->ntaps;
      /* expand in place from the back so that entries are read before they are overwritten */
      for (int64_t c = nc - 1; c >= 0; c--)
        for (int64_t j = nt - 1; j >= 0; j--) {
          coff[c * nt + j] = coff[c] + ta->idx[pos[a] * nt + j];
          cw[c * nt + j] = cw[c] * ta->w[pos[a] * nt + j];
        }
      nc *= nt;
    }
    if (outside) {
      for (int64_t o = 0; o < olast; o++) yr[o] = p.extrapolation;
    } else if (nc == 1 && nl == 1) {
      const float *xr = xd + coff[0];
      for (int64_t o = 0; o < olast; o++) yr[o] = last->oob[o] ? p.extrapolation : xr[last->idx[o]];
    } else {
      for (int64_t o = 0; o < olast; o++) {
        if (last->oob[o]) {
          yr[o] = p.extrapolation;
          continue;
        }
        const int64_t *li = last->idx + o * nl;
        const float *lw = last->w + o * nl;
        float acc = 0.0f;
        for (int64_t c = 0; c < nc; c++) {
          const float *xr = xd + coff[c];
          float s = 0.0f;
          for (int64_t j = 0; j < nl; j++) s += lw[j] * xr[li[j]];
          acc += cw[c] * s;
        }
        yr[o] = acc;
      }
    }
    for (int a = rank - 2; a >= 0; a--) {
      if (++pos[a] < y->dims[a]) break;
      pos[a] = 0;
    }
  }
  goto done;
nomem:
  rc = cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for resize tables");
done:
  cl_free(k->ctx, idx);
  cl_free(k->ctx, w);
  cl_free(k->ctx, oob);
  cl_free(k->ctx, coff);
  cl_free(k->ctx, cw);
  return rc;
}
