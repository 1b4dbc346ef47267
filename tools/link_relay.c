/* tools: cleave-link's relay: sockets, connections and their streams (the model is described in link_relay.h; the
 * link itself is in link_shaper.c). */
#include "link_relay_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void link_flow_update_reading(flow *f);
void link_dir_transmit(link_dir *d);
void link_conn_abort(conn *c, bool rst, const char *why);

void link_relay_log(link_relay *r, int verbose, const char *fmt, ...) {
  if (!r->cfg.log) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  r->cfg.log(r->cfg.log_user, verbose, msg);
}

int link_fail(char *err, size_t cap, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && cap) vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return code;
}

/* ---- addresses ---- */

void link_config_defaults(link_config *c) {
  memset(c, 0, sizeof *c);
  c->queue_bytes = 128 * 1024;
  c->max_connections = 256;
  c->connect_timeout_ms = 5000;
  c->socket_buffer = 16 * 1024;
  c->seed = 1;
}

int link_parse_addr(const char *s, struct sockaddr_storage *out, char *err, size_t cap) {
  char host[64];
  const char *colon;
  memset(out, 0, sizeof *out);
  if (!s || !*s) return link_fail(err, cap, CLEAVE_EINVAL, "empty address (HOST:PORT)");
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
      return link_fail(err, cap, CLEAVE_EINVAL, "'%s' is not [IPV6]:PORT", s);
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = 0;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host || memchr(s, ':', (size_t)(colon - s)))
      return link_fail(err, cap, CLEAVE_EINVAL, "'%s' is not HOST:PORT (IPv6 goes in brackets: [::1]:PORT)", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
  }
  const char *p = colon + 1;
  long port = 0;
  if (!*p || strlen(p) > 5) return link_fail(err, cap, CLEAVE_EINVAL, "'%s': the port must be 0-65535", s);
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return link_fail(err, cap, CLEAVE_EINVAL, "'%s': the port must be 0-65535", s);
    port = port * 10 + (*p - '0');
  }
  if (port > 65535) return link_fail(err, cap, CLEAVE_EINVAL, "'%s': the port must be 0-65535", s);
  if (s[0] == '[' ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out)
                  : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out))
    return link_fail(err, cap, CLEAVE_EINVAL, "'%s' is not a numeric IP%s address (no names are resolved)", host,
                     s[0] == '[' ? "v6" : "v4");
  return 0;
}

void link_format_addr(const struct sockaddr *sa, char *buf, size_t cap) {
  char host[64] = "?";
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, host, sizeof host);
    snprintf(buf, cap, "[%s]:%d", host, ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, host, sizeof host);
    snprintf(buf, cap, "%s:%d", host, ntohs(a->sin_port));
  }
}

/* ---- writing to the sink ---- */

typedef struct write_req {
  uv_write_t req;
  flow *f;
  size_t len;
} write_req;

static void wr_normalize(flow *f) {
  while (f->wr && f->wr->next && f->issued >= f->wr->start + f->wr->len)
    f->wr = f->wr->next;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  flow *f = req->data;
  conn *c = f->c;
  if (c->closing) return;
  if (status) {
    link_conn_abort(c, true, uv_strerror(status));
    return;
  }
  f->shut_done = true;
  if (c->f[0].shut_done && c->f[1].shut_done) link_conn_abort(c, false, NULL); /* both ways finished: close */
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  flow *f = w->f;
  size_t len = w->len;
  free(w);
  conn *c = f->c;
  if (c->closing) return;
  if (status) {
    link_conn_abort(c, true, uv_strerror(status));
    return;
  }
  link_dir *d = &c->r->d[f->dir];
  f->done += len;
  d->held -= len;
  d->bytes_out += len;
  wr_normalize(f);
  while (f->head != f->wr && f->head->start + f->head->len <= f->done) {
    chunk *k = f->head;
    f->head = k->next;
    free(k);
  }
  link_dir_update_pause(d);
}

