/* local/vulkan: the kernels' parameter blocks and dispatches for the planned shapes (layouts in shaders/). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ir/ops_data.h"
#include "core/ir/ops_nn.h"
#include "local/ref/k_data.h"
#include "local/vulkan/vk.h"

typedef struct loc {
  int32_t buf, off;
} loc;

static int locate(vk_exe *e, int v, loc *out) {
  const cl_graph *g = e->g;
  int r = vp_root(e, v);
  vk_val *val = &e->v[r];
  if (val->in_arena) {
    *out = (loc){0, (int32_t)val->off};
    return 0;
  }
  if (g->values[r].konst && e->konst[r] >= 0) {
    *out = (loc){1, (int32_t)e->konst[r]};
    return 0;
  }
  if (val->host && e->pk[r].dtype == CLEAVE_DTYPE_FLOAT32) {
    if (val->params_off < 0) {
      int64_t n = cl_tensor_numel(&e->pk[r]);
      int64_t off = vq_push(e, NULL, n);
      if (off < 0) return (int)off;
      if (n) memcpy(e->params + off, e->pk[r].data, sizeof(float) * (size_t)n);
      val->params_off = off;
    }
    *out = (loc){2, (int32_t)val->params_off};
    return 0;
  }
  return cl_err(e->ctx, CLEAVE_EUNSUPPORTED, "gpu device: value '%s' has no place on the device", g->values[v].name);
}

static const cl_shape *shp(const vk_exe *e, int v) { return &e->shape[v]; }

static int64_t numel(const vk_exe *e, int v) { return cl_shape_numel(&e->shape[v]); }

static void strides_of(const cl_shape *s, int64_t *st) {
  int64_t p = 1;
  for (int d = s->ndim - 1; d >= 0; d--) {
    st[d] = p;
    p *= s->d[d];
  }
}

/* The multiplier and shifts (bit 0 the first, bits 1-7 the second) that divide any 32-bit n by d >= 1 as
 * (umulhi(n, m) + ((n - umulhi(n, m)) >> s1)) >> s2 (Granlund and Montgomery); the kernels' fdiv(). */
static void magic_div(uint32_t d, int32_t *m, int32_t *sh) {
  int l = 0;
  while (l < 32 && ((uint64_t)1 << l) < d)
    l++;
  uint64_t mm = (((uint64_t)1 << 32) * (((uint64_t)1 << l) - d)) / d + 1;
  *m = (int32_t)(uint32_t)mm;
  *sh = (l > 0 ? 1 : 0) | ((l > 1 ? l - 1 : 0) << 1);
}

/* The epilogue block of st for output shape y; its absolute offset, or a negative error. */
static int64_t push_epi(vk_exe *e, const vk_step *st, const cl_shape *y) {
  int32_t w[1 + 10 * VK_MAX_EOPS];
  int n = 0;
  w[n++] = st->n_eops;
  for (int k = 0; k < st->n_eops; k++) {
    const vk_eop *o = &st->eops[k];
    int32_t src = o->src == ES_SCALAR ? -1 : o->src == ES_SAVED ? -2 : 0, off = 0, C = 1, inner = 1;
    if (o->src == ES_TENSOR) {
      cl_shape os;
      if (o->v >= 0) {
        os = e->shape[o->v];
        loc l;
        int rc = locate(e, o->v, &l);
        if (rc) return rc;
        src = l.buf;
        off = l.off;
      } else {
        os.ndim = o->rank;
        memcpy(os.d, o->dims, sizeof(int64_t) * (size_t)o->rank);
        src = 1;
        off = (int32_t)o->woff;
      }
      /* the operand's non-1 dims: one block of y's dims (C elements), with inner elements after it */
      int first = -1, last = -1, shift = y->ndim - os.ndim;
      if (shift < 0) return cl_err(e->ctx, CLEAVE_EBACKEND, "gpu device: operand rank above its output's");
      for (int i = 0; i < os.ndim; i++) {
        if (os.d[i] == 1) continue;
        if (os.d[i] != y->d[i + shift])
          return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_ESHAPE, "operand does not broadcast");
        if (first < 0) first = i + shift;
        last = i + shift;
      }
      int64_t c = 1, in = 1;
      for (int d = first; first >= 0 && d <= last; d++) {
        if (d - shift >= 0 && os.d[d - shift] == 1 && y->d[d] != 1)
          return cl_node_err(e->ctx, &e->g->nodes[st->node], CLEAVE_EUNSUPPORTED,
                             "operand broadcasts along more than one block of dims");
        c *= y->d[d];
      }
      for (int d = last + 1; first >= 0 && d < y->ndim; d++)
        in *= y->d[d];
      C = (int32_t)(c > 0 ? c : 1);
      inner = (int32_t)(in > 0 ? in : 1);
    }
    int32_t *q = &w[n];
    q[0] = o->op;
    q[1] = vq_f(o->a);
    q[2] = vq_f(o->b);
    q[3] = src;
    q[4] = off;
    q[5] = C;
    q[6] = inner;
    int32_t shi, shc;
    magic_div((uint32_t)inner, &q[7], &shi);
    magic_div((uint32_t)C, &q[8], &shc);
    q[9] = shi | shc << 8;
    n += 10;
  }
  return vq_push(e, w, n);
}

