/* remote: the HTTP/2 client (see h2_client.h). This file holds the calls, the pool and the timers;
 * h2_client_conn.c holds one connection (resolve, connect, TLS, nghttp2). */
#include "remote/h2_client_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- lists ---- */

void cl_h2c_list_push(call_list *l, cl_h2_call *k, bool front) {
  k->list = l;
  if (front) {
    k->prev = NULL;
    k->next = l->head;
    if (l->head)
      l->head->prev = k;
    else
      l->tail = k;
    l->head = k;
  } else {
    k->next = NULL;
    k->prev = l->tail;
    if (l->tail)
      l->tail->next = k;
    else
      l->head = k;
    l->tail = k;
  }
  l->n++;
}

void cl_h2c_list_remove(cl_h2_call *k) {
  call_list *l = k->list;
  if (!l) return;
  if (k->prev)
    k->prev->next = k->next;
  else
    l->head = k->next;
  if (k->next)
    k->next->prev = k->prev;
  else
    l->tail = k->prev;
  k->prev = k->next = NULL;
  k->list = NULL;
  l->n--;
}

void cl_h2c_ewma(double *avg, double sample) { *avg = *avg > 0 ? *avg + 0.25 * (sample - *avg) : sample; }

/* ---- timers ---- */

static void on_kick(uv_timer_t *t);
static void on_timer(uv_timer_t *t);

void cl_h2c_schedule(cl_h2_client *cl) {
  if (cl->handles_closing || uv_is_active((uv_handle_t *)&cl->kick)) return;
  uv_timer_start(&cl->kick, on_kick, 0, 0);
}

void cl_h2c_arm(cl_h2_client *cl, double at) {
  if (at <= 0 || cl->handles_closing) return;
  if (uv_is_active((uv_handle_t *)&cl->timer) && at >= cl->timer_at) return;
  double delay = at - cl_now_ms();
  cl->timer_at = at;
  uv_timer_start(&cl->timer, on_timer, delay > 0 ? (uint64_t)delay + 1 : 0, 0);
}

/* ---- calls ---- */

void cl_h2c_call_reset_reply(cleave_ctx *ctx, cl_h2_call *k) {
  for (int i = 0; i < k->n_hdrs; i++) {
    cl_free(ctx, (char *)k->hdrs[i].name);
    cl_free(ctx, (char *)k->hdrs[i].value);
  }
  k->n_hdrs = 0;
  k->status = 0;
  cl_free(ctx, k->rbody);
  k->rbody = NULL;
  k->rlen = k->rcap = 0;
  k->oom = false;
}

static void call_free(cl_h2_call *k) {
  cleave_ctx *ctx = k->cl->ctx;
  cl_h2c_call_reset_reply(ctx, k);
  cl_free(ctx, k);
}

/* Takes the call off its queue or stream; an open stream is reset with rst (unless NO_RST). */
static void call_detach(cl_h2_call *k, uint32_t rst) {
  cl_h2c_list_remove(k);
  conn *c = k->conn;
  if (c && k->stream_id > 0 && c->h2) {
    /* a stream whose HEADERS are not sent yet has no user data: nghttp2 never saw the call then */
    nghttp2_session_set_stream_user_data(c->h2, k->stream_id, NULL);
    if (rst != CL_H2C_NO_RST && c->state != CONN_CLOSED)
      nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, k->stream_id, rst);
  }
  k->conn = NULL;
  k->stream_id = 0;
}

void cl_h2c_call_finish(cl_h2_call *k, int err, uint32_t rst, const char *fmt, ...) {
  if (k->state == CALL_DONE) return;
  cl_h2_client *cl = k->cl;
  call_detach(k, rst);
  k->err = err;
  if (err) {
    int n = snprintf(k->msg, sizeof k->msg, "https://%s: ", cl->authority);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->msg + n, sizeof k->msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (!k->internal && err != CLEAVE_ECANCELED) cl->st.failures++;
  }
  k->state = CALL_DONE;
  cl_h2c_list_push(&cl->done, k, false);
  cl_h2c_schedule(cl);
}

