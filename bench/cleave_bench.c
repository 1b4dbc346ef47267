/* cleave-bench: one model, one session, timed runs on request over a line protocol on stdin/stdout, so that an
 * orchestrator (bench/run.js) can interleave its runs with another runtime's in the same conditions. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleave.h"
#include "core/ir/ctx.h"
#include "core/ir/model.h"
#include "core/ir/tensor.h"
#include "partitioner/cost.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: cleave-bench MODEL.onnx --shape AxBxC [options]\n"
          "\n"
          "Loads MODEL, creates a session and fills its one input with deterministic values in [-1, 1)\n"
          "(the generator of cleave-run --random-inputs), then answers commands on stdin, one per line:\n"
          "  run     runs the model once; prints \"ms <wall time of the run call> cpu_wait_ms <W>\", W being how\n"
          "          long some task waited for a CPU meanwhile (/proc/pressure/cpu; -1 where unavailable)\n"
          "  stats   prints \"flops <N> flops_unknown_nodes <N> rss_peak_kb <VmHWM> rss_start_kb <VmRSS at start>\n"
          "          rss_ready_kb <VmRSS after session creation> input_fnv1a <hash of the input bytes>\"\n"
          "  dump F  writes the last run's first output to file F as raw float32; prints \"dumped <count>\"\n"
          "  collect prints \"ok\" (the result of a run is freed by the next, so there is nothing to collect)\n"
          "  quit    exits\n"
          "It prints \"ready\" once the session exists; no run happens before the first \"run\".\n"
          "A failing command prints \"error <message>\"; a failing setup exits before \"ready\".\n"
          "\n"
          "options:\n"
          "  --shape AxBxC     shape of the model's input (required)\n"
          "  --device NAME     device to run on (default cpu)\n"
          "  --threads N       worker threads, the caller's included (default 0: all cores)\n"
          "  --seed S          seed of the input values (default 1)\n"
          "  --api sync|into   run with cleave_run_sync (a new result each run, the default) or cleave_run_into\n"
          "                    (one result reused, so steady runs allocate nothing)\n"
          "  -h, --help        this text\n"
          "\n"
          "example:\n"
          "  printf 'run\\nrun\\nstats\\nquit\\n' | cleave-bench det.onnx --shape 1x3x640x640 --threads 2\n"
          "\n"
          "exit codes: 0 success, 1 setup failed, 2 bad arguments\n");
}

static int bad_args(const char *fmt, const char *arg) {
  fprintf(stderr, "cleave-bench: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n");
  usage(stderr);
  return 2;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_shape(const char *s, int *ndim, int64_t *dims) {
  *ndim = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT32_MAX || *ndim == CLEAVE_MAX_DIMS) return -1;
    dims[(*ndim)++] = v;
    if (*end == 'x')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  return *ndim > 0 ? 0 : -1;
}

/* Total time some runnable task of the system waited for a CPU, in ms since boot (pressure stall information), or
 * -1 where the kernel does not keep it. */
static double cpu_wait_ms(void) {
  FILE *f = fopen("/proc/pressure/cpu", "r");
  if (!f) return -1;
  char line[256];
  double ms = -1;
  while (fgets(line, sizeof line, f)) {
    const char *t = strstr(line, "total=");
    if (strncmp(line, "some ", 5) == 0 && t) {
      ms = strtod(t + 6, NULL) / 1000;
      break;
    }
  }
  fclose(f);
  return ms;
}

