/* cleave-bench-hybrid: end-to-end latency of one model through a hybrid session on emulated links, AUTO against
 * all-local and all-edge, side by side; the cost model's error per segment; and how long cleave's own work blocks
 * the loop.
 *
 * For each link preset it starts the real cleave-gateway (backend cpu, the model already in its repository, its
 * profile measured and published) behind the real cleave-link (the preset's uplink, downlink and RTT), and runs three
 * sessions on the same edge, interleaved run by run so that they see the same machine: ONLY_LOCAL, ONLY_EDGE (the
 * input sent as it is) and AUTO (latency alone weighed, the input allowed to leave). The device is the reference
 * backend, which on this kind of machine is about fifteen times slower than the gateway's cpu: a phone against an
 * edge GPU. Nothing is configured: the device is measured once (cached), the gateway says what it is.
 *
 * The loop probe: a uv_prepare handle marks each loop iteration; per iteration it takes the loop thread's CPU time
 * (cleave's own work) and the wall time less libuv's idle-time metric (the kernel's wait), which also counts the
 * thread being preempted on a loaded machine. The bench's own callback is left out; cleave_run, which the bench
 * calls between iterations, is timed on its own (an app calling it from a callback would see it in an iteration). */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cleave.h"
#include "core/ir/tensor.h"
#include "h2_client_testkit.h"
#include "proc_kit.h"

#define MAX_RUNS 400

typedef struct options {
  const char *bin, *models, *model, *device;
  int width, runs, warmup;
  char links[256];
} options;

typedef struct series {
  double ms[MAX_RUNS];
  int n, errors, on_edge;
  double ape_sum; /* of |predicted - measured| / measured, per segment */
  int ape_n;
  char plans[256];
} series;

typedef struct probe {
  uv_prepare_t prep;
  uv_check_t check;
  uint64_t idle_at_prep;
  double t_prep, cpu_prep;
  double own_ms, own_cpu; /* the bench's callback within the current iteration */
  double max_busy, busy_sum, max_cpu, cpu_sum;
  long iterations, over_1ms, cpu_over_1ms;
  double submit_max_cpu, submit_cpu_sum; /* cleave_run itself (planning included), called between iterations */
  long submits, submit_over_1ms;
  bool on;
} probe;

static probe P;
static uv_loop_t loop;

/* The calling thread's CPU time in ms: what it computed, not what it waited or was preempted. */
static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One loop iteration, prepare to prepare: its wall time less the time the kernel's wait took (busy, which also
 * counts the loop thread being preempted on a loaded machine), and the loop thread's CPU time (cleave's own work
 * alone, what the acceptance is about). The bench's own callback is left out of both. */
static void on_prepare(uv_prepare_t *h) {
  (void)h;
  double now = cl_now_ms(), cpu = thread_cpu_ms();
  if (P.on && P.t_prep > 0) {
    double busy = now - P.t_prep - (double)(uv_metrics_idle_time(&loop) - P.idle_at_prep) / 1e6 - P.own_ms;
    double c = cpu - P.cpu_prep - P.own_cpu;
    if (busy > P.max_busy) P.max_busy = busy;
    if (c > P.max_cpu) P.max_cpu = c;
    P.busy_sum += busy;
    P.cpu_sum += c;
    P.over_1ms += busy > 1;
    P.cpu_over_1ms += c > 1;
    P.iterations++;
  }
  P.own_ms = P.own_cpu = 0;
  P.t_prep = now;
  P.cpu_prep = thread_cpu_ms();
  P.idle_at_prep = uv_metrics_idle_time(&loop);
}

static void on_check(uv_check_t *h) { (void)h; }

typedef struct run_state {
  int done, status;
  cleave_result *res;
  char err[512];
} run_state;

static void on_run(cleave_run_req *req, int status, cleave_result *res) {
  double t0 = cl_now_ms(), c0 = thread_cpu_ms();
  run_state *s = cleave_run_req_user(req);
  s->done = 1;
  s->status = status;
  s->res = res;
  if (status) snprintf(s->err, sizeof s->err, "%s", cleave_run_req_error(req));
  P.own_ms += cl_now_ms() - t0;
  P.own_cpu += thread_cpu_ms() - c0;
}

