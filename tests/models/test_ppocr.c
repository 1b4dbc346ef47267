/* tests/models: PP-OCR det, rec and cls on fixed inputs against ONNX Runtime's outputs (tests/data/ppocr).
 * Usage: test_ppocr det|rec|cls|det_sample [device]. Models come from $CLEAVE_MODELS (scripts/fetch-models.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleave.h"
#include "core/ir/tensor.h"
#include "npy.h"

typedef struct model_case {
  const char *name, *file;
  int64_t dims[4];
  uint32_t seed;
  double tol;          /* max abs difference allowed */
  const char *picture; /* input from this PPM (relative to the source tree) instead of random values */
} model_case;

static const model_case cases[] = {
    {"det", "ch_PP-OCRv4_det_infer.onnx", {1, 3, 640, 640}, 1, 1e-3, NULL},
    {"rec", "ch_PP-OCRv4_rec_infer.onnx", {1, 3, 48, 320}, 2, 1e-4, NULL},
    {"cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", {1, 3, 48, 192}, 3, 1e-4, NULL},
    /* random input gives the detector nothing to find; the sample picture gives a map with real text in it */
    {"det_sample", "ch_PP-OCRv4_det_infer.onnx", {1, 3, 256, 640}, 0, 1e-3, "examples/data/sample.ppm"},
};

/* Twin of pictureInput() in scripts/gen-references.js: PPM (maxval 255) -> 1x3xHxW, RGB planes, ImageNet
 * normalisation computed in double and rounded once, so both sides produce the same bits. */
static void picture_input(const char *rel, const int64_t *dims, float *dst) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", CLEAVE_SOURCE_DIR, rel);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  int w = 0, h = 0, maxval = 0;
  assert_int_equal(fscanf(f, "P6 %d %d %d", &w, &h, &maxval), 3);
  assert_true(fgetc(f) != EOF); /* the single whitespace after maxval */
  assert_int_equal(maxval, 255);
  assert_true(h == dims[2] && w == dims[3]);
  size_t n = (size_t)w * (size_t)h;
  unsigned char *px = malloc(n * 3);
  assert_non_null(px);
  assert_int_equal(fread(px, 1, n * 3, f), n * 3);
  fclose(f);
  static const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < n; i++) dst[(size_t)c * n + i] = (float)(((double)px[i * 3 + c] / 255 - mean[c]) / std[c]);
  free(px);
}

static const model_case *current;
static const char *device = "ref";

static void test_model(void **state) {
  (void)state;
  const model_case *c = current;
  const char *dir = getenv("CLEAVE_MODELS");
  if (!dir) dir = CLEAVE_SOURCE_DIR "/models";
  char path[1024], ref[1024], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, c->file);
  snprintf(ref, sizeof ref, "%s/tests/data/ppocr/%s_out0.npy", CLEAVE_SOURCE_DIR, c->name);

  cleave_ctx *ctx;
  cleave_model *m = NULL;
  cleave_session_options *so;
  cleave_session *s = NULL;
  cleave_result *r = NULL;
  assert_int_equal(cleave_ctx_new(&ctx, NULL, NULL), 0);
  int rc = cleave_model_load(ctx, path, &m);
  if (rc) print_error("%s: %s\n", path, cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);
  assert_int_equal(cleave_session_options_new(&so), 0);
  assert_int_equal(cleave_session_options_set_device(so, device), 0);
  rc = cleave_session_new(ctx, m, so, &s);
  if (rc) print_error("session: %s\n", cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);

  int64_t n = c->dims[0] * c->dims[1] * c->dims[2] * c->dims[3];
  float *x = malloc((size_t)n * sizeof *x);
  assert_non_null(x);
  if (c->picture) picture_input(c->picture, c->dims, x);
  else cl_fill_random_f32(x, n, c->seed);
  cleave_tensor in = {.name = cleave_model_input(m, 0)->name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .data = x,
                      .nbytes = (size_t)n * sizeof *x};
  memcpy(in.dims, c->dims, sizeof c->dims);
  rc = cleave_run_sync(s, &in, 1, &r);
  if (rc) print_error("run: %s\n", cleave_ctx_last_error(ctx));
  assert_int_equal(rc, 0);

  cleave_tensor want;
  rc = npy_read(ref, &want, err, sizeof err);
  if (rc) print_error("%s\n", err);
  assert_int_equal(rc, 0);
  const cleave_tensor *got = cleave_result_output(r, 0);
  assert_int_equal(got->dtype, want.dtype);
  assert_int_equal(got->ndim, want.ndim);
  for (int d = 0; d < got->ndim; d++) assert_int_equal(got->dims[d], want.dims[d]);
  double max_diff = 0;
  int64_t count = cleave_tensor_numel(got);
  const float *g = got->data, *w = want.data;
  for (int64_t i = 0; i < count; i++) {
    double d = fabs((double)g[i] - (double)w[i]);
    if (!(d <= max_diff)) max_diff = d; /* NaN propagates as a failure below */
  }
  printf("ppocr %s on %s: max abs diff %.3g (limit %.0e), run %.1f ms\n", c->name, device, max_diff, c->tol,
         cleave_result_ms(r));
  assert_true(max_diff <= c->tol);
  free(want.data);
  free(x);
  cleave_result_free(r);
  cleave_session_free(s);
  cleave_session_options_free(so);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_ppocr det|rec|cls|det_sample [device]\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(argv[1], cases[i].name) == 0) current = &cases[i];
  if (!current) return 2;
  if (argc > 2) device = argv[2];
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_model)};
  return cmocka_run_group_tests_name(current->name, tests, NULL, NULL);
}
