/* tests/remote: the HTTP/2 client against a cl_h2_server on 127.0.0.1 (its own thread and loop), with
 * certificates the test makes: requests by name and by address, 1000 multiplexed requests on the pool, a 32 MiB
 * body up and down, bearer token and load hint, mTLS, health probing and PING, configuration errors. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "h2_client_testkit.h"
#include "test_alloc.h"

typedef struct env {
  kit_pki *pki;
  kit_server *srv;
  uv_loop_t loop;
  cleave_ctx *ctx;
  char url[64];
} env;

static int setup_group(void **state) {
  kit_pki *p = kit_pki_new();
  if (!p) return -1;
  signal(SIGPIPE, SIG_IGN); /* as in any libuv program: a write to a reset socket must not kill the process */
  *state = p;
  return 0;
}

static int teardown_group(void **state) {
  kit_pki_free(*state);
  return 0;
}

static env *env_new(kit_pki *p, const char *client_ca) {
  env *e = calloc(1, sizeof *e);
  e->pki = p;
  e->srv = kit_server_start(p, 0, NULL, NULL, client_ca);
  assert_true(e->srv->port > 0);
  assert_int_equal(uv_loop_init(&e->loop), 0);
  assert_int_equal(cleave_ctx_new(&e->ctx, &e->loop, NULL), 0);
  snprintf(e->url, sizeof e->url, "https://127.0.0.1:%d", e->srv->port);
  return e;
}

static cl_h2_client *client_new(env *e, cl_h2_client_config *cfg) {
  cl_h2_client_config def = {.url = e->url, .ca_file = e->pki->ca};
  if (!cfg) cfg = &def;
  cl_h2_client *c = NULL;
  int rc = cl_h2_client_new(e->ctx, &e->loop, cfg, &c);
  if (rc) fail_msg("cl_h2_client_new: %s", cleave_ctx_last_error(e->ctx));
  return c;
}

static void client_close(env *e, cl_h2_client *c) {
  int closed = 0;
  cl_h2_client_close(c, kit_done_flag, &closed);
  kit_run_until(&e->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
}

static void env_free(env *e) {
  kit_server_stop(e->srv);
  for (int i = 0; i < 10; i++)
    uv_run(&e->loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  cleave_ctx_free(e->ctx);
  free(e);
}

static void get(cl_h2_client *c, const char *path, kit_result *r) {
  struct cl_h2_client_request req = {.method = "GET", .path = path, .timeout_ms = 10000};
  assert_int_equal(cl_h2_client_request(c, &req, kit_on_reply, r, NULL), 0);
}

static void test_get_by_name_and_address(void **state) {
  env *e = env_new(*state, NULL);
  /* by name: localhost may resolve to ::1 first, where nothing listens; the next address must be tried */
  char url[64];
  snprintf(url, sizeof url, "https://localhost:%d/", e->srv->port);
  cl_h2_client_config cfg = {.url = url, .ca_file = e->pki->ca};
  cl_h2_client *c = client_new(e, &cfg);
  kit_result r = {.ctx = e->ctx};
  get(c, "/v2/health/ready", &r);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  assert_int_equal(r.calls, 1);
  if (r.err) fail_msg("%s", r.msg);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ctype, "application/json");
  kit_result nf = {.ctx = e->ctx};
  get(c, "/nowhere", &nf);
  kit_run_until(&e->loop, &nf.calls, 1, 10000);
  assert_int_equal(nf.err, 0); /* an HTTP error status is a reply, not an error */
  assert_int_equal(nf.status, 404);
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.requests, 2);
  assert_int_equal(st.failures, 0);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.connections, 1);
  assert_true(st.healthy);
  assert_int_equal(st.load_queue, -1);
  client_close(e, c);
  /* by address */
  c = client_new(e, NULL);
  kit_result r2 = {.ctx = e->ctx};
  get(c, "/v2/health/ready", &r2);
  kit_run_until(&e->loop, &r2.calls, 1, 10000);
  assert_int_equal(r2.calls, 1);
  assert_int_equal(r2.err, 0);
  assert_int_equal(r2.status, 200);
  client_close(e, c);
  env_free(e);
}

