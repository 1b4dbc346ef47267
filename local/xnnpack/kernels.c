/* local/xnnpack: NHWC helper kernels (layout changes, joins, nearest resize, batched matmul). Elementwise chains
 * are in ew.c.
 *
 * The build targets generic x86-64, so the hot loops pick their instruction set at run time: intrinsics under
 * target attributes for the transposes and the matmul, whose shuffles and register blocking the compiler does not
 * find by itself. Other architectures take the portable paths. */
#include "local/xnnpack/kernels.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define XK_X86 1
#include <immintrin.h>
#else
#define XK_X86 0
#endif

/* Instruction sets with a kernel of their own. CL_XK_MAX_ISA caps the choice at build time, which is how the
 * portable paths get tested on a machine that has AVX-512. */
enum { ISA_PORTABLE, ISA_AVX2, ISA_AVX512 };
#ifndef CL_XK_MAX_ISA
#define CL_XK_MAX_ISA ISA_AVX512
#endif

static int best_isa(void) {
#if XK_X86
  if (CL_XK_MAX_ISA >= ISA_AVX512 && __builtin_cpu_supports("avx512f")) return ISA_AVX512;
  if (CL_XK_MAX_ISA >= ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
  return ISA_PORTABLE;
}

/* Waking the pool's workers costs about a microsecond; two threads measured faster only from these sizes up
 * (about 2 us of work). */
#define MIN_PARALLEL_BYTES ((size_t)64 * 1024)
#define MIN_PARALLEL_FLOPS ((size_t)256 * 1024)

static pthreadpool_t pool_for(pthreadpool_t tp, size_t work, size_t min) { return work >= min ? tp : NULL; }

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Copies of a few bytes are frequent here (a pixel's channels, a slice of a row); fixed-size memcpy calls compile
 * to plain moves, where a call to the library memcpy would cost more than the copy. */
static inline void copy_bytes(unsigned char *d, const unsigned char *s, size_t n) {
  if (n > 512) {
    memcpy(d, s, n);
  } else if (n >= 32) {
    for (size_t i = 0; i + 32 < n; i += 32)
      memcpy(d + i, s + i, 32);
    memcpy(d + n - 32, s + n - 32, 32);
  } else if (n >= 16) {
    memcpy(d, s, 16);
    memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    memcpy(d, s, 8);
    memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    memcpy(d, s, 4);
    memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  }
}

/* ---- transposes: one [rows][cols] -> [cols][rows] matrix per batch element ---- */

/* A tile spans the whole of a short side (up to TR_WHOLE), so that every cache line on either side is read or
 * written completely by one task and never comes back from L3 half done; the long side then gets TR_TILE_ELEMS /
 * short side elements. */
#define TR_TILE_ELEMS 16384
#define TR_WHOLE 256
#define TR_SQUARE 64

/* The short side is the inner loop, so that the long side is one sequential stream. */
static void transpose_portable(const float *restrict s, size_t ls, float *restrict d, size_t ld, size_t nr,
                               size_t nc) {
  if (nr == 3) { /* image planes to interleaved pixels */
    for (size_t j = 0; j < nc; j++) {
      d[j * ld] = s[j];
      d[j * ld + 1] = s[ls + j];
      d[j * ld + 2] = s[2 * ls + j];
    }
  } else if (nc == 3) {
    for (size_t i = 0; i < nr; i++) {
      d[i] = s[i * ls];
      d[ld + i] = s[i * ls + 1];
      d[2 * ld + i] = s[i * ls + 2];
    }
  } else if (nr <= nc) {
    for (size_t j = 0; j < nc; j++)
      for (size_t i = 0; i < nr; i++)
        d[j * ld + i] = s[i * ls + j];
  } else {
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < nc; j++)
        d[j * ld + i] = s[i * ls + j];
  }
}

#if XK_X86
/* 8x8 block: each register holds four columns of row r in its low half and of row r+4 in its high half, so a 4x4
 * transpose within the halves gives whole output rows without a cross-lane shuffle. */
__attribute__((target("avx"))) static inline void t8x8_avx(const float *s, size_t ls, float *d, size_t ld) {
  __m256 r[8];
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + i * ls)), _mm_loadu_ps(s + (i + 4) * ls), 1);
    r[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + i * ls + 4)),
                                    _mm_loadu_ps(s + (i + 4) * ls + 4), 1);
  }
  for (int h = 0; h < 8; h += 4) {
    __m256 t0 = _mm256_unpacklo_ps(r[h], r[h + 1]), t1 = _mm256_unpackhi_ps(r[h], r[h + 1]);
    __m256 t2 = _mm256_unpacklo_ps(r[h + 2], r[h + 3]), t3 = _mm256_unpackhi_ps(r[h + 2], r[h + 3]);
    _mm256_storeu_ps(d + (h + 0) * ld, _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_storeu_ps(d + (h + 1) * ld, _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_storeu_ps(d + (h + 2) * ld, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(d + (h + 3) * ld, _mm256_shuffle_ps(t1, t3, 0xEE));
  }
}

/* 8x8 blocks in 16x16 groups, so that each cache line read or written is finished within two blocks. Rows a
 * multiple of 4 KiB apart share one L1 set and evict each other after eight, so the side with the longer rows
 * goes first: its lines are finished by consecutive blocks, before the next eight rows come in. */
__attribute__((target("avx"))) static void transpose_avx(const float *restrict s, size_t ls, float *restrict d,
                                                         size_t ld, size_t nr, size_t nc) {
  size_t nr8 = nr & ~(size_t)7, nc8 = nc & ~(size_t)7;
  for (size_t i = 0; i < nr8; i += 16)
    for (size_t j = 0; j < nc8; j += 16) {
      size_t ie = i + 16 < nr8 ? i + 16 : nr8, je = j + 16 < nc8 ? j + 16 : nc8;
      if (ls >= ld) {
        for (size_t ii = i; ii < ie; ii += 8)
          for (size_t jj = j; jj < je; jj += 8)
            t8x8_avx(s + ii * ls + jj, ls, d + jj * ld + ii, ld);
      } else {
        for (size_t jj = j; jj < je; jj += 8)
          for (size_t ii = i; ii < ie; ii += 8)
            t8x8_avx(s + ii * ls + jj, ls, d + jj * ld + ii, ld);
      }
    }
  if (nc8 < nc) transpose_portable(s + nc8, ls, d + nc8 * ld, ld, nr8, nc - nc8);
  if (nr8 < nr) transpose_portable(s + nr8 * ls, ls, d + nr8, ld, nr - nr8, nc);
}

#endif

struct transpose_ctx {
  const float *src;
  float *dst;
  size_t rows, cols;
  int isa;
};

static void transpose_block(int isa, const float *s, size_t ls, float *d, size_t ld, size_t nr, size_t nc) {
#if XK_X86
  if (isa >= ISA_AVX2) {
    transpose_avx(s, ls, d, ld, nr, nc);
    return;
  }
#endif
  transpose_portable(s, ls, d, ld, nr, nc);
}

/* Output rows a multiple of 2 KiB apart crowd into a few L1 sets (every plane whose size is a multiple of 512, as
 * in detection models) and evict each other half written; when the matrix lives in L2, such tiles go through a
 * stack buffer and leave it row by row. Measured on Zen 4: 1.4x faster for 24x25600 and 96x1024, but 1.3x slower
 * for 96x25600, which streams from L3 and gains from spreading its writes, hence the size limit. Staging the
 * input the same way was slower everywhere. */
#define TR_STAGE 4096
#define TR_STAGE_MAX_PLANE ((size_t)1 << 20)

static int crowded(size_t stride, size_t plane) { return stride % 512 == 0 && plane <= TR_STAGE_MAX_PLANE; }

static void transpose_task(void *p, size_t b, size_t r0, size_t c0, size_t nr, size_t nc) {
  const struct transpose_ctx *t = p;
  size_t plane = t->rows * t->cols, ls = t->cols, ld = t->rows;
  const float *s = t->src + b * plane + r0 * ls + c0;
  float *d = t->dst + b * plane + c0 * ld + r0;
  float buf[TR_STAGE];
  if (crowded(ld, plane) && nc >= 8 && nc * 16 <= TR_STAGE) {
    size_t step = TR_STAGE / nc & ~(size_t)15;
    for (size_t i = 0; i < nr; i += step) {
      size_t n = nr - i < step ? nr - i : step;
      transpose_block(t->isa, s + i * ls, ls, buf, n, n, nc);
      for (size_t j = 0; j < nc; j++)
        copy_bytes((unsigned char *)(d + j * ld + i), (const unsigned char *)(buf + j * n), n * sizeof(float));
    }
  } else {
    transpose_block(t->isa, s, ls, d, ld, nr, nc);
  }
}

struct copy_ctx {
  const unsigned char *src;
  unsigned char *dst;
  size_t len;
};

#define COPY_CHUNK ((size_t)64 * 1024)

static void copy_task(void *p, size_t chunk) {
  const struct copy_ctx *x = p;
  size_t off = chunk * COPY_CHUNK;
  size_t len = x->len - off < COPY_CHUNK ? x->len - off : COPY_CHUNK;
  memcpy(x->dst + off, x->src + off, len);
}

static void parallel_copy(pthreadpool_t tp, void *dst, const void *src, size_t len) {
  struct copy_ctx x = {src, dst, len};
  pthreadpool_parallelize_1d(tp, copy_task, &x, (len + COPY_CHUNK - 1) / COPY_CHUNK, 0);
}

static void transpose(pthreadpool_t tp, const float *src, float *dst, size_t batch, size_t rows, size_t cols) {
  size_t total = batch * rows * cols;
  if (total == 0) return;
  tp = pool_for(tp, total * sizeof(float), MIN_PARALLEL_BYTES);
  if (rows == 1 || cols == 1) {
    parallel_copy(tp, dst, src, total * sizeof(float));
    return;
  }
  struct transpose_ctx t = {src, dst, rows, cols, best_isa()};
  size_t short_side = rows < cols ? rows : cols;
  size_t ts = short_side <= TR_WHOLE ? short_side : TR_SQUARE;
  size_t tl = max_sz(16, TR_TILE_ELEMS / ts / 16 * 16);
  size_t threads = tp ? pthreadpool_get_threads_count(tp) : 1;
  if (threads > 1) { /* a few tiles per thread */
    size_t share = (rows < cols ? cols : rows) / (4 * threads);
    if (share < tl) tl = max_sz(16, (share + 15) / 16 * 16);
  }
  pthreadpool_parallelize_3d_tile_2d(tp, transpose_task, &t, batch, rows, cols, rows < cols ? ts : tl,
                                     rows < cols ? tl : ts, 0);
}

void cl_xk_nchw_to_nhwc(pthreadpool_t tp, const float *src, float *dst, size_t n, size_t c, size_t hw) {
  transpose(tp, src, dst, n, c, hw);
}

void cl_xk_nhwc_to_nchw(pthreadpool_t tp, const float *src, float *dst, size_t n, size_t c, size_t hw) {
  transpose(tp, src, dst, n, hw, c);
}

/* ---- concatenation along the innermost axis ---- */

/* Rows longer than this are split into pieces, so that few long rows still spread over the pool. */
#define CAT_PIECE ((size_t)32 * 1024)

struct concat_ctx {
  const void *const *src;
  const size_t *widths;
  int n_src;
  size_t elsize, row_bytes;
  unsigned char *dst;
};

/* Rows [r0, r0+nr), each written whole, front to back: measured 1.6x faster than source by source when the
 * output does not fit in L2, as every output line is finished in one visit. */
static void concat_rows_task(void *p, size_t r0, size_t nr) {
  const struct concat_ctx *x = p;
  for (size_t r = r0; r < r0 + nr; r++) {
    unsigned char *dst = x->dst + r * x->row_bytes;
    for (int s = 0; s < x->n_src; s++) {
      size_t w = x->widths[s] * x->elsize;
      copy_bytes(dst, (const unsigned char *)x->src[s] + r * w, w);
      dst += w;
    }
  }
}

/* Bytes [piece*CAT_PIECE, +CAT_PIECE) of row r, from whichever sources cover them. */
static void concat_piece_task(void *p, size_t r, size_t piece) {
  const struct concat_ctx *x = p;
  size_t lo = piece * CAT_PIECE, hi = lo + CAT_PIECE < x->row_bytes ? lo + CAT_PIECE : x->row_bytes;
  size_t off = 0;
  for (int s = 0; s < x->n_src && off < hi; s++) {
    size_t w = x->widths[s] * x->elsize;
    size_t a = lo > off ? lo : off, b = off + w < hi ? off + w : hi;
    if (a < b) memcpy(x->dst + r * x->row_bytes + a, (const unsigned char *)x->src[s] + r * w + (a - off), b - a);
    off += w;
  }
}

void cl_xk_concat_inner(pthreadpool_t tp, size_t outer, int n_src, const void *const *src, const size_t *widths,
                        size_t elsize, void *dst) {
  struct concat_ctx x = {src, widths, n_src, elsize, 0, dst};
  for (int s = 0; s < n_src; s++)
    x.row_bytes += widths[s] * elsize;
  if (outer == 0 || x.row_bytes == 0) return;
  tp = pool_for(tp, outer * x.row_bytes, MIN_PARALLEL_BYTES);
  if (x.row_bytes > CAT_PIECE) {
    pthreadpool_parallelize_2d(tp, concat_piece_task, &x, outer, (x.row_bytes + CAT_PIECE - 1) / CAT_PIECE, 0);
    return;
  }
  size_t tile = max_sz(1, CAT_PIECE / x.row_bytes);
  pthreadpool_parallelize_1d_tile_1d(tp, concat_rows_task, &x, outer, tile, 0);
}

/* ---- nearest-neighbour resize, NHWC ---- */

struct resize_ctx {
  const float *src;
  float *dst;
  size_t ih, iw, oh, ow, c;
  const int32_t *iy, *ix;
};

/* Output rows [y0, y0+ny) of one image; a row that reads the same input row as the one before it is a copy of it,
 * which is most rows when upscaling. */
static void resize_task(void *p, size_t b, size_t y0, size_t ny) {
  const struct resize_ctx *x = p;
  size_t in_row = x->iw * x->c, out_row = x->ow * x->c, px = x->c * sizeof(float);
  const float *img = x->src + b * x->ih * in_row;
  for (size_t oy = y0; oy < y0 + ny; oy++) {
    float *d = x->dst + (b * x->oh + oy) * out_row;
    if (oy > y0 && x->iy[oy] == x->iy[oy - 1]) {
      memcpy(d, d - out_row, out_row * sizeof(float));
      continue;
    }
    const float *s = img + (size_t)x->iy[oy] * in_row;
    if (x->c == 1) {
      for (size_t ox = 0; ox < x->ow; ox++)
        d[ox] = s[x->ix[ox]];
    } else {
      for (size_t ox = 0; ox < x->ow; ox++)
        copy_bytes((unsigned char *)(d + ox * x->c), (const unsigned char *)(s + (size_t)x->ix[ox] * x->c), px);
    }
  }
}

void cl_xk_resize_nearest_nhwc(pthreadpool_t tp, const float *src, float *dst, size_t batch, size_t ih, size_t iw,
                               size_t oh, size_t ow, size_t c, const int32_t *iy, const int32_t *ix) {
  struct resize_ctx x = {src, dst, ih, iw, oh, ow, c, iy, ix};
  size_t row_bytes = ow * c * sizeof(float);
  if (batch == 0 || oh == 0 || row_bytes == 0) return;
  tp = pool_for(tp, batch * oh * row_bytes, MIN_PARALLEL_BYTES);
  pthreadpool_parallelize_2d_tile_1d(tp, resize_task, &x, batch, oh, max_sz(2, CAT_PIECE / row_bytes), 0);
}

/* ---- batched matmul ----
 *
 * Each task computes one mr x nr block of C over the whole of k with the block in registers, reading A and B in
 * place: for the attention shapes this is written for (m, n <= 200, k <= 256), B fits in L2 and packing it would
 * cost more than it saves. */

typedef void (*mm_tile_fn)(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                           size_t mr, size_t nr);

#define MM_PORT_MR 4
#define MM_PORT_NR 16

static void mm_tile_portable(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                             size_t mr, size_t nr) {
  float acc[MM_PORT_MR][MM_PORT_NR] = {{0}};
  if (mr == MM_PORT_MR && nr == MM_PORT_NR) {
    for (size_t p = 0; p < k; p++)
      for (int i = 0; i < MM_PORT_MR; i++) {
        float av = a[i * lda + p];
        for (int j = 0; j < MM_PORT_NR; j++)
          acc[i][j] += av * b[p * ldb + j];
      }
  } else {
    for (size_t p = 0; p < k; p++)
      for (size_t i = 0; i < mr; i++) {
        float av = a[i * lda + p];
        for (size_t j = 0; j < nr; j++)
          acc[i][j] += av * b[p * ldb + j];
      }
  }
  for (size_t i = 0; i < mr; i++)
    memcpy(c + i * ldc, acc[i], nr * sizeof(float));
}

#if XK_X86
/* AVX2: 6 rows x 16 columns, 12 accumulators of the 16 registers. */
#define MM_AVX2_MR 6
#define MM_AVX2_NR 16

static const int32_t lane_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

__attribute__((always_inline, target("avx2,fma"))) static inline void
mm_avx2(int MR, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, size_t nr) {
  __m256 acc[MM_AVX2_MR][2];
  __m256i m0 = _mm256_loadu_si256((const __m256i *)(lane_mask + 8 - (nr < 8 ? nr : 8)));
  __m256i m1 = _mm256_loadu_si256((const __m256i *)(lane_mask + 8 - (nr > 8 ? nr - 8 : 0)));
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++)
    acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  if (nr == MM_AVX2_NR) {
    for (size_t p = 0; p < k; p++) {
      __m256 b0 = _mm256_loadu_ps(b + p * ldb), b1 = _mm256_loadu_ps(b + p * ldb + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        __m256 av = _mm256_broadcast_ss(a + i * lda + p);
        acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
      }
    }
  } else {
    for (size_t p = 0; p < k; p++) {
      __m256 b0 = _mm256_maskload_ps(b + p * ldb, m0), b1 = _mm256_maskload_ps(b + p * ldb + 8, m1);
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        __m256 av = _mm256_broadcast_ss(a + i * lda + p);
        acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
      }
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    _mm256_maskstore_ps(c + i * ldc, m0, acc[i][0]);
    _mm256_maskstore_ps(c + i * ldc + 8, m1, acc[i][1]);
  }
}

#define MM_AVX2_FN(R)                                                                                                \
  __attribute__((target("avx2,fma"))) static void mm_avx2_##R(size_t k, const float *a, size_t lda, const float *b,  \
                                                              size_t ldb, float *c, size_t ldc, size_t nr) {         \
    mm_avx2(R, k, a, lda, b, ldb, c, ldc, nr);                                                                       \
  }
