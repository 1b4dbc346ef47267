/* tests/remote: the public edge API against a real cleave-gateway (in this process, on its own thread and loop,
 * on 127.0.0.1 with certificates made here): PP-OCR cls whole through the client against a local run, the same
 * cut in two (the first half local, the second on the gateway, which gets the model by upload), and the errors a
 * caller sees: unknown model, bad token, bad input, a cancel, a timeout, a certificate from an untrusted CA; what
 * the engine asks beyond that (remote/edge_impl.h): the gateway's profile by cl_edge_get, a bandwidth probe, the
 * gateway's Server-Timing on results; and an edge on a context without a loop, driven through cl_ctx_loop().
 *
 * Every wait is bounded and fails the test when its time is up, and teardown closes what a failed test left open
 * and stops the gateway thread (or gives up on it after 10 s), so a failure ends the program in seconds. Nothing
 * needs name resolution: URLs name 127.0.0.1, which the test certificate's SAN holds. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cleave/edge.h"
#include "core/ir/result.h"
#include "core/ir/tensor.h"
#include "h2_client_testkit.h"
#include "partitioner/profile.h"
#include "remote/edge_impl.h"
#include "remote/gateway.h"

#define CLS "ch_ppocr_mobile_v2.0_cls_infer.onnx"
#define MID "p2o.GlobalAveragePool.19"
#define OUT "softmax_0.tmp_0"
#define TOKEN "edge-test-token"
#define HOST "127.0.0.1" /* never a name: the test must not depend on resolution */
#define EDGE_PROFILE CLEAVE_SOURCE_DIR "/partitioner/profiles/edge-a10.json"
#define MAX_EDGES 8
#define MAX_OUTCOMES 8

typedef struct gateway_thread {
  uv_loop_t loop;
  cleave_ctx *ctx;
  cl_gateway *gw;
  uv_async_t stop;
  uv_thread_t th;
  bool started;
  atomic_bool stopped; /* its loop has returned */
  int port;
} gateway_thread;

/* One request's outcome. Outcomes live in the fixture, not on a test's stack: a callback that runs in teardown,
 * after a failed test unwound its stack, must still write somewhere valid. */
typedef struct outcome {
  int done, status;
  char error[512];
  cleave_result *r;
  cleave_ctx *ctx;
  int http;   /* cl_edge_get */
  char *body; /* cl_edge_get, a copy */
  double ms, recv_ms; /* cl_edge_probe */
} outcome;

typedef struct fixture {
  kit_pki *pki;
  char models[128], repo[160];
  gateway_thread g;
  uv_loop_t loop;
  cleave_ctx *ctx;
  cleave_model *cls;
  float *x;
  cleave_tensor in;
  cleave_result *local;
  /* what a test opened, closed by teardown when the test failed before closing it */
  cleave_edge *edges[MAX_EDGES];
  cleave_ctx *edge_ctx[MAX_EDGES];
  outcome out[MAX_OUTCOMES];
  int n_out;
  cleave_ctx *loopless; /* a context made without a loop */
} fixture;

static void on_stop(uv_async_t *a) {
  gateway_thread *g = a->data;
  cl_gateway_shutdown(g->gw, NULL, NULL);
  uv_close((uv_handle_t *)&g->stop, NULL);
}

static void gateway_main(void *arg) {
  gateway_thread *g = arg;
  uv_run(&g->loop, UV_RUN_DEFAULT);
  atomic_store(&g->stopped, true);
}

/* Stops the gateway thread and joins it; gives up after 10 s (the thread then dies with the process). */
static int stop_gateway(gateway_thread *g) {
  if (!g->started) return 0;
  g->started = false;
  uv_async_send(&g->stop);
  double end = cl_now_ms() + 10000;
  while (!atomic_load(&g->stopped) && cl_now_ms() < end)
    usleep(1000);
  if (!atomic_load(&g->stopped)) {
    print_error("the gateway thread did not stop within 10 s; leaving it\n");
    return -1;
  }
  uv_thread_join(&g->th);
  if (uv_loop_close(&g->loop)) {
    print_error("the gateway's loop still has handles\n");
    return -1;
  }
  return 0;
}

