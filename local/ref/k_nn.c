/* local/ref: reference kernels of the nn operators built on a matrix product: Conv, ConvTranspose, MatMul, Gemm.
 * The pools, normalisations and Resize are in k_nn_2.c. */
#include "local/ref/k_nn.h"

#include <stdio.h>
#include <string.h>

#include "core/ir/ops_nn.h"

/* ---- C += A * B, float32 ----
 * A small GotoBLAS-style product: panels of B (KC x NC) and A (MC x KC) are packed into strips the micro-kernel
 * reads sequentially, and a 4 x 8 block of C stays in registers over the whole KC loop. Fixed-size inner loops
 * let the compiler vectorise them at -O2. A(i,k) is a[i*ars + k*acs] and B(k,j) is b[k*brs + j*bcs], so
 * transposed operands need no copy of their own. */
enum { MR = 4, NR = 8, KC = 256, NC = 512, MC = 64 };

typedef struct gemm_buf {
  float *pa, *pb;
} gemm_buf;

static int gemm_buf_init(cleave_ctx *ctx, gemm_buf *gb) {
  gb->pa = cl_aligned_alloc(ctx, 64, sizeof(float) * MC * KC);
  gb->pb = cl_aligned_alloc(ctx, 64, sizeof(float) * KC * NC);
  if (gb->pa && gb->pb) return 0;
  cl_aligned_free(ctx, gb->pa);
  cl_aligned_free(ctx, gb->pb);
  gb->pa = gb->pb = NULL;
  return cl_err(ctx, CLEAVE_ENOMEM, "out of memory for matrix product buffers");
}

static void gemm_buf_free(cleave_ctx *ctx, gemm_buf *gb) {
  cl_aligned_free(ctx, gb->pa);
  cl_aligned_free(ctx, gb->pb);
}

static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
                         int64_t ldc, int mr, int nr) {
  float acc[MR][NR];
  memset(acc, 0, sizeof acc);
  for (int64_t k = 0; k < kc; k++)
    for (int r = 0; r < MR; r++)
      for (int t = 0; t < NR; t++) acc[r][t] += ap[k * MR + r] * bp[k * NR + t];
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; r++)
      for (int t = 0; t < NR; t++) c[r * ldc + t] += acc[r][t];
  } else {
    for (int r = 0; r < mr; r++)
      for (int t = 0; t < nr; t++) c[r * ldc + t] += acc[r][t];
  }
}

static void pack_b(const float *b, int64_t brs, int64_t bcs, int64_t kc, int64_t nc, float *restrict dst) {
  for (int64_t js = 0; js < nc; js += NR) {
    float *d = dst + js * kc;
    int nr = nc - js < NR ? (int)(nc - js) : NR;
    for (int64_t k = 0; k < kc; k++) {
      const float *s = b + k * brs + js * bcs;
      float *dk = d + k * NR;
      int t = 0;
      if (bcs == 1 && nr == NR) {
        for (; t < NR; t++) dk[t] = s[t];
      } else {
        for (; t < nr; t++) dk[t] = s[t * bcs];
        for (; t < NR; t++) dk[t] = 0.0f;
      }
    }
  }
}

static void pack_a(const float *a, int64_t ars, int64_t acs, int64_t mc, int64_t kc, float *restrict dst) {
  for (int64_t is = 0; is < mc; is += MR) {
    float *d = dst + is * kc;
    int mr = mc - is < MR ? (int)(mc - is) : MR;
    for (int64_t k = 0; k < kc; k++) {
      int r = 0;
      for (; r < mr; r++) d[k * MR + r] = a[(is + r) * ars + k * acs];
      for (; r < MR; r++) d[k * MR + r] = 0.0f;
    }
  }
}

static void gemm_f32(const gemm_buf *gb, int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
                     const float *b, int64_t brs, int64_t bcs, float *c, int64_t ldc) {
  for (int64_t j0 = 0; j0 < n; j0 += NC) {
    int64_t nc = n - j0 < NC ? n - j0 : NC;
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
      int64_t kc = k - k0 < KC ? k - k0 : KC;
      pack_b(b + k0 * brs + j0 * bcs, brs, bcs, kc, nc, gb->pb);
      for (int64_t i0 = 0; i0 < m; i0 += MC) {
        int64_t mc = m - i0 < MC ? m - i0 : MC;
        pack_a(a + i0 * ars + k0 * acs, ars, acs, mc, kc, gb->pa);
        for (int64_t js = 0; js < nc; js += NR) {
          int nr = nc - js < NR ? (int)(nc - js) : NR;
          for (int64_t is = 0; is < mc; is += MR) {
            int mr = mc - is < MR ? (int)(mc - is) : MR;
            micro_kernel(kc, gb->pa + is * kc, gb->pb + js * kc, c + (i0 + is) * ldc + j0 + js, ldc, mr, nr);
          }
        }
      }
    }
  }
}