MM_AVX2_FN(1)
MM_AVX2_FN(2)
MM_AVX2_FN(3)
MM_AVX2_FN(4)
MM_AVX2_FN(5)
MM_AVX2_FN(6)

static void mm_tile_avx2(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                         size_t mr, size_t nr) {
  static void (*const fn[MM_AVX2_MR])(size_t, const float *, size_t, const float *, size_t, float *, size_t,
                                      size_t) = {mm_avx2_1, mm_avx2_2, mm_avx2_3, mm_avx2_4, mm_avx2_5, mm_avx2_6};
  fn[mr - 1](k, a, lda, b, ldb, c, ldc, nr);
}

/* AVX-512: 8 rows x 48 columns, 24 accumulators of the 32 registers; ragged edges are masked loads and stores. */
#define MM_512_MR 8
#define MM_512_NV 3
#define MM_512_NR (16 * MM_512_NV)

__attribute__((always_inline, target("avx512f"))) static inline void mm_512(int MR, int NV, size_t k, const float *a,
                                                                            size_t lda, const float *b, size_t ldb,
                                                                            float *c, size_t ldc, __mmask16 last) {
  __m512 acc[MM_512_MR][MM_512_NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++)
      acc[i][v] = _mm512_setzero_ps();
  for (size_t p = 0; p < k; p++) {
    __m512 bv[MM_512_NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV - 1; v++)
      bv[v] = _mm512_loadu_ps(b + p * ldb + 16 * v);
    bv[NV - 1] = _mm512_maskz_loadu_ps(last, b + p * ldb + 16 * (NV - 1));
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      __m512 av = _mm512_set1_ps(a[i * lda + p]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; v++)
        acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 3
    for (int v = 0; v < NV - 1; v++)
      _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
    _mm512_mask_storeu_ps(c + i * ldc + 16 * (NV - 1), last, acc[i][NV - 1]);
  }
}

