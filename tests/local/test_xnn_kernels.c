/* tests/local: the XNNPACK backend's NHWC helper kernels against naive loops, on the calling thread and on a pool. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "local/xnnpack/kernels.h"

/* Each test runs once on the calling thread (NULL) and once on a real pool of two threads. */
static int setup(void **state) {
  pthreadpool_t tp = pthreadpool_create(2);
  if (!tp) return -1;
  *state = tp;
  return 0;
}

static int teardown(void **state) {
  pthreadpool_destroy(*state);
  return 0;
}

static uint32_t rng_state = 12345;

static uint32_t rng(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}

/* Values in [-2, 2) with few enough bits that sums of products stay exact-ish in float. */
static void fill(float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    x[i] = (float)((int)(rng() % 4096) - 2048) / 1024.0f;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* ---- transposes ---- */

static void check_transposes(pthreadpool_t tp, size_t n, size_t c, size_t hw) {
  size_t total = n * c * hw;
  float *src = xmalloc(total * sizeof(float)), *got = xmalloc(total * sizeof(float));
  float *want = xmalloc(total * sizeof(float));
  fill(src, total);

  for (size_t b = 0; b < n; b++)
    for (size_t ch = 0; ch < c; ch++)
      for (size_t p = 0; p < hw; p++)
        want[(b * hw + p) * c + ch] = src[(b * c + ch) * hw + p];
  memset(got, 0xff, total * sizeof(float));
  cl_xk_nchw_to_nhwc(tp, src, got, n, c, hw);
  if (total) assert_memory_equal(got, want, total * sizeof(float));

  for (size_t b = 0; b < n; b++)
    for (size_t ch = 0; ch < c; ch++)
      for (size_t p = 0; p < hw; p++)
        want[(b * c + ch) * hw + p] = src[(b * hw + p) * c + ch];
  memset(got, 0xff, total * sizeof(float));
  cl_xk_nhwc_to_nchw(tp, src, got, n, c, hw);
  if (total) assert_memory_equal(got, want, total * sizeof(float));

  free(src);
  free(got);
  free(want);
}

static void run_transposes(pthreadpool_t tp) {
  /* n, c, hw: empty and unit sizes, ragged 8x8 edges, image planes, and planes a multiple of 512 (staged) */
  static const size_t shapes[][3] = {{0, 3, 7},    {1, 0, 7},    {1, 3, 0},     {1, 1, 1},      {1, 3, 7},
                                     {2, 3, 7},    {1, 1, 100},  {3, 100, 1},   {1, 8, 8},      {2, 9, 17},
                                     {1, 64, 64},  {1, 65, 129}, {3, 24, 400},  {1, 24, 1024},  {2, 96, 512},
                                     {1, 9, 2048}, {1, 512, 20}, {1, 17, 1536}, {1, 96, 25600}, {2, 3, 50000}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    check_transposes(tp, shapes[i][0], shapes[i][1], shapes[i][2]);
}

static void test_transposes_caller(void **state) {
  (void)state;
  run_transposes(NULL);
}
static void test_transposes_pool(void **state) { run_transposes(*state); }

/* ---- concatenation ---- */

static void check_concat(pthreadpool_t tp, size_t outer, int n_src, const size_t *widths, size_t elsize) {
  const void *src[8];
  size_t row = 0, off = 0;
  for (int s = 0; s < n_src; s++)
    row += widths[s] * elsize;
  unsigned char *got = xmalloc(outer * row + 16), *want = xmalloc(outer * row + 16);
  for (int s = 0; s < n_src; s++) {
    size_t len = outer * widths[s] * elsize;
    unsigned char *p = xmalloc(len);
    for (size_t i = 0; i < len; i++)
      p[i] = (unsigned char)rng();
    src[s] = p;
  }
  for (int s = 0; s < n_src; s++) {
    size_t w = widths[s] * elsize;
    for (size_t o = 0; o < outer; o++)
      memcpy(want + o * row + off, (const unsigned char *)src[s] + o * w, w);
    off += w;
  }
  memset(got, 0xab, outer * row + 16);
  memset(want + outer * row, 0xab, 16); /* nothing written past the end */
  cl_xk_concat_inner(tp, outer, n_src, src, widths, elsize, got);
  assert_memory_equal(got, want, outer * row + 16);
  for (int s = 0; s < n_src; s++)
    free((void *)src[s]);
  free(got);
  free(want);
}

static void run_concat(pthreadpool_t tp) {
  static const size_t w1[] = {1}, w2[] = {3, 5}, w3[] = {0, 7, 0}, w4[] = {24, 24, 24, 24}, w5[] = {1, 2, 3, 4, 5};
  static const size_t wl[] = {5000, 7, 4000}, wm[] = {96, 17, 1};
  static const size_t elsizes[] = {1, 4, 8};
  static const size_t outers[] = {0, 1, 7, 1000, 25600};
  for (size_t e = 0; e < 3; e++)
    for (size_t o = 0; o < sizeof outers / sizeof outers[0]; o++) {
      size_t es = elsizes[e], out = outers[o];
      check_concat(tp, out, 1, w1, es);
      check_concat(tp, out, 2, w2, es);
      check_concat(tp, out, 3, w3, es);
      check_concat(tp, out, 4, w4, es);
      check_concat(tp, out, 5, w5, es);
      check_concat(tp, out, 3, wm, es);
      if (out <= 7) check_concat(tp, out, 3, wl, es); /* rows longer than one task's piece */
    }
  check_concat(tp, 0, 0, NULL, 4);
  check_concat(tp, 5, 0, NULL, 4);
}

static void test_concat_caller(void **state) {
  (void)state;
  run_concat(NULL);
}
static void test_concat_pool(void **state) { run_concat(*state); }

/* ---- nearest resize ---- */

enum { MAP_UP2, MAP_DOWN, MAP_RANDOM };

static void make_map(int32_t *idx, size_t out, size_t in, int how) {
  for (size_t i = 0; i < out; i++) {
    size_t v = how == MAP_UP2 ? i / 2 : how == MAP_DOWN ? i * in / out : rng() % in;
    idx[i] = (int32_t)(v < in ? v : in - 1);
  }
}

static void check_resize(pthreadpool_t tp, size_t batch, size_t ih, size_t iw, size_t oh, size_t ow, size_t c,
                         int how) {
  size_t in_n = batch * ih * iw * c, out_n = batch * oh * ow * c;
  float *src = xmalloc(in_n * sizeof(float)), *got = xmalloc(out_n * sizeof(float));
  float *want = xmalloc(out_n * sizeof(float));
  int32_t *iy = xmalloc(oh * sizeof(int32_t)), *ix = xmalloc(ow * sizeof(int32_t));
  fill(src, in_n);
  make_map(iy, oh, ih, how);
  make_map(ix, ow, iw, how);
  for (size_t b = 0; b < batch; b++)
    for (size_t y = 0; y < oh; y++)
      for (size_t x = 0; x < ow; x++)
        for (size_t ch = 0; ch < c; ch++)
          want[((b * oh + y) * ow + x) * c + ch] = src[((b * ih + (size_t)iy[y]) * iw + (size_t)ix[x]) * c + ch];
  memset(got, 0xff, out_n * sizeof(float));
  cl_xk_resize_nearest_nhwc(tp, src, got, batch, ih, iw, oh, ow, c, iy, ix);
  if (out_n) assert_memory_equal(got, want, out_n * sizeof(float));
  free(src);
  free(got);
  free(want);
  free(iy);
  free(ix);
}

static void run_resize(pthreadpool_t tp) {
  static const size_t shapes[][6] = {/* batch, ih, iw, oh, ow, c */
                                     {0, 2, 2, 4, 4, 3},      {1, 1, 1, 1, 1, 1},        {1, 1, 1, 5, 3, 2},
                                     {1, 3, 4, 6, 8, 1},      {2, 3, 4, 6, 8, 3},        {1, 7, 5, 14, 10, 5},
                                     {2, 40, 40, 80, 80, 96}, {1, 160, 160, 80, 80, 24}, {1, 9, 11, 4, 3, 17},
                                     {1, 4, 4, 0, 4, 3},      {1, 4, 4, 4, 4, 0}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int how = MAP_UP2; how <= MAP_RANDOM; how++) {
      const size_t *s = shapes[i];
      if (how == MAP_UP2 && (s[3] > 2 * s[1] || s[4] > 2 * s[2])) continue;
      check_resize(tp, s[0], s[1], s[2], s[3], s[4], s[5], how);
    }
}

static void test_resize_caller(void **state) {
  (void)state;
  run_resize(NULL);
}
static void test_resize_pool(void **state) { run_resize(*state); }

/* ---- matmul ---- */

static void check_matmul(pthreadpool_t tp, size_t batch, size_t m, size_t n, size_t k, int bcast_a, int bcast_b) {
  size_t a_stride = bcast_a ? 0 : m * k, b_stride = bcast_b ? 0 : k * n;
  size_t a_n = (bcast_a ? 1 : batch) * m * k, b_n = (bcast_b ? 1 : batch) * k * n, c_n = batch * m * n;
  float *a = xmalloc(a_n * sizeof(float)), *b = xmalloc(b_n * sizeof(float));
  float *c = xmalloc((c_n + 16) * sizeof(float));
  fill(a, a_n);
  fill(b, b_n);
  for (size_t i = 0; i < c_n + 16; i++)
    c[i] = 1234.5f;
  cl_xk_matmul(tp, batch, m, n, k, a, a_stride, b, b_stride, c);
  for (size_t bi = 0; bi < batch; bi++)
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double sum = 0, mag = 0;
        for (size_t p = 0; p < k; p++) {
          double t = (double)a[bi * a_stride + i * k + p] * b[bi * b_stride + p * n + j];
          sum += t;
          mag += fabs(t);
        }
        double got = c[(bi * m + i) * n + j];
        if (fabs(got - sum) > 1e-4 * mag + 1e-30)
          fail_msg("batch %zu m %zu n %zu k %zu: c[%zu][%zu][%zu] = %g, want %g", batch, m, n, k, bi, i, j, got, sum);
      }
  for (size_t i = c_n; i < c_n + 16; i++)
    assert_true(c[i] == 1234.5f);
  free(a);
  free(b);
  free(c);
}

static void run_matmul(pthreadpool_t tp) {
  static const size_t shapes[][4] = {
      /* batch, m, n, k */
      {0, 4, 4, 4},    {1, 0, 4, 4},     {1, 4, 0, 4},       {1, 4, 4, 0},  {3, 5, 7, 0},   {1, 1, 1, 1},
      {1, 1, 1, 300},  {1, 1, 200, 256}, {1, 200, 1, 256},   {2, 3, 7, 5},  {1, 9, 17, 33}, {8, 40, 40, 32},
      {8, 40, 32, 40}, {6, 25, 25, 64},  {1, 200, 200, 256}, {2, 8, 48, 8}, {1, 13, 49, 3}, {1, 130, 97, 300},
      {4, 7, 16, 1},   {1, 6, 16, 16},   {1, 17, 95, 1000}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const size_t *s = shapes[i];
    check_matmul(tp, s[0], s[1], s[2], s[3], 0, 0);
    check_matmul(tp, s[0], s[1], s[2], s[3], 1, 0);
    check_matmul(tp, s[0], s[1], s[2], s[3], 0, 1);
  }
}

static void test_matmul_caller(void **state) {
  (void)state;
  run_matmul(NULL);
}
static void test_matmul_pool(void **state) { run_matmul(*state); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transposes_caller), cmocka_unit_test(test_transposes_pool),
      cmocka_unit_test(test_concat_caller),     cmocka_unit_test(test_concat_pool),
      cmocka_unit_test(test_resize_caller),     cmocka_unit_test(test_resize_pool),
      cmocka_unit_test(test_matmul_caller),     cmocka_unit_test(test_matmul_pool),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
