/* tests/local: the gpu device (Vulkan compute) against the reference device: the fusions it makes, plans for new
 * shapes, honest refusals, its profile, and clean errors without a Vulkan driver, over a device-memory budget
 * and when host allocations fail. Tests that need a Vulkan device skip when there is none. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"
#include "test_alloc.h"

static uint32_t rng = 777;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / (float)(1u << 24) - 0.5f;
}

static void init_rand(tb_model *m, const char *name, int ndim, const int64_t *dims, float scale, float offset) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)dims[i];
  float *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = frand() * scale + offset;
  tb_init_f32(m, name, ndim, dims, d, n);
  free(d);
}

static void init_scalar(tb_model *m, const char *name, float v) {
  const int64_t one[] = {1};
  tb_init_f32(m, name, 1, one, &v, 1);
}

/* Conv+BN+HardSwish (Paddle's x*clip(x+3,0,6)/6), depthwise, a squeeze-excite block, ConvTranspose, pools,
 * Resize, Concat, Pad, Slice, Transpose, MatMul+bias, Gemm, Softmax, ReduceMean and a broadcast Sub. */
static uint8_t *patterns(size_t *len) {
  tb_model *m = tb_new(13);
  const int64_t dx[] = {-1, 3, -1, -1};
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
  tb_dim_name(m, 0, 2, "H");
  tb_dim_name(m, 0, 3, "W");
  const int64_t w1[] = {8, 3, 3, 3}, c8[] = {8}, wd[] = {8, 1, 3, 3}, ws1[] = {4, 8, 1, 1}, ws2[] = {8, 4, 1, 1},
                c4[] = {4}, wt[] = {8, 4, 2, 2}, wm[] = {12, 6}, c6[] = {6}, wg[] = {5, 6}, c5[] = {5},
                c811[] = {1, 8, 1, 1};
  init_rand(m, "w1", 4, w1, 0.6f, 0);
  init_rand(m, "b1", 1, c8, 0.2f, 0);
  init_rand(m, "bn_s", 1, c8, 0.5f, 1.0f);
  init_rand(m, "bn_b", 1, c8, 0.5f, 0);
  init_rand(m, "bn_m", 1, c8, 0.2f, 0);
  init_rand(m, "bn_v", 1, c8, 0.5f, 1.0f);
  init_scalar(m, "three", 3.0f);
  init_scalar(m, "zero", 0.0f);
  init_scalar(m, "six", 6.0f);
  init_rand(m, "wd", 4, wd, 0.6f, 0);
  init_rand(m, "k811", 4, c811, 1.0f, 0.5f);
  init_rand(m, "ws1", 4, ws1, 0.6f, 0);
  init_rand(m, "bs1", 1, c4, 0.2f, 0);
  init_rand(m, "ws2", 4, ws2, 0.6f, 0);
  init_rand(m, "bs2", 1, c8, 0.2f, 0);
  init_rand(m, "wt", 4, wt, 0.6f, 0);
  init_rand(m, "wm", 2, wm, 0.5f, 0);
  init_rand(m, "bm", 1, c6, 0.2f, 0);
  init_rand(m, "wg", 2, wg, 0.5f, 0);
  init_rand(m, "bg", 1, c5, 0.2f, 0);
  const int64_t pads[] = {0, 0, 1, 2, 0, 0, 2, 1}, i2[] = {2}, i4[] = {4}, i8[] = {8};
  const int64_t starts[] = {1, 0}, ends[] = {100, 3}, axes[] = {2, 1}, shp[] = {-1, 12};
  tb_init_i64(m, "pads", 1, i8, pads, 8);
  tb_init_i64(m, "starts", 1, i2, starts, 2);
  tb_init_i64(m, "ends", 1, i2, ends, 2);
  tb_init_i64(m, "axes", 1, i2, axes, 2);
  tb_init_i64(m, "shp", 1, i2, shp, 2);
  const float scales[] = {1, 1, 2, 2};
  tb_init_f32(m, "scales", 1, i4, scales, 4);
  tb_node *n;
  n = tb_add_node(m, "Conv", "x,w1,b1", "c1");
  tb_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  tb_add_node(m, "BatchNormalization", "c1,bn_s,bn_b,bn_m,bn_v", "bn");
  tb_add_node(m, "Add", "bn,three", "a3");
  tb_add_node(m, "Clip", "a3,zero,six", "cl");
  tb_add_node(m, "Mul", "bn,cl", "mu");
  tb_add_node(m, "Div", "mu,six", "hs");
  n = tb_add_node(m, "Conv", "hs,wd", "dw");
  tb_attr_int(n, "group", 8);
  tb_attr_ints(n, "strides", (const int64_t[]){2, 2}, 2);
  tb_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  tb_add_node(m, "Mul", "k811,dw", "dws");
  tb_add_node(m, "Relu", "dws", "dr");
  tb_add_node(m, "GlobalAveragePool", "dr", "gap");
  tb_add_node(m, "Conv", "gap,ws1,bs1", "s1");
  tb_add_node(m, "Relu", "s1", "s1r");
  tb_add_node(m, "Conv", "s1r,ws2,bs2", "s2");
  tb_add_node(m, "HardSigmoid", "s2", "s2h");
  tb_add_node(m, "Mul", "dr,s2h", "se");
  tb_add_node(m, "Add", "dr,se", "res");
  n = tb_add_node(m, "ConvTranspose", "res,wt", "up");
  tb_attr_ints(n, "strides", (const int64_t[]){2, 2}, 2);
  tb_attr_int(n, "group", 2);
  n = tb_add_node(m, "MaxPool", "up", "mp");
  tb_attr_ints(n, "kernel_shape", (const int64_t[]){3, 3}, 2);
  tb_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  n = tb_add_node(m, "AveragePool", "mp", "ap");
  tb_attr_ints(n, "kernel_shape", (const int64_t[]){2, 2}, 2);
  tb_attr_ints(n, "strides", (const int64_t[]){2, 2}, 2);
  n = tb_add_node(m, "Resize", "ap,,scales", "rs");
  tb_attr_str(n, "mode", "linear");
  n = tb_add_node(m, "Concat", "rs,hs", "cat");
  tb_attr_int(n, "axis", 1);
  tb_add_node(m, "Pad", "cat,pads", "pd");
  tb_add_node(m, "Slice", "pd,starts,ends,axes", "sl");
  tb_add_node(m, "ReduceMean", "sl", "rm");
  tb_attr_ints(tb_add_node(m, "ReduceMean", "sl", "rm2"), "axes", (const int64_t[]){1, 3}, 2);
  n = tb_add_node(m, "Transpose", "sl", "tr");
  tb_attr_ints(n, "perm", (const int64_t[]){0, 2, 3, 1}, 4);
  tb_add_node(m, "Sub", "sl,rm2", "cen");
  /* sequence head: [N*H'*W', 12] rows through MatMul+bias, Gemm (transB) and Softmax */
  tb_add_node(m, "Reshape", "tr,shp", "rows");
  (void)ws1;
  tb_add_node(m, "MatMul", "rows,wm", "mm");
  tb_add_node(m, "Add", "mm,bm", "mmb");
  tb_add_node(m, "Sigmoid", "mmb", "sg");
  tb_add_node(m, "Mul", "mmb,sg", "sw");
  n = tb_add_node(m, "Gemm", "sw,wg,bg", "gm");
  tb_attr_int(n, "transB", 1);
  tb_attr_float(n, "alpha", 0.5f);
  tb_add_node(m, "Softmax", "gm", "out1");
  tb_output(m, "out1");
  tb_output(m, "cen");
  tb_output(m, "rm");
  uint8_t *b = tb_pack(m, len);
  tb_free(m);
  return b;
}