typedef void (*mm_512_fn)(size_t, const float *, size_t, const float *, size_t, float *, size_t, __mmask16);
#define MM_512_FN(R, V)                                                                                              \
  __attribute__((target("avx512f"))) static void mm_512_##R##_##V(                                                   \
      size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, __mmask16 last) {      \
    mm_512(R, V, k, a, lda, b, ldb, c, ldc, last);                                                                   \
  }
#define MM_512_ROW(R) MM_512_FN(R, 1) MM_512_FN(R, 2) MM_512_FN(R, 3)
MM_512_ROW(1)
MM_512_ROW(2)
MM_512_ROW(3)
MM_512_ROW(4)
MM_512_ROW(5)
MM_512_ROW(6)
MM_512_ROW(7)
MM_512_ROW(8)
#define MM_512_ENTRY(R)                                                                                              \
  { mm_512_##R##_1, mm_512_##R##_2, mm_512_##R##_3 }

static void mm_tile_512(size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                        size_t mr, size_t nr) {
  static const mm_512_fn fn[MM_512_MR][MM_512_NV] = {MM_512_ENTRY(1), MM_512_ENTRY(2), MM_512_ENTRY(3),
                                                     MM_512_ENTRY(4), MM_512_ENTRY(5), MM_512_ENTRY(6),
                                                     MM_512_ENTRY(7), MM_512_ENTRY(8)};
  size_t nv = (nr + 15) / 16;
  __mmask16 last = (__mmask16)(0xFFFFu >> (16 * nv - nr));
  fn[mr - 1][nv - 1](k, a, lda, b, ldb, c, ldc, last);
}
#endif

struct mm_ctx {
  const float *a, *b;
  float *c;
  size_t m, n, k, a_stride, b_stride;
  mm_tile_fn tile;
};

static void mm_task(void *p, size_t bi, size_t i0, size_t j0, size_t mr, size_t nr) {
  const struct mm_ctx *x = p;
  x->tile(x->k, x->a + bi * x->a_stride + i0 * x->k, x->k, x->b + bi * x->b_stride + j0, x->n,
          x->c + (bi * x->m + i0) * x->n + j0, x->n, mr, nr);
}

void cl_xk_matmul(pthreadpool_t tp, size_t batch, size_t m, size_t n, size_t k, const float *a, size_t a_stride,
                  const float *bm, size_t b_stride, float *c) {
  struct mm_ctx x = {a, bm, c, m, n, k, a_stride, b_stride, mm_tile_portable};
  size_t mr = MM_PORT_MR, nr = MM_PORT_NR;
  if (batch == 0 || m == 0 || n == 0) return;
#if XK_X86
  int isa = best_isa();
  if (isa == ISA_AVX512) {
    x.tile = mm_tile_512;
    mr = MM_512_MR;
    nr = MM_512_NR;
  } else if (isa == ISA_AVX2) {
    x.tile = mm_tile_avx2;
    mr = MM_AVX2_MR;
    nr = MM_AVX2_NR;
  }
#endif
  tp = pool_for(tp, 2 * batch * m * n * max_sz(k, 1), MIN_PARALLEL_FLOPS);
  pthreadpool_parallelize_3d_tile_2d(tp, mm_task, &x, batch, m, n, mr, nr, 0);
}
