/* tests/core: the ONNX loader on valid, broken and hostile models, and under failing allocations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"

static const int64_t dims4[] = {1, 4};
static const int64_t dim4[] = {4};
static const float bias[] = {1, -2, 3, -4};

/* y = Relu(x + b) */
static tb_model *good_model(void) {
  tb_model *m = tb_new(13);
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_init_f32(m, "b", 1, dim4, bias, 4);
  tb_add_node(m, "Add", "x,b", "s");
  tb_add_node(m, "Relu", "s", "y");
  tb_output(m, "y");
  return m;
}

static int load(cleave_ctx *ctx, tb_model *m, cleave_model **out) {
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, out);
  free(buf);
  tb_free(m);
  return rc;
}

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

static void assert_error(cleave_ctx *ctx, int rc, int want, const char *needle) {
  if (rc != want || !strstr(cleave_ctx_last_error(ctx), needle))
    print_error("got %s '%s', want %s containing '%s'\n", cleave_err_name(rc), cleave_ctx_last_error(ctx),
                cleave_err_name(want), needle);
  assert_int_equal(rc, want);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), needle));
}

static void test_good_model_runs(void **state) {
  cleave_ctx *ctx = *state;
  cleave_model *m = NULL;
  assert_int_equal(load(ctx, good_model(), &m), 0);
  assert_int_equal(cleave_model_num_inputs(m), 1); /* the initializer is not an input */
  assert_string_equal(cleave_model_input(m, 0)->name, "x");
  assert_int_equal(cleave_model_num_nodes(m), 2);
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_new(ctx, m, NULL, &s), 0);
  float x[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  cleave_tensor in = {.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {1, 4}, .data = x, .nbytes = 16};
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(s, &in, 1, &r), 0);
  const cleave_tensor *y = cleave_result_find(r, "y");
  assert_non_null(y);
  const float *yv = y->data;
  assert_float_equal(yv[0], 1.5f, 0);
  assert_float_equal(yv[1], 0.0f, 0);
  assert_float_equal(yv[2], 3.5f, 0);
  assert_float_equal(yv[3], 0.0f, 0);
  cleave_result_free(r);
  cleave_session_free(s);
  cleave_model_free(m);
}

static void test_truncated(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = good_model();
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m = NULL;
  /* every proper prefix that cuts a field must be reported as truncated or malformed, never loaded or crashed */
  for (size_t cut = len - 1; cut > 0; cut = cut > 7 ? cut - 7 : cut - 1) {
    int rc = cleave_model_load_memory(ctx, buf, cut, NULL, &m);
    assert_true(rc == CLEAVE_ETRUNCATED || rc == CLEAVE_EPARSE || rc == CLEAVE_EMODEL);
    assert_null(m);
  }
  assert_error(ctx, cleave_model_load_memory(ctx, buf, len / 2, NULL, &m), CLEAVE_ETRUNCATED, "truncated");
  free(buf);
}

static void test_corrupt(void **state) {
  cleave_ctx *ctx = *state;
  cleave_model *m = NULL;
  uint8_t junk[64];
  memset(junk, 0xff, sizeof junk);
  assert_error(ctx, cleave_model_load_memory(ctx, junk, sizeof junk, NULL, &m), CLEAVE_EPARSE, "");
  /* field 1 with the invalid wire type 7 */
  uint8_t bad_wire[] = {0x0f, 0x01, 0x02};
  assert_error(ctx, cleave_model_load_memory(ctx, bad_wire, sizeof bad_wire, NULL, &m), CLEAVE_EPARSE,
               "wire type");
  assert_error(ctx, cleave_model_load_memory(ctx, junk, 0, NULL, &m), CLEAVE_EPARSE, "empty");
  assert_null(m);
}

static void test_missing_file(void **state) {
  cleave_ctx *ctx = *state;
  cleave_model *m = NULL;
  assert_error(ctx, cleave_model_load(ctx, "no/such/model.onnx", &m), CLEAVE_EIO, "no/such/model.onnx");
}

