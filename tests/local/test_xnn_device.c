/* tests/local: the cpu device (XNNPACK) against the reference device, its plans, its steady-state run path and its
 * profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"
#include "test_alloc.h"

/* ---- a counting allocator ---- */

typedef tb_counter counter;

static cleave_ctx *counting_ctx(counter *cnt) {
  cleave_allocator a = tb_counting_allocator(cnt);
  cleave_options *o;
  cleave_ctx *ctx = NULL;
  assert_int_equal(cleave_options_new(&o), 0);
  assert_int_equal(cleave_options_set_allocator(o, &a), 0);
  assert_int_equal(cleave_ctx_new(&ctx, NULL, o), 0);
  cleave_options_free(o);
  return ctx;
}

/* ---- a model with every pattern the cpu device lowers ---- */

static uint32_t rng = 12345;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / (float)(1u << 24) - 0.5f;
}

static void init_rand(tb_model *m, const char *name, int ndim, const int64_t *dims, float scale, float offset) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
  float *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = frand() * scale + offset;
  tb_init_f32(m, name, ndim, dims, d, n);
  free(d);
}

static cleave_model *patterns_model(cleave_ctx *ctx) {
  tb_model *m = tb_new(13);
  const int64_t dx[] = {-1, 3, 16, 16};
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
  const int64_t w1[] = {8, 3, 3, 3}, c8[] = {8}, wd[] = {8, 1, 3, 3}, ws1[] = {4, 8, 1, 1}, ws2[] = {8, 4, 1, 1},
                c4[] = {4}, wt[] = {16, 4, 2, 2}, wg[] = {16, 5}, c5[] = {5}, one[] = {1}, four[] = {4}, two[] = {2},
                three[] = {3};
  init_rand(m, "w1", 4, w1, 0.6f, 0);
  init_rand(m, "b1", 1, c8, 0.2f, 0);
  init_rand(m, "bn_s", 1, c8, 0.5f, 1.0f);
  init_rand(m, "bn_b", 1, c8, 0.5f, 0);
  init_rand(m, "bn_m", 1, c8, 0.5f, 0);
  init_rand(m, "bn_v", 1, c8, 0.5f, 1.0f);
  init_rand(m, "wd", 4, wd, 0.8f, 0);
  init_rand(m, "ws1", 4, ws1, 0.8f, 0);
  init_rand(m, "ws2", 4, ws2, 0.8f, 0);
  init_rand(m, "bs2", 1, c8, 0.2f, 0);
  init_rand(m, "wt", 4, wt, 0.5f, 0);
  init_rand(m, "bt", 1, c4, 0.2f, 0);
  init_rand(m, "wg", 2, wg, 0.5f, 0);
  init_rand(m, "bg", 1, c5, 0.2f, 0);
  const float k3 = 3, k0 = 0, k6 = 6, ka = 0.7f, kb = -0.1f, scales[] = {1, 1, 2, 2};
  tb_init_f32(m, "three", 0, NULL, &k3, 1);
  tb_init_f32(m, "zero", 0, NULL, &k0, 1);
  tb_init_f32(m, "six", 0, NULL, &k6, 1);
  tb_init_f32(m, "ka", 1, one, &ka, 1);
  tb_init_f32(m, "kb", 1, one, &kb, 1);
  tb_init_f32(m, "scales", 1, four, scales, 4);
  const int64_t none[] = {0}, c811[] = {8, 1, 1}, eight[] = {8}, pads[] = {0, 0, 1, 1, 0, 0, 1, 1};
  init_rand(m, "slope", 3, c811, 0.5f, 0.2f);
  tb_init_i64(m, "pads", 1, eight, pads, 8);
  const float half = 0.5f;
  tb_init_f32(m, "half", 0, NULL, &half, 1);
  static const float nothing[1];
  tb_init_f32(m, "roi", 1, none, nothing, 0);
  const int64_t shape2[] = {0, -1}, shape3[] = {0, 4, 256};
  tb_init_i64(m, "shape2", 1, two, shape2, 2);
  tb_init_i64(m, "shape3", 1, three, shape3, 3);
  const int64_t p1[] = {1, 1, 1, 1}, s2[] = {2, 2}, k3s[] = {3, 3}, perm[] = {0, 2, 1};
  tb_node *n = tb_add_node(m, "Conv", "x,w1,b1", "c1");
  tb_attr_ints(n, "pads", p1, 4);
  tb_attr_ints(n, "strides", s2, 2);
  tb_add_node(m, "BatchNormalization", "c1,bn_s,bn_b,bn_m,bn_v", "bn");
  tb_add_node(m, "Relu", "bn", "r");
  /* HardSwish as Paddle writes it, then a scalar affine */
  tb_add_node(m, "Add", "r,three", "hs_a");
  tb_add_node(m, "Clip", "hs_a,zero,six", "hs_c");
  tb_add_node(m, "Mul", "r,hs_c", "hs_m");
  tb_add_node(m, "Div", "hs_m,six", "hs");
  tb_add_node(m, "Mul", "ka,hs", "af_m");
  tb_add_node(m, "Add", "af_m,kb", "af");
  n = tb_add_node(m, "Conv", "af,wd", "dw");
  tb_attr_ints(n, "pads", p1, 4);
  tb_attr_int(n, "group", 8);
  /* squeeze-and-excite */
  tb_add_node(m, "GlobalAveragePool", "dw", "g");
  tb_add_node(m, "Conv", "g,ws1", "s1");
  tb_add_node(m, "Relu", "s1", "s1r");
  tb_add_node(m, "Conv", "s1r,ws2,bs2", "s2");
  tb_add_node(m, "HardSigmoid", "s2", "hsig");
  tb_add_node(m, "Mul", "dw,hsig", "se");
  tb_add_node(m, "Add", "se,af", "res");
  tb_add_node(m, "PRelu", "res,slope", "pr");
  tb_add_node(m, "Pad", "pr,pads,half", "pd");
  n = tb_add_node(m, "MaxPool", "pd", "mp");
  tb_attr_ints(n, "kernel_shape", k3s, 2);
  tb_attr_ints(n, "strides", s2, 2);
  n = tb_add_node(m, "Resize", "mp,roi,scales", "up");
  n = tb_add_node(m, "Concat", "up,res", "cat");
  tb_attr_int(n, "axis", 1);
  n = tb_add_node(m, "ConvTranspose", "cat,wt,bt", "de");
  tb_attr_ints(n, "strides", s2, 2);
  n = tb_add_node(m, "HardSigmoid", "de", "de_hs");
  tb_attr_float(n, "alpha", 1.0f / 6.0f);
  tb_attr_float(n, "beta", 0.5f);
  tb_add_node(m, "Mul", "de,de_hs", "de_sw");
  n = tb_add_node(m, "AveragePool", "de_sw", "ap");
  tb_attr_ints(n, "kernel_shape", k3s, 2);
  tb_attr_ints(n, "pads", p1, 4);
  tb_add_node(m, "Sigmoid", "ap", "out_map");
  tb_add_node(m, "GlobalAveragePool", "cat", "gc");
  tb_add_node(m, "Reshape", "gc,shape2", "fl");
  tb_add_node(m, "Gemm", "fl,wg,bg", "gm");
  tb_add_node(m, "Softmax", "gm", "out_cls");
  tb_add_node(m, "Reshape", "de,shape3", "t");
  n = tb_add_node(m, "Transpose", "t", "tt");
  tb_attr_ints(n, "perm", perm, 3);
  tb_add_node(m, "MatMul", "t,tt", "mm");
  tb_add_node(m, "Softmax", "mm", "out_att");
  tb_output(m, "out_map");
  tb_output(m, "out_cls");
  tb_output(m, "out_att");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  cleave_model *model = NULL;
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, &model);
  free(buf);
  if (rc) print_error("load: %s\n", cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  return model;
}