void cl_h2c_call_requeue(cl_h2_call *k) {
  call_detach(k, CL_H2C_NO_RST);
  cl_h2c_call_reset_reply(k->cl->ctx, k);
  k->body_off = k->body_sent = 0;
  k->t_up0 = k->t_down0 = k->t_down1 = 0;
  k->eof_queued = k->up_done = false;
  k->retries++;
  k->state = CALL_QUEUED;
  cl_h2c_list_push(&k->cl->queue, k, true);
  cl_h2c_schedule(k->cl);
}

static bool header_ok(const cl_h2_header *h) {
  static const char *const banned[] = {"connection",        "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade",    "host"};
  if (!h->name || !h->value || !h->name[0] || h->name[0] == ':') return false;
  for (const char *p = h->name; *p; p++)
    if ((*p >= 'A' && *p <= 'Z') || *p <= ' ' || *p == 0x7f) return false;
  for (const char *p = h->value; *p; p++)
    if (*p == '\r' || *p == '\n') return false;
  for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
    if (strcmp(h->name, banned[i]) == 0) return false;
  return true;
}

/* One allocation: the call, its nghttp2 name/value array, then the strings it points to. */
static int call_new(cl_h2_client *cl, const struct cl_h2_client_request *req, cl_h2_client_cb cb, void *user,
                    cl_h2_call **out) {
  cleave_ctx *ctx = cl->ctx;
  *out = NULL;
  if (!req || !cb || !req->method || !req->method[0] || !req->path || req->path[0] != '/' ||
      (req->body_len && !req->body) || req->n_headers < 0 || (req->n_headers && !req->headers) || req->timeout_ms < 0)
    return cl_err(ctx, CLEAVE_EINVAL,
                  "https://%s: a request needs a method, a path starting with '/', a callback, "
                  "and a body pointer when body_len > 0",
                  cl->authority);
  bool has_auth = false;
  size_t strs = strlen(req->method) + strlen(req->path) + 2 + 24;
  for (int i = 0; i < req->n_headers; i++) {
    if (!header_ok(&req->headers[i]))
      return cl_err(ctx, CLEAVE_EINVAL,
                    "https://%s: header '%s' is not allowed (lower-case names, no pseudo- or "
                    "connection headers, no line breaks)",
                    cl->authority, req->headers[i].name ? req->headers[i].name : "(null)");
    if (strcmp(req->headers[i].name, "authorization") == 0) has_auth = true;
    strs += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
  }
  size_t n_nv = 4 + (size_t)req->n_headers + (cl->auth && !has_auth) + (req->body_len > 0);
  cl_h2_call *k = cl_calloc(ctx, 1, sizeof *k + n_nv * sizeof(nghttp2_nv) + strs);
  if (!k) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  k->cl = cl;
  k->cb = cb;
  k->user = user;
  k->nv = (nghttp2_nv *)(k + 1);
  char *s = (char *)(k->nv + n_nv);
  size_t n = 0;
#define NV(key, val)                                                                                                 \
  k->nv[n++] = (nghttp2_nv) { (uint8_t *)(key), (uint8_t *)(val), strlen(key), strlen(val), NGHTTP2_NV_FLAG_NONE }
  const char *method = s;
  s += sprintf(s, "%s", req->method) + 1;
  const char *path = s;
  s += sprintf(s, "%s", req->path) + 1;
  NV(":method", method);
  NV(":scheme", "https");
  NV(":authority", cl->authority);
  NV(":path", path);
  for (int i = 0; i < req->n_headers; i++) {
    const char *name = s;
    s += sprintf(s, "%s", req->headers[i].name) + 1;
    const char *value = s;
    s += sprintf(s, "%s", req->headers[i].value) + 1;
    NV(name, value);
  }
  if (cl->auth && !has_auth) NV("authorization", cl->auth);
  if (req->body_len) {
    const char *len = s;
    s += sprintf(s, "%zu", req->body_len) + 1;
    NV("content-length", len);
  }
#undef NV
  k->n_nv = n;
  k->body = req->body;
  k->body_len = req->body_len;
  k->timeout_ms = req->timeout_ms;
  *out = k;
  return 0;
}