static cleave_ctx *new_ctx(void) {
  cleave_ctx *ctx = NULL;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  return ctx;
}

static int open_session(cleave_ctx *ctx, cleave_model *m, const char *dev, int profile, cleave_session **s) {
  cleave_session_options *so;
  assert_int_equal(cleave_session_options_new(&so), 0);
  assert_int_equal(cleave_session_options_set_device(so, dev), 0);
  cleave_session_options_set_profiling(so, profile);
  int rc = cleave_session_new(ctx, m, so, s);
  cleave_session_options_free(so);
  return rc;
}

/* 1 when a gpu session can be made on this machine (a Vulkan device exists). */
static int have_gpu(void) {
  static int known = -1;
  if (known >= 0) return known;
  cleave_ctx *ctx = new_ctx();
  size_t len;
  uint8_t *b = patterns(&len);
  cleave_model *m = NULL;
  cleave_session *s = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  known = open_session(ctx, m, "gpu", 0, &s) == 0;
  if (!known) fprintf(stderr, "no gpu device here: %s\n", cleave_ctx_last_error(ctx));
  cleave_session_free(s);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  free(b);
  return known;
}

static void compare(const cleave_result *a, const cleave_result *b, double tol) {
  assert_int_equal(cleave_result_num_outputs(a), cleave_result_num_outputs(b));
  for (int i = 0; i < cleave_result_num_outputs(a); i++) {
    const cleave_tensor *x = cleave_result_output(a, i), *y = cleave_result_output(b, i);
    assert_int_equal(x->ndim, y->ndim);
    for (int d = 0; d < x->ndim; d++)
      assert_int_equal(x->dims[d], y->dims[d]);
    assert_int_equal(x->nbytes, y->nbytes);
    const float *p = x->data, *q = y->data;
    for (size_t k = 0; k < x->nbytes / 4; k++)
      if (!(fabsf(p[k] - q[k]) <= tol * (1.0f + fabsf(q[k]))))
        fail_msg("output %d element %zu: %g vs %g", i, k, p[k], q[k]);
  }
}

