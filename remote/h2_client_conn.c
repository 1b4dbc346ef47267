/* remote: one connection of the HTTP/2 client: resolve, connect, TLS, then an nghttp2 client session driven with
 * mem_recv/mem_send (see h2_client.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/h2_client_impl.h"

/* Large tensors: a 16 MiB stream window and a 64 MiB connection window keep a fast link busy; DATA frames up to
 * 256 KiB cut the per-frame cost. */
#define STREAM_WINDOW (16 << 20)
#define CONN_WINDOW (64 << 20)
#define MAX_FRAME (1 << 18)
/* ciphertext queued on the socket before mem_send pauses: bounds memory and lets streams interleave */
#define HIGH_WATER ((size_t)2 << 20)

typedef struct write_req {
  uv_write_t req;
  conn *c;
  char data[];
} write_req;

static double mbps(size_t bytes, double ms) { return ms > 0 ? (double)bytes * 8.0 / (ms * 1e3) : 0; }

static char *dup_bytes(cleave_ctx *ctx, const uint8_t *p, size_t n) {
  char *d = cl_malloc(ctx, n + 1);
  if (d) {
    memcpy(d, p, n);
    d[n] = 0;
  }
  return d;
}

/* ---- teardown ---- */

static void conn_release(conn *c) {
  cl_h2_client *cl = c->cl;
  if (c->prev)
    c->prev->next = c->next;
  else
    cl->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->h2) nghttp2_session_del(c->h2);
  if (c->tls.ssl) cl_tls_free(&c->tls);
  if (c->ai) uv_freeaddrinfo(c->ai);
  cl_free(cl->ctx, c);
  if (cl->closing)
    cl_h2c_try_free(cl);
  else
    cl_h2c_schedule(cl); /* a slot in the pool is free */
}

static void conn_connect(conn *c, const struct sockaddr *addr);

static void on_tcp_closed(uv_handle_t *h) {
  conn *c = h->data;
  c->tcp_open = false;
  if (c->next_addr && c->state != CONN_CLOSED) {
    c->next_addr = false;
    conn_connect(c, c->ai_cur->ai_addr);
    return;
  }
  if (!c->gai_pending) conn_release(c);
}

void cl_h2c_conn_fail(conn *c, int err, const char *fmt, ...) {
  if (c->state == CONN_CLOSED) return;
  cl_h2_client *cl = c->cl;
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->proto_error && err == CLEAVE_ENET) {
    err = CLEAVE_EPROTO;
    snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " after an HTTP/2 protocol error: %s", c->why);
  }
  c->state = CONN_CLOSED;
  for (cl_h2_call *k; (k = c->calls.head);)
    cl_h2c_call_finish(k, err, CL_H2C_NO_RST, "%s", msg);
  if (!c->got_settings && !cl->closing) {
    cl_h2c_connect_failed(cl, err, msg);
    /* the calls that waited for this attempt hear why it failed, unless another connection can take them */
    bool others = false;
    for (conn *o = cl->conns; o; o = o->next)
      others |= o != c && o->state != CONN_CLOSED;
    if (!others)
      for (cl_h2_call *k; (k = cl->queue.head);)
        cl_h2c_call_finish(k, err, CL_H2C_NO_RST, "%s", msg);
  }
  if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai);
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
  if (!c->tcp_open && !c->gai_pending)
    conn_release(c);
  else
    cl_h2c_schedule(cl);
}

/* ---- output: nghttp2 -> TLS -> socket ---- */

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  conn *c = w->c; /* still allocated: pending writes end before the close callback runs */
  cl_free(c->cl->ctx, w);
  if (c->state == CONN_CLOSED) return;
  if (status < 0) {
    cl_h2c_conn_fail(c, CLEAVE_ENET, "socket write: %s", uv_strerror(status));
    return;
  }
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
    /* every request body fully handed over has left the process now */
    double now = cl_now_ms();
    for (cl_h2_call *k = c->calls.head; k; k = k->next)
      if (k->eof_queued && !k->up_done) {
        k->up_done = true;
        cl_h2c_ewma(&c->cl->st.up_mbps, mbps(k->body_len, now - k->t_up0));
      }
  }
  cl_h2c_conn_flush(c);
}

