/* tests/core: faults while runs are in flight, against the real cleave-gateway behind the real cleave-link (both
 * started here, on 127.0.0.1, with certificates made here): the gateway killed with SIGKILL mid-stream, the link cut
 * by the emulator, the gateway answering 503 (a queue of zero), and the gateway stalling (SIGSTOP) past the runs'
 * deadline. Each time N runs are in flight, and exactly N callbacks come, each once, each with the all-local
 * result: the edge's failures are the device's work, never the app's errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/session.h"
#include "h2_client_testkit.h"
#include "proc_kit.h"

#define MODELS getenv("CLEAVE_MODELS")
#define CLS "ch_ppocr_mobile_v2.0_cls_infer.onnx"
#define N 120
#define TOL 1e-4

typedef struct fixture {
  kit_pki *pki;
  uv_loop_t loop;
  cleave_ctx *ctx;
  cleave_profile *cpu, *edge;
  cleave_model *m;
  float *x;
  cleave_tensor in;
  cleave_result *ref;
} fixture;

static int setup(void **state) {
  if (!MODELS) return -1;
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  signal(SIGPIPE, SIG_IGN);
  if (!(f->pki = kit_pki_new())) return -1;
  if (uv_loop_init(&f->loop) || cleave_ctx_new(&f->ctx, &f->loop, NULL)) return -1;
  char path[512];
  snprintf(path, sizeof path, "%s/partitioner/profiles/this-machine-cpu.json", CLEAVE_SOURCE_DIR);
  if (cleave_profile_load(f->ctx, path, &f->cpu)) return -1;
  snprintf(path, sizeof path, "%s/partitioner/profiles/edge-a10.json", CLEAVE_SOURCE_DIR);
  if (cleave_profile_load(f->ctx, path, &f->edge)) return -1;
  snprintf(path, sizeof path, "%s/" CLS, MODELS);
  if (cleave_model_load(f->ctx, path, &f->m)) return -1;
  f->in = (cleave_tensor){.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 3, 48, 192}};
  int64_t n = cleave_tensor_numel(&f->in);
  f->x = malloc(sizeof(float) * (size_t)n);
  cl_fill_random_f32(f->x, n, 9);
  f->in.data = f->x;
  f->in.nbytes = sizeof(float) * (size_t)n;
  cleave_session *s;
  if (cleave_session_new(f->ctx, f->m, NULL, &s)) return -1;
  int rc = cleave_run_sync(s, &f->in, 1, &f->ref);
  cleave_session_free(s);
  return rc;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  cleave_result_free(f->ref);
  cleave_model_free(f->m);
  cleave_profile_free(f->cpu);
  cleave_profile_free(f->edge);
  if (f->ctx) {
    cleave_ctx_free(f->ctx);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
  }
  if (f->pki) kit_pki_free(f->pki);
  free(f->x);
  free(f);
  return 0;
}

typedef struct outcome {
  int done, status;
  cleave_result *res;
  char err[256];
} outcome;

static void on_done(cleave_run_req *req, int status, cleave_result *res) {
  outcome *o = cleave_run_req_user(req);
  o->done++;
  o->status = status;
  o->res = res;
  snprintf(o->err, sizeof o->err, "%s", cleave_run_req_error(req));
}

static int count_done(const outcome *o) {
  int n = 0;
  for (int i = 0; i < N; i++)
    n += o[i].done;
  return n;
}

static void run_until(fixture *f, const outcome *o, int want, int ms) {
  double end = cl_now_ms() + ms;
  uv_timer_t tick; /* a bounded wait even when nothing else would wake the loop */
  uv_timer_init(&f->loop, &tick);
  uv_timer_start(&tick, kit_tick, 5, 5);
  while (count_done(o) < want && cl_now_ms() < end)
    uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

typedef enum fault { F_KILL, F_CUT, F_BUSY, F_STALL } fault;
static const char *const fault_names[] = {"SIGKILL", "link cut", "503", "stall"};