/* y[0..n) += a * x[0..n), in chunks of 8 so that -O2 vectorises it. */
static void axpy(float *restrict y, const float *restrict x, float a, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int t = 0; t < 8; t++) y[i + t] += a * x[i + t];
  for (; i < n; i++) y[i] += a * x[i];
}

/* ---- window geometry padded to three spatial dims ---- */
typedef struct geom3 {
  int64_t in[3], out[3], k[3], s[3], d[3], p[3];
} geom3;

static void to_geom3(const cl_nn_geom *g, geom3 *o) {
  int off = 3 - g->nsp;
  for (int i = 0; i < 3; i++) {
    int j = i - off;
    o->in[i] = j >= 0 ? g->in[j] : 1;
    o->out[i] = j >= 0 ? g->out[j] : 1;
    o->k[i] = j >= 0 ? g->k[j] : 1;
    o->s[i] = j >= 0 ? g->s[j] : 1;
    o->d[i] = j >= 0 ? g->d[j] : 1;
    o->p[i] = j >= 0 ? g->pb[j] : 0;
  }
}

/* The t in [0, n) with 0 <= base + t * step < lim, as [*lo, *hi). */
static void valid_range(int64_t base, int64_t step, int64_t lim, int64_t n, int64_t *lo, int64_t *hi) {
  int64_t l = base >= 0 ? 0 : (-base + step - 1) / step;
  int64_t h = base >= lim ? 0 : (lim - 1 - base) / step + 1;
  if (h > n) h = n;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* Fills col[row][0..nt) for output positions j0.. of one group: row = ((c*KD + kz)*KH + ky)*KW + kx. */
static void im2col_tile(const float *x, const geom3 *g, int64_t cg, int64_t j0, int64_t nt, float *col) {
  const int64_t OH = g->out[1], OW = g->out[2];
  int64_t row = 0;
  for (int64_t c = 0; c < cg; c++)
    for (int64_t kz = 0; kz < g->k[0]; kz++)
      for (int64_t ky = 0; ky < g->k[1]; ky++)
        for (int64_t kx = 0; kx < g->k[2]; kx++, row++) {
          float *dst = col + row * nt;
          int64_t ox = j0 % OW, r = j0 / OW, oy = r % OH, oz = r / OH;
          for (int64_t done = 0; done < nt;) {
            int64_t seg = OW - ox < nt - done ? OW - ox : nt - done;
            int64_t iz = oz * g->s[0] - g->p[0] + kz * g->d[0], iy = oy * g->s[1] - g->p[1] + ky * g->d[1];
            float *o = dst + done;
            if (iz < 0 || iz >= g->in[0] || iy < 0 || iy >= g->in[1]) {
              memset(o, 0, sizeof(float) * (size_t)seg);
            } else {
              const float *src = x + ((c * g->in[0] + iz) * g->in[1] + iy) * g->in[2];
              int64_t ix0 = ox * g->s[2] - g->p[2] + kx * g->d[2], lo, hi;
              valid_range(ix0, g->s[2], g->in[2], seg, &lo, &hi);
              for (int64_t t = 0; t < lo; t++) o[t] = 0.0f;
              if (g->s[2] == 1)
                memcpy(o + lo, src + ix0 + lo, sizeof(float) * (size_t)(hi - lo));
              else
                for (int64_t t = lo; t < hi; t++) o[t] = src[ix0 + t * g->s[2]];
              for (int64_t t = hi; t < seg; t++) o[t] = 0.0f;
            }
            done += seg;
            ox = 0;
            if (++oy == OH) {
              oy = 0;
              oz++;
            }
          }
        }
}

/* One output plane of a convolution whose groups have a single input channel (depthwise): taps accumulate into
 * one output row at a time so the row stays in cache. */
static void conv_depthwise_plane(const float *x, const float *w, const geom3 *g, float *y) {
  const int64_t OW = g->out[2];
  for (int64_t oz = 0; oz < g->out[0]; oz++)
    for (int64_t oy = 0; oy < g->out[1]; oy++) {
      float *yr = y + (oz * g->out[1] + oy) * OW;
      for (int64_t kz = 0; kz < g->k[0]; kz++) {
        int64_t iz = oz * g->s[0] - g->p[0] + kz * g->d[0];
        if (iz < 0 || iz >= g->in[0]) continue;
        for (int64_t ky = 0; ky < g->k[1]; ky++) {
          int64_t iy = oy * g->s[1] - g->p[1] + ky * g->d[1];
          if (iy < 0 || iy >= g->in[1]) continue;
          const float *xr = x + (iz * g->in[1] + iy) * g->in[2];
          const float *wr = w + (kz * g->k[1] + ky) * g->k[2];
          for (int64_t kx = 0; kx < g->k[2]; kx++) {
            int64_t ix0 = -g->p[2] + kx * g->d[2], lo, hi;
            valid_range(ix0, g->s[2], g->in[2], OW, &lo, &hi);
            float wv = wr[kx];
            if (g->s[2] == 1) {
              axpy(yr + lo, xr + ix0 + lo, wv, hi - lo);
            } else {
              const float *xs = xr + ix0;
              for (int64_t t = lo; t < hi; t++) yr[t] += wv * xs[t * g->s[2]];
            }
          }
        }
      }
    }
}

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* Fills every output plane of y (N x M x P) with its channel's bias, or leaves zeros. */
static void fill_bias(float *y, const cl_tensor *b, int64_t nb, int64_t m, int64_t p) {
  if (!b) return;
  const float *bv = b->data;
  for (int64_t i = 0; i < nb; i++)
    for (int64_t c = 0; c < m; c++) {
      float *yp = y + (i * m + c) * p;
      for (int64_t t = 0; t < p; t++) yp[t] = bv[c];
    }
}

static int spatial_check(const cl_graph *g, const cl_node *n, char *why, size_t why_len) {
  int r = g->values[n->in[0]].shape.ndim;
  if (r > 5) {
    snprintf(why, why_len, "%s with %d spatial dims is not implemented (at most 3)", n->op, r - 2);
    return 0;
  }
  return 1;
}

static int run_conv(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                    int n_out) {
  const cl_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
  int nsp = x->ndim - 2, rc;
  if (nsp < 1 || nsp > 3) return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%d spatial dims", nsp);
  cl_nn_geom gg;
  if ((rc = cl_nn_geom_init(k->ctx, n, nsp, x->dims + 2, w->dims + 2, false, &gg))) return rc;
  geom3 g;
  to_geom3(&gg, &g);
  const int64_t nb = x->dims[0], c = x->dims[1], m = w->dims[0], group = cl_attr_int(n, "group", 1);
  const int64_t cg = c / group, mg = m / group, kk = prod3(g.k), kdim = cg * kk;
  const int64_t p = prod3(g.out), xplane = prod3(g.in);
  const float *xd = x->data, *wd = w->data;
  float *yd = out[0]->data;
  fill_bias(yd, b, nb, m, p);
  if (p == 0 || m == 0 || kdim == 0) return 0;
  if (cg == 1) {
    for (int64_t i = 0; i < nb; i++)
      for (int64_t oc = 0; oc < m; oc++)
        conv_depthwise_plane(xd + (i * c + oc / mg) * xplane, wd + oc * kk, &g, yd + (i * m + oc) * p);
    return 0;
  }
  gemm_buf gb;
  if ((rc = gemm_buf_init(k->ctx, &gb))) return rc;
  bool pointwise = kk == 1;
  for (int i = 0; i < 3; i++)
    if (g.s[i] != 1 || g.p[i] != 0) pointwise = false;
  float *col = NULL;
  int64_t nt = p;
  if (!pointwise) {
    /* Tiles of output positions whose column block stays around 256 KiB. */
    nt = (65536 / kdim) & ~(int64_t)7;
    if (nt < 64) nt = 64;
    if (nt > p) nt = p;
    size_t bytes;
    if (cl_mul_size((size_t)kdim * sizeof(float), (size_t)nt, &bytes) || !(col = cl_malloc(k->ctx, bytes))) {
      gemm_buf_free(k->ctx, &gb);
      return cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for the column buffer");
    }
  }
  for (int64_t i = 0; i < nb; i++)
    for (int64_t gi = 0; gi < group; gi++) {
      const float *xg = xd + (i * c + gi * cg) * xplane, *wg = wd + gi * mg * kdim;
      float *yg = yd + (i * m + gi * mg) * p;
      if (pointwise) {
        gemm_f32(&gb, mg, p, kdim, wg, kdim, 1, xg, p, 1, yg, p);
        continue;
      }
      for (int64_t j0 = 0; j0 < p; j0 += nt) {
        int64_t cnt = p - j0 < nt ? p - j0 : nt;
        im2col_tile(xg, &g, cg, j0, cnt, col);
        gemm_f32(&gb, mg, cnt, kdim, wg, kdim, 1, col, cnt, 1, yg + j0, p);
      }
    }
  cl_free(k->ctx, col);
  gemm_buf_free(k->ctx, &gb);
  return 0;
}

/* Adds col[row][0..nt) (input positions j0..) into the output planes of one group. */
static void col2im_tile(const float *col, const geom3 *g, int64_t mg, int64_t j0, int64_t nt, float *y) {
  const int64_t IH = g->in[1], IW = g->in[2], OP = prod3(g->out);
  int64_t row = 0;
  for (int64_t mo = 0; mo < mg; mo++)
    for (int64_t kz = 0; kz < g->k[0]; kz++)
      for (int64_t ky = 0; ky < g->k[1]; ky++)
        for (int64_t kx = 0; kx < g->k[2]; kx++, row++) {
          const float *src = col + row * nt;
          float *yp = y + mo * OP;
          int64_t ix = j0 % IW, r = j0 / IW, iy = r % IH, iz = r / IH;
          for (int64_t done = 0; done < nt;) {
            int64_t seg = IW - ix < nt - done ? IW - ix : nt - done;
            int64_t oz = iz * g->s[0] - g->p[0] + kz * g->d[0], oy = iy * g->s[1] - g->p[1] + ky * g->d[1];
            if (oz >= 0 && oz < g->out[0] && oy >= 0 && oy < g->out[1]) {
              float *yr = yp + (oz * g->out[1] + oy) * g->out[2];
              int64_t ox0 = ix * g->s[2] - g->p[2] + kx * g->d[2], lo, hi;
              valid_range(ox0, g->s[2], g->out[2], seg, &lo, &hi);
              const float *s = src + done;
              for (int64_t t = lo; t < hi; t++) yr[ox0 + t * g->s[2]] += s[t];
            }
            done += seg;
            ix = 0;
            if (++iy == IH) {
              iy = 0;
              iz++;
            }
          }
        }
}

static int run_conv_transpose(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in,
                              cl_tensor *const *out, int n_out) {
  const cl_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
  int nsp = x->ndim - 2, rc;
  if (nsp < 1 || nsp > 3) return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "%d spatial dims", nsp);
  cl_nn_geom gg;
  if ((rc = cl_nn_convt_geom_init(k->ctx, n, nsp, x->dims + 2, w->dims + 2, &gg))) return rc;
  geom3 g;
  to_geom3(&gg, &g);
  const int64_t nb = x->dims[0], c = x->dims[1], group = cl_attr_int(n, "group", 1), mg = w->dims[1];
  const int64_t m = mg * group, cg = c / group, kdim = mg * prod3(g.k);
  const int64_t pin = prod3(g.in), pout = prod3(g.out);
  const float *xd = x->data, *wd = w->data;
  float *yd = out[0]->data;
  fill_bias(yd, b, nb, m, pout);
  if (pin == 0 || kdim == 0 || cg == 0) return 0;
  gemm_buf gb;
  if ((rc = gemm_buf_init(k->ctx, &gb))) return rc;
  int64_t nt = (65536 / kdim) & ~(int64_t)7;
  if (nt < 64) nt = 64;
  if (nt > pin) nt = pin;
  size_t bytes;
  float *col = NULL;
  if (cl_mul_size((size_t)kdim * sizeof(float), (size_t)nt, &bytes) || !(col = cl_malloc(k->ctx, bytes))) {
    gemm_buf_free(k->ctx, &gb);
    return cl_node_err(k->ctx, n, CLEAVE_ENOMEM, "out of memory for the column buffer");
  }
  for (int64_t i = 0; i < nb; i++)
    for (int64_t gi = 0; gi < group; gi++) {
      const float *xg = xd + (i * c + gi * cg) * pin, *wg = wd + gi * cg * kdim;
      float *yg = yd + (i * m + gi * mg) * pout;
      for (int64_t j0 = 0; j0 < pin; j0 += nt) {
        int64_t cnt = pin - j0 < nt ? pin - j0 : nt;
        memset(col, 0, sizeof(float) * (size_t)(kdim * cnt));
        /* col = W_g^T (kdim x cg) * X_g (cg x cnt) */
        gemm_f32(&gb, kdim, cnt, cg, wg, 1, kdim, xg + j0, pin, 1, col, cnt);
        col2im_tile(col, &g, mg, j0, cnt, yg);
      }
    }
  cl_free(k->ctx, col);
  gemm_buf_free(k->ctx, &gb);
  return 0;
}

