/* partitioner: calibration of a local device with micro-models built in memory and run through its backend. */
#include "partitioner/calibrate.h"

#include <errno.h>
#include <math.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleave/plan.h"
#include "local/program.h"

/* ---- a minimal protobuf writer for ONNX ModelProto (field numbers from onnx.proto) ---- */

typedef struct pbuf {
  cleave_ctx *ctx;
  uint8_t *p;
  size_t n, cap;
  bool oom;
} pbuf;

static void pb_raw(pbuf *b, const void *d, size_t len) {
  if (b->oom || !len) return;
  if (b->n + len > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + len)
      nc *= 2;
    uint8_t *np = cl_realloc(b->ctx, b->p, nc);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->n, d, len);
  b->n += len;
}

static void pb_varint(pbuf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) t[n] |= 0x80;
    n++;
  } while (v);
  pb_raw(b, t, n);
}

static void pb_int(pbuf *b, int field, int64_t v) {
  pb_varint(b, (uint64_t)field << 3);
  pb_varint(b, (uint64_t)v);
}

static void pb_bytes(pbuf *b, int field, const void *d, size_t len) {
  pb_varint(b, (uint64_t)field << 3 | 2);
  pb_varint(b, len);
  pb_raw(b, d, len);
}

static void pb_str(pbuf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

/* Appends sub as a nested message and empties it. */
static void pb_sub(pbuf *b, int field, pbuf *sub) {
  if (sub->oom)
    b->oom = true;
  else
    pb_bytes(b, field, sub->p, sub->n);
  cl_free(sub->ctx, sub->p);
  *sub = (pbuf){.ctx = b->ctx};
}

enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INIT = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };

static void g_input(pbuf *g, const char *name, int ndim, const int64_t *d) {
  pbuf shape = {.ctx = g->ctx}, dim = {.ctx = g->ctx}, tt = {.ctx = g->ctx}, type = {.ctx = g->ctx},
       vi = {.ctx = g->ctx};
  for (int i = 0; i < ndim; i++) {
    pb_int(&dim, 1, d[i]); /* Dimension.dim_value */
    pb_sub(&shape, 1, &dim);
  }
  pb_int(&tt, 1, CLEAVE_DTYPE_FLOAT32); /* TypeProto.Tensor.elem_type */
  pb_sub(&tt, 2, &shape);
  pb_sub(&type, 1, &tt); /* TypeProto.tensor_type */
  pb_str(&vi, 1, name);
  pb_sub(&vi, 2, &type);
  pb_sub(g, GRAPH_INPUT, &vi);
}

static void g_output(pbuf *g, const char *name) {
  pbuf vi = {.ctx = g->ctx};
  pb_str(&vi, 1, name);
  pb_sub(g, GRAPH_OUTPUT, &vi);
}

/* A float initializer with small deterministic values. */
static void g_weight(pbuf *g, const char *name, int ndim, const int64_t *d, float scale) {
  pbuf t = {.ctx = g->ctx};
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    pb_int(&t, 1, d[i]);
    n *= d[i];
  }
  pb_int(&t, 2, CLEAVE_DTYPE_FLOAT32);
  pb_str(&t, 8, name);
  float *data = cl_malloc(g->ctx, (size_t)n * sizeof *data);
  if (!data) {
    g->oom = true;
  } else {
    cl_fill_random_f32(data, n, (uint32_t)n);
    for (int64_t i = 0; i < n; i++)
      data[i] *= scale;
    pb_bytes(&t, 9, data, (size_t)n * sizeof *data); /* raw_data: little-endian floats */
    cl_free(g->ctx, data);
  }
  pb_sub(g, GRAPH_INIT, &t);
}

typedef struct node_attr {
  const char *name;
  int n; /* 0: the int i; else n ints */
  int64_t i;
  int64_t ints[4];
} node_attr;