static int add_disp(vk_exe *e, vk_step *st, int shader, const uint32_t *spec_in, int n_spec, const uint32_t g[3],
                    int64_t param) {
  if (param < 0) return (int)param;
  /* the kernel's own constants, then the epilogue program's length and ops (common.glsl) */
  uint32_t spec[VK_MAX_SPEC] = {0};
  if (n_spec) memcpy(spec, spec_in, sizeof(uint32_t) * (size_t)n_spec);
  spec[VK_SPEC_EPI] = (uint32_t)st->n_eops;
  for (int k = 0; k < st->n_eops; k++)
    spec[VK_SPEC_EPI + 1 + k] = (uint32_t)st->eops[k].op;
  n_spec = VK_SPEC_EPI + 1 + VK_MAX_EOPS;
  vk_dispatch *d = cl_realloc(e->ctx, st->disp, sizeof *d * (size_t)(st->n_disp + 1));
  if (!d) return cl_err(e->ctx, CLEAVE_ENOMEM, "out of memory planning the gpu device");
  st->disp = d;
  vk_dispatch *dp = &d[st->n_disp];
  int rc = vr_pipeline(e->rt, shader, spec, n_spec, &dp->pipe);
  if (rc) return rc;
  memcpy(dp->groups, g, sizeof dp->groups);
  dp->param = (uint32_t)param;
  st->n_disp++;
  return 0;
}

/* Workgroups for n items of per items each, spread over x and y (x at most 65535). */
static void grid(int64_t n, int64_t per, uint32_t g[3]) {
  int64_t groups = (n + per - 1) / per;
  g[0] = (uint32_t)(groups < 65535 ? groups : 65535);
  g[1] = (uint32_t)((groups + 65534) / 65535);
  g[2] = 1;
}

/* Appends words to the parameter block, then the epilogue, and patches the epilogue's relative offset at slot. */
static int64_t push_with_epi(vk_exe *e, const vk_step *st, int32_t *w, int n, int slot) {
  int64_t base = vq_push(e, w, n);
  if (base < 0) return base;
  int64_t epi = push_epi(e, st, shp(e, st->out));
  if (epi < 0) return epi;
  e->params[base + slot] = (int32_t)(epi - base);
  return base;
}

/* ---- kernels ---- */

static int q_ew(vk_exe *e, vk_step *st) {
  loc x;
  int rc = locate(e, st->in, &x);
  if (rc) return rc;
  int64_t n = numel(e, st->out);
  int32_t w[64] = {(int32_t)n, 0, x.buf, x.off, (int32_t)e->v[vp_root(e, st->out)].off, 0};
  int nw = 6;
  if (st->kind == VK_BINARY) {
    loc b;
    if ((rc = locate(e, st->in2, &b))) return rc;
    const cl_shape *ys = shp(e, e->g->nodes[st->node].out[0]), *as = shp(e, st->in), *bs = shp(e, st->in2);
    int64_t sa[CL_MAX_DIMS], sb[CL_MAX_DIMS];
    cl_bcast_strides(as->ndim, as->d, ys->ndim, ys->d, sa);
    cl_bcast_strides(bs->ndim, bs->d, ys->ndim, ys->d, sb);
    w[1] = 1;
    w[6] = st->op;
    w[7] = b.buf;
    w[8] = b.off;
    w[9] = ys->ndim;
    for (int d = 0; d < ys->ndim; d++) {
      w[10 + 3 * d] = (int32_t)ys->d[d];
      w[11 + 3 * d] = (int32_t)sa[d];
      w[12 + 3 * d] = (int32_t)sb[d];
    }
    nw = 10 + 3 * ys->ndim;
  }
  uint32_t g[3];
  grid(n, 256, g);
  return add_disp(e, st, VS_EW, NULL, 0, g, push_with_epi(e, st, w, nw, 5));
}

/* the gemm shader's specialisation constants (0-4 unused) */
#define GEMM_SPEC 19

/* The GEMM tile for M x N products, z of them. Returns the module; its tile in *bm, *bn. */
static int gemm_tiles(int64_t M, int64_t N, int64_t z, uint32_t *bm, uint32_t *bn) {
  /* CLEAVE_VULKAN_GEMM_TILE (l, m, n or w) forces one tile, for tuning */
  const char *force = getenv("CLEAVE_VULKAN_GEMM_TILE");
  if (force && *force) {
    static const char names[] = "lmnwxys";
    static const uint32_t t[7][2] = {{128, 128}, {64, 64}, {32, 128}, {128, 32}, {128, 128}, {64, 128}, {32, 64}};
    const char *at = strchr(names, *force);
    int i = at ? (int)(at - names) : 1;
    *bm = t[i][0], *bn = t[i][1];
    return VS_GEMM_L + i;
  }
  /* Measured on an H200 (bench/README.md): 128x128 tiles only pay with a few waves of them; below that, the small
   * 32x64 tile, whose many workgroups fill the GPU, was as fast or faster than 64x64 and 32x128 on every
   * convolution of PP-OCR det. */
  if (M >= 128 && N >= 128 && M * N * z >= (int64_t)128 * 128 * 128) {
    *bm = 128, *bn = 128;
    return VS_GEMM_L;
  }
  if (N <= 32 && M >= 128) {
    *bm = 128, *bn = 32;
    return VS_GEMM_W;
  }
  *bm = 32, *bn = 64;
  return VS_GEMM_S;
}

