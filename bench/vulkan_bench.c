/* vulkan-bench: the gpu device's figures. A large GEMM (GFLOP/s from the GPU's own timestamps), PP-OCR det at
 * 1x3x640x640 on the gpu device against the cpu device of the same host (wall time of whole runs, inputs and
 * outputs copied), the GFLOP/s of det's largest convolution, and where det's GPU time goes by op.
 * Usage: vulkan-bench [--models DIR] [--gemm N] [--runs N] [--peak-gflops G] [--no-cpu] [--no-det] */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleave.h"
#include "core/ir/model.h"
#include "onnx_builder.h"
#include "partitioner/cost.h"

static char device_name[256] = "?";

static void on_log(void *user, cleave_log_level level, const char *msg) {
  (void)user;
  (void)level;
  /* the pipelines' statistics, when CLEAVE_VULKAN_PIPELINE_STATS asks the driver for them */
  if (!strncmp(msg, "gpu device: pipeline ", 21))
    printf("%s\n", msg + 12);
  else if (!strncmp(msg, "gpu device: ", 12))
    snprintf(device_name, sizeof device_name, "%s", msg + 12);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(cleave_ctx *ctx, const char *what) {
  fprintf(stderr, "vulkan-bench: %s: %s\n", what, ctx ? cleave_ctx_last_error(ctx) : "");
  return 1;
}

/* Times runs of session s; per run the wall time and, when op is given, the profiled GPU time of the steps whose
 * label starts with it. */
static int time_runs(cleave_ctx *ctx, cleave_session *s, const cleave_tensor *in, int warm, int runs,
                     const char *node, double *wall_med, double *node_med, cleave_result **last) {
  double *wall = calloc((size_t)runs, sizeof *wall), *nd = calloc((size_t)runs, sizeof *nd);
  cleave_result *r = NULL;
  int rc = 0;
  for (int i = 0; i < warm + runs && !rc; i++) {
    if ((rc = cleave_run_into(s, in, 1, &r))) break;
    if (i < warm) continue;
    wall[i - warm] = cleave_result_ms(r);
    int np = 0;
    const cleave_node_profile *p = cleave_result_profile(r, &np);
    for (int k = 0; node && k < np; k++)
      if (!strncmp(p[k].op, node, strlen(node))) nd[i - warm] += p[k].ms;
  }
  if (!rc) {
    *wall_med = median(wall, runs);
    if (node_med) *node_med = median(nd, runs);
  }
  free(wall);
  free(nd);
  if (rc) {
    cleave_result_free(r);
    return fail(ctx, "run");
  }
  *last = r;
  return 0;
}

static cleave_session *session(cleave_ctx *ctx, cleave_model *m, const char *dev, int profile) {
  cleave_session_options *so;
  cleave_session *s = NULL;
  if (cleave_session_options_new(&so)) return NULL;
  cleave_session_options_set_device(so, dev);
  cleave_session_options_set_profiling(so, profile);
  if (cleave_session_new(ctx, m, so, &s)) s = NULL;
  cleave_session_options_free(so);
  return s;
}

static int bench_gemm(cleave_ctx *ctx, int n, int runs, double peak) {
  tb_model *tm = tb_new(13);
  int64_t dims[2] = {n, n};
  tb_input(tm, "a", CLEAVE_DTYPE_FLOAT32, 2, dims);
  size_t nn = (size_t)n * (size_t)n;
  float *b = malloc(nn * sizeof *b), *a = malloc(nn * sizeof *a);
  cl_fill_random_f32(b, (int64_t)nn, 7);
  cl_fill_random_f32(a, (int64_t)nn, 3);
  tb_init_f32(tm, "b", 2, dims, b, nn);
  tb_add_node(tm, "MatMul", "a,b", "c");
  tb_output(tm, "c");
  size_t len;
  uint8_t *bytes = tb_pack(tm, &len);
  tb_free(tm);
  cleave_model *m = NULL;
  cleave_session *s = NULL;
  cleave_result *r = NULL;
  int rc = cleave_model_load_memory(ctx, bytes, len, NULL, &m);
  free(bytes);
  if (rc) {
    free(a);
    free(b);
    return fail(ctx, "gemm model");
  }
  if (!(s = session(ctx, m, "gpu", 1))) {
    rc = fail(ctx, "gemm session");
    goto out;
  }
  cleave_tensor in = {
      .name = "a", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 2, .dims = {n, n}, .data = a, .nbytes = nn * sizeof(float)};
  double wall, gpu;
  if ((rc = time_runs(ctx, s, &in, 2, runs, "MatMul", &wall, &gpu, &r))) goto out;
  /* spot check against a float64 product */
  const float *c = cleave_result_output(r, 0)->data;
  double worst = 0;
  for (int t = 0; t < 64; t++) {
    size_t i = ((size_t)t * 2654435761u) % (size_t)n, j = ((size_t)t * 40503u + 17) % (size_t)n;
    double ref = 0, mag = 0;
    for (int k = 0; k < n; k++) {
      ref += (double)a[i * (size_t)n + (size_t)k] * b[(size_t)k * (size_t)n + j];
      mag += fabs((double)a[i * (size_t)n + (size_t)k] * b[(size_t)k * (size_t)n + j]);
    }
    double err = fabs(c[i * (size_t)n + j] - ref) / (mag > 0 ? mag : 1);
    if (err > worst) worst = err;
  }
  double gf = 2.0 * n * (double)n * n / (gpu * 1e6);
  printf("gemm %dx%dx%d on gpu: kernel %.3f ms (GPU timestamps) = %.0f GFLOP/s", n, n, n, gpu, gf);
  if (peak > 0) printf(" = %.1f%% of %.0f GFLOP/s fp32 peak", 100 * gf / peak, peak);
  printf("; whole run %.2f ms with %.0f MB in and out; max error / sum|a*b| %.2g\n", wall, 2.0 * (double)nn * 4 / 1e6,
         worst);
  if (worst > 1e-5) {
    fprintf(stderr, "vulkan-bench: the GEMM result is wrong\n");
    rc = 1;
  }
out:
  cleave_result_free(r);
  cleave_session_free(s);
  cleave_model_free(m);
  free(a);
  free(b);
  return rc;
}

/* FLOPs per node of det at the benchmark's shape, through the cost model. */
static double *det_flops(cleave_ctx *ctx, const char *path, cleave_model **out) {
  cleave_model *m = NULL;
  if (cleave_model_load(ctx, path, &m)) return NULL;
  cl_graph *g = &m->graph;
  cl_value *x = &g->values[g->inputs[0]];
  int64_t d[4] = {1, 3, 640, 640};
  for (int i = 0; i < 4; i++)
    x->shape.d[i] = d[i];
  double *f = calloc((size_t)g->n_nodes + 1, sizeof *f);
  if (!cl_graph_infer(g)) {
    for (int before = -1; g->n_nodes != before;) {
      before = g->n_nodes;
      if (cl_graph_fold(g)) break;
    }
    for (int i = 0; i < g->n_nodes; i++) {
      cl_node_cost c;
      cl_cost_node(g, &g->nodes[i], &c);
      f[i] = c.known ? c.flops : 0;
    }
  }
  *out = m;
  return f;
}

static int bench_det(cleave_ctx *ctx, const char *models, int runs, double peak, bool cpu) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ch_PP-OCRv4_det_infer.onnx", models);
  cleave_model *m = NULL, *mf = NULL;
  cleave_session *gs = NULL, *cs = NULL;
  cleave_result *gr = NULL, *cr = NULL;
  int rc = 1;
  double *flops = det_flops(ctx, path, &mf);
  if (!flops || cleave_model_load(ctx, path, &m)) return fail(ctx, "det model");
  size_t n = 3 * 640 * 640;
  float *x = malloc(n * sizeof *x);
  cl_fill_random_f32(x, (int64_t)n, 1);
  cleave_tensor in = {.name = cleave_model_input(m, 0)->name,
                      .dtype = CLEAVE_DTYPE_FLOAT32,
                      .ndim = 4,
                      .dims = {1, 3, 640, 640},
                      .data = x,
                      .nbytes = n * sizeof(float)};
  double gwall = 0, cwall = 0, dummy;
  if (!(gs = session(ctx, m, "gpu", 1))) {
    fail(ctx, "det gpu session");
    goto out;
  }
  if (time_runs(ctx, gs, &in, 3, runs, NULL, &gwall, NULL, &gr)) goto out;
  /* the gpu device with profiling records timestamps anyway; without, the wall time is the same work */
  if (cpu) {
    if (!(cs = session(ctx, m, "cpu", 0))) {
      fail(ctx, "det cpu session");
      goto out;
    }
    if (time_runs(ctx, cs, &in, 2, runs > 10 ? 10 : runs, NULL, &cwall, &dummy, &cr)) goto out;
  }
  /* agreement of the two devices */
  if (cr) {
    const cleave_tensor *a = cleave_result_output(gr, 0), *b = cleave_result_output(cr, 0);
    double worst = 0;
    for (size_t i = 0; i < a->nbytes / 4; i++) {
      double dd = fabs((double)((const float *)a->data)[i] - ((const float *)b->data)[i]);
      if (dd > worst) worst = dd;
    }
    printf("det gpu vs cpu: max abs diff %.3g\n", worst);
  }
  printf("det 1x3x640x640 on gpu (%s): %.2f ms median of %d", device_name, gwall, runs);
  if (cpu) printf("; cpu device %.2f ms; gpu is %.1fx faster", cwall, cwall / gwall);
  printf("\n");
  /* where the GPU time goes: by op label, and the largest convolution */
  int np = 0;
  const cleave_node_profile *p = cleave_result_profile(gr, &np);
  const cl_graph *g = &mf->graph;
  double total = 0, best_f = 0, best_ms = 0;
  const char *best = NULL;
  struct {
    char op[64];
    double ms;
    int n;
  } cls[64];
  int ncls = 0;
  for (int k = 0; k < np; k++) {
    total += p[k].ms;
    char op[64];
    snprintf(op, sizeof op, "%s", p[k].op);
    char *plus = strchr(op, '+');
    if (plus) *plus = 0;
    int c = 0;
    while (c < ncls && strcmp(cls[c].op, op))
      c++;
    if (c == ncls && ncls < 64) {
      snprintf(cls[ncls].op, sizeof cls[ncls].op, "%s", op);
      cls[ncls].ms = 0;
      cls[ncls++].n = 0;
    }
    if (c < ncls) {
      cls[c].ms += p[k].ms;
      cls[c].n++;
    }
    for (int i = 0; i < g->n_nodes; i++)
      if (!strcmp(g->nodes[i].name, p[k].node) && !strncmp(p[k].op, "Conv", 4) && flops[i] > best_f) {
        best_f = flops[i];
        best_ms = p[k].ms;
        best = p[k].node;
      }
  }
  printf("det GPU time (timestamps, last run): %.3f ms in %d steps; by op:", total, np);
  for (int c = 0; c < ncls; c++)
    printf(" %s %.3f ms (%d)", cls[c].op, cls[c].ms, cls[c].n);
  printf("\n");
  if (best) {
    double gf = best_f / (best_ms * 1e6);
    printf("det largest conv %s: %.1f MFLOP in %.4f ms = %.0f GFLOP/s", best, best_f / 1e6, best_ms, gf);
    if (peak > 0) printf(" = %.1f%% of fp32 peak", 100 * gf / peak);
    printf("\n");
  }
  rc = 0;
out:
  free(x);
  free(flops);
  cleave_result_free(gr);
  cleave_result_free(cr);
  cleave_session_free(gs);
  cleave_session_free(cs);
  cleave_model_free(m);
  cleave_model_free(mf);
  return rc;
}

