/* tests/local: the cpu device (XNNPACK) on hostile and unusual models, against the reference device.
 *
 * Every model here is small and built in memory. Each case runs on the cpu device with one and with two threads,
 * twice on the same plan, and must give the reference device's answer or, where the reference device fails too,
 * fail cleanly. The group "regressions" holds a test for each defect a review found, with what went wrong. A
 * test name pattern as the first argument selects tests. CLEAVE_TEST_GUARD=1 puts every block the library
 * allocates right before a forbidden page, which catches reads past the end inside XNNPACK, where the sanitizers
 * do not look. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "cleave.h"
#include "onnx_builder.h"
#include "test_alloc.h"

/* ---- harness ---- */

static uint32_t rng = 777;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / (float)(1u << 24) - 0.5f;
}

static void init_rand(tb_model *m, const char *name, int ndim, const int64_t *dims, float scale, float offset) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)dims[i];
  float *d = malloc((n ? n : 1) * sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = frand() * scale + offset;
  tb_init_f32(m, name, ndim, dims, d, n);
  free(d);
}

static void init_scalar(tb_model *m, const char *name, float v) { tb_init_f32(m, name, 0, NULL, &v, 1); }

static void init_i64(tb_model *m, const char *name, int n, const int64_t *v) {
  const int64_t d[] = {n};
  tb_init_i64(m, name, 1, d, v, (size_t)n);
}

typedef tb_counter counter;

/* ---- an allocator that puts a forbidden page right after every block ----
 * Blocks end on a page boundary (rounded to the alignment asked for), so reading past the end of one faults at
 * once instead of going unnoticed (the sanitizers do not see into XNNPACK, which is not instrumented). */

#define GUARD_PAGE ((size_t)4096)

typedef struct guard_hdr {
  void *base;
  size_t map_len, size;
} guard_hdr;

static void *guard_aligned(void *c, size_t al, size_t n) {
  (void)c;
  if (al < 16) al = 16;
  size_t body = (n + al - 1) / al * al, pre = (sizeof(guard_hdr) + al - 1) / al * al;
  size_t pages = (pre + body + GUARD_PAGE - 1) / GUARD_PAGE;
  size_t len = (pages + 1) * GUARD_PAGE;
  char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return NULL;
  if (mprotect(base + pages * GUARD_PAGE, GUARD_PAGE, PROT_NONE)) abort();
  char *p = base + pages * GUARD_PAGE - body;
  guard_hdr *h = (guard_hdr *)(p - sizeof *h);
  *h = (guard_hdr){base, len, n};
  return p;
}
static void *guard_alloc(void *c, size_t n) { return guard_aligned(c, 16, n); }
static void guard_free(void *c, void *p) {
  (void)c;
  if (!p) return;
  guard_hdr *h = (guard_hdr *)((char *)p - sizeof *h);
  munmap(h->base, h->map_len);
}
static void *guard_realloc(void *c, void *p, size_t n) {
  void *q = guard_alloc(c, n);
  if (q && p) {
    guard_hdr *h = (guard_hdr *)((char *)p - sizeof *h);
    memcpy(q, p, h->size < n ? h->size : n);
    guard_free(c, p);
  }
  return q;
}

/* CLEAVE_TEST_GUARD=1 runs every context of this file on the guard allocator. */
static bool use_guard(void) {
  const char *g = getenv("CLEAVE_TEST_GUARD");
  return g && strcmp(g, "1") == 0;
}

static cleave_ctx *new_ctx(int threads, counter *cnt) {
  cleave_options *o;
  cleave_ctx *ctx = NULL;
  assert_int_equal(cleave_options_new(&o), 0);
  assert_int_equal(cleave_options_set_threads(o, threads), 0);
  if (cnt) {
    cleave_allocator a = tb_counting_allocator(cnt);
    assert_int_equal(cleave_options_set_allocator(o, &a), 0);
  } else if (use_guard()) {
    cleave_allocator a = {.allocate = guard_alloc,
                          .reallocate = guard_realloc,
                          .deallocate = guard_free,
                          .aligned_allocate = guard_aligned,
                          .aligned_deallocate = guard_free};
    assert_int_equal(cleave_options_set_allocator(o, &a), 0);
  }
  assert_int_equal(cleave_ctx_new(&ctx, NULL, o), 0);
  cleave_options_free(o);
  return ctx;
}

static cleave_model *load(cleave_ctx *ctx, tb_model *tm) {
  size_t len;
  uint8_t *buf = tb_pack(tm, &len);
  cleave_model *m = NULL;
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, &m);
  free(buf);
  if (rc) print_error("load: %s\n", cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  return m;
}

static cleave_session *open_session(cleave_ctx *ctx, cleave_model *m, const char *dev) {
  cleave_session_options *o;
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, dev), 0);
  int rc = cleave_session_new(ctx, m, o, &s);
  cleave_session_options_free(o);
  if (rc) print_error("session on %s: %s\n", dev, cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  return s;
}

/* Random float input; data is owned by the caller's array. */
static cleave_tensor f32_input(const char *name, float *data, int ndim, const int64_t *dims) {
  cleave_tensor t = {.name = name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = ndim};
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)(t.dims[i] = dims[i]);
  for (size_t i = 0; i < n; i++)
    data[i] = frand() * 4.0f;
  t.data = data; /* also when empty: an empty input without data is test_empty_input_without_data */
  t.nbytes = n * sizeof(float);
  return t;
}

static cleave_tensor i64_input(const char *name, int64_t *data, int n) {
  cleave_tensor t = {.name = name, .dtype = CLEAVE_DTYPE_INT64, .ndim = 1, .dims = {n}, .data = data};
  t.nbytes = (size_t)n * sizeof(int64_t);
  return t;
}

static bool close_enough(float a, float b, double tol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  if (isinf(a) || isinf(b)) return a == b;
  double d = fabs((double)a - (double)b);
  return d <= tol * (1.0 + fabs((double)b));
}

/* Output i of cpu against ref: names, dtype, dims and values. */
static void same_output(const cleave_tensor *c, const cleave_tensor *r, double tol) {
  assert_string_equal(c->name, r->name);
  assert_int_equal(c->dtype, r->dtype);
  assert_int_equal(c->ndim, r->ndim);
  for (int d = 0; d < r->ndim; d++)
    assert_int_equal(c->dims[d], r->dims[d]);
  assert_int_equal(c->nbytes, r->nbytes);
  if (r->dtype != CLEAVE_DTYPE_FLOAT32) {
    assert_memory_equal(c->data, r->data, r->nbytes);
    return;
  }
  const float *x = c->data, *y = r->data;
  for (size_t i = 0; i < r->nbytes / sizeof(float); i++)
    if (!close_enough(x[i], y[i], tol)) {
      print_error("output %s element %zu: cpu %.9g, ref %.9g\n", r->name, i, x[i], y[i]);
      fail();
    }
}

/* Runs the model on cpu and ref with the same inputs. Where ref succeeds cpu must agree; where ref fails cpu must
 * fail too. Returns the cpu's status. Sessions are passed in so that a sequence of runs exercises re-planning. */
static int run_pair(cleave_session *cpu, cleave_session *ref, cleave_ctx *ctx, const cleave_tensor *in, int n_in,
                    double tol) {
  cleave_result *rr = NULL, *rc_ = NULL;
  int ref_rc = cleave_run_sync(ref, in, (size_t)n_in, &rr);
  int cpu_rc = cleave_run_sync(cpu, in, (size_t)n_in, &rc_);
  if (ref_rc == 0 && cpu_rc != 0)
    print_error("cpu failed where ref ran: %d %s\n", cpu_rc, cleave_ctx_last_error(ctx));
  if (ref_rc != 0 && cpu_rc == 0) print_error("cpu ran where ref failed: %d\n", ref_rc);
  assert_int_equal(cpu_rc == 0, ref_rc == 0);
  if (ref_rc == 0) {
    assert_int_equal(cleave_result_num_outputs(rc_), cleave_result_num_outputs(rr));
    for (int i = 0; i < cleave_result_num_outputs(rr); i++)
      same_output(cleave_result_output(rc_, i), cleave_result_output(rr, i), tol);
  }
  cleave_result_free(rr);
  cleave_result_free(rc_);
  return cpu_rc;
}

/* The whole check for one model and one set of inputs, with one and with two threads. Returns the cpu status
 * (the same for both). */
static int check_model(tb_model *tm, const cleave_tensor *in, int n_in, double tol) {
  int status = 0;
  for (int threads = 1; threads <= 2; threads++) {
    cleave_ctx *ctx = new_ctx(threads, NULL);
    cleave_model *m = load(ctx, tm);
    cleave_session *cpu = open_session(ctx, m, "cpu"), *ref = open_session(ctx, m, "ref");
    int rc = run_pair(cpu, ref, ctx, in, n_in, tol);
    rc = rc ? rc : run_pair(cpu, ref, ctx, in, n_in, tol); /* the same plan a second time */
    if (threads == 1) status = rc;
    assert_int_equal(rc, status);
    cleave_session_free(cpu);
    cleave_session_free(ref);
    cleave_model_free(m);
    cleave_ctx_free(ctx);
  }
  return status;
}

#define TOL 1e-4

/* One float input x of the given dims (declared with the same dims), checked against ref; the model is freed. */
static int check_x(tb_model *tm, int ndim, const int64_t *dims) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)dims[i];
  float *data = malloc((n ? n : 1) * sizeof(float));
  cleave_tensor x = f32_input("x", data, ndim, dims);
  int rc = check_model(tm, &x, 1, TOL);
  free(data);
  tb_free(tm);
  return rc;
}

static tb_model *model_x(int opset, int ndim, const int64_t *dims) {
  tb_model *m = tb_new(opset);
  tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, ndim, dims);
  return m;
}

/* ---- convolutions ---- */

