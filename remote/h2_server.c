/* remote: HTTP/2 over TLS on libuv (see h2_server.h). */
#include "remote/h2_server.h"

#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/tls.h"

#define READ_CHUNK 65536
/* Large tensors: a 16 MiB stream window and a 64 MiB connection window keep a fast link busy. */
#define STREAM_WINDOW (16 << 20)
#define CONN_WINDOW (64 << 20)
#define MAX_STREAMS 128

typedef struct stream stream;
typedef struct conn conn;

struct stream {
  int32_t id;
  conn *c; /* NULL once the stream closed under a deferred exchange */
  cleave_ctx *ctx;
  stream *next;
  char *method, *path;
  cl_h2_header headers[CL_H2_MAX_HEADERS];
  int n_headers;
  uint8_t *body;
  size_t body_len, body_cap;
  size_t max_body; /* set with the policy */
  bool has_policy; /* max_body and discard decided */
  bool discard;    /* count the body, keep none of it */
  double t_begin;
  bool too_big, bad;
  bool deferred; /* the handler answers later, through cl_h2_pending_complete */
  cl_h2_request req;
  cl_h2_response res;
  size_t sent;
  char status[8], length[24];
};

/* A deferred exchange is its stream: it outlives the stream's closing (c == NULL then) until it is completed. */
struct cl_h2_pending {
  stream s;
};

struct conn {
  uv_tcp_t tcp;
  cl_h2_server *srv;
  conn *prev, *next;
  cl_tls tls;
  nghttp2_session *h2;
  stream *streams;
  int n_streams;
  bool closing, goaway;
  char peer[64];
  uv_shutdown_t shut;
  char buf[READ_CHUNK];
};

struct cl_h2_server {
  cleave_ctx *ctx;
  uv_loop_t *loop;
  uv_tcp_t listener;
  cl_h2_server_config cfg;
  conn *conns;
  int port;
  bool shutting_down, listener_closed;
  void (*done)(void *);
  void *done_arg;
};

typedef struct write_req {
  uv_write_t req;
  cl_h2_server *srv;
  char data[];
} write_req;

static void conn_close(conn *c);
static void conn_end(conn *c);
static void maybe_finish_shutdown(cl_h2_server *s);

/* ---- helpers ---- */

const char *cl_h2_header_find(const cl_h2_header *headers, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(headers[i].name, name) == 0) return headers[i].value;
  return NULL;
}

const char *cl_h2_request_header(const cl_h2_request *req, const char *name) {
  return cl_h2_header_find(req->headers, req->n_headers, name);
}

int cl_h2_error(cleave_ctx *ctx, cl_h2_response *res, int status, const char *message) {
  /* escape for a JSON string: quotes, backslashes and control characters */
  size_t n = strlen(message), cap = n * 6 + 16;
  char *b = cl_malloc(ctx, cap);
  if (!b) return CLEAVE_ENOMEM;
  size_t k = (size_t)snprintf(b, cap, "{\"error\":\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)message[i];
    if (ch == '"' || ch == '\\') {
      b[k++] = '\\';
      b[k++] = (char)ch;
    } else if (ch < 0x20) {
      k += (size_t)snprintf(b + k, cap - k, "\\u%04x", ch);
    } else {
      b[k++] = (char)ch;
    }
  }
  k += (size_t)snprintf(b + k, cap - k, "\"}");
  cl_free(ctx, res->body);
  res->status = status;
  res->content_type = "application/json";
  res->body = b;
  res->body_len = k;
  return 0;
}

static char *dup_bytes(cleave_ctx *ctx, const uint8_t *p, size_t n) {
  char *d = cl_malloc(ctx, n + 1);
  if (d) {
    memcpy(d, p, n);
    d[n] = 0;
  }
  return d;
}