static int q_conv(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in), *ys = shp(e, n->out[0]);
  int nsp = xs->ndim - 2, rc;
  int64_t kernel[2] = {st->kh, st->kw};
  cl_nn_geom gg;
  if ((rc = cl_nn_geom_init(e->ctx, n, nsp, xs->d + 2, nsp == 2 ? kernel : kernel + 1, false, &gg))) return rc;
  int64_t H = nsp == 2 ? gg.in[0] : 1, W = gg.in[nsp - 1], OH = nsp == 2 ? gg.out[0] : 1, OW = gg.out[nsp - 1];
  int64_t SH = nsp == 2 ? gg.s[0] : 1, SW = gg.s[nsp - 1], DH = nsp == 2 ? gg.d[0] : 1, DW = gg.d[nsp - 1];
  int64_t PT = nsp == 2 ? gg.pb[0] : 0, PL = gg.pb[nsp - 1];
  int64_t batch = xs->d[0], cin = xs->d[1], cout = ys->d[1], group = cl_attr_int(n, "group", 1);
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int32_t yoff = (int32_t)e->v[vp_root(e, st->out)].off;
  if (!batch || !cout || !OH || !OW) {
    st->skip = true;
    return 0;
  }
  if (st->kind == VK_DWCONV) {
    int32_t w[16] = {(int32_t)numel(e, st->out),
                     x.off,
                     yoff,
                     (int32_t)st->w_off,
                     1,
                     (int32_t)st->b_off,
                     (int32_t)cout,
                     (int32_t)(cout / cin),
                     (int32_t)H,
                     (int32_t)W,
                     (int32_t)OH,
                     (int32_t)OW,
                     (int32_t)PT,
                     (int32_t)PL,
                     0};
    uint32_t spec[6] = {(uint32_t)st->kh, (uint32_t)st->kw, (uint32_t)SH, (uint32_t)SW, (uint32_t)DH, (uint32_t)DW};
    uint32_t g[3];
    grid(numel(e, st->out), 256, g);
    return add_disp(e, st, VS_DWCONV, spec, 6, g, push_with_epi(e, st, w, 15, 14));
  }
  int64_t M = cout / group, K = (cin / group) * st->kh * st->kw, N = OH * OW;
  bool one = st->kh == 1 && st->kw == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W;
  int32_t w[30] = {(int32_t)M,
                   (int32_t)N,
                   (int32_t)K,
                   1,
                   (int32_t)st->w_off,
                   (int32_t)K,
                   1,
                   0,
                   x.off,
                   (int32_t)(H * W),
                   1,
                   yoff,
                   (int32_t)N,
                   (int32_t)group,
                   0,
                   (int32_t)(M * K),
                   (int32_t)(cin * H * W),
                   (int32_t)((cin / group) * H * W),
                   (int32_t)(cout * N),
                   (int32_t)(M * N),
                   1,
                   (int32_t)st->b_off,
                   0,
                   vq_f(1.0f),
                   (int32_t)H,
                   (int32_t)W,
                   (int32_t)OW,
                   (int32_t)PT,
                   (int32_t)PL,
                   0};
  uint32_t spec[GEMM_SPEC] = {0}, bm, bn;
  int shader = gemm_tiles(M, N, batch * group, &bm, &bn);
  spec[5] = one ? 2 : 1;
  spec[6] = (uint32_t)st->kh, spec[7] = (uint32_t)st->kw, spec[8] = (uint32_t)SH, spec[9] = (uint32_t)SW;
  spec[10] = (uint32_t)DH, spec[11] = (uint32_t)DW, spec[12] = 1, spec[13] = 1;
  /* A is the weights, rows of K; B (1x1) the image's rows of H*W; C rows of N */
  spec[14] = 1;
  spec[15] = 0;
  spec[16] = (K % 4 == 0 && st->w_off % 4 == 0 ? 1u : 0u) |
             (one && x.buf == 0 && (H * W) % 4 == 0 && x.off % 4 == 0 ? 2u : 0u) |
             (N % 4 == 0 && yoff % 4 == 0 ? 4u : 0u);
  spec[17] = st->n_eops > 0;
  uint32_t g[3] = {(uint32_t)((N + bn - 1) / bn), (uint32_t)((M + bm - 1) / bm), (uint32_t)(batch * group)};
  return add_disp(e, st, shader, spec, GEMM_SPEC, g, push_with_epi(e, st, w, 30, 29));
}