static int send_pending(conn *c) {
  cleave_ctx *ctx = c->cl->ctx;
  size_t n = cl_tls_pending(&c->tls);
  if (!n) return 0;
  write_req *w = cl_malloc(ctx, sizeof *w + n);
  if (!w) {
    cl_h2c_conn_fail(c, CLEAVE_ENOMEM, "out of memory sending %zu bytes", n);
    return -1;
  }
  w->c = c;
  size_t got = cl_tls_take(&c->tls, w->data, n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)got);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (rc) {
    cl_free(ctx, w);
    cl_h2c_conn_fail(c, CLEAVE_ENET, "socket write: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

void cl_h2c_conn_flush(conn *c) {
  cleave_ctx *ctx = c->cl->ctx;
  if (c->state == CONN_CLOSED || c->state < CONN_HANDSHAKE) return;
  while (c->h2 && nghttp2_session_want_write(c->h2)) {
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + cl_tls_pending(&c->tls) >= HIGH_WATER) break;
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) {
      cl_h2c_conn_fail(c, n == NGHTTP2_ERR_NOMEM ? CLEAVE_ENOMEM : CLEAVE_EPROTO, "HTTP/2 send: %s",
                       nghttp2_strerror((int)n));
      return;
    }
    if (n == 0) break;
    if (cl_tls_write(ctx, &c->tls, data, (size_t)n)) {
      cl_h2c_conn_fail(c, CLEAVE_ENET, "%s", cleave_ctx_last_error(ctx));
      return;
    }
  }
  if (send_pending(c)) return;
  for (cl_h2_call *k = c->calls.head; k; k = k->next)
    if (!k->eof_queued && k->body_len >= CL_H2_MEASURE_MIN_BYTES && k->body_sent == k->body_len) k->eof_queued = true;
  if (c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
    cl_h2c_conn_fail(c, CLEAVE_ENET, c->goaway ? "the server sent GOAWAY" : "the HTTP/2 session ended");
}

/* ---- nghttp2 callbacks ---- */

static ssize_t read_body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user) {
  (void)buf;
  (void)src;
  (void)user;
  cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, id);
  if (!k) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* canceled: nghttp2 resets the stream */
  if (!k->t_up0) k->t_up0 = cl_now_ms();
  size_t left = k->body_len - k->body_off, n = left < len ? left : len;
  k->body_off += n;
  /* the bytes go straight from the caller's buffer into TLS in send_data */
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (k->body_off == k->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int send_data(nghttp2_session *h2, nghttp2_frame *f, const uint8_t *framehd, size_t len,
                     nghttp2_data_source *src, void *user) {
  (void)src;
  conn *c = user;
  cleave_ctx *ctx = c->cl->ctx;
  cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (!k || k->body_sent + len > k->body_len) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (cl_tls_write(ctx, &c->tls, framehd, 9) || (len && cl_tls_write(ctx, &c->tls, k->body + k->body_sent, len)))
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  k->body_sent += len;
  c->cl->st.bytes_up += len;
  return 0;
}

static ssize_t read_length(nghttp2_session *h2, uint8_t type, int32_t id, int32_t conn_window, int32_t stream_window,
                           uint32_t remote_max, void *user) {
  (void)h2;
  (void)type;
  (void)id;
  (void)conn_window;
  (void)stream_window;
  (void)user;
  return remote_max < MAX_FRAME ? (ssize_t)remote_max : MAX_FRAME; /* nghttp2 clamps it to the windows */
}

static cl_h2_call *find_call(conn *c, int32_t id) {
  for (cl_h2_call *k = c->calls.head; k; k = k->next)
    if (k->stream_id == id) return k;
  return NULL;
}

/* "queue=<n>; wait-ms=<ms>", in any order, unknown keys ignored */
static void parse_load(cl_h2_client_stats *st, const uint8_t *v, size_t n) {
  char s[128];
  if (n >= sizeof s) return;
  memcpy(s, v, n);
  s[n] = 0;
  for (char *p = s; *p;) {
    p += strspn(p, " ;,");
    if (strncmp(p, "queue=", 6) == 0)
      st->load_queue = (int)strtol(p + 6, NULL, 10);
    else if (strncmp(p, "wait-ms=", 8) == 0)
      st->load_wait_ms = strtod(p + 8, NULL);
    p += strcspn(p, ";,");
  }
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user) {
  (void)flags;
  conn *c = user;
  cl_h2_client *cl = c->cl;
  cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
  if (!k || f->hd.type != NGHTTP2_HEADERS) return 0;
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    if (k->status >= 100 && k->status < 200) cl_h2c_call_reset_reply(cl->ctx, k); /* after an interim response */
    k->status = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++)
      k->status = k->status * 10 + (value[i] - '0'); /* nghttp2 checked it is three digits */
    return 0;
  }
  if (namelen && name[0] == ':') return 0;
  if (namelen == 14 && memcmp(name, "content-length", 14) == 0 && !k->rbody) {
    size_t len = 0;
    for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9' && len < ((size_t)1 << 48); i++)
      len = len * 10 + (size_t)(value[i] - '0');
    if (len && len <= cl->cfg.max_response_bytes && (k->rbody = cl_malloc(cl->ctx, len))) k->rcap = len;
  }
  if (namelen == 11 && memcmp(name, "cleave-load", 11) == 0) parse_load(&cl->st, value, valuelen);
  if (k->n_hdrs == CL_H2C_MAX_REPLY_HEADERS) return 0;
  char *n = dup_bytes(cl->ctx, name, namelen), *v = dup_bytes(cl->ctx, value, valuelen);
  if (!n || !v) {
    cl_free(cl->ctx, n);
    cl_free(cl->ctx, v);
    k->oom = true;
    return 0;
  }
  k->hdrs[k->n_hdrs++] = (cl_h2_header){n, v};
  return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user) {
  (void)flags;
  conn *c = user;
  cl_h2_client *cl = c->cl;
  cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, id);
  if (!k || !len) return 0;
  double now = cl_now_ms();
  if (!k->t_down0) k->t_down0 = now;
  k->t_down1 = now;
  cl->st.bytes_down += len;
  if (len > cl->cfg.max_response_bytes - k->rlen) {
    cl_h2c_call_finish(k, CLEAVE_ELIMIT, NGHTTP2_CANCEL, "response body over the limit of %zu bytes",
                       cl->cfg.max_response_bytes);
    return 0;
  }
  if (k->rlen + len > k->rcap) {
    size_t cap = k->rcap ? k->rcap : 16384;
    while (cap < k->rlen + len)
      cap *= 2;
    if (cap > cl->cfg.max_response_bytes) cap = cl->cfg.max_response_bytes;
    uint8_t *b = cl_realloc(cl->ctx, k->rbody, cap);
    if (!b) {
      cl_h2c_call_finish(k, CLEAVE_ENOMEM, NGHTTP2_CANCEL, "out of memory for a response body of %zu bytes",
                         k->rlen + len);
      return 0;
    }
    k->rbody = b;
    k->rcap = cap;
  }
  memcpy(k->rbody + k->rlen, data, len);
  k->rlen += len;
  return 0;
}