#define N_MANY 1000

static void test_thousand_multiplexed(void **state) {
  env *e = env_new(*state, NULL);
  cl_h2_client *c = client_new(e, NULL);
  kit_result *r = calloc(N_MANY, sizeof *r);
  int done = 0;
  for (int i = 0; i < N_MANY; i++) {
    r[i].ctx = e->ctx;
    r[i].counter = &done;
    get(c, (i % 2) ? "/v2/health/ready" : "/whoami", &r[i]);
  }
  kit_run_until(&e->loop, &done, N_MANY, 60000);
  assert_int_equal(done, N_MANY);
  for (int i = 0; i < N_MANY; i++) {
    assert_int_equal(r[i].calls, 1);
    if (r[i].err) fail_msg("request %d: %s", i, r[i].msg);
    assert_int_equal(r[i].status, 200);
  }
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.requests, N_MANY);
  assert_int_equal(st.failures, 0);
  assert_true(st.connects >= 1 && st.connects <= 2); /* the pool's size, default 2 */
  assert_int_equal(atomic_load(&e->srv->requests), N_MANY);
  free(r);
  client_close(e, c);
  env_free(e);
}

static void test_big_body_both_ways(void **state) {
  env *e = env_new(*state, NULL);
  cl_h2_client *c = client_new(e, NULL);
  size_t n = (size_t)32 << 20;
  uint8_t *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (uint8_t)(i * 2654435761u >> 13);
  kit_result r = {.ctx = e->ctx, .keep_body = true};
  struct cl_h2_client_request req = {.method = "POST",
                                     .path = "/echo",
                                     .body = body,
                                     .body_len = n,
                                     .headers = (cl_h2_header[]){{"content-type", "application/octet-stream"}},
                                     .n_headers = 1,
                                     .timeout_ms = 60000};
  assert_int_equal(cl_h2_client_request(c, &req, kit_on_reply, &r, NULL), 0);
  kit_run_until(&e->loop, &r.calls, 1, 60000);
  assert_int_equal(r.calls, 1);
  if (r.err) fail_msg("%s", r.msg);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, n);
  assert_memory_equal(r.body, body, n);
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_true(st.bytes_up >= n);
  assert_true(st.bytes_down >= n);
  assert_true(st.up_mbps > 0);
  assert_true(st.down_mbps > 0);
  print_message("  32 MiB echo: up %.0f Mbit/s, down %.0f Mbit/s (estimates)\n", st.up_mbps, st.down_mbps);
  free(r.body);
  free(body);
  client_close(e, c);
  env_free(e);
}

static void test_token_and_load_hint(void **state) {
  env *e = env_new(*state, NULL);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .token = "s3cret"};
  cl_h2_client *c = client_new(e, &cfg);
  kit_result r = {.ctx = e->ctx};
  get(c, "/whoami", &r);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  assert_int_equal(r.err, 0);
  assert_string_equal(r.auth, "Bearer s3cret");
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.load_queue, 3);
  assert_true(st.load_wait_ms > 12.4 && st.load_wait_ms < 12.6);
  /* a request's own authorization header wins over the token */
  kit_result r2 = {.ctx = e->ctx};
  struct cl_h2_client_request req = {.method = "GET",
                                     .path = "/whoami",
                                     .headers = (cl_h2_header[]){{"authorization", "Bearer other"}},
                                     .n_headers = 1};
  assert_int_equal(cl_h2_client_request(c, &req, kit_on_reply, &r2, NULL), 0);
  kit_run_until(&e->loop, &r2.calls, 1, 10000);
  assert_int_equal(r2.err, 0);
  assert_string_equal(r2.auth, "Bearer other");
  client_close(e, c);
  env_free(e);
}