static int q_convt(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in), *ys = shp(e, n->out[0]);
  int nsp = xs->ndim - 2, rc;
  int64_t kernel[2] = {st->kh, st->kw};
  cl_nn_geom gg;
  if ((rc = cl_nn_convt_geom_init(e->ctx, n, nsp, xs->d + 2, nsp == 2 ? kernel : kernel + 1, &gg))) return rc;
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int64_t total = numel(e, st->out);
  if (!total) {
    st->skip = true;
    return 0;
  }
  int two = nsp == 2;
  int64_t group = cl_attr_int(n, "group", 1), H = two ? gg.in[0] : 1, W = gg.in[nsp - 1];
  if (two && group == 1 && x.buf == 0 && gg.s[0] == st->kh && gg.s[1] == st->kw && gg.d[0] == 1 && gg.d[1] == 1 &&
      gg.pb[0] == 0 && gg.pb[1] == 0 && ys->d[2] == H * st->kh && ys->d[3] == W * st->kw) {
    /* kernel == stride: every output pixel takes one input pixel, a GEMM of the weights by the image */
    int64_t cout = ys->d[1], cin = xs->d[1], M = cout * st->kh * st->kw, N = H * W, K = cin;
    int32_t w[30] = {(int32_t)M,
                     (int32_t)N,
                     (int32_t)K,
                     1,
                     (int32_t)st->w_off,
                     1,
                     (int32_t)M,
                     0,
                     x.off,
                     (int32_t)N,
                     1,
                     (int32_t)e->v[vp_root(e, st->out)].off,
                     0,
                     1,
                     0,
                     0,
                     (int32_t)(cin * N),
                     0,
                     (int32_t)(cout * ys->d[2] * ys->d[3]),
                     0,
                     1,
                     (int32_t)st->b_off,
                     0,
                     vq_f(1.0f),
                     (int32_t)H,
                     (int32_t)W,
                     (int32_t)ys->d[3],
                     0,
                     0,
                     0};
    uint32_t spec[GEMM_SPEC] = {0}, bm, bn;
    int shader = gemm_tiles(M, N, xs->d[0], &bm, &bn);
    spec[5] = 2;
    spec[6] = (uint32_t)st->kh, spec[7] = (uint32_t)st->kw;
    spec[8] = spec[9] = spec[10] = spec[11] = 1;
    spec[12] = 0, spec[13] = 1, spec[14] = 1, spec[15] = 0;
    spec[16] = N % 4 == 0 && x.off % 4 == 0 ? 2u : 0u;
    spec[17] = st->n_eops > 0;
    spec[18] = 1;
    uint32_t g[3] = {(uint32_t)((N + bn - 1) / bn), (uint32_t)((M + bm - 1) / bm), (uint32_t)xs->d[0]};
    return add_disp(e, st, shader, spec, GEMM_SPEC, g, push_with_epi(e, st, w, 30, 29));
  }
  int32_t w[22] = {(int32_t)total,
                   x.off,
                   (int32_t)e->v[vp_root(e, st->out)].off,
                   (int32_t)st->w_off,
                   1,
                   (int32_t)st->b_off,
                   (int32_t)ys->d[1],
                   (int32_t)xs->d[1],
                   (int32_t)cl_attr_int(n, "group", 1),
                   (int32_t)(two ? gg.in[0] : 1),
                   (int32_t)gg.in[nsp - 1],
                   (int32_t)(two ? ys->d[2] : 1),
                   (int32_t)ys->d[xs->ndim - 1],
                   (int32_t)st->kh,
                   (int32_t)st->kw,
                   (int32_t)(two ? gg.s[0] : 1),
                   (int32_t)gg.s[nsp - 1],
                   (int32_t)(two ? gg.d[0] : 1),
                   (int32_t)gg.d[nsp - 1],
                   (int32_t)(two ? gg.pb[0] : 0),
                   (int32_t)gg.pb[nsp - 1],
                   0};
  uint32_t g[3];
  grid(total, 256, g);
  return add_disp(e, st, VS_CONVT, NULL, 0, g, push_with_epi(e, st, w, 22, 21));
}

