/* tests/remote: the public edge API against a real cleave-gateway (in this process, on its own thread and loop,
 * on 127.0.0.1 with certificates made here): PP-OCR cls whole through the client against a local run, the same
 * cut in two (the first half local, the second on the gateway, which gets the model by upload), and the errors a
 * caller sees: unknown model, bad token, bad input, a cancel, a timeout, a certificate from an untrusted CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cleave/edge.h"
#include "core/ir/tensor.h"
#include "h2_client_testkit.h"
#include "remote/gateway.h"

#define CLS "ch_ppocr_mobile_v2.0_cls_infer.onnx"
#define MID "p2o.GlobalAveragePool.19"
#define OUT "softmax_0.tmp_0"
#define TOKEN "edge-test-token"

typedef struct gateway_thread {
  uv_loop_t loop;
  cleave_ctx *ctx;
  cl_gateway *gw;
  uv_async_t stop;
  uv_thread_t th;
  int port;
} gateway_thread;

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
} fixture;

static void on_stop(uv_async_t *a) {
  gateway_thread *g = a->data;
  cl_gateway_shutdown(g->gw, NULL, NULL);
  uv_close((uv_handle_t *)&g->stop, NULL);
}

static void gateway_main(void *arg) {
  gateway_thread *g = arg;
  uv_run(&g->loop, UV_RUN_DEFAULT);
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
  return uv_thread_create(&g->th, gateway_main, g);
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

static int teardown(void **state) {
  fixture *f = *state;
  if (!f) return 0;
  if (f->g.gw) {
    uv_async_send(&f->g.stop);
    uv_thread_join(&f->g.th);
    assert_int_equal(uv_loop_close(&f->g.loop), 0);
  }
  cleave_ctx_free(f->g.ctx);
  cleave_result_free(f->local);
  cleave_model_free(f->cls);
  if (f->ctx) {
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
  }
  cleave_ctx_free(f->ctx);
  free(f->x);
  if (f->pki) {
    rm_tree(f->repo);
    kit_pki_free(f->pki);
  }
  free(f);
  return 0;
}

/* ---- one request's outcome ---- */

typedef struct outcome {
  int done, status;
  char error[512];
  cleave_result *r;
  cleave_ctx *ctx;
} outcome;

static void on_result(void *user, int status, cleave_result *r) {
  outcome *o = user;
  o->done++;
  o->status = status;
  o->r = r;
  if (status) snprintf(o->error, sizeof o->error, "%s", cleave_ctx_last_error(o->ctx));
}

static cleave_edge *edge(fixture *f, const char *url_host, const char *ca, const char *token) {
  char url[128];
  snprintf(url, sizeof url, "https://%s:%d", url_host, f->g.port);
  cleave_edge_options *o;
  assert_int_equal(cleave_edge_options_new(&o), 0);
  assert_int_equal(cleave_edge_options_set_ca_file(o, ca), 0);
  if (token) assert_int_equal(cleave_edge_options_set_token(o, token), 0);
  assert_int_equal(cleave_edge_options_set_probes(o, 0, 200), 0);
  cleave_edge *e;
  assert_int_equal(cleave_edge_new(f->ctx, url, o, &e), 0);
  cleave_edge_options_free(o);
  return e;
}

static void close_edge(fixture *f, cleave_edge *e) {
  int closed = 0;
  cleave_edge_close(e, kit_done_flag, &closed);
  kit_run_until(&f->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
}

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

  cleave_edge *e = edge(f, "localhost", f->pki->ca, TOKEN);
  outcome o = {.ctx = f->ctx};
  assert_int_equal(cleave_edge_infer_cut(e, f->cls, "cls", m, 1, out, 1, -1, on_result, &o, NULL), 0);
  kit_run_until(&f->loop, &o.done, 1, 60000);
  assert_int_equal(o.done, 1);
  if (o.status) fail_msg("partial offload: %s", o.error);
  assert_same(cleave_result_find(o.r, OUT), cleave_result_find(f->local, OUT), 1e-5);
  cleave_result_free(o.r);
  char stored[512];
  snprintf(stored, sizeof stored, "%s/cls/%s/model.onnx", f->repo, cleave_model_sha256(f->cls));
  assert_int_equal(access(stored, R_OK), 0);

  /* now the gateway has it: the whole model by name and version through the same connection pool */
  o = (outcome){.ctx = f->ctx};
  assert_int_equal(
      cleave_edge_infer(e, "cls", cleave_model_sha256(f->cls), &f->in, 1, NULL, 0, -1, on_result, &o, NULL), 0);
  kit_run_until(&f->loop, &o.done, 1, 60000);
  if (o.status) fail_msg("whole model: %s", o.error);
  assert_same(cleave_result_find(o.r, OUT), cleave_result_find(f->local, OUT), 1e-5);
  cleave_result_free(o.r);

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
  outcome o = {.ctx = f->ctx};
  assert_int_equal(cleave_edge_infer(e, model, NULL, in, 1, NULL, 0, timeout_ms, on_result, &o, NULL), 0);
  kit_run_until(&f->loop, &o.done, 1, 30000);
  assert_int_equal(o.done, 1);
  print_message("%s -> %s: %s\n", model, cleave_err_name(o.status), o.error);
  assert_int_equal(o.status, want);
  assert_null(o.r);
  assert_non_null(strstr(o.error, says));
}

static void test_errors(void **state) {
  fixture *f = *state;
  cleave_edge *e = edge(f, "localhost", f->pki->ca, TOKEN);
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
  outcome o = {.ctx = f->ctx};
  cleave_edge_req *req;
  assert_int_equal(cleave_edge_infer(e, "cls", NULL, &big, 1, NULL, 0, -1, on_result, &o, &req), 0);
  cleave_edge_cancel(req);
  kit_run_until(&f->loop, &o.done, 1, 30000);
  assert_int_equal(o.done, 1);
  assert_int_equal(o.status, CLEAVE_ECANCELED);
  free(data);
  close_edge(f, e);

  e = edge(f, "localhost", f->pki->ca, "not-the-token");
  expect_error(f, e, "cls", &f->in, -1, CLEAVE_EAUTH, "bearer token");
  close_edge(f, e);
  e = edge(f, "localhost", f->pki->other_ca, TOKEN);
  expect_error(f, e, "cls", &f->in, -1, CLEAVE_ETLS, "");
  close_edge(f, e);
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
      cmocka_unit_test(test_partial_offload_with_upload),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
