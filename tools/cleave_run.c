/* cleave-run: load an ONNX model, run it on a device, time it, save its outputs. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleave.h"
#include "core/ir/tensor.h"
#include "npy.h"
#include "run_edge.h"
#include <uv.h>

#define MAX_ARGS 64

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: cleave-run MODEL.onnx [options]\n"
      "       cleave-run --calibrate OUT.json [--device NAME] [--threads N]\n"
      "\n"
      "Runs an ONNX model with cleave and reports timings, or measures a device into a profile.\n"
      "\n"
      "options:\n"
      "  --input NAME=FILE.npy    feed input NAME from a NumPy file (repeatable)\n"
      "  --random-inputs SEED     fill inputs not given with deterministic values in [-1, 1)\n"
      "  --dim NAME=VALUE         fix a symbolic dimension (repeatable)\n"
      "  --shape NAME=AxBxC       shape of a random input whose dims the model leaves open\n"
      "  --save-outputs DIR       write each output to DIR/<name>.npy\n"
      "  --device NAME            device to run on (cpu, ref, ...; default cpu)\n"
      "  --threads N              worker threads for CPU devices (default: all cores)\n"
      "  --warmup N               untimed runs first (default 0)\n"
      "  --repeat N               timed runs (default 1)\n"
      "  --profile                print per-node times of the last run\n"
      "  --json                   print timings and output shapes as JSON\n"
      "  --print-graph            print the graph with shapes, FLOPs and bytes, then exit\n"
      "  --edge URL               run on a cleave gateway (https://host:port) instead of a local device; the\n"
      "                           model goes by its sha256, and is uploaded if the gateway lacks it\n"
      "  --edge-ca FILE           CAs that verify the gateway (default: the system's)\n"
      "  --edge-token TOKEN       bearer token for the gateway\n"
      "  --edge-name NAME         the model's name on the gateway (default: the file name without .onnx)\n"
      "  --calibrate OUT.json     measure the device (--device) with built-in micro-models and write its\n"
      "                           profile for the partitioner to OUT.json (named after the file); no model\n"
      "  -h, --help               this text\n"
      "\n"
      "examples:\n"
      "  cleave-run det.onnx --random-inputs 1 --shape x=1x3x640x640 --repeat 10 --json\n"
      "  cleave-run cls.onnx --input x=img.npy --save-outputs out/\n"
      "  cleave-run rec.onnx --print-graph\n"
      "  cleave-run cls.onnx --random-inputs 3 --shape x=1x3x48x192 --edge https://127.0.0.1:8443 --edge-ca ca.pem\n"
      "  cleave-run --calibrate my-cpu.json --device cpu\n"
      "\n"
      "exit codes: 0 success, 1 the model failed to load or run, 2 bad arguments\n");
}

static int bad_args(const char *fmt, const char *arg) {
  fprintf(stderr, "cleave-run: ");
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

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p) {
  double idx = p * (n - 1);
  int lo = (int)idx;
  int hi = lo + 1 < n ? lo + 1 : lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (idx - lo);
}

/* Output names may hold '/', ':' and the like: keep [A-Za-z0-9._-], map the rest to '_'. */
static void file_safe(const char *name, char *out, size_t len) {
  size_t i = 0;
  for (; name[i] && i + 1 < len; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
             c == '_';
    out[i] = ok ? c : '_';
  }
  out[i] = 0;
  if (i == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) snprintf(out, len, "output");
}

typedef struct kv {
  const char *key;
  const char *val;
} kv;

static int split_kv(char *arg, kv *out) {
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg || !eq[1]) return -1;
  *eq = 0;
  out->key = arg;
  out->val = eq + 1;
  return 0;
}

static int parse_shape(const char *s, cleave_tensor *t) {
  t->ndim = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || t->ndim == CLEAVE_MAX_DIMS) return -1;
    t->dims[t->ndim++] = v;
    if (*end == 'x')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  return t->ndim > 0 ? 0 : -1;
}