static void stream_free(cleave_ctx *ctx, stream *s) {
  cl_free(ctx, s->method);
  cl_free(ctx, s->path);
  for (int i = 0; i < s->n_headers; i++) {
    cl_free(ctx, (char *)s->headers[i].name);
    cl_free(ctx, (char *)s->headers[i].value);
  }
  cl_free(ctx, s->body);
  cl_free(ctx, s->res.body);
  cl_free(ctx, s);
}

/* ---- output: nghttp2 -> TLS -> socket ---- */

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  (void)status; /* a failed write shows up as a read error or EOF, which closes the connection */
  cl_free(w->srv->ctx, w);
}

static int send_pending(conn *c) {
  cleave_ctx *ctx = c->srv->ctx;
  size_t n = cl_tls_pending(&c->tls);
  if (!n || c->closing) return 0;
  write_req *w = cl_malloc(ctx, sizeof *w + n);
  if (!w) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory sending %zu bytes", n);
  w->srv = c->srv;
  size_t got = cl_tls_take(&c->tls, w->data, n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)got);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (rc) {
    cl_free(ctx, w);
    return cl_err(ctx, CLEAVE_EIO, "socket write: %s", uv_strerror(rc));
  }
  return 0;
}

/* Moves everything nghttp2 wants to send through TLS to the socket; closes the connection when HTTP/2 is done. */
static void flush(conn *c) {
  cleave_ctx *ctx = c->srv->ctx;
  if (c->closing) return;
  while (c->h2 && nghttp2_session_want_write(c->h2)) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) {
      cl_log(ctx, CLEAVE_LOG_WARN, "http2: %s", nghttp2_strerror((int)n));
      conn_close(c);
      return;
    }
    if (n == 0) break;
    if (cl_tls_write(ctx, &c->tls, data, (size_t)n)) {
      conn_close(c);
      return;
    }
  }
  if (send_pending(c)) {
    conn_close(c);
    return;
  }
  if (c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
    conn_end(c);
  else if (c->goaway && c->n_streams == 0)
    conn_end(c);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t read_body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user) {
  (void)h2;
  (void)id;
  (void)user;
  stream *s = src->ptr;
  size_t left = s->res.body_len - s->sent, n = left < len ? left : len;
  if (n) memcpy(buf, s->res.body + s->sent, n);
  s->sent += n;
  if (s->sent == s->res.body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

int cl_h2_add_header(cl_h2_response *res, const char *name, const char *fmt, ...) {
  if (res->n_extra == (int)(sizeof res->extra / sizeof res->extra[0])) return CLEAVE_ELIMIT;
  size_t room = sizeof res->scratch - res->scratch_used;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(res->scratch + res->scratch_used, room, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= room) return CLEAVE_ELIMIT;
  res->extra[res->n_extra++] = (cl_h2_header){name, res->scratch + res->scratch_used};
  res->scratch_used += (size_t)n + 1;
  return 0;
}

cl_h2_pending *cl_h2_defer(cl_h2_response *res) {
  stream *s = (stream *)((char *)res - offsetof(stream, res));
  s->deferred = true;
  return (cl_h2_pending *)s;
}

bool cl_h2_is_deferred(const cl_h2_response *res) {
  const stream *s = (const stream *)((const char *)res - offsetof(stream, res));
  return s->deferred;
}

const cl_h2_request *cl_h2_pending_request(cl_h2_pending *p) { return &p->s.req; }
cl_h2_response *cl_h2_pending_response(cl_h2_pending *p) { return &p->s.res; }
bool cl_h2_pending_alive(const cl_h2_pending *p) { return p->s.c != NULL; }

static void submit(conn *c, stream *s);

void cl_h2_pending_complete(cl_h2_pending *p) {
  stream *s = &p->s;
  s->deferred = false;
  if (!s->c) { /* the stream closed while the work ran: nobody to answer */
    stream_free(s->ctx, s);
    return;
  }
  conn *c = s->c;
  submit(c, s);
  flush(c);
}

static void respond(conn *c, stream *s) {
  cleave_ctx *ctx = c->srv->ctx;
  s->req = (cl_h2_request){.method = s->method ? s->method : "",
                           .path = s->path ? s->path : "",
                           .headers = s->headers,
                           .n_headers = s->n_headers,
                           .body = s->body,
                           .body_len = s->body_len,
                           .peer = c->peer,
                           .t_begin = s->t_begin};
  cl_h2_response *res = &s->res;
  res->status = 500;
  if (s->bad)
    cl_h2_error(ctx, res, 400, "malformed request: too many headers or missing :method or :path");
  else if (s->too_big)
    cl_h2_error(ctx, res, 413, "request body over the server's limit");
  else
    c->srv->cfg.handler(c->srv->cfg.user, &s->req, res);
  if (!s->deferred) submit(c, s);
}

static void submit(conn *c, stream *s) {
  cl_h2_response *res = &s->res;
  if (res->status < 100 || res->status > 999) res->status = 500;
  snprintf(s->status, sizeof s->status, "%d", res->status);
  snprintf(s->length, sizeof s->length, "%zu", res->body_len);
  const char *ct = res->content_type ? res->content_type : "application/json";
  nghttp2_nv nv[3 + sizeof res->extra / sizeof res->extra[0]];
  int n = 0;
#define NV(k, v) nv[n++] = (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
  NV(":status", s->status);
  NV("content-type", ct);
  NV("content-length", s->length);
  for (int i = 0; i < res->n_extra && i < (int)(sizeof res->extra / sizeof res->extra[0]); i++)
    NV(res->extra[i].name, res->extra[i].value);
#undef NV
  nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_body};
  int rc = nghttp2_submit_response(c->h2, s->id, nv, (size_t)n, &dp);
  if (rc) nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
  conn *c = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  stream *s = cl_calloc(c->srv->ctx, 1, sizeof *s);
  if (!s) {
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  s->id = f->hd.stream_id;
  s->t_begin = cl_now_ms();
  s->c = c;
  s->ctx = c->srv->ctx;
  s->next = c->streams;
  c->streams = s;
  c->n_streams++;
  nghttp2_session_set_stream_user_data(h2, s->id, s);
  return 0;
}

/* The stream's body limit and whether its body is kept, decided once. HTTP/2 sends the pseudo-headers first, so
 * method and path are known by the first regular header or DATA frame. */
static void stream_policy(conn *c, stream *s) {
  if (s->has_policy) return;
  s->has_policy = true;
  s->max_body = c->srv->cfg.max_body;
  if (c->srv->cfg.body_limit && s->method && s->path)
    s->max_body = c->srv->cfg.body_limit(c->srv->cfg.user, s->method, s->path, &s->discard);
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user) {
  (void)flags;
  conn *c = user;
  cleave_ctx *ctx = c->srv->ctx;
  stream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (!s) return 0;
  if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    cl_free(ctx, s->method);
    if (!(s->method = dup_bytes(ctx, value, valuelen))) s->bad = true;
  } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    cl_free(ctx, s->path);
    if (!(s->path = dup_bytes(ctx, value, valuelen))) s->bad = true;
  } else if (namelen == 14 && memcmp(name, "content-length", 14) == 0 && !s->body) {
    /* reserve the body once instead of growing it, or refuse it before it arrives */
    char num[24];
    size_t k = valuelen < sizeof num - 1 ? valuelen : sizeof num - 1;
    memcpy(num, value, k);
    num[k] = 0;
    char *end;
    unsigned long long want = strtoull(num, &end, 10);
    stream_policy(c, s);
    if (*end || !k) {
      s->bad = true;
    } else if (want > s->max_body) {
      s->too_big = true;
    } else if (want && !s->discard) {
      if ((s->body = cl_malloc(ctx, (size_t)want))) s->body_cap = (size_t)want;
    }
  } else if (namelen && name[0] != ':') {
    if (s->n_headers == CL_H2_MAX_HEADERS) {
      s->bad = true;
      return 0;
    }
    char *k = dup_bytes(ctx, name, namelen), *v = dup_bytes(ctx, value, valuelen);
    if (!k || !v) {
      cl_free(ctx, k);
      cl_free(ctx, v);
      s->bad = true;
      return 0;
    }
    s->headers[s->n_headers++] = (cl_h2_header){k, v};
  }
  return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user) {
  (void)flags;
  conn *c = user;
  stream *s = nghttp2_session_get_stream_user_data(h2, id);
  if (!s || s->too_big || s->bad) return 0;
  stream_policy(c, s);
  if (s->body_len + len > s->max_body) {
    s->too_big = true;
    cl_free(c->srv->ctx, s->body);
    s->body = NULL;
    s->body_len = s->body_cap = 0;
    return 0;
  }
  if (s->discard) {
    s->body_len += len;
    return 0;
  }
  if (s->body_len + len > s->body_cap) {
    size_t cap = s->body_cap ? s->body_cap : 4096;
    while (cap < s->body_len + len)
      cap *= 2;
    uint8_t *b = cl_realloc(c->srv->ctx, s->body, cap);
    if (!b) {
      s->bad = true;
      return 0;
    }
    s->body = b;
    s->body_cap = cap;
  }
  memcpy(s->body + s->body_len, data, len);
  s->body_len += len;
  return 0;
}

