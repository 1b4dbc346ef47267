/* tests/remote: the HTTP/2 client when things go wrong. Each fault must reach the caller as one clean error code
 * through its callback, with the endpoint in the message, and leave nothing behind (the loop closes, ASan finds no
 * leak): connection refused and the backoff that follows, reconnecting when the server is back, the server
 * process killed mid-request, a TCP reset in the middle of a response, a request timeout and a cancel (both
 * reset the stream, which the server sees), a connect timeout, a wrong CA, a wrong host name, no ALPN, an HTTP/2
 * protocol violation, and closing the client with calls in flight. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "h2_client_testkit.h"

typedef struct env {
  kit_pki *pki;
  uv_loop_t loop;
  cleave_ctx *ctx;
  char url[96];
} env;

static int setup_group(void **state) {
  kit_pki *p = kit_pki_new();
  if (!p) return -1;
  signal(SIGPIPE, SIG_IGN); /* the fault server writes to sockets the client has closed */
  *state = p;
  return 0;
}

static int teardown_group(void **state) {
  kit_pki_free(*state);
  return 0;
}

static env *env_new(kit_pki *p, int port) {
  env *e = calloc(1, sizeof *e);
  e->pki = p;
  assert_int_equal(uv_loop_init(&e->loop), 0);
  assert_int_equal(cleave_ctx_new(&e->ctx, &e->loop, NULL), 0);
  snprintf(e->url, sizeof e->url, "https://127.0.0.1:%d", port);
  return e;
}

static void env_free(env *e) {
  for (int i = 0; i < 10; i++)
    uv_run(&e->loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  cleave_ctx_free(e->ctx);
  free(e);
}

static cl_h2_client *client_new(env *e, const cl_h2_client_config *cfg) {
  cl_h2_client_config def = {.url = e->url, .ca_file = e->pki->ca};
  cl_h2_client *c = NULL;
  if (cl_h2_client_new(e->ctx, &e->loop, cfg ? cfg : &def, &c))
    fail_msg("cl_h2_client_new: %s", cleave_ctx_last_error(e->ctx));
  return c;
}

static void client_close(env *e, cl_h2_client *c) {
  int closed = 0;
  cl_h2_client_close(c, kit_done_flag, &closed);
  kit_run_until(&e->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
}

static void request(cl_h2_client *c, const char *method, const char *path, int timeout_ms, kit_result *r,
                    cl_h2_call **call) {
  static const uint8_t body[1000];
  struct cl_h2_client_request req = {.method = method,
                                     .path = path,
                                     .timeout_ms = timeout_ms,
                                     .body = strcmp(method, "POST") == 0 ? body : NULL,
                                     .body_len = strcmp(method, "POST") == 0 ? sizeof body : 0};
  assert_int_equal(cl_h2_client_request(c, &req, kit_on_reply, r, call), 0);
}

/* One request that must fail with want; its message must name the endpoint and contain what (if not NULL). */
static void expect_error(env *e, cl_h2_client *c, int want, const char *what) {
  kit_result r = {.ctx = e->ctx};
  request(c, "GET", "/v2/health/ready", 20000, &r, NULL);
  kit_run_until(&e->loop, &r.calls, 1, 20000);
  assert_int_equal(r.calls, 1);
  if (r.err != want) fail_msg("got %s (%s), want %s", cleave_err_name(r.err), r.msg, cleave_err_name(want));
  print_message("  %s: %s\n", cleave_err_name(r.err), r.msg);
  assert_non_null(strstr(r.msg, "127.0.0.1"));
  if (what && !strstr(r.msg, what)) fail_msg("'%s' does not say '%s'", r.msg, what);
}

static void test_refused_backoff_reconnect(void **state) {
  kit_pki *p = *state;
  int port = kit_free_port();
  assert_true(port > 0);
  env *e = env_new(p, port);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = p->ca, .backoff_min_ms = 50, .backoff_max_ms = 100};
  cl_h2_client *c = client_new(e, &cfg);
  expect_error(e, c, CLEAVE_ECONNREFUSED, "connect");
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.connects, 1);
  assert_false(st.healthy);
  assert_int_equal(st.consecutive_failures, 1);
  /* at once again: no new attempt, the last error */
  expect_error(e, c, CLEAVE_ECONNREFUSED, "backing off");
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.failures, 2);
  /* the server comes back; after the backoff the next request reconnects */
  kit_server *s = kit_server_start(p, port, NULL, NULL, NULL);
  assert_int_equal(s->port, port);
  kit_sleep_loop(&e->loop, 150);
  kit_result r = {.ctx = e->ctx};
  request(c, "GET", "/v2/health/ready", 10000, &r, NULL);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  if (r.err) fail_msg("%s", r.msg);
  assert_int_equal(r.status, 200);
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.connects, 2);
  assert_true(st.healthy);
  assert_int_equal(st.consecutive_failures, 0);
  client_close(e, c);
  kit_server_stop(s);
  env_free(e);
}