/* Runs loop until *count reaches want; fails the test when ms pass first. */
static void run_until(uv_loop_t *loop, const int *count, int want, int ms, const char *what) {
  kit_run_until(loop, count, want, ms);
  if (*count < want) fail_msg("timed out after %d ms waiting for %s", ms, what);
}

static int start_gateway(fixture *f) {
  gateway_thread *g = &f->g;
  cl_gateway_config cfg;
  cl_gateway_config_defaults(&cfg);
  cfg.port = 0;
  snprintf(cfg.cert, sizeof cfg.cert, "%s", f->pki->cert);
  snprintf(cfg.key, sizeof cfg.key, "%s", f->pki->key);
  snprintf(cfg.models, sizeof cfg.models, "%s", f->repo);
  snprintf(cfg.tokens[0], sizeof cfg.tokens[0], TOKEN);
  snprintf(cfg.profile, sizeof cfg.profile, "%s", EDGE_PROFILE); /* measuring is the shell test's */
  cfg.n_tokens = 1;
  cfg.threads = 1;
  if (uv_loop_init(&g->loop) || cleave_ctx_new(&g->ctx, &g->loop, NULL) ||
      cl_gateway_new(g->ctx, &g->loop, &cfg, &g->gw)) {
    print_error("gateway: %s\n", g->ctx ? cleave_ctx_last_error(g->ctx) : "no context");
    return -1;
  }
  g->port = cl_gateway_port(g->gw);
  uv_async_init(&g->loop, &g->stop, on_stop);
  g->stop.data = g;
  if (uv_thread_create(&g->th, gateway_main, g)) return -1;
  g->started = true;
  return 0;
}

static int setup(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/" CLS, getenv("CLEAVE_MODELS"));
  fixture *f = calloc(1, sizeof *f);
  *state = f;
  if (!(f->pki = kit_pki_new())) return -1;
  /* an empty repository: the gateway gets cls by upload */
  snprintf(f->repo, sizeof f->repo, "%s/models", f->pki->dir);
  if (mkdir(f->repo, 0755) || start_gateway(f)) return -1;
  if (uv_loop_init(&f->loop) || cleave_ctx_new(&f->ctx, &f->loop, NULL) || cleave_model_load(f->ctx, path, &f->cls))
    return -1;
  f->in = (cleave_tensor){.name = "x", .dtype = CLEAVE_DTYPE_FLOAT32, .ndim = 4, .dims = {1, 3, 48, 192}};
  int64_t n = cleave_tensor_numel(&f->in);
  f->x = malloc(sizeof(float) * (size_t)n);
  cl_fill_random_f32(f->x, n, 3);
  f->in.data = f->x;
  f->in.nbytes = sizeof(float) * (size_t)n;
  cleave_session *s;
  if (cleave_session_new(f->ctx, f->cls, NULL, &s)) return -1;
  int rc = cleave_run_sync(s, &f->in, 1, &f->local);
  cleave_session_free(s);
  return rc;
}

static void rm_tree(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) print_message("could not remove %s\n", dir);
}

static void close_cb(uv_handle_t *h) { (void)h; }

static void close_any(uv_handle_t *h, void *arg) {
  (*(int *)arg)++;
  if (!uv_is_closing(h)) uv_close(h, close_cb);
}

/* Runs loop until nothing is left on it (5 s at most), then closes what still is, so that it can close. */
static void drain_loop(uv_loop_t *loop, const char *what) {
  double end = cl_now_ms() + 5000;
  while (uv_run(loop, UV_RUN_NOWAIT) && cl_now_ms() < end)
    usleep(1000);
  int left = 0;
  uv_walk(loop, close_any, &left);
  if (left) print_error("%d handles left on %s\n", left, what);
  for (int i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT); i++)
    ;
}

static void free_outcomes(fixture *f) {
  for (int i = 0; i < MAX_OUTCOMES; i++) {
    cleave_result_free(f->out[i].r);
    free(f->out[i].body);
    f->out[i] = (outcome){0};
  }
  f->n_out = 0;
}