static void test_unknown_op(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "FrobnicateTensor", "x", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EUNSUPPORTED, "FrobnicateTensor");
}

static void test_initializer_size_mismatch(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_init_f32(tm, "b", 1, dim4, bias, 3); /* dims say 4 floats, data has 3 */
  tb_add_node(tm, "Add", "x,b", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EMODEL, "tensor 'b' has 12 bytes");
}

static void test_cycle(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Add", "x,c", "a");
  tb_add_node(tm, "Relu", "a", "b");
  tb_add_node(tm, "Relu", "b", "c");
  tb_output(tm, "c");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_ECYCLE, "cycle");
}

static void test_undefined_input(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Add", "x,ghost", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EMODEL, "'ghost'");
}

static void test_two_producers(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Relu", "x", "y");
  tb_add_node(tm, "Neg", "x", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EMODEL, "already defined");
}

static void test_missing_output(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Relu", "x", "y");
  tb_output(tm, "nowhere");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EMODEL, "'nowhere'");
}

static void test_old_opset(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = good_model();
  tb_free(tm);
  tm = tb_new(6);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Relu", "x", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EUNSUPPORTED, "opset 6");
}

static void test_rank_limit(void **state) {
  cleave_ctx *ctx = *state;
  const int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 9, d9);
  tb_add_node(tm, "Relu", "x", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_ELIMIT, "rank 9");
}

static void test_hostile_external_path(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_init_external(tm, "b", 1, dim4, "../../etc/passwd");
  tb_add_node(tm, "Add", "x,b", "y");
  tb_output(tm, "y");
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m = NULL;
  assert_error(ctx, cleave_model_load_memory(ctx, buf, len, "/tmp", &m), CLEAVE_EMODEL, "relative path inside");
  free(buf);
}

static void test_external_data(void **state) {
  cleave_ctx *ctx = *state;
  char dir[] = "/tmp/cleave-ext-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/weights.bin", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bias, 4, 4, f), 4);
  fclose(f);
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_init_external(tm, "b", 1, dim4, "weights.bin");
  tb_add_node(tm, "Add", "x,b", "y");
  tb_output(tm, "y");
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m = NULL;
  assert_int_equal(cleave_model_load_memory(ctx, buf, len, dir, &m), 0);
  cleave_model_free(m);
  /* a short external file is an error, not a read past its end */
  f = fopen(path, "wb");
  assert_int_equal(fwrite(bias, 4, 2, f), 2);
  fclose(f);
  assert_error(ctx, cleave_model_load_memory(ctx, buf, len, dir, &m), CLEAVE_ETRUNCATED, "weights.bin");
  free(buf);
  unlink(path);
  rmdir(dir);
}

/* ---- regressions found by fuzzing hostile models ---- */

static void test_attribute_of_wrong_type(void **state) {
  cleave_ctx *ctx = *state;
  const int64_t one[] = {1};
  for (int folded = 0; folded < 2; folded++) { /* constant inputs make folding run the kernel at load */
    tb_model *tm = tb_new(13);
    if (folded) {
      tb_init_f32(tm, "a", 2, dims4, bias, 4);
      tb_init_f32(tm, "b", 2, dims4, bias, 4);
    } else {
      tb_input(tm, "a", CLEAVE_DTYPE_FLOAT32, 2, dims4);
      tb_input(tm, "b", CLEAVE_DTYPE_FLOAT32, 2, dims4);
    }
    tb_node *n = tb_add_node(tm, "Concat", "a,b", "y");
    tb_attr_ints(n, "axis", one, 1); /* INTS where ONNX says INT */
    tb_output(tm, "y");
    cleave_model *m = NULL;
    assert_error(ctx, load(ctx, tm, &m), CLEAVE_EMODEL, "'axis' must be an int");
  }
}

static void test_unknown_elem_type(void **state) {
  cleave_ctx *ctx = *state;
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", 114, 2, dims4);
  tb_add_node(tm, "Relu", "x", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_EUNSUPPORTED, "data type 114");
}