/* The server ended its side of the stream: the call has its answer. */
static void stream_done(conn *c, cl_h2_call *k) {
  cl_h2_client *cl = c->cl;
  if (k->status < 200) {
    cl_h2c_call_finish(k, CLEAVE_EPROTO, NGHTTP2_PROTOCOL_ERROR, "the response ended without a final status");
    return;
  }
  if (k->oom) {
    cl_h2c_call_finish(k, CLEAVE_ENOMEM, CL_H2C_NO_RST, "out of memory for the response headers");
    return;
  }
  if (k->rlen >= CL_H2_MEASURE_MIN_BYTES && k->t_down1 > k->t_down0)
    cl_h2c_ewma(&cl->st.down_mbps, mbps(k->rlen, k->t_down1 - k->t_down0));
  /* a server may answer before it read the whole body: stop sending the rest */
  cl_h2c_call_finish(k, 0, k->body_sent < k->body_len ? NGHTTP2_NO_ERROR : CL_H2C_NO_RST, "%s", "");
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
  conn *c = user;
  cl_h2_client *cl = c->cl;
  switch (f->hd.type) {
  case NGHTTP2_SETTINGS:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
      if (!c->got_settings) cl_h2c_connect_ok(cl);
      c->got_settings = true;
      cl_h2c_schedule(cl); /* the stream limit may have changed */
    }
    break;
  case NGHTTP2_PING:
    if ((f->hd.flags & NGHTTP2_FLAG_ACK) && c->ping_out) {
      c->ping_out = false;
      double rtt = cl_now_ms() - c->ping_at, now = cl_now_ms();
      cl_h2c_ewma(&cl->st.rtt_ms, rtt);
      /* the least round trip of the last window: the path's own delay, without the queues a transfer builds */
      if (cl->st.rtt_min_ms <= 0 || rtt < cl->st.rtt_min_ms || now - cl->rtt_min_at > CL_H2_RTT_MIN_WINDOW_MS) {
        cl->st.rtt_min_ms = rtt;
        cl->rtt_min_at = now;
      }
    }
    break;
  case NGHTTP2_GOAWAY:
    c->goaway = true;
    if (c->state == CONN_READY) c->state = CONN_DRAINING;
    if (f->goaway.error_code != NGHTTP2_NO_ERROR) {
      if (f->goaway.error_code != NGHTTP2_ENHANCE_YOUR_CALM && f->goaway.error_code != NGHTTP2_INTERNAL_ERROR)
        c->proto_error = true;
      snprintf(c->why, sizeof c->why, "the server sent GOAWAY (%s)", nghttp2_http2_strerror(f->goaway.error_code));
    }
    cl_h2c_schedule(cl); /* new calls go elsewhere */
    break;
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA:
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
      if (k) stream_done(c, k);
    }
    break;
  default: break;
  }
  return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *user) {
  conn *c = user;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    /* the stream exists only now; a call detached before this point stays unknown to nghttp2 */
    cl_h2_call *k = find_call(c, f->hd.stream_id);
    if (k) nghttp2_session_set_stream_user_data(h2, f->hd.stream_id, k);
  } else if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
    c->proto_error = true;
    if (!c->why[0]) snprintf(c->why, sizeof c->why, "%s", nghttp2_http2_strerror(f->goaway.error_code));
  }
  return 0;
}