/* Measures device into the profile out_path and prints what was measured. */
static int calibrate_device(const char *out_path, const char *device, int threads) {
  cleave_options *opt = NULL;
  cleave_ctx *ctx = NULL;
  int err, rc = 1;
  if ((err = cleave_options_new(&opt)) || (err = cleave_options_set_threads(opt, threads)) ||
      (err = cleave_ctx_new(&ctx, NULL, opt))) {
    fprintf(stderr, "cleave-run: %s\n", cleave_strerror(err));
    goto out;
  }
  if ((err = cleave_calibrate(ctx, device, out_path))) {
    fprintf(stderr, "cleave-run: calibration failed: %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(err));
    goto out;
  }
  json_error_t je;
  json_t *p = json_load_file(out_path, 0, &je), *gf = json_object_get(p, "gflops"), *v;
  const char *cls;
  printf("%s: device %s\n", out_path, device);
  json_object_foreach(gf, cls, v) printf("  %-12s %10.2f GFLOP/s\n", cls, json_number_value(v));
  printf("  %-12s %10.2f GB/s\n  %-12s %10.4f ms\n", "memory", json_number_value(json_object_get(p, "mem_gbps")),
         "dispatch", json_number_value(json_object_get(p, "dispatch_ms")));
  json_decref(p);
  rc = 0;
out:
  cleave_ctx_free(ctx);
  cleave_options_free(opt);
  return rc;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"random-inputs", required_argument, 0, 'r'},
                                           {"dim", required_argument, 0, 'd'},
                                           {"shape", required_argument, 0, 's'},
                                           {"save-outputs", required_argument, 0, 'o'},
                                           {"device", required_argument, 0, 'D'},
                                           {"threads", required_argument, 0, 't'},
                                           {"warmup", required_argument, 0, 'w'},
                                           {"repeat", required_argument, 0, 'n'},
                                           {"json", no_argument, 0, 'j'},
                                           {"print-graph", no_argument, 0, 'g'},
                                           {"profile", no_argument, 0, 'p'},
                                           {"edge", required_argument, 0, 'E'},
                                           {"edge-ca", required_argument, 0, 'C'},
                                           {"edge-token", required_argument, 0, 'T'},
                                           {"edge-name", required_argument, 0, 'N'},
                                           {"calibrate", required_argument, 0, 'K'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  kv inputs[MAX_ARGS], dims[MAX_ARGS], shapes[MAX_ARGS];
  int n_inputs = 0, n_dims = 0, n_shapes = 0;
  long long seed = -1, threads = 0, warmup = 0, repeat = 1;
  const char *save_dir = NULL, *device = "cpu", *edge_url = NULL, *edge_ca = NULL, *edge_token = NULL,
             *edge_name = NULL, *calibrate = NULL;
  int json = 0, print_graph = 0, profile = 0, c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'i':
      if (n_inputs == MAX_ARGS || split_kv(optarg, &inputs[n_inputs++])) return bad_args("bad --input '%s'", optarg);
      break;
    case 'd':
      if (n_dims == MAX_ARGS || split_kv(optarg, &dims[n_dims++])) return bad_args("bad --dim '%s'", optarg);
      break;
    case 's':
      if (n_shapes == MAX_ARGS || split_kv(optarg, &shapes[n_shapes++])) return bad_args("bad --shape '%s'", optarg);
      break;
    case 'r':
      if (parse_int(optarg, 0, UINT32_MAX, &seed)) return bad_args("bad --random-inputs seed '%s'", optarg);
      break;
    case 'o': save_dir = optarg; break;
    case 'D': device = optarg; break;
    case 't':
      if (parse_int(optarg, 0, 1024, &threads)) return bad_args("bad --threads '%s'", optarg);
      break;
    case 'w':
      if (parse_int(optarg, 0, 1000000, &warmup)) return bad_args("bad --warmup '%s'", optarg);
      break;
    case 'n':
      if (parse_int(optarg, 1, 1000000, &repeat)) return bad_args("bad --repeat '%s'", optarg);
      break;
    case 'j': json = 1; break;
    case 'g': print_graph = 1; break;
    case 'p': profile = 1; break;
    case 'E': edge_url = optarg; break;
    case 'C': edge_ca = optarg; break;
    case 'T': edge_token = optarg; break;
    case 'N': edge_name = optarg; break;
    case 'K': calibrate = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  /* repeated runs on large tensors reuse heap pages instead of mapping and faulting them in each time */
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (calibrate) {
    if (optind != argc) return bad_args("%s", "--calibrate takes no model");
    return calibrate_device(calibrate, device, (int)threads);
  }
  if (optind != argc - 1) return bad_args("%s", optind >= argc ? "missing MODEL.onnx" : "more than one model given");
  const char *model_path = argv[optind];

  int rc = 1, err;
  cleave_options *opt = NULL;
  cleave_ctx *ctx = NULL;
  cleave_model *model = NULL;
  cleave_session_options *sopt = NULL;
  cleave_session *sess = NULL;
  cleave_result *res = NULL;
  cleave_tensor *feed = NULL;
  double *times = NULL;
  char msg[512], name_buf[256];
  run_edge *edge = NULL;

  if ((err = cleave_options_new(&opt)) || (err = cleave_options_set_threads(opt, (int)threads)) ||
      (err = cleave_ctx_new(&ctx, edge_url ? uv_default_loop() : NULL, opt))) {
    fprintf(stderr, "cleave-run: %s\n", cleave_strerror(err));
    goto out;
  }
  if ((err = cleave_model_load(ctx, model_path, &model))) {
    fprintf(stderr, "cleave-run: cannot load %s: %s (%s)\n", model_path, cleave_ctx_last_error(ctx),
            cleave_err_name(err));
    goto out;
  }
  if (print_graph) {
    rc = cleave_model_print(model, stdout) ? 1 : 0;
    goto out;
  }
  if ((err = cleave_session_options_new(&sopt)) || (err = cleave_session_options_set_device(sopt, device))) {
    fprintf(stderr, "cleave-run: %s\n", cleave_strerror(err));
    goto out;
  }
  cleave_session_options_set_profiling(sopt, profile);
  for (int i = 0; i < n_dims; i++) {
    long long v;
    if (parse_int(dims[i].val, 0, INT32_MAX, &v)) {
      rc = bad_args("bad --dim value '%s'", dims[i].val);
      goto out;
    }
    if ((err = cleave_session_options_set_dim(sopt, dims[i].key, v))) {
      fprintf(stderr, "cleave-run: --dim %s: %s\n", dims[i].key, cleave_strerror(err));
      goto out;
    }
  }
  if (edge_url) {
    if (!edge_name) { /* the file's name without folder and .onnx */
      const char *base = strrchr(model_path, '/');
      snprintf(name_buf, sizeof name_buf, "%s", base ? base + 1 : model_path);
      char *dot = strstr(name_buf, ".onnx");
      if (dot && dot != name_buf) *dot = 0;
      for (char *p = name_buf; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p)) *p = '_';
      edge_name = name_buf;
    }
    if (!(edge = run_edge_open(ctx, edge_url, edge_ca, edge_token))) goto out;
    device = edge_url;
  } else if ((err = cleave_session_new(ctx, model, sopt, &sess))) {
    fprintf(stderr, "cleave-run: %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(err));
    goto out;
  }

  /* inputs: from files, else random with shapes from the model, --dim and --shape */
  int n_model_in = cleave_model_num_inputs(model);
  feed = calloc((size_t)n_model_in + 1, sizeof *feed);
  if (!feed) goto out;
  for (int k = 0; k < n_inputs; k++) {
    int found = 0;
    for (int i = 0; i < n_model_in; i++)
      found |= strcmp(cleave_model_input(model, i)->name, inputs[k].key) == 0;
    if (!found) {
      fprintf(stderr, "cleave-run: --input %s: the model has no input with that name\n", inputs[k].key);
      rc = 2;
      goto out;
    }
  }
  for (int i = 0; i < n_model_in; i++) {
    const cleave_tensor *mi = cleave_model_input(model, i);
    cleave_tensor *t = &feed[i];
    const char *file = NULL, *shape = NULL;
    for (int k = 0; k < n_inputs; k++)
      if (strcmp(inputs[k].key, mi->name) == 0) file = inputs[k].val;
    for (int k = 0; k < n_shapes; k++)
      if (strcmp(shapes[k].key, mi->name) == 0) shape = shapes[k].val;
    if (file) {
      if ((err = npy_read(file, t, msg, sizeof msg))) {
        fprintf(stderr, "cleave-run: --input %s: %s\n", mi->name, msg);
        goto out;
      }
      t->name = mi->name;
      continue;
    }
    if (seed < 0) {
      fprintf(stderr, "cleave-run: input '%s' not given: use --input %s=FILE.npy or --random-inputs SEED\n", mi->name,
              mi->name);
      rc = 2;
      goto out;
    }
    t->name = mi->name;
    t->dtype = mi->dtype;
    if (shape) {
      if (parse_shape(shape, t)) {
        rc = bad_args("bad --shape '%s'", shape);
        goto out;
      }
    } else {
      t->ndim = mi->ndim;
      for (int d = 0; d < mi->ndim; d++) {
        t->dims[d] = mi->dims[d];
        for (int k = 0; k < n_dims && mi->dims[d] < 0; k++)
          if (mi->dim_names[d] && strcmp(dims[k].key, mi->dim_names[d]) == 0) t->dims[d] = atoll(dims[k].val);
        if (t->dims[d] < 0) {
          fprintf(stderr,
                  "cleave-run: input '%s' dim %d is not fixed by the model: use --dim %s=N or --shape %s=...\n",
                  mi->name, d, mi->dim_names[d] ? mi->dim_names[d] : "NAME", mi->name);
          rc = 2;
          goto out;
        }
      }
    }
    size_t es = cleave_dtype_size(t->dtype);
    int64_t numel = cleave_tensor_numel(t);
    if (es == 0 || numel > (INT64_C(1) << 34)) {
      fprintf(stderr, "cleave-run: cannot make random data for input '%s'\n", mi->name);
      goto out;
    }
    t->nbytes = (size_t)numel * es;
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    if (!t->data) goto out;
    if (t->dtype == CLEAVE_DTYPE_FLOAT32) cl_fill_random_f32(t->data, numel, (uint32_t)seed + (uint32_t)i);
  }

  times = calloc((size_t)repeat, sizeof *times);
  if (!times) goto out;
  for (long long i = 0; i < warmup + repeat; i++) {
    cleave_result_free(res);
    res = NULL;
    if (edge) {
      if (run_edge_infer(edge, model, edge_name, feed, (size_t)n_model_in, &res)) goto out;
    } else if ((err = cleave_run_sync(sess, feed, (size_t)n_model_in, &res))) {
      fprintf(stderr, "cleave-run: run failed: %s (%s)\n", cleave_ctx_last_error(ctx), cleave_err_name(err));
      goto out;
    }
    if (i >= warmup) times[i - warmup] = cleave_result_ms(res);
  }
  qsort(times, (size_t)repeat, sizeof *times, cmp_double);
  double tmin = times[0], p50 = pct(times, (int)repeat, 0.5), p90 = pct(times, (int)repeat, 0.9);

  if (save_dir) {
    if (mkdir(save_dir, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "cleave-run: cannot create %s: %s\n", save_dir, strerror(errno));
      goto out;
    }
    for (int i = 0; i < cleave_result_num_outputs(res); i++) {
      const cleave_tensor *o = cleave_result_output(res, i);
      char safe[256], path[4096];
      file_safe(o->name, safe, sizeof safe);
      snprintf(path, sizeof path, "%s/%s.npy", save_dir, safe);
      if (npy_write(path, o, msg, sizeof msg)) {
        fprintf(stderr, "cleave-run: %s\n", msg);
        goto out;
      }
    }
  }

  int n_prof = 0;
  const cleave_node_profile *prof = cleave_result_profile(res, &n_prof);
  if (json) {
    json_t *root = json_object(), *outs = json_array(), *tm = json_object();
    json_object_set_new(root, "model", json_string(model_path));
    json_object_set_new(root, "device", json_string(device));
    json_object_set_new(tm, "runs", json_integer(repeat));
    json_object_set_new(tm, "min_ms", json_real(tmin));
    json_object_set_new(tm, "p50_ms", json_real(p50));
    json_object_set_new(tm, "p90_ms", json_real(p90));
    json_object_set_new(root, "timings", tm);
    for (int i = 0; i < cleave_result_num_outputs(res); i++) {
      const cleave_tensor *o = cleave_result_output(res, i);
      json_t *jo = json_object(), *sh = json_array();
      for (int d = 0; d < o->ndim; d++)
        json_array_append_new(sh, json_integer(o->dims[d]));
      json_object_set_new(jo, "name", json_string(o->name));
      json_object_set_new(jo, "dtype", json_string(cleave_dtype_name(o->dtype)));
      json_object_set_new(jo, "shape", sh);
      json_array_append_new(outs, jo);
    }
    json_object_set_new(root, "outputs", outs);
    if (n_prof) {
      json_t *jp = json_array();
      for (int i = 0; i < n_prof; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "node", json_string(prof[i].node));
        json_object_set_new(e, "op", json_string(prof[i].op));
        json_object_set_new(e, "ms", json_real(prof[i].ms));
        json_array_append_new(jp, e);
      }
      json_object_set_new(root, "profile", jp);
    }
    char *s = json_dumps(root, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
    json_decref(root);
  } else {
    printf("%s on %s: min %.3f ms, p50 %.3f ms, p90 %.3f ms over %lld runs\n", model_path, device, tmin, p50, p90,
           repeat);
    for (int i = 0; i < cleave_result_num_outputs(res); i++) {
      const cleave_tensor *o = cleave_result_output(res, i);
      char shape[160];
      cl_dims_str(o->ndim, o->dims, shape, sizeof shape);
      printf("output %s: %s %s\n", o->name, cleave_dtype_name(o->dtype), shape);
    }
    for (int i = 0; i < n_prof; i++)
      printf("  %10.3f ms  %-18s %s\n", prof[i].ms, prof[i].op, prof[i].node);
    if (edge) run_edge_print_stats(edge, stdout);
  }
  rc = 0;
out:
  if (feed)
    for (int i = 0; i < cleave_model_num_inputs(model); i++)
      free(feed[i].data);
  free(feed);
  free(times);
  cleave_result_free(res);
  run_edge_close(edge);
  cleave_session_free(sess);
  cleave_session_options_free(sopt);
  cleave_model_free(model);
  cleave_ctx_free(ctx);
  cleave_options_free(opt);
  if (edge_url && uv_loop_close(uv_default_loop())) {
    fprintf(stderr, "cleave-run: handles left open at exit\n");
    rc = 1;
  }
  return rc;
}