static cleave_session *session(cleave_ctx *ctx, cleave_model *m, const char *dev, int profiling) {
  cleave_session_options *o;
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, dev), 0);
  cleave_session_options_set_profiling(o, profiling);
  int rc = cleave_session_new(ctx, m, o, &s);
  cleave_session_options_free(o);
  if (rc) print_error("session %s: %s\n", dev, cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  return s;
}

static cleave_tensor input_x(float *data, int64_t n, int64_t c, int64_t h, int64_t w) {
  cleave_tensor t = {.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {n, c, h, w}};
  size_t count = (size_t)(n * c * h * w);
  for (size_t i = 0; i < count; i++) data[i] = frand() * 4.0f;
  t.data = data;
  t.nbytes = count * sizeof(float);
  return t;
}

static double max_diff(const cleave_tensor *a, const cleave_tensor *b) {
  assert_int_equal(a->ndim, b->ndim);
  for (int d = 0; d < a->ndim; d++) assert_int_equal(a->dims[d], b->dims[d]);
  assert_int_equal(a->nbytes, b->nbytes);
  double m = 0;
  const float *x = a->data, *y = b->data;
  for (size_t i = 0; i < a->nbytes / sizeof(float); i++) {
    double d = x[i] > y[i] ? x[i] - y[i] : y[i] - x[i];
    if (!(d <= m)) m = d; /* NaN counts as a difference */
  }
  return m;
}