static int on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *f, int lib_error, void *user) {
  (void)h2;
  conn *c = user;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  cl_h2_call *k = find_call(c, f->hd.stream_id);
  if (!k) return 0;
  if ((lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED || lib_error == NGHTTP2_ERR_STREAM_CLOSING) &&
      k->retries < 2)
    cl_h2c_call_requeue(k); /* the server never saw it */
  else
    cl_h2c_call_finish(k, CLEAVE_ENET, CL_H2C_NO_RST, "request not sent: %s", nghttp2_strerror(lib_error));
  return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user) {
  (void)user;
  cl_h2_call *k = nghttp2_session_get_stream_user_data(h2, id);
  if (!k) return 0;
  if (code == NGHTTP2_REFUSED_STREAM && k->retries < 2) {
    cl_h2c_call_requeue(k); /* refused before processing: safe to send again */
    return 0;
  }
  bool proto = code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_FLOW_CONTROL_ERROR ||
               code == NGHTTP2_FRAME_SIZE_ERROR || code == NGHTTP2_COMPRESSION_ERROR;
  cl_h2c_call_finish(k, proto ? CLEAVE_EPROTO : CLEAVE_ENET, CL_H2C_NO_RST,
                     "the stream was reset before the response was complete (%s)", nghttp2_http2_strerror(code));
  return 0;
}

static int on_error(nghttp2_session *h2, int lib_error, const char *msg, size_t len, void *user) {
  (void)h2;
  (void)lib_error;
  conn *c = user;
  if (!c->why[0]) snprintf(c->why, sizeof c->why, "%.*s", (int)len, msg);
  return 0;
}

static int start_h2(conn *c) {
  cl_h2_client *cl = c->cl;
  cleave_ctx *ctx = cl->ctx;
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_option *opt = NULL;
  int rc;
  if ((rc = nghttp2_session_callbacks_new(&cb)) || (rc = nghttp2_option_new(&opt))) goto out;
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cb, read_length);
  nghttp2_session_callbacks_set_error_callback2(cb, on_error);
  /* until the server's SETTINGS arrive, assume the common 100 streams rather than "unlimited" */
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  if ((rc = nghttp2_session_client_new3(&c->h2, cb, c, opt, &cl->mem))) goto out;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, MAX_FRAME},
  };
  if ((rc = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0])) ||
      (rc = nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW)))
    goto out;
out:
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (rc) cl_err(ctx, CLEAVE_ENOMEM, "HTTP/2 session: %s", nghttp2_strerror(rc));
  return rc ? CLEAVE_ENOMEM : 0;
}