/* ---- MatMul ---- */

#define MATMUL_INT(T)                                                                                                \
  static void matmul_##T(const T *a, const T *b, T *y, int64_t m, int64_t n, int64_t kd) {                           \
    for (int64_t i = 0; i < m; i++)                                                                                  \
      for (int64_t kk = 0; kk < kd; kk++) {                                                                          \
        T av = a[i * kd + kk];                                                                                       \
        const T *br = b + kk * n;                                                                                    \
        T *yr = y + i * n;                                                                                           \
        for (int64_t j = 0; j < n; j++) yr[j] = (T)((uint64_t)yr[j] + (uint64_t)av * (uint64_t)br[j]);               \
      }                                                                                                              \
  }
MATMUL_INT(int32_t)
MATMUL_INT(int64_t)

static int run_matmul(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                      int n_out) {
  const cl_tensor *a = in[0], *b = in[1];
  cl_tensor *y = out[0];
  int dt = a->dtype;
  if (b->dtype != dt) return cl_node_err(k->ctx, n, CLEAVE_EDTYPE, "inputs have different dtypes");
  if (dt != CLEAVE_DTYPE_FLOAT32 && dt != CLEAVE_DTYPE_INT32 && dt != CLEAVE_DTYPE_INT64)
    return cl_node_err(k->ctx, n, CLEAVE_EUNSUPPORTED, "MatMul on %s", cleave_dtype_name(dt));
  int64_t m = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1, kd = a->dims[a->ndim - 1];
  int64_t nn = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
  /* Batch dims of the output, and each operand's element strides along them. */
  int bnd = y->ndim - (a->ndim >= 2) - (b->ndim >= 2);
  int64_t sa[CL_MAX_DIMS] = {0}, sb[CL_MAX_DIMS] = {0}, batch = 1;
  int and_ = a->ndim > 2 ? a->ndim - 2 : 0, bnd_ = b->ndim > 2 ? b->ndim - 2 : 0;
  cl_bcast_strides(and_, a->dims, bnd, y->dims, sa);
  cl_bcast_strides(bnd_, b->dims, bnd, y->dims, sb);
  bool b_shared = true;
  for (int i = 0; i < bnd; i++) {
    batch *= y->dims[i];
    sa[i] *= m * kd;
    sb[i] *= kd * nn;
    if (sb[i] && y->dims[i] > 1) b_shared = false;
  }
  if (batch == 0 || m == 0 || nn == 0) return 0;
  size_t es = cl_dtype_size(dt);
  /* A batch of A against one B is a single taller product when A's batches are laid out densely. */
  bool fold = b_shared;
  for (int i = 0; i < bnd && fold; i++)
    if (y->dims[i] > 1 && sa[i] == 0) fold = false;
  gemm_buf gb = {0};
  int rc;
  if (dt == CLEAVE_DTYPE_FLOAT32 && kd > 0 && (rc = gemm_buf_init(k->ctx, &gb))) return rc;
  int64_t idx[CL_MAX_DIMS] = {0};
  int64_t rows = fold ? batch * m : m, iters = fold ? 1 : batch;
  for (int64_t it = 0; it < iters; it++) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < bnd; i++) {
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    const char *ap = (const char *)a->data + (size_t)oa * es, *bp = (const char *)b->data + (size_t)ob * es;
    char *yp = (char *)y->data + (size_t)(it * m * nn) * es;
    if (dt == CLEAVE_DTYPE_FLOAT32) {
      if (kd > 0) gemm_f32(&gb, rows, nn, kd, (const float *)ap, kd, 1, (const float *)bp, nn, 1, (float *)yp, nn);
    } else if (dt == CLEAVE_DTYPE_INT32) {
      matmul_int32_t((const int32_t *)ap, (const int32_t *)bp, (int32_t *)yp, rows, nn, kd);
    } else {
      matmul_int64_t((const int64_t *)ap, (const int64_t *)bp, (int64_t *)yp, rows, nn, kd);
    }
    for (int i = bnd - 1; i >= 0; i--) {
      if (++idx[i] < y->dims[i]) break;
      idx[i] = 0;
    }
  }
  if (gb.pa) gemm_buf_free(k->ctx, &gb);
  return 0;
}