static int q_matmul(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *as = shp(e, st->in), *bs = shp(e, st->in2), *ys = shp(e, n->out[0]);
  loc a, b;
  int rc = locate(e, st->in, &a);
  if (!rc) rc = locate(e, st->in2, &b);
  if (rc) return rc;
  int R = ys->ndim;
  int64_t M = ys->d[R - 2], N = ys->d[R - 1], K;
  int64_t sam, sak, sbk, sbn, sa[CL_MAX_DIMS] = {0}, sb[CL_MAX_DIMS] = {0}, nb0 = 1, nb1 = 1;
  int64_t sa0 = 0, sa1 = 0, sb0 = 0, sb1 = 0;
  if (!strcmp(n->op, "Gemm")) {
    K = st->trans_a ? as->d[0] : as->d[1];
    sam = st->trans_a ? 1 : as->d[1];
    sak = st->trans_a ? as->d[1] : 1;
    sbk = st->trans_b ? 1 : bs->d[1];
    sbn = st->trans_b ? bs->d[1] : 1;
  } else {
    K = as->d[as->ndim - 1];
    sam = K, sak = 1, sbk = N, sbn = 1;
    cl_bcast_strides(as->ndim, as->d, R, ys->d, sa);
    cl_bcast_strides(bs->ndim, bs->d, R, ys->d, sb);
    if (R == 4) nb0 = ys->d[0], sa0 = sa[0], sb0 = sb[0];
    if (R >= 3) nb1 = ys->d[R - 3], sa1 = sa[R - 3], sb1 = sb[R - 3];
  }
  if (!M || !N || !nb0 || !nb1) {
    st->skip = true;
    return 0;
  }
  int32_t w[30] = {(int32_t)M,
                   (int32_t)N,
                   (int32_t)K,
                   a.buf,
                   a.off,
                   (int32_t)sam,
                   (int32_t)sak,
                   b.buf,
                   b.off,
                   (int32_t)sbk,
                   (int32_t)sbn,
                   (int32_t)e->v[vp_root(e, st->out)].off,
                   (int32_t)N,
                   (int32_t)nb1,
                   (int32_t)sa0,
                   (int32_t)sa1,
                   (int32_t)sb0,
                   (int32_t)sb1,
                   (int32_t)(M * N * nb1),
                   (int32_t)(M * N),
                   -1,
                   0,
                   0,
                   vq_f(st->alpha),
                   1,
                   1,
                   1,
                   0,
                   0,
                   0};
  uint32_t spec[GEMM_SPEC] = {0}, bm, bn;
  int shader = gemm_tiles(M, N, nb0 * nb1, &bm, &bn);
  int32_t yoff = (int32_t)e->v[vp_root(e, st->out)].off;
  spec[5] = 0;
  spec[6] = spec[7] = spec[8] = spec[9] = spec[10] = spec[11] = 1;
  spec[12] = sak == 1;
  spec[13] = sbn == 1;
  spec[14] = (uint32_t)a.buf;
  spec[15] = (uint32_t)b.buf;
  /* 16-byte loads where every row of the operand starts on a multiple of 4 elements */
  bool av = a.buf < 2 && sak == 1 && K % 4 == 0 && a.off % 4 == 0 && sam % 4 == 0 && sa0 % 4 == 0 && sa1 % 4 == 0;
  bool bv = b.buf < 2 && sbn == 1 && N % 4 == 0 && b.off % 4 == 0 && sbk % 4 == 0 && sb0 % 4 == 0 && sb1 % 4 == 0;
  spec[16] = (av ? 1u : 0u) | (bv ? 2u : 0u) | (N % 4 == 0 && yoff % 4 == 0 ? 4u : 0u);
  spec[17] = st->n_eops > 0;
  uint32_t g[3] = {(uint32_t)((N + bn - 1) / bn), (uint32_t)((M + bm - 1) / bm), (uint32_t)(nb0 * nb1)};
  return add_disp(e, st, shader, spec, GEMM_SPEC, g, push_with_epi(e, st, w, 30, 29));
}

static int q_pool(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in);
  int nsp = xs->ndim - 2, rc;
  const int64_t *ks;
  cl_attr_ints(n, "kernel_shape", &ks);
  cl_nn_geom gg;
  if ((rc = cl_nn_geom_init(e->ctx, n, nsp, xs->d + 2, ks, cl_attr_int(n, "ceil_mode", 0) != 0, &gg))) return rc;
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int64_t total = numel(e, st->out);
  if (!total) {
    st->skip = true;
    return 0;
  }
  int32_t w[27] = {(int32_t)total, x.off, (int32_t)e->v[vp_root(e, st->out)].off, st->op,
                   (int32_t)cl_attr_int(n, "count_include_pad", 0)};
  int off = 3 - nsp;
  for (int i = 0; i < 3; i++) {
    int j = i - off;
    w[5 + i] = (int32_t)(j >= 0 ? gg.in[j] : 1);
    w[8 + i] = (int32_t)(j >= 0 ? gg.out[j] : 1);
    w[11 + i] = (int32_t)(j >= 0 ? gg.k[j] : 1);
    w[14 + i] = (int32_t)(j >= 0 ? gg.s[j] : 1);
    w[17 + i] = (int32_t)(j >= 0 ? gg.d[j] : 1);
    w[20 + i] = (int32_t)(j >= 0 ? gg.pb[j] : 0);
    w[23 + i] = (int32_t)(j >= 0 ? gg.pe[j] : 0);
  }
  uint32_t g[3];
  grid(total, 256, g);
  return add_disp(e, st, VS_POOL, NULL, 0, g, push_with_epi(e, st, w, 27, 26));
}

static const cl_tensor *pk_in(vk_exe *e, const cl_node *n, int j) {
  return j < n->n_in && n->in[j] >= 0 && (e->pk[n->in[j]].data || e->v[n->in[j]].host) ? &e->pk[n->in[j]] : NULL;
}

