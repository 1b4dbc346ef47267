/* tests/core: adaptation. A hybrid session in AUTO, with nothing configured but its devices (the device is
 * measured, the gateway publishes its own profile), runs PP-OCR rec through the real gateway behind the link
 * emulator while the uplink goes from Wi-Fi-like (18.88 Mbit/s) to 3G-like (1.1 Mbit/s) and back: the work moves to
 * the device within a bounded number of runs, and back to the edge when the link recovers. The device is the
 * reference backend, about fifteen times slower than the gateway's cpu on this model, as a phone is against an edge
 * GPU. Every result equals the all-local one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cleave.h"
#include "core/ir/tensor.h"
#include "remote/edge_impl.h"
#include "h2_client_testkit.h"
#include "proc_kit.h"

#define MODELS getenv("CLEAVE_MODELS")
#define REC "ch_PP-OCRv4_rec_infer.onnx"
#define WIDTH 640
#define TOL 1e-4

typedef struct fixture {
  kit_pki *pki;
  char cache[128];
  uv_loop_t loop;
  cleave_ctx *ctx;
  cleave_model *m;
  float *x;
  cleave_tensor in;
  cleave_result *ref;
  pk_stack st;
  cleave_edge *edge;
  cleave_session *s;
} fixture;

/* What the session decides, on stderr: a failure here can be read back. */
static void on_log(void *user, cleave_log_level level, const char *msg) {
  (void)user;
  static const char *const names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "  [%s] %s\n", names[level], msg);
}

static int setup(void **state) {
  if (!MODELS) return -1;
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  signal(SIGPIPE, SIG_IGN);
  snprintf(f->cache, sizeof f->cache, "/tmp/cleave-adapt-cache-XXXXXX");
  if (!mkdtemp(f->cache)) return -1;
  setenv("CLEAVE_CACHE_DIR", f->cache, 1); /* the gateway, a child, measures into it too */
  if (!(f->pki = kit_pki_new())) return -1;
  cleave_options *opt;
  if (cleave_options_new(&opt)) return -1;
  cleave_options_set_log(opt, on_log, NULL, getenv("CLEAVE_TEST_DEBUG") ? CLEAVE_LOG_DEBUG : CLEAVE_LOG_INFO);
  int rc0 = uv_loop_init(&f->loop) || cleave_ctx_new(&f->ctx, &f->loop, opt);
  cleave_options_free(opt);
  if (rc0) return -1;
  cleave_policy_set_system_root(f->ctx, NULL); /* this machine's battery and network are not the emulated phone's */
  char path[512];
  snprintf(path, sizeof path, "%s/" REC, MODELS);
  if (cleave_model_load(f->ctx, path, &f->m)) return -1;
  f->in = (cleave_tensor){.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 3, 48, WIDTH}};
  int64_t n = cleave_tensor_numel(&f->in);
  f->x = malloc(sizeof(float) * (size_t)n);
  cl_fill_random_f32(f->x, n, 4);
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
  cleave_session_free(f->s);
  if (f->edge) {
    int closed = 0;
    cleave_edge_close(f->edge, kit_done_flag, &closed);
    kit_run_until(&f->loop, &closed, 1, 10000);
  }
  pk_stack_stop(&f->st);
  cleave_result_free(f->ref);
  cleave_model_free(f->m);
  if (f->ctx) {
    cleave_ctx_free(f->ctx);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
  }
  if (f->pki) kit_pki_free(f->pki);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->cache);
  if (f->cache[0] && system(cmd)) print_message("could not remove %s\n", f->cache);
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

/* One run; returns whether the edge computed part of it. */
static bool run_once(fixture *f, int i, const char *phase) {
  outcome o = {0};
  assert_int_equal(cleave_run(f->s, &f->in, 1, on_done, &o, NULL), 0);
  kit_run_until(&f->loop, &o.done, 1, 60000);
  assert_int_equal(o.done, 1);
  if (o.status) print_error("%s run %d: %s\n", phase, i, o.err);
  assert_int_equal(o.status, 0);
  const cleave_tensor *x = cleave_result_output(f->ref, 0), *y = cleave_result_output(o.res, 0);
  assert_int_equal(x->nbytes, y->nbytes);
  for (size_t k = 0; k < x->nbytes / sizeof(float); k++)
    assert_true(fabs((double)((float *)x->data)[k] - ((float *)y->data)[k]) <= TOL);
  const cleave_placement *p = cleave_result_placement(o.res);
  bool edge = false;
  for (int k = 0; k < p->n_segments; k++)
    edge |= p->segments[k].on_edge && !p->segments[k].fallback;
  print_message("%s run %2d: %-18s %7.1f ms (predicted %7.1f), %s%s\n", phase, i, p->plan, cleave_result_ms(o.res),
                p->predicted_ms, edge ? "edge" : "device", p->hedges ? ", hedged" : "");
  cleave_result_free(o.res);
  return edge;
}