/* A server process: cleave-gateway when it was built beside this test, else a fork of this one serving with
 * cl_h2_server. Returns its pid; *port the port. */
static pid_t server_process(const kit_pki *p, int *port) {
  char self[512], gw[600];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  snprintf(gw, sizeof gw, "%s/cleave-gateway", self);
  int fds[2];
  if (pipe(fds)) return -1;
  bool gateway = access(gw, X_OK) == 0;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (gateway) {
      dup2(fds[1], 1);
      execl(gw, gw, "--listen", "127.0.0.1:0", "--cert", p->cert, "--key", p->key, (char *)NULL);
      _exit(127);
    }
    kit_server s = {0};
    uv_loop_t loop;
    cl_tls_config tc = {.server = true, .cert_file = p->cert, .key_file = p->key};
    uv_loop_init(&loop);
    if (cleave_ctx_new(&s.ctx, &loop, NULL) || cl_tls_ctx_new(s.ctx, &tc, &s.tls)) _exit(1);
    cl_h2_server_config cfg = {
        .host = "127.0.0.1", .tls = s.tls, .max_body = 1 << 20, .handler = kit_handler, .user = &s};
    if (cl_h2_server_new(s.ctx, &loop, &cfg, &s.srv)) _exit(1);
    dprintf(fds[1], "listening on 127.0.0.1:%d\n", cl_h2_server_port(s.srv));
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
  }
  close(fds[1]);
  char line[128] = {0};
  size_t got = 0;
  /* bounded: the child prints one line or dies, which ends the read */
  while (got < sizeof line - 1 && !strchr(line, '\n')) {
    ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fds[0]);
  const char *colon = strrchr(line, ':');
  *port = colon ? atoi(colon + 1) : 0;
  return pid;
}

static void test_server_killed_mid_request(void **state) {
  kit_pki *p = *state;
  int port = 0;
  pid_t pid = server_process(p, &port);
  assert_true(pid > 0);
  if (port <= 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("the server process did not start");
  }
  env *e = env_new(p, port);
  cl_h2_client *c = client_new(e, NULL);
  kit_result ok = {.ctx = e->ctx};
  request(c, "GET", "/v2/health/live", 20000, &ok, NULL);
  kit_run_until(&e->loop, &ok.calls, 1, 20000);
  assert_int_equal(ok.err, 0);
  /* stopped, it cannot answer: the request is certainly in flight when the process dies */
  kill(pid, SIGSTOP);
  kit_result r = {.ctx = e->ctx};
  request(c, "POST", "/v2/models/m/infer", 20000, &r, NULL);
  kit_sleep_loop(&e->loop, 50);
  assert_int_equal(r.calls, 0);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  kit_run_until(&e->loop, &r.calls, 1, 20000);
  assert_int_equal(r.calls, 1);
  if (r.err != CLEAVE_ENET) fail_msg("got %s: %s", cleave_err_name(r.err), r.msg);
  print_message("  %s: %s\n", cleave_err_name(r.err), r.msg);
  assert_non_null(strstr(r.msg, "127.0.0.1"));
  /* and then: refused, a clean code again */
  expect_error(e, c, CLEAVE_ECONNREFUSED, NULL);
  client_close(e, c);
  env_free(e);
}