/* Weights with fewer input channels than the input has: refused by both devices, never read out of bounds. */
static void test_conv_weights_disagree_with_channels(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 6, 6}, dw[] = {4, 2, 3, 3};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_add_node(m, "Conv", "x,w", "y");
  tb_output(m, "y");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  cleave_ctx *ctx = new_ctx(1, NULL);
  cleave_model *model = NULL;
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, &model);
  free(buf);
  tb_free(m);
  if (rc == 0) { /* inference may refuse it already; if not, the devices must */
    cleave_session *cpu = open_session(ctx, model, "cpu");
    static float data[3 * 36];
    cleave_tensor x = f32_input("x", data, 4, dx);
    cleave_result *r = NULL;
    assert_int_not_equal(cleave_run_sync(cpu, &x, 1, &r), 0);
    cleave_session_free(cpu);
    cleave_model_free(model);
  }
  cleave_ctx_free(ctx);
}

/* Groups that do not divide the output channels go to the reference kernel; groups that do not divide the input
 * channels are refused. */
static void test_conv_groups(void **state) {
  (void)state;
  const int64_t dx[] = {1, 6, 5, 5}, dw[] = {6, 2, 3, 3}, dw4[] = {4, 2, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_node *n = tb_add_node(m, "Conv", "x,w", "y");
  tb_attr_int(n, "group", 3);
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
  /* group 2 with weights for 4 output channels of 2 inputs each: 4 inputs, not 6 */
  m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw4, 1, 0);
  n = tb_add_node(m, "Conv", "x,w", "y");
  tb_attr_int(n, "group", 2);
  tb_output(m, "y");
  size_t len;
  uint8_t *buf = tb_pack(m, &len);
  tb_free(m);
  cleave_ctx *ctx = new_ctx(1, NULL);
  cleave_model *model = NULL;
  int rc = cleave_model_load_memory(ctx, buf, len, NULL, &model);
  free(buf);
  if (rc == 0) {
    cleave_session *cpu = open_session(ctx, model, "cpu");
    static float data[6 * 25];
    cleave_tensor x = f32_input("x", data, 4, dx);
    cleave_result *r = NULL;
    assert_int_not_equal(cleave_run_sync(cpu, &x, 1, &r), 0);
    cleave_session_free(cpu);
    cleave_model_free(model);
  }
  cleave_ctx_free(ctx);
}