/* A node; ins and outs are comma-separated value names ("" for an omitted input). */
static void g_node(pbuf *g, const char *op, const char *ins, const char *outs, const node_attr *attrs, int n_attrs) {
  pbuf nd = {.ctx = g->ctx};
  const char *lists[2] = {ins, outs};
  for (int k = 0; k < 2; k++)
    for (const char *p = lists[k]; p;) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      pb_bytes(&nd, k + 1, p, len);
      p = comma ? comma + 1 : NULL;
    }
  char name[48]; /* the op and its first output: unique in these graphs */
  snprintf(name, sizeof name, "%s_%.*s", op, (int)strcspn(outs, ","), outs);
  pb_str(&nd, 3, name);
  pb_str(&nd, 4, op);
  for (int a = 0; a < n_attrs; a++) {
    pbuf at = {.ctx = g->ctx};
    pb_str(&at, 1, attrs[a].name);
    if (attrs[a].n == 0) {
      pb_int(&at, 3, attrs[a].i);
      pb_int(&at, 20, 2); /* INT */
    } else {
      for (int i = 0; i < attrs[a].n; i++)
        pb_int(&at, 8, attrs[a].ints[i]);
      pb_int(&at, 20, 7); /* INTS */
    }
    pb_sub(&nd, 5, &at);
  }
  pb_sub(g, GRAPH_NODE, &nd);
}

/* ---- the micro-models ---- */

/* The first six are the op classes, in cl_op_class order. */
typedef enum { M_CONV, M_DEPTHWISE, M_GEMM, M_EW, M_POOL, M_DATA, M_DISPATCH, M_MEMORY } micro;
_Static_assert(M_DATA == (int)CL_OPC_DATA && M_EW == (int)CL_OPC_ELEMENTWISE && M_DISPATCH == (int)CL_OPC_COUNT,
               "micro-models follow cl_op_class");

static const char *const micro_names[CL_CALIB_SAMPLES] = {"conv", "depthwise", "gemm",     "elementwise",
                                                          "pool", "data",      "dispatch", "memory"};

#define DISPATCH_CHAIN 32

/* The graph of micro-model m. Sizes are those of the activations of small vision models (a few hundred
 * thousand elements), so that each run takes a few milliseconds on a phone-class CPU; the memory stream moves
 * 96 MiB, more than the last-level caches of such chips. */
static void build(pbuf *g, micro m) {
  static const int64_t x64[] = {1, 64, 64, 64}, x32[] = {1, 32, 64, 64}, half[] = {1, 64, 32, 32};
  static const node_attr pad1 = {.name = "pads", .n = 4, .ints = {1, 1, 1, 1}};
  pb_str(g, GRAPH_NAME, micro_names[m]);
  switch (m) {
  case M_CONV: {
    static const int64_t w[] = {64, 32, 3, 3}, b[] = {64};
    g_input(g, "x", 4, x32);
    g_weight(g, "w", 4, w, 0.05f);
    g_weight(g, "b", 1, b, 0.1f);
    g_node(g, "Conv", "x,w,b", "y", &pad1, 1);
    g_output(g, "y");
    break;
  }
  case M_DEPTHWISE: {
    static const int64_t w[] = {64, 1, 3, 3}, b[] = {64};
    node_attr a[] = {pad1, {.name = "group", .i = 64}};
    g_input(g, "x", 4, x64);
    g_weight(g, "w", 4, w, 0.1f);
    g_weight(g, "b", 1, b, 0.1f);
    g_node(g, "Conv", "x,w,b", "y", a, 2);
    g_output(g, "y");
    break;
  }
  case M_GEMM: {
    static const int64_t x[] = {256, 512}, w[] = {512, 512};
    g_input(g, "x", 2, x);
    g_weight(g, "w", 2, w, 0.05f);
    g_node(g, "MatMul", "x,w", "y", NULL, 0);
    g_output(g, "y");
    break;
  }
  case M_EW: /* a binary op and a transcendental one, independent so that no backend fuses them */
    g_input(g, "x", 4, x64);
    g_input(g, "y", 4, x64);
    g_node(g, "Add", "x,y", "s", NULL, 0);
    g_node(g, "Sigmoid", "x", "t", NULL, 0);
    g_output(g, "s");
    g_output(g, "t");
    break;
  case M_POOL: {
    static const int64_t sc[] = {4};
    node_attr a[] = {
        {.name = "kernel_shape", .n = 2, .ints = {3, 3}}, {.name = "strides", .n = 2, .ints = {2, 2}}, pad1};
    g_input(g, "x", 4, x64);
    g_input(g, "z", 4, half);
    pbuf t = {.ctx = g->ctx}; /* scales [1, 1, 2, 2] */
    static const float scales[] = {1, 1, 2, 2};
    pb_int(&t, 1, sc[0]);
    pb_int(&t, 2, CLEAVE_DTYPE_FLOAT32);
    pb_str(&t, 8, "scales");
    pb_bytes(&t, 9, scales, sizeof scales);
    pb_sub(g, GRAPH_INIT, &t);
    g_node(g, "MaxPool", "x", "p", a, 3);
    g_node(g, "Resize", "z,,scales", "r", NULL, 0);
    g_output(g, "p");
    g_output(g, "r");
    break;
  }
  case M_DATA: {
    node_attr perm = {.name = "perm", .n = 4, .ints = {0, 2, 3, 1}}, axis = {.name = "axis", .i = 1};
    g_input(g, "x", 4, x64);
    g_input(g, "y", 4, x64);
    g_node(g, "Transpose", "x", "t", &perm, 1);
    g_node(g, "Concat", "x,y", "c", &axis, 1);
    g_output(g, "t");
    g_output(g, "c");
    break;
  }
  case M_DISPATCH: { /* a chain of tiny matrix products: nothing to fuse, almost nothing to compute */
    static const int64_t x[] = {1, 16}, w[] = {16, 16};
    g_input(g, "x", 2, x);
    char wn[16], in[16], out[16], ins[40];
    for (int i = 0; i < DISPATCH_CHAIN; i++) {
      snprintf(wn, sizeof wn, "w%d", i);
      g_weight(g, wn, 2, w, 0.2f);
      snprintf(in, sizeof in, i ? "h%d" : "x", i);
      snprintf(out, sizeof out, i + 1 < DISPATCH_CHAIN ? "h%d" : "y", i + 1);
      snprintf(ins, sizeof ins, "%s,%s", in, wn);
      g_node(g, "MatMul", ins, out, NULL, 0);
    }
    g_output(g, "y");
    break;
  }
  case M_MEMORY: {
    static const int64_t big[] = {8, 1024, 1024};
    g_input(g, "x", 3, big);
    g_input(g, "y", 3, big);
    g_node(g, "Add", "x,y", "s", NULL, 0);
    g_output(g, "s");
    break;
  }
  }
}