static int q_reduce(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in);
  int r = xs->ndim;
  bool red[CL_MAX_DIMS] = {0};
  if (!strncmp(n->op, "Global", 6)) {
    for (int d = 2; d < r; d++)
      red[d] = true;
  } else {
    int64_t axes[CL_MAX_DIMS];
    const cl_tensor *in[2] = {NULL, pk_in(e, n, 1)};
    cl_kctx kc = {.ctx = e->ctx, .opset = e->g->opset};
    int since = !strcmp(n->op, "ReduceSum") ? 13 : 18;
    int na = cl_kdata_list(&kc, n, in, n->n_in, "axes", 1, since, axes, CL_MAX_DIMS);
    if (na < -1) return cl_node_err(e->ctx, n, CLEAVE_EMODEL, "too many axes");
    if (na <= 0) {
      bool noop = cl_attr_int(n, "noop_with_empty_axes", 0) != 0;
      for (int d = 0; d < r; d++)
        red[d] = !noop;
    }
    for (int i = 0; i < na; i++) {
      int a;
      int rc = cl_norm_axis(e->ctx, n, axes[i], r, &a);
      if (rc) return rc;
      red[a] = true;
    }
  }
  int64_t xst[CL_MAX_DIMS], n_out = 1, R = 1;
  strides_of(xs, xst);
  loc x;
  int rc = locate(e, st->in, &x);
  if (rc) return rc;
  int32_t w[41] = {0, x.off, (int32_t)e->v[vp_root(e, st->out)].off, st->op};
  int nk = 0, nr = 0, last_kept = -1, first_red = r;
  for (int d = 0; d < r; d++) {
    if (red[d]) {
      w[25 + 2 * nr] = (int32_t)xs->d[d];
      w[26 + 2 * nr] = (int32_t)xst[d];
      nr++;
      R *= xs->d[d];
      if (d < first_red) first_red = d;
    } else {
      w[9 + 2 * nk] = (int32_t)xs->d[d];
      w[10 + 2 * nk] = (int32_t)xst[d];
      nk++;
      n_out *= xs->d[d];
      last_kept = d;
    }
  }
  if (!n_out) {
    st->skip = true;
    return 0;
  }
  w[0] = (int32_t)n_out;
  w[4] = (int32_t)R;
  w[5] = nk;
  w[6] = nr;
  w[8] = last_kept < first_red;
  uint32_t g[3];
  grid(n_out, 1, g);
  return add_disp(e, st, VS_REDUCE, NULL, 0, g, push_with_epi(e, st, w, 41, 7));
}

static int q_softmax(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in);
  int a, rc = cl_norm_axis(e->ctx, n, cl_attr_int(n, "axis", e->g->opset < 13 ? 1 : -1), xs->ndim, &a);
  if (rc) return rc;
  int64_t L = 1, I = 1, total = numel(e, st->in);
  if (e->g->opset < 13) {
    for (int d = a; d < xs->ndim; d++)
      L *= xs->d[d];
  } else {
    L = xs->d[a];
    for (int d = a + 1; d < xs->ndim; d++)
      I *= xs->d[d];
  }
  if (!total || !L) {
    st->skip = true;
    return 0;
  }
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int32_t w[7] = {
      (int32_t)(total / L), x.off, (int32_t)e->v[vp_root(e, st->out)].off, (int32_t)L, (int32_t)I, st->op, 0};
  uint32_t g[3];
  grid(total / L, 1, g);
  return add_disp(e, st, VS_SOFTMAX, NULL, 0, g, push_with_epi(e, st, w, 7, 6));
}

/* One strided copy: iteration dims, per dim input stride, output stride, pad and input extent. */
typedef struct copy_desc {
  int nd, mode;
  float value;
  int64_t size[CL_MAX_DIMS], is[CL_MAX_DIMS], os[CL_MAX_DIMS], pad[CL_MAX_DIMS], ext[CL_MAX_DIMS];
} copy_desc;

static int copy_disp(vk_exe *e, vk_step *st, loc x, int64_t yoff, const copy_desc *c) {
  int64_t total = 1;
  for (int d = 0; d < c->nd; d++)
    total *= c->size[d];
  if (!total) return 0;
  int32_t w[7 + 5 * CL_MAX_DIMS] = {(int32_t)total, x.buf, x.off, (int32_t)yoff, c->nd, c->mode, vq_f(c->value)};
  for (int d = 0; d < c->nd; d++) {
    int32_t *q = &w[7 + 5 * d];
    q[0] = (int32_t)c->size[d], q[1] = (int32_t)c->is[d], q[2] = (int32_t)c->os[d];
    q[3] = (int32_t)c->pad[d], q[4] = (int32_t)c->ext[d];
  }
  uint32_t g[3];
  grid(total, 256, g);
  return add_disp(e, st, VS_COPY, NULL, 0, g, vq_push(e, w, 7 + 5 * c->nd));
}

