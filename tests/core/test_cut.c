/* tests/core: sessions over part of a model (cleave_session_options_set_inputs/_outputs), on every CPU device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"

static const char *const devices[] = {"ref", "cpu"};

typedef struct fixture {
  cleave_ctx *ctx;
  cleave_model *model;
} fixture;

/* y = Relu(x) * 2 + Neg(x): r = Relu(x), m = r * two, n = Neg(x), y = m + n. */
static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  if (!f || cleave_ctx_new(&f->ctx, NULL, NULL)) return -1;
  tb_model *m = tb_new(13);
  const int64_t dx[] = {1, 4}, d1[] = {1};
  const float two = 2;
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 2, dx);
  tb_init_f32(m, "two", 1, d1, &two, 1);
  tb_add_node(m, "Relu", "x", "r");
  tb_add_node(m, "Mul", "r,two", "m");
  tb_add_node(m, "Neg", "x", "n");
  tb_add_node(m, "Add", "m,n", "y");
  tb_output(m, "y");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  int rc = cleave_model_load_memory(f->ctx, buf, len, NULL, &f->model);
  free(buf);
  return rc;
}

static int teardown(void **state) {
  fixture *f = *state;
  cleave_model_free(f->model);
  cleave_ctx_free(f->ctx);
  free(f);
  return 0;
}

static int cut_session(fixture *f, const char *dev, const char *const *in, int n_in, const char *const *out,
                       int n_out, cleave_session **s) {
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, dev), 0);
  assert_int_equal(cleave_session_options_set_inputs(o, in, n_in), 0);
  assert_int_equal(cleave_session_options_set_outputs(o, out, n_out), 0);
  int rc = cleave_session_new(f->ctx, f->model, o, s);
  cleave_session_options_free(o);
  return rc;
}

static const float x_data[4] = {-1.5f, 0, 2, 3.25f};

static cleave_tensor tensor(const char *name, const float *data) {
  cleave_tensor t = {.name = name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {1, 4}};
  t.data = (void *)data;
  t.nbytes = 4 * sizeof(float);
  return t;
}

/* The model run as a prefix (x -> r, n) and a suffix (r, n -> y) gives what the whole model gives. */
static void test_prefix_then_suffix(void **state) {
  fixture *f = *state;
  for (size_t d = 0; d < sizeof devices / sizeof devices[0]; d++) {
    cleave_session *whole, *pre, *post;
    const char *const pre_out[] = {"r", "n"}, *const post_in[] = {"n", "r"}, *const y[] = {"y"};
    assert_int_equal(cut_session(f, devices[d], NULL, 0, NULL, 0, &whole), 0);
    assert_int_equal(cut_session(f, devices[d], NULL, 0, pre_out, 2, &pre), 0);
    assert_int_equal(cut_session(f, devices[d], post_in, 2, y, 1, &post), 0);
    assert_int_equal(cleave_session_num_outputs(pre), 2);
    const cleave_tensor *meta = cleave_session_input(post, 1);
    assert_string_equal(meta->name, "r");
    assert_int_equal(meta->ndim, 2);
    assert_int_equal(meta->dims[1], 4);
    assert_null(cleave_session_input(post, 2));

    cleave_tensor x = tensor("x", x_data);
    cleave_result *rw = NULL, *rp = NULL, *rs = NULL;
    assert_int_equal(cleave_run_sync(whole, &x, 1, &rw), 0);
    assert_int_equal(cleave_run_sync(pre, &x, 1, &rp), 0);
    const cleave_tensor *r = cleave_result_find(rp, "r"), *n = cleave_result_find(rp, "n");
    assert_non_null(r);
    assert_non_null(n);
    const float *rv = r->data;
    assert_true(rv[0] == 0 && rv[3] == 3.25f);
    cleave_tensor mid[2] = {tensor("r", r->data), tensor("n", n->data)};
    assert_int_equal(cleave_run_sync(post, mid, 2, &rs), 0);
    const float *a = cleave_result_find(rw, "y")->data, *b = cleave_result_find(rs, "y")->data;
    for (int i = 0; i < 4; i++) {
      float want = (x_data[i] > 0 ? x_data[i] : 0) * 2 - x_data[i];
      assert_float_equal(a[i], want, 1e-6);
      assert_float_equal(b[i], want, 1e-6);
    }
    cleave_result_free(rw);
    cleave_result_free(rp);
    cleave_result_free(rs);
    cleave_session_free(whole);
    cleave_session_free(pre);
    cleave_session_free(post);
  }
}

/* A cut only runs the nodes between its ends: fed m and n, it adds them and nothing else. */
static void test_minimal_subgraph(void **state) {
  fixture *f = *state;
  cleave_session *s;
  const char *const in[] = {"m", "n"}, *const y[] = {"y"};
  assert_int_equal(cut_session(f, "cpu", in, 2, y, 1, &s), 0);
  const float mv[4] = {1, 2, 3, 4}, nv[4] = {10, 20, 30, 40};
  cleave_tensor t[2] = {tensor("m", mv), tensor("n", nv)};
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_sync(s, t, 2, &r), 0);
  const float *out = cleave_result_output(r, 0)->data;
  for (int i = 0; i < 4; i++)
    assert_float_equal(out[i], mv[i] + nv[i], 0);
  /* the model's own input is not an input of this session */
  cleave_tensor x = tensor("x", x_data);
  assert_int_equal(cleave_run_sync(s, &x, 1, &(cleave_result *){NULL}), CLEAVE_ENOTFOUND);
  cleave_result_free(r);
  cleave_session_free(s);
}

static void test_bad_cuts(void **state) {
  fixture *f = *state;
  cleave_session *s = NULL;
  const char *const r_only[] = {"r"}, *const y[] = {"y"}, *const nope[] = {"nope"}, *const two[] = {"two"},
                    *const twice[] = {"r", "r"};
  /* y also needs Neg(x), and x is not fed */
  assert_int_equal(cut_session(f, "cpu", r_only, 1, y, 1, &s), CLEAVE_EMISSING);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "'x'"));
  assert_int_equal(cut_session(f, "cpu", nope, 1, y, 1, &s), CLEAVE_ENOTFOUND);
  assert_non_null(strstr(cleave_ctx_last_error(f->ctx), "nope"));
  assert_int_equal(cut_session(f, "cpu", NULL, 0, nope, 1, &s), CLEAVE_ENOTFOUND);
  assert_int_equal(cut_session(f, "cpu", two, 1, y, 1, &s), CLEAVE_EINVAL);
  assert_int_equal(cut_session(f, "cpu", twice, 2, y, 1, &s), CLEAVE_EINVAL);
  assert_null(s);
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  const char *const empty[] = {""};
  assert_int_equal(cleave_session_options_set_inputs(o, empty, 1), CLEAVE_EINVAL);
  assert_int_equal(cleave_session_options_set_outputs(o, NULL, 1), CLEAVE_EINVAL);
  cleave_session_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prefix_then_suffix),
      cmocka_unit_test(test_minimal_subgraph),
      cmocka_unit_test(test_bad_cuts),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