static int load_micro(cleave_ctx *ctx, micro m, cleave_model **out) {
  pbuf g = {.ctx = ctx}, opset = {.ctx = ctx}, model = {.ctx = ctx};
  build(&g, m);
  pb_int(&model, 1, 8); /* ir_version */
  pb_sub(&model, 7, &g);
  pb_int(&opset, 2, 13); /* OperatorSetIdProto.version, default domain */
  pb_sub(&model, 8, &opset);
  int rc = model.oom ? cl_err(ctx, CLEAVE_ENOMEM, "out of memory")
                     : cleave_model_load_memory(ctx, model.p, model.n, NULL, out);
  cl_free(ctx, model.p);
  return rc;
}

/* ---- measuring ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define MAX_RUNS 1000

/* Whether a profiled step is the node's own work: its op, or a fused group that starts with it. Steps a backend
 * adds around a node, such as layout conversions at the edge of a segment ("Transpose(NCHW>NHWC)" on a Conv),
 * are paid once per segment, not per node, and stay out of the per-node figures. */
static bool own_step(const cleave_node_profile *p) {
  const char *op = strchr(p->node, '_'); /* micro-model nodes are named "<op>_<output>" */
  size_t len = op ? (size_t)(op - p->node) : strlen(p->node);
  return strncmp(p->op, p->node, len) == 0 && (p->op[len] == 0 || p->op[len] == '+');
}

/* Runs micro-model m on device until share_ms of timed runs (at least 3) have passed; fills s. A device that
 * refuses the model (CLEAVE_EUNSUPPORTED) leaves s->supported false and returns 0. */
