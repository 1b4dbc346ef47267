/* tests/tools: cleave-link's relay between real peers on 127.0.0.1, all on one loop: rates, delay, a Mahimahi
 * and a CSV trace, loss with the bytes intact both ways, cut, stall, restore, the connection limit, a target
 * that refuses, and the command language. Every wait has a deadline and ends in an assertion. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "link_control.h"
#include "link_relay.h"

#define WAIT(e, cond, secs)                                                                                          \
  do {                                                                                                               \
    uint64_t end_ = uv_hrtime() + (uint64_t)((secs)*1e9);                                                            \
    while (!(cond) && uv_hrtime() < end_)                                                                            \
      uv_run(&(e)->loop, UV_RUN_ONCE);                                                                               \
  } while (0)

enum { P_SINK, P_ECHO, P_SOURCE, P_CLIENT };

typedef struct env env;

/* One end of a connection: a client of the relay, or what the target server accepted. */
typedef struct peer {
  env *e;
  struct peer *next;
  int role;
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_shutdown_t shut;
  bool connected, eof, closed;
  int err; /* the read or connect error */
  uint64_t rx, hash, t_connected, t_last;
} peer;

struct env {
  uv_loop_t loop;
  cleave_ctx *ctx;
  link_relay *relay;
  uv_tcp_t server;
  uv_timer_t tick;
  int mode; /* what the target does with a connection */
  peer *peers;
  int relay_closed;
  struct sockaddr_storage relay_addr;
  char dir[64];
  uint8_t *data; /* the bytes sent, 2 MB */
  size_t n_data, source_bytes;
};

#define DATA_BYTES (2u << 20)

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
#define FNV0 0xcbf29ce484222325ull

static double secs_since(uint64_t t) { return (double)(uv_hrtime() - t) / 1e9; }

/* ---- peers ---- */

static void on_peer_closed(uv_handle_t *h) { ((peer *)h->data)->closed = true; }

static peer *peer_new(env *e, int role) {
  peer *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->e = e;
  p->role = role;
  p->hash = FNV0;
  p->next = e->peers;
  e->peers = p;
  uv_tcp_init(&e->loop, &p->tcp);
  p->tcp.data = p->connect.data = p->shut.data = p;
  return p;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char b[65536];
  *buf = uv_buf_init(b, sizeof b);
}

typedef struct wreq {
  uv_write_t req;
  char data[];
} wreq;

static void on_written(uv_write_t *req, int status) { free(req); }

static void peer_write(peer *p, const void *data, size_t n) {
  wreq *w = malloc(sizeof *w + n);
  assert_non_null(w);
  memcpy(w->data, data, n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  assert_int_equal(uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_written), 0);
}

static void on_shutdown(uv_shutdown_t *req, int status) {}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  peer *p = s->data;
  if (nread < 0) {
    if (nread == UV_EOF) {
      p->eof = true;
      if (p->role == P_ECHO) uv_shutdown(&p->shut, s, on_shutdown);
      if (p->role == P_SINK) uv_close((uv_handle_t *)s, on_peer_closed);
    } else {
      p->err = (int)nread;
      uv_close((uv_handle_t *)s, on_peer_closed);
    }
    return;
  }
  p->rx += (uint64_t)nread;
  p->hash = fnv(p->hash, (const uint8_t *)buf->base, (size_t)nread);
  p->t_last = uv_hrtime();
  if (p->role == P_ECHO) peer_write(p, buf->base, (size_t)nread);
}

static void on_target_connection(uv_stream_t *srv, int status) {
  env *e = srv->data;
  assert_int_equal(status, 0);
  peer *p = peer_new(e, e->mode);
  assert_int_equal(uv_accept(srv, (uv_stream_t *)&p->tcp), 0);
  p->connected = true;
  p->t_connected = uv_hrtime();
  uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
  if (e->mode == P_SOURCE) {
    peer_write(p, e->data, e->source_bytes);
    uv_shutdown(&p->shut, (uv_stream_t *)&p->tcp, on_shutdown);
  }
}

static void on_client_connect(uv_connect_t *req, int status) {
  peer *p = req->data;
  if (status) {
    p->err = status;
    uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
    return;
  }
  p->connected = true;
  p->t_connected = uv_hrtime();
  uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
}