static void test_mtls(void **state) {
  kit_pki *p = *state;
  env *e = env_new(p, p->ca);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = p->ca, .cert_file = p->client_cert, .key_file = p->client_key};
  cl_h2_client *c = client_new(e, &cfg);
  kit_result r = {.ctx = e->ctx};
  get(c, "/v2/health/ready", &r);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  if (r.err) fail_msg("%s", r.msg);
  assert_int_equal(r.status, 200);
  client_close(e, c);
  /* no client certificate: the server's alert comes after the client's side of a TLS 1.3 handshake */
  c = client_new(e, NULL);
  kit_result no = {.ctx = e->ctx};
  get(c, "/v2/health/ready", &no);
  kit_run_until(&e->loop, &no.calls, 1, 10000);
  assert_int_equal(no.calls, 1);
  assert_int_equal(no.err, CLEAVE_ETLS);
  assert_non_null(strstr(no.msg, "127.0.0.1"));
  client_close(e, c);
  env_free(e);
}

static void test_health_and_ping(void **state) {
  env *e = env_new(*state, NULL);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .health_interval_ms = 20, .ping_interval_ms = 20};
  cl_h2_client *c = client_new(e, &cfg);
  cl_h2_client_stats st = {0};
  /* no request: the probes alone connect and mark the endpoint */
  for (int i = 0; i < 500 && !(st.healthy && st.rtt_ms > 0); i++) {
    kit_sleep_loop(&e->loop, 10);
    cl_h2_client_get_stats(c, &st);
  }
  assert_true(st.healthy);
  assert_true(st.rtt_ms > 0);
  assert_int_equal(st.requests, 0); /* probes are not the caller's requests */
  atomic_store(&e->srv->not_ready, 1);
  for (int i = 0; i < 500 && st.healthy; i++) {
    kit_sleep_loop(&e->loop, 10);
    cl_h2_client_get_stats(c, &st);
  }
  assert_false(st.healthy);
  assert_true(st.consecutive_failures >= 1);
  atomic_store(&e->srv->not_ready, 0);
  for (int i = 0; i < 500 && !st.healthy; i++) {
    kit_sleep_loop(&e->loop, 10);
    cl_h2_client_get_stats(c, &st);
  }
  assert_true(st.healthy);
  assert_int_equal(st.consecutive_failures, 0);
  client_close(e, c);
  env_free(e);
}

static void test_response_limit(void **state) {
  env *e = env_new(*state, NULL);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .max_response_bytes = 1000};
  cl_h2_client *c = client_new(e, &cfg);
  static uint8_t body[5000];
  kit_result r = {.ctx = e->ctx};
  struct cl_h2_client_request req = {.method = "POST", .path = "/echo", .body = body, .body_len = sizeof body};
  assert_int_equal(cl_h2_client_request(c, &req, kit_on_reply, &r, NULL), 0);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, CLEAVE_ELIMIT);
  /* the connection stays usable */
  kit_result r2 = {.ctx = e->ctx};
  get(c, "/v2/health/ready", &r2);
  kit_run_until(&e->loop, &r2.calls, 1, 10000);
  assert_int_equal(r2.err, 0);
  assert_int_equal(r2.status, 200);
  client_close(e, c);
  env_free(e);
}

/* One POST through a client whose context fails its i-th allocation: a clean error (or success), exactly one
 * callback, and nothing left behind (ASan), for every i up to the count of a whole successful request. */
static long one_request_failing_at(env *e, long fail_at, uint8_t *body, size_t n) {
  tb_counter cnt = {.fail_at = fail_at};
  cleave_allocator a = tb_counting_allocator(&cnt);
  cleave_options *opt;
  cleave_ctx *ctx;
  assert_int_equal(cleave_options_new(&opt), 0);
  assert_int_equal(cleave_options_set_allocator(opt, &a), 0);
  int rc = cleave_ctx_new(&ctx, &e->loop, opt);
  cleave_options_free(opt);
  if (rc) return cnt.allocs;
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .ping_interval_ms = 1};
  cl_h2_client *c = NULL;
  rc = cl_h2_client_new(ctx, &e->loop, &cfg, &c);
  if (rc) {
    assert_int_equal(rc, CLEAVE_ENOMEM);
    cleave_ctx_free(ctx);
    return cnt.allocs;
  }
  kit_result r = {.ctx = ctx, .keep_body = true};
  struct cl_h2_client_request req = {
      .method = "POST", .path = "/echo", .body = body, .body_len = n, .timeout_ms = 10000};
  rc = cl_h2_client_request(c, &req, kit_on_reply, &r, NULL);
  if (rc) {
    assert_int_equal(rc, CLEAVE_ENOMEM);
  } else {
    kit_run_until(&e->loop, &r.calls, 1, 10000);
    assert_int_equal(r.calls, 1);
    if (!r.err) {
      assert_int_equal(r.status, 200);
      assert_int_equal(r.len, n);
      assert_memory_equal(r.body, body, n);
    }
  }
  free(r.body);
  int closed = 0;
  cl_h2_client_close(c, kit_done_flag, &closed);
  kit_run_until(&e->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
  cleave_ctx_free(ctx);
  return cnt.allocs;
}