static int measure(cleave_ctx *ctx, const char *device, micro m, double share_ms, cl_calib_sample *s, double *times) {
  cleave_model *model = NULL;
  cl_program *prog = NULL;
  cleave_result *res = NULL;
  cleave_tensor in[2];
  memset(in, 0, sizeof in);
  memset(s, 0, sizeof *s);
  s->what = micro_names[m];
  int rc = load_micro(ctx, m, &model);
  if (rc) goto out;
  const cl_graph *g = &model->graph;
  for (int n = 0; n < g->n_nodes; n++) {
    cl_node_cost c;
    cl_cost_node(g, &g->nodes[n], &c);
    s->flops += c.flops;
    s->bytes += c.bytes;
  }
  const cl_device_iface *dev = cl_device_find(device);
  if (!dev) {
    rc = cl_err(ctx, CLEAVE_ENODEVICE, "no device named '%s'", device);
    goto out;
  }
  cl_program_spec spec = {.profiling = true};
  if (!(rc = cl_program_new(ctx, model, &spec, &prog))) rc = cl_program_compile(prog, dev, NULL);
  if (rc == CLEAVE_EUNSUPPORTED && m != M_DISPATCH && m != M_MEMORY) {
    rc = 0;
    goto out;
  }
  if (rc) goto out;
  int n_in = cleave_model_num_inputs(model);
  for (int i = 0; i < n_in && i < 2; i++) {
    const cleave_tensor *mi = cleave_model_input(model, i);
    in[i] = *mi;
    int64_t numel = cleave_tensor_numel(mi);
    in[i].nbytes = (size_t)numel * sizeof(float);
    if (!(in[i].data = cl_malloc(ctx, in[i].nbytes))) {
      rc = cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
      goto out;
    }
    cl_fill_random_f32(in[i].data, numel, (uint32_t)(i + 1));
  }
  double t0 = 0;
  for (int r = -1; r < MAX_RUNS; r++) {
    if ((rc = cl_program_run(prog, in, (size_t)n_in, &res))) goto out;
    if (r < 0) { /* warm-up: caches, lazily built kernels, output buffers */
      t0 = cl_now_ms();
      continue;
    }
    int n_prof, steps = 0;
    const cleave_node_profile *np = cleave_result_profile(res, &n_prof);
    double ms = 0;
    for (int i = 0; i < n_prof; i++)
      if (own_step(&np[i])) ms += np[i].ms, steps++;
    if (steps == 0) ms = cleave_result_ms(res), steps = 1;
    s->steps = steps;
    times[s->runs++] = ms;
    if (s->runs >= 3 && cl_now_ms() - t0 >= share_ms) break;
  }
  /* the lower quartile: runs on a busy machine lose whole scheduler slices when a worker thread is preempted */
  qsort(times, (size_t)s->runs, sizeof *times, cmp_double);
  s->ms = times[(s->runs - 1) / 4];
  s->supported = true;
out:
  for (int i = 0; i < 2; i++)
    cl_free(ctx, in[i].data);
  cleave_result_free(res);
  cl_program_free(prog);
  cleave_model_free(model);
  return rc;
}

/* The threads a CPU backend runs on here: the calling thread's bound pool (an executor's), else the context's. */
static int calib_threads(cleave_ctx *ctx) {
  void *pool = cl_ctx_threadpool(ctx);
  size_t n = pool ? pthreadpool_get_threads_count(pool) : 1;
  return n > 0 && n < 100000 ? (int)n : 1;
}

/* "AMD EPYC (2 logical CPUs)" from /proc/cpuinfo, or "an unknown CPU". */
static void cpu_description(char *buf, size_t len) {
  char model[128] = "";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (!model[0] && fgets(line, sizeof line, f)) {
      const char *colon = strchr(line, ':');
      if (strncmp(line, "model name", 10) == 0 && colon) {
        snprintf(model, sizeof model, "%s", colon + 1 + (colon[1] == ' '));
        model[strcspn(model, "\n")] = 0;
      }
    }
    fclose(f);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(buf, len, "%s (%ld logical CPUs)", model[0] ? model : "an unknown CPU", n);
}

/* Power cannot be measured from user space in general: per-thread estimates, said so in the source text. */
#define EST_ACTIVE_W_PER_THREAD 3.5
#define EST_IDLE_W 0.5