static int run_one(cleave_session *s, const cleave_tensor *in, run_state *st) {
  memset(st, 0, sizeof *st);
  double c0 = thread_cpu_ms();
  int rc = cleave_run(s, in, 1, on_run, st, NULL);
  double c = thread_cpu_ms() - c0;
  if (P.on) {
    if (c > P.submit_max_cpu) P.submit_max_cpu = c;
    P.submit_cpu_sum += c;
    P.submit_over_1ms += c > 1;
    P.submits++;
  }
  if (rc) {
    st->done = 1;
    st->status = rc;
    snprintf(st->err, sizeof st->err, "%s", cleave_strerror(rc));
    return rc;
  }
  double end = cl_now_ms() + 120000;
  while (!st->done && cl_now_ms() < end)
    uv_run(&loop, UV_RUN_ONCE);
  if (!st->done) {
    fprintf(stderr, "a run took more than 120 s\n");
    exit(1);
  }
  return st->status;
}

static void record(series *sr, const run_state *st) {
  if (st->status) {
    sr->errors++;
    return;
  }
  const cleave_placement *p = cleave_result_placement(st->res);
  if (sr->n < MAX_RUNS) sr->ms[sr->n++] = cleave_result_ms(st->res);
  bool edge = false;
  for (int k = 0; k < p->n_segments; k++) {
    const cleave_segment_report *g = &p->segments[k];
    edge |= g->on_edge;
    double measured = g->on_edge ? g->end_ms - g->start_ms : g->compute_ms;
    if (measured > 0.05 && g->predicted_ms > 0 && !g->fallback && !g->hedged) {
      sr->ape_sum += fabs(g->predicted_ms - measured) / measured;
      sr->ape_n++;
    }
  }
  sr->on_edge += edge;
  if (!strstr(sr->plans, p->plan) && strlen(sr->plans) + strlen(p->plan) + 2 < sizeof sr->plans) {
    if (sr->plans[0]) strcat(sr->plans, " ");
    strcat(sr->plans, p->plan);
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(series *s, double q) {
  if (!s->n) return NAN;
  qsort(s->ms, (size_t)s->n, sizeof s->ms[0], cmp);
  return s->ms[(int)floor(q * (s->n - 1) + 0.5)];
}

static cleave_session *session(cleave_ctx *ctx, cleave_model *m, cleave_edge *e, const options *o, cleave_mode mode) {
  cleave_session_options *so;
  cleave_session *s = NULL;
  int rc = cleave_session_options_new(&so);
  const cleave_tensor *mi = cleave_model_input(m, 0);
  int64_t dims[4] = {1, 3, 48, o->width};
  if (!strcmp(o->model, "det")) dims[2] = dims[3] = o->width;
  for (int d = 0; !rc && d < 4; d++)
    if (mi->dims[d] < 0) rc = cleave_session_options_set_dim(so, mi->dim_names[d], dims[d]);
  const char *devs[1] = {o->device};
  if (!rc) rc = cleave_session_options_set_devices(so, devs, 1);
  if (!rc) rc = cleave_session_options_add_edge(so, e, NULL);
  if (!rc) rc = cleave_session_options_set_mode(so, mode);
  if (!rc) rc = cleave_session_options_set_weights(so, 1, 0, 0);
  if (!rc) cleave_session_options_set_offload_inputs(so, 1);
  if (!rc) rc = cleave_session_new(ctx, m, so, &s);
  if (rc) fprintf(stderr, "session: %s: %s\n", cleave_strerror(rc), cleave_ctx_last_error(ctx));
  cleave_session_options_free(so);
  return s;
}

static const char *model_file(const char *m) {
  return !strcmp(m, "det")   ? "ch_PP-OCRv4_det_infer.onnx"
         : !strcmp(m, "cls") ? "ch_ppocr_mobile_v2.0_cls_infer.onnx"
                             : "ch_PP-OCRv4_rec_infer.onnx";
}

static int bench_link(const options *o, const char *link, kit_pki *pki, cleave_ctx *ctx, cleave_model *m,
                      const cleave_tensor *in) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", o->models, model_file(o->model));
  const char *preload[] = {path, NULL};
  const char *largs[] = {"--preset", link, NULL};
  pk_stack st;
  if (pk_stack_start(&st, o->bin, pki->cert, pki->key, NULL, largs, preload)) return -1;
  cleave_edge_options *eo;
  cleave_edge *e = NULL;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", st.link_port);
  cleave_edge_options_new(&eo);
  cleave_edge_options_set_ca_file(eo, pki->ca);
  cleave_edge_options_set_timeout_ms(eo, 60000);
  int rc = cleave_edge_new(ctx, url, eo, &e);
  cleave_edge_options_free(eo);
  static const cleave_mode modes[3] = {CLEAVE_MODE_ONLY_LOCAL, CLEAVE_MODE_ONLY_EDGE, CLEAVE_MODE_AUTO};
  static const char *const names[3] = {"all-local", "all-edge", "auto"};
  cleave_session *s[3] = {0};
  series sr[3];
  memset(sr, 0, sizeof sr);
  for (int i = 0; !rc && i < 3; i++)
    if (!(s[i] = session(ctx, m, e, o, modes[i]))) rc = -1;
  /* all-edge can run once the gateway is known (its profile asked for, the model found there) */
  run_state r;
  double until = cl_now_ms() + 60000;
  while (!rc && run_one(s[1], in, &r) == CLEAVE_EINFEASIBLE && cl_now_ms() < until) {
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, kit_tick, 200, 0);
    uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  if (!rc && r.status) {
    fprintf(stderr, "%s: all-edge does not run: %s\n", link, r.err);
    rc = -1;
  }
  cleave_result_free(r.res);
  for (int round = 0; !rc && round < o->warmup + o->runs; round++) {
    P.on = round >= o->warmup;
    for (int i = 0; i < 3; i++) {
      run_one(s[i], in, &r);
      if (round >= o->warmup) record(&sr[i], &r);
      else if (r.status)
        fprintf(stderr, "%s %s warm-up: %s\n", link, names[i], r.err);
      cleave_result_free(r.res);
    }
  }
  P.on = false;
  if (!rc) {
    double med[3];
    for (int i = 0; i < 3; i++) {
      med[i] = quantile(&sr[i], 0.5);
      printf("%-5s %-9s p50 %8.1f ms  p90 %8.1f ms  errors %d  runs on the edge %2d/%d  MAPE %5.1f%% (%d segments)  "
             "plans: %s\n",
             link, names[i], med[i], quantile(&sr[i], 0.9), sr[i].errors, sr[i].on_edge, sr[i].n,
             sr[i].ape_n ? 100 * sr[i].ape_sum / sr[i].ape_n : NAN, sr[i].ape_n, sr[i].plans);
    }
    double better = fmin(med[0], med[1]);
    printf("%-5s auto / best of the two %.3f (%s), auto / all-local %.3f, auto / all-edge %.3f\n", link,
           med[2] / better, med[2] <= 1.05 * better ? "within 5%" : "MORE than 5% over", med[2] / med[0],
           med[2] / med[1]);
  }
  for (int i = 0; i < 3; i++)
    cleave_session_free(s[i]);
  if (e) {
    int closed = 0;
    cleave_edge_close(e, kit_done_flag, &closed);
    kit_run_until(&loop, &closed, 1, 10000);
  }
  pk_stack_stop(&st);
  return rc;
}

static void usage(FILE *f) {
  fprintf(f, "usage: cleave-bench-hybrid [--bin DIR] [--models DIR] [--model rec|cls|det] [--width W]\n"
             "                           [--links wifi,4g,3g] [--runs N] [--warmup N] [--device ref]\n"
             "  Latency of AUTO, all-local and all-edge on emulated links (cleave-link presets), interleaved;\n"
             "  the cost model's error per segment (MAPE); how long cleave's own work holds the loop.\n"
             "  defaults: --bin build/bin --models models --model rec --width 640 --links wifi,4g,3g --runs 20\n"
             "            --warmup 10 --device ref\n");
}

int main(int argc, char **argv) {
  options o = {.bin = "build/bin", .models = "models", .model = "rec", .device = "ref", .width = 640, .runs = 20,
               .warmup = 10};
  snprintf(o.links, sizeof o.links, "wifi,4g,3g");
  static const struct option longopts[] = {
      {"bin", required_argument, NULL, 'b'},   {"models", required_argument, NULL, 'm'},
      {"model", required_argument, NULL, 'M'}, {"width", required_argument, NULL, 'w'},
      {"links", required_argument, NULL, 'l'}, {"runs", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'W'}, {"device", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'b': o.bin = optarg; break;
    case 'm': o.models = optarg; break;
    case 'M': o.model = optarg; break;
    case 'w': o.width = atoi(optarg); break;
    case 'l': snprintf(o.links, sizeof o.links, "%s", optarg); break;
    case 'r': o.runs = atoi(optarg); break;
    case 'W': o.warmup = atoi(optarg); break;
    case 'd': o.device = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (o.runs < 1 || o.runs > MAX_RUNS || o.warmup < 0 || o.width < 1) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  uv_loop_configure(&loop, UV_METRICS_IDLE_TIME);
  uv_prepare_init(&loop, &P.prep);
  uv_check_init(&loop, &P.check);
  uv_prepare_start(&P.prep, on_prepare);
  uv_check_start(&P.check, on_check);
  uv_unref((uv_handle_t *)&P.prep);
  uv_unref((uv_handle_t *)&P.check);
  kit_pki *pki = kit_pki_new();
  cleave_ctx *ctx = NULL;
  cleave_model *m = NULL;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", o.models, model_file(o.model));
  if (!pki || cleave_ctx_new(&ctx, &loop, NULL) || cleave_model_load(ctx, path, &m)) {
    fprintf(stderr, "cleave-bench-hybrid: %s\n", ctx ? cleave_ctx_last_error(ctx) : "cannot start");
    return 1;
  }
  cleave_policy_set_system_root(ctx, NULL); /* this machine's signals are not the emulated device's */
  cleave_tensor in = {.name = cleave_model_input(m, 0)->name, .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4,
                      .dims = {1, 3, 48, o.width}};
  if (!strcmp(o.model, "det")) in.dims[2] = in.dims[3] = o.width;
  int64_t n = cleave_tensor_numel(&in);
  float *x = malloc(sizeof(float) * (size_t)n);
  cl_fill_random_f32(x, n, 5);
  in.data = x;
  in.nbytes = sizeof(float) * (size_t)n;
  printf("# %s 1x3x%lldx%lld, device %s, gateway backend cpu (one thread per executor), %d timed rounds after %d "
         "warm-up, interleaved; weights latency only\n",
         o.model, (long long)in.dims[2], (long long)in.dims[3], o.device, o.runs, o.warmup);
  int rc = 0;
  for (char *tok = strtok(o.links, ","); tok && !rc; tok = strtok(NULL, ","))
    rc = bench_link(&o, tok, pki, ctx, m, &in);
  printf("loop: %ld iterations; cleave's own work (the loop thread's CPU time) at most %.3f ms in one iteration "
         "(mean %.3f), %ld over 1 ms; wall time not waiting (preemption included) at most %.3f ms (mean %.3f), %ld "
         "over 1 ms\n",
         P.iterations, P.max_cpu, P.iterations ? P.cpu_sum / P.iterations : 0, P.cpu_over_1ms, P.max_busy,
         P.iterations ? P.busy_sum / P.iterations : 0, P.over_1ms);
  printf("cleave_run: %ld calls; CPU time (planning included) at most %.3f ms (mean %.3f), %ld over 1 ms\n",
         P.submits, P.submit_max_cpu, P.submits ? P.submit_cpu_sum / P.submits : 0, P.submit_over_1ms);
  free(x);
  cleave_model_free(m);
  cleave_ctx_free(ctx);
  uv_close((uv_handle_t *)&P.prep, NULL);
  uv_close((uv_handle_t *)&P.check, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  kit_pki_free(pki);
  return rc ? 1 : 0;
}
