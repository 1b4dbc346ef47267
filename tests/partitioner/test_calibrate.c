/* tests/partitioner: calibration of the cpu device with a short budget, the profile it writes read back through
 * the public API, errors before any measuring, and allocation failures while the micro-models are built. No
 * assertion on speed: only that every figure was measured and that the profile reproduces its measurements. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "onnx_builder.h"
#include "partitioner/calibrate.h"
#include "test_alloc.h"

static int setup(void **state) {
  cleave_ctx *ctx;
  if (cleave_ctx_new(&ctx, NULL, NULL)) return -1;
  *state = ctx;
  return 0;
}

static int teardown(void **state) {
  cleave_ctx_free(*state);
  return 0;
}

static void test_cpu_short_budget(void **state) {
  cleave_ctx *ctx = *state;
  cl_profile p;
  cl_calib_sample s[CL_CALIB_SAMPLES];
  assert_int_equal(cl_calibrate(ctx, "cpu", "probe", 80, &p, s), 0);
  assert_string_equal(p.name, "probe");
  assert_string_equal(p.backend, "cpu");
  assert_int_equal(p.kind, CL_DEV_CPU);
  for (int c = 0; c < CL_OPC_COUNT; c++) {
    assert_true(s[c].supported);
    assert_true(s[c].runs >= 3 && s[c].steps >= 1);
    assert_true(p.gflops[c] > 0 && isfinite(p.gflops[c]));
    /* the roofline gives back what was measured: flops at the class's rate, memory and dispatch aside */
    cl_node_cost cost = {.flops = s[c].flops, .bytes = 0, .known = true};
    double pred = cl_profile_node_ms(&p, &cost, (cl_op_class)c) + (s[c].steps - 1) * p.dispatch_ms;
    assert_true(fabs(pred - s[c].ms) <= 1e-6 * s[c].ms || pred > s[c].ms);
  }
  /* the conv micro-model: 64 outputs of 64x64, 32 x 3 x 3 multiply-adds each */
  assert_true(s[CL_OPC_CONV].flops == 2.0 * 64 * 64 * 64 * 32 * 9);
  assert_true(p.mem_gbps > 0 && isfinite(p.mem_gbps));
  assert_true(p.dispatch_ms > 0 && p.dispatch_ms < s[CL_OPC_CONV].ms);
  assert_true(p.mem_bytes > 0 && p.active_w > 0);
  assert_non_null(strstr(p.source, "Measured by cleave_calibrate()"));
  assert_non_null(strstr(p.source, "Not measured: active_w"));
}

static void test_file_roundtrip(void **state) {
  cleave_ctx *ctx = *state;
  char dir[] = "/tmp/cleave_calib_XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/small-cpu.json", dir);
  assert_int_equal(cl_calibrate_file(ctx, "cpu", path, 40), 0);
  cleave_profile *pr;
  assert_int_equal(cleave_profile_load(ctx, path, &pr), 0);
  assert_string_equal(cleave_profile_name(pr), "small-cpu"); /* named after the file */
  cleave_profile_free(pr);
  cl_profile q;
  assert_int_equal(cl_profile_load(ctx, path, &q), 0);
  assert_true(q.gflops[CL_OPC_GEMM] > 0 && q.mem_gbps > 0);
  remove(path);
  rmdir(dir);
}

/* A calibrated profile feeds the online correction: a Conv the cpu device runs as a layout conversion and a
 * kernel is one observation of the two steps' sum. */