static void test_failing_allocator(void **state) {
  env *e = env_new(*state, NULL);
  size_t n = 100000;
  uint8_t *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (uint8_t)(i * 7);
  long total = one_request_failing_at(e, -1, body, n);
  assert_true(total > 10);
  print_message("  %ld allocations in one request, each one failed in turn\n", total);
  for (long i = 0; i < total; i++)
    one_request_failing_at(e, i, body, n);
  free(body);
  env_free(e);
}

static void test_config_and_request_errors(void **state) {
  kit_pki *p = *state;
  uv_loop_t loop;
  cleave_ctx *ctx;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(cleave_ctx_new(&ctx, &loop, NULL), 0);
  const char *bad[] = {NULL,          "http://127.0.0.1:1", "https://",      "https://:80",
                       "https://h:0", "https://h:70000",    "https://h:12x", "https://h:1/v2",
                       "https://[::1"};
  cl_h2_client *c = NULL;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cl_h2_client_config cfg = {.url = bad[i]};
    assert_int_equal(cl_h2_client_new(ctx, &loop, &cfg, &c), CLEAVE_EINVAL);
    assert_null(c);
  }
  cl_h2_client_config missing = {.url = "https://127.0.0.1:1", .ca_file = "/nonexistent/ca.pem"};
  assert_int_equal(cl_h2_client_new(ctx, &loop, &missing, &c), CLEAVE_EIO);
  assert_non_null(strstr(cleave_ctx_last_error(ctx), "/nonexistent/ca.pem"));
  cl_h2_client_config nokey = {.url = "https://127.0.0.1:1", .cert_file = p->client_cert};
  assert_int_equal(cl_h2_client_new(ctx, &loop, &nokey, &c), CLEAVE_EINVAL);
  cl_h2_client_config v6 = {.url = "https://[::1]:8443", .ca_file = p->ca, .token = "t"};
  assert_int_equal(cl_h2_client_new(ctx, &loop, &v6, &c), 0);
  kit_result r = {.ctx = ctx};
  struct cl_h2_client_request reqs[] = {
      {.method = "GET", .path = "relative"},
      {.method = NULL, .path = "/"},
      {.method = "POST", .path = "/", .body_len = 3},
      {.method = "GET", .path = "/", .headers = (cl_h2_header[]){{":path", "/x"}}, .n_headers = 1},
      {.method = "GET", .path = "/", .headers = (cl_h2_header[]){{"Upper", "x"}}, .n_headers = 1},
      {.method = "GET", .path = "/", .headers = (cl_h2_header[]){{"connection", "close"}}, .n_headers = 1},
      {.method = "GET", .path = "/", .headers = (cl_h2_header[]){{"x", "a\r\nb: c"}}, .n_headers = 1},
  };
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
    assert_int_equal(cl_h2_client_request(c, &reqs[i], kit_on_reply, &r, NULL), CLEAVE_EINVAL);
  assert_int_equal(cl_h2_client_request(c, &reqs[0], NULL, &r, NULL), CLEAVE_EINVAL);
  int closed = 0;
  cl_h2_client_close(c, kit_done_flag, &closed);
  assert_int_equal(
      cl_h2_client_request(c, &(struct cl_h2_client_request){.method = "GET", .path = "/"}, kit_on_reply, &r, NULL),
      CLEAVE_EINVAL); /* closing */
  kit_run_until(&loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
  assert_int_equal(r.calls, 0); /* a call that returned an error never calls back */
  assert_int_equal(uv_loop_close(&loop), 0);
  cleave_ctx_free(ctx);
}