/* A field of /proc/self/status in kB, or -1. */
static long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  size_t len = strlen(field);
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = strtol(line + len + 1, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

/* FNV-1a over the input bytes: lets the orchestrator check that both runtimes were fed the same values. */
static uint32_t fnv1a(const void *data, size_t n) {
  const unsigned char *p = data;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

/* Writes the first output's raw float32 values, for the orchestrator to compare with the other runtime's. */
static int dump_output(const cleave_result *res, const char *path, char *why, size_t len) {
  const cleave_tensor *o = cleave_result_output(res, 0);
  if (!o || o->dtype != CLEAVE_DTYPE_FLOAT32) {
    snprintf(why, len, "no float32 output to dump");
    return -1;
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  int ok = fwrite(o->data, 1, o->nbytes, f) == o->nbytes;
  ok &= fclose(f) == 0;
  if (!ok) snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
  return ok ? 0 : -1;
}

typedef struct flop_count {
  double flops;
  int unknown;   /* nodes whose cost stayed unknown; -1: the count failed */
  char why[256]; /* why it failed */
} flop_count;

/* Gives the input its concrete shape, then infers and folds until the shape subgraphs (Shape -> Gather ->
 * Concat -> Reshape) have become constants and every node has a static shape to cost. */
static int count_flops(cleave_ctx *ctx, const char *path, int ndim, const int64_t *dims, flop_count *out) {
  cleave_model *m = NULL;
  int rc = cleave_model_load(ctx, path, &m);
  if (rc) goto out;
  cl_graph *g = &m->graph;
  if (g->n_inputs != 1) {
    rc = cl_err(ctx, CLEAVE_EINVAL, "the model has %d inputs; cleave-bench feeds models with one", g->n_inputs);
    goto out;
  }
  cl_value *x = &g->values[g->inputs[0]];
  if (x->shape.ndim != ndim) {
    rc = cl_err(ctx, CLEAVE_ESHAPE, "input '%s' has rank %d; --shape gives %d dims", x->name, x->shape.ndim, ndim);
    goto out;
  }
  for (int d = 0; d < ndim; d++) {
    if (x->shape.d[d] >= 0 && x->shape.d[d] != dims[d]) {
      rc = cl_err(ctx, CLEAVE_ESHAPE, "input '%s' dim %d is %lld; --shape gives %lld", x->name, d,
                  (long long)x->shape.d[d], (long long)dims[d]);
      goto out;
    }
    x->shape.d[d] = dims[d];
  }
  if ((rc = cl_graph_infer(g))) goto out;
  for (int before = -1; g->n_nodes != before;) {
    before = g->n_nodes;
    if ((rc = cl_graph_fold(g))) goto out;
  }
  out->flops = 0;
  out->unknown = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    cl_node_cost c;
    cl_cost_node(g, &g->nodes[i], &c);
    if (c.known)
      out->flops += c.flops;
    else
      out->unknown++;
  }
out:
  cleave_model_free(m);
  return rc;
}

/* The count loads a second copy of the model; doing it in a child keeps that copy out of this process's peak RSS,
 * which is one of the figures reported. */
static void count_flops_apart(const char *path, int ndim, const int64_t *dims, flop_count *out) {
  *out = (flop_count){.unknown = -1};
  int fd[2];
  if (pipe(fd)) {
    snprintf(out->why, sizeof out->why, "pipe: %s", strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(out->why, sizeof out->why, "fork: %s", strerror(errno));
    close(fd[0]);
    close(fd[1]);
    return;
  }
  if (pid == 0) {
    close(fd[0]);
    cleave_ctx *ctx = NULL;
    flop_count fc = {.unknown = -1};
    int rc = cleave_ctx_new(&ctx, NULL, NULL);
    if (!rc) rc = count_flops(ctx, path, ndim, dims, &fc);
    if (rc) {
      fc.unknown = -1;
      snprintf(fc.why, sizeof fc.why, "%s (%s)", ctx ? cleave_ctx_last_error(ctx) : "", cleave_err_name(rc));
    }
    int ok = write(fd[1], &fc, sizeof fc) == (ssize_t)sizeof fc;
    cleave_ctx_free(ctx);
    _exit(ok ? 0 : 1);
  }
  close(fd[1]);
  flop_count fc;
  ssize_t got;
  do
    got = read(fd[0], &fc, sizeof fc);
  while (got < 0 && errno == EINTR);
  close(fd[0]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (got == (ssize_t)sizeof fc)
    *out = fc;
  else
    snprintf(out->why, sizeof out->why, "the counting process died");
}

static void print_devices(cleave_ctx *ctx) {
  fprintf(stderr, "cleave-bench: devices in this build:");
  for (int i = 0; i < cleave_ctx_device_count(ctx); i++)
    fprintf(stderr, " %s", cleave_ctx_device_name(ctx, i));
  fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"shape", required_argument, 0, 's'},
                                           {"device", required_argument, 0, 'D'},
                                           {"threads", required_argument, 0, 't'},
                                           {"seed", required_argument, 0, 'r'},
                                           {"api", required_argument, 0, 'a'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  long rss_start_kb = status_kb("VmRSS");
  const char *device = "cpu", *shape_arg = NULL;
  long long threads = 0, seed = 1;
  int ndim = 0, c, reuse = 0;
  int64_t dims[CLEAVE_MAX_DIMS];
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 's':
      shape_arg = optarg;
      if (parse_shape(optarg, &ndim, dims)) return bad_args("bad --shape '%s'", optarg);
      break;
    case 'D': device = optarg; break;
    case 't':
      if (parse_int(optarg, 0, 1024, &threads)) return bad_args("bad --threads '%s'", optarg);
      break;
    case 'r':
      if (parse_int(optarg, 0, UINT32_MAX, &seed)) return bad_args("bad --seed '%s'", optarg);
      break;
    case 'a':
      if (strcmp(optarg, "sync") && strcmp(optarg, "into")) return bad_args("bad --api '%s': sync or into", optarg);
      reuse = strcmp(optarg, "into") == 0;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) return bad_args("%s", optind >= argc ? "missing MODEL.onnx" : "more than one model given");
  if (!shape_arg) return bad_args("%s", "--shape is required");
  const char *path = argv[optind];

  flop_count fc;
  count_flops_apart(path, ndim, dims, &fc);

  int rc = 1, err;
  cleave_options *opt = NULL;
  cleave_ctx *ctx = NULL;
  cleave_model *model = NULL;
  cleave_session_options *sopt = NULL;
  cleave_session *sess = NULL;
  cleave_result *res = NULL;
  cleave_tensor in = {0};
  if ((err = cleave_options_new(&opt)) || (err = cleave_options_set_threads(opt, (int)threads)) ||
      (err = cleave_ctx_new(&ctx, NULL, opt))) {
    fprintf(stderr, "cleave-bench: %s\n", cleave_strerror(err));
    goto out;
  }
  if ((err = cleave_model_load(ctx, path, &model))) {
    fprintf(stderr, "cleave-bench: cannot load %s: %s (%s)\n", path, cleave_ctx_last_error(ctx),
            cleave_err_name(err));
    goto out;
  }
  if (cleave_model_num_inputs(model) != 1) {
    fprintf(stderr, "cleave-bench: %s has %d inputs; cleave-bench feeds models with one\n", path,
            cleave_model_num_inputs(model));
    goto out;
  }
  if ((err = cleave_session_options_new(&sopt)) || (err = cleave_session_options_set_device(sopt, device))) {
    fprintf(stderr, "cleave-bench: %s\n", cleave_strerror(err));
    goto out;
  }
  if ((err = cleave_session_new(ctx, model, sopt, &sess))) {
    fprintf(stderr, "cleave-bench: %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(err));
    if (err == CLEAVE_ENODEVICE) print_devices(ctx);
    goto out;
  }

  const cleave_tensor *mi = cleave_model_input(model, 0);
  if (mi->dtype != CLEAVE_DTYPE_FLOAT32) {
    fprintf(stderr, "cleave-bench: input '%s' is %s; cleave-bench fills float32 inputs only\n", mi->name,
            cleave_dtype_name(mi->dtype));
    goto out;
  }
  int fits = mi->ndim == ndim;
  for (int d = 0; fits && d < ndim; d++)
    fits = mi->dims[d] < 0 || mi->dims[d] == dims[d];
  if (!fits) {
    char want[160];
    cl_dims_str(mi->ndim, mi->dims, want, sizeof want);
    fprintf(stderr, "cleave-bench: --shape %s does not fit input '%s' %s\n", shape_arg, mi->name, want);
    goto out;
  }
  in.name = mi->name;
  in.dtype = CLEAVE_DTYPE_FLOAT32;
  in.ndim = ndim;
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    in.dims[d] = dims[d];
    if (dims[d] && numel > (INT64_C(1) << 34) / dims[d]) {
      fprintf(stderr, "cleave-bench: --shape %s is too large\n", shape_arg);
      goto out;
    }
    numel *= dims[d];
  }
  in.nbytes = (size_t)numel * sizeof(float);
  if (!(in.data = malloc(in.nbytes ? in.nbytes : 1))) {
    fprintf(stderr, "cleave-bench: out of memory\n");
    goto out;
  }
  cl_fill_random_f32(in.data, numel, (uint32_t)seed);
  uint32_t input_hash = fnv1a(in.data, in.nbytes);
  long rss_ready_kb = status_kb("VmRSS");

  if (fc.unknown < 0) fprintf(stderr, "cleave-bench: warning: no FLOP count: %s\n", fc.why);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, "run") == 0) {
      cleave_result *r = reuse ? res : NULL;
      double w0 = cpu_wait_ms();
      double t0 = cl_now_ms();
      err = reuse ? cleave_run_into(sess, &in, 1, &r) : cleave_run_sync(sess, &in, 1, &r);
      double ms = cl_now_ms() - t0;
      double w1 = cpu_wait_ms();
      if (reuse) res = r; /* kept, with no outputs, when the run failed */
      if (err) {
        printf("error %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(err));
        continue;
      }
      if (!reuse) {
        cleave_result_free(res);
        res = r;
      }
      printf("ms %.6f cpu_wait_ms %.3f\n", ms, w0 < 0 || w1 < 0 ? -1.0 : w1 - w0);
    } else if (strcmp(line, "stats") == 0) {
      printf("flops %.0f flops_unknown_nodes %d rss_peak_kb %ld rss_start_kb %ld rss_ready_kb %ld input_fnv1a %08x\n",
             fc.flops, fc.unknown, status_kb("VmHWM"), rss_start_kb, rss_ready_kb, (unsigned)input_hash);
    } else if (strncmp(line, "dump ", 5) == 0) {
      char why[600];
      if (!res)
        printf("error nothing to dump before the first run\n");
      else if (dump_output(res, line + 5, why, sizeof why))
        printf("error %s\n", why);
      else
        printf("dumped %zu\n", cleave_result_output(res, 0)->nbytes / sizeof(float));
    } else if (strcmp(line, "collect") == 0) {
      printf("ok\n");
    } else if (strcmp(line, "quit") == 0) {
      break;
    } else if (line[0]) {
      printf("error unknown command '%s'\n", line);
    }
  }
  rc = 0;
out:
  free(in.data);
  cleave_result_free(res);
  cleave_session_free(sess);
  cleave_session_options_free(sopt);
  cleave_model_free(model);
  cleave_ctx_free(ctx);
  cleave_options_free(opt);
  return rc;
}