/* ---- Gemm ---- */

static int run_gemm(const cl_kctx *k, const cl_node *n, const cl_tensor *const *in, int n_in, cl_tensor *const *out,
                    int n_out) {
  const cl_tensor *a = in[0], *b = in[1], *c = n_in > 2 ? in[2] : NULL;
  cl_tensor *y = out[0];
  bool ta = cl_attr_int(n, "transA", 0) != 0, tb = cl_attr_int(n, "transB", 0) != 0;
  float alpha = cl_attr_float(n, "alpha", 1.0f), beta = cl_attr_float(n, "beta", 1.0f);
  int64_t m = y->dims[0], nn = y->dims[1], kd = ta ? a->dims[0] : a->dims[1];
  float *yd = y->data;
  if (m == 0 || nn == 0) return 0;
  if (kd > 0) {
    gemm_buf gb;
    int rc = gemm_buf_init(k->ctx, &gb);
    if (rc) return rc;
    gemm_f32(&gb, m, nn, kd, a->data, ta ? 1 : kd, ta ? m : 1, b->data, tb ? 1 : nn, tb ? kd : 1, yd, nn);
    gemm_buf_free(k->ctx, &gb);
  }
  if (alpha != 1.0f)
    for (int64_t i = 0; i < m * nn; i++) yd[i] *= alpha;
  if (c && beta != 0.0f) {
    int64_t st[2];
    cl_bcast_strides(c->ndim, c->dims, 2, y->dims, st);
    const float *cd = c->data;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < nn; j++) yd[i * nn + j] += beta * cd[i * st[0] + j * st[1]];
  }
  return 0;
}