static int on_frame(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
  conn *c = user;
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    stream *s = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (s) {
      if (!s->method || !s->path) s->bad = true;
      respond(c, s);
    }
  }
  return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user) {
  (void)code;
  conn *c = user;
  stream *s = nghttp2_session_get_stream_user_data(h2, id);
  if (!s) return 0;
  nghttp2_session_set_stream_user_data(h2, id, NULL);
  for (stream **p = &c->streams; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  c->n_streams--;
  if (s->deferred)
    s->c = NULL; /* freed when the handler completes it */
  else
    stream_free(c->srv->ctx, s);
  return 0;
}

static int start_h2(conn *c) {
  cleave_ctx *ctx = c->srv->ctx;
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb)) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  int rc = nghttp2_session_server_new(&c->h2, cb, c);
  nghttp2_session_callbacks_del(cb);
  if (rc) return cl_err(ctx, CLEAVE_ENOMEM, "http2 session: %s", nghttp2_strerror(rc));
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 18},
  };
  if ((rc = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0])) ||
      (rc = nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW)))
    return cl_err(ctx, CLEAVE_EIO, "http2 settings: %s", nghttp2_strerror(rc));
  if (c->srv->shutting_down) {
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    c->goaway = true;
  }
  return 0;
}

/* ---- input: socket -> TLS -> nghttp2 ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  conn *c = h->data;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;
  cleave_ctx *ctx = c->srv->ctx;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (nread == 0 || c->closing) return;
  if (cl_tls_feed(ctx, &c->tls, buf->base, (size_t)nread)) goto fail;
  if (!c->tls.established) {
    int hs = cl_tls_handshake(ctx, &c->tls);
    if (hs < 0) {
      cl_log(ctx, CLEAVE_LOG_INFO, "connection refused: %s", cleave_ctx_last_error(ctx));
      if (!send_pending(c))
        conn_end(c); /* after the alert, if any */
      else
        conn_close(c);
      return;
    }
    if (hs == 0) {
      if (send_pending(c)) goto fail;
      return;
    }
    char alpn[16];
    if (strcmp(cl_tls_alpn(&c->tls, alpn, sizeof alpn), "h2") != 0) {
      cl_log(ctx, CLEAVE_LOG_INFO, "connection refused: the client did not negotiate h2");
      goto fail;
    }
    if (start_h2(c)) goto fail;
  }
  for (;;) {
    uint8_t plain[16384];
    ssize_t n = cl_tls_read(ctx, &c->tls, plain, sizeof plain);
    if (n < 0) goto fail;
    if (n == 0) break;
    ssize_t used = nghttp2_session_mem_recv(c->h2, plain, (size_t)n);
    if (used < 0) {
      cl_log(ctx, CLEAVE_LOG_INFO, "http2 protocol error: %s", nghttp2_strerror((int)used));
      nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
      flush(c); /* sends the GOAWAY, then ends the connection */
      conn_end(c);
      return;
    }
  }
  flush(c);
  return;