void cl_h2c_conn_ping(conn *c) {
  if (c->state != CONN_READY || c->ping_out || !c->h2) return;
  if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL)) return;
  c->ping_out = true;
  c->ping_at = cl_now_ms();
  cl_h2c_conn_flush(c);
}

bool cl_h2c_conn_has_room(const conn *c) {
  uint32_t max = nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return c->state == CONN_READY && (uint32_t)c->calls.n < max;
}

void cl_h2c_conn_submit(conn *c, cl_h2_call *k) {
  nghttp2_data_provider dp = {.read_callback = read_body};
  int32_t id = nghttp2_submit_request(c->h2, NULL, k->nv, k->n_nv, k->body_len ? &dp : NULL, NULL);
  if (id < 0) {
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
      c->state = CONN_DRAINING; /* out of stream ids: the next connection takes over */
      k->retries--;
      cl_h2c_call_requeue(k);
      return;
    }
    cl_h2c_call_finish(k, CLEAVE_ENOMEM, CL_H2C_NO_RST, "HTTP/2 request: %s", nghttp2_strerror(id));
    return;
  }
  k->conn = c;
  k->stream_id = id;
  k->state = CALL_ACTIVE;
  cl_h2c_list_push(&c->calls, k, false);
}

/* ---- input: socket -> TLS -> nghttp2 ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  conn *c = h->data;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

/* 1: TLS is up and HTTP/2 started, 0: more to come, -1: the connection failed. */
static int handshake(conn *c) {
  cl_h2_client *cl = c->cl;
  cleave_ctx *ctx = cl->ctx;
  int hs = cl_tls_handshake(ctx, &c->tls);
  if (hs < 0) {
    send_pending(c); /* the alert, for the server's log */
    cl_h2c_conn_fail(c, CLEAVE_ETLS, "%s", cleave_ctx_last_error(ctx));
    return -1;
  }
  if (hs == 0) return send_pending(c) ? -1 : 0;
  char alpn[32];
  if (strcmp(cl_tls_alpn(&c->tls, alpn, sizeof alpn), "h2") != 0) {
    cl_h2c_conn_fail(c, CLEAVE_EPROTO, "the server did not choose HTTP/2 (h2) by ALPN%s%s%s", alpn[0] ? " but '" : "",
                     alpn, alpn[0] ? "'" : "");
    return -1;
  }
  if (start_h2(c)) {
    cl_h2c_conn_fail(c, CLEAVE_ENOMEM, "%s", cleave_ctx_last_error(ctx));
    return -1;
  }
  c->state = CONN_READY;
  if (cl->cfg.ping_interval_ms > 0) cl_h2c_conn_ping(c);
  cl_h2c_schedule(cl); /* queued calls can go now; the preface and SETTINGS go out with them */
  return 1;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;
  cl_h2_client *cl = c->cl;
  cleave_ctx *ctx = cl->ctx;
  if (c->state == CONN_CLOSED || nread == 0) return;
  if (nread < 0) {
    if (c->state == CONN_HANDSHAKE)
      cl_h2c_conn_fail(c, CLEAVE_ETLS, "the server closed the connection during the TLS handshake (%s)",
                       uv_strerror((int)nread));
    else if (nread == UV_EOF)
      cl_h2c_conn_fail(c, CLEAVE_ENET, "%s%sthe server closed the connection", c->why, c->why[0] ? ", then " : "");
    else
      cl_h2c_conn_fail(c, CLEAVE_ENET, "connection lost: %s", uv_strerror((int)nread));
    return;
  }
  if (cl_tls_feed(ctx, &c->tls, buf->base, (size_t)nread)) {
    cl_h2c_conn_fail(c, CLEAVE_ENOMEM, "%s", cleave_ctx_last_error(ctx));
    return;
  }
  if (c->state == CONN_HANDSHAKE && handshake(c) <= 0) return;
  for (;;) {
    ssize_t n = cl_tls_read(ctx, &c->tls, c->plain, sizeof c->plain);
    if (n < 0) {
      /* an alert after the handshake is TLS refusing us (a TLS 1.3 server checks client certificates late) */
      const char *why = cleave_ctx_last_error(ctx);
      cl_h2c_conn_fail(c, strstr(why, "alert") ? CLEAVE_ETLS : CLEAVE_ENET, "%s", why);
      return;
    }
    if (n == 0) break;
    ssize_t used = nghttp2_session_mem_recv(c->h2, c->plain, (size_t)n);
    if (used < 0) {
      cl_h2c_conn_fail(c, used == NGHTTP2_ERR_NOMEM ? CLEAVE_ENOMEM : CLEAVE_EPROTO, "HTTP/2: %s%s%s",
                       nghttp2_strerror((int)used), c->why[0] ? ": " : "", c->why);
      return;
    }
  }
  cl_h2c_conn_flush(c);
}