/* A client of the relay, connected by the kernel (the relay's own handshake may still be going on), or failed. */
static peer *client_any(env *e) {
  peer *p = peer_new(e, P_CLIENT);
  assert_int_equal(uv_tcp_connect(&p->connect, &p->tcp, (const struct sockaddr *)&e->relay_addr, on_client_connect),
                   0);
  WAIT(e, p->connected || p->err, 2);
  return p;
}

static peer *client(env *e) {
  peer *p = client_any(e);
  if (!p->connected) fail_msg("no connection to the relay: %s", p->err ? uv_err_name(p->err) : "timed out");
  return p;
}

/* A client the relay resets at once: the RST comes on the connect or on the first read. */
static void expect_reset(env *e) {
  peer *p = client_any(e);
  WAIT(e, p->err, 2);
  assert_int_equal(p->err, UV_ECONNRESET);
}

static peer *target_peer(env *e) {
  for (peer *p = e->peers; p; p = p->next)
    if (p->role != P_CLIENT) return p;
  return NULL;
}

/* ---- the relay ---- */

static void cmd(env *e, const char *line) {
  char reply[LINK_REPLY_MAX];
  int rc = link_command(e->relay, line, reply, sizeof reply);
  if (rc || strncmp(reply, "ok", 2) != 0) fail_msg("'%s' -> %s", line, reply);
}

static void on_tick(uv_timer_t *t) {}

static void on_relay_closed(void *arg) { ((env *)arg)->relay_closed = 1; }

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  if (!e || uv_loop_init(&e->loop) || cleave_ctx_new(&e->ctx, &e->loop, NULL)) return -1;
  snprintf(e->dir, sizeof e->dir, "/tmp/cleave-link-XXXXXX");
  if (!mkdtemp(e->dir)) return -1;
  e->n_data = DATA_BYTES;
  e->data = malloc(e->n_data);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < e->n_data; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    e->data[i] = (uint8_t)x;
  }
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&e->loop, &e->server);
  e->server.data = e;
  if (uv_tcp_bind(&e->server, (const struct sockaddr *)&a, 0) ||
      uv_listen((uv_stream_t *)&e->server, 64, on_target_connection))
    return -1;
  uv_timer_init(&e->loop, &e->tick); /* keeps UV_RUN_ONCE from sleeping past a deadline */
  uv_timer_start(&e->tick, on_tick, 5, 5);
  *state = e;
  return 0;
}

static void relay_start(env *e, int max_connections, int target_port) {
  link_config cfg;
  link_config_defaults(&cfg);
  char err[256];
  assert_int_equal(link_parse_addr("127.0.0.1:0", &cfg.listen, err, sizeof err), 0);
  struct sockaddr_storage t;
  int len = sizeof t;
  uv_tcp_getsockname(&e->server, (struct sockaddr *)&t, &len);
  if (target_port) ((struct sockaddr_in *)&t)->sin_port = htons((uint16_t)target_port);
  cfg.target = t;
  if (max_connections) cfg.max_connections = max_connections;
  int rc = link_relay_new(e->ctx, &e->loop, &cfg, &e->relay, err, sizeof err);
  if (rc) fail_msg("relay: %s", err);
  link_relay_listen_addr(e->relay, &e->relay_addr);
}

static int teardown(void **state) {
  env *e = *state;
  for (peer *p = e->peers; p; p = p->next)
    if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
  if (e->relay) link_relay_close(e->relay, on_relay_closed, e);
  uv_close((uv_handle_t *)&e->server, NULL);
  uv_close((uv_handle_t *)&e->tick, NULL);
  uint64_t end = uv_hrtime() + 5000000000ull;
  while (uv_loop_alive(&e->loop) && uv_hrtime() < end)
    uv_run(&e->loop, UV_RUN_ONCE);
  if (e->relay) assert_int_equal(e->relay_closed, 1);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  for (peer *p = e->peers, *n; p; p = n) {
    n = p->next;
    free(p);
  }
  char rm[128];
  snprintf(rm, sizeof rm, "rm -rf '%s'", e->dir);
  if (system(rm) != 0) return -1;
  cleave_ctx_free(e->ctx);
  free(e->data);
  free(e);
  return 0;
}