static void enqueue(cl_h2_client *cl, cl_h2_call *k) {
  k->state = CALL_QUEUED;
  cl_h2c_list_push(&cl->queue, k, false);
  if (k->timeout_ms > 0) {
    k->deadline = cl_now_ms() + k->timeout_ms;
    cl_h2c_arm(cl, k->deadline);
  }
  cl_h2c_schedule(cl);
}

int cl_h2_client_request(cl_h2_client *cl, const struct cl_h2_client_request *req, cl_h2_client_cb cb, void *user,
                         cl_h2_call **call) {
  if (call) *call = NULL;
  if (!cl) return CLEAVE_EINVAL;
  if (cl->closing) return cl_err(cl->ctx, CLEAVE_EINVAL, "https://%s: the client is closing", cl->authority);
  cl_h2_call *k;
  int rc = call_new(cl, req, cb, user, &k);
  if (rc) return rc;
  cl->st.requests++;
  enqueue(cl, k);
  if (call) *call = k;
  return 0;
}

void cl_h2_call_cancel(cl_h2_call *k) {
  if (!k || k->state == CALL_DONE) return;
  cl_h2c_call_finish(k, CLEAVE_ECANCELED, NGHTTP2_CANCEL, "canceled");
}

/* ---- health probes ---- */

static void on_probe(void *user, int err, const cl_h2_reply *reply) {
  cl_h2_client *cl = user;
  cl->probe_out = false;
  if (err == CLEAVE_ECANCELED) return;
  if (!err && reply->status == 200) {
    cl->st.healthy = true;
    cl->st.consecutive_failures = 0;
  } else {
    cl->st.healthy = false;
    cl->st.consecutive_failures++;
  }
}

static void probe(cl_h2_client *cl) {
  if (cl->probe_out || cl->closing) return;
  int t = cl->cfg.health_interval_ms > cl->cfg.connect_timeout_ms ? cl->cfg.health_interval_ms
                                                                  : cl->cfg.connect_timeout_ms;
  struct cl_h2_client_request r = {.method = "GET", .path = cl->cfg.health_path, .timeout_ms = t};
  cl_h2_call *k;
  if (call_new(cl, &r, on_probe, cl, &k)) return; /* out of memory: the next tick tries again */
  k->internal = true;
  cl->probe_out = true;
  enqueue(cl, k);
}

/* ---- the pool ---- */

void cl_h2c_connect_failed(cl_h2_client *cl, int err, const char *msg) {
  cl->fails++;
  cl->st.consecutive_failures++;
  cl->st.healthy = false;
  double base = cl->cfg.backoff_min_ms;
  for (int i = 1; i < cl->fails && base < cl->cfg.backoff_max_ms; i++)
    base *= 2;
  if (base > cl->cfg.backoff_max_ms) base = cl->cfg.backoff_max_ms;
  /* xorshift: the jitter spreads clients that failed together, no need for a good generator */
  cl->rng ^= cl->rng << 13;
  cl->rng ^= cl->rng >> 17;
  cl->rng ^= cl->rng << 5;
  cl->backoff_until = cl_now_ms() + base / 2 + (base / 2) * (double)(cl->rng % 1024) / 1023.0;
  cl->last_err = err;
  snprintf(cl->last_msg, sizeof cl->last_msg, "%s", msg);
}

void cl_h2c_connect_ok(cl_h2_client *cl) {
  cl->fails = 0;
  cl->backoff_until = 0;
  cl->st.healthy = true;
  cl->st.consecutive_failures = 0;
}

