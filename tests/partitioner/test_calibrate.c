/* tests/partitioner: calibration of the cpu device with a short budget, the profile it writes read back through
 * the public API, errors before any measuring, allocation failures while the micro-models are built, and the
 * cache of cl_calibrate_cached (its folder from the environment, its key, reads, rewrites, and failures that are
 * only warnings). No assertion on speed: only that every figure was measured and that the profile reproduces its
 * measurements. */
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

#include <pthreadpool.h>
#include <sys/stat.h>

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

/* ---- the cache ---- */

typedef struct logs {
  int warnings;
  char last[512];
} logs;

static void log_cb(void *user, cleave_log_level level, const char *msg) {
  logs *l = user;
  if (level != CLEAVE_LOG_WARN) return;
  l->warnings++;
  snprintf(l->last, sizeof l->last, "%s", msg);
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* One name per host, device and thread count; a profile found there is returned as it is; one that does not load
 * or describes another device is measured again and rewritten; a cache that cannot be written or found is a
 * warning. */
static void test_cached(void **state) {
  (void)state;
  logs lg = {0};
  cleave_options *opt;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_threads(opt, 1), 0);
  cleave_options_set_log(opt, log_cb, &lg, CLEAVE_LOG_DEBUG);
  cleave_ctx *ctx;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, opt), 0);
  cleave_options_free(opt);
  char dir[] = "/tmp/cleave_calib_XXXXXX", cache[96], path[1100], want[128], cmd[160];
  assert_non_null(mkdtemp(dir));
  snprintf(cache, sizeof cache, "%s/a/b/cache", dir); /* made as needed */
  setenv("CLEAVE_CACHE_DIR", cache, 1);

  cl_profile p, q;
  assert_int_equal(cl_calibrate_cached(ctx, "xnnpack", 20, &p, path, sizeof path), 0); /* an alias: keyed "cpu" */
  snprintf(want, sizeof want, "%s/profile-cpu-1t-", cache);
  if (!starts_with(path, want)) fail_msg("cache file %s, want %s<hash>.json", path, want);
  assert_int_equal(strlen(path), strlen(want) + 8 + 5);
  assert_string_equal(p.backend, "cpu");
  assert_int_equal(p.kind, CL_DEV_CPU);
  assert_int_equal(lg.warnings, 0);
  struct stat st;
  assert_int_equal(stat(cache, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(cl_profile_load(ctx, path, &q), 0);
  assert_float_equal(q.gflops[CL_OPC_GEMM], p.gflops[CL_OPC_GEMM], p.gflops[CL_OPC_GEMM] * 1e-5);

  /* read back, not measured: a marker written into the file comes back */
  snprintf(q.name, sizeof q.name, "from-the-cache");
  assert_int_equal(cl_profile_save(ctx, &q, path), 0);
  char again[1100];
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, again, sizeof again), 0);
  assert_string_equal(again, path);
  assert_string_equal(p.name, "from-the-cache");

  /* another thread count is another file: a pool of 2 bound on this thread, as an executor binds its own */
  void *pool = pthreadpool_create(2);
  assert_non_null(pool);
  cl_thread_bind_pool(pool);
  char two[1100];
  snprintf(two, sizeof two, "%s", path);
  char *t = strstr(two, "-1t-");
  assert_non_null(t);
  t[1] = '2';
  assert_int_equal(cl_profile_save(ctx, &q, two), 0); /* seeded, so nothing is measured */
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, again, sizeof again), 0);
  cl_thread_bind_pool(NULL);
  pthreadpool_destroy(pool);
  assert_string_equal(again, two);

  /* a file that does not load, or that describes another device: measured again and rewritten */
  write_text(path, "{not json");
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, NULL, 0), 0);
  assert_int_equal(lg.warnings, 1);
  assert_non_null(strstr(lg.last, "ignoring the cached profile"));
  assert_int_equal(cl_profile_load(ctx, path, &q), 0);
  assert_string_not_equal(q.name, "from-the-cache");
  snprintf(q.backend, sizeof q.backend, "ref");
  snprintf(q.name, sizeof q.name, "from-the-cache");
  assert_int_equal(cl_profile_save(ctx, &q, path), 0);
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, NULL, 0), 0);
  assert_int_equal(lg.warnings, 2);
  assert_non_null(strstr(lg.last, "another device"));
  assert_string_not_equal(p.name, "from-the-cache");
  assert_int_equal(cl_profile_load(ctx, path, &q), 0);
  assert_string_equal(q.backend, "cpu");

  /* the folder from the environment: XDG_CACHE_HOME (absolute only), else HOME; files seeded so nothing is
   * measured */
  const char *base = strrchr(path, '/') + 1;
  char xdg[128], home[128], seeded[1300];
  snprintf(xdg, sizeof xdg, "%s/xdg", dir);
  snprintf(home, sizeof home, "%s/home", dir);
  unsetenv("CLEAVE_CACHE_DIR");
  setenv("XDG_CACHE_HOME", xdg, 1);
  snprintf(cmd, sizeof cmd, "mkdir -p %s/cleave %s/.cache/cleave", xdg, home);
  assert_int_equal(system(cmd), 0);
  snprintf(seeded, sizeof seeded, "%s/cleave/%s", xdg, base);
  snprintf(q.name, sizeof q.name, "in-xdg");
  assert_int_equal(cl_profile_save(ctx, &q, seeded), 0);
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, again, sizeof again), 0);
  assert_string_equal(again, seeded);
  assert_string_equal(p.name, "in-xdg");
  setenv("XDG_CACHE_HOME", "relative/cache", 1);
  setenv("HOME", home, 1);
  snprintf(seeded, sizeof seeded, "%s/.cache/cleave/%s", home, base);
  snprintf(q.name, sizeof q.name, "in-home");
  assert_int_equal(cl_profile_save(ctx, &q, seeded), 0);
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, again, sizeof again), 0);
  assert_string_equal(again, seeded);
  assert_string_equal(p.name, "in-home");

  /* a cache that cannot be made, or no folder at all: measured all the same, with a warning */
  snprintf(seeded, sizeof seeded, "%s/a-file", dir);
  write_text(seeded, "x");
  snprintf(cache, sizeof cache, "%s/a-file/cache", dir);
  setenv("CLEAVE_CACHE_DIR", cache, 1);
  int w = lg.warnings;
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, NULL, 0), 0);
  assert_int_equal(lg.warnings, w + 1);
  assert_non_null(strstr(lg.last, "cannot create the cache folder"));
  unsetenv("CLEAVE_CACHE_DIR");
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 20, &p, again, sizeof again), 0);
  assert_string_equal(again, "");
  assert_int_equal(lg.warnings, w + 2);
  assert_non_null(strstr(lg.last, "no cache folder"));
  assert_true(p.gflops[CL_OPC_CONV] > 0);

  /* errors are cl_calibrate's */
  assert_int_equal(cl_calibrate_cached(ctx, "no-such-device", 20, &p, again, sizeof again), CLEAVE_ENODEVICE);
  assert_int_equal(cl_calibrate_cached(ctx, "cpu", 0, &p, NULL, 0), CLEAVE_EINVAL);
  assert_int_equal(cl_calibrate_cached(ctx, NULL, 20, &p, NULL, 0), CLEAVE_EINVAL);
  cleave_ctx_free(ctx);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cpu_short_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_correction_from_a_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_before_measuring, setup, teardown),
      cmocka_unit_test(test_failing_allocator),
      cmocka_unit_test(test_cached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