static void test_reset_mid_response(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_RESET_MID);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client *c = client_new(e, NULL);
  expect_error(e, c, CLEAVE_ENET, "reset");
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_true(st.bytes_down > 0 && st.bytes_down < 1000000); /* part of the body came */
  client_close(e, c);
  kit_fault_stop(f);
  env_free(e);
}

static void wait_rst(env *e, kit_fault_server *f) {
  for (int i = 0; i < 500 && atomic_load(&f->rst_code) == 0; i++)
    kit_sleep_loop(&e->loop, 10);
  assert_int_equal(atomic_load(&f->rst_code), NGHTTP2_CANCEL + 1);
}

static void test_timeout_resets_stream(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_SILENT);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client *c = client_new(e, NULL);
  kit_result r = {.ctx = e->ctx};
  request(c, "POST", "/echo", 300, &r, NULL);
  kit_run_until(&e->loop, &r.calls, 1, 20000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, CLEAVE_ETIMEDOUT);
  assert_non_null(strstr(r.msg, "300 ms"));
  print_message("  %s: %s\n", cleave_err_name(r.err), r.msg);
  wait_rst(e, f);
  client_close(e, c);
  kit_fault_stop(f);
  env_free(e);
}

static void test_cancel(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_SILENT);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client *c = client_new(e, NULL);
  /* canceled while waiting for its connection: the callback comes later, on the loop */
  kit_result q = {.ctx = e->ctx};
  cl_h2_call *call = NULL;
  request(c, "GET", "/a", 0, &q, &call);
  assert_non_null(call);
  cl_h2_call_cancel(call);
  assert_int_equal(q.calls, 0);
  kit_run_until(&e->loop, &q.calls, 1, 5000);
  assert_int_equal(q.calls, 1);
  assert_int_equal(q.err, CLEAVE_ECANCELED);
  /* canceled on an open stream: RST_STREAM(CANCEL) */
  kit_result r = {.ctx = e->ctx};
  request(c, "GET", "/b", 0, &r, &call);
  for (int i = 0; i < 500 && atomic_load(&f->requests) == 0; i++)
    kit_sleep_loop(&e->loop, 10);
  assert_int_equal(atomic_load(&f->requests), 1);
  assert_int_equal(r.calls, 0);
  cl_h2_call_cancel(call);
  cl_h2_call_cancel(call); /* twice: still one callback */
  kit_run_until(&e->loop, &r.calls, 1, 5000);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.err, CLEAVE_ECANCELED);
  wait_rst(e, f);
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.failures, 0); /* a cancel is not a failure */
  client_close(e, c);
  kit_fault_stop(f);
  env_free(e);
}

static void test_connect_timeout(void **state) {
  /* a socket that listens but never accepts: TCP connects, TLS never answers */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 4), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  env *e = env_new(*state, ntohs(a.sin_port));
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .connect_timeout_ms = 200};
  cl_h2_client *c = client_new(e, &cfg);
  expect_error(e, c, CLEAVE_ETIMEDOUT, "200 ms");
  client_close(e, c);
  close(fd);
  env_free(e);
}