fail:
  conn_close(c);
}

static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  cl_h2_server *s = c->srv;
  cleave_ctx *ctx = s->ctx;
  while (c->streams) {
    stream *n = c->streams->next;
    if (c->streams->deferred)
      c->streams->c = NULL;
    else
      stream_free(ctx, c->streams);
    c->streams = n;
  }
  if (c->h2) nghttp2_session_del(c->h2);
  cl_tls_free(&c->tls);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  cl_free(ctx, c);
  maybe_finish_shutdown(s);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  conn *c = req->data;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Ends the connection after what is queued has been written. */
static void conn_end(conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_connection(uv_stream_t *l, int status) {
  cl_h2_server *s = l->data;
  cleave_ctx *ctx = s->ctx;
  if (status < 0 || s->shutting_down) return;
  conn *c = cl_calloc(ctx, 1, sizeof *c);
  if (!c) return;
  c->srv = s;
  if (uv_tcp_init(s->loop, &c->tcp)) {
    cl_free(ctx, c);
    return;
  }
  c->tcp.data = c;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) || cl_tls_init(ctx, &c->tls, s->cfg.tls, true, NULL)) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage peer;
  int plen = sizeof peer;
  if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen)) {
    char ip[48] = "?";
    int port = 0;
    if (peer.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&peer, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&peer, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) conn_close(c);
}