static void run_fault(fixture *f, fault kind) {
  /* the gateway publishes a profile from a file: it need not measure itself */
  char config[600];
  snprintf(config, sizeof config, "profile = %s/partitioner/profiles/edge-a10.json\n%s", CLEAVE_SOURCE_DIR,
           kind == F_BUSY ? "queue_length = 0\nmax_concurrency = 1\nbatch_window_ms = 0\n" : "");
  pk_stack st;
  assert_int_equal(pk_stack_start(&st, CLEAVE_BIN_DIR, f->pki->cert, f->pki->key, config, NULL, NULL), 0);
  cleave_edge_options *eo;
  cleave_edge *e;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", st.link_port);
  assert_int_equal(cleave_edge_options_new(&eo), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(eo, f->pki->ca), 0);
  assert_int_equal(cleave_edge_new(f->ctx, url, eo, &e), 0);
  cleave_edge_options_free(eo);
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "p2o.DynamicDimension.0", 1), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "p2o.DynamicDimension.1", 48), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "p2o.DynamicDimension.2", 192), 0);
  const char *devs[1] = {"cpu"};
  assert_int_equal(cleave_session_options_set_devices(o, devs, 1), 0);
  assert_int_equal(cleave_session_options_set_profile(o, "cpu", f->cpu), 0);
  assert_int_equal(cleave_session_options_add_edge(o, e, f->edge), 0);
  assert_int_equal(cleave_session_options_set_max_in_flight(o, 2 * N), 0);
  if (kind == F_STALL) assert_int_equal(cleave_session_options_set_deadline_ms(o, 500), 0);
  cleave_session *s;
  int rc = cleave_session_new(f->ctx, f->m, o, &s);
  if (rc) print_error("session: %s\n", cleave_ctx_last_error(f->ctx));
  assert_int_equal(rc, 0);
  cleave_session_options_free(o);
  /* everything on the edge (the input too): every run depends on it */
  int n = s->hybrid->model->graph.n_nodes;
  int *a = malloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++)
    a[i] = 1;
  assert_int_equal(cl_hybrid_force(s->hybrid, a), 0);
  free(a);
  /* one run first, so that the gateway has the model and the connection is up */
  outcome warm[N];
  memset(warm, 0, sizeof warm);
  assert_int_equal(cleave_run(s, &f->in, 1, on_done, &warm[0], NULL), 0);
  for (int i = 1; i < N; i++)
    warm[i].done = 1;
  run_until(f, warm, N, 60000);
  assert_int_equal(warm[0].done, 1);
  assert_int_equal(warm[0].status, 0);
  cleave_result_free(warm[0].res);
  outcome out[N];
  memset(out, 0, sizeof out);
  for (int i = 0; i < N; i++)
    assert_int_equal(cleave_run(s, &f->in, 1, on_done, &out[i], NULL), 0);
  if (kind != F_BUSY) {
    run_until(f, out, 5, 60000);
    char reply[256];
    int in_flight = N - count_done(out);
    if (kind == F_KILL) pk_signal(&st.gw, SIGKILL);
    if (kind == F_STALL) {
      pk_signal(&st.gw, SIGSTOP);
      st.stopped = true;
    }
    if (kind == F_CUT) assert_int_equal(pk_control(st.ctl_port, "cut", reply, sizeof reply, 5000), 0);
    print_message("%s with %d runs in flight\n", fault_names[kind], in_flight);
    assert_true(in_flight >= N / 2);
  }
  run_until(f, out, N, 120000);
  int total = count_done(out), fell = 0, edge = 0, hedged = 0;
  assert_int_equal(total, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(out[i].done, 1);
    if (out[i].status) print_error("run %d: %s: %s\n", i, cleave_err_name(out[i].status), out[i].err);
    assert_int_equal(out[i].status, 0);
    const cleave_tensor *x = cleave_result_output(f->ref, 0), *y = cleave_result_output(out[i].res, 0);
    assert_int_equal(x->nbytes, y->nbytes);
    for (size_t k = 0; k < x->nbytes / sizeof(float); k++)
      assert_true(fabs((double)((float *)x->data)[k] - ((float *)y->data)[k]) <= TOL);
    const cleave_placement *p = cleave_result_placement(out[i].res);
    fell += p->fallbacks > 0;
    hedged += p->hedges > 0;
    edge += p->segments[0].on_edge;
    cleave_result_free(out[i].res);
  }
  print_message("%s: %d runs, %d answered by the edge, %d fell back, %d hedged, all correct, none lost or twice\n",
                fault_names[kind], N, edge, fell, hedged);
  assert_true(fell + hedged >= 1);
  cleave_session_free(s);
  int closed = 0;
  cleave_edge_close(e, kit_done_flag, &closed);
  kit_run_until(&f->loop, &closed, 1, 10000);
  assert_int_equal(closed, 1);
  pk_stack_stop(&st);
}

static void test_gateway_killed(void **state) { run_fault(*state, F_KILL); }
static void test_link_cut(void **state) { run_fault(*state, F_CUT); }
static void test_gateway_busy(void **state) { run_fault(*state, F_BUSY); }
static void test_gateway_stalls(void **state) { run_fault(*state, F_STALL); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gateway_killed),
      cmocka_unit_test(test_link_cut),
      cmocka_unit_test(test_gateway_busy),
      cmocka_unit_test(test_gateway_stalls),
  };
  if (!MODELS) {
    print_message("CLEAVE_MODELS is not set: skipped\n");
    return 77;
  }
  return cmocka_run_group_tests(tests, setup, teardown);
}