static void test_matches_ref_across_shapes(void **state) {
  (void)state;
  if (!have_gpu()) skip();
  cleave_ctx *ctx = new_ctx();
  size_t len;
  uint8_t *b = patterns(&len);
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  cleave_session *gs = NULL, *rs = NULL;
  assert_int_equal(open_session(ctx, m, "gpu", 1, &gs), 0);
  assert_int_equal(open_session(ctx, m, "ref", 0, &rs), 0);
  const int64_t shapes[][2] = {{12, 16}, {20, 8}, {12, 16}};
  cleave_result *gr = NULL;
  for (int t = 0; t < 3; t++) {
    int64_t h = shapes[t][0], w = shapes[t][1];
    size_t n = (size_t)(2 * 3 * h * w);
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
      x[i] = frand() * 4.0f;
    cleave_tensor in = {.name = "x",
                        .dtype = CLEAVE_DTYPE_FLOAT32,
                        .ndim = 4,
                        .dims = {2, 3, h, w},
                        .data = x,
                        .nbytes = n * sizeof(float)};
    cleave_result *rr = NULL;
    /* the same result object across shapes: the run reuses or regrows its buffers */
    assert_int_equal(cleave_run_into(gs, &in, 1, &gr), 0);
    assert_int_equal(cleave_run_sync(rs, &in, 1, &rr), 0);
    compare(gr, rr, 2e-4);
    cleave_result_free(rr);
    free(x);
  }
  /* the profile names fused steps by their ops, and every time is a GPU time >= 0 */
  int np = 0;
  const cleave_node_profile *p = cleave_result_profile(gr, &np);
  assert_true(np > 5);
  int fused = 0;
  for (int i = 0; i < np; i++) {
    assert_true(p[i].ms >= 0);
    assert_string_equal(p[i].device, "gpu");
    if (!strcmp(p[i].op, "Conv+BatchNormalization+Add+Clip+Mul+Div")) fused++;
  }
  assert_int_equal(fused, 1);
  cleave_result_free(gr);
  cleave_session_free(gs);
  cleave_session_free(rs);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* The GEMM's load and store paths: a ConvTranspose whose kernel is its stride (run as a GEMM that scatters its
 * results) with bias and a fused Relu, a 1x1 Conv read as vec4 rows when H*W is a multiple of 4 and element by
 * element when not, a 3x3 Conv (im2col), and batched MatMuls by constants: K and N not multiples of 4, then N a
 * multiple, then both. Two batches; image shapes that give both kinds of rows. */