static void pump(cl_h2_client *cl) {
  while (cl->queue.head && !cl->closing) {
    conn *best = NULL;
    int n_ready = 0, n_live = 0, n_connecting = 0;
    for (conn *c = cl->conns; c; c = c->next) {
      if (c->state == CONN_CLOSED || c->state == CONN_DRAINING) continue;
      n_live++;
      if (c->state != CONN_READY) {
        n_connecting++;
        continue;
      }
      n_ready++;
      if (cl_h2c_conn_has_room(c) && (!best || c->calls.n < best->calls.n)) best = c;
    }
    if (best) {
      cl_h2_call *k = cl->queue.head;
      cl_h2c_list_remove(k);
      cl_h2c_conn_submit(best, k);
      continue;
    }
    if (n_connecting || n_live >= cl->cfg.max_connections) return; /* wait for a connection or a free stream */
    double now = cl_now_ms();
    if (now < cl->backoff_until) {
      if (n_ready) return;
      /* the endpoint is down: say so now rather than let calls wait out the backoff */
      for (cl_h2_call *k; (k = cl->queue.head);)
        cl_h2c_call_finish(k, cl->last_err, CL_H2C_NO_RST, "%s (backing off: next attempt in %.0f ms)", cl->last_msg,
                           cl->backoff_until - now);
      return;
    }
    cl_h2c_conn_start(cl); /* may fail at once, which starts the backoff */
  }
}