/* cpu and ref agree on every output, for batch 1, then 2 (a new plan), then 1 again (another). */
static void test_matches_ref_across_shapes(void **state) {
  (void)state;
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  cleave_model *m = patterns_model(ctx);
  cleave_session *cpu = session(ctx, m, "cpu", 0), *ref = session(ctx, m, "ref", 0);
  static float data[2 * 3 * 16 * 16];
  const int64_t batches[] = {1, 2, 1};
  cleave_result *rc_cpu = NULL;
  for (int k = 0; k < 3; k++) {
    cleave_tensor x = input_x(data, batches[k], 3, 16, 16);
    cleave_result *rr = NULL;
    assert_int_equal(cleave_run_into(cpu, &x, 1, &rc_cpu), 0);
    assert_int_equal(cleave_run_sync(ref, &x, 1, &rr), 0);
    assert_int_equal(cleave_result_num_outputs(rc_cpu), 3);
    for (int i = 0; i < 3; i++) {
      double d = max_diff(cleave_result_output(rc_cpu, i), cleave_result_output(rr, i));
      if (d > 1e-4) print_error("batch %lld output %s: max diff %g\n", (long long)batches[k],
                                cleave_result_output(rr, i)->name, d);
      assert_true(d <= 1e-4);
    }
    cleave_result_free(rr);
  }
  cleave_result_free(rc_cpu);
  cleave_session_free(cpu);
  cleave_session_free(ref);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* After the first run plans, running again with the same shapes allocates nothing, through the library's hook
 * (which XNNPACK's allocations go through as well). */
static void test_steady_state_allocates_nothing(void **state) {
  (void)state;
  counter cnt = {0, -1};
  cleave_ctx *ctx = counting_ctx(&cnt);
  cleave_model *m = patterns_model(ctx);
  cleave_session *cpu = session(ctx, m, "cpu", 1);
  static float data[3 * 16 * 16];
  cleave_tensor x = input_x(data, 1, 3, 16, 16);
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_into(cpu, &x, 1, &r), 0);
  long planned = cnt.allocs;
  assert_true(planned > 0); /* the hook is really in use */
  cnt.allocs = 0;
  for (int i = 0; i < 50; i++) assert_int_equal(cleave_run_into(cpu, &x, 1, &r), 0);
  assert_int_equal(cnt.allocs, 0);
  /* a new shape plans again (and allocates); returning to it is free again */
  static float data2[2 * 3 * 16 * 16];
  cleave_tensor x2 = input_x(data2, 2, 3, 16, 16);
  assert_int_equal(cleave_run_into(cpu, &x2, 1, &r), 0);
  assert_true(cnt.allocs > 0);
  cnt.allocs = 0;
  for (int i = 0; i < 10; i++) assert_int_equal(cleave_run_into(cpu, &x2, 1, &r), 0);
  assert_int_equal(cnt.allocs, 0);
  cleave_result_free(r);
  cleave_session_free(cpu);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

/* The PP-OCR classifier, 1,000 runs in one process: no allocation and no growth of the resident set. */
static void test_cls_thousand_runs(void **state) {
  (void)state;
  const char *dir = getenv("CLEAVE_MODELS");
  if (!dir) {
    print_message("CLEAVE_MODELS is not set; skipping the PP-OCR classifier\n");
    skip();
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", dir);
  counter cnt = {0, -1};
  cleave_ctx *ctx = counting_ctx(&cnt);
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load(ctx, path, &m), 0);
  cleave_session *cpu = session(ctx, m, "cpu", 0);
  static float data[3 * 48 * 192];
  cleave_tensor x = input_x(data, 1, 3, 48, 192);
  cleave_result *r = NULL;
  for (int i = 0; i < 20; i++) assert_int_equal(cleave_run_into(cpu, &x, 1, &r), 0);
  long before = rss_kb();
  cnt.allocs = 0;
  for (int i = 0; i < 1000; i++) assert_int_equal(cleave_run_into(cpu, &x, 1, &r), 0);
  long after = rss_kb();
  print_message("cls x1000 on cpu: %ld allocations, RSS %ld kB -> %ld kB\n", cnt.allocs, before, after);
  assert_int_equal(cnt.allocs, 0);
  assert_true(before > 0 && after - before < 256);
  cleave_result_free(r);
  cleave_session_free(cpu);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* Profiles name the fused groups and account for the run. */
static void test_profile(void **state) {
  (void)state;
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  cleave_model *m = patterns_model(ctx);
  cleave_session *cpu = session(ctx, m, "cpu", 1);
  static float data[3 * 16 * 16];
  cleave_tensor x = input_x(data, 1, 3, 16, 16);
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(cpu, &x, 1, &r), 0);
  int n = 0;
  const cleave_node_profile *p = cleave_result_profile(r, &n);
  assert_true(n > 0 && n < cleave_model_num_nodes(m)); /* fusion: fewer steps than nodes */
  bool conv_bn_relu = false, hardswish = false, se_gate = false, hardswish2 = false, prelu = false, pad = false;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    assert_string_equal(p[i].device, "cpu");
    assert_true(p[i].ms >= 0);
    sum += p[i].ms;
    conv_bn_relu |= strcmp(p[i].op, "Conv+BatchNormalization+Relu") == 0;
    hardswish |= strcmp(p[i].op, "Add+Clip+Mul+Div+Mul+Add") == 0;
    se_gate |= strcmp(p[i].op, "Conv+HardSigmoid") == 0;
    hardswish2 |= strcmp(p[i].op, "HardSigmoid+Mul") == 0;
    prelu |= strcmp(p[i].op, "PRelu") == 0;
    pad |= strcmp(p[i].op, "Pad") == 0;
  }
  assert_true(hardswish2 && prelu && pad);
  assert_true(conv_bn_relu);
  assert_true(hardswish);
  assert_true(se_gate);
  assert_true(sum <= cleave_result_ms(r) + 1e-3);
  cleave_result_free(r);
  cleave_session_free(cpu);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* A shape that depends on computed data is refused with a message naming the node. (Shapes that depend on the
 * values of small inputs are planned per value; this input is too large for that.) */
static void test_data_dependent_shape(void **state) {
  (void)state;
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  tb_model *tm = tb_new(13);
  const int64_t dx[] = {100};
  const float z = 0, o = 1;
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 1, dx);
  tb_init_f32(tm, "zero", 0, NULL, &z, 1);
  tb_init_f32(tm, "one", 0, NULL, &o, 1);
  tb_node *n = tb_add_node(tm, "ReduceMax", "x", "mx");
  tb_attr_int(n, "keepdims", 0);
  tb_add_node(tm, "Range", "zero,mx,one", "y");
  tb_output(tm, "y");
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, buf, len, NULL, &m), 0);
  free(buf);
  cleave_session *cpu = session(ctx, m, "cpu", 0);
  float data[100] = {1, 5, 2, 3};
  cleave_tensor x = {.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 1, .dims = {100}, .data = data,
                     .nbytes = sizeof data};
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(cpu, &x, 1, &r), CLEAVE_EUNSUPPORTED);
  assert_null(r);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "Range"));
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "depends on data"));
  cleave_session_free(cpu);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