/* Runs until `want` runs in a row do (edge) or do not (!edge) use the edge, at most max runs; the count. */
static int runs_until(fixture *f, bool edge, int want, int max, const char *phase) {
  int row = 0;
  for (int i = 1; i <= max; i++) {
    row = run_once(f, i, phase) == edge ? row + 1 : 0;
    if (row == want) return i;
  }
  return -1;
}

static void test_uplink_drops_and_recovers(void **state) {
  fixture *f = *state;
  const char *wifi[] = {"--preset", "wifi", NULL};
  assert_int_equal(pk_stack_start(&f->st, CLEAVE_BIN_DIR, f->pki->cert, f->pki->key, NULL, wifi, NULL), 0);
  cleave_edge_options *eo;
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", f->st.link_port);
  assert_int_equal(cleave_edge_options_new(&eo), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(eo, f->pki->ca), 0);
  assert_int_equal(cleave_edge_new(f->ctx, url, eo, &f->edge), 0);
  cleave_edge_options_free(eo);
  cleave_session_options *o;
  assert_int_equal(cleave_session_options_new(&o), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "p2o.DynamicDimension.0", 1), 0);
  assert_int_equal(cleave_session_options_set_dim(o, "p2o.DynamicDimension.1", WIDTH), 0);
  const char *devs[1] = {"ref"};
  assert_int_equal(cleave_session_options_set_devices(o, devs, 1), 0);
  assert_int_equal(cleave_session_options_add_edge(o, f->edge, NULL), 0);
  assert_int_equal(cleave_session_options_set_weights(o, 1, 0, 0), 0); /* latency alone */
  cleave_session_options_set_offload_inputs(o, 1);
  int rc = cleave_session_new(f->ctx, f->m, o, &f->s);
  if (rc) print_error("session: %s\n", cleave_ctx_last_error(f->ctx));
  assert_int_equal(rc, 0);
  cleave_session_options_free(o);
  char reply[512];
  /* Wi-Fi: once the gateway's profile is in, the plan uses the edge */
  int n1 = runs_until(f, true, 3, 30, "wifi");
  assert_true(n1 > 0);
  /* 3G: the first runs on the old plan show the link is slow, and the work comes back to the device */
  assert_int_equal(pk_control(f->st.ctl_port, "preset 3g", reply, sizeof reply, 5000), 0);
  int n2 = runs_until(f, false, 3, 12, "3g");
  assert_true(n2 > 0);
  /* Wi-Fi again: the probes see it, and the work goes back to the edge */
  assert_int_equal(pk_control(f->st.ctl_port, "preset wifi", reply, sizeof reply, 5000), 0);
  int n3 = runs_until(f, true, 3, 60, "wifi again");
  assert_true(n3 > 0);
  /* the edge's estimate of both ways, from the runs and the probes (the downlink's own probes included), is near
   * the emulated Wi-Fi's 18.88 Mbit/s up and 50 down */
  double up, down;
  cl_edge_link_rates(f->edge, &up, &down);
  print_message("the link as measured: %.2f Mbit/s up, %.2f down\n", up, down);
  assert_true(up > 18.88 / 2 && up < 18.88 * 2);
  assert_true(down > 50 / 3.0 && down < 50 * 2);
  print_message("Wi-Fi: on the edge from run %d (the gateway had the model and the link was measured); 3G: on the "
                "device from run %d; Wi-Fi again: on the edge from run %d\n",
                n1 - 2, n2 - 2, n3 - 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_uplink_drops_and_recovers)};
  if (!MODELS) {
    print_message("CLEAVE_MODELS is not set: skipped\n");
    return 77;
  }
  return cmocka_run_group_tests(tests, setup, teardown);
}