int main(int argc, char **argv) {
  const char *models = getenv("CLEAVE_MODELS") ? getenv("CLEAVE_MODELS") : "models";
  int gemm = 4096, runs = 20, cpu = 1, det = 1, c;
  double peak = 0;
  static const struct option lo[] = {
      {"models", required_argument, 0, 'm'}, {"gemm", required_argument, 0, 'g'},
      {"runs", required_argument, 0, 'r'},   {"peak-gflops", required_argument, 0, 'p'},
      {"no-cpu", no_argument, 0, 'n'},       {"no-det", no_argument, 0, 'd'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (c) {
    case 'm': models = optarg; break;
    case 'g': gemm = atoi(optarg); break;
    case 'r': runs = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
    case 'p': peak = atof(optarg); break;
    case 'n': cpu = 0; break;
    case 'd': det = 0; break;
    default:
      printf("usage: vulkan-bench [--models DIR] [--gemm N (0: skip)] [--runs N] [--peak-gflops G] [--no-cpu] "
             "[--no-det]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  cleave_options *o;
  cleave_ctx *ctx;
  if (cleave_options_new(&o)) return 1;
  cleave_options_set_log(o, on_log, NULL, CLEAVE_LOG_INFO);
  if (cleave_ctx_new(&ctx, NULL, o)) return 1;
  cleave_options_free(o);
  int rc = 0;
  if (gemm > 0) rc |= bench_gemm(ctx, gemm, runs, peak);
  if (det) rc |= bench_det(ctx, models, runs, peak, cpu);
  cleave_ctx_free(ctx);
  return rc;
}