static int q_copy(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in), *ys = shp(e, n->out[0]);
  int r = ys->ndim, rc;
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int64_t xst[CL_MAX_DIMS], yst[CL_MAX_DIMS];
  strides_of(xs, xst);
  strides_of(ys, yst);
  copy_desc c = {.nd = r};
  for (int d = 0; d < r; d++) {
    c.size[d] = ys->d[d];
    c.os[d] = yst[d];
    c.is[d] = d < xs->ndim ? xst[d] : 0;
    c.ext[d] = d < xs->ndim ? xs->d[d] : 1;
  }
  int64_t base = 0;
  const cl_tensor *in[5] = {NULL, pk_in(e, n, 1), pk_in(e, n, 2), pk_in(e, n, 3), pk_in(e, n, 4)};
  cl_kctx kc = {.ctx = e->ctx, .opset = e->g->opset};
  if (!strcmp(n->op, "Transpose")) {
    const int64_t *perm;
    int np = cl_attr_ints(n, "perm", &perm);
    for (int d = 0; d < r; d++)
      c.is[d] = xst[np == r ? perm[d] : r - 1 - d];
  } else if (!strcmp(n->op, "Slice")) {
    int64_t starts[CL_MAX_DIMS], ends[CL_MAX_DIMS], axes[CL_MAX_DIMS], steps[CL_MAX_DIMS];
    int ks = cl_kdata_list(&kc, n, in, n->n_in, "starts", 1, 10, starts, CL_MAX_DIMS);
    int ka = cl_kdata_list(&kc, n, in, n->n_in, "axes", 3, 10, axes, CL_MAX_DIMS);
    int kt = e->g->opset >= 10 ? cl_kdata_list(&kc, n, in, n->n_in, "steps", 4, 10, steps, CL_MAX_DIMS) : -1;
    cl_kdata_list(&kc, n, in, n->n_in, "ends", 2, 10, ends, CL_MAX_DIMS);
    for (int i = 0; i < ks; i++) {
      int a;
      if ((rc = cl_norm_axis(e->ctx, n, ka >= 0 ? axes[i] : i, r, &a))) return rc;
      int64_t step = kt >= 0 ? steps[i] : 1, first = 0;
      cl_slice_axis(xs->d[a], starts[i], ends[i], step, &first);
      base += first * xst[a];
      c.is[a] = xst[a] * step;
    }
    x.off += (int32_t)base;
  } else if (!strcmp(n->op, "Pad")) {
    int64_t pads[2 * CL_MAX_DIMS];
    int kp = cl_kdata_list(&kc, n, in, n->n_in, e->g->opset < 2 ? "paddings" : "pads", 1, 11, pads, 2 * CL_MAX_DIMS);
    if (kp != 2 * r) return cl_node_err(e->ctx, n, CLEAVE_EMODEL, "%d pads for rank %d", kp, r);
    int mode = cl_pad_mode(n);
    c.mode = mode == CL_PAD_CONSTANT ? 1 : mode == CL_PAD_EDGE ? 2 : mode == CL_PAD_REFLECT ? 3 : 4;
    c.value = e->g->opset >= 11 ? (in[2] && cl_tensor_numel(in[2]) ? (float)cl_tensor_get_f64(in[2], 0) : 0.0f)
                                : cl_attr_float(n, "value", 0.0f);
    for (int d = 0; d < r; d++)
      c.pad[d] = pads[d];
  } else if (!strcmp(n->op, "Expand")) {
    cl_bcast_strides(xs->ndim, xs->d, r, ys->d, c.is);
  } else { /* Tile: the input repeated, read modulo its extent */
    c.mode = 4;
  }
  if (!numel(e, st->out)) {
    st->skip = true;
    return 0;
  }
  return copy_disp(e, st, x, e->v[vp_root(e, st->out)].off, &c);
}

static int q_concat(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *ys = shp(e, n->out[0]);
  int a, rc = cl_norm_axis(e->ctx, n, cl_attr_int(n, "axis", 0), ys->ndim, &a);
  if (rc) return rc;
  int64_t yst[CL_MAX_DIMS], at = 0, yoff = e->v[vp_root(e, st->out)].off;
  strides_of(ys, yst);
  for (int j = 0; j < n->n_in; j++) {
    if (n->in[j] < 0) continue;
    const cl_shape *xs = shp(e, n->in[j]);
    loc x;
    if (numel(e, n->in[j]) && (rc = locate(e, n->in[j], &x))) return rc;
    copy_desc c = {.nd = ys->ndim};
    int64_t xst[CL_MAX_DIMS];
    strides_of(xs, xst);
    for (int d = 0; d < ys->ndim; d++) {
      c.size[d] = xs->d[d];
      c.is[d] = xst[d];
      c.os[d] = yst[d];
      c.ext[d] = xs->d[d];
    }
    if (numel(e, n->in[j]) && (rc = copy_disp(e, st, x, yoff + at * yst[a], &c))) return rc;
    at += xs->d[a];
  }
  if (!st->n_disp) st->skip = true;
  return 0;
}