/* Uploads n bytes and waits for the target to have them all; returns the seconds from the first write. */
static double upload(env *e, size_t n, double limit_s) {
  e->mode = P_SINK;
  peer *c = client(e);
  uint64_t t0 = uv_hrtime();
  peer_write(c, e->data, n);
  uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown);
  peer *s = NULL;
  WAIT(e, (s = target_peer(e)) && s->eof, limit_s);
  assert_non_null(s);
  if (!s->eof) fail_msg("the target got %llu of %zu bytes in %.1f s", (unsigned long long)s->rx, n, limit_s);
  assert_int_equal(s->rx, n);
  assert_true(s->hash == fnv(FNV0, e->data, n));
  return (double)(s->t_last - t0) / 1e9;
}

static void expect_within(const char *what, double got, double lo, double hi) {
  print_message("%s: %.3f s (accepted %.2f to %.2f)\n", what, got, lo, hi);
  if (got < lo || got > hi) fail_msg("%s took %.3f s, outside %.2f to %.2f", what, got, lo, hi);
}

/* ---- tests ---- */

static void test_rate_up(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  cmd(e, "rate up=8 down=50");
  expect_within("1 MB up at 8 Mbit/s", upload(e, 1000000, 5), 0.7, 1.6);
  link_stats st;
  link_relay_stats(e->relay, &st);
  assert_int_equal(st.dir[LINK_UP].bytes_in, 1000000);
  /* 667 full packets, and a few short ones where the queue held less than 1500 bytes */
  assert_true(st.dir[LINK_UP].packets >= 667 && st.dir[LINK_UP].packets < 700);
}

static void test_rate_down(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  cmd(e, "rate 16");
  e->mode = P_SOURCE;
  e->source_bytes = 1000000;
  peer *c = client(e);
  uint64_t t0 = uv_hrtime();
  WAIT(e, c->eof, 5);
  assert_true(c->eof);
  assert_int_equal(c->rx, 1000000);
  assert_true(c->hash == fnv(FNV0, e->data, 1000000));
  expect_within("1 MB down at 16 Mbit/s", (double)(c->t_last - t0) / 1e9, 0.35, 0.8);
}

/* Round trips of 100 bytes through an echo; returns the smallest of n. */
static double ping(env *e, peer *c, int n) {
  double best = 1e9;
  for (int i = 0; i < n; i++) {
    uint64_t want = c->rx + 100, t0 = uv_hrtime();
    peer_write(c, e->data, 100);
    WAIT(e, c->rx >= want || c->err, 3);
    if (c->rx < want) fail_msg("no echo within 3 s (error %s)", c->err ? uv_err_name(c->err) : "none");
    double t = secs_since(t0);
    if (t < best) best = t;
  }
  return best;
}

static void test_delay(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  e->mode = P_ECHO;
  peer *c = client(e);
  double base = ping(e, c, 3);
  print_message("round trip, no delay: %.2f ms\n", base * 1e3);
  assert_true(base < 0.03);
  cmd(e, "delay 50");
  expect_within("round trip with delay 50", ping(e, c, 5), 0.095, 0.2);
  cmd(e, "rtt 40");
  expect_within("round trip with rtt 40", ping(e, c, 5), 0.038, 0.12);
  /* a new connection pays one RTT for the handshake it would have had */
  peer *c2 = client(e);
  uint64_t t0 = c2->t_connected;
  peer_write(c2, e->data, 100);
  WAIT(e, c2->rx >= 100, 3);
  assert_int_equal(c2->rx, 100);
  expect_within("first echo on a new connection at rtt 40 (handshake + round trip)", (double)(c2->t_last - t0) / 1e9,
                0.075, 0.2);
}