/* After each test: the edges it left open are closed (their requests canceled) and the context it made without a
 * loop freed, each wait bounded, so that a failed test leaves nothing behind. */
static int test_teardown(void **state) {
  fixture *f = *state;
  for (int i = 0; i < MAX_EDGES; i++)
    if (f->edges[i]) {
      int closed = 0;
      cleave_edge_close(f->edges[i], kit_done_flag, &closed);
      kit_run_until(cl_ctx_loop(f->edge_ctx[i]), &closed, 1, 5000);
      if (!closed) print_error("an edge did not close within 5 s\n");
      f->edges[i] = NULL;
    }
  free_outcomes(f); /* their results before the contexts they belong to */
  if (f->loopless) {
    drain_loop(cl_ctx_loop(f->loopless), "the loopless context's loop");
    cleave_ctx_free(f->loopless);
    f->loopless = NULL;
  }
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  test_teardown(state);
  int rc = stop_gateway(&f->g);
  if (!rc) cleave_ctx_free(f->g.ctx);
  cleave_result_free(f->local);
  cleave_model_free(f->cls);
  if (f->ctx) {
    drain_loop(&f->loop, "the client's loop");
    if (uv_loop_close(&f->loop)) rc = -1;
  }
  cleave_ctx_free(f->ctx);
  free(f->x);
  if (f->pki) {
    rm_tree(f->repo);
    kit_pki_free(f->pki);
  }
  free(f);
  return rc;
}

/* ---- one request's outcome ---- */

static outcome *new_outcome(fixture *f, cleave_ctx *ctx) {
  if (f->n_out == MAX_OUTCOMES) fail_msg("more than %d outcomes in one test", MAX_OUTCOMES);
  outcome *o = &f->out[f->n_out++];
  *o = (outcome){.ctx = ctx};
  return o;
}

static void on_result(void *user, int status, cleave_result *r) {
  outcome *o = user;
  o->done++;
  o->status = status;
  o->r = r;
  if (status) snprintf(o->error, sizeof o->error, "%s", cleave_ctx_last_error(o->ctx));
}

static void on_get(void *user, int status, int http, const char *body, size_t len) {
  outcome *o = user;
  o->done++;
  o->status = status;
  o->http = http;
  if (status) snprintf(o->error, sizeof o->error, "%s", cleave_ctx_last_error(o->ctx));
  if (body && (o->body = malloc(len + 1))) {
    memcpy(o->body, body, len);
    o->body[len] = 0;
  }
}

static void on_probe(void *user, int status, double ms, double recv_ms) {
  outcome *o = user;
  o->done++;
  o->status = status;
  o->ms = ms;
  o->recv_ms = recv_ms;
  if (status) snprintf(o->error, sizeof o->error, "%s", cleave_ctx_last_error(o->ctx));
}

/* An edge on ctx (the fixture's when NULL), registered for teardown. */
static cleave_edge *edge_on(fixture *f, cleave_ctx *ctx, const char *ca, const char *token) {
  char url[128];
  snprintf(url, sizeof url, "https://" HOST ":%d", f->g.port);
  cleave_edge_options *o;
  assert_int_equal(cleave_edge_options_new(&o), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(o, ca), 0);
  if (token) assert_int_equal(cleave_edge_options_set_token(o, token), 0);
  assert_int_equal(cleave_edge_options_set_probes(o, 0, 200), 0);
  cleave_edge *e;
  int rc = cleave_edge_new(ctx ? ctx : f->ctx, url, o, &e);
  cleave_edge_options_free(o);
  if (rc) fail_msg("cleave_edge_new: %s", cleave_ctx_last_error(ctx ? ctx : f->ctx));
  for (int i = 0; i < MAX_EDGES; i++)
    if (!f->edges[i]) {
      f->edges[i] = e;
      f->edge_ctx[i] = ctx ? ctx : f->ctx;
      return e;
    }
  fail_msg("more than %d edges open", MAX_EDGES);
  return NULL;
}