/* Pads at XNNPACK's limit and beyond it (the reference kernel then), strides larger than the input, dilations. */
static void test_conv_extreme_geometry(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 3, 5}, dw[] = {3, 2, 1, 1}, dw3[] = {3, 2, 3, 3};
  const int64_t pads_at[] = {4096, 0, 0, 0}, pads_over[] = {5000, 0, 0, 1}, big_s[] = {4096, 7}, dil[] = {1, 2},
                p1[] = {1, 1, 1, 1};
  const int64_t *pads[] = {pads_at, pads_over};
  for (int i = 0; i < 2; i++) {
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "b", 1, dw, 1, 0);
    tb_node *n = tb_add_node(m, "Conv", "x,w,b", "y");
    tb_attr_ints(n, "pads", pads[i], 4);
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw3, 1, 0);
  tb_node *n = tb_add_node(m, "Conv", "x,w", "y");
  tb_attr_ints(n, "strides", big_s, 2);
  tb_attr_ints(n, "dilations", dil, 2);
  tb_attr_ints(n, "pads", p1, 4);
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* auto_pad SAME_UPPER with strides and dilations (XNNPACK's TensorFlow SAME padding), SAME_LOWER and VALID. */
static void test_conv_auto_pad(void **state) {
  (void)state;
  const char *modes[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
  const int64_t dx[] = {2, 3, 7, 8}, dw[] = {4, 3, 3, 2}, s[] = {2, 3}, d[] = {2, 1};
  for (int i = 0; i < 3; i++) {
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    tb_node *n = tb_add_node(m, "Conv", "x,w", "y");
    tb_attr_ints(n, "strides", s, 2);
    tb_attr_ints(n, "dilations", d, 2);
    tb_attr_str(n, "auto_pad", modes[i]);
    tb_add_node(m, "Relu", "y", "z");
    tb_output(m, "z");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ConvTranspose: output_padding, asymmetric pads, dilations and groups, alone and together, with a fused tail. */
static void test_deconv_variants(void **state) {
  (void)state;
  const int64_t dx[] = {2, 4, 5, 6};
  struct {
    int64_t group, s[2], d[2], p[4], op[2];
  } v[] = {
      {1, {2, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}}, {1, {3, 2}, {1, 1}, {1, 0, 2, 1}, {2, 0}},
      {2, {2, 3}, {2, 1}, {0, 1, 1, 0}, {1, 2}}, {4, {1, 1}, {2, 3}, {1, 1, 1, 1}, {0, 0}},
      {2, {2, 2}, {1, 1}, {2, 2, 2, 2}, {0, 1}},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    tb_model *m = model_x(13, 4, dx);
    const int64_t dw[] = {4, 6 / v[i].group * (v[i].group == 4 ? 2 : 1), 3, 2}, db[] = {dw[1] * v[i].group};
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "b", 1, db, 1, 0);
    init_rand(m, "k", 4, (const int64_t[]){1, db[0], 1, 1}, 1, 0.5f);
    tb_node *n = tb_add_node(m, "ConvTranspose", "x,w,b", "y");
    tb_attr_int(n, "group", v[i].group);
    tb_attr_ints(n, "strides", v[i].s, 2);
    tb_attr_ints(n, "dilations", v[i].d, 2);
    tb_attr_ints(n, "pads", v[i].p, 4);
    tb_attr_ints(n, "output_padding", v[i].op, 2);
    tb_add_node(m, "Mul", "y,k", "ym");
    tb_add_node(m, "Relu", "ym", "z");
    tb_output(m, "z");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ---- pools ---- */

static tb_node *pool(tb_model *m, const char *op, int64_t kh, int64_t kw, const int64_t *s, const int64_t *p,
                     const int64_t *d) {
  const int64_t k[] = {kh, kw};
  tb_node *n = tb_add_node(m, op, "x", "y");
  tb_attr_ints(n, "kernel_shape", k, 2);
  if (s) tb_attr_ints(n, "strides", s, 2);
  if (p) tb_attr_ints(n, "pads", p, 4);
  if (d) tb_attr_ints(n, "dilations", d, 2);
  tb_output(m, "y");
  return n;
}

/* MaxPool with dilations, strides and asymmetric pads. */
static void test_maxpool_dilations(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 9, 10}, s[] = {2, 1}, p[] = {1, 0, 2, 1}, d[] = {2, 3};
  tb_model *m = model_x(13, 4, dx);
  pool(m, "MaxPool", 3, 2, s, p, d);
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* AveragePool with pads, without and with count_include_pad (the latter on the reference kernel). */
static void test_avgpool_pads(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 7, 6}, s[] = {2, 2}, p[] = {1, 2, 1, 0};
  for (int cip = 0; cip < 2; cip++) {
    tb_model *m = model_x(13, 4, dx);
    tb_node *n = pool(m, "AveragePool", 3, 3, s, p, NULL);
    tb_attr_int(n, "count_include_pad", cip);
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Pools whose stride is larger than their window. */
static void test_pool_strides_beyond_kernel(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 9, 10}, s[] = {3, 4};
  const char *ops[] = {"MaxPool", "AveragePool"};
  for (int i = 0; i < 2; i++) {
    tb_model *m = model_x(13, 4, dx);
    pool(m, ops[i], 2, 2, s, NULL, NULL);
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ---- fully connected and matmul ---- */

/* Gemm with alpha, beta, transB, transA (reference) and biases of shape [N], [1,N], [1], [M,N], [M,1], none. */
static void test_gemm_variants(void **state) {
  (void)state;
  const int64_t dx[] = {3, 4}, dxt[] = {4, 3};
  struct {
    int transA, transB;
    float alpha, beta;
    int c_ndim;
    int64_t c[2];
  } v[] = {
      {0, 0, 1, 1, 1, {5}},    {0, 1, 0.5f, 2, 2, {1, 5}}, {0, 0, -1, 0.25f, 0, {0}}, {0, 1, 2, 1, 2, {3, 5}},
      {0, 0, 1, 3, 2, {3, 1}}, {0, 0, 1, 1, -1, {0}},      {1, 0, 1, 1, 1, {5}},      {0, 0, 1, 1, 1, {1}},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    tb_model *m = model_x(13, 2, v[i].transA ? dxt : dx);
    const int64_t dw[] = {4, 5}, dwt[] = {5, 4};
    init_rand(m, "w", 2, v[i].transB ? dwt : dw, 1, 0);
    if (v[i].c_ndim >= 0) init_rand(m, "c", v[i].c_ndim, v[i].c, 1, 0);
    tb_node *n = tb_add_node(m, "Gemm", v[i].c_ndim >= 0 ? "x,w,c" : "x,w", "y");
    tb_attr_int(n, "transA", v[i].transA);
    tb_attr_int(n, "transB", v[i].transB);
    tb_attr_float(n, "alpha", v[i].alpha);
    tb_attr_float(n, "beta", v[i].beta);
    tb_add_node(m, "Relu", "y", "z");
    tb_output(m, "z");
    assert_int_equal(check_x(m, 2, v[i].transA ? dxt : dx), 0);
  }
}

/* MatMul with constant weights of every input rank, and between activations with broadcast batches. */
static void test_matmul_const_weights(void **state) {
  (void)state;
  for (int r = 1; r <= 5; r++) {
    int64_t dx[5] = {2, 3, 1, 2, 4};
    dx[r - 1] = 4; /* the last axis is K */
    tb_model *m = model_x(13, r, dx);
    const int64_t dw[] = {4, 6}, db[] = {6};
    init_rand(m, "w", 2, dw, 1, 0);
    init_rand(m, "b", 1, db, 1, 0);
    tb_add_node(m, "MatMul", "x,w", "y");
    tb_add_node(m, "Add", "y,b", "z");
    tb_output(m, "z");
    assert_int_equal(check_x(m, r, dx), 0);
  }
}

static int check_matmul(int ra, const int64_t *da, int rb, const int64_t *db) {
  tb_model *m = tb_new(13);
  tb_input(m, "a", CLEAVE_DTYPE_FLOAT32, ra, da);
  tb_input(m, "b", CLEAVE_DTYPE_FLOAT32, rb, db);
  tb_add_node(m, "MatMul", "a,b", "y");
  tb_output(m, "y");
  static float xa[4096], xb[4096];
  cleave_tensor in[2] = {f32_input("a", xa, ra, da), f32_input("b", xb, rb, db)};
  int rc = check_model(m, in, 2, TOL);
  tb_free(m);
  return rc;
}

/* MatMul between activations with the batch broadcasts the device supports, and K = 0. */
static void test_matmul_broadcast_supported(void **state) {
  (void)state;
  assert_int_equal(check_matmul(3, (const int64_t[]){3, 4, 5}, 3, (const int64_t[]){3, 5, 6}), 0);
  assert_int_equal(check_matmul(3, (const int64_t[]){1, 4, 5}, 3, (const int64_t[]){3, 5, 6}), 0);
  assert_int_equal(check_matmul(2, (const int64_t[]){4, 5}, 4, (const int64_t[]){2, 3, 5, 6}), 0);
  assert_int_equal(check_matmul(4, (const int64_t[]){2, 3, 4, 5}, 2, (const int64_t[]){5, 6}), 0);
  assert_int_equal(check_matmul(4, (const int64_t[]){2, 3, 4, 0}, 2, (const int64_t[]){0, 6}), 0);
  assert_int_equal(check_matmul(3, (const int64_t[]){3, 1, 5}, 3, (const int64_t[]){1, 5, 2}), 0);
}

/* ---- elementwise ops, layouts and broadcasting ---- */

/* Add, Mul, Max and a chain over inputs of rank 1 to 6, with lower-rank operands that are not constants. */
static void test_elementwise_ranks(void **state) {
  (void)state;
  for (int r = 1; r <= 6; r++) {
    int64_t dx[6], dy[6];
    for (int i = 0; i < r; i++)
      dx[i] = 2 + (i % 3);
    int ry = r > 1 ? r - 1 : 1;
    for (int i = 0; i < ry; i++)
      dy[i] = dx[r - ry + i];
    if (ry > 1) dy[0] = 1;
    tb_model *m = tb_new(13);
    tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, r, dx);
    tb_input(m, "y", CLEAVE_DTYPE_FLOAT32, ry, dy);
    init_scalar(m, "k", 0.5f);
    tb_add_node(m, "Add", "x,y", "a");
    tb_add_node(m, "Mul", "a,k", "b");
    tb_add_node(m, "Relu", "b", "c");
    tb_add_node(m, "Max", "c,y", "d");
    tb_add_node(m, "Sigmoid", "d", "e");
    tb_add_node(m, "Mul", "y,e", "f");
    tb_output(m, "f");
    tb_output(m, "a");
    static float xa[1024], xb[1024];
    cleave_tensor in[2] = {f32_input("x", xa, r, dx), f32_input("y", xb, ry, dy)};
    assert_int_equal(check_model(m, in, 2, TOL), 0);
    tb_free(m);
  }
}

/* A convolution's output (NHWC inside the device) combined with non-constant operands of rank 0 to 5, which are
 * broadcast to it (rank 5 takes the result out of NHWC), and fed into another convolution so that the result
 * stays NHWC; the operand is read again by a second op. */
static void test_nhwc_broadcast_of_lower_rank_inputs(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 5, 6}, dw[] = {4, 3, 1, 1}, dw2[] = {2, 4, 3, 3};
  const int64_t shapes[][5] = {{0},          {6},          {5, 6}, {4, 5, 6},      {4, 1, 1},
                               {1, 4, 1, 1}, {2, 1, 5, 1}, {5, 1}, {3, 1, 4, 1, 6}};
  const int ranks[] = {0, 1, 2, 3, 3, 4, 4, 2, 5};
  const char *ops[] = {"Add", "Mul", "Sub", "Div", "Max", "Add", "Min", "Sub", "Add"};
  for (int i = 0; i < 9; i++) {
    tb_model *m = tb_new(13);
    tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
    tb_input(m, "y", CLEAVE_DTYPE_FLOAT32, ranks[i], shapes[i]);
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "w2", 4, dw2, 1, 0);
    tb_add_node(m, "Conv", "x,w", "c");
    tb_add_node(m, ops[i], i % 2 ? "y,c" : "c,y", "d");
    tb_add_node(m, ranks[i] < 5 ? "Conv" : "Relu", ranks[i] < 5 ? "d,w2" : "d", "e");
    tb_add_node(m, "Mul", "d,y", "f"); /* y read again, in the same layout */
    tb_output(m, "e");
    tb_output(m, "f");
    static float xa[1024], xb[1024];
    cleave_tensor in[2] = {f32_input("x", xa, 4, dx), f32_input("y", xb, ranks[i], shapes[i])};
    for (size_t k = 0; k < in[1].nbytes / 4; k++)
      xb[k] = xb[k] > 0 ? xb[k] + 0.5f : xb[k] - 0.5f; /* no /0 */
    assert_int_equal(check_model(m, in, 2, TOL), 0);
    tb_free(m);
  }
}

/* Every unary op the device hands to XNNPACK, in ONNX layout and in NHWC, with the rounding ties and a negative
 * square root among the values. */
static void test_unary_ops(void **state) {
  (void)state;
  const char *ops[] = {"Sigmoid", "LeakyRelu", "Elu", "Abs", "Neg", "Floor", "Ceil", "Round", "Sqrt", "Pow", "Tanh"};
  const int64_t dx[] = {1, 3, 4, 5}, dw[] = {3, 3, 1, 1};
  for (int i = 0; i < 11; i++) {
    for (int nhwc = 0; nhwc < 2; nhwc++) {
      tb_model *m = model_x(13, 4, dx);
      init_rand(m, "w", 4, dw, 1, 0);
      init_scalar(m, "two", 2);
      if (nhwc) tb_add_node(m, "Conv", "x,w", "c");
      tb_node *n =
          tb_add_node(m, ops[i], strcmp(ops[i], "Pow") == 0 ? (nhwc ? "c,two" : "x,two") : (nhwc ? "c" : "x"), "y");
      if (i == 1 || i == 2) tb_attr_float(n, "alpha", 0.3f);
      tb_output(m, "y");
      float data[60];
      cleave_tensor x = f32_input("x", data, 4, dx);
      data[0] = 2.5f, data[1] = -2.5f, data[2] = 0.5f, data[3] = -0.5f, data[4] = 1.5f, data[5] = -1.0f;
      assert_int_equal(check_model(m, &x, 1, TOL), 0);
      tb_free(m);
    }
  }
}

/* A chain longer than one step holds (XS_MAX_EW), scalar and per-channel constants mixed, constants on either
 * side, with an intermediate that is also an output. */
static void test_long_chain(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 4, 5}, dc[] = {3, 1, 1}, dl[] = {5};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "pc", 3, dc, 1, 1);
  init_rand(m, "pl", 1, dl, 1, 1);
  init_scalar(m, "k", 0.75f);
  init_scalar(m, "lo", -0.5f);
  init_scalar(m, "hi", 0.5f);
  const char *ops[] = {"Mul", "Add",  "Sub", "Div", "Mul", "Clip",        "Add",
                       "Mul", "Relu", "Sub", "Div", "Mul", "HardSigmoid", "Add"};
  const char *other[] = {"k", "pc", "k", "pc", "pc", NULL, "k", "k", NULL, "pc", "k", "pc", NULL, "pl"};
  char prev[16] = "x", cur[16], ins[64];
  for (int i = 0; i < 14; i++) {
    snprintf(cur, sizeof cur, "v%d", i);
    if (ops[i][0] == 'C')
      snprintf(ins, sizeof ins, "%s,lo,hi", prev);
    else if (other[i] && i % 3 == 1 && ops[i][0] != 'S' && ops[i][0] != 'D')
      snprintf(ins, sizeof ins, "%s,%s", other[i], prev); /* the constant first */
    else if (other[i])
      snprintf(ins, sizeof ins, "%s,%s", prev, other[i]);
    else
      snprintf(ins, sizeof ins, "%s", prev);
    tb_add_node(m, ops[i], ins, cur);
    strcpy(prev, cur);
  }
  tb_output(m, prev);
  tb_output(m, "v7");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* HardSwish patterns that must not fuse: an intermediate with a second reader, another tensor in the Mul, a Clip
 * to other bounds, a division by another constant. */
static void test_hardswish_near_misses(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 4, 4};
  for (int v = 0; v < 4; v++) {
    tb_model *m = tb_new(13);
    tb_input(m, "x", CLEAVE_DTYPE_FLOAT32, 4, dx);
    tb_input(m, "z", CLEAVE_DTYPE_FLOAT32, 4, dx);
    init_scalar(m, "three", 3);
    init_scalar(m, "zero", 0);
    init_scalar(m, "six", v == 2 ? 5 : 6);
    init_scalar(m, "sixth", 1.0f / 6.0f);
    tb_add_node(m, "Add", "x,three", "a");
    tb_add_node(m, "Clip", "a,zero,six", "c");
    tb_add_node(m, "Mul", v == 1 ? "z,c" : "x,c", "mm");
    tb_add_node(m, v == 3 ? "Div" : "Mul", v == 3 ? "mm,six" : "mm,sixth", "y");
    tb_output(m, "y");
    if (v == 0) tb_output(m, "c");
    static float xd[48], zd[48];
    cleave_tensor in[2] = {f32_input("x", xd, 4, dx), f32_input("z", zd, 4, dx)};
    assert_int_equal(check_model(m, in, 2, TOL), 0);
    tb_free(m);
  }
}

/* Clip with bounds that are graph inputs, in an NHWC region: the bounds become rank-4 tensors of one element. */
static void test_clip_input_bounds_nhwc(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 5, 5}, dw[] = {4, 3, 1, 1}, none[] = {0};
  tb_model *m = model_x(13, 4, dx);
  tb_input(m, "lo", CLEAVE_DTYPE_FLOAT32, 0, none);
  tb_input(m, "hi", CLEAVE_DTYPE_FLOAT32, 0, none);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Clip", "c,lo,hi", "cl");
  tb_add_node(m, "Conv", "cl,w2", "y");
  init_rand(m, "w2", 4, (const int64_t[]){2, 4, 1, 1}, 1, 0);
  tb_output(m, "y");
  static float xd[75];
  float lo = -0.2f, hi = 0.3f;
  cleave_tensor in[3] = {f32_input("x", xd, 4, dx),
                         {.name = "lo", .dtype = CLEAVE_DTYPE_FLOAT32, .data = &lo, .nbytes = 4},
                         {.name = "hi", .dtype = CLEAVE_DTYPE_FLOAT32, .data = &hi, .nbytes = 4}};
  assert_int_equal(check_model(m, in, 3, TOL), 0);
  tb_free(m);
}

/* PRelu with slopes of several shapes, and Pad before and after opset 11, in NHWC and ONNX layouts. */
static void test_prelu_and_pad(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 4, 5}, dw[] = {3, 3, 1, 1};
  const int64_t slopes[][4] = {{1}, {3, 1, 1}, {5}, {4, 5}, {1, 3, 1, 1}, {3, 4, 5}};
  const int nd[] = {1, 3, 1, 2, 4, 3};
  for (int i = 0; i < 6; i++) {
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "slope", nd[i], slopes[i], 1, 0);
    tb_add_node(m, "Conv", "x,w", "c");
    tb_add_node(m, "PRelu", "c,slope", "y");
    tb_add_node(m, "PRelu", "x,slope", "z");
    tb_output(m, "y");
    tb_output(m, "z");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
  const int64_t pads[] = {0, 1, 2, 0, 1, 0, 1, 3};
  for (int opset = 7; opset <= 13; opset += 6) {
    tb_model *m = model_x(opset, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    init_i64(m, "pads", 8, pads);
    init_scalar(m, "value", -2.5f);
    init_rand(m, "w4", 4, (const int64_t[]){3, 4, 1, 1}, 1, 0);
    tb_add_node(m, "Conv", "x,w", "c");
    tb_node *n = tb_add_node(m, "Pad", opset < 11 ? "c" : "c,pads,value", "y");
    if (opset < 11) {
      tb_attr_ints(n, "pads", pads, 8);
      tb_attr_float(n, "value", -2.5f);
    }
    tb_add_node(m, "Conv", "y,w4", "z");
    tb_output(m, "z");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Concat of a value in NHWC (a convolution's output), one in ONNX layout (a Transpose's output), a graph input and
 * a constant, along every axis, feeding a convolution and a graph output. */
static void test_concat_mixed_layouts(void **state) {
  (void)state;
  for (int axis = -4; axis < 4; axis++) {
    const int64_t dx[] = {2, 3, 4, 4}, dw[] = {3, 3, 1, 1}, dw2[] = {2, axis == 1 || axis == -3 ? 10 : 3, 1, 1};
    int64_t dk[] = {2, 3, 4, 4};
    dk[(axis + 4) % 4] = 1;
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "w2", 4, dw2, 1, 0);
    init_rand(m, "k", 4, dk, 1, 0);
    const int64_t perm[] = {0, 1, 3, 2};
    tb_add_node(m, "Conv", "x,w", "c");
    tb_node *n = tb_add_node(m, "Transpose", "x", "t");
    tb_attr_ints(n, "perm", perm, 4);
    n = tb_add_node(m, "Concat", "c,t,x,k", "cat");
    tb_attr_int(n, "axis", axis);
    tb_add_node(m, "Conv", "cat,w2", "y");
    tb_output(m, "y");
    tb_output(m, "cat");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* One value read in NHWC (by a convolution) and in ONNX layout (by Reshape and Transpose), and itself an output. */
static void test_value_in_both_layouts(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 5, 5}, dw[] = {4, 3, 3, 3}, shape[] = {1, -1}, perm[] = {0, 2, 3, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_rand(m, "w2", 4, (const int64_t[]){2, 4, 1, 1}, 1, 0);
  init_i64(m, "shape", 2, shape);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Conv", "c,w2", "c2");
  tb_add_node(m, "Reshape", "c,shape", "flat");
  tb_node *n = tb_add_node(m, "Transpose", "c", "tc");
  tb_attr_ints(n, "perm", perm, 4);
  tb_add_node(m, "Relu", "c", "rc");
  tb_output(m, "c2");
  tb_output(m, "flat");
  tb_output(m, "tc");
  tb_output(m, "c");
  tb_output(m, "rc");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Values inside patterns the device fuses (Conv+BN+Relu, a chain of affine ops, HardSwish written out) that are
 * also graph outputs: the fusion must stop there. */
static void test_fused_intermediates_as_outputs(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 6, 6}, dw[] = {4, 3, 3, 3}, c4[] = {4};
  for (int which = 0; which < 6; which++) {
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    init_rand(m, "s", 1, c4, 0.5f, 1);
    init_rand(m, "b", 1, c4, 0.5f, 0);
    init_rand(m, "mu", 1, c4, 0.5f, 0);
    init_rand(m, "var", 1, c4, 0.5f, 1);
    init_scalar(m, "three", 3);
    init_scalar(m, "zero", 0);
    init_scalar(m, "six", 6);
    init_scalar(m, "k", 1.5f);
    tb_add_node(m, "Conv", "x,w", "c");
    tb_add_node(m, "BatchNormalization", "c,s,b,mu,var", "bn");
    tb_add_node(m, "Relu", "bn", "r");
    tb_add_node(m, "Add", "r,three", "a3");
    tb_add_node(m, "Clip", "a3,zero,six", "cl");
    tb_add_node(m, "Mul", "r,cl", "mm");
    tb_add_node(m, "Div", "mm,six", "hs");
    tb_add_node(m, "Mul", "hs,k", "hk");
    tb_add_node(m, "Sub", "hk,k", "out");
    tb_output(m, "out");
    const char *inner[] = {"c", "bn", "r", "a3", "mm", "hk"};
    tb_output(m, inner[which]);
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ---- graph inputs and outputs ---- */

/* A graph input that is directly an output, an output that is a Reshape (alias) of an input, the same output
 * listed twice, and an input read by XNNPACK (copied into the arena) that is also an output. */
static void test_inputs_as_outputs(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 3, 3}, shape[] = {3, 6}, dw[] = {2, 2, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  init_i64(m, "shape", 2, shape);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_add_node(m, "Reshape", "x,shape", "r");
  tb_add_node(m, "Identity", "x", "id");
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Reshape", "c,shape", "rc");
  tb_output(m, "x");
  tb_output(m, "r");
  tb_output(m, "id");
  tb_output(m, "rc");
  tb_output(m, "r");
  tb_output(m, "x");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Outputs that are constants after folding (a static Shape, an initializer, its Identity). */
static void test_constant_output(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 4, 5}, dk[] = {2, 2};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "k", 2, dk, 1, 0);
  tb_add_node(m, "Shape", "x", "shape");
  tb_add_node(m, "Relu", "x", "y");
  tb_add_node(m, "Identity", "k", "kk");
  tb_output(m, "shape");
  tb_output(m, "y");
  tb_output(m, "k");
  tb_output(m, "kk");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* ---- softmax and resize ---- */

/* Softmax before opset 13 flattens from axis on; since 13 it is over one axis. */
static void test_softmax_axes(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 4, 5}, dw[] = {3, 3, 1, 1};
  const int opsets[] = {11, 11, 11, 11, 13, 13, 13};
  const int64_t axes[] = {0, 1, 2, -1, 1, -1, 3};
  for (int i = 0; i < 7; i++) {
    tb_model *m = model_x(opsets[i], 4, dx);
    init_rand(m, "w", 4, dw, 1, 0);
    tb_add_node(m, "Conv", "x,w", "c"); /* NHWC before the Softmax */
    tb_node *n = tb_add_node(m, "Softmax", "c", "y");
    tb_attr_int(n, "axis", axes[i]);
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
  /* the default axis: 1 before opset 13, -1 since */
  for (int opset = 11; opset <= 13; opset += 2) {
    const int64_t d3[] = {2, 3, 4};
    tb_model *m = model_x(opset, 3, d3);
    tb_add_node(m, "Softmax", "x", "y");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 3, d3), 0);
  }
}

/* Resize with sizes and with scales, nearest and linear, whole and fractional. */
static void test_resize_variants(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 4, 5}, four[] = {4};
  struct {
    bool sizes;
    float v[4];
    bool linear;
  } v[] = {
      {true, {1, 3, 9, 13}, false}, {true, {1, 3, 8, 10}, true},        {true, {1, 3, 7, 9}, true},
      {false, {1, 1, 2, 3}, true},  {false, {1, 1, 1.5f, 0.5f}, false}, {true, {1, 3, 2, 2}, false},
      {false, {1, 1, 3, 2}, false},
  };
  static const float nothing[1];
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    tb_model *m = model_x(13, 4, dx);
    tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
    if (v[i].sizes) {
      const int64_t s[] = {(int64_t)v[i].v[0], (int64_t)v[i].v[1], (int64_t)v[i].v[2], (int64_t)v[i].v[3]};
      tb_init_i64(m, "sizes", 1, four, s, 4);
      tb_init_f32(m, "scales", 1, (const int64_t[]){0}, nothing, 0);
    } else {
      tb_init_f32(m, "scales", 1, four, v[i].v, 4);
    }
    tb_node *n = tb_add_node(m, "Resize", v[i].sizes ? "x,roi,scales,sizes" : "x,roi,scales", "y");
    if (v[i].linear) tb_attr_str(n, "mode", "linear");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Linear resize with each coordinate mode (pytorch_half_pixel goes to the reference kernel). */
static void test_resize_linear_modes(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 3, 4}, four[] = {4};
  const char *modes[] = {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"};
  const float scales[] = {1, 1, 2, 3};
  static const float nothing[1];
  for (int i = 0; i < 4; i++) {
    tb_model *m = model_x(13, 4, dx);
    tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_f32(m, "scales", 1, four, scales, 4);
    tb_node *n = tb_add_node(m, "Resize", "x,roi,scales", "y");
    tb_attr_str(n, "mode", "linear");
    tb_attr_str(n, "coordinate_transformation_mode", modes[i]);
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Nearest resize with every nearest_mode and coordinate mode, down and up: the index tables stay in bounds and
 * agree with the reference. */
static void test_resize_nearest_modes(void **state) {
  (void)state;
  const char *nm[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  const char *cm[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"};
  const float sc[][4] = {{1, 1, 0.5f, 0.6f}, {1, 1, 1.7f, 3}, {1, 1, 0.34f, 2.5f}};
  const int64_t dx[] = {1, 2, 5, 7}, four[] = {4};
  static const float nothing[1];
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 5; b++)
      for (int c = 0; c < 3; c++) {
        if (b == 4 && (a == 1 || a == 3)) continue; /* see test_resize_nearest_tf_half_pixel_ceil */
        tb_model *m = model_x(13, 4, dx);
        tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
        tb_init_f32(m, "scales", 1, four, sc[c], 4);
        tb_node *n = tb_add_node(m, "Resize", "x,roi,scales", "y");
        tb_attr_str(n, "nearest_mode", nm[a]);
        tb_attr_str(n, "coordinate_transformation_mode", cm[b]);
        tb_output(m, "y");
        assert_int_equal(check_x(m, 4, dx), 0);
      }
}

/* Resize by constant sizes of an input whose height and width change between runs. */
static void test_resize_sizes_dynamic_input(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, -1, -1}, four[] = {4}, sizes[] = {1, 2, 8, 8};
  static const float nothing[1];
  for (int linear = 0; linear < 2; linear++) {
    tb_model *m = model_x(13, 4, dx);
    tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_f32(m, "scales", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_i64(m, "sizes", 1, four, sizes, 4);
    tb_node *n = tb_add_node(m, "Resize", "x,roi,scales,sizes", "y");
    if (linear) tb_attr_str(n, "mode", "linear");
    tb_output(m, "y");
    cleave_ctx *ctx = new_ctx(2, NULL);
    cleave_model *model = load(ctx, m);
    cleave_session *cpu = open_session(ctx, model, "cpu"), *ref = open_session(ctx, model, "ref");
    const int64_t hw[] = {4, 3, 8, 5, 4, 16};
    for (int k = 0; k < 6; k++) {
      static float data[2 * 16 * 16];
      cleave_tensor x = f32_input("x", data, 4, (const int64_t[]){1, 2, hw[k], hw[k]});
      assert_int_equal(run_pair(cpu, ref, ctx, &x, 1, TOL), 0);
    }
    cleave_session_free(cpu);
    cleave_session_free(ref);
    cleave_model_free(model);
    cleave_ctx_free(ctx);
    tb_free(m);
  }
}

/* Upsample (opset 9) with a scales input, nearest and linear. */
static void test_upsample_opset9(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 3, 4}, four[] = {4};
  const float sc[] = {1, 1, 2, 3};
  for (int linear = 0; linear < 2; linear++) {
    tb_model *m = model_x(9, 4, dx);
    tb_init_f32(m, "scales", 1, four, sc, 4);
    tb_node *n = tb_add_node(m, "Upsample", "x,scales", "y");
    if (linear) tb_attr_str(n, "mode", "linear");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ---- zero-sized tensors ---- */

/* Batch 0 (an input without data) through convolution, chains, pools and Softmax. */
static void test_zero_batch(void **state) {
  (void)state;
  const int64_t dx[] = {-1, 3, 6, 6}, x0[] = {0, 3, 6, 6}, dw[] = {4, 3, 3, 3}, c4[] = {4};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_rand(m, "s", 1, c4, 1, 0);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Relu", "c", "r");
  tb_add_node(m, "Sigmoid", "r", "sg");
  tb_node *n = tb_add_node(m, "MaxPool", "sg", "mp");
  tb_attr_ints(n, "kernel_shape", (const int64_t[]){2, 2}, 2);
  tb_add_node(m, "GlobalAveragePool", "mp", "g");
  tb_add_node(m, "Softmax", "g", "y");
  tb_output(m, "y");
  tb_output(m, "mp");
  assert_int_equal(check_x(m, 4, x0), 0);
}

/* Height 0 through elementwise ops and a layout change. */
static void test_zero_spatial(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 0, 4}, dk[] = {1, 3, 1, 1};
  const char *ops[] = {"Relu", "Mul", "Sigmoid", "Transpose"};
  for (int i = 0; i < 4; i++) {
    tb_model *m = model_x(13, 4, dx);
    init_rand(m, "k", 4, dk, 1, 0);
    tb_add_node(m, ops[i], i == 1 ? "x,k" : "x", "y");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Zero-sized tensors through Sigmoid, PRelu, Concat, Resize and MatMul with constant weights. */
static void test_zero_sized_more(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 0, 4}, pads[] = {0, 0, 1, 0, 0, 0, 1, 2}, dw[] = {4, 5};
  const float sc[] = {1, 1, 2, 2};
  static const float nothing[1];
  for (int i = 0; i < 5; i++) {
    tb_model *m = model_x(13, 4, dx);
    init_i64(m, "pads", 8, pads);
    init_rand(m, "slope", 3, (const int64_t[]){3, 1, 1}, 1, 0);
    init_rand(m, "w", 2, dw, 1, 0);
    tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_f32(m, "scales", 1, (const int64_t[]){4}, sc, 4);
    tb_node *n = NULL;
    switch (i) {
    case 0: tb_add_node(m, "Sigmoid", "x", "y"); break;
    case 1: tb_add_node(m, "PRelu", "x,slope", "y"); break;
    case 2: n = tb_add_node(m, "Concat", "x,x", "y"), tb_attr_int(n, "axis", 3); break;
    case 3: tb_add_node(m, "Resize", "x,roi,scales", "y"); break;
    default: tb_add_node(m, "MatMul", "x,w", "y"); break;
    }
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* ---- plans ---- */

/* A model with every kind of step, whose batch changes from run to run: 1, 3, 0, 1, 2, 3 and back, on one
 * session, so that plans are made, dropped and made again (the arena grows, shrinks, operators are set up again
 * with new pointers). */
static tb_model *batch_model(void) {
  const int64_t dx[] = {-1, 3, 8, 8}, dw[] = {4, 3, 3, 3}, c4[] = {4}, shape[] = {-1, 96}, dw2[] = {6, 4, 1, 1},
                p1[] = {1, 1, 1, 1}, k2[] = {2, 2}, dg[] = {96, 5}, perm[] = {0, 2, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_rand(m, "b", 1, c4, 1, 0);
  init_rand(m, "w2", 4, dw2, 1, 0);
  init_rand(m, "g", 2, dg, 1, 0);
  init_rand(m, "sc", 3, (const int64_t[]){4, 1, 1}, 1, 1);
  init_i64(m, "shape", 2, shape);
  init_i64(m, "shape3", 3, (const int64_t[]){-1, 6, 16});
  tb_node *n = tb_add_node(m, "Conv", "x,w,b", "c");
  tb_attr_ints(n, "pads", p1, 4);
  tb_add_node(m, "Mul", "c,sc", "cs");
  tb_add_node(m, "Relu", "cs", "r");
  n = tb_add_node(m, "MaxPool", "r", "mp");
  tb_attr_ints(n, "kernel_shape", k2, 2);
  tb_attr_ints(n, "strides", k2, 2);
  tb_add_node(m, "Conv", "mp,w2", "c2");
  tb_add_node(m, "Sigmoid", "c2", "sg");
  tb_add_node(m, "Reshape", "sg,shape", "flat");
  tb_add_node(m, "Gemm", "flat,g", "gm");
  tb_add_node(m, "Softmax", "gm", "out_cls");
  tb_add_node(m, "Reshape", "c2,shape3", "t");
  n = tb_add_node(m, "Transpose", "t", "tt");
  tb_attr_ints(n, "perm", perm, 3);
  tb_add_node(m, "MatMul", "t,tt", "att");
  tb_add_node(m, "GlobalAveragePool", "r", "gap");
  n = tb_add_node(m, "Concat", "gap,gap", "cat");
  tb_attr_int(n, "axis", 1);
  tb_output(m, "out_cls");
  tb_output(m, "att");
  tb_output(m, "cat");
  return m;
}

static void test_replan_batches(void **state) {
  (void)state;
  tb_model *tm = batch_model();
  const int64_t batches[] = {1, 3, 0, 1, 2, 3, 3, 1};
  for (int threads = 1; threads <= 2; threads++) {
    cleave_ctx *ctx = new_ctx(threads, NULL);
    cleave_model *m = load(ctx, tm);
    cleave_session *cpu = open_session(ctx, m, "cpu"), *ref = open_session(ctx, m, "ref");
    for (int k = 0; k < 8; k++) {
      static float data[3 * 3 * 64];
      cleave_tensor x = f32_input("x", data, 4, (const int64_t[]){batches[k], 3, 8, 8});
      assert_int_equal(run_pair(cpu, ref, ctx, &x, 1, TOL), 0);
    }
    cleave_session_free(cpu);
    cleave_session_free(ref);
    cleave_model_free(m);
    cleave_ctx_free(ctx);
  }
  tb_free(tm);
}

/* The same, with the i-th allocation of a re-plan failing: the run fails cleanly and the next runs, with either
 * shape, give the right answers. */
static void test_replan_allocation_failure(void **state) {
  (void)state;
  tb_model *tm = batch_model();
  counter cnt = {0, -1};
  cleave_ctx *ctx = new_ctx(2, &cnt);
  cleave_model *m = load(ctx, tm);
  cleave_session *cpu = open_session(ctx, m, "cpu"), *ref = open_session(ctx, m, "ref");
  static float d1[3 * 64], d3[3 * 3 * 64];
  cleave_tensor x1 = f32_input("x", d1, 4, (const int64_t[]){1, 3, 8, 8});
  cleave_tensor x3 = f32_input("x", d3, 4, (const int64_t[]){3, 3, 8, 8});
  assert_int_equal(run_pair(cpu, ref, ctx, &x1, 1, TOL), 0);
  cleave_result *r = NULL;
  cnt.allocs = 0;
  assert_int_equal(cleave_run_into(cpu, &x3, 1, &r), 0);
  long total = cnt.allocs;
  cleave_result_free(r);
  print_message("failing each of %ld allocations of a re-plan in turn\n", total);
  assert_true(total > 5);
  for (long i = 0; i < total; i++) {
    r = NULL;
    assert_int_equal(run_pair(cpu, ref, ctx, &x1, 1, TOL), 0); /* back to the first plan */
    cnt.allocs = 0;
    cnt.fail_at = i;
    int rc = cleave_run_into(cpu, &x3, 1, &r);
    cnt.fail_at = -1;
    if (rc != 0 && rc != CLEAVE_ENOMEM) {
      print_error("allocation %ld of %ld failing gave %d: %s\n", i, total, rc, cleave_ctx_last_error(ctx));
      fail();
    }
    cleave_result_free(r);
    assert_int_equal(run_pair(cpu, ref, ctx, &x3, 1, TOL), 0);
    assert_int_equal(run_pair(cpu, ref, ctx, &x1, 1, TOL), 0);
  }
  cleave_session_free(cpu);
  cleave_session_free(ref);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  tb_free(tm);
}

/* Session creation and the first run of the model with every kind of step, with the i-th allocation failing, for
 * every i: CLEAVE_ENOMEM each time, no leak (the sanitizer build checks), and the context still works. */
static void test_failing_allocator_batch_model(void **state) {
  (void)state;
  tb_model *tm = batch_model();
  counter cnt = {0, -1};
  cleave_ctx *ctx = new_ctx(2, &cnt);
  cleave_model *m = load(ctx, tm);
  static float data[2 * 3 * 64];
  cleave_tensor x = f32_input("x", data, 4, (const int64_t[]){2, 3, 8, 8});
  long total = 0;
  for (long i = -1; i < total || i < 0; i++) {
    cnt.allocs = 0;
    cnt.fail_at = i;
    cleave_session_options *o;
    cleave_session *s = NULL;
    cleave_result *r = NULL;
    assert_int_equal(cleave_session_options_new(&o), 0);
    assert_int_equal(cleave_session_options_set_device(o, "cpu"), 0);
    int rc = cleave_session_new(ctx, m, o, &s);
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
  tb_free(tm);
}

/* Reshape to a shape given by a small int64 input: the plan is keyed by its values; new values, new plan, and the
 * old one back. A float input of few elements goes into the key as well and must not freeze its data. */
static void test_plan_key_by_value(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3, 4}, ds[] = {-1}, d2[] = {3};
  tb_model *m = model_x(13, 3, dx);
  tb_input(m, "shape", CLEAVE_DTYPE_INT64, 1, ds);
  tb_input(m, "bias", CLEAVE_DTYPE_FLOAT32, 1, d2);
  init_scalar(m, "k", 3);
  tb_add_node(m, "Reshape", "x,shape", "r");
  tb_add_node(m, "Mul", "r,k", "rk");
  tb_add_node(m, "Relu", "rk", "y");
  tb_add_node(m, "Add", "bias,k", "b2");
  tb_add_node(m, "Sigmoid", "b2", "bs");
  tb_output(m, "y");
  tb_output(m, "bs");
  tb_output(m, "shape");
  int64_t shapes[][3] = {{6, 4, 0}, {4, 6, 0}, {24, 0, 0}, {2, 12, 0}, {6, 4, 0}, {2, -1, 3}, {4, 6, 0}};
  int lens[] = {2, 2, 1, 2, 2, 3, 2};
  for (int threads = 1; threads <= 2; threads++) {
    cleave_ctx *ctx = new_ctx(threads, NULL);
    cleave_model *model = load(ctx, m);
    cleave_session *cpu = open_session(ctx, model, "cpu"), *ref = open_session(ctx, model, "ref");
    for (int k = 0; k < 7; k++) {
      static float xd[24], bd[3];
      cleave_tensor in[3] = {f32_input("x", xd, 3, dx), i64_input("shape", shapes[k], lens[k]),
                             f32_input("bias", bd, 1, d2)};
      assert_int_equal(run_pair(cpu, ref, ctx, in, 3, TOL), 0);
    }
    cleave_session_free(cpu);
    cleave_session_free(ref);
    cleave_model_free(model);
    cleave_ctx_free(ctx);
  }
  tb_free(m);
}

/* Values computed at plan time from shapes: Shape -> Gather -> arithmetic -> Reshape, and a float tensor made by
 * ConstantOfShape that an NHWC Add then reads (permuted at plan time). */
static void test_values_known_at_plan_time(void **state) {
  (void)state;
  const int64_t dx[] = {-1, 3, 4, 4}, dw[] = {3, 3, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_i64(m, "idx", 1, (const int64_t[]){0});
  init_i64(m, "minus1", 1, (const int64_t[]){-1});
  tb_add_node(m, "Shape", "x", "sh");
  tb_add_node(m, "Gather", "sh,idx", "n");
  tb_attr_int(tb_add_node(m, "Concat", "n,minus1", "shape"), "axis", 0);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_attr_int(tb_add_node(m, "Cast", "sh", "shf"), "to", CLEAVE_DTYPE_FLOAT32);
  tb_add_node(m, "Add", "c,shf", "c2"); /* broadcast of a rank-1 value known at plan time */
  tb_add_node(m, "Reshape", "c2,shape", "y");
  tb_node *n = tb_add_node(m, "ConstantOfShape", "sh", "ones");
  (void)n;
  tb_add_node(m, "Add", "c,ones", "c3");
  tb_add_node(m, "Conv", "c3,w", "z");
  tb_output(m, "y");
  tb_output(m, "z");
  cleave_ctx *ctx = new_ctx(2, NULL);
  cleave_model *model = load(ctx, m);
  cleave_session *cpu = open_session(ctx, model, "cpu"), *ref = open_session(ctx, model, "ref");
  const int64_t batches[] = {1, 2, 1};
  for (int k = 0; k < 3; k++) {
    static float xd[2 * 48];
    cleave_tensor x = f32_input("x", xd, 4, (const int64_t[]){batches[k], 3, 4, 4});
    assert_int_equal(run_pair(cpu, ref, ctx, &x, 1, TOL), 0);
  }
  cleave_session_free(cpu);
  cleave_session_free(ref);
  cleave_model_free(model);
  cleave_ctx_free(ctx);
  tb_free(m);
}

/* An index out of range is an error on both devices; a negative one in range is not. */
static void test_gather_out_of_range(void **state) {
  (void)state;
  const int64_t dx[] = {3, 4}, di[] = {2};
  tb_model *m = model_x(13, 2, dx);
  tb_input(m, "i", CLEAVE_DTYPE_INT64, 1, di);
  tb_add_node(m, "Gather", "x,i", "y");
  tb_output(m, "y");
  static float xd[12];
  int64_t idx[] = {1, 7};
  cleave_tensor in[2] = {f32_input("x", xd, 2, dx), i64_input("i", idx, 2)};
  assert_int_not_equal(check_model(m, in, 2, TOL), 0);
  idx[1] = -3;
  assert_int_equal(check_model(m, in, 2, TOL), 0);
  tb_free(m);
}

/* ---- regressions: one test per defect found in review, and what it was ---- */

/* Regression (crash): Softmax over an axis of length 0. xo_setup (ops.c) returns before creating and setting
 * up the operator when the inner extent is 0, and the run then calls xnn_run_operator on a NULL (or a previous
 * plan's, stale) operator. */

/* ---- probes ---- */

static void test_softmax_zero_cols(void **state) {
  (void)state;
  const int64_t dx[] = {2, 0};
  tb_model *m = model_x(13, 2, dx);
  tb_add_node(m, "Softmax", "x", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 2, dx), 0);
}

/* Regression (crash, SIGFPE at session creation): Conv weights with 0 output channels divide by zero in
 * lower_conv (lower.c, .per = w->nbytes / sizeof(float) / oc). */
static void test_conv_zero_out_channels(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 5, 5}, dw[] = {0, 3, 3, 3};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_add_node(m, "Conv", "x,w", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (crash): MaxPool with its optional Indices output omitted (outputs "y", ""): the same e->v[-1] in
 * run_ref (xnn_device.c), whose memset writes through a garbage pointer. */
static void test_maxpool_omitted_indices(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 4, 4};
  tb_model *m = model_x(13, 4, dx);
  tb_node *n = tb_add_node(m, "MaxPool", "x", "y,");
  tb_attr_ints(n, "kernel_shape", (const int64_t[]){2, 2}, 2);
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (heap read out of bounds): a node with an omitted output ("") in the middle, on the reference
 * kernel. lower_ref (lower.c) records the omitted output as value -1 and run_ref (xnn_device.c) reads
 * e->v[-1]; the kernel then sees garbage dims. */
static void test_split_omitted_output(void **state) {
  (void)state;
  const int64_t dx[] = {6, 4};
  tb_model *m = model_x(13, 2, dx);
  tb_add_node(m, "Split", "x", "a,,c");
  tb_add_node(m, "Relu", "c", "y");
  tb_output(m, "a");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 2, dx), 0);
}

/* Regression, under the sanitizers (heap-buffer-overflow in run_ref): BatchNormalization with outputs "y", "", "",
 * which absorb_tail does not fuse (n_out != 1) and the reference kernel runs. Passes by luck without them. */
static void test_bn_omitted_outputs(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 4, 4}, c2[] = {2}, dw[] = {2, 2, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_rand(m, "s", 1, c2, 1, 1);
  init_rand(m, "b", 1, c2, 1, 0);
  init_rand(m, "mu", 1, c2, 1, 0);
  init_rand(m, "var", 1, c2, 0.5f, 1);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "BatchNormalization", "c,s,b,mu,var", "y,,");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (heap-buffer-overflow write): Resize by constant sizes [1,2,8,8] of an input of symbolic batch, run
 * with batch 3. At lowering the batch's scale is unknown, cl_nn_resize_params leaves it at 1 and lower_resize
 * (lower.c) takes the NHWC kernels, which resize every input image into an output planned for one. */
static void test_resize_sizes_batch(void **state) {
  (void)state;
  const int64_t dx[] = {-1, 2, -1, -1}, four[] = {4}, sizes[] = {1, 2, 8, 8};
  static const float nothing[1];
  for (int linear = 0; linear < 2; linear++) {
    tb_model *m = model_x(13, 4, dx);
    tb_dim_name(m, 0, 2, "H");
    tb_dim_name(m, 0, 3, "W");
    tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_f32(m, "scales", 1, (const int64_t[]){0}, nothing, 0);
    tb_init_i64(m, "sizes", 1, four, sizes, 4);
    tb_node *n = tb_add_node(m, "Resize", "x,roi,scales,sizes", "y");
    if (linear) tb_attr_str(n, "mode", "linear");
    tb_output(m, "y");
    assert_int_equal(check_x(m, 4, (const int64_t[]){3, 2, 4, 4}), 0);
  }
}

/* Regression (wrong answer): linear Resize by sizes with keep_aspect_ratio_policy (opset 18) of an input whose
 * height and width are symbolic: the scale is unknown at lowering (taken as 1, whole), XNNPACK then maps with
 * output/input per axis, ONNX with the one kept scale. */
static void test_resize_keep_aspect_ratio(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, -1, -1}, two[] = {2}, sizes[] = {8, 8}, axes[] = {2, 3};
  static const float nothing[1];
  tb_model *m = model_x(18, 4, dx);
  tb_dim_name(m, 0, 2, "H");
  tb_dim_name(m, 0, 3, "W");
  tb_init_i64(m, "sizes", 1, two, sizes, 2);
  tb_node *n = tb_add_node(m, "Resize", "x,-,-,sizes", "y");
  tb_attr_str(n, "mode", "linear");
  tb_attr_str(n, "keep_aspect_ratio_policy", "not_larger");
  tb_attr_ints(n, "axes", axes, 2);
  tb_output(m, "y");
  (void)nothing;
  assert_int_equal(check_x(m, 4, (const int64_t[]){1, 2, 4, 6}), 0);
}

/* Regression (wrong answer): Clip with a bound left out clamps to the type's limits (ONNX, ONNX Runtime and the
 * reference device: inf becomes FLT_MAX), but clip_bounds (lower.c) uses +-INFINITY, so inf passes. */
static void test_clip_default_bounds_inf(void **state) {
  (void)state;
  const int64_t dx[] = {4};
  for (int opset = 7; opset <= 13; opset += 6) {
    tb_model *m = model_x(opset, 1, dx);
    init_scalar(m, "zero", 0);
    init_scalar(m, "k", 0.5f);
    tb_node *n = tb_add_node(m, "Clip", opset < 11 ? "x" : "x,zero", "y");
    if (opset < 11) tb_attr_float(n, "min", 0);
    tb_add_node(m, "Mul", "y,k", "z");
    tb_output(m, "z");
    float data[4] = {INFINITY, -INFINITY, 1, -1};
    cleave_tensor x = {
        .name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 1, .dims = {4}, .data = data, .nbytes = sizeof data};
    assert_int_equal(check_model(m, &x, 1, TOL), 0);
    tb_free(m);
  }
}

/* Regression (the oracle is wrong, and the cpu device on axes of scale 1): nearest Resize with
 * tf_half_pixel_for_nn and round_prefer_ceil maps output o of an axis of scale 1 to input o + 1 in
 * cl_nn_resize_nearest (local/ref/k_nn_2.c:331). ONNX Runtime maps axes of scale 1 one to one. The reference
 * device shifts the channels as well (channel 0 reads channel 1); the cpu device keeps N and C but shifts H.
 * Expected values are ONNX Runtime 1.30's for x = 0, 1, 2, ... */
static void test_resize_nearest_tf_half_pixel_ceil(void **state) {
  (void)state;
  const int64_t dx[] = {1, 2, 5, 7}, four[] = {4};
  const float sc[] = {1, 1, 1, 2};
  static const float nothing[1];
  tb_model *m = model_x(13, 4, dx);
  tb_init_f32(m, "roi", 1, (const int64_t[]){0}, nothing, 0);
  tb_init_f32(m, "scales", 1, four, sc, 4);
  tb_node *n = tb_add_node(m, "Resize", "x,roi,scales", "y");
  tb_attr_str(n, "nearest_mode", "round_prefer_ceil");
  tb_attr_str(n, "coordinate_transformation_mode", "tf_half_pixel_for_nn");
  tb_output(m, "y");
  float x[70];
  for (int i = 0; i < 70; i++)
    x[i] = (float)i;
  cleave_tensor t = {
      .name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 2, 5, 7}, .data = x, .nbytes = sizeof x};
  const char *devices[] = {"cpu", "ref"};
  for (int dev = 0; dev < 2; dev++) {
    cleave_ctx *ctx = new_ctx(1, NULL);
    cleave_model *model = load(ctx, m);
    cleave_session *s = open_session(ctx, model, devices[dev]);
    cleave_result *r = NULL;
    assert_int_equal(cleave_run_sync(s, &t, 1, &r), 0);
    const cleave_tensor *y = cleave_result_output(r, 0);
    assert_int_equal(y->dims[3], 14);
    const float *v = y->data;
    for (int c = 0; c < 2; c++)
      for (int h = 0; h < 5; h++)
        for (int w = 0; w < 14; w++) {
          /* width: round_prefer_ceil((w + 0.5) / 2), clamped; every other axis one to one */
          float xo = ((float)w + 0.5f) / 2.0f, f = floorf(xo);
          int iw = (int)(xo == f + 0.5f ? f + 1.0f : roundf(xo));
          iw = iw > 6 ? 6 : iw;
          float want = (float)((c * 5 + h) * 7 + iw), got = v[(c * 5 + h) * 14 + w];
          if (got != want) {
            print_error("%s: y[0][%d][%d][%d] is %g, ONNX Runtime gives %g\n", devices[dev], c, h, w, (double)got,
                        (double)want);
            fail();
          }
        }
    cleave_result_free(r);
    cleave_session_free(s);
    cleave_model_free(model);
    cleave_ctx_free(ctx);
  }
  tb_free(m);
}

/* Regression (valid model refused): a per-channel constant that broadcasts a channel axis of 1 up to 3. chain_op
 * checks only that the rank is kept (lower.c), the plan then refuses the shapes (plan.c, ESHAPE), while the
 * reference device computes it. */
static void test_channel_broadcast_grows(void **state) {
  (void)state;
  const int64_t dx[] = {1, 1, 4, 4}, dk[] = {1, 3, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "k", 4, dk, 1, 0);
  tb_add_node(m, "Mul", "x,k", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (valid model refused): the same on rank 2: [3,1] + [1,5]. */
static void test_channel_broadcast_grows_2d(void **state) {
  (void)state;
  const int64_t dx[] = {3, 1}, dk[] = {1, 5};
  tb_model *m = model_x(13, 2, dx);
  init_rand(m, "k", 2, dk, 1, 0);
  tb_add_node(m, "Add", "x,k", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 2, dx), 0);
}

/* Regression (valid model refused at session creation): Conv + Relu + Clip(-5, -1) folds to the output range
 * [0, -1] (absorb_tail, lower.c), which XNNPACK refuses (output_min >= output_max); ONNX gives -1 everywhere. */
static void test_conv_clamp_empty_range(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 5, 5}, dw[] = {4, 3, 3, 3};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_scalar(m, "lo", -5);
  init_scalar(m, "hi", -1);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Relu", "c", "r");
  tb_add_node(m, "Clip", "r,lo,hi", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (valid model refused at session creation): Conv + Clip(0.5, 0.5), a range of one point. */
static void test_conv_clip_point(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 5, 5}, dw[] = {4, 3, 3, 3};
  tb_model *m = model_x(13, 4, dx);
  init_rand(m, "w", 4, dw, 1, 0);
  init_scalar(m, "lo", 0.5f);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Clip", "c,lo,lo", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (valid model refused at run): AveragePool and MaxPool with a 1x1 window and stride 2 (a subsampling);
 * XNNPACK refuses pooling_size 1 when the operator is made at plan time; lower_pool (lower.c) does not
 * check. */
static void test_pool_1x1(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 6, 5}, s[] = {2, 2};
  const char *ops[] = {"AveragePool", "MaxPool"};
  for (int i = 0; i < 2; i++) {
    tb_model *m = model_x(13, 4, dx);
    pool(m, ops[i], 1, 1, s, NULL, NULL);
    assert_int_equal(check_x(m, 4, dx), 0);
  }
}

/* Regression (valid model refused at run): MatMul [2,1,3,4] x [1,3,4,5], batches broadcast on both sides
 * (matmul_geometry, plan.c), after the session was accepted. */
static void test_matmul_broadcast_both(void **state) {
  (void)state;
  assert_int_equal(check_matmul(4, (const int64_t[]){2, 1, 3, 4}, 4, (const int64_t[]){1, 3, 4, 5}), 0);
}

/* Regression (valid model refused at session creation): Concat of 70 inputs. cpu_supports (xnn_device.c) says
 * yes for anything the reference kernels run, but lower_ref (lower.c) and infer_all (plan.c) stop at
 * XS_MAX_IN = 64 inputs, so the session fails instead of the node going elsewhere. */
static void test_concat_many_inputs(void **state) {
  (void)state;
  const int64_t dx[] = {2, 3};
  tb_model *tm = model_x(13, 2, dx);
  char list[1024] = "x";
  for (int i = 0; i < 69; i++)
    strcat(list, ",x");
  tb_node *n = tb_add_node(tm, "Concat", list, "y");
  tb_attr_int(n, "axis", 1);
  tb_output(tm, "y");
  /* the cpu device takes nodes of up to 64 inputs and says so when the session is made; ref runs this one */
  cleave_ctx *ctx = new_ctx(2, NULL);
  cleave_model *m = load(ctx, tm);
  cleave_session_options *o;
  cleave_session *s = NULL;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_device(o, "cpu"), 0);
  assert_int_equal(cleave_session_new(ctx, m, o, &s), CLEAVE_EUNSUPPORTED);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "at most 64 inputs"));
  cleave_session_options_free(o);
  cleave_session_free(open_session(ctx, m, "ref"));
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  tb_free(tm);
}

/* Regression (valid model refused at session creation): Gemm with N = 0; XNNPACK refuses a fully connected
 * operator with 0 output channels (ops.c). */
static void test_gemm_zero_n(void **state) {
  (void)state;
  const int64_t dx[] = {3, 4}, dw[] = {4, 0};
  tb_model *m = model_x(13, 2, dx);
  init_rand(m, "w", 2, dw, 1, 0);
  tb_add_node(m, "Gemm", "x,w", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 2, dx), 0);
}

/* Regression (valid model refused at run): GlobalAveragePool over 0 x 4 pixels; XNNPACK refuses width 0
 * (ops.c); the reference gives NaN. */
static void test_gap_zero_spatial(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 0, 4};
  tb_model *m = model_x(13, 4, dx);
  tb_add_node(m, "GlobalAveragePool", "x", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (valid model refused at run): Pad of an input with a zero-sized axis; XNNPACK's constant pad refuses
 * the shape at setup (ops.c); the reference gives the padded output. */
static void test_pad_zero_sized(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 0, 4}, pads[] = {0, 0, 1, 0, 0, 0, 1, 2};
  tb_model *m = model_x(13, 4, dx);
  init_i64(m, "pads", 8, pads);
  tb_add_node(m, "Pad", "x,pads", "y");
  tb_output(m, "y");
  assert_int_equal(check_x(m, 4, dx), 0);
}

/* Regression (the run allocates; "same shapes allocate nothing" does not hold): once a shape depends on an input's
 * values, xp_plan (plan.c) keys the plan by the values of every input of up to 64 elements, float data
 * included, so each new value of this 12-element image makes a new plan. */
static void test_small_float_input_replans(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 2, 2}, ds[] = {2}, dw[] = {4, 3, 1, 1};
  tb_model *m = model_x(13, 4, dx);
  tb_input(m, "shape", CLEAVE_DTYPE_INT64, 1, ds);
  init_rand(m, "w", 4, dw, 1, 0);
  tb_add_node(m, "Conv", "x,w", "c");
  tb_add_node(m, "Reshape", "c,shape", "y");
  tb_output(m, "y");
  counter cnt = {0, -1};
  cleave_ctx *ctx = new_ctx(1, &cnt);
  cleave_model *model = load(ctx, m);
  cleave_session *cpu = open_session(ctx, model, "cpu"), *ref = open_session(ctx, model, "ref");
  static float xd[12];
  int64_t shape[] = {4, 4};
  cleave_tensor in[2] = {f32_input("x", xd, 4, dx), i64_input("shape", shape, 2)};
  cleave_result *r = NULL;
  assert_int_equal(cleave_run_into(cpu, in, 2, &r), 0);
  assert_int_equal(cleave_run_into(cpu, in, 2, &r), 0);
  for (int k = 0; k < 3; k++) {
    in[0] = f32_input("x", xd, 4, dx); /* new values, same shapes */
    assert_int_equal(run_pair(cpu, ref, ctx, in, 2, TOL), 0);
  }
  cnt.allocs = 0;
  in[0] = f32_input("x", xd, 4, dx);
  assert_int_equal(cleave_run_into(cpu, in, 2, &r), 0);
  print_message("a run with new values of a 12-element float input: %ld allocations\n", cnt.allocs);
  assert_int_equal(cnt.allocs, 0);
  cleave_result_free(r);
  cleave_session_free(cpu);
  cleave_session_free(ref);
  cleave_model_free(model);
  cleave_ctx_free(ctx);
  tb_free(m);
}

/* Regression, under the sanitizers (undefined behaviour, which they abort on): an empty input without data (NULL,
 * which the session allows for 0 bytes). memcpy from NULL in cpu_run (xnn_device.c) when the input is copied
 * into the arena for XNNPACK, and in infer_all (plan.c) and key_of (plan.c) when the model is planned by
 * value. */
static void test_empty_input_without_data(void **state) {
  (void)state;
  const int64_t dx[] = {1, 3, 0, 4};
  tb_model *m = model_x(13, 4, dx);
  tb_add_node(m, "Sigmoid", "x", "y");
  tb_output(m, "y");
  cleave_tensor x = {.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 3, 0, 4}};
  assert_int_equal(check_model(m, &x, 1, TOL), 0);
  tb_free(m);
  const int64_t dv[] = {-1, 4}, ds[] = {2};
  m = model_x(13, 2, dv);
  tb_input(m, "shape", CLEAVE_DTYPE_INT64, 1, ds);
  init_rand(m, "w", 2, (const int64_t[]){4, 4}, 1, 0);
  tb_add_node(m, "MatMul", "x,w", "c");
  tb_add_node(m, "Reshape", "c,shape", "y");
  tb_output(m, "y");
  int64_t shape[] = {0, 2};
  cleave_tensor in[2] = {{.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {0, 4}},
                         i64_input("shape", shape, 2)};
  assert_int_equal(check_model(m, in, 2, TOL), 0);
  tb_free(m);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_weights_disagree_with_channels),
      cmocka_unit_test(test_conv_groups),
      cmocka_unit_test(test_conv_extreme_geometry),
      cmocka_unit_test(test_conv_auto_pad),
      cmocka_unit_test(test_deconv_variants),
      cmocka_unit_test(test_maxpool_dilations),
      cmocka_unit_test(test_avgpool_pads),
      cmocka_unit_test(test_pool_strides_beyond_kernel),
      cmocka_unit_test(test_gemm_variants),
      cmocka_unit_test(test_matmul_const_weights),
      cmocka_unit_test(test_matmul_broadcast_supported),
      cmocka_unit_test(test_elementwise_ranks),
      cmocka_unit_test(test_nhwc_broadcast_of_lower_rank_inputs),
      cmocka_unit_test(test_unary_ops),
      cmocka_unit_test(test_long_chain),
      cmocka_unit_test(test_hardswish_near_misses),
      cmocka_unit_test(test_clip_input_bounds_nhwc),
      cmocka_unit_test(test_prelu_and_pad),
      cmocka_unit_test(test_concat_mixed_layouts),
      cmocka_unit_test(test_value_in_both_layouts),
      cmocka_unit_test(test_fused_intermediates_as_outputs),
      cmocka_unit_test(test_inputs_as_outputs),
      cmocka_unit_test(test_constant_output),
      cmocka_unit_test(test_softmax_axes),
      cmocka_unit_test(test_resize_variants),
      cmocka_unit_test(test_resize_linear_modes),
      cmocka_unit_test(test_resize_nearest_modes),
      cmocka_unit_test(test_resize_sizes_dynamic_input),
      cmocka_unit_test(test_upsample_opset9),
      cmocka_unit_test(test_zero_batch),
      cmocka_unit_test(test_zero_spatial),
      cmocka_unit_test(test_zero_sized_more),
      cmocka_unit_test(test_replan_batches),
      cmocka_unit_test(test_replan_allocation_failure),
      cmocka_unit_test(test_failing_allocator_batch_model),
      cmocka_unit_test(test_plan_key_by_value),
      cmocka_unit_test(test_values_known_at_plan_time),
      cmocka_unit_test(test_gather_out_of_range),
  };
  const struct CMUnitTest regressions[] = {
      cmocka_unit_test(test_softmax_zero_cols),
      cmocka_unit_test(test_conv_zero_out_channels),
      cmocka_unit_test(test_maxpool_omitted_indices),
      cmocka_unit_test(test_split_omitted_output),
      cmocka_unit_test(test_bn_omitted_outputs),
      cmocka_unit_test(test_resize_sizes_batch),
      cmocka_unit_test(test_resize_keep_aspect_ratio),
      cmocka_unit_test(test_clip_default_bounds_inf),
      cmocka_unit_test(test_resize_nearest_tf_half_pixel_ceil),
      cmocka_unit_test(test_channel_broadcast_grows),
      cmocka_unit_test(test_channel_broadcast_grows_2d),
      cmocka_unit_test(test_conv_clamp_empty_range),
      cmocka_unit_test(test_conv_clip_point),
      cmocka_unit_test(test_pool_1x1),
      cmocka_unit_test(test_matmul_broadcast_both),
      cmocka_unit_test(test_concat_many_inputs),
      cmocka_unit_test(test_gemm_zero_n),
      cmocka_unit_test(test_gap_zero_spatial),
      cmocka_unit_test(test_pad_zero_sized),
      cmocka_unit_test(test_small_float_input_replans),
      cmocka_unit_test(test_empty_input_without_data),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  int rc = cmocka_run_group_tests_name("cpu_review", tests, NULL, NULL);
  rc += cmocka_run_group_tests_name("regressions", regressions, NULL, NULL);
  return rc;
}