static void test_gemm_paths(void **state) {
  (void)state;
  if (!have_gpu()) skip();
  tb_model *tm = tb_new(13);
  const int64_t dx[] = {2, 8, -1, -1}, wt[] = {8, 6, 2, 2}, c6[] = {6}, w1[] = {12, 6, 1, 1}, c12[] = {12},
                w3[] = {5, 12, 3, 3}, dy[] = {2, 3, 7}, wm[] = {7, 9}, wm2[] = {9, 16}, wm3[] = {16, 8},
                w0[] = {4, 8, 1, 1};
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
  tb_input(tm, "y", CLEAVE_DTYPE_FLOAT32, 3, dy);
  tb_dim_name(tm, 0, 2, "H");
  tb_dim_name(tm, 0, 3, "W");
  init_rand(tm, "wt", 4, wt, 0.6f, 0);
  init_rand(tm, "bt", 1, c6, 0.3f, 0);
  init_rand(tm, "w1", 4, w1, 0.6f, 0);
  init_rand(tm, "b1", 1, c12, 0.3f, 0);
  init_rand(tm, "w3", 4, w3, 0.4f, 0);
  init_rand(tm, "wm", 2, wm, 0.5f, 0);
  init_rand(tm, "wm2", 2, wm2, 0.5f, 0);
  init_rand(tm, "wm3", 2, wm3, 0.5f, 0);
  init_rand(tm, "w0", 4, w0, 0.5f, 0);
  tb_node *n = tb_add_node(tm, "ConvTranspose", "x,wt,bt", "up");
  tb_attr_ints(n, "strides", (const int64_t[]){2, 2}, 2);
  tb_add_node(tm, "Relu", "up", "upr");
  tb_add_node(tm, "Conv", "upr,w1,b1", "c1");
  n = tb_add_node(tm, "Conv", "c1,w3", "c3");
  tb_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  tb_add_node(tm, "MatMul", "y,wm", "mm");
  tb_add_node(tm, "MatMul", "mm,wm2", "mm2");
  tb_add_node(tm, "MatMul", "mm2,wm3", "mm3");
  tb_output(tm, "mm3");
  tb_output(tm, "c3");
  tb_add_node(tm, "Conv", "x,w0", "c0");
  tb_output(tm, "c0");
  size_t len;
  uint8_t *b = tb_pack(tm, &len);
  tb_free(tm);
  cleave_ctx *ctx = new_ctx();
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  cleave_session *gs = NULL, *rs = NULL;
  assert_int_equal(open_session(ctx, m, "gpu", 0, &gs), 0);
  assert_int_equal(open_session(ctx, m, "ref", 0, &rs), 0);
  /* H*W of x: 21, 16 and 10 (rows of x read as vec4s for 16 only); the ConvTranspose's output has 4*H*W */
  const int64_t shapes[][2] = {{3, 7}, {4, 4}, {5, 2}};
  float y[2 * 3 * 7];
  for (size_t i = 0; i < sizeof y / sizeof *y; i++)
    y[i] = frand() * 2.0f;
  for (int t = 0; t < 3; t++) {
    int64_t h = shapes[t][0], w = shapes[t][1];
    size_t cnt = (size_t)(2 * 8 * h * w);
    float *x = malloc(cnt * sizeof *x);
    for (size_t i = 0; i < cnt; i++)
      x[i] = frand() * 2.0f;
    cleave_tensor in[2] = {
        {.name = "x",
         .dtype = CLEAVE_DTYPE_FLOAT32,
         .ndim = 4,
         .dims = {2, 8, h, w},
         .data = x,
         .nbytes = cnt * sizeof(float)},
        {.name = "y", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 3, .dims = {2, 3, 7}, .data = y, .nbytes = sizeof y}};
    cleave_result *gr = NULL, *rr = NULL;
    int rc = cleave_run_sync(gs, in, 2, &gr);
    if (rc) fail_msg("shape %lldx%lld: %s", (long long)h, (long long)w, cleave_ctx_last_error(ctx));
    assert_int_equal(cleave_run_sync(rs, in, 2, &rr), 0);
    compare(gr, rr, 2e-4);
    cleave_result_free(gr);
    cleave_result_free(rr);
    free(x);
  }
  cleave_session_free(gs);
  cleave_session_free(rs);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* An op without a kernel: the session names node, op and reason; the cpu device still takes the model. */
static void test_unsupported_named(void **state) {
  (void)state;
  if (!have_gpu()) skip();
  tb_model *tm = tb_new(13);
  const int64_t d[] = {4, 5};
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, d);
  tb_add_node(tm, "ArgMax", "x", "y");
  tb_output(tm, "y");
  size_t len;
  uint8_t *b = tb_pack(tm, &len);
  tb_free(tm);
  cleave_ctx *ctx = new_ctx();
  cleave_model *m = NULL;
  cleave_session *s = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  assert_int_equal(open_session(ctx, m, "gpu", 0, &s), CLEAVE_EUNSUPPORTED);
  const char *msg = cleave_ctx_last_error(ctx);
  assert_non_null(strstr(msg, "n0"));
  assert_non_null(strstr(msg, "ArgMax"));
  assert_non_null(strstr(msg, "int64"));
  assert_int_equal(open_session(ctx, m, "cpu", 0, &s), 0);
  cleave_session_free(s);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* Over a device-memory budget, a run fails with CLEAVE_ENOMEM and says why; within it, the same model runs. */
static void test_device_memory_budget(void **state) {
  (void)state;
  if (!have_gpu()) skip();
  cleave_ctx *ctx = new_ctx();
  size_t len;
  uint8_t *b = patterns(&len);
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  size_t n = 2 * 3 * 96 * 96;
  float *x = calloc(n, sizeof *x);
  cleave_tensor in = {.name = "x",
                      .dtype = CLEAVE_DTYPE_FLOAT32,
                      .ndim = 4,
                      .dims = {2, 3, 96, 96},
                      .data = x,
                      .nbytes = n * sizeof(float)};
  setenv("CLEAVE_VULKAN_MAX_MEMORY", "1M", 1);
  cleave_session *s = NULL;
  cleave_result *r = NULL;
  assert_int_equal(open_session(ctx, m, "gpu", 0, &s), 0);
  int rc = cleave_run_sync(s, &in, 1, &r);
  if (rc != CLEAVE_ENOMEM) fail_msg("%d: %s", rc, cleave_ctx_last_error(ctx));
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "VK_ERROR_OUT_OF_DEVICE_MEMORY"));
  assert_null(r);
  /* a small input still fits */
  in.dims[2] = in.dims[3] = 8;
  in.nbytes = 2 * 3 * 8 * 8 * sizeof(float);
  assert_int_equal(cleave_run_sync(s, &in, 1, &r), 0);
  cleave_result_free(r);
  cleave_session_free(s);
  unsetenv("CLEAVE_VULKAN_MAX_MEMORY");
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  free(x);
}