static void test_wrong_ca_and_hostname(void **state) {
  kit_pki *p = *state;
  kit_server *s = kit_server_start(p, 0, NULL, NULL, NULL);
  assert_true(s->port > 0);
  env *e = env_new(p, s->port);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = p->other_ca};
  cl_h2_client *c = client_new(e, &cfg);
  expect_error(e, c, CLEAVE_ETLS, "certificate verification failed");
  client_close(e, c);
  kit_server_stop(s);

  /* the right CA, a certificate for another name */
  s = kit_server_start(p, 0, p->wrong_cert, p->wrong_key, NULL);
  assert_true(s->port > 0);
  snprintf(e->url, sizeof e->url, "https://127.0.0.1:%d", s->port);
  c = client_new(e, NULL);
  expect_error(e, c, CLEAVE_ETLS, "mismatch");
  client_close(e, c);
  /* only where a tool says so loudly: no verification at all */
  cl_h2_client_config insecure = {.url = e->url, .insecure_skip_verify = true};
  c = client_new(e, &insecure);
  kit_result r = {.ctx = e->ctx};
  request(c, "GET", "/v2/health/ready", 10000, &r, NULL);
  kit_run_until(&e->loop, &r.calls, 1, 10000);
  assert_int_equal(r.err, 0);
  assert_int_equal(r.status, 200);
  client_close(e, c);
  kit_server_stop(s);
  env_free(e);
}

static void test_protocol_errors(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_NO_ALPN);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client *c = client_new(e, NULL);
  expect_error(e, c, CLEAVE_EPROTO, "ALPN");
  client_close(e, c);
  kit_fault_stop(f);

  f = kit_fault_start(*state, FAULT_BAD_FRAME);
  assert_non_null(f);
  snprintf(e->url, sizeof e->url, "https://127.0.0.1:%d", f->port);
  c = client_new(e, NULL);
  expect_error(e, c, CLEAVE_EPROTO, NULL);
  client_close(e, c);
  kit_fault_stop(f);
  env_free(e);
}

static void test_goaway_refused_retried(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_GOAWAY);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client *c = client_new(e, NULL);
  /* refused unprocessed: sent again on a new connection, twice, then the error */
  expect_error(e, c, CLEAVE_ENET, "REFUSED_STREAM");
  assert_int_equal(atomic_load(&f->requests), 3);
  cl_h2_client_stats st;
  cl_h2_client_get_stats(c, &st);
  assert_int_equal(st.connects, 3);
  assert_int_equal(st.requests, 1);
  client_close(e, c);
  kit_fault_stop(f);
  env_free(e);
}

#define N_PENDING 10

static void test_close_with_pending(void **state) {
  kit_fault_server *f = kit_fault_start(*state, FAULT_SILENT);
  assert_non_null(f);
  env *e = env_new(*state, f->port);
  cl_h2_client_config cfg = {.url = e->url, .ca_file = e->pki->ca, .health_interval_ms = 10, .ping_interval_ms = 10};
  cl_h2_client *c = client_new(e, &cfg);
  kit_result r[N_PENDING];
  int done = 0;
  for (int i = 0; i < N_PENDING; i++) {
    r[i] = (kit_result){.ctx = e->ctx, .counter = &done};
    request(c, i % 2 ? "POST" : "GET", "/x", 0, &r[i], NULL);
  }
  for (int i = 0; i < 500 && atomic_load(&f->requests) < N_PENDING; i++)
    kit_sleep_loop(&e->loop, 10);
  assert_true(atomic_load(&f->requests) >= N_PENDING);
  assert_int_equal(done, 0);
  int closed = 0;
  cl_h2_client_close(c, kit_done_flag, &closed);
  assert_int_equal(done, 0); /* not from inside close */
  kit_run_until(&e->loop, &closed, 1, 5000);
  assert_int_equal(closed, 1);
  assert_int_equal(done, N_PENDING);
  for (int i = 0; i < N_PENDING; i++) {
    assert_int_equal(r[i].calls, 1);
    assert_int_equal(r[i].err, CLEAVE_ECANCELED);
  }
  kit_fault_stop(f);
  env_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_backoff_reconnect),
      cmocka_unit_test(test_server_killed_mid_request),
      cmocka_unit_test(test_reset_mid_response),
      cmocka_unit_test(test_timeout_resets_stream),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_wrong_ca_and_hostname),
      cmocka_unit_test(test_protocol_errors),
      cmocka_unit_test(test_goaway_refused_retried),
      cmocka_unit_test(test_close_with_pending),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