static cleave_edge *edge(fixture *f, const char *ca, const char *token) { return edge_on(f, NULL, ca, token); }

static void close_edge_on(fixture *f, uv_loop_t *loop, cleave_edge *e) {
  for (int i = 0; i < MAX_EDGES; i++)
    if (f->edges[i] == e) f->edges[i] = NULL;
  int closed = 0;
  cleave_edge_close(e, kit_done_flag, &closed);
  run_until(loop, &closed, 1, 5000, "the edge to close");
}

static void close_edge(fixture *f, cleave_edge *e) { close_edge_on(f, &f->loop, e); }

static void assert_same(const cleave_tensor *a, const cleave_tensor *b, double tol) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->nbytes, b->nbytes);
  assert_int_equal(a->ndim, b->ndim);
  const float *x = a->data, *y = b->data;
  for (size_t i = 0; i < a->nbytes / 4; i++)
    assert_float_equal(x[i], y[i], tol);
}

/* The gateway lacks cls: the first cut request makes the client upload it (by sha256), then the answer comes. The
 * second half of the model runs on the gateway, fed the intermediate tensor computed here. */
static void test_partial_offload_with_upload(void **state) {
  fixture *f = *state;
  cleave_session_options *so;
  const char *const mid[] = {MID}, *const out[] = {OUT};
  assert_int_equal(cleave_session_options_new(&so), 0);
  assert_int_equal(cleave_session_options_set_outputs(so, mid, 1), 0);
  cleave_session *prefix;
  assert_int_equal(cleave_session_new(f->ctx, f->cls, so, &prefix), 0);
  cleave_session_options_free(so);
  cleave_result *half = NULL;
  assert_int_equal(cleave_run_sync(prefix, &f->in, 1, &half), 0);
  const cleave_tensor *m = cleave_result_find(half, MID);
  assert_non_null(m);
  assert_int_equal(m->dims[1], 200);

  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cleave_edge_infer_cut(e, f->cls, "cls", m, 1, out, 1, -1, on_result, o, NULL), 0);
  run_until(&f->loop, &o->done, 1, 60000, "the partial offload");
  if (o->status) fail_msg("partial offload: %s", o->error);
  assert_same(cleave_result_find(o->r, OUT), cleave_result_find(f->local, OUT), 1e-5);
  char stored[512];
  snprintf(stored, sizeof stored, "%s/cls/%s/model.onnx", f->repo, cleave_model_sha256(f->cls));
  assert_int_equal(access(stored, R_OK), 0);

  /* now the gateway has it: the whole model by name and version through the same connection pool */
  o = new_outcome(f, f->ctx);
  assert_int_equal(
      cleave_edge_infer(e, "cls", cleave_model_sha256(f->cls), &f->in, 1, NULL, 0, -1, on_result, o, NULL), 0);
  run_until(&f->loop, &o->done, 1, 60000, "the whole model");
  if (o->status) fail_msg("whole model: %s", o->error);
  assert_same(cleave_result_find(o->r, OUT), cleave_result_find(f->local, OUT), 1e-5);

  cleave_edge_stats st;
  cleave_edge_get_stats(e, &st);
  assert_true(st.requests >= 3); /* infer, upload, infer again, infer */
  assert_int_equal(st.failures, 0);
  assert_true(st.bytes_up > 500000); /* the model went up */
  assert_true(st.load_queue >= 0);   /* the gateway's load hint was seen */
  print_message("edge stats: rtt %.3f ms, up %.1f Mbit/s, %llu requests, %llu bytes up\n", st.rtt_ms, st.up_mbps,
                (unsigned long long)st.requests, (unsigned long long)st.bytes_up);
  close_edge(f, e);
  cleave_result_free(half);
  cleave_session_free(prefix);
}

static void expect_error(fixture *f, cleave_edge *e, const char *model, const cleave_tensor *in, int timeout_ms,
                         int want, const char *says) {
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cleave_edge_infer(e, model, NULL, in, 1, NULL, 0, timeout_ms, on_result, o, NULL), 0);
  run_until(&f->loop, &o->done, 1, 30000, model);
  print_message("%s -> %s: %s\n", model, cleave_err_name(o->status), o->error);
  assert_int_equal(o->status, want);
  assert_null(o->r);
  assert_non_null(strstr(o->error, says));
}