static void test_mahimahi_trace(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  char path[128], line[300];
  snprintf(path, sizeof path, "%s/12mbps.up", e->dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("1\n", f); /* one 1500-byte opportunity every ms: 12 Mbit/s */
  fclose(f);
  snprintf(line, sizeof line, "trace up=%s", path);
  cmd(e, line);
  link_dir_settings s;
  link_relay_settings(e->relay, LINK_UP, &s);
  assert_string_equal(s.trace, path);
  expect_within("1 MB up on a 12 Mbit/s Mahimahi trace (0.667 s)", upload(e, 1000000, 5), 0.5, 1.1);
}

static void test_csv_trace(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  char path[128], line[300];
  snprintf(path, sizeof path, "%s/link.csv", e->dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("t_s,up_mbps,down_mbps,rtt_ms\n0,4,20,10\n10,4,20,10\n", f);
  fclose(f);
  snprintf(line, sizeof line, "trace %s", path);
  cmd(e, line);
  expect_within("250 kB up on a 4 Mbit/s CSV trace (0.5 s)", upload(e, 250000, 5), 0.35, 0.9);
}

static void test_loss_intact(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  cmd(e, "rate 50");
  cmd(e, "delay 5");
  cmd(e, "loss 0.05");
  e->mode = P_ECHO;
  peer *c = client(e);
  uint64_t t0 = uv_hrtime();
  peer_write(c, e->data, 1000000);
  uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown);
  WAIT(e, c->eof || c->err, 10);
  assert_true(c->eof);
  assert_int_equal(c->rx, 1000000);
  assert_true(c->hash == fnv(FNV0, e->data, 1000000));
  peer *s = target_peer(e);
  assert_int_equal(s->rx, 1000000);
  link_stats st;
  link_relay_stats(e->relay, &st);
  print_message("1 MB echoed at 50 Mbit/s, 10 ms RTT, 5%% loss: %.3f s, lost %llu of %llu up, %llu of %llu down\n",
                secs_since(t0), (unsigned long long)st.dir[0].lost, (unsigned long long)st.dir[0].packets,
                (unsigned long long)st.dir[1].lost, (unsigned long long)st.dir[1].packets);
  for (int d = 0; d < 2; d++) {
    assert_true(st.dir[d].lost > 0);
    assert_true(st.dir[d].lost < st.dir[d].packets / 5);
  }
}

/* Which of n pings were slowed by a loss, as a string of '.' and 'L'; each ping is one packet each way. */
static void loss_pattern(env *e, int n, char *out) {
  e->mode = P_ECHO;
  peer *c = client(e);
  for (int i = 0; i < n; i++) {
    double t = ping(e, c, 1);
    /* no delay: a lost lone packet waits for the retransmission timer, 200 ms at the least */
    if (t > 0.05 && (t < 0.19 || t > 0.45)) fail_msg("ping %d took %.3f s: neither clean nor one timeout", i, t);
    out[i] = t > 0.05 ? 'L' : '.';
  }
  out[n] = 0;
  uv_close((uv_handle_t *)&c->tcp, on_peer_closed);
}

static void test_loss_model(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  cmd(e, "loss up=0.3");
  char a[32], b[32];
  loss_pattern(e, 16, a);
  print_message("pings slowed by a loss, seed 1: %s\n", a);
  assert_non_null(strchr(a, 'L'));
  assert_non_null(strchr(a, '.'));
  /* the same seed, the same draws */
  link_relay_close(e->relay, on_relay_closed, e);
  WAIT(e, e->relay_closed, 2);
  assert_true(e->relay_closed);
  e->relay_closed = 0;
  relay_start(e, 0, 0);
  cmd(e, "loss up=0.3");
  loss_pattern(e, 16, b);
  assert_string_equal(a, b);
}

static void test_cut_restore(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  e->mode = P_ECHO;
  peer *c = client(e);
  ping(e, c, 1);
  cmd(e, "cut");
  WAIT(e, c->err, 2);
  assert_int_equal(c->err, UV_ECONNRESET);
  peer *s = target_peer(e);
  WAIT(e, s->err || s->eof, 2);
  assert_int_equal(s->err, UV_ECONNRESET);
  expect_reset(e); /* accepted by the kernel, reset by the relay */
  cmd(e, "restore");
  peer *c3 = client(e);
  ping(e, c3, 1);
  link_stats st;
  link_relay_stats(e->relay, &st);
  assert_int_equal(st.refused, 1);
  assert_int_equal(st.open, 1);
  assert_false(st.cut);
}

static void test_stall_restore(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  e->mode = P_ECHO;
  peer *c = client(e);
  ping(e, c, 1);
  cmd(e, "stall");
  peer_write(c, e->data, 100);
  uint64_t t0 = uv_hrtime();
  WAIT(e, c->rx > 100 || c->err, 0.5);
  assert_int_equal(c->rx, 100); /* nothing through, and the connection stays */
  assert_int_equal(c->err, 0);
  cmd(e, "restore");
  WAIT(e, c->rx == 200 || c->err, 2);
  assert_int_equal(c->rx, 200);
  expect_within("echo held by a stall, after restore", secs_since(t0), 0.5, 0.7);
}

static void test_connection_limit(void **state) {
  env *e = *state;
  relay_start(e, 2, 0);
  e->mode = P_ECHO;
  peer *a = client(e), *b = client(e);
  ping(e, a, 1);
  ping(e, b, 1);
  expect_reset(e);
  ping(e, a, 1);
}

static void test_target_refuses(void **state) {
  env *e = *state;
  /* a port nobody listens on: bind one, keep it unlistened */
  uv_tcp_t hole;
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof got;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&e->loop, &hole);
  assert_int_equal(uv_tcp_bind(&hole, (const struct sockaddr *)&a, 0), 0);
  uv_tcp_getsockname(&hole, (struct sockaddr *)&got, &len);
  relay_start(e, 0, ntohs(((struct sockaddr_in *)&got)->sin_port));
  expect_reset(e);
  link_stats st;
  link_relay_stats(e->relay, &st);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.open, 0);
  uv_close((uv_handle_t *)&hole, NULL);
}