int cl_calibrate(cleave_ctx *ctx, const char *device, const char *name, double budget_ms, cl_profile *out,
                 cl_calib_sample *samples) {
  if (!ctx || !device || !name || !out || !(budget_ms > 0))
    return cl_err(ctx, CLEAVE_EINVAL, "cl_calibrate: NULL argument or budget <= 0");
  if (strlen(name) >= CL_PROFILE_NAME_MAX)
    return cl_err(ctx, CLEAVE_EINVAL, "calibration: profile name '%s' is too long", name);
  const cl_device_iface *dev = cl_device_find(device);
  if (!dev || dev->kind == CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_ENODEVICE, "calibration: no local device named '%s'", device);
  if (strlen(device) >= sizeof out->backend) return cl_err(ctx, CLEAVE_EINVAL, "calibration: device name too long");
  cl_calib_sample s[CL_CALIB_SAMPLES];
  double *times = cl_malloc(ctx, MAX_RUNS * sizeof *times);
  if (!times) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  int rc = 0;
  /* the dispatch chain first: every other figure is net of it */
  static const micro order[CL_CALIB_SAMPLES] = {M_DISPATCH, M_MEMORY, M_CONV, M_DEPTHWISE,
                                                M_GEMM,     M_EW,     M_POOL, M_DATA};
  for (int i = 0; i < CL_CALIB_SAMPLES && !rc; i++)
    rc = measure(ctx, device, order[i], budget_ms / CL_CALIB_SAMPLES, &s[order[i]], times);
  cl_free(ctx, times);
  if (rc) return rc;

  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", name);
  snprintf(out->backend, sizeof out->backend, "%s", device);
  out->kind = dev->kind;
  double dispatch = s[M_DISPATCH].ms / s[M_DISPATCH].steps;
  out->dispatch_ms = dispatch;
  /* net of dispatch; never below a tenth of the measured time, whatever the noise */
#define NET_MS(x) fmax((x).ms - (x).steps * dispatch, 0.1 * (x).ms)
  out->mem_gbps = s[M_MEMORY].bytes / NET_MS(s[M_MEMORY]) / 1e6;
  s[M_MEMORY].gflops = s[M_MEMORY].flops / NET_MS(s[M_MEMORY]) / 1e6;
  s[M_DISPATCH].gflops = s[M_DISPATCH].flops / NET_MS(s[M_DISPATCH]) / 1e6;
  bool any = false;
  for (int c = 0; c < CL_OPC_COUNT; c++) { /* micro-models M_CONV..M_DATA are the op classes in order */
    cl_calib_sample *x = &s[c];
    if (!x->supported) continue;
    x->gflops = x->flops / NET_MS(*x) / 1e6;
    out->gflops[c] = x->gflops;
    any = true;
  }
#undef NET_MS
  if (!any) return cl_err(ctx, CLEAVE_EUNSUPPORTED, "calibration: device '%s' ran none of the op classes", device);
  if (dev->kind == CL_DEV_CPU) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) out->mem_bytes = (double)pages * (double)page;
  }
  int threads = calib_threads(ctx);
  out->active_w = EST_ACTIVE_W_PER_THREAD * threads;
  out->idle_w = EST_IDLE_W;

  char cpu[200], date[32] = "an unknown date";
  cpu_description(cpu, sizeof cpu);
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%d", &tm);
  snprintf(out->source, sizeof out->source,
           "Measured by cleave_calibrate() on %s through device '%s' with %d thread%s, on %s. Lower quartiles "
           "over runs of the per-node times (layout conversions excluded) of micro-models built in memory: 3x3 "
           "convolution 32->64 channels on 64x64, 3x3 depthwise on 64x64x64, MatMul 256x512x512, Add + Sigmoid, "
           "MaxPool 3x3/2 + Resize x2, Transpose + Concat on 64x64x64 tensors; dispatch_ms from a chain of %d "
           "16x16 MatMuls; mem_gbps from an Add over 3 x 32 MiB. gflops are effective rates net of dispatch. Not "
           "measured: active_w (an estimate of %.1f W per thread), idle_w (%.1f W), no thermal model.",
           date, device, threads, threads == 1 ? "" : "s", cpu, DISPATCH_CHAIN, EST_ACTIVE_W_PER_THREAD, EST_IDLE_W);
  if (samples) memcpy(samples, s, sizeof s);
  return 0;
}

int cl_calibrate_file(cleave_ctx *ctx, const char *device, const char *out_path, double budget_ms) {
  if (!ctx || !device || !out_path) return cl_err(ctx, CLEAVE_EINVAL, "cleave_calibrate: NULL argument");
  const char *base = strrchr(out_path, '/');
  base = base ? base + 1 : out_path;
  char name[CL_PROFILE_NAME_MAX];
  size_t len = strlen(base);
  if (len > 5 && strcmp(base + len - 5, ".json") == 0) len -= 5;
  if (len == 0) return cl_err(ctx, CLEAVE_EINVAL, "calibration: '%s' names no file", out_path);
  if (len >= sizeof name) len = sizeof name - 1;
  memcpy(name, base, len);
  name[len] = 0;
  if (!cl_device_find(device) || cl_device_find(device)->kind == CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_ENODEVICE, "calibration: no local device named '%s'", device);
  /* fail before seconds of measuring when the file cannot be written */
  bool existed = access(out_path, F_OK) == 0;
  FILE *f = fopen(out_path, "ab");
  if (!f) return cl_err(ctx, CLEAVE_EIO, "calibration: cannot write %s: %s", out_path, strerror(errno));
  fclose(f);
  cl_profile p;
  int rc = cl_calibrate(ctx, device, name, budget_ms, &p, NULL);
  if (!rc) rc = cl_profile_save(ctx, &p, out_path);
  if (rc && !existed) remove(out_path);
  return rc;
}