static void test_errors(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  expect_error(f, e, "no-such-model", &f->in, -1, CLEAVE_ENOTFOUND, "not on this gateway");
  cleave_tensor wrong = f->in;
  wrong.dtype = CLEAVE_DTYPE_INT32;
  expect_error(f, e, "cls", &wrong, -1, CLEAVE_EINVAL, "dtype");
  /* a batch of 64 takes far longer than 1 ms */
  cleave_tensor big = f->in;
  big.dims[0] = 64;
  big.nbytes *= 64;
  float *data = calloc(1, big.nbytes);
  big.data = data;
  expect_error(f, e, "cls", &big, 1, CLEAVE_ETIMEDOUT, "");
  /* cancel right away */
  outcome *o = new_outcome(f, f->ctx);
  cleave_edge_req *req;
  assert_int_equal(cleave_edge_infer(e, "cls", NULL, &big, 1, NULL, 0, -1, on_result, o, &req), 0);
  free(data);
  cleave_edge_cancel(req);
  run_until(&f->loop, &o->done, 1, 30000, "the canceled request");
  assert_int_equal(o->status, CLEAVE_ECANCELED);
  close_edge(f, e);

  e = edge(f, f->pki->ca, "not-the-token");
  expect_error(f, e, "cls", &f->in, -1, CLEAVE_EAUTH, "bearer token");
  close_edge(f, e);
  e = edge(f, f->pki->other_ca, TOKEN);
  expect_error(f, e, "cls", &f->in, -1, CLEAVE_ETLS, "");
  close_edge(f, e);
}

/* GET with the edge's token: the gateway's profile (the file it was given, published as an edge) and its load; an
 * HTTP error status is an answer, not an error; a path that is no path is refused before sending. */
static void test_get_profile(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  char want_url[64];
  snprintf(want_url, sizeof want_url, "https://" HOST ":%d", f->g.port);
  assert_string_equal(cl_edge_url(e), want_url);
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_get(e, "/v2/cleave/profile", -1, on_get, o), 0);
  assert_int_equal(o->done, 0); /* never from inside the call */
  run_until(&f->loop, &o->done, 1, 10000, "GET /v2/cleave/profile");
  if (o->status) fail_msg("GET /v2/cleave/profile: %s", o->error);
  assert_int_equal(o->http, 200);
  assert_non_null(o->body);
  json_error_t je;
  json_t *root = json_loads(o->body, 0, &je), *load = json_object_get(root, "load");
  if (!root) fail_msg("not JSON (%s): %s", je.text, o->body);
  char *text = json_dumps(json_object_get(root, "profile"), JSON_COMPACT);
  assert_non_null(text);
  cl_profile p;
  if (cl_profile_parse(f->ctx, text, strlen(text), "the published profile", &p))
    fail_msg("%s", cleave_ctx_last_error(f->ctx));
  free(text);
  assert_string_equal(p.name, "edge-a10");
  assert_int_equal(p.kind, CL_DEV_EDGE);
  assert_float_equal(p.gflops[CL_OPC_CONV], 6000, 1e-9);
  assert_int_equal(json_integer_value(json_object_get(load, "queue")), 0);
  assert_true(json_is_integer(json_object_get(load, "running")));
  assert_true(json_is_number(json_object_get(load, "wait_ms")));
  assert_int_equal(json_integer_value(json_object_get(load, "executors")), 2);
  json_decref(root);

  o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_get(e, "/v2/cleave/nothing-here", 5000, on_get, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "GET of a missing path");
  assert_int_equal(o->status, 0);
  assert_int_equal(o->http, 404);
  assert_non_null(strstr(o->body, "no endpoint"));

  assert_int_equal(cl_edge_get(e, "v2/no-slash", -1, on_get, o), CLEAVE_EINVAL);
  assert_int_equal(cl_edge_get(e, "/a b", -1, on_get, o), CLEAVE_EINVAL);
  assert_int_equal(cl_edge_get(e, "/v2", -1, NULL, o), CLEAVE_EINVAL);
  close_edge(f, e);

  /* without the token: 401, still an answer */
  e = edge(f, f->pki->ca, NULL);
  o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_get(e, "/v2/cleave/profile", -1, on_get, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "GET without a token");
  assert_int_equal(o->status, 0);
  assert_int_equal(o->http, 401);
  close_edge(f, e);
}

