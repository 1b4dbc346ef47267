/* tests/core: sessions, input validation, results, error codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"

typedef struct fixture {
  cleave_ctx *ctx;
  cleave_model *model;
  cleave_session *sess;
} fixture;

/* out = MatMul(a [N,3], w [3,2]) + Gather(table, idx) broadcast: two inputs sharing the symbolic dim N. */
static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  if (!f || cleave_ctx_new(&f->ctx, NULL, NULL)) return -1;
  tb_model *m = tb_new(13);
  const int64_t da[] = {-1, 3}, dw[] = {3, 2}, di[] = {-1}, dt[] = {4, 2};
  const float w[] = {1, 0, 0, 1, 1, 1};
  const float table[] = {10, 20, 30, 40, 50, 60, 70, 80};
  tb_input(m, "a", CLEAVE_DTYPE_FLOAT32, 2, da);
  tb_input(m, "idx", CLEAVE_DTYPE_INT64, 1, di);
  tb_init_f32(m, "w", 2, dw, w, 6);
  tb_init_f32(m, "table", 2, dt, table, 8);
  tb_add_node(m, "MatMul", "a,w", "mm");
  tb_add_node(m, "Gather", "table,idx", "rows");
  tb_add_node(m, "Add", "mm,rows", "out");
  tb_output(m, "out");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  int rc = cleave_model_load_memory(f->ctx, buf, len, NULL, &f->model);
  free(buf);
  if (rc || cleave_session_new(f->ctx, f->model, NULL, &f->sess)) {
    print_error("setup: %s\n", cleave_ctx_last_error(f->ctx));
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  cleave_session_free(f->sess);
  cleave_model_free(f->model);
  cleave_ctx_free(f->ctx);
  free(f);
  return 0;
}

static float a_data[6] = {1, 2, 3, 4, 5, 6};
static int64_t idx_data[2] = {3, 0};

static void make_inputs(cleave_tensor in[2]) {
  in[0] = (cleave_tensor){.name = "a", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {2, 3}, .data = a_data,
                          .nbytes = sizeof a_data};
  in[1] = (cleave_tensor){.name = "idx", .dtype = CLEAVE_DTYPE_INT64, .ndim = 1, .dims = {2}, .data = idx_data,
                          .nbytes = sizeof idx_data};
}

static void expect(fixture *f, cleave_tensor *in, size_t n, int want, const char *needle) {
  cleave_result *r = (cleave_result *)1;
  int rc = cleave_run_sync(f->sess, in, n, &r);
  if (rc != want || !strstr(cleave_ctx_last_error(f->ctx), needle))
    print_error("got %s '%s'\n", cleave_err_name(rc), cleave_ctx_last_error(f->ctx));
  assert_int_equal(rc, want);
  assert_null(r);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), needle));
}

static void test_runs(void **state) {
  fixture *f = *state;
  cleave_tensor in[2];
  make_inputs(in);
  cleave_result *r = NULL;
  /* inputs match by name, in any order */
  cleave_tensor swapped[2] = {in[1], in[0]};
  assert_int_equal(cleave_run_sync(f->sess, swapped, 2, &r), 0);
  const cleave_tensor *o = cleave_result_output(r, 0);
  assert_int_equal(o->ndim, 2);
  assert_int_equal(o->dims[0], 2);
  assert_int_equal(o->dims[1], 2);
  const float *v = o->data;
  /* row0: [1,2,3]·w = [4,5] + table[3] = [70,80]; row1: [4,5,6]·w = [10,11] + table[0] = [10,20] */
  assert_float_equal(v[0], 74, 0);
  assert_float_equal(v[1], 85, 0);
  assert_float_equal(v[2], 20, 0);
  assert_float_equal(v[3], 31, 0);
  assert_true(cleave_result_ms(r) >= 0);
  cleave_result_free(r);
}

static void test_wrong_name(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  in[0].name = "b";
  expect(*state, in, 2, CLEAVE_ENOTFOUND, "no input named 'b'");
}

static void test_missing_input(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  expect(*state, in, 1, CLEAVE_EMISSING, "'idx' is missing");
}

static void test_wrong_dtype(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  in[1].dtype = CLEAVE_DTYPE_INT32;
  in[1].nbytes = 8;
  expect(*state, in, 2, CLEAVE_EDTYPE, "expects int64");
}