int cl_h2_server_new(cleave_ctx *ctx, uv_loop_t *loop, const cl_h2_server_config *cfg, cl_h2_server **out) {
  *out = NULL;
  if (!loop || !cfg || !cfg->tls || !cfg->handler || !cfg->host)
    return cl_err(ctx, CLEAVE_EINVAL, "http2 server: loop, TLS context, handler and host are required");
  struct sockaddr_storage addr;
  if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&addr) &&
      uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&addr))
    return cl_err(ctx, CLEAVE_EINVAL, "listen address '%s' is not a numeric IPv4 or IPv6 address", cfg->host);
  cl_h2_server *s = cl_calloc(ctx, 1, sizeof *s);
  if (!s) return cl_err(ctx, CLEAVE_ENOMEM, "out of memory");
  s->ctx = ctx;
  s->loop = loop;
  s->cfg = *cfg;
  int rc = uv_tcp_init(loop, &s->listener);
  if (rc) {
    cl_free(ctx, s);
    return cl_err(ctx, CLEAVE_EIO, "listen: %s", uv_strerror(rc));
  }
  s->listener.data = s;
  if ((rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) ||
      (rc = uv_listen((uv_stream_t *)&s->listener, 512, on_connection))) {
    int e = cl_err(ctx, CLEAVE_EIO, "listen on %s:%d: %s", cfg->host, cfg->port, uv_strerror(rc));
    s->shutting_down = true;
    cl_h2_server_shutdown(s, NULL, NULL);
    return e;
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
  s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  *out = s;
  return 0;
}

int cl_h2_server_port(const cl_h2_server *s) { return s->port; }

static void maybe_finish_shutdown(cl_h2_server *s) {
  if (!s->shutting_down || !s->listener_closed || s->conns) return;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  cl_free(s->ctx, s);
  if (done) done(arg);
}

static void on_listener_closed(uv_handle_t *h) {
  cl_h2_server *s = h->data;
  s->listener_closed = true;
  maybe_finish_shutdown(s);
}

void cl_h2_server_shutdown(cl_h2_server *s, void (*done)(void *), void *arg) {
  if (!s) return;
  s->shutting_down = true;
  s->done = done;
  s->done_arg = arg;
  /* stop accepting; each connection gets GOAWAY and closes once its open streams are answered */
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  for (conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (!c->h2) {
      conn_close(c);
      continue;
    }
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
                          NULL, 0);
    c->goaway = true;
    flush(c);
  }
}