/* Every host allocation of session creation and the first run failing in turn: CLEAVE_ENOMEM, nothing leaked. */
static void test_failing_allocations(void **state) {
  (void)state;
  if (!have_gpu()) skip();
  size_t len;
  uint8_t *b = patterns(&len);
  float x[2 * 3 * 6 * 6] = {0};
  cleave_tensor in = {
      .name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {2, 3, 6, 6}, .data = x, .nbytes = sizeof x};
  int ok = 0;
  for (long i = 0; !ok && i < 5000; i += 7) {
    tb_counter cnt = {.fail_at = -1};
    cleave_allocator a = tb_counting_allocator(&cnt);
    cleave_options *o;
    cleave_ctx *ctx = NULL;
    assert_int_equal(cleave_options_new(&o), 0);
    assert_int_equal(cleave_options_set_allocator(o, &a), 0);
    assert_int_equal(cleave_ctx_new(&ctx, NULL, o), 0);
    cleave_options_free(o);
    cleave_model *m = NULL;
    assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
    cnt.fail_at = cnt.allocs + i;
    cleave_session *s = NULL;
    cleave_result *r = NULL;
    int rc = open_session(ctx, m, "gpu", 1, &s);
    if (!rc) rc = cleave_run_sync(s, &in, 1, &r);
    if (rc) assert_int_equal(rc, CLEAVE_ENOMEM);
    ok = rc == 0;
    cleave_result_free(r);
    cleave_session_free(s);
    cleave_model_free(m);
    cleave_ctx_free(ctx);
  }
  assert_true(ok);
  free(b);
}

/* Run by ctest with the ICD hidden (VK_ICD_FILENAMES and VK_DRIVER_FILES naming no file): the gpu device is a
 * clean CLEAVE_ENODEVICE, and the cpu device still works. */
static void test_no_driver(void **state) {
  (void)state;
  cleave_ctx *ctx = new_ctx();
  size_t len;
  uint8_t *b = patterns(&len);
  cleave_model *m = NULL;
  cleave_session *s = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  int rc = open_session(ctx, m, "gpu", 0, &s);
  assert_true(rc == CLEAVE_ENODEVICE || rc == CLEAVE_EBACKEND);
  assert_null(s);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "gpu device"));
  assert_int_equal(open_session(ctx, m, "cpu", 0, &s), 0);
  cleave_session_free(s);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* Run by ctest with CLEAVE_VULKAN_DEVICE naming no device: CLEAVE_ENODEVICE, and the message lists them. */
static void test_no_match(void **state) {
  (void)state;
  cleave_ctx *ctx = new_ctx();
  size_t len;
  uint8_t *b = patterns(&len);
  cleave_model *m = NULL;
  cleave_session *s = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, b, len, NULL, &m), 0);
  free(b);
  assert_int_equal(open_session(ctx, m, "gpu", 0, &s), CLEAVE_ENODEVICE);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "gpu device"));
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

int main(int argc, char **argv) {
  /* the device is chosen once per process: the driver-less and no-match cases run as their own processes */
  if (argc > 1 && !strcmp(argv[1], "--no-driver")) {
    const struct CMUnitTest t[] = {cmocka_unit_test(test_no_driver)};
    return cmocka_run_group_tests(t, NULL, NULL);
  }
  if (argc > 1 && !strcmp(argv[1], "--no-match")) {
    const struct CMUnitTest t[] = {cmocka_unit_test(test_no_match)};
    return cmocka_run_group_tests(t, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_ref_across_shapes), cmocka_unit_test(test_gemm_paths),
      cmocka_unit_test(test_unsupported_named),         cmocka_unit_test(test_device_memory_budget),
      cmocka_unit_test(test_failing_allocations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