static void test_wrong_shape(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  in[0].dims[0] = 3;
  in[0].dims[1] = 2; /* [3,2] instead of [N,3] */
  expect(*state, in, 2, CLEAVE_ESHAPE, "expects [N,3]");
  make_inputs(in);
  in[0].ndim = 3;
  in[0].dims[2] = 1;
  expect(*state, in, 2, CLEAVE_ESHAPE, "shape [2,3,1]");
}

static void test_symbol_mismatch(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  in[1].dims[0] = 1; /* N = 2 for a, 1 for idx */
  in[1].nbytes = 8;
  expect(*state, in, 2, CLEAVE_ESHAPE, "another input has");
}

static void test_nbytes_mismatch(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  in[0].nbytes = 8;
  expect(*state, in, 2, CLEAVE_EINVAL, "has 8 bytes");
}

static void test_duplicate_input(void **state) {
  cleave_tensor in[3];
  make_inputs(in);
  in[2] = in[0];
  expect(*state, in, 3, CLEAVE_EINVAL, "given twice");
}

static void test_index_out_of_range(void **state) {
  cleave_tensor in[2];
  make_inputs(in);
  int64_t bad[2] = {7, 0};
  in[1].data = bad;
  expect(*state, in, 2, CLEAVE_ERANGE, "Gather");
  /* the session still works after a failed run */
  make_inputs(in);
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(((fixture *)*state)->sess, in, 2, &r), 0);
  cleave_result_free(r);
}

static void test_unknown_device(void **state) {
  fixture *f = *state;
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, "quantum"), 0);
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_new(f->ctx, f->model, o, &s), CLEAVE_ENODEVICE);
  assert_null(s);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "quantum"));
  /* a dim override that does not exist is an error too */
  assert_int_equal(cleave_session_options_set_device(o, "ref"), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "batch", 2), 0);
  assert_int_equal(cleave_session_new(f->ctx, f->model, o, &s), CLEAVE_ENOTFOUND);
  cleave_session_options_free(o);
}

static void test_fixed_dim(void **state) {
  fixture *f = *state;
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "N", 5), 0);
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_new(f->ctx, f->model, o, &s), 0);
  cleave_tensor in[2];
  make_inputs(in);
  cleave_result *r = (cleave_result *)1;
  assert_int_equal(cleave_run_sync(s, in, 2, &r), CLEAVE_ESHAPE);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "fixed it to 5"));
  cleave_session_free(s);
  cleave_session_options_free(o);
}

static void test_profile(void **state) {
  fixture *f = *state;
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, "ref"), 0); /* one entry per node: no fusion */
  cleave_session_options_set_profiling(o, 1);
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_new(f->ctx, f->model, o, &s), 0);
  cleave_tensor in[2];
  make_inputs(in);
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(s, in, 2, &r), 0);
  int n = 0;
  const cleave_node_profile *p = cleave_result_profile(r, &n);
  assert_int_equal(n, 3);
  assert_string_equal(p[2].op, "Add");
  assert_string_equal(p[0].device, "ref");
  cleave_result_free(r);
  cleave_session_free(s);
  cleave_session_options_free(o);
}

static void test_error_names(void **state) {
  (void)state;
  /* every code of the X-macro list has a distinct name and a message */
#define XX(name, num, msg)                                      \
  assert_string_equal(cleave_err_name(CLEAVE_E##name), #name); \
  assert_string_equal(cleave_strerror(CLEAVE_E##name), msg);
  CLEAVE_ERRNO_MAP(XX)
#undef XX
  assert_string_equal(cleave_err_name(0), "OK");
  assert_string_equal(cleave_err_name(-12345), "UNKNOWN");
  assert_string_equal(cleave_strerror(-12345), "unknown error");
  assert_string_equal(cleave_dtype_name(CLEAVE_DTYPE_INT64), "int64");
  assert_int_equal(cleave_dtype_size(CLEAVE_DTYPE_FLOAT32), 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runs),          cmocka_unit_test(test_wrong_name),
      cmocka_unit_test(test_missing_input), cmocka_unit_test(test_wrong_dtype),
      cmocka_unit_test(test_wrong_shape),   cmocka_unit_test(test_symbol_mismatch),
      cmocka_unit_test(test_nbytes_mismatch), cmocka_unit_test(test_duplicate_input),
      cmocka_unit_test(test_index_out_of_range), cmocka_unit_test(test_unknown_device),
      cmocka_unit_test(test_fixed_dim),     cmocka_unit_test(test_profile),
      cmocka_unit_test(test_error_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