/* The Server-Timing parser the edge reads a gateway's times with: any order, other metrics and parameters skipped,
 * malformed or missing -> -1, and nothing read past its bound. */
static void test_server_timing(void **state) {
  (void)state;
  const char *ours = "queue;dur=1.250, run;dur=20.5";
  assert_float_equal(cl_h2_server_timing(ours, "queue"), 1.25, 1e-9);
  assert_float_equal(cl_h2_server_timing(ours, "run"), 20.5, 1e-9);
  assert_float_equal(cl_h2_server_timing(ours, "recv"), -1, 0);
  const char *mixed = "cache;desc=\"hit, or; \\\"miss\\\"\";dur=3, db ; dur = 7 , run;desc=x;dur=\"12\";dur=99, "
                      "queue;dur=0";
  assert_float_equal(cl_h2_server_timing(mixed, "run"), 12, 1e-9); /* quoted, and the first dur counts */
  assert_float_equal(cl_h2_server_timing(mixed, "queue"), 0, 1e-9);
  assert_float_equal(cl_h2_server_timing(mixed, "db"), 7, 1e-9);
  assert_float_equal(cl_h2_server_timing(mixed, "cache"), 3, 1e-9);
  assert_float_equal(cl_h2_server_timing("RUN;DUR=4", "run"), 4, 1e-9); /* names are case-insensitive */
  assert_float_equal(cl_h2_server_timing("run;dur=4", "ru"), -1, 0);
  /* the first entry of a metric decides, malformed or not */
  assert_float_equal(cl_h2_server_timing("run;dur=abc, run;dur=5", "run"), -1, 0);
  assert_float_equal(cl_h2_server_timing("run, run;dur=5", "run"), -1, 0);
  static const char *const bad[] = {"run;dur=",    "run;dur=-1",    "run;dur=1e3",  "run;dur=inf",
                                    "run;dur=nan", "run;dur=1.2.3", "run;dur=\"5",  "run;dur=5 junk",
                                    "run;=5",      "run;dur",       "run;dur=0x10", "run;dur=1000000000000000000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double d = cl_h2_server_timing(bad[i], "run");
    if (d != -1) fail_msg("'%s' gave %g", bad[i], d);
  }
  assert_float_equal(cl_h2_server_timing("run;dur=1,5", "run"), 1, 1e-9); /* "5" is another (nameless) entry */
  assert_float_equal(cl_h2_server_timing("junk\"x,y\", run;dur=2", "run"), 2, 1e-9);
  assert_float_equal(cl_h2_server_timing("", "run"), -1, 0);
  assert_float_equal(cl_h2_server_timing(NULL, "run"), -1, 0);
  assert_float_equal(cl_h2_server_timing("run;dur=1", ""), -1, 0);
  /* bounded: a metric beyond CL_H2_SERVER_TIMING_MAX bytes, or after 64 entries, is not seen */
  char big[CL_H2_SERVER_TIMING_MAX + 64];
  memset(big, ' ', sizeof big);
  snprintf(big + CL_H2_SERVER_TIMING_MAX - 4, sizeof big - CL_H2_SERVER_TIMING_MAX + 4, "run;dur=1");
  assert_float_equal(cl_h2_server_timing(big, "run"), -1, 0);
  char many[1024] = "";
  for (int i = 0; i < 64; i++)
    strcat(many, "a;dur=1,");
  strcat(many, "run;dur=3");
  assert_float_equal(cl_h2_server_timing(many, "run"), -1, 0);
  assert_float_equal(cl_h2_server_timing(many + 8, "run"), 3, 1e-9); /* 63 before it */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_timing),
      cmocka_unit_test(test_get_by_name_and_address),
      cmocka_unit_test(test_thousand_multiplexed),
      cmocka_unit_test(test_big_body_both_ways),
      cmocka_unit_test(test_token_and_load_hint),
      cmocka_unit_test(test_mtls),
      cmocka_unit_test(test_health_and_ping),
      cmocka_unit_test(test_response_limit),
      cmocka_unit_test(test_config_and_request_errors),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