/* The gateway's received-bytes counter, read from /metrics. */
static double received_bytes(fixture *f, cleave_edge *e) {
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_get(e, "/metrics", -1, on_get, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "GET /metrics");
  if (o->status || o->http != 200) fail_msg("GET /metrics: %d %s", o->http, o->error);
  const char *k = "\ncleave_gateway_received_bytes_total ", *at = strstr(o->body, k);
  assert_non_null(at);
  return atof(at + strlen(k));
}

/* A probe of 256 KiB is answered and its bytes are counted at the gateway (and in the edge's stats); 0 bytes is a
 * probe too; more than the gateway's 4 MiB is refused before sending. */
static void test_probe(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  double before = received_bytes(f, e);
  cleave_edge_stats st0, st1;
  cleave_edge_get_stats(e, &st0);
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_probe(e, 256 << 10, 0, -1, on_probe, o), 0);
  assert_int_equal(o->done, 0);
  run_until(&f->loop, &o->done, 1, 10000, "the 256 KiB probe");
  if (o->status) fail_msg("probe: %s", o->error);
  assert_true(o->ms > 0 && o->ms < 10000);
  assert_true(o->recv_ms >= 0 && o->recv_ms <= o->ms); /* the gateway's Server-Timing recv */
  double after = received_bytes(f, e);
  assert_float_equal(after - before, 262144.0, 0.5);
  cleave_edge_get_stats(e, &st1);
  assert_true(st1.bytes_up - st0.bytes_up >= 256 << 10);
  print_message("probe of 256 KiB: %.3f ms\n", o->ms);

  /* the downlink: the gateway answers the bytes asked for */
  o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_probe(e, 0, 256 << 10, -1, on_probe, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "the 256 KiB downlink probe");
  if (o->status) fail_msg("downlink probe: %s", o->error);
  cleave_edge_stats st2;
  cleave_edge_get_stats(e, &st2);
  assert_true(st2.bytes_down - st1.bytes_down >= 256 << 10);

  o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_probe(e, 0, 0, -1, on_probe, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "the empty probe");
  assert_int_equal(o->status, 0);
  assert_int_equal(cl_edge_probe(e, ((size_t)4 << 20) + 1, 0, -1, on_probe, o), CLEAVE_EINVAL);
  assert_int_equal(cl_edge_probe(e, 0, ((size_t)4 << 20) + 1, -1, on_probe, o), CLEAVE_EINVAL);
  assert_int_equal(cl_edge_probe(e, 1, 0, -1, NULL, o), CLEAVE_EINVAL);
  close_edge(f, e);

  /* a probe the gateway refuses is an error with its message */
  e = edge(f, f->pki->ca, "not-the-token");
  o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_probe(e, 1024, 0, -1, on_probe, o), 0);
  run_until(&f->loop, &o->done, 1, 10000, "the refused probe");
  assert_int_equal(o->status, CLEAVE_EAUTH);
  assert_non_null(strstr(o->error, "bearer token"));
  close_edge(f, e);
}

/* The link estimate is the edge's: a probe measures both ways (64 KiB each while unknown), one at a time and not
 * within the gap asked; samples follow the documented weights (a probe far from the estimate replaces it, a
 * request given up lowers it at once, one that is no slower leaves it); stats report it. Loopback is fast: the
 * downlink's share of a probe may be under the 0.5 ms a sample needs. */