/* Writes what has arrived, and the FIN after it. */
void link_flow_flush(flow *f) {
  conn *c = f->c;
  if (c->closing) return;
  while (f->issued < f->arrived) {
    uv_buf_t bufs[WRITE_BUFS];
    unsigned nb = 0;
    size_t total = 0;
    wr_normalize(f);
    for (chunk *k = f->wr; k && nb < WRITE_BUFS && f->issued + total < f->arrived; k = k->next) {
      size_t off = (size_t)(f->issued + total - k->start);
      size_t n = link_min(k->len - off, (size_t)(f->arrived - f->issued - total));
      if (n) bufs[nb++] = uv_buf_init(k->data + off, (unsigned)n);
      total += n;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
      link_conn_abort(c, true, "out of memory");
      return;
    }
    w->f = f;
    w->len = total;
    int rc = uv_write(&w->req, (uv_stream_t *)f->dst, bufs, nb, on_write);
    if (rc) {
      free(w);
      link_conn_abort(c, true, uv_strerror(rc));
      return;
    }
    f->issued += total;
  }
  if (f->fin_arrived && !f->shut_sent) {
    f->shut_sent = true;
    f->shut.data = f;
    int rc = uv_shutdown(&f->shut, (uv_stream_t *)f->dst, on_shutdown);
    if (rc) link_conn_abort(c, true, uv_strerror(rc));
  }
}

/* ---- reading from the source ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn *c = h->data;
  link_relay *r = c->r;
  link_dir *d = &r->d[(uv_tcp_t *)h == &c->client ? LINK_UP : LINK_DOWN];
  size_t room = r->cfg.queue_bytes > d->queued ? r->cfg.queue_bytes - d->queued : 0;
  if (room < 4096) room = 4096; /* the queue's bound is overshot by at most one small read */
  *buf = uv_buf_init(r->rbuf, (unsigned)link_min(room, READ_MAX));
}

static int flow_append(flow *f, const char *p, size_t n) {
  uint64_t pos = f->read;
  chunk *t = f->tail;
  if (t && t->len < t->cap) {
    size_t k = link_min(n, t->cap - t->len);
    memcpy(t->data + t->len, p, k);
    t->len += k;
    p += k;
    n -= k;
    pos += k;
  }
  if (!n) return 0;
  size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
  chunk *k = malloc(sizeof *k + cap);
  if (!k) return UV_ENOMEM;
  k->next = NULL;
  k->start = pos;
  k->len = n;
  k->cap = cap;
  memcpy(k->data, p, n);
  if (t)
    t->next = k;
  else
    f->head = f->wr = k;
  f->tail = k;
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *c = s->data;
  link_relay *r = c->r;
  int dir = (uv_tcp_t *)s == &c->client ? LINK_UP : LINK_DOWN;
  flow *f = &c->f[dir];
  link_dir *d = &r->d[dir];
  if (nread == 0 || c->closing) return;
  uint64_t now = uv_hrtime();
  if (nread == UV_EOF) {
    f->src_eof = true;
    link_flow_update_reading(f);
    if (f->departed == f->read) link_push_fin(d, f, now);
    return;
  }
  if (nread < 0) {
    link_conn_abort(c, true, uv_strerror((int)nread));
    return;
  }
  if (flow_append(f, buf->base, (size_t)nread)) {
    link_conn_abort(c, true, "out of memory");
    return;
  }
  if (!d->queued && !d->debt) link_dir_sync(d, now);
  f->read += (size_t)nread;
  d->queued += (size_t)nread;
  d->held += (size_t)nread;
  d->bytes_in += (size_t)nread;
  link_rr_add(d, f);
  link_dir_update_pause(d);
  link_dir_transmit(d);
}

void link_flow_update_reading(flow *f) {
  conn *c = f->c;
  link_relay *r = c->r;
  bool want = c->state == C_OPEN && !c->closing && !f->src_eof && !r->stalled && !r->closing && !r->d[f->dir].paused;
  if (want == f->reading) return;
  f->reading = want;
  if (!want) {
    uv_read_stop((uv_stream_t *)f->src);
    return;
  }
  int rc = uv_read_start((uv_stream_t *)f->src, on_alloc, on_read);
  if (rc) link_conn_abort(c, true, uv_strerror(rc));
}

/* ---- connections ---- */

static void relay_maybe_closed(link_relay *r) {
  if (!r->closing || r->handles || r->conns_alive) return;
  for (int i = 0; i < 2; i++) {
    cleave_trace_free(r->d[i].trace);
    free(r->d[i].recs);
  }
  void (*cb)(void *) = r->close_cb;
  void *arg = r->close_arg;
  free(r);
  if (cb) cb(arg);
}