static void deliver(cl_h2_client *cl) {
  for (cl_h2_call *k; (k = cl->done.head);) {
    cl_h2c_list_remove(k);
    cl_h2_reply r = {.status = k->status,
                     .headers = k->hdrs,
                     .n_headers = k->n_hdrs,
                     .body = k->rbody ? k->rbody : (const uint8_t *)"",
                     .body_len = k->rlen};
    if (k->err) cl_err(cl->ctx, k->err, "%s", k->msg);
    k->cb(k->user, k->err, k->err ? NULL : &r);
    call_free(k);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  cl_h2_client *cl = h->data;
  cl->handles_closed++;
  cl_h2c_try_free(cl);
}

void cl_h2c_try_free(cl_h2_client *cl) {
  if (!cl->closing || cl->handles_closed < 2 || cl->conns) return;
  void (*done)(void *) = cl->done_cb;
  void *arg = cl->done_arg;
  cleave_ctx *ctx = cl->ctx;
  cl_tls_ctx_free(cl->tls);
  cl_free(ctx, cl->strs);
  cl_free(ctx, cl);
  if (done) done(arg);
}

static void on_kick(uv_timer_t *t) {
  cl_h2_client *cl = t->data;
  pump(cl);
  for (conn *c = cl->conns, *next; c; c = next) {
    next = c->next;
    cl_h2c_conn_flush(c);
  }
  deliver(cl);
  if (cl->closing && !cl->handles_closing && !cl->done.head) {
    cl->handles_closing = true;
    uv_close((uv_handle_t *)&cl->timer, on_handle_closed);
    uv_close((uv_handle_t *)&cl->kick, on_handle_closed);
  }
}

static void expire(call_list *l, double now) {
  for (cl_h2_call *k = l->head, *next; k; k = next) {
    next = k->next;
    if (k->deadline > 0 && k->deadline <= now)
      cl_h2c_call_finish(k, CLEAVE_ETIMEDOUT, NGHTTP2_CANCEL, "no response within %d ms%s", k->timeout_ms,
                         k->conn ? "" : " (still waiting for a connection)");
  }
}

static double earliest(const call_list *l, double t) {
  for (const cl_h2_call *k = l->head; k; k = k->next)
    if (k->deadline > 0 && (t <= 0 || k->deadline < t)) t = k->deadline;
  return t;
}

static void on_timer(uv_timer_t *t) {
  cl_h2_client *cl = t->data;
  double now = cl_now_ms();
  expire(&cl->queue, now);
  for (conn *c = cl->conns, *next; c; c = next) {
    next = c->next;
    expire(&c->calls, now);
    if (c->state != CONN_CLOSED && !c->got_settings && c->deadline <= now)
      cl_h2c_conn_fail(c, CLEAVE_ETIMEDOUT, "no %s within %d ms",
                       c->state < CONN_READY ? "connection" : "HTTP/2 SETTINGS from the server",
                       cl->cfg.connect_timeout_ms);
  }
  if (cl->cfg.health_interval_ms > 0 && now >= cl->next_health) {
    probe(cl);
    cl->next_health = now + cl->cfg.health_interval_ms;
  }
  if (cl->cfg.ping_interval_ms > 0 && now >= cl->next_ping) {
    for (conn *c = cl->conns, *next; c; c = next) {
      next = c->next;
      cl_h2c_conn_ping(c);
    }
    cl->next_ping = now + cl->cfg.ping_interval_ms;
  }
  /* the next thing due */
  double at = earliest(&cl->queue, 0);
  for (conn *c = cl->conns; c; c = c->next) {
    at = earliest(&c->calls, at);
    if (c->state != CONN_CLOSED && !c->got_settings && (at <= 0 || c->deadline < at)) at = c->deadline;
  }
  if (cl->cfg.health_interval_ms > 0 && (at <= 0 || cl->next_health < at)) at = cl->next_health;
  if (cl->cfg.ping_interval_ms > 0 && (at <= 0 || cl->next_ping < at)) at = cl->next_ping;
  cl_h2c_arm(cl, at);
}

/* ---- the client ---- */

static void *mem_malloc(size_t n, void *u) { return cl_malloc(u, n); }
static void mem_free(void *p, void *u) { cl_free(u, p); }
static void *mem_calloc(size_t n, size_t size, void *u) { return cl_calloc(u, n, size); }
static void *mem_realloc(void *p, size_t n, void *u) { return cl_realloc(u, p, n); }

/* "https://host[:port][/]" into host (brackets of an IPv6 address removed), port and the authority. */
static int parse_url(cleave_ctx *ctx, const char *url, char *host, size_t host_len, int *port) {
  if (!url || strncmp(url, "https://", 8) != 0)
    return cl_err(ctx, CLEAVE_EINVAL, "URL '%s': expected https://host[:port]", url ? url : "(null)");
  const char *p = url + 8, *end;
  size_t n;
  if (*p == '[') {
    if (!(end = strchr(p, ']'))) return cl_err(ctx, CLEAVE_EINVAL, "URL '%s': unterminated '['", url);
    n = (size_t)(end - p - 1);
    p++;
    end++;
  } else {
    n = strcspn(p, ":/");
    end = p + n;
  }
  if (n == 0 || n >= host_len) return cl_err(ctx, CLEAVE_EINVAL, "URL '%s': no host, or a host too long", url);
  memcpy(host, p, n);
  host[n] = 0;
  *port = 443;
  if (*end == ':') {
    long v = 0;
    const char *d = end + 1;
    while (*d >= '0' && *d <= '9' && v <= 65535)
      v = v * 10 + (*d++ - '0');
    if (d == end + 1 || v < 1 || v > 65535) return cl_err(ctx, CLEAVE_EINVAL, "URL '%s': bad port", url);
    *port = (int)v;
    end = d;
  }
  if (*end == '/') end++;
  if (*end) return cl_err(ctx, CLEAVE_EINVAL, "URL '%s': a path after the port is not supported", url);
  return 0;
}

int cl_h2_client_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_h2_client_config *cfg, cl_h2_client **out) {
  *out = NULL;
  if (!loop || !cfg) return cl_err(ctx, CLEAVE_EINVAL, "http2 client: a loop and a configuration are required");
  char host[256];
  int port = 443, rc;
  if ((rc = parse_url(ctx, cfg->url, host, sizeof host, &port))) return rc;
  if (cfg->max_connections < 0 || cfg->connect_timeout_ms < 0 || cfg->health_interval_ms < 0 ||
      cfg->ping_interval_ms < 0 || cfg->backoff_min_ms < 0 || cfg->backoff_max_ms < 0)
    return cl_err(ctx, CLEAVE_EINVAL, "http2 client for %s: negative counts or times", cfg->url);
  if (cfg->token && strpbrk(cfg->token, "\r\n"))
    return cl_err(ctx, CLEAVE_EINVAL, "http2 client for %s: the token has a line break", cfg->url);
  const char *hp = cfg->health_path ? cfg->health_path : "/v2/health/ready";
  if (hp[0] != '/') return cl_err(ctx, CLEAVE_EINVAL, "health path '%s' must start with '/'", hp);

  /* the strings the client keeps, in one block */
  bool v6 = strchr(host, ':') != NULL;
  size_t need =
      strlen(host) + 1 + strlen(host) + 2 + 8 + 1 + strlen(hp) + 1 + (cfg->token ? strlen(cfg->token) + 8 : 0);
  cl_h2_client *cl = cl_calloc(ctx, 1, sizeof *cl);
  char *s = cl ? cl_malloc(ctx, need) : NULL;
  if (!s) {
    cl_free(ctx, cl);
    return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  }
  cl->strs = s;
  cl->host = s;
  s += sprintf(s, "%s", host) + 1;
  cl->authority = s;
  s += sprintf(s, v6 ? "[%s]:%d" : "%s:%d", host, port) + 1;
  cl->cfg = *cfg;
  cl->cfg.health_path = s;
  s += sprintf(s, "%s", hp) + 1;
  if (cfg->token) {
    cl->auth = s;
    sprintf(s, "Bearer %s", cfg->token);
  }
  cl->cfg.url = cl->cfg.ca_file = cl->cfg.cert_file = cl->cfg.key_file = cl->cfg.token = NULL; /* not kept */
  snprintf(cl->port_str, sizeof cl->port_str, "%d", port);
  if (!cl->cfg.max_connections) cl->cfg.max_connections = 2;
  if (!cl->cfg.connect_timeout_ms) cl->cfg.connect_timeout_ms = 5000;
  if (!cl->cfg.backoff_min_ms) cl->cfg.backoff_min_ms = 100;
  if (!cl->cfg.backoff_max_ms) cl->cfg.backoff_max_ms = 10000;
  if (cl->cfg.backoff_max_ms < cl->cfg.backoff_min_ms) cl->cfg.backoff_max_ms = cl->cfg.backoff_min_ms;
  if (!cl->cfg.max_response_bytes) cl->cfg.max_response_bytes = (size_t)1 << 30;
  cl->numeric = uv_ip4_addr(host, port, (struct sockaddr_in *)&cl->addr) == 0 ||
                uv_ip6_addr(host, port, (struct sockaddr_in6 *)&cl->addr) == 0;
  cl->ctx = ctx;
  cl->loop = loop;
  cl->st.load_queue = -1;
  cl->st.load_wait_ms = -1;
  cl->rng = (uint32_t)(uv_hrtime() ^ (uintptr_t)cl) | 1u;
  cl->mem = (nghttp2_mem){
      .mem_user_data = ctx, .malloc = mem_malloc, .free = mem_free, .calloc = mem_calloc, .realloc = mem_realloc};

  cl_tls_config tc = {.server = false,
                      .cert_file = cfg->cert_file,
                      .key_file = cfg->key_file,
                      .ca_file = cfg->ca_file,
                      .verify_peer = !cfg->insecure_skip_verify};
  if ((rc = cl_tls_ctx_new(ctx, &tc, &cl->tls))) {
    cl_free(ctx, cl->strs);
    cl_free(ctx, cl);
    return rc;
  }
  uv_timer_init(loop, &cl->timer);
  uv_timer_init(loop, &cl->kick);
  cl->timer.data = cl->kick.data = cl;
  if (cl->cfg.health_interval_ms > 0) {
    cl->next_health = cl_now_ms();
    cl_h2c_arm(cl, cl->next_health);
  }
  if (cl->cfg.ping_interval_ms > 0) cl->next_ping = cl_now_ms() + cl->cfg.ping_interval_ms;
  *out = cl;
  return 0;
}