static void test_link_estimate(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  double up, down;
  cl_edge_link_rates(e, &up, &down);
  assert_true(up == 0 && down == 0);
  cleave_edge_stats st, st0;
  cleave_edge_get_stats(e, &st0);
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cl_edge_link_probe(e, 0, on_probe, o), 0);
  assert_int_equal(cl_edge_link_probe(e, 0, on_probe, o), CLEAVE_EBUSY); /* one at a time */
  run_until(&f->loop, &o->done, 1, 10000, "the first link probe");
  if (o->status) fail_msg("link probe: %s", o->error);
  cleave_edge_get_stats(e, &st);
  assert_true(st.bytes_up - st0.bytes_up >= 64 << 10);
  assert_true(st.bytes_down - st0.bytes_down >= 64 << 10);
  assert_true(o->recv_ms >= 0 && o->recv_ms <= o->ms);
  cl_edge_link_rates(e, &up, &down);
  print_message("probe: %.3f ms, upload %.3f, round trip %.3f: %.1f Mbit/s up, %.1f down\n", o->ms, o->recv_ms,
                st.rtt_min_ms, up, down);
  if (o->recv_ms > 0.5) assert_float_equal(up, (64 << 10) * 8 / (o->recv_ms * 1e3), 1e-6);
  if (o->ms - o->recv_ms - st.rtt_min_ms > 0.5) assert_true(down > 0);
  assert_int_equal(cl_edge_link_probe(e, 60000, on_probe, o), CLEAVE_EBUSY); /* within the gap */
  /* without a callback, the estimate still takes it */
  cleave_edge_get_stats(e, &st0);
  assert_int_equal(cl_edge_link_probe(e, 0, NULL, NULL), 0);
  assert_int_equal(cl_edge_link_probe(e, 0, on_probe, o), CLEAVE_EBUSY);
  double t_end = cl_now_ms() + 10000;
  while (st.bytes_down - st0.bytes_down < 64 << 10) {
    if (cl_now_ms() > t_end) fail_msg("the probe without a callback did not end within 10 s");
    uv_run(&f->loop, UV_RUN_NOWAIT);
    cleave_edge_get_stats(e, &st);
  }
  cl_edge_link_rates(e, &up, &down);
  cleave_edge_get_stats(e, &st);
  if (up > 0) assert_float_equal(st.up_mbps, up, 1e-9); /* the end-to-end estimate, where it has one */
  if (down > 0) assert_float_equal(st.down_mbps, down, 1e-9);

  /* samples: 1 MB up in 1000 ms beyond the round trip is 8 Mbit/s */
  double rtt = st.rtt_min_ms;
  cl_edge_link_sample(e, 1e6, 0, 1000 + rtt, -1, CL_LINK_PROBE); /* far from a loopback's rate: replaces it */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 8.0, 0.01);
  cl_edge_link_sample(e, 1e6, 0, 500 + rtt, -1, CL_LINK_RUN); /* 16 Mbit/s at weight 0.3 */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 0.7 * 8 + 0.3 * 16, 0.01);
  cl_edge_link_sample(e, 1e6, 0, 100 + rtt, -1, CL_LINK_AT_MOST); /* faster than the estimate: says nothing */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 10.4, 0.01);
  cl_edge_link_sample(e, 1e6, 0, 4000 + rtt, -1, CL_LINK_AT_MOST); /* given up after 4 s: 2 Mbit/s at most, at once */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 2.0, 0.01);
  cl_edge_link_sample(e, 1000, 0, 10, -1, CL_LINK_RUN); /* under 16 KiB: not a sample */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 2.0, 0.01);
  cl_edge_link_sample(e, 0, 1e6, 250 + rtt, -1, CL_LINK_RUN); /* a download: the downlink's */
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 2.0, 0.01);
  assert_true(down > 0);
  /* with the upload timed by the edge, both ways: 1 MB up in 400 ms (20 Mbit/s, over twice 8: replaces it) and
   * 2 MB down in the 250 ms left (64 Mbit/s) */
  cl_edge_link_sample(e, 1e6, 0, 1000 + rtt, -1, CL_LINK_PROBE);
  cl_edge_link_sample(e, 0, 2e6, 2000 + rtt, -1, CL_LINK_PROBE);
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 8.0, 0.01);
  assert_float_equal(down, 8.0, 0.01);
  cl_edge_link_sample(e, 1e6, 2e6, 650 + rtt, 400, CL_LINK_PROBE);
  cl_edge_link_rates(e, &up, &down);
  assert_float_equal(up, 20.0, 0.01);
  assert_float_equal(down, 64.0, 0.01);
  close_edge(f, e);
}

