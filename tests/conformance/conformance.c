/* cleave-conformance: runs the ONNX backend node tests (model.onnx + test_data_set_N/{input,output}_K.pb) on a
 * device. A test is attempted when the model loads and the device claims every node; it passes when every
 * output matches with the ONNX backend's tolerances (rtol 1e-3, atol 1e-7; integers and bools exactly). The last
 * line is "N passed, M failed, K unsupported". Exit status 1 when anything failed. */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleave.h"
#include "core/ir/model.h"
#include "core/ir/onnx.h"

#define DEFAULT_DIR "/usr/share/libonnx-testdata/data/node"
#define MAX_IO 32

static const double RTOL = 1e-3, ATOL = 1e-7;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_pb(cleave_ctx *ctx, const char *path, cl_tensor *t) {
  void *data;
  size_t size;
  int rc = cl_read_file(ctx, path, &data, &size);
  if (rc) return rc;
  rc = cl_onnx_parse_tensor(ctx, data, size, t, NULL);
  cl_free(ctx, data);
  return rc;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Compares got with want; on mismatch writes the reason. */
static int compare(const cleave_tensor *got, const cl_tensor *want, char *why, size_t len) {
  if ((int)got->dtype != want->dtype) {
    snprintf(why, len, "dtype %s, expected %s", cleave_dtype_name(got->dtype),
             cleave_dtype_name((cleave_dtype)want->dtype));
    return 0;
  }
  int same = got->ndim == want->ndim;
  for (int d = 0; same && d < got->ndim; d++) same = got->dims[d] == want->dims[d];
  if (!same) {
    char a[160], b[160];
    snprintf(why, len, "shape %s, expected %s", cl_dims_str(got->ndim, got->dims, a, sizeof a),
             cl_dims_str(want->ndim, want->dims, b, sizeof b));
    return 0;
  }
  int64_t n = cl_tensor_numel(want);
  const cl_tensor g = {.dtype = got->dtype, .ndim = got->ndim, .data = got->data};
  for (int64_t i = 0; i < n; i++) {
    if (want->dtype == CLEAVE_DTYPE_FLOAT32 || want->dtype == CLEAVE_DTYPE_FLOAT64) {
      double x = cl_tensor_get_f64(&g, i), y = cl_tensor_get_f64(want, i);
      if (isnan(x) && isnan(y)) continue;
      if (isinf(x) && isinf(y) && (x > 0) == (y > 0)) continue;
      if (!(fabs(x - y) <= ATOL + RTOL * fabs(y))) {
        snprintf(why, len, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
        return 0;
      }
    } else if (cl_tensor_get_i64(&g, i) != cl_tensor_get_i64(want, i)) {
      snprintf(why, len, "element %lld is %lld, expected %lld", (long long)i, (long long)cl_tensor_get_i64(&g, i),
               (long long)cl_tensor_get_i64(want, i));
      return 0;
    }
  }
  return 1;
}

enum { PASS, FAIL, UNSUPPORTED };

static int run_test(cleave_ctx *ctx, const char *dir, const char *device, char *why, size_t len) {
  char path[8192];
  cleave_model *m = NULL;
  cleave_session_options *so = NULL;
  cleave_session *s = NULL;
  int status = FAIL, err;
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  if ((err = cleave_model_load(ctx, path, &m))) {
    snprintf(why, len, "load: %s (%s)", cleave_ctx_last_error(ctx), cleave_err_name(err));
    return err == CLEAVE_EUNSUPPORTED ? UNSUPPORTED : FAIL;
  }
  cleave_session_options_new(&so);
  cleave_session_options_set_device(so, device);
  if ((err = cleave_session_new(ctx, m, so, &s))) {
    snprintf(why, len, "%s", cleave_ctx_last_error(ctx));
    status = err == CLEAVE_EUNSUPPORTED ? UNSUPPORTED : FAIL;
    goto out;
  }
  int n_sets = 0;
  for (int set = 0;; set++) {
    char sdir[2048];
    snprintf(sdir, sizeof sdir, "%s/test_data_set_%d", dir, set);
    if (!exists(sdir)) break;
    n_sets++;
    int n_in = cleave_model_num_inputs(m), n_out = cleave_model_num_outputs(m);
    if (n_in > MAX_IO || n_out > MAX_IO) {
      snprintf(why, len, "too many inputs or outputs");
      goto out;
    }
    cl_tensor in[MAX_IO], want[MAX_IO];
    cleave_tensor feed[MAX_IO];
    int got_in = 0, got_out = 0, ok = 1;
    for (int i = 0; i < n_in && ok; i++) {
      snprintf(path, sizeof path, "%s/input_%d.pb", sdir, i);
      if (read_pb(ctx, path, &in[i])) {
        snprintf(why, len, "cannot read %s: %s", path, cleave_ctx_last_error(ctx));
        ok = 0;
        break;
      }
      got_in++;
      feed[i] = (cleave_tensor){.name = cleave_model_input(m, i)->name, .dtype = (cleave_dtype)in[i].dtype,
                                .ndim = in[i].ndim, .data = in[i].data, .nbytes = in[i].nbytes};
      memcpy(feed[i].dims, in[i].dims, sizeof in[i].dims);
    }
    for (int i = 0; i < n_out && ok; i++) {
      snprintf(path, sizeof path, "%s/output_%d.pb", sdir, i);
      if (read_pb(ctx, path, &want[i])) {
        snprintf(why, len, "cannot read %s: %s", path, cleave_ctx_last_error(ctx));
        ok = 0;
        break;
      }
      got_out++;
    }
    cleave_result *r = NULL;
    if (ok && (err = cleave_run_sync(s, feed, (size_t)n_in, &r))) {
      snprintf(why, len, "run: %s (%s)", cleave_ctx_last_error(ctx), cleave_err_name(err));
      ok = 0;
    }
    for (int i = 0; ok && i < n_out; i++) {
      char w[400];
      if (!compare(cleave_result_output(r, i), &want[i], w, sizeof w)) {
        snprintf(why, len, "set %d output '%s': %s", set, cleave_result_output(r, i)->name, w);
        ok = 0;
      }
    }
    cleave_result_free(r);
    for (int i = 0; i < got_in; i++) cl_tensor_release(ctx, &in[i]);
    for (int i = 0; i < got_out; i++) cl_tensor_release(ctx, &want[i]);
    if (!ok) goto out;
  }
  if (n_sets == 0) {
    snprintf(why, len, "no test_data_set");
    goto out;
  }
  status = PASS;
out:
  cleave_session_free(s);
  cleave_session_options_free(so);
  cleave_model_free(m);
  return status;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"device", required_argument, 0, 'd'},
                                           {"filter", required_argument, 0, 'f'},
                                           {"verbose", no_argument, 0, 'v'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  const char *device = "ref", *filters[64];
  int n_filters = 0, verbose = 0, c;
  while ((c = getopt_long(argc, argv, "d:f:vh", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': device = optarg; break;
    case 'f':
      if (n_filters < 64) filters[n_filters++] = optarg;
      break;
    case 'v': verbose = 1; break;
    case 'h':
      printf("usage: cleave-conformance [--device NAME] [--filter SUBSTR]... [--verbose] [DIR]\n"
             "Runs the ONNX backend node tests in DIR (default %s).\n",
             DEFAULT_DIR);
      return 0;
    default: return 2;
    }
  }
  const char *root = optind < argc ? argv[optind] : DEFAULT_DIR;
  DIR *d = opendir(root);
  if (!d) {
    fprintf(stderr, "cleave-conformance: cannot open %s\n", root);
    return 2;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "test_", 5) != 0) continue;
    int keep = n_filters == 0;
    for (int i = 0; i < n_filters; i++) keep |= strstr(e->d_name, filters[i]) != NULL;
    if (!keep) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      char **nn = realloc(names, cap * sizeof *names);
      if (!nn) return 1;
      names = nn;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_str);
  cleave_ctx *ctx;
  if (cleave_ctx_new(&ctx, NULL, NULL)) return 1;
  int passed = 0, failed = 0, unsupported = 0;
  for (size_t i = 0; i < n; i++) {
    char dir[4096], why[1600] = "";
    snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
    int st = run_test(ctx, dir, device, why, sizeof why);
    if (st == PASS) {
      passed++;
      if (verbose) printf("PASS %s\n", names[i]);
    } else if (st == FAIL) {
      failed++;
      printf("FAIL %s: %s\n", names[i], why);
    } else {
      unsupported++;
      printf("UNSUPPORTED %s: %s\n", names[i], why);
    }
    fflush(stdout);
    free(names[i]);
  }
  free(names);
  cleave_ctx_free(ctx);
  printf("%d passed, %d failed, %d unsupported\n", passed, failed, unsupported);
  return failed ? 1 : 0;
}