void cl_h2_client_get_stats(const cl_h2_client *cl, cl_h2_client_stats *out) {
  *out = cl->st;
  out->connections = 0;
  for (const conn *c = cl->conns; c; c = c->next)
    if (c->state == CONN_READY || c->state == CONN_DRAINING) out->connections++;
}

void cl_h2_client_close(cl_h2_client *cl, void (*done)(void *arg), void *arg) {
  if (!cl || cl->closing) return;
  cl->closing = true;
  cl->done_cb = done;
  cl->done_arg = arg;
  for (cl_h2_call *k; (k = cl->queue.head);)
    cl_h2c_call_finish(k, CLEAVE_ECANCELED, CL_H2C_NO_RST, "the client is closing");
  for (conn *c = cl->conns, *next; c; c = next) {
    next = c->next;
    cl_h2c_conn_fail(c, CLEAVE_ECANCELED, "the client is closing");
  }
  uv_timer_stop(&cl->timer);
  cl_h2c_schedule(cl); /* delivers the callbacks, then closes the timers */
}

/* ---- Server-Timing ---- */

static bool tchar(char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ows(char c) { return c == ' ' || c == '\t'; }

static bool same_name(const char *a, size_t n, const char *b) { return strlen(b) == n && strncasecmp(a, b, n) == 0; }

/* A plain decimal ("12", "0.125"), independent of the locale; -1 otherwise. */
static double decimal(const char *s, size_t n) {
  double v = 0, scale = 1;
  bool digits = false, dot = false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' && !dot) {
      dot = true;
    } else if (s[i] >= '0' && s[i] <= '9') {
      digits = true;
      if (dot)
        v += (s[i] - '0') * (scale /= 10);
      else
        v = v * 10 + (s[i] - '0');
    } else {
      return -1;
    }
  }
  return digits && v < 1e15 ? v : -1;
}