/* Session creation and the first run (lowering, XNNPACK operators, the plan) with the i-th allocation failing,
 * for every i: each fails cleanly with CLEAVE_ENOMEM, leaks nothing (the sanitizer build checks) and the next
 * attempt in the same context works. */
static void test_failing_allocator(void **state) {
  (void)state;
  counter cnt = {0, -1};
  cleave_ctx *ctx = counting_ctx(&cnt);
  cleave_model *m = patterns_model(ctx);
  static float data[3 * 16 * 16];
  cleave_tensor x = input_x(data, 1, 3, 16, 16);
  long total = 0;
  for (long i = -1; i < total || i < 0; i++) {
    cnt.allocs = 0;
    cnt.fail_at = i;
    cleave_session_options *o;
    cleave_session *s = NULL;
    cleave_result *r = NULL;
    int rc = cleave_session_options_new(&o); /* plain malloc: not counted */
    assert_int_equal(rc, 0);
    cleave_session_options_set_device(o, "cpu");
    rc = cleave_session_new(ctx, m, o, &s);
    if (!rc) rc = cleave_run_sync(s, &x, 1, &r);
    cnt.fail_at = -1;
    if (i < 0) {
      assert_int_equal(rc, 0);
      total = cnt.allocs;
    } else if (rc != CLEAVE_ENOMEM) {
      print_error("allocation %ld of %ld failing gave %d: %s\n", i, total, rc, cleave_ctx_last_error(ctx));
      fail();
    }
    cleave_result_free(r);
    cleave_session_free(s);
    cleave_session_options_free(o);
  }
  print_message("failing each of %ld allocations in turn\n", total);
  assert_true(total > 50);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_ref_across_shapes),
      cmocka_unit_test(test_steady_state_allocates_nothing),
      cmocka_unit_test(test_cls_thousand_runs),
      cmocka_unit_test(test_profile),
      cmocka_unit_test(test_data_dependent_shape),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