/* The gateway's Server-Timing reaches the result: its queue wait and its run, within the request's time. */
static void test_server_timing(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, f->pki->ca, TOKEN);
  outcome *o = new_outcome(f, f->ctx);
  assert_int_equal(cleave_edge_infer_cut(e, f->cls, "cls", &f->in, 1, NULL, 0, -1, on_result, o, NULL), 0);
  run_until(&f->loop, &o->done, 1, 60000, "the infer");
  if (o->status) fail_msg("infer: %s", o->error);
  const cleave_result *r = o->r;
  print_message("edge queue %.3f ms, compute %.3f ms, request %.3f ms\n", r->edge_queue_ms, r->edge_compute_ms,
                r->ms);
  assert_true(r->edge_queue_ms >= 0);
  assert_true(r->edge_compute_ms > 0);
  assert_true(r->edge_recv_ms >= 0);
  assert_true(r->edge_recv_ms + r->edge_queue_ms + r->edge_compute_ms <= r->ms);
  close_edge(f, e);
}

/* An edge on a context made without a loop: it runs on the context's own loop, which turns only while driven (here
 * by hand, as the library's synchronous calls will). */
static void test_edge_without_loop(void **state) {
  fixture *f = *state;
  assert_int_equal(cleave_ctx_new(&f->loopless, NULL, NULL), 0);
  cleave_edge *e = edge_on(f, f->loopless, f->pki->ca, TOKEN);
  uv_loop_t *own = cl_ctx_loop(f->loopless);
  assert_non_null(own);
  assert_ptr_not_equal(own, &f->loop);
  outcome *o = new_outcome(f, f->loopless);
  assert_int_equal(cleave_edge_infer_cut(e, f->cls, "cls", &f->in, 1, NULL, 0, -1, on_result, o, NULL), 0);
  kit_sleep_loop(&f->loop, 50); /* the host's loop turning does nothing for it */
  assert_int_equal(o->done, 0);
  run_until(own, &o->done, 1, 60000, "the infer on the context's own loop");
  if (o->status) fail_msg("infer: %s", o->error);
  assert_same(cleave_result_find(o->r, OUT), cleave_result_find(f->local, OUT), 1e-5);
  outcome *g = new_outcome(f, f->loopless);
  assert_int_equal(cl_edge_get(e, "/v2/health/ready", -1, on_get, g), 0);
  run_until(own, &g->done, 1, 10000, "GET on the context's own loop");
  assert_int_equal(g->http, 200);
  close_edge_on(f, own, e);
  cleave_result_free(o->r); /* before the context it belongs to */
  o->r = NULL;
  assert_false(uv_loop_alive(own));
  cleave_ctx_free(f->loopless);
  f->loopless = NULL;
}

int main(void) {
  const char *dir = getenv("CLEAVE_MODELS");
  char path[512];
  snprintf(path, sizeof path, "%s/" CLS, dir ? dir : "");
  if (!dir || access(path, R_OK)) { /* make test always sets it; a bare run of the binary says what is missing */
    printf("test_edge: skipped: CLEAVE_MODELS is not set or lacks " CLS "\n");
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_partial_offload_with_upload, test_teardown),
      cmocka_unit_test_teardown(test_errors, test_teardown),
      cmocka_unit_test_teardown(test_get_profile, test_teardown),
      cmocka_unit_test_teardown(test_probe, test_teardown),
      cmocka_unit_test_teardown(test_link_estimate, test_teardown),
      cmocka_unit_test_teardown(test_server_timing, test_teardown),
      cmocka_unit_test_teardown(test_edge_without_loop, test_teardown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