static void test_output_size_overflow(void **state) {
  cleave_ctx *ctx = *state;
  const int64_t d4[] = {1, 1, 2, 2}, d1[] = {4};
  const int64_t sizes[] = {1, 1, INT64_C(1) << 62, 8};
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 4, d4);
  tb_init_i64(tm, "sizes", 1, d1, sizes, 4);
  tb_add_node(tm, "Resize", "x,-,-,sizes", "y");
  tb_output(tm, "y");
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_ELIMIT, "2^40 elements");
}

static void test_huge_fan_in(void **state) {
  cleave_ctx *ctx = *state;
  size_t n = 5000, len = 0;
  char *inputs = malloc(n * 2);
  assert_non_null(inputs);
  for (size_t i = 0; i < n; i++) len += (size_t)sprintf(inputs + len, i ? ",x" : "x");
  tb_model *tm = tb_new(13);
  tb_input(tm, "x", CLEAVE_DTYPE_FLOAT32, 2, dims4);
  tb_add_node(tm, "Sum", inputs, "y");
  tb_output(tm, "y");
  free(inputs);
  cleave_model *m = NULL;
  assert_error(ctx, load(ctx, tm, &m), CLEAVE_ELIMIT, "5000 inputs");
}

/* ---- failing allocator: fail the i-th allocation for every i ---- */

typedef struct fail_alloc {
  long count, fail_at;
} fail_alloc;

static void *fa_allocate(void *c, size_t n) {
  fail_alloc *fa = c;
  if (fa->count++ == fa->fail_at) return NULL;
  return malloc(n ? n : 1);
}
static void *fa_reallocate(void *c, void *p, size_t n) {
  fail_alloc *fa = c;
  if (fa->count++ == fa->fail_at) return NULL;
  return realloc(p, n ? n : 1);
}
static void fa_free(void *c, void *p) {
  (void)c;
  free(p);
}
static void *fa_aligned(void *c, size_t align, size_t n) {
  fail_alloc *fa = c;
  if (fa->count++ == fa->fail_at) return NULL;
  void *p = NULL;
  return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n ? n : 1) ? NULL : p;
}

static void test_failing_allocator(void **state) {
  (void)state;
  tb_model *tm = good_model();
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  tb_free(tm);
  fail_alloc fa = {0, -1};
  cleave_allocator a = {&fa, fa_allocate, fa_reallocate, fa_free, fa_aligned, fa_free};
  cleave_options *opt;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_allocator(opt, &a), 0);
  long total = 0;
  /* i == -1: nothing fails, count the allocations; then fail each one in turn */
  for (long i = -1; i < total || i < 0; i++) {
    fa.count = 0;
    fa.fail_at = i;
    cleave_ctx *ctx = NULL;
    cleave_model *m = NULL;
    cleave_session *s = NULL;
    int rc = cleave_ctx_new(&ctx, NULL, opt);
    if (!rc) rc = cleave_model_load_memory(ctx, buf, len, NULL, &m);
    if (!rc) rc = cleave_session_new(ctx, m, NULL, &s);
    if (i < 0) {
      assert_int_equal(rc, 0);
      total = fa.count;
    } else {
      assert_int_equal(rc, CLEAVE_ENOMEM);
    }
    cleave_session_free(s);
    cleave_model_free(m);
    cleave_ctx_free(ctx);
  }
  assert_true(total > 10);
  cleave_options_free(opt);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_model_runs),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_corrupt),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_unknown_op),
      cmocka_unit_test(test_initializer_size_mismatch),
      cmocka_unit_test(test_cycle),
      cmocka_unit_test(test_undefined_input),
      cmocka_unit_test(test_two_producers),
      cmocka_unit_test(test_missing_output),
      cmocka_unit_test(test_old_opset),
      cmocka_unit_test(test_rank_limit),
      cmocka_unit_test(test_hostile_external_path),
      cmocka_unit_test(test_external_data),
      cmocka_unit_test(test_attribute_of_wrong_type),
      cmocka_unit_test(test_unknown_elem_type),
      cmocka_unit_test(test_output_size_overflow),
      cmocka_unit_test(test_huge_fan_in),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