double cl_h2_server_timing(const char *v, const char *metric) {
  if (!v || !metric || !*metric) return -1;
  size_t n = strnlen(v, CL_H2_SERVER_TIMING_MAX), i = 0;
  for (int entries = 0; i < n && entries < 64; entries++) {
    while (i < n && (ows(v[i]) || v[i] == ','))
      i++;
    size_t name = i;
    while (i < n && tchar(v[i]))
      i++;
    bool match = same_name(v + name, i - name, metric), bad = i == name, have_dur = false;
    double dur = -1;
    for (;;) { /* parameters: ; name = token-or-quoted-string */
      while (i < n && ows(v[i]))
        i++;
      if (i >= n || v[i] != ';') break;
      i++;
      while (i < n && ows(v[i]))
        i++;
      size_t pname = i;
      while (i < n && tchar(v[i]))
        i++;
      size_t plen = i - pname;
      while (i < n && ows(v[i]))
        i++;
      if (!plen || i >= n || v[i] != '=') {
        bad = true;
        break;
      }
      i++;
      while (i < n && ows(v[i]))
        i++;
      char val[32];
      size_t vl = 0;
      bool long_val = false;
      if (i < n && v[i] == '"') {
        for (i++; i < n && v[i] != '"'; i++) {
          if (v[i] == '\\' && i + 1 < n) i++;
          if (vl < sizeof val)
            val[vl++] = v[i];
          else
            long_val = true;
        }
        if (i >= n) {
          bad = true;
          break;
        }
        i++;
      } else {
        for (; i < n && tchar(v[i]); i++)
          if (vl < sizeof val)
            val[vl++] = v[i];
          else
            long_val = true;
      }
      if (same_name(v + pname, plen, "dur") && !have_dur) { /* the first dur counts */
        have_dur = true;
        dur = long_val ? -1 : decimal(val, vl);
      }
    }
    while (i < n && ows(v[i]))
      i++;
    if (i < n && v[i] != ',') { /* garbage: skip to the next entry, quoted strings whole */
      bad = true;
      for (bool quoted = false; i < n && (quoted || v[i] != ','); i++) {
        if (quoted && v[i] == '\\')
          i++;
        else if (v[i] == '"')
          quoted = !quoted;
      }
    }
    if (match) return bad ? -1 : dur;
  }
  return -1;
}