static void test_correction_from_a_run(void **state) {
  cleave_ctx *ctx = *state;
  char dir[] = "/tmp/cleave_calib_XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/dev.json", dir);
  assert_int_equal(cl_calibrate_file(ctx, "cpu", path, 40), 0);
  cleave_profile *pr;
  assert_int_equal(cleave_profile_load(ctx, path, &pr), 0);
  tb_model *tm = tb_new(13);
  const int64_t dx[] = {1, 8, 32, 32}, dw[] = {8, 8, 3, 3}, pads[] = {1, 1, 1, 1};
  float w[8 * 8 * 9];
  for (int i = 0; i < 8 * 8 * 9; i++)
    w[i] = (float)(i % 5 - 2) / 10.0f;
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
  tb_init_f32(tm, "w", 4, dw, w, 8 * 8 * 9);
  tb_attr_ints(tb_add_node(tm, "Conv", "x,w", "y"), "pads", pads, 4);
  tb_output(tm, "y");
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m;
  assert_int_equal(cleave_model_load_memory(ctx, buf, len, NULL, &m), 0);
  free(buf);
  cleave_session_options *so;
  cleave_session *sess;
  assert_int_equal(cleave_session_options_new(&so), 0);
  cleave_session_options_set_profiling(so, 1);
  assert_int_equal(cleave_session_new(ctx, m, so, &sess), 0);
  static float x[8 * 32 * 32];
  cleave_tensor in = {
      .name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 8, 32, 32}, .data = x, .nbytes = sizeof x};
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(sess, &in, 1, &r), 0);
  int n_prof;
  const cleave_node_profile *np = cleave_result_profile(r, &n_prof);
  assert_true(n_prof >= 1);
  for (int i = 0; i < n_prof; i++)
    assert_string_equal(np[i].node, np[0].node);
  cleave_correction *c;
  assert_int_equal(cleave_correction_new(ctx, &c), 0);
  assert_int_equal(cleave_correction_observe(c, m, pr, r), 1);
  double f = cleave_correction_factor(c, "dev", "conv");
  assert_true(f > 0 && isfinite(f));
  assert_true(cleave_correction_factor(c, "dev", "gemm") == 1);
  cleave_correction_free(c);
  cleave_result_free(r);
  cleave_session_free(sess);
  cleave_session_options_free(so);
  cleave_model_free(m);
  cleave_profile_free(pr);
  remove(path);
  rmdir(dir);
}

static void test_errors_before_measuring(void **state) {
  cleave_ctx *ctx = *state;
  char dir[] = "/tmp/cleave_calib_XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/x.json", dir);
  assert_int_equal(cleave_calibrate(ctx, "no-such-device", path), CLEAVE_ENODEVICE);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "no-such-device"));
  assert_int_equal(access(path, F_OK), -1); /* nothing written */
  snprintf(path, sizeof path, "%s/missing/x.json", dir);
  assert_int_equal(cleave_calibrate(ctx, "cpu", path), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "cannot write"));
  snprintf(path, sizeof path, "%s/", dir);
  assert_int_equal(cleave_calibrate(ctx, "cpu", path), CLEAVE_EINVAL);
  assert_int_equal(cleave_calibrate(ctx, NULL, "x.json"), CLEAVE_EINVAL);
  cl_profile p;
  assert_int_equal(cl_calibrate(ctx, "cpu", "x", 0, &p, NULL), CLEAVE_EINVAL);
  rmdir(dir);
}

/* Each of the first allocations fails once: the micro-model builder, the loader and the session report
 * CLEAVE_ENOMEM and leak nothing (the sanitizer build checks the leaks). */
static void test_failing_allocator(void **state) {
  (void)state;
  tb_counter cnt = {0, -1};
  cleave_allocator a = tb_counting_allocator(&cnt);
  cleave_options *opt;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_allocator(opt, &a), 0);
  assert_int_equal(cleave_options_set_threads(opt, 1), 0);
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, opt), 0);
  cl_profile p;
  long failures = 0;
  for (long i = 0; i < 60; i++) {
    cnt.fail_at = cnt.allocs + i;
    int rc = cl_calibrate(ctx, "cpu", "x", 1, &p, NULL);
    if (cnt.allocs <= cnt.fail_at) { /* it finished before the i-th allocation */
      assert_int_equal(rc, 0);
      break;
    }
    assert_int_equal(rc, CLEAVE_ENOMEM);
    failures++;
  }
  cnt.fail_at = -1;
  assert_true(failures >= 20);
  cleave_ctx_free(ctx);
  cleave_options_free(opt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cpu_short_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_correction_from_a_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_before_measuring, setup, teardown),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