static void expect_reply(env *e, const char *line, const char *prefix) {
  char reply[LINK_REPLY_MAX];
  int rc = link_command(e->relay, line, reply, sizeof reply);
  if (strncmp(reply, prefix, strlen(prefix)) != 0) fail_msg("'%s' -> '%s', want '%s...'", line, reply, prefix);
  assert_int_equal(rc != 0, strncmp(prefix, "error", 5) == 0);
}

static void test_commands(void **state) {
  env *e = *state;
  relay_start(e, 0, 0);
  expect_reply(e, "rate up=18.88 down=50", "ok up rate=18.88 delay=0 loss=0 down rate=50 delay=0 loss=0");
  expect_reply(e, "  rtt 40  ", "ok up rate=18.88 delay=20 loss=0 down rate=50 delay=20");
  expect_reply(e, "delay down=5", "ok up rate=18.88 delay=20 loss=0 down rate=50 delay=5");
  expect_reply(e, "loss up=0.01", "ok up rate=18.88 delay=20 loss=0.01");
  expect_reply(e, "rate unlimited", "ok up rate=unlimited");
  expect_reply(e, "preset 3g", "ok up rate=1.1 delay=60 loss=0 down rate=2 delay=60 loss=0");
  expect_reply(e, "preset lte", "ok up rate=5.85 delay=25 loss=0 down rate=13");
  expect_reply(e, "preset offline", "ok up rate=0 delay=25 loss=0 down rate=0");
  expect_reply(e, "preset wifi", "ok up rate=18.88 delay=10 loss=0 down rate=50");
  expect_reply(e, "stall", "ok up rate=18.88");
  expect_reply(e, "stats", "ok {\"uptime_s\":");
  expect_reply(e, "restore", "ok up");
  expect_reply(e, "help", "ok commands:");
  expect_reply(e, "frobnicate", "error unknown command 'frobnicate' (try help)");
  expect_reply(e, "", "error empty command");
  expect_reply(e, "rate", "error rate takes a value for both ways");
  expect_reply(e, "rate abc", "error rate: 'abc' is not a number");
  expect_reply(e, "rate up=1 up=2", "error rate: a way given twice");
  expect_reply(e, "rate 8 9", "error rate: '8': expected up=VALUE or down=VALUE");
  expect_reply(e, "rate sideways=3", "error rate: 'sideways=3': expected up=VALUE or down=VALUE");
  expect_reply(e, "rate -1", "error rate: -1 is out of range");
  expect_reply(e, "rate nan", "error rate: 'nan' is not a number");
  expect_reply(e, "delay 1e9", "error delay: 1e9 ms is out of range");
  expect_reply(e, "loss 1", "error loss: 1 is out of range");
  expect_reply(e, "rtt", "error rtt takes one value");
  expect_reply(e, "cut now", "error cut takes no arguments");
  expect_reply(e, "preset 5g", "error unknown preset '5g' (wifi, lte, 4g, 3g, offline)");
  expect_reply(e, "trace up=/nonexistent/x.up", "error trace /nonexistent/x.up: No such file");
  expect_reply(e, "a b c d e f", "error too many words");
  char good[128], line[300];
  snprintf(good, sizeof good, "%s/ok.up", e->dir);
  FILE *f = fopen(good, "w");
  assert_non_null(f);
  fputs("1\n", f);
  fclose(f);
  snprintf(line, sizeof line, "trace up=%s down=/nonexistent/y.down", good);
  expect_reply(e, line, "error trace /nonexistent/y.down: No such file");
  snprintf(line, sizeof line, "trace %s", good);
  expect_reply(e, "stats", "ok {");
  link_dir_settings before;
  link_relay_settings(e->relay, LINK_UP, &before);
  assert_string_equal(before.trace, ""); /* the up file loaded, but was not set without the down one */
  char long_line[LINK_LINE_MAX + 8];
  memset(long_line, 'x', sizeof long_line - 1);
  long_line[sizeof long_line - 1] = 0;
  expect_reply(e, long_line, "error line longer than 1024 bytes");
  /* the failed commands changed nothing */
  expect_reply(e, "stats", "ok {");
  char reply[LINK_REPLY_MAX];
  link_command(e->relay, "stats", reply, sizeof reply);
  assert_non_null(strstr(reply, "\"up\":{\"bytes_in\":0,"));
  assert_non_null(strstr(reply, "\"rate_mbps\":18.88,\"trace\":null}"));
  assert_non_null(strstr(reply, "\"stalled\":false"));

  /* schedules: steps are checked when they are added */
  link_control *ctl;
  char err[LINK_REPLY_MAX];
  assert_int_equal(link_control_new(e->relay, NULL, &ctl, err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "at 0.2: stall", "--at", err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "0.1s rate up=2", "--at", err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "soon rate 8", "--at", err, sizeof err), CLEAVE_EINVAL);
  assert_non_null(strstr(err, "expected 'SECONDS COMMAND'"));
  assert_int_equal(link_control_add_step(ctl, "3 warp 9", "x.sched:4", err, sizeof err), CLEAVE_EINVAL);
  assert_string_equal(err, "x.sched:4: unknown command 'warp' (try help)");
  assert_int_equal(link_control_add_step(ctl, "3 trace /nonexistent.csv", "--at", err, sizeof err), CLEAVE_EINVAL);
  link_control_close(ctl, NULL, NULL);
  assert_int_equal(link_control_new(e->relay, &e->relay_addr, &ctl, err, sizeof err), CLEAVE_EIO);
  assert_null(ctl);
  /* e->relay_addr is taken: that failure closes its own handles on the loop */
  assert_int_equal(link_control_new(e->relay, NULL, &ctl, err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "0 rate 8", "--at", err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "0.2 stall", "--at", err, sizeof err), 0);
  assert_int_equal(link_control_add_step(ctl, "0.1 rate up=2", "--at", err, sizeof err), 0); /* steps sort */
  link_control_start(ctl);
  link_dir_settings s;
  link_relay_settings(e->relay, LINK_UP, &s);
  assert_float_equal(s.rate_mbps, 8, 0);
  link_stats st = {0};
  uint64_t t0 = uv_hrtime();
  WAIT(e, (link_relay_stats(e->relay, &st), st.stalled), 2);
  assert_true(st.stalled);
  expect_within("a step at 0.2 s", secs_since(t0), 0.19, 0.4);
  link_relay_settings(e->relay, LINK_UP, &s);
  assert_float_equal(s.rate_mbps, 2, 0);
  link_control_close(ctl, NULL, NULL);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rate_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mahimahi_trace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_csv_trace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loss_intact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loss_model, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cut_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stall_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_target_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