static void on_conn_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles) return;
  for (int i = 0; i < 2; i++)
    for (chunk *k = c->f[i].head, *n; k; k = n) {
      n = k->next;
      free(k);
    }
  link_relay *r = c->r;
  free(c);
  r->conns_alive--;
  relay_maybe_closed(r);
}

/* Closes a TCP handle, with an RST (SO_LINGER 0) when rst. uv_tcp_close_reset refuses a handle that was shut
 * down; Linux resets those as well, so the linger is set by hand there. */
static void close_tcp(uv_tcp_t *h, bool rst) {
  if (uv_is_closing((uv_handle_t *)h)) return;
  if (rst && uv_tcp_close_reset(h, on_conn_handle_closed) == 0) return;
  uv_os_fd_t fd;
  if (rst && uv_fileno((uv_handle_t *)h, &fd) == 0) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  uv_close((uv_handle_t *)h, on_conn_handle_closed);
}

void link_conn_abort(conn *c, bool rst, const char *why) {
  if (c->closing) return;
  link_relay *r = c->r;
  c->closing = true;
  if (why) link_relay_log(r, 1, "connection %llu: %s%s", (unsigned long long)c->id, rst ? "reset: " : "", why);
  for (int i = 0; i < 2; i++) {
    flow *f = &c->f[i];
    link_dir *d = &r->d[i];
    link_rr_remove(d, f);
    d->queued -= (size_t)(f->read - f->departed);
    d->held -= (size_t)(f->read - f->done);
    for (size_t k = 0; k < d->rn; k++)
      if (d->recs[(d->rhead + k) % d->rcap].c == c) d->recs[(d->rhead + k) % d->rcap].c = NULL;
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    r->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  r->open--;
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  close_tcp(&c->client, rst);
  if (c->handles == 3) close_tcp(&c->server, rst);
  for (int i = 0; i < 2; i++)
    link_dir_update_pause(&r->d[i]);
  for (int i = 0; i < 2; i++)
    link_dir_transmit(&r->d[i]); /* the queue may have held only this connection's bytes */
}

static void conn_open(conn *c) {
  c->state = C_OPEN;
  link_relay_log(c->r, 1, "connection %llu: open", (unsigned long long)c->id);
  link_flow_update_reading(&c->f[0]);
  link_flow_update_reading(&c->f[1]);
}

static void on_conn_timer(uv_timer_t *t) {
  conn *c = t->data;
  if (c->state == C_HANDSHAKE) {
    conn_open(c);
    return;
  }
  c->r->failed++;
  link_relay_log(c->r, 0, "connection %llu: no connection to the target within %d ms", (unsigned long long)c->id,
                 c->r->cfg.connect_timeout_ms);
  link_conn_abort(c, true, NULL);
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (c->closing) return;
  if (status) {
    c->r->failed++;
    link_relay_log(c->r, 0, "connection %llu: target: %s", (unsigned long long)c->id, uv_strerror(status));
    link_conn_abort(c, true, NULL);
    return;
  }
  /* The client's connect finished at once on the relay's accept; over the link it would take one RTT. */
  uint64_t ready = c->t_accept + link_rtt_ns(c->r), now = uv_hrtime();
  uv_timer_stop(&c->timer);
  c->state = C_HANDSHAKE;
  if (ready <= now) {
    conn_open(c);
    return;
  }
  link_arm_at(&c->timer, on_conn_timer, ready);
}

/* Small buffers keep the bytes in the relay's queue, where the model applies: with Linux's defaults (autotuned
 * to megabytes) the kernel would absorb a whole upload into the sockets between the peers and the relay, the
 * sender would see its writes complete long before the link carried them, HTTP/2 flow control would run
 * against the kernel instead of the link, and a stall would leak what the buffers hold. */
static void small_buffers(link_relay *r, uv_tcp_t *h) {
  int v = r->cfg.socket_buffer;
  uv_recv_buffer_size((uv_handle_t *)h, &v);
  v = r->cfg.socket_buffer;
  uv_send_buffer_size((uv_handle_t *)h, &v);
  uv_tcp_nodelay(h, 1); /* the model decides when bytes go; Nagle's algorithm would hold small ones back */
}

static void on_reject_closed(uv_handle_t *h) { free(h); }

static void reject(link_relay *r, uv_stream_t *l, const char *why) {
  uv_tcp_t *h = malloc(sizeof *h);
  if (!h || uv_tcp_init(r->loop, h)) {
    free(h);
    return;
  }
  r->refused++;
  if (uv_accept(l, (uv_stream_t *)h) == 0) {
    link_relay_log(r, 1, "connection refused: %s", why);
    if (uv_tcp_close_reset(h, on_reject_closed) == 0) return;
  }
  uv_close((uv_handle_t *)h, on_reject_closed);
}

static void on_connection(uv_stream_t *l, int status) {
  link_relay *r = l->data;
  if (status < 0) {
    link_relay_log(r, 0, "accept: %s", uv_strerror(status));
    return;
  }
  if (r->cut) {
    reject(r, l, "the link is cut");
    return;
  }
  if (r->open >= (uint64_t)r->cfg.max_connections) {
    reject(r, l, "--max-connections reached");
    return;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    reject(r, l, "out of memory");
    return;
  }
  c->r = r;
  c->id = ++r->next_id;
  c->t_accept = uv_hrtime();
  uv_tcp_init(r->loop, &c->client);
  uv_timer_init(r->loop, &c->timer);
  c->client.data = c->server.data = c->timer.data = c->connect.data = c;
  c->handles = 2;
  r->conns_alive++;
  r->accepted++;
  r->open++;
  c->next = r->conns;
  if (r->conns) r->conns->prev = c;
  r->conns = c;
  for (int i = 0; i < 2; i++) {
    c->f[i].c = c;
    c->f[i].dir = i;
    c->f[i].src = i == LINK_UP ? &c->client : &c->server;
    c->f[i].dst = i == LINK_UP ? &c->server : &c->client;
  }
  if (uv_accept(l, (uv_stream_t *)&c->client)) {
    link_conn_abort(c, true, "accept failed");
    return;
  }
  small_buffers(r, &c->client);
  /* _ex creates the socket now, so that its buffers are small before the handshake sets the window scale */
  int rc = uv_tcp_init_ex(r->loop, &c->server, r->cfg.target.ss_family);
  if (rc) {
    link_conn_abort(c, true, uv_strerror(rc));
    return;
  }
  c->handles = 3;
  small_buffers(r, &c->server);
  rc = uv_tcp_connect(&c->connect, &c->server, (const struct sockaddr *)&r->cfg.target, on_connect);
  if (rc) {
    r->failed++;
    link_relay_log(r, 0, "connection %llu: target: %s", (unsigned long long)c->id, uv_strerror(rc));
    link_conn_abort(c, true, NULL);
    return;
  }
  uv_timer_start(&c->timer, on_conn_timer, (uint64_t)r->cfg.connect_timeout_ms, 0);
  link_relay_log(r, 1, "connection %llu: accepted", (unsigned long long)c->id);
}

/* ---- the relay ---- */

static void on_relay_handle_closed(uv_handle_t *h) {
  link_relay *r = h->data;
  r->handles--;
  relay_maybe_closed(r);
}

int link_relay_new(cleave_ctx *ctx, uv_loop_t *loop, const link_config *cfg, link_relay **out, char *err,
                   size_t cap) {
  *out = NULL;
  if (cfg->queue_bytes < 2 * PACKET || cfg->max_connections < 1 || cfg->connect_timeout_ms < 1 ||
      cfg->socket_buffer < 1024)
    return link_fail(err, cap, CLEAVE_EINVAL,
                     "relay: queue, connections, connect timeout or socket buffer too small");
  link_relay *r = calloc(1, sizeof *r);
  if (!r) return link_fail(err, cap, CLEAVE_ENOMEM, "relay: out of memory");
  r->ctx = ctx;
  r->loop = loop;
  r->cfg = *cfg;
  r->t_start = uv_hrtime();
  for (int i = 0; i < 2; i++) {
    link_dir *d = &r->d[i];
    d->r = r;
    d->dir = i;
    d->set.rate_mbps = INFINITY;
    d->rng = cfg->seed * 2 + (uint64_t)i; /* each way its own sequence */
    uv_timer_init(loop, &d->tx);
    uv_timer_init(loop, &d->rx);
    d->tx.data = d->rx.data = d;
  }
  r->handles = 4;
  int rc = uv_tcp_init_ex(loop, &r->listener, cfg->listen.ss_family);
  if (rc) {
    link_relay_close(r, NULL, NULL);
    return link_fail(err, cap, CLEAVE_EIO, "listen: %s", uv_strerror(rc));
  }
  r->handles++;
  r->listener.data = r;
  small_buffers(r, &r->listener); /* accepted sockets inherit them, window scale included */
  char name[80];
  link_format_addr((const struct sockaddr *)&cfg->listen, name, sizeof name);
  if ((rc = uv_tcp_bind(&r->listener, (const struct sockaddr *)&cfg->listen, 0)) ||
      (rc = uv_listen((uv_stream_t *)&r->listener, 128, on_connection))) {
    link_relay_close(r, NULL, NULL);
    return link_fail(err, cap, CLEAVE_EIO, "listen on %s: %s", name, uv_strerror(rc));
  }
  *out = r;
  return 0;
}

void link_relay_listen_addr(const link_relay *r, struct sockaddr_storage *out) {
  int len = sizeof *out;
  memset(out, 0, sizeof *out);
  uv_tcp_getsockname(&r->listener, (struct sockaddr *)out, &len);
}

uv_loop_t *link_relay_loop(const link_relay *r) { return r->loop; }

cleave_ctx *link_relay_ctx(const link_relay *r) { return r->ctx; }

void link_relay_close(link_relay *r, void (*cb)(void *arg), void *arg) {
  if (r->closing) return;
  r->closing = true;
  r->close_cb = cb;
  r->close_arg = arg;
  while (r->conns)
    link_conn_abort(r->conns, false, NULL);
  for (int i = 0; i < 2; i++) {
    r->d[i].tx.data = r->d[i].rx.data = r;
    uv_close((uv_handle_t *)&r->d[i].tx, on_relay_handle_closed);
    uv_close((uv_handle_t *)&r->d[i].rx, on_relay_handle_closed);
  }
  if (r->handles == 5) uv_close((uv_handle_t *)&r->listener, on_relay_handle_closed);
}

void link_relay_cut(link_relay *r) {
  if (!r->cut) link_relay_log(r, 0, "cut: resetting %llu connections", (unsigned long long)r->open);
  r->cut = true;
  while (r->conns)
    link_conn_abort(r->conns, true, "cut");
}

void link_relay_stall(link_relay *r) {
  if (r->stalled) return;
  link_relay_log(r, 0, "stall: %llu connections frozen", (unsigned long long)r->open);
  r->stalled = true;
  r->t_stall = uv_hrtime();
  for (int i = 0; i < 2; i++) {
    uv_timer_stop(&r->d[i].tx);
    uv_timer_stop(&r->d[i].rx);
  }
  for (conn *c = r->conns; c; c = c->next)
    for (int i = 0; i < 2; i++)
      link_flow_update_reading(&c->f[i]);
}

void link_relay_restore(link_relay *r) {
  r->cut = false;
  if (!r->stalled) return;
  r->stalled = false;
  uint64_t now = uv_hrtime(), dt = now - r->t_stall;
  link_relay_log(r, 0, "restore after a %.3f s stall", (double)dt / 1e9);
  for (int i = 0; i < 2; i++) { /* the stall froze the link: what was in flight is as far from arriving */
    link_dir *d = &r->d[i];
    for (size_t k = 0; k < d->rn; k++)
      d->recs[(d->rhead + k) % d->rcap].at += dt;
    if (d->last_at > r->t_stall) d->last_at += dt;
    if (d->busy_until > r->t_stall) d->busy_until += dt;
    link_dir_sync(d, now);
    link_dir_deliver(d);
  }
  for (conn *c = r->conns; c; c = c->next)
    for (int i = 0; i < 2; i++)
      link_flow_update_reading(&c->f[i]);
}

void link_relay_stats(const link_relay *r, link_stats *out) {
  memset(out, 0, sizeof *out);
  out->open = r->open;
  out->accepted = r->accepted;
  out->refused = r->refused;
  out->failed = r->failed;
  for (int i = 0; i < 2; i++) {
    const link_dir *d = &r->d[i];
    out->dir[i].bytes_in = d->bytes_in;
    out->dir[i].bytes_out = d->bytes_out;
    out->dir[i].packets = d->packets;
    out->dir[i].lost = d->lost;
    out->dir[i].queued = d->queued;
    out->dir[i].in_flight = d->held - d->queued;
    out->dir[i].set = d->set;
  }
  out->cut = r->cut;
  out->stalled = r->stalled;
  out->uptime_s = (double)(uv_hrtime() - r->t_start) / 1e9;
}