/* ---- connecting ---- */

static void connect_error(conn *c, int status) {
  if (c->ai_cur && c->ai_cur->ai_next) {
    c->ai_cur = c->ai_cur->ai_next; /* e.g. ::1 refused, 127.0.0.1 next */
    c->next_addr = true;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    return;
  }
  int err = status == UV_ECONNREFUSED ? CLEAVE_ECONNREFUSED : status == UV_ETIMEDOUT ? CLEAVE_ETIMEDOUT : CLEAVE_ENET;
  cl_h2c_conn_fail(c, err, "connect: %s", uv_strerror(status));
}

static void on_connected(uv_connect_t *req, int status) {
  conn *c = req->data;
  cl_h2_client *cl = c->cl;
  if (c->state == CONN_CLOSED || status == UV_ECANCELED || c->next_addr) return;
  if (status < 0) {
    connect_error(c, status);
    return;
  }
  int rc = cl_tls_init(cl->ctx, &c->tls, cl->tls, false, cl->host);
  if (rc) {
    cl_h2c_conn_fail(c, rc, "%s", cleave_ctx_last_error(cl->ctx));
    return;
  }
  c->state = CONN_HANDSHAKE;
  if ((rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))) {
    cl_h2c_conn_fail(c, CLEAVE_ENET, "socket read: %s", uv_strerror(rc));
    return;
  }
  handshake(c); /* sends the ClientHello */
}

static void conn_connect(conn *c, const struct sockaddr *addr) {
  cl_h2_client *cl = c->cl;
  c->state = CONN_CONNECTING;
  int rc = uv_tcp_init(cl->loop, &c->tcp);
  if (rc) {
    cl_h2c_conn_fail(c, CLEAVE_ENET, "socket: %s", uv_strerror(rc));
    return;
  }
  c->tcp_open = true;
  c->tcp.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  if ((rc = uv_tcp_connect(&c->creq, &c->tcp, addr, on_connected))) connect_error(c, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  conn *c = req->data;
  c->gai_pending = false;
  if (c->state == CONN_CLOSED) {
    if (res) uv_freeaddrinfo(res);
    if (!c->tcp_open) conn_release(c);
    return;
  }
  if (status < 0 || !res) {
    if (res) uv_freeaddrinfo(res);
    cl_h2c_conn_fail(c, CLEAVE_ENET, "cannot resolve '%s': %s", c->cl->host, uv_strerror(status));
    return;
  }
  c->ai = c->ai_cur = res;
  conn_connect(c, res->ai_addr);
}

void cl_h2c_conn_start(cl_h2_client *cl) {
  cleave_ctx *ctx = cl->ctx;
  conn *c = cl_calloc(ctx, 1, sizeof *c);
  if (!c) {
    cl_h2c_connect_failed(cl, CLEAVE_ENOMEM, "out of memory for a connection");
    return;
  }
  c->cl = cl;
  c->next = cl->conns;
  if (cl->conns) cl->conns->prev = c;
  cl->conns = c;
  c->state = CONN_RESOLVING;
  c->deadline = cl_now_ms() + cl->cfg.connect_timeout_ms;
  cl_h2c_arm(cl, c->deadline);
  cl->st.connects++;
  if (cl->numeric) {
    conn_connect(c, (const struct sockaddr *)&cl->addr);
    return;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
  c->gai.data = c;
  int rc = uv_getaddrinfo(cl->loop, &c->gai, on_resolved, cl->host, cl->port_str, &hints);
  if (rc) {
    cl_h2c_conn_fail(c, CLEAVE_ENET, "cannot resolve '%s': %s", cl->host, uv_strerror(rc));
    return;
  }
  c->gai_pending = true;
}