const cl_ref_kernel cl_ref_kernels_nn[] = {
    {.op = "Conv", .types = CL_T_F32, .check = spatial_check, .run = run_conv},
    {.op = "ConvTranspose", .types = CL_T_F32, .check = spatial_check, .run = run_conv_transpose},
    {.op = "MatMul", .types = CL_T_F32 | CL_T_INT, .run = run_matmul},
    {.op = "Gemm", .types = CL_T_F32, .run = run_gemm},
    {.op = "AveragePool", .types = CL_T_F32, .check = cl_nn_check_pool, .run = cl_nn_run_avgpool},
    {.op = "MaxPool", .types = CL_T_F32, .check = cl_nn_check_pool, .run = cl_nn_run_maxpool},
    {.op = "LpPool", .types = CL_T_F32, .check = cl_nn_check_pool, .run = cl_nn_run_lppool},
    {.op = "GlobalAveragePool", .types = CL_T_F32, .run = cl_nn_run_global_pool},
    {.op = "GlobalMaxPool", .types = CL_T_F32, .run = cl_nn_run_global_pool},
    {.op = "GlobalLpPool", .types = CL_T_F32, .run = cl_nn_run_global_pool},
    {.op = "BatchNormalization", .types = CL_T_F32, .check = cl_nn_check_batchnorm, .run = cl_nn_run_batchnorm},
    {.op = "InstanceNormalization", .types = CL_T_F32, .run = cl_nn_run_instancenorm},
    {.op = "LRN", .types = CL_T_F32, .run = cl_nn_run_lrn},
    {.op = "Resize", .types = CL_T_F32, .check = cl_nn_check_resize, .run = cl_nn_run_resize},
    {.op = "Upsample", .types = CL_T_F32, .check = cl_nn_check_resize, .run = cl_nn_run_resize},
    {.op = NULL},
};