static float original_coord(const cl_nn_resize *p, int a, int64_t o, int64_t in_len) {
  float s = p->scale[a], xo = (float)o;
  double out_len = p->out_len[a];
  switch (p->coord) {
  case CL_RS_HALF_PIXEL: return (xo + 0.5f) / s - 0.5f;
  case CL_RS_PYTORCH_HALF_PIXEL: return p->out[a] > 1 ? (xo + 0.5f) / s - 0.5f : 0.0f;
  case CL_RS_ALIGN_CORNERS:
    return out_len == 1.0 ? 0.0f : (float)((double)o * (double)(in_len - 1) / (out_len - 1.0));
  case CL_RS_TF_HALF_PIXEL_FOR_NN: return (xo + 0.5f) / s;
  case CL_RS_HALF_PIXEL_SYMMETRIC: {
    float adj = (float)p->out[a] / (s * (float)in_len), center = (float)in_len / 2.0f;
    return center * (1.0f - adj) + (xo + 0.5f) / s - 0.5f;
  }
  default: return xo / s;
  }
}

static int q_resize(vk_exe *e, vk_step *st) {
  const cl_node *n = &e->g->nodes[st->node];
  const cl_shape *xs = shp(e, st->in), *ys = shp(e, n->out[0]);
  cl_ival iv[4];
  for (int i = 0; i < 4; i++) {
    const cl_tensor *t = i == 0 ? NULL : pk_in(e, n, i);
    iv[i] = (cl_ival){.present = i < n->n_in && n->in[i] >= 0, .value = t};
    if (i < n->n_in && n->in[i] >= 0) {
      iv[i].dtype = e->g->values[n->in[i]].dtype;
      iv[i].shape = e->shape[n->in[i]];
    }
  }
  cl_nn_resize p;
  int rc = cl_nn_resize_params(e->ctx, e->g->opset, n, iv, n->n_in < 4 ? n->n_in : 4, &p);
  if (rc) return rc;
  int64_t total = numel(e, st->out);
  if (!total || !numel(e, st->in)) {
    st->skip = total == 0;
    if (!st->skip) return cl_node_err(e->ctx, n, CLEAVE_ESHAPE, "cannot resize an empty tensor");
    return 0;
  }
  int r = ys->ndim;
  loc x;
  if ((rc = locate(e, st->in, &x))) return rc;
  int32_t w[4 + 3 * CL_MAX_DIMS] = {(int32_t)total, x.off, (int32_t)e->v[vp_root(e, st->out)].off, r};
  int64_t xst[CL_MAX_DIMS];
  strides_of(xs, xst);
  int64_t base = vq_push(e, NULL, 4 + 3 * r);
  if (base < 0) return (int)base;
  for (int a = 0; a < r; a++) {
    int64_t in_len = xs->d[a], out_len = ys->d[a];
    int64_t tab = vq_push(e, NULL, 3 * out_len);
    if (tab < 0) return (int)tab;
    for (int64_t o = 0; o < out_len; o++) {
      int32_t *t = &e->params[tab + 3 * o];
      if (p.mode == CL_RS_NEAREST) {
        t[0] = t[1] = (int32_t)cl_nn_resize_nearest(&p, a, o, in_len);
        t[2] = 0;
        continue;
      }
      float xo = fminf(fmaxf(original_coord(&p, a, o, in_len), -2.0f), (float)in_len + 2.0f);
      float f = floorf(xo);
      int64_t i0 = (int64_t)f, i1 = i0 + 1;
      t[0] = (int32_t)(i0 < 0 ? 0 : i0 >= in_len ? in_len - 1 : i0);
      t[1] = (int32_t)(i1 < 0 ? 0 : i1 >= in_len ? in_len - 1 : i1);
      t[2] = vq_f(xo - f);
    }
    w[4 + 3 * a] = (int32_t)out_len;
    w[5 + 3 * a] = (int32_t)xst[a];
    w[6 + 3 * a] = (int32_t)(tab - base);
  }
  memcpy(e->params + base, w, sizeof(int32_t) * (size_t)(4 + 3 * r));
  uint32_t g[3];
  grid(total, 256, g);
  return add_disp(e, st, VS_RESIZE, NULL, 0, g, base);
}

int vq_step(vk_exe *e, vk_step *st) {
  if (!numel(e, st->out) && st->kind != VK_CONCAT) {
    st->skip = true;
    return 0;
  }
  switch (st->kind) {
  case VK_EW:
  case VK_BINARY: return q_ew(e, st);
  case VK_CONV:
  case VK_DWCONV: return q_conv(e, st);
  case VK_CONVT: return q_convt(e, st);
  case VK_MATMUL: return q_matmul(e, st);
  case VK_POOL: return q_pool(e, st);
  case VK_REDUCE: return q_reduce(e, st);
  case VK_SOFTMAX: return q_softmax(e, st);
  case VK_COPY: return q_copy(e, st);
  case VK_CONCAT: return q_concat(e, st);
  case VK_RESIZE: return q_resize(e, st);
  default: return 0;
  }
}