int cleave_calibrate(cleave_ctx *ctx, const char *device, const char *out_path) {
  return cl_calibrate_file(ctx, device, out_path, CL_CALIB_DEFAULT_MS);
}

/* ---- the cache ---- */

/* The cache folder ("" when the environment names none). */
static void cache_dir(char *buf, size_t len) {
  const char *d;
  int n = -1;
  if ((d = getenv("CLEAVE_CACHE_DIR")) && d[0])
    n = snprintf(buf, len, "%s", d);
  else if ((d = getenv("XDG_CACHE_HOME")) && d[0] == '/') /* the XDG spec ignores relative paths */
    n = snprintf(buf, len, "%s/cleave", d);
  else if ((d = getenv("HOME")) && d[0])
    n = snprintf(buf, len, "%s/.cache/cleave", d);
  if (n < 0 || (size_t)n >= len) buf[0] = 0;
}

/* mkdir -p, private to the user where it creates folders. 0 or -1 with errno. */
static int make_dirs(const char *dir) {
  char p[1024];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return errno = ENAMETOOLONG, -1;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0700) && errno != EEXIST) return -1;
    *s = c;
    if (!c) break;
  }
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

/* FNV-1a, 64 bits. */
static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

int cl_calibrate_cached(cleave_ctx *ctx, const char *device, double budget_ms, cl_profile *out, char *path,
                        size_t path_len) {
  if (path && path_len) path[0] = 0;
  if (!ctx || !device || !out || !(budget_ms > 0))
    return cl_err(ctx, CLEAVE_EINVAL, "cl_calibrate_cached: NULL argument or budget <= 0");
  const cl_device_iface *dev = cl_device_find(device);
  if (!dev || dev->kind == CL_DEV_EDGE)
    return cl_err(ctx, CLEAVE_ENODEVICE, "calibration: no local device named '%s'", device);
  /* the key: the device (by its own name, whatever alias was given), the threads, and this host */
  int threads = calib_threads(ctx);
  char host[256] = "", cpu[200], dir[1024], file[1100], name[CL_PROFILE_NAME_MAX];
  if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown-host");
  host[sizeof host - 1] = 0;
  cpu_description(cpu, sizeof cpu);
  uint64_t h = fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ull, host), "\n"), cpu);
  snprintf(name, sizeof name, "%.40s-%.16s", host, dev->name);
  cache_dir(dir, sizeof dir);
  if (dir[0] && snprintf(file, sizeof file, "%s/profile-%s-%dt-%08x.json", dir, dev->name, threads,
                         (unsigned)(h ^ (h >> 32))) >= (int)sizeof file)
    dir[0] = 0;
  if (!dir[0]) {
    cl_log(ctx, CLEAVE_LOG_WARN,
           "calibration: no cache folder ($CLEAVE_CACHE_DIR, $XDG_CACHE_HOME, $HOME): the "
           "profile of '%s' is measured and not kept",
           dev->name);
    return cl_calibrate(ctx, dev->name, name, budget_ms, out, NULL);
  }
  if (path && path_len) snprintf(path, path_len, "%s", file);
  if (access(file, F_OK) == 0) {
    int rc = cl_profile_load(ctx, file, out);
    if (!rc && out->kind == dev->kind && strcmp(out->backend, dev->name) == 0) {
      cl_log(ctx, CLEAVE_LOG_DEBUG, "calibration: the profile of '%s' from %s", dev->name, file);
      return 0;
    }
    cl_log(ctx, CLEAVE_LOG_WARN, "calibration: ignoring the cached profile %s: %s", file,
           rc ? cleave_ctx_last_error(ctx) : "it describes another device");
  }
  int rc = cl_calibrate(ctx, dev->name, name, budget_ms, out, NULL);
  if (rc) return rc;
  /* through a temporary file and a rename, so that a reader never sees half a profile */
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  if (make_dirs(dir)) {
    cl_log(ctx, CLEAVE_LOG_WARN, "calibration: cannot create the cache folder %s: %s", dir, strerror(errno));
  } else if (cl_profile_save(ctx, out, tmp)) {
    cl_log(ctx, CLEAVE_LOG_WARN, "calibration: cannot write the cache: %s", cleave_ctx_last_error(ctx));
    remove(tmp);
  } else if (rename(tmp, file)) {
    cl_log(ctx, CLEAVE_LOG_WARN, "calibration: cannot rename %s to %s: %s", tmp, file, strerror(errno));
    remove(tmp);
  }
  return 0;
}
